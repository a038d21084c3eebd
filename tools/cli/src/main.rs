//! `driftline`: dry-run plans and backtests, with the same core code the
//! Lambda functions run, and the operator's console for a deployed stack
//! (`driftline_cli::console`).

mod backtest_cmd;
mod cost_cmd;
mod files;
mod plan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use driftline_cli::console::{self, dlq, history, orders, status, Target};

#[derive(Debug, Parser)]
#[command(
    name = "driftline",
    version,
    about = "Keeps crypto portfolios near their targets at the lowest trading cost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where the deployment is, for the console's commands.
    #[command(flatten)]
    target: Target,
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
    /// The deployment at a glance: halt, breakers, each portfolio's last cycle and open orders,
    /// queue depths, alarms in ALARM.
    Status(status::StatusArgs),
    /// The ledger as a person reads it: each order with its legs, fills, fees and slippage.
    Orders(orders::OrdersArgs),
    /// A portfolio's drift per asset over its stored cycles, with the bands: table and chart.
    History(history::HistoryArgs),
    /// The dead-letter queue: what is in it and why, and moving messages back.
    Dlq(dlq::DlqArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let console = |r: Result<(), console::ConsoleError>| r.map_err(Into::into);
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args, &cli.target),
        Command::Backtest(args) => backtest_cmd::run(&args),
        Command::Cost(args) => cost_cmd::run(&args),
        Command::Status(args) => console(status::run(&cli.target, &args)),
        Command::Orders(args) => console(orders::run(&cli.target, &args)),
        Command::History(args) => console(history::run(&cli.target, &args)),
        Command::Dlq(args) => console(dlq::run(&cli.target, &args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
