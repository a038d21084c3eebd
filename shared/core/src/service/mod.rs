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
