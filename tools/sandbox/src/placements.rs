//! Every order placement the handlers send, with the wall-clock instant it left: the halt
//! storm (tests/tests/reliability.rs) measures the kill switch's latency from it, since the
//! paper exchange stamps its own request log with the world's manual clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use driftline_core::ports::{
    Exchange, ExchangeAnswer, ExchangeCall, ExchangeError, ExchangeLayer, Layered, Venue,
};
use driftline_core::ClientOrderId;

/// One placement request as it left the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub sent: Instant,
    pub client_order_id: ClientOrderId,
}

/// The placements of a world, in the order they were sent.
#[derive(Debug, Clone, Default)]
pub struct Placements(Arc<Mutex<Vec<Placement>>>);

impl Placements {
    pub fn all(&self) -> Vec<Placement> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `inner` with every placement it is asked for logged here first.
    pub fn wrap(&self, inner: Arc<dyn Exchange>) -> Arc<dyn Exchange> {
        Arc::new(Layered(Logged {
            inner,
            log: self.clone(),
        }))
    }
}

struct Logged {
    inner: Arc<dyn Exchange>,
    log: Placements,
}

#[async_trait]
impl ExchangeLayer for Logged {
    fn venue(&self) -> Venue {
        self.inner.venue()
    }
    async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError> {
        if let ExchangeCall::PlaceLimitOrder(order) = call {
            self.log
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Placement {
                    sent: Instant::now(),
                    client_order_id: order.client_order_id.clone(),
                });
        }
        call.send(self.inner.as_ref()).await
    }
}
