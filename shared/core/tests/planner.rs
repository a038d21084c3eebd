//! The planner's rules, one case table each. Figures are exact: every expected value below is
//! worked out by hand from the inputs.

mod support;

use driftline_core::ports::Venue;
use driftline_core::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::{decision, market, market_with, Case};

const DEEP: Decimal = dec!(1000);

/// BTC at 100 with 1 bp spread: 10 BTC and 1000 USDT is 50/50.
fn two_asset(btc: Decimal, usdt: Decimal, target_btc: Decimal) -> Case {
    Case::new(
        &[("BTC", btc), ("USDT", usdt)],
        &[("BTC", target_btc), ("USDT", Decimal::ONE - target_btc)],
        vec![market("BTC", dec!(100), dec!(2), DEEP)],
    )
}

#[test]
fn underweight_buys_and_overweight_sells() {
    // The article's code sells when underweight; here BTC at 30% of a 50% target buys.
    let plan = two_asset(dec!(3), dec!(700), dec!(0.5)).plan();
    let d = decision(&plan, "BTC");
    assert_eq!(d.weight, dec!(0.3));
    assert_eq!(d.order.as_ref().unwrap().side, Side::Buy);

    let plan = two_asset(dec!(7), dec!(300), dec!(0.5)).plan();
    assert_eq!(
        decision(&plan, "BTC").order.as_ref().unwrap().side,
        Side::Sell
    );
}

#[test]
fn cash_counts_in_equity() {
    // Ignoring cash (the article's defect) would make BTC 100% of the portfolio.
    let plan = two_asset(dec!(10), dec!(1000), dec!(0.5)).plan();
    assert_eq!(plan.snapshot.equity, dec!(2000));
    let d = decision(&plan, "BTC");
    assert_eq!((d.weight, d.drift), (dec!(0.5), dec!(0)));
    assert_eq!(d.reason, DecisionReason::InBand);
    assert_eq!(decision(&plan, "USDT").reason, DecisionReason::QuoteAsset);
    assert!(plan.intents.is_empty());
}

#[test]
fn article_portfolio_sells_both_to_the_band_edge() {
    // 1.5 BTC at 64,230, 25 ETH at 3,450, 20,000 USDT; targets 40/35/25; band 5 pp.
    let case = Case::new(
        &[("BTC", dec!(1.5)), ("ETH", dec!(25)), ("USDT", dec!(20000))],
        &[
            ("BTC", dec!(0.40)),
            ("ETH", dec!(0.35)),
            ("USDT", dec!(0.25)),
        ],
        vec![
            market("BTC", dec!(64230), dec!(0), DEEP),
            market("ETH", dec!(3450), dec!(0), DEEP),
        ],
    );
    let plan = case.plan();
    // The zero-spread book is one tick wide: mid 64230.005 and 3450.005.
    assert_eq!(
        plan.snapshot.equity,
        dec!(1.5) * dec!(64230.005) + dec!(25) * dec!(3450.005) + dec!(20000)
    );
    let sells: Vec<_> = plan
        .intents
        .iter()
        .map(|i| (i.symbol.to_string(), i.side))
        .collect();
    assert_eq!(
        sells,
        vec![
            ("BTC/USDT".into(), Side::Sell),
            ("ETH/USDT".into(), Side::Sell)
        ]
    );
    for intent in &plan.intents {
        let d = decision(&plan, intent.symbol.base().as_str());
        // Band edge: sell (drift − band) × equity at mid, rounded down to the step.
        let exact = (d.drift - d.band) * plan.snapshot.equity / intent.reference_price.value();
        assert_eq!(
            intent.quantity,
            driftline_core::money::floor_to_step(exact, dec!(0.00001))
        );
    }
}

