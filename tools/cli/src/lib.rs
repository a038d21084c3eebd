//! The library behind the `driftline` command: the backtester, tested and benchmarked directly,
//! the files people write ([`files`]), and the operator's console ([`console`]).

pub mod backtest;
pub mod chart;
pub mod console;
pub mod cost;
pub mod files;
