//! The Coinbase Advanced Trade dialect (`/api/v3/brokerage/...`): route, pass the [`gate`],
//! authenticate private endpoints (an ES256 JWT per request, `auth`), then one handler per
//! endpoint over the [`Engine`]. `json` writes the answers' shapes.
//!
//! Coinbase refuses a request as a whole with an HTTP status and an `{error, error_details,
//! message}` body (401 is a bare `Unauthorized`), but refuses an order for the order's own sake
//! inside a 200 answer (`success: false` with `error_response`). A repeated `client_order_id`
//! creates nothing and answers with the order that already has it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use driftline_core::{EpochMillis, Side};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use self::json as shapes;
use self::json::Failure;
use super::gate::{self, Arrival, Refusal};
use super::AppState;
use crate::engine::{Engine, EngineError, NewOrder, Order, OrderRef, OrderType, TimeInForce};

mod auth;
mod json;

/// The most orders one `batch_cancel` takes.
const MAX_CANCEL_BATCH: usize = 100;

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v3/brokerage/{*endpoint}", any(api))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Time,
    Products,
    Product(String),
    ProductBook,
    BestBidAsk,
    Accounts,
    Account(String),
    CreateOrder,
    GetOrder(String),
    ListOrders,
    ListFills,
    BatchCancel,
    TransactionSummary,
}

impl Endpoint {
    /// The endpoint of a method and path (after `/api/v3/brokerage/`); `market/...` are the
    /// public twins of the product endpoints.
    fn route(method: &Method, path: &str) -> Option<(Self, bool)> {
        let (public, path) = match path.strip_prefix("market/") {
            Some(rest) => (true, rest),
            None => (false, path),
        };
        let segments: Vec<&str> = path.split('/').collect();
        let endpoint = match (method.as_str(), segments.as_slice()) {
            ("GET", ["time"]) if !public => return Some((Self::Time, true)),
            ("GET", ["products"]) => Self::Products,
            ("GET", ["products", id]) if !id.is_empty() => Self::Product((*id).to_owned()),
            ("GET", ["product_book"]) => Self::ProductBook,
            _ if public => return None,
            ("GET", ["best_bid_ask"]) => Self::BestBidAsk,
            ("GET", ["accounts"]) => Self::Accounts,
            ("GET", ["accounts", id]) if !id.is_empty() => Self::Account((*id).to_owned()),
            ("POST", ["orders"]) => Self::CreateOrder,
            ("GET", ["orders", "historical", "batch"]) => Self::ListOrders,
            ("GET", ["orders", "historical", "fills"]) => Self::ListFills,
            ("GET", ["orders", "historical", id]) if !id.is_empty() => {
                Self::GetOrder((*id).to_owned())
            }
            ("POST", ["orders", "batch_cancel"]) => Self::BatchCancel,
            ("GET", ["transaction_summary"]) => Self::TransactionSummary,
            _ => return None,
        };
        Some((endpoint, public))
    }

    /// The name the request log shows.
    fn label(&self) -> &'static str {
        match self {
            Self::Time => "Time",
            Self::Products => "Products",
            Self::Product(_) => "Product",
            Self::ProductBook => "ProductBook",
            Self::BestBidAsk => "BestBidAsk",
            Self::Accounts => "Accounts",
            Self::Account(_) => "Account",
            Self::CreateOrder => "CreateOrder",
            Self::GetOrder(_) => "GetOrder",
            Self::ListOrders => "ListOrders",
            Self::ListFills => "ListFills",
            Self::BatchCancel => "BatchCancel",
            Self::TransactionSummary => "TransactionSummary",
        }
    }
}

/// A request Coinbase refuses as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CbError {
    status: StatusCode,
    error: &'static str,
    message: String,
    retry_after_s: Option<u64>,
}

