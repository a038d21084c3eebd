//! Binance's trading endpoints: place an order (or test one), cancel one, cancel all open
//! orders on a symbol.

use serde_json::{json, Value};

use super::json as shapes;
use super::order_request::{check_client_id, order_ref, parse_new_order, RespType};
use super::Call;
use crate::api_error::ApiError;
use crate::engine::{Engine, OrderRef, OrderType};

pub(super) fn new_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let (new, resp_type) = parse_new_order(c.p)?;
    let placed = engine.place_order(c.account, new, c.now)?;
    let resp_type = resp_type.unwrap_or(match placed.order.order_type {
        OrderType::Limit | OrderType::Market => RespType::Full,
        OrderType::LimitMaker => RespType::Ack,
    });
    Ok(shapes::order_response(
        &placed.order,
        &placed.fills,
        resp_type,
        c.now,
    ))
}

pub(super) fn test_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let (new, _) = parse_new_order(c.p)?;
    engine.test_order(c.account, &new)?;
    Ok(json!({}))
}

pub(super) fn cancel_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let by = order_ref(c.p)?;
    let cancel_id = c.p.get("newClientOrderId").map(str::to_owned);
    if let Some(id) = &cancel_id {
        check_client_id("newClientOrderId", id)?;
    }
    let o = engine.cancel_order(c.account, symbol, &by, c.now)?;
    Ok(shapes::cancel(&o, cancel_id, c.now))
}

pub(super) fn cancel_open_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let open = engine.open_orders(c.account, Some(symbol))?;
    let mut cancelled = Vec::with_capacity(open.len());
    for o in open {
        let o = engine.cancel_order(c.account, symbol, &OrderRef::Id(o.order_id), c.now)?;
        cancelled.push(shapes::cancel(&o, None, c.now));
    }
    Ok(Value::Array(cancelled))
}
