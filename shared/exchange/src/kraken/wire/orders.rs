//! Orders as Kraken reports them (`OpenOrders`, `ClosedOrders`, `QueryOrders`) into the
//! port's reports, and what `AddOrder` and `CancelOrder` answer.

use std::collections::BTreeMap;

use driftline_core::ports::{ExchangeOrderId, ExchangeOrderStatus, OrderReport};
use driftline_core::{EpochMillis, Side, Symbol};
use serde::Deserialize;
use serde_json::Number;

use super::{millis, result};
use crate::decode::{decimal, price, WireError};
use crate::kraken::ids;

// Orders: POST /0/private/OpenOrders, ClosedOrders, QueryOrders

#[derive(Debug, Clone, Deserialize)]
struct DescrWire {
    pair: String,
    #[serde(rename = "type")]
    side: String,
    price: String,
}

#[derive(Debug, Clone, Deserialize)]
struct OrderWire {
    status: String,
    opentm: Number,
    #[serde(default)]
    closetm: Option<Number>,
    descr: DescrWire,
    vol: String,
    vol_exec: String,
    cost: String,
    #[serde(default)]
    cl_ord_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    trades: Vec<String>,
}

/// One order as Kraken reports it.
#[derive(Debug, Clone)]
pub struct KrakenOrder {
    pub txid: String,
    /// `descr.pair`: the pair's altname.
    pub pair: String,
    pub cl_ord_id: Option<String>,
    /// Why it closed (`User requested`, `Post only order`, ...), when it did.
    pub reason: Option<String>,
    /// Its trades' ids (asked for with `trades=true`).
    pub trades: Vec<String>,
    wire: OrderWire,
}

/// A page of orders and, for `ClosedOrders`, how many match in all.
#[derive(Debug, Clone)]
pub struct OrderPage {
    pub orders: Vec<KrakenOrder>,
    pub count: Option<u64>,
}

fn orders_of(map: BTreeMap<String, OrderWire>) -> Vec<KrakenOrder> {
    map.into_iter()
        .map(|(txid, wire)| KrakenOrder {
            pair: wire.descr.pair.clone(),
            cl_ord_id: wire.cl_ord_id.clone(),
            reason: wire.reason.clone(),
            trades: wire.trades.clone(),
            txid,
            wire,
        })
        .collect()
}

#[derive(Deserialize)]
struct OpenWire {
    open: BTreeMap<String, OrderWire>,
}

#[derive(Deserialize)]
struct ClosedWire {
    closed: BTreeMap<String, OrderWire>,
    #[serde(default)]
    count: Option<u64>,
}

/// `OpenOrders`: `{"open": {txid: order}}`.
///
/// # Errors
/// [`WireError`] naming the order and field that is missing or of the wrong type.
pub fn parse_open_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let open: OpenWire = result(body)?;
    Ok(OrderPage {
        orders: orders_of(open.open),
        count: None,
    })
}

/// `ClosedOrders`: `{"closed": {txid: order}, "count": n}`.
///
/// # Errors
/// As [`parse_open_orders`].
pub fn parse_closed_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let closed: ClosedWire = result(body)?;
    Ok(OrderPage {
        orders: orders_of(closed.closed),
        count: closed.count,
    })
}

/// `QueryOrders`: `{txid: order}`.
///
/// # Errors
/// As [`parse_open_orders`].
pub fn parse_query_orders(body: &[u8]) -> Result<OrderPage, WireError> {
    let orders: BTreeMap<String, OrderWire> = result(body)?;
    Ok(OrderPage {
        orders: orders_of(orders),
        count: None,
    })
}

impl KrakenOrder {
    /// When it was opened.
    ///
    /// # Errors
    /// [`WireError`] when `opentm` is not a time.
    pub fn opened_at_ms(&self) -> Result<EpochMillis, WireError> {
        millis(&self.field("opentm"), &self.wire.opentm)
    }

