//! The venue over HTTP, started in-process on an ephemeral loopback port: the published
//! paths, shapes, error codes, weight headers, faults and admin API.

mod binance_venue;
mod common;

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use binance_venue::{encode, sign, Venue, T0};

const BUY_LIMIT: &[(&str, &str)] = &[
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "LIMIT"),
    ("timeInForce", "GTC"),
    ("quantity", "1.5"),
    ("price", "99.50"),
    ("newClientOrderId", "leg-1"),
];

#[tokio::test]
async fn public_endpoints_have_the_published_shapes_and_weights() {
    let v = Venue::start(common::venue_config()).await;
    let ping = v.public("/api/v3/ping", &[]).await;
    assert_eq!(
        (ping.status, &ping.body, ping.weight()),
        (StatusCode::OK, &json!({}), 1)
    );
    let time = v.public("/api/v3/time", &[]).await;
    assert_eq!(time.body, json!({"serverTime": T0}));
    let info = v
        .public("/api/v3/exchangeInfo", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(info.weight(), 2 + 20);
    assert_eq!(
        info.body["rateLimits"][0],
        json!({"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000})
    );
    let s = &info.body["symbols"][0];
    assert_eq!(
        (
            s["symbol"].as_str(),
            s["baseAsset"].as_str(),
            s["quoteAsset"].as_str(),
            s["status"].as_str()
        ),
        (Some("BTCUSDT"), Some("BTC"), Some("USDT"), Some("TRADING"))
    );
    let filter = |t: &str| {
        s["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.01000000");
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.00100000");
    assert_eq!(filter("LOT_SIZE")["minQty"], "0.00100000");
    assert_eq!(filter("NOTIONAL")["minNotional"], "5.00000000");
    let depth = v
        .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "2")])
        .await;
    assert_eq!(
        depth.body["bids"],
        json!([["99.90000000", "1.00000000"], ["99.80000000", "1.00000000"]])
    );
    assert_eq!(
        depth.body["asks"],
        json!([
            ["100.10000000", "1.00000000"],
            ["100.20000000", "1.00000000"]
        ])
    );
    assert!(depth.body["lastUpdateId"].is_u64());
    assert_eq!(depth.weight(), 22 + 5);
    let price = v
        .public("/api/v3/ticker/price", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        price.body,
        json!({"symbol": "BTCUSDT", "price": "100.00000000"})
    );
    let all = v.public("/api/v3/ticker/price", &[]).await;
    assert_eq!(
        all.body,
        json!([{"symbol": "BTCUSDT", "price": "100.00000000"}])
    );
    let book = v
        .public("/api/v3/ticker/bookTicker", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        book.body,
        json!({"symbol": "BTCUSDT", "bidPrice": "99.90000000", "bidQty": "1.00000000", "askPrice": "100.10000000", "askQty": "1.00000000"})
    );
    assert_eq!(book.weight(), 27 + 2 + 4 + 2);
    let unknown = v.public("/api/v3/depth", &[("symbol", "DOGEUSDT")]).await;
    assert_eq!(
        unknown.code(),
        (StatusCode::BAD_REQUEST, -1121, "Invalid symbol.")
    );
    let missing = v.public("/api/v3/depth", &[]).await;
    assert_eq!(
        missing.code(),
        (
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    );
    v.exchange.stop().await;
}

#[tokio::test]
async fn place_query_list_and_cancel_an_order() {
    let v = Venue::start(common::venue_config()).await;
    let placed = v.signed(Method::POST, "/api/v3/order", BUY_LIMIT).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    let id = placed.body["orderId"].as_u64().unwrap();
    assert_eq!(placed.body["clientOrderId"], "leg-1");
    assert_eq!(
        placed.strs(["status", "origQty", "price"]),
        [Some("NEW"), Some("1.50000000"), Some("99.50000000")]
    );
    assert_eq!(
        placed.body["fills"],
        json!([]),
        "LIMIT answers FULL by default"
    );
    assert_eq!(placed.body["orderListId"], -1);

    let by_id = v.order(Method::GET, ("orderId", &id.to_string())).await;
    let by_client = v.order(Method::GET, ("origClientOrderId", "leg-1")).await;
    assert_eq!(by_id.body, by_client.body);
    assert_eq!((by_id.weight(), by_client.weight()), (1 + 4, 1 + 4 + 4));
    for field in [
        "symbol",
        "orderId",
        "clientOrderId",
        "price",
        "origQty",
        "executedQty",
        "cummulativeQuoteQty",
        "status",
        "timeInForce",
        "type",
        "side",
        "time",
        "updateTime",
        "isWorking",
        "origQuoteOrderQty",
    ] {
        assert!(
            by_id.body.get(field).is_some(),
            "order GET has {field}: {}",
            by_id.body
        );
    }

    let open = v
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    assert_eq!(open.body[0]["orderId"], id);

    let account = v.signed(Method::GET, "/api/v3/account", &[]).await;
    let usdt = account.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap();
    assert_eq!(
        (usdt["free"].as_str(), usdt["locked"].as_str()),
        (Some("9850.75000000"), Some("149.25000000"))
    );
    assert_eq!(account.body["commissionRates"]["taker"], "0.00200000");
    assert_eq!(account.body["takerCommission"], 20);

    let cancelled = v
        .order(Method::DELETE, ("origClientOrderId", "leg-1"))
        .await;
    assert_eq!(
        cancelled.strs(["status", "origClientOrderId"]),
        [Some("CANCELED"), Some("leg-1")]
    );
    let after = v.order(Method::GET, ("orderId", &id.to_string())).await;
    assert_eq!(after.body["status"], "CANCELED");
    let open = v.signed(Method::GET, "/api/v3/openOrders", &[]).await;
    assert_eq!(open.body, json!([]));
    assert_eq!(open.weight(), 1 + 4 + 4 + 6 + 20 + 1 + 4 + 80);
    v.exchange.stop().await;
}

#[tokio::test]
async fn response_types_ack_result_full() {
    let v = Venue::start(common::venue_config()).await;
    let market = |resp: &'static str| {
        [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "1.5"),
            ("newOrderRespType", resp),
        ]
    };
    let ack = v
        .signed(Method::POST, "/api/v3/order", &market("ACK"))
        .await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&ack.body),
        [
            "clientOrderId",
            "orderId",
            "orderListId",
            "symbol",
            "transactTime"
        ]
    );
    let result = v
        .signed(Method::POST, "/api/v3/order", &market("RESULT"))
        .await;
    assert_eq!(
        result.strs(["status", "type"]),
        [Some("FILLED"), Some("MARKET")]
    );
    assert!(result.body.get("fills").is_none());
    let full = v
        .signed(Method::POST, "/api/v3/order", &market("FULL"))
        .await;
    // The first two orders took all 3 BTC of asks in four trades; replenished only on a tick, so the book is empty.
    assert_eq!(
        full.strs(["status", "executedQty"]),
        [Some("EXPIRED"), Some("0.00000000")]
    );
    v.admin(Method::POST, "/advance", json!({"ticks": 1})).await;
    let full = v
        .signed(Method::POST, "/api/v3/order", &market("FULL"))
        .await;
    assert_eq!(
        full.body["fills"],
        json!([
            {"price": "100.10000000", "qty": "1.00000000", "commission": "0.00200000", "commissionAsset": "BTC", "tradeId": 5},
            {"price": "100.20000000", "qty": "0.50000000", "commission": "0.00100000", "commissionAsset": "BTC", "tradeId": 6}
        ])
    );
    assert_eq!(full.body["cummulativeQuoteQty"], "150.20000000");
    let test = v
        .signed(Method::POST, "/api/v3/order/test", &market("FULL"))
        .await;
    assert_eq!((test.status, &test.body), (StatusCode::OK, &json!({})));
    v.exchange.stop().await;
}

