//! One policy's simulation: its accounts on every venue (see [`super::venues`]), the plans core
//! makes for them and routes across them, the ledger of what the fills cost, and the
//! statistics it reports at the end.

use std::collections::{BTreeMap, VecDeque};

use driftline_core::money::BPS;
use driftline_core::{
    plan, Asset, BookWalkCostModel, CycleId, DecisionReason, DriftSnapshot, EpochMillis, Holdings,
    InFlightOrder, Markets, PlanAccount, PlanRequest, Portfolio, PortfolioId, RebalancePlan, Side,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::execution::{ExecutionStats, SimulatedFill, StepExecution};
use super::market::StepMarkets;
use super::venues::{VenueAccount, VenueConfig, VenueResult};
use super::{BacktestError, PolicyRun, RunOptions, Scenario, Schedule};

/// One trading step's books, for the conservation check: both values at the step's mids, over
/// every account and what is held off the exchanges, so that `value_before = value_after +
/// cost + moved_since_decision` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLedger {
    pub step: usize,
    pub value_before: Decimal,
    pub value_after: Decimal,
    /// The step's fills' cost against their decision mids.
    pub cost: Decimal,
    /// What the market's move from the fills' decision mids to the step's mids took from the
    /// filled quantities' value (zero under the instant-taker model, which fills at the
    /// decision).
    pub moved_since_decision: Decimal,
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
    /// Every fill of the limit model, in order.
    pub fills: Vec<SimulatedFill>,
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
    /// Buys no account that lists the asset had the cash for (cash is never moved between
    /// venues).
    pub not_funded: u64,
    #[serde(with = "driftline_core::exact")]
    pub turnover_quote: Decimal,
    /// Turnover over average equity (1 = the whole portfolio traded once).
    #[serde(with = "driftline_core::exact")]
    pub turnover_ratio: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_quote: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub fee_quote: Decimal,
    /// What the market's move between each fill's decision and the step that saw it took from
    /// the filled quantities' value, summed (signed; zero under the instant-taker model). Not
    /// in `cost_quote`; in `final_value`.
    #[serde(with = "driftline_core::exact")]
    pub moved_since_decision_quote: Decimal,
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
    /// Every account's holdings at its venue's last mids, and what is held off the exchanges.
    #[serde(with = "driftline_core::exact")]
    pub final_value: Decimal,
    /// The part of `final_value` held off every exchange.
    #[serde(with = "driftline_core::exact")]
    pub off_exchange_value: Decimal,
    /// What each venue's account traded and paid, in the scenario's venue order.
    pub venues: Vec<VenueResult>,
    /// How the orders executed: maker and taker fills, re-prices, waits, expiries.
    pub execution: ExecutionStats,
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
            not_funded: 0,
            turnover_quote: Decimal::ZERO,
            turnover_ratio: Decimal::ZERO,
            cost_quote: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            moved_since_decision_quote: Decimal::ZERO,
            cost_bps_of_equity: Decimal::ZERO,
            average_equity: Decimal::ZERO,
            tracking_error: 0.0,
            max_drift: Decimal::ZERO,
            final_value: Decimal::ZERO,
            off_exchange_value: Decimal::ZERO,
            venues: Vec::new(),
            execution: ExecutionStats::default(),
            series: None,
        }
    }
}

/// One policy's simulation: its accounts on every venue, what it holds off every exchange,
/// and its running statistics.
pub(super) struct Simulation<'a> {
    pub(super) run: &'a PolicyRun,
    /// The targets and what is held off every exchange: the planner's portfolio.
    portfolio: Portfolio,
    /// One account per venue, in the scenario's venue order.
    accounts: Vec<VenueAccount>,
    /// Scratch space for the value of each target asset, reused every step.
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
            | DecisionReason::NotFunded { .. }
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

