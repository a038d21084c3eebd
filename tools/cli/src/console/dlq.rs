//! `driftline dlq list` and `driftline dlq redrive`: what is in the dead-letter queue and why,
//! and moving messages back to the intents queue.
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
    /// Move messages back to the intents queue: every one, or those named by `--id`.
    Redrive {
        /// A message to move (its id from `driftline dlq list`); repeat for several.
        #[arg(long = "id", value_name = "MESSAGE_ID")]
        ids: Vec<String>,
    },
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

/// One message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// When it was first sent to the queue it is in now.
    pub sent_at: Option<String>,
    /// The executor's reason (`driftline-error`); absent when the redrive policy moved it.
    pub error: Option<String>,
    /// Its intent, when the body is one.
    pub intent: Option<IntentSummary>,
    /// The body itself when it is not a readable intent.
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
            body: intent.is_none().then(|| body.to_owned()),
            intent,
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

/// Every message in the dead-letter queue, left there.
///
/// # Errors
/// [`ConsoleError::Aws`] when SQS refuses.
pub async fn list(console: &Console) -> Result<Vec<DeadLetter>, ConsoleError> {
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    let dlq = console.deployment.require(outputs::DEAD_LETTER_QUEUE)?;
    let taken = take_all(&sqs, dlq).await?;
    let letters = taken.iter().map(DeadLetter::of).collect();
    release(&sqs, dlq, &taken.iter().collect::<Vec<_>>()).await?;
    Ok(letters)
}

/// What a redrive did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redriven {
    /// The ids (in the dead-letter queue) of the messages moved.
    pub moved: Vec<String>,
    /// Messages that could not be moved, with why; they are still in the dead-letter queue
    /// (or, when only the delete failed, in both queues).
    pub failed: Vec<(String, String)>,
}

/// Moves the messages named by `ids` (every message when empty) to the intents queue.
///
/// # Errors
/// [`ConsoleError::Refused`] when an id is not in the dead-letter queue (nothing is moved
/// then), [`ConsoleError::Aws`] when SQS refuses the receive.
pub async fn redrive(console: &Console, ids: &[String]) -> Result<Redriven, ConsoleError> {
    let sqs = aws_sdk_sqs::Client::new(&console.sdk);
    let dlq = console.deployment.require(outputs::DEAD_LETTER_QUEUE)?;
    let intents = console.deployment.require(outputs::INTENTS_QUEUE)?;
    let taken = take_all(&sqs, dlq).await?;
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let (chosen, left): (Vec<&Message>, Vec<&Message>) = taken
        .iter()
        .partition(|m| wanted.is_empty() || wanted.contains(m.message_id().unwrap_or_default()));
    let found: BTreeSet<&str> = chosen.iter().filter_map(|m| m.message_id()).collect();
    if let Some(missing) = wanted.iter().find(|id| !found.contains(*id)) {
        release(&sqs, dlq, &taken.iter().collect::<Vec<_>>()).await?;
        return Err(ConsoleError::Refused(format!(
            "no message {missing:?} in the dead-letter queue (driftline dlq list shows them); nothing moved"
        )));
    }
    release(&sqs, dlq, &left).await?;
    let mut done = Redriven {
        moved: Vec::new(),
        failed: Vec::new(),
    };
    for m in chosen {
        let id = m.message_id().unwrap_or_default().to_owned();
        let sent = sqs
            .send_message()
            .queue_url(intents)
            .message_body(m.body().unwrap_or_default())
            .send()
            .await;
        if let Err(e) = sent {
            done.failed.push((
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
        let deleted = sqs
            .delete_message()
            .queue_url(dlq)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await;
        match deleted {
            Ok(_) => done.moved.push(id),
            Err(e) => done.failed.push((
                id,
                format!(
                    "sent to the intents queue but not deleted from the dead-letter queue \
                     (the ledger keeps the second copy harmless): {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ),
            )),
        }
    }
    Ok(done)
}

/// The dead letters as a table.
pub fn render(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "the dead-letter queue is empty\n".into();
    }
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
        let (portfolio, order, client) = match &l.intent {
            Some(i) => (
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
            None => (
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

/// `driftline dlq`.
///
/// # Errors
/// [`ConsoleError`] naming what could not be found, read or moved.
pub fn run(target: &Target, args: &DlqArgs) -> Result<(), ConsoleError> {
    match &args.action {
        DlqAction::List { json } => {
            let letters = block_on(async {
                let console = Console::connect(target, &[outputs::DEAD_LETTER_QUEUE]).await?;
                list(&console).await
            })?;
            if *json {
                println!("{}", to_json(&letters)?);
            } else {
                print!("{}", render(&letters));
            }
            Ok(())
        }
        DlqAction::Redrive { ids } => {
            let done = block_on(async {
                let console = Console::connect(
                    target,
                    &[outputs::DEAD_LETTER_QUEUE, outputs::INTENTS_QUEUE],
                )
                .await?;
                redrive(&console, ids).await
            })?;
            println!(
                "moved {} message(s) to the intents queue{}",
                done.moved.len(),
                if done.moved.is_empty() {
                    String::new()
                } else {
                    format!(": {}", done.moved.join(", "))
                }
            );
            if done.failed.is_empty() {
                Ok(())
            } else {
                Err(ConsoleError::Refused(
                    done.failed
                        .iter()
                        .map(|(id, why)| format!("{id}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
            }
        }
    }
}
