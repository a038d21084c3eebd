//! The client against a stub exchange on loopback: what goes on the wire, and what each failure
//! the exchange can produce turns into.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use driftline_core::ports::{Clock, Exchange, ExchangeError, LimitOrderRequest, TimeInForce};
use driftline_core::{ApiCredentials, ClientOrderId, EpochMillis, Price, Side, Symbol};
use driftline_exchange::{signature, BinanceConfig, BinanceSpot, RetryPolicy};
use rstest::rstest;
use rust_decimal_macros::dec;

const KEY: &str = "test-api-key-0123";
const SECRET: &str = "test-secret-4567";

/// One request as the stub received it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    /// Wall-clock arrival, for the exchange's fixed windows.
    at_ms: EpochMillis,
    method: Method,
    path: String,
    query: String,
    body: String,
    headers: HeaderMap,
}

impl Seen {
    /// The parameters, from the query or the form body, in the order sent.
    fn params(&self) -> Vec<(String, String)> {
        let raw = if self.body.is_empty() {
            &self.query
        } else {
            &self.body
        };
        form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The endpoint's documented weight.
    fn weight(&self) -> u32 {
        match (self.method.as_str(), self.path.as_str()) {
            ("GET", "/api/v3/exchangeInfo" | "/api/v3/account") => 20,
            ("GET", "/api/v3/depth") => {
                match self.param("limit").and_then(|l| l.parse::<u32>().ok()) {
                    Some(0..=100) | None => 5,
                    Some(101..=500) => 25,
                    Some(501..=1000) => 50,
                    Some(_) => 250,
                }
            }
            ("GET", "/api/v3/order") => 4,
            ("GET", "/api/v3/openOrders") => 6,
            _ => 1,
        }
    }
}

/// What the stub answers.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn ok(body: impl Into<String>) -> Self {
        Self::status(StatusCode::OK, body)
    }
    fn status(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    fn error(status: u16, code: i64, msg: &str) -> Self {
        Self::status(
            StatusCode::from_u16(status).unwrap(),
            format!(r#"{{"code":{code},"msg":"{msg}"}}"#),
        )
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&Seen, &[Seen]) -> Option<Reply> + Send + Sync;

struct StubState {
    seen: Mutex<Vec<Seen>>,
    /// Weight received per (epoch second): the exchange counts per fixed window.
    weight_per_second: Mutex<BTreeMap<i64, u32>>,
    exchange_info: String,
    script: Box<Script>,
}

struct Stub {
    addr: SocketAddr,
    state: Arc<StubState>,
}

fn now_ms() -> EpochMillis {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// exchangeInfo with the given rate limits instead of the published ones.
fn exchange_info_with_limits(limits: serde_json::Value) -> String {
    let mut info: serde_json::Value = serde_json::from_str(&fixture("exchange_info.json")).unwrap();
    info["rateLimits"] = limits;
    info.to_string()
}

async fn handle(
    State(state): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = Seen {
        at: Instant::now(),
        at_ms: now_ms(),
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        body,
        headers,
    };
    let second = seen.at_ms.div_euclid(1000);
    let used = {
        let mut windows = state.weight_per_second.lock().unwrap();
        let w = windows.entry(second).or_default();
        *w += seen.weight();
        *w
    };
    let earlier = {
        let mut all = state.seen.lock().unwrap();
        let earlier = all.clone();
        all.push(seen.clone());
        earlier
    };
    let reply = (state.script)(&seen, &earlier).unwrap_or_else(|| {
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", "/api/v3/exchangeInfo") => Reply::ok(state.exchange_info.clone()),
            ("GET", "/api/v3/time") => Reply::ok(format!(r#"{{"serverTime":{}}}"#, now_ms())),
            ("GET", "/api/v3/depth") => Reply::ok(fixture("depth.json")),
            ("GET", "/api/v3/order") => Reply::ok(fixture("order_query.json")),
            ("POST", "/api/v3/order") => Reply::ok(fixture("order_full.json")),
            _ => Reply::error(404, -1000, "no such endpoint in the stub"),
        }
    });
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    for name in ["x-mbx-used-weight-1s", "x-mbx-used-weight-1m"] {
        // The script may speak for other processes sharing the IP.
        if !reply.headers.iter().any(|(n, _)| *n == name) {
            response = response.header(name, used.to_string());
        }
    }
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

impl Stub {
    async fn start(
        exchange_info: String,
        script: impl Fn(&Seen, &[Seen]) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        let state = Arc::new(StubState {
            seen: Mutex::new(Vec::new()),
            weight_per_second: Mutex::new(BTreeMap::new()),
            exchange_info,
            script: Box::new(script),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    async fn default() -> Self {
        Self::start(fixture("exchange_info.json"), |_, _| None).await
    }

    fn config(&self) -> BinanceConfig {
        let mut config = BinanceConfig::new(
            format!("http://{}", self.addr),
            Some(ApiCredentials::new(KEY, SECRET)),
        );
        // Generous: a loaded CI machine must not turn a loopback answer into a timeout. The
        // timeout tests set their own, well under the stub's delay.
        config.client.request_timeout = Duration::from_secs(10);
        config.client.retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        config
    }

    fn client(&self) -> BinanceSpot {
        BinanceSpot::new(self.config()).unwrap()
    }

    /// A client that gives up on an answer after `timeout`.
    fn impatient_client(&self, timeout: Duration) -> BinanceSpot {
        let mut config = self.config();
        config.client.request_timeout = timeout;
        BinanceSpot::new(config).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn seen_at(&self, method: &str, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method.as_str() == method && s.path == path)
            .collect()
    }
}

fn btc() -> Symbol {
    "BTC/USDT".parse().unwrap()
}

fn order(tif: TimeInForce) -> LimitOrderRequest {
    LimitOrderRequest {
        client_order_id: ClientOrderId::parse("dl1-6gCrw2kRUAF9CvJDGP16IP").unwrap(),
        symbol: btc(),
        side: Side::Buy,
        quantity: dec!(0.00300000),
        price: Price::new(dec!(64230.00)).unwrap(),
        time_in_force: tif,
    }
}

fn is_post_order(s: &Seen) -> bool {
    s.method == Method::POST && s.path == "/api/v3/order"
}

#[tokio::test]
async fn a_placement_is_signed_over_exactly_the_bytes_sent() {
    let stub = Stub::default().await;
    let client = stub.client();

    let report = client
        .place_limit_order(&order(TimeInForce::Gtc))
        .await
        .unwrap();
    assert_eq!(report.exchange_order_id, 28.into());
    assert_eq!(report.fills.len(), 2);

    let posts = stub.seen_at("POST", "/api/v3/order");
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.headers["x-mbx-apikey"], KEY);
    assert_eq!(
        post.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(post.query.is_empty(), "everything travels in the body");
    let names: Vec<_> = post.params().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "symbol",
            "side",
            "type",
            "timeInForce",
            "quantity",
            "price",
            "newClientOrderId",
            "newOrderRespType",
            "recvWindow",
            "timestamp",
            "signature"
        ]
    );
    assert_eq!(
        post.param("symbol").unwrap(),
        "BTCUSDT",
        "mapped from exchangeInfo"
    );
    assert_eq!(post.param("type").unwrap(), "LIMIT");
    assert_eq!(post.param("timeInForce").unwrap(), "GTC");
    assert_eq!(post.param("quantity").unwrap(), "0.003");
    assert_eq!(post.param("price").unwrap(), "64230");
    assert_eq!(post.param("newOrderRespType").unwrap(), "FULL");
    assert_eq!(post.param("recvWindow").unwrap(), "5000");
    let ts: i64 = post.param("timestamp").unwrap().parse().unwrap();
    assert!((now_ms() - ts).abs() < 5_000);
    let (signed, sig) = post.body.rsplit_once("&signature=").unwrap();
    assert_eq!(sig, signature(SECRET, signed, ""));
    // The secret itself never travels.
    assert!(!post.body.contains(SECRET) && !post.query.contains(SECRET));
}

#[tokio::test]
async fn post_only_is_limit_maker_without_time_in_force_and_ioc_is_limit_ioc() {
    let stub = Stub::default().await;
    let client = stub.client();
    client
        .place_limit_order(&order(TimeInForce::PostOnly))
        .await
        .unwrap();
    client
        .place_limit_order(&order(TimeInForce::Ioc))
        .await
        .unwrap();
    let posts = stub.seen_at("POST", "/api/v3/order");
    assert_eq!(posts[0].param("type").unwrap(), "LIMIT_MAKER");
    assert_eq!(posts[0].param("timeInForce"), None);
    assert_eq!(posts[1].param("type").unwrap(), "LIMIT");
    assert_eq!(posts[1].param("timeInForce").unwrap(), "IOC");
}

#[tokio::test]
async fn reads_and_cancels_send_their_parameters_in_the_query() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("DELETE", "/api/v3/order") => Some(Reply::ok(fixture("order_cancel.json"))),
            ("GET", "/api/v3/openOrders") => {
                Some(Reply::ok(format!("[{}]", fixture("order_query.json"))))
            }
            ("GET", "/api/v3/account") => Some(Reply::ok(fixture("account.json"))),
            _ => None,
        }
    })
    .await;
    let client = stub.client();
    let id = ClientOrderId::parse("myOrder1").unwrap();

    let book = client.order_book(&btc(), 20).await.unwrap();
    assert_eq!(book.best_bid().unwrap().value(), dec!(4));
    let cancelled = client.cancel_order(&btc(), &id).await.unwrap();
    assert_eq!(cancelled.client_order_id, id);
    assert_eq!(client.order(&btc(), &id).await.unwrap().client_order_id, id);
    assert_eq!(client.open_orders(&btc()).await.unwrap().len(), 1);
    assert_eq!(client.balances().await.unwrap().len(), 3);
    let filters = client.market_filters(&btc()).await.unwrap();
    assert_eq!(filters.tick_size(), dec!(0.01));

    let depth = &stub.seen_at("GET", "/api/v3/depth")[0];
    assert_eq!(depth.query, "symbol=BTCUSDT&limit=20", "public: not signed");
    assert!(depth.headers.get("x-mbx-apikey").is_none());
    let cancel = &stub.seen_at("DELETE", "/api/v3/order")[0];
    assert!(cancel.body.is_empty());
    assert_eq!(cancel.param("origClientOrderId").unwrap(), "myOrder1");
    let (signed, sig) = cancel.query.rsplit_once("&signature=").unwrap();
    assert_eq!(sig, signature(SECRET, signed, ""));
    assert_eq!(
        stub.seen_at("GET", "/api/v3/exchangeInfo").len(),
        1,
        "exchangeInfo is read once and kept"
    );
}

#[tokio::test]
async fn symbols_map_both_ways_through_exchange_info() {
    let stub = Stub::default().await;
    let client = stub.client();
    let eth: Symbol = "ETH/BTC".parse().unwrap();
    assert_eq!(client.exchange_symbol(&btc()).await.unwrap(), "BTCUSDT");
    assert_eq!(client.exchange_symbol(&eth).await.unwrap(), "ETHBTC");
    assert_eq!(client.symbol_of("BTCUSDT").await.unwrap(), btc());
    assert_eq!(client.symbol_of("ETHBTC").await.unwrap(), eth);
    assert!(matches!(
        client.symbol_of("BTCUSD").await,
        Err(ExchangeError::Rejected { message }) if message.starts_with("-1121:")
    ));
    assert_eq!(
        stub.seen().len(),
        1,
        "one exchangeInfo answers every lookup"
    );
}

#[tokio::test]
async fn an_unknown_market_is_rejected_without_asking_for_it() {
    let stub = Stub::default().await;
    let client = stub.client();
    let doge: Symbol = "DOGE/USDT".parse().unwrap();
    let err = client.order_book(&doge, 5).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Rejected { message } if message.starts_with("-1121:")),
        "{err}"
    );
    assert!(stub.seen_at("GET", "/api/v3/depth").is_empty());
}

