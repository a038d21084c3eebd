//! The Binance market-data and account-history endpoints over HTTP, on a scripted market: the
//! tickers, average price, trades, aggregate trades and klines follow from its moves and
//! trades; allOrders, commission, exchangeInfo's filters and omitZeroBalances; each with its
//! weight and the venue's errors for bad parameters.

mod binance_venue;
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use binance_venue::{Reply, Venue, T0};

const MIN: i64 = 60_000;

/// T0 is 2027-01-15T08:00:00Z, a Friday, on a 5-minute boundary.
const DAY_START: i64 = 1_799_971_200_000;
const MONTH_START: i64 = 1_798_761_600_000;
const WEEK_START: i64 = 1_799_625_600_000;

/// The market the tests read: at T0 the mid is set to 100; at +10 s bob rests a sell of 0.2 at
/// 100.10; at +30 s alice buys 1.5 at market (trades 1: 1 at 100.10 from the simulated book,
/// 2: bob's 0.2 at 100.10, 3: 0.3 at 100.20); at +90 s the mid goes to 103; at +150 s back
/// to 100, and bob sells 0.5 at market (trade 4: 0.5 at 99.90, the simulated buyer making).
/// The clock is left at T0 + 150 s.
async fn scripted() -> Venue {
    let v = Venue::start(common::venue_config()).await;
    let mid = |price: &str| json!({"symbol": "BTCUSDT", "price": price});
    v.admin(Method::POST, "/mid", mid("100")).await;
    v.clock.advance(10_000);
    let bob = |params: &'static [(&'static str, &'static str)]| {
        v.signed_as(
            "bob-key",
            "bob-secret",
            Method::POST,
            "/api/v3/order",
            params,
        )
    };
    let rest = bob(&[
        ("symbol", "BTCUSDT"),
        ("side", "SELL"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.2"),
        ("price", "100.10"),
    ])
    .await;
    assert_eq!(rest.body["status"], "NEW", "{}", rest.body);
    v.clock.advance(20_000);
    let buy = v
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "1.5"),
            ],
        )
        .await;
    assert_eq!(buy.body["status"], "FILLED", "{}", buy.body);
    v.clock.advance(60_000);
    v.admin(Method::POST, "/mid", mid("103")).await;
    v.clock.advance(60_000);
    v.admin(Method::POST, "/mid", mid("100")).await;
    let sell = bob(&[
        ("symbol", "BTCUSDT"),
        ("side", "SELL"),
        ("type", "MARKET"),
        ("quantity", "0.5"),
    ])
    .await;
    assert_eq!(
        sell.body["fills"][0]["price"], "99.90000000",
        "{}",
        sell.body
    );
    v
}

impl Venue {
    /// The request and the weight it alone used.
    async fn weighed(&self, path: &str, params: &[(&str, &str)]) -> (Reply, u32) {
        let before = self.public("/api/v3/ping", &[]).await.weight();
        let r = self.public(path, params).await;
        let w = r.weight() - before;
        (r, w)
    }

    async fn signed_weighed(&self, path: &str, params: &[(&str, &str)]) -> (Reply, u32) {
        let before = self.public("/api/v3/ping", &[]).await.weight();
        let r = self.signed(Method::GET, path, params).await;
        let w = r.weight() - before;
        (r, w)
    }

    /// The error a public GET answers with.
    async fn refused(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, i64) {
        let r = self.public(path, params).await;
        let (status, code, _) = r.code();
        (status, code)
    }
}

fn kline(
    open: i64,
    ohlc: [&str; 4],
    volume: &str,
    close_in: i64,
    quote: &str,
    n: u64,
    buy: [&str; 2],
) -> Value {
    json!([
        open,
        ohlc[0],
        ohlc[1],
        ohlc[2],
        ohlc[3],
        volume,
        open + close_in - 1,
        quote,
        n,
        buy[0],
        buy[1],
        "0"
    ])
}

const Z: &str = "0.00000000";

