//! Starting a world: the emulator's table, queues and secrets, the paper exchange, and the
//! services wired as the Lambdas wire theirs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use driftline_aws::metrics::EmfMetrics;
use driftline_aws::{
    create_queue_with_dlq, create_table, AccountSecrets, DynamoStore, SqsDeadLetters,
    SqsIntentQueue, SqsShardQueue,
};
use driftline_core::config::PortfolioSpec;
use driftline_core::notify::Notice;
use driftline_core::ports::{
    Clock, Exchange, ExchangeAccounts, Layered, Notifier, Ports, ShardQueue, StorePorts,
};
use driftline_core::service::executor::ExecutorSettings;
use driftline_core::service::scheduler::{FanOut, SchedulerSettings};
use driftline_core::service::FollowUp;
use driftline_core::testing::RecordedNotices;

use crate::accounting::{AwsCalls, CountingExchange, Tally, WholeResponses};
use crate::placements::Placements;
use driftline_exchange::{LimitKind, RateLimitWindow, RateLimits, RetryPolicy};
use driftline_functions::wiring::{self, Adapters, ClientSettings, SecretAccounts, WrapClient};
use paper_exchange::clock::ManualClock;
use paper_exchange::config::Dialect;
use paper_exchange::{ExchangeConfig, PaperExchange};
use serde_json::json;

async fn stop_all(venues: impl IntoIterator<Item = PaperExchange>) {
    for venue in venues {
        venue.stop().await;
    }
}

/// An account's secret as an operator stores it: the venue the paper exchange speaks, where it
/// listens, and the keys.
pub(crate) fn account_secret(venue: &PaperExchange, api_key: &str, secret: &str) -> String {
    let speaks: driftline_core::ports::Venue = venue.dialect().into();
    json!({"venue": speaks.as_str(), "base_url": venue.base_url(), "api_key": api_key, "api_secret": secret})
        .to_string()
}

/// Keeps every notice and passes it on.
struct Kept {
    kept: Arc<RecordedNotices>,
    also: Option<Arc<dyn Notifier>>,
}

#[async_trait::async_trait]
impl Notifier for Kept {
    async fn notify(&self, notice: &Notice) {
        self.kept.notify(notice).await;
        if let Some(also) = &self.also {
            also.notify(notice).await;
        }
    }
}

/// A world's AWS clients and the counters they report to.
struct Clients {
    /// Uncounted: the event source mapping stand-in's receives and deletes.
    sqs: aws_sdk_sqs::Client,
    /// The handlers' SQS client, counted.
    counted_sqs: aws_sdk_sqs::Client,
    secrets: aws_sdk_secretsmanager::Client,
    aws_calls: AwsCalls,
    exchange_calls: Tally,
    /// Told every notice besides the world's own record of them.
    notifier: Option<Arc<dyn Notifier>>,
    /// The executor's follow-up delay.
    follow_up_delay_secs: u32,
    /// The scheduler's shard queue and its dead-letter queue.
    shard_queues: driftline_aws::LocalQueues,
}

