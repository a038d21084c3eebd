//! The equal-tracking chart ([`super::equal_tracking`]) as PNG: cost in bps of equity (log
//! scale, since hourly trading and a wide band differ a thousandfold) against tracking error
//! in pp; each calendar policy a labelled point, each destination's band runs a curve, the
//! matched bands ringed.

use std::path::Path;

use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use super::equal_tracking::{EqualTracking, Figures};
use super::CalendarPeriod;
use crate::chart::{font_available, COLORS};

/// (tracking error in pp, cost in bps of equity); none for a policy that paid nothing, which
/// a log scale cannot show.
fn coords(f: &Figures) -> Option<(f64, f64)> {
    let cost = f.cost_bps_of_equity.to_f64()?;
    (cost > 0.0).then_some((f.tracking_error * 100.0, cost))
}

pub(super) fn label(period: CalendarPeriod) -> &'static str {
    match period {
        CalendarPeriod::Daily => "calendar daily",
        CalendarPeriod::Weekly => "calendar weekly",
        CalendarPeriod::Monthly => "calendar monthly",
    }
}

/// Draws `result` into a PNG at `path`. Returns whether text (title, axes, labels, legend)
/// could be drawn.
///
/// # Errors
/// A message when the file cannot be drawn or written.
pub fn draw(
    path: &Path,
    result: &EqualTracking,
    quote: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let text = font_available();
    let mut destinations: Vec<driftline_core::Destination> = Vec::new();
    for p in &result.curves {
        if !destinations.contains(&p.destination) {
            destinations.push(p.destination);
        }
    }
    let calendars: Vec<(f64, f64, &str)> = result
        .calendars
        .iter()
        .filter_map(|c| coords(&c.figures).map(|(x, y)| (x, y, label(c.calendar))))
        .collect();
    let all = || {
        result
            .curves
            .iter()
            .filter_map(|p| coords(&p.figures))
            .chain(calendars.iter().map(|(x, y, _)| (*x, *y)))
    };
    let x_max = all().map(|p| p.0).fold(0.0, f64::max).max(1e-6) * 1.05;
    let y_min = all().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_min = if y_min.is_finite() { y_min / 1.5 } else { 0.1 };
    let y_max = all().map(|p| p.1).fold(y_min * 10.0, f64::max) * 1.5;

    let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(
                format!(
                    "Cost against tracking error (minimum trade {} {quote})",
                    result.min_trade_notional.normalize()
                ),
                ("sans-serif", 26),
            )
            .x_label_area_size(50)
            .y_label_area_size(90);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    let mut chart = builder.build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("tracking error (pp, time-weighted RMS drift)")
            .y_desc("cost (bps of equity, log scale)")
            .label_style(("sans-serif", 16));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw()?;

    for (i, destination) in destinations.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = result
            .curves
            .iter()
            .filter(|p| p.destination == *destination)
            .filter_map(|p| coords(&p.figures))
            .collect();
        let drawn = chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
        if text {
            drawn
                .label(format!("band policies, destination {destination}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        // The bands matched to a calendar's tracking error.
        chart.draw_series(
            result
                .matches
                .iter()
                .filter(|m| m.destination == *destination && m.within_tolerance)
                .filter_map(|m| coords(&m.band.figures))
                .map(|p| Circle::new(p, 9, color.stroke_width(2))),
        )?;
    }
    let black = BLACK;
    chart.draw_series(
        calendars
            .iter()
            .map(|(x, y, _)| Circle::new((*x, *y), 8, black.filled())),
    )?;
    if text {
        chart.draw_series(calendars.iter().map(|(x, y, name)| {
            EmptyElement::at((*x, *y)) + Text::new(*name, (12, -6), ("sans-serif", 18))
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()?;
    }
    root.present()?;
    Ok(text)
}
