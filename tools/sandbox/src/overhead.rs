//! The executor overhead run (docs/BENCHMARKS.md, "Executor overhead"): real placements
//! through the real executor handler, each invocation [`measure`]d, with no injected faults
//! or latency.
//!
//! Orders come from the normal path: `portfolios` copies of the article's portfolio, each on
//! its own paper-exchange account, so every scheduler tick plans two sells per portfolio. A
//! round is one tick; the executor places what it queued; then both markets move up 2%, which
//! fills the resting sells (their follow-ups see them filled) and leaves every portfolio
//! overweight again for the next tick. Rounds repeat until `placements` orders were placed.
//!
//! The harness is the event source mapping: it receives batches of up to `batch` messages.
//! Placements (the first message of a client order id) and follow-ups (any later one) of one
//! receive are handed to the handler as separate invocations, so each sample is of one kind.

use std::collections::HashSet;

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use driftline_core::config::PortfolioSpec;
use driftline_core::orders::IntentEnvelope;
use driftline_core::service::scheduler::PortfolioOutcome;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::accounting::{measure, Measured};
use crate::{article_market, article_spec, SandboxError, World};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct OverheadRun {
    /// Portfolios (and venue accounts): two orders each per round.
    pub portfolios: usize,
    /// Placements to measure; the run ends after the round that reaches it.
    pub placements: usize,
    /// Messages per receive, 1-10 (the event source mapping's batch size).
    pub batch: i32,
}

/// What the messages of an invocation were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The first delivery of an order: claim, book, place, record, queue its follow-up.
    Placement,
    /// A later delivery: query the order and record what the exchange reports.
    FollowUp,
}

/// One executor invocation, measured.
#[derive(Debug)]
pub struct InvocationSample {
    pub kind: MessageKind,
    pub messages: usize,
    pub measured: Measured<aws_lambda_events::sqs::SqsBatchResponse>,
    /// AWS attempts the [`crate::accounting::AwsCalls`] tally counted meanwhile.
    pub counted_aws_attempts: u64,
    /// Exchange calls the port's tally counted meanwhile.
    pub counted_exchange_calls: u64,
}

impl InvocationSample {
    pub fn failures(&self) -> usize {
        self.measured.output.batch_item_failures.len()
    }
}

/// The article's market with `portfolios` accounts `a0`, `a1`, ..., each holding the article's
/// balances.
pub fn venue(portfolios: usize) -> String {
    let mut toml = String::from(article_market!());
    for i in 0..portfolios {
        toml.push_str(&format!(
            "[[accounts]]\nname = \"a{i}\"\napi_key = \"key-{i}\"\nsecret = \"secret-{i}\"\n\
             balances = {{ BTC = \"1.5\", ETH = \"25\", USDT = \"20000\" }}\n\n"
        ));
    }
    toml
}

/// The article's portfolio `p{i}` on account `a{i}`, for each account of [`venue`], without
/// the velocity rule.
pub fn portfolios(portfolios: usize) -> Vec<PortfolioSpec> {
    (0..portfolios)
        .map(|i| {
            let mut spec = article_spec();
            spec.id = format!("p{i}");
            spec.account = Some(format!("a{i}"));
            // Each round's small move re-opens a drift the last round's sells had closed; the
            // velocity rule would read that as drift reverting and defer it.
            spec.policy.velocity = None;
            spec
        })
        .collect()
}

/// A round's follow-ups are one or two per order: far fewer receives than this.
const MAX_RECEIVES_PER_ROUND: usize = 1_000;

fn run_error(reason: impl Into<String>) -> SandboxError {
    SandboxError::Run(reason.into())
}

/// Starts a world for `run`, drives it, stops it; every executor invocation measured.
///
/// # Errors
/// [`SandboxError`] when the world does not start, a handler fails a tick, SQS refuses a call,
/// a message is unreadable or a round plans nothing.
pub async fn run(
    sdk: &aws_config::SdkConfig,
    run: OverheadRun,
) -> Result<Vec<InvocationSample>, SandboxError> {
    let portfolio_specs = portfolios(run.portfolios);
    let world = World::launch(sdk, &venue(run.portfolios), &portfolio_specs).await?;
    let result = Driver::new(&world, run).drive().await;
    world.stop().await;
    result
}

