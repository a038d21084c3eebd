//! The scheduler: for each portfolio, one cycle per tick. Take the lease, reconcile the orders
//! not yet final with the exchange, read balances, books and filters, plan with core's planner,
//! record the intents and queue them, store the drift snapshot, release the lease.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use rust_decimal::Decimal;
use serde::Serialize;
use thiserror::Error;
use tracing::{info, warn, Instrument};

use super::PortfolioConfigs;
use crate::config::ConfigError;
use crate::execution::{report_change, ReportChange};
use crate::ledger::{
    CycleLeases, DriftHistory, IntentEnvelope, IntentQueue, Lease, LeaseOutcome, MarketFilterCache,
    OrderLedger, OrderRecord, OrderUpdate, RecordOutcome, StoreError, Transition,
};
use crate::ports::{Clock, Exchange, ExchangeError, MetricsSink, OrderReport};
use crate::{
    plan, BookWalkCostModel, CycleId, DomainError, EpochMillis, Fees, Holdings, InFlightOrder,
    MarketSnapshot, Markets, OrderIntent, OrderStatus, Portfolio, PortfolioId, Symbol,
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
        }
    }
}

#[derive(Clone)]
pub struct SchedulerPorts {
    pub configs: Arc<dyn PortfolioConfigs>,
    pub exchanges: Arc<dyn super::ExchangeAccounts>,
    pub ledger: Arc<dyn OrderLedger>,
    pub leases: Arc<dyn CycleLeases>,
    pub history: Arc<dyn DriftHistory>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub queue: Arc<dyn IntentQueue>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricsSink>,
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

/// An asset the plan left alone although it was out of its band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub asset: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioSummary {
    pub portfolio_id: String,
    pub cycle_id: String,
    #[serde(flatten)]
    pub outcome: PortfolioOutcome,
}

pub struct Scheduler {
    ports: SchedulerPorts,
    settings: SchedulerSettings,
}

impl Scheduler {
    pub fn new(ports: SchedulerPorts, settings: SchedulerSettings) -> Self {
        Self { ports, settings }
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
        let outcome = match self.cycle(id, cycle).await {
            Ok(outcome) => outcome,
            Err(e) => {
                warn!(error = %e, "cycle failed");
                PortfolioOutcome::Failed {
                    error: e.to_string(),
                }
            }
        };
        self.release(&lease).await;
        outcome
    }

    async fn release(&self, lease: &Lease) {
        match self.ports.leases.release(lease).await {
            Ok(true) => {}
            Ok(false) => warn!("lease was taken over before release: the cycle ran past its TTL"),
            Err(e) => warn!(error = %e, "could not release the lease; it expires on its own"),
        }
    }

