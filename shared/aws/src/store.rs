//! The DynamoDB store: every ledger port on one table. Each state change is one conditional
//! write built from the rules of `driftline_core::ledger`; a failed condition returns the item
//! as it was (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), which the same rules classify.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use driftline_core::orders::{
    classify_failed_claim, classify_failed_fill, fill_predecessors, fill_progress_key, Claim,
    ClaimOutcome, FillOutcome, FillProgress, OrderKey, OrderRecord, RecordOutcome, Transition,
    TransitionOutcome, CLAIMABLE,
};
use driftline_core::ports::{
    CycleLeases, DriftHistory, Lease, LeaseOutcome, MarketFilterCache, OrderLedger,
    RecordedSnapshot, StoreError, MARKET_FILTER_TTL_MS,
};
use driftline_core::{
    ClientOrderId, CycleId, DriftSnapshot, EpochMillis, MarketFilters, OrderIntent, OrderStatus,
    PortfolioId, Symbol,
};

use crate::item::{
    dec, n, opt_n, opt_s, req_dec, req_json, req_n, req_s, s, to_json, unavailable, Item,
};
use crate::table::{PK, SK, TTL_ATTRIBUTE};
use driftline_core::control::CycleRecord;

const ORDER: &str = "order";
const LEASE: &str = "cycle lease";
const DRIFT: &str = "drift snapshot";
const FILTERS: &str = "market filters";
/// The most items one TransactWriteItems request may write.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Every ledger port on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    /// How long a final order is kept before TTL removes it.
    final_order_retention_secs: i64,
    /// How long drift snapshots are kept.
    drift_retention_secs: i64,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            final_order_retention_secs: 90 * 24 * 3600,
            drift_retention_secs: 30 * 24 * 3600,
        }
    }

    pub fn with_retention(mut self, final_orders_secs: i64, drift_secs: i64) -> Self {
        self.final_order_retention_secs = final_orders_secs;
        self.drift_retention_secs = drift_secs;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn key(pk: String, sk: String) -> Item {
        HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
    }

    fn order_key(key: &OrderKey) -> Item {
        Self::key(
            portfolio_pk(&key.portfolio_id),
            format!("ORDER#{}", key.client_order_id),
        )
    }

    pub(crate) fn update(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// Runs a conditional update: `Ok(Ok(new item))`, or `Ok(Err(old item))` when the
    /// condition failed (`None`: there was no item).
    pub(crate) async fn conditional_update(
        &self,
        op: UpdateItemFluentBuilder,
        operation: &'static str,
    ) -> Result<Result<Item, Option<Item>>, StoreError> {
        match op.send().await {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Err(c.item().cloned()))
                }
                _ => Err(unavailable("dynamodb", operation, e)),
            },
        }
    }

    pub(crate) async fn get_item(
        &self,
        key: Item,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", operation, e))?;
        Ok(out.item)
    }

    /// All items of a partition whose sort key starts with `prefix`, in the given order.
    pub(crate) async fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
        newest_first: bool,
        limit: Option<i32>,
        operation: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_keys(pk, SortKeys::Prefix(prefix), newest_first, limit, operation)
            .await
    }

    /// All items of a partition whose sort keys are in `keys`, in the given order, every page.
    async fn query_keys(
        &self,
        pk: String,
        keys: SortKeys<'_>,
        newest_first: bool,
        limit: Option<i32>,
        operation: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk.clone()));
            let query = match keys {
                SortKeys::Prefix(prefix) => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                SortKeys::Between(from, to) => query
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to)),
            };
            let out = query
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_limit(limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("dynamodb", operation, e))?;
            items.extend(out.items.unwrap_or_default());
            let enough = limit.is_some_and(|l| items.len() >= usize::try_from(l).unwrap_or(0));
            match out.last_evaluated_key {
                Some(k) if !enough => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    fn order_ttl(&self, status: OrderStatus, now: EpochMillis) -> Option<AttributeValue> {
        status
            .is_final()
            .then(|| n(now / 1000 + self.final_order_retention_secs))
    }
}

