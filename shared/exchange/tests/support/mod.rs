//! What the adapters' tests against the paper exchange share: the venue started in-process on
//! a loopback port with a manual clock (so its times are exact), its admin API (what really
//! happened behind each answer), the client settings that make failures surface at once, and
//! the orders and answers every venue's tests use. Each venue's test file adds its own clients
//! to [`Venue`].
#![allow(dead_code)] // Each test crate uses its own part.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use std::time::Duration;

use driftline_core::ports::{
    Balance, Exchange, ExchangeError, ExchangeOrderStatus, Fill, LimitOrderRequest, OrderReport,
    TimeInForce,
};
use driftline_core::{
    Asset, ClientOrderId, EpochMillis, Level, MarketFilters, MarketFiltersFields, Price, Side,
    Symbol,
};
use driftline_exchange::{ClientConfig, RetryPolicy};
use paper_exchange::clock::ManualClock;
use paper_exchange::{venues, ExchangeConfig, PaperExchange};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// A minute boundary, so the venue's weight window starts here.
pub const T0: EpochMillis = 1_800_000_000_000;

pub struct Venue {
    pub exchange: PaperExchange,
    pub clock: Arc<ManualClock>,
    /// Admin calls, and "other processes on the same IP".
    pub http: reqwest::Client,
}

impl Venue {
    pub async fn start(config: ExchangeConfig) -> Self {
        Self::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    pub async fn start_on(config: ExchangeConfig, addr: SocketAddr) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let exchange = PaperExchange::start_with_clock(config, addr, clock.clone())
            .await
            .expect("the paper exchange starts");
        Self {
            exchange,
            clock,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.exchange.base_url())
    }

