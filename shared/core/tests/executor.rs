//! The executor over the in-memory adapters and a venue where every order rests: how a batch's
//! follow-ups are queued, what comes back when they cannot be, and how often the shared
//! breaker is read.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use driftline_core::control::{ControlState, DeploymentControls, Stop};
use driftline_core::orders::{IntentEnvelope, OrderKey, OrderRecord};
use driftline_core::ports::{
    Balance, BreakerSave, BreakerStore, Exchange, ExchangeError, ExchangeOrderId,
    ExchangeOrderStatus, Fill, FixedAccounts, IntentQueue, LimitOrderRequest, OrderLedger,
    OrderReport, Ports, ReceivedIntent, SendReport, StoreError, StorePorts, Venue,
    VersionedBreaker,
};
use driftline_core::service::executor::{Executor, ExecutorSettings, Invocation, MessageOutcome};
use driftline_core::testing::{InMemoryQueue, InMemoryStore, ManualClock};
use driftline_core::*;
use rust_decimal_macros::dec;

/// A venue where every order rests unfilled.
struct RestingVenue {
    market: MarketSnapshot,
    placed: Mutex<Vec<LimitOrderRequest>>,
    cancelled: Mutex<Vec<ClientOrderId>>,
}

impl RestingVenue {
    fn report(&self, o: &LimitOrderRequest, id: u64) -> OrderReport {
        OrderReport {
            symbol: o.symbol.clone(),
            exchange_order_id: id.into(),
            client_order_id: o.client_order_id.clone(),
            side: o.side,
            price: o.price,
            orig_qty: o.quantity,
            executed_qty: dec!(0),
            cumulative_quote_qty: dec!(0),
            status: ExchangeOrderStatus::New,
            fills: vec![],
            updated_at_ms: 0,
        }
    }
}

#[async_trait]
impl Exchange for RestingVenue {
    fn venue(&self) -> Venue {
        Venue::Binance
    }
    async fn market_filters(&self, _: &Symbol) -> Result<MarketFilters, ExchangeError> {
        Ok(self.market.filters.clone())
    }
    async fn order_book(&self, _: &Symbol, _: u16) -> Result<OrderBook, ExchangeError> {
        Ok(self.market.book.clone())
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        Ok(vec![])
    }
    async fn place_limit_order(&self, o: &LimitOrderRequest) -> Result<OrderReport, ExchangeError> {
        let mut placed = self.placed.lock().unwrap();
        placed.push(o.clone());
        Ok(self.report(o, placed.len() as u64))
    }
    async fn order(&self, _: &Symbol, id: &ClientOrderId) -> Result<OrderReport, ExchangeError> {
        let placed = self.placed.lock().unwrap();
        let (i, o) = placed
            .iter()
            .enumerate()
            .find(|(_, o)| &o.client_order_id == id)
            .ok_or(ExchangeError::NotFound {
                message: "Order does not exist.".into(),
            })?;
        Ok(self.report(o, i as u64 + 1))
    }
    async fn order_fills(
        &self,
        _: &Symbol,
        _: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError> {
        Ok(vec![])
    }
    async fn open_orders(&self, _: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        Ok(vec![])
    }
    async fn cancel_order(
        &self,
        s: &Symbol,
        id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let mut report = self.order(s, id).await?;
        self.cancelled.lock().unwrap().push(id.clone());
        report.status = ExchangeOrderStatus::Canceled;
        Ok(report)
    }
    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        Ok(0)
    }
}

/// The in-memory queue, refusing sends while `refuse` is set.
struct FlakyQueue {
    inner: InMemoryQueue,
    refuse: AtomicBool,
}