impl CbError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 400 INVALID_ARGUMENT naming what is wrong.
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Unauthorized")
    }

    fn into_response(self) -> Response {
        // Coinbase's gateway answers a bad or missing token with a bare text body.
        let mut r = if self.status == StatusCode::UNAUTHORIZED {
            (self.status, "Unauthorized").into_response()
        } else {
            (
                self.status,
                Json(shapes::error_body(self.error, &self.message)),
            )
                .into_response()
        };
        if let Some(v) = self
            .retry_after_s
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<EngineError> for CbError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownSymbol => Self::not_found("ProductID is invalid"),
            EngineError::UnknownAccount => Self::unauthorized(),
            EngineError::OrderNotFound | EngineError::UnknownOrderToCancel => {
                Self::not_found("order with this orderID was not found")
            }
            other => Self::invalid(other.to_string()),
        }
    }
}

/// A refusal by the [`gate`] as Coinbase writes it. Coinbase has no ban: a banned client keeps
/// hearing 429 until the ban ends.
fn refusal(r: Refusal) -> CbError {
    match r {
        Refusal::Maintenance => CbError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Service is temporarily unavailable, please try again later",
        ),
        Refusal::TooMany { retry_after_s, .. } | Refusal::Banned { retry_after_s, .. } => {
            let mut e = CbError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Too many requests",
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::ServerError => CbError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
        ),
        Refusal::StatusUnknown => CbError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            "Request timed out; the order's status is unknown",
        ),
    }
}

/// The `x-ratelimit-*` headers Coinbase's SDK reads: the window's limit and what is left.
fn with_rate_limit(mut r: Response, limit: u32, used: u32) -> Response {
    for (name, value) in [
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-remaining", limit.saturating_sub(used)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

/// One `/api/v3/brokerage` request: route it, pass it through the [`gate`] (weight, log,
/// refusals, faults), authenticate it, answer it, and maybe drop a placement's answer.
#[allow(clippy::too_many_arguments)]
async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let Some((endpoint, public)) = Endpoint::route(&method, &path) else {
        return CbError::not_found("Unknown endpoint").into_response();
    };
    let now = state.clock.now_ms();
    let token = auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let claimed = token.ok().and_then(auth::claimed_key);
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: endpoint.label(),
        // Coinbase counts requests, not weights: every request weighs one.
        weight: 1,
        key: claimed.as_deref(),
    };
    let limit = state.config.rate_limits.request_weight_per_minute;
    let admitted = match gate::admit(&state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, used)) => {
            return with_rate_limit(refusal(refused).into_response(), limit, used)
        }
    };
    let request = auth::Request {
        method: method.as_str(),
        path: uri.path(),
        host: headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    };
    let outcome = (|| {
        let account = if public {
            String::new()
        } else {
            authenticate(&state, token, &request, now)?
        };
        let query = Query::parse(query.as_deref().unwrap_or_default())?;
        let call = Call {
            q: &query,
            body: &body,
            account: &account,
            now,
        };
        let value = handle(&mut state.venue().engine, &endpoint, &call)?;
        Ok::<_, CbError>((value, endpoint == Endpoint::CreateOrder))
    })();
    let response = match outcome {
        Ok((value, placed)) => {
            let took_order = placed && value.get("success") == Some(&Value::Bool(true));
            if gate::answer_dropped(&state, &admitted, took_order).await {
                refusal(Refusal::StatusUnknown).into_response()
            } else {
                (StatusCode::OK, Json(value)).into_response()
            }
        }
        Err(e) => e.into_response(),
    };
    with_rate_limit(response, limit, admitted.used)
}

/// The account whose key signed the request's token.
fn authenticate(
    state: &AppState,
    token: Result<&str, auth::AuthError>,
    request: &auth::Request<'_>,
    now: EpochMillis,
) -> Result<String, CbError> {
    let token = token.map_err(|_| CbError::unauthorized())?;
    let mut account = None;
    auth::verify(token, request, now.div_euclid(1000), |key| {
        let v = state.venue();
        let (name, creds) = v.engine.account_for_key(key)?;
        account = Some(name.to_owned());
        Some(creds.expose_secret().to_owned())
    })
    .map_err(|_| CbError::unauthorized())?;
    account.ok_or_else(CbError::unauthorized)
}

