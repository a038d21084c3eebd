//! The client against the paper exchange, unchanged: the venue runs in-process on an ephemeral
//! loopback port with a manual clock (shared with the client, so timestamps and rate-limit windows
//! are deterministic), and its admin API shows what really happened behind each answer.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use driftline_core::ports::{
    Balance, Clock, Exchange, ExchangeError, ExchangeOrderStatus, Fill, LimitOrderRequest,
    TimeInForce,
};
use driftline_core::{ApiCredentials, ClientOrderId, EpochMillis, Price, Side, Symbol};
use driftline_exchange::{BinanceConfig, BinanceSpot};
use paper_exchange::clock::ManualClock;
use paper_exchange::{paper_market, small_venue, venues, ExchangeConfig};
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use support::{asset, balance, btc_usdt, eth_usdt, Venue, T0};

const KEY: &str = "alice-key";
const SECRET: &str = "alice-secret";

/// [`small_venue!`] (BTCUSDT around 100: bids 99.9/99.8/99.7, asks 100.1/100.2/100.3, 1 BTC
/// each; taker fee 0.2 %; alice holds 10,000 USDT and 10 BTC) and ETHUSDT around 50.
const VENUE: &str = concat!(
    small_venue!(),
    paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000", mid = "50",
        spread_bps = "20", depth = 3 x "5" every "10" bps),
);

fn venue_config(replacements: &[(&str, &str)]) -> ExchangeConfig {
    venues::parse_edited(VENUE, replacements)
}

impl Venue {
    /// The test venue as written.
    async fn standard() -> Self {
        Self::start(venue_config(&[])).await
    }

    /// The test venue as written, and alice's client on it.
    async fn standard_with_alice() -> (Self, BinanceSpot) {
        let venue = Self::standard().await;
        let client = venue.client();
        (venue, client)
    }

    /// alice's client, on the venue's clock.
    fn client(&self) -> BinanceSpot {
        self.client_with(KEY, SECRET, self.clock.clone())
    }

    fn client_with(&self, key: &str, secret: &str, clock: Arc<dyn Clock>) -> BinanceSpot {
        BinanceSpot::with_clock(self.config(key, secret), clock)
            .expect("the client config is valid")
    }

    /// Fast retries and a short limiter wait, so failures surface at once.
    fn config(&self, key: &str, secret: &str) -> BinanceConfig {
        let mut config = BinanceConfig::new(
            self.exchange.base_url(),
            Some(ApiCredentials::new(key, secret)),
        );
        support::fail_fast(&mut config.client);
        config
    }

    /// An unsigned request from the same IP; returns the status and the venue's weight count.
    async fn spend(&self, path: &str) -> (u16, u32) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let used = r.headers()["x-mbx-used-weight-1m"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (r.status().as_u16(), used)
    }
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::parse(s).unwrap()
}

fn limit(
    client_order_id: &str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    time_in_force: TimeInForce,
) -> LimitOrderRequest {
    support::limit_order(id(client_order_id), side, quantity, price, time_in_force)
}

/// A resting buy well below the book.
fn resting_buy(client_order_id: &str) -> LimitOrderRequest {
    support::resting_buy(id(client_order_id))
}

/// The venue's "no such order" answer, by its code and message.
fn not_found(code: i64, message: &str) -> ExchangeError {
    ExchangeError::NotFound {
        message: format!("{code}: {message}"),
    }
}

async fn sorted_balances(client: &BinanceSpot) -> Vec<Balance> {
    let mut b = client.balances().await.unwrap();
    b.sort_by(|x, y| x.asset.cmp(&y.asset));
    b
}

#[tokio::test]
async fn reads_parse_into_domain_types_with_the_venues_values() {
    let (venue, client) = Venue::standard_with_alice().await;

    support::assert_server_time(&venue, &client, 1234, 1234).await;

    assert_eq!(
        client.market_filters(&btc_usdt()).await.unwrap(),
        support::btc_usdt_filters(Some(dec!(100)))
    );
    assert_eq!(
        client.exchange_symbol(&eth_usdt()).await.unwrap(),
        "ETHUSDT"
    );
    assert_eq!(client.symbol_of("BTCUSDT").await.unwrap(), btc_usdt());

    support::assert_small_book(&client).await;

    // ETH is listed by the venue with a zero balance: left out.
    assert_eq!(
        sorted_balances(&client).await,
        vec![
            balance("BTC", dec!(10), dec!(0)),
            balance("USDT", dec!(10000), dec!(0)),
        ]
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap(), vec![]);
    venue.exchange.stop().await;
}

