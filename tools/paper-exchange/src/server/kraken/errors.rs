//! Kraken's errors: each is a string in the answer's `error` array (`EOrder:Insufficient
//! funds`), with HTTP 200 but for an unknown method; the engine's refusals and the gate's in
//! Kraken's words.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::EngineError;
use crate::server::gate::Refusal;

/// A Kraken error: its string (`EOrder:Insufficient funds`) and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KrakenError {
    status: StatusCode,
    message: String,
}

impl KrakenError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            message: message.into(),
        }
    }

    /// `EGeneral:Unknown method`, with the one status other than 200 Kraken answers: 404.
    pub(super) fn unknown_method() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "EGeneral:Unknown method".to_owned(),
        }
    }

    /// `EGeneral:Invalid arguments:<field>`: Kraken's error for a bad or missing parameter,
    /// naming it.
    pub(super) fn invalid(field: &str) -> Self {
        Self::new(format!("EGeneral:Invalid arguments:{field}"))
    }

    pub(super) fn response(&self) -> Response {
        (
            self.status,
            Json(json!({"error": [self.message], "result": {}})),
        )
            .into_response()
    }
}

impl From<EngineError> for KrakenError {
    fn from(e: EngineError) -> Self {
        Self::new(match e {
            EngineError::UnknownSymbol => "EQuery:Unknown asset pair",
            EngineError::Filter("PRICE_FILTER") => "EOrder:Tick size check failed",
            EngineError::Filter("NOTIONAL") => "EOrder:Cost minimum not met",
            EngineError::Filter(_) | EngineError::InvalidQuantity => {
                "EGeneral:Invalid arguments:volume"
            }
            EngineError::InvalidPrice => "EOrder:Invalid price",
            EngineError::InsufficientBalance => "EOrder:Insufficient funds",
            EngineError::DuplicateOrder => "EOrder:Duplicate order",
            EngineError::WouldTake => "EOrder:Post only order",
            EngineError::OrderNotFound | EngineError::UnknownOrderToCancel => {
                "EOrder:Unknown order"
            }
            EngineError::UnknownAccount => "EAPI:Invalid key",
        })
    }
}

/// A refusal of the gate as Kraken words it.
pub(super) fn refusal(r: Refusal) -> KrakenError {
    KrakenError::new(match r {
        Refusal::Maintenance => "EService:Unavailable",
        Refusal::TooMany { .. } => "EAPI:Rate limit exceeded",
        // Kraken locks out a client that keeps calling while limited.
        Refusal::Banned { .. } => "EGeneral:Temporary lockout",
        // Nothing took effect; Kraken's word for a call it could not take on.
        Refusal::ServerError => "EService:Busy",
        // The order stands but the client cannot know: Kraken's internal error, after which
        // its documentation says to check the open orders.
        Refusal::StatusUnknown => "EGeneral:Internal error",
    })
}
