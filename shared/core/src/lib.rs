//! driftline's pure core: money, portfolios, drift, the rebalance policy, the cost model, the
//! planner, the order state machine and the ports adapters implement.
//!
//! No I/O, no clock, no randomness: the same inputs always give the same plan, so the
//! scheduler, the CLI and the backtester run exactly this code.
#![deny(clippy::float_arithmetic)]

mod asset;
mod breaker;
pub mod config;
pub mod control;
mod cost;
mod credentials;
mod drift;
mod error;
pub mod exact;
mod market;
pub mod money;
pub mod notify;
pub mod orders;
mod plan;
mod policy;
mod portfolio;
pub mod ports;
pub mod pricing;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use asset::{Asset, Symbol};
pub use breaker::{BreakerConfig, BreakerPermit, BreakerState, VenueHealth};
pub use cost::{BookWalkCostModel, CostError, CostEstimate, CostModel, Fees};
pub use credentials::ApiCredentials;
pub use drift::{AssetDrift, DriftSnapshot, VelocityWindow};
pub use error::DomainError;
pub use market::{
    DepthProfile, Level, MarketFilters, MarketFiltersFields, MarketSnapshot, Markets, OrderBook,
    OrderBookFields, TradingStatus,
};
pub use money::Price;
pub use orders::{ClientOrderId, CycleId, EpochMillis, OrderIntent, OrderStatus, Side};
pub use plan::{
    plan, AssetDecision, InFlightOrder, PlanRequest, PlanTotals, PlannedOrder, RebalancePlan,
};
pub use policy::{Band, DecisionReason, Destination, Liquidity, RebalancePolicy, VelocityRule};
pub use portfolio::{Holdings, Portfolio, PortfolioId, TargetWeights};
