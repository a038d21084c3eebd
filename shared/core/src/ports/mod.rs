//! Ports: what core needs from the outside world, one file per port. Adapters implement them
//! (`shared/exchange`, `shared/aws`, the in-memory ones of `crate::testing`); functions and
//! tools wire adapters to core's services.
//!
//! - [`exchange`]: a venue's market data, orders and balances; [`layer`]: a wrapper that sees
//!   every call of an exchange (the breaker, re-keying); [`accounts`]: which client trades for
//!   which account.
//! - [`store`]: durable state (order ledger, cycle leases, drift history, filter cache,
//!   breaker state, portfolio configurations); [`queue`]: the intent queue and the scheduler's
//!   shard queue.
//! - [`clock`]: time and random draws; [`metrics`]: what operators watch; [`notifier`]: what
//!   the owner is told.
//!
//! [`Ports`] bundles one of each, as a deployment wires them and both services take them.

pub mod accounts;
pub mod clock;
pub mod exchange;
pub mod layer;
pub mod metrics;
pub mod notifier;
pub mod queue;
pub mod store;

pub use accounts::{ExchangeAccounts, FixedAccounts};
pub use clock::{Clock, RandomSource};
pub use exchange::{
    Balance, Exchange, ExchangeError, ExchangeOrderId, ExchangeOrderStatus, Fill,
    LimitOrderRequest, OrderReport, TimeInForce, UnknownVenue, Venue,
};
pub use layer::{ExchangeAnswer, ExchangeCall, ExchangeLayer, Layered};
pub use metrics::MetricsSink;
pub use notifier::{Notifier, Silent};
pub use queue::{
    DeadLetters, IntentQueue, ReceivedIntent, RetryBackoff, SendReport, Shard, ShardQueue,
};
pub use store::{
    record_each, BreakerSave, BreakerStore, ClearClaim, CycleLeases, DriftHistory, Lease,
    LeaseOutcome, MarketFilterCache, OrderLedger, PortfolioConfigs, RecordedSnapshot, StoreError,
    StoredPortfolio, VersionedBreaker, MARKET_FILTER_TTL_MS,
};

use std::sync::Arc;

use crate::control::DeploymentControls;

/// The store ports, every one on the same store (the deployment's DynamoDB table; the
/// in-memory store in tests). A test that wraps one port replaces that field.
#[derive(Clone)]
pub struct StorePorts {
    pub ledger: Arc<dyn OrderLedger>,
    pub leases: Arc<dyn CycleLeases>,
    pub history: Arc<dyn DriftHistory>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub breakers: Arc<dyn BreakerStore>,
    pub controls: Arc<dyn DeploymentControls>,
    pub configs: Arc<dyn PortfolioConfigs>,
}

impl StorePorts {
    pub fn on<S>(store: Arc<S>) -> Self
    where
        S: OrderLedger
            + CycleLeases
            + DriftHistory
            + MarketFilterCache
            + BreakerStore
            + DeploymentControls
            + PortfolioConfigs
            + 'static,
    {
        Self {
            ledger: store.clone(),
            leases: store.clone(),
            history: store.clone(),
            filters: store.clone(),
            breakers: store.clone(),
            controls: store.clone(),
            configs: store,
        }
    }
}

/// The ports of a deployment, from which the scheduler and the executor are built (each uses
/// the ones it needs: the executor neither leases cycles nor keeps drift history).
#[derive(Clone)]
pub struct Ports {
    pub store: StorePorts,
    pub queue: Arc<dyn IntentQueue>,
    pub exchanges: Arc<dyn ExchangeAccounts>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub metrics: Arc<dyn MetricsSink>,
    /// Where the owner is told of breaker transitions and of cycles that traded; [`Silent`]
    /// when nobody listens.
    pub notifier: Arc<dyn Notifier>,
}
