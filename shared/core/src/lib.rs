//! driftline's pure core: money, portfolios, drift, the rebalance policy, the cost model, the
//! planner, the order lifecycle, the ports adapters implement and the two services.
//!
//! No I/O, no clock, no randomness: the same inputs always give the same plan, so the
//! scheduler, the CLI and the backtester run exactly this code.
//!
//! # Layout
//!
//! - Domain values, valid by construction: [`asset`](Asset), [`money`], [`portfolio`](Portfolio),
//!   [`market`](MarketFilters), [`config`] (a portfolio file or stored config validated into
//!   them).
//! - Deciding: `drift` ([`DriftSnapshot`]), `policy` ([`RebalancePolicy`]), `cost`
//!   ([`CostModel`]), `plan` ([`plan()`]: a decision for every asset and the intents),
//!   [`pricing`] (the one limit-price rule), `breaker` (the one circuit-breaker rule).
//! - [`orders`]: the order lifecycle in one place: the intent and its states, the ledger record
//!   and its claim/transition/fill rules, the queue envelope, execution rules, and the
//!   [`orders::OrderTracker`] both services use.
//! - [`ports`]: what core needs from outside, one file per port, and [`ports::Ports`], the
//!   bundle both services are built from.
//! - [`service`]: the [`service::scheduler::Scheduler`] (one cycle per portfolio and period)
//!   and the [`service::executor::Executor`] (one message, one order, at most once), with the
//!   breaker guard and the warm filter cache they share.
//! - [`control`] (kill switch, pause, how a cycle ended) and [`notify`] (what the owner is
//!   told).
//! - `testing` (feature `testing`): in-memory adapters for tests and the sandbox.

#![deny(clippy::float_arithmetic)]

pub mod accounts;
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
mod route;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use asset::{Asset, Symbol};
pub use breaker::{BreakerConfig, BreakerPermit, BreakerState, VenueHealth};
pub use cost::{BookWalkCostModel, CostError, CostEstimate, CostModel, Fees};
pub use credentials::{AccountSecret, ApiCredentials};
pub use drift::{AssetDrift, DriftSnapshot, VelocityWindow};
pub use error::DomainError;
pub use market::{
    DepthProfile, Level, MarketFilters, MarketFiltersFields, MarketSnapshot, Markets, OrderBook,
    OrderBookFields, TradingStatus,
};
pub use money::Price;
pub use orders::{ClientOrderId, CycleId, EpochMillis, OrderIntent, OrderStatus, Side};
pub use plan::{
    plan, AssetDecision, InFlightOrder, PlanAccount, PlanNote, PlanRequest, PlanTotals,
    PlannedOrder, RebalancePlan, RouteQuote,
};
pub use policy::{Band, DecisionReason, Destination, Liquidity, RebalancePolicy, VelocityRule};
pub use portfolio::{Holdings, Portfolio, PortfolioId, TargetWeights};
