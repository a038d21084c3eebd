//! Hostile input to the Kraken dialect: any parameters on a correctly signed private call, or
//! on a public one, get HTTP 200 with Kraken's `{"error": [...]}` or a result, never a 500 or a
//! panic, and never leave a balance negative.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::kraken;
use proptest::prelude::*;

static NONCE: AtomicU64 = AtomicU64::new(1);

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,6}(\\.[0-9]{1,9})?",
        "-?[0-9]{1,40}",
        Just("79228162514264337593543950335".to_owned()),
        Just("1e5".to_owned()),
        Just("buy".to_owned()),
        Just("sell".to_owned()),
        Just("limit".to_owned()),
        Just("market".to_owned()),
        Just("post".to_owned()),
        Just("GTC".to_owned()),
        Just("IOC".to_owned()),
        Just("true".to_owned()),
        Just("XBTUSD".to_owned()),
        Just("OQCLML-BW3P3-BUCMWZ".to_owned()),
        "[ -~]{0,40}",
    ]
}

fn param() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("pair"),
        Just("type"),
        Just("ordertype"),
        Just("volume"),
        Just("price"),
        Just("oflags"),
        Just("timeinforce"),
        Just("cl_ord_id"),
        Just("userref"),
        Just("validate"),
        Just("txid"),
        Just("trades"),
        Just("start"),
        Just("end"),
        Just("ofs"),
        Just("count"),
        Just("since"),
        Just("asset"),
    ];
    (name, value()).prop_map(|(n, v)| (n.to_owned(), v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(driftline_core::testing::property_cases(300)))]

    #[test]
    fn any_parameters_get_a_kraken_answer(
        params in prop::collection::vec(param(), 0..9),
        path in prop_oneof![
            Just("private/AddOrder"), Just("private/QueryOrders"), Just("private/OpenOrders"),
            Just("private/ClosedOrders"), Just("private/CancelOrder"), Just("private/TradesHistory"),
            Just("private/QueryTrades"), Just("private/TradeVolume"), Just("private/Balance"),
            Just("private/BalanceEx"), Just("public/Ticker"), Just("public/Depth"),
            Just("public/Trades"), Just("public/AssetPairs"), Just("public/Assets"),
        ],
    ) {
        let config = paper_exchange::ExchangeConfig::parse(kraken::VENUE).unwrap();
        let state = common::state_at_t0(config);
        let nonce = NONCE.fetch_add(1, Ordering::SeqCst).to_string();
        let mut pairs = vec![("nonce".to_owned(), nonce.clone())];
        pairs.extend(params.iter().cloned());
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let uri = format!("/0/{path}");
        let req = Request::builder()
            .method("POST")
            .uri(&uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("API-Key", "alice-key")
            .header("API-Sign", kraken::sign(kraken::EXAMPLE_SECRET, &uri, &nonce, &body))
            .body(Body::from(body))
            .unwrap();
        let (status, answer) = common::answer(&state, req);
        prop_assert_eq!(status, StatusCode::OK, "{} for {:?}", answer, params);
        let errors = answer["error"].as_array().expect("an error array");
        prop_assert!(errors.iter().all(|e| e.as_str().is_some_and(|s| s.starts_with('E') && s.contains(':'))), "{}", answer);
        prop_assert!(!errors.is_empty() || answer.get("result").is_some(), "{}", answer);
        common::assert_no_balance_negative(&state);
    }
}
