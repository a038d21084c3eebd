//! One demo cycle, step by step: the script moves the market, the scheduler plans (one table
//! row per asset, with its decision), and the executor is driven from SQS while the market
//! comes to the resting orders (or a book thins and recovers).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use driftline_core::config::PortfolioSpec;
use driftline_core::orders::OrderRecord;
use driftline_core::ports::{DriftHistory, OrderLedger};
use driftline_core::service::scheduler::{PortfolioOutcome, PortfolioSummary};
use driftline_core::{DriftSnapshot, OrderStatus, PortfolioId, RebalancePolicy, Side};
use driftline_sandbox::World;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::journal::Journal;
use crate::render;
use crate::report::{AssetRow, CycleReport, ExecutorWork, PortfolioCycle, Skip};
use crate::scenario::{cycle_script, eth_recovering, CycleScript, SYMBOLS};
use crate::spread;
use crate::{snapshot_quote, DemoError, Options};

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
async fn ledger_records(world: &World, ids: &[PortfolioId]) -> Result<Vec<OrderRecord>, DemoError> {
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

/// A demo run's state across its cycles.
pub(crate) struct Session<'a> {
    world: &'a World,
    specs: &'a [PortfolioSpec],
    options: &'a Options,
    pub(crate) out: &'a mut dyn Write,
    pub(crate) policies: BTreeMap<String, RebalancePolicy>,
    ids: Vec<PortfolioId>,
    market: Market,
    pub(crate) journal: Journal,
    pub(crate) skips: Vec<Skip>,
}

