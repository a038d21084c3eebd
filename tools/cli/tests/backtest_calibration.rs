//! The backtest's execution model calibrated against the real handlers (docs/BACKTEST.md,
//! "Calibration"): one portfolio on one short, explicit price path (36 hourly steps of BTC and
//! ETH against USDT, no random walk), run
//!
//! - through the real scheduler and executor handlers on the paper exchange, with AWS on the
//!   local emulator (`driftline_sandbox::World::replay`), and
//! - through `driftline_cli::backtest::run` on the same prices, targets, policy, fees and
//!   books: the backtest's markets are built from the paper venue's own configuration (its
//!   filters, spread and depth profile), so both see the same book at every step,
//!
//! and the figures of both (fills, maker and taker, quantity traded per asset, fees, slippage
//! against the decision mid, final holdings and value) are compared within stated tolerances.
//!
//! `scripts/with-moto.sh cargo test -p driftline-cli --test backtest_calibration -- --nocapture`
//! prints the table. Without the emulator the test says it skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use driftline_cli::backtest::{
    run, AssetMarket, Depth, PolicyResult, PolicyRun, PriceHistory, RunOptions, Scenario,
};
use driftline_core::config::PortfolioSpec;
use driftline_core::money::{floor_to_step, BPS};
use driftline_core::{Asset, Fees, Price, RebalancePolicy, Side, TargetWeights};
use driftline_sandbox::replay::{PathStep, Replay};
use driftline_sandbox::{World, T0};
use paper_exchange::ExchangeConfig;
use rust_decimal::Decimal;
use serde_json::json;

/// One path step: an hour, longer than the executor's follow-ups and shorter than an order's
/// deadline ([`TTL_SECONDS`]).
const STEP_MS: i64 = 3_600_000;
/// An order's time to live: two and a half steps, so a resting order meets two moves of the
/// market (filling, or re-priced when the market left it) and is cancelled before the third.
const TTL_SECONDS: u32 = 9_000;
const EQUITY: i64 = 100_000;
const PORTFOLIO: &str = "calibration";
const ACCOUNT: &str = "calibration";

