//! What Coinbase answers a placement (`POST orders`: the order that has the client order id,
//! or the refusal with its most specific reason) and a cancel (`POST orders/batch_cancel`).

use serde::Deserialize;
use serde_json::Value;

use crate::decode::{from_json, WireError};

// POST /api/v3/brokerage/orders

#[derive(Deserialize)]
struct CreateWire {
    success: bool,
    #[serde(default)]
    success_response: Option<CreatedWire>,
    #[serde(default)]
    failure_reason: Option<Value>,
    #[serde(default)]
    error_response: Option<ErrorResponseWire>,
}

#[derive(Deserialize)]
struct CreatedWire {
    order_id: String,
    #[serde(default)]
    product_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorResponseWire {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_details: Option<String>,
    #[serde(default)]
    preview_failure_reason: Option<String>,
    #[serde(default)]
    new_order_failure_reason: Option<String>,
}

/// What a placement's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The order that has this client order id: placed now, or (Coinbase's rule for a
    /// repeated `client_order_id`) placed before.
    Order {
        order_id: String,
        product_id: Option<String>,
    },
    /// Refused for the order's own sake (`success: false`): nothing was placed. The message
    /// is Coinbase's reason and words.
    Refused { message: String },
}

/// # Errors
/// [`WireError`] when the body is not a placement answer, or says `success` without an order id.
pub fn parse_create_order(body: &[u8]) -> Result<Created, WireError> {
    let c: CreateWire = from_json(body)?;
    if c.success {
        let created = c
            .success_response
            .filter(|r| !r.order_id.trim().is_empty())
            .ok_or_else(|| WireError::new("success_response.order_id", "missing"))?;
        return Ok(Created::Order {
            order_id: created.order_id,
            product_id: created.product_id,
        });
    }
    let e = c.error_response.unwrap_or_default();
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    // The most specific of the reasons Coinbase gives: a generic UNKNOWN_FAILURE_REASON is
    // followed by the preview's, which names the limit (PREVIEW_INVALID_BASE_SIZE_TOO_SMALL).
    let older = c
        .failure_reason
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_owned);
    let reason = nonempty(&e.error)
        .or_else(|| nonempty(&e.new_order_failure_reason))
        .or(older)
        .unwrap_or_else(|| "UNKNOWN_FAILURE_REASON".to_owned());
    let preview = nonempty(&e.preview_failure_reason)
        .filter(|p| reason.starts_with("UNKNOWN") && !p.starts_with("UNKNOWN"));
    let text = nonempty(&e.message).or_else(|| nonempty(&e.error_details));
    let mut message = reason;
    if let Some(p) = preview {
        message = format!("{message} ({p})");
    }
    if let Some(t) = text {
        message = format!("{message}: {t}");
    }
    Ok(Created::Refused { message })
}

// ---------------------------------------------------------------------------------------------
// POST /api/v3/brokerage/orders/batch_cancel

#[derive(Deserialize)]
struct CancelWire {
    results: Vec<CancelResultWire>,
}

#[derive(Deserialize)]
struct CancelResultWire {
    success: bool,
    #[serde(default)]
    failure_reason: Option<String>,
    order_id: String,
}

/// Whether the cancel of `order_id` was taken, and else Coinbase's reason.
///
/// # Errors
/// [`WireError`] when the answer has no result for `order_id`.
pub fn parse_cancel(body: &[u8], order_id: &str) -> Result<Result<(), String>, WireError> {
    let c: CancelWire = from_json(body)?;
    let r = c
        .results
        .into_iter()
        .find(|r| r.order_id == order_id)
        .ok_or_else(|| WireError::new("results", format!("no result for order {order_id:?}")))?;
    Ok(if r.success {
        Ok(())
    } else {
        Err(r
            .failure_reason
            .unwrap_or_else(|| "UNKNOWN_CANCEL_FAILURE_REASON".to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_most_specific_reason() {
        let body = br#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"","error_response":{"error":"UNKNOWN_FAILURE_REASON","message":"Order size is below the product's minimum","error_details":"x","preview_failure_reason":"PREVIEW_INVALID_BASE_SIZE_TOO_SMALL","new_order_failure_reason":"UNKNOWN_FAILURE_REASON"}}"#;
        assert_eq!(
            parse_create_order(body).unwrap(),
            Created::Refused {
                message: "UNKNOWN_FAILURE_REASON (PREVIEW_INVALID_BASE_SIZE_TOO_SMALL): Order size is below the product's minimum".into()
            }
        );
        let body = br#"{"success":false,"failure_reason":"INSUFFICIENT_FUND","error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"}}"#;
        assert_eq!(
            parse_create_order(body).unwrap(),
            Created::Refused {
                message: "INSUFFICIENT_FUND: Insufficient balance in source account".into()
            }
        );
        // Only the older field.
        assert_eq!(
            parse_create_order(br#"{"success":false,"failure_reason":"INVALID_SIDE"}"#).unwrap(),
            Created::Refused {
                message: "INVALID_SIDE".into()
            }
        );
        assert!(
            parse_create_order(br#"{"success":true,"success_response":{"order_id":""}}"#).is_err()
        );
    }
}
