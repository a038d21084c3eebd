//! [`BinanceSpot`]: the Binance spot REST dialect behind the [`Exchange`] port. The client and
//! what it keeps between calls (settings, its account's order limits, clock offset, and the
//! address's request-weight budget and market cache it shares) live here;
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

use driftline_core::ports::{Clock, ExchangeError, Venue};
use driftline_core::{EpochMillis, Symbol};
use thiserror::Error;

use crate::cache::Cached;
use crate::classify::{unreadable, RequestKind};
use crate::config::BinanceConfig;
use crate::http::Transport;
use crate::limiter::{LimitKind, Limiter, RateLimits};
use crate::share::VenueShares;
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
    /// exchangeInfo's limits: each client adopts the order limits for its account.
    rate_limits: RateLimits,
}

/// What every client of one Binance address shares: the exchange counts request weight per IP,
/// and exchangeInfo is the same for every account.
struct Address {
    /// Request weight; fed the `X-MBX-USED-WEIGHT-*` count of every client's answers.
    weight: Limiter,
    /// exchangeInfo's markets; stale ones are served when exchangeInfo cannot be read.
    markets: Cached<MarketCache>,
}

/// A Binance spot REST client of one account. Share one per account and process (behind an
/// `Arc`): its order limits and clock offset serve every caller; the request-weight budget
/// and exchangeInfo are shared with the other accounts' clients built with the same
/// [`VenueShares`].
pub struct BinanceSpot {
    config: BinanceConfig,
    base_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    address: Arc<Address>,
    /// The account's order counts (`ORDERS` windows are per account).
    orders: Limiter,
    /// Server time minus local time, learnt from `/api/v3/time` after a -1021.
    offset_ms: AtomicI64,
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

    /// A client reading time from `clock`, alone on its address.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn with_clock(config: BinanceConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::sharing(config, clock, &VenueShares::new())
    }

    /// A client reading time from `clock` that draws request weight from, and reads
    /// exchangeInfo through, what `shares` holds for its base URL.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn sharing(
        config: BinanceConfig,
        clock: Arc<dyn Clock>,
        shares: &VenueShares,
    ) -> Result<Self, ConfigError> {
        let Transport { base_url, http } = Transport::new(&config.client)?;
        if !(1..=60_000).contains(&config.recv_window_ms) {
            return Err(ConfigError::RecvWindow {
                value: config.recv_window_ms,
            });
        }
        let wait = config.client.max_rate_limit_wait;
        let address = shares.of(Venue::Binance, &base_url, || Address {
            weight: Limiter::new(
                &config.initial_limits.of_kind(LimitKind::RequestWeight),
                wait,
            ),
            markets: Cached::new(config.client.markets_ttl),
        });
        Ok(Self {
            orders: Limiter::new(&config.initial_limits.of_kind(LimitKind::Orders), wait),
            address,
            base_url,
            http,
            clock,
            offset_ms: AtomicI64::new(0),
            config,
        })
    }

    /// The limits in force: the initial ones until exchangeInfo was read, then the exchange's.
    pub fn rate_limits(&self) -> crate::RateLimits {
        let mut windows = self.address.weight.limits().windows().to_vec();
        windows.extend_from_slice(self.orders.limits().windows());
        crate::RateLimits::new(windows)
    }

    /// Server time minus local time, as last measured.
    pub fn clock_offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Reads exchangeInfo again on the next call that needs it (for every client of the
    /// address).
    pub async fn forget_markets(&self) {
        self.address.markets.forget().await;
    }

    async fn market_cache(&self) -> Result<Arc<MarketCache>, ExchangeError> {
        let cache = self
            .address
            .markets
            .get(|| async {
                let answer = self.call(EXCHANGE_INFO, &[]).await?;
                let info = wire::parse_exchange_info(&answer.body)
                    .map_err(|e| unreadable(RequestKind::Read, &e))?;
                // The exchange's limits replace the initial ones when it lists any.
                if !info.rate_limits.windows().is_empty() {
                    let weight = info.rate_limits.of_kind(LimitKind::RequestWeight);
                    self.address.weight.reconfigure(&weight, &answer.headers);
                }
                Ok(MarketCache {
                    rate_limits: info.rate_limits.clone(),
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
            .await?;
        // Another account's client may have read exchangeInfo: adopt its order limits here
        // (their counts come with this account's answers).
        if !cache.rate_limits.windows().is_empty() {
            let orders = cache.rate_limits.of_kind(LimitKind::Orders);
            self.orders
                .reconfigure(&orders, &reqwest::header::HeaderMap::new());
        }
        Ok(cache)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn account(shares: &VenueShares) -> BinanceSpot {
        let mut config = BinanceConfig::new("http://127.0.0.1:9", None);
        config.client.max_rate_limit_wait = Duration::from_millis(1);
        BinanceSpot::sharing(config, Arc::new(SystemClock), shares).unwrap()
    }

    fn rate_limited(r: Result<(), ExchangeError>) -> bool {
        matches!(r, Err(ExchangeError::RateLimited { .. }))
    }

    #[tokio::test]
    async fn accounts_of_one_address_share_its_weight_but_not_their_order_counts() {
        let shares = VenueShares::new();
        let (alice, bob) = (account(&shares), account(&shares));
        let elsewhere = account(&VenueShares::new());

        // alice's order count is spent (a -1015): her orders wait, bob's do not.
        alice.orders.pause_orders(Duration::from_secs(30));
        assert!(rate_limited(alice.orders.acquire(0, 1).await));
        assert_eq!(bob.orders.acquire(0, 1).await, Ok(()));

        // The address's weight is spent (a 429 to bob): every client of it waits, a client
        // of another process does not.
        bob.address.weight.pause(Duration::from_secs(30));
        assert!(rate_limited(alice.address.weight.acquire(1, 0).await));
        assert_eq!(elsewhere.address.weight.acquire(1, 0).await, Ok(()));
    }
}
