//! Ports for durable state and messaging: the order ledger, cycle leases, drift history, the
//! market-filter cache, shared circuit-breaker state and the intent queue.
//!
//! The rules that decide an outcome (is this order claimable, is this fill new, who holds this
//! lease) live here as pure functions over records, so the in-memory implementations
//! ([`crate::testing`]) and the DynamoDB adapter (which turns them into condition expressions
//! and classifies the `ALL_OLD` item of a failed condition with them) agree.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    Asset, BreakerState, ClientOrderId, CycleId, DriftSnapshot, EpochMillis, MarketFilters,
    OrderIntent, OrderStatus, PortfolioId, Symbol,
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

/// Where an order lives in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderKey {
    pub portfolio_id: PortfolioId,
    pub client_order_id: ClientOrderId,
}

impl OrderKey {
    pub fn of(intent: &OrderIntent) -> Self {
        Self {
            portfolio_id: intent.portfolio_id.clone(),
            client_order_id: intent.client_order_id.clone(),
        }
    }
}

/// An order as the ledger knows it: the intent, where it is in its life, and what has filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub intent: OrderIntent,
    pub status: OrderStatus,
    /// Bumped by every change; transitions name the version they start from.
    pub version: u64,
    /// Cumulative executed base quantity, as the exchange reports it.
    #[serde(with = "crate::exact")]
    pub filled_qty: Decimal,
    /// Cumulative quote spent (buy) or received (sell).
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    /// Cumulative commission, in `fee_asset`.
    #[serde(with = "crate::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    /// Every fill's commission converted to the quote asset at the fill's price: what the
    /// order cost in fees, whatever asset the exchange charged them in.
    #[serde(with = "crate::exact", default)]
    pub fees_quote: Decimal,
    pub exchange_order_id: Option<u64>,
    /// How many times the order was claimed for execution.
    pub attempts: u32,
    /// Who holds the execution claim, and until when (epoch ms, from the Lambda deadline).
    pub claim_owner: Option<String>,
    pub claim_expires_at_ms: Option<EpochMillis>,
    pub last_error: Option<String>,
    pub updated_at_ms: EpochMillis,
}

impl OrderRecord {
    /// The record the scheduler writes: pending, version 1, nothing filled.
    pub fn pending(intent: OrderIntent, now: EpochMillis) -> Self {
        Self {
            intent,
            status: OrderStatus::Pending,
            version: 1,
            filled_qty: Decimal::ZERO,
            cumulative_quote_qty: Decimal::ZERO,
            fees: Decimal::ZERO,
            fee_asset: None,
            fees_quote: Decimal::ZERO,
            exchange_order_id: None,
            attempts: 0,
            claim_owner: None,
            claim_expires_at_ms: None,
            last_error: None,
            updated_at_ms: now,
        }
    }

    pub fn key(&self) -> OrderKey {
        OrderKey::of(&self.intent)
    }
}

/// Outcome of recording an intent: the ledger never overwrites an order it already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded(OrderRecord),
    AlreadyRecorded(OrderRecord),
}

/// A request to claim an order for execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who claims (the Lambda request id).
    pub owner: String,
    pub now_ms: EpochMillis,
    /// When the claim lapses if its holder dies: the invocation's deadline.
    pub in_progress_expiry_ms: EpochMillis,
}

/// Outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the order (now `PLACING`) and may place it.
    Claimed(OrderRecord),
    /// Another invocation holds a live claim.
    HeldByOther(OrderRecord),
    /// The order is past the claimable states (placed, filled, final): nothing to do.
    NotClaimable(OrderRecord),
    /// The intent's own deadline has passed: move it to `EXPIRED`, never place it.
    IntentExpired(OrderRecord),
    /// No such order. Never placed from the message alone: the record may have been removed
    /// by its TTL after it reached a final state.
    NotFound,
}

/// The states a claim starts from, besides a `PLACING` claim that has lapsed.
pub const CLAIMABLE: [OrderStatus; 2] = [OrderStatus::Pending, OrderStatus::Queued];

