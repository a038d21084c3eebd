//! `driftline dlq list`, `driftline dlq redrive` and `driftline dlq delete`: what is in the
//! dead-letter queue and why, moving messages back to the intents queue, and deleting them.
//! With `--shards`, the same for the shards' dead-letter queue (shards of a fanned-out tick
//! that failed three times), which is never redriven: the next tick plans their portfolios
//! again, so a dead shard is read, its cause fixed, and deleted.
//!
//! SQS has no way to look at a queue without receiving from it, so both commands receive every
//! message (holding each for [`HOLD_SECS`], so that each is seen once) and, when done, make the
//! ones they leave visible again at once. A message the executor could not read carries its
//! reason in the `driftline-error` attribute; one moved by the redrive policy (too many
//! receives) carries none, and its intent tells what it was.
//!
//! Redrive sends each message's body to the intents queue and only then deletes it from the
//! dead-letter queue: if the send fails the message stays where it was; if the delete fails it
//! is in both queues, which the ledger makes harmless (a second delivery of an intent never
//! places a second order). SQS's own StartMessageMoveTask is not used: it moves everything or
//! nothing (no `--id`), and the local emulator does not support it.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use driftline_core::orders::IntentEnvelope;
use driftline_core::ports::Shard;
use rust_decimal::Decimal;
use serde::Serialize;

use super::support::{aws, to_json};
use super::time::rfc3339;
use super::{block_on, outputs, Console, ConsoleError, Target};

/// How long a received message stays hidden while a command looks at it.
pub const HOLD_SECS: i32 = 60;
/// The most messages one command looks at (a hundred receives of ten).
const MOST: usize = 1000;

#[derive(Debug, Args)]
pub struct DlqArgs {
    /// The shards' dead-letter queue (`ShardsDeadLetterQueueUrl`) instead of the executor's.
    #[arg(long, global = true)]
    pub shards: bool,
    #[command(subcommand)]
    pub action: DlqAction,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Every message in the dead-letter queue: its intent (or its body when unreadable) and why
    /// it is there.
    List {
        /// Print JSON (decimals as strings) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Move messages back to the intents queue: every one, or those named by `--id`. Never
    /// shards.
    Redrive {
        /// A message to move (its id from `driftline dlq list`); repeat for several.
        #[arg(long = "id", value_name = "MESSAGE_ID")]
        ids: Vec<String>,
    },
    /// Delete messages for good: those named by `--id`, or every one with `--all`. What the
    /// alarm on the queue needs to clear once the cause is fixed.
    Delete {
        /// A message to delete (its id from `driftline dlq list`); repeat for several.
        #[arg(
            long = "id",
            value_name = "MESSAGE_ID",
            required_unless_present = "all"
        )]
        ids: Vec<String>,
        /// Every message in the queue.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

/// Which dead-letter queue a command works on.
fn queue(shards: bool) -> (&'static str, &'static str) {
    if shards {
        outputs::SHARDS_DEAD_LETTER_QUEUE
    } else {
        outputs::DEAD_LETTER_QUEUE
    }
}

/// The intent a dead letter carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentSummary {
    pub portfolio: String,
    pub cycle: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub leg: u32,
    #[serde(with = "driftline_core::exact")]
    pub quantity: Decimal,
    pub expires_at: String,
    /// A follow-up of a placed order (it carries the order's record).
    pub follow_up: bool,
}

/// The shard a dead letter of the shards' queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardSummary {
    pub cycle: String,
    /// When the next tick came: from then on the shard plans nothing.
    pub expires_at: String,
    pub portfolios: Vec<String>,
}

/// One message of a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// When it was first sent to the queue it is in now.
    pub sent_at: Option<String>,
    /// The executor's reason (`driftline-error`); absent when the redrive policy moved it.
    pub error: Option<String>,
    /// Its intent, when the body is one.
    pub intent: Option<IntentSummary>,
    /// Its shard, when the body is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSummary>,
    /// The body itself when it is neither a readable intent nor a shard.
    pub body: Option<String>,
}

