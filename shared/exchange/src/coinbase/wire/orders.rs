//! Orders as Coinbase lists them (`GET orders/historical/{id}`, `GET orders/historical/batch`)
//! into the port's reports: statuses, amounts, times, and the client order id driftline
//! reports for each (its own id, else the order's).

use driftline_core::ports::{ExchangeOrderId, ExchangeOrderStatus, OrderReport};
use driftline_core::{ClientOrderId, Side, Symbol};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{decimal_or_zero, next_cursor, rfc3339_ms};
use crate::decode::{decimal, from_json, WireError};

#[derive(Deserialize)]
struct OneOrderWire {
    order: Value,
}

#[derive(Deserialize)]
struct OrderWire {
    order_id: String,
    product_id: String,
    #[serde(default)]
    client_order_id: Option<String>,
    side: String,
    status: String,
    #[serde(default)]
    order_configuration: Option<Value>,
    #[serde(default)]
    filled_size: Option<String>,
    #[serde(default)]
    filled_value: Option<String>,
    #[serde(default)]
    average_filled_price: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    last_fill_time: Option<String>,
}

#[derive(Deserialize)]
struct OrderPageWire {
    orders: Vec<Value>,
    #[serde(default)]
    has_next: bool,
    #[serde(default)]
    cursor: String,
}

/// One page of an order list, each order kept as sent until it is read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPage {
    pub orders: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// # Errors
/// [`WireError`] when the body is not an order list.
pub fn parse_order_page(body: &[u8]) -> Result<OrderPage, WireError> {
    let page: OrderPageWire = from_json(body)?;
    Ok(OrderPage {
        orders: page.orders,
        next_cursor: next_cursor(page.has_next, page.cursor),
    })
}

/// The `client_order_id` an order of a list was placed with, as sent.
pub fn client_order_id_of(order: &Value) -> Option<&str> {
    order.get("client_order_id").and_then(Value::as_str)
}

/// An order answer (`{"order": {...}}`) for `symbol`, which Coinbase calls `product_id`.
///
/// # Errors
/// [`WireError`] naming the field that is missing, unreadable or for another product.
pub fn parse_order(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
) -> Result<OrderReport, WireError> {
    let one: OneOrderWire = from_json(body)?;
    order_report(one.order, symbol, product_id, "order.")
}

/// One order of a list page, read whole.
///
/// # Errors
/// [`WireError`] as for [`parse_order`].
pub fn parse_order_value(
    order: Value,
    symbol: &Symbol,
    product_id: &str,
) -> Result<OrderReport, WireError> {
    order_report(order, symbol, product_id, "order.")
}

/// Every order of a list page, for one product.
///
/// # Errors
/// [`WireError`] as for [`parse_order`], with the index of the order.
pub fn parse_orders(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
) -> Result<Vec<OrderReport>, WireError> {
    parse_order_page(body)?
        .orders
        .into_iter()
        .enumerate()
        .map(|(i, o)| order_report(o, symbol, product_id, &format!("orders[{i}].")))
        .collect()
}

