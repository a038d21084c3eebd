//! The executor: one SQS message, one intent, taken to the exchange at most once.
//!
//! Every outcome is a [`MessageOutcome`]: done (the message may be deleted), retry after a delay
//! (the message comes back; its order is safe in the ledger), or dead letter (the message itself
//! is unreadable). Nothing here deletes or re-sends the received message: the caller does, from
//! the outcome, in one place. What goes back on the queue as a new message — the follow-up of a
//! resting order, or an intent that waits (the breaker is open, its cycle's sells have not
//! filled) without its deliveries counting toward the dead-letter queue — is sent for the whole
//! batch at once, after it.
//!
//! AWS calls per order are few by design (docs/BENCHMARKS.md counts them): the claim is the one
//! write before placement, a follow-up carries the record it follows
//! ([`crate::orders::PlacedOrder`]) so it neither claims nor reads, and the breaker
//! ([`BreakerGuard`]) is read about once per batch.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use tracing::{error, info, warn, Instrument};

use super::guard::BreakerGuard;
use crate::control::{DeploymentControls, Stop};
use crate::orders::{decide_execution, ledger_status, ExecutionDecision};
use crate::orders::{
    Claim, ClaimOutcome, IntentEnvelope, OrderKey, OrderRecord, OrderUpdate, Transition,
    TransitionOutcome,
};
use crate::orders::{OrderTracker, Repriced, TrackError};
use crate::ports::Notifier;
use crate::ports::{
    BreakerStore, IntentQueue, MarketFilterCache, OrderLedger, RetryBackoff, StoreError,
};
use crate::ports::{
    Clock, Exchange, ExchangeError, LimitOrderRequest, MetricsSink, OrderReport, RandomSource,
    TimeInForce,
};
use crate::{BreakerConfig, ClientOrderId, EpochMillis, MarketFilters, OrderIntent, OrderStatus};
use crate::{PortfolioId, Price, Side};

/// What the caller does with the message that carried the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Handled: delete the message.
    Done(&'static str),
    /// Make the message visible again after `delay_secs` and report it as a batch item failure.
    RetryAfter { delay_secs: u32, reason: String },
    /// The message cannot be read: send it to the dead-letter queue with the reason.
    DeadLetter { reason: String },
}

/// The invocation handling a message: who claims, and until when the claim holds.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The Lambda deadline, epoch ms: a claim lapses then if its holder dies.
    pub deadline_ms: EpochMillis,
}

#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Names the exchange in the breaker and filter-cache keys.
    pub exchange_name: String,
    pub backoff: RetryBackoff,
    pub breaker: BreakerConfig,
    /// How long after placement a resting order is checked again (and how often a buy waiting
    /// for its cycle's sells looks again).
    pub follow_up_delay_secs: u32,
    /// Book levels read per side.
    pub book_depth: u16,
    /// How long a closed breaker read from the shared store is trusted in this container, so a
    /// batch reads it once rather than per message. Another container's opening of the breaker
    /// reaches this one at most this late; its own failures count at once.
    pub breaker_reuse_ms: i64,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            exchange_name: "binance".into(),
            backoff: RetryBackoff::default(),
            breaker: BreakerConfig::default(),
            follow_up_delay_secs: 30,
            book_depth: 20,
            breaker_reuse_ms: 2_000,
        }
    }
}

/// The ports the executor uses.
#[derive(Clone)]
pub struct ExecutorPorts {
    pub exchanges: Arc<dyn crate::ports::ExchangeAccounts>,
    pub ledger: Arc<dyn OrderLedger>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub breakers: Arc<dyn BreakerStore>,
    pub controls: Arc<dyn DeploymentControls>,
    /// The portfolios' configs, read only before a re-price: a paused portfolio's resting
    /// orders are left as they are.
    pub configs: Arc<dyn crate::ports::PortfolioConfigs>,
    pub queue: Arc<dyn IntentQueue>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub metrics: Arc<dyn MetricsSink>,
    /// Where the owner is told of breaker transitions (and, by the scheduler, of cycles that
    /// traded); [`crate::ports::Silent`] when nobody listens.
    pub notifier: Arc<dyn Notifier>,
}

