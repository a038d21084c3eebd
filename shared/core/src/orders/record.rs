//! An order's record in the ledger and the rules that move it: claim, transition, fill. Pure
//! functions over records, so the in-memory ledger (`crate::testing`) and the DynamoDB adapter
//! (which turns them into condition expressions and classifies the `ALL_OLD` item of a failed
//! condition with them) agree.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ports::{ExchangeOrderId, StoreError};
use crate::{Asset, ClientOrderId, EpochMillis, OrderIntent, OrderStatus, PortfolioId};

/// Where an order lives in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderKey {
    pub portfolio_id: PortfolioId,
    pub client_order_id: ClientOrderId,
}

impl OrderKey {
    pub fn of(intent: &OrderIntent) -> Self {
        Self {
            portfolio_id: intent.portfolio_id.clone(),
            client_order_id: intent.client_order_id.clone(),
        }
    }
}

/// An order as the ledger knows it: the intent, where it is in its life, and what has filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub intent: OrderIntent,
    pub status: OrderStatus,
    /// Bumped by every change; transitions name the version they start from.
    pub version: u64,
    /// Cumulative executed base quantity, as the exchange reports it.
    #[serde(with = "crate::exact")]
    pub filled_qty: Decimal,
    /// Cumulative quote spent (buy) or received (sell).
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    /// Cumulative commission, in `fee_asset`.
    #[serde(with = "crate::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    /// Every fill's commission converted to the quote asset at the fill's price: what the
    /// order cost in fees, whatever asset the exchange charged them in.
    #[serde(with = "crate::exact", default)]
    pub fees_quote: Decimal,
    pub exchange_order_id: Option<ExchangeOrderId>,
    /// How many times the order was claimed for execution.
    pub attempts: u32,
    /// Who holds the execution claim, and until when (epoch ms, from the Lambda deadline).
    pub claim_owner: Option<String>,
    pub claim_expires_at_ms: Option<EpochMillis>,
    pub last_error: Option<String>,
    pub updated_at_ms: EpochMillis,
}

impl OrderRecord {
    /// The record the scheduler writes: pending, version 1, nothing filled.
    pub fn pending(intent: OrderIntent, now: EpochMillis) -> Self {
        Self {
            intent,
            status: OrderStatus::Pending,
            version: 1,
            filled_qty: Decimal::ZERO,
            cumulative_quote_qty: Decimal::ZERO,
            fees: Decimal::ZERO,
            fee_asset: None,
            fees_quote: Decimal::ZERO,
            exchange_order_id: None,
            attempts: 0,
            claim_owner: None,
            claim_expires_at_ms: None,
            last_error: None,
            updated_at_ms: now,
        }
    }

    pub fn key(&self) -> OrderKey {
        OrderKey::of(&self.intent)
    }
}

/// Outcome of recording an intent: the ledger never overwrites an order it already has, and
/// records nothing new once the operator has stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded(OrderRecord),
    AlreadyRecorded(OrderRecord),
    /// Not recorded: the ledger found, in the same write, the operator's stop in force. An
    /// invocation that read the controls before a halt or a pause thus records nothing after
    /// it, so the console's look at the open orders, made after its write, sees them all.
    Refused(Refusal),
}

/// Why the ledger refused to record an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The deployment is halted (`driftline halt`).
    Halted,
    /// The intent's portfolio is paused (`driftline portfolio pause`) or no longer configured
    /// (`driftline portfolio remove`).
    PortfolioStopped,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Halted => "the deployment was halted",
            Self::PortfolioStopped => "the portfolio was paused or removed",
        })
    }
}

/// A request to claim an order for execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who claims (the Lambda request id).
    pub owner: String,
    pub now_ms: EpochMillis,
    /// When the claim lapses if its holder dies: the invocation's deadline.
    pub in_progress_expiry_ms: EpochMillis,
}

/// Outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the order (now `PLACING`) and may place it.
    Claimed(OrderRecord),
    /// Another invocation holds a live claim.
    HeldByOther(OrderRecord),
    /// The order is past the claimable states (placed, filled, final): nothing to do.
    NotClaimable(OrderRecord),
    /// The intent's own deadline has passed: move it to `EXPIRED`, never place it.
    IntentExpired(OrderRecord),
    /// No such order. Never placed from the message alone: the record may have been removed
    /// by its TTL after it reached a final state.
    NotFound,
}

/// The states a claim starts from, besides a `PLACING` claim that has lapsed.
pub const CLAIMABLE: [OrderStatus; 2] = [OrderStatus::Pending, OrderStatus::Queued];

/// Whether `claim` may take `current` (the Powertools rule: free, or in progress past its
/// in-progress expiry), and the intent's deadline has not passed.
pub fn claim_allowed(current: &OrderRecord, claim: &Claim) -> bool {
    let free = CLAIMABLE.contains(&current.status);
    let lapsed = current.status == OrderStatus::Placing
        && current
            .claim_expires_at_ms
            .is_some_and(|e| e < claim.now_ms);
    (free || lapsed) && current.intent.expires_at_ms > claim.now_ms
}

/// Why a claim on `current` failed (the caller has checked [`claim_allowed`] is false).
pub fn classify_failed_claim(current: OrderRecord, claim: &Claim) -> ClaimOutcome {
    let claimable_state = CLAIMABLE.contains(&current.status)
        || (current.status == OrderStatus::Placing
            && current
                .claim_expires_at_ms
                .is_some_and(|e| e < claim.now_ms));
    if claimable_state && current.intent.expires_at_ms <= claim.now_ms {
        ClaimOutcome::IntentExpired(current)
    } else if current.status == OrderStatus::Placing {
        ClaimOutcome::HeldByOther(current)
    } else {
        ClaimOutcome::NotClaimable(current)
    }
}

/// The record after a successful claim.
pub fn apply_claim(mut current: OrderRecord, claim: &Claim) -> OrderRecord {
    current.status = OrderStatus::Placing;
    current.version += 1;
    current.attempts += 1;
    current.claim_owner = Some(claim.owner.clone());
    current.claim_expires_at_ms = Some(claim.in_progress_expiry_ms);
    current.updated_at_ms = claim.now_ms;
    current
}

/// The record a claim of a `PENDING` order makes, known without reading it: nothing moves to
/// `PENDING` (it is only ever recorded), so a `PENDING` record of `intent` at version 1 is
/// exactly what the scheduler wrote. The one-request claim
/// ([`crate::ports::OrderLedger::claim_if_clear`]) is conditional on that, and so needs no read.
pub fn claim_of_pending(intent: OrderIntent, claim: &Claim) -> OrderRecord {
    apply_claim(OrderRecord::pending(intent, claim.now_ms), claim)
}

/// What a transition records besides the new status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderUpdate {
    pub exchange_order_id: Option<ExchangeOrderId>,
    pub last_error: Option<String>,
}

/// A state change from a known version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub expected_version: u64,
    pub to: OrderStatus,
    pub update: OrderUpdate,
    pub now_ms: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Applied(OrderRecord),
    /// The move is illegal from the current state, or the version moved on: here is the
    /// current record.
    Conflict(OrderRecord),
    NotFound,
}

pub fn transition_allowed(current: &OrderRecord, t: &Transition) -> bool {
    current.version == t.expected_version && current.status.can_become(t.to)
}

pub fn apply_transition(mut current: OrderRecord, t: &Transition) -> OrderRecord {
    current.status = t.to;
    current.version += 1;
    if let Some(id) = &t.update.exchange_order_id {
        current.exchange_order_id = Some(id.clone());
    }
    if let Some(e) = &t.update.last_error {
        current.last_error = Some(e.clone());
    }
    if t.to != OrderStatus::Placing {
        current.claim_owner = None;
        current.claim_expires_at_ms = None;
    }
    current.updated_at_ms = t.now_ms;
    current
}