#[test]
fn destination_target_trades_all_the_way() {
    // BTC 70% of 2000 vs 50%: edge (5 pp band) sells 15% = 300 USDT = 3 BTC; target sells 4.
    let edge = two_asset(dec!(14), dec!(600), dec!(0.5)).plan();
    let o = decision(&edge, "BTC").order.clone().unwrap();
    assert_eq!(o.quantity, dec!(3));
    let target = two_asset(dec!(14), dec!(600), dec!(0.5))
        .policy(|p| p.destination = Destination::Target)
        .plan();
    assert_eq!(
        decision(&target, "BTC").order.as_ref().unwrap().quantity,
        dec!(4)
    );
}

/// BTC 70% of 2000 against a 50% target, band 5 pp: the band edge sells 15% (3 BTC), the
/// target 20% (4 BTC), halfway into the band 17.5% (3.5 BTC): the order the exchange receives.
#[rstest::rstest]
#[case::band_edge(Destination::BandEdge, dec!(3))]
#[case::inside_band_at_zero_is_the_band_edge(Destination::InsideBand(dec!(0)), dec!(3))]
#[case::inside_band_halfway(Destination::InsideBand(dec!(0.5)), dec!(3.5))]
#[case::inside_band_a_quarter(Destination::InsideBand(dec!(0.25)), dec!(3.25))]
#[case::inside_band_at_one_is_the_target(Destination::InsideBand(dec!(1)), dec!(4))]
#[case::target(Destination::Target, dec!(4))]
fn the_destination_sets_the_quantity_sent_to_the_exchange(
    #[case] destination: Destination,
    #[case] quantity: Decimal,
) {
    let plan = two_asset(dec!(14), dec!(600), dec!(0.5))
        .policy(|p| p.destination = destination)
        .plan();
    let [intent] = &plan.intents[..] else {
        panic!("{} intents", plan.intents.len());
    };
    assert_eq!((intent.side, intent.quantity), (Side::Sell, quantity));
}

#[test]
fn every_skip_reason() {
    struct Row {
        name: &'static str,
        case: Case,
        expect: fn(&DecisionReason) -> bool,
    }
    let thin = Case::new(
        &[("BTC", dec!(14)), ("USDT", dec!(600))],
        &[("BTC", dec!(0.5)), ("USDT", dec!(0.5))],
        vec![market("BTC", dec!(100), dec!(2), dec!(0.1))],
    );
    let halted = Case::new(
        &[("BTC", dec!(14)), ("USDT", dec!(600))],
        &[("BTC", dec!(0.5)), ("USDT", dec!(0.5))],
        vec![market_with("BTC", dec!(100), dec!(2), DEEP, |f| {
            MarketFiltersFields {
                status: TradingStatus::Halt,
                ..f
            }
        })],
    );
    let big_min = Case::new(
        &[("BTC", dec!(14)), ("USDT", dec!(600))],
        &[("BTC", dec!(0.5)), ("USDT", dec!(0.5))],
        vec![market_with("BTC", dec!(100), dec!(2), DEEP, |f| {
            MarketFiltersFields {
                min_notional: dec!(1000),
                ..f
            }
        })],
    );
    let rows = vec![
        Row {
            name: "in band",
            case: two_asset(dec!(10.5), dec!(950), dec!(0.5)),
            expect: |r| *r == DecisionReason::InBand,
        },
        Row {
            name: "below the policy's minimum",
            case: two_asset(dec!(14), dec!(600), dec!(0.5))
                .policy(|p| p.min_trade_notional = dec!(301)),
            expect: |r| matches!(r, DecisionReason::BelowMinimum { notional, .. } if *notional == dec!(300)),
        },
        Row {
            name: "below the exchange's minimum after rounding",
            case: big_min,
            expect: |r| matches!(r, DecisionReason::BelowExchangeMinimum { min_notional, .. } if *min_notional == dec!(1000)),
        },
        Row {
            name: "predicted cost over the cap",
            case: two_asset(dec!(14), dec!(600), dec!(0.5)).policy(|p| p.max_cost_bps = dec!(10.5)),
            // fee 10 bps + half of a 2 bp spread = 11 bps > 10.5
            expect: |r| matches!(r, DecisionReason::CostTooHigh { predicted_bps, .. } if *predicted_bps == dec!(11)),
        },
        Row {
            name: "book too thin",
            case: thin,
            expect: |r| matches!(r, DecisionReason::BookTooThin { visible, needed } if *visible == dec!(1) && *needed == dec!(3)),
        },
        Row {
            name: "market not trading",
            case: halted,
            expect: |r| matches!(r, DecisionReason::NotTrading { status } if status == "HALT"),
        },
    ];
    for row in rows {
        let plan = row.case.plan();
        let d = decision(&plan, "BTC");
        assert!((row.expect)(&d.reason), "{}: got {:?}", row.name, d.reason);
        assert!(d.order.is_none() && plan.intents.is_empty(), "{}", row.name);
    }
}

