//! Kraken's trading (private): `AddOrder` (or only validate it) and `CancelOrder` by txid,
//! userref or `cl_ord_id`.

use serde_json::{json, Value};

use super::account_data::orders_of;
use super::json as shapes;
use super::market_data::decimals_of;
use super::names::{parse_txid, txid, IdKind};
use super::order_request::{cl_ord_id, parse_add_order, userref};
use super::{Call, KrakenError};
use crate::engine::{Engine, OrderRef};

/// Open orders one account may hold in one pair (Kraken's Starter tier; Intermediate has 80,
/// Pro 225).
const MAX_OPEN_ORDERS_PER_PAIR: usize = 60;

pub(super) fn add_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let order = parse_add_order(engine, c.p)?;
    let open_in_pair = engine
        .orders()
        .filter(|o| o.account == c.account && o.symbol == order.pair.symbol && o.status.is_open())
        .count();
    if open_in_pair >= MAX_OPEN_ORDERS_PER_PAIR {
        return Err(KrakenError::new("EOrder:Orders limit exceeded"));
    }
    let decimals = decimals_of(engine, &order.pair.symbol);
    let descr = shapes::description(
        (order.new.side, order.new.order_type),
        order.new.quantity.unwrap_or_default(),
        order.new.price.unwrap_or_default(),
        &order.pair,
        decimals,
    );
    if order.validate {
        engine.test_order(c.account, &order.new)?;
        return Ok(json!({"descr": {"order": descr["order"]}}));
    }
    let placed = engine.place_order(c.account, order.new, c.now)?;
    let mut result = json!({
        "descr": {"order": descr["order"]},
        "txid": [txid(IdKind::Order, placed.order.order_id)]
    });
    if let (Value::Object(map), Some(c)) = (&mut result, cl_ord_id(&placed.order)) {
        map.insert("cl_ord_id".into(), json!(c));
    }
    Ok(result)
}

pub(super) fn cancel_order(engine: &mut Engine, c: &Call<'_>) -> Result<Value, KrakenError> {
    let targets: Vec<(String, u64)> = match (c.p.get("txid"), c.p.get("cl_ord_id")) {
        (Some(_), Some(_)) | (None, None) => return Err(KrakenError::invalid("txid")),
        (Some(id), None) => match (parse_txid(IdKind::Order, id), id.parse::<i32>()) {
            (Some(n), _) => orders_of(engine, c.account)
                .filter(|o| o.order_id == n)
                .map(|o| (o.symbol.clone(), o.order_id))
                .collect(),
            // A userref in `txid` cancels every open order placed with it.
            (None, Ok(u)) => orders_of(engine, c.account)
                .filter(|o| o.status.is_open() && userref(o) == Some(u))
                .map(|o| (o.symbol.clone(), o.order_id))
                .collect(),
            (None, Err(_)) => Vec::new(),
        },
        (None, Some(cl)) => orders_of(engine, c.account)
            .filter(|o| o.status.is_open() && cl_ord_id(o) == Some(cl))
            .map(|o| (o.symbol.clone(), o.order_id))
            .collect(),
    };
    if targets.is_empty() {
        return Err(KrakenError::new("EOrder:Unknown order"));
    }
    let mut count = 0;
    for (symbol, id) in targets {
        engine.cancel_order(c.account, &symbol, &OrderRef::Id(id), c.now)?;
        count += 1;
    }
    Ok(json!({"count": count, "pending": false}))
}
