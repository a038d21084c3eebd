//! The steps every dialect's request goes through before and after its handler, whatever the
//! venue's wire format: weigh and log it through the limiter, refuse it (maintenance, over the
//! limit, banned), inject the configured faults (latency, a server error), and after an order
//! was placed maybe drop the answer. Each dialect writes a [`Refusal`] in its own error shape.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::Method;
use driftline_core::EpochMillis;
use serde_json::json;

use super::{AppState, Venue, REQUEST_LOG_CAPACITY};
use crate::faults::{happens, Faults};
use crate::rate_limit::Verdict;

/// Why the venue did not serve a request, or did not answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Under maintenance (the `maintenance` fault).
    Maintenance,
    /// Over the weight `limit` per minute; try again after `retry_after_s`.
    TooMany { limit: u32, retry_after_s: u64 },
    /// Banned for ignoring the limit until `until_ms`.
    Banned {
        limit: u32,
        until_ms: EpochMillis,
        retry_after_s: u64,
    },
    /// A server error (the `server_error_rate` fault): nothing took effect.
    ServerError,
    /// The order was placed but its answer was dropped (the drop fault): status unknown.
    StatusUnknown,
}

/// A request the gate let through: the weight used in the window so far, and the faults then
/// in force.
pub(super) struct Admitted {
    pub used: u32,
    faults: Faults,
}

/// What the gate needs to know of a request: who sent it, what it is (for the log) and what it
/// weighs, and the API key it carried (for the log's account, never the key itself).
pub(super) struct Arrival<'a> {
    pub peer: SocketAddr,
    pub method: &'a Method,
    pub endpoint: &'a str,
    pub weight: u32,
    pub key: Option<&'a str>,
}

/// Weighs and logs the request, refuses it if it must, then waits out the latency fault and
/// rolls the server-error dice. `Err` carries the refusal and the weight used.
pub(super) async fn admit(
    state: &AppState,
    arrival: &Arrival<'_>,
    now: EpochMillis,
) -> Result<Admitted, (Refusal, u32)> {
    let (verdict, faults) = log(state, arrival, now);
    let limit = state.config.rate_limits.request_weight_per_minute;
    let used = match verdict {
        Verdict::Allowed { used } if faults.maintenance => {
            return Err((Refusal::Maintenance, used))
        }
        Verdict::Allowed { used } => used,
        Verdict::TooMany {
            used,
            retry_after_s,
        } => {
            return Err((
                Refusal::TooMany {
                    limit,
                    retry_after_s,
                },
                used,
            ))
        }
        Verdict::Banned {
            used,
            until_ms,
            retry_after_s,
        } => {
            return Err((
                Refusal::Banned {
                    limit,
                    until_ms,
                    retry_after_s,
                },
                used,
            ))
        }
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let server_error = {
        let mut v = state.venue();
        happens(&mut v.dice, faults.server_error_rate)
    };
    if server_error {
        return Err((Refusal::ServerError, used));
    }
    Ok(Admitted { used, faults })
}

/// Whether the answer of a request that `placed` an order is dropped (the order stands; the
/// caller must hear "status unknown"). Waits the configured delay before saying so.
pub(super) async fn answer_dropped(state: &AppState, admitted: &Admitted, placed: bool) -> bool {
    let dropped = placed && {
        let mut v = state.venue();
        let Venue { faults, dice, .. } = &mut *v;
        faults.take_order_response_drop(dice)
    };
    if dropped && admitted.faults.drop_response_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(
            admitted.faults.drop_response_delay_ms,
        ))
        .await;
    }
    dropped
}

/// The limiter's verdict on the request, with the faults in force; the request is logged with
/// the verdict (never its key: the account the key belongs to).
fn log(state: &AppState, arrival: &Arrival<'_>, now: EpochMillis) -> (Verdict, Faults) {
    let mut v = state.venue();
    let verdict = v.limiter.admit(arrival.peer.ip(), arrival.weight, now);
    // Every request that reached the venue, with what the limiter said: tests check from
    // it that a banned client stays silent until its ban ends.
    if v.requests.len() >= REQUEST_LOG_CAPACITY {
        v.requests.drain(..REQUEST_LOG_CAPACITY / 2);
    }
    let status = match verdict {
        Verdict::Allowed { .. } => 200,
        Verdict::TooMany { .. } => 429,
        Verdict::Banned { .. } => 418,
    };
    let mut entry = json!({"time": now, "method": arrival.method.as_str(), "endpoint": arrival.endpoint,
                           "weight": arrival.weight, "limiter": status});
    // Whose key the request carried (null: a key the venue does not know), never the key
    // itself: tests see from it which keys a client used, e.g. after a rotation.
    if let Some(key) = arrival.key {
        let account = v
            .engine
            .account_for_key(key)
            .map(|(name, _)| name.to_owned());
        entry["account"] = json!(account);
    }
    v.requests.push(entry);
    (verdict, v.faults.clone())
}
