//! Taking a portfolio's open orders off the table, the one way `halt --cancel-open`,
//! `portfolio pause` and `portfolio remove --cancel-open` all do it ([`Canceller::cancel_open`]).
//!
//! - Intents not yet on the exchange (`PENDING`, `QUEUED`) are closed `CANCELLED` with the reason
//!   ([`OrderTracker::close`]): their messages still in the queue then find nothing to place.
//! - With [`Scope::Everything`], orders on the exchange (`PLACED`, `PARTIALLY_FILLED`,
//!   `REPRICING`, and a `PLACING` one the exchange already has) are cancelled there through the
//!   account's client (the functions' [`SecretAccounts`]), and the exchange's answer is applied
//!   with [`OrderTracker::apply_report`], so fills made before the cancel are recorded with
//!   their fees, exactly as the functions record them.
//!
//! Every ledger write is conditional on the record's version, so the console may race an
//! executor or a scheduler cycle on the same order and the ledger still moves once; an order
//! that moved on meanwhile is reported, not forced. The console's exchange calls do not go
//! through the functions' shared breaker: an operator cancelling during a cooldown means it,
//! and an error is reported per order. Nothing is counted in the functions' metrics.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use driftline_aws::{AccountSecrets, DynamoStore};
use driftline_core::orders::{ExecutionQuality, IntentEnvelope, OrderRecord, OrderTracker};
use driftline_core::ports::{
    Exchange, ExchangeAccounts, ExchangeError, IntentQueue, MetricsSink, OrderLedger,
    ReceivedIntent, SendReport, StoreError, StoredPortfolio,
};
use driftline_core::{Asset, OrderStatus, PortfolioId};
use driftline_functions::wiring::{SecretAccounts, WallClock};
use rust_decimal::Decimal;

use super::{outputs, Console, ConsoleError};

/// An account's exchange client, or why there is none.
type Client = Result<Arc<dyn Exchange>, String>;

/// Which open orders to take off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only intents not yet on the exchange; resting orders are left alone.
    Unplaced,
    /// Those, and every order on the exchange.
    Everything,
}

/// What became of one open order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It never reached the exchange: closed `CANCELLED`.
    Closed,
    /// Cancelled on the exchange (or found done there): the record as the ledger has it now,
    /// with its fills and fees.
    Cancelled(Box<OrderRecord>),
    /// On the exchange, and not in scope: left resting.
    LeftResting,
    /// Claimed by an executor and not on the exchange (yet): it may still be placed.
    InFlight,
    /// It moved on meanwhile (an executor or a cycle got there first): its status now.
    MovedOn(Option<OrderStatus>),
    /// The exchange or the ledger refused: why.
    Failed(String),
}

/// One open order and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAction {
    pub before: OrderRecord,
    pub outcome: Outcome,
}

impl OrderAction {
    /// True when the order is still open on the exchange or may yet be placed.
    pub fn left_open(&self) -> bool {
        match &self.outcome {
            Outcome::Closed => false,
            Outcome::Cancelled(r) => !r.status.is_final(),
            Outcome::MovedOn(s) => s.is_some_and(|s| !s.is_final()),
            Outcome::LeftResting | Outcome::InFlight | Outcome::Failed(_) => true,
        }
    }
}

impl fmt::Display for OrderAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.before.intent;
        write!(
            f,
            "{} {} {} {} @ {} ({}): ",
            i.portfolio_id, i.side, i.quantity, i.symbol, i.limit_price, i.client_order_id
        )?;
        let before = self.before.status;
        match &self.outcome {
            Outcome::Closed => write!(f, "{before} → CANCELLED (never reached the exchange)"),
            Outcome::Cancelled(r) => write!(
                f,
                "{before} → {} on the exchange · filled {} of {} · fees {} {}",
                r.status,
                r.filled_qty.normalize(),
                i.quantity,
                r.fees_quote.normalize(),
                quote(&self.before)
            ),
            Outcome::LeftResting => write!(
                f,
                "{before}: left resting on the exchange (--cancel-open cancels it)"
            ),
            Outcome::InFlight => write!(
                f,
                "{before}: claimed by an executor, not on the exchange yet: it may still be \
                 placed (--cancel-open cancels it once it rests)"
            ),
            Outcome::MovedOn(Some(now)) => write!(f, "{before}: moved on to {now} meanwhile"),
            Outcome::MovedOn(None) => write!(f, "{before}: gone from the ledger meanwhile"),
            Outcome::Failed(why) => write!(f, "{before}: NOT cancelled: {why}"),
        }
    }
}

