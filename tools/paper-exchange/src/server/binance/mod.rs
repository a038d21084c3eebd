//! The Binance spot dialect (`/api/v3/...`): route, pass the [`gate`], authenticate signed
//! endpoints (HMAC-SHA256 over the query and body), then one handler per endpoint over the
//! [`Engine`]. `json` writes the answers' shapes, `order_request` reads an order request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftline_core::EpochMillis;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::Sha256;

use self::json as shapes;
use self::order_request::{check_client_id, order_ref, parse_new_order, RespType};
use super::gate::{self, Arrival, Refusal};
use super::AppState;
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Engine, OrderRef, OrderType};
use crate::params::{mandatory, Params};

pub(super) mod json;
mod market_data;
mod order_request;

/// The header that carries the API key.
const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// The default and largest `recvWindow`, in milliseconds.
const DEFAULT_RECV_WINDOW_MS: Decimal = Decimal::from_parts(5000, 0, 0, false, 0);
const MAX_RECV_WINDOW_MS: Decimal = Decimal::from_parts(60_000, 0, 0, false, 0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Depth,
    TickerPrice,
    BookTicker,
    Ticker24hr,
    TickerRolling,
    TickerTradingDay,
    AvgPrice,
    Trades,
    HistoricalTrades,
    AggTrades,
    Klines,
    UiKlines,
    Account,
    Commission,
    AllOrders,
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
            ("GET", "ticker/24hr") => Self::Ticker24hr,
            ("GET", "ticker") => Self::TickerRolling,
            ("GET", "ticker/tradingDay") => Self::TickerTradingDay,
            ("GET", "avgPrice") => Self::AvgPrice,
            ("GET", "trades") => Self::Trades,
            ("GET", "historicalTrades") => Self::HistoricalTrades,
            ("GET", "aggTrades") => Self::AggTrades,
            ("GET", "klines") => Self::Klines,
            ("GET", "uiKlines") => Self::UiKlines,
            ("GET", "account") => Self::Account,
            ("GET", "account/commission") => Self::Commission,
            ("GET", "allOrders") => Self::AllOrders,
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
                | Self::Commission
                | Self::AllOrders
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
        // Symbols named by `symbol` or `symbols` (0: neither, or a list that does not parse).
        let named = if p.get("symbol").is_some() {
            1
        } else {
            p.symbol_list("symbols")
                .ok()
                .flatten()
                .map_or(0, |l| l.len())
        };
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
            Self::ExchangeInfo | Self::Account | Self::Commission | Self::AllOrders => 20,
            Self::Ticker24hr => match named {
                0 | 101.. => 80,
                1..=20 => 2,
                21..=100 => 40,
            },
            // 4 a symbol, capped at 200 past 50 symbols.
            Self::TickerRolling | Self::TickerTradingDay => match u32::try_from(named) {
                Ok(n @ 1..=50) => 4 * n,
                _ => 200,
            },
            Self::AvgPrice | Self::Klines | Self::UiKlines => 2,
            Self::Trades | Self::HistoricalTrades => 25,
            Self::AggTrades => 4,
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

/// One `/api/v3` request: route it, pass it through the [`gate`] (weight, log, refusals,
/// faults), answer it, and maybe drop a placement's answer.
pub(super) async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    serve(
        &state,
        peer,
        Endpoint::route(&method, &endpoint),
        method,
        headers,
        query,
        body,
    )
    .await
}

/// `/api/v1/...`: the public market-data endpoints Binance still serves there (python-binance
/// asks for recent trades there); nothing signed.
pub(super) async fn api_v1(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let endpoint = Endpoint::route(&method, &endpoint).filter(|e| !e.signed());
    serve(&state, peer, endpoint, method, headers, query, body).await
}

