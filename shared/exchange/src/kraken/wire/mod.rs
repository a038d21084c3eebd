//! Kraken's JSON, read into domain types. Every answer is `{"error": [...], "result": ...}`;
//! amounts are strings and become `Decimal` exactly, times are seconds as JSON numbers and
//! become milliseconds through their decimal text (never float arithmetic). Anything
//! unreadable is a [`WireError`] naming the field (`result.XXBTZUSD.asks[0]`) and the value.
//!
//! One module a group of calls: `markets` (`Assets`, `AssetPairs`, `Depth`), `balances`
//! (`BalanceEx`), `orders` (order lists and reports, `AddOrder`, `CancelOrder`), `trades`
//! (`QueryTrades`, an order's fills); here the envelope, times and `Time`.

mod balances;
mod markets;
mod orders;
mod trades;

use driftline_core::EpochMillis;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Number;

pub use self::balances::parse_balance_ex;
pub use self::markets::{
    asset_of_altname, parse_asset_pairs, parse_assets, parse_depth, KrakenMarket,
};
pub use self::orders::{
    parse_add_order, parse_cancel, parse_closed_orders, parse_open_orders, parse_query_orders,
    KrakenOrder, OrderPage,
};
pub use self::trades::parse_trades;
use crate::decode::{from_json, WireError};

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    error: Vec<String>,
}

/// The errors of an answer (`E...`); warnings (`W...`) are not errors.
///
/// # Errors
/// [`WireError`] when the body is not Kraken's envelope.
pub fn parse_errors(body: &[u8]) -> Result<Vec<String>, WireError> {
    let envelope: Errors = from_json(body)?;
    Ok(envelope
        .error
        .into_iter()
        .filter(|e| !e.starts_with('W'))
        .collect())
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    error: Vec<String>,
    result: Option<T>,
}

/// The `result` of a successful answer.
fn result<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let envelope: Envelope<T> = from_json(body)?;
    if let Some(e) = envelope.error.iter().find(|e| !e.starts_with('W')) {
        return Err(WireError::new(
            "error",
            format!("the answer is an error: {e}"),
        ));
    }
    envelope
        .result
        .ok_or_else(|| WireError::new("result", "missing"))
}

/// Seconds since the epoch, as Kraken writes times (`1688148493.7708`), in milliseconds.
fn millis(field: &str, seconds: &Number) -> Result<EpochMillis, WireError> {
    if let Some(whole) = seconds.as_i64() {
        return whole
            .checked_mul(1000)
            .ok_or_else(|| WireError::new(field, format!("{seconds} is out of range")));
    }
    // The shortest text that reads back as the same float: Kraken's own digits.
    let text = seconds.to_string();
    text.parse::<Decimal>()
        .ok()
        .and_then(|s| s.checked_mul(Decimal::ONE_THOUSAND))
        .and_then(|ms| ms.trunc().to_i64())
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| WireError::new(field, format!("{text} is not a time in seconds")))
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/Time

#[derive(Deserialize)]
struct TimeWire {
    unixtime: i64,
}

/// Server time (`unixtime`, whole seconds) in milliseconds.
///
/// # Errors
/// [`WireError`] unless the body is Kraken's `Time` answer.
pub fn parse_time(body: &[u8]) -> Result<EpochMillis, WireError> {
    let time: TimeWire = result(body)?;
    time.unixtime
        .checked_mul(1000)
        .ok_or_else(|| WireError::new("result.unixtime", "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftline_core::Asset;

    pub(super) fn asset(code: &str) -> Asset {
        Asset::new(code).unwrap()
    }

    /// `Assets` with renamed altnames (`XBT`, `XDG`), plain ones and an earn wallet (`ETH2.S`).
    pub(super) const ASSETS: &str = r#"{"error":[],"result":{"XXBT":{"aclass":"currency","altname":"XBT","decimals":10},"ZUSD":{"altname":"USD"},"USDT":{"altname":"USDT"},"XXDG":{"altname":"XDG"},"ETH2.S":{"altname":"ETH2.S"}}}"#;

    #[test]
    fn times_become_milliseconds_through_their_digits() {
        let n = |s: &str| serde_json::from_str::<Number>(s).unwrap();
        assert_eq!(millis("t", &n("1688148493.7708")), Ok(1_688_148_493_770));
        assert_eq!(millis("t", &n("1800000000")), Ok(1_800_000_000_000));
        assert_eq!(millis("t", &n("1800000000.001")), Ok(1_800_000_000_001));
        assert!(millis("t", &n("1e300")).is_err());
        assert!(millis("t", &n("-5.5")).is_err());
    }

    #[test]
    fn errors_leave_warnings_out() {
        let body = br#"{"error":["WGeneral:Something","EOrder:Insufficient funds"],"result":{}}"#;
        assert_eq!(parse_errors(body).unwrap(), ["EOrder:Insufficient funds"]);
        assert!(
            parse_cancel(body).is_err(),
            "an error answer has no result to read"
        );
        assert_eq!(parse_cancel(br#"{"error":[],"result":{"count":1}}"#), Ok(1));
        assert_eq!(
            parse_add_order(br#"{"error":[],"result":{"descr":{"order":"x"},"txid":["OA-B-C"]}}"#),
            Ok("OA-B-C".to_owned())
        );
    }
}