#[tokio::test]
async fn a_signed_call_without_credentials_fails_before_sending() {
    let stub = Stub::default().await;
    let mut config = stub.config();
    config.client.credentials = None;
    let client = BinanceSpot::new(config).unwrap();
    let err = client.balances().await.unwrap_err();
    assert!(matches!(err, ExchangeError::Auth { .. }), "{err}");
    assert!(stub.seen_at("GET", "/api/v3/account").is_empty());
}

#[tokio::test]
async fn a_key_that_cannot_be_a_header_is_rejected_without_sending_or_showing_it() {
    let stub = Stub::default().await;
    let mut config = stub.config();
    config.client.credentials = Some(ApiCredentials::new("bad\nkey-0987", SECRET));
    let client = BinanceSpot::new(config).unwrap();
    client.market_filters(&btc()).await.unwrap();
    let err = client
        .place_limit_order(&order(TimeInForce::Gtc))
        .await
        .unwrap_err();
    assert!(matches!(err, ExchangeError::Rejected { .. }), "{err}");
    assert!(!err.to_string().contains("key-0987") && !err.to_string().contains(SECRET));
    assert!(stub.seen_at("POST", "/api/v3/order").is_empty());
}

/// Places the test order expecting a failure, and checks the stub received it exactly once: a
/// placement is never resent (the exchange may have taken it).
async fn failed_placement_sent_once(stub: &Stub, client: &BinanceSpot) -> ExchangeError {
    let err = client
        .place_limit_order(&order(TimeInForce::Gtc))
        .await
        .unwrap_err();
    assert_eq!(stub.seen_at("POST", "/api/v3/order").len(), 1, "{err}");
    err
}

