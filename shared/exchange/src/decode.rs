//! Reading a venue's JSON, whatever the venue: a body into a typed value with the path of
//! whatever did not fit, and the venue's number strings into `Decimal` exactly. Every adapter's
//! parsers build on these, so every unreadable answer is a [`WireError`] naming field and value.

use driftline_core::Price;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// A response body this client cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// Where in the body: a JSON path like `fills[0].price`, or the document for bad JSON.
    pub field: String,
    pub reason: String,
}

impl WireError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A body as `T`; the error names the JSON path that did not fit.
pub(crate) fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        WireError::new(
            // An error before any field is read (bad JSON at the top) has an empty path.
            if path == "." || path.is_empty() {
                "body".to_owned()
            } else {
                path
            },
            e.into_inner().to_string(),
        )
    })
}

/// A decimal from the exchange's string, exactly (no silent rounding of extra digits).
pub(crate) fn decimal(field: &str, value: &str) -> Result<Decimal, WireError> {
    Decimal::from_str_exact(value)
        .map_err(|e| WireError::new(field, format!("{value:?} is not a decimal: {e}")))
}

/// A positive price from the exchange's string.
pub(crate) fn price(field: &str, value: &str) -> Result<Price, WireError> {
    Price::new(decimal(field, value)?).map_err(|e| WireError::new(field, format!("{value:?}: {e}")))
}