/// A query string as Coinbase reads it: a list filter repeats its name
/// (`product_ids=A&product_ids=B`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Result<Self, CbError> {
        serde_urlencoded::from_str(raw)
            .map(Self)
            .map_err(|_| CbError::invalid("the query string is not form-encoded"))
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A parameter sent at most once.
    fn one(&self, name: &str) -> Result<Option<&str>, CbError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            _ => Err(CbError::invalid(format!(
                "{name} must be sent at most once"
            ))),
        }
    }

    /// A page size: `default` when absent, 1 to `max`.
    fn limit(&self, default: usize, max: usize) -> Result<usize, CbError> {
        match self.one("limit")? {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CbError::invalid(format!("limit must be 1 to {max}"))),
        }
    }

    /// Where a page starts: the `cursor` a previous page gave, or the start.
    fn cursor(&self) -> Result<usize, CbError> {
        match self.one("cursor")? {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| CbError::invalid("cursor is not one this venue gave")),
        }
    }
}

/// One page of `items` from the query's cursor: the page, whether more follow, and the cursor
/// of the next page (empty when none).
fn page<T>(
    items: Vec<T>,
    q: &Query,
    default: usize,
    max: usize,
) -> Result<(Vec<T>, bool, String), CbError> {
    let limit = q.limit(default, max)?;
    let start = q.cursor()?;
    let has_next = items.len() > start.saturating_add(limit);
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let cursor = if has_next {
        (start + limit).to_string()
    } else {
        String::new()
    };
    Ok((page, has_next, cursor))
}

/// What a handler is given: the query, the body, the account that signed (empty for a
/// public endpoint) and the venue's time.
struct Call<'a> {
    q: &'a Query,
    body: &'a str,
    account: &'a str,
    now: EpochMillis,
}

fn handle(engine: &mut Engine, endpoint: &Endpoint, c: &Call<'_>) -> Result<Value, CbError> {
    match endpoint {
        Endpoint::Time => Ok(time(c.now)),
        Endpoint::Products => products(engine, c),
        Endpoint::Product(id) => product(engine, id),
        Endpoint::ProductBook => product_book(engine, c),
        Endpoint::BestBidAsk => best_bid_ask(engine, c),
        Endpoint::Accounts => accounts(engine, c),
        Endpoint::Account(id) => account(engine, c, id),
        Endpoint::CreateOrder => create_order(engine, c),
        Endpoint::GetOrder(id) => get_order(engine, c, id),
        Endpoint::ListOrders => list_orders(engine, c),
        Endpoint::ListFills => list_fills(engine, c),
        Endpoint::BatchCancel => batch_cancel(engine, c),
        Endpoint::TransactionSummary => Ok(transaction_summary(engine, c)),
    }
}

fn time(now: EpochMillis) -> Value {
    json!({"iso": shapes::rfc3339(now), "epochSeconds": now.div_euclid(1000).to_string(),
           "epochMillis": now.to_string()})
}

/// The engine's market name of a Coinbase product id.
fn market_of(engine: &Engine, product_id: &str) -> Option<String> {
    engine
        .markets()
        .find(|(_, f)| shapes::product_id(f) == product_id)
        .map(|(name, _)| name.to_owned())
}

/// The Coinbase product id of an engine market.
fn product_of(engine: &Engine, market: &str) -> String {
    engine
        .filters(market)
        .map(shapes::product_id)
        .unwrap_or_else(|_| market.to_owned())
}

fn require_market(engine: &Engine, product_id: &str) -> Result<String, CbError> {
    market_of(engine, product_id).ok_or_else(|| CbError::not_found("ProductID is invalid"))
}

fn product_json(engine: &Engine, market: &str) -> Result<Value, CbError> {
    let f = engine.filters(market)?;
    Ok(shapes::product(
        f,
        engine.last_price(market)?,
        engine.mid(market)?,
    ))
}

