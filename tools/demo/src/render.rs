//! What a person reads: a table per portfolio and cycle, each order's journey, a progress line
//! per cycle, the closing summary, and the PNG of weights over the cycles.

use std::io::Write;
use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_cli::chart::{Panel, Series};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::journal::Journey;
use crate::report::{AssetRow, CycleReport, PortfolioCycle, Report};

// Printing is best effort: a closed stdout must not stop the demo from cleaning up.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}

/// Rounded half away from zero for people to read.
fn fixed(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn pct(d: Decimal) -> String {
    format!("{:.2}%", fixed(d * Decimal::ONE_HUNDRED, 2))
}

fn pp(d: Decimal) -> String {
    format!("{:+.2} pp", fixed(d * Decimal::ONE_HUNDRED, 2))
}

fn bps(d: Decimal) -> String {
    format!("{:+.2} bps", fixed(d, 2))
}

fn asset_table(rows: &[AssetRow]) -> Table {
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "asset", "weight", "target", "drift", "band", "decision", "reason",
    ]);
    for a in rows {
        table.add_row(vec![
            Cell::new(&a.asset),
            right(pct(a.weight)),
            right(pct(a.target)),
            right(pp(a.drift)),
            right(format!(
                "±{:.2} pp",
                fixed(a.band * Decimal::ONE_HUNDRED, 2)
            )),
            Cell::new(&a.decision),
            Cell::new(a.reason.clone().unwrap_or_default()),
        ]);
    }
    table
}

pub fn cycle_header(out: &mut dyn Write, n: u32, total: u32, cycle_id: &str, market: &[String]) {
    say!(out, "");
    let market = if market.is_empty() {
        "mids unchanged".to_owned()
    } else {
        format!("market: {}", market.join(", "))
    };
    say!(out, "━━ cycle {n}/{total} · {cycle_id} · {market}");
}

pub fn portfolio_table(out: &mut dyn Write, p: &PortfolioCycle) {
    let equity = p
        .equity
        .map(|e| format!(" · equity {:.2} USDT", fixed(e, 2)))
        .unwrap_or_default();
    say!(
        out,
        "portfolio {} · {} · {} order(s){equity}",
        p.portfolio,
        p.outcome,
        p.orders_planned
    );
    if !p.assets.is_empty() {
        say!(out, "{}", asset_table(&p.assets));
    }
    for a in &p.alone {
        say!(out, "  {}", crate::spread::alone_line(a));
    }
    for t in &p.routes {
        say!(out, "  routing: {}", crate::spread::routed_line(t));
    }
}

pub fn note(out: &mut dyn Write, text: &str) {
    say!(out, "  {text}");
}

/// One line per order: where it went, what it filled at and what it cost.
pub fn journey(out: &mut dyn Write, j: &Journey) {
    let r = &j.record;
    let i = &r.intent;
    let mut steps: Vec<String> = Vec::new();
    for e in &j.events {
        // Repeated deferrals print once with a count.
        match steps.last_mut() {
            Some(last) if last.starts_with(e.as_str()) && e.starts_with("queued") => {
                let n = j.queued;
                *last = format!("{e} ×{n}");
            }
            _ => steps.push(e.clone()),
        }
    }
    say!(
        out,
        "  order {} {} {}: {}",
        i.portfolio_id,
        i.side,
        i.symbol,
        steps.join(" → ")
    );
    if let (Some(avg), Some(slip)) = (j.average_price(), j.slippage_bps()) {
        let (fees, fee_asset) = j.commission();
        say!(
            out,
            "      {} at avg {} vs mid {}: slippage {} · fees {} {fee_asset} ({:.2} USDT)",
            r.filled_qty.normalize(),
            fixed(avg, 2),
            i.reference_price,
            bps(slip),
            fees.normalize(),
            fixed(j.fees_quote(), 2)
        );
    }
}

pub fn progress(out: &mut dyn Write, c: &CycleReport, total: u32, open: usize) {
    let planned: usize = c.portfolios.iter().map(|p| p.orders_planned).sum();
    say!(
        out,
        "✓ cycle {}/{total} done in {:.1} s · {planned} order(s) planned · executor: {} invocation(s), {} message(s), {} batch item failure(s) · {open} order(s) open",
        c.index,
        Decimal::from(c.elapsed_ms) / Decimal::ONE_THOUSAND,
        c.executor.invocations,
        c.executor.messages,
        c.executor.batch_item_failures,
    );
}

