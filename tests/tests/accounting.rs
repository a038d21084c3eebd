//! Per-order accounting on the happy path: AWS calls by operation, DynamoDB capacity, exchange
//! calls and weight, per phase and per placed order. Prints the table docs/BENCHMARKS.md
//! publishes (`cargo test -p driftline-e2e --test accounting -- --nocapture`).

use std::collections::BTreeMap;

use driftline_core::OrderStatus;
use driftline_e2e::World;

fn show(phase: &str, w: &World, weight: u64) -> BTreeMap<String, u64> {
    let aws = w.aws_calls.attempts.snapshot();
    eprintln!("== {phase}");
    eprintln!("   aws: {aws:?} (total {})", aws.values().sum::<u64>());
    eprintln!("   dynamodb capacity: {:?}", w.aws_calls.capacity());
    eprintln!(
        "   exchange: {:?} weight {weight}",
        w.exchange_calls.snapshot()
    );
    aws
}

/// What production's follow-up delay puts between an order's messages: long enough that the
/// executor's container reads the breaker again (`breaker_reuse_ms`).
const FOLLOW_UP_GAP_MS: i64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_accounting_per_placed_order() {
    let Some(w) = World::article().await else {
        return;
    };
    w.aws_calls.clear();
    w.exchange_calls.clear();
    let w0 = w.used_weight().await;
    w.tick().await;
    let w1 = w.used_weight().await;
    let planning = show("scheduler tick (plans 2 orders)", &w, w1 - w0);
    // The per-order part of a cycle: one PENDING record each, one batch send for all.
    assert_eq!(
        planning.get("SQS.SendMessageBatch"),
        Some(&1),
        "{planning:?}"
    );

    w.aws_calls.clear();
    w.exchange_calls.clear();
    let placed = w.invoke_executor_once(1).await;
    let w2 = w.used_weight().await;
    let placing = show(&format!("executor: place ({placed:?})"), &w, w2 - w1);
    assert_eq!(placed.messages, 2, "both intents in one batch: {placed:?}");
    assert_eq!(
        w.exchange_calls.snapshot().get("place_limit_order"),
        Some(&2)
    );
    // Per order: the claim (PLACING) and PLACED, one write each; per batch: one breaker read
    // and one send of both follow-ups; per symbol, once per container: its filters.
    assert_eq!(placing.get("DynamoDB.UpdateItem"), Some(&4), "{placing:?}");
    assert_eq!(placing.get("DynamoDB.GetItem"), Some(&3), "{placing:?}");
    assert_eq!(placing.get("SQS.SendMessageBatch"), Some(&1), "{placing:?}");
    assert_eq!(placing.values().sum::<u64>(), 8, "{placing:?}");

    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.clock.advance(FOLLOW_UP_GAP_MS);
    // The venue's weight window may have turned over with the clock: measure from here.
    let w2 = w.used_weight().await;
    let resting = w.invoke_executor_once(3).await;
    let w2b = w.used_weight().await;
    let following = show(
        &format!("executor: one follow-up of resting orders ({resting:?})"),
        &w,
        w2b - w2,
    );
    assert_eq!(resting.messages, 2, "{resting:?}");
    // A follow-up carries its record: no claim, no read, no write while nothing changed.
    assert_eq!(
        following,
        BTreeMap::from([
            ("DynamoDB.GetItem".to_owned(), 1),
            ("SQS.SendMessageBatch".to_owned(), 1)
        ]),
    );

    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
    w.clock.advance(FOLLOW_UP_GAP_MS);
    let w2b = w.used_weight().await;
    let filled = w.drain(10).await;
    let w3 = w.used_weight().await;
    let finishing = show(
        &format!("executor: follow-ups until filled ({filled:?})"),
        &w,
        w3 - w2b,
    );
    let orders = w.orders("article").await;
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
    // FILLED, one write per order, and the batch's breaker read.
    assert_eq!(
        finishing,
        BTreeMap::from([
            ("DynamoDB.GetItem".to_owned(), 1),
            ("DynamoDB.UpdateItem".to_owned(), 2)
        ]),
    );
    // Every state change one write: PENDING, PLACING, PLACED, FILLED.
    let writes = planning.get("DynamoDB.PutItem").copied().unwrap_or(0);
    assert!(
        writes >= 2,
        "two PENDING records among the tick's puts: {planning:?}"
    );
    for o in &orders {
        assert_eq!(o.version, 4, "four writes made version 4: {o:#?}");
    }

    // Per placed order, filters warm (the steady state): the PENDING record and half the
    // tick's send, the placement without the filter reads, the final follow-up.
    let orders_n = 2.0;
    let per_order = (2.0 + 1.0 + (8.0 - 2.0) + 3.0) / orders_n;
    eprintln!("== per placed order, steady state: {per_order} AWS calls");

    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.next_tick();
    w.tick().await;
    // Five minutes on: a new weight window, so all of it is this tick's.
    let w4 = w.used_weight().await;
    show("next scheduler tick (nothing to do)", &w, w4);
    w.stop().await;
}
