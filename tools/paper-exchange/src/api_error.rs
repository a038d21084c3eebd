//! The venue's error responses: an HTTP status and a `{"code", "msg"}` body.

use axum::http::StatusCode;

use crate::engine::EngineError;

/// One error as the client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: i32,
    pub msg: String,
    /// Seconds for a `Retry-After` header (429, 418).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// A 400 with the venue's code and message.
    pub fn bad(code: i32, msg: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn with_status(status: StatusCode, code: i32, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after_s: None,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::UnknownAccount => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::with_status(status, e.code(), e.to_string())
    }
}
