//! The matching engine as a specification: case tables for the venue's rules, and properties
//! that hold across any sequence of orders.

mod common;

use std::collections::BTreeMap;

use driftline_core::{Asset, Side};
use paper_exchange::config::Dialect;
use paper_exchange::engine::{
    Engine, EngineError, NewOrder, OrderRef, OrderType, TimeInForce, VenueStatus,
};
use proptest::prelude::*;
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const NOW: i64 = 1_700_000_000_000;

fn engine() -> Engine {
    Engine::new(&common::venue_config()).unwrap()
}

fn asset(code: &str) -> Asset {
    Asset::new(code).unwrap()
}

fn limit(side: Side, tif: TimeInForce, qty: Decimal, price: Decimal) -> NewOrder {
    NewOrder {
        symbol: "BTCUSDT".into(),
        side,
        order_type: OrderType::Limit,
        time_in_force: Some(tif),
        quantity: Some(qty),
        quote_order_qty: None,
        price: Some(price),
        client_order_id: None,
    }
}

fn market(side: Side, qty: Decimal) -> NewOrder {
    NewOrder {
        order_type: OrderType::Market,
        time_in_force: None,
        price: None,
        ..limit(side, TimeInForce::Gtc, qty, dec!(1))
    }
}

fn balance(e: &Engine, account: &str, code: &str) -> (Decimal, Decimal) {
    let b = e
        .balances(account)
        .unwrap()
        .get(&asset(code))
        .copied()
        .unwrap_or_default();
    (b.free.normalize(), b.locked.normalize())
}

#[rstest]
// Takes the best ask, then part of the next.
#[case::market_walks_the_book(market(Side::Buy, dec!(1.5)), VenueStatus::Filled, dec!(1.5), dec!(150.2), vec![(dec!(100.1), dec!(1)), (dec!(100.2), dec!(0.5))])]
#[case::market_sell_hits_bids(market(Side::Sell, dec!(2)), VenueStatus::Filled, dec!(2), dec!(199.7), vec![(dec!(99.9), dec!(1)), (dec!(99.8), dec!(1))])]
#[case::market_larger_than_the_book_expires(market(Side::Buy, dec!(5)), VenueStatus::Expired, dec!(3), dec!(300.6), vec![(dec!(100.1), dec!(1)), (dec!(100.2), dec!(1)), (dec!(100.3), dec!(1))])]
#[case::ioc_fills_what_it_can_and_expires(limit(Side::Buy, TimeInForce::Ioc, dec!(5), dec!(100.2)), VenueStatus::Expired, dec!(2), dec!(200.3), vec![(dec!(100.1), dec!(1)), (dec!(100.2), dec!(1))])]
#[case::fok_that_cannot_fill_fully_does_nothing(limit(Side::Buy, TimeInForce::Fok, dec!(5), dec!(100.2)), VenueStatus::Expired, dec!(0), dec!(0), vec![])]
#[case::fok_that_can_fill_fills(limit(Side::Buy, TimeInForce::Fok, dec!(2), dec!(100.2)), VenueStatus::Filled, dec!(2), dec!(200.3), vec![(dec!(100.1), dec!(1)), (dec!(100.2), dec!(1))])]
#[case::gtc_takes_then_rests(limit(Side::Buy, TimeInForce::Gtc, dec!(2.5), dec!(100.2)), VenueStatus::PartiallyFilled, dec!(2), dec!(200.3), vec![(dec!(100.1), dec!(1)), (dec!(100.2), dec!(1))])]
#[case::gtc_below_the_ask_rests_untouched(limit(Side::Buy, TimeInForce::Gtc, dec!(1), dec!(100)), VenueStatus::New, dec!(0), dec!(0), vec![])]
#[case::limit_price_improves_to_the_book(limit(Side::Sell, TimeInForce::Ioc, dec!(1), dec!(95)), VenueStatus::Filled, dec!(1), dec!(99.9), vec![(dec!(99.9), dec!(1))])]
fn orders_match_against_the_book(
    #[case] order: NewOrder,
    #[case] status: VenueStatus,
    #[case] executed: Decimal,
    #[case] quote: Decimal,
    #[case] fills: Vec<(Decimal, Decimal)>,
) {
    let mut e = engine();
    let placed = e.place_order("alice", order, NOW).unwrap();
    assert_eq!(placed.order.status, status);
    assert_eq!(placed.order.executed_qty, executed);
    assert_eq!(placed.order.cumulative_quote_qty, quote);
    let got: Vec<_> = placed.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(got, fills);
}

