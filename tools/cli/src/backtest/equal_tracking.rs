//! Cost and turnover at equal tracking error: for each calendar policy, the band policy that
//! tracks as closely, and what each pays.
//!
//! A calendar policy and a band policy compared as they are usually set up differ in how
//! closely they track, so "the band costs less" mostly says "it tracks less closely". Here the
//! band is chosen to match: for every calendar (back to target daily, weekly, monthly) and
//! every destination (band edge, inside the band), a sweep of band widths brackets the
//! calendar's tracking error, and bisection on the absolute band width narrows the bracket
//! until the band policy's tracking error is within a relative tolerance of the calendar's.
//! The band policy is the calendar's own settings (no cost cap, no velocity rule, the same
//! minimum notional) with only the band and the destination changed, planned every step.
//!
//! Tracking error rises with the band but not strictly (a wider band can land a trade at a
//! luckier moment), so the bisection keeps a bracket whose lower band tracks at or below the
//! target and whose upper band tracks above it, whatever the bands in between do, and reports
//! the closest band it evaluated with the tracking error it achieved, matched or not.
//!
//! Every backtest of a round is independent: they run in parallel on the available cores
//! ([`run_parallel`]), in as many [`super::run`] calls as there are threads, so the policies of
//! one call share each step's books.

use driftline_core::{Band, Destination, RebalancePolicy};
use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{BacktestError, CalendarPeriod, PolicyResult, PolicyRun, RunOptions, Scenario};

/// What to match and how closely.
#[derive(Debug, Clone, PartialEq)]
pub struct EqualTrackingConfig {
    /// The calendar policies whose tracking error the bands match.
    pub calendars: Vec<CalendarPeriod>,
    /// The destinations of the band policies; each is matched to every calendar.
    pub destinations: Vec<Destination>,
    /// Band widths (absolute weights) run for every destination: the curves of the chart and
    /// the brackets of the bisection. A zero band (trade every step) is always added.
    pub sweep_bands: Vec<Decimal>,
    /// A band matches when |its tracking error − the calendar's| ≤ tolerance × the calendar's.
    pub tolerance: f64,
    /// The most bisection rounds after the sweep.
    pub max_halvings: u32,
    /// The minimum trade notional of every policy, calendars and bands alike.
    pub min_trade_notional: Decimal,
    /// The deadline of every policy's orders, calendars and bands alike; `None` keeps the
    /// policies' default.
    pub order_ttl_seconds: Option<u32>,
}

impl Default for EqualTrackingConfig {
    fn default() -> Self {
        Self {
            calendars: vec![
                CalendarPeriod::Daily,
                CalendarPeriod::Weekly,
                CalendarPeriod::Monthly,
            ],
            destinations: vec![
                Destination::BandEdge,
                Destination::InsideBand(Decimal::new(5, 1)),
            ],
            sweep_bands: [
                1, 25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 650, 800,
            ]
            .map(|b| Decimal::new(b, 4))
            .to_vec(),
            tolerance: 0.02,
            max_halvings: 20,
            min_trade_notional: RebalancePolicy::default().min_trade_notional,
            order_ttl_seconds: None,
        }
    }
}

/// The band widths' resolution: bisection stops when the bracket is one unit wide.
const BAND_DP: u32 = 6;

/// What one policy traded, paid and tracked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub name: String,
    pub trades: u64,
    #[serde(with = "driftline_core::exact")]
    pub turnover_quote: Decimal,
    /// Turnover over average equity.
    #[serde(with = "driftline_core::exact")]
    pub turnover_ratio: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_quote: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_bps_of_equity: Decimal,
    /// Time-weighted RMS drift, as a weight.
    pub tracking_error: f64,
}

impl From<&PolicyResult> for Figures {
    fn from(r: &PolicyResult) -> Self {
        Self {
            name: r.name.clone(),
            trades: r.trades,
            turnover_quote: r.turnover_quote,
            turnover_ratio: r.turnover_ratio,
            cost_quote: r.cost_quote,
            cost_bps_of_equity: r.cost_bps_of_equity,
            tracking_error: r.tracking_error,
        }
    }
}

/// One band policy run: its band, its destination and its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandPoint {
    #[serde(with = "driftline_core::exact")]
    pub band: Decimal,
    pub destination: Destination,
    pub figures: Figures,
}

