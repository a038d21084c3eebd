//! The HTTP face of the venue: `/api/v3` in the Binance spot dialect, and `/admin` for tests
//! and operators (unsigned, loopback only). Thin: parse, authenticate, meter, inject faults,
//! call the [`Engine`], shape the JSON.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use driftline_core::ports::Clock;
use driftline_core::{EpochMillis, Side};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api_error::ApiError;
use crate::clock::SystemClock;
use crate::config::{ConfigError, ExchangeConfig};
use crate::engine::{
    venue_decimal as d8, Engine, Fill, KeyRotationError, NewOrder, Order, OrderRef, OrderType,
    TimeInForce,
};
use crate::faults::{happens, Faults};
use crate::params::{mandatory, Params};
use crate::rate_limit::{Verdict, WeightLimiter};

/// The default and largest `recvWindow`, in milliseconds.
const DEFAULT_RECV_WINDOW_MS: Decimal = Decimal::from_parts(5000, 0, 0, false, 0);
const MAX_RECV_WINDOW_MS: Decimal = Decimal::from_parts(60_000, 0, 0, false, 0);

struct Venue {
    engine: Engine,
    limiter: WeightLimiter,
    faults: Faults,
    dice: ChaCha8Rng,
    requests: Vec<Value>,
}

/// The request log keeps the latest this many `/api/v3` requests.
const REQUEST_LOG_CAPACITY: usize = 200_000;

/// Shared state of one running exchange.
pub struct AppState {
    config: ExchangeConfig,
    clock: Arc<dyn Clock>,
    venue: Mutex<Venue>,
}

impl AppState {
    /// # Errors
    /// [`ConfigError`] when the config's markets are invalid.
    pub fn new(config: ExchangeConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let venue = Self::fresh_venue(&config)?;
        Ok(Self {
            config,
            clock,
            venue: Mutex::new(venue),
        })
    }

    fn fresh_venue(config: &ExchangeConfig) -> Result<Venue, ConfigError> {
        Ok(Venue {
            engine: Engine::new(config)?,
            limiter: WeightLimiter::new(
                config.rate_limits.request_weight_per_minute,
                config.rate_limits.ban_seconds,
            ),
            faults: config.faults.clone(),
            dice: ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(1)),
            requests: Vec::new(),
        })
    }

    /// Runs `f` on the engine (for tests that look inside).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.venue().engine)
    }

    fn venue(&self) -> MutexGuard<'_, Venue> {
        // A panic while holding the lock cannot leave the engine half-updated in a way that
        // matters more than refusing every later request would.
        self.venue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The router of a venue: `/api/v3/...` and `/admin/...`.
pub fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/orders", get(admin_orders))
        .route("/requests", get(admin_requests))
        .route("/fills", get(admin_fills))
        .route("/balances", get(admin_balances))
        .route("/mid", post(admin_set_mid))
        .route("/advance", post(admin_advance))
        .route("/faults", get(admin_get_faults).put(admin_put_faults))
        .route("/reset", post(admin_reset))
        .route("/accounts/{name}/keys", post(admin_rotate_keys))
        .layer(middleware::from_fn(loopback_only));
    Router::new()
        .route("/api/v3/{*endpoint}", any(api))
        .nest("/admin", admin)
        .with_state(state)
}

/// A running exchange on a TCP port.
pub struct PaperExchange {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

/// Why the exchange could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl PaperExchange {
    /// Starts on `addr` (port 0: an ephemeral port) with the system clock.
    ///
    /// # Errors
    /// [`StartError`] for a bad config or an address that cannot be bound.
    pub async fn start(config: ExchangeConfig, addr: SocketAddr) -> Result<Self, StartError> {
        Self::start_with_clock(config, addr, Arc::new(SystemClock)).await
    }

