//! What every venue's client does the same way over HTTP: check its base URL and build its
//! reqwest client with the configured timeouts ([`Transport`]), read a `Retry-After`, and
//! resend what is safe to resend (anything `Retryable`; for reads also a rate limit the limiter
//! has waited out) with the retry policy's backoff and jitter.

use std::future::Future;
use std::time::Duration;

use backon::Retryable;
use driftline_core::ports::ExchangeError;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::classify::RequestKind;
use crate::client::ConfigError;
use crate::config::{ClientConfig, RetryPolicy};

/// Where a client sends its requests and with what: the venue's base URL, checked, and a
/// reqwest client with the configured timeouts.
pub(crate) struct Transport {
    /// Without a trailing slash: paths are appended to it.
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
}

impl Transport {
    /// # Errors
    /// [`ConfigError::BaseUrl`] naming the value unless it is `http(s)://host[:port]` with no
    /// path; [`ConfigError::HttpClient`] when reqwest cannot build its client (no TLS backend,
    /// say).
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        let base_url = base_url(&config.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| ConfigError::HttpClient {
                reason: e.to_string(),
            })?;
        Ok(Self { base_url, http })
    }
}

/// `base_url` without a trailing slash, if it is `http(s)://host[:port]` with no path.
fn base_url(value: &str) -> Result<String, ConfigError> {
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

/// An answer's `Retry-After`, in whole seconds as the venues send it.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Runs `attempt` until it succeeds or fails in a way that is not safe to repeat, waiting the
/// policy's delays in between: `Retryable` always (nothing took effect), `RateLimited` only for
/// a read (the limiter has waited; a placement or cancel goes back to its caller).
pub(crate) async fn with_retries<T, F, Fut>(
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