#[async_trait]
impl IntentQueue for FlakyQueue {
    async fn send(&self, m: &[IntentEnvelope], delay: u32) -> Result<SendReport, StoreError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                service: "sqs",
                operation: "SendMessageBatch",
                reason: "test outage".into(),
            });
        }
        self.inner.send(m, delay).await
    }
    async fn receive(&self, max: u8, wait: u8) -> Result<Vec<ReceivedIntent>, StoreError> {
        self.inner.receive(max, wait).await
    }
    async fn retry_later(&self, r: &str, delay: u32) -> Result<(), StoreError> {
        self.inner.retry_later(r, delay).await
    }
    async fn delete(&self, r: &str) -> Result<(), StoreError> {
        self.inner.delete(r).await
    }
}

/// The in-memory breaker store, counting loads.
struct CountedBreakers {
    inner: Arc<InMemoryStore>,
    loads: AtomicUsize,
    /// Sets the halt right after the next read of the controls (an operator's `halt` landing
    /// between that read and the batch's next claim).
    halt_after_read: AtomicBool,
}

#[async_trait]
impl BreakerStore for CountedBreakers {
    async fn load(&self, exchange: &str) -> Result<VersionedBreaker, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(exchange).await
    }
    async fn save(&self, e: &str, s: BreakerState, v: u64) -> Result<BreakerSave, StoreError> {
        self.inner.save(e, s, v).await
    }
}

/// The halt and the breaker are read together: a read of the controls counts as a load.
#[async_trait]
impl DeploymentControls for CountedBreakers {
    async fn read(&self, venue: &str) -> Result<ControlState, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let state = self.inner.read(venue).await;
        if self.halt_after_read.swap(false, Ordering::SeqCst) {
            let stop = Stop {
                reason: "incident".into(),
                by: "ops".into(),
                at_ms: 1_000_000,
            };
            self.inner.set_halt(Some(&stop)).await?;
        }
        state
    }
    async fn set_halt(&self, halt: Option<&Stop>) -> Result<Option<Stop>, StoreError> {
        self.inner.set_halt(halt).await
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    store: Arc<InMemoryStore>,
    queue: Arc<FlakyQueue>,
    breakers: Arc<CountedBreakers>,
    venue: Arc<RestingVenue>,
    executor: Executor,
}

fn rig() -> Rig {
    let clock = Arc::new(ManualClock::at(1_000_000));
    let store = Arc::new(InMemoryStore::default());
    // The ledger records only a configured portfolio's intents.
    store.put_portfolio(support::spec(
        serde_json::json!({"BTC": "0.5", "USDT": "0.5"}),
        serde_json::json!({}),
    ));
    let queue = Arc::new(FlakyQueue {
        inner: InMemoryQueue::new(clock.clone(), 30_000),
        refuse: AtomicBool::new(false),
    });
    let breakers = Arc::new(CountedBreakers {
        inner: store.clone(),
        loads: AtomicUsize::new(0),
        halt_after_read: AtomicBool::new(false),
    });
    let venue = Arc::new(RestingVenue {
        market: support::market("BTC", dec!(60000), dec!(10), dec!(5)),
        placed: Mutex::new(vec![]),
        cancelled: Mutex::new(vec![]),
    });
    let executor = Executor::new(
        Ports {
            store: StorePorts {
                breakers: breakers.clone(),
                controls: breakers.clone(),
                ..StorePorts::on(store.clone())
            },
            exchanges: Arc::new(FixedAccounts::single(venue.clone())),
            queue: queue.clone(),
            clock: clock.clone(),
            random: Arc::new(support::Fixed),
            metrics: Arc::new(support::Quiet),
            notifier: Arc::new(driftline_core::ports::Silent),
        },
        ExecutorSettings::default(),
    );
    Rig {
        clock,
        store,
        queue,
        breakers,
        venue,
        executor,
    }
}

