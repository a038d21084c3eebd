//! Following a placed order to a final state: the exchange's report applied, the cancel at the
//! deadline, and the re-price of a remainder as its next leg.

use tracing::{info, warn};

use super::{done, Decided, Executor, Retry, Step};
use crate::orders::{
    decide_execution, ledger_status, left_behind, ExecutionDecision, IntentEnvelope, OrderRecord,
    Repriced,
};
use crate::ports::{Exchange, ExchangeError, OrderReport};
use crate::OrderStatus;
use crate::{PortfolioId, Price};

impl Executor {
    /// A placed order comes back: record its fills; at its deadline cancel it; when the book has
    /// moved away, cancel and re-price only the remainder as the next leg.
    pub(super) async fn follow_up(&self, ex: &dyn Exchange, record: OrderRecord) -> Step<Decided> {
        let intent = record.intent.clone();
        let report = self.report(ex, &record).await?;
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
        if !left_behind(intent.side, &book, report.price) {
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
    pub(super) async fn cancel_at_deadline(
        &self,
        ex: &dyn Exchange,
        copy: OrderRecord,
    ) -> Step<Decided> {
        let record = match self.confirm(ex, copy).await? {
            Ok(r) => r,
            Err(instead) => return instead,
        };
        let Some(cancelled) = self.cancel(ex, &record).await? else {
            // Filled or cancelled meanwhile: read it again next time.
            return Err(Retry {
                delay_secs: 1,
                reason: "order changed while cancelling".into(),
            });
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
    /// at `price` as the next leg ([`crate::orders::OrderTracker::reprice`]), on the ledger's
    /// record.
    pub(super) async fn reprice(
        &self,
        ex: &dyn Exchange,
        copy: OrderRecord,
        price: Price,
    ) -> Step<Decided> {
        let record = match self.confirm(ex, copy).await? {
            Ok(r) => r,
            Err(instead) => return instead,
        };
        match self.tracker.reprice(ex, record.clone(), price).await {
            Ok(Ok(repriced)) => repriced_outcome(repriced),
            Ok(Err(Some(current))) if current.status.is_final() => done("final"),
            Ok(Err(Some(current))) => {
                Ok(self.follow_up_of(&current, "follow-up corrected from the ledger"))
            }
            Ok(Err(None)) => done("unknown order"),
            Err(e) => Err(self.track_retry(&record, e).await),
        }
    }

    /// Takes up a re-price an earlier attempt started (the record is `REPRICING`).
    pub(super) async fn resume_reprice(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
    ) -> Step<Decided> {
        let report = self.report(ex, &record).await?;
        self.finish_reprice(ex, record, report, None).await
    }

    pub(super) async fn finish_reprice(
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
            Ok(repriced) => repriced_outcome(repriced),
            Err(e) => Err(self.track_retry(&record, e).await),
        }
    }

    /// The ledger's record before an order is cancelled or re-priced: never on what a message
    /// alone says (a follow-up carries a copy). `Err` is what to do instead: nothing when the
    /// ledger does not know the order or has it final, a follow-up with the ledger's copy when
    /// the message's differs, the rest of a re-price already under way.
    pub(super) async fn confirm(
        &self,
        ex: &dyn Exchange,
        copy: OrderRecord,
    ) -> Step<Result<OrderRecord, Step<Decided>>> {
        let stored = self
            .ports
            .store
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

    /// Whether the portfolio is paused; one no longer configured (removed), or whose config
    /// cannot be read, counts as paused (the order keeps resting and is looked at again at its
    /// next follow-up; the ledger would not record a next leg for it anyway).
    pub(super) async fn paused(&self, id: &PortfolioId) -> bool {
        match self.ports.store.configs.portfolio(id).await {
            Ok(stored) => stored.is_none_or(|p| p.paused.is_some()),
            Err(e) => {
                warn!(error = %e, "portfolio config unreadable: not re-priced now");
                true
            }
        }
    }

    /// Done once the follow-up of `record` (still open on the exchange) is queued.
    pub(super) fn follow_up_of(&self, record: &OrderRecord, note: &'static str) -> Decided {
        Decided::Requeue {
            envelope: Box::new(IntentEnvelope::follow_up(record)),
            delay_secs: self.settings.follow_up_delay_secs,
            what: "follow-up",
            note,
        }
    }

    /// The exchange's report of `record`'s order, looked up by its client order id.
    async fn report(&self, ex: &dyn Exchange, record: &OrderRecord) -> Step<OrderReport> {
        let intent = &record.intent;
        match ex.order(&intent.symbol, &intent.client_order_id).await {
            Ok(r) => Ok(r),
            Err(e) => Err(self.exchange_failure(record, e).await),
        }
    }

    /// Cancels `record`'s order: the exchange's report of the cancel, or `None` when the
    /// exchange no longer has it open (filled or cancelled meanwhile).
    async fn cancel(&self, ex: &dyn Exchange, record: &OrderRecord) -> Step<Option<OrderReport>> {
        let intent = &record.intent;
        match ex
            .cancel_order(&intent.symbol, &intent.client_order_id)
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(ExchangeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.exchange_failure(record, e).await),
        }
    }
}

fn repriced_outcome(repriced: Repriced) -> Step<Decided> {
    match repriced {
        Repriced::NextLeg(_) => done("re-priced"),
        Repriced::Nothing(why) => done(why),
        Repriced::StillOpen => Err(Retry {
            delay_secs: 1,
            reason: "the cancel has not taken yet".into(),
        }),
    }
}
