//! Tables for people and the cost-versus-tracking-error frontier of a sweep.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::PolicyResult;

pub(super) fn fixed(d: Decimal, dp: u32) -> String {
    format!(
        "{:.*}",
        dp as usize,
        d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    )
}

pub(super) fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// One row per policy: trades, turnover, cost, tracking error, maximum drift, final value.
pub fn render_table(results: &[PolicyResult], quote: &str) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "policy".to_owned(),
        "trades".to_owned(),
        "turnover".to_owned(),
        format!("cost ({quote})"),
        "cost (bps of equity)".to_owned(),
        "tracking error".to_owned(),
        "max drift".to_owned(),
        format!("final value ({quote})"),
        "skipped (cost cap)".to_owned(),
        "deferred (velocity)".to_owned(),
        "buys cut to cash".to_owned(),
    ]);
    for r in results {
        table.add_row(vec![
            Cell::new(&r.name),
            right(r.trades.to_string()),
            right(format!("{}×", fixed(r.turnover_ratio, 2))),
            right(fixed(r.cost_quote, 2)),
            right(fixed(r.cost_bps_of_equity, 1)),
            right(format!("{:.2} pp", r.tracking_error * 100.0)),
            right(format!(
                "{} pp",
                fixed(r.max_drift * Decimal::ONE_HUNDRED, 2)
            )),
            right(fixed(r.final_value, 2)),
            right(r.skipped_cost_cap.to_string()),
            right(r.deferred_by_velocity.to_string()),
            right(if r.rejected > 0 {
                format!("{} (+{} rejected)", r.reduced_to_cash, r.rejected)
            } else {
                r.reduced_to_cash.to_string()
            }),
        ]);
    }
    format!("{table}\n")
}

/// One row per policy: how its orders executed under the limit model.
pub fn render_execution(results: &[PolicyResult], quote: &str) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "policy".to_owned(),
        "orders".to_owned(),
        "maker fills".to_owned(),
        "taker fills".to_owned(),
        "re-priced".to_owned(),
        "thin-book waits".to_owned(),
        format!("expired ({quote} unfilled)"),
        "dust dropped".to_owned(),
        "slippage vs decision mid (bps)".to_owned(),
        format!("fees ({quote})"),
        format!("moved since decision ({quote})"),
    ]);
    for r in results {
        let e = &r.execution;
        table.add_row(vec![
            Cell::new(&r.name),
            right(e.orders.to_string()),
            right(e.maker_fills.to_string()),
            right(e.taker_fills.to_string()),
            right(e.repriced.to_string()),
            right(e.thin_waits.to_string()),
            right(format!("{} ({})", e.expired, fixed(e.expired_notional, 2))),
            right(e.dust_dropped.to_string()),
            right(
                e.average_slippage_bps
                    .map_or("–".to_owned(), |b| fixed(b, 2)),
            ),
            right(fixed(r.fee_quote, 2)),
            right(fixed(r.moved_since_decision_quote, 2)),
        ]);
    }
    format!("{table}\n")
}

/// One row per policy and venue: where the orders went, what they traded and what they cost.
pub fn render_venues(results: &[PolicyResult], quote: &str) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "policy".to_owned(),
        "venue".to_owned(),
        "buys".to_owned(),
        "sells".to_owned(),
        format!("traded ({quote})"),
        format!("cost ({quote})"),
        "cost (bps of traded)".to_owned(),
        format!("final value ({quote})"),
    ]);
    for r in results {
        for v in &r.venues {
            let bps = if v.turnover_quote.is_zero() {
                "–".to_owned()
            } else {
                fixed(
                    v.cost_quote / v.turnover_quote * driftline_core::money::BPS,
                    1,
                )
            };
            table.add_row(vec![
                Cell::new(&r.name),
                Cell::new(v.venue.as_str()),
                right(v.buys.to_string()),
                right(v.sells.to_string()),
                right(fixed(v.turnover_quote, 2)),
                right(fixed(v.cost_quote, 2)),
                right(bps),
                right(fixed(v.final_value, 2)),
            ]);
        }
        if !r.off_exchange_value.is_zero() {
            table.add_row(vec![
                Cell::new(&r.name),
                Cell::new("off exchange"),
                right(String::new()),
                right(String::new()),
                right(String::new()),
                right(String::new()),
                right(String::new()),
                right(fixed(r.off_exchange_value, 2)),
            ]);
        }
    }
    format!("{table}\n")
}

