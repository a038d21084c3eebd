//! The scheduler's handler: an EventBridge scheduled event in, a summary per portfolio out.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use driftline_core::service::scheduler::{PortfolioSummary, Scheduler};
use driftline_core::{CycleId, PortfolioId};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScheduledError {
    #[error("event detail: {0}")]
    Detail(String),
    #[error("portfolio list: {0}")]
    Store(#[from] driftline_core::ports::StoreError),
}

/// The optional detail of a targeted run: `{"portfolios": ["article"]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunDetail {
    #[serde(default)]
    portfolios: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct SchedulerResponse {
    pub cycle_id: String,
    pub portfolios: Vec<PortfolioSummary>,
}

/// The cycle of a tick: its time floored to the schedule period, so a redelivered tick (or a
/// retry of the same invocation) names the same cycle and therefore the same client order ids.
///
/// # Errors
/// Never for a real event time; an invalid period is treated as one second.
pub fn cycle_id(time: DateTime<Utc>, period_seconds: u32) -> CycleId {
    let period = i64::from(period_seconds.max(1));
    let floored = time.timestamp().div_euclid(period) * period;
    let at = DateTime::from_timestamp(floored, 0).unwrap_or(time);
    // Only digits, letters and '-', '.', ':' — always a valid CycleId.
    CycleId::new(&at.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| CycleId::new("invalid-time").expect("a constant valid cycle id"))
}

/// Runs one cycle for the portfolios the event names, or for all of them.
///
/// # Errors
/// [`ScheduledError`] for a detail that names no valid portfolio list, or when the list of
/// portfolios cannot be read: no order is planned then.
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
    let cycle = cycle_id(event.time.unwrap_or_else(Utc::now), period_seconds);
    tracing::info!(cycle = %cycle, targeted = only.is_some(), "cycle starts");
    let portfolios = scheduler
        .run(&cycle, only.as_deref(), &context.request_id)
        .await?;
    Ok(SchedulerResponse {
        cycle_id: cycle.to_string(),
        portfolios,
    })
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
    }
}
