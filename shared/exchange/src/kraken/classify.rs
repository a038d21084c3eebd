//! Kraken's answers that are not a success, mapped to what the caller must do: the port's
//! error (Kraken's own text kept in its message) and what the limiter must hold back. The
//! table is in `docs/EXCHANGE.md` ("Kraken", "Errors").

use std::time::Duration;

use driftline_core::ports::ExchangeError;
use driftline_core::EpochMillis;

use super::config::KrakenTier;
use crate::classify::{unknown_outcome, RequestKind};
use crate::limiter::millis;

/// How long a temporary lockout lasts: "typically approximately 15 minutes" (Kraken's API
/// error guide); the answer does not say.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// How long to hold off after an HTTP 429 without `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the limiter must do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Nothing,
    /// No private call for this long (the key's call counter is full, or Kraken throttles).
    Calls(Duration),
    /// No order placed or cancelled for this long (the trading counter is full).
    Orders(Duration),
    /// Nothing at all for this long (a lockout).
    Everything(Duration),
}

/// The port's error for an answer of HTTP `status` carrying Kraken's `errors` (warnings left
/// out; empty when the body is not Kraken's), and what to hold back.
pub fn classify(
    kind: RequestKind,
    status: u16,
    errors: &[String],
    retry_after: Option<Duration>,
    tier: KrakenTier,
    now_ms: EpochMillis,
) -> (ExchangeError, Hold) {
    let Some(first) = errors.first() else {
        return by_status(kind, status, retry_after);
    };
    let message = errors.join("; ");
    let (call_recovery, trading_recovery) = tier.recovery();
    let rate_limited = |wait: Duration| ExchangeError::RateLimited {
        retry_after_ms: millis(wait),
    };
    let starts = |prefix: &str| first.starts_with(prefix);
    if starts("EAPI:Invalid key")
        || starts("EAPI:Invalid signature")
        || starts("EGeneral:Permission denied")
        || starts("EAuth:")
    {
        return (ExchangeError::Auth { message }, Hold::Nothing);
    }
    if starts("EAPI:Invalid nonce") {
        // Refused with the authentication, before the request did anything: resent with a
        // fresh nonce, a placement too.
        return (ExchangeError::Retryable { reason: message }, Hold::Nothing);
    }
    if starts("EGeneral:Temporary lockout") {
        let wait = LOCKOUT;
        return (
            ExchangeError::Banned {
                retry_after_ms: millis(wait),
            },
            Hold::Everything(wait),
        );
    }
    if starts("EAPI:Rate limit exceeded") {
        return (rate_limited(call_recovery), Hold::Calls(call_recovery));
    }
    if starts("EOrder:Rate limit exceeded") || starts("EOrder:Domain rate limit exceeded") {
        return (
            rate_limited(trading_recovery),
            Hold::Orders(trading_recovery),
        );
    }
    if let Some(until) = first.strip_prefix("EService:Throttled:") {
        // "Try again after [UNIX timestamp]".
        let wait = until
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .map_or(DEFAULT_RETRY_AFTER, |at| {
                Duration::from_millis(u64::try_from(at - now_ms).unwrap_or(0))
            })
            .max(DEFAULT_RETRY_AFTER);
        return (rate_limited(wait), Hold::Calls(wait));
    }
    if starts("EService:Unavailable")
        || starts("EService:Busy")
        || starts("EService:Deadline elapsed")
        || starts("EGeneral:Internal error")
    {
        // The engine may have taken a placement or cancel before failing to answer.
        return (unknown_outcome(kind, message), Hold::Nothing);
    }
    if starts("EService:Market in") {
        // cancel_only, post_only, limit_only: the market refuses for now, nothing was done.
        return (ExchangeError::Retryable { reason: message }, Hold::Nothing);
    }
    if starts("EOrder:Unknown order") {
        return (ExchangeError::NotFound { message }, Hold::Nothing);
    }
    // Kraken does not publish the text of its refusal of an open order's cl_ord_id.
    if starts("EOrder:") && first.to_ascii_lowercase().contains("duplicate") {
        return (ExchangeError::Duplicate { message }, Hold::Nothing);
    }
    // Insufficient funds, order or cost minimum, tick size, post only, orders limit, unknown
    // pair, invalid arguments: refused, and the same request cannot succeed.
    (ExchangeError::Rejected { message }, Hold::Nothing)
}

