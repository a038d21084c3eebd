//! A Binance-dialect venue started in-process on an ephemeral loopback port with a manual
//! clock, and a client that sends public and signed requests to it: what the Binance HTTP tests
//! share.
#![allow(dead_code)]

use std::sync::Arc;

use paper_exchange::clock::ManualClock;
use paper_exchange::{ExchangeConfig, PaperExchange};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use crate::common::{sign, T0};

pub struct Venue {
    pub exchange: PaperExchange,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> (StatusCode, i64, &str) {
        (
            self.status,
            self.body["code"].as_i64().unwrap_or(0),
            self.body["msg"].as_str().unwrap_or(""),
        )
    }

    pub fn weight(&self) -> u32 {
        self.headers["x-mbx-used-weight-1m"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The body's string fields, in order (`None` where a field is missing or not a string).
    pub fn strs<const N: usize>(&self, fields: [&str; N]) -> [Option<&str>; N] {
        fields.map(|f| self.body[f].as_str())
    }
}

pub fn encode(params: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(params).unwrap()
}

impl Venue {
    pub async fn start(config: ExchangeConfig) -> Self {
        let (exchange, clock) = crate::common::start(config).await;
        Self {
            exchange,
            clock,
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<String>,
        key: Option<&str>,
    ) -> Reply {
        let url = if query.is_empty() {
            format!("{}{path}", self.exchange.base_url())
        } else {
            format!("{}{path}?{query}", self.exchange.base_url())
        };
        let mut req = self.http.request(method, url);
        if let Some(k) = key {
            req = req.header("X-MBX-APIKEY", k);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn public(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        let params: Vec<(&str, String)> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self.send(Method::GET, path, &encode(&params), None, None)
            .await
    }

    /// A signed request as clients that put everything in the query string send it.
    pub async fn signed_as(
        &self,
        key: &str,
        secret: &str,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> Reply {
        let mut all: Vec<(&str, String)> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        all.push(("timestamp", self.clock_now().to_string()));
        let query = encode(&all);
        let signed = format!("{query}&signature={}", sign(secret, &query));
        self.send(method, path, &signed, None, Some(key)).await
    }

    pub async fn signed(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Reply {
        self.signed_as("alice-key", "alice-secret", method, path, params)
            .await
    }

    /// alice's signed request on one BTCUSDT order, named by `orderId` or `origClientOrderId`.
    pub async fn order(&self, method: Method, by: (&str, &str)) -> Reply {
        self.signed(method, "/api/v3/order", &[("symbol", "BTCUSDT"), by])
            .await
    }

    pub fn clock_now(&self) -> i64 {
        use driftline_core::ports::Clock;
        self.clock.now_ms()
    }

    pub async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method, format!("{}/admin{path}", self.exchange.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap()
    }
}
