//! The simulation loop: at each step, every policy due to run plans with core's planner
//! against the simulated books of every venue, and its intents fill at the cost model's
//! figures on the account each was routed to (each policy keeps its own accounts, holdings and
//! costs: [`super::account`]).

use std::collections::BTreeMap;

use driftline_core::ports::Venue;
use driftline_core::{Asset, CycleId, Fees, Markets, PortfolioId, TargetWeights};
use rust_decimal::Decimal;

use super::account::{Simulation, Start};
use super::market::StepMarkets;
use super::venues::{shares_of, split_start, VenueConfig};
use super::{BacktestError, Depth, ExecutionModel, PolicyResult, PolicyRun, PriceHistory};

/// What a backtest replays: prices, the portfolio's targets and starting value, the fees, and
/// the venues the portfolio is spread over.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub history: PriceHistory,
    /// Target weights, the quote asset (cash) included.
    pub targets: TargetWeights,
    /// Starting value in the quote asset, allocated at the targets at the first mids for free
    /// (every policy starts from the same holdings).
    pub initial_equity: Decimal,
    /// The fees of the one account when `venues` is empty.
    pub fees: Fees,
    /// The venues, each with its own account, fees and books; none for one account on the
    /// history's books with `fees` (the deployment's default account).
    pub venues: Vec<VenueConfig>,
    /// The share of every asset but the cash held off every exchange: counted, never traded.
    pub off_exchange: Decimal,
}

/// How [`run`] runs: what it keeps and how it plans.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep per-step series (for charts and the conservation check); off for sweeps.
    pub record_series: bool,
    /// Plan every step against full books at once, skipping the touch-only first pass (see
    /// [`run`]); the results are the same, only slower.
    pub always_full_books: bool,
    /// How intents become fills.
    pub execution: ExecutionModel,
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
    let venues: Vec<(Option<String>, VenueConfig)> = if scenario.venues.is_empty() {
        vec![(None, VenueConfig::plain(Venue::Binance, scenario.fees))]
    } else {
        let named = |v: &VenueConfig| (Some(v.venue.as_str().to_owned()), v.clone());
        scenario.venues.iter().map(named).collect()
    };
    let configs: Vec<VenueConfig> = venues.iter().map(|(_, v)| v.clone()).collect();
    let shares = shares_of(&configs, scenario.off_exchange)?;
    let venue_markets = configs
        .iter()
        .map(|v| v.markets(&history.markets))
        .collect::<Result<Vec<_>, _>>()?;
    let steps_of = history
        .markets
        .iter()
        .map(|m| (m.asset.clone(), m.filters.step_size()))
        .collect();
    let (account_holdings, off_exchange) =
        split_start(&start, quote, &steps_of, &shares, scenario.off_exchange);
    let start = Start {
        venues: &venues,
        accounts: &account_holdings,
        off_exchange: &off_exchange,
    };
    let mut simulations: Vec<Simulation<'_>> = runs
        .iter()
        .map(|run| Simulation::open(run, &id, scenario, &start, options))
        .collect::<Result<_, BacktestError>>()?;

    let mut markets = StepMarkets::new(history, &venue_markets, 0)?;
    for step in 0..steps {
        if step > 0 {
            markets = StepMarkets::new(history, &venue_markets, step)?;
        }
        // The state after this step holds until the next one.
        let dt = match (history.times_ms.get(step), history.times_ms.get(step + 1)) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => 0.0,
        };
        let now_ms = history.times_ms.get(step).copied().unwrap_or_default();
        for simulation in &mut simulations {
            let due = simulation.run.due(history, step);
            match options.execution {
                ExecutionModel::InstantTaker => {
                    if due {
                        simulation.rebalance(step, now_ms, &mut markets, &cycle, options)?;
                    }
                }
                ExecutionModel::Limit => {
                    simulation.execute_step(step, now_ms, due, &mut markets, &cycle, options)?;
                }
            }
            simulation.record(&markets.touch, quote, dt);
        }
        if step % 512 == 511 {
            progress(step + 1);
        }
    }
    progress(steps);
    Ok(simulations
        .into_iter()
        .map(|s| s.finish(steps, &markets.touch, quote))
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
