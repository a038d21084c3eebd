//! In-memory implementations of the ledger ports (and a notifier that keeps what it is told),
//! for unit tests of the services written against them. Same decision rules as the DynamoDB adapter (the functions of
//! [`crate::orders::record`]); one mutex makes each call atomic, as a conditional write is.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::config::PortfolioSpec;
use crate::control::{ControlState, CycleRecord, DeploymentControls, Stop};
use crate::notify::Notice;
use crate::orders::{
    apply_claim, apply_fill, apply_transition, claim_allowed, claim_of_pending,
    classify_failed_claim, classify_failed_fill, fill_allowed, transition_allowed, Claim,
    ClaimOutcome, FillOutcome, FillProgress, IntentEnvelope, OrderKey, OrderRecord, RecordOutcome,
    Refusal, Transition, TransitionOutcome,
};
use crate::ports::{
    BreakerSave, BreakerStore, ClearClaim, Clock, CycleLeases, DriftHistory, IntentQueue, Lease,
    LeaseOutcome, MarketFilterCache, Notifier, OrderLedger, PortfolioConfigs, ReceivedIntent,
    RecordedSnapshot, SendReport, StoreError, StoredPortfolio, VersionedBreaker,
    MARKET_FILTER_TTL_MS,
};
use crate::{
    BreakerState, ClientOrderId, DriftSnapshot, EpochMillis, MarketFilters, MarketFiltersFields,
    OrderIntent, OrderStatus, PortfolioId, Symbol, TradingStatus,
};

