//! Many accounts on one venue address, end to end through the functions' wiring: their clients
//! read the venue's exchangeInfo once between them and draw on one request-weight budget, so a
//! cycle of many portfolios plans every one of them instead of failing some "rate limited".

use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_e2e::World;

/// Portfolios, each the article's on its own account of the article's market.
const ACCOUNTS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_accounts_of_one_address_read_exchange_info_once_and_every_portfolio_plans() {
    let (venue, specs) = driftline_e2e::articles(ACCOUNTS);
    let Some(w) = World::start(&venue, &specs).await else {
        return;
    };
    let cycle = w.tick().await;
    let requests = w.admin_get("/admin/requests").await;
    w.stop().await;

    assert_eq!(cycle.portfolios.len(), ACCOUNTS, "{cycle:?}");
    assert!(
        cycle
            .portfolios
            .iter()
            .all(|p| matches!(p.outcome, PortfolioOutcome::Planned { .. })),
        "{cycle:?}"
    );
    let sent = |endpoint: &str| {
        requests
            .iter()
            .filter(|r| r["endpoint"] == endpoint)
            .count()
    };
    assert_eq!(
        sent("ExchangeInfo"),
        1,
        "one read for all {ACCOUNTS} accounts"
    );
    assert_eq!(sent("Account"), ACCOUNTS, "each account's balances");
    assert!(
        requests.iter().all(|r| r["limiter"] == 200),
        "nothing refused"
    );
}
