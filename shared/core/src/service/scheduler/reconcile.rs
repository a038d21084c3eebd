//! Reconciling a portfolio's open orders with the exchange before it is planned: pending
//! intents past their deadline closed, resting orders brought up to date through the tracker.

use tracing::{info, warn};

use super::{AccountClients, CycleError, Scheduler};
use crate::orders::{decide_execution, ledger_status, left_behind, ExecutionDecision, OrderRecord};
use crate::ports::{Exchange, ExchangeError, OrderReport, StoreError};
use crate::service::FollowUp;
use crate::{OrderStatus, PortfolioId};

impl Scheduler {
    /// Brings every order not yet final up to date with the exchange: records fills, cancels
    /// resting orders past their deadline, expires queued ones past theirs, finishes re-prices
    /// an executor left half done, and re-sends pending ones whose message was probably lost.
    /// Returns how many records changed. Stops at once when the breaker refuses a call.
    ///
    /// With [`FollowUp::Reconcile`] this is where a resting order is followed: besides the
    /// above, one the market has left behind is re-priced, and an order an executor placed and
    /// left `PLACING` is found by its client order id.
    ///
    /// `planned` is false for a paused portfolio: its orders are brought up to date and
    /// cancelled or expired at their deadlines, but nothing new goes to the exchange for it:
    /// no re-price, no re-send (a lost message is re-sent by a cycle after the resume).
    pub(super) async fn reconcile(
        &self,
        clients: &mut AccountClients,
        id: &PortfolioId,
        planned: bool,
    ) -> Result<usize, CycleError> {
        let reprice = planned && self.settings.follow_up == FollowUp::Reconcile;
        let now = self.now();
        let mut changed = 0;
        let mut resend = Vec::new();
        for record in self.ports.store.ledger.open_orders(id).await? {
            let intent = record.intent.clone();
            // The order's own account, even one the portfolio no longer lists.
            let ex = match clients.of(intent.account.as_deref()) {
                Some(ex) => ex,
                None => {
                    let ex = self.breakers.guard(
                        self.ports
                            .exchanges
                            .exchange(intent.account.as_deref())
                            .await?,
                    );
                    clients.add(intent.account.clone(), ex.clone());
                    ex
                }
            };
            let ex = ex.as_ref();
            let expired = now >= intent.expires_at_ms;
            let outcome: Result<bool, CycleError> = match record.status {
                OrderStatus::Pending | OrderStatus::Queued if expired => {
                    Ok(self.expire_unplaced(&record).await?)
                }
                OrderStatus::Pending
                    if now - record.updated_at_ms > self.settings.stale_pending_ms =>
                {
                    resend.push(intent.clone());
                    Ok(false)
                }
                OrderStatus::Placing if record.claim_expires_at_ms.is_some_and(|e| e < now) => {
                    // Its executor died mid-flight: the exchange says whether it was placed.
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => self.follow(ex, record, report, expired, reprice).await,
                        Err(ExchangeError::NotFound { .. }) if expired => {
                            Ok(self.expire_unplaced(&record).await?)
                        }
                        Err(ExchangeError::NotFound { .. }) => {
                            resend.push(intent.clone());
                            Ok(false)
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                OrderStatus::Placed | OrderStatus::PartiallyFilled => {
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => self.follow(ex, record, report, expired, reprice).await,
                        Err(e) => Err(e.into()),
                    }
                }
                OrderStatus::Repricing => {
                    match ex.order(&intent.symbol, &intent.client_order_id).await {
                        Ok(report) => {
                            info!(client_order_id = %intent.client_order_id, "finishing a re-price an executor left half done");
                            self.tracker
                                .finish_reprice(ex, record, report, None)
                                .await
                                .map(|_| true)
                                .map_err(CycleError::from)
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                _ => Ok(false),
            };
            match outcome {
                Ok(c) => changed += usize::from(c),
                Err(CycleError::Exchange(e)) if stops_the_cycle(&e) => {
                    return Err(CycleError::Exchange(e))
                }
                Err(CycleError::Exchange(e)) => {
                    warn!(client_order_id = %intent.client_order_id, error = %e, "cannot reconcile now");
                }
                Err(e) => return Err(e),
            }
        }
        if !planned && !resend.is_empty() {
            info!(
                count = resend.len(),
                "paused: orders whose message was probably lost are re-sent after the resume"
            );
        } else if !resend.is_empty() {
            info!(
                count = resend.len(),
                "re-sending orders whose message was probably lost"
            );
            self.send(&resend).await;
        }
        Ok(changed)
    }

    /// An order never placed whose deadline passed.
    pub(super) async fn expire_unplaced(&self, record: &OrderRecord) -> Result<bool, StoreError> {
        let why = "deadline passed before placement".to_owned();
        self.tracker
            .close(record, OrderStatus::Expired, Some(why))
            .await
    }

    /// An order the exchange has (`report`): its fills recorded; cancelled when past its
    /// deadline; when `reprice` and the market has left it behind, re-priced as its next leg
    /// (the executor's rule: `orders::left_behind`, then priced by `decide_execution`).
    async fn follow(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: OrderReport,
        expired: bool,
        reprice: bool,
    ) -> Result<bool, CycleError> {
        let intent = record.intent.clone();
        let open = !ledger_status(report.status).is_final();
        if expired && open {
            let report = match ex
                .cancel_order(&intent.symbol, &intent.client_order_id)
                .await
            {
                Ok(r) => {
                    info!(client_order_id = %intent.client_order_id, "resting past its deadline: cancelled");
                    r
                }
                Err(e) if stops_the_cycle(&e) => return Err(e.into()),
                Err(e) => {
                    warn!(client_order_id = %intent.client_order_id, error = %e, "cannot cancel now");
                    report
                }
            };
            return self.apply(ex, record, &report).await;
        }
        let before = record.version;
        let record = self.tracker.apply_report(ex, record, &report).await?;
        let changed = record.version != before;
        if !(reprice && open && record.status.is_resting()) {
            return Ok(changed);
        }
        let book = ex
            .order_book(&intent.symbol, self.settings.book_depth)
            .await?;
        if !left_behind(intent.side, &book, report.price) {
            return Ok(changed);
        }
        let filters = self.tracker.filters(ex, &intent.symbol).await?;
        let remaining = intent.quantity - record.filled_qty;
        let ExecutionDecision::Place { price, .. } =
            decide_execution(&intent, remaining, &book, &filters)
        else {
            info!(client_order_id = %intent.client_order_id, "left behind, but cannot re-price within budget now: resting");
            return Ok(changed);
        };
        match self.tracker.reprice(ex, record, price).await? {
            Ok(repriced) => {
                info!(client_order_id = %intent.client_order_id, outcome = ?repriced, "left behind by the market: re-priced");
                Ok(true)
            }
            // The ledger moved on meanwhile (another re-price, a fill): nothing done here.
            Err(_) => Ok(changed),
        }
    }

    /// Applies a report; true when the record changed.
    pub(super) async fn apply(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: &OrderReport,
    ) -> Result<bool, CycleError> {
        let before = record.version;
        let after = self.tracker.apply_report(ex, record, report).await?;
        Ok(after.version != before)
    }
}

/// Whether an exchange error means no further call may be sent in this cycle.
fn stops_the_cycle(e: &ExchangeError) -> bool {
    matches!(
        e,
        ExchangeError::BreakerOpen { .. }
            | ExchangeError::Banned { .. }
            | ExchangeError::RateLimited { .. }
    )
}