#[test]
fn velocity_defers_drift_already_heading_back() {
    let case = two_asset(dec!(14), dec!(600), dec!(0.5))
        .policy(|p| p.velocity = Some(VelocityRule::default()));
    let now = case.plan().snapshot;
    // Two cycles ago BTC drift was +0.40, last cycle +0.30, now +0.20: velocity −0.10 a cycle,
    // projected +0.10 next cycle: still outside a 5 pp band, so it trades.
    let earlier = |drift: Decimal| {
        let mut s = now.clone();
        s.assets
            .iter_mut()
            .find(|a| a.asset.as_str() == "BTC")
            .unwrap()
            .drift = drift;
        s
    };
    let history = vec![earlier(dec!(0.30)), earlier(dec!(0.40))];
    let mut case = case;
    case.history = history;
    let d = decision(&case.plan(), "BTC").clone();
    assert_eq!(d.velocity, Some(dec!(-0.1)));
    assert_eq!(d.reason, DecisionReason::Trade);
    // Faster: from +0.60 two cycles ago, −0.20 a cycle, projected 0: deferred.
    case.history = vec![earlier(dec!(0.40)), earlier(dec!(0.60))];
    let d = decision(&case.plan(), "BTC").clone();
    assert_eq!(
        d.reason,
        DecisionReason::DeferredByVelocity {
            velocity: dec!(-0.2),
            projected_drift: dec!(0.0)
        }
    );
    // Drift moving further away is never deferred.
    case.history = vec![earlier(dec!(0.1)), earlier(dec!(0.0))];
    assert_eq!(decision(&case.plan(), "BTC").reason, DecisionReason::Trade);
}

#[test]
fn limit_price_inside_the_spread_toward_the_passive_side() {
    // Spread 20 bps around 100: bid 99.90, ask 100.10. Mid offset: buy 100.00, sell 100.00.
    let buy = Case::new(
        &[("BTC", dec!(6)), ("USDT", dec!(1400))],
        &[("BTC", dec!(0.5)), ("USDT", dec!(0.5))],
        vec![market("BTC", dec!(100), dec!(20), DEEP)],
    )
    .policy(|p| {
        p.limit_offset = dec!(0.33);
        p.max_cost_bps = dec!(100);
    });
    let o = decision(&buy.plan(), "BTC").order.clone().unwrap();
    // 99.90 + 0.33 × 0.20 = 99.966, rounded down (passive for a buy) to 99.96.
    assert_eq!(o.limit_price.value(), dec!(99.96));
    // Worst price: mid 100 × (1 + 20 bps) = 100.20.
    assert_eq!(o.worst_price.value(), dec!(100.2));

    let sell = two_asset(dec!(14), dec!(600), dec!(0.5)).policy(|p| p.limit_offset = dec!(0.33));
    let o = decision(&sell.plan(), "BTC").order.clone().unwrap();
    // Book 1 bp each side of 100 on a 0.01 tick: bid 99.99, ask 100.01; 100.01 − 0.0066 → up to 100.01.
    assert_eq!(o.limit_price.value(), dec!(100.01));
    assert_eq!(o.worst_price.value(), dec!(99.8));
}

