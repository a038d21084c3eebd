//! Binance's authentication of a signed endpoint: the API key in `X-MBX-APIKEY`, an
//! HMAC-SHA256 `signature` over the query string and body as sent, and a `timestamp` within
//! `recvWindow` of the venue's time.

use axum::http::{HeaderMap, StatusCode};
use driftline_core::EpochMillis;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;

use crate::api_error::ApiError;
use crate::params::{mandatory, Params};
use crate::server::AppState;

/// The header that carries the API key.
pub(super) const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// The default and largest `recvWindow`, in milliseconds.
const DEFAULT_RECV_WINDOW_MS: Decimal = Decimal::from_parts(5000, 0, 0, false, 0);
const MAX_RECV_WINDOW_MS: Decimal = Decimal::from_parts(60_000, 0, 0, false, 0);

/// The account whose key and secret signed the request.
pub(super) fn authenticate(
    state: &AppState,
    p: &Params,
    headers: &HeaderMap,
    query: &str,
    body: &str,
    now: EpochMillis,
) -> Result<String, ApiError> {
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::with_status(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.")
        })?;
    let signature = p.require("signature")?;
    let timestamp: i64 = p
        .integer("timestamp")?
        .ok_or_else(|| mandatory("timestamp"))?;
    let recv_window = p.decimal("recvWindow")?.unwrap_or(DEFAULT_RECV_WINDOW_MS);
    if recv_window > MAX_RECV_WINDOW_MS {
        return Err(ApiError::bad(-1131, "recvWindow must be less than 60000"));
    }
    let (account, secret) = {
        let v = state.venue();
        let (name, creds) = v.engine.account_for_key(key).ok_or_else(|| {
            ApiError::with_status(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            )
        })?;
        (name.to_owned(), creds.expose_secret().to_owned())
    };
    // The signed payload is the query string followed by the body, each as sent, without the
    // signature parameter itself.
    let unsigned = |raw: &str| {
        raw.split('&')
            .filter(|kv| !kv.starts_with("signature="))
            .collect::<Vec<_>>()
            .join("&")
    };
    let payload = format!("{}{}", unsigned(query), unsigned(body));
    let valid = hex::decode(signature).ok().is_some_and(|sig| {
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).is_ok_and(|mut mac| {
            mac.update(payload.as_bytes());
            mac.verify_slice(&sig).is_ok()
        })
    });
    if !valid {
        return Err(ApiError::bad(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    if timestamp >= now + 1000 {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if Decimal::from(now.saturating_sub(timestamp)) > recv_window {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(account)
}