pub struct Executor {
    ports: ExecutorPorts,
    settings: ExecutorSettings,
    tracker: OrderTracker,
    breaker: Arc<BreakerGuard>,
}

/// The longest delay SQS gives a message it sends: a longer wait is taken in steps.
const MAX_SEND_DELAY_SECS: u32 = 900;

/// What handling one message decided, before the batch's messages are queued.
enum Decided {
    Outcome(MessageOutcome),
    /// Done once `envelope` is on the queue again, visible after `delay_secs`.
    Requeue {
        envelope: Box<IntentEnvelope>,
        delay_secs: u32,
        /// What the message is: a "follow-up" or a "waiting intent".
        what: &'static str,
        note: &'static str,
    },
}

impl From<MessageOutcome> for Decided {
    fn from(o: MessageOutcome) -> Self {
        Self::Outcome(o)
    }
}

fn done(note: &'static str) -> Step<Decided> {
    Ok(MessageOutcome::Done(note).into())
}

/// A failure that sends the message back for a later attempt.
struct Retry {
    delay_secs: u32,
    reason: String,
}

impl From<Retry> for MessageOutcome {
    fn from(r: Retry) -> Self {
        Self::RetryAfter {
            delay_secs: r.delay_secs,
            reason: r.reason,
        }
    }
}

type Step<T> = Result<T, Retry>;

impl Executor {
    pub fn new(ports: ExecutorPorts, settings: ExecutorSettings) -> Self {
        let (tracker, breaker) = super::lifecycle(
            &ports.ledger,
            &ports.queue,
            &ports.filters,
            &ports.breakers,
            &ports.clock,
            ports.random.as_ref(),
            &ports.metrics,
            &settings.exchange_name,
            settings.breaker,
            settings.breaker_reuse_ms,
            &ports.notifier,
        );
        Self {
            ports,
            settings,
            tracker,
            breaker,
        }
    }

    /// Handles one message body: a batch of one.
    pub async fn handle(&self, body: &str, invocation: &Invocation) -> MessageOutcome {
        let mut outcomes = self.handle_batch(&[body], invocation).await;
        outcomes.pop().unwrap_or(MessageOutcome::DeadLetter {
            reason: "no outcome".into(),
        })
    }

    /// Handles a batch of message bodies in order, then queues what goes back on the queue in
    /// one send per delay; one outcome per body, in the same order. A message whose successor
    /// could not be queued comes back itself (its order is safe in the ledger, and its next
    /// delivery takes it up again).
    pub async fn handle_batch(
        &self,
        bodies: &[&str],
        invocation: &Invocation,
    ) -> Vec<MessageOutcome> {
        // The halt and the breaker, in one read at the start of every invocation.
        let halt = match self.ports.controls.read(&self.settings.exchange_name).await {
            Ok(state) => {
                self.breaker.check_read(state.breaker);
                state.halt
            }
            Err(e) => {
                warn!(error = %e, "cannot read the halt and the breaker: the batch comes back");
                let retry = self.store_retry(&e);
                return bodies
                    .iter()
                    .map(|_| MessageOutcome::RetryAfter {
                        delay_secs: retry.delay_secs,
                        reason: retry.reason.clone(),
                    })
                    .collect();
            }
        };
        let mut outcomes = Vec::with_capacity(bodies.len());
        // Per message, the order whose requeue it waits on.
        let mut waiting: Vec<Option<ClientOrderId>> = Vec::with_capacity(bodies.len());
        // The latest requeue per order: a message delivered twice in a batch starts one chain
        // of follow-ups, not two.
        let mut requeues: Vec<(ClientOrderId, IntentEnvelope, u32)> = Vec::new();
        let mut kinds: HashMap<ClientOrderId, &'static str> = HashMap::new();
        for body in bodies {
            let decided = match &halt {
                Some(halt) => self.hold(body, halt),
                None => self.handle_one(body, invocation).await,
            };
            match decided {
                Decided::Outcome(o) => {
                    outcomes.push(o);
                    waiting.push(None);
                }
                Decided::Requeue {
                    envelope,
                    delay_secs,
                    what,
                    note,
                } => {
                    let id = envelope.intent.client_order_id.clone();
                    kinds.insert(id.clone(), what);
                    requeues.retain(|(queued, _, _)| *queued != id);
                    requeues.push((id.clone(), *envelope, delay_secs));
                    outcomes.push(MessageOutcome::Done(note));
                    waiting.push(Some(id));
                }
            }
        }
        let failed = self.requeue(&requeues).await;
        for (outcome, id) in outcomes.iter_mut().zip(&waiting) {
            let Some(id) = id else { continue };
            if let Some((reason, delay_secs)) = failed.get(id) {
                let what = kinds.get(id).copied().unwrap_or("message");
                *outcome = MessageOutcome::RetryAfter {
                    delay_secs: *delay_secs,
                    reason: format!("{what} not queued: {reason}"),
                };
            }
        }
        outcomes
    }

