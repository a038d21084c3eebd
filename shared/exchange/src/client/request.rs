//! One REST request of [`BinanceSpot`]: the endpoints and what each costs, the parameters
//! signed over exactly the bytes sent, the retries that are safe, and what a failed answer does
//! to the rate limiter and the clock offset.

use std::sync::atomic::Ordering;
use std::time::Duration;

use driftline_core::ports::ExchangeError;
use driftline_core::EpochMillis;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;

use super::BinanceSpot;
use crate::classify::{
    classify_api_error, classify_transport, unreadable, ApiErrorBody, RequestKind,
};
use crate::signing::{encode_params, signature};
use crate::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Delete => Method::DELETE,
        }
    }
}

/// One REST endpoint: how it is called and what it costs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Endpoint {
    verb: Verb,
    path: &'static str,
    weight: u32,
    orders: u32,
    signed: bool,
    kind: RequestKind,
}

impl Endpoint {
    const fn read(path: &'static str, weight: u32, signed: bool) -> Self {
        Self {
            verb: Verb::Get,
            path,
            weight,
            orders: 0,
            signed,
            kind: RequestKind::Read,
        }
    }
}

pub(super) const TIME: Endpoint = Endpoint::read("/api/v3/time", 1, false);
pub(super) const EXCHANGE_INFO: Endpoint = Endpoint::read("/api/v3/exchangeInfo", 20, false);
pub(super) const ACCOUNT: Endpoint = Endpoint::read("/api/v3/account", 20, true);
pub(super) const QUERY_ORDER: Endpoint = Endpoint::read("/api/v3/order", 4, true);
pub(super) const OPEN_ORDERS: Endpoint = Endpoint::read("/api/v3/openOrders", 6, true);
/// The trade list of one order: weight 5 with `orderId` (20 without).
pub(super) const ORDER_TRADES: Endpoint = Endpoint::read("/api/v3/myTrades", 5, true);
pub(super) const NEW_ORDER: Endpoint = Endpoint {
    verb: Verb::Post,
    path: "/api/v3/order",
    weight: 1,
    orders: 1,
    signed: true,
    kind: RequestKind::Mutation,
};
pub(super) const CANCEL_ORDER: Endpoint = Endpoint {
    verb: Verb::Delete,
    path: "/api/v3/order",
    weight: 1,
    orders: 0,
    signed: true,
    kind: RequestKind::Mutation,
};

/// The order book's weight grows with the levels asked for.
pub(super) fn depth_endpoint(limit: u16) -> Endpoint {
    let weight = match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    };
    Endpoint::read("/api/v3/depth", weight, false)
}

/// The most levels the exchange returns per side.
pub(super) const MAX_DEPTH: u16 = 5_000;

/// An answer with a success status.
pub(super) struct Answer {
    pub(super) headers: HeaderMap,
    pub(super) body: bytes::Bytes,
}

/// One attempt's failure; a clock outside recvWindow is fixed by resyncing, then resending.
enum AttemptError {
    ClockSkew(ExchangeError),
    Failed(ExchangeError),
}

impl From<ExchangeError> for AttemptError {
    fn from(e: ExchangeError) -> Self {
        Self::Failed(e)
    }
}

impl BinanceSpot {
    fn server_now_ms(&self) -> EpochMillis {
        self.clock.now_ms().saturating_add(self.clock_offset_ms())
    }

