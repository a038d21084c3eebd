//! `driftline plan`: the decisions and orders for a portfolio file against a market file, or,
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
    PlanTotals, RebalancePlan,
};
use rust_decimal::Decimal;
use serde::Serialize;

use driftline_cli::files::{read_markets, read_portfolio};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Portfolio file (TOML, or JSON by extension): id, quote, targets, holdings, policy.
    #[arg(long, required_unless_present = "live", conflicts_with = "live")]
    portfolio: Option<PathBuf>,
    /// Market file: fees and, per symbol, filters and a book. Defaults to market.toml (or
    /// market.json) beside the portfolio file.
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
    let data = read_markets(&market_path, portfolio.quote())?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let model = BookWalkCostModel {
        fees: data.fees,
        liquidity: policy.fee_liquidity,
    };
    let accounts: Vec<PlanAccount<'_>> = placed
        .accounts
        .iter()
        .map(|a| PlanAccount {
            account: a.account.as_deref(),
            reserve: &a.reserve,
            ..PlanAccount::single(&a.quote, &a.holdings, &data.markets, data.fees, &model)
        })
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

fn row(d: &AssetDecision) -> Vec<Cell> {
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    let order = d.order.as_ref();
    vec![
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

/// The plan as a table and a totals line, as printed by `driftline plan`.
pub fn render(plan: &RebalancePlan, totals: &PlanTotals, quote: &str) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
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
    ]);
    for d in &plan.decisions {
        table.add_row(row(d));
    }
    format!(
        "portfolio {} · cycle {} · equity {:.2} {quote}\n{table}\n\
         orders {} · sells {:.2} {quote} · buys {:.2} {quote} · predicted cost {:.2} {quote} · skipped {}\n",
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
