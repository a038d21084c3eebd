//! One portfolio across paper venues, end to end: the real scheduler and executor handlers over
//! the real clients, two paper exchanges (Binance's dialect and Kraken's), one account on each;
//! last, one account alone on each dialect, where a buy's fee is charged differently.
//! Drift is measured on the combined holdings; each trade goes to the account where it costs
//! least among those that can make it; sells only where the asset is held above its reserve,
//! buys only with the cash of the account they are placed on; nothing is moved between them.

use driftline_core::config::PortfolioSpec;
use driftline_core::orders::OrderRecord;
use driftline_core::ports::DriftHistory;
use driftline_core::{
    ClientOrderId, CycleId, DriftSnapshot, OrderStatus, PlanNote, PortfolioId, RebalancePlan, Side,
};
use driftline_e2e::{planned, World};
use paper_exchange::config::Dialect;
use paper_exchange::engine::{Order, VenueStatus};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// A venue with the article's two markets (BTC around 64,230, ETH around 3,450, 20 levels a
/// side 1 bp apart, fees 0.1 %) at the given spread, and one account holding `balances`.
macro_rules! venue {
    (spread_bps = $spread:literal, $account:literal holds { $($asset:ident = $amount:literal),+ }) => {
        concat!(
            paper_exchange::paper_venue_head!(seed = 7, maker = "0.001", taker = "0.001"),
            paper_exchange::paper_market!("BTC" / "USDT": step = "0.00001", max_qty = "9000",
                mid = "64230", spread_bps = $spread, depth = 20 x "0.5" every "1" bps),
            paper_exchange::paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000",
                mid = "3450", spread_bps = $spread, depth = 20 x "8" every "1" bps),
            paper_exchange::paper_account!($account, key = "e2e-key",
                secret = "e2e-secret-never-logged", balances = { $($asset = $amount),+ }),
        )
    };
}

/// A venue that lists ETH only, with one account holding `balances`.
macro_rules! eth_only_venue {
    ($account:literal holds { $($asset:ident = $amount:literal),+ }) => {
        concat!(
            paper_exchange::paper_venue_head!(seed = 7, maker = "0.001", taker = "0.001"),
            paper_exchange::paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000",
                mid = "3450", spread_bps = "2", depth = 20 x "8" every "1" bps),
            paper_exchange::paper_account!($account, key = "e2e-key",
                secret = "e2e-secret-never-logged", balances = { $($asset = $amount),+ }),
        )
    };
}

