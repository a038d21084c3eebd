//! Hostile input on the market-data and account-history endpoints: any parameters, on a market
//! with a history, get a 200 or a 400 with the venue's error body, never a 500 or a panic
//! (times at the edges of the integer range, odd intervals, windows and time zones).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use hmac::{Hmac, Mac};
use paper_exchange::clock::ManualClock;
use paper_exchange::server::{router, AppState};
use proptest::prelude::*;
use rust_decimal::Decimal;
use sha2::Sha256;
use tower::ServiceExt;

const T0: i64 = 1_800_000_000_000;

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

fn sign(payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"alice-secret").unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
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
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = Arc::new(AppState::new(common::venue_config(), Arc::new(ManualClock::new(T0))).unwrap());
        // A history to read: moves before and after T0's second, and a trade.
        state.with_engine(|e| {
            e.set_mid("BTCUSDT", Decimal::from(101), T0 - 90_000).unwrap();
            e.advance(T0 - 1);
            e.set_mid("BTCUSDT", Decimal::from(100), T0).unwrap();
        });
        // Most requests name the market and a valid interval, so the random parameters reach
        // the code past those checks.
        let mut pairs: Vec<(String, String)> = symbol.map(|s| ("symbol".into(), s.into())).into_iter()
            .chain(interval.map(|i| ("interval".into(), i.into())))
            .chain(edge.map(|(n, t)| (n.into(), t.to_string())))
            .chain(params.iter().filter(|(n, _)| n != "symbol" && n != "interval").cloned())
            .collect();
        pairs.push(("timestamp".into(), T0.to_string()));
        let query = serde_urlencoded::to_string(&pairs).unwrap();
        let uri = format!("/api/v3/{path}?{query}&signature={}", sign(&query));
        let app = router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        let req = Request::builder().method("GET").uri(uri).header("X-MBX-APIKEY", "alice-key").body(Body::empty()).unwrap();
        let (status, body) = rt.block_on(async {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        });
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {body} for {path} {params:?}");
        if status == StatusCode::BAD_REQUEST {
            let code = body["code"].as_i64().unwrap_or(0);
            prop_assert!(code < -1000 && body["msg"].is_string(), "{body}");
        }
    }
}
