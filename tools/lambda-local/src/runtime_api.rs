//! The part of the Lambda Runtime API a bootstrap binary talks to (`/2018-06-01/runtime/...`:
//! next invocation, response, error, init error), served on a loopback port. One server per
//! function, so which binary answers an invocation is never in doubt.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

/// How an invocation ended, as the bootstrap reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `POST .../response`: the handler's answer.
    Response(Bytes),
    /// `POST .../error`: the handler's error document.
    Error(Bytes),
}

struct Pending {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    reply: oneshot::Sender<Reply>,
}

struct ApiState {
    function_arn: String,
    queue: Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: std::sync::Mutex<Option<InitError>>,
}

/// What a bootstrap posted to `/runtime/init/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
    pub error_type: Option<String>,
    /// The body: `{"errorMessage": ..., "errorType": ...}`.
    pub body: String,
}

/// A Runtime API on `127.0.0.1:<ephemeral>`; the bootstrap gets [`RuntimeApi::address`] as
/// `AWS_LAMBDA_RUNTIME_API`.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<ApiState>,
    sender: mpsc::Sender<Pending>,
    server: JoinHandle<()>,
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

impl RuntimeApi {
    /// Binds a free loopback port and serves.
    ///
    /// # Errors
    /// The I/O error when no port can be bound.
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (sender, receiver) = mpsc::channel(16);
        let state = Arc::new(ApiState {
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
            queue: Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            init_error: std::sync::Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            state,
            sender,
            server,
        })
    }

    /// `127.0.0.1:<port>`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The error the bootstrap reported before taking any invocation, if any (its body).
    pub fn init_error(&self) -> Option<String> {
        self.init_error_report().map(|e| e.body)
    }

    /// The error the bootstrap reported before taking any invocation, with its error type.
    pub fn init_error_report(&self) -> Option<InitError> {
        self.state
            .init_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Queues an invocation for the bootstrap's next `GET .../next`; the receiver yields its
    /// reply. The deadline it sees is `timeout` from now.
    ///
    /// # Errors
    /// `None` when the server has stopped.
    pub async fn submit(
        &self,
        payload: Bytes,
        timeout: Duration,
    ) -> Option<(String, oneshot::Receiver<Reply>)> {
        self.submitter().submit(payload, timeout).await
    }

    /// A handle that queues invocations from elsewhere (the Invoke front,
    /// [`crate::invoke_api`]), for as long as this server runs.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            sender: self.sender.clone(),
        }
    }
}

/// Queues invocations on one [`RuntimeApi`]; cheap to clone.
#[derive(Clone)]
pub struct Submitter {
    sender: mpsc::Sender<Pending>,
}

impl Submitter {
    /// As [`RuntimeApi::submit`].
    ///
    /// # Errors
    /// `None` when the server has stopped.
    pub async fn submit(
        &self,
        payload: Bytes,
        timeout: Duration,
    ) -> Option<(String, oneshot::Receiver<Reply>)> {
        let request_id = format!(
            "local-{}-{}",
            std::process::id(),
            REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let deadline_ms =
            now_ms.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let (tx, rx) = oneshot::channel();
        self.sender
            .send(Pending {
                request_id: request_id.clone(),
                payload,
                deadline_ms,
                reply: tx,
            })
            .await
            .ok()?;
        Some((request_id, rx))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    let pending = state.queue.lock().await.recv().await;
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("invalid"));
    headers.insert("lambda-runtime-aws-request-id", header(&p.request_id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&p.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(&state.function_arn),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    state.in_flight.lock().await.insert(p.request_id, p.reply);
    (StatusCode::OK, headers, p.payload).into_response()
}

async fn finish(state: &ApiState, id: &str, reply: Reply) -> StatusCode {
    match state.in_flight.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(reply);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Reply::Response(body)).await
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Reply::Error(body)).await
}

async fn init_error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *state
        .init_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(InitError {
        error_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::ACCEPTED
}
