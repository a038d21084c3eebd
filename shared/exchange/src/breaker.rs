//! How the client's outcomes feed core's circuit breaker.

use driftline_core::ports::ExchangeError;
use driftline_core::{BreakerConfig, BreakerState, EpochMillis};

/// Whether an error says the venue is in trouble: an unknown outcome (timeout, 5xx), a
/// retryable failure, or an unreadable answer. A definite answer (rejected, duplicate, not
/// found, auth) shows the venue working; rate limits and bans are the limiter's business.
pub fn counts_against_breaker(err: &ExchangeError) -> bool {
    matches!(
        err,
        ExchangeError::StatusUnknown { .. }
            | ExchangeError::Retryable { .. }
            | ExchangeError::Malformed { .. }
    )
}

/// The breaker state after a request's outcome.
///
/// A rate limit or ban says nothing about the venue's health, so it leaves a closed or open
/// breaker as it is; but a probe that ends that way has not shown the venue healthy, so a
/// half-open breaker opens again (rather than wait forever for a probe that is over).
pub fn record_outcome<T>(
    state: BreakerState,
    config: BreakerConfig,
    now: EpochMillis,
    outcome: &Result<T, ExchangeError>,
) -> BreakerState {
    match outcome {
        Ok(_) => state.on_success(),
        Err(e) if counts_against_breaker(e) => state.on_failure(config, now),
        Err(ExchangeError::RateLimited { .. } | ExchangeError::Banned { .. }) => match state {
            BreakerState::HalfOpen => state.on_failure(config, now),
            other => other,
        },
        Err(_) => state.on_success(),
    }
}
