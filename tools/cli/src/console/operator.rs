//! Who is at the console, and when: the `by` and `at_ms` of a halt or a pause ([`Stop`]), and
//! times as a person reads them.
//!
//! The identity is the caller's AWS principal from STS `GetCallerIdentity` (its ARN names the
//! account and the user or role session): the same credentials that make the change, so the
//! record cannot name someone else. aws-config already compiles the STS client for its
//! credential chain, so asking costs no build. When STS cannot be reached the console still
//! acts, and says so in the record: `$USER@host (no AWS identity: …)`; it waits at most three
//! seconds for STS, so a halt is never held up by it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use driftline_core::control::Stop;
use driftline_core::EpochMillis;

/// Milliseconds since the epoch on this machine's clock.
pub fn now_ms() -> EpochMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-12-02 05:40:01 UTC`.
pub fn time(ms: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// How long the identity may take: a halt must not wait on STS's retries.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(3);

/// The caller's AWS identity (an ARN), or the local user and host when STS cannot say in time.
pub async fn identity(sdk: &aws_config::SdkConfig) -> String {
    let sts = aws_sdk_sts::Client::new(sdk);
    match tokio::time::timeout(IDENTITY_TIMEOUT, sts.get_caller_identity().send()).await {
        Ok(Ok(who)) => match who.arn() {
            Some(arn) => arn.to_owned(),
            None => local_user("STS named no ARN".to_owned()),
        },
        Ok(Err(e)) => local_user(aws_sdk_sts::error::DisplayErrorContext(&e).to_string()),
        Err(_) => local_user(format!(
            "STS did not answer within {} s",
            IDENTITY_TIMEOUT.as_secs()
        )),
    }
}

fn local_user(why: String) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{user}@{host} (no AWS identity: {why})")
}

/// A stop made now by the console's caller.
pub async fn stop(sdk: &aws_config::SdkConfig, reason: &str) -> Stop {
    Stop {
        reason: reason.to_owned(),
        by: identity(sdk).await,
        at_ms: now_ms(),
    }
}

/// `since 2026-12-02 05:40:01 UTC by arn:…: reason`.
pub fn describe(stop: &Stop) -> String {
    format!("since {} by {}: {}", time(stop.at_ms), stop.by, stop.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(time(1_800_000_000_000), "2027-01-15 08:00:00 UTC");
    }

    #[test]
    fn a_stop_reads_when_who_and_why() {
        let s = Stop {
            reason: "exchange maintenance".into(),
            by: "arn:aws:iam::1:user/ops".into(),
            at_ms: 1_800_000_000_000,
        };
        assert_eq!(
            describe(&s),
            "since 2027-01-15 08:00:00 UTC by arn:aws:iam::1:user/ops: exchange maintenance"
        );
    }
}
