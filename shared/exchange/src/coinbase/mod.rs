//! [`CoinbaseAdvanced`]: Coinbase Advanced Trade's REST API behind the [`Exchange`] port. The
//! client and what it keeps between calls (settings, signer, the two rate limiters, the product
//! cache) live here; `auth` signs each request's JWT; `request` sends one request and
//! classifies its failure; `wire` reads the answers; `port` is the port's methods, including
//! the lookup of an order by client order id.
//!
//! [`Exchange`]: driftline_core::ports::Exchange

mod auth;
mod config;
mod port;
mod request;
pub mod wire;

pub use config::CoinbaseConfig;

use std::collections::HashMap;
use std::sync::Arc;

use driftline_core::ports::{Clock, ExchangeError, Venue};
use driftline_core::Symbol;

use crate::cache::Cached;
use crate::classify::{unreadable, RequestKind};
use crate::client::{ConfigError, SystemClock};
use crate::http::Transport;
use crate::limiter::{LimitKind, Limiter, RateLimitWindow, RateLimits};
use crate::share::VenueShares;
use request::Endpoint;
use wire::Product;

/// The product list's spot products, by symbol.
struct Products {
    by_symbol: HashMap<Symbol, Product>,
}

/// What every client of one Coinbase address shares: public endpoints are counted per IP, and
/// the product list is the same for every user.
struct Address {
    /// Public endpoints.
    public: Limiter,
    /// Stale ones are served when the product list cannot be read again.
    products: Cached<Products>,
}

/// A Coinbase Advanced Trade REST client of one user's key. Share one per key and process
/// (behind an `Arc`): its private limiter serves every caller; the public budget and the
/// product list are shared with the other users' clients built with the same [`VenueShares`].
pub struct CoinbaseAdvanced {
    config: CoinbaseConfig,
    base_url: String,
    /// The host (and port, when the URL names one) every JWT's `uri` claim names.
    host: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    signer: Option<auth::Signer>,
    /// Private endpoints: Coinbase counts them per user.
    private: Limiter,
    address: Arc<Address>,
}

impl std::fmt::Debug for CoinbaseAdvanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinbaseAdvanced")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// `per_second` requests a second as the shared limiter's one window.
fn per_second(per_second: u32) -> RateLimits {
    let window = RateLimitWindow::new(LimitKind::RequestWeight, "SECOND", 1, per_second.max(1));
    RateLimits::new(window.into_iter().collect())
}

impl CoinbaseAdvanced {
    /// A client with the system clock.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong (never showing the secret).
    pub fn new(config: CoinbaseConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client reading time (each JWT's `nbf` and `exp`, the lookup window) from `clock`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong (never showing the secret).
    pub fn with_clock(config: CoinbaseConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::sharing(config, clock, &VenueShares::new())
    }

    /// A client reading time from `clock` that shares the public budget and the product list
    /// with the other clients `shares` holds them for at its base URL.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting that is wrong (never showing the secret).
    pub fn sharing(
        config: CoinbaseConfig,
        clock: Arc<dyn Clock>,
        shares: &VenueShares,
    ) -> Result<Self, ConfigError> {
        let Transport { base_url, http } = Transport::new(&config.client)?;
        let url = reqwest::Url::parse(&base_url).map_err(|_| ConfigError::BaseUrl {
            value: config.client.base_url.clone(),
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(ConfigError::BaseUrl {
                    value: config.client.base_url.clone(),
                })
            }
        };
        let signer = config
            .client
            .credentials
            .as_ref()
            .map(|c| auth::Signer::new(c.api_key(), c.expose_secret()))
            .transpose()
            .map_err(|e| ConfigError::Credentials {
                reason: e.to_string(),
            })?;
        let wait = config.client.max_rate_limit_wait;
        let address = shares.of(Venue::Coinbase, &base_url, || Address {
            public: Limiter::new(&per_second(config.public_requests_per_second), wait),
            products: Cached::new(config.client.markets_ttl),
        });
        Ok(Self {
            http,
            private: Limiter::new(&per_second(config.private_requests_per_second), wait),
            address,
            base_url,
            host,
            clock,
            signer,
            config,
        })
    }

    /// Reads the product list again on the next call that needs it.
    pub async fn forget_markets(&self) {
        self.address.products.forget().await;
    }

    async fn products(&self) -> Result<Arc<Products>, ExchangeError> {
        self.address
            .products
            .get(|| async {
                let body = self
                    .call(
                        &Endpoint::public("market/products"),
                        &[("product_type", "SPOT".to_owned())],
                        None,
                    )
                    .await?;
                let products =
                    wire::parse_products(&body).map_err(|e| unreadable(RequestKind::Read, &e))?;
                Ok(Products {
                    by_symbol: products
                        .into_iter()
                        .map(|p| (p.symbol.clone(), p))
                        .collect(),
                })
            })
            .await
    }

    async fn product(&self, symbol: &Symbol) -> Result<Product, ExchangeError> {
        self.products()
            .await?
            .by_symbol
            .get(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!(
                    "INVALID_PRODUCT_ID: no spot product for {symbol} in the product list"
                ),
            })
    }

    /// Coinbase's product id of `symbol` (`BTC/USDT` -> `BTC-USDT`), from the product list.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] when Coinbase lists no such spot product.
    pub async fn product_id(&self, symbol: &Symbol) -> Result<String, ExchangeError> {
        Ok(self.product(symbol).await?.product_id)
    }

    /// The canonical symbol of a product id (`BTC-USDT` -> `BTC/USDT`), from the product list.
    ///
    /// # Errors
    /// [`ExchangeError::Rejected`] when Coinbase lists no such spot product.
    pub async fn symbol_of(&self, product_id: &str) -> Result<Symbol, ExchangeError> {
        self.products()
            .await?
            .by_symbol
            .values()
            .find(|p| p.product_id == product_id)
            .map(|p| p.symbol.clone())
            .ok_or_else(|| ExchangeError::Rejected {
                message: format!(
                    "INVALID_PRODUCT_ID: no spot product {product_id:?} in the product list"
                ),
            })
    }
}
