//! How a client is set up: where it talks to, with which keys, how patiently.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use driftline_core::ApiCredentials;

use crate::limiter::RateLimits;

/// Retries of requests that are safe to send again: exponential backoff with full jitter (each
/// delay drawn uniformly from zero to the exponential delay, so callers that failed together do
/// not retry together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delays before each retry.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + Sync + Unpin {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .build()
            .map(full_jitter as fn(Duration) -> Duration)
    }
}

fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// The settings every venue's client has, whatever its dialect: where it talks to, with which
/// keys, how patiently, and how long it trusts the venue's list of markets. Each venue's
/// config holds one as `client`, next to what only that venue needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme, host and port, no path: production, a testnet or the paper exchange.
    pub base_url: String,
    /// Needed for the account and order endpoints only; market data works without.
    pub credentials: Option<ApiCredentials>,
    /// Whole-request timeout; a placement or cancel that hits it has an unknown outcome.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long the venue's markets (names, filters, status) are kept before they are read
    /// again.
    pub markets_ttl: Duration,
    /// The longest a caller waits for the limiter (a 429 pause, a spent bucket) before getting
    /// `RateLimited` back instead.
    pub max_rate_limit_wait: Duration,
    /// Resends of what is safe to resend.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Settings for the venue at `base_url`: 10 s a request, 3 s to connect, markets kept 15
    /// minutes, at most 10 s waiting for the limiter, [`RetryPolicy::default`].
    pub fn new(base_url: impl Into<String>, credentials: Option<ApiCredentials>) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            markets_ttl: Duration::from_secs(15 * 60),
            max_rate_limit_wait: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// A Binance spot REST client's settings.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// Where, with which keys (signed endpoints only: account, orders), how patiently;
    /// `markets_ttl` is how long exchangeInfo (symbols, filters, limits) is kept.
    pub client: ClientConfig,
    /// How long after `timestamp` the exchange may still accept a signed request (max 60,000).
    pub recv_window_ms: u64,
    /// The limits kept until exchangeInfo has been read.
    pub initial_limits: RateLimits,
}

impl BinanceConfig {
    pub const PRODUCTION_URL: &'static str = "https://api.binance.com";
    pub const TESTNET_URL: &'static str = "https://testnet.binance.vision";

    /// Settings for the exchange at `base_url`: [`ClientConfig::new`]'s, a 5 s receive window,
    /// and Binance spot's published limits.
    pub fn new(base_url: impl Into<String>, credentials: Option<ApiCredentials>) -> Self {
        Self {
            client: ClientConfig::new(base_url, credentials),
            recv_window_ms: 5_000,
            initial_limits: RateLimits::binance_spot_defaults(),
        }
    }

    pub fn production(credentials: ApiCredentials) -> Self {
        Self::new(Self::PRODUCTION_URL, Some(credentials))
    }

    pub fn testnet(credentials: ApiCredentials) -> Self {
        Self::new(Self::TESTNET_URL, Some(credentials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_full_jitter_under_an_exponential_ceiling() {
        let policy = RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let ceilings = [100, 200, 400, 500].map(Duration::from_millis);
        for _ in 0..200 {
            let delays: Vec<_> = policy.delays().collect();
            assert_eq!(delays.len(), 4);
            for (d, c) in delays.iter().zip(ceilings) {
                assert!(*d <= c, "{d:?} over {c:?}");
            }
        }
        // Full jitter spreads over the whole range: some first delays fall in its lower half.
        let low = (0..200)
            .filter_map(|_| policy.delays().next())
            .filter(|d| *d < Duration::from_millis(50))
            .count();
        assert!(low > 0);
    }

    #[test]
    fn debug_never_shows_credentials() {
        let c = BinanceConfig::production(ApiCredentials::new("key-abc-123", "secret-xyz-789"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("key-abc-123") && !shown.contains("secret-xyz-789"));
    }
}
