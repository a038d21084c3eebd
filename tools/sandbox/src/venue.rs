//! The paper venues of a world, through their admin API: orders, faults, mids, weight, keys.
//! A world with several venues is one market to these helpers: a read gathers every venue's
//! answer (lists are joined), a write (a mid, faults) goes to every venue.

use serde_json::{json, Value};

use driftline_core::ClientOrderId;
use paper_exchange::PaperExchange;

use crate::{SandboxError, World};

impl World {
    /// Every order on the paper exchange.
    pub async fn venue_orders(&self) -> Vec<Value> {
        self.admin_get("/admin/orders").await
    }

    /// The request weight the venues have charged so far, by endpoint (their request logs:
    /// each request is charged its weight).
    pub async fn charged_weight(&self) -> std::collections::BTreeMap<String, u64> {
        let mut by_endpoint = std::collections::BTreeMap::new();
        for r in self.admin_get("/admin/requests").await {
            let endpoint = r["endpoint"].as_str().unwrap_or_default().to_owned();
            *by_endpoint.entry(endpoint).or_default() += r["weight"].as_u64().unwrap_or(0);
        }
        by_endpoint
    }

    pub async fn admin_get(&self, path: &str) -> Vec<Value> {
        match self.try_admin_get(path).await {
            Ok(Value::Array(v)) => v,
            Ok(other) => panic!("{path} answered {other}, not an array"),
            Err(e) => panic!("{e}"),
        }
    }

    /// The venues' copies of the order driftline calls `id`, whatever form the venue keeps its
    /// client id in (Kraken keeps `dl1-<hex>` as the UUID of the hex digits).
    pub async fn venue_orders_of(&self, id: &ClientOrderId) -> Vec<Value> {
        self.venue_orders()
            .await
            .into_iter()
            .filter(|o| is_copy_of(o, id.as_str()))
            .collect()
    }

    /// Every venue of the world: the first, then the others.
    pub fn venues(&self) -> impl Iterator<Item = &PaperExchange> {
        std::iter::once(&self.venue).chain(&self.more_venues)
    }

    /// The venue that holds the paper account `account`.
    pub fn venue_holding(&self, account: &str) -> Option<&PaperExchange> {
        self.venues()
            .find(|v| v.with_engine(|e| e.balances(account).is_ok()))
    }