struct Driver<'w> {
    world: &'w World,
    run: OverheadRun,
    seen: HashSet<String>,
    samples: Vec<InvocationSample>,
    placements: usize,
    /// The article market's mids, moved up each round.
    mids: [(&'static str, Decimal); 2],
}

/// Messages handled by one receive.
#[derive(Default)]
struct Received {
    placements: usize,
    follow_ups: usize,
}

impl<'w> Driver<'w> {
    fn new(world: &'w World, run: OverheadRun) -> Self {
        Self {
            world,
            run,
            seen: HashSet::new(),
            samples: Vec::new(),
            placements: 0,
            mids: [
                ("BTCUSDT", Decimal::new(64_230, 0)),
                ("ETHUSDT", Decimal::new(3_450, 0)),
            ],
        }
    }

    async fn drive(mut self) -> Result<Vec<InvocationSample>, SandboxError> {
        let mut round = 0;
        while self.placements < self.run.placements {
            if round > 0 {
                self.world.next_tick();
            }
            round += 1;
            let response = self
                .world
                .run_cycle(Value::Object(Default::default()))
                .await?;
            let queued: usize = response
                .portfolios
                .iter()
                .map(|p| match &p.outcome {
                    PortfolioOutcome::Planned { queued, .. } => *queued,
                    _ => 0,
                })
                .sum();
            if queued == 0 {
                return Err(run_error(format!(
                    "round {round} planned nothing: {:?}",
                    response.portfolios
                )));
            }
            // Place what the tick queued.
            let mut placed = 0;
            let mut idle = 0;
            while placed < queued && idle < 3 {
                let got = self.receive_and_handle().await?;
                placed += got.placements;
                idle = if got.placements + got.follow_ups == 0 {
                    idle + 1
                } else {
                    0
                };
            }
            // Move both markets up through the resting sells, then let their follow-ups see
            // them filled, until nothing is left on the queue.
            for (symbol, mid) in &mut self.mids {
                *mid = (*mid * Decimal::new(102, 2)).round_dp(2);
                self.world.set_mid(symbol, &mid.to_string()).await;
            }
            let mut receives = 0;
            loop {
                let got = self.receive_and_handle().await?;
                if got.placements + got.follow_ups == 0 && self.queue_is_empty().await? {
                    break;
                }
                receives += 1;
                if receives > MAX_RECEIVES_PER_ROUND {
                    return Err(run_error(format!(
                        "round {round}: the queue did not empty in {MAX_RECEIVES_PER_ROUND} receives"
                    )));
                }
            }
        }
        Ok(self.samples)
    }

    /// One receive; its placements and its follow-ups each handed to the handler as one
    /// measured invocation.
    async fn receive_and_handle(&mut self) -> Result<Received, SandboxError> {
        let messages = self.world.receive(self.run.batch, 1).await?;
        let mut placements = Vec::new();
        let mut follow_ups = Vec::new();
        for m in messages {
            let body = m.body().unwrap_or_default();
            let envelope = IntentEnvelope::from_json(body)
                .map_err(|e| run_error(format!("unreadable message {body:?}: {e}")))?;
            if self
                .seen
                .insert(envelope.intent.client_order_id.as_str().to_owned())
            {
                placements.push(m);
            } else {
                follow_ups.push(m);
            }
        }
        let got = Received {
            placements: placements.len(),
            follow_ups: follow_ups.len(),
        };
        self.placements += placements.len();
        self.invoke(MessageKind::Placement, placements).await?;
        self.invoke(MessageKind::FollowUp, follow_ups).await?;
        Ok(got)
    }

    async fn invoke(
        &mut self,
        kind: MessageKind,
        messages: Vec<Message>,
    ) -> Result<(), SandboxError> {
        if messages.is_empty() {
            return Ok(());
        }
        let aws_before = self.world.aws_calls.attempts.total();
        let exchange_before = self.world.exchange_calls.total();
        let measured = measure(self.world.invoke_executor(&messages)).await;
        let counted_aws_attempts = self.world.aws_calls.attempts.total() - aws_before;
        let counted_exchange_calls = self.world.exchange_calls.total() - exchange_before;
        self.world.acknowledge(&messages, &measured.output).await?;
        self.samples.push(InvocationSample {
            kind,
            messages: messages.len(),
            measured,
            counted_aws_attempts,
            counted_exchange_calls,
        });
        Ok(())
    }

    /// Nothing visible, in flight or delayed on the intents queue.
    async fn queue_is_empty(&self) -> Result<bool, SandboxError> {
        let out = self
            .world
            .sqs
            .get_queue_attributes()
            .queue_url(&self.world.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| SandboxError::Sqs {
                operation: "GetQueueAttributes",
                reason: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            })?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(attributes
            .values()
            .all(|v| v.parse::<u64>().is_ok_and(|n| n == 0)))
    }
}
