//! Coinbase Advanced Trade's JSON, read into domain types. Amounts arrive as decimal strings
//! and become `Decimal`s exactly; times are RFC 3339. Anything unreadable is a [`WireError`]
//! naming the field and the value; no input panics (`tests/fuzz.rs`).
//!
//! Lists are read item by item where one odd item must not hide the others: a product whose
//! increments cannot be read keeps its error, an order page is scanned by client order id
//! before the one wanted is read whole.
//!
//! One module a group of endpoints: `products` (the product list and book), `accounts`
//! (wallets into balances), `orders` (order lists and reports, statuses, the client order id
//! rule), `placement` (create and cancel answers), `fills`; here what they share (empty
//! decimals, times, cursors), server time and the error body.

mod accounts;
mod fills;
mod orders;
mod placement;
mod products;

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

pub use self::accounts::{balances, parse_accounts, WalletPage};
pub use self::fills::{parse_fills, FillPage};
pub use self::orders::{
    client_order_id_of, parse_order, parse_order_page, parse_order_value, parse_orders,
    report_client_order_id, OrderPage,
};
pub use self::placement::{parse_cancel, parse_create_order, Created};
pub use self::products::{parse_product_book, parse_products, Product};
pub use crate::decode::WireError;
use crate::decode::{decimal, from_json};

/// A decimal that Coinbase may leave empty (`""`) or out when it is zero.
fn decimal_or_zero(field: &str, value: Option<&str>) -> Result<Decimal, WireError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Decimal::ZERO),
        Some(v) => decimal(field, v),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2027-01-15T08:00:00.123Z`).
///
/// # Errors
/// [`WireError`] naming `field` when `value` is not such a time.
pub fn rfc3339_ms(field: &str, value: &str) -> Result<EpochMillis, WireError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| WireError::new(field, format!("{value:?} is not an RFC 3339 time: {e}")))
}

/// An RFC 3339 UTC time with seconds, as Coinbase's date filters take it.
pub(in crate::coinbase) fn rfc3339(ms: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The cursor of the next page, when the answer says there is one.
fn next_cursor(has_next: bool, cursor: String) -> Option<String> {
    (has_next && !cursor.is_empty()).then_some(cursor)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/time

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWire {
    epoch_millis: Value,
}

/// # Errors
/// [`WireError`] unless the body carries `epochMillis` as digits (string or number).
pub fn parse_time(body: &[u8]) -> Result<EpochMillis, WireError> {
    let t: TimeWire = from_json(body)?;
    let ms = match &t.epoch_millis {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    ms.ok_or_else(|| WireError::new("epochMillis", format!("{} is not a time", t.epoch_millis)))
}

/// Coinbase's error body (`{"error": "NOT_FOUND", "message": ...}`); 401 comes as bare text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The body of an answer that is not a success, if it is Coinbase's JSON error.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|b| !b.error.is_empty() || !b.message.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::utc("2027-01-15T08:00:00.123Z", Some(1_800_000_000_123))]
    #[case::microseconds_and_an_offset("2027-01-15T08:00:00.123456+00:00", Some(1_800_000_000_123))]
    #[case::not_a_time("yesterday", None)]
    fn times_read_as_rfc3339(#[case] text: &str, #[case] ms: Option<EpochMillis>) {
        assert_eq!(rfc3339_ms("t", text).ok(), ms);
    }

    #[test]
    fn times_write_as_rfc3339_and_server_time_reads_its_milliseconds() {
        assert_eq!(rfc3339(1_800_000_000_123), "2027-01-15T08:00:00Z");
        assert_eq!(
            parse_time(br#"{"iso":"x","epochSeconds":"1800000000","epochMillis":"1800000000123"}"#)
                .unwrap(),
            1_800_000_000_123
        );
    }
}
