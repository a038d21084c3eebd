//! `driftline run-now [--portfolio ID]...`: one scheduler cycle now. The console invokes the
//! deployed scheduler function (Lambda `Invoke`, request-response) with a scheduled event at
//! the current time whose detail names the portfolios (`{"portfolios": [...]}`, read by
//! functions/runtime/src/scheduled.rs; none: every portfolio), and prints each portfolio's
//! outcome.
//!
//! The cycle is named by the event's time floored to the schedule period, as every tick is: a
//! run in a period whose tick already ran finds each portfolio `already_ran` and places
//! nothing twice.

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use driftline_core::ports::PortfolioConfigs;
use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::PortfolioId;
use driftline_functions::scheduled::{FannedOut, SchedulerResponse};
use serde_json::{json, Value};

use super::{operator, outputs, Console, ConsoleError, Target};

#[derive(Debug, Args)]
pub struct RunNowArgs {
    /// A portfolio to run (repeat for several); default: every configured portfolio.
    #[arg(long = "portfolio", value_name = "ID")]
    pub portfolios: Vec<String>,
    /// Print the scheduler's response as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What to say of a run with no portfolio summaries: none configured, or sent in shards.
fn without_summaries(response: &SchedulerResponse) -> String {
    match response.fanned_out {
        Some(FannedOut { portfolios, shards }) => format!(
            "{portfolios} portfolios sent to the shards queue in {shards} shards: each shard's \
             invocation plans its share (`driftline status` shows each portfolio's cycle as it ends)"
        ),
        None => "no portfolios configured".to_owned(),
    }
}

/// An outcome as a person reads it.
pub fn describe_outcome(outcome: &PortfolioOutcome) -> String {
    match outcome {
        PortfolioOutcome::Planned {
            orders,
            queued,
            reconciled,
            skipped,
            notes,
        } => {
            let mut s =
                format!("planned {orders} order(s), {queued} queued, {reconciled} reconciled");
            if !skipped.is_empty() {
                let why: Vec<String> = skipped
                    .iter()
                    .map(|k| format!("{}: {}", k.asset, k.reason))
                    .collect();
                s.push_str(&format!("; skipped {}", why.join("; ")));
            }
            for note in notes {
                s.push_str(&format!("; {note}"));
            }
            s
        }
        PortfolioOutcome::LeaseHeld { owner } => {
            format!("not run: another invocation ({owner}) holds its lease")
        }
        PortfolioOutcome::AlreadyRan => {
            "already ran: this schedule period's cycle has run (nothing is planned twice)"
                .to_owned()
        }
        PortfolioOutcome::Stale { newest } => {
            format!("not run: a later cycle ({newest}) has run")
        }
        PortfolioOutcome::BreakerOpen { retry_at_ms } => format!(
            "not run: the exchange's circuit breaker is open until {}",
            operator::time(*retry_at_ms)
        ),
        PortfolioOutcome::Halted { reason } => format!("not run: deployment halted: {reason}"),
        PortfolioOutcome::Paused { reason } => format!("not run: paused: {reason}"),
        PortfolioOutcome::Failed { error } => format!("FAILED: {error}"),
    }
}

/// The outcome's name, as the scheduler's response spells it.
fn label(outcome: &PortfolioOutcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.get("outcome").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The scheduled event of a run now: EventBridge's shape, this console as its source.
pub fn event(portfolios: &[String], now_ms: i64) -> Value {
    let time = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let detail = if portfolios.is_empty() {
        json!({})
    } else {
        json!({ "portfolios": portfolios })
    };
    json!({
        "version": "0",
        "id": format!("driftline-run-now-{now_ms}"),
        "detail-type": "Scheduled Event",
        "source": "driftline.console",
        "account": "",
        "time": time,
        "region": "",
        "resources": [],
        "detail": detail,
    })
}

/// # Errors
/// [`ConsoleError`] for an unknown portfolio, a deployment without a scheduler function, or a
/// failed invocation (the function's error as it reported it).
pub async fn run(target: &Target, args: &RunNowArgs) -> Result<(), ConsoleError> {
    let console = Console::connect(target, &[outputs::TABLE, outputs::SCHEDULER_FUNCTION]).await?;
    let function = console.deployment.require(outputs::SCHEDULER_FUNCTION)?;
    // Every portfolio named must be configured: the scheduler would only report it failed.
    if !args.portfolios.is_empty() {
        let store = console.store()?;
        for id in &args.portfolios {
            let pid = PortfolioId::new(id)
                .map_err(|e| ConsoleError::Input(format!("--portfolio {id:?}: {e}")))?;
            if store.portfolio(&pid).await?.is_none() {
                return Err(ConsoleError::Refused(format!(
                    "no portfolio {id:?} in table {}: `driftline portfolio list` shows the \
                     configured ones",
                    console.deployment.require(outputs::TABLE)?
                )));
            }
        }
    }
    let payload = event(&args.portfolios, operator::now_ms()).to_string();
    let lambda = aws_sdk_lambda::Client::new(&console.sdk);
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .map_err(|e| ConsoleError::Aws {
            service: "lambda",
            operation: "Invoke",
            reason: invoke_error(&e),
        })?;
    let body = out
        .payload()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(kind) = out.function_error() {
        return Err(ConsoleError::Refused(format!(
            "the scheduler function {function} failed ({kind}): {}",
            error_message(&body)
        )));
    }
    if args.json {
        println!("{body}");
        return Ok(());
    }
    let response: SchedulerResponse =
        serde_json::from_str(&body).map_err(|e| ConsoleError::Aws {
            service: "lambda",
            operation: "Invoke",
            reason: format!("the scheduler's answer is not a cycle summary ({e}): {body}"),
        })?;
    println!("cycle {} · scheduler {function}", response.cycle_id);
    if response.portfolios.is_empty() {
        println!("{}", without_summaries(&response));
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["portfolio", "outcome", "detail"]);
    for p in &response.portfolios {
        table.add_row(vec![
            p.portfolio_id.clone(),
            label(&p.outcome),
            describe_outcome(&p.outcome),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// Lambda's refusal as one line: its code and message (`ResourceNotFoundException: Function
/// not found: …`), or the whole error context when it never answered.
fn invoke_error<R: std::fmt::Debug>(
    e: &aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::invoke::InvokeError, R>,
) -> String {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("(no message)")
        ),
        None => aws_sdk_lambda::error::DisplayErrorContext(e).to_string(),
    }
}

/// Lambda's error document (`{"errorType": …, "errorMessage": …}`) as one line.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let kind = v.get("errorType").and_then(Value::as_str)?.to_owned();
            let message = v.get("errorMessage").and_then(Value::as_str)?.to_owned();
            Some(format!("{kind}: {message}"))
        })
        .unwrap_or_else(|| body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targeted_run_names_its_portfolios_in_the_detail() {
        let e = event(&["article".into()], 1_800_000_000_000);
        assert_eq!(e["detail"], json!({"portfolios": ["article"]}));
        assert_eq!(e["time"], "2027-01-15T08:00:00Z");
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(event(&[], 0)["detail"], json!({}));
    }

    #[test]
    fn a_fanned_out_run_says_where_its_portfolios_went() {
        let fanned: SchedulerResponse = serde_json::from_value(json!({
            "cycle_id": "20261203T150000Z",
            "portfolios": [],
            "fanned_out": {"portfolios": 1000, "shards": 20}
        }))
        .unwrap();
        assert!(without_summaries(&fanned)
            .starts_with("1000 portfolios sent to the shards queue in 20 shards"));
        let none: SchedulerResponse =
            serde_json::from_value(json!({"cycle_id": "20261203T150000Z", "portfolios": []}))
                .unwrap();
        assert_eq!(without_summaries(&none), "no portfolios configured");
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let planned: PortfolioOutcome = serde_json::from_value(json!({
            "outcome": "planned", "orders": 2, "queued": 2, "reconciled": 0, "skipped": []
        }))
        .unwrap();
        assert_eq!(label(&planned), "planned");
        assert_eq!(
            describe_outcome(&planned),
            "planned 2 order(s), 2 queued, 0 reconciled"
        );
        let paused = PortfolioOutcome::Paused {
            reason: "rebalancing by hand".into(),
        };
        assert_eq!(label(&paused), "paused");
        assert_eq!(
            describe_outcome(&paused),
            "not run: paused: rebalancing by hand"
        );
    }
}
