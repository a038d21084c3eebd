//! Scheduler fan-out over the in-memory adapters: a tick above the threshold sends its
//! portfolios in shards and plans none itself; each shard plans its portfolios with the same
//! lease and cycle-id guarantees as a whole tick (a shard delivered twice plans nothing twice);
//! a shard delivered once the next tick came plans nothing; a halted deployment sends no shard;
//! a shard that cannot be sent fails the tick.

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use driftline_core::control::{DeploymentControls, Stop};
use driftline_core::ports::{FixedAccounts, Ports, Shard, ShardQueue, StoreError, StorePorts};
use driftline_core::service::scheduler::{
    FanOut, PortfolioOutcome, Scheduler, SchedulerSettings, ShardRun, Tick,
};
use driftline_core::testing::{InMemoryQueue, InMemoryStore, ManualClock, RecordedNotices};
use driftline_core::*;
use rust_decimal_macros::dec;
use serde_json::json;
use support::venue::SimVenue;

const T0: EpochMillis = 1_800_000_000_000;
const PERIOD_MS: EpochMillis = 300_000;

/// The shards sent, or a refusal of every send.
#[derive(Default)]
struct Shards {
    sent: Mutex<Vec<Shard>>,
    refuse: Mutex<bool>,
}

#[async_trait]
impl ShardQueue for Shards {
    async fn send(&self, shards: &[Shard]) -> Result<(), StoreError> {
        if *self.refuse.lock().unwrap() {
            return Err(StoreError::Unavailable {
                service: "sqs",
                operation: "SendMessageBatch(shards)",
                reason: "refused by the test".into(),
            });
        }
        self.sent.lock().unwrap().extend_from_slice(shards);
        Ok(())
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    store: Arc<InMemoryStore>,
    queue: Arc<InMemoryQueue>,
    shards: Arc<Shards>,
    scheduler: Scheduler,
}

/// `n` portfolios, each two BTC wanted half in cash (every cycle plans a sell), on one venue.
fn rig(n: usize, fan_out: FanOut, with_queue: bool) -> Rig {
    let clock = Arc::new(ManualClock::at(T0));
    let store = Arc::new(InMemoryStore::default());
    for i in 0..n {
        let mut spec = support::spec(json!({"BTC": "0.5", "USDT": "0.5"}), json!({}));
        spec.id = format!("p{i:02}");
        store.put_portfolio(spec);
    }
    let venue = Arc::new(SimVenue::new(
        vec![support::market("BTC", dec!(60000), dec!(10), dec!(1000))],
        &[("BTC", dec!(2)), ("USDT", dec!(0))],
    ));
    let queue = Arc::new(InMemoryQueue::new(clock.clone(), 30_000));
    let shards = Arc::new(Shards::default());
    let scheduler = Scheduler::new(
        Ports {
            store: StorePorts::on(store.clone()),
            exchanges: Arc::new(FixedAccounts::single(venue)),
            queue: queue.clone(),
            clock: clock.clone(),
            random: Arc::new(support::Fixed),
            metrics: Arc::new(support::Quiet),
            notifier: Arc::new(RecordedNotices::default()),
        },
        SchedulerSettings {
            fan_out,
            ..SchedulerSettings::default()
        },
    )
    .with_shards(with_queue.then(|| shards.clone() as Arc<dyn ShardQueue>));
    Rig {
        clock,
        store,
        queue,
        shards,
        scheduler,
    }
}

impl Rig {
    /// A tick of `cycle` whose shards expire a period after T0.
    async fn tick(&self, cycle: &CycleId) -> Result<Tick, StoreError> {
        self.scheduler.tick(cycle, T0 + PERIOD_MS, "tick").await
    }
}

fn cycle() -> CycleId {
    CycleId::new("c1").unwrap()
}

const FIVE_IN_THREES: FanOut = FanOut {
    above: 5,
    shard_size: 3,
};

fn planned(outcome: &PortfolioOutcome) -> bool {
    matches!(outcome, PortfolioOutcome::Planned { orders: 1, .. })
}

#[tokio::test]
async fn above_the_threshold_a_tick_sends_shards_and_each_shard_plans_its_portfolios_once() {
    let r = rig(7, FIVE_IN_THREES, true);
    let tick = r.tick(&cycle()).await.unwrap();
    assert_eq!(
        tick,
        Tick::FannedOut {
            portfolios: 7,
            shards: 3
        }
    );
    assert_eq!(r.queue.len(), 0, "the tick itself plans nothing");
    let shards = r.shards.sent.lock().unwrap().clone();
    let mut sizes: Vec<usize> = shards.iter().map(|s| s.portfolios.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 3, 3]);
    assert!(shards
        .iter()
        .all(|s| s.cycle_id == cycle() && s.expires_at_ms == T0 + PERIOD_MS));

