//! `driftline plan` as a user runs it: the real binary on the shipped examples and on bad files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rstest::rstest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn driftline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftline"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `files` into a fresh directory under the target dir and returns it.
fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

const MARKET: &str = include_str!("../../../examples/article/market.toml");
const PORTFOLIO: &str = include_str!("../../../examples/article/portfolio.toml");

#[test]
fn article_plan_sells_btc_and_eth_to_the_band_edge() {
    let out = driftline(&["plan", "--portfolio", "examples/article/portfolio.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("equity 202595.00 USDT"), "{text}");
    let btc = text.lines().find(|l| l.contains(" BTC ")).unwrap();
    assert!(
        btc.contains("47.56%") && btc.contains("SELL") && btc.contains("0.0806"),
        "{btc}"
    );
    let eth = text.lines().find(|l| l.contains(" ETH ")).unwrap();
    assert!(eth.contains("SELL") && eth.contains("1.5107"), "{eth}");
    assert!(text.contains("orders 2"), "{text}");
}

#[test]
fn json_output_has_decimals_as_strings() {
    let out = driftline(&[
        "plan",
        "--portfolio",
        "examples/article/portfolio.toml",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let intents = v["plan"]["intents"].as_array().unwrap();
    assert_eq!(intents.len(), 2);
    assert_eq!(intents[0]["side"], "SELL");
    assert_eq!(intents[0]["quantity"], "0.0806");
    assert!(intents[0]["client_order_id"]
        .as_str()
        .unwrap()
        .starts_with("dl1-"));
    let equity: rust_decimal::Decimal = v["plan"]["snapshot"]["equity"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(equity, rust_decimal::Decimal::from(202_595));
    assert_eq!(v["totals"]["orders"], 2);
}

#[test]
fn twenty_asset_example_buys_sells_and_explains_skips() {
    let out = driftline(&[
        "plan",
        "--portfolio",
        "examples/twenty/portfolio.toml",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decisions = v["plan"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 21);
    let reason =
        |a: &str| decisions.iter().find(|d| d["asset"] == a).unwrap()["reason"]["reason"].clone();
    assert_eq!(reason("FIL"), "not_trading");
    assert_eq!(reason("INJ"), "book_too_thin");
    assert_eq!(reason("SOL"), "trade");
    let sides: Vec<_> = v["plan"]["intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["side"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sides, ["SELL", "SELL", "BUY", "BUY"], "sells first");
}

/// The article's market file with its first market (BTC) only.
fn btc_market_only() -> String {
    MARKET
        .split("[[markets]]")
        .take(2)
        .collect::<Vec<_>>()
        .join("[[markets]]")
}

/// A bad portfolio or market file is refused (exit 1) with an error naming each of `named`.
#[rstest]
#[case::bad_decimal_names_file_field_and_value(
    "bad-decimal",
    PORTFOLIO.replace("BTC = \"0.40\"", "BTC = \"forty\""),
    MARKET.to_owned(),
    &["portfolio.toml", "targets.BTC", "\"forty\""]
)]
#[case::a_float_is_refused_so_no_value_passes_through_binary_floating_point(
    "float",
    PORTFOLIO.replace("min_trade_notional = \"10\"", "min_trade_notional = 10.5"),
    MARKET.to_owned(),
    &["policy.min_trade_notional"]
)]
#[case::weights_not_summing_to_one_are_refused(
    "sum",
    PORTFOLIO.replace("USDT = \"0.25\"", "USDT = \"0.20\""),
    MARKET.to_owned(),
    &["targets", "0.95"]
)]
#[case::bad_market_filter_names_the_market_and_field(
    "filter",
    PORTFOLIO.to_owned(),
    MARKET.replacen("tick_size = \"0.01\"", "tick_size = \"0\"", 1),
    &["market.toml", "markets[0].filters.tick_size", "is 0"]
)]
#[case::a_missing_market_is_named(
    "missing",
    PORTFOLIO.to_owned(),
    btc_market_only(),
    &["no market for ETH"]
)]
#[case::unknown_fields_are_errors_not_silently_ignored(
    "unknown",
    PORTFOLIO.replace("max_cost_bps", "max_cost_bsp"),
    MARKET.to_owned(),
    &["max_cost_bsp"]
)]
fn a_bad_file_is_refused_by_name(
    #[case] name: &str,
    #[case] portfolio: String,
    #[case] market: String,
    #[case] named: &[&str],
) {
    let dir = scratch(
        name,
        &[("portfolio.toml", &portfolio), ("market.toml", &market)],
    );
    let out = driftline(&[
        "plan",
        "--portfolio",
        dir.join("portfolio.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for part in named {
        assert!(err.contains(part), "{part}: {err}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let out = driftline(&["plan", "--portfolio", "no/such/portfolio.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no/such/portfolio.toml"),
        "{}",
        stderr(&out)
    );
}
