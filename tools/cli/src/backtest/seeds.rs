//! Many generated paths: every policy replayed over each, and what each ends with across them.
//!
//! One path cannot tell a rule from luck: a policy that ends higher on one seed may end lower on
//! the next. [`run_seeds`] replays every policy over one scenario per seed, in parallel on the
//! cores there are (each path is independent, so rayon's work stealing spreads them), and
//! [`summarize`] reports the distribution of each policy's final value, its mean cost, turnover
//! and tracking error, and its paired difference against baselines on the same path (the
//! honest comparison: both policies saw the same prices, so the path's own luck cancels).
//!
//! Each run's figures stay `Decimal`, the paired differences included; only the statistics
//! across paths are `f64` (they are not money paths).

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::report::right;
use super::{run, BacktestError, PolicyResult, PolicyRun, RunOptions, Scenario};

/// Every policy's result on the path of one seed, in the order of the runs.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    pub results: Vec<PolicyResult>,
}

/// Replays `runs` over `scenario_of(seed)` for every seed of `seeds`, in parallel, and returns
/// the results in the order of `seeds`. Series are never kept (whatever
/// `options.record_series` says): a run over many paths keeps only each run's figures.
///
/// `path_done` is called once per finished path, from whichever thread finished it.
///
/// # Errors
/// The first [`BacktestError`] of any path, its field prefixed with the seed.
pub fn run_seeds<F>(
    seeds: &[u64],
    scenario_of: F,
    runs: &[PolicyRun],
    options: RunOptions,
    path_done: &(dyn Fn() + Sync),
) -> Result<Vec<SeedRun>, BacktestError>
where
    F: Fn(u64) -> Result<Scenario, BacktestError> + Sync,
{
    let options = RunOptions {
        record_series: false,
        ..options
    };
    seeds
        .par_iter()
        .map(|&seed| {
            let in_seed =
                |e: BacktestError| BacktestError::invalid(format!("seed {seed}"), e.to_string());
            let scenario = scenario_of(seed).map_err(in_seed)?;
            let results = run(&scenario, runs, options, &mut |_| {}).map_err(in_seed)?;
            path_done();
            Ok(SeedRun { seed, results })
        })
        .collect()
}

/// Mean, sample standard deviation and percentiles of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    pub mean: f64,
    /// Sample standard deviation (divided by n − 1; 0 for one value).
    pub std_dev: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
}

impl Distribution {
    /// The distribution of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            mean: mean(values)?,
            std_dev: std_dev(values)?,
            p5: percentile(&sorted, 5.0)?,
            p50: percentile(&sorted, 50.0)?,
            p95: percentile(&sorted, 95.0)?,
        })
    }
}

/// The arithmetic mean; `None` when there are no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample standard deviation (n − 1 in the denominator), 0 for a single value; `None` when
/// there are no values.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    if values.len() < 2 {
        return Some(0.0);
    }
    let squares: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((squares / (values.len() - 1) as f64).sqrt())
}

/// The `p`th percentile (0 to 100) of `sorted` (ascending), interpolated linearly between the
/// closest ranks (rank `p/100 × (n − 1)`, as numpy's default); `None` when there are no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p / 100.0).clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (*sorted.get(below)?, *sorted.get(above)?);
    Some(low + (high - low) * (rank - below as f64))
}

/// A policy's final value minus a baseline's on the same path, across paths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    /// The baseline policy's name.
    pub baseline: String,
    /// Mean, spread and percentiles of `final value − baseline's final value`, in the quote
    /// asset.
    pub difference: Distribution,
    /// Standard error of the mean difference (std_dev / √n): a mean difference within about
    /// two of these of zero is not told apart from luck by these paths.
    pub standard_error: f64,
    /// Share of paths (0 to 1) where the policy ended strictly above the baseline.
    pub share_above: f64,
}

/// What one policy did across every path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyAcrossPaths {
    pub name: String,
    /// Final value in the quote asset.
    pub final_value: Distribution,
    pub trades_mean: f64,
    pub cost_quote_mean: f64,
    pub cost_bps_of_equity_mean: f64,
    pub turnover_ratio_mean: f64,
    /// Mean of each path's tracking error, as a weight.
    pub tracking_error_mean: f64,
    /// Against each baseline, in the order given to [`summarize`].
    pub against: Vec<PairedDifference>,
}

/// Every policy across every path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcrossPaths {
    pub paths: usize,
    pub seeds: Vec<u64>,
    pub policies: Vec<PolicyAcrossPaths>,
}

