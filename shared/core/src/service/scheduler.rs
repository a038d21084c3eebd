//! The scheduler: for each portfolio, one cycle per tick. Take the lease, refuse a tick that is
//! not newer than the last cycle, reconcile the orders not yet final with the exchange, read
//! balances, books and filters, plan with core's planner, record the intents and queue them,
//! store the drift snapshot, release the lease. Every exchange call goes through the shared
//! circuit breaker: while it is open the cycle sends nothing. A cycle that planned orders, or
//! found orders ended since the previous one, tells the owner ([`crate::notify`]).
//! [`Scheduler::preview`] is the same planning step with nothing written or placed, for
//! `driftline plan --live`.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{info, warn, Instrument};

use super::guard::BreakerGuard;
use crate::config::{ConfigError, PortfolioSpec};
use crate::control::{CycleRecord, DeploymentControls, Stop};
use crate::notify::{ended_since, CycleReport, Notice};
use crate::orders::{IntentEnvelope, OrderRecord, OrderTracker, RecordOutcome, TrackError};
use crate::ports::{
    BreakerStore, Clock, CycleLeases, DriftHistory, Exchange, ExchangeError, IntentQueue, Lease,
    LeaseOutcome, MarketFilterCache, MetricsSink, Notifier, OrderLedger, OrderReport,
    PortfolioConfigs, RandomSource, StoreError,
};
use crate::{
    plan, BookWalkCostModel, BreakerConfig, ClientOrderId, CycleId, DomainError, EpochMillis, Fees,
    Holdings, InFlightOrder, MarketSnapshot, Markets, OrderIntent, OrderStatus, Portfolio,
    PortfolioId, RebalancePlan, Symbol,
};

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub exchange_name: String,
    /// How long a cycle may hold a portfolio's lease before another may take it.
    pub lease_ttl_ms: i64,
    /// Portfolios planned at once.
    pub concurrency: usize,
    pub book_depth: u16,
    /// A PENDING order older than this was probably never queued: send it again.
    pub stale_pending_ms: i64,
    /// The account's fee tier, for the cost model and the buy budget.
    pub fees: Fees,
    pub breaker: BreakerConfig,
    /// How long a closed breaker read from the store is trusted in this container.
    pub breaker_reuse_ms: i64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            exchange_name: "binance".into(),
            lease_ttl_ms: 120_000,
            concurrency: 4,
            book_depth: 20,
            stale_pending_ms: 120_000,
            fees: Fees::default(),
            breaker: BreakerConfig::default(),
            breaker_reuse_ms: 2_000,
        }
    }
}

#[derive(Clone)]
pub struct SchedulerPorts {
    pub configs: Arc<dyn PortfolioConfigs>,
    pub exchanges: Arc<dyn crate::ports::ExchangeAccounts>,
    pub ledger: Arc<dyn OrderLedger>,
    pub leases: Arc<dyn CycleLeases>,
    pub history: Arc<dyn DriftHistory>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub breakers: Arc<dyn BreakerStore>,
    pub controls: Arc<dyn DeploymentControls>,
    pub queue: Arc<dyn IntentQueue>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub metrics: Arc<dyn MetricsSink>,
    /// Where the owner is told of breaker transitions (and, by the scheduler, of cycles that
    /// traded); [`crate::ports::Silent`] when nobody listens.
    pub notifier: Arc<dyn Notifier>,
}

