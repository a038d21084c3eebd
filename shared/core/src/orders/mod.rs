//! The order lifecycle, from intent to final state, in one place.
//!
//! - [`intent`]: what the planner asks for (`OrderIntent`, its deterministic `ClientOrderId`)
//!   and the states an order goes through (`OrderStatus`).
//! - [`record`]: the ledger's record of an order and the rules that move it: claim, transition,
//!   fill. Stores apply these rules as conditional writes, so every adapter agrees.
//! - [`envelope`]: the message an intent travels in, with a placed order's progress on a
//!   follow-up.
//! - [`execution`]: how an intent is priced against the book it meets, what an exchange report
//!   changes, the fees of its fills and how its execution is measured.
//! - [`tracker`]: the one tracker both services use to apply a report, close, expire and
//!   re-price an order.

pub mod envelope;
pub mod execution;
pub mod intent;
pub mod record;
pub mod tracker;

pub use envelope::{IntentEnvelope, PlacedOrder};
pub use execution::{
    decide_execution, execution_quality, fills_cover, ledger_status, left_behind, leg_quantity,
    report_change, tally_fees, ExecutionDecision, ExecutionQuality, FeeTally, ReportChange,
};
pub use intent::{ClientOrderId, CycleId, EpochMillis, OrderIntent, OrderStatus, Side};
pub use record::{
    apply_claim, apply_fill, apply_transition, claim_allowed, claim_of_pending,
    classify_failed_claim, classify_failed_fill, fill_allowed, fill_predecessors,
    fill_progress_key, transition_allowed, Claim, ClaimOutcome, FillOutcome, FillProgress,
    OrderKey, OrderRecord, OrderUpdate, RecordOutcome, Refusal, Transition, TransitionOutcome,
    CLAIMABLE,
};
pub use tracker::{next_leg, OrderTracker, Repriced, TrackError};
