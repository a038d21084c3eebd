//! The simulation loop: at each step, every policy due to run plans with core's planner
//! against the simulated books, and its intents fill at the cost model's figures.

use std::collections::{BTreeMap, VecDeque};

use driftline_core::money::{ceil_to_step, BPS};
use driftline_core::{
    plan, Asset, Band, BookWalkCostModel, CostEstimate, CostModel, CycleId, DecisionReason,
    Destination, DriftSnapshot, Fees, Holdings, MarketSnapshot, Markets, PlanRequest, Portfolio,
    PortfolioId, RebalancePolicy, Side, TargetWeights,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{BacktestError, Depth, PriceHistory};

/// Costs are charged in whole units of 10^-8 quote, rounded up: the exchange's precision, and
/// what keeps `value before = value after + cost` exact.
const CHARGE_PRECISION: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// What a backtest replays: prices, the portfolio's targets and starting value, the fees.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub history: PriceHistory,
    /// Target weights, the quote asset (cash) included.
    pub targets: TargetWeights,
    /// Starting value in the quote asset, allocated at the targets at the first mids for free
    /// (every policy starts from the same holdings).
    pub initial_equity: Decimal,
    pub fees: Fees,
}

/// The calendar a calendar policy rebalances on: the first step of each new period (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarPeriod {
    Daily,
    /// Weeks start on Monday.
    Weekly,
    Monthly,
}

impl CalendarPeriod {
    /// The index of the period `time_ms` falls in.
    pub fn period_of(self, time_ms: i64) -> i64 {
        let days = time_ms.div_euclid(86_400_000);
        match self {
            Self::Daily => days,
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            Self::Weekly => (days + 3).div_euclid(7),
            Self::Monthly => {
                let (year, month) = year_month(days);
                year * 12 + month
            }
        }
    }
}

/// Civil year and month (0-based) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 2 } else { mp - 10 };
    let year = yoe + era * 400 + i64::from(month <= 1);
    (year, month)
}

/// When a policy plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every step of the history, as the scheduler runs every cycle.
    EveryStep,
    Calendar(CalendarPeriod),
}

/// A named policy to replay: core's policy settings and when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRun {
    pub name: String,
    pub policy: RebalancePolicy,
    pub schedule: Schedule,
}

impl PolicyRun {
    /// Back to target on the calendar's ticks, whatever the drift or the cost: a zero band,
    /// destination target, no cost cap, no velocity rule.
    pub fn calendar(period: CalendarPeriod) -> Self {
        let name = match period {
            CalendarPeriod::Daily => "calendar daily",
            CalendarPeriod::Weekly => "calendar weekly",
            CalendarPeriod::Monthly => "calendar monthly",
        };
        Self {
            name: name.into(),
            policy: to_target(Decimal::ZERO),
            schedule: Schedule::Calendar(period),
        }
    }

    /// Back to target whenever an asset drifts more than `band` (absolute), checked every step:
    /// the article's naive 5% rule at 0.05.
    pub fn threshold(band: Decimal) -> Self {
        Self {
            name: format!("threshold {}%", (band * Decimal::ONE_HUNDRED).normalize()),
            policy: to_target(band),
            schedule: Schedule::EveryStep,
        }
    }

    /// driftline's own policy, checked every step.
    pub fn driftline(name: impl Into<String>, policy: RebalancePolicy) -> Self {
        Self {
            name: name.into(),
            policy,
            schedule: Schedule::EveryStep,
        }
    }

    fn due(&self, history: &PriceHistory, step: usize) -> bool {
        if step == 0 {
            return false;
        }
        match self.schedule {
            Schedule::EveryStep => true,
            Schedule::Calendar(period) => {
                let at = |s: usize| history.times_ms.get(s).map(|t| period.period_of(*t));
                at(step) != at(step - 1)
            }
        }
    }
}

/// The policy settings of a rule that trades straight back to target outside `band`.
fn to_target(band: Decimal) -> RebalancePolicy {
    RebalancePolicy {
        band: Band {
            absolute: Some(band),
            relative: None,
        },
        destination: Destination::Target,
        max_cost_bps: Decimal::MAX,
        velocity: None,
        ..RebalancePolicy::default()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep per-step series (for charts and the conservation check); off for sweeps.
    pub record_series: bool,
    /// Plan every step against full books at once, skipping the touch-only first pass (see
    /// [`run`]); the results are the same, only slower.
    pub always_full_books: bool,
}

/// A step's books: touch-only for every valuation, full depth built once when a plan needs it.
struct StepMarkets<'h> {
    history: &'h PriceHistory,
    step: usize,
    touch: Markets,
    full: Option<Markets>,
}

