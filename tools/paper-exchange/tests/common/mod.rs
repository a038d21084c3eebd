//! What the paper exchange's tests share: a small venue every test starts from (one market
//! around 100 with three levels of 1 a side, and two accounts), the venue's clock at [`T0`],
//! a venue started on a loopback port, one request answered in-process (the property tests),
//! and the signature of alice's Binance requests. `kraken` holds the Kraken tests' venue and
//! signature.
#![allow(dead_code)]

pub mod kraken;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use hmac::{Hmac, Mac};
use paper_exchange::clock::ManualClock;
use paper_exchange::server::{router, AppState};
use paper_exchange::{paper_account, small_venue, venues, ExchangeConfig, PaperExchange};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::Sha256;
use tower::ServiceExt;

/// The venue's clock when a test starts: 2027-01-15T08:00:00Z, a Friday.
pub const T0: i64 = 1_800_000_000_000;

/// [`small_venue!`] (BTCUSDT around 100, maker fee 0.1 %, taker 0.2 %, alice) and bob, who
/// holds 1,000 USDT and 5 BTC.
pub const VENUE: &str = concat!(
    small_venue!(),
    paper_account!("bob", key = "bob-key", secret = "bob-secret", balances = { USDT = "1000", BTC = "5" }),
);

pub fn venue_config() -> ExchangeConfig {
    venue_config_with(&[])
}

/// The test venue with some lines replaced (`("volatility_bps = \"0\"", "volatility_bps = \"50\"")`).
pub fn venue_config_with(replacements: &[(&str, &str)]) -> ExchangeConfig {
    venues::parse_edited(VENUE, replacements)
}

/// A venue started in-process on an ephemeral loopback port, its clock a manual one at [`T0`].
pub async fn start(config: ExchangeConfig) -> (PaperExchange, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let exchange = PaperExchange::start_with_clock(
        config,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        clock.clone(),
    )
    .await
    .unwrap();
    (exchange, clock)
}

/// A venue's state, its clock a manual one at [`T0`], for requests answered in-process.
pub fn state_at_t0(config: ExchangeConfig) -> Arc<AppState> {
    Arc::new(AppState::new(config, Arc::new(ManualClock::new(T0))).unwrap())
}

/// One request answered in-process by the venue's router over `state`, sent from a loopback
/// peer: the status and the body as JSON.
pub fn answer(state: &Arc<AppState>, req: Request<Body>) -> (StatusCode, Value) {
    let app =
        router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    })
}

/// Panics if any account's free or locked balance is negative.
pub fn assert_no_balance_negative(state: &AppState) {
    state.with_engine(|e| {
        for (_, balances) in e.all_balances() {
            for b in balances.values() {
                assert!(b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO);
            }
        }
    });
}

/// Binance's signature of a payload: hex(HMAC-SHA256(secret, payload)).
pub fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A `/api/v3/{path}` request alice signs at [`T0`], every parameter in the query string.
pub fn alice_signed(method: &str, path: &str, params: &[(String, String)]) -> Request<Body> {
    let mut pairs = params.to_vec();
    pairs.push(("timestamp".into(), T0.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap();
    let uri = format!(
        "/api/v3/{path}?{query}&signature={}",
        sign("alice-secret", &query)
    );
    Request::builder()
        .method(method)
        .uri(uri)
        .header("X-MBX-APIKEY", "alice-key")
        .body(Body::empty())
        .unwrap()
}
