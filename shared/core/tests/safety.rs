//! Money safety, on the scheduler and executor over the in-memory adapters and a simulated
//! venue: the price the venue receives is the policy's, fees of orders that fill while resting
//! are counted, nothing is sent while the breaker is open and a probe that dies lapses, an
//! order being re-priced stays in flight, a late tick plans nothing, and buys paid by their
//! cycle's sells wait for them.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use driftline_core::config::PortfolioSpec;
use driftline_core::orders::{
    Claim, ClaimOutcome, ExecutionQuality, FillOutcome, FillProgress, IntentEnvelope, OrderKey,
    OrderRecord, RecordOutcome, Transition, TransitionOutcome,
};
use driftline_core::ports::{
    BreakerStore, Clock, FixedAccounts, IntentQueue, MetricsSink, OrderLedger, Ports, RandomSource,
    StoreError, StorePorts, Venue,
};
use driftline_core::service::executor::{Executor, ExecutorSettings, Invocation, MessageOutcome};
use driftline_core::service::scheduler::{
    in_flight, PortfolioOutcome, PortfolioSummary, Scheduler, SchedulerSettings,
};
use driftline_core::service::FollowUp;
use driftline_core::testing::{InMemoryQueue, InMemoryStore, ManualClock, RecordedNotices};
use driftline_core::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use support::spec;
use support::venue::SimVenue;

const T0: EpochMillis = 1_800_000_000_000;
const PERIOD_MS: i64 = 300_000;

/// What the services reported as final, with the quality figures.
#[derive(Default)]
struct Finals(Mutex<Vec<(OrderStatus, ExecutionQuality)>>);

impl MetricsSink for Finals {
    fn drift(&self, _: &PortfolioId, _: &Asset, _: Decimal) {}
    fn cycle_completed(&self, _: &PortfolioId) {}
    fn execution_attempt(&self, _: bool, _: Option<i64>) {}
    fn order_final(&self, status: OrderStatus, quality: &ExecutionQuality) {
        self.0.lock().unwrap().push((status, *quality));
    }
    fn rate_limit_hit(&self) {}
}

struct Seven;
impl RandomSource for Seven {
    fn next_u64(&self) -> u64 {
        7
    }
}

/// A ledger that stops before chosen writes until the test lets it go on, so a test can run
/// something between two writes of another caller.
struct Paused {
    inner: Arc<InMemoryStore>,
    /// Stop before recording an intent of this leg, or before closing this leg as CANCELLED.
    record_leg: Mutex<Option<u32>>,
    cancel_leg: Mutex<Option<u32>>,
    reached: tokio::sync::Notify,
    resume: tokio::sync::Notify,
}

impl Paused {
    async fn pause(&self) {
        self.reached.notify_one();
        self.resume.notified().await;
    }
}

#[async_trait]
impl OrderLedger for Paused {
    async fn record(&self, i: &OrderIntent, now: EpochMillis) -> Result<RecordOutcome, StoreError> {
        let stop = self.record_leg.lock().unwrap().take_if(|leg| *leg == i.leg);
        if stop.is_some() {
            self.pause().await;
        }
        self.inner.record(i, now).await
    }
    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError> {
        self.inner.order(key).await
    }
    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        self.inner.claim(key, claim).await
    }
    async fn transition(
        &self,
        key: &OrderKey,
        t: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        self.inner.transition(key, t).await
    }
    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
    ) -> Result<FillOutcome, StoreError> {
        if fill.status == OrderStatus::Cancelled {
            let leg = self.inner.order(key).await?.map(|r| r.intent.leg);
            let stop = self.cancel_leg.lock().unwrap().take_if(|l| Some(*l) == leg);
            if stop.is_some() {
                self.pause().await;
            }
        }
        self.inner.apply_fill(key, fill).await
    }
    async fn open_orders(&self, p: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        self.inner.open_orders(p).await
    }
    async fn orders(&self, p: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        self.inner.orders(p).await
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    store: Arc<InMemoryStore>,
    ledger: Arc<Paused>,
    queue: Arc<InMemoryQueue>,
    venue: Arc<SimVenue>,
    finals: Arc<Finals>,
    notices: Arc<RecordedNotices>,
    scheduler: Scheduler,
    executor: Executor,
}

fn rig(spec: PortfolioSpec, venue: SimVenue) -> Rig {
    rig_following(spec, venue, FollowUp::Messages)
}

fn rig_following(spec: PortfolioSpec, venue: SimVenue, follow_up: FollowUp) -> Rig {
    let clock = Arc::new(ManualClock::at(T0));
    let store = Arc::new(InMemoryStore::default());
    store.put_portfolio(spec);
    let ledger = Arc::new(Paused {
        inner: store.clone(),
        record_leg: Mutex::new(None),
        cancel_leg: Mutex::new(None),
        reached: tokio::sync::Notify::new(),
        resume: tokio::sync::Notify::new(),
    });
    let queue = Arc::new(InMemoryQueue::new(clock.clone(), 30_000));
    let venue = Arc::new(venue);
    let finals = Arc::new(Finals::default());
    let notices = Arc::new(RecordedNotices::default());
    let accounts = Arc::new(FixedAccounts::single(venue.clone()));
    let scheduler = Scheduler::new(
        Ports {
            store: StorePorts {
                ledger: ledger.clone(),
                ..StorePorts::on(store.clone())
            },
            exchanges: accounts.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            random: Arc::new(Seven),
            metrics: finals.clone(),
            notifier: notices.clone(),
        },
        SchedulerSettings {
            follow_up,
            ..SchedulerSettings::default()
        },
    );
    let executor = Executor::new(
        Ports {
            store: StorePorts {
                ledger: ledger.clone(),
                ..StorePorts::on(store.clone())
            },
            exchanges: accounts,
            queue: queue.clone(),
            clock: clock.clone(),
            random: Arc::new(Seven),
            metrics: finals.clone(),
            notifier: notices.clone(),
        },
        ExecutorSettings {
            follow_up,
            ..ExecutorSettings::default()
        },
    );
    Rig {
        clock,
        store,
        ledger,
        queue,
        venue,
        finals,
        notices,
        scheduler,
        executor,
    }
}

fn btc_market() -> MarketSnapshot {
    support::market("BTC", dec!(60000), dec!(10), dec!(10))
}