fn products(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let wanted = c.q.all("product_ids");
    let markets: Vec<String> = engine
        .markets()
        .filter(|(_, f)| wanted.is_empty() || wanted.contains(&shapes::product_id(f).as_str()))
        .map(|(name, _)| name.to_owned())
        .collect();
    let list = markets
        .iter()
        .map(|m| product_json(engine, m))
        .collect::<Result<Vec<_>, _>>()?;
    let (list, _, _) = page(list, c.q, usize::MAX, usize::MAX)?;
    Ok(json!({"num_products": list.len(), "products": list}))
}

fn product(engine: &mut Engine, id: &str) -> Result<Value, CbError> {
    let market = require_market(engine, id)?;
    product_json(engine, &market)
}

fn product_book(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let id =
        c.q.one("product_id")?
            .ok_or_else(|| CbError::invalid("product_id is required"))?;
    let market = require_market(engine, id)?;
    let limit = c.q.limit(usize::MAX, usize::MAX)?;
    let (bids, asks) = engine.depth(&market, limit)?;
    let mid = engine.mid(&market)?;
    let (best_bid, best_ask) = (bids.first().map(|l| l.0), asks.first().map(|l| l.0));
    let spread = best_ask.zip(best_bid).map(|(a, b)| a - b);
    let spread_bps = spread
        .filter(|_| !mid.is_zero())
        .map(|s| (s / mid * driftline_core::money::BPS).round_dp(4));
    let opt = |d: Option<Decimal>| d.map(shapes::dec).unwrap_or_default();
    Ok(json!({
        "pricebook": shapes::pricebook(id, &bids, &asks, c.now),
        "last": shapes::dec(engine.last_price(&market)?), "mid_market": shapes::dec(mid),
        "spread_bps": opt(spread_bps), "spread_absolute": opt(spread)
    }))
}

fn best_bid_ask(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let wanted = c.q.all("product_ids");
    let markets: Vec<(String, String)> = if wanted.is_empty() {
        engine
            .markets()
            .map(|(name, f)| (shapes::product_id(f), name.to_owned()))
            .collect()
    } else {
        wanted
            .iter()
            .map(|id| Ok(((*id).to_owned(), require_market(engine, id)?)))
            .collect::<Result<_, CbError>>()?
    };
    let books = markets
        .iter()
        .map(|(id, market)| {
            let (bids, asks) = engine.depth(market, 1)?;
            Ok(shapes::pricebook(id, &bids, &asks, c.now))
        })
        .collect::<Result<Vec<_>, CbError>>()?;
    Ok(json!({"pricebooks": books}))
}

/// The account's wallets: every asset it holds or a market trades, with what is free and held.
fn wallets(engine: &Engine, account: &str) -> Result<Vec<Value>, CbError> {
    let held = engine.balances(account)?;
    let mut assets = engine.known_assets();
    assets.extend(held.keys().cloned());
    Ok(assets
        .iter()
        .map(|a| {
            let b = held.get(a).copied().unwrap_or_default();
            shapes::wallet(account, a, b.free, b.locked)
        })
        .collect())
}

fn accounts(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let all = wallets(engine, c.account)?;
    let (list, has_next, cursor) = page(all, c.q, 49, 250)?;
    Ok(json!({"accounts": list, "has_next": has_next, "cursor": cursor, "size": list.len()}))
}

fn account(engine: &mut Engine, c: &Call<'_>, uuid: &str) -> Result<Value, CbError> {
    wallets(engine, c.account)?
        .into_iter()
        .find(|w| w.get("uuid").and_then(Value::as_str) == Some(uuid))
        .map(|w| json!({"account": w}))
        .ok_or_else(|| CbError::not_found("account not found"))
}

/// A decimal field of an order configuration, sent as a string.
fn decimal_field(
    config: &Map<String, Value>,
    kind: &str,
    name: &str,
) -> Result<Option<Decimal>, CbError> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Decimal::from_str_exact(s.trim()).map(Some).map_err(|_| {
            CbError::invalid(format!(
                "order_configuration.{kind}.{name} must be a decimal string"
            ))
        }),
        Some(_) => Err(CbError::invalid(format!(
            "order_configuration.{kind}.{name} must be a decimal string"
        ))),
    }
}

