//! The backtester: replays price history through the same core planner the scheduler runs,
//! for several policies on the same paths, and reports what each traded and paid.
//!
//! Money stays in `Decimal` from the prices fed to core to the reported costs. `f64` appears
//! only in the random walk of the generator, in the tracking-error statistic and in chart
//! coordinates.

pub mod account;
pub mod chart;
pub mod engine;
pub mod execution;
pub mod generator;
pub mod klines;
pub mod market;
pub mod policy;
pub mod report;
pub mod venues;

pub use account::{PolicyResult, Series, StepLedger};
pub use engine::{run, RunOptions, Scenario};
pub use execution::{ExecutionModel, ExecutionStats, SimulatedFill};
pub use generator::{generate, GeneratorConfig};
pub use klines::{history_from_klines, read_klines, Kline, KlineError};
pub use market::{AssetMarket, Depth, MarketConfig, PriceHistory};
pub use policy::{CalendarPeriod, PolicyRun, Schedule};
pub use report::{
    frontier, render_execution, render_frontier, render_table, render_venues, Frontier,
};
pub use venues::{VenueConfig, VenueResult};

use thiserror::Error;

/// What can stop a backtest before it produces a result.
#[derive(Debug, Error)]
pub enum BacktestError {
    #[error(transparent)]
    Klines(#[from] KlineError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("step {step}: {source}")]
    Plan {
        step: usize,
        source: driftline_core::DomainError,
    },
    #[error(transparent)]
    Domain(#[from] driftline_core::DomainError),
}

impl BacktestError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Equal targets for every market of `history`, each rounded down to 4 decimals, and the rest
/// (at least `cash`) in the quote asset.
///
/// # Errors
/// [`BacktestError::Invalid`] when `cash` is outside [0, 1].
pub fn equal_targets(
    history: &PriceHistory,
    cash: rust_decimal::Decimal,
) -> Result<driftline_core::TargetWeights, BacktestError> {
    use rust_decimal::Decimal;
    if cash < Decimal::ZERO || cash > Decimal::ONE {
        return Err(BacktestError::invalid(
            "cash",
            format!("{cash} must be in [0, 1]"),
        ));
    }
    let count = Decimal::from(history.markets.len().max(1));
    let each =
        driftline_core::money::floor_to_step((Decimal::ONE - cash) / count, Decimal::new(1, 4));
    let assets: Vec<(driftline_core::Asset, Decimal)> = history
        .markets
        .iter()
        .map(|m| (m.asset.clone(), each))
        .collect();
    let rest = Decimal::ONE - assets.iter().map(|(_, w)| *w).sum::<Decimal>();
    Ok(driftline_core::TargetWeights::new(
        assets
            .into_iter()
            .chain(std::iter::once((history.quote.clone(), rest))),
    )?)
}
