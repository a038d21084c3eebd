//! The Coinbase Advanced Trade dialect over HTTP, started in-process on an ephemeral loopback
//! port: each endpoint's shape, the repeated `client_order_id` rule, ES256 JWT authentication
//! (expired, early, wrong key, wrong request, wrong algorithm), order-level failures inside
//! 200 answers, and the gate's refusals in Coinbase's words.
//!
//! The keys below were generated for these tests only (`openssl ecparam -name prime256v1
//! -genkey`) and guard nothing.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use paper_exchange::clock::ManualClock;
use paper_exchange::config::ConfigError;
use paper_exchange::{paper_market, paper_venue_head, ExchangeConfig, PaperExchange};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const ALICE_KEY: &str = "organizations/test-org/apiKeys/alice";
const ALICE_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIE4L2cAm/EiCjLxUHcCQsHwSJ/S1ES1EVLVLi9zqjMdZoAoGCCqGSM49
AwEHoUQDQgAEFtYIfVl7QM6IeKqXsyV/VqNPRxnmWyvgUl0F/AmF7koxFOLFQHOU
+DZhVV0xFQuVWxxs/Xj85kALkJbx+Frhbg==
-----END EC PRIVATE KEY-----
";
const BOB_KEY: &str = "organizations/test-org/apiKeys/bob";
const BOB_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGktv399JIF+Fylty6uG3Qk4JchEBZypbgn6Lk1xoIAXoAoGCCqGSM49
AwEHoUQDQgAEJ9kGAS036lwK0hlT0xWe//LDkSfBbdDQeAOkKfZJ2sijZXBxjJsG
N4CQ1fmXYAs1pVEuOoYSwVbFLZh7MX5jSw==
-----END EC PRIVATE KEY-----
";
/// A key no account holds.
const STRANGER_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIJsLVFTGAzCjukMpxGENvWkCF7VHow/+gF1qxVRMh5EAoAoGCCqGSM49
AwEHoUQDQgAEKIyosu4k1pMSVePXOXvWny3oVSWIbAvbUkw1jRuPKohrDuF5vayF
j7N8VDTC+hVyL1OLtyrwZharRM3srD4JMw==
-----END EC PRIVATE KEY-----
";

/// BTC-USDT around 100 (bids 99.9/99.8/99.7, asks 100.1/100.2/100.3, 1 BTC each; step 0.001,
/// at most 100), maker fee 0.1 %, taker 0.2 %; alice holds 10,000 USDT and 10 BTC, bob 1,000
/// USDT and 5 BTC.
fn venue_text(alice_secret: &str) -> String {
    format!(
        "dialect = \"coinbase\"\n{}{}{}{}",
        paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
        paper_market!("BTC" / "USDT": step = "0.001", max_qty = "100", mid = "100",
            spread_bps = "20", depth = 3 x "1" every "10" bps),
        format_args!(
            "\n[[accounts]]\nname = \"alice\"\napi_key = \"{ALICE_KEY}\"\nsecret = '''\n{alice_secret}'''\nbalances = {{ USDT = \"10000\", BTC = \"10\" }}\n"
        ),
        format_args!(
            "\n[[accounts]]\nname = \"bob\"\napi_key = \"{BOB_KEY}\"\nsecret = '''\n{BOB_PEM}'''\nbalances = {{ USDT = \"1000\", BTC = \"5\" }}\n"
        ),
    )
}

fn venue_config() -> ExchangeConfig {
    ExchangeConfig::parse(&venue_text(ALICE_PEM)).unwrap()
}

/// What a token says, so a test can make it wrong in one way.
#[derive(Clone)]
struct Token {
    key_name: String,
    pem: &'static str,
    alg: &'static str,
    nbf: i64,
    exp: i64,
    /// `None`: the request's own "METHOD host/path".
    uri: Option<String>,
}

impl Token {
    fn of(key_name: &str, pem: &'static str, now_ms: i64) -> Self {
        let now = now_ms / 1000;
        Self {
            key_name: key_name.to_owned(),
            pem,
            alg: "ES256",
            nbf: now,
            exp: now + 120,
            uri: None,
        }
    }

