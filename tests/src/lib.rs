//! A whole driftline on one machine, for end-to-end tests: the local AWS emulator (one table,
//! the intents queue and its dead-letter queue, all uniquely named), the paper exchange
//! in-process on a loopback port, and the scheduler and executor handlers wired to the real
//! adapters. [`World::drain`] stands in for Lambda's SQS event source mapping: receive a batch,
//! invoke the executor, delete all but the batch item failures.

pub mod accounting;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use driftline_aws::metrics::EmfMetrics;
use driftline_aws::{create_queue_with_dlq, create_table, DynamoStore, SqsIntentQueue};
use driftline_core::config::PortfolioSpec;
use driftline_core::ledger::{OrderLedger, OrderRecord, RetryBackoff};
use driftline_core::ports::{Clock, RandomSource};
use driftline_core::service::executor::{Executor, ExecutorPorts, ExecutorSettings};
use driftline_core::service::scheduler::{Scheduler, SchedulerPorts, SchedulerSettings};
use driftline_core::{ApiCredentials, EpochMillis, PortfolioId};
use driftline_exchange::{BinanceConfig, BinanceSpot, RetryPolicy};
use driftline_functions::scheduled::{self, SchedulerResponse};
use driftline_functions::sqs::{self as sqs_handler, DeadLetters};
use lambda_runtime::{Context, LambdaEvent};
use paper_exchange::clock::ManualClock;
use paper_exchange::{ExchangeConfig, PaperExchange};
use serde_json::{json, Value};

use crate::accounting::{AwsCalls, CountingExchange, Tally};

pub const KEY: &str = "demo-key";
pub const SECRET: &str = "demo-secret-value-never-logged";
/// A minute boundary: the venue's weight windows start here.
pub const T0: EpochMillis = 1_800_000_000_000;
pub const PERIOD_SECONDS: u32 = 300;

/// The article's market: BTC around 64,230 and ETH around 3,450, deep books, no random walk.
pub const ARTICLE_VENUE: &str = r#"
seed = 7

[fees]
maker = "0.001"
taker = "0.001"

[rate_limits]
request_weight_per_minute = 6000
ban_seconds = 120

