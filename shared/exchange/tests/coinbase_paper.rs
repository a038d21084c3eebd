//! The Coinbase Advanced Trade client against the paper exchange's Coinbase dialect: the venue
//! runs in-process on an ephemeral loopback port with a manual clock shared with the client
//! (so every JWT's `nbf`/`exp` and every rate-limit window is deterministic), verifies each
//! request's ES256 token, and its admin API shows what really happened behind each answer.
//!
//! The keys below were generated for these tests only (`openssl ecparam -name prime256v1
//! -genkey`) and guard nothing.

mod support;

use driftline_core::ports::{
    Exchange, ExchangeError, ExchangeOrderStatus, LimitOrderRequest, TimeInForce,
    Venue as VenueName,
};
use driftline_core::{ApiCredentials, ClientOrderId, Side};
use driftline_exchange::{CoinbaseAdvanced, CoinbaseConfig, ConfigError};
use paper_exchange::{paper_market, paper_venue_head, venues, ExchangeConfig};
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use support::{balance, btc_usdt, eth_usdt, refused, rejected, symbol, Venue, T0};

const KEY: &str = "organizations/test-org/apiKeys/alice";
const PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIP9DKXFx9FBTuTlVCICS8v4A8CPyncGK8gm5sPkuCX/MoAoGCCqGSM49
AwEHoUQDQgAE4UnS8pkKFtq7Z5LO1mIU0NXZhNauoX8KYojNwCWLI4X8p13NnHbO
Tiz1xVsC0SL+98wKfQ0IeoEuGFirffiHnA==
-----END EC PRIVATE KEY-----
";
/// A key no account holds.
const STRANGER_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBuy3ZF8h4AZL85BEaEXuFoEqMUozuuZfen5MS5sqzzZoAoGCCqGSM49
AwEHoUQDQgAEXrnKb11VeTK9dijUekv+lqw9nYS6QXXNQDwQFAlcBMNuD/AeKZpF
AETAkFAqQ2dTWS5nNuY9NfAmKPji82GYpA==
-----END EC PRIVATE KEY-----
";

/// BTC-USDT around 100 (step 0.001, at most 100; bids 99.9/99.8/99.7 and asks
/// 100.1/100.2/100.3, 1 BTC each), ETH-USDT around 50, maker fee 0.1 %, taker 0.2 %; alice
/// holds 10,000 USDT and 10 BTC.
const MARKETS: &str = concat!(
    "dialect = \"coinbase\"\n",
    paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
    paper_market!("BTC" / "USDT": step = "0.001", max_qty = "100", mid = "100",
        spread_bps = "20", depth = 3 x "1" every "10" bps),
);
const ETH_MARKET: &str = paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000", mid = "50",
        spread_bps = "20", depth = 3 x "5" every "10" bps);

fn venue_text(with_eth: bool) -> String {
    format!(
        "{MARKETS}{}\n[[accounts]]\nname = \"alice\"\napi_key = \"{KEY}\"\nsecret = '''\n{PEM}'''\nbalances = {{ USDT = \"10000\", BTC = \"10\" }}\n",
        if with_eth { ETH_MARKET } else { "" }
    )
}

fn venue_config(edits: &[(&str, &str)]) -> ExchangeConfig {
    venues::parse_edited(&venue_text(true), edits)
}

impl Venue {
    /// The test venue as written, and alice's client on it.
    async fn with_alice() -> (Self, CoinbaseAdvanced) {
        let venue = Self::start(venue_config(&[])).await;
        let alice = venue.client();
        (venue, alice)
    }

    /// alice's client, on the venue's clock.
    fn client(&self) -> CoinbaseAdvanced {
        self.client_with(self.config(Some(ApiCredentials::new(KEY, PEM))))
    }

    fn client_with(&self, config: CoinbaseConfig) -> CoinbaseAdvanced {
        CoinbaseAdvanced::with_clock(config, self.clock.clone())
            .expect("the client config is valid")
    }

    /// Fast retries and a short limiter wait, so failures surface at once.
    fn config(&self, credentials: Option<ApiCredentials>) -> CoinbaseConfig {
        let mut config = CoinbaseConfig::new(self.exchange.base_url(), credentials);
        support::fail_fast(&mut config.client);
        config
    }

