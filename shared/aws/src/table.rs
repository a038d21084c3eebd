//! The single table: `pk`/`sk` strings, on-demand billing, TTL on [`TTL_ATTRIBUTE`].

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use driftline_core::ports::StoreError;

use crate::item::unavailable;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Epoch seconds after which DynamoDB may delete the item. Deletion is lazy (up to days
/// late, and never in the local emulator), so readers also check expiry themselves.
pub const TTL_ATTRIBUTE: &str = "ttl_epoch_s";

/// Creates the table and turns on TTL, for local runs and tests (production tables come from
/// the CDK app with the same keys).
///
/// # Errors
/// [`StoreError::Unavailable`] if DynamoDB refuses (for example, the table exists).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let invalid = |field: &'static str| StoreError::InvalidInput {
        field,
        value: table.to_owned(),
        reason: "table definition incomplete",
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|_| invalid("key schema"))
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|_| invalid("attribute definitions"))
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .send()
        .await
        .map_err(|e| unavailable("dynamodb", "CreateTable", e))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|_| invalid("time to live"))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| unavailable("dynamodb", "UpdateTimeToLive", e))?;
    Ok(())
}
