//! Hostile input: any parameters on a correctly signed order request get a 200 or a 4xx with
//! the venue's error body, never a 500 or a panic, and never leave a balance negative.

mod common;

use axum::http::StatusCode;
use proptest::prelude::*;

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
        let state = common::state_at_t0(common::venue_config());
        let (status, body) = common::answer(&state, common::alice_signed(method, path, &params));
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {body} for {params:?}");
        if status == StatusCode::BAD_REQUEST {
            let code = body["code"].as_i64().unwrap_or(0);
            prop_assert!(code < -1000 && body["msg"].is_string(), "{body}");
        }
        common::assert_no_balance_negative(&state);
    }
}