/// A sweep point: which band and cost cap, and what it cost and tracked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontierPoint {
    pub name: String,
    #[serde(with = "driftline_core::exact")]
    pub band: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_cap_bps: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_bps_of_equity: Decimal,
    pub tracking_error: f64,
    /// No other point costs no more and tracks no worse, with one strictly better.
    pub on_frontier: bool,
}

/// Every sweep point, cheapest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frontier {
    pub points: Vec<FrontierPoint>,
}

/// The frontier of `(band, cost cap, result)` triples: which settings no other beats on both
/// cost and tracking error.
pub fn frontier(points: &[(Decimal, Decimal, &PolicyResult)]) -> Frontier {
    let mut out: Vec<FrontierPoint> = points
        .iter()
        .map(|(band, cap, r)| FrontierPoint {
            name: r.name.clone(),
            band: *band,
            cost_cap_bps: *cap,
            cost_bps_of_equity: r.cost_bps_of_equity,
            tracking_error: r.tracking_error,
            on_frontier: false,
        })
        .collect();
    let dominated: Vec<bool> = out
        .iter()
        .map(|p| {
            out.iter().any(|q| {
                q.cost_bps_of_equity <= p.cost_bps_of_equity
                    && q.tracking_error <= p.tracking_error
                    && (q.cost_bps_of_equity < p.cost_bps_of_equity
                        || q.tracking_error < p.tracking_error)
            })
        })
        .collect();
    for (p, d) in out.iter_mut().zip(dominated) {
        p.on_frontier = !d;
    }
    out.sort_by(|a, b| {
        a.cost_bps_of_equity
            .cmp(&b.cost_bps_of_equity)
            .then(a.tracking_error.total_cmp(&b.tracking_error))
    });
    Frontier { points: out }
}

/// The sweep as a table, cheapest first, frontier points marked.
pub fn render_frontier(frontier: &Frontier) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "band",
        "cost cap (bps)",
        "cost (bps of equity)",
        "tracking error",
        "frontier",
    ]);
    for p in &frontier.points {
        table.add_row(vec![
            right(format!(
                "±{} pp",
                (p.band * Decimal::ONE_HUNDRED).normalize()
            )),
            right(p.cost_cap_bps.normalize().to_string()),
            right(fixed(p.cost_bps_of_equity, 1)),
            right(format!("{:.2} pp", p.tracking_error * 100.0)),
            Cell::new(if p.on_frontier { "●" } else { "" }),
        ]);
    }
    format!("{table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::Schedule;

    fn result(name: &str, cost: i64, te: f64) -> PolicyResult {
        PolicyResult {
            cost_bps_of_equity: Decimal::from(cost),
            average_equity: Decimal::ONE,
            tracking_error: te,
            final_value: Decimal::ONE,
            ..PolicyResult::empty(name.into(), Schedule::EveryStep)
        }
    }

    #[test]
    fn dominated_points_are_off_the_frontier() {
        let a = result("a", 10, 0.03);
        let b = result("b", 20, 0.01);
        let c = result("c", 25, 0.02); // costs more than b and tracks worse
        let d = result("d", 10, 0.04); // same cost as a, tracks worse
        let f = frontier(&[
            (Decimal::ONE, Decimal::ONE, &c),
            (Decimal::ONE, Decimal::ONE, &a),
            (Decimal::ONE, Decimal::ONE, &b),
            (Decimal::ONE, Decimal::ONE, &d),
        ]);
        let marks: Vec<(&str, bool)> = f
            .points
            .iter()
            .map(|p| (p.name.as_str(), p.on_frontier))
            .collect();
        assert_eq!(
            marks,
            vec![("a", true), ("d", false), ("b", true), ("c", false)]
        );
    }
}
