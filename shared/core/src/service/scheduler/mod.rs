//! The scheduler: for each portfolio, one cycle per tick. Take the lease, refuse a tick that is
//! not newer than the last cycle, reconcile the orders not yet final with the exchange, read
//! balances, books and filters, plan with core's planner, record the intents and queue them,
//! store the drift snapshot, release the lease. Every exchange call goes through the breaker of
//! the account's venue: while it is open that venue's portfolios are not looked at and send
//! nothing; other venues' portfolios go on. A cycle that planned orders, or
//! found orders ended since the previous one, tells the owner ([`crate::notify`]).
//! [`Scheduler::preview`] is the same planning step with nothing written or placed, for
//! `driftline plan --live`.

mod fan_out;
mod planning;
mod reconcile;

pub use fan_out::{FanOut, ShardRun, Tick};

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{info, warn, Instrument};

use super::guard::Breakers;
use super::FollowUp;
use crate::config::{ConfigError, PortfolioSpec};
use crate::control::{CycleRecord, Stop};
use crate::notify::{ended_since, CycleReport, Notice};
use crate::orders::{OrderRecord, OrderTracker, RecordOutcome, Refusal, TrackError};
use crate::ports::{
    Exchange, ExchangeError, Lease, LeaseOutcome, Ports, RecordedSnapshot, ShardQueue, StoreError,
    Venue,
};
use crate::{
    BreakerConfig, ClientOrderId, CycleId, DomainError, EpochMillis, Fees, InFlightOrder,
    OrderIntent, OrderStatus, PortfolioId, RebalancePlan,
};

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// The venue of the deployment's default account: its breaker is read with the halt.
    pub venue: Venue,
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
    /// Who follows a resting order: with [`FollowUp::Reconcile`], the reconcile re-prices one
    /// the market has left behind, and reconciles a paused portfolio's orders (not re-priced).
    pub follow_up: FollowUp,
    /// When a tick sends its portfolios to the shard queue instead of planning them all.
    pub fan_out: FanOut,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            venue: Venue::Binance,
            lease_ttl_ms: 120_000,
            concurrency: 4,
            book_depth: 20,
            stale_pending_ms: 120_000,
            fees: Fees::default(),
            breaker: BreakerConfig::default(),
            breaker_reuse_ms: 2_000,
            follow_up: FollowUp::default(),
            fan_out: FanOut::default(),
        }
    }
}

impl SchedulerSettings {
    /// The settings of a scheduler fired every `period_secs`: a cycle that outlives one period
    /// must not block the next forever (the lease lasts one period), and a pending order two
    /// periods old was probably never queued.
    pub fn for_period(period_secs: u32) -> Self {
        let period_ms = i64::from(period_secs) * 1000;
        Self {
            lease_ttl_ms: period_ms,
            stale_pending_ms: 2 * period_ms,
            ..Self::default()
        }
    }
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
        /// What the plan says of the portfolio as a whole (cash on an account that cannot
        /// pay for the buys, say).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
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
    ports: Ports,
    settings: SchedulerSettings,
    tracker: OrderTracker,
    breakers: Breakers,
    /// Where a tick above [`FanOut::above`] portfolios sends its shards.
    shards: Option<Arc<dyn ShardQueue>>,
}

