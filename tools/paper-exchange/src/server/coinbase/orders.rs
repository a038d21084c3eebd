//! Coinbase's orders: create one (or answer with the order that already has its
//! `client_order_id`), get one, list orders and fills, cancel a batch; and why the engine
//! refused an order, in Coinbase's words.

use driftline_core::Side;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json::{self as shapes, Failure};
use super::order_request::{order_kind, string_field, OrderKind};
use super::products::{market_of, product_of};
use super::query::page;
use super::{Call, CbError};
use crate::engine::{Engine, EngineError, NewOrder, Order, OrderRef, OrderType};

/// The most orders one `batch_cancel` takes.
const MAX_CANCEL_BATCH: usize = 100;

pub(super) fn create_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let body: Value = serde_json::from_str(c.body)
        .map_err(|_| CbError::invalid("the request body is not JSON"))?;
    let body = body
        .as_object()
        .ok_or_else(|| CbError::invalid("the request body must be a JSON object"))?;
    let client_order_id = string_field(body, "client_order_id")?;
    let product_id = string_field(body, "product_id")?;
    let side = string_field(body, "side")?;
    let configuration = body
        .get("order_configuration")
        .and_then(Value::as_object)
        .ok_or_else(|| CbError::invalid("order_configuration is required"))?;
    let echo = Value::Object(configuration.clone());
    // Coinbase creates nothing for a client_order_id it has seen: it answers with that order.
    if let Some(existing) = order_by_client_id(engine, c.account, client_order_id) {
        let product = product_of(engine, &existing.symbol);
        return Ok(shapes::created(
            existing,
            &product,
            shapes::order_configuration(existing),
        ));
    }
    let refuse = |reason, preview, message| {
        Ok(shapes::not_created(
            Failure {
                reason,
                preview,
                message,
            },
            echo.clone(),
        ))
    };
    let Some(market) = market_of(engine, product_id) else {
        return refuse(
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
            "Invalid product_id",
        );
    };
    let side = match side {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return refuse("INVALID_SIDE", "PREVIEW_INVALID_SIDE", "Invalid side"),
    };
    let Some(OrderKind {
        order_type,
        time_in_force,
        base_size: quantity,
        limit_price: price,
        quote_size: quote,
    }) = order_kind(configuration)?
    else {
        return refuse(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            "PREVIEW_INVALID_ORDER_CONFIG",
            "The paper venue trades limit (GTC, IOC, FOK) and market orders only",
        );
    };
    let new = NewOrder {
        symbol: market.clone(),
        side,
        order_type,
        time_in_force: (order_type == OrderType::Limit).then_some(time_in_force),
        quantity,
        quote_order_qty: quote,
        price,
        client_order_id: Some(client_order_id.to_owned()),
    };
    match engine.place_order(c.account, new, c.now) {
        Ok(placed) => Ok(shapes::created(&placed.order, product_id, echo)),
        Err(e) => Ok(shapes::not_created(
            failure(&e, quantity, engine, &market),
            echo,
        )),
    }
}

/// Why the engine refused an order, as Coinbase words it.
pub(super) fn failure(
    e: &EngineError,
    quantity: Option<Decimal>,
    engine: &Engine,
    market: &str,
) -> Failure {
    let f = |reason, preview, message| Failure {
        reason,
        preview,
        message,
    };
    match e {
        EngineError::InsufficientBalance => f(
            "INSUFFICIENT_FUND",
            "PREVIEW_INSUFFICIENT_FUND",
            "Insufficient balance in source account",
        ),
        EngineError::WouldTake => f(
            "INVALID_LIMIT_PRICE_POST_ONLY",
            "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            "Limit price would take liquidity on a post-only order",
        ),
        EngineError::InvalidPrice => f(
            "INVALID_LIMIT_PRICE",
            "PREVIEW_INVALID_LIMIT_PRICE",
            "Invalid limit price",
        ),
        EngineError::Filter("PRICE_FILTER") => f(
            "INVALID_PRICE_PRECISION",
            "PREVIEW_INVALID_LIMIT_PRICE_PRECISION",
            "Limit price is not a multiple of the product's price increment",
        ),
        EngineError::Filter("LOT_SIZE" | "MARKET_LOT_SIZE") | EngineError::InvalidQuantity => {
            let filters = engine.filters(market).ok();
            let too_small = quantity.zip(filters).is_none_or(|(q, f)| q < f.min_qty());
            let too_large = quantity
                .zip(filters)
                .is_some_and(|(q, f)| f.max_qty().is_some_and(|max| q > max));
            if too_small {
                f(
                    "UNKNOWN_FAILURE_REASON",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                    "Order size is below the product's minimum",
                )
            } else if too_large {
                f(
                    "UNKNOWN_FAILURE_REASON",
                    "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
                    "Order size is above the product's maximum",
                )
            } else {
                f(
                    "INVALID_SIZE_PRECISION",
                    "PREVIEW_INVALID_SIZE_PRECISION",
                    "Order size is not a multiple of the product's base increment",
                )
            }
        }
        EngineError::Filter(_) => f(
            "UNKNOWN_FAILURE_REASON",
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            "Order value is below the product's minimum",
        ),
        EngineError::UnknownSymbol => f(
            "INVALID_PRODUCT_ID",
            "PREVIEW_INVALID_PRODUCT_ID",
            "Invalid product_id",
        ),
        _ => f(
            "UNKNOWN_FAILURE_REASON",
            "UNKNOWN_PREVIEW_FAILURE_REASON",
            "The order was not created",
        ),
    }
}

