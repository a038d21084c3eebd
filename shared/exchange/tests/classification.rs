//! The error taxonomy as a case table: what each answer means for the caller, and for the
//! circuit breaker.

use std::time::Duration;

use driftline_core::ports::ExchangeError;
use driftline_core::VenueHealth;
use driftline_exchange::{classify_api_error, ApiErrorBody, RequestKind};
use rstest::rstest;

/// What an error asks the caller to do, without its message.
fn action(e: &ExchangeError) -> &'static str {
    match e {
        ExchangeError::Retryable { .. } => "retry",
        ExchangeError::StatusUnknown { .. } => "look up",
        ExchangeError::Rejected { .. } => "rejected",
        ExchangeError::Duplicate { .. } => "duplicate",
        ExchangeError::NotFound { .. } => "not found",
        ExchangeError::Auth { .. } => "auth",
        ExchangeError::RateLimited { .. } => "rate limited",
        ExchangeError::Banned { .. } => "banned",
        ExchangeError::Malformed { .. } => "malformed",
        ExchangeError::BreakerOpen { .. } => "breaker open",
    }
}

use RequestKind::{Mutation, Read};

#[rstest]
// Rate limits and bans, whatever the request.
#[case(Read, 429, Some(-1003), "Too many requests.", "rate limited")]
#[case(Mutation, 429, Some(-1003), "Too many requests.", "rate limited")]
#[case(Mutation, 400, Some(-1015), "Too many new orders.", "rate limited")]
#[case(Read, 418, Some(-1003), "Way too many requests; IP banned.", "banned")]
#[case(Mutation, 418, None, "", "banned")]
// 5xx and backend timeouts: a placement or cancel may have happened; a read may be resent.
#[case(Mutation, 500, None, "", "look up")]
#[case(Mutation, 503, Some(-1008), "Server is currently overloaded.", "look up")]
#[case(Mutation, 504, None, "", "look up")]
#[case(Read, 502, None, "", "retry")]
#[case(Mutation, 400, Some(-1007), "Timeout waiting for response from backend server.", "look up")]
#[case(Read, 400, Some(-1007), "Timeout waiting for response from backend server.", "retry")]
#[case(Mutation, 400, Some(-1006), "An unexpected response was received.", "look up")]
#[case(Read, 400, Some(-1008), "Server is currently overloaded.", "retry")]
#[case(Mutation, 400, Some(-1021), "Timestamp for this request is outside of the recvWindow.", "retry")]
// Rejections: never retried.
#[case(Mutation, 400, Some(-2010), "Account has insufficient balance for requested action.", "rejected")]
#[case(Mutation, 400, Some(-1013), "Filter failure: LOT_SIZE", "rejected")]
#[case(Mutation, 400, Some(-1121), "Invalid symbol.", "rejected")]
#[case(Mutation, 400, Some(-2010), "Order would immediately match and take.", "rejected")]
#[case(Mutation, 400, Some(-1102), "Mandatory parameter 'price' was not sent.", "rejected")]
#[case(Mutation, 404, None, "", "rejected")]
// Duplicate client order id.
#[case(Mutation, 400, Some(-2010), "Duplicate order sent.", "duplicate")]
// No such order.
#[case(Read, 400, Some(-2013), "Order does not exist.", "not found")]
#[case(Mutation, 400, Some(-2011), "Unknown order sent.", "not found")]
#[case(Mutation, 400, Some(-2011), "Order was not canceled due to cancel restrictions.", "rejected")]
// Keys and permissions.
#[case(Read, 400, Some(-1022), "Signature for this request is not valid.", "auth")]
#[case(Read, 401, Some(-2014), "API-key format invalid.", "auth")]
#[case(Mutation, 401, Some(-2015), "Invalid API-key, IP, or permissions for action.", "auth")]
#[case(Read, 401, None, "", "auth")]
fn every_answer_maps_to_one_action(
    #[case] kind: RequestKind,
    #[case] status: u16,
    #[case] code: Option<i64>,
    #[case] msg: &str,
    #[case] expected: &str,
) {
    let body = code.map(|code| ApiErrorBody {
        code,
        msg: msg.to_owned(),
    });
    let e = classify_api_error(kind, status, body.as_ref(), None);
    assert_eq!(
        action(&e),
        expected,
        "{kind:?} {status} {code:?} {msg:?}: {e}"
    );
    // The venue's code is kept for people to read, in no field of its own.
    if let (Some(code), "rejected" | "not found" | "auth") = (code, expected) {
        assert!(e.to_string().contains(&code.to_string()), "{e}");
    }
}

#[test]
fn retry_after_is_carried_into_rate_limited_and_banned() {
    let after = Some(Duration::from_secs(7));
    assert_eq!(
        classify_api_error(Read, 429, None, after),
        ExchangeError::RateLimited {
            retry_after_ms: 7_000
        }
    );
    assert_eq!(
        classify_api_error(Read, 418, None, after),
        ExchangeError::Banned {
            retry_after_ms: 7_000
        }
    );
    // A ban that does not say lasts at least the documented two minutes.
    assert_eq!(
        classify_api_error(Read, 418, None, None),
        ExchangeError::Banned {
            retry_after_ms: 120_000
        }
    );
}

/// What each classified answer tells core's one breaker rule (`VenueHealth`): a definite
/// answer, a duplicate id included, shows the venue working.
#[rstest]
#[case(ExchangeError::StatusUnknown { reason: "timed out".into() }, VenueHealth::Trouble)]
#[case(ExchangeError::Retryable { reason: "HTTP 502".into() }, VenueHealth::Trouble)]
#[case(ExchangeError::Malformed { reason: "body".into() }, VenueHealth::Trouble)]
#[case(ExchangeError::Rejected { message: "Filter failure".into() }, VenueHealth::Answered)]
#[case(ExchangeError::Duplicate { message: "Duplicate order sent.".into() }, VenueHealth::Answered)]
#[case(ExchangeError::NotFound { message: "Order does not exist.".into() }, VenueHealth::Answered)]
#[case(ExchangeError::Auth { message: "Invalid API-key".into() }, VenueHealth::Answered)]
#[case(ExchangeError::RateLimited { retry_after_ms: 1 }, VenueHealth::Stop { until_ms: 1_001 })]
#[case(ExchangeError::Banned { retry_after_ms: 8_000 }, VenueHealth::Stop { until_ms: 9_000 })]
fn what_each_error_tells_the_breaker(#[case] e: ExchangeError, #[case] health: VenueHealth) {
    assert_eq!(VenueHealth::of::<()>(&Err(e.clone()), 1_000), health, "{e}");
}
