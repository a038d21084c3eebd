//! The services the Lambda functions run: the scheduler (reconcile, plan, queue) and the
//! executor (claim, price, place, follow up). Written against ports only, so they run the same
//! over DynamoDB/SQS/Binance and over the in-memory adapters of unit tests.

pub mod executor;
pub mod guard;
pub mod scheduler;
pub mod tracker;
pub mod warm;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::PortfolioSpec;
use crate::ledger::{BreakerStore, IntentQueue, MarketFilterCache, OrderLedger, StoreError};
use crate::notify::Notifier;
use crate::ports::{Clock, Exchange, ExchangeError, MetricsSink, RandomSource};
use crate::{BreakerConfig, PortfolioId};

/// What both services build the same way from their ports: the order lifecycle and the breaker
/// in front of the exchange.
#[allow(clippy::too_many_arguments)]
fn lifecycle(
    ledger: &Arc<dyn OrderLedger>,
    queue: &Arc<dyn IntentQueue>,
    filters: &Arc<dyn MarketFilterCache>,
    breakers: &Arc<dyn BreakerStore>,
    clock: &Arc<dyn Clock>,
    random: &dyn RandomSource,
    metrics: &Arc<dyn MetricsSink>,
    exchange_name: &str,
    breaker: BreakerConfig,
    breaker_reuse_ms: i64,
    notifier: &Arc<dyn Notifier>,
) -> (tracker::OrderTracker, Arc<guard::BreakerGuard>) {
    let tracker = tracker::OrderTracker {
        ledger: ledger.clone(),
        queue: queue.clone(),
        filters: filters.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        exchange_name: exchange_name.to_owned(),
    };
    let guard = guard::BreakerGuard::new(
        breakers.clone(),
        clock.clone(),
        random,
        exchange_name,
        breaker,
        breaker_reuse_ms,
        notifier.clone(),
    );
    (tracker, Arc::new(guard))
}

/// The exchange clients of a deployment, one per account (a portfolio's `account`, the id of
/// the secret holding its API key; `None` for the deployment's default account).
#[async_trait]
pub trait ExchangeAccounts: Send + Sync {
    /// # Errors
    /// [`ExchangeError::Auth`] when the account's credentials cannot be had.
    async fn exchange(&self, account: Option<&str>) -> Result<Arc<dyn Exchange>, ExchangeError>;
}

/// A fixed set of accounts, built up front: for tests, tools and single-account deployments.
#[derive(Default, Clone)]
pub struct FixedAccounts(HashMap<Option<String>, Arc<dyn Exchange>>);

impl FixedAccounts {
    /// Every portfolio without an `account` trades on `exchange`.
    pub fn single(exchange: Arc<dyn Exchange>) -> Self {
        Self::default().with(None, exchange)
    }

    pub fn with(mut self, account: Option<&str>, exchange: Arc<dyn Exchange>) -> Self {
        self.0.insert(account.map(str::to_owned), exchange);
        self
    }
}

#[async_trait]
impl ExchangeAccounts for FixedAccounts {
    async fn exchange(&self, account: Option<&str>) -> Result<Arc<dyn Exchange>, ExchangeError> {
        self.0
            .get(&account.map(str::to_owned))
            .cloned()
            .ok_or_else(|| ExchangeError::Auth {
                code: 0,
                message: format!(
                    "no exchange account {:?} configured",
                    account.unwrap_or("default")
                ),
            })
    }
}

/// A portfolio's configuration as stored: the spec, the version every change bumps (a write
/// names the version it read, so two operators cannot silently overwrite each other), and the
/// pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPortfolio {
    pub spec: PortfolioSpec,
    /// 1 for the first write; 0 for an item written by hand without a version.
    pub version: u64,
    pub paused: Option<crate::control::Stop>,
}

/// Where portfolio configurations are kept.
#[async_trait]
pub trait PortfolioConfigs: Send + Sync {
    /// Every configured portfolio's id, in id order.
    async fn portfolio_ids(&self) -> Result<Vec<PortfolioId>, StoreError>;
    async fn portfolio(&self, id: &PortfolioId) -> Result<Option<StoredPortfolio>, StoreError>;
}
