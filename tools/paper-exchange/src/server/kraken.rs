//! The Kraken spot dialect (`/0/public/...`, `/0/private/...`): not served yet.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/0/{*endpoint}",
        any(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": ["EGeneral:Unknown method"], "result": {}})),
            )
        }),
    )
}
