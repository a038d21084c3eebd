//! A function's release `bootstrap` binary run as Lambda runs it: a child process with the
//! function's environment and `AWS_LAMBDA_RUNTIME_API` pointing at a loopback [`RuntimeApi`].
//! The process is stopped by its PID when the function is stopped or dropped.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::runtime_api::{Reply, RuntimeApi};

#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("event or response JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The handler returned an error; the body is Lambda's error document.
    #[error("the function returned an error: {0}")]
    Function(String),
    #[error("the function exited ({status}){init}")]
    Exited { status: String, init: String },
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("the runtime API has stopped")]
    Stopped,
}

/// The log lines a function wrote (stdout and stderr, in arrival order).
pub type Logs = Arc<Mutex<Vec<String>>>;

/// A running bootstrap binary.
pub struct LocalFunction {
    name: String,
    api: RuntimeApi,
    child: Child,
    logs: Logs,
    timeout: Duration,
}

/// The variables Lambda itself sets and `lambda_runtime` reads at start.
fn lambda_env(name: &str, api: &RuntimeApi, timeout: Duration) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout.as_secs().to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn collect_lines(stream: impl AsyncRead + Unpin + Send + 'static, logs: Logs) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    });
}

impl LocalFunction {
    /// Starts `bootstrap` with only `env` and Lambda's own variables (nothing inherited), and
    /// `timeout` as every invocation's deadline.
    ///
    /// # Errors
    /// [`InvokeError::Spawn`] when the runtime API cannot bind or the binary cannot start.
    pub async fn start(
        name: &str,
        bootstrap: &Path,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, InvokeError> {
        let spawn_error = |source| InvokeError::Spawn {
            path: bootstrap.to_owned(),
            source,
        };
        let api = RuntimeApi::start(name).await.map_err(spawn_error)?;
        let mut child = Command::new(bootstrap)
            .env_clear()
            .envs(env.iter().cloned())
            .envs(lambda_env(name, &api, timeout))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let logs: Logs = Arc::default();
        if let Some(out) = child.stdout.take() {
            collect_lines(out, logs.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect_lines(err, logs.clone());
        }
        Ok(Self {
            name: name.to_owned(),
            api,
            child,
            logs,
            timeout,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// A handle the Invoke front ([`crate::invoke_api::InvokeApi`]) invokes this function
    /// through, with this function's timeout.
    pub fn invoker(&self) -> crate::invoke_api::Invoker {
        crate::invoke_api::Invoker::new(self.api.submitter(), self.timeout)
    }

    /// What the function has logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Invokes the function with `event` and waits for its answer, its exit, or the timeout.
    ///
    /// # Errors
    /// [`InvokeError`]: the handler's error, the process's exit, no answer in time, or a
    /// response that is not the expected JSON.
    pub async fn invoke<E: Serialize, R: DeserializeOwned>(
        &mut self,
        event: &E,
    ) -> Result<R, InvokeError> {
        let body = self
            .invoke_raw(Bytes::from(serde_json::to_vec(event)?))
            .await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// [`LocalFunction::invoke`] with the event and response as bytes.
    ///
    /// # Errors
    /// As [`LocalFunction::invoke`].
    pub async fn invoke_raw(&mut self, event: Bytes) -> Result<Bytes, InvokeError> {
        let (_, reply) = self
            .api
            .submit(event, self.timeout)
            .await
            .ok_or(InvokeError::Stopped)?;
        // A little longer than the deadline: the handler is told the deadline, not killed at it.
        let limit = self.timeout + Duration::from_secs(5);
        tokio::select! {
            reply = reply => match reply {
                Ok(Reply::Response(body)) => Ok(body),
                Ok(Reply::Error(body)) => Err(InvokeError::Function(String::from_utf8_lossy(&body).into_owned())),
                Err(_) => Err(InvokeError::Stopped),
            },
            status = self.child.wait() => Err(self.exited(status)),
            () = tokio::time::sleep(limit) => Err(InvokeError::Timeout(limit)),
        }
    }

    fn exited(&self, status: std::io::Result<ExitStatus>) -> InvokeError {
        InvokeError::Exited {
            status: status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            init: self
                .api
                .init_error()
                .map(|e| format!("; init error: {e}"))
                .unwrap_or_default(),
        }
    }

    /// What the bootstrap posted to the init error path, if anything.
    pub fn init_error(&self) -> Option<crate::runtime_api::InitError> {
        self.api.init_error_report()
    }

    /// Waits up to `timeout` for the process to exit by itself (as a bootstrap that failed its
    /// cold start does); its exit status, or `None` while it still runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Stops the process (SIGKILL to its PID, as Lambda ends an environment) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
