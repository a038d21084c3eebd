//! The HTTP face of the venue: one venue dialect per listener (the config's `dialect`), and
//! `/admin` for tests and operators (unsigned, loopback only), the same for every dialect.
//! Thin: parse, authenticate, meter, inject faults, call the [`Engine`], shape the JSON. This
//! module holds the shared state and starts the server; `gate` holds the steps every dialect's
//! request goes through; `binance`, `kraken` and `coinbase` each serve one dialect; `admin`
//! serves `/admin`.

mod admin;
mod binance;
mod calendar;
mod coinbase;
mod gate;
mod kraken;
mod request;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::any;
use axum::Router;
use driftline_core::ports::Clock;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::SystemClock;
use crate::config::{ConfigError, Dialect, ExchangeConfig};
use crate::engine::Engine;
use crate::faults::Faults;
use crate::rate_limit::WeightLimiter;

struct Venue {
    engine: Engine,
    limiter: WeightLimiter,
    faults: Faults,
    dice: ChaCha8Rng,
    requests: Vec<Value>,
}

/// The request log keeps the latest this many `/api/v3` requests.
const REQUEST_LOG_CAPACITY: usize = 200_000;

/// Shared state of one running exchange.
pub struct AppState {
    config: ExchangeConfig,
    clock: Arc<dyn Clock>,
    venue: Mutex<Venue>,
}

impl AppState {
    /// # Errors
    /// [`ConfigError`] when the config's markets are invalid.
    pub fn new(config: ExchangeConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let venue = Self::fresh_venue(&config)?;
        Ok(Self {
            config,
            clock,
            venue: Mutex::new(venue),
        })
    }

    fn fresh_venue(config: &ExchangeConfig) -> Result<Venue, ConfigError> {
        Ok(Venue {
            engine: Engine::new(config)?,
            limiter: WeightLimiter::new(
                config.rate_limits.request_weight_per_minute,
                config.rate_limits.ban_seconds,
            ),
            faults: config.faults.clone(),
            dice: ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(1)),
            requests: Vec::new(),
        })
    }

    /// Runs `f` on the engine (for tests that look inside).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.venue().engine)
    }

    fn venue(&self) -> MutexGuard<'_, Venue> {
        // A panic while holding the lock cannot leave the engine half-updated in a way that
        // matters more than refusing every later request would.
        self.venue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The router of a venue: its dialect's public API and `/admin/...`.
pub fn router(state: Arc<AppState>) -> Router {
    let api = match state.config.dialect {
        Dialect::Binance => Router::new()
            .route("/api/v3/{*endpoint}", any(binance::api))
            .route("/api/v1/{*endpoint}", any(binance::api_v1)),
        Dialect::Kraken => kraken::routes(),
        Dialect::Coinbase => coinbase::routes(),
    };
    api.nest("/admin", admin::routes()).with_state(state)
}

/// A running exchange on a TCP port.
pub struct PaperExchange {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

/// Why the exchange could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl PaperExchange {
    /// Starts on `addr` (port 0: an ephemeral port) with the system clock.
    ///
    /// # Errors
    /// [`StartError`] for a bad config or an address that cannot be bound.
    pub async fn start(config: ExchangeConfig, addr: SocketAddr) -> Result<Self, StartError> {
        Self::start_with_clock(config, addr, Arc::new(SystemClock)).await
    }

    /// Starts with a given clock (tests use a manual one).
    ///
    /// # Errors
    /// As [`PaperExchange::start`].
    pub async fn start_with_clock(
        config: ExchangeConfig,
        addr: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let tick = config.tick_interval_ms;
        let state = Arc::new(AppState::new(config, clock)?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let ticker = tick.filter(|ms| *ms > 0).map(|ms| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(ms));
                interval.tick().await;
                loop {
                    interval.tick().await;
                    let now = state.clock.now_ms();
                    state.venue().engine.advance(now);
                }
            })
        });
        Ok(Self {
            addr,
            state,
            shutdown: Some(tx),
            server,
            ticker,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dialect this listener speaks.
    pub fn dialect(&self) -> Dialect {
        self.state.config.dialect
    }

    /// `http://127.0.0.1:<port>`: what a client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` on the engine (for tests that look inside).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        self.state.with_engine(f)
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }

    /// Serves until the process is stopped.
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}
