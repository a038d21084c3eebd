//! The DynamoDB store: every ledger port on one table. Each state change is one conditional
//! write built from the rules of `driftline_core::orders`; a failed condition returns the item
//! as it was (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), which the same rules classify.
//! This module holds the store and the table access every port shares; each port's
//! implementation is in its own module.

mod cycles;
mod filters;
mod ledger;
mod order_item;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use driftline_core::ports::StoreError;
use driftline_core::PortfolioId;

use crate::item::{s, unavailable, Item};
use crate::table::{PK, SK};

/// Sends a plain write again, a little later, while it meets a transaction in progress on its
/// item (DynamoDB refuses it with `TransactionConflictException`, which the SDK does not
/// retry): every record of an order and every claim checks the kill switch, and a record the
/// portfolio's config, in a transaction, so the console's writes of those items can meet one.
pub(crate) async fn past_transactions<T, E, R, F, Fut>(
    send: F,
) -> Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>>,
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    use backon::Retryable;
    send.retry(conflict_backoff())
        .sleep(tokio::time::sleep)
        .when(|e| e.code() == Some("TransactionConflictException"))
        .await
}

/// How a write that met a transaction tries again: four times more within about half a second.
pub(crate) fn conflict_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(20))
        .with_max_times(4)
        .with_jitter()
}

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
        match past_transactions(|| op.clone().send()).await {
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

    /// Writes `item` whole, over whatever had its key.
    async fn put_item(&self, item: Item, operation: &'static str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", operation, e))?;
        Ok(())
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
}

/// Which sort keys of a partition a query reads.
#[derive(Clone, Copy)]
enum SortKeys<'a> {
    Prefix(&'a str),
    /// From the first to the second, both included.
    Between(&'a str, &'a str),
}

/// The partition of one portfolio's orders, lease and drift history.
fn portfolio_pk(p: &PortfolioId) -> String {
    format!("PORTFOLIO#{p}")
}
