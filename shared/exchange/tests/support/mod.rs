//! What the adapters' tests against the paper exchange share: the venue started in-process on
//! a loopback port with a manual clock (so its times are exact), its admin API (what really
//! happened behind each answer), and domain values. Each venue's test file adds its own
//! clients to [`Venue`].
#![allow(dead_code)] // Each test crate uses its own part.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use std::time::Duration;

use driftline_core::ports::{
    Balance, Exchange, ExchangeError, ExchangeOrderStatus, LimitOrderRequest, OrderReport,
    TimeInForce,
};
use driftline_core::{Asset, ClientOrderId, EpochMillis, Level, Price, Side, Symbol};
use driftline_exchange::RetryPolicy;
use paper_exchange::clock::ManualClock;
use paper_exchange::{ExchangeConfig, PaperExchange};
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

    pub async fn set_faults(&self, faults: Value) {
        let r = self
            .http
            .put(self.url("/admin/faults"))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "faults {faults} refused");
    }
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

/// The venue thins BTCUSDT's book to 5 %: the client's book shows it, the best prices stay,
/// and ETHUSDT (5 ETH a level) keeps its depth.
pub async fn assert_thin_book_shows(venue: &Venue, client: &dyn Exchange) {
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
    assert_eq!(thin.depth_within(Side::Buy, dec!(100.3)), dec!(0.15));
    assert_eq!(thin.best_bid(), full.best_bid());
    let eth = client.order_book(&eth_usdt(), 1).await.unwrap();
    assert_eq!(eth.asks()[0].quantity, dec!(5));
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
