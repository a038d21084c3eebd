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

/// A Binance spot REST client's settings.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// Scheme, host and port, no path: production, testnet or the paper exchange.
    pub base_url: String,
    /// Needed for signed endpoints (account, orders); market data works without.
    pub credentials: Option<ApiCredentials>,
    /// How long after `timestamp` the exchange may still accept a signed request (max 60,000).
    pub recv_window_ms: u64,
    /// Whole-request timeout; a placement that hits it has an unknown outcome.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long exchangeInfo (symbols, filters, limits) is kept before it is read again.
    pub markets_ttl: Duration,
    /// The longest a caller waits for the limiter (a 429 pause, a spent bucket) before getting
    /// `RateLimited` back instead.
    pub max_rate_limit_wait: Duration,
    pub retry: RetryPolicy,
    /// The limits kept until exchangeInfo has been read.
    pub initial_limits: RateLimits,
}

impl BinanceConfig {
    pub const PRODUCTION_URL: &'static str = "https://api.binance.com";
    pub const TESTNET_URL: &'static str = "https://testnet.binance.vision";

    /// Settings for the exchange at `base_url`, with the defaults below.
    pub fn new(base_url: impl Into<String>, credentials: Option<ApiCredentials>) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            recv_window_ms: 5_000,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            markets_ttl: Duration::from_secs(15 * 60),
            max_rate_limit_wait: Duration::from_secs(10),
            retry: RetryPolicy::default(),
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