/// An answer without Kraken's error strings (a proxy's page, an empty body).
fn by_status(
    kind: RequestKind,
    status: u16,
    retry_after: Option<Duration>,
) -> (ExchangeError, Hold) {
    if status == 429 {
        let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
        return (
            ExchangeError::RateLimited {
                retry_after_ms: millis(wait),
            },
            Hold::Calls(wait),
        );
    }
    if status >= 500 {
        return (
            unknown_outcome(kind, format!("HTTP {status}")),
            Hold::Nothing,
        );
    }
    (
        ExchangeError::Rejected {
            message: format!("HTTP {status}"),
        },
        Hold::Nothing,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const NOW: EpochMillis = 1_800_000_000_000;

    fn of(kind: RequestKind, status: u16, error: &str) -> (ExchangeError, Hold) {
        let errors: Vec<String> = if error.is_empty() {
            Vec::new()
        } else {
            vec![error.to_owned()]
        };
        classify(kind, status, &errors, None, KrakenTier::Starter, NOW)
    }

    fn kind_of(e: &ExchangeError) -> &'static str {
        match e {
            ExchangeError::Retryable { .. } => "Retryable",
            ExchangeError::StatusUnknown { .. } => "StatusUnknown",
            ExchangeError::Rejected { .. } => "Rejected",
            ExchangeError::Duplicate { .. } => "Duplicate",
            ExchangeError::NotFound { .. } => "NotFound",
            ExchangeError::Auth { .. } => "Auth",
            ExchangeError::RateLimited { .. } => "RateLimited",
            ExchangeError::Banned { .. } => "Banned",
            ExchangeError::Malformed { .. } => "Malformed",
            ExchangeError::BreakerOpen { .. } => "BreakerOpen",
        }
    }

    #[rstest]
    #[case("EAPI:Invalid key", "Auth", "Auth")]
    #[case("EAPI:Invalid signature", "Auth", "Auth")]
    #[case("EGeneral:Permission denied", "Auth", "Auth")]
    #[case("EAuth:Account temporary disabled", "Auth", "Auth")]
    #[case("EAPI:Invalid nonce", "Retryable", "Retryable")]
    #[case("EAPI:Rate limit exceeded", "RateLimited", "RateLimited")]
    #[case("EOrder:Rate limit exceeded", "RateLimited", "RateLimited")]
    #[case("EGeneral:Temporary lockout", "Banned", "Banned")]
    #[case("EService:Unavailable", "Retryable", "StatusUnknown")]
    #[case("EService:Busy", "Retryable", "StatusUnknown")]
    #[case("EService:Deadline elapsed", "Retryable", "StatusUnknown")]
    #[case("EGeneral:Internal error", "Retryable", "StatusUnknown")]
    #[case("EGeneral:Internal error:7", "Retryable", "StatusUnknown")]
    #[case("EService:Market in cancel_only mode", "Retryable", "Retryable")]
    #[case("EService:Market in post_only mode", "Retryable", "Retryable")]
    #[case("EOrder:Unknown order", "NotFound", "NotFound")]
    #[case("EOrder:Duplicate order", "Duplicate", "Duplicate")]
    #[case("EOrder:Insufficient funds", "Rejected", "Rejected")]
    #[case("EOrder:Order minimum not met", "Rejected", "Rejected")]
    #[case("EOrder:Cost minimum not met", "Rejected", "Rejected")]
    #[case("EOrder:Tick size check failed", "Rejected", "Rejected")]
    #[case("EOrder:Post only order", "Rejected", "Rejected")]
    #[case("EOrder:Orders limit exceeded", "Rejected", "Rejected")]
    #[case("EQuery:Unknown asset pair", "Rejected", "Rejected")]
    #[case("EGeneral:Invalid arguments:volume", "Rejected", "Rejected")]
    fn every_kraken_error_has_its_answer(
        #[case] error: &str,
        #[case] as_read: &str,
        #[case] as_mutation: &str,
    ) {
        let (read, _) = of(RequestKind::Read, 200, error);
        let (mutation, _) = of(RequestKind::Mutation, 200, error);
        assert_eq!(
            (kind_of(&read), kind_of(&mutation)),
            (as_read, as_mutation),
            "{error}"
        );
        // Kraken's own text is kept for people to read.
        let shown = format!("{read} {mutation}");
        if !matches!(kind_of(&read), "RateLimited" | "Banned") {
            assert!(shown.contains(error), "{shown}");
        }
    }

    #[rstest]
    #[case(500, "Retryable", "StatusUnknown")]
    #[case(502, "Retryable", "StatusUnknown")]
    #[case(520, "Retryable", "StatusUnknown")]
    #[case(429, "RateLimited", "RateLimited")]
    #[case(403, "Rejected", "Rejected")]
    fn an_answer_without_krakens_errors_goes_by_its_status(
        #[case] status: u16,
        #[case] as_read: &str,
        #[case] as_mutation: &str,
    ) {
        let (read, _) = of(RequestKind::Read, status, "");
        let (mutation, _) = of(RequestKind::Mutation, status, "");
        assert_eq!((kind_of(&read), kind_of(&mutation)), (as_read, as_mutation));
    }

    #[test]
    fn limits_hold_back_what_they_limit_for_as_long_as_the_counter_takes() {
        let (calls, orders) = KrakenTier::Starter.recovery();
        assert_eq!(
            of(RequestKind::Read, 200, "EAPI:Rate limit exceeded"),
            (
                ExchangeError::RateLimited {
                    retry_after_ms: millis(calls)
                },
                Hold::Calls(calls)
            )
        );
        assert_eq!(
            of(RequestKind::Mutation, 200, "EOrder:Rate limit exceeded"),
            (
                ExchangeError::RateLimited {
                    retry_after_ms: millis(orders)
                },
                Hold::Orders(orders)
            )
        );
        assert_eq!(
            of(RequestKind::Read, 200, "EGeneral:Temporary lockout"),
            (
                ExchangeError::Banned {
                    retry_after_ms: 900_000
                },
                Hold::Everything(LOCKOUT)
            )
        );
        // Throttled until a time: held until then.
        let until = format!("EService:Throttled:{}", NOW / 1000 + 7);
        assert_eq!(
            of(RequestKind::Read, 200, &until).1,
            Hold::Calls(Duration::from_secs(7))
        );
        assert_eq!(
            of(RequestKind::Read, 200, "EService:Throttled:soon").1,
            Hold::Calls(DEFAULT_RETRY_AFTER)
        );
    }
}
