//! Replaying a price path through the real handlers, to calibrate the backtest's execution
//! model against them (docs/BACKTEST.md, "Calibration").
//!
//! The path is piecewise constant: each market's mid holds from one step's time to the next.
//! At each step, on the shared manual clock:
//!
//! 1. the clock moves to the step's time, and the executor looks at every resting order at the
//!    old mids: one whose deadline passed meanwhile is cancelled before the market moves, as
//!    the executor's follow-ups would have done at the deadline;
//! 2. the venue takes one tick (`/admin/advance`: with no random walk the mids stay, and the
//!    depth taken is back in full), then each market's mid is set to the path's price: a
//!    resting order the simulated book now crosses fills as maker at its own price;
//! 3. the executor runs to rest: fills recorded, remainders the market left re-priced, buys
//!    waiting for their cycle's sells placed;
//! 4. the scheduler runs the step's cycle, and the executor runs to rest again: what it
//!    planned is placed.
//!
//! "To rest" needs a world whose follow-ups are not delayed
//! ([`World::start_following`] with 0): [`World::settle_executor`] then invokes the executor
//! until an invocation changes nothing in the ledger, all at one instant of the manual clock.

use std::collections::BTreeMap;

use driftline_core::ports::OrderLedger;
use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::{Asset, EpochMillis, PortfolioId, Side};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::{SandboxError, World};

/// One step of a path: when, and each market's mid from then on (by the venue's symbol,
/// `BTCUSDT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    pub time_ms: EpochMillis,
    pub mids: Vec<(String, Decimal)>,
}

/// One fill of the replayed portfolio's orders, as the paper exchange made it, with the mid
/// the order was planned at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedFill {
    /// The path step at whose time it filled.
    pub step: usize,
    pub asset: Asset,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    /// The commission in the quote asset: as charged when charged in quote (a sell), at the
    /// fill's price when charged in the base asset (a buy: paper venues charge the asset
    /// received).
    pub fee_quote: Decimal,
    pub is_maker: bool,
    /// The mid the scheduler planned the order at (the intent's reference price).
    pub reference_price: Decimal,
    /// 0 for the planned order, 1.. for re-priced remainders.
    pub leg: u32,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Every fill of the portfolio's orders, in the venue's order.
    pub fills: Vec<ReplayedFill>,
    /// The account's holdings at the end (free and locked), by asset.
    pub holdings: BTreeMap<Asset, Decimal>,
    /// Orders the scheduler planned over every cycle.
    pub planned: usize,
    /// Re-priced legs placed (orders with a leg above 0).
    pub repriced: usize,
    /// Orders cancelled at their deadline with something still unfilled.
    pub expired_unfilled: usize,
    /// Fees the ledger recorded, in the quote asset (the executor's own tally).
    pub ledger_fees_quote: Decimal,
}

/// The most executor invocations one settle makes: a step needs a handful.
const MAX_SETTLE_ROUNDS: usize = 20;

impl World {
    /// Invokes the executor (no long poll) until an invocation finds no message or changes
    /// nothing in `portfolio`'s ledger records; the invocations made. Meant for a world whose
    /// follow-ups are not delayed, where every message due is visible at once.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a receive or a delete; [`SandboxError::Replay`]
    /// when the executor has not come to rest after [`MAX_SETTLE_ROUNDS`] invocations.
    pub async fn settle_executor(&self, portfolio: &PortfolioId) -> Result<usize, SandboxError> {
        let mut before = self.ledger_state(portfolio).await?;
        for round in 1..=MAX_SETTLE_ROUNDS {
            let drained = self.executor_round(0).await?;
            if drained.messages == 0 {
                return Ok(round - 1);
            }
            let after = self.ledger_state(portfolio).await?;
            if after == before {
                return Ok(round);
            }
            before = after;
        }
        Err(SandboxError::Replay(format!(
            "the executor still changes the ledger after {MAX_SETTLE_ROUNDS} invocations"
        )))
    }

