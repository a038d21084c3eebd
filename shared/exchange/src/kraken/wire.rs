//! Kraken's JSON, read into domain types. Every answer is `{"error": [...], "result": ...}`;
//! amounts are strings and become `Decimal` exactly, times are seconds as JSON numbers and
//! become milliseconds through their decimal text (never float arithmetic). Anything
//! unreadable is a [`WireError`] naming the field (`result.XXBTZUSD.asks[0]`) and the value.
//!
//! Names: Kraken keys assets `XXBT`, `ZUSD`, `USDT` and gives each an altname (`XBT`, `USD`);
//! driftline's asset is the altname, with Kraken's `XBT` and `XDG` read as `BTC` and `DOGE`.
//! Balances and pairs name assets by key, so both go through `Assets`.

use std::collections::BTreeMap;

use driftline_core::ports::{Balance, ExchangeOrderId, ExchangeOrderStatus, Fill, OrderReport};
use driftline_core::{
    Asset, EpochMillis, Level, MarketFilters, MarketFiltersFields, OrderBook, Side, Symbol,
    TradingStatus,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{Number, Value};

use super::ids;
use crate::decode::{decimal, from_json, price, WireError};

/// Kraken's altnames that driftline spells otherwise.
const RENAMED: [(&str, &str); 2] = [("XBT", "BTC"), ("XDG", "DOGE")];

/// driftline's asset for a Kraken altname; `None` for one driftline cannot hold (an earn or
/// staking wallet such as `ETH2.S`).
pub fn asset_of_altname(altname: &str) -> Option<Asset> {
    let code = RENAMED
        .iter()
        .find(|(kraken, _)| *kraken == altname)
        .map_or(altname, |(_, ours)| ours);
    Asset::new(code).ok()
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    error: Vec<String>,
}

/// The errors of an answer (`E...`); warnings (`W...`) are not errors.
///
/// # Errors
/// [`WireError`] when the body is not Kraken's envelope.
pub fn parse_errors(body: &[u8]) -> Result<Vec<String>, WireError> {
    let envelope: Errors = from_json(body)?;
    Ok(envelope
        .error
        .into_iter()
        .filter(|e| !e.starts_with('W'))
        .collect())
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    error: Vec<String>,
    result: Option<T>,
}

/// The `result` of a successful answer.
fn result<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let envelope: Envelope<T> = from_json(body)?;
    if let Some(e) = envelope.error.iter().find(|e| !e.starts_with('W')) {
        return Err(WireError::new(
            "error",
            format!("the answer is an error: {e}"),
        ));
    }
    envelope
        .result
        .ok_or_else(|| WireError::new("result", "missing"))
}

/// Seconds since the epoch, as Kraken writes times (`1688148493.7708`), in milliseconds.
fn millis(field: &str, seconds: &Number) -> Result<EpochMillis, WireError> {
    if let Some(whole) = seconds.as_i64() {
        return whole
            .checked_mul(1000)
            .ok_or_else(|| WireError::new(field, format!("{seconds} is out of range")));
    }
    // The shortest text that reads back as the same float: Kraken's own digits.
    let text = seconds.to_string();
    text.parse::<Decimal>()
        .ok()
        .and_then(|s| s.checked_mul(Decimal::ONE_THOUSAND))
        .and_then(|ms| ms.trunc().to_i64())
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| WireError::new(field, format!("{text} is not a time in seconds")))
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/Time

#[derive(Deserialize)]
struct TimeWire {
    unixtime: i64,
}

