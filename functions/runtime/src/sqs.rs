//! The executor's handler: an SQS batch in, the batch item failures out. Each message is
//! handled on its own (their follow-ups are queued together); only the messages that must come
//! back are reported.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use driftline_core::ports::{DeadLetters, IntentQueue};
use driftline_core::service::executor::{Executor, Invocation, MessageOutcome};
use lambda_runtime::LambdaEvent;
use tracing::{error, warn};

/// Handles a batch.
pub async fn handle(
    executor: &Executor,
    queue: &dyn IntentQueue,
    dead_letters: &dyn DeadLetters,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let (event, context) = event.into_parts();
    let invocation = Invocation {
        request_id: context.request_id.clone(),
        deadline_ms: i64::try_from(context.deadline).unwrap_or(i64::MAX),
    };
    let bodies: Vec<&str> = event
        .records
        .iter()
        .map(|m| m.body.as_deref().unwrap_or_default())
        .collect();
    let outcomes = executor.handle_batch(&bodies, &invocation).await;
    let mut failures = Vec::new();
    for (message, outcome) in event.records.iter().zip(outcomes) {
        let id = message.message_id.clone().unwrap_or_default();
        let receipt = message.receipt_handle.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let retry_in = match outcome {
            MessageOutcome::Done(_) => None,
            MessageOutcome::RetryAfter { delay_secs, .. } => Some(delay_secs),
            MessageOutcome::DeadLetter { reason } => {
                error!(message_id = %id, %reason, "unreadable message");
                if dead_letters.send(body, &reason).await {
                    None
                } else {
                    // Back at once, until the redrive policy moves it to the dead-letter queue.
                    Some(0)
                }
            }
        };
        if let Some(delay) = retry_in {
            if let Err(e) = queue.retry_later(&receipt, delay).await {
                warn!(message_id = %id, error = %e, "could not delay the message; it returns after the visibility timeout");
            }
            failures.push(id);
        }
    }
    batch_failures(failures)
}

/// The response that asks the event source mapping to deliver the messages `ids` again.
pub(crate) fn batch_failures(ids: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
