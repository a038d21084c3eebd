//! The services the Lambda functions run: the scheduler (reconcile, plan, queue) and the
//! executor (claim, price, place, follow up). Written against ports only, so they run the same
//! over DynamoDB/SQS/Binance and over the in-memory adapters of unit tests.

pub mod executor;
pub mod scheduler;

use async_trait::async_trait;

use crate::config::PortfolioSpec;
use crate::ledger::StoreError;
use crate::PortfolioId;

/// Where portfolio configurations are kept.
#[async_trait]
pub trait PortfolioConfigs: Send + Sync {
    /// Every configured portfolio's id, in id order.
    async fn portfolio_ids(&self) -> Result<Vec<PortfolioId>, StoreError>;
    async fn portfolio(&self, id: &PortfolioId) -> Result<Option<PortfolioSpec>, StoreError>;
}
