//! [`BinanceSpot`]: the Binance spot REST dialect behind the [`Exchange`] port.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use backon::Retryable;
use driftline_core::ports::{
    Balance, Clock, Exchange, ExchangeError, Fill, LimitOrderRequest, OrderReport, TimeInForce,
};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::classify::{
    classify_api_error, classify_transport, unknown_outcome, ApiErrorBody, RequestKind,
};
use crate::config::BinanceConfig;
use crate::limiter::Limiter;
use crate::signing::{decimal_param, encode_params, signature};
use crate::wire::{self, MarketEntry, WireError};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Delete => Method::DELETE,
        }
    }
}

/// One REST endpoint: how it is called and what it costs.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    verb: Verb,
    path: &'static str,
    weight: u32,
    orders: u32,
    signed: bool,
    kind: RequestKind,
}

impl Endpoint {
    const fn read(path: &'static str, weight: u32, signed: bool) -> Self {
        Self {
            verb: Verb::Get,
            path,
            weight,
            orders: 0,
            signed,
            kind: RequestKind::Read,
        }
    }
}

const TIME: Endpoint = Endpoint::read("/api/v3/time", 1, false);
const EXCHANGE_INFO: Endpoint = Endpoint::read("/api/v3/exchangeInfo", 20, false);
const ACCOUNT: Endpoint = Endpoint::read("/api/v3/account", 20, true);
const QUERY_ORDER: Endpoint = Endpoint::read("/api/v3/order", 4, true);
const OPEN_ORDERS: Endpoint = Endpoint::read("/api/v3/openOrders", 6, true);
/// The trade list of one order: weight 5 with `orderId` (20 without).
const ORDER_TRADES: Endpoint = Endpoint::read("/api/v3/myTrades", 5, true);
const NEW_ORDER: Endpoint = Endpoint {
    verb: Verb::Post,
    path: "/api/v3/order",
    weight: 1,
    orders: 1,
    signed: true,
    kind: RequestKind::Mutation,
};
const CANCEL_ORDER: Endpoint = Endpoint {
    verb: Verb::Delete,
    path: "/api/v3/order",
    weight: 1,
    orders: 0,
    signed: true,
    kind: RequestKind::Mutation,
};

/// The order book's weight grows with the levels asked for.
fn depth_endpoint(limit: u16) -> Endpoint {
    let weight = match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    };
    Endpoint::read("/api/v3/depth", weight, false)
}

/// The most levels the exchange returns per side.
const MAX_DEPTH: u16 = 5_000;

/// An answer with a success status.
struct Answer {
    headers: HeaderMap,
    body: bytes::Bytes,
}

/// One attempt's failure; a clock outside recvWindow is fixed by resyncing, then resending.
enum AttemptError {
    ClockSkew(ExchangeError),
    Failed(ExchangeError),
}

impl From<ExchangeError> for AttemptError {
    fn from(e: ExchangeError) -> Self {
        Self::Failed(e)
    }
}