/// Whether `claim` may take `current` (the Powertools rule: free, or in progress past its
/// in-progress expiry), and the intent's deadline has not passed.
pub fn claim_allowed(current: &OrderRecord, claim: &Claim) -> bool {
    let free = CLAIMABLE.contains(&current.status);
    let lapsed = current.status == OrderStatus::Placing
        && current
            .claim_expires_at_ms
            .is_some_and(|e| e < claim.now_ms);
    (free || lapsed) && current.intent.expires_at_ms > claim.now_ms
}

/// Why a claim on `current` failed (the caller has checked [`claim_allowed`] is false).
pub fn classify_failed_claim(current: OrderRecord, claim: &Claim) -> ClaimOutcome {
    let claimable_state = CLAIMABLE.contains(&current.status)
        || (current.status == OrderStatus::Placing
            && current
                .claim_expires_at_ms
                .is_some_and(|e| e < claim.now_ms));
    if claimable_state && current.intent.expires_at_ms <= claim.now_ms {
        ClaimOutcome::IntentExpired(current)
    } else if current.status == OrderStatus::Placing {
        ClaimOutcome::HeldByOther(current)
    } else {
        ClaimOutcome::NotClaimable(current)
    }
}

/// The record after a successful claim.
pub fn apply_claim(mut current: OrderRecord, claim: &Claim) -> OrderRecord {
    current.status = OrderStatus::Placing;
    current.version += 1;
    current.attempts += 1;
    current.claim_owner = Some(claim.owner.clone());
    current.claim_expires_at_ms = Some(claim.in_progress_expiry_ms);
    current.updated_at_ms = claim.now_ms;
    current
}

/// What a transition records besides the new status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderUpdate {
    pub exchange_order_id: Option<u64>,
    pub last_error: Option<String>,
}

/// A state change from a known version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub expected_version: u64,
    pub to: OrderStatus,
    pub update: OrderUpdate,
    pub now_ms: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Applied(OrderRecord),
    /// The move is illegal from the current state, or the version moved on: here is the
    /// current record.
    Conflict(OrderRecord),
    NotFound,
}

pub fn transition_allowed(current: &OrderRecord, t: &Transition) -> bool {
    current.version == t.expected_version && current.status.can_become(t.to)
}

pub fn apply_transition(mut current: OrderRecord, t: &Transition) -> OrderRecord {
    current.status = t.to;
    current.version += 1;
    if let Some(id) = t.update.exchange_order_id {
        current.exchange_order_id = Some(id);
    }
    if let Some(e) = &t.update.last_error {
        current.last_error = Some(e.clone());
    }
    if t.to != OrderStatus::Placing {
        current.claim_owner = None;
        current.claim_expires_at_ms = None;
    }
    current.updated_at_ms = t.now_ms;
    current
}

/// An order's cumulative execution as the exchange reports it. Fills are applied by this
/// cumulative quantity, which only moves forward, so the same report applied twice (or an
/// older report after a newer one) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillProgress {
    pub exchange_order_id: u64,
    #[serde(with = "crate::exact")]
    pub executed_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    /// All commissions in the quote asset (see [`OrderRecord::fees_quote`]).
    #[serde(with = "crate::exact", default)]
    pub fees_quote: Decimal,
    /// `PARTIALLY_FILLED`, `FILLED`, or a final state an order with fills may end in
    /// (`CANCELLED`, `EXPIRED`).
    pub status: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillOutcome {
    Applied(OrderRecord),
    /// This report (or a later one) was applied before: nothing changed.
    AlreadyApplied(OrderRecord),
    /// The order's state does not accept this report (for example a fill on a pending order).
    Conflict(OrderRecord),
    NotFound,
}

/// Width of the integer and fraction parts of [`fill_progress_key`].
const KEY_INT_DIGITS: usize = 20;
const KEY_FRAC_DIGITS: usize = 18;

