//! `driftline plan --live ID`: what the next cycle would do for a deployed portfolio, now. The
//! scheduler's own planning step ([`Scheduler::preview`]) on the deployment's adapters: the
//! stored spec, the account's real balances and books through the exchange adapter (its client
//! built from the account's secret, as the functions build it), the market filters, the orders
//! in flight and the drift history for velocity. `driftline plan` prints the result.
//!
//! Nothing is written and nothing placed: the preview takes no lease, reconciles nothing,
//! records nothing and stores no snapshot; its queue refuses every call ([`NothingSent`]) and its
//! filter cache keeps what it reads from the exchange to itself (`WarmFilters::read_only`), so a
//! mistake in that promise fails loudly instead of trading.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use driftline_aws::AccountSecrets;
use driftline_core::control::Stop;
use driftline_core::orders::{ExecutionQuality, IntentEnvelope};
use driftline_core::ports::{
    IntentQueue, MetricsSink, Ports, ReceivedIntent, SendReport, StoreError, StorePorts,
};
use driftline_core::service::scheduler::{CycleError, Scheduler, SchedulerSettings};
use driftline_core::service::warm::WarmFilters;
use driftline_core::{
    Asset, CycleId, DecisionReason, InFlightOrder, OrderStatus, PortfolioId, RebalancePlan,
};
use driftline_functions::wiring::{Jitter, SecretAccounts, WallClock};

use super::orders::unknown_portfolio;
use super::{block_on, outputs, Console, ConsoleError, Target};

/// The queue of a preview: it sends nothing, and says so if asked to.
pub struct NothingSent;

fn refused(operation: &'static str) -> StoreError {
    StoreError::Unavailable {
        service: "sqs",
        operation,
        reason: "a live plan sends nothing".into(),
    }
}

#[async_trait]
impl IntentQueue for NothingSent {
    async fn send(&self, _: &[IntentEnvelope], _: u32) -> Result<SendReport, StoreError> {
        Err(refused("SendMessageBatch"))
    }
    async fn receive(&self, _: u8, _: u8) -> Result<Vec<ReceivedIntent>, StoreError> {
        Err(refused("ReceiveMessage"))
    }
    async fn retry_later(&self, _: &str, _: u32) -> Result<(), StoreError> {
        Err(refused("ChangeMessageVisibility"))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(refused("DeleteMessage"))
    }
}

/// A preview emits no metric.
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn drift(&self, _: &PortfolioId, _: &Asset, _: rust_decimal::Decimal) {}
    fn cycle_completed(&self, _: &PortfolioId) {}
    fn execution_attempt(&self, _: bool, _: Option<i64>) {}
    fn order_final(&self, _: OrderStatus, _: &ExecutionQuality) {}
    fn rate_limit_hit(&self) {}
}

/// What the next cycle would plan.
#[derive(Debug, Clone)]
pub struct LivePlan {
    pub plan: RebalancePlan,
    pub quote: String,
    /// The orders the plan counted as in flight.
    pub in_flight: Vec<InFlightOrder>,
    /// The pause in force: the scheduler would skip the portfolio; this is what it would plan
    /// once resumed.
    pub paused: Option<Stop>,
}

/// The scheduler on the deployment's adapters, wired so that it can neither send nor cache.
fn scheduler(console: &Console) -> Result<Scheduler, ConsoleError> {
    let store = Arc::new(console.store()?);
    let secret = console.deployment.require(outputs::EXCHANGE_SECRET)?;
    let base_url = console.deployment.require(outputs::EXCHANGE_BASE_URL)?;
    let clock: Arc<dyn driftline_core::ports::Clock> = Arc::new(WallClock);
    let accounts = SecretAccounts::new(
        AccountSecrets::new(
            aws_sdk_secretsmanager::Client::new(&console.sdk),
            Duration::from_secs(300),
        ),
        secret.to_owned(),
        base_url.to_owned(),
        clock.clone(),
    )
    .map_err(|e| ConsoleError::Input(format!("{}: {e}", outputs::EXCHANGE_BASE_URL.1)))?;
    Ok(Scheduler::new(
        Ports {
            store: StorePorts {
                filters: Arc::new(WarmFilters::read_only(store.clone())),
                ..StorePorts::on(store)
            },
            exchanges: Arc::new(accounts),
            queue: Arc::new(NothingSent),
            clock,
            random: Arc::new(Jitter),
            metrics: Arc::new(NoMetrics),
            // A preview tells nobody (it never reaches the cycle's notice).
            notifier: Arc::new(driftline_core::ports::Silent),
        },
        SchedulerSettings::default(),
    ))
}

/// What the next cycle would plan for `id`, named `cycle`.
///
/// # Errors
/// [`ConsoleError::Refused`] for an unknown portfolio or what the cycle would meet (an
/// unreadable secret, an exchange error), [`ConsoleError::MissingOutput`] without the exchange
/// or its secret.
pub async fn preview(
    console: &Console,
    id: &str,
    cycle: &CycleId,
) -> Result<LivePlan, ConsoleError> {
    let id =
        PortfolioId::new(id).map_err(|e| ConsoleError::Input(format!("--live {id:?}: {e}")))?;
    let scheduler = scheduler(console)?;
    let table = console.deployment.require(outputs::TABLE)?.to_owned();
    let preview = scheduler.preview(&id, cycle).await.map_err(|e| match e {
        CycleError::NotConfigured => unknown_portfolio(&id, &table),
        CycleError::Store(e) => ConsoleError::Store(e),
        other => ConsoleError::Refused(format!("portfolio {id}: {other}")),
    })?;
    // The quote asset is the one the plan settles with, not traded itself.
    let quote = preview
        .plan
        .decisions
        .iter()
        .find(|d| d.reason == DecisionReason::QuoteAsset)
        .map(|d| d.asset.to_string())
        .unwrap_or_default();
    Ok(LivePlan {
        plan: preview.plan,
        quote,
        in_flight: preview.in_flight,
        paused: preview.paused,
    })
}

/// `driftline plan --live ID`, for `driftline plan` to print.
///
/// # Errors
/// As [`preview`], and what finding the deployment meets.
pub fn run(target: &Target, id: &str, cycle: &CycleId) -> Result<LivePlan, ConsoleError> {
    block_on(async {
        let console = Console::connect(
            target,
            &[
                outputs::TABLE,
                outputs::EXCHANGE_SECRET,
                outputs::EXCHANGE_BASE_URL,
            ],
        )
        .await?;
        preview(&console, id, cycle).await
    })
}