pub fn closing(out: &mut dyn Write, report: &Report) {
    let s = &report.summary;
    say!(out, "");
    say!(
        out,
        "━━ where the portfolios ended (last mids, after every fill)"
    );
    for p in &report.final_state {
        say!(
            out,
            "portfolio {} · equity {:.2} USDT · {}",
            p.portfolio,
            fixed(p.equity, 2),
            if p.within_bands {
                "every asset within its band"
            } else {
                "OUT OF ITS BANDS"
            }
        );
        say!(out, "{}", asset_table(&p.assets));
    }
    if !report.spread.is_empty() {
        say!(out, "");
        say!(out, "━━ portfolios over several accounts");
        for s in &report.spread {
            say!(out, "portfolio {}: {}", s.portfolio, s.outcome);
        }
    }
    say!(out, "");
    say!(out, "━━ summary");
    say!(
        out,
        "orders {} · filled {} · cancelled and re-placed as a later leg {} · not filled {} · fills {} · traded {:.2} USDT",
        s.orders,
        s.filled,
        s.replaced,
        s.not_filled,
        s.fills,
        fixed(s.traded_notional, 2)
    );
    say!(
        out,
        "average slippage {} vs the reference mid · fees {:.2} USDT · slippage {:.2} USDT · total cost {:.2} USDT",
        s.average_slippage_bps.map(bps).unwrap_or_else(|| "n/a".into()),
        fixed(s.fees, 2),
        fixed(s.slippage_cost, 2),
        fixed(s.total_cost, 2)
    );
    say!(
        out,
        "exchange orders {} · duplicated client order ids {} · dead letters {}",
        s.venue_orders,
        s.duplicate_client_order_ids.len(),
        s.dead_letters
    );
    if s.skipped.is_empty() {
        say!(out, "trades skipped: none");
    } else {
        say!(out, "trades skipped:");
        for k in &s.skipped {
            say!(
                out,
                "  cycle {} · {} {}: {}",
                k.cycle,
                k.portfolio,
                k.asset,
                k.reason
            );
        }
    }
    let t = &report.timing;
    say!(
        out,
        "timing: schedule period {} s on a manual clock; retry backoff {} s, follow-up {} s and visibility timeout {} s are real seconds (production: minutes)",
        t.schedule_period_seconds,
        t.retry_backoff_seconds,
        t.follow_up_delay_seconds,
        t.visibility_timeout_seconds
    );
}

fn percent(d: Decimal) -> f64 {
    (d * Decimal::ONE_HUNDRED).to_f64().unwrap_or(0.0)
}

/// Weights per asset over the cycles, one panel per portfolio; the last point is the end state.
///
/// # Errors
/// A message when the file cannot be drawn or written.
pub fn chart(path: &Path, report: &Report) -> Result<bool, Box<dyn std::error::Error>> {
    let end = f64::from(u32::try_from(report.cycles.len()).unwrap_or(0)) + 1.0;
    let panels: Vec<Panel> = report
        .final_state
        .iter()
        .map(|f| {
            let series = f
                .assets
                .iter()
                .map(|a| {
                    let mut points: Vec<(f64, f64)> = report
                        .cycles
                        .iter()
                        .filter_map(|c| {
                            let p = c.portfolios.iter().find(|p| p.portfolio == f.portfolio)?;
                            let row = p.assets.iter().find(|r| r.asset == a.asset)?;
                            Some((f64::from(c.index), percent(row.weight)))
                        })
                        .collect();
                    points.push((end, percent(a.weight)));
                    Series {
                        name: format!("{} (target {})", a.asset, pct(a.target)),
                        points,
                    }
                })
                .collect();
            Panel {
                title: format!("{}: weight (%) at each cycle, then at the end", f.portfolio),
                x_desc: "cycle".into(),
                series,
            }
        })
        .collect();
    let height = 420 * u32::try_from(panels.len().max(1)).unwrap_or(1);
    driftline_cli::chart::draw(path, (1200, height), &panels)
}
