//! `driftline status`: the deployment at a glance. The halt in force (why, by whom, since when)
//! and each venue's circuit breaker, read together as the functions read them
//! ([`DeploymentControls::read`]); per portfolio whether it is paused, how its last cycle ended
//! (kept on its lease item) and its open orders by state; the intents queue's and the
//! dead-letter queue's depths (visible, in flight, delayed); and the stack's alarms in ALARM.
//!
//! The stack's alarms are the ones that notify its alarm topic (`AlarmTopicArn`, exactly: the
//! API's ActionPrefix is only a prefix) when that is known; otherwise those whose name starts
//! with the stack's name, as CloudFormation names the
//! CDK app's alarms (`<stack>-<logical id>-<suffix>`). DescribeAlarms is asked for the ALARM
//! state and the answer filtered again, because the emulator ignores the state filter when a
//! prefix is given.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_sqs::types::QueueAttributeName;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use driftline_core::control::{CycleRecord, DeploymentControls, Stop};
use driftline_core::ports::{BreakerStore, CycleLeases, OrderLedger, PortfolioConfigs, Venue};
use driftline_core::service::scheduler::{PortfolioOutcome, SchedulerSettings};
use driftline_core::BreakerState;
use serde::Serialize;

use super::support::{aws, to_json};
use super::time::{rfc3339, short};
use super::{block_on, outputs, Console, ConsoleError, Target};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Everything `driftline status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The deployment's halt, when one is in force.
    pub halt: Option<StopView>,
    pub breakers: Vec<BreakerView>,
    pub portfolios: Vec<PortfolioStatus>,
    pub queues: Queues,
    pub alarms: Alarms,
}

/// A halt or a pause: why, by whom, since when.
#[derive(Debug, Clone, Serialize)]
pub struct StopView {
    pub reason: String,
    pub by: String,
    pub since: String,
}

impl From<&Stop> for StopView {
    fn from(s: &Stop) -> Self {
        Self {
            reason: s.reason.clone(),
            by: s.by.clone(),
            since: rfc3339(s.at_ms),
        }
    }
}

/// A venue's shared circuit breaker.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    pub venue: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Failures in a row while closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    /// Open: until when; half open: the probe's deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl BreakerView {
    fn new(venue: &str, state: &BreakerState) -> Self {
        let (label, failures, until) = match state {
            BreakerState::Closed {
                consecutive_failures,
            } => ("closed", Some(*consecutive_failures), None),
            BreakerState::Open { until_ms } => ("open", None, Some(rfc3339(*until_ms))),
            BreakerState::HalfOpen { until_ms, .. } => {
                ("half_open", None, Some(rfc3339(*until_ms)))
            }
        };
        Self {
            venue: venue.to_owned(),
            state: label,
            consecutive_failures: failures,
            until,
        }
    }
}

/// One portfolio: paused or active, its last cycle, its orders not yet final.
#[derive(Debug, Clone, Serialize)]
pub struct PortfolioStatus {
    pub id: String,
    /// The pause in force; absent: the portfolio is active.
    pub paused: Option<StopView>,
    pub last_cycle: Option<LastCycle>,
    /// Open orders by state (`PENDING`, `PLACED`, …); empty when none.
    pub open_orders: BTreeMap<&'static str, usize>,
}

/// How a portfolio's last cycle ended: `outcome` and its details as the scheduler reported
/// them (`planned` with `orders`, `queued`, …).
#[derive(Debug, Clone, Serialize)]
pub struct LastCycle {
    pub cycle_id: String,
    pub at: String,
    #[serde(flatten)]
    pub outcome: PortfolioOutcome,
}

impl From<&CycleRecord> for LastCycle {
    fn from(r: &CycleRecord) -> Self {
        Self {
            cycle_id: r.cycle_id.to_string(),
            at: rfc3339(r.at_ms),
            outcome: r.outcome.clone(),
        }
    }
}

/// A queue's approximate depths, as SQS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Queues {
    pub intents: QueueDepth,
    pub dead_letter: QueueDepth,
    /// The shards' dead-letter queue, when the deployment names it (`ShardsDeadLetterQueueUrl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards_dead_letter: Option<QueueDepth>,
}

