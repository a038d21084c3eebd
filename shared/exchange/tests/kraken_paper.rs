//! `KrakenSpot` against the paper exchange's Kraken dialect, unchanged: the venue runs
//! in-process on an ephemeral loopback port with a manual clock (so its times are exact), and
//! its admin API shows what really happened behind each answer. The client's nonces come from
//! the system clock, as in production.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use driftline_core::ports::{
    Clock, Exchange, ExchangeError, ExchangeOrderStatus, LimitOrderRequest, TimeInForce,
    Venue as VenueName,
};
use driftline_core::{ApiCredentials, ClientOrderId, EpochMillis, Price, Side};
use driftline_exchange::{
    KrakenConfig, KrakenSpot, LimitKind, RateLimitWindow, RateLimits, RetryPolicy, SystemClock,
};
use futures::future::join_all;
use paper_exchange::{
    paper_account, paper_market, paper_venue_head, ExchangeConfig, PaperExchange,
};
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use support::{asset, balance, btc_usdt, refused, rejected, symbol, Venue, T0};

const KEY: &str = "alice-key";
/// Kraken's published example secret (base64, as Kraken's are).
const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
/// Base64, but not alice's.
const OTHER_SECRET: &str = "Ym9iLWtyYWtlbi1zZWNyZXQtZm9yLXRoZS1wYXBlci12ZW51ZQ==";

macro_rules! kraken_venue {
    () => {
        concat!(
            "dialect = \"kraken\"\n",
            paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
            paper_market!("BTC" / "USDT": step = "0.001", max_qty = "100", mid = "100",
                spread_bps = "20", depth = 3 x "1" every "10" bps),
            paper_market!("BTC" / "USD": step = "0.0001", max_qty = "100", mid = "40000",
                spread_bps = "20", depth = 3 x "1" every "10" bps),
        )
    };
}

/// BTC/USDT around 100 (Kraken's `XBTUSDT`: bids 99.9/99.8/99.7, asks 100.1/100.2/100.3, 1 BTC
/// each; tick 0.01, step 0.001, minimum 0.001 BTC and 5 USDT; taker fee 0.2 %), BTC/USD around
/// 40,000 (`XXBTZUSD`, altname `XBTUSD`), ETH/USDT around 50 (`ETHUSDT`); alice holds 10,000
/// USDT, 10 BTC and 1,000 USD.
const VENUE: &str = concat!(
    kraken_venue!(),
    paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000", mid = "50",
        spread_bps = "20", depth = 3 x "5" every "10" bps),
    paper_account!("alice", key = "alice-key",
        secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        balances = { USDT = "10000", BTC = "10", USD = "1000" }),
);

fn venue_config(edits: &[(&str, &str)]) -> ExchangeConfig {
    paper_exchange::venues::parse_edited(VENUE, edits)
}

/// The venue with every key given a nonce window (in milliseconds of nonce).
fn windowed_config(window: u64) -> ExchangeConfig {
    ExchangeConfig::parse(&format!("{VENUE}\n[kraken]\nnonce_window = {window}\n"))
        .expect("the venue is valid")
}

impl Venue {
    async fn standard() -> Self {
        Self::start(venue_config(&[])).await
    }

    async fn standard_with_alice() -> (Self, KrakenSpot) {
        let venue = Self::standard().await;
        let client = venue.client();
        (venue, client)
    }

    fn client(&self) -> KrakenSpot {
        self.client_with(KEY, SECRET, Arc::new(SystemClock))
    }

    fn client_with(&self, key: &str, secret: &str, clock: Arc<dyn Clock>) -> KrakenSpot {
        KrakenSpot::with_clock(self.config(key, secret), clock).expect("the client config is valid")
    }

    /// Fast retries and a short limiter wait, so failures surface at once; a budget far above
    /// a Starter key's, which would hold these tests to a call every three seconds (the
    /// budget itself is tested on its own, below).
    fn config(&self, key: &str, secret: &str) -> KrakenConfig {
        let mut config = KrakenConfig::new(
            self.exchange.base_url(),
            Some(ApiCredentials::new(key, secret)),
        );
        config.rate_limits = RateLimits::new(vec![
            RateLimitWindow::decaying(LimitKind::RequestWeight, 1_000, 1_000_000),
            RateLimitWindow::decaying(LimitKind::Orders, 1_000, 1_000_000),
        ]);
        support::fail_fast(&mut config.client);
        config
    }