/// The account's order with this client order id, whatever its status.
pub(super) fn order_by_client_id<'a>(
    engine: &'a Engine,
    account: &str,
    client_order_id: &str,
) -> Option<&'a Order> {
    engine
        .orders()
        .find(|o| o.account == account && o.client_order_id == client_order_id)
}

/// The account's order with a Coinbase order id.
pub(super) fn own_order<'a>(engine: &'a Engine, account: &str, uuid: &str) -> Option<&'a Order> {
    let id = shapes::engine_order_id(uuid)?;
    engine
        .orders()
        .find(|o| o.order_id == id && o.account == account)
}

pub(super) fn order_json(engine: &Engine, o: &Order) -> Value {
    let fills: Vec<_> = engine
        .fills()
        .iter()
        .filter(|f| f.order_id == o.order_id && f.account == o.account)
        .collect();
    shapes::order(o, &product_of(engine, &o.symbol), &fills)
}

pub(super) fn get_order(engine: &mut Engine, c: &Call<'_>, uuid: &str) -> Result<Value, CbError> {
    let o = own_order(engine, c.account, uuid)
        .ok_or_else(|| CbError::not_found("order with this orderID was not found"))?;
    Ok(json!({"order": order_json(engine, o)}))
}

/// The order statuses `order_status` filters by.
const ORDER_STATUSES: [&str; 9] = [
    "PENDING",
    "OPEN",
    "FILLED",
    "CANCELLED",
    "EXPIRED",
    "FAILED",
    "UNKNOWN_ORDER_STATUS",
    "QUEUED",
    "CANCEL_QUEUED",
];

pub(super) fn list_orders(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let products = c.q.all("product_ids");
    let statuses = c.q.all("order_status");
    if let Some(bad) = statuses.iter().find(|s| !ORDER_STATUSES.contains(s)) {
        return Err(CbError::invalid(format!(
            "order_status {bad} is not a status"
        )));
    }
    let ids = c.q.all("order_ids");
    let side = c.q.one("order_side")?;
    // Newest first, as Coinbase lists them.
    let mut matching: Vec<&Order> = engine
        .orders()
        .filter(|o| o.account == c.account)
        .filter(|o| {
            products.is_empty() || products.contains(&product_of(engine, &o.symbol).as_str())
        })
        .filter(|o| statuses.is_empty() || statuses.contains(&shapes::status(o.status)))
        .filter(|o| ids.is_empty() || ids.contains(&shapes::order_uuid(o.order_id).as_str()))
        .filter(|o| side.is_none_or(|s| s == if o.side == Side::Buy { "BUY" } else { "SELL" }))
        .collect();
    matching.reverse();
    let (list, has_next, cursor) = page(matching, c.q, 100, 1000)?;
    let orders: Vec<Value> = list.into_iter().map(|o| order_json(engine, o)).collect();
    Ok(json!({"orders": orders, "sequence": "0", "has_next": has_next, "cursor": cursor}))
}

pub(super) fn list_fills(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let orders = c.q.all("order_ids");
    let products = c.q.all("product_ids");
    let trades = c.q.all("trade_ids");
    let matching: Vec<Value> = engine
        .fills()
        .iter()
        .rev()
        .filter(|f| f.account == c.account)
        .filter(|f| orders.is_empty() || orders.contains(&shapes::order_uuid(f.order_id).as_str()))
        .filter(|f| {
            products.is_empty() || products.contains(&product_of(engine, &f.symbol).as_str())
        })
        .filter(|f| trades.is_empty() || trades.contains(&f.trade_id.to_string().as_str()))
        .map(|f| shapes::fill(f, &product_of(engine, &f.symbol)))
        .collect();
    let (fills, _, cursor) = page(matching, c.q, 100, 1000)?;
    Ok(json!({"fills": fills, "cursor": cursor}))
}

pub(super) fn batch_cancel(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let body: Value = serde_json::from_str(c.body)
        .map_err(|_| CbError::invalid("the request body is not JSON"))?;
    let ids: Vec<&str> = body
        .get("order_ids")
        .and_then(Value::as_array)
        .and_then(|ids| ids.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| CbError::invalid("order_ids must be a list of order ids"))?;
    if ids.len() > MAX_CANCEL_BATCH {
        return Err(CbError::invalid(format!(
            "order_ids holds at most {MAX_CANCEL_BATCH} ids"
        )));
    }
    let results: Vec<Value> = ids
        .into_iter()
        .map(|uuid| {
            let open = own_order(engine, c.account, uuid)
                .filter(|o| o.status.is_open())
                .map(|o| (o.symbol.clone(), o.order_id));
            let cancelled = open.is_some_and(|(symbol, id)| {
                engine
                    .cancel_order(c.account, &symbol, &OrderRef::Id(id), c.now)
                    .is_ok()
            });
            let reason = if cancelled {
                "UNKNOWN_CANCEL_FAILURE_REASON"
            } else {
                "UNKNOWN_CANCEL_ORDER"
            };
            json!({"success": cancelled, "failure_reason": reason, "order_id": uuid})
        })
        .collect();
    Ok(json!({"results": results}))
}
