//! Real response bodies (the shapes of the exchange's documentation) read into domain types.

use driftline_core::ports::ExchangeOrderStatus;
use driftline_core::{Side, Symbol, TradingStatus};
use driftline_exchange::{
    parse_account, parse_depth, parse_exchange_info, parse_order, parse_orders, parse_server_time,
    LimitKind,
};
use rust_decimal_macros::dec;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn btc() -> Symbol {
    "BTC/USDT".parse().unwrap()
}

#[test]
fn exchange_info_maps_symbols_from_assets_and_reads_filters_and_limits() {
    let info = parse_exchange_info(&fixture("exchange_info.json")).unwrap();

    let windows = info.rate_limits.windows();
    assert_eq!(windows.len(), 3, "RAW_REQUESTS is not tracked");
    assert_eq!(windows[0].kind(), LimitKind::RequestWeight);
    assert_eq!(windows[0].limit(), 6000);
    assert_eq!(windows[0].header(), "x-mbx-used-weight-1m");
    assert_eq!(windows[1].header(), "x-mbx-order-count-10s");

    let btc_market = info.markets.iter().find(|m| m.symbol == btc()).unwrap();
    assert_eq!(btc_market.exchange_symbol, "BTCUSDT");
    let f = btc_market.filters.as_ref().unwrap();
    assert_eq!(f.tick_size(), dec!(0.01));
    assert_eq!(f.step_size(), dec!(0.00001));
    assert_eq!(f.min_qty(), dec!(0.00001));
    assert_eq!(f.max_qty(), Some(dec!(9000)));
    assert_eq!(f.min_notional(), dec!(5), "from NOTIONAL");
    assert!(f.status().is_trading());

    // ETHBTC: symbol from its assets, MIN_NOTIONAL when NOTIONAL is absent, status kept.
    let eth: Symbol = "ETH/BTC".parse().unwrap();
    let eth_market = info.markets.iter().find(|m| m.symbol == eth).unwrap();
    assert_eq!(eth_market.exchange_symbol, "ETHBTC");
    let f = eth_market.filters.as_ref().unwrap();
    assert_eq!(f.min_notional(), dec!(0.0001));
    assert_eq!(f.status(), &TradingStatus::Break);

    // A market with unusable filters is kept with an error naming the field.
    let bad = info
        .markets
        .iter()
        .find(|m| m.exchange_symbol == "BADUSDT")
        .unwrap();
    let err = bad.filters.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("BADUSDT") && err.contains("tick_size"),
        "{err}"
    );

    // A market whose assets are not asset codes cannot be asked for, so it is left out.
    assert!(!info
        .markets
        .iter()
        .any(|m| m.exchange_symbol == "odd-thing"));
}

#[test]
fn depth_levels_become_exact_decimals() {
    let book = parse_depth(&fixture("depth.json"), &btc(), 100).unwrap();
    assert_eq!(book.best_bid().unwrap().value(), dec!(4));
    assert_eq!(book.best_ask().unwrap().value(), dec!(4.000002));
    assert_eq!(book.bids()[1].quantity, dec!(9));
    assert_eq!(book.asks().len(), 2);
}

#[test]
fn depth_keeps_the_levels_asked_for() {
    let book = parse_depth(&fixture("depth.json"), &btc(), 1).unwrap();
    assert_eq!((book.bids().len(), book.asks().len()), (1, 1));
    assert_eq!(book.asks()[0].price.value(), dec!(4.000002));
}

#[test]
fn a_crossed_or_unreadable_book_is_an_error_naming_the_level() {
    let crossed = br#"{"lastUpdateId":1,"bids":[["5","1"]],"asks":[["4","1"]]}"#;
    assert!(parse_depth(crossed, &btc(), 100)
        .unwrap_err()
        .to_string()
        .contains("crossed"));
    let bad = br#"{"lastUpdateId":1,"bids":[["4","1"]],"asks":[["4.1","1e"]]}"#;
    let err = parse_depth(bad, &btc(), 100).unwrap_err();
    assert_eq!(err.field, "asks[0][1]");
    assert!(err.reason.contains("\"1e\""), "{err}");
}