/// Why a portfolio's cycle failed. The other portfolios go on.
#[derive(Debug, Error)]
pub enum CycleError {
    #[error("no configuration stored for this portfolio")]
    NotConfigured,
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
    #[error("{0}")]
    Domain(#[from] DomainError),
}

impl From<TrackError> for CycleError {
    fn from(e: TrackError) -> Self {
        match e {
            TrackError::Store(e) => Self::Store(e),
            TrackError::Exchange(e) => Self::Exchange(e),
        }
    }
}

/// An asset the plan left alone although it was out of its band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub asset: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PortfolioOutcome {
    /// The cycle ran: `orders` intents planned, `queued` sent to the queue now.
    Planned {
        orders: usize,
        queued: usize,
        reconciled: usize,
        skipped: Vec<Skipped>,
    },
    /// Another invocation holds this portfolio's lease.
    LeaseHeld {
        owner: String,
    },
    /// This cycle already ran for this portfolio (a redelivered tick).
    AlreadyRan,
    /// A later cycle already ran: a tick delivered late (or again, much later) plans nothing.
    Stale {
        newest: String,
    },
    /// The exchange's circuit breaker is open (a cooldown or a ban): nothing was sent.
    BreakerOpen {
        retry_at_ms: EpochMillis,
    },
    /// The deployment is halted (`driftline halt`): nothing was planned or sent.
    Halted {
        reason: String,
    },
    /// This portfolio is paused (`driftline portfolio pause`): no cycle plans it.
    Paused {
        reason: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioSummary {
    pub portfolio_id: String,
    pub cycle_id: String,
    #[serde(flatten)]
    pub outcome: PortfolioOutcome,
}

/// What a cycle would plan now, with nothing written or placed ([`Scheduler::preview`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub plan: RebalancePlan,
    /// The orders the plan counted as in flight.
    pub in_flight: Vec<InFlightOrder>,
    /// The pause in force: no cycle plans this portfolio until it is resumed.
    pub paused: Option<Stop>,
}

/// A cycle's plan, what it counted as in flight, and the time it was made at.
struct Planned {
    plan: RebalancePlan,
    in_flight: Vec<InFlightOrder>,
    now: EpochMillis,
}

pub struct Scheduler {
    ports: SchedulerPorts,
    settings: SchedulerSettings,
    tracker: OrderTracker,
    breaker: Arc<BreakerGuard>,
}

impl Scheduler {
    pub fn new(ports: SchedulerPorts, settings: SchedulerSettings) -> Self {
        let (tracker, breaker) = super::lifecycle(
            &ports.ledger,
            &ports.queue,
            &ports.filters,
            &ports.breakers,
            &ports.clock,
            ports.random.as_ref(),
            &ports.metrics,
            &settings.exchange_name,
            settings.breaker,
            settings.breaker_reuse_ms,
            &ports.notifier,
        );
        Self {
            ports,
            settings,
            tracker,
            breaker,
        }
    }

