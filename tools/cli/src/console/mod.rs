//! The operator's console: the `driftline` commands that act on a deployed stack (or on the
//! local emulator the same way). Each finds the stack's resources ([`Target::resolve`]: the
//! CloudFormation outputs of `--stack`, each overridable by its flag), builds the clients with
//! the SDK's usual credential chain, region and `AWS_ENDPOINT_URL`, and goes through the same
//! adapters and core code as the functions.
//!
//! One file per verb group, as in tokio's mini-redis `cmd/`.

pub mod cancel;
pub mod dlq;
pub mod halt;
pub mod history;
pub mod live;
pub mod operator;
pub mod orders;
pub mod portfolio;
pub mod run_now;
pub mod status;
pub mod support;
pub mod time;

use std::collections::BTreeMap;

use clap::Args;
use driftline_aws::stack::{stack_outputs, StackError};
use driftline_aws::{DynamoStore, SnsNotifier};
use driftline_core::notify::Notice;
use driftline_core::ports::StoreError;
use thiserror::Error;

/// The stack's outputs the console reads, each with the flag that overrides it.
pub mod outputs {
    pub const TABLE: (&str, &str) = ("TableName", "--table");
    pub const INTENTS_QUEUE: (&str, &str) = ("IntentsQueueUrl", "--queue-url");
    pub const DEAD_LETTER_QUEUE: (&str, &str) = ("DeadLetterQueueUrl", "--dead-letter-queue-url");
    pub const SHARDS_DEAD_LETTER_QUEUE: (&str, &str) =
        ("ShardsDeadLetterQueueUrl", "--shards-dead-letter-queue-url");
    pub const EXCHANGE_SECRET: (&str, &str) = ("ExchangeSecretArn", "--secret-id");
    pub const SCHEDULER_FUNCTION: (&str, &str) = ("SchedulerFunctionName", "--scheduler-function");
    pub const EXCHANGE_BASE_URL: (&str, &str) = ("ExchangeBaseUrl", "--exchange-url");
    pub const NOTIFICATIONS_TOPIC: (&str, &str) =
        ("NotificationsTopicArn", "--notifications-topic-arn");
    pub const ALARM_TOPIC: (&str, &str) = ("AlarmTopicArn", "--alarm-topic-arn");
    pub const METRICS_NAMESPACE: (&str, &str) = ("MetricsNamespace", "--metrics-namespace");
}

/// Where the deployment is: a stack name, or every resource named by its flag.
#[derive(Debug, Clone, Default, Args)]
pub struct Target {
    /// The CloudFormation stack whose outputs name the resources.
    #[arg(
        long,
        global = true,
        env = "DRIFTLINE_STACK",
        default_value = "Driftline"
    )]
    pub stack: String,
    /// The DynamoDB table (overrides the stack's `TableName`).
    #[arg(long, global = true, env = "DRIFTLINE_TABLE")]
    pub table: Option<String>,
    /// The intents queue's URL (overrides `IntentsQueueUrl`).
    #[arg(long, global = true, env = "DRIFTLINE_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// The dead-letter queue's URL (overrides `DeadLetterQueueUrl`).
    #[arg(long, global = true, env = "DRIFTLINE_DEAD_LETTER_QUEUE_URL")]
    pub dead_letter_queue_url: Option<String>,
    /// The shards' dead-letter queue's URL (overrides `ShardsDeadLetterQueueUrl`).
    #[arg(long, global = true, env = "DRIFTLINE_SHARDS_DEAD_LETTER_QUEUE_URL")]
    pub shards_dead_letter_queue_url: Option<String>,
    /// The default exchange account's secret (overrides `ExchangeSecretArn`).
    #[arg(long, global = true, env = "DRIFTLINE_SECRET_ID")]
    pub secret_id: Option<String>,
    /// The scheduler function's name (overrides `SchedulerFunctionName`).
    #[arg(long, global = true, env = "DRIFTLINE_SCHEDULER_FUNCTION")]
    pub scheduler_function: Option<String>,
    /// The exchange's REST base URL (overrides `ExchangeBaseUrl`).
    #[arg(long, global = true, env = "DRIFTLINE_EXCHANGE_URL")]
    pub exchange_url: Option<String>,
    /// The notifications topic (overrides `NotificationsTopicArn`; absent: none).
    #[arg(long, global = true, env = "DRIFTLINE_NOTIFICATIONS_TOPIC_ARN")]
    pub notifications_topic_arn: Option<String>,
    /// The alarm topic (overrides `AlarmTopicArn`).
    #[arg(long, global = true, env = "DRIFTLINE_ALARM_TOPIC_ARN")]
    pub alarm_topic_arn: Option<String>,
    /// The functions' metrics namespace (overrides `MetricsNamespace`; default `Driftline`).
    #[arg(long, global = true, env = "DRIFTLINE_METRICS_NAMESPACE")]
    pub metrics_namespace: Option<String>,
}

/// Why a console command could not run. Every message names what was wrong and how to fix it.
#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("{0}")]
    Stack(#[from] StackError),
    #[error("stack {stack:?} has no output {output}: pass {flag}")]
    MissingOutput {
        stack: String,
        output: &'static str,
        flag: &'static str,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{service} {operation}: {reason}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        reason: String,
    },
    /// The operator asked for something the deployment's state refuses (an unknown portfolio,
    /// a stale version, open orders without `--cancel-open`).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Input(String),
}

/// What the console found of a deployment: every resource it may need, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub stack: String,
    values: BTreeMap<&'static str, String>,
}