fn is_status_unknown(err: &ExchangeError) -> bool {
    matches!(err, ExchangeError::StatusUnknown { .. })
}

/// A placement the exchange answers with `reply` (a client giving up after `timeout`, when
/// given): the error the executor acts on, and the order sent once.
#[rstest]
#[case::a_5xx_is_status_unknown(
    Reply::status(StatusCode::SERVICE_UNAVAILABLE, ""),
    None,
    is_status_unknown
)]
#[case::a_timeout_is_status_unknown(
    Reply::ok(fixture("order_full.json")).delayed(Duration::from_secs(5)),
    Some(Duration::from_secs(1)),
    is_status_unknown
)]
#[case::a_rejection_is_not_retried(
    Reply::error(400, -2010, "Duplicate order sent."),
    None,
    |err: &ExchangeError| matches!(err, ExchangeError::Duplicate { .. })
)]
#[tokio::test]
async fn a_failed_placement_is_its_typed_error_and_never_resent(
    #[case] reply: Reply,
    #[case] timeout: Option<Duration>,
    #[case] expected: fn(&ExchangeError) -> bool,
) {
    let stub = Stub::start(fixture("exchange_info.json"), move |s, _| {
        is_post_order(s).then(|| reply.clone())
    })
    .await;
    let client = timeout.map_or_else(|| stub.client(), |t| stub.impatient_client(t));
    let err = failed_placement_sent_once(&stub, &client).await;
    assert!(expected(&err), "{err}");
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried_with_backoff() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, earlier| {
        let failures = earlier.iter().filter(|e| e.path == "/api/v3/order").count();
        (s.path == "/api/v3/order" && failures < 2)
            .then(|| Reply::status(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>"))
    })
    .await;
    let id = ClientOrderId::parse("myOrder1").unwrap();
    let report = stub.client().order(&btc(), &id).await.unwrap();
    assert_eq!(report.client_order_id, id);
    assert_eq!(stub.seen_at("GET", "/api/v3/order").len(), 3);
}

#[tokio::test]
async fn a_timeout_on_a_read_is_retried_then_reported_retryable() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        (s.path == "/api/v3/depth")
            .then(|| Reply::ok(fixture("depth.json")).delayed(Duration::from_secs(5)))
    })
    .await;
    let err = stub
        .impatient_client(Duration::from_secs(1))
        .order_book(&btc(), 5)
        .await
        .unwrap_err();
    assert!(matches!(err, ExchangeError::Retryable { .. }), "{err}");
    assert_eq!(
        stub.seen_at("GET", "/api/v3/depth").len(),
        3,
        "1 + 2 retries"
    );
}

