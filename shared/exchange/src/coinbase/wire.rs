//! Coinbase Advanced Trade's JSON, read into domain types. Amounts arrive as decimal strings
//! and become `Decimal`s exactly; times are RFC 3339. Anything unreadable is a [`WireError`]
//! naming the field and the value; no input panics (`tests/fuzz.rs`).
//!
//! Lists are read item by item where one odd item must not hide the others: a product whose
//! increments cannot be read keeps its error, an order page is scanned by client order id
//! before the one wanted is read whole.

use std::collections::BTreeMap;

use driftline_core::ports::{Balance, ExchangeOrderId, ExchangeOrderStatus, Fill, OrderReport};
use driftline_core::{
    Asset, ClientOrderId, EpochMillis, Level, MarketFilters, MarketFiltersFields, OrderBook, Side,
    Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::decode::WireError;
use crate::decode::{decimal, from_json, price};

/// A decimal that Coinbase may leave empty (`""`) or out when it is zero.
fn decimal_or_zero(field: &str, value: Option<&str>) -> Result<Decimal, WireError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Decimal::ZERO),
        Some(v) => decimal(field, v),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2027-01-15T08:00:00.123Z`).
///
/// # Errors
/// [`WireError`] naming `field` when `value` is not such a time.
pub fn rfc3339_ms(field: &str, value: &str) -> Result<EpochMillis, WireError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| WireError::new(field, format!("{value:?} is not an RFC 3339 time: {e}")))
}

/// An RFC 3339 UTC time with seconds, as Coinbase's date filters take it.
pub(super) fn rfc3339(ms: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/time

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWire {
    epoch_millis: Value,
}

/// # Errors
/// [`WireError`] unless the body carries `epochMillis` as digits (string or number).
pub fn parse_time(body: &[u8]) -> Result<EpochMillis, WireError> {
    let t: TimeWire = from_json(body)?;
    let ms = match &t.epoch_millis {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    ms.ok_or_else(|| WireError::new("epochMillis", format!("{} is not a time", t.epoch_millis)))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/market/products

#[derive(Deserialize)]
struct ProductsWire {
    products: Vec<Value>,
}

#[derive(Deserialize)]
struct ProductWire {
    product_id: String,
    base_currency_id: String,
    quote_currency_id: String,
    #[serde(default)]
    product_type: Option<String>,
}

#[derive(Deserialize)]
struct ProductRulesWire {
    base_increment: String,
    #[serde(default)]
    price_increment: Option<String>,
    #[serde(default)]
    quote_increment: Option<String>,
    base_min_size: String,
    #[serde(default)]
    base_max_size: Option<String>,
    #[serde(default)]
    quote_min_size: Option<String>,
    status: String,
    #[serde(default)]
    trading_disabled: bool,
    #[serde(default)]
    is_disabled: bool,
    #[serde(default)]
    cancel_only: bool,
    #[serde(default)]
    post_only: bool,
    #[serde(default)]
    auction_mode: bool,
}

/// One product: Coinbase's id, the canonical symbol, and its rules (or why they could not be
/// read, so one odd product does not hide the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: String,
    pub symbol: Symbol,
    pub filters: Result<MarketFilters, WireError>,
}

/// The spot products of a product list. Products whose currencies are not valid asset codes,
/// or that are not spot, are left out (nothing can ask for them); products whose rules cannot
/// be read are kept with the error.
///
/// # Errors
/// [`WireError`] when the body is not a product list.
pub fn parse_products(body: &[u8]) -> Result<Vec<Product>, WireError> {
    let list: ProductsWire = from_json(body)?;
    Ok(list
        .products
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let p: ProductWire = serde_json::from_value(raw.clone()).ok()?;
            if p.product_type.as_deref().is_some_and(|t| t != "SPOT") {
                return None;
            }
            let base = Asset::new(&p.base_currency_id).ok()?;
            let quote = Asset::new(&p.quote_currency_id).ok()?;
            let symbol = Symbol::new(base, quote).ok()?;
            let filters = product_filters(&symbol, &format!("products[{i}]"), raw);
            Some(Product {
                product_id: p.product_id,
                symbol,
                filters,
            })
        })
        .collect())
}

fn product_filters(symbol: &Symbol, at: &str, raw: Value) -> Result<MarketFilters, WireError> {
    let f = |name: &str| format!("{at}.{name}");
    let r: ProductRulesWire =
        serde_json::from_value(raw).map_err(|e| WireError::new(at, e.to_string()))?;
    let tick = match (&r.price_increment, &r.quote_increment) {
        (Some(p), _) if !p.trim().is_empty() => decimal(&f("price_increment"), p)?,
        (_, Some(q)) => decimal(&f("quote_increment"), q)?,
        _ => return Err(WireError::new(f("price_increment"), "missing")),
    };
    let max_qty = decimal_or_zero(&f("base_max_size"), r.base_max_size.as_deref())?;
    // Trading in full only when online and nothing restricts it; a product that only cancels
    // or only takes post-only orders cannot take driftline's orders as they are.
    let status = if r.status != "online" || r.trading_disabled || r.is_disabled {
        TradingStatus::Halt
    } else if r.cancel_only || r.post_only {
        TradingStatus::Break
    } else if r.auction_mode {
        TradingStatus::AuctionMatch
    } else {
        TradingStatus::Trading
    };
    MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: tick,
        step_size: decimal(&f("base_increment"), &r.base_increment)?,
        min_qty: decimal(&f("base_min_size"), &r.base_min_size)?,
        // An empty or zero maximum means none.
        max_qty: (max_qty > Decimal::ZERO).then_some(max_qty),
        min_notional: decimal_or_zero(&f("quote_min_size"), r.quote_min_size.as_deref())?,
        status,
    })
    .map_err(|e| WireError::new(at, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/market/product_book

#[derive(Deserialize)]
struct BookWire {
    pricebook: PricebookWire,
}

#[derive(Deserialize)]
struct PricebookWire {
    product_id: String,
    bids: Vec<LevelWire>,
    asks: Vec<LevelWire>,
}

#[derive(Deserialize)]
struct LevelWire {
    price: String,
    size: String,
}

/// The top `max_levels` of each side of `product_id`'s book.
///
/// # Errors
/// [`WireError`] when a level is unreadable, the book is for another product, or it is invalid
/// (crossed, unordered).
pub fn parse_product_book(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
    max_levels: usize,
) -> Result<OrderBook, WireError> {
    let mut book: BookWire = from_json(body)?;
    if book.pricebook.product_id != product_id {
        return Err(WireError::new(
            "pricebook.product_id",
            format!(
                "{:?} is not the product asked for, {product_id:?}",
                book.pricebook.product_id
            ),
        ));
    }
    book.pricebook.bids.truncate(max_levels);
    book.pricebook.asks.truncate(max_levels);
    let levels = |side: &str, raw: &[LevelWire]| -> Result<Vec<Level>, WireError> {
        raw.iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(Level {
                    price: price(&format!("pricebook.{side}[{i}].price"), &l.price)?,
                    quantity: decimal(&format!("pricebook.{side}[{i}].size"), &l.size)?,
                })
            })
            .collect()
    };
    let bids = levels("bids", &book.pricebook.bids)?;
    let asks = levels("asks", &book.pricebook.asks)?;
    OrderBook::new(symbol.clone(), bids, asks)
        .map_err(|e| WireError::new("pricebook", e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/accounts

#[derive(Deserialize)]
struct AccountsWire {
    accounts: Vec<WalletWire>,
    #[serde(default)]
    has_next: bool,
    #[serde(default)]
    cursor: String,
}

#[derive(Deserialize)]
struct WalletWire {
    currency: String,
    available_balance: AmountWire,
    hold: AmountWire,
}

#[derive(Deserialize)]
struct AmountWire {
    value: String,
}

/// One page of wallets: each currency's free (`available_balance`) and locked (`hold`)
/// amounts, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletPage {
    pub wallets: Vec<(String, Decimal, Decimal)>,
    pub next_cursor: Option<String>,
}

/// # Errors
/// [`WireError`] when an amount is unreadable or negative.
pub fn parse_accounts(body: &[u8]) -> Result<WalletPage, WireError> {
    let page: AccountsWire = from_json(body)?;
    let wallets = page
        .accounts
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let free = decimal(
                &format!("accounts[{i}].available_balance.value"),
                &w.available_balance.value,
            )?;
            let locked = decimal(&format!("accounts[{i}].hold.value"), &w.hold.value)?;
            if free.is_sign_negative() || locked.is_sign_negative() {
                return Err(WireError::new(
                    format!("accounts[{i}]"),
                    format!(
                        "negative balance of {}: {free} free, {locked} held",
                        w.currency
                    ),
                ));
            }
            Ok((w.currency.clone(), free, locked))
        })
        .collect::<Result<_, WireError>>()?;
    Ok(WalletPage {
        wallets,
        next_cursor: next_cursor(page.has_next, page.cursor),
    })
}

fn next_cursor(has_next: bool, cursor: String) -> Option<String> {
    (has_next && !cursor.is_empty()).then_some(cursor)
}

/// The held balances of every page, one per currency (wallets of one currency are added up),
/// by asset code.
///
/// # Errors
/// [`WireError`] when a held currency's code is not a valid asset code.
pub fn balances(wallets: &[(String, Decimal, Decimal)]) -> Result<Vec<Balance>, WireError> {
    let mut by_asset: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for (currency, free, locked) in wallets {
        let total = by_asset.entry(currency).or_default();
        let sum = total.0.checked_add(*free).zip(total.1.checked_add(*locked));
        *total = sum.ok_or_else(|| {
            WireError::new(
                format!("accounts[{currency}]"),
                "balances too large to add up",
            )
        })?;
    }
    by_asset
        .into_iter()
        // Coinbase lists a wallet for every currency it trades; only held ones matter.
        .filter(|(_, (free, locked))| !(free.is_zero() && locked.is_zero()))
        .map(|(currency, (free, locked))| {
            let asset = Asset::new(currency).map_err(|e| {
                WireError::new(format!("accounts[{currency}].currency"), e.to_string())
            })?;
            Ok(Balance {
                asset,
                free: free.normalize(),
                locked: locked.normalize(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Orders: GET orders/historical/{id}, GET orders/historical/batch

#[derive(Deserialize)]
struct OneOrderWire {
    order: Value,
}

#[derive(Deserialize)]
struct OrderWire {
    order_id: String,
    product_id: String,
    #[serde(default)]
    client_order_id: Option<String>,
    side: String,
    status: String,
    #[serde(default)]
    order_configuration: Option<Value>,
    #[serde(default)]
    filled_size: Option<String>,
    #[serde(default)]
    filled_value: Option<String>,
    #[serde(default)]
    average_filled_price: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    last_fill_time: Option<String>,
}

#[derive(Deserialize)]
struct OrderPageWire {
    orders: Vec<Value>,
    #[serde(default)]
    has_next: bool,
    #[serde(default)]
    cursor: String,
}

/// One page of an order list, each order kept as sent until it is read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPage {
    pub orders: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// # Errors
/// [`WireError`] when the body is not an order list.
pub fn parse_order_page(body: &[u8]) -> Result<OrderPage, WireError> {
    let page: OrderPageWire = from_json(body)?;
    Ok(OrderPage {
        orders: page.orders,
        next_cursor: next_cursor(page.has_next, page.cursor),
    })
}

/// The `client_order_id` an order of a list was placed with, as sent.
pub fn client_order_id_of(order: &Value) -> Option<&str> {
    order.get("client_order_id").and_then(Value::as_str)
}

/// An order answer (`{"order": {...}}`) for `symbol`, which Coinbase calls `product_id`.
///
/// # Errors
/// [`WireError`] naming the field that is missing, unreadable or for another product.
pub fn parse_order(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
) -> Result<OrderReport, WireError> {
    let one: OneOrderWire = from_json(body)?;
    order_report(one.order, symbol, product_id, "order.")
}

/// One order of a list page, read whole.
///
/// # Errors
/// [`WireError`] as for [`parse_order`].
pub fn parse_order_value(
    order: Value,
    symbol: &Symbol,
    product_id: &str,
) -> Result<OrderReport, WireError> {
    order_report(order, symbol, product_id, "order.")
}

/// Every order of a list page, for one product.
///
/// # Errors
/// [`WireError`] as for [`parse_order`], with the index of the order.
pub fn parse_orders(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
) -> Result<Vec<OrderReport>, WireError> {
    parse_order_page(body)?
        .orders
        .into_iter()
        .enumerate()
        .map(|(i, o)| order_report(o, symbol, product_id, &format!("orders[{i}].")))
        .collect()
}

/// The client order id driftline reports for an order: the one it was placed with when that
/// is a valid [`ClientOrderId`] (every driftline id is); else the order's own id, a UUID,
/// which is one too; else, for an order id that is no UUID either, `cb-` and the first 32 hex
/// digits of its SHA-256. The same order always gives the same id, and none of the fallbacks
/// can be a driftline id (`dl1-...`).
pub fn report_client_order_id(client_order_id: Option<&str>, order_id: &str) -> ClientOrderId {
    if let Some(id) = client_order_id.and_then(|c| ClientOrderId::parse(c).ok()) {
        return id;
    }
    if let Ok(id) = ClientOrderId::parse(order_id) {
        if !order_id.starts_with("dl1-") {
            return id;
        }
    }
    let digest = Sha256::digest(order_id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // 3 + 32 characters of [a-z0-9-]: always valid.
    ClientOrderId::parse(&format!("cb-{hex}"))
        .unwrap_or_else(|_| unreachable!("cb- and 32 hex digits is a valid client order id"))
}

/// Coinbase's order status, with what was filled, in the port's terms.
fn status(field: &str, s: &str, filled: Decimal) -> Result<ExchangeOrderStatus, WireError> {
    Ok(match s {
        "OPEN" if filled > Decimal::ZERO => ExchangeOrderStatus::PartiallyFilled,
        // Accepted and not yet working, or working: both may still fill.
        "OPEN" | "PENDING" | "QUEUED" | "UNKNOWN_ORDER_STATUS" | "EDIT_QUEUED" => {
            ExchangeOrderStatus::New
        }
        "CANCEL_QUEUED" => ExchangeOrderStatus::PendingCancel,
        "FILLED" => ExchangeOrderStatus::Filled,
        "CANCELLED" => ExchangeOrderStatus::Canceled,
        "EXPIRED" => ExchangeOrderStatus::Expired,
        "FAILED" => ExchangeOrderStatus::Rejected,
        other => return Err(WireError::new(field, format!("unknown status {other:?}"))),
    })
}

fn order_report(
    raw: Value,
    symbol: &Symbol,
    product_id: &str,
    at: &str,
) -> Result<OrderReport, WireError> {
    let f = |name: &str| format!("{at}{name}");
    let o: OrderWire = serde_json::from_value(raw)
        .map_err(|e| WireError::new(at.trim_end_matches('.'), e.to_string()))?;
    if o.product_id != product_id {
        return Err(WireError::new(
            f("product_id"),
            format!(
                "{:?} is not the product asked for, {product_id:?}",
                o.product_id
            ),
        ));
    }
    let side = match o.side.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => return Err(WireError::new(f("side"), format!("unknown side {other:?}"))),
    };
    let executed = decimal_or_zero(&f("filled_size"), o.filled_size.as_deref())?;
    let filled_value = decimal_or_zero(&f("filled_value"), o.filled_value.as_deref())?;
    // The order's one configuration (`limit_limit_gtc`, `sor_limit_ioc`, ...) holds its size
    // and limit price.
    let config = o
        .order_configuration
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|m| m.iter().next());
    let config_field = |name: &str| -> Result<Option<Decimal>, WireError> {
        let Some((kind, c)) = config else {
            return Ok(None);
        };
        match c.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                decimal(&f(&format!("order_configuration.{kind}.{name}")), s).map(Some)
            }
            Some(other) => Err(WireError::new(
                f(&format!("order_configuration.{kind}.{name}")),
                format!("{other} is not a decimal string"),
            )),
        }
    };
    let limit_price = match config_field("limit_price")? {
        Some(p) => p,
        // A market order has no limit: its average fill price stands in.
        None => decimal_or_zero(
            &f("average_filled_price"),
            o.average_filled_price.as_deref(),
        )?,
    };
    let price = driftline_core::Price::new(limit_price)
        .map_err(|e| WireError::new(f("order_configuration.limit_price"), e.to_string()))?;
    // An order sized in quote has no base size: what it filled is its size.
    let orig_qty = config_field("base_size")?.unwrap_or(executed);
    let updated = match (&o.last_fill_time, &o.created_time) {
        (Some(t), _) if !t.trim().is_empty() => rfc3339_ms(&f("last_fill_time"), t)?,
        (_, Some(t)) => rfc3339_ms(&f("created_time"), t)?,
        _ => return Err(WireError::new(f("created_time"), "missing")),
    };
    Ok(OrderReport {
        symbol: symbol.clone(),
        client_order_id: report_client_order_id(o.client_order_id.as_deref(), &o.order_id),
        exchange_order_id: ExchangeOrderId::new(o.order_id),
        side,
        price,
        orig_qty: orig_qty.normalize(),
        executed_qty: executed.normalize(),
        cumulative_quote_qty: filled_value.normalize(),
        status: status(&f("status"), &o.status, executed)?,
        // Coinbase's order answers carry no fills; `order_fills` lists them.
        fills: Vec::new(),
        updated_at_ms: updated,
    })
}

// ---------------------------------------------------------------------------------------------
// POST /api/v3/brokerage/orders

#[derive(Deserialize)]
struct CreateWire {
    success: bool,
    #[serde(default)]
    success_response: Option<CreatedWire>,
    #[serde(default)]
    failure_reason: Option<Value>,
    #[serde(default)]
    error_response: Option<ErrorResponseWire>,
}

#[derive(Deserialize)]
struct CreatedWire {
    order_id: String,
    #[serde(default)]
    product_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorResponseWire {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_details: Option<String>,
    #[serde(default)]
    preview_failure_reason: Option<String>,
    #[serde(default)]
    new_order_failure_reason: Option<String>,
}

/// What a placement's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The order that has this client order id: placed now, or (Coinbase's rule for a
    /// repeated `client_order_id`) placed before.
    Order {
        order_id: String,
        product_id: Option<String>,
    },
    /// Refused for the order's own sake (`success: false`): nothing was placed. The message
    /// is Coinbase's reason and words.
    Refused { message: String },
}

/// # Errors
/// [`WireError`] when the body is not a placement answer, or says `success` without an order id.
pub fn parse_create_order(body: &[u8]) -> Result<Created, WireError> {
    let c: CreateWire = from_json(body)?;
    if c.success {
        let created = c
            .success_response
            .filter(|r| !r.order_id.trim().is_empty())
            .ok_or_else(|| WireError::new("success_response.order_id", "missing"))?;
        return Ok(Created::Order {
            order_id: created.order_id,
            product_id: created.product_id,
        });
    }
    let e = c.error_response.unwrap_or_default();
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    // The most specific of the reasons Coinbase gives: a generic UNKNOWN_FAILURE_REASON is
    // followed by the preview's, which names the limit (PREVIEW_INVALID_BASE_SIZE_TOO_SMALL).
    let older = c
        .failure_reason
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_owned);
    let reason = nonempty(&e.error)
        .or_else(|| nonempty(&e.new_order_failure_reason))
        .or(older)
        .unwrap_or_else(|| "UNKNOWN_FAILURE_REASON".to_owned());
    let preview = nonempty(&e.preview_failure_reason)
        .filter(|p| reason.starts_with("UNKNOWN") && !p.starts_with("UNKNOWN"));
    let text = nonempty(&e.message).or_else(|| nonempty(&e.error_details));
    let mut message = reason;
    if let Some(p) = preview {
        message = format!("{message} ({p})");
    }
    if let Some(t) = text {
        message = format!("{message}: {t}");
    }
    Ok(Created::Refused { message })
}

// ---------------------------------------------------------------------------------------------
// POST /api/v3/brokerage/orders/batch_cancel

#[derive(Deserialize)]
struct CancelWire {
    results: Vec<CancelResultWire>,
}

#[derive(Deserialize)]
struct CancelResultWire {
    success: bool,
    #[serde(default)]
    failure_reason: Option<String>,
    order_id: String,
}

/// Whether the cancel of `order_id` was taken, and else Coinbase's reason.
///
/// # Errors
/// [`WireError`] when the answer has no result for `order_id`.
pub fn parse_cancel(body: &[u8], order_id: &str) -> Result<Result<(), String>, WireError> {
    let c: CancelWire = from_json(body)?;
    let r = c
        .results
        .into_iter()
        .find(|r| r.order_id == order_id)
        .ok_or_else(|| WireError::new("results", format!("no result for order {order_id:?}")))?;
    Ok(if r.success {
        Ok(())
    } else {
        Err(r
            .failure_reason
            .unwrap_or_else(|| "UNKNOWN_CANCEL_FAILURE_REASON".to_owned()))
    })
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/orders/historical/fills

#[derive(Deserialize)]
struct FillsWire {
    fills: Vec<FillWire>,
    #[serde(default)]
    cursor: String,
}

#[derive(Deserialize)]
struct FillWire {
    order_id: String,
    product_id: String,
    price: String,
    size: String,
    commission: String,
    #[serde(default)]
    size_in_quote: bool,
}

/// One page of an order's fills, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillPage {
    pub fills: Vec<Fill>,
    pub next_cursor: Option<String>,
}

/// The fills of `order_id` on `symbol` (`product_id`). Coinbase states every commission in
/// the quote currency, so each fill's commission asset is the quote asset; a fill sized in
/// quote (`size_in_quote`) is turned into base at its price.
///
/// # Errors
/// [`WireError`] naming the index and field that is missing, unreadable, for another product
/// or for another order.
pub fn parse_fills(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
    order_id: &str,
) -> Result<FillPage, WireError> {
    let page: FillsWire = from_json(body)?;
    let fills = page
        .fills
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let g = |name: &str| format!("fills[{i}].{name}");
            if w.product_id != product_id {
                return Err(WireError::new(
                    g("product_id"),
                    format!(
                        "{:?} is not the product asked for, {product_id:?}",
                        w.product_id
                    ),
                ));
            }
            if w.order_id != order_id {
                return Err(WireError::new(
                    g("order_id"),
                    format!("{:?} is not the order asked for, {order_id:?}", w.order_id),
                ));
            }
            let price = price(&g("price"), &w.price)?;
            let size = decimal(&g("size"), &w.size)?;
            let quantity = if w.size_in_quote {
                size.checked_div(price.value())
                    .ok_or_else(|| WireError::new(g("size"), "quote size not divisible by price"))?
            } else {
                size
            };
            Ok(Fill {
                price,
                quantity: quantity.normalize(),
                commission: decimal(&g("commission"), &w.commission)?.normalize(),
                commission_asset: symbol.quote().clone(),
            })
        })
        .collect::<Result<_, WireError>>()?;
    // The fills list has no has_next: a cursor means more.
    let next = (!page.cursor.is_empty()).then_some(page.cursor);
    Ok(FillPage {
        fills,
        next_cursor: next,
    })
}

/// Coinbase's error body (`{"error": "NOT_FOUND", "message": ...}`); 401 comes as bare text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The body of an answer that is not a success, if it is Coinbase's JSON error.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|b| !b.error.is_empty() || !b.message.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc_usdt() -> Symbol {
        Symbol::new(Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap()).unwrap()
    }

    const ORDER: &str = r#"{"order":{"order_id":"11111111-2222-4333-8444-555555555555","product_id":"BTC-USDT","client_order_id":"dl1-0123456789abcdef0123456789abcdef","side":"SELL","status":"OPEN","order_configuration":{"limit_limit_gtc":{"base_size":"0.00100","limit_price":"64230.00","post_only":false}},"filled_size":"0.0004","filled_value":"25.692","average_filled_price":"64230","created_time":"2027-01-15T08:00:00.000Z","last_fill_time":"2027-01-15T08:00:01.250Z","total_fees":"0.1"}}"#;

    #[test]
    fn an_order_reads_into_its_report() {
        let r = parse_order(ORDER.as_bytes(), &btc_usdt(), "BTC-USDT").unwrap();
        assert_eq!(
            r.exchange_order_id.as_str(),
            "11111111-2222-4333-8444-555555555555"
        );
        assert_eq!(
            r.client_order_id.as_str(),
            "dl1-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(r.side, Side::Sell);
        assert_eq!(r.price.value(), dec!(64230));
        assert_eq!(
            (r.orig_qty, r.executed_qty, r.cumulative_quote_qty),
            (dec!(0.001), dec!(0.0004), dec!(25.692))
        );
        assert_eq!(r.status, ExchangeOrderStatus::PartiallyFilled);
        assert_eq!(r.updated_at_ms, 1_800_000_001_250);
        assert!(matches!(
            parse_order(ORDER.as_bytes(), &btc_usdt(), "ETH-USDT"),
            Err(e) if e.field == "order.product_id"
        ));
    }

    #[test]
    fn orders_without_a_driftline_id_get_a_deterministic_one() {
        let uuid = "11111111-2222-4333-8444-555555555555";
        assert_eq!(
            report_client_order_id(Some("dl1-abc"), uuid).as_str(),
            "dl1-abc"
        );
        // Placed by hand or by another tool: empty, too long, or other characters.
        for foreign in [None, Some(""), Some("my order!"), Some(&*"x".repeat(40))] {
            assert_eq!(report_client_order_id(foreign, uuid).as_str(), uuid);
        }
        let odd = report_client_order_id(Some("bad id"), "not/a uuid");
        assert_eq!(odd, report_client_order_id(None, "not/a uuid"));
        assert!(odd.as_str().starts_with("cb-") && odd.as_str().len() == 35);
        // An order id that looks like a driftline id is never taken for one.
        assert!(report_client_order_id(None, "dl1-x")
            .as_str()
            .starts_with("cb-"));
    }

    #[test]
    fn statuses_map_to_the_port() {
        for (s, filled, want) in [
            ("OPEN", dec!(0), ExchangeOrderStatus::New),
            ("PENDING", dec!(0), ExchangeOrderStatus::New),
            ("QUEUED", dec!(0), ExchangeOrderStatus::New),
            ("OPEN", dec!(1), ExchangeOrderStatus::PartiallyFilled),
            ("CANCEL_QUEUED", dec!(0), ExchangeOrderStatus::PendingCancel),
            ("FILLED", dec!(1), ExchangeOrderStatus::Filled),
            ("CANCELLED", dec!(0), ExchangeOrderStatus::Canceled),
            ("EXPIRED", dec!(0), ExchangeOrderStatus::Expired),
            ("FAILED", dec!(0), ExchangeOrderStatus::Rejected),
        ] {
            assert_eq!(status("s", s, filled).unwrap(), want, "{s}");
        }
        assert!(status("s", "LOST", dec!(0)).is_err());
    }

    #[test]
    fn refusals_name_the_most_specific_reason() {
        let body = br#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"UNKNOWN_FAILURE_REASON","message":"Order size is below the product's minimum","error_details":"x","preview_failure_reason":"PREVIEW_INVALID_BASE_SIZE_TOO_SMALL","new_order_failure_reason":"UNKNOWN_FAILURE_REASON"}}"#;
        assert_eq!(
            parse_create_order(body).unwrap(),
            Created::Refused {
                message: "UNKNOWN_FAILURE_REASON (PREVIEW_INVALID_BASE_SIZE_TOO_SMALL): Order size is below the product's minimum".into()
            }
        );
        let body = br#"{"success":false,"failure_reason":"INSUFFICIENT_FUND","error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"}}"#;
        assert_eq!(
            parse_create_order(body).unwrap(),
            Created::Refused {
                message: "INSUFFICIENT_FUND: Insufficient balance in source account".into()
            }
        );
        // Only the older field.
        assert_eq!(
            parse_create_order(br#"{"success":false,"failure_reason":"INVALID_SIDE"}"#).unwrap(),
            Created::Refused {
                message: "INVALID_SIDE".into()
            }
        );
        assert!(
            parse_create_order(br#"{"success":true,"success_response":{"order_id":""}}"#).is_err()
        );
    }

    #[test]
    fn products_keep_their_rules_or_their_error() {
        let body = br#"{"products":[
            {"product_id":"BTC-USDT","base_currency_id":"BTC","quote_currency_id":"USDT","product_type":"SPOT","base_increment":"0.00000001","quote_increment":"0.01","price_increment":"0.01","base_min_size":"0.00000001","base_max_size":"3400","quote_min_size":"1","status":"online","trading_disabled":false,"cancel_only":false,"post_only":false},
            {"product_id":"ETH-USDT","base_currency_id":"ETH","quote_currency_id":"USDT","base_increment":"oops","price_increment":"0.01","base_min_size":"0.0001","status":"online"},
            {"product_id":"SOL-USDT","base_currency_id":"SOL","quote_currency_id":"USDT","base_increment":"0.001","price_increment":"0.01","base_min_size":"0.001","base_max_size":"","status":"delisted","trading_disabled":true},
            {"product_id":"BIT-PERP","base_currency_id":"BIT","quote_currency_id":"USD","product_type":"FUTURE","base_increment":"1","price_increment":"1","base_min_size":"1","status":"online"},
            {"product_id":"weird","base_currency_id":"bad code!","quote_currency_id":"USD"}
        ]}"#;
        let products = parse_products(body).unwrap();
        assert_eq!(products.len(), 3);
        let btc = products[0].filters.as_ref().unwrap();
        assert_eq!(
            (
                btc.tick_size(),
                btc.step_size(),
                btc.min_qty(),
                btc.max_qty(),
                btc.min_notional()
            ),
            (
                dec!(0.01),
                dec!(0.00000001),
                dec!(0.00000001),
                Some(dec!(3400)),
                dec!(1)
            )
        );
        assert_eq!(btc.status(), &TradingStatus::Trading);
        assert_eq!(
            products[1].filters.as_ref().unwrap_err().field,
            "products[1].base_increment"
        );
        let sol = products[2].filters.as_ref().unwrap();
        assert_eq!(
            (sol.status(), sol.max_qty(), sol.min_notional()),
            (&TradingStatus::Halt, None, dec!(0))
        );
    }

    #[test]
    fn fills_state_commission_in_quote_and_quote_sizes_in_base() {
        let body = br#"{"fills":[{"order_id":"o1","product_id":"BTC-USDT","price":"100","size":"0.3","commission":"0.06","size_in_quote":false},{"order_id":"o1","product_id":"BTC-USDT","price":"100","size":"25","commission":"0.05","size_in_quote":true}],"cursor":""}"#;
        let page = parse_fills(body, &btc_usdt(), "BTC-USDT", "o1").unwrap();
        assert_eq!(page.next_cursor, None);
        assert_eq!(
            page.fills
                .iter()
                .map(|f| (f.quantity, f.commission, f.commission_asset.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (dec!(0.3), dec!(0.06), "USDT"),
                (dec!(0.25), dec!(0.05), "USDT")
            ]
        );
        assert!(parse_fills(body, &btc_usdt(), "BTC-USDT", "o2").is_err());
    }

    #[test]
    fn wallets_add_up_per_currency_and_skip_empty_ones() {
        let body = br#"{"accounts":[{"currency":"BTC","available_balance":{"value":"1.5","currency":"BTC"},"hold":{"value":"0","currency":"BTC"}},{"currency":"BTC","available_balance":{"value":"0.5","currency":"BTC"},"hold":{"value":"0.1","currency":"BTC"}},{"currency":"ETH","available_balance":{"value":"0","currency":"ETH"},"hold":{"value":"0","currency":"ETH"}}],"has_next":true,"cursor":"abc"}"#;
        let page = parse_accounts(body).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("abc"));
        let b = balances(&page.wallets).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].asset.as_str(), b[0].free, b[0].locked),
            ("BTC", dec!(2), dec!(0.1))
        );
    }

    #[test]
    fn times_read_and_write_as_rfc3339() {
        assert_eq!(
            rfc3339_ms("t", "2027-01-15T08:00:00.123Z").unwrap(),
            1_800_000_000_123
        );
        assert_eq!(
            rfc3339_ms("t", "2027-01-15T08:00:00.123456+00:00").unwrap(),
            1_800_000_000_123
        );
        assert!(rfc3339_ms("t", "yesterday").is_err());
        assert_eq!(rfc3339(1_800_000_000_123), "2027-01-15T08:00:00Z");
        assert_eq!(
            parse_time(br#"{"iso":"x","epochSeconds":"1800000000","epochMillis":"1800000000123"}"#)
                .unwrap(),
            1_800_000_000_123
        );
    }
}
