//! What the demo runs: the venues (one per dialect), the portfolios (three on one
//! paper-exchange account each, each on its own venue; two spread over accounts on several
//! venues) and the scripted market. The market is scripted, not random, so every run tells the
//! same story: one asset's book goes thin while the first orders arrive, and one asset jumps
//! enough to push portfolios out of their bands.

use driftline_core::config::PortfolioSpec;
use driftline_sandbox::paper_account;
use paper_exchange::config::Dialect;
use paper_exchange::venues::in_dialect;
use paper_exchange::ExchangeConfig;
use rust_decimal::Decimal;
use serde_json::json;

use crate::DemoError;

/// The venues, each the article's market (BTC around 64,230, ETH around 3,450, deep books, no
/// random walk: the demo moves the mids itself): the article's account on a Binance venue,
/// steady's on a Kraken venue, cash-heavy's on a Coinbase venue; `combined` has an account on
/// each, `routed` one on Binance and one on Kraken.
const VENUES: [(Dialect, &str); 3] = [
    (
        Dialect::Binance,
        concat!(
            driftline_sandbox::article_market!(),
            paper_account!("article", key = "demo-article-key", secret = "demo-article-secret-never-logged",
                balances = { BTC = "1.5", ETH = "25", USDT = "20000" }),
            paper_account!(
                "combined-binance",
                key = "demo-combined-binance-key",
                secret = "demo-combined-binance-secret-never-logged",
                balances = { BTC = "0.3" }
            ),
            paper_account!(
                "routed-binance",
                key = "demo-routed-binance-key",
                secret = "demo-routed-binance-secret-never-logged",
                balances = { USDT = "20000" }
            ),
        ),
    ),
    (
        Dialect::Kraken,
        concat!(
            driftline_sandbox::article_market!(),
            paper_account!("steady", key = "demo-steady-key", secret = "demo-steady-secret-never-logged",
                balances = { BTC = "0.5", USDT = "32000" }),
            paper_account!(
                "combined-kraken",
                key = "demo-combined-kraken-key",
                secret = "demo-combined-kraken-secret-never-logged",
                balances = { USDT = "20000" }
            ),
            paper_account!(
                "routed-kraken",
                key = "demo-routed-kraken-key",
                secret = "demo-routed-kraken-secret-never-logged",
                balances = { USDT = "20000" }
            ),
        ),
    ),
    (
        Dialect::Coinbase,
        concat!(
            driftline_sandbox::article_market!(),
            paper_account!("cash-heavy", key = "demo-cash-heavy-key",
                secret = "demo-cash-heavy-secret-never-logged", balances = { BTC = "0.1", ETH = "1", USDT = "30000" }),
            paper_account!(
                "combined-coinbase",
                key = "demo-combined-coinbase-key",
                secret = "demo-combined-coinbase-secret-never-logged",
                balances = { USDT = "12000" }
            ),
        ),
    ),
];

/// The Kraken venue's fee schedule, as the fractions it charges and as the bps its accounts'
/// specs give the planner: dearer than the others' 0.1 %, so routing has a choice to make.
const KRAKEN_FEES: (&str, &str) = ("0.0016", "0.0026");
const KRAKEN_FEES_BPS: (&str, &str) = ("16", "26");

/// The demo's venues, each in its dialect.
///
/// # Errors
/// [`DemoError::Setup`] if a venue does not parse (a bug in this file).
pub fn venues() -> Result<Vec<ExchangeConfig>, DemoError> {
    VENUES
        .into_iter()
        .map(|(dialect, text)| {
            let mut config = ExchangeConfig::parse(text)
                .and_then(|c| in_dialect(c, dialect))
                .map_err(|e| DemoError::Setup(format!("demo venue {dialect:?}: {e}")))?;
            if dialect == Dialect::Kraken {
                let fraction = |s: &str| {
                    s.parse::<Decimal>()
                        .map_err(|e| DemoError::Setup(format!("Kraken fee {s}: {e}")))
                };
                config.fees.maker = fraction(KRAKEN_FEES.0)?;
                config.fees.taker = fraction(KRAKEN_FEES.1)?;
            }
            Ok(config)
        })
        .collect()
}

