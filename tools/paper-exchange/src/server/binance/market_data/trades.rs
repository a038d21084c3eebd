//! Binance's trade lists over a market's recorded tape: the latest trades (`trades`), trades
//! from an id on (`historicalTrades`), and trades aggregated by taker order, price and time
//! (`aggTrades`).

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{limit, time_range, HOUR_MS};
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Engine, MarketHistory, PublicTrade};
use crate::server::binance::Call;

fn trade(t: &PublicTrade) -> Value {
    json!({
        "id": t.id, "price": d8(t.price), "qty": d8(t.qty), "quoteQty": d8(t.qty * t.price),
        "time": t.time, "isBuyerMaker": t.is_buyer_maker, "isBestMatch": true
    })
}

/// The latest `limit` of the tape, oldest first.
fn latest(h: &MarketHistory, limit: usize) -> Vec<Value> {
    let skip = h.trades().len().saturating_sub(limit);
    h.trades().skip(skip).map(trade).collect()
}

/// `GET trades`: the market's latest trades (`limit`, default 500, max 1000).
pub(crate) fn recent_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    Ok(Value::Array(latest(engine.history(symbol)?, limit)))
}

/// `GET historicalTrades`: from trade `fromId` on, or the latest.
pub(crate) fn historical_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    let from_id = c.p.integer::<u64>("fromId")?;
    let h = engine.history(symbol)?;
    Ok(Value::Array(match from_id {
        Some(id) => h
            .trades()
            .filter(|t| t.id >= id)
            .take(limit)
            .map(trade)
            .collect(),
        None => latest(h, limit),
    }))
}

/// An aggregate trade: consecutive trades of one taker order at one price and time.
struct Aggregate {
    id: u64,
    price: Decimal,
    qty: Decimal,
    first: u64,
    last: u64,
    time: EpochMillis,
    is_buyer_maker: bool,
}

/// The tape aggregated, oldest first; aggregate ids count from 1 along the kept tape.
fn aggregates(h: &MarketHistory) -> Vec<Aggregate> {
    let mut out: Vec<Aggregate> = Vec::new();
    let mut last_taker = None;
    for t in h.trades() {
        let joins = out.last().is_some_and(|a| {
            t.taker_order.is_some()
                && t.taker_order == last_taker
                && a.price == t.price
                && a.time == t.time
        });
        match out.last_mut() {
            Some(a) if joins => {
                a.qty += t.qty;
                a.last = t.id;
            }
            _ => out.push(Aggregate {
                id: out.len() as u64 + 1,
                price: t.price,
                qty: t.qty,
                first: t.id,
                last: t.id,
                time: t.time,
                is_buyer_maker: t.is_buyer_maker,
            }),
        }
        last_taker = t.taker_order;
    }
    out
}

/// `GET aggTrades`: by `fromId`, by `startTime`/`endTime` (at most an hour apart), or the
/// latest.
pub(crate) fn agg_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    let from_id = c.p.integer::<u64>("fromId")?;
    let (start, end) = time_range(c.p, Some(HOUR_MS))?;
    let all = aggregates(engine.history(symbol)?);
    let chosen: Vec<&Aggregate> = if from_id.is_some() || start.is_some() {
        all.iter()
            .filter(|a| from_id.is_none_or(|id| a.id >= id))
            .filter(|a| start.is_none_or(|s| a.time >= s) && end.is_none_or(|e| a.time <= e))
            .take(limit)
            .collect()
    } else {
        let within: Vec<&Aggregate> = all
            .iter()
            .filter(|a| end.is_none_or(|e| a.time <= e))
            .collect();
        let skip = within.len().saturating_sub(limit);
        within.into_iter().skip(skip).collect()
    };
    Ok(Value::Array(
        chosen
            .into_iter()
            .map(|a| {
                json!({"a": a.id, "p": d8(a.price), "q": d8(a.qty), "f": a.first, "l": a.last,
                       "T": a.time, "m": a.is_buyer_maker, "M": true})
            })
            .collect(),
    ))
}