/// An order's cumulative execution as the exchange reports it. Fills are applied by this
/// cumulative quantity, which only moves forward, so the same report applied twice (or an
/// older report after a newer one) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillProgress {
    pub exchange_order_id: ExchangeOrderId,
    pub executed_qty: Decimal,
    pub cumulative_quote_qty: Decimal,
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    /// All commissions in the quote asset (see [`OrderRecord::fees_quote`]).
    pub fees_quote: Decimal,
    /// `PARTIALLY_FILLED`, `FILLED`, or a final state an order with fills may end in
    /// (`CANCELLED`, `EXPIRED`).
    pub status: OrderStatus,
    /// When the report was applied: the record's `updated_at_ms`.
    pub now_ms: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillOutcome {
    Applied(OrderRecord),
    /// This report (or a later one) was applied before: nothing changed.
    AlreadyApplied(OrderRecord),
    /// The order's state does not accept this report (for example a fill on a pending order).
    Conflict(OrderRecord),
    NotFound,
}

/// Width of the integer and fraction parts of [`fill_progress_key`].
const KEY_INT_DIGITS: usize = 20;
const KEY_FRAC_DIGITS: usize = 18;

/// A non-negative quantity as a fixed-width string whose byte order is its numeric order, so a
/// store can compare quantities kept as strings ("never as numbers") in a condition.
///
/// # Errors
/// [`StoreError::InvalidInput`] for a negative quantity, more than 20 integer digits or more
/// than 18 decimal places.
pub fn fill_progress_key(qty: Decimal) -> Result<String, StoreError> {
    let invalid = |reason| StoreError::InvalidInput {
        field: "executed_qty",
        value: qty.to_string(),
        reason,
    };
    if qty.is_sign_negative() && !qty.is_zero() {
        return Err(invalid("must not be negative"));
    }
    let plain = qty.normalize().abs().to_string();
    let (int, frac) = plain.split_once('.').unwrap_or((plain.as_str(), ""));
    if int.len() > KEY_INT_DIGITS {
        return Err(invalid("more than 20 integer digits"));
    }
    if frac.len() > KEY_FRAC_DIGITS {
        return Err(invalid("more than 18 decimal places"));
    }
    Ok(format!(
        "{int:0>iw$}.{frac:0<fw$}",
        iw = KEY_INT_DIGITS,
        fw = KEY_FRAC_DIGITS
    ))
}

/// The states a fill report moving an order to `to` may start from: the state machine's
/// predecessors the exchange may have accepted an order in. A final state is never left, not
/// even for itself with a larger quantity.
pub fn fill_predecessors(to: OrderStatus) -> Vec<OrderStatus> {
    OrderStatus::predecessors(to)
        .into_iter()
        .filter(|s| {
            matches!(
                s,
                OrderStatus::Placing
                    | OrderStatus::Placed
                    | OrderStatus::PartiallyFilled
                    | OrderStatus::Repricing
            )
        })
        .collect()
}

/// Whether `fill` moves `current` forward.
///
/// # Errors
/// As [`fill_progress_key`].
pub fn fill_allowed(current: &OrderRecord, fill: &FillProgress) -> Result<bool, StoreError> {
    let forward = fill_progress_key(current.filled_qty)? < fill_progress_key(fill.executed_qty)?;
    let same_qty_new_state =
        current.filled_qty == fill.executed_qty && current.status != fill.status;
    Ok(fill_predecessors(fill.status).contains(&current.status) && (forward || same_qty_new_state))
}

