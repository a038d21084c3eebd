//! `driftline`: dry-run plans and backtests, with the same core code the
//! Lambda functions run, and the operator's console for a deployed stack
//! (`driftline_cli::console`).

mod backtest_cmd;
mod cost_cmd;
mod plan;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use driftline_cli::console::{
    self, dlq, halt, history, orders, portfolio, run_now, status, Target,
};

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
    /// A deployment's portfolios: apply a file, list, show, pause, resume, remove.
    Portfolio(Box<portfolio::PortfolioArgs>),
    /// Stop all trading in the deployment (the kill switch): no cycle plans, no order is placed.
    Halt(Box<halt::HaltArgs>),
    /// Lift the halt: cycles plan again and the intents held in the queue run.
    Resume(Box<halt::ResumeArgs>),
    /// Invoke the deployed scheduler once, now, for every portfolio or the ones named.
    RunNow(Box<run_now::RunNowArgs>),
    /// The deployment at a glance: halt, breakers, each portfolio's last cycle and open orders,
    /// queue depths, alarms in ALARM.
    Status(status::StatusArgs),
    /// The ledger as a person reads it: each order with its legs, fills, fees and slippage.
    Orders(orders::OrdersArgs),
    /// A portfolio's drift per asset over its stored cycles, with the bands: table and chart.
    History(history::HistoryArgs),
    /// The dead-letter queue: what is in it and why, and moving messages back.
    Dlq(dlq::DlqArgs),
    /// Print a shell completion script: `driftline completions bash > …` (see README.md).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let console = |r: Result<(), console::ConsoleError>| r.map_err(Into::into);
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args, &cli.target),
        Command::Backtest(args) => backtest_cmd::run(&args),
        Command::Cost(args) => cost_cmd::run(&args),
        Command::Portfolio(args) => console(console::block_on(portfolio::run(&cli.target, &args))),
        Command::Halt(args) => console(console::block_on(halt::halt(&cli.target, &args))),
        Command::Resume(args) => console(console::block_on(halt::resume(&cli.target, &args))),
        Command::RunNow(args) => console(console::block_on(run_now::run(&cli.target, &args))),
        Command::Status(args) => console(status::run(&cli.target, &args)),
        Command::Orders(args) => console(orders::run(&cli.target, &args)),
        Command::History(args) => console(history::run(&cli.target, &args)),
        Command::Dlq(args) => console(dlq::run(&cli.target, &args)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "driftline",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