#[test]
fn sells_come_first_and_pay_for_the_buys() {
    // ETH overweight (sell), BTC underweight (buy), almost no cash: the buy is funded by the sell.
    let case = Case::new(
        &[("BTC", dec!(2)), ("ETH", dec!(8)), ("USDT", dec!(0))],
        &[("BTC", dec!(0.5)), ("ETH", dec!(0.5)), ("USDT", dec!(0))],
        vec![
            market("BTC", dec!(100), dec!(2), DEEP),
            market("ETH", dec!(100), dec!(2), DEEP),
        ],
    )
    .policy(|p| p.destination = Destination::Target);
    let plan = case.plan();
    let sides: Vec<Side> = plan.intents.iter().map(|i| i.side).collect();
    assert_eq!(sides, vec![Side::Sell, Side::Buy]);
    let (sell, buy) = (&plan.intents[0], &plan.intents[1]);
    let proceeds = sell.quantity * sell.limit_price.value() * (dec!(1) - dec!(0.001));
    assert!(
        buy.notional() <= proceeds,
        "buy {} > proceeds {proceeds}",
        buy.notional()
    );
    assert!(
        decision(&plan, "BTC")
            .order
            .as_ref()
            .unwrap()
            .capped_by_budget
    );
}

#[test]
fn buys_leave_room_for_their_fee_where_the_venue_charges_it_in_the_quote() {
    // All the cash into BTC: the buy is capped by the cash. Kraken and Coinbase take a buy's
    // fee in the quote on top of its cost (and refuse an order the free cash cannot cover);
    // Binance takes it from the BTC bought.
    let fees = Fees {
        maker_bps: dec!(16),
        taker_bps: dec!(26),
    };
    let buy_on = |venue| {
        let mut case = Case::new(
            &[("BTC", dec!(0)), ("USDT", dec!(1000))],
            &[("BTC", dec!(1)), ("USDT", dec!(0))],
            vec![market("BTC", dec!(100), dec!(2), DEEP)],
        )
        .policy(|p| p.destination = Destination::Target);
        case.fees = fees;
        case.venue = venue;
        let plan = case.plan();
        let order = decision(&plan, "BTC").order.clone().unwrap();
        (
            order.quantity,
            order.limit_price.value(),
            order.capped_by_budget,
        )
    };
    // Binance: the whole cash, 10 at 100.
    let (binance, price, _) = buy_on(Venue::Binance);
    assert_eq!(binance * price, dec!(1000));
    for venue in [Venue::Kraken, Venue::Coinbase] {
        let (quantity, price, capped) = buy_on(venue);
        assert!(capped, "{venue}");
        let cost = quantity * price;
        let fee = cost * dec!(26) / dec!(10000);
        assert!(cost + fee <= dec!(1000), "{venue}: {cost} + {fee}");
        // Only the fee's room is given up: one more lot would not fit.
        let more = (quantity + dec!(0.00001)) * price;
        assert!(more * dec!(1.0026) > dec!(1000), "{venue}: {quantity}");
        assert!(
            quantity < binance,
            "{venue}: {quantity} vs Binance's {binance}"
        );
    }
}

#[test]
fn client_order_ids_are_the_same_on_a_rerun() {
    let case = two_asset(dec!(14), dec!(600), dec!(0.5));
    let a = case.plan();
    let b = case.plan();
    assert_eq!(a, b);
    let expected = ClientOrderId::derive(
        None,
        &PortfolioId::new("test").unwrap(),
        &CycleId::new("c1").unwrap(),
        &"BTC/USDT".parse().unwrap(),
        Side::Sell,
        0,
    );
    assert_eq!(a.intents[0].client_order_id, expected);
}