#[rstest]
#[case::price_off_the_tick(limit(Side::Buy, TimeInForce::Gtc, dec!(1), dec!(100.005)), EngineError::Filter("PRICE_FILTER"))]
#[case::quantity_off_the_step(limit(Side::Buy, TimeInForce::Gtc, dec!(1.0005), dec!(100)), EngineError::Filter("LOT_SIZE"))]
#[case::quantity_over_the_maximum(limit(Side::Buy, TimeInForce::Gtc, dec!(101), dec!(1)), EngineError::Filter("LOT_SIZE"))]
#[case::notional_under_the_minimum(limit(Side::Buy, TimeInForce::Gtc, dec!(0.01), dec!(100)), EngineError::Filter("NOTIONAL"))]
#[case::market_quantity_off_the_step(market(Side::Sell, dec!(0.0001)), EngineError::Filter("MARKET_LOT_SIZE"))]
#[case::zero_quantity(limit(Side::Buy, TimeInForce::Gtc, dec!(0), dec!(100)), EngineError::InvalidQuantity)]
#[case::zero_price(limit(Side::Buy, TimeInForce::Gtc, dec!(1), dec!(0)), EngineError::InvalidPrice)]
#[case::unknown_symbol(NewOrder { symbol: "DOGEUSDT".into(), ..market(Side::Buy, dec!(1)) }, EngineError::UnknownSymbol)]
#[case::buy_beyond_the_quote_balance(limit(Side::Buy, TimeInForce::Gtc, dec!(20), dec!(99)), EngineError::InsufficientBalance)]
#[case::sell_beyond_the_base_balance(limit(Side::Sell, TimeInForce::Gtc, dec!(6), dec!(101)), EngineError::InsufficientBalance)]
#[case::maker_that_would_take(NewOrder { order_type: OrderType::LimitMaker, time_in_force: None, ..limit(Side::Buy, TimeInForce::Gtc, dec!(1), dec!(100.1)) }, EngineError::WouldTake)]
fn rejections_carry_the_venue_code(#[case] order: NewOrder, #[case] expected: EngineError) {
    let mut e = engine();
    let before = e.asset_totals();
    let err = e.place_order("bob", order, NOW).unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(
        e.orders().count(),
        0,
        "a rejected order leaves nothing behind"
    );
    assert_eq!(e.asset_totals(), before);
}

