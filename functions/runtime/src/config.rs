//! The functions' configuration, read from the environment once per container and validated
//! before any order: a missing or bad variable names itself and its value.

use std::collections::HashMap;

use driftline_core::ports::RetryBackoff;
use driftline_core::service::executor::ExecutorSettings;
use driftline_core::service::scheduler::{FanOut, SchedulerSettings};
use driftline_core::service::FollowUp;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("environment variable {name}={value:?}: {reason}")]
pub struct EnvError {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// What both functions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    pub table_name: String,
    pub intents_queue_url: String,
    pub exchange_base_url: String,
    pub exchange_secret_id: String,
    pub metrics_namespace: String,
    /// The SNS topic the owner's notices go to; without it nobody is told.
    pub notifications_topic_arn: Option<String>,
    /// Who follows a resting order: the executor (messages) or the scheduler (reconcile).
    pub follow_up: FollowUp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    pub common: CommonConfig,
    pub schedule_period_seconds: u32,
    pub portfolio_concurrency: usize,
    /// Where a tick above the fan-out threshold sends its shards; without it no tick fans out.
    pub shard_queue_url: Option<String>,
    pub fan_out: FanOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    pub common: CommonConfig,
    pub max_retry_delay_seconds: u32,
    /// How long after placement a resting order is checked again (an SQS delay: 0 to 900).
    pub follow_up_delay_seconds: u32,
    /// Where unreadable messages are sent with their reason. Without it they are reported as
    /// failures until the queue's redrive policy moves them there.
    pub dead_letter_queue_url: Option<String>,
}

impl SchedulerConfig {
    /// The scheduler's settings: the deployment's period, concurrency and fan-out.
    pub fn settings(&self) -> SchedulerSettings {
        SchedulerSettings {
            concurrency: self.portfolio_concurrency,
            follow_up: self.common.follow_up,
            fan_out: self.fan_out,
            ..SchedulerSettings::for_period(self.schedule_period_seconds)
        }
    }
}

impl ExecutorConfig {
    /// How long a message waits before it comes back, capped by the deployment's setting.
    pub fn backoff(&self) -> RetryBackoff {
        RetryBackoff {
            cap_secs: self.max_retry_delay_seconds,
            ..RetryBackoff::default()
        }
    }

    /// The executor's settings: the deployment's backoff and follow-up delay.
    pub fn settings(&self) -> ExecutorSettings {
        ExecutorSettings {
            backoff: self.backoff(),
            follow_up_delay_secs: self.follow_up_delay_seconds,
            follow_up: self.common.follow_up,
            ..ExecutorSettings::default()
        }
    }
}

/// How a function's configuration reads one environment variable. The names here are the only
/// place they are written in Rust; `tests/contract.rs` checks them against
/// `infra/lib/contract.ts` and the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// Without it the function does not start; the others have defaults or are optional.
    pub required: bool,
}

const fn required_var(name: &'static str) -> EnvVar {
    EnvVar {
        name,
        required: true,
    }
}

const fn optional_var(name: &'static str) -> EnvVar {
    EnvVar {
        name,
        required: false,
    }
}

pub const TABLE_NAME: EnvVar = required_var("DRIFTLINE_TABLE_NAME");
pub const INTENTS_QUEUE_URL: EnvVar = required_var("DRIFTLINE_INTENTS_QUEUE_URL");
pub const EXCHANGE_BASE_URL: EnvVar = optional_var("DRIFTLINE_EXCHANGE_BASE_URL");
pub const EXCHANGE_SECRET_ID: EnvVar = required_var("DRIFTLINE_EXCHANGE_SECRET_ID");
pub const METRICS_NAMESPACE: EnvVar = optional_var("DRIFTLINE_METRICS_NAMESPACE");
pub const NOTIFICATIONS_TOPIC_ARN: EnvVar = optional_var("DRIFTLINE_NOTIFICATIONS_TOPIC_ARN");
pub const SCHEDULE_PERIOD_SECONDS: EnvVar = optional_var("DRIFTLINE_SCHEDULE_PERIOD_SECONDS");
pub const PORTFOLIO_CONCURRENCY: EnvVar = optional_var("DRIFTLINE_PORTFOLIO_CONCURRENCY");
pub const MAX_RETRY_DELAY_SECONDS: EnvVar = optional_var("DRIFTLINE_MAX_RETRY_DELAY_SECONDS");
pub const FOLLOW_UP_DELAY_SECONDS: EnvVar = optional_var("DRIFTLINE_FOLLOW_UP_DELAY_SECONDS");
pub const FOLLOW_UP: EnvVar = optional_var("DRIFTLINE_FOLLOW_UP");
pub const DEAD_LETTER_QUEUE_URL: EnvVar = optional_var("DRIFTLINE_DEAD_LETTER_QUEUE_URL");
pub const SHARD_QUEUE_URL: EnvVar = optional_var("DRIFTLINE_SHARD_QUEUE_URL");
pub const FAN_OUT_ABOVE: EnvVar = optional_var("DRIFTLINE_FAN_OUT_ABOVE");
pub const SHARD_SIZE: EnvVar = optional_var("DRIFTLINE_SHARD_SIZE");