fn required(value: Option<Decimal>, kind: &str, name: &str) -> Result<Decimal, CbError> {
    value.ok_or_else(|| CbError::invalid(format!("order_configuration.{kind}.{name} is required")))
}

/// What an `order_configuration` asks for, in the engine's terms.
struct OrderKind {
    order_type: OrderType,
    time_in_force: TimeInForce,
    base_size: Option<Decimal>,
    limit_price: Option<Decimal>,
    quote_size: Option<Decimal>,
}

/// The order an `order_configuration` asks for; `None` for a configuration the venue does not
/// trade (stop, bracket, GTD).
fn order_kind(configuration: &Map<String, Value>) -> Result<Option<OrderKind>, CbError> {
    let mut kinds = configuration.iter();
    let (Some((kind, config)), None) = (kinds.next(), kinds.next()) else {
        return Err(CbError::invalid(
            "order_configuration must hold exactly one order type",
        ));
    };
    let config = config
        .as_object()
        .ok_or_else(|| CbError::invalid(format!("order_configuration.{kind} must be an object")))?;
    let base = decimal_field(config, kind, "base_size")?;
    let price = decimal_field(config, kind, "limit_price")?;
    Ok(Some(match kind.as_str() {
        "limit_limit_gtc" => {
            let post_only = match config.get("post_only") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(CbError::invalid(
                        "order_configuration.limit_limit_gtc.post_only must be a boolean",
                    ))
                }
            };
            let order_type = if post_only {
                OrderType::LimitMaker
            } else {
                OrderType::Limit
            };
            let base = required(base, kind, "base_size")?;
            let price = required(price, kind, "limit_price")?;
            OrderKind {
                order_type,
                time_in_force: TimeInForce::Gtc,
                base_size: Some(base),
                limit_price: Some(price),
                quote_size: None,
            }
        }
        "sor_limit_ioc" | "limit_limit_fok" => {
            let tif = if kind == "sor_limit_ioc" {
                TimeInForce::Ioc
            } else {
                TimeInForce::Fok
            };
            let base = required(base, kind, "base_size")?;
            let price = required(price, kind, "limit_price")?;
            OrderKind {
                order_type: OrderType::Limit,
                time_in_force: tif,
                base_size: Some(base),
                limit_price: Some(price),
                quote_size: None,
            }
        }
        "market_market_ioc" => {
            let quote = decimal_field(config, kind, "quote_size")?;
            if base.is_some() == quote.is_some() {
                return Err(CbError::invalid(
                    "order_configuration.market_market_ioc needs one of base_size and quote_size",
                ));
            }
            OrderKind {
                order_type: OrderType::Market,
                time_in_force: TimeInForce::Ioc,
                base_size: base,
                limit_price: None,
                quote_size: quote,
            }
        }
        _ => return Ok(None),
    }))
}

