//! Market filters kept warm in a Lambda container, in front of the shared cache.
//!
//! Filters change rarely (the exchange announces it), yet every cycle and every placement
//! needs them: reading them from the shared store each time was one DynamoDB read per order.
//! This layer answers from memory for `lifetime_ms` after it last saw a symbol's filters, so a
//! warm container reads the shared cache about once an hour per symbol.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::ports::{MarketFilterCache, StoreError};
use crate::{EpochMillis, MarketFilters, Symbol};

/// A [`MarketFilterCache`] that remembers what passes through it, for `lifetime_ms`.
pub struct WarmFilters {
    shared: Arc<dyn MarketFilterCache>,
    lifetime_ms: i64,
    seen: Mutex<HashMap<(String, Symbol), (MarketFilters, EpochMillis)>>,
}

impl WarmFilters {
    /// How long filters are answered from memory by default: an hour.
    pub const LIFETIME_MS: i64 = 60 * 60 * 1000;

    pub fn new(shared: Arc<dyn MarketFilterCache>, lifetime_ms: i64) -> Self {
        Self {
            shared,
            lifetime_ms,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, exchange: &str, filters: &MarketFilters, now: EpochMillis) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (exchange.to_owned(), filters.symbol().clone()),
                (filters.clone(), now + self.lifetime_ms),
            );
    }
}

#[async_trait]
impl MarketFilterCache for WarmFilters {
    async fn filters(
        &self,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> Result<Option<MarketFilters>, StoreError> {
        let warm = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(exchange.to_owned(), symbol.clone()))
            .filter(|(_, until)| *until > now)
            .map(|(f, _)| f.clone());
        if warm.is_some() {
            return Ok(warm);
        }
        let stored = self.shared.filters(exchange, symbol, now).await?;
        if let Some(f) = &stored {
            self.remember(exchange, f, now);
        }
        Ok(stored)
    }

    async fn put_filters(
        &self,
        exchange: &str,
        filters: &MarketFilters,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        self.remember(exchange, filters, now);
        self.shared.put_filters(exchange, filters, now).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing::InMemoryStore;
    use crate::{MarketFiltersFields, TradingStatus};
    use rust_decimal_macros::dec;

    /// The shared cache, counting the reads that reach it.
    struct Counted {
        inner: InMemoryStore,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl MarketFilterCache for Counted {
        async fn filters(
            &self,
            exchange: &str,
            symbol: &Symbol,
            now: EpochMillis,
        ) -> Result<Option<MarketFilters>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.filters(exchange, symbol, now).await
        }

        async fn put_filters(
            &self,
            exchange: &str,
            filters: &MarketFilters,
            now: EpochMillis,
        ) -> Result<(), StoreError> {
            self.inner.put_filters(exchange, filters, now).await
        }
    }

    fn counted() -> Arc<Counted> {
        Arc::new(Counted {
            inner: InMemoryStore::default(),
            reads: AtomicUsize::new(0),
        })
    }

    fn filters(symbol: &Symbol) -> MarketFilters {
        MarketFilters::new(MarketFiltersFields {
            symbol: symbol.clone(),
            tick_size: dec!(0.01),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: None,
            min_notional: dec!(10),
            status: TradingStatus::Trading,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn answers_from_memory_for_its_lifetime_then_reads_the_shared_cache_again() {
        let shared = counted();
        let btc: Symbol = "BTC/USDT".parse().unwrap();
        let f = filters(&btc);
        shared.inner.put_filters("binance", &f, 0).await.unwrap();
        let warm = WarmFilters::new(shared.clone(), 1_000);

        assert_eq!(
            warm.filters("binance", &btc, 10).await.unwrap(),
            Some(f.clone())
        );
        assert_eq!(
            warm.filters("binance", &btc, 1_009).await.unwrap(),
            Some(f.clone())
        );
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            1,
            "second read from memory"
        );

        assert_eq!(warm.filters("binance", &btc, 1_010).await.unwrap(), Some(f));
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            2,
            "lifetime over: shared again"
        );
        // Another exchange's filters are another entry.
        assert_eq!(warm.filters("other", &btc, 1_010).await.unwrap(), None);
        assert_eq!(shared.reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_miss_is_not_remembered_and_a_put_is_kept_in_both() {
        let shared = counted();
        let eth: Symbol = "ETH/USDT".parse().unwrap();
        let warm = WarmFilters::new(shared.clone(), WarmFilters::LIFETIME_MS);
        assert_eq!(warm.filters("binance", &eth, 0).await.unwrap(), None);
        assert_eq!(warm.filters("binance", &eth, 0).await.unwrap(), None);
        assert_eq!(shared.reads.load(Ordering::SeqCst), 2);

        let f = filters(&eth);
        warm.put_filters("binance", &f, 5).await.unwrap();
        assert_eq!(
            warm.filters("binance", &eth, 6).await.unwrap(),
            Some(f.clone())
        );
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            2,
            "the put is answered from memory"
        );
        assert_eq!(
            shared.inner.filters("binance", &eth, 6).await.unwrap(),
            Some(f)
        );
    }
}