impl DeadLetter {
    fn of(m: &Message) -> Self {
        let body = m.body().unwrap_or_default();
        let intent = IntentEnvelope::from_json(body).ok().map(|e| IntentSummary {
            portfolio: e.intent.portfolio_id.to_string(),
            cycle: e.intent.cycle_id.to_string(),
            client_order_id: e.intent.client_order_id.to_string(),
            symbol: e.intent.symbol.to_string(),
            side: e.intent.side.to_string(),
            leg: e.intent.leg,
            quantity: e.intent.quantity.normalize(),
            expires_at: rfc3339(e.intent.expires_at_ms),
            follow_up: e.placed.is_some(),
        });
        let shard = intent
            .is_none()
            .then(|| serde_json::from_str::<Shard>(body).ok())
            .flatten()
            .map(|s| ShardSummary {
                cycle: s.cycle_id.to_string(),
                expires_at: rfc3339(s.expires_at_ms),
                portfolios: s.portfolios.iter().map(ToString::to_string).collect(),
            });
        Self {
            message_id: m.message_id().unwrap_or_default().to_owned(),
            sent_at: m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<i64>().ok())
                .map(rfc3339),
            error: m
                .message_attributes()
                .and_then(|a| a.get(driftline_aws::DEAD_LETTER_REASON_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .map(str::to_owned),
            body: (intent.is_none() && shard.is_none()).then(|| body.to_owned()),
            intent,
            shard,
        }
    }
}

/// Receives every message of `queue_url` (up to [`MOST`]), each held for [`HOLD_SECS`].
async fn take_all(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<Message>, ConsoleError> {
    let mut taken: Vec<Message> = Vec::new();
    while taken.len() < MOST {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            // Long polling asks every SQS server, so an empty answer means an empty queue.
            .wait_time_seconds(1)
            .visibility_timeout(HOLD_SECS)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(aws("sqs", "ReceiveMessage(dead-letter queue)"))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        taken.extend(messages);
    }
    Ok(taken)
}

/// Makes held messages visible again at once.
async fn release(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[&Message],
) -> Result<(), ConsoleError> {
    for m in messages {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .visibility_timeout(0)
            .send()
            .await
            .map_err(aws("sqs", "ChangeMessageVisibility(dead-letter queue)"))?;
    }
    Ok(())
}

/// Every message in the dead-letter queue (the shards' with `shards`), left there.
///
/// # Errors
/// [`ConsoleError::Aws`] when SQS refuses.
pub async fn list(console: &Console, shards: bool) -> Result<Vec<DeadLetter>, ConsoleError> {
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    let dlq = console.deployment.require(queue(shards))?;
    let taken = take_all(&sqs, dlq).await?;
    let letters = taken.iter().map(DeadLetter::of).collect();
    release(&sqs, dlq, &taken.iter().collect::<Vec<_>>()).await?;
    Ok(letters)
}

/// What a redrive or a delete did to the messages it chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handled {
    /// The ids (in the dead-letter queue) of the messages moved, or deleted.
    pub done: Vec<String>,
    /// Messages that could not be moved, with why; they are still in the dead-letter queue
    /// (or, when only the delete failed, in both queues).
    pub failed: Vec<(String, String)>,
}

/// Takes the messages of `dlq` named by `ids` (every message when empty), held for
/// [`HOLD_SECS`]; the others are made visible again.
///
/// # Errors
/// [`ConsoleError::Refused`] when an id is not in the queue (every message is made visible
/// again), [`ConsoleError::Aws`] when SQS refuses.
async fn choose(
    sqs: &aws_sdk_sqs::Client,
    dlq: &str,
    ids: &[String],
) -> Result<Vec<Message>, ConsoleError> {
    let taken = take_all(sqs, dlq).await?;
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let (chosen, left): (Vec<Message>, Vec<Message>) = taken
        .into_iter()
        .partition(|m| wanted.is_empty() || wanted.contains(m.message_id().unwrap_or_default()));
    let found: BTreeSet<&str> = chosen.iter().filter_map(|m| m.message_id()).collect();
    if let Some(missing) = wanted.iter().find(|id| !found.contains(*id)) {
        release(sqs, dlq, &chosen.iter().chain(&left).collect::<Vec<_>>()).await?;
        return Err(ConsoleError::Refused(format!(
            "no message {missing:?} in {dlq} (driftline dlq list shows them); nothing done"
        )));
    }
    release(sqs, dlq, &left.iter().collect::<Vec<_>>()).await?;
    Ok(chosen)
}

/// Why a shard is never redriven, and what to do instead.
const SHARDS_ARE_NOT_REDRIVEN: &str = "a shard is never redriven: the next tick plans its \
    portfolios again (and the intents queue cannot read one). Once the cause is fixed, \
    driftline dlq --shards delete --all clears the queue and its alarm";

/// Moves the messages named by `ids` (every message when empty) to the intents queue.
///
/// # Errors
/// [`ConsoleError::Refused`] when an id is not in the dead-letter queue, or a chosen message
/// is a shard (nothing is moved then), [`ConsoleError::Aws`] when SQS refuses the receive.
pub async fn redrive(console: &Console, ids: &[String]) -> Result<Handled, ConsoleError> {
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    let dlq = console.deployment.require(outputs::DEAD_LETTER_QUEUE)?;
    let intents = console.deployment.require(outputs::INTENTS_QUEUE)?;
    if console.deployment.get(outputs::SHARDS_DEAD_LETTER_QUEUE) == Some(dlq) {
        return Err(ConsoleError::Refused(format!(
            "{dlq} is the shards' dead-letter queue; nothing moved: {SHARDS_ARE_NOT_REDRIVEN}"
        )));
    }
    let chosen = choose(&sqs, dlq, ids).await?;
    // The shards' queue named as the dead-letter queue: its shards would only be
    // dead-lettered again by the executor.
    if let Some(shard) = chosen
        .iter()
        .find(|m| serde_json::from_str::<Shard>(m.body().unwrap_or_default()).is_ok())
    {
        release(&sqs, dlq, &chosen.iter().collect::<Vec<_>>()).await?;
        return Err(ConsoleError::Refused(format!(
            "message {:?} is a shard, not an intent; nothing moved: {SHARDS_ARE_NOT_REDRIVEN}",
            shard.message_id().unwrap_or_default()
        )));
    }
    let mut handled = Handled {
        done: Vec::new(),
        failed: Vec::new(),
    };
    for m in &chosen {
        let id = m.message_id().unwrap_or_default().to_owned();
        let sent = sqs
            .send_message()
            .queue_url(intents)
            .message_body(m.body().unwrap_or_default())
            .send()
            .await;
        if let Err(e) = sent {
            handled.failed.push((
                id,
                format!(
                    "not sent to the intents queue: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ),
            ));
            // Left in the dead-letter queue, visible again.
            let _ = release(&sqs, dlq, &[m]).await;
            continue;
        }
        match delete_one(&sqs, dlq, m).await {
            Ok(()) => handled.done.push(id),
            Err(e) => handled.failed.push((
                id,
                format!(
                    "sent to the intents queue but not deleted from the dead-letter queue \
                     (the ledger keeps the second copy harmless): {e}"
                ),
            )),
        }
    }
    Ok(handled)
}

/// Deletes the messages named by `ids` (every message when empty) from the dead-letter queue
/// (the shards' with `shards`). An intent deleted is an order not placed; its ledger record is
/// re-sent by the scheduler while it is young and closed once it expires, as for any intent the
/// queue lost.
///
/// # Errors
/// [`ConsoleError::Refused`] when an id is not in the queue (nothing is deleted then),
/// [`ConsoleError::Aws`] when SQS refuses the receive.
pub async fn delete(
    console: &Console,
    shards: bool,
    ids: &[String],
) -> Result<Handled, ConsoleError> {
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    let dlq = console.deployment.require(queue(shards))?;
    let chosen = choose(&sqs, dlq, ids).await?;
    let mut handled = Handled {
        done: Vec::new(),
        failed: Vec::new(),
    };
    for m in &chosen {
        let id = m.message_id().unwrap_or_default().to_owned();
        match delete_one(&sqs, dlq, m).await {
            Ok(()) => handled.done.push(id),
            Err(e) => {
                handled.failed.push((id, format!("not deleted: {e}")));
                let _ = release(&sqs, dlq, &[m]).await;
            }
        }
    }
    Ok(handled)
}

/// Deletes one held message.
async fn delete_one(sqs: &aws_sdk_sqs::Client, dlq: &str, m: &Message) -> Result<(), String> {
    sqs.delete_message()
        .queue_url(dlq)
        .receipt_handle(m.receipt_handle().unwrap_or_default())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
}

/// The dead letters as a table.
pub fn render(letters: &[DeadLetter]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "message id",
        "sent at",
        "portfolio",
        "order",
        "client order id",
        "why",
    ]);
    for l in letters {
        let (portfolio, order, client) = match (&l.intent, &l.shard) {
            (Some(i), _) => (
                i.portfolio.clone(),
                format!(
                    "{} {} {}{}",
                    i.side,
                    i.quantity,
                    i.symbol,
                    if i.follow_up { " (follow-up)" } else { "" }
                ),
                i.client_order_id.clone(),
            ),
            (None, Some(shard)) => (
                shown(&shard.portfolios),
                format!(
                    "shard of cycle {} (planned nothing from {})",
                    shard.cycle, shard.expires_at
                ),
                String::new(),
            ),
            (None, None) => (
                String::new(),
                format!("unreadable: {}", l.body.as_deref().unwrap_or_default()),
                String::new(),
            ),
        };
        let why = l
            .error
            .clone()
            .unwrap_or_else(|| "too many receives (the queue's redrive policy)".into());
        table.add_row(vec![
            Cell::new(&l.message_id),
            Cell::new(l.sent_at.clone().unwrap_or_default()),
            Cell::new(portfolio),
            Cell::new(order),
            Cell::new(client),
            Cell::new(why),
        ]);
    }
    format!("{table}\n{} message(s)\n", letters.len())
}