/// The emulator's SDK configuration, or `None` (test skipped, loudly) outside `make test`.
/// Under `make test` (`DRIFTLINE_REQUIRE_AWS_EMULATOR` set) a missing emulator fails.
pub async fn emulator() -> Option<aws_config::SdkConfig> {
    match emulator_config().await {
        Ok(sdk) => Some(sdk),
        Err(SandboxError::NoEmulator)
            if std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_none() =>
        {
            eprintln!("SKIPPED: no AWS emulator (run through `make test` or scripts/with-moto.sh)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The SDK configuration for the emulator at `AWS_ENDPOINT_URL`, which must be on loopback.
///
/// # Errors
/// [`SandboxError::NoEmulator`] when the variable is not set, [`SandboxError::NotLoopback`]
/// when it points anywhere but this machine.
pub async fn emulator_config() -> Result<aws_config::SdkConfig, SandboxError> {
    let url = std::env::var("AWS_ENDPOINT_URL").map_err(|_| SandboxError::NoEmulator)?;
    if !(url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
        return Err(SandboxError::NotLoopback(url));
    }
    Ok(driftline_aws::sdk_config().await)
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

use crate::{
    article_spec, Captured, Counter, SandboxError, Wired, World, ARTICLE_VENUE, BACKOFF,
    FOLLOW_UP_DELAY_SECS, PERIOD_SECONDS, T0, VISIBILITY_TIMEOUT_SECS,
};

impl World {
    /// Starts a world with the article's venue and portfolio.
    pub async fn article() -> Option<Self> {
        Self::start(ARTICLE_VENUE, &[article_spec()]).await
    }

    /// The article's world with its venue speaking `dialect` (the same markets, balances and
    /// fees; the account's keys in that venue's form).
    pub async fn article_on(dialect: Dialect) -> Option<Self> {
        let config = ExchangeConfig::parse(ARTICLE_VENUE)
            .and_then(|c| paper_exchange::venues::in_dialect(c, dialect))
            .unwrap_or_else(|e| panic!("the article's venue in {dialect:?}: {e}"));
        Self::started(Ok(config), &[article_spec()], None).await
    }

    /// For tests: `None` (skipped) without an emulator; panics when set-up fails.
    pub async fn start(venue_toml: &str, portfolios: &[PortfolioSpec]) -> Option<Self> {
        Self::started(ExchangeConfig::parse(venue_toml), portfolios, None).await
    }

    /// For tests: a world over several venues, each written as TOML and run in its dialect
    /// (see [`Self::launch_venues`]); `None` (skipped) without an emulator; panics when set-up
    /// fails.
    pub async fn start_venues(
        venues: &[(Dialect, &str)],
        portfolios: &[PortfolioSpec],
    ) -> Option<Self> {
        let sdk = emulator().await?;
        let configs = venues
            .iter()
            .map(|(dialect, toml)| {
                ExchangeConfig::parse(toml)
                    .and_then(|c| paper_exchange::venues::in_dialect(c, *dialect))
                    .unwrap_or_else(|e| panic!("venue in {dialect:?}: {e}"))
            })
            .collect();
        match Self::launch_venues(&sdk, configs, portfolios, None).await {
            Ok(world) => Some(world),
            Err(e) => panic!("the world does not start: {e}"),
        }
    }

    /// As [`Self::start`], the services also telling `notifier` every notice.
    pub async fn start_notifying(
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
        notifier: Arc<dyn Notifier>,
    ) -> Option<Self> {
        Self::started(
            ExchangeConfig::parse(venue_toml),
            portfolios,
            Some(notifier),
        )
        .await
    }

    pub(crate) async fn started(
        venue: Result<ExchangeConfig, paper_exchange::config::ConfigError>,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Option<Self> {
        let sdk = emulator().await?;
        let launched = match venue {
            Ok(config) => Self::launch_config(&sdk, config, portfolios, notifier).await,
            Err(e) => Err(e.into()),
        };
        match launched {
            Ok(world) => Some(world),
            Err(e) => panic!("the world does not start: {e}"),
        }
    }

    /// Creates the table, the queues and one secret per venue account on the emulator, starts
    /// the paper exchange on a free loopback port, stores the portfolios and wires the services.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch(
        sdk: &aws_config::SdkConfig,
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
    ) -> Result<Self, SandboxError> {
        Self::launch_notifying(sdk, venue_toml, portfolios, None).await
    }

    /// As [`Self::launch`], the services also telling `notifier` (when given) every notice.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch_notifying(
        sdk: &aws_config::SdkConfig,
        venue_toml: &str,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Result<Self, SandboxError> {
        let config = ExchangeConfig::parse(venue_toml)?;
        Self::launch_config(sdk, config, portfolios, notifier).await
    }

    /// As [`Self::launch_notifying`], from a parsed venue.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch_config(
        sdk: &aws_config::SdkConfig,
        config: ExchangeConfig,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Result<Self, SandboxError> {
        Self::launch_venues(sdk, vec![config], portfolios, notifier).await
    }

    /// As [`Self::launch_notifying`], with several venues (the first is [`World::venue`]), each
    /// started on its own port; every account name must be unique across them, and a portfolio
    /// without an account trades on the first venue's first account.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch_venues(
        sdk: &aws_config::SdkConfig,
        configs: Vec<ExchangeConfig>,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
    ) -> Result<Self, SandboxError> {
        Self::launch_venues_following(sdk, configs, portfolios, notifier, FOLLOW_UP_DELAY_SECS)
            .await
    }

    /// For tests: a world on one parsed venue whose executor looks at a resting order again
    /// `follow_up_delay_secs` after each look (the sandbox's 1 s unless told otherwise; 0 lets
    /// [`World::settle_executor`] run the executor to rest at one instant of the manual clock);
    /// `None` (skipped) without an emulator; panics when set-up fails.
    pub async fn start_following(
        venue: ExchangeConfig,
        portfolios: &[PortfolioSpec],
        follow_up_delay_secs: u32,
    ) -> Option<Self> {
        let sdk = emulator().await?;
        match Self::launch_venues_following(
            &sdk,
            vec![venue],
            portfolios,
            None,
            follow_up_delay_secs,
        )
        .await
        {
            Ok(world) => Some(world),
            Err(e) => panic!("the world does not start: {e}"),
        }
    }

    /// As [`Self::launch_venues`], the executor's follow-ups (and a funded buy's looks at its
    /// sells) `follow_up_delay_secs` apart.
    ///
    /// # Errors
    /// [`SandboxError`] naming the resource that could not be created.
    pub async fn launch_venues_following(
        sdk: &aws_config::SdkConfig,
        configs: Vec<ExchangeConfig>,
        portfolios: &[PortfolioSpec],
        notifier: Option<Arc<dyn Notifier>>,
        follow_up_delay_secs: u32,
    ) -> Result<Self, SandboxError> {
        let clock = Arc::new(ManualClock::new(T0));
        let mut names = std::collections::BTreeSet::new();
        for account in configs.iter().flat_map(|c| &c.accounts) {
            if !names.insert(account.name.clone()) {
                return Err(SandboxError::AccountOnTwoVenues(account.name.clone()));
            }
        }

        // The handlers' DynamoDB and SQS clients count their calls (docs/BENCHMARKS.md); the
        // event source mapping stand-in uses the uncounted `sqs`.
        let aws_calls = AwsCalls::default();
        // Their responses are read whole before the SDK parses them, so the time an attempt
        // waits (accounting::measure) ends with its last byte.
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(aws_calls.clone());
        let mut counted_sqs =
            aws_sdk_sqs::config::Builder::from(sdk).interceptor(aws_calls.clone());
        if let Some(http) = sdk.http_client() {
            dynamodb = dynamodb.http_client(WholeResponses(http.clone()));
            counted_sqs = counted_sqs.http_client(WholeResponses(http));
        }
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
        let counted_sqs = aws_sdk_sqs::Client::from_conf(counted_sqs.build());
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let table = unique("driftline");
        create_table(&dynamodb, &table).await?;
        let queues =
            create_queue_with_dlq(&sqs, &unique("intents"), 10, VISIBILITY_TIMEOUT_SECS).await?;
        // The scheduler's shard queue, three receives before its dead-letter queue, as deployed.
        let shard_queues =
            create_queue_with_dlq(&sqs, &unique("shards"), 3, VISIBILITY_TIMEOUT_SECS).await?;
        let store = Arc::new(DynamoStore::new(dynamodb, table));
        let mut venues = Vec::with_capacity(configs.len());
        for config in configs {
            let accounts = config.accounts.clone();
            let started =
                PaperExchange::start_with_clock(config, ([127, 0, 0, 1], 0).into(), clock.clone())
                    .await;
            match started {
                Ok(venue) => venues.push((venue, accounts)),
                Err(e) => {
                    stop_all(venues.into_iter().map(|(v, _)| v)).await;
                    return Err(e.into());
                }
            }
        }
        // From here on the venues run: stop them on any error.
        let secret_ids = match Self::store_accounts(&secrets, &store, &venues, portfolios).await {
            Ok(ids) => ids,
            Err(e) => {
                stop_all(venues.into_iter().map(|(v, _)| v)).await;
                return Err(e);
            }
        };
        let mut venues = venues.into_iter().map(|(v, _)| v);
        let Some(venue) = venues.next() else {
            return Err(SandboxError::NoAccount);
        };
        let more_venues: Vec<PaperExchange> = venues.collect();
        let clients = Clients {
            sqs,
            counted_sqs,
            secrets,
            aws_calls,
            exchange_calls: Tally::default(),
            notifier,
            follow_up_delay_secs,
            shard_queues,
        };
        match Self::wire(venue, clock, store, clients, queues, secret_ids).await {
            Ok(mut world) => {
                world.more_venues = more_venues;
                Ok(world)
            }
            Err((venue, e)) => {
                stop_all(std::iter::once(venue).chain(more_venues)).await;
                Err(e)
            }
        }
    }

    /// One secret per venue account (naming the venue and where it listens), and the
    /// portfolios, each naming its accounts (`account`, or each of `accounts`) by their secrets' ids;
    /// the secret ids by account name.
    async fn store_accounts(
        secrets: &aws_sdk_secretsmanager::Client,
        store: &DynamoStore,
        venues: &[(PaperExchange, Vec<paper_exchange::config::AccountConfig>)],
        portfolios: &[PortfolioSpec],
    ) -> Result<Vec<(String, String)>, SandboxError> {
        let mut secret_ids = Vec::new();
        for (venue, account) in venues
            .iter()
            .flat_map(|(venue, accounts)| accounts.iter().map(move |a| (venue, a)))
        {
            let name = unique(&format!("driftline/exchange/{}", account.name));
            let value = account_secret(venue, &account.api_key, &account.secret);
            secrets
                .create_secret()
                .name(&name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| SandboxError::Secret {
                    name: name.clone(),
                    reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })?;
            secret_ids.push((account.name.clone(), name));
        }
        // A portfolio names venue accounts; the deployment knows each by its secret's id.
        let secret_id = |name: &Option<String>| -> Result<Option<String>, SandboxError> {
            name.as_ref()
                .map(|name| {
                    secret_ids
                        .iter()
                        .find(|(account, _)| account == name)
                        .map(|(_, id)| id.clone())
                        .ok_or_else(|| SandboxError::UnknownAccount(name.clone()))
                })
                .transpose()
        };
        for spec in portfolios {
            let mut stored = spec.clone();
            stored.account = secret_id(&spec.account)?;
            for account in &mut stored.accounts {
                account.account = secret_id(&account.account)?;
            }
            store.put_portfolio(&stored).await?;
        }
        Ok(secret_ids)
    }

    async fn wire(
        venue: PaperExchange,
        clock: Arc<ManualClock>,
        store: Arc<DynamoStore>,
        clients: Clients,
        queues: driftline_aws::LocalQueues,
        secret_ids: Vec<(String, String)>,
    ) -> Result<Self, (PaperExchange, SandboxError)> {
        let Clients {
            sqs,
            counted_sqs,
            secrets,
            aws_calls,
            exchange_calls,
            notifier,
            follow_up_delay_secs,
            shard_queues,
        } = clients;
        let notices = Arc::new(RecordedNotices::default());
        let notifier: Arc<dyn Notifier> = Arc::new(Kept {
            kept: notices.clone(),
            also: notifier,
        });
        let placements = Placements::default();
        let clock_port: Arc<dyn Clock> = clock.clone();
        let accounts = match Self::accounts(
            &venue,
            &clock_port,
            &secrets,
            &secret_ids,
            &exchange_calls,
            &placements,
        )
        .await
        {
            Ok(a) => a,
            Err(e) => return Err((venue, e)),
        };
        let shards: Arc<dyn ShardQueue> = Arc::new(SqsShardQueue::new(
            counted_sqs.clone(),
            shard_queues.queue_url.clone(),
        ));
        let queue = Arc::new(
            SqsIntentQueue::new(counted_sqs, queues.queue_url.clone()).with_backoff(BACKOFF),
        );
        let metrics = Captured::default();
        let emf = Arc::new(EmfMetrics::new(
            "Driftline",
            metrics.clone(),
            clock_port.clone(),
        ));
        // Wired as the Lambdas wire theirs, from the same adapters; the scheduler and the
        // executor each draw their own deterministic jitter.
        let adapters = Adapters {
            ports: Ports {
                store: StorePorts::on(store.clone()),
                queue: queue.clone(),
                exchanges: accounts,
                clock: clock_port,
                random: Arc::new(Counter(AtomicU64::new(1))),
                metrics: emf,
                notifier,
            },
            dead_letters: Arc::new(SqsDeadLetters::new(
                sqs.clone(),
                Some(queues.dead_letter_url.clone()),
            )),
            shards: Some(shards),
        };
        let mut for_scheduler = adapters.clone();
        for_scheduler.ports.random = Arc::new(Counter(AtomicU64::new(2)));
        let wired = Wired {
            scheduler: (for_scheduler, SchedulerSettings::for_period(PERIOD_SECONDS)),
            executor: (
                adapters.clone(),
                ExecutorSettings {
                    backoff: BACKOFF,
                    follow_up_delay_secs,
                    ..ExecutorSettings::default()
                },
            ),
        };
        let scheduler = wiring::scheduler(&wired.scheduler.0, wired.scheduler.1.clone());
        let executor = wiring::executor(&wired.executor.0, wired.executor.1.clone());
        Ok(Self {
            dead_letters: adapters.dead_letters,
            venue,
            more_venues: Vec::new(),
            clock,
            store,
            queue,
            sqs,
            queue_url: queues.queue_url,
            dead_letter_url: queues.dead_letter_url,
            shards_url: shard_queues.queue_url,
            shards_dead_letter_url: shard_queues.dead_letter_url,
            secret_ids,
            secrets,
            scheduler,
            executor,
            metrics,
            http: reqwest::Client::new(),
            aws_calls,
            exchange_calls,
            placements,
            notices,
            invocation: AtomicU64::new(0),
            wired,
        })
    }

    /// Rewires both services so that `mode` follows resting orders (the deployment's
    /// `DRIFTLINE_FOLLOW_UP`); before the world's first tick, as a deployment is configured.
    pub fn follow_up_by(&mut self, mode: FollowUp) {
        self.wired.scheduler.1.follow_up = mode;
        self.wired.executor.1.follow_up = mode;
        self.scheduler = wiring::scheduler(&self.wired.scheduler.0, self.wired.scheduler.1.clone());
        self.executor = wiring::executor(&self.wired.executor.0, self.wired.executor.1.clone());
    }

    /// Rewires the scheduler to fan a tick out above `fan_out.above` portfolios (the
    /// deployment's `DRIFTLINE_FAN_OUT_ABOVE` and `DRIFTLINE_SHARD_SIZE`).
    pub fn fan_out(&mut self, fan_out: FanOut) {
        self.wired.scheduler.1.fan_out = fan_out;
        self.scheduler = wiring::scheduler(&self.wired.scheduler.0, self.wired.scheduler.1.clone());
    }

    /// The venue's accounts, wired as the Lambdas wire theirs (`SecretAccounts`: keys from
    /// Secrets Manager, re-read after the exchange refuses them), with the sandbox's quick
    /// client settings and every client's calls counted and its placements logged. Portfolios
    /// without an account trade on the first one. Every account's secret is read now, so one
    /// that cannot be read fails the launch.
    async fn accounts(
        venue: &PaperExchange,
        clock: &Arc<dyn Clock>,
        secrets: &aws_sdk_secretsmanager::Client,
        secret_ids: &[(String, String)],
        exchange_calls: &Tally,
        placements: &Placements,
    ) -> Result<Arc<SecretAccounts>, SandboxError> {
        let Some((_, first_secret_id)) = secret_ids.first() else {
            return Err(SandboxError::NoAccount);
        };
        let calls = exchange_calls.clone();
        let logged = placements.clone();
        let count: WrapClient = Arc::new(move |client| {
            Arc::new(Layered(CountingExchange::new(
                logged.wrap(client),
                calls.clone(),
            ))) as Arc<dyn Exchange>
        });
        let accounts = Arc::new(SecretAccounts::with_settings(
            AccountSecrets::new(secrets.clone(), Duration::from_secs(300)),
            first_secret_id.clone(),
            Self::client_settings(venue),
            clock.clone(),
            Some(count),
        )?);
        for (_, secret_id) in secret_ids {
            if let Err(e) = accounts.exchange(Some(secret_id)).await {
                return Err(SandboxError::Secret {
                    name: secret_id.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(accounts)
    }

    /// The settings of every exchange client: the local venue, quick retries and timeouts.
    pub(crate) fn client_settings(venue: &PaperExchange) -> ClientSettings {
        let mut settings = ClientSettings::new(venue.base_url());
        let retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        // Every venue's client the same: quick retries, short timeouts and waits.
        for client in [
            &mut settings.binance.client,
            &mut settings.kraken.client,
            &mut settings.coinbase.client,
        ] {
            client.retry = retry.clone();
            client.request_timeout = Duration::from_secs(3);
            client.max_rate_limit_wait = Duration::from_millis(200);
        }
        // The paper venue's Kraken listener allows what its config says (6000 weight a minute),
        // not a Starter key's decaying counter: the sandbox runs a period's calls in moments.
        let paper = RateLimitWindow::new(LimitKind::RequestWeight, "MINUTE", 1, 6000)
            .map(|w| RateLimits::new(vec![w]))
            .expect("6000 a minute is a valid window");
        settings.kraken.rate_limits = paper.clone();
        settings.kraken.public_rate_limits = paper;
        settings
    }
}
