//! One portfolio over several accounts: the combined snapshot, routing to the cheapest
//! account, splits, reserves, cash that sits on the wrong account, and the spec that describes
//! them. Case tables first, then properties over generated spreads.

mod support;

use std::collections::BTreeSet;

use driftline_core::accounts::PortfolioAccounts;
use driftline_core::config::PortfolioSpec;
use driftline_core::ports::Venue;
use driftline_core::*;
use proptest::prelude::*;
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::{asset, market_in};

const DEEP: Decimal = dec!(1000);

/// One account of a test portfolio.
#[derive(Debug, Clone)]
struct Acct {
    name: Option<&'static str>,
    venue: Venue,
    quote: &'static str,
    rate: Decimal,
    holdings: Vec<(&'static str, Decimal)>,
    reserve: Vec<(&'static str, Decimal)>,
    markets: Vec<MarketSnapshot>,
    fees: Fees,
    ignore: Vec<&'static str>,
}

impl Acct {
    fn new(name: Option<&'static str>, venue: Venue, quote: &'static str) -> Self {
        Self {
            name,
            venue,
            quote,
            rate: Decimal::ONE,
            holdings: Vec::new(),
            reserve: Vec::new(),
            markets: Vec::new(),
            fees: Fees::default(),
            ignore: Vec::new(),
        }
    }

    fn ignoring(mut self, a: &'static str) -> Self {
        self.ignore.push(a);
        self
    }

    fn holding(mut self, a: &'static str, q: Decimal) -> Self {
        self.holdings.push((a, q));
        self
    }

    fn reserving(mut self, a: &'static str, q: Decimal) -> Self {
        self.reserve.push((a, q));
        self
    }

    /// Lists `base` in this account's quote at `mid`, with a deep book of 2 bps spread.
    fn listing(self, base: &str, mid: Decimal) -> Self {
        self.listing_with(base, mid, DEEP)
    }

    fn listing_with(mut self, base: &str, mid: Decimal, depth_per_level: Decimal) -> Self {
        self.markets.push(market_in(
            self.quote,
            base,
            mid,
            dec!(2),
            depth_per_level,
            |f| f,
        ));
        self
    }

    fn fee_bps(mut self, bps: Decimal) -> Self {
        self.fees = Fees {
            maker_bps: bps,
            taker_bps: bps,
        };
        self
    }

    fn rate(mut self, rate: Decimal) -> Self {
        self.rate = rate;
        self
    }
}

/// A portfolio over USDT spread over `accounts`, with what it holds off every exchange.
#[derive(Debug, Clone)]
struct Spread {
    targets: Vec<(&'static str, Decimal)>,
    off_exchange: Vec<(&'static str, Decimal)>,
    accounts: Vec<Acct>,
    policy: RebalancePolicy,
}

fn holdings(items: &[(&str, Decimal)]) -> Holdings {
    Holdings::new(items.iter().map(|(a, q)| (asset(a), *q))).unwrap()
}

impl Spread {
    fn new(targets: &[(&'static str, Decimal)], accounts: Vec<Acct>) -> Self {
        Self {
            targets: targets.to_vec(),
            off_exchange: Vec::new(),
            accounts,
            policy: RebalancePolicy {
                velocity: None,
                max_cost_bps: dec!(10000),
                ..RebalancePolicy::default()
            },
        }
    }

    fn try_plan(&self) -> Result<RebalancePlan, DomainError> {
        let portfolio = Portfolio::new(
            PortfolioId::new("spread").unwrap(),
            asset("USDT"),
            holdings(&self.off_exchange),
            TargetWeights::new(self.targets.iter().map(|(a, w)| (asset(a), *w))).unwrap(),
        )?;
        let quotes: Vec<Asset> = self.accounts.iter().map(|a| asset(a.quote)).collect();
        let held: Vec<Holdings> = self
            .accounts
            .iter()
            .map(|a| holdings(&a.holdings))
            .collect();
        let reserves: Vec<Holdings> = self.accounts.iter().map(|a| holdings(&a.reserve)).collect();
        let markets: Vec<Markets> = self
            .accounts
            .iter()
            .map(|a| {
                a.markets
                    .iter()
                    .map(|m| (m.filters.symbol().base().clone(), m.clone()))
                    .collect()
            })
            .collect();
        let models: Vec<BookWalkCostModel> = self
            .accounts
            .iter()
            .map(|a| BookWalkCostModel {
                fees: a.fees,
                liquidity: self.policy.fee_liquidity,
            })
            .collect();
        let ignored: Vec<BTreeSet<Asset>> = self
            .accounts
            .iter()
            .map(|a| a.ignore.iter().map(|x| asset(x)).collect())
            .collect();
        let accounts: Vec<PlanAccount<'_>> = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| PlanAccount {
                account: a.name,
                venue: a.venue,
                quote: &quotes[i],
                cash_rate: a.rate,
                holdings: &held[i],
                reserve: &reserves[i],
                ignore: &ignored[i],
                markets: &markets[i],
                fees: a.fees,
                cost_model: &models[i],
            })
            .collect();
        let cycle = CycleId::new("c1").unwrap();
        plan(&PlanRequest {
            portfolio: &portfolio,
            accounts: &accounts,
            in_flight: &[],
            policy: &self.policy,
            history: &[],
            cycle: &cycle,
            now_ms: 1_700_000_000_000,
        })
    }

    fn plan(&self) -> RebalancePlan {
        self.try_plan().unwrap()
    }
}

fn decision<'a>(plan: &'a RebalancePlan, code: &str) -> &'a AssetDecision {
    support::decision(plan, code)
}

const HALF: [(&str, Decimal); 2] = [("BTC", dec!(0.5)), ("USDT", dec!(0.5))];

#[test]
fn combined_weights_in_band_trade_nothing_though_each_account_alone_is_out() {
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("BTC", dec!(1))
        .listing("BTC", dec!(5000));
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(5000))
        .listing("BTC", dec!(5000));
    let together = Spread::new(&HALF, vec![binance.clone(), kraken]).plan();
    assert_eq!(together.snapshot.equity, dec!(10000));
    assert_eq!(decision(&together, "BTC").reason, DecisionReason::InBand);
    assert!(together.intents.is_empty());

    let alone = Spread::new(&HALF, vec![binance]).plan();
    assert_eq!(decision(&alone, "BTC").weight, Decimal::ONE);
    assert_eq!(alone.intents.len(), 1, "{:?}", alone.decisions);
}

#[rstest]
#[case::binance_cheaper(dec!(10), dec!(60), None, "BTC/USDT")]
#[case::kraken_cheaper(dec!(60), dec!(10), Some("kraken-1"), "BTC/USD")]
fn the_buy_goes_to_the_account_where_it_costs_least(
    #[case] binance_fee: Decimal,
    #[case] kraken_fee: Decimal,
    #[case] account: Option<&str>,
    #[case] symbol: &str,
) {
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("USDT", dec!(5000))
        .listing("BTC", dec!(5000))
        .fee_bps(binance_fee);
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(5000))
        .listing("BTC", dec!(5000))
        .fee_bps(kraken_fee);
    let plan = Spread::new(&HALF, vec![binance, kraken]).plan();
    assert_eq!(plan.intents.len(), 1, "{:?}", plan.decisions);
    let buy = &plan.intents[0];
    assert_eq!((buy.side, buy.account.as_deref()), (Side::Buy, account));
    assert_eq!(buy.symbol.to_string(), symbol);
    // The routing table quotes both accounts; the chosen one is the cheaper.
    let routes = &decision(&plan, "BTC").routes;
    assert_eq!(routes.len(), 2);
    let chosen: Vec<&RouteQuote> = routes.iter().filter(|r| r.chosen).collect();
    assert_eq!(chosen.len(), 1);
    let other = routes.iter().find(|r| !r.chosen).unwrap();
    assert!(
        chosen[0].cost_bps.unwrap() < other.cost_bps.unwrap(),
        "{routes:?}"
    );
    assert!(plan.notes.is_empty());
}

