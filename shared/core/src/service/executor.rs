//! The executor: one SQS message, one intent, taken to the exchange at most once.
//!
//! Every outcome is a [`MessageOutcome`]: done (the message may be deleted), retry after a delay
//! (the message comes back; its order is safe in the ledger), or dead letter (the message itself
//! is unreadable). Nothing here deletes or re-sends the received message: the caller does, from
//! the outcome, in one place. The follow-ups of a batch's placed orders go to the queue together,
//! in one send, after the batch.
//!
//! AWS calls per order are few by design (docs/BENCHMARKS.md counts them): the claim is the one
//! write before placement, a follow-up carries the record it follows ([`crate::ledger::PlacedOrder`]) so it
//! neither claims nor reads, and a closed breaker read from the store is trusted for
//! [`ExecutorSettings::breaker_reuse_ms`] in this container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rust_decimal::Decimal;
use tracing::{error, info, warn, Instrument};

use crate::execution::{
    decide_execution, execution_quality, ledger_status, report_change, ExecutionDecision,
    ReportChange,
};
use crate::ledger::{
    BreakerSave, BreakerStore, Claim, ClaimOutcome, FillOutcome, IntentEnvelope, IntentQueue,
    MarketFilterCache, OrderKey, OrderLedger, OrderRecord, OrderUpdate, RecordOutcome,
    RetryBackoff, StoreError, Transition, TransitionOutcome, VersionedBreaker,
};
use crate::ports::{
    Clock, Exchange, ExchangeError, LimitOrderRequest, MetricsSink, OrderReport, RandomSource,
    TimeInForce,
};
use crate::{
    BreakerConfig, BreakerPermit, BreakerState, ClientOrderId, EpochMillis, MarketFilters,
    OrderIntent, OrderStatus,
};

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
    /// How long after placement a resting order is checked again.
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
    pub exchanges: Arc<dyn super::ExchangeAccounts>,
    pub ledger: Arc<dyn OrderLedger>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub breakers: Arc<dyn BreakerStore>,
    pub queue: Arc<dyn IntentQueue>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub metrics: Arc<dyn MetricsSink>,
}

pub struct Executor {
    ports: ExecutorPorts,
    settings: ExecutorSettings,
    /// The breaker as this container last read or wrote it, and when.
    breaker_seen: Mutex<Option<(VersionedBreaker, EpochMillis)>>,
}

/// What handling one message decided, before the batch's follow-ups are queued.
enum Decided {
    Outcome(MessageOutcome),
    /// Done once its follow-up is queued.
    FollowUp {
        envelope: Box<IntentEnvelope>,
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
        Self {
            ports,
            settings,
            breaker_seen: Mutex::new(None),
        }
    }

    /// Handles one message body: a batch of one.
    pub async fn handle(&self, body: &str, invocation: &Invocation) -> MessageOutcome {
        let mut outcomes = self.handle_batch(&[body], invocation).await;
        outcomes.pop().unwrap_or(MessageOutcome::DeadLetter {
            reason: "no outcome".into(),
        })
    }

    /// Handles a batch of message bodies in order, then queues their follow-ups in one send;
    /// one outcome per body, in the same order. A message whose follow-up could not be queued
    /// comes back (its order is safe in the ledger, and the message's next delivery follows it
    /// up).
    pub async fn handle_batch(
        &self,
        bodies: &[&str],
        invocation: &Invocation,
    ) -> Vec<MessageOutcome> {
        let mut outcomes = Vec::with_capacity(bodies.len());
        // Per message, the order whose follow-up it waits on.
        let mut waiting: Vec<Option<ClientOrderId>> = Vec::with_capacity(bodies.len());
        // The latest follow-up per order: a message delivered twice in a batch starts one
        // chain of follow-ups, not two.
        let mut follow_ups: Vec<(ClientOrderId, IntentEnvelope)> = Vec::new();
        for body in bodies {
            match self.handle_one(body, invocation).await {
                Decided::Outcome(o) => {
                    outcomes.push(o);
                    waiting.push(None);
                }
                Decided::FollowUp { envelope, note } => {
                    let id = envelope.intent.client_order_id.clone();
                    follow_ups.retain(|(queued, _)| *queued != id);
                    follow_ups.push((id.clone(), *envelope));
                    outcomes.push(MessageOutcome::Done(note));
                    waiting.push(Some(id));
                }
            }
        }
        let failed = self.queue_follow_ups(&follow_ups).await;
        for (outcome, id) in outcomes.iter_mut().zip(&waiting) {
            if let Some(reason) = id.as_ref().and_then(|id| failed.get(id)) {
                *outcome = MessageOutcome::RetryAfter {
                    delay_secs: self.settings.follow_up_delay_secs,
                    reason: format!("follow-up not queued: {reason}"),
                };
            }
        }
        outcomes
    }

