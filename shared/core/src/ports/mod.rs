//! Ports: what core needs from the outside world, one file per port. Adapters implement them
//! (`shared/exchange`, `shared/aws`, the in-memory ones of [`crate::testing`]); functions and
//! tools wire adapters to core's services.
//!
//! - [`exchange`]: a venue's market data, orders and balances; [`accounts`]: which client trades
//!   for which account.
//! - [`store`]: durable state (order ledger, cycle leases, drift history, filter cache,
//!   breaker state, portfolio configurations); [`queue`]: the intent queue.
//! - [`clock`]: time and random draws; [`metrics`]: what operators watch; [`notifier`]: what
//!   the owner is told.

pub mod accounts;
pub mod clock;
pub mod exchange;
pub mod metrics;
pub mod notifier;
pub mod queue;
pub mod store;

pub use accounts::{ExchangeAccounts, FixedAccounts};
pub use clock::{Clock, RandomSource};
pub use exchange::{
    Balance, Exchange, ExchangeError, ExchangeOrderStatus, Fill, LimitOrderRequest, OrderReport,
    TimeInForce,
};
pub use metrics::MetricsSink;
pub use notifier::{Notifier, Silent};
pub use queue::{IntentQueue, ReceivedIntent, RetryBackoff, SendReport};
pub use store::{
    BreakerSave, BreakerStore, CycleLeases, DriftHistory, Lease, LeaseOutcome, MarketFilterCache,
    OrderLedger, PortfolioConfigs, RecordedSnapshot, StoreError, StoredPortfolio, VersionedBreaker,
    MARKET_FILTER_TTL_MS,
};
