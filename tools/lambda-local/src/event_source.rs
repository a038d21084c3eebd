//! A stand-in for the SQS event source mapping, which has no local equivalent: receive a batch,
//! invoke the function with it as an `SqsEvent`, delete every message except the batch item
//! failures it reports (all of them when the invocation fails), repeat.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;
use thiserror::Error;

use crate::function::{InvokeError, LocalFunction};

#[derive(Debug, Error)]
pub enum EventSourceError {
    #[error("sqs {operation}: {message}")]
    Sqs {
        operation: &'static str,
        message: String,
    },
    #[error(transparent)]
    Invoke(#[from] InvokeError),
}

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> EventSourceError {
    move |e| EventSourceError::Sqs {
        operation,
        message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
    }
}

/// One delivered batch and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub deleted: usize,
    /// Message ids the function reported as batch item failures (they stay on the queue).
    pub failed: Vec<String>,
    /// The invocation itself failed: nothing was deleted.
    pub invocation_error: Option<String>,
}

/// What a [`SqsEventSource::drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub invocations: usize,
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
    pub invocation_errors: Vec<String>,
    /// True when the queue ended empty (nothing visible, in flight or delayed).
    pub drained: bool,
}

/// Feeds one queue to one function.
pub struct SqsEventSource {
    sqs: Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    /// Messages per invocation (the mapping's `BatchSize`; SQS receives at most 10 at once).
    pub batch_size: i32,
    /// Long-poll wait of each receive.
    pub wait: Duration,
}

impl SqsEventSource {
    /// # Errors
    /// [`EventSourceError::Sqs`] when the queue's ARN cannot be read.
    pub async fn new(sqs: Client, queue_url: &str) -> Result<Self, EventSourceError> {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let region = queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_owned();
        Ok(Self {
            sqs,
            queue_url: queue_url.to_owned(),
            queue_arn,
            region,
            batch_size: 10,
            wait: Duration::from_secs(1),
        })
    }

    /// Receives one batch and, if it is not empty, delivers it to `function`.
    ///
    /// # Errors
    /// [`EventSourceError`] when SQS fails or the function cannot be reached at all (it
    /// exited or timed out); a handler's error is an outcome, not an error.
    pub async fn deliver_batch(
        &self,
        function: &mut LocalFunction,
    ) -> Result<BatchOutcome, EventSourceError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(i32::try_from(self.wait.as_secs()).unwrap_or(20).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        let mut outcome = BatchOutcome {
            received: messages.len(),
            ..BatchOutcome::default()
        };
        let keep: Vec<String> = match function.invoke::<_, SqsBatchResponse>(&event).await {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(InvokeError::Function(e)) => {
                outcome.invocation_error = Some(e);
                messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect()
            }
            Err(e) => return Err(e.into()),
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| keep.contains(id)))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            let deleted = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("DeleteMessageBatch"))?;
            outcome.deleted = deleted.successful.len();
        }
        if outcome.invocation_error.is_none() {
            outcome.failed = keep;
        }
        Ok(outcome)
    }

    /// Delivers batches until the queue is empty (nothing visible, in flight or delayed) or
    /// `max_invocations` or `limit` is reached, whichever comes first.
    ///
    /// # Errors
    /// As [`SqsEventSource::deliver_batch`].
    pub async fn drain(
        &self,
        function: &mut LocalFunction,
        max_invocations: usize,
        limit: Duration,
    ) -> Result<DrainReport, EventSourceError> {
        let started = Instant::now();
        let mut report = DrainReport::default();
        while report.invocations < max_invocations && started.elapsed() < limit {
            let batch = self.deliver_batch(function).await?;
            if batch.received == 0 {
                if self.queue_depth().await? == 0 {
                    report.drained = true;
                    break;
                }
                continue;
            }
            report.invocations += 1;
            report.received += batch.received;
            report.deleted += batch.deleted;
            report.failed += batch.failed.len();
            report.invocation_errors.extend(batch.invocation_error);
        }
        if !report.drained {
            report.drained = self.queue_depth().await? == 0;
        }
        Ok(report)
    }

    /// Messages on the queue: visible, in flight and delayed.
    ///
    /// # Errors
    /// [`EventSourceError::Sqs`] when SQS fails.
    pub async fn queue_depth(&self) -> Result<u64, EventSourceError> {
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        let attrs = attrs.attributes.unwrap_or_default();
        Ok(names
            .iter()
            .filter_map(|n| attrs.get(n))
            .filter_map(|v| v.parse::<u64>().ok())
            .sum())
    }

    /// A received message as the event source mapping hands it to Lambda.
    fn record(&self, m: &aws_sdk_sqs::types::Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id.clone_from(&m.message_id);
        r.receipt_handle.clone_from(&m.receipt_handle);
        r.body.clone_from(&m.body);
        r.md5_of_body.clone_from(&m.md5_of_body);
        r.attributes = m
            .attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
        r.event_source = Some("aws:sqs".to_owned());
        r.event_source_arn = Some(self.queue_arn.clone());
        r.aws_region = Some(self.region.clone());
        r
    }
}
