//! How a Coinbase Advanced Trade client is set up: where it talks to, with which CDP key, how
//! patiently, and how fast it may call.

use std::time::Duration;

use driftline_core::ApiCredentials;

use crate::config::ClientConfig;

/// A Coinbase Advanced Trade REST client's settings.
#[derive(Debug, Clone)]
pub struct CoinbaseConfig {
    /// Where (production or the paper exchange: the host and port are what every JWT's `uri`
    /// claim names), with which CDP API key (`api_key` the key name,
    /// `organizations/{org}/apiKeys/{id}`, the secret its PEM EC private key, SEC1 or PKCS#8;
    /// for accounts and orders only), how patiently; `markets_ttl` is how long the product list
    /// (names, increments, minimums, status) is kept.
    pub client: ClientConfig,
    /// Coinbase's limit on private endpoints, per user (API key's owner).
    pub private_requests_per_second: u32,
    /// Coinbase's limit on public endpoints, per IP.
    pub public_requests_per_second: u32,
    /// How far back the lookup of an order by client order id lists the account's orders of
    /// any status (open orders are listed whatever their age).
    pub order_lookup_window: Duration,
}

impl CoinbaseConfig {
    pub const PRODUCTION_URL: &'static str = "https://api.coinbase.com";

    /// Settings for the venue at `base_url`, with the defaults of `docs/EXCHANGE.md`.
    pub fn new(base_url: impl Into<String>, credentials: Option<ApiCredentials>) -> Self {
        Self {
            client: ClientConfig::new(base_url, credentials),
            private_requests_per_second: 30,
            public_requests_per_second: 10,
            order_lookup_window: Duration::from_secs(48 * 3600),
        }
    }

    pub fn production(credentials: ApiCredentials) -> Self {
        Self::new(Self::PRODUCTION_URL, Some(credentials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let c = CoinbaseConfig::production(ApiCredentials::new(
            "organizations/o/apiKeys/k",
            "-----BEGIN EC PRIVATE KEY-----hunter2-----END EC PRIVATE KEY-----",
        ));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("apiKeys/k"));
        assert_eq!(c.client.base_url, "https://api.coinbase.com");
    }
}