/// Why the engine refused an order, as Coinbase words it.
fn failure(e: &EngineError, quantity: Option<Decimal>, engine: &Engine, market: &str) -> Failure {
    let f = |reason, preview, message| Failure {
        reason,
        preview,
        message,
    };
    match e {
        EngineError::InsufficientBalance => f(
            "INSUFFICIENT_FUND",
            "PREVIEW_INSUFFICIENT_FUND",
            "Insufficient balance in source account",
        ),
        EngineError::WouldTake => f(
            "INVALID_LIMIT_PRICE_POST_ONLY",
            "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            "Limit price would take liquidity on a post-only order",
        ),
        EngineError::InvalidPrice => f(
            "INVALID_LIMIT_PRICE",
            "PREVIEW_INVALID_LIMIT_PRICE",
            "Invalid limit price",
        ),
        EngineError::Filter("PRICE_FILTER") => f(
            "INVALID_PRICE_PRECISION",
            "PREVIEW_INVALID_LIMIT_PRICE_PRECISION",
            "Limit price is not a multiple of the product's price increment",
        ),
        EngineError::Filter("LOT_SIZE" | "MARKET_LOT_SIZE") | EngineError::InvalidQuantity => {
            let filters = engine.filters(market).ok();
            let too_small = quantity.zip(filters).is_none_or(|(q, f)| q < f.min_qty());
            let too_large = quantity
                .zip(filters)
                .is_some_and(|(q, f)| f.max_qty().is_some_and(|max| q > max));
            if too_small {
                f(
                    "UNKNOWN_FAILURE_REASON",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                    "Order size is below the product's minimum",
                )
            } else if too_large {
                f(
                    "UNKNOWN_FAILURE_REASON",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
                    "Order size is above the product's maximum",
                )
            } else {
                f(
                    "INVALID_SIZE_PRECISION",
                    "PREVIEW_INVALID_SIZE_PRECISION",
                    "Order size is not a multiple of the product's base increment",
                )
            }
        }
        EngineError::Filter(_) => f(
            "UNKNOWN_FAILURE_REASON",
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            "Order value is below the product's minimum",
        ),
        EngineError::UnknownSymbol => f(
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
            "Invalid product_id",
        ),
        _ => f(
            "UNKNOWN_FAILURE_REASON",
            "UNKNOWN_PREVIEW_FAILURE_REASON",
            "The order was not created",
        ),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, CbError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(CbError::invalid(format!("{name} is required")))
        }
        Some(_) => Err(CbError::invalid(format!("{name} must be a string"))),
    }
}

/// The account's order with this client order id, whatever its status.
fn order_by_client_id<'a>(
    engine: &'a Engine,
    account: &str,
    client_order_id: &str,
) -> Option<&'a Order> {
    engine
        .orders()
        .find(|o| o.account == account && o.client_order_id == client_order_id)
}

fn create_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let body: Value = serde_json::from_str(c.body)
        .map_err(|_| CbError::invalid("the request body is not JSON"))?;
    let body = body
        .as_object()
        .ok_or_else(|| CbError::invalid("the request body must be a JSON object"))?;
    let client_order_id = string_field(body, "client_order_id")?;
    let product_id = string_field(body, "product_id")?;
    let side = string_field(body, "side")?;
    let configuration = body
        .get("order_configuration")
        .and_then(Value::as_object)
        .ok_or_else(|| CbError::invalid("order_configuration is required"))?;
    let echo = Value::Object(configuration.clone());
    // Coinbase creates nothing for a client_order_id it has seen: it answers with that order.
    if let Some(existing) = order_by_client_id(engine, c.account, client_order_id) {
        let product = product_of(engine, &existing.symbol);
        return Ok(shapes::created(
            existing,
            &product,
            shapes::order_configuration(existing),
        ));
    }
    let refuse = |reason, preview, message| {
        Ok(shapes::not_created(
            Failure {
                reason,
                preview,
                message,
            },
            echo.clone(),
        ))
    };
    let Some(market) = market_of(engine, product_id) else {
        return refuse(
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
            "Invalid product_id",
        );
    };
    let side = match side {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return refuse("INVALID_SIDE", "PREVIEW_INVALID_SIDE", "Invalid side"),
    };
    let Some(OrderKind {
        order_type,
        time_in_force,
        base_size: quantity,
        limit_price: price,
        quote_size: quote,
    }) = order_kind(configuration)?
    else {
        return refuse(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
            "The paper venue trades limit (GTC, IOC, FOK) and market orders only",
        );
    };
    let new = NewOrder {
        symbol: market.clone(),
        side,
        order_type,
        time_in_force: (order_type == OrderType::Limit).then_some(time_in_force),
        quantity,
        quote_order_qty: quote,
        price,
        client_order_id: Some(client_order_id.to_owned()),
    };
    match engine.place_order(c.account, new, c.now) {
        Ok(placed) => Ok(shapes::created(&placed.order, product_id, echo)),
        Err(e) => Ok(shapes::not_created(
            failure(&e, quantity, engine, &market),
            echo,
        )),
    }
}

