//! Metrics in CloudWatch embedded metric format (EMF): one JSON line per record on stdout,
//! which CloudWatch Logs turns into metrics without an API call from the Lambda.
//!
//! Structure (published specification): a root object with `_aws` =
//! `{Timestamp: epoch ms, CloudWatchMetrics: [{Namespace, Dimensions: [[]], Metrics: [{Name,
//! Unit}]}]}`, and every metric value (number) as a root member of the same name.
//!
//! Designed for cost: CloudWatch bills each metric name × dimension set, so driftline emits
//! the fixed set [`METRICS`], without dimensions, whatever the number of portfolios and assets.
//! What is per portfolio, asset or order (`Portfolio`, `Asset`, `Outcome`, `FillRatio`, ...)
//! goes in the same line as a property: a root member no directive names, which makes no
//! metric and which CloudWatch Logs Insights queries (the dashboard's per-portfolio widgets).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use driftline_core::orders::ExecutionQuality;
use driftline_core::ports::{Clock, MetricsSink};
use driftline_core::{Asset, EpochMillis, OrderStatus, PortfolioId};
use rust_decimal::Decimal;
use serde_json::{json, Map, Number, Value};
use thiserror::Error;

/// Every metric driftline emits (namespace `DRIFTLINE_METRICS_NAMESPACE`), each without
/// dimensions: the whole of what CloudWatch bills as custom metrics. The alarms watch
/// `CyclesCompleted`, `ExecutionAttempts`, `ExecutionFailures` and `SlippageBps`
/// (infra/lib/contract.ts names the same set).
pub const METRICS: [&str; 7] = [
    "CyclesCompleted",
    "DriftPp",
    "ExecutionAttempts",
    "ExecutionFailures",
    "ExecutionLatencyMs",
    "RateLimitHits",
    "SlippageBps",
];

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

/// A property of a record: detail Logs Insights queries, never a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property<'a> {
    Text(&'a str),
    Number(Decimal),
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
const MAX_METRICS: usize = 100;
const MAX_NAME: usize = 255;

/// One record as a JSON line (without the newline): `properties` and `metrics` as root
/// members, and the EMF directive naming the metrics. A record without metrics is a plain JSON
/// line, which Logs Insights reads the same way and which makes no metric.
///
/// # Errors
/// [`MetricsError::Invalid`] for an empty or over-long namespace or name, more than 100
/// metrics, a name used twice, or a value JSON cannot hold.
pub fn emf_line(
    namespace: &str,
    timestamp_ms: EpochMillis,
    properties: &[(&str, Property<'_>)],
    metrics: &[Metric],
) -> Result<String, MetricsError> {
    let invalid = |field, value: &str, reason| MetricsError::Invalid {
        field,
        value: value.to_owned(),
        reason,
    };
    let name_ok = |n: &str| !n.is_empty() && n.len() <= MAX_NAME && !n.starts_with('_');
    if namespace.is_empty() || namespace.len() > MAX_NAME {
        return Err(invalid(
            "namespace",
            namespace,
            "must be 1 to 255 characters",
        ));
    }
    if metrics.len() > MAX_METRICS {
        return Err(invalid("metrics", "", "at most 100 per record"));
    }
    // A plain decimal string is valid JSON number syntax; no float arithmetic on the way.
    let number = |name: &str, value: Decimal| -> Result<Value, MetricsError> {
        value
            .normalize()
            .to_string()
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|_| invalid("value", name, "not representable as a JSON number"))
    };
    let mut root = Map::new();
    let entries = properties
        .iter()
        .map(|(name, p)| (*name, "property name", p.clone()))
        .chain(
            metrics
                .iter()
                .map(|m| (m.name, "metric name", Property::Number(m.value))),
        );
    for (name, field, value) in entries {
        if !name_ok(name) {
            return Err(invalid(
                field,
                name,
                "1 to 255 characters, not starting with _",
            ));
        }
        let value = match value {
            Property::Text(t) => Value::String(t.to_owned()),
            Property::Number(d) => number(name, d)?,
        };
        if root.insert(name.to_owned(), value).is_some() {
            return Err(invalid(field, name, "repeats a property or metric name"));
        }
    }
    if !metrics.is_empty() {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [[]],
                    "Metrics": definitions,
                }],
            }),
        );
    }
    Ok(Value::Object(root).to_string())
}

