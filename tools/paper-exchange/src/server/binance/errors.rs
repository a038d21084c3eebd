//! Binance's error answers: the `{"code", "msg"}` body with its HTTP status and `Retry-After`,
//! the weight headers every answer carries, and the gate's refusals in
//! Binance's words.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::api_error::ApiError;
use crate::server::gate::Refusal;

/// An error as Binance answers it: its status, `{"code", "msg"}`, and `Retry-After` when set.
pub(super) fn error_response(e: &ApiError) -> Response {
    let mut r = (e.status, Json(json!({"code": e.code, "msg": e.msg}))).into_response();
    if let Some(s) = e.retry_after_s {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("Retry-After", v);
        }
    }
    r
}

/// The weight used this minute, in the headers Binance sends with every answer.
pub(super) fn with_weight(mut r: Response, used: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&used.to_string()) {
        r.headers_mut().insert("X-MBX-USED-WEIGHT-1M", v);
        if let Ok(v) = HeaderValue::from_str(&used.to_string()) {
            r.headers_mut().insert("X-MBX-USED-WEIGHT", v);
        }
    }
    r
}

/// A refusal as Binance writes it.
pub(super) fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Maintenance => ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            -1008,
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        ),
        Refusal::TooMany { limit, retry_after_s } => {
            let mut e = ApiError::with_status(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                format!("Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::Banned { until_ms, retry_after_s, .. } => {
            let mut e = ApiError::with_status(
                StatusCode::IM_A_TEAPOT,
                -1003,
                format!("Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."),
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::ServerError => ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "An unknown error occurred while processing the request.",
        ),
        Refusal::StatusUnknown => ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
    }
}
