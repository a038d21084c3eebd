//! The intent queue on SQS: one versioned JSON envelope per intent (decimals as strings),
//! sent in batches of ten with SendMessageBatch's partial failures retried, delayed per
//! message, and put back with a visibility change for retry backoff; the dead-letter queue
//! an unreadable message is sent to with its reason; and the scheduler's shard queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use driftline_core::orders::IntentEnvelope;
use driftline_core::ports::{
    DeadLetters, IntentQueue, ReceivedIntent, RetryBackoff, SendReport, Shard, ShardQueue,
    StoreError,
};
use driftline_core::ClientOrderId;

use crate::item::unavailable;

/// SQS's limits.
const MAX_BATCH: usize = 10;
const MAX_DELAY_SECS: u32 = 900;
const MAX_VISIBILITY_SECS: u32 = 12 * 3600;
/// Rounds of resending the entries of a batch that failed through no fault of ours.
const SEND_ROUNDS: u32 = 3;

#[derive(Debug, Clone)]
pub struct SqsIntentQueue {
    client: Client,
    queue_url: String,
    backoff: RetryBackoff,
}

impl SqsIntentQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            backoff: RetryBackoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: RetryBackoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Puts a message back for its `attempt`-th retry (0-based) after an exponential,
    /// jittered, capped delay; returns the delay chosen.
    ///
    /// # Errors
    /// As [`IntentQueue::retry_later`].
    pub async fn retry_with_backoff(
        &self,
        receipt_handle: &str,
        attempt: u32,
    ) -> Result<u32, StoreError> {
        let delay = self.backoff.delay_secs(attempt, fastrand::u64(..));
        self.retry_later(receipt_handle, delay).await?;
        Ok(delay)
    }

    /// Sends one batch (at most ten) through SendMessageBatch; see [`send_with_retries`].
    async fn send_batch(
        &self,
        batch: &[(ClientOrderId, String)],
        delay_secs: u32,
        report: &mut SendReport,
    ) {
        let delay = i32::try_from(delay_secs).unwrap_or(0);
        let bodies: Vec<&str> = batch.iter().map(|(_, body)| body.as_str()).collect();
        let bodies = &bodies;
        let outcome = send_with_retries(batch.len(), |positions| async move {
            send_round(&self.client, &self.queue_url, bodies, positions, delay).await
        })
        .await;
        for i in outcome.sent {
            if let Some((id, _)) = batch.get(i) {
                report.sent.push(id.clone());
            }
        }
        for (i, reason) in outcome.failed {
            if let Some((id, _)) = batch.get(i) {
                report.failed.push((id.clone(), reason));
            }
        }
    }
}

/// One SendMessageBatch of the `bodies` at `positions`, each delayed `delay_secs`.
async fn send_round(
    client: &Client,
    queue_url: &str,
    bodies: &[&str],
    positions: Vec<usize>,
    delay_secs: i32,
) -> Result<RoundResult, String> {
    let mut req = client.send_message_batch().queue_url(queue_url);
    for i in positions {
        let Some(body) = bodies.get(i) else {
            continue;
        };
        // Entry ids are positions in the batch: unique within it, as SQS requires.
        let entry = SendMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .message_body(*body)
            .delay_seconds(delay_secs)
            .build()
            .map_err(|e| e.to_string())?;
        req = req.entries(entry);
    }
    let out = req
        .send()
        .await
        .map_err(|e| unavailable("sqs", "SendMessageBatch", e).to_string())?;
    Ok(round_result(&out))
}

/// What SQS answered to a SendMessageBatch whose entry ids are positions in the batch.
fn round_result(
    out: &aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput,
) -> RoundResult {
    RoundResult {
        successful: out
            .successful()
            .iter()
            .filter_map(|e| e.id().parse().ok())
            .collect(),
        failed: out
            .failed()
            .iter()
            .filter_map(|f| {
                let i = f.id().parse().ok()?;
                let reason = format!("{}: {}", f.code(), f.message().unwrap_or("no message"));
                Some((i, f.sender_fault(), reason))
            })
            .collect(),
    }
}

