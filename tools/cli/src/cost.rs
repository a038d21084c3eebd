//! The monthly AWS bill of a driftline deployment, from a workload, the deployed settings and
//! what the counting run measured, at public on-demand prices. All arithmetic is exact decimal;
//! the result is rounded to cents only when shown.
//!
//! The per-cycle and per-order figures are not typed in: the counting run
//! (`tests/tests/accounting.rs`, `the_counting_run_is_what_driftline_cost_bills`) counts every
//! AWS call the real handlers make on the emulator and checks them against
//! `tools/cli/measured/counting-run.json`, which this module reads at build time.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

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

/// What the counting run measured: the calls the functions make, by AWS operation
/// (`DynamoDB.Query`, `SQS.SendMessageBatch`, ...), and the metrics CloudWatch creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountingRun {
    /// Portfolios the run planned, and orders it placed (and filled).
    pub portfolios: u32,
    pub orders: u32,
    /// AWS calls per portfolio and cycle that trades nothing (most cycles), by operation.
    pub idle_cycle_calls: BTreeMap<String, Decimal>,
    /// AWS calls per placed order over its life, by operation: its share of the cycle that
    /// planned it beyond an idle one, its placement and its follow-ups until it filled.
    pub order_calls: BTreeMap<String, Decimal>,
    /// Executor invocations per placed order (its placement and follow-ups).
    pub executor_invocations_per_order: Decimal,
    /// Custom metrics (name × dimension set) the run's EMF lines create, the same for any
    /// number of portfolios and assets.
    pub metrics: u32,
    /// Exchange request weight per portfolio and idle cycle, exchangeInfo aside (read once
    /// per venue address and markets TTL, whatever the number of accounts). Zero in runs
    /// recorded before it was measured.
    #[serde(default)]
    pub idle_cycle_weight: Decimal,
    /// Exchange request weight per placed order over its life, counted as `order_calls` are,
    /// exchangeInfo aside.
    #[serde(default)]
    pub order_weight: Decimal,
}

/// The committed counting run.
pub const COUNTING_RUN_JSON: &str = include_str!("../measured/counting-run.json");

impl CountingRun {
    /// The committed counting run.
    ///
    /// # Errors
    /// The JSON error when the committed file does not parse (a bug the counting test catches).
    pub fn committed() -> Result<Self, serde_json::Error> {
        serde_json::from_str(COUNTING_RUN_JSON)
    }
}

/// Request units one call consumes, for driftline's items (each under 1 KB, so a write unit per
/// item written; every read strongly consistent and under 4 KB, a read unit per item or
/// page): `BatchGetItem` reads the kill switch and the breaker (two items). The units of
/// `TransactWriteItems` (a cycle's `PENDING` records, an order's claim) are counted per order
/// in [`monthly_bill`]: what each transaction holds, not how often it is sent.
fn request_units(operation: &str, calls: Decimal) -> (Decimal, Decimal) {
    match operation {
        "DynamoDB.GetItem" | "DynamoDB.Query" => (calls, Decimal::ZERO),
        "DynamoDB.BatchGetItem" => (calls * dec!(2), Decimal::ZERO),
        "DynamoDB.PutItem" | "DynamoDB.UpdateItem" | "DynamoDB.DeleteItem" => {
            (Decimal::ZERO, calls)
        }
        _ => (Decimal::ZERO, Decimal::ZERO),
    }
}

fn sum_units(calls: &BTreeMap<String, Decimal>) -> (Decimal, Decimal) {
    calls
        .iter()
        .map(|(op, n)| request_units(op, *n))
        .fold((Decimal::ZERO, Decimal::ZERO), |(r, w), (dr, dw)| {
            (r + dr, w + dw)
        })
}

fn sqs_requests(calls: &BTreeMap<String, Decimal>) -> Decimal {
    calls
        .iter()
        .filter(|(op, _)| op.starts_with("SQS."))
        .map(|(_, n)| *n)
        .sum()
}

/// How the exchange accounts' API keys are kept in Secrets Manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Secrets {
    /// One secret per account: each account's keys rotated, audited and granted alone.
    PerAccount,
    /// One secret holding every account (`<secret id>#<account>`): one to pay for.
    Shared,
}

/// What the deployment does in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Portfolios, each on its own exchange account.
    pub portfolios: Decimal,
    /// Orders placed a month.
    pub orders_per_month: Decimal,
    pub secrets: Secrets,
}

/// The deployed settings that change the bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Lambda memory of both functions, MB.
    pub memory_mb: Decimal,
    /// Minutes between scheduler runs.
    pub schedule_minutes: Decimal,
    pub alarms: Decimal,
}