fn eth_market() -> MarketSnapshot {
    support::market("ETH", dec!(3000), dec!(10), dec!(100))
}

/// Two BTC and no cash, wanted half and half: the plan sells BTC.
fn btc_rig() -> Rig {
    rig(
        spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({})),
        SimVenue::new(vec![btc_market()], &[("BTC", dec!(2)), ("USDT", dec!(0))]),
    )
}

fn cycle_at(ms: EpochMillis) -> CycleId {
    CycleId::new(&format!("c{:015}", ms - ms.rem_euclid(PERIOD_MS))).unwrap()
}

impl Rig {
    fn now(&self) -> EpochMillis {
        self.clock.now_ms()
    }

    async fn tick(&self) -> Vec<PortfolioSummary> {
        self.scheduler
            .run(&cycle_at(self.now()), None, "tick")
            .await
            .unwrap()
    }

    fn invocation(&self) -> Invocation {
        Invocation {
            request_id: format!("req-{}", self.now()),
            deadline_ms: self.now() + 60_000,
        }
    }

    /// One delivery round of every visible message, as the event source mapping does it;
    /// the outcomes.
    async fn deliver(&self) -> Vec<MessageOutcome> {
        let received = self.queue.receive(10, 0).await.unwrap();
        let bodies: Vec<String> = received
            .iter()
            .map(|m| m.envelope.to_json().unwrap())
            .collect();
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let outcomes = self.executor.handle_batch(&refs, &self.invocation()).await;
        for (m, o) in received.iter().zip(&outcomes) {
            match o {
                MessageOutcome::RetryAfter { delay_secs, .. } => self
                    .queue
                    .retry_later(&m.receipt_handle, *delay_secs)
                    .await
                    .unwrap(),
                _ => self.queue.delete(&m.receipt_handle).await.unwrap(),
            }
        }
        outcomes
    }

    /// Deliveries until nothing is visible, moving the clock `step_ms` after each.
    async fn drain(&self, step_ms: i64) -> Vec<MessageOutcome> {
        let mut all = Vec::new();
        for _ in 0..20 {
            let got = self.deliver().await;
            if got.is_empty() {
                break;
            }
            all.extend(got);
            self.clock.advance(step_ms);
        }
        all
    }

    async fn orders(&self) -> Vec<OrderRecord> {
        let mut all = self.store.all_orders();
        all.sort_by(|a, b| a.intent.client_order_id.cmp(&b.intent.client_order_id));
        all
    }

    async fn order_of(&self, symbol: &str, leg: u32) -> OrderRecord {
        self.orders()
            .await
            .into_iter()
            .find(|r| r.intent.symbol.to_string() == symbol && r.intent.leg == leg)
            .unwrap_or_else(|| panic!("no {symbol} leg {leg}"))
    }
}

fn planned(s: &[PortfolioSummary]) -> usize {
    match &s[0].outcome {
        PortfolioOutcome::Planned { orders, .. } => *orders,
        other => panic!("not planned: {other:?}"),
    }
}

#[tokio::test]
async fn the_venue_receives_the_price_the_policy_sets_across_the_spread() {
    // Book 59970 / 60030 (10 bps); a sell starts `offset` of the way from the ask to the bid.
    for (offset, want) in [(dec!(0.1), dec!(60024)), (dec!(0.9), dec!(59976))] {
        let r = rig(
            spec(
                json!({"BTC": "0.5", "USDT": "0.5"}),
                json!({"limit_offset": offset.to_string()}),
            ),
            SimVenue::new(vec![btc_market()], &[("BTC", dec!(2)), ("USDT", dec!(0))]),
        );
        assert_eq!(planned(&r.tick().await), 1);
        let intent = r.order_of("BTC/USDT", 0).await.intent;
        assert_eq!(
            intent.limit_price.value(),
            want,
            "offset {offset}: the plan"
        );
        assert_eq!(intent.limit_offset, offset);
        r.deliver().await;
        let placed = r.venue.placed();
        assert_eq!(placed.len(), 1);
        assert_eq!(
            placed[0].price.value(),
            want,
            "offset {offset}: what is sent"
        );
    }
}

#[tokio::test]
async fn fees_of_an_order_that_fills_while_resting_come_from_its_fills_in_the_quote() {
    let bnb = support::market("BNB", dec!(600), dec!(10), dec!(100));
    let r = rig(
        spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({})),
        SimVenue::new(
            vec![btc_market(), bnb],
            &[("BTC", dec!(2)), ("USDT", dec!(0)), ("BNB", dec!(1))],
        ),
    );
    assert_eq!(planned(&r.tick().await), 1);
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("placed; follow-up queued")]
    );
    let sell = r.order_of("BTC/USDT", 0).await;
    assert_eq!(sell.status, OrderStatus::Placed);
    let (qty, price) = (sell.intent.quantity, r.venue.placed()[0].price.value());
    // It rests, then fills in two trades: one charged in USDT, one in BNB (a venue token).
    let half = (qty / dec!(2)).round_dp(5);
    let usdt_fee = (half * price * dec!(0.001)).round_dp(8);
    r.venue
        .fill(&sell.intent.client_order_id, half, usdt_fee, "USDT");
    r.venue
        .fill(&sell.intent.client_order_id, qty - half, dec!(0.05), "BNB");
    r.clock.advance(30_000);
    r.deliver().await;
    let sell = r.order_of("BTC/USDT", 0).await;
    assert_eq!(sell.status, OrderStatus::Filled);
    // BNB at its book's mid, 600.
    let want = usdt_fee + dec!(0.05) * dec!(600);
    assert_eq!(sell.fees_quote, want);
    assert_eq!(sell.fees, usdt_fee, "in the first fee asset");
    assert_eq!(sell.fee_asset, Some(Asset::new("USDT").unwrap()));
    let finals = r.finals.0.lock().unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].0, OrderStatus::Filled);
    assert_eq!(finals[0].1.fees_quote, want, "the metric carries them too");
}

