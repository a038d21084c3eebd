//! Reading and writing DynamoDB attributes. Decimals are strings (S), never numbers (N);
//! counters and epoch times are numbers.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use driftline_core::ports::StoreError;
use rust_decimal::Decimal;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A decimal as a plain string without exponent.
pub(crate) fn dec(v: Decimal) -> AttributeValue {
    AttributeValue::S(v.normalize().to_string())
}

fn corrupt(what: &'static str, field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        field,
        reason: reason.into(),
    }
}

pub(crate) fn opt_s<'a>(
    item: &'a Item,
    what: &'static str,
    field: &'static str,
) -> Result<Option<&'a str>, StoreError> {
    match item.get(field) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(what, field, "expected a string")),
    }
}

pub(crate) fn req_s<'a>(
    item: &'a Item,
    what: &'static str,
    field: &'static str,
) -> Result<&'a str, StoreError> {
    opt_s(item, what, field)?.ok_or_else(|| corrupt(what, field, "missing"))
}

pub(crate) fn opt_n<T: FromStr>(
    item: &Item,
    what: &'static str,
    field: &'static str,
) -> Result<Option<T>, StoreError> {
    match item.get(field) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(what, field, format!("{v:?} is not an integer"))),
        Some(_) => Err(corrupt(what, field, "expected a number")),
    }
}

pub(crate) fn req_n<T: FromStr>(
    item: &Item,
    what: &'static str,
    field: &'static str,
) -> Result<T, StoreError> {
    opt_n(item, what, field)?.ok_or_else(|| corrupt(what, field, "missing"))
}

pub(crate) fn req_dec(
    item: &Item,
    what: &'static str,
    field: &'static str,
) -> Result<Decimal, StoreError> {
    let v = req_s(item, what, field)?;
    Decimal::from_str(v).map_err(|_| corrupt(what, field, format!("{v:?} is not a decimal")))
}

pub(crate) fn req_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    what: &'static str,
    field: &'static str,
) -> Result<T, StoreError> {
    let v = req_s(item, what, field)?;
    let de = &mut serde_json::Deserializer::from_str(v);
    serde_path_to_error::deserialize(de)
        .map_err(|e| corrupt(what, field, format!("{}: {}", e.path(), e.inner())))
}

pub(crate) fn to_json<T: serde::Serialize>(
    value: &T,
    field: &'static str,
) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::InvalidInput {
            field,
            value: String::new(),
            reason: if e.is_data() {
                "not representable as JSON"
            } else {
                "not serializable"
            },
        })
}

/// An SDK failure as a port error, with the SDK's full context (never secrets: the SDK does
/// not put credentials in errors).
pub(crate) fn unavailable<E>(service: &'static str, operation: &'static str, err: E) -> StoreError
where
    E: std::error::Error,
{
    StoreError::Unavailable {
        service,
        operation,
        reason: aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
    }
}
