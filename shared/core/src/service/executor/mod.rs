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

mod follow_up;
mod place;

use std::collections::HashMap;

use tracing::{error, info, warn, Instrument};

use super::guard::Breakers;
use super::FollowUp;
use crate::control::Stop;
use crate::orders::{IntentEnvelope, OrderRecord, OrderTracker, TrackError};
use crate::ports::{Ports, RetryBackoff, StoreError, Venue};
use crate::{BreakerConfig, ClientOrderId, EpochMillis, OrderIntent};

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
    /// The venue of the deployment's default account: its breaker is read with the halt.
    pub venue: Venue,
    pub backoff: RetryBackoff,
    pub breaker: BreakerConfig,
    /// Who follows a resting order: this executor with delayed messages, or the scheduler.
    pub follow_up: FollowUp,
    /// How long after placement a resting order is checked again (with [`FollowUp::Messages`]),
    /// and how often a buy waiting for its cycle's sells or a held message looks again.
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
            venue: Venue::Binance,
            backoff: RetryBackoff::default(),
            breaker: BreakerConfig::default(),
            follow_up: FollowUp::default(),
            follow_up_delay_secs: 30,
            book_depth: 20,
            breaker_reuse_ms: 2_000,
        }
    }
}

pub struct Executor {
    ports: Ports,
    settings: ExecutorSettings,
    tracker: OrderTracker,
    breakers: Breakers,
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
#[derive(Clone)]
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
    pub fn new(ports: Ports, settings: ExecutorSettings) -> Self {
        let (tracker, breakers) =
            super::lifecycle(&ports, settings.breaker, settings.breaker_reuse_ms);
        Self {
            ports,
            settings,
            tracker,
            breakers,
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
        let mut outcomes = Vec::with_capacity(bodies.len());
        // Per message, the order whose requeue it waits on.
        let mut waiting: Vec<Option<ClientOrderId>> = Vec::with_capacity(bodies.len());
        // The latest requeue per order: a message delivered twice in a batch starts one chain
        // of follow-ups, not two.
        let mut requeues: Vec<(ClientOrderId, IntentEnvelope, u32)> = Vec::new();
        let mut kinds: HashMap<ClientOrderId, &'static str> = HashMap::new();
        // The halt and the breaker, read together once, by the first message that needs them:
        // an intent claimed in the one request that checks them does not.
        let mut controls: Option<Result<Option<Stop>, Retry>> = None;
        for body in bodies {
            let decided = match self.claim_if_clear(body, invocation, &mut controls).await {
                Some(decided) => decided,
                None => match self.controls(&mut controls).await {
                    Ok(Some(halt)) => self.hold(body, &halt),
                    Ok(None) => self.handle_one(body, invocation).await,
                    Err(retry) => MessageOutcome::from(retry).into(),
                },
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

    /// The halt (and the default venue's breaker, for the guard), read once per batch.
    async fn controls(
        &self,
        read: &mut Option<Result<Option<Stop>, Retry>>,
    ) -> Result<Option<Stop>, Retry> {
        if let Some(known) = read {
            return known.clone();
        }
        let state = self
            .ports
            .store
            .controls
            .read(self.settings.venue.as_str())
            .await;
        let now_read = match state {
            Ok(state) => {
                self.breakers
                    .of(self.settings.venue)
                    .check_read(state.breaker);
                Ok(state.halt)
            }
            Err(e) => {
                warn!(error = %e, "cannot read the halt and the breaker: the message comes back");
                Err(self.store_retry(&e))
            }
        };
        *read = Some(now_read.clone());
        now_read
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
        let span = order_span(&envelope.intent);
        async move { settled(self.handle_intent(envelope, invocation).await) }
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
}

/// A step's outcome as what the message comes to: a failure sends it back for a later attempt.
fn settled(step: Step<Decided>) -> Decided {
    match step {
        Ok(decided) => decided,
        Err(retry) => {
            warn!(delay_secs = retry.delay_secs, reason = %retry.reason, "retry later");
            MessageOutcome::from(retry).into()
        }
    }
}

/// What every log line of an order's handling carries.
fn order_span(intent: &OrderIntent) -> tracing::Span {
    tracing::info_span!(
        "order",
        portfolio = %intent.portfolio_id,
        cycle = %intent.cycle_id,
        client_order_id = %intent.client_order_id,
        symbol = %intent.symbol,
        side = %intent.side,
    )
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
