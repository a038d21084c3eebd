//! Planning a portfolio now: the inputs a cycle gathers (drift history, balances, filters,
//! books, orders in flight), the plan, the intents sent; and the operator's preview of it.

use tracing::warn;

use super::{in_flight, CycleError, Planned, Preview, Scheduler};
use crate::orders::{IntentEnvelope, OrderRecord};
use crate::ports::{Exchange, RecordedSnapshot, StoreError};
use crate::{
    plan, BookWalkCostModel, CycleId, Holdings, MarketSnapshot, Markets, OrderIntent, Portfolio,
    PortfolioId, Symbol,
};

impl Scheduler {
    /// What the next cycle would plan for `id` now, from the inputs a cycle gathers (the stored
    /// spec, the account's balances, filters and books, the orders in flight, the drift
    /// history), with nothing placed and no lease, reconciliation, record, message or snapshot
    /// (`driftline plan --live`). The one write left is the filter port's: filters missing
    /// from the cache are fetched and handed to it as a cycle does (the console's port,
    /// [`WarmFilters::read_only`](crate::service::warm::WarmFilters::read_only), keeps them in
    /// memory and never writes the table). Its exchange calls go to the account's client directly, not through the
    /// shared breaker, so that an operator's look never counts toward opening it; a paused
    /// portfolio is planned all the same, and the pause returned.
    ///
    /// # Errors
    /// [`CycleError::NotConfigured`] for an unknown portfolio, else what a cycle would meet.
    pub async fn preview(&self, id: &PortfolioId, cycle: &CycleId) -> Result<Preview, CycleError> {
        let stored = self
            .ports
            .store
            .configs
            .portfolio(id)
            .await?
            .ok_or(CycleError::NotConfigured)?;
        let account = stored.spec.account.clone();
        let (configured, policy) = stored.spec.into_domain()?;
        let history = self.history(id, &policy).await?;
        let client = self.ports.exchanges.exchange(account.as_deref()).await?;
        let open = self.ports.store.ledger.open_orders(id).await?;
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
    pub(super) async fn history(
        &self,
        id: &PortfolioId,
        policy: &crate::RebalancePolicy,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        let window = policy.velocity.map(|v| v.window.window).unwrap_or(3).max(1);
        self.ports
            .store
            .history
            .latest(id, u16::try_from(window).unwrap_or(u16::MAX))
            .await
    }

    /// The planning step of a cycle, after reconciliation: from the orders not yet final, the
    /// free balances and the markets, the plan made with the drift history.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn plan_now(
        &self,
        ex: &dyn Exchange,
        id: &PortfolioId,
        cycle: &CycleId,
        configured: &Portfolio,
        policy: &crate::RebalancePolicy,
        account: Option<String>,
        history: Vec<RecordedSnapshot>,
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
    pub(super) async fn send(&self, intents: &[OrderIntent]) -> usize {
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

    pub(super) async fn markets(
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
}
