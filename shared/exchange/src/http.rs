//! The HTTP plumbing every adapter shares: the base URL checked once, the reqwest client with
//! its timeouts, and the loop that resends what is safe to resend.

use std::future::Future;
use std::time::Duration;

use backon::Retryable;
use driftline_core::ports::ExchangeError;

use crate::classify::RequestKind;
use crate::client::ConfigError;
use crate::config::RetryPolicy;

/// `base_url` without a trailing slash, if it is `http(s)://host[:port]` with no path.
///
/// # Errors
/// [`ConfigError::BaseUrl`] otherwise.
pub(crate) fn base_url(value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim_end_matches('/').to_owned();
    let valid = reqwest::Url::parse(&trimmed)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && u.path() == "/");
    if valid {
        Ok(trimmed)
    } else {
        Err(ConfigError::BaseUrl {
            value: value.to_owned(),
        })
    }
}

/// A client whose whole-request and connect timeouts are the given ones.
///
/// # Errors
/// [`ConfigError::HttpClient`] when the TLS backend cannot be set up.
pub(crate) fn client(
    request_timeout: Duration,
    connect_timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| ConfigError::HttpClient {
            reason: e.to_string(),
        })
}

/// Runs `attempt` until it succeeds or fails in a way that is not safe to repeat, sleeping the
/// policy's jittered delays in between. Repeated: anything `Retryable` (nothing took effect),
/// and for a read also a rate limit the limiter waited out. Never a `StatusUnknown`.
pub(crate) async fn retrying<T, F, Fut>(
    policy: &RetryPolicy,
    kind: RequestKind,
    attempt: F,
) -> Result<T, ExchangeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ExchangeError>>,
{
    attempt
        .retry(policy.delays())
        .sleep(tokio::time::sleep)
        .when(|e| match e {
            ExchangeError::Retryable { .. } => true,
            ExchangeError::RateLimited { .. } => kind == RequestKind::Read,
            _ => false,
        })
        .await
}
