//! `driftline history ID`: each asset's drift over the portfolio's stored cycles (the drift
//! snapshot every cycle keeps, `DRIFT#` items, for 30 days), with the band each asset may drift
//! within before driftline trades it, as a table and, with `--png`, a chart.
//!
//! The bands are the stored policy's ([`RebalancePolicy::band_for`] at the target each snapshot
//! recorded), so a band changed since shows as it is now. The quote asset has no band: it is
//! not traded itself, it settles the others; it is in the table but not in the chart.
//!
//! The chart's x axis counts cycles (whole numbers, 1 for the oldest shown); each band is a
//! shaded stripe around zero in its asset's colour (grey when several assets share it); the
//! legend has a strip of its own to the right, so it never covers a line.

use std::path::{Path, PathBuf};

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_core::ports::{PortfolioConfigs, RecordedSnapshot};
use driftline_core::{Asset, PortfolioId, RebalancePolicy};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::orders::unknown_portfolio;
use super::support::to_json;
use super::time::{parse_since, rfc3339, short};
use super::{block_on, outputs, Console, ConsoleError, Target};
use crate::chart::{font_available, COLORS};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The portfolio.
    pub id: String,
    /// Only cycles recorded at or after this date (2027-01-15) or date-time
    /// (2027-01-15T08:00:00Z), UTC unless an offset is given.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Print JSON (decimals as strings) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also draw the drift and the bands as a PNG chart into this file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// One asset at one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetPoint {
    pub asset: String,
    #[serde(with = "driftline_core::exact")]
    pub weight: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub target: Decimal,
    /// Weight minus target: positive is overweight.
    #[serde(with = "driftline_core::exact")]
    pub drift: Decimal,
    /// The band's half-width; absent for the quote asset.
    #[serde(with = "driftline_core::exact::option")]
    pub band: Option<Decimal>,
    pub outside_band: bool,
}

/// One stored cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CyclePoint {
    /// 1 for the oldest cycle shown.
    pub n: usize,
    pub cycle_id: String,
    pub recorded_at: String,
    #[serde(skip)]
    pub recorded_at_ms: driftline_core::EpochMillis,
    #[serde(with = "driftline_core::exact")]
    pub equity: Decimal,
    pub assets: Vec<AssetPoint>,
}

/// A portfolio's drift history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    pub portfolio: String,
    pub quote: String,
    pub cycles: Vec<CyclePoint>,
}

/// The history of `snapshots` (oldest first) under `policy`.
pub fn history(
    portfolio: &str,
    quote: &Asset,
    policy: &RebalancePolicy,
    snapshots: &[RecordedSnapshot],
) -> History {
    let cycles = snapshots
        .iter()
        .enumerate()
        .map(|(i, r)| CyclePoint {
            n: i + 1,
            cycle_id: r.snapshot.cycle_id.to_string(),
            recorded_at: rfc3339(r.recorded_at_ms),
            recorded_at_ms: r.recorded_at_ms,
            equity: r.snapshot.equity.normalize(),
            assets: r
                .snapshot
                .assets
                .iter()
                .map(|a| {
                    let band = (&a.asset != quote).then(|| policy.band_for(&a.asset, a.target));
                    AssetPoint {
                        asset: a.asset.to_string(),
                        weight: a.weight.normalize(),
                        target: a.target.normalize(),
                        drift: a.drift.normalize(),
                        band: band.map(|d| d.normalize()),
                        outside_band: band.is_some_and(|b| a.drift.abs() > b),
                    }
                })
                .collect(),
        })
        .collect();
    History {
        portfolio: portfolio.to_owned(),
        quote: quote.to_string(),
        cycles,
    }
}

/// Reads a portfolio's history.
///
/// # Errors
/// [`ConsoleError::Refused`] for an unknown portfolio, [`ConsoleError::Input`] for a bad id or
/// `--since`, or the store's error.
pub async fn read(console: &Console, args: &HistoryArgs) -> Result<History, ConsoleError> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since("--since", s))
        .transpose()?;
    let id = PortfolioId::new(&args.id)
        .map_err(|e| ConsoleError::Input(format!("portfolio id {:?}: {e}", args.id)))?;
    let store = console.store()?;
    let stored = store
        .portfolio(&id)
        .await?
        .ok_or_else(|| unknown_portfolio(&id, store.table()))?;
    let (portfolio, policy) = stored.spec.into_domain().map_err(|e| {
        ConsoleError::Refused(format!(
            "portfolio {id}'s stored configuration is not valid: {}: {}",
            e.field, e.message
        ))
    })?;
    let snapshots = store.drift_since(&id, since.unwrap_or(0)).await?;
    Ok(history(id.as_str(), portfolio.quote(), &policy, &snapshots))
}

