//! What a client reads from the venue now and then and shares between all its callers (the
//! markets, their names and rules): kept for a while, read again once stale, and the stale copy
//! still served when reading it again fails, since such things rarely change.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use driftline_core::ports::ExchangeError;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub(crate) struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Cached<T> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// Reads the value again on the next `get`.
    pub(crate) async fn forget(&self) {
        *self.slot.lock().await = None;
    }

    /// The value if it is younger than the TTL, else what `fetch` reads; if that fails, the
    /// stale value, or the error when there is none.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<T>, ExchangeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ExchangeError>>,
    {
        // Held across the fetch: concurrent callers wait for one read, not send many.
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(value));
            }
        }
        match (fetch().await, slot.as_ref()) {
            (Ok(value), _) => {
                let value = Arc::new(value);
                *slot = Some((Instant::now(), Arc::clone(&value)));
                Ok(value)
            }
            (Err(_), Some((_, stale))) => Ok(Arc::clone(stale)),
            (Err(e), None) => Err(e),
        }
    }
}
