//! The Kraken spot dialect (`/0/public/...`, `/0/private/...`): route, pass the [`gate`],
//! authenticate private calls (`auth`: API-Key, API-Sign, a strictly increasing nonce per key),
//! then one handler per endpoint over the [`Engine`]. `names` maps the config's assets and
//! markets to Kraken's names and the engine's ids to Kraken's, `order_request` reads an
//! `AddOrder`, `json` writes the answers' shapes.
//!
//! Every answer is `{"error": [...], "result": ...}` with HTTP 200, errors included, as Kraken
//! answers; only an unknown method is a 404.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Json, Router};
use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use self::auth::{Nonces, API_KEY_HEADER};
use self::names::{find_pair, pair_of_symbol, pairs, parse_txid, txid, AssetNames, IdKind};
use self::order_request::{cl_ord_id, flag, parse_add_order, userref};
use super::gate::{self, Arrival, Refusal};
use super::AppState;
use crate::engine::{Engine, EngineError, Fill, Order, OrderRef};
use crate::params::Params;

mod auth;
mod json;
mod names;
mod order_request;

/// Open orders one account may hold in one pair (Kraken's Starter tier; Intermediate has 80,
/// Pro 225).
const MAX_OPEN_ORDERS_PER_PAIR: usize = 60;
/// Orders and trades per page of `ClosedOrders` and `TradesHistory`.
const PAGE: usize = 50;

/// A Kraken error: its string (`EOrder:Insufficient funds`) and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KrakenError {
    status: StatusCode,
    message: String,
}

impl KrakenError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            message: message.into(),
        }
    }

    /// `EGeneral:Invalid arguments:<field>`: Kraken's error for a bad or missing parameter,
    /// naming it.
    fn invalid(field: &str) -> Self {
        Self::new(format!("EGeneral:Invalid arguments:{field}"))
    }

    fn response(&self) -> Response {
        (
            self.status,
            Json(json!({"error": [self.message], "result": {}})),
        )
            .into_response()
    }
}

impl From<EngineError> for KrakenError {
    fn from(e: EngineError) -> Self {
        Self::new(match e {
            EngineError::UnknownSymbol => "EQuery:Unknown asset pair",
            EngineError::Filter("PRICE_FILTER") => "EOrder:Tick size check failed",
            EngineError::Filter("NOTIONAL") => "EOrder:Cost minimum not met",
            EngineError::Filter(_) | EngineError::InvalidQuantity => {
                "EGeneral:Invalid arguments:volume"
            }
            EngineError::InvalidPrice => "EOrder:Invalid price",
            EngineError::InsufficientBalance => "EOrder:Insufficient funds",
            EngineError::DuplicateOrder => "EOrder:Duplicate order",
            EngineError::WouldTake => "EOrder:Post only order",
            EngineError::OrderNotFound | EngineError::UnknownOrderToCancel => {
                "EOrder:Unknown order"
            }
            EngineError::UnknownAccount => "EAPI:Invalid key",
        })
    }
}