/// What both functions read.
pub const COMMON_ENV: &[EnvVar] = &[
    TABLE_NAME,
    INTENTS_QUEUE_URL,
    EXCHANGE_BASE_URL,
    EXCHANGE_SECRET_ID,
    METRICS_NAMESPACE,
    NOTIFICATIONS_TOPIC_ARN,
    FOLLOW_UP,
];
/// What the scheduler reads besides [`COMMON_ENV`].
pub const SCHEDULER_ENV: &[EnvVar] = &[
    SCHEDULE_PERIOD_SECONDS,
    PORTFOLIO_CONCURRENCY,
    SHARD_QUEUE_URL,
    FAN_OUT_ABOVE,
    SHARD_SIZE,
];
/// What the executor reads besides [`COMMON_ENV`].
pub const EXECUTOR_ENV: &[EnvVar] = &[
    MAX_RETRY_DELAY_SECONDS,
    FOLLOW_UP_DELAY_SECONDS,
    DEAD_LETTER_QUEUE_URL,
];

/// The environment as a map, so tests need not touch the process's own.
pub type Env = HashMap<String, String>;

pub fn process_env() -> Env {
    std::env::vars().collect()
}

fn required(env: &Env, name: &'static str) -> Result<String, EnvError> {
    match env.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        other => Err(EnvError {
            name,
            value: other.unwrap_or_default().to_owned(),
            reason: "must be set",
        }),
    }
}

fn optional<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr + PartialOrd + Copy>(
    env: &Env,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, EnvError> {
    let Some(raw) = optional(env, name) else {
        return Ok(default);
    };
    match raw.parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(EnvError {
            name,
            value: raw.to_owned(),
            reason: "not a whole number in the allowed range",
        }),
    }
}

fn url(env: &Env, name: &'static str, default: Option<&str>) -> Result<String, EnvError> {
    let value = match (optional(env, name), default) {
        (Some(v), _) => v.to_owned(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => required(env, name)?,
    };
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(EnvError {
            name,
            value,
            reason: "must be an http(s) URL",
        })
    }
}

/// An SNS topic ARN: `arn:<partition>:sns:<region>:<12-digit account>:<name>`.
fn topic_arn(env: &Env, name: &'static str) -> Result<Option<String>, EnvError> {
    let Some(value) = optional(env, name) else {
        return Ok(None);
    };
    let parts: Vec<&str> = value.split(':').collect();
    let valid = matches!(
        parts.as_slice(),
        ["arn", partition, "sns", region, account, topic]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=256).contains(&topic.len())
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    );
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(EnvError {
            name,
            value: value.to_owned(),
            reason: "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)",
        })
    }
}

impl CommonConfig {
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_env(env: &Env) -> Result<Self, EnvError> {
        Ok(Self {
            table_name: required(env, TABLE_NAME.name)?,
            intents_queue_url: url(env, INTENTS_QUEUE_URL.name, None)?,
            exchange_base_url: url(env, EXCHANGE_BASE_URL.name, Some("https://api.binance.com"))?,
            exchange_secret_id: required(env, EXCHANGE_SECRET_ID.name)?,
            metrics_namespace: optional(env, METRICS_NAMESPACE.name)
                .unwrap_or("Driftline")
                .to_owned(),
            notifications_topic_arn: topic_arn(env, NOTIFICATIONS_TOPIC_ARN.name)?,
            follow_up: match optional(env, FOLLOW_UP.name) {
                None => FollowUp::default(),
                Some(v) => FollowUp::parse(v).ok_or_else(|| EnvError {
                    name: FOLLOW_UP.name,
                    value: v.to_owned(),
                    reason: "must be messages or reconcile",
                })?,
            },
        })
    }
}

