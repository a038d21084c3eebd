//! Planning a portfolio now: the inputs a cycle gathers (drift history, balances, filters,
//! books, orders in flight), the plan, the intents sent; and the operator's preview of it.

use tracing::warn;

use rust_decimal::Decimal;

use super::{in_flight, AccountClients, CycleError, Planned, Preview, Scheduler};
use crate::accounts::{AccountMarkets, CashRate, PortfolioAccount, PortfolioAccounts};
use crate::orders::{IntentEnvelope, OrderRecord};
use crate::ports::{Exchange, ExchangeError, RecordedSnapshot, StoreError};
use crate::{
    plan, BookWalkCostModel, CycleId, DomainError, Holdings, MarketSnapshot, Markets, OrderIntent,
    PlanAccount, Portfolio, PortfolioId, Symbol,
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
        let (configured, placed, policy) = stored.spec.into_planned()?;
        let history = self.history(id, &policy).await?;
        let mut clients = AccountClients(Vec::new());
        for account in &placed.accounts {
            let client = self
                .ports
                .exchanges
                .exchange(account.account.as_deref())
                .await?;
            clients.add(account.account.clone(), client);
        }
        let open = self.ports.store.ledger.open_orders(id).await?;
        let Planned {
            plan, in_flight, ..
        } = self
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

    /// The planning step of a cycle, after reconciliation: from the orders not yet final, each
    /// account's free balances, markets and cash rate, the plan made with the drift history.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn plan_now(
        &self,
        clients: &AccountClients,
        cycle: &CycleId,
        configured: &Portfolio,
        placed: &PortfolioAccounts,
        policy: &crate::RebalancePolicy,
        history: Vec<RecordedSnapshot>,
        open: &[OrderRecord],
    ) -> Result<Planned, CycleError> {
        let in_flight = in_flight(open);
        let mut gathered = Vec::with_capacity(placed.accounts.len());
        for (account, rate) in placed.iter() {
            let ex = clients
                .of(account.account.as_deref())
                .ok_or_else(|| ExchangeError::Auth {
                    message: format!("no client for account {}", account.name()),
                })?;
            let spread = placed.is_spread();
            gathered.push(
                self.gather(ex.as_ref(), configured, account, rate, spread)
                    .await?,
            );
        }
        let models: Vec<BookWalkCostModel> = gathered
            .iter()
            .map(|(_, m)| BookWalkCostModel {
                fees: m.fees,
                liquidity: policy.fee_liquidity,
            })
            .collect();
        let accounts: Vec<PlanAccount<'_>> = placed
            .accounts
            .iter()
            .zip(&gathered)
            .zip(&models)
            .map(|((a, (holdings, markets)), model)| PlanAccount::new(a, holdings, markets, model))
            .collect();
        let snapshots: Vec<_> = history.into_iter().map(|h| h.snapshot).collect();
        let now = self.now();
        let request = crate::PlanRequest {
            portfolio: configured,
            accounts: &accounts,
            in_flight: &in_flight,
            policy,
            history: &snapshots,
            cycle,
            now_ms: now,
        };
        let plan = plan(&request)?;
        Ok(Planned {
            plan,
            in_flight,
            now,
        })
    }

    /// What one account brings to a plan: its free balances of what the portfolio counts, its
    /// markets, its fees and its cash rate. An asset the account ignores, and with several
    /// accounts one its venue does not list, is not traded there.
    async fn gather(
        &self,
        ex: &dyn Exchange,
        configured: &Portfolio,
        account: &PortfolioAccount,
        rate: &CashRate,
        spread: bool,
    ) -> Result<(Holdings, AccountMarkets), CycleError> {
        let balances = ex.balances().await?;
        let holdings = account.counted(
            balances.into_iter().map(|b| (b.asset, b.free)),
            configured.targets(),
        )?;
        let mut markets = Markets::new();
        // The planner never routes an ignored asset to this account: its market is not read.
        for asset in configured
            .targets()
            .assets()
            .filter(|a| *a != configured.quote() && !account.ignore.contains(a))
        {
            let symbol = Symbol::new(asset.clone(), account.quote.clone())?;
            let filters = match self.tracker.filters(ex, &symbol).await {
                Ok(filters) => filters,
                Err(ExchangeError::Rejected { .. }) if spread => continue,
                Err(e) => return Err(e.into()),
            };
            let book = ex.order_book(&symbol, self.settings.book_depth).await?;
            markets.insert(asset.clone(), MarketSnapshot { filters, book });
        }
        let cash_rate = match rate {
            CashRate::Par => Decimal::ONE,
            CashRate::Market { symbol, .. } => {
                let book = ex.order_book(symbol, 5).await?;
                rate.rate(book.mid().map(|m| m.value())).ok_or_else(|| {
                    DomainError::MissingMarket {
                        asset: symbol.to_string(),
                    }
                })?
            }
        };
        Ok((
            holdings,
            AccountMarkets {
                venue: ex.venue(),
                markets,
                fees: account.fees.unwrap_or(self.settings.fees),
                cash_rate,
            },
        ))
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
}