/// The band policy matched to one calendar policy at one destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub calendar: CalendarPeriod,
    pub destination: Destination,
    /// The calendar's tracking error, which the band is matched to.
    pub target_tracking_error: f64,
    /// The closest band evaluated (its tracking error in `band.figures`).
    pub band: BandPoint,
    /// Whether the band's tracking error is within the tolerance of the target.
    pub within_tolerance: bool,
    /// Band policies run for this match (the sweep's included).
    pub evaluations: usize,
    /// The band's cost over the calendar's (none when the calendar paid nothing).
    #[serde(with = "driftline_core::exact::option")]
    pub cost_ratio: Option<Decimal>,
    /// The band's turnover over the calendar's.
    #[serde(with = "driftline_core::exact::option")]
    pub turnover_ratio: Option<Decimal>,
}

/// A calendar policy's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalendarPoint {
    pub calendar: CalendarPeriod,
    pub figures: Figures,
}

/// The calendars, the band matched to each, and every band run (for the curves).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EqualTracking {
    pub tolerance: f64,
    #[serde(with = "driftline_core::exact")]
    pub min_trade_notional: Decimal,
    pub calendars: Vec<CalendarPoint>,
    pub matches: Vec<Match>,
    /// Every band policy run, by destination and then band.
    pub curves: Vec<BandPoint>,
}

/// The band policy compared with `calendar`'s: its settings with the band and the destination
/// changed, planned every step.
pub fn band_policy(
    calendar: &RebalancePolicy,
    band: Decimal,
    destination: Destination,
) -> PolicyRun {
    PolicyRun::driftline(
        format!(
            "±{} pp {destination}",
            (band * Decimal::ONE_HUNDRED).normalize()
        ),
        RebalancePolicy {
            band: Band {
                absolute: Some(band),
                relative: None,
            },
            destination,
            ..calendar.clone()
        },
    )
}

/// A calendar policy with the comparison's minimum notional and order deadline (the band
/// policies take both from it).
fn calendar_run(period: CalendarPeriod, config: &EqualTrackingConfig) -> PolicyRun {
    let mut run = PolicyRun::calendar(period);
    run.policy.min_trade_notional = config.min_trade_notional;
    if let Some(ttl) = config.order_ttl_seconds {
        run.policy.order_ttl_seconds = ttl;
    }
    run
}

/// Runs every policy of `runs` on `scenario` in parallel, in one [`super::run`] call per
/// thread, with the caller's `options`; the results in the order of `runs`.
///
/// # Errors
/// The first error of any call.
pub fn run_parallel(
    scenario: &Scenario,
    runs: &[PolicyRun],
    options: &RunOptions,
) -> Result<Vec<PolicyResult>, BacktestError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let per_call = runs.len().div_ceil(rayon::current_num_threads().max(1));
    let calls: Vec<Result<Vec<PolicyResult>, BacktestError>> = runs
        .par_chunks(per_call)
        .map(|chunk| super::run(scenario, chunk, RunOptions::clone(options), &mut |_| {}))
        .collect();
    let mut results = Vec::with_capacity(runs.len());
    for call in calls {
        results.extend(call?);
    }
    Ok(results)
}

/// One bisection: the bracket around the target and the closest band so far.
struct Search {
    calendar: usize,
    destination: Destination,
    target: f64,
    /// Tracks at or below the target.
    below: Option<Decimal>,
    /// Tracks above the target.
    above: Option<Decimal>,
    best: Option<BandPoint>,
    evaluations: usize,
    halvings: u32,
}

impl Search {
    fn within(&self, tolerance: f64, te: f64) -> bool {
        (te - self.target).abs() <= tolerance * self.target
    }

    fn consider(&mut self, point: &BandPoint) {
        self.evaluations += 1;
        let te = point.figures.tracking_error;
        let closer = self.best.as_ref().is_none_or(|b| {
            (te - self.target).abs() < (b.figures.tracking_error - self.target).abs()
        });
        if closer {
            self.best = Some(point.clone());
        }
    }

