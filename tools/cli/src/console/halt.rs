//! `driftline halt` and `driftline resume`: the deployment's kill switch
//! ([`DeploymentControls::set_halt`]). Both functions read it at the start of every invocation:
//! while it is in force the scheduler plans nothing and the executor places nothing, and the
//! intents in the queue wait as delayed messages (never toward the dead-letter queue). After
//! `resume` they run if they have not expired.
//!
//! `halt --cancel-open` also takes every open order of every configured portfolio off the
//! exchange and out of the queue ([`super::cancel`]); the halt is set first, needing only the
//! table, so it is in force even when the exchange cannot be reached, and no cycle plans
//! anything new while the console cancels.

use clap::Args;
use driftline_core::control::DeploymentControls;
use driftline_core::notify::Notice;
use driftline_core::ports::PortfolioConfigs;

use super::cancel::{Canceller, Scope};
use super::status::queue_depth;
use super::{operator, outputs, Console, ConsoleError, Target};

#[derive(Debug, Args)]
pub struct HaltArgs {
    /// Why trading stops: kept with the halt and shown by `driftline status`.
    #[arg(long)]
    pub reason: String,
    /// Also cancel every open driftline order of every portfolio on the exchange (fills and
    /// fees recorded) and close the intents not yet placed.
    #[arg(long)]
    pub cancel_open: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {}

/// # Errors
/// [`ConsoleError`] when the deployment cannot be found or written, or when some open order
/// could not be cancelled (the halt is in force then all the same).
pub async fn halt(target: &Target, args: &HaltArgs) -> Result<(), ConsoleError> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(ConsoleError::Input(
            "--reason: give the reason trading stops (it is shown with the halt)".to_owned(),
        ));
    }
    // The halt needs the table alone: it is set before anything else can fail.
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let store = console.store()?;
    let stop = operator::stop(&console.sdk, reason).await;
    let before = store.set_halt(Some(&stop)).await?;
    println!(
        "halted at {} by {}: {}",
        operator::time(stop.at_ms),
        stop.by,
        stop.reason
    );
    if let Some(before) = before {
        println!(
            "  (replaces the halt in force {})",
            operator::describe(&before)
        );
    }
    println!(
        "the scheduler plans nothing and the executor places nothing until `driftline resume`; \
         queued intents wait, delayed, and are not dead-lettered"
    );
    console
        .notify(&Notice::Halted {
            reason: stop.reason.clone(),
            by: stop.by.clone(),
            at_ms: stop.at_ms,
        })
        .await;
    if !args.cancel_open {
        return Ok(());
    }
    let console = Console::connect(target, &Canceller::needs(Scope::Everything)).await?;
    let canceller = Canceller::new(&console, Scope::Everything)?;
    let ids = store.portfolio_ids().await?;
    println!("cancelling the open orders of {} portfolio(s):", ids.len());
    let mut left_open = 0;
    let mut total = 0;
    for id in ids {
        let Some(portfolio) = store.portfolio(&id).await? else {
            continue;
        };
        for action in canceller
            .cancel_open(&portfolio, Scope::Everything, "deployment halted")
            .await?
        {
            total += 1;
            left_open += usize::from(action.left_open());
            println!("  {action}");
        }
    }
    println!(
        "{total} open order(s): {} taken off, {left_open} still open",
        total - left_open
    );
    if left_open > 0 {
        return Err(ConsoleError::Refused(format!(
            "{left_open} order(s) are still open (see above); the halt is in force: run \
             `driftline halt --cancel-open` again to retry them"
        )));
    }
    Ok(())
}

/// # Errors
/// [`ConsoleError`] when the deployment cannot be found or written.
pub async fn resume(target: &Target, _args: &ResumeArgs) -> Result<(), ConsoleError> {
    let console = Console::connect(target, &[outputs::TABLE, outputs::INTENTS_QUEUE]).await?;
    let store = console.store()?;
    match store.set_halt(None).await? {
        Some(before) => {
            println!("resumed: lifted the halt {}", operator::describe(&before));
            console
                .notify(&Notice::Resumed {
                    by: operator::identity(&console.sdk).await,
                    at_ms: operator::now_ms(),
                })
                .await;
        }
        None => println!("not halted: nothing to resume"),
    }
    match console.deployment.get(outputs::INTENTS_QUEUE) {
        Some(url) => match queue_depth(&aws_sdk_sqs::Client::new(&console.sdk), url).await {
            Ok(d) => println!(
                "{} message(s) in the intents queue (visible {}, in flight {}, delayed {}): the \
                 intents held back run if they have not expired",
                d.visible + d.in_flight + d.delayed,
                d.visible,
                d.in_flight,
                d.delayed
            ),
            Err(e) => println!("queue depth unknown: {e}"),
        },
        None => println!("queue depth unknown: pass {}", outputs::INTENTS_QUEUE.1),
    }
    Ok(())
}
