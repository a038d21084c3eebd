//! The scheduler's handlers: an EventBridge scheduled event in, a summary per portfolio out (or,
//! above the fan-out threshold, the shards sent); and a batch of shards from the shard queue in,
//! the batch item failures out. [`handle_event`] tells the two apart for the one function.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use driftline_core::ports::Shard;
use driftline_core::service::scheduler::{PortfolioSummary, Scheduler, ShardRun, Tick};
use driftline_core::{CycleId, EpochMillis, PortfolioId};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use tracing::{error, info, warn};

#[derive(Debug, Error)]
pub enum ScheduledError {
    #[error("event detail: {0}")]
    Detail(String),
    #[error("portfolio list, controls or shard queue: {0}")]
    Store(#[from] driftline_core::ports::StoreError),
    #[error("event is neither a scheduled event nor a batch of shards: {0}")]
    Event(String),
    #[error("response: {0}")]
    Response(String),
}

/// The optional detail of a targeted run: `{"portfolios": ["article"]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunDetail {
    #[serde(default)]
    portfolios: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SchedulerResponse {
    pub cycle_id: String,
    /// The portfolios this invocation ran (none when the tick fanned out).
    pub portfolios: Vec<PortfolioSummary>,
    /// When the tick fanned out: how many portfolios went to the shard queue, in how many shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanned_out: Option<FannedOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FannedOut {
    pub portfolios: usize,
    pub shards: usize,
}

/// The cycle of a tick: its time floored to the schedule period, so a redelivered tick (or a
/// retry of the same invocation) names the same cycle and therefore the same client order ids.
///
/// # Errors
/// Never for a real event time; an invalid period is treated as one second.
pub fn cycle_id(time: DateTime<Utc>, period_seconds: u32) -> CycleId {
    cycle_of(time, period_seconds).0
}

/// The cycle of a tick, and when the next tick comes: a shard of this one expires then. A
/// `rate()` schedule fires on the rule's own phase, not on period boundaries, so that is a
/// period after the tick, not the end of the floored period.
fn cycle_of(time: DateTime<Utc>, period_seconds: u32) -> (CycleId, EpochMillis) {
    let period = i64::from(period_seconds.max(1));
    let floored = time.timestamp().div_euclid(period) * period;
    let at = DateTime::from_timestamp(floored, 0).unwrap_or(time);
    // Only digits, letters and '-', '.', ':' — always a valid CycleId.
    let id = CycleId::new(&at.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| CycleId::new("invalid-time").expect("a constant valid cycle id"));
    (id, time.timestamp_millis().saturating_add(period * 1000))
}

/// Runs one cycle for the portfolios the event names, or for all of them: here, or, above the
/// fan-out threshold, in shards sent to the shard queue ([`Scheduler::tick`]).
///
/// # Errors
/// [`ScheduledError`] for a detail that names no valid portfolio list, or when the list of
/// portfolios or the controls cannot be read, or a shard could not be sent: the invocation
/// fails (the SchedulerErrors alarm), and the next tick plans what this one did not.
pub async fn handle(
    scheduler: &Scheduler,
    period_seconds: u32,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<SchedulerResponse, ScheduledError> {
    let (event, context) = event.into_parts();
    let detail: RunDetail = match &event.detail {
        Value::Null => RunDetail::default(),
        v => {
            serde_json::from_value(v.clone()).map_err(|e| ScheduledError::Detail(e.to_string()))?
        }
    };
    let only = detail
        .portfolios
        .map(|ids| {
            ids.iter()
                .map(|id| PortfolioId::new(id).map_err(|e| ScheduledError::Detail(e.to_string())))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    // A hand-made event may have no time: it runs as of now.
    let (cycle, ends_at_ms) = cycle_of(event.time.unwrap_or_else(Utc::now), period_seconds);
    info!(cycle = %cycle, targeted = only.is_some(), "cycle starts");
    // A targeted run plans what it names here, whatever the threshold.
    let tick = match only {
        Some(ids) => Tick::Ran {
            portfolios: scheduler
                .run(&cycle, Some(&ids), &context.request_id)
                .await?,
        },
        None => {
            scheduler
                .tick(&cycle, ends_at_ms, &context.request_id)
                .await?
        }
    };
    let (portfolios, fanned_out) = match tick {
        Tick::Ran { portfolios } => (portfolios, None),
        Tick::FannedOut { portfolios, shards } => {
            (Vec::new(), Some(FannedOut { portfolios, shards }))
        }
    };
    Ok(SchedulerResponse {
        cycle_id: cycle.to_string(),
        portfolios,
        fanned_out,
    })
}

/// Runs each shard of an SQS batch (the shard queue's event source mapping sends one at a
/// time). A shard that cannot be read is reported as a failure with its reason logged, so the
/// queue's redrive policy moves it to the shards' dead-letter queue after three deliveries; one
/// whose run could not read the controls is reported to come back. A shard delivered after the
/// next tick plans nothing and is done (logged as an error: the shards fall behind).
pub async fn handle_shards(
    scheduler: &Scheduler,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let (event, context) = event.into_parts();
    let mut failures = Vec::new();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let done = match serde_json::from_str::<Shard>(body) {
            Err(e) => {
                error!(message_id = %id, reason = %e, "unreadable shard: left to the dead-letter queue");
                false
            }
            Ok(shard) => match scheduler.run_shard(&shard, &context.request_id).await {
                Ok(ShardRun::Ran { portfolios }) => {
                    info!(message_id = %id, cycle = %shard.cycle_id, portfolios = portfolios.len(), "shard ran");
                    true
                }
                Ok(ShardRun::Expired { .. }) => true,
                Err(e) => {
                    warn!(message_id = %id, error = %e, "shard not run: it comes back");
                    false
                }
            },
        };
        if !done {
            failures.push(id);
        }
    }
    crate::sqs::batch_failures(failures)
}

/// The scheduler function's one entry: a batch of shards (an SQS event, `Records`) or a
/// scheduled event (anything else), each to its handler; the response as JSON.
///
/// # Errors
/// As [`handle`]; [`ScheduledError::Event`] for an event that is neither.
pub async fn handle_event(
    scheduler: &Scheduler,
    period_seconds: u32,
    event: LambdaEvent<Value>,
) -> Result<Value, ScheduledError> {
    let (payload, context) = event.into_parts();
    let response = if payload.get("Records").is_some() {
        let batch: SqsEvent =
            serde_json::from_value(payload).map_err(|e| ScheduledError::Event(e.to_string()))?;
        serde_json::to_value(handle_shards(scheduler, LambdaEvent::new(batch, context)).await)
    } else {
        let tick: EventBridgeEvent<Value> =
            serde_json::from_value(payload).map_err(|e| ScheduledError::Event(e.to_string()))?;
        serde_json::to_value(
            handle(scheduler, period_seconds, LambdaEvent::new(tick, context)).await?,
        )
    };
    response.map_err(|e| ScheduledError::Response(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_and_its_redelivery_name_the_same_cycle() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = cycle_id(t("2026-11-21T09:05:00Z"), 300);
        let b = cycle_id(t("2026-11-21T09:09:59.999Z"), 300);
        let c = cycle_id(t("2026-11-21T09:10:00Z"), 300);
        assert_eq!(a.as_str(), "20261121T090500Z");
        assert_eq!(a, b);
        assert_ne!(a, c);
        // A rate schedule's phase is its own: a tick at 09:04:50 names the 09:00 cycle, and its
        // shards live until the next tick, 09:09:50, not until 09:05.
        let (cycle, next) = cycle_of(t("2026-11-21T09:04:50Z"), 300);
        assert_eq!(cycle.as_str(), "20261121T090000Z");
        assert_eq!(next, t("2026-11-21T09:09:50Z").timestamp_millis());
    }
}
