//! A whole driftline on one machine, for `make demo` and the end-to-end tests: the local AWS
//! emulator (one table, the intents queue and its dead-letter queue, one Secrets Manager secret
//! per exchange account, all uniquely named), the paper exchange in-process on a loopback port,
//! and the scheduler and executor handlers wired to the real adapters. The exchange accounts are
//! the Lambdas' own `SecretAccounts`: keys read from Secrets Manager, and read again when the
//! venue refuses them ([`World::rotate_venue_keys`], [`World::put_account_secret`]).
//!
//! Time is a [`ManualClock`] shared by the paper exchange and the services, so a schedule period
//! passes when the caller says so. SQS visibility and delays are real seconds on the emulator:
//! retry backoff and follow-up delays are 1-2 s here (minutes in production).
//!
//! [`World::executor_round`] stands in for Lambda's SQS event source mapping: receive a batch of
//! up to ten, invoke the executor, delete all but the batch item failures.
//!
//! Both services tell the owner through one notifier: every notice is kept in
//! [`World::notices`], and a world started with [`World::start_notifying`] also sends each to
//! the notifier it was given (an SNS topic on the emulator, in the tests). Every placement is
//! logged with its wall-clock instant in [`World::placements`].

pub mod accounting;
pub mod inbox;
pub mod overhead;
pub mod placements;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use driftline_aws::metrics::EmfMetrics;
use driftline_aws::{
    create_queue_with_dlq, create_table, CredentialsCache, DynamoStore, SqsDeadLetters,
    SqsIntentQueue,
};
use driftline_core::config::PortfolioSpec;
use driftline_core::notify::Notice;
use driftline_core::orders::OrderRecord;
use driftline_core::ports::{
    Clock, DeadLetters, Exchange, ExchangeAccounts, Layered, Notifier, OrderLedger, Ports,
    RandomSource, RetryBackoff, StorePorts,
};
use driftline_core::service::executor::{Executor, ExecutorSettings};
use driftline_core::service::scheduler::{Scheduler, SchedulerSettings};
use driftline_core::testing::RecordedNotices;

use crate::accounting::{AwsCalls, CountingExchange, Tally, WholeResponses};
use crate::placements::Placements;
use driftline_core::{EpochMillis, PortfolioId};
use driftline_exchange::{BinanceConfig, RetryPolicy};
use driftline_functions::scheduled::{self, SchedulerResponse};
use driftline_functions::sqs as sqs_handler;
use driftline_functions::wiring::{self, Adapters, SecretAccounts, WrapClient};
use lambda_runtime::{Context, LambdaEvent};
use paper_exchange::clock::ManualClock;
use paper_exchange::{ExchangeConfig, PaperExchange};
use serde_json::{json, Value};
use thiserror::Error;

pub const KEY: &str = "demo-key";
pub const SECRET: &str = "demo-secret-value-never-logged";
/// A minute boundary: the venue's weight windows start here.
pub const T0: EpochMillis = 1_800_000_000_000;
pub const PERIOD_SECONDS: u32 = 300;

/// The article's market as paper-exchange configuration (fees, limits, BTC around 64,230 and
/// ETH around 3,450, deep books, no random walk), without accounts: venues add their own with
/// `concat!(article_market!(), paper_account!(...))`.
pub use paper_exchange::{article_market, paper_account};

/// The article's market with one account holding the article's portfolio.
pub const ARTICLE_VENUE: &str = concat!(
    article_market!(),
    paper_account!("demo", key = "demo-key", secret = "demo-secret-value-never-logged",
        balances = { BTC = "1.5", ETH = "25", USDT = "20000" }),
);

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
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Every log line the process writes from the first call on, at debug level and as JSON, kept
/// in memory: tests scan them (for secrets, for what happened). Installs the process's one
/// global subscriber.
///
/// # Panics
/// When another global subscriber was installed first.
pub fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Captured::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    })
}

/// Outcome of one executor batch, as Lambda would see it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub invocations: usize,
    pub messages: usize,
    pub failures: usize,
}

