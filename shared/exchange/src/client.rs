//! [`BinanceSpot`]: the Binance spot REST dialect behind the [`Exchange`] port. The client and
//! what it keeps between calls (settings, rate limiter, clock offset, market cache) live here;
//! how one request is built, signed, sent and its failure classified is in `request`; the
//! port's methods, each an endpoint and a parser, are in `port`.
//!
//! [`Exchange`]: driftline_core::ports::Exchange

mod port;
mod request;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use driftline_core::ports::{Clock, ExchangeError};
use driftline_core::{EpochMillis, Symbol};
use thiserror::Error;

use crate::cache::Cached;
use crate::classify::{unreadable, RequestKind};
use crate::config::BinanceConfig;
use crate::http::Transport;
use crate::limiter::Limiter;
use crate::wire::{self, MarketEntry};
use request::EXCHANGE_INFO;

/// The system clock, for timestamps of signed requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A client that cannot be built from its settings.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("base_url {value:?} is invalid: expected http(s)://host[:port] with no path")]
    BaseUrl { value: String },
    #[error("recv_window_ms is {value}: the exchange accepts 1 to 60000")]
    RecvWindow { value: u64 },
    #[error("HTTP client could not be built: {reason}")]
    HttpClient { reason: String },
    /// The API secret cannot be used to sign (its value is never shown).
    #[error("credentials cannot be used: {reason}")]
    Credentials { reason: String },
}

struct MarketCache {
    by_symbol: HashMap<Symbol, MarketEntry>,
    by_exchange_symbol: HashMap<String, Symbol>,
}

/// A Binance spot REST client. Share one per process (behind an `Arc`): its rate limiter,
/// clock offset and market cache are shared by every caller.
pub struct BinanceSpot {
    config: BinanceConfig,
    base_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    limiter: Limiter,
    /// Server time minus local time, learnt from `/api/v3/time` after a -1021.
    offset_ms: AtomicI64,
    /// exchangeInfo's markets; stale ones are served when exchangeInfo cannot be read.
    markets: Cached<MarketCache>,
}

impl std::fmt::Debug for BinanceSpot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceSpot")
            .field("base_url", &self.base_url)
            .field("offset_ms", &self.offset_ms)
            .finish_non_exhaustive()
    }
}

impl BinanceSpot {
    /// A client with the system clock.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn new(config: BinanceConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client reading time from `clock`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn with_clock(config: BinanceConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let Transport { base_url, http } = Transport::new(&config.client)?;
        if !(1..=60_000).contains(&config.recv_window_ms) {
            return Err(ConfigError::RecvWindow {
                value: config.recv_window_ms,
            });
        }
        Ok(Self {
            limiter: Limiter::new(&config.initial_limits, config.client.max_rate_limit_wait),
            base_url,
            http,
            clock,
            offset_ms: AtomicI64::new(0),
            markets: Cached::new(config.client.markets_ttl),
            config,
        })
    }

    /// The limits in force: the initial ones until exchangeInfo was read, then the exchange's.
    pub fn rate_limits(&self) -> crate::RateLimits {
        self.limiter.limits()
    }

    /// Server time minus local time, as last measured.
    pub fn clock_offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Reads exchangeInfo again on the next call that needs it.
    pub async fn forget_markets(&self) {
        self.markets.forget().await;
    }

    async fn market_cache(&self) -> Result<Arc<MarketCache>, ExchangeError> {
        self.markets
            .get(|| async {
                let answer = self.call(EXCHANGE_INFO, &[]).await?;
                let info = wire::parse_exchange_info(&answer.body)
                    .map_err(|e| unreadable(RequestKind::Read, &e))?;
                if !info.rate_limits.windows().is_empty() {
                    self.limiter.reconfigure(&info.rate_limits, &answer.headers);
                }
                Ok(MarketCache {
                    by_exchange_symbol: info
                        .markets
                        .iter()
                        .map(|m| (m.exchange_symbol.clone(), m.symbol.clone()))
                        .collect(),
                    by_symbol: info
                        .markets
                        .into_iter()
                        .map(|m| (m.symbol.clone(), m))
                        .collect(),
                })
            })
            .await
    }

    /// The exchange's spelling of `symbol` (`BTC/USDT` -> `BTCUSDT`), from exchangeInfo.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] with -1121 when the exchange lists no such market.
    pub async fn exchange_symbol(&self, symbol: &Symbol) -> Result<String, ExchangeError> {
        Ok(self.market(symbol).await?.exchange_symbol)
    }

    /// The canonical symbol of the exchange's spelling (`BTCUSDT` -> `BTC/USDT`), from
    /// exchangeInfo.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] with -1121 when the exchange lists no such market.
    pub async fn symbol_of(&self, exchange_symbol: &str) -> Result<Symbol, ExchangeError> {
        let cache = self.market_cache().await?;
        cache
            .by_exchange_symbol
            .get(exchange_symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!("-1121: no market {exchange_symbol:?} in exchangeInfo"),
            })
    }

    async fn market(&self, symbol: &Symbol) -> Result<MarketEntry, ExchangeError> {
        let cache = self.market_cache().await?;
        cache
            .by_symbol
            .get(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!("-1121: no market {symbol} in exchangeInfo"),
            })
    }
}