    /// A public call from the same IP (another process), spending the venue's weight.
    async fn spend(&self) {
        let r = self
            .http
            .get(self.url("/0/public/Time"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// driftline's id number `n`: `dl1-` and 32 hex digits, as the executor derives them.
fn id(n: u32) -> ClientOrderId {
    ClientOrderId::parse(&format!("dl1-{n:032x}")).unwrap()
}

/// The UUID Kraken sees for [`id`] `n`.
fn uuid(n: u32) -> String {
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn limit(
    n: u32,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    time_in_force: TimeInForce,
) -> LimitOrderRequest {
    support::limit_order(id(n), side, quantity, price, time_in_force)
}

/// A resting buy well below the book.
fn resting_buy(n: u32) -> LimitOrderRequest {
    support::resting_buy(id(n))
}

/// A buy that crosses the best ask and fills at once.
fn taking_buy(n: u32) -> LimitOrderRequest {
    support::taking_buy(id(n))
}

#[tokio::test]
async fn reads_parse_into_domain_types_with_the_venues_values() {
    let (venue, client) = Venue::standard_with_alice().await;
    assert_eq!(client.venue(), VenueName::Kraken);

    // Kraken's Time has whole seconds.
    support::assert_server_time(&venue, &client, 2_400, 2_000).await;

    assert_eq!(
        client.market_filters(&btc_usdt()).await.unwrap(),
        support::btc_usdt_filters(None)
    );

    // Names both ways through AssetPairs and Assets: Kraken's XBT is BTC, classic pairs are
    // keyed by their assets' keys.
    let btc_usd = client.market(&symbol("BTC", "USD")).await.unwrap();
    assert_eq!(
        (btc_usd.key.as_str(), btc_usd.altname.as_str()),
        ("XXBTZUSD", "XBTUSD")
    );
    assert_eq!(client.market(&btc_usdt()).await.unwrap().key, "XBTUSDT");
    assert_eq!(
        client.market(&symbol("ETH", "USDT")).await.unwrap().key,
        "ETHUSDT"
    );
    for (name, base, quote) in [
        ("XXBTZUSD", "BTC", "USD"),
        ("XBTUSD", "BTC", "USD"),
        ("XBT/USDT", "BTC", "USDT"),
        ("ETHUSDT", "ETH", "USDT"),
    ] {
        assert_eq!(
            client.symbol_of(name).await.unwrap(),
            symbol(base, quote),
            "{name}"
        );
    }
    for (code, key) in [
        ("BTC", "XXBT"),
        ("USD", "ZUSD"),
        ("USDT", "USDT"),
        ("ETH", "XETH"),
    ] {
        assert_eq!(client.asset_key(&asset(code)).await.unwrap(), key);
    }

    support::assert_small_book(&client).await;

    // Balances come keyed XXBT, ZUSD, USDT and read as driftline's assets; ETH holds nothing.
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            balance("BTC", dec!(10), dec!(0)),
            balance("USD", dec!(1000), dec!(0)),
            balance("USDT", dec!(10000), dec!(0)),
        ]
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap(), vec![]);
    // Assets and AssetPairs were read once, whatever was asked since.
    let calls = venue.endpoints().await;
    assert_eq!(
        calls.iter().filter(|c| *c == "AssetPairs").count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "Assets").count(),
        1,
        "{calls:?}"
    );
    venue.exchange.stop().await;
}

#[tokio::test]
async fn places_queries_lists_and_cancels_orders() {
    let (venue, client) = Venue::standard_with_alice().await;

    let placed = client.place_limit_order(&resting_buy(1)).await.unwrap();
    support::assert_resting_buy(&placed, &id(1));
    let txid = placed.exchange_order_id.as_str().to_owned();
    assert!(txid.starts_with('O') && txid.len() == 19, "{txid}");

    // The venue holds it under the UUID of the id's digits.
    let orders = venue.orders().await;
    assert_eq!(orders[0]["clientOrderId"], uuid(1));

    support::assert_resting_buy_found(&client, &placed).await;
    // Open orders of another pair are not this pair's.
    assert_eq!(
        client.open_orders(&symbol("BTC", "USD")).await.unwrap(),
        vec![]
    );
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            balance("BTC", dec!(10), dec!(0)),
            balance("USD", dec!(1000), dec!(0)),
            // The cost and the fee at the higher rate, 0.2 %: Kraken takes a buy's fee in the
            // quote (`fciq`), so it holds it too.
            balance("USDT", dec!(9950.401), dec!(49.599)),
        ]
    );

