//! Simulated asset-hours per second: a year of hourly prices for 20 assets through the
//! planner (target: well under a second per policy).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use driftline_cli::backtest::{
    self, equal_targets, CalendarPeriod, Depth, ExecutionModel, GeneratorConfig, PolicyRun,
    RunOptions, Scenario,
};
use driftline_core::{Fees, RebalancePolicy};
use rust_decimal::Decimal;

fn year_of_twenty() -> Scenario {
    // `cargo test --all-targets` runs each benchmark once to check it works: a week will do.
    let days = if std::env::args().any(|a| a == "--bench") {
        365
    } else {
        7
    };
    let history = backtest::generate(&GeneratorConfig {
        assets: 20,
        steps: 24 * days,
        ..GeneratorConfig::default()
    })
    .expect("the default generator configuration is valid");
    Scenario {
        targets: equal_targets(&history, Decimal::new(2, 2)).expect("2% cash is a valid target"),
        initial_equity: Decimal::from(1_000_000),
        fees: Fees::default(),
        venues: Vec::new(),
        off_exchange: Decimal::ZERO,
        history,
    }
}

fn asset_hours(c: &mut Criterion) {
    let scenario = year_of_twenty();
    let asset_hours = (scenario.history.steps() * scenario.history.markets.len()) as u64;
    // The instant-taker model, as docs/BENCHMARKS.md measured it.
    let options = RunOptions {
        execution: ExecutionModel::InstantTaker,
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("backtest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(asset_hours));
    let driftline = [PolicyRun::driftline(
        "driftline",
        RebalancePolicy::default(),
    )];
    group.bench_function("year_hourly_20_assets_driftline", |b| {
        b.iter(|| backtest::run(&scenario, &driftline, options, &mut |_| {}))
    });
    let calendar = [PolicyRun::calendar(CalendarPeriod::Daily)];
    group.bench_function("year_hourly_20_assets_calendar_daily", |b| {
        b.iter(|| backtest::run(&scenario, &calendar, options, &mut |_| {}))
    });
    // The simulated books alone: every market's book at every step.
    group.bench_function("year_hourly_20_assets_books_only", |b| {
        b.iter(|| {
            (0..scenario.history.steps())
                .map(|step| {
                    scenario
                        .history
                        .markets_at(step, Depth::Full)
                        .map(|m| m.len())
                })
                .sum::<Result<usize, _>>()
        })
    });
    group.finish();
}

criterion_group!(benches, asset_hours);
criterion_main!(benches);