/// A non-negative quantity as a fixed-width string whose byte order is its numeric order, so a
/// store can compare quantities kept as strings ("never as numbers") in a condition.
///
/// # Errors
/// [`StoreError::InvalidInput`] for a negative quantity, more than 20 integer digits or more
/// than 18 decimal places.
pub fn fill_progress_key(qty: Decimal) -> Result<String, StoreError> {
    let invalid = |reason| StoreError::InvalidInput {
        field: "executed_qty",
        value: qty.to_string(),
        reason,
    };
    if qty.is_sign_negative() && !qty.is_zero() {
        return Err(invalid("must not be negative"));
    }
    let plain = qty.normalize().abs().to_string();
    let (int, frac) = plain.split_once('.').unwrap_or((plain.as_str(), ""));
    if int.len() > KEY_INT_DIGITS {
        return Err(invalid("more than 20 integer digits"));
    }
    if frac.len() > KEY_FRAC_DIGITS {
        return Err(invalid("more than 18 decimal places"));
    }
    Ok(format!(
        "{int:0>iw$}.{frac:0<fw$}",
        iw = KEY_INT_DIGITS,
        fw = KEY_FRAC_DIGITS
    ))
}

/// The states a fill report moving an order to `to` may start from: the state machine's
/// predecessors the exchange may have accepted an order in. A final state is never left, not
/// even for itself with a larger quantity.
pub fn fill_predecessors(to: OrderStatus) -> Vec<OrderStatus> {
    OrderStatus::predecessors(to)
        .into_iter()
        .filter(|s| {
            matches!(
                s,
                OrderStatus::Placing
                    | OrderStatus::Placed
                    | OrderStatus::PartiallyFilled
                    | OrderStatus::Repricing
            )
        })
        .collect()
}

/// Whether `fill` moves `current` forward.
///
/// # Errors
/// As [`fill_progress_key`].
pub fn fill_allowed(current: &OrderRecord, fill: &FillProgress) -> Result<bool, StoreError> {
    let forward = fill_progress_key(current.filled_qty)? < fill_progress_key(fill.executed_qty)?;
    let same_qty_new_state =
        current.filled_qty == fill.executed_qty && current.status != fill.status;
    Ok(fill_predecessors(fill.status).contains(&current.status) && (forward || same_qty_new_state))
}

/// Why a fill on `current` did not apply (the caller has checked [`fill_allowed`] is false).
pub fn classify_failed_fill(current: OrderRecord, fill: &FillProgress) -> FillOutcome {
    let seen = current.filled_qty >= fill.executed_qty
        && (current.status == fill.status
            || current.status.is_final()
            || fill.status == OrderStatus::PartiallyFilled
                && current.status == OrderStatus::Filled);
    if seen {
        FillOutcome::AlreadyApplied(current)
    } else {
        FillOutcome::Conflict(current)
    }
}

pub fn apply_fill(mut current: OrderRecord, fill: &FillProgress, now: EpochMillis) -> OrderRecord {
    current.status = fill.status;
    current.version += 1;
    current.filled_qty = fill.executed_qty;
    current.cumulative_quote_qty = fill.cumulative_quote_qty;
    current.fees = fill.fees;
    current.fee_asset.clone_from(&fill.fee_asset);
    current.fees_quote = fill.fees_quote;
    current.exchange_order_id = Some(fill.exchange_order_id);
    current.claim_owner = None;
    current.claim_expires_at_ms = None;
    current.updated_at_ms = now;
    current
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
    /// Records a new intent as `PENDING`; an existing record is returned untouched.
    async fn record(
        &self,
        intent: &OrderIntent,
        now: EpochMillis,
    ) -> Result<RecordOutcome, StoreError>;
    /// Records a cycle's intents as [`Self::record`] does each: one outcome per intent, in
    /// order. Stores that write many items in one request override it.
    async fn record_all(
        &self,
        intents: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(intents.len());
        for intent in intents {
            outcomes.push(self.record(intent, now).await?);
        }
        Ok(outcomes)
    }
    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError>;
    /// Claims the order for execution (`PLACING`); see [`claim_allowed`].
    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError>;
    async fn transition(
        &self,
        key: &OrderKey,
        t: &Transition,
    ) -> Result<TransitionOutcome, StoreError>;
    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
        now: EpochMillis,
    ) -> Result<FillOutcome, StoreError>;
    /// The portfolio's orders not yet in a final state.
    async fn open_orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError>;
    /// Every order of the portfolio the ledger still holds, final ones included (they expire
    /// 90 days after they end). On DynamoDB the same request as [`Self::open_orders`].
    async fn orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError>;
}

