//! A cold start that fails is reported to the Lambda Runtime API's init error path, naming the
//! variable and its value: the functions' `init` module against the local Runtime API of
//! tools/lambda-local, in-process (the release binaries are tested in its smoke test).

use driftline_functions::config::Env;
use driftline_functions::init::{self, InitError, ReportError};
use driftline_lambda_local::runtime_api::RuntimeApi;
use rstest::rstest;
use serde_json::Value;

/// A complete environment for both functions; each case spoils one variable.
fn env(changes: &[(&str, Option<&str>)]) -> Env {
    let base = [
        ("DRIFTLINE_TABLE_NAME", "driftline"),
        (
            "DRIFTLINE_INTENTS_QUEUE_URL",
            "http://127.0.0.1:1/000000000000/intents",
        ),
        ("DRIFTLINE_EXCHANGE_BASE_URL", "http://127.0.0.1:1"),
        (
            "DRIFTLINE_EXCHANGE_SECRET_ID",
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:driftline/exchange",
        ),
        ("DRIFTLINE_SCHEDULE_PERIOD_SECONDS", "300"),
    ];
    driftline_lambda_local::environment(&base, changes)
        .into_iter()
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Function {
    Scheduler,
    Executor,
}

async fn start(function: Function, env: &Env) -> Result<(), InitError> {
    match function {
        Function::Scheduler => init::scheduler(env).await.map(|_| ()),
        Function::Executor => init::executor(env).await.map(|_| ()),
    }
}

#[rstest]
#[case::missing_table(
    Function::Scheduler,
    "DRIFTLINE_TABLE_NAME",
    None,
    "Driftline.ConfigError"
)]
#[case::missing_secret_id(
    Function::Executor,
    "DRIFTLINE_EXCHANGE_SECRET_ID",
    None,
    "Driftline.ConfigError"
)]
#[case::queue_url_not_a_url(
    Function::Executor,
    "DRIFTLINE_INTENTS_QUEUE_URL",
    Some("intents"),
    "Driftline.ConfigError"
)]
#[case::period_out_of_range(
    Function::Scheduler,
    "DRIFTLINE_SCHEDULE_PERIOD_SECONDS",
    Some("5"),
    "Driftline.ConfigError"
)]
#[case::follow_up_delay_out_of_range(
    Function::Executor,
    "DRIFTLINE_FOLLOW_UP_DELAY_SECONDS",
    Some("901"),
    "Driftline.ConfigError"
)]
#[case::base_url_with_a_path(
    Function::Scheduler,
    "DRIFTLINE_EXCHANGE_BASE_URL",
    Some("https://api.binance.com/api/v3"),
    "Driftline.WiringError"
)]
#[tokio::test]
async fn a_failed_cold_start_is_reported_as_an_init_error_naming_the_variable_and_value(
    #[case] function: Function,
    #[case] variable: &str,
    #[case] value: Option<&str>,
    #[case] error_type: &str,
) {
    let error = start(function, &env(&[(variable, value)]))
        .await
        .expect_err("the cold start fails");
    let api = RuntimeApi::start("init-test").await.unwrap();

    init::report(&api.address(), &error.diagnostic())
        .await
        .unwrap_or_else(|e| panic!("reported: {e}"));

    let report = api.init_error_report().expect("an init error was posted");
    assert_eq!(report.error_type.as_deref(), Some(error_type));
    let body: Value = serde_json::from_str(&report.body).unwrap();
    assert_eq!(body["errorType"], error_type, "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(variable), "{message}");
    if let Some(value) = value {
        assert!(message.contains(&format!("{value:?}")), "{message}");
    }
}

#[tokio::test]
async fn a_complete_environment_starts() {
    start(Function::Scheduler, &env(&[])).await.unwrap();
    start(Function::Executor, &env(&[])).await.unwrap();
}

#[tokio::test]
async fn a_runtime_api_that_cannot_be_used_is_an_error_not_a_panic() {
    let error = start(Function::Scheduler, &env(&[("DRIFTLINE_TABLE_NAME", None)]))
        .await
        .unwrap_err();
    let bad = init::report("127.0.0.1:9/path", &error.diagnostic()).await;
    assert!(matches!(bad, Err(ReportError::Address { .. })), "{bad:?}");
    // A port nothing listens on any more.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let unreachable = init::report(&address, &error.diagnostic()).await;
    assert!(
        matches!(unreachable, Err(ReportError::Unreachable(_))),
        "{unreachable:?}"
    );
}
