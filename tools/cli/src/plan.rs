//! `driftline plan`: the decisions and orders for a portfolio file against a market file (one
//! section per account for a portfolio over several, each trade routed where it costs least), or,
//! with `--live ID`, for a deployed portfolio against its account's real balances and books
//! (`console::live`): the same table either way.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_cli::console::Target;
use driftline_core::control::Stop;
use driftline_core::{
    plan, AssetDecision, BookWalkCostModel, CycleId, InFlightOrder, PlanAccount, PlanRequest,
    PlanTotals, PlannedOrder, RebalancePlan, RouteQuote,
};
use rust_decimal::Decimal;
use serde::Serialize;

use driftline_cli::files::{read_account_markets, read_portfolio};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Portfolio file (TOML, or JSON by extension): id, quote, targets, holdings (or
    /// `[[accounts]]` with theirs), policy.
    #[arg(long, required_unless_present = "live", conflicts_with = "live")]
    portfolio: Option<PathBuf>,
    /// Market file: fees and, per symbol, filters and a book; for a portfolio over several
    /// accounts, one `[[accounts]]` section per account (its `account`, `venue`, `fees` and
    /// `markets`). Defaults to market.toml (or market.json) beside the portfolio file.
    #[arg(long, conflicts_with = "live")]
    market: Option<PathBuf>,
    /// A deployed portfolio: its stored spec against the account's real balances and books,
    /// with its orders in flight and drift history, as the next cycle would plan it. Nothing
    /// is written and nothing placed.
    #[arg(long, value_name = "PORTFOLIO_ID")]
    live: Option<String>,
    /// The cycle the client order ids are derived from.
    #[arg(long, default_value = "dry-run")]
    cycle: String,
    /// Print JSON (decimals as strings) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct PlanOutput<'a> {
    plan: &'a RebalancePlan,
    totals: PlanTotals,
    /// `--live` only: the orders the plan counted as in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_flight: Option<&'a [InFlightOrder]>,
    /// `--live` only: the pause in force, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    paused: Option<&'a Stop>,
}

/// # Errors
/// A message naming the file, the field and the value that is wrong; with `--live`, what
/// finding the deployment or planning meets.
pub fn run(args: &PlanArgs, target: &Target) -> Result<(), Box<dyn std::error::Error>> {
    let cycle = CycleId::new(&args.cycle).map_err(|e| format!("--cycle: {e}"))?;
    if let Some(id) = &args.live {
        return live(target, id, &cycle, args.json);
    }
    let Some(portfolio_path) = &args.portfolio else {
        return Err("give --portfolio FILE, or --live PORTFOLIO_ID".into());
    };
    let (portfolio, placed, policy) = read_portfolio(portfolio_path)?;
    let market_path = match &args.market {
        Some(p) => p.clone(),
        None => {
            let dir = portfolio_path.parent().unwrap_or(std::path::Path::new("."));
            let json = dir.join("market.json");
            if json.exists() {
                json
            } else {
                dir.join("market.toml")
            }
        }
    };
    let data = read_account_markets(&market_path, &placed)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let models: Vec<BookWalkCostModel> = data
        .iter()
        .map(|d| BookWalkCostModel {
            fees: d.fees,
            liquidity: policy.fee_liquidity,
        })
        .collect();
    // What a cycle reads from the exchange it leaves out too: ignored assets.
    let holdings = placed
        .accounts
        .iter()
        .map(|a| {
            a.counted(
                a.holdings.iter().map(|(x, q)| (x.clone(), q)),
                portfolio.targets(),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", portfolio_path.display()))?;
    let accounts: Vec<PlanAccount<'_>> = placed
        .accounts
        .iter()
        .zip(&data)
        .zip(&models)
        .zip(&holdings)
        .map(|(((a, d), model), holdings)| PlanAccount::new(a, holdings, d, model))
        .collect();
    let request = PlanRequest {
        portfolio: &portfolio,
        accounts: &accounts,
        in_flight: &[],
        policy: &policy,
        history: &[],
        cycle: &cycle,
        now_ms,
    };
    let plan = plan(&request).map_err(|e| format!("{}: {e}", market_path.display()))?;
    let totals = plan.totals();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&PlanOutput {
                plan: &plan,
                totals,
                in_flight: None,
                paused: None,
            })?
        );
    } else {
        print!("{}", render(&plan, &totals, portfolio.quote().as_str()));
    }
    Ok(())
}

