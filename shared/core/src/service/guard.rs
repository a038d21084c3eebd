//! The shared circuit breaker in front of every exchange call of both functions.
//!
//! [`BreakerGuard::guard`] wraps an exchange client: before each call it asks the breaker (the
//! state shared in the store, read at most once per `reuse_ms` while closed, and not at all
//! while a cooldown or ban this container knows of runs), and refuses the call with
//! [`ExchangeError::BreakerOpen`] without sending anything while it is open; after each call it
//! records what the answer says of the venue ([`VenueHealth`]). The first call after a cooldown
//! is the probe: it owns the breaker until its deadline, so a probe that dies lapses and the
//! next caller probes instead. The rule itself is `core::breaker`.
//!
//! The container whose conditional write opens the breaker (from closed) or closes it tells
//! the owner ([`Notice::BreakerOpened`], [`Notice::BreakerClosed`]): one message per
//! transition, however many containers see it. A cooldown that is extended, or a probe that
//! fails and opens it again, is part of the same outage and tells nobody.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tracing::{info, warn};

use crate::breaker::VenueHealth;
use crate::notify::{BreakerCause, Notice};
use crate::ports::{
    BreakerSave, BreakerStore, Clock, Exchange, ExchangeAnswer, ExchangeCall, ExchangeError,
    ExchangeLayer, Layered, Notifier, RandomSource, StoreError, Venue, VersionedBreaker,
};
use crate::{BreakerConfig, BreakerPermit, BreakerState, EpochMillis};

/// One venue's breaker as this container sees it.
pub struct BreakerGuard {
    store: Arc<dyn BreakerStore>,
    clock: Arc<dyn Clock>,
    venue: String,
    config: BreakerConfig,
    /// How long a closed breaker read from the store is trusted here, so a batch reads it once
    /// rather than per call. Another container's opening reaches this one at most this late;
    /// this container's own failures count at once.
    reuse_ms: i64,
    /// Names this container's probes, so only the probe that opened a half-open breaker's
    /// round can close it.
    instance: String,
    probes: AtomicU64,
    seen: Mutex<Option<(VersionedBreaker, EpochMillis)>>,
    notifier: Arc<dyn Notifier>,
}

impl BreakerGuard {
    pub fn new(
        store: Arc<dyn BreakerStore>,
        clock: Arc<dyn Clock>,
        random: &dyn RandomSource,
        venue: impl Into<String>,
        config: BreakerConfig,
        reuse_ms: i64,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Self {
            store,
            clock,
            venue: venue.into(),
            config,
            reuse_ms,
            instance: format!("{:016x}", random.next_u64()),
            probes: AtomicU64::new(0),
            seen: Mutex::new(None),
            notifier,
        }
    }

    /// `inner` with every call behind this breaker.
    pub fn guard(self: &Arc<Self>, inner: Arc<dyn Exchange>) -> Arc<dyn Exchange> {
        Arc::new(Layered(Guarded {
            inner,
            guard: self.clone(),
        }))
    }

    /// Whether requests may go now, without taking the probe: `None` to go on (a due probe is
    /// taken by the first call), or when to look again. A caller checks before work that
    /// costs writes (a claim) and would be undone by a refused call.
    ///
    /// # Errors
    /// [`StoreError`] when the shared state cannot be read.
    pub async fn check(&self) -> Result<Option<EpochMillis>, StoreError> {
        let now = self.clock.now_ms();
        if let Some(known) = self.known(now) {
            return Ok(match known {
                BreakerPermit::Rejected { retry_at_ms } => Some(retry_at_ms),
                _ => None,
            });
        }
        let stored = self.store.load(&self.venue).await?;
        let permit = stored.state.permit(now);
        self.saw(stored, now);
        Ok(match permit {
            BreakerPermit::Rejected { retry_at_ms } => Some(retry_at_ms),
            BreakerPermit::Allowed | BreakerPermit::Probe => None,
        })
    }