#[tokio::test]
async fn places_queries_lists_and_cancels_orders() {
    let (venue, client) = Venue::standard_with_alice().await;

    let placed = client
        .place_limit_order(&resting_buy("dl1-rest"))
        .await
        .unwrap();
    support::assert_resting_buy(&placed, &id("dl1-rest"));
    // openOrders reads into the same report as the query; the order shows in the book.
    support::assert_resting_buy_found(&client, &placed).await;

    // The resting order locks its quote.
    assert_eq!(
        sorted_balances(&client).await,
        vec![
            balance("BTC", dec!(10), dec!(0)),
            balance("USDT", dec!(9950.5), dec!(49.5)),
        ]
    );

    // A crossing IOC takes from the best ask, taker fee in the asset received.
    let taken = client
        .place_limit_order(&support::taking_buy(id("dl1-take")))
        .await
        .unwrap();
    support::assert_taken(&taken);
    assert_eq!(
        taken.fills,
        vec![Fill {
            price: Price::new(dec!(100.1)).unwrap(),
            quantity: dec!(0.3),
            commission: dec!(0.0006),
            commission_asset: asset("BTC"),
        }]
    );

    // A post-only order that would take is refused by the venue.
    let would_take = client
        .place_limit_order(&limit(
            "dl1-maker",
            Side::Buy,
            dec!(0.1),
            dec!(100.2),
            TimeInForce::PostOnly,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        would_take,
        ExchangeError::Rejected {
            message: "-2010: Order would immediately match and take.".into()
        }
    );

    let cancelled = support::cancel_resting_buy(&venue, &client, &placed).await;
    assert_eq!(cancelled.updated_at_ms, T0 + 500);
    assert_eq!(
        sorted_balances(&client).await,
        vec![
            balance("BTC", dec!(10.2994), dec!(0)),
            balance("USDT", dec!(9969.97), dec!(0)),
        ]
    );
    // Cancelling again: the venue's -2011 "Unknown order sent." is NotFound.
    assert_eq!(
        client
            .cancel_order(&btc_usdt(), &id("dl1-rest"))
            .await
            .unwrap_err(),
        not_found(-2011, "Unknown order sent.")
    );
    assert_eq!(venue.orders().await.len(), 2);
    venue.exchange.stop().await;
}

#[rstest]
#[case::price_off_tick(dec!(0.5), dec!(99.005), "PRICE_FILTER")]
#[case::quantity_below_minimum(dec!(0.0005), dec!(99), "LOT_SIZE")]
#[case::quantity_off_step(dec!(0.1505), dec!(99), "LOT_SIZE")]
#[case::quantity_above_maximum(dec!(101), dec!(99), "LOT_SIZE")]
#[case::notional_below_minimum(dec!(0.05), dec!(99), "NOTIONAL")]
#[tokio::test]
async fn filter_failures_are_rejected_naming_the_filter(
    #[case] quantity: Decimal,
    #[case] price: Decimal,
    #[case] filter: &str,
) {
    let (venue, client) = Venue::standard_with_alice().await;
    let err = client
        .place_limit_order(&limit(
            "dl1-filter",
            Side::Buy,
            quantity,
            price,
            TimeInForce::Gtc,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Rejected {
            message: format!("-1013: Filter failure: {filter}")
        }
    );
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn each_refusal_of_the_venue_becomes_its_typed_error() {
    let (venue, client) = Venue::standard_with_alice().await;

    // -2010: alice holds 10 BTC.
    let err = client
        .place_limit_order(&support::oversized_sell(id("dl1-broke")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Rejected {
            message: "-2010: Account has insufficient balance for requested action.".into()
        }
    );

    // -2010 "Duplicate order sent.": an open order already has the id.
    client
        .place_limit_order(&resting_buy("dl1-dup"))
        .await
        .unwrap();
    let err = support::refused(&client, &resting_buy("dl1-dup")).await;
    assert_eq!(
        err,
        ExchangeError::Duplicate {
            message: "Duplicate order sent.".into()
        }
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap().len(), 1);

    // Unknown orders: -2013 on query, -2011 on cancel, both NotFound.
    assert_eq!(
        client
            .order(&btc_usdt(), &id("dl1-never"))
            .await
            .unwrap_err(),
        not_found(-2013, "Order does not exist.")
    );
    assert_eq!(
        client
            .cancel_order(&btc_usdt(), &id("dl1-never"))
            .await
            .unwrap_err(),
        not_found(-2011, "Unknown order sent.")
    );

    // -1111: more decimals than the venue takes (core's Price allows them).
    let err = client
        .place_limit_order(&limit(
            "dl1-precise",
            Side::Buy,
            dec!(0.5),
            dec!(99.000000001),
            TimeInForce::Gtc,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Rejected { message } if message.starts_with("-1111:")),
        "{err:?}"
    );

    // -1121 without a request: exchangeInfo does not list the market.
    let doge = Symbol::new(asset("DOGE"), asset("USDT")).unwrap();
    assert!(matches!(
        client.open_orders(&doge).await.unwrap_err(),
        ExchangeError::Rejected { message } if message.starts_with("-1121:")
    ));

    // Only the resting duplicate's first placement exists.
    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

#[rstest]
#[case::wrong_secret(KEY, "not-alice-secret", -1022)]
#[case::unknown_key("nobody-key", SECRET, -2015)]
#[tokio::test]
async fn bad_credentials_are_auth_errors(
    #[case] key: &str,
    #[case] secret: &str,
    #[case] code: i64,
) {
    let venue = Venue::standard().await;
    let client = venue.client_with(key, secret, venue.clock.clone());
    let err = client.balances().await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Auth { message } if message.starts_with(&format!("{code}:"))),
        "{err:?}"
    );
    let err = support::refused(&client, &resting_buy("dl1-auth")).await;
    assert!(
        matches!(&err, ExchangeError::Auth { message } if message.starts_with(&format!("{code}:"))),
        "{err:?}"
    );
    // The secret never shows in what the caller sees.
    assert!(!format!("{err} {err:?}").contains(secret));
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

/// The venue delists a market while the client still has it in its cached exchangeInfo: the
/// request goes out and the venue's -1121 comes back.
#[tokio::test]
async fn a_market_the_venue_no_longer_lists_is_rejected_with_invalid_symbol() {
    let (venue, client) = Venue::standard_with_alice().await;
    assert_eq!(
        client.exchange_symbol(&eth_usdt()).await.unwrap(),
        "ETHUSDT"
    );
    let addr = venue.exchange.addr();
    venue.exchange.stop().await;

    let btc_only = small_venue!();
    let relisted = Venue::start_on(ExchangeConfig::parse(btc_only).unwrap(), addr).await;
    let err = client.open_orders(&eth_usdt()).await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Rejected {
            message: "-1121: Invalid symbol.".into()
        }
    );
    relisted.exchange.stop().await;
}

/// A clock that falls ten seconds further behind every time it is read: no offset measured
/// from it is still right by the time the next request is stamped.
struct FallingBehind(AtomicI64);

impl Clock for FallingBehind {
    fn now_ms(&self) -> EpochMillis {
        self.0.fetch_sub(10_000, Ordering::SeqCst)
    }
}

#[rstest]
#[case::behind(-30_000, 30_000)]
#[case::ahead(5_000, -5_000)]
#[tokio::test]
async fn a_skewed_clock_is_resynced_and_the_request_resent_once(
    #[case] skew_ms: i64,
    #[case] offset_ms: i64,
) {
    let venue = Venue::standard().await;
    let skewed = Arc::new(ManualClock::new(T0 + skew_ms));
    let client = venue.client_with(KEY, SECRET, skewed);
    let placed = client
        .place_limit_order(&resting_buy("dl1-skew"))
        .await
        .unwrap();
    assert_eq!(client.clock_offset_ms(), offset_ms);
    assert_eq!(placed.status, ExchangeOrderStatus::New);
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["clientOrderId"], "dl1-skew");
    // Later requests carry the measured offset and pass at once.
    assert_eq!(sorted_balances(&client).await.len(), 2);
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_persistent_skew_surfaces_as_retryable_and_places_nothing() {
    let venue = Venue::standard().await;
    let client = venue.client_with(KEY, SECRET, Arc::new(FallingBehind(AtomicI64::new(T0))));
    let err = support::refused(&client, &resting_buy("dl1-drift")).await;
    assert!(
        matches!(&err, ExchangeError::Retryable { reason } if reason.contains("-1021")),
        "{err:?}"
    );
    let err = client.balances().await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Retryable { reason } if reason.contains("-1021")),
        "{err:?}"
    );
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

/// Other processes on the same IP spend the minute's weight: the client's next request gets the
/// 429, after which it sends nothing; a second client that did not see the 429 sends once and is
/// banned (418), after which it sends nothing either. The venue's weight count proves it.
#[tokio::test]
async fn a_429_pauses_and_a_418_bans_without_sending_anything_more() {
    let venue = Venue::start(support::with_minute_weight(VENUE, 100)).await;
    let first = venue.client();
    first.market_filters(&btc_usdt()).await.unwrap(); // exchangeInfo: 20
    for expected in [40, 60, 80, 100] {
        assert_eq!(venue.spend("/api/v3/exchangeInfo").await, (200, expected));
    }

    let err = first.server_time().await.unwrap_err(); // 101: the 429
    assert!(
        matches!(err, ExchangeError::RateLimited { retry_after_ms } if retry_after_ms > 59_000),
        "{err:?}"
    );
    let err = support::refused(&first, &resting_buy("dl1-paused")).await;
    assert!(matches!(err, ExchangeError::RateLimited { .. }), "{err:?}");
    assert!(matches!(
        first.balances().await.unwrap_err(),
        ExchangeError::RateLimited { .. }
    ));

    let second = venue.client();
    let err = second.balances().await.unwrap_err(); // 121: banned
    assert_eq!(
        err,
        ExchangeError::Banned {
            retry_after_ms: 120_000
        }
    );
    // The client itself now refuses, with what is left of the ban.
    assert!(matches!(
        second.server_time().await.unwrap_err(),
        ExchangeError::Banned { retry_after_ms } if (110_000..=120_000).contains(&retry_after_ms)
    ));
    assert!(matches!(
        second.place_limit_order(&resting_buy("dl1-banned")).await,
        Err(ExchangeError::Banned { .. })
    ));

    // 20 + 80 + 1 + 20, and this probe's 1: nothing else reached the venue.
    assert_eq!(venue.spend("/api/v3/time").await, (418, 122));
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_server_error_is_retried_on_reads_and_unknown_on_placement() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"server_error_rate": "1"})).await;

    let err = client.server_time().await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Retryable { reason } if reason.starts_with("HTTP 500")),
        "{err:?}"
    );
    let err = support::refused(&client, &resting_buy("dl1-500")).await;
    assert!(
        matches!(&err, ExchangeError::StatusUnknown { reason } if reason.starts_with("HTTP 500")),
        "{err:?}"
    );

    // The lookup the caller must do: this venue's 500 came before the engine, so no order.
    let not_found = support::assert_nothing_placed(&venue, &client, &id("dl1-500")).await;
    assert!(not_found.starts_with("-2013:"), "{not_found}");
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_dropped_placement_response_is_unknown_and_the_lookup_finds_the_one_order() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"drop_next_order_responses": 1})).await;

    let err = support::refused(&client, &resting_buy("dl1-dropped")).await;
    assert!(
        matches!(&err, ExchangeError::StatusUnknown { reason } if reason.contains("execution status unknown")),
        "{err:?}"
    );

    let found = client.order(&btc_usdt(), &id("dl1-dropped")).await.unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::New);
    assert_eq!((found.orig_qty, found.price.value()), (dec!(0.5), dec!(99)));
    // Resending blindly would be refused, not doubled.
    assert!(matches!(
        client.place_limit_order(&resting_buy("dl1-dropped")).await,
        Err(ExchangeError::Duplicate { .. })
    ));
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["clientOrderId"], "dl1-dropped");
    assert_eq!(
        orders[0]["orderId"].to_string(),
        found.exchange_order_id.as_str()
    );
    venue.exchange.stop().await;
}