#[test]
fn error_codes_and_messages_are_the_venues() {
    let table = [
        (EngineError::UnknownSymbol, -1121, "Invalid symbol."),
        (
            EngineError::Filter("LOT_SIZE"),
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            EngineError::InsufficientBalance,
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (EngineError::DuplicateOrder, -2010, "Duplicate order sent."),
        (
            EngineError::WouldTake,
            -2010,
            "Order would immediately match and take.",
        ),
        (EngineError::OrderNotFound, -2013, "Order does not exist."),
        (
            EngineError::UnknownOrderToCancel,
            -2011,
            "Unknown order sent.",
        ),
    ];
    for (err, code, msg) in table {
        assert_eq!((err.code(), err.to_string().as_str()), (code, msg));
    }
}

#[test]
fn fees_are_charged_in_the_asset_received_at_maker_or_taker_rate() {
    let mut e = engine();
    let buy = e
        .place_order("alice", market(Side::Buy, dec!(1)), NOW)
        .unwrap();
    let f = &buy.fills[0];
    assert_eq!(
        (f.commission, f.commission_asset.as_str(), f.is_maker),
        (dec!(0.002), "BTC", false)
    );
    assert_eq!(balance(&e, "alice", "BTC"), (dec!(10.998), dec!(0)));
    assert_eq!(balance(&e, "alice", "USDT"), (dec!(9899.9), dec!(0)));
    let sell = e
        .place_order("bob", market(Side::Sell, dec!(1)), NOW)
        .unwrap();
    let f = &sell.fills[0];
    assert_eq!(
        (f.commission, f.commission_asset.as_str()),
        (dec!(0.1998), "USDT")
    );
    assert_eq!(balance(&e, "bob", "USDT"), (dec!(1099.7002), dec!(0)));
}

#[test]
fn a_resting_order_locks_its_funds_and_cancel_releases_them() {
    let mut e = engine();
    let placed = e
        .place_order(
            "bob",
            limit(Side::Buy, TimeInForce::Gtc, dec!(2), dec!(99.5)),
            NOW,
        )
        .unwrap();
    assert_eq!(balance(&e, "bob", "USDT"), (dec!(801), dec!(199)));
    let cancelled = e
        .cancel_order(
            "bob",
            "BTCUSDT",
            &OrderRef::Id(placed.order.order_id),
            NOW + 1,
        )
        .unwrap();
    assert_eq!(cancelled.status, VenueStatus::Canceled);
    assert_eq!(balance(&e, "bob", "USDT"), (dec!(1000), dec!(0)));
    assert_eq!(
        e.cancel_order(
            "bob",
            "BTCUSDT",
            &OrderRef::Id(placed.order.order_id),
            NOW + 2
        ),
        Err(EngineError::UnknownOrderToCancel),
        "a cancelled order cannot be cancelled again"
    );
}

#[test]
fn a_buy_that_fills_below_its_limit_gets_the_difference_back() {
    let mut e = engine();
    e.place_order(
        "bob",
        limit(Side::Buy, TimeInForce::Ioc, dec!(1), dec!(100.3)),
        NOW,
    )
    .unwrap();
    // Locked 100.3, paid 100.1: 0.2 comes back.
    assert_eq!(balance(&e, "bob", "USDT"), (dec!(899.9), dec!(0)));
}

#[test]
fn a_client_order_id_is_refused_while_its_order_is_open_and_free_after() {
    let mut e = engine();
    let with_id = |id: &str| NewOrder {
        client_order_id: Some(id.into()),
        ..limit(Side::Buy, TimeInForce::Gtc, dec!(1), dec!(99))
    };
    let first = e.place_order("alice", with_id("leg-1"), NOW).unwrap();
    assert_eq!(
        e.place_order("alice", with_id("leg-1"), NOW),
        Err(EngineError::DuplicateOrder)
    );
    assert!(
        e.place_order("bob", with_id("leg-1"), NOW).is_ok(),
        "ids are per account"
    );
    e.cancel_order("alice", "BTCUSDT", &OrderRef::ClientId("leg-1".into()), NOW)
        .unwrap();
    let second = e.place_order("alice", with_id("leg-1"), NOW).unwrap();
    let found = e
        .order("alice", "BTCUSDT", &OrderRef::ClientId("leg-1".into()))
        .unwrap();
    assert_eq!(
        found.order_id, second.order.order_id,
        "the latest order with that id"
    );
    assert_ne!(first.order.order_id, second.order.order_id);
    assert_eq!(
        e.order("alice", "BTCUSDT", &OrderRef::Id(999)),
        Err(EngineError::OrderNotFound)
    );
}

#[test]
fn a_resting_order_fills_as_maker_when_the_market_moves_through_it() {
    let mut e = engine();
    let placed = e
        .place_order(
            "alice",
            limit(Side::Buy, TimeInForce::Gtc, dec!(1.5), dec!(99.5)),
            NOW,
        )
        .unwrap();
    assert_eq!(placed.order.status, VenueStatus::New);
    // Mid 99: asks at 99.1, 99.2, 99.3 all cross the bid at 99.5.
    e.set_mid("BTCUSDT", dec!(99), NOW + 1).unwrap();
    let o = e
        .order("alice", "BTCUSDT", &OrderRef::Id(placed.order.order_id))
        .unwrap();
    assert_eq!(
        (o.status, o.executed_qty, o.cumulative_quote_qty),
        (VenueStatus::Filled, dec!(1.5), dec!(149.25))
    );
    let fills: Vec<_> = e
        .fills()
        .iter()
        .map(|f| (f.price, f.qty, f.is_maker, f.commission))
        .collect();
    assert_eq!(
        fills,
        vec![
            (dec!(99.5), dec!(1), true, dec!(0.001)),
            (dec!(99.5), dec!(0.5), true, dec!(0.0005))
        ]
    );
    assert_eq!(balance(&e, "alice", "USDT"), (dec!(9850.75), dec!(0)));
}

#[test]
fn resting_orders_fill_in_price_then_time_priority() {
    let mut e = engine();
    let alice = e
        .place_order(
            "alice",
            limit(Side::Sell, TimeInForce::Gtc, dec!(1), dec!(100.05)),
            NOW,
        )
        .unwrap();
    let bob = e
        .place_order(
            "bob",
            limit(Side::Sell, TimeInForce::Gtc, dec!(1), dec!(100.05)),
            NOW,
        )
        .unwrap();
    let better = e
        .place_order(
            "bob",
            limit(Side::Sell, TimeInForce::Gtc, dec!(0.2), dec!(100.01)),
            NOW,
        )
        .unwrap();
    let taker = e
        .place_order("alice", market(Side::Buy, dec!(1.7)), NOW)
        .unwrap();
    let got: Vec<_> = taker.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(
        got,
        vec![
            (dec!(100.01), dec!(0.2)),
            (dec!(100.05), dec!(1)),
            (dec!(100.05), dec!(0.5))
        ]
    );
    let status = |id| {
        e.order("alice", "BTCUSDT", &OrderRef::Id(id))
            .or_else(|_| e.order("bob", "BTCUSDT", &OrderRef::Id(id)))
            .unwrap()
            .status
    };
    assert_eq!(status(better.order.order_id), VenueStatus::Filled);
    assert_eq!(
        status(alice.order.order_id),
        VenueStatus::Filled,
        "first at 100.05 fills first"
    );
    assert_eq!(status(bob.order.order_id), VenueStatus::PartiallyFilled);
    let maker_fill = e
        .fills()
        .iter()
        .find(|f| f.order_id == alice.order.order_id)
        .unwrap();
    assert_eq!(
        (
            maker_fill.is_maker,
            maker_fill.commission,
            maker_fill.commission_asset.as_str()
        ),
        (true, dec!(0.10005), "USDT")
    );
}

/// Wherever the fee is charged, a buy of 150 USDT spends at most 150 USDT in all: on Kraken
/// and Coinbase the fee on top comes out of the amount, as Coinbase's `quote_size` does.
#[rstest]
#[case::binance_fee_from_the_coins(Dialect::Binance, dec!(1.498), dec!(149.9996), dec!(0))]
#[case::kraken_fee_on_top(Dialect::Kraken, dec!(1.495), dec!(149.699), dec!(0.299398))]
#[case::coinbase_fee_on_top(Dialect::Coinbase, dec!(1.495), dec!(149.699), dec!(0.299398))]
fn a_quote_amount_market_buy_spends_the_amount_fee_included(
    #[case] dialect: Dialect,
    #[case] executed: Decimal,
    #[case] cost: Decimal,
    #[case] fee_in_quote: Decimal,
) {
    let cfg = paper_exchange::venues::in_dialect(common::venue_config(), dialect).unwrap();
    let mut e = Engine::new(&cfg).unwrap();
    let before = balance(&e, "alice", "USDT").0;
    let order = NewOrder {
        quantity: None,
        quote_order_qty: Some(dec!(150)),
        ..market(Side::Buy, dec!(1))
    };
    let placed = e.place_order("alice", order, NOW).unwrap();
    assert_eq!(placed.order.status, VenueStatus::Filled);
    assert_eq!(placed.order.executed_qty, executed);
    assert_eq!(placed.order.cumulative_quote_qty.normalize(), cost);
    let spent = before - balance(&e, "alice", "USDT").0;
    assert_eq!(spent, cost + fee_in_quote);
    assert!(spent <= dec!(150), "{spent}");
    assert_eq!(balance(&e, "alice", "USDT").1, dec!(0), "nothing left held");
}

#[test]
fn taken_depth_replenishes_on_ticks() {
    let cfg = common::venue_config_with(&[(
        "replenish_per_tick = \"1\"",
        "replenish_per_tick = \"0.5\"",
    )]);
    let mut e = Engine::new(&cfg).unwrap();
    e.place_order("alice", market(Side::Buy, dec!(1)), NOW)
        .unwrap();
    let best_ask = |e: &Engine| e.depth("BTCUSDT", 1).unwrap().1[0];
    assert_eq!(best_ask(&e), (dec!(100.2), dec!(1)));
    e.advance(NOW + 1);
    assert_eq!(best_ask(&e), (dec!(100.1), dec!(0.5)));
    e.advance(NOW + 2);
    assert_eq!(best_ask(&e), (dec!(100.1), dec!(0.75)));
}

#[test]
fn the_random_walk_is_seeded_and_stays_on_the_tick_grid() {
    let cfg = common::venue_config_with(&[("volatility_bps = \"0\"", "volatility_bps = \"50\"")]);
    let walk = || {
        let mut e = Engine::new(&cfg).unwrap();
        (0..50)
            .map(|i| {
                e.advance(NOW + i);
                e.mid("BTCUSDT").unwrap()
            })
            .collect::<Vec<_>>()
    };
    let first = walk();
    assert_eq!(first, walk(), "same seed, same market");
    assert!(first.iter().all(|m| (m % dec!(0.01)).is_zero()));
    assert!(
        first
            .windows(2)
            .all(|w| ((w[1] - w[0]) / w[0]).abs() <= dec!(0.005)),
        "no step beyond 50 bps"
    );
    assert!(first.windows(2).any(|w| w[0] != w[1]), "the market moves");
}

#[test]
fn a_thin_book_shows_a_fraction_of_the_depth() {
    let mut e = engine();
    e.set_depth_factor("BTCUSDT", dec!(0.05));
    let (bids, asks) = e.depth("BTCUSDT", 10).unwrap();
    assert!(bids.iter().chain(&asks).all(|(_, q)| *q == dec!(0.05)));
    let placed = e
        .place_order("alice", market(Side::Buy, dec!(1)), NOW)
        .unwrap();
    assert_eq!(
        (placed.order.status, placed.order.executed_qty),
        (VenueStatus::Expired, dec!(0.15))
    );
}

// ---- properties ----

#[derive(Debug, Clone)]
enum Op {
    Place {
        bob: bool,
        side: Side,
        kind: u8,
        qty_milli: u32,
        price_offset_cents: i32,
    },
    Cancel {
        nth: usize,
    },
    Advance,
    SetMid {
        cents: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), any::<bool>(), 0u8..6, 1u32..4000, -150i32..150).prop_map(|(bob, buy, kind, qty_milli, price_offset_cents)| Op::Place {
            bob,
            side: if buy { Side::Buy } else { Side::Sell },
            kind,
            qty_milli,
            price_offset_cents,
        }),
        2 => (0usize..8).prop_map(|nth| Op::Cancel { nth }),
        1 => Just(Op::Advance),
        1 => (9_500u32..10_500).prop_map(|cents| Op::SetMid { cents }),
    ]
}

