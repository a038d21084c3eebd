//! Durable state ports: the order ledger, cycle leases, drift history, the market-filter cache,
//! shared circuit-breaker state and portfolio configurations. The rules that decide a write's
//! outcome live with the records they move ([`crate::orders`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::PortfolioSpec;
use crate::orders::{
    Claim, ClaimOutcome, FillOutcome, FillProgress, OrderKey, OrderRecord, RecordOutcome,
    Transition, TransitionOutcome,
};
use crate::{
    BreakerState, ClientOrderId, CycleId, DriftSnapshot, EpochMillis, MarketFilters, OrderIntent,
    PortfolioId, Symbol,
};

/// What went wrong reaching or reading a store or queue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The service could not be reached or refused the call; the caller may retry.
    #[error("{service} unavailable during {operation}: {reason}")]
    Unavailable {
        service: &'static str,
        operation: &'static str,
        reason: String,
    },
    /// A stored item or message could not be read back.
    #[error("stored {what} is unreadable: field {field}: {reason}")]
    Corrupt {
        what: &'static str,
        field: &'static str,
        reason: String,
    },
    /// The caller passed a value the store cannot represent.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidInput {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// The order ledger: one record per intent, moved through the state machine by conditional
/// writes only.
///
/// # Errors
/// Every method: [`StoreError::Unavailable`] when the store cannot be reached (the caller may
/// retry; conditional writes make retries safe), [`StoreError::Corrupt`] when a stored item
/// cannot be read back. A lost race or an illegal move is an outcome, not an error.
#[async_trait]
pub trait OrderLedger: Send + Sync {
    /// Records a new intent as `PENDING`, in the one write that also finds the deployment not
    /// halted and the intent's portfolio configured and not paused
    /// ([`RecordOutcome::Refused`] otherwise); an existing record is returned untouched.
    async fn record(
        &self,
        intent: &OrderIntent,
        now: EpochMillis,
    ) -> Result<RecordOutcome, StoreError>;
    /// Records a cycle's intents as [`Self::record`] does each, under the same checks: one
    /// outcome per intent, in order. Stores that write many items in one request override it.
    async fn record_all(
        &self,
        intents: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        record_each(self, intents, now).await
    }
    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError>;
    /// Claims the order for execution (`PLACING`); see [`claim_allowed`](crate::orders::claim_allowed).
    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError>;
    /// Claims `intent`'s order while it is `PENDING` as the scheduler recorded it and not past
    /// its deadline, in the one request that also finds the deployment not halted and
    /// `venue`'s breaker closed with no failure counted: the claimed record
    /// ([`claim_of_pending`](crate::orders::claim_of_pending)), or why not; then the caller goes
    /// the usual way (reads the controls, then [`Self::claim`]). A ledger that cannot check the
    /// controls in its claim always answers [`ClearClaim::NotClear`].
    async fn claim_if_clear(
        &self,
        _intent: &OrderIntent,
        _claim: &Claim,
        _venue: &str,
    ) -> Result<ClearClaim, StoreError> {
        Ok(ClearClaim::NotClear)
    }
    async fn transition(
        &self,
        key: &OrderKey,
        t: &Transition,
    ) -> Result<TransitionOutcome, StoreError>;
    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
    ) -> Result<FillOutcome, StoreError>;
    /// The portfolio's orders not yet in a final state.
    async fn open_orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError>;
    /// Every order of the portfolio the ledger still holds, final ones included (they expire
    /// 90 days after they end). On DynamoDB the same request as [`Self::open_orders`].
    async fn orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError>;
}

/// What [`OrderLedger::claim_if_clear`] came to. Nothing is written unless `Claimed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearClaim {
    /// The caller holds the order (`PLACING`), this record.
    Claimed(Box<OrderRecord>),
    /// The kill switch is set: whatever the caller read of it before is out of date.
    Halted,
    /// Not claimed, for any other reason (the order not the `PENDING` record, the breaker not
    /// clear, a conflicting write), or not known why.
    NotClear,
}

/// Records `intents` one [`OrderLedger::record`] at a time: one outcome per intent, in order.
/// What [`OrderLedger::record_all`] does unless a store writes many items in one request, and
/// what such a store falls back to when that request is refused.
///
/// # Errors
/// The first error a record meets; the intents before it are recorded.
pub async fn record_each<L: OrderLedger + ?Sized>(
    ledger: &L,
    intents: &[OrderIntent],
    now: EpochMillis,
) -> Result<Vec<RecordOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(intents.len());
    for intent in intents {
        outcomes.push(ledger.record(intent, now).await?);
    }
    Ok(outcomes)
}

/// Who runs a portfolio's cycle, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub portfolio_id: PortfolioId,
    pub owner: String,
    pub cycle_id: CycleId,
    pub expires_at_ms: EpochMillis,
}

