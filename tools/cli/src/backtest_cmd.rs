//! `driftline backtest`: replays generated or Binance kline prices through core's planner for
//! calendar, threshold and driftline policies, and reports what each traded and paid.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use driftline_cli::backtest::{
    self, chart, equal_tracking, tracking_chart, AcrossPaths, CalendarPeriod, EqualTracking,
    EqualTrackingConfig, ExecutionModel, GeneratorConfig, MarketConfig, PolicyResult, PolicyRun,
    RunOptions, Scenario, Schedule, SeedRun, VenueConfig,
};
use driftline_core::{Asset, Band, Destination, Fees, RebalancePolicy, VelocityRule};
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Interval {
    #[value(name = "1m")]
    M1,
    #[value(name = "5m")]
    M5,
    #[value(name = "15m")]
    M15,
    #[value(name = "1h")]
    H1,
    #[value(name = "4h")]
    H4,
    #[value(name = "1d")]
    D1,
}

impl Interval {
    fn millis(self) -> i64 {
        match self {
            Self::M1 => 60_000,
            Self::M5 => 300_000,
            Self::M15 => 900_000,
            Self::H1 => 3_600_000,
            Self::H4 => 14_400_000,
            Self::D1 => 86_400_000,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DestinationArg {
    BandEdge,
    /// Inside the band, `--inside-fraction` of the way from the band edge to the target.
    Inside,
    Target,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExecutionArg {
    /// Limit orders as the executor places, follows, re-prices and cancels them.
    Limit,
    /// Every order fills at once as a taker at the cost model's prediction.
    InstantTaker,
}

impl From<ExecutionArg> for ExecutionModel {
    fn from(arg: ExecutionArg) -> Self {
        match arg {
            ExecutionArg::Limit => Self::Limit,
            ExecutionArg::InstantTaker => Self::InstantTaker,
        }
    }
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Binance kline CSV per asset, as ASSET=PATH (repeat). Without it, prices are generated.
    #[arg(long, value_name = "ASSET=PATH")]
    klines: Vec<String>,
    /// Seed of the generated prices.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Replay every policy over N generated paths (seeds --seed to --seed + N − 1), in
    /// parallel, and report what each ends with across them (no chart).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    seeds: Option<u64>,
    /// Number of generated assets (1 to 20).
    #[arg(long, default_value_t = 5)]
    assets: usize,
    /// Length of the generated history in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Interval of the generated prices.
    #[arg(long, value_enum, default_value = "1h")]
    interval: Interval,
    /// The quote asset, held as cash.
    #[arg(long, default_value = "USDT")]
    quote: String,
    /// Starting value in the quote asset.
    #[arg(long, default_value = "1000000")]
    equity: Decimal,
    /// Target weight of cash; the rest is split equally between the assets.
    #[arg(long, default_value = "0.02")]
    cash: Decimal,
    #[arg(long, default_value = "10")]
    maker_bps: Decimal,
    #[arg(long, default_value = "10")]
    taker_bps: Decimal,
    /// Full bid-ask spread of the simulated books, in bps.
    #[arg(long, default_value = "2")]
    spread_bps: Decimal,
    /// Levels per side of the simulated books.
    #[arg(long, default_value_t = 20)]
    levels: u32,
    /// Distance between levels, in bps of the mid.
    #[arg(long, default_value = "2")]
    level_step_bps: Decimal,
    /// Quote value of each level at the first price.
    #[arg(long, default_value = "25000")]
    level_notional: Decimal,
    /// A venue the portfolio is spread over, as NAME[:KEY=VALUE,...] (repeat): binance,
    /// kraken or coinbase, and any of fee (maker and taker bps), maker, taker, spread and depth
    /// (multipliers of the books above) and share (of the starting holdings; equal without).
    /// Example: --venue binance --venue kraken:fee=26,spread=1.5. Without it, one account on
    /// the books and fees above.
    #[arg(long = "venue", value_name = "NAME[:KEY=VALUE,...]")]
    venues: Vec<String>,
    /// Share of every asset but the cash held off every exchange (counted, never traded).
    #[arg(long, default_value = "0")]
    off_exchange: Decimal,
    /// driftline: no-trade band half-width (absolute weight, 0.05 = 5 pp).
    #[arg(long, default_value = "0.05")]
    band: Decimal,
    /// driftline: trades predicted to cost more than this (bps of notional) are skipped.
    #[arg(long, default_value = "50")]
    cost_cap_bps: Decimal,
    /// driftline: where a trade takes an asset that left its band.
    #[arg(long, value_enum, default_value = "band-edge")]
    destination: DestinationArg,
    /// With `--destination inside` and for `--equal-tracking`'s inside curve: how far from the
    /// band edge (0) to the target (1) a trade goes.
    #[arg(long, default_value = "0.5")]
    inside_fraction: Decimal,
    /// Every policy: trades smaller than this (quote asset) are not made.
    #[arg(long, default_value = "10")]
    min_notional: Decimal,
    /// driftline: velocity horizon in cycles (0 turns the velocity rule off).
    #[arg(long, default_value = "1")]
    velocity_horizon: Decimal,
    /// The naive rule's band: back to target beyond this drift.
    #[arg(long, default_value = "0.05")]
    threshold: Decimal,
    /// How orders execute: limit orders followed as the executor does, or every order at once
    /// as a taker at the cost model's prediction.
    #[arg(long, value_enum, default_value = "limit")]
    execution: ExecutionArg,
    /// How long every policy's orders may work before the rest is cancelled, in seconds
    /// (default: the policies' own, 900). The limit model sees the market once a step, so a
    /// deadline shorter than a step gives each order one look.
    #[arg(long, value_name = "SECONDS")]
    order_ttl: Option<u32>,
    /// Also sweep driftline over band widths × cost caps and print the frontier.
    #[arg(long)]
    sweep: bool,
    /// Band widths of the sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.01,0.02,0.03,0.05,0.08"
    )]
    sweep_bands: Vec<Decimal>,
    /// Cost caps of the sweep, in bps.
    #[arg(long, value_delimiter = ',', default_value = "12,13,15,20,50")]
    sweep_caps: Vec<Decimal>,
    /// Also match each calendar policy's tracking error with a band policy (band edge and
    /// inside the band), by bisection on the band width, and compare cost and turnover.
    #[arg(long)]
    equal_tracking: bool,
    /// Band widths run for every destination by `--equal-tracking`: its chart's curves and
    /// the brackets of its bisection (a zero band is always added).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.0001,0.0025,0.005,0.0075,0.01,0.0125,0.015,0.02,0.025,0.03,0.04,0.05,0.065,0.08"
    )]
    tracking_bands: Vec<Decimal>,
    /// `--equal-tracking`: a band matches when its tracking error is within this fraction of
    /// the calendar's.
    #[arg(long, default_value_t = 0.02)]
    tracking_tolerance: f64,
    /// Where `--equal-tracking`'s chart goes (default: frontier.png in `--out`).
    #[arg(long, value_name = "PATH")]
    frontier_chart: Option<PathBuf>,
    /// Print JSON (decimals as strings) instead of tables.
    #[arg(long)]
    json: bool,
    /// Where the chart goes.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Do not draw the chart.
    #[arg(long)]
    no_chart: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    execution: ExecutionModel,
    steps: usize,
    assets: Vec<String>,
    venues: Vec<String>,
    quote: &'a str,
    #[serde(with = "driftline_core::exact")]
    initial_equity: Decimal,
    results: &'a [PolicyResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    frontier: Option<backtest::Frontier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    equal_tracking: Option<&'a EqualTracking>,
}

