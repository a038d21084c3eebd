//! [`KrakenSpot`]: Kraken's spot REST API behind the [`Exchange`] port. The client and what it
//! keeps between calls (settings, limiters, nonces, the cached `Assets` and `AssetPairs`) live
//! here; `auth` signs and hands out nonces, `ids` carries driftline's client order ids in
//! `cl_ord_id`, `request` sends one call and classifies its failure (`classify`), `wire` reads
//! the answers and `port` is the port's methods. See `docs/EXCHANGE.md` ("Kraken").
//!
//! [`Exchange`]: driftline_core::ports::Exchange

pub mod auth;
pub mod classify;
mod config;
pub mod ids;
mod port;
mod request;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use driftline_core::ports::{Clock, ExchangeError, Venue};
use driftline_core::{Asset, Symbol};

use self::auth::Nonces;
pub use self::config::{KrakenConfig, KrakenTier};
use self::request::{ASSETS, ASSET_PAIRS};
use self::wire::KrakenMarket;
use crate::cache::Cached;
use crate::classify::{unreadable, RequestKind};
use crate::client::{ConfigError, SystemClock};
use crate::http::Transport;
use crate::limiter::Limiter;
use crate::share::VenueShares;

/// `Assets` and `AssetPairs`.
struct Markets {
    by_symbol: HashMap<Symbol, KrakenMarket>,
    /// Kraken's asset keys (`XXBT`) as driftline's assets (`BTC`).
    assets: BTreeMap<String, Asset>,
}

/// What every client of one Kraken address shares: public calls are limited per IP, and the
/// assets and pairs are the same for every key.
struct Address {
    /// Public calls.
    public: Limiter,
    /// Stale ones are served when they cannot be read again.
    markets: Cached<Markets>,
}

/// A Kraken spot REST client of one API key. Share one per key and process (behind an
/// `Arc`): its private limiter and nonces serve every caller; the public-call budget and the
/// markets are shared with the other keys' clients built with the same [`VenueShares`].
pub struct KrakenSpot {
    config: KrakenConfig,
    base_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The key's call counter and trading counter.
    private: Limiter,
    address: Arc<Address>,
    nonces: Nonces,
}

impl std::fmt::Debug for KrakenSpot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KrakenSpot")
            .field("base_url", &self.base_url)
            .field("tier", &self.config.tier)
            .finish_non_exhaustive()
    }
}

impl KrakenSpot {
    /// A client with the system clock (nonces are its milliseconds).
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn new(config: KrakenConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client reading time (for nonces and history bounds) from `clock`, alone on its
    /// address.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn with_clock(config: KrakenConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::sharing(config, clock, &VenueShares::new())
    }

    /// A client reading time from `clock` that shares the public-call budget and the markets
    /// with the other clients `shares` holds them for at its base URL.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong.
    pub fn sharing(
        config: KrakenConfig,
        clock: Arc<dyn Clock>,
        shares: &VenueShares,
    ) -> Result<Self, ConfigError> {
        let Transport { base_url, http } = Transport::new(&config.client)?;
        let wait = config.client.max_rate_limit_wait;
        let address = shares.of(Venue::Kraken, &base_url, || Address {
            public: Limiter::new(&config.public_rate_limits, wait),
            markets: Cached::new(config.client.markets_ttl),
        });
        Ok(Self {
            private: Limiter::new(&config.rate_limits, wait),
            address,
            nonces: Nonces::default(),
            base_url,
            http,
            clock,
            config,
        })
    }

    /// Reads `Assets` and `AssetPairs` again on the next call that needs them.
    pub async fn forget_markets(&self) {
        self.address.markets.forget().await;
    }

    async fn markets(&self) -> Result<Arc<Markets>, ExchangeError> {
        self.address.markets.get(|| self.fetch_markets()).await
    }

    async fn fetch_markets(&self) -> Result<Markets, ExchangeError> {
        let read = |e| unreadable(RequestKind::Read, &e);
        let assets = wire::parse_assets(&self.call(ASSETS, &[]).await?).map_err(read)?;
        let pairs = self.call(ASSET_PAIRS, &[]).await?;
        let markets = wire::parse_asset_pairs(&pairs, &assets).map_err(read)?;
        Ok(Markets {
            by_symbol: markets.into_iter().map(|m| (m.symbol.clone(), m)).collect(),
            assets,
        })
    }

    /// Kraken's pair for `symbol` (`BTC/USD` is `XXBTZUSD`, altname `XBTUSD`), from
    /// `AssetPairs`.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] when Kraken lists no such pair.
    pub async fn market(&self, symbol: &Symbol) -> Result<KrakenMarket, ExchangeError> {
        self.markets()
            .await?
            .by_symbol
            .get(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!("EQuery:Unknown asset pair: AssetPairs lists no {symbol}"),
            })
    }

    /// driftline's symbol for Kraken's pair `name` (key, altname or wsname).
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] when no listed pair answers to `name`.
    pub async fn symbol_of(&self, name: &str) -> Result<Symbol, ExchangeError> {
        self.markets()
            .await?
            .by_symbol
            .values()
            .find(|m| m.answers_to(name))
            .map(|m| m.symbol.clone())
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!("EQuery:Unknown asset pair: AssetPairs lists no {name:?}"),
            })
    }

    /// Kraken's key of `asset` (`BTC` is `XXBT`), from `Assets`.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] when Kraken lists no such asset.
    pub async fn asset_key(&self, asset: &Asset) -> Result<String, ExchangeError> {
        self.markets()
            .await?
            .assets
            .iter()
            .find(|(_, a)| *a == asset)
            .map(|(key, _)| key.clone())
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!("EQuery:Unknown asset: Assets lists no {asset}"),
            })
    }
}