/// A refusal of the [`gate`] as Kraken words it.
fn refusal(r: Refusal) -> KrakenError {
    KrakenError::new(match r {
        Refusal::Maintenance => "EService:Unavailable",
        Refusal::TooMany { .. } => "EAPI:Rate limit exceeded",
        // Kraken locks out a client that keeps calling while limited.
        Refusal::Banned { .. } => "EGeneral:Temporary lockout",
        // Nothing took effect; Kraken's word for a call it could not take on.
        Refusal::ServerError => "EService:Busy",
        // The order stands but the client cannot know: Kraken's internal error, after which
        // its documentation says to check the open orders.
        Refusal::StatusUnknown => "EGeneral:Internal error",
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Time,
    SystemStatus,
    Assets,
    AssetPairs,
    Ticker,
    Depth,
    Trades,
    Balance,
    BalanceEx,
    AddOrder,
    QueryOrders,
    OpenOrders,
    ClosedOrders,
    CancelOrder,
    QueryTrades,
    TradesHistory,
    TradeVolume,
}

impl Endpoint {
    /// Public methods answer GET and POST, private ones POST only, as Kraken's do.
    fn route(method: &Method, path: &str) -> Option<Self> {
        let public = matches!(method.as_str(), "GET" | "POST");
        let private = method == Method::POST;
        Some(match path {
            "public/Time" if public => Self::Time,
            "public/SystemStatus" if public => Self::SystemStatus,
            "public/Assets" if public => Self::Assets,
            "public/AssetPairs" if public => Self::AssetPairs,
            "public/Ticker" if public => Self::Ticker,
            "public/Depth" if public => Self::Depth,
            "public/Trades" if public => Self::Trades,
            "private/Balance" if private => Self::Balance,
            "private/BalanceEx" if private => Self::BalanceEx,
            "private/AddOrder" if private => Self::AddOrder,
            "private/QueryOrders" if private => Self::QueryOrders,
            "private/OpenOrders" if private => Self::OpenOrders,
            "private/ClosedOrders" if private => Self::ClosedOrders,
            "private/CancelOrder" if private => Self::CancelOrder,
            "private/QueryTrades" if private => Self::QueryTrades,
            "private/TradesHistory" if private => Self::TradesHistory,
            "private/TradeVolume" if private => Self::TradeVolume,
            _ => return None,
        })
    }

    fn private(self) -> bool {
        !matches!(
            self,
            Self::Time
                | Self::SystemStatus
                | Self::Assets
                | Self::AssetPairs
                | Self::Ticker
                | Self::Depth
                | Self::Trades
        )
    }

    /// What the call adds to Kraken's call counter: trade history 2, everything else 1.
    /// Kraken meters AddOrder and CancelOrder on a separate per-pair trading counter; here they
    /// weigh 1 on the one limiter, which stands in for both.
    fn weight(self) -> u32 {
        match self {
            Self::TradesHistory | Self::QueryTrades => 2,
            _ => 1,
        }
    }

    fn handler(self) -> Handler {
        match self {
            Self::Time => time,
            Self::SystemStatus => system_status,
            Self::Assets => assets,
            Self::AssetPairs => asset_pairs,
            Self::Ticker => ticker,
            Self::Depth => depth,
            Self::Trades => recent_trades,
            Self::Balance => balance,
            Self::BalanceEx => balance_ex,
            Self::AddOrder => add_order,
            Self::QueryOrders => query_orders,
            Self::OpenOrders => open_orders,
            Self::ClosedOrders => closed_orders,
            Self::CancelOrder => cancel_order,
            Self::QueryTrades => query_trades,
            Self::TradesHistory => trades_history,
            Self::TradeVolume => trade_volume,
        }
    }
}

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/0/{*path}", any(api))
        .layer(Extension(Arc::new(Nonces::default())))
}

/// One `/0/...` call: route it, pass it through the [`gate`] (weight, log, refusals, faults),
/// authenticate a private one, answer it, and maybe drop a placement's answer.
#[allow(clippy::too_many_arguments)]
async fn api(
    State(state): State<Arc<AppState>>,
    Extension(nonces): Extension<Arc<Nonces>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let Some(endpoint) = Endpoint::route(&method, &path) else {
        let mut e = KrakenError::new("EGeneral:Unknown method");
        e.status = StatusCode::NOT_FOUND;
        return e.response();
    };
    let now = state.clock.now_ms();
    let label = format!("{endpoint:?}");
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: &label,
        weight: endpoint.weight(),
        key: headers.get(API_KEY_HEADER).and_then(|k| k.to_str().ok()),
    };
    let admitted = match gate::admit(&state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, _)) => return refusal(refused).response(),
    };
    let outcome = Params::parse(query.as_deref().unwrap_or_default(), &body)
        .map_err(|_| KrakenError::new("EGeneral:Invalid arguments"))
        .and_then(|p| {
            let account = if endpoint.private() {
                auth::authenticate(&state, &nonces, &headers, &format!("/0/{path}"), &p, &body)?
            } else {
                String::new()
            };
            let call = Call {
                p: &p,
                account: &account,
                now,
            };
            endpoint.handler()(&mut state.venue().engine, &call)
        });
    match outcome {
        Ok(result) => {
            let placed = endpoint == Endpoint::AddOrder && result.get("txid").is_some();
            if gate::answer_dropped(&state, &admitted, placed).await {
                refusal(Refusal::StatusUnknown).response()
            } else {
                Json(json!({"error": [], "result": result})).into_response()
            }
        }
        Err(e) => e.response(),
    }
}