#[test]
fn an_asset_an_account_ignores_is_never_routed_there() {
    // The default account is cheaper and has the cash, but ignores BTC: what it bought there
    // would not be counted. The buy goes to the other account.
    let cheap = Acct::new(None, Venue::Binance, "USDT")
        .holding("USDT", dec!(5000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(1))
        .ignoring("BTC");
    let other = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(5000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(40));
    let plan = Spread::new(&HALF, vec![cheap, other]).plan();
    assert_eq!(plan.intents.len(), 1, "{:?}", plan.decisions);
    assert_eq!(plan.intents[0].account.as_deref(), Some("kraken-1"));
    assert_eq!(decision(&plan, "BTC").routes.len(), 1);
}

#[test]
fn a_sell_goes_only_where_the_asset_is_held() {
    // Binance is cheaper but holds no BTC: the sell is on Kraken, where the BTC is.
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("USDT", dec!(1000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(1));
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("BTC", dec!(2))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(40));
    let plan = Spread::new(&HALF, vec![binance, kraken]).plan();
    assert_eq!(plan.intents.len(), 1);
    let sell = &plan.intents[0];
    assert_eq!(
        (sell.side, sell.account.as_deref()),
        (Side::Sell, Some("kraken-1"))
    );
    let refused = &decision(&plan, "BTC").routes[0];
    assert!(refused.cost_bps.is_none() && !refused.chosen, "{refused:?}");
}

#[test]
fn a_reserve_is_never_sold_and_the_rest_is_split_to_the_next_cheapest_account() {
    // 2 BTC at 5000, no cash: sell to the band edge (55%) = 0.9 BTC. The cheap account may sell
    // only 0.2 above its reserve of 0.8; the other account sells the remaining 0.7. Both settle
    // in USDT, so the two sells share a symbol and their client order ids must still differ.
    let cheap = Acct::new(None, Venue::Binance, "USDT")
        .holding("BTC", dec!(1))
        .reserving("BTC", dec!(0.8))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(5));
    let dear = Acct::new(Some("coinbase-1"), Venue::Coinbase, "USDT")
        .holding("BTC", dec!(1))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(60));
    let plan = Spread::new(&HALF, vec![cheap, dear]).plan();
    let sells: Vec<(Option<&str>, Decimal)> = plan
        .intents
        .iter()
        .map(|i| (i.account.as_deref(), i.quantity))
        .collect();
    assert_eq!(
        sells,
        vec![(None, dec!(0.2)), (Some("coinbase-1"), dec!(0.7))]
    );
    let d = decision(&plan, "BTC");
    assert_eq!(d.split.len(), 1);
    assert_ne!(
        plan.intents[0].client_order_id,
        plan.intents[1].client_order_id
    );
}