#[tokio::test]
async fn a_buy_charged_in_the_base_asset_counts_its_fee_at_the_fill_price() {
    let r = rig(
        spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({})),
        SimVenue::new(
            vec![btc_market()],
            &[("BTC", dec!(0)), ("USDT", dec!(100000))],
        ),
    );
    assert_eq!(planned(&r.tick().await), 1);
    r.deliver().await;
    let buy = r.order_of("BTC/USDT", 0).await;
    assert_eq!(buy.intent.side, Side::Buy);
    let price = r.venue.placed()[0].price.value();
    let fee = (buy.intent.quantity * dec!(0.001)).round_dp(8);
    r.venue
        .fill(&buy.intent.client_order_id, buy.intent.quantity, fee, "BTC");
    r.clock.advance(30_000);
    r.deliver().await;
    let buy = r.order_of("BTC/USDT", 0).await;
    assert_eq!(buy.status, OrderStatus::Filled);
    assert_eq!(buy.fees, fee);
    assert_eq!(buy.fees_quote, fee * price);
}

#[tokio::test]
async fn nothing_is_sent_by_either_function_while_the_breaker_is_open() {
    let r = btc_rig();
    assert_eq!(planned(&r.tick().await), 1);
    let until = r.now() + 60_000;
    r.store
        .save("binance", BreakerState::Open { until_ms: until }, 0)
        .await
        .unwrap();
    let calls = r.venue.calls();
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("waiting: circuit breaker open")]
    );
    r.clock.advance(PERIOD_MS / 10);
    let next = r.tick().await;
    assert!(
        matches!(next[0].outcome, PortfolioOutcome::BreakerOpen { retry_at_ms } if retry_at_ms == until),
        "{next:?}"
    );
    assert_eq!(r.venue.calls(), calls, "not one request");
    // The intent waited as a new message, neither claimed nor failed.
    assert_eq!(r.order_of("BTC/USDT", 0).await.status, OrderStatus::Pending);
    assert_eq!(r.queue.len(), 1);
    // After the cooldown the first request probes, and the order goes.
    r.clock.set(until);
    assert_eq!(
        r.drain(1_000).await[0],
        MessageOutcome::Done("placed; follow-up queued")
    );
    assert_eq!(r.venue.placed().len(), 1);
    let closed = r.store.load("binance").await.unwrap().state;
    assert_eq!(closed, BreakerState::default());
}

#[tokio::test]
async fn a_probe_that_dies_lapses_at_its_deadline_and_the_next_caller_probes() {
    let r = btc_rig();
    assert_eq!(planned(&r.tick().await), 1);
    let body = IntentEnvelope::new(r.order_of("BTC/USDT", 0).await.intent)
        .to_json()
        .unwrap();
    // The cooldown is over: the next request probes, and its invocation dies mid-request.
    r.store
        .save("binance", BreakerState::Open { until_ms: r.now() }, 0)
        .await
        .unwrap();
    r.venue
        .hang
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Lambda ends the invocation at its timeout (the executor's is 30 s): its claim on the
    // order lapses then too.
    let dying = Invocation {
        request_id: "dies".into(),
        deadline_ms: r.now() + 30_000,
    };
    let died = tokio::time::timeout(Duration::from_secs(1), r.executor.handle(&body, &dying)).await;
    assert!(died.is_err(), "the probe never answered");
    r.venue
        .hang
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let probing = r.store.load("binance").await.unwrap().state;
    let BreakerState::HalfOpen { until_ms, .. } = probing else {
        panic!("{probing:?}")
    };
    assert_eq!(
        until_ms,
        r.now() + BreakerConfig::default().probe_timeout_ms
    );
    // Before its deadline another container waits for the probe's answer...
    let calls = r.venue.calls();
    let other = Executor::new(
        Ports {
            store: StorePorts::on(r.store.clone()),
            exchanges: Arc::new(FixedAccounts::single(r.venue.clone())),
            queue: r.queue.clone(),
            clock: r.clock.clone(),
            random: Arc::new(Seven),
            metrics: r.finals.clone(),
            notifier: r.notices.clone(),
        },
        ExecutorSettings::default(),
    );
    r.clock.advance(1_000);
    let waited = other.handle(&body, &r.invocation()).await;
    assert_eq!(
        waited,
        MessageOutcome::Done("waiting: circuit breaker open")
    );
    assert_eq!(r.venue.calls(), calls);
    // ...and after it (and the dead invocation's claim), becomes the probe: the order is
    // placed and the breaker closes.
    r.clock.set(until_ms.max(dying.deadline_ms) + 1);
    let placed = other.handle(&body, &r.invocation()).await;
    assert_eq!(placed, MessageOutcome::Done("placed; follow-up queued"));
    assert_eq!(r.venue.placed().len(), 1);
    assert_eq!(
        r.store.load("binance").await.unwrap().state,
        BreakerState::default()
    );
}

/// A ban on one venue stops that venue's portfolios only: a portfolio whose account is on
/// another venue is planned and its order placed while the first venue's breaker is open.
#[tokio::test]
async fn an_open_breaker_on_one_venue_stops_nothing_on_another() {
    let r = btc_rig();
    let mut kraken = SimVenue::new(vec![btc_market()], &[("BTC", dec!(2)), ("USDT", dec!(0))]);
    kraken.venue = Some(Venue::Kraken);
    let kraken = Arc::new(kraken);
    let mut on_kraken = spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({}));
    on_kraken.id = "k".into();
    on_kraken.account = Some("kraken-account".into());
    r.store.put_portfolio(on_kraken);
    let accounts = Arc::new(
        FixedAccounts::single(r.venue.clone()).with(Some("kraken-account"), kraken.clone()),
    );
    let ports = Ports {
        store: StorePorts::on(r.store.clone()),
        exchanges: accounts,
        queue: r.queue.clone(),
        clock: r.clock.clone(),
        random: Arc::new(Seven),
        metrics: r.finals.clone(),
        notifier: r.notices.clone(),
    };
    let scheduler = Scheduler::new(ports.clone(), SchedulerSettings::default());
    let executor = Executor::new(ports, ExecutorSettings::default());
    let until = r.now() + 60_000;
    r.store
        .save("binance", BreakerState::Open { until_ms: until }, 0)
        .await
        .unwrap();

    let ran = scheduler
        .run(&cycle_at(r.now()), None, "tick")
        .await
        .unwrap();
    let outcome = |id: &str| &ran.iter().find(|s| s.portfolio_id == id).unwrap().outcome;
    assert!(
        matches!(outcome("p"), PortfolioOutcome::BreakerOpen { retry_at_ms } if *retry_at_ms == until),
        "{ran:?}"
    );
    assert!(
        matches!(outcome("k"), PortfolioOutcome::Planned { orders: 1, .. }),
        "{ran:?}"
    );
    assert_eq!(r.venue.calls(), 0, "nothing sent to the banned venue");
    let received = r.queue.receive(10, 0).await.unwrap();
    assert_eq!(received.len(), 1);
    let body = received[0].envelope.to_json().unwrap();
    assert_eq!(
        executor.handle(&body, &r.invocation()).await,
        MessageOutcome::Done("placed; follow-up queued")
    );
    assert_eq!(kraken.placed().len(), 1);
    assert_eq!(r.venue.calls(), 0);
}