#[tokio::test]
async fn klines_follow_the_price_path_and_the_trades() {
    let v = scripted().await;
    let minute_0 = kline(
        T0,
        [
            "100.00000000",
            "100.20000000",
            "100.00000000",
            "100.20000000",
        ],
        "1.50000000",
        MIN,
        "150.18000000",
        3,
        ["1.50000000", "150.18000000"],
    );
    let minute_1 = kline(T0 + MIN, ["103.00000000"; 4], Z, MIN, Z, 0, [Z, Z]);
    let minute_2 = kline(
        T0 + 2 * MIN,
        ["100.00000000", "100.00000000", "99.90000000", "99.90000000"],
        "0.50000000",
        MIN,
        "49.95000000",
        1,
        [Z, Z],
    );
    let (all, weight) = v
        .weighed(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1m")],
        )
        .await;
    assert_eq!(weight, 2);
    assert_eq!(all.body, json!([minute_0, minute_1, minute_2]));
    let ui = v
        .weighed(
            "/api/v3/uiKlines",
            &[("symbol", "BTCUSDT"), ("interval", "1m")],
        )
        .await;
    assert_eq!((ui.0.body, ui.1), (all.body.clone(), 2));

    let latest = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1m"), ("limit", "2")],
        )
        .await;
    assert_eq!(latest.body, json!([minute_1, minute_2]));
    let t1 = (T0 + 1).to_string();
    let from = v
        .public(
            "/api/v3/klines",
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("startTime", &t1),
                ("limit", "1"),
            ],
        )
        .await;
    assert_eq!(
        from.body,
        json!([minute_1]),
        "a kline is listed when it opens at or after startTime"
    );
    let until = (T0 + MIN).to_string();
    let upto = v
        .public(
            "/api/v3/klines",
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("endTime", &until),
            ],
        )
        .await;
    assert_eq!(upto.body, json!([minute_0, minute_1]));

    let five = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "5m")],
        )
        .await;
    assert_eq!(
        five.body,
        json!([kline(
            T0,
            ["100.00000000", "103.00000000", "99.90000000", "99.90000000"],
            "2.00000000",
            5 * MIN,
            "200.13000000",
            4,
            ["1.50000000", "150.18000000"]
        )])
    );
    // Seconds with nothing recorded repeat the close before them.
    let start = (T0 + 29_000).to_string();
    let secs = v
        .public(
            "/api/v3/klines",
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1s"),
                ("startTime", &start),
                ("limit", "3"),
            ],
        )
        .await;
    assert_eq!(
        secs.body,
        json!([
            kline(T0 + 29_000, ["100.00000000"; 4], Z, 1000, Z, 0, [Z, Z]),
            kline(
                T0 + 30_000,
                [
                    "100.10000000",
                    "100.20000000",
                    "100.10000000",
                    "100.20000000"
                ],
                "1.50000000",
                1000,
                "150.18000000",
                3,
                ["1.50000000", "150.18000000"]
            ),
            kline(T0 + 31_000, ["100.20000000"; 4], Z, 1000, Z, 0, [Z, Z]),
        ])
    );
    let week = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1w")],
        )
        .await;
    assert_eq!(
        (week.body[0][0].as_i64(), week.body[0][6].as_i64()),
        (Some(WEEK_START), Some(WEEK_START + 7 * 86_400_000 - 1))
    );
    let month = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1M")],
        )
        .await;
    assert_eq!(
        (month.body[0][0].as_i64(), month.body[0][6].as_i64()),
        (Some(MONTH_START), Some(1_801_440_000_000 - 1))
    );
    assert_eq!(month.body[0][8], 4);
    // In UTC+8 the day opens at 16:00 UTC the day before.
    let zoned = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1d"), ("timeZone", "8")],
        )
        .await;
    assert_eq!(zoned.body[0][0].as_i64(), Some(DAY_START - 8 * 3_600_000));

    // Ten minutes on, the quiet minutes stand at the last close with no volume.
    v.clock.advance(10 * MIN);
    let quiet = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1m"), ("limit", "2")],
        )
        .await;
    let flat = |open| kline(open, ["99.90000000"; 4], Z, MIN, Z, 0, [Z, Z]);
    assert_eq!(
        quiet.body,
        json!([flat(T0 + 11 * MIN), flat(T0 + 12 * MIN)])
    );
}

