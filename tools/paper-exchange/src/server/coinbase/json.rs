//! The JSON shapes of Coinbase Advanced Trade's answers over the engine's state: products,
//! books, accounts, orders (with their `order_configuration`), fills, the fee tier, and the
//! error body. Coinbase writes amounts as decimal strings and times as RFC 3339 UTC; its ids
//! are UUID strings, which the venue derives from the engine's numbers and reads back.

use chrono::SecondsFormat;
use driftline_core::{Asset, EpochMillis, MarketFilters, Side};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::engine::{Fill, Order, OrderType, TimeInForce, VenueStatus, MAX_PRICE};
use crate::server::calendar;

/// The first 12 hex digits of every order id the venue hands out ("paper" "pe"), then a version
/// 4 UUID's fixed digits around the engine's 64-bit id.
const ORDER_ID_PREFIX: &str = "7061706e-7065-4";

/// A decimal as Coinbase writes it: exact, without trailing zeros.
pub(super) fn dec(value: Decimal) -> String {
    value.normalize().to_string()
}

/// The Coinbase order id (a UUID string) of an engine order id: the same id always gives
/// the same UUID, and [`engine_order_id`] reads it back.
pub(super) fn order_uuid(id: u64) -> String {
    let hex = format!("{id:016x}");
    format!(
        "{ORDER_ID_PREFIX}{}-8{}-00{}",
        &hex[..3],
        &hex[3..6],
        &hex[6..]
    )
}

/// The engine order id of a Coinbase order id the venue handed out; `None` for any other text.
pub(super) fn engine_order_id(uuid: &str) -> Option<u64> {
    let rest = uuid.strip_prefix(ORDER_ID_PREFIX)?;
    let (a, rest) = (rest.get(..3)?, rest.get(3..)?);
    let rest = rest.strip_prefix("-8")?;
    let (b, rest) = (rest.get(..3)?, rest.get(3..)?);
    let c = rest.strip_prefix("-00")?;
    let hex = format!("{a}{b}{c}");
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(&hex, 16).ok()
}

