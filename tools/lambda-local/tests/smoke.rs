//! Smoke test of the release `bootstrap` binaries (`make build`, part of `make test`): the
//! scheduler and the executor run as Lambda runs them, against the local AWS emulator (moto)
//! and the paper exchange, with the runtime contract's environment variables. A scheduled
//! event plans the article portfolio's orders; the SQS event source stand-in feeds the intents
//! queue to the executor until it is drained; the orders must be on the exchange once each,
//! filled, and final in the ledger. And a bootstrap started with a missing or bad variable
//! reports an init error naming it to the Runtime API, and exits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use driftline_aws::{create_queue_with_dlq, create_table, DynamoStore};
use driftline_core::config::PortfolioSpec;
use driftline_core::orders::OrderKey;
use driftline_core::ports::OrderLedger;
use driftline_core::{ClientOrderId, OrderStatus, PortfolioId};
use driftline_lambda_local::{bootstrap_path, LocalFunction, SqsEventSource};
use paper_exchange::{article_market, paper_account, ExchangeConfig, PaperExchange};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn event(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The emulator's endpoint and the two bootstraps, or `None` (loudly) outside `make test`.
/// Under `make test` (`DRIFTLINE_REQUIRE_AWS_EMULATOR`, `DRIFTLINE_REQUIRE_LAMBDA_BINARIES`)
/// a missing emulator or binary fails the test, never skips it.
fn prerequisites() -> Option<(String, PathBuf, PathBuf)> {
    let endpoint = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_some() => {
            panic!("DRIFTLINE_REQUIRE_AWS_EMULATOR is set but AWS_ENDPOINT_URL is not")
        }
        Err(_) => {
            eprintln!("\n*** SKIPPED: AWS_ENDPOINT_URL is not set. Run `make test` ***\n");
            return None;
        }
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "refusing to run against {endpoint}: loopback only"
    );
    let (scheduler, executor) = bootstraps()?;
    Some((endpoint, scheduler, executor))
}

/// The two bootstraps, or `None` (loudly) when they are not built; under `make test`
/// (`DRIFTLINE_REQUIRE_LAMBDA_BINARIES`) a missing binary fails the test.
fn bootstraps() -> Option<(PathBuf, PathBuf)> {
    let root = workspace_root();
    let (scheduler, executor) = (
        bootstrap_path(&root, "scheduler"),
        bootstrap_path(&root, "executor"),
    );
    if !scheduler.is_file() || !executor.is_file() {
        assert!(
            std::env::var_os("DRIFTLINE_REQUIRE_LAMBDA_BINARIES").is_none(),
            "no release bootstraps at {scheduler:?} and {executor:?}: `make test` builds them \
             with `make build` first"
        );
        eprintln!("\n*** SKIPPED: no bootstraps at {scheduler:?}; run `make build` ***\n");
        return None;
    }
    Some((scheduler, executor))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The article's markets and holdings (examples/article) on the paper exchange, in one account,
/// with books half as deep as the sandbox's.
fn exchange_config() -> ExchangeConfig {
    ExchangeConfig::parse(concat!(
        article_market!(seed = 11, btc_depth = "0.25", eth_depth = "4"),
        paper_account!("article", key = "smoke-article-key", secret = "smoke-article-secret",
            balances = { BTC = "1.5", ETH = "25", USDT = "20000" }),
    ))
    .expect("a valid paper exchange config")
}

struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    async fn orders(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/admin/orders", self.base))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("admin orders")
            .json()
            .await
            .expect("admin orders JSON");
        v.as_array().cloned().unwrap_or_default()
    }

    async fn set_mid(&self, symbol: &str, price: Decimal) {
        self.http
            .post(format!("{}/admin/mid", self.base))
            .json(&json!({"symbol": symbol, "price": price.to_string()}))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|e| panic!("set mid of {symbol} to {price}: {e}"));
    }
}

