//! A buy too big for every account's book is split across them, and stays split once the buys
//! are paid for: funding re-routes the whole trade, not only its first leg.

mod support;

use driftline_core::ports::Venue;
use driftline_core::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::*;

#[test]
fn a_buy_split_across_two_thin_books_keeps_both_legs_after_funding() {
    // BTC at 100 with 10 levels of 3 a side: 30 BTC visible on each account's book.
    let markets: Markets = [(asset("BTC"), market("BTC", dec!(100), dec!(2), dec!(3)))]
        .into_iter()
        .collect();
    let portfolio = Portfolio::new(
        PortfolioId::new("split").unwrap(),
        asset("USDT"),
        Holdings::default(),
        TargetWeights::new([(asset("BTC"), dec!(0.5)), (asset("USDT"), dec!(0.5))]).unwrap(),
    )
    .unwrap();
    // 5,000 USDT on each account: 10,000 of equity, all cash; half of it goes to BTC.
    let cash = Holdings::new([(asset("USDT"), dec!(5000))]).unwrap();
    let nothing = Holdings::default();
    let model = BookWalkCostModel {
        fees: Fees::default(),
        liquidity: Liquidity::Taker,
    };
    let ignored = std::collections::BTreeSet::new();
    let account = |name: &'static str| PlanAccount {
        account: Some(name),
        venue: Venue::Binance,
        quote: portfolio.quote(),
        cash_rate: dec!(1),
        holdings: &cash,
        reserve: &nothing,
        ignore: &ignored,
        markets: &markets,
        fees: Fees::default(),
        cost_model: &model,
    };
    let accounts = [account("a"), account("b")];
    // Costs and slippage high enough to walk the whole book.
    let policy = RebalancePolicy {
        velocity: None,
        destination: Destination::Target,
        max_cost_bps: dec!(500),
        slippage_budget_bps: dec!(500),
        ..RebalancePolicy::default()
    };
    let cycle = CycleId::new("c1").unwrap();
    let plan = plan(&PlanRequest {
        portfolio: &portfolio,
        accounts: &accounts,
        in_flight: &[],
        policy: &policy,
        history: &[],
        cycle: &cycle,
        now_ms: 0,
    })
    .unwrap();
    let btc = decision(&plan, "BTC");
    let legs: Vec<(Option<&str>, Decimal)> = btc
        .orders()
        .map(|o| (o.account.as_deref(), o.quantity))
        .collect();
    // 50 BTC wanted: the 30 the first book shows, the other 20 on the second.
    assert_eq!(
        legs,
        [(Some("a"), dec!(30)), (Some("b"), dec!(20))],
        "{btc:#?}"
    );
    assert!(btc.orders().all(|o| !o.capped_by_budget), "{btc:#?}");
    assert!(
        plan.notes.is_empty(),
        "both accounts' cash pays: {:?}",
        plan.notes
    );
    assert_eq!(plan.intents.len(), 2);
}
