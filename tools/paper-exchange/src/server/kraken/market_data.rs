//! Kraken's market data (public): the server's time and status, assets, asset pairs, and each
//! pair's ticker, book and recent trades; and how a `pair` parameter names pairs.

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::names::{self, find_pair, pairs, AssetNames};
use super::{Call, KrakenError};
use crate::engine::{Engine, Fill};
use crate::params::Params;

/// The pairs a `pair` parameter names (comma-separated), or all of them.
pub(super) fn wanted_pairs(
    engine: &Engine,
    p: &Params,
) -> Result<Vec<names::PairNames>, KrakenError> {
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
pub(super) fn one_pair(engine: &Engine, p: &Params) -> Result<names::PairNames, KrakenError> {
    let name = p.get("pair").ok_or_else(|| KrakenError::invalid("pair"))?;
    find_pair(engine, name).ok_or_else(|| KrakenError::new("EQuery:Unknown asset pair"))
}

pub(super) fn decimals_of(engine: &Engine, symbol: &str) -> u32 {
    engine.filters(symbol).map_or(8, shapes::pair_decimals)
}

pub(super) fn time(_: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    Ok(json!({"unixtime": c.now.div_euclid(1000), "rfc1123": shapes::rfc1123(c.now)}))
}

pub(super) fn system_status(_: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    // Under the maintenance fault the gate refuses every call before it gets here.
    Ok(json!({"status": "online", "timestamp": shapes::rfc3339(c.now)}))
}

pub(super) fn assets(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
    Ok(shapes::keyed(
        chosen
            .into_iter()
            .map(|a| (a.key.clone(), shapes::asset(&a.altname))),
    ))
}

pub(super) fn asset_pairs(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let fees = engine.fees();
    let chosen = wanted_pairs(engine, c.p)?;
    let entries = chosen
        .into_iter()
        .map(|p| {
            let f = engine.filters(&p.symbol)?;
            Ok((
                p.key.clone(),
                shapes::asset_pair(&p, f, fees.maker, fees.taker),
            ))
        })
        .collect::<Result<Vec<_>, KrakenError>>()?;
    Ok(shapes::keyed(entries))
}

/// The public trades of a market (each trade once: the taker's side), oldest first.
pub(super) fn market_trades<'a>(
    engine: &'a Engine,
    symbol: &'a str,
) -> impl Iterator<Item = &'a Fill> {
    engine
        .fills()
        .iter()
        .filter(move |f| f.symbol == symbol && !f.is_maker)
}

pub(super) fn ticker(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    const DAY_MS: EpochMillis = 86_400_000;
    let chosen = wanted_pairs(engine, c.p)?;
    let mut entries = Vec::with_capacity(chosen.len());
    for p in chosen {
        let decimals = decimals_of(engine, &p.symbol);
        let (bids, asks) = engine.depth(&p.symbol, 1)?;
        let last = engine.last_price(&p.symbol)?;
        let px = |v: Decimal| shapes::price(v, decimals);
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
    Ok(shapes::keyed(entries))
}

pub(super) fn depth(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
                    shapes::price(price, decimals),
                    crate::engine::venue_decimal(qty),
                    stamp
                ])
            })
            .collect::<Vec<_>>()
    };
    Ok(shapes::keyed([(
        p.key.clone(),
        json!({"asks": side(asks), "bids": side(bids)}),
    )]))
}

pub(super) fn recent_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
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
                shapes::price(f.price, decimals),
                crate::engine::venue_decimal(f.qty),
                shapes::seconds(f.time),
                side,
                kind,
                "",
                f.trade_id
            ])
        })
        .collect();
    Ok(json!({ p.key.clone(): rows, "last": last_ns.to_string() }))
}