    // A crossing IOC fills at once; its fills come from the order's trades, the fee in the
    // quote currency as Kraken states it.
    let taken = client.place_limit_order(&taking_buy(2)).await.unwrap();
    support::assert_taken(&taken);
    support::assert_taker_fill_in_quote(&client, &taken, &placed).await;

    // A post-only order that would take is refused.
    let would_take = refused(
        &client,
        &limit(3, Side::Buy, dec!(0.1), dec!(100.2), TimeInForce::PostOnly),
    )
    .await;
    assert_eq!(would_take, rejected("EOrder:Post only order"));

    let cancelled = support::cancel_resting_buy(&venue, &client, &placed).await;
    assert_eq!(cancelled.updated_at_ms, T0 + 500);
    // Now among the closed orders.
    assert_eq!(client.order(&btc_usdt(), &id(1)).await.unwrap(), cancelled);
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            // The whole 0.3 BTC arrived; its fee was paid in USDT.
            balance("BTC", dec!(10.3), dec!(0)),
            balance("USD", dec!(1000), dec!(0)),
            balance("USDT", dec!(9969.90994), dec!(0)),
        ]
    );
    // Cancelling a final order answers its report; one never placed is NotFound.
    assert_eq!(
        client.cancel_order(&btc_usdt(), &id(1)).await.unwrap(),
        cancelled
    );
    assert_eq!(
        client
            .cancel_order(&btc_usdt(), &id(2))
            .await
            .unwrap()
            .status,
        ExchangeOrderStatus::Filled
    );
    assert_eq!(
        client.cancel_order(&btc_usdt(), &id(99)).await.unwrap_err(),
        ExchangeError::NotFound {
            message: "EOrder:Unknown order".into()
        }
    );
    assert_eq!(venue.orders().await.len(), 2);
    venue.exchange.stop().await;
}

