//! The backtester on small generated scenarios, and `driftline backtest` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use driftline_cli::backtest::{
    self, equal_targets, CalendarPeriod, ExecutionModel, ExecutionStats, GeneratorConfig,
    MarketConfig, PolicyResult, PolicyRun, RunOptions, Scenario, VenueConfig, VenueResult,
};
use driftline_core::money::ceil_to_step;
use driftline_core::ports::Venue;
use driftline_core::{Band, Destination, Fees, Liquidity, RebalancePolicy, Side};
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
            // Instant-taker fills at the decision: nothing moves in between.
            assert_eq!(l.moved_since_decision, Decimal::ZERO, "{}", r.name);
        }
        assert_eq!(r.moved_since_decision_quote, Decimal::ZERO, "{}", r.name);
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

/// Every trading step conserves value across the venues (what the value lost at the step's
/// mids is the cost against the decision mids and the market's move since those decisions);
/// the venues' figures add up to the policy's.
fn assert_conserved_across_venues(r: &PolicyResult) {
    let series = r.series.as_ref().unwrap();
    for l in &series.ledgers {
        assert_eq!(
            l.value_before,
            l.value_after + l.cost + l.moved_since_decision,
            "{} at step {}",
            r.name,
            l.step
        );
    }
    let charged: Decimal = series.ledgers.iter().map(|l| l.cost).sum();
    assert_eq!(charged, r.cost_quote, "{}", r.name);
    let moved: Decimal = series.ledgers.iter().map(|l| l.moved_since_decision).sum();
    assert_eq!(moved, r.moved_since_decision_quote, "{}", r.name);
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

#[test]
fn cli_equal_tracking_prints_json_and_writes_the_frontier_chart() {
    let dir = scratch("backtest-equal-tracking");
    let chart = dir.join("charts").join("frontier.png");
    let o = driftline(&[
        "backtest",
        "--days",
        "20",
        "--assets",
        "3",
        "--json",
        "--equal-tracking",
        "--tracking-bands",
        "0.01,0.04",
        "--inside-fraction",
        "0.25",
        "--min-notional",
        "100",
        "--out",
        dir.to_str().unwrap(),
        "--frontier-chart",
        chart.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = &json["equal_tracking"];
    assert_eq!(e["min_trade_notional"], "100");
    let calendars: Vec<&str> = e["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["calendar"].as_str().unwrap())
        .collect();
    assert_eq!(calendars, ["daily", "weekly", "monthly"]);
    let matches = e["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 6, "three calendars × two destinations");
    assert_eq!(matches[0]["destination"], "band_edge");
    assert_eq!(
        matches[1]["destination"],
        serde_json::json!({"inside_band": "0.25"})
    );
    for m in matches {
        assert!(m["band"]["band"].is_string(), "{m}");
        assert!(m["band"]["figures"]["cost_quote"].is_string(), "{m}");
        assert!(m["target_tracking_error"].is_f64(), "{m}");
    }
    assert!(
        stderr.contains(&format!("chart: {}", chart.display())),
        "{stderr}"
    );
    let bytes = std::fs::read(&chart).unwrap();
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
}

#[rstest::rstest]
#[case::fraction_above_one(&["--destination", "inside", "--inside-fraction", "1.5"], "--inside-fraction 1.5")]
#[case::negative_fraction(&["--inside-fraction=-0.1"], "--inside-fraction -0.1")]
#[case::negative_minimum(&["--min-notional=-1"], "--min-notional -1")]
#[case::zero_tolerance(&["--equal-tracking", "--tracking-tolerance", "0"], "--tracking-tolerance 0")]
#[case::band_above_one(&["--equal-tracking", "--tracking-bands", "0.01,2"], "--tracking-bands 2")]
#[case::seeds_with_equal_tracking(&["--seeds", "2", "--equal-tracking"], "--seeds")]
#[case::zero_deadline(&["--order-ttl", "0"], "--order-ttl 0")]
fn bad_flag_values_are_named(#[case] flags: &[&str], #[case] named: &str) {
    let mut args = vec!["backtest", "--days", "2", "--assets", "2", "--no-chart"];
    args.extend_from_slice(flags);
    let o = driftline(&args);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(named), "{stderr}");
}

/// The driftline policy's result of `driftline backtest` with `flags`, from its JSON.
fn driftline_result(flags: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "backtest",
        "--days",
        "30",
        "--assets",
        "3",
        "--band",
        "0.01",
        "--no-chart",
        "--json",
    ];
    args.extend_from_slice(flags);
    let o = driftline(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    json["results"][4].clone()
}

#[test]
fn cli_destination_inside_trades_larger_and_fewer_than_to_the_band_edge() {
    let edge = driftline_result(&["--destination", "band-edge"]);
    let inside = driftline_result(&["--destination", "inside", "--inside-fraction", "0.5"]);
    let average = |r: &serde_json::Value| {
        r["turnover_quote"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap()
            / Decimal::from(r["trades"].as_u64().unwrap())
    };
    assert!(average(&inside) > average(&edge), "{inside} {edge}");
    assert!(
        inside["trades"].as_u64().unwrap() < edge["trades"].as_u64().unwrap(),
        "{inside} {edge}"
    );
}

fn run_limit(scenario: &Scenario, runs: &[PolicyRun], full: bool) -> Vec<PolicyResult> {
    backtest::run(
        scenario,
        runs,
        RunOptions {
            record_series: true,
            always_full_books: full,
            execution: ExecutionModel::Limit,
        },
        &mut |_| {},
    )
    .unwrap()
}

/// `policy` with its orders priced `offset` across the spread and working `ttl_seconds`.
fn pricing(policy: RebalancePolicy, offset: Decimal, ttl_seconds: u32) -> RebalancePolicy {
    RebalancePolicy {
        limit_offset: offset,
        order_ttl_seconds: ttl_seconds,
        ..policy
    }
}

/// Every fill of a limit-model run stays within its order's limit, which stays within its
/// worst price; a maker fill trades at its limit; each pays the fee of how it filled (the
/// venue's, by `fees_of`), rounded up to 10^-8 quote; its cost is its shortfall against the
/// decision mid and the fee, its move since the decision is valued at the step's mid; the
/// fills' costs and moves are the policy's.
fn assert_fills_keep_their_limits(r: &PolicyResult, fees_of: impl Fn(Venue) -> Fees) {
    let series = r.series.as_ref().unwrap();
    for f in &series.fills {
        let at = format!("{}: {:?} {} at step {}", r.name, f.side, f.asset, f.step);
        match f.side {
            Side::Buy => {
                assert!(f.least_favourable <= f.limit, "{at}: paid above the limit");
                assert!(f.limit <= f.worst, "{at}: limit beyond the worst price");
                assert!(f.notional <= f.quantity * f.limit.value(), "{at}");
            }
            Side::Sell => {
                assert!(f.least_favourable >= f.limit, "{at}: sold below the limit");
                assert!(f.limit >= f.worst, "{at}: limit beyond the worst price");
                assert!(f.notional >= f.quantity * f.limit.value(), "{at}");
            }
        }
        if f.liquidity == Liquidity::Maker {
            assert_eq!(f.notional, f.quantity * f.limit.value(), "{at}");
        }
        assert_eq!(f.fee_bps, fees_of(f.venue).bps(f.liquidity), "{at}");
        assert_eq!(
            f.fee,
            ceil_to_step(f.notional * f.fee_bps / dec!(10000), dec!(0.00000001)),
            "{at}"
        );
        let at_decision = f.quantity * f.decision_mid;
        let at_mid = f.quantity * f.mid;
        let (shortfall, moved) = match f.side {
            Side::Buy => (f.notional - at_decision, at_decision - at_mid),
            Side::Sell => (at_decision - f.notional, at_mid - at_decision),
        };
        assert_eq!(f.cost, shortfall + f.fee, "{at}");
        assert_eq!(f.moved_since_decision, moved, "{at}");
    }
    let cost: Decimal = series.fills.iter().map(|f| f.cost).sum();
    assert_eq!(cost, r.cost_quote, "{}", r.name);
    let moved: Decimal = series.fills.iter().map(|f| f.moved_since_decision).sum();
    assert_eq!(moved, r.moved_since_decision_quote, "{}", r.name);
    let fees: Decimal = series.fills.iter().map(|f| f.fee).sum();
    assert_eq!(fees, r.fee_quote, "{}", r.name);
    let e = &r.execution;
    assert_eq!(e.maker_fills + e.taker_fills, r.trades, "{}", r.name);
}

#[test]
fn the_limit_model_conserves_value_at_every_step_across_venues() {
    let s = two_venues(dec!(0.1));
    let results = run_limit(&s, &all_policies(), false);
    let fees_of = |v: Venue| {
        s.venues
            .iter()
            .find(|c| c.venue == v)
            .map(|c| c.fees)
            .unwrap()
    };
    for r in &results {
        assert!(
            !r.series.as_ref().unwrap().ledgers.is_empty(),
            "{} never filled",
            r.name
        );
        assert_conserved_across_venues(r);
        assert_fills_keep_their_limits(r, fees_of);
    }
    let total = |f: fn(&PolicyResult) -> u64| results.iter().map(f).sum::<u64>();
    // Orders priced at the mid rest, and an hour later the market has reached some of them
    // and left others, which are cancelled at their 15-minute deadline.
    assert!(total(|r| r.execution.maker_fills) > 0);
    assert!(total(|r| r.execution.expired) > 0);
    // Those fills come an hour after their decisions: the market moved in between.
    assert!(results
        .iter()
        .any(|r| !r.moved_since_decision_quote.is_zero()));
    assert_eq!(
        total(|r| r.execution.taker_fills),
        0,
        "the mid never crosses"
    );
}

#[test]
fn planning_against_the_touch_first_changes_no_result_under_the_limit_model() {
    let s = two_venues(dec!(0.1));
    let runs = [
        PolicyRun::calendar(CalendarPeriod::Daily),
        PolicyRun::driftline(
            "driftline 2% two hours",
            pricing(
                RebalancePolicy {
                    band: Band {
                        absolute: Some(dec!(0.02)),
                        relative: None,
                    },
                    ..RebalancePolicy::default()
                },
                dec!(0.5),
                7200,
            ),
        ),
    ];
    type Key = (u64, Decimal, Decimal, ExecutionStats);
    let key = |rs: &[PolicyResult]| -> Vec<Key> {
        rs.iter()
            .map(|r| (r.trades, r.cost_quote, r.final_value, r.execution.clone()))
            .collect()
    };
    assert_eq!(
        key(&run_limit(&s, &runs, false)),
        key(&run_limit(&s, &runs, true))
    );
}

#[rstest::rstest]
// At the passive touch or the mid, orders rest: every fill is a maker fill.
#[case::passive(dec!(0), false)]
#[case::mid(dec!(0.5), false)]
// At the far touch they cross when placed: taker fills at placement, then the rest rests.
#[case::far_touch(dec!(1), true)]
fn fees_follow_how_each_order_filled(#[case] offset: Decimal, #[case] crosses: bool) {
    let fees = Fees {
        maker_bps: dec!(2),
        taker_bps: dec!(10),
    };
    let s = scenario(&small(), fees);
    let mut daily = PolicyRun::calendar(CalendarPeriod::Daily);
    daily.policy = pricing(daily.policy, offset, 7200);
    let runs = [
        daily,
        PolicyRun::driftline(
            "driftline",
            pricing(RebalancePolicy::default(), offset, 7200),
        ),
    ];
    for r in run_limit(&s, &runs, false) {
        assert_fills_keep_their_limits(&r, |_| fees);
        assert!(r.trades > 0, "{} never filled", r.name);
        let e = &r.execution;
        assert_eq!(e.taker_fills > 0, crosses, "{}: {e:?}", r.name);
        if !crosses {
            let fills = &r.series.as_ref().unwrap().fills;
            assert!(fills.iter().all(|f| f.fee_bps == dec!(2)), "{}", r.name);
        }
    }
}

#[test]
fn the_instant_taker_model_works_no_order() {
    let s = scenario(&small(), Fees::default());
    for r in run(&s, &all_policies()) {
        let e = &r.execution;
        assert_eq!(
            (e.orders, e.maker_fills, e.open_at_end),
            (0, 0, 0),
            "{}",
            r.name
        );
        assert_eq!(e.taker_fills, r.trades, "{}", r.name);
        assert!(r.series.as_ref().unwrap().fills.is_empty());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        driftline_core::testing::property_cases(12)
    ))]

    /// On generated paths, any pricing, fees, spread and deadline: no buy fills above its
    /// limit, no sell below it, each fill pays the fee of how it filled, and value is
    /// conserved at every step.
    #[test]
    fn limit_fills_never_pass_their_limits(
        seed in 0u64..10_000,
        offset in proptest::sample::select(vec![dec!(0), dec!(0.3), dec!(0.5), dec!(0.8), dec!(1)]),
        maker in 0i64..12,
        taker in 5i64..30,
        spread in 1i64..12,
        ttl in proptest::sample::select(vec![900u32, 3600, 7200, 14_400]),
    ) {
        let fees = Fees { maker_bps: Decimal::from(maker), taker_bps: Decimal::from(taker) };
        let config = GeneratorConfig {
            seed,
            assets: 2,
            steps: 96,
            market: MarketConfig {
                spread_bps: Decimal::from(spread),
                // Thin books: some orders wait for depth, some fill in part.
                level_notional: dec!(2000),
                ..MarketConfig::default()
            },
            ..GeneratorConfig::default()
        };
        let s = scenario(&config, fees);
        let band = |b: Decimal| RebalancePolicy {
            band: Band { absolute: Some(b), relative: None },
            ..RebalancePolicy::default()
        };
        let mut daily = PolicyRun::calendar(CalendarPeriod::Daily);
        daily.policy = pricing(daily.policy, offset, ttl);
        let runs = [
            daily,
            PolicyRun::driftline("driftline 1%", pricing(band(dec!(0.01)), offset, ttl)),
        ];
        for r in run_limit(&s, &runs, false) {
            assert_fills_keep_their_limits(&r, |_| fees);
            for l in &r.series.as_ref().unwrap().ledgers {
                proptest::prop_assert_eq!(
                    l.value_before,
                    l.value_after + l.cost + l.moved_since_decision
                );
            }
        }
    }
}

#[test]
fn cli_runs_limit_orders_by_default_and_instant_taker_fills_on_request() {
    let base = ["backtest", "--days", "10", "--assets", "3", "--no-chart"];
    let json_of = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let limit = json_of(&driftline(&[&base[..], &["--json"]].concat()));
    assert_eq!(limit["execution"], "limit");
    let stats = &limit["results"][0]["execution"];
    assert!(stats["orders"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["expired_notional"].is_string(), "{stats}");
    let moved = &limit["results"][0]["moved_since_decision_quote"];
    assert!(moved.is_string(), "{moved}");

    let taker = json_of(&driftline(
        &[&base[..], &["--json", "--execution", "instant-taker"]].concat(),
    ));
    assert_eq!(taker["execution"], "instant-taker");
    let stats = &taker["results"][0]["execution"];
    assert_eq!(stats["orders"], 0, "{stats}");
    assert_eq!(stats["taker_fills"], taker["results"][0]["trades"]);

    let o = driftline(&[&base[..], &["--order-ttl", "7200"]].concat());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("· limit orders of 7200 s"), "{stdout}");
    assert!(stdout.contains("maker fills"), "{stdout}");
    assert!(stdout.contains("moved since decision"), "{stdout}");

    let o = driftline(&[&base[..], &["--order-ttl", "0"]].concat());
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--order-ttl 0"), "{stderr}");
}

/// The seed-7 year that docs/BACKTEST.md published before the limit model existed (trades,
/// cost and final value of every policy, to the cent): instant-taker fills must still give it.
#[test]
fn instant_taker_fills_reproduce_the_figures_published_before_the_limit_model() {
    let o = driftline(&[
        "backtest",
        "--execution",
        "instant-taker",
        "--seed",
        "7",
        "--assets",
        "10",
        "--days",
        "365",
        "--no-chart",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cents = |v: &serde_json::Value| {
        v.as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap()
            .round_dp(2)
            .to_string()
    };
    let published = [
        ("calendar daily", 3616, "7239.94", "1051273.73"),
        ("calendar weekly", 518, "2830.68", "1057529.86"),
        ("calendar monthly", 110, "1197.19", "1029410.79"),
        ("threshold 5%", 10, "513.33", "1043304.53"),
        ("driftline ±5% cap 50 bps", 327, "127.92", "1006071.42"),
    ];
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), published.len());
    for (r, (name, trades, cost, value)) in results.iter().zip(published) {
        assert_eq!(r["name"], name);
        assert_eq!(r["trades"], trades, "{name}");
        assert_eq!(cents(&r["cost_quote"]), cost, "{name}");
        assert_eq!(cents(&r["final_value"]), value, "{name}");
    }
}

/// `--order-ttl` reaches the equal-tracking comparison: its calendar policies are the main
/// table's, figure for figure, whatever the deadline.
#[test]
fn equal_tracking_calendars_are_the_main_tables_with_the_same_order_deadline() {
    for ttl in ["900", "7200"] {
        let o = driftline(&[
            "backtest",
            "--days",
            "20",
            "--assets",
            "2",
            "--no-chart",
            "--json",
            "--equal-tracking",
            "--tracking-bands",
            "0.01,0.05",
            "--order-ttl",
            ttl,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let calendars = json["equal_tracking"]["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 3);
        for (point, result) in calendars.iter().zip(json["results"].as_array().unwrap()) {
            let figures = &point["figures"];
            assert_eq!(figures["name"], result["name"], "--order-ttl {ttl}");
            for field in ["trades", "cost_quote", "turnover_quote"] {
                assert_eq!(figures[field], result[field], "--order-ttl {ttl}: {field}");
            }
        }
    }
}
