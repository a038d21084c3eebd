//! The exchange clients of a deployment, one per account.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Exchange, ExchangeError};

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
                message: format!(
                    "no exchange account {:?} configured",
                    account.unwrap_or("default")
                ),
            })
    }
}