    /// Sends the follow-ups; the orders whose follow-up was not queued, with the reason.
    async fn queue_follow_ups(
        &self,
        follow_ups: &[(ClientOrderId, IntentEnvelope)],
    ) -> HashMap<ClientOrderId, String> {
        if follow_ups.is_empty() {
            return HashMap::new();
        }
        let messages: Vec<IntentEnvelope> = follow_ups.iter().map(|(_, e)| e.clone()).collect();
        match self
            .ports
            .queue
            .send(&messages, self.settings.follow_up_delay_secs)
            .await
        {
            Ok(report) => report
                .failed
                .into_iter()
                .inspect(|(id, reason)| warn!(client_order_id = %id, %reason, "follow-up not queued: the message comes back"))
                .collect(),
            Err(e) => {
                warn!(error = %e, "follow-ups not queued: their messages come back");
                follow_ups
                    .iter()
                    .map(|(id, _)| (id.clone(), e.to_string()))
                    .collect()
            }
        }
    }

    async fn handle_one(&self, body: &str, invocation: &Invocation) -> Decided {
        let envelope = match IntentEnvelope::from_json(body) {
            Ok(e) => e,
            Err(e) => {
                error!(error = %e, "unreadable intent message: to the dead-letter queue");
                return MessageOutcome::DeadLetter {
                    reason: e.to_string(),
                }
                .into();
            }
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
        let outcome = async move {
            match self.handle_intent(envelope, invocation).await {
                Ok(decided) => decided,
                Err(retry) => {
                    warn!(delay_secs = retry.delay_secs, reason = %retry.reason, "retry later");
                    MessageOutcome::from(retry).into()
                }
            }
        }
        .instrument(span)
        .await;
        outcome
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

    async fn handle_intent(&self, envelope: IntentEnvelope, inv: &Invocation) -> Step<Decided> {
        let probe = self.breaker_permit().await?;
        let outcome = match envelope.placed {
            // A follow-up of an order resting on the exchange: no claim, no read.
            Some(placed) if placed.fits(&envelope.intent) => {
                let record = placed.into_record(envelope.intent);
                match self.exchange_for(&record.intent).await {
                    Ok(exchange) => self.follow_up(exchange.as_ref(), record).await,
                    Err(retry) => Err(retry),
                }
            }
            placed => {
                if placed.is_some() {
                    warn!("the message's copy of the order is not a resting order: following it up through the ledger");
                }
                self.claim_and_execute(&envelope.intent, inv).await
            }
        };
        if probe {
            self.end_probe().await;
        }
        outcome
    }

    async fn exchange_for(&self, intent: &OrderIntent) -> Step<Arc<dyn Exchange>> {
        self.ports
            .exchanges
            .exchange(intent.account.as_deref())
            .await
            .map_err(|e| {
                error!(error = %e, "no exchange client for the order's account: an operator must act");
                Retry {
                    delay_secs: self.backoff(2),
                    reason: e.to_string(),
                }
            })
    }

    /// The breaker as last seen here, if seen within `breaker_reuse_ms`.
    fn recent_breaker(&self, now: EpochMillis) -> Option<VersionedBreaker> {
        let seen = *self
            .breaker_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.filter(|(_, at)| now - at < self.settings.breaker_reuse_ms)
            .map(|(b, _)| b)
    }

    fn saw_breaker(&self, breaker: VersionedBreaker, now: EpochMillis) {
        *self
            .breaker_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((breaker, now));
    }

    /// A probe whose message never told the breaker anything (it made no exchange call, or
    /// only calls whose answers say nothing of the venue's health) must not leave the breaker
    /// half-open: every later caller would wait on it for ever. It reopens as due, so the next
    /// caller probes.
    async fn end_probe(&self) {
        let name = &self.settings.exchange_name;
        let Ok(stored) = self.ports.breakers.load(name).await else {
            return;
        };
        let now = self.now();
        self.saw_breaker(stored, now);
        if stored.state == BreakerState::HalfOpen {
            let due = BreakerState::Open { until_ms: now };
            match self.ports.breakers.save(name, due, stored.version).await {
                Ok(BreakerSave::Saved(b) | BreakerSave::Conflict(b)) => self.saw_breaker(b, now),
                Err(e) => warn!(error = %e, "could not end the circuit breaker's probe"),
            }
        }
    }

    async fn claim_and_execute(&self, intent: &OrderIntent, inv: &Invocation) -> Step<Decided> {
        let exchange = self.exchange_for(intent).await?;
        let ex = exchange.as_ref();
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
                self.finish(
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
                OrderStatus::Placed | OrderStatus::PartiallyFilled => {
                    self.follow_up(ex, record).await
                }
                s if s.is_final() => done("already final"),
                _ => done("not claimable"),
            },
            ClaimOutcome::NotFound => {
                warn!("no ledger record for this intent: not placed from the message alone");
                done("unknown order")
            }
        }
    }

    /// While the breaker is open, nothing is sent to the exchange. True when this caller is
    /// the half-open breaker's probe.
    async fn breaker_permit(&self) -> Step<bool> {
        let name = &self.settings.exchange_name;
        let now = self.now();
        if self
            .recent_breaker(now)
            .is_some_and(|b| matches!(b.state, BreakerState::Closed { .. }))
        {
            return Ok(false);
        }
        let stored = self
            .ports
            .breakers
            .load(name)
            .await
            .map_err(|e| self.store_retry(&e))?;
        self.saw_breaker(stored, now);
        match stored.state.permit(now) {
            (BreakerPermit::Allowed, _) => Ok(false),
            (BreakerPermit::Rejected { retry_at_ms }, _) => Err(Retry {
                delay_secs: secs_until(retry_at_ms, now),
                reason: "circuit breaker open".into(),
            }),
            (BreakerPermit::Probe, half_open) => {
                match self
                    .ports
                    .breakers
                    .save(name, half_open, stored.version)
                    .await
                    .map_err(|e| self.store_retry(&e))?
                {
                    BreakerSave::Saved(b) => {
                        self.saw_breaker(b, now);
                        info!("circuit breaker half-open: this order is the probe");
                        Ok(true)
                    }
                    BreakerSave::Conflict(b) => {
                        self.saw_breaker(b, now);
                        Err(Retry {
                            delay_secs: 1,
                            reason: "another invocation is probing the exchange".into(),
                        })
                    }
                }
            }
        }
    }

    /// Records an exchange outcome in the shared breaker.
    async fn breaker_outcome(&self, failed: bool, open_until: Option<EpochMillis>) {
        let name = &self.settings.exchange_name;
        let now = self.now();
        // A success that leaves the breaker as it was seen a moment ago changes nothing.
        if !failed
            && open_until.is_none()
            && self
                .recent_breaker(now)
                .is_some_and(|b| b.state.on_success() == b.state)
        {
            return;
        }
        for _ in 0..3 {
            let Ok(stored) = self.ports.breakers.load(name).await else {
                return;
            };
            self.saw_breaker(stored, now);
            let next = match (failed, open_until) {
                (_, Some(until)) => BreakerState::Open { until_ms: until },
                (true, None) => stored.state.on_failure(self.settings.breaker, self.now()),
                (false, None) => stored.state.on_success(),
            };
            if next == stored.state {
                return;
            }
            match self.ports.breakers.save(name, next, stored.version).await {
                Ok(BreakerSave::Saved(saved)) => {
                    self.saw_breaker(saved, now);
                    if next.is_open() && !stored.state.is_open() {
                        warn!(state = ?next, "circuit breaker opened");
                    }
                    return;
                }
                Ok(BreakerSave::Conflict(current)) => {
                    self.saw_breaker(current, now);
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "could not save the circuit breaker");
                    return;
                }
            }
        }
    }