/// Who runs a portfolio's cycle, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub portfolio_id: PortfolioId,
    pub owner: String,
    pub cycle_id: CycleId,
    pub expires_at_ms: EpochMillis,
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
    /// Takes the lease if it is absent or expired.
    async fn acquire(
        &self,
        portfolio: &PortfolioId,
        owner: &str,
        cycle: &CycleId,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError>;
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

/// What a follow-up message knows of its placed order: the ledger record as the executor left
/// it when it queued the follow-up. With it the follow-up neither claims nor reads the order;
/// the ledger stays the authority, since every write a follow-up makes is conditional on the
/// stored state (fills only move forward, transitions name their version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub status: OrderStatus,
    pub version: u64,
    #[serde(with = "crate::exact")]
    pub filled_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    #[serde(with = "crate::exact", default)]
    pub fees_quote: Decimal,
    pub exchange_order_id: Option<u64>,
    pub attempts: u32,
    pub updated_at_ms: EpochMillis,
}

impl PlacedOrder {
    /// The snapshot of a record resting on the exchange; `None` for any other state, which a
    /// follow-up must learn from the ledger.
    pub fn of(record: &OrderRecord) -> Option<Self> {
        record.status.is_resting().then(|| Self {
            status: record.status,
            version: record.version,
            filled_qty: record.filled_qty,
            cumulative_quote_qty: record.cumulative_quote_qty,
            fees: record.fees,
            fee_asset: record.fee_asset.clone(),
            fees_quote: record.fees_quote,
            exchange_order_id: record.exchange_order_id,
            attempts: record.attempts,
            updated_at_ms: record.updated_at_ms,
        })
    }

    /// Whether this could be a snapshot of `intent` resting on the exchange: a resting state,
    /// and fills within the order's quantity. A message carrying anything else is followed up
    /// through the ledger instead, as a message without a snapshot is.
    pub fn fits(&self, intent: &OrderIntent) -> bool {
        self.status.is_resting()
            && !self.filled_qty.is_sign_negative()
            && self.filled_qty <= intent.quantity
            && !self.cumulative_quote_qty.is_sign_negative()
            && !self.fees.is_sign_negative()
            && !self.fees_quote.is_sign_negative()
    }

    /// The record this snapshot was taken from (no claim: a resting order holds none; the last
    /// error is not carried).
    pub fn into_record(self, intent: OrderIntent) -> OrderRecord {
        OrderRecord {
            intent,
            status: self.status,
            version: self.version,
            filled_qty: self.filled_qty,
            cumulative_quote_qty: self.cumulative_quote_qty,
            fees: self.fees,
            fee_asset: self.fee_asset,
            fees_quote: self.fees_quote,
            exchange_order_id: self.exchange_order_id,
            attempts: self.attempts,
            claim_owner: None,
            claim_expires_at_ms: None,
            last_error: None,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// The message an intent travels in. Versioned so a reader can refuse what it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentEnvelope {
    pub v: u32,
    pub intent: OrderIntent,
    /// Set on the follow-up of a placed order (an optional field, so version 1 readers and
    /// messages from before it still agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<PlacedOrder>,
}

impl IntentEnvelope {
    pub const VERSION: u32 = 1;

    pub fn new(intent: OrderIntent) -> Self {
        Self {
            v: Self::VERSION,
            intent,
            placed: None,
        }
    }

    /// The follow-up of `record`: its intent, and the record itself while it rests on the
    /// exchange.
    pub fn follow_up(record: &OrderRecord) -> Self {
        Self {
            v: Self::VERSION,
            intent: record.intent.clone(),
            placed: PlacedOrder::of(record),
        }
    }

    /// JSON, decimals as strings.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] if the intent cannot be serialized (it always can).
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::InvalidInput {
            field: "intent",
            value: self.intent.client_order_id.to_string(),
            reason: if e.is_io() { "io" } else { "not serializable" },
        })
    }