    /// Whether requests may go now, from a state just read with the halt (one read for both at
    /// the start of an invocation); as [`Self::check`].
    pub fn check_read(&self, stored: VersionedBreaker) -> Option<EpochMillis> {
        let now = self.clock.now_ms();
        let permit = stored.state.permit(now);
        self.saw(stored, now);
        match permit {
            BreakerPermit::Rejected { retry_at_ms } => Some(retry_at_ms),
            BreakerPermit::Allowed | BreakerPermit::Probe => None,
        }
    }

    /// The breaker was found closed, with no failure counted, at `now` by a request that
    /// checked it on the way (the executor's claim): trusted as a read of it would be. Its
    /// version is not known, and not needed: every write of the breaker reads it first.
    pub fn found_clear(&self, now: EpochMillis) {
        self.saw(
            VersionedBreaker {
                state: BreakerState::default(),
                version: 0,
            },
            now,
        );
    }

    /// The permit this container can give without reading the store: a closed breaker seen
    /// within `reuse_ms`, or a cooldown, ban or live probe that has not ended yet.
    fn known(&self, now: EpochMillis) -> Option<BreakerPermit> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (breaker, at) = seen.as_ref()?;
        let fresh = now - at < self.reuse_ms;
        match &breaker.state {
            BreakerState::Closed { .. } if fresh => Some(BreakerPermit::Allowed),
            // Only a probe closes it, and none may run before the cooldown ends.
            BreakerState::Open { until_ms } if now < *until_ms => Some(BreakerPermit::Rejected {
                retry_at_ms: *until_ms,
            }),
            BreakerState::HalfOpen { .. } if fresh => match breaker.state.permit(now) {
                rejected @ BreakerPermit::Rejected { .. } => Some(rejected),
                _ => None,
            },
            _ => None,
        }
    }

    fn saw(&self, breaker: VersionedBreaker, now: EpochMillis) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some((breaker, now));
    }

    fn seen_clean(&self, now: EpochMillis) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.as_ref()
            .is_some_and(|(b, at)| now - at < self.reuse_ms && b.state.is_clean())
    }

    /// Before a call: `Ok(None)` to send it, `Ok(Some(token))` to send it as the probe.
    async fn admit(&self) -> Result<Option<String>, ExchangeError> {
        let now = self.clock.now_ms();
        match self.known(now) {
            Some(BreakerPermit::Allowed) => return Ok(None),
            Some(BreakerPermit::Rejected { retry_at_ms }) => {
                return Err(ExchangeError::BreakerOpen { retry_at_ms })
            }
            Some(BreakerPermit::Probe) | None => {}
        }
        let unreadable = |e: StoreError| {
            warn!(error = %e, "circuit breaker state unreadable: nothing sent");
            ExchangeError::BreakerOpen {
                retry_at_ms: now + 1_000,
            }
        };
        let stored = self.store.load(&self.venue).await.map_err(unreadable)?;
        self.saw(stored.clone(), now);
        match stored.state.permit(now) {
            BreakerPermit::Allowed => Ok(None),
            BreakerPermit::Rejected { retry_at_ms } => {
                Err(ExchangeError::BreakerOpen { retry_at_ms })
            }
            BreakerPermit::Probe => {
                let token = format!(
                    "{}-{}",
                    self.instance,
                    self.probes.fetch_add(1, Ordering::Relaxed)
                );
                let probing = BreakerState::probing(&token, now, self.config);
                match self
                    .store
                    .save(&self.venue, probing, stored.version)
                    .await
                    .map_err(unreadable)?
                {
                    BreakerSave::Saved(b) => {
                        self.saw(b, now);
                        info!(venue = %self.venue, probe = %token, "circuit breaker half-open: this request is the probe");
                        Ok(Some(token))
                    }
                    BreakerSave::Conflict(b) => {
                        self.saw(b, now);
                        Err(ExchangeError::BreakerOpen {
                            retry_at_ms: now + 1_000,
                        })
                    }
                }
            }
        }
    }

    /// After a call: records what its answer says of the venue.
    async fn record<T>(&self, probe: Option<&str>, outcome: &Result<T, ExchangeError>) {
        let now = self.clock.now_ms();
        let health = VenueHealth::of(outcome, now);
        if health == VenueHealth::Silent
            || (health == VenueHealth::Answered && probe.is_none() && self.seen_clean(now))
        {
            return;
        }
        for _ in 0..3 {
            let stored = match self.store.load(&self.venue).await {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "could not read the circuit breaker to record an answer");
                    return;
                }
            };
            let next = stored.state.after(health, probe, self.config, now);
            if next == stored.state {
                self.saw(stored, now);
                return;
            }
            match self
                .store
                .save(&self.venue, next.clone(), stored.version)
                .await
            {
                Ok(BreakerSave::Saved(saved)) => {
                    self.saw(saved, now);
                    // This write made the transition: this container tells the owner.
                    let notice = match (&stored.state, &next) {
                        (
                            BreakerState::Closed {
                                consecutive_failures,
                            },
                            BreakerState::Open { until_ms },
                        ) => {
                            warn!(venue = %self.venue, state = ?next, "circuit breaker opened");
                            outcome.as_ref().err().map(|e| Notice::BreakerOpened {
                                venue: self.venue.clone(),
                                cause: cause(e, consecutive_failures + 1),
                                until_ms: *until_ms,
                                at_ms: now,
                            })
                        }
                        (previous, BreakerState::Closed { .. }) if previous.is_open() => {
                            info!(venue = %self.venue, "circuit breaker closed");
                            Some(Notice::BreakerClosed {
                                venue: self.venue.clone(),
                                at_ms: now,
                            })
                        }
                        _ => None,
                    };
                    if let Some(notice) = notice {
                        self.notifier.notify(&notice).await;
                    }
                    return;
                }
                Ok(BreakerSave::Conflict(current)) => self.saw(current, now),
                Err(e) => {
                    warn!(error = %e, "could not save the circuit breaker");
                    return;
                }
            }
        }
    }

    async fn call<T, Fut>(&self, request: Fut) -> Result<T, ExchangeError>
    where
        Fut: Future<Output = Result<T, ExchangeError>> + Send,
        T: Send,
    {
        let probe = self.admit().await?;
        let outcome = request.await;
        self.record(probe.as_deref(), &outcome).await;
        outcome
    }
}