fn quote(record: &OrderRecord) -> &Asset {
    record.intent.symbol.quote()
}

/// The console's side of the order lifecycle: the ledger, and the exchange accounts when
/// resting orders are to be cancelled.
pub struct Canceller {
    store: Arc<DynamoStore>,
    tracker: OrderTracker,
    exchanges: Option<Arc<dyn ExchangeAccounts>>,
}

impl Canceller {
    /// The outputs a canceller needs: the table, and for [`Scope::Everything`] the default
    /// account's secret and the exchange's base URL.
    pub fn needs(scope: Scope) -> Vec<(&'static str, &'static str)> {
        match scope {
            Scope::Unplaced => vec![outputs::TABLE],
            Scope::Everything => vec![
                outputs::TABLE,
                outputs::EXCHANGE_SECRET,
                outputs::EXCHANGE_BASE_URL,
            ],
        }
    }

    /// # Errors
    /// [`ConsoleError::MissingOutput`] when a resource `scope` needs is not known, or the
    /// exchange URL is unusable.
    pub fn new(console: &Console, scope: Scope) -> Result<Self, ConsoleError> {
        let store = Arc::new(console.store()?);
        let clock = Arc::new(WallClock);
        let exchanges: Option<Arc<dyn ExchangeAccounts>> = match scope {
            Scope::Unplaced => None,
            Scope::Everything => {
                let secrets = AccountSecrets::new(
                    aws_sdk_secretsmanager::Client::new(&console.sdk),
                    Duration::from_secs(300),
                );
                let accounts = SecretAccounts::new(
                    secrets,
                    console
                        .deployment
                        .require(outputs::EXCHANGE_SECRET)?
                        .to_owned(),
                    console
                        .deployment
                        .require(outputs::EXCHANGE_BASE_URL)?
                        .to_owned(),
                    clock.clone(),
                )
                .map_err(|e| {
                    ConsoleError::Input(format!("{}: {e}", outputs::EXCHANGE_BASE_URL.1))
                })?;
                Some(Arc::new(accounts))
            }
        };
        let tracker = OrderTracker {
            ledger: store.clone(),
            queue: Arc::new(NoQueue),
            filters: store.clone(),
            clock,
            metrics: Arc::new(NoMetrics),
        };
        Ok(Self {
            store,
            tracker,
            exchanges,
        })
    }

    /// Takes `portfolio`'s open orders off: see the module doc. One order's failure does not
    /// stop the others; it is in its [`OrderAction`].
    ///
    /// # Errors
    /// [`ConsoleError::Store`] when the ledger cannot be read.
    pub async fn cancel_open(
        &self,
        portfolio: &StoredPortfolio,
        scope: Scope,
        reason: &str,
    ) -> Result<Vec<OrderAction>, ConsoleError> {
        let id = PortfolioId::new(&portfolio.spec.id)
            .map_err(|e| ConsoleError::Input(format!("portfolio id: {e}")))?;
        let open = self.store.open_orders(&id).await?;
        // One client per account an order rests on: a portfolio spread over several accounts
        // has orders on each, and each is cancelled where it rests.
        let mut exchanges: Vec<(Option<String>, Client)> = Vec::new();
        let mut actions = Vec::with_capacity(open.len());
        for record in open {
            let on_exchange = !matches!(record.status, OrderStatus::Pending | OrderStatus::Queued);
            let outcome = if !on_exchange {
                self.close(&record, reason).await
            } else if scope == Scope::Unplaced {
                if record.status == OrderStatus::Placing {
                    Outcome::InFlight
                } else {
                    Outcome::LeftResting
                }
            } else {
                let account = record.intent.account.clone();
                if !exchanges.iter().any(|(a, _)| *a == account) {
                    let client = self.exchange(account.as_deref()).await;
                    exchanges.push((account.clone(), client));
                }
                match exchanges
                    .iter()
                    .find(|(a, _)| *a == account)
                    .map(|(_, c)| c)
                {
                    Some(Ok(ex)) => self.cancel_on_exchange(ex.as_ref(), &record).await,
                    Some(Err(why)) => Outcome::Failed(why.clone()),
                    None => Outcome::Failed("no exchange client".to_owned()),
                }
            };
            actions.push(OrderAction {
                before: record,
                outcome,
            });
        }
        Ok(actions)
    }