impl SchedulerConfig {
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_env(env: &Env) -> Result<Self, EnvError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            schedule_period_seconds: number(env, SCHEDULE_PERIOD_SECONDS.name, 300, 60, 86_400)?,
            portfolio_concurrency: number(env, PORTFOLIO_CONCURRENCY.name, 4, 1, 64)?,
            shard_queue_url: match optional(env, SHARD_QUEUE_URL.name) {
                Some(_) => Some(url(env, SHARD_QUEUE_URL.name, None)?),
                None => None,
            },
            fan_out: FanOut {
                above: number(
                    env,
                    FAN_OUT_ABOVE.name,
                    FanOut::default().above,
                    1,
                    1_000_000,
                )?,
                // Ten shards of the longest ids fit one SendMessageBatch (256 KB).
                shard_size: number(env, SHARD_SIZE.name, FanOut::default().shard_size, 1, 200)?,
            },
        })
    }
}

impl ExecutorConfig {
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_env(env: &Env) -> Result<Self, EnvError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            max_retry_delay_seconds: number(env, MAX_RETRY_DELAY_SECONDS.name, 900, 1, 43_200)?,
            follow_up_delay_seconds: number(env, FOLLOW_UP_DELAY_SECONDS.name, 30, 1, 900)?,
            dead_letter_queue_url: match optional(env, DEAD_LETTER_QUEUE_URL.name) {
                Some(_) => Some(url(env, DEAD_LETTER_QUEUE_URL.name, None)?),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DRIFTLINE_TABLE_NAME", "driftline"),
            (
                "DRIFTLINE_INTENTS_QUEUE_URL",
                "http://127.0.0.1:5000/123/intents",
            ),
            ("DRIFTLINE_EXCHANGE_SECRET_ID", "driftline/exchange"),
        ]
    }

    #[test]
    fn defaults_fill_what_is_optional() {
        let c = SchedulerConfig::from_env(&env(&full())).unwrap();
        assert_eq!(c.common.exchange_base_url, "https://api.binance.com");
        assert_eq!(c.common.metrics_namespace, "Driftline");
        assert_eq!(
            (c.schedule_period_seconds, c.portfolio_concurrency),
            (300, 4)
        );
        let e = ExecutorConfig::from_env(&env(&full())).unwrap();
        assert_eq!(
            (
                e.max_retry_delay_seconds,
                e.follow_up_delay_seconds,
                e.dead_letter_queue_url
            ),
            (900, 30, None)
        );
        assert_eq!(c.common.notifications_topic_arn, None, "nobody is told");
    }

    #[test]
    fn who_follows_resting_orders_reaches_both_services_and_a_bad_mode_names_itself() {
        let defaults = ExecutorConfig::from_env(&env(&full())).unwrap();
        assert_eq!(defaults.settings().follow_up, FollowUp::Messages);
        let mut vars = full();
        vars.push(("DRIFTLINE_FOLLOW_UP", "reconcile"));
        let e = ExecutorConfig::from_env(&env(&vars)).unwrap();
        let s = SchedulerConfig::from_env(&env(&vars)).unwrap();
        assert_eq!(e.settings().follow_up, FollowUp::Reconcile);
        assert_eq!(s.settings().follow_up, FollowUp::Reconcile);
        let mut vars = full();
        vars.push(("DRIFTLINE_FOLLOW_UP", "sometimes"));
        let err = SchedulerConfig::from_env(&env(&vars)).unwrap_err();
        assert_eq!(err.name, "DRIFTLINE_FOLLOW_UP");
        assert_eq!(err.value, "sometimes");
    }

    #[test]
    fn the_fan_out_reaches_the_scheduler_and_a_bad_value_names_itself() {
        let defaults = SchedulerConfig::from_env(&env(&full())).unwrap();
        assert_eq!(defaults.shard_queue_url, None, "no queue: no fan-out");
        assert_eq!(defaults.settings().fan_out, FanOut::default());
        let mut vars = full();
        vars.extend([
            (
                "DRIFTLINE_SHARD_QUEUE_URL",
                "http://127.0.0.1:5000/123/shards",
            ),
            ("DRIFTLINE_FAN_OUT_ABOVE", "1000"),
            ("DRIFTLINE_SHARD_SIZE", "25"),
        ]);
        let s = SchedulerConfig::from_env(&env(&vars)).unwrap();
        assert_eq!(
            s.shard_queue_url.as_deref(),
            Some("http://127.0.0.1:5000/123/shards")
        );
        assert_eq!(
            s.settings().fan_out,
            FanOut {
                above: 1000,
                shard_size: 25
            }
        );
        for (name, bad) in [
            ("DRIFTLINE_SHARD_SIZE", "0"),
            ("DRIFTLINE_SHARD_SIZE", "201"),
            ("DRIFTLINE_FAN_OUT_ABOVE", "-1"),
            ("DRIFTLINE_SHARD_QUEUE_URL", "shards"),
        ] {
            let mut vars = full();
            vars.push((name, bad));
            let err = SchedulerConfig::from_env(&env(&vars)).unwrap_err();
            assert_eq!((err.name, err.value.as_str()), (name, bad));
        }
    }

    #[test]
    fn the_notifications_topic_is_an_sns_topic_arn_for_both_functions() {
        let arn = "arn:aws:sns:eu-west-1:123456789012:Driftline-Notifications_1";
        let mut vars = full();
        vars.push(("DRIFTLINE_NOTIFICATIONS_TOPIC_ARN", arn));
        let s = SchedulerConfig::from_env(&env(&vars)).unwrap();
        let e = ExecutorConfig::from_env(&env(&vars)).unwrap();
        assert_eq!(s.common.notifications_topic_arn.as_deref(), Some(arn));
        assert_eq!(e.common.notifications_topic_arn.as_deref(), Some(arn));
        for bad in [
            "driftline-notifications",
            "arn:aws:sqs:eu-west-1:123456789012:intents",
            "arn:aws:sns:eu-west-1:1234:topic",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:a/b",
        ] {
            let mut vars = full();
            vars.push(("DRIFTLINE_NOTIFICATIONS_TOPIC_ARN", bad));
            let err = ExecutorConfig::from_env(&env(&vars)).unwrap_err();
            assert_eq!(
                (err.name, err.value.as_str()),
                ("DRIFTLINE_NOTIFICATIONS_TOPIC_ARN", bad)
            );
            assert!(err.to_string().contains("SNS topic ARN"), "{err}");
        }
    }

    #[test]
    fn a_bad_or_missing_variable_names_itself_and_its_value() {
        let mut vars = full();
        vars.retain(|(k, _)| *k != "DRIFTLINE_TABLE_NAME");
        let err = SchedulerConfig::from_env(&env(&vars)).unwrap_err();
        assert_eq!(err.name, "DRIFTLINE_TABLE_NAME");
        let mut vars = full();
        vars.push(("DRIFTLINE_SCHEDULE_PERIOD_SECONDS", "five"));
        let err = SchedulerConfig::from_env(&env(&vars)).unwrap_err();
        assert_eq!(
            (err.name, err.value.as_str()),
            ("DRIFTLINE_SCHEDULE_PERIOD_SECONDS", "five")
        );
        let mut vars = full();
        vars.push(("DRIFTLINE_EXCHANGE_BASE_URL", "api.binance.com"));
        let err = ExecutorConfig::from_env(&env(&vars)).unwrap_err();
        assert!(
            err.to_string().contains("api.binance.com") && err.to_string().contains("URL"),
            "{err}"
        );
        // An SQS delay is at most 900 seconds.
        let mut vars = full();
        vars.push(("DRIFTLINE_FOLLOW_UP_DELAY_SECONDS", "901"));
        let err = ExecutorConfig::from_env(&env(&vars)).unwrap_err();
        assert_eq!(
            (err.name, err.value.as_str()),
            ("DRIFTLINE_FOLLOW_UP_DELAY_SECONDS", "901")
        );
    }
}