/// The stack's alarms in ALARM, and which alarms counted as the stack's.
#[derive(Debug, Clone, Serialize)]
pub struct Alarms {
    pub scope: String,
    pub in_alarm: Vec<AlarmView>,
    /// Why they could not be read (no `cloudwatch:DescribeAlarms`, say): the rest of the
    /// status is still worth showing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmView {
    pub name: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A queue's depths: GetQueueAttributes of its three approximate counts.
///
/// # Errors
/// [`ConsoleError::Aws`] when SQS refuses.
pub async fn queue_depth(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<QueueDepth, ConsoleError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(aws("sqs", "GetQueueAttributes"))?;
    let count = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(QueueDepth {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

async fn alarms(console: &Console) -> Alarms {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&console.sdk);
    let topic = console.deployment.get(outputs::ALARM_TOPIC);
    let prefix = format!("{}-", console.deployment.stack);
    let scope = match topic {
        Some(topic) => format!("alarms notifying {topic}"),
        None => format!("alarms named {prefix}*"),
    };
    let mut in_alarm = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = cloudwatch
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .state_value(StateValue::Alarm)
            .set_next_token(token.take());
        let request = match topic {
            Some(topic) => request.action_prefix(topic),
            None => request.alarm_name_prefix(&prefix),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) => {
                return Alarms {
                    scope,
                    in_alarm: Vec::new(),
                    unavailable: Some(aws("cloudwatch", "DescribeAlarms")(e).to_string()),
                }
            }
        };
        // ActionPrefix is a prefix: an alarm of `…:topic-2` matches `…:topic` too.
        let ours = |actions: &[String]| topic.is_none_or(|t| actions.iter().any(|a| a == t));
        // The SDK's metric and composite alarms have these fields under the same names but
        // share no trait: one view for both.
        macro_rules! in_alarm_view {
            ($alarm:expr) => {{
                let a = $alarm;
                (ours(a.alarm_actions()) && a.state_value() == Some(&StateValue::Alarm)).then(
                    || AlarmView {
                        name: a.alarm_name().unwrap_or_default().to_owned(),
                        reason: a.state_reason().unwrap_or_default().to_owned(),
                        since: a
                            .state_updated_timestamp()
                            .and_then(|t| t.to_millis().ok())
                            .map(rfc3339),
                    },
                )
            }};
        }
        in_alarm.extend(out.metric_alarms().iter().filter_map(|a| in_alarm_view!(a)));
        in_alarm.extend(
            out.composite_alarms()
                .iter()
                .filter_map(|a| in_alarm_view!(a)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    in_alarm.sort_by(|a, b| a.name.cmp(&b.name));
    Alarms {
        scope,
        in_alarm,
        unavailable: None,
    }
}

/// Reads the deployment's status.
///
/// # Errors
/// [`ConsoleError`] naming the resource that could not be read.
pub async fn read(console: &Console) -> Result<Status, ConsoleError> {
    let store = console.store()?;
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    // The halt with the default account's venue's breaker, in one read as the functions read
    // them; then the breaker of each other venue (the functions keep one per venue).
    let default_venue = SchedulerSettings::default().venue;
    let controls = DeploymentControls::read(&store, default_venue.as_str()).await?;
    let halt = controls.halt.as_ref().map(StopView::from);
    let mut breakers = Vec::with_capacity(Venue::ALL.len());
    for venue in Venue::ALL {
        let state = if venue == default_venue {
            controls.breaker.state.clone()
        } else {
            store.load(venue.as_str()).await?.state
        };
        breakers.push(BreakerView::new(venue.as_str(), &state));
    }
    let mut portfolios = Vec::new();
    for id in store.portfolio_ids().await? {
        // Removed since it was listed: nothing to show.
        let Some(stored) = store.portfolio(&id).await? else {
            continue;
        };
        let mut open_orders = BTreeMap::new();
        for order in store.open_orders(&id).await? {
            *open_orders.entry(order.status.as_str()).or_default() += 1;
        }
        portfolios.push(PortfolioStatus {
            id: id.to_string(),
            paused: stored.paused.as_ref().map(StopView::from),
            last_cycle: store.last_cycle(&id).await?.as_ref().map(LastCycle::from),
            open_orders,
        });
    }
    let queues = Queues {
        intents: queue_depth(&sqs, console.deployment.require(outputs::INTENTS_QUEUE)?).await?,
        dead_letter: queue_depth(
            &sqs,
            console.deployment.require(outputs::DEAD_LETTER_QUEUE)?,
        )
        .await?,
        shards_dead_letter: match console.deployment.get(outputs::SHARDS_DEAD_LETTER_QUEUE) {
            Some(url) => Some(queue_depth(&sqs, url).await?),
            None => None,
        },
    };
    Ok(Status {
        halt,
        breakers,
        portfolios,
        queues,
        alarms: alarms(console).await,
    })
}

/// An outcome as a few words.
pub fn outcome_label(outcome: &PortfolioOutcome) -> String {
    match outcome {
        PortfolioOutcome::Planned { .. } => "planned".into(),
        PortfolioOutcome::LeaseHeld { owner } => format!("lease held by {owner}"),
        PortfolioOutcome::AlreadyRan => "already ran".into(),
        PortfolioOutcome::Stale { newest } => format!("stale (cycle {newest} ran)"),
        PortfolioOutcome::BreakerOpen { retry_at_ms } => {
            format!("breaker open until {}", short(*retry_at_ms))
        }
        PortfolioOutcome::Halted { reason } => format!("halted: {reason}"),
        PortfolioOutcome::Paused { reason } => format!("paused: {reason}"),
        PortfolioOutcome::Failed { error } => format!("failed: {error}"),
    }
}

fn depth(name: &str, d: QueueDepth) -> String {
    format!(
        "{name} {} visible · {} in flight · {} delayed",
        d.visible, d.in_flight, d.delayed
    )
}

/// The status as text.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    match &s.halt {
        Some(h) => out.push_str(&format!(
            "deployment: HALTED since {} by {}: {}\n",
            h.since, h.by, h.reason
        )),
        None => out.push_str("deployment: running (no halt in force)\n"),
    }
    for b in &s.breakers {
        let detail = match (b.state, &b.until, b.consecutive_failures) {
            ("closed", _, Some(0) | None) => "closed".to_owned(),
            ("closed", _, Some(n)) => format!("closed ({n} failure(s) in a row)"),
            ("open", Some(until), _) => format!("OPEN until {until}"),
            (_, Some(until), _) => format!("HALF OPEN: a probe until {until}"),
            (state, None, _) => state.to_owned(),
        };
        out.push_str(&format!("breaker {}: {detail}\n", b.venue));
    }
    out.push_str(&format!(
        "queues: {} · {}\n",
        depth("intents", s.queues.intents),
        depth("dead-letter", s.queues.dead_letter)
    ));
    if let Some(shards) = s.queues.shards_dead_letter {
        out.push_str(&format!(
            "        {}\n",
            depth("shards' dead-letter", shards)
        ));
    }
    if let Some(why) = &s.alarms.unavailable {
        out.push_str(&format!(
            "alarms in ALARM: could not be read ({}): {why}\n",
            s.alarms.scope
        ));
    } else if s.alarms.in_alarm.is_empty() {
        out.push_str(&format!("alarms in ALARM: none ({})\n", s.alarms.scope));
    } else {
        out.push_str(&format!(
            "alarms in ALARM: {} ({})\n",
            s.alarms.in_alarm.len(),
            s.alarms.scope
        ));
        for a in &s.alarms.in_alarm {
            let since = a
                .since
                .as_deref()
                .map(|t| format!(" since {t}"))
                .unwrap_or_default();
            out.push_str(&format!("  {}{since}: {}\n", a.name, a.reason));
        }
    }
    if s.portfolios.is_empty() {
        out.push_str("portfolios: none configured (driftline portfolio apply FILE)\n");
        return out;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "portfolio",
        "state",
        "last cycle",
        "at",
        "outcome",
        "orders planned",
        "open orders",
    ]);
    for p in &s.portfolios {
        let state = match &p.paused {
            Some(pause) => format!(
                "paused since {} by {}: {}",
                pause.since, pause.by, pause.reason
            ),
            None => "active".to_owned(),
        };
        let (cycle, at, outcome, planned) = match &p.last_cycle {
            Some(c) => (
                c.cycle_id.clone(),
                c.at.clone(),
                outcome_label(&c.outcome),
                match c.outcome {
                    PortfolioOutcome::Planned { orders, .. } => orders.to_string(),
                    _ => String::new(),
                },
            ),
            None => (
                "none yet".into(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let open = if p.open_orders.is_empty() {
            "none".to_owned()
        } else {
            p.open_orders
                .iter()
                .map(|(state, n)| format!("{state} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        table.add_row(vec![
            Cell::new(&p.id),
            Cell::new(state),
            Cell::new(cycle),
            Cell::new(at),
            Cell::new(outcome),
            Cell::new(planned),
            Cell::new(open),
        ]);
    }
    out.push_str(&format!("{table}\n"));
    out
}

/// `driftline status`.
///
/// # Errors
/// [`ConsoleError`] naming what could not be found or read.
pub fn run(target: &Target, args: &StatusArgs) -> Result<(), ConsoleError> {
    let status = block_on(async {
        let console = Console::connect(
            target,
            &[
                outputs::TABLE,
                outputs::INTENTS_QUEUE,
                outputs::DEAD_LETTER_QUEUE,
            ],
        )
        .await?;
        read(&console).await
    })?;
    if args.json {
        println!("{}", to_json(&status)?);
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_breaker_and_unreadable_alarms_are_said_plainly() {
        let status = Status {
            halt: None,
            breakers: vec![BreakerView::new(
                "binance",
                &BreakerState::Open {
                    until_ms: 1_800_000_060_000,
                },
            )],
            portfolios: Vec::new(),
            queues: Queues {
                intents: QueueDepth::default(),
                dead_letter: QueueDepth {
                    visible: 2,
                    in_flight: 1,
                    delayed: 0,
                },
                shards_dead_letter: Some(QueueDepth {
                    visible: 1,
                    in_flight: 0,
                    delayed: 0,
                }),
            },
            alarms: Alarms {
                scope: "alarms named Driftline-*".into(),
                in_alarm: Vec::new(),
                unavailable: Some("cloudwatch DescribeAlarms: AccessDenied".into()),
            },
        };
        let text = render(&status);
        assert!(
            text.contains("breaker binance: OPEN until 2027-01-15T08:01:00Z"),
            "{text}"
        );
        assert!(
            text.contains("dead-letter 2 visible · 1 in flight · 0 delayed"),
            "{text}"
        );
        assert!(
            text.contains("shards' dead-letter 1 visible · 0 in flight · 0 delayed"),
            "{text}"
        );
        assert!(
            text.contains(
                "alarms in ALARM: could not be read (alarms named Driftline-*): cloudwatch DescribeAlarms: AccessDenied"
            ),
            "{text}"
        );
        assert!(text.contains("portfolios: none configured"), "{text}");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["breakers"][0],
            serde_json::json!({"venue": "binance", "state": "open", "until": "2027-01-15T08:01:00Z"})
        );
    }
}
