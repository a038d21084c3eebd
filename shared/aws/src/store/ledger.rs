//! The order ledger on the table: recording a cycle's intents (in transactions that also check
//! the operator's stops), claiming, moving and filling an order by conditional updates whose
//! conditions are the state machine of `driftline_core::orders`, and reading a portfolio's
//! orders.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use driftline_core::orders::{
    claim_of_pending, classify_failed_claim, classify_failed_fill, fill_predecessors,
    fill_progress_key, Claim, ClaimOutcome, FillOutcome, FillProgress, OrderKey, OrderRecord,
    RecordOutcome, Refusal, Transition, TransitionOutcome, CLAIMABLE,
};
use driftline_core::ports::{ClearClaim, OrderLedger, StoreError};
use driftline_core::{BreakerState, EpochMillis, OrderIntent, OrderStatus, PortfolioId};

use super::order_item::{order_item, order_key, order_record};
use super::{portfolio_pk, DynamoStore};
use crate::controls::{breaker_key, halt_key};
use crate::item::{dec, n, s, to_json, unavailable};
use crate::portfolios::config_key;

/// What a claim sets, in both claims: the change every order change makes (state, version,
/// time; see `order_change`), then the claim's own.
const CLAIM_SET: [&str; 6] = [
    "order_status = :to",
    "record_version = record_version + :one",
    "updated_at_ms = :now",
    "attempts = attempts + :one",
    "claim_owner = :owner",
    "claim_expires_at_ms = :claim_expiry",
];

/// The most items one TransactWriteItems request may write.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// An update of one order under construction: the clauses it sets and the values they bind.
/// Every change moves the order to a state, counts a version and stamps the time; a final
/// state also sets the TTL.
struct OrderChange {
    op: UpdateItemFluentBuilder,
    set: Vec<&'static str>,
}

impl OrderChange {
    /// Sets one more attribute, by a clause naming its value (bound with [`Self::value`]).
    fn set(mut self, clause: &'static str) -> Self {
        self.set.push(clause);
        self
    }

    /// Binds `:name`, for a clause or the condition.
    fn value(mut self, name: &str, value: AttributeValue) -> Self {
        self.op = self.op.expression_attribute_values(name, value);
        self
    }

    /// The update: the SET clauses, then the attributes it removes.
    fn expression(self, remove: &[&str]) -> UpdateItemFluentBuilder {
        let mut expr = format!("SET {}", self.set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        self.op.update_expression(expr)
    }
}

impl DynamoStore {
    /// A change moving the order at `key` to `to` at `now`: `:to`, `:one` and `:now` bound.
    fn order_change(&self, key: &OrderKey, to: OrderStatus, now: EpochMillis) -> OrderChange {
        let change = OrderChange {
            op: self.update(order_key(key)),
            set: CLAIM_SET[..3].to_vec(),
        }
        .value(":to", s(to.as_str()))
        .value(":one", n(1))
        .value(":now", n(now));
        match self.order_ttl(to, now) {
            Some(ttl) => change.set("ttl_epoch_s = :ttl").value(":ttl", ttl),
            None => change,
        }
    }

    fn order_ttl(&self, status: OrderStatus, now: EpochMillis) -> Option<AttributeValue> {
        status
            .is_final()
            .then(|| n(now / 1000 + self.final_order_retention_secs))
    }

    /// Runs an order's conditional update: `Ok(new record)`, or `Err(old record)` when the
    /// condition failed (`None`: there was no order).
    async fn order_update(
        &self,
        op: UpdateItemFluentBuilder,
        operation: &'static str,
    ) -> Result<Result<OrderRecord, Option<OrderRecord>>, StoreError> {
        Ok(match self.conditional_update(op, operation).await? {
            Ok(new) => Ok(order_record(&new)?),
            Err(None) => Err(None),
            Err(Some(old)) => Err(Some(order_record(&old)?)),
        })
    }

