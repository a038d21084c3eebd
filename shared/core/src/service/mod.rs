//! The services the Lambda functions run: the scheduler (reconcile, plan, queue) and the
//! executor (claim, price, place, follow up). Written against ports only, so they run the same
//! over DynamoDB/SQS/Binance and over the in-memory adapters of unit tests.

pub mod executor;
pub mod guard;
pub mod scheduler;
pub mod warm;

use std::sync::Arc;

use crate::orders::OrderTracker;
use crate::ports::Ports;
use crate::BreakerConfig;

/// What both services build the same way from their ports: the order lifecycle and the breaker
/// in front of the exchange.
fn lifecycle(
    ports: &Ports,
    exchange_name: &str,
    breaker: BreakerConfig,
    breaker_reuse_ms: i64,
) -> (OrderTracker, Arc<guard::BreakerGuard>) {
    let tracker = OrderTracker {
        ledger: ports.store.ledger.clone(),
        queue: ports.queue.clone(),
        filters: ports.store.filters.clone(),
        clock: ports.clock.clone(),
        metrics: ports.metrics.clone(),
        exchange_name: exchange_name.to_owned(),
    };
    let guard = guard::BreakerGuard::new(
        ports.store.breakers.clone(),
        ports.clock.clone(),
        ports.random.as_ref(),
        exchange_name,
        breaker,
        breaker_reuse_ms,
        ports.notifier.clone(),
    );
    (tracker, Arc::new(guard))
}
