//! The queue that carries intents from the scheduler to the executor, and how a message is put
//! back for later; the queue that carries a tick's shards of portfolios to the scheduler's
//! own shard invocations.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::orders::IntentEnvelope;
use crate::{ClientOrderId, CycleId, EpochMillis, PortfolioId};

/// Exponential backoff for redelivering a message, capped (15 minutes by default, well under
/// SQS's 12-hour visibility limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub base_secs: u32,
    pub cap_secs: u32,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            base_secs: 5,
            cap_secs: 15 * 60,
        }
    }
}

impl RetryBackoff {
    /// The longest delay for the `attempt`-th retry (0-based): `base × 2^attempt`, capped.
    pub fn ceiling_secs(self, attempt: u32) -> u32 {
        self.base_secs
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap_secs)
    }

    /// "Equal jitter": half the ceiling plus a random share of the other half, so concurrent
    /// retries spread out but none comes back at once. `draw` is any random number.
    pub fn delay_secs(self, attempt: u32, draw: u64) -> u32 {
        let ceiling = self.ceiling_secs(attempt);
        let half = ceiling / 2;
        let spread = u64::from(ceiling - half) + 1;
        // The remainder is below `spread`, itself at most u32::MAX + 1.
        half + u32::try_from(draw % spread).unwrap_or(0)
    }
}

/// A message taken from the queue: the envelope and what is needed to delete or delay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedIntent {
    pub envelope: IntentEnvelope,
    pub receipt_handle: String,
    /// How many times the queue has delivered this message, this time included.
    pub receive_count: u32,
}

/// What a batch send did: intents sent, and those the queue refused after retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: Vec<ClientOrderId>,
    pub failed: Vec<(ClientOrderId, String)>,
}

/// The queue that carries intents from the scheduler to the executor (at least once).
///
/// # Errors
/// [`StoreError::Unavailable`] when the queue cannot be reached; [`StoreError::InvalidInput`]
/// for a delay over 900 seconds or a receipt handle the queue does not know.
#[async_trait]
pub trait IntentQueue: Send + Sync {
    /// Sends every message, each visible after `delay_secs` (at most 900).
    async fn send(
        &self,
        messages: &[IntentEnvelope],
        delay_secs: u32,
    ) -> Result<SendReport, StoreError>;
    /// Up to `max` messages, waiting up to `wait_secs` for the first.
    async fn receive(&self, max: u8, wait_secs: u8) -> Result<Vec<ReceivedIntent>, StoreError>;
    /// Makes a received message visible again after `delay_secs` (retry backoff).
    async fn retry_later(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), StoreError>;
    /// Acknowledges a message: it is never delivered again.
    async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError>;
}

/// Where a message that cannot be read goes, with the reason, so a person can look at it.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Sends `body` with `reason`; false when it could not (the caller then leaves the message
    /// to the queue's redrive policy).
    async fn send(&self, body: &str, reason: &str) -> bool;
}

/// A share of a tick's portfolios, planned by a scheduler invocation of its own (the fan-out
/// of [`crate::service::scheduler::Scheduler::tick`]). Every shard of a tick names the tick's
/// cycle, so a shard delivered twice finds its portfolios' cycle already ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub cycle_id: CycleId,
    /// When the next tick comes: a shard delivered later plans nothing (that tick plans its
    /// portfolios).
    pub expires_at_ms: EpochMillis,
    pub portfolios: Vec<PortfolioId>,
}

/// The queue of shards the scheduler sends itself (at least once).
///
/// # Errors
/// [`StoreError::Unavailable`] when any shard could not be sent (after the adapter's own
/// resends): the tick fails, and the next one plans those portfolios (a tick run again sends
/// every shard again; one sent twice plans nothing twice).
#[async_trait]
pub trait ShardQueue: Send + Sync {
    async fn send(&self, shards: &[Shard]) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, 0, 2)]
    #[case(0, u64::MAX, 5)]
    #[case(3, 0, 20)]
    #[case(3, 20, 40)]
    #[case(30, 0, 450)]
    #[case(30, 450, 900)]
    fn backoff_is_exponential_capped_and_jittered_within_half(
        #[case] attempt: u32,
        #[case] draw: u64,
        #[case] want: u32,
    ) {
        let b = RetryBackoff::default();
        let got = b.delay_secs(attempt, draw);
        let ceiling = b.ceiling_secs(attempt);
        assert!(got >= ceiling / 2 && got <= ceiling && got <= 900);
        if draw != u64::MAX {
            assert_eq!(got, want);
        }
    }
}