/// A resting sell whose price the market leaves behind: the follow-up re-prices it.
async fn resting_sell_left_behind(r: &Rig) -> OrderRecord {
    assert_eq!(planned(&r.tick().await), 1);
    r.deliver().await;
    let sell = r.order_of("BTC/USDT", 0).await;
    assert_eq!(sell.status, OrderStatus::Placed);
    r.clock.advance(30_000);
    sell
}

#[tokio::test]
async fn a_cycle_between_the_writes_of_a_reprice_plans_nothing_for_that_asset() {
    for stop_at in [
        "before the next leg is recorded",
        "before this leg is closed",
    ] {
        let r = btc_rig();
        let sell = resting_sell_left_behind(&r).await;
        // The market falls away from the resting sell: its price is behind the best ask.
        r.venue
            .set_book(support::market("BTC", dec!(59950), dec!(10), dec!(10)));
        if stop_at.starts_with("before the next") {
            *r.ledger.record_leg.lock().unwrap() = Some(1);
        } else {
            *r.ledger.cancel_leg.lock().unwrap() = Some(0);
        }
        let follow_up = {
            let r = &r;
            async move { r.deliver().await }
        };
        let interleaved = async {
            r.ledger.reached.notified().await;
            // A cycle runs now, between the two writes.
            r.clock.advance(PERIOD_MS);
            let outcome = r.tick().await;
            r.ledger.resume.notify_one();
            outcome
        };
        let (outcomes, cycle) = tokio::join!(follow_up, interleaved);
        assert_eq!(
            outcomes,
            vec![MessageOutcome::Done("re-priced")],
            "{stop_at}"
        );
        let PortfolioOutcome::Planned { orders, .. } = &cycle[0].outcome else {
            panic!("{stop_at}: {cycle:?}")
        };
        assert_eq!(*orders, 0, "{stop_at}: the cycle planned BTC again");
        let orders = r.orders().await;
        let btc: Vec<_> = orders
            .iter()
            .map(|o| (o.intent.leg, o.status, o.intent.cycle_id.clone()))
            .collect();
        assert_eq!(orders.len(), 2, "{stop_at}: {btc:?}");
        assert_eq!(
            r.order_of("BTC/USDT", 0).await.status,
            OrderStatus::Cancelled
        );
        let leg = r.order_of("BTC/USDT", 1).await;
        assert_eq!(leg.intent.quantity, sell.intent.quantity);
        assert_eq!(leg.intent.cycle_id, sell.intent.cycle_id);
    }
}

/// An order of portfolio `p`'s cycle `c1` on BTC/USDT at 100 (worst 99 for a sell, 101 for a
/// buy), leg `leg`.
fn btc_intent(side: Side, leg: u32, quantity: Decimal) -> OrderIntent {
    let (p, c, s) = (
        PortfolioId::new("p").unwrap(),
        CycleId::new("c1").unwrap(),
        "BTC/USDT".parse::<Symbol>().unwrap(),
    );
    let worst = match side {
        Side::Sell => dec!(99),
        Side::Buy => dec!(101),
    };
    OrderIntent {
        client_order_id: ClientOrderId::derive(None, &p, &c, &s, side, leg),
        portfolio_id: p,
        cycle_id: c,
        symbol: s,
        side,
        leg,
        quantity,
        limit_price: Price::new(dec!(100)).unwrap(),
        limit_offset: OrderIntent::mid_offset(),
        funded_by_sells: false,
        quote_fee_bps: None,
        reference_price: Price::new(dec!(100)).unwrap(),
        worst_price: Price::new(worst).unwrap(),
        predicted_cost_bps: dec!(5),
        created_at_ms: 0,
        expires_at_ms: 1,
        account: None,
    }
}

#[test]
fn a_leg_being_repriced_counts_in_flight_once() {
    let intent = |leg: u32, qty: Decimal| btc_intent(Side::Sell, leg, qty);
    let repricing = OrderRecord {
        status: OrderStatus::Repricing,
        filled_qty: dec!(0.25),
        ..OrderRecord::pending(intent(0, dec!(1)), 0)
    };
    let alone = in_flight(std::slice::from_ref(&repricing));
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].remaining, dec!(0.75));
    assert!(alone[0].placed, "its base is locked until the cancel takes");
    // The next leg is recorded once the cancel took: not placed yet, its base free again.
    let next = OrderRecord::pending(intent(1, dec!(0.75)), 0);
    let both = in_flight(&[repricing, next]);
    assert_eq!(both.len(), 1, "the next leg only");
    assert_eq!(both[0].remaining, dec!(0.75));
    assert!(!both[0].placed);
}

#[test]
fn only_orders_the_exchange_may_hold_count_as_placed() {
    let order = |status: OrderStatus| OrderRecord {
        status,
        ..OrderRecord::pending(btc_intent(Side::Buy, 0, dec!(1)), 0)
    };
    for (status, placed) in [
        (OrderStatus::Pending, false),
        (OrderStatus::Queued, false),
        (OrderStatus::Placing, true),
        (OrderStatus::Placed, true),
        (OrderStatus::PartiallyFilled, true),
    ] {
        assert_eq!(in_flight(&[order(status)])[0].placed, placed, "{status:?}");
    }
}

