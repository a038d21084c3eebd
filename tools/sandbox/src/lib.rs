//! A whole driftline on one machine, for `make demo` and the end-to-end tests: the local AWS
//! emulator (one table, the intents queue and its dead-letter queue, one Secrets Manager secret
//! per exchange account, all uniquely named), the paper exchange in-process on a loopback port
//! (or several, one per venue dialect, each with its own accounts),
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
//!
//! [`World::replay`] drives a price path step by step through both handlers and reports the
//! fills ([`replay`]): the backtest's execution model is calibrated against it.

pub mod accounting;
mod capture;
mod drive;
pub mod inbox;
mod launch;
pub mod overhead;
pub mod placements;
pub mod replay;
pub mod steps;
mod venue;

pub use venue::is_copy_of;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use driftline_aws::{DynamoStore, SqsIntentQueue};
use driftline_core::config::PortfolioSpec;
use driftline_core::ports::{DeadLetters, RetryBackoff};

use crate::accounting::{AwsCalls, Tally};
use crate::placements::Placements;
use driftline_core::service::executor::{Executor, ExecutorSettings};
use driftline_core::service::scheduler::{Scheduler, SchedulerSettings};
use driftline_core::testing::RecordedNotices;
use driftline_core::EpochMillis;
use paper_exchange::clock::ManualClock;
use paper_exchange::PaperExchange;
use serde_json::json;
use thiserror::Error;

pub use capture::{captured_logs, Captured, Counter};
pub use drive::ShardInvocation;
pub use launch::{emulator, emulator_config};
pub use steps::{first_orders_placed, first_tick_plans_two, planned};

pub const KEY: &str = "demo-key";
pub const SECRET: &str = "demo-secret-value-never-logged";
/// A minute boundary: the venue's weight windows start here.
pub const T0: EpochMillis = 1_800_000_000_000;
pub const PERIOD_SECONDS: u32 = 300;

/// The article's market as paper-exchange configuration (fees, limits, BTC around 64,230 and
/// ETH around 3,450, deep books, no random walk), without accounts: venues add their own with
/// `concat!(article_market!(), paper_account!(...))`.
pub use paper_exchange::{article_market, paper_account};

/// The article's market with its one account, `demo` ([`KEY`], [`SECRET`]), holding
/// `balances`: `article_venue!(balances = { BTC = "3", ETH = "0", USDT = "1000" })`.
#[macro_export]
macro_rules! article_venue {
    (balances = { $($asset:ident = $amount:literal),+ }) => {
        concat!(
            $crate::article_market!(),
            $crate::paper_account!("demo", key = "demo-key", secret = "demo-secret-value-never-logged",
                balances = { $($asset = $amount),+ }),
        )
    };
}

/// The article's market with one account holding the article's portfolio.
pub const ARTICLE_VENUE: &str =
    article_venue!(balances = { BTC = "1.5", ETH = "25", USDT = "20000" });

/// `n` copies of the article's portfolio (`article-1` …), each on its own account (`p1` …) of
/// the article's market: the venue as paper-exchange configuration, and the specs.
pub fn articles(n: usize) -> (String, Vec<PortfolioSpec>) {
    let mut venue = String::from(article_market!());
    let mut specs = Vec::with_capacity(n);
    for i in 1..=n {
        venue.push_str(&format!(
            "\n[[accounts]]\nname = \"p{i}\"\napi_key = \"p{i}-key\"\n\
             secret = \"p{i}-secret-never-logged\"\n\
             balances = {{ BTC = \"1.5\", ETH = \"25\", USDT = \"20000\" }}\n"
        ));
        specs.push(PortfolioSpec {
            id: format!("article-{i}"),
            account: Some(format!("p{i}")),
            ..article_spec()
        });
    }
    (venue, specs)
}

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
    #[error("account {0:?} is on two venues: account names must be unique across them")]
    AccountOnTwoVenues(String),
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
    #[error("replay: {0}")]
    Replay(String),
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
    /// The world's first venue (the only one, unless it was launched with several).
    pub venue: PaperExchange,
    /// Its other venues, each a paper exchange of its own dialect with its own accounts.
    pub more_venues: Vec<PaperExchange>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsIntentQueue>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dead_letter_url: String,
    /// The scheduler's shard queue ([`World::fan_out`], [`World::drain_shards`]) and its
    /// dead-letter queue.
    pub shards_url: String,
    pub shards_dead_letter_url: String,
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
    /// What the two services were wired from, to wire them again with other settings.
    wired: Wired,
}

/// The adapters and settings each service was built from ([`World::follow_up_by`]).
#[derive(Clone)]
struct Wired {
    scheduler: (driftline_functions::wiring::Adapters, SchedulerSettings),
    executor: (driftline_functions::wiring::Adapters, ExecutorSettings),
}

/// The sandbox's fast retry timing: SQS delays are real seconds on the emulator.
pub const BACKOFF: RetryBackoff = RetryBackoff {
    base_secs: 1,
    cap_secs: 2,
};
pub const FOLLOW_UP_DELAY_SECS: u32 = 1;
/// How long a received message stays invisible when nobody says otherwise.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 30;