/// What an endpoint's handler is given: the call's parameters, the account that signed it
/// (empty for a public one) and the venue's time.
struct Call<'a> {
    p: &'a Params,
    account: &'a str,
    now: EpochMillis,
}

type Handler = fn(&mut Engine, &Call<'_>) -> Result<Value, KrakenError>;

/// The pairs a `pair` parameter names (comma-separated), or all of them.
fn wanted_pairs(engine: &Engine, p: &Params) -> Result<Vec<names::PairNames>, KrakenError> {
    match p.get("pair") {
        None => Ok(pairs(engine)),
        Some(list) => list
            .split(',')
            .map(|name| {
                find_pair(engine, name).ok_or_else(|| KrakenError::new("EQuery:Unknown asset pair"))
            })
            .collect(),
    }
}

/// The one pair a `pair` parameter must name.
fn one_pair(engine: &Engine, p: &Params) -> Result<names::PairNames, KrakenError> {
    let name = p.get("pair").ok_or_else(|| KrakenError::invalid("pair"))?;
    find_pair(engine, name).ok_or_else(|| KrakenError::new("EQuery:Unknown asset pair"))
}

fn decimals_of(engine: &Engine, symbol: &str) -> u32 {
    engine.filters(symbol).map_or(8, json::pair_decimals)
}

fn time(_: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    Ok(json!({"unixtime": c.now.div_euclid(1000), "rfc1123": json::rfc1123(c.now)}))
}

fn system_status(_: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    // Under the maintenance fault the gate refuses every call before it gets here.
    Ok(json!({"status": "online", "timestamp": json::rfc3339(c.now)}))
}

fn assets(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let all: Vec<AssetNames> = engine
        .known_assets()
        .iter()
        .map(|a| AssetNames::of(a.as_str()))
        .collect();
    let chosen = match c.p.get("asset") {
        None => all,
        Some(list) => list
            .split(',')
            .map(|name| {
                all.iter()
                    .find(|a| a.answers_to(name))
                    .cloned()
                    .ok_or_else(|| KrakenError::new("EQuery:Unknown asset"))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(json::keyed(
        chosen
            .into_iter()
            .map(|a| (a.key.clone(), json::asset(&a.altname))),
    ))
}

fn asset_pairs(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let fees = engine.fees();
    let chosen = wanted_pairs(engine, c.p)?;
    let entries = chosen
        .into_iter()
        .map(|p| {
            let f = engine.filters(&p.symbol)?;
            Ok((
                p.key.clone(),
                json::asset_pair(&p, f, fees.maker, fees.taker),
            ))
        })
        .collect::<Result<Vec<_>, KrakenError>>()?;
    Ok(json::keyed(entries))
}

/// The public trades of a market (each trade once: the taker's side), oldest first.
fn market_trades<'a>(engine: &'a Engine, symbol: &'a str) -> impl Iterator<Item = &'a Fill> {
    engine
        .fills()
        .iter()
        .filter(move |f| f.symbol == symbol && !f.is_maker)
}

fn ticker(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    const DAY_MS: EpochMillis = 86_400_000;
    let chosen = wanted_pairs(engine, c.p)?;
    let mut entries = Vec::with_capacity(chosen.len());
    for p in chosen {
        let decimals = decimals_of(engine, &p.symbol);
        let (bids, asks) = engine.depth(&p.symbol, 1)?;
        let last = engine.last_price(&p.symbol)?;
        let px = |v: Decimal| json::price(v, decimals);
        let level = |l: Option<&(Decimal, Decimal)>| {
            let (price, qty) = l.copied().unwrap_or_default();
            let lots = qty.trunc().normalize().to_string();
            json!([px(price), lots, crate::engine::venue_decimal(qty)])
        };
        let day: Vec<&Fill> = market_trades(engine, &p.symbol)
            .filter(|f| f.time > c.now - DAY_MS)
            .collect();
        let volume: Decimal = day.iter().map(|f| f.qty).sum();
        let value: Decimal = day.iter().map(|f| f.quote_qty).sum();
        let vwap = if volume.is_zero() {
            last
        } else {
            value / volume
        };
        let low = day.iter().map(|f| f.price).min().unwrap_or(last);
        let high = day.iter().map(|f| f.price).max().unwrap_or(last);
        let open = day.first().map_or(last, |f| f.price);
        let last_qty = day.last().map_or(Decimal::ZERO, |f| f.qty);
        let vol = crate::engine::venue_decimal(volume);
        entries.push((
            p.key.clone(),
            json!({
                "a": level(asks.first()), "b": level(bids.first()),
                "c": [px(last), crate::engine::venue_decimal(last_qty)],
                "v": [vol, vol], "p": [px(vwap), px(vwap)], "t": [day.len(), day.len()],
                "l": [px(low), px(low)], "h": [px(high), px(high)], "o": px(open)
            }),
        ));
    }
    Ok(json::keyed(entries))
}

fn depth(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let p = one_pair(engine, c.p)?;
    let count =
        c.p.integer::<usize>("count")
            .map_err(|_| KrakenError::invalid("count"))?
            .unwrap_or(100);
    if !(1..=500).contains(&count) {
        return Err(KrakenError::invalid("count"));
    }
    let decimals = decimals_of(engine, &p.symbol);
    let (bids, asks) = engine.depth(&p.symbol, count)?;
    let stamp = c.now.div_euclid(1000);
    let side = |levels: Vec<(Decimal, Decimal)>| {
        levels
            .into_iter()
            .map(|(price, qty)| {
                json!([
                    json::price(price, decimals),
                    crate::engine::venue_decimal(qty),
                    stamp
                ])
            })
            .collect::<Vec<_>>()
    };
    Ok(json::keyed([(
        p.key.clone(),
        json!({"asks": side(asks), "bids": side(bids)}),
    )]))
}

fn recent_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let p = one_pair(engine, c.p)?;
    let since_ns =
        c.p.integer::<i128>("since")
            .map_err(|_| KrakenError::invalid("since"))?
            .unwrap_or(0);
    let count =
        c.p.integer::<usize>("count")
            .map_err(|_| KrakenError::invalid("count"))?
            .unwrap_or(1000)
            .clamp(1, 1000);
    let decimals = decimals_of(engine, &p.symbol);
    let trades: Vec<&Fill> = market_trades(engine, &p.symbol)
        .filter(|f| i128::from(f.time) * 1_000_000 > since_ns)
        .take(count)
        .collect();
    let last_ns = trades
        .last()
        .map_or(since_ns, |f| i128::from(f.time) * 1_000_000);
    let rows: Vec<Value> = trades
        .iter()
        .map(|f| {
            let side = if f.side == driftline_core::Side::Buy {
                "b"
            } else {
                "s"
            };
            let kind = engine
                .orders()
                .find(|o| o.order_id == f.order_id)
                .map_or("l", |o| {
                    if o.order_type == crate::engine::OrderType::Market {
                        "m"
                    } else {
                        "l"
                    }
                });
            json!([
                json::price(f.price, decimals),
                crate::engine::venue_decimal(f.qty),
                json::seconds(f.time),
                side,
                kind,
                "",
                f.trade_id
            ])
        })
        .collect();
    Ok(json!({ p.key.clone(): rows, "last": last_ns.to_string() }))
}

fn balance(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let held = engine.balances(c.account)?;
    Ok(json::keyed(held.iter().map(|(asset, b)| {
        (
            AssetNames::of(asset.as_str()).key,
            json!(crate::engine::venue_decimal(b.free + b.locked)),
        )
    })))
}

fn balance_ex(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let held = engine.balances(c.account)?;
    Ok(json::keyed(held.iter().map(|(asset, b)| {
        (
            AssetNames::of(asset.as_str()).key,
            json!({
                "balance": crate::engine::venue_decimal(b.free + b.locked),
                "hold_trade": crate::engine::venue_decimal(b.locked),
                "credit": "0.00000000", "credit_used": "0.00000000"
            }),
        )
    })))
}

fn add_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let order = parse_add_order(engine, c.p)?;
    let open_in_pair = engine
        .orders()
        .filter(|o| o.account == c.account && o.symbol == order.pair.symbol && o.status.is_open())
        .count();
    if open_in_pair >= MAX_OPEN_ORDERS_PER_PAIR {
        return Err(KrakenError::new("EOrder:Orders limit exceeded"));
    }
    let decimals = decimals_of(engine, &order.pair.symbol);
    let descr = json::description(
        (order.new.side, order.new.order_type),
        order.new.quantity.unwrap_or_default(),
        order.new.price.unwrap_or_default(),
        &order.pair,
        decimals,
    );
    if order.validate {
        engine.test_order(c.account, &order.new)?;
        return Ok(json!({"descr": {"order": descr["order"]}}));
    }
    let placed = engine.place_order(c.account, order.new, c.now)?;
    let mut result = json!({
        "descr": {"order": descr["order"]},
        "txid": [txid(IdKind::Order, placed.order.order_id)]
    });
    if let (Value::Object(map), Some(c)) = (&mut result, cl_ord_id(&placed.order)) {
        map.insert("cl_ord_id".into(), json!(c));
    }
    Ok(result)
}

/// An account's orders, oldest first.
fn orders_of<'a>(engine: &'a Engine, account: &'a str) -> impl Iterator<Item = &'a Order> {
    engine.orders().filter(move |o| o.account == account)
}

/// An order as Kraken lists it, keyed by its txid.
fn order_entry(engine: &Engine, o: &Order, with_trades: bool) -> (String, Value) {
    let fills: Vec<&Fill> = engine
        .fills()
        .iter()
        .filter(|f| f.order_id == o.order_id && f.account == o.account)
        .collect();
    let pair = pair_of_symbol(engine, &o.symbol)
        .unwrap_or_else(|| names::PairNames::of(&o.symbol, &o.symbol, ""));
    let decimals = decimals_of(engine, &o.symbol);
    (
        txid(IdKind::Order, o.order_id),
        json::order(o, &pair, decimals, &fills, with_trades),
    )
}

/// The `userref` and `cl_ord_id` filters of the order queries.
fn matches_refs(o: &Order, p: &Params) -> Result<bool, KrakenError> {
    let by_userref = p
        .get("userref")
        .map(|u| {
            u.parse::<i32>()
                .map_err(|_| KrakenError::invalid("userref"))
        })
        .transpose()?;
    Ok(by_userref.is_none_or(|u| userref(o) == Some(u))
        && p.get("cl_ord_id").is_none_or(|c| cl_ord_id(o) == Some(c)))
}

fn query_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let with_trades = flag(c.p, "trades")?;
    let list =
        c.p.get("txid")
            .ok_or_else(|| KrakenError::invalid("txid"))?;
    let ids: Vec<&str> = list.split(',').collect();
    if ids.len() > 50 {
        return Err(KrakenError::invalid("txid"));
    }
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        let order = parse_txid(IdKind::Order, id)
            .and_then(|n| orders_of(engine, c.account).find(|o| o.order_id == n))
            .ok_or_else(|| KrakenError::new("EOrder:Unknown order"))?;
        if matches_refs(order, c.p)? {
            entries.push(order_entry(engine, order, with_trades));
        }
    }
    Ok(json::keyed(entries))
}

