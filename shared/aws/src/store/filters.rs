//! The exchange's market filters cached on the table, one item per venue and symbol, for a
//! day (`MARKET_FILTER_TTL_MS`): read before the exchange is asked.

use async_trait::async_trait;
use driftline_core::ports::{MarketFilterCache, StoreError, MARKET_FILTER_TTL_MS};
use driftline_core::{EpochMillis, MarketFilters, Symbol};

use super::DynamoStore;
use crate::item::{n, req_json, req_n, to_json, Item};
use crate::table::TTL_ATTRIBUTE;

const FILTERS: &str = "market filters";

fn filters_key(exchange: &str, symbol: &Symbol) -> Item {
    DynamoStore::key(format!("MARKET#{exchange}"), symbol.to_string())
}

#[async_trait]
impl MarketFilterCache for DynamoStore {
    async fn filters(
        &self,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> Result<Option<MarketFilters>, StoreError> {
        let Some(item) = self
            .get_item(filters_key(exchange, symbol), "GetItem(filters)")
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion is lazy: an expired item may still be there.
        let expires: EpochMillis = req_n(&item, FILTERS, "expires_at_ms")?;
        if expires <= now {
            return Ok(None);
        }
        req_json(&item, FILTERS, "filters").map(Some)
    }

    async fn put_filters(
        &self,
        exchange: &str,
        filters: &MarketFilters,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        let expires = now + MARKET_FILTER_TTL_MS;
        let mut item = filters_key(exchange, filters.symbol());
        item.insert("filters".into(), to_json(filters, "filters")?);
        item.insert("expires_at_ms".into(), n(expires));
        item.insert(TTL_ATTRIBUTE.into(), n(expires / 1000));
        self.put_item(item, "PutItem(filters)").await
    }
}
