//! One REST request of [`CoinbaseAdvanced`]: the endpoint and which limit it counts against,
//! a fresh JWT for a private one, the retries that are safe, and what a failed answer means in
//! the port's terms (the table in `docs/EXCHANGE.md`, section Coinbase).

use std::time::Duration;

use bytes::Bytes;
use driftline_core::ports::ExchangeError;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::Value;

use super::{auth, wire, CoinbaseAdvanced};
use crate::classify::{classify_transport, unknown_outcome, RequestKind};
use crate::limiter::millis;
use crate::signing::encode_params;

/// Every endpoint lives under this path.
pub(super) const PREFIX: &str = "/api/v3/brokerage";

/// How long to hold off after a 429 that does not say.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One REST endpoint: how it is called and which limit it counts against.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    method: Method,
    /// After [`PREFIX`], without a leading slash.
    path: String,
    private: bool,
    kind: RequestKind,
}

impl Endpoint {
    /// A public read (market data, time): no token, counted per IP.
    pub(super) fn public(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_owned(),
            private: false,
            kind: RequestKind::Read,
        }
    }

    /// A private read: signed, counted per user.
    pub(super) fn read(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            private: true,
            kind: RequestKind::Read,
        }
    }

    /// A private POST that changes state (place, cancel): never resent after it may have
    /// reached the venue.
    pub(super) fn mutation(path: &str) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            private: true,
            kind: RequestKind::Mutation,
        }
    }
}

impl CoinbaseAdvanced {
    /// Sends a request, retrying what is safe to retry: anything `Retryable`, and for reads a
    /// rate limit the limiter waited out. Returns the body of a success.
    pub(super) async fn call(
        &self,
        endpoint: &Endpoint,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Bytes, ExchangeError> {
        crate::http::with_retries(&self.config.client.retry, endpoint.kind, || {
            self.attempt(endpoint, query, body)
        })
        .await
    }

    async fn attempt(
        &self,
        endpoint: &Endpoint,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Bytes, ExchangeError> {
        let (limiter, signer) = if endpoint.private {
            let signer = self.signer.as_ref().ok_or_else(|| ExchangeError::Auth {
                message: format!("{} needs API credentials; none configured", endpoint.path),
            })?;
            (&self.private, Some(signer))
        } else {
            (&self.address.public, None)
        };
        limiter.acquire(1, 0).await?;
        let path = format!("{PREFIX}/{}", endpoint.path);
        let mut url = format!("{}{path}", self.base_url);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&encode_params(query));
        }
        let mut request = self.http.request(endpoint.method.clone(), url);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(signer) = signer {
            // The token names this request (the path without its query) and lives two minutes
            // from the client's clock: a retry gets a fresh one.
            let uri = format!("{} {}{path}", endpoint.method.as_str(), self.host);
            let now_s = self.clock.now_ms().div_euclid(1000);
            request = request.bearer_auth(signer.token(&uri, now_s, &auth::nonce()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        let status = response.status();
        let retry_after = crate::http::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let error = classify(endpoint.kind, status.as_u16(), &bytes, retry_after);
        if let ExchangeError::RateLimited { retry_after_ms } = &error {
            // Every caller of this limit holds off, not only the one that heard it.
            limiter.pause(Duration::from_millis(*retry_after_ms));
        }
        Err(error)
    }
}

/// Classifies an answer that is not a success from its HTTP status and, where it is Coinbase's
/// JSON error, its `error` and `message`, which the error keeps
/// (`INVALID_ARGUMENT: limit must be 1 to 1000`). A refusal of an order for its own sake comes
/// inside a 200 and is read by [`wire::parse_create_order`].
pub(super) fn classify(
    kind: RequestKind,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ExchangeError {
    let detail =
        wire::ErrorBody::parse(body).map(|b| match (b.error.is_empty(), b.message.is_empty()) {
            (true, _) => b.message,
            (false, true) => b.error,
            (false, false) => format!("{}: {}", b.error, b.message),
        });
    let with_status = match &detail {
        Some(d) => format!("HTTP {status}: {d}"),
        None => format!("HTTP {status}"),
    };
    match status {
        429 => ExchangeError::RateLimited {
            retry_after_ms: millis(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
        },
        // A bad, expired or foreign token, or a key without the permission.
        401 | 403 => ExchangeError::Auth {
            message: with_status,
        },
        404 => ExchangeError::NotFound {
            message: detail.unwrap_or(with_status),
        },
        // 500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED: the request may have run.
        s if s >= 500 => unknown_outcome(kind, with_status),
        // 400 INVALID_ARGUMENT and every other refusal of the request as a whole.
        _ => ExchangeError::Rejected {
            message: detail.unwrap_or(with_status),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const NOT_FOUND: &str = r#"{"error":"NOT_FOUND","error_details":"order with this orderID was not found","message":"order with this orderID was not found"}"#;
    const INVALID: &str = r#"{"error":"INVALID_ARGUMENT","error_details":"limit must be 1 to 1000","message":"limit must be 1 to 1000"}"#;
    const INTERNAL: &str = r#"{"error":"INTERNAL","message":"Internal error"}"#;

    #[rstest]
    #[case::rate_limited(RequestKind::Read, 429, "", Some(7), ExchangeError::RateLimited { retry_after_ms: 7000 })]
    #[case::rate_limited_unsaid(RequestKind::Mutation, 429, "", None, ExchangeError::RateLimited { retry_after_ms: 1000 })]
    #[case::unauthorized(RequestKind::Read, 401, "Unauthorized", None, ExchangeError::Auth { message: "HTTP 401".into() })]
    #[case::forbidden(RequestKind::Mutation, 403, r#"{"error":"PERMISSION_DENIED","message":"Missing required scopes"}"#, None, ExchangeError::Auth { message: "HTTP 403: PERMISSION_DENIED: Missing required scopes".into() })]
    #[case::not_found(RequestKind::Read, 404, NOT_FOUND, None, ExchangeError::NotFound { message: "NOT_FOUND: order with this orderID was not found".into() })]
    #[case::invalid_argument(RequestKind::Mutation, 400, INVALID, None, ExchangeError::Rejected { message: "INVALID_ARGUMENT: limit must be 1 to 1000".into() })]
    #[case::other_4xx(RequestKind::Read, 409, "", None, ExchangeError::Rejected { message: "HTTP 409".into() })]
    #[case::server_error_read(RequestKind::Read, 500, INTERNAL, None, ExchangeError::Retryable { reason: "HTTP 500: INTERNAL: Internal error".into() })]
    #[case::server_error_placement(RequestKind::Mutation, 500, INTERNAL, None, ExchangeError::StatusUnknown { reason: "HTTP 500: INTERNAL: Internal error".into() })]
    #[case::unavailable_placement(RequestKind::Mutation, 503, "", None, ExchangeError::StatusUnknown { reason: "HTTP 503".into() })]
    #[case::deadline_read(RequestKind::Read, 504, r#"{"error":"DEADLINE_EXCEEDED","message":"timed out"}"#, None, ExchangeError::Retryable { reason: "HTTP 504: DEADLINE_EXCEEDED: timed out".into() })]
    fn answers_map_to_the_port(
        #[case] kind: RequestKind,
        #[case] status: u16,
        #[case] body: &str,
        #[case] retry_after_s: Option<u64>,
        #[case] want: ExchangeError,
    ) {
        let retry_after = retry_after_s.map(Duration::from_secs);
        assert_eq!(classify(kind, status, body.as_bytes(), retry_after), want);
    }
}