impl<'a> Session<'a> {
    /// The portfolios' policies, and the market where the venue holds it now.
    pub(crate) async fn start(
        world: &'a World,
        specs: &'a [PortfolioSpec],
        options: &'a Options,
        out: &'a mut dyn Write,
    ) -> Result<Session<'a>, DemoError> {
        let mut policies = BTreeMap::new();
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
        Ok(Session {
            world,
            specs,
            options,
            out,
            policies,
            ids,
            market,
            journal: Journal::default(),
            skips: Vec::new(),
        })
    }

    /// Cycle `n`: the market moves, the scheduler plans, the executor runs.
    pub(crate) async fn cycle(&mut self, n: u32) -> Result<CycleReport, DemoError> {
        let started = Instant::now();
        let script = cycle_script(n, self.options.cycles);
        let mut notes = self.move_market(&script).await?;
        let world = self.world;
        // Before the cycle: what each account of a spread portfolio weighs alone, and where
        // the plan the cycle is about to make routes each trade.
        let mut spread_views = BTreeMap::new();
        for (spec, id) in self.specs.iter().zip(&self.ids) {
            if !spread::is_spread(spec) {
                continue;
            }
            let (portfolio, _) = spec
                .clone()
                .into_domain()
                .map_err(|e| DemoError::Setup(format!("portfolio {}: {e}", spec.id)))?;
            let alone = spread::alone(&spread::held(world, spec, &portfolio)?);
            let routes = spread::routed(world, id).await?;
            spread_views.insert(spec.id.clone(), (alone, routes));
        }
        let response = world.run_cycle(Value::Object(Default::default())).await?;
        self.journal
            .observe(n, ledger_records(world, &self.ids).await?);
        let mut portfolios = Vec::new();
        for summary in &response.portfolios {
            let mut p = self.portfolio_cycle(n, &response.cycle_id, summary).await?;
            if let Some((alone, routes)) = spread_views.remove(&p.portfolio) {
                p.alone = alone;
                p.routes = routes;
            }
            portfolios.push(p);
        }
        render::cycle_header(self.out, n, self.options.cycles, &response.cycle_id, &notes);
        for p in &portfolios {
            render::portfolio_table(self.out, p);
        }
        let executor = self.execute(n, &script, &mut notes).await?;
        for j in self.journal.newly_final() {
            render::journey(self.out, &j);
        }
        let report = CycleReport {
            index: n,
            cycle_id: response.cycle_id.clone(),
            market: notes,
            portfolios,
            executor,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        render::progress(
            self.out,
            &report,
            self.options.cycles,
            self.journal.open().count(),
        );
        Ok(report)
    }

    /// The script's drift and jump, applied to the mids; what moved, for the report.
    async fn move_market(&mut self, script: &CycleScript) -> Result<Vec<String>, DemoError> {
        let mut notes = Vec::new();
        if script.drift_bps != 0 {
            for s in SYMBOLS {
                let moved =
                    self.market.base(s) * (Decimal::ONE + Decimal::new(script.drift_bps, 4));
                self.market.base.insert(s, on_tick(moved));
            }
            notes.push(format!("mids move {:+} bps", script.drift_bps));
        }
        if let Some(jump) = script.btc_jump {
            let s = "BTCUSDT";
            let moved = on_tick(self.market.base(s) * (Decimal::ONE + jump));
            notes.push(format!(
                "BTC jumps {:+}% to {moved}",
                (jump * Decimal::ONE_HUNDRED).normalize()
            ));
            self.market.base.insert(s, moved);
        }
        self.market.settle(self.world).await?;
        Ok(notes)
    }

    /// One portfolio's line of the cycle: its outcome, and a row per asset with its decision.
    async fn portfolio_cycle(
        &mut self,
        n: u32,
        cycle_id: &str,
        summary: &PortfolioSummary,
    ) -> Result<PortfolioCycle, DemoError> {
        let (outcome, planned, skipped) = outcome_text(&summary.outcome);
        for (asset, reason) in &skipped {
            self.skips.push(Skip {
                cycle: n,
                portfolio: summary.portfolio_id.clone(),
                asset: asset.clone(),
                reason: reason.clone(),
            });
        }
        let id =
            PortfolioId::new(&summary.portfolio_id).map_err(|e| DemoError::Setup(e.to_string()))?;
        let snapshot = self
            .world
            .store
            .latest(&id, 1)
            .await?
            .into_iter()
            .next()
            .map(|r| r.snapshot)
            .filter(|s| s.cycle_id.to_string() == cycle_id);
        let assets = match (&snapshot, self.policies.get(&summary.portfolio_id)) {
            (Some(snapshot), Some(policy)) => self.asset_rows(n, &id, snapshot, policy, &skipped),
            _ => Vec::new(),
        };
        Ok(PortfolioCycle {
            portfolio: summary.portfolio_id.clone(),
            outcome,
            orders_planned: planned,
            equity: snapshot.map(|s| s.equity),
            assets,
            alone: Vec::new(),
            routes: Vec::new(),
        })
    }

    /// Each asset's weight, target, drift and band, and what the cycle decided for it.
    fn asset_rows(
        &self,
        n: u32,
        id: &PortfolioId,
        snapshot: &DriftSnapshot,
        policy: &RebalancePolicy,
        skipped: &[(String, String)],
    ) -> Vec<AssetRow> {
        let quote = snapshot_quote(self.specs, id);
        snapshot
            .assets
            .iter()
            .map(|a| {
                let traded = self.journal.journeys.values().find(|j| {
                    j.cycle == n
                        && j.record.intent.portfolio_id == *id
                        && j.record.intent.symbol.base() == &a.asset
                });
                let skip = skipped
                    .iter()
                    .find(|(asset, _)| *asset == a.asset.to_string());
                let (decision, reason) = if a.asset.to_string() == quote {
                    ("quote asset".to_owned(), None)
                } else if let Some(j) = traded {
                    let i = &j.record.intent;
                    (
                        "trade".to_owned(),
                        Some(format!(
                            "{} {} @ {} on {}",
                            i.side,
                            i.quantity.normalize(),
                            i.limit_price,
                            self.venue_of_secret(i.account.as_deref())
                        )),
                    )
                } else if let Some((_, why)) = skip {
                    ("skipped".to_owned(), Some(why.clone()))
                } else {
                    ("in band".to_owned(), None)
                };
                AssetRow {
                    asset: a.asset.to_string(),
                    weight: a.weight,
                    target: a.target,
                    drift: a.drift,
                    band: policy.band_for(&a.asset, a.target),
                    decision,
                    reason,
                }
            })
            .collect()
    }

    /// The venue (and, for a named account, the account) behind an intent's secret id.
    fn venue_of_secret(&self, secret_id: Option<&str>) -> String {
        let account = secret_id.map_or_else(
            || "article".to_owned(),
            |id| spread::account_named(self.world, id),
        );
        match spread::venue_of(self.world, &account) {
            Ok(venue) => format!("{venue} ({account})"),
            Err(_) => account,
        }
    }

    /// The executor, fed from SQS, while the market moves: a thin book that recovers once its
    /// orders have waited, or the market coming to the resting orders.
    async fn execute(
        &mut self,
        n: u32,
        script: &CycleScript,
        notes: &mut Vec<String>,
    ) -> Result<ExecutorWork, DemoError> {
        let world = self.world;
        let mut work = ExecutorWork::default();
        let mut thin = script.eth_thin;
        if let Some(f) = thin {
            self.market.thin(world, "ETHUSDT", Some(f)).await?;
            notes.push(format!(
                "ETH's book thins to {}% of its depth",
                (f * Decimal::ONE_HUNDRED).normalize()
            ));
            render::note(
                self.out,
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
        for round in 0..self.options.max_rounds {
            let d = world.executor_round(1).await?;
            // About as much time passes on the shared clock as in the real world.
            world.clock.advance(2_000);
            work.invocations += d.invocations;
            work.messages += d.messages;
            work.batch_item_failures += d.failures;
            self.journal
                .observe(n, ledger_records(world, &self.ids).await?);
            if thin.is_some() {
                thin_rounds += 1;
                if self.thin_book_recovers(n, thin_rounds, notes).await? {
                    thin = None;
                }
            } else {
                self.come_to_resting(round, &mut touched).await?;
            }
            if self.journal.open().next().is_none() {
                if d.messages == 0 {
                    idle += 1;
                }
                if idle >= 1 {
                    break;
                }
            }
        }
        self.market.thin(world, "ETHUSDT", None).await?;
        self.market.settle(world).await?;
        Ok(work)
    }

    /// ETH's book recovers once this cycle's ETH orders have each waited twice (or after eight
    /// rounds); whether it did.
    async fn thin_book_recovers(
        &mut self,
        n: u32,
        thin_rounds: u32,
        notes: &mut Vec<String>,
    ) -> Result<bool, DemoError> {
        let deferred_twice = self
            .journal
            .open()
            .filter(|j| j.cycle == n && j.record.intent.symbol.base().as_str() == "ETH")
            .all(|j| j.queued >= 2);
        if !(deferred_twice || thin_rounds >= 8) {
            return Ok(false);
        }
        let f = eth_recovering();
        self.market.thin(self.world, "ETHUSDT", Some(f)).await?;
        render::note(
            self.out,
            &format!(
                "market: ETH's book recovers to {}% of its depth",
                (f * Decimal::ONE_HUNDRED).normalize()
            ),
        );
        notes.push(format!(
            "ETH's book recovers to {}%",
            (f * Decimal::ONE_HUNDRED).normalize()
        ));
        Ok(true)
    }

    /// The market comes to the resting orders: first just through the best level (a thin
    /// book fills part), then well through it at full depth.
    async fn come_to_resting(
        &mut self,
        round: u32,
        touched: &mut BTreeMap<String, (Option<u32>, bool)>,
    ) -> Result<(), DemoError> {
        let resting: Vec<_> = self
            .journal
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
                self.market.thin(self.world, &symbol, None).await?;
            }
            let mid = match side {
                Side::Sell => limit * (Decimal::ONE + through),
                Side::Buy => limit * (Decimal::ONE - through),
            };
            self.market.set(self.world, &symbol, mid).await?;
        }
        Ok(())
    }
}
