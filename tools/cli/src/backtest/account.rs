//! One policy's simulated account: its holdings, the fills of each plan at the cost model's
//! figures, the ledger of what they cost, and the statistics it reports at the end.

use std::collections::{BTreeMap, VecDeque};

use driftline_core::money::{ceil_to_step, BPS};
use driftline_core::{
    plan, Asset, BookWalkCostModel, CostEstimate, CostModel, CycleId, DecisionReason,
    DriftSnapshot, Fees, Holdings, MarketSnapshot, Markets, PlanAccount, PlanRequest, Portfolio,
    PortfolioId, Side,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::market::StepMarkets;
use super::{BacktestError, PolicyRun, RunOptions, Scenario, Schedule};

/// Costs are charged in whole units of 10^-8 quote, rounded up: the exchange's precision, and
/// what keeps `value before = value after + cost` exact.
const CHARGE_PRECISION: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// One trading step's books, for the conservation check: both values at the step's mids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLedger {
    pub step: usize,
    pub value_before: Decimal,
    pub value_after: Decimal,
    pub cost: Decimal,
}

/// Per-step series of one policy (with [`RunOptions::record_series`]).
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Cumulative cost in the quote asset after each step.
    pub cumulative_cost: Vec<Decimal>,
    /// Root mean square of the assets' drift after each step, as a weight.
    pub rms_drift: Vec<f64>,
    pub equity: Vec<Decimal>,
    pub ledgers: Vec<StepLedger>,
}

/// What one policy traded and paid over the whole history.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub name: String,
    pub schedule: Schedule,
    /// Fills.
    pub trades: u64,
    /// Planning runs that produced at least one fill.
    pub rebalances: u64,
    /// Buys the simulated account could not pay at all once sells and costs were settled.
    pub rejected: u64,
    /// Buys sized down to the cash the account held (see [`PolicyResult::rejected`]).
    pub reduced_to_cash: u64,
    /// Out-of-band decisions not traded because the predicted cost exceeded the cap.
    pub skipped_cost_cap: u64,
    pub deferred_by_velocity: u64,
    #[serde(with = "driftline_core::exact")]
    pub turnover_quote: Decimal,
    /// Turnover over average equity (1 = the whole portfolio traded once).
    #[serde(with = "driftline_core::exact")]
    pub turnover_ratio: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_quote: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub fee_quote: Decimal,
    /// Total cost in bps of the time-average equity.
    #[serde(with = "driftline_core::exact")]
    pub cost_bps_of_equity: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub average_equity: Decimal,
    /// Time-weighted root mean square drift over every asset and step, as a weight.
    pub tracking_error: f64,
    /// Largest absolute drift of any asset after any step, as a weight.
    #[serde(with = "driftline_core::exact")]
    pub max_drift: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub final_value: Decimal,
    #[serde(skip)]
    pub series: Option<Series>,
}

impl PolicyResult {
    /// The result of a policy that has not traded yet: every count and sum zero.
    pub fn empty(name: String, schedule: Schedule) -> Self {
        Self {
            name,
            schedule,
            trades: 0,
            rebalances: 0,
            rejected: 0,
            reduced_to_cash: 0,
            skipped_cost_cap: 0,
            deferred_by_velocity: 0,
            turnover_quote: Decimal::ZERO,
            turnover_ratio: Decimal::ZERO,
            cost_quote: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            cost_bps_of_equity: Decimal::ZERO,
            average_equity: Decimal::ZERO,
            tracking_error: 0.0,
            max_drift: Decimal::ZERO,
            final_value: Decimal::ZERO,
            series: None,
        }
    }
}

/// One policy's account as the simulation runs.
pub(super) struct Account<'a> {
    pub(super) run: &'a PolicyRun,
    cost_model: BookWalkCostModel,
    /// The targets, and the holdings of the one simulated account.
    portfolio: Portfolio,
    /// The targets holding nothing off the exchange: the planner's portfolio.
    off_exchange: Portfolio,
    holdings: BTreeMap<Asset, Decimal>,
    /// Scratch space for the value of each holding, reused every step.
    values: Vec<Decimal>,
    history: VecDeque<DriftSnapshot>,
    history_len: usize,
    result: PolicyResult,
    equity_sum: Decimal,
    weighted_square_drift: f64,
    weighted_time: f64,
    cost_so_far: Decimal,
}

/// Whether a decision got as far as the cost model, where the book's depth matters.
fn needs_depth(reason: &DecisionReason) -> bool {
    matches!(
        reason,
        DecisionReason::Trade
            | DecisionReason::CostTooHigh { .. }
            | DecisionReason::BookTooThin { .. }
            | DecisionReason::BelowExchangeMinimum { .. }
    )
}

/// What `held` of `asset` is worth in `quote` at its market's mid (nothing without a mid).
fn value_in_quote(asset: &Asset, held: Decimal, markets: &Markets, quote: &Asset) -> Decimal {
    if asset == quote {
        held
    } else {
        markets
            .get(asset)
            .and_then(|m| m.book.mid())
            .map_or(Decimal::ZERO, |mid| held * mid.value())
    }
}

