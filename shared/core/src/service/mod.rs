//! The services the Lambda functions run: the scheduler (reconcile, plan, queue) and the
//! executor (claim, price, place, follow up). Written against ports only, so they run the same
//! over DynamoDB/SQS/Binance and over the in-memory adapters of unit tests.

pub mod executor;
pub mod guard;
pub mod scheduler;
pub mod warm;

use crate::orders::OrderTracker;
use crate::ports::Ports;
use crate::BreakerConfig;

/// Who follows an order resting on the exchange to a final state: records its fills, cancels
/// it at its deadline, re-prices it when the market has left it behind (docs/BENCHMARKS.md has
/// what each costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FollowUp {
    /// The executor, with a delayed message per resting order every follow-up delay: it
    /// reacts within that delay, at one SQS send and one read of the controls per batch of
    /// follow-ups, and writes `PLACED` after placement.
    #[default]
    Messages,
    /// The scheduler's reconcile, once a period: the executor places an order and is done with
    /// it (no `PLACED` write, no follow-up message); the next cycle records the order's fills,
    /// cancels it at its deadline or re-prices it. Fewer AWS calls per order, a period's
    /// reaction time.
    Reconcile,
}

impl FollowUp {
    /// The mode `value` names, if it names one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "messages" => Some(Self::Messages),
            "reconcile" => Some(Self::Reconcile),
            _ => None,
        }
    }
}

/// What both services build the same way from their ports: the order lifecycle and the
/// breakers in front of the venues.
fn lifecycle(
    ports: &Ports,
    breaker: BreakerConfig,
    breaker_reuse_ms: i64,
) -> (OrderTracker, guard::Breakers) {
    let tracker = OrderTracker {
        ledger: ports.store.ledger.clone(),
        queue: ports.queue.clone(),
        filters: ports.store.filters.clone(),
        clock: ports.clock.clone(),
        metrics: ports.metrics.clone(),
    };
    let breakers = guard::Breakers::new(
        &ports.store.breakers,
        &ports.clock,
        ports.random.as_ref(),
        breaker,
        breaker_reuse_ms,
        &ports.notifier,
    );
    (tracker, breakers)
}
