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
    // One account: no routing columns, no notes.
    assert!(
        !text.contains("routed to") && !text.contains("note:"),
        "{text}"
    );
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
#[case::an_inside_band_fraction_outside_0_to_1_is_named(
    "inside-band",
    PORTFOLIO.replace("destination = \"band_edge\"", "destination = { inside_band = \"1.5\" }"),
    MARKET.to_owned(),
    &["portfolio.toml", "policy.destination.inside_band", "1.5"]
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

/// The BTC sell of the article's plan with `destination` written as `destination`.
fn btc_sell_with_destination(name: &str, destination: &str) -> rust_decimal::Decimal {
    let portfolio = PORTFOLIO.replace(
        "destination = \"band_edge\"",
        &format!("destination = {destination}"),
    );
    let dir = scratch(
        name,
        &[("portfolio.toml", &portfolio), ("market.toml", MARKET)],
    );
    let out = driftline(&[
        "plan",
        "--portfolio",
        dir.join("portfolio.toml").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let intents = v["plan"]["intents"].as_array().unwrap();
    let btc = intents
        .iter()
        .find(|i| i["symbol"].as_str().unwrap().starts_with("BTC"))
        .unwrap();
    assert_eq!(btc["side"], "SELL");
    decimal(&btc["quantity"])
}

#[test]
fn an_inside_band_destination_written_in_toml_sells_between_the_band_edge_and_the_target() {
    let edge = btc_sell_with_destination("dest-edge", "\"band_edge\"");
    let inside = btc_sell_with_destination("dest-inside", "{ inside_band = \"0.5\" }");
    let target = btc_sell_with_destination("dest-target", "\"target\"");
    assert!(edge < inside && inside < target, "{edge} {inside} {target}");
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

const SPREAD_MARKET: &str = include_str!("../../../examples/spread/market.toml");
const SPREAD_PORTFOLIO: &str = include_str!("../../../examples/spread/portfolio.toml");

fn decimal(v: &serde_json::Value) -> rust_decimal::Decimal {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn spread_example_routes_the_btc_buy_to_the_cheapest_account_with_the_cash() {
    let out = driftline(&[
        "plan",
        "--portfolio",
        "examples/spread/portfolio.toml",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decisions = v["plan"]["decisions"].as_array().unwrap();
    let btc = decisions.iter().find(|d| d["asset"] == "BTC").unwrap();
    let order = &btc["order"];
    assert_eq!(order["side"], "BUY", "{btc:#}");
    assert_eq!(order["venue"], "binance", "{btc:#}");
    assert_eq!(order["account"], "binance-main", "{btc:#}");
    assert!(btc.get("split").is_none(), "{btc:#}");
    // Kraken is listed first; the buy goes to Binance because it costs least there.
    let routes = btc["routes"].as_array().unwrap();
    let cost = |venue: &str| {
        let r = routes.iter().find(|r| r["venue"] == venue).unwrap();
        (decimal(&r["cost_bps"]), r["chosen"].as_bool().unwrap())
    };
    let (binance, chosen) = cost("binance");
    assert!(chosen);
    for other in ["kraken", "coinbase"] {
        let (bps, chosen) = cost(other);
        assert!(!chosen && bps > binance, "{other}: {bps} vs {binance}");
    }
    // Coinbase is quoted at the account's own tier (40 bps taker), not the venue's 60.
    let (coinbase, _) = cost("coinbase");
    assert!(
        coinbase > rust_decimal::Decimal::from(40) && coinbase < rust_decimal::Decimal::from(60),
        "{coinbase}"
    );
    // Equity: Kraken's BTC and dollars, and the cold-storage BTC (valued at the first
    // account listing BTC, Kraken), in USDT at the USDT/USD mid; the rest at par.
    let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let on_kraken = (d("0.8") * d("64250") + d("20000")) / d("1.0003");
    let expected = on_kraken + d("0.2") * d("64230") + d("14") * d("3450") + d("28000");
    assert_eq!(
        decimal(&v["plan"]["snapshot"]["equity"]).round_dp(12),
        expected.round_dp(12)
    );
    let eth = decisions.iter().find(|d| d["asset"] == "ETH").unwrap();
    assert_eq!(eth["order"]["side"], "SELL");
    assert_eq!(eth["order"]["venue"], "binance");
}

#[test]
fn spread_table_shows_where_each_trade_goes_and_the_cost_elsewhere() {
    let out = driftline(&["plan", "--portfolio", "examples/spread/portfolio.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("routed to") && text.contains("elsewhere"),
        "{text}"
    );
    let btc = text.lines().find(|l| l.contains(" BTC ")).unwrap();
    assert!(
        btc.contains("BUY")
            && btc.contains("binance binance-main")
            && btc.contains("kraken kraken-main: 26.02 bps"),
        "{btc}"
    );
}

/// The spread example's market file without the section of `account`.
fn without_section(account: &str) -> String {
    SPREAD_MARKET
        .split("[[accounts]]")
        .filter(|s| !s.contains(&format!("account = \"{account}\"")))
        .collect::<Vec<_>>()
        .join("[[accounts]]")
}

/// A bad market file for a portfolio over several accounts is refused by name.
#[rstest]
#[case::an_account_without_market_data(
    "spread-missing",
    without_section("coinbase-main"),
    &["market.toml", "accounts", "\"coinbase-main\""]
)]
#[case::a_section_for_no_account_of_the_portfolio(
    "spread-unknown",
    SPREAD_MARKET.replace("account = \"coinbase-main\"", "account = \"coinbase-old\""),
    &["accounts[2].account", "\"coinbase-old\""]
)]
#[case::one_account_markets_for_several_accounts(
    "spread-single",
    MARKET.to_owned(),
    &["accounts", "3 accounts", "kraken-main"]
)]
#[case::the_cash_rule_market_missing(
    "spread-rate",
    SPREAD_MARKET.replace("symbol = \"USDT/USD\"", "symbol = \"USDC/USD\""),
    &["accounts[0].markets", "USDT/USD", "cash.markets.USD"]
)]
#[case::a_market_not_in_the_account_cash(
    "spread-quote",
    SPREAD_MARKET.replacen("symbol = \"BTC/USD\"", "symbol = \"BTC/USDT\"", 1),
    &["accounts[0].markets[0].symbol", "BTC/USDT", "cash asset USD"]
)]
#[case::an_unknown_venue(
    "spread-venue",
    SPREAD_MARKET.replacen("venue = \"kraken\"", "venue = \"krakn\"", 1),
    &["accounts[0].venue", "krakn"]
)]
fn a_bad_spread_market_file_is_refused_by_name(
    #[case] name: &str,
    #[case] market: String,
    #[case] named: &[&str],
) {
    let dir = scratch(
        name,
        &[
            ("portfolio.toml", SPREAD_PORTFOLIO),
            ("market.toml", &market),
        ],
    );
    let out = driftline(&[
        "plan",
        "--portfolio",
        dir.join("portfolio.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    for part in named {
        assert!(err.contains(part), "{part}: {err}");
    }
}
