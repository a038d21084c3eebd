//! `driftline`: dry-run plans and backtests, with the same core code the
//! Lambda functions run, and the operator's console for a deployed stack
//! (`driftline_cli::console`).

mod backtest_cmd;
mod cost_cmd;
mod plan;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use driftline_cli::console::{self, halt, portfolio, run_now};

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
    /// A deployment's portfolios: apply a file, list, show, pause, resume, remove.
    Portfolio(Box<portfolio::PortfolioArgs>),
    /// Stop all trading in the deployment (the kill switch): no cycle plans, no order is placed.
    Halt(Box<halt::HaltArgs>),
    /// Lift the halt: cycles plan again and the intents held in the queue run.
    Resume(Box<halt::ResumeArgs>),
    /// Invoke the deployed scheduler once, now, for every portfolio or the ones named.
    RunNow(Box<run_now::RunNowArgs>),
    /// Print a shell completion script: `driftline completions bash > …` (see README.md).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn console_result(r: Result<(), console::ConsoleError>) -> Result<(), Box<dyn std::error::Error>> {
    r.map_err(Into::into)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Backtest(args) => backtest_cmd::run(&args),
        Command::Cost(args) => cost_cmd::run(&args),
        Command::Portfolio(args) => console_result(console::block_on(portfolio::run(&args))),
        Command::Halt(args) => console_result(console::block_on(halt::halt(&args))),
        Command::Resume(args) => console_result(console::block_on(halt::resume(&args))),
        Command::RunNow(args) => console_result(console::block_on(run_now::run(&args))),
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
