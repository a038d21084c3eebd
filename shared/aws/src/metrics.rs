//! Metrics in CloudWatch embedded metric format (EMF): one JSON line per record on stdout,
//! which CloudWatch Logs turns into metrics without an API call from the Lambda.
//!
//! Structure (published specification): a root object with `_aws` =
//! `{Timestamp: epoch ms, CloudWatchMetrics: [{Namespace, Dimensions: [[names]], Metrics:
//! [{Name, Unit}]}]}`, and every dimension (string) and metric value (number) as a root member
//! of the same name.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use driftline_core::orders::ExecutionQuality;
use driftline_core::ports::{Clock, MetricsSink};
use driftline_core::{Asset, EpochMillis, OrderStatus, PortfolioId};
use rust_decimal::Decimal;
use serde_json::{json, Map, Number, Value};
use thiserror::Error;

/// The units driftline reports in (a subset of CloudWatch's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Percent,
    /// Dimensionless (ratios, basis points).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Percent => "Percent",
            Self::None => "None",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricsError {
    #[error("EMF record invalid: {field} {value:?}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("writing metrics failed: {0}")]
    Io(String),
}

/// EMF's limits.
const MAX_DIMENSIONS: usize = 30;
const MAX_METRICS: usize = 100;
const MAX_NAME: usize = 255;

/// One EMF record as a JSON line (without the newline).
///
/// # Errors
/// [`MetricsError::Invalid`] for an empty or over-long namespace or name, more than 30
/// dimensions or 100 metrics, or a dimension and a metric of the same name.
pub fn emf_line(
    namespace: &str,
    timestamp_ms: EpochMillis,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
) -> Result<String, MetricsError> {
    let invalid = |field, value: &str, reason| MetricsError::Invalid {
        field,
        value: value.to_owned(),
        reason,
    };
    let name_ok = |n: &str| !n.is_empty() && n.len() <= MAX_NAME;
    if !name_ok(namespace) {
        return Err(invalid(
            "namespace",
            namespace,
            "must be 1 to 255 characters",
        ));
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(invalid("dimensions", "", "at most 30 per record"));
    }
    if metrics.is_empty() || metrics.len() > MAX_METRICS {
        return Err(invalid("metrics", "", "1 to 100 per record"));
    }
    let mut root = Map::new();
    for (name, value) in dimensions {
        if !name_ok(name) || name.starts_with('_') {
            return Err(invalid(
                "dimension name",
                name,
                "1 to 255 characters, not starting with _",
            ));
        }
        root.insert((*name).to_owned(), Value::String((*value).to_owned()));
    }
    let mut definitions = Vec::with_capacity(metrics.len());
    for m in metrics {
        if !name_ok(m.name) || m.name.starts_with('_') {
            return Err(invalid(
                "metric name",
                m.name,
                "1 to 255 characters, not starting with _",
            ));
        }
        if root.contains_key(m.name) {
            return Err(invalid(
                "metric name",
                m.name,
                "repeats a dimension or metric name",
            ));
        }
        // A plain decimal string is valid JSON number syntax; no float arithmetic on the way.
        let number: Number =
            m.value.normalize().to_string().parse().map_err(|_| {
                invalid("metric value", m.name, "not representable as a JSON number")
            })?;
        root.insert(m.name.to_owned(), Value::Number(number));
        definitions.push(json!({"Name": m.name, "Unit": m.unit.as_str()}));
    }
    let dimension_names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_names],
                "Metrics": definitions,
            }],
        }),
    );
    Ok(Value::Object(root).to_string())
}

/// driftline's metrics (names and dimensions as in docs/ARCHITECTURE.md, "Runtime contract") as
/// EMF lines on a writer: stdout in Lambda, where CloudWatch Logs turns them into metrics.
pub struct EmfMetrics<W: Write + Send> {
    namespace: String,
    out: Mutex<W>,
    clock: Arc<dyn Clock>,
}

impl EmfMetrics<io::Stdout> {
    pub fn stdout(namespace: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self::new(namespace, io::stdout(), clock)
    }
}

