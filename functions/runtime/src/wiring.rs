//! Builds the adapters once per container and hands them to core's services: the store, the
//! queue, the dead-letter queue, the exchange accounts, metrics, and the notifier (SNS when a
//! topic is configured). The same [`Adapters`] wire the sandbox's functions.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use driftline_aws::{
    metrics::EmfMetrics, AccountSecrets, AwsClients, DynamoStore, SnsNotifier, SqsDeadLetters,
    SqsIntentQueue, SqsShardQueue,
};
use driftline_core::ports::{
    Clock, DeadLetters, Exchange, ExchangeAccounts, ExchangeError, Layered, Notifier, Ports,
    RandomSource, RetryBackoff, ShardQueue, Silent, StorePorts, Venue,
};
use driftline_core::service::executor::{Executor, ExecutorSettings};
use driftline_core::service::scheduler::{Scheduler, SchedulerSettings};
use driftline_core::service::warm::WarmFilters;
use driftline_core::{AccountSecret, EpochMillis};
use driftline_exchange::{
    BinanceConfig, BinanceSpot, CoinbaseAdvanced, CoinbaseConfig, KrakenConfig, KrakenSpot,
    VenueShares,
};
use thiserror::Error;

use crate::config::CommonConfig;
use crate::rekey::{AccountKeys, RekeyingExchange};

#[derive(Debug, Error)]
pub enum WiringError {
    #[error("exchange client: {0}")]
    Exchange(#[from] driftline_exchange::ConfigError),
}

/// Wraps each exchange client an account gets (the sandbox counts calls with it).
pub type WrapClient = Arc<dyn Fn(Arc<dyn Exchange>) -> Arc<dyn Exchange> + Send + Sync>;

/// Exchange clients per account, built on first use from the account's secret and kept for
/// the container's life. An account is the id of its secret; `None` is the default account.
/// The secret names the account's venue (Binance when it does not), and the client is that
/// venue's adapter. The clients of one venue at one base URL share that address's per-IP
/// budget (Binance's request weight, Kraken's and Coinbase's public calls) and read the venue's
/// markets once per TTL between them ([`VenueShares`]); each keeps its account's own limits.
/// Each client is a [`RekeyingExchange`]: after the exchange refuses the keys,
/// the secret is read again and, if it changed, the client is rebuilt with it (see
/// [`crate::rekey`]).
pub struct SecretAccounts {
    factory: Arc<ClientFactory>,
    default_secret_id: String,
    clients: tokio::sync::Mutex<std::collections::HashMap<String, Arc<Layered<RekeyingExchange>>>>,
}

/// What every account's client is built from besides its secret: per venue, the settings its
/// clients share (the base URL a secret that names none uses, timeouts, retries).
#[derive(Clone)]
pub struct ClientSettings {
    pub binance: BinanceConfig,
    pub kraken: KrakenConfig,
    pub coinbase: CoinbaseConfig,
}

/// A venue's client for one account: the venue's settings with the account's base URL (when
/// its secret names one) and credentials, or without credentials to check the settings.
macro_rules! venue_client {
    ($client:ty, $settings:expr, $secret:expr, $clock:expr, $shares:expr) => {{
        let mut config = $settings.clone();
        config.client.credentials = None;
        if let Some(secret) = $secret {
            let secret: &AccountSecret = secret;
            if let Some(url) = &secret.base_url {
                config.client.base_url.clone_from(url);
            }
            config.client.credentials = Some(secret.credentials.clone());
        }
        Arc::new(<$client>::sharing(config, $clock.clone(), $shares)?) as Arc<dyn Exchange>
    }};
}

impl ClientSettings {
    /// The venues' production settings, with Binance at `binance_base_url` (the deployment's
    /// `DRIFTLINE_EXCHANGE_BASE_URL`).
    pub fn new(binance_base_url: impl Into<String>) -> Self {
        Self {
            binance: BinanceConfig::new(binance_base_url, None),
            kraken: KrakenConfig::new(KrakenConfig::PRODUCTION_URL, None),
            coinbase: CoinbaseConfig::new(CoinbaseConfig::PRODUCTION_URL, None),
        }
    }

