//! The backtest's execution model calibrated against the real handlers (docs/BACKTEST.md,
//! "Calibration"): one portfolio on one short, explicit price path (28 hourly steps of BTC and
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
    run, AssetMarket, Depth, ExecutionModel, PolicyResult, PolicyRun, PriceHistory, RunOptions,
    Scenario,
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
/// The tolerances of the comparison, each explained in docs/BACKTEST.md ("Calibration"): the
/// quantity bought and sold of each asset within 5 % of the handlers' (one episode's orders
/// fill a step apart, and the venue takes a buy's fee in the asset bought), the quantity held
/// at the end within 1 %, the fees within 3 %, the average slippage within 0.5 bps, the final value within 3 bps of the
/// starting equity.
const TRADED_TOLERANCE: Decimal = Decimal::from_parts(5, 0, 0, false, 2);
const HELD_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
const FEE_TOLERANCE: Decimal = Decimal::from_parts(3, 0, 0, false, 2);
const SLIPPAGE_TOLERANCE_BPS: Decimal = Decimal::from_parts(5, 0, 0, false, 1);
const VALUE_TOLERANCE_BPS: Decimal = Decimal::from_parts(3, 0, 0, false, 0);
const ACCOUNT: &str = "calibration";

/// Each step's move of BTC and ETH, in bps of the previous price, in four episodes:
///
/// 1. steps 1-8, a trend (BTC up, ETH down): both leave their bands at step 6; the BTC sell
///    rests at the mid and fills as maker when the trend goes on, and the ETH buy it pays for
///    fills a step later;
/// 2. steps 9-14, the reversal: a BTC buy and an ETH sell the same way, then a calm step;
/// 3. steps 16-19, a jump out of the bands, then the market moves a little away from both
///    orders (each is re-priced at the new mid, within its 20 bps budget) and then to them;
/// 4. steps 20-27, the jump back, then a flat market: the orders at the mid expire at their
///    deadline (step 22½); the market then moves on and the next plan's orders fill.
fn moves() -> Vec<(i64, i64)> {
    let mut m = vec![(0, 0)];
    m.extend(std::iter::repeat_n((100, -100), 8));
    m.extend(std::iter::repeat_n((-150, 150), 6));
    m.push((0, 0));
    m.extend([(700, -700), (-10, 10), (30, -10), (0, -30)]);
    m.extend([
        (-700, 700),
        (0, 0),
        (0, 0),
        (-50, 50),
        (-50, 50),
        (-50, 50),
        (0, 0),
        (0, 0),
    ]);
    m
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The portfolio: 40 % BTC, 35 % ETH, 25 % USDT, a 2-point band back to target, mid-priced limit
/// orders with a 20 bps budget and a [`TTL_SECONDS`] deadline.
fn spec() -> PortfolioSpec {
    serde_json::from_value(json!({
        "id": PORTFOLIO,
        "account": ACCOUNT,
        "quote": "USDT",
        "targets": {"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"},
        "policy": {
            "band": {"absolute": "0.02"},
            "destination": "target",
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

/// The figures the runs are compared on.
#[derive(Debug, Clone, Default)]
struct Figures {
    fills: u64,
    maker: u64,
    taker: u64,
    /// Re-priced legs and orders cancelled at the deadline with something unfilled (`None`: the
    /// run has neither).
    repriced: Option<u64>,
    expired: Option<u64>,
    /// Base quantity bought and sold, by asset (`None`: the run keeps no fills).
    bought: Option<BTreeMap<Asset, Decimal>>,
    sold: Option<BTreeMap<Asset, Decimal>>,
    fees_quote: Decimal,
    /// Notional-weighted, against the mid each order was planned at; positive is worse.
    slippage_bps: Decimal,
    holdings: Option<BTreeMap<Asset, Decimal>>,
    final_value: Decimal,
}

/// `worse` in bps of `reference` (0 when nothing filled).
fn bps_of(worse: Decimal, reference: Decimal) -> Decimal {
    if reference.is_zero() {
        Decimal::ZERO
    } else {
        worse / reference * BPS
    }
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
            maker,
            taker: replay.fills.len() as u64 - maker,
            repriced: Some(replay.repriced as u64),
            expired: Some(replay.expired_unfilled as u64),
            bought: Some(bought),
            sold: Some(sold),
            fees_quote: replay.fills.iter().map(|f| f.fee_quote).sum(),
            slippage_bps: bps_of(worse, reference),
            final_value: value_at_end(&replay.holdings, history),
            holdings: Some(replay.holdings.clone()),
        }
    }

    /// The limit model's figures: its fills replayed onto the starting holdings (each moves
    /// exactly its notional and charges its fee in the quote asset).
    fn of_limit_model(result: &PolicyResult, start: &BTreeMap<Asset, Decimal>) -> Self {
        let fills = &result.series.as_ref().unwrap().fills;
        let mut bought = BTreeMap::new();
        let mut sold = BTreeMap::new();
        let mut holdings = start.clone();
        let quote = Asset::new("USDT").unwrap();
        for f in fills {
            let (side, base, cash) = match f.side {
                Side::Buy => (&mut bought, f.quantity, -f.notional),
                Side::Sell => (&mut sold, -f.quantity, f.notional),
            };
            *side.entry(f.asset.clone()).or_insert(Decimal::ZERO) += f.quantity;
            *holdings.entry(f.asset.clone()).or_default() += base;
            *holdings.entry(quote.clone()).or_default() += cash - f.fee;
        }
        let e = &result.execution;
        Self {
            fills: result.trades,
            maker: e.maker_fills,
            taker: e.taker_fills,
            repriced: Some(e.repriced),
            expired: Some(e.expired),
            bought: Some(bought),
            sold: Some(sold),
            fees_quote: result.fee_quote,
            slippage_bps: e.average_slippage_bps.unwrap_or_default(),
            holdings: Some(holdings),
            final_value: result.final_value,
        }
    }

    /// The instant taker's figures: it keeps no fills, and its cost beyond its fees is its
    /// price against the mid.
    fn of_instant_taker(result: &PolicyResult) -> Self {
        Self {
            fills: result.trades,
            maker: 0,
            taker: result.trades,
            repriced: None,
            expired: None,
            bought: None,
            sold: None,
            fees_quote: result.fee_quote,
            slippage_bps: bps_of(result.cost_quote - result.fee_quote, result.turnover_quote),
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
        .map(
            |(asset, q)| match history.markets.iter().find(|m| &m.asset == asset) {
                Some(m) => *q * mid_at(history, m, last),
                None => *q,
            },
        )
        .sum()
}

/// One row of the table: the figure's name, then each run's value (`None`: not kept).
type Row = (String, [Option<Decimal>; 3]);

fn rows(runs: [&Figures; 3], assets: &[Asset]) -> Vec<Row> {
    let each = |f: fn(&Figures) -> Option<Decimal>| runs.map(f);
    let mut rows: Vec<Row> = vec![
        ("fills".into(), each(|f| Some(f.fills.into()))),
        ("maker fills".into(), each(|f| Some(f.maker.into()))),
        ("taker fills".into(), each(|f| Some(f.taker.into()))),
        (
            "re-priced legs".into(),
            each(|f| f.repriced.map(Decimal::from)),
        ),
        (
            "orders cancelled at the deadline".into(),
            each(|f| f.expired.map(Decimal::from)),
        ),
    ];
    for asset in assets {
        let of = |m: &Option<BTreeMap<Asset, Decimal>>| {
            m.as_ref()
                .map(|m| m.get(asset).copied().unwrap_or_default())
        };
        rows.push((format!("{asset} bought"), runs.map(|f| of(&f.bought))));
        rows.push((format!("{asset} sold"), runs.map(|f| of(&f.sold))));
    }
    for asset in assets.iter().chain([&Asset::new("USDT").unwrap()]) {
        rows.push((
            format!("{asset} held at the end"),
            runs.map(|f| {
                f.holdings
                    .as_ref()
                    .map(|m| m.get(asset).copied().unwrap_or_default())
            }),
        ));
    }
    rows.push(("fees (USDT)".into(), each(|f| Some(f.fees_quote))));
    rows.push((
        "slippage vs decision mid (bps)".into(),
        each(|f| Some(f.slippage_bps)),
    ));
    rows.push(("final value (USDT)".into(), each(|f| Some(f.final_value))));
    rows
}

/// The runs side by side as a Markdown table, with the limit model's difference from the
/// handlers.
fn table(rows: &[Row]) -> String {
    let shown = |v: Option<Decimal>| {
        v.map_or_else(|| "-".to_owned(), |v| v.round_dp(6).normalize().to_string())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<32} | {:>15} | {:>15} | {:>13} | {:>15} |",
        "figure", "real handlers", "backtest limit", "difference", "instant taker"
    );
    let _ = writeln!(
        out,
        "|{:-<34}|{:->16}:|{:->16}:|{:->14}:|{:->16}:|",
        "", "", "", "", ""
    );
    for (name, [handlers, limit, taker]) in rows {
        let difference = match (handlers, limit) {
            (Some(a), Some(b)) => Some(*b - *a),
            _ => None,
        };
        let _ = writeln!(
            out,
            "| {name:<32} | {:>15} | {:>15} | {:>13} | {:>15} |",
            shown(*handlers),
            shown(*limit),
            shown(difference),
            shown(*taker)
        );
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
    let base_venue = venue(&BTreeMap::from([(
        Asset::new("USDT").unwrap(),
        Decimal::ONE,
    )]));
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
    let backtest = |execution| {
        let options = RunOptions {
            record_series: true,
            execution,
            ..RunOptions::default()
        };
        run(&scenario, &runs, options, &mut |_| {})
            .unwrap()
            .remove(0)
    };
    let limit = backtest(ExecutionModel::Limit);
    let taker = backtest(ExecutionModel::InstantTaker);

    let handlers = Figures::of_replay(&replay, &history);
    let model = Figures::of_limit_model(&limit, &start);
    let instant = Figures::of_instant_taker(&taker);
    let assets: Vec<Asset> = history.markets.iter().map(|m| m.asset.clone()).collect();
    println!(
        "calibration: {} hourly steps; orders planned: {} by the real scheduler, {} by the backtest\n\n{}",
        history.steps(),
        replay.planned,
        limit.execution.orders,
        table(&rows([&handlers, &model, &instant], &assets))
    );
    for f in &replay.fills {
        println!("real handlers: {f:?}");
    }
    for f in &limit.series.as_ref().unwrap().fills {
        println!("limit model: {f:?}");
    }

    // Each run's own books agree with themselves: the executor's fee tally with the venue's
    // fills, the limit model's fills with its final value.
    assert_eq!(
        replay.ledger_fees_quote.round_dp(8),
        handlers.fees_quote.round_dp(8)
    );
    assert_eq!(
        value_at_end(model.holdings.as_ref().unwrap(), &history),
        limit.final_value
    );
    // The path exercises what the limit model follows the executor in: maker fills, buys
    // waiting for their sells, re-priced remainders, orders cancelled at their deadline.
    assert!(handlers.maker >= 6 && replay.repriced >= 2, "{replay:?}");
    assert!(replay.expired_unfilled >= 1, "{replay:?}");

    // How far the backtest may be from the handlers (docs/BACKTEST.md, "Calibration").
    assert_eq!(model.fills, handlers.fills);
    assert_eq!((model.maker, model.taker), (handlers.maker, handlers.taker));
    assert_eq!(model.repriced, handlers.repriced);
    // The backtest fills an order at the first step after its deadline when that step's book
    // reaches it; the handlers cancelled it at the deadline, before the market moved.
    assert!(model.expired <= handlers.expired);
    let quote = [history.quote.clone()];
    for asset in assets.iter().chain(&quote) {
        let traded = if asset == &history.quote {
            vec![]
        } else {
            vec![
                ("bought", &handlers.bought, &model.bought, TRADED_TOLERANCE),
                ("sold", &handlers.sold, &model.sold, TRADED_TOLERANCE),
            ]
        };
        let held = ("held", &handlers.holdings, &model.holdings, HELD_TOLERANCE);
        for (what, a, b, tolerance) in traded.into_iter().chain([held]) {
            let (a, b) = (
                a.as_ref().unwrap().get(asset).copied().unwrap_or_default(),
                b.as_ref().unwrap().get(asset).copied().unwrap_or_default(),
            );
            assert!(
                (b - a).abs() <= a * tolerance,
                "{asset} {what}: handlers {a}, backtest {b}"
            );
        }
    }
    assert!(
        (model.fees_quote - handlers.fees_quote).abs() <= handlers.fees_quote * FEE_TOLERANCE,
        "fees: handlers {}, backtest {}",
        handlers.fees_quote,
        model.fees_quote
    );
    assert!(
        (model.slippage_bps - handlers.slippage_bps).abs() <= SLIPPAGE_TOLERANCE_BPS,
        "slippage: handlers {}, backtest {}",
        handlers.slippage_bps,
        model.slippage_bps
    );
    assert!(
        (model.final_value - handlers.final_value).abs() <= equity * VALUE_TOLERANCE_BPS / BPS,
        "final value: handlers {}, backtest {}",
        handlers.final_value,
        model.final_value
    );
}
