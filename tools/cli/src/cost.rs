//! The monthly AWS bill of a driftline deployment, from a workload and the measured per-cycle
//! and per-order figures (docs/BENCHMARKS.md), at public on-demand prices. All arithmetic is
//! exact decimal; the result is rounded to cents only when shown.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Public on-demand prices, us-east-1, as listed on the AWS pricing pages (lambda, dynamodb,
/// sqs, secrets-manager, cloudwatch) in 2025; docs/BENCHMARKS.md lists them with their pages.
/// Free tiers are left out: the bill is what an account past them pays.
pub mod price {
    use super::*;
    /// Lambda, arm64, per GB-second (first 7.5 billion GB-s a month).
    pub const LAMBDA_ARM64_GB_SECOND: Decimal = dec!(0.0000133334);
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: Decimal = dec!(0.0000002);
    /// DynamoDB on-demand, per write request unit (0.625 USD per million, since 2024-11-01).
    pub const DYNAMODB_WRU: Decimal = dec!(0.000000625);
    /// DynamoDB on-demand, per read request unit (0.125 USD per million, since 2024-11-01).
    pub const DYNAMODB_RRU: Decimal = dec!(0.000000125);
    /// DynamoDB standard table class storage, per GB-month.
    pub const DYNAMODB_GB_MONTH: Decimal = dec!(0.25);
    /// SQS standard queue, per request (0.40 USD per million).
    pub const SQS_REQUEST: Decimal = dec!(0.0000004);
    /// Secrets Manager, per secret per month.
    pub const SECRET_MONTH: Decimal = dec!(0.40);
    /// Secrets Manager, per API call (0.05 USD per 10,000).
    pub const SECRET_CALL: Decimal = dec!(0.000005);
    /// CloudWatch custom metric (EMF), per metric per month (first 10,000).
    pub const METRIC_MONTH: Decimal = dec!(0.30);
    /// CloudWatch standard-resolution alarm, per alarm per month.
    pub const ALARM_MONTH: Decimal = dec!(0.10);
    /// CloudWatch Logs ingestion (standard class), per GB.
    pub const LOG_INGEST_GB: Decimal = dec!(0.50);
}

/// Hours in AWS's billing month.
const HOURS_PER_MONTH: Decimal = dec!(730);
const BYTES_PER_GB: Decimal = dec!(1073741824);

/// What the deployment does in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub portfolios: Decimal,
    /// Assets per portfolio: one `DriftPp` metric each.
    pub assets_per_portfolio: Decimal,
    /// Scheduler invocations a day (288 at the default five-minute period).
    pub cycles_per_day: Decimal,
    /// Orders placed a month.
    pub orders_per_month: Decimal,
}

/// What one scheduler cycle and one placed order cost in compute and requests, as measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub memory_mb: Decimal,
    /// Billed duration of one scheduler invocation per portfolio it plans, ms.
    pub scheduler_ms_per_portfolio: Decimal,
    /// Billed duration of one executor invocation, ms.
    pub executor_ms_per_invocation: Decimal,
    /// Executor invocations per placed order (placement plus follow-ups until final).
    pub executor_invocations_per_order: Decimal,
    /// DynamoDB request units per portfolio cycle (lease, config, ledger, history reads).
    pub cycle_rru: Decimal,
    pub cycle_wru: Decimal,
    /// DynamoDB request units per placed order over its whole life.
    pub order_rru: Decimal,
    pub order_wru: Decimal,
    /// SQS requests the functions make per placed order (sends, follow-ups, deletes).
    pub order_sqs_requests: Decimal,
    /// Requests of the SQS event source mapping's pollers a month (long polling, 20 s).
    pub poller_sqs_requests: Decimal,
    /// Log bytes per invocation (platform lines, EMF records, our logs).
    pub log_bytes_per_invocation: Decimal,
    /// Table storage, GB.
    pub stored_gb: Decimal,
    pub alarms: Decimal,
    /// Metrics besides the per-portfolio and per-asset ones.
    pub fixed_metrics: Decimal,
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub service: &'static str,
    pub item: &'static str,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub monthly_usd: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub lines: Vec<Line>,
}

impl Bill {
    pub fn total(&self) -> Decimal {
        self.lines.iter().map(|l| l.monthly_usd).sum()
    }
}

fn line(service: &'static str, item: &'static str, quantity: Decimal, unit_price: Decimal) -> Line {
    Line {
        service,
        item,
        quantity,
        unit_price,
        monthly_usd: quantity * unit_price,
    }
}

