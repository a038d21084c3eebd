//! How a Kraken client is set up: where it talks to, with which key, how patiently, and the
//! limits of the key's verification tier as Kraken states them.

use std::time::Duration;

use driftline_core::ApiCredentials;

use crate::config::ClientConfig;
use crate::limiter::{LimitKind, RateLimitWindow, RateLimits};

/// A Kraken account's verification tier: it sets the key's call counter and the trading
/// engine's per-pair counter (Kraken's "Spot REST Rate Limits" and "Spot Trading Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KrakenTier {
    /// Call counter at most 15, decaying 0.33 a second; trading counter 60, decaying 1.
    #[default]
    Starter,
    /// Call counter 20 at 0.5 a second; trading counter 125 at 2.34.
    Intermediate,
    /// Call counter 20 at 1 a second; trading counter 180 at 3.75.
    Pro,
}

impl KrakenTier {
    /// The REST call counter: its maximum and its decay in thousandths a second.
    pub fn call_counter(self) -> (u32, u32) {
        match self {
            Self::Starter => (15, 330),
            Self::Intermediate => (20, 500),
            Self::Pro => (20, 1_000),
        }
    }

    /// The trading engine's counter of one pair: its threshold and its decay in thousandths a
    /// second.
    pub fn trading_counter(self) -> (u32, u32) {
        match self {
            Self::Starter => (60, 1_000),
            Self::Intermediate => (125, 2_340),
            Self::Pro => (180, 3_750),
        }
    }

    /// The key's limits as the shared limiter's windows: the call counter as request weight
    /// (history calls cost 2, AddOrder and CancelOrder nothing), the trading counter as orders
    /// (every pair's counter budgeted as one, which is stricter than Kraken).
    pub fn rate_limits(self) -> RateLimits {
        let (calls, call_decay) = self.call_counter();
        let (trades, trade_decay) = self.trading_counter();
        RateLimits::new(vec![
            RateLimitWindow::decaying(LimitKind::RequestWeight, calls, call_decay),
            RateLimitWindow::decaying(LimitKind::Orders, trades, trade_decay),
        ])
    }

    /// How long a full counter takes to decay to nothing: the pause after Kraken says a
    /// counter is over its maximum (`(call counter, trading counter)`).
    pub fn recovery(self) -> (Duration, Duration) {
        let full = |(max, decay): (u32, u32)| {
            Duration::from_millis((u64::from(max) * 1_000_000).div_ceil(u64::from(decay.max(1))))
        };
        (full(self.call_counter()), full(self.trading_counter()))
    }
}

/// A Kraken spot REST client's settings.
#[derive(Debug, Clone)]
pub struct KrakenConfig {
    /// Where (production or the paper exchange), with which key (an API key and its base64
    /// secret, for private calls only), how patiently; `markets_ttl` is how long `Assets` and
    /// `AssetPairs` (names, filters) are kept; `retry` resends a refused nonce too.
    pub client: ClientConfig,
    /// The account's verification tier: the defaults of `rate_limits` and the pauses after
    /// Kraken says a counter is full.
    pub tier: KrakenTier,
    /// The key's call counter and trading counter as windows (`tier.rate_limits()`).
    pub rate_limits: RateLimits,
    /// Public calls, limited per IP: about one a second.
    pub public_rate_limits: RateLimits,
    /// When `ClosedOrders` ignores its `cl_ord_id` filter, how far back its pages are read
    /// before an order is declared absent. Unused while the filter works.
    pub closed_orders_lookback: Duration,
}

impl KrakenConfig {
    pub const PRODUCTION_URL: &'static str = "https://api.kraken.com";

    /// Settings for the venue at `base_url`, for a Starter account: [`ClientConfig::new`]'s,
    /// about one public call a second, a week of closed orders.
    pub fn new(base_url: impl Into<String>, credentials: Option<ApiCredentials>) -> Self {
        let tier = KrakenTier::default();
        Self {
            client: ClientConfig::new(base_url, credentials),
            tier,
            rate_limits: tier.rate_limits(),
            public_rate_limits: RateLimits::new(vec![RateLimitWindow::decaying(
                LimitKind::RequestWeight,
                10,
                1_000,
            )]),
            closed_orders_lookback: Duration::from_secs(7 * 86_400),
        }
    }

    pub fn production(credentials: ApiCredentials) -> Self {
        Self::new(Self::PRODUCTION_URL, Some(credentials))
    }

    /// The same settings for an account of `tier`.
    #[must_use]
    pub fn with_tier(mut self, tier: KrakenTier) -> Self {
        self.tier = tier;
        self.rate_limits = tier.rate_limits();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_recover_in_the_time_their_counters_take_to_decay() {
        assert_eq!(
            KrakenTier::Starter.recovery(),
            (Duration::from_millis(45_455), Duration::from_secs(60))
        );
        assert_eq!(
            KrakenTier::Pro.recovery(),
            (Duration::from_secs(20), Duration::from_millis(48_000))
        );
        let config = KrakenConfig::new("http://127.0.0.1:1", None).with_tier(KrakenTier::Pro);
        assert_eq!(config.rate_limits, KrakenTier::Pro.rate_limits());
    }

    #[test]
    fn debug_never_shows_credentials() {
        let c =
            KrakenConfig::production(ApiCredentials::new("key-abc-123", "c2VjcmV0LXh5ei03ODk="));
        let shown = format!("{c:?}");
        assert!(!shown.contains("key-abc-123") && !shown.contains("c2VjcmV0LXh5ei03ODk="));
    }
}