/// How many cases a property test runs: `default` (what `make test` runs, on the fixed seed it
/// sets in `PROPTEST_RNG_SEED`), times `DRIFTLINE_PROPERTY_SCALE` when set (`make reliability`
/// runs them long, on random seeds). A failure either finds is written to the test's
/// `proptest-regressions` file, which is committed with the fix.
pub fn property_cases(default: u32) -> u32 {
    let scale = std::env::var("DRIFTLINE_PROPERTY_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    default.saturating_mul(scale)
}

/// Spot filters of `symbol` as a Binance BTC market has them: tick 0.01, step and minimum
/// quantity 0.00001, minimum notional 5, no maximum, trading.
pub fn spot_filter_fields(symbol: Symbol) -> MarketFiltersFields {
    MarketFiltersFields {
        symbol,
        tick_size: rust_decimal::Decimal::new(1, 2),
        step_size: rust_decimal::Decimal::new(1, 5),
        min_qty: rust_decimal::Decimal::new(1, 5),
        max_qty: None,
        min_notional: rust_decimal::Decimal::new(5, 0),
        status: TradingStatus::Trading,
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(now_ms: EpochMillis) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: EpochMillis) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> EpochMillis {
        self.0.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A notifier that keeps every notice, for tests to read.
#[derive(Debug, Default)]
pub struct RecordedNotices(Mutex<Vec<Notice>>);

impl RecordedNotices {
    /// Every notice so far, oldest first.
    pub fn all(&self) -> Vec<Notice> {
        lock(&self.0).clone()
    }

    /// Every notice so far, oldest first, forgetting them.
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *lock(&self.0))
    }
}

#[async_trait]
impl Notifier for RecordedNotices {
    async fn notify(&self, notice: &Notice) {
        lock(&self.0).push(notice.clone());
    }
}

/// Every store port in memory.
#[derive(Default)]
pub struct InMemoryStore {
    orders: Mutex<HashMap<OrderKey, OrderRecord>>,
    leases: Mutex<HashMap<PortfolioId, Lease>>,
    drift: Mutex<HashMap<PortfolioId, Vec<RecordedSnapshot>>>,
    filters: Mutex<HashMap<(String, Symbol), (MarketFilters, EpochMillis)>>,
    breakers: Mutex<HashMap<String, VersionedBreaker>>,
    configs: Mutex<BTreeMap<PortfolioId, StoredPortfolio>>,
    cycles: Mutex<HashMap<PortfolioId, CycleRecord>>,
    halt: Mutex<Option<Stop>>,
    filter_reads: std::sync::atomic::AtomicUsize,
}

impl InMemoryStore {
    /// How many times the market filters were read (hits and misses alike).
    pub fn filter_reads(&self) -> usize {
        self.filter_reads.load(Ordering::SeqCst)
    }

    /// Stores (or replaces) a portfolio's configuration.
    ///
    /// # Panics
    /// When the spec's id is not a valid portfolio id (a test's mistake).
    pub fn put_portfolio(&self, spec: PortfolioSpec) {
        let id = PortfolioId::new(&spec.id).expect("a valid portfolio id");
        let mut configs = lock(&self.configs);
        let version = configs.get(&id).map_or(0, |c| c.version) + 1;
        let paused = configs.get(&id).and_then(|c| c.paused.clone());
        configs.insert(
            id,
            StoredPortfolio {
                spec,
                version,
                paused,
            },
        );
    }

    /// Pauses (`Some`) or resumes (`None`) a stored portfolio.
    ///
    /// # Panics
    /// When the portfolio is not stored (a test's mistake).
    pub fn set_paused(&self, id: &PortfolioId, pause: Option<Stop>) {
        let mut configs = lock(&self.configs);
        let stored = configs.get_mut(id).expect("a stored portfolio");
        stored.paused = pause;
        stored.version += 1;
    }

    /// Every order record, final ones included.
    pub fn all_orders(&self) -> Vec<OrderRecord> {
        lock(&self.orders).values().cloned().collect()
    }
}

#[async_trait]
impl PortfolioConfigs for InMemoryStore {
    async fn portfolio_ids(&self) -> Result<Vec<PortfolioId>, StoreError> {
        Ok(lock(&self.configs).keys().cloned().collect())
    }

    async fn portfolio(&self, id: &PortfolioId) -> Result<Option<StoredPortfolio>, StoreError> {
        Ok(lock(&self.configs).get(id).cloned())
    }
}

#[async_trait]
impl DeploymentControls for InMemoryStore {
    async fn read(&self, venue: &str) -> Result<ControlState, StoreError> {
        let halt = lock(&self.halt).clone();
        Ok(ControlState {
            halt,
            breaker: self.load(venue).await?,
        })
    }

    async fn set_halt(&self, halt: Option<&Stop>) -> Result<Option<Stop>, StoreError> {
        Ok(std::mem::replace(&mut *lock(&self.halt), halt.cloned()))
    }
}

#[async_trait]
impl OrderLedger for InMemoryStore {
    async fn record(
        &self,
        intent: &OrderIntent,
        now: EpochMillis,
    ) -> Result<RecordOutcome, StoreError> {
        let mut orders = lock(&self.orders);
        let key = OrderKey::of(intent);
        if let Some(existing) = orders.get(&key) {
            return Ok(RecordOutcome::AlreadyRecorded(existing.clone()));
        }
        if lock(&self.halt).is_some() {
            return Ok(RecordOutcome::Refused(Refusal::Halted));
        }
        if lock(&self.configs)
            .get(&intent.portfolio_id)
            .is_none_or(|c| c.paused.is_some())
        {
            return Ok(RecordOutcome::Refused(Refusal::PortfolioStopped));
        }
        let record = OrderRecord::pending(intent.clone(), now);
        orders.insert(key, record.clone());
        Ok(RecordOutcome::Recorded(record))
    }

    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError> {
        Ok(lock(&self.orders).get(key).cloned())
    }

    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let mut orders = lock(&self.orders);
        let Some(current) = orders.get(key).cloned() else {
            return Ok(ClaimOutcome::NotFound);
        };
        if !claim_allowed(&current, claim) {
            return Ok(classify_failed_claim(current, claim));
        }
        let next = apply_claim(current, claim);
        orders.insert(key.clone(), next.clone());
        Ok(ClaimOutcome::Claimed(next))
    }

    async fn claim_if_clear(
        &self,
        intent: &OrderIntent,
        claim: &Claim,
        venue: &str,
    ) -> Result<ClearClaim, StoreError> {
        if lock(&self.halt).is_some() {
            return Ok(ClearClaim::Halted);
        }
        let clean = lock(&self.breakers)
            .get(venue)
            .is_none_or(|b| b.state == BreakerState::default());
        let mut orders = lock(&self.orders);
        let key = OrderKey::of(intent);
        let fresh = orders.get(&key).is_some_and(|current| {
            current.status == OrderStatus::Pending
                && current.version == 1
                && &current.intent == intent
                && claim_allowed(current, claim)
        });
        if !(fresh && clean) {
            return Ok(ClearClaim::NotClear);
        }
        let next = claim_of_pending(intent.clone(), claim);
        orders.insert(key, next.clone());
        Ok(ClearClaim::Claimed(Box::new(next)))
    }

    async fn transition(
        &self,
        key: &OrderKey,
        t: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        let mut orders = lock(&self.orders);
        let Some(current) = orders.get(key).cloned() else {
            return Ok(TransitionOutcome::NotFound);
        };
        if !transition_allowed(&current, t) {
            return Ok(TransitionOutcome::Conflict(current));
        }
        let next = apply_transition(current, t);
        orders.insert(key.clone(), next.clone());
        Ok(TransitionOutcome::Applied(next))
    }

    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
    ) -> Result<FillOutcome, StoreError> {
        let mut orders = lock(&self.orders);
        let Some(current) = orders.get(key).cloned() else {
            return Ok(FillOutcome::NotFound);
        };
        if !fill_allowed(&current, fill)? {
            return Ok(classify_failed_fill(current, fill));
        }
        let next = apply_fill(current, fill);
        orders.insert(key.clone(), next.clone());
        Ok(FillOutcome::Applied(next))
    }

    async fn open_orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        let mut open: Vec<OrderRecord> = lock(&self.orders)
            .values()
            .filter(|r| &r.intent.portfolio_id == portfolio && !r.status.is_final())
            .cloned()
            .collect();
        open.sort_by(|a, b| a.intent.client_order_id.cmp(&b.intent.client_order_id));
        Ok(open)
    }

    async fn orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        let mut all: Vec<OrderRecord> = lock(&self.orders)
            .values()
            .filter(|r| &r.intent.portfolio_id == portfolio)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.intent.client_order_id.cmp(&b.intent.client_order_id));
        Ok(all)
    }
}

