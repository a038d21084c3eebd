//! Driving a world: scheduler ticks as EventBridge sends them, executor and shard invocations
//! as the SQS event source mappings make them, and what the ledger and the queues hold after.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use driftline_core::orders::OrderRecord;
use driftline_core::ports::{Clock, OrderLedger, Shard};

use driftline_core::{EpochMillis, PortfolioId};
use driftline_functions::scheduled::{self, SchedulerResponse};
use driftline_functions::sqs as sqs_handler;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

use crate::{sqs_error, Drained, SandboxError, World, PERIOD_SECONDS};

impl World {
    pub fn now(&self) -> EpochMillis {
        self.clock.now_ms()
    }

    pub(crate) fn context(&self) -> Context {
        let mut ctx = Context::default();
        ctx.request_id = format!("req-{}", self.invocation.fetch_add(1, Ordering::Relaxed));
        ctx.deadline = u64::try_from(self.now() + 60_000).unwrap_or(u64::MAX);
        ctx
    }

    /// Invokes the scheduler handler with a scheduled event at the clock's time.
    pub async fn tick(&self) -> SchedulerResponse {
        self.tick_with(Value::Object(Default::default())).await
    }

    pub async fn tick_with(&self, detail: Value) -> SchedulerResponse {
        match self.run_cycle(detail).await {
            Ok(r) => r,
            Err(e) => panic!("the scheduler does not handle the tick: {e}"),
        }
    }

    /// The scheduler on the tick of `time_ms`, whatever the clock says: a tick delivered late,
    /// or again.
    pub async fn tick_at(&self, time_ms: EpochMillis) -> SchedulerResponse {
        match self
            .run_cycle_at(time_ms, Value::Object(Default::default()))
            .await
        {
            Ok(r) => r,
            Err(e) => panic!("the scheduler does not handle the tick: {e}"),
        }
    }

    /// The scheduler handler on a scheduled event at the clock's time, as EventBridge sends it.
    ///
    /// # Errors
    /// [`SandboxError::Scheduler`] when the handler fails the invocation.
    pub async fn run_cycle(&self, detail: Value) -> Result<SchedulerResponse, SandboxError> {
        self.run_cycle_at(self.now(), detail).await
    }

    /// The scheduler handler on a scheduled event of `time_ms`.
    ///
    /// # Errors
    /// [`SandboxError::Scheduler`] when the handler fails the invocation.
    pub async fn run_cycle_at(
        &self,
        time_ms: EpochMillis,
        detail: Value,
    ) -> Result<SchedulerResponse, SandboxError> {
        let mut event: EventBridgeEvent<Value> = EventBridgeEvent::default();
        event.detail_type = "Scheduled Event".into();
        event.source = "aws.events".into();
        event.time = chrono::DateTime::from_timestamp_millis(time_ms);
        event.detail = detail;
        Ok(scheduled::handle(
            &self.scheduler,
            PERIOD_SECONDS,
            LambdaEvent::new(event, self.context()),
        )
        .await?)
    }

    /// One executor invocation on up to ten messages, as the event source mapping would do it.
    pub async fn invoke_executor_once(&self, wait_secs: i32) -> Drained {
        match self.executor_round(wait_secs).await {
            Ok(d) => d,
            Err(e) => panic!("executor round: {e}"),
        }
    }

    /// Receives up to ten messages (long polling up to `wait_secs`), invokes the executor
    /// handler on them, and deletes every message that is not a batch item failure. A failure
    /// stays on the queue: the handler has already set its visibility to the retry delay.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a receive or a delete.
    pub async fn executor_round(&self, wait_secs: i32) -> Result<Drained, SandboxError> {
        let messages = self.receive(10, wait_secs).await?;
        if messages.is_empty() {
            return Ok(Drained::default());
        }
        let response = self.invoke_executor(&messages).await;
        let failures = self.acknowledge(&messages, &response).await?;
        Ok(Drained {
            invocations: 1,
            messages: messages.len(),
            failures,
        })
    }

    /// Receives up to `max` (1-10) messages from the intents queue, long polling up to
    /// `wait_secs`, as the event source mapping does (on the uncounted client).
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses the receive.
    pub async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, SandboxError> {
        self.receive_from(&self.queue_url, max, wait_secs).await
    }