/// What one SendMessageBatch call did, by position in the batch.
#[derive(Debug, Default)]
struct RoundResult {
    successful: Vec<usize>,
    /// Position, whether the sender is at fault, SQS's code and message.
    failed: Vec<(usize, bool, String)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct BatchOutcome {
    sent: Vec<usize>,
    failed: Vec<(usize, String)>,
}

/// Sends entries `0..len` in rounds: an entry SQS failed through no fault of ours, or one of
/// a call that failed whole, is resent (up to [`SEND_ROUNDS`] rounds, with a short pause);
/// one failed for the sender's fault is given up at once, since resending cannot help.
async fn send_with_retries<F, Fut>(len: usize, mut send_round: F) -> BatchOutcome
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<RoundResult, String>>,
{
    let mut outcome = BatchOutcome::default();
    let mut pending: Vec<usize> = (0..len).collect();
    let mut last_reason: Vec<String> = vec![String::new(); len];
    for round in 0..SEND_ROUNDS {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(100 << round)).await;
        }
        let result = match send_round(pending.clone()).await {
            Ok(r) => r,
            Err(reason) => {
                for &i in &pending {
                    if let Some(r) = last_reason.get_mut(i) {
                        r.clone_from(&reason);
                    }
                }
                continue;
            }
        };
        outcome.sent.extend(
            result
                .successful
                .iter()
                .copied()
                .filter(|i| pending.contains(i)),
        );
        let mut retry = Vec::new();
        for (i, sender_fault, reason) in result.failed {
            if !pending.contains(&i) {
                continue;
            }
            if sender_fault {
                outcome.failed.push((i, reason));
            } else {
                if let Some(r) = last_reason.get_mut(i) {
                    *r = reason;
                }
                retry.push(i);
            }
        }
        // An entry SQS reported neither way is resent too: it was not confirmed.
        for &i in &pending {
            let answered = result.successful.contains(&i)
                || outcome.failed.iter().any(|(f, _)| *f == i)
                || retry.contains(&i);
            if !answered {
                if let Some(r) = last_reason.get_mut(i) {
                    *r = "not confirmed by SQS".into();
                }
                retry.push(i);
            }
        }
        pending = retry;
    }
    for i in pending {
        let reason = last_reason.get(i).cloned().unwrap_or_default();
        outcome.failed.push((i, reason));
    }
    outcome
}

#[async_trait]
impl IntentQueue for SqsIntentQueue {
    async fn send(
        &self,
        messages: &[IntentEnvelope],
        delay_secs: u32,
    ) -> Result<SendReport, StoreError> {
        if delay_secs > MAX_DELAY_SECS {
            return Err(StoreError::InvalidInput {
                field: "delay_secs",
                value: delay_secs.to_string(),
                reason: "SQS delays are at most 900 seconds",
            });
        }
        let bodies = messages
            .iter()
            .map(|m| Ok((m.intent.client_order_id.clone(), m.to_json()?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut report = SendReport::default();
        for batch in bodies.chunks(MAX_BATCH) {
            self.send_batch(batch, delay_secs, &mut report).await;
        }
        Ok(report)
    }

    /// Messages whose body is not a readable envelope are left alone: after the queue's
    /// max-receive count they move to the dead-letter queue, where an operator sees them.
    async fn receive(&self, max: u8, wait_secs: u8) -> Result<Vec<ReceivedIntent>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::from(max.clamp(1, 10)))
            .wait_time_seconds(i32::from(wait_secs.min(20)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable("sqs", "ReceiveMessage", e))?;
        let mut received = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let (Some(body), Some(receipt)) = (m.body(), m.receipt_handle()) else {
                continue;
            };
            let Ok(envelope) = IntentEnvelope::from_json(body) else {
                continue;
            };
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            received.push(ReceivedIntent {
                envelope,
                receipt_handle: receipt.to_owned(),
                receive_count,
            });
        }
        Ok(received)
    }

    async fn retry_later(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs.min(MAX_VISIBILITY_SECS)).unwrap_or(0))
            .send()
            .await
            .map_err(|e| unavailable("sqs", "ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| unavailable("sqs", "DeleteMessage", e))?;
        Ok(())
    }
}

/// The message attribute an unreadable message's reason travels in to the dead-letter queue
/// (`DEAD_LETTER_REASON_ATTRIBUTE` in infra/lib/contract.ts).
pub const DEAD_LETTER_REASON_ATTRIBUTE: &str = "driftline-error";

/// The dead-letter queue on SQS: the message body as it came, its reason in the
/// [`DEAD_LETTER_REASON_ATTRIBUTE`] attribute (the first 1,024 characters).
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    sqs: Client,
    /// Without a queue nothing is sent, and the message is left to the redrive policy.
    queue_url: Option<String>,
}

