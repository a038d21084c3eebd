//! The backtester on small generated scenarios, and `driftline backtest` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use driftline_cli::backtest::{
    self, equal_targets, CalendarPeriod, ExecutionModel, GeneratorConfig, MarketConfig,
    PolicyResult, PolicyRun, RunOptions, Scenario, VenueConfig, VenueResult,
};
use driftline_core::{Band, Destination, Fees, RebalancePolicy};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn scenario(config: &GeneratorConfig, fees: Fees) -> Scenario {
    let history = backtest::generate(config).unwrap();
    Scenario {
        targets: equal_targets(&history, dec!(0.02)).unwrap(),
        initial_equity: dec!(1000000),
        fees,
        venues: Vec::new(),
        off_exchange: Decimal::ZERO,
        history,
    }
}

fn small() -> GeneratorConfig {
    GeneratorConfig {
        assets: 4,
        steps: 24 * 20,
        ..GeneratorConfig::default()
    }
}

fn all_policies() -> Vec<PolicyRun> {
    vec![
        PolicyRun::calendar(CalendarPeriod::Daily),
        PolicyRun::calendar(CalendarPeriod::Weekly),
        PolicyRun::threshold(dec!(0.05)),
        PolicyRun::driftline("driftline", RebalancePolicy::default()),
        PolicyRun::driftline(
            "driftline 2%",
            RebalancePolicy {
                band: Band {
                    absolute: Some(dec!(0.02)),
                    relative: None,
                },
                ..RebalancePolicy::default()
            },
        ),
    ]
}

/// The figures of these tests are those of the instant-taker model, the backtest's original
/// execution: they must hold under it unchanged.
fn run_with(scenario: &Scenario, runs: &[PolicyRun], full: bool) -> Vec<PolicyResult> {
    backtest::run(
        scenario,
        runs,
        RunOptions {
            record_series: true,
            always_full_books: full,
            execution: ExecutionModel::InstantTaker,
        },
        &mut |_| {},
    )
    .unwrap()
}

fn run(scenario: &Scenario, runs: &[PolicyRun]) -> Vec<PolicyResult> {
    run_with(scenario, runs, false)
}

#[test]
fn planning_against_the_touch_first_changes_no_result() {
    let s = scenario(&small(), Fees::default());
    let key = |rs: &[PolicyResult]| -> Vec<(u64, u64, u64, Decimal, Decimal, Decimal)> {
        rs.iter()
            .map(|r| {
                (
                    r.trades,
                    r.skipped_cost_cap,
                    r.deferred_by_velocity,
                    r.turnover_quote,
                    r.cost_quote,
                    r.final_value,
                )
            })
            .collect()
    };
    let mut runs = all_policies();
    // A tight cap makes the cost model refuse trades: decisions that need the full books.
    runs.push(PolicyRun::driftline(
        "capped",
        RebalancePolicy {
            max_cost_bps: dec!(11),
            ..RebalancePolicy::default()
        },
    ));
    let lazy = run_with(&s, &runs, false);
    let full = run_with(&s, &runs, true);
    assert!(lazy.iter().any(|r| r.skipped_cost_cap > 0));
    assert_eq!(key(&lazy), key(&full));
}

#[test]
fn value_before_equals_value_after_plus_costs_at_every_trading_step() {
    let s = scenario(&small(), Fees::default());
    for r in run(&s, &all_policies()) {
        let series = r.series.as_ref().unwrap();
        assert!(!series.ledgers.is_empty(), "{} never traded", r.name);
        for l in &series.ledgers {
            assert_eq!(
                l.value_before,
                l.value_after + l.cost,
                "{} at step {}",
                r.name,
                l.step
            );
            assert!(l.cost > Decimal::ZERO, "{} traded for free", r.name);
        }
        let charged: Decimal = series.ledgers.iter().map(|l| l.cost).sum();
        assert_eq!(charged, r.cost_quote, "{}", r.name);
        assert_eq!(series.cumulative_cost.last(), Some(&r.cost_quote));
        assert_eq!(series.equity.last(), Some(&r.final_value));
        assert!(
            r.fee_quote < r.cost_quote,
            "{}: fees are part of cost",
            r.name
        );
    }
}