    async fn cycle(
        &self,
        id: &PortfolioId,
        cycle: &CycleId,
    ) -> Result<PortfolioOutcome, CycleError> {
        let spec = self
            .ports
            .configs
            .portfolio(id)
            .await?
            .ok_or(CycleError::NotConfigured)?;
        let account = spec.account.clone();
        let exchange = self.ports.exchanges.exchange(account.as_deref()).await?;
        let ex = exchange.as_ref();
        let (configured, policy) = spec.into_domain()?;
        let window = policy.velocity.map(|v| v.window.window).unwrap_or(3);
        let history = self
            .ports
            .history
            .latest(id, u16::try_from(window).unwrap_or(u16::MAX))
            .await?;
        if history
            .first()
            .is_some_and(|h| &h.snapshot.cycle_id == cycle)
        {
            info!("cycle already ran for this portfolio: skipped");
            return Ok(PortfolioOutcome::AlreadyRan);
        }

        let reconciled = self.reconcile(ex, id).await?;
        let in_flight: Vec<InFlightOrder> = self
            .ports
            .ledger
            .open_orders(id)
            .await?
            .iter()
            .map(|r| InFlightOrder {
                symbol: r.intent.symbol.clone(),
                side: r.intent.side,
                remaining: (r.intent.quantity - r.filled_qty).max(Decimal::ZERO),
                limit_price: r.intent.limit_price,
            })
            .collect();

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
            policy: &policy,
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
        self.ports.history.append(&plan.snapshot, now).await?;
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
        Ok(PortfolioOutcome::Planned {
            orders: plan.intents.len(),
            queued,
            reconciled,
            skipped,
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
        let now = self.now();
        for asset in portfolio
            .targets()
            .assets()
            .filter(|a| *a != portfolio.quote())
        {
            let symbol = Symbol::new(asset.clone(), portfolio.quote().clone())?;
            let name = &self.settings.exchange_name;
            let filters = match self.ports.filters.filters(name, &symbol, now).await {
                Ok(Some(f)) => f,
                _ => {
                    let f = ex.market_filters(&symbol).await?;
                    if let Err(e) = self.ports.filters.put_filters(name, &f, now).await {
                        warn!(error = %e, "could not cache market filters");
                    }
                    f
                }
            };
            let book = ex.order_book(&symbol, self.settings.book_depth).await?;
            markets.insert(asset.clone(), MarketSnapshot { filters, book });
        }
        Ok(markets)
    }

    /// Brings every order not yet final up to date with the exchange: records fills, cancels
    /// resting orders past their deadline, expires queued ones past theirs, and re-sends pending
    /// ones whose message was probably lost. Returns how many records changed.
    async fn reconcile(&self, ex: &dyn Exchange, id: &PortfolioId) -> Result<usize, CycleError> {
        let now = self.now();
        let mut changed = 0;
        let mut resend = Vec::new();
        for record in self.ports.ledger.open_orders(id).await? {
            let intent = &record.intent;
            let expired = now >= intent.expires_at_ms;
            match record.status {
                OrderStatus::Pending | OrderStatus::Queued if expired => {
                    changed += usize::from(self.expire(&record, now).await?);
                }
                OrderStatus::Pending
                    if now - record.updated_at_ms > self.settings.stale_pending_ms =>
                {
                    resend.push(intent.clone());
                }
                OrderStatus::Placing if record.claim_expires_at_ms.is_some_and(|e| e < now) => {
                    // Its executor died mid-flight: the exchange says whether it was placed.
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => {
                            changed += usize::from(self.apply(&record, &report, now).await?)
                        }
                        Err(ExchangeError::NotFound { .. }) if expired => {
                            changed += usize::from(self.expire(&record, now).await?);
                        }
                        Err(ExchangeError::NotFound { .. }) => resend.push(intent.clone()),
                        Err(e) => {
                            warn!(client_order_id = %intent.client_order_id, error = %e, "cannot reconcile now")
                        }
                    }
                }
                OrderStatus::Placed | OrderStatus::PartiallyFilled => {
                    let report = match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(r) => r,
                        Err(e) => {
                            warn!(client_order_id = %intent.client_order_id, error = %e, "cannot reconcile now");
                            continue;
                        }
                    };
                    let report = if expired && !report.status.is_final() {
                        match ex
                            .cancel_order(&intent.symbol, &intent.client_order_id)
                            .await
                        {
                            Ok(r) => {
                                info!(client_order_id = %intent.client_order_id, "resting past its deadline: cancelled");
                                r
                            }
                            Err(e) => {
                                warn!(client_order_id = %intent.client_order_id, error = %e, "cannot cancel now");
                                report
                            }
                        }
                    } else {
                        report
                    };
                    changed += usize::from(self.apply(&record, &report, now).await?);
                }
                _ => {}
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

    async fn expire(&self, record: &OrderRecord, now: EpochMillis) -> Result<bool, CycleError> {
        let t = Transition {
            expected_version: record.version,
            to: OrderStatus::Expired,
            update: OrderUpdate {
                exchange_order_id: None,
                last_error: Some("deadline passed before placement".into()),
            },
            now_ms: now,
        };
        let applied = matches!(
            self.ports.ledger.transition(&record.key(), &t).await?,
            crate::ledger::TransitionOutcome::Applied(_)
        );
        if applied {
            let q = crate::execution::execution_quality(
                &record.intent,
                record.filled_qty,
                record.cumulative_quote_qty,
            );
            self.ports.metrics.order_final(OrderStatus::Expired, &q);
        }
        Ok(applied)
    }

    async fn apply(
        &self,
        record: &OrderRecord,
        report: &OrderReport,
        now: EpochMillis,
    ) -> Result<bool, CycleError> {
        let progress = match report_change(record, report, now) {
            ReportChange::Unchanged => return Ok(false),
            ReportChange::Placed(t) => {
                return Ok(matches!(
                    self.ports.ledger.transition(&record.key(), &t).await?,
                    crate::ledger::TransitionOutcome::Applied(_)
                ));
            }
            ReportChange::Progress(p) => p,
        };
        match self
            .ports
            .ledger
            .apply_fill(&record.key(), &progress, now)
            .await?
        {
            crate::ledger::FillOutcome::Applied(r) => {
                if r.status.is_final() {
                    let q = crate::execution::execution_quality(
                        &r.intent,
                        r.filled_qty,
                        r.cumulative_quote_qty,
                    );
                    self.ports.metrics.order_final(r.status, &q);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
