//! Taking an intent to the exchange: the claim, the sells a funded buy waits for, the price
//! against the book, the placement and what its report changes.

use std::sync::Arc;

use rust_decimal::Decimal;
use tracing::{error, info, warn, Instrument};

use super::{
    done, requeue, secs_until, Decided, Executor, Invocation, Retry, Step, MAX_SEND_DELAY_SECS,
};
use crate::control::Stop;
use crate::orders::{
    decide_execution, report_change, Claim, ClaimOutcome, ExecutionDecision, IntentEnvelope,
    OrderKey, OrderRecord, ReportChange,
};
use crate::ports::{
    ClearClaim, Exchange, ExchangeError, LimitOrderRequest, OrderReport, TimeInForce,
};
use crate::service::FollowUp;
use crate::{MarketFilters, OrderIntent, OrderStatus};
use crate::{Price, Side};

impl Executor {
    pub(super) async fn handle_intent(
        &self,
        envelope: IntentEnvelope,
        inv: &Invocation,
    ) -> Step<Decided> {
        // The scheduler follows resting orders: a follow-up queued before the deployment
        // changed to that has nothing to do (the ledger has the order as placed).
        if envelope.placed.is_some() && self.settings.follow_up == FollowUp::Reconcile {
            info!("follow-up message: the scheduler follows resting orders");
            return done("followed by the scheduler");
        }
        let ex = self.exchange_for(&envelope.intent).await?;
        // While the venue's breaker is open nothing is claimed or sent, and the message waits as
        // a new one, so a long ban does not walk it to the dead-letter queue.
        if let Some(retry_at) = self
            .breakers
            .of(ex.venue())
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
                self.follow_up(ex.as_ref(), record).await
            }
            placed => {
                if placed.is_some() {
                    warn!("the message's copy of the order is not a resting order: following it up through the ledger");
                }
                self.claim_and_execute(ex.as_ref(), IntentEnvelope::new(envelope.intent), inv)
                    .await
            }
        }
    }

    /// A plain intent's claim in the one request that also finds the deployment not halted
    /// and its venue's breaker clear (`OrderLedger::claim_if_clear`), then its execution.
    /// `None` when it is not such an intent or that request did not claim it: the message
    /// goes the usual way (controls read, then the claim), which decides what to do with it.
    /// A claim refused for the halt forgets the batch's earlier read of the controls.
    pub(super) async fn claim_if_clear(
        &self,
        body: &str,
        inv: &Invocation,
        controls: &mut Option<Result<Option<Stop>, Retry>>,
    ) -> Option<Decided> {
        let envelope = IntentEnvelope::from_json(body).ok()?;
        // A follow-up claims nothing; a buy paid by its cycle's sells first looks at them; and
        // once the batch knows the deployment is halted, no claim is tried.
        if envelope.placed.is_some()
            || envelope.intent.funded_by_sells
            || matches!(controls, Some(Ok(Some(_))))
        {
            return None;
        }
        let intent = envelope.intent;
        let span = super::order_span(&intent);
        async move {
            let ex = self.exchange_for(&intent).await.ok()?;
            let claim = Claim {
                owner: inv.request_id.clone(),
                now_ms: self.now(),
                in_progress_expiry_ms: inv.deadline_ms,
            };
            let venue = ex.venue();
            let record = match self
                .ports
                .store
                .ledger
                .claim_if_clear(&intent, &claim, venue.as_str())
                .await
            {
                Ok(ClearClaim::Claimed(record)) => *record,
                Ok(ClearClaim::NotClear) => return None,
                outcome => {
                    // Halted (or perhaps being halted) since this batch read the controls as not
                    // halted: read them again.
                    if let Err(e) = outcome {
                        warn!(error = %e, "claim with the controls failed: reading them first");
                    }
                    if matches!(controls, Some(Ok(None))) {
                        controls.take();
                    }
                    return None;
                }
            };
            self.breakers.of(venue).found_clear(claim.now_ms);
            Some(super::settled(self.execute(ex.as_ref(), record).await))
        }
        .instrument(span)
        .await
    }

    /// The account's exchange client, behind its venue's breaker.
    pub(super) async fn exchange_for(&self, intent: &OrderIntent) -> Step<Arc<dyn Exchange>> {
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
        Ok(self.breakers.guard(client))
    }

    pub(super) async fn claim_and_execute(
        &self,
        ex: &dyn Exchange,
        envelope: IntentEnvelope,
        inv: &Invocation,
    ) -> Step<Decided> {
        let intent = &envelope.intent;
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
            .store
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
                s if s.is_resting() && self.settings.follow_up == FollowUp::Reconcile => {
                    done("placed; followed by the scheduler")
                }
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
    pub(super) async fn wait_for_sells(&self, envelope: &IntentEnvelope) -> Step<Option<Decided>> {
        let intent = &envelope.intent;
        if self.now() >= intent.expires_at_ms {
            // The claim expires it.
            return Ok(None);
        }
        let open = self
            .ports
            .store
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
    pub(super) async fn close(
        &self,
        record: &OrderRecord,
        to: OrderStatus,
        reason: &str,
    ) -> Step<()> {
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
    pub(super) async fn execute(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
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
    pub(super) async fn affordable(
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
        // Where the venue charges a buy's fee in the quote, the cash pays for that too.
        let unit_cost = record.intent.quote_fee_bps.map_or(price.value(), |bps| {
            crate::money::plus_bps(price.value(), bps)
        });
        let affordable = quantity.min(filters.round_quantity(free / unit_cost));
        if filters.accepts(affordable, price.value()) {
            if affordable < quantity {
                info!(%free, %quantity, %affordable, "buy sized to the cash free after its cycle's sells");
            }
            return Ok(Some(affordable));
        }
        let why = format!(
            "not enough {quote} free after the cycle's sells: {free} free, {} needed",
            quantity * unit_cost
        );
        self.close(record, OrderStatus::Cancelled, &why).await?;
        Ok(None)
    }

    /// Places the claimed order at `price`.
    pub(super) async fn place(
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
            Err(ExchangeError::Rejected { message }) => {
                metrics.execution_attempt(true, Some(latency));
                let why = format!("exchange rejected: {message}");
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
    pub(super) async fn exchange_failure(&self, record: &OrderRecord, e: ExchangeError) -> Retry {
        let now = self.now();
        let delay = match &e {
            ExchangeError::RateLimited { retry_after_ms } => {
                self.ports.metrics.rate_limit_hit();
                let after = i64::try_from(*retry_after_ms).unwrap_or(i64::MAX / 2);
                secs_until(now.saturating_add(after), now)
            }
            ExchangeError::Banned { retry_after_ms } => {
                self.ports.metrics.rate_limit_hit();
                let after = i64::try_from(*retry_after_ms).unwrap_or(i64::MAX / 2);
                secs_until(now.saturating_add(after), now)
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
    pub(super) async fn on_report(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: &OrderReport,
    ) -> Step<Decided> {
        if self.settings.follow_up == FollowUp::Reconcile
            && matches!(
                report_change(&record, report, self.now()),
                ReportChange::Placed(_)
            )
        {
            // Resting, nothing filled: the record stays PLACING (placed or being placed, for the
            // planner alike) and the next cycle's reconcile finds it by client order id.
            info!(exchange_order_id = %report.exchange_order_id, "placed; the scheduler follows it");
            return done("placed; followed by the scheduler");
        }
        let record = match self.tracker.apply_report(ex, record.clone(), report).await {
            Ok(r) => r,
            Err(e) => return Err(self.track_retry(&record, e).await),
        };
        if record.status.is_final() {
            return done("final");
        }
        if self.settings.follow_up == FollowUp::Reconcile {
            return done("placed; followed by the scheduler");
        }
        Ok(self.follow_up_of(&record, "placed; follow-up queued"))
    }
}