    /// # Errors
    /// [`StoreError::Corrupt`] naming the field for malformed JSON, an unknown version or an
    /// invalid intent.
    pub fn from_json(body: &str) -> Result<Self, StoreError> {
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let corrupt = |field, reason: String| StoreError::Corrupt {
            what: "intent message",
            field,
            reason,
        };
        let head: Versioned =
            serde_json::from_str(body).map_err(|e| corrupt("v", e.to_string()))?;
        if head.v != Self::VERSION {
            return Err(corrupt("v", format!("unknown envelope version {}", head.v)));
        }
        let de = &mut serde_json::Deserializer::from_str(body);
        serde_path_to_error::deserialize(de).map_err(|e| StoreError::Corrupt {
            what: "intent message",
            field: "intent",
            reason: format!("{}: {}", e.path(), e.inner()),
        })
    }
}

/// Exponential backoff for redelivering a message, capped (15 minutes by default, well under
/// SQS's 12-hour visibility limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub base_secs: u32,
    pub cap_secs: u32,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            base_secs: 5,
            cap_secs: 15 * 60,
        }
    }
}

impl RetryBackoff {
    /// The longest delay for the `attempt`-th retry (0-based): `base × 2^attempt`, capped.
    pub fn ceiling_secs(self, attempt: u32) -> u32 {
        self.base_secs
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap_secs)
    }

    /// "Equal jitter": half the ceiling plus a random share of the other half, so concurrent
    /// retries spread out but none comes back at once. `draw` is any random number.
    pub fn delay_secs(self, attempt: u32, draw: u64) -> u32 {
        let ceiling = self.ceiling_secs(attempt);
        let half = ceiling / 2;
        let spread = u64::from(ceiling - half) + 1;
        // The remainder is below `spread`, itself at most u32::MAX + 1.
        half + u32::try_from(draw % spread).unwrap_or(0)
    }
}

/// A message taken from the queue: the envelope and what is needed to delete or delay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedIntent {
    pub envelope: IntentEnvelope,
    pub receipt_handle: String,
    /// How many times the queue has delivered this message, this time included.
    pub receive_count: u32,
}

/// What a batch send did: intents sent, and those the queue refused after retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: Vec<ClientOrderId>,
    pub failed: Vec<(ClientOrderId, String)>,
}