    async fn admin(&self, path: &str) -> Vec<Value> {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every order the venue holds (`GET /admin/orders`).
    pub async fn orders(&self) -> Vec<Value> {
        self.admin("/admin/orders").await
    }

    /// Every request that reached the venue's API, oldest first (`GET /admin/requests`).
    pub async fn requests(&self) -> Vec<Value> {
        self.admin("/admin/requests").await
    }

    /// The endpoint of every request that reached the venue's API, oldest first (Kraken's
    /// method names, Coinbase's `CreateOrder`, `ListOrders`, ...).
    pub async fn endpoints(&self) -> Vec<String> {
        self.requests()
            .await
            .iter()
            .map(|r| r["endpoint"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How many requests reached `endpoint`.
    pub async fn sent(&self, endpoint: &str) -> usize {
        self.endpoints()
            .await
            .iter()
            .filter(|e| *e == endpoint)
            .count()
    }

    /// Changes the venue through its admin API (`PUT /admin/faults`, `POST /admin/mid`, ...).
    pub async fn admin_write(&self, method: reqwest::Method, path: &str, body: Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path} {body} refused");
    }

    pub async fn set_faults(&self, faults: Value) {
        self.admin_write(reqwest::Method::PUT, "/admin/faults", faults)
            .await;
    }
}

/// `venue` with its minute's request weight cut from 6000 to `per_minute`, so that other
/// processes on the IP can spend it.
pub fn with_minute_weight(venue: &str, per_minute: u32) -> ExchangeConfig {
    venues::parse_edited(
        venue,
        &[(
            "request_weight_per_minute = 6000",
            &format!("request_weight_per_minute = {per_minute}"),
        )],
    )
}

pub fn asset(code: &str) -> Asset {
    Asset::new(code).unwrap()
}

pub fn levels(raw: &[(Decimal, Decimal)]) -> Vec<Level> {
    raw.iter()
        .map(|(p, q)| Level {
            price: Price::new(*p).unwrap(),
            quantity: *q,
        })
        .collect()
}

pub fn balance(code: &str, free: Decimal, locked: Decimal) -> Balance {
    Balance {
        asset: asset(code),
        free,
        locked,
    }
}

pub fn symbol(base: &str, quote: &str) -> Symbol {
    Symbol::new(asset(base), asset(quote)).unwrap()
}

pub fn btc_usdt() -> Symbol {
    symbol("BTC", "USDT")
}

pub fn eth_usdt() -> Symbol {
    symbol("ETH", "USDT")
}

/// Two quick retries, so failures surface at once.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    }
}

/// Fast retries and a short limiter wait, so failures surface at once.
pub fn fail_fast(client: &mut ClientConfig) {
    client.retry = fast_retries();
    client.request_timeout = Duration::from_secs(5);
    client.max_rate_limit_wait = Duration::from_millis(200);
}

/// A request timeout long enough for a loaded machine's loopback answers, well under the delay
/// of the answer [`answer_late`] holds back.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

/// Reads the markets into the client's cache, then has the venue place the next order but
/// answer only after three seconds, when a client with [`GIVE_UP_AFTER`] has given up.
pub async fn answer_late(venue: &Venue, client: &dyn Exchange) {
    with_faults(
        venue,
        client,
        json!({"drop_next_order_responses": 1, "drop_response_delay_ms": 3000}),
    )
    .await;
}

/// BTC/USDT's filters as the test venues configure it: tick 0.01, step and minimum 0.001 BTC,
/// minimum notional 5 USDT, trading, and `max_qty` (Kraken has none).
pub fn btc_usdt_filters(max_qty: Option<Decimal>) -> MarketFilters {
    MarketFilters::new(MarketFiltersFields {
        step_size: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty,
        ..driftline_core::testing::spot_filter_fields(btc_usdt())
    })
    .unwrap()
}

/// A limit order on BTC/USDT.
pub fn limit_order(
    client_order_id: ClientOrderId,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    time_in_force: TimeInForce,
) -> LimitOrderRequest {
    LimitOrderRequest {
        client_order_id,
        symbol: btc_usdt(),
        side,
        quantity,
        price: Price::new(price).unwrap(),
        time_in_force,
    }
}

/// A resting buy of 0.5 BTC at 99, well below the book.
pub fn resting_buy(client_order_id: ClientOrderId) -> LimitOrderRequest {
    limit_order(
        client_order_id,
        Side::Buy,
        dec!(0.5),
        dec!(99),
        TimeInForce::Gtc,
    )
}

/// A sell of 11 BTC at 101, one more than alice holds.
pub fn oversized_sell(client_order_id: ClientOrderId) -> LimitOrderRequest {
    limit_order(
        client_order_id,
        Side::Sell,
        dec!(11),
        dec!(101),
        TimeInForce::Gtc,
    )
}

/// A buy of 0.3 BTC at 100.1 that crosses the best ask and fills at once.
pub fn taking_buy(client_order_id: ClientOrderId) -> LimitOrderRequest {
    limit_order(
        client_order_id,
        Side::Buy,
        dec!(0.3),
        dec!(100.1),
        TimeInForce::Ioc,
    )
}

/// `report` is a [`taking_buy`], filled: 0.3 BTC for 30.03 USDT.
pub fn assert_taken(report: &OrderReport) {
    assert_eq!(report.status, ExchangeOrderStatus::Filled);
    assert_eq!(
        (report.executed_qty, report.cumulative_quote_qty),
        (dec!(0.3), dec!(30.03))
    );
}

/// The error the venue refuses `order` with.
pub async fn refused(client: &dyn Exchange, order: &LimitOrderRequest) -> ExchangeError {
    client.place_limit_order(order).await.unwrap_err()
}

pub fn rejected(message: &str) -> ExchangeError {
    ExchangeError::Rejected {
        message: message.into(),
    }
}

/// One fill of BTC/USDT, its commission in USDT.
pub fn usdt_fill(price: Decimal, quantity: Decimal, commission: Decimal) -> Fill {
    Fill {
        price: Price::new(price).unwrap(),
        quantity,
        commission,
        commission_asset: asset("USDT"),
    }
}

/// `report` is the resting buy of 0.5 BTC at 99 placed at `T0` as `client_order_id`, just
/// placed: nothing filled.
pub fn assert_resting_buy(report: &OrderReport, client_order_id: &ClientOrderId) {
    assert_eq!(report.status, ExchangeOrderStatus::New);
    assert_eq!(&report.client_order_id, client_order_id);
    assert_eq!(report.symbol, btc_usdt());
    assert_eq!(report.side, Side::Buy);
    assert_eq!(report.price.value(), dec!(99));
    assert_eq!(
        (
            report.orig_qty,
            report.executed_qty,
            report.cumulative_quote_qty
        ),
        (dec!(0.5), dec!(0), dec!(0))
    );
    assert!(report.fills.is_empty());
    assert_eq!(report.updated_at_ms, T0);
}

/// Where an order's answer carries no fills and its fee is stated in the quote currency
/// (Kraken, Coinbase): the [`taking_buy`] `taken`'s one fill comes from `order_fills`, its 0.2 %
/// taker fee (0.0006 BTC) as 0.06006 USDT at 100.1, and the resting buy `placed` has none.
pub async fn assert_taker_fill_in_quote(
    client: &dyn Exchange,
    taken: &OrderReport,
    placed: &OrderReport,
) {
    assert!(taken.fills.is_empty(), "a query carries no fills");
    assert_eq!(
        client
            .order_fills(&btc_usdt(), &taken.exchange_order_id)
            .await
            .unwrap(),
        vec![usdt_fill(dec!(100.1), dec!(0.3), dec!(0.06006))]
    );
    assert_eq!(
        client
            .order_fills(&btc_usdt(), &placed.exchange_order_id)
            .await
            .unwrap(),
        vec![]
    );
}

/// The resting buy `placed` reads back the same by its client order id and among the open
/// orders, and its 0.5 BTC at 99 is the last of the book's bids.
pub async fn assert_resting_buy_found(client: &dyn Exchange, placed: &OrderReport) {
    let queried = client
        .order(&btc_usdt(), &placed.client_order_id)
        .await
        .unwrap();
    assert_eq!(&queried, placed);
    assert_eq!(
        client.open_orders(&btc_usdt()).await.unwrap(),
        vec![queried]
    );
    let book = client.order_book(&btc_usdt(), 5).await.unwrap();
    assert_eq!(book.bids().last(), levels(&[(dec!(99), dec!(0.5))]).last());
}

/// Half a second on, cancels the resting buy `placed`: the answer is that order, cancelled;
/// it is no longer open, and the lookup by client order id finds it cancelled.
pub async fn cancel_resting_buy(
    venue: &Venue,
    client: &dyn Exchange,
    placed: &OrderReport,
) -> OrderReport {
    venue.clock.advance(500);
    let cancelled = client
        .cancel_order(&btc_usdt(), &placed.client_order_id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, ExchangeOrderStatus::Canceled);
    assert_eq!(cancelled.client_order_id, placed.client_order_id);
    assert_eq!(cancelled.exchange_order_id, placed.exchange_order_id);
    assert_eq!(client.open_orders(&btc_usdt()).await.unwrap(), vec![]);
    assert_eq!(
        client
            .order(&btc_usdt(), &placed.client_order_id)
            .await
            .unwrap()
            .status,
        ExchangeOrderStatus::Canceled
    );
    cancelled
}

/// With the faults cleared, the lookup the caller must do after an unknown outcome: the
/// venue refused before its engine, so the order `client_order_id` does not exist, and no
/// order does. Returns the lookup's `NotFound` message.
pub async fn assert_nothing_placed(
    venue: &Venue,
    client: &dyn Exchange,
    client_order_id: &ClientOrderId,
) -> String {
    venue.set_faults(json!({})).await;
    let lookup = client.order(&btc_usdt(), client_order_id).await;
    let Err(ExchangeError::NotFound { message }) = lookup else {
        panic!("the lookup found {lookup:?}")
    };
    assert!(venue.orders().await.is_empty());
    message
}

/// Server time is the venue's clock: `T0`, then `T0 + seen_ms` once the clock has moved
/// `advance_ms`.
pub async fn assert_server_time(
    venue: &Venue,
    client: &dyn Exchange,
    advance_ms: i64,
    seen_ms: i64,
) {
    assert_eq!(client.server_time().await.unwrap(), T0);
    venue.clock.advance(advance_ms);
    assert_eq!(client.server_time().await.unwrap(), T0 + seen_ms);
}

/// The two best levels of BTC/USDT as the small venue configures them (bids 99.9, 99.8; asks
/// 100.1, 100.2; 1 BTC each).
pub async fn assert_small_book(client: &dyn Exchange) {
    let book = client.order_book(&btc_usdt(), 2).await.unwrap();
    assert_eq!(book.symbol(), &btc_usdt());
    assert_eq!(
        book.bids(),
        levels(&[(dec!(99.9), dec!(1)), (dec!(99.8), dec!(1))])
    );
    assert_eq!(
        book.asks(),
        levels(&[(dec!(100.1), dec!(1)), (dec!(100.2), dec!(1))])
    );
}

/// The venue thins BTCUSDT's book to 5 %: the client's book shows it on both sides, the best
/// prices stay, and ETHUSDT (5 ETH a level) keeps its depth. Then stops the venue.
pub async fn assert_thin_book_shows(venue: Venue, client: &dyn Exchange) {
    let quantities = |levels: &[Level]| levels.iter().map(|l| l.quantity).collect::<Vec<_>>();
    let full = client.order_book(&btc_usdt(), 3).await.unwrap();
    assert_eq!(full.depth_within(Side::Buy, dec!(100.3)), dec!(3));

    venue
        .set_faults(json!({"thin_books": {"BTCUSDT": "0.05"}}))
        .await;
    let thin = client.order_book(&btc_usdt(), 3).await.unwrap();
    assert_eq!(
        thin.asks(),
        levels(&[
            (dec!(100.1), dec!(0.05)),
            (dec!(100.2), dec!(0.05)),
            (dec!(100.3), dec!(0.05)),
        ])
    );
    assert_eq!(quantities(thin.bids()), vec![dec!(0.05); 3]);
    assert_eq!(thin.depth_within(Side::Buy, dec!(100.3)), dec!(0.15));
    assert_eq!(thin.best_bid(), full.best_bid());
    let eth = client.order_book(&eth_usdt(), 1).await.unwrap();
    assert_eq!(quantities(eth.asks()), vec![dec!(5)]);
    venue.exchange.stop().await;
}

/// Reads the markets into the client's cache (so what follows is what reaches the venue), then
/// has the venue inject `faults`.
pub async fn with_faults(venue: &Venue, client: &dyn Exchange, faults: Value) {
    client.market_filters(&btc_usdt()).await.unwrap();
    venue.set_faults(faults).await;
}

/// What three reads answer when they fail: server time, balances, BTC/USDT's open orders.
pub async fn failed_reads(client: &dyn Exchange) -> [ExchangeError; 3] {
    [
        client.server_time().await.unwrap_err(),
        client.balances().await.unwrap_err(),
        client.open_orders(&btc_usdt()).await.unwrap_err(),
    ]
}