#[test]
fn missing_markets_and_foreign_quotes_are_errors() {
    let mut case = two_asset(dec!(10), dec!(1000), dec!(0.5));
    case.markets.clear();
    assert_eq!(
        case.try_plan().unwrap_err().to_string(),
        "no market for BTC: a price is needed for every asset with a target or a holding"
    );
    let mut case = two_asset(dec!(10), dec!(1000), dec!(0.5));
    let eth = market("ETH", dec!(100), dec!(2), DEEP);
    case.markets.insert(support::asset("BTC"), eth);
    assert!(matches!(
        case.try_plan(),
        Err(DomainError::MarketMismatch { .. })
    ));
}

#[test]
fn an_invalid_policy_fails_before_any_order() {
    let case =
        two_asset(dec!(14), dec!(600), dec!(0.5)).policy(|p| p.slippage_budget_bps = dec!(-1));
    assert!(matches!(
        case.try_plan(),
        Err(DomainError::InvalidPolicy { .. })
    ));
}

/// A sell of 3 BTC at 100 resting on the exchange.
fn resting_btc_sell() -> InFlightOrder {
    InFlightOrder {
        symbol: "BTC/USDT".parse().unwrap(),
        side: Side::Sell,
        remaining: dec!(3),
        limit_price: Price::new(dec!(100)).unwrap(),
        account: None,
        placed: true,
    }
}

#[test]
fn in_flight_orders_count_in_drift_and_block_a_second_order() {
    // BTC 70% of 2000: a resting sell of 3 BTC at 100 brings it to the band edge (55%).
    let sell = resting_btc_sell();
    // The free balance no longer holds the 3 BTC locked in the order.
    let mut case = Case::new(
        &[("BTC", dec!(11)), ("USDT", dec!(600))],
        &[("BTC", dec!(0.5)), ("USDT", dec!(0.5))],
        vec![market("BTC", dec!(100), dec!(2), DEEP)],
    );
    case.in_flight = vec![sell.clone()];
    let plan = case.plan();
    let d = decision(&plan, "BTC");
    assert!(d.drift <= dec!(0.0501), "projected drift {}", d.drift);
    assert!(plan.intents.is_empty());
    // Half of it resting: still out of band, but no second order while the first is open.
    case.in_flight = vec![InFlightOrder {
        remaining: dec!(1.5),
        ..sell
    }];
    let plan = case.plan();
    assert_eq!(decision(&plan, "BTC").reason, DecisionReason::OrderInFlight);
    assert!(plan.intents.is_empty());
}

#[test]
fn an_order_not_yet_placed_counts_once_not_as_both_its_funds_and_what_they_buy() {
    // The same resting sell as above, but still in the queue (the book was thin): its 3 BTC
    // are still in the free balance, so the portfolio is worth 2,000, not 2,300.
    let market = || vec![market("BTC", dec!(100), dec!(2), DEEP)];
    let targets = [("BTC", dec!(0.5)), ("USDT", dec!(0.5))];
    let sell = resting_btc_sell();
    let mut resting = Case::new(
        &[("BTC", dec!(11)), ("USDT", dec!(600))],
        &targets,
        market(),
    );
    resting.in_flight = vec![sell.clone()];
    let mut queued = Case::new(
        &[("BTC", dec!(14)), ("USDT", dec!(600))],
        &targets,
        market(),
    );
    queued.in_flight = vec![InFlightOrder {
        placed: false,
        ..sell.clone()
    }];
    let (resting, queued) = (resting.plan(), queued.plan());
    assert_eq!(
        decision(&queued, "BTC").drift,
        decision(&resting, "BTC").drift
    );
    assert_eq!(queued.snapshot.equity, dec!(2000));
    assert!(queued.intents.is_empty());
    // A buy of 3 BTC at 100 waiting for its cycle's sells: its 300 USDT are still free.
    let buy = InFlightOrder {
        side: Side::Buy,
        placed: false,
        ..sell
    };
    let mut waiting = Case::new(
        &[("BTC", dec!(6)), ("USDT", dec!(1400))],
        &targets,
        market(),
    );
    waiting.in_flight = vec![buy];
    let plan = waiting.plan();
    assert_eq!(plan.snapshot.equity, dec!(2000));
    assert_eq!(decision(&plan, "BTC").drift, dec!(-0.05));
    // On Kraken the buy will pay its fee (0.1 %) in USDT on top: 300.30 of the cash is spoken
    // for, and once it fills the portfolio is worth that much less.
    waiting.venue = Venue::Kraken;
    let plan = waiting.plan();
    assert_eq!(plan.snapshot.equity, dec!(1999.7));
}

