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
pub mod journal;
pub mod render;
pub mod report;
pub mod scenario;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use driftline_core::config::PortfolioSpec;
use driftline_core::ports::{DriftHistory, OrderLedger};
use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::{OrderStatus, PortfolioId, RebalancePolicy, Side};
use driftline_sandbox::{SandboxError, World};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use thiserror::Error;

use crate::journal::Journal;
use crate::report::{
    AssetRow, CycleReport, ExecutorWork, FinalPortfolio, OrderReport, PortfolioCycle, Report, Skip,
    Summary, Timing,
};
use crate::scenario::{cycle_script, eth_recovering, SYMBOLS};

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

/// The demo's world: the sandbox with the demo's venue and portfolios.
///
/// # Errors
/// [`DemoError`] when the emulator is not there or a resource cannot be created.
pub async fn start(portfolios: &[PortfolioSpec]) -> Result<World, DemoError> {
    let sdk = driftline_sandbox::emulator_config().await?;
    Ok(World::launch(&sdk, scenario::VENUE, portfolios).await?)
}

/// What the market is doing: the mids the script holds each symbol at.
struct Market {
    base: BTreeMap<&'static str, Decimal>,
}

fn on_tick(price: Decimal) -> Decimal {
    price.round_dp(2)
}

impl Market {
    async fn set(&self, world: &World, symbol: &str, mid: Decimal) -> Result<(), DemoError> {
        world
            .try_admin_send(
                reqwest::Method::POST,
                "/admin/mid",
                &json!({"symbol": symbol, "price": on_tick(mid).to_string()}),
            )
            .await?;
        Ok(())
    }

    fn base(&self, symbol: &str) -> Decimal {
        self.base.get(symbol).copied().unwrap_or(Decimal::ONE)
    }

    /// Moves every mid back to where the script holds it.
    async fn settle(&self, world: &World) -> Result<(), DemoError> {
        for s in SYMBOLS {
            self.set(world, s, self.base(s)).await?;
        }
        Ok(())
    }

    async fn thin(
        &self,
        world: &World,
        symbol: &str,
        factor: Option<Decimal>,
    ) -> Result<(), DemoError> {
        let faults = match factor {
            Some(f) => json!({"thin_books": {symbol: f.to_string()}}),
            None => json!({}),
        };
        world
            .try_admin_send(reqwest::Method::PUT, "/admin/faults", &faults)
            .await?;
        Ok(())
    }
}

/// The ledger's records of every portfolio.
async fn ledger_records(
    world: &World,
    ids: &[PortfolioId],
) -> Result<Vec<driftline_core::orders::OrderRecord>, DemoError> {
    let mut all = Vec::new();
    for id in ids {
        all.extend(world.store.orders(id).await?);
    }
    Ok(all)
}

