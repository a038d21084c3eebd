//! The steps and venues tests share: how many orders a cycle planned, a world after its first
//! tick or its first placements.

use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_functions::scheduled::SchedulerResponse;

use crate::World;

/// How many orders the first portfolio's cycle planned; panics when it did not plan.
pub fn planned(response: &SchedulerResponse) -> usize {
    match &response.portfolios[0].outcome {
        PortfolioOutcome::Planned { orders, .. } => *orders,
        other => panic!("expected a planned cycle, got {other:?}"),
    }
}

/// `world` after its first tick planned two orders (the article's two sells); `None`, the test
/// skipped, when there was no world (no emulator).
pub async fn first_tick_plans_two(world: Option<World>) -> Option<World> {
    let w = world?;
    assert_eq!(planned(&w.tick().await), 2);
    Some(w)
}

/// As [`first_tick_plans_two`], then the executor has placed them: the article's sells rest
/// inside the spread.
pub async fn first_orders_placed(world: Option<World>) -> Option<World> {
    let w = first_tick_plans_two(world).await?;
    w.drain(10).await;
    Some(w)
}