#[test]
fn off_exchange_holdings_count_in_drift_and_are_never_sold() {
    // 1 BTC in cold storage and 0.3 on the account, 1000 USDT: BTC is 87% of 7500. Selling to
    // the band edge would take 0.475 BTC, but only the account's 0.3 can be sold.
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("BTC", dec!(0.3))
        .holding("USDT", dec!(1000))
        .listing("BTC", dec!(5000));
    let mut spread = Spread::new(&HALF, vec![binance]);
    spread.off_exchange = vec![("BTC", dec!(1))];
    let plan = spread.plan();
    assert_eq!(plan.snapshot.equity, dec!(7500));
    assert_eq!(
        plan.snapshot.get(&asset("BTC")).unwrap().quantity,
        dec!(1.3)
    );
    assert_eq!(plan.intents.len(), 1);
    assert_eq!(
        (plan.intents[0].side, plan.intents[0].quantity),
        (Side::Sell, dec!(0.3))
    );
}

#[test]
fn cash_on_an_account_that_cannot_buy_the_asset_is_not_moved_and_the_plan_says_so() {
    // BTC is listed only on Binance, which holds no cash; the cash is on Kraken.
    let binance = Acct::new(None, Venue::Binance, "USDT").listing("BTC", dec!(5000));
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD").holding("USD", dec!(10000));
    let plan = Spread::new(&HALF, vec![binance, kraken]).plan();
    assert!(plan.intents.is_empty());
    assert!(
        matches!(
            decision(&plan, "BTC").reason,
            DecisionReason::NotFunded { notional } if notional == dec!(4500)
        ),
        "{:?}",
        decision(&plan, "BTC").reason
    );
    assert_eq!(
        plan.notes,
        vec![
            PlanNote::BuysShortOfCash {
                unfunded: dec!(4500)
            },
            PlanNote::IdleCash {
                account: "kraken-1".into(),
                venue: Venue::Kraken,
                asset: asset("USD"),
                amount: dec!(10000)
            }
        ]
    );
}

