//! A new order's body as Coinbase takes it: the string fields, and the `order_configuration`
//! (exactly one order kind, its sizes and prices as exact decimal strings) in the engine's
//! terms.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::CbError;
use crate::engine::{OrderType, TimeInForce};

pub(super) fn string_field<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, CbError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(CbError::invalid(format!("{name} is required")))
        }
        Some(_) => Err(CbError::invalid(format!("{name} must be a string"))),
    }
}

/// A decimal field of an order configuration, sent as a string.
fn decimal_field(
    config: &Map<String, Value>,
    kind: &str,
    name: &str,
) -> Result<Option<Decimal>, CbError> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Decimal::from_str_exact(s.trim()).map(Some).map_err(|_| {
            CbError::invalid(format!(
                "order_configuration.{kind}.{name} must be a decimal string"
            ))
        }),
        Some(_) => Err(CbError::invalid(format!(
            "order_configuration.{kind}.{name} must be a decimal string"
        ))),
    }
}

fn required(value: Option<Decimal>, kind: &str, name: &str) -> Result<Decimal, CbError> {
    value.ok_or_else(|| CbError::invalid(format!("order_configuration.{kind}.{name} is required")))
}

/// What an `order_configuration` asks for, in the engine's terms.
pub(super) struct OrderKind {
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub base_size: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub quote_size: Option<Decimal>,
}

/// The order an `order_configuration` asks for; `None` for a configuration the venue does not
/// trade (stop, bracket, GTD).
pub(super) fn order_kind(configuration: &Map<String, Value>) -> Result<Option<OrderKind>, CbError> {
    let mut kinds = configuration.iter();
    let (Some((kind, config)), None) = (kinds.next(), kinds.next()) else {
        return Err(CbError::invalid(
            "order_configuration must hold exactly one order type",
        ));
    };
    let config = config
        .as_object()
        .ok_or_else(|| CbError::invalid(format!("order_configuration.{kind} must be an object")))?;
    let base = decimal_field(config, kind, "base_size")?;
    let price = decimal_field(config, kind, "limit_price")?;
    Ok(Some(match kind.as_str() {
        "limit_limit_gtc" => {
            let post_only = match config.get("post_only") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(CbError::invalid(
                        "order_configuration.limit_limit_gtc.post_only must be a boolean",
                    ))
                }
            };
            let order_type = if post_only {
                OrderType::LimitMaker
            } else {
                OrderType::Limit
            };
            let base = required(base, kind, "base_size")?;
            let price = required(price, kind, "limit_price")?;
            OrderKind {
                order_type,
                time_in_force: TimeInForce::Gtc,
                base_size: Some(base),
                limit_price: Some(price),
                quote_size: None,
            }
        }
        "sor_limit_ioc" | "limit_limit_fok" => {
            let tif = if kind == "sor_limit_ioc" {
                TimeInForce::Ioc
            } else {
                TimeInForce::Fok
            };
            let base = required(base, kind, "base_size")?;
            let price = required(price, kind, "limit_price")?;
            OrderKind {
                order_type: OrderType::Limit,
                time_in_force: tif,
                base_size: Some(base),
                limit_price: Some(price),
                quote_size: None,
            }
        }
        "market_market_ioc" => {
            let quote = decimal_field(config, kind, "quote_size")?;
            if base.is_some() == quote.is_some() {
                return Err(CbError::invalid(
                    "order_configuration.market_market_ioc needs one of base_size and quote_size",
                ));
            }
            OrderKind {
                order_type: OrderType::Market,
                time_in_force: TimeInForce::Ioc,
                base_size: base,
                limit_price: None,
                quote_size: quote,
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_fields_are_exact_strings() {
        let config = serde_json::from_str::<Map<String, Value>>(
            r#"{"base_size": "0.00100", "limit_price": 5}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            decimal_field(&config, "k", "base_size"),
            Ok(Some(Decimal::new(100, 5)))
        );
        assert!(decimal_field(&config, "k", "limit_price").is_err());
        assert_eq!(decimal_field(&config, "k", "quote_size"), Ok(None));
    }
}