/// Each step's move of BTC and ETH, in bps of the previous price: a trend (BTC up, ETH down)
/// that takes BTC out of its band and fills resting sells as it goes on, a flat stretch where
/// orders at the mid expire, a reversal, and a chop where orders are left behind and re-priced.
fn moves() -> Vec<(i64, i64)> {
    let mut m = vec![(0, 0)];
    m.extend(std::iter::repeat_n((100, -60), 8));
    m.extend(std::iter::repeat_n((0, 0), 4));
    m.extend(std::iter::repeat_n((-150, 120), 6));
    m.extend(std::iter::repeat_n((40, -150), 5));
    for k in 0..12 {
        m.push(if k % 2 == 0 { (120, -80) } else { (-90, 70) });
    }
    m
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The portfolio: 40 % BTC, 35 % ETH, 25 % USDT, a 2-point band to its edge, mid-priced limit
/// orders with a 20 bps budget and a [`TTL_SECONDS`] deadline.
fn spec() -> PortfolioSpec {
    serde_json::from_value(json!({
        "id": PORTFOLIO,
        "account": ACCOUNT,
        "quote": "USDT",
        "targets": {"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"},
        "policy": {
            "band": {"absolute": "0.02"},
            "destination": "band_edge",
            "min_trade_notional": "10",
            "max_cost_bps": "50",
            "slippage_budget_bps": "20",
            "limit_offset": "0.5",
            "order_ttl_seconds": TTL_SECONDS
        }
    }))
    .unwrap()
}

/// The paper venue: the article's market (fees 0.1 %, tick 0.01, 2 bps spread, 20 levels a
/// side 1 bp apart of 0.5 BTC and 8 ETH, no random walk, taken depth back in full each tick)
/// and the account holding `holdings`.
fn venue(holdings: &BTreeMap<Asset, Decimal>) -> ExchangeConfig {
    let balances: Vec<String> = holdings
        .iter()
        .map(|(asset, q)| format!("{asset} = \"{q}\""))
        .collect();
    let text = format!(
        "{}\n[[accounts]]\nname = \"{ACCOUNT}\"\napi_key = \"calibration-key\"\nsecret = \"calibration-secret\"\nbalances = {{ {} }}\n",
        driftline_sandbox::article_market!(),
        balances.join(", ")
    );
    ExchangeConfig::parse(&text).unwrap()
}

/// The backtest's markets, one per paper venue symbol: the venue's filters, spread and depth.
fn markets_of(config: &ExchangeConfig) -> Vec<AssetMarket> {
    config
        .symbols
        .iter()
        .map(|s| AssetMarket {
            asset: s.base.clone(),
            filters: s.filters().unwrap(),
            depth: s.depth,
            spread_bps: s.spread_bps,
        })
        .collect()
}

/// The path's prices: each venue symbol's configured mid moved by [`moves`], on its tick.
fn history(markets: Vec<AssetMarket>, config: &ExchangeConfig) -> PriceHistory {
    let mut prices: Vec<Decimal> = config.symbols.iter().map(|s| s.mid).collect();
    let mut closes = Vec::new();
    let mut times_ms = Vec::new();
    for (step, (btc, eth)) in moves().into_iter().enumerate() {
        for ((price, bps), m) in prices.iter_mut().zip([btc, eth]).zip(&markets) {
            let moved = *price * (Decimal::ONE + Decimal::from(bps) / BPS);
            *price = floor_to_step(moved, m.filters.tick_size());
        }
        closes.push(prices.iter().map(|p| Price::new(*p).unwrap()).collect());
        times_ms.push(T0 + i64::try_from(step).unwrap() * STEP_MS);
    }
    PriceHistory {
        quote: Asset::new("USDT").unwrap(),
        markets,
        times_ms,
        closes,
    }
}

/// The holdings the backtest starts from: each target at the first mids, rounded down to the
/// market's step, the rest in cash (as `backtest::run` allocates them).
fn start_holdings(
    history: &PriceHistory,
    targets: &TargetWeights,
    equity: Decimal,
) -> BTreeMap<Asset, Decimal> {
    let mut holdings = BTreeMap::new();
    let mut spent = Decimal::ZERO;
    for m in &history.markets {
        let mid = mid_at(history, m, 0);
        let quantity = m
            .filters
            .round_quantity(equity * targets.get(&m.asset).unwrap_or_default() / mid);
        spent += quantity * mid;
        holdings.insert(m.asset.clone(), quantity);
    }
    holdings.insert(history.quote.clone(), equity - spent);
    holdings
}

/// The book mid of `market` at `step`: what both runs value holdings at.
fn mid_at(history: &PriceHistory, market: &AssetMarket, step: usize) -> Decimal {
    let i = history
        .markets
        .iter()
        .position(|m| m.asset == market.asset)
        .unwrap();
    market
        .snapshot(history.closes[step][i], Depth::Touch)
        .unwrap()
        .book
        .mid()
        .unwrap()
        .value()
}

/// The figures both runs are compared on.
#[derive(Debug, Clone, Default)]
struct Figures {
    fills: u64,
    maker: Option<u64>,
    taker: Option<u64>,
    /// Base quantity bought and sold, by asset.
    bought: Option<BTreeMap<Asset, Decimal>>,
    sold: Option<BTreeMap<Asset, Decimal>>,
    fees_quote: Decimal,
    /// Notional-weighted, against the mid each order was planned at; positive is worse.
    slippage_bps: Decimal,
    holdings: Option<BTreeMap<Asset, Decimal>>,
    final_value: Decimal,
}

impl Figures {
    fn of_replay(replay: &Replay, history: &PriceHistory) -> Self {
        let mut bought = BTreeMap::new();
        let mut sold = BTreeMap::new();
        let (mut worse, mut reference) = (Decimal::ZERO, Decimal::ZERO);
        for f in &replay.fills {
            let side = if f.side == Side::Buy {
                &mut bought
            } else {
                &mut sold
            };
            *side.entry(f.asset.clone()).or_insert(Decimal::ZERO) += f.quantity;
            let gap = match f.side {
                Side::Buy => f.price - f.reference_price,
                Side::Sell => f.reference_price - f.price,
            };
            worse += gap * f.quantity;
            reference += f.reference_price * f.quantity;
        }
        let maker = replay.fills.iter().filter(|f| f.is_maker).count() as u64;
        Self {
            fills: replay.fills.len() as u64,
            maker: Some(maker),
            taker: Some(replay.fills.len() as u64 - maker),
            bought: Some(bought),
            sold: Some(sold),
            fees_quote: replay.fills.iter().map(|f| f.fee_quote).sum(),
            slippage_bps: if reference.is_zero() {
                Decimal::ZERO
            } else {
                worse / reference * BPS
            },
            final_value: value_at_end(&replay.holdings, history),
            holdings: Some(replay.holdings.clone()),
        }
    }

    fn of_backtest(result: &PolicyResult) -> Self {
        Self {
            fills: result.trades,
            maker: Some(0),
            taker: Some(result.trades),
            bought: None,
            sold: None,
            fees_quote: result.fee_quote,
            // The instant taker's cost beyond its fees is its price against the mid.
            slippage_bps: if result.turnover_quote.is_zero() {
                Decimal::ZERO
            } else {
                (result.cost_quote - result.fee_quote) / result.turnover_quote * BPS
            },
            holdings: None,
            final_value: result.final_value,
        }
    }
}

/// What `holdings` are worth at the path's last mids.
fn value_at_end(holdings: &BTreeMap<Asset, Decimal>, history: &PriceHistory) -> Decimal {
    let last = history.steps() - 1;
    holdings
        .iter()
        .map(|(asset, q)| match history.markets.iter().find(|m| &m.asset == asset) {
            Some(m) => *q * mid_at(history, m, last),
            None => *q,
        })
        .sum()
}

fn optional<T>(v: Option<T>, show: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), show)
}

