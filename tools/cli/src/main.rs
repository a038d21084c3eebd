//! `driftline`: dry-run plans and backtests, with the same core code the
//! Lambda functions run.

mod backtest_cmd;
mod cost_cmd;
mod files;
mod plan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "driftline",
    version,
    about = "Keeps crypto portfolios near their targets at the lowest trading cost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what driftline would trade now, and why: a dry run that places nothing.
    Plan(plan::PlanArgs),
    /// Replay price history through calendar, threshold and driftline policies and compare
    /// what each traded and paid.
    Backtest(Box<backtest_cmd::BacktestArgs>),
    /// The monthly AWS bill of a workload at public on-demand prices, as a table.
    Cost(Box<cost_cmd::CostArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Backtest(args) => backtest_cmd::run(&args),
        Command::Cost(args) => cost_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