    /// Runs `cycle` for the given portfolios, or for every configured one.
    ///
    /// # Errors
    /// [`StoreError`] only when the list of portfolios cannot be read; a portfolio's own failure
    /// is in its summary.
    pub async fn run(
        &self,
        cycle: &CycleId,
        only: Option<&[PortfolioId]>,
        owner: &str,
    ) -> Result<Vec<PortfolioSummary>, StoreError> {
        let ids = match only {
            Some(ids) => ids.to_vec(),
            None => self.ports.configs.portfolio_ids().await?,
        };
        // The halt and the breaker, in one read at the start of every invocation: while either
        // stops trading no portfolio is looked at, not even a lease is taken.
        let controls = self
            .ports
            .controls
            .read(&self.settings.exchange_name)
            .await?;
        let stopped = match (controls.halt, self.breaker.check_read(controls.breaker)) {
            (Some(halt), _) => {
                warn!(reason = %halt.reason, by = %halt.by, "deployment halted: no cycle runs");
                Some(PortfolioOutcome::Halted {
                    reason: halt.reason,
                })
            }
            (None, Some(retry_at_ms)) => {
                warn!(retry_at_ms, "circuit breaker open: no cycle runs");
                Some(PortfolioOutcome::BreakerOpen { retry_at_ms })
            }
            (None, None) => None,
        };
        if let Some(outcome) = stopped {
            return Ok(ids
                .iter()
                .map(|id| PortfolioSummary {
                    portfolio_id: id.to_string(),
                    cycle_id: cycle.to_string(),
                    outcome: outcome.clone(),
                })
                .collect());
        }
        let mut summaries: Vec<PortfolioSummary> = stream::iter(ids)
            .map(|id| async move {
                let span = tracing::info_span!("portfolio", portfolio = %id, cycle = %cycle);
                let outcome = self.run_portfolio(&id, cycle, owner).instrument(span).await;
                PortfolioSummary {
                    portfolio_id: id.to_string(),
                    cycle_id: cycle.to_string(),
                    outcome,
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        summaries.sort_by(|a, b| a.portfolio_id.cmp(&b.portfolio_id));
        Ok(summaries)
    }

    fn now(&self) -> EpochMillis {
        self.ports.clock.now_ms()
    }

    async fn run_portfolio(
        &self,
        id: &PortfolioId,
        cycle: &CycleId,
        owner: &str,
    ) -> PortfolioOutcome {
        let stored = match self.ports.configs.portfolio(id).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                return PortfolioOutcome::Failed {
                    error: CycleError::NotConfigured.to_string(),
                }
            }
            Err(e) => {
                return PortfolioOutcome::Failed {
                    error: CycleError::Store(e).to_string(),
                }
            }
        };
        // A paused portfolio is planned by no cycle: no lease, no exchange call.
        if let Some(pause) = stored.paused {
            info!(reason = %pause.reason, by = %pause.by, "portfolio paused: skipped");
            return PortfolioOutcome::Paused {
                reason: pause.reason,
            };
        }
        let lease = match self
            .ports
            .leases
            .acquire(id, owner, cycle, self.now(), self.settings.lease_ttl_ms)
            .await
        {
            Ok(LeaseOutcome::Acquired(lease)) => lease,
            Ok(LeaseOutcome::HeldBy(l)) => {
                info!(owner = %l.owner, "lease held by another invocation: skipped");
                return PortfolioOutcome::LeaseHeld { owner: l.owner };
            }
            Ok(LeaseOutcome::Lost) => {
                return PortfolioOutcome::LeaseHeld {
                    owner: "unknown".into(),
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot take the lease");
                return PortfolioOutcome::Failed {
                    error: format!("lease: {e}"),
                };
            }
        };
        let outcome = match self.cycle(id, cycle, stored.spec).await {
            Ok(outcome) => outcome,
            Err(CycleError::Exchange(ExchangeError::BreakerOpen { retry_at_ms })) => {
                warn!(retry_at_ms, "circuit breaker open: the cycle stopped");
                PortfolioOutcome::BreakerOpen { retry_at_ms }
            }
            Err(e) => {
                warn!(error = %e, "cycle failed");
                PortfolioOutcome::Failed {
                    error: e.to_string(),
                }
            }
        };
        let record = CycleRecord {
            cycle_id: cycle.clone(),
            at_ms: self.now(),
            outcome: outcome.clone(),
        };
        self.release(&lease, &record).await;
        outcome
    }

    async fn release(&self, lease: &Lease, record: &CycleRecord) {
        match self.ports.leases.release(lease, record).await {
            Ok(true) => {}
            Ok(false) => warn!("lease was taken over before release: the cycle ran past its TTL"),
            Err(e) => warn!(error = %e, "could not release the lease; it expires on its own"),
        }
    }

    async fn cycle(
        &self,
        id: &PortfolioId,
        cycle: &CycleId,
        spec: PortfolioSpec,
    ) -> Result<PortfolioOutcome, CycleError> {
        let account = spec.account.clone();
        let (configured, policy) = spec.into_domain()?;
        let history = self.history(id, &policy).await?;
        // Cycle ids are the tick's time floored to the period, in one fixed-width format: their
        // order is the ticks' order.
        // What the previous cycle left open: the orders of those that ended since are in this
        // cycle's notice.
        let previous = history.first().map(|h| {
            (
                (h.snapshot.cycle_id.clone(), h.recorded_at_ms),
                h.open_orders.clone(),
            )
        });
        if let Some(newest) = history.first().map(|h| &h.snapshot.cycle_id) {
            if newest == cycle {
                info!("cycle already ran for this portfolio: skipped");
                return Ok(PortfolioOutcome::AlreadyRan);
            }
            if newest > cycle {
                warn!(%newest, "a later cycle already ran: this tick is stale and plans nothing");
                return Ok(PortfolioOutcome::Stale {
                    newest: newest.to_string(),
                });
            }
        }
        let client = self.ports.exchanges.exchange(account.as_deref()).await?;
        let exchange = self.breaker.guard(client);
        let ex = exchange.as_ref();

        let reconciled = self.reconcile(ex, id).await?;
        // One read of the portfolio's orders after the reconcile, final ones included (the same
        // query as the open ones alone): the open ones for the plan, the ended ones for the
        // owner.
        let orders = self.ports.ledger.orders(id).await?;
        let open: Vec<OrderRecord> = orders
            .iter()
            .filter(|r| !r.status.is_final())
            .cloned()
            .collect();
        let Planned { plan, now, .. } = self
            .plan_now(ex, id, cycle, &configured, &policy, account, history, &open)
            .await?;

        let mut to_send: Vec<OrderIntent> = Vec::new();
        for outcome in self.ports.ledger.record_all(&plan.intents, now).await? {
            match outcome {
                RecordOutcome::Recorded(r) => to_send.push(r.intent),
                RecordOutcome::AlreadyRecorded(r) if r.status == OrderStatus::Pending => {
                    to_send.push(r.intent);
                }
                RecordOutcome::AlreadyRecorded(_) => {}
            }
        }
        let queued = self.send(&to_send).await;
        // The orders open as this cycle ends, kept with its snapshot for the next one's notice.
        let mut open_now: Vec<ClientOrderId> = open
            .iter()
            .map(|r| r.intent.client_order_id.clone())
            .chain(plan.intents.iter().map(|i| i.client_order_id.clone()))
            .collect();
        open_now.sort();
        open_now.dedup();
        self.ports
            .history
            .record_cycle(&plan.snapshot, &open_now, now)
            .await?;
        for a in &plan.snapshot.assets {
            self.ports
                .metrics
                .drift(id, &a.asset, a.drift * Decimal::ONE_HUNDRED);
        }
        self.ports.metrics.cycle_completed(id);
        let skipped = plan
            .decisions
            .iter()
            .filter(|d| d.reason.is_skipped_trade())
            .map(|d| Skipped {
                asset: d.asset.to_string(),
                reason: d.reason.to_string(),
            })
            .collect();
        for i in &plan.intents {
            info!(client_order_id = %i.client_order_id, symbol = %i.symbol, side = %i.side, quantity = %i.quantity, limit = %i.limit_price, "intent planned");
        }
        info!(
            orders = plan.intents.len(),
            queued, reconciled, "cycle planned"
        );
        let (previous, open_before) = previous.unzip();
        let report = CycleReport {
            portfolio_id: id.clone(),
            cycle_id: cycle.clone(),
            at_ms: now,
            quote: configured.quote().clone(),
            ended: ended_since(&orders, open_before.as_deref().unwrap_or_default()),
            planned: plan.intents.clone(),
            previous,
        };
        // Once the snapshot holds what is open now: a notice is sent at most once.
        if report.traded() {
            self.ports
                .notifier
                .notify(&Notice::CycleTraded(report))
                .await;
        }
        Ok(PortfolioOutcome::Planned {
            orders: plan.intents.len(),
            queued,
            reconciled,
            skipped,
        })
    }

    /// What the next cycle would plan for `id` now, from the inputs a cycle gathers (the stored
    /// spec, the account's balances, filters and books, the orders in flight, the drift
    /// history), with nothing placed and no lease, reconciliation, record, message or snapshot
    /// (`driftline plan --live`). The one write left is the filter port's: filters missing
    /// from the cache are fetched and handed to it as a cycle does (the console's port keeps
    /// nothing). Its exchange calls go to the account's client directly, not through the
    /// shared breaker, so that an operator's look never counts toward opening it; a paused
    /// portfolio is planned all the same, and the pause returned.
    ///
    /// # Errors
    /// [`CycleError::NotConfigured`] for an unknown portfolio, else what a cycle would meet.
    pub async fn preview(&self, id: &PortfolioId, cycle: &CycleId) -> Result<Preview, CycleError> {
        let stored = self
            .ports
            .configs
            .portfolio(id)
            .await?
            .ok_or(CycleError::NotConfigured)?;
        let account = stored.spec.account.clone();
        let (configured, policy) = stored.spec.into_domain()?;
        let history = self.history(id, &policy).await?;
        let client = self.ports.exchanges.exchange(account.as_deref()).await?;
        let open = self.ports.ledger.open_orders(id).await?;
        let Planned {
            plan, in_flight, ..
        } = self
            .plan_now(
                client.as_ref(),
                id,
                cycle,
                &configured,
                &policy,
                account,
                history,
                &open,
            )
            .await?;
        Ok(Preview {
            plan,
            in_flight,
            paused: stored.paused,
        })
    }

    /// The drift history velocity needs, newest first.
    async fn history(
        &self,
        id: &PortfolioId,
        policy: &crate::RebalancePolicy,
    ) -> Result<Vec<crate::ports::RecordedSnapshot>, StoreError> {
        let window = policy.velocity.map(|v| v.window.window).unwrap_or(3).max(1);
        self.ports
            .history
            .latest(id, u16::try_from(window).unwrap_or(u16::MAX))
            .await
    }

    /// The planning step of a cycle, after reconciliation: from the orders not yet final, the
    /// free balances and the markets, the plan made with the drift history.
    #[allow(clippy::too_many_arguments)]
    async fn plan_now(
        &self,
        ex: &dyn Exchange,
        id: &PortfolioId,
        cycle: &CycleId,
        configured: &Portfolio,
        policy: &crate::RebalancePolicy,
        account: Option<String>,
        history: Vec<crate::ports::RecordedSnapshot>,
        open: &[OrderRecord],
    ) -> Result<Planned, CycleError> {
        let in_flight = in_flight(open);
        let balances = ex.balances().await?;
        let holdings = Holdings::new(
            balances
                .into_iter()
                .filter(|b| configured.targets().contains(&b.asset))
                .map(|b| (b.asset, b.free)),
        )?;
        let portfolio = Portfolio::new(
            id.clone(),
            configured.quote().clone(),
            holdings,
            configured.targets().clone(),
        )?;
        let markets = self.markets(ex, &portfolio).await?;
        let snapshots: Vec<_> = history.into_iter().map(|h| h.snapshot).collect();
        let now = self.now();
        let request = crate::PlanRequest {
            portfolio: &portfolio,
            in_flight: &in_flight,
            markets: &markets,
            policy,
            fees: self.settings.fees,
            history: &snapshots,
            cycle,
            now_ms: now,
        };
        let model = BookWalkCostModel {
            fees: self.settings.fees,
            liquidity: policy.fee_liquidity,
        };
        let mut plan = plan(&request, &model)?;
        for intent in &mut plan.intents {
            intent.account.clone_from(&account);
        }
        Ok(Planned {
            plan,
            in_flight,
            now,
        })
    }

    /// Sends intents to the queue; those that fail stay PENDING and are re-sent next cycle.
    async fn send(&self, intents: &[OrderIntent]) -> usize {
        if intents.is_empty() {
            return 0;
        }
        let messages: Vec<IntentEnvelope> =
            intents.iter().cloned().map(IntentEnvelope::new).collect();
        match self.ports.queue.send(&messages, 0).await {
            Ok(report) => {
                for (id, reason) in &report.failed {
                    warn!(client_order_id = %id, %reason, "intent not queued; re-sent next cycle");
                }
                report.sent.len()
            }
            Err(e) => {
                warn!(error = %e, "intents not queued; re-sent next cycle");
                0
            }
        }
    }

    async fn markets(
        &self,
        ex: &dyn Exchange,
        portfolio: &Portfolio,
    ) -> Result<Markets, CycleError> {
        let mut markets = Markets::new();
        for asset in portfolio
            .targets()
            .assets()
            .filter(|a| *a != portfolio.quote())
        {
            let symbol = Symbol::new(asset.clone(), portfolio.quote().clone())?;
            let filters = self.tracker.filters(ex, &symbol).await?;
            let book = ex.order_book(&symbol, self.settings.book_depth).await?;
            markets.insert(asset.clone(), MarketSnapshot { filters, book });
        }
        Ok(markets)
    }

    /// Brings every order not yet final up to date with the exchange: records fills, cancels
    /// resting orders past their deadline, expires queued ones past theirs, finishes re-prices
    /// an executor left half done, and re-sends pending ones whose message was probably lost.
    /// Returns how many records changed. Stops at once when the breaker refuses a call.
    async fn reconcile(&self, ex: &dyn Exchange, id: &PortfolioId) -> Result<usize, CycleError> {
        let now = self.now();
        let mut changed = 0;
        let mut resend = Vec::new();
        for record in self.ports.ledger.open_orders(id).await? {
            let intent = record.intent.clone();
            let expired = now >= intent.expires_at_ms;
            let outcome: Result<bool, CycleError> = match record.status {
                OrderStatus::Pending | OrderStatus::Queued if expired => {
                    Ok(self.expire_unplaced(&record).await?)
                }
                OrderStatus::Pending
                    if now - record.updated_at_ms > self.settings.stale_pending_ms =>
                {
                    resend.push(intent.clone());
                    Ok(false)
                }
                OrderStatus::Placing if record.claim_expires_at_ms.is_some_and(|e| e < now) => {
                    // Its executor died mid-flight: the exchange says whether it was placed.
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => self.apply(ex, record, &report).await,
                        Err(ExchangeError::NotFound { .. }) if expired => {
                            Ok(self.expire_unplaced(&record).await?)
                        }
                        Err(ExchangeError::NotFound { .. }) => {
                            resend.push(intent.clone());
                            Ok(false)
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                OrderStatus::Placed | OrderStatus::PartiallyFilled => {
                    self.reconcile_resting(ex, record, expired).await
                }
                OrderStatus::Repricing => {
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => {
                            info!(client_order_id = %intent.client_order_id, "finishing a re-price an executor left half done");
                            self.tracker
                                .finish_reprice(ex, record, report, None)
                                .await
                                .map(|_| true)
                                .map_err(CycleError::from)
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                _ => Ok(false),
            };
            match outcome {
                Ok(c) => changed += usize::from(c),
                Err(CycleError::Exchange(e)) if stops_the_cycle(&e) => {
                    return Err(CycleError::Exchange(e))
                }
                Err(CycleError::Exchange(e)) => {
                    warn!(client_order_id = %intent.client_order_id, error = %e, "cannot reconcile now");
                }
                Err(e) => return Err(e),
            }
        }
        if !resend.is_empty() {
            info!(
                count = resend.len(),
                "re-sending orders whose message was probably lost"
            );
            self.send(&resend).await;
        }
        Ok(changed)
    }

    /// An order never placed whose deadline passed.
    async fn expire_unplaced(&self, record: &OrderRecord) -> Result<bool, StoreError> {
        let why = "deadline passed before placement".to_owned();
        self.tracker
            .close(record, OrderStatus::Expired, Some(why))
            .await
    }

    /// A resting order: its fills recorded, and cancelled when past its deadline.
    async fn reconcile_resting(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        expired: bool,
    ) -> Result<bool, CycleError> {
        let intent = &record.intent;
        let report = ex.order(&intent.symbol, &intent.client_order_id).await?;
        let report = if expired && !report.status.is_final() {
            match ex
                .cancel_order(&intent.symbol, &intent.client_order_id)
                .await
            {
                Ok(r) => {
                    info!(client_order_id = %intent.client_order_id, "resting past its deadline: cancelled");
                    r
                }
                Err(e) if stops_the_cycle(&e) => return Err(e.into()),
                Err(e) => {
                    warn!(client_order_id = %intent.client_order_id, error = %e, "cannot cancel now");
                    report
                }
            }
        } else {
            report
        };
        self.apply(ex, record, &report).await
    }

    /// Applies a report; true when the record changed.
    async fn apply(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: &OrderReport,
    ) -> Result<bool, CycleError> {
        let before = record.version;
        let after = self.tracker.apply_report(ex, record, report).await?;
        Ok(after.version != before)
    }
}

/// Whether an exchange error means no further call may be sent in this cycle.
fn stops_the_cycle(e: &ExchangeError) -> bool {
    matches!(
        e,
        ExchangeError::BreakerOpen { .. }
            | ExchangeError::Banned { .. }
            | ExchangeError::RateLimited { .. }
    )
}

/// The orders the plan must count as in flight. A leg being re-priced counts until its next
/// leg is recorded; once that one is, only the next leg counts (both are open for a moment).
pub fn in_flight(open: &[OrderRecord]) -> Vec<InFlightOrder> {
    let succeeded = |r: &OrderRecord| {
        open.iter().any(|next| {
            let (a, b) = (&r.intent, &next.intent);
            b.leg == a.leg + 1
                && b.cycle_id == a.cycle_id
                && b.symbol == a.symbol
                && b.side == a.side
                && b.portfolio_id == a.portfolio_id
        })
    };
    open.iter()
        .filter(|r| !(r.status == OrderStatus::Repricing && succeeded(r)))
        .map(|r| InFlightOrder {
            symbol: r.intent.symbol.clone(),
            side: r.intent.side,
            remaining: (r.intent.quantity - r.filled_qty).max(Decimal::ZERO),
            limit_price: r.intent.limit_price,
        })
        .collect()
}