    /// Sends the batch's requeued messages, one send per delay; the orders whose message was
    /// not queued, with the reason and the delay it wanted.
    async fn requeue(
        &self,
        requeues: &[(ClientOrderId, IntentEnvelope, u32)],
    ) -> HashMap<ClientOrderId, (String, u32)> {
        let mut failed = HashMap::new();
        let mut delays: Vec<u32> = requeues.iter().map(|(_, _, d)| *d).collect();
        delays.sort_unstable();
        delays.dedup();
        for delay in delays {
            let group: Vec<&(ClientOrderId, IntentEnvelope, u32)> =
                requeues.iter().filter(|(_, _, d)| *d == delay).collect();
            let messages: Vec<IntentEnvelope> = group.iter().map(|(_, e, _)| e.clone()).collect();
            match self.ports.queue.send(&messages, delay).await {
                Ok(report) => {
                    for (id, reason) in report.failed {
                        warn!(client_order_id = %id, %reason, "not queued again: the message comes back");
                        failed.insert(id, (reason, delay));
                    }
                }
                Err(e) => {
                    warn!(error = %e, "not queued again: the messages come back");
                    for (id, _, _) in group {
                        failed.insert(id.clone(), (e.to_string(), delay));
                    }
                }
            }
        }
        failed
    }

    /// While the deployment is halted nothing is claimed or sent: a message waits as a new one
    /// and runs after `resume` if its intent has not expired.
    fn hold(&self, body: &str, halt: &Stop) -> Decided {
        let envelope = match read(body) {
            Ok(e) => e,
            Err(dead) => return dead,
        };
        info!(client_order_id = %envelope.intent.client_order_id, reason = %halt.reason, "deployment halted: held back");
        requeue(
            envelope,
            self.settings.follow_up_delay_secs,
            "waiting: deployment halted",
        )
    }

    async fn handle_one(&self, body: &str, invocation: &Invocation) -> Decided {
        let envelope = match read(body) {
            Ok(e) => e,
            Err(dead) => return dead,
        };
        let intent = &envelope.intent;
        let span = tracing::info_span!(
            "order",
            portfolio = %intent.portfolio_id,
            cycle = %intent.cycle_id,
            client_order_id = %intent.client_order_id,
            symbol = %intent.symbol,
            side = %intent.side,
        );
        async move {
            match self.handle_intent(envelope, invocation).await {
                Ok(decided) => decided,
                Err(retry) => {
                    warn!(delay_secs = retry.delay_secs, reason = %retry.reason, "retry later");
                    MessageOutcome::from(retry).into()
                }
            }
        }
        .instrument(span)
        .await
    }

    fn now(&self) -> EpochMillis {
        self.ports.clock.now_ms()
    }

    fn backoff(&self, attempt: u32) -> u32 {
        self.settings
            .backoff
            .delay_secs(attempt, self.ports.random.next_u64())
    }

    fn store_retry(&self, e: &StoreError) -> Retry {
        Retry {
            delay_secs: self.backoff(1),
            reason: format!("store: {e}"),
        }
    }

    async fn track_retry(&self, record: &OrderRecord, e: TrackError) -> Retry {
        match e {
            TrackError::Store(e) => self.store_retry(&e),
            TrackError::Exchange(e) => self.exchange_failure(record, e).await,
        }
    }

