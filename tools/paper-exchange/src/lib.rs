//! A local exchange that speaks the Binance spot, Kraken spot and Coinbase Advanced Trade REST
//! dialects (one per listener) over one engine: order books around a seeded
//! random-walk mid, price-time matching, balances with locks, fees, request-weight limits and
//! injected faults. [`engine`] is the pure venue; [`server`] is the thin HTTP layer over it.
#![deny(clippy::float_arithmetic)]

mod api_error;
pub mod clock;
pub mod config;
pub mod engine;
pub mod faults;
mod params;
pub mod rate_limit;
pub mod server;
pub mod venues;

pub use api_error::ApiError;
pub use config::ExchangeConfig;
pub use server::PaperExchange;

/// Basis points in one whole.
pub(crate) const BPS_IN_ONE: rust_decimal::Decimal = driftline_core::money::BPS;