#[test]
fn a_buy_larger_than_one_accounts_cash_is_split_over_the_accounts_with_cash() {
    // Buy 2700 of BTC (to the band edge of 6000): the cheap account has 2000 USDT, the other
    // 4000 USD.
    let cheap = Acct::new(None, Venue::Binance, "USDT")
        .holding("USDT", dec!(2000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(5));
    let dear = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(4000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(30));
    let plan = Spread::new(&HALF, vec![cheap, dear]).plan();
    assert_eq!(plan.intents.len(), 2, "{:?}", plan.decisions);
    let (first, second) = (&plan.intents[0], &plan.intents[1]);
    assert_eq!(first.account, None);
    assert_eq!(first.quantity, dec!(0.4), "all the cheap account's cash");
    assert_eq!(second.account.as_deref(), Some("kraken-1"));
    // Together, the whole trade.
    assert_eq!(first.quantity + second.quantity, dec!(0.54));
    assert!(plan.notes.is_empty());
}

#[test]
fn a_leg_on_a_venue_that_charges_the_buy_fee_in_the_quote_leaves_room_for_it() {
    // All of the cash into BTC, more than both accounts hold: Binance's 2000 USDT buy 0.4 BTC
    // whole (its fee comes out of the BTC); Kraken's 1000 USD must also pay its 30 bps fee.
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("USDT", dec!(2000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(5));
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(1000))
        .listing("BTC", dec!(5000))
        .fee_bps(dec!(30));
    let mut spread = Spread::new(
        &[("BTC", dec!(1)), ("USDT", dec!(0))],
        vec![binance, kraken],
    );
    spread.policy.destination = Destination::Target;
    let plan = spread.plan();
    assert_eq!(plan.intents.len(), 2, "{:?}", plan.decisions);
    let (first, second) = (&plan.intents[0], &plan.intents[1]);
    assert_eq!(first.account, None);
    assert_eq!(first.quantity * first.limit_price.value(), dec!(2000));
    assert_eq!(second.account.as_deref(), Some("kraken-1"));
    let cost = second.quantity * second.limit_price.value();
    assert!(cost * dec!(1.003) <= dec!(1000), "{cost}");
    let one_more = (second.quantity + dec!(0.00001)) * second.limit_price.value();
    assert!(one_more * dec!(1.003) > dec!(1000), "{}", second.quantity);
}

#[test]
fn each_account_is_valued_at_its_own_mid_and_cash_rate() {
    // Kraken's USD counts 0.5 USDT a dollar here (an exaggerated rate, to be visible): 2000 USD
    // is 1000 USDT, and its 0.1 BTC at 10000 USD is 500 USDT.
    let binance = Acct::new(None, Venue::Binance, "USDT")
        .holding("BTC", dec!(0.2))
        .listing("BTC", dec!(5000));
    let kraken = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding("USD", dec!(2000))
        .holding("BTC", dec!(0.1))
        .listing("BTC", dec!(10000))
        .rate(dec!(0.5));
    let plan = Spread::new(&HALF, vec![binance, kraken]).plan();
    let btc = plan.snapshot.get(&asset("BTC")).unwrap();
    assert_eq!((btc.quantity, btc.value), (dec!(0.3), dec!(1500)));
    let cash = plan.snapshot.get(&asset("USDT")).unwrap();
    assert_eq!(cash.value, dec!(1000));
    assert_eq!(plan.snapshot.equity, dec!(2500));
}

#[rstest]
#[case::sell(Side::Sell, "BTC", dec!(1))]
#[case::buy(Side::Buy, "USDT", dec!(5000))]
fn a_trade_too_big_for_either_book_is_split_over_both(
    #[case] side: Side,
    #[case] held: &'static str,
    #[case] amount: Decimal,
) {
    // Each book shows 10 levels of 0.05 BTC (0.5 BTC); the trade is 0.9 BTC: a sell of 2 BTC
    // held, or a buy with 10000 in cash, to the band edge.
    let a = Acct::new(None, Venue::Binance, "USDT")
        .holding(held, amount)
        .listing_with("BTC", dec!(5000), dec!(0.05))
        .fee_bps(dec!(5));
    let b = Acct::new(Some("kraken-1"), Venue::Kraken, "USD")
        .holding(if held == "USDT" { "USD" } else { held }, amount)
        .listing_with("BTC", dec!(5000), dec!(0.05))
        .fee_bps(dec!(20));
    let mut spread = Spread::new(&HALF, vec![a, b]);
    spread.policy.slippage_budget_bps = dec!(500);
    let plan = spread.plan();
    let legs: Vec<(Side, Decimal)> = plan.intents.iter().map(|i| (i.side, i.quantity)).collect();
    assert_eq!(legs.len(), 2, "{:?}", decision(&plan, "BTC"));
    assert!(
        legs.iter().all(|(s, q)| *s == side && *q <= dec!(0.5)),
        "{legs:?}"
    );
    assert_eq!(legs.iter().map(|(_, q)| q).sum::<Decimal>(), dec!(0.9));
}

// --- The spec ---

fn spec(json: serde_json::Value) -> PortfolioSpec {
    serde_json::from_value(json).unwrap()
}

fn accounts_of(s: &PortfolioSpec) -> Result<PortfolioAccounts, config::ConfigError> {
    let (portfolio, _) = s.clone().into_domain()?;
    s.accounts(&portfolio)
}

#[test]
fn a_spec_over_several_accounts_reads_into_accounts_off_exchange_and_cash_rates() {
    let s = spec(serde_json::json!({
        "id": "spread", "quote": "USDT",
        "targets": {"BTC": "0.5", "ETH": "0.2", "USDT": "0.3"},
        "off_exchange": {"BTC": "0.25"},
        "cash": {"rule": "market", "markets": {"USD": "USDT/USD"}},
        "accounts": [
            {"account": "binance-main", "reserve": {"BTC": "0.1"}, "ignore": ["BNB"]},
            {"account": "kraken-main", "quote": "USD", "fees": {"maker_bps": "16", "taker_bps": "26"}}
        ]
    }));
    let placed = accounts_of(&s).unwrap();
    assert_eq!(placed.accounts.len(), 2);
    assert_eq!(placed.off_exchange.of(&asset("BTC")), dec!(0.25));
    let kraken = &placed.accounts[1];
    assert_eq!(
        (kraken.name(), kraken.quote.as_str()),
        ("kraken-main", "USD")
    );
    assert_eq!(kraken.fees.unwrap().taker_bps, dec!(26));
    assert_eq!(
        placed.cash_rates[1],
        accounts::CashRate::Market {
            symbol: "USDT/USD".parse().unwrap(),
            inverted: true
        }
    );
    assert_eq!(placed.cash_rates[0], accounts::CashRate::Par);
    let binance = &placed.accounts[0];
    assert_eq!(binance.reserve.of(&asset("BTC")), dec!(0.1));
    assert_eq!(binance.ignore, BTreeSet::from([asset("BNB")]));
    let targets = TargetWeights::new([(asset("BTC"), dec!(1))]).unwrap();
    assert!(!binance.counts(&asset("BNB"), &targets));
    assert_eq!(
        s.account_ids(),
        vec![Some("binance-main"), Some("kraken-main")]
    );
    // At par by default; the rate's direction follows the market's.
    assert_eq!(
        accounts::CashRate::Market {
            symbol: "USDT/USD".parse().unwrap(),
            inverted: true
        }
        .rate(Some(dec!(1.25))),
        Some(dec!(0.8))
    );
}

#[rstest]
#[case::both_forms(serde_json::json!({"account": "x", "accounts": [{"account": "y"}]}), "account", "inside `accounts`")]
#[case::listed_twice(serde_json::json!({"accounts": [{"account": "y"}, {"account": "y"}]}), "accounts[1].account", "\"y\" is listed twice")]
#[case::cash_with_target(serde_json::json!({"accounts": [{"quote": "BTC"}]}), "accounts[0].quote", "BTC is this account's cash")]
#[case::reserve_unknown(serde_json::json!({"accounts": [{"reserve": {"DOGE": "1"}}]}), "accounts[0].reserve.DOGE", "DOGE")]
#[case::reserve_negative(serde_json::json!({"accounts": [{"reserve": {"BTC": "-1"}}]}), "accounts[0].reserve.BTC", "-1")]
#[case::off_exchange_unknown(serde_json::json!({"off_exchange": {"DOGE": "1"}}), "off_exchange.DOGE", "DOGE")]
#[case::rate_missing(serde_json::json!({"cash": {"rule": "market", "markets": {}}, "accounts": [{"quote": "USD"}]}), "cash.markets.USD", "USD/USDT")]
#[case::rate_wrong(serde_json::json!({"cash": {"rule": "market", "markets": {"USD": "ETH/USD"}}, "accounts": [{"quote": "USD"}]}), "cash.markets.USD", "ETH/USD")]
#[case::fee_out_of_range(serde_json::json!({"accounts": [{"fees": {"maker_bps": "10", "taker_bps": "20000"}}]}), "accounts[0].fees.taker_bps", "20000")]
#[case::holdings_outside(serde_json::json!({"holdings": {"BTC": "1"}, "accounts": [{"account": "y"}]}), "holdings", "inside it")]
fn spec_errors_name_the_field_and_the_value(
    #[case] extra: serde_json::Value,
    #[case] field: &str,
    #[case] says: &str,
) {
    let mut json = serde_json::json!({
        "id": "spread", "quote": "USDT",
        "targets": {"BTC": "0.5", "USDT": "0.5"}
    });
    for (k, v) in extra.as_object().unwrap() {
        json[k] = v.clone();
    }
    let err = spec(json).into_domain().unwrap_err();
    assert_eq!(err.field, field, "{err}");
    assert!(err.message.contains(says), "{err} should say {says}");
}

// --- Properties ---

const BASES: [&str; 3] = ["BTC", "ETH", "SOL"];

fn decimal(lo: i64, hi: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (lo..=hi).prop_map(move |n| Decimal::new(n, scale))
}

/// One generated account: its quote, rate, fee, per-asset holdings and reserves (in
/// thousandths), which assets it lists, its cash and its mids' offset.
#[derive(Debug, Clone)]
struct GenAccount {
    usd: bool,
    rate: Decimal,
    fee_bps: Decimal,
    held: Vec<Decimal>,
    reserved: Vec<Decimal>,
    lists: Vec<bool>,
    cash: Decimal,
    mid_bps: i64,
}

fn gen_account() -> impl Strategy<Value = GenAccount> {
    (
        any::<bool>(),
        decimal(9_980, 10_020, 4),
        decimal(0, 80, 0),
        prop::collection::vec(decimal(0, 5_000, 3), BASES.len()),
        prop::collection::vec(decimal(0, 1_000, 4), BASES.len()),
        prop::collection::vec(any::<bool>(), BASES.len()),
        decimal(0, 20_000_000, 2),
        -50i64..=50,
    )
        .prop_map(
            |(usd, rate, fee_bps, held, reserved, lists, cash, mid_bps)| GenAccount {
                usd,
                rate,
                fee_bps,
                // A reserve is a fraction of the holding.
                reserved: reserved.iter().zip(&held).map(|(f, h)| f * h).collect(),
                held,
                lists,
                cash,
                mid_bps,
            },
        )
}

#[derive(Debug, Clone)]
struct GenSpread {
    accounts: Vec<GenAccount>,
    weights: Vec<u32>,
    off: Vec<Decimal>,
    band: Decimal,
    min_trade: Decimal,
}

fn gen_spread() -> impl Strategy<Value = GenSpread> {
    (
        prop::collection::vec(gen_account(), 1..=3),
        prop::collection::vec(0u32..=100, BASES.len() + 1),
        prop::collection::vec(decimal(0, 3_000, 3), BASES.len()),
        decimal(0, 500, 4),
        decimal(0, 50, 0),
    )
        .prop_map(|(accounts, weights, off, band, min_trade)| GenSpread {
            accounts,
            weights,
            off,
            band,
            min_trade,
        })
}

const NAMES: [Option<&str>; 3] = [None, Some("second"), Some("third")];
const MIDS: [Decimal; 3] = [dec!(50000), dec!(3000), dec!(150)];

impl GenSpread {
    fn spread(&self) -> Spread {
        let total: u32 = self.weights.iter().sum::<u32>().max(1);
        let mut bps: Vec<u32> = self.weights.iter().map(|w| w * 10_000 / total).collect();
        let assigned: u32 = bps.iter().sum();
        *bps.last_mut().unwrap() += 10_000 - assigned;
        let mut targets: Vec<(&'static str, Decimal)> = BASES
            .iter()
            .zip(&bps)
            .map(|(a, b)| (*a, Decimal::new(i64::from(*b), 4)))
            .collect();
        targets.push(("USDT", Decimal::new(i64::from(*bps.last().unwrap()), 4)));
        let accounts = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let quote = if g.usd && i > 0 { "USD" } else { "USDT" };
                let mut a = Acct::new(NAMES[i], Venue::ALL[i], quote)
                    .fee_bps(g.fee_bps)
                    .holding(quote, g.cash)
                    .rate(if quote == "USDT" {
                        Decimal::ONE
                    } else {
                        g.rate
                    });
                for (k, base) in BASES.iter().enumerate() {
                    if !g.held[k].is_zero() {
                        a = a.holding(base, g.held[k]);
                    }
                    if !g.reserved[k].is_zero() {
                        a = a.reserving(base, g.reserved[k]);
                    }
                    // The first account lists everything, so every asset has a price.
                    if i == 0 || g.lists[k] {
                        let mid = MIDS[k] * (Decimal::ONE + Decimal::new(g.mid_bps, 4));
                        let rate = a.rate;
                        a = a.listing(base, mid / rate);
                    }
                }
                a
            })
            .collect();
        let mut spread = Spread::new(&targets, accounts);
        spread.off_exchange = BASES
            .iter()
            .zip(&self.off)
            .filter(|(_, q)| !q.is_zero())
            .map(|(a, q)| (*a, *q))
            .collect();
        spread.policy.band = Band {
            absolute: Some(self.band),
            relative: None,
        };
        spread.policy.min_trade_notional = self.min_trade;
        spread.policy.max_cost_bps = dec!(100);
        spread
    }
}

