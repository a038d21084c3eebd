//! The circuit breaker over an exchange, as one rule for every function: after enough
//! consecutive answers that say "the venue is in trouble" (status unknown, 5xx, unreadable), or
//! at once on a rate limit or a ban, nothing is sent until the cooldown or the ban ends; then one
//! request, the probe, goes through. Its answer closes or reopens the breaker. The probe has an
//! owner and a deadline, so a probe whose process dies (or whose invocation times out) lapses and
//! the next caller probes instead.
//!
//! Pure state and rules: [`crate::service::guard`] keeps the state in the shared store and puts
//! every exchange call of both functions behind it.

use serde::{Deserialize, Serialize};

use crate::ports::ExchangeError;
use crate::EpochMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe is let through.
    pub cooldown_ms: i64,
    /// How long a probe may take before another caller may probe instead (its process may have
    /// died or its invocation timed out, and nobody else can tell).
    pub probe_timeout_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_ms: 30_000,
            probe_timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until_ms: EpochMillis,
    },
    /// The cooldown is over and one probe is in flight; its outcome closes or reopens. A state
    /// stored before probes had owners reads as one that lapsed long ago.
    HalfOpen {
        #[serde(default)]
        probe: String,
        #[serde(default)]
        until_ms: EpochMillis,
    },
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
    /// The cooldown is over (or the last probe lapsed): send this one request as the probe.
    Probe,
    /// Do not send; try again at `retry_at_ms`.
    Rejected { retry_at_ms: EpochMillis },
}

/// What an exchange answer says about the venue's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueHealth {
    /// The venue answered (an order, a rejection, "not found", "duplicate", bad keys): it works.
    Answered,
    /// The venue is in trouble: no answer, a 5xx, or one that cannot be read.
    Trouble,
    /// Over the limit or banned: nothing may be sent until `until_ms`.
    Stop { until_ms: EpochMillis },
    /// The request was never sent (the breaker itself refused it): says nothing.
    Silent,
}

impl VenueHealth {
    /// The one classification of an exchange outcome, for every caller. A duplicate client
    /// order id means "look the order up", never "failed".
    pub fn of<T>(outcome: &Result<T, ExchangeError>, now: EpochMillis) -> Self {
        match outcome {
            Ok(_) => Self::Answered,
            Err(e) => match e {
                ExchangeError::StatusUnknown { .. }
                | ExchangeError::Retryable { .. }
                | ExchangeError::Malformed { .. } => Self::Trouble,
                ExchangeError::RateLimited { retry_after_ms }
                | ExchangeError::Banned { retry_after_ms } => Self::Stop {
                    until_ms: now
                        .saturating_add(i64::try_from(*retry_after_ms).unwrap_or(i64::MAX)),
                },
                ExchangeError::BreakerOpen { .. } => Self::Silent,
                ExchangeError::Rejected { .. }
                | ExchangeError::Duplicate { .. }
                | ExchangeError::NotFound { .. }
                | ExchangeError::Auth { .. } => Self::Answered,
            },
        }
    }
}

impl BreakerState {
    /// Whether a request may be sent at `now`. A caller that gets [`BreakerPermit::Probe`] must
    /// store [`BreakerState::probing`] first (conditionally), and is the probe only if that
    /// write wins.
    pub fn permit(&self, now: EpochMillis) -> BreakerPermit {
        match self {
            Self::Closed { .. } => BreakerPermit::Allowed,
            Self::Open { until_ms } | Self::HalfOpen { until_ms, .. } if now >= *until_ms => {
                BreakerPermit::Probe
            }
            Self::Open { until_ms } => BreakerPermit::Rejected {
                retry_at_ms: *until_ms,
            },
            // Another caller holds a live probe: look again soon for its outcome.
            Self::HalfOpen { until_ms, .. } => BreakerPermit::Rejected {
                retry_at_ms: (*until_ms).min(now + 1_000),
            },
        }
    }

    /// The state a probe stores before it sends: it owns the breaker until `now + timeout`.
    pub fn probing(probe: &str, now: EpochMillis, config: BreakerConfig) -> Self {
        Self::HalfOpen {
            probe: probe.to_owned(),
            until_ms: now + config.probe_timeout_ms,
        }
    }

    /// The state after an answer to the request of `caller` (its probe token, if it probed).
    pub fn after(
        &self,
        health: VenueHealth,
        caller: Option<&str>,
        config: BreakerConfig,
        now: EpochMillis,
    ) -> Self {
        match health {
            VenueHealth::Answered => self.on_success(caller),
            VenueHealth::Trouble => self.on_failure(config, now),
            VenueHealth::Stop { until_ms } => self.stopped_until(until_ms),
            VenueHealth::Silent => self.clone(),
        }
    }

    /// Only the probe closes a breaker that is not closed: the success of a request sent
    /// before it opened (or by an instance that had not yet seen it open) must not end a
    /// cooldown or a ban.
    fn on_success(&self, caller: Option<&str>) -> Self {
        match self {
            Self::Closed { .. } => Self::default(),
            Self::HalfOpen { probe, .. } if Some(probe.as_str()) == caller => Self::default(),
            Self::HalfOpen { .. } | Self::Open { .. } => self.clone(),
        }
    }

    fn on_failure(&self, config: BreakerConfig, now: EpochMillis) -> Self {
        match self {
            Self::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < config.failure_threshold => Self::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            Self::Open { until_ms } => Self::Open {
                until_ms: (*until_ms).max(now + config.cooldown_ms),
            },
            _ => Self::Open {
                until_ms: now + config.cooldown_ms,
            },
        }
    }