/// The UUID of an account's wallet in one currency: derived from the names, so stable across
/// restarts of the same config.
pub(super) fn wallet_uuid(account: &str, asset: &Asset) -> String {
    let digest = Sha256::digest(format!("{account}/{}", asset.as_str()).as_bytes());
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// RFC 3339 UTC with milliseconds, as Coinbase writes times ("2026-12-02T15:04:05.123Z").
pub(super) fn rfc3339(ms: EpochMillis) -> String {
    calendar::utc(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Coinbase's product id of a market ("BTC-USDT").
pub(super) fn product_id(f: &MarketFilters) -> String {
    format!(
        "{}-{}",
        f.symbol().base().as_str(),
        f.symbol().quote().as_str()
    )
}

/// An error body as Coinbase writes it.
pub(super) fn error_body(error: &str, message: &str) -> Value {
    json!({"error": error, "error_details": message, "message": message})
}

pub(super) fn product(f: &MarketFilters, price: Decimal, mid: Decimal) -> Value {
    let base = f.symbol().base().as_str();
    let quote = f.symbol().quote().as_str();
    let max_qty = f.max_qty().unwrap_or_default();
    json!({
        "product_id": product_id(f), "price": dec(price),
        "price_percentage_change_24h": "0", "volume_24h": "0", "volume_percentage_change_24h": "0",
        "base_increment": dec(f.step_size()), "quote_increment": dec(f.tick_size()),
        "quote_min_size": dec(f.min_notional()), "quote_max_size": dec(max_qty * MAX_PRICE),
        "base_min_size": dec(f.min_qty()), "base_max_size": dec(max_qty),
        "base_name": base, "quote_name": quote, "watched": false, "is_disabled": false, "new": false,
        "status": "online", "cancel_only": false, "limit_only": false, "post_only": false,
        "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
        "quote_currency_id": quote, "base_currency_id": base, "fcm_trading_session_details": null,
        "mid_market_price": dec(mid), "alias": "", "alias_to": [], "base_display_symbol": base,
        "quote_display_symbol": quote, "view_only": false, "price_increment": dec(f.tick_size()),
        "display_name": product_id(f), "product_venue": "CBE"
    })
}

/// One side of a book as `product_book` and `best_bid_ask` write it.
pub(super) fn levels(levels: &[(Decimal, Decimal)]) -> Value {
    levels
        .iter()
        .map(|(p, q)| json!({"price": dec(*p), "size": dec(*q)}))
        .collect()
}

pub(super) fn pricebook(
    product: &str,
    bids: &[(Decimal, Decimal)],
    asks: &[(Decimal, Decimal)],
    now: EpochMillis,
) -> Value {
    json!({"product_id": product, "bids": levels(bids), "asks": levels(asks), "time": rfc3339(now)})
}

pub(super) fn wallet(account: &str, asset: &Asset, available: Decimal, hold: Decimal) -> Value {
    let currency = asset.as_str();
    json!({
        "uuid": wallet_uuid(account, asset), "name": format!("{currency} Wallet"),
        "currency": currency,
        "available_balance": {"value": dec(available), "currency": currency},
        "default": false, "active": true, "created_at": rfc3339(0), "updated_at": rfc3339(0),
        "deleted_at": null, "type": "ACCOUNT_TYPE_CRYPTO", "ready": true,
        "hold": {"value": dec(hold), "currency": currency}, "retail_portfolio_id": ""
    })
}

/// Coinbase's name of an order's status.
pub(super) fn status(s: VenueStatus) -> &'static str {
    match s {
        VenueStatus::New | VenueStatus::PartiallyFilled => "OPEN",
        VenueStatus::Filled => "FILLED",
        VenueStatus::Canceled => "CANCELLED",
        VenueStatus::Expired => "EXPIRED",
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// The `order_configuration` an engine order was placed with.
pub(super) fn order_configuration(o: &Order) -> Value {
    let size = dec(o.orig_qty);
    let price = dec(o.price);
    match (o.order_type, o.time_in_force) {
        (OrderType::LimitMaker, _) => {
            json!({"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": true}})
        }
        (OrderType::Limit, TimeInForce::Gtc) => {
            json!({"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": false}})
        }
        (OrderType::Limit, TimeInForce::Ioc) => {
            json!({"sor_limit_ioc": {"base_size": size, "limit_price": price}})
        }
        (OrderType::Limit, TimeInForce::Fok) => {
            json!({"limit_limit_fok": {"base_size": size, "limit_price": price}})
        }
        (OrderType::Market, _) if o.orig_quote_order_qty > Decimal::ZERO => {
            json!({"market_market_ioc": {"quote_size": dec(o.orig_quote_order_qty)}})
        }
        (OrderType::Market, _) => json!({"market_market_ioc": {"base_size": size}}),
    }
}

/// An order as `orders/historical` writes it, with the fills it has had.
pub(super) fn order(o: &Order, product: &str, fills: &[&Fill]) -> Value {
    // The engine charges this dialect's fees in the quote, as Coinbase states them (a buy's on
    // top of its cost).
    let fees: Decimal = fills.iter().map(|f| f.commission).sum();
    let average = if o.executed_qty.is_zero() {
        Decimal::ZERO
    } else {
        o.cumulative_quote_qty / o.executed_qty
    };
    let completion = if o.orig_qty.is_zero() {
        Decimal::ZERO
    } else {
        (o.executed_qty * Decimal::ONE_HUNDRED / o.orig_qty).round_dp(2)
    };
    let time_in_force = match (o.order_type, o.time_in_force) {
        (OrderType::Market, _) | (_, TimeInForce::Ioc) => "IMMEDIATE_OR_CANCEL",
        (_, TimeInForce::Fok) => "FILL_OR_KILL",
        (_, TimeInForce::Gtc) => "GOOD_UNTIL_CANCELLED",
    };
    let order_type = if o.order_type == OrderType::Market {
        "MARKET"
    } else {
        "LIMIT"
    };
    let after_fees = match o.side {
        Side::Buy => o.cumulative_quote_qty + fees,
        Side::Sell => o.cumulative_quote_qty - fees,
    };
    json!({
        "order_id": order_uuid(o.order_id), "product_id": product, "user_id": o.account,
        "order_configuration": order_configuration(o), "side": side(o.side),
        "client_order_id": o.client_order_id, "status": status(o.status),
        "time_in_force": time_in_force, "created_time": rfc3339(o.time),
        "completion_percentage": dec(completion), "filled_size": dec(o.executed_qty),
        "average_filled_price": dec(average), "fee": "", "number_of_fills": fills.len().to_string(),
        "filled_value": dec(o.cumulative_quote_qty), "pending_cancel": false,
        "size_in_quote": o.orig_quote_order_qty > Decimal::ZERO, "total_fees": dec(fees),
        "size_inclusive_of_fees": false, "total_value_after_fees": dec(after_fees),
        "trigger_status": "INVALID_ORDER_TYPE", "order_type": order_type, "reject_reason": "",
        "settled": !o.status.is_open(), "product_type": "SPOT", "reject_message": "",
        "cancel_message": "", "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": dec(o.locked), "is_liquidation": false,
        "last_fill_time": fills.iter().map(|f| f.time).max().map(rfc3339),
        "edit_history": [], "leverage": "", "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": ""
    })
}

/// A fill as `orders/historical/fills` writes it.
pub(super) fn fill(f: &Fill, product: &str) -> Value {
    json!({
        "entry_id": format!("{}-{}", f.trade_id, side(f.side).to_lowercase()),
        "trade_id": f.trade_id.to_string(), "order_id": order_uuid(f.order_id),
        "trade_time": rfc3339(f.time), "trade_type": "FILL", "price": dec(f.price),
        "size": dec(f.qty), "commission": dec(f.commission), "product_id": product,
        "sequence_timestamp": rfc3339(f.time),
        "liquidity_indicator": if f.is_maker { "MAKER" } else { "TAKER" },
        "size_in_quote": false, "user_id": f.account, "side": side(f.side),
        "retail_portfolio_id": ""
    })
}

/// The answer to a placement the venue took (or to a repeated `client_order_id`: the order it
/// already has).
pub(super) fn created(o: &Order, product: &str, configuration: Value) -> Value {
    json!({
        "success": true,
        "success_response": {
            "order_id": order_uuid(o.order_id), "product_id": product, "side": side(o.side),
            "client_order_id": o.client_order_id
        },
        "order_configuration": configuration
    })
}

/// Why Coinbase did not take an order: the `error` / `new_order_failure_reason` value, the
/// `preview_failure_reason`, and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failure {
    pub reason: &'static str,
    pub preview: &'static str,
    pub message: &'static str,
}

/// The answer to a placement Coinbase refuses for the order's own sake: HTTP 200 with
/// `success: false`.
pub(super) fn not_created(failure: Failure, configuration: Value) -> Value {
    json!({
        "success": false,
        "failure_reason": failure.reason,
        "order_id": "",
        "error_response": {
            "error": failure.reason, "message": failure.message, "error_details": failure.message,
            "preview_failure_reason": failure.preview, "new_order_failure_reason": failure.reason
        },
        "order_configuration": configuration
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_go_to_uuids_and_back() {
        for id in [0, 1, 42, 0xfff_fff, u64::MAX] {
            let uuid = order_uuid(id);
            assert_eq!(uuid.len(), 36, "{uuid}");
            assert_eq!(engine_order_id(&uuid), Some(id), "{uuid}");
        }
        assert_eq!(order_uuid(1), "7061706e-7065-4000-8000-000000000001");
        assert_eq!(
            engine_order_id("7061706e-7065-4000-8000-00000000000g"),
            None
        );
        assert_eq!(engine_order_id("not-an-order"), None);
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_800_000_300_123), "2027-01-15T08:05:00.123Z");
    }
}
