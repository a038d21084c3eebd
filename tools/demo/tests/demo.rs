//! The demo in fast mode (two cycles: the thin book, then the jump) against the local AWS
//! emulator, checked through the report it writes.

use std::collections::BTreeMap;

use driftline_demo::report::Report;
use driftline_demo::{run, scenario, start, write_outputs, Options};
use rust_decimal::Decimal;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_fills_every_order_once_and_ends_with_every_portfolio_in_its_bands() {
    if driftline_sandbox::emulator().await.is_none() {
        return;
    }
    let specs = scenario::portfolios(false).expect("the demo's portfolios parse");
    let world = start(&specs).await.expect("the demo's world starts");
    let options = Options {
        cycles: 2,
        ..Options::default()
    };
    let outcome = run(&world, &specs, &options, &mut std::io::sink()).await;
    let venue_orders = world.venue_orders().await;
    let venue_fills = world.admin_get("/admin/fills").await;
    world.stop().await;
    let report = outcome.expect("the demo runs");

    let dir = std::env::temp_dir().join(format!("driftline-demo-test-{}", std::process::id()));
    let (json, png) = write_outputs(&report, &dir).expect("outputs written");
    let read: Report =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report readable"))
            .expect("the report is the demo's JSON");
    assert!(
        std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000),
        "{png:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(read, report);

    assert_eq!(read.cycles.len(), 2);
    // Every portfolio's tables are there, and the article's first cycle trades BTC and ETH.
    let first = &read.cycles[0];
    assert_eq!(first.portfolios.len(), 5, "{first:#?}");
    let article = first
        .portfolios
        .iter()
        .find(|p| p.portfolio == "article")
        .expect("article in cycle 1");
    let traded: Vec<&str> = article
        .assets
        .iter()
        .filter(|a| a.decision == "trade")
        .map(|a| a.asset.as_str())
        .collect();
    assert_eq!(traded, ["BTC", "ETH"], "{article:#?}");

    // Orders filled: every planned order's quantity filled, across the legs of its remainder.
    // A buy re-priced higher takes fewer units for the cash the plan sized it to
    // (`leg_quantity`): what it must fill is the planned quantity at the plan's price over the
    // highest leg's, less one lot.
    assert!(!read.orders.is_empty());
    #[derive(Default)]
    struct Legs {
        wanted: Decimal,
        planned_price: Decimal,
        highest_price: Decimal,
        got: Decimal,
    }
    let mut filled: BTreeMap<(String, u32, String, String), Legs> = BTreeMap::new();
    for o in &read.orders {
        let e = filled
            .entry((
                o.portfolio.clone(),
                o.cycle,
                o.symbol.clone(),
                o.side.clone(),
            ))
            .or_default();
        if o.journey.first().is_some_and(|j| !j.contains("leg")) {
            e.wanted += o.quantity;
            e.planned_price = o.limit_price;
        }
        e.highest_price = e.highest_price.max(o.limit_price);
        e.got += o.filled_qty;
    }
    for (key, legs) in &filled {
        let (portfolio, cycle, symbol, side) = key;
        let lot = if symbol.starts_with("BTC") {
            Decimal::new(1, 5)
        } else {
            Decimal::new(1, 4)
        };
        let due = if side == "BUY" && legs.highest_price > legs.planned_price {
            legs.wanted * legs.planned_price / legs.highest_price - lot
        } else {
            legs.wanted
        };
        let (wanted, got) = (legs.wanted, legs.got);
        // A resting order the market left behind is cancelled at its deadline; the next cycle
        // plans that trade again. What it did not fill, a later cycle must have.
        let later = read.orders.iter().any(|o| {
            o.portfolio == *portfolio
                && o.cycle > *cycle
                && o.symbol == *symbol
                && o.side == *side
                && o.status == "Filled"
        });
        assert!(
            (got >= due && got <= wanted) || later,
            "{key:?} not filled ({got} of {wanted}) and not traded again later: {:#?}",
            read.orders
        );
    }
    // The thin book deferred the ETH orders of the first cycle before they were placed.
    assert!(
        read.orders
            .iter()
            .any(|o| o.cycle == 1 && o.symbol == "ETH/USDT" && o.queued >= 1),
        "{:#?}",
        read.orders
    );
    // The jump in the second cycle pushed the tight-band portfolio out: it sold BTC.
    assert!(
        read.orders
            .iter()
            .any(|o| o.cycle == 2 && o.portfolio == "steady" && o.side == "SELL"),
        "{:#?}",
        read.orders
    );

    // None duplicated: one exchange order per ledger order, no client order id twice.
    let s = &read.summary;
    assert_eq!(
        s.venue_orders,
        read.orders.len(),
        "{s:#?} {:#?}",
        read.orders
    );
    assert!(s.duplicate_client_order_ids.is_empty(), "{s:#?}");
    assert_eq!(s.dead_letters, 0);
    assert_eq!(s.not_filled, 0, "{s:#?} {:#?}", read.orders);
    assert_eq!(s.filled + s.replaced, s.orders, "{s:#?}");
    assert!(s.fees > Decimal::ZERO && s.fills >= s.filled, "{s:#?}");

    // Fees are the exchange's, to the last digit, whether an order filled at once or while
    // resting (maker fills): commissions in the base asset at their fill's price.
    let mut rested = 0;
    for o in read.orders.iter().filter(|o| !o.filled_qty.is_zero()) {
        // Each venue numbers its own orders: an order is its number on its account's venue.
        let on_venue = venue_orders
            .iter()
            .find(|v| driftline_sandbox::is_copy_of(v, &o.client_order_id))
            .expect("the order is on the venue");
        let fills: Vec<_> = venue_fills
            .iter()
            .filter(|f| f["orderId"] == on_venue["orderId"] && f["account"] == on_venue["account"])
            .collect();
        let number = |v: &serde_json::Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
        let charged: Decimal = fills
            .iter()
            .map(|f| {
                let fee = number(&f["commission"]);
                if f["commissionAsset"] == "USDT" {
                    fee
                } else {
                    fee * number(&f["price"])
                }
            })
            .sum();
        assert_eq!(o.fees_quote, charged, "{o:#?} {fills:#?}");
        rested += usize::from(fills.iter().any(|f| f["isMaker"] == true));
    }
    assert!(rested > 0, "some orders filled while resting");
    // Each portfolio traded on its own venue: the article's on Binance's dialect, steady's on
    // Kraken's, cash-heavy's on Coinbase's.
    for account in ["article", "steady", "cash-heavy"] {
        assert!(
            venue_orders.iter().any(|v| v["account"] == account),
            "no order of {account} on its venue"
        );
    }

    // Over several venues: `combined` is on target together while each account alone is all
    // BTC or all cash, and trades nothing; `routed` buys BTC on Binance, the cheaper venue
    // (0.1 % against Kraken's 0.26 %), though Kraken is its first account.
    assert!(
        read.orders.iter().all(|o| o.portfolio != "combined"),
        "{:#?}",
        read.orders
    );
    let combined = first
        .portfolios
        .iter()
        .find(|p| p.portfolio == "combined")
        .expect("combined in cycle 1");
    assert!(
        combined.assets.iter().all(|a| a.decision != "trade"),
        "{combined:#?}"
    );
    assert_eq!(combined.alone.len(), 3, "{combined:#?}");
    for alone in &combined.alone {
        assert!(
            alone.weights.iter().any(|w| w.weight == Decimal::ONE),
            "{alone:#?}"
        );
    }
    let routed: Vec<_> = read
        .orders
        .iter()
        .filter(|o| o.portfolio == "routed")
        .collect();
    assert!(!routed.is_empty());
    for order in &routed {
        // The buy and any re-priced leg of it, on Binance only.
        assert_eq!(
            (order.cycle, order.side.as_str(), order.symbol.as_str()),
            (1, "BUY", "BTC/USDT")
        );
        let on_venue = venue_orders
            .iter()
            .find(|v| driftline_sandbox::is_copy_of(v, &order.client_order_id))
            .expect("the routed order is on a venue");
        assert_eq!(on_venue["account"], "routed-binance", "{on_venue:#}");
    }
    let route = &first
        .portfolios
        .iter()
        .find(|p| p.portfolio == "routed")
        .expect("routed in cycle 1")
        .routes[0];
    let cost = |account: &str| {
        let r = route.routes.iter().find(|r| r.account == account).unwrap();
        (r.cost_bps.unwrap(), r.chosen)
    };
    let (binance, kraken) = (cost("routed-binance"), cost("routed-kraken"));
    assert!(binance.1 && !kraken.1 && binance.0 < kraken.0, "{route:#?}");
    let outcomes: BTreeMap<&str, &str> = read
        .spread
        .iter()
        .map(|s| (s.portfolio.as_str(), s.outcome.as_str()))
        .collect();
    assert!(
        outcomes["combined"].starts_with("nothing traded"),
        "{outcomes:#?}"
    );
    assert!(
        outcomes["routed"].contains("BUY BTC routed to binance routed-binance"),
        "{outcomes:#?}"
    );

    // Every portfolio within its bands at the end.
    for p in &read.final_state {
        assert!(p.within_bands, "{p:#?}");
    }
}