    /// A client of the account whose secret is `secret`, sharing its address's budget and
    /// markets through `shares`.
    fn client(
        &self,
        secret: &AccountSecret,
        clock: &Arc<dyn Clock>,
        shares: &VenueShares,
    ) -> Result<Arc<dyn Exchange>, WiringError> {
        let s = Some(secret);
        Ok(match secret.venue {
            Venue::Binance => venue_client!(BinanceSpot, self.binance, s, clock, shares),
            Venue::Kraken => venue_client!(KrakenSpot, self.kraken, s, clock, shares),
            Venue::Coinbase => venue_client!(CoinbaseAdvanced, self.coinbase, s, clock, shares),
        })
    }

    /// Checks the deployment's Binance settings (its configured base URL) once, without
    /// credentials, before any order. Kraken's and Coinbase's defaults are the venues' own
    /// URLs; a secret's own base URL is checked when its account's client is built.
    fn validate(&self, clock: &Arc<dyn Clock>) -> Result<(), WiringError> {
        let none: Option<&AccountSecret> = None;
        venue_client!(BinanceSpot, self.binance, none, clock, &VenueShares::new());
        Ok(())
    }
}

/// Builds an account's client from its secret.
struct ClientFactory {
    secrets: AccountSecrets,
    settings: ClientSettings,
    /// One per-address budget and market cache per venue and base URL, for every account.
    shares: VenueShares,
    clock: Arc<dyn Clock>,
    wrap: Option<WrapClient>,
}

impl ClientFactory {
    async fn secret(&self, account: &str) -> Result<AccountSecret, ExchangeError> {
        self.secrets
            .get(account)
            .await
            .map_err(|e| auth(format!("secret of account {account}: {e}")))
    }
}

fn auth(message: String) -> ExchangeError {
    ExchangeError::Auth { message }
}

#[async_trait::async_trait]
impl AccountKeys for ClientFactory {
    async fn reread(&self, account: &str) -> Result<AccountSecret, ExchangeError> {
        self.secrets.invalidate(account).await;
        self.secret(account).await
    }

