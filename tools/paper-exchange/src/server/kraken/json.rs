//! The JSON shapes of Kraken's answers: assets and pairs with their filters, ticker, depth and
//! trades, balances, orders (`descr`, `vol`, `vol_exec`, `cost`, `fee`, ...) and trades keyed
//! by their ids. Amounts are strings with eight decimals, prices with the pair's decimals,
//! times are seconds as numbers, as Kraken writes them.
//!
//! Fees: the engine takes a commission in the asset received (base for a buy); Kraken states a
//! trade's `fee` in the quote currency, so a base commission is shown at the trade's price.

use chrono::SecondsFormat;
use driftline_core::{EpochMillis, MarketFilters, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::names::{txid, IdKind, PairNames};
use super::order_request::{cl_ord_id, userref};
use crate::engine::{venue_decimal as d8, Fill, Order, OrderType, VenueStatus};
use crate::server::calendar;

/// Seconds since the epoch as Kraken writes times (`1688666559.8974`).
pub(super) fn seconds(ms: EpochMillis) -> Value {
    json!(Decimal::new(ms, 3).to_f64().unwrap_or_default())
}

/// Decimals of a pair's prices: those of its tick size.
pub(super) fn pair_decimals(f: &MarketFilters) -> u32 {
    f.tick_size().normalize().scale()
}

fn lot_decimals(f: &MarketFilters) -> u32 {
    f.step_size().normalize().scale()
}

/// A price with the pair's decimals.
pub(super) fn price(value: Decimal, decimals: u32) -> String {
    let dp = usize::try_from(decimals).unwrap_or(8);
    format!("{:.dp$}", value.round_dp(decimals))
}

/// A percentage as a JSON number (`0.26` for 0.0026).
fn percent(rate: Decimal) -> Value {
    json!((rate * Decimal::ONE_HUNDRED).to_f64().unwrap_or_default())
}

pub(super) fn asset(altname: &str) -> Value {
    json!({"aclass": "currency", "altname": altname, "decimals": 8, "display_decimals": 8,
           "collateral_value": 0, "status": "enabled"})
}

pub(super) fn asset_pair(
    p: &PairNames,
    f: &MarketFilters,
    maker: Decimal,
    taker: Decimal,
) -> Value {
    json!({
        "altname": p.altname, "wsname": p.wsname,
        "aclass_base": "currency", "base": p.base.key,
        "aclass_quote": "currency", "quote": p.quote.key,
        "lot": "unit", "cost_decimals": 8, "pair_decimals": pair_decimals(f),
        "lot_decimals": lot_decimals(f), "lot_multiplier": 1,
        "leverage_buy": [], "leverage_sell": [],
        "fees": [[0, percent(taker)]], "fees_maker": [[0, percent(maker)]],
        "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
        "ordermin": f.min_qty().normalize().to_string(),
        "costmin": f.min_notional().normalize().to_string(),
        "tick_size": f.tick_size().normalize().to_string(),
        "status": "online"
    })
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn order_type(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit | OrderType::LimitMaker => "limit",
        OrderType::Market => "market",
    }
}

/// Kraken's order status: `open`, `closed` (filled), `canceled` (by the client, or an IOC's
/// unfilled rest).
fn status(s: VenueStatus) -> &'static str {
    match s {
        VenueStatus::New | VenueStatus::PartiallyFilled => "open",
        VenueStatus::Filled => "closed",
        VenueStatus::Canceled | VenueStatus::Expired => "canceled",
    }
}

/// An order's description (`descr`), with its one line (`buy 1.25000000 XBTUSD @ limit
/// 37500.0`).
pub(super) fn description(
    (s, t): (Side, OrderType),
    volume: Decimal,
    limit: Decimal,
    p: &PairNames,
    decimals: u32,
) -> Value {
    let at = match t {
        OrderType::Market => "market".to_owned(),
        OrderType::Limit | OrderType::LimitMaker => format!("limit {}", price(limit, decimals)),
    };
    json!({
        "pair": p.altname, "type": side(s), "ordertype": order_type(t),
        "price": price(limit, decimals), "price2": "0", "leverage": "none",
        "order": format!("{} {} {} @ {}", side(s), d8(volume), p.altname, at),
        "close": ""
    })
}