    /// An unsigned request from the same IP; returns its status.
    async fn spend(&self) -> u16 {
        let r = self
            .http
            .get(self.url("/api/v3/brokerage/time"))
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }
}

/// The Coinbase order id the paper venue gives the engine's order `id` (docs/PAPER_EXCHANGE.md).
fn paper_uuid(id: &Value) -> String {
    let hex = format!("{:016x}", id.as_u64().unwrap());
    format!(
        "7061706e-7065-4{}-8{}-00{}",
        &hex[..3],
        &hex[3..6],
        &hex[6..]
    )
}

fn cid(text: &str) -> ClientOrderId {
    ClientOrderId::parse(text).unwrap()
}

/// A BTC-USDT limit order written as `"0.5 @ 99"`.
fn order(client_order_id: &str, side: Side, size_at: &str, tif: TimeInForce) -> LimitOrderRequest {
    let (size, at) = size_at.split_once(" @ ").unwrap();
    let decimal = |text: &str| Decimal::from_str_exact(text).unwrap();
    support::limit_order(cid(client_order_id), side, decimal(size), decimal(at), tif)
}

/// A resting buy well below the book: 0.5 at 99.
fn resting_buy(client_order_id: &str) -> LimitOrderRequest {
    support::resting_buy(cid(client_order_id))
}

#[tokio::test]
async fn reads_parse_into_domain_types_with_the_venues_values() {
    let (venue, client) = Venue::with_alice().await;
    assert_eq!(client.venue(), VenueName::Coinbase);

    support::assert_server_time(&venue, &client, 1234, 1234).await;

    assert_eq!(
        client.market_filters(&btc_usdt()).await.unwrap(),
        support::btc_usdt_filters(Some(dec!(100)))
    );
    assert_eq!(client.product_id(&eth_usdt()).await.unwrap(), "ETH-USDT");
    assert_eq!(client.symbol_of("BTC-USDT").await.unwrap(), btc_usdt());

    support::assert_small_book(&client).await;

    // The venue lists an ETH wallet with nothing in it: left out.
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            balance("BTC", dec!(10), dec!(0)),
            balance("USDT", dec!(10000), dec!(0)),
        ]
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap(), vec![]);
    // The product list was read once for all of it.
    assert_eq!(venue.sent("Products").await, 1);
    venue.exchange.stop().await;
}

#[tokio::test]
async fn places_queries_lists_and_cancels_orders() {
    let (venue, client) = Venue::with_alice().await;

    let placed = client.place_limit_order(&resting_buy("dl1-rest")).await;
    let placed = placed.unwrap();
    // Read back after the placement: resting, nothing filled, stamped with the venue's time.
    support::assert_resting_buy(&placed, &cid("dl1-rest"));
    let orders = venue.orders().await;
    assert_eq!(
        placed.exchange_order_id.as_str(),
        paper_uuid(&orders[0]["orderId"])
    );

    // Found by client order id and among the open orders, shown in the book; its quote held.
    support::assert_resting_buy_found(&client, &placed).await;
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            balance("BTC", dec!(10), dec!(0)),
            // The cost and the fee at the higher rate, 0.2 %: Coinbase holds a buy's fee too.
            balance("USDT", dec!(9950.401), dec!(49.599)),
        ]
    );

    // A crossing IOC takes from the best ask; its fill and fee come from the fills list, the
    // commission stated in the quote currency (0.2 % of 0.3 BTC, at 100.1).
    venue.clock.advance(100);
    let taken = client
        .place_limit_order(&support::taking_buy(cid("dl1-take")))
        .await
        .unwrap();
    support::assert_taken(&taken);
    assert_eq!(taken.updated_at_ms, T0 + 100);
    support::assert_taker_fill_in_quote(&client, &taken, &placed).await;

    // A post-only order that would take is refused by the venue inside a 200.
    let would_take = refused(
        &client,
        &order("dl1-maker", Side::Buy, "0.1 @ 100.2", TimeInForce::PostOnly),
    )
    .await;
    assert_eq!(
        would_take,
        rejected(
            "INVALID_LIMIT_PRICE_POST_ONLY: Limit price would take liquidity on a post-only order"
        )
    );

    let cancelled = support::cancel_resting_buy(&venue, &client, &placed).await;
    // The taker fee was paid in USDT on top (0.2 % of 30.03): the whole 0.3 BTC arrived.
    assert_eq!(
        client.balances().await.unwrap(),
        vec![
            balance("BTC", dec!(10.3), dec!(0)),
            balance("USDT", dec!(9969.90994), dec!(0)),
        ]
    );
    // Cancelling a final order answers what it came to, without a cancel request.
    let cancels = venue.sent("BatchCancel").await;
    assert_eq!(
        client
            .cancel_order(&btc_usdt(), &cid("dl1-rest"))
            .await
            .unwrap(),
        cancelled
    );
    assert_eq!(venue.sent("BatchCancel").await, cancels);
    // An order that never existed is NotFound.
    assert!(matches!(
        client.cancel_order(&btc_usdt(), &cid("dl1-never")).await,
        Err(ExchangeError::NotFound { .. })
    ));
    assert_eq!(venue.orders().await.len(), 2);
    venue.exchange.stop().await;
}