/// Where a simulation starts: each venue's account and its holdings (in the scenario's venue
/// order), and what is held off every exchange.
pub(super) struct Start<'s> {
    pub(super) venues: &'s [(Option<String>, VenueConfig)],
    pub(super) accounts: &'s [BTreeMap<Asset, Decimal>],
    pub(super) off_exchange: &'s BTreeMap<Asset, Decimal>,
}

impl<'a> Simulation<'a> {
    /// `run`'s simulation at the first step: `start` held, nothing traded yet.
    pub(super) fn open(
        run: &'a PolicyRun,
        id: &PortfolioId,
        scenario: &Scenario,
        start: &Start<'_>,
        options: RunOptions,
    ) -> Result<Self, BacktestError> {
        let accounts = start
            .venues
            .iter()
            .zip(start.accounts)
            .map(|((name, venue), holdings)| {
                let cost_model = BookWalkCostModel {
                    fees: venue.fees,
                    liquidity: run.policy.fee_liquidity,
                };
                VenueAccount::open(name.clone(), venue, cost_model, holdings.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let off_exchange = start.off_exchange.iter().map(|(a, q)| (a.clone(), *q));
        Ok(Simulation {
            run,
            portfolio: Portfolio::new(
                id.clone(),
                scenario.history.quote.clone(),
                Holdings::new(off_exchange)?,
                scenario.targets.clone(),
            )?,
            accounts,
            values: Vec::with_capacity(scenario.targets.len()),
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

    /// What every account and the holdings off every exchange are worth, each account at its
    /// own venue's mids (`markets`, one per account), off the exchanges at the first venue's.
    fn value(&self, markets: &[Markets]) -> Decimal {
        let quote = self.portfolio.quote();
        let on: Decimal = self
            .accounts
            .iter()
            .zip(markets)
            .map(|(a, m)| value_of(&a.holdings, m, quote))
            .sum();
        match markets.first() {
            Some(m) if self.portfolio.holdings().iter().next().is_some() => {
                on + self
                    .portfolio
                    .holdings()
                    .iter()
                    .map(|(asset, held)| value_in_quote(asset, held, m, quote))
                    .sum::<Decimal>()
            }
            _ => on,
        }
    }

    /// Plans `step` with core's planner as the scheduler would: against the free balances and
    /// with `in_flight` (the working orders), first on touch-only books and again on the full
    /// books when a decision reached the cost model. The plan, and whether it was made on the
    /// full books; its skipped decisions are counted.
    fn plan_step(
        &mut self,
        step: usize,
        now_ms: EpochMillis,
        step_markets: &mut StepMarkets<'_>,
        cycle: &CycleId,
        options: RunOptions,
        in_flight: &[InFlightOrder],
    ) -> Result<(RebalancePlan, bool), BacktestError> {
        let history = self.history.make_contiguous();
        let quote = self.portfolio.quote().clone();
        let plan_against = |markets: &[Markets]| {
            let accounts: Vec<PlanAccount<'_>> = self
                .accounts
                .iter()
                .zip(markets)
                .map(|(a, m)| a.plan_account(&quote, m))
                .collect();
            let request = PlanRequest {
                in_flight,
                portfolio: &self.portfolio,
                accounts: &accounts,
                policy: &self.run.policy,
                history,
                cycle,
                now_ms,
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
        let full = plan.is_none();
        let plan = match plan {
            Some(plan) => plan,
            None => plan_against(step_markets.full()?)?,
        };
        for d in &plan.decisions {
            match d.reason {
                DecisionReason::CostTooHigh { .. } => self.result.skipped_cost_cap += 1,
                DecisionReason::DeferredByVelocity { .. } => {
                    self.result.deferred_by_velocity += 1;
                }
                DecisionReason::NotFunded { .. } => self.result.not_funded += 1,
                _ => {}
            }
        }
        Ok((plan, full))
    }

    /// Plans `step` and fills its intents on the account each was routed to, at once at the
    /// cost model's figures, sells first ([`super::ExecutionModel::InstantTaker`]).
    pub(super) fn rebalance(
        &mut self,
        step: usize,
        now_ms: EpochMillis,
        step_markets: &mut StepMarkets<'_>,
        cycle: &CycleId,
        options: RunOptions,
    ) -> Result<(), BacktestError> {
        let quote = self.portfolio.quote().clone();
        let (plan, full) = self.plan_step(step, now_ms, step_markets, cycle, options, &[])?;
        let markets = if full {
            step_markets.full()?
        } else {
            &step_markets.touch
        };
        let value_before = self.result.series.is_some().then(|| self.value(markets));
        let mut step_cost = Decimal::ZERO;
        let mut fills = 0;
        // Intents come sells first: their proceeds pay for the buys on their account.
        for intent in &plan.intents {
            let asset = intent.symbol.base();
            let Some(slot) = self.accounts.iter().position(|a| a.name == intent.account) else {
                continue;
            };
            let Some(order) = plan
                .decisions
                .iter()
                .find(|d| d.asset == *asset)
                .and_then(|d| d.orders().find(|o| o.account == intent.account))
            else {
                continue;
            };
            let Some(market) = markets.get(slot).and_then(|m| m.get(asset)) else {
                continue;
            };
            if let Some(charge) = self.accounts[slot].fill(order, market, &quote, &mut self.result)
            {
                step_cost += charge;
                fills += 1;
            }
        }
        if fills > 0 {
            self.result.rebalances += 1;
            self.cost_so_far += step_cost;
            for account in &mut self.accounts {
                account.settle()?;
            }
        }
        if let Some(value_before) = value_before {
            if fills > 0 {
                let value_after = self.value(markets);
                if let Some(series) = self.result.series.as_mut() {
                    series.ledgers.push(StepLedger {
                        step,
                        value_before,
                        value_after,
                        cost: step_cost,
                        moved_since_decision: Decimal::ZERO,
                    });
                }
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

    /// One step of the limit model ([`super::ExecutionModel::Limit`]): the working orders
    /// followed against this step's books (sells first, so a buy waiting for them can go),
    /// then, when the policy is `due`, a plan made against the free balances with the working
    /// orders in flight, and its intents taken to the books, sells first.
    pub(super) fn execute_step(
        &mut self,
        step: usize,
        now_ms: EpochMillis,
        due: bool,
        step_markets: &mut StepMarkets<'_>,
        cycle: &CycleId,
        options: RunOptions,
    ) -> Result<(), BacktestError> {
        let working = self.accounts.iter().any(|a| !a.working.is_empty());
        if !working && !due {
            return Ok(());
        }
        let value_before = self
            .result
            .series
            .is_some()
            .then(|| self.value(&step_markets.touch));
        let mut at = StepExecution::new(step, now_ms);
        if working {
            let deep = self
                .accounts
                .iter()
                .zip(&step_markets.touch)
                .any(|(a, m)| a.needs_depth(m, now_ms));
            let markets = if deep {
                step_markets.full()?
            } else {
                &step_markets.touch
            };
            for (account, m) in self.accounts.iter_mut().zip(markets) {
                account.follow(Side::Sell, m, &[], &mut at, &mut self.result);
            }
            let open_sells = self.open_sell_plans();
            for (account, m) in self.accounts.iter_mut().zip(markets) {
                account.follow(Side::Buy, m, &open_sells, &mut at, &mut self.result);
            }
        }
        if due {
            for account in &mut self.accounts {
                account.settle()?;
            }
            let in_flight: Vec<InFlightOrder> = self
                .accounts
                .iter()
                .flat_map(|a| a.working.iter().map(|o| o.in_flight()))
                .collect();
            let (plan, _) =
                self.plan_step(step, now_ms, step_markets, cycle, options, &in_flight)?;
            if !plan.intents.is_empty() {
                let markets = step_markets.full()?;
                // Intents come sells first: a buy paid for by them finds them working.
                for intent in &plan.intents {
                    let Some(slot) = self.accounts.iter().position(|a| a.name == intent.account)
                    else {
                        continue;
                    };
                    let Some(m) = markets.get(slot) else {
                        continue;
                    };
                    let sells_open =
                        intent.side == Side::Buy && self.open_sell_plans().contains(&step);
                    self.accounts[slot].submit(
                        intent.clone(),
                        m,
                        sells_open,
                        &mut at,
                        &mut self.result,
                    );
                }
                self.result.rebalances += 1;
            }
            if self.history_len > 0 {
                // The velocity rule measures drift before this cycle's trades, as the
                // scheduler records each cycle's snapshot.
                self.history.push_front(plan.snapshot);
                self.history.truncate(self.history_len);
            }
        }
        for account in &mut self.accounts {
            account.settle()?;
        }
        if at.fills > 0 {
            self.cost_so_far += at.cost;
            if let Some(value_before) = value_before {
                let value_after = self.value(&step_markets.touch);
                if let Some(series) = self.result.series.as_mut() {
                    series.ledgers.push(StepLedger {
                        step,
                        value_before,
                        value_after,
                        cost: at.cost,
                        moved_since_decision: at.moved_since_decision,
                    });
                }
            }
        }
        Ok(())
    }

    /// The plans (by step) with a sell still working on any account: the executor's buy waits
    /// for every sell of its cycle.
    fn open_sell_plans(&self) -> Vec<usize> {
        let mut steps: Vec<usize> = self
            .accounts
            .iter()
            .flat_map(|a| &a.working)
            .filter(|o| o.intent.side == Side::Sell)
            .map(|o| o.created_step)
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Statistics of the holdings after this step, held for `dt` milliseconds.
    pub(super) fn record(&mut self, markets: &[Markets], quote: &Asset, dt: f64) {
        // Each target asset's value over every account (each at its venue's mid) and off the
        // exchanges (at the first venue's), in target order. Sums start from their first term,
        // so one account's figures are exactly its own.
        self.values.clear();
        let add = |sum: Option<Decimal>, term: Decimal| Some(sum.map_or(term, |s| s + term));
        for (asset, _) in self.portfolio.targets().iter() {
            let mut value = None;
            for (account, m) in self.accounts.iter().zip(markets) {
                if let Some(held) = account.holdings.get(asset) {
                    value = add(value, value_in_quote(asset, *held, m, quote));
                }
            }
            let off = self.portfolio.holdings().of(asset);
            if let (false, Some(m)) = (off.is_zero(), markets.first()) {
                value = add(value, value_in_quote(asset, off, m, quote));
            }
            self.values.push(value.unwrap_or_default());
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

    /// The result over all `steps`, valued at the last step's `markets` (one per account).
    pub(super) fn finish(
        mut self,
        steps: usize,
        markets: &[Markets],
        quote: &Asset,
    ) -> PolicyResult {
        let final_value = self.value(markets);
        let off_exchange = match markets.first() {
            Some(m) => self
                .portfolio
                .holdings()
                .iter()
                .map(|(asset, held)| value_in_quote(asset, held, m, quote))
                .sum(),
            None => Decimal::ZERO,
        };
        let r = &mut self.result;
        r.execution.open_at_end = self.accounts.iter().map(|a| a.working.len() as u64).sum();
        if !r.execution.reference_notional.is_zero() {
            r.execution.average_slippage_bps =
                Some(r.execution.slippage_quote / r.execution.reference_notional * BPS);
        }
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
        r.final_value = final_value;
        r.off_exchange_value = off_exchange;
        r.venues = self
            .accounts
            .into_iter()
            .zip(markets)
            .map(|(a, m)| VenueResult {
                final_value: value_of(&a.holdings, m, quote),
                ..a.result
            })
            .collect();
        self.result
    }
}
