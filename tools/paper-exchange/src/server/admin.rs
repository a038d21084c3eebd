//! The admin API (`/admin/...`, unsigned, loopback only): what the venue holds (orders, fills,
//! balances, the request log), and the levers tests and operators pull (mids, ticks, faults,
//! reset, key rotation).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::binance::json as shapes;
use super::AppState;
use crate::engine::{venue_decimal as d8, KeyRotationError};
use crate::faults::Faults;

/// The admin routes, for loopback clients only.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/orders", get(orders))
        .route("/requests", get(requests))
        .route("/fills", get(fills))
        .route("/balances", get(balances))
        .route("/mid", post(set_mid))
        .route("/advance", post(advance))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/reset", post(reset))
        .route("/accounts/{name}/keys", post(rotate_keys))
        .layer(middleware::from_fn(loopback_only))
}

async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if peer.ip().is_loopback() {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "the admin API answers loopback clients only"})),
        )
            .into_response()
    }
}

async fn orders(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    Json(Value::Array(
        v.engine.orders().map(shapes::admin_order).collect(),
    ))
}

async fn requests(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(Value::Array(state.venue().requests.clone()))
}

async fn fills(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    let fills = v.engine.fills().iter().map(shapes::admin_fill).collect();
    Json(Value::Array(fills))
}

async fn balances(State(state): State<Arc<AppState>>) -> Json<Value> {
    let v = state.venue();
    let accounts: serde_json::Map<String, Value> = v
        .engine
        .all_balances()
        .map(|(name, balances)| {
            let b: serde_json::Map<String, Value> = balances
                .iter()
                .map(|(a, b)| {
                    (
                        a.to_string(),
                        json!({"free": d8(b.free), "locked": d8(b.locked)}),
                    )
                })
                .collect();
            (name.to_owned(), Value::Object(b))
        })
        .collect();
    let fees: serde_json::Map<String, Value> = v
        .engine
        .fees_collected()
        .iter()
        .map(|(a, f)| (a.to_string(), json!(d8(*f))))
        .collect();
    Json(json!({"accounts": accounts, "feesCollected": fees}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMid {
    symbol: String,
    #[serde(with = "driftline_core::exact")]
    price: Decimal,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn set_mid(State(state): State<Arc<AppState>>, Json(body): Json<SetMid>) -> Response {
    let now = state.clock.now_ms();
    match state.venue().engine.set_mid(&body.symbol, body.price, now) {
        Ok(()) => Json(json!({"symbol": body.symbol, "mid": d8(body.price)})).into_response(),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("cannot set mid of {} to {}: {e}", body.symbol, body.price),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default = "one_tick")]
    ticks: u32,
}

/// Each tick holds the venue lock; a bound keeps one call from stalling the API.
const MAX_TICKS_PER_ADVANCE: u32 = 100_000;

fn one_tick() -> u32 {
    1
}

async fn advance(State(state): State<Arc<AppState>>, Json(body): Json<Advance>) -> Response {
    if body.ticks > MAX_TICKS_PER_ADVANCE {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "ticks is {}: at most {MAX_TICKS_PER_ADVANCE} per call",
                body.ticks
            ),
        );
    }
    let now = state.clock.now_ms();
    let mut v = state.venue();
    for _ in 0..body.ticks {
        v.engine.advance(now);
    }
    let mids: serde_json::Map<String, Value> = v
        .engine
        .markets()
        .map(|(n, _)| {
            (
                n.to_owned(),
                json!(v.engine.mid(n).map(d8).unwrap_or_default()),
            )
        })
        .collect();
    Json(json!({"ticks": body.ticks, "mids": mids})).into_response()
}

async fn get_faults(State(state): State<Arc<AppState>>) -> Json<Faults> {
    Json(state.venue().faults.clone())
}

async fn put_faults(State(state): State<Arc<AppState>>, Json(faults): Json<Faults>) -> Response {
    if let Err(e) = faults.validate() {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let mut v = state.venue();
    let names: Vec<String> = v.engine.markets().map(|(n, _)| n.to_owned()).collect();
    for n in names {
        let factor = faults.depth_factor(&n);
        v.engine.set_depth_factor(&n, factor);
    }
    v.faults = faults.clone();
    Json(faults).into_response()
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    match AppState::fresh_venue(&state.config) {
        Ok(fresh) => {
            *state.venue() = fresh;
            Json(json!({"reset": true})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeys {
    api_key: String,
    secret: String,
}

/// Replaces an account's API key and secret, as an operator rotating keys at the venue does.
/// The answer names the account only: keys and secrets never leave the venue.
async fn rotate_keys(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Json(keys): Json<NewKeys>,
) -> Response {
    let credentials = driftline_core::ApiCredentials::new(keys.api_key, keys.secret);
    match state.venue().engine.rotate_keys(&name, credentials) {
        Ok(()) => Json(json!({"account": name, "rotated": true})).into_response(),
        Err(e @ KeyRotationError::UnknownAccount(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("keys of account {name:?} not rotated: {e}"),
        ),
    }
}
