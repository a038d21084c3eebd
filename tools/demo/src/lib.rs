//! `make demo`: the whole driftline on this machine. The local AWS emulator holds the table,
//! the intents queue (with its dead-letter queue) and one exchange secret per portfolio; the
//! paper exchange runs in-process on a free loopback port; the real scheduler and executor
//! handlers run over the real adapters (`driftline-sandbox`). Each cycle the demo invokes the
//! scheduler as EventBridge would, then drives the executor from SQS as Lambda's event source
//! mapping would (batches of up to ten, batch item failures back on the queue after their
//! delay), while a scripted market moves.
//!
//! Time is a manual clock shared by the exchange and the services: a 5-minute schedule period
//! passes in an instant. SQS delays are real seconds on the emulator, so the demo's retry
//! backoff and follow-up delays are 1-2 s (minutes in production).

pub mod console;
mod cycle;
pub mod journal;
pub mod render;
pub mod report;
pub mod scenario;
pub mod spread;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use driftline_core::config::PortfolioSpec;
use driftline_core::{OrderStatus, PortfolioId, RebalancePolicy};
use driftline_sandbox::{SandboxError, World};
use rust_decimal::Decimal;
use serde_json::Value;
use thiserror::Error;

use crate::cycle::Session;
use crate::journal::Journal;
use crate::report::{AssetRow, FinalPortfolio, OrderReport, Report, Skip, Summary, Timing};

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("{0}")]
    Sandbox(#[from] SandboxError),
    #[error("set-up: {0}")]
    Setup(String),
    #[error("ledger: {0}")]
    Store(#[from] driftline_core::ports::StoreError),
    #[error("output {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("paper exchange: {0}")]
    Venue(String),
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Scheduler cycles to run.
    pub cycles: u32,
    /// Executor rounds per cycle at most (one receive and invocation each).
    pub max_rounds: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cycles: 5,
            max_rounds: 40,
        }
    }
}

/// The demo's world: the sandbox with the demo's venues and portfolios.
///
/// # Errors
/// [`DemoError`] when the emulator is not there or a resource cannot be created.
pub async fn start(portfolios: &[PortfolioSpec]) -> Result<World, DemoError> {
    let sdk = driftline_sandbox::emulator_config().await?;
    Ok(World::launch_venues(&sdk, scenario::venues()?, portfolios, None).await?)
}

/// Runs the cycles on `world`, printing as it goes to `out`; returns the report.
///
/// # Errors
/// [`DemoError`] when the emulator, the exchange or the ledger fails under the demo.
pub async fn run(
    world: &World,
    specs: &[PortfolioSpec],
    options: &Options,
    out: &mut dyn Write,
) -> Result<Report, DemoError> {
    let mut session = Session::start(world, specs, options, out).await?;
    let mut cycles = Vec::new();
    for n in 1..=options.cycles {
        cycles.push(session.cycle(n).await?);
        world.next_tick();
    }
    let Session {
        policies,
        journal,
        skips,
        out,
        ..
    } = session;
    let final_state = final_state(world, specs, &policies)?;
    let orders: Vec<OrderReport> = journal.journeys.values().map(order_report).collect();
    let summary = summarize(world, &journal, &orders, skips).await?;
    let spread = specs
        .iter()
        .filter(|s| spread::is_spread(s))
        .map(|s| report::SpreadOutcome {
            portfolio: s.id.clone(),
            outcome: spread::outcome(&s.id, &cycles, &orders),
        })
        .collect();
    let report = Report {
        quote: "USDT".into(),
        timing: Timing {
            schedule_period_seconds: driftline_sandbox::PERIOD_SECONDS,
            retry_backoff_seconds: format!(
                "{}-{}",
                driftline_sandbox::BACKOFF.base_secs,
                driftline_sandbox::BACKOFF.cap_secs
            ),
            follow_up_delay_seconds: driftline_sandbox::FOLLOW_UP_DELAY_SECS,
            visibility_timeout_seconds: driftline_sandbox::VISIBILITY_TIMEOUT_SECS,
        },
        cycles,
        orders,
        final_state,
        spread,
        summary,
    };
    render::closing(out, &report);
    Ok(report)
}

pub(crate) fn snapshot_quote(specs: &[PortfolioSpec], id: &PortfolioId) -> String {
    specs
        .iter()
        .find(|s| s.id == id.as_str())
        .map(|s| s.quote.clone())
        .unwrap_or_default()
}

fn order_report(j: &journal::Journey) -> OrderReport {
    let r = &j.record;
    let i = &r.intent;
    OrderReport {
        portfolio: i.portfolio_id.to_string(),
        client_order_id: i.client_order_id.to_string(),
        cycle: j.cycle,
        symbol: i.symbol.to_string(),
        side: i.side.to_string(),
        quantity: i.quantity,
        limit_price: i.limit_price.value(),
        reference_mid: i.reference_price.value(),
        status: format!("{:?}", r.status),
        filled_qty: r.filled_qty,
        average_price: j.average_price(),
        slippage_bps: j.slippage_bps(),
        fees: j.commission().0,
        fee_asset: Some(j.commission().1).filter(|a| !a.is_empty()),
        fees_quote: j.fees_quote(),
        queued: j.queued,
        journey: j.events.clone(),
    }
}