impl Scheduler {
    pub fn new(ports: Ports, settings: SchedulerSettings) -> Self {
        let (tracker, breakers) =
            super::lifecycle(&ports, settings.breaker, settings.breaker_reuse_ms);
        Self {
            ports,
            settings,
            tracker,
            breakers,
            shards: None,
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
            None => self.ports.store.configs.portfolio_ids().await?,
        };
        if let Some(halted) = self.halted(cycle, &ids).await? {
            return Ok(halted);
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

    /// The halt and the default account's venue's breaker, in one read at the start of every
    /// invocation: while the halt stands no portfolio is looked at, not even a lease is taken
    /// (each is summarized as halted). A venue's open breaker stops that venue's portfolios
    /// (`run_portfolio`).
    async fn halted(
        &self,
        cycle: &CycleId,
        ids: &[PortfolioId],
    ) -> Result<Option<Vec<PortfolioSummary>>, StoreError> {
        let controls = self
            .ports
            .store
            .controls
            .read(self.settings.venue.as_str())
            .await?;
        self.breakers
            .of(self.settings.venue)
            .check_read(controls.breaker);
        Ok(controls.halt.map(|halt| {
            warn!(reason = %halt.reason, by = %halt.by, "deployment halted: no cycle runs");
            let outcome = PortfolioOutcome::Halted {
                reason: halt.reason,
            };
            ids.iter()
                .map(|id| PortfolioSummary {
                    portfolio_id: id.to_string(),
                    cycle_id: cycle.to_string(),
                    outcome: outcome.clone(),
                })
                .collect()
        }))
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
        let stored = match self.ports.store.configs.portfolio(id).await {
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
        // A paused portfolio is planned by no cycle: no lease, no exchange call. When the
        // scheduler follows resting orders, its orders are still reconciled (fills recorded,
        // cancelled at their deadline; never re-priced), as an executor's follow-ups would.
        let paused = stored.paused.clone();
        if let Some(pause) = &paused {
            info!(reason = %pause.reason, by = %pause.by, "portfolio paused: not planned");
            if self.settings.follow_up == FollowUp::Messages {
                return PortfolioOutcome::Paused {
                    reason: pause.reason.clone(),
                };
            }
        }
        // While any of its accounts' venues' breakers is open the portfolio is not looked at:
        // no lease, no request. (A client that cannot be had fails the cycle below, with its
        // record.)
        let mut clients = Vec::new();
        for account in stored.spec.account_ids() {
            let client = self.ports.exchanges.exchange(account).await;
            clients.push((account.map(str::to_owned), client));
        }
        for client in clients.iter().filter_map(|(_, c)| c.as_ref().ok()) {
            match self.breakers.of(client.venue()).check().await {
                Ok(None) => {}
                Ok(Some(retry_at_ms)) => {
                    warn!(retry_at_ms, venue = %client.venue(), "circuit breaker open: no cycle runs");
                    return PortfolioOutcome::BreakerOpen { retry_at_ms };
                }
                Err(e) => {
                    return PortfolioOutcome::Failed {
                        error: format!("breaker: {e}"),
                    }
                }
            }
        }
        let now = self.now();
        let wanted = Lease::wanted(id, owner, cycle, now, self.settings.lease_ttl_ms);
        let lease = match self.ports.store.leases.acquire(&wanted, now).await {
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
        if let Some(pause) = paused {
            let outcome = PortfolioOutcome::Paused {
                reason: pause.reason,
            };
            if let Err(e) = self.reconcile_only(id, clients).await {
                warn!(error = %e, "paused portfolio's orders not reconciled");
            }
            let record = CycleRecord {
                cycle_id: cycle.clone(),
                at_ms: self.now(),
                outcome: outcome.clone(),
            };
            self.release(&lease, &record).await;
            return outcome;
        }
        let outcome = match self.cycle(id, cycle, stored.spec, clients).await {
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
        match self.ports.store.leases.release(lease, record).await {
            Ok(true) => {}
            Ok(false) => warn!("lease was taken over before release: the cycle ran past its TTL"),
            Err(e) => warn!(error = %e, "could not release the lease; it expires on its own"),
        }
    }

    /// Each account's client behind its venue's breaker; the first that could not be had fails
    /// the cycle.
    fn guarded(&self, clients: Vec<AccountClient>) -> Result<AccountClients, CycleError> {
        Ok(AccountClients(
            clients
                .into_iter()
                .map(|(account, client)| client.map(|c| (account, self.breakers.guard(c))))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// A paused portfolio's orders brought up to date, none re-priced, nothing planned.
    async fn reconcile_only(
        &self,
        id: &PortfolioId,
        clients: Vec<AccountClient>,
    ) -> Result<usize, CycleError> {
        let mut clients = self.guarded(clients)?;
        self.reconcile(&mut clients, id, false).await
    }

    /// One portfolio's cycle, as a list of steps: refuse a tick that already ran or is stale,
    /// reconcile what is in flight, plan, record and queue the intents, keep the snapshot, tell
    /// the owner.
    async fn cycle(
        &self,
        id: &PortfolioId,
        cycle: &CycleId,
        spec: PortfolioSpec,
        clients: Vec<AccountClient>,
    ) -> Result<PortfolioOutcome, CycleError> {
        let (configured, placed, policy) = spec.into_planned()?;
        let history = self.history(id, &policy).await?;
        if let Some(outcome) = already_done(&history, cycle) {
            return Ok(outcome);
        }
        // What the previous cycle left open: the orders of those that ended since are in this
        // cycle's notice.
        let previous = history.first().map(|h| {
            (
                (h.snapshot.cycle_id.clone(), h.recorded_at_ms),
                h.open_orders.clone(),
            )
        });
        let mut clients = self.guarded(clients)?;

        let reconciled = self.reconcile(&mut clients, id, true).await?;
        // One read of the portfolio's orders after the reconcile, final ones included (the same
        // query as the open ones alone): the open ones for the plan, the ended ones for the
        // owner.
        let orders = self.ports.store.ledger.orders(id).await?;
        let open: Vec<OrderRecord> = orders
            .iter()
            .filter(|r| !r.status.is_final())
            .cloned()
            .collect();
        let Planned { plan, now, .. } = self
            .plan_now(
                &clients,
                cycle,
                &configured,
                &placed,
                &policy,
                history,
                &open,
            )
            .await?;
        let queued = match self.record_and_queue(&plan.intents, now).await? {
            Ok(queued) => queued,
            Err(refusal) => return Ok(refused(refusal)),
        };
        self.keep_snapshot(id, &plan, &open, now).await?;
        for i in &plan.intents {
            info!(client_order_id = %i.client_order_id, symbol = %i.symbol, side = %i.side, quantity = %i.quantity, limit = %i.limit_price, "intent planned");
        }
        for note in &plan.notes {
            warn!(%note, "plan note");
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
            skipped: skipped(&plan),
            notes: plan.notes.iter().map(ToString::to_string).collect(),
        })
    }

    /// Records the cycle's intents (an intent recorded before is sent again only while it is
    /// still pending) and queues them; how many were queued. When the ledger refuses any
    /// (the operator halted the deployment or paused the portfolio since this cycle read the
    /// controls), nothing is queued: the records made before the stop are the console's to
    /// find, and the cycle ends as the stop says.
    async fn record_and_queue(
        &self,
        intents: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Result<usize, Refusal>, CycleError> {
        let mut to_send: Vec<OrderIntent> = Vec::new();
        for outcome in self.ports.store.ledger.record_all(intents, now).await? {
            match outcome {
                RecordOutcome::Recorded(r) => to_send.push(r.intent),
                RecordOutcome::AlreadyRecorded(r) if r.status == OrderStatus::Pending => {
                    to_send.push(r.intent);
                }
                RecordOutcome::AlreadyRecorded(_) => {}
                RecordOutcome::Refused(refusal) => return Ok(Err(refusal)),
            }
        }
        Ok(Ok(self.send(&to_send).await))
    }

    /// Keeps the cycle's snapshot with the orders open as it ends (for the next one's notice)
    /// and reports its drift.
    async fn keep_snapshot(
        &self,
        id: &PortfolioId,
        plan: &RebalancePlan,
        open: &[OrderRecord],
        now: EpochMillis,
    ) -> Result<(), CycleError> {
        let mut open_now: Vec<ClientOrderId> = open
            .iter()
            .map(|r| r.intent.client_order_id.clone())
            .chain(plan.intents.iter().map(|i| i.client_order_id.clone()))
            .collect();
        open_now.sort();
        open_now.dedup();
        self.ports
            .store
            .history
            .record_cycle(&plan.snapshot, &open_now, now)
            .await?;
        for a in &plan.snapshot.assets {
            self.ports
                .metrics
                .drift(id, &a.asset, a.drift * Decimal::ONE_HUNDRED);
        }
        self.ports.metrics.cycle_completed(id);
        Ok(())
    }
}

/// The outcome of a tick whose cycle already ran for this portfolio, or that is older than the
/// newest cycle that ran (cycle ids are the tick's time floored to the period, in one
/// fixed-width format: their order is the ticks' order); `None` for a new cycle.
fn already_done(history: &[RecordedSnapshot], cycle: &CycleId) -> Option<PortfolioOutcome> {
    let newest = &history.first()?.snapshot.cycle_id;
    if newest == cycle {
        info!("cycle already ran for this portfolio: skipped");
        return Some(PortfolioOutcome::AlreadyRan);
    }
    if newest > cycle {
        warn!(%newest, "a later cycle already ran: this tick is stale and plans nothing");
        return Some(PortfolioOutcome::Stale {
            newest: newest.to_string(),
        });
    }
    None
}

/// The outcome of a cycle whose intents the ledger refused: nothing of it was queued, and its
/// snapshot is not kept (the cycle did nothing).
fn refused(refusal: Refusal) -> PortfolioOutcome {
    warn!(%refusal, "the ledger refused the cycle's intents: nothing queued");
    let reason = format!("{refusal} while the cycle ran: nothing queued");
    match refusal {
        Refusal::Halted => PortfolioOutcome::Halted { reason },
        Refusal::PortfolioStopped => PortfolioOutcome::Paused { reason },
    }
}

/// The trades the plan decided against, and why.
fn skipped(plan: &RebalancePlan) -> Vec<Skipped> {
    plan.decisions
        .iter()
        .filter(|d| d.reason.is_skipped_trade())
        .map(|d| Skipped {
            asset: d.asset.to_string(),
            reason: d.reason.to_string(),
        })
        .collect()
}

/// The orders the plan must count as in flight. A leg being re-priced counts until its next
/// leg is recorded; once that one is, only the next leg counts (both are open for a moment).
pub fn in_flight(open: &[OrderRecord]) -> Vec<InFlightOrder> {
    let succeeded = |r: &OrderRecord| {
        open.iter().any(|next| {
            let (a, b) = (&r.intent, &next.intent);
            b.leg == a.leg + 1
                && b.account == a.account
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
            account: r.intent.account.clone(),
            // PLACING counts as placed: the claim is held while the order is sent, seconds.
            placed: !matches!(r.status, OrderStatus::Pending | OrderStatus::Queued),
        })
        .collect()
}

/// An account of a portfolio and its client, or why there is none.
type AccountClient = (Option<String>, Result<Arc<dyn Exchange>, ExchangeError>);

/// A portfolio's exchange clients, behind their venues' breakers: one per account it lists,
/// and any an order of it rests on.
pub(crate) struct AccountClients(Vec<(Option<String>, Arc<dyn Exchange>)>);

impl AccountClients {
    fn of(&self, account: Option<&str>) -> Option<Arc<dyn Exchange>> {
        self.0
            .iter()
            .find(|(a, _)| a.as_deref() == account)
            .map(|(_, ex)| ex.clone())
    }

    fn add(&mut self, account: Option<String>, ex: Arc<dyn Exchange>) {
        self.0.push((account, ex));
    }
}