fn held_by(list: &[(&str, Decimal)], a: &str) -> Decimal {
    list.iter().filter(|(x, _)| *x == a).map(|(_, q)| *q).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(driftline_core::testing::property_cases(300)))]

    #[test]
    fn combined_weights_sum_to_exactly_one_across_accounts(g in gen_spread()) {
        let spread = g.spread();
        match spread.try_plan() {
            Ok(plan) => {
                let sum: Decimal = plan.snapshot.assets.iter().map(|a| a.weight).sum();
                prop_assert_eq!(sum, Decimal::ONE);
                let values: Decimal = plan.snapshot.assets.iter().map(|a| a.value).sum();
                prop_assert_eq!(values, plan.snapshot.equity);
            }
            Err(e) => prop_assert_eq!(e, DomainError::ZeroEquity),
        }
    }

    #[test]
    fn no_order_spends_more_than_its_account_holds(g in gen_spread()) {
        let spread = g.spread();
        let Ok(plan) = spread.try_plan() else { return Ok(()) };
        for acct in &spread.accounts {
            let mine: Vec<&OrderIntent> = plan
                .intents
                .iter()
                .filter(|i| i.account.as_deref() == acct.name)
                .collect();
            let fee = acct.fees.higher_bps() / dec!(10000);
            let mut proceeds = Decimal::ZERO;
            let mut spent = Decimal::ZERO;
            for i in &mine {
                prop_assert_eq!(i.symbol.quote().as_str(), acct.quote);
                if i.side == Side::Sell {
                    let base = i.symbol.base().as_str();
                    let free = held_by(&acct.holdings, base) - held_by(&acct.reserve, base);
                    prop_assert!(i.quantity <= free, "sell {} of {} > {} free above the reserve", i.quantity, base, free);
                    proceeds += i.notional() * (Decimal::ONE - fee);
                } else {
                    // With its fee where the venue charges it in the quote on top.
                    let quote_fee = acct.venue.buy_fee_in_quote().then(|| acct.fees.higher_bps());
                    prop_assert_eq!(i.quote_fee_bps, quote_fee);
                    spent += i.quote_fee_bps.map_or(i.notional(), |bps| money::plus_bps(i.notional(), bps));
                }
            }
            let cash = held_by(&acct.holdings, acct.quote);
            prop_assert!(spent <= cash + proceeds, "{:?} spends {} of {} + {}", acct.name, spent, cash, proceeds);
        }
    }

    #[test]
    fn orders_go_only_where_they_can_fill_within_budget(g in gen_spread()) {
        let spread = g.spread();
        let Ok(plan) = spread.try_plan() else { return Ok(()) };
        let mut ids = BTreeSet::new();
        for i in &plan.intents {
            prop_assert!(ids.insert(i.client_order_id.clone()), "{} twice", i.client_order_id);
            let acct = spread.accounts.iter().find(|a| a.name == i.account.as_deref()).unwrap();
            let market = acct.markets.iter().find(|m| m.filters.symbol() == &i.symbol);
            prop_assert!(market.is_some(), "{} routed to {:?}, which does not list it", i.symbol, acct.name);
            let market = market.unwrap();
            let model = BookWalkCostModel { fees: acct.fees, liquidity: spread.policy.fee_liquidity };
            let cost = model.predict(i.side, i.quantity, &market.book);
            prop_assert!(cost.is_ok(), "{:?} on {:?}: {:?}", i.symbol, acct.name, cost);
            prop_assert!(cost.unwrap().total_bps() <= spread.policy.max_cost_bps);
            prop_assert!(market.filters.accepts(i.quantity, i.limit_price.value()));
            match i.side {
                Side::Buy => prop_assert!(i.limit_price <= i.worst_price),
                Side::Sell => prop_assert!(i.limit_price >= i.worst_price),
            }
        }
    }

    #[test]
    fn the_first_leg_is_on_the_cheapest_account_that_could_take_it(g in gen_spread()) {
        let spread = g.spread();
        let Ok(plan) = spread.try_plan() else { return Ok(()) };
        for d in &plan.decisions {
            let Some(order) = &d.order else { continue };
            if d.routes.is_empty() || order.capped_by_budget || order.side == Side::Buy {
                continue;
            }
            let cheapest = d.routes.iter().filter_map(|r| r.cost_bps).min().unwrap();
            prop_assert_eq!(order.cost.total_bps(), cheapest, "{:?}", d.routes);
        }
    }
}
