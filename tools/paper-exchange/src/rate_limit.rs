//! Request weight per minute, counted the way the venue counts it: a fixed window per calendar
//! minute per client address, reported in `X-MBX-USED-WEIGHT-1M`. A client that sends again
//! after a 429 inside the same window is banned (418) for a while.
//!
//! Written here rather than with `governor`: governor's GCRA answers "allowed or not" but not
//! "how much weight this minute has used", which every response must report.

use std::collections::HashMap;
use std::net::IpAddr;

use driftline_core::EpochMillis;

const MINUTE_MS: EpochMillis = 60_000;

/// What the limiter decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it; `used` is the window's weight including this request.
    Allowed { used: u32 },
    /// 429: over the limit; retry when the window turns.
    TooMany { used: u32, retry_after_s: u64 },
    /// 418: kept sending after a 429; banned until `until_ms`.
    Banned {
        used: u32,
        until_ms: EpochMillis,
        retry_after_s: u64,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    minute: EpochMillis,
    used: u32,
    rejected: bool,
    banned_until: EpochMillis,
}

/// Weight counters per client address.
#[derive(Debug)]
pub struct WeightLimiter {
    limit: u32,
    ban_ms: EpochMillis,
    clients: HashMap<IpAddr, Window>,
}

fn seconds_until(now: EpochMillis, then: EpochMillis) -> u64 {
    u64::try_from((then - now).max(0))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

impl WeightLimiter {
    pub fn new(limit: u32, ban_seconds: u64) -> Self {
        Self {
            limit,
            ban_ms: EpochMillis::try_from(ban_seconds.saturating_mul(1000))
                .unwrap_or(EpochMillis::MAX),
            clients: HashMap::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Counts a request of `weight` from `client` at `now` and says whether to serve it.
    pub fn admit(&mut self, client: IpAddr, weight: u32, now: EpochMillis) -> Verdict {
        let minute = now.div_euclid(MINUTE_MS);
        let w = self.clients.entry(client).or_default();
        if w.minute != minute {
            *w = Window {
                minute,
                banned_until: w.banned_until,
                ..Window::default()
            };
        }
        w.used = w.used.saturating_add(weight);
        if now < w.banned_until {
            return Verdict::Banned {
                used: w.used,
                until_ms: w.banned_until,
                retry_after_s: seconds_until(now, w.banned_until),
            };
        }
        if w.used <= self.limit {
            return Verdict::Allowed { used: w.used };
        }
        if w.rejected {
            w.banned_until = now.saturating_add(self.ban_ms);
            return Verdict::Banned {
                used: w.used,
                until_ms: w.banned_until,
                retry_after_s: seconds_until(now, w.banned_until),
            };
        }
        w.rejected = true;
        Verdict::TooMany {
            used: w.used,
            retry_after_s: seconds_until(now, (minute + 1) * MINUTE_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn counts_weight_then_429_then_418_then_recovers_after_the_ban() {
        let mut l = WeightLimiter::new(10, 120);
        let t0 = 60_000 * 100 + 10_000;
        assert_eq!(l.admit(IP, 4, t0), Verdict::Allowed { used: 4 });
        assert_eq!(l.admit(IP, 6, t0 + 1), Verdict::Allowed { used: 10 });
        assert_eq!(
            l.admit(IP, 1, t0 + 2),
            Verdict::TooMany {
                used: 11,
                retry_after_s: 50
            }
        );
        let banned = l.admit(IP, 1, t0 + 3);
        assert!(
            matches!(banned, Verdict::Banned { until_ms, .. } if until_ms == t0 + 3 + 120_000),
            "{banned:?}"
        );
        // Next minute: still banned.
        assert!(matches!(
            l.admit(IP, 1, t0 + 60_000),
            Verdict::Banned { .. }
        ));
        // After the ban: a fresh window.
        assert_eq!(
            l.admit(IP, 2, t0 + 3 + 120_000),
            Verdict::Allowed { used: 2 }
        );
    }

    #[test]
    fn a_new_minute_resets_the_count_without_a_ban() {
        let mut l = WeightLimiter::new(5, 120);
        let t0 = 60_000 * 7;
        assert!(matches!(l.admit(IP, 6, t0), Verdict::TooMany { .. }));
        assert_eq!(l.admit(IP, 1, t0 + 60_000), Verdict::Allowed { used: 1 });
    }
}
