//! Coinbase's refusals of a request as a whole: an HTTP status with an `{error, error_details,
//! message}` body (401 a bare `Unauthorized`), the engine's refusals and the gate's in
//! Coinbase's words, and the `x-ratelimit-*` headers every answer carries.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::json as shapes;
use crate::engine::EngineError;
use crate::server::gate::Refusal;

/// A request Coinbase refuses as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CbError {
    status: StatusCode,
    error: &'static str,
    message: String,
    retry_after_s: Option<u64>,
}

impl CbError {
    pub(super) fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 400 INVALID_ARGUMENT naming what is wrong.
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub(super) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "Unauthorized")
    }

    pub(super) fn into_response(self) -> Response {
        // Coinbase's gateway answers a bad or missing token with a bare text body.
        let mut r = if self.status == StatusCode::UNAUTHORIZED {
            (self.status, "Unauthorized").into_response()
        } else {
            (
                self.status,
                Json(shapes::error_body(self.error, &self.message)),
            )
                .into_response()
        };
        if let Some(v) = self
            .retry_after_s
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<EngineError> for CbError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownSymbol => Self::not_found("ProductID is invalid"),
            EngineError::UnknownAccount => Self::unauthorized(),
            EngineError::OrderNotFound | EngineError::UnknownOrderToCancel => {
                Self::not_found("order with this orderID was not found")
            }
            other => Self::invalid(other.to_string()),
        }
    }
}

/// A refusal by the gate as Coinbase writes it. Coinbase has no ban: a banned client keeps
/// hearing 429 until the ban ends.
pub(super) fn refusal(r: Refusal) -> CbError {
    match r {
        Refusal::Maintenance => CbError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Service is temporarily unavailable, please try again later",
        ),
        Refusal::TooMany { retry_after_s, .. } | Refusal::Banned { retry_after_s, .. } => {
            let mut e = CbError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Too many requests",
            );
            e.retry_after_s = Some(retry_after_s);
            e
        }
        Refusal::ServerError => CbError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
        ),
        Refusal::StatusUnknown => CbError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            "Request timed out; the order's status is unknown",
        ),
    }
}

/// The `x-ratelimit-*` headers Coinbase's SDK reads: the window's limit and what is left.
pub(super) fn with_rate_limit(mut r: Response, limit: u32, used: u32) -> Response {
    for (name, value) in [
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-remaining", limit.saturating_sub(used)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}