#[tokio::test]
async fn a_tick_delivered_again_after_later_cycles_plans_nothing() {
    let r = btc_rig();
    let first = cycle_at(r.now());
    assert_eq!(planned(&r.tick().await), 1);
    for _ in 0..2 {
        r.clock.advance(PERIOD_MS);
        r.tick().await;
    }
    let (orders, calls) = (r.orders().await.len(), r.venue.calls());
    let late = r.scheduler.run(&first, None, "late").await.unwrap();
    assert!(
        matches!(&late[0].outcome, PortfolioOutcome::Stale { newest } if newest > &first.to_string()),
        "{late:?}"
    );
    assert_eq!(r.orders().await.len(), orders, "no new intent");
    assert_eq!(r.venue.calls(), calls, "not even a read");
}

// On Kraken (and Coinbase) a buy's fee is paid in the quote on top: the cash free must cover it
// too, and the intent carries the rate (10 bps, the deployment's default fees).
#[rstest::rstest]
#[case::fee_from_what_is_bought(Venue::Binance, None)]
#[case::fee_in_the_quote_on_top(Venue::Kraken, Some(dec!(10)))]
#[tokio::test]
async fn a_buy_paid_by_its_cycles_sells_waits_for_them_then_takes_the_cash_free(
    #[case] venue: Venue,
    #[case] quote_fee_bps: Option<Decimal>,
) {
    let mut sim = SimVenue::new(
        vec![btc_market(), eth_market()],
        &[("BTC", dec!(2)), ("ETH", dec!(0)), ("USDT", dec!(0))],
    );
    sim.venue = Some(venue);
    let r = rig(
        spec(json!({"BTC": "0.5", "ETH": "0.5", "USDT": "0"}), json!({})),
        sim,
    );
    assert_eq!(planned(&r.tick().await), 2);
    let buy = r.order_of("ETH/USDT", 0).await;
    assert!(buy.intent.funded_by_sells, "{buy:?}");
    assert_eq!(buy.intent.quote_fee_bps, quote_fee_bps);
    assert_eq!(
        r.order_of("BTC/USDT", 0).await.intent.quote_fee_bps,
        None,
        "a sell"
    );
    assert!(!r.order_of("BTC/USDT", 0).await.intent.funded_by_sells);
    // The sell rests; the buy waits (and says why), nothing refused for want of cash.
    let outcomes = r.deliver().await;
    assert!(
        outcomes.contains(&MessageOutcome::Done("waiting: the cycle's sells")),
        "{outcomes:?}"
    );
    let waiting = r.order_of("ETH/USDT", 0).await;
    assert_eq!(waiting.status, OrderStatus::Queued);
    assert!(waiting.last_error.unwrap().contains("sell"));
    assert_eq!(r.venue.placed().len(), 1, "only the sell");
    r.clock.advance(30_000);
    r.deliver().await;
    assert_eq!(r.venue.placed().len(), 1, "the buy still waits");
    // The sell fills, its fee in USDT higher than the plan counted (0.5 %, not 0.1 %): the buy
    // goes, sized down to the cash free.
    let sell = r.order_of("BTC/USDT", 0).await;
    let sold = r.venue.placed()[0].clone();
    let fee = (sold.orig_qty * sold.price.value() * dec!(0.005)).round_dp(8);
    r.venue
        .fill(&sell.intent.client_order_id, sold.orig_qty, fee, "USDT");
    let cash = r.venue.free("USDT");
    r.clock.advance(30_000);
    r.drain(30_000).await;
    let placed = r.venue.placed();
    assert_eq!(placed.len(), 2, "{placed:?}");
    let bought = &placed[1];
    assert_eq!(bought.side, Side::Buy);
    let cost = bought.orig_qty * bought.price.value();
    let fee = cost * quote_fee_bps.unwrap_or_default() / dec!(10000);
    assert!(cost + fee <= cash, "{cost} + {fee} > {cash}");
    assert!(bought.orig_qty < buy.intent.quantity, "sized down");
    // No smaller than it need be: one more lot would not be paid for.
    let step = dec!(0.0001);
    let more = (bought.orig_qty + step) * bought.price.value();
    assert!(
        more + more * quote_fee_bps.unwrap_or_default() / dec!(10000) > cash,
        "{} could be bigger",
        bought.orig_qty
    );
    let buy = r.order_of("ETH/USDT", 0).await;
    assert_eq!(buy.status, OrderStatus::Placed, "{buy:?}");
    assert!(r
        .orders()
        .await
        .iter()
        .all(|o| o.status != OrderStatus::Rejected));
}

fn stop(reason: &str) -> driftline_core::control::Stop {
    driftline_core::control::Stop {
        reason: reason.into(),
        by: "operator".into(),
        at_ms: T0,
    }
}

#[tokio::test]
async fn while_halted_the_scheduler_plans_nothing_and_the_executor_holds_every_intent() {
    use driftline_core::control::DeploymentControls;
    let r = btc_rig();
    assert_eq!(planned(&r.tick().await), 1);
    r.store
        .set_halt(Some(&stop("exchange incident")))
        .await
        .unwrap();
    let calls = r.venue.calls();
    // The intent waits as a new message: not claimed, not failed, nothing sent.
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("waiting: deployment halted")]
    );
    assert_eq!(r.order_of("BTC/USDT", 0).await.status, OrderStatus::Pending);
    r.clock.advance(PERIOD_MS);
    let halted = r.tick().await;
    assert!(
        matches!(&halted[0].outcome, PortfolioOutcome::Halted { reason } if reason == "exchange incident"),
        "{halted:?}"
    );
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("waiting: deployment halted")]
    );
    assert_eq!(r.venue.calls(), calls, "not one request while halted");
    assert_eq!(r.orders().await.len(), 1, "nothing planned");
    // Resumed before it expired, the held intent is placed.
    r.store.set_halt(None).await.unwrap();
    r.clock.advance(30_000);
    assert_eq!(
        r.drain(1_000).await[0],
        MessageOutcome::Done("placed; follow-up queued")
    );
    assert_eq!(r.venue.placed().len(), 1);
}

