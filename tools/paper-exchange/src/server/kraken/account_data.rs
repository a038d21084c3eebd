//! Kraken's account data (private): balances, the account's orders (by id, open, closed) and
//! trades (by id, history), and its trade volume and fees.

use std::collections::BTreeMap;

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::market_data::{decimals_of, wanted_pairs};
use super::names::{self, pair_of_symbol, parse_txid, txid, AssetNames, IdKind};
use super::order_request::{cl_ord_id, flag, userref};
use super::{Call, KrakenError};
use crate::engine::{Engine, Fill, Order};
use crate::params::Params;

/// Orders and trades per page of `ClosedOrders` and `TradesHistory`.
const PAGE: usize = 50;

pub(super) fn balance(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let held = engine.balances(c.account)?;
    Ok(shapes::keyed(held.iter().map(|(asset, b)| {
        (
            AssetNames::of(asset.as_str()).key,
            json!(crate::engine::venue_decimal(b.free + b.locked)),
        )
    })))
}

pub(super) fn balance_ex(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let held = engine.balances(c.account)?;
    Ok(shapes::keyed(held.iter().map(|(asset, b)| {
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

/// An account's orders, oldest first.
pub(super) fn orders_of<'a>(
    engine: &'a Engine,
    account: &'a str,
) -> impl Iterator<Item = &'a Order> {
    engine.orders().filter(move |o| o.account == account)
}

/// An order as Kraken lists it, keyed by its txid.
pub(super) fn order_entry(engine: &Engine, o: &Order, with_trades: bool) -> (String, Value) {
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
        shapes::order(o, &pair, decimals, &fills, with_trades),
    )
}

/// The `userref` and `cl_ord_id` filters of the order queries.
pub(super) fn matches_refs(o: &Order, p: &Params) -> Result<bool, KrakenError> {
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

pub(super) fn query_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
    Ok(shapes::keyed(entries))
}

pub(super) fn open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let with_trades = flag(c.p, "trades")?;
    let mut entries = Vec::new();
    for o in orders_of(engine, c.account).filter(|o| o.status.is_open()) {
        if matches_refs(o, c.p)? {
            entries.push(order_entry(engine, o, with_trades));
        }
    }
    Ok(json!({"open": shapes::keyed(entries)}))
}

/// A time bound of the history queries: seconds (a number) or an id of this venue.
pub(super) fn bound(
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

pub(super) fn offset(p: &Params) -> Result<usize, KrakenError> {
    p.integer::<usize>("ofs")
        .map_err(|_| KrakenError::invalid("ofs"))
        .map(Option::unwrap_or_default)
}

pub(super) fn closed_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
    Ok(json!({"closed": shapes::keyed(page), "count": count}))
}

/// A fill as Kraken lists the trade, keyed by its id.
pub(super) fn trade_entry(engine: &Engine, f: &Fill) -> (String, Value) {
    let order = engine.orders().find(|o| o.order_id == f.order_id);
    let pair = pair_of_symbol(engine, &f.symbol)
        .unwrap_or_else(|| names::PairNames::of(&f.symbol, &f.symbol, ""));
    (
        txid(IdKind::Trade, f.trade_id),
        shapes::trade(f, order, &pair, decimals_of(engine, &f.symbol)),
    )
}

pub(super) fn query_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
    Ok(shapes::keyed(entries))
}

pub(super) fn trades_history(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
    Ok(json!({"trades": shapes::keyed(page), "count": count}))
}

pub(super) fn trade_volume(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