struct MarketCache {
    fetched_at: Instant,
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
    markets: Mutex<Option<Arc<MarketCache>>>,
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
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let valid_url = reqwest::Url::parse(&base_url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.has_host() && u.path() == "/"
        });
        if !valid_url {
            return Err(ConfigError::BaseUrl {
                value: config.base_url.clone(),
            });
        }
        if !(1..=60_000).contains(&config.recv_window_ms) {
            return Err(ConfigError::RecvWindow {
                value: config.recv_window_ms,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| ConfigError::HttpClient {
                reason: e.to_string(),
            })?;
        Ok(Self {
            limiter: Limiter::new(&config.initial_limits, config.max_rate_limit_wait),
            base_url,
            http,
            clock,
            offset_ms: AtomicI64::new(0),
            markets: Mutex::new(None),
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
        *self.markets.lock().await = None;
    }

    fn server_now_ms(&self) -> EpochMillis {
        self.clock.now_ms().saturating_add(self.clock_offset_ms())
    }

    /// Measures the server clock's offset from ours.
    ///
    /// # Errors
    /// The [`ExchangeError`] of `/api/v3/time`.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = self.clock.now_ms();
        let server = self.server_time_once().await?;
        let after = self.clock.now_ms();
        let offset = server - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    async fn server_time_once(&self) -> Result<EpochMillis, ExchangeError> {
        let answer = match self.attempt(TIME, &[]).await {
            Ok(a) => a,
            Err(AttemptError::ClockSkew(e) | AttemptError::Failed(e)) => return Err(e),
        };
        wire::parse_server_time(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }

    /// Sends a request, resyncing the clock once after a -1021 and retrying what is safe to
    /// retry: anything `Retryable`, and for reads also a rate limit the limiter waited out.
    async fn call(
        &self,
        endpoint: Endpoint,
        params: &[(&'static str, String)],
    ) -> Result<Answer, ExchangeError> {
        let once = || async {
            match self.attempt(endpoint, params).await {
                Ok(answer) => Ok(answer),
                Err(AttemptError::Failed(e)) => Err(e),
                Err(AttemptError::ClockSkew(e)) => {
                    self.sync_time().await.map_err(|_| e)?;
                    match self.attempt(endpoint, params).await {
                        Ok(answer) => Ok(answer),
                        Err(AttemptError::ClockSkew(e) | AttemptError::Failed(e)) => Err(e),
                    }
                }
            }
        };
        once.retry(self.config.retry.delays())
            .sleep(tokio::time::sleep)
            .when(|e| match e {
                ExchangeError::Retryable { .. } => true,
                ExchangeError::RateLimited { .. } => endpoint.kind == RequestKind::Read,
                _ => false,
            })
            .await
    }

    async fn attempt(
        &self,
        endpoint: Endpoint,
        params: &[(&'static str, String)],
    ) -> Result<Answer, AttemptError> {
        let credentials = match (&self.config.credentials, endpoint.signed) {
            (Some(credentials), true) => Some(credentials),
            (None, true) => {
                return Err(AttemptError::Failed(ExchangeError::Auth {
                    code: 0,
                    message: format!("{} needs API credentials; none configured", endpoint.path),
                }))
            }
            (_, false) => None,
        };
        self.limiter
            .acquire(endpoint.weight, endpoint.orders)
            .await?;
        let mut pairs = params.to_vec();
        let mut api_key = None;
        let mut secret = None;
        if let Some(credentials) = credentials {
            pairs.push(("recvWindow", self.config.recv_window_ms.to_string()));
            pairs.push(("timestamp", self.server_now_ms().to_string()));
            api_key = Some(credentials.api_key());
            secret = Some(credentials.expose_secret());
        }
        let mut encoded = encode_params(&pairs);
        if let Some(secret) = secret {
            // All parameters travel in one place (query or body), so that place is what is signed.
            let sig = signature(secret, &encoded, "");
            encoded.push_str(if encoded.is_empty() { "" } else { "&" });
            encoded.push_str("signature=");
            encoded.push_str(&sig);
        }
        let url = format!("{}{}", self.base_url, endpoint.path);
        let mut request = if endpoint.verb == Verb::Post {
            self.http
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded)
        } else if encoded.is_empty() {
            self.http.request(endpoint.verb.method(), url)
        } else {
            self.http
                .request(endpoint.verb.method(), format!("{url}?{encoded}"))
        };
        if let Some(key) = api_key {
            request = request.header("X-MBX-APIKEY", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        self.limiter.observe(&headers, self.server_now_ms());
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        let api_error: Option<ApiErrorBody> = serde_json::from_slice(&body).ok();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let now_ms = self.clock.now_ms();
        let error = classify_api_error(
            endpoint.kind,
            status.as_u16(),
            api_error.as_ref(),
            retry_after,
            now_ms,
        );
        match &error {
            ExchangeError::Banned { until_ms } => {
                let wait = u64::try_from(until_ms - now_ms).unwrap_or(0);
                self.limiter.ban(Duration::from_millis(wait), now_ms);
            }
            // The order count is per account, the weight per IP: only the first holds reads back.
            ExchangeError::RateLimited { retry_after_ms }
                if api_error.as_ref().is_some_and(|b| b.code == -1015) =>
            {
                self.limiter
                    .pause_orders(Duration::from_millis(*retry_after_ms));
            }
            ExchangeError::RateLimited { retry_after_ms } => {
                self.limiter.pause(Duration::from_millis(*retry_after_ms));
            }
            _ => {}
        }
        if api_error.is_some_and(|b| b.code == -1021) {
            return Err(AttemptError::ClockSkew(error));
        }
        Err(AttemptError::Failed(error))
    }

    async fn market_cache(&self) -> Result<Arc<MarketCache>, ExchangeError> {
        // Held across the fetch: concurrent callers wait for one exchangeInfo, not send many.
        let mut cached = self.markets.lock().await;
        if let Some(cache) = cached.as_ref() {
            if cache.fetched_at.elapsed() < self.config.markets_ttl {
                return Ok(Arc::clone(cache));
            }
        }
        let fetched = match self.call(EXCHANGE_INFO, &[]).await {
            Ok(answer) => wire::parse_exchange_info(&answer.body)
                .map(|info| (info, answer.headers))
                .map_err(|e| unreadable(RequestKind::Read, &e)),
            Err(e) => Err(e),
        };
        let (info, headers) = match (fetched, cached.as_ref()) {
            (Ok(fetched), _) => fetched,
            // Markets and their rules rarely change: a stale copy beats failing every call.
            (Err(_), Some(stale)) => return Ok(Arc::clone(stale)),
            (Err(e), None) => return Err(e),
        };
        if !info.rate_limits.windows().is_empty() {
            self.limiter.reconfigure(&info.rate_limits, &headers);
        }
        let cache = Arc::new(MarketCache {
            fetched_at: Instant::now(),
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
        });
        *cached = Some(Arc::clone(&cache));
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
                code: -1121,
                message: format!("no market {exchange_symbol:?} in exchangeInfo"),
            })
    }

    async fn market(&self, symbol: &Symbol) -> Result<MarketEntry, ExchangeError> {
        let cache = self.market_cache().await?;
        cache
            .by_symbol
            .get(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::Rejected {
                code: -1121,
                message: format!("no market {symbol} in exchangeInfo"),
            })
    }

    async fn order_call(
        &self,
        endpoint: Endpoint,
        symbol: &Symbol,
        params: impl FnOnce(String) -> Vec<(&'static str, String)>,
    ) -> Result<(Answer, String), ExchangeError> {
        let name = self.exchange_symbol(symbol).await?;
        let answer = self.call(endpoint, &params(name.clone())).await?;
        Ok((answer, name))
    }
}

/// An answer this client cannot read. After a mutation it may still have taken effect.
fn unreadable(kind: RequestKind, e: &WireError) -> ExchangeError {
    match kind {
        RequestKind::Read => ExchangeError::Malformed {
            reason: e.to_string(),
        },
        RequestKind::Mutation => unknown_outcome(kind, format!("unreadable answer: {e}")),
    }
}

#[async_trait]
impl Exchange for BinanceSpot {
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.market(symbol)
            .await?
            .filters
            .map_err(|e| ExchangeError::Malformed {
                reason: e.to_string(),
            })
    }

    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        let limit = depth.clamp(1, MAX_DEPTH);
        let (answer, _) = self
            .order_call(depth_endpoint(limit), symbol, |name| {
                vec![("symbol", name), ("limit", limit.to_string())]
            })
            .await?;
        wire::parse_depth(&answer.body, symbol, usize::from(limit))
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let answer = self.call(ACCOUNT, &[]).await?;
        wire::parse_account(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        if order.quantity <= rust_decimal::Decimal::ZERO {
            return Err(ExchangeError::Rejected {
                code: 0,
                message: format!(
                    "quantity of {} must be greater than zero, got {}",
                    order.client_order_id, order.quantity
                ),
            });
        }
        let (answer, name) = self
            .order_call(NEW_ORDER, &order.symbol, |name| {
                let mut p = vec![("symbol", name), ("side", order.side.as_str().to_owned())];
                match order.time_in_force {
                    TimeInForce::PostOnly => p.push(("type", "LIMIT_MAKER".to_owned())),
                    TimeInForce::Gtc | TimeInForce::Ioc => {
                        p.push(("type", "LIMIT".to_owned()));
                        let tif = if order.time_in_force == TimeInForce::Gtc {
                            "GTC"
                        } else {
                            "IOC"
                        };
                        p.push(("timeInForce", tif.to_owned()));
                    }
                }
                p.extend([
                    ("quantity", decimal_param(order.quantity)),
                    ("price", decimal_param(order.price.value())),
                    (
                        "newClientOrderId",
                        order.client_order_id.as_str().to_owned(),
                    ),
                    ("newOrderRespType", "FULL".to_owned()),
                ]);
                p
            })
            .await?;
        wire::parse_order(&answer.body, &order.symbol, &name)
            .map_err(|e| unreadable(RequestKind::Mutation, &e))
    }

    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let (answer, name) = self
            .order_call(QUERY_ORDER, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("origClientOrderId", client_order_id.as_str().to_owned()),
                ]
            })
            .await?;
        wire::parse_order(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: u64,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let (answer, name) = self
            .order_call(ORDER_TRADES, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("orderId", exchange_order_id.to_string()),
                    // An order of driftline's is one of a few thousand fills at most.
                    ("limit", "1000".to_owned()),
                ]
            })
            .await?;
        wire::parse_trades(&answer.body, &name, exchange_order_id)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        let (answer, name) = self
            .order_call(OPEN_ORDERS, symbol, |name| vec![("symbol", name)])
            .await?;
        wire::parse_orders(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let (answer, name) = self
            .order_call(CANCEL_ORDER, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("origClientOrderId", client_order_id.as_str().to_owned()),
                ]
            })
            .await?;
        wire::parse_order(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Mutation, &e))
    }

    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        let answer = self.call(TIME, &[]).await?;
        wire::parse_server_time(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }
}