    let mut seen = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        let ShardRun::Ran { portfolios } = r
            .scheduler
            .run_shard(shard, &format!("shard-{i}"))
            .await
            .unwrap()
        else {
            panic!("shard {i} expired");
        };
        assert!(
            portfolios.iter().all(|p| planned(&p.outcome)),
            "{portfolios:?}"
        );
        seen.extend(portfolios.into_iter().map(|p| p.portfolio_id));
    }
    seen.sort();
    let all: Vec<String> = (0..7).map(|i| format!("p{i:02}")).collect();
    assert_eq!(seen, all, "every portfolio planned by exactly one shard");
    assert_eq!(r.queue.len(), 7, "one sell each");

    // The queue delivers a shard again: its cycle already ran for each of its portfolios.
    let ShardRun::Ran { portfolios } = r.scheduler.run_shard(&shards[0], "again").await.unwrap()
    else {
        panic!("expired");
    };
    assert!(portfolios
        .iter()
        .all(|p| p.outcome == PortfolioOutcome::AlreadyRan));
    assert_eq!(r.queue.len(), 7, "nothing sent twice");
    assert!(r.store.all_orders().len() == 7);
}

#[tokio::test]
async fn at_the_threshold_or_without_a_shard_queue_the_tick_plans_every_portfolio_itself() {
    for (n, with_queue) in [(5, true), (7, false)] {
        let r = rig(n, FIVE_IN_THREES, with_queue);
        let Tick::Ran { portfolios } = r.tick(&cycle()).await.unwrap() else {
            panic!("{n} portfolios fanned out");
        };
        assert_eq!(portfolios.len(), n);
        assert!(portfolios.iter().all(|p| planned(&p.outcome)));
        assert!(r.shards.sent.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_shard_delivered_once_the_next_tick_came_plans_nothing() {
    let r = rig(7, FIVE_IN_THREES, true);
    r.tick(&cycle()).await.unwrap();
    let shard = r.shards.sent.lock().unwrap()[0].clone();
    r.clock.set(T0 + PERIOD_MS);
    assert_eq!(
        r.scheduler.run_shard(&shard, "late").await.unwrap(),
        ShardRun::Expired {
            expired_at_ms: T0 + PERIOD_MS
        }
    );
    assert_eq!(r.queue.len(), 0);
    assert!(r.store.all_orders().is_empty());
}

#[tokio::test]
async fn a_halted_deployment_sends_no_shard_and_a_shard_already_sent_plans_nothing() {
    let r = rig(7, FIVE_IN_THREES, true);
    r.tick(&cycle()).await.unwrap();
    let shard = r.shards.sent.lock().unwrap()[0].clone();
    r.shards.sent.lock().unwrap().clear();
    let halt = Stop {
        reason: "incident".into(),
        by: "ops".into(),
        at_ms: T0,
    };
    r.store.set_halt(Some(&halt)).await.unwrap();

    let next = CycleId::new("c2").unwrap();
    let Tick::Ran { portfolios } = r.tick(&next).await.unwrap() else {
        panic!("a halted tick fanned out");
    };
    assert_eq!(portfolios.len(), 7);
    assert!(portfolios.iter().all(
        |p| matches!(&p.outcome, PortfolioOutcome::Halted { reason } if reason == "incident")
    ));
    assert!(r.shards.sent.lock().unwrap().is_empty(), "no shard sent");

    let ShardRun::Ran { portfolios } = r.scheduler.run_shard(&shard, "shard").await.unwrap() else {
        panic!("expired");
    };
    assert!(portfolios
        .iter()
        .all(|p| matches!(p.outcome, PortfolioOutcome::Halted { .. })));
    assert_eq!(r.queue.len(), 0);
}

#[tokio::test]
async fn a_shard_that_cannot_be_sent_fails_the_tick() {
    let r = rig(7, FIVE_IN_THREES, true);
    *r.shards.refuse.lock().unwrap() = true;
    let err = r.tick(&cycle()).await.unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert_eq!(r.queue.len(), 0);
}
