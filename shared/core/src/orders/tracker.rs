//! The order lifecycle both functions share: applying what the exchange reports of an order to
//! its ledger record (with the fees of every fill, resting or not), closing an order that never
//! reached the exchange, the market-filter read-through, and finishing a re-price (the next leg
//! recorded before the cancelled leg is closed, so an order being re-priced is always in flight).
//!
//! The executor calls it after a placement and on each follow-up; the scheduler when it
//! reconciles. Every write is conditional on the stored state, so the two may race on the same
//! order and the ledger still moves once.

use std::sync::Arc;

use rust_decimal::Decimal;
use thiserror::Error;
use tracing::{info, warn};

use crate::orders::{
    execution_quality, fills_cover, ledger_status, leg_quantity, report_change, tally_fees,
    FillOutcome, IntentEnvelope, OrderRecord, OrderUpdate, RecordOutcome, Refusal, ReportChange,
    Transition, TransitionOutcome,
};
use crate::ports::{
    Clock, Exchange, ExchangeError, IntentQueue, MarketFilterCache, MetricsSink, OrderLedger,
    OrderReport, StoreError,
};
use crate::{
    Asset, ClientOrderId, EpochMillis, MarketFilters, OrderIntent, OrderStatus, Price, Symbol,
};

/// Why an order could not be brought up to date; the caller retries later.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("exchange: {0}")]
    Exchange(#[from] ExchangeError),
}

/// Book levels read to price a commission asset that is neither the base nor the quote.
const FEE_PRICE_DEPTH: u16 = 5;

/// The order lifecycle over the ledger, the queue and the filter cache.
#[derive(Clone)]
pub struct OrderTracker {
    pub ledger: Arc<dyn OrderLedger>,
    pub queue: Arc<dyn IntentQueue>,
    pub filters: Arc<dyn MarketFilterCache>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricsSink>,
}

/// How a re-price ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repriced {
    /// The remainder is the next leg, recorded (and queued unless the queue refused: the
    /// scheduler re-sends a pending order whose message was lost).
    NextLeg(Box<OrderIntent>),
    /// Nothing is left to place: filled meanwhile, dust, or past the deadline.
    Nothing(&'static str),
    /// The exchange still shows the order open: the cancel did not take yet.
    StillOpen,
}

impl OrderTracker {
    fn now(&self) -> EpochMillis {
        self.clock.now_ms()
    }

    /// Applies an exchange report to the ledger; returns the record as stored. New fills bring
    /// their fees from the order's fills: the report's own when it carries them all (a
    /// placement's full answer), the exchange's trade list otherwise.
    ///
    /// # Errors
    /// [`TrackError`] when the ledger or the exchange cannot be reached; nothing is written then.
    pub async fn apply_report(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: &OrderReport,
    ) -> Result<OrderRecord, TrackError> {
        let now = self.now();
        let key = record.key();
        let (mut progress, new_fills) = match report_change(&record, report, now) {
            ReportChange::Unchanged => return Ok(record),
            ReportChange::Placed(t) => {
                return Ok(match self.ledger.transition(&key, &t).await? {
                    TransitionOutcome::Applied(r) | TransitionOutcome::Conflict(r) => r,
                    TransitionOutcome::NotFound => record,
                });
            }
            ReportChange::Progress {
                progress,
                new_fills,
            } => (progress, new_fills),
        };
        if new_fills {
            let fills = if fills_cover(&report.fills, report.executed_qty) {
                report.fills.clone()
            } else {
                ex.order_fills(&report.symbol, &report.exchange_order_id)
                    .await?
            };
            let prices = self.fee_asset_prices(ex, &report.symbol, &fills).await;
            let tally = tally_fees(&fills, &report.symbol, |a| {
                prices.iter().find(|(p, _)| p == a).map(|(_, v)| *v)
            });
            if !tally.unpriced.is_empty() {
                warn!(assets = ?tally.unpriced, "fees charged in an asset without a market in the quote: left out of the quote total");
            }
            progress.fees = tally.fees;
            progress.fee_asset = tally.fee_asset;
            progress.fees_quote = tally.fees_quote;
        }
        Ok(match self.ledger.apply_fill(&key, &progress).await? {
            FillOutcome::Applied(r) => {
                info!(status = %r.status, filled = %r.filled_qty, fees_quote = %r.fees_quote, "fills recorded");
                if r.status.is_final() {
                    self.metrics.order_final(r.status, &execution_quality(&r));
                }
                r
            }
            FillOutcome::AlreadyApplied(r) | FillOutcome::Conflict(r) => r,
            FillOutcome::NotFound => record,
        })
    }