    async fn receive_from(
        &self,
        queue_url: &str,
        max: i32,
        wait_secs: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, SandboxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// One executor handler invocation on `messages`, as Lambda delivers them.
    pub async fn invoke_executor(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
    ) -> SqsBatchResponse {
        sqs_handler::handle(
            &self.executor,
            self.queue.as_ref(),
            self.dead_letters.as_ref(),
            LambdaEvent::new(sqs_event(messages), self.context()),
        )
        .await
    }

    /// Drains the scheduler's shard queue as its event source mapping does: one shard an
    /// invocation, up to `concurrency` (1-10) invocations at once, each message deleted unless
    /// it is a batch item failure, until a receive finds none. What each invocation did.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a receive or a delete.
    pub async fn drain_shards(
        &self,
        concurrency: usize,
    ) -> Result<Vec<ShardInvocation>, SandboxError> {
        let max = i32::try_from(concurrency.clamp(1, 10)).unwrap_or(10);
        let mut done = Vec::new();
        loop {
            let messages = self.receive_from(&self.shards_url, max, 1).await?;
            if messages.is_empty() {
                return Ok(done);
            }
            let invocations = messages.iter().map(|m| async move {
                let started = Instant::now();
                let event = sqs_event(std::slice::from_ref(m));
                let response = scheduled::handle_shards(
                    &self.scheduler,
                    LambdaEvent::new(event, self.context()),
                )
                .await;
                let elapsed = started.elapsed();
                let failed = self
                    .acknowledge_on(&self.shards_url, std::slice::from_ref(m), &response)
                    .await?;
                let portfolios = serde_json::from_str::<Shard>(m.body().unwrap_or_default())
                    .map_or(0, |s| s.portfolios.len());
                Ok::<_, SandboxError>(ShardInvocation {
                    portfolios,
                    failed: failed > 0,
                    elapsed,
                })
            });
            for outcome in futures::future::join_all(invocations).await {
                done.push(outcome?);
            }
        }
    }

    /// Deletes every message of an invocation that is not one of its batch item failures, as
    /// the event source mapping does; the number of failures.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses a delete.
    pub async fn acknowledge(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
        response: &SqsBatchResponse,
    ) -> Result<usize, SandboxError> {
        self.acknowledge_on(&self.queue_url, messages, response)
            .await
    }

    async fn acknowledge_on(
        &self,
        queue_url: &str,
        messages: &[aws_sdk_sqs::types::Message],
        response: &SqsBatchResponse,
    ) -> Result<usize, SandboxError> {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in messages {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(sqs_error("DeleteMessage"))?;
            }
        }
        Ok(failed.len())
    }

    /// Drives the executor until the queue stays empty for three receives, or `max`
    /// invocations.
    pub async fn drain(&self, max: usize) -> Drained {
        let mut total = Drained::default();
        let mut idle = 0;
        while total.invocations < max && idle < 3 {
            let d = self.invoke_executor_once(1).await;
            if d.messages == 0 {
                idle += 1;
                continue;
            }
            idle = 0;
            total.invocations += 1;
            total.messages += d.messages;
            total.failures += d.failures;
        }
        total
    }

    /// The ledger's records of a portfolio, every state.
    pub async fn orders(&self, portfolio: &str) -> Vec<OrderRecord> {
        let id = match PortfolioId::new(portfolio) {
            Ok(id) => id,
            Err(e) => panic!("portfolio id {portfolio}: {e}"),
        };
        match self.store.orders(&id).await {
            Ok(orders) => orders,
            Err(e) => panic!("ledger: {e}"),
        }
    }

    /// Moves the shared clock to the next schedule tick.
    pub fn next_tick(&self) {
        self.clock.advance(i64::from(PERIOD_SECONDS) * 1000);
    }

    /// Messages in the dead-letter queue, with their `driftline-error` reason.
    pub async fn dead_letters(&self) -> Vec<(String, Option<String>)> {
        match self.try_dead_letters().await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Messages in the dead-letter queue (up to ten), with their `driftline-error` reason.
    ///
    /// # Errors
    /// [`SandboxError::Sqs`] when SQS refuses the receive.
    pub async fn try_dead_letters(&self) -> Result<Vec<(String, Option<String>)>, SandboxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage(dlq)"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get(driftline_aws::DEAD_LETTER_REASON_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                (m.body().unwrap_or_default().to_owned(), reason)
            })
            .collect())
    }
}

/// What one shard invocation did ([`World::drain_shards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardInvocation {
    /// The portfolios its shard named (0 for one that could not be read).
    pub portfolios: usize,
    /// Reported as a batch item failure: the shard comes back.
    pub failed: bool,
    /// How long the handler took, wall clock.
    pub elapsed: Duration,
}

/// `messages` as Lambda delivers them from SQS.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(str::to_owned);
            r.receipt_handle = m.receipt_handle().map(str::to_owned);
            r.body = m.body().map(str::to_owned);
            r
        })
        .collect();
    event
}
