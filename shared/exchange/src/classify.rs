//! Every way a request can fail, mapped to what the caller must do about it.

use std::time::Duration;

use driftline_core::ports::ExchangeError;
use serde::Deserialize;

use crate::decode::WireError;

/// Whether a request can change state on the exchange. A mutation (place, cancel) whose
/// outcome is unknown must be looked up, never resent; a read can simply be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Read,
    Mutation,
}

/// The exchange's error body: `{"code": -1121, "msg": "Invalid symbol."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorBody {
    pub code: i64,
    pub msg: String,
}

/// The documented message of -2010 when an open order already has the client order id.
const DUPLICATE_ORDER_MSG: &str = "Duplicate order sent.";
/// How long a 418 ban lasts at least, when the answer does not say.
const MIN_BAN: Duration = Duration::from_secs(120);
/// How long to hold off after a 429 that does not say.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A failure nobody can tell the outcome of: unknown for a mutation, retryable for a read.
pub(crate) fn unknown_outcome(kind: RequestKind, reason: String) -> ExchangeError {
    match kind {
        RequestKind::Read => ExchangeError::Retryable { reason },
        RequestKind::Mutation => ExchangeError::StatusUnknown { reason },
    }
}

/// An answer this client cannot read. After a mutation it may still have taken effect.
pub(crate) fn unreadable(kind: RequestKind, e: &WireError) -> ExchangeError {
    match kind {
        RequestKind::Read => ExchangeError::Malformed {
            reason: e.to_string(),
        },
        RequestKind::Mutation => unknown_outcome(kind, format!("unreadable answer: {e}")),
    }
}

/// Classifies an answer that is not a success, from its HTTP status and, where the body could be
/// read, the exchange's error code.
///
/// `retry_after` is the answer's `Retry-After`. The venue's code is kept in the message
/// (`-2010: Account has insufficient balance…`). The mapping is the table in `docs/EXCHANGE.md`.
pub fn classify_api_error(
    kind: RequestKind,
    status: u16,
    body: Option<&ApiErrorBody>,
    retry_after: Option<Duration>,
) -> ExchangeError {
    let code = body.map(|b| b.code);
    let message = body.map_or_else(|| format!("HTTP {status}"), |b| b.msg.clone());
    if status == 418 {
        return ExchangeError::Banned {
            retry_after_ms: crate::limiter::millis(retry_after.unwrap_or(MIN_BAN)),
        };
    }
    if status == 429 || matches!(code, Some(-1003 | -1015)) {
        return ExchangeError::RateLimited {
            retry_after_ms: crate::limiter::millis(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
        };
    }
    if status >= 500 {
        // "The execution status is UNKNOWN and could have been a success."
        return unknown_outcome(kind, format!("HTTP {status}: {message}"));
    }
    let Some(code) = code else {
        return match status {
            401 => ExchangeError::Auth {
                message: format!("HTTP {status}"),
            },
            _ => ExchangeError::Rejected { message },
        };
    };
    match code {
        // Internal error, unexpected bus answer, backend timeout: the request may have run.
        -1000 | -1001 | -1006 | -1007 => unknown_outcome(kind, format!("{code}: {message}")),
        // Refused before processing: overloaded, or our clock outside recvWindow.
        -1008 | -1021 => ExchangeError::Retryable {
            reason: format!("{code}: {message}"),
        },
        -1002 | -1022 | -2014 | -2015 => ExchangeError::Auth {
            message: format!("{code}: {message}"),
        },
        -2010 if message == DUPLICATE_ORDER_MSG => ExchangeError::Duplicate { message },
        -2013 => ExchangeError::NotFound {
            message: format!("{code}: {message}"),
        },
        // -2011 is every refused cancel; only "Unknown order sent." means there is no order.
        -2011 if message.starts_with("Unknown order") => ExchangeError::NotFound {
            message: format!("{code}: {message}"),
        },
        _ => ExchangeError::Rejected {
            message: format!("{code}: {message}"),
        },
    }
}

/// Classifies a request that got no complete answer.
pub(crate) fn classify_transport(kind: RequestKind, err: &reqwest::Error) -> ExchangeError {
    if err.is_builder() {
        // Never sent: a header or URL that cannot be built (such as a key with a newline in it).
        return ExchangeError::Rejected {
            message: "request could not be built: check the API key and base URL".to_owned(),
        };
    }
    // The error's Display carries the URL, which carries the signature: describe it instead.
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "answer cut off"
    } else {
        "transport failed"
    };
    if err.is_connect() {
        // Nothing reached the exchange.
        return ExchangeError::Retryable {
            reason: what.to_owned(),
        };
    }
    unknown_outcome(kind, what.to_owned())
}
