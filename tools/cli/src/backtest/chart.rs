//! A PNG of cumulative cost and drift over time, one line per policy (plotters, bitmap only).
//!
//! Text needs a TrueType font; plotters is built without system font lookup, so the chart
//! registers DejaVu Sans from where Debian's `fonts-dejavu-core` puts it. Without it the chart
//! is drawn without text and the caller is told.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use super::PolicyResult;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the font once; whether text can be drawn.
fn font_available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                // Leaked once per process: plotters keeps registered fonts for 'static.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

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
    let text = font_available();
    let start = times_ms.first().copied().unwrap_or(0);
    let days: Vec<f64> = times_ms
        .iter()
        .map(|t| (t - start) as f64 / 86_400_000.0)
        .collect();
    let x_max = days.last().copied().unwrap_or(1.0).max(1e-9);
    let series: Vec<(&PolicyResult, Vec<f64>, &[f64])> = results
        .iter()
        .filter_map(|r| {
            let s = r.series.as_ref()?;
            let cost = s
                .cumulative_cost
                .iter()
                .map(|c| c.to_f64().unwrap_or(0.0))
                .collect();
            Some((r, cost, s.rms_drift.as_slice()))
        })
        .collect();
    let cost_max = series
        .iter()
        .flat_map(|(_, c, _)| c.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let drift_max = series
        .iter()
        .flat_map(|(_, _, d)| d.iter().map(|x| x * 100.0))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;

    let root = BitMapBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(500);
    let panels = [
        (
            top,
            format!("Cumulative trading cost ({quote})"),
            cost_max,
            true,
        ),
        (
            bottom,
            "RMS drift from target (pp)".to_owned(),
            drift_max,
            false,
        ),
    ];
    for (area, title, y_max, is_cost) in panels {
        let mut builder = ChartBuilder::on(&area);
        builder.margin(15);
        if text {
            builder
                .caption(&title, ("sans-serif", 24))
                .x_label_area_size(40)
                .y_label_area_size(90);
        } else {
            builder.x_label_area_size(5).y_label_area_size(5);
        }
        let mut chart = builder.build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("days").label_style(("sans-serif", 16));
        } else {
            mesh.disable_x_mesh()
                .disable_y_mesh()
                .x_labels(0)
                .y_labels(0);
        }
        mesh.draw()?;
        for (i, (r, cost, drift)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let points: Vec<(f64, f64)> = if is_cost {
                days.iter().copied().zip(cost.iter().copied()).collect()
            } else {
                days.iter()
                    .copied()
                    .zip(drift.iter().map(|d| d * 100.0))
                    .collect()
            };
            let drawn = chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
            if text {
                drawn
                    .label(r.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()?;
        }
    }
    root.present()?;
    Ok(text)
}
