//! Metrics in CloudWatch embedded metric format (EMF): one JSON line per record on stdout,
//! which CloudWatch Logs turns into metrics without an API call from the Lambda.
//!
//! Structure (published specification): a root object with `_aws` =
//! `{Timestamp: epoch ms, CloudWatchMetrics: [{Namespace, Dimensions: [[names]], Metrics:
//! [{Name, Unit}]}]}`, and every dimension (string) and metric value (number) as a root member
//! of the same name.

use std::io::{self, Write};

use driftline_core::{EpochMillis, OrderStatus};
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

/// What one executed order reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionMetrics<'a> {
    pub portfolio: &'a str,
    pub symbol: &'a str,
    /// From claim to final state.
    pub latency_ms: i64,
    /// Filled quantity over ordered quantity, 0 to 1.
    pub fill_ratio: Decimal,
    /// Average fill price against the plan's reference price, in basis points (positive:
    /// worse than reference).
    pub slippage_bps: Decimal,
    /// Slippage over the slippage budget, in percent.
    pub slippage_budget_utilisation_pct: Decimal,
}

/// Writes driftline's metrics as EMF lines.
pub struct MetricsEmitter<W: Write> {
    namespace: String,
    out: W,
}

impl MetricsEmitter<io::Stdout> {
    /// Lambda sends stdout to CloudWatch Logs, where EMF lines become metrics.
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::new(namespace, io::stdout())
    }
}

impl<W: Write> MetricsEmitter<W> {
    pub fn new(namespace: impl Into<String>, out: W) -> Self {
        Self {
            namespace: namespace.into(),
            out,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// # Errors
    /// As [`emf_line`], or [`MetricsError::Io`] if the line cannot be written.
    pub fn emit(
        &mut self,
        timestamp_ms: EpochMillis,
        dimensions: &[(&str, &str)],
        metrics: &[Metric],
    ) -> Result<(), MetricsError> {
        let line = emf_line(&self.namespace, timestamp_ms, dimensions, metrics)?;
        writeln!(self.out, "{line}").map_err(|e| MetricsError::Io(e.to_string()))
    }

    /// An asset's drift from target, in basis points of portfolio weight.
    ///
    /// # Errors
    /// As [`MetricsEmitter::emit`].
    pub fn drift(
        &mut self,
        ts: EpochMillis,
        portfolio: &str,
        asset: &str,
        drift_bps: Decimal,
    ) -> Result<(), MetricsError> {
        self.emit(
            ts,
            &[("Portfolio", portfolio), ("Asset", asset)],
            &[Metric {
                name: "DriftBps",
                unit: Unit::None,
                value: drift_bps,
            }],
        )
    }

    /// # Errors
    /// As [`MetricsEmitter::emit`].
    pub fn execution(
        &mut self,
        ts: EpochMillis,
        e: &ExecutionMetrics<'_>,
    ) -> Result<(), MetricsError> {
        self.emit(
            ts,
            &[("Portfolio", e.portfolio), ("Symbol", e.symbol)],
            &[
                Metric {
                    name: "ExecutionLatency",
                    unit: Unit::Milliseconds,
                    value: Decimal::from(e.latency_ms),
                },
                Metric {
                    name: "FillRatio",
                    unit: Unit::None,
                    value: e.fill_ratio,
                },
                Metric {
                    name: "SlippageBps",
                    unit: Unit::None,
                    value: e.slippage_bps,
                },
                Metric {
                    name: "SlippageBudgetUtilisation",
                    unit: Unit::Percent,
                    value: e.slippage_budget_utilisation_pct,
                },
            ],
        )
    }

    /// One order reaching `outcome`.
    ///
    /// # Errors
    /// As [`MetricsEmitter::emit`].
    pub fn order_outcome(
        &mut self,
        ts: EpochMillis,
        portfolio: &str,
        outcome: OrderStatus,
    ) -> Result<(), MetricsError> {
        self.emit(
            ts,
            &[("Portfolio", portfolio), ("Outcome", outcome.as_str())],
            &[Metric {
                name: "Orders",
                unit: Unit::Count,
                value: Decimal::ONE,
            }],
        )
    }

    /// One answer of the exchange saying "slow down" (429, 418).
    ///
    /// # Errors
    /// As [`MetricsEmitter::emit`].
    pub fn rate_limit_hit(&mut self, ts: EpochMillis, exchange: &str) -> Result<(), MetricsError> {
        self.emit(
            ts,
            &[("Exchange", exchange)],
            &[Metric {
                name: "RateLimitHits",
                unit: Unit::Count,
                value: Decimal::ONE,
            }],
        )
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

    #[test]
    fn every_driftline_metric_is_a_valid_emf_line() {
        let mut m = MetricsEmitter::new("driftline", Vec::new());
        m.drift(1_700_000_000_000, "p1", "BTC", dec!(-12.5))
            .unwrap();
        m.execution(
            1_700_000_000_001,
            &ExecutionMetrics {
                portfolio: "p1",
                symbol: "BTC/USDT",
                latency_ms: 840,
                fill_ratio: dec!(0.75),
                slippage_bps: dec!(3.20),
                slippage_budget_utilisation_pct: dec!(64),
            },
        )
        .unwrap();
        m.order_outcome(1_700_000_000_002, "p1", OrderStatus::Filled)
            .unwrap();
        m.rate_limit_hit(1_700_000_000_003, "binance").unwrap();
        let out = lines(m.into_inner());
        assert_eq!(out.len(), 4);
        let roots: Vec<_> = out.iter().map(|l| assert_emf(l)).collect();
        assert_eq!(roots[0]["DriftBps"], json!(-12.5));
        assert_eq!(roots[0]["Asset"], json!("BTC"));
        assert_eq!(roots[1]["FillRatio"], json!(0.75));
        assert_eq!(roots[1]["ExecutionLatency"], json!(840));
        assert_eq!(roots[1]["SlippageBps"], json!(3.2));
        assert_eq!(roots[2]["Outcome"], json!("FILLED"));
        assert_eq!(roots[2]["Orders"], json!(1));
        assert_eq!(roots[3]["RateLimitHits"], json!(1));
        assert_eq!(roots[3]["_aws"]["Timestamp"], json!(1_700_000_000_003_i64));
        assert_eq!(
            roots[3]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Exchange"]])
        );
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
