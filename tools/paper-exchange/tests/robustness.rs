//! Hostile input: any parameters on a correctly signed order request get a 200 or a 4xx with
//! the venue's error body, never a 500 or a panic, and never leave a balance negative.

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
        "[0-9]{1,4}(\\.[0-9]{1,9})?",
        "-?[0-9]{1,25}",
        Just("99999999999999999999.99999999".to_owned()),
        Just("1e5".to_owned()),
        Just("BUY".to_owned()),
        Just("SELL".to_owned()),
        Just("LIMIT".to_owned()),
        Just("MARKET".to_owned()),
        Just("LIMIT_MAKER".to_owned()),
        Just("GTC".to_owned()),
        Just("IOC".to_owned()),
        Just("FOK".to_owned()),
        Just("BTCUSDT".to_owned()),
        "[ -~]{0,12}",
    ]
}

fn param() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("symbol"),
        Just("side"),
        Just("type"),
        Just("timeInForce"),
        Just("quantity"),
        Just("quoteOrderQty"),
        Just("price"),
        Just("newClientOrderId"),
        Just("newOrderRespType"),
        Just("recvWindow"),
        Just("orderId"),
        Just("origClientOrderId"),
        Just("limit"),
    ];
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
    fn signed_requests_with_any_parameters_get_a_venue_answer(
        params in prop::collection::vec(param(), 0..9),
        (method, path) in prop_oneof![
            Just(("POST", "order")), Just(("POST", "order/test")), Just(("GET", "order")),
            Just(("DELETE", "order")), Just(("GET", "openOrders")), Just(("DELETE", "openOrders")),
            Just(("GET", "myTrades")), Just(("GET", "depth")), Just(("GET", "ticker/price")),
            Just(("GET", "exchangeInfo")), Just(("GET", "account")),
        ],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let state = Arc::new(AppState::new(common::venue_config(), Arc::new(ManualClock::new(T0))).unwrap());
        let mut pairs = params.clone();
        pairs.push(("timestamp".into(), T0.to_string()));
        let query = serde_urlencoded::to_string(&pairs).unwrap();
        let uri = format!("/api/v3/{path}?{query}&signature={}", sign(&query));
        let app = router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        let req = Request::builder().method(method).uri(uri).header("X-MBX-APIKEY", "alice-key").body(Body::empty()).unwrap();
        let (status, body) = rt.block_on(async {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        });
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {body} for {params:?}");
        if status == StatusCode::BAD_REQUEST {
            let code = body["code"].as_i64().unwrap_or(0);
            prop_assert!(code < -1000 && body["msg"].is_string(), "{body}");
        }
        state.with_engine(|e| {
            for (_, balances) in e.all_balances() {
                for b in balances.values() {
                    assert!(b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO);
                }
            }
        });
    }
}