#[async_trait]
impl CycleLeases for InMemoryStore {
    async fn acquire(&self, wanted: &Lease, now: EpochMillis) -> Result<LeaseOutcome, StoreError> {
        let mut leases = lock(&self.leases);
        if let Some(held) = leases.get(&wanted.portfolio_id) {
            if held.expires_at_ms > now {
                return Ok(LeaseOutcome::HeldBy(held.clone()));
            }
        }
        leases.insert(wanted.portfolio_id.clone(), wanted.clone());
        Ok(LeaseOutcome::Acquired(wanted.clone()))
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut leases = lock(&self.leases);
        match leases.get_mut(&lease.portfolio_id) {
            None => Ok(LeaseOutcome::Lost),
            Some(held) if held.owner != lease.owner => Ok(LeaseOutcome::HeldBy(held.clone())),
            Some(held) => {
                held.expires_at_ms = now + ttl_ms;
                Ok(LeaseOutcome::Acquired(held.clone()))
            }
        }
    }

    async fn release(&self, lease: &Lease, record: &CycleRecord) -> Result<bool, StoreError> {
        let mut leases = lock(&self.leases);
        match leases.get(&lease.portfolio_id) {
            Some(held) if held.owner == lease.owner => {
                leases.remove(&lease.portfolio_id);
                lock(&self.cycles).insert(lease.portfolio_id.clone(), record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn last_cycle(&self, portfolio: &PortfolioId) -> Result<Option<CycleRecord>, StoreError> {
        Ok(lock(&self.cycles).get(portfolio).cloned())
    }
}

#[async_trait]
impl DriftHistory for InMemoryStore {
    async fn record_cycle(
        &self,
        snapshot: &DriftSnapshot,
        open_orders: &[ClientOrderId],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        lock(&self.drift)
            .entry(snapshot.portfolio_id.clone())
            .or_default()
            .push(RecordedSnapshot {
                recorded_at_ms: now,
                snapshot: snapshot.clone(),
                open_orders: open_orders.to_vec(),
            });
        Ok(())
    }

    async fn latest(
        &self,
        portfolio: &PortfolioId,
        k: u16,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        let mut all = lock(&self.drift)
            .get(portfolio)
            .cloned()
            .unwrap_or_default();
        all.sort_by_key(|r| std::cmp::Reverse(r.recorded_at_ms));
        all.truncate(usize::from(k));
        Ok(all)
    }
}

#[async_trait]
impl MarketFilterCache for InMemoryStore {
    async fn filters(
        &self,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> Result<Option<MarketFilters>, StoreError> {
        self.filter_reads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.filters)
            .get(&(exchange.to_owned(), symbol.clone()))
            .filter(|(_, expires)| *expires > now)
            .map(|(f, _)| f.clone()))
    }

    async fn put_filters(
        &self,
        exchange: &str,
        filters: &MarketFilters,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        lock(&self.filters).insert(
            (exchange.to_owned(), filters.symbol().clone()),
            (filters.clone(), now + MARKET_FILTER_TTL_MS),
        );
        Ok(())
    }
}

#[async_trait]
impl BreakerStore for InMemoryStore {
    async fn load(&self, exchange: &str) -> Result<VersionedBreaker, StoreError> {
        Ok(lock(&self.breakers)
            .get(exchange)
            .cloned()
            .unwrap_or(VersionedBreaker {
                state: BreakerState::default(),
                version: 0,
            }))
    }

    async fn save(
        &self,
        exchange: &str,
        state: BreakerState,
        expected_version: u64,
    ) -> Result<BreakerSave, StoreError> {
        let mut breakers = lock(&self.breakers);
        let current = breakers.get(exchange).cloned().unwrap_or(VersionedBreaker {
            state: BreakerState::default(),
            version: 0,
        });
        if current.version != expected_version {
            return Ok(BreakerSave::Conflict(current));
        }
        let saved = VersionedBreaker {
            state,
            version: expected_version + 1,
        };
        breakers.insert(exchange.to_owned(), saved.clone());
        Ok(BreakerSave::Saved(saved))
    }
}

struct QueuedMessage {
    envelope: IntentEnvelope,
    visible_at_ms: EpochMillis,
    receive_count: u32,
}

/// An intent queue in memory, on a caller's clock: delays and visibility timeouts hold until
/// the clock passes them. Receipt handles are message ids (one receipt per message).
pub struct InMemoryQueue {
    clock: Arc<dyn Clock>,
    visibility_timeout_ms: i64,
    messages: Mutex<(u64, BTreeMap<u64, QueuedMessage>)>,
}

impl InMemoryQueue {
    pub fn new(clock: Arc<dyn Clock>, visibility_timeout_ms: i64) -> Self {
        Self {
            clock,
            visibility_timeout_ms,
            messages: Mutex::new((0, BTreeMap::new())),
        }
    }

    /// Messages not yet deleted, visible or not.
    pub fn len(&self) -> usize {
        lock(&self.messages).1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn handle(receipt_handle: &str) -> Result<u64, StoreError> {
        receipt_handle
            .parse()
            .map_err(|_| StoreError::InvalidInput {
                field: "receipt_handle",
                value: receipt_handle.to_owned(),
                reason: "not a receipt of this queue",
            })
    }
}

#[async_trait]
impl IntentQueue for InMemoryQueue {
    async fn send(
        &self,
        messages: &[IntentEnvelope],
        delay_secs: u32,
    ) -> Result<SendReport, StoreError> {
        if delay_secs > 900 {
            return Err(StoreError::InvalidInput {
                field: "delay_secs",
                value: delay_secs.to_string(),
                reason: "SQS delays are at most 900 seconds",
            });
        }
        let now = self.clock.now_ms();
        let mut guard = lock(&self.messages);
        let (next_id, queued) = &mut *guard;
        let mut report = SendReport::default();
        for envelope in messages {
            *next_id += 1;
            queued.insert(
                *next_id,
                QueuedMessage {
                    envelope: envelope.clone(),
                    visible_at_ms: now + i64::from(delay_secs) * 1000,
                    receive_count: 0,
                },
            );
            report.sent.push(envelope.intent.client_order_id.clone());
        }
        Ok(report)
    }

    async fn receive(&self, max: u8, _wait_secs: u8) -> Result<Vec<ReceivedIntent>, StoreError> {
        let now = self.clock.now_ms();
        let mut guard = lock(&self.messages);
        let mut out = Vec::new();
        for (id, m) in guard.1.iter_mut() {
            if out.len() >= usize::from(max) {
                break;
            }
            if m.visible_at_ms <= now {
                m.visible_at_ms = now + self.visibility_timeout_ms;
                m.receive_count += 1;
                out.push(ReceivedIntent {
                    envelope: m.envelope.clone(),
                    receipt_handle: id.to_string(),
                    receive_count: m.receive_count,
                });
            }
        }
        Ok(out)
    }

    async fn retry_later(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), StoreError> {
        let id = Self::handle(receipt_handle)?;
        let now = self.clock.now_ms();
        if let Some(m) = lock(&self.messages).1.get_mut(&id) {
            m.visible_at_ms = now + i64::from(delay_secs) * 1000;
        }
        Ok(())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError> {
        let id = Self::handle(receipt_handle)?;
        lock(&self.messages).1.remove(&id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderUpdate;
    use crate::ports::RetryBackoff;
    use crate::CycleId;
    use crate::{ClientOrderId, OrderStatus, Price, Side};
    use rust_decimal_macros::dec;

    fn intent(leg: u32) -> OrderIntent {
        let (p, c, s): (PortfolioId, CycleId, Symbol) = (
            PortfolioId::new("p1").unwrap(),
            CycleId::new("c1").unwrap(),
            "BTC/USDT".parse().unwrap(),
        );
        OrderIntent {
            client_order_id: ClientOrderId::derive(None, &p, &c, &s, Side::Sell, leg),
            portfolio_id: p,
            cycle_id: c,
            symbol: s,
            side: Side::Sell,
            leg,
            quantity: dec!(1),
            limit_price: Price::new(dec!(10)).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            funded_by_sells: false,
            quote_fee_bps: None,
            reference_price: Price::new(dec!(10)).unwrap(),
            worst_price: Price::new(dec!(9)).unwrap(),
            predicted_cost_bps: dec!(1),
            created_at_ms: 0,
            expires_at_ms: 100_000,
            account: None,
        }
    }

    fn claim(owner: &str, now_ms: EpochMillis) -> Claim {
        Claim {
            owner: owner.into(),
            now_ms,
            in_progress_expiry_ms: now_ms + 1_000,
        }
    }

    #[tokio::test]
    async fn in_memory_ledger_claims_once_and_applies_fills_once() {
        let store = InMemoryStore::default();
        let i = intent(0);
        let key = OrderKey::of(&i);
        assert_eq!(
            store.claim(&key, &claim("a", 1)).await.unwrap(),
            ClaimOutcome::NotFound
        );
        // Nothing is recorded for a portfolio that is not configured, is paused, or while the
        // deployment is halted.
        let stopped = |by: &str| Stop {
            reason: "test".into(),
            by: by.into(),
            at_ms: 0,
        };
        let refused = |r| RecordOutcome::Refused(r);
        assert_eq!(
            store.record(&i, 0).await.unwrap(),
            refused(Refusal::PortfolioStopped)
        );
        store.put_portfolio(
            serde_json::from_value(serde_json::json!({
                "id": "p1", "quote": "USDT", "targets": {"BTC": "0.5", "USDT": "0.5"}
            }))
            .unwrap(),
        );
        store.set_paused(&i.portfolio_id, Some(stopped("pause")));
        assert_eq!(
            store.record(&i, 0).await.unwrap(),
            refused(Refusal::PortfolioStopped)
        );
        store.set_paused(&i.portfolio_id, None);
        store.set_halt(Some(&stopped("halt"))).await.unwrap();
        assert_eq!(store.record(&i, 0).await.unwrap(), refused(Refusal::Halted));
        store.set_halt(None).await.unwrap();
        assert!(store.all_orders().is_empty());
        assert!(matches!(
            store.record(&i, 0).await.unwrap(),
            RecordOutcome::Recorded(_)
        ));
        assert!(matches!(
            store.record(&i, 1).await.unwrap(),
            RecordOutcome::AlreadyRecorded(_)
        ));
        let ClaimOutcome::Claimed(c) = store.claim(&key, &claim("a", 1)).await.unwrap() else {
            panic!()
        };
        assert!(matches!(
            store.claim(&key, &claim("b", 2)).await.unwrap(),
            ClaimOutcome::HeldByOther(_)
        ));
        let placed = Transition {
            expected_version: c.version,
            to: OrderStatus::Placed,
            update: OrderUpdate {
                exchange_order_id: Some(9.into()),
                last_error: None,
            },
            now_ms: 3,
        };
        assert!(matches!(
            store.transition(&key, &placed).await.unwrap(),
            TransitionOutcome::Applied(_)
        ));
        assert!(matches!(
            store.transition(&key, &placed).await.unwrap(),
            TransitionOutcome::Conflict(_)
        ));
        let f = FillProgress {
            exchange_order_id: 9.into(),
            executed_qty: dec!(1),
            cumulative_quote_qty: dec!(10),
            fees: dec!(0.01),
            fees_quote: dec!(0.01),
            fee_asset: None,
            status: OrderStatus::Filled,
            now_ms: 0,
        };
        let FillOutcome::Applied(filled) = store
            .apply_fill(
                &key,
                &FillProgress {
                    now_ms: 4,
                    ..f.clone()
                },
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            store
                .apply_fill(
                    &key,
                    &FillProgress {
                        now_ms: 5,
                        ..f.clone()
                    }
                )
                .await
                .unwrap(),
            FillOutcome::AlreadyApplied(filled)
        );
        assert!(store.open_orders(&i.portfolio_id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn in_memory_lease_has_one_owner_until_it_expires() {
        let store = InMemoryStore::default();
        let (p, c) = (PortfolioId::new("p1").unwrap(), CycleId::new("c1").unwrap());
        let LeaseOutcome::Acquired(a) = store
            .acquire(&Lease::wanted(&p, "a", &c, 0, 100), 0)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            store
                .acquire(&Lease::wanted(&p, "b", &c, 99, 100), 99)
                .await
                .unwrap(),
            LeaseOutcome::HeldBy(a.clone())
        );
        assert!(matches!(
            store
                .acquire(&Lease::wanted(&p, "b", &c, 100, 100), 100)
                .await
                .unwrap(),
            LeaseOutcome::Acquired(_)
        ));
        let record = CycleRecord {
            cycle_id: c.clone(),
            at_ms: 100,
            outcome: crate::service::scheduler::PortfolioOutcome::AlreadyRan,
        };
        assert!(!store.release(&a, &record).await.unwrap());
        assert_eq!(store.last_cycle(&p).await.unwrap(), None);
    }

    #[tokio::test]
    async fn in_memory_queue_honours_delays_and_retry_backoff() {
        let clock = Arc::new(ManualClock::at(0));
        let q = InMemoryQueue::new(clock.clone(), 30_000);
        q.send(&[IntentEnvelope::new(intent(0))], 5).await.unwrap();
        assert!(q.receive(10, 0).await.unwrap().is_empty());
        clock.set(5_000);
        let got = q.receive(10, 0).await.unwrap();
        assert_eq!(got.len(), 1);
        let delay = RetryBackoff::default().delay_secs(2, 7);
        q.retry_later(&got[0].receipt_handle, delay).await.unwrap();
        clock.advance(i64::from(delay) * 1000 - 1);
        assert!(q.receive(10, 0).await.unwrap().is_empty());
        clock.advance(1);
        let again = q.receive(10, 0).await.unwrap();
        assert_eq!(again[0].receive_count, 2);
        q.delete(&again[0].receipt_handle).await.unwrap();
        assert!(q.is_empty());
    }
}