    /// Records `chunk` (of one portfolio) in one transaction that also checks the operator's
    /// stops (see [`Self::stop_checks`]); retried, a little later, when it conflicted with
    /// another transaction on one of its items (the kill switch is in every cycle's and
    /// claim's) or was throttled.
    async fn record_together(
        &self,
        chunk: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Together, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let portfolio = &chunk[0].portfolio_id;
        let records: Vec<OrderRecord> = chunk
            .iter()
            .map(|i| OrderRecord::pending(i.clone(), now))
            .collect();
        let mut items = self.stop_checks(portfolio)?.to_vec();
        for record in &records {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(order_item(record, None)?))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|_| StoreError::InvalidInput {
                    field: "intent",
                    value: record.intent.client_order_id.to_string(),
                    reason: "not a complete put request",
                })?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let send = || async {
            let e = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            let failure = || unavailable("dynamodb", "TransactWriteItems(orders)", &e);
            let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                e.as_service_error()
            else {
                return Ok(Some(Together::Failed(failure())));
            };
            let reasons = c.cancellation_reasons();
            let failed =
                |k: usize| reasons.get(k).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            let existing = (0..chunk.len())
                .filter(|&k| failed(k + STOP_CHECKS))
                .map(|k| match reasons[k + STOP_CHECKS].item() {
                    Some(old) => Ok((k, order_record(old)?)),
                    None => Err(failure()),
                })
                .collect::<Result<Vec<_>, StoreError>>();
            let transient = reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                )
            });
            Ok(Some(match existing {
                Err(e) => Together::Failed(e),
                Ok(existing) if !existing.is_empty() => Together::Existing(existing),
                Ok(_) if failed(0) => Together::Refused(Refusal::Halted),
                Ok(_) if failed(1) => Together::Refused(Refusal::PortfolioStopped),
                // Another transaction on one of its items, or throttled: worth another try.
                Ok(_) if transient => return Err(Conflict(failure())),
                Ok(_) => Together::Failed(failure()),
            }))
        };
        use backon::Retryable;
        let sent = send
            .retry(super::conflict_backoff())
            .sleep(tokio::time::sleep)
            .await
            .map_err(|Conflict(e)| e)?;
        Ok(match sent {
            None => Together::Recorded(records),
            Some(Together::Failed(e)) => return Err(e),
            Some(other) => other,
        })
    }

    /// The checks every `PENDING` write makes in its transaction, first: the kill switch not
    /// set, and `portfolio` configured and not paused. An invocation that read the controls
    /// (or the portfolio's configuration) before the operator wrote a stop records nothing
    /// after it, so the console's look at the open orders, made after its write, sees every
    /// order there will be.
    fn stop_checks(
        &self,
        portfolio: &PortfolioId,
    ) -> Result<[TransactWriteItem; STOP_CHECKS], StoreError> {
        let item = |check: Result<ConditionCheck, _>, what: &'static str| {
            check
                .map(|c| TransactWriteItem::builder().condition_check(c).build())
                .map_err(|_| StoreError::InvalidInput {
                    field: "portfolio",
                    value: portfolio.to_string(),
                    reason: what,
                })
        };
        let running = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(config_key(portfolio.as_str())))
            .condition_expression("attribute_exists(spec) AND attribute_not_exists(paused)")
            .build();
        Ok([
            item(self.not_halted(), "not a complete halt check")?,
            item(running, "not a complete portfolio check")?,
        ])
    }

    /// The check that the kill switch is not set, in a claim's transaction and every record's.
    fn not_halted(&self) -> Result<ConditionCheck, aws_sdk_dynamodb::error::BuildError> {
        ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(halt_key()))
            .condition_expression("attribute_not_exists(halt)")
            .build()
    }
}

/// How many of a record transaction's items are [`DynamoStore::stop_checks`].
const STOP_CHECKS: usize = 2;