#[rstest]
#[case::price_off_tick(dec!(0.5), dec!(99.005), "EOrder:Tick size check failed")]
#[case::quantity_below_minimum(dec!(0.0005), dec!(99), "EOrder:Order minimum not met")]
#[case::quantity_off_step(dec!(0.1505), dec!(99), "EGeneral:Invalid arguments:volume")]
#[case::quantity_above_maximum(dec!(101), dec!(99), "EGeneral:Invalid arguments:volume")]
#[case::notional_below_minimum(dec!(0.05), dec!(99), "EOrder:Cost minimum not met")]
#[tokio::test]
async fn filter_failures_are_rejected_with_krakens_words(
    #[case] quantity: Decimal,
    #[case] price: Decimal,
    #[case] error: &str,
) {
    let (venue, client) = Venue::standard_with_alice().await;
    let err = refused(
        &client,
        &limit(1, Side::Buy, quantity, price, TimeInForce::Gtc),
    )
    .await;
    assert_eq!(err, rejected(error));
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn each_refusal_of_the_venue_becomes_its_typed_error() {
    let (venue, client) = Venue::standard_with_alice().await;

    // alice holds 10 BTC.
    let err = refused(&client, &support::oversized_sell(id(1))).await;
    assert_eq!(err, rejected("EOrder:Insufficient funds"));

    // Kraken refuses an open order's cl_ord_id again: Duplicate, and one order stands.
    client.place_limit_order(&resting_buy(2)).await.unwrap();
    assert_eq!(
        refused(&client, &resting_buy(2)).await,
        ExchangeError::Duplicate {
            message: "EOrder:Duplicate order".into()
        }
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap().len(), 1);

    // Never placed: NotFound from the lookup and from the cancel.
    assert!(matches!(
        client.order(&btc_usdt(), &id(3)).await,
        Err(ExchangeError::NotFound { message }) if message.starts_with("EOrder:Unknown order")
    ));
    assert!(matches!(
        client.cancel_order(&btc_usdt(), &id(3)).await,
        Err(ExchangeError::NotFound { .. })
    ));

    // Refused without a request: a pair AssetPairs does not list, an id Kraken cannot carry.
    let before = venue.endpoints().await.len();
    let doge = symbol("DOGE", "USDT");
    assert!(matches!(
        client.open_orders(&doge).await.unwrap_err(),
        ExchangeError::Rejected { message } if message.starts_with("EQuery:Unknown asset pair")
    ));
    let long = LimitOrderRequest {
        client_order_id: ClientOrderId::parse("nineteen-characters").unwrap(),
        ..resting_buy(4)
    };
    assert!(matches!(
        refused(&client, &long).await,
        ExchangeError::Rejected { .. }
    ));
    // Such an id names no Kraken order: NotFound is true without asking.
    assert!(matches!(
        client.order(&btc_usdt(), &long.client_order_id).await,
        Err(ExchangeError::NotFound { .. })
    ));
    assert_eq!(venue.endpoints().await.len(), before);

    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

#[rstest]
#[case::wrong_secret(KEY, OTHER_SECRET, "EAPI:Invalid signature")]
#[case::unknown_key("nobody-key", SECRET, "EAPI:Invalid key")]
#[tokio::test]
async fn bad_credentials_are_auth_errors(
    #[case] key: &str,
    #[case] secret: &str,
    #[case] error: &str,
) {
    let venue = Venue::standard().await;
    let client = venue.client_with(key, secret, Arc::new(SystemClock));
    let auth = ExchangeError::Auth {
        message: error.into(),
    };
    assert_eq!(client.balances().await.unwrap_err(), auth);
    let err = refused(&client, &resting_buy(1)).await;
    assert_eq!(err, auth);
    // The secret never shows in what the caller sees.
    assert!(!format!("{err} {err:?}").contains(secret));
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_secret_that_is_not_base64_signs_nothing_and_sends_nothing() {
    let venue = Venue::standard().await;
    let client = venue.client_with(KEY, "not base64!", Arc::new(SystemClock));
    client.market_filters(&btc_usdt()).await.unwrap();
    let before = venue.endpoints().await.len();
    let err = refused(&client, &resting_buy(1)).await;
    assert!(
        matches!(&err, ExchangeError::Auth { message } if message.contains("base64")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("not base64!"));
    assert_eq!(venue.endpoints().await.len(), before);
    venue.exchange.stop().await;
}

/// The venue delists a pair while the client still has AssetPairs cached: the request goes out
/// and the venue's refusal comes back.
#[tokio::test]
async fn a_pair_the_venue_no_longer_lists_is_rejected_by_the_venue() {
    let (venue, client) = Venue::standard_with_alice().await;
    let eth = symbol("ETH", "USDT");
    client.market_filters(&eth).await.unwrap();
    let addr = venue.exchange.addr();
    venue.exchange.stop().await;

    let without_eth = concat!(
        kraken_venue!(),
        paper_account!("alice", key = "alice-key",
            secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
            balances = { USDT = "10000" }),
    );
    let relisted = Venue::start_on(ExchangeConfig::parse(without_eth).unwrap(), addr).await;
    assert_eq!(
        client.order_book(&eth, 5).await.unwrap_err(),
        rejected("EQuery:Unknown asset pair")
    );
    relisted.exchange.stop().await;
}

/// Other processes on the same IP spend the venue's minute: the client's next call is refused
/// as over the limit, after which it sends no private call; a second client that did not hear
/// it calls once and is locked out, after which it sends nothing at all. The venue's log
/// proves it.
#[tokio::test]
async fn a_rate_limit_pauses_and_a_lockout_bans_without_sending_anything_more() {
    let venue = Venue::start(support::with_minute_weight(VENUE, 20)).await;
    let first = venue.client();
    first.market_filters(&btc_usdt()).await.unwrap(); // Assets, AssetPairs: 2
    for _ in 0..18 {
        venue.spend().await;
    }
    let err = first.balances().await.unwrap_err(); // 21: over the limit
    let (calls_recovery, _) = driftline_exchange::KrakenTier::Starter.recovery();
    assert!(
        matches!(err, ExchangeError::RateLimited { retry_after_ms } if retry_after_ms > 40_000),
        "{err:?}"
    );
    assert!(calls_recovery > Duration::from_secs(40));
    assert!(matches!(
        refused(&first, &resting_buy(1)).await,
        ExchangeError::RateLimited { .. }
    ));
    assert!(matches!(
        first.open_orders(&btc_usdt()).await,
        Err(ExchangeError::RateLimited { .. })
    ));

    let second = venue.client();
    // Its first call (Assets, for the names) comes while the venue still refuses: locked out.
    assert_eq!(
        second.balances().await.unwrap_err(),
        ExchangeError::Banned {
            retry_after_ms: 900_000
        }
    );
    assert!(matches!(
        second.server_time().await.unwrap_err(),
        ExchangeError::Banned { retry_after_ms } if retry_after_ms > 890_000
    ));
    assert!(matches!(
        second.place_limit_order(&resting_buy(2)).await,
        Err(ExchangeError::Banned { .. })
    ));

    // 2 + 18 + the refused BalanceEx + the locked-out Assets: nothing else reached the venue.
    let calls = venue.endpoints().await;
    assert_eq!(calls.len(), 22, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "BalanceEx").count(), 1);
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_server_error_is_retried_on_reads_and_unknown_on_placement() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"server_error_rate": "1"})).await;

    assert_eq!(
        client.balances().await.unwrap_err(),
        ExchangeError::Retryable {
            reason: "EService:Busy".into()
        }
    );
    // Resent twice (the test's policy): three BalanceEx reached the venue.
    assert_eq!(venue.sent("BalanceEx").await, 3);
    assert_eq!(
        refused(&client, &resting_buy(1)).await,
        ExchangeError::StatusUnknown {
            reason: "EService:Busy".into()
        }
    );
    assert_eq!(venue.sent("AddOrder").await, 1, "never resent");

    support::assert_nothing_placed(&venue, &client, &id(1)).await;
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_dropped_placement_answer_is_unknown_and_the_lookup_finds_the_one_order() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"drop_next_order_responses": 1})).await;

    assert_eq!(
        refused(&client, &resting_buy(1)).await,
        ExchangeError::StatusUnknown {
            reason: "EGeneral:Internal error".into()
        }
    );
    let found = client.order(&btc_usdt(), &id(1)).await.unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::New);
    assert_eq!((found.orig_qty, found.price.value()), (dec!(0.5), dec!(99)));
    // Resending blindly while it is open is refused, not doubled.
    assert!(matches!(
        client.place_limit_order(&resting_buy(1)).await,
        Err(ExchangeError::Duplicate { .. })
    ));
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["clientOrderId"], uuid(1));
    venue.exchange.stop().await;
}