async fn serve(
    state: &AppState,
    peer: SocketAddr,
    endpoint: Option<Endpoint>,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: String,
) -> Response {
    let Some(endpoint) = endpoint else {
        return error_response(&ApiError::with_status(
            StatusCode::NOT_FOUND,
            -1000,
            "Unknown endpoint.",
        ));
    };
    let query = query.unwrap_or_default();
    let now = state.clock.now_ms();
    let params = Params::parse(&query, &body);
    let label = format!("{endpoint:?}");
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: &label,
        weight: params.as_ref().map_or(1, |p| endpoint.weight(p)),
        key: headers.get(API_KEY_HEADER).and_then(|k| k.to_str().ok()),
    };
    let admitted = match gate::admit(state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, used)) => return with_weight(error_response(&refusal(refused)), used),
    };
    let outcome = params.and_then(|p| handle(state, endpoint, &p, &headers, &query, &body, now));
    let response = match outcome {
        Ok((value, placed)) => {
            if gate::answer_dropped(state, &admitted, placed).await {
                error_response(&refusal(Refusal::StatusUnknown))
            } else {
                (StatusCode::OK, Json(value)).into_response()
            }
        }
        Err(e) => error_response(&e),
    };
    with_weight(response, admitted.used)
}

/// A refusal as Binance writes it.
fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Maintenance => ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            -1008,
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        ),
        Refusal::TooMany { limit, retry_after_s } => {
            let mut e = ApiError::with_status(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                format!("Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::Banned { until_ms, retry_after_s, .. } => {
            let mut e = ApiError::with_status(
                StatusCode::IM_A_TEAPOT,
                -1003,
                format!("Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."),
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::ServerError => ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "An unknown error occurred while processing the request.",
        ),
        Refusal::StatusUnknown => ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
    }
}

/// What an endpoint's handler is given: the request's parameters, the account that signed it
/// (empty for an unsigned endpoint), the venue's time and its weight limit.
struct Call<'a> {
    p: &'a Params,
    account: &'a str,
    now: EpochMillis,
    weight_limit: u32,
}

type Handler = fn(&mut Engine, &Call<'_>) -> Result<Value, ApiError>;

impl Endpoint {
    fn handler(self) -> Handler {
        match self {
            Self::Ping => ping,
            Self::Time => time,
            Self::ExchangeInfo => exchange_info,
            Self::Depth => depth,
            Self::TickerPrice => ticker_price,
            Self::BookTicker => book_ticker,
            Self::Ticker24hr => market_data::ticker_24hr,
            Self::TickerRolling => market_data::ticker_rolling,
            Self::TickerTradingDay => market_data::ticker_trading_day,
            Self::AvgPrice => market_data::avg_price,
            Self::Trades => market_data::recent_trades,
            Self::HistoricalTrades => market_data::historical_trades,
            Self::AggTrades => market_data::agg_trades,
            Self::Klines | Self::UiKlines => market_data::klines,
            Self::Account => account,
            Self::Commission => commission,
            Self::AllOrders => all_orders,
            Self::NewOrder => new_order,
            Self::TestOrder => test_order,
            Self::QueryOrder => query_order,
            Self::CancelOrder => cancel_order,
            Self::CancelOpenOrders => cancel_open_orders,
            Self::MyTrades => my_trades,
            Self::OpenOrders => open_orders,
        }
    }
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
    let call = Call {
        p,
        account: account.as_deref().unwrap_or_default(),
        now,
        weight_limit: state.config.rate_limits.request_weight_per_minute,
    };
    let value = endpoint.handler()(&mut state.venue().engine, &call)?;
    Ok((value, endpoint == Endpoint::NewOrder))
}

fn ping(_: &mut Engine, _: &Call<'_>) -> Result<Value, ApiError> {
    Ok(json!({}))
}

fn time(_: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    Ok(json!({"serverTime": c.now}))
}

fn exchange_info(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    shapes::exchange_info(engine, c.p, c.weight_limit, c.now)
}

fn depth(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = c.p.integer::<usize>("limit")?.unwrap_or(100);
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
    Ok(json!({"lastUpdateId": engine.update_id(), "bids": side(bids), "asks": side(asks)}))
}

fn ticker_price(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    per_symbol(engine, c.p, |e, s| {
        Ok(json!({"symbol": s, "price": d8(e.last_price(s)?)}))
    })
}

fn book_ticker(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    per_symbol(engine, c.p, |e, s| {
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
    })
}

fn account(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    shapes::account(engine, c.account, c.p, c.now)
}

fn new_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let (new, resp_type) = parse_new_order(c.p)?;
    let placed = engine.place_order(c.account, new, c.now)?;
    let resp_type = resp_type.unwrap_or(match placed.order.order_type {
        OrderType::Limit | OrderType::Market => RespType::Full,
        OrderType::LimitMaker => RespType::Ack,
    });
    Ok(shapes::order_response(
        &placed.order,
        &placed.fills,
        resp_type,
        c.now,
    ))
}