    /// A compact JWS as Coinbase's SDKs make it.
    fn sign(&self, uri: &str) -> String {
        let header =
            json!({"alg": self.alg, "kid": self.key_name, "nonce": "4f1c2b", "typ": "JWT"});
        let claims = json!({"sub": self.key_name, "iss": "cdp", "nbf": self.nbf, "exp": self.exp,
                            "uri": self.uri.as_deref().unwrap_or(uri)});
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", part(&header), part(&claims));
        let key = SigningKey::from(p256::SecretKey::from_sec1_pem(self.pem).unwrap());
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

struct Venue {
    exchange: PaperExchange,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Venue {
    async fn start(config: ExchangeConfig) -> Self {
        let (exchange, clock) = common::start(config).await;
        Self {
            exchange,
            clock,
            http: reqwest::Client::new(),
        }
    }

    fn alice(&self) -> Token {
        Token::of(ALICE_KEY, ALICE_PEM, self.now())
    }

    fn bob(&self) -> Token {
        Token::of(BOB_KEY, BOB_PEM, self.now())
    }

    fn now(&self) -> i64 {
        use driftline_core::ports::Clock;
        self.clock.now_ms()
    }

    /// A request to `/api/v3/brokerage/{endpoint}` (with its query), signed by `token`.
    async fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<Value>,
        token: Option<&Token>,
    ) -> Reply {
        let url = format!("{}/api/v3/brokerage/{endpoint}", self.exchange.base_url());
        let path = format!(
            "/api/v3/brokerage/{}",
            endpoint.split('?').next().unwrap_or_default()
        );
        let mut req = self.http.request(method.clone(), url);
        if let Some(t) = token {
            let uri = format!("{method} {}{path}", self.exchange.addr());
            req = req.bearer_auth(t.sign(&uri));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    async fn get(&self, endpoint: &str) -> Reply {
        let token = self.alice();
        self.send(Method::GET, endpoint, None, Some(&token)).await
    }

    async fn post_as(&self, token: &Token, endpoint: &str, body: Value) -> Reply {
        self.send(Method::POST, endpoint, Some(body), Some(token))
            .await
    }

    async fn order_as(
        &self,
        token: &Token,
        client_order_id: &str,
        side: &str,
        configuration: Value,
    ) -> Reply {
        self.post_as(
            token,
            "orders",
            json!({"client_order_id": client_order_id, "product_id": "BTC-USDT", "side": side,
                   "order_configuration": configuration}),
        )
        .await
    }

    async fn limit(&self, client_order_id: &str, side: &str, size: &str, price: &str) -> Reply {
        let token = self.alice();
        self.order_as(
            &token,
            client_order_id,
            side,
            json!({"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": false}}),
        )
        .await
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let url = format!("{}/admin{path}", self.exchange.base_url());
        let resp = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap_or(Value::Null)
    }

    fn orders_placed(&self) -> usize {
        self.exchange.with_engine(|e| e.orders().count())
    }
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

fn assert_unauthorized(r: &Reply) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert_eq!(r.text, "Unauthorized");
}

#[tokio::test]
async fn time_is_public_and_in_the_venues_clock() {
    let v = Venue::start(venue_config()).await;
    let r = v.send(Method::GET, "time", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body,
        json!({"iso": "2027-01-15T08:00:00.000Z", "epochSeconds": "1800000000", "epochMillis": "1800000000000"})
    );
}

#[tokio::test]
async fn products_carry_the_markets_rules() {
    let v = Venue::start(venue_config()).await;
    let all = v.get("products").await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(all.body["num_products"], 1);
    let p = &all.body["products"][0];
    for (field, want) in [
        ("product_id", "BTC-USDT"),
        ("base_increment", "0.001"),
        ("quote_increment", "0.01"),
        ("price_increment", "0.01"),
        ("base_min_size", "0.001"),
        ("base_max_size", "100"),
        ("quote_min_size", "5"),
        ("status", "online"),
        ("base_currency_id", "BTC"),
        ("quote_currency_id", "USDT"),
    ] {
        assert_eq!(p[field], want, "{field}");
    }
    assert_eq!(p["trading_disabled"], false);
    let one = v.get("products/BTC-USDT").await;
    assert_eq!(&one.body, p);
    let public = v
        .send(Method::GET, "market/products/BTC-USDT", None, None)
        .await;
    assert_eq!(public.body["product_id"], "BTC-USDT");
    let unknown = v.get("products/DOGE-USDT").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"], "NOT_FOUND");
    assert_eq!(
        v.get("products?product_ids=ETH-USDT").await.body["num_products"],
        0
    );
}

#[tokio::test]
async fn the_book_and_best_bid_ask() {
    let v = Venue::start(venue_config()).await;
    let r = v.get("product_book?product_id=BTC-USDT&limit=2").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let book = &r.body["pricebook"];
    assert_eq!(book["product_id"], "BTC-USDT");
    assert_eq!(
        book["bids"],
        json!([{"price": "99.9", "size": "1"}, {"price": "99.8", "size": "1"}])
    );
    assert_eq!(
        book["asks"],
        json!([{"price": "100.1", "size": "1"}, {"price": "100.2", "size": "1"}])
    );
    assert_eq!(r.body["spread_absolute"], "0.2");
    assert_eq!(r.body["spread_bps"], "20");
    let missing = v.get("product_book").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"], "INVALID_ARGUMENT");
    assert!(missing.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("product_id"));

    let best = v.get("best_bid_ask?product_ids=BTC-USDT").await;
    assert_eq!(
        best.body["pricebooks"][0]["bids"],
        json!([{"price": "99.9", "size": "1"}])
    );
    assert_eq!(best.body["pricebooks"][0]["asks"][0]["price"], "100.1");
    let unknown = v
        .get("best_bid_ask?product_ids=BTC-USDT&product_ids=NOPE-USDT")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accounts_show_available_and_hold_and_page() {
    let v = Venue::start(venue_config()).await;
    let placed = v.limit("hold-1", "BUY", "2", "50").await;
    assert_eq!(placed.body["success"], true, "{placed:?}");
    let r = v.get("accounts").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let wallets = r.body["accounts"].as_array().cloned().unwrap_or_default();
    let usdt = wallets
        .iter()
        .find(|w| w["currency"] == "USDT")
        .cloned()
        .unwrap_or_default();
    // The buy holds its cost and its fee at the higher rate (0.2 %): Coinbase charges a buy's
    // fee in the quote, on top.
    assert_eq!(
        usdt["available_balance"],
        json!({"value": "9899.8", "currency": "USDT"})
    );
    assert_eq!(usdt["hold"], json!({"value": "100.2", "currency": "USDT"}));
    assert_eq!(
        (r.body["has_next"].clone(), r.body["size"].clone()),
        (json!(false), json!(2))
    );

    let first = v.get("accounts?limit=1").await;
    assert_eq!(first.body["has_next"], true);
    let cursor = first.body["cursor"].as_str().unwrap_or_default().to_owned();
    let second = v.get(&format!("accounts?limit=1&cursor={cursor}")).await;
    assert_eq!(second.body["has_next"], false);
    assert_ne!(
        first.body["accounts"][0]["uuid"],
        second.body["accounts"][0]["uuid"]
    );

    let uuid = usdt["uuid"].as_str().unwrap_or_default();
    let one = v.get(&format!("accounts/{uuid}")).await;
    assert_eq!(one.body["account"], usdt);
    // Bob's wallet is not Alice's to read.
    let bob = v.bob();
    let theirs = v
        .send(Method::GET, &format!("accounts/{uuid}"), None, Some(&bob))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_order_is_created_as_coinbase_answers_it() {
    let v = Venue::start(venue_config()).await;
    let r = v.limit("leg-1", "BUY", "0.5", "99.5").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let order_id = r.body["success_response"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        r.body,
        json!({
            "success": true,
            "success_response": {"order_id": order_id, "product_id": "BTC-USDT", "side": "BUY",
                                 "client_order_id": "leg-1"},
            "order_configuration": {"limit_limit_gtc": {"base_size": "0.5", "limit_price": "99.5", "post_only": false}}
        })
    );
    assert_eq!(order_id.len(), 36);

    let got = v.get(&format!("orders/historical/{order_id}")).await;
    let o = &got.body["order"];
    assert_eq!(o["status"], "OPEN");
    assert_eq!(o["client_order_id"], "leg-1");
    assert_eq!(o["time_in_force"], "GOOD_UNTIL_CANCELLED");
    assert_eq!(o["order_type"], "LIMIT");
    assert_eq!(o["filled_size"], "0");
    assert_eq!(o["created_time"], "2027-01-15T08:00:00.000Z");
    assert_eq!(
        o["order_configuration"]["limit_limit_gtc"]["limit_price"],
        "99.5"
    );
}

#[tokio::test]
async fn a_repeated_client_order_id_answers_with_the_existing_order() {
    let v = Venue::start(venue_config()).await;
    let first = v.limit("once", "BUY", "0.5", "99.5").await;
    // Different size, price and side: nothing of the repeat is used.
    let again = v.limit("once", "SELL", "3", "101").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["success"], true);
    assert_eq!(
        again.body["success_response"],
        first.body["success_response"]
    );
    assert_eq!(
        again.body["order_configuration"],
        json!({"limit_limit_gtc": {"base_size": "0.5", "limit_price": "99.5", "post_only": false}})
    );
    assert_eq!(v.orders_placed(), 1);
    // Still so once the order is closed.
    let id = first.body["success_response"]["order_id"].clone();
    let alice = v.alice();
    v.post_as(&alice, "orders/batch_cancel", json!({"order_ids": [id]}))
        .await;
    let after = v.limit("once", "BUY", "0.5", "99.5").await;
    assert_eq!(after.body["success_response"]["order_id"], id);
    assert_eq!(v.orders_placed(), 1);
    // Client order ids are per account.
    let bob = v.bob();
    let theirs = v
        .order_as(
            &bob,
            "once",
            "BUY",
            json!({"limit_limit_gtc": {"base_size": "0.5", "limit_price": "99.5"}}),
        )
        .await;
    assert_eq!(theirs.body["success"], true);
    assert_ne!(theirs.body["success_response"]["order_id"], id);
    assert_eq!(v.orders_placed(), 2);
}

#[tokio::test]
async fn fills_say_who_made_and_who_took_with_quote_commissions() {
    let v = Venue::start(venue_config()).await;
    let resting = v.limit("maker", "BUY", "0.5", "100").await;
    let maker_id = resting.body["success_response"]["order_id"].clone();
    let bob = v.bob();
    let taker = v
        .order_as(
            &bob,
            "taker",
            "SELL",
            json!({"sor_limit_ioc": {"base_size": "0.5", "limit_price": "100"}}),
        )
        .await;
    assert_eq!(taker.body["success"], true, "{taker:?}");

    let mine = v
        .get(&format!(
            "orders/historical/fills?order_ids={}",
            maker_id.as_str().unwrap_or_default()
        ))
        .await;
    let fills = mine.body["fills"].as_array().cloned().unwrap_or_default();
    assert_eq!(fills.len(), 1, "{mine:?}");
    let f = &fills[0];
    assert_eq!(
        (f["price"].clone(), f["size"].clone()),
        (json!("100"), json!("0.5"))
    );
    assert_eq!(f["liquidity_indicator"], "MAKER");
    assert_eq!(f["order_id"], maker_id);
    assert_eq!(f["product_id"], "BTC-USDT");
    // Maker fee 0.1 % of 50 USDT, in USDT on top of the cost.
    assert_eq!(dec(&f["commission"]), Decimal::new(5, 2));
    assert!(f["trade_id"].as_str().is_some_and(|t| !t.is_empty()));

    let theirs = v
        .send(
            Method::GET,
            "orders/historical/fills?product_ids=BTC-USDT",
            None,
            Some(&bob),
        )
        .await;
    let taken = &theirs.body["fills"][0];
    assert_eq!(taken["liquidity_indicator"], "TAKER");
    assert_eq!(dec(&taken["commission"]), Decimal::new(10, 2));
    assert_eq!(taken["trade_id"], f["trade_id"]);

    let maker = v
        .get(&format!(
            "orders/historical/{}",
            maker_id.as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(maker.body["order"]["status"], "FILLED");
    assert_eq!(maker.body["order"]["number_of_fills"], "1");
    assert_eq!(maker.body["order"]["average_filled_price"], "100");
}

#[tokio::test]
async fn orders_are_listed_by_product_and_status_newest_first() {
    let v = Venue::start(venue_config()).await;
    let a = v.limit("a", "BUY", "0.1", "90").await;
    let b = v.limit("b", "BUY", "0.1", "91").await;
    let alice = v.alice();
    v.post_as(
        &alice,
        "orders/batch_cancel",
        json!({"order_ids": [a.body["success_response"]["order_id"]]}),
    )
    .await;
    let ids = |r: &Reply| -> Vec<Value> {
        r.body["orders"]
            .as_array()
            .map(|os| os.iter().map(|o| o["client_order_id"].clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        ids(&v.get("orders/historical/batch").await),
        [json!("b"), json!("a")]
    );
    let open = v
        .get("orders/historical/batch?product_ids=BTC-USDT&order_status=OPEN")
        .await;
    assert_eq!(ids(&open), [json!("b")]);
    assert_eq!(
        open.body["orders"][0]["order_id"],
        b.body["success_response"]["order_id"]
    );
    assert_eq!(
        ids(&v
            .get("orders/historical/batch?order_status=CANCELLED")
            .await),
        [json!("a")]
    );
    let paged = v.get("orders/historical/batch?limit=1").await;
    assert_eq!(
        (ids(&paged), paged.body["has_next"].clone()),
        (vec![json!("b")], json!(true))
    );
    let next = v
        .get(&format!(
            "orders/historical/batch?limit=1&cursor={}",
            paged.body["cursor"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(ids(&next), [json!("a")]);
    let bad = v.get("orders/historical/batch?order_status=DONE").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("order_status"));
}

#[tokio::test]
async fn batch_cancel_says_per_order_what_happened() {
    let v = Venue::start(venue_config()).await;
    let a = v.limit("a", "BUY", "1", "90").await;
    let id = a.body["success_response"]["order_id"].clone();
    let alice = v.alice();
    let r = v
        .post_as(
            &alice,
            "orders/batch_cancel",
            json!({"order_ids": [id, "7061706e-7065-4000-8000-000000000999"]}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"results": [
            {"success": true, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": id},
            {"success": false, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": "7061706e-7065-4000-8000-000000000999"}
        ]})
    );
    let usdt = v.exchange.with_engine(|e| {
        e.balances("alice")
            .map(|b| b.values().map(|x| x.locked).sum::<Decimal>())
    });
    assert_eq!(usdt, Ok(Decimal::ZERO));
    let empty = v
        .post_as(&alice, "orders/batch_cancel", json!({"order_ids": []}))
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_fee_tier_is_the_configs() {
    let v = Venue::start(venue_config()).await;
    let r = v.get("transaction_summary").await;
    assert_eq!(r.body["fee_tier"]["maker_fee_rate"], "0.001");
    assert_eq!(r.body["fee_tier"]["taker_fee_rate"], "0.002");
    assert_eq!(r.body["total_volume"], 0.0);
}

#[tokio::test]
async fn orders_the_venue_refuses_are_200_with_coinbases_reasons() {
    let v = Venue::start(venue_config()).await;
    let reason = |r: &Reply| {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["success"], false, "{r:?}");
        (
            r.body["error_response"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            r.body["error_response"]["preview_failure_reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let broke = v.limit("big", "SELL", "50", "101").await;
    assert_eq!(
        reason(&broke),
        (
            "INSUFFICIENT_FUND".into(),
            "PREVIEW_INSUFFICIENT_FUND".into()
        )
    );
    assert_eq!(broke.body["failure_reason"], "INSUFFICIENT_FUND");
    let alice = v.alice();
    let crossing = v
        .order_as(&alice, "po", "BUY", json!({"limit_limit_gtc": {"base_size": "0.1", "limit_price": "101", "post_only": true}}))
        .await;
    assert_eq!(reason(&crossing).0, "INVALID_LIMIT_PRICE_POST_ONLY");
    assert_eq!(
        reason(&v.limit("tiny", "BUY", "0.0001", "99.5").await).1,
        "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    );
    assert_eq!(
        reason(&v.limit("odd", "BUY", "0.0015", "99.5").await).0,
        "INVALID_SIZE_PRECISION"
    );
    assert_eq!(
        reason(&v.limit("tick", "BUY", "0.1", "99.555").await).0,
        "INVALID_PRICE_PRECISION"
    );
    let stop = v
        .order_as(&alice, "stop", "BUY", json!({"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "1", "stop_price": "1"}}))
        .await;
    assert_eq!(reason(&stop).0, "UNSUPPORTED_ORDER_CONFIGURATION");
    let nowhere = v
        .post_as(&alice, "orders", json!({"client_order_id": "x", "product_id": "NOPE-USDT", "side": "BUY",
                                           "order_configuration": {"limit_limit_gtc": {"base_size": "1", "limit_price": "1"}}}))
        .await;
    assert_eq!(reason(&nowhere).0, "INVALID_PRODUCT_ID");
    assert_eq!(v.orders_placed(), 0);
    // A refused client_order_id created nothing, so it can be used again.
    assert_eq!(
        v.limit("big", "BUY", "1", "99.5").await.body["success"],
        true
    );
}

#[tokio::test]
async fn malformed_orders_are_400_invalid_argument_naming_the_field() {
    let v = Venue::start(venue_config()).await;
    let alice = v.alice();
    for (body, field) in [
        (
            json!({"product_id": "BTC-USDT", "side": "BUY", "order_configuration": {}}),
            "client_order_id",
        ),
        (
            json!({"client_order_id": "a", "product_id": "BTC-USDT", "side": "BUY"}),
            "order_configuration",
        ),
        (
            json!({"client_order_id": "a", "product_id": "BTC-USDT", "side": "BUY",
                   "order_configuration": {"limit_limit_gtc": {"base_size": "one", "limit_price": "1"}}}),
            "base_size",
        ),
        (
            json!({"client_order_id": "a", "product_id": "BTC-USDT", "side": "BUY",
                   "order_configuration": {"limit_limit_gtc": {"base_size": "1"}}}),
            "limit_price",
        ),
    ] {
        let r = v.post_as(&alice, "orders", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
        assert_eq!(r.body["error"], "INVALID_ARGUMENT");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{r:?}"
        );
    }
    let unknown = v
        .get("orders/historical/7061706e-7065-4000-8000-000000000042")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"], "NOT_FOUND");
    assert_eq!(
        v.get("orders/historical/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        v.get("no/such/endpoint").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_valid_token_is_accepted_for_the_request_it_names() {
    let v = Venue::start(venue_config()).await;
    assert_eq!(v.get("accounts").await.status, StatusCode::OK);
    // The host Coinbase's SDKs sign for production is accepted too.
    let mut production = v.alice();
    production.uri = Some("GET api.coinbase.com/api/v3/brokerage/accounts".into());
    assert_eq!(
        v.send(Method::GET, "accounts", None, Some(&production))
            .await
            .status,
        StatusCode::OK
    );
    // Valid until just before exp.
    let token = v.alice();
    v.clock.advance(119_999);
    assert_eq!(
        v.send(Method::GET, "accounts", None, Some(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_are_refused_401_for_every_way_they_can_be_wrong() {
    let v = Venue::start(venue_config()).await;
    assert_unauthorized(&v.send(Method::GET, "accounts", None, None).await);
    let base = v.alice();
    let mut cases: Vec<(&str, Token)> = Vec::new();
    let mut t = base.clone();
    t.pem = STRANGER_PEM;
    cases.push(("signed with another key", t));
    let mut t = base.clone();
    t.key_name = "organizations/test-org/apiKeys/nobody".into();
    cases.push(("an unknown key name", t));
    let mut t = base.clone();
    t.nbf += 5;
    t.exp += 5;
    cases.push(("not valid yet", t));
    let mut t = base.clone();
    t.nbf -= 120;
    t.exp -= 120;
    cases.push(("expired", t));
    let mut t = base.clone();
    t.exp += 600;
    cases.push(("valid for longer than two minutes", t));
    let mut t = base.clone();
    t.uri = Some("GET 127.0.0.1:1/api/v3/brokerage/accounts".into());
    cases.push(("for another host", t));
    let mut t = base.clone();
    t.uri = Some(format!(
        "POST {}/api/v3/brokerage/accounts",
        v.exchange.addr()
    ));
    cases.push(("for another method", t));
    let mut t = base.clone();
    t.uri = Some(format!(
        "GET {}/api/v3/brokerage/orders/historical/batch",
        v.exchange.addr()
    ));
    cases.push(("for another path", t));
    let mut t = base.clone();
    t.alg = "HS256";
    cases.push(("not ES256", t));
    for (why, token) in cases {
        let r = v.send(Method::GET, "accounts", None, Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: {r:?}");
        assert_eq!(r.text, "Unauthorized", "{why}");
    }
    // A token whose signature was tampered with.
    let uri = format!("GET {}/api/v3/brokerage/accounts", v.exchange.addr());
    let good = base.sign(&uri);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let url = format!("{}/api/v3/brokerage/accounts", v.exchange.base_url());
    for token in [tampered.as_str(), "not.a.jwt", "x"] {
        let r = v.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token}");
    }
    // An old token is refused once the venue's clock passes its exp.
    v.clock.advance(120_000);
    let r = v.http.get(&url).bearer_auth(good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_gates_refusals_in_coinbases_words() {
    let v = Venue::start(venue_config()).await;
    v.admin(Method::PUT, "/faults", json!({"maintenance": true}))
        .await;
    let r = v.get("accounts").await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("UNAVAILABLE"))
    );
    v.admin(Method::PUT, "/faults", json!({"server_error_rate": "1"}))
        .await;
    let r = v.get("accounts").await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (StatusCode::INTERNAL_SERVER_ERROR, json!("INTERNAL"))
    );
    v.admin(
        Method::PUT,
        "/faults",
        json!({"drop_next_order_responses": 1}),
    )
    .await;
    let r = v.limit("dropped", "BUY", "0.1", "90").await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{r:?}");
    // The order stands, and asking again with its client_order_id finds it.
    assert_eq!(v.orders_placed(), 1);
    let again = v.limit("dropped", "BUY", "0.1", "90").await;
    assert_eq!(
        (again.status, again.body["success"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(v.orders_placed(), 1);
}

#[tokio::test]
async fn too_many_requests_is_429_with_retry_after() {
    let config = ExchangeConfig::parse(&venue_text(ALICE_PEM).replace(
        "request_weight_per_minute = 6000",
        "request_weight_per_minute = 3",
    ))
    .unwrap();
    let v = Venue::start(config).await;
    for _ in 0..3 {
        let r = v.send(Method::GET, "time", None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.contains_key("x-ratelimit-remaining"));
    }
    let r = v.get("accounts").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(r.body["error"], "RATE_LIMIT_EXCEEDED");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");
}

#[test]
fn a_coinbase_listener_needs_ec_pem_secrets_and_says_so_without_the_secret() {
    let text = venue_text(ALICE_PEM).replace(ALICE_PEM, "a-plain-hmac-secret\n");
    match ExchangeConfig::parse(&text) {
        Err(ConfigError::Invalid { field, value, .. }) => {
            assert_eq!(field, "accounts.alice.secret");
            assert!(!value.contains("hmac"), "{value}");
        }
        other => panic!("expected an invalid secret, got {other:?}"),
    }
    // Other dialects keep their HMAC secrets.
    let binance = text.replace("dialect = \"coinbase\"", "dialect = \"binance\"");
    assert!(ExchangeConfig::parse(&binance).is_ok());
}
