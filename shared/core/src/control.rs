//! The operator's switches, set from the `driftline` console. A **halt** stops the whole
//! deployment: while it is in force the scheduler plans nothing and the executor sends nothing
//! to the exchange (its intents wait as new delayed messages, never toward the dead-letter
//! queue, and run after `resume` if they have not expired). A **pause** stops one portfolio: no
//! cycle plans it; its resting orders are left alone unless the operator asks.
//!
//! Both functions read the halt at the start of every invocation, in the same request as the
//! exchange's circuit breaker ([`DeploymentControls::read`]). The ledger checks the halt and the
//! pause again in every record of a new order ([`crate::ports::OrderLedger::record`]), so an
//! invocation that read them before a stop records nothing after it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ports::{StoreError, VersionedBreaker};
use crate::service::scheduler::PortfolioOutcome;
use crate::{CycleId, EpochMillis};

/// Why, by whom and since when something was stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub reason: String,
    /// Who stopped it (the operator's AWS identity, as the console saw it).
    pub by: String,
    pub at_ms: EpochMillis,
}

/// What the functions read at the start of every invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlState {
    /// The deployment's halt, when one is in force.
    pub halt: Option<Stop>,
    /// The venue's shared circuit breaker.
    pub breaker: VersionedBreaker,
}

/// The deployment's kill switch, kept with the breakers so that one read gives both.
///
/// # Errors
/// [`StoreError::Unavailable`] when the store cannot be reached, [`StoreError::Corrupt`] when a
/// stored item cannot be read back.
#[async_trait]
pub trait DeploymentControls: Send + Sync {
    /// The halt in force and `venue`'s breaker, read together (one request on DynamoDB).
    async fn read(&self, venue: &str) -> Result<ControlState, StoreError>;
    /// Halts the deployment (`Some`, replacing a halt in force) or lifts the halt (`None`);
    /// returns the halt that was in force.
    async fn set_halt(&self, halt: Option<&Stop>) -> Result<Option<Stop>, StoreError>;
}

/// How a portfolio's last cycle ended, kept on its lease item (no extra write: the release is
/// that write) for `driftline status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub cycle_id: CycleId,
    pub at_ms: EpochMillis,
    pub outcome: PortfolioOutcome,
}
