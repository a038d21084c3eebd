//! The Kraken dialect over HTTP, started in-process on an ephemeral loopback port: every
//! endpoint's shape, Kraken's names and ids, authentication as Kraken documents it (its own
//! published signing example included), the nonce rule, the `cl_ord_id` and `userref` rules,
//! Kraken's error strings, and the gate's refusals in Kraken's words.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::kraken::{sign as kraken_sign, BOB_SECRET, EXAMPLE_SECRET, VENUE};
use common::T0;
use paper_exchange::{ExchangeConfig, PaperExchange};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};

struct Venue {
    exchange: PaperExchange,
    http: reqwest::Client,
    nonce: AtomicU64,
}

impl Venue {
    async fn start_with(edits: &[(&str, &str)]) -> Self {
        let config = paper_exchange::venues::parse_edited(VENUE, edits);
        Self::start_config(config).await
    }

    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_config(config: ExchangeConfig) -> Self {
        let (exchange, _) = common::start(config).await;
        Self {
            exchange,
            http: reqwest::Client::new(),
            // Above the nonce of Kraken's published example, which one test sends first.
            nonce: AtomicU64::new(2_000_000_000_000),
        }
    }

    async fn reply(resp: reqwest::Response) -> (StatusCode, Value) {
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn public(&self, method: &str, query: &str) -> Value {
        let url = format!("{}/0/public/{method}?{query}", self.exchange.base_url());
        let (status, body) = Self::reply(self.http.get(url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A raw private call: the body as sent and the headers given.
    async fn post_raw(&self, method: &str, body: &str, key: &str, sign: &str) -> Value {
        let url = format!("{}/0/private/{method}", self.exchange.base_url());
        let resp = self
            .http
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("API-Key", key)
            .header("API-Sign", sign)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let (status, body) = Self::reply(resp).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "Kraken answers 200, errors included: {body}"
        );
        body
    }

    /// A private call signed as Kraken documents it, with a given nonce.
    async fn private_with_nonce(
        &self,
        who: (&str, &str),
        method: &str,
        nonce: u64,
        params: &[(&str, &str)],
    ) -> Value {
        let mut all = vec![("nonce", nonce.to_string())];
        all.extend(params.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let body = serde_urlencoded::to_string(&all).unwrap();
        let sign = kraken_sign(
            who.1,
            &format!("/0/private/{method}"),
            &nonce.to_string(),
            &body,
        );
        self.post_raw(method, &body, who.0, &sign).await
    }

    async fn private_as(&self, who: (&str, &str), method: &str, params: &[(&str, &str)]) -> Value {
        let nonce = self.nonce.fetch_add(1, Ordering::SeqCst);
        self.private_with_nonce(who, method, nonce, params).await
    }

    async fn alice(&self, method: &str, params: &[(&str, &str)]) -> Value {
        self.private_as(ALICE, method, params).await
    }

    async fn admin_put_faults(&self, faults: Value) {
        let resp = self
            .http
            .put(format!("{}/admin/faults", self.exchange.base_url()))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

const ALICE: (&str, &str) = ("alice-key", EXAMPLE_SECRET);
const BOB: (&str, &str) = ("bob-key", BOB_SECRET);

/// The result of a call that must succeed.
fn ok(body: &Value) -> &Value {
    assert_eq!(body["error"], json!([]), "{body}");
    &body["result"]
}

/// The one error of a call that must fail.
fn error(body: &Value) -> &str {
    let errors = body["error"].as_array().expect("an error array");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0].as_str().unwrap()
}

/// `AddOrder`'s parameters: a `side` order of type `ordertype` on `pair`, then the rest (price,
/// volume, flags, ids) in the order given.
fn add_order<'a>(
    pair: &'a str,
    side: &'a str,
    ordertype: &'a str,
    rest: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("pair", pair), ("type", side), ("ordertype", ordertype)];
    all.extend_from_slice(rest);
    all
}

/// `AddOrder`'s parameters for a limit buy of `volume` XBTUSD at `price`, then the rest.
fn xbt_limit_buy<'a>(
    price: &'a str,
    volume: &'a str,
    rest: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = add_order(
        "XBTUSD",
        "buy",
        "limit",
        &[("price", price), ("volume", volume)],
    );
    all.extend_from_slice(rest);
    all
}

fn the_txid(result: &Value) -> String {
    result["txid"][0].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_venue_accepts_krakens_published_signing_example_exactly() {
    let v = Venue::start().await;
    let body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
    let sign =
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";
    assert_eq!(
        kraken_sign(EXAMPLE_SECRET, "/0/private/AddOrder", "1616492376594", body),
        sign
    );
    let placed = v.post_raw("AddOrder", body, "alice-key", sign).await;
    let result = ok(&placed);
    assert_eq!(
        result["descr"]["order"],
        "buy 1.25000000 XBTUSD @ limit 37500.00"
    );
    let txid = the_txid(result);
    let open = v.alice("OpenOrders", &[]).await;
    assert_eq!(ok(&open)["open"][&txid]["vol"], "1.25000000");
    // The same signed request again: its nonce is spent.
    let replay = v.post_raw("AddOrder", body, "alice-key", sign).await;
    assert_eq!(error(&replay), "EAPI:Invalid nonce");
}

#[tokio::test]
async fn public_time_status_assets_and_pairs_use_krakens_names() {
    let v = Venue::start().await;
    let time = v.public("Time", "").await;
    assert_eq!(ok(&time)["unixtime"], json!(T0 / 1000));
    assert_eq!(ok(&time)["rfc1123"], "Fri, 15 Jan 27 08:00:00 +0000");
    let status = v.public("SystemStatus", "").await;
    assert_eq!(ok(&status)["status"], "online");
    assert_eq!(ok(&status)["timestamp"], "2027-01-15T08:00:00Z");

    let assets = v.public("Assets", "").await;
    let keys: Vec<&String> = ok(&assets).as_object().unwrap().keys().collect();
    assert_eq!(keys, ["USDT", "XETH", "XXBT", "ZUSD"]);
    assert_eq!(ok(&assets)["XXBT"]["altname"], "XBT");
    let one = v.public("Assets", "asset=XBT").await;
    assert_eq!(ok(&one).as_object().unwrap().len(), 1);
    assert_eq!(
        error(&v.public("Assets", "asset=BTCX").await),
        "EQuery:Unknown asset"
    );

    let pairs = v.public("AssetPairs", "").await;
    let btc = &ok(&pairs)["XXBTZUSD"];
    for (field, want) in [
        ("altname", json!("XBTUSD")),
        ("wsname", json!("XBT/USD")),
        ("base", json!("XXBT")),
        ("quote", json!("ZUSD")),
        ("tick_size", json!("0.01")),
        ("pair_decimals", json!(2)),
        ("lot_decimals", json!(4)),
        ("ordermin", json!("0.0001")),
        ("costmin", json!("5")),
        ("status", json!("online")),
        ("fees", json!([[0, 0.2]])),
        ("fees_maker", json!([[0, 0.1]])),
    ] {
        assert_eq!(btc[field], want, "{field}");
    }
    assert_eq!(ok(&pairs)["ETHUSDT"]["wsname"], "ETH/USDT");
    assert_eq!(ok(&pairs)["ETHUSDT"]["base"], "XETH");
    for name in ["XBTUSD", "XXBTZUSD", "XBT/USD"] {
        let one = v
            .public("AssetPairs", &format!("pair={}", name.replace('/', "%2F")))
            .await;
        let keys: Vec<&String> = ok(&one).as_object().unwrap().keys().collect();
        assert_eq!(keys, ["XXBTZUSD"], "{name}");
    }
    let unknown = v.public("AssetPairs", "pair=BTCUSD").await;
    assert_eq!(error(&unknown), "EQuery:Unknown asset pair");
}

#[tokio::test]
async fn ticker_depth_and_trades_show_the_book_and_what_traded() {
    let v = Venue::start().await;
    let ticker = v.public("Ticker", "pair=XBTUSD").await;
    let t = &ok(&ticker)["XXBTZUSD"];
    assert_eq!(t["a"][0], "40040.00");
    assert_eq!(t["b"][0], "39960.00");
    assert_eq!(t["a"][2], "1.00000000");

    let depth = v.public("Depth", "pair=XBTUSD&count=2").await;
    let d = &ok(&depth)["XXBTZUSD"];
    assert_eq!(d["asks"].as_array().unwrap().len(), 2);
    assert_eq!(d["asks"][1][0], "40080.00");
    assert_eq!(d["bids"][0], json!(["39960.00", "1.00000000", T0 / 1000]));
    assert_eq!(
        error(&v.public("Depth", "pair=XBTUSD&count=0").await),
        "EGeneral:Invalid arguments:count"
    );
    assert_eq!(
        error(&v.public("Depth", "").await),
        "EGeneral:Invalid arguments:pair"
    );

    // A market buy of 1.5 takes 1 at 40,040 and 0.5 at 40,080.
    ok(&v
        .alice(
            "AddOrder",
            &add_order("XBTUSD", "buy", "market", &[("volume", "1.5")]),
        )
        .await);
    let trades = v.public("Trades", "pair=XXBTZUSD").await;
    let rows = ok(&trades)["XXBTZUSD"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        (Some("40040.00"), Some("1.00000000"))
    );
    assert_eq!(
        (rows[1][3].as_str(), rows[1][4].as_str()),
        (Some("b"), Some("m"))
    );
    assert_eq!(ok(&trades)["last"], json!((T0 * 1_000_000).to_string()));
    let ticker = v.public("Ticker", "pair=XBTUSD").await;
    let t = &ok(&ticker)["XXBTZUSD"];
    assert_eq!(t["c"], json!(["40080.00", "0.50000000"]));
    assert_eq!(t["v"][1], "1.50000000");
    assert_eq!(t["t"][1], 2);
    assert_eq!(t["h"][1], "40080.00");
    assert_eq!(t["l"][1], "40040.00");
}

#[tokio::test]
async fn balances_are_keyed_by_krakens_asset_keys_and_show_what_orders_hold() {
    let v = Venue::start().await;
    let balance = v.alice("Balance", &[]).await;
    assert_eq!(
        ok(&balance),
        &json!({"USDT": "1000.00000000", "XXBT": "10.00000000", "ZUSD": "100000.00000000"})
    );
    ok(&v.alice("AddOrder", &xbt_limit_buy("30000", "2", &[])).await);
    let ex = v.alice("BalanceEx", &[]).await;
    assert_eq!(ok(&ex)["ZUSD"]["balance"], "100000.00000000");
    // The cost and the fee at the higher rate (0.2 %): Kraken takes a buy's fee in the quote
    // (every order asks `fciq`).
    assert_eq!(ok(&ex)["ZUSD"]["hold_trade"], "60120.00000000");
    assert_eq!(ok(&ex)["XXBT"]["hold_trade"], "0.00000000");
}

#[tokio::test]
async fn an_order_is_placed_queried_listed_cancelled_and_closed_by_txid_or_cl_ord_id() {
    let v = Venue::start().await;
    let placed = v
        .alice(
            "AddOrder",
            &xbt_limit_buy("39000", "0.5", &[("cl_ord_id", "rebalance-0001")]),
        )
        .await;
    let result = ok(&placed);
    assert_eq!(
        result["descr"]["order"],
        "buy 0.50000000 XBTUSD @ limit 39000.00"
    );
    assert_eq!(result["cl_ord_id"], "rebalance-0001");
    let txid = the_txid(result);
    let shape: Vec<usize> = txid.split('-').map(str::len).collect();
    assert!(txid.starts_with('O') && shape == [6, 5, 6], "{txid}");

    let query = v
        .alice("QueryOrders", &[("txid", &txid), ("trades", "true")])
        .await;
    let o = &ok(&query)[&txid];
    assert_eq!(o["status"], "open");
    assert_eq!(o["cl_ord_id"], "rebalance-0001");
    assert_eq!(o["descr"]["pair"], "XBTUSD");
    assert_eq!(o["descr"]["type"], "buy");
    assert_eq!(o["descr"]["ordertype"], "limit");
    assert_eq!(o["descr"]["price"], "39000.00");
    assert_eq!(
        (o["vol"].as_str(), o["vol_exec"].as_str()),
        (Some("0.50000000"), Some("0.00000000"))
    );
    assert_eq!(o["opentm"], json!(1_800_000_000.0));
    let by_ref = v
        .alice("OpenOrders", &[("cl_ord_id", "rebalance-0001")])
        .await;
    assert!(ok(&by_ref)["open"].get(&txid).is_some());
    let by_other = v.alice("OpenOrders", &[("cl_ord_id", "other")]).await;
    assert_eq!(ok(&by_other)["open"], json!({}));

    let cancelled = v
        .alice("CancelOrder", &[("cl_ord_id", "rebalance-0001")])
        .await;
    assert_eq!(ok(&cancelled)["count"], 1);
    let again = v.alice("CancelOrder", &[("txid", &txid)]).await;
    assert_eq!(error(&again), "EOrder:Unknown order");
    let open = v.alice("OpenOrders", &[]).await;
    assert_eq!(ok(&open)["open"], json!({}));
    let closed = v.alice("ClosedOrders", &[]).await;
    assert_eq!(ok(&closed)["count"], 1);
    let c = &ok(&closed)["closed"][&txid];
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("canceled"), Some("User requested"))
    );
    assert!(c["closetm"].is_number());
    // Bob sees none of alice's orders.
    let bobs = v.private_as(BOB, "QueryOrders", &[("txid", &txid)]).await;
    assert_eq!(error(&bobs), "EOrder:Unknown order");
    let bogus = v
        .alice("QueryOrders", &[("txid", "OQCLML-BW3P3-BUCMWZ")])
        .await;
    assert_eq!(error(&bogus), "EOrder:Unknown order");
}

#[tokio::test]
async fn fills_show_in_orders_and_trades_with_their_fees_in_the_quote_currency() {
    let v = Venue::start().await;
    // Taker fee 0.2 %: a buy of 1.5 costs 40,040 + 20,040 = 60,080 USD, and its fee, 120.16
    // USD, on top.
    let placed = v
        .alice(
            "AddOrder",
            &add_order(
                "XXBTZUSD",
                "buy",
                "limit",
                &[
                    ("price", "40100"),
                    ("volume", "1.5"),
                    ("timeinforce", "IOC"),
                ],
            ),
        )
        .await;
    let txid = the_txid(ok(&placed));
    let query = v
        .alice("QueryOrders", &[("txid", &txid), ("trades", "true")])
        .await;
    let o = &ok(&query)[&txid];
    assert_eq!(o["status"], "closed");
    assert_eq!(o["vol_exec"], "1.50000000");
    assert_eq!(o["cost"], "60080.00000000");
    assert_eq!(o["fee"], "120.16000000");
    assert_eq!(o["price"], "40053.33");
    let trade_ids: Vec<String> = serde_json::from_value(o["trades"].clone()).unwrap();
    assert_eq!(trade_ids.len(), 2);
    assert!(trade_ids.iter().all(|t| t.starts_with('T')));

    let history = v.alice("TradesHistory", &[]).await;
    assert_eq!(ok(&history)["count"], 2);
    let first = &ok(&history)["trades"][&trade_ids[0]];
    assert_eq!(first["ordertxid"], json!(txid));
    assert_eq!(first["pair"], "XXBTZUSD");
    assert_eq!(first["type"], "buy");
    assert_eq!(first["price"], "40040.00");
    assert_eq!(first["vol"], "1.00000000");
    assert_eq!(first["cost"], "40040.00000000");
    assert_eq!(first["fee"], "80.08000000");
    assert_eq!(first["maker"], false);
    let one = v.alice("QueryTrades", &[("txid", &trade_ids[1])]).await;
    assert_eq!(ok(&one)[&trade_ids[1]]["fee"], "40.08000000");
    assert_eq!(
        error(&v.alice("QueryTrades", &[("txid", "nope")]).await),
        "EGeneral:Invalid arguments:txid"
    );

    let volume = v.alice("TradeVolume", &[("pair", "XBTUSD")]).await;
    assert_eq!(ok(&volume)["fees"]["XXBTZUSD"]["fee"], "0.2000");
    assert_eq!(ok(&volume)["fees_maker"]["XXBTZUSD"]["fee"], "0.1000");
    assert_eq!(ok(&volume)["volume"], "60080.0000");
}

#[tokio::test]
async fn a_buy_must_leave_room_for_its_fee_in_the_quote() {
    let v = Venue::start().await;
    // 100,000 USD buy 2.49 at 40,100 (99,849) but not its 0.2 % fee (199.70): refused, as
    // Kraken refuses it.
    let refused = v
        .alice("AddOrder", &xbt_limit_buy("40100", "2.49", &[]))
        .await;
    assert_eq!(error(&refused), "EOrder:Insufficient funds");
    // 2 at 40,100 is 80,200 and 160.40 of fee: placed, and it takes the book (1 at 40,040,
    // 1 at 40,060).
    let placed = v
        .alice(
            "AddOrder",
            &xbt_limit_buy("40100", "2", &[("timeinforce", "IOC")]),
        )
        .await;
    let txid = the_txid(ok(&placed));
    let query = v.alice("QueryOrders", &[("txid", &txid)]).await;
    let o = &ok(&query)[&txid];
    assert_eq!(o["vol_exec"], "2.00000000");
    let (cost, fee) = (o["cost"].as_str().unwrap(), o["fee"].as_str().unwrap());
    let (cost, fee): (Decimal, Decimal) = (cost.parse().unwrap(), fee.parse().unwrap());
    assert_eq!(fee, cost * Decimal::new(2, 3));
    // The whole 2 BTC arrive; the USD pays the cost and the fee, nothing stays held.
    let ex = v.alice("BalanceEx", &[]).await;
    assert_eq!(ok(&ex)["XXBT"]["balance"], "12.00000000");
    let usd: Decimal = ok(&ex)["ZUSD"]["balance"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(usd, Decimal::from(100_000) - cost - fee);
    assert_eq!(ok(&ex)["ZUSD"]["hold_trade"], "0.00000000");
}

#[tokio::test]
async fn validate_checks_an_order_without_placing_it() {
    let v = Venue::start().await;
    let validate_sell = |volume| {
        add_order(
            "XBTUSD",
            "sell",
            "limit",
            &[("price", "41000"), ("volume", volume), ("validate", "true")],
        )
    };
    let checked = v.alice("AddOrder", &validate_sell("1")).await;
    assert_eq!(
        ok(&checked)["descr"]["order"],
        "sell 1.00000000 XBTUSD @ limit 41000.00"
    );
    assert!(ok(&checked).get("txid").is_none());
    assert_eq!(ok(&v.alice("OpenOrders", &[]).await)["open"], json!({}));
    let too_big = v.alice("AddOrder", &validate_sell("11")).await;
    assert_eq!(error(&too_big), "EOrder:Insufficient funds");
}

#[tokio::test]
async fn nonces_must_strictly_increase_per_key_and_only_a_signed_call_spends_one() {
    let v = Venue::start().await;
    ok(&v.private_with_nonce(ALICE, "Balance", 100, &[]).await);
    for stale in [100, 99, 1] {
        let again = v.private_with_nonce(ALICE, "Balance", stale, &[]).await;
        assert_eq!(error(&again), "EAPI:Invalid nonce", "nonce {stale}");
    }
    // Another key has its own sequence.
    ok(&v.private_with_nonce(BOB, "Balance", 5, &[]).await);
    // A bad signature does not spend its nonce.
    let forged = v
        .post_raw(
            "Balance",
            "nonce=200",
            "alice-key",
            &kraken_sign(BOB_SECRET, "/0/private/Balance", "200", "nonce=200"),
        )
        .await;
    assert_eq!(error(&forged), "EAPI:Invalid signature");
    ok(&v.private_with_nonce(ALICE, "Balance", 200, &[]).await);
    // A nonce spent on a refused order stays spent.
    let refused = v
        .private_with_nonce(ALICE, "AddOrder", 300, &[("pair", "NOPE")])
        .await;
    assert_eq!(error(&refused), "EQuery:Unknown asset pair");
    assert_eq!(
        error(&v.private_with_nonce(ALICE, "Balance", 300, &[]).await),
        "EAPI:Invalid nonce"
    );
    let missing = v
        .post_raw(
            "Balance",
            "",
            "alice-key",
            &kraken_sign(EXAMPLE_SECRET, "/0/private/Balance", "", ""),
        )
        .await;
    assert_eq!(error(&missing), "EAPI:Invalid nonce");
}

/// A key with a nonce window (`[kraken] nonce_window`), as Kraken lets an operator set one:
/// a nonce up to the window below the highest still passes, once; below it, or again, it is
/// refused. Processes sharing a key rely on it.
#[tokio::test]
async fn a_nonce_window_lets_late_nonces_through_once() {
    let config =
        ExchangeConfig::parse(&format!("{VENUE}\n[kraken]\nnonce_window = 1000\n")).unwrap();
    let v = Venue::start_config(config).await;
    ok(&v.private_with_nonce(ALICE, "Balance", 5_000, &[]).await);
    ok(&v.private_with_nonce(ALICE, "Balance", 4_500, &[]).await);
    for refused in [4_500, 5_000, 4_000, 3_000] {
        let again = v.private_with_nonce(ALICE, "Balance", refused, &[]).await;
        assert_eq!(error(&again), "EAPI:Invalid nonce", "nonce {refused}");
    }
    ok(&v.private_with_nonce(ALICE, "Balance", 4_001, &[]).await);
    ok(&v.private_with_nonce(ALICE, "Balance", 9_000, &[]).await);
    assert_eq!(
        error(&v.private_with_nonce(ALICE, "Balance", 7_999, &[]).await),
        "EAPI:Invalid nonce",
        "the window follows the highest"
    );
    // A late placement passes once and places one order; its replay is refused.
    let place = xbt_limit_buy("30000", "0.01", &[]);
    ok(&v.private_with_nonce(ALICE, "AddOrder", 8_500, &place).await);
    let replay = v.private_with_nonce(ALICE, "AddOrder", 8_500, &place).await;
    assert_eq!(error(&replay), "EAPI:Invalid nonce");
    let open = v.private_with_nonce(ALICE, "OpenOrders", 9_001, &[]).await;
    assert_eq!(ok(&open)["open"].as_object().unwrap().len(), 1);
    // Without the setting the window is 0: strict, as Kraken's default.
    let strict = Venue::start().await;
    ok(&strict
        .private_with_nonce(ALICE, "Balance", 5_000, &[])
        .await);
    assert_eq!(
        error(
            &strict
                .private_with_nonce(ALICE, "Balance", 4_999, &[])
                .await
        ),
        "EAPI:Invalid nonce"
    );
}

#[tokio::test]
async fn keys_and_signatures_are_checked_as_kraken_checks_them() {
    let v = Venue::start().await;
    let unknown = v
        .private_as(("nobody", EXAMPLE_SECRET), "Balance", &[])
        .await;
    assert_eq!(error(&unknown), "EAPI:Invalid key");
    let unsigned = v.post_raw("Balance", "nonce=7", "alice-key", "").await;
    assert_eq!(error(&unsigned), "EAPI:Invalid signature");
    // Signed for another path.
    let sign = kraken_sign(EXAMPLE_SECRET, "/0/private/BalanceEx", "8", "nonce=8");
    assert_eq!(
        error(&v.post_raw("Balance", "nonce=8", "alice-key", &sign).await),
        "EAPI:Invalid signature"
    );
    // The body altered after signing.
    let sign = kraken_sign(EXAMPLE_SECRET, "/0/private/Balance", "9", "nonce=9");
    assert_eq!(
        error(
            &v.post_raw("Balance", "nonce=9&x=1", "alice-key", &sign)
                .await
        ),
        "EAPI:Invalid signature"
    );
    // Private methods are POST only; unknown methods are 404.
    let get = v
        .http
        .get(format!("{}/0/private/Balance", v.exchange.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let body: Value = get.json().await.unwrap();
    assert_eq!(error(&body), "EGeneral:Unknown method");
}

#[tokio::test]
async fn a_cl_ord_id_is_unique_among_open_orders_only_and_a_userref_never() {
    let v = Venue::start().await;
    let order = |cl: &'static str| xbt_limit_buy("30000", "0.1", &[("cl_ord_id", cl)]);
    let first = v.alice("AddOrder", &order("c-1")).await;
    let first = the_txid(ok(&first));
    let dup = v.alice("AddOrder", &order("c-1")).await;
    assert_eq!(error(&dup), "EOrder:Duplicate order");
    // Another account may use the same id.
    ok(&v
        .private_as(
            BOB,
            "AddOrder",
            &xbt_limit_buy("1000", "0.01", &[("cl_ord_id", "c-1")]),
        )
        .await);
    ok(&v.alice("CancelOrder", &[("txid", &first)]).await);
    // Once the first is closed, the id may be used again; the new order is what it names.
    let second = v.alice("AddOrder", &order("c-1")).await;
    let second = the_txid(ok(&second));
    assert_ne!(first, second);
    let open = v.alice("OpenOrders", &[("cl_ord_id", "c-1")]).await;
    let open: Vec<&String> = ok(&open)["open"].as_object().unwrap().keys().collect();
    assert_eq!(open, [&second]);

    let by_ref = xbt_limit_buy("30000", "0.1", &[("userref", "-42")]);
    let a = the_txid(ok(&v.alice("AddOrder", &by_ref).await));
    let b = the_txid(ok(&v.alice("AddOrder", &by_ref).await));
    assert_ne!(a, b, "a userref is not deduplicated");
    let tagged = v.alice("OpenOrders", &[("userref", "-42")]).await;
    assert_eq!(ok(&tagged)["open"].as_object().unwrap().len(), 2);
    assert_eq!(ok(&tagged)["open"][&a]["userref"], -42);
    assert!(ok(&tagged)["open"][&a].get("cl_ord_id").is_none());
    // A userref in CancelOrder's txid cancels every open order placed with it.
    assert_eq!(
        ok(&v.alice("CancelOrder", &[("txid", "-42")]).await)["count"],
        2
    );

    let both = v
        .alice(
            "AddOrder",
            &xbt_limit_buy("30000", "0.1", &[("cl_ord_id", "c-2"), ("userref", "1")]),
        )
        .await;
    assert_eq!(
        error(&both),
        "EGeneral:Invalid arguments:cl_ord_id and userref"
    );
    let long = v.alice("AddOrder", &order("this-is-nineteen-ch")).await;
    assert_eq!(error(&long), "EGeneral:Invalid arguments:cl_ord_id");
}

#[tokio::test]
async fn orders_are_refused_with_krakens_error_strings() {
    let v = Venue::start().await;
    for (extra, expected) in [
        (
            vec![("price", "30000"), ("volume", "4")],
            "EOrder:Insufficient funds",
        ),
        (
            vec![("price", "30000"), ("volume", "0.00001")],
            "EOrder:Order minimum not met",
        ),
        (
            vec![("price", "1"), ("volume", "1")],
            "EOrder:Cost minimum not met",
        ),
        (
            vec![("price", "30000.001"), ("volume", "1")],
            "EOrder:Tick size check failed",
        ),
        (
            vec![("price", "30000"), ("volume", "1.00001")],
            "EGeneral:Invalid arguments:volume",
        ),
        (
            vec![("price", "30000")],
            "EGeneral:Invalid arguments:volume",
        ),
        (vec![("volume", "1")], "EGeneral:Invalid arguments:price"),
        (
            vec![("price", "-1"), ("volume", "1")],
            "EGeneral:Invalid arguments:price",
        ),
        (
            vec![("price", "30000"), ("volume", "1"), ("timeinforce", "GTD")],
            "EGeneral:Invalid arguments:timeinforce",
        ),
        (
            vec![("price", "30000"), ("volume", "1"), ("oflags", "viqc")],
            "EGeneral:Invalid arguments:oflags viqc",
        ),
        (
            vec![("price", "40100"), ("volume", "1"), ("oflags", "post")],
            "EOrder:Post only order",
        ),
    ] {
        let refused = v
            .alice("AddOrder", &add_order("XBTUSD", "buy", "limit", &extra))
            .await;
        assert_eq!(error(&refused), expected, "{extra:?}");
    }
    for (side, ordertype, expected) in [
        ("hold", "limit", "EGeneral:Invalid arguments:type"),
        ("buy", "stop-loss", "EGeneral:Invalid arguments:ordertype"),
    ] {
        let order = add_order(
            "XBTUSD",
            side,
            ordertype,
            &[("price", "1"), ("volume", "1")],
        );
        let refused = v.alice("AddOrder", &order).await;
        assert_eq!(error(&refused), expected, "{side} {ordertype}");
    }
    assert_eq!(
        error(&v.alice("CancelOrder", &[]).await),
        "EGeneral:Invalid arguments:txid"
    );
    assert_eq!(
        error(&v.alice("QueryOrders", &[]).await),
        "EGeneral:Invalid arguments:txid"
    );
    // A post-only order that rests is placed and shows its flag.
    let post = v
        .alice(
            "AddOrder",
            &xbt_limit_buy("39000", "0.1", &[("oflags", "post")]),
        )
        .await;
    let txid = the_txid(ok(&post));
    let q = v.alice("QueryOrders", &[("txid", &txid)]).await;
    assert_eq!(ok(&q)[&txid]["oflags"], "post,fciq");
    assert_eq!(
        error(&v.alice("ClosedOrders", &[("start", "soon")]).await),
        "EGeneral:Invalid arguments:start"
    );
}

#[tokio::test]
async fn an_account_may_hold_sixty_open_orders_in_a_pair() {
    let v = Venue::start().await;
    let order = xbt_limit_buy("1000", "0.01", &[]);
    for _ in 0..60 {
        ok(&v.alice("AddOrder", &order).await);
    }
    assert_eq!(
        error(&v.alice("AddOrder", &order).await),
        "EOrder:Orders limit exceeded"
    );
    // Another pair has its own limit.
    ok(&v
        .alice(
            "AddOrder",
            &add_order(
                "ETHUSDT",
                "buy",
                "limit",
                &[("price", "1000"), ("volume", "0.01")],
            ),
        )
        .await);
    let closed_page = v.alice("ClosedOrders", &[]).await;
    assert_eq!(ok(&closed_page)["count"], 0);
}

#[tokio::test]
async fn the_gates_refusals_are_written_in_krakens_words() {
    let v = Venue::start_with(&[(
        "request_weight_per_minute = 6000",
        "request_weight_per_minute = 3",
    )])
    .await;
    for _ in 0..3 {
        ok(&v.public("Time", "").await);
    }
    assert_eq!(
        error(&v.public("Time", "").await),
        "EAPI:Rate limit exceeded"
    );
    assert_eq!(
        error(&v.public("Time", "").await),
        "EGeneral:Temporary lockout"
    );

    let v = Venue::start().await;
    v.admin_put_faults(json!({"maintenance": true})).await;
    assert_eq!(
        error(&v.public("SystemStatus", "").await),
        "EService:Unavailable"
    );
    assert_eq!(
        error(&v.alice("Balance", &[]).await),
        "EService:Unavailable"
    );
    v.admin_put_faults(json!({"server_error_rate": "1"})).await;
    assert_eq!(error(&v.alice("Balance", &[]).await), "EService:Busy");
    v.admin_put_faults(json!({"drop_next_order_responses": 1}))
        .await;
    let lost = xbt_limit_buy("30000", "0.1", &[("cl_ord_id", "lost-answer")]);
    let dropped = v.alice("AddOrder", &lost).await;
    assert_eq!(error(&dropped), "EGeneral:Internal error");
    // The order stands: the client finds it by its cl_ord_id, and cannot place it twice.
    let found = v.alice("OpenOrders", &[("cl_ord_id", "lost-answer")]).await;
    assert_eq!(ok(&found)["open"].as_object().unwrap().len(), 1);
    let retry = v.alice("AddOrder", &lost).await;
    assert_eq!(error(&retry), "EOrder:Duplicate order");
}

#[tokio::test]
async fn a_kraken_listener_needs_base64_secrets() {
    let err = ExchangeConfig::parse(&VENUE.replace(BOB_SECRET, "bob-secret!")).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("accounts.bob.secret") && shown.contains("base64"),
        "{shown}"
    );
    assert!(
        !shown.contains("bob-secret!"),
        "the secret is not shown: {shown}"
    );
    // The Binance dialect takes any secret.
    let binance = VENUE
        .replace("dialect = \"kraken\"", "dialect = \"binance\"")
        .replace(BOB_SECRET, "bob-secret!");
    assert!(ExchangeConfig::parse(&binance).is_ok());
}
