//! An order's record as a DynamoDB item and back: one item per order in its portfolio's
//! partition (`ORDER#<client order id>`), decimals as strings, the fill progress as a
//! fixed-width key whose order is numeric order.

use aws_sdk_dynamodb::types::AttributeValue;
use driftline_core::orders::{fill_progress_key, OrderKey, OrderRecord};
use driftline_core::ports::{ExchangeOrderId, StoreError};
use driftline_core::OrderStatus;

use super::{portfolio_pk, DynamoStore};
use crate::item::{dec, n, opt_n, opt_s, req_dec, req_json, req_n, req_s, s, to_json, Item};
use crate::table::TTL_ATTRIBUTE;

const ORDER: &str = "order";

pub(super) fn order_key(key: &OrderKey) -> Item {
    DynamoStore::key(
        portfolio_pk(&key.portfolio_id),
        format!("ORDER#{}", key.client_order_id),
    )
}

pub(super) fn order_item(r: &OrderRecord, ttl: Option<AttributeValue>) -> Result<Item, StoreError> {
    let mut item = order_key(&r.key());
    item.insert("item_type".into(), s("ORDER"));
    item.insert("intent".into(), to_json(&r.intent, "intent")?);
    item.insert("intent_expires_at_ms".into(), n(r.intent.expires_at_ms));
    item.insert("order_status".into(), s(r.status.as_str()));
    item.insert("record_version".into(), n(r.version));
    item.insert("filled_qty".into(), dec(r.filled_qty));
    item.insert("fill_progress".into(), s(fill_progress_key(r.filled_qty)?));
    item.insert("cumulative_quote_qty".into(), dec(r.cumulative_quote_qty));
    item.insert("fees".into(), dec(r.fees));
    item.insert("fees_quote".into(), dec(r.fees_quote));
    if let Some(a) = &r.fee_asset {
        item.insert("fee_asset".into(), s(a.as_str()));
    }
    if let Some(id) = &r.exchange_order_id {
        item.insert("exchange_order_id".into(), s(id.as_str()));
    }
    item.insert("attempts".into(), n(r.attempts));
    if let Some(o) = &r.claim_owner {
        item.insert("claim_owner".into(), s(o.clone()));
    }
    if let Some(e) = r.claim_expires_at_ms {
        item.insert("claim_expires_at_ms".into(), n(e));
    }
    if let Some(e) = &r.last_error {
        item.insert("last_error".into(), s(e.clone()));
    }
    item.insert("updated_at_ms".into(), n(r.updated_at_ms));
    if let Some(ttl) = ttl {
        item.insert(TTL_ATTRIBUTE.into(), ttl);
    }
    Ok(item)
}

pub(super) fn order_record(item: &Item) -> Result<OrderRecord, StoreError> {
    let status = req_s(item, ORDER, "order_status")?;
    Ok(OrderRecord {
        intent: req_json(item, ORDER, "intent")?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt {
            what: ORDER,
            field: "order_status",
            reason: format!("unknown status {status:?}"),
        })?,
        version: req_n(item, ORDER, "record_version")?,
        filled_qty: req_dec(item, ORDER, "filled_qty")?,
        cumulative_quote_qty: req_dec(item, ORDER, "cumulative_quote_qty")?,
        fees: req_dec(item, ORDER, "fees")?,
        // Absent on records written before fees were counted in the quote asset.
        fees_quote: match item.get("fees_quote") {
            Some(_) => req_dec(item, ORDER, "fees_quote")?,
            None => rust_decimal::Decimal::ZERO,
        },
        fee_asset: opt_s(item, ORDER, "fee_asset")?
            .map(|a| {
                a.parse().map_err(|_| StoreError::Corrupt {
                    what: ORDER,
                    field: "fee_asset",
                    reason: format!("{a:?} is not an asset code"),
                })
            })
            .transpose()?,
        exchange_order_id: exchange_order_id(item)?,
        attempts: req_n(item, ORDER, "attempts")?,
        claim_owner: opt_s(item, ORDER, "claim_owner")?.map(str::to_owned),
        claim_expires_at_ms: opt_n(item, ORDER, "claim_expires_at_ms")?,
        last_error: opt_s(item, ORDER, "last_error")?.map(str::to_owned),
        updated_at_ms: req_n(item, ORDER, "updated_at_ms")?,
    })
}

/// The venue's order id: a string; records written before ids were text hold a number, which
/// reads back as its digits (no migration of stored items is needed).
fn exchange_order_id(item: &Item) -> Result<Option<ExchangeOrderId>, StoreError> {
    Ok(match item.get("exchange_order_id") {
        Some(AttributeValue::N(_)) => {
            opt_n::<u64>(item, ORDER, "exchange_order_id")?.map(ExchangeOrderId::from)
        }
        _ => opt_s(item, ORDER, "exchange_order_id")?.map(ExchangeOrderId::new),
    })
}
