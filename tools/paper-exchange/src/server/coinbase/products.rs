//! Coinbase's products (public under `market/` too): the server's time, products, a product's
//! book and the best bid and ask; and how product ids name the engine's markets.

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::query::page;
use super::{Call, CbError};
use crate::engine::Engine;

pub(super) fn time(now: EpochMillis) -> Value {
    json!({"iso": shapes::rfc3339(now), "epochSeconds": now.div_euclid(1000).to_string(),
           "epochMillis": now.to_string()})
}

/// The engine's market name of a Coinbase product id.
pub(super) fn market_of(engine: &Engine, product_id: &str) -> Option<String> {
    engine
        .markets()
        .find(|(_, f)| shapes::product_id(f) == product_id)
        .map(|(name, _)| name.to_owned())
}

/// The Coinbase product id of an engine market.
pub(super) fn product_of(engine: &Engine, market: &str) -> String {
    engine
        .filters(market)
        .map(shapes::product_id)
        .unwrap_or_else(|_| market.to_owned())
}

pub(super) fn require_market(engine: &Engine, product_id: &str) -> Result<String, CbError> {
    market_of(engine, product_id).ok_or_else(|| CbError::not_found("ProductID is invalid"))
}

pub(super) fn product_json(engine: &Engine, market: &str) -> Result<Value, CbError> {
    let f = engine.filters(market)?;
    Ok(shapes::product(
        f,
        engine.last_price(market)?,
        engine.mid(market)?,
    ))
}

pub(super) fn products(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
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

pub(super) fn product(engine: &mut Engine, id: &str) -> Result<Value, CbError> {
    let market = require_market(engine, id)?;
    product_json(engine, &market)
}

pub(super) fn product_book(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
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

pub(super) fn best_bid_ask(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
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