/// A portfolio in USDT with the article's policy, but trading all the way to target (a trade to
/// the band edge leaves the next cycle at the edge, where the market's move to fill it tips it
/// out again) and without the velocity rule (so that every decision's reason is the one under
/// test), from the rest of its spec.
fn spec(mut v: Value) -> PortfolioSpec {
    v["quote"] = json!("USDT");
    v["policy"] = json!({
        "band": {"absolute": "0.05"},
        "destination": "target",
        "min_trade_notional": "10",
        "max_cost_bps": "50",
        "slippage_budget_bps": "20",
        "limit_offset": "0.5",
        "order_ttl_seconds": 900
    });
    let mut spec: PortfolioSpec = serde_json::from_value(v).expect("a valid portfolio spec");
    spec.policy.velocity = None;
    spec
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// What the next cycle of `id` would plan now (`driftline plan --live`), nothing placed.
async fn preview(w: &World, id: &str) -> RebalancePlan {
    let id = PortfolioId::new(id).unwrap();
    let cycle = CycleId::new("preview").unwrap();
    match w.scheduler.preview(&id, &cycle).await {
        Ok(p) => p.plan,
        Err(e) => panic!("preview of {id}: {e}"),
    }
}

/// The drift snapshot the last cycle of `id` kept.
async fn last_snapshot(w: &World, id: &str) -> DriftSnapshot {
    let id = PortfolioId::new(id).unwrap();
    let latest = w.store.latest(&id, 1).await.unwrap();
    latest[0].snapshot.clone()
}

/// The orders on the paper venue of `account` that are that account's.
fn venue_orders_of_account(w: &World, account: &str) -> Vec<Order> {
    let venue = w.venue_holding(account).expect("a venue holds the account");
    venue.with_engine(|e| {
        e.orders()
            .filter(|o| o.account == account)
            .cloned()
            .collect()
    })
}

/// What `account` holds of `asset` on its paper venue, free and locked.
fn held(w: &World, account: &str, asset: &str) -> Decimal {
    let venue = w.venue_holding(account).expect("a venue holds the account");
    venue.with_engine(|e| {
        e.balances(account)
            .ok()
            .and_then(|b| {
                b.iter()
                    .find(|(a, _)| a.as_str() == asset)
                    .map(|(_, b)| b.free + b.locked)
            })
            .unwrap_or_default()
    })
}

fn secret(w: &World, account: &str) -> String {
    w.secret_id(account)
        .expect("the account has a secret")
        .to_owned()
}

/// The ledger's records of `id` on `account`.
async fn ledger_on(w: &World, id: &str, account: &str) -> Vec<OrderRecord> {
    let secret = secret(w, account);
    w.orders(id)
        .await
        .into_iter()
        .filter(|o| o.intent.account.as_deref() == Some(secret.as_str()))
        .collect()
}

// ---------------------------------------------------------------------------------------------

/// Alpha holds the BTC and half the cash, beta the ETH and the other half: each account alone is
/// far from 40/35/25, together they are on it.
const IN_BAND_TOGETHER: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { BTC = "0.6228", USDT = "12500" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { ETH = "10.1449", USDT = "12500" }),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_each_off_target_but_in_band_together_trade_nothing() {
    let targets = json!({"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"});
    let together = spec(json!({
        "id": "together",
        "targets": targets,
        "accounts": [{"account": "alpha"}, {"account": "beta"}]
    }));
    // Each account alone, as a portfolio of its own (previewed only, never run: two
    // portfolios must not share an account).
    let alone = |account: &str| {
        spec(json!({"id": format!("{account}-alone"), "targets": targets, "account": account}))
    };
    let Some(w) = World::start_venues(
        &IN_BAND_TOGETHER,
        &[together, alone("alpha"), alone("beta")],
    )
    .await
    else {
        return;
    };
    for account in ["alpha", "beta"] {
        let plan = preview(&w, &format!("{account}-alone")).await;
        assert!(
            !plan.intents.is_empty(),
            "{account} alone is out of its bands: {plan:#?}"
        );
    }

    let run = w.tick_with(json!({"portfolios": ["together"]})).await;
    assert_eq!(planned(&run), 0, "{run:?}");
    let snapshot = last_snapshot(&w, "together").await;
    let quantity = |asset: &str| {
        snapshot
            .get(&asset.parse().unwrap())
            .map(|a| a.quantity)
            .unwrap()
    };
    assert_eq!(quantity("BTC"), dec("0.6228"));
    assert_eq!(quantity("ETH"), dec("10.1449"));
    assert_eq!(quantity("USDT"), dec("25000"), "both accounts' cash");
    assert_eq!(
        snapshot.assets.iter().map(|a| a.weight).sum::<Decimal>(),
        Decimal::ONE
    );
    assert!(
        snapshot.assets.iter().all(|a| a.drift.abs() <= dec("0.05")),
        "{snapshot:#?}"
    );
    w.drain(3).await;
    assert!(w.venue_orders().await.is_empty());
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------

/// Alpha (listed first, so it would win a tie) has BTC and cash, beta cash only; both list BTC.
const BUY_ROUTED_BY_FEES: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { BTC = "0.2", USDT = "30000" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { USDT = "30000" }),
    ),
];

/// As [`BUY_ROUTED_BY_FEES`], with alpha's books ten times as wide as beta's.
const BUY_ROUTED_BY_SPREAD: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "20", "alpha" holds { BTC = "0.2", USDT = "30000" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { USDT = "30000" }),
    ),
];