/// Why the world could not be set up or driven.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("AWS_ENDPOINT_URL is not set: start the local AWS emulator (scripts/with-moto.sh)")]
    NoEmulator,
    #[error("AWS_ENDPOINT_URL {0} is not on loopback: refusing to run")]
    NotLoopback(String),
    #[error("paper exchange config: {0}")]
    VenueConfig(#[from] paper_exchange::config::ConfigError),
    #[error("paper exchange: {0}")]
    VenueStart(#[from] paper_exchange::server::StartError),
    #[error("store or queue: {0}")]
    Store(#[from] driftline_core::ports::StoreError),
    #[error("secret {name}: {reason}")]
    Secret { name: String, reason: String },
    #[error("exchange accounts: {0}")]
    Wiring(#[from] driftline_functions::wiring::WiringError),
    #[error("the venue config has no account for the portfolios")]
    NoAccount,
    #[error("a portfolio names account {0:?}, which the venue config does not have")]
    UnknownAccount(String),
    #[error("SQS {operation}: {reason}")]
    Sqs {
        operation: &'static str,
        reason: String,
    },
    #[error("scheduler: {0}")]
    Scheduler(#[from] driftline_functions::scheduled::ScheduledError),
    #[error("paper exchange admin {path}: {reason}")]
    Admin { path: String, reason: String },
    #[error("overhead run: {0}")]
    Run(String),
}

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> SandboxError {
    move |e| SandboxError::Sqs {
        operation,
        reason: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
    }
}

pub struct World {
    pub venue: PaperExchange,
    pub clock: Arc<ManualClock>,
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsIntentQueue>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dead_letter_url: String,
    /// Where the executor handler sends unreadable messages (on the uncounted client, as the
    /// dead-letter queue is not an order's cost).
    dead_letters: Arc<dyn DeadLetters>,
    /// The Secrets Manager secret id of each venue account, by account name.
    pub secret_ids: Vec<(String, String)>,
    /// The emulator's Secrets Manager, where the accounts' keys are kept.
    pub secrets: aws_sdk_secretsmanager::Client,
    pub scheduler: Scheduler,
    pub executor: Executor,
    pub metrics: Captured,
    pub http: reqwest::Client,
    /// Every AWS call the handlers' adapters make (not the event source mapping's receives
    /// and deletes, which [`World::drain`] makes on an uncounted client).
    pub aws_calls: AwsCalls,
    /// Every call the handlers make through the exchange port.
    pub exchange_calls: Tally,
    /// Every placement the handlers send, with its wall-clock instant.
    pub placements: Placements,
    /// Every notice either service gave the owner.
    pub notices: Arc<RecordedNotices>,
    invocation: AtomicU64,
}

/// Keeps every notice and passes it on.
struct Kept {
    kept: Arc<RecordedNotices>,
    also: Option<Arc<dyn Notifier>>,
}

#[async_trait::async_trait]
impl Notifier for Kept {
    async fn notify(&self, notice: &Notice) {
        self.kept.notify(notice).await;
        if let Some(also) = &self.also {
            also.notify(notice).await;
        }
    }
}

/// A world's AWS clients and the counters they report to.
struct Clients {
    /// Uncounted: the event source mapping stand-in's receives and deletes.
    sqs: aws_sdk_sqs::Client,
    /// The handlers' SQS client, counted.
    counted_sqs: aws_sdk_sqs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    aws_calls: AwsCalls,
    exchange_calls: Tally,
    /// Told every notice besides the world's own record of them.
    notifier: Option<Arc<dyn Notifier>>,
}

/// The emulator's SDK configuration, or `None` (test skipped, loudly) outside `make test`.
/// Under `make test` (`DRIFTLINE_REQUIRE_AWS_EMULATOR` set) a missing emulator fails.
pub async fn emulator() -> Option<aws_config::SdkConfig> {
    match emulator_config().await {
        Ok(sdk) => Some(sdk),
        Err(SandboxError::NoEmulator)
            if std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_none() =>
        {
            eprintln!("SKIPPED: no AWS emulator (run through `make test` or scripts/with-moto.sh)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The SDK configuration for the emulator at `AWS_ENDPOINT_URL`, which must be on loopback.
///
/// # Errors
/// [`SandboxError::NoEmulator`] when the variable is not set, [`SandboxError::NotLoopback`]
/// when it points anywhere but this machine.
pub async fn emulator_config() -> Result<aws_config::SdkConfig, SandboxError> {
    let url = std::env::var("AWS_ENDPOINT_URL").map_err(|_| SandboxError::NoEmulator)?;
    if !(url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
        return Err(SandboxError::NotLoopback(url));
    }
    Ok(driftline_aws::sdk_config().await)
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The sandbox's fast retry timing: SQS delays are real seconds on the emulator.
pub const BACKOFF: RetryBackoff = RetryBackoff {
    base_secs: 1,
    cap_secs: 2,
};
pub const FOLLOW_UP_DELAY_SECS: u32 = 1;
/// How long a received message stays invisible when nobody says otherwise.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 30;

impl World {
    /// Starts a world with the article's venue and portfolio.
    pub async fn article() -> Option<Self> {
        Self::start(ARTICLE_VENUE, &[article_spec()]).await
    }

    /// For tests: `None` (skipped) without an emulator; panics when set-up fails.
    pub async fn start(venue_toml: &str, portfolios: &[PortfolioSpec]) -> Option<Self> {
        Self::started(venue_toml, portfolios, None).await
    }

    /// As [`Self::start`], the services also telling `notifier` every notice.
    pub async fn start_notifying(
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
        notifier: Arc<dyn Notifier>,
    ) -> Option<Self> {
        Self::started(venue_toml, portfolios, Some(notifier)).await
    }

    async fn started(
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Option<Self> {
        let sdk = emulator().await?;
        match Self::launch_notifying(&sdk, venue_toml, portfolios, notifier).await {
            Ok(world) => Some(world),
            Err(e) => panic!("the world does not start: {e}"),
        }
    }

    /// Creates the table, the queues and one secret per venue account on the emulator, starts
    /// the paper exchange on a free loopback port, stores the portfolios and wires the services.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch(
        sdk: &aws_config::SdkConfig,
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
    ) -> Result<Self, SandboxError> {
        Self::launch_notifying(sdk, venue_toml, portfolios, None).await
    }

    /// As [`Self::launch`], the services also telling `notifier` (when given) every notice.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch_notifying(
        sdk: &aws_config::SdkConfig,
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Result<Self, SandboxError> {
        let clock = Arc::new(ManualClock::new(T0));
        let config = ExchangeConfig::parse(venue_toml)?;
        let accounts = config.accounts.clone();

        // The handlers' DynamoDB and SQS clients count their calls (docs/BENCHMARKS.md); the
        // event source mapping stand-in uses the uncounted `sqs`.
        let aws_calls = AwsCalls::default();
        // Their responses are read whole before the SDK parses them, so the time an attempt
        // waits (accounting::measure) ends with its last byte.
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(aws_calls.clone());
        let mut counted_sqs =
            aws_sdk_sqs::config::Builder::from(sdk).interceptor(aws_calls.clone());
        if let Some(http) = sdk.http_client() {
            dynamodb = dynamodb.http_client(WholeResponses(http.clone()));
            counted_sqs = counted_sqs.http_client(WholeResponses(http));
        }
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
        let counted_sqs = aws_sdk_sqs::Client::from_conf(counted_sqs.build());
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let table = unique("driftline");
        create_table(&dynamodb, &table).await?;
        let queues =
            create_queue_with_dlq(&sqs, &unique("intents"), 10, VISIBILITY_TIMEOUT_SECS).await?;
        let mut secret_ids = Vec::with_capacity(accounts.len());
        for account in &accounts {
            let name = unique(&format!("driftline/exchange/{}", account.name));
            let value = json!({"api_key": account.api_key, "api_secret": account.secret});
            secrets
                .create_secret()
                .name(&name)
                .secret_string(value.to_string())
                .send()
                .await
                .map_err(|e| SandboxError::Secret {
                    name: name.clone(),
                    reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })?;
            secret_ids.push((account.name.clone(), name));
        }
        let store = Arc::new(DynamoStore::new(dynamodb, table));
        for spec in portfolios {
            // A portfolio names a venue account; the deployment knows it by its secret's id.
            let mut stored = spec.clone();
            if let Some(name) = &spec.account {
                let secret_id = secret_ids
                    .iter()
                    .find(|(account, _)| account == name)
                    .map(|(_, id)| id.clone())
                    .ok_or_else(|| SandboxError::UnknownAccount(name.clone()))?;
                stored.account = Some(secret_id);
            }
            store.put_portfolio(&stored).await?;
        }

        let venue =
            PaperExchange::start_with_clock(config, ([127, 0, 0, 1], 0).into(), clock.clone())
                .await?;
        // From here on the venue runs: stop it on any error.
        let clients = Clients {
            sqs,
            counted_sqs,
            secrets,
            aws_calls,
            exchange_calls: Tally::default(),
            notifier,
        };
        match Self::wire(venue, clock, store, clients, queues, secret_ids).await {
            Ok(world) => Ok(world),
            Err((venue, e)) => {
                venue.stop().await;
                Err(e)
            }
        }
    }

    async fn wire(
        venue: PaperExchange,
        clock: Arc<ManualClock>,
        store: Arc<DynamoStore>,
        clients: Clients,
        queues: driftline_aws::LocalQueues,
        secret_ids: Vec<(String, String)>,
    ) -> Result<Self, (PaperExchange, SandboxError)> {
        let Clients {
            sqs,
            counted_sqs,
            secrets,
            aws_calls,
            exchange_calls,
            notifier,
        } = clients;
        let notices = Arc::new(RecordedNotices::default());
        let notifier: Arc<dyn Notifier> = Arc::new(Kept {
            kept: notices.clone(),
            also: notifier,
        });
        let placements = Placements::default();
        let clock_port: Arc<dyn Clock> = clock.clone();
        // The accounts are wired as the Lambdas wire theirs (SecretAccounts: keys from
        // Secrets Manager, re-read after the exchange refuses them), with the sandbox's quick
        // client settings and every client's calls counted.
        let Some((_, first_secret_id)) = secret_ids.first() else {
            return Err((venue, SandboxError::NoAccount));
        };
        let calls = exchange_calls.clone();
        let logged = placements.clone();
        let count: WrapClient = Arc::new(move |client| {
            Arc::new(Layered(CountingExchange::new(
                logged.wrap(client),
                calls.clone(),
            ))) as Arc<dyn Exchange>
        });
        // Portfolios without an account trade on the venue's first one.
        let accounts = match SecretAccounts::with_settings(
            CredentialsCache::new(secrets.clone(), Duration::from_secs(300)),
            first_secret_id.clone(),
            Self::client_settings(&venue),
            clock_port.clone(),
            Some(count),
        ) {
            Ok(a) => Arc::new(a),
            Err(e) => return Err((venue, SandboxError::Wiring(e))),
        };
        // Every account's secret is read now, so one that cannot be read fails the launch.
        for (_, secret_id) in &secret_ids {
            if let Err(e) = accounts.exchange(Some(secret_id)).await {
                let e = SandboxError::Secret {
                    name: secret_id.clone(),
                    reason: e.to_string(),
                };
                return Err((venue, e));
            }
        }
        let queue = Arc::new(
            SqsIntentQueue::new(counted_sqs, queues.queue_url.clone()).with_backoff(BACKOFF),
        );
        let metrics = Captured::default();
        let emf = Arc::new(EmfMetrics::new(
            "Driftline",
            metrics.clone(),
            clock_port.clone(),
        ));
        // Wired as the Lambdas wire theirs, from the same adapters; the scheduler and the
        // executor each draw their own deterministic jitter.
        let adapters = Adapters {
            ports: Ports {
                store: StorePorts::on(store.clone()),
                queue: queue.clone(),
                exchanges: accounts,
                clock: clock_port,
                random: Arc::new(Counter(AtomicU64::new(1))),
                metrics: emf,
                notifier,
            },
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                Some(queues.dead_letter_url.clone()),
            )),
        };
        let mut for_scheduler = adapters.clone();
        for_scheduler.ports.random = Arc::new(Counter(AtomicU64::new(2)));
        let scheduler = wiring::scheduler(
            &for_scheduler,
            SchedulerSettings::for_period(PERIOD_SECONDS),
        );
        let executor = wiring::executor(
            &adapters,
            ExecutorSettings {
                backoff: BACKOFF,
                follow_up_delay_secs: FOLLOW_UP_DELAY_SECS,
                ..ExecutorSettings::default()
            },
        );
        Ok(Self {
            dead_letters: adapters.dead_letters,
            venue,
            clock,
            store,
            queue,
            sqs,
            queue_url: queues.queue_url,
            dead_letter_url: queues.dead_letter_url,
            secret_ids,
            secrets,
            scheduler,
            executor,
            metrics,
            http: reqwest::Client::new(),
            aws_calls,
            exchange_calls,
            placements,
            notices,
            invocation: AtomicU64::new(0),
        })
    }

    /// The settings of every exchange client: the local venue, quick retries and timeouts.
    fn client_settings(venue: &PaperExchange) -> BinanceConfig {
        let mut config = BinanceConfig::new(venue.base_url(), None);
        config.retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        config.request_timeout = Duration::from_secs(3);
        config.max_rate_limit_wait = Duration::from_millis(200);
        config
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
        match self.run_cycle(detail).await {
            Ok(r) => r,
            Err(e) => panic!("the scheduler does not handle the tick: {e}"),
        }
    }

    /// The scheduler on the tick of `time_ms`, whatever the clock says: a tick delivered late,
    /// or again.
    pub async fn tick_at(&self, time_ms: EpochMillis) -> SchedulerResponse {
        match self
            .run_cycle_at(time_ms, Value::Object(Default::default()))
            .await
        {
            Ok(r) => r,
            Err(e) => panic!("the scheduler does not handle the tick: {e}"),
        }
    }

    /// The scheduler handler on a scheduled event at the clock's time, as EventBridge sends it.
    ///
    /// # Errors
    /// [`SandboxError::Scheduler`] when the handler fails the invocation.
    pub async fn run_cycle(&self, detail: Value) -> Result<SchedulerResponse, SandboxError> {
        self.run_cycle_at(self.now(), detail).await
    }

    /// The scheduler handler on a scheduled event of `time_ms`.
    ///
    /// # Errors
    /// [`SandboxError::Scheduler`] when the handler fails the invocation.
    pub async fn run_cycle_at(
        &self,
        time_ms: EpochMillis,
        detail: Value,
    ) -> Result<SchedulerResponse, SandboxError> {
        let mut event: EventBridgeEvent<Value> = EventBridgeEvent::default();
        event.detail_type = "Scheduled Event".into();
        event.source = "aws.events".into();
        event.time = chrono::DateTime::from_timestamp_millis(time_ms);
        event.detail = detail;
        Ok(scheduled::handle(
            &self.scheduler,
            PERIOD_SECONDS,
            LambdaEvent::new(event, self.context()),
        )
        .await?)
    }

    /// One executor invocation on up to ten messages, as the event source mapping would do it.
    pub async fn invoke_executor_once(&self, wait_secs: i32) -> Drained {
        match self.executor_round(wait_secs).await {
            Ok(d) => d,
            Err(e) => panic!("executor round: {e}"),
        }
    }

    /// Receives up to ten messages (long polling up to `wait_secs`), invokes the executor
    /// handler on them, and deletes every message that is not a batch item failure. A failure
    /// stays on the queue: the handler has already set its visibility to the retry delay.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a receive or a delete.
    pub async fn executor_round(&self, wait_secs: i32) -> Result<Drained, SandboxError> {
        let messages = self.receive(10, wait_secs).await?;
        if messages.is_empty() {
            return Ok(Drained::default());
        }
        let response = self.invoke_executor(&messages).await;
        let failures = self.acknowledge(&messages, &response).await?;
        Ok(Drained {
            invocations: 1,
            messages: messages.len(),
            failures,
        })
    }

    /// Receives up to `max` (1-10) messages from the intents queue, long polling up to
    /// `wait_secs`, as the event source mapping does (on the uncounted client).
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses the receive.
    pub async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, SandboxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// One executor handler invocation on `messages`, as Lambda delivers them.
    pub async fn invoke_executor(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
    ) -> SqsBatchResponse {
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
        sqs_handler::handle(
            &self.executor,
            self.queue.as_ref(),
            self.dead_letters.as_ref(),
            LambdaEvent::new(event, self.context()),
        )
        .await
    }

    /// Deletes every message of an invocation that is not one of its batch item failures, as
    /// the event source mapping does; the number of failures.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a delete.
    pub async fn acknowledge(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
        response: &SqsBatchResponse,
    ) -> Result<usize, SandboxError> {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in messages {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(sqs_error("DeleteMessage"))?;
            }
        }
        Ok(failed.len())
    }

    /// Drives the executor until the queue stays empty for three receives, or `max`
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
        match self.try_admin_get(path).await {
            Ok(Value::Array(v)) => v,
            Ok(other) => panic!("{path} answered {other}, not an array"),
            Err(e) => panic!("{e}"),
        }
    }

    /// A GET on the paper exchange's admin API.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when the call fails or the answer is not JSON.
    pub async fn try_admin_get(&self, path: &str) -> Result<Value, SandboxError> {
        let admin = |reason: String| SandboxError::Admin {
            path: path.to_owned(),
            reason,
        };
        self.http
            .get(format!("{}{path}", self.venue.base_url()))
            .send()
            .await
            .map_err(|e| admin(e.to_string()))?
            .json()
            .await
            .map_err(|e| admin(e.to_string()))
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        match self
            .try_admin_send(reqwest::Method::POST, path, &body)
            .await
        {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// A POST or PUT on the paper exchange's admin API; the answer's JSON, or null.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when the call fails or is refused.
    pub async fn try_admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, SandboxError> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.venue.base_url()))
            .json(body)
            .send()
            .await
            .map_err(|e| SandboxError::Admin {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        if !r.status().is_success() {
            return Err(SandboxError::Admin {
                path: path.to_owned(),
                reason: format!("{body} refused: {}", r.status()),
            });
        }
        Ok(r.json().await.unwrap_or(Value::Null))
    }

    /// The Secrets Manager id of a venue account's secret.
    pub fn secret_id(&self, account: &str) -> Option<&str> {
        self.secret_ids
            .iter()
            .find(|(name, _)| name == account)
            .map(|(_, id)| id.as_str())
    }

    /// Gives a venue account a new API key and secret: from now on the venue refuses the old
    /// key (-2015), as after an operator rotates or revokes keys at the exchange.
    ///
    /// # Errors
    /// [`SandboxError::Admin`] when the venue refuses the rotation.
    pub async fn rotate_venue_keys(
        &self,
        account: &str,
        api_key: &str,
        secret: &str,
    ) -> Result<(), SandboxError> {
        let body = json!({"api_key": api_key, "secret": secret});
        let path = format!("/admin/accounts/{account}/keys");
        let r = self
            .http
            .post(format!("{}{path}", self.venue.base_url()))
            .json(&body)
            .send()
            .await;
        // Never the body in the error: it holds the keys.
        match r {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(SandboxError::Admin {
                path,
                reason: format!("refused: {}", r.status()),
            }),
            Err(e) => Err(SandboxError::Admin {
                path,
                reason: e.without_url().to_string(),
            }),
        }
    }

    /// Stores new keys as a new version of a venue account's secret (`PutSecretValue`), as an
    /// operator does after rotating them.
    ///
    /// # Errors
    /// [`SandboxError::Secret`] when the account has no secret or Secrets Manager refuses.
    pub async fn put_account_secret(
        &self,
        account: &str,
        api_key: &str,
        secret: &str,
    ) -> Result<(), SandboxError> {
        let id = self
            .secret_id(account)
            .ok_or_else(|| SandboxError::Secret {
                name: account.to_owned(),
                reason: "no such venue account".to_owned(),
            })?;
        self.secrets
            .put_secret_value()
            .secret_id(id)
            .secret_string(json!({"api_key": api_key, "api_secret": secret}).to_string())
            .send()
            .await
            .map_err(|e| SandboxError::Secret {
                name: id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    pub async fn set_faults(&self, faults: Value) {
        if let Err(e) = self
            .try_admin_send(reqwest::Method::PUT, "/admin/faults", &faults)
            .await
        {
            panic!("{e}");
        }
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
        let id = match PortfolioId::new(portfolio) {
            Ok(id) => id,
            Err(e) => panic!("portfolio id {portfolio}: {e}"),
        };
        match self.store.orders(&id).await {
            Ok(orders) => orders,
            Err(e) => panic!("ledger: {e}"),
        }
    }

    /// Moves the shared clock to the next schedule tick.
    pub fn next_tick(&self) {
        self.clock.advance(i64::from(PERIOD_SECONDS) * 1000);
    }

    /// Messages in the dead-letter queue, with their `driftline-error` reason.
    pub async fn dead_letters(&self) -> Vec<(String, Option<String>)> {
        match self.try_dead_letters().await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Messages in the dead-letter queue (up to ten), with their `driftline-error` reason.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses the receive.
    pub async fn try_dead_letters(&self) -> Result<Vec<(String, Option<String>)>, SandboxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage(dlq)"))?;
        Ok(out
            .messages
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
            .collect())
    }

    /// Stops the paper exchange. The emulator's resources are uniquely named and left to it.
    pub async fn stop(self) {
        self.venue.stop().await;
    }
}

/// Keeps `OrderLedger` in scope for callers that use the store's trait methods.
pub fn ledger(world: &World) -> &dyn OrderLedger {
    world.store.as_ref()
}