    async fn exchange(&self, account: Option<&str>) -> Client {
        match &self.exchanges {
            Some(accounts) => accounts
                .exchange(account)
                .await
                .map_err(|e| format!("exchange account {}: {e}", account.unwrap_or("default"))),
            None => Err("the exchange is not wired for this command".to_owned()),
        }
    }

    async fn close(&self, record: &OrderRecord, reason: &str) -> Outcome {
        match self
            .tracker
            .close(record, OrderStatus::Cancelled, Some(reason.to_owned()))
            .await
        {
            Ok(true) => Outcome::Closed,
            Ok(false) => self.moved_on(record).await,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn moved_on(&self, record: &OrderRecord) -> Outcome {
        match self.store.order(&record.key()).await {
            Ok(now) => Outcome::MovedOn(now.map(|r| r.status)),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Cancels the order on the exchange (or reads it when the exchange no longer has it
    /// open) and records what the exchange says, fills and fees included.
    async fn cancel_on_exchange(&self, ex: &dyn Exchange, record: &OrderRecord) -> Outcome {
        let intent = &record.intent;
        let report = match ex
            .cancel_order(&intent.symbol, &intent.client_order_id)
            .await
        {
            Ok(report) => report,
            // Done meanwhile (filled, expired, cancelled by a follow-up), or never placed.
            Err(ExchangeError::NotFound { .. }) => {
                match ex.order(&intent.symbol, &intent.client_order_id).await {
                    Ok(report) => report,
                    Err(ExchangeError::NotFound { .. })
                        if record.status == OrderStatus::Placing =>
                    {
                        return Outcome::InFlight
                    }
                    Err(e) => return Outcome::Failed(format!("exchange: {e}")),
                }
            }
            Err(e) => return Outcome::Failed(format!("exchange: {e}")),
        };
        match self.tracker.apply_report(ex, record.clone(), &report).await {
            Ok(after) if after.version != record.version => Outcome::Cancelled(Box::new(after)),
            Ok(_) if !report.status.is_final() => Outcome::Failed(format!(
                "the exchange still shows it {:?} after the cancel",
                report.status
            )),
            // The report changed nothing: the ledger had moved on meanwhile.
            Ok(_) => self.moved_on(record).await,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// The console sends nothing to the intents queue; the tracker needs one only to re-price,
/// which the console never does.
struct NoQueue;

#[async_trait]
impl IntentQueue for NoQueue {
    async fn send(&self, _: &[IntentEnvelope], _: u32) -> Result<SendReport, StoreError> {
        Err(refused("send"))
    }
    async fn receive(&self, _: u8, _: u8) -> Result<Vec<ReceivedIntent>, StoreError> {
        Err(refused("receive"))
    }
    async fn retry_later(&self, _: &str, _: u32) -> Result<(), StoreError> {
        Err(refused("retry_later"))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(refused("delete"))
    }
}

fn refused(operation: &'static str) -> StoreError {
    StoreError::Unavailable {
        service: "console",
        operation,
        reason: "the console does not use the intents queue".to_owned(),
    }
}

/// The functions' metrics are theirs (EMF in their logs); the console's cancels are printed.
struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn drift(&self, _: &PortfolioId, _: &Asset, _: Decimal) {}
    fn cycle_completed(&self, _: &PortfolioId) {}
    fn execution_attempt(&self, _: bool, _: Option<i64>) {}
    fn order_final(&self, _: OrderStatus, _: &ExecutionQuality) {}
    fn rate_limit_hit(&self) {}
}