fn open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let with_trades = flag(c.p, "trades")?;
    let mut entries = Vec::new();
    for o in orders_of(engine, c.account).filter(|o| o.status.is_open()) {
        if matches_refs(o, c.p)? {
            entries.push(order_entry(engine, o, with_trades));
        }
    }
    Ok(json!({"open": json::keyed(entries)}))
}

/// A time bound of the history queries: seconds (a number) or an id of this venue.
fn bound(
    p: &Params,
    name: &str,
    kind: IdKind,
    engine: &Engine,
) -> Result<Option<EpochMillis>, KrakenError> {
    let Some(text) = p.get(name) else {
        return Ok(None);
    };
    if let Some(id) = parse_txid(kind, text) {
        let at = match kind {
            IdKind::Order => engine.orders().find(|o| o.order_id == id).map(|o| o.time),
            IdKind::Trade => engine
                .fills()
                .iter()
                .find(|f| f.trade_id == id)
                .map(|f| f.time),
        };
        return at.map(Some).ok_or_else(|| KrakenError::invalid(name));
    }
    let secs: Decimal = text.parse().map_err(|_| KrakenError::invalid(name))?;
    secs.checked_mul(Decimal::ONE_THOUSAND)
        .and_then(|ms| ms.trunc().try_into().ok())
        .map(Some)
        .ok_or_else(|| KrakenError::invalid(name))
}