#[tokio::test]
async fn a_paused_portfolio_is_planned_by_no_cycle_and_its_last_cycle_is_kept() {
    use driftline_core::ports::CycleLeases;
    let r = btc_rig();
    let id = PortfolioId::new("p").unwrap();
    r.store.set_paused(&id, Some(stop("rebalancing by hand")));
    let paused = r.tick().await;
    assert!(
        matches!(&paused[0].outcome, PortfolioOutcome::Paused { reason } if reason == "rebalancing by hand"),
        "{paused:?}"
    );
    assert_eq!(r.venue.calls(), 0);
    assert!(r.orders().await.is_empty());
    assert_eq!(
        r.store.last_cycle(&id).await.unwrap(),
        None,
        "no lease taken"
    );
    r.store.set_paused(&id, None);
    r.clock.advance(PERIOD_MS);
    assert_eq!(planned(&r.tick().await), 1);
    let last = r
        .store
        .last_cycle(&id)
        .await
        .unwrap()
        .expect("kept on release");
    assert_eq!(last.cycle_id, cycle_at(r.now()));
    assert!(matches!(
        last.outcome,
        PortfolioOutcome::Planned { orders: 1, .. }
    ));
}

/// The operator's stops a running invocation can miss: it read the controls before them.
#[derive(Debug, Clone, Copy)]
enum LateStop {
    Halt,
    Pause,
}

impl LateStop {
    async fn write(self, r: &Rig, on: bool) {
        use driftline_core::control::DeploymentControls;
        let s = stop("late");
        match self {
            Self::Halt => {
                r.store.set_halt(on.then_some(&s)).await.unwrap();
            }
            Self::Pause => r
                .store
                .set_paused(&PortfolioId::new("p").unwrap(), on.then_some(s)),
        }
    }
}

#[tokio::test]
async fn a_stop_written_while_a_cycle_plans_leaves_nothing_of_it_recorded_queued_or_placed() {
    for late in [LateStop::Halt, LateStop::Pause] {
        let r = btc_rig();
        // The cycle has read the controls and planned; it stops before its first record.
        *r.ledger.record_leg.lock().unwrap() = Some(0);
        let interleaved = async {
            r.ledger.reached.notified().await;
            late.write(&r, true).await;
            r.ledger.resume.notify_one();
        };
        let (cycle, ()) = tokio::join!(r.tick(), interleaved);
        let stopped = match (&cycle[0].outcome, late) {
            (PortfolioOutcome::Halted { reason }, LateStop::Halt)
            | (PortfolioOutcome::Paused { reason }, LateStop::Pause) => reason.clone(),
            (other, _) => panic!("{late:?}: {other:?}"),
        };
        assert!(stopped.contains("nothing queued"), "{late:?}: {stopped}");
        assert!(r.orders().await.is_empty(), "{late:?}: nothing recorded");
        assert!(r.deliver().await.is_empty(), "{late:?}: nothing queued");
        assert!(r.venue.placed().is_empty(), "{late:?}: nothing placed");
        // Nothing is lost either: lifted, the stop leaves the cycle to be planned again.
        late.write(&r, false).await;
        r.clock.advance(PERIOD_MS);
        assert_eq!(planned(&r.tick().await), 1, "{late:?}");
        r.deliver().await;
        assert_eq!(r.venue.placed().len(), 1, "{late:?}");
    }
}

#[tokio::test]
async fn a_stop_written_while_an_order_is_repriced_closes_its_leg_and_places_no_next() {
    for late in [LateStop::Halt, LateStop::Pause] {
        let r = btc_rig();
        resting_sell_left_behind(&r).await;
        r.venue
            .set_book(support::market("BTC", dec!(59950), dec!(10), dec!(10)));
        // The follow-up has found the portfolio running and cancelled the resting leg; it
        // stops before it records the next one.
        *r.ledger.record_leg.lock().unwrap() = Some(1);
        let interleaved = async {
            r.ledger.reached.notified().await;
            late.write(&r, true).await;
            r.ledger.resume.notify_one();
        };
        let (outcomes, ()) = tokio::join!(r.deliver(), interleaved);
        let why = match late {
            LateStop::Halt => "halted while re-pricing",
            LateStop::Pause => "portfolio paused while re-pricing",
        };
        assert_eq!(outcomes, vec![MessageOutcome::Done(why)]);
        let orders = r.orders().await;
        assert_eq!(orders.len(), 1, "{late:?}: no next leg recorded");
        assert_eq!(orders[0].status, OrderStatus::Cancelled, "{late:?}");
        assert_eq!(r.venue.placed().len(), 1, "{late:?}: the first leg only");
        late.write(&r, false).await;
        assert!(r.drain(1_000).await.is_empty(), "{late:?}: nothing queued");
        assert_eq!(r.venue.placed().len(), 1, "{late:?}");
    }
}