/// A record transaction cancelled for a reason worth another try: a conflict with another
/// transaction on one of its items, or throttling.
struct Conflict(StoreError);

/// What one transaction of `PENDING` records came to.
enum Together {
    /// Every record written.
    Recorded(Vec<OrderRecord>),
    /// Nothing written: the operator's stop is in force.
    Refused(Refusal),
    /// Nothing written: these of the chunk (by index) were there already, as recorded then.
    Existing(Vec<(usize, OrderRecord)>),
    /// Nothing written, for a reason no retry helps.
    Failed(StoreError),
}

/// Binds `#status IN (:prefix0, :prefix1, ...)` for `states`; `states` is never empty here.
fn status_in(
    mut op: UpdateItemFluentBuilder,
    prefix: &str,
    states: &[OrderStatus],
) -> (UpdateItemFluentBuilder, String) {
    let mut names = Vec::with_capacity(states.len());
    for (i, st) in states.iter().enumerate() {
        let name = format!(":{prefix}{i}");
        op = op.expression_attribute_values(&name, s(st.as_str()));
        names.push(name);
    }
    (op, format!("order_status IN ({})", names.join(", ")))
}

#[async_trait]
impl OrderLedger for DynamoStore {
    async fn record(
        &self,
        intent: &OrderIntent,
        now: EpochMillis,
    ) -> Result<RecordOutcome, StoreError> {
        let mut outcomes = self.record_all(std::slice::from_ref(intent), now).await?;
        Ok(outcomes.remove(0))
    }

