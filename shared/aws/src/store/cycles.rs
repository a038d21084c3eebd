//! A portfolio's cycles on the table: the lease that lets one scheduler run a portfolio's cycle
//! at a time (and keeps how the last cycle ended), and the drift snapshot each cycle records.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use driftline_core::control::CycleRecord;
use driftline_core::ports::{
    CycleLeases, DriftHistory, Lease, LeaseOutcome, RecordedSnapshot, StoreError,
};
use driftline_core::{ClientOrderId, CycleId, DriftSnapshot, EpochMillis, PortfolioId};

use super::{portfolio_pk, DynamoStore, SortKeys};
use crate::item::{n, opt_s, req_json, req_n, req_s, s, to_json, Item};
use crate::table::{PK, TTL_ATTRIBUTE};

const LEASE: &str = "cycle lease";
const DRIFT: &str = "drift snapshot";

fn lease_key(p: &PortfolioId) -> Item {
    DynamoStore::key(portfolio_pk(p), "LEASE".into())
}

fn lease(item: &Item) -> Result<Lease, StoreError> {
    let pk = req_s(item, LEASE, PK)?;
    let id = pk.strip_prefix("PORTFOLIO#").unwrap_or(pk);
    Ok(Lease {
        portfolio_id: PortfolioId::new(id).map_err(|e| StoreError::Corrupt {
            what: LEASE,
            field: PK,
            reason: e.to_string(),
        })?,
        owner: req_s(item, LEASE, "lease_owner")?.to_owned(),
        cycle_id: CycleId::new(req_s(item, LEASE, "cycle_id")?).map_err(|e| {
            StoreError::Corrupt {
                what: LEASE,
                field: "cycle_id",
                reason: e.to_string(),
            }
        })?,
        expires_at_ms: req_n(item, LEASE, "lease_expires_at_ms")?,
    })
}

/// TTL for a lease: well after its expiry, only to tidy up.
fn lease_ttl(expires_at_ms: EpochMillis) -> AttributeValue {
    n(expires_at_ms / 1000 + 3600)
}

