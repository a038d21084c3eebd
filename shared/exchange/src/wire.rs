//! The exchange's JSON, read into domain types. Every number arrives as a string and becomes a
//! `Decimal` exactly; anything unreadable is a [`WireError`] naming the field and the value.

use driftline_core::ports::{Balance, ExchangeOrderStatus, Fill, OrderReport};
use driftline_core::{
    Asset, ClientOrderId, EpochMillis, Level, MarketFilters, MarketFiltersFields, OrderBook, Side,
    Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::Deserialize;

pub use crate::decode::WireError;
use crate::decode::{decimal, from_json, price};
use crate::limiter::{LimitKind, RateLimitWindow, RateLimits};

// ---------------------------------------------------------------------------------------------
// GET /api/v3/time

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTimeWire {
    server_time: EpochMillis,
}

/// # Errors
/// [`WireError`] unless the body is `{"serverTime": <ms>}`.
pub fn parse_server_time(body: &[u8]) -> Result<EpochMillis, WireError> {
    Ok(from_json::<ServerTimeWire>(body)?.server_time)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/exchangeInfo

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfoWire {
    #[serde(default)]
    rate_limits: Vec<RateLimitWire>,
    symbols: Vec<SymbolWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitWire {
    rate_limit_type: String,
    interval: String,
    interval_num: u32,
    limit: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolWire {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    #[serde(default)]
    filters: Vec<serde_json::Value>,
}

/// One market of exchangeInfo: its exchange spelling, its canonical symbol and its rules (or
/// why they could not be read, so one odd market does not hide all the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketEntry {
    pub exchange_symbol: String,
    pub symbol: Symbol,
    pub filters: Result<MarketFilters, WireError>,
}

/// What exchangeInfo tells this client: the rate limits and the markets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeInfo {
    pub rate_limits: RateLimits,
    pub markets: Vec<MarketEntry>,
}

/// # Errors
/// [`WireError`] when the body is not exchangeInfo or a rate limit has an unknown interval.
/// Markets whose assets are not valid asset codes are left out (nothing can ask for them);
/// markets whose filters cannot be read are kept with the error.
pub fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, WireError> {
    let info: ExchangeInfoWire = from_json(body)?;
    let mut windows = Vec::new();
    for (i, rl) in info.rate_limits.iter().enumerate() {
        let kind = match rl.rate_limit_type.as_str() {
            "REQUEST_WEIGHT" => LimitKind::RequestWeight,
            "ORDERS" => LimitKind::Orders,
            // RAW_REQUESTS and future kinds: the weight limit is always the tighter one here.
            _ => continue,
        };
        let window = RateLimitWindow::new(kind, &rl.interval, rl.interval_num, rl.limit)
            .map_err(|reason| WireError::new(format!("rateLimits[{i}]"), reason))?;
        windows.push(window);
    }
    let markets = info
        .symbols
        .into_iter()
        .filter_map(|s| {
            let base = Asset::new(&s.base_asset).ok()?;
            let quote = Asset::new(&s.quote_asset).ok()?;
            let symbol = Symbol::new(base, quote).ok()?;
            let filters = market_filters(&symbol, &s);
            Some(MarketEntry {
                exchange_symbol: s.symbol,
                symbol,
                filters,
            })
        })
        .collect();
    Ok(ExchangeInfo {
        rate_limits: RateLimits::new(windows),
        markets,
    })
}

fn market_filters(symbol: &Symbol, s: &SymbolWire) -> Result<MarketFilters, WireError> {
    let at = |field: &str| format!("symbols[{}].{field}", s.symbol);
    let filter = |kind: &str| {
        s.filters
            .iter()
            .find(|f| f.get("filterType").and_then(|t| t.as_str()) == Some(kind))
    };
    let field = |f: &serde_json::Value, kind: &str, name: &str| -> Result<Decimal, WireError> {
        let path = at(&format!("filters[{kind}].{name}"));
        let text = f
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| WireError::new(path.clone(), "missing or not a string"))?;
        decimal(&path, text)
    };
    let price_filter =
        filter("PRICE_FILTER").ok_or_else(|| WireError::new(at("filters"), "no PRICE_FILTER"))?;
    let lot = filter("LOT_SIZE").ok_or_else(|| WireError::new(at("filters"), "no LOT_SIZE"))?;
    // NOTIONAL replaced MIN_NOTIONAL on most markets; either may be present.
    let min_notional = match (filter("NOTIONAL"), filter("MIN_NOTIONAL")) {
        (Some(f), _) => field(f, "NOTIONAL", "minNotional")?,
        (None, Some(f)) => field(f, "MIN_NOTIONAL", "minNotional")?,
        (None, None) => Decimal::ZERO,
    };
    let max_qty = field(lot, "LOT_SIZE", "maxQty")?;
    let status = TradingStatus::parse(&s.status)
        .ok_or_else(|| WireError::new(at("status"), format!("unknown status {:?}", s.status)))?;
    MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: field(price_filter, "PRICE_FILTER", "tickSize")?,
        step_size: field(lot, "LOT_SIZE", "stepSize")?,
        min_qty: field(lot, "LOT_SIZE", "minQty")?,
        // A zero maximum means "no maximum" on the exchange.
        max_qty: (max_qty > Decimal::ZERO).then_some(max_qty),
        min_notional,
        status,
    })
    .map_err(|e| WireError::new(at("filters"), e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/depth

#[derive(Deserialize)]
struct DepthWire {
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

/// The top `max_levels` of each side of an order book answer.
///
/// # Errors
/// [`WireError`] when a level is unreadable or the book is invalid (crossed, unordered).
pub fn parse_depth(
    body: &[u8],
    symbol: &Symbol,
    max_levels: usize,
) -> Result<OrderBook, WireError> {
    let mut depth: DepthWire = from_json(body)?;
    depth.bids.truncate(max_levels);
    depth.asks.truncate(max_levels);
    let levels = |side: &str, raw: &[[String; 2]]| -> Result<Vec<Level>, WireError> {
        raw.iter()
            .enumerate()
            .map(|(i, [p, q])| {
                Ok(Level {
                    price: price(&format!("{side}[{i}][0]"), p)?,
                    quantity: decimal(&format!("{side}[{i}][1]"), q)?,
                })
            })
            .collect()
    };
    let bids = levels("bids", &depth.bids)?;
    let asks = levels("asks", &depth.asks)?;
    OrderBook::new(symbol.clone(), bids, asks).map_err(|e| WireError::new("body", e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/account

#[derive(Deserialize)]
struct AccountWire {
    balances: Vec<BalanceWire>,
}

#[derive(Deserialize)]
struct BalanceWire {
    asset: String,
    free: String,
    locked: String,
}

/// The non-zero balances of the account.
///
/// # Errors
/// [`WireError`] when an amount is unreadable or negative, or a held asset has a code the
/// domain cannot represent.
pub fn parse_account(body: &[u8]) -> Result<Vec<Balance>, WireError> {
    let account: AccountWire = from_json(body)?;
    let mut balances = Vec::new();
    for (i, b) in account.balances.iter().enumerate() {
        let free = decimal(&format!("balances[{i}].free"), &b.free)?;
        let locked = decimal(&format!("balances[{i}].locked"), &b.locked)?;
        // The account lists every asset the exchange knows; only held ones matter.
        if free.is_zero() && locked.is_zero() {
            continue;
        }
        if free.is_sign_negative() || locked.is_sign_negative() {
            return Err(WireError::new(
                format!("balances[{i}]"),
                format!(
                    "negative balance of {}: {} free, {} locked",
                    b.asset, b.free, b.locked
                ),
            ));
        }
        let asset = Asset::new(&b.asset)
            .map_err(|e| WireError::new(format!("balances[{i}].asset"), e.to_string()))?;
        balances.push(Balance {
            asset,
            free: free.normalize(),
            locked: locked.normalize(),
        });
    }
    Ok(balances)
}

// ---------------------------------------------------------------------------------------------
// Orders: POST (FULL), GET, DELETE /api/v3/order and GET /api/v3/openOrders

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderWire {
    symbol: String,
    order_id: u64,
    client_order_id: String,
    /// Only on a cancel: the order's own id (`clientOrderId` is then the cancel's id).
    orig_client_order_id: Option<String>,
    price: String,
    orig_qty: String,
    executed_qty: String,
    // Spelled this way by the exchange.
    cummulative_quote_qty: String,
    status: ExchangeOrderStatus,
    side: Side,
    #[serde(default)]
    fills: Vec<FillWire>,
    update_time: Option<EpochMillis>,
    transact_time: Option<EpochMillis>,
    time: Option<EpochMillis>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillWire {
    price: String,
    qty: String,
    commission: String,
    commission_asset: String,
}

/// An order response (placement with `newOrderRespType=FULL`, query or cancel) for `symbol`,
/// which the exchange spells `exchange_symbol`.
///
/// # Errors
/// [`WireError`] naming the field that is missing, unreadable or for another market.
pub fn parse_order(
    body: &[u8],
    symbol: &Symbol,
    exchange_symbol: &str,
) -> Result<OrderReport, WireError> {
    order_report(from_json(body)?, symbol, exchange_symbol, "")
}

/// A list of order responses (open orders) for one market.
///
/// # Errors
/// [`WireError`] as for [`parse_order`], with the index of the order.
pub fn parse_orders(
    body: &[u8],
    symbol: &Symbol,
    exchange_symbol: &str,
) -> Result<Vec<OrderReport>, WireError> {
    let orders: Vec<OrderWire> = from_json(body)?;
    orders
        .into_iter()
        .enumerate()
        .map(|(i, o)| order_report(o, symbol, exchange_symbol, &format!("[{i}].")))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TradeWire {
    symbol: String,
    order_id: u64,
    price: String,
    qty: String,
    commission: String,
    commission_asset: String,
}

/// The account's trade list (`myTrades`) for one order of `symbol`: one fill per trade.
///
/// # Errors
/// [`WireError`] naming the index and field that is missing, unreadable, for another market or
/// for another order.
pub fn parse_trades(
    body: &[u8],
    exchange_symbol: &str,
    order_id: u64,
) -> Result<Vec<Fill>, WireError> {
    let trades: Vec<TradeWire> = from_json(body)?;
    trades
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let g = |name: &str| format!("[{i}].{name}");
            if t.symbol != exchange_symbol {
                return Err(WireError::new(
                    g("symbol"),
                    format!(
                        "{:?} is not the market asked for, {exchange_symbol:?}",
                        t.symbol
                    ),
                ));
            }
            if t.order_id != order_id {
                return Err(WireError::new(
                    g("orderId"),
                    format!("{} is not the order asked for, {order_id}", t.order_id),
                ));
            }
            Ok(Fill {
                price: price(&g("price"), &t.price)?,
                quantity: decimal(&g("qty"), &t.qty)?.normalize(),
                commission: decimal(&g("commission"), &t.commission)?.normalize(),
                commission_asset: Asset::new(&t.commission_asset)
                    .map_err(|e| WireError::new(g("commissionAsset"), e.to_string()))?,
            })
        })
        .collect()
}

fn order_report(
    o: OrderWire,
    symbol: &Symbol,
    exchange_symbol: &str,
    at: &str,
) -> Result<OrderReport, WireError> {
    let f = |name: &str| format!("{at}{name}");
    if o.symbol != exchange_symbol {
        return Err(WireError::new(
            f("symbol"),
            format!(
                "{:?} is not the market asked for, {exchange_symbol:?}",
                o.symbol
            ),
        ));
    }
    let own_id = o
        .orig_client_order_id
        .as_deref()
        .unwrap_or(&o.client_order_id);
    let client_order_id = ClientOrderId::parse(own_id)
        .map_err(|e| WireError::new(f("clientOrderId"), e.to_string()))?;
    let fills = o
        .fills
        .iter()
        .enumerate()
        .map(|(i, fill)| {
            let g = |name: &str| f(&format!("fills[{i}].{name}"));
            Ok(Fill {
                price: price(&g("price"), &fill.price)?,
                quantity: decimal(&g("qty"), &fill.qty)?.normalize(),
                commission: decimal(&g("commission"), &fill.commission)?.normalize(),
                commission_asset: Asset::new(&fill.commission_asset)
                    .map_err(|e| WireError::new(g("commissionAsset"), e.to_string()))?,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    let updated_at_ms = o
        .update_time
        .or(o.transact_time)
        .or(o.time)
        .ok_or_else(|| WireError::new(f("updateTime"), "none of updateTime, transactTime, time"))?;
    Ok(OrderReport {
        symbol: symbol.clone(),
        exchange_order_id: o.order_id.into(),
        client_order_id,
        side: o.side,
        price: price(&f("price"), &o.price)?,
        orig_qty: decimal(&f("origQty"), &o.orig_qty)?.normalize(),
        executed_qty: decimal(&f("executedQty"), &o.executed_qty)?.normalize(),
        cumulative_quote_qty: decimal(&f("cummulativeQuoteQty"), &o.cummulative_quote_qty)?
            .normalize(),
        status: o.status,
        fills,
        updated_at_ms,
    })
}