/// `--seeds --json`: the aggregate and every path's results.
#[derive(Serialize)]
struct SeedsOutput<'a> {
    steps: usize,
    assets: Vec<String>,
    venues: Vec<String>,
    quote: &'a str,
    execution: ExecutionModel,
    #[serde(with = "driftline_core::exact")]
    initial_equity: Decimal,
    across_paths: &'a AcrossPaths,
    per_seed: &'a [SeedRun],
}

fn generator_config(
    args: &BacktestArgs,
    quote: &Asset,
    market: MarketConfig,
) -> Result<GeneratorConfig, Box<dyn std::error::Error>> {
    let interval_ms = args.interval.millis();
    let steps = usize::try_from(i64::from(args.days) * 86_400_000 / interval_ms)?;
    Ok(GeneratorConfig {
        seed: args.seed,
        assets: args.assets,
        steps,
        interval_ms,
        quote: quote.clone(),
        market,
        ..GeneratorConfig::default()
    })
}

fn driftline_policy(args: &BacktestArgs, band: Decimal, cap: Decimal) -> RebalancePolicy {
    RebalancePolicy {
        band: Band {
            absolute: Some(band),
            relative: None,
        },
        destination: match args.destination {
            DestinationArg::BandEdge => Destination::BandEdge,
            DestinationArg::Inside => Destination::InsideBand(args.inside_fraction),
            DestinationArg::Target => Destination::Target,
        },
        min_trade_notional: args.min_notional,
        max_cost_bps: cap,
        velocity: (args.velocity_horizon > Decimal::ZERO).then(|| VelocityRule {
            horizon_cycles: args.velocity_horizon,
            ..VelocityRule::default()
        }),
        ..RebalancePolicy::default()
    }
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).normalize())
}

