//! Clocks behind core's [`Clock`] port: the system's, and one tests set by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use driftline_core::ports::Clock;
use driftline_core::EpochMillis;

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMillis {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            EpochMillis::try_from(d.as_millis()).unwrap_or(EpochMillis::MAX)
        })
    }
}

/// A clock that moves only when told to, so rate-limit windows and timestamps in tests are
/// deterministic.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: EpochMillis) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: EpochMillis) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by_ms: EpochMillis) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> EpochMillis {
        self.0.load(Ordering::SeqCst)
    }
}