/// The account's order with a Coinbase order id.
fn own_order<'a>(engine: &'a Engine, account: &str, uuid: &str) -> Option<&'a Order> {
    let id = shapes::engine_order_id(uuid)?;
    engine
        .orders()
        .find(|o| o.order_id == id && o.account == account)
}

fn order_json(engine: &Engine, o: &Order) -> Value {
    let fills: Vec<_> = engine
        .fills()
        .iter()
        .filter(|f| f.order_id == o.order_id && f.account == o.account)
        .collect();
    shapes::order(o, &product_of(engine, &o.symbol), &fills)
}

fn get_order(engine: &mut Engine, c: &Call<'_>, uuid: &str) -> Result<Value, CbError> {
    let o = own_order(engine, c.account, uuid)
        .ok_or_else(|| CbError::not_found("order with this orderID was not found"))?;
    Ok(json!({"order": order_json(engine, o)}))
}

/// The order statuses `order_status` filters by.
const ORDER_STATUSES: [&str; 9] = [
    "PENDING",
    "OPEN",
    "FILLED",
    "CANCELLED",
    "EXPIRED",
    "FAILED",
    "UNKNOWN_ORDER_STATUS",
    "QUEUED",
    "CANCEL_QUEUED",
];

fn list_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let products = c.q.all("product_ids");
    let statuses = c.q.all("order_status");
    if let Some(bad) = statuses.iter().find(|s| !ORDER_STATUSES.contains(s)) {
        return Err(CbError::invalid(format!(
            "order_status {bad} is not a status"
        )));
    }
    let ids = c.q.all("order_ids");
    let side = c.q.one("order_side")?;
    // Newest first, as Coinbase lists them.
    let mut matching: Vec<&Order> = engine
        .orders()
        .filter(|o| o.account == c.account)
        .filter(|o| {
            products.is_empty() || products.contains(&product_of(engine, &o.symbol).as_str())
        })
        .filter(|o| statuses.is_empty() || statuses.contains(&shapes::status(o.status)))
        .filter(|o| ids.is_empty() || ids.contains(&shapes::order_uuid(o.order_id).as_str()))
        .filter(|o| side.is_none_or(|s| s == if o.side == Side::Buy { "BUY" } else { "SELL" }))
        .collect();
    matching.reverse();
    let (list, has_next, cursor) = page(matching, c.q, 100, 1000)?;
    let orders: Vec<Value> = list.into_iter().map(|o| order_json(engine, o)).collect();
    Ok(json!({"orders": orders, "sequence": "0", "has_next": has_next, "cursor": cursor}))
}

fn list_fills(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let orders = c.q.all("order_ids");
    let products = c.q.all("product_ids");
    let trades = c.q.all("trade_ids");
    let matching: Vec<Value> = engine
        .fills()
        .iter()
        .rev()
        .filter(|f| f.account == c.account)
        .filter(|f| orders.is_empty() || orders.contains(&shapes::order_uuid(f.order_id).as_str()))
        .filter(|f| {
            products.is_empty() || products.contains(&product_of(engine, &f.symbol).as_str())
        })
        .filter(|f| trades.is_empty() || trades.contains(&f.trade_id.to_string().as_str()))
        .map(|f| shapes::fill(f, &product_of(engine, &f.symbol)))
        .collect();
    let (fills, _, cursor) = page(matching, c.q, 100, 1000)?;
    Ok(json!({"fills": fills, "cursor": cursor}))
}

