//! The services the Lambda functions run: the scheduler (reconcile, plan, queue) and the
//! executor (claim, price, place, follow up). Written against ports only, so they run the same
//! over DynamoDB/SQS/Binance and over the in-memory adapters of unit tests.

pub mod executor;
pub mod guard;
pub mod scheduler;
pub mod warm;

use std::sync::Arc;

use crate::orders::OrderTracker;
use crate::ports::{
    BreakerStore, Clock, IntentQueue, MarketFilterCache, MetricsSink, Notifier, OrderLedger,
    RandomSource,
};
use crate::BreakerConfig;

/// What both services build the same way from their ports: the order lifecycle and the breaker
/// in front of the exchange.
#[allow(clippy::too_many_arguments)]
fn lifecycle(
    ledger: &Arc<dyn OrderLedger>,
    queue: &Arc<dyn IntentQueue>,
    filters: &Arc<dyn MarketFilterCache>,
    breakers: &Arc<dyn BreakerStore>,
    clock: &Arc<dyn Clock>,
    random: &dyn RandomSource,
    metrics: &Arc<dyn MetricsSink>,
    exchange_name: &str,
    breaker: BreakerConfig,
    breaker_reuse_ms: i64,
    notifier: &Arc<dyn Notifier>,
) -> (OrderTracker, Arc<guard::BreakerGuard>) {
    let tracker = OrderTracker {
        ledger: ledger.clone(),
        queue: queue.clone(),
        filters: filters.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        exchange_name: exchange_name.to_owned(),
    };
    let guard = guard::BreakerGuard::new(
        breakers.clone(),
        clock.clone(),
        random,
        exchange_name,
        breaker,
        breaker_reuse_ms,
        notifier.clone(),
    );
    (tracker, Arc::new(guard))
}