    /// A rate limit or a ban: open until it ends, never shortening a longer one.
    fn stopped_until(&self, until_ms: EpochMillis) -> Self {
        match self {
            Self::Open { until_ms: current } => Self::Open {
                until_ms: until_ms.max(*current),
            },
            _ => Self::Open { until_ms },
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self, Self::Closed { .. })
    }

    /// Whether the state says anything a caller must wait on or record: not a clean close.
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            Self::Closed {
                consecutive_failures: 0
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: BreakerConfig = BreakerConfig {
        failure_threshold: 3,
        cooldown_ms: 100,
        probe_timeout_ms: 50,
    };

    #[test]
    fn opens_after_the_threshold_then_probes_then_closes() {
        let mut s = BreakerState::default();
        for _ in 0..2 {
            s = s.after(VenueHealth::Trouble, None, CFG, 0);
            assert_eq!(s.permit(0), BreakerPermit::Allowed);
        }
        s = s.after(VenueHealth::Trouble, None, CFG, 10);
        assert_eq!(s, BreakerState::Open { until_ms: 110 });
        assert_eq!(s.permit(50), BreakerPermit::Rejected { retry_at_ms: 110 });
        assert_eq!(s.permit(110), BreakerPermit::Probe);
        let probing = BreakerState::probing("p1", 110, CFG);
        assert!(
            matches!(probing.permit(111), BreakerPermit::Rejected { .. }),
            "one probe at a time"
        );
        assert_eq!(
            probing.after(VenueHealth::Trouble, Some("p1"), CFG, 120),
            BreakerState::Open { until_ms: 220 }
        );
        assert_eq!(
            probing.after(VenueHealth::Answered, Some("p1"), CFG, 120),
            BreakerState::default()
        );
    }

    #[test]
    fn a_probe_that_never_answers_lapses_at_its_deadline_and_the_next_caller_probes() {
        let probing = BreakerState::probing("dead", 1_000, CFG);
        assert_eq!(
            probing.permit(1_049),
            BreakerPermit::Rejected { retry_at_ms: 1_050 }
        );
        assert_eq!(probing.permit(1_050), BreakerPermit::Probe);
        // A half-open state stored before probes had owners has lapsed.
        let legacy: BreakerState = serde_json::from_str(r#"{"state":"HALF_OPEN"}"#).unwrap();
        assert_eq!(legacy.permit(0), BreakerPermit::Probe);
    }

    #[test]
    fn only_the_probe_closes_and_a_late_success_does_not_end_a_ban() {
        let banned = BreakerState::Open { until_ms: 5_000 };
        assert_eq!(
            banned.after(VenueHealth::Answered, None, CFG, 10),
            banned,
            "a success sent before the ban"
        );
        assert_eq!(
            banned.permit(4_999),
            BreakerPermit::Rejected { retry_at_ms: 5_000 }
        );
        let probing = BreakerState::probing("p1", 5_000, CFG);
        assert_eq!(
            probing.after(VenueHealth::Answered, Some("p2"), CFG, 5_001),
            probing,
            "another caller's success does not close it"
        );
    }

    #[test]
    fn bans_and_rate_limits_open_until_they_end_and_never_shorten() {
        let s = BreakerState::default().after(VenueHealth::Stop { until_ms: 9_000 }, None, CFG, 0);
        assert_eq!(s, BreakerState::Open { until_ms: 9_000 });
        let s = s.after(VenueHealth::Stop { until_ms: 4_000 }, None, CFG, 1);
        assert_eq!(s, BreakerState::Open { until_ms: 9_000 });
        let s = s.after(VenueHealth::Trouble, None, CFG, 2);
        assert_eq!(s, BreakerState::Open { until_ms: 9_000 });
    }

    #[test]
    fn the_venue_answering_is_not_trouble_and_a_duplicate_is_an_answer() {
        let now = 1_000;
        let of = |e: ExchangeError| VenueHealth::of::<()>(&Err(e), now);
        assert_eq!(
            of(ExchangeError::Duplicate {
                message: "dup".into()
            }),
            VenueHealth::Answered
        );
        assert_eq!(
            of(ExchangeError::Rejected {
                message: "insufficient balance".into()
            }),
            VenueHealth::Answered
        );
        assert_eq!(
            of(ExchangeError::StatusUnknown {
                reason: "timeout".into()
            }),
            VenueHealth::Trouble
        );
        assert_eq!(
            of(ExchangeError::RateLimited {
                retry_after_ms: 500
            }),
            VenueHealth::Stop { until_ms: 1_500 }
        );
        assert_eq!(
            of(ExchangeError::Banned {
                retry_after_ms: 6_000
            }),
            VenueHealth::Stop { until_ms: 7_000 }
        );
        assert_eq!(
            of(ExchangeError::BreakerOpen { retry_at_ms: 7_000 }),
            VenueHealth::Silent
        );
        assert_eq!(VenueHealth::of::<()>(&Ok(()), now), VenueHealth::Answered);
    }

    #[test]
    fn a_success_resets_the_count() {
        let s = BreakerState::default()
            .after(VenueHealth::Trouble, None, CFG, 0)
            .after(VenueHealth::Answered, None, CFG, 1);
        assert_eq!(s, BreakerState::default());
    }
}