    /// The next band to try, or none when matched, out of rounds, or the bracket is as
    /// narrow as the band's resolution.
    fn next(&self, config: &EqualTrackingConfig) -> Option<Decimal> {
        let matched = self
            .best
            .as_ref()
            .is_some_and(|b| self.within(config.tolerance, b.figures.tracking_error));
        if matched || self.halvings >= config.max_halvings {
            return None;
        }
        let (lo, hi) = (self.below?, self.above?);
        let mid = ((lo + hi) / Decimal::TWO).round_dp(BAND_DP);
        (mid > lo && mid < hi).then_some(mid)
    }
}

/// For every calendar of `config`, the band policy of each destination whose tracking error
/// matches it (see the module's documentation), and every band run.
///
/// # Errors
/// [`BacktestError::Invalid`] naming a bad setting of `config`; any error of a backtest.
pub fn equal_tracking(
    scenario: &Scenario,
    config: &EqualTrackingConfig,
    options: &RunOptions,
) -> Result<EqualTracking, BacktestError> {
    validate(config)?;
    let mut bands: Vec<Decimal> = config.sweep_bands.clone();
    bands.push(Decimal::ZERO);
    bands.sort();
    bands.dedup();
    let calendars: Vec<PolicyRun> = config
        .calendars
        .iter()
        .map(|p| calendar_run(*p, config))
        .collect();
    // Every band policy shares the calendars' settings; the first calendar's will do.
    let base = calendars
        .first()
        .map(|c| c.policy.clone())
        .ok_or_else(|| BacktestError::invalid("calendars", "none to match"))?;

    let sweep: Vec<(Decimal, Destination)> = config
        .destinations
        .iter()
        .flat_map(|d| bands.iter().map(move |b| (*b, *d)))
        .collect();
    let mut runs = calendars.clone();
    runs.extend(sweep.iter().map(|(b, d)| band_policy(&base, *b, *d)));
    let results = run_parallel(scenario, &runs, options)?;
    let (calendar_results, swept) = results.split_at(calendars.len());
    let mut curves: Vec<BandPoint> = sweep
        .iter()
        .zip(swept)
        .map(|((band, destination), r)| BandPoint {
            band: *band,
            destination: *destination,
            figures: Figures::from(r),
        })
        .collect();

    let mut searches: Vec<Search> = Vec::new();
    for (c, calendar) in calendar_results.iter().enumerate() {
        for destination in &config.destinations {
            let mut search = Search {
                calendar: c,
                destination: *destination,
                target: calendar.tracking_error,
                below: None,
                above: None,
                best: None,
                evaluations: 0,
                halvings: 0,
            };
            let points = curves.iter().filter(|p| p.destination == *destination);
            for p in points.clone() {
                search.consider(p);
            }
            // The first crossing of the target, by band.
            let mut last_below = None;
            for p in points {
                if p.figures.tracking_error <= search.target {
                    last_below = Some(p.band);
                } else if last_below.is_some() {
                    search.below = last_below;
                    search.above = Some(p.band);
                    break;
                }
            }
            searches.push(search);
        }
    }

    loop {
        let tries: Vec<(usize, Decimal)> = searches
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.next(config).map(|band| (i, band)))
            .collect();
        if tries.is_empty() {
            break;
        }
        let runs: Vec<PolicyRun> = tries
            .iter()
            .map(|(i, band)| band_policy(&base, *band, searches[*i].destination))
            .collect();
        let results = run_parallel(scenario, &runs, options)?;
        for ((i, band), r) in tries.iter().zip(&results) {
            let search = &mut searches[*i];
            let point = BandPoint {
                band: *band,
                destination: search.destination,
                figures: Figures::from(r),
            };
            search.halvings += 1;
            search.consider(&point);
            if point.figures.tracking_error <= search.target {
                search.below = Some(*band);
            } else {
                search.above = Some(*band);
            }
            curves.push(point);
        }
    }

    let matches = searches
        .into_iter()
        .filter_map(|s| {
            let calendar = calendar_results.get(s.calendar)?;
            let within_tolerance = s
                .best
                .as_ref()
                .is_some_and(|b| s.within(config.tolerance, b.figures.tracking_error));
            let band = s.best?;
            let ratio = |band: Decimal, calendar: Decimal| {
                (!calendar.is_zero()).then(|| (band / calendar).round_dp(4))
            };
            Some(Match {
                calendar: config.calendars[s.calendar],
                destination: s.destination,
                target_tracking_error: s.target,
                within_tolerance,
                evaluations: s.evaluations,
                cost_ratio: ratio(band.figures.cost_quote, calendar.cost_quote),
                turnover_ratio: ratio(band.figures.turnover_quote, calendar.turnover_quote),
                band,
            })
        })
        .collect();
    curves.sort_by(|a, b| {
        destination_order(&a.destination)
            .cmp(&destination_order(&b.destination))
            .then(a.band.cmp(&b.band))
    });
    curves.dedup_by(|a, b| a.destination == b.destination && a.band == b.band);
    Ok(EqualTracking {
        tolerance: config.tolerance,
        min_trade_notional: config.min_trade_notional,
        calendars: config
            .calendars
            .iter()
            .zip(calendar_results)
            .map(|(calendar, r)| CalendarPoint {
                calendar: *calendar,
                figures: Figures::from(r),
            })
            .collect(),
        matches,
        curves,
    })
}