/// What `holdings` are worth in `quote` at the mids of `markets`.
fn value_of(holdings: &BTreeMap<Asset, Decimal>, markets: &Markets, quote: &Asset) -> Decimal {
    holdings
        .iter()
        .map(|(asset, held)| value_in_quote(asset, *held, markets, quote))
        .sum()
}

/// What a fill is charged: the predicted cost, rounded up to the charge precision.
fn charge_of(cost: &CostEstimate) -> Decimal {
    ceil_to_step(cost.total_quote(), CHARGE_PRECISION)
}

impl<'a> Account<'a> {
    /// `run`'s account at the first step: `start` held, nothing traded yet.
    pub(super) fn open(
        run: &'a PolicyRun,
        id: &PortfolioId,
        scenario: &Scenario,
        start: &BTreeMap<Asset, Decimal>,
        options: RunOptions,
    ) -> Result<Self, BacktestError> {
        let portfolio = Portfolio::new(
            id.clone(),
            scenario.history.quote.clone(),
            Holdings::new(start.clone())?,
            scenario.targets.clone(),
        )?;
        Ok(Account {
            run,
            cost_model: BookWalkCostModel {
                fees: scenario.fees,
                liquidity: run.policy.fee_liquidity,
            },
            off_exchange: portfolio.with_holdings(Holdings::default())?,
            portfolio,
            holdings: start.clone(),
            values: Vec::with_capacity(start.len()),
            history: VecDeque::new(),
            history_len: run
                .policy
                .velocity
                .map_or(0, |v| v.window.window.saturating_sub(1)),
            result: PolicyResult {
                series: options.record_series.then(Series::default),
                ..PolicyResult::empty(run.name.clone(), run.schedule)
            },
            equity_sum: Decimal::ZERO,
            weighted_square_drift: 0.0,
            weighted_time: 0.0,
            cost_so_far: Decimal::ZERO,
        })
    }

    /// The largest buy, priced by the same cost model, that `cash` pays for with its costs.
    fn affordable_buy(
        &self,
        market: &MarketSnapshot,
        cash: Decimal,
    ) -> Option<(Decimal, CostEstimate)> {
        let mid = market.book.mid()?.value();
        let mut quantity = market.filters.round_quantity(cash / mid);
        // Each pass prices the quantity and shrinks it by its cost; two or three suffice.
        for _ in 0..4 {
            if !market.filters.accepts(quantity, mid) {
                return None;
            }
            let cost = self
                .cost_model
                .predict(Side::Buy, quantity, &market.book)
                .ok()?;
            if cost.notional + charge_of(&cost) <= cash {
                return Some((quantity, cost));
            }
            let per_unit = mid * (Decimal::ONE + cost.total_bps() / BPS);
            quantity = market
                .filters
                .round_quantity((cash / per_unit).min(quantity - market.filters.step_size()));
        }
        None
    }

