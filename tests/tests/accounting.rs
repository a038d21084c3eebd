//! Per-order accounting on the happy path: AWS calls by operation, DynamoDB capacity, exchange
//! calls and weight, per phase and per placed order. Prints the table docs/BENCHMARKS.md
//! publishes (`cargo test -p driftline-e2e --test accounting -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};

use driftline_core::OrderStatus;
use driftline_e2e::{articles, World};

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
    // Per order: the claim (PLACING, in one transaction with the checks of the kill switch
    // and the breaker: no read of them) and PLACED; per batch: one send of both follow-ups;
    // per symbol, once per container: its filters.
    assert_eq!(
        placing,
        BTreeMap::from([
            ("DynamoDB.GetItem".to_owned(), 2),
            ("DynamoDB.TransactWriteItems".to_owned(), 2),
            ("DynamoDB.UpdateItem".to_owned(), 2),
            ("SQS.SendMessageBatch".to_owned(), 1),
        ]),
    );

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
    assert_eq!(calls, 10, "3 writes per order and 4 calls per batch");
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

const COINS: [&str; 10] = [
    "ADA", "DOT", "SOL", "XRP", "LTC", "LINK", "ATOM", "AVAX", "UNI", "XLM",
];

/// Ten coins, each held at almost five times its target: one cycle sells all ten, so the executor
/// gets full batches of ten, as the event source mapping delivers under load.
fn ten_coin_world() -> (String, driftline_core::config::PortfolioSpec) {
    coin_world(10)
}

