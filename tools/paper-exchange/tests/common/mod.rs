//! A small venue every test starts from: one market around 100 with three levels of 1 a side,
//! and two accounts.
#![allow(dead_code)]

use paper_exchange::{paper_account, small_venue, venues, ExchangeConfig};

/// [`small_venue!`] (BTCUSDT around 100, maker fee 0.1 %, taker 0.2 %, alice) and bob, who
/// holds 1,000 USDT and 5 BTC.
pub const VENUE: &str = concat!(
    small_venue!(),
    paper_account!("bob", key = "bob-key", secret = "bob-secret", balances = { USDT = "1000", BTC = "5" }),
);

pub fn venue_config() -> ExchangeConfig {
    venue_config_with(&[])
}

/// The test venue with some lines replaced (`("volatility_bps = \"0\"", "volatility_bps = \"50\"")`).
pub fn venue_config_with(replacements: &[(&str, &str)]) -> ExchangeConfig {
    venues::parse_edited(VENUE, replacements)
}
