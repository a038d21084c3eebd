//! The time and random draws, read through ports so that core stays deterministic under test.

use crate::EpochMillis;

/// The time, read through a port so that core stays deterministic under test.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> EpochMillis;
}

/// Random draws, read through a port so that core stays deterministic under test (retry jitter).
pub trait RandomSource: Send + Sync {
    fn next_u64(&self) -> u64;
}