[[symbols]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
step_size = "0.00001"
min_qty = "0.00001"
max_qty = "9000"
min_notional = "5"
mid = "64230"
spread_bps = "2"
volatility_bps = "0"
replenish_per_tick = "1"
depth = { levels = 20, quantity_per_level = "0.5", level_step_bps = "1" }

[[symbols]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
step_size = "0.0001"
min_qty = "0.0001"
max_qty = "9000"
min_notional = "5"
mid = "3450"
spread_bps = "2"
volatility_bps = "0"
replenish_per_tick = "1"
depth = { levels = 20, quantity_per_level = "8", level_step_bps = "1" }

[[accounts]]
name = "demo"
api_key = "demo-key"
secret = "demo-secret-value-never-logged"
balances = { BTC = "1.5", ETH = "25", USDT = "20000" }
"#;

/// The article's portfolio as stored configuration.
pub fn article_spec() -> PortfolioSpec {
    serde_json::from_value(json!({
        "id": "article",
        "quote": "USDT",
        "targets": {"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"},
        "policy": {
            "band": {"absolute": "0.05"},
            "destination": "band_edge",
            "min_trade_notional": "10",
            "max_cost_bps": "50",
            "slippage_budget_bps": "20",
            "limit_offset": "0.5",
            "order_ttl_seconds": 900
        }
    }))
    .expect("the article spec is valid JSON for PortfolioSpec")
}

/// Deterministic jitter for tests.
pub struct Counter(AtomicU64);

impl RandomSource for Counter {
    fn next_u64(&self) -> u64 {
        self.0.fetch_add(7919, Ordering::Relaxed)
    }
}

/// EMF lines captured instead of printed.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Outcome of one executor batch, as Lambda would see it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub invocations: usize,
    pub messages: usize,
    pub failures: usize,
}

pub struct World {
    pub venue: PaperExchange,
    pub clock: Arc<ManualClock>,
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsIntentQueue>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dead_letter_url: String,
    pub scheduler: Scheduler,
    pub executor: Executor,
    pub metrics: Captured,
    pub http: reqwest::Client,
    /// Every AWS call the handlers' adapters make (not the event source mapping's receives
    /// and deletes, which [`World::drain`] makes on an uncounted client).
    pub aws_calls: AwsCalls,
    /// Every call the handlers make through the exchange port.
    pub exchange_calls: Tally,
    invocation: AtomicU64,
}

/// The emulator's SDK configuration, or `None` (test skipped, loudly) outside `make test`.
/// Under `make test` (`DRIFTLINE_REQUIRE_AWS_EMULATOR` set) a missing emulator fails.
pub async fn emulator() -> Option<aws_config::SdkConfig> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => {
            assert!(
                url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost"),
                "AWS_ENDPOINT_URL {url} is not on loopback: refusing to run"
            );
            Some(driftline_aws::sdk_config().await)
        }
        Err(_) if std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_some() => {
            panic!("DRIFTLINE_REQUIRE_AWS_EMULATOR is set but AWS_ENDPOINT_URL is not")
        }
        Err(_) => {
            eprintln!("SKIPPED: no AWS emulator (run through `make test` or scripts/with-moto.sh)");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl World {
    /// Starts a world with the article's venue and portfolio.
    pub async fn article() -> Option<Self> {
        Self::start(ARTICLE_VENUE, &[article_spec()]).await
    }

    pub async fn start(venue_toml: &str, portfolios: &[PortfolioSpec]) -> Option<Self> {
        let sdk = emulator().await?;
        let clock = Arc::new(ManualClock::new(T0));
        let config = ExchangeConfig::parse(venue_toml).expect("the venue config is valid");
        let venue =
            PaperExchange::start_with_clock(config, ([127, 0, 0, 1], 0).into(), clock.clone())
                .await
                .expect("the paper exchange starts");

        let aws_calls = AwsCalls::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(aws_calls.clone())
                .build(),
        );
        let counted_sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(aws_calls.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let table = unique("driftline");
        create_table(&dynamodb, &table)
            .await
            .expect("table created");
        let queues = create_queue_with_dlq(&sqs, &unique("intents"), 10, 30)
            .await
            .expect("queues created");
        let store = Arc::new(DynamoStore::new(dynamodb, table));
        for spec in portfolios {
            store.put_portfolio(spec).await.expect("portfolio stored");
        }
        let backoff = RetryBackoff {
            base_secs: 1,
            cap_secs: 2,
        };
        let queue = Arc::new(
            SqsIntentQueue::new(counted_sqs, queues.queue_url.clone()).with_backoff(backoff),
        );
        let mut exchange_config =
            BinanceConfig::new(venue.base_url(), Some(ApiCredentials::new(KEY, SECRET)));
        exchange_config.retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        exchange_config.request_timeout = Duration::from_secs(3);
        exchange_config.max_rate_limit_wait = Duration::from_millis(200);
        let clock_port: Arc<dyn Clock> = clock.clone();
        let exchange_calls = Tally::default();
        let exchange = Arc::new(CountingExchange::new(
            Arc::new(
                BinanceSpot::with_clock(exchange_config, clock_port.clone())
                    .expect("client config"),
            ),
            exchange_calls.clone(),
        ));
        let metrics = Captured::default();
        let emf = Arc::new(EmfMetrics::new(
            "Driftline",
            metrics.clone(),
            clock_port.clone(),
        ));
        let scheduler = Scheduler::new(
            SchedulerPorts {
                configs: store.clone(),
                exchange: exchange.clone(),
                ledger: store.clone(),
                leases: store.clone(),
                history: store.clone(),
                filters: store.clone(),
                queue: queue.clone(),
                clock: clock_port.clone(),
                metrics: emf.clone(),
            },
            SchedulerSettings {
                lease_ttl_ms: i64::from(PERIOD_SECONDS) * 1000,
                stale_pending_ms: 2 * i64::from(PERIOD_SECONDS) * 1000,
                ..SchedulerSettings::default()
            },
        );
        let executor = Executor::new(
            ExecutorPorts {
                exchange,
                ledger: store.clone(),
                filters: store.clone(),
                breakers: store.clone(),
                queue: queue.clone(),
                clock: clock_port,
                random: Arc::new(Counter(AtomicU64::new(1))),
                metrics: emf,
            },
            ExecutorSettings {
                backoff,
                follow_up_delay_secs: 1,
                ..ExecutorSettings::default()
            },
        );
        Some(Self {
            venue,
            clock,
            store,
            queue,
            sqs,
            queue_url: queues.queue_url,
            dead_letter_url: queues.dead_letter_url,
            scheduler,
            executor,
            metrics,
            http: reqwest::Client::new(),
            aws_calls,
            exchange_calls,
            invocation: AtomicU64::new(0),
        })
    }

    pub fn now(&self) -> EpochMillis {
        self.clock.now_ms()
    }

    fn context(&self) -> Context {
        let mut ctx = Context::default();
        ctx.request_id = format!("req-{}", self.invocation.fetch_add(1, Ordering::Relaxed));
        ctx.deadline = u64::try_from(self.now() + 60_000).unwrap_or(u64::MAX);
        ctx
    }

    /// Invokes the scheduler handler with a scheduled event at the clock's time.
    pub async fn tick(&self) -> SchedulerResponse {
        self.tick_with(Value::Object(Default::default())).await
    }

    pub async fn tick_with(&self, detail: Value) -> SchedulerResponse {
        let mut event: EventBridgeEvent<Value> = EventBridgeEvent::default();
        event.detail_type = "Scheduled Event".into();
        event.source = "aws.events".into();
        event.time = chrono::DateTime::from_timestamp_millis(self.now());
        event.detail = detail;
        scheduled::handle(
            &self.scheduler,
            PERIOD_SECONDS,
            LambdaEvent::new(event, self.context()),
        )
        .await
        .expect("the scheduler handles the tick")
    }

    /// One executor invocation on up to ten messages, as the event source mapping would do it.
    pub async fn invoke_executor_once(&self, wait_secs: i32) -> Drained {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Drained::default();
        }
        let records: Vec<SqsMessage> = messages
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = m.message_id().map(str::to_owned);
                r.receipt_handle = m.receipt_handle().map(str::to_owned);
                r.body = m.body().map(str::to_owned);
                r
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let dead_letters = DeadLetters {
            sqs: self.sqs.clone(),
            queue_url: Some(self.dead_letter_url.clone()),
        };
        let response = sqs_handler::handle(
            &self.executor,
            self.queue.as_ref(),
            &dead_letters,
            LambdaEvent::new(event, self.context()),
        )
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        Drained {
            invocations: 1,
            messages: messages.len(),
            failures: failed.len(),
        }
    }

    /// Drives the executor until the queue stays empty for `idle_rounds` receives, or `max`
    /// invocations.
    pub async fn drain(&self, max: usize) -> Drained {
        let mut total = Drained::default();
        let mut idle = 0;
        while total.invocations < max && idle < 3 {
            let d = self.invoke_executor_once(1).await;
            if d.messages == 0 {
                idle += 1;
                continue;
            }
            idle = 0;
            total.invocations += 1;
            total.messages += d.messages;
            total.failures += d.failures;
        }
        total
    }

    /// Every order on the paper exchange.
    pub async fn venue_orders(&self) -> Vec<Value> {
        self.admin_get("/admin/orders").await
    }

    pub async fn admin_get(&self, path: &str) -> Vec<Value> {
        self.http
            .get(format!("{}{path}", self.venue.base_url()))
            .send()
            .await
            .expect("admin call")
            .json()
            .await
            .expect("admin JSON")
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.venue.base_url()))
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(
            r.status().is_success(),
            "{path} {body} refused: {}",
            r.status()
        );
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn set_faults(&self, faults: Value) {
        let r = self
            .http
            .put(format!("{}/admin/faults", self.venue.base_url()))
            .json(&faults)
            .send()
            .await
            .expect("admin call");
        assert!(r.status().is_success(), "faults {faults} refused");
    }

    /// The request weight the exchange has counted from this machine in the current minute
    /// (the clock is manual, so a test's whole run is one minute), less the one this asks.
    pub async fn used_weight(&self) -> u64 {
        let r = self
            .http
            .get(format!("{}/api/v3/time", self.venue.base_url()))
            .send()
            .await
            .expect("time call");
        let used: u64 = r
            .headers()
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("the exchange reports the used weight");
        used - 1
    }

    /// Sets a symbol's mid (resting orders it crosses fill).
    pub async fn set_mid(&self, symbol: &str, price: &str) {
        self.admin_post("/admin/mid", json!({"symbol": symbol, "price": price}))
            .await;
    }

    /// The ledger's records of a portfolio, every state.
    pub async fn orders(&self, portfolio: &str) -> Vec<OrderRecord> {
        let id = PortfolioId::new(portfolio).expect("valid id");
        self.store.all_orders(&id).await.expect("ledger readable")
    }

    /// Moves the shared clock to the next schedule tick.
    pub fn next_tick(&self) {
        self.clock.advance(i64::from(PERIOD_SECONDS) * 1000);
    }

    /// Messages in the dead-letter queue, with their `driftline-error` reason.
    pub async fn dead_letters(&self) -> Vec<(String, Option<String>)> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive dlq");
        out.messages
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get("driftline-error"))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                (m.body().unwrap_or_default().to_owned(), reason)
            })
            .collect()
    }

    pub async fn stop(self) {
        self.venue.stop().await;
    }
}

/// Keeps `OrderLedger` in scope for callers that use the store's trait methods.
pub fn ledger(world: &World) -> &dyn OrderLedger {
    world.store.as_ref()
}