/// The monthly bill of `workload` with `measured` per-cycle and per-order figures.
pub fn monthly_bill(workload: &Workload, m: &Measured) -> Bill {
    let days = HOURS_PER_MONTH / dec!(24);
    let cycles = workload.cycles_per_day * days;
    let portfolio_cycles = cycles * workload.portfolios;
    let executor_invocations = workload.orders_per_month * m.executor_invocations_per_order;
    let invocations = cycles + executor_invocations;
    let gb = m.memory_mb / dec!(1024);
    let gb_seconds = (portfolio_cycles * m.scheduler_ms_per_portfolio
        + executor_invocations * m.executor_ms_per_invocation)
        / dec!(1000)
        * gb;
    let rru = portfolio_cycles * m.cycle_rru + workload.orders_per_month * m.order_rru;
    let wru = portfolio_cycles * m.cycle_wru + workload.orders_per_month * m.order_wru;
    let sqs = workload.orders_per_month * m.order_sqs_requests + m.poller_sqs_requests;
    // One secret per exchange account; a call per invocation at most (the cache keeps it for
    // five minutes within a container).
    let secrets = workload.portfolios;
    let metrics =
        workload.portfolios * workload.assets_per_portfolio + workload.portfolios + m.fixed_metrics;
    let log_gb = invocations * m.log_bytes_per_invocation / BYTES_PER_GB;
    // One row per line of the bill: service, item, quantity a month, unit price. Kept one row a
    // line, as a table reads.
    #[rustfmt::skip]
    let rows = [
        ("Lambda", "requests", invocations, price::LAMBDA_REQUEST),
        ("Lambda", "arm64 GB-seconds", gb_seconds, price::LAMBDA_ARM64_GB_SECOND),
        ("DynamoDB", "write request units", wru, price::DYNAMODB_WRU),
        ("DynamoDB", "read request units", rru, price::DYNAMODB_RRU),
        ("DynamoDB", "storage GB-month", m.stored_gb, price::DYNAMODB_GB_MONTH),
        ("SQS", "requests", sqs, price::SQS_REQUEST),
        ("Secrets Manager", "secrets", secrets, price::SECRET_MONTH),
        ("Secrets Manager", "API calls", invocations, price::SECRET_CALL),
        ("CloudWatch", "custom metrics", metrics, price::METRIC_MONTH),
        ("CloudWatch", "alarms", m.alarms, price::ALARM_MONTH),
        ("CloudWatch", "log ingestion GB", log_gb, price::LOG_INGEST_GB),
    ];
    Bill {
        lines: rows
            .into_iter()
            .map(|(service, item, quantity, unit_price)| line(service, item, quantity, unit_price))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> (Workload, Measured) {
        (
            Workload {
                portfolios: dec!(12),
                assets_per_portfolio: dec!(10),
                cycles_per_day: dec!(288),
                orders_per_month: dec!(15400),
            },
            Measured {
                memory_mb: dec!(128),
                scheduler_ms_per_portfolio: dec!(100),
                executor_ms_per_invocation: dec!(50),
                executor_invocations_per_order: dec!(2),
                cycle_rru: dec!(3),
                cycle_wru: dec!(2),
                order_rru: dec!(2),
                order_wru: dec!(4),
                order_sqs_requests: dec!(3),
                poller_sqs_requests: dec!(648000),
                log_bytes_per_invocation: dec!(2048),
                stored_gb: dec!(1),
                alarms: dec!(8),
                fixed_metrics: dec!(12),
            },
        )
    }

    #[test]
    fn every_line_is_quantity_times_price_and_the_total_is_their_sum() {
        let (w, m) = article();
        let bill = monthly_bill(&w, &m);
        // 288 × 30.416… days + 15,400 × 2 invocations.
        let requests = &bill.lines[0];
        assert_eq!(requests.quantity, dec!(8760) + dec!(30800));
        assert_eq!(requests.monthly_usd, dec!(39560) * dec!(0.0000002));
        // GB-s: 105,120 portfolio cycles × 0.1 s + 30,800 × 0.05 s, at 1/8 GB.
        let gb_s = &bill.lines[1];
        assert_eq!(gb_s.quantity, (dec!(10512) + dec!(1540)) / dec!(8));
        // Metrics: 120 DriftPp + 12 CyclesCompleted + 12 others.
        assert_eq!(bill.lines[8].quantity, dec!(144));
        assert_eq!(bill.lines[8].monthly_usd, dec!(43.2));
        let sum: Decimal = bill.lines.iter().map(|l| l.monthly_usd).sum();
        assert_eq!(bill.total(), sum);
        // The article's workload stays far below its 295 USD a month.
        assert!(bill.total() < dec!(60), "{}", bill.total());
    }

    #[test]
    fn twice_the_orders_cost_more_but_less_than_twice() {
        let (w, m) = article();
        let once = monthly_bill(&w, &m).total();
        let twice = monthly_bill(
            &Workload {
                orders_per_month: w.orders_per_month * dec!(2),
                ..w
            },
            &m,
        )
        .total();
        assert!(twice > once && twice < once * dec!(2));
    }
}
