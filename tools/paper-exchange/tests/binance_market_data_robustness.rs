//! Hostile input on the market-data and account-history endpoints: any parameters, on a market
//! with a history, get a 200 or a 400 with the venue's error body, never a 500 or a panic
//! (times at the edges of the integer range, odd intervals, windows and time zones).

mod common;

use axum::http::StatusCode;
use common::T0;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,20}",
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
        Just(u64::MAX.to_string()),
        Just((T0 - 3_600_000).to_string()),
        Just((T0 + 60_000).to_string()),
        Just("BTCUSDT".to_owned()),
        Just(r#"["BTCUSDT"]"#.to_owned()),
        Just(r#"["BTCUSDT","NOPE"]"#.to_owned()),
        prop::sample::select(vec![
            "1s", "1m", "3d", "1w", "1M", "0m", "60m", "7d", "8d", "1d2h"
        ])
        .prop_map(str::to_owned),
        prop::sample::select(vec![
            "FULL", "MINI", "SPOT", "TRADING", "14:00", "-12:00", "+5:45", "-"
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,12}",
    ]
}

fn param() -> impl Strategy<Value = (String, String)> {
    let name = prop::sample::select(vec![
        "symbol",
        "symbols",
        "interval",
        "startTime",
        "endTime",
        "limit",
        "fromId",
        "orderId",
        "type",
        "windowSize",
        "timeZone",
        "permissions",
        "symbolStatus",
        "omitZeroBalances",
    ]);
    (name, value()).prop_map(|(n, v)| (n.to_owned(), v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(driftline_core::testing::property_cases(300)))]

    #[test]
    fn market_data_requests_with_any_parameters_get_a_venue_answer(
        symbol in prop::option::weighted(0.9, Just("BTCUSDT")),
        interval in prop::option::weighted(0.7, prop::sample::select(vec!["1s", "1m", "1h", "1d", "1w", "1M"])),
        edge in prop::option::weighted(0.5, (
            prop::sample::select(vec!["startTime", "endTime"]),
            prop::sample::select(vec![i64::MAX, i64::MIN, -1, 0, 253_402_300_799_999, T0 - 1, T0 + 1]),
        )),
        params in prop::collection::vec(param(), 0..5),
        // Weighted toward klines and aggTrades, which do the most arithmetic on times.
        path in prop_oneof![
            3 => prop::sample::select(vec!["klines", "uiKlines", "aggTrades"]),
            2 => prop::sample::select(vec![
                "ticker/24hr", "ticker", "ticker/tradingDay", "avgPrice", "trades",
                "historicalTrades", "allOrders", "account/commission", "account", "exchangeInfo",
            ]),
        ],
    ) {
        let state = common::state_at_t0(common::venue_config());
        // A history to read: moves before and after T0's second, and a trade.
        state.with_engine(|e| {
            e.set_mid("BTCUSDT", Decimal::from(101), T0 - 90_000).unwrap();
            e.advance(T0 - 1);
            e.set_mid("BTCUSDT", Decimal::from(100), T0).unwrap();
        });
        // Most requests name the market and a valid interval, so the random parameters reach
        // the code past those checks.
        let pairs: Vec<(String, String)> = symbol.map(|s| ("symbol".into(), s.into())).into_iter()
            .chain(interval.map(|i| ("interval".into(), i.into())))
            .chain(edge.map(|(n, t)| (n.into(), t.to_string())))
            .chain(params.iter().filter(|(n, _)| n != "symbol" && n != "interval").cloned())
            .collect();
        let (status, body) = common::answer(&state, common::alice_signed("GET", path, &pairs));
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {body} for {path} {params:?}");
        if status == StatusCode::BAD_REQUEST {
            let code = body["code"].as_i64().unwrap_or(0);
            prop_assert!(code < -1000 && body["msg"].is_string(), "{body}");
        }
    }
}