fn kraken_fees() -> serde_json::Value {
    json!({"maker_bps": KRAKEN_FEES_BPS.0, "taker_bps": KRAKEN_FEES_BPS.1})
}

pub const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

fn policy(band: &str, destination: &str) -> serde_json::Value {
    json!({
        "band": {"absolute": band},
        "destination": destination,
        "min_trade_notional": "10",
        "max_cost_bps": "50",
        "slippage_budget_bps": "20",
        "limit_offset": "0.5",
        "order_ttl_seconds": 900
    })
}

/// The demo's portfolios: the article's (out of its bands from the start: it sells back to the
/// band edges), a tight-band one that starts on target (the BTC jump pushes it out), one with
/// too much cash (it buys, all the way to target), each on its own paper-exchange account named
/// after it; then two over several venues: `combined`, whose BTC (on Binance and in cold
/// storage) and cash (on Kraken and Coinbase) are on target together while every account alone
/// is all BTC or all cash (nothing to trade), and `routed`, all cash on Kraken and Binance,
/// whose BTC buy goes to Binance, where it costs least, though Kraken is listed first.
/// `only_article`: the first alone.
///
/// # Errors
/// [`DemoError::Setup`] if a specification does not parse (a bug in this file).
pub fn portfolios(only_article: bool) -> Result<Vec<PortfolioSpec>, DemoError> {
    let specs = [
        json!({
            "id": "article",
            "account": "article",
            "quote": "USDT",
            "targets": {"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"},
            "policy": policy("0.05", "band_edge"),
        }),
        json!({
            "id": "steady",
            // One account, given as a list for its fee tier: Kraken's.
            "accounts": [{"account": "steady", "fees": kraken_fees()}],
            "quote": "USDT",
            "targets": {"BTC": "0.50", "USDT": "0.50"},
            "policy": policy("0.02", "band_edge"),
        }),
        json!({
            "id": "cash-heavy",
            "account": "cash-heavy",
            "quote": "USDT",
            "targets": {"BTC": "0.30", "ETH": "0.30", "USDT": "0.40"},
            "policy": policy("0.05", "target"),
        }),
        json!({
            "id": "combined",
            "accounts": [
                {"account": "combined-binance"},
                {"account": "combined-kraken", "fees": kraken_fees()},
                {"account": "combined-coinbase"},
            ],
            "off_exchange": {"BTC": "0.2"},
            "quote": "USDT",
            "targets": {"BTC": "0.50", "USDT": "0.50"},
            "policy": policy("0.05", "band_edge"),
        }),
        json!({
            "id": "routed",
            "accounts": [
                {"account": "routed-kraken", "fees": kraken_fees()},
                {"account": "routed-binance"},
            ],
            "quote": "USDT",
            "targets": {"BTC": "0.50", "USDT": "0.50"},
            "policy": policy("0.05", "target"),
        }),
    ];
    let take = if only_article { 1 } else { specs.len() };
    specs
        .into_iter()
        .take(take)
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| DemoError::Setup(format!("demo portfolio spec: {e}")))
        })
        .collect()
}

/// What happens to the market in a cycle, before its tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleScript {
    /// BTC's mid jumps by this fraction before the tick.
    pub btc_jump: Option<Decimal>,
    /// ETH's book goes thin (this fraction of its depth) as the cycle's orders reach the
    /// executor, and recovers over the next executor rounds.
    pub eth_thin: Option<Decimal>,
    /// A small move of every mid, in bps, before the tick (the market breathing).
    pub drift_bps: i64,
}

/// The script of cycle `n` (1-based) of `total`: the thin book in the first cycle, the jump in
/// the third (or the last, in a shorter run), small moves otherwise.
pub fn cycle_script(n: u32, total: u32) -> CycleScript {
    let jump_cycle = total.clamp(2, 3);
    CycleScript {
        btc_jump: (n == jump_cycle).then(|| Decimal::new(12, 2)),
        eth_thin: (n == 1).then(|| Decimal::new(5, 3)),
        drift_bps: match n % 3 {
            0 => 4,
            1 => 0,
            _ => -3,
        },
    }
}

/// How far the thin book recovers once the executor has deferred an order on it twice: deep
/// enough to place, still too shallow to fill an order at once.
pub fn eth_recovering() -> Decimal {
    Decimal::new(1, 1)
}