    async fn handle_intent(&self, envelope: IntentEnvelope, inv: &Invocation) -> Step<Decided> {
        // While the breaker is open nothing is claimed or sent, and the message waits as a new
        // one, so a long ban does not walk it to the dead-letter queue.
        if let Some(retry_at) = self
            .breaker
            .check()
            .await
            .map_err(|e| self.store_retry(&e))?
        {
            let delay = secs_until(retry_at, self.now()).min(MAX_SEND_DELAY_SECS);
            info!(delay_secs = delay, "circuit breaker open: the intent waits");
            return Ok(requeue(envelope, delay, "waiting: circuit breaker open"));
        }
        match envelope.placed {
            // A follow-up of an order resting on the exchange: no claim, no read.
            Some(placed) if placed.fits(&envelope.intent) => {
                let record = placed.into_record(envelope.intent);
                let ex = self.exchange_for(&record.intent).await?;
                self.follow_up(ex.as_ref(), record).await
            }
            placed => {
                if placed.is_some() {
                    warn!("the message's copy of the order is not a resting order: following it up through the ledger");
                }
                self.claim_and_execute(IntentEnvelope::new(envelope.intent), inv)
                    .await
            }
        }
    }

    /// The account's exchange client, behind the shared breaker.
    async fn exchange_for(&self, intent: &OrderIntent) -> Step<Arc<dyn Exchange>> {
        let client = self
            .ports
            .exchanges
            .exchange(intent.account.as_deref())
            .await
            .map_err(|e| {
                error!(error = %e, "no exchange client for the order's account: an operator must act");
                Retry {
                    delay_secs: self.backoff(2),
                    reason: e.to_string(),
                }
            })?;
        Ok(self.breaker.guard(client))
    }

    async fn claim_and_execute(&self, envelope: IntentEnvelope, inv: &Invocation) -> Step<Decided> {
        let intent = &envelope.intent;
        let exchange = self.exchange_for(intent).await?;
        let ex = exchange.as_ref();
        if intent.funded_by_sells {
            if let Some(wait) = self.wait_for_sells(&envelope).await? {
                return Ok(wait);
            }
        }
        let key = OrderKey::of(intent);
        let claim = Claim {
            owner: inv.request_id.clone(),
            now_ms: self.now(),
            in_progress_expiry_ms: inv.deadline_ms,
        };
        let outcome = self
            .ports
            .ledger
            .claim(&key, &claim)
            .await
            .map_err(|e| self.store_retry(&e))?;
        match outcome {
            ClaimOutcome::Claimed(record) => self.execute(ex, record).await,
            ClaimOutcome::IntentExpired(record) => {
                self.close(
                    &record,
                    OrderStatus::Expired,
                    "deadline passed before placement",
                )
                .await?;
                info!("expired before placement: nothing placed");
                done("expired")
            }
            ClaimOutcome::HeldByOther(record) => {
                let until = record.claim_expires_at_ms.unwrap_or(claim.now_ms);
                let secs = u32::try_from((until - claim.now_ms).max(0) / 1000 + 1).unwrap_or(900);
                Err(Retry {
                    delay_secs: secs.min(self.settings.backoff.cap_secs),
                    reason: "another invocation holds the order".into(),
                })
            }
            ClaimOutcome::NotClaimable(record) => match record.status {
                s if s.is_resting() => self.follow_up(ex, record).await,
                OrderStatus::Repricing => self.resume_reprice(ex, record).await,
                s if s.is_final() => done("already final"),
                _ => done("not claimable"),
            },
            ClaimOutcome::NotFound => {
                warn!("no ledger record for this intent: not placed from the message alone");
                done("unknown order")
            }
        }
    }