impl Deployment {
    /// A resource's name or URL.
    ///
    /// # Errors
    /// [`ConsoleError::MissingOutput`] naming the output and the flag that gives it.
    pub fn require(
        &self,
        (output, flag): (&'static str, &'static str),
    ) -> Result<&str, ConsoleError> {
        self.get((output, flag))
            .ok_or_else(|| ConsoleError::MissingOutput {
                stack: self.stack.clone(),
                output,
                flag,
            })
    }

    /// A resource the deployment may not have (the notifications topic).
    pub fn get(&self, (output, _): (&'static str, &'static str)) -> Option<&str> {
        self.values.get(output).map(String::as_str)
    }
}

impl Target {
    fn overrides(&self) -> Vec<((&'static str, &'static str), Option<&String>)> {
        use outputs::*;
        vec![
            (TABLE, self.table.as_ref()),
            (INTENTS_QUEUE, self.queue_url.as_ref()),
            (DEAD_LETTER_QUEUE, self.dead_letter_queue_url.as_ref()),
            (
                SHARDS_DEAD_LETTER_QUEUE,
                self.shards_dead_letter_queue_url.as_ref(),
            ),
            (EXCHANGE_SECRET, self.secret_id.as_ref()),
            (SCHEDULER_FUNCTION, self.scheduler_function.as_ref()),
            (EXCHANGE_BASE_URL, self.exchange_url.as_ref()),
            (NOTIFICATIONS_TOPIC, self.notifications_topic_arn.as_ref()),
            (ALARM_TOPIC, self.alarm_topic_arn.as_ref()),
            (METRICS_NAMESPACE, self.metrics_namespace.as_ref()),
        ]
    }

    /// The deployment's resources: the stack's outputs with the flags laid over them. The
    /// stack is read only when some resource in `needs` has no flag.
    ///
    /// # Errors
    /// [`ConsoleError::Stack`] when the stack must be read and cannot be.
    pub async fn resolve(
        &self,
        sdk: &aws_config::SdkConfig,
        needs: &[(&'static str, &'static str)],
    ) -> Result<Deployment, ConsoleError> {
        let overrides = self.overrides();
        let given = |key: &str| {
            overrides
                .iter()
                .any(|((output, _), value)| *output == key && value.is_some())
        };
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        if needs.iter().any(|(output, _)| !given(output)) {
            let found = stack_outputs(sdk, &self.stack).await?;
            for ((output, _), _) in &overrides {
                if let Some(v) = found.get(*output) {
                    values.insert(output, v.clone());
                }
            }
        }
        for ((output, _), value) in overrides {
            if let Some(v) = value {
                values.insert(output, v.clone());
            }
        }
        Ok(Deployment {
            stack: self.stack.clone(),
            values,
        })
    }
}

/// The console's clients on one deployment.
pub struct Console {
    pub sdk: aws_config::SdkConfig,
    pub deployment: Deployment,
}

impl Console {
    /// Finds the deployment and loads the SDK configuration from the environment.
    ///
    /// # Errors
    /// As [`Target::resolve`].
    pub async fn connect(
        target: &Target,
        needs: &[(&'static str, &'static str)],
    ) -> Result<Self, ConsoleError> {
        let sdk = driftline_aws::sdk_config().await;
        let deployment = target.resolve(&sdk, needs).await?;
        Ok(Self { sdk, deployment })
    }

    /// The table's adapters.
    ///
    /// # Errors
    /// [`ConsoleError::MissingOutput`] without a table.
    pub fn store(&self) -> Result<DynamoStore, ConsoleError> {
        let table = self.deployment.require(outputs::TABLE)?;
        Ok(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            table,
        ))
    }

    /// Tells the owner through the deployment's notifications topic, when it has one (the
    /// stack's `NotificationsTopicArn`, or `--notifications-topic-arn`); best effort, as the
    /// functions' notices are: a refusal is printed and the command goes on.
    pub async fn notify(&self, notice: &Notice) {
        let Some(topic) = self.deployment.get(outputs::NOTIFICATIONS_TOPIC) else {
            return;
        };
        match SnsNotifier::from_sdk(&self.sdk, topic)
            .publish(notice)
            .await
        {
            Ok(_) => println!("notified {topic}"),
            Err(e) => println!("notice not sent to {topic}: {e}"),
        }
    }
}

/// Runs a console command on a runtime of its own: the rest of the CLI is synchronous.
///
/// # Errors
/// The command's own error.
pub fn block_on<T>(
    command: impl std::future::Future<Output = Result<T, ConsoleError>>,
) -> Result<T, ConsoleError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ConsoleError::Input(format!("cannot start the async runtime: {e}")))?
        .block_on(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flags_alone_name_the_deployment_without_reading_a_stack() {
        let target = Target {
            stack: "Nowhere".into(),
            table: Some("t1".into()),
            queue_url: Some("http://127.0.0.1:1/q".into()),
            ..Target::default()
        };
        // No endpoint and no credentials are needed: the stack is never read.
        let sdk = aws_config::SdkConfig::builder().build();
        let d = target
            .resolve(&sdk, &[outputs::TABLE, outputs::INTENTS_QUEUE])
            .await
            .unwrap();
        assert_eq!(d.require(outputs::TABLE).unwrap(), "t1");
        assert_eq!(d.get(outputs::NOTIFICATIONS_TOPIC), None);
        let e = d
            .require(outputs::SCHEDULER_FUNCTION)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "stack \"Nowhere\" has no output SchedulerFunctionName: pass --scheduler-function"
        );
    }
}
