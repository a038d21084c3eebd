//! Hostile input to the Kraken dialect: any parameters on a correctly signed private call, or
//! on a public one, get HTTP 200 with Kraken's `{"error": [...]}` or a result, never a 500 or a
//! panic, and never leave a balance negative.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use paper_exchange::clock::ManualClock;
use paper_exchange::server::{router, AppState};
use paper_exchange::{paper_account, paper_market, paper_venue_head};
use proptest::prelude::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256, Sha512};
use tower::ServiceExt;

const T0: i64 = 1_800_000_000_000;
const SECRET: &str = "Ym9iLWtyYWtlbi1zZWNyZXQtZm9yLXRoZS1wYXBlci12ZW51ZQ==";
const VENUE: &str = concat!(
    "dialect = \"kraken\"\n",
    paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
    paper_market!("BTC" / "USD": step = "0.0001", max_qty = "100", mid = "40000",
        spread_bps = "20", depth = 3 x "1" every "10" bps),
    paper_account!("alice", key = "alice-key",
        secret = "Ym9iLWtyYWtlbi1zZWNyZXQtZm9yLXRoZS1wYXBlci12ZW51ZQ==",
        balances = { USD = "100000", BTC = "10" }),
);

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

fn sign(path: &str, nonce: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(&STANDARD.decode(SECRET).unwrap()).unwrap();
    mac.update(path.as_bytes());
    mac.update(&Sha256::digest(format!("{nonce}{body}").as_bytes()));
    STANDARD.encode(mac.finalize().into_bytes())
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
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = paper_exchange::ExchangeConfig::parse(VENUE).unwrap();
        let state = Arc::new(AppState::new(config, Arc::new(ManualClock::new(T0))).unwrap());
        let nonce = NONCE.fetch_add(1, Ordering::SeqCst).to_string();
        let mut pairs = vec![("nonce".to_owned(), nonce.clone())];
        pairs.extend(params.iter().cloned());
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let uri = format!("/0/{path}");
        let app = router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        let req = Request::builder()
            .method("POST")
            .uri(&uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("API-Key", "alice-key")
            .header("API-Sign", sign(&uri, &nonce, &body))
            .body(Body::from(body))
            .unwrap();
        let (status, answer) = rt.block_on(async {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        });
        prop_assert_eq!(status, StatusCode::OK, "{} for {:?}", answer, params);
        let errors = answer["error"].as_array().expect("an error array");
        prop_assert!(errors.iter().all(|e| e.as_str().is_some_and(|s| s.starts_with('E') && s.contains(':'))), "{}", answer);
        prop_assert!(!errors.is_empty() || answer.get("result").is_some(), "{}", answer);
        state.with_engine(|e| {
            for (_, balances) in e.all_balances() {
                for b in balances.values() {
                    assert!(b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO);
                }
            }
        });
    }
}
