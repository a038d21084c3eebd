//! `driftline cost`: the monthly AWS bill of a workload, as a table. Defaults are the article's
//! workload (12 accounts, 15,400 orders a month), the CDK app's default settings, the AWS calls
//! the counting run measured (tools/cli/measured/counting-run.json) and the timings
//! docs/BENCHMARKS.md measured.

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_cli::cost::{
    monthly_bill, CountingRun, Deployed, Secrets, Timings, Workload, STACK_DEFAULTS,
};
use rust_decimal::Decimal;

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Portfolios, each on its own exchange account.
    #[arg(long, default_value = "12")]
    portfolios: Decimal,
    /// Orders placed a month.
    #[arg(long, default_value = "15400")]
    orders_per_month: Decimal,
    /// How the accounts' keys are kept: one secret holding them all (`<secret id>#<account>`),
    /// or one per account (docs/DEPLOY.md, "One secret or one per account").
    #[arg(long, value_enum, default_value = "shared")]
    secrets: Secrets,
    /// Lambda memory of both functions, MB (the stack's `schedulerMemoryMb` and
    /// `executorMemoryMb`).
    #[arg(long, default_value_t = STACK_DEFAULTS.memory_mb)]
    memory_mb: Decimal,
    /// Minutes between scheduler runs (the stack's `scheduleRateMinutes`).
    #[arg(long, default_value_t = STACK_DEFAULTS.schedule_minutes)]
    schedule_minutes: Decimal,
    /// CloudWatch alarms (the stack creates 10).
    #[arg(long, default_value_t = STACK_DEFAULTS.alarms)]
    alarms: Decimal,
    /// Billed scheduler milliseconds per portfolio and cycle.
    #[arg(long, default_value = "200")]
    scheduler_ms_per_portfolio: Decimal,
    /// Billed milliseconds per executor invocation.
    #[arg(long, default_value = "150")]
    executor_ms: Decimal,
    /// SQS requests of the event source mappings' pollers a month: the intents' and the
    /// shards', each 5 pollers on 20 s long polls (657,000 each).
    #[arg(long, default_value = "1314000")]
    poller_sqs_requests: Decimal,
    /// Log bytes per invocation.
    #[arg(long, default_value = "2048")]
    log_bytes: Decimal,
    /// Table storage, GB.
    #[arg(long, default_value = "1")]
    stored_gb: Decimal,
    /// A monthly bill to compare with (the article's: 295 USD).
    #[arg(long, default_value = "295")]
    compare_with: Decimal,
}

/// # Errors
/// When the committed counting run does not parse (a bug the counting test catches).
pub fn run(a: &CostArgs) -> Result<(), Box<dyn std::error::Error>> {
    let workload = Workload {
        portfolios: a.portfolios,
        orders_per_month: a.orders_per_month,
        secrets: a.secrets,
    };
    let deployed = Deployed {
        memory_mb: a.memory_mb,
        schedule_minutes: a.schedule_minutes,
        alarms: a.alarms,
    };
    let timings = Timings {
        scheduler_ms_per_portfolio: a.scheduler_ms_per_portfolio,
        executor_ms_per_invocation: a.executor_ms,
        poller_sqs_requests: a.poller_sqs_requests,
        log_bytes_per_invocation: a.log_bytes,
        stored_gb: a.stored_gb,
    };
    let counted = CountingRun::committed()?;
    let bill = monthly_bill(&workload, &deployed, &counted, &timings);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "service",
        "item",
        "quantity",
        "unit price (USD)",
        "USD a month",
    ]);
    let right =
        |d: Decimal| Cell::new(d.normalize().to_string()).set_alignment(CellAlignment::Right);
    for l in &bill.lines {
        table.add_row(vec![
            Cell::new(l.service),
            Cell::new(l.item),
            right(l.quantity.round_dp(2)),
            right(l.unit_price),
            right(l.monthly_usd.round_dp(2)),
        ]);
    }
    let total = bill.total();
    table.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        right(total.round_dp(2)),
    ]);
    println!("{table}");
    if total > Decimal::ZERO {
        println!(
            "{} USD a month next to {} USD: {}x less",
            total.round_dp(2),
            a.compare_with,
            (a.compare_with / total).round_dp(1)
        );
    }
    Ok(())
}