/// `--live`: the scheduler's planning step on the deployment, printed as a file's plan is.
fn live(
    target: &Target,
    id: &str,
    cycle: &CycleId,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let live = driftline_cli::console::live::run(target, id, cycle)?;
    let totals = live.plan.totals();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&PlanOutput {
                plan: &live.plan,
                totals,
                in_flight: Some(&live.in_flight),
                paused: live.paused.as_ref(),
            })?
        );
        return Ok(());
    }
    if let Some(p) = &live.paused {
        println!(
            "portfolio {id} is PAUSED ({}, by {}): no cycle plans it; once resumed, the next would plan:",
            p.reason, p.by
        );
    }
    print!("{}", render(&live.plan, &totals, &live.quote));
    let in_flight = if live.in_flight.is_empty() {
        "none".to_owned()
    } else {
        live.in_flight
            .iter()
            .map(|o| {
                format!(
                    "{} {} {} @ {}",
                    o.side, o.remaining, o.symbol, o.limit_price
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "in flight: {in_flight} · live: real balances and books; nothing written, nothing placed"
    );
    Ok(())
}

/// Rounded half away from zero for people to read (Display's precision truncates).
fn fixed2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

fn pct(d: Decimal) -> String {
    format!("{:.2}%", fixed2(d * Decimal::ONE_HUNDRED))
}

fn pp(d: Decimal) -> String {
    format!("{:+.2} pp", fixed2(d * Decimal::ONE_HUNDRED))
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// The side, quantity, limit price and predicted cost of an order, or four empty cells.
fn order_cells(order: Option<&PlannedOrder>) -> Vec<Cell> {
    vec![
        Cell::new(order.map(|o| o.side.to_string()).unwrap_or_default()),
        right(order.map(|o| o.quantity.to_string()).unwrap_or_default()),
        right(order.map(|o| o.limit_price.to_string()).unwrap_or_default()),
        right(
            order
                .map(|o| {
                    format!(
                        "{:.2} bps = {:.2}",
                        fixed2(o.cost.total_bps()),
                        fixed2(o.cost.total_quote())
                    )
                })
                .unwrap_or_default(),
        ),
    ]
}

fn row(d: &AssetDecision) -> Vec<Cell> {
    let mut cells = vec![
        Cell::new(d.asset.as_str()),
        right(pct(d.weight)),
        right(pct(d.target)),
        right(pp(d.drift)),
        right(format!("±{:.2} pp", fixed2(d.band * Decimal::ONE_HUNDRED))),
        Cell::new(d.reason.label()),
        Cell::new(match &d.reason {
            driftline_core::DecisionReason::Trade
            | driftline_core::DecisionReason::InBand
            | driftline_core::DecisionReason::QuoteAsset => String::new(),
            other => other.to_string(),
        }),
    ];
    cells.extend(order_cells(d.order.as_ref()));
    cells
}

/// An account as the routing columns name it: venue, then the account's name.
fn place(venue: impl std::fmt::Display, account: &str) -> String {
    format!("{venue} {account}")
}

/// The accounts a trade was not routed to, one a line: its cost there, or why not.
fn elsewhere(routes: &[RouteQuote]) -> String {
    routes
        .iter()
        .filter(|r| !r.chosen)
        .map(|r| {
            let at = place(r.venue, &r.account);
            match (&r.refused, r.cost_bps) {
                (Some(why), _) => format!("{at}: {why}"),
                (None, Some(bps)) => format!("{at}: {:.2} bps", fixed2(bps)),
                (None, None) => at,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The routed table's rows of one decision: the decision with its cheapest order and where it
/// goes, then a row per further leg of a split trade.
fn routed_rows(d: &AssetDecision) -> Vec<Vec<Cell>> {
    let to = |o: &PlannedOrder| place(o.venue, o.account.as_deref().unwrap_or("default"));
    let mut first = row(d);
    first.push(Cell::new(d.order.as_ref().map(to).unwrap_or_default()));
    first.push(Cell::new(elsewhere(&d.routes)));
    let mut rows = vec![first];
    for leg in &d.split {
        let mut cells: Vec<Cell> = (0..5).map(|_| Cell::new("")).collect();
        cells.push(Cell::new("split"));
        cells.push(Cell::new("the rest of the trade"));
        cells.extend(order_cells(Some(leg)));
        cells.push(Cell::new(to(leg)));
        cells.push(Cell::new(""));
        rows.push(cells);
    }
    rows
}

/// The plan as a table and a totals line, as printed by `driftline plan`. A plan over several
/// accounts has two more columns: where each trade goes (venue and account, a row per leg
/// of a split trade) and what it would cost on the others, or why they could not take it;
/// its notes (cash on the wrong account) follow the totals.
pub fn render(plan: &RebalancePlan, totals: &PlanTotals, quote: &str) -> String {
    // Routes are quoted for every trade when, and only when, there are several accounts.
    let routed = plan
        .decisions
        .iter()
        .any(|d| !d.routes.is_empty() || !d.split.is_empty());
    let mut header = vec![
        "asset",
        "weight",
        "target",
        "drift",
        "band",
        "decision",
        "reason",
        "side",
        "quantity",
        "limit price",
        "predicted cost",
    ];
    if routed {
        header.extend(["routed to", "elsewhere"]);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for d in &plan.decisions {
        if routed {
            for r in routed_rows(d) {
                table.add_row(r);
            }
        } else {
            table.add_row(row(d));
        }
    }
    let notes: String = plan.notes.iter().map(|n| format!("note: {n}\n")).collect();
    format!(
        "portfolio {} · cycle {} · equity {:.2} {quote}\n{table}\n\
         orders {} · sells {:.2} {quote} · buys {:.2} {quote} · predicted cost {:.2} {quote} · skipped {}\n{notes}",
        plan.snapshot.portfolio_id,
        plan.snapshot.cycle_id,
        fixed2(plan.snapshot.equity),
        totals.orders,
        fixed2(totals.sell_notional),
        fixed2(totals.buy_notional),
        fixed2(totals.predicted_cost),
        totals.skipped,
    )
}