/// A shard's portfolios as a cell: the first three, and how many when there are more.
fn shown(portfolios: &[String]) -> String {
    if portfolios.len() <= 3 {
        portfolios.join(", ")
    } else {
        format!(
            "{} … ({} portfolios)",
            portfolios[..3].join(", "),
            portfolios.len()
        )
    }
}

/// `driftline dlq`.
///
/// # Errors
/// [`ConsoleError`] naming what could not be found, read or moved.
pub fn run(target: &Target, args: &DlqArgs) -> Result<(), ConsoleError> {
    let dlq = queue(args.shards);
    let name = if args.shards {
        "the shards' dead-letter queue"
    } else {
        "the dead-letter queue"
    };
    let handled = match &args.action {
        DlqAction::List { json } => {
            let letters = block_on(async {
                let console = Console::connect(target, &[dlq]).await?;
                list(&console, args.shards).await
            })?;
            if *json {
                println!("{}", to_json(&letters)?);
            } else if letters.is_empty() {
                println!("{name} is empty");
            } else {
                print!("{}", render(&letters));
            }
            return Ok(());
        }
        DlqAction::Redrive { .. } if args.shards => {
            return Err(ConsoleError::Refused(format!(
                "nothing moved: {SHARDS_ARE_NOT_REDRIVEN}"
            )));
        }
        DlqAction::Redrive { ids } => {
            let handled = block_on(async {
                let console = Console::connect(
                    target,
                    &[outputs::DEAD_LETTER_QUEUE, outputs::INTENTS_QUEUE],
                )
                .await?;
                redrive(&console, ids).await
            })?;
            println!(
                "moved {} message(s) to the intents queue{}",
                handled.done.len(),
                listed(&handled.done)
            );
            handled
        }
        DlqAction::Delete { ids, .. } => {
            let handled = block_on(async {
                let console = Console::connect(target, &[dlq]).await?;
                delete(&console, args.shards, ids).await
            })?;
            println!(
                "deleted {} message(s) from {name}{}",
                handled.done.len(),
                listed(&handled.done)
            );
            handled
        }
    };
    if handled.failed.is_empty() {
        Ok(())
    } else {
        Err(ConsoleError::Refused(
            handled
                .failed
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }
}

/// `: id, id` after a count, or nothing.
fn listed(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(": {}", ids.join(", "))
    }
}
