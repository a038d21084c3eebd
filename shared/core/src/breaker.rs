//! A circuit breaker over an exchange: after enough consecutive failures of the kind that say
//! "the venue is in trouble" (status unknown, 5xx), stop sending for a cooldown, then let one
//! probe through. Pure state: the executor keeps it per exchange, the AWS store shares it
//! between instances.

use serde::{Deserialize, Serialize};

use crate::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe is let through.
    pub cooldown_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until_ms: EpochMillis,
    },
    /// The cooldown is over and one probe is in flight; its outcome closes or reopens.
    HalfOpen,
}

impl Default for BreakerState {
    fn default() -> Self {
        Self::Closed {
            consecutive_failures: 0,
        }
    }
}

/// What the breaker lets a caller do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerPermit {
    /// Send the request.
    Allowed,
    /// The cooldown just ended: send this one request as the probe.
    Probe,
    /// Do not send; try again at `retry_at_ms`.
    Rejected { retry_at_ms: EpochMillis },
}

impl BreakerState {
    /// Whether a request may be sent at `now`, and the state to store if it is a probe.
    pub fn permit(self, now: EpochMillis) -> (BreakerPermit, BreakerState) {
        match self {
            Self::Closed { .. } => (BreakerPermit::Allowed, self),
            Self::Open { until_ms } if now >= until_ms => (BreakerPermit::Probe, Self::HalfOpen),
            Self::Open { until_ms } => (
                BreakerPermit::Rejected {
                    retry_at_ms: until_ms,
                },
                self,
            ),
            // Another caller holds the probe; wait a little for its outcome.
            Self::HalfOpen => (
                BreakerPermit::Rejected {
                    retry_at_ms: now + 1_000,
                },
                self,
            ),
        }
    }

    /// The state after a request that reached the venue and was answered. Only the probe
    /// closes an open breaker: the success of a request sent before it opened (or by an
    /// instance that had not yet seen it open) must not end a cooldown or a ban.
    pub fn on_success(self) -> BreakerState {
        match self {
            Self::Open { .. } => self,
            Self::Closed { .. } | Self::HalfOpen => Self::default(),
        }
    }

    /// The state after a request whose outcome says the venue is in trouble.
    pub fn on_failure(self, config: BreakerConfig, now: EpochMillis) -> BreakerState {
        match self {
            Self::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < config.failure_threshold => Self::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            _ => Self::Open {
                until_ms: now + config.cooldown_ms,
            },
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_then_closes() {
        let cfg = BreakerConfig {
            failure_threshold: 3,
            cooldown_ms: 100,
        };
        let mut s = BreakerState::default();
        for _ in 0..2 {
            s = s.on_failure(cfg, 0);
            assert_eq!(s.permit(0).0, BreakerPermit::Allowed);
        }
        s = s.on_failure(cfg, 10);
        assert_eq!(s, BreakerState::Open { until_ms: 110 });
        assert_eq!(s.permit(50).0, BreakerPermit::Rejected { retry_at_ms: 110 });
        let (permit, probing) = s.permit(110);
        assert_eq!(permit, BreakerPermit::Probe);
        assert!(
            matches!(probing.permit(111).0, BreakerPermit::Rejected { .. }),
            "one probe at a time"
        );
        assert_eq!(
            probing.on_failure(cfg, 120),
            BreakerState::Open { until_ms: 220 }
        );
        assert_eq!(probing.on_success(), BreakerState::default());
    }

    #[test]
    fn a_late_success_does_not_close_an_open_breaker_or_end_a_ban() {
        let banned = BreakerState::Open { until_ms: 5_000 };
        assert_eq!(banned.on_success(), banned);
        assert_eq!(
            banned.permit(4_999).0,
            BreakerPermit::Rejected { retry_at_ms: 5_000 }
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let cfg = BreakerConfig::default();
        let s = BreakerState::default().on_failure(cfg, 0).on_success();
        assert_eq!(s, BreakerState::default());
    }
}
