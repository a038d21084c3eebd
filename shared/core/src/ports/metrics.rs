//! Where the services report what operators watch.

use rust_decimal::Decimal;

use crate::orders::ExecutionQuality;
use crate::{Asset, OrderStatus, PortfolioId};

/// Where services report what operators watch. Infallible: a metric that cannot be written is
/// the adapter's to log, never a reason to fail an order.
pub trait MetricsSink: Send + Sync {
    /// Drift of one asset in percentage points, each cycle.
    fn drift(&self, portfolio: &PortfolioId, asset: &Asset, drift_pp: Decimal);
    /// A portfolio's cycle ran to its end.
    fn cycle_completed(&self, portfolio: &PortfolioId);
    /// An attempt to place an order: `failed` when it ended in an error or a rejection.
    fn execution_attempt(&self, failed: bool, latency_ms: Option<i64>);
    /// An order reached a final state.
    fn order_final(&self, status: OrderStatus, quality: &ExecutionQuality);
    /// The exchange answered 429 or 418.
    fn rate_limit_hit(&self);
}