    /// A cycle's records in one transaction per 98 (DynamoDB's limit of a hundred items, less
    /// the two [`Self::stop_checks`]): one request, not one per order, each put conditional on
    /// no record being there. A transaction is all or nothing: when some records were there
    /// already (a cycle run again), their old records come back with the cancellation and the
    /// rest is sent again, so every outcome is known exactly.
    async fn record_all(
        &self,
        intents: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if let Some(other) = intents
            .iter()
            .find(|i| i.portfolio_id != intents[0].portfolio_id)
        {
            return Err(StoreError::InvalidInput {
                field: "intent",
                value: other.client_order_id.to_string(),
                reason: "not of the same portfolio as the others recorded with it",
            });
        }
        let mut outcomes = Vec::with_capacity(intents.len());
        for chunk in intents.chunks(MAX_TRANSACTION_ITEMS - STOP_CHECKS) {
            // Once refused, the rest is too: nothing is sent that a stop lifted meanwhile
            // would let through.
            if let Some(&RecordOutcome::Refused(refusal)) = outcomes.last() {
                outcomes.extend(chunk.iter().map(|_| RecordOutcome::Refused(refusal)));
                continue;
            }
            let mut known: Vec<Option<RecordOutcome>> = vec![None; chunk.len()];
            loop {
                let (slots, left): (Vec<usize>, Vec<OrderIntent>) = known
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.is_none())
                    .map(|(k, _)| (k, chunk[k].clone()))
                    .unzip();
                if left.is_empty() {
                    break;
                }
                match self.record_together(&left, now).await? {
                    Together::Recorded(records) => {
                        for (k, r) in slots.into_iter().zip(records) {
                            known[k] = Some(RecordOutcome::Recorded(r));
                        }
                    }
                    Together::Refused(refusal) => {
                        for k in slots {
                            known[k] = Some(RecordOutcome::Refused(refusal));
                        }
                    }
                    Together::Existing(old) => {
                        for (j, r) in old {
                            known[slots[j]] = Some(RecordOutcome::AlreadyRecorded(r));
                        }
                    }
                    Together::Failed(e) => return Err(e),
                }
            }
            outcomes.extend(known.into_iter().flatten());
        }
        Ok(outcomes)
    }

    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError> {
        self.get_item(order_key(key), "GetItem(order)")
            .await?
            .map(|i| order_record(&i))
            .transpose()
    }

    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let change = self
            .order_change(key, OrderStatus::Placing, claim.now_ms)
            .set(CLAIM_SET[3])
            .set(CLAIM_SET[4])
            .value(":owner", s(claim.owner.clone()))
            .set(CLAIM_SET[5])
            .value(":claim_expiry", n(claim.in_progress_expiry_ms));
        let (op, free) = status_in(change.expression(&[]), "claimable", &CLAIMABLE);
        // The Powertools rule: free, or in progress past its in-progress expiry; and the
        // intent itself still live. Absent never matches: see ClaimOutcome::NotFound.
        let op = op.condition_expression(format!(
            "attribute_exists(pk) AND intent_expires_at_ms > :now AND ({free} OR \
             (order_status = :to AND claim_expires_at_ms < :now))"
        ));
        Ok(match self.order_update(op, "UpdateItem(claim)").await? {
            Ok(new) => ClaimOutcome::Claimed(new),
            Err(None) => ClaimOutcome::NotFound,
            Err(Some(old)) => classify_failed_claim(old, claim),
        })
    }

    /// One TransactWriteItems: the claim (as [`Self::claim`]'s, only from the `PENDING` record
    /// the scheduler wrote: version 1, the same intent) and two condition checks, the kill
    /// switch not set and the venue's breaker closed with no failure counted. Any of them
    /// failing cancels the whole; the caller then reads the controls and claims on its own.
    async fn claim_if_clear(
        &self,
        intent: &OrderIntent,
        claim: &Claim,
        venue: &str,
    ) -> Result<ClearClaim, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
        let invalid = |what: &'static str| {
            move |_| StoreError::InvalidInput {
                field: "claim",
                value: intent.client_order_id.to_string(),
                reason: what,
            }
        };
        let claimed = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&OrderKey::of(intent))))
            .update_expression(format!("SET {}", CLAIM_SET.join(", ")))
            .condition_expression(
                "order_status = :pending AND record_version = :one AND intent = :intent \
                 AND intent_expires_at_ms > :now",
            )
            .expression_attribute_values(":to", s(OrderStatus::Placing.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::Pending.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(claim.now_ms))
            .expression_attribute_values(":owner", s(claim.owner.clone()))
            .expression_attribute_values(":claim_expiry", n(claim.in_progress_expiry_ms))
            .expression_attribute_values(":intent", to_json(intent, "intent")?)
            .build()
            .map_err(invalid("not a complete claim"))?;
        let not_halted = self
            .not_halted()
            .map_err(invalid("not a complete halt check"))?;
        let breaker_clear = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(breaker_key(venue)))
            .condition_expression("attribute_not_exists(breaker_state) OR breaker_state = :clear")
            .expression_attribute_values(
                ":clear",
                to_json(&BreakerState::default(), "breaker_state")?,
            )
            .build()
            .map_err(invalid("not a complete breaker check"))?;
        let result = self
            .client
            .transact_write_items()
            // An SDK retry of a transaction that did commit then succeeds instead of being
            // cancelled by its own claim (a different claim of the order differs in owner or
            // time, and DynamoDB refuses it as a parameter mismatch: the usual way, then).
            .client_request_token(intent.client_order_id.as_str())
            .transact_items(TransactWriteItem::builder().update(claimed).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(not_halted)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(breaker_clear)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClearClaim::Claimed(Box::new(claim_of_pending(
                intent.clone(),
                claim,
            )))),
            Err(e) => match e.as_service_error() {
                // The reasons come in the order of the actions: the halt check is the second.
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    // Any reason on the halt check (failed, or a conflict with a halt being
                    // written) counts: the caller then reads the controls again.
                    let halted = cancelled
                        .cancellation_reasons()
                        .get(1)
                        .and_then(|r| r.code())
                        .is_some_and(|code| code != "None");
                    Ok(if halted {
                        ClearClaim::Halted
                    } else {
                        ClearClaim::NotClear
                    })
                }
                _ => Err(unavailable("dynamodb", "TransactWriteItems(claim)", e)),
            },
        }
    }

    async fn transition(
        &self,
        key: &OrderKey,
        t: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        let from = OrderStatus::predecessors(t.to);
        if from.is_empty() {
            // Nothing may move to this state (PENDING is only ever recorded).
            return Ok(match self.order(key).await? {
                Some(current) => TransitionOutcome::Conflict(current),
                None => TransitionOutcome::NotFound,
            });
        }
        let mut change = self
            .order_change(key, t.to, t.now_ms)
            .value(":expected", n(t.expected_version));
        if let Some(id) = &t.update.exchange_order_id {
            change = change
                .set("exchange_order_id = :exchange_order_id")
                .value(":exchange_order_id", s(id.as_str()));
        }
        if let Some(e) = &t.update.last_error {
            change = change
                .set("last_error = :last_error")
                .value(":last_error", s(e.clone()));
        }
        let remove: &[&str] = if t.to == OrderStatus::Placing {
            &[]
        } else {
            &["claim_owner", "claim_expires_at_ms"]
        };
        let (op, legal) = status_in(change.expression(remove), "from", &from);
        let op = op.condition_expression(format!("record_version = :expected AND {legal}"));
        Ok(
            match self.order_update(op, "UpdateItem(transition)").await? {
                Ok(new) => TransitionOutcome::Applied(new),
                Err(None) => TransitionOutcome::NotFound,
                Err(Some(old)) => TransitionOutcome::Conflict(old),
            },
        )
    }

    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
    ) -> Result<FillOutcome, StoreError> {
        let mut change = self
            .order_change(key, fill.status, fill.now_ms)
            .set("filled_qty = :filled")
            .value(":filled", dec(fill.executed_qty))
            .set("fill_progress = :progress")
            .value(":progress", s(fill_progress_key(fill.executed_qty)?))
            .set("cumulative_quote_qty = :quote")
            .value(":quote", dec(fill.cumulative_quote_qty))
            .set("fees = :fees")
            .value(":fees", dec(fill.fees))
            .set("fees_quote = :fees_quote")
            .value(":fees_quote", dec(fill.fees_quote))
            .set("exchange_order_id = :exchange_order_id")
            .value(":exchange_order_id", s(fill.exchange_order_id.as_str()));
        let mut remove = vec!["claim_owner", "claim_expires_at_ms"];
        match &fill.fee_asset {
            Some(a) => {
                change = change
                    .set("fee_asset = :fee_asset")
                    .value(":fee_asset", s(a.as_str()));
            }
            None => remove.push("fee_asset"),
        }
        let (op, legal) = status_in(
            change.expression(&remove),
            "from",
            &fill_predecessors(fill.status),
        );
        // Forward only, by the exchange's cumulative executed quantity (a fixed-width string
        // whose order is numeric order); the same quantity only with a new state.
        let op = op.condition_expression(format!(
            "{legal} AND (fill_progress < :progress OR \
             (fill_progress = :progress AND order_status <> :to))"
        ));
        Ok(match self.order_update(op, "UpdateItem(fill)").await? {
            Ok(new) => FillOutcome::Applied(new),
            Err(None) => FillOutcome::NotFound,
            Err(Some(old)) => classify_failed_fill(old, fill),
        })
    }

    async fn open_orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        let mut orders = self.orders(portfolio).await?;
        orders.retain(|r| !r.status.is_final());
        Ok(orders)
    }

    async fn orders(&self, portfolio: &PortfolioId) -> Result<Vec<OrderRecord>, StoreError> {
        // A portfolio holds few orders at a time and final ones expire, so a query of the
        // partition is cheaper than a secondary index.
        let items = self
            .query_prefix(
                portfolio_pk(portfolio),
                "ORDER#",
                false,
                None,
                "Query(orders)",
            )
            .await?;
        items.iter().map(order_record).collect()
    }
}
