//! The Kraken spot dialect (`/0/public/...`, `/0/private/...`): route and weigh (`endpoints`),
//! pass the [`gate`], authenticate private calls (`auth`: API-Key, API-Sign, a strictly
//! increasing nonce per key), then one handler per endpoint over the [`Engine`], grouped as
//! Kraken's documentation groups them: `market_data`, `account_data` and `trading`. `names`
//! maps the config's assets and markets to Kraken's names and the engine's ids to Kraken's,
//! `order_request` reads an `AddOrder`, `json` writes the answers' shapes, `errors` Kraken's
//! error strings.
//!
//! Every answer is `{"error": [...], "result": ...}` with HTTP 200, errors included, as Kraken
//! answers; only an unknown method is a 404.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Json, Router};
use driftline_core::EpochMillis;
use serde_json::{json, Value};

use self::auth::{Nonces, API_KEY_HEADER};
use self::endpoints::Endpoint;
use self::errors::{refusal, KrakenError};
use super::gate::{self, Arrival, Refusal};
use super::request::ApiRequest;
use super::AppState;
use crate::engine::Engine;
use crate::params::Params;

mod account_data;
mod auth;
mod endpoints;
mod errors;
mod json;
mod market_data;
mod names;
mod order_request;
mod trading;

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/0/{*path}", any(api))
        .layer(Extension(Arc::new(Nonces::default())))
}

/// One `/0/...` call: route it, pass it through the [`gate`] (weight, log, refusals, faults),
/// authenticate a private one, answer it, and maybe drop a placement's answer.
async fn api(Extension(nonces): Extension<Arc<Nonces>>, request: ApiRequest) -> Response {
    let ApiRequest {
        state,
        peer,
        path,
        method,
        headers,
        query,
        body,
        ..
    } = request;
    let Some(endpoint) = Endpoint::route(&method, &path) else {
        return KrakenError::unknown_method().response();
    };
    let now = state.clock.now_ms();
    let label = format!("{endpoint:?}");
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: &label,
        weight: endpoint.weight(),
        key: headers.get(API_KEY_HEADER).and_then(|k| k.to_str().ok()),
    };
    let admitted = match gate::admit(&state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, _)) => return refusal(refused).response(),
    };
    let outcome = Params::parse(query.as_deref().unwrap_or_default(), &body)
        .map_err(|_| KrakenError::new("EGeneral:Invalid arguments"))
        .and_then(|p| {
            let account = if endpoint.private() {
                auth::authenticate(&state, &nonces, &headers, &format!("/0/{path}"), &p, &body)?
            } else {
                String::new()
            };
            let call = Call {
                p: &p,
                account: &account,
                now,
            };
            endpoint.handler()(&mut state.venue().engine, &call)
        });
    match outcome {
        Ok(result) => {
            let placed = endpoint == Endpoint::AddOrder && result.get("txid").is_some();
            if gate::answer_dropped(&state, &admitted, placed).await {
                refusal(Refusal::StatusUnknown).response()
            } else {
                Json(json!({"error": [], "result": result})).into_response()
            }
        }
        Err(e) => e.response(),
    }
}

/// What an endpoint's handler is given: the call's parameters, the account that signed it
/// (empty for a public one) and the venue's time.
struct Call<'a> {
    p: &'a Params,
    account: &'a str,
    now: EpochMillis,
}

type Handler = fn(&mut Engine, &Call<'_>) -> Result<Value, KrakenError>;
