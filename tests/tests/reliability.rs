//! The reliability suite (docs/RELIABILITY.md): duplicate storms, concurrent schedulers, crashes
//! between placing and recording, an exchange fault storm, the kill switch set in the middle of
//! a storm of queued intents, bad input, and a scan of every log line for the secrets. Real
//! handlers and adapters over the local AWS emulator and the paper exchange.
//! `DRIFTLINE_RELIABILITY=full` (`make reliability`) runs the published sizes; without it (`make
//! test`) each scenario runs a reduced size. Figures go to stderr as `FIGURE` lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use driftline_aws::AccountSecrets;
use driftline_core::orders::{IntentEnvelope, OrderRecord, RecordOutcome};
use driftline_core::ports::{BreakerStore, DriftHistory, IntentQueue, OrderLedger};
use driftline_core::service::executor::{Invocation, MessageOutcome};
use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::{
    Asset, BreakerState, ClientOrderId, CycleId, OrderIntent, OrderStatus, PortfolioId, Price,
    Side, Symbol,
};
use driftline_e2e::{
    article_spec, article_venue, first_tick_plans_two, World, ARTICLE_VENUE, KEY, SECRET,
};
use futures::stream::{self, StreamExt};
use paper_exchange::config::Dialect;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Sizes, venue, intents

fn full() -> bool {
    std::env::var("DRIFTLINE_RELIABILITY").is_ok_and(|v| v == "full")
}

/// The published size under `make reliability`, the reduced one otherwise.
fn size(published: usize, reduced: usize) -> usize {
    if full() {
        published
    } else {
        reduced
    }
}

/// The article's venue with holdings already on target (the scheduler plans nothing of its
/// own, so every order counted here is one of the suite's intents), a weight limit and a ban
/// length chosen per scenario.
fn venue(weight_per_minute: u32, ban_seconds: u32) -> String {
    article_venue!(balances = { BTC = "40", ETH = "650", USDT = "1600000" })
        .replace(
            "request_weight_per_minute = 6000",
            &format!("request_weight_per_minute = {weight_per_minute}"),
        )
        .replace("ban_seconds = 120", &format!("ban_seconds = {ban_seconds}"))
}

async fn world(weight_per_minute: u32, ban_seconds: u32) -> Option<Arc<World>> {
    logs();
    let w = World::start(&venue(weight_per_minute, ban_seconds), &[article_spec()]).await?;
    Some(Arc::new(w))
}

fn asset(code: &str) -> Asset {
    Asset::new(code).expect("valid asset")
}

/// A small sell of the article's portfolio, alternating BTC and ETH, valid for a day.
fn intent(w: &World, scenario: &str, n: usize) -> OrderIntent {
    let portfolio = PortfolioId::new("article").expect("valid id");
    let cycle = CycleId::new(&format!("rel-{scenario}-{n}")).expect("valid cycle");
    let (base, quantity, reference) = if n % 2 == 0 {
        ("BTC", dec!(0.001), dec!(64230))
    } else {
        ("ETH", dec!(0.01), dec!(3450))
    };
    let symbol = Symbol::new(asset(base), asset("USDT")).expect("valid symbol");
    let now = w.now();
    OrderIntent {
        client_order_id: ClientOrderId::derive(None, &portfolio, &cycle, &symbol, Side::Sell, 0),
        portfolio_id: portfolio,
        cycle_id: cycle,
        symbol,
        side: Side::Sell,
        leg: 0,
        quantity,
        limit_price: Price::new(reference).expect("price"),
        limit_offset: OrderIntent::mid_offset(),
        funded_by_sells: false,
        quote_fee_bps: None,
        reference_price: Price::new(reference).expect("price"),
        worst_price: Price::new(reference * dec!(0.998)).expect("price"),
        predicted_cost_bps: dec!(2),
        created_at_ms: now,
        expires_at_ms: now + 86_400_000,
        account: None,
    }
}

fn body(intent: &OrderIntent) -> String {
    IntentEnvelope::new(intent.clone())
        .to_json()
        .expect("an intent serializes")
}

/// Records the intents as the scheduler does, before any message is delivered.
async fn record_all(w: &World, intents: &[OrderIntent]) {
    let now = w.now();
    stream::iter(intents)
        .for_each_concurrent(16, |i| async move {
            let outcome = w.store.record(i, now).await.expect("intent recorded");
            assert!(!matches!(outcome, RecordOutcome::Refused(_)), "{outcome:?}");
        })
        .await;
}

/// `n` intents of `scenario`, recorded as the scheduler records them.
async fn recorded_intents(w: &World, scenario: &str, n: usize) -> Vec<OrderIntent> {
    let intents: Vec<OrderIntent> = (0..n).map(|i| intent(w, scenario, i)).collect();
    record_all(w, &intents).await;
    intents
}