/// The first `coins` of [`COINS`], each held far above its target: one cycle sells each once,
/// and the executor gets them in one batch of `coins`.
fn coin_world(coins: usize) -> (String, driftline_core::config::PortfolioSpec) {
    let mut venue = String::from(
        "seed = 7\n\n[fees]\nmaker = \"0.001\"\ntaker = \"0.001\"\n\n\
         [rate_limits]\nrequest_weight_per_minute = 6000\nban_seconds = 120\n",
    );
    let mut balances = Vec::new();
    let mut targets = BTreeMap::new();
    for coin in &COINS[..coins] {
        venue.push_str(&format!(
            "\n[[symbols]]\nsymbol = \"{coin}USDT\"\nbase = \"{coin}\"\nquote = \"USDT\"\n\
             tick_size = \"0.01\"\nstep_size = \"0.001\"\nmin_qty = \"0.001\"\n\
             max_qty = \"90000\"\nmin_notional = \"5\"\nmid = \"100\"\nspread_bps = \"2\"\n\
             volatility_bps = \"0\"\nreplenish_per_tick = \"1\"\n\
             depth = {{ levels = 20, quantity_per_level = \"50\", level_step_bps = \"1\" }}\n"
        ));
        balances.push(format!("{coin} = \"15\""));
        targets.insert((*coin).to_owned(), "0.02".to_owned());
    }
    let cash = rust_decimal::Decimal::ONE
        - rust_decimal::Decimal::new(2, 2) * rust_decimal::Decimal::from(coins);
    targets.insert("USDT".to_owned(), cash.to_string());
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
    // Each symbol's filters once (a cold container), the claim (with the controls' checks)
    // and PLACED per order, one send of the ten follow-ups.
    assert_eq!(
        placing,
        BTreeMap::from([
            ("DynamoDB.GetItem".to_owned(), 10),
            ("DynamoDB.TransactWriteItems".to_owned(), 10),
            ("DynamoDB.UpdateItem".to_owned(), 10),
            ("SQS.SendMessageBatch".to_owned(), 1),
        ]),
    );
    w.aws_calls.clear();
    w.exchange_calls.clear();
    w.clock.advance(FOLLOW_UP_GAP_MS);
    for coin in COINS {
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

/// Followed by the scheduler (`DRIFTLINE_FOLLOW_UP=reconcile`): a cycle sells `b` coins, one
/// executor invocation places them, they fill, and the next cycle's reconcile records them
/// FILLED. Per placed order at batches of 1, 2 and 10, with the filters warm: the cycle's record
/// and send, the executor's claims (each checking the kill switch and the breaker in the same
/// transaction), the reconcile's FILLED writes; no read of the controls, no PLACED write, no
/// follow-up message: 4, 3 and 2.2 calls an order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followed_by_the_scheduler_an_order_costs_at_most_four_calls_at_batches_of_1_2_and_10() {
    use driftline_core::service::FollowUp;
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    for coins in [1_usize, 2, 10] {
        let (venue, spec) = coin_world(coins);
        let Some(mut w) = World::start(&venue, &[spec]).await else {
            return;
        };
        w.follow_up_by(FollowUp::Reconcile);
        w.aws_calls.clear();
        let cycle = w.tick().await;
        let planning = show(&format!("{coins}-coin tick ({cycle:?})"), &w, 0);

        w.aws_calls.clear();
        let placed = w.invoke_executor_once(1).await;
        assert_eq!(placed.messages, coins, "one batch: {placed:?}");
        let placing = show(&format!("{coins}-coin placement ({placed:?})"), &w, 0);
        // Each symbol's filters once (a cold container), a claim per order with the checks of
        // the kill switch and the breaker: nothing after the placement, nothing sent.
        assert_eq!(
            placing,
            BTreeMap::from([
                ("DynamoDB.GetItem".to_owned(), coins as u64),
                ("DynamoDB.TransactWriteItems".to_owned(), coins as u64),
            ]),
        );
        let filter_reads = coins as u64;
        assert!(
            w.orders("ten")
                .await
                .iter()
                .all(|o| o.status == OrderStatus::Placing),
            "left PLACING for the scheduler"
        );

        for coin in &COINS[..coins] {
            w.set_mid(&format!("{coin}USDT"), "101").await;
        }
        w.next_tick();
        w.aws_calls.clear();
        w.tick().await;
        let reconciling = show(&format!("{coins}-coin tick that reconciles"), &w, 0);
        let orders = w.orders("ten").await;
        assert_eq!(orders.len(), coins);
        assert!(
            orders
                .iter()
                .all(|o| o.status == OrderStatus::Filled && o.version == 3),
            "PENDING, PLACING, FILLED: {orders:#?}"
        );
        w.next_tick();
        w.aws_calls.clear();
        w.tick().await;
        let idle = show(&format!("{coins}-coin idle tick"), &w, 0);
        // The cycle's share beyond an idle cycle: its records (a PutItem for one, a transaction
        // for more) and one send; not the cold container's filters (a read and a write per
        // symbol, once a day).
        let cycle_share = total(&planning) - total(&idle) - 2 * coins as u64;
        assert_eq!(
            cycle_share, 2,
            "one record request, one send: {planning:?} against {idle:?}"
        );
        let finishing = total(&reconciling) - total(&idle);
        assert_eq!(
            reconciling.get("DynamoDB.UpdateItem").copied().unwrap_or(0)
                - idle.get("DynamoDB.UpdateItem").copied().unwrap_or(0),
            coins as u64,
            "one FILLED write per order: {reconciling:?} against {idle:?}"
        );
        let calls = cycle_share + total(&placing) - filter_reads + finishing;
        eprintln!(
            "== followed by the scheduler, batch of {coins}: {calls} calls for {coins} orders = {:.2} AWS calls an order",
            calls as f64 / coins as f64
        );
        assert_eq!(calls, 2 * coins as u64 + 2, "two per order, two per batch");
        assert!(
            calls <= 4 * coins as u64,
            "at most 4 AWS calls an order: {calls}"
        );
        w.stop().await;
    }
}

/// The metrics an e2e run made: (namespace, metric, dimension names) for every metric of every
/// EMF line the functions wrote, as CloudWatch creates (and bills) them; and the (portfolio,
/// asset) pairs whose drift the lines carry as properties.
type MetricKey = (String, String, Vec<String>);

fn emitted(w: &World) -> (BTreeSet<MetricKey>, BTreeSet<(String, String)>) {
    let mut metrics = BTreeSet::new();
    let mut drift = BTreeSet::new();
    for line in w.metrics.lines() {
        let text = |name: &str| line[name].as_str().unwrap_or_default().to_owned();
        if line.get("DriftPp").is_some() {
            drift.insert((text("Portfolio"), text("Asset")));
        }
        let Some(directives) = line["_aws"]["CloudWatchMetrics"].as_array() else {
            continue;
        };
        for d in directives {
            let namespace = d["Namespace"].as_str().unwrap_or_default();
            for set in d["Dimensions"].as_array().into_iter().flatten() {
                let dimensions: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect();
                for m in d["Metrics"].as_array().into_iter().flatten() {
                    let name = m["Name"].as_str().unwrap_or_default().to_owned();
                    metrics.insert((namespace.to_owned(), name, dimensions.clone()));
                }
            }
        }
    }
    (metrics, drift)
}

/// One cycle that trades, its orders placed and filled, and the next cycle, which trades
/// nothing; what the functions emitted.
async fn trade_and_settle(
    w: &World,
    rises: &[(&str, &str)],
) -> (BTreeSet<MetricKey>, BTreeSet<(String, String)>) {
    w.tick().await;
    w.drain(5).await;
    w.clock.advance(FOLLOW_UP_GAP_MS);
    for (symbol, mid) in rises {
        w.set_mid(symbol, mid).await;
    }
    w.drain(10).await;
    w.next_tick();
    w.tick().await;
    emitted(w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_cloudwatch_bills_do_not_grow_with_portfolios_or_assets() {
    let article_rises = [("BTCUSDT", "64300"), ("ETHUSDT", "3460")];
    let (venue, one) = articles(1);
    let Some(w) = World::start(&venue, &one).await else {
        return;
    };
    let (base, drift) = trade_and_settle(&w, &article_rises).await;
    w.stop().await;
    assert_eq!(drift.len(), 3, "BTC, ETH, USDT of one portfolio: {drift:?}");

    // Three times the portfolios.
    let (venue, three) = articles(3);
    let w = World::start(&venue, &three)
        .await
        .expect("the emulator ran");
    let (more_portfolios, drift) = trade_and_settle(&w, &article_rises).await;
    w.stop().await;
    assert_eq!(
        drift.len(),
        9,
        "every portfolio's every asset, as properties: {drift:?}"
    );

    // Almost four times the assets.
    let (venue, spec) = ten_coin_world();
    let w = World::start(&venue, &[spec])
        .await
        .expect("the emulator ran");
    let rises: Vec<(String, &str)> = [
        "ADA", "DOT", "SOL", "XRP", "LTC", "LINK", "ATOM", "AVAX", "UNI", "XLM",
    ]
    .iter()
    .map(|c| (format!("{c}USDT"), "101"))
    .collect();
    let rises: Vec<(&str, &str)> = rises.iter().map(|(s, m)| (s.as_str(), *m)).collect();
    let (more_assets, drift) = trade_and_settle(&w, &rises).await;
    w.stop().await;
    assert_eq!(drift.len(), 11, "{drift:?}");

    eprintln!("== metrics CloudWatch creates: {base:?}");
    assert_eq!(more_portfolios, base, "metrics grew with portfolios");
    assert_eq!(more_assets, base, "metrics grew with assets");
    let fixed: BTreeSet<MetricKey> = driftline_aws::metrics::METRICS
        .iter()
        .map(|m| ("Driftline".to_owned(), (*m).to_owned(), Vec::new()))
        .collect();
    assert!(base.is_subset(&fixed), "{base:?} outside {fixed:?}");
    // What a trading run emits: all but the failure and rate-limit counts.
    assert_eq!(base.len(), fixed.len() - 2, "{base:?}");
}

/// Where `driftline cost` reads what this run counts.
fn committed_counting_run() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/cli/measured/counting-run.json")
}

/// Calls by operation, each divided by `by` (to four places).
fn per(calls: &BTreeMap<String, u64>, by: u64) -> BTreeMap<String, rust_decimal::Decimal> {
    calls
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(op, n)| {
            let each = rust_decimal::Decimal::from(*n) / rust_decimal::Decimal::from(by);
            (op.clone(), each.round_dp(4).normalize())
        })
        .collect()
}

/// The weight charged between two readings, by endpoint, exchangeInfo aside: the clients of a
/// process read it once per venue address and markets TTL for all their accounts, so it is
/// no one cycle's cost.
fn weight_between(
    from: &BTreeMap<String, u64>,
    to: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    to.iter()
        .filter(|(endpoint, _)| *endpoint != "ExchangeInfo")
        .map(|(e, n)| (e.clone(), n - from.get(e).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The counting run `driftline cost` bills: the article's portfolio plans a cycle that trades
/// (two sells: executor batches of two, as at the article's workload, where a cycle of twelve
/// portfolios makes about two orders), the executor places them in one batch and follows them
/// up until they fill, and the next cycle trades nothing. What it counts must be the committed
/// tools/cli/measured/counting-run.json; `DRIFTLINE_WRITE_COUNTING_RUN=1` writes it instead
/// (then commit the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_counting_run_is_what_driftline_cost_bills() {
    use driftline_cli::cost::CountingRun;
    let (venue, specs) = articles(1);
    let Some(w) = World::start(&venue, &specs).await else {
        return;
    };
    w.aws_calls.clear();
    let weight_start = w.charged_weight().await;
    w.tick().await;
    let trading_cycle = w.aws_calls.attempts.snapshot();
    let weight_planned = w.charged_weight().await;
    w.aws_calls.clear();
    let placed = w.invoke_executor_once(1).await;
    assert_eq!(
        placed.messages, 2,
        "one batch of the two orders: {placed:?}"
    );
    w.clock.advance(FOLLOW_UP_GAP_MS);
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
    let followed = w.drain(10).await;
    let executor = w.aws_calls.attempts.snapshot();
    let mut orders = 0;
    for spec in &specs {
        let placed = w.orders(&spec.id).await;
        assert!(
            placed.iter().all(|o| o.status == OrderStatus::Filled),
            "{placed:#?}"
        );
        orders += placed.len() as u64;
    }
    assert_eq!(orders, 2);
    let weight_settled = w.charged_weight().await;
    w.aws_calls.clear();
    w.next_tick();
    w.tick().await;
    let idle_cycle = w.aws_calls.attempts.snapshot();
    let weight_end = w.charged_weight().await;
    let (metrics, _) = emitted(&w);
    w.stop().await;

    // An order's calls: what its cycle made beyond an idle one, and the executor's.
    let portfolios = specs.len() as u64;
    let mut order_calls = executor.clone();
    for (op, n) in &trading_cycle {
        let beyond_idle = n.saturating_sub(idle_cycle.get(op).copied().unwrap_or(0));
        *order_calls.entry(op.clone()).or_default() += beyond_idle;
    }
    // Exchange weight as the calls are counted.
    let idle = weight_between(&weight_settled, &weight_end);
    let executor_weight = weight_between(&weight_planned, &weight_settled);
    let idle_weight: u64 = idle.values().sum();
    let order_weight = weight_between(&weight_start, &weight_planned)
        .values()
        .sum::<u64>()
        .saturating_sub(idle_weight)
        + executor_weight.values().sum::<u64>();
    let info = |m: &BTreeMap<String, u64>| m.get("ExchangeInfo").copied().unwrap_or(0);
    eprintln!(
        "== exchange weight: {idle_weight} per idle cycle of {portfolios} portfolio(s) {idle:?}; \
         {order_weight} for {orders} orders (executor {executor_weight:?}); \
         exchangeInfo {} over the run",
        info(&weight_end) - info(&weight_start)
    );
    assert_eq!(
        info(&weight_end) - info(&weight_start),
        20,
        "exchangeInfo once for the run's accounts"
    );
    let per_each = |n: u64, by: u64| {
        (rust_decimal::Decimal::from(n) / rust_decimal::Decimal::from(by))
            .round_dp(4)
            .normalize()
    };
    let counted = CountingRun {
        portfolios: u32::try_from(portfolios).unwrap(),
        orders: u32::try_from(orders).unwrap(),
        idle_cycle_calls: per(&idle_cycle, portfolios),
        order_calls: per(&order_calls, orders),
        executor_invocations_per_order: (rust_decimal::Decimal::from(
            placed.invocations + followed.invocations,
        ) / rust_decimal::Decimal::from(orders))
        .round_dp(4)
        .normalize(),
        // What CloudWatch bills in a month: the fixed set, of which a run without failures or
        // rate limits emits all but those two counts.
        metrics: u32::try_from(driftline_aws::metrics::METRICS.len()).unwrap(),
        idle_cycle_weight: per_each(idle_weight, portfolios),
        order_weight: per_each(order_weight, orders),
    };
    assert!(
        metrics
            .iter()
            .all(|(_, name, dimensions)| dimensions.is_empty()
                && driftline_aws::metrics::METRICS.contains(&name.as_str())),
        "{metrics:?}"
    );
    let text = serde_json::to_string_pretty(&counted).unwrap() + "\n";
    eprintln!("== counting run\n{text}");
    let path = committed_counting_run();
    if std::env::var_os("DRIFTLINE_WRITE_COUNTING_RUN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed: CountingRun = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        counted,
        committed,
        "the functions' calls changed: DRIFTLINE_WRITE_COUNTING_RUN=1 writes {} (then commit it)",
        path.display()
    );
}