    /// The quote price of each commission asset that is neither the base nor the quote (a
    /// venue token paying the fees), from its book's mid; an asset without a market is left out.
    async fn fee_asset_prices(
        &self,
        ex: &dyn Exchange,
        symbol: &Symbol,
        fills: &[crate::ports::Fill],
    ) -> Vec<(Asset, Decimal)> {
        let mut prices: Vec<(Asset, Decimal)> = Vec::new();
        for f in fills {
            let a = &f.commission_asset;
            if f.commission.is_zero()
                || a == symbol.base()
                || a == symbol.quote()
                || prices.iter().any(|(p, _)| p == a)
            {
                continue;
            }
            let Ok(market) = Symbol::new(a.clone(), symbol.quote().clone()) else {
                continue;
            };
            match ex.order_book(&market, FEE_PRICE_DEPTH).await {
                Ok(book) => {
                    if let Some(mid) = book.mid() {
                        prices.push((a.clone(), mid.value()));
                    }
                }
                Err(e) => warn!(asset = %a, error = %e, "cannot price a fee asset"),
            }
        }
        prices
    }

    /// Moves an order that holds no fills to `to` (a waiting state, or a final one such as
    /// `EXPIRED` or `REJECTED` with the reason), and reports a final state. False when the
    /// order had moved on meanwhile.
    ///
    /// # Errors
    /// [`StoreError`] when the ledger cannot be reached.
    pub async fn close(
        &self,
        record: &OrderRecord,
        to: OrderStatus,
        reason: Option<String>,
    ) -> Result<bool, StoreError> {
        let t = Transition {
            expected_version: record.version,
            to,
            update: OrderUpdate {
                exchange_order_id: None,
                last_error: reason,
            },
            now_ms: self.now(),
        };
        match self.ledger.transition(&record.key(), &t).await? {
            TransitionOutcome::Applied(r) => {
                if r.status.is_final() {
                    self.metrics.order_final(r.status, &execution_quality(&r));
                }
                Ok(true)
            }
            TransitionOutcome::Conflict(current) => {
                warn!(current = %current.status, wanted = %to, "order moved on meanwhile");
                Ok(false)
            }
            TransitionOutcome::NotFound => Ok(false),
        }
    }

    /// A symbol's market filters: the cache (warm in the container, shared in the store), else
    /// the exchange (then cached).
    ///
    /// # Errors
    /// [`ExchangeError`] when the filters are not cached and the exchange cannot give them.
    pub async fn filters(
        &self,
        ex: &dyn Exchange,
        symbol: &Symbol,
    ) -> Result<MarketFilters, ExchangeError> {
        let now = self.now();
        // Filters are the venue's, whichever account asks.
        let name = ex.venue().as_str();
        if let Ok(Some(f)) = self.filters.filters(name, symbol, now).await {
            return Ok(f);
        }
        let f = ex.market_filters(symbol).await?;
        if let Err(e) = self.filters.put_filters(name, &f, now).await {
            warn!(error = %e, "could not cache market filters");
        }
        Ok(f)
    }

    /// Re-prices a resting order the market left behind: marks it `REPRICING` (until the next
    /// leg is recorded a cycle sees it in flight and plans nothing for it), cancels it, records
    /// the remainder as the next leg at `price` and queues it, then closes this one. `record`
    /// must be the ledger's; when the ledger's record moved on meanwhile, nothing is done and
    /// the current record (if any) is returned.
    pub async fn reprice(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        price: Price,
    ) -> Result<Result<Repriced, Option<OrderRecord>>, TrackError> {
        let mark = Transition {
            expected_version: record.version,
            to: OrderStatus::Repricing,
            update: OrderUpdate::default(),
            now_ms: self.now(),
        };
        let record = match self.ledger.transition(&record.key(), &mark).await? {
            TransitionOutcome::Applied(r) => r,
            TransitionOutcome::Conflict(current) => return Ok(Err(Some(current))),
            TransitionOutcome::NotFound => return Ok(Err(None)),
        };
        let report = cancelled(ex, &record.intent).await?;
        self.finish_reprice(ex, record, report, Some(price))
            .await
            .map(Ok)
    }