/// Which sort keys of a partition a query reads.
#[derive(Clone, Copy)]
enum SortKeys<'a> {
    Prefix(&'a str),
    /// From the first to the second, both included.
    Between(&'a str, &'a str),
}

fn portfolio_pk(p: &PortfolioId) -> String {
    format!("PORTFOLIO#{p}")
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

fn order_item(r: &OrderRecord, ttl: Option<AttributeValue>) -> Result<Item, StoreError> {
    let mut item = DynamoStore::order_key(&r.key());
    item.insert("item_type".into(), s("ORDER"));
    item.insert("intent".into(), to_json(&r.intent, "intent")?);
    item.insert("intent_expires_at_ms".into(), n(r.intent.expires_at_ms));
    item.insert("order_status".into(), s(r.status.as_str()));
    item.insert("record_version".into(), n(r.version));
    item.insert("filled_qty".into(), dec(r.filled_qty));
    item.insert("fill_progress".into(), s(fill_progress_key(r.filled_qty)?));
    item.insert("cumulative_quote_qty".into(), dec(r.cumulative_quote_qty));
    item.insert("fees".into(), dec(r.fees));
    item.insert("fees_quote".into(), dec(r.fees_quote));
    if let Some(a) = &r.fee_asset {
        item.insert("fee_asset".into(), s(a.as_str()));
    }
    if let Some(id) = r.exchange_order_id {
        item.insert("exchange_order_id".into(), n(id));
    }
    item.insert("attempts".into(), n(r.attempts));
    if let Some(o) = &r.claim_owner {
        item.insert("claim_owner".into(), s(o.clone()));
    }
    if let Some(e) = r.claim_expires_at_ms {
        item.insert("claim_expires_at_ms".into(), n(e));
    }
    if let Some(e) = &r.last_error {
        item.insert("last_error".into(), s(e.clone()));
    }
    item.insert("updated_at_ms".into(), n(r.updated_at_ms));
    if let Some(ttl) = ttl {
        item.insert(TTL_ATTRIBUTE.into(), ttl);
    }
    Ok(item)
}

fn order_record(item: &Item) -> Result<OrderRecord, StoreError> {
    let status = req_s(item, ORDER, "order_status")?;
    Ok(OrderRecord {
        intent: req_json(item, ORDER, "intent")?,
        status: OrderStatus::parse(status).ok_or_else(|| StoreError::Corrupt {
            what: ORDER,
            field: "order_status",
            reason: format!("unknown status {status:?}"),
        })?,
        version: req_n(item, ORDER, "record_version")?,
        filled_qty: req_dec(item, ORDER, "filled_qty")?,
        cumulative_quote_qty: req_dec(item, ORDER, "cumulative_quote_qty")?,
        fees: req_dec(item, ORDER, "fees")?,
        // Absent on records written before fees were counted in the quote asset.
        fees_quote: match item.get("fees_quote") {
            Some(_) => req_dec(item, ORDER, "fees_quote")?,
            None => rust_decimal::Decimal::ZERO,
        },
        fee_asset: opt_s(item, ORDER, "fee_asset")?
            .map(|a| {
                a.parse().map_err(|_| StoreError::Corrupt {
                    what: ORDER,
                    field: "fee_asset",
                    reason: format!("{a:?} is not an asset code"),
                })
            })
            .transpose()?,
        exchange_order_id: opt_n(item, ORDER, "exchange_order_id")?,
        attempts: req_n(item, ORDER, "attempts")?,
        claim_owner: opt_s(item, ORDER, "claim_owner")?.map(str::to_owned),
        claim_expires_at_ms: opt_n(item, ORDER, "claim_expires_at_ms")?,
        last_error: opt_s(item, ORDER, "last_error")?.map(str::to_owned),
        updated_at_ms: req_n(item, ORDER, "updated_at_ms")?,
    })
}

#[async_trait]
impl OrderLedger for DynamoStore {
    async fn record(
        &self,
        intent: &OrderIntent,
        now: EpochMillis,
    ) -> Result<RecordOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let record = OrderRecord::pending(intent.clone(), now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(order_item(&record, None)?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded(record)),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(old) => Ok(RecordOutcome::AlreadyRecorded(order_record(old)?)),
                    None => Err(unavailable("dynamodb", "PutItem(order)", e)),
                },
                _ => Err(unavailable("dynamodb", "PutItem(order)", e)),
            },
        }
    }

    /// A cycle's records in one transaction per hundred (DynamoDB's limit): one request, not
    /// one per order, each put conditional as in `record`. A transaction is all or nothing, so
    /// when a record already exists (a cycle run again) or another write conflicts, that chunk
    /// is recorded one by one and every outcome is known exactly. A transactional write costs
    /// two write units where a put costs one: a single intent is put on its own.
    async fn record_all(
        &self,
        intents: &[OrderIntent],
        now: EpochMillis,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let mut outcomes = Vec::with_capacity(intents.len());
        for chunk in intents.chunks(MAX_TRANSACTION_ITEMS) {
            if let [intent] = chunk {
                outcomes.push(self.record(intent, now).await?);
                continue;
            }
            let records: Vec<OrderRecord> = chunk
                .iter()
                .map(|i| OrderRecord::pending(i.clone(), now))
                .collect();
            let mut puts = Vec::with_capacity(records.len());
            for record in &records {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(order_item(record, None)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| StoreError::InvalidInput {
                        field: "intent",
                        value: record.intent.client_order_id.to_string(),
                        reason: if e.to_string().is_empty() {
                            "not a complete put"
                        } else {
                            "not a complete put request"
                        },
                    })?;
                puts.push(TransactWriteItem::builder().put(put).build());
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(puts))
                .send()
                .await;
            match result {
                Ok(_) => outcomes.extend(records.into_iter().map(RecordOutcome::Recorded)),
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    ) =>
                {
                    for intent in chunk {
                        outcomes.push(self.record(intent, now).await?);
                    }
                }
                Err(e) => return Err(unavailable("dynamodb", "TransactWriteItems(orders)", e)),
            }
        }
        Ok(outcomes)
    }

    async fn order(&self, key: &OrderKey) -> Result<Option<OrderRecord>, StoreError> {
        self.get_item(Self::order_key(key), "GetItem(order)")
            .await?
            .map(|i| order_record(&i))
            .transpose()
    }

    async fn claim(&self, key: &OrderKey, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let op = self
            .update(Self::order_key(key))
            .update_expression(
                "SET order_status = :placing, record_version = record_version + :one, \
                 attempts = attempts + :one, claim_owner = :owner, \
                 claim_expires_at_ms = :claim_expiry, updated_at_ms = :now",
            )
            .expression_attribute_values(":placing", s(OrderStatus::Placing.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(claim.owner.clone()))
            .expression_attribute_values(":claim_expiry", n(claim.in_progress_expiry_ms))
            .expression_attribute_values(":now", n(claim.now_ms));
        let (op, free) = status_in(op, "claimable", &CLAIMABLE);
        // The Powertools rule: free, or in progress past its in-progress expiry; and the
        // intent itself still live. Absent never matches: see ClaimOutcome::NotFound.
        let op = op.condition_expression(format!(
            "attribute_exists(pk) AND intent_expires_at_ms > :now AND ({free} OR \
             (order_status = :placing AND claim_expires_at_ms < :now))"
        ));
        match self.conditional_update(op, "UpdateItem(claim)").await? {
            Ok(new) => Ok(ClaimOutcome::Claimed(order_record(&new)?)),
            Err(None) => Ok(ClaimOutcome::NotFound),
            Err(Some(old)) => Ok(classify_failed_claim(order_record(&old)?, claim)),
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
        let mut set = vec![
            "order_status = :to",
            "record_version = record_version + :one",
            "updated_at_ms = :now",
        ];
        let mut op = self
            .update(Self::order_key(key))
            .expression_attribute_values(":to", s(t.to.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(t.now_ms))
            .expression_attribute_values(":expected", n(t.expected_version));
        if let Some(id) = t.update.exchange_order_id {
            set.push("exchange_order_id = :exchange_order_id");
            op = op.expression_attribute_values(":exchange_order_id", n(id));
        }
        if let Some(e) = &t.update.last_error {
            set.push("last_error = :last_error");
            op = op.expression_attribute_values(":last_error", s(e.clone()));
        }
        if let Some(ttl) = self.order_ttl(t.to, t.now_ms) {
            set.push("ttl_epoch_s = :ttl");
            op = op.expression_attribute_values(":ttl", ttl);
        }
        let mut expr = format!("SET {}", set.join(", "));
        if t.to != OrderStatus::Placing {
            expr.push_str(" REMOVE claim_owner, claim_expires_at_ms");
        }
        let (op, legal) = status_in(op.update_expression(expr), "from", &from);
        let op = op.condition_expression(format!("record_version = :expected AND {legal}"));
        match self
            .conditional_update(op, "UpdateItem(transition)")
            .await?
        {
            Ok(new) => Ok(TransitionOutcome::Applied(order_record(&new)?)),
            Err(None) => Ok(TransitionOutcome::NotFound),
            Err(Some(old)) => Ok(TransitionOutcome::Conflict(order_record(&old)?)),
        }
    }

    async fn apply_fill(
        &self,
        key: &OrderKey,
        fill: &FillProgress,
        now: EpochMillis,
    ) -> Result<FillOutcome, StoreError> {
        let mut set = vec![
            "order_status = :to",
            "record_version = record_version + :one",
            "filled_qty = :filled",
            "fill_progress = :progress",
            "cumulative_quote_qty = :quote",
            "fees = :fees",
            "fees_quote = :fees_quote",
            "exchange_order_id = :exchange_order_id",
            "updated_at_ms = :now",
        ];
        let mut op = self
            .update(Self::order_key(key))
            .expression_attribute_values(":to", s(fill.status.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":filled", dec(fill.executed_qty))
            .expression_attribute_values(":progress", s(fill_progress_key(fill.executed_qty)?))
            .expression_attribute_values(":quote", dec(fill.cumulative_quote_qty))
            .expression_attribute_values(":fees", dec(fill.fees))
            .expression_attribute_values(":fees_quote", dec(fill.fees_quote))
            .expression_attribute_values(":exchange_order_id", n(fill.exchange_order_id))
            .expression_attribute_values(":now", n(now));
        let mut remove = vec!["claim_owner", "claim_expires_at_ms"];
        match &fill.fee_asset {
            Some(a) => {
                set.push("fee_asset = :fee_asset");
                op = op.expression_attribute_values(":fee_asset", s(a.as_str()));
            }
            None => remove.push("fee_asset"),
        }
        if let Some(ttl) = self.order_ttl(fill.status, now) {
            set.push("ttl_epoch_s = :ttl");
            op = op.expression_attribute_values(":ttl", ttl);
        }
        let expr = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let (op, legal) = status_in(
            op.update_expression(expr),
            "from",
            &fill_predecessors(fill.status),
        );
        // Forward only, by the exchange's cumulative executed quantity (a fixed-width string
        // whose order is numeric order); the same quantity only with a new state.
        let op = op.condition_expression(format!(
            "{legal} AND (fill_progress < :progress OR \
             (fill_progress = :progress AND order_status <> :to))"
        ));
        match self.conditional_update(op, "UpdateItem(fill)").await? {
            Ok(new) => Ok(FillOutcome::Applied(order_record(&new)?)),
            Err(None) => Ok(FillOutcome::NotFound),
            Err(Some(old)) => Ok(classify_failed_fill(order_record(&old)?, fill)),
        }
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

fn lease_key(p: &PortfolioId) -> Item {
    DynamoStore::key(portfolio_pk(p), "LEASE".into())
}

fn lease(item: &Item) -> Result<Lease, StoreError> {
    let pk = req_s(item, LEASE, PK)?;
    let id = pk.strip_prefix("PORTFOLIO#").unwrap_or(pk);
    Ok(Lease {
        portfolio_id: PortfolioId::new(id).map_err(|e| StoreError::Corrupt {
            what: LEASE,
            field: PK,
            reason: e.to_string(),
        })?,
        owner: req_s(item, LEASE, "lease_owner")?.to_owned(),
        cycle_id: CycleId::new(req_s(item, LEASE, "cycle_id")?).map_err(|e| {
            StoreError::Corrupt {
                what: LEASE,
                field: "cycle_id",
                reason: e.to_string(),
            }
        })?,
        expires_at_ms: req_n(item, LEASE, "lease_expires_at_ms")?,
    })
}

/// TTL for a lease: well after its expiry, only to tidy up.
fn lease_ttl(expires_at_ms: EpochMillis) -> AttributeValue {
    n(expires_at_ms / 1000 + 3600)
}

#[async_trait]
impl CycleLeases for DynamoStore {
    async fn acquire(
        &self,
        portfolio: &PortfolioId,
        owner: &str,
        cycle: &CycleId,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let expires = now + ttl_ms;
        let op = self
            .update(lease_key(portfolio))
            .update_expression(
                "SET lease_owner = :owner, cycle_id = :cycle, lease_expires_at_ms = :expires, \
                 ttl_epoch_s = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR lease_expires_at_ms <= :now")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":cycle", s(cycle.as_str()))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":ttl", lease_ttl(expires))
            .expression_attribute_values(":now", n(now));
        match self
            .conditional_update(op, "UpdateItem(acquire lease)")
            .await?
        {
            Ok(new) => Ok(LeaseOutcome::Acquired(lease(&new)?)),
            Err(Some(old)) => Ok(LeaseOutcome::HeldBy(lease(&old)?)),
            Err(None) => Err(StoreError::Corrupt {
                what: LEASE,
                field: PK,
                reason: "condition failed on an absent lease".into(),
            }),
        }
    }

    async fn renew(
        &self,
        held: &Lease,
        now: EpochMillis,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let expires = now + ttl_ms;
        let op = self
            .update(lease_key(&held.portfolio_id))
            .update_expression("SET lease_expires_at_ms = :expires, ttl_epoch_s = :ttl")
            .condition_expression("lease_owner = :owner AND lease_expires_at_ms > :zero")
            .expression_attribute_values(":owner", s(held.owner.clone()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":ttl", lease_ttl(expires));
        match self
            .conditional_update(op, "UpdateItem(renew lease)")
            .await?
        {
            Ok(new) => Ok(LeaseOutcome::Acquired(lease(&new)?)),
            // Released (expired at 0) is gone, as a deleted lease was.
            Err(Some(old)) if req_n::<i64>(&old, LEASE, "lease_expires_at_ms")? == 0 => {
                Ok(LeaseOutcome::Lost)
            }
            Err(Some(old)) => Ok(LeaseOutcome::HeldBy(lease(&old)?)),
            Err(None) => Ok(LeaseOutcome::Lost),
        }
    }

    async fn release(&self, held: &Lease, record: &CycleRecord) -> Result<bool, StoreError> {
        // Released by expiring it now, not by deleting it: the item keeps how the cycle ended
        // (for `driftline status`) at no extra write, and loses its TTL so that it stays.
        let op = self
            .update(lease_key(&held.portfolio_id))
            .update_expression(
                "SET lease_expires_at_ms = :zero, last_cycle = :record REMOVE ttl_epoch_s",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(held.owner.clone()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":record", to_json(record, "last_cycle")?);
        match self
            .conditional_update(op, "UpdateItem(release lease)")
            .await?
        {
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    async fn last_cycle(&self, portfolio: &PortfolioId) -> Result<Option<CycleRecord>, StoreError> {
        let Some(item) = self
            .get_item(lease_key(portfolio), "GetItem(last cycle)")
            .await?
        else {
            return Ok(None);
        };
        match opt_s(&item, LEASE, "last_cycle")? {
            Some(_) => req_json(&item, LEASE, "last_cycle").map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl DriftHistory for DynamoStore {
    async fn record_cycle(
        &self,
        snapshot: &DriftSnapshot,
        open_orders: &[ClientOrderId],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        // Sorted by time, zero-padded, so a reverse query reads newest first.
        let mut item = Self::key(
            portfolio_pk(&snapshot.portfolio_id),
            format!("DRIFT#{now:015}#{}", snapshot.cycle_id),
        );
        item.insert("snapshot".into(), to_json(snapshot, "snapshot")?);
        item.insert("recorded_at_ms".into(), n(now));
        if !open_orders.is_empty() {
            item.insert("open_orders".into(), to_json(&open_orders, "open_orders")?);
        }
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(now / 1000 + self.drift_retention_secs),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", "PutItem(drift)", e))?;
        Ok(())
    }

    async fn latest(
        &self,
        portfolio: &PortfolioId,
        k: u16,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query_prefix(
                portfolio_pk(portfolio),
                "DRIFT#",
                true,
                Some(i32::from(k)),
                "Query(drift)",
            )
            .await?;
        items
            .iter()
            .take(usize::from(k))
            .map(recorded_snapshot)
            .collect()
    }
}

fn recorded_snapshot(i: &Item) -> Result<RecordedSnapshot, StoreError> {
    Ok(RecordedSnapshot {
        recorded_at_ms: req_n(i, DRIFT, "recorded_at_ms")?,
        snapshot: req_json(i, DRIFT, "snapshot")?,
        // Absent on snapshots stored before it, and when nothing was open.
        open_orders: match opt_s(i, DRIFT, "open_orders")? {
            Some(_) => req_json(i, DRIFT, "open_orders")?,
            None => Vec::new(),
        },
    })
}

fn filters_key(exchange: &str, symbol: &Symbol) -> Item {
    DynamoStore::key(format!("MARKET#{exchange}"), symbol.to_string())
}

#[async_trait]
impl MarketFilterCache for DynamoStore {
    async fn filters(
        &self,
        exchange: &str,
        symbol: &Symbol,
        now: EpochMillis,
    ) -> Result<Option<MarketFilters>, StoreError> {
        let Some(item) = self
            .get_item(filters_key(exchange, symbol), "GetItem(filters)")
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion is lazy: an expired item may still be there.
        let expires: EpochMillis = req_n(&item, FILTERS, "expires_at_ms")?;
        if expires <= now {
            return Ok(None);
        }
        req_json(&item, FILTERS, "filters").map(Some)
    }

    async fn put_filters(
        &self,
        exchange: &str,
        filters: &MarketFilters,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        let expires = now + MARKET_FILTER_TTL_MS;
        let mut item = filters_key(exchange, filters.symbol());
        item.insert("filters".into(), to_json(filters, "filters")?);
        item.insert("expires_at_ms".into(), n(expires));
        item.insert(TTL_ATTRIBUTE.into(), n(expires / 1000));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", "PutItem(filters)", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// A portfolio's drift snapshots recorded at or after `since_ms`, oldest first: the whole
    /// stored history for reports (`driftline history`); the scheduler reads
    /// [`DriftHistory::latest`].
    ///
    /// # Errors
    /// The store's error, or [`StoreError::Corrupt`] for an unreadable item.
    pub async fn drift_since(
        &self,
        portfolio: &PortfolioId,
        since_ms: EpochMillis,
    ) -> Result<Vec<RecordedSnapshot>, StoreError> {
        // Sort keys are `DRIFT#<15-digit ms>#<cycle>`: every one from `since` on sorts between
        // its key and `DRIFT$` ('$' follows '#').
        let from = format!("DRIFT#{:015}", since_ms.max(0));
        self.query_keys(
            portfolio_pk(portfolio),
            SortKeys::Between(&from, "DRIFT$"),
            false,
            None,
            "Query(drift since)",
        )
        .await?
        .iter()
        .map(recorded_snapshot)
        .collect()
    }
}