/// driftline's metrics ([`METRICS`]; docs/ARCHITECTURE.md, "Runtime contract") as EMF lines
/// on a writer: stdout in Lambda, where CloudWatch Logs turns them into metrics.
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
        properties: &[(&str, Property<'_>)],
        metrics: &[Metric],
    ) -> Result<(), MetricsError> {
        let line = emf_line(&self.namespace, self.clock.now_ms(), properties, metrics)?;
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(out, "{line}").map_err(|e| MetricsError::Io(e.to_string()))
    }

    /// Metrics never fail an order: a record that cannot be written is logged and dropped.
    fn record(&self, properties: &[(&str, Property<'_>)], metrics: &[Metric]) {
        if let Err(e) = self.emit(properties, metrics) {
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
            &[
                ("Portfolio", Property::Text(portfolio.as_str())),
                ("Asset", Property::Text(asset.as_str())),
            ],
            &[metric],
        );
    }

    fn cycle_completed(&self, portfolio: &PortfolioId) {
        self.record(
            &[("Portfolio", Property::Text(portfolio.as_str()))],
            &[count("CyclesCompleted")],
        );
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
        let mut properties = vec![
            ("Outcome", Property::Text(status.as_str())),
            (
                "FillRatio",
                Property::Number(quality.fill_ratio.round_dp(6)),
            ),
        ];
        if let Some(pct) = quality.budget_utilisation_pct {
            properties.push((
                "SlippageBudgetUtilisation",
                Property::Number(pct.round_dp(4)),
            ));
        }
        if !quality.fill_ratio.is_zero() {
            properties.push((
                "FeesQuote",
                Property::Number(quality.fees_quote.round_dp(8)),
            ));
        }
        let metrics: Vec<Metric> = quality
            .slippage_bps
            .map(|bps| Metric {
                name: "SlippageBps",
                unit: Unit::None,
                value: bps.round_dp(4),
            })
            .into_iter()
            .collect();
        self.record(&properties, &metrics);
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
        // No dimensions: one metric per name, whatever the portfolios and assets.
        assert_eq!(d["Dimensions"], json!([[]]));
        let metrics = d["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty());
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(METRICS.contains(&name), "{name} is one of METRICS");
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
    fn every_driftline_metric_is_a_valid_emf_line_with_the_detail_as_properties() {
        let m = EmfMetrics::new("Driftline", Vec::new(), Arc::new(At(1_700_000_000_000)));
        let p = PortfolioId::new("p1").unwrap();
        m.drift(&p, &Asset::new("BTC").unwrap(), dec!(-1.25));
        m.cycle_completed(&p);
        m.execution_attempt(true, Some(840));
        let quality = ExecutionQuality {
            fill_ratio: dec!(0.75),
            slippage_bps: Some(dec!(3.20)),
            budget_utilisation_pct: Some(dec!(64)),
            fees_quote: dec!(5.17719753),
        };
        m.order_final(OrderStatus::Filled, &quality);
        m.rate_limit_hit();
        // An order that filled nothing has no slippage: its line carries properties only.
        let unfilled = ExecutionQuality {
            fill_ratio: dec!(0),
            slippage_bps: None,
            budget_utilisation_pct: None,
            fees_quote: dec!(0),
        };
        m.order_final(OrderStatus::Expired, &unfilled);
        let out = lines(m.into_inner());
        assert_eq!(out.len(), 6);
        let roots: Vec<_> = out[..5].iter().map(|l| assert_emf(l)).collect();
        assert_eq!(roots[0]["DriftPp"], json!(-1.25));
        assert_eq!(roots[0]["Asset"], json!("BTC"));
        assert_eq!(roots[0]["Portfolio"], json!("p1"));
        assert_eq!(
            roots[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            json!("Driftline")
        );
        assert_eq!(roots[1]["CyclesCompleted"], json!(1));
        assert_eq!(roots[1]["Portfolio"], json!("p1"));
        assert_eq!(roots[2]["ExecutionAttempts"], json!(1));
        assert_eq!(roots[2]["ExecutionFailures"], json!(1));
        assert_eq!(roots[2]["ExecutionLatencyMs"], json!(840));
        assert_eq!(roots[3]["Outcome"], json!("FILLED"));
        assert_eq!(roots[3]["FillRatio"], json!(0.75));
        assert_eq!(roots[3]["SlippageBps"], json!(3.2));
        assert_eq!(roots[3]["SlippageBudgetUtilisation"], json!(64));
        assert_eq!(roots[3]["FeesQuote"], json!(5.17719753));
        assert_eq!(
            roots[3]["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "SlippageBps", "Unit": "None"}]),
            "the order's detail makes no metric"
        );
        assert_eq!(roots[4]["RateLimitHits"], json!(1));
        assert_eq!(roots[4]["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
        let plain: Value = serde_json::from_str(&out[5]).unwrap();
        assert_eq!(
            plain,
            json!({"Outcome": "EXPIRED", "FillRatio": 0}),
            "no _aws: no metric"
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
        let err = emf_line("ns", 0, &[("X", Property::Text("a"))], &one)
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeats"), "{err}");
        let err = emf_line("ns", 0, &[("_aws", Property::Text("a"))], &one)
            .unwrap_err()
            .to_string();
        assert!(err.contains("property name"), "{err}");
    }
}
