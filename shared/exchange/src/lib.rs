//! Exchange adapters behind driftline's [`Exchange`](driftline_core::ports::Exchange) port.
//!
//! [`BinanceSpot`] speaks the Binance spot REST dialect (production, testnet or the paper
//! exchange): requests signed with HMAC-SHA256 over the exact query string, every number read
//! from the exchange's strings into `Decimal`, request weight and order counts limited before
//! anything is sent, reads retried with exponential backoff and full jitter, and every failure
//! classified into an [`ExchangeError`](driftline_core::ports::ExchangeError) the executor can
//! act on. [`KrakenSpot`] speaks Kraken's spot REST API (HMAC-SHA512 with a nonce per call)
//! with the same guarantees. See `docs/EXCHANGE.md`.

mod cache;
mod classify;
mod client;
mod config;
mod decode;
mod http;
pub mod kraken;
mod limiter;
mod share;
mod signing;
mod wire;

pub use classify::{classify_api_error, ApiErrorBody, RequestKind};
pub use client::{BinanceSpot, ConfigError, SystemClock};
pub use config::{BinanceConfig, ClientConfig, RetryPolicy};
pub use kraken::{KrakenConfig, KrakenSpot, KrakenTier};
pub use limiter::{LimitKind, RateLimitWindow, RateLimits};
pub use share::VenueShares;
pub use signing::{decimal_param, encode_params, signature};
pub use wire::{
    parse_account, parse_depth, parse_exchange_info, parse_order, parse_orders, parse_server_time,
    parse_trades, ExchangeInfo, MarketEntry, WireError,
};

// Coinbase Advanced Trade.
mod coinbase;
pub use coinbase::{wire as coinbase_wire, CoinbaseAdvanced, CoinbaseConfig};