/// A recorded sell of 0.01 BTC, leg `leg`, and its message.
async fn recorded(r: &Rig, leg: u32) -> (OrderIntent, String) {
    let portfolio = PortfolioId::new("p").unwrap();
    let cycle = CycleId::new("c1").unwrap();
    let symbol: Symbol = "BTC/USDT".parse().unwrap();
    let intent = OrderIntent {
        client_order_id: ClientOrderId::derive(None, &portfolio, &cycle, &symbol, Side::Sell, leg),
        portfolio_id: portfolio,
        cycle_id: cycle,
        symbol,
        side: Side::Sell,
        leg,
        quantity: dec!(0.01),
        limit_price: Price::new(dec!(59990)).unwrap(),
        limit_offset: OrderIntent::mid_offset(),
        funded_by_sells: false,
        quote_fee_bps: None,
        reference_price: Price::new(dec!(60000)).unwrap(),
        worst_price: Price::new(dec!(59800)).unwrap(),
        predicted_cost_bps: dec!(5),
        created_at_ms: 1_000_000,
        expires_at_ms: 5_000_000,
        account: None,
    };
    r.store.record(&intent, 1_000_000).await.unwrap();
    let body = IntentEnvelope::new(intent.clone()).to_json().unwrap();
    (intent, body)
}

async fn stored(r: &Rig, intent: &OrderIntent) -> OrderRecord {
    r.store
        .order(&OrderKey::of(intent))
        .await
        .unwrap()
        .expect("recorded")
}

fn invocation(r: &Rig, id: &str) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline_ms: driftline_core::ports::Clock::now_ms(r.clock.as_ref()) + 60_000,
    }
}

#[tokio::test]
async fn a_batch_reads_the_breaker_once_and_queues_its_follow_ups_in_one_send() {
    let r = rig();
    let (a, body_a) = recorded(&r, 0).await;
    let (b, body_b) = recorded(&r, 1).await;
    let outcomes = r
        .executor
        .handle_batch(&[&body_a, &body_b], &invocation(&r, "req-1"))
        .await;
    assert_eq!(
        outcomes,
        vec![MessageOutcome::Done("placed; follow-up queued"); 2]
    );
    assert_eq!(
        r.breakers.loads.load(Ordering::SeqCst),
        0,
        "each intent claimed in the one request that checks the controls: no read"
    );
    assert_eq!(r.venue.placed.lock().unwrap().len(), 2);

    // Both follow-ups are on the queue after the delay, each carrying its PLACED record.
    r.clock.advance(30_000);
    let queued = r.queue.inner.receive(10, 0).await.unwrap();
    assert_eq!(queued.len(), 2);
    for (m, intent) in queued.iter().zip([&a, &b]) {
        assert_eq!(&m.envelope.intent, intent);
        let placed = m.envelope.placed.as_ref().expect("record carried");
        assert_eq!(placed.status, OrderStatus::Placed);
        let stored = r.store.order(&OrderKey::of(intent)).await.unwrap().unwrap();
        assert_eq!(placed.version, stored.version);
    }
    // Later than the reuse window the breaker is read again, once for the batch.
    let bodies: Vec<String> = queued
        .iter()
        .map(|m| m.envelope.to_json().unwrap())
        .collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let outcomes = r
        .executor
        .handle_batch(&refs, &invocation(&r, "req-2"))
        .await;
    assert_eq!(
        outcomes,
        vec![MessageOutcome::Done("resting; follow-up queued"); 2]
    );
    assert_eq!(
        r.breakers.loads.load(Ordering::SeqCst),
        1,
        "follow-ups claim nothing: one read for the batch"
    );
}

#[tokio::test]
async fn a_claim_checks_the_halt_and_a_halted_deployment_holds_the_intent_unplaced() {
    let r = rig();
    let (a, body) = recorded(&r, 0).await;
    r.store
        .set_halt(Some(&Stop {
            reason: "incident".into(),
            by: "ops".into(),
            at_ms: 1_000_000,
        }))
        .await
        .unwrap();
    let outcomes = r
        .executor
        .handle_batch(&[&body, &body], &invocation(&r, "req-1"))
        .await;
    assert_eq!(
        outcomes,
        vec![MessageOutcome::Done("waiting: deployment halted"); 2]
    );
    assert!(r.venue.placed.lock().unwrap().is_empty());
    assert_eq!(stored(&r, &a).await.status, OrderStatus::Pending);
    assert_eq!(
        r.breakers.loads.load(Ordering::SeqCst),
        1,
        "the claim was refused: the controls read once, for the batch"
    );
}