    /// A GET on the paper exchanges' admin API: the first venue's answer, with the lists of
    /// the others joined onto it.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when a call fails or an answer is not JSON.
    pub async fn try_admin_get(&self, path: &str) -> Result<Value, SandboxError> {
        let admin = |reason: String| SandboxError::Admin {
            path: path.to_owned(),
            reason,
        };
        let mut joined: Option<Value> = None;
        for venue in self.venues() {
            let answer: Value = self
                .http
                .get(format!("{}{path}", venue.base_url()))
                .send()
                .await
                .map_err(|e| admin(e.to_string()))?
                .json()
                .await
                .map_err(|e| admin(e.to_string()))?;
            match (&mut joined, answer) {
                (None, first) => joined = Some(first),
                (Some(Value::Array(all)), Value::Array(more)) => all.extend(more),
                // Not a list: the first venue's answer stands.
                (Some(_), _) => {}
            }
        }
        Ok(joined.unwrap_or(Value::Null))
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        match self
            .try_admin_send(reqwest::Method::POST, path, &body)
            .await
        {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// A POST or PUT on every paper exchange's admin API; the first venue's answer's JSON, or
    /// null.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when a call fails or is refused.
    pub async fn try_admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, SandboxError> {
        let mut first = None;
        for venue in self.venues() {
            let r = self
                .http
                .request(method.clone(), format!("{}{path}", venue.base_url()))
                .json(body)
                .send()
                .await
                .map_err(|e| SandboxError::Admin {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            if !r.status().is_success() {
                return Err(SandboxError::Admin {
                    path: path.to_owned(),
                    reason: format!("{body} refused: {}", r.status()),
                });
            }
            let answer = r.json().await.unwrap_or(Value::Null);
            first.get_or_insert(answer);
        }
        Ok(first.unwrap_or(Value::Null))
    }

    /// The Secrets Manager id of a venue account's secret.
    pub fn secret_id(&self, account: &str) -> Option<&str> {
        self.secret_ids
            .iter()
            .find(|(name, _)| name == account)
            .map(|(_, id)| id.as_str())
    }

    /// Gives a venue account a new API key and secret: from now on the venue refuses the old
    /// key (-2015), as after an operator rotates or revokes keys at the exchange.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when the venue refuses the rotation.
    pub async fn rotate_venue_keys(
        &self,
        account: &str,
        api_key: &str,
        secret: &str,
    ) -> Result<(), SandboxError> {
        let body = json!({"api_key": api_key, "secret": secret});
        let path = format!("/admin/accounts/{account}/keys");
        let r = self
            .http
            .post(format!("{}{path}", self.venue.base_url()))
            .json(&body)
            .send()
            .await;
        // Never the body in the error: it holds the keys.
        match r {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(SandboxError::Admin {
                path,
                reason: format!("refused: {}", r.status()),
            }),
            Err(e) => Err(SandboxError::Admin {
                path,
                reason: e.without_url().to_string(),
            }),
        }
    }

    /// Stores new keys as a new version of a venue account's secret (`PutSecretValue`), as an
    /// operator does after rotating them.
    ///
    /// # Errors
    /// [`SandboxError::Secret`] when the account has no secret or Secrets Manager refuses.
    pub async fn put_account_secret(
        &self,
        account: &str,
        api_key: &str,
        secret: &str,
    ) -> Result<(), SandboxError> {
        let id = self
            .secret_id(account)
            .ok_or_else(|| SandboxError::Secret {
                name: account.to_owned(),
                reason: "no such venue account".to_owned(),
            })?;
        self.secrets
            .put_secret_value()
            .secret_id(id)
            .secret_string(crate::launch::account_secret(&self.venue, api_key, secret))
            .send()
            .await
            .map_err(|e| SandboxError::Secret {
                name: id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    pub async fn set_faults(&self, faults: Value) {
        if let Err(e) = self
            .try_admin_send(reqwest::Method::PUT, "/admin/faults", &faults)
            .await
        {
            panic!("{e}");
        }
    }

    /// The request weight the exchange has counted from this machine in the current minute
    /// (the clock is manual, so a test's whole run is one minute), less the one this asks.
    pub async fn used_weight(&self) -> u64 {
        let r = self
            .http
            .get(format!("{}/api/v3/time", self.venue.base_url()))
            .send()
            .await
            .expect("time call");
        let used: u64 = r
            .headers()
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("the exchange reports the used weight");
        used - 1
    }

    /// Sets a symbol's mid on every venue that lists it (resting orders it crosses fill).
    ///
    /// # Panics
    /// When no venue lists the symbol, or the price is not a positive decimal.
    pub async fn set_mid(&self, symbol: &str, price: &str) {
        let price: rust_decimal::Decimal = match price.parse() {
            Ok(p) => p,
            Err(e) => panic!("mid {price:?} of {symbol}: {e}"),
        };
        let now = self.now();
        let mut listed = 0;
        for venue in self.venues() {
            if venue.with_engine(|e| e.filters(symbol).is_ok()) {
                listed += 1;
                if let Err(e) = venue.with_engine(|e| e.set_mid(symbol, price, now)) {
                    panic!("cannot set the mid of {symbol} to {price}: {e}");
                }
            }
        }
        assert!(listed > 0, "no venue lists {symbol}");
    }

    /// Stops the paper exchanges. The emulator's resources are uniquely named and left to it.
    pub async fn stop(self) {
        self.venue.stop().await;
        for venue in self.more_venues {
            venue.stop().await;
        }
    }
}

/// Whether `order` (as the admin API lists it) is the venue's copy of the order driftline calls
/// `id`, whatever form the venue keeps the client id in (Kraken keeps `dl1-<hex>` as the UUID of
/// the hex digits).
pub fn is_copy_of(order: &Value, id: &str) -> bool {
    let hex = id.trim_start_matches("dl1-");
    order["clientOrderId"]
        .as_str()
        .is_some_and(|c| c == id || c.replace('-', "") == hex)
}
