//! Binance's account endpoints: the account's balances and commission rates, and its orders
//! (one, the open ones, all) and trades.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::market_data;
use super::order_request::order_ref;
use super::Call;
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Engine};

pub(super) fn account(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    shapes::account(engine, c.account, c.p, c.now)
}

pub(super) fn commission(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    engine.filters(symbol)?;
    let fees = engine.fees();
    let zero = "0.00000000";
    let rates = |maker: Decimal, taker: Decimal| json!({"maker": d8(maker), "taker": d8(taker), "buyer": zero, "seller": zero});
    Ok(json!({
        "symbol": symbol,
        "standardCommission": rates(fees.maker, fees.taker),
        "specialCommission": rates(Decimal::ZERO, Decimal::ZERO),
        "taxCommission": rates(Decimal::ZERO, Decimal::ZERO),
        "discount": {"enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "BNB", "discount": zero}
    }))
}

pub(super) fn query_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let by = order_ref(c.p)?;
    Ok(shapes::query(engine.order(c.account, symbol, &by)?))
}

pub(super) fn open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let orders = engine.open_orders(c.account, c.p.get("symbol"))?;
    Ok(Value::Array(orders.iter().map(shapes::query).collect()))
}

/// An account's orders on a symbol, open and closed, oldest first: from `orderId` on, within
/// `startTime`..`endTime` (at most 24 hours apart), the first `limit` of them when a start is
/// given, else the latest `limit`.
pub(super) fn all_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    engine.filters(symbol)?;
    let order_id = c.p.integer::<u64>("orderId")?;
    let (start, end) = market_data::time_range(c.p, Some(24 * 60 * 60 * 1000))?;
    let limit = market_data::limit(c.p, 500, 1000)?;
    let mine: Vec<_> = engine
        .orders()
        .filter(|o| {
            o.account == c.account
                && o.symbol == symbol
                && order_id.is_none_or(|id| o.order_id >= id)
                && start.is_none_or(|t| o.time >= t)
                && end.is_none_or(|t| o.time <= t)
        })
        .collect();
    let chosen = if order_id.is_some() || start.is_some() {
        mine.get(..limit.min(mine.len()))
    } else {
        mine.get(mine.len().saturating_sub(limit)..)
    };
    Ok(Value::Array(
        chosen
            .unwrap_or_default()
            .iter()
            .map(|o| shapes::query(o))
            .collect(),
    ))
}

/// An account's fills on a symbol: of one order, from a trade id on, within a time range, the
/// first `limit` of them.
pub(super) fn my_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let p = c.p;
    let symbol = p.require("symbol")?;
    engine.filters(symbol)?;
    let order_id = p.integer::<u64>("orderId")?;
    let from_id = p.integer::<u64>("fromId")?;
    let start = p.integer::<i64>("startTime")?;
    let end = p.integer::<i64>("endTime")?;
    let limit = market_data::limit(p, 500, 1000)?;
    let trades: Vec<Value> = engine
        .fills()
        .iter()
        .filter(|f| f.account == c.account && f.symbol == symbol)
        .filter(|f| order_id.is_none_or(|id| f.order_id == id))
        .filter(|f| from_id.is_none_or(|id| f.trade_id >= id))
        .filter(|f| start.is_none_or(|t| f.time >= t) && end.is_none_or(|t| f.time <= t))
        .take(limit)
        .map(shapes::trade)
        .collect();
    Ok(Value::Array(trades))
}