fn apply(e: &mut Engine, op: &Op, t: i64) {
    match op {
        Op::Place {
            bob,
            side,
            kind,
            qty_milli,
            price_offset_cents,
        } => {
            let account = if *bob { "bob" } else { "alice" };
            let qty = Decimal::new(i64::from(*qty_milli), 3);
            let price = (e.mid("BTCUSDT").unwrap()
                + Decimal::new(i64::from(*price_offset_cents), 2))
            .max(dec!(0.01));
            let order = match kind {
                0 => limit(*side, TimeInForce::Gtc, qty, price),
                1 => limit(*side, TimeInForce::Ioc, qty, price),
                2 => limit(*side, TimeInForce::Fok, qty, price),
                3 => NewOrder {
                    order_type: OrderType::LimitMaker,
                    time_in_force: None,
                    ..limit(*side, TimeInForce::Gtc, qty, price)
                },
                4 => market(*side, qty),
                _ => NewOrder {
                    quantity: None,
                    quote_order_qty: Some(qty * dec!(10)),
                    ..market(*side, qty)
                },
            };
            // Rejections are part of the sequence; they must change nothing.
            let _ = e.place_order(account, order, t);
        }
        Op::Cancel { nth } => {
            let open: Vec<_> = e
                .orders()
                .filter(|o| o.status.is_open())
                .map(|o| (o.account.clone(), o.order_id))
                .collect();
            if let Some((account, id)) = open.get(nth % open.len().max(1)) {
                e.cancel_order(account, "BTCUSDT", &OrderRef::Id(*id), t)
                    .unwrap();
            }
        }
        Op::Advance => e.advance(t),
        Op::SetMid { cents } => e
            .set_mid("BTCUSDT", Decimal::new(i64::from(*cents), 2), t)
            .unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(driftline_core::testing::property_cases(200)))]

    /// In every dialect: Binance's fees come out of what is received, Kraken's and Coinbase's
    /// buys pay theirs in the quote on top, held at placement.
    #[test]
    fn balances_never_go_negative_and_value_is_conserved(
        ops in prop::collection::vec(op(), 1..40),
        dialect in prop::sample::select(vec![Dialect::Binance, Dialect::Kraken, Dialect::Coinbase]),
    ) {
        let cfg = common::venue_config_with(&[
            ("volatility_bps = \"0\"", "volatility_bps = \"80\""),
            ("replenish_per_tick = \"1\"", "replenish_per_tick = \"0.3\""),
        ]);
        let cfg = paper_exchange::venues::in_dialect(cfg, dialect).unwrap();
        let fee_on_top = dialect != Dialect::Binance;
        let mut e = Engine::new(&cfg).unwrap();
        let initial = e.asset_totals();
        for (i, op) in ops.iter().enumerate() {
            apply(&mut e, op, NOW + i as i64);
            for (account, balances) in e.all_balances() {
                for (a, b) in balances {
                    prop_assert!(b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO, "{account} {a}: {b:?} after {op:?}");
                }
            }
            // Accounts + fees + what the simulated market paid or received: unchanged.
            prop_assert_eq!(&e.asset_totals(), &initial, "after {:?}", op);
            // What accounts hold locked is exactly what their open orders hold.
            let mut held: BTreeMap<(String, Asset), Decimal> = BTreeMap::new();
            for o in e.orders() {
                prop_assert!(o.status.is_open() || o.locked.is_zero(), "closed order {} still holds {}", o.order_id, o.locked);
                prop_assert!(o.executed_qty <= o.orig_qty || o.orig_qty.is_zero());
                let a = if o.side == Side::Buy { asset("USDT") } else { asset("BTC") };
                *held.entry((o.account.clone(), a)).or_default() += o.locked;
            }
            for (account, balances) in e.all_balances() {
                for (a, b) in balances {
                    let want = held.get(&(account.to_owned(), a.clone())).copied().unwrap_or_default();
                    prop_assert_eq!(b.locked.normalize(), want.normalize(), "{} {}", account, a);
                }
            }
            // Fees are never more than the traded amount's fee rate allows, in the asset the
            // dialect charges them in.
            for f in e.fills() {
                let in_quote = f.side == Side::Sell || fee_on_top;
                let charged_on = if in_quote { f.quote_qty } else { f.qty };
                let rate = if f.is_maker { dec!(0.001) } else { dec!(0.002) };
                prop_assert!(f.commission <= (charged_on * rate).round_dp(8));
                let fee_asset = if in_quote { asset("USDT") } else { asset("BTC") };
                prop_assert_eq!(&f.commission_asset, &fee_asset);
            }
        }
    }
}