fn invocation(w: &World, tag: &str, deadline_in_ms: i64) -> Invocation {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Invocation {
        request_id: format!(
            "rel-{tag}-{}",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        deadline_ms: w.now() + deadline_in_ms,
    }
}

/// Delivers each body once, `concurrency` at a time; the outcomes in input order.
async fn deliver(w: &World, bodies: &[String], concurrency: usize) -> Vec<MessageOutcome> {
    stream::iter(bodies.iter().enumerate())
        .map(|(i, b)| async move {
            let inv = invocation(w, "deliver", 60_000);
            (i, w.executor.handle(b, &inv).await)
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect()
}

async fn records(w: &World) -> Vec<OrderRecord> {
    w.orders("article").await
}

/// The message bodies of the orders not yet final, as SQS would bring them back.
async fn open_bodies(w: &World) -> Vec<String> {
    records(w)
        .await
        .iter()
        .filter(|r| !r.status.is_final())
        .map(|r| body(&r.intent))
        .collect()
}

/// Every venue order by client order id.
async fn venue_orders_by_id(w: &World) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    for o in w.venue_orders().await {
        let id = o["clientOrderId"].as_str().unwrap_or_default().to_owned();
        by_id.entry(id).or_default().push(o);
    }
    by_id
}

/// Moves both markets up, a step further each round, through every sell resting at the
/// previous round's prices (so orders placed late fill too).
async fn lift_markets(w: &World, round: usize) {
    w.set_mid("BTCUSDT", &(64_300 + 100 * round).to_string())
        .await;
    w.set_mid("ETHUSDT", &(3_470 + 5 * round).to_string()).await;
}

/// Moves the markets up through every resting sell, then redelivers the message of every
/// order not yet final (as SQS would bring it back), moving the clock past claims and breaker
/// cooldowns between rounds, until all are final. Returns the rounds it took.
async fn settle(w: &World, max_rounds: usize, concurrency: usize) -> usize {
    for round in 0..max_rounds {
        lift_markets(w, round).await;
        let open = open_bodies(w).await;
        if open.is_empty() {
            return round;
        }
        w.clock.advance(31_000);
        deliver(w, &open, concurrency).await;
    }
    let venue = venue_orders_by_id(w).await;
    let left: Vec<_> = records(w)
        .await
        .into_iter()
        .filter(|r| !r.status.is_final())
        .map(|r| {
            let on_venue = venue.get(r.intent.client_order_id.as_str()).cloned();
            (
                r.intent.client_order_id.to_string(),
                r.status,
                r.last_error,
                on_venue,
            )
        })
        .collect();
    panic!(
        "{} orders not final after {max_rounds} rounds: {left:#?}",
        left.len()
    );
}

/// No client order id twice on the venue, and per intent (all its legs) never more sold than
/// the intent's quantity. Returns the number of venue orders of the given intents.
async fn assert_no_duplicates(w: &World, intents: &[OrderIntent]) -> usize {
    let by_id = venue_orders_by_id(w).await;
    let twice: Vec<_> = by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "client order ids placed twice: {twice:#?}"
    );
    let records = records(w).await;
    let mut counted = 0;
    for i in intents {
        let legs: Vec<&OrderRecord> = records
            .iter()
            .filter(|r| r.intent.cycle_id == i.cycle_id && r.intent.symbol == i.symbol)
            .collect();
        let mut executed = Decimal::ZERO;
        for leg in &legs {
            if let Some(orders) = by_id.get(leg.intent.client_order_id.as_str()) {
                counted += orders.len();
                for o in orders {
                    executed += o["executedQty"]
                        .as_str()
                        .and_then(|q| q.parse::<Decimal>().ok())
                        .expect("executedQty is a decimal");
                }
            }
        }
        assert!(
            executed <= i.quantity,
            "{}: {executed} executed for an intent of {}",
            i.client_order_id,
            i.quantity
        );
    }
    counted
}

/// Every intent (with all its legs) in a final state, and what the states are.
async fn assert_all_final(w: &World, intents: &[OrderIntent]) -> BTreeMap<String, usize> {
    let records = records(w).await;
    let mut states = BTreeMap::new();
    for i in intents {
        let own = records
            .iter()
            .find(|r| r.intent.client_order_id == i.client_order_id)
            .unwrap_or_else(|| panic!("{} lost: no ledger record", i.client_order_id));
        assert!(own.status.is_final(), "{own:#?}");
        *states.entry(own.status.to_string()).or_default() += 1;
    }
    let open: Vec<_> = records.iter().filter(|r| !r.status.is_final()).collect();
    assert!(open.is_empty(), "orders left open: {open:#?}");
    states
}

// ---------------------------------------------------------------------------------------------
// Logs: every line any test of this binary writes, scanned for the secrets.

fn logs() -> &'static driftline_e2e::Captured {
    driftline_e2e::captured_logs()
}