#[tokio::test]
async fn malformed_json_is_a_typed_error() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        match s.path.as_str() {
            "/api/v3/depth" => Some(Reply::ok(r#"{"bids": [["4.0", "#)),
            "/api/v3/order" => Some(Reply::ok("<html>oops</html>")),
            _ => None,
        }
    })
    .await;
    let client = stub.client();
    let err = client.order_book(&btc(), 5).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Malformed { .. }), "{err}");
    // After a placement an unreadable success may still be a placed order: look it up.
    let err = failed_placement_sent_once(&stub, &client).await;
    assert!(is_status_unknown(&err), "{err}");
}

#[tokio::test]
async fn a_429_pauses_every_caller_for_retry_after() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, earlier| {
        let first_depth = !earlier.iter().any(|e| e.path == "/api/v3/depth");
        (s.path == "/api/v3/depth" && first_depth).then(|| {
            Reply::error(
                429,
                -1003,
                "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
            )
            .header("retry-after", "1")
        })
    })
    .await;
    let client = Arc::new(stub.client());
    client.market_filters(&btc()).await.unwrap();

    let calls = (0..5).map(|_| {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.order_book(&btc(), 5).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let depths = stub.seen_at("GET", "/api/v3/depth");
    let limited_at = depths[0].at;
    assert!(
        depths.len() >= 6,
        "the limited call and five successes: {}",
        depths.len()
    );
    for later in &depths[1..] {
        assert!(
            later.at.duration_since(limited_at) >= Duration::from_millis(950),
            "sent {:?} after a 429 that said wait 1 s",
            later.at.duration_since(limited_at)
        );
    }
}

#[tokio::test]
async fn a_placement_that_gets_429_is_returned_not_resent() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        is_post_order(s)
            .then(|| Reply::error(429, -1015, "Too many new orders.").header("retry-after", "3"))
    })
    .await;
    let client = stub.client();
    let err = failed_placement_sent_once(&stub, &client).await;
    assert_eq!(
        err,
        ExchangeError::RateLimited {
            retry_after_ms: 3_000
        }
    );
    // Too many orders holds new orders back, not reads.
    let started = Instant::now();
    client.order_book(&btc(), 5).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_418_stops_all_sending_until_the_ban_ends() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        (s.path == "/api/v3/depth").then(|| {
            Reply::error(
                418,
                -1003,
                "Way too many requests; IP banned until 1700000000000.",
            )
            .header("retry-after", "120")
        })
    })
    .await;
    let client = stub.client();
    let err = client.order_book(&btc(), 5).await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Banned {
            retry_after_ms: 120_000
        }
    );
    let sent = stub.seen().len();

    // Nothing at all is sent during the ban: not the same call, not a placement; each refusal
    // says how much of the ban is left.
    let left = |e: ExchangeError| match e {
        ExchangeError::Banned { retry_after_ms } => retry_after_ms,
        other => panic!("expected Banned, got {other}"),
    };
    assert!((110_000..=120_000).contains(&left(client.order_book(&btc(), 5).await.unwrap_err())));
    let placing = client.place_limit_order(&order(TimeInForce::Gtc)).await;
    assert!((110_000..=120_000).contains(&left(placing.unwrap_err())));
    assert_eq!(stub.seen().len(), sent);
}