/// The venue accepts the order but answers only after the client has given up waiting.
#[tokio::test]
async fn a_placement_timeout_is_unknown_and_the_lookup_finds_the_one_order() {
    let venue = Venue::standard().await;
    let mut config = venue.config(KEY, SECRET);
    config.client.request_timeout = support::GIVE_UP_AFTER;
    let client = BinanceSpot::with_clock(config, venue.clock.clone()).unwrap();
    support::answer_late(&venue, &client).await;

    let err = support::refused(&client, &resting_buy("dl1-late")).await;
    assert_eq!(
        err,
        ExchangeError::StatusUnknown {
            reason: "timed out".into()
        }
    );
    let found = client.order(&btc_usdt(), &id("dl1-late")).await.unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::New);
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        orders[0]["orderId"].to_string(),
        found.exchange_order_id.as_str()
    );
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_maintenance_window_fails_every_call_and_places_nothing() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"maintenance": true})).await;

    for err in support::failed_reads(&client).await {
        assert!(
            matches!(&err, ExchangeError::Retryable { reason } if reason.contains("overloaded")),
            "{err:?}"
        );
    }
    // A 5xx on placement is unknown by the published rule, even though this one was refused.
    let err = support::refused(&client, &resting_buy("dl1-maint")).await;
    assert!(
        matches!(err, ExchangeError::StatusUnknown { .. }),
        "{err:?}"
    );

    support::assert_nothing_placed(&venue, &client, &id("dl1-maint")).await;
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_thin_book_shows_in_order_book() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::assert_thin_book_shows(venue, &client).await;
}
