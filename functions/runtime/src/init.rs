//! A function's cold start: configuration from the environment, then the adapters. When either
//! fails, the error is logged, posted to the Lambda Runtime API's init error path
//! (`POST http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error`, header
//! `Lambda-Runtime-Function-Error-Type`, body `{"errorMessage", "errorType"}`), and the process
//! exits non-zero. Lambda then records an init failure with that type and message, rather than a
//! runtime that exited without a reason, again on every invocation.
//!
//! `lambda_runtime` 1.5 posts init errors only for its own SnapStart hooks (its request type is
//! private), so the request is built here and sent with its Runtime API client. Messages name the
//! variable and its value; the configuration holds no secret (only the secret's id).

use std::fmt::Display;
use std::str::FromStr;

use lambda_runtime::Diagnostic;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, PooledClient};
use thiserror::Error;

use crate::config::{EnvError, ExecutorConfig, SchedulerConfig};
use crate::wiring::{self, Adapters, WiringError};

/// Where Lambda tells a runtime its Runtime API is (`host:port`).
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";
/// The Runtime API's path for errors before the first invocation.
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Why a function could not start.
#[derive(Debug, Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] EnvError),
    /// Only the exchange base URL reaches the adapters' settings from the environment, so a
    /// wiring failure names it.
    #[error("wiring with DRIFTLINE_EXCHANGE_BASE_URL={base_url:?}: {source}")]
    Wiring {
        base_url: String,
        source: WiringError,
    },
}

impl InitError {
    /// The `errorType` Lambda records: `<category>.<reason>`, as its documentation recommends.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Config(_) => "Driftline.ConfigError",
            Self::Wiring { .. } => "Driftline.WiringError",
        }
    }

    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: self.error_type().to_owned(),
            error_message: self.to_string(),
        }
    }
}

/// Why an init error could not be reported (it is still logged, and the process still exits).
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{RUNTIME_API_VAR}={value:?} is not a host:port: {reason}")]
    Address { value: String, reason: String },
    #[error("the init error request could not be built: {0}")]
    Request(String),
    #[error("the Runtime API could not be reached: {0}")]
    Unreachable(String),
    #[error("the Runtime API answered {0}")]
    Status(u16),
}

/// The scheduler's configuration and adapters.
///
/// # Errors
/// [`InitError`] naming the variable and value that stop it.
pub async fn scheduler(env: &crate::config::Env) -> Result<(SchedulerConfig, Adapters), InitError> {
    let config = SchedulerConfig::from_env(env)?;
    let adapters = adapters(
        &config.common,
        Default::default(),
        None,
        config.shard_queue_url.clone(),
    )
    .await?;
    Ok((config, adapters))
}

/// The executor's configuration and adapters.
///
/// # Errors
/// [`InitError`] naming the variable and value that stop it.
pub async fn executor(env: &crate::config::Env) -> Result<(ExecutorConfig, Adapters), InitError> {
    let config = ExecutorConfig::from_env(env)?;
    let adapters = adapters(
        &config.common,
        config.backoff(),
        config.dead_letter_queue_url.clone(),
        None,
    )
    .await?;
    Ok((config, adapters))
}

async fn adapters(
    common: &crate::config::CommonConfig,
    backoff: driftline_core::ports::RetryBackoff,
    dead_letter_queue_url: Option<String>,
    shard_queue_url: Option<String>,
) -> Result<Adapters, InitError> {
    wiring::adapters(common, backoff, dead_letter_queue_url, shard_queue_url)
        .await
        .map_err(|source| InitError::Wiring {
            base_url: common.exchange_base_url.clone(),
            source,
        })
}

/// What started, or, on an init error: logs it, reports it to the Runtime API named by
/// `AWS_LAMBDA_RUNTIME_API` (when set: outside Lambda there is none), and exits with status 1.
pub async fn or_exit<T>(started: Result<T, InitError>) -> T {
    let error = match started {
        Ok(value) => return value,
        Err(e) => e,
    };
    tracing::error!(error_type = error.error_type(), error = %error, "cold start failed");
    match std::env::var(RUNTIME_API_VAR) {
        Ok(api) => {
            if let Err(e) = report(&api, &error.diagnostic()).await {
                tracing::error!(error = %e, "the init error could not be reported to Lambda");
            }
        }
        Err(_) => {
            tracing::warn!(
                "{RUNTIME_API_VAR} is not set (not under Lambda): init error not reported"
            );
        }
    }
    std::process::exit(1)
}

/// Posts `diagnostic` to the init error path of the Runtime API at `runtime_api` (`host:port`).
///
/// # Errors
/// [`ReportError`] when the address is unusable, the API cannot be reached, or it answers
/// anything but a success (Lambda answers 202).
pub async fn report(runtime_api: &str, diagnostic: &Diagnostic) -> Result<(), ReportError> {
    let client = PooledClient::builder()
        .with_endpoint(endpoint(runtime_api)?)
        .build();
    let body = serde_json::to_vec(diagnostic).map_err(|e| ReportError::Request(e.to_string()))?;
    let request = build_request()
        .method("POST")
        .uri(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", &diagnostic.error_type)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .map_err(|e| ReportError::Request(e.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|e| ReportError::Unreachable(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(ReportError::Status(status.as_u16()))
    }
}

/// `http://<host:port>` as the client's URI type (inferred: no direct `http` dependency).
fn endpoint<U>(runtime_api: &str) -> Result<U, ReportError>
where
    U: FromStr,
    U::Err: Display,
{
    let value = runtime_api.trim();
    let address = |reason: String| ReportError::Address {
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() || value.contains('/') {
        return Err(address("expected host:port".to_owned()));
    }
    format!("http://{value}")
        .parse()
        .map_err(|e: U::Err| address(e.to_string()))
}