/// Scans every log line so far and the world's metric lines for the secret and the API key.
fn assert_no_secret_in_logs(w: &World, scenario: &str) {
    let text = logs().text();
    let metrics: Vec<String> = w.metrics.lines().iter().map(Value::to_string).collect();
    let lines = text.lines().count() + metrics.len();
    assert!(
        lines > 0,
        "{scenario}: nothing was logged: the scan would prove nothing"
    );
    for needle in [SECRET, KEY] {
        let hits = text.lines().filter(|l| l.contains(needle)).count()
            + metrics.iter().filter(|l| l.contains(needle)).count();
        assert_eq!(hits, 0, "{scenario}: a log line carries {needle:?}");
    }
    eprintln!("FIGURE secrets {scenario}: {lines} log and metric lines scanned, 0 hits");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Runs one scenario of the suite in a fresh world (`run` given it and the time it started),
/// then scans every log line so far for the secrets. Skipped without the emulator.
async fn scenario<F, Fut>(name: &str, weight_per_minute: u32, ban_seconds: u32, run: F)
where
    F: FnOnce(Arc<World>, Instant) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(w) = world(weight_per_minute, ban_seconds).await else {
        return;
    };
    run(Arc::clone(&w), Instant::now()).await;
    assert_no_secret_in_logs(&w, name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_storm_places_each_intent_once_and_loses_none() {
    scenario("duplicates", 1_000_000, 120, |w, started| async move {
        let n = size(1000, 100);
        let intents = recorded_intents(&w, "dup", n).await;
        // Each intent delivered 1 to 5 times, its copies side by side so they run concurrently.
        let mut deliveries: Vec<String> = Vec::new();
        for (i, intent) in intents.iter().enumerate() {
            let copies = 1 + (i * 7 + i / 5) % 5;
            deliveries.extend(std::iter::repeat_n(body(intent), copies));
        }
        let mut outcomes = deliver(&w, &deliveries, 64).await;
        // Messages told to come back come back, until each is done (the SQS redelivery).
        let mut redelivered = 0;
        for _ in 0..20 {
            let again: Vec<String> = deliveries
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| matches!(o, MessageOutcome::RetryAfter { .. }))
                .map(|(b, _)| b.clone())
                .collect();
            if again.is_empty() {
                break;
            }
            redelivered += again.len();
            w.clock.advance(2_000);
            let next = deliver(&w, &again, 64).await;
            let mut next = next.into_iter();
            for o in outcomes.iter_mut() {
                if matches!(o, MessageOutcome::RetryAfter { .. }) {
                    *o = next.next().expect("one outcome per redelivery");
                }
            }
        }
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, MessageOutcome::Done(_))),
            "{:?}",
            outcomes
                .iter()
                .filter(|o| !matches!(o, MessageOutcome::Done(_)))
                .collect::<Vec<_>>()
        );
        let placed = assert_no_duplicates(&w, &intents).await;
        let rounds = settle(&w, 20, 64).await;
        let states = assert_all_final(&w, &intents).await;
        let venue = assert_no_duplicates(&w, &intents).await;
        assert!(
            placed >= n && venue >= n,
            "{placed} {venue} venue orders for {n} intents"
        );
        eprintln!(
            "FIGURE duplicates: {n} intents, {} deliveries ({redelivered} redelivered), {venue} venue orders (legs included), 0 duplicates, 0 lost, final {states:?}, settled in {rounds} rounds, {:.1}s",
            deliveries.len(),
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedulers_on_one_tick_run_exactly_one_cycle() {
    scenario("schedulers", 1_000_000, 120, |w, started| async move {
        let ticks = size(20, 5);
        let mut histories = 0;
        for t in 0..ticks {
            let responses = futures::future::join_all((0..10).map(|_| w.tick())).await;
            let mut cycles = 0;
            for r in &responses {
                for p in &r.portfolios {
                    match &p.outcome {
                        PortfolioOutcome::Planned { .. } => cycles += 1,
                        PortfolioOutcome::LeaseHeld { .. } | PortfolioOutcome::AlreadyRan => {}
                        other => panic!("tick {t}: {other:?}"),
                    }
                }
            }
            assert_eq!(cycles, 1, "tick {t}: {responses:#?}");
            let id = PortfolioId::new("article").expect("valid id");
            let latest = DriftHistory::latest(w.store.as_ref(), &id, 50)
                .await
                .expect("history readable");
            histories = latest.len();
            assert_eq!(histories, t + 1, "one drift snapshot per cycle");
            w.next_tick();
        }
        eprintln!(
            "FIGURE schedulers: {ticks} ticks x 10 concurrent invocations, exactly 1 cycle per tick, {histories} snapshots, {:.1}s",
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_between_placing_and_recording_recover_without_duplicates() {
    scenario("crashes", 1_000_000, 120, |w, started| async move {
        let n = size(100, 30);
        let intents = recorded_intents(&w, "crash", n).await;
        let mut dropped_responses = 0;
        for (i, intent) in intents.iter().enumerate() {
            // Every third point: the venue takes the order and drops its answer.
            if i % 3 == 0 {
                w.set_faults(json!({"drop_next_order_responses": 1})).await;
                dropped_responses += 1;
            }
            let task = {
                let w = w.clone();
                let b = body(intent);
                // A short claim: it lapses once the clock moves past the invocation's deadline.
                let inv = invocation(&w, "crash", 2_000);
                tokio::spawn(async move { w.executor.handle(&b, &inv).await })
            };
            // Killed at a different moment each time: before the claim, between claim and
            // placement, between placement and recording, or after.
            tokio::time::sleep(Duration::from_micros(((i * 7_919) % 400_000) as u64)).await;
            task.abort();
            let _ = task.await;
            w.set_faults(json!({})).await;
        }
        // Where the crashes left each order.
        let by_id = venue_orders_by_id(&w).await;
        let mut landed: BTreeMap<String, usize> = BTreeMap::new();
        for r in records(&w).await {
            let on_venue = by_id.contains_key(r.intent.client_order_id.as_str());
            *landed
                .entry(format!(
                    "{} {}",
                    r.status,
                    if on_venue { "on venue" } else { "not on venue" }
                ))
                .or_default() += 1;
        }
        assert_no_duplicates(&w, &intents).await;
        // Recovery: the claims lapse; the scheduler's reconcile finds what the exchange has.
        w.clock.advance(3_000);
        let tick = w.tick().await;
        let reconciled = match &tick.portfolios[0].outcome {
            PortfolioOutcome::Planned { reconciled, .. } => *reconciled,
            other => panic!("{other:?}"),
        };
        // Then the messages come back (SQS redelivery) until every order is final.
        let rounds = settle(&w, 20, 16).await;
        let states = assert_all_final(&w, &intents).await;
        let venue = assert_no_duplicates(&w, &intents).await;
        assert!(venue >= n, "{venue} venue orders for {n} intents");
        eprintln!(
            "FIGURE crashes: {n} crash points ({dropped_responses} with the response dropped), left as {landed:?}; reconcile changed {reconciled}; recovered in {rounds} redelivery rounds; {venue} venue orders, 0 duplicates, final {states:?}, {:.1}s",
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

/// The `/api/v3` requests the venue has seen.
async fn requests(w: &World) -> Vec<Value> {
    w.admin_get("/admin/requests").await
}

/// Delivers `intent` in `invocation`: the order is placed, and that closes the breaker.
async fn assert_placed_closing_the_breaker(
    w: &World,
    intent: &OrderIntent,
    invocation: Invocation,
) {
    let outcome = w.executor.handle(&body(intent), &invocation).await;
    assert_eq!(outcome, MessageOutcome::Done("placed; follow-up queued"));
    assert!(matches!(breaker(w).await, BreakerState::Closed { .. }));
}

async fn breaker(w: &World) -> BreakerState {
    w.store
        .load("binance")
        .await
        .expect("breaker readable")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchange_fault_storm_ends_with_every_order_final_and_silence_during_a_ban() {
    // A 2-second ban keeps the client's own (wall-clock) ban short. A limit the storm's own
    // traffic stays well under: the client paces itself near a limit (and then sends nothing,
    // which would leave the ban below untested).
    scenario("storm", 50_000, 2, |w, started| async move {
        let n = size(300, 60);
        let intents = recorded_intents(&w, "storm", n).await;
        let bodies: Vec<String> = intents.iter().map(body).collect();
        let storm = json!({"server_error_rate": "0.2", "drop_order_response_rate": "0.05"});
        let mut saw_open = false;
        let mut saw_closed_after_open = false;
        let mut observe = |state: BreakerState| {
            if state.is_open() {
                saw_open = true;
            } else if saw_open && matches!(state, BreakerState::Closed { .. }) {
                saw_closed_after_open = true;
            }
        };

        // 1. The storm: 20% 5xx, 5% of accepted orders with the answer dropped.
        w.set_faults(storm.clone()).await;
        for _ in 0..3 {
            deliver(&w, &bodies, 16).await;
            observe(breaker(&w).await);
            w.clock.advance(31_000);
        }

        // 2. A 429 burst from another process on the same address, late in a minute, then the
        // executor sends once more in that minute: banned (418) for 2 seconds.
        w.set_faults(json!({})).await;
        let now = w.now();
        let late_in_minute = now - now.rem_euclid(60_000) + 60_000 - 1_500;
        w.clock.set(if late_in_minute > now {
            late_in_minute
        } else {
            late_in_minute + 60_000
        });
        let depth = format!(
            "{}/api/v3/depth?symbol=BTCUSDT&limit=5000",
            w.venue.base_url()
        );
        let mut burst = 0;
        loop {
            burst += 1;
            let status = w.http.get(&depth).send().await.expect("depth").status();
            if status.as_u16() == 429 {
                break;
            }
            assert!(burst < 1_000, "no 429 after {burst} requests");
        }
        let before_ban = requests(&w).await.len();
        // Fresh orders, so each delivery has something to send (a final one sends nothing).
        let during_ban = recorded_intents(&w, "storm-ban", 8).await;
        let mut ban_outcomes = Vec::new();
        for b in during_ban.iter().map(body) {
            let b = &b;
            ban_outcomes.push(w.executor.handle(b, &invocation(&w, "ban", 60_000)).await);
        }
        // The scheduler's tick falls in the ban too: it must not read balances, books or orders.
        let ticked = w.tick().await;
        assert!(
            ticked
                .portfolios
                .iter()
                .all(|p| matches!(p.outcome, PortfolioOutcome::BreakerOpen { .. })),
            "the scheduler ran during the ban: {ticked:#?}"
        );
        let log = requests(&w).await;
        let after: Vec<&Value> = log.iter().skip(before_ban).collect();
        let first_ban = after
            .iter()
            .position(|r| r["limiter"] == 418)
            .unwrap_or_else(|| {
                panic!("the executor's next request in the minute is not banned: {after:#?} {ban_outcomes:#?}")
            });
        let banned_at = after[first_ban]["time"].as_i64().expect("time");
        let sent_during_ban = after
            .iter()
            .skip(first_ban + 1)
            .filter(|r| r["time"].as_i64().is_some_and(|t| t < banned_at + 2_000))
            .count();
        assert_eq!(
            sent_during_ban, 0,
            "requests sent by either function during the 418 ban: {after:#?}"
        );
        let ban_state = breaker(&w).await;
        assert!(ban_state.is_open(), "{ban_state:?}");
        observe(ban_state);
        // The ban ends on the venue's clock and on the client's.
        w.clock.advance(2_500);
        tokio::time::sleep(Duration::from_millis(2_100)).await;

        // 3. A maintenance window: every request answers 503 -1008; the breaker opens and holds
        // further orders back.
        w.set_faults(json!({"maintenance": true})).await;
        deliver(&w, &bodies, 1).await;
        let during = breaker(&w).await;
        assert!(during.is_open(), "{during:?}");
        observe(during);
        let held_from = requests(&w).await.len();
        deliver(&w, &bodies, 16).await;
        assert_eq!(
            requests(&w).await.len(),
            held_from,
            "nothing is sent while the breaker is open"
        );
        w.set_faults(storm).await;

        // 4. Still in the storm: the messages come back until every order is final.
        let mut rounds = 0;
        loop {
            lift_markets(&w, rounds).await;
            let open = open_bodies(&w).await;
            if open.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > 100 {
                let left: Vec<_> = records(&w)
                    .await
                    .into_iter()
                    .filter(|r| !r.status.is_final())
                    .map(|r| (r.status, r.last_error))
                    .take(5)
                    .collect();
                panic!(
                    "{} orders not final, breaker {:?}: {left:?}",
                    open.len(),
                    breaker(&w).await
                );
            }
            w.clock.advance(31_000);
            deliver(&w, &open, 16).await;
            observe(breaker(&w).await);
        }
        w.set_faults(json!({})).await;
        // A calm delivery after the storm: the breaker closes.
        w.clock.advance(31_000);
        deliver(&w, &bodies[..1], 1).await;
        observe(breaker(&w).await);
        let states = assert_all_final(&w, &intents).await;
        let venue = assert_no_duplicates(&w, &intents).await;
        assert!(saw_open, "the breaker never opened");
        assert!(saw_closed_after_open, "the breaker never closed again");
        let log = requests(&w).await;
        let count = |code: i64| log.iter().filter(|r| r["limiter"] == code).count();
        eprintln!(
            "FIGURE storm: {n} intents; 20% 5xx, 5% dropped answers, a 429 burst ({burst} requests), a 418 ban with 0 requests sent during it, a maintenance window; {} requests (429: {}, 418: {}); breaker opened and closed; all final after {rounds} more rounds: {states:?}; {venue} venue orders, 0 duplicates, {:.1}s",
            log.len(),
            count(429),
            count(418),
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_messages_go_to_the_dead_letter_queue_with_a_reason_and_good_ones_still_run() {
    scenario("bad messages", 1_000_000, 120, |w, _| async move {
        let good = intent(&w, "bad-input", 0);
        record_all(&w, std::slice::from_ref(&good)).await;
        let mut unknown_version: Value = serde_json::from_str(&body(&good)).expect("json");
        unknown_version["v"] = json!(2);
        let mut wrong_type: Value = serde_json::from_str(&body(&good)).expect("json");
        wrong_type["intent"]["quantity"] = json!(0.001);
        // Under SQS's 256 KiB limit, far over anything driftline writes.
        let mut oversized: Value = serde_json::from_str(&body(&good)).expect("json");
        oversized["intent"]["client_order_id"] = json!("x".repeat(200_000));
        let bad = [
            ("malformed", "{\"v\":1,\"intent\":{".to_owned()),
            ("empty", String::new()),
            ("unknown version", unknown_version.to_string()),
            ("float quantity", wrong_type.to_string()),
            ("oversized", oversized.to_string()),
        ];
        for (_, b) in &bad {
            w.sqs
                .send_message()
                .queue_url(&w.queue_url)
                .message_body(if b.is_empty() { " " } else { b.as_str() })
                .send()
                .await
                .expect("sent");
        }
        w.queue
            .send(&[IntentEnvelope::new(good.clone())], 0)
            .await
            .expect("good intent queued");
        let drained = w.drain(20).await;
        assert!(drained.messages > bad.len(), "{drained:?}");
        let mut dead = Vec::new();
        for _ in 0..5 {
            dead.extend(w.dead_letters().await);
            if dead.len() >= bad.len() {
                break;
            }
        }
        assert_eq!(dead.len(), bad.len(), "{dead:#?}");
        for (body, reason) in &dead {
            let reason = reason.as_deref().expect("every dead letter says why");
            assert!(reason.contains("intent message"), "{reason}");
            assert!(!body.is_empty() && reason.len() <= 1024);
        }
        let reasons: Vec<&str> = dead.iter().filter_map(|(_, r)| r.as_deref()).collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("unknown envelope version 2")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("quantity")),
            "{reasons:?}"
        );
        // The good message beside them was placed.
        let own = records(&w).await;
        assert!(
            own.iter()
                .any(|r| r.intent.client_order_id == good.client_order_id
                    && r.status == OrderStatus::Placed),
            "{own:#?}"
        );
        eprintln!(
            "FIGURE bad messages: {} bad bodies, {} dead letters with a reason, the good message beside them placed",
            bad.len(),
            dead.len()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_stored_config_fails_its_own_portfolio_only_with_the_field_named() {
    scenario("bad configs", 1_000_000, 120, |w, _| async move {
        let sdk = driftline_e2e::emulator().await.expect("emulator");
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        // Raw items, as a hand edit or another tool could leave them: no validation on the way in.
        let bad = [
            ("sum", r#"{"BTC": "0.5", "USDT": "0.4"}"#, "targets"),
            (
                "negative",
                r#"{"BTC": "-0.5", "USDT": "1.5"}"#,
                "targets.BTC",
            ),
            (
                "badcode",
                r#"{"BTC!": "0.5", "USDT": "0.5"}"#,
                "targets.BTC!",
            ),
            (
                "unlisted",
                r#"{"BTC": "0.5", "DOGE": "0.25", "USDT": "0.25"}"#,
                "DOGE",
            ),
            ("noquote", r#"{"BTC": "0.5", "ETH": "0.5"}"#, "targets"),
            (
                "twice",
                r#"{"BTC": "0.5", "ETH": "0.25", "USDT": "0.25", "ETH": "0.25"}"#,
                "\"ETH\" is listed twice",
            ),
        ];
        for (id, targets, _) in &bad {
            let spec = format!(r#"{{"id": "{id}", "quote": "USDT", "targets": {targets}}}"#);
            dynamodb
                .put_item()
                .table_name(w.store.table())
                .item("pk", AttributeValue::S("CONFIG".into()))
                .item("sk", AttributeValue::S(format!("PORTFOLIO#{id}")))
                .item("spec", AttributeValue::S(spec))
                .send()
                .await
                .expect("raw config written");
        }
        let response = w.tick().await;
        let mut failed = 0;
        for p in &response.portfolios {
            match (
                &p.outcome,
                bad.iter().find(|(id, _, _)| *id == p.portfolio_id),
            ) {
                (PortfolioOutcome::Failed { error }, Some((_, _, field))) => {
                    assert!(error.contains(field), "{}: {error}", p.portfolio_id);
                    eprintln!("FIGURE bad config {}: {error}", p.portfolio_id);
                    failed += 1;
                }
                (PortfolioOutcome::Planned { .. }, None) => {}
                other => panic!("{}: {other:?}", p.portfolio_id),
            }
        }
        assert_eq!(failed, bad.len(), "{response:#?}");
        eprintln!(
            "FIGURE bad configs: {} bad stored configs each failed alone with its field named; the good portfolio planned",
            bad.len()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_or_garbled_secret_is_a_clear_error_without_its_value() {
    scenario("secret errors", 1_000_000, 120, |_, _| async move {
        let sdk = driftline_e2e::emulator().await.expect("emulator");
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let garbled = format!("driftline-garbled-{}", std::process::id());
        secrets
            .create_secret()
            .name(&garbled)
            .secret_string(format!(
                "{{\"api_key\": \"{KEY}\", \"api_secret\": {SECRET}"
            ))
            .send()
            .await
            .expect("secret created");
        let missing_key = format!("driftline-no-key-{}", std::process::id());
        secrets
            .create_secret()
            .name(&missing_key)
            .secret_string(format!("{{\"api_secret\": \"{SECRET}\"}}"))
            .send()
            .await
            .expect("secret created");
        let cache = AccountSecrets::new(secrets, Duration::from_secs(60));
        let mut errors = Vec::new();
        for id in [
            garbled.as_str(),
            missing_key.as_str(),
            "driftline-never-created",
        ] {
            let e = cache.get(id).await.expect_err("not usable credentials");
            let text = e.to_string();
            assert!(text.contains(id), "{text}");
            assert!(!text.contains(SECRET) && !text.contains(KEY), "{text}");
            tracing::error!(error = %e, "credentials unavailable");
            errors.push(text);
        }
        eprintln!("FIGURE secrets errors: {errors:?}");
    })
    .await;
}

/// Found by the fault storm: a probe whose message made no exchange call (here an unknown
/// order) left the breaker half-open for ever, and nothing was sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_probe_that_never_reaches_the_exchange_does_not_leave_the_breaker_half_open() {
    let Some(w) = world(1_000_000, 120).await else {
        return;
    };
    let open = BreakerState::Open {
        until_ms: w.now() - 1,
    };
    let saved = w
        .store
        .save("binance", open, 0)
        .await
        .expect("breaker saved");
    assert!(matches!(
        saved,
        driftline_core::ports::BreakerSave::Saved(_)
    ));
    let unknown = intent(&w, "probe", 0);
    let outcome = w
        .executor
        .handle(&body(&unknown), &invocation(&w, "probe", 60_000))
        .await;
    assert_eq!(outcome, MessageOutcome::Done("unknown order"));
    assert!(
        !matches!(breaker(&w).await, BreakerState::HalfOpen { .. }),
        "only a request that reaches the exchange probes"
    );
    let known = intent(&w, "probe", 1);
    record_all(&w, std::slice::from_ref(&known)).await;
    assert_placed_closing_the_breaker(&w, &known, invocation(&w, "probe", 60_000)).await;
}

/// Found under a hostile event source: the probe's process died (or its invocation timed
/// out) and the breaker stayed half-open for good, refusing every later order. The probe has a
/// deadline: after it, the next caller probes and the order is placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_probe_killed_mid_request_lapses_at_its_deadline_and_the_next_order_is_placed() {
    let Some(w) = world(1_000_000, 120).await else {
        return;
    };
    // The cooldown has just ended: the next request is the probe.
    w.store
        .save("binance", BreakerState::Open { until_ms: w.now() }, 0)
        .await
        .expect("breaker saved");
    let order = intent(&w, "killed-probe", 0);
    record_all(&w, std::slice::from_ref(&order)).await;
    // The venue is slow; Lambda ends the invocation (its timeout) before the answer comes:
    // the invocation is cut off as soon as its request is on the way, however loaded the
    // machine is.
    w.set_faults(json!({"latency_ms": 20_000})).await;
    let dying = invocation(&w, "dies", 30_000);
    let probe = {
        let (w, body, dying) = (w.clone(), body(&order), dying.clone());
        tokio::spawn(async move { w.executor.handle(&body, &dying).await })
    };
    let started = Instant::now();
    let until_ms = loop {
        if let BreakerState::HalfOpen { until_ms, .. } = breaker(&w).await {
            break until_ms;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15) && !probe.is_finished(),
            "the delivery never became the probe"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    probe.abort();
    assert!(
        probe.await.is_err_and(|e| e.is_cancelled()),
        "the probe's invocation was cut off"
    );
    w.set_faults(json!({})).await;
    // Another container, before the probe's deadline: it waits, sending nothing.
    let before = requests(&w).await.len();
    let other = w
        .executor
        .handle(
            &body(&intent(&w, "killed-probe", 1)),
            &invocation(&w, "other", 30_000),
        )
        .await;
    assert_eq!(other, MessageOutcome::Done("waiting: circuit breaker open"));
    assert_eq!(requests(&w).await.len(), before);
    // After the probe's deadline (and the dead invocation's claim), the order goes.
    w.clock.set(until_ms.max(dying.deadline_ms) + 1);
    assert_placed_closing_the_breaker(&w, &order, invocation(&w, "next", 30_000)).await;
    let on_venue = venue_orders_by_id(&w).await;
    assert_eq!(
        on_venue.get(order.client_order_id.as_str()).map(Vec::len),
        Some(1),
        "placed once"
    );
}

// ---------------------------------------------------------------------------------------------
// The kill switch under a storm of queued intents

/// One executor invocation of the halt storm, as the event source mapping made it.
#[derive(Debug, Clone)]
struct Invoked {
    started: Instant,
    ended: Instant,
    /// The client order ids of its messages.
    orders: Vec<String>,
}

/// Stands in for Lambda's event source mapping at a concurrency of `loops`: each loop receives
/// up to ten messages, invokes the real executor handler on them, deletes all but the batch
/// item failures, and logs the invocation; until `stop`.
fn event_source(
    w: &Arc<World>,
    loops: usize,
    log: &Arc<std::sync::Mutex<Vec<Invoked>>>,
    busy: &Arc<std::sync::Mutex<HashMap<usize, Instant>>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    (0..loops)
        .map(|n| {
            let (w, log, busy, stop) = (w.clone(), log.clone(), busy.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let messages = w.receive(10, 1).await.expect("receive");
                    if messages.is_empty() {
                        continue;
                    }
                    let orders = messages
                        .iter()
                        .filter_map(|m| IntentEnvelope::from_json(m.body()?).ok())
                        .map(|e| e.intent.client_order_id.to_string())
                        .collect();
                    let started = Instant::now();
                    busy.lock().expect("busy").insert(n, started);
                    let response = w.invoke_executor(&messages).await;
                    let ended = Instant::now();
                    busy.lock().expect("busy").remove(&n);
                    w.acknowledge(&messages, &response)
                        .await
                        .expect("acknowledged");
                    log.lock().expect("log").push(Invoked {
                        started,
                        ended,
                        orders,
                    });
                }
            })
        })
        .collect()
}

/// What one halt in the storm measured.
struct HaltRun {
    intents: Vec<OrderIntent>,
    /// From `set_halt` returning to the last placement request sent (0 when none was).
    latency: Duration,
    /// Placements sent after `set_halt` returned, all by batches already in flight then.
    late_placements: usize,
    /// Invocations in flight when the halt was set, and the longest of them.
    in_flight: usize,
    longest_in_flight: Duration,
    placed_before: usize,
    held_deliveries: usize,
    /// How long the deployment stayed halted after the batches in flight ended.
    quiet: Duration,
}

/// One run: `n` intents recorded and queued, drained by `loops` concurrent invocations, halted
/// once about a third are placed, resumed, then driven to filled. `round` moves the markets up
/// across runs.
async fn halt_storm_run(
    w: &Arc<World>,
    run: usize,
    n: usize,
    loops: usize,
    round: &mut usize,
) -> HaltRun {
    use driftline_core::control::{DeploymentControls, Stop};
    use std::sync::atomic::{AtomicBool, Ordering};
    let intents = recorded_intents(w, &format!("halt{run}"), n).await;
    let envelopes: Vec<IntentEnvelope> = intents.iter().cloned().map(IntentEnvelope::new).collect();
    let sent = w.queue.send(&envelopes, 0).await.expect("queued");
    assert_eq!(sent.sent.len(), n, "{:?}", sent.failed);
    let mine: std::collections::HashSet<String> = intents
        .iter()
        .map(|i| i.client_order_id.to_string())
        .collect();
    let placed_of_mine = |w: &World| {
        w.placements
            .all()
            .iter()
            .filter(|p| mine.contains(p.client_order_id.as_str()))
            .count()
    };

    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let busy = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = event_source(w, loops, &log, &busy, &stop);

    // Mid-drain: a third of the intents placed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while placed_of_mine(w) < n / 3 {
        assert!(Instant::now() < deadline, "the storm does not drain");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let halt = Stop {
        reason: format!("halt storm run {run}"),
        by: "reliability".into(),
        at_ms: w.now(),
    };
    // The exact call `driftline halt` makes.
    w.store.set_halt(Some(&halt)).await.expect("halted");
    let halted_at = Instant::now();
    // The venue stamps its logs with the manual clock: from this mark on, "after the halt".
    w.clock.advance(1_000);
    let venue_halted = w.now();
    let placed_before = w
        .placements
        .all()
        .iter()
        .filter(|p| p.sent <= halted_at && mine.contains(p.client_order_id.as_str()))
        .count();
    assert!(
        placed_before < n,
        "the halt came after the drain: {placed_before} of {n} placed"
    );
    // The batches in flight at the halt finish; every one started since reads the halt.
    while busy
        .lock()
        .expect("busy")
        .values()
        .any(|started| *started <= halted_at)
    {
        assert!(Instant::now() < deadline, "an invocation never ends");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    w.clock.advance(1_000);
    let venue_quiet = w.now();
    let requests_then = requests(w).await.len();
    // Every intent not placed by then is delivered and held back (it comes back every
    // follow-up delay, 1 s here), at least once and for at least 3 s.
    let placed: std::collections::HashSet<String> = w
        .placements
        .all()
        .iter()
        .map(|p| p.client_order_id.to_string())
        .collect();
    let unplaced: Vec<&String> = mine.iter().filter(|id| !placed.contains(*id)).collect();
    let quiet_from = Instant::now();
    loop {
        let held: std::collections::HashSet<String> = log
            .lock()
            .expect("log")
            .iter()
            .filter(|i| i.started > halted_at)
            .flat_map(|i| i.orders.iter().cloned())
            .collect();
        if quiet_from.elapsed() >= Duration::from_secs(3)
            && unplaced.iter().all(|id| held.contains(*id))
        {
            break;
        }
        assert!(
            quiet_from.elapsed() < Duration::from_secs(120),
            "queued intents never delivered during the halt"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during: Vec<Value> = requests(w)
        .await
        .into_iter()
        .filter(|r| r["time"].as_i64().is_some_and(|t| t >= venue_quiet))
        .collect();
    assert!(
        during.is_empty(),
        "requests reached the venue while halted, after the batches in flight ended: {during:#?}"
    );
    assert_eq!(requests(w).await.len(), requests_then, "not one request");
    // Resume, the clock moved first so that nothing placed after it carries a halted time.
    w.clock.advance(1_000);
    let venue_resumed = w.now();
    let log_at_resume: Vec<Invoked> = log.lock().expect("log").clone();
    let resumed_at = Instant::now();
    let quiet = resumed_at - quiet_from;
    w.store.set_halt(None).await.expect("resumed");
    let held_deliveries = log_at_resume
        .iter()
        .filter(|i| i.started > halted_at)
        .map(|i| i.orders.len())
        .sum::<usize>();
    assert!(
        held_deliveries >= unplaced.len(),
        "every queued intent met the halt"
    );

    // After the halt was set, only batches already in flight placed anything, each order by
    // the invocation that carried its message.
    let in_flight: Vec<&Invoked> = log_at_resume
        .iter()
        .filter(|i| i.started <= halted_at && i.ended > halted_at)
        .collect();
    let late: Vec<_> = w
        .placements
        .all()
        .into_iter()
        .filter(|p| p.sent > halted_at && p.sent < resumed_at)
        .collect();
    for p in &late {
        let carried_by = log_at_resume
            .iter()
            .find(|i| {
                i.started <= p.sent
                    && p.sent <= i.ended
                    && i.orders.iter().any(|o| o == p.client_order_id.as_str())
            })
            .unwrap_or_else(|| panic!("{} placed by no logged invocation", p.client_order_id));
        assert!(
            carried_by.started <= halted_at,
            "{} placed by an invocation that started after the halt",
            p.client_order_id
        );
    }
    // The venue agrees: every order it received between the halt and the resume came from one
    // of those batches.
    for o in w.venue_orders().await {
        let id = o["clientOrderId"].as_str().unwrap_or_default();
        let at = o["time"].as_i64().unwrap_or_default();
        if at >= venue_halted && at < venue_resumed {
            assert!(
                in_flight.iter().any(|i| i.orders.iter().any(|x| x == id)),
                "{id} reached the venue after the halt from a batch not in flight then"
            );
        }
    }
    let latency = late
        .iter()
        .map(|p| p.sent - halted_at)
        .max()
        .unwrap_or_default();
    let longest_in_flight = in_flight
        .iter()
        .map(|i| i.ended - i.started)
        .max()
        .unwrap_or_default();

    // Resumed: every held intent runs; the market comes up through the resting sells.
    loop {
        lift_markets(w, *round).await;
        *round += 1;
        let open = records(w)
            .await
            .iter()
            .filter(|r| mine.contains(r.intent.client_order_id.as_str()) && !r.status.is_final())
            .count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(120),
            "{open} of the run's orders not final after the resume"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("event source loop");
    }
    HaltRun {
        intents,
        latency,
        late_placements: late.len(),
        in_flight: in_flight.len(),
        longest_in_flight,
        placed_before,
        held_deliveries,
        quiet,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_halt_mid_storm_stops_every_placement_holds_every_intent_and_resume_places_each_once() {
    scenario("halt", 1_000_000, 120, |w, started| async move {
        let (runs, n, loops) = (size(5, 1), size(300, 60), 4);
        let mut all: Vec<OrderIntent> = Vec::new();
        let mut measured = Vec::new();
        let mut round = 0;
        for run in 0..runs {
            let r = halt_storm_run(&w, run, n, loops, &mut round).await;
            eprintln!(
                "FIGURE halt run {run}: {n} intents, {loops} concurrent invocations; halted after {} placed; {} invocations in flight (longest {:.0} ms) placed {} more after the halt, the last {:.0} ms after it; then {:.1} s with not one request to the venue, {} deliveries held (every queued intent at least once)",
                r.placed_before,
                r.in_flight,
                ms(r.longest_in_flight),
                r.late_placements,
                ms(r.latency),
                r.quiet.as_secs_f64(),
                r.held_deliveries
            );
            assert!(
                r.latency <= r.longest_in_flight,
                "the last placement came later than a batch in flight could make it"
            );
            all.extend(r.intents.iter().cloned());
            measured.push(r);
        }
        // Every intent of every run completed (filled, or re-priced with its next leg filled),
        // none expired or rejected, no client order id twice on the venue, and nothing went to the
        // dead-letter queue.
        let states = assert_all_final(&w, &all).await;
        assert!(
            !states.contains_key("EXPIRED") && !states.contains_key("REJECTED"),
            "{states:?}"
        );
        let venue = assert_no_duplicates(&w, &all).await;
        assert!(
            venue >= runs * n,
            "{venue} venue orders for {} intents",
            runs * n
        );
        assert!(w.dead_letters().await.is_empty(), "nothing dead-lettered");
        let mut latencies: Vec<Duration> = measured.iter().map(|r| r.latency).collect();
        latencies.sort();
        let p50 = latencies[latencies.len() / 2];
        let max = latencies[latencies.len() - 1];
        let longest = measured
            .iter()
            .map(|r| r.longest_in_flight)
            .max()
            .unwrap_or_default();
        eprintln!(
            "FIGURE halt: {runs} runs of {n} queued intents, {loops} concurrent executor invocations (batches of ten); kill-switch latency (set_halt returned -> last placement sent) p50 {:.0} ms, max {:.0} ms, bounded by the longest batch in flight {:.0} ms; 0 placements by batches that started after the halt; 0 requests while halted once those ended; {venue} venue orders for {} intents, 0 duplicates, final {states:?}, 0 dead letters; {:.1}s",
            ms(p50),
            ms(max),
            ms(longest),
            runs * n,
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

/// A Kraken or Coinbase account's keys — Kraken's base64 secret; Coinbase's key name, its PEM
/// private key and the JWTs signed with it — never reach a log or metric line, through a storm
/// of server errors and dropped answers.
#[rstest::rstest]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kraken_or_coinbase_accounts_keys_never_reach_a_log_line(#[case] venue: Dialect) {
    logs();
    let Some(w) = first_tick_plans_two(World::article_on(venue).await).await else {
        return;
    };
    w.set_faults(json!({"server_error_rate": "0.3", "drop_order_response_rate": "0.3"}))
        .await;
    w.drain(20).await;
    w.set_faults(json!({})).await;
    w.drain(20).await;
    let account = paper_exchange::ExchangeConfig::parse(ARTICLE_VENUE)
        .and_then(|c| paper_exchange::venues::in_dialect(c, venue))
        .expect("the article's venue in each dialect")
        .accounts
        .remove(0);
    // The secret as the venue holds it (each line of a PEM body alone), the key, the raw secret
    // it was made from, and the opening of every JWT the client signs (`{"alg":"ES256"` in
    // base64url). Not just `eyJ` (`{"`): three characters turn up by chance in the random ids
    // the emulator's lines carry, and did, failing a fresh-clone run with no secret in sight.
    let mut needles: Vec<String> = account
        .secret
        .lines()
        .filter(|l| l.len() > 16 && !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    needles.extend([
        account.api_key.clone(),
        SECRET.to_owned(),
        "eyJhbGciOiJFUzI1NiI".to_owned(),
    ]);
    let text = logs().text();
    let metrics: Vec<String> = w.metrics.lines().iter().map(Value::to_string).collect();
    let lines = text.lines().count() + metrics.len();
    assert!(
        lines > 0,
        "nothing was logged: the scan would prove nothing"
    );
    for (i, needle) in needles.iter().enumerate() {
        let hits: Vec<String> = text
            .lines()
            .chain(metrics.iter().map(String::as_str))
            .filter(|l| l.contains(needle.as_str()))
            // Shown with the needle masked: the report must not leak it either.
            .map(|l| l.replace(needle.as_str(), &format!("<needle {i}>")))
            .collect();
        assert!(
            hits.is_empty(),
            "{venue:?}: a log line carries needle {i} of {}: {hits:#?}",
            needles.len()
        );
    }
    eprintln!("FIGURE secrets {venue:?}: {lines} log and metric lines scanned, 0 hits");
    w.stop().await;
}