/// An order as `QueryOrders`, `OpenOrders` and `ClosedOrders` show it; `fills` are its own.
pub(super) fn order(
    o: &Order,
    p: &PairNames,
    decimals: u32,
    fills: &[&Fill],
    with_trades: bool,
) -> Value {
    // The engine charges this dialect's fees in the quote, as Kraken states them (`fciq`).
    let fee: Decimal = fills.iter().map(|f| f.commission).sum();
    let average = if o.executed_qty.is_zero() {
        Decimal::ZERO
    } else {
        o.cumulative_quote_qty / o.executed_qty
    };
    let mut flags = vec!["fciq"];
    if o.order_type == OrderType::LimitMaker {
        flags.insert(0, "post");
    }
    let mut v = json!({
        "refid": null, "userref": userref(o).unwrap_or(0),
        "status": status(o.status), "opentm": seconds(o.time), "starttm": 0, "expiretm": 0,
        "descr": description((o.side, o.order_type), o.orig_qty, o.price, p, decimals),
        "vol": d8(o.orig_qty), "vol_exec": d8(o.executed_qty),
        "cost": d8(o.cumulative_quote_qty), "fee": d8(fee), "price": price(average, decimals),
        "stopprice": "0.00000000", "limitprice": "0.00000000", "misc": "",
        "oflags": flags.join(","), "timeinforce": o.time_in_force.as_str()
    });
    if let Value::Object(map) = &mut v {
        if let Some(c) = cl_ord_id(o) {
            map.insert("cl_ord_id".into(), json!(c));
        }
        if !o.status.is_open() {
            map.insert("closetm".into(), seconds(o.update_time));
            let reason = match o.status {
                VenueStatus::Canceled => json!("User requested"),
                VenueStatus::Expired => json!("Insufficient liquidity"),
                _ => Value::Null,
            };
            map.insert("reason".into(), reason);
        }
        if with_trades && !fills.is_empty() {
            let ids: Vec<String> = fills
                .iter()
                .map(|f| txid(IdKind::Trade, f.trade_id))
                .collect();
            map.insert("trades".into(), json!(ids));
        }
    }
    v
}

/// A trade as `TradesHistory` and `QueryTrades` show it to the account that made it.
pub(super) fn trade(f: &Fill, o: Option<&Order>, p: &PairNames, decimals: u32) -> Value {
    json!({
        "ordertxid": txid(IdKind::Order, f.order_id), "postxid": "",
        "pair": p.key, "time": seconds(f.time), "type": side(f.side),
        "ordertype": o.map_or("limit", |o| order_type(o.order_type)),
        "price": price(f.price, decimals), "cost": d8(f.quote_qty),
        "fee": d8(f.commission), "vol": d8(f.qty),
        "margin": "0.00000000", "leverage": "0", "misc": "",
        "trade_id": f.trade_id, "maker": f.is_maker
    })
}

/// `{key: value}` from pairs of a key and a value, in the given order.
pub(super) fn keyed(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::Object(entries.into_iter().collect::<Map<String, Value>>())
}

/// `Sun, 21 Mar 21 14:23:14 +0000`, as Kraken's `Time` writes `rfc1123`.
pub(super) fn rfc1123(ms: EpochMillis) -> String {
    calendar::utc(ms)
        .format("%a, %d %b %y %H:%M:%S +0000")
        .to_string()
}

/// `2023-07-06T18:52:00Z`.
pub(super) fn rfc3339(ms: EpochMillis) -> String {
    calendar::utc(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_kraken_writes_them() {
        // Kraken's own example pair: 1616336594 is "Sun, 21 Mar 21 14:23:14 +0000".
        assert_eq!(rfc1123(1_616_336_594_000), "Sun, 21 Mar 21 14:23:14 +0000");
        assert_eq!(rfc3339(1_688_669_520_000), "2023-07-06T18:52:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn prices_take_the_pairs_decimals() {
        assert_eq!(price(Decimal::new(375_000, 1), 1), "37500.0");
        assert_eq!(price(Decimal::new(1_234_567, 3), 2), "1234.57");
    }
}