fn cycle_reports(
    notices: &[driftline_core::notify::Notice],
) -> Vec<driftline_core::notify::CycleReport> {
    notices
        .iter()
        .filter_map(|n| match n {
            driftline_core::notify::Notice::CycleTraded(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_owner_hears_of_each_cycle_that_traded_and_of_each_order_once() {
    use driftline_core::notify::Notice;
    let r = btc_rig();
    assert_eq!(planned(&r.tick().await), 1);
    let first = cycle_reports(&r.notices.take());
    assert_eq!(first.len(), 1, "one notice for the cycle that planned");
    let sell = r.order_of("BTC/USDT", 0).await;
    assert_eq!(first[0].planned, vec![sell.intent.clone()]);
    assert!(first[0].ended.is_empty() && first[0].previous.is_none());
    // Placed, then filled while resting; the follow-up records it.
    r.deliver().await;
    let id = sell.intent.client_order_id.clone();
    let fee = dec!(0.5);
    r.venue.fill(&id, sell.intent.quantity, fee, "USDT");
    r.clock.advance(30_000);
    r.deliver().await;
    let filled = r.order_of("BTC/USDT", 0).await;
    assert_eq!(filled.status, OrderStatus::Filled);
    assert!(
        r.notices.all().is_empty(),
        "the executor tells nobody of a fill"
    );
    // The next cycle plans nothing (back in band) and reports the fill with its cost.
    r.clock.advance(PERIOD_MS);
    assert_eq!(planned(&r.tick().await), 0);
    let notices = r.notices.take();
    let second = cycle_reports(&notices);
    assert_eq!(second.len(), 1, "{notices:?}");
    assert!(second[0].planned.is_empty());
    assert_eq!(second[0].ended, vec![filled.clone()]);
    assert_eq!(
        second[0].previous,
        Some((first[0].cycle_id.clone(), first[0].at_ms))
    );
    let (fees, slippage) = second[0].cost();
    assert_eq!(fees, fee);
    assert_eq!(
        slippage,
        filled.intent.reference_price.value() * filled.filled_qty - filled.cumulative_quote_qty
    );
    let subject = Notice::CycleTraded(second[0].clone()).subject();
    assert!(
        subject.starts_with("driftline p: 1 filled; cost "),
        "{subject}"
    );
    // Nothing planned and nothing ended since: no message.
    r.clock.advance(PERIOD_MS);
    assert_eq!(planned(&r.tick().await), 0);
    assert!(r.notices.all().is_empty(), "{:?}", r.notices.all());
}

#[tokio::test]
async fn an_order_that_ends_in_a_cycle_the_breaker_stopped_is_told_by_the_next_that_ran() {
    use driftline_core::ports::ExchangeError;
    let r = btc_rig();
    assert_eq!(planned(&r.tick().await), 1);
    r.deliver().await;
    let sell = r.order_of("BTC/USDT", 0).await;
    r.venue.fill(
        &sell.intent.client_order_id,
        sell.intent.quantity,
        dec!(0),
        "USDT",
    );
    r.notices.take();
    // The next cycle meets a rate limit at its first request: it stops, plans nothing, tells
    // nothing and keeps no snapshot.
    r.clock.advance(PERIOD_MS);
    r.venue.fail_with(Some(ExchangeError::RateLimited {
        retry_after_ms: 1_000,
    }));
    let stopped = r.tick().await;
    assert!(
        matches!(&stopped[0].outcome, PortfolioOutcome::Failed { error } if error.contains("rate limited")),
        "{stopped:?}"
    );
    assert!(cycle_reports(&r.notices.take()).is_empty());
    // The one after finds the fill in its reconcile and tells it, counting from the last
    // cycle that ran to the end.
    r.venue.fail_with(None);
    r.clock.advance(PERIOD_MS);
    assert_eq!(planned(&r.tick().await), 0);
    let reports = cycle_reports(&r.notices.take());
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].ended.len(), 1, "the fill, told once");
    assert_eq!(reports[0].ended[0].status, OrderStatus::Filled);
}

#[tokio::test]
async fn the_container_whose_write_opens_or_closes_the_breaker_tells_the_owner_once() {
    use driftline_core::notify::{BreakerCause, Notice};
    use driftline_core::ports::ExchangeError;
    let r = btc_rig();
    let trouble = ExchangeError::Retryable {
        reason: "503 -1008: Server is currently overloaded".into(),
    };
    r.venue.fail_with(Some(trouble.clone()));
    // Four failed cycles leave it closed, counting; the fifth opens it.
    for n in 1..=5 {
        let failed = r.tick().await;
        assert!(
            matches!(failed[0].outcome, PortfolioOutcome::Failed { .. }),
            "tick {n}: {failed:?}"
        );
        if n < 5 {
            assert!(
                r.notices.all().is_empty(),
                "tick {n}: {:?}",
                r.notices.all()
            );
        }
        r.clock.advance(1_000);
    }
    let opened = r.notices.take();
    let until = match r.store.load("binance").await.unwrap().state {
        BreakerState::Open { until_ms } => until_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        opened,
        vec![Notice::BreakerOpened {
            venue: "binance".into(),
            cause: BreakerCause::Failures {
                count: 5,
                last_error: trouble.to_string(),
            },
            until_ms: until,
            at_ms: r.now() - 1_000,
        }]
    );
    // Whoever meets it open during the cooldown sends nothing and tells nobody.
    let calls = r.venue.calls();
    let held = r.tick().await;
    assert!(
        matches!(held[0].outcome, PortfolioOutcome::BreakerOpen { .. }),
        "{held:?}"
    );
    assert_eq!(r.venue.calls(), calls);
    assert!(r.notices.all().is_empty());
    // After the cooldown the probe succeeds: closed, told once, and the cycle plans.
    r.venue.fail_with(None);
    r.clock.set(until);
    assert_eq!(planned(&r.tick().await), 1);
    let notices = r.notices.take();
    assert_eq!(
        notices[0],
        Notice::BreakerClosed {
            venue: "binance".into(),
            at_ms: until,
        }
    );
    assert_eq!(notices.len(), 2, "then the cycle's own: {notices:?}");
    assert!(matches!(notices[1], Notice::CycleTraded(_)));
    // A rate limit opens it at once, with the wait the venue asked for.
    r.venue.fail_with(Some(ExchangeError::RateLimited {
        retry_after_ms: 12_000,
    }));
    r.clock.advance(PERIOD_MS);
    r.tick().await;
    assert_eq!(
        r.notices.take(),
        vec![Notice::BreakerOpened {
            venue: "binance".into(),
            cause: BreakerCause::RateLimited {
                retry_after_ms: 12_000
            },
            until_ms: r.now() + 12_000,
            at_ms: r.now(),
        }]
    );
}

/// The BTC sell of [`btc_rig`], with the scheduler following resting orders.
fn btc_rig_reconciling() -> Rig {
    rig_following(
        spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({})),
        SimVenue::new(vec![btc_market()], &[("BTC", dec!(2)), ("USDT", dec!(0))]),
        FollowUp::Reconcile,
    )
}

/// Ticks, then places the cycle's one sell: the executor is done with it at once.
async fn placed_and_left_to_the_scheduler(r: &Rig) -> OrderRecord {
    assert_eq!(planned(&r.tick().await), 1);
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("placed; followed by the scheduler")]
    );
    r.order_of("BTC/USDT", 0).await
}

#[tokio::test]
async fn followed_by_the_scheduler_a_placed_order_costs_no_write_and_no_message_until_it_fills() {
    let r = btc_rig_reconciling();
    let sell = placed_and_left_to_the_scheduler(&r).await;
    // Nothing written after the claim, nothing queued: no follow-up, however long we wait.
    assert_eq!(sell.status, OrderStatus::Placing);
    assert_eq!(sell.version, 2, "PENDING, then the claim: {sell:#?}");
    r.clock.advance(120_000);
    assert!(r.deliver().await.is_empty(), "no follow-up message");
    assert_eq!(r.venue.placed().len(), 1);

    // It fills while resting; the next cycle finds it by its client order id and records it
    // FILLED with its fee, in one write.
    r.venue.fill(
        &sell.intent.client_order_id,
        sell.intent.quantity,
        dec!(0.06),
        "USDT",
    );
    r.clock.advance(PERIOD_MS);
    r.tick().await;
    let sell = r.order_of("BTC/USDT", 0).await;
    assert_eq!(sell.status, OrderStatus::Filled, "{sell:#?}");
    assert_eq!(sell.fees_quote, dec!(0.06));
    assert_eq!(sell.version, 3, "PENDING, PLACING, FILLED: {sell:#?}");
}

