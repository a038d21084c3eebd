//! `driftline cost`: the monthly AWS bill of a workload, as a table. Defaults are the article's
//! workload (12 accounts, 15,400 orders a month) and the figures measured in
//! docs/BENCHMARKS.md.

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_cli::cost::{monthly_bill, Measured, Workload};
use rust_decimal::Decimal;

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Portfolios (exchange accounts, one secret each).
    #[arg(long, default_value = "12")]
    portfolios: Decimal,
    /// Assets per portfolio (one drift metric each).
    #[arg(long, default_value = "10")]
    assets: Decimal,
    /// Scheduler runs a day (288 = every five minutes).
    #[arg(long, default_value = "288")]
    cycles_per_day: Decimal,
    /// Orders placed a month.
    #[arg(long, default_value = "15400")]
    orders_per_month: Decimal,
    /// Lambda memory, MB.
    #[arg(long, default_value = "128")]
    memory_mb: Decimal,
    /// Billed scheduler milliseconds per portfolio and cycle.
    #[arg(long, default_value = "200")]
    scheduler_ms_per_portfolio: Decimal,
    /// Billed milliseconds per executor invocation.
    #[arg(long, default_value = "150")]
    executor_ms: Decimal,
    /// Executor invocations per placed order (placement and follow-ups until final).
    #[arg(long, default_value = "2")]
    executor_invocations_per_order: Decimal,
    /// DynamoDB read units per portfolio cycle.
    #[arg(long, default_value = "5")]
    cycle_rru: Decimal,
    /// DynamoDB write units per portfolio cycle.
    #[arg(long, default_value = "3")]
    cycle_wru: Decimal,
    /// DynamoDB read units per order over its life (the controls, kill switch and breaker, two
    /// items read strongly consistent by each executor invocation).
    #[arg(long, default_value = "4")]
    order_rru: Decimal,
    /// DynamoDB write units per order over its life.
    #[arg(long, default_value = "5")]
    order_wru: Decimal,
    /// SQS requests the functions make per order.
    #[arg(long, default_value = "3")]
    order_sqs_requests: Decimal,
    /// SQS requests of the event source mapping's pollers a month (5 pollers, 20 s long polls).
    #[arg(long, default_value = "657000")]
    poller_sqs_requests: Decimal,
    /// Log bytes per invocation.
    #[arg(long, default_value = "2048")]
    log_bytes: Decimal,
    /// Table storage, GB.
    #[arg(long, default_value = "1")]
    stored_gb: Decimal,
    /// CloudWatch alarms (the CDK app creates 8).
    #[arg(long, default_value = "8")]
    alarms: Decimal,
    /// Metrics besides the per-portfolio and per-asset ones.
    #[arg(long, default_value = "12")]
    fixed_metrics: Decimal,
    /// A monthly bill to compare with (the article's: 295 USD).
    #[arg(long, default_value = "295")]
    compare_with: Decimal,
}

/// # Errors
/// None today; the signature matches the other subcommands.
pub fn run(a: &CostArgs) -> Result<(), Box<dyn std::error::Error>> {
    let workload = Workload {
        portfolios: a.portfolios,
        assets_per_portfolio: a.assets,
        cycles_per_day: a.cycles_per_day,
        orders_per_month: a.orders_per_month,
    };
    let measured = Measured {
        memory_mb: a.memory_mb,
        scheduler_ms_per_portfolio: a.scheduler_ms_per_portfolio,
        executor_ms_per_invocation: a.executor_ms,
        executor_invocations_per_order: a.executor_invocations_per_order,
        cycle_rru: a.cycle_rru,
        cycle_wru: a.cycle_wru,
        order_rru: a.order_rru,
        order_wru: a.order_wru,
        order_sqs_requests: a.order_sqs_requests,
        poller_sqs_requests: a.poller_sqs_requests,
        log_bytes_per_invocation: a.log_bytes,
        stored_gb: a.stored_gb,
        alarms: a.alarms,
        fixed_metrics: a.fixed_metrics,
    };
    let bill = monthly_bill(&workload, &measured);
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