/// The venue places the order but answers only after the client has given up waiting.
#[tokio::test]
async fn a_placement_timeout_is_unknown_and_the_lookup_finds_the_one_order() {
    let venue = Venue::standard().await;
    let mut config = venue.config(KEY, SECRET);
    config.client.request_timeout = support::GIVE_UP_AFTER;
    let client = KrakenSpot::with_clock(config, Arc::new(SystemClock)).unwrap();
    support::answer_late(&venue, &client).await;

    assert_eq!(
        refused(&client, &resting_buy(1)).await,
        ExchangeError::StatusUnknown {
            reason: "timed out".into()
        }
    );
    let found = client.order(&btc_usdt(), &id(1)).await.unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::New);
    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

/// Exactly-once where Kraken's duplicate check cannot help: the order filled at once and its
/// placement answer was lost. Kraken no longer refuses its cl_ord_id (the order is closed), so
/// only the lookup stands between the caller and a second order: `order()` finds it among the
/// closed orders, and the executor, told it exists, does not place it again.
#[tokio::test]
async fn a_filled_order_whose_answer_was_lost_is_found_among_the_closed_orders() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"drop_next_order_responses": 1})).await;

    assert!(matches!(
        refused(&client, &taking_buy(1)).await,
        ExchangeError::StatusUnknown { .. }
    ));
    let before = venue.endpoints().await.len();
    let found = client.order(&btc_usdt(), &id(1)).await.unwrap();
    support::assert_taken(&found);
    assert_eq!(found.client_order_id, id(1));
    // Looked for among the open orders first, then found among the closed.
    assert_eq!(
        venue.endpoints().await[before..],
        ["OpenOrders", "ClosedOrders"]
    );
    assert_eq!(
        client
            .order_fills(&btc_usdt(), &found.exchange_order_id)
            .await
            .unwrap()
            .len(),
        1
    );

    // What the lookup prevents: Kraken would take the same cl_ord_id again now.
    venue.clock.advance(1_000);
    let again = client.place_limit_order(&taking_buy(1)).await.unwrap();
    assert_ne!(again.exchange_order_id, found.exchange_order_id);
    assert_eq!(venue.orders().await.len(), 2);
    // With two orders of one id (which driftline never makes), the latest is reported.
    assert_eq!(
        client
            .order(&btc_usdt(), &id(1))
            .await
            .unwrap()
            .exchange_order_id,
        again.exchange_order_id
    );
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_cancelled_order_is_found_among_the_closed_orders() {
    let (venue, client) = Venue::standard_with_alice().await;
    client.place_limit_order(&resting_buy(1)).await.unwrap();
    client.cancel_order(&btc_usdt(), &id(1)).await.unwrap();
    let found = client.order(&btc_usdt(), &id(1)).await.unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::Canceled);
    // The IOC's unfilled rest is cancelled too: Kraken's "canceled" with volume executed.
    let partial = client
        .place_limit_order(&limit(
            2,
            Side::Buy,
            dec!(1.5),
            dec!(100.1),
            TimeInForce::Ioc,
        ))
        .await
        .unwrap();
    assert_eq!(partial.status, ExchangeOrderStatus::Canceled);
    assert_eq!(partial.executed_qty, dec!(1));
    assert_eq!(client.order(&btc_usdt(), &id(2)).await.unwrap(), partial);
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_maintenance_window_fails_every_call_and_places_nothing() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::with_faults(&venue, &client, json!({"maintenance": true})).await;

    for err in support::failed_reads(&client).await {
        assert_eq!(
            err,
            ExchangeError::Retryable {
                reason: "EService:Unavailable".into()
            }
        );
    }
    assert!(matches!(
        refused(&client, &resting_buy(1)).await,
        ExchangeError::StatusUnknown { .. }
    ));
    support::assert_nothing_placed(&venue, &client, &id(1)).await;
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_thin_book_shows_in_order_book() {
    let (venue, client) = Venue::standard_with_alice().await;
    support::assert_thin_book_shows(venue, &client).await;
}