fn outcome_text(o: &PortfolioOutcome) -> (String, usize, Vec<(String, String)>) {
    match o {
        PortfolioOutcome::Planned {
            orders, skipped, ..
        } => (
            "planned".into(),
            *orders,
            skipped
                .iter()
                .map(|s| (s.asset.clone(), s.reason.clone()))
                .collect(),
        ),
        PortfolioOutcome::LeaseHeld { owner } => (format!("lease held by {owner}"), 0, vec![]),
        PortfolioOutcome::AlreadyRan => ("already ran".into(), 0, vec![]),
        PortfolioOutcome::Stale { newest } => {
            (format!("stale: cycle {newest} already ran"), 0, vec![])
        }
        PortfolioOutcome::Halted { reason } => (format!("halted: {reason}"), 0, vec![]),
        PortfolioOutcome::Paused { reason } => (format!("paused: {reason}"), 0, vec![]),
        PortfolioOutcome::BreakerOpen { retry_at_ms } => (
            format!("circuit breaker open until {retry_at_ms}: nothing sent"),
            0,
            vec![],
        ),
        PortfolioOutcome::Failed { error } => (format!("failed: {error}"), 0, vec![]),
    }
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
    let mut policies: BTreeMap<String, RebalancePolicy> = BTreeMap::new();
    let mut ids = Vec::new();
    for spec in specs {
        let (_, policy) = spec
            .clone()
            .into_domain()
            .map_err(|e| DemoError::Setup(format!("portfolio {}: {e}", spec.id)))?;
        policies.insert(spec.id.clone(), policy);
        ids.push(PortfolioId::new(&spec.id).map_err(|e| DemoError::Setup(e.to_string()))?);
    }
    let mut market = Market {
        base: BTreeMap::new(),
    };
    for s in SYMBOLS {
        let mid = world
            .venue
            .with_engine(|e| e.mid(s))
            .map_err(|e| DemoError::Venue(format!("{s}: {e:?}")))?;
        market.base.insert(s, mid);
    }
    let mut journal = Journal::default();
    let mut cycles = Vec::new();
    let mut skips = Vec::new();

    for n in 1..=options.cycles {
        let started = Instant::now();
        let script = cycle_script(n, options.cycles);
        let mut notes = Vec::new();
        if script.drift_bps != 0 {
            for s in SYMBOLS {
                let moved = market.base(s) * (Decimal::ONE + Decimal::new(script.drift_bps, 4));
                market.base.insert(s, on_tick(moved));
            }
            notes.push(format!("mids move {:+} bps", script.drift_bps));
        }
        if let Some(jump) = script.btc_jump {
            let s = "BTCUSDT";
            let moved = on_tick(market.base(s) * (Decimal::ONE + jump));
            notes.push(format!(
                "BTC jumps {:+}% to {moved}",
                (jump * Decimal::ONE_HUNDRED).normalize()
            ));
            market.base.insert(s, moved);
        }
        market.settle(world).await?;

        let response = world.run_cycle(Value::Object(Default::default())).await?;
        let records = ledger_records(world, &ids).await?;
        journal.observe(n, records);
        let mut portfolios = Vec::new();
        for summary in &response.portfolios {
            let (outcome, planned, skipped) = outcome_text(&summary.outcome);
            for (asset, reason) in &skipped {
                skips.push(Skip {
                    cycle: n,
                    portfolio: summary.portfolio_id.clone(),
                    asset: asset.clone(),
                    reason: reason.clone(),
                });
            }
            let id = PortfolioId::new(&summary.portfolio_id)
                .map_err(|e| DemoError::Setup(e.to_string()))?;
            let snapshot = world
                .store
                .latest(&id, 1)
                .await?
                .into_iter()
                .next()
                .map(|r| r.snapshot)
                .filter(|s| s.cycle_id.to_string() == response.cycle_id);
            let policy = policies.get(&summary.portfolio_id);
            let mut assets = Vec::new();
            if let (Some(snapshot), Some(policy)) = (&snapshot, policy) {
                for a in &snapshot.assets {
                    let traded = journal.journeys.values().find(|j| {
                        j.cycle == n
                            && j.record.intent.portfolio_id == id
                            && j.record.intent.symbol.base() == &a.asset
                    });
                    let skip = skipped
                        .iter()
                        .find(|(asset, _)| *asset == a.asset.to_string());
                    let (decision, reason) = if a.asset.to_string() == snapshot_quote(specs, &id) {
                        ("quote asset".to_owned(), None)
                    } else if let Some(j) = traded {
                        let i = &j.record.intent;
                        (
                            "trade".to_owned(),
                            Some(format!(
                                "{} {} @ {}",
                                i.side,
                                i.quantity.normalize(),
                                i.limit_price
                            )),
                        )
                    } else if let Some((_, why)) = skip {
                        ("skipped".to_owned(), Some(why.clone()))
                    } else {
                        ("in band".to_owned(), None)
                    };
                    assets.push(AssetRow {
                        asset: a.asset.to_string(),
                        weight: a.weight,
                        target: a.target,
                        drift: a.drift,
                        band: policy.band_for(&a.asset, a.target),
                        decision,
                        reason,
                    });
                }
            }
            portfolios.push(PortfolioCycle {
                portfolio: summary.portfolio_id.clone(),
                outcome,
                orders_planned: planned,
                equity: snapshot.map(|s| s.equity),
                assets,
            });
        }
        render::cycle_header(out, n, options.cycles, &response.cycle_id, &notes);
        for p in &portfolios {
            render::portfolio_table(out, p);
        }

        // The executor, fed from SQS, while the market moves.
        let mut work = ExecutorWork::default();
        let mut thin = script.eth_thin;
        if let Some(f) = thin {
            market.thin(world, "ETHUSDT", Some(f)).await?;
            notes.push(format!(
                "ETH's book thins to {}% of its depth",
                (f * Decimal::ONE_HUNDRED).normalize()
            ));
            render::note(
                out,
                &format!(
                    "market: ETH's book thins to {}% of its depth as the orders arrive",
                    (f * Decimal::ONE_HUNDRED).normalize()
                ),
            );
        }
        let mut thin_rounds = 0;
        // Per resting order: the round the market first came to it, and whether it has come
        // all the way through.
        let mut touched: BTreeMap<String, (Option<u32>, bool)> = BTreeMap::new();
        let mut idle = 0;
        for round in 0..options.max_rounds {
            let d = world.executor_round(1).await?;
            // About as much time passes on the shared clock as in the real world.
            world.clock.advance(2_000);
            work.invocations += d.invocations;
            work.messages += d.messages;
            work.batch_item_failures += d.failures;
            journal.observe(n, ledger_records(world, &ids).await?);
            if thin.is_some() {
                thin_rounds += 1;
                let eth_waiting: Vec<_> = journal
                    .open()
                    .filter(|j| j.cycle == n && j.record.intent.symbol.base().as_str() == "ETH")
                    .collect();
                let deferred_twice = eth_waiting.iter().all(|j| j.queued >= 2);
                if deferred_twice || thin_rounds >= 8 {
                    let f = eth_recovering();
                    market.thin(world, "ETHUSDT", Some(f)).await?;
                    render::note(
                        out,
                        &format!(
                            "market: ETH's book recovers to {}% of its depth",
                            (f * Decimal::ONE_HUNDRED).normalize()
                        ),
                    );
                    notes.push(format!(
                        "ETH's book recovers to {}%",
                        (f * Decimal::ONE_HUNDRED).normalize()
                    ));
                    thin = None;
                }
            } else {
                // The market comes to the resting orders: first just through the best level
                // (a thin book fills part), then well through it at full depth.
                let resting: Vec<_> = journal
                    .open()
                    .filter(|j| {
                        matches!(
                            j.record.status,
                            OrderStatus::Placed | OrderStatus::PartiallyFilled
                        )
                    })
                    .map(|j| {
                        (
                            j.record.intent.client_order_id.to_string(),
                            j.record.intent.symbol.to_string().replace('/', ""),
                            j.record.intent.side,
                            j.record.intent.limit_price.value(),
                            j.record.status,
                        )
                    })
                    .collect();
                for (id, symbol, side, limit, status) in resting {
                    let (gentle, full) = touched.entry(id).or_insert((None, false));
                    let through = match (*gentle, *full, status) {
                        (None, _, OrderStatus::Placed) => {
                            *gentle = Some(round);
                            Decimal::new(15, 5)
                        }
                        (_, false, OrderStatus::PartiallyFilled) => Decimal::new(5, 4),
                        (Some(at), false, _) if round >= at + 3 => Decimal::new(5, 4),
                        _ => continue,
                    };
                    if through > Decimal::new(15, 5) {
                        *full = true;
                        market.thin(world, &symbol, None).await?;
                    }
                    let mid = match side {
                        Side::Sell => limit * (Decimal::ONE + through),
                        Side::Buy => limit * (Decimal::ONE - through),
                    };
                    market.set(world, &symbol, mid).await?;
                }
            }
            if journal.open().next().is_none() {
                if d.messages == 0 {
                    idle += 1;
                }
                if idle >= 1 {
                    break;
                }
            }
        }
        market.thin(world, "ETHUSDT", None).await?;
        market.settle(world).await?;
        for j in journal.newly_final() {
            render::journey(out, &j);
        }
        let report = CycleReport {
            index: n,
            cycle_id: response.cycle_id.clone(),
            market: notes,
            portfolios,
            executor: work,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        render::progress(out, &report, options.cycles, journal.open().count());
        cycles.push(report);
        world.next_tick();
    }

    let final_state = final_state(world, specs, &policies)?;
    let orders: Vec<OrderReport> = journal.journeys.values().map(order_report).collect();
    let summary = summarize(world, &journal, &orders, skips).await?;
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
        summary,
    };
    render::closing(out, &report);
    Ok(report)
}

fn snapshot_quote(specs: &[PortfolioSpec], id: &PortfolioId) -> String {
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
        let account = account_of(spec);
        let mut values = Vec::new();
        for (asset, target) in portfolio.targets().iter() {
            let (qty, price) = world.venue.with_engine(|e| {
                let qty = e
                    .balances(&account)
                    .ok()
                    .and_then(|b| b.get(asset).map(|b| b.free + b.locked))
                    .unwrap_or_default();
                let price = if *asset == quote {
                    Ok(Decimal::ONE)
                } else {
                    e.mid(&format!("{asset}{quote}"))
                };
                (qty, price)
            });
            let price = price.map_err(|e| DemoError::Venue(format!("{asset}: {e:?}")))?;
            values.push((asset.clone(), target, qty * price));
        }
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

/// The paper-exchange account a portfolio trades on (the venue's first without one).
fn account_of(spec: &PortfolioSpec) -> String {
    spec.account.clone().unwrap_or_else(|| "article".into())
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
