//! Scheduler fan-out end to end, on the emulator and the paper exchange, through the functions'
//! handlers: a tick over thousands of portfolios sends them in shards to the shard queue, the
//! shard invocations (ten at once, as the event source mapping's concurrency) plan every one of
//! them exactly once, a shard delivered again plans nothing twice, and an unreadable shard is
//! reported as a failure (the queue's redrive policy takes it to the dead-letter queue).
//!
//! Prints what docs/BENCHMARKS.md ("Fan-out") reports: the shard invocations' portfolios
//! planned per second, the AWS calls and the exchange weight per portfolio.
//! `DRIFTLINE_FAN_OUT_PORTFOLIOS` sets how many portfolios: 1,000 by default (`make test`; the
//! emulator's queries scan its whole table, so a run's time grows faster than its portfolios),
//! 2,000 in `make reliability`.

use std::collections::BTreeMap;
use std::time::Instant;

use driftline_aws::SqsShardQueue;
use driftline_core::config::PortfolioSpec;
use driftline_core::control::CycleRecord;
use driftline_core::ports::{CycleLeases, Shard, ShardQueue};
use driftline_core::service::scheduler::{FanOut, PortfolioOutcome};
use driftline_core::{CycleId, PortfolioId};
use driftline_e2e::{article_spec, article_venue, World, PERIOD_SECONDS};
use driftline_functions::scheduled::FannedOut;
use futures::stream::{self, StreamExt};
use serde_json::json;

/// The deployment's defaults (infra/lib/settings.ts): above 200 portfolios, shards of 50, ten
/// shard invocations at once.
const FAN_OUT: FanOut = FanOut {
    above: 200,
    shard_size: 50,
};
const SHARD_CONCURRENCY: usize = 10;

