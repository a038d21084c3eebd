//! How the owner is told what happened: breaker trips, halts, cycle reports.

use async_trait::async_trait;

use crate::notify::Notice;

/// Tells the owner something. Infallible by contract: an adapter that cannot deliver logs it.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, notice: &Notice);
}

/// The notifier of a deployment without a notification topic: tells nobody.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

#[async_trait]
impl Notifier for Silent {
    async fn notify(&self, _: &Notice) {}
}
