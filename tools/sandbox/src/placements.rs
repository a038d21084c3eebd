//! Every order placement the handlers send, with the wall-clock instant it left: the halt
//! storm (tests/tests/reliability.rs) measures the kill switch's latency from it, since the
//! paper exchange stamps its own request log with the world's manual clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use driftline_core::ports::{
    Balance, Exchange, ExchangeError, Fill, LimitOrderRequest, OrderReport,
};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};

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
        Arc::new(Logged {
            inner,
            log: self.clone(),
        })
    }
}

struct Logged {
    inner: Arc<dyn Exchange>,
    log: Placements,
}

#[async_trait]
impl Exchange for Logged {
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.inner.market_filters(symbol).await
    }
    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        self.inner.order_book(symbol, depth).await
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.inner.balances().await
    }
    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        self.log
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Placement {
                sent: Instant::now(),
                client_order_id: order.client_order_id.clone(),
            });
        self.inner.place_limit_order(order).await
    }
    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        self.inner.order(symbol, client_order_id).await
    }
    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: u64,
    ) -> Result<Vec<Fill>, ExchangeError> {
        self.inner.order_fills(symbol, exchange_order_id).await
    }
    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        self.inner.open_orders(symbol).await
    }
    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        self.inner.cancel_order(symbol, client_order_id).await
    }
    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        self.inner.server_time().await
    }
}