/// A container's clock: the system clock, `offset_ms` off.
struct Skewed(i64);

impl Clock for Skewed {
    fn now_ms(&self) -> EpochMillis {
        SystemClock.now_ms() + self.0
    }
}

/// Several executor containers on one key, as Lambda runs them: each its own client, nonces
/// from its own clock (up to 0.8 s apart), all calling at once. With the key's nonce window
/// (the operator's setting, 10 s) every call succeeds, refused nonces being resent fresh, and
/// every order is placed exactly once.
#[tokio::test]
async fn containers_sharing_a_key_all_succeed_and_place_each_order_once() {
    let venue = Venue::start(windowed_config(10_000)).await;
    let containers: Vec<KrakenSpot> = [0, -250, 150, -600]
        .into_iter()
        .map(|offset| {
            let mut config = venue.config(KEY, SECRET);
            config.client.retry = RetryPolicy {
                max_retries: 8,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(20),
            };
            KrakenSpot::with_clock(config, Arc::new(Skewed(offset))).unwrap()
        })
        .collect();
    const PER_CONTAINER: u32 = 5;
    let work = containers.iter().enumerate().map(|(c, client)| async move {
        let c = u32::try_from(c).unwrap();
        let mut done = 0;
        for k in 0..PER_CONTAINER {
            let n = 100 * (c + 1) + k;
            let order = LimitOrderRequest {
                price: Price::new(dec!(90) + Decimal::from(n % 7)).unwrap(),
                quantity: dec!(0.1),
                ..resting_buy(n)
            };
            let pair = btc_usdt();
            let (placed, balances, open) = tokio::join!(
                client.place_limit_order(&order),
                client.balances(),
                client.open_orders(&pair),
            );
            assert_eq!(placed.unwrap().client_order_id, id(n));
            balances.unwrap();
            open.unwrap();
            assert_eq!(
                client
                    .order(&btc_usdt(), &id(n))
                    .await
                    .unwrap()
                    .client_order_id,
                id(n)
            );
            done += 1;
        }
        done
    });
    let done: u32 = join_all(work).await.into_iter().sum();
    assert_eq!(done, 4 * PER_CONTAINER);

    let orders = venue.orders().await;
    let mut ids: Vec<&str> = orders
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((orders.len(), ids.len()), (20, 20), "each order once");
    venue.exchange.stop().await;
}

