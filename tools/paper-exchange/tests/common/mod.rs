//! A small venue every test starts from: one market around 100 with three levels of 1 a side.
#![allow(dead_code)]

use paper_exchange::ExchangeConfig;

/// BTCUSDT: tick 0.01, step 0.001, min notional 5; bids 99.9/99.8/99.7 and asks
/// 100.1/100.2/100.3, 1 BTC each. Maker fee 0.1 %, taker 0.2 %.
pub const VENUE: &str = r#"
seed = 42

[fees]
maker = "0.001"
taker = "0.002"

[rate_limits]
request_weight_per_minute = 6000

[[symbols]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
step_size = "0.001"
min_qty = "0.001"
max_qty = "100"
min_notional = "5"
mid = "100"
spread_bps = "20"
volatility_bps = "0"
replenish_per_tick = "1"
depth = { levels = 3, quantity_per_level = "1", level_step_bps = "10" }

[[accounts]]
name = "alice"
api_key = "alice-key"
secret = "alice-secret"
balances = { USDT = "10000", BTC = "10" }

[[accounts]]
name = "bob"
api_key = "bob-key"
secret = "bob-secret"
balances = { USDT = "1000", BTC = "5" }
"#;

pub fn venue_config() -> ExchangeConfig {
    ExchangeConfig::parse(VENUE).expect("the test venue config is valid")
}

/// The test venue with some lines replaced (`("volatility_bps = \"0\"", "volatility_bps = \"50\"")`).
pub fn venue_config_with(replacements: &[(&str, &str)]) -> ExchangeConfig {
    let mut text = VENUE.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "the test venue has no line {from}");
        text = text.replacen(from, to, 1);
    }
    ExchangeConfig::parse(&text).expect("the edited test venue config is valid")
}