#[rstest]
#[case::price_off_tick(
    "0.5 @ 99.005",
    "INVALID_PRICE_PRECISION: Limit price is not a multiple of the product's price increment"
)]
#[case::quantity_below_minimum("0.0005 @ 99",
    "UNKNOWN_FAILURE_REASON (PREVIEW_INVALID_BASE_SIZE_TOO_SMALL): Order size is below the product's minimum")]
#[case::quantity_off_step(
    "0.1505 @ 99",
    "INVALID_SIZE_PRECISION: Order size is not a multiple of the product's base increment"
)]
#[case::quantity_above_maximum("101 @ 99",
    "UNKNOWN_FAILURE_REASON (PREVIEW_INVALID_BASE_SIZE_TOO_LARGE): Order size is above the product's maximum")]
#[case::notional_below_minimum("0.05 @ 99",
    "UNKNOWN_FAILURE_REASON (PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL): Order value is below the product's minimum")]
#[tokio::test]
async fn filter_failures_are_rejected_naming_the_limit(
    #[case] size_at: &str,
    #[case] message: &str,
) {
    let (venue, client) = Venue::with_alice().await;
    let buy = order("dl1-filter", Side::Buy, size_at, TimeInForce::Gtc);
    let err = client.place_limit_order(&buy).await.unwrap_err();
    assert_eq!(err, rejected(message));
    assert!(venue.orders().await.is_empty());
    // A refused placement reserves nothing: the id places once the order is right.
    client
        .place_limit_order(&resting_buy("dl1-filter"))
        .await
        .unwrap();
    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

#[tokio::test]
async fn each_refusal_of_the_venue_becomes_its_typed_error() {
    let (venue, client) = Venue::with_alice().await;

    // alice holds 10 BTC.
    let err = client
        .place_limit_order(&support::oversized_sell(cid("dl1-broke")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rejected("INSUFFICIENT_FUND: Insufficient balance in source account")
    );

    // Unknown orders: NotFound for the lookup and the cancel.
    assert_eq!(
        client
            .order(&btc_usdt(), &cid("dl1-never"))
            .await
            .unwrap_err(),
        ExchangeError::NotFound {
            message: "no order with client_order_id dl1-never on BTC-USDT".into()
        }
    );
    assert!(matches!(
        client.cancel_order(&btc_usdt(), &cid("dl1-never")).await,
        Err(ExchangeError::NotFound { .. })
    ));

    // No request for a product the list does not have.
    let before = venue.requests().await.len();
    let doge = symbol("DOGE", "USDT");
    assert!(matches!(
        client.open_orders(&doge).await.unwrap_err(),
        ExchangeError::Rejected { message } if message.starts_with("INVALID_PRODUCT_ID:")
    ));
    assert_eq!(venue.requests().await.len(), before);
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[rstest]
#[case::wrong_key_for_the_name(KEY, STRANGER_PEM)]
#[case::unknown_key_name("organizations/test-org/apiKeys/nobody", PEM)]
#[tokio::test]
async fn bad_credentials_are_auth_errors(#[case] key: &str, #[case] pem: &str) {
    let venue = Venue::start(venue_config(&[])).await;
    let client = venue.client_with(venue.config(Some(ApiCredentials::new(key, pem))));
    let err = client.balances().await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Auth {
            message: "HTTP 401".into()
        }
    );
    let err = refused(&client, &resting_buy("dl1-auth")).await;
    assert_eq!(
        err,
        ExchangeError::Auth {
            message: "HTTP 401".into()
        }
    );
    // Neither the secret nor a token shows in what the caller sees.
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("PRIVATE KEY") && !shown.contains("eyJ"),
        "{shown}"
    );
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

#[tokio::test]
async fn a_secret_that_is_no_key_or_no_credentials_at_all() {
    let venue = Venue::start(venue_config(&[])).await;
    let err =
        CoinbaseAdvanced::new(venue.config(Some(ApiCredentials::new(KEY, "hunter2")))).unwrap_err();
    assert!(matches!(err, ConfigError::Credentials { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"));

    // Without credentials market data works; private calls are refused without a request.
    let client = venue.client_with(venue.config(None));
    assert_eq!(
        client
            .order_book(&btc_usdt(), 1)
            .await
            .unwrap()
            .asks()
            .len(),
        1
    );
    let before = venue.requests().await.len();
    assert!(matches!(
        client.balances().await.unwrap_err(),
        ExchangeError::Auth { message } if message.contains("none configured")
    ));
    assert_eq!(venue.requests().await.len(), before);
    venue.exchange.stop().await;
}

/// The venue delists a product while the client still has it in its cached product list: the
/// request goes out and the venue's 404 comes back.
#[tokio::test]
async fn a_product_the_venue_no_longer_lists_is_not_found() {
    let (venue, client) = Venue::with_alice().await;
    assert_eq!(client.product_id(&eth_usdt()).await.unwrap(), "ETH-USDT");
    let addr = venue.exchange.addr();
    venue.exchange.stop().await;

    let relisted = Venue::start_on(ExchangeConfig::parse(&venue_text(false)).unwrap(), addr).await;
    assert_eq!(
        client.order_book(&eth_usdt(), 5).await.unwrap_err(),
        ExchangeError::NotFound {
            message: "NOT_FOUND: ProductID is invalid".into()
        }
    );
    relisted.exchange.stop().await;
}

/// Others on the IP spend the minute's requests: the client's next public read gets the 429,
/// after which it sends no public request; its first private request hears the venue's
/// continued refusal (Coinbase has no ban status, the venue keeps answering 429), after which
/// it sends no private request either. The venue's request log proves it.
#[tokio::test]
async fn a_429_holds_back_every_caller_of_that_limit() {
    let venue = Venue::start(support::with_minute_weight(&venue_text(true), 10)).await;
    let client = venue.client();
    client.market_filters(&btc_usdt()).await.unwrap(); // 1
    for _ in 0..9 {
        assert_eq!(venue.spend().await, 200);
    }

    let err = client.server_time().await.unwrap_err(); // 11: the 429
    assert!(
        matches!(err, ExchangeError::RateLimited { retry_after_ms } if retry_after_ms > 59_000),
        "{err:?}"
    );
    assert!(matches!(
        client.order_book(&btc_usdt(), 1).await,
        Err(ExchangeError::RateLimited { .. })
    ));
    let err = client.balances().await.unwrap_err(); // 12: refused again, for the ban's length
    assert!(
        matches!(err, ExchangeError::RateLimited { retry_after_ms } if retry_after_ms >= 100_000),
        "{err:?}"
    );
    assert!(matches!(
        client.place_limit_order(&resting_buy("dl1-paused")).await,
        Err(ExchangeError::RateLimited { .. })
    ));
    assert!(matches!(
        client.open_orders(&btc_usdt()).await,
        Err(ExchangeError::RateLimited { .. })
    ));

    let requests = venue.requests().await;
    assert_eq!(requests.len(), 12, "{requests:?}");
    assert_eq!(venue.sent("CreateOrder").await, 0);
    assert!(venue.orders().await.is_empty());
    venue.exchange.stop().await;
}

/// A fault before the engine (an injected 500, a maintenance window's 503): reads are retried
/// and then `Retryable`; a placement is sent once and is `StatusUnknown` (a 5xx may have run);
/// the lookup afterwards shows that this venue placed nothing.
#[rstest]
#[case::server_error(json!({"server_error_rate": "1"}), "HTTP 500: INTERNAL: Internal error")]
#[case::maintenance(json!({"maintenance": true}),
    "HTTP 503: UNAVAILABLE: Service is temporarily unavailable, please try again later")]
#[tokio::test]
async fn a_5xx_is_retried_on_reads_and_unknown_on_placement(
    #[case] fault: Value,
    #[case] reason: &str,
) {
    let (venue, client) = Venue::with_alice().await;
    support::with_faults(&venue, &client, fault).await;

    let unknown_to_reads = ExchangeError::Retryable {
        reason: reason.into(),
    };
    assert_eq!(client.server_time().await.unwrap_err(), unknown_to_reads);
    assert_eq!(client.balances().await.unwrap_err(), unknown_to_reads);
    // The first try and two retries each.
    assert_eq!(
        (venue.sent("Time").await, venue.sent("Accounts").await),
        (3, 3)
    );
    assert_eq!(
        refused(&client, &resting_buy("dl1-5xx")).await,
        ExchangeError::StatusUnknown {
            reason: reason.into()
        }
    );
    assert_eq!(
        venue.sent("CreateOrder").await,
        1,
        "a placement is never resent"
    );

    support::assert_nothing_placed(&venue, &client, &cid("dl1-5xx")).await;
    venue.exchange.stop().await;
}

/// After an unknown placement: the lookup by client order id finds the one order the venue
/// holds, resting as placed, and sent no placement of its own.
async fn the_lookup_finds_the_one_order(
    venue: &Venue,
    client: &CoinbaseAdvanced,
    client_order_id: &str,
) -> driftline_core::ports::OrderReport {
    let found = client
        .order(&btc_usdt(), &cid(client_order_id))
        .await
        .unwrap();
    assert_eq!(found.status, ExchangeOrderStatus::New);
    assert_eq!((found.orig_qty, found.price.value()), (dec!(0.5), dec!(99)));
    assert_eq!(venue.sent("CreateOrder").await, 1);
    let orders = venue.orders().await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["clientOrderId"], client_order_id);
    assert_eq!(
        found.exchange_order_id.as_str(),
        paper_uuid(&orders[0]["orderId"])
    );
    found
}

#[tokio::test]
async fn a_dropped_placement_answer_is_unknown_and_the_lookup_finds_the_one_order() {
    let (venue, client) = Venue::with_alice().await;
    support::with_faults(&venue, &client, json!({"drop_next_order_responses": 1})).await;

    assert_eq!(
        refused(&client, &resting_buy("dl1-dropped")).await,
        ExchangeError::StatusUnknown {
            reason: "HTTP 504: DEADLINE_EXCEEDED: Request timed out; the order's status is unknown"
                .into()
        }
    );
    let found = the_lookup_finds_the_one_order(&venue, &client, "dl1-dropped").await;
    // A resend with the same client order id is answered with that order: nothing doubled.
    let again = client
        .place_limit_order(&resting_buy("dl1-dropped"))
        .await
        .unwrap();
    assert_eq!(again, found);
    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

/// The venue accepts the order but answers only after the client has given up waiting.
#[tokio::test]
async fn a_placement_timeout_is_unknown_and_the_lookup_finds_the_one_order() {
    let venue = Venue::start(venue_config(&[])).await;
    let mut config = venue.config(Some(ApiCredentials::new(KEY, PEM)));
    config.client.request_timeout = support::GIVE_UP_AFTER;
    let client = venue.client_with(config);
    support::answer_late(&venue, &client).await;

    assert_eq!(
        refused(&client, &resting_buy("dl1-late")).await,
        ExchangeError::StatusUnknown {
            reason: "timed out".into()
        }
    );
    the_lookup_finds_the_one_order(&venue, &client, "dl1-late").await;
    venue.exchange.stop().await;
}

/// Coinbase's rule for a repeated `client_order_id`: no new order, the existing one back,
/// whatever the repeat asks for and whatever became of the first.
#[tokio::test]
async fn a_repeated_placement_with_the_same_client_order_id_places_nothing() {
    let (venue, client) = Venue::with_alice().await;
    let first = client
        .place_limit_order(&resting_buy("dl1-twice"))
        .await
        .unwrap();
    let repeat = client
        .place_limit_order(&resting_buy("dl1-twice"))
        .await
        .unwrap();
    assert_eq!(repeat, first);
    // A repeat that asks for something else still gets the first order.
    let other = order("dl1-twice", Side::Buy, "0.2 @ 98", TimeInForce::Gtc);
    let repeat = client.place_limit_order(&other).await.unwrap();
    assert_eq!(
        (repeat.exchange_order_id.clone(), repeat.orig_qty),
        (first.exchange_order_id.clone(), dec!(0.5))
    );
    // Once cancelled, the id still names it: a resend does not place it again.
    client
        .cancel_order(&btc_usdt(), &cid("dl1-twice"))
        .await
        .unwrap();
    let after = client
        .place_limit_order(&resting_buy("dl1-twice"))
        .await
        .unwrap();
    assert_eq!(
        (after.exchange_order_id, after.status),
        (first.exchange_order_id, ExchangeOrderStatus::Canceled)
    );
    assert_eq!(venue.sent("CreateOrder").await, 4);
    assert_eq!(venue.orders().await.len(), 1);
    venue.exchange.stop().await;
}

/// An order that filled, at once or later while resting, is found by its client order id with
/// what it filled: never `NotFound`.
#[tokio::test]
async fn a_filled_order_is_found_by_its_client_order_id() {
    let (venue, client) = Venue::with_alice().await;
    let taken = client
        .place_limit_order(&order(
            "dl1-ioc",
            Side::Buy,
            "0.3 @ 100.1",
            TimeInForce::Ioc,
        ))
        .await
        .unwrap();
    let found = client.order(&btc_usdt(), &cid("dl1-ioc")).await.unwrap();
    assert_eq!(found, taken);
    assert_eq!(found.status, ExchangeOrderStatus::Filled);

    // A resting buy that the market later moves through, filling it as maker.
    let resting = client
        .place_limit_order(&order(
            "dl1-rests",
            Side::Buy,
            "0.5 @ 99.5",
            TimeInForce::Gtc,
        ))
        .await
        .unwrap();
    assert_eq!(resting.status, ExchangeOrderStatus::New);
    venue.clock.advance(60_000);
    venue
        .admin_write(
            reqwest::Method::POST,
            "/admin/mid",
            json!({"symbol": "BTCUSDT", "price": "99"}),
        )
        .await;
    let filled = client.order(&btc_usdt(), &cid("dl1-rests")).await.unwrap();
    assert_eq!(filled.status, ExchangeOrderStatus::Filled);
    assert_eq!(
        (filled.executed_qty, filled.cumulative_quote_qty),
        (dec!(0.5), dec!(49.75))
    );
    assert_eq!(filled.updated_at_ms, T0 + 60_000);
    // The maker fee, 0.1 % of 0.5 BTC, stated in USDT at 99.5.
    assert_eq!(
        client
            .order_fills(&btc_usdt(), &filled.exchange_order_id)
            .await
            .unwrap(),
        vec![support::usdt_fill(dec!(99.5), dec!(0.5), dec!(0.04975))]
    );
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap(), vec![]);
    venue.exchange.stop().await;
}

/// The thin-book fault scales the simulated depth of one market, which the book read shows.
#[tokio::test]
async fn a_thin_book_shows_in_order_book() {
    let (venue, client) = Venue::with_alice().await;
    support::assert_thin_book_shows(venue, &client).await;
}

/// Two users' clients built with one `VenueShares` (as the functions' wiring builds them) read
/// the product list once between them.
#[tokio::test]
async fn the_users_of_one_address_read_the_product_list_once() {
    let venue = Venue::start(venue_config(&[])).await;
    let shares = driftline_exchange::VenueShares::new();
    let clients = [0, 1].map(|_| {
        let config = venue.config(Some(ApiCredentials::new(KEY, PEM)));
        CoinbaseAdvanced::sharing(config, venue.clock.clone(), &shares).unwrap()
    });
    for client in &clients {
        client.market_filters(&btc_usdt()).await.unwrap();
    }
    assert_eq!(venue.sent("Products").await, 1);
    venue.exchange.stop().await;
}
