//! The venues the tests, the sandbox and the demo start from, each written once. They are
//! macros that expand to TOML string literals, so a caller can `concat!` its own markets and
//! accounts onto one in a `const`; [`parse_edited`] parses one with some lines changed.
//!
//! Every line a test edits by text (`seed = 42`, `request_weight_per_minute = 6000`,
//! `volatility_bps = "0"`, `balances = { ... }`, ...) is written out, defaults included.

use crate::config::{ConfigError, Dialect};
use crate::ExchangeConfig;

/// A venue's head: the seed, the maker and taker fees, and the rate limits (6000 weight a
/// minute, a 120 s ban).
#[macro_export]
macro_rules! paper_venue_head {
    (seed = $seed:literal, maker = $maker:literal, taker = $taker:literal) => {
        concat!(
            "\nseed = ",
            $seed,
            "\n\n[fees]\nmaker = \"",
            $maker,
            "\"\ntaker = \"",
            $taker,
            "\"\n",
            "\n[rate_limits]\nrequest_weight_per_minute = 6000\nban_seconds = 120\n"
        )
    };
}

/// One market (`[[symbols]]`, named base then quote): tick 0.01, a minimum quantity of one
/// step, a minimum notional of 5, no random walk, and taken depth back in full each tick.
/// `depth = 3 x "1" every "10" bps` is three levels a side of 1 each, 10 bps apart.
#[macro_export]
macro_rules! paper_market {
    ($base:literal / $quote:literal: step = $step:literal, max_qty = $max:literal, mid = $mid:literal,
     spread_bps = $spread:literal, depth = $levels:literal x $quantity:literal every $level_step:literal bps) => {
        concat!(
            "\n[[symbols]]\nsymbol = \"",
            $base,
            $quote,
            "\"\nbase = \"",
            $base,
            "\"\nquote = \"",
            $quote,
            "\"\ntick_size = \"0.01\"\nstep_size = \"",
            $step,
            "\"\nmin_qty = \"",
            $step,
            "\"\nmax_qty = \"",
            $max,
            "\"\nmin_notional = \"5\"\nmid = \"",
            $mid,
            "\"\nspread_bps = \"",
            $spread,
            "\"\nvolatility_bps = \"0\"\nreplenish_per_tick = \"1\"\n",
            "depth = { levels = ",
            $levels,
            ", quantity_per_level = \"",
            $quantity,
            "\", level_step_bps = \"",
            $level_step,
            "\" }\n"
        )
    };
}

/// One account (`[[accounts]]`): its name, API key, secret and starting balances, in the
/// order given.
#[macro_export]
macro_rules! paper_account {
    ($name:literal, key = $key:literal, secret = $secret:literal,
     balances = { $asset:ident = $amount:literal $(, $more:ident = $more_amount:literal)* }) => {
        concat!(
            "\n[[accounts]]\nname = \"", $name, "\"\napi_key = \"", $key, "\"\nsecret = \"",
            $secret, "\"\nbalances = { ", stringify!($asset), " = \"", $amount, "\"",
            $(", ", stringify!($more), " = \"", $more_amount, "\"",)* " }\n"
        )
    };
}

/// A small venue: BTCUSDT around 100 (step 0.001, at most 100; bids 99.9/99.8/99.7 and asks
/// 100.1/100.2/100.3, 1 BTC each), maker fee 0.1 %, taker 0.2 %, and alice (`alice-key`,
/// `alice-secret`) holding 10,000 USDT and 10 BTC.
#[macro_export]
macro_rules! small_venue {
    () => {
        concat!(
            $crate::paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
            $crate::paper_market!("BTC" / "USDT": step = "0.001", max_qty = "100", mid = "100",
                spread_bps = "20", depth = 3 x "1" every "10" bps),
            $crate::paper_account!("alice", key = "alice-key", secret = "alice-secret",
                balances = { USDT = "10000", BTC = "10" }),
        )
    };
}

