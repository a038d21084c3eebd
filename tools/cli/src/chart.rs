//! Line charts as PNG (plotters, bitmap only): panels stacked vertically, one line per series.
//! The backtest and the demo draw with it; `driftline history` reuses its font and colours.
//!
//! Text needs a TrueType font; plotters is built without system font lookup, so the chart
//! registers DejaVu Sans from where Debian's `fonts-dejavu-core` puts it. Without it the chart
//! is drawn without text and the caller is told.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the font once; whether text can be drawn.
pub(crate) fn font_available() -> bool {
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

/// One colour per series, in order (matplotlib's first eight).
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// One line: its legend label and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One chart of the picture: the y axis runs from zero to a little above the highest point.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_desc: String,
    pub series: Vec<Series>,
}

/// Draws `panels` one under the other into a PNG of `size` pixels. Returns whether text
/// (titles, axes, legend) could be drawn.
///
/// # Errors
/// A message when the file cannot be drawn or written.
pub fn draw(
    path: &Path,
    size: (u32, u32),
    panels: &[Panel],
) -> Result<bool, Box<dyn std::error::Error>> {
    let text = font_available();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let rows = u32::try_from(panels.len().max(1)).unwrap_or(1);
    let areas = root.split_evenly((usize::try_from(rows).unwrap_or(1), 1));
    for (area, panel) in areas.iter().zip(panels) {
        let points = || panel.series.iter().flat_map(|s| s.points.iter().copied());
        let x_min = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x_min = if x_min.is_finite() { x_min } else { 0.0 };
        let x_max = points()
            .map(|p| p.0)
            .fold(x_min, f64::max)
            .max(x_min + 1e-9);
        let y_max = points().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
        let mut builder = ChartBuilder::on(area);
        builder.margin(15);
        if text {
            builder
                .caption(&panel.title, ("sans-serif", 24))
                .x_label_area_size(40)
                .y_label_area_size(90);
        } else {
            builder.x_label_area_size(5).y_label_area_size(5);
        }
        let mut chart = builder.build_cartesian_2d(x_min..x_max, 0f64..y_max)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(panel.x_desc.as_str())
                .label_style(("sans-serif", 16));
        } else {
            mesh.disable_x_mesh()
                .disable_y_mesh()
                .x_labels(0)
                .y_labels(0);
        }
        mesh.draw()?;
        for (i, series) in panel.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let drawn = chart.draw_series(LineSeries::new(
                series.points.iter().copied(),
                color.stroke_width(2),
            ))?;
            if text {
                drawn
                    .label(series.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            }
        }
        if text && !panel.series.is_empty() {
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