#[tokio::test]
async fn a_market_that_never_moved_has_one_flat_kline_at_its_mid() {
    let v = Venue::start(common::venue_config()).await;
    let k = v
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1h")],
        )
        .await;
    assert_eq!(
        k.body,
        json!([kline(T0, ["100.00000000"; 4], Z, 3_600_000, Z, 0, [Z, Z])])
    );
}

#[tokio::test]
async fn klines_refuse_bad_parameters_with_the_venue_codes() {
    let v = scripted().await;
    let bad = StatusCode::BAD_REQUEST;
    for (params, code) in [
        (&[("symbol", "BTCUSDT"), ("interval", "2s")][..], -1120),
        (&[("symbol", "BTCUSDT"), ("interval", "1m ")][..], -1120),
        (&[("symbol", "BTCUSDT")][..], -1102),
        (&[("interval", "1m")][..], -1102),
        (&[("symbol", "NOPE"), ("interval", "1m")][..], -1121),
        (
            &[("symbol", "BTCUSDT"), ("interval", "1m"), ("limit", "1001")][..],
            -1100,
        ),
        (
            &[("symbol", "BTCUSDT"), ("interval", "1m"), ("limit", "0")][..],
            -1100,
        ),
        (
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("startTime", "5"),
                ("endTime", "4"),
            ][..],
            -1023,
        ),
        (
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("startTime", "-x"),
            ][..],
            -1100,
        ),
        (
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("timeZone", "15"),
            ][..],
            -1100,
        ),
        (
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("timeZone", "5:75"),
            ][..],
            -1100,
        ),
    ] {
        assert_eq!(
            v.refused("/api/v3/klines", params).await,
            (bad, code),
            "{params:?}"
        );
    }
    // Times outside 0 to the end of year 9999 are refused before any arithmetic on them.
    let huge = i64::MAX.to_string();
    for (name, value) in [
        ("startTime", huge.as_str()),
        ("endTime", huge.as_str()),
        ("startTime", "-1"),
    ] {
        let params = [("symbol", "BTCUSDT"), ("interval", "1m"), (name, value)];
        assert_eq!(
            v.refused("/api/v3/klines", &params).await,
            (bad, -1100),
            "{params:?}"
        );
        let params = [("symbol", "BTCUSDT"), (name, value)];
        assert_eq!(
            v.refused("/api/v3/aggTrades", &params).await,
            (bad, -1100),
            "{params:?}"
        );
    }
    let early = v
        .public(
            "/api/v3/klines",
            &[
                ("symbol", "BTCUSDT"),
                ("interval", "1m"),
                ("endTime", "1000"),
            ],
        )
        .await;
    assert_eq!(early.body, json!([]), "nothing before the path begins");
}