#[rstest::rstest]
// The cases: ETH on the 0.0001 grid, target 0, band 0: all of it, not all but a step.
#[case::band_zero(dec!(12.3457), dec!(0), Destination::BandEdge)]
#[case::band_zero_other(dec!(7.1234), dec!(0), Destination::BandEdge)]
#[case::band_zero_third(dec!(3.3333), dec!(0), Destination::BandEdge)]
// An exit trades to zero even when the policy's destination is the band edge.
#[case::band_edge_policy(dec!(12.3457), dec!(0.05), Destination::BandEdge)]
// And when it is inside the band.
#[case::inside_band_policy(dec!(12.3457), dec!(0.05), Destination::InsideBand(dec!(0.5)))]
fn an_exit_sells_the_whole_holding(
    #[case] held: Decimal,
    #[case] band: Decimal,
    #[case] destination: Destination,
) {
    let case = Case::new(
        &[("ETH", held), ("USDT", dec!(10000))],
        &[("ETH", dec!(0)), ("USDT", dec!(1))],
        vec![market_with("ETH", dec!(3450), dec!(2), DEEP, |f| {
            MarketFiltersFields {
                step_size: dec!(0.0001),
                min_qty: dec!(0.0001),
                ..f
            }
        })],
    )
    .policy(|p| {
        p.band = Band {
            absolute: Some(band),
            relative: None,
        };
        p.destination = destination;
        p.max_cost_bps = dec!(100);
    });
    let plan = case.plan();
    assert_eq!(plan.intents.len(), 1);
    assert_eq!(plan.intents[0].side, Side::Sell);
    assert_eq!(plan.intents[0].quantity, held);
}

/// One coin at 100 (minimum notional 15) and cash, the coin's target `target`, band 0.
fn small_position(held: Decimal, cash: Decimal, target: Decimal) -> Case {
    Case::new(
        &[("BTC", held), ("USDT", cash)],
        &[("BTC", target), ("USDT", Decimal::ONE - target)],
        vec![market_with("BTC", dec!(100), dec!(2), DEEP, |f| {
            MarketFiltersFields {
                min_notional: dec!(15),
                ..f
            }
        })],
    )
    .policy(|p| {
        p.band = Band {
            absolute: Some(dec!(0)),
            relative: None,
        };
        p.min_trade_notional = dec!(1);
        p.max_cost_bps = dec!(100);
    })
}

#[test]
fn a_sell_that_would_leave_unsellable_dust_sells_it_too() {
    // 0.2 BTC = 20 USDT in a 1,000 USDT portfolio, target 1%: the trade to target sells 0.1 and
    // leaves 0.1 BTC = 10 USDT, under the exchange's 15 USDT minimum: it sells all of it.
    let plan = small_position(dec!(0.2), dec!(980), dec!(0.01)).plan();
    assert_eq!(plan.intents.len(), 1);
    assert_eq!(plan.intents[0].quantity, dec!(0.2), "{plan:#?}");
    // With a leftover the exchange takes (0.3 BTC = 30 USDT), it stops at the target.
    let plan = small_position(dec!(0.5), dec!(950), dec!(0.03)).plan();
    assert_eq!(plan.intents[0].quantity, dec!(0.2));
}