fn float(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Aggregates `paths` per policy, with paired differences against each policy named in
/// `baselines`.
///
/// # Errors
/// [`BacktestError::Invalid`] when there are no paths, when a path's policies differ from the
/// first path's (by name and order), or when a baseline names no policy.
pub fn summarize(paths: &[SeedRun], baselines: &[&str]) -> Result<AcrossPaths, BacktestError> {
    let first = paths
        .first()
        .ok_or_else(|| BacktestError::invalid("seeds", "no paths to summarize"))?;
    let names: Vec<&str> = first.results.iter().map(|r| r.name.as_str()).collect();
    for path in paths {
        if !path
            .results
            .iter()
            .map(|r| r.name.as_str())
            .eq(names.iter().copied())
        {
            return Err(BacktestError::invalid(
                format!("seed {}", path.seed),
                "its policies differ from the first path's",
            ));
        }
    }
    let baseline_index = baselines
        .iter()
        .map(|b| {
            names
                .iter()
                .position(|n| n == b)
                .map(|i| (*b, i))
                .ok_or_else(|| BacktestError::invalid("baseline", format!("{b:?} is not a policy")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let column = |i: usize, f: &dyn Fn(&PolicyResult) -> f64| -> Vec<f64> {
        paths.iter().map(|p| f(&p.results[i])).collect()
    };
    let distribution = |values: &[f64]| {
        Distribution::of(values).ok_or_else(|| BacktestError::invalid("seeds", "no paths"))
    };
    let mean_of = |values: &[f64]| mean(values).unwrap_or(f64::NAN);
    let mut policies = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let mut against = Vec::with_capacity(baseline_index.len());
        for (baseline, b) in &baseline_index {
            // The difference is taken in Decimal on each path, then aggregated.
            let differences: Vec<Decimal> = paths
                .iter()
                .map(|p| p.results[i].final_value - p.results[*b].final_value)
                .collect();
            let floats: Vec<f64> = differences.iter().copied().map(float).collect();
            let difference = distribution(&floats)?;
            against.push(PairedDifference {
                baseline: (*baseline).to_owned(),
                difference,
                standard_error: difference.std_dev / (paths.len() as f64).sqrt(),
                share_above: differences.iter().filter(|d| **d > Decimal::ZERO).count() as f64
                    / paths.len() as f64,
            });
        }
        policies.push(PolicyAcrossPaths {
            name: (*name).to_owned(),
            final_value: distribution(&column(i, &|r| float(r.final_value)))?,
            trades_mean: mean_of(&column(i, &|r| r.trades as f64)),
            cost_quote_mean: mean_of(&column(i, &|r| float(r.cost_quote))),
            cost_bps_of_equity_mean: mean_of(&column(i, &|r| float(r.cost_bps_of_equity))),
            turnover_ratio_mean: mean_of(&column(i, &|r| float(r.turnover_ratio))),
            tracking_error_mean: mean_of(&column(i, &|r| r.tracking_error)),
            against,
        });
    }
    Ok(AcrossPaths {
        paths: paths.len(),
        seeds: paths.iter().map(|p| p.seed).collect(),
        policies,
    })
}

/// Two tables: each policy's final value and means across paths, then its paired differences
/// against the baselines.
pub fn render_seeds(summary: &AcrossPaths, quote: &str) -> String {
    let money = |v: f64| right(format!("{v:.2}"));
    let mut values = Table::new();
    values.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "policy".to_owned(),
        format!("final value mean ({quote})"),
        "std dev".to_owned(),
        "5%".to_owned(),
        "50%".to_owned(),
        "95%".to_owned(),
        "trades".to_owned(),
        format!("cost ({quote})"),
        "cost (bps of equity)".to_owned(),
        "turnover".to_owned(),
        "tracking error".to_owned(),
    ]);
    for p in &summary.policies {
        let v = &p.final_value;
        values.add_row(vec![
            Cell::new(&p.name),
            money(v.mean),
            money(v.std_dev),
            money(v.p5),
            money(v.p50),
            money(v.p95),
            right(format!("{:.0}", p.trades_mean)),
            money(p.cost_quote_mean),
            right(format!("{:.1}", p.cost_bps_of_equity_mean)),
            right(format!("{:.2}×", p.turnover_ratio_mean)),
            right(format!("{:.2} pp", p.tracking_error_mean * 100.0)),
        ]);
    }
    let mut paired = Table::new();
    let mut header = vec!["policy".to_owned()];
    for b in summary
        .policies
        .first()
        .map(|p| p.against.as_slice())
        .unwrap_or_default()
    {
        header.push(format!("− {} mean ± std dev (std error)", b.baseline));
        header.push("5% … 95%".to_owned());
        header.push(format!("above {}", b.baseline));
    }
    paired.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for p in &summary.policies {
        let mut row = vec![Cell::new(&p.name)];
        for d in &p.against {
            if d.baseline == p.name {
                row.extend(["–", "–", "–"].map(|s| right(s.to_owned())));
                continue;
            }
            let diff = &d.difference;
            row.push(right(format!(
                "{:+.2} ± {:.2} ({:.2})",
                diff.mean, diff.std_dev, d.standard_error
            )));
            row.push(right(format!("{:+.2} … {:+.2}", diff.p5, diff.p95)));
            row.push(right(format!("{:.0}%", d.share_above * 100.0)));
        }
        paired.add_row(row);
    }
    format!("{values}\nfinal value minus the baseline's on the same path ({quote})\n{paired}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::Schedule;
    use rust_decimal_macros::dec;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn mean_spread_and_percentiles_of_known_values() {
        let d = Distribution::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert!(close(d.mean, 3.0), "{d:?}");
        // Squares 4 + 1 + 0 + 1 + 4 = 10 over n − 1 = 4.
        assert!(close(d.std_dev, 2.5_f64.sqrt()), "{d:?}");
        assert!(close(d.p50, 3.0), "{d:?}");
        // Ranks 0.05 × 4 = 0.2 and 0.95 × 4 = 3.8, between sorted neighbours.
        assert!(close(d.p5, 1.2), "{d:?}");
        assert!(close(d.p95, 4.8), "{d:?}");
    }

    #[test]
    fn percentiles_interpolate_between_ranks_and_stay_within_the_values() {
        let sorted = [10.0, 20.0, 30.0, 40.0];
        assert!(close(percentile(&sorted, 0.0).unwrap(), 10.0));
        assert!(close(percentile(&sorted, 100.0).unwrap(), 40.0));
        assert!(close(percentile(&sorted, 50.0).unwrap(), 25.0));
        assert!(close(percentile(&sorted, 150.0).unwrap(), 40.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn one_value_has_no_spread_and_none_has_no_distribution() {
        let d = Distribution::of(&[7.5]).unwrap();
        assert_eq!((d.mean, d.std_dev, d.p5, d.p95), (7.5, 0.0, 7.5, 7.5));
        assert_eq!(Distribution::of(&[]), None);
        assert_eq!(mean(&[]), None);
    }

    fn result(name: &str, final_value: Decimal, cost: Decimal) -> PolicyResult {
        PolicyResult {
            final_value,
            cost_quote: cost,
            ..PolicyResult::empty(name.into(), Schedule::EveryStep)
        }
    }

    fn path(seed: u64, daily: Decimal, band: Decimal) -> SeedRun {
        SeedRun {
            seed,
            results: vec![
                result("calendar daily", daily, dec!(10)),
                result("driftline", band, dec!(1)),
            ],
        }
    }

    #[test]
    fn paired_differences_are_taken_on_the_same_path() {
        // The band ends above daily on two paths of three; its values alone spread far more
        // than the differences, which is what pairing removes.
        let paths = [
            path(1, dec!(1000), dec!(1010)),
            path(2, dec!(2000), dec!(2020)),
            path(3, dec!(3000), dec!(2970)),
        ];
        let s = summarize(&paths, &["calendar daily", "driftline"]).unwrap();
        assert_eq!(s.paths, 3);
        assert_eq!(s.seeds, vec![1, 2, 3]);
        let band = &s.policies[1];
        assert_eq!(band.name, "driftline");
        assert!(close(band.final_value.mean, 2000.0));
        // Deviations −990, 20, 970: squares 1,921,400 over n − 1 = 2.
        assert!(
            close(band.final_value.std_dev, 960_700.0_f64.sqrt()),
            "{band:?}"
        );
        assert!(close(band.cost_quote_mean, 1.0));
        let vs_daily = &band.against[0];
        assert_eq!(vs_daily.baseline, "calendar daily");
        // Differences 10, 20, −30: mean 0, squares 100 + 400 + 900 over 2.
        assert!(close(vs_daily.difference.mean, 0.0), "{vs_daily:?}");
        assert!(close(vs_daily.difference.std_dev, 700.0_f64.sqrt()));
        assert!(close(vs_daily.standard_error, (700.0_f64 / 3.0).sqrt()));
        assert!(close(vs_daily.share_above, 2.0 / 3.0));
        // Against itself: nothing, never above.
        let vs_self = &band.against[1];
        assert_eq!((vs_self.difference.mean, vs_self.share_above), (0.0, 0.0));
        let daily_vs_band = &s.policies[0].against[1];
        assert!(close(daily_vs_band.share_above, 1.0 / 3.0));
    }

    #[test]
    fn paths_with_other_policies_or_an_unknown_baseline_are_refused_by_name() {
        let mut odd = path(2, dec!(1), dec!(1));
        odd.results.reverse();
        let err = summarize(&[path(1, dec!(1), dec!(1)), odd], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "seed 2: its policies differ from the first path's"
        );
        let err = summarize(&[path(1, dec!(1), dec!(1))], &["monthly"]).unwrap_err();
        assert_eq!(err.to_string(), "baseline: \"monthly\" is not a policy");
        let err = summarize(&[], &[]).unwrap_err();
        assert_eq!(err.to_string(), "seeds: no paths to summarize");
    }

    #[test]
    fn the_tables_name_every_policy_and_baseline() {
        let paths = [
            path(1, dec!(1000), dec!(1010)),
            path(2, dec!(2000), dec!(1990)),
        ];
        let s = summarize(&paths, &["calendar daily"]).unwrap();
        let text = render_seeds(&s, "USDT");
        assert!(text.contains("final value mean (USDT)"), "{text}");
        assert!(text.contains("above calendar daily"), "{text}");
        assert!(text.contains("+0.00 ± 14.14 (10.00)"), "{text}");
        assert!(text.contains("50%"), "{text}");
    }
}