/// Every portfolio's weights at the last mids, from its account's balances on the exchange.
fn final_state(
    world: &World,
    specs: &[PortfolioSpec],
    policies: &BTreeMap<String, RebalancePolicy>,
) -> Result<Vec<FinalPortfolio>, DemoError> {
    let mut out = Vec::new();
    for spec in specs {
        let (portfolio, _) = spec
            .clone()
            .into_domain()
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        let quote = portfolio.quote().clone();
        // Every account's holdings and those off every exchange, at the venues' mids.
        let held = spread::held(world, spec, &portfolio)?;
        let off = spread::off_exchange(world, &portfolio, &held)?;
        let values: Vec<(driftline_core::Asset, Decimal, Decimal)> = portfolio
            .targets()
            .iter()
            .map(|(asset, target)| {
                let value = held
                    .iter()
                    .filter_map(|h| h.values.get(asset))
                    .chain(off.get(asset))
                    .sum();
                (asset.clone(), target, value)
            })
            .collect();
        let equity: Decimal = values.iter().map(|v| v.2).sum();
        let policy = policies.get(&spec.id).cloned().unwrap_or_default();
        let assets: Vec<AssetRow> = values
            .into_iter()
            .map(|(asset, target, value)| {
                let weight = if equity.is_zero() {
                    Decimal::ZERO
                } else {
                    value / equity
                };
                let band = policy.band_for(&asset, target);
                let drift = weight - target;
                // Band-edge trades rounded down to the lot size can end a hair outside the
                // edge; the planner leaves an excess below its minimum trade alone, and so
                // does this check.
                let excess = (drift.abs() - band).max(Decimal::ZERO) * equity;
                let (decision, reason) = if asset == quote {
                    ("quote asset".to_owned(), None)
                } else if excess.is_zero() {
                    ("in band".to_owned(), None)
                } else if excess < policy.min_trade_notional {
                    (
                        "in band".to_owned(),
                        Some(format!(
                            "at the edge: {} USDT over, below the {} USDT minimum trade",
                            excess.round_dp(2),
                            policy.min_trade_notional
                        )),
                    )
                } else {
                    ("out of band".to_owned(), None)
                };
                AssetRow {
                    asset: asset.to_string(),
                    weight,
                    target,
                    drift,
                    band,
                    decision,
                    reason,
                }
            })
            .collect();
        let within_bands = assets.iter().all(|a| a.decision != "out of band");
        out.push(FinalPortfolio {
            portfolio: spec.id.clone(),
            equity,
            assets,
            within_bands,
        });
    }
    Ok(out)
}

async fn summarize(
    world: &World,
    journal: &Journal,
    orders: &[OrderReport],
    skipped: Vec<Skip>,
) -> Result<Summary, DemoError> {
    let filled = orders.iter().filter(|o| o.status == "Filled").count();
    let replaced = journal
        .journeys
        .values()
        .filter(|j| j.record.status != OrderStatus::Filled && journal.replaced(j))
        .count();
    let venue_orders = world.try_admin_get("/admin/orders").await?;
    let venue_orders = venue_orders.as_array().cloned().unwrap_or_default();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for o in &venue_orders {
        if let Some(id) = o.get("clientOrderId").and_then(Value::as_str) {
            *by_id.entry(id.to_owned()).or_default() += 1;
        }
    }
    let fills = world
        .try_admin_get("/admin/fills")
        .await?
        .as_array()
        .map_or(0, Vec::len);
    let traded = journal
        .journeys
        .values()
        .filter(|j| !j.record.filled_qty.is_zero());
    let notional: Decimal = traded
        .clone()
        .map(|j| j.record.filled_qty * j.record.intent.reference_price.value())
        .sum();
    let fees: Decimal = journal
        .journeys
        .values()
        .map(journal::Journey::fees_quote)
        .sum();
    let slippage: Decimal = traded.map(journal::Journey::slippage_quote).sum();
    let average_slippage_bps =
        (!notional.is_zero()).then(|| slippage / notional * driftline_core::money::BPS);
    Ok(Summary {
        orders: orders.len(),
        filled,
        replaced,
        not_filled: orders.len() - filled - replaced,
        fills,
        average_slippage_bps,
        traded_notional: notional,
        fees,
        slippage_cost: slippage,
        total_cost: fees + slippage,
        skipped,
        venue_orders: venue_orders.len(),
        duplicate_client_order_ids: by_id
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id)
            .collect(),
        dead_letters: world.try_dead_letters().await?.len(),
    })
}

/// Writes the report as JSON and the chart as PNG into `dir`; returns their paths.
///
/// # Errors
/// [`DemoError::Output`] when a file cannot be written.
pub fn write_outputs(report: &Report, dir: &Path) -> Result<(PathBuf, PathBuf), DemoError> {
    let fail = |path: &Path, reason: String| DemoError::Output {
        path: path.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    let json_path = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| fail(&json_path, e.to_string()))?;
    std::fs::write(&json_path, text).map_err(|e| fail(&json_path, e.to_string()))?;
    let png_path = dir.join("weights.png");
    render::chart(&png_path, report).map_err(|e| fail(&png_path, e.to_string()))?;
    Ok((json_path, png_path))
}