/// A clock ten seconds behind the exchange's.
struct SlowClock;
impl Clock for SlowClock {
    fn now_ms(&self) -> EpochMillis {
        now_ms() - 10_000
    }
}

#[tokio::test]
async fn a_timestamp_outside_recv_window_resyncs_the_clock_and_resends_once() {
    let stub = Stub::start(fixture("exchange_info.json"), |s, _| {
        let ts: i64 = s.param("timestamp")?.parse().ok()?;
        ((now_ms() - ts).abs() > 5_000).then(|| {
            Reply::error(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            )
        })
    })
    .await;
    let client = BinanceSpot::with_clock(stub.config(), Arc::new(SlowClock)).unwrap();
    client
        .place_limit_order(&order(TimeInForce::Gtc))
        .await
        .unwrap();
    assert_eq!(stub.seen_at("POST", "/api/v3/order").len(), 2);
    assert_eq!(stub.seen_at("GET", "/api/v3/time").len(), 1);
    let offset = client.clock_offset_ms();
    assert!((9_000..=11_000).contains(&offset), "offset {offset}");
    // Later signed requests carry the corrected time straight away.
    let id = ClientOrderId::parse("myOrder1").unwrap();
    client.order(&btc(), &id).await.unwrap();
    assert_eq!(stub.seen_at("GET", "/api/v3/order").len(), 1);
    assert_eq!(stub.seen_at("GET", "/api/v3/time").len(), 1);
}