    /// Starts with a given clock (tests use a manual one).
    ///
    /// # Errors
    /// As [`PaperExchange::start`].
    pub async fn start_with_clock(
        config: ExchangeConfig,
        addr: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let tick = config.tick_interval_ms;
        let state = Arc::new(AppState::new(config, clock)?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let ticker = tick.filter(|ms| *ms > 0).map(|ms| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(ms));
                interval.tick().await;
                loop {
                    interval.tick().await;
                    let now = state.clock.now_ms();
                    state.venue().engine.advance(now);
                }
            })
        });
        Ok(Self {
            addr,
            state,
            shutdown: Some(tx),
            server,
            ticker,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: what a client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` on the engine (for tests that look inside).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        self.state.with_engine(f)
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }

    /// Serves until the process is stopped.
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if peer.ip().is_loopback() {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "the admin API answers loopback clients only"})),
        )
            .into_response()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Depth,
    TickerPrice,
    BookTicker,
    Account,
    NewOrder,
    TestOrder,
    QueryOrder,
    CancelOrder,
    OpenOrders,
    CancelOpenOrders,
    MyTrades,
}

impl Endpoint {
    fn route(method: &Method, path: &str) -> Option<Self> {
        Some(match (method.as_str(), path) {
            ("GET", "ping") => Self::Ping,
            ("GET", "time") => Self::Time,
            ("GET", "exchangeInfo") => Self::ExchangeInfo,
            ("GET", "depth") => Self::Depth,
            ("GET", "ticker/price") => Self::TickerPrice,
            ("GET", "ticker/bookTicker") => Self::BookTicker,
            ("GET", "account") => Self::Account,
            ("POST", "order") => Self::NewOrder,
            ("POST", "order/test") => Self::TestOrder,
            ("GET", "order") => Self::QueryOrder,
            ("DELETE", "order") => Self::CancelOrder,
            ("GET", "openOrders") => Self::OpenOrders,
            ("DELETE", "openOrders") => Self::CancelOpenOrders,
            ("GET", "myTrades") => Self::MyTrades,
            _ => return None,
        })
    }

    fn signed(self) -> bool {
        matches!(
            self,
            Self::Account
                | Self::NewOrder
                | Self::TestOrder
                | Self::QueryOrder
                | Self::CancelOrder
                | Self::OpenOrders
                | Self::CancelOpenOrders
                | Self::MyTrades
        )
    }

    /// Request weight as the venue documents it.
    fn weight(self, p: &Params) -> u32 {
        let one_or_all = |one, all| if p.get("symbol").is_some() { one } else { all };
        match self {
            Self::Ping
            | Self::Time
            | Self::NewOrder
            | Self::TestOrder
            | Self::CancelOrder
            | Self::CancelOpenOrders => 1,
            // The venue charges less for one order's trades than for the whole list.
            Self::MyTrades if p.get("orderId").is_some() => 5,
            Self::MyTrades => 20,
            Self::ExchangeInfo | Self::Account => 20,
            Self::Depth => match p.integer::<u32>("limit").ok().flatten().unwrap_or(100) {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Self::TickerPrice | Self::BookTicker => one_or_all(2, 4),
            Self::QueryOrder => 4,
            Self::OpenOrders => one_or_all(6, 80),
        }
    }
}

fn error_response(e: &ApiError) -> Response {
    let mut r = (e.status, Json(json!({"code": e.code, "msg": e.msg}))).into_response();
    if let Some(s) = e.retry_after_s {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("Retry-After", v);
        }
    }
    r
}

fn with_weight(mut r: Response, used: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&used.to_string()) {
        r.headers_mut().insert("X-MBX-USED-WEIGHT-1M", v);
        if let Ok(v) = HeaderValue::from_str(&used.to_string()) {
            r.headers_mut().insert("X-MBX-USED-WEIGHT", v);
        }
    }
    r
}

#[allow(clippy::too_many_arguments)]
async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let Some(endpoint) = Endpoint::route(&method, &endpoint) else {
        return error_response(&ApiError::with_status(
            StatusCode::NOT_FOUND,
            -1000,
            "Unknown endpoint.",
        ));
    };
    let query = query.unwrap_or_default();
    let now = state.clock.now_ms();
    let params = Params::parse(&query, &body);
    let weight = params.as_ref().map_or(1, |p| endpoint.weight(p));
    let (verdict, faults) = {
        let mut v = state.venue();
        let verdict = v.limiter.admit(peer.ip(), weight, now);
        // Every request that reached the venue, with what the limiter said: tests check from
        // it that a banned client stays silent until its ban ends.
        if v.requests.len() >= REQUEST_LOG_CAPACITY {
            v.requests.drain(..REQUEST_LOG_CAPACITY / 2);
        }
        let status = match verdict {
            Verdict::Allowed { .. } => 200,
            Verdict::TooMany { .. } => 429,
            Verdict::Banned { .. } => 418,
        };
        let mut entry = json!({"time": now, "method": method.as_str(), "endpoint": format!("{endpoint:?}"),
                               "weight": weight, "limiter": status});
        // Whose key the request carried (null: a key the venue does not know), never the key
        // itself: tests see from it which keys a client used, e.g. after a rotation.
        if let Some(key) = headers.get("X-MBX-APIKEY") {
            let account = key
                .to_str()
                .ok()
                .and_then(|k| v.engine.account_for_key(k))
                .map(|(name, _)| name.to_owned());
            entry["account"] = json!(account);
        }
        v.requests.push(entry);
        (verdict, v.faults.clone())
    };
    let limit = state.config.rate_limits.request_weight_per_minute;
    let used = match verdict {
        Verdict::Allowed { used } if faults.maintenance => {
            let e = ApiError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                -1008,
                "Server is currently overloaded with other requests. Please try again in a few minutes.",
            );
            return with_weight(error_response(&e), used);
        }
        Verdict::Allowed { used } => used,
        Verdict::TooMany {
            used,
            retry_after_s,
        } => {
            let mut e = ApiError::with_status(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                format!("Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
            );
            e.retry_after_s = Some(retry_after_s);
            return with_weight(error_response(&e), used);
        }
        Verdict::Banned {
            used,
            until_ms,
            retry_after_s,
        } => {
            let mut e = ApiError::with_status(
                StatusCode::IM_A_TEAPOT,
                -1003,
                format!("Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."),
            );
            e.retry_after_s = Some(retry_after_s);
            return with_weight(error_response(&e), used);
        }
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let server_error = {
        let mut v = state.venue();
        happens(&mut v.dice, faults.server_error_rate)
    };
    if server_error {
        let e = ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "An unknown error occurred while processing the request.",
        );
        return with_weight(error_response(&e), used);
    }
    let outcome = params.and_then(|p| handle(&state, endpoint, &p, &headers, &query, &body, now));
    let response = match outcome {
        Ok((value, placed)) => {
            let dropped = placed && {
                let mut v = state.venue();
                let Venue { faults, dice, .. } = &mut *v;
                faults.take_order_response_drop(dice)
            };
            if dropped {
                if faults.drop_response_delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(faults.drop_response_delay_ms)).await;
                }
                error_response(&ApiError::with_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -1007,
                    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
                ))
            } else {
                (StatusCode::OK, Json(value)).into_response()
            }
        }
        Err(e) => error_response(&e),
    };
    with_weight(response, used)
}

/// Serves one parsed request; the flag says an order was placed (for the dropped-response fault).
fn handle(
    state: &AppState,
    endpoint: Endpoint,
    p: &Params,
    headers: &HeaderMap,
    query: &str,
    body: &str,
    now: EpochMillis,
) -> Result<(Value, bool), ApiError> {
    let account = if endpoint.signed() {
        Some(authenticate(state, p, headers, query, body, now)?)
    } else {
        None
    };
    let account = account.as_deref().unwrap_or_default();
    let mut v = state.venue();
    let engine = &mut v.engine;
    let value = match endpoint {
        Endpoint::Ping => json!({}),
        Endpoint::Time => json!({"serverTime": now}),
        Endpoint::ExchangeInfo => exchange_info(
            engine,
            p,
            state.config.rate_limits.request_weight_per_minute,
            now,
        )?,
        Endpoint::Depth => {
            let symbol = p.require("symbol")?;
            let limit = p.integer::<usize>("limit")?.unwrap_or(100);
            if limit == 0 || limit > 5000 {
                return Err(ApiError::bad(
                    -1100,
                    "Illegal characters found in parameter 'limit'; legal range is '1-5000'.",
                ));
            }
            let (bids, asks) = engine.depth(symbol, limit)?;
            let side = |ls: Vec<(Decimal, Decimal)>| {
                ls.into_iter()
                    .map(|(p, q)| json!([d8(p), d8(q)]))
                    .collect::<Vec<_>>()
            };
            json!({"lastUpdateId": engine.update_id(), "bids": side(bids), "asks": side(asks)})
        }
        Endpoint::TickerPrice => per_symbol(engine, p, |e, s| {
            Ok(json!({"symbol": s, "price": d8(e.last_price(s)?)}))
        })?,
        Endpoint::BookTicker => per_symbol(engine, p, |e, s| {
            let (bids, asks) = e.depth(s, 1)?;
            let level = |l: Option<&(Decimal, Decimal)>| {
                l.map_or(
                    ("0.00000000".to_owned(), "0.00000000".to_owned()),
                    |(p, q)| (d8(*p), d8(*q)),
                )
            };
            let (bp, bq) = level(bids.first());
            let (ap, aq) = level(asks.first());
            Ok(json!({"symbol": s, "bidPrice": bp, "bidQty": bq, "askPrice": ap, "askQty": aq}))
        })?,
        Endpoint::Account => account_json(engine, account, p, now)?,
        Endpoint::NewOrder | Endpoint::TestOrder => {
            let (new, resp_type) = parse_new_order(p)?;
            if endpoint == Endpoint::TestOrder {
                engine.test_order(account, &new)?;
                json!({})
            } else {
                let placed = engine.place_order(account, new, now)?;
                let resp_type = resp_type.unwrap_or(match placed.order.order_type {
                    OrderType::Limit | OrderType::Market => RespType::Full,
                    OrderType::LimitMaker => RespType::Ack,
                });
                return Ok((
                    order_response(&placed.order, &placed.fills, resp_type, now),
                    true,
                ));
            }
        }
        Endpoint::QueryOrder => {
            let symbol = p.require("symbol")?;
            let by = order_ref(p)?;
            query_json(engine.order(account, symbol, &by)?)
        }
        Endpoint::CancelOrder => {
            let symbol = p.require("symbol")?;
            let by = order_ref(p)?;
            let cancel_id = p.get("newClientOrderId").map(str::to_owned);
            if let Some(c) = &cancel_id {
                check_client_id("newClientOrderId", c)?;
            }
            let o = engine.cancel_order(account, symbol, &by, now)?;
            cancel_json(&o, cancel_id, now)
        }
        Endpoint::CancelOpenOrders => {
            let symbol = p.require("symbol")?;
            let open = engine.open_orders(account, Some(symbol))?;
            let mut cancelled = Vec::with_capacity(open.len());
            for o in open {
                let o = engine.cancel_order(account, symbol, &OrderRef::Id(o.order_id), now)?;
                cancelled.push(cancel_json(&o, None, now));
            }
            Value::Array(cancelled)
        }
        Endpoint::MyTrades => {
            let symbol = p.require("symbol")?;
            engine.filters(symbol)?;
            let order_id = p.integer::<u64>("orderId")?;
            let from_id = p.integer::<u64>("fromId")?;
            let start = p.integer::<i64>("startTime")?;
            let end = p.integer::<i64>("endTime")?;
            let limit = p.integer::<usize>("limit")?.unwrap_or(500);
            if limit == 0 || limit > 1000 {
                return Err(ApiError::bad(
                    -1100,
                    "Illegal characters found in parameter 'limit'; legal range is '1-1000'.",
                ));
            }
            let trades: Vec<Value> = engine
                .fills()
                .iter()
                .filter(|f| f.account == account && f.symbol == symbol)
                .filter(|f| order_id.is_none_or(|id| f.order_id == id))
                .filter(|f| from_id.is_none_or(|id| f.trade_id >= id))
                .filter(|f| start.is_none_or(|t| f.time >= t) && end.is_none_or(|t| f.time <= t))
                .take(limit)
                .map(|f| {
                    json!({
                        "symbol": f.symbol, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
                        "price": d8(f.price), "qty": d8(f.qty), "quoteQty": d8(f.quote_qty),
                        "commission": d8(f.commission), "commissionAsset": f.commission_asset.as_str(),
                        "time": f.time, "isBuyer": f.side == Side::Buy, "isMaker": f.is_maker,
                        "isBestMatch": true
                    })
                })
                .collect();
            Value::Array(trades)
        }
        Endpoint::OpenOrders => {
            let orders = engine.open_orders(account, p.get("symbol"))?;
            Value::Array(orders.iter().map(query_json).collect())
        }
    };
    Ok((value, false))
}

fn cancel_json(o: &Order, cancel_id: Option<String>, now: EpochMillis) -> Value {
    let cancel_id = cancel_id.unwrap_or_else(|| format!("cancel{}", o.order_id));
    json!({
        "symbol": o.symbol, "origClientOrderId": o.client_order_id, "orderId": o.order_id,
        "orderListId": -1, "clientOrderId": cancel_id, "transactTime": now,
        "price": d8(o.price), "origQty": d8(o.orig_qty), "executedQty": d8(o.executed_qty),
        "origQuoteOrderQty": d8(o.orig_quote_order_qty),
        "cummulativeQuoteQty": d8(o.cumulative_quote_qty), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.as_str(), "type": o.order_type.as_str(), "side": o.side.as_str(),
        "selfTradePreventionMode": "NONE"
    })
}

fn authenticate(
    state: &AppState,
    p: &Params,
    headers: &HeaderMap,
    query: &str,
    body: &str,
    now: EpochMillis,
) -> Result<String, ApiError> {
    let key = headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::with_status(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.")
        })?;
    let signature = p.require("signature")?;
    let timestamp: i64 = p
        .integer("timestamp")?
        .ok_or_else(|| mandatory("timestamp"))?;
    let recv_window = p.decimal("recvWindow")?.unwrap_or(DEFAULT_RECV_WINDOW_MS);
    if recv_window > MAX_RECV_WINDOW_MS {
        return Err(ApiError::bad(-1131, "recvWindow must be less than 60000"));
    }
    let (account, secret) = {
        let v = state.venue();
        let (name, creds) = v.engine.account_for_key(key).ok_or_else(|| {
            ApiError::with_status(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            )
        })?;
        (name.to_owned(), creds.expose_secret().to_owned())
    };
    // The signed payload is the query string followed by the body, each as sent, without the
    // signature parameter itself.
    let unsigned = |raw: &str| {
        raw.split('&')
            .filter(|kv| !kv.starts_with("signature="))
            .collect::<Vec<_>>()
            .join("&")
    };
    let payload = format!("{}{}", unsigned(query), unsigned(body));
    let valid = hex::decode(signature).ok().is_some_and(|sig| {
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).is_ok_and(|mut mac| {
            mac.update(payload.as_bytes());
            mac.verify_slice(&sig).is_ok()
        })
    });
    if !valid {
        return Err(ApiError::bad(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    if timestamp >= now + 1000 {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if Decimal::from(now.saturating_sub(timestamp)) > recv_window {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(account)
}

fn per_symbol(
    engine: &Engine,
    p: &Params,
    one: impl Fn(&Engine, &str) -> Result<Value, crate::engine::EngineError>,
) -> Result<Value, ApiError> {
    if let Some(s) = p.get("symbol") {
        p.forbid("symbols")?;
        return Ok(one(engine, s)?);
    }
    let names: Vec<String> = match p.symbol_list("symbols")? {
        Some(list) => list,
        None => engine.markets().map(|(n, _)| n.to_owned()).collect(),
    };
    let values = names
        .iter()
        .map(|s| one(engine, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(values))
}

fn exchange_info(
    engine: &Engine,
    p: &Params,
    weight_limit: u32,
    now: EpochMillis,
) -> Result<Value, ApiError> {
    let wanted: Option<Vec<String>> = match (p.get("symbol"), p.symbol_list("symbols")?) {
        (Some(s), _) => Some(vec![s.to_owned()]),
        (None, list) => list,
    };
    if let Some(list) = &wanted {
        for s in list {
            engine.filters(s)?;
        }
    }
    let symbols: Vec<Value> = engine
        .markets()
        .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|s| s == name)))
        .map(|(name, f)| {
            json!({
                "symbol": name, "status": f.status().as_str(),
                "baseAsset": f.symbol().base().as_str(), "baseAssetPrecision": 8,
                "quoteAsset": f.symbol().quote().as_str(), "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false, "ocoAllowed": false, "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": true, "allowTrailingStop": false, "cancelReplaceAllowed": false,
                "amendAllowed": false, "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": d8(f.tick_size()), "maxPrice": d8(crate::engine::MAX_PRICE), "tickSize": d8(f.tick_size())},
                    {"filterType": "LOT_SIZE", "minQty": d8(f.min_qty()), "maxQty": d8(f.max_qty().unwrap_or_default()), "stepSize": d8(f.step_size())},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": d8(f.min_qty()), "maxQty": d8(f.max_qty().unwrap_or_default()), "stepSize": d8(f.step_size())},
                    {"filterType": "NOTIONAL", "minNotional": d8(f.min_notional()), "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"]
            })
        })
        .collect();
    Ok(json!({
        "timezone": "UTC", "serverTime": now,
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit}],
        "exchangeFilters": [], "symbols": symbols
    }))
}

fn account_json(
    engine: &Engine,
    account: &str,
    p: &Params,
    now: EpochMillis,
) -> Result<Value, ApiError> {
    let omit_zero = p.get("omitZeroBalances") == Some("true");
    let held = engine.balances(account)?;
    let mut assets = engine.known_assets();
    assets.extend(held.keys().cloned());
    let balances: Vec<Value> = assets
        .iter()
        .map(|a| (a, held.get(a).copied().unwrap_or_default()))
        .filter(|(_, b)| !omit_zero || !(b.free + b.locked).is_zero())
        .map(|(a, b)| json!({"asset": a.as_str(), "free": d8(b.free), "locked": d8(b.locked)}))
        .collect();
    let fees = engine.fees();
    let bps = |rate: Decimal| {
        (rate * driftline_core::money::BPS)
            .round()
            .try_into()
            .unwrap_or(0i64)
    };
    Ok(json!({
        "makerCommission": bps(fees.maker), "takerCommission": bps(fees.taker),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": d8(fees.maker), "taker": d8(fees.taker), "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": true, "canWithdraw": false, "canDeposit": false, "brokered": false,
        "requireSelfTradePrevention": false, "preventSor": false, "updateTime": now,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 0
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RespType {
    Ack,
    Result,
    Full,
}

fn check_client_id(name: &str, id: &str) -> Result<(), ApiError> {
    let ok = (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '^[a-zA-Z0-9-_]{{1,36}}$'.")))
    }
}

fn order_ref(p: &Params) -> Result<OrderRef, ApiError> {
    if let Some(id) = p.integer::<u64>("orderId")? {
        return Ok(OrderRef::Id(id));
    }
    match p.get("origClientOrderId") {
        Some(c) => Ok(OrderRef::ClientId(c.to_owned())),
        None => Err(ApiError::bad(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

fn parse_new_order(p: &Params) -> Result<(NewOrder, Option<RespType>), ApiError> {
    let symbol = p.require("symbol")?.to_owned();
    let side = match p.require("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(ApiError::bad(-1117, "Invalid side.")),
    };
    let order_type = match p.require("type")? {
        "LIMIT" => OrderType::Limit,
        "LIMIT_MAKER" => OrderType::LimitMaker,
        "MARKET" => OrderType::Market,
        "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
            return Err(ApiError::bad(-1014, "Unsupported order combination."))
        }
        _ => return Err(ApiError::bad(-1116, "Invalid orderType.")),
    };
    let resp_type = match p.get("newOrderRespType") {
        None => None,
        Some("ACK") => Some(RespType::Ack),
        Some("RESULT") => Some(RespType::Result),
        Some("FULL") => Some(RespType::Full),
        Some(_) => return Err(ApiError::bad(-1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.")),
    };
    let time_in_force = match p.get("timeInForce") {
        None => None,
        Some("GTC") => Some(TimeInForce::Gtc),
        Some("IOC") => Some(TimeInForce::Ioc),
        Some("FOK") => Some(TimeInForce::Fok),
        Some(_) => return Err(ApiError::bad(-1115, "Invalid timeInForce.")),
    };
    let client_order_id = p.get("newClientOrderId").map(str::to_owned);
    if let Some(c) = &client_order_id {
        check_client_id("newClientOrderId", c)?;
    }
    let quantity = p.decimal("quantity")?;
    let quote_order_qty = p.decimal("quoteOrderQty")?;
    let price = p.decimal("price")?;
    match order_type {
        OrderType::Limit => {
            if time_in_force.is_none() {
                return Err(mandatory("timeInForce"));
            }
            quantity.ok_or_else(|| mandatory("quantity"))?;
            price.ok_or_else(|| mandatory("price"))?;
            p.forbid("quoteOrderQty")?;
        }
        OrderType::LimitMaker => {
            quantity.ok_or_else(|| mandatory("quantity"))?;
            price.ok_or_else(|| mandatory("price"))?;
            p.forbid("timeInForce")?;
            p.forbid("quoteOrderQty")?;
        }
        OrderType::Market => {
            p.forbid("price")?;
            p.forbid("timeInForce")?;
            match (quantity, quote_order_qty) {
                (None, None) => return Err(ApiError::bad(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )),
                (Some(_), Some(_)) => p.forbid("quoteOrderQty")?,
                _ => {}
            }
        }
    }
    Ok((
        NewOrder {
            symbol,
            side,
            order_type,
            time_in_force,
            quantity,
            quote_order_qty,
            price,
            client_order_id,
        },
        resp_type,
    ))
}

fn order_response(o: &Order, fills: &[Fill], resp_type: RespType, now: EpochMillis) -> Value {
    let mut v = json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
        "clientOrderId": o.client_order_id, "transactTime": now
    });
    if resp_type == RespType::Ack {
        return v;
    }
    if let Value::Object(map) = &mut v {
        for (k, val) in [
            ("price", json!(d8(o.price))),
            ("origQty", json!(d8(o.orig_qty))),
            ("executedQty", json!(d8(o.executed_qty))),
            ("origQuoteOrderQty", json!(d8(o.orig_quote_order_qty))),
            ("cummulativeQuoteQty", json!(d8(o.cumulative_quote_qty))),
            ("status", json!(o.status.as_str())),
            ("timeInForce", json!(o.time_in_force.as_str())),
            ("type", json!(o.order_type.as_str())),
            ("side", json!(o.side.as_str())),
            ("workingTime", json!(o.time)),
            ("selfTradePreventionMode", json!("NONE")),
        ] {
            map.insert(k.to_owned(), val);
        }
        if resp_type == RespType::Full {
            let fills: Vec<Value> = fills
                .iter()
                .map(|f| {
                    json!({"price": d8(f.price), "qty": d8(f.qty), "commission": d8(f.commission),
                           "commissionAsset": f.commission_asset.as_str(), "tradeId": f.trade_id})
                })
                .collect();
            map.insert("fills".to_owned(), Value::Array(fills));
        }
    }
    v
}

fn query_json(o: &Order) -> Value {
    json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "price": d8(o.price), "origQty": d8(o.orig_qty), "executedQty": d8(o.executed_qty),
        "cummulativeQuoteQty": d8(o.cumulative_quote_qty), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.as_str(), "type": o.order_type.as_str(), "side": o.side.as_str(),
        "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.time, "updateTime": o.update_time,
        "isWorking": true, "workingTime": o.time, "origQuoteOrderQty": d8(o.orig_quote_order_qty),
        "selfTradePreventionMode": "NONE"
    })
}

// ---- admin ----

fn order_admin_json(o: &Order) -> Value {
    let mut v = query_json(o);
    if let Value::Object(map) = &mut v {
        map.insert("account".into(), json!(o.account));
        map.insert("locked".into(), json!(d8(o.locked)));
    }
    v
}

async fn admin_orders(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    Json(Value::Array(
        v.engine.orders().map(order_admin_json).collect(),
    ))
}

async fn admin_requests(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(Value::Array(state.venue().requests.clone()))
}

async fn admin_fills(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    let fills = v
        .engine
        .fills()
        .iter()
        .map(|f| {
            json!({"tradeId": f.trade_id, "orderId": f.order_id, "symbol": f.symbol, "account": f.account,
                   "side": f.side.as_str(), "price": d8(f.price), "qty": d8(f.qty), "quoteQty": d8(f.quote_qty),
                   "commission": d8(f.commission), "commissionAsset": f.commission_asset.as_str(),
                   "isMaker": f.is_maker, "time": f.time})
        })
        .collect();
    Json(Value::Array(fills))
}

async fn admin_balances(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    let accounts: serde_json::Map<String, Value> = v
        .engine
        .all_balances()
        .map(|(name, balances)| {
            let b: serde_json::Map<String, Value> = balances
                .iter()
                .map(|(a, b)| {
                    (
                        a.to_string(),
                        json!({"free": d8(b.free), "locked": d8(b.locked)}),
                    )
                })
                .collect();
            (name.to_owned(), Value::Object(b))
        })
        .collect();
    let fees: serde_json::Map<String, Value> = v
        .engine
        .fees_collected()
        .iter()
        .map(|(a, f)| (a.to_string(), json!(d8(*f))))
        .collect();
    Json(json!({"accounts": accounts, "feesCollected": fees}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMid {
    symbol: String,
    #[serde(with = "driftline_core::exact")]
    price: Decimal,
}

fn admin_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn admin_set_mid(State(state): State<Arc<AppState>>, Json(body): Json<SetMid>) -> Response {
    let now = state.clock.now_ms();
    match state.venue().engine.set_mid(&body.symbol, body.price, now) {
        Ok(()) => Json(json!({"symbol": body.symbol, "mid": d8(body.price)})).into_response(),
        Err(e) => admin_error(
            StatusCode::BAD_REQUEST,
            format!("cannot set mid of {} to {}: {e}", body.symbol, body.price),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default = "one_tick")]
    ticks: u32,
}

/// Each tick holds the venue lock; a bound keeps one call from stalling the API.
const MAX_TICKS_PER_ADVANCE: u32 = 100_000;

fn one_tick() -> u32 {
    1
}

async fn admin_advance(State(state): State<Arc<AppState>>, Json(body): Json<Advance>) -> Response {
    if body.ticks > MAX_TICKS_PER_ADVANCE {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!(
                "ticks is {}: at most {MAX_TICKS_PER_ADVANCE} per call",
                body.ticks
            ),
        );
    }
    let now = state.clock.now_ms();
    let mut v = state.venue();
    for _ in 0..body.ticks {
        v.engine.advance(now);
    }
    let mids: serde_json::Map<String, Value> = v
        .engine
        .markets()
        .map(|(n, _)| {
            (
                n.to_owned(),
                json!(v.engine.mid(n).map(d8).unwrap_or_default()),
            )
        })
        .collect();
    Json(json!({"ticks": body.ticks, "mids": mids})).into_response()
}

async fn admin_get_faults(State(state): State<Arc<AppState>>) -> Json<Faults> {
    Json(state.venue().faults.clone())
}

async fn admin_put_faults(
    State(state): State<Arc<AppState>>,
    Json(faults): Json<Faults>,
) -> Response {
    if let Err(e) = faults.validate() {
        return admin_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let mut v = state.venue();
    let names: Vec<String> = v.engine.markets().map(|(n, _)| n.to_owned()).collect();
    for n in names {
        let factor = faults.depth_factor(&n);
        v.engine.set_depth_factor(&n, factor);
    }
    v.faults = faults.clone();
    Json(faults).into_response()
}

async fn admin_reset(State(state): State<Arc<AppState>>) -> Response {
    match AppState::fresh_venue(&state.config) {
        Ok(fresh) => {
            *state.venue() = fresh;
            Json(json!({"reset": true})).into_response()
        }
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeys {
    api_key: String,
    secret: String,
}

/// Replaces an account's API key and secret, as an operator rotating keys at the venue does.
/// The answer names the account only: keys and secrets never leave the venue.
async fn admin_rotate_keys(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Json(keys): Json<NewKeys>,
) -> Response {
    let credentials = driftline_core::ApiCredentials::new(keys.api_key, keys.secret);
    match state.venue().engine.rotate_keys(&name, credentials) {
        Ok(()) => Json(json!({"account": name, "rotated": true})).into_response(),
        Err(e @ KeyRotationError::UnknownAccount(_)) => {
            admin_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => admin_error(
            StatusCode::BAD_REQUEST,
            format!("keys of account {name:?} not rotated: {e}"),
        ),
    }
}