#[tokio::test]
async fn parameters_in_a_form_body_are_signed_with_the_query() {
    let v = Venue::start(common::venue_config()).await;
    let query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
    let body = format!("quantity=1&price=99&timestamp={T0}");
    let signature = sign("alice-secret", &format!("{query}{body}"));
    let ok = v
        .send(
            Method::POST,
            "/api/v3/order",
            query,
            Some(format!("{body}&signature={signature}")),
            Some("alice-key"),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body["status"].as_str()),
        (StatusCode::OK, Some("NEW")),
        "{}",
        ok.body
    );
    let tampered = v
        .send(
            Method::POST,
            "/api/v3/order",
            query,
            Some(format!(
                "quantity=2&price=99&timestamp={T0}&signature={signature}"
            )),
            Some("alice-key"),
        )
        .await;
    assert_eq!(tampered.code().1, -1022);
    v.exchange.stop().await;
}

#[tokio::test]
async fn every_rejection_carries_the_venue_code_and_message() {
    let v = Venue::start(common::venue_config()).await;
    let order = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = vec![
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "99"),
        ];
        for (k, val) in extra {
            match p.iter_mut().find(|(pk, _)| pk == k) {
                Some(slot) => slot.1 = val,
                None => p.push((k, val)),
            }
        }
        p
    };
    let post = |p: Vec<(&'static str, &'static str)>| {
        let v = &v;
        async move { v.signed(Method::POST, "/api/v3/order", &p).await }
    };
    let r = post(order(&[("price", "99.005")])).await;
    assert_eq!(
        r.code(),
        (
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: PRICE_FILTER"
        )
    );
    assert_eq!(
        post(order(&[("quantity", "1.0005")])).await.code().2,
        "Filter failure: LOT_SIZE"
    );
    assert_eq!(
        post(order(&[("quantity", "0.01")])).await.code().2,
        "Filter failure: NOTIONAL"
    );
    assert_eq!(
        post(order(&[("price", "10001")])).await.code(),
        (
            StatusCode::BAD_REQUEST,
            -2010,
            "Account has insufficient balance for requested action."
        )
    );
    assert_eq!(
        post(order(&[("symbol", "DOGEUSDT")])).await.code(),
        (StatusCode::BAD_REQUEST, -1121, "Invalid symbol.")
    );
    assert_eq!(
        post(order(&[("newClientOrderId", "dup")])).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(order(&[("newClientOrderId", "dup")])).await.code(),
        (StatusCode::BAD_REQUEST, -2010, "Duplicate order sent.")
    );
    assert_eq!(
        post(order(&[("newClientOrderId", "not ok!")]))
            .await
            .code()
            .1,
        -1100
    );
    assert_eq!(post(order(&[("quantity", "-1")])).await.code().1, -1100);
    assert_eq!(
        post(order(&[("quantity", "1.123456789")])).await.code().1,
        -1111
    );
    assert_eq!(
        post(order(&[("side", "HOLD")])).await.code(),
        (StatusCode::BAD_REQUEST, -1117, "Invalid side.")
    );
    assert_eq!(
        post(order(&[("type", "ICEBERG")])).await.code(),
        (StatusCode::BAD_REQUEST, -1116, "Invalid orderType.")
    );
    assert_eq!(
        post(order(&[("timeInForce", "GTX")])).await.code(),
        (StatusCode::BAD_REQUEST, -1115, "Invalid timeInForce.")
    );
    let no_tif: Vec<_> = order(&[])
        .into_iter()
        .filter(|(k, _)| *k != "timeInForce")
        .collect();
    assert_eq!(
        post(no_tif).await.code().2,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
    );
    let market_with_price = vec![
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "1"),
        ("price", "99"),
    ];
    assert_eq!(
        post(market_with_price).await.code(),
        (
            StatusCode::BAD_REQUEST,
            -1106,
            "Parameter 'price' sent when not required."
        )
    );
    let maker_taking = vec![
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT_MAKER"),
        ("quantity", "1"),
        ("price", "100.1"),
    ];
    assert_eq!(
        post(maker_taking).await.code(),
        (
            StatusCode::BAD_REQUEST,
            -2010,
            "Order would immediately match and take."
        )
    );

    let unknown = v.order(Method::GET, ("orderId", "999")).await;
    assert_eq!(
        unknown.code(),
        (StatusCode::BAD_REQUEST, -2013, "Order does not exist.")
    );
    let cancel_unknown = v.order(Method::DELETE, ("origClientOrderId", "nope")).await;
    assert_eq!(
        cancel_unknown.code(),
        (StatusCode::BAD_REQUEST, -2011, "Unknown order sent.")
    );
    let neither = v
        .signed(Method::GET, "/api/v3/order", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(neither.code().1, -1102);

    let bad_sig = v
        .signed_as(
            "alice-key",
            "not-the-secret",
            Method::GET,
            "/api/v3/account",
            &[],
        )
        .await;
    assert_eq!(
        bad_sig.code(),
        (
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid."
        )
    );
    let unknown_key = v
        .signed_as(
            "who-key",
            "alice-secret",
            Method::GET,
            "/api/v3/account",
            &[],
        )
        .await;
    assert_eq!(
        unknown_key.code(),
        (
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action."
        )
    );
    let no_key = v
        .send(
            Method::GET,
            "/api/v3/account",
            "timestamp=1&signature=00",
            None,
            None,
        )
        .await;
    assert_eq!(
        no_key.code(),
        (StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.")
    );
    let unsigned = v
        .send(
            Method::GET,
            "/api/v3/account",
            &format!("timestamp={T0}"),
            None,
            Some("alice-key"),
        )
        .await;
    assert_eq!(
        unsigned.code().2,
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
    );

    // A request signed 6 s ago falls outside the default 5 s window, inside a 10 s one.
    let stale_query = format!("timestamp={}", T0 - 6000);
    let stale = v
        .send(
            Method::GET,
            "/api/v3/account",
            &format!(
                "{stale_query}&signature={}",
                sign("alice-secret", &stale_query)
            ),
            None,
            Some("alice-key"),
        )
        .await;
    assert_eq!(
        stale.code(),
        (
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow."
        )
    );
    let wide_query = format!("recvWindow=10000&timestamp={}", T0 - 6000);
    let wide = v
        .send(
            Method::GET,
            "/api/v3/account",
            &format!(
                "{wide_query}&signature={}",
                sign("alice-secret", &wide_query)
            ),
            None,
            Some("alice-key"),
        )
        .await;
    assert_eq!(wide.status, StatusCode::OK);
    let ahead_query = format!("timestamp={}", T0 + 1500);
    let ahead = v
        .send(
            Method::GET,
            "/api/v3/account",
            &format!(
                "{ahead_query}&signature={}",
                sign("alice-secret", &ahead_query)
            ),
            None,
            Some("alice-key"),
        )
        .await;
    assert_eq!(ahead.code().1, -1021);
    let twice = v
        .public(
            "/api/v3/depth",
            &[("symbol", "BTCUSDT"), ("symbol", "ETHUSDT")],
        )
        .await;
    assert_eq!(twice.code().1, -1101);
    v.exchange.stop().await;
}

#[tokio::test]
async fn weight_over_the_limit_gets_429_with_retry_after_then_418() {
    let cfg = common::venue_config_with(&[(
        "request_weight_per_minute = 6000",
        "request_weight_per_minute = 10",
    )]);
    let v = Venue::start(cfg).await;
    v.clock.set(T0 - T0 % 60_000 + 30_000);
    for i in 1..=10 {
        assert_eq!(v.public("/api/v3/ping", &[]).await.weight(), i);
    }
    let limited = v.public("/api/v3/ping", &[]).await;
    assert_eq!(
        (
            limited.status,
            limited.body["code"].as_i64(),
            limited.weight()
        ),
        (StatusCode::TOO_MANY_REQUESTS, Some(-1003), 11)
    );
    assert_eq!(limited.headers["retry-after"], "30");
    let banned = v.public("/api/v3/ping", &[]).await;
    assert_eq!(
        (banned.status, banned.body["code"].as_i64()),
        (StatusCode::IM_A_TEAPOT, Some(-1003))
    );
    assert_eq!(banned.headers["retry-after"], "120");
    v.clock.advance(120_000);
    let back = v.public("/api/v3/ping", &[]).await;
    assert_eq!((back.status, back.weight()), (StatusCode::OK, 1));
    v.exchange.stop().await;
}

#[tokio::test]
async fn a_dropped_response_hides_an_order_that_exists() {
    let v = Venue::start(common::venue_config()).await;
    v.admin(
        Method::PUT,
        "/faults",
        json!({"drop_next_order_responses": 1}),
    )
    .await;
    let dropped = v.signed(Method::POST, "/api/v3/order", BUY_LIMIT).await;
    assert_eq!(
        (dropped.status, dropped.body["code"].as_i64()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(-1007))
    );
    let found = v.order(Method::GET, ("origClientOrderId", "leg-1")).await;
    assert_eq!(
        (found.status, found.body["status"].as_str()),
        (StatusCode::OK, Some("NEW"))
    );
    let retry = v.signed(Method::POST, "/api/v3/order", BUY_LIMIT).await;
    assert_eq!(
        retry.code().2,
        "Duplicate order sent.",
        "the retry is refused: the first one is open"
    );
    let orders = v.admin(Method::GET, "/orders", json!(null)).await;
    assert_eq!(orders.as_array().unwrap().len(), 1);
    v.exchange.stop().await;
}

#[tokio::test]
async fn maintenance_server_errors_and_thin_books() {
    let v = Venue::start(common::venue_config()).await;
    v.admin(Method::PUT, "/faults", json!({"maintenance": true}))
        .await;
    let down = v.public("/api/v3/ping", &[]).await;
    assert_eq!(
        (down.status, down.body["code"].as_i64(), down.weight()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(-1008), 1)
    );
    v.admin(Method::PUT, "/faults", json!({})).await;
    assert_eq!(
        v.public("/api/v3/ping", &[]).await.status,
        StatusCode::OK,
        "faults are cleared at run time"
    );
    v.admin(Method::PUT, "/faults", json!({"server_error_rate": "1"}))
        .await;
    let failed = v.signed(Method::POST, "/api/v3/order", BUY_LIMIT).await;
    assert_eq!(
        (failed.status, failed.body["code"].as_i64()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some(-1000))
    );
    assert_eq!(
        v.admin(Method::GET, "/orders", json!(null)).await,
        json!([]),
        "a 500 before the engine places nothing"
    );
    v.admin(
        Method::PUT,
        "/faults",
        json!({"thin_books": {"BTCUSDT": "0.1"}}),
    )
    .await;
    let depth = v
        .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "1")])
        .await;
    assert_eq!(depth.body["asks"], json!([["100.10000000", "0.10000000"]]));
    let bad = v
        .http
        .put(format!("{}/admin/faults", v.exchange.base_url()))
        .json(&json!({"server_error_rate": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    v.exchange.stop().await;
}

#[tokio::test]
async fn admin_moves_the_market_lists_fills_and_resets() {
    let v = Venue::start(common::venue_config()).await;
    v.signed(Method::POST, "/api/v3/order", BUY_LIMIT).await;
    v.admin(
        Method::POST,
        "/mid",
        json!({"symbol": "BTCUSDT", "price": "99"}),
    )
    .await;
    let order = v.order(Method::GET, ("origClientOrderId", "leg-1")).await;
    assert_eq!(
        order.strs(["status", "executedQty"]),
        [Some("FILLED"), Some("1.50000000")]
    );
    let fills = v.admin(Method::GET, "/fills", json!(null)).await;
    assert_eq!(fills.as_array().unwrap().len(), 2);
    assert!(fills
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["isMaker"] == true && f["price"] == "99.50000000"));
    let balances = v.admin(Method::GET, "/balances", json!(null)).await;
    assert_eq!(balances["accounts"]["alice"]["BTC"]["free"], "11.49850000");
    let text = serde_json::to_string(&balances).unwrap();
    assert!(
        !text.contains("alice-secret") && !text.contains("alice-key"),
        "admin output never shows credentials"
    );
    v.admin(Method::POST, "/reset", json!(null)).await;
    assert_eq!(
        v.admin(Method::GET, "/orders", json!(null)).await,
        json!([])
    );
    v.exchange.stop().await;
}

#[tokio::test]
async fn rotated_keys_refuse_the_old_key_and_sign_with_the_new_secret_only() {
    let v = Venue::start(common::venue_config()).await;
    let account = |key: &'static str, secret: &'static str| {
        v.signed_as(key, secret, Method::GET, "/api/v3/account", &[])
    };
    assert_eq!(
        account("alice-key", "alice-secret").await.status,
        StatusCode::OK
    );
    let rotated = v
        .admin(
            Method::POST,
            "/accounts/alice/keys",
            json!({"api_key": "alice-key-2", "secret": "alice-secret-2"}),
        )
        .await;
    assert_eq!(rotated, json!({"account": "alice", "rotated": true}));
    // The old key is unknown, as the venue answers any key it does not know.
    assert_eq!(
        account("alice-key", "alice-secret").await.code(),
        (
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action."
        )
    );
    // The new key signed with the old secret is a bad signature.
    assert_eq!(account("alice-key-2", "alice-secret").await.code().1, -1022);
    let ok = account("alice-key-2", "alice-secret-2").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["balances"].as_array().map(Vec::len), Some(2));
    // Bob is untouched.
    assert_eq!(
        account("bob-key", "bob-secret").await.status,
        StatusCode::OK
    );

    // Refused rotations: another account's key, an empty secret, an unknown account.
    let post = |path: &str, body: Value| {
        v.http
            .post(format!("{}/admin{path}", v.exchange.base_url()))
            .json(&body)
            .send()
    };
    for (path, body, status) in [
        (
            "/accounts/alice/keys",
            json!({"api_key": "bob-key", "secret": "x-secret"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/accounts/alice/keys",
            json!({"api_key": "alice-key-3", "secret": ""}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/accounts/carol/keys",
            json!({"api_key": "carol-key", "secret": "carol-secret"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = post(path, body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{path} {body}");
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("bob-key") && !text.contains("x-secret") && !text.contains("carol-"),
            "an admin error never shows a key or secret: {text}"
        );
    }
    assert_eq!(
        account("alice-key-2", "alice-secret-2").await.status,
        StatusCode::OK,
        "a refused rotation changes nothing"
    );

    // The request log names whose key each request carried (null: unknown), never the key.
    let log = v.admin(Method::GET, "/requests", json!(null)).await;
    let accounts: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["account"])
        .collect();
    assert_eq!(
        accounts,
        [
            &json!("alice"),
            &json!(null),
            &json!("alice"),
            &json!("alice"),
            &json!("bob"),
            &json!("alice")
        ]
    );
    let text = log.to_string();
    assert!(
        !text.contains("alice-key") && !text.contains("secret"),
        "{text}"
    );
    // A public request carries no key: no account.
    v.public("/api/v3/time", &[]).await;
    let log = v.admin(Method::GET, "/requests", json!(null)).await;
    assert!(log
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .get("account")
        .is_none());

    // Reset goes back to the config's keys.
    v.admin(Method::POST, "/reset", json!(null)).await;
    assert_eq!(
        account("alice-key", "alice-secret").await.status,
        StatusCode::OK
    );
    assert_eq!(
        account("alice-key-2", "alice-secret-2").await.code().1,
        -2015
    );
    v.exchange.stop().await;
}

#[tokio::test]
async fn the_admin_api_refuses_peers_that_are_not_loopback() {
    use axum::extract::connect_info::MockConnectInfo;
    use tower::ServiceExt;
    let state = common::state_at_t0(common::venue_config());
    let call = |peer: [u8; 4]| {
        let app = paper_exchange::server::router(state.clone())
            .layer(MockConnectInfo(SocketAddr::from((peer, 5555))));
        async move {
            let req = axum::http::Request::builder()
                .uri("/admin/orders")
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        }
    };
    assert_eq!(call([10, 0, 0, 7]).await, StatusCode::FORBIDDEN);
    assert_eq!(call([127, 0, 0, 1]).await, StatusCode::OK);
}

#[tokio::test]
async fn a_delayed_dropped_response_times_the_client_out_while_the_order_stands() {
    let v = Venue::start(common::venue_config()).await;
    v.admin(
        Method::PUT,
        "/faults",
        json!({"drop_next_order_responses": 1, "drop_response_delay_ms": 1000}),
    )
    .await;
    let mut params: Vec<(&str, String)> = BUY_LIMIT
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    params.push(("timestamp", T0.to_string()));
    let query = encode(&params);
    let url = format!(
        "{}/api/v3/order?{query}&signature={}",
        v.exchange.base_url(),
        sign("alice-secret", &query)
    );
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .post(url)
        .header("X-MBX-APIKEY", "alice-key")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let found = v.order(Method::GET, ("origClientOrderId", "leg-1")).await;
    assert_eq!(
        found.body["status"], "NEW",
        "the order was placed all the same"
    );
    v.exchange.stop().await;
}

#[tokio::test]
async fn my_trades_and_cancel_all_open_orders() {
    let v = Venue::start(common::venue_config()).await;
    let market = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "1.5"),
    ];
    let bought = v.signed(Method::POST, "/api/v3/order", &market).await;
    let id = bought.body["orderId"].as_u64().unwrap().to_string();
    let trades = v
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("orderId", &id)],
        )
        .await;
    assert_eq!(trades.body.as_array().unwrap().len(), 2);
    let t = &trades.body[1];
    assert_eq!(
        (
            t["price"].as_str(),
            t["qty"].as_str(),
            t["quoteQty"].as_str(),
            t["commission"].as_str(),
            t["isBuyer"].as_bool(),
            t["isMaker"].as_bool()
        ),
        (
            Some("100.20000000"),
            Some("0.50000000"),
            Some("50.10000000"),
            Some("0.00100000"),
            Some(true),
            Some(false)
        )
    );
    let bob_trades = v
        .signed_as(
            "bob-key",
            "bob-secret",
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT")],
        )
        .await;
    assert_eq!(bob_trades.body, json!([]), "trades are per account");

    for (cid, price) in [("a", "99"), ("b", "98.5")] {
        let p = [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", price),
            ("newClientOrderId", cid),
        ];
        assert_eq!(
            v.signed(Method::POST, "/api/v3/order", &p).await.status,
            StatusCode::OK
        );
    }
    let cancelled = v
        .signed(
            Method::DELETE,
            "/api/v3/openOrders",
            &[("symbol", "BTCUSDT")],
        )
        .await;
    let ids: Vec<_> = cancelled
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["origClientOrderId"].as_str().unwrap().to_owned(),
                o["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("a".to_owned(), "CANCELED".to_owned()),
            ("b".to_owned(), "CANCELED".to_owned())
        ]
    );
    let open = v.signed(Method::GET, "/api/v3/openOrders", &[]).await;
    assert_eq!(open.body, json!([]));
    v.exchange.stop().await;
}