/// Without a nonce window (Kraken's default), a container whose clock is behind another's by
/// more than its retries can make up is refused: its calls end `Retryable`, nothing it sent took
/// effect, and the container ahead is not disturbed. This is why the key needs a window.
#[tokio::test]
async fn without_a_nonce_window_a_container_behind_is_refused_and_places_nothing() {
    let venue = Venue::standard().await;
    let ahead = venue.client_with(KEY, SECRET, Arc::new(Skewed(5_000)));
    let behind = venue.client_with(KEY, SECRET, Arc::new(Skewed(0)));
    ahead.place_limit_order(&resting_buy(1)).await.unwrap();
    assert_eq!(
        refused(&behind, &resting_buy(2)).await,
        ExchangeError::Retryable {
            reason: "EAPI:Invalid nonce".into()
        }
    );
    assert!(matches!(
        behind.balances().await,
        Err(ExchangeError::Retryable { .. })
    ));
    ahead.balances().await.unwrap();
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["clientOrderId"], uuid(1));
    // The same two containers with the window: both fine.
    let windowed = Venue::start(windowed_config(10_000)).await;
    let ahead = windowed.client_with(KEY, SECRET, Arc::new(Skewed(5_000)));
    let behind = windowed.client_with(KEY, SECRET, Arc::new(Skewed(0)));
    ahead.place_limit_order(&resting_buy(1)).await.unwrap();
    behind.place_limit_order(&resting_buy(2)).await.unwrap();
    assert_eq!(windowed.orders().await.len(), 2);
    venue.exchange.stop().await;
    windowed.exchange.stop().await;
}

/// Kraken's call counter (maximum `MAX`, decaying `DECAY` a second), replayed over the times
/// the venue saw the client's private calls: the client's budget keeps it at or below half
/// the maximum, however many callers it has. A fast counter, so the test is short.
#[tokio::test]
async fn the_call_counter_budget_keeps_krakens_counter_under_its_maximum() {
    const MAX: u32 = 10;
    const DECAY_MILLI: u32 = 10_000; // 10 a second
                                     // The system clock, so the venue's log carries real arrival times.
    let exchange = PaperExchange::start(
        venue_config(&[]),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .unwrap();
    let mut config = KrakenConfig::new(exchange.base_url(), Some(ApiCredentials::new(KEY, SECRET)));
    config.rate_limits = RateLimits::new(vec![RateLimitWindow::decaying(
        LimitKind::RequestWeight,
        MAX,
        DECAY_MILLI,
    )]);
    config.client.max_rate_limit_wait = Duration::from_secs(10);
    let client = KrakenSpot::new(config).unwrap();
    client.market_filters(&btc_usdt()).await.unwrap();
    let results = join_all((0..30).map(|_| client.balances())).await;
    assert!(results.iter().all(Result::is_ok));

    let log: Vec<Value> = reqwest::get(format!("{}/admin/requests", exchange.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let times: Vec<i64> = log
        .iter()
        .filter(|r| r["endpoint"] == "BalanceEx")
        .map(|r| r["time"].as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 30);
    let decay_per_ms = f64::from(DECAY_MILLI) / 1_000_000.0;
    let (mut counter, mut last, mut highest) = (0.0_f64, times[0], 0.0_f64);
    for t in times {
        counter = (counter - decay_per_ms * (t - last) as f64).max(0.0) + 1.0;
        last = t;
        highest = highest.max(counter);
    }
    eprintln!("FIGURE kraken call counter: highest {highest:.2} of {MAX} over 30 calls");
    // Half the maximum from this client, give or take requests that arrive together.
    assert!(highest <= f64::from(MAX), "counter reached {highest}");
    exchange.stop().await;
}

/// Two keys' clients built with one `VenueShares` (as the functions' wiring builds them) read
/// `Assets` and `AssetPairs` once between them.
#[tokio::test]
async fn the_keys_of_one_address_read_the_markets_once() {
    let venue = Venue::standard().await;
    let shares = driftline_exchange::VenueShares::new();
    let clients = ["alice", "bob"].map(|name| {
        let config = venue.config(&format!("{name}-key"), &format!("{name}-secret"));
        KrakenSpot::sharing(config, Arc::new(SystemClock), &shares).unwrap()
    });
    for client in &clients {
        client.market_filters(&btc_usdt()).await.unwrap();
    }
    assert_eq!(venue.sent("Assets").await, 1);
    assert_eq!(venue.sent("AssetPairs").await, 1);
    venue.exchange.stop().await;
}