#[tokio::test]
async fn the_24hr_ticker_sums_the_day_and_shows_the_book() {
    let v = scripted().await;
    let now = T0 + 150_000;
    let (t, weight) = v
        .weighed("/api/v3/ticker/24hr", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(weight, 2);
    let book = v
        .public("/api/v3/ticker/bookTicker", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        t.body,
        json!({
            "symbol": "BTCUSDT", "priceChange": "-0.10000000", "priceChangePercent": "-0.100",
            "weightedAvgPrice": "100.06500000", "prevClosePrice": "100.00000000",
            "lastPrice": "99.90000000", "lastQty": "0.50000000",
            "bidPrice": book.body["bidPrice"], "bidQty": book.body["bidQty"],
            "askPrice": book.body["askPrice"], "askQty": book.body["askQty"],
            "openPrice": "100.00000000", "highPrice": "103.00000000", "lowPrice": "99.90000000",
            "volume": "2.00000000", "quoteVolume": "200.13000000",
            "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 4, "count": 4
        })
    );
    assert_eq!(
        (book.body["askPrice"].as_str(), book.body["askQty"].as_str()),
        (Some("100.20000000"), Some("0.70000000"))
    );
    let (mini, _) = v
        .weighed(
            "/api/v3/ticker/24hr",
            &[("symbol", "BTCUSDT"), ("type", "MINI")],
        )
        .await;
    assert_eq!(
        mini.body,
        json!({"symbol": "BTCUSDT", "openPrice": "100.00000000", "highPrice": "103.00000000",
               "lowPrice": "99.90000000", "lastPrice": "99.90000000", "volume": "2.00000000",
               "quoteVolume": "200.13000000", "openTime": now - 86_400_000, "closeTime": now,
               "firstId": 1, "lastId": 4, "count": 4})
    );
    let (all, weight) = v.weighed("/api/v3/ticker/24hr", &[]).await;
    assert_eq!((all.body.as_array().map(Vec::len), weight), (Some(1), 80));
    assert_eq!(all.body[0], t.body);
    let (listed, weight) = v
        .weighed("/api/v3/ticker/24hr", &[("symbols", r#"["BTCUSDT"]"#)])
        .await;
    assert_eq!((listed.body, weight), (json!([t.body]), 2));

    // A day later nothing happened in the window: flat at the last price, no trades.
    v.clock.advance(86_400_000 + 1_000);
    let later = v
        .public(
            "/api/v3/ticker/24hr",
            &[("symbol", "BTCUSDT"), ("type", "MINI")],
        )
        .await;
    assert_eq!(
        later.strs(["openPrice", "highPrice", "lastPrice", "volume"]),
        [
            Some("99.90000000"),
            Some("99.90000000"),
            Some("99.90000000"),
            Some(Z)
        ]
    );
    assert_eq!(
        (
            &later.body["firstId"],
            &later.body["lastId"],
            &later.body["count"]
        ),
        (&json!(-1), &json!(-1), &json!(0))
    );

    let bad = StatusCode::BAD_REQUEST;
    for (params, code) in [
        (&[("symbol", "BTCUSDT"), ("type", "FULLER")][..], -1139),
        (&[("symbol", "NOPE")][..], -1121),
        (&[("symbols", r#"["BTCUSDT","BTCUSDT"]"#)][..], -1151),
        (&[("symbols", "BTCUSDT")][..], -1100),
        (&[("symbols", r#"["NOPE"]"#)][..], -1121),
        (
            &[("symbol", "BTCUSDT"), ("symbols", r#"["BTCUSDT"]"#)][..],
            -1106,
        ),
    ] {
        assert_eq!(
            v.refused("/api/v3/ticker/24hr", params).await,
            (bad, code),
            "{params:?}"
        );
    }
}

#[tokio::test]
async fn rolling_window_and_trading_day_tickers() {
    let v = scripted().await;
    let now = T0 + 150_000;
    // A 1-minute window opens at the start of the minute it reaches back into (T0 + 90 s).
    let (w, weight) = v
        .weighed(
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("windowSize", "1m")],
        )
        .await;
    assert_eq!(weight, 4);
    assert_eq!(
        w.body,
        json!({"symbol": "BTCUSDT", "priceChange": "-3.10000000", "priceChangePercent": "-3.010",
               "weightedAvgPrice": "99.90000000", "openPrice": "103.00000000", "highPrice": "103.00000000",
               "lowPrice": "99.90000000", "lastPrice": "99.90000000", "volume": "0.50000000",
               "quoteVolume": "49.95000000", "openTime": T0 + MIN, "closeTime": now,
               "firstId": 4, "lastId": 4, "count": 1})
    );
    let (whole, _) = v
        .weighed("/api/v3/ticker", &[("symbol", "BTCUSDT"), ("type", "MINI")])
        .await;
    assert_eq!(
        (
            whole.body["count"].as_u64(),
            whole.body["openTime"].as_i64()
        ),
        (Some(4), Some(T0 + 2 * MIN - 86_400_000))
    );
    assert!(
        whole.body.get("priceChange").is_none(),
        "MINI has no priceChange"
    );

    let (day, weight) = v
        .weighed(
            "/api/v3/ticker/tradingDay",
            &[("symbols", r#"["BTCUSDT"]"#)],
        )
        .await;
    assert_eq!(weight, 4);
    assert_eq!(
        (
            &day.body[0]["openTime"],
            &day.body[0]["closeTime"],
            &day.body[0]["count"],
            &day.body[0]["openPrice"],
            &day.body[0]["lastPrice"]
        ),
        (
            &json!(DAY_START),
            &json!(DAY_START + 86_400_000 - 1),
            &json!(4),
            &json!("100.00000000"),
            &json!("99.90000000")
        )
    );
    // Nine hours behind UTC the trading day began at 09:00 UTC the day before.
    let west = v
        .public(
            "/api/v3/ticker/tradingDay",
            &[("symbol", "BTCUSDT"), ("timeZone", "-9:00")],
        )
        .await;
    assert_eq!(
        west.body["openTime"].as_i64(),
        Some(DAY_START - 86_400_000 + 9 * 3_600_000)
    );

    let bad = StatusCode::BAD_REQUEST;
    for (path, params, code) in [
        ("/api/v3/ticker", &[][..], -1102),
        ("/api/v3/ticker/tradingDay", &[][..], -1102),
        (
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("windowSize", "60m")][..],
            -1100,
        ),
        (
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("windowSize", "8d")][..],
            -1100,
        ),
        (
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("windowSize", "1d2h")][..],
            -1100,
        ),
        (
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("windowSize", "01h")][..],
            -1100,
        ),
        (
            "/api/v3/ticker",
            &[("symbol", "BTCUSDT"), ("type", "mini")][..],
            -1139,
        ),
        (
            "/api/v3/ticker/tradingDay",
            &[("symbol", "BTCUSDT"), ("timeZone", "-13")][..],
            -1100,
        ),
        (
            "/api/v3/ticker/tradingDay",
            &[("symbol", "NOPE")][..],
            -1121,
        ),
    ] {
        assert_eq!(
            v.refused(path, params).await,
            (bad, code),
            "{path} {params:?}"
        );
    }
}

#[tokio::test]
async fn the_average_price_weighs_the_last_five_minutes_of_trades() {
    let v = scripted().await;
    let (avg, weight) = v
        .weighed("/api/v3/avgPrice", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        (avg.body, weight),
        (
            json!({"mins": 5, "price": "100.06500000", "closeTime": T0 + 150_000}),
            2
        )
    );
    v.clock.advance(6 * MIN);
    let quiet = v.public("/api/v3/avgPrice", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(
        quiet.body,
        json!({"mins": 5, "price": "99.90000000", "closeTime": T0 + 150_000 + 6 * MIN})
    );
    assert_eq!(
        v.refused("/api/v3/avgPrice", &[]).await,
        (StatusCode::BAD_REQUEST, -1102)
    );
    assert_eq!(
        v.refused("/api/v3/avgPrice", &[("symbol", "NOPE")]).await,
        (StatusCode::BAD_REQUEST, -1121)
    );
}

#[tokio::test]
async fn the_tape_lists_each_trade_once_with_who_made_it() {
    let v = scripted().await;
    let trade = |id: u64, price: &str, qty: &str, quote: &str, time: i64, buyer_maker: bool| {
        json!({"id": id, "price": price, "qty": qty, "quoteQty": quote, "time": time,
               "isBuyerMaker": buyer_maker, "isBestMatch": true})
    };
    let all = [
        trade(
            1,
            "100.10000000",
            "1.00000000",
            "100.10000000",
            T0 + 30_000,
            false,
        ),
        trade(
            2,
            "100.10000000",
            "0.20000000",
            "20.02000000",
            T0 + 30_000,
            false,
        ),
        trade(
            3,
            "100.20000000",
            "0.30000000",
            "30.06000000",
            T0 + 30_000,
            false,
        ),
        trade(
            4,
            "99.90000000",
            "0.50000000",
            "49.95000000",
            T0 + 150_000,
            true,
        ),
    ];
    let (recent, weight) = v.weighed("/api/v3/trades", &[("symbol", "BTCUSDT")]).await;
    assert_eq!((recent.body, weight), (json!(all), 25));
    let two = v
        .public("/api/v3/trades", &[("symbol", "BTCUSDT"), ("limit", "2")])
        .await;
    assert_eq!(two.body, json!([all[2], all[3]]));
    // The same market data at /api/v1 (python-binance asks there), and nothing signed.
    let v1 = v
        .public("/api/v1/trades", &[("symbol", "BTCUSDT"), ("limit", "2")])
        .await;
    assert_eq!(v1.body, json!([all[2], all[3]]));
    let signed_v1 = v.signed(Method::GET, "/api/v1/account", &[]).await;
    assert_eq!(
        (signed_v1.status.as_u16(), &signed_v1.body["code"]),
        (404, &json!(-1000))
    );
    let (old, weight) = v
        .weighed(
            "/api/v3/historicalTrades",
            &[("symbol", "BTCUSDT"), ("fromId", "2"), ("limit", "1")],
        )
        .await;
    assert_eq!((old.body, weight), (json!([all[1]]), 25));

    // Trades 1 and 2 are one taker order at one price and time: one aggregate.
    let agg = |a: u64, p: &str, q: &str, f: u64, l: u64, t: i64, m: bool| json!({"a": a, "p": p, "q": q, "f": f, "l": l, "T": t, "m": m, "M": true});
    let aggs = [
        agg(1, "100.10000000", "1.20000000", 1, 2, T0 + 30_000, false),
        agg(2, "100.20000000", "0.30000000", 3, 3, T0 + 30_000, false),
        agg(3, "99.90000000", "0.50000000", 4, 4, T0 + 150_000, true),
    ];
    let (all_aggs, weight) = v
        .weighed("/api/v3/aggTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!((all_aggs.body, weight), (json!(aggs), 4));
    let from = v
        .public(
            "/api/v3/aggTrades",
            &[("symbol", "BTCUSDT"), ("fromId", "2"), ("limit", "1")],
        )
        .await;
    assert_eq!(from.body, json!([aggs[1]]));
    let (s, e) = ((T0 + 100_000).to_string(), (T0 + 200_000).to_string());
    let window = v
        .public(
            "/api/v3/aggTrades",
            &[("symbol", "BTCUSDT"), ("startTime", &s), ("endTime", &e)],
        )
        .await;
    assert_eq!(window.body, json!([aggs[2]]));

    let bad = StatusCode::BAD_REQUEST;
    let far = (T0 + 3_600_001).to_string();
    let t0 = T0.to_string();
    for (path, params, code) in [
        (
            "/api/v3/trades",
            &[("symbol", "BTCUSDT"), ("limit", "0")][..],
            -1100,
        ),
        (
            "/api/v3/trades",
            &[("symbol", "BTCUSDT"), ("limit", "1001")][..],
            -1100,
        ),
        ("/api/v3/trades", &[][..], -1102),
        ("/api/v3/trades", &[("symbol", "NOPE")][..], -1121),
        (
            "/api/v3/historicalTrades",
            &[("symbol", "BTCUSDT"), ("fromId", "-1")][..],
            -1100,
        ),
        (
            "/api/v3/aggTrades",
            &[("symbol", "BTCUSDT"), ("startTime", &t0), ("endTime", &far)][..],
            -1127,
        ),
        (
            "/api/v3/aggTrades",
            &[("symbol", "BTCUSDT"), ("startTime", &far), ("endTime", &t0)][..],
            -1023,
        ),
    ] {
        assert_eq!(
            v.refused(path, params).await,
            (bad, code),
            "{path} {params:?}"
        );
    }
}

#[tokio::test]
async fn all_orders_lists_an_accounts_open_and_closed_orders() {
    let v = scripted().await;
    let rest = v
        .signed_as(
            "bob-key",
            "bob-secret",
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "0.1"),
                ("price", "150"),
            ],
        )
        .await;
    assert_eq!(rest.body["orderId"], 4);
    let venue = &v;
    let bobs = |params: &'static [(&'static str, &'static str)]| async move {
        let mut all = vec![("symbol", "BTCUSDT")];
        all.extend_from_slice(params);
        let r = venue
            .signed_as(
                "bob-key",
                "bob-secret",
                Method::GET,
                "/api/v3/allOrders",
                &all,
            )
            .await;
        let ids: Vec<(i64, String)> = r
            .body
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| {
                        (
                            o["orderId"].as_i64().unwrap_or(0),
                            o["status"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids
    };
    let filled = |id: i64| (id, "FILLED".to_owned());
    assert_eq!(
        bobs(&[]).await,
        vec![filled(1), filled(3), (4, "NEW".to_owned())]
    );
    assert_eq!(
        bobs(&[("orderId", "3")]).await,
        vec![filled(3), (4, "NEW".to_owned())]
    );
    assert_eq!(bobs(&[("limit", "1")]).await, vec![(4, "NEW".to_owned())]);
    assert_eq!(
        bobs(&[("orderId", "1"), ("limit", "1")]).await,
        vec![filled(1)]
    );
    let (alice, weight) = v
        .signed_weighed("/api/v3/allOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(weight, 20);
    let order = v.order(Method::GET, ("orderId", "2")).await;
    assert_eq!(
        alice.body,
        json!([order.body]),
        "the order shape, only alice's orders"
    );
    let start = (T0 + 100_000).to_string();
    let since = v
        .signed(
            Method::GET,
            "/api/v3/allOrders",
            &[("symbol", "BTCUSDT"), ("startTime", &start)],
        )
        .await;
    assert_eq!(since.body, json!([]));

    let day_on = (T0 + 86_400_001).to_string();
    let t0 = T0.to_string();
    for (params, code) in [
        (
            &[
                ("symbol", "BTCUSDT"),
                ("startTime", t0.as_str()),
                ("endTime", day_on.as_str()),
            ][..],
            -1127,
        ),
        (
            &[
                ("symbol", "BTCUSDT"),
                ("startTime", day_on.as_str()),
                ("endTime", t0.as_str()),
            ][..],
            -1023,
        ),
        (&[("symbol", "BTCUSDT"), ("limit", "1001")][..], -1100),
        (&[("symbol", "NOPE")][..], -1121),
        (&[][..], -1102),
    ] {
        let r = v.signed(Method::GET, "/api/v3/allOrders", params).await;
        assert_eq!(
            (r.status, r.code().1),
            (StatusCode::BAD_REQUEST, code),
            "{params:?}"
        );
    }
    let unsigned = v
        .public("/api/v3/allOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        (unsigned.status, unsigned.code().1),
        (StatusCode::UNAUTHORIZED, -2014)
    );
}

#[tokio::test]
async fn commission_rates_come_from_the_configured_fees() {
    let v = Venue::start(common::venue_config()).await;
    let (c, weight) = v
        .signed_weighed("/api/v3/account/commission", &[("symbol", "BTCUSDT")])
        .await;
    let none = json!({"maker": Z, "taker": Z, "buyer": Z, "seller": Z});
    assert_eq!(
        (c.body, weight),
        (
            json!({"symbol": "BTCUSDT",
                   "standardCommission": {"maker": "0.00100000", "taker": "0.00200000", "buyer": Z, "seller": Z},
                   "specialCommission": none, "taxCommission": none,
                   "discount": {"enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "BNB", "discount": Z}}),
            20
        )
    );
    let unknown = v
        .signed(
            Method::GET,
            "/api/v3/account/commission",
            &[("symbol", "NOPE")],
        )
        .await;
    assert_eq!(unknown.code().1, -1121);
    let missing = v
        .signed(Method::GET, "/api/v3/account/commission", &[])
        .await;
    assert_eq!(missing.code().1, -1102);
    let unsigned = v
        .public("/api/v3/account/commission", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        (unsigned.status, unsigned.code().1),
        (StatusCode::UNAUTHORIZED, -2014)
    );
}

#[tokio::test]
async fn account_omits_zero_balances_when_asked() {
    let v = Venue::start(common::venue_config_with(&[(
        r#"{ USDT = "1000", BTC = "5" }"#,
        r#"{ USDT = "1000" }"#,
    )]))
    .await;
    let assets = |r: &Reply| -> Vec<String> {
        r.body["balances"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["asset"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let bob = |params: &'static [(&'static str, &'static str)]| {
        v.signed_as(
            "bob-key",
            "bob-secret",
            Method::GET,
            "/api/v3/account",
            params,
        )
    };
    assert_eq!(assets(&bob(&[]).await), ["BTC", "USDT"]);
    assert_eq!(
        assets(&bob(&[("omitZeroBalances", "true")]).await),
        ["USDT"]
    );
    assert_eq!(
        assets(&bob(&[("omitZeroBalances", "false")]).await),
        ["BTC", "USDT"]
    );
}

#[tokio::test]
async fn exchange_info_takes_symbol_lists_permissions_and_status() {
    let v = Venue::start(common::venue_config()).await;
    let names = |r: &Reply| -> Vec<String> {
        r.body["symbols"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["symbol"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // As written by hand, and as binance-sdk-spot sends it (compact JSON, percent-encoded).
    let plain = v
        .send(
            Method::GET,
            "/api/v3/exchangeInfo",
            r#"symbols=["BTCUSDT"]"#,
            None,
            None,
        )
        .await;
    let encoded = v
        .send(
            Method::GET,
            "/api/v3/exchangeInfo",
            "symbols=%5B%22BTCUSDT%22%5D",
            None,
            None,
        )
        .await;
    assert_eq!(
        (names(&plain), names(&encoded)),
        (vec!["BTCUSDT".to_owned()], vec!["BTCUSDT".to_owned()])
    );
    let (spot, weight) = v
        .weighed("/api/v3/exchangeInfo", &[("permissions", "SPOT")])
        .await;
    assert_eq!((names(&spot), weight), (vec!["BTCUSDT".to_owned()], 20));
    let listed = v
        .public(
            "/api/v3/exchangeInfo",
            &[("permissions", r#"["MARGIN","SPOT"]"#)],
        )
        .await;
    assert_eq!(names(&listed), ["BTCUSDT"]);
    let margin = v
        .public(
            "/api/v3/exchangeInfo",
            &[("permissions", r#"["MARGIN","LEVERAGED"]"#)],
        )
        .await;
    assert_eq!((margin.status, names(&margin)), (StatusCode::OK, vec![]));
    let trading = v
        .public("/api/v3/exchangeInfo", &[("symbolStatus", "TRADING")])
        .await;
    assert_eq!(names(&trading), ["BTCUSDT"]);
    let halted = v
        .public("/api/v3/exchangeInfo", &[("symbolStatus", "HALT")])
        .await;
    assert_eq!(names(&halted), Vec::<String>::new());
    let bare = v
        .public("/api/v3/exchangeInfo", &[("showPermissionSets", "false")])
        .await;
    assert_eq!(bare.body["symbols"][0]["permissionSets"], json!([]));
    let full = v.public("/api/v3/exchangeInfo", &[]).await;
    assert_eq!(full.body["symbols"][0]["permissionSets"], json!([["SPOT"]]));

    let bad = StatusCode::BAD_REQUEST;
    for (params, code) in [
        (&[("symbol", "BTCUSDT"), ("permissions", "SPOT")][..], -1128),
        (
            &[("symbols", r#"["BTCUSDT"]"#), ("symbolStatus", "TRADING")][..],
            -1128,
        ),
        (&[("permissions", "spot!")][..], -1100),
        (&[("permissions", "[]")][..], -1100),
        (&[("symbolStatus", "OPEN")][..], -1122),
        (&[("symbols", r#"["BTCUSDT","NOPE"]"#)][..], -1121),
    ] {
        assert_eq!(
            v.refused("/api/v3/exchangeInfo", params).await,
            (bad, code),
            "{params:?}"
        );
    }
}