/// Server time (`unixtime`, whole seconds) in milliseconds.
///
/// # Errors
/// [`WireError`] unless the body is Kraken's `Time` answer.
pub fn parse_time(body: &[u8]) -> Result<EpochMillis, WireError> {
    let time: TimeWire = result(body)?;
    time.unixtime
        .checked_mul(1000)
        .ok_or_else(|| WireError::new("result.unixtime", "out of range"))
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/Assets

#[derive(Deserialize)]
struct AssetWire {
    altname: String,
}

/// Every asset driftline can hold, by Kraken's key (`XXBT` → `BTC`). Assets whose altname is
/// not a driftline asset code (earn and staking wallets) are left out.
///
/// # Errors
/// [`WireError`] when the body is not `Assets`.
pub fn parse_assets(body: &[u8]) -> Result<BTreeMap<String, Asset>, WireError> {
    let assets: BTreeMap<String, AssetWire> = result(body)?;
    Ok(assets
        .into_iter()
        .filter_map(|(key, a)| asset_of_altname(&a.altname).map(|asset| (key, asset)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/AssetPairs

#[derive(Deserialize)]
struct PairNamesWire {
    altname: String,
    #[serde(default)]
    wsname: Option<String>,
    base: String,
    quote: String,
}

/// One market of `AssetPairs`: Kraken's names for it, driftline's symbol, and its rules (or
/// why they could not be read, so one odd pair does not hide the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrakenMarket {
    /// The pair's key (`XXBTZUSD`, `XBTUSDT`): what answers are keyed by.
    pub key: String,
    /// `XBTUSD`: what an order's `descr.pair` says.
    pub altname: String,
    pub wsname: Option<String>,
    pub symbol: Symbol,
    pub filters: Result<MarketFilters, WireError>,
}

impl KrakenMarket {
    /// Whether Kraken's `name` (key, altname or wsname) is this pair.
    pub fn answers_to(&self, name: &str) -> bool {
        name == self.key || name == self.altname || self.wsname.as_deref() == Some(name)
    }
}

/// The markets of `AssetPairs` whose assets `assets` (from [`parse_assets`]) names. Pairs keyed
/// with a dot (the retired dark-pool `.d` pairs) and pairs of an asset driftline cannot hold
/// are left out; of two pairs of one symbol the first by key is kept.
///
/// # Errors
/// [`WireError`] when the body is not `AssetPairs`.
pub fn parse_asset_pairs(
    body: &[u8],
    assets: &BTreeMap<String, Asset>,
) -> Result<Vec<KrakenMarket>, WireError> {
    let pairs: BTreeMap<String, Value> = result(body)?;
    let mut markets: Vec<KrakenMarket> = Vec::new();
    for (key, raw) in pairs {
        if key.contains('.') {
            continue;
        }
        let Ok(names) = serde_json::from_value::<PairNamesWire>(raw.clone()) else {
            continue;
        };
        let (Some(base), Some(quote)) = (assets.get(&names.base), assets.get(&names.quote)) else {
            continue;
        };
        let Ok(symbol) = Symbol::new(base.clone(), quote.clone()) else {
            continue;
        };
        if markets.iter().any(|m| m.symbol == symbol) {
            continue;
        }
        let filters = pair_filters(&key, &symbol, &raw);
        markets.push(KrakenMarket {
            key,
            altname: names.altname,
            wsname: names.wsname,
            symbol,
            filters,
        });
    }
    Ok(markets)
}

/// Kraken's pair status as a trading status: `online` trades, and so does `limit_only`
/// (driftline places limit orders only); `post_only` refuses orders that take (a break); the
/// rest refuse new orders.
fn pair_status(status: &str) -> Option<TradingStatus> {
    Some(match status {
        "online" | "limit_only" => TradingStatus::Trading,
        "post_only" => TradingStatus::Break,
        "cancel_only" | "reduce_only" | "delisted" | "maintenance" | "work_in_progress" => {
            TradingStatus::Halt
        }
        _ => return None,
    })
}

fn pair_filters(key: &str, symbol: &Symbol, raw: &Value) -> Result<MarketFilters, WireError> {
    let at = |field: &str| format!("result.{key}.{field}");
    let text = |field: &str| -> Result<Option<Decimal>, WireError> {
        match raw.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => decimal(&at(field), s).map(Some),
            Some(other) => Err(WireError::new(
                at(field),
                format!("{other} is not a string"),
            )),
        }
    };
    let places = |field: &str| -> Result<u32, WireError> {
        raw.get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= 28)
            .ok_or_else(|| WireError::new(at(field), "missing or not a number of places 0..=28"))
    };
    // A tenth to the power of a number of places.
    let step_of = |places: u32| Decimal::new(1, places);
    let tick_size = match text("tick_size")? {
        Some(tick) => tick,
        None => step_of(places("pair_decimals")?),
    };
    let status_text = raw
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("online");
    let status = pair_status(status_text)
        .ok_or_else(|| WireError::new(at("status"), format!("unknown status {status_text:?}")))?;
    MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size,
        step_size: step_of(places("lot_decimals")?),
        min_qty: text("ordermin")?.unwrap_or(Decimal::ZERO),
        max_qty: None,
        min_notional: text("costmin")?.unwrap_or(Decimal::ZERO),
        status,
    })
    .map_err(|e| WireError::new(at("filters"), e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/Depth

#[derive(Deserialize)]
struct DepthWire {
    asks: Vec<(String, String, IgnoredAny)>,
    bids: Vec<(String, String, IgnoredAny)>,
}

/// The top `max_levels` of each side of a `Depth` answer for `symbol`.
///
/// # Errors
/// [`WireError`] when the answer holds no one book, a level is unreadable, or the book is
/// invalid (crossed, unordered).
pub fn parse_depth(
    body: &[u8],
    symbol: &Symbol,
    max_levels: usize,
) -> Result<OrderBook, WireError> {
    let books: BTreeMap<String, DepthWire> = result(body)?;
    if books.len() != 1 {
        return Err(WireError::new(
            "result",
            format!("{} books, expected one", books.len()),
        ));
    }
    let Some((key, book)) = books.into_iter().next() else {
        return Err(WireError::new("result", "no book"));
    };
    let levels =
        |side: &str, raw: &[(String, String, IgnoredAny)]| -> Result<Vec<Level>, WireError> {
            raw.iter()
                .take(max_levels)
                .enumerate()
                .map(|(i, (p, q, _))| {
                    Ok(Level {
                        price: price(&format!("result.{key}.{side}[{i}][0]"), p)?,
                        quantity: decimal(&format!("result.{key}.{side}[{i}][1]"), q)?.normalize(),
                    })
                })
                .collect()
        };
    let bids = levels("bids", &book.bids)?;
    let asks = levels("asks", &book.asks)?;
    OrderBook::new(symbol.clone(), bids, asks).map_err(|e| WireError::new("result", e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// POST /0/private/BalanceEx

#[derive(Deserialize)]
struct BalanceExWire {
    balance: String,
    #[serde(default)]
    hold_trade: Option<String>,
}

/// The account's non-zero balances: `balance` less `hold_trade` free, `hold_trade` locked.
/// Keys `assets` does not name and that hold a dot (earn, staking and futures wallets, not
/// spot) are left out.
///
/// # Errors
/// [`WireError`] when an amount is unreadable, negative or held more than owned, or a held
/// spot asset is not in `Assets`.
pub fn parse_balance_ex(
    body: &[u8],
    assets: &BTreeMap<String, Asset>,
) -> Result<Vec<Balance>, WireError> {
    let raw: BTreeMap<String, BalanceExWire> = result(body)?;
    let mut by_asset: BTreeMap<Asset, (Decimal, Decimal)> = BTreeMap::new();
    for (key, b) in &raw {
        let total = decimal(&format!("result.{key}.balance"), &b.balance)?;
        let held = match &b.hold_trade {
            Some(h) => decimal(&format!("result.{key}.hold_trade"), h)?,
            None => Decimal::ZERO,
        };
        if total.is_zero() && held.is_zero() {
            continue;
        }
        if total.is_sign_negative() || held.is_sign_negative() || held > total {
            return Err(WireError::new(
                format!("result.{key}"),
                format!(
                    "{} held of {} owned",
                    b.hold_trade.as_deref().unwrap_or("0"),
                    b.balance
                ),
            ));
        }
        let asset = match assets.get(key) {
            Some(asset) => asset.clone(),
            None if key.contains('.') => continue,
            None => {
                return Err(WireError::new(
                    format!("result.{key}"),
                    "an asset Kraken's Assets does not list",
                ))
            }
        };
        let entry = by_asset.entry(asset).or_default();
        entry.0 += total - held;
        entry.1 += held;
    }
    Ok(by_asset
        .into_iter()
        .map(|(asset, (free, locked))| Balance {
            asset,
            free: free.normalize(),
            locked: locked.normalize(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Orders: POST /0/private/OpenOrders, ClosedOrders, QueryOrders

#[derive(Debug, Clone, Deserialize)]
struct DescrWire {
    pair: String,
    #[serde(rename = "type")]
    side: String,
    price: String,
}

#[derive(Debug, Clone, Deserialize)]
struct OrderWire {
    status: String,
    opentm: Number,
    #[serde(default)]
    closetm: Option<Number>,
    descr: DescrWire,
    vol: String,
    vol_exec: String,
    cost: String,
    #[serde(default)]
    cl_ord_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    trades: Vec<String>,
}

/// One order as Kraken reports it.
#[derive(Debug, Clone)]
pub struct KrakenOrder {
    pub txid: String,
    /// `descr.pair`: the pair's altname.
    pub pair: String,
    pub cl_ord_id: Option<String>,
    /// Why it closed (`User requested`, `Post only order`, ...), when it did.
    pub reason: Option<String>,
    /// Its trades' ids (asked for with `trades=true`).
    pub trades: Vec<String>,
    wire: OrderWire,
}

/// A page of orders and, for `ClosedOrders`, how many match in all.
#[derive(Debug, Clone)]
pub struct OrderPage {
    pub orders: Vec<KrakenOrder>,
    pub count: Option<u64>,
}

fn orders_of(map: BTreeMap<String, OrderWire>) -> Vec<KrakenOrder> {
    map.into_iter()
        .map(|(txid, wire)| KrakenOrder {
            pair: wire.descr.pair.clone(),
            cl_ord_id: wire.cl_ord_id.clone(),
            reason: wire.reason.clone(),
            trades: wire.trades.clone(),
            txid,
            wire,
        })
        .collect()
}

#[derive(Deserialize)]
struct OpenWire {
    open: BTreeMap<String, OrderWire>,
}

#[derive(Deserialize)]
struct ClosedWire {
    closed: BTreeMap<String, OrderWire>,
    #[serde(default)]
    count: Option<u64>,
}

/// `OpenOrders`: `{"open": {txid: order}}`.
///
/// # Errors
/// [`WireError`] naming the order and field that is missing or of the wrong type.
pub fn parse_open_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let open: OpenWire = result(body)?;
    Ok(OrderPage {
        orders: orders_of(open.open),
        count: None,
    })
}

/// `ClosedOrders`: `{"closed": {txid: order}, "count": n}`.
///
/// # Errors
/// As [`parse_open_orders`].
pub fn parse_closed_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let closed: ClosedWire = result(body)?;
    Ok(OrderPage {
        orders: orders_of(closed.closed),
        count: closed.count,
    })
}

/// `QueryOrders`: `{txid: order}`.
///
/// # Errors
/// As [`parse_open_orders`].
pub fn parse_query_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let orders: BTreeMap<String, OrderWire> = result(body)?;
    Ok(OrderPage {
        orders: orders_of(orders),
        count: None,
    })
}

impl KrakenOrder {
    /// When it was opened.
    ///
    /// # Errors
    /// [`WireError`] when `opentm` is not a time.
    pub fn opened_at_ms(&self) -> Result<EpochMillis, WireError> {
        millis(&self.field("opentm"), &self.wire.opentm)
    }

    /// Whether Kraken keeps it open (`pending` or `open`).
    pub fn is_open(&self) -> bool {
        matches!(self.wire.status.as_str(), "pending" | "open")
    }

    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.txid)
    }

    /// The order as the port reports it, for `symbol` (the caller checked `pair` is its
    /// market). Kraken's `closed` is filled (or, with volume left, done with the rest
    /// cancelled); `canceled` and `expired` are final as they say; `pending` and `open` are new
    /// or partly filled.
    ///
    /// # Errors
    /// [`WireError`] naming the field that is missing or unreadable.
    pub fn report(&self, symbol: &Symbol) -> Result<OrderReport, WireError> {
        let w = &self.wire;
        let f = |name: &str| self.field(name);
        let orig_qty = decimal(&f("vol"), &w.vol)?.normalize();
        let executed_qty = decimal(&f("vol_exec"), &w.vol_exec)?.normalize();
        if orig_qty.is_sign_negative() || executed_qty.is_sign_negative() || executed_qty > orig_qty
        {
            return Err(WireError::new(
                f("vol_exec"),
                format!("{} executed of {}", w.vol_exec, w.vol),
            ));
        }
        let status = match w.status.as_str() {
            "pending" | "open" if executed_qty.is_zero() => ExchangeOrderStatus::New,
            "pending" | "open" => ExchangeOrderStatus::PartiallyFilled,
            "closed" if executed_qty == orig_qty => ExchangeOrderStatus::Filled,
            "closed" | "canceled" => ExchangeOrderStatus::Canceled,
            "expired" => ExchangeOrderStatus::Expired,
            other => {
                return Err(WireError::new(
                    f("status"),
                    format!("unknown status {other:?}"),
                ))
            }
        };
        let side = match w.descr.side.as_str() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(WireError::new(f("descr.type"), format!("{other:?}"))),
        };
        let client_order_id = ids::client_order_id(self.cl_ord_id.as_deref(), &self.txid)
            .map_err(|e| WireError::new(f("cl_ord_id"), e))?;
        let updated_at_ms = match &w.closetm {
            Some(closed) => millis(&f("closetm"), closed)?,
            None => self.opened_at_ms()?,
        };
        Ok(OrderReport {
            symbol: symbol.clone(),
            exchange_order_id: ExchangeOrderId::new(self.txid.clone()),
            client_order_id,
            side,
            price: price(&f("descr.price"), &w.descr.price)?,
            orig_qty,
            executed_qty,
            cumulative_quote_qty: decimal(&f("cost"), &w.cost)?.normalize(),
            status,
            fills: Vec::new(),
            updated_at_ms,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// POST /0/private/QueryTrades

#[derive(Deserialize)]
struct TradeWire {
    ordertxid: String,
    pair: String,
    time: Number,
    price: String,
    vol: String,
    fee: String,
}

/// The trades of order `txid` on `market` from a `QueryTrades` answer, oldest first: each a
/// fill at its price, its volume, and its `fee`, which Kraken states in the quote currency
/// (`quote`), the asset driftline asks fees to be taken in (`oflags=fciq`).
///
/// # Errors
/// [`WireError`] naming the trade and field that is unreadable, of another pair or of another
/// order.
pub fn parse_trades(
    body: &[u8],
    market: &KrakenMarket,
    txid: &str,
) -> Result<Vec<Fill>, WireError> {
    let trades: BTreeMap<String, TradeWire> = result(body)?;
    let mut fills = Vec::with_capacity(trades.len());
    for (id, t) in &trades {
        let f = |name: &str| format!("result.{id}.{name}");
        if t.ordertxid != txid {
            return Err(WireError::new(
                f("ordertxid"),
                format!("{} is not the order asked for, {txid}", t.ordertxid),
            ));
        }
        if !market.answers_to(&t.pair) {
            return Err(WireError::new(
                f("pair"),
                format!("{:?} is not the market asked for, {:?}", t.pair, market.key),
            ));
        }
        let fill = Fill {
            price: price(&f("price"), &t.price)?,
            quantity: decimal(&f("vol"), &t.vol)?.normalize(),
            commission: decimal(&f("fee"), &t.fee)?.normalize(),
            commission_asset: market.symbol.quote().clone(),
        };
        fills.push((millis(&f("time"), &t.time)?, id.clone(), fill));
    }
    fills.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(fills.into_iter().map(|(_, _, fill)| fill).collect())
}

// ---------------------------------------------------------------------------------------------
// POST /0/private/AddOrder, CancelOrder

#[derive(Deserialize)]
struct AddOrderWire {
    txid: Vec<String>,
}

/// The txid of a placed order.
///
/// # Errors
/// [`WireError`] unless the answer carries exactly one txid.
pub fn parse_add_order(body: &[u8]) -> Result<String, WireError> {
    let added: AddOrderWire = result(body)?;
    match added.txid.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        other => Err(WireError::new(
            "result.txid",
            format!("{} txids, expected one", other.len()),
        )),
    }
}

#[derive(Deserialize)]
struct CancelWire {
    count: u64,
}

/// How many orders a `CancelOrder` cancelled.
///
/// # Errors
/// [`WireError`] unless the answer carries `count`.
pub fn parse_cancel(body: &[u8]) -> Result<u64, WireError> {
    Ok(result::<CancelWire>(body)?.count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn asset(code: &str) -> Asset {
        Asset::new(code).unwrap()
    }

    const ASSETS: &str = r#"{"error":[],"result":{"XXBT":{"aclass":"currency","altname":"XBT","decimals":10},"ZUSD":{"altname":"USD"},"USDT":{"altname":"USDT"},"XXDG":{"altname":"XDG"},"ETH2.S":{"altname":"ETH2.S"}}}"#;

    #[test]
    fn assets_read_as_driftline_codes() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let want: BTreeMap<String, Asset> = [
            ("USDT", "USDT"),
            ("XXBT", "BTC"),
            ("XXDG", "DOGE"),
            ("ZUSD", "USD"),
        ]
        .into_iter()
        .map(|(k, a)| (k.to_owned(), asset(a)))
        .collect();
        assert_eq!(assets, want);
    }

    #[test]
    fn pairs_map_both_ways_with_their_filters() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let body = r#"{"error":[],"result":{
            "XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD","pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","costmin":"0.5","tick_size":"0.1","status":"online"},
            "XXBTZUSD.d":{"altname":"XBTUSD.d","base":"XXBT","quote":"ZUSD","pair_decimals":1,"lot_decimals":8},
            "XBTUSDT":{"altname":"XBTUSDT","wsname":"XBT/USDT","base":"XXBT","quote":"USDT","pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","status":"cancel_only"},
            "ETHUSDT":{"altname":"ETHUSDT","base":"XETH","quote":"USDT","pair_decimals":2,"lot_decimals":8},
            "XDGUSD":{"altname":"XDGUSD","base":"XXDG","quote":"ZUSD","pair_decimals":7,"lot_decimals":"x"}
        }}"#;
        let markets = parse_asset_pairs(body.as_bytes(), &assets).unwrap();
        let keys: Vec<&str> = markets.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(
            keys,
            ["XBTUSDT", "XDGUSD", "XXBTZUSD"],
            "no .d pair, no unknown asset"
        );
        let btc_usd = &markets[2];
        assert_eq!(btc_usd.symbol.to_string(), "BTC/USD");
        assert!(btc_usd.answers_to("XBT/USD") && btc_usd.answers_to("XBTUSD"));
        let f = btc_usd.filters.as_ref().unwrap();
        assert_eq!(
            (
                f.tick_size(),
                f.step_size(),
                f.min_qty(),
                f.min_notional(),
                f.max_qty()
            ),
            (dec!(0.1), dec!(0.00000001), dec!(0.0001), dec!(0.5), None)
        );
        assert!(f.status().is_trading());
        // No tick_size: the pair's decimals; no costmin: no minimum; cancel_only: halted.
        let btc_usdt = markets[0].filters.as_ref().unwrap();
        assert_eq!(
            (btc_usdt.tick_size(), btc_usdt.min_notional()),
            (dec!(0.1), dec!(0))
        );
        assert_eq!(btc_usdt.status(), &TradingStatus::Halt);
        // An unreadable filter is kept with its error.
        let err = markets[1].filters.as_ref().unwrap_err();
        assert_eq!(err.field, "result.XDGUSD.lot_decimals");
    }

    #[test]
    fn times_become_milliseconds_through_their_digits() {
        let n = |s: &str| serde_json::from_str::<Number>(s).unwrap();
        assert_eq!(millis("t", &n("1688148493.7708")), Ok(1_688_148_493_770));
        assert_eq!(millis("t", &n("1800000000")), Ok(1_800_000_000_000));
        assert_eq!(millis("t", &n("1800000000.001")), Ok(1_800_000_000_001));
        assert!(millis("t", &n("1e300")).is_err());
        assert!(millis("t", &n("-5.5")).is_err());
    }

    #[test]
    fn balances_split_free_and_held_and_skip_other_wallets() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let body = r#"{"error":[],"result":{
            "XXBT":{"balance":"1.50000000","hold_trade":"0.25000000"},
            "ZUSD":{"balance":"0.0000","hold_trade":"0.0000"},
            "USDT":{"balance":"100.5"},
            "ETH2.S":{"balance":"3.0","hold_trade":"0"}
        }}"#;
        assert_eq!(
            parse_balance_ex(body.as_bytes(), &assets).unwrap(),
            vec![
                Balance {
                    asset: asset("BTC"),
                    free: dec!(1.25),
                    locked: dec!(0.25)
                },
                Balance {
                    asset: asset("USDT"),
                    free: dec!(100.5),
                    locked: dec!(0)
                },
            ]
        );
        let unknown = r#"{"error":[],"result":{"ABC":{"balance":"1","hold_trade":"0"}}}"#;
        assert_eq!(
            parse_balance_ex(unknown.as_bytes(), &assets)
                .unwrap_err()
                .field,
            "result.ABC"
        );
        let over = r#"{"error":[],"result":{"XXBT":{"balance":"1","hold_trade":"2"}}}"#;
        assert!(parse_balance_ex(over.as_bytes(), &assets).is_err());
    }

    const ORDER: &str = r#"{"refid":null,"userref":0,"status":"closed","opentm":1800000000.5,"closetm":1800000001.25,"starttm":0,"expiretm":0,"descr":{"pair":"XBTUSDT","type":"buy","ordertype":"limit","price":"64230.0","price2":"0","leverage":"none","order":"buy 0.00100000 XBTUSDT @ limit 64230.0","close":""},"vol":"0.00100000","vol_exec":"0.00100000","cost":"64.23000","fee":"0.16700","price":"64230.0","oflags":"fciq","cl_ord_id":"01234567-89ab-cdef-0123-456789abcdef","reason":null,"trades":["TAAAAA-BBBBB-CCCCCC"]}"#;

    #[test]
    fn an_order_reads_into_the_ports_report() {
        let body = format!(r#"{{"error":[],"result":{{"OQCLML-BW3P3-BUCMWZ":{ORDER}}}}}"#);
        let page = parse_query_orders(body.as_bytes()).unwrap();
        let [order] = page.orders.as_slice() else {
            panic!("one order")
        };
        assert_eq!(order.pair, "XBTUSDT");
        assert_eq!(order.trades, ["TAAAAA-BBBBB-CCCCCC"]);
        assert!(!order.is_open());
        let symbol = Symbol::new(asset("BTC"), asset("USDT")).unwrap();
        let expected = OrderReport {
            symbol: symbol.clone(),
            exchange_order_id: ExchangeOrderId::new("OQCLML-BW3P3-BUCMWZ"),
            client_order_id: driftline_core::ClientOrderId::parse(
                "dl1-0123456789abcdef0123456789abcdef",
            )
            .unwrap(),
            side: Side::Buy,
            price: driftline_core::Price::new(dec!(64230)).unwrap(),
            orig_qty: dec!(0.001),
            executed_qty: dec!(0.001),
            cumulative_quote_qty: dec!(64.23),
            status: ExchangeOrderStatus::Filled,
            fills: Vec::new(),
            // closetm, 1800000001.25 s.
            updated_at_ms: 1_800_000_001_250,
        };
        assert_eq!(order.report(&symbol), Ok(expected));
    }

    #[test]
    fn errors_leave_warnings_out() {
        let body = br#"{"error":["WGeneral:Something","EOrder:Insufficient funds"],"result":{}}"#;
        assert_eq!(parse_errors(body).unwrap(), ["EOrder:Insufficient funds"]);
        assert!(
            parse_cancel(body).is_err(),
            "an error answer has no result to read"
        );
        assert_eq!(parse_cancel(br#"{"error":[],"result":{"count":1}}"#), Ok(1));
        assert_eq!(
            parse_add_order(br#"{"error":[],"result":{"descr":{"order":"x"},"txid":["OA-B-C"]}}"#),
            Ok("OA-B-C".to_owned())
        );
    }
}