/// The client order id driftline reports for an order: the one it was placed with when that
/// is a valid [`ClientOrderId`] (every driftline id is); else the order's own id, a UUID,
/// which is one too; else, for an order id that is no UUID either, `cb-` and the first 32 hex
/// digits of its SHA-256. The same order always gives the same id, and none of the fallbacks
/// can be a driftline id (`dl1-...`).
pub fn report_client_order_id(client_order_id: Option<&str>, order_id: &str) -> ClientOrderId {
    if let Some(id) = client_order_id.and_then(|c| ClientOrderId::parse(c).ok()) {
        return id;
    }
    if let Ok(id) = ClientOrderId::parse(order_id) {
        if !order_id.starts_with("dl1-") {
            return id;
        }
    }
    let digest = Sha256::digest(order_id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // 3 + 32 characters of [a-z0-9-]: always valid.
    ClientOrderId::parse(&format!("cb-{hex}"))
        .unwrap_or_else(|_| unreachable!("cb- and 32 hex digits is a valid client order id"))
}

/// Coinbase's order status, with what was filled, in the port's terms.
fn status(field: &str, s: &str, filled: Decimal) -> Result<ExchangeOrderStatus, WireError> {
    Ok(match s {
        "OPEN" if filled > Decimal::ZERO => ExchangeOrderStatus::PartiallyFilled,
        // Accepted and not yet working, or working: both may still fill.
        "OPEN" | "PENDING" | "QUEUED" | "UNKNOWN_ORDER_STATUS" | "EDIT_QUEUED" => {
            ExchangeOrderStatus::New
        }
        "CANCEL_QUEUED" => ExchangeOrderStatus::PendingCancel,
        "FILLED" => ExchangeOrderStatus::Filled,
        "CANCELLED" => ExchangeOrderStatus::Canceled,
        "EXPIRED" => ExchangeOrderStatus::Expired,
        "FAILED" => ExchangeOrderStatus::Rejected,
        other => return Err(WireError::new(field, format!("unknown status {other:?}"))),
    })
}

fn order_report(
    raw: Value,
    symbol: &Symbol,
    product_id: &str,
    at: &str,
) -> Result<OrderReport, WireError> {
    let f = |name: &str| format!("{at}{name}");
    let o: OrderWire = serde_json::from_value(raw)
        .map_err(|e| WireError::new(at.trim_end_matches('.'), e.to_string()))?;
    if o.product_id != product_id {
        return Err(WireError::new(
            f("product_id"),
            format!(
                "{:?} is not the product asked for, {product_id:?}",
                o.product_id
            ),
        ));
    }
    let side = match o.side.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => return Err(WireError::new(f("side"), format!("unknown side {other:?}"))),
    };
    let executed = decimal_or_zero(&f("filled_size"), o.filled_size.as_deref())?;
    let filled_value = decimal_or_zero(&f("filled_value"), o.filled_value.as_deref())?;
    // The order's one configuration (`limit_limit_gtc`, `sor_limit_ioc`, ...) holds its size
    // and limit price.
    let config = o
        .order_configuration
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|m| m.iter().next());
    let config_field = |name: &str| -> Result<Option<Decimal>, WireError> {
        let Some((kind, c)) = config else {
            return Ok(None);
        };
        match c.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                decimal(&f(&format!("order_configuration.{kind}.{name}")), s).map(Some)
            }
            Some(other) => Err(WireError::new(
                f(&format!("order_configuration.{kind}.{name}")),
                format!("{other} is not a decimal string"),
            )),
        }
    };
    let limit_price = match config_field("limit_price")? {
        Some(p) => p,
        // A market order has no limit: its average fill price stands in.
        None => decimal_or_zero(
            &f("average_filled_price"),
            o.average_filled_price.as_deref(),
        )?,
    };
    let price = driftline_core::Price::new(limit_price)
        .map_err(|e| WireError::new(f("order_configuration.limit_price"), e.to_string()))?;
    // An order sized in quote has no base size: what it filled is its size.
    let orig_qty = config_field("base_size")?.unwrap_or(executed);
    let updated = match (&o.last_fill_time, &o.created_time) {
        (Some(t), _) if !t.trim().is_empty() => rfc3339_ms(&f("last_fill_time"), t)?,
        (_, Some(t)) => rfc3339_ms(&f("created_time"), t)?,
        _ => return Err(WireError::new(f("created_time"), "missing")),
    };
    Ok(OrderReport {
        symbol: symbol.clone(),
        client_order_id: report_client_order_id(o.client_order_id.as_deref(), &o.order_id),
        exchange_order_id: ExchangeOrderId::new(o.order_id),
        side,
        price,
        orig_qty: orig_qty.normalize(),
        executed_qty: executed.normalize(),
        cumulative_quote_qty: filled_value.normalize(),
        status: status(&f("status"), &o.status, executed)?,
        // Coinbase's order answers carry no fills; `order_fills` lists them.
        fills: Vec::new(),
        updated_at_ms: updated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftline_core::Asset;
    use rust_decimal_macros::dec;

    fn btc_usdt() -> Symbol {
        Symbol::new(Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap()).unwrap()
    }

    const ORDER: &str = r#"{"order":{"order_id":"11111111-2222-4333-8444-555555555555","product_id":"BTC-USDT","client_order_id":"dl1-0123456789abcdef0123456789abcdef","side":"SELL","status":"OPEN","order_configuration":{"limit_limit_gtc":{"base_size":"0.00100","limit_price":"64230.00","post_only":false}},"filled_size":"0.0004","filled_value":"25.692","average_filled_price":"64230","created_time":"2027-01-15T08:00:00.000Z","last_fill_time":"2027-01-15T08:00:01.250Z","total_fees":"0.1"}}"#;

    #[test]
    fn an_order_reads_into_its_report() {
        let r = parse_order(ORDER.as_bytes(), &btc_usdt(), "BTC-USDT").unwrap();
        assert_eq!(
            r.exchange_order_id.as_str(),
            "11111111-2222-4333-8444-555555555555"
        );
        assert_eq!(
            r.client_order_id.as_str(),
            "dl1-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(r.side, Side::Sell);
        assert_eq!(r.price.value(), dec!(64230));
        assert_eq!(
            (r.orig_qty, r.executed_qty, r.cumulative_quote_qty),
            (dec!(0.001), dec!(0.0004), dec!(25.692))
        );
        assert_eq!(r.status, ExchangeOrderStatus::PartiallyFilled);
        assert_eq!(r.updated_at_ms, 1_800_000_001_250);
        assert!(matches!(
            parse_order(ORDER.as_bytes(), &btc_usdt(), "ETH-USDT"),
            Err(e) if e.field == "order.product_id"
        ));
    }

    #[test]
    fn orders_without_a_driftline_id_get_a_deterministic_one() {
        let uuid = "11111111-2222-4333-8444-555555555555";
        assert_eq!(
            report_client_order_id(Some("dl1-abc"), uuid).as_str(),
            "dl1-abc"
        );
        // Placed by hand or by another tool: empty, too long, or other characters.
        for foreign in [None, Some(""), Some("my order!"), Some(&*"x".repeat(40))] {
            assert_eq!(report_client_order_id(foreign, uuid).as_str(), uuid);
        }
        let odd = report_client_order_id(Some("bad id"), "not/a uuid");
        assert_eq!(odd, report_client_order_id(None, "not/a uuid"));
        assert!(odd.as_str().starts_with("cb-") && odd.as_str().len() == 35);
        // An order id that looks like a driftline id is never taken for one.
        assert!(report_client_order_id(None, "dl1-x")
            .as_str()
            .starts_with("cb-"));
    }

    #[test]
    fn statuses_map_to_the_port() {
        for (s, filled, want) in [
            ("OPEN", dec!(0), ExchangeOrderStatus::New),
            ("PENDING", dec!(0), ExchangeOrderStatus::New),
            ("QUEUED", dec!(0), ExchangeOrderStatus::New),
            ("OPEN", dec!(1), ExchangeOrderStatus::PartiallyFilled),
            ("CANCEL_QUEUED", dec!(0), ExchangeOrderStatus::PendingCancel),
            ("FILLED", dec!(1), ExchangeOrderStatus::Filled),
            ("CANCELLED", dec!(0), ExchangeOrderStatus::Canceled),
            ("EXPIRED", dec!(0), ExchangeOrderStatus::Expired),
            ("FAILED", dec!(0), ExchangeOrderStatus::Rejected),
        ] {
            assert_eq!(status("s", s, filled).unwrap(), want, "{s}");
        }
        assert!(status("s", "LOST", dec!(0)).is_err());
    }
}