fn offset(p: &Params) -> Result<usize, KrakenError> {
    p.integer::<usize>("ofs")
        .map_err(|_| KrakenError::invalid("ofs"))
        .map(Option::unwrap_or_default)
}

fn closed_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let with_trades = flag(c.p, "trades")?;
    let start = bound(c.p, "start", IdKind::Order, engine)?;
    let end = bound(c.p, "end", IdKind::Order, engine)?;
    let by_open = match c.p.get("closetime") {
        None | Some("both" | "close") => false,
        Some("open") => true,
        Some(_) => return Err(KrakenError::invalid("closetime")),
    };
    let mut closed = Vec::new();
    for o in orders_of(engine, c.account).filter(|o| !o.status.is_open()) {
        let at = if by_open { o.time } else { o.update_time };
        // Kraken's bounds are exclusive.
        if start.is_none_or(|s| at > s) && end.is_none_or(|e| at < e) && matches_refs(o, c.p)? {
            closed.push(o);
        }
    }
    let count = closed.len();
    let page = closed
        .into_iter()
        .rev()
        .skip(offset(c.p)?)
        .take(PAGE)
        .map(|o| order_entry(engine, o, with_trades));
    Ok(json!({"closed": json::keyed(page), "count": count}))
}

fn cancel_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let targets: Vec<(String, u64)> = match (c.p.get("txid"), c.p.get("cl_ord_id")) {
        (Some(_), Some(_)) | (None, None) => return Err(KrakenError::invalid("txid")),
        (Some(id), None) => match (parse_txid(IdKind::Order, id), id.parse::<i32>()) {
            (Some(n), _) => orders_of(engine, c.account)
                .filter(|o| o.order_id == n)
                .map(|o| (o.symbol.clone(), o.order_id))
                .collect(),
            // A userref in `txid` cancels every open order placed with it.
            (None, Ok(u)) => orders_of(engine, c.account)
                .filter(|o| o.status.is_open() && userref(o) == Some(u))
                .map(|o| (o.symbol.clone(), o.order_id))
                .collect(),
            (None, Err(_)) => Vec::new(),
        },
        (None, Some(cl)) => orders_of(engine, c.account)
            .filter(|o| o.status.is_open() && cl_ord_id(o) == Some(cl))
            .map(|o| (o.symbol.clone(), o.order_id))
            .collect(),
    };
    if targets.is_empty() {
        return Err(KrakenError::new("EOrder:Unknown order"));
    }
    let mut count = 0;
    for (symbol, id) in targets {
        engine.cancel_order(c.account, &symbol, &OrderRef::Id(id), c.now)?;
        count += 1;
    }
    Ok(json!({"count": count, "pending": false}))
}