    fn client(
        &self,
        account: &str,
        secret: AccountSecret,
    ) -> Result<Arc<dyn Exchange>, ExchangeError> {
        let client = self
            .settings
            .client(&secret, &self.clock, &self.shares)
            .map_err(|e| auth(format!("exchange client of account {account}: {e}")))?;
        Ok(match &self.wrap {
            Some(wrap) => wrap(client),
            None => client,
        })
    }
}

impl SecretAccounts {
    /// Clients with the venues' default settings, Binance at `binance_base_url`.
    ///
    /// # Errors
    /// [`WiringError::Exchange`] when the base URL is not usable (checked before any order).
    pub fn new(
        secrets: AccountSecrets,
        default_secret_id: String,
        binance_base_url: String,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WiringError> {
        Self::with_settings(
            secrets,
            default_secret_id,
            ClientSettings::new(binance_base_url),
            clock,
            None,
        )
    }

    /// Clients built from `settings` (their credentials are ignored: each account's come from
    /// its secret), each wrapped by `wrap` when given.
    ///
    /// # Errors
    /// [`WiringError::Exchange`] when the settings are not usable (checked before any order).
    pub fn with_settings(
        secrets: AccountSecrets,
        default_secret_id: String,
        settings: ClientSettings,
        clock: Arc<dyn Clock>,
        wrap: Option<WrapClient>,
    ) -> Result<Self, WiringError> {
        settings.validate(&clock)?;
        Ok(Self {
            factory: Arc::new(ClientFactory {
                secrets,
                settings,
                shares: VenueShares::new(),
                clock,
                wrap,
            }),
            default_secret_id,
            clients: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }
}

#[async_trait::async_trait]
impl ExchangeAccounts for SecretAccounts {
    async fn exchange(&self, account: Option<&str>) -> Result<Arc<dyn Exchange>, ExchangeError> {
        let id = account.unwrap_or(&self.default_secret_id).to_owned();
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(&id) {
            return Ok(client.clone());
        }
        let secret = self.factory.secret(&id).await?;
        let client = self.factory.client(&id, secret.clone())?;
        let keys: Arc<dyn AccountKeys> = self.factory.clone();
        let client = Arc::new(Layered(RekeyingExchange::new(
            id.clone(),
            secret,
            client,
            keys,
        )));
        clients.insert(id, client.clone());
        Ok(client)
    }
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

/// Everything the two functions are wired from: core's ports, where the executor's handler
/// sends unreadable messages, and where the scheduler sends its shards (when it fans out).
/// [`adapters`] builds them on AWS once per container; the sandbox builds the same struct over
/// the emulator with its own clock, metrics and counted clients, and [`scheduler`] and
/// [`executor`] wire both the same way.
#[derive(Clone)]
pub struct Adapters {
    pub ports: Ports,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub shards: Option<Arc<dyn ShardQueue>>,
}

/// Builds the adapters on AWS. Exchange credentials are read per account on first use.
///
/// # Errors
/// [`WiringError`] when the exchange settings are unusable.
pub async fn adapters(
    config: &CommonConfig,
    backoff: RetryBackoff,
    dead_letter_queue_url: Option<String>,
    shard_queue_url: Option<String>,
) -> Result<Adapters, WiringError> {
    let aws = AwsClients::from_env().await;
    let secrets = AccountSecrets::new(aws.secrets.clone(), Duration::from_secs(300));
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let exchanges = SecretAccounts::new(
        secrets,
        config.exchange_secret_id.clone(),
        config.exchange_base_url.clone(),
        clock.clone(),
    )?;
    let notifier: Arc<dyn Notifier> = match &config.notifications_topic_arn {
        Some(topic) => Arc::new(SnsNotifier::new(aws.sns.clone(), topic.clone())),
        None => Arc::new(Silent),
    };
    let sqs = aws.sqs.clone();
    Ok(Adapters {
        ports: Ports {
            store: StorePorts::on(Arc::new(DynamoStore::new(
                aws.dynamodb,
                config.table_name.clone(),
            ))),
            queue: Arc::new(
                SqsIntentQueue::new(aws.sqs, config.intents_queue_url.clone())
                    .with_backoff(backoff),
            ),
            exchanges: Arc::new(exchanges),
            metrics: Arc::new(EmfMetrics::stdout(
                config.metrics_namespace.clone(),
                clock.clone(),
            )),
            random: Arc::new(Jitter),
            notifier,
            clock,
        },
        shards: shard_queue_url
            .map(|url| Arc::new(SqsShardQueue::new(sqs.clone(), url)) as Arc<dyn ShardQueue>),
        dead_letters: Arc::new(SqsDeadLetters::new(sqs, dead_letter_queue_url)),
    })
}

/// The scheduler on `a`, its market filters kept warm in the container in front of the store,
/// fanning out to `a`'s shard queue when it has one.
pub fn scheduler(a: &Adapters, settings: SchedulerSettings) -> Scheduler {
    Scheduler::new(warm(&a.ports), settings).with_shards(a.shards.clone())
}

/// The executor on `a`, its market filters kept warm in the container in front of the store.
pub fn executor(a: &Adapters, settings: ExecutorSettings) -> Executor {
    Executor::new(warm(&a.ports), settings)
}

/// `ports` with their market filters behind a container-lifetime cache (each service its own).
fn warm(ports: &Ports) -> Ports {
    let mut ports = ports.clone();
    ports.store.filters = Arc::new(WarmFilters::new(
        ports.store.filters,
        WarmFilters::LIFETIME_MS,
    ));
    ports
}
