//! One call of [`KrakenSpot`]: the methods and what each costs, a private call signed with a
//! fresh nonce over exactly the body sent, the resends that are safe (a refused nonce
//! included), and what a failed answer does to the limiters.

use std::time::Duration;

use bytes::Bytes;
use driftline_core::ports::ExchangeError;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::classify::{classify, Hold};
use super::{auth, wire, KrakenSpot};
use crate::classify::{classify_transport, unreadable, RequestKind};
use crate::signing::encode_params;

/// What Kraken asks every request to name itself with.
const AGENT: &str = concat!("driftline-exchange/", env!("CARGO_PKG_VERSION"));

/// One REST method: how it is called and what it adds to the key's counters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Method {
    name: &'static str,
    private: bool,
    kind: RequestKind,
    /// Added to the key's call counter (history 2, others 1, AddOrder and CancelOrder 0).
    calls: u32,
    /// Added to the pair's trading counter.
    orders: u32,
}

impl Method {
    const fn public(name: &'static str) -> Self {
        Self {
            name,
            private: false,
            kind: RequestKind::Read,
            calls: 1,
            orders: 0,
        }
    }

    const fn read(name: &'static str, calls: u32) -> Self {
        Self {
            name,
            private: true,
            kind: RequestKind::Read,
            calls,
            orders: 0,
        }
    }
}

pub(super) const TIME: Method = Method::public("Time");
pub(super) const ASSETS: Method = Method::public("Assets");
pub(super) const ASSET_PAIRS: Method = Method::public("AssetPairs");
pub(super) const DEPTH: Method = Method::public("Depth");
pub(super) const BALANCE_EX: Method = Method::read("BalanceEx", 1);
pub(super) const OPEN_ORDERS: Method = Method::read("OpenOrders", 1);
pub(super) const CLOSED_ORDERS: Method = Method::read("ClosedOrders", 1);
pub(super) const QUERY_ORDERS: Method = Method::read("QueryOrders", 1);
/// Trade history: 2 on the call counter.
pub(super) const QUERY_TRADES: Method = Method::read("QueryTrades", 2);
pub(super) const ADD_ORDER: Method = Method {
    name: "AddOrder",
    private: true,
    kind: RequestKind::Mutation,
    calls: 0,
    orders: 1,
};
/// A cancel adds up to 8 to the trading counter (an order younger than 5 s); the order's
/// age is not known before, so the most is budgeted.
pub(super) const CANCEL_ORDER: Method = Method {
    name: "CancelOrder",
    private: true,
    kind: RequestKind::Mutation,
    calls: 0,
    orders: 8,
};

/// The most levels `Depth` returns a side.
pub(super) const MAX_DEPTH: u16 = 500;

impl KrakenSpot {
    /// Sends a call, resending what is safe to resend: anything `Retryable` (a refused nonce,
    /// refused before anything was done, goes again with a fresh one), and for reads also a
    /// rate limit the limiter waited out. Returns the body of a successful answer.
    pub(super) async fn call(
        &self,
        method: Method,
        params: &[(&'static str, String)],
    ) -> Result<Bytes, ExchangeError> {
        crate::http::with_retries(&self.config.client.retry, method.kind, || {
            self.attempt(method, params)
        })
        .await
    }

    async fn attempt(
        &self,
        method: Method,
        params: &[(&'static str, String)],
    ) -> Result<Bytes, ExchangeError> {
        let limiter = if method.private {
            &self.private
        } else {
            &self.address.public
        };
        let credentials = match (&self.config.client.credentials, method.private) {
            (Some(c), true) => Some(c),
            (None, true) => {
                return Err(ExchangeError::Auth {
                    message: format!("{} needs API credentials; none configured", method.name),
                })
            }
            (_, false) => None,
        };
        limiter.acquire(method.calls, method.orders).await?;
        let request =
            match credentials {
                Some(credentials) => {
                    let path = format!("/0/private/{}", method.name);
                    // Taken after the limiter's wait, as late as possible: nonces reach Kraken
                    // in the order they were taken as far as this process can make them.
                    let nonce = self.nonces.next(self.clock.now_ms());
                    let mut pairs = Vec::with_capacity(params.len() + 1);
                    pairs.push(("nonce", nonce.to_string()));
                    pairs.extend(params.iter().map(|(k, v)| (*k, v.clone())));
                    let body = encode_params(&pairs);
                    let sign = auth::sign(credentials.expose_secret(), &path, nonce, &body)
                        .map_err(|_| ExchangeError::Auth {
                            message: "the API secret is not base64, as Kraken's secrets are".into(),
                        })?;
                    self.http
                        .post(format!("{}{path}", self.base_url))
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .header("API-Key", credentials.api_key())
                        .header("API-Sign", sign)
                        .body(body)
                }
                None => {
                    let query = encode_params(params);
                    let url = format!("{}/0/public/{}", self.base_url, method.name);
                    self.http.get(if query.is_empty() {
                        url
                    } else {
                        format!("{url}?{query}")
                    })
                }
            };
        let response = request
            .header(USER_AGENT, AGENT)
            .send()
            .await
            .map_err(|e| classify_transport(method.kind, &e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| classify_transport(method.kind, &e))?;
        let errors = wire::parse_errors(&body);
        let errors = match errors {
            Ok(errors) if errors.is_empty() && status.is_success() => return Ok(body),
            // A success status with a body that is not Kraken's: after a placement, it may
            // stand.
            Err(e) if status.is_success() => return Err(unreadable(method.kind, &e)),
            Ok(errors) => errors,
            Err(_) => Vec::new(),
        };
        let (error, hold) = classify(
            method.kind,
            status.as_u16(),
            &errors,
            retry_after,
            self.config.tier,
            self.clock.now_ms(),
        );
        match hold {
            Hold::Nothing => {}
            Hold::Calls(wait) => limiter.pause(wait),
            Hold::Orders(wait) => limiter.pause_orders(wait),
            Hold::Everything(wait) => {
                self.private.ban(wait);
                self.address.public.ban(wait);
            }
        }
        Err(error)
    }
}