/// A fill as Kraken lists the trade, keyed by its id.
fn trade_entry(engine: &Engine, f: &Fill) -> (String, Value) {
    let order = engine.orders().find(|o| o.order_id == f.order_id);
    let pair = pair_of_symbol(engine, &f.symbol)
        .unwrap_or_else(|| names::PairNames::of(&f.symbol, &f.symbol, ""));
    (
        txid(IdKind::Trade, f.trade_id),
        json::trade(f, order, &pair, decimals_of(engine, &f.symbol)),
    )
}

fn query_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let list =
        c.p.get("txid")
            .ok_or_else(|| KrakenError::invalid("txid"))?;
    let ids: Vec<&str> = list.split(',').collect();
    if ids.len() > 20 {
        return Err(KrakenError::invalid("txid"));
    }
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        let fill = parse_txid(IdKind::Trade, id)
            .and_then(|n| {
                engine
                    .fills()
                    .iter()
                    .find(|f| f.trade_id == n && f.account == c.account)
            })
            .ok_or_else(|| KrakenError::invalid("txid"))?;
        entries.push(trade_entry(engine, fill));
    }
    Ok(json::keyed(entries))
}

fn trades_history(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    if c.p
        .get("type")
        .is_some_and(|t| t != "all" && t != "any position")
    {
        return Err(KrakenError::invalid("type"));
    }
    let start = bound(c.p, "start", IdKind::Trade, engine)?;
    let end = bound(c.p, "end", IdKind::Trade, engine)?;
    let mine: Vec<&Fill> = engine
        .fills()
        .iter()
        .filter(|f| f.account == c.account)
        .filter(|f| start.is_none_or(|s| f.time > s) && end.is_none_or(|e| f.time < e))
        .collect();
    let count = mine.len();
    let page = mine
        .into_iter()
        .rev()
        .skip(offset(c.p)?)
        .take(PAGE)
        .map(|f| trade_entry(engine, f));
    Ok(json!({"trades": json::keyed(page), "count": count}))
}

fn trade_volume(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let fees = engine.fees();
    // Kraken's volume is the 30-day traded value in USD; here the quote amounts added up.
    let volume: Decimal = engine
        .fills()
        .iter()
        .filter(|f| f.account == c.account)
        .map(|f| f.quote_qty)
        .sum();
    let chosen = match c.p.get("pair") {
        None => Vec::new(),
        Some(_) => wanted_pairs(engine, c.p)?,
    };
    let schedule = |rate: Decimal| {
        let pct = format!("{:.4}", rate * Decimal::ONE_HUNDRED);
        json!({"fee": pct, "minfee": pct, "maxfee": pct, "nextfee": null,
               "nextvolume": null, "tiervolume": "0.0000"})
    };
    let by_pair = |rate: Decimal| -> BTreeMap<String, Value> {
        chosen
            .iter()
            .map(|p| (p.key.clone(), schedule(rate)))
            .collect()
    };
    Ok(json!({
        "currency": "ZUSD", "volume": format!("{:.4}", volume),
        "fees": by_pair(fees.taker), "fees_maker": by_pair(fees.maker)
    }))
}