    /// Measures the server clock's offset from ours.
    ///
    /// # Errors
    /// The [`ExchangeError`] of `/api/v3/time`.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = self.clock.now_ms();
        let server = self.server_time_once().await?;
        let after = self.clock.now_ms();
        let offset = server - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    async fn server_time_once(&self) -> Result<EpochMillis, ExchangeError> {
        let answer = match self.attempt(TIME, &[]).await {
            Ok(a) => a,
            Err(AttemptError::ClockSkew(e) | AttemptError::Failed(e)) => return Err(e),
        };
        wire::parse_server_time(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }

    /// Sends a request, resyncing the clock once after a -1021 and retrying what is safe to
    /// retry: anything `Retryable`, and for reads also a rate limit the limiter waited out.
    pub(super) async fn call(
        &self,
        endpoint: Endpoint,
        params: &[(&'static str, String)],
    ) -> Result<Answer, ExchangeError> {
        let once = || async {
            match self.attempt(endpoint, params).await {
                Ok(answer) => Ok(answer),
                Err(AttemptError::Failed(e)) => Err(e),
                Err(AttemptError::ClockSkew(e)) => {
                    self.sync_time().await.map_err(|_| e)?;
                    match self.attempt(endpoint, params).await {
                        Ok(answer) => Ok(answer),
                        Err(AttemptError::ClockSkew(e) | AttemptError::Failed(e)) => Err(e),
                    }
                }
            }
        };
        crate::http::with_retries(&self.config.client.retry, endpoint.kind, once).await
    }

    async fn attempt(
        &self,
        endpoint: Endpoint,
        params: &[(&'static str, String)],
    ) -> Result<Answer, AttemptError> {
        let credentials = match (&self.config.client.credentials, endpoint.signed) {
            (Some(credentials), true) => Some(credentials),
            (None, true) => {
                return Err(AttemptError::Failed(ExchangeError::Auth {
                    message: format!("{} needs API credentials; none configured", endpoint.path),
                }))
            }
            (_, false) => None,
        };
        // The account's order count first, so no weight is spent while an order waits its turn.
        self.orders.acquire(0, endpoint.orders).await?;
        self.address.weight.acquire(endpoint.weight, 0).await?;
        let mut pairs = params.to_vec();
        let mut api_key = None;
        let mut secret = None;
        if let Some(credentials) = credentials {
            pairs.push(("recvWindow", self.config.recv_window_ms.to_string()));
            pairs.push(("timestamp", self.server_now_ms().to_string()));
            api_key = Some(credentials.api_key());
            secret = Some(credentials.expose_secret());
        }
        let mut encoded = encode_params(&pairs);
        if let Some(secret) = secret {
            // All parameters travel in one place (query or body), so that place is what is signed.
            let sig = signature(secret, &encoded, "");
            encoded.push_str(if encoded.is_empty() { "" } else { "&" });
            encoded.push_str("signature=");
            encoded.push_str(&sig);
        }
        let url = format!("{}{}", self.base_url, endpoint.path);
        let mut request = if endpoint.verb == Verb::Post {
            self.http
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded)
        } else if encoded.is_empty() {
            self.http.request(endpoint.verb.method(), url)
        } else {
            self.http
                .request(endpoint.verb.method(), format!("{url}?{encoded}"))
        };
        if let Some(key) = api_key {
            request = request.header("X-MBX-APIKEY", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let server_now = self.server_now_ms();
        self.address.weight.observe(&headers, server_now);
        self.orders.observe(&headers, server_now);
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(endpoint.kind, &e))?;
        if status.is_success() {
            return Ok(Answer { headers, body });
        }
        let api_error: Option<ApiErrorBody> = serde_json::from_slice(&body).ok();
        let retry_after = crate::http::retry_after(&headers);
        let error = classify_api_error(
            endpoint.kind,
            status.as_u16(),
            api_error.as_ref(),
            retry_after,
        );
        match &error {
            ExchangeError::Banned { retry_after_ms } => {
                self.address
                    .weight
                    .ban(Duration::from_millis(*retry_after_ms));
            }
            // The order count is per account, the weight per IP: only the first holds reads back.
            ExchangeError::RateLimited { retry_after_ms }
                if api_error.as_ref().is_some_and(|b| b.code == -1015) =>
            {
                self.orders
                    .pause_orders(Duration::from_millis(*retry_after_ms));
            }
            ExchangeError::RateLimited { retry_after_ms } => {
                self.address
                    .weight
                    .pause(Duration::from_millis(*retry_after_ms));
            }
            _ => {}
        }
        if api_error.is_some_and(|b| b.code == -1021) {
            return Err(AttemptError::ClockSkew(error));
        }
        Err(AttemptError::Failed(error))
    }
}