fn pp(d: Decimal) -> String {
    format!(
        "{:+.2} pp",
        (d * Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    )
}

/// The history as a table: one row per cycle, one column per asset; `*` marks a drift outside
/// its band.
pub fn render(h: &History) -> String {
    let Some(first) = h.cycles.first() else {
        return format!("portfolio {}: no stored cycles\n", h.portfolio);
    };
    let mut header = vec![
        "#".to_owned(),
        "cycle".into(),
        "recorded at".into(),
        format!("equity ({})", h.quote),
    ];
    for a in &first.assets {
        header.push(match a.band {
            Some(b) => format!("{} (band ±{:.2} pp)", a.asset, b * Decimal::ONE_HUNDRED),
            None => format!("{} (quote)", a.asset),
        });
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for c in &h.cycles {
        let mut row = vec![
            right(c.n.to_string()),
            Cell::new(&c.cycle_id),
            Cell::new(short(c.recorded_at_ms)),
            right(format!(
                "{:.2}",
                c.equity.round_dp_with_strategy(
                    2,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero
                )
            )),
        ];
        for a in &c.assets {
            let mark = if a.outside_band { " *" } else { "  " };
            row.push(right(format!("{}{mark}", pp(a.drift))));
        }
        table.add_row(row);
    }
    let outside = h
        .cycles
        .iter()
        .filter(|c| c.assets.iter().any(|a| a.outside_band))
        .count();
    format!(
        "portfolio {} · {} cycle(s) from {} UTC · drift = weight − target · * outside its band (in {outside} cycle(s))\n{table}\n",
        h.portfolio,
        h.cycles.len(),
        short(first.recorded_at_ms),
    )
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Draws the chart. Returns whether text could be drawn (a font was found).
///
/// # Errors
/// [`ConsoleError::Refused`] with nothing to draw, [`ConsoleError::Input`] when the file cannot
/// be drawn or written.
pub fn draw(h: &History, path: &Path) -> Result<bool, ConsoleError> {
    let failed = |e: &dyn std::fmt::Display| {
        ConsoleError::Input(format!("{}: cannot draw the chart: {e}", path.display()))
    };
    let Some(first) = h.cycles.first() else {
        return Err(ConsoleError::Refused(format!(
            "portfolio {}: no stored cycles to chart",
            h.portfolio
        )));
    };
    // The traded assets, in the snapshot's order, each with its band and colour.
    let assets: Vec<(String, Option<Decimal>, RGBColor)> = first
        .assets
        .iter()
        .filter(|a| a.band.is_some())
        .enumerate()
        .map(|(i, a)| (a.asset.clone(), a.band, COLORS[i % COLORS.len()]))
        .collect();
    let n = i32::try_from(h.cycles.len()).unwrap_or(i32::MAX);
    let series: Vec<Vec<(i32, f64)>> = assets
        .iter()
        .map(|(asset, _, _)| {
            h.cycles
                .iter()
                .filter_map(|c| {
                    let a = c.assets.iter().find(|a| &a.asset == asset)?;
                    Some((i32::try_from(c.n).ok()?, f(a.drift * Decimal::ONE_HUNDRED)))
                })
                .collect()
        })
        .collect();
    let highest = series
        .iter()
        .flatten()
        .map(|p| p.1.abs())
        .chain(assets.iter().filter_map(|a| a.1).map(|b| f(b) * 100.0))
        .fold(0.0, f64::max);
    let y = if highest > 0.0 { highest * 1.25 } else { 1.0 };

    let text = font_available();
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (plot, legend) = root.split_horizontally(900);
    let mut builder = ChartBuilder::on(&plot);
    builder.margin(15);
    if text {
        builder
            .caption(
                format!("{}: drift per asset, with its band", h.portfolio),
                ("sans-serif", 22),
            )
            .x_label_area_size(45)
            .y_label_area_size(70);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    // One cycle of margin either side; integer coordinates, so every label is a whole cycle.
    let mut chart = builder
        .build_cartesian_2d(0..n + 1, -y..y)
        .map_err(|e| failed(&e))?;
    let x_label = |x: &i32| {
        if (1..=n).contains(x) {
            x.to_string()
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(format!(
            "cycle (1 = {} UTC, {} in all)",
            short(first.recorded_at_ms),
            h.cycles.len()
        ))
        .y_desc("drift (pp)")
        .x_labels(usize::try_from(n).unwrap_or(10).clamp(2, 12) + 2)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|v: &f64| {
            if v.abs() < 1e-9 {
                "0".to_owned()
            } else {
                format!("{v:+.1}")
            }
        })
        .label_style(("sans-serif", 15));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(|e| failed(&e))?;
    // The bands first, under the lines: grey when assets share one.
    for (i, (_, band, color)) in assets.iter().enumerate() {
        let Some(band) = band else { continue };
        let shared = assets.iter().filter(|a| a.1 == Some(*band)).count() > 1;
        if shared && assets.iter().position(|a| a.1 == Some(*band)) != Some(i) {
            continue;
        }
        let shade = if shared {
            RGBColor(128, 128, 128)
        } else {
            *color
        };
        let b = f(*band) * 100.0;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0, -b), (n + 1, b)],
                shade.mix(0.12).filled(),
            )))
            .map_err(|e| failed(&e))?;
        for edge in [-b, b] {
            chart
                .draw_series(LineSeries::new(
                    [(0, edge), (n + 1, edge)],
                    shade.mix(0.5).stroke_width(1),
                ))
                .map_err(|e| failed(&e))?;
        }
    }
    chart
        .draw_series(LineSeries::new([(0, 0.0), (n + 1, 0.0)], BLACK.mix(0.4)))
        .map_err(|e| failed(&e))?;
    for ((_, _, color), points) in assets.iter().zip(&series) {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| failed(&e))?;
    }
    if text {
        // The legend in its own strip: a line sample and the asset with its band.
        let style = ("sans-serif", 16).into_font().color(&BLACK);
        let mut row = 60;
        for (asset, band, color) in &assets {
            legend
                .draw(&PathElement::new(
                    [(10, row), (40, row)],
                    color.stroke_width(3),
                ))
                .map_err(|e| failed(&e))?;
            let label = band.map_or_else(
                || asset.clone(),
                |b| format!("{asset} (band ±{:.2} pp)", b * Decimal::ONE_HUNDRED),
            );
            legend
                .draw(&Text::new(label, (50, row - 8), style.clone()))
                .map_err(|e| failed(&e))?;
            row += 28;
        }
        legend
            .draw(&Rectangle::new(
                [(10, row), (40, row + 14)],
                RGBColor(128, 128, 128).mix(0.25).filled(),
            ))
            .map_err(|e| failed(&e))?;
        legend
            .draw(&Text::new("shaded: no-trade band", (50, row - 1), style))
            .map_err(|e| failed(&e))?;
    }
    root.present().map_err(|e| failed(&e))?;
    Ok(text)
}

/// `driftline history`.
///
/// # Errors
/// [`ConsoleError`] naming the bad argument or what could not be read or drawn.
pub fn run(target: &Target, args: &HistoryArgs) -> Result<(), ConsoleError> {
    if let Some(s) = &args.since {
        parse_since("--since", s)?;
    }
    // The encoder is chosen by the extension: refuse any other before reading anything.
    if let Some(path) = &args.png {
        if !path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            return Err(ConsoleError::Input(format!(
                "--png {:?}: the chart's file name must end in .png",
                path.display().to_string()
            )));
        }
    }
    let h = block_on(async {
        let console = Console::connect(target, &[outputs::TABLE]).await?;
        read(&console, args).await
    })?;
    if args.json {
        println!("{}", to_json(&h)?);
    } else {
        print!("{}", render(&h));
    }
    if let Some(path) = &args.png {
        let text = draw(&h, path)?;
        let note = if text {
            ""
        } else {
            " (no font found: drawn without text; install fonts-dejavu-core)"
        };
        eprintln!("chart {}{note}", path.display());
    }
    Ok(())
}