fn batch_cancel(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let body: Value = serde_json::from_str(c.body)
        .map_err(|_| CbError::invalid("the request body is not JSON"))?;
    let ids: Vec<&str> = body
        .get("order_ids")
        .and_then(Value::as_array)
        .and_then(|ids| ids.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| CbError::invalid("order_ids must be a list of order ids"))?;
    if ids.len() > MAX_CANCEL_BATCH {
        return Err(CbError::invalid(format!(
            "order_ids holds at most {MAX_CANCEL_BATCH} ids"
        )));
    }
    let results: Vec<Value> = ids
        .into_iter()
        .map(|uuid| {
            let open = own_order(engine, c.account, uuid)
                .filter(|o| o.status.is_open())
                .map(|o| (o.symbol.clone(), o.order_id));
            let cancelled = open.is_some_and(|(symbol, id)| {
                engine
                    .cancel_order(c.account, &symbol, &OrderRef::Id(id), c.now)
                    .is_ok()
            });
            let reason = if cancelled {
                "UNKNOWN_CANCEL_FAILURE_REASON"
            } else {
                "UNKNOWN_CANCEL_ORDER"
            };
            json!({"success": cancelled, "failure_reason": reason, "order_id": uuid})
        })
        .collect();
    Ok(json!({"results": results}))
}

fn transaction_summary(engine: &mut Engine, c: &Call<'_>) -> Value {
    let fees = engine.fees();
    let mine = || engine.fills().iter().filter(|f| f.account == c.account);
    let volume: Decimal = mine().map(|f| f.quote_qty).sum();
    let paid: Decimal = mine().map(shapes::quote_commission).sum();
    // Coinbase writes the totals as JSON numbers.
    let number = |d: Decimal| f64::try_from(d).unwrap_or_default();
    json!({
        "total_volume": number(volume), "total_fees": number(paid),
        "fee_tier": {
            "pricing_tier": "Paper", "usd_from": "0", "usd_to": "",
            "taker_fee_rate": shapes::dec(fees.taker), "maker_fee_rate": shapes::dec(fees.maker),
            "aop_from": "", "aop_to": ""
        },
        "margin_rate": null, "goods_and_services_tax": null,
        "advanced_trade_only_volume": number(volume), "advanced_trade_only_fees": number(paid),
        "coinbase_pro_volume": 0, "coinbase_pro_fees": 0, "total_balance": "",
        "has_promo_fee": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_go_to_uuids_and_back() {
        for id in [0, 1, 42, 0xfff_fff, u64::MAX] {
            let uuid = shapes::order_uuid(id);
            assert_eq!(uuid.len(), 36, "{uuid}");
            assert_eq!(shapes::engine_order_id(&uuid), Some(id), "{uuid}");
        }
        assert_eq!(
            shapes::order_uuid(1),
            "7061706e-7065-4000-8000-000000000001"
        );
        assert_eq!(
            shapes::engine_order_id("7061706e-7065-4000-8000-00000000000g"),
            None
        );
        assert_eq!(shapes::engine_order_id("not-an-order"), None);
    }

    #[test]
    fn routes_private_and_public_endpoints() {
        let get = Method::GET;
        assert_eq!(Endpoint::route(&get, "time"), Some((Endpoint::Time, true)));
        assert_eq!(
            Endpoint::route(&get, "market/products/BTC-USDT"),
            Some((Endpoint::Product("BTC-USDT".into()), true))
        );
        assert_eq!(
            Endpoint::route(&get, "orders/historical/batch"),
            Some((Endpoint::ListOrders, false))
        );
        assert_eq!(Endpoint::route(&get, "market/accounts"), None);
        assert_eq!(Endpoint::route(&Method::POST, "products"), None);
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(
            shapes::rfc3339(1_800_000_300_123),
            "2027-01-15T08:05:00.123Z"
        );
    }

    #[test]
    fn decimal_fields_are_exact_strings() {
        let config = serde_json::from_str::<Map<String, Value>>(
            r#"{"base_size": "0.00100", "limit_price": 5}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            decimal_field(&config, "k", "base_size"),
            Ok(Some(Decimal::new(100, 5)))
        );
        assert!(decimal_field(&config, "k", "limit_price").is_err());
        assert_eq!(decimal_field(&config, "k", "quote_size"), Ok(None));
    }
}