impl StepMarkets<'_> {
    fn full(&mut self) -> Result<&Markets, BacktestError> {
        if self.full.is_none() {
            self.full = Some(self.history.markets_at(self.step, Depth::Full)?);
        }
        // Filled just above.
        self.full
            .as_ref()
            .ok_or_else(|| BacktestError::invalid("books", "full depth missing"))
    }
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

/// One policy's account as the simulation runs.
struct Account<'a> {
    run: &'a PolicyRun,
    cost_model: BookWalkCostModel,
    portfolio: Portfolio,
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

/// Replays `scenario` for every policy on the same prices and books.
///
/// Building twenty-level books is most of the work, and most cycles trade nothing, so each
/// plan is first made against touch-only books (the same best bid and ask, so the same mids,
/// drift and band decisions). When any decision got as far as the cost model, the step is
/// planned again against the full books, and that plan is the one executed.
///
/// `progress` is called with the number of steps done, now and then.
///
/// # Errors
/// [`BacktestError`] when the scenario is empty or inconsistent, or the planner rejects a
/// policy or a portfolio.
pub fn run(
    scenario: &Scenario,
    runs: &[PolicyRun],
    options: RunOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<PolicyResult>, BacktestError> {
    let history = &scenario.history;
    let steps = history.steps();
    if steps == 0 {
        return Err(BacktestError::invalid("prices", "the history has no steps"));
    }
    if history.closes.len() != steps
        || history
            .closes
            .iter()
            .any(|row| row.len() != history.markets.len())
    {
        return Err(BacktestError::invalid(
            "prices",
            "every step needs one price per market",
        ));
    }
    for r in runs {
        r.policy
            .validate()
            .map_err(|e| BacktestError::invalid(format!("policy {:?}", r.name), e.to_string()))?;
    }
    if scenario.initial_equity <= Decimal::ZERO {
        return Err(BacktestError::invalid(
            "equity",
            format!("{} must be positive", scenario.initial_equity),
        ));
    }
    let quote = &history.quote;
    let id = PortfolioId::new("backtest")?;
    let cycle = CycleId::new("backtest")?;
    let first = history.markets_at(0, Depth::Touch)?;
    let start = initial_holdings(scenario, &first)?;
    let mut accounts: Vec<Account<'_>> = runs
        .iter()
        .map(|run| {
            let portfolio = Portfolio::new(
                id.clone(),
                quote.clone(),
                Holdings::new(start.clone())?,
                scenario.targets.clone(),
            )?;
            Ok(Account {
                run,
                cost_model: BookWalkCostModel {
                    fees: scenario.fees,
                    liquidity: run.policy.fee_liquidity,
                },
                portfolio,
                holdings: start.clone(),
                values: Vec::with_capacity(start.len()),
                history: VecDeque::new(),
                history_len: run
                    .policy
                    .velocity
                    .map_or(0, |v| v.window.window.saturating_sub(1)),
                result: PolicyResult {
                    name: run.name.clone(),
                    schedule: run.schedule,
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
                    series: options.record_series.then(Series::default),
                },
                equity_sum: Decimal::ZERO,
                weighted_square_drift: 0.0,
                weighted_time: 0.0,
                cost_so_far: Decimal::ZERO,
            })
        })
        .collect::<Result<_, BacktestError>>()?;

    let mut markets = StepMarkets {
        history,
        step: 0,
        touch: first,
        full: None,
    };
    for step in 0..steps {
        if step > 0 {
            markets = StepMarkets {
                history,
                step,
                touch: history.markets_at(step, Depth::Touch)?,
                full: None,
            };
        }
        // The state after this step holds until the next one.
        let dt = match (history.times_ms.get(step), history.times_ms.get(step + 1)) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => 0.0,
        };
        for account in &mut accounts {
            if account.run.due(history, step) {
                account.rebalance(step, &mut markets, scenario.fees, &cycle, options)?;
            }
            account.record(&markets.touch, quote, dt);
        }
        if step % 512 == 511 {
            progress(step + 1);
        }
    }
    progress(steps);
    Ok(accounts
        .into_iter()
        .map(|a| a.finish(steps, &markets.touch, quote))
        .collect())
}