    /// Ends the re-price of `record` (`REPRICING`) from the exchange's `report` of it: cancels
    /// it if it is still open, records the remainder as the next leg (priced at `leg_price`,
    /// else the intent's), queues it, and only then closes this leg, so that a cycle running
    /// meanwhile always finds one of the two in flight. Every step is idempotent: the executor
    /// and the scheduler may both finish the same re-price.
    ///
    /// # Errors
    /// [`TrackError`] when the ledger or the exchange cannot be reached: the record stays
    /// `REPRICING` and the next follow-up or cycle finishes it.
    pub async fn finish_reprice(
        &self,
        ex: &dyn Exchange,
        record: OrderRecord,
        report: OrderReport,
        leg_price: Option<Price>,
    ) -> Result<Repriced, TrackError> {
        let intent = record.intent.clone();
        let report = if ledger_status(report.status).is_final() {
            report
        } else {
            cancelled(ex, &intent).await?
        };
        if !ledger_status(report.status).is_final() {
            return Ok(Repriced::StillOpen);
        }
        let now = self.now();
        let remaining = intent.quantity - report.executed_qty;
        let outcome = if remaining <= Decimal::ZERO {
            Repriced::Nothing("filled while re-pricing")
        } else if now >= intent.expires_at_ms {
            Repriced::Nothing("past its deadline")
        } else {
            let filters = self.filters(ex, &intent.symbol).await?;
            let price = leg_price.unwrap_or(intent.limit_price);
            let quantity = leg_quantity(&intent, remaining, price.value(), &filters);
            if filters.accepts(quantity, price.value()) {
                let next = next_leg(&intent, quantity, price, now);
                match self.ledger.record(&next, now).await? {
                    RecordOutcome::Recorded(_) | RecordOutcome::AlreadyRecorded(_) => {}
                    // The operator stopped it since the re-price began: this leg closes with
                    // what filled, and no next leg is placed.
                    RecordOutcome::Refused(refusal) => {
                        warn!(%refusal, "remainder not re-priced");
                        self.apply_report(ex, record, &report).await?;
                        return Ok(Repriced::Nothing(match refusal {
                            Refusal::Halted => "halted while re-pricing",
                            Refusal::PortfolioStopped => "portfolio paused while re-pricing",
                        }));
                    }
                }
                match self
                    .queue
                    .send(&[IntentEnvelope::new(next.clone())], 0)
                    .await
                {
                    Ok(r) if r.failed.is_empty() => {}
                    Ok(r) => warn!(failed = ?r.failed, "re-priced leg not queued yet"),
                    Err(e) => warn!(error = %e, "re-priced leg not queued yet"),
                }
                info!(leg = next.leg, remaining = %next.quantity, "remainder re-priced as the next leg");
                Repriced::NextLeg(Box::new(next))
            } else {
                Repriced::Nothing("remainder is dust")
            }
        };
        self.apply_report(ex, record, &report).await?;
        Ok(outcome)
    }
}

/// The exchange's report of an order after a cancel: the cancel's, or, when the exchange no
/// longer has it open (filled, or cancelled by an earlier attempt), the order read again.
async fn cancelled(ex: &dyn Exchange, intent: &OrderIntent) -> Result<OrderReport, ExchangeError> {
    match ex
        .cancel_order(&intent.symbol, &intent.client_order_id)
        .await
    {
        Ok(r) => Ok(r),
        Err(ExchangeError::NotFound { .. }) => {
            ex.order(&intent.symbol, &intent.client_order_id).await
        }
        Err(e) => Err(e),
    }
}

/// The intent of the next leg: the remainder of `intent`, a new client order id, the same
/// worst price and deadline.
pub fn next_leg(
    intent: &OrderIntent,
    quantity: Decimal,
    price: Price,
    now: EpochMillis,
) -> OrderIntent {
    OrderIntent {
        client_order_id: ClientOrderId::derive(
            intent.account.as_deref(),
            &intent.portfolio_id,
            &intent.cycle_id,
            &intent.symbol,
            intent.side,
            intent.leg + 1,
        ),
        leg: intent.leg + 1,
        quantity,
        limit_price: price,
        created_at_ms: now,
        ..intent.clone()
    }
}