#[rstest::rstest]
#[case::beta_has_the_lower_fee_tier(BUY_ROUTED_BY_FEES, json!({"maker_bps": "2", "taker_bps": "2"}))]
#[case::beta_has_the_narrower_book(BUY_ROUTED_BY_SPREAD, Value::Null)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buy_goes_to_the_cheaper_venue_fills_there_and_the_next_cycle_places_nothing(
    #[case] venues: [(Dialect, &str); 2],
    #[case] beta_fees: Value,
) {
    let mut beta = json!({"account": "beta"});
    if !beta_fees.is_null() {
        beta["fees"] = beta_fees;
    }
    let routed = spec(json!({
        "id": "routed",
        "targets": {"BTC": "0.5", "USDT": "0.5"},
        "accounts": [{"account": "alpha"}, beta]
    }));
    let Some(w) = World::start_venues(&venues, &[routed]).await else {
        return;
    };
    // The preview's routing table: both quoted, beta cheaper and chosen.
    let plan = preview(&w, "routed").await;
    let btc = &plan.decisions[0];
    assert_eq!(btc.asset.as_str(), "BTC");
    let [on_alpha, on_beta] = &btc.routes[..] else {
        panic!("one route per account: {btc:#?}");
    };
    assert_eq!(on_alpha.account, secret(&w, "alpha"));
    assert_eq!(on_beta.account, secret(&w, "beta"));
    assert!(
        on_beta.cost_bps.unwrap() < on_alpha.cost_bps.unwrap(),
        "{btc:#?}"
    );
    assert!(on_beta.chosen && !on_alpha.chosen, "{btc:#?}");
    assert!(btc.split.is_empty(), "beta's cash pays for all of it");

    assert_eq!(planned(&w.tick().await), 1);
    let orders = w.orders("routed").await;
    let [buy] = &orders[..] else {
        panic!("one buy: {orders:#?}")
    };
    let intent = &buy.intent;
    assert_eq!(intent.side, Side::Buy);
    assert_eq!(intent.account.as_deref(), Some(secret(&w, "beta").as_str()));
    // Its client order id names beta's account: the same trade on the default account would
    // have another.
    assert_eq!(
        intent.client_order_id,
        ClientOrderId::derive(
            intent.account.as_deref(),
            &intent.portfolio_id,
            &intent.cycle_id,
            &intent.symbol,
            Side::Buy,
            0
        )
    );
    assert_ne!(
        intent.client_order_id,
        ClientOrderId::derive(
            None,
            &intent.portfolio_id,
            &intent.cycle_id,
            &intent.symbol,
            Side::Buy,
            0
        )
    );

    // One executor invocation places it, on beta's venue only.
    w.invoke_executor_once(1).await;
    assert!(venue_orders_of_account(&w, "alpha").is_empty());
    let on_venue = venue_orders_of_account(&w, "beta");
    assert_eq!(on_venue.len(), 1, "{on_venue:#?}");
    assert_eq!(on_venue[0].orig_qty, intent.quantity);
    assert_eq!(on_venue[0].price, intent.limit_price.value());
    assert_eq!(w.venue_orders_of(&intent.client_order_id).await.len(), 1);

    // The market comes down through the resting buy; the next cycle's reconcile records the
    // fill and, back in band, plans nothing.
    w.set_mid("BTCUSDT", "64100").await;
    assert_eq!(
        venue_orders_of_account(&w, "beta")[0].status,
        VenueStatus::Filled
    );
    w.next_tick();
    assert_eq!(planned(&w.tick().await), 0);
    assert_eq!(w.orders("routed").await[0].status, OrderStatus::Filled);
    assert!(held(&w, "beta", "BTC") > Decimal::ZERO);
    assert_eq!(held(&w, "alpha", "USDT"), dec("30000"), "alpha untouched");
    assert_eq!(w.venue_orders().await.len(), 1);
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------

/// BTC only on alpha (1 BTC, 0.8 of it reserved); beta, cheaper, holds cash only.
const HELD_ON_ALPHA: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { BTC = "1", USDT = "10000" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { USDT = "10000" }),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_storage_makes_btc_overweight_and_only_alphas_btc_above_its_reserve_is_sold() {
    let cold = spec(json!({
        "id": "cold",
        "targets": {"BTC": "0.4", "USDT": "0.6"},
        "accounts": [
            {"account": "alpha", "reserve": {"BTC": "0.8"}},
            {"account": "beta", "fees": {"maker_bps": "2", "taker_bps": "2"}}
        ],
        "off_exchange": {"BTC": "1"}
    }));
    let Some(w) = World::start_venues(&HELD_ON_ALPHA, &[cold]).await else {
        return;
    };
    // 2 BTC (one in cold storage) of 148,460 USDT: 86 % BTC against a 40 % target. Selling
    // to target wants some 1.07 BTC; alpha may sell 0.2, beta holds none.
    let plan = preview(&w, "cold").await;
    let btc = &plan.decisions[0];
    let [on_alpha, on_beta] = &btc.routes[..] else {
        panic!("one route per account: {btc:#?}");
    };
    assert!(on_alpha.chosen && on_alpha.cost_bps.is_some(), "{btc:#?}");
    assert!(!on_beta.chosen && on_beta.refused.is_some(), "{btc:#?}");

    assert_eq!(planned(&w.tick().await), 1);
    let snapshot = last_snapshot(&w, "cold").await;
    let btc = snapshot.get(&"BTC".parse().unwrap()).unwrap();
    assert_eq!(btc.quantity, dec("2"), "cold storage is counted");
    let orders = w.orders("cold").await;
    let [sell] = &orders[..] else {
        panic!("one sell: {orders:#?}")
    };
    assert_eq!(sell.intent.side, Side::Sell);
    assert_eq!(sell.intent.quantity, dec("0.2"), "down to the reserve");
    assert_eq!(
        sell.intent.account.as_deref(),
        Some(secret(&w, "alpha").as_str())
    );

    w.invoke_executor_once(1).await;
    assert!(venue_orders_of_account(&w, "beta").is_empty());
    assert_eq!(venue_orders_of_account(&w, "alpha").len(), 1);
    w.set_mid("BTCUSDT", "64400").await;
    assert_eq!(held(&w, "alpha", "BTC"), dec("0.8"));

    // Still overweight, but alpha is at its reserve and cold storage is never sold: nothing.
    w.next_tick();
    let run = w.tick().await;
    assert_eq!(planned(&run), 0, "{run:?}");
    assert_eq!(
        ledger_on(&w, "cold", "alpha").await[0].status,
        OrderStatus::Filled
    );
    let driftline_core::service::scheduler::PortfolioOutcome::Planned { skipped, .. } =
        &run.portfolios[0].outcome
    else {
        unreachable!()
    };
    assert!(skipped.iter().any(|s| s.asset == "BTC"), "{skipped:?}");
    assert_eq!(held(&w, "alpha", "BTC"), dec("0.8"));
    assert_eq!(w.venue_orders().await.len(), 1);
    w.stop().await;
}

/// BTC on both: beta (cheaper) holds a little, alpha more.
const HELD_ON_BOTH: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { BTC = "1", USDT = "5000" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { BTC = "0.1", USDT = "5000" }),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sell_bigger_than_the_cheaper_accounts_balance_is_split_onto_the_other() {
    let split = spec(json!({
        "id": "split",
        "targets": {"BTC": "0.4", "USDT": "0.6"},
        "accounts": [
            {"account": "alpha"},
            {"account": "beta", "fees": {"maker_bps": "2", "taker_bps": "2"}}
        ]
    }));
    let Some(w) = World::start_venues(&HELD_ON_BOTH, &[split]).await else {
        return;
    };
    // 1.1 BTC of 80,653 USDT: 88 % against 40 %. Beta sells all it has, alpha the rest.
    assert_eq!(planned(&w.tick().await), 2);
    let on_beta = ledger_on(&w, "split", "beta").await;
    let on_alpha = ledger_on(&w, "split", "alpha").await;
    assert_eq!(on_beta.len(), 1, "{on_beta:#?}");
    assert_eq!(on_alpha.len(), 1, "{on_alpha:#?}");
    assert_eq!(on_beta[0].intent.quantity, dec("0.1"), "all beta holds");
    assert!(on_alpha[0].intent.quantity > Decimal::ZERO);
    assert!(on_alpha[0].intent.quantity < dec("1"));
    assert!([&on_beta[0], &on_alpha[0]]
        .iter()
        .all(|o| o.intent.side == Side::Sell));

    w.invoke_executor_once(1).await;
    assert_eq!(venue_orders_of_account(&w, "alpha").len(), 1);
    assert_eq!(venue_orders_of_account(&w, "beta").len(), 1);
    w.set_mid("BTCUSDT", "64400").await;
    w.next_tick();
    assert_eq!(planned(&w.tick().await), 0);
    assert!(w
        .orders("split")
        .await
        .iter()
        .all(|o| o.status == OrderStatus::Filled));
    assert_eq!(held(&w, "beta", "BTC"), Decimal::ZERO);
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------

/// Most of the cash is on beta, whose venue does not list BTC.
const CASH_ON_THE_WRONG_VENUE: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { USDT = "2000" }),
    ),
    (
        Dialect::Kraken,
        eth_only_venue!("beta" holds { USDT = "48000" }),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cash_on_a_venue_without_the_market_buys_nothing_there_and_the_plan_says_so() {
    let wrong = spec(json!({
        "id": "wrong",
        "targets": {"BTC": "0.5", "USDT": "0.5"},
        "accounts": [{"account": "alpha"}, {"account": "beta"}]
    }));
    let Some(w) = World::start_venues(&CASH_ON_THE_WRONG_VENUE, &[wrong]).await else {
        return;
    };
    // 50,000 USDT, no BTC: the buy to target wants 25,000; alpha has 2,000.
    let plan = preview(&w, "wrong").await;
    let btc = &plan.decisions[0];
    let buy = btc.order.as_ref().expect("alpha buys what it can");
    assert!(buy.capped_by_budget, "{btc:#?}");
    assert_eq!(buy.account.as_deref(), Some(secret(&w, "alpha").as_str()));
    assert!(buy.quantity * buy.limit_price.value() <= dec("2000"));
    assert!(btc.split.is_empty(), "beta does not list BTC: {btc:#?}");
    let short = plan.notes.iter().find_map(|n| match n {
        PlanNote::BuysShortOfCash { unfunded } => Some(*unfunded),
        _ => None,
    });
    assert!(short.is_some_and(|u| u > dec("20000")), "{:#?}", plan.notes);
    assert!(
        plan.notes.iter().any(|n| matches!(n,
            PlanNote::IdleCash { account, asset, amount, .. }
                if *account == secret(&w, "beta") && asset.as_str() == "USDT" && *amount == dec("48000"))),
        "{:#?}",
        plan.notes
    );

    assert_eq!(planned(&w.tick().await), 1);
    w.invoke_executor_once(1).await;
    let on_alpha = venue_orders_of_account(&w, "alpha");
    assert_eq!(on_alpha.len(), 1, "{on_alpha:#?}");
    assert_eq!(
        on_alpha[0].status,
        VenueStatus::New,
        "accepted: alpha's cash pays"
    );
    assert!(venue_orders_of_account(&w, "beta").is_empty());
    w.set_mid("BTCUSDT", "64100").await;
    assert_eq!(
        venue_orders_of_account(&w, "alpha")[0].status,
        VenueStatus::Filled
    );
    // Nothing moved between the accounts.
    assert_eq!(held(&w, "beta", "USDT"), dec("48000"));
    assert!(held(&w, "alpha", "USDT") < dec("2000"));
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------

/// Alpha (first, so it wins a tie) keeps a BTC stash the portfolio ignores; both have cash.
const ALPHA_IGNORES_BTC: [(Dialect, &str); 2] = [
    (
        Dialect::Binance,
        venue!(spread_bps = "2", "alpha" holds { BTC = "1", USDT = "10000" }),
    ),
    (
        Dialect::Kraken,
        venue!(spread_bps = "2", "beta" holds { USDT = "10000" }),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_asset_an_account_ignores_is_neither_counted_nor_bought_there() {
    let stash = spec(json!({
        "id": "stash",
        "targets": {"BTC": "0.5", "USDT": "0.5"},
        "accounts": [{"account": "alpha", "ignore": ["BTC"]}, {"account": "beta"}]
    }));
    let Some(w) = World::start_venues(&ALPHA_IGNORES_BTC, &[stash]).await else {
        return;
    };
    assert_eq!(planned(&w.tick().await), 1);
    let snapshot = last_snapshot(&w, "stash").await;
    let btc = snapshot.get(&"BTC".parse().unwrap()).unwrap();
    assert_eq!(btc.quantity, Decimal::ZERO, "alpha's stash is not counted");
    // 20,000 USDT, no BTC counted: the buy goes where BTC is counted, beta, though alpha
    // would win the tie.
    let orders = w.orders("stash").await;
    let [buy] = &orders[..] else {
        panic!("one buy: {orders:#?}")
    };
    assert_eq!(buy.intent.side, Side::Buy);
    assert_eq!(
        buy.intent.account.as_deref(),
        Some(secret(&w, "beta").as_str())
    );
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------

#[rstest::rstest]
#[case::binance_takes_the_fee_from_what_is_bought(Dialect::Binance)]
#[case::kraken_charges_it_in_the_quote_on_top(Dialect::Kraken)]
#[case::coinbase_charges_it_in_the_quote_on_top(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_the_cash_into_coins_is_placed_and_filled_whoever_charges_the_fee(
    #[case] dialect: Dialect,
) {
    // All of 10,000 USDT into BTC and ETH: the buys are capped by the cash. Kraken and
    // Coinbase take a buy's fee (0.1 %) in USDT on top and refuse a buy the free cash cannot
    // cover with it; the plan leaves room for it there.
    let venues = [(
        dialect,
        venue!(spread_bps = "2", "solo" holds { USDT = "10000" }),
    )];
    let all_in = spec(json!({
        "id": "all-in",
        "targets": {"BTC": "0.6", "ETH": "0.4", "USDT": "0"},
        "account": "solo"
    }));
    let Some(w) = World::start_venues(&venues, &[all_in]).await else {
        return;
    };
    assert_eq!(planned(&w.tick().await), 2);
    let orders = w.orders("all-in").await;
    let fee_on_top = dialect != Dialect::Binance;
    let cost: Decimal = orders
        .iter()
        .map(|o| o.intent.quantity * o.intent.limit_price.value())
        .sum();
    for o in &orders {
        assert_eq!(o.intent.side, Side::Buy);
        assert_eq!(
            o.intent.quote_fee_bps,
            fee_on_top.then(|| dec("10")),
            "{dialect:?}"
        );
    }
    let fee = if fee_on_top {
        cost / dec("1000")
    } else {
        Decimal::ZERO
    };
    assert!(cost + fee <= dec("10000"), "{dialect:?}: {cost} + {fee}");
    // Nothing left idle but the fee's room and a lot's rounding.
    assert!(cost + fee > dec("9990"), "{dialect:?}: {cost} + {fee}");

    // Both placed, none refused for want of funds; the market comes through them and they fill.
    w.drain(3).await;
    let on_venue = venue_orders_of_account(&w, "solo");
    assert_eq!(on_venue.len(), 2, "{dialect:?}: {on_venue:#?}");
    w.set_mid("BTCUSDT", "64100").await;
    w.set_mid("ETHUSDT", "3440").await;
    w.drain(3).await;
    let ended = w.orders("all-in").await;
    assert!(
        ended.iter().all(|o| o.status == OrderStatus::Filled),
        "{dialect:?}: {ended:#?}"
    );
    // What is left is exactly the cash less what the ledger says was paid: on Kraken and
    // Coinbase the fees in USDT as well, and the coins arrive whole; on Binance the fees come
    // out of the coins.
    let paid: Decimal = ended.iter().map(|o| o.cumulative_quote_qty).sum();
    let fees_in_usdt: Decimal = ended.iter().map(|o| o.fees_quote).sum();
    for o in &ended {
        let want = if fee_on_top {
            "USDT"
        } else {
            o.intent.symbol.base().as_str()
        };
        assert_eq!(
            o.fee_asset.as_ref().map(|a| a.as_str()),
            Some(want),
            "{dialect:?}"
        );
        let coin = held(&w, "solo", o.intent.symbol.base().as_str());
        let kept = if fee_on_top {
            o.filled_qty
        } else {
            o.filled_qty - o.fees
        };
        assert_eq!(coin, kept, "{dialect:?}: {}", o.intent.symbol);
    }
    let left = held(&w, "solo", "USDT");
    if fee_on_top {
        assert_eq!(left, dec("10000") - paid - fees_in_usdt, "{dialect:?}");
    } else {
        assert_eq!(left, dec("10000") - paid, "{dialect:?}");
    }
    assert!(
        left >= Decimal::ZERO && left < dec("10"),
        "{dialect:?}: {left} idle"
    );
    w.stop().await;
}