    /// Whether Kraken keeps it open (`pending` or `open`).
    pub fn is_open(&self) -> bool {
        matches!(self.wire.status.as_str(), "pending" | "open")
    }

    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.txid)
    }

    /// The order as the port reports it, for `symbol` (the caller checked `pair` is its
    /// market). Kraken's `closed` is filled (or, with volume left, done with the rest
    /// cancelled); `canceled` and `expired` are final as they say; `pending` and `open` are new
    /// or partly filled.
    ///
    /// # Errors
    /// [`WireError`] naming the field that is missing or unreadable.
    pub fn report(&self, symbol: &Symbol) -> Result<OrderReport, WireError> {
        let w = &self.wire;
        let f = |name: &str| self.field(name);
        let orig_qty = decimal(&f("vol"), &w.vol)?.normalize();
        let executed_qty = decimal(&f("vol_exec"), &w.vol_exec)?.normalize();
        if orig_qty.is_sign_negative() || executed_qty.is_sign_negative() || executed_qty > orig_qty
        {
            return Err(WireError::new(
                f("vol_exec"),
                format!("{} executed of {}", w.vol_exec, w.vol),
            ));
        }
        let status = match w.status.as_str() {
            "pending" | "open" if executed_qty.is_zero() => ExchangeOrderStatus::New,
            "pending" | "open" => ExchangeOrderStatus::PartiallyFilled,
            "closed" if executed_qty == orig_qty => ExchangeOrderStatus::Filled,
            "closed" | "canceled" => ExchangeOrderStatus::Canceled,
            "expired" => ExchangeOrderStatus::Expired,
            other => {
                return Err(WireError::new(
                    f("status"),
                    format!("unknown status {other:?}"),
                ))
            }
        };
        let side = match w.descr.side.as_str() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(WireError::new(f("descr.type"), format!("{other:?}"))),
        };
        let client_order_id = ids::client_order_id(self.cl_ord_id.as_deref(), &self.txid)
            .map_err(|e| WireError::new(f("cl_ord_id"), e))?;
        let updated_at_ms = match &w.closetm {
            Some(closed) => millis(&f("closetm"), closed)?,
            None => self.opened_at_ms()?,
        };
        Ok(OrderReport {
            symbol: symbol.clone(),
            exchange_order_id: ExchangeOrderId::new(self.txid.clone()),
            client_order_id,
            side,
            price: price(&f("descr.price"), &w.descr.price)?,
            orig_qty,
            executed_qty,
            cumulative_quote_qty: decimal(&f("cost"), &w.cost)?.normalize(),
            status,
            fills: Vec::new(),
            updated_at_ms,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// POST /0/private/AddOrder, CancelOrder

#[derive(Deserialize)]
struct AddOrderWire {
    txid: Vec<String>,
}

/// The txid of a placed order.
///
/// # Errors
/// [`WireError`] unless the answer carries exactly one txid.
pub fn parse_add_order(body: &[u8]) -> Result<String, WireError> {
    let added: AddOrderWire = result(body)?;
    match added.txid.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        other => Err(WireError::new(
            "result.txid",
            format!("{} txids, expected one", other.len()),
        )),
    }
}

#[derive(Deserialize)]
struct CancelWire {
    count: u64,
}

/// How many orders a `CancelOrder` cancelled.
///
/// # Errors
/// [`WireError`] unless the answer carries `count`.
pub fn parse_cancel(body: &[u8]) -> Result<u64, WireError> {
    Ok(result::<CancelWire>(body)?.count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraken::wire::tests::asset;
    use rust_decimal_macros::dec;

    const ORDER: &str = r#"{"refid":null,"userref":0,"status":"closed","opentm":1800000000.5,"closetm":1800000001.25,"starttm":0,"expiretm":0,"descr":{"pair":"XBTUSDT","type":"buy","ordertype":"limit","price":"64230.0","price2":"0","leverage":"none","order":"buy 0.00100000 XBTUSDT @ limit 64230.0","close":""},"vol":"0.00100000","vol_exec":"0.00100000","cost":"64.23000","fee":"0.16700","price":"64230.0","oflags":"fciq","cl_ord_id":"01234567-89ab-cdef-0123-456789abcdef","reason":null,"trades":["TAAAAA-BBBBB-CCCCCC"]}"#;

    #[test]
    fn an_order_reads_into_the_ports_report() {
        let body = format!(r#"{{"error":[],"result":{{"OQCLML-BW3P3-BUCMWZ":{ORDER}}}}}"#);
        let page = parse_query_orders(body.as_bytes()).unwrap();
        let [order] = page.orders.as_slice() else {
            panic!("one order")
        };
        assert_eq!(order.pair, "XBTUSDT");
        assert_eq!(order.trades, ["TAAAAA-BBBBB-CCCCCC"]);
        assert!(!order.is_open());
        let symbol = Symbol::new(asset("BTC"), asset("USDT")).unwrap();
        let expected = OrderReport {
            symbol: symbol.clone(),
            exchange_order_id: ExchangeOrderId::new("OQCLML-BW3P3-BUCMWZ"),
            client_order_id: driftline_core::ClientOrderId::parse(
                "dl1-0123456789abcdef0123456789abcdef",
            )
            .unwrap(),
            side: Side::Buy,
            price: driftline_core::Price::new(dec!(64230)).unwrap(),
            orig_qty: dec!(0.001),
            executed_qty: dec!(0.001),
            cumulative_quote_qty: dec!(64.23),
            status: ExchangeOrderStatus::Filled,
            fills: Vec::new(),
            // closetm, 1800000001.25 s.
            updated_at_ms: 1_800_000_001_250,
        };
        assert_eq!(order.report(&symbol), Ok(expected));
    }
}
