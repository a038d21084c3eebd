//! The Binance spot dialect (`/api/v3/...`, and the public endpoints again under `/api/v1/...`):
//! route and weigh (`endpoints`), pass the [`gate`], authenticate signed endpoints (`auth`:
//! HMAC-SHA256 over the query and body), then one handler per endpoint over the [`Engine`]:
//! `book` (the venue and its books as they stand), `market_data` (a market's recorded history:
//! tickers, trades, klines), `account` (an account's balances, orders and trades) and `trading`
//! (placing and cancelling). `errors` writes refusals and errors as Binance does, `json` the
//! answers' shapes, `order_request` reads an order request.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftline_core::EpochMillis;
use serde_json::Value;

use self::auth::{authenticate, API_KEY_HEADER};
use self::endpoints::Endpoint;
use self::errors::{error_response, refusal, with_weight};
use super::gate::{self, Arrival, Refusal};
use super::request::ApiRequest;
use super::AppState;
use crate::api_error::ApiError;
use crate::engine::Engine;
use crate::params::Params;

mod account;
mod auth;
mod book;
mod endpoints;
mod errors;
pub(super) mod json;
mod market_data;
mod order_request;
mod trading;

/// One `/api/v3` request: route it, pass it through the [`gate`] (weight, log, refusals,
/// faults), answer it, and maybe drop a placement's answer.
pub(super) async fn api(request: ApiRequest) -> Response {
    let endpoint = Endpoint::route(&request.method, &request.path);
    serve(request, endpoint).await
}

/// `/api/v1/...`: the public market-data endpoints Binance still serves there (python-binance
/// asks for recent trades there); nothing signed.
pub(super) async fn api_v1(request: ApiRequest) -> Response {
    let endpoint = Endpoint::route(&request.method, &request.path).filter(|e| !e.signed());
    serve(request, endpoint).await
}

async fn serve(request: ApiRequest, endpoint: Option<Endpoint>) -> Response {
    let ApiRequest {
        state,
        peer,
        method,
        headers,
        query,
        body,
        ..
    } = request;
    let Some(endpoint) = endpoint else {
        return error_response(&ApiError::with_status(
            StatusCode::NOT_FOUND,
            -1000,
            "Unknown endpoint.",
        ));
    };
    let query = query.unwrap_or_default();
    let now = state.clock.now_ms();
    let params = Params::parse(&query, &body);
    let label = format!("{endpoint:?}");
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: &label,
        weight: params.as_ref().map_or(1, |p| endpoint.weight(p)),
        key: headers.get(API_KEY_HEADER).and_then(|k| k.to_str().ok()),
    };
    let admitted = match gate::admit(&state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, used)) => return with_weight(error_response(&refusal(refused)), used),
    };
    let outcome = params.and_then(|p| handle(&state, endpoint, &p, &headers, &query, &body, now));
    let response = match outcome {
        Ok((value, placed)) => {
            if gate::answer_dropped(&state, &admitted, placed).await {
                error_response(&refusal(Refusal::StatusUnknown))
            } else {
                (StatusCode::OK, Json(value)).into_response()
            }
        }
        Err(e) => error_response(&e),
    };
    with_weight(response, admitted.used)
}

/// What an endpoint's handler is given: the request's parameters, the account that signed it
/// (empty for an unsigned endpoint), the venue's time and its weight limit.
struct Call<'a> {
    p: &'a Params,
    account: &'a str,
    now: EpochMillis,
    weight_limit: u32,
}

type Handler = fn(&mut Engine, &Call<'_>) -> Result<Value, ApiError>;

/// Serves one parsed request; the flag says an order was placed (for the dropped-response fault).
fn handle(
    state: &AppState,
    endpoint: Endpoint,
    p: &Params,
    headers: &HeaderMap,
    query: &str,
    body: &str,
    now: EpochMillis,
) -> Result<(Value, bool), ApiError> {
    let account = if endpoint.signed() {
        Some(authenticate(state, p, headers, query, body, now)?)
    } else {
        None
    };
    let call = Call {
        p,
        account: account.as_deref().unwrap_or_default(),
        now,
        weight_limit: state.config.rate_limits.request_weight_per_minute,
    };
    let value = endpoint.handler()(&mut state.venue().engine, &call)?;
    Ok((value, endpoint == Endpoint::NewOrder))
}