#[async_trait]
impl CycleLeases for DynamoStore {
    async fn acquire(&self, wanted: &Lease, now: EpochMillis) -> Result<LeaseOutcome, StoreError> {
        let expires = wanted.expires_at_ms;
        let op = self
            .update(lease_key(&wanted.portfolio_id))
            .update_expression(
                "SET lease_owner = :owner, cycle_id = :cycle, lease_expires_at_ms = :expires, \
                 ttl_epoch_s = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR lease_expires_at_ms <= :now")
            .expression_attribute_values(":owner", s(wanted.owner.clone()))
            .expression_attribute_values(":cycle", s(wanted.cycle_id.as_str()))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":ttl", lease_ttl(expires))
            .expression_attribute_values(":now", n(now));
        match self
            .conditional_update(op, "UpdateItem(acquire lease)")
            .await?
        {
            Ok(new) => Ok(LeaseOutcome::Acquired(lease(&new)?)),
            Err(Some(old)) => Ok(LeaseOutcome::HeldBy(lease(&old)?)),
            Err(None) => Err(StoreError::Corrupt {
                what: LEASE,
                field: PK,
                reason: "condition failed on an absent lease".into(),
            }),
        }
    }

    async fn renew(
        &self,
        held: &Lease,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let expires = now + ttl_ms;
        let op = self
            .update(lease_key(&held.portfolio_id))
            .update_expression("SET lease_expires_at_ms = :expires, ttl_epoch_s = :ttl")
            .condition_expression("lease_owner = :owner AND lease_expires_at_ms > :zero")
            .expression_attribute_values(":owner", s(held.owner.clone()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":ttl", lease_ttl(expires));
        match self
            .conditional_update(op, "UpdateItem(renew lease)")
            .await?
        {
            Ok(new) => Ok(LeaseOutcome::Acquired(lease(&new)?)),
            // Released (expired at 0) is gone, as a deleted lease was.
            Err(Some(old)) if req_n::<i64>(&old, LEASE, "lease_expires_at_ms")? == 0 => {
                Ok(LeaseOutcome::Lost)
            }
            Err(Some(old)) => Ok(LeaseOutcome::HeldBy(lease(&old)?)),
            Err(None) => Ok(LeaseOutcome::Lost),
        }
    }

    async fn release(&self, held: &Lease, record: &CycleRecord) -> Result<bool, StoreError> {
        // Released by expiring it now, not by deleting it: the item keeps how the cycle ended
        // (for `driftline status`) at no extra write, and loses its TTL so that it stays.
        let op = self
            .update(lease_key(&held.portfolio_id))
            .update_expression(
                "SET lease_expires_at_ms = :zero, last_cycle = :record REMOVE ttl_epoch_s",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(held.owner.clone()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":record", to_json(record, "last_cycle")?);
        match self
            .conditional_update(op, "UpdateItem(release lease)")
            .await?
        {
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    async fn last_cycle(&self, portfolio: &PortfolioId) -> Result<Option<CycleRecord>, StoreError> {
        let Some(item) = self
            .get_item(lease_key(portfolio), "GetItem(last cycle)")
            .await?
        else {
            return Ok(None);
        };
        match opt_s(&item, LEASE, "last_cycle")? {
            Some(_) => req_json(&item, LEASE, "last_cycle").map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl DriftHistory for DynamoStore {
    async fn record_cycle(
        &self,
        snapshot: &DriftSnapshot,
        open_orders: &[ClientOrderId],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        // Sorted by time, zero-padded, so a reverse query reads newest first.
        let mut item = Self::key(
            portfolio_pk(&snapshot.portfolio_id),
            format!("DRIFT#{now:015}#{}", snapshot.cycle_id),
        );
        item.insert("snapshot".into(), to_json(snapshot, "snapshot")?);
        item.insert("recorded_at_ms".into(), n(now));
        if !open_orders.is_empty() {
            item.insert("open_orders".into(), to_json(&open_orders, "open_orders")?);
        }
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(now / 1000 + self.drift_retention_secs),
        );
        self.put_item(item, "PutItem(drift)").await
    }

    async fn latest(
        &self,
        portfolio: &PortfolioId,
        k: u16,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query_prefix(
                portfolio_pk(portfolio),
                "DRIFT#",
                true,
                Some(i32::from(k)),
                "Query(drift)",
            )
            .await?;
        items
            .iter()
            .take(usize::from(k))
            .map(recorded_snapshot)
            .collect()
    }
}

fn recorded_snapshot(i: &Item) -> Result<RecordedSnapshot, StoreError> {
    Ok(RecordedSnapshot {
        recorded_at_ms: req_n(i, DRIFT, "recorded_at_ms")?,
        snapshot: req_json(i, DRIFT, "snapshot")?,
        // Absent on snapshots stored before it, and when nothing was open.
        open_orders: match opt_s(i, DRIFT, "open_orders")? {
            Some(_) => req_json(i, DRIFT, "open_orders")?,
            None => Vec::new(),
        },
    })
}

impl DynamoStore {
    /// A portfolio's drift snapshots recorded at or after `since_ms`, oldest first: the whole
    /// stored history for reports (`driftline history`); the scheduler reads
    /// [`DriftHistory::latest`].
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Corrupt`] for an unreadable item.
    pub async fn drift_since(
        &self,
        portfolio: &PortfolioId,
        since_ms: EpochMillis,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        // Sort keys are `DRIFT#<15-digit ms>#<cycle>`: every one from `since` on sorts between
        // its key and `DRIFT$` ('$' follows '#').
        let from = format!("DRIFT#{:015}", since_ms.max(0));
        self.query_keys(
            portfolio_pk(portfolio),
            SortKeys::Between(&from, "DRIFT$"),
            false,
            None,
            "Query(drift since)",
        )
        .await?
        .iter()
        .map(recorded_snapshot)
        .collect()
    }
}
