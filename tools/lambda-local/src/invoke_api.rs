//! Lambda's `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`) on a loopback port,
//! in front of the local functions: the payload goes to the function's Runtime API, and its
//! answer comes back as Lambda gives it. A real SDK client pointed here (`endpoint_url`, or
//! `AWS_ENDPOINT_URL_LAMBDA` beside an `AWS_ENDPOINT_URL` for the other services) reaches the
//! real bootstrap binary: how `driftline run-now` is tested.
//!
//! As Lambda answers a request-response invoke: 200 with the handler's response; 200 with
//! `X-Amz-Function-Error: Unhandled` and the error document when the handler failed, the
//! process died or the deadline passed; 404 `ResourceNotFoundException` for a function this
//! front does not serve. `Event` invocations are queued and answered 202; `DryRun` 204.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::runtime_api::{Reply, Submitter};

/// Invokes one function through its Runtime API, with the function's timeout.
#[derive(Clone)]
pub struct Invoker {
    submitter: Submitter,
    timeout: Duration,
}

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Bytes),
    /// Lambda's error document: the handler's, or one saying why there was none.
    FunctionError(Bytes),
}

impl Invoker {
    pub fn new(submitter: Submitter, timeout: Duration) -> Self {
        Self { submitter, timeout }
    }

    /// Queues `payload` and waits for the handler's answer (a little past the deadline the
    /// function is told, as Lambda does).
    pub async fn invoke(&self, payload: Bytes) -> Answer {
        let Some((_, reply)) = self.submitter.submit(payload, self.timeout).await else {
            return error_document("Runtime.Unavailable", "the function's runtime has stopped");
        };
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), reply).await {
            Ok(Ok(Reply::Response(body))) => Answer::Response(body),
            Ok(Ok(Reply::Error(body))) => Answer::FunctionError(body),
            Ok(Err(_)) => error_document("Runtime.ExitError", "the function's runtime has stopped"),
            Err(_) => error_document(
                "Sandbox.Timedout",
                &format!("Task timed out after {} seconds", self.timeout.as_secs()),
            ),
        }
    }

    /// Queues `payload` without waiting (an `Event` invocation).
    async fn enqueue(&self, payload: Bytes) -> bool {
        self.submitter.submit(payload, self.timeout).await.is_some()
    }
}

fn error_document(kind: &str, message: &str) -> Answer {
    Answer::FunctionError(Bytes::from(
        serde_json::json!({"errorType": kind, "errorMessage": message}).to_string(),
    ))
}

struct FrontState {
    functions: HashMap<String, Invoker>,
}

/// The Invoke API on `127.0.0.1:<ephemeral>` for a set of functions, by name.
pub struct InvokeApi {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl InvokeApi {
    /// Binds a free loopback port and serves `functions`.
    ///
    /// # Errors
    /// The I/O error when no port can be bound.
    pub async fn start(
        functions: impl IntoIterator<Item = (String, Invoker)>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(FrontState {
            functions: functions.into_iter().collect(),
        });
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, server })
    }

    /// `http://127.0.0.1:<port>`: the value of `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for InvokeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The function a path names: a name, or an ARN (`arn:aws:lambda:…:function:NAME[:QUALIFIER]`),
/// or `NAME:QUALIFIER`.
fn function_name(named: &str) -> &str {
    let name = match named.strip_prefix("arn:") {
        Some(_) => named.split(':').nth(6).unwrap_or(named),
        None => named,
    };
    name.split(':').next().unwrap_or(name)
}

async fn invoke(
    State(state): State<Arc<FrontState>>,
    Path(named): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(function) = state.functions.get(function_name(&named)) else {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let message = serde_json::json!({
            "Type": "User",
            "message": format!("Function not found: {named}"),
        });
        return (StatusCode::NOT_FOUND, h, message.to_string()).into_response();
    };
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    match kind {
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            return if function.enqueue(body).await {
                StatusCode::ACCEPTED.into_response()
            } else {
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
        _ => {}
    }
    let mut h = HeaderMap::new();
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    match function.invoke(body).await {
        Answer::Response(b) => (StatusCode::OK, h, b).into_response(),
        Answer::FunctionError(b) => {
            h.insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            (StatusCode::OK, h, b).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_api::RuntimeApi;
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_lambda::primitives::Blob;

    #[test]
    fn an_arn_or_a_qualified_name_names_the_function() {
        assert_eq!(function_name("scheduler"), "scheduler");
        assert_eq!(function_name("scheduler:live"), "scheduler");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:scheduler:7"),
            "scheduler"
        );
    }

    /// Plays a bootstrap: takes invocations from the Runtime API and answers each by `answer`.
    fn fake_bootstrap(api: &RuntimeApi, answer: fn(&[u8]) -> (&'static str, Vec<u8>)) {
        let base = format!("http://{}/2018-06-01/runtime/invocation", api.address());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok(r) = http.get(format!("{base}/next")).send().await {
                let Some(id) = r
                    .headers()
                    .get("lambda-runtime-aws-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                else {
                    return;
                };
                let event = r.bytes().await.unwrap_or_default();
                let (path, body) = answer(&event);
                let _ = http
                    .post(format!("{base}/{id}/{path}"))
                    .body(body)
                    .send()
                    .await;
            }
        });
    }

    fn client(endpoint: &str) -> aws_sdk_lambda::Client {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(endpoint)
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sdk_reaches_the_function_and_reads_its_answer_or_its_error() {
        let echo = RuntimeApi::start("echo").await.unwrap();
        fake_bootstrap(&echo, |event| ("response", event.to_vec()));
        let failing = RuntimeApi::start("failing").await.unwrap();
        fake_bootstrap(&failing, |_| {
            (
                "error",
                br#"{"errorType":"Driftline.Failed","errorMessage":"no portfolios"}"#.to_vec(),
            )
        });
        let timeout = Duration::from_secs(5);
        let front = InvokeApi::start([
            ("echo".to_owned(), Invoker::new(echo.submitter(), timeout)),
            (
                "failing".to_owned(),
                Invoker::new(failing.submitter(), timeout),
            ),
        ])
        .await
        .unwrap();
        let lambda = client(&front.endpoint());

        let out = lambda
            .invoke()
            .function_name("arn:aws:lambda:us-east-1:000000000000:function:echo")
            .payload(Blob::new(r#"{"detail":{"portfolios":["article"]}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(out.status_code(), 200);
        assert_eq!(out.function_error(), None);
        assert_eq!(
            out.payload().map(|b| b.as_ref().to_vec()),
            Some(br#"{"detail":{"portfolios":["article"]}}"#.to_vec())
        );

        let out = lambda
            .invoke()
            .function_name("failing")
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap();
        assert_eq!(out.function_error(), Some("Unhandled"));
        let body = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
        assert!(body.contains("no portfolios"), "{body}");

        let err = lambda
            .invoke()
            .function_name("nowhere")
            .send()
            .await
            .unwrap_err();
        let service = err.into_service_error();
        assert!(service.is_resource_not_found_exception(), "{service:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_function_that_never_answers_times_out_as_lambda_says_it() {
        // A runtime API nobody takes invocations from: the process is gone.
        let silent = RuntimeApi::start("silent").await.unwrap();
        let invoker = Invoker::new(silent.submitter(), Duration::from_millis(100));
        match invoker.invoke(Bytes::from_static(b"{}")).await {
            Answer::FunctionError(body) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                assert!(text.contains("Sandbox.Timedout"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