fn per_asset(m: &BTreeMap<Asset, Decimal>, asset: &Asset) -> Decimal {
    m.get(asset).copied().unwrap_or_default().normalize()
}

/// Both runs' figures side by side, with the difference where both have one.
fn table(handlers: &Figures, backtest: &Figures, assets: &[Asset]) -> String {
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut row = |name: String, a: String, b: String, diff: String| rows.push((name, a, b, diff));
    let diff = |a: Decimal, b: Decimal| (b - a).round_dp(4).normalize().to_string();
    row(
        "fills".into(),
        handlers.fills.to_string(),
        backtest.fills.to_string(),
        (i128::from(backtest.fills) - i128::from(handlers.fills)).to_string(),
    );
    for (name, a, b) in [
        ("maker fills", handlers.maker, backtest.maker),
        ("taker fills", handlers.taker, backtest.taker),
    ] {
        let d = match (a, b) {
            (Some(a), Some(b)) => (i128::from(b) - i128::from(a)).to_string(),
            _ => "-".into(),
        };
        row(
            name.into(),
            optional(a, |v| v.to_string()),
            optional(b, |v| v.to_string()),
            d,
        );
    }
    for asset in assets {
        for (what, a, b) in [
            ("bought", &handlers.bought, &backtest.bought),
            ("sold", &handlers.sold, &backtest.sold),
            ("held at end", &handlers.holdings, &backtest.holdings),
        ] {
            let (a, b) = (
                a.as_ref().map(|m| per_asset(m, asset)),
                b.as_ref().map(|m| per_asset(m, asset)),
            );
            let d = match (a, b) {
                (Some(a), Some(b)) => diff(a, b),
                _ => "-".into(),
            };
            row(
                format!("{asset} {what}"),
                optional(a, |v| v.to_string()),
                optional(b, |v| v.to_string()),
                d,
            );
        }
    }
    row(
        "fees (USDT)".into(),
        handlers.fees_quote.round_dp(4).to_string(),
        backtest.fees_quote.round_dp(4).to_string(),
        diff(handlers.fees_quote, backtest.fees_quote),
    );
    row(
        "slippage vs decision mid (bps)".into(),
        handlers.slippage_bps.round_dp(2).to_string(),
        backtest.slippage_bps.round_dp(2).to_string(),
        diff(handlers.slippage_bps, backtest.slippage_bps),
    );
    row(
        "final value (USDT)".into(),
        handlers.final_value.round_dp(2).to_string(),
        backtest.final_value.round_dp(2).to_string(),
        diff(handlers.final_value, backtest.final_value),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<32} | {:>16} | {:>16} | {:>12} |",
        "figure", "real handlers", "backtest", "difference"
    );
    let _ = writeln!(out, "|{:-<34}|{:->18}|{:->18}|{:->14}|", "", "", "", "");
    for (name, a, b, d) in rows {
        let _ = writeln!(out, "| {name:<32} | {a:>16} | {b:>16} | {d:>12} |");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backtest_execution_model_matches_the_real_handlers_on_a_short_path() {
    let spec = spec();
    let (portfolio, policy): (_, RebalancePolicy) = spec.clone().into_domain().unwrap();
    let targets = portfolio.targets().clone();
    // The backtest's markets from the venue's own configuration (the account's holdings are
    // set below, once the start is known).
    let base_venue = venue(&BTreeMap::from([(Asset::new("USDT").unwrap(), Decimal::ONE)]));
    let history = history(markets_of(&base_venue), &base_venue);
    let equity = Decimal::from(EQUITY);
    let start = start_holdings(&history, &targets, equity);

    let Some(world) = World::start_following(venue(&start), std::slice::from_ref(&spec), 0).await
    else {
        return;
    };
    let path: Vec<PathStep> = history
        .times_ms
        .iter()
        .zip(&history.closes)
        .map(|(t, closes)| PathStep {
            time_ms: *t,
            mids: base_venue
                .symbols
                .iter()
                .zip(closes)
                .map(|(s, p)| (s.symbol.clone(), p.value()))
                .collect(),
        })
        .collect();
    let replay = world.replay(PORTFOLIO, ACCOUNT, &path).await.unwrap();
    world.stop().await;

    let scenario = Scenario {
        history: history.clone(),
        targets,
        initial_equity: equity,
        fees: Fees {
            maker_bps: dec("10"),
            taker_bps: dec("10"),
        },
        venues: Vec::new(),
        off_exchange: Decimal::ZERO,
    };
    let runs = [PolicyRun::driftline("driftline", policy)];
    let options = RunOptions {
        record_series: true,
        ..RunOptions::default()
    };
    let results = run(&scenario, &runs, options, &mut |_| {}).unwrap();

    let handlers = Figures::of_replay(&replay, &history);
    let backtest = Figures::of_backtest(&results[0]);
    let assets: Vec<Asset> = history.markets.iter().map(|m| m.asset.clone()).collect();
    println!(
        "calibration: {} hourly steps, {} orders planned by the scheduler, {} re-priced legs, {} cancelled at the deadline\n{}",
        history.steps(),
        replay.planned,
        replay.repriced,
        replay.expired_unfilled,
        table(&handlers, &backtest, &assets)
    );
    for f in &replay.fills {
        println!("{f:?}");
    }

    // The executor's own fee tally agrees with the venue's fills.
    assert_eq!(replay.ledger_fees_quote.round_dp(8), handlers.fees_quote.round_dp(8));
    assert!(handlers.fills > 0, "the path trades: {replay:?}");
}