/// The flags `--destination inside`, `--min-notional` and `--equal-tracking` read, checked
/// before anything runs.
fn check_flags(args: &BacktestArgs) -> Result<(), String> {
    if args.inside_fraction < Decimal::ZERO || args.inside_fraction > Decimal::ONE {
        return Err(format!(
            "--inside-fraction {}: must be in [0, 1] (0 is the band edge, 1 the target)",
            args.inside_fraction
        ));
    }
    if args.min_notional < Decimal::ZERO {
        return Err(format!(
            "--min-notional {}: must not be negative",
            args.min_notional
        ));
    }
    if !(args.tracking_tolerance.is_finite() && args.tracking_tolerance > 0.0) {
        return Err(format!(
            "--tracking-tolerance {}: must be a positive fraction (0.02 = 2%)",
            args.tracking_tolerance
        ));
    }
    if let Some(b) = args
        .tracking_bands
        .iter()
        .find(|b| **b < Decimal::ZERO || **b > Decimal::ONE)
    {
        return Err(format!(
            "--tracking-bands {b}: must be in [0, 1] (0.01 = 1 pp)"
        ));
    }
    Ok(())
}

/// # Errors
/// A message naming the argument, file, line or column that is wrong.
pub fn run(args: &BacktestArgs) -> Result<(), Box<dyn std::error::Error>> {
    check_flags(args)?;
    let quote = Asset::new(&args.quote).map_err(|e| format!("--quote: {e}"))?;
    let market = MarketConfig {
        spread_bps: args.spread_bps,
        levels: args.levels,
        level_step_bps: args.level_step_bps,
        level_notional: args.level_notional,
        ..MarketConfig::default()
    };
    if args.seeds.is_some() && !args.klines.is_empty() {
        return Err("--seeds: replays generated prices only, not --klines".into());
    }
    if args.seeds.is_some() && (args.equal_tracking || args.frontier_chart.is_some()) {
        return Err("--seeds: compares policies across paths; run --equal-tracking (and --frontier-chart) on one path".into());
    }
    if args.order_ttl == Some(0) {
        return Err("--order-ttl 0: an order needs at least 1 second to work".into());
    }
    let history = if args.klines.is_empty() {
        backtest::generate(&generator_config(args, &quote, market)?)?
    } else {
        let mut series = Vec::new();
        for spec in &args.klines {
            let (asset, path) = spec
                .split_once('=')
                .ok_or_else(|| format!("--klines {spec:?}: expected ASSET=PATH"))?;
            let asset = Asset::new(asset).map_err(|e| format!("--klines {spec:?}: {e}"))?;
            series.push((asset, backtest::read_klines(std::path::Path::new(path))?));
        }
        backtest::history_from_klines(&quote, &series, &market)?
    };
    let fees = Fees {
        maker_bps: args.maker_bps,
        taker_bps: args.taker_bps,
    };
    let scenario = Scenario {
        targets: backtest::equal_targets(&history, args.cash)?,
        initial_equity: args.equity,
        fees,
        venues: args
            .venues
            .iter()
            .map(|spec| VenueConfig::parse(spec, fees).map_err(|e| format!("--venue: {e}")))
            .collect::<Result<_, _>>()?,
        off_exchange: args.off_exchange,
        history,
    };

    let mut runs: Vec<PolicyRun> = [
        PolicyRun::calendar(CalendarPeriod::Daily),
        PolicyRun::calendar(CalendarPeriod::Weekly),
        PolicyRun::calendar(CalendarPeriod::Monthly),
        PolicyRun::threshold(args.threshold),
    ]
    .into_iter()
    .map(|mut r| {
        r.policy.min_trade_notional = args.min_notional;
        r
    })
    .collect();
    runs.extend([PolicyRun::driftline(
        format!(
            "driftline ±{} cap {} bps",
            pct(args.band),
            args.cost_cap_bps.normalize()
        ),
        driftline_policy(args, args.band, args.cost_cap_bps),
    )]);
    let headline = runs.len();
    let mut sweep_points = Vec::new();
    if args.sweep {
        for band in &args.sweep_bands {
            for cap in &args.sweep_caps {
                sweep_points.push((*band, *cap));
                runs.push(PolicyRun::driftline(
                    format!("±{} cap {}", pct(*band), cap.normalize()),
                    driftline_policy(args, *band, *cap),
                ));
            }
        }
    }

    if let Some(ttl) = args.order_ttl {
        for run in &mut runs {
            run.policy.order_ttl_seconds = ttl;
        }
    }
    let execution: ExecutionModel = args.execution.into();
    let options = RunOptions {
        record_series: !args.no_chart,
        execution,
        ..RunOptions::default()
    };
    if let Some(count) = args.seeds {
        // driftline's own policy is the last of the headline runs; sweep points follow it.
        let driftline = runs.get(..headline).and_then(<[_]>::last);
        let baselines: Vec<&str> = runs
            .iter()
            .find(|r| r.schedule == Schedule::Calendar(CalendarPeriod::Daily))
            .into_iter()
            .chain(driftline)
            .map(|r| r.name.as_str())
            .collect();
        let seeds = Seeds {
            count,
            generator: generator_config(args, &quote, market)?,
            template: &scenario,
        };
        return run_seeds(args, &seeds, &runs, &baselines, options);
    }

    let steps = scenario.history.steps();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} steps ({eta})")?
            .progress_chars("=> "),
    );
    bar.set_message(format!("backtest: {} policies", runs.len()));
    let results = backtest::run(&scenario, &runs, options, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let equal_tracking = if args.equal_tracking {
        let started = std::time::Instant::now();
        let config = EqualTrackingConfig {
            destinations: vec![
                Destination::BandEdge,
                Destination::InsideBand(args.inside_fraction),
            ],
            sweep_bands: args.tracking_bands.clone(),
            tolerance: args.tracking_tolerance,
            min_trade_notional: args.min_notional,
            order_ttl_seconds: args.order_ttl,
            ..EqualTrackingConfig::default()
        };
        // Sweeps keep no series: only the summary figures are compared.
        let sweep_options = RunOptions {
            record_series: false,
            ..options
        };
        let result = backtest::equal_tracking(&scenario, &config, &sweep_options)?;
        eprintln!(
            "equal tracking: {} band policies in {:.1} s",
            result.matches.iter().map(|m| m.evaluations).sum::<usize>(),
            started.elapsed().as_secs_f64()
        );
        Some(result)
    } else {
        None
    };

    let (main, swept) = results.split_at(headline.min(results.len()));
    let frontier = args.sweep.then(|| {
        let points: Vec<_> = sweep_points
            .iter()
            .zip(swept)
            .map(|((b, c), r)| (*b, *c, r))
            .collect();
        backtest::frontier(&points)
    });
    let quote_code = quote.as_str();
    if args.json {
        let output = Output {
            execution,
            steps,
            assets: scenario
                .history
                .markets
                .iter()
                .map(|m| m.asset.to_string())
                .collect(),
            venues: scenario
                .venues
                .iter()
                .map(|v| v.venue.to_string())
                .collect(),
            quote: quote_code,
            initial_equity: scenario.initial_equity,
            results: main,
            frontier: frontier.clone(),
            equal_tracking: equal_tracking.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        let first = scenario.history.times_ms.first().copied().unwrap_or(0);
        let last = scenario.history.times_ms.last().copied().unwrap_or(0);
        let venues: Vec<String> = scenario
            .venues
            .iter()
            .map(|v| {
                format!(
                    "{} ({} bps taker, spread ×{}, depth ×{})",
                    v.venue,
                    v.fees.taker_bps.normalize(),
                    v.spread_multiplier.normalize(),
                    v.depth_multiplier.normalize()
                )
            })
            .collect();
        println!(
            "{} assets · {steps} steps over {:.1} days · start {:.2} {quote_code}{}{} · {}",
            scenario.history.markets.len(),
            (last - first) as f64 / 86_400_000.0,
            scenario.initial_equity,
            if venues.is_empty() {
                String::new()
            } else {
                format!(" · on {}", venues.join(", "))
            },
            if scenario.off_exchange.is_zero() {
                String::new()
            } else {
                format!(" · {} off exchange", pct(scenario.off_exchange))
            },
            match (execution, args.order_ttl) {
                (ExecutionModel::InstantTaker, _) => "instant taker fills".to_owned(),
                (ExecutionModel::Limit, None) => "limit orders".to_owned(),
                (ExecutionModel::Limit, Some(ttl)) => format!("limit orders of {ttl} s"),
            },
        );
        print!("{}", backtest::render_table(main, quote_code));
        if execution == ExecutionModel::Limit {
            println!("execution: limit orders as the executor places, follows and cancels them");
            print!("{}", backtest::render_execution(main, quote_code));
        }
        if !scenario.venues.is_empty() || !scenario.off_exchange.is_zero() {
            println!("per venue: where each policy's orders went and what they cost");
            print!("{}", backtest::render_venues(main, quote_code));
        }
        if let Some(f) = &frontier {
            println!(
                "sweep: band × cost cap, cheapest first (● = on the cost/tracking-error frontier)"
            );
            print!("{}", backtest::render_frontier(f));
        }
        if let Some(e) = &equal_tracking {
            println!(
                "equal tracking error: each calendar policy against the band policy that tracks as closely \
                 (within {}%; minimum trade {} {quote_code}; ratios: band / calendar)",
                e.tolerance * 100.0,
                e.min_trade_notional.normalize()
            );
            print!("{}", equal_tracking::render(e, quote_code));
        }
    }
    if !args.no_chart {
        std::fs::create_dir_all(&args.out)
            .map_err(|e| format!("{}: cannot create: {e}", args.out.display()))?;
        let path = args.out.join("backtest.png");
        let with_text = chart::draw(&path, main, &scenario.history.times_ms, quote_code)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("chart: {}", path.display());
        if !with_text {
            eprintln!("note: no DejaVu Sans font found (Debian: fonts-dejavu-core); the chart has no text");
        }
        if let Some(e) = &equal_tracking {
            let path = args
                .frontier_chart
                .clone()
                .unwrap_or_else(|| args.out.join("frontier.png"));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
            }
            tracking_chart::draw(&path, e, quote_code)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("chart: {}", path.display());
        }
    }
    Ok(())
}

