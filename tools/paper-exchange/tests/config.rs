//! The config file: the shipped examples load, and each kind of mistake is named.

mod common;

use std::path::Path;

use paper_exchange::ExchangeConfig;
use rstest::rstest;

#[rstest]
#[case("example.toml")]
#[case("fidelity/venue.toml")]
fn shipped_configs_load(#[case] file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let config = ExchangeConfig::load(&path).unwrap();
    assert!(!config.symbols.is_empty() && !config.accounts.is_empty());
}

#[rstest]
#[case(("taker = \"0.002\"", "taker = \"1\""), "config field fees.taker is 1: must be at least 0 and below 1")]
#[case(("tick_size = \"0.01\"", "tick_size = \"0\""), "tick_size is 0")]
#[case(("mid = \"100\"", "mid = \"-5\""), "config field symbols.BTCUSDT.mid is -5: must be positive")]
#[case(("replenish_per_tick = \"1\"", "replenish_per_tick = \"1.5\""), "symbols.BTCUSDT.replenish_per_tick is 1.5")]
#[case(("balances = { USDT = \"1000\", BTC = \"5\" }", "balances = { USDT = \"-1\" }"), "config field accounts.bob.balances.USDT is -1: must not be negative")]
#[case(("api_key = \"bob-key\"", "api_key = \"alice-key\""), "accounts.bob.api_key is <redacted>: is used by two accounts")]
#[case(("quote = \"USDT\"", "quote = \"BTC\""), "must be two different assets")]
#[case(("symbol = \"BTCUSDT\"", "symbol = \"btc-usdt\""), "config field symbols.symbol is btc-usdt")]
#[case(("seed = 42", "seed = 42\nsurprise = 1"), "unknown field `surprise`")]
fn mistakes_are_named(#[case] edit: (&str, &str), #[case] expected: &str) {
    let text = common::VENUE.replacen(edit.0, edit.1, 1);
    assert_ne!(text, common::VENUE, "the edit applies");
    let err = ExchangeConfig::parse(&text).unwrap_err().to_string();
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains("alice-secret") && !err.contains("bob-secret"));
}

#[test]
fn debug_output_never_shows_credentials() {
    let shown = format!("{:?}", common::venue_config());
    assert!(shown.contains("alice"));
    assert!(
        !shown.contains("alice-secret") && !shown.contains("alice-key"),
        "{shown}"
    );
}
