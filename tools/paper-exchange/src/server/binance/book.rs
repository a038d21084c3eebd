//! The endpoints that read the venue and its books as they stand, not a market's history:
//! ping, time, exchangeInfo, a book's depth, and the price and book tickers; and
//! [`per_symbol`], how every ticker answers one `symbol`, a list of `symbols`, or all.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::{market_data, Call};
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Engine, EngineError};
use crate::params::Params;

pub(super) fn ping(_: &mut Engine, _: &Call<'_>) -> Result<Value, ApiError> {
    Ok(json!({}))
}

pub(super) fn time(_: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    Ok(json!({"serverTime": c.now}))
}

pub(super) fn exchange_info(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    shapes::exchange_info(engine, c.p, c.weight_limit, c.now)
}

pub(super) fn depth(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = market_data::limit(c.p, 100, 5000)?;
    let (bids, asks) = engine.depth(symbol, limit)?;
    let side = |ls: Vec<(Decimal, Decimal)>| {
        ls.into_iter()
            .map(|(p, q)| json!([d8(p), d8(q)]))
            .collect::<Vec<_>>()
    };
    Ok(json!({"lastUpdateId": engine.update_id(), "bids": side(bids), "asks": side(asks)}))
}

pub(super) fn ticker_price(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    per_symbol(engine, c.p, |e, s| {
        Ok(json!({"symbol": s, "price": d8(e.last_price(s)?)}))
    })
}

pub(super) fn book_ticker(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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

pub(super) fn per_symbol(
    engine: &Engine,
    p: &Params,
    one: impl Fn(&Engine, &str) -> Result<Value, EngineError>,
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