#[tokio::test]
async fn a_halt_written_after_the_batch_read_the_controls_still_stops_its_next_claim() {
    let r = rig();
    let (_, first) = recorded(&r, 0).await;
    r.executor
        .handle_batch(&[&first], &invocation(&r, "req-1"))
        .await;
    r.clock.advance(30_000);
    let follow_up = r.queue.inner.receive(10, 0).await.unwrap().remove(0);
    let follow_up = follow_up.envelope.to_json().unwrap();
    let (second, body) = recorded(&r, 1).await;
    // The follow-up reads the controls (not halted); the halt lands right after.
    r.breakers.halt_after_read.store(true, Ordering::SeqCst);
    let outcomes = r
        .executor
        .handle_batch(&[&follow_up, &body], &invocation(&r, "req-2"))
        .await;
    assert_eq!(
        outcomes,
        vec![
            MessageOutcome::Done("resting; follow-up queued"),
            MessageOutcome::Done("waiting: deployment halted"),
        ]
    );
    assert_eq!(r.venue.placed.lock().unwrap().len(), 1, "only the first");
    assert_eq!(stored(&r, &second).await.status, OrderStatus::Pending);
    assert_eq!(
        r.breakers.loads.load(Ordering::SeqCst),
        2,
        "read for the follow-up, and again once the claim found the halt"
    );
}

#[tokio::test]
async fn a_breaker_with_a_failure_counted_sends_the_claim_the_usual_way() {
    let r = rig();
    let (a, body) = recorded(&r, 0).await;
    r.store
        .save(
            "binance",
            BreakerState::Closed {
                consecutive_failures: 1,
            },
            0,
        )
        .await
        .unwrap();
    let outcomes = r
        .executor
        .handle_batch(&[&body], &invocation(&r, "req-1"))
        .await;
    assert_eq!(
        outcomes,
        vec![MessageOutcome::Done("placed; follow-up queued")]
    );
    assert_eq!(stored(&r, &a).await.status, OrderStatus::Placed);
    // The controls read once; the success then clears the failure count (read before written).
    assert_eq!(r.breakers.loads.load(Ordering::SeqCst), 2);
    assert_eq!(
        r.store.load("binance").await.unwrap().state,
        BreakerState::default()
    );
}

#[tokio::test]
async fn a_follow_up_the_queue_refuses_brings_its_message_back_and_the_order_is_followed_again() {
    let r = rig();
    let (intent, body) = recorded(&r, 0).await;
    r.queue.refuse.store(true, Ordering::SeqCst);
    let outcome = r.executor.handle(&body, &invocation(&r, "req-1")).await;
    let MessageOutcome::RetryAfter { delay_secs, reason } = outcome else {
        panic!("expected the message back, got {outcome:?}");
    };
    assert_eq!(delay_secs, ExecutorSettings::default().follow_up_delay_secs);
    assert!(reason.contains("follow-up not queued"), "{reason}");
    let stored = stored(&r, &intent).await;
    assert_eq!(
        stored.status,
        OrderStatus::Placed,
        "placed, and kept in the ledger"
    );

    // The same message again, the queue back: the order is followed up, not placed again.
    r.queue.refuse.store(false, Ordering::SeqCst);
    r.clock.advance(30_000);
    let again = r.executor.handle(&body, &invocation(&r, "req-2")).await;
    assert_eq!(again, MessageOutcome::Done("resting; follow-up queued"));
    assert_eq!(r.venue.placed.lock().unwrap().len(), 1, "placed once");
    assert_eq!(r.queue.inner.len(), 1, "its follow-up is queued");
}

