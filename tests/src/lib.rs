//! End-to-end tests of driftline. The world they run in (the local AWS emulator, the paper
//! exchange, the real handlers over the real adapters) is `driftline-sandbox`, shared with
//! `make demo`; it is re-exported here so tests write `driftline_e2e::World`. Beside it, the few
//! steps and checks the test binaries share.

pub use driftline_sandbox::*;

use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_functions::scheduled::SchedulerResponse;

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

/// The balances of the account in [`ARTICLE_VENUE`].
const ARTICLE_BALANCES: &str = r#"balances = { BTC = "1.5", ETH = "25", USDT = "20000" }"#;

/// [`ARTICLE_VENUE`] with its account holding `balances`, a TOML inline table such as
/// `{ BTC = "3", ETH = "0", USDT = "1000" }`, instead of the article's.
///
/// # Panics
/// When the article's venue no longer spells its balances as this expects.
pub fn article_venue_holding(balances: &str) -> String {
    assert!(
        ARTICLE_VENUE.contains(ARTICLE_BALANCES),
        "the article's venue spells its balances differently now"
    );
    ARTICLE_VENUE.replace(ARTICLE_BALANCES, &format!("balances = {balances}"))
}
