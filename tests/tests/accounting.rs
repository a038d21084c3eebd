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
    show("scheduler tick (plans 2 orders)", &w, w1 - w0);
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
    // Two state changes per order (PENDING -> PLACING -> PLACED), one write each.
    assert_eq!(placing.get("DynamoDB.UpdateItem"), Some(&4), "{placing:?}");
    assert_eq!(placing.get("DynamoDB.PutItem"), None, "{placing:?}");
    // The budget this test watches: a placement costs at most 6 AWS calls per order today
    // (docs/BENCHMARKS.md says where they go); more is a regression.
    assert!(placing.values().sum::<u64>() <= 12, "{placing:?}");
    w.aws_calls.clear();
    w.exchange_calls.clear();
    let resting = w.invoke_executor_once(3).await;
    let w2b = w.used_weight().await;
    show(
        &format!("executor: one follow-up of resting orders ({resting:?})"),
        &w,
        w2b - w2,
    );
    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
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
    // GetItem, the follow-up's claim attempt and FILLED per order.
    assert!(finishing.values().sum::<u64>() <= 6, "{finishing:?}");
    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.next_tick();
    w.tick().await;
    // Five minutes on: a new weight window, so all of it is this tick's.
    let w4 = w.used_weight().await;
    show("next scheduler tick (nothing to do)", &w, w4);
    w.stop().await;
}