/// The queue that carries intents from the scheduler to the executor (at least once).
///
/// # Errors
/// [`StoreError::Unavailable`] when the queue cannot be reached; [`StoreError::InvalidInput`]
/// for a delay over 900 seconds or a receipt handle the queue does not know.
#[async_trait]
pub trait IntentQueue: Send + Sync {
    /// Sends every message, each visible after `delay_secs` (at most 900).
    async fn send(
        &self,
        messages: &[IntentEnvelope],
        delay_secs: u32,
    ) -> Result<SendReport, StoreError>;
    /// Up to `max` messages, waiting up to `wait_secs` for the first.
    async fn receive(&self, max: u8, wait_secs: u8) -> Result<Vec<ReceivedIntent>, StoreError>;
    /// Makes a received message visible again after `delay_secs` (retry backoff).
    async fn retry_later(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), StoreError>;
    /// Acknowledges a message: it is never delivered again.
    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Price, Side};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    pub(crate) fn intent(expires_at_ms: EpochMillis) -> OrderIntent {
        let portfolio_id = PortfolioId::new("p1").unwrap();
        let cycle_id = CycleId::new("c1").unwrap();
        let symbol: Symbol = "BTC/USDT".parse().unwrap();
        OrderIntent {
            client_order_id: ClientOrderId::derive(&portfolio_id, &cycle_id, &symbol, Side::Buy, 0),
            portfolio_id,
            cycle_id,
            symbol,
            side: Side::Buy,
            leg: 0,
            quantity: dec!(0.5),
            limit_price: Price::new(dec!(100)).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            funded_by_sells: false,
            reference_price: Price::new(dec!(100.05)).unwrap(),
            worst_price: Price::new(dec!(101)).unwrap(),
            predicted_cost_bps: dec!(3.5),
            created_at_ms: 0,
            expires_at_ms,
            account: None,
        }
    }

    fn record(status: OrderStatus, claim_expiry: Option<EpochMillis>) -> OrderRecord {
        OrderRecord {
            status,
            claim_expires_at_ms: claim_expiry,
            ..OrderRecord::pending(intent(10_000), 0)
        }
    }

    fn claim_at(now_ms: EpochMillis) -> Claim {
        Claim {
            owner: "req-2".into(),
            now_ms,
            in_progress_expiry_ms: now_ms + 900,
        }
    }

    #[rstest]
    #[case::pending(OrderStatus::Pending, None, 100, true)]
    #[case::queued(OrderStatus::Queued, None, 100, true)]
    #[case::live_claim(OrderStatus::Placing, Some(500), 100, false)]
    #[case::lapsed_claim(OrderStatus::Placing, Some(500), 501, true)]
    #[case::at_expiry_still_held(OrderStatus::Placing, Some(500), 500, false)]
    #[case::placed(OrderStatus::Placed, None, 100, false)]
    #[case::filled(OrderStatus::Filled, None, 100, false)]
    #[case::intent_expired(OrderStatus::Pending, None, 10_000, false)]
    fn claim_rule(
        #[case] status: OrderStatus,
        #[case] claim_expiry: Option<EpochMillis>,
        #[case] now: EpochMillis,
        #[case] allowed: bool,
    ) {
        assert_eq!(
            claim_allowed(&record(status, claim_expiry), &claim_at(now)),
            allowed
        );
    }

    #[rstest]
    #[case::held(OrderStatus::Placing, Some(500), 100, "held")]
    #[case::done(OrderStatus::Placed, None, 100, "not_claimable")]
    #[case::expired(OrderStatus::Queued, None, 10_001, "expired")]
    fn failed_claims_say_why(
        #[case] status: OrderStatus,
        #[case] claim_expiry: Option<EpochMillis>,
        #[case] now: EpochMillis,
        #[case] why: &str,
    ) {
        let got = match classify_failed_claim(record(status, claim_expiry), &claim_at(now)) {
            ClaimOutcome::HeldByOther(_) => "held",
            ClaimOutcome::NotClaimable(_) => "not_claimable",
            ClaimOutcome::IntentExpired(_) => "expired",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, why);
    }

    #[test]
    fn progress_keys_sort_as_the_quantities_do() {
        let qs = [
            dec!(0),
            dec!(0.00000001),
            dec!(0.5),
            dec!(0.50),
            dec!(2),
            dec!(10),
            dec!(10.1),
            dec!(123456.789),
        ];
        for a in qs {
            for b in qs {
                let (ka, kb) = (fill_progress_key(a).unwrap(), fill_progress_key(b).unwrap());
                assert_eq!(ka.cmp(&kb), a.cmp(&b), "{a} vs {b}: {ka} {kb}");
            }
        }
        assert_eq!(
            fill_progress_key(dec!(1.5)).unwrap(),
            "00000000000000000001.500000000000000000"
        );
    }

    #[rstest]
    #[case::negative(dec!(-1))]
    #[case::too_precise(dec!(0.0000000000000000001))]
    #[case::too_large(dec!(100000000000000000000))]
    fn progress_key_refuses_what_it_cannot_order(#[case] q: Decimal) {
        let err = fill_progress_key(q).unwrap_err();
        assert!(err.to_string().contains("executed_qty"), "{err}");
    }

    fn fill(qty: Decimal, status: OrderStatus) -> FillProgress {
        FillProgress {
            exchange_order_id: 7,
            executed_qty: qty,
            cumulative_quote_qty: qty * dec!(100),
            fees: dec!(0),
            fee_asset: None,
            fees_quote: dec!(0),
            status,
        }
    }

    #[test]
    fn fills_only_move_forward() {
        let placed = record(OrderStatus::Placed, None);
        let f = fill(dec!(0.2), OrderStatus::PartiallyFilled);
        assert!(fill_allowed(&placed, &f).unwrap());
        let after = apply_fill(placed, &f, 1);
        assert!(!fill_allowed(&after, &f).unwrap(), "the same report twice");
        assert!(matches!(
            classify_failed_fill(after.clone(), &f),
            FillOutcome::AlreadyApplied(_)
        ));
        let older = fill(dec!(0.1), OrderStatus::PartiallyFilled);
        assert!(!fill_allowed(&after, &older).unwrap());
        assert!(matches!(
            classify_failed_fill(after.clone(), &older),
            FillOutcome::AlreadyApplied(_)
        ));
        let done = fill(dec!(0.5), OrderStatus::Filled);
        let filled = apply_fill(after, &done, 2);
        assert!(!fill_allowed(&filled, &done).unwrap());
        assert!(!fill_allowed(&filled, &f).unwrap());
        let more_after_final = fill(dec!(0.6), OrderStatus::Filled);
        assert!(
            !fill_allowed(&filled, &more_after_final).unwrap(),
            "a final state is never left"
        );
        let cancelled_same_qty = fill(dec!(0.2), OrderStatus::Cancelled);
        let partial = apply_fill(record(OrderStatus::Placed, None), &f, 1);
        assert!(
            fill_allowed(&partial, &cancelled_same_qty).unwrap(),
            "cancel with the fills so far"
        );
        let pending = record(OrderStatus::Pending, None);
        assert!(!fill_allowed(&pending, &f).unwrap());
        assert!(matches!(
            classify_failed_fill(pending, &f),
            FillOutcome::Conflict(_)
        ));
    }

    #[rstest]
    #[case(0, 0, 2)]
    #[case(0, u64::MAX, 5)]
    #[case(3, 0, 20)]
    #[case(3, 20, 40)]
    #[case(30, 0, 450)]
    #[case(30, 450, 900)]
    fn backoff_is_exponential_capped_and_jittered_within_half(
        #[case] attempt: u32,
        #[case] draw: u64,
        #[case] want: u32,
    ) {
        let b = RetryBackoff::default();
        let got = b.delay_secs(attempt, draw);
        let ceiling = b.ceiling_secs(attempt);
        assert!(got >= ceiling / 2 && got <= ceiling && got <= 900);
        if draw != u64::MAX {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn envelope_round_trips_with_decimals_as_strings_and_refuses_unknown_versions() {
        let e = IntentEnvelope::new(intent(5));
        let json = e.to_json().unwrap();
        assert!(json.contains("\"quantity\":\"0.5\""), "{json}");
        assert!(json.starts_with("{\"v\":1,"));
        assert_eq!(IntentEnvelope::from_json(&json).unwrap(), e);
        let v2 = json.replacen("\"v\":1", "\"v\":2", 1);
        assert!(IntentEnvelope::from_json(&v2)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let bad = json.replace("\"0.5\"", "\"half\"");
        let err = IntentEnvelope::from_json(&bad).unwrap_err().to_string();
        assert!(err.contains("intent.quantity"), "{err}");
    }
}