impl<W: Write + Send> EmfMetrics<W> {
    pub fn new(namespace: impl Into<String>, out: W, clock: Arc<dyn Clock>) -> Self {
        Self {
            namespace: namespace.into(),
            out: Mutex::new(out),
            clock,
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// # Errors
    /// As [`emf_line`], or [`MetricsError::Io`] if the line cannot be written.
    pub fn emit(
        &self,
        dimensions: &[(&str, &str)],
        metrics: &[Metric],
    ) -> Result<(), MetricsError> {
        let line = emf_line(&self.namespace, self.clock.now_ms(), dimensions, metrics)?;
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(out, "{line}").map_err(|e| MetricsError::Io(e.to_string()))
    }

    /// Metrics never fail an order: a record that cannot be written is logged and dropped.
    fn record(&self, dimensions: &[(&str, &str)], metrics: &[Metric]) {
        if let Err(e) = self.emit(dimensions, metrics) {
            tracing::warn!(error = %e, "metric dropped");
        }
    }
}

fn count(name: &'static str) -> Metric {
    Metric {
        name,
        unit: Unit::Count,
        value: Decimal::ONE,
    }
}

impl<W: Write + Send> MetricsSink for EmfMetrics<W> {
    fn drift(&self, portfolio: &PortfolioId, asset: &Asset, drift_pp: Decimal) {
        let metric = Metric {
            name: "DriftPp",
            unit: Unit::None,
            value: drift_pp.round_dp(6),
        };
        self.record(
            &[("Portfolio", portfolio.as_str()), ("Asset", asset.as_str())],
            &[metric],
        );
    }

    fn cycle_completed(&self, portfolio: &PortfolioId) {
        // Per portfolio for the dashboard; without dimensions for the missed-cycles alarm.
        self.record(
            &[("Portfolio", portfolio.as_str())],
            &[count("CyclesCompleted")],
        );
        self.record(&[], &[count("CyclesCompleted")]);
    }

    fn execution_attempt(&self, failed: bool, latency_ms: Option<i64>) {
        let mut metrics = vec![count("ExecutionAttempts")];
        if failed {
            metrics.push(count("ExecutionFailures"));
        }
        if let Some(ms) = latency_ms {
            metrics.push(Metric {
                name: "ExecutionLatencyMs",
                unit: Unit::Milliseconds,
                value: Decimal::from(ms),
            });
        }
        self.record(&[], &metrics);
    }

    fn order_final(&self, status: OrderStatus, quality: &ExecutionQuality) {
        self.record(&[("Outcome", status.as_str())], &[count("OrdersByOutcome")]);
        let mut metrics = vec![Metric {
            name: "FillRatio",
            unit: Unit::None,
            value: quality.fill_ratio.round_dp(6),
        }];
        if let Some(bps) = quality.slippage_bps {
            metrics.push(Metric {
                name: "SlippageBps",
                unit: Unit::None,
                value: bps.round_dp(4),
            });
        }
        if let Some(pct) = quality.budget_utilisation_pct {
            metrics.push(Metric {
                name: "SlippageBudgetUtilisation",
                unit: Unit::Percent,
                value: pct.round_dp(4),
            });
        }
        if !quality.fill_ratio.is_zero() {
            metrics.push(Metric {
                name: "FeesQuote",
                unit: Unit::None,
                value: quality.fees_quote.round_dp(8),
            });
        }
        self.record(&[], &metrics);
    }

    fn rate_limit_hit(&self) {
        self.record(&[], &[count("RateLimitHits")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Checks a line against the published EMF structure; returns the parsed root.
    fn assert_emf(line: &str) -> Map<String, Value> {
        let v: Value = serde_json::from_str(line).unwrap();
        let root = v.as_object().unwrap().clone();
        let aws = root["_aws"].as_object().unwrap();
        assert!(aws["Timestamp"].is_i64(), "Timestamp is integer epoch ms");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = directives[0].as_object().unwrap();
        assert!(!d["Namespace"].as_str().unwrap().is_empty());
        for set in d["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                let name = name.as_str().unwrap();
                assert!(root[name].is_string(), "dimension {name} is a root string");
            }
        }
        let metrics = d["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty());
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(root[name].is_number(), "metric {name} is a root number");
            assert!(
                ["Count", "Milliseconds", "Percent", "None"].contains(&m["Unit"].as_str().unwrap())
            );
        }
        root
    }

    fn lines(buf: Vec<u8>) -> Vec<String> {
        String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    struct At(EpochMillis);
    impl Clock for At {
        fn now_ms(&self) -> EpochMillis {
            self.0
        }
    }

    #[test]
    fn every_driftline_metric_is_a_valid_emf_line_with_the_contract_names() {
        let m = EmfMetrics::new("Driftline", Vec::new(), Arc::new(At(1_700_000_000_000)));
        let p = PortfolioId::new("p1").unwrap();
        m.drift(&p, &Asset::new("BTC").unwrap(), dec!(-1.25));
        m.cycle_completed(&p);
        m.execution_attempt(true, Some(840));
        m.order_final(
            OrderStatus::Filled,
            &ExecutionQuality {
                fill_ratio: dec!(0.75),
                slippage_bps: Some(dec!(3.20)),
                budget_utilisation_pct: Some(dec!(64)),
                fees_quote: dec!(5.17719753),
            },
        );
        m.rate_limit_hit();
        let out = lines(m.into_inner());
        assert_eq!(out.len(), 7);
        let roots: Vec<_> = out.iter().map(|l| assert_emf(l)).collect();
        assert_eq!(roots[0]["DriftPp"], json!(-1.25));
        assert_eq!(roots[0]["Asset"], json!("BTC"));
        assert_eq!(
            roots[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            json!("Driftline")
        );
        assert_eq!(roots[1]["CyclesCompleted"], json!(1));
        assert_eq!(
            roots[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Portfolio"]])
        );
        assert_eq!(
            roots[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(roots[3]["ExecutionAttempts"], json!(1));
        assert_eq!(roots[3]["ExecutionFailures"], json!(1));
        assert_eq!(roots[3]["ExecutionLatencyMs"], json!(840));
        assert_eq!(roots[4]["Outcome"], json!("FILLED"));
        assert_eq!(roots[4]["OrdersByOutcome"], json!(1));
        assert_eq!(roots[5]["FillRatio"], json!(0.75));
        assert_eq!(roots[5]["SlippageBps"], json!(3.2));
        assert_eq!(roots[5]["SlippageBudgetUtilisation"], json!(64));
        assert_eq!(roots[5]["FeesQuote"], json!(5.17719753));
        assert_eq!(roots[6]["RateLimitHits"], json!(1));
        assert_eq!(roots[6]["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
    }

    #[test]
    fn invalid_records_are_refused_naming_the_field() {
        let one = [Metric {
            name: "X",
            unit: Unit::Count,
            value: Decimal::ONE,
        }];
        let err = emf_line("", 0, &[], &one).unwrap_err().to_string();
        assert!(err.contains("namespace"), "{err}");
        let err = emf_line("ns", 0, &[("X", "a")], &one)
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeats"), "{err}");
        let err = emf_line("ns", 0, &[], &[]).unwrap_err().to_string();
        assert!(err.contains("metrics"), "{err}");
        let err = emf_line("ns", 0, &[("_aws", "a")], &one)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimension name"), "{err}");
    }
}