#[test]
fn zero_band_with_zero_costs_reproduces_daily_calendar_rebalancing() {
    let config = GeneratorConfig {
        assets: 4,
        steps: 90,
        interval_ms: 86_400_000,
        market: MarketConfig {
            spread_bps: Decimal::ZERO,
            levels: 5,
            level_step_bps: dec!(1),
            level_notional: dec!(100000000),
            min_notional: dec!(5),
        },
        ..GeneratorConfig::default()
    };
    let free = Fees {
        maker_bps: Decimal::ZERO,
        taker_bps: Decimal::ZERO,
    };
    let s = scenario(&config, free);
    let zero_band = RebalancePolicy {
        band: Band {
            absolute: Some(Decimal::ZERO),
            relative: None,
        },
        destination: Destination::Target,
        velocity: None,
        ..RebalancePolicy::default()
    };
    let results = run(
        &s,
        &[
            PolicyRun::calendar(CalendarPeriod::Daily),
            PolicyRun::driftline("zero band", zero_band),
        ],
    );
    let (calendar, band) = (&results[0], &results[1]);
    assert!(calendar.trades > 50, "{} trades", calendar.trades);
    assert_eq!(band.trades, calendar.trades);
    assert_eq!(band.turnover_quote, calendar.turnover_quote);
    assert_eq!(band.cost_quote, calendar.cost_quote);
    assert_eq!(band.final_value, calendar.final_value);
    assert_eq!(
        band.series.as_ref().unwrap().equity,
        calendar.series.as_ref().unwrap().equity
    );
    // Zero fees and spread leave half a tick of the grid: well under a hundredth of a bp.
    assert!(
        calendar.cost_bps_of_equity < dec!(0.01),
        "{}",
        calendar.cost_bps_of_equity
    );
    // Back to target every day: drift is what one day's moves make, nothing accumulates.
    assert!(calendar.max_drift < dec!(0.05), "{}", calendar.max_drift);
}

#[test]
fn the_same_seed_gives_the_same_result_and_another_seed_does_not() {
    let a = run(&scenario(&small(), Fees::default()), &all_policies());
    let b = run(&scenario(&small(), Fees::default()), &all_policies());
    let c = run(
        &scenario(&GeneratorConfig { seed: 8, ..small() }, Fees::default()),
        &all_policies(),
    );
    let key = |rs: &[PolicyResult]| -> Vec<(u64, Decimal, Decimal)> {
        rs.iter()
            .map(|r| (r.trades, r.cost_quote, r.final_value))
            .collect()
    };
    assert_eq!(key(&a), key(&b));
    assert_ne!(key(&a), key(&c));
}

#[test]
fn the_cost_aware_band_pays_less_than_daily_calendar_and_tracks_worse() {
    let s = scenario(&small(), Fees::default());
    let results = run(&s, &all_policies());
    let by = |name: &str| results.iter().find(|r| r.name == name).unwrap();
    let (daily, driftline) = (by("calendar daily"), by("driftline"));
    assert!(driftline.cost_quote < daily.cost_quote);
    assert!(driftline.turnover_quote < daily.turnover_quote);
    assert!(driftline.tracking_error > daily.tracking_error);
    // The band holds each asset within 5 pp after every cycle, up to what one hour moves.
    assert!(driftline.max_drift < dec!(0.07), "{}", driftline.max_drift);
}

#[test]
fn a_cost_cap_below_the_fee_trades_nothing() {
    let s = scenario(&small(), Fees::default());
    let capped = RebalancePolicy {
        max_cost_bps: dec!(5),
        ..RebalancePolicy::default()
    };
    let r = &run(&s, &[PolicyRun::driftline("capped", capped)])[0];
    assert_eq!(r.trades, 0);
    assert_eq!(r.cost_quote, Decimal::ZERO);
    assert!(r.skipped_cost_cap > 0);
}