/// Why a fill on `current` did not apply (the caller has checked [`fill_allowed`] is false).
pub fn classify_failed_fill(current: OrderRecord, fill: &FillProgress) -> FillOutcome {
    let seen = current.filled_qty >= fill.executed_qty
        && (current.status == fill.status
            || current.status.is_final()
            || fill.status == OrderStatus::PartiallyFilled
                && current.status == OrderStatus::Filled);
    if seen {
        FillOutcome::AlreadyApplied(current)
    } else {
        FillOutcome::Conflict(current)
    }
}

pub fn apply_fill(mut current: OrderRecord, fill: &FillProgress) -> OrderRecord {
    current.status = fill.status;
    current.version += 1;
    current.filled_qty = fill.executed_qty;
    current.cumulative_quote_qty = fill.cumulative_quote_qty;
    current.fees = fill.fees;
    current.fee_asset.clone_from(&fill.fee_asset);
    current.fees_quote = fill.fees_quote;
    current.exchange_order_id = Some(fill.exchange_order_id.clone());
    current.claim_owner = None;
    current.claim_expires_at_ms = None;
    current.updated_at_ms = fill.now_ms;
    current
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{CycleId, Symbol};
    use crate::{Price, Side};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    pub(crate) fn intent(expires_at_ms: EpochMillis) -> OrderIntent {
        let portfolio_id = PortfolioId::new("p1").unwrap();
        let cycle_id = CycleId::new("c1").unwrap();
        let symbol: Symbol = "BTC/USDT".parse().unwrap();
        OrderIntent {
            client_order_id: ClientOrderId::derive(
                None,
                &portfolio_id,
                &cycle_id,
                &symbol,
                Side::Buy,
                0,
            ),
            portfolio_id,
            cycle_id,
            symbol,
            side: Side::Buy,
            leg: 0,
            quantity: dec!(0.5),
            limit_price: Price::new(dec!(100)).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            funded_by_sells: false,
            quote_fee_bps: None,
            reference_price: Price::new(dec!(100.05)).unwrap(),
            worst_price: Price::new(dec!(101)).unwrap(),
            predicted_cost_bps: dec!(3.5),
            created_at_ms: 0,
            expires_at_ms,
            account: None,
        }
    }

    fn record(status: OrderStatus, claim_expiry: Option<EpochMillis>) -> OrderRecord {
        OrderRecord {
            status,
            claim_expires_at_ms: claim_expiry,
            ..OrderRecord::pending(intent(10_000), 0)
        }
    }

    fn claim_at(now_ms: EpochMillis) -> Claim {
        Claim {
            owner: "req-2".into(),
            now_ms,
            in_progress_expiry_ms: now_ms + 900,
        }
    }

    #[rstest]
    #[case::pending(OrderStatus::Pending, None, 100, true)]
    #[case::queued(OrderStatus::Queued, None, 100, true)]
    #[case::live_claim(OrderStatus::Placing, Some(500), 100, false)]
    #[case::lapsed_claim(OrderStatus::Placing, Some(500), 501, true)]
    #[case::at_expiry_still_held(OrderStatus::Placing, Some(500), 500, false)]
    #[case::placed(OrderStatus::Placed, None, 100, false)]
    #[case::filled(OrderStatus::Filled, None, 100, false)]
    #[case::intent_expired(OrderStatus::Pending, None, 10_000, false)]
    fn claim_rule(
        #[case] status: OrderStatus,
        #[case] claim_expiry: Option<EpochMillis>,
        #[case] now: EpochMillis,
        #[case] allowed: bool,
    ) {
        assert_eq!(
            claim_allowed(&record(status, claim_expiry), &claim_at(now)),
            allowed
        );
    }

    #[rstest]
    #[case::held(OrderStatus::Placing, Some(500), 100, "held")]
    #[case::done(OrderStatus::Placed, None, 100, "not_claimable")]
    #[case::expired(OrderStatus::Queued, None, 10_001, "expired")]
    fn failed_claims_say_why(
        #[case] status: OrderStatus,
        #[case] claim_expiry: Option<EpochMillis>,
        #[case] now: EpochMillis,
        #[case] why: &str,
    ) {
        let got = match classify_failed_claim(record(status, claim_expiry), &claim_at(now)) {
            ClaimOutcome::HeldByOther(_) => "held",
            ClaimOutcome::NotClaimable(_) => "not_claimable",
            ClaimOutcome::IntentExpired(_) => "expired",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, why);
    }

    #[test]
    fn progress_keys_sort_as_the_quantities_do() {
        let qs = [
            dec!(0),
            dec!(0.00000001),
            dec!(0.5),
            dec!(0.50),
            dec!(2),
            dec!(10),
            dec!(10.1),
            dec!(123456.789),
        ];
        for a in qs {
            for b in qs {
                let (ka, kb) = (fill_progress_key(a).unwrap(), fill_progress_key(b).unwrap());
                assert_eq!(ka.cmp(&kb), a.cmp(&b), "{a} vs {b}: {ka} {kb}");
            }
        }
        assert_eq!(
            fill_progress_key(dec!(1.5)).unwrap(),
            "00000000000000000001.500000000000000000"
        );
    }

    #[rstest]
    #[case::negative(dec!(-1))]
    #[case::too_precise(dec!(0.0000000000000000001))]
    #[case::too_large(dec!(100000000000000000000))]
    fn progress_key_refuses_what_it_cannot_order(#[case] q: Decimal) {
        let err = fill_progress_key(q).unwrap_err();
        assert!(err.to_string().contains("executed_qty"), "{err}");
    }

    fn fill(qty: Decimal, status: OrderStatus) -> FillProgress {
        FillProgress {
            exchange_order_id: 7.into(),
            executed_qty: qty,
            cumulative_quote_qty: qty * dec!(100),
            fees: dec!(0),
            fee_asset: None,
            fees_quote: dec!(0),
            status,
            now_ms: 0,
        }
    }

    #[test]
    fn fills_only_move_forward() {
        let placed = record(OrderStatus::Placed, None);
        let f = fill(dec!(0.2), OrderStatus::PartiallyFilled);
        assert!(fill_allowed(&placed, &f).unwrap());
        let after = apply_fill(
            placed,
            &FillProgress {
                now_ms: 1,
                ..f.clone()
            },
        );
        assert!(!fill_allowed(&after, &f).unwrap(), "the same report twice");
        assert!(matches!(
            classify_failed_fill(after.clone(), &f),
            FillOutcome::AlreadyApplied(_)
        ));
        let older = fill(dec!(0.1), OrderStatus::PartiallyFilled);
        assert!(!fill_allowed(&after, &older).unwrap());
        assert!(matches!(
            classify_failed_fill(after.clone(), &older),
            FillOutcome::AlreadyApplied(_)
        ));
        let done = fill(dec!(0.5), OrderStatus::Filled);
        let filled = apply_fill(
            after,
            &FillProgress {
                now_ms: 2,
                ..done.clone()
            },
        );
        assert!(!fill_allowed(&filled, &done).unwrap());
        assert!(!fill_allowed(&filled, &f).unwrap());
        let more_after_final = fill(dec!(0.6), OrderStatus::Filled);
        assert!(
            !fill_allowed(&filled, &more_after_final).unwrap(),
            "a final state is never left"
        );
        let cancelled_same_qty = fill(dec!(0.2), OrderStatus::Cancelled);
        let partial = apply_fill(
            record(OrderStatus::Placed, None),
            &FillProgress {
                now_ms: 1,
                ..f.clone()
            },
        );
        assert!(
            fill_allowed(&partial, &cancelled_same_qty).unwrap(),
            "cancel with the fills so far"
        );
        let pending = record(OrderStatus::Pending, None);
        assert!(!fill_allowed(&pending, &f).unwrap());
        assert!(matches!(
            classify_failed_fill(pending, &f),
            FillOutcome::Conflict(_)
        ));
    }
}
