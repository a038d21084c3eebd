//! `driftline backtest --seeds` and `--json` as a user runs them: every table has a JSON form,
//! and the figures across seeds are those of the seeds run one by one.

use std::process::{Command, Output};
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;

fn driftline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftline"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let o = driftline(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // One JSON document and nothing else on stdout.
    serde_json::from_slice(&o.stdout).unwrap()
}

fn decimal(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

const SMALL: [&str; 5] = ["--days", "5", "--assets", "2", "--no-chart"];

#[test]
fn across_seeds_every_path_differs_and_the_figures_are_those_of_each_seed_alone() {
    let many = json_of(&[&["backtest", "--seeds", "3", "--json"][..], &SMALL].concat());
    let across = &many["across_paths"];
    assert_eq!(across["paths"], 3);
    assert_eq!(across["seeds"], serde_json::json!([7, 8, 9]));
    let per_seed = many["per_seed"].as_array().unwrap();
    assert_eq!(per_seed.len(), 3);

    let alone: Vec<Value> = ["7", "8", "9"]
        .iter()
        .map(|seed| json_of(&[&["backtest", "--seed", seed, "--json"][..], &SMALL].concat()))
        .collect();
    for (i, single) in alone.iter().enumerate() {
        assert_eq!(per_seed[i]["seed"], 7 + i);
        // Replayed in parallel or alone, every figure of every policy is the same.
        assert_eq!(per_seed[i]["results"], single["results"], "seed {}", 7 + i);
    }
    let finals = |policy: usize| -> Vec<Decimal> {
        alone
            .iter()
            .map(|s| decimal(&s["results"][policy]["final_value"]))
            .collect()
    };
    let daily = finals(0);
    assert!(
        daily[0] != daily[1] && daily[1] != daily[2] && daily[0] != daily[2],
        "every seed is another path: {daily:?}"
    );

    let policies = across["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 5);
    let driftline_name = policies[4]["name"].as_str().unwrap();
    assert!(driftline_name.starts_with("driftline"), "{driftline_name}");
    for (i, p) in policies.iter().enumerate() {
        assert_eq!(p["name"], alone[0]["results"][i]["name"]);
        let values: Vec<f64> = finals(i).iter().map(|d| d.to_f64().unwrap()).collect();
        let mean = values.iter().sum::<f64>() / 3.0;
        assert!(
            close(p["final_value"]["mean"].as_f64().unwrap(), mean),
            "{p}"
        );
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(close(p["final_value"]["p50"].as_f64().unwrap(), sorted[1]));
        let costs: f64 = alone
            .iter()
            .map(|s| decimal(&s["results"][i]["cost_quote"]).to_f64().unwrap())
            .sum();
        assert!(close(p["cost_quote_mean"].as_f64().unwrap(), costs / 3.0));

        let against = p["against"].as_array().unwrap();
        assert_eq!(against[0]["baseline"], "calendar daily");
        assert_eq!(against[1]["baseline"], driftline_name);
        let differences: Vec<Decimal> = finals(i).iter().zip(&daily).map(|(v, d)| v - d).collect();
        let mean_difference = differences.iter().map(|d| d.to_f64().unwrap()).sum::<f64>() / 3.0;
        assert!(close(
            against[0]["difference"]["mean"].as_f64().unwrap(),
            mean_difference
        ));
        let above = differences.iter().filter(|d| **d > Decimal::ZERO).count() as f64 / 3.0;
        assert!(close(against[0]["share_above"].as_f64().unwrap(), above));
    }
}

#[test]
fn across_seeds_prints_both_tables_and_adds_the_sweep_as_rows() {
    let o = driftline(
        &[
            &[
                "backtest",
                "--seeds",
                "2",
                "--seed",
                "11",
                "--sweep",
                "--sweep-bands",
                "0.02",
                "--sweep-caps",
                "50",
            ][..],
            &SMALL,
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.starts_with("2 paths (seeds 11–12) · 2 assets · 120 steps over 5 days each"),
        "{stdout}"
    );
    for text in [
        "final value mean (USDT)",
        "final value minus the baseline's on the same path (USDT)",
        "above calendar daily",
        "above driftline ±5% cap 50 bps",
        "calendar monthly",
        "threshold 5%",
        "±2% cap 50",
    ] {
        assert!(stdout.contains(text), "{text:?} missing:\n{stdout}");
    }
}

#[test]
fn seeds_are_refused_with_klines_or_below_one_by_name() {
    let o = driftline(&["backtest", "--seeds", "2", "--klines", "BTC=absent.csv"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--seeds: replays generated prices only, not --klines"),
        "{stderr}"
    );
    let o = driftline(&["backtest", "--seeds", "0"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--seeds"), "{stderr}");
    let o = driftline(&["backtest", "--seeds", "2", "--seed", &u64::MAX.to_string()]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--seeds 2: seeds from --seed"), "{stderr}");
}

#[test]
fn json_holds_the_main_table_the_venues_and_the_sweep_in_one_document() {
    let json = json_of(
        &[
            &[
                "backtest",
                "--json",
                "--venue",
                "binance",
                "--venue",
                "kraken:fee=26",
                "--off-exchange",
                "0.1",
                "--sweep",
                "--sweep-bands",
                "0.02,0.05",
                "--sweep-caps",
                "50",
            ][..],
            &SMALL,
        ]
        .concat(),
    );
    assert_eq!(json["quote"], "USDT");
    assert_eq!(decimal(&json["initial_equity"]), Decimal::from(1_000_000));
    assert_eq!(json["steps"], 120);
    assert_eq!(json["assets"], serde_json::json!(["BTC", "ETH"]));
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for r in results {
        // The main table's columns.
        for field in [
            "trades",
            "turnover_ratio",
            "cost_quote",
            "cost_bps_of_equity",
            "tracking_error",
            "max_drift",
            "final_value",
            "skipped_cost_cap",
            "deferred_by_velocity",
            "reduced_to_cash",
            "rejected",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        // The venue table: one entry per account, and the part held off the exchanges, which
        // with the accounts makes up the final value.
        let venues = r["venues"].as_array().unwrap();
        assert_eq!(venues.len(), 2);
        let off = decimal(&r["off_exchange_value"]);
        assert!(off > Decimal::ZERO);
        let on: Decimal = venues.iter().map(|v| decimal(&v["final_value"])).sum();
        let gap = (on + off - decimal(&r["final_value"])).abs();
        assert!(gap < Decimal::new(1, 8), "{}: {gap}", r["name"]);
    }
    let points = json["frontier"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert!(points.iter().all(|p| p["on_frontier"].is_boolean()));
}