#[tokio::test]
async fn a_follow_up_never_cancels_on_its_own_copy_only_on_the_ledgers() {
    let r = rig();
    let (intent, body) = recorded(&r, 0).await;
    assert_eq!(
        r.executor.handle(&body, &invocation(&r, "req-1")).await,
        MessageOutcome::Done("placed; follow-up queued")
    );
    let stored = stored(&r, &intent).await;
    r.clock.advance(30_000);

    // A copy whose intent says the deadline has passed, while the ledger's has not: nothing
    // is cancelled, and the chain goes on with the ledger's copy.
    let mut early = stored.clone();
    early.intent.expires_at_ms = 1_000_001;
    let forged = IntentEnvelope::follow_up(&early).to_json().unwrap();
    assert_eq!(
        r.executor.handle(&forged, &invocation(&r, "req-2")).await,
        MessageOutcome::Done("follow-up corrected from the ledger")
    );
    assert!(r.venue.cancelled.lock().unwrap().is_empty());
    let queued = r.queue.inner.receive(10, 0).await.unwrap();
    let last = queued.last().expect("a follow-up");
    assert_eq!(last.envelope.intent, intent, "the ledger's intent");

    // An order on the venue that the ledger does not know: a follow-up for it past its
    // deadline cancels nothing.
    let cycle = CycleId::new("c9").unwrap();
    let unknown = OrderIntent {
        client_order_id: ClientOrderId::derive(
            None,
            &intent.portfolio_id,
            &cycle,
            &intent.symbol,
            intent.side,
            0,
        ),
        cycle_id: cycle,
        expires_at_ms: 1_000_001,
        ..intent.clone()
    };
    r.venue
        .place_limit_order(&LimitOrderRequest {
            client_order_id: unknown.client_order_id.clone(),
            symbol: unknown.symbol.clone(),
            side: unknown.side,
            quantity: unknown.quantity,
            price: unknown.limit_price,
            time_in_force: driftline_core::ports::TimeInForce::Gtc,
        })
        .await
        .unwrap();
    let copy = OrderRecord {
        status: OrderStatus::Placed,
        version: 3,
        exchange_order_id: Some(2.into()),
        ..OrderRecord::pending(unknown, 1_000_000)
    };
    let body = IntentEnvelope::follow_up(&copy).to_json().unwrap();
    assert_eq!(
        r.executor.handle(&body, &invocation(&r, "req-3")).await,
        MessageOutcome::Done("unknown order")
    );
    assert!(
        r.venue.cancelled.lock().unwrap().is_empty(),
        "nothing cancelled"
    );
}

#[tokio::test]
async fn a_copy_that_is_not_a_resting_order_is_ignored_and_the_ledger_decides() {
    let r = rig();
    let (intent, body) = recorded(&r, 0).await;
    assert_eq!(
        r.executor.handle(&body, &invocation(&r, "req-1")).await,
        MessageOutcome::Done("placed; follow-up queued")
    );
    let placed = stored(&r, &intent).await;
    r.clock.advance(30_000);
    // A copy claiming the order final, and one with more filled than the order's quantity:
    // neither ends the chain nor reaches arithmetic; the ledger's record is followed up.
    let final_copy = OrderRecord {
        status: OrderStatus::Filled,
        ..placed.clone()
    };
    let overfilled = OrderRecord {
        filled_qty: intent.quantity * dec!(1000),
        ..placed.clone()
    };
    for copy in [final_copy, overfilled] {
        let mut envelope = IntentEnvelope::follow_up(&placed);
        let mut snapshot = envelope.placed.take().unwrap();
        snapshot.status = copy.status;
        snapshot.filled_qty = copy.filled_qty;
        assert!(!snapshot.fits(&intent));
        envelope.placed = Some(snapshot);
        assert_eq!(
            r.executor
                .handle(&envelope.to_json().unwrap(), &invocation(&r, "req-2"))
                .await,
            MessageOutcome::Done("resting; follow-up queued")
        );
    }
    assert_eq!(stored(&r, &intent).await, placed, "nothing written");
}