fn portfolios() -> usize {
    std::env::var("DRIFTLINE_FAN_OUT_PORTFOLIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// `n` portfolios on the venue's one account, each holding the article's assets within its
/// bands (BTC 47.6 %, ETH 42.6 %, cash 9.9 % against 47/43/10): a cycle reads balances and
/// books and plans nothing, as most cycles do.
fn idle_portfolios(n: usize) -> Vec<PortfolioSpec> {
    let mut spec = serde_json::to_value(article_spec()).expect("a spec is JSON");
    spec["targets"] = json!({"BTC": "0.47", "ETH": "0.43", "USDT": "0.10"});
    (1..=n)
        .map(|i| {
            spec["id"] = json!(format!("idle-{i:05}"));
            serde_json::from_value(spec.clone()).expect("a valid spec")
        })
        .collect()
}

/// The request weight the venue has charged so far, every endpoint.
async fn charged(w: &World) -> u64 {
    w.charged_weight().await.values().sum()
}

/// Each portfolio's last released cycle, read 16 at a time.
async fn last_cycles(w: &World, ids: &[PortfolioId]) -> Vec<Option<CycleRecord>> {
    stream::iter(ids)
        .map(|id| async move { w.store.last_cycle(id).await.expect("lease item") })
        .buffered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_portfolios_fan_out_and_every_one_is_planned_once() {
    let n = portfolios();
    // A weight budget no run reaches: the paper clock does not move, so its minute never ends.
    let venue = article_venue!(balances = { BTC = "1.5", ETH = "25", USDT = "20000" }).replace(
        "request_weight_per_minute = 6000",
        "request_weight_per_minute = 100000000",
    );
    let specs = idle_portfolios(n);
    let ids: Vec<PortfolioId> = specs
        .iter()
        .map(|s| PortfolioId::new(&s.id).expect("valid id"))
        .collect();
    let Some(mut w) = World::start(&venue, &specs).await else {
        return;
    };
    w.fan_out(FAN_OUT);
    let shards = n.div_ceil(FAN_OUT.shard_size);

    // The tick: the portfolio list, the controls, the shards sent; nothing planned.
    w.aws_calls.clear();
    let weight = charged(&w).await;
    let started = Instant::now();
    let tick = w.tick().await;
    let tick_ms = started.elapsed().as_millis();
    let tick_calls = w.aws_calls.attempts.snapshot();
    assert_eq!(
        tick.fanned_out,
        Some(FannedOut {
            portfolios: n,
            shards
        })
    );
    assert!(tick.portfolios.is_empty(), "the tick plans nothing itself");
    assert_eq!(charged(&w).await, weight, "nor calls the exchange");

    // The shard invocations.
    w.aws_calls.clear();
    let started = Instant::now();
    let runs = w
        .drain_shards(SHARD_CONCURRENCY)
        .await
        .expect("shards drained");
    let wall = started.elapsed();
    let shard_calls = w.aws_calls.attempts.snapshot();
    let weight_after = charged(&w).await;
    let exchange_info = w
        .admin_get("/admin/requests")
        .await
        .iter()
        .filter(|r| r["endpoint"] == "ExchangeInfo")
        .count();
    assert_eq!(runs.len(), shards, "one invocation a shard");
    assert!(runs.iter().all(|r| !r.failed), "{runs:?}");
    assert_eq!(runs.iter().map(|r| r.portfolios).sum::<usize>(), n);

    let cycle = CycleId::new(&tick.cycle_id).expect("cycle id");
    let records = last_cycles(&w, &ids).await;
    let planned = records
        .iter()
        .flatten()
        .filter(|r| {
            r.cycle_id == cycle && matches!(r.outcome, PortfolioOutcome::Planned { orders: 0, .. })
        })
        .count();
    assert_eq!(planned, n, "every portfolio planned, nothing to trade");

    // The queue delivers the first shard again: its portfolios' cycle already ran.
    let again = Shard {
        cycle_id: cycle.clone(),
        expires_at_ms: w.now() + i64::from(PERIOD_SECONDS) * 1000,
        portfolios: ids[..FAN_OUT.shard_size].to_vec(),
    };
    SqsShardQueue::new(w.sqs.clone(), w.shards_url.clone())
        .send(&[again])
        .await
        .expect("shard sent");
    let rerun = w.drain_shards(1).await.expect("drained");
    assert_eq!(rerun.len(), 1);
    assert!(!rerun[0].failed, "{rerun:?}");
    let records = last_cycles(&w, &ids[..FAN_OUT.shard_size]).await;
    assert!(
        records
            .iter()
            .flatten()
            .all(|r| r.cycle_id == cycle && r.outcome == PortfolioOutcome::AlreadyRan),
        "{records:?}"
    );

    // A shard nobody can read fails its invocation: it comes back until the redrive policy
    // moves it to the shards' dead-letter queue.
    w.sqs
        .send_message()
        .queue_url(&w.shards_url)
        .message_body("{\"cycle_id\": 7}")
        .send()
        .await
        .expect("sent");
    let unreadable = w.drain_shards(1).await.expect("drained");
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].failed && unreadable[0].portfolios == 0);
    w.stop().await;

    // The figures docs/BENCHMARKS.md reports.
    let mut rates: Vec<f64> = runs
        .iter()
        .map(|r| r.portfolios as f64 / r.elapsed.as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    let per_portfolio = |calls: &BTreeMap<String, u64>| -> BTreeMap<String, f64> {
        calls
            .iter()
            .map(|(op, c)| (op.clone(), (*c as f64 / n as f64 * 100.0).round() / 100.0))
            .collect()
    };
    eprintln!(
        "fan-out of {n} portfolios: the tick {tick_ms} ms, calls {tick_calls:?}\n\
         {shards} shards of {}, {SHARD_CONCURRENCY} at once: all planned in {:.1} s \
         ({:.0} portfolios/s overall); per invocation p50 {:.1}, min {:.1}, max {:.1} portfolios/s\n\
         AWS calls per portfolio: {:?} ({:.2} in all)\n\
         exchange weight per portfolio: {:.1} ({exchange_info} exchangeInfo reads)",
        FAN_OUT.shard_size,
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        per_portfolio(&shard_calls),
        shard_calls.values().sum::<u64>() as f64 / n as f64,
        (weight_after - weight) as f64 / n as f64,
    );
}