#[tokio::test]
async fn followed_by_the_scheduler_an_order_left_behind_is_repriced_by_the_next_cycle() {
    let r = btc_rig_reconciling();
    let sell = placed_and_left_to_the_scheduler(&r).await;
    let first_price = r.venue.placed()[0].price;
    // The market falls away from the resting sell: its price is behind the best ask.
    r.venue
        .set_book(support::market("BTC", dec!(59950), dec!(10), dec!(10)));
    r.clock.advance(PERIOD_MS);
    let cycle = r.tick().await;
    assert_eq!(planned(&cycle), 0, "BTC is in flight as its next leg");
    assert_eq!(
        r.order_of("BTC/USDT", 0).await.status,
        OrderStatus::Cancelled
    );
    let leg = r.order_of("BTC/USDT", 1).await;
    assert_eq!(leg.status, OrderStatus::Pending);
    assert_eq!(leg.intent.quantity, sell.intent.quantity);
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("placed; followed by the scheduler")]
    );
    let placed = r.venue.placed();
    assert_eq!(placed.len(), 2);
    assert!(placed[1].price < first_price, "{placed:#?}");
}

#[tokio::test]
async fn followed_by_the_scheduler_an_order_past_its_deadline_is_cancelled_by_the_next_cycle() {
    let r = btc_rig_reconciling();
    let sell = placed_and_left_to_the_scheduler(&r).await;
    // The order's time to live is 900 s: four periods on, still resting, it is past it.
    r.venue
        .fill(&sell.intent.client_order_id, dec!(0.5), dec!(0.03), "USDT");
    r.clock.advance(4 * PERIOD_MS);
    r.tick().await;
    let orders = r.orders().await;
    let first = orders
        .iter()
        .find(|o| o.intent.client_order_id == sell.intent.client_order_id)
        .unwrap();
    assert_eq!(first.status, OrderStatus::Cancelled, "{first:#?}");
    assert_eq!(first.filled_qty, dec!(0.5));
    assert_eq!(first.fees_quote, dec!(0.03));
    // No next leg of the old cycle: the new cycle plans what is still to sell.
    assert!(
        orders
            .iter()
            .all(|o| o.intent.leg == 0 && (o.intent.cycle_id != sell.intent.cycle_id || o == first)),
        "{orders:#?}"
    );
}

#[tokio::test]
async fn followed_by_the_scheduler_a_paused_portfolios_order_is_reconciled_never_repriced() {
    let r = btc_rig_reconciling();
    let sell = placed_and_left_to_the_scheduler(&r).await;
    let id = PortfolioId::new("p").unwrap();
    r.store.set_paused(&id, Some(stop("looking into it")));
    r.venue
        .set_book(support::market("BTC", dec!(59950), dec!(10), dec!(10)));
    r.clock.advance(PERIOD_MS);
    let paused = r.tick().await;
    assert!(
        matches!(&paused[0].outcome, PortfolioOutcome::Paused { .. }),
        "{paused:?}"
    );
    // Found resting and recorded as placed, but not re-priced while paused.
    assert_eq!(r.order_of("BTC/USDT", 0).await.status, OrderStatus::Placed);
    assert_eq!(r.orders().await.len(), 1);
    assert_eq!(r.venue.placed().len(), 1);
    // Its deadline still holds while paused.
    r.clock.advance(3 * PERIOD_MS);
    r.tick().await;
    let orders = r.orders().await;
    assert_eq!(
        orders.len(),
        1,
        "paused: nothing planned, nothing re-priced"
    );
    assert_eq!(orders[0].status, OrderStatus::Cancelled, "{orders:#?}");
    assert_eq!(
        orders[0].intent.client_order_id,
        sell.intent.client_order_id
    );
}

#[tokio::test]
async fn followed_by_the_scheduler_a_paused_portfolios_lost_message_is_not_resent_until_resumed() {
    let r = btc_rig_reconciling();
    assert_eq!(planned(&r.tick().await), 1);
    // The intent's message is lost: received and deleted, never handled.
    for m in r.queue.receive(10, 0).await.unwrap() {
        r.queue.delete(&m.receipt_handle).await.unwrap();
    }
    let id = PortfolioId::new("p").unwrap();
    r.store.set_paused(&id, Some(stop("looking into it")));
    // A period on the pending order is stale (its message probably lost), not yet expired.
    r.clock.advance(PERIOD_MS);
    r.tick().await;
    assert!(
        r.queue.receive(10, 0).await.unwrap().is_empty(),
        "nothing sent for a paused portfolio"
    );
    assert_eq!(r.order_of("BTC/USDT", 0).await.status, OrderStatus::Pending);
    r.store.set_paused(&id, None);
    r.clock.advance(PERIOD_MS);
    r.tick().await;
    assert_eq!(
        r.deliver().await,
        vec![MessageOutcome::Done("placed; followed by the scheduler")],
        "re-sent once resumed"
    );
}

#[tokio::test]
async fn followed_by_the_scheduler_a_follow_up_message_left_from_messages_mode_does_nothing() {
    let r = btc_rig_reconciling();
    let sell = placed_and_left_to_the_scheduler(&r).await;
    // A follow-up as the executor queued them before the deployment changed mode.
    let mut placed = sell.clone();
    placed.status = OrderStatus::Placed;
    let body = IntentEnvelope::follow_up(&placed).to_json().unwrap();
    let calls = r.venue.calls();
    let outcomes = r.executor.handle_batch(&[&body], &r.invocation()).await;
    assert_eq!(
        outcomes,
        vec![MessageOutcome::Done("followed by the scheduler")]
    );
    assert_eq!(r.venue.calls(), calls, "nothing asked of the venue");
    assert_eq!(r.order_of("BTC/USDT", 0).await, sell, "nothing written");
}