/// Band edge, then inside the band by fraction, then target.
fn destination_order(d: &Destination) -> (u8, Decimal) {
    match d {
        Destination::BandEdge => (0, Decimal::ZERO),
        Destination::InsideBand(f) => (1, *f),
        Destination::Target => (2, Decimal::ZERO),
    }
}

fn validate(config: &EqualTrackingConfig) -> Result<(), BacktestError> {
    if !(config.tolerance.is_finite() && config.tolerance > 0.0) {
        return Err(BacktestError::invalid(
            "tolerance",
            format!("{} must be a positive fraction", config.tolerance),
        ));
    }
    if config.destinations.is_empty() {
        return Err(BacktestError::invalid("destinations", "none to match"));
    }
    if let Some(b) = config
        .sweep_bands
        .iter()
        .find(|b| **b < Decimal::ZERO || **b > Decimal::ONE)
    {
        return Err(BacktestError::invalid(
            "sweep_bands",
            format!("{b} must be in [0, 1]"),
        ));
    }
    if config.min_trade_notional < Decimal::ZERO {
        return Err(BacktestError::invalid(
            "min_trade_notional",
            format!("{} must not be negative", config.min_trade_notional),
        ));
    }
    Ok(())
}

/// One row per calendar and destination: the calendar's cost, turnover and tracking error, the
/// matched band's, and the ratios.
pub fn render(result: &EqualTracking, quote: &str) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};

    use super::report::{fixed, right};

    let te = |f: &Figures| format!("{:.3} pp", f.tracking_error * 100.0);
    let ratio = |r: Option<Decimal>| r.map_or_else(|| "–".to_owned(), |r| fixed(r, 2));
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "calendar".to_owned(),
        format!("cost ({quote})"),
        "cost (bps)".to_owned(),
        "turnover".to_owned(),
        "tracking error".to_owned(),
        "destination".to_owned(),
        "matched band".to_owned(),
        format!("cost ({quote})"),
        "cost (bps)".to_owned(),
        "turnover".to_owned(),
        "tracking error".to_owned(),
        "cost ratio".to_owned(),
        "turnover ratio".to_owned(),
    ]);
    for m in &result.matches {
        let Some(c) = result.calendars.iter().find(|c| c.calendar == m.calendar) else {
            continue;
        };
        let b = &m.band.figures;
        table.add_row(vec![
            Cell::new(super::tracking_chart::label(m.calendar)),
            right(fixed(c.figures.cost_quote, 2)),
            right(fixed(c.figures.cost_bps_of_equity, 1)),
            right(format!("{}×", fixed(c.figures.turnover_ratio, 2))),
            right(te(&c.figures)),
            Cell::new(m.destination.to_string()),
            right(format!(
                "±{} pp",
                (m.band.band * Decimal::ONE_HUNDRED).normalize()
            )),
            right(fixed(b.cost_quote, 2)),
            right(fixed(b.cost_bps_of_equity, 1)),
            right(format!("{}×", fixed(b.turnover_ratio, 2))),
            right(if m.within_tolerance {
                te(b)
            } else {
                format!("{} (not matched)", te(b))
            }),
            right(ratio(m.cost_ratio)),
            right(ratio(m.turnover_ratio)),
        ]);
    }
    format!("{table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{equal_targets, generate, GeneratorConfig};
    use driftline_core::Fees;
    use rust_decimal_macros::dec;

    /// Three assets, 40 hourly days: short enough for a debug build.
    fn scenario() -> Scenario {
        let history = generate(&GeneratorConfig {
            assets: 3,
            steps: 24 * 40,
            ..GeneratorConfig::default()
        })
        .unwrap();
        Scenario {
            targets: equal_targets(&history, dec!(0.02)).unwrap(),
            initial_equity: dec!(1000000),
            fees: Fees::default(),
            venues: Vec::new(),
            off_exchange: Decimal::ZERO,
            history,
        }
    }

    /// The model the bisection and destination tests were written for: every intent fills at
    /// its plan's step, so policies that hold the same trade first at the same step. Under
    /// the limit model a resting order fills when the market reaches it, or not at all.
    fn instant_taker() -> RunOptions {
        RunOptions {
            execution: crate::backtest::ExecutionModel::InstantTaker,
            ..RunOptions::default()
        }
    }

    fn config() -> EqualTrackingConfig {
        EqualTrackingConfig {
            calendars: vec![CalendarPeriod::Daily, CalendarPeriod::Weekly],
            sweep_bands: [50, 100, 200, 400, 800]
                .map(|b| Decimal::new(b, 4))
                .to_vec(),
            tolerance: 0.03,
            ..EqualTrackingConfig::default()
        }
    }

    #[test]
    fn bisection_finds_a_band_that_tracks_like_the_calendar_and_reproduces_alone() {
        let s = scenario();
        let config = config();
        let result = equal_tracking(&s, &config, &instant_taker()).unwrap();
        assert_eq!(result.calendars.len(), 2);
        assert_eq!(result.matches.len(), 4, "two calendars × two destinations");
        let base = PolicyRun::calendar(CalendarPeriod::Daily).policy;
        for m in &result.matches {
            let calendar = result
                .calendars
                .iter()
                .find(|c| c.calendar == m.calendar)
                .unwrap();
            assert_eq!(m.target_tracking_error, calendar.figures.tracking_error);
            let achieved = m.band.figures.tracking_error;
            assert!(
                m.within_tolerance,
                "{:?} {}: band {} tracks {achieved}, target {}",
                m.calendar, m.destination, m.band.band, m.target_tracking_error
            );
            assert!(
                (achieved - m.target_tracking_error).abs()
                    <= config.tolerance * m.target_tracking_error
            );
            // The band reported, run on its own, gives the figures reported.
            let alone = &crate::backtest::run(
                &s,
                &[band_policy(&base, m.band.band, m.destination)],
                instant_taker(),
                &mut |_| {},
            )
            .unwrap()[0];
            assert_eq!(alone.tracking_error, achieved);
            assert_eq!(alone.cost_quote, m.band.figures.cost_quote);
            assert_eq!(
                m.cost_ratio,
                Some((m.band.figures.cost_quote / calendar.figures.cost_quote).round_dp(4))
            );
        }
        // The weekly calendar tracks less closely, so its matched bands are wider.
        let band_of = |period, destination| {
            result
                .matches
                .iter()
                .find(|m| m.calendar == period && m.destination == destination)
                .unwrap()
                .band
                .band
        };
        for d in &config.destinations {
            assert!(band_of(CalendarPeriod::Weekly, *d) > band_of(CalendarPeriod::Daily, *d));
        }
    }

    #[test]
    fn bisection_narrows_a_wide_bracket_and_without_halvings_reports_the_closest_band_unmatched() {
        // Bands of 20 pp and more on a short path: none tracks as closely as daily rebalancing.
        let config = EqualTrackingConfig {
            calendars: vec![CalendarPeriod::Daily],
            destinations: vec![Destination::BandEdge],
            sweep_bands: vec![dec!(0.2), dec!(0.4)],
            ..EqualTrackingConfig::default()
        };
        let result = equal_tracking(&scenario(), &config, &RunOptions::default()).unwrap();
        let [m] = &result.matches[..] else {
            panic!("{} matches", result.matches.len())
        };
        // The zero band (always added) tracks more closely than the calendar, 20 pp far less:
        // bisection between them matches it.
        assert!(m.within_tolerance, "{m:?}");
        assert!(m.band.band > Decimal::ZERO && m.band.band < dec!(0.2));

        let tight = EqualTrackingConfig {
            max_halvings: 0,
            ..config
        };
        let result = equal_tracking(&scenario(), &tight, &RunOptions::default()).unwrap();
        let m = &result.matches[0];
        assert!(!m.within_tolerance, "{m:?}");
        let closest = result
            .curves
            .iter()
            .map(|p| (p.figures.tracking_error - m.target_tracking_error).abs())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(
            (m.band.figures.tracking_error - m.target_tracking_error).abs(),
            closest
        );
    }

    #[test]
    fn trades_inside_the_band_are_larger_than_to_its_edge_and_smaller_than_to_the_target() {
        let s = scenario();
        let base = PolicyRun::calendar(CalendarPeriod::Daily).policy;
        let band = dec!(0.02);
        let runs: Vec<PolicyRun> = [
            Destination::BandEdge,
            Destination::InsideBand(dec!(0.5)),
            Destination::Target,
        ]
        .map(|d| band_policy(&base, band, d))
        .to_vec();
        let results = crate::backtest::run(
            &s,
            &runs,
            RunOptions {
                record_series: true,
                ..instant_taker()
            },
            &mut |_| {},
        )
        .unwrap();
        // Until the first trade the three hold the same, so they first trade at the same step,
        // each a larger trade than the one before (cost grows with the notional).
        let firsts: Vec<_> = results
            .iter()
            .map(|r| r.series.as_ref().unwrap().ledgers[0])
            .collect();
        assert!(
            firsts.iter().all(|l| l.step == firsts[0].step),
            "{firsts:?}"
        );
        assert!(
            firsts[0].cost < firsts[1].cost && firsts[1].cost < firsts[2].cost,
            "{firsts:?}"
        );
        // Over the whole run: larger trades on average, and fewer of them.
        let average = |r: &PolicyResult| r.turnover_quote / Decimal::from(r.trades);
        let (edge, inside, target) = (&results[0], &results[1], &results[2]);
        assert!(average(edge) < average(inside) && average(inside) < average(target));
        assert!(edge.trades > inside.trades && inside.trades > target.trades);
    }

    #[test]
    fn running_in_parallel_gives_the_results_of_one_run_in_order() {
        let s = scenario();
        let base = PolicyRun::calendar(CalendarPeriod::Daily).policy;
        let runs: Vec<PolicyRun> = [dec!(0), dec!(0.01), dec!(0.02), dec!(0.05), dec!(0.08)]
            .map(|b| band_policy(&base, b, Destination::BandEdge))
            .to_vec();
        let parallel = run_parallel(&s, &runs, &RunOptions::default()).unwrap();
        let one = crate::backtest::run(&s, &runs, RunOptions::default(), &mut |_| {}).unwrap();
        let key = |r: &PolicyResult| (r.name.clone(), r.trades, r.cost_quote, r.final_value);
        assert_eq!(
            parallel.iter().map(key).collect::<Vec<_>>(),
            one.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[rstest::rstest]
    #[case::tolerance(EqualTrackingConfig { tolerance: 0.0, ..EqualTrackingConfig::default() }, "tolerance: 0 must be")]
    #[case::nan(EqualTrackingConfig { tolerance: f64::NAN, ..EqualTrackingConfig::default() }, "tolerance: NaN must be")]
    #[case::band(EqualTrackingConfig { sweep_bands: vec![dec!(0.01), dec!(1.5)], ..EqualTrackingConfig::default() }, "sweep_bands: 1.5 must be")]
    #[case::minimum(EqualTrackingConfig { min_trade_notional: dec!(-1), ..EqualTrackingConfig::default() }, "min_trade_notional: -1 must")]
    #[case::fraction(EqualTrackingConfig { destinations: vec![Destination::InsideBand(dec!(2))], ..EqualTrackingConfig::default() }, "destination.inside_band")]
    #[case::no_calendar(EqualTrackingConfig { calendars: Vec::new(), ..EqualTrackingConfig::default() }, "calendars: none")]
    fn bad_settings_are_named(#[case] config: EqualTrackingConfig, #[case] named: &str) {
        let err = equal_tracking(&scenario(), &config, &RunOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(named), "{err}");
    }
}