/// `--seeds N`: the paths to replay, each `template` with the prices `generator` makes from
/// its seed.
struct Seeds<'a> {
    count: u64,
    generator: GeneratorConfig,
    template: &'a Scenario,
}

/// Every policy of `runs` over every path of `seeds`, compared on each path with `baselines`.
fn run_seeds(
    args: &BacktestArgs,
    seeds: &Seeds<'_>,
    runs: &[PolicyRun],
    baselines: &[&str],
    options: RunOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let Seeds {
        count,
        ref generator,
        template,
    } = *seeds;
    let last = args
        .seed
        .checked_add(count - 1)
        .ok_or_else(|| format!("--seeds {count}: seeds from --seed {} overflow", args.seed))?;
    let seed_list: Vec<u64> = (args.seed..=last).collect();
    // Every path has the same assets, so the template's targets hold for each.
    let scenario_of = |seed: u64| {
        Ok(Scenario {
            history: backtest::generate(&GeneratorConfig {
                seed,
                ..generator.clone()
            })?,
            ..template.clone()
        })
    };
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} paths ({eta})")?
            .progress_chars("=> "),
    );
    bar.set_message(format!("backtest: {} policies", runs.len()));
    let paths = backtest::run_seeds(&seed_list, scenario_of, runs, options, &|| bar.inc(1))?;
    bar.finish_and_clear();

    let summary = backtest::summarize(&paths, baselines)?;
    let quote = template.history.quote.as_str();
    let history = &template.history;
    if args.json {
        let output = SeedsOutput {
            steps: history.steps(),
            assets: history
                .markets
                .iter()
                .map(|m| m.asset.to_string())
                .collect(),
            venues: template
                .venues
                .iter()
                .map(|v| v.venue.to_string())
                .collect(),
            quote,
            execution: options.execution,
            initial_equity: template.initial_equity,
            across_paths: &summary,
            per_seed: &paths,
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        println!(
            "{count} paths (seeds {}–{last}) · {} assets · {} steps over {} days each · start {:.2} {quote}",
            args.seed,
            history.markets.len(),
            history.steps(),
            args.days,
            template.initial_equity,
        );
        print!("{}", backtest::render_seeds(&summary, quote));
    }
    Ok(())
}