/// The article's market (examples/article): fees 0.1 %, BTC around 64,230 and ETH around
/// 3,450 with 20 levels a side 1 bp apart (0.5 BTC and 8 ETH each unless told otherwise), no
/// random walk; without accounts: callers add their own with [`paper_account!`].
#[macro_export]
macro_rules! article_market {
    () => {
        $crate::article_market!(seed = 7, btc_depth = "0.5", eth_depth = "8")
    };
    (seed = $seed:literal, btc_depth = $btc:literal, eth_depth = $eth:literal) => {
        concat!(
            $crate::paper_venue_head!(seed = $seed, maker = "0.001", taker = "0.001"),
            $crate::paper_market!("BTC" / "USDT": step = "0.00001", max_qty = "9000", mid = "64230",
                spread_bps = "2", depth = 20 x $btc every "1" bps),
            $crate::paper_market!("ETH" / "USDT": step = "0.0001", max_qty = "9000", mid = "3450",
                spread_bps = "2", depth = 20 x $eth every "1" bps),
        )
    };
}

/// Parses a venue with each `(from, to)` applied once, in order, for tests.
///
/// # Panics
/// If a `from` is not in the text, or the edited text is not a valid venue.
pub fn parse_edited(venue: &str, edits: &[(&str, &str)]) -> ExchangeConfig {
    let mut text = venue.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "the venue has no {from}");
        text = text.replacen(from, to, 1);
    }
    ExchangeConfig::parse(&text).expect("the edited venue is valid")
}

/// The P-256 key every account of a venue [`in_dialect`] Coinbase signs with: generated for
/// tests only (`openssl ecparam -name prime256v1 -genkey -noout`); it guards nothing.
pub const COINBASE_TEST_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIHcWqrpR1o6XZhY8QFSiMwYFisaHuucB6LYv4TtIC8T/oAoGCCqGSM49
AwEHoUQDQgAESKFfEHmqPymEiIWPqRxkwVtXGwJxlLQKyI5CKOdF9kcrBxNhvl2O
Y0ooB/YCEAJTf1GR1023EPHay1QYe/LKoQ==
-----END EC PRIVATE KEY-----
";

/// `config` spoken in `dialect`, each account's credentials in that venue's form: Kraken's
/// secret is the base64 of the account's secret; Coinbase's key name is
/// `organizations/paper/apiKeys/<api_key>` and its key [`COINBASE_TEST_KEY`]. The same venue
/// (markets, balances, fees) can then be run in each dialect.
///
/// # Errors
/// [`ConfigError`] when the result is not a valid venue.
pub fn in_dialect(
    mut config: ExchangeConfig,
    dialect: Dialect,
) -> Result<ExchangeConfig, ConfigError> {
    use base64::Engine as _;
    config.dialect = dialect;
    for account in &mut config.accounts {
        match dialect {
            Dialect::Binance => {}
            Dialect::Kraken => {
                account.secret =
                    base64::engine::general_purpose::STANDARD.encode(account.secret.as_bytes());
            }
            Dialect::Coinbase => {
                account.api_key = format!("organizations/paper/apiKeys/{}", account.api_key);
                COINBASE_TEST_KEY.clone_into(&mut account.secret);
            }
        }
    }
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venue_in_each_dialect_keeps_its_markets_and_gives_its_accounts_that_venues_credentials() {
        let binance = ExchangeConfig::parse(small_venue!()).unwrap();
        let kraken = in_dialect(binance.clone(), Dialect::Kraken).unwrap();
        assert_eq!(kraken.dialect, Dialect::Kraken);
        assert_eq!(kraken.accounts[0].api_key, "alice-key");
        // base64("alice-secret")
        assert_eq!(kraken.accounts[0].secret, "YWxpY2Utc2VjcmV0");
        let coinbase = in_dialect(binance.clone(), Dialect::Coinbase).unwrap();
        assert_eq!(
            coinbase.accounts[0].api_key,
            "organizations/paper/apiKeys/alice-key"
        );
        assert!(crate::config::ec_private_key(&coinbase.accounts[0].secret).is_some());
        assert_eq!(coinbase.symbols.len(), binance.symbols.len());
        assert_eq!(
            in_dialect(binance, Dialect::Binance).unwrap().accounts[0].secret,
            "alice-secret"
        );
    }
}