    /// A buy paid for by its cycle's sells waits while any of them is still open: placed now,
    /// it would be refused for want of cash. `None` when it may go on.
    async fn wait_for_sells(&self, envelope: &IntentEnvelope) -> Step<Option<Decided>> {
        let intent = &envelope.intent;
        if self.now() >= intent.expires_at_ms {
            // The claim expires it.
            return Ok(None);
        }
        let open = self
            .ports
            .ledger
            .open_orders(&intent.portfolio_id)
            .await
            .map_err(|e| self.store_retry(&e))?;
        let sells = open
            .iter()
            .filter(|r| r.intent.cycle_id == intent.cycle_id && r.intent.side == Side::Sell)
            .count();
        if sells == 0 {
            return Ok(None);
        }
        if let Some(own) = open
            .iter()
            .find(|r| r.intent.client_order_id == intent.client_order_id)
        {
            if own.status == OrderStatus::Pending {
                // Queued, not pending: the scheduler re-sends pending orders it thinks lost.
                let why = format!("waiting for {sells} sell(s) of its cycle to fill");
                self.tracker
                    .close(own, OrderStatus::Queued, Some(why))
                    .await
                    .map_err(|e| self.store_retry(&e))?;
            }
        }
        info!(sells, "buy waits for the sells of its cycle");
        Ok(Some(requeue(
            envelope.clone(),
            self.settings.follow_up_delay_secs,
            "waiting: the cycle's sells",
        )))
    }

    /// Moves an order to a state without new fills, with the reason.
    async fn close(&self, record: &OrderRecord, to: OrderStatus, reason: &str) -> Step<()> {
        if to == OrderStatus::Rejected {
            warn!(%reason, "rejected");
        }
        self.tracker
            .close(record, to, Some(reason.to_owned()))
            .await
            .map_err(|e| self.store_retry(&e))?;
        Ok(())
    }

