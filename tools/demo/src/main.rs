//! `driftline-demo`: see the crate docs. `make demo` starts the local AWS emulator, runs this,
//! and stops the emulator; this binary stops the paper exchange it started, also on Ctrl-C.
//! With `--keep` (`make demo KEEP=1`) everything stays up after the cycles until Ctrl-C, for
//! the operator's console (`console`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use driftline_demo::console::{stay_up, DemoDeployment};
use driftline_demo::report::Report;
use driftline_demo::{run, start, write_outputs, Options};

#[derive(Debug, Parser)]
#[command(
    name = "driftline-demo",
    about = "The whole driftline pipeline on this machine"
)]
struct Args {
    /// Scheduler cycles to run.
    #[arg(long, default_value_t = 5)]
    cycles: u32,
    /// Where the JSON report and the PNG chart go.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// The article's portfolio only.
    #[arg(long)]
    article_only: bool,
    /// Stay up after the cycles, until Ctrl-C, and print the line to export so the
    /// `driftline` console can be tried on the demo's portfolios.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let specs = match driftline_demo::scenario::portfolios(args.article_only) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let world = tokio::select! {
        w = start(&specs) => w,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            return ExitCode::from(130);
        }
    };
    let world = match world {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let venues: Vec<String> = world
        .venues()
        .map(|v| format!("{:?} {}", v.dialect(), v.base_url()).to_lowercase())
        .collect();
    println!(
        "driftline demo · paper exchanges {} · {} portfolio(s): {}",
        venues.join(", "),
        specs.len(),
        specs
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let on: Vec<String> = specs
        .iter()
        .map(|s| {
            let venues: Vec<String> = driftline_demo::spread::accounts_of(s)
                .iter()
                .map(|a| {
                    driftline_demo::spread::venue_of(&world, a)
                        .map_or_else(|_| "?".to_owned(), |v| v.to_string())
                })
                .collect();
            let off = if s.off_exchange.is_empty() {
                ""
            } else {
                " + off exchange"
            };
            format!("{} on {}{off}", s.id, venues.join(" + "))
        })
        .collect();
    println!("portfolios and their venues: {}", on.join(", "));
    println!(
        "AWS emulator {} · table {} · queue {} · secrets {}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        world.store.table(),
        world.queue_url.rsplit('/').next().unwrap_or_default(),
        world.secret_ids.len()
    );
    let options = Options {
        cycles: args.cycles,
        ..Options::default()
    };
    let mut stdout = std::io::stdout();
    let outcome = tokio::select! {
        r = run(&world, &specs, &options, &mut stdout) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let (code, ran) = match outcome {
        None => {
            eprintln!("interrupted: paper exchange stopped");
            (ExitCode::from(130), false)
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            (ExitCode::FAILURE, false)
        }
        Some(Ok(report)) => (finish(&report, &args.out), true),
    };
    // A run that did not pass its checks is still worth looking into with the console.
    if args.keep && ran {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        if let Err(e) = stay_up(&DemoDeployment::of(&world, &endpoint), &mut stdout).await {
            eprintln!("error: {e}");
        }
    }
    world.stop().await;
    code
}

/// Writes the report and the chart; success when every portfolio ended in its bands and no
/// client order id reached the exchange twice.
fn finish(report: &Report, out: &std::path::Path) -> ExitCode {
    match write_outputs(report, out) {
        Ok((json, png)) => {
            println!("report {}", json.display());
            println!("chart  {}", png.display());
            let ok = report.final_state.iter().all(|p| p.within_bands)
                && report.summary.duplicate_client_order_ids.is_empty();
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