#[tokio::test]
async fn forty_concurrent_callers_never_exceed_the_weight_limit() {
    const LIMIT: u32 = 200;
    let info = exchange_info_with_limits(serde_json::json!([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": LIMIT},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
    ]));
    let stub = Stub::start(info, |_, _| None).await;
    let client = Arc::new(stub.client());

    let started = Instant::now();
    let callers: Vec<_> = (0..40)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                for _ in 0..2 {
                    client.order_book(&btc(), 100).await?;
                }
                Ok::<_, ExchangeError>(())
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();

    assert_eq!(client.rate_limits().windows()[0].limit(), LIMIT);
    let windows = stub.state.weight_per_second.lock().unwrap().clone();
    let total: u32 = windows.values().sum();
    assert_eq!(
        total,
        20 + 40 * 2 * 5,
        "exchangeInfo and 80 books of weight 5"
    );
    let busiest = windows.values().copied().max().unwrap();
    assert!(
        busiest <= LIMIT,
        "{busiest} weight in one second, limit {LIMIT}: {windows:?}"
    );
    // 420 weight at under 200 a second cannot all go out in one window.
    assert!(windows.len() >= 3, "{windows:?} in {elapsed:?}");
}

#[tokio::test]
async fn weight_used_by_others_on_the_ip_holds_sending_until_the_window_ends() {
    let info = exchange_info_with_limits(serde_json::json!([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 1000}
    ]));
    let stub = Stub::start(info, |s, earlier| {
        let first_depth = !earlier.iter().any(|e| e.path == "/api/v3/depth");
        (s.path == "/api/v3/depth" && first_depth)
            .then(|| Reply::ok(fixture("depth.json")).header("x-mbx-used-weight-1s", "995"))
    })
    .await;
    let client = stub.client();
    client.order_book(&btc(), 5).await.unwrap();
    client.order_book(&btc(), 5).await.unwrap();
    let depths = stub.seen_at("GET", "/api/v3/depth");
    assert!(
        depths[1].at_ms.div_euclid(1000) > depths[0].at_ms.div_euclid(1000),
        "the exchange said 995 of 1000 used: the next request waits for the next window"
    );
}

#[tokio::test]
async fn concurrent_placements_never_exceed_the_order_count_limit() {
    const ORDERS_PER_SECOND: usize = 8;
    let info = exchange_info_with_limits(serde_json::json!([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": ORDERS_PER_SECOND}
    ]));
    let stub = Stub::start(info, |_, _| None).await;
    let client = Arc::new(stub.client());
    client.market_filters(&btc()).await.unwrap();
    let placements: Vec<_> = (0..16)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.place_limit_order(&order(TimeInForce::Gtc)).await })
        })
        .collect();
    for p in placements {
        p.await.unwrap().unwrap();
    }
    let posts = stub.seen_at("POST", "/api/v3/order");
    assert_eq!(posts.len(), 16);
    // In every span of one second, at most the limit of new orders arrived.
    for (i, first) in posts.iter().enumerate() {
        let within = posts[i..]
            .iter()
            .filter(|p| p.at.duration_since(first.at) < Duration::from_secs(1))
            .count();
        assert!(within <= ORDERS_PER_SECOND, "{within} orders within 1 s");
    }
}
