//! The library behind the `driftline` command: the backtester, tested and benchmarked directly.

pub mod backtest;
pub mod chart;
pub mod cost;
