//! Builds the adapters once per container and hands them to core's services.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use driftline_aws::{metrics::EmfMetrics, CredentialsCache, DynamoStore, SqsIntentQueue};
use driftline_core::ledger::RetryBackoff;
use driftline_core::ports::{Clock, RandomSource};
use driftline_core::service::executor::{Executor, ExecutorPorts, ExecutorSettings};
use driftline_core::service::scheduler::{Scheduler, SchedulerPorts, SchedulerSettings};
use driftline_core::EpochMillis;
use driftline_exchange::{BinanceConfig, BinanceSpot};
use thiserror::Error;

use crate::config::{CommonConfig, ExecutorConfig, SchedulerConfig};

#[derive(Debug, Error)]
pub enum WiringError {
    #[error("exchange credentials: {0}")]
    Secret(#[from] driftline_aws::SecretError),
    #[error("exchange client: {0}")]
    Exchange(#[from] driftline_exchange::ConfigError),
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> EpochMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Retry jitter from a fast, non-cryptographic generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct Jitter;

impl RandomSource for Jitter {
    fn next_u64(&self) -> u64 {
        fastrand::u64(..)
    }
}

/// The adapters both functions use.
pub struct Adapters {
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsIntentQueue>,
    pub sqs: aws_sdk_sqs::Client,
    pub exchange: Arc<BinanceSpot>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<EmfMetrics<std::io::Stdout>>,
}

/// Reads the exchange credentials and builds the clients.
///
/// # Errors
/// [`WiringError`] when the secret cannot be read or the exchange client cannot be built.
pub async fn adapters(
    config: &CommonConfig,
    backoff: RetryBackoff,
) -> Result<Adapters, WiringError> {
    let sdk = driftline_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let secrets = CredentialsCache::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        Duration::from_secs(300),
    );
    let credentials = secrets.get(&config.exchange_secret_id).await?;
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let exchange = BinanceSpot::new(BinanceConfig::new(
        config.exchange_base_url.clone(),
        Some(credentials),
    ))?;
    Ok(Adapters {
        store: Arc::new(DynamoStore::new(dynamodb, config.table_name.clone())),
        queue: Arc::new(
            SqsIntentQueue::new(sqs.clone(), config.intents_queue_url.clone())
                .with_backoff(backoff),
        ),
        sqs,
        exchange: Arc::new(exchange),
        metrics: Arc::new(EmfMetrics::stdout(
            config.metrics_namespace.clone(),
            clock.clone(),
        )),
        clock,
    })
}

pub fn scheduler(a: &Adapters, config: &SchedulerConfig) -> Scheduler {
    Scheduler::new(
        SchedulerPorts {
            configs: a.store.clone(),
            exchange: a.exchange.clone(),
            ledger: a.store.clone(),
            leases: a.store.clone(),
            history: a.store.clone(),
            filters: a.store.clone(),
            queue: a.queue.clone(),
            clock: a.clock.clone(),
            metrics: a.metrics.clone(),
        },
        SchedulerSettings {
            concurrency: config.portfolio_concurrency,
            // A cycle that outlives one schedule period must not block the next forever.
            lease_ttl_ms: i64::from(config.schedule_period_seconds) * 1000,
            stale_pending_ms: 2 * i64::from(config.schedule_period_seconds) * 1000,
            ..SchedulerSettings::default()
        },
    )
}

pub fn executor_backoff(config: &ExecutorConfig) -> RetryBackoff {
    RetryBackoff {
        cap_secs: config.max_retry_delay_seconds,
        ..RetryBackoff::default()
    }
}

pub fn executor(a: &Adapters, config: &ExecutorConfig) -> Executor {
    Executor::new(
        ExecutorPorts {
            exchange: a.exchange.clone(),
            ledger: a.store.clone(),
            filters: a.store.clone(),
            breakers: a.store.clone(),
            queue: a.queue.clone(),
            clock: a.clock.clone(),
            random: Arc::new(Jitter),
            metrics: a.metrics.clone(),
        },
        ExecutorSettings {
            backoff: executor_backoff(config),
            follow_up_delay_secs: config.follow_up_delay_seconds,
            ..ExecutorSettings::default()
        },
    )
}