#[test]
fn account_keeps_held_assets_only() {
    let balances = parse_account(&fixture("account.json")).unwrap();
    let shown: Vec<_> = balances
        .iter()
        .map(|b| (b.asset.as_str(), b.free, b.locked))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("BTC", dec!(4723846.89208129), dec!(0)),
            ("LTC", dec!(4763368.68006011), dec!(0)),
            ("USDT", dec!(0), dec!(12.5)),
        ]
    );
}

#[test]
fn a_full_placement_answer_carries_its_fills() {
    let r = parse_order(&fixture("order_full.json"), &btc(), "BTCUSDT").unwrap();
    assert_eq!(r.exchange_order_id, 28.into());
    assert_eq!(r.client_order_id.as_str(), "dl1-6gCrw2kRUAF9CvJDGP16IP");
    assert_eq!(r.side, Side::Buy);
    assert_eq!(r.status, ExchangeOrderStatus::PartiallyFilled);
    assert_eq!(r.price.value(), dec!(64230));
    assert_eq!(r.orig_qty, dec!(0.003));
    assert_eq!(r.executed_qty, dec!(0.002));
    assert_eq!(r.cumulative_quote_qty, dec!(128.458));
    assert_eq!(r.updated_at_ms, 1507725176595);
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.fills[0].price.value(), dec!(64229));
    assert_eq!(r.fills[0].quantity, dec!(0.001));
    assert_eq!(r.fills[0].commission, dec!(0.000001));
    assert_eq!(r.fills[0].commission_asset.as_str(), "BTC");
}

#[test]
fn a_query_answer_uses_update_time() {
    let r = parse_order(&fixture("order_query.json"), &btc(), "BTCUSDT").unwrap();
    assert_eq!(r.client_order_id.as_str(), "myOrder1");
    assert_eq!(r.status, ExchangeOrderStatus::New);
    assert_eq!(r.updated_at_ms, 1499827319560);
    assert!(r.fills.is_empty());
}

#[test]
fn a_cancel_answer_names_the_order_by_its_original_client_id() {
    let r = parse_order(&fixture("order_cancel.json"), &btc(), "BTCUSDT").unwrap();
    assert_eq!(
        r.client_order_id.as_str(),
        "myOrder1",
        "not the cancel's own id"
    );
    assert_eq!(r.status, ExchangeOrderStatus::Canceled);
    assert_eq!(r.updated_at_ms, 1684804350068);
}

#[test]
fn open_orders_name_the_failing_index() {
    let one = String::from_utf8(fixture("order_query.json")).unwrap();
    let broken = one.replace("\"price\": \"0.1\"", "\"price\": \"0\"");
    let list = format!("[{one},{broken}]");
    let err = parse_orders(list.as_bytes(), &btc(), "BTCUSDT").unwrap_err();
    assert_eq!(err.field, "[1].price");
    let ok = parse_orders(format!("[{one},{one}]").as_bytes(), &btc(), "BTCUSDT").unwrap();
    assert_eq!(ok.len(), 2);
}

#[test]
fn an_answer_for_another_market_is_refused() {
    let err = parse_order(&fixture("order_query.json"), &btc(), "ETHBTC").unwrap_err();
    assert_eq!(err.field, "symbol");
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    for body in [
        &b""[..],
        b"not json",
        b"{",
        b"[]",
        b"{\"symbol\": 5}",
        b"{\"serverTime\": \"soon\"}",
        &[0xff, 0xfe, 0x00],
    ] {
        assert!(parse_order(body, &btc(), "BTCUSDT").is_err());
        assert!(parse_depth(body, &btc(), 100).is_err());
        assert!(parse_account(body).is_err());
        assert!(parse_exchange_info(body).is_err());
        assert!(parse_server_time(body).is_err());
    }
    let err = parse_server_time(b"{\"serverTime\": \"soon\"}").unwrap_err();
    assert_eq!(err.field, "serverTime");
    assert_eq!(
        parse_server_time(b"{\"serverTime\": 1499827319559}"),
        Ok(1499827319559)
    );
}