fn field<'a>(order: &'a Value, name: &str) -> &'a str {
    order.get(name).and_then(Value::as_str).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_binaries_plan_place_and_follow_the_article_portfolio_to_filled() {
    let Some((endpoint, scheduler_bin, executor_bin)) = prerequisites() else {
        return;
    };
    let sdk = driftline_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);

    // The environment the CDK app would create.
    let table = unique("driftline-smoke");
    create_table(&dynamodb, &table).await.unwrap();
    let queues = create_queue_with_dlq(&sqs, &unique("intents-smoke"), 5, 30)
        .await
        .unwrap();
    let secret_id = unique("driftline/exchange");
    let venue = exchange_config();
    let (api_key, api_secret) = (
        venue.accounts[0].api_key.clone(),
        venue.accounts[0].secret.clone(),
    );
    secrets
        .create_secret()
        .name(&secret_id)
        .secret_string(json!({"api_key": api_key, "api_secret": api_secret}).to_string())
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(dynamodb.clone(), table.clone());
    let spec: PortfolioSpec = toml::from_str(
        &std::fs::read_to_string(workspace_root().join("examples/article/portfolio.toml")).unwrap(),
    )
    .unwrap();
    store.put_portfolio(&spec).await.unwrap();
    let exchange = PaperExchange::start(venue, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let admin = Admin {
        http: reqwest::Client::new(),
        base: exchange.base_url(),
    };

    let aws_env = |k: &str| std::env::var(k).unwrap_or_default();
    let mut env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_REGION", aws_env("AWS_REGION")),
        ("AWS_ACCESS_KEY_ID", aws_env("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", aws_env("AWS_SECRET_ACCESS_KEY")),
        ("RUST_LOG", "info".to_owned()),
        ("DRIFTLINE_TABLE_NAME", table.clone()),
        ("DRIFTLINE_INTENTS_QUEUE_URL", queues.queue_url.clone()),
        ("DRIFTLINE_EXCHANGE_BASE_URL", exchange.base_url()),
        ("DRIFTLINE_EXCHANGE_SECRET_ID", secret_id.clone()),
        ("DRIFTLINE_METRICS_NAMESPACE", "Driftline".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut scheduler_env = env.clone();
    scheduler_env.push(("DRIFTLINE_SCHEDULE_PERIOD_SECONDS".into(), "300".into()));
    env.extend([
        (
            "DRIFTLINE_DEAD_LETTER_QUEUE_URL".to_owned(),
            queues.dead_letter_url.clone(),
        ),
        // Resting orders are checked again after one second, not thirty.
        (
            "DRIFTLINE_FOLLOW_UP_DELAY_SECONDS".to_owned(),
            "1".to_owned(),
        ),
    ]);

    let mut scheduler =
        LocalFunction::start("scheduler", &scheduler_bin, &scheduler_env, INVOKE_TIMEOUT)
            .await
            .unwrap();
    let mut executor = LocalFunction::start("executor", &executor_bin, &env, INVOKE_TIMEOUT)
        .await
        .unwrap();

    // One tick, now: the cycle is the current period, and the intents expire in 15 minutes.
    let mut tick = event("scheduled.json");
    tick["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let summary: Value = scheduler.invoke(&tick).await.unwrap_or_else(|e| {
        panic!("scheduler: {e}\n{}", scheduler.logs().join("\n"));
    });
    let portfolio = &summary["portfolios"][0];
    assert_eq!(portfolio["portfolio_id"], "article", "{summary}");
    assert_eq!(portfolio["outcome"], "planned", "{summary}");
    let planned = portfolio["orders"].as_u64().unwrap_or_default();
    assert_eq!(planned, 2, "both coins are overweight: {summary}");
    assert_eq!(portfolio["queued"], planned, "{summary}");

    let source = SqsEventSource::new(sqs.clone(), &queues.queue_url)
        .await
        .unwrap();
    // Placement: deliver until both orders are on the exchange.
    let mut placed = Vec::new();
    for _ in 0..10 {
        source.deliver_batch(&mut executor).await.unwrap();
        placed = admin.orders().await;
        if placed.len() >= 2 {
            break;
        }
    }
    assert_eq!(
        placed.len(),
        2,
        "{placed:?}\n{}",
        executor.logs().join("\n")
    );
    // The market rises through the resting sells: they fill at their own price.
    for order in &placed {
        assert_eq!(field(order, "side"), "SELL", "{order}");
        assert_eq!(field(order, "status"), "NEW", "{order}");
        let limit: Decimal = field(order, "price").parse().unwrap();
        admin
            .set_mid(field(order, "symbol"), limit * Decimal::new(101, 2))
            .await;
    }
    // Follow-ups until nothing is left on the queue.
    let report = source
        .drain(&mut executor, 40, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        report.drained && report.invocation_errors.is_empty() && report.failed == 0,
        "{report:?}\n{}",
        executor.logs().join("\n")
    );

    // A redelivered tick plans nothing new; redelivered intents place nothing new.
    let again: Value = scheduler.invoke(&tick).await.unwrap();
    assert_eq!(again["portfolios"][0]["outcome"], "already_ran", "{again}");
    let orders = admin.orders().await;
    let ids: Vec<&str> = orders.iter().map(|o| field(o, "clientOrderId")).collect();
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "duplicated orders: {ids:?}");
    assert_eq!(ids.len(), 2, "{orders:?}");
    let portfolio_id = PortfolioId::new("article").unwrap();
    let mut by_symbol = BTreeMap::new();
    for order in &orders {
        assert_eq!(field(order, "status"), "FILLED", "{order}");
        let key = OrderKey {
            portfolio_id: portfolio_id.clone(),
            client_order_id: ClientOrderId::parse(field(order, "clientOrderId")).unwrap(),
        };
        let record = store.order(&key).await.unwrap().expect("a ledger record");
        assert_eq!(record.status, OrderStatus::Filled, "{record:?}");
        assert_eq!(
            record.filled_qty,
            field(order, "executedQty").parse::<Decimal>().unwrap(),
            "{record:?}"
        );
        assert!(record.status.is_final());
        by_symbol.insert(field(order, "symbol").to_owned(), record);
    }
    assert_eq!(
        by_symbol.keys().map(String::as_str).collect::<Vec<_>>(),
        ["BTCUSDT", "ETHUSDT"]
    );
    assert!(store.open_orders(&portfolio_id).await.unwrap().is_empty());

    // The sample batches: intents of another cycle are unknown to the ledger and place
    // nothing; a malformed message goes to the dead-letter queue with its reason.
    let response: SqsBatchResponse = executor
        .invoke(&serde_json::from_value::<SqsEvent>(event("sqs-intents.json")).unwrap())
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let response: SqsBatchResponse = executor
        .invoke(&serde_json::from_value::<SqsEvent>(event("sqs-malformed.json")).unwrap())
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(admin.orders().await.len(), 2, "nothing new was placed");
    let dead = sqs
        .receive_message()
        .queue_url(&queues.dead_letter_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let dead = dead.messages.unwrap_or_default();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0]
        .message_attributes
        .as_ref()
        .and_then(|a| a.get(driftline_aws::DEAD_LETTER_REASON_ATTRIBUTE))
        .and_then(|v| v.string_value.clone())
        .unwrap_or_default();
    assert!(
        reason.contains("quantity") || reason.contains("intent"),
        "{reason}"
    );

    // The sample shards batch: the release scheduler takes an SQS event too. Its shard of the
    // article names an older cycle (stale: nothing planned); the unreadable one is reported.
    let response: SqsBatchResponse = scheduler
        .invoke(&serde_json::from_value::<SqsEvent>(event("sqs-shards.json")).unwrap())
        .await
        .unwrap_or_else(|e| panic!("scheduler: {e}\n{}", scheduler.logs().join("\n")));
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["5a1d0c2e-0000-4000-8000-000000000002"],
        "{response:?}"
    );
    assert_eq!(admin.orders().await.len(), 2, "nothing new was placed");
    assert!(scheduler.logs().join("\n").contains("unreadable shard"));

    // The metrics of the runtime contract reach stdout in EMF.
    let logs = executor.logs().join("\n");
    for metric in ["ExecutionAttempts", "FillRatio", "Outcome"] {
        assert!(logs.contains(metric), "no {metric} in the executor's logs");
    }
    assert!(scheduler.logs().join("\n").contains("CyclesCompleted"));
    assert!(
        !logs.contains(&api_secret) && !scheduler.logs().join("\n").contains(&api_secret),
        "the exchange secret must never be logged"
    );

    scheduler.stop().await;
    executor.stop().await;
    exchange.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_with_a_missing_or_bad_variable_reports_an_init_error_naming_it_and_exits() {
    let Some((scheduler_bin, executor_bin)) = bootstraps() else {
        return;
    };
    // Everything else is valid; nothing is reached over the network before the check fails.
    let env = |changes: &[(&str, Option<&str>)]| {
        let base = [
            ("DRIFTLINE_TABLE_NAME", "driftline"),
            (
                "DRIFTLINE_INTENTS_QUEUE_URL",
                "http://127.0.0.1:9/000000000000/q",
            ),
            ("DRIFTLINE_EXCHANGE_BASE_URL", "http://127.0.0.1:9"),
            ("DRIFTLINE_EXCHANGE_SECRET_ID", "driftline/exchange"),
            ("DRIFTLINE_SCHEDULE_PERIOD_SECONDS", "300"),
            ("RUST_LOG", "info"),
        ];
        driftline_lambda_local::environment(&base, changes)
            .into_iter()
            .collect::<Vec<_>>()
    };
    let cases = [
        ("scheduler", &scheduler_bin, "DRIFTLINE_TABLE_NAME", None),
        (
            "executor",
            &executor_bin,
            "DRIFTLINE_FOLLOW_UP_DELAY_SECONDS",
            Some("901"),
        ),
    ];
    for (name, bin, variable, value) in cases {
        let mut function =
            LocalFunction::start(name, bin, &env(&[(variable, value)]), INVOKE_TIMEOUT)
                .await
                .unwrap();
        let status = function
            .wait_exit(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{name} still runs:\n{}", function.logs().join("\n")));
        assert!(!status.success(), "{name} exited {status}");
        let report = function
            .init_error()
            .unwrap_or_else(|| panic!("{name} reported no init error"));
        assert_eq!(
            report.error_type.as_deref(),
            Some("Driftline.ConfigError"),
            "{report:?}"
        );
        let body: Value = serde_json::from_str(&report.body).unwrap();
        assert_eq!(body["errorType"], "Driftline.ConfigError", "{body}");
        let message = body["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(variable), "{message}");
        if let Some(value) = value {
            assert!(message.contains(&format!("{value:?}")), "{message}");
        }
        // The error is in the function's own log too (its pipes may trail the exit a little).
        let mut logged = false;
        for _ in 0..20 {
            logged = function
                .logs()
                .iter()
                .any(|l| l.contains("cold start failed") && l.contains(variable));
            if logged {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(logged, "{}", function.logs().join("\n"));
        function.stop().await;
    }
}
