//! The Coinbase Advanced Trade dialect (`/api/v3/brokerage/...`): not served yet.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/api/v3/brokerage/{*endpoint}",
        any(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "NOT_FOUND", "message": "Unknown endpoint"})),
            )
        }),
    )
}
