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
    /// Whether filters put here are also put in the shared cache (not by a read-only look).
    write_through: bool,
    seen: Mutex<HashMap<(String, Symbol), (MarketFilters, EpochMillis)>>,
}

impl WarmFilters {
    /// How long filters are answered from memory by default: an hour.
    pub const LIFETIME_MS: i64 = 60 * 60 * 1000;

    pub fn new(shared: Arc<dyn MarketFilterCache>, lifetime_ms: i64) -> Self {
        Self {
            shared,
            lifetime_ms,
            write_through: true,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Reads `shared` but never writes it: filters put here are kept in memory only (the
    /// operator's `plan --live`, which must leave the deployment's table as it found it).
    pub fn read_only(shared: Arc<dyn MarketFilterCache>) -> Self {
        Self {
            write_through: false,
            ..Self::new(shared, Self::LIFETIME_MS)
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
        if !self.write_through {
            return Ok(());
        }
        self.shared.put_filters(exchange, filters, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryStore;
    use crate::{MarketFiltersFields, TradingStatus};
    use rust_decimal_macros::dec;

    /// The shared cache; it counts the reads that reach it.
    fn counted() -> Arc<InMemoryStore> {
        Arc::new(InMemoryStore::default())
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

    /// What `warm` answers for `symbol` at `now`, and how many reads the shared cache has had.
    async fn read(
        warm: &WarmFilters,
        shared: &InMemoryStore,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> (Option<MarketFilters>, usize) {
        let answer = warm.filters(exchange, symbol, now).await.unwrap();
        (answer, shared.filter_reads())
    }

    #[tokio::test]
    async fn answers_from_memory_for_its_lifetime_then_reads_the_shared_cache_again() {
        let shared = counted();
        let btc: Symbol = "BTC/USDT".parse().unwrap();
        let f = filters(&btc);
        shared.put_filters("binance", &f, 0).await.unwrap();
        let warm = WarmFilters::new(shared.clone(), 1_000);

        let first = read(&warm, &shared, "binance", &btc, 10).await;
        assert_eq!(first, (Some(f.clone()), 1));
        let second = read(&warm, &shared, "binance", &btc, 1_009).await;
        assert_eq!(second, (Some(f.clone()), 1), "second read from memory");
        let later = read(&warm, &shared, "binance", &btc, 1_010).await;
        assert_eq!(later, (Some(f), 2), "lifetime over: shared again");
        // Another exchange's filters are another entry.
        let other = read(&warm, &shared, "other", &btc, 1_010).await;
        assert_eq!(other, (None, 3));
    }

    #[tokio::test]
    async fn a_miss_is_not_remembered_and_a_put_is_kept_in_both() {
        let shared = counted();
        let eth: Symbol = "ETH/USDT".parse().unwrap();
        let warm = WarmFilters::new(shared.clone(), WarmFilters::LIFETIME_MS);
        assert_eq!(read(&warm, &shared, "binance", &eth, 0).await, (None, 1));
        assert_eq!(read(&warm, &shared, "binance", &eth, 0).await, (None, 2));

        let f = filters(&eth);
        warm.put_filters("binance", &f, 5).await.unwrap();
        let answer = read(&warm, &shared, "binance", &eth, 6).await;
        assert_eq!(
            answer,
            (Some(f.clone()), 2),
            "the put is answered from memory"
        );
        assert_eq!(shared.filters("binance", &eth, 6).await.unwrap(), Some(f));
    }

    #[tokio::test]
    async fn a_read_only_cache_reads_the_shared_one_and_never_writes_it() {
        let shared = counted();
        let btc: Symbol = "BTC/USDT".parse().unwrap();
        let eth: Symbol = "ETH/USDT".parse().unwrap();
        let f = filters(&btc);
        shared.put_filters("binance", &f, 0).await.unwrap();
        let look = WarmFilters::read_only(shared.clone());
        assert_eq!(read(&look, &shared, "binance", &btc, 1).await, (Some(f), 1));

        let g = filters(&eth);
        look.put_filters("binance", &g, 2).await.unwrap();
        assert_eq!(read(&look, &shared, "binance", &eth, 3).await, (Some(g), 1));
        assert_eq!(shared.filters("binance", &eth, 3).await.unwrap(), None);
    }
}