    async fn filters(
        &self,
        ex: &dyn Exchange,
        intent: &OrderIntent,
    ) -> Result<MarketFilters, ExchangeError> {
        let now = self.now();
        let name = &self.settings.exchange_name;
        if let Ok(Some(f)) = self.ports.filters.filters(name, &intent.symbol, now).await {
            return Ok(f);
        }
        let f = ex.market_filters(&intent.symbol).await?;
        if let Err(e) = self.ports.filters.put_filters(name, &f, now).await {
            warn!(error = %e, "could not cache market filters");
        }
        Ok(f)
    }

    /// The order is ours (PLACING): look it up if an earlier attempt may have placed it, else
    /// check the book and place it.
    async fn execute(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = &record.intent;
        if record.attempts > 1 {
            match ex.order(&intent.symbol, &intent.client_order_id).await {
                Ok(report) => {
                    info!(status = ?report.status, "an earlier attempt placed it: recovered by client order id");
                    return self.on_report(record, &report).await;
                }
                Err(ExchangeError::NotFound { .. }) => {}
                Err(e) => return Err(self.exchange_failure(&record, e).await),
            }
        }
        let remaining = intent.quantity - record.filled_qty;
        let filters = match self.filters(ex, intent).await {
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
                self.release(
                    &record,
                    OrderStatus::Queued,
                    Some(format!(
                        "book too thin: {visible} visible within budget, {needed} needed"
                    )),
                )
                .await?;
                info!(%visible, %needed, delay_secs = delay, "queued: book too thin within the slippage budget");
                Err(Retry {
                    delay_secs: delay,
                    reason: "book too thin".into(),
                })
            }
            ExecutionDecision::Dust { quantity } => {
                self.finish(&record, OrderStatus::Rejected, &format!("remainder {quantity} is below the exchange's minimums at the current price"))
                    .await?;
                done("dust")
            }
            ExecutionDecision::Place { price, quantity } => {
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
                match placed {
                    Ok(report) => {
                        self.ports.metrics.execution_attempt(false, Some(latency));
                        self.breaker_outcome(false, None).await;
                        info!(%price, %quantity, latency_ms = latency, "placed");
                        self.on_report(record, &report).await
                    }
                    Err(ExchangeError::StatusUnknown { reason })
                    | Err(ExchangeError::Duplicate { message: reason }) => {
                        warn!(%reason, "placement status unknown: looking the order up by client order id");
                        self.ports.metrics.execution_attempt(true, Some(latency));
                        self.breaker_outcome(true, None).await;
                        match ex.order(&intent.symbol, &intent.client_order_id).await {
                            Ok(report) => self.on_report(record, &report).await,
                            Err(e) => Err(self.exchange_failure(&record, e).await),
                        }
                    }
                    Err(ExchangeError::Rejected { code, message }) => {
                        self.ports.metrics.execution_attempt(true, Some(latency));
                        self.finish(
                            &record,
                            OrderStatus::Rejected,
                            &format!("exchange rejected ({code}): {message}"),
                        )
                        .await?;
                        done("rejected")
                    }
                    Err(e) => {
                        self.ports.metrics.execution_attempt(true, Some(latency));
                        Err(self.exchange_failure(&record, e).await)
                    }
                }
            }
        }
    }

    /// An exchange error while we hold the order: release it (QUEUED) and retry later.
    async fn exchange_failure(&self, record: &OrderRecord, e: ExchangeError) -> Retry {
        let now = self.now();
        let (delay, open_until) = match &e {
            ExchangeError::RateLimited { retry_after_ms } => {
                self.ports.metrics.rate_limit_hit();
                let until = now + i64::try_from(*retry_after_ms).unwrap_or(i64::MAX / 2);
                (secs_until(until, now), Some(until))
            }
            ExchangeError::Banned { until_ms } => {
                self.ports.metrics.rate_limit_hit();
                (secs_until(*until_ms, now), Some(*until_ms))
            }
            _ => (self.backoff(record.attempts.max(1)), None),
        };
        let venue_trouble = matches!(
            e,
            ExchangeError::StatusUnknown { .. }
                | ExchangeError::Retryable { .. }
                | ExchangeError::Malformed { .. }
        );
        if venue_trouble || open_until.is_some() {
            self.breaker_outcome(true, open_until).await;
        }
        if matches!(e, ExchangeError::Auth { .. }) {
            error!(error = %e, "exchange refused our credentials: an operator must act");
        }
        if record.status == OrderStatus::Placing {
            if let Err(r) = self
                .release(record, OrderStatus::Queued, Some(e.to_string()))
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

    /// Moves a claimed order back to a waiting state (or on), releasing the claim.
    async fn release(
        &self,
        record: &OrderRecord,
        to: OrderStatus,
        error: Option<String>,
    ) -> Step<()> {
        let t = Transition {
            expected_version: record.version,
            to,
            update: OrderUpdate {
                exchange_order_id: None,
                last_error: error,
            },
            now_ms: self.now(),
        };
        match self
            .ports
            .ledger
            .transition(&record.key(), &t)
            .await
            .map_err(|e| self.store_retry(&e))?
        {
            TransitionOutcome::Applied(_) => Ok(()),
            TransitionOutcome::Conflict(current) => {
                warn!(current = %current.status, wanted = %to, "order moved on meanwhile");
                Ok(())
            }
            TransitionOutcome::NotFound => Ok(()),
        }
    }

    /// Moves an order to a final state without fills, and reports it.
    async fn finish(&self, record: &OrderRecord, to: OrderStatus, reason: &str) -> Step<()> {
        self.release(record, to, Some(reason.to_owned())).await?;
        if to == OrderStatus::Rejected {
            warn!(%reason, "rejected");
        }
        let q = execution_quality(
            &record.intent,
            record.filled_qty,
            record.cumulative_quote_qty,
        );
        self.ports.metrics.order_final(to, &q);
        Ok(())
    }

    /// Records what the exchange reports of the order, and follows it up if it is still open.
    async fn on_report(&self, record: OrderRecord, report: &OrderReport) -> Step<Decided> {
        let record = self.apply_report(record, report).await?;
        if record.status.is_final() {
            return done("final");
        }
        Ok(follow_up_of(&record, "placed; follow-up queued"))
    }

    /// Applies an exchange report to the ledger; returns the record as stored.
    async fn apply_report(&self, record: OrderRecord, report: &OrderReport) -> Step<OrderRecord> {
        let now = self.now();
        let key = record.key();
        let progress = match report_change(&record, report, now) {
            ReportChange::Unchanged => return Ok(record),
            ReportChange::Placed(t) => {
                return match self
                    .ports
                    .ledger
                    .transition(&key, &t)
                    .await
                    .map_err(|e| self.store_retry(&e))?
                {
                    TransitionOutcome::Applied(r) | TransitionOutcome::Conflict(r) => Ok(r),
                    TransitionOutcome::NotFound => Ok(record),
                };
            }
            ReportChange::Progress(p) => p,
        };
        let stored = match self
            .ports
            .ledger
            .apply_fill(&key, &progress, now)
            .await
            .map_err(|e| self.store_retry(&e))?
        {
            FillOutcome::Applied(r) => {
                info!(status = %r.status, filled = %r.filled_qty, "fills recorded");
                if r.status.is_final() {
                    let q = execution_quality(&r.intent, r.filled_qty, r.cumulative_quote_qty);
                    self.ports.metrics.order_final(r.status, &q);
                }
                r
            }
            FillOutcome::AlreadyApplied(r) | FillOutcome::Conflict(r) => r,
            FillOutcome::NotFound => record,
        };
        Ok(stored)
    }

    /// A placed order comes back: record its fills; at its deadline cancel it; when the book has
    /// moved away, cancel and re-price only the remainder as the next leg.
    async fn follow_up(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = record.intent.clone();
        let report = match ex.order(&intent.symbol, &intent.client_order_id).await {
            Ok(r) => r,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let record = self.apply_report(record, &report).await?;
        // Final on the exchange is final here even when the ledger no longer has the record
        // (a follow-up carries its own copy; the ledger's expires after the order ends).
        if record.status.is_final() || ledger_status(report.status).is_final() {
            return done("final");
        }
        let now = self.now();
        if now >= intent.expires_at_ms {
            let record = match self.confirm(record).await? {
                Ok(r) => r,
                Err(decided) => return Ok(decided),
            };
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
            let record = self.apply_report(record, &cancelled).await?;
            info!(filled = %record.filled_qty, "cancelled at its deadline");
            return done("cancelled at deadline");
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
            crate::Side::Buy => book.best_bid().is_some_and(|b| b > report.price),
            crate::Side::Sell => book.best_ask().is_some_and(|a| a < report.price),
        };
        if !behind {
            return Ok(follow_up_of(&record, "resting; follow-up queued"));
        }
        let filters = match self.filters(ex, &intent).await {
            Ok(f) => f,
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let remaining = intent.quantity - record.filled_qty;
        let ExecutionDecision::Place { .. } = decide_execution(&intent, remaining, &book, &filters)
        else {
            // Cannot re-price within budget now: keep resting and look again.
            return Ok(follow_up_of(
                &record,
                "resting; cannot re-price within budget",
            ));
        };
        let record = match self.confirm(record).await? {
            Ok(r) => r,
            Err(decided) => return Ok(decided),
        };
        let cancelled = match ex
            .cancel_order(&intent.symbol, &intent.client_order_id)
            .await
        {
            Ok(r) => r,
            Err(ExchangeError::NotFound { .. }) => {
                return Err(Retry {
                    delay_secs: 1,
                    reason: "order changed while re-pricing".into(),
                });
            }
            Err(e) => return Err(self.exchange_failure(&record, e).await),
        };
        let record = self.apply_report(record, &cancelled).await?;
        let remaining = intent.quantity - record.filled_qty;
        if remaining <= Decimal::ZERO {
            return done("filled while re-pricing");
        }
        let next = OrderIntent {
            client_order_id: ClientOrderId::derive(
                &intent.portfolio_id,
                &intent.cycle_id,
                &intent.symbol,
                intent.side,
                intent.leg + 1,
            ),
            leg: intent.leg + 1,
            quantity: filters.round_quantity(remaining),
            created_at_ms: now,
            ..intent.clone()
        };
        if next.quantity.is_zero() {
            return done("remainder is dust");
        }
        match self
            .ports
            .ledger
            .record(&next, now)
            .await
            .map_err(|e| self.store_retry(&e))?
        {
            RecordOutcome::Recorded(_) | RecordOutcome::AlreadyRecorded(_) => {}
        }
        match self
            .ports
            .queue
            .send(&[IntentEnvelope::new(next.clone())], 0)
            .await
        {
            Ok(r) if r.failed.is_empty() => {}
            // The new leg is PENDING in the ledger; the scheduler re-sends stale pending orders.
            Ok(r) => warn!(failed = ?r.failed, "re-priced leg not queued yet"),
            Err(e) => warn!(error = %e, "re-priced leg not queued yet"),
        }
        info!(leg = next.leg, remaining = %next.quantity, "book moved: remainder re-priced as the next leg");
        done("re-priced")
    }

    /// The ledger's record before an order is cancelled or re-priced: never on what a message
    /// alone says (a follow-up carries a copy). `Err` is what to do instead: nothing when the
    /// ledger does not know the order or has it final, or a follow-up with the ledger's copy
    /// when the message's differs.
    async fn confirm(&self, copy: OrderRecord) -> Step<Result<OrderRecord, Decided>> {
        let stored = self
            .ports
            .ledger
            .order(&copy.key())
            .await
            .map_err(|e| self.store_retry(&e))?;
        Ok(match stored {
            None => {
                warn!("no ledger record for this order: nothing cancelled or re-priced from the message alone");
                Err(MessageOutcome::Done("unknown order").into())
            }
            Some(r) if r.status.is_final() => Err(MessageOutcome::Done("final").into()),
            Some(r) if r.intent != copy.intent => {
                warn!("the message's copy of the order differs from the ledger's: following up the ledger's");
                Err(follow_up_of(&r, "follow-up corrected from the ledger"))
            }
            Some(r) => Ok(r),
        })
    }
}

/// Done once the follow-up of `record` (still open on the exchange) is queued.
fn follow_up_of(record: &OrderRecord, note: &'static str) -> Decided {
    Decided::FollowUp {
        envelope: Box::new(IntentEnvelope::follow_up(record)),
        note,
    }
}

fn secs_until(at_ms: EpochMillis, now: EpochMillis) -> u32 {
    u32::try_from(((at_ms - now).max(0) + 999) / 1000)
        .unwrap_or(u32::MAX)
        .max(1)
}
