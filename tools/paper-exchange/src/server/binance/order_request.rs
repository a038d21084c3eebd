//! What an order request says: a new order's fields checked as the venue checks them, which
//! order a query or cancel means, and client order ids.

use driftline_core::Side;

use crate::api_error::ApiError;
use crate::engine::{NewOrder, OrderRef, OrderType, TimeInForce};
use crate::params::{mandatory, Params};

/// How much of a new order the answer shows (`newOrderRespType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RespType {
    Ack,
    Result,
    Full,
}

pub(super) fn check_client_id(name: &str, id: &str) -> Result<(), ApiError> {
    let ok = (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '^[a-zA-Z0-9-_]{{1,36}}$'.")))
    }
}

pub(super) fn order_ref(p: &Params) -> Result<OrderRef, ApiError> {
    if let Some(id) = p.integer::<u64>("orderId")? {
        return Ok(OrderRef::Id(id));
    }
    match p.get("origClientOrderId") {
        Some(c) => Ok(OrderRef::ClientId(c.to_owned())),
        None => Err(ApiError::bad(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

pub(super) fn parse_new_order(p: &Params) -> Result<(NewOrder, Option<RespType>), ApiError> {
    let symbol = p.require("symbol")?.to_owned();
    let side = match p.require("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(ApiError::bad(-1117, "Invalid side.")),
    };
    let order_type = match p.require("type")? {
        "LIMIT" => OrderType::Limit,
        "LIMIT_MAKER" => OrderType::LimitMaker,
        "MARKET" => OrderType::Market,
        "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
            return Err(ApiError::bad(-1014, "Unsupported order combination."))
        }
        _ => return Err(ApiError::bad(-1116, "Invalid orderType.")),
    };
    let resp_type = match p.get("newOrderRespType") {
        None => None,
        Some("ACK") => Some(RespType::Ack),
        Some("RESULT") => Some(RespType::Result),
        Some("FULL") => Some(RespType::Full),
        Some(_) => return Err(ApiError::bad(-1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.")),
    };
    let time_in_force = match p.get("timeInForce") {
        None => None,
        Some("GTC") => Some(TimeInForce::Gtc),
        Some("IOC") => Some(TimeInForce::Ioc),
        Some("FOK") => Some(TimeInForce::Fok),
        Some(_) => return Err(ApiError::bad(-1115, "Invalid timeInForce.")),
    };
    let client_order_id = p.get("newClientOrderId").map(str::to_owned);
    if let Some(c) = &client_order_id {
        check_client_id("newClientOrderId", c)?;
    }
    let quantity = p.decimal("quantity")?;
    let quote_order_qty = p.decimal("quoteOrderQty")?;
    let price = p.decimal("price")?;
    match order_type {
        OrderType::Limit => {
            if time_in_force.is_none() {
                return Err(mandatory("timeInForce"));
            }
            quantity.ok_or_else(|| mandatory("quantity"))?;
            price.ok_or_else(|| mandatory("price"))?;
            p.forbid("quoteOrderQty")?;
        }
        OrderType::LimitMaker => {
            quantity.ok_or_else(|| mandatory("quantity"))?;
            price.ok_or_else(|| mandatory("price"))?;
            p.forbid("timeInForce")?;
            p.forbid("quoteOrderQty")?;
        }
        OrderType::Market => {
            p.forbid("price")?;
            p.forbid("timeInForce")?;
            match (quantity, quote_order_qty) {
                (None, None) => return Err(ApiError::bad(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )),
                (Some(_), Some(_)) => p.forbid("quoteOrderQty")?,
                _ => {}
            }
        }
    }
    Ok((
        NewOrder {
            symbol,
            side,
            order_type,
            time_in_force,
            quantity,
            quote_order_qty,
            price,
            client_order_id,
        },
        resp_type,
    ))
}