    /// Plans `step` with core's planner, as the scheduler would, and fills its intents at the
    /// cost model's figures, sells first.
    pub(super) fn rebalance(
        &mut self,
        step: usize,
        step_markets: &mut StepMarkets<'_>,
        fees: Fees,
        cycle: &CycleId,
        options: RunOptions,
    ) -> Result<(), BacktestError> {
        let history = self.history.make_contiguous();
        let plan_against = |markets: &Markets| {
            let accounts = [PlanAccount::single(
                self.portfolio.quote(),
                self.portfolio.holdings(),
                markets,
                fees,
                &self.cost_model,
            )];
            let request = PlanRequest {
                in_flight: &[],
                portfolio: &self.off_exchange,
                accounts: &accounts,
                policy: &self.run.policy,
                history,
                cycle,
                now_ms: 0,
            };
            plan(&request).map_err(|source| BacktestError::Plan { step, source })
        };
        let mut plan = None;
        if !options.always_full_books {
            let touch = plan_against(&step_markets.touch)?;
            if !touch.decisions.iter().any(|d| needs_depth(&d.reason)) {
                plan = Some(touch);
            }
        }
        let markets = match plan {
            Some(_) => &step_markets.touch,
            None => step_markets.full()?,
        };
        let plan = match plan {
            Some(plan) => plan,
            None => plan_against(markets)?,
        };
        for d in &plan.decisions {
            match d.reason {
                DecisionReason::CostTooHigh { .. } => self.result.skipped_cost_cap += 1,
                DecisionReason::DeferredByVelocity { .. } => {
                    self.result.deferred_by_velocity += 1;
                }
                _ => {}
            }
        }
        let quote = self.portfolio.quote().clone();
        let value_before = self
            .result
            .series
            .is_some()
            .then(|| value_of(&self.holdings, markets, &quote));
        let mut step_cost = Decimal::ZERO;
        let mut fills = 0;
        // Intents come sells first: their proceeds pay for the buys.
        for intent in &plan.intents {
            let asset = intent.symbol.base();
            let Some(order) = plan
                .decisions
                .iter()
                .find(|d| d.asset == *asset)
                .and_then(|d| d.order.as_ref())
            else {
                continue;
            };
            let Some(market) = markets.get(asset) else {
                continue;
            };
            let cash = self.holdings.get(&quote).copied().unwrap_or_default();
            let mut fill = (order.quantity, order.cost);
            if order.side == Side::Buy && order.cost.notional + charge_of(&order.cost) > cash {
                // The planner budgets buys at their limit price without their own costs: the
                // executor sizes the order down to the cash it finds.
                match self.affordable_buy(market, cash) {
                    Some(smaller) => {
                        fill = smaller;
                        self.result.reduced_to_cash += 1;
                    }
                    None => {
                        self.result.rejected += 1;
                        continue;
                    }
                }
            }
            let (quantity, cost) = fill;
            let notional = cost.notional;
            let charge = charge_of(&cost);
            let held = self.holdings.get(asset).copied().unwrap_or_default();
            let (cash_after, held_after) = match order.side {
                Side::Buy => (cash - notional - charge, held + quantity),
                Side::Sell => (cash + notional - charge, held - quantity),
            };
            if cash_after < Decimal::ZERO || held_after < Decimal::ZERO {
                self.result.rejected += 1;
                continue;
            }
            self.holdings.insert(quote.clone(), cash_after);
            self.holdings.insert(asset.clone(), held_after);
            self.result.trades += 1;
            self.result.turnover_quote += notional;
            self.result.cost_quote += charge;
            self.result.fee_quote += notional * cost.fee_bps / BPS;
            step_cost += charge;
            fills += 1;
        }
        if fills > 0 {
            self.result.rebalances += 1;
            self.cost_so_far += step_cost;
            self.portfolio = Portfolio::new(
                self.portfolio.id().clone(),
                quote.clone(),
                Holdings::new(self.holdings.iter().map(|(a, q)| (a.clone(), *q)))?,
                self.portfolio.targets().clone(),
            )?;
        }
        if let (Some(series), Some(value_before)) = (self.result.series.as_mut(), value_before) {
            if fills > 0 {
                series.ledgers.push(StepLedger {
                    step,
                    value_before,
                    value_after: value_of(&self.holdings, markets, &quote),
                    cost: step_cost,
                });
            }
        }
        if self.history_len > 0 {
            // The velocity rule measures drift before this cycle's trades, as the scheduler
            // records each cycle's snapshot.
            self.history.push_front(plan.snapshot);
            self.history.truncate(self.history_len);
        }
        Ok(())
    }

    /// Statistics of the holdings after this step, held for `dt` milliseconds.
    pub(super) fn record(&mut self, markets: &Markets, quote: &Asset, dt: f64) {
        // Holdings and targets have the same assets (initial_holdings gives every target one,
        // fills only change them), both in asset order.
        self.values.clear();
        for (asset, held) in &self.holdings {
            self.values
                .push(value_in_quote(asset, *held, markets, quote));
        }
        let equity: Decimal = self.values.iter().sum();
        self.equity_sum += equity;
        let mut square_sum = 0.0;
        let mut count = 0usize;
        if !equity.is_zero() {
            // drift × equity is exact; one division per step gives the largest drift.
            let mut largest = Decimal::ZERO;
            let equity_f64 = equity.to_f64().unwrap_or(f64::INFINITY);
            for ((_, target), value) in self.portfolio.targets().iter().zip(&self.values) {
                let gap = *value - target * equity;
                largest = largest.max(gap.abs());
                let d = gap.to_f64().unwrap_or(0.0) / equity_f64;
                square_sum += d * d;
                count += 1;
            }
            self.result.max_drift = self.result.max_drift.max(largest / equity);
        }
        let mean_square = if count == 0 {
            0.0
        } else {
            square_sum / count as f64
        };
        self.weighted_square_drift += mean_square * dt;
        self.weighted_time += dt;
        if let Some(series) = self.result.series.as_mut() {
            series.cumulative_cost.push(self.cost_so_far);
            series.rms_drift.push(mean_square.sqrt());
            series.equity.push(equity);
        }
    }

    /// The result over all `steps`, valued at the last step's `markets`.
    pub(super) fn finish(mut self, steps: usize, markets: &Markets, quote: &Asset) -> PolicyResult {
        let r = &mut self.result;
        r.average_equity = self.equity_sum / Decimal::from(steps);
        if !r.average_equity.is_zero() {
            r.cost_bps_of_equity = r.cost_quote / r.average_equity * BPS;
            r.turnover_ratio = r.turnover_quote / r.average_equity;
        }
        r.tracking_error = if self.weighted_time > 0.0 {
            (self.weighted_square_drift / self.weighted_time).sqrt()
        } else {
            0.0
        };
        r.final_value = value_of(&self.holdings, markets, quote);
        self.result
    }
}
