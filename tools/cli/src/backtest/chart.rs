//! The backtest's PNG: cumulative cost and drift over time, one line per policy.

use std::path::Path;

use rust_decimal::prelude::ToPrimitive;

use super::PolicyResult;
use crate::chart::{Panel, Series};

/// Draws the chart for results run with series recorded; `times_ms` are the steps' times.
/// Returns whether text (titles, axes, legend) could be drawn.
///
/// # Errors
/// A message when the file cannot be drawn or written.
pub fn draw(
    path: &Path,
    results: &[PolicyResult],
    times_ms: &[i64],
    quote: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let start = times_ms.first().copied().unwrap_or(0);
    let days: Vec<f64> = times_ms
        .iter()
        .map(|t| (t - start) as f64 / 86_400_000.0)
        .collect();
    let mut cost = Vec::new();
    let mut drift = Vec::new();
    for r in results {
        let Some(s) = r.series.as_ref() else { continue };
        cost.push(Series {
            name: r.name.clone(),
            points: days
                .iter()
                .copied()
                .zip(s.cumulative_cost.iter().map(|c| c.to_f64().unwrap_or(0.0)))
                .collect(),
        });
        drift.push(Series {
            name: r.name.clone(),
            points: days
                .iter()
                .copied()
                .zip(s.rms_drift.iter().map(|d| d * 100.0))
                .collect(),
        });
    }
    let panels = [
        Panel {
            title: format!("Cumulative trading cost ({quote})"),
            x_desc: "days".into(),
            series: cost,
        },
        Panel {
            title: "RMS drift from target (pp)".into(),
            x_desc: "days".into(),
            series: drift,
        },
    ];
    crate::chart::draw(path, (1400, 1000), &panels)
}