impl SqsDeadLetters {
    pub fn new(sqs: Client, queue_url: Option<String>) -> Self {
        Self { sqs, queue_url }
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn send(&self, body: &str, reason: &str) -> bool {
        let Some(url) = &self.queue_url else {
            return false;
        };
        let reason_attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1024).collect::<String>())
            .build();
        let Ok(reason_attr) = reason_attr else {
            return false;
        };
        match self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_attributes(DEAD_LETTER_REASON_ATTRIBUTE, reason_attr)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "dead-letter queue unreachable");
                false
            }
        }
    }
}

/// The queues of a local setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalQueues {
    pub queue_url: String,
    pub dead_letter_url: String,
}

/// The scheduler's shard queue: one JSON message per shard, sent ten to a SendMessageBatch
/// with the partial failures resent as the intents' are.
#[derive(Debug, Clone)]
pub struct SqsShardQueue {
    client: Client,
    queue_url: String,
}

impl SqsShardQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl ShardQueue for SqsShardQueue {
    async fn send(&self, shards: &[Shard]) -> Result<(), StoreError> {
        let mut failed = Vec::new();
        for batch in shards.chunks(MAX_BATCH) {
            let bodies = batch
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::InvalidInput {
                    field: "shard",
                    value: e.to_string(),
                    reason: "cannot be written as JSON",
                })?;
            let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
            let bodies = &bodies;
            let outcome = send_with_retries(bodies.len(), |positions| async move {
                send_round(&self.client, &self.queue_url, bodies, positions, 0).await
            })
            .await;
            failed.extend(outcome.failed.into_iter().map(|(_, reason)| reason));
        }
        match failed.first() {
            None => Ok(()),
            Some(reason) => Err(StoreError::Unavailable {
                service: "sqs",
                operation: "SendMessageBatch(shards)",
                reason: format!(
                    "{} of {} shards not sent: {reason}",
                    failed.len(),
                    shards.len()
                ),
            }),
        }
    }
}

/// Creates `name` and its dead-letter queue `name-dlq`, with a redrive policy moving a
/// message there after `max_receive_count` receives. For local runs and tests; production
/// queues come from the CDK app.
///
/// # Errors
/// [`StoreError::Unavailable`] if SQS refuses.
pub async fn create_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> Result<LocalQueues, StoreError> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| unavailable("sqs", "CreateQueue(dlq)", e))?;
    let dead_letter_url = dlq.queue_url().unwrap_or_default().to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| unavailable("sqs", "GetQueueAttributes(dlq)", e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| StoreError::Corrupt {
            what: "queue attributes",
            field: "QueueArn",
            reason: "missing".into(),
        })?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .map_err(|e| unavailable("sqs", "CreateQueue", e))?;
    Ok(LocalQueues {
        queue_url: queue.queue_url().unwrap_or_default().to_owned(),
        dead_letter_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn partial_failures_are_resent_unless_the_sender_is_at_fault() {
        let rounds: Mutex<Vec<Vec<usize>>> = Mutex::new(Vec::new());
        let outcome = send_with_retries(6, |positions| {
            let round = {
                let mut r = rounds.lock().unwrap();
                r.push(positions.clone());
                r.len()
            };
            async move {
                match round {
                    // 0, 1 sent; 2 throttled; 3 malformed; 4 internal error; 5 unanswered.
                    1 => Ok(RoundResult {
                        successful: vec![0, 1],
                        failed: vec![
                            (2, false, "Throttled: slow down".into()),
                            (3, true, "InvalidMessageContents: bad".into()),
                            (4, false, "InternalError: oops".into()),
                        ],
                    }),
                    2 => Err("connection reset".into()),
                    _ => Ok(RoundResult {
                        successful: positions.iter().copied().filter(|&i| i != 4).collect(),
                        failed: vec![(4, false, "InternalError: still".into())],
                    }),
                }
            }
        })
        .await;
        assert_eq!(
            rounds.into_inner().unwrap(),
            vec![vec![0, 1, 2, 3, 4, 5], vec![2, 4, 5], vec![2, 4, 5]]
        );
        let mut sent = outcome.sent.clone();
        sent.sort_unstable();
        assert_eq!(sent, vec![0, 1, 2, 5]);
        assert_eq!(
            outcome.failed,
            vec![
                (3, "InvalidMessageContents: bad".to_owned()),
                (4, "InternalError: still".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_that_never_gets_through_is_reported_failed_with_the_reason() {
        let outcome = send_with_retries(2, |_| async {
            Err::<RoundResult, _>("unreachable".to_owned())
        })
        .await;
        assert!(outcome.sent.is_empty());
        assert_eq!(
            outcome.failed,
            vec![(0, "unreachable".to_owned()), (1, "unreachable".to_owned())]
        );
    }
}
