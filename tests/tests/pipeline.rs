//! The scheduler and executor end to end: real handlers, real adapters, the local AWS emulator
//! and the paper exchange. Each test is named after the failure it prevents.

use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::OrderStatus;
use driftline_e2e::World;

fn planned(response: &driftline_functions::scheduled::SchedulerResponse) -> usize {
    match &response.portfolios[0].outcome {
        PortfolioOutcome::Planned { orders, .. } => *orders,
        other => panic!("expected a planned cycle, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_off_target_orders_fill_and_the_next_cycle_places_nothing() {
    let Some(w) = World::article().await else {
        return;
    };
    let first = w.tick().await;
    assert_eq!(planned(&first), 2, "{first:?}");
    // Both sells rest inside the spread; drain places them.
    let drained = w.drain(10).await;
    assert!(drained.messages >= 2, "{drained:?}");
    let venue = w.venue_orders().await;
    assert_eq!(venue.len(), 2, "{venue:#?}");
    // The market comes up through the resting sells: both fill.
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
    w.drain(10).await;
    let orders = w.orders("article").await;
    assert_eq!(orders.len(), 2);
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
    // Next cycle: back inside the bands, nothing to do.
    w.next_tick();
    let second = w.tick().await;
    assert_eq!(planned(&second), 0, "{second:?}");
    assert_eq!(w.venue_orders().await.len(), 2);
    w.stop().await;
}