fn test_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let (new, _) = parse_new_order(c.p)?;
    engine.test_order(c.account, &new)?;
    Ok(json!({}))
}

fn query_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let by = order_ref(c.p)?;
    Ok(shapes::query(engine.order(c.account, symbol, &by)?))
}

fn cancel_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let by = order_ref(c.p)?;
    let cancel_id = c.p.get("newClientOrderId").map(str::to_owned);
    if let Some(id) = &cancel_id {
        check_client_id("newClientOrderId", id)?;
    }
    let o = engine.cancel_order(c.account, symbol, &by, c.now)?;
    Ok(shapes::cancel(&o, cancel_id, c.now))
}

fn cancel_open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let open = engine.open_orders(c.account, Some(symbol))?;
    let mut cancelled = Vec::with_capacity(open.len());
    for o in open {
        let o = engine.cancel_order(c.account, symbol, &OrderRef::Id(o.order_id), c.now)?;
        cancelled.push(shapes::cancel(&o, None, c.now));
    }
    Ok(Value::Array(cancelled))
}

fn my_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let p = c.p;
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
        .filter(|f| f.account == c.account && f.symbol == symbol)
        .filter(|f| order_id.is_none_or(|id| f.order_id == id))
        .filter(|f| from_id.is_none_or(|id| f.trade_id >= id))
        .filter(|f| start.is_none_or(|t| f.time >= t) && end.is_none_or(|t| f.time <= t))
        .take(limit)
        .map(shapes::trade)
        .collect();
    Ok(Value::Array(trades))
}

fn commission(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    engine.filters(symbol)?;
    let fees = engine.fees();
    let zero = "0.00000000";
    let rates = |maker: Decimal, taker: Decimal| json!({"maker": d8(maker), "taker": d8(taker), "buyer": zero, "seller": zero});
    Ok(json!({
        "symbol": symbol,
        "standardCommission": rates(fees.maker, fees.taker),
        "specialCommission": rates(Decimal::ZERO, Decimal::ZERO),
        "taxCommission": rates(Decimal::ZERO, Decimal::ZERO),
        "discount": {"enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "BNB", "discount": zero}
    }))
}

/// An account's orders on a symbol, open and closed, oldest first: from `orderId` on, within
/// `startTime`..`endTime` (at most 24 hours apart), the first `limit` of them when a start is
/// given, else the latest `limit`.
fn all_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    engine.filters(symbol)?;
    let order_id = c.p.integer::<u64>("orderId")?;
    let (start, end) = market_data::time_range(c.p, Some(24 * 60 * 60 * 1000))?;
    let limit = market_data::limit(c.p, 500, 1000)?;
    let mine: Vec<_> = engine
        .orders()
        .filter(|o| {
            o.account == c.account
                && o.symbol == symbol
                && order_id.is_none_or(|id| o.order_id >= id)
                && start.is_none_or(|t| o.time >= t)
                && end.is_none_or(|t| o.time <= t)
        })
        .collect();
    let chosen = if order_id.is_some() || start.is_some() {
        mine.get(..limit.min(mine.len()))
    } else {
        mine.get(mine.len().saturating_sub(limit)..)
    };
    Ok(Value::Array(
        chosen
            .unwrap_or_default()
            .iter()
            .map(|o| shapes::query(o))
            .collect(),
    ))
}

fn open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let orders = engine.open_orders(c.account, c.p.get("symbol"))?;
    Ok(Value::Array(orders.iter().map(shapes::query).collect()))
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
        .get(API_KEY_HEADER)
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
        Some(list) => {
            if list
                .iter()
                .enumerate()
                .any(|(i, s)| list.get(..i).is_some_and(|seen| seen.contains(s)))
            {
                return Err(ApiError::bad(
                    -1151,
                    "Symbol is present multiple times in the list.",
                ));
            }
            list
        }
        None => engine.markets().map(|(n, _)| n.to_owned()).collect(),
    };
    let values = names
        .iter()
        .map(|s| one(engine, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(values))
}