impl Lease {
    /// The lease `owner` asks for at `now`: `cycle` of `portfolio`, for `ttl_ms`.
    pub fn wanted(
        portfolio: &PortfolioId,
        owner: &str,
        cycle: &CycleId,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Self {
        Self {
            portfolio_id: portfolio.clone(),
            owner: owner.to_owned(),
            cycle_id: cycle.clone(),
            expires_at_ms: now + ttl_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    /// Someone else holds a live lease.
    HeldBy(Lease),
    /// A renewal found the lease gone (released or expired and removed).
    Lost,
}

/// One scheduler cycle per portfolio at a time.
///
/// # Errors
/// Every method: [`StoreError::Unavailable`] when the store cannot be reached (the caller may
/// retry; conditional writes make retries safe), [`StoreError::Corrupt`] when a stored item
/// cannot be read back. A lost race or an illegal move is an outcome, not an error.
#[async_trait]
pub trait CycleLeases: Send + Sync {
    /// Takes `wanted` (its owner, cycle and expiry) if the portfolio's lease is absent or
    /// expired at `now`.
    async fn acquire(&self, wanted: &Lease, now: EpochMillis) -> Result<LeaseOutcome, StoreError>;
    /// Extends a lease its owner still holds.
    async fn renew(
        &self,
        lease: &Lease,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Releases the lease if `lease.owner` holds it, keeping how the cycle ended; false if
    /// someone else holds it.
    async fn release(
        &self,
        lease: &Lease,
        record: &crate::control::CycleRecord,
    ) -> Result<bool, StoreError>;
    /// How the portfolio's last released cycle ended.
    async fn last_cycle(
        &self,
        portfolio: &PortfolioId,
    ) -> Result<Option<crate::control::CycleRecord>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSnapshot {
    pub recorded_at_ms: EpochMillis,
    pub snapshot: DriftSnapshot,
    /// The portfolio's orders open when the cycle ended (its new intents included): the next
    /// cycle reports those that ended since ([`crate::notify::ended_since`]). Empty on a
    /// snapshot stored without them.
    #[serde(default)]
    pub open_orders: Vec<ClientOrderId>,
}

/// Drift snapshots per portfolio, for drift velocity.
///
/// # Errors
/// Every method: [`StoreError::Unavailable`] when the store cannot be reached (the caller may
/// retry; conditional writes make retries safe), [`StoreError::Corrupt`] when a stored item
/// cannot be read back. A lost race or an illegal move is an outcome, not an error.
#[async_trait]
pub trait DriftHistory: Send + Sync {
    /// Stores a cycle's snapshot with the orders open when it ended.
    async fn record_cycle(
        &self,
        snapshot: &DriftSnapshot,
        open_orders: &[ClientOrderId],
        now: EpochMillis,
    ) -> Result<(), StoreError>;
    /// Stores a snapshot without open orders (tools and tests).
    async fn append(&self, snapshot: &DriftSnapshot, now: EpochMillis) -> Result<(), StoreError> {
        self.record_cycle(snapshot, &[], now).await
    }
    /// The last `k` snapshots, newest first.
    async fn latest(
        &self,
        portfolio: &PortfolioId,
        k: u16,
    ) -> Result<Vec<RecordedSnapshot>, StoreError>;
}

/// How long cached market filters are trusted.
pub const MARKET_FILTER_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Market filters per exchange and symbol; expired entries read as absent.
///
/// # Errors
/// Every method: [`StoreError::Unavailable`] when the store cannot be reached (the caller may
/// retry; conditional writes make retries safe), [`StoreError::Corrupt`] when a stored item
/// cannot be read back. A lost race or an illegal move is an outcome, not an error.
#[async_trait]
pub trait MarketFilterCache: Send + Sync {
    async fn filters(
        &self,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> Result<Option<MarketFilters>, StoreError>;
    async fn put_filters(
        &self,
        exchange: &str,
        filters: &MarketFilters,
        now: EpochMillis,
    ) -> Result<(), StoreError>;
}

/// A breaker state and the version it was read at (0: never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedBreaker {
    pub state: BreakerState,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerSave {
    Saved(VersionedBreaker),
    /// Another instance saved first: here is its state.
    Conflict(VersionedBreaker),
}

/// Circuit-breaker state per exchange, shared by every executor instance.
///
/// # Errors
/// Every method: [`StoreError::Unavailable`] when the store cannot be reached (the caller may
/// retry; conditional writes make retries safe), [`StoreError::Corrupt`] when a stored item
/// cannot be read back. A lost race or an illegal move is an outcome, not an error.
#[async_trait]
pub trait BreakerStore: Send + Sync {
    async fn load(&self, exchange: &str) -> Result<VersionedBreaker, StoreError>;
    /// Saves `state` if the stored version is still `expected_version`.
    async fn save(
        &self,
        exchange: &str,
        state: BreakerState,
        expected_version: u64,
    ) -> Result<BreakerSave, StoreError>;
}

/// A portfolio's configuration as stored: the spec, the version every change bumps (a write
/// names the version it read, so two operators cannot silently overwrite each other), and the
/// pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPortfolio {
    pub spec: PortfolioSpec,
    /// 1 for the first write; 0 for an item written by hand without a version.
    pub version: u64,
    pub paused: Option<crate::control::Stop>,
}

/// Where portfolio configurations are kept.
#[async_trait]
pub trait PortfolioConfigs: Send + Sync {
    /// Every configured portfolio's id, in id order.
    async fn portfolio_ids(&self) -> Result<Vec<PortfolioId>, StoreError>;
    async fn portfolio(&self, id: &PortfolioId) -> Result<Option<StoredPortfolio>, StoreError>;
}