    /// The order is ours (PLACING): look it up if an earlier attempt may have placed it, else
    /// check the book and place it.
    async fn execute(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = &record.intent;
        if record.attempts > 1 {
            match ex.order(&intent.symbol, &intent.client_order_id).await {
                Ok(report) => {
                    info!(status = ?report.status, "an earlier attempt placed it: recovered by client order id");
                    return self.on_report(ex, record, &report).await;
                }
                Err(ExchangeError::NotFound { .. }) => {}
                Err(e) => return Err(self.exchange_failure(&record, e).await),
            }
        }
        let remaining = intent.quantity - record.filled_qty;
        let filters = match self.tracker.filters(ex, &intent.symbol).await {
            Ok(f) => f,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let book = match ex
            .order_book(&intent.symbol, self.settings.book_depth)
            .await
        {
            Ok(b) => b,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        match decide_execution(intent, remaining, &book, &filters) {
            ExecutionDecision::Thin { visible, needed } => {
                let delay = self.backoff(record.attempts);
                let why =
                    format!("book too thin: {visible} visible within budget, {needed} needed");
                self.close(&record, OrderStatus::Queued, &why).await?;
                info!(%visible, %needed, delay_secs = delay, "queued: book too thin within the slippage budget");
                Err(Retry {
                    delay_secs: delay,
                    reason: "book too thin".into(),
                })
            }
            ExecutionDecision::Dust { quantity } => {
                let why = format!(
                    "remainder {quantity} is below the exchange's minimums at the current price"
                );
                self.close(&record, OrderStatus::Rejected, &why).await?;
                done("dust")
            }
            ExecutionDecision::Place { price, quantity } => {
                let quantity = if intent.funded_by_sells {
                    match self
                        .affordable(ex, &record, &filters, price, quantity)
                        .await?
                    {
                        Some(q) => q,
                        None => return done("not enough cash"),
                    }
                } else {
                    quantity
                };
                self.place(ex, record, price, quantity).await
            }
        }
    }

    /// A funded buy takes no more than the quote free now (its sells are done); `None` when
    /// that is below the exchange's minimums (the order is then cancelled with the reason).
    async fn affordable(
        &self,
        ex: &dyn Exchange,
        record: &OrderRecord,
        filters: &MarketFilters,
        price: Price,
        quantity: Decimal,
    ) -> Step<Option<Decimal>> {
        let quote = record.intent.symbol.quote();
        let free = match ex.balances().await {
            Ok(b) => b
                .iter()
                .find(|b| &b.asset == quote)
                .map_or(Decimal::ZERO, |b| b.free),
            Err(e) => return Err(self.exchange_failure(record, e).await),
        };
        let affordable = quantity.min(filters.round_quantity(free / price.value()));
        if filters.accepts(affordable, price.value()) {
            if affordable < quantity {
                info!(%free, %quantity, %affordable, "buy sized to the cash free after its cycle's sells");
            }
            return Ok(Some(affordable));
        }
        let why = format!(
            "not enough {quote} free after the cycle's sells: {free} free, {} needed",
            quantity * price.value()
        );
        self.close(record, OrderStatus::Cancelled, &why).await?;
        Ok(None)
    }

    /// Places the claimed order at `price`.
    async fn place(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        price: Price,
        quantity: Decimal,
    ) -> Step<Decided> {
        let intent = &record.intent;
        let request = LimitOrderRequest {
            client_order_id: intent.client_order_id.clone(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            quantity,
            price,
            time_in_force: TimeInForce::Gtc,
        };
        let started = self.now();
        let placed = ex.place_limit_order(&request).await;
        let latency = self.now() - started;
        let metrics = &self.ports.metrics;
        match placed {
            Ok(report) => {
                metrics.execution_attempt(false, Some(latency));
                info!(%price, %quantity, latency_ms = latency, "placed");
                self.on_report(ex, record, &report).await
            }
            Err(e @ (ExchangeError::StatusUnknown { .. } | ExchangeError::Duplicate { .. })) => {
                // A duplicate id means the order exists: look it up, it is not a failure.
                let unknown = matches!(e, ExchangeError::StatusUnknown { .. });
                metrics.execution_attempt(unknown, Some(latency));
                warn!(reason = %e, "placement not confirmed: looking the order up by client order id");
                match ex.order(&intent.symbol, &intent.client_order_id).await {
                    Ok(report) => self.on_report(ex, record, &report).await,
                    Err(e) => Err(self.exchange_failure(&record, e).await),
                }
            }
            Err(ExchangeError::Rejected { code, message }) => {
                metrics.execution_attempt(true, Some(latency));
                let why = format!("exchange rejected ({code}): {message}");
                self.close(&record, OrderStatus::Rejected, &why).await?;
                done("rejected")
            }
            Err(e) => {
                // Refused by the breaker, nothing was sent: not an attempt.
                if !matches!(e, ExchangeError::BreakerOpen { .. }) {
                    metrics.execution_attempt(true, Some(latency));
                }
                Err(self.exchange_failure(&record, e).await)
            }
        }
    }

    /// An exchange error while we hold the order: release it (QUEUED) and retry later.
    async fn exchange_failure(&self, record: &OrderRecord, e: ExchangeError) -> Retry {
        let now = self.now();
        let delay = match &e {
            ExchangeError::RateLimited { retry_after_ms } => {
                self.ports.metrics.rate_limit_hit();
                let after = i64::try_from(*retry_after_ms).unwrap_or(i64::MAX / 2);
                secs_until(now.saturating_add(after), now)
            }
            ExchangeError::Banned { until_ms } => {
                self.ports.metrics.rate_limit_hit();
                secs_until(*until_ms, now)
            }
            ExchangeError::BreakerOpen { retry_at_ms } => secs_until(*retry_at_ms, now),
            _ => self.backoff(record.attempts.max(1)),
        };
        if matches!(e, ExchangeError::Auth { .. }) {
            error!(error = %e, "exchange refused our credentials: an operator must act");
        }
        if record.status == OrderStatus::Placing {
            if let Err(r) = self
                .close(record, OrderStatus::Queued, &e.to_string())
                .await
            {
                return r;
            }
        }
        Retry {
            // SQS holds a message invisible for at most 12 hours.
            delay_secs: delay.min(43_200),
            reason: e.to_string(),
        }
    }

    /// Records what the exchange reports of the order, and follows it up if it is still open.
    async fn on_report(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: &OrderReport,
    ) -> Step<Decided> {
        let record = match self.tracker.apply_report(ex, record.clone(), report).await {
            Ok(r) => r,
            Err(e) => return Err(self.track_retry(&record, e).await),
        };
        if record.status.is_final() {
            return done("final");
        }
        Ok(self.follow_up_of(&record, "placed; follow-up queued"))
    }

    /// A placed order comes back: record its fills; at its deadline cancel it; when the book has
    /// moved away, cancel and re-price only the remainder as the next leg.
    async fn follow_up(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = record.intent.clone();
        let report = match ex.order(&intent.symbol, &intent.client_order_id).await {
            Ok(r) => r,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let record = match self.tracker.apply_report(ex, record.clone(), &report).await {
            Ok(r) => r,
            Err(e) => return Err(self.track_retry(&record, e).await),
        };
        if record.status == OrderStatus::Repricing {
            return self.finish_reprice(ex, record, report, None).await;
        }
        // Final on the exchange is final here even when the ledger no longer has the record
        // (a follow-up carries its own copy; the ledger's expires after the order ends).
        if record.status.is_final() || ledger_status(report.status).is_final() {
            return done("final");
        }
        if self.now() >= intent.expires_at_ms {
            return self.cancel_at_deadline(ex, record).await;
        }
        // Still resting: is its price still competitive? If not, move the remainder.
        let book = match ex
            .order_book(&intent.symbol, self.settings.book_depth)
            .await
        {
            Ok(b) => b,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let behind = match intent.side {
            Side::Buy => book.best_bid().is_some_and(|b| b > report.price),
            Side::Sell => book.best_ask().is_some_and(|a| a < report.price),
        };
        if !behind {
            return Ok(self.follow_up_of(&record, "resting; follow-up queued"));
        }
        // A re-price places a new order: not for a paused portfolio, whose resting orders stay
        // as they are (followed, filled, cancelled at their deadline) until it is resumed.
        if self.paused(&intent.portfolio_id).await {
            return Ok(self.follow_up_of(&record, "resting; portfolio paused: not re-priced"));
        }
        let filters = match self.tracker.filters(ex, &intent.symbol).await {
            Ok(f) => f,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let remaining = intent.quantity - record.filled_qty;
        let ExecutionDecision::Place { price, .. } =
            decide_execution(&intent, remaining, &book, &filters)
        else {
            // Cannot re-price within budget now: keep resting and look again.
            return Ok(self.follow_up_of(&record, "resting; cannot re-price within budget"));
        };
        self.reprice(ex, record, price).await
    }

    /// Cancels a resting order whose deadline has passed.
    async fn cancel_at_deadline(&self, ex: &dyn Exchange, copy: OrderRecord) -> Step<Decided> {
        let record = match self.confirm(ex, copy).await? {
            Ok(r) => r,
            Err(instead) => return instead,
        };
        let intent = &record.intent;
        let cancelled = match ex
            .cancel_order(&intent.symbol, &intent.client_order_id)
            .await
        {
            Ok(r) => r,
            Err(ExchangeError::NotFound { .. }) => {
                // Filled or cancelled meanwhile: read it again next time.
                return Err(Retry {
                    delay_secs: 1,
                    reason: "order changed while cancelling".into(),
                });
            }
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let record = match self
            .tracker
            .apply_report(ex, record.clone(), &cancelled)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.track_retry(&record, e).await),
        };
        info!(filled = %record.filled_qty, "cancelled at its deadline");
        done("cancelled at deadline")
    }

    /// Cancels a resting order whose price the market left behind and places the remainder
    /// at `price` as the next leg. The ledger marks it `REPRICING` first: until the next leg
    /// is recorded a cycle running meanwhile sees it in flight and plans nothing for it.
    async fn reprice(&self, ex: &dyn Exchange, copy: OrderRecord, price: Price) -> Step<Decided> {
        let record = match self.confirm(ex, copy).await? {
            Ok(r) => r,
            Err(instead) => return instead,
        };
        let mark = Transition {
            expected_version: record.version,
            to: OrderStatus::Repricing,
            update: OrderUpdate::default(),
            now_ms: self.now(),
        };
        let record = match self
            .ports
            .ledger
            .transition(&record.key(), &mark)
            .await
            .map_err(|e| self.store_retry(&e))?
        {
            TransitionOutcome::Applied(r) => r,
            TransitionOutcome::Conflict(current) if current.status.is_final() => {
                return done("final")
            }
            TransitionOutcome::Conflict(current) => {
                return Ok(self.follow_up_of(&current, "follow-up corrected from the ledger"))
            }
            TransitionOutcome::NotFound => return done("unknown order"),
        };
        let intent = &record.intent;
        let cancelled = match ex
            .cancel_order(&intent.symbol, &intent.client_order_id)
            .await
        {
            Ok(r) => r,
            Err(ExchangeError::NotFound { .. }) => {
                match ex.order(&intent.symbol, &intent.client_order_id).await {
                    Ok(r) => r,
                    Err(e) => return Err(self.exchange_failure(&record, e).await),
                }
            }
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        self.finish_reprice(ex, record, cancelled, Some(price))
            .await
    }

    /// Takes up a re-price an earlier attempt started (the record is `REPRICING`).
    async fn resume_reprice(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = &record.intent;
        let report = match ex.order(&intent.symbol, &intent.client_order_id).await {
            Ok(r) => r,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        self.finish_reprice(ex, record, report, None).await
    }

    async fn finish_reprice(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: OrderReport,
        price: Option<Price>,
    ) -> Step<Decided> {
        match self
            .tracker
            .finish_reprice(ex, record.clone(), report, price)
            .await
        {
            Ok(Repriced::NextLeg(_)) => done("re-priced"),
            Ok(Repriced::Nothing(why)) => done(why),
            Ok(Repriced::StillOpen) => Err(Retry {
                delay_secs: 1,
                reason: "the cancel has not taken yet".into(),
            }),
            Err(e) => Err(self.track_retry(&record, e).await),
        }
    }

    /// The ledger's record before an order is cancelled or re-priced: never on what a message
    /// alone says (a follow-up carries a copy). `Err` is what to do instead: nothing when the
    /// ledger does not know the order or has it final, a follow-up with the ledger's copy when
    /// the message's differs, the rest of a re-price already under way.
    async fn confirm(
        &self,
        ex: &dyn Exchange,
        copy: OrderRecord,
    ) -> Step<Result<OrderRecord, Step<Decided>>> {
        let stored = self
            .ports
            .ledger
            .order(&copy.key())
            .await
            .map_err(|e| self.store_retry(&e))?;
        Ok(match stored {
            None => {
                warn!("no ledger record for this order: nothing cancelled or re-priced from the message alone");
                Err(done("unknown order"))
            }
            Some(r) if r.status.is_final() => Err(done("final")),
            Some(r) if r.intent != copy.intent => {
                warn!("the message's copy of the order differs from the ledger's: following up the ledger's");
                Err(Ok(
                    self.follow_up_of(&r, "follow-up corrected from the ledger")
                ))
            }
            Some(r) if r.status == OrderStatus::Repricing => Err(self.resume_reprice(ex, r).await),
            Some(r) => Ok(r),
        })
    }

    /// Done once the follow-up of `record` (still open on the exchange) is queued.
    /// Whether the portfolio is paused; a config that cannot be read counts as paused (the
    /// order keeps resting and is looked at again at its next follow-up).
    async fn paused(&self, id: &PortfolioId) -> bool {
        match self.ports.configs.portfolio(id).await {
            Ok(stored) => stored.is_some_and(|p| p.paused.is_some()),
            Err(e) => {
                warn!(error = %e, "portfolio config unreadable: not re-priced now");
                true
            }
        }
    }

    fn follow_up_of(&self, record: &OrderRecord, note: &'static str) -> Decided {
        Decided::Requeue {
            envelope: Box::new(IntentEnvelope::follow_up(record)),
            delay_secs: self.settings.follow_up_delay_secs,
            what: "follow-up",
            note,
        }
    }
}

/// The message's envelope, or its way to the dead-letter queue.
fn read(body: &str) -> Result<IntentEnvelope, Decided> {
    IntentEnvelope::from_json(body).map_err(|e| {
        error!(error = %e, "unreadable intent message: to the dead-letter queue");
        MessageOutcome::DeadLetter {
            reason: e.to_string(),
        }
        .into()
    })
}

/// Done once `envelope` is on the queue again, visible after `delay_secs`.
fn requeue(envelope: IntentEnvelope, delay_secs: u32, note: &'static str) -> Decided {
    Decided::Requeue {
        envelope: Box::new(envelope),
        delay_secs: delay_secs.min(MAX_SEND_DELAY_SECS),
        what: "waiting intent",
        note,
    }
}

fn secs_until(at_ms: EpochMillis, now: EpochMillis) -> u32 {
    u32::try_from(((at_ms - now).max(0) + 999) / 1000)
        .unwrap_or(u32::MAX)
        .max(1)
}