#[test]
fn an_invalid_policy_is_named() {
    let s = scenario(&small(), Fees::default());
    let bad = RebalancePolicy {
        limit_offset: dec!(2),
        ..RebalancePolicy::default()
    };
    let err = backtest::run(
        &s,
        &[PolicyRun::driftline("bad", bad)],
        RunOptions::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("policy \"bad\"") && err.contains("limit_offset"),
        "{err}"
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn driftline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftline"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_prints_json_with_exact_decimals_and_writes_the_chart() {
    let dir = scratch("backtest-json");
    let out = dir.join("charts");
    let o = driftline(&[
        "backtest",
        "--days",
        "10",
        "--assets",
        "3",
        "--json",
        "--sweep",
        "--sweep-bands",
        "0.02,0.05",
        "--sweep-caps",
        "20,50",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["name"], "calendar daily");
    assert!(results[0]["cost_quote"].is_string());
    assert_eq!(json["frontier"]["points"].as_array().unwrap().len(), 4);
    let png = out.join("backtest.png");
    assert!(
        stderr.contains(&format!("chart: {}", png.display())),
        "{stderr}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
}

#[test]
fn cli_replays_binance_klines_and_names_bad_lines() {
    let dir = scratch("backtest-klines");
    let rows = |start: f64, step: f64| -> String {
        (0..72)
            .map(|i| {
                let close = start + step * f64::from(i % 12) - step * 6.0;
                format!(
                    "{},1,1,1,{close:.2},10,{},1,1,1,1,0\n",
                    1_704_067_200_000_i64 + i64::from(i) * 3_600_000,
                    1_704_070_799_999_i64 + i64::from(i) * 3_600_000
                )
            })
            .collect()
    };
    let btc = dir.join("BTCUSDT-1h.csv");
    let eth = dir.join("ETHUSDT-1h.csv");
    std::fs::write(&btc, rows(42_000.0, 900.0)).unwrap();
    std::fs::write(&eth, rows(2_300.0, -60.0)).unwrap();
    let btc_arg = format!("BTC={}", btc.display());
    let eth_arg = format!("ETH={}", eth.display());
    let o = driftline(&[
        "backtest",
        "--klines",
        &btc_arg,
        "--klines",
        &eth_arg,
        "--no-chart",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.starts_with("2 assets · 72 steps over 3.0 days"),
        "{stdout}"
    );
    assert!(stdout.contains("calendar daily"), "{stdout}");

    let bad: String = rows(42_000.0, 900.0)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 6 {
                let mut cols: Vec<&str> = l.split(',').collect();
                cols[4] = "n/a";
                cols.join(",") + "\n"
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&btc, bad).unwrap();
    let o = driftline(&["backtest", "--klines", &btc_arg, "--no-chart"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "BTCUSDT-1h.csv: line 7, column 5 (close): \"n/a\" is not a positive decimal"
        ),
        "{stderr}"
    );
}

#[test]
fn a_portfolio_without_value_is_refused_by_name() {
    let mut s = scenario(&small(), Fees::default());
    s.initial_equity = Decimal::ZERO;
    let err = backtest::run(&s, &all_policies(), RunOptions::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(err, "equity: 0 must be positive");
}

fn venue(spec: &str) -> VenueConfig {
    VenueConfig::parse(spec, Fees::default()).unwrap()
}

/// The small scenario spread equally over a Binance account at the base tier and a Kraken
/// account at 26 bps with a 1.5× wider spread.
fn two_venues(off_exchange: Decimal) -> Scenario {
    Scenario {
        venues: vec![venue("binance"), venue("kraken:fee=26,spread=1.5")],
        off_exchange,
        ..scenario(&small(), Fees::default())
    }
}

/// Every trading step conserves value across the venues; the venues' figures add up to the
/// policy's.
fn assert_conserved_across_venues(r: &PolicyResult) {
    let series = r.series.as_ref().unwrap();
    for l in &series.ledgers {
        assert_eq!(
            l.value_before,
            l.value_after + l.cost,
            "{} at step {}",
            r.name,
            l.step
        );
    }
    let charged: Decimal = series.ledgers.iter().map(|l| l.cost).sum();
    assert_eq!(charged, r.cost_quote, "{}", r.name);
    let sum = |f: fn(&VenueResult) -> Decimal| r.venues.iter().map(f).sum::<Decimal>();
    assert_eq!(sum(|v| v.cost_quote), r.cost_quote, "{}", r.name);
    assert_eq!(sum(|v| v.turnover_quote), r.turnover_quote, "{}", r.name);
    assert_eq!(sum(|v| v.fee_quote), r.fee_quote, "{}", r.name);
    assert_eq!(
        r.venues.iter().map(|v| v.buys + v.sells).sum::<u64>(),
        r.trades,
        "{}",
        r.name
    );
    assert_eq!(
        sum(|v| v.final_value) + r.off_exchange_value,
        r.final_value,
        "{}",
        r.name
    );
    assert_eq!(series.equity.last(), Some(&r.final_value), "{}", r.name);
}

#[test]
fn the_cheaper_venue_gets_most_of_the_trades_and_value_is_conserved_across_venues() {
    let s = two_venues(Decimal::ZERO);
    for r in run(&s, &all_policies()) {
        assert_conserved_across_venues(&r);
        let [binance, kraken] = &r.venues[..] else {
            panic!("{}: {} venues", r.name, r.venues.len());
        };
        assert_eq!(
            (binance.venue.as_str(), kraken.venue.as_str()),
            ("binance", "kraken")
        );
        assert!(r.trades > 0, "{} never traded", r.name);
        assert!(
            binance.buys > kraken.buys && binance.sells > kraken.sells,
            "{}: binance {}/{} kraken {}/{} (buys/sells)",
            r.name,
            binance.buys,
            binance.sells,
            kraken.buys,
            kraken.sells
        );
        assert!(binance.turnover_quote > kraken.turnover_quote, "{}", r.name);
        // What Kraken did trade paid its own fee tier.
        if !kraken.turnover_quote.is_zero() {
            assert!(kraken.fee_quote * dec!(10000) / kraken.turnover_quote >= dec!(26));
        }
    }
}

#[test]
fn the_same_trades_cost_more_on_a_dearer_venue() {
    let cheap = run(&scenario(&small(), Fees::default()), &all_policies());
    let dear = run(
        &Scenario {
            venues: vec![venue("kraken:fee=26,spread=1.5")],
            ..scenario(&small(), Fees::default())
        },
        &all_policies(),
    );
    let daily = |rs: &[PolicyResult]| rs.iter().find(|r| r.name == "calendar daily").cloned();
    let (cheap, dear) = (daily(&cheap).unwrap(), daily(&dear).unwrap());
    // 26 bps and a 1.5× spread against 10 bps: about 27.5 against 11 bps a trade.
    assert!(
        dear.cost_quote > cheap.cost_quote * dec!(2),
        "{} against {}",
        dear.cost_quote,
        cheap.cost_quote
    );
}

#[test]
fn one_named_venue_on_the_scenario_books_gives_the_single_account_figures() {
    let key = |rs: &[PolicyResult]| -> Vec<(u64, u64, Decimal, Decimal, Decimal, Decimal, f64)> {
        rs.iter()
            .map(|r| {
                (
                    r.trades,
                    r.deferred_by_velocity,
                    r.turnover_quote,
                    r.cost_quote,
                    r.max_drift,
                    r.final_value,
                    r.tracking_error,
                )
            })
            .collect()
    };
    let single = run(&scenario(&small(), Fees::default()), &all_policies());
    let named = run(
        &Scenario {
            venues: vec![venue("binance")],
            ..scenario(&small(), Fees::default())
        },
        &all_policies(),
    );
    assert_eq!(key(&single), key(&named));
    for r in &single {
        assert_eq!(r.venues.len(), 1);
        assert_eq!(r.venues[0].cost_quote, r.cost_quote);
        assert_eq!(r.off_exchange_value, Decimal::ZERO);
    }
}

#[test]
fn holdings_off_the_exchanges_are_counted_and_never_traded() {
    let s = two_venues(dec!(0.3));
    let results = run(&s, &all_policies());
    for r in &results {
        assert_conserved_across_venues(r);
        // 30% of the 98% held in assets sits off the exchanges at the start; prices move it.
        assert!(
            r.off_exchange_value > r.final_value * dec!(0.2)
                && r.off_exchange_value < r.final_value * dec!(0.4),
            "{}: {} of {}",
            r.name,
            r.off_exchange_value,
            r.final_value
        );
    }
    // The cold share is the same quantities for every policy: its value at the last mids too.
    let off: Vec<Decimal> = results.iter().map(|r| r.off_exchange_value).collect();
    assert!(off.windows(2).all(|w| w[0] == w[1]), "{off:?}");
}

#[test]
fn bad_venues_are_refused_by_name() {
    let mut s = two_venues(Decimal::ZERO);
    s.venues[1].share = Some(dec!(0.4));
    let err = backtest::run(&s, &all_policies(), RunOptions::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "venue share: give a share on every venue or on none (equal shares)"
    );
}

#[test]
fn cli_reports_each_venue_in_tables_and_json() {
    let args = [
        "backtest",
        "--days",
        "10",
        "--assets",
        "3",
        "--no-chart",
        "--venue",
        "binance",
        "--venue",
        "kraken:fee=26,spread=1.5",
    ];
    let o = driftline(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("per venue"), "{stdout}");
    assert!(stdout.contains("kraken"), "{stdout}");

    let o = driftline(&[&args[..], &["--json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["venues"], serde_json::json!(["binance", "kraken"]));
    let venues = json["results"][0]["venues"].as_array().unwrap();
    assert_eq!(venues.len(), 2);
    assert_eq!(venues[1]["venue"], "kraken");
    assert!(venues[1]["cost_quote"].is_string());

    let o = driftline(&["backtest", "--no-chart", "--venue", "bitstamp"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--venue: venue \"bitstamp\": is not a venue (binance, kraken, coinbase)"),
        "{stderr}"
    );
}

#[test]
fn a_cheap_venue_short_of_holdings_passes_the_rest_to_the_dear_one() {
    let s = Scenario {
        venues: vec![
            venue("binance:share=0.1"),
            venue("kraken:fee=26,spread=1.5,share=0.9"),
        ],
        ..scenario(&small(), Fees::default())
    };
    let results = run(&s, &all_policies());
    for r in &results {
        assert_conserved_across_venues(r);
        assert_eq!(
            r.rejected, 0,
            "{}: every routed order could be filled",
            r.name
        );
    }
    let daily = &results[0];
    assert_eq!(daily.name, "calendar daily");
    let (binance, kraken) = (&daily.venues[0], &daily.venues[1]);
    assert!(binance.sells > 0 && binance.buys > 0);
    assert!(
        kraken.sells > 0 && kraken.buys > 0,
        "kraken {}/{}",
        kraken.buys,
        kraken.sells
    );
}

#[test]
fn planning_against_the_touch_first_changes_no_result_across_venues() {
    let s = two_venues(dec!(0.1));
    /// Trades, cost and final value, and each venue's buys, sells and cost.
    type Key = (u64, Decimal, Decimal, Vec<(u64, u64, Decimal)>);
    let key = |rs: &[PolicyResult]| -> Vec<Key> {
        rs.iter()
            .map(|r| {
                let venues = r
                    .venues
                    .iter()
                    .map(|v| (v.buys, v.sells, v.cost_quote))
                    .collect();
                (r.trades, r.cost_quote, r.final_value, venues)
            })
            .collect()
    };
    assert_eq!(
        key(&run_with(&s, &all_policies(), false)),
        key(&run_with(&s, &all_policies(), true))
    );
}