/// Why an answer opened the breaker: `failures` is the count it reached.
fn cause(e: &ExchangeError, failures: u32) -> BreakerCause {
    match e {
        ExchangeError::Banned { .. } => BreakerCause::Banned,
        ExchangeError::RateLimited { retry_after_ms } => BreakerCause::RateLimited {
            retry_after_ms: *retry_after_ms,
        },
        other => BreakerCause::Failures {
            count: failures,
            last_error: other.to_string(),
        },
    }
}

/// The breakers of every venue, one each (keyed in the store by the venue's name): a ban on
/// one venue stops nothing on another.
pub struct Breakers([Arc<BreakerGuard>; Venue::ALL.len()]);

impl Breakers {
    pub fn new(
        store: &Arc<dyn BreakerStore>,
        clock: &Arc<dyn Clock>,
        random: &dyn RandomSource,
        config: BreakerConfig,
        reuse_ms: i64,
        notifier: &Arc<dyn Notifier>,
    ) -> Self {
        Self(Venue::ALL.map(|venue| {
            Arc::new(BreakerGuard::new(
                store.clone(),
                clock.clone(),
                random,
                venue.as_str(),
                config,
                reuse_ms,
                notifier.clone(),
            ))
        }))
    }

    /// The breaker of `venue`.
    pub fn of(&self, venue: Venue) -> &Arc<BreakerGuard> {
        // `Venue::ALL` lists the venues in declaration order, so a venue's index is its place.
        &self.0[venue as usize]
    }

    /// `client` behind its venue's breaker.
    pub fn guard(&self, client: Arc<dyn Exchange>) -> Arc<dyn Exchange> {
        self.of(client.venue()).guard(client)
    }
}

/// An exchange client behind the breaker.
struct Guarded {
    inner: Arc<dyn Exchange>,
    guard: Arc<BreakerGuard>,
}

#[async_trait]
impl ExchangeLayer for Guarded {
    fn venue(&self) -> Venue {
        self.inner.venue()
    }
    async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError> {
        self.guard.call(call.send(self.inner.as_ref())).await
    }
}