/// What the CDK app deploys at its default settings (infra/lib/settings.ts); tools/cli/tests/
/// stack.rs checks it against the synthesized template.
pub const STACK_DEFAULTS: Deployed = Deployed {
    memory_mb: dec!(256),
    schedule_minutes: dec!(5),
    alarms: dec!(10),
};

/// What the counting run cannot count: time billed and bytes kept, from the benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timings {
    /// Billed duration of one scheduler invocation per portfolio it plans, ms.
    pub scheduler_ms_per_portfolio: Decimal,
    /// Billed duration of one executor invocation, ms.
    pub executor_ms_per_invocation: Decimal,
    /// Requests of the SQS event source mappings' pollers a month (long polling, 20 s).
    pub poller_sqs_requests: Decimal,
    /// Log bytes per invocation (platform lines, EMF records, our logs).
    pub log_bytes_per_invocation: Decimal,
    /// Table storage, GB.
    pub stored_gb: Decimal,
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

/// The monthly bill of `workload` on `deployed` settings, with the counting run's calls and
/// the benchmarks' timings.
pub fn monthly_bill(
    workload: &Workload,
    deployed: &Deployed,
    run: &CountingRun,
    t: &Timings,
) -> Bill {
    let days = HOURS_PER_MONTH / dec!(24);
    let cycles = dec!(1440) / deployed.schedule_minutes * days;
    let portfolio_cycles = cycles * workload.portfolios;
    let orders = workload.orders_per_month;
    let executor_invocations = orders * run.executor_invocations_per_order;
    let invocations = cycles + executor_invocations;
    let gb = deployed.memory_mb / dec!(1024);
    let gb_seconds = (portfolio_cycles * t.scheduler_ms_per_portfolio
        + executor_invocations * t.executor_ms_per_invocation)
        / dec!(1000)
        * gb;
    let (cycle_rru, cycle_wru) = sum_units(&run.idle_cycle_calls);
    let (order_rru, order_wru) = sum_units(&run.order_calls);
    // Each order is one item of its cycle's transaction (at twice a plain write's units) and
    // one claim transaction: the order's update (twice a write's units) and the checks of the
    // kill switch and the breaker (a transactional read each: twice a read's units). The
    // cycle's transaction checks the kill switch and the portfolio's pause too: counted per
    // order, as if each order were recorded on its own (at most 4 RRU too many an order).
    let transactional_wru = dec!(2) + dec!(2);
    let transactional_rru = dec!(2) * dec!(2) + dec!(2) * dec!(2);
    let rru = portfolio_cycles * cycle_rru + orders * (order_rru + transactional_rru);
    let wru = portfolio_cycles * cycle_wru + orders * (order_wru + transactional_wru);
    // The functions' own requests, and the event source mapping's delete of each batch it
    // delivered (one per executor invocation) beside its pollers' receives.
    let sqs = portfolio_cycles * sqs_requests(&run.idle_cycle_calls)
        + orders * sqs_requests(&run.order_calls)
        + executor_invocations
        + t.poller_sqs_requests;
    let secrets = match workload.secrets {
        Secrets::PerAccount => workload.portfolios,
        Secrets::Shared => Decimal::ONE,
    };
    let metrics = Decimal::from(run.metrics);
    let log_gb = invocations * t.log_bytes_per_invocation / BYTES_PER_GB;
    // One row per line of the bill: service, item, quantity a month, unit price. Kept one row a
    // line, as a table reads.
    #[rustfmt::skip]
    let rows = [
        ("Lambda", "requests", invocations, price::LAMBDA_REQUEST),
        ("Lambda", "arm64 GB-seconds", gb_seconds, price::LAMBDA_ARM64_GB_SECOND),
        ("DynamoDB", "write request units", wru, price::DYNAMODB_WRU),
        ("DynamoDB", "read request units", rru, price::DYNAMODB_RRU),
        ("DynamoDB", "storage GB-month", t.stored_gb, price::DYNAMODB_GB_MONTH),
        ("SQS", "requests", sqs, price::SQS_REQUEST),
        ("Secrets Manager", "secrets", secrets, price::SECRET_MONTH),
        // A container reads each secret once per five minutes: at most once an invocation.
        ("Secrets Manager", "API calls", invocations, price::SECRET_CALL),
        ("CloudWatch", "custom metrics", metrics, price::METRIC_MONTH),
        ("CloudWatch", "alarms", deployed.alarms, price::ALARM_MONTH),
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

    fn article() -> (Workload, Deployed, CountingRun, Timings) {
        (
            Workload {
                portfolios: dec!(12),
                orders_per_month: dec!(15400),
                secrets: Secrets::Shared,
            },
            Deployed {
                memory_mb: dec!(256),
                schedule_minutes: dec!(5),
                alarms: dec!(8),
            },
            CountingRun {
                portfolios: 1,
                orders: 2,
                idle_cycle_calls: BTreeMap::from([
                    ("DynamoDB.Query".to_owned(), dec!(4)),
                    ("DynamoDB.UpdateItem".to_owned(), dec!(2)),
                ]),
                order_calls: BTreeMap::from([
                    ("DynamoDB.BatchGetItem".to_owned(), dec!(0.5)),
                    ("DynamoDB.TransactWriteItems".to_owned(), dec!(1.5)),
                    ("DynamoDB.UpdateItem".to_owned(), dec!(2)),
                    ("SQS.SendMessageBatch".to_owned(), dec!(1)),
                ]),
                executor_invocations_per_order: dec!(2),
                metrics: 7,
                idle_cycle_weight: Decimal::ZERO,
                order_weight: Decimal::ZERO,
            },
            Timings {
                scheduler_ms_per_portfolio: dec!(100),
                executor_ms_per_invocation: dec!(50),
                poller_sqs_requests: dec!(648000),
                log_bytes_per_invocation: dec!(2048),
                stored_gb: dec!(1),
            },
        )
    }

    #[test]
    fn every_line_is_quantity_times_price_and_the_total_is_their_sum() {
        let (w, d, r, t) = article();
        let bill = monthly_bill(&w, &d, &r, &t);
        // 288 × 30.416… days + 15,400 × 2 invocations.
        let requests = &bill.lines[0];
        assert_eq!(requests.quantity, dec!(8760) + dec!(30800));
        assert_eq!(requests.monthly_usd, dec!(39560) * dec!(0.0000002));
        // GB-s: 105,120 portfolio cycles × 0.1 s + 30,800 × 0.05 s, at 1/4 GB.
        assert_eq!(bill.lines[1].quantity, (dec!(10512) + dec!(1540)) / dec!(4));
        // WRU: 2 a portfolio cycle; an order 2 (PLACED, FILLED) + 2 (its PENDING item) + 2
        // (its claim).
        assert_eq!(
            bill.lines[2].quantity,
            dec!(105120) * dec!(2) + dec!(15400) * dec!(6)
        );
        // RRU: 4 a cycle; an order 1 (half a read of the halt with the breaker, for its
        // follow-up's batch) + 4 (the claim's checks of them) + 4 (its record's checks of the
        // halt and the pause).
        assert_eq!(
            bill.lines[3].quantity,
            dec!(105120) * dec!(4) + dec!(15400) * dec!(9)
        );
        // SQS: a send an order, a delete an invocation, the pollers.
        assert_eq!(
            bill.lines[5].quantity,
            dec!(15400) + dec!(30800) + dec!(648000)
        );
        assert_eq!(bill.lines[6].quantity, dec!(1), "one shared secret");
        assert_eq!(bill.lines[8].quantity, dec!(7), "the fixed metrics");
        assert_eq!(bill.lines[8].monthly_usd, dec!(2.1));
        let sum: Decimal = bill.lines.iter().map(|l| l.monthly_usd).sum();
        assert_eq!(bill.total(), sum);
    }

    #[test]
    fn a_secret_per_account_bills_each_and_the_schedule_and_memory_scale_their_lines() {
        let (w, d, r, t) = article();
        let shared = monthly_bill(&w, &d, &r, &t);
        let per_account = monthly_bill(
            &Workload {
                secrets: Secrets::PerAccount,
                ..w.clone()
            },
            &d,
            &r,
            &t,
        );
        assert_eq!(per_account.lines[6].quantity, dec!(12));
        assert_eq!(per_account.total() - shared.total(), dec!(11) * dec!(0.40));
        let hourly = monthly_bill(
            &w,
            &Deployed {
                schedule_minutes: dec!(60),
                memory_mb: dec!(512),
                ..d.clone()
            },
            &r,
            &t,
        );
        assert!(hourly.lines[0].quantity < shared.lines[0].quantity);
        assert!(hourly.lines[3].quantity < shared.lines[3].quantity);
    }

    #[test]
    fn twice_the_orders_cost_more_but_less_than_twice() {
        let (w, d, r, t) = article();
        let once = monthly_bill(&w, &d, &r, &t).total();
        let twice = monthly_bill(
            &Workload {
                orders_per_month: w.orders_per_month * dec!(2),
                ..w
            },
            &d,
            &r,
            &t,
        )
        .total();
        assert!(twice > once && twice < once * dec!(2));
    }

    #[test]
    fn the_committed_counting_run_parses_and_bills_a_fixed_set_of_metrics() {
        let run = CountingRun::committed().expect("counting-run.json parses");
        assert!(run.orders > 0 && run.portfolios > 0);
        assert!(run.metrics <= 7, "{run:?}");
    }
}