    /// Each of the portfolio's orders: its client id, status and filled quantity.
    async fn ledger_state(
        &self,
        portfolio: &PortfolioId,
    ) -> Result<Vec<(String, String, Decimal)>, SandboxError> {
        let mut state: Vec<_> = self
            .store
            .orders(portfolio)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.intent.client_order_id.as_str().to_owned(),
                    r.status.as_str().to_owned(),
                    r.filled_qty,
                )
            })
            .collect();
        state.sort();
        Ok(state)
    }

    /// Replays `path` for `portfolio`, whose orders trade on the paper account `account` of the
    /// world's first venue (see the module doc for what happens at each step).
    ///
    /// # Errors
    /// [`SandboxError::Replay`] when the path is empty, a mid cannot be set, the scheduler fails
    /// the portfolio's cycle or a fill cannot be traced to a planned order; the errors of
    /// [`World::settle_executor`].
    pub async fn replay(
        &self,
        portfolio: &str,
        account: &str,
        path: &[PathStep],
    ) -> Result<Replay, SandboxError> {
        let id = PortfolioId::new(portfolio).map_err(|e| SandboxError::Replay(e.to_string()))?;
        if path.is_empty() {
            return Err(SandboxError::Replay("the path has no steps".into()));
        }
        let mut planned = 0;
        for step in path {
            self.clock.set(step.time_ms);
            self.settle_executor(&id).await?;
            self.try_admin_send(
                reqwest::Method::POST,
                "/admin/advance",
                &json!({"ticks": 1}),
            )
            .await?;
            for (symbol, mid) in &step.mids {
                let now = self.now();
                self.venue
                    .with_engine(|e| e.set_mid(symbol, *mid, now))
                    .map_err(|e| SandboxError::Replay(format!("mid of {symbol} to {mid}: {e}")))?;
            }
            self.settle_executor(&id).await?;
            let response = self
                .run_cycle_at(step.time_ms, Value::Object(Default::default()))
                .await?;
            for summary in response
                .portfolios
                .iter()
                .filter(|s| s.portfolio_id == portfolio)
            {
                match &summary.outcome {
                    PortfolioOutcome::Planned { orders, .. } => planned += orders,
                    other => {
                        return Err(SandboxError::Replay(format!(
                            "cycle {} of {portfolio}: {other:?}",
                            response.cycle_id
                        )))
                    }
                }
            }
            self.settle_executor(&id).await?;
        }
        self.replayed(&id, account, path, planned).await
    }

    /// What the venue and the ledger hold for `portfolio` after a replay of `path`.
    async fn replayed(
        &self,
        portfolio: &PortfolioId,
        account: &str,
        path: &[PathStep],
        planned: usize,
    ) -> Result<Replay, SandboxError> {
        let records = self.store.orders(portfolio).await?;
        let by_client_id: BTreeMap<&str, &driftline_core::orders::OrderRecord> = records
            .iter()
            .map(|r| (r.intent.client_order_id.as_str(), r))
            .collect();
        let step_at = |time: EpochMillis| path.iter().rposition(|s| s.time_ms <= time);
        let (venue_fills, orders, holdings) = self.venue.with_engine(|e| {
            let orders: BTreeMap<u64, String> = e
                .orders()
                .filter(|o| o.account == account)
                .map(|o| (o.order_id, o.client_order_id.clone()))
                .collect();
            let holdings: BTreeMap<Asset, Decimal> = e
                .balances(account)
                .map(|b| {
                    b.iter()
                        .map(|(a, b)| (a.clone(), b.free + b.locked))
                        .collect()
                })
                .unwrap_or_default();
            let fills: Vec<_> = e
                .fills()
                .iter()
                .filter(|f| f.account == account)
                .cloned()
                .collect();
            (fills, orders, holdings)
        });
        let mut fills = Vec::with_capacity(venue_fills.len());
        for f in venue_fills {
            let record = orders
                .get(&f.order_id)
                .and_then(|client_id| by_client_id.get(client_id.as_str()))
                .ok_or_else(|| {
                    SandboxError::Replay(format!(
                        "fill {} of order {} traces to no planned order",
                        f.trade_id, f.order_id
                    ))
                })?;
            let symbol = &record.intent.symbol;
            let fee_quote = if &f.commission_asset == symbol.quote() {
                f.commission
            } else {
                f.commission * f.price
            };
            fills.push(ReplayedFill {
                step: step_at(f.time).unwrap_or_default(),
                asset: symbol.base().clone(),
                side: f.side,
                price: f.price,
                quantity: f.qty,
                fee_quote,
                is_maker: f.is_maker,
                reference_price: record.intent.reference_price.value(),
                leg: record.intent.leg,
            });
        }
        let repriced = records.iter().filter(|r| r.intent.leg > 0).count();
        // The last leg of each planned order: cancelled (or expired) with a remainder, it ran
        // out of time rather than being re-priced.
        let mut last_legs: BTreeMap<_, &driftline_core::orders::OrderRecord> = BTreeMap::new();
        for r in &records {
            let i = &r.intent;
            let chain = (i.cycle_id.as_str(), i.symbol.to_string(), i.side.as_str());
            if last_legs.get(&chain).is_none_or(|l| l.intent.leg < i.leg) {
                last_legs.insert(chain, r);
            }
        }
        let expired_unfilled = last_legs
            .values()
            .filter(|r| {
                matches!(
                    r.status,
                    driftline_core::OrderStatus::Cancelled | driftline_core::OrderStatus::Expired
                ) && r.filled_qty < r.intent.quantity
            })
            .count();
        Ok(Replay {
            fills,
            holdings,
            planned,
            repriced,
            expired_unfilled,
            ledger_fees_quote: records.iter().map(|r| r.fees_quote).sum(),
        })
    }
}