/// Target quantities at the first mids, rounded down to each market's step; the rest in cash.
fn initial_holdings(
    scenario: &Scenario,
    markets: &Markets,
) -> Result<BTreeMap<Asset, Decimal>, BacktestError> {
    let quote = &scenario.history.quote;
    if !scenario.targets.contains(quote) {
        return Err(BacktestError::invalid(
            format!("targets.{quote}"),
            "the quote asset needs a target (0 for no cash)",
        ));
    }
    let mut holdings = BTreeMap::new();
    let mut spent = Decimal::ZERO;
    for (asset, target) in scenario.targets.iter() {
        if asset == quote {
            continue;
        }
        let market = markets.get(asset).ok_or_else(|| {
            BacktestError::invalid(
                format!("targets.{asset}"),
                "has a target but no price series",
            )
        })?;
        let mid = market
            .book
            .mid()
            .ok_or_else(|| BacktestError::invalid(format!("prices.{asset}"), "no mid"))?;
        let quantity = market
            .filters
            .round_quantity(scenario.initial_equity * target / mid.value());
        spent += quantity * mid.value();
        holdings.insert(asset.clone(), quantity);
    }
    holdings.insert(quote.clone(), scenario.initial_equity - spent);
    Ok(holdings)
}

fn value_of(holdings: &BTreeMap<Asset, Decimal>, markets: &Markets, quote: &Asset) -> Decimal {
    holdings
        .iter()
        .map(|(asset, q)| {
            if asset == quote {
                *q
            } else {
                markets
                    .get(asset)
                    .and_then(|m| m.book.mid())
                    .map_or(Decimal::ZERO, |mid| *q * mid.value())
            }
        })
        .sum()
}

/// What a fill is charged: the predicted cost, rounded up to the charge precision.
fn charge_of(cost: &CostEstimate) -> Decimal {
    ceil_to_step(cost.total_quote(), CHARGE_PRECISION)
}

impl Account<'_> {
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

    fn rebalance(
        &mut self,
        step: usize,
        step_markets: &mut StepMarkets<'_>,
        fees: Fees,
        cycle: &CycleId,
        options: RunOptions,
    ) -> Result<(), BacktestError> {
        let history = self.history.make_contiguous();
        let plan_against = |markets: &Markets| {
            let request = PlanRequest {
                in_flight: &[],
                portfolio: &self.portfolio,
                markets,
                policy: &self.run.policy,
                fees,
                history,
                cycle,
                now_ms: 0,
            };
            plan(&request, &self.cost_model).map_err(|source| BacktestError::Plan { step, source })
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
    fn record(&mut self, markets: &Markets, quote: &Asset, dt: f64) {
        // Holdings and targets have the same assets (initial_holdings gives every target one,
        // fills only change them), both in asset order.
        self.values.clear();
        for (asset, held) in &self.holdings {
            self.values.push(if asset == quote {
                *held
            } else {
                markets
                    .get(asset)
                    .and_then(|m| m.book.mid())
                    .map_or(Decimal::ZERO, |mid| *held * mid.value())
            });
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

    fn finish(mut self, steps: usize, markets: &Markets, quote: &Asset) -> PolicyResult {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    // 2024-01-01T00:00Z (a Monday) and 2024-01-31T23:00Z: same month, different days.
    #[case(CalendarPeriod::Monthly, 1_704_067_200_000, 1_706_742_000_000, true)]
    // 2024-01-31T23:00Z and 2024-02-01T00:00Z: a new month.
    #[case(CalendarPeriod::Monthly, 1_706_742_000_000, 1_706_745_600_000, false)]
    // Sunday 2024-01-07T23:00Z and Monday 2024-01-08T00:00Z: a new week.
    #[case(CalendarPeriod::Weekly, 1_704_668_400_000, 1_704_672_000_000, false)]
    // Monday 2024-01-01 and Sunday 2024-01-07: the same week.
    #[case(CalendarPeriod::Weekly, 1_704_067_200_000, 1_704_668_400_000, true)]
    #[case(CalendarPeriod::Daily, 1_704_067_200_000, 1_704_150_000_000, true)]
    #[case(CalendarPeriod::Daily, 1_704_067_200_000, 1_704_153_600_000, false)]
    // 2023-12-31 and 2024-01-01: a new month across a year.
    #[case(CalendarPeriod::Monthly, 1_704_063_600_000, 1_704_067_200_000, false)]
    fn calendar_periods(
        #[case] period: CalendarPeriod,
        #[case] a: i64,
        #[case] b: i64,
        #[case] same: bool,
    ) {
        assert_eq!(period.period_of(a) == period.period_of(b), same);
    }
}
