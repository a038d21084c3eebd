//! The Coinbase Advanced Trade dialect (`/api/v3/brokerage/...`): route (`endpoints`), pass
//! the [`gate`], authenticate private endpoints (an ES256 JWT per request, `auth`), then one
//! handler per endpoint over the [`Engine`], grouped as Coinbase's documentation groups them:
//! `products` (public market data too), `accounts` (and the fee tier) and `orders`.
//! `order_request` reads a new order's body, `query` the query string and its pages, `errors`
//! writes Coinbase's refusals, `json` the answers' shapes.
//!
//! Coinbase refuses a request as a whole with an HTTP status and an `{error, error_details,
//! message}` body (401 is a bare `Unauthorized`), but refuses an order for the order's own sake
//! inside a 200 answer (`success: false` with `error_response`). A repeated `client_order_id`
//! creates nothing and answers with the order that already has it.
//!
//! [`Engine`]: crate::engine::Engine

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use driftline_core::EpochMillis;
use serde_json::Value;

use self::endpoints::{handle, Endpoint};
use self::errors::{refusal, with_rate_limit, CbError};
use self::query::Query;
use super::gate::{self, Arrival, Refusal};
use super::request::ApiRequest;
use super::AppState;

mod accounts;
mod auth;
mod endpoints;
mod errors;
mod json;
mod order_request;
mod orders;
mod products;
mod query;

/// The dialect's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v3/brokerage/{*endpoint}", any(api))
}

/// One `/api/v3/brokerage` request: route it, pass it through the [`gate`] (weight, log,
/// refusals, faults), authenticate it, answer it, and maybe drop a placement's answer.
async fn api(request: ApiRequest) -> Response {
    let ApiRequest {
        state,
        peer,
        path,
        method,
        uri,
        headers,
        query,
        body,
    } = request;
    let Some((endpoint, public)) = Endpoint::route(&method, &path) else {
        return CbError::not_found("Unknown endpoint").into_response();
    };
    let now = state.clock.now_ms();
    let token = auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let claimed = token.ok().and_then(auth::claimed_key);
    let arrival = Arrival {
        peer,
        method: &method,
        endpoint: endpoint.label(),
        // Coinbase counts requests, not weights: every request weighs one.
        weight: 1,
        key: claimed.as_deref(),
    };
    let limit = state.config.rate_limits.request_weight_per_minute;
    let admitted = match gate::admit(&state, &arrival, now).await {
        Ok(a) => a,
        Err((refused, used)) => {
            return with_rate_limit(refusal(refused).into_response(), limit, used)
        }
    };
    let request = auth::Request {
        method: method.as_str(),
        path: uri.path(),
        host: headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    };
    let outcome = (|| {
        let account = if public {
            String::new()
        } else {
            authenticate(&state, token, &request, now)?
        };
        let query = Query::parse(query.as_deref().unwrap_or_default())?;
        let call = Call {
            q: &query,
            body: &body,
            account: &account,
            now,
        };
        let value = handle(&mut state.venue().engine, &endpoint, &call)?;
        Ok::<_, CbError>((value, endpoint == Endpoint::CreateOrder))
    })();
    let response = match outcome {
        Ok((value, placed)) => {
            let took_order = placed && value.get("success") == Some(&Value::Bool(true));
            if gate::answer_dropped(&state, &admitted, took_order).await {
                refusal(Refusal::StatusUnknown).into_response()
            } else {
                (StatusCode::OK, Json(value)).into_response()
            }
        }
        Err(e) => e.into_response(),
    };
    with_rate_limit(response, limit, admitted.used)
}

/// The account whose key signed the request's token.
fn authenticate(
    state: &AppState,
    token: Result<&str, auth::AuthError>,
    request: &auth::Request<'_>,
    now: EpochMillis,
) -> Result<String, CbError> {
    let token = token.map_err(|_| CbError::unauthorized())?;
    let mut account = None;
    auth::verify(token, request, now.div_euclid(1000), |key| {
        let v = state.venue();
        let (name, creds) = v.engine.account_for_key(key)?;
        account = Some(name.to_owned());
        Some(creds.expose_secret().to_owned())
    })
    .map_err(|_| CbError::unauthorized())?;
    account.ok_or_else(CbError::unauthorized)
}

/// What a handler is given: the query, the body, the account that signed (empty for a
/// public endpoint) and the venue's time.
struct Call<'a> {
    q: &'a Query,
    body: &'a str,
    account: &'a str,
    now: EpochMillis,
}
