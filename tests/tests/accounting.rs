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
    // The per-order part of a cycle: the PENDING records in one transaction, one batch send.
    assert_eq!(
        planning.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "{planning:?}"
    );
    assert_eq!(
        planning.get("SQS.SendMessageBatch"),
        Some(&1),
        "{planning:?}"
    );
    // The kill switch and the breaker: one read for the invocation.
    assert_eq!(
        planning.get("DynamoDB.BatchGetItem"),
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
    // Per order: the claim (PLACING) and PLACED, one write each; per batch: one read of the
    // kill switch with the breaker and one send of both follow-ups; per symbol, once per
    // container: its filters.
    assert_eq!(placing.get("DynamoDB.UpdateItem"), Some(&4), "{placing:?}");
    assert_eq!(
        placing.get("DynamoDB.BatchGetItem"),
        Some(&1),
        "{placing:?}"
    );
    assert_eq!(placing.get("DynamoDB.GetItem"), Some(&2), "{placing:?}");
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
            ("DynamoDB.BatchGetItem".to_owned(), 1),
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
    // FILLED, one write per order, and the batch's read of the kill switch with the breaker.
    assert_eq!(
        finishing,
        BTreeMap::from([
            ("DynamoDB.BatchGetItem".to_owned(), 1),
            ("DynamoDB.UpdateItem".to_owned(), 2)
        ]),
    );
    // Every state change one write: PENDING, PLACING, PLACED, FILLED make version 4.
    for o in &orders {
        assert_eq!(o.version, 4, "{o:#?}");
    }

    // Per placed order with the filters warm (the steady state; this container read each
    // symbol's filters once): the cycle's transaction and send, the placement, the final
    // follow-up, over the two orders.
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    let filter_reads = 2;
    let calls = planning["DynamoDB.TransactWriteItems"] + planning["SQS.SendMessageBatch"]
        - filter_reads
        + total(&placing)
        + total(&finishing);
    assert_eq!(calls, 11, "3 writes per order and 5 calls per batch");
    eprintln!(
        "== per placed order, steady state: {calls} calls for 2 orders = {}.{} AWS calls",
        calls / 2,
        calls % 2 * 5
    );

    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.next_tick();
    w.tick().await;
    // Five minutes on: a new weight window, so all of it is this tick's.
    let w4 = w.used_weight().await;
    show("next scheduler tick (nothing to do)", &w, w4);
    w.stop().await;
}

/// Ten coins, each held at almost five times its target: one cycle sells all ten, so the executor
/// gets full batches of ten, as the event source mapping delivers under load.
fn ten_coin_world() -> (String, driftline_core::config::PortfolioSpec) {
    const COINS: [&str; 10] = [
        "ADA", "DOT", "SOL", "XRP", "LTC", "LINK", "ATOM", "AVAX", "UNI", "XLM",
    ];
    let mut venue = String::from(
        "seed = 7\n\n[fees]\nmaker = \"0.001\"\ntaker = \"0.001\"\n\n\
         [rate_limits]\nrequest_weight_per_minute = 6000\nban_seconds = 120\n",
    );
    let mut balances = Vec::new();
    let mut targets = BTreeMap::new();
    for coin in COINS {
        venue.push_str(&format!(
            "\n[[symbols]]\nsymbol = \"{coin}USDT\"\nbase = \"{coin}\"\nquote = \"USDT\"\n\
             tick_size = \"0.01\"\nstep_size = \"0.001\"\nmin_qty = \"0.001\"\n\
             max_qty = \"90000\"\nmin_notional = \"5\"\nmid = \"100\"\nspread_bps = \"2\"\n\
             volatility_bps = \"0\"\nreplenish_per_tick = \"1\"\n\
             depth = {{ levels = 20, quantity_per_level = \"50\", level_step_bps = \"1\" }}\n"
        ));
        balances.push(format!("{coin} = \"15\""));
        targets.insert(coin.to_owned(), "0.02".to_owned());
    }
    targets.insert("USDT".to_owned(), "0.80".to_owned());
    venue.push_str(&format!(
        "\n[[accounts]]\nname = \"ten\"\napi_key = \"ten-key\"\nsecret = \"ten-secret-never-logged\"\n\
         balances = {{ {}, USDT = \"1000\" }}\n",
        balances.join(", ")
    ));
    // The article's policy, over ten coins.
    let spec = driftline_core::config::PortfolioSpec {
        id: "ten".into(),
        targets,
        ..driftline_e2e::article_spec()
    };
    (venue, spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_batches_cost_at_most_four_aws_calls_per_placed_order() {
    let (venue, spec) = ten_coin_world();
    let Some(w) = World::start(&venue, &[spec]).await else {
        return;
    };
    w.aws_calls.clear();
    w.exchange_calls.clear();
    let cycle = w.tick().await;
    let planning = show(&format!("ten-coin tick ({cycle:?})"), &w, 0);
    w.aws_calls.clear();
    w.exchange_calls.clear();
    let placed = w.invoke_executor_once(1).await;
    assert_eq!(placed.messages, 10, "one full batch: {placed:?}");
    let placing = show("ten-coin placement", &w, 0);
    // The kill switch with the breaker once, each symbol's filters once (a cold container),
    // claim and PLACED per order, one send of the ten follow-ups.
    assert_eq!(
        placing.get("DynamoDB.BatchGetItem"),
        Some(&1),
        "{placing:?}"
    );
    assert_eq!(placing.get("DynamoDB.GetItem"), Some(&10), "{placing:?}");
    assert_eq!(placing.get("DynamoDB.UpdateItem"), Some(&20), "{placing:?}");
    assert_eq!(placing.get("SQS.SendMessageBatch"), Some(&1), "{placing:?}");
    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.clock.advance(FOLLOW_UP_GAP_MS);
    for coin in [
        "ADA", "DOT", "SOL", "XRP", "LTC", "LINK", "ATOM", "AVAX", "UNI", "XLM",
    ] {
        w.set_mid(&format!("{coin}USDT"), "101").await;
    }
    let filled = w.drain(10).await;
    let finishing = show(&format!("ten-coin follow-ups ({filled:?})"), &w, 0);
    let orders = w.orders("ten").await;
    assert_eq!(orders.len(), 10);
    assert!(
        orders
            .iter()
            .all(|o| o.status == OrderStatus::Filled && o.version == 4),
        "{orders:#?}"
    );
    // The placement as a warm container makes it: without its first read of each symbol's
    // filters (ten GetItems).
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    let per_cycle_share =
        planning["DynamoDB.TransactWriteItems"] + planning["SQS.SendMessageBatch"];
    let filter_reads = 10;
    let calls = per_cycle_share + total(&placing) - filter_reads + total(&finishing);
    eprintln!(
        "== per placed order, full batches: {calls} calls for 10 orders = {}.{} AWS calls",
        calls / 10,
        calls % 10
    );
    assert!(
        calls <= 40,
        "at most 4 AWS calls per placed order: {calls} for 10"
    );
    w.stop().await;
}
