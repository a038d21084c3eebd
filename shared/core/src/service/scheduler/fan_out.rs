//! Fan-out: a tick that finds more portfolios than one invocation should plan sends them, in
//! shards, to the scheduler's shard queue; each shard is planned by an invocation of its own
//! ([`Scheduler::run_shard`]) with the same lease and cycle-id guarantees as a whole tick, since
//! it runs the same [`Scheduler::run`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{error, info};

use super::{PortfolioSummary, Scheduler};
use crate::ports::{Shard, ShardQueue, StoreError};
use crate::{CycleId, EpochMillis, PortfolioId};

/// When a tick fans out, and how finely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// A tick with more portfolios than this fans out (when a shard queue is wired).
    pub above: usize,
    /// Portfolios per shard.
    pub shard_size: usize,
}

impl Default for FanOut {
    fn default() -> Self {
        Self {
            above: 200,
            shard_size: 50,
        }
    }
}

/// What a tick did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tick", rename_all = "snake_case")]
pub enum Tick {
    /// This invocation ran the cycle of every portfolio (or found the deployment halted).
    Ran { portfolios: Vec<PortfolioSummary> },
    /// The portfolios went to the shard queue, `shards` messages of at most the shard size.
    FannedOut { portfolios: usize, shards: usize },
}

/// What a shard's invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shard", rename_all = "snake_case")]
pub enum ShardRun {
    Ran {
        portfolios: Vec<PortfolioSummary>,
    },
    /// Delivered once the next tick came: nothing planned, that tick plans its portfolios.
    Expired {
        expired_at_ms: EpochMillis,
    },
}

impl Scheduler {
    /// The queue this scheduler sends its shards to: without one it never fans out.
    #[must_use]
    pub fn with_shards(mut self, queue: Option<Arc<dyn ShardQueue>>) -> Self {
        self.shards = queue;
        self
    }

    /// A scheduled tick: the cycle of every configured portfolio, run here, or, above
    /// [`FanOut::above`] portfolios, sent to the shard queue in shards of
    /// [`FanOut::shard_size`]. A halted deployment sends no shard.
    ///
    /// # Errors
    /// [`StoreError`] when the portfolios or the controls cannot be read, or when a shard could
    /// not be sent: the invocation fails (shards sent before are planned; a tick run again
    /// sends them all again, and those plan nothing twice).
    pub async fn tick(
        &self,
        cycle: &CycleId,
        expires_at_ms: EpochMillis,
        owner: &str,
    ) -> Result<Tick, StoreError> {
        let ids = self.ports.store.configs.portfolio_ids().await?;
        let fan_out = self.settings.fan_out;
        let queue = match &self.shards {
            Some(queue) if ids.len() > fan_out.above => queue,
            _ => {
                return Ok(Tick::Ran {
                    portfolios: self.run(cycle, Some(&ids), owner).await?,
                })
            }
        };
        if let Some(halted) = self.halted(cycle, &ids).await? {
            return Ok(Tick::Ran { portfolios: halted });
        }
        let shards = shards_of(&ids, cycle, expires_at_ms, fan_out.shard_size);
        queue.send(&shards).await?;
        info!(
            portfolios = ids.len(),
            shards = shards.len(),
            "tick fanned out"
        );
        Ok(Tick::FannedOut {
            portfolios: ids.len(),
            shards: shards.len(),
        })
    }

    /// A shard's cycles, unless it arrived once the next tick came (`expires_at_ms`).
    ///
    /// # Errors
    /// As [`Scheduler::run`]: the shard is to be delivered again.
    pub async fn run_shard(&self, shard: &Shard, owner: &str) -> Result<ShardRun, StoreError> {
        if self.now() >= shard.expires_at_ms {
            error!(cycle = %shard.cycle_id, expired_at_ms = shard.expires_at_ms, portfolios = shard.portfolios.len(), "shard delivered after the next tick: nothing planned (the shards fall behind: raise shardConcurrency)");
            return Ok(ShardRun::Expired {
                expired_at_ms: shard.expires_at_ms,
            });
        }
        Ok(ShardRun::Ran {
            portfolios: self
                .run(&shard.cycle_id, Some(&shard.portfolios), owner)
                .await?,
        })
    }
}

/// `ids` in shards of at most `size` (at least one a shard), the shards starting at one that
/// depends on the cycle. SQS delivers roughly in the order sent: when the shard invocations
/// fall behind, the last shards wait for the next tick, and starting each tick elsewhere keeps
/// that from being the same portfolios every time. The same cycle always gives the same shards.
fn shards_of(
    ids: &[PortfolioId],
    cycle: &CycleId,
    expires_at_ms: EpochMillis,
    size: usize,
) -> Vec<Shard> {
    let mut shards: Vec<Shard> = ids
        .chunks(size.max(1))
        .map(|chunk| Shard {
            cycle_id: cycle.clone(),
            expires_at_ms,
            portfolios: chunk.to_vec(),
        })
        .collect();
    if !shards.is_empty() {
        let digest = Sha256::digest(cycle.as_str().as_bytes());
        let draw = digest
            .iter()
            .take(8)
            .fold(0u64, |n, b| (n << 8) | u64::from(*b));
        let start = usize::try_from(draw % shards.len() as u64).unwrap_or(0);
        shards.rotate_left(start);
    }
    shards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_portfolio_once_at_most_size_each() {
        let ids: Vec<PortfolioId> = (0..7)
            .map(|i| PortfolioId::new(&format!("p{i}")).unwrap())
            .collect();
        let cycle = CycleId::new("20261203T140000Z").unwrap();
        let shards = shards_of(&ids, &cycle, 5, 3);
        let mut sizes: Vec<usize> = shards.iter().map(|s| s.portfolios.len()).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [1, 3, 3]);
        let mut flat: Vec<PortfolioId> = shards.into_iter().flat_map(|s| s.portfolios).collect();
        flat.sort();
        assert_eq!(flat, ids);
        assert_eq!(shards_of(&ids, &cycle, 5, 0).len(), 7, "a size of 0 is 1");
        assert!(shards_of(&[], &cycle, 5, 3).is_empty());
    }

    #[test]
    fn each_cycle_starts_its_shards_somewhere_but_the_same_cycle_always_in_the_same_place() {
        let ids: Vec<PortfolioId> = (0..40)
            .map(|i| PortfolioId::new(&format!("p{i:02}")).unwrap())
            .collect();
        let first = |cycle: &str| {
            let cycle = CycleId::new(cycle).unwrap();
            shards_of(&ids, &cycle, 5, 10)[0].portfolios[0].clone()
        };
        let starts: std::collections::BTreeSet<PortfolioId> = (0..24)
            .map(|h| first(&format!("20261203T{h:02}0000Z")))
            .collect();
        assert!(starts.len() > 1, "every tick starts at the same shard");
        assert_eq!(first("20261203T140000Z"), first("20261203T140000Z"));
    }
}
