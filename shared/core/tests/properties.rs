//! Invariants of drift and planning over generated portfolios and markets.

mod support;

use driftline_core::money::is_on_step;
use driftline_core::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use support::{asset, market_with, Case};

const BASES: [&str; 6] = ["BTC", "ETH", "SOL", "ADA", "XRP", "DOT"];

/// A decimal with `scale` fractional digits between `lo` and `hi` (in units of 10^-scale).
fn decimal(lo: i64, hi: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (lo..=hi).prop_map(move |n| Decimal::new(n, scale))
}

/// Target weights in whole basis points summing to exactly 1, cash last.
fn targets(n: usize) -> impl Strategy<Value = Vec<Decimal>> {
    prop::collection::vec(0u32..=10_000, n + 1).prop_map(|raw| {
        let total: u32 = raw.iter().sum::<u32>().max(1);
        let mut bps: Vec<u32> = raw.iter().map(|r| r * 10_000 / total).collect();
        let assigned: u32 = bps.iter().sum();
        *bps.last_mut().unwrap() += 10_000 - assigned;
        bps.into_iter()
            .map(|b| Decimal::new(i64::from(b), 4))
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    holdings: Vec<Decimal>,
    cash: Decimal,
    weights: Vec<Decimal>,
    mids: Vec<Decimal>,
    steps: Vec<Decimal>,
    spread_bps: Decimal,
    band: Decimal,
    destination: Destination,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..=BASES.len()).prop_flat_map(|n| {
        (
            prop::collection::vec(decimal(0, 50_000_000, 4), n),
            decimal(0, 100_000_000, 2),
            targets(n),
            prop::collection::vec(decimal(1_000, 10_000_000, 2), n),
            prop::collection::vec(
                prop::sample::select(vec![Decimal::new(1, 5), Decimal::new(1, 3), Decimal::ONE]),
                n,
            ),
            decimal(0, 50, 0),
            decimal(0, 1_000, 4),
            prop::sample::select(vec![
                Destination::BandEdge,
                Destination::InsideBand(Decimal::new(5, 1)),
                Destination::Target,
            ]),
        )
            .prop_map(
                |(holdings, cash, weights, mids, steps, spread_bps, band, destination)| Scenario {
                    holdings,
                    cash,
                    weights,
                    mids,
                    steps,
                    spread_bps,
                    band,
                    destination,
                },
            )
    })
}

impl Scenario {
    fn case(&self) -> Case {
        let n = self.holdings.len();
        let mut holdings: Vec<(&str, Decimal)> =
            (0..n).map(|i| (BASES[i], self.holdings[i])).collect();
        holdings.push(("USDT", self.cash));
        let mut targets: Vec<(&str, Decimal)> =
            (0..n).map(|i| (BASES[i], self.weights[i])).collect();
        targets.push(("USDT", self.weights[n]));
        let markets = (0..n)
            .map(|i| {
                let step = self.steps[i];
                market_with(
                    BASES[i],
                    self.mids[i],
                    self.spread_bps,
                    Decimal::from(1_000_000_000),
                    |f| MarketFiltersFields {
                        step_size: step,
                        min_qty: step,
                        ..f
                    },
                )
            })
            .collect();
        let band = self.band;
        let destination = self.destination;
        Case::new(&holdings, &targets, markets).policy(|p| {
            p.band = Band {
                absolute: Some(band),
                relative: None,
            };
            p.destination = destination;
            p.max_cost_bps = Decimal::from(10_000);
            p.min_trade_notional = Decimal::ZERO;
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(driftline_core::testing::property_cases(400)))]

    #[test]
    fn weights_sum_to_exactly_one(s in scenario()) {
        let case = s.case();
        if let Ok(plan) = case.try_plan() {
            let sum: Decimal = plan.snapshot.assets.iter().map(|a| a.weight).sum();
            prop_assert_eq!(sum, Decimal::ONE);
            let drift: Decimal = plan.snapshot.assets.iter().map(|a| a.drift).sum();
            prop_assert_eq!(drift, Decimal::ZERO);
        } else {
            prop_assert!(s.holdings.iter().all(|h| h.is_zero()) && s.cash.is_zero());
        }
    }

    #[test]
    fn orders_never_spend_more_than_is_available(s in scenario()) {
        let case = s.case();
        let Ok(plan) = case.try_plan() else { return Ok(()) };
        let fee = case.fees.higher_bps() / Decimal::from(10_000);
        let mut proceeds = Decimal::ZERO;
        let mut spent = Decimal::ZERO;
        for i in &plan.intents {
            if i.side == Side::Sell {
                prop_assert!(i.quantity <= case.portfolio.holdings().of(i.symbol.base()), "sell {} > held", i.quantity);
                proceeds += i.notional() * (Decimal::ONE - fee);
            } else {
                spent += i.quote_fee_bps.map_or(i.notional(), |bps| money::plus_bps(i.notional(), bps));
            }
        }
        prop_assert!(spent <= case.portfolio.holdings().of(&asset("USDT")) + proceeds);
    }

    #[test]
    fn every_intent_is_on_the_grid_and_above_the_minimum(s in scenario()) {
        let case = s.case();
        let Ok(plan) = case.try_plan() else { return Ok(()) };
        for i in &plan.intents {
            let f = &case.markets[i.symbol.base()].filters;
            prop_assert!(is_on_step(i.quantity, f.step_size()));
            prop_assert!(is_on_step(i.limit_price.value(), f.tick_size()));
            prop_assert!(i.notional() >= f.min_notional());
            prop_assert!(f.accepts(i.quantity, i.limit_price.value()));
            let book = &case.markets[i.symbol.base()].book;
            let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
            prop_assert!(bid <= i.limit_price && i.limit_price <= ask, "limit {} outside {bid}..{ask}", i.limit_price);
            match i.side {
                Side::Buy => prop_assert!(i.limit_price <= i.worst_price),
                Side::Sell => prop_assert!(i.limit_price >= i.worst_price),
            }
        }
    }

    #[test]
    fn trades_land_at_their_destination_within_one_step(s in scenario()) {
        let case = s.case();
        let Ok(plan) = case.try_plan() else { return Ok(()) };
        let equity = plan.snapshot.equity;
        for i in &plan.intents {
            let d = plan.decisions.iter().find(|d| &d.asset == i.symbol.base()).unwrap();
            let o = d.order.as_ref().unwrap();
            let held = case.portfolio.holdings().of(&d.asset);
            let step = case.markets[&d.asset].filters.step_size();
            let mid = i.reference_price.value();
            // Orders shortened by the budget or by the holding do not reach their destination.
            let shortened = o.capped_by_budget || (i.side == Side::Sell && i.quantity + step > held);
            if shortened { continue; }
            // The band edge, the target, or the given fraction of the way between.
            let past_target = d.band * (Decimal::ONE - case.policy.destination.toward_target());
            let destination = d.target + if d.drift > Decimal::ZERO { past_target } else { -past_target };
            let after = match i.side { Side::Buy => held + i.quantity, Side::Sell => held - i.quantity };
            // Applying the trade at the reference price leaves equity unchanged.
            let wanted_qty = destination * equity / mid;
            prop_assert!((after - wanted_qty).abs() < step, "{}: after {after}, destination {wanted_qty}, step {step}", d.asset);
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_client_order_ids(s in scenario()) {
        let case = s.case();
        let (Ok(a), Ok(b)) = (case.try_plan(), case.try_plan()) else { return Ok(()) };
        let ids = |p: &RebalancePlan| p.intents.iter().map(|i| i.client_order_id.clone()).collect::<Vec<_>>();
        prop_assert_eq!(ids(&a), ids(&b));
        let unique: std::collections::BTreeSet<_> = ids(&a).into_iter().collect();
        prop_assert_eq!(unique.len(), a.intents.len());
    }

    #[test]
    fn an_exit_sells_all_the_step_allows(s in scenario(), pick in 0usize..BASES.len()) {
        // The same scenarios with one asset's target moved to cash: the user wants out of it.
        let mut s = s;
        let (n, i) = (s.holdings.len(), pick % s.holdings.len());
        let moved = s.weights[i];
        s.weights[n] += moved;
        s.weights[i] = Decimal::ZERO;
        let case = s.case();
        let Ok(plan) = case.try_plan() else { return Ok(()) };
        for intent in plan.intents.iter().filter(|x| x.symbol.base().as_str() == BASES[i]) {
            prop_assert_eq!(intent.side, Side::Sell);
            let held = case.portfolio.holdings().of(intent.symbol.base());
            let step = case.markets[intent.symbol.base()].filters.step_size();
            prop_assert!(held - intent.quantity < step, "sold {} of {held}, step {step}", intent.quantity);
        }
    }

    #[test]
    fn no_sell_leaves_what_the_exchange_would_refuse(s in scenario()) {
        let case = s.case();
        let Ok(plan) = case.try_plan() else { return Ok(()) };
        for i in plan.intents.iter().filter(|i| i.side == Side::Sell) {
            let f = &case.markets[i.symbol.base()].filters;
            let left = f.round_quantity(case.portfolio.holdings().of(i.symbol.base()) - i.quantity);
            prop_assert!(
                left.is_zero() || f.accepts(left, i.limit_price.value()),
                "{} left of {}: dust", left, i.symbol
            );
        }
    }
}
