//! The deployment's controls on the table: the exchange's shared circuit breaker (one item per
//! venue) and the kill switch (one item), read together at the start of every invocation with
//! one BatchGetItem (docs/DATA.md).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use driftline_core::control::{ControlState, DeploymentControls, Stop};
use driftline_core::ports::{BreakerSave, BreakerStore, StoreError, VersionedBreaker};
use driftline_core::BreakerState;

use crate::item::{n, opt_s, req_json, req_n, to_json, unavailable, Item};
use crate::store::DynamoStore;
use crate::table::PK;

const BREAKER: &str = "breaker state";
const HALT: &str = "halt";

pub(crate) fn breaker_key(exchange: &str) -> Item {
    DynamoStore::key(format!("BREAKER#{exchange}"), "STATE".into())
}

fn breaker(item: Option<&Item>) -> Result<VersionedBreaker, StoreError> {
    match item {
        None => Ok(VersionedBreaker {
            state: BreakerState::default(),
            version: 0,
        }),
        Some(i) => Ok(VersionedBreaker {
            state: req_json(i, BREAKER, "breaker_state")?,
            version: req_n(i, BREAKER, "record_version")?,
        }),
    }
}

#[async_trait]
impl BreakerStore for DynamoStore {
    async fn load(&self, exchange: &str) -> Result<VersionedBreaker, StoreError> {
        let item = self
            .get_item(breaker_key(exchange), "GetItem(breaker)")
            .await?;
        breaker(item.as_ref())
    }

    async fn save(
        &self,
        exchange: &str,
        state: BreakerState,
        expected_version: u64,
    ) -> Result<BreakerSave, StoreError> {
        let condition = if expected_version == 0 {
            "attribute_not_exists(pk)"
        } else {
            "record_version = :expected"
        };
        let mut op = self
            .update(breaker_key(exchange))
            .update_expression("SET breaker_state = :state, record_version = :next")
            .condition_expression(condition)
            .expression_attribute_values(":state", to_json(&state, "breaker_state")?)
            .expression_attribute_values(":next", n(expected_version + 1));
        if expected_version != 0 {
            op = op.expression_attribute_values(":expected", n(expected_version));
        }
        match self.conditional_update(op, "UpdateItem(breaker)").await? {
            Ok(new) => Ok(BreakerSave::Saved(breaker(Some(&new))?)),
            Err(old) => Ok(BreakerSave::Conflict(breaker(old.as_ref())?)),
        }
    }
}

/// The kill switch: `pk = CONTROL`, `sk = HALT`; `halted` with the stop as JSON while in force.
pub(crate) fn halt_key() -> Item {
    DynamoStore::key("CONTROL".into(), "HALT".into())
}

fn halt(item: Option<&Item>) -> Result<Option<Stop>, StoreError> {
    match item {
        Some(i) if opt_s(i, HALT, "halt")?.is_some() => Ok(Some(req_json(i, HALT, "halt")?)),
        _ => Ok(None),
    }
}

#[async_trait]
impl DeploymentControls for DynamoStore {
    async fn read(&self, venue: &str) -> Result<ControlState, StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(halt_key())
            .keys(breaker_key(venue))
            .consistent_read(true)
            .build()
            .map_err(|e| unavailable("dynamodb", "BatchGetItem(controls)", e))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", "BatchGetItem(controls)", e))?;
        // Two small items never exceed the batch's limits; an item left unprocessed is read
        // again on its own rather than taken as absent.
        let mut items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        if out
            .unprocessed_keys
            .is_some_and(|u| u.get(&self.table).is_some_and(|k| !k.keys().is_empty()))
        {
            let mut again = Vec::new();
            for key in [halt_key(), breaker_key(venue)] {
                if let Some(i) = self.get_item(key, "GetItem(controls)").await? {
                    again.push(i);
                }
            }
            items = again;
        }
        let find = |pk: &str| {
            items.iter().find(|i| {
                i.get(PK)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|v| v == pk)
            })
        };
        Ok(ControlState {
            halt: halt(find("CONTROL"))?,
            breaker: breaker(find(&format!("BREAKER#{venue}")))?,
        })
    }

    async fn set_halt(&self, stop: Option<&Stop>) -> Result<Option<Stop>, StoreError> {
        let op = self.update(halt_key());
        let op = match stop {
            Some(stop) => op
                .update_expression("SET halt = :halt")
                .expression_attribute_values(":halt", to_json(stop, "halt")?),
            None => op.update_expression("REMOVE halt"),
        }
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
        let out = crate::store::past_transactions(|| op.clone().send())
            .await
            .map_err(|e| unavailable("dynamodb", "UpdateItem(halt)", e))?;
        halt(out.attributes.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::SK;

    #[test]
    fn the_controls_keys_differ_from_every_other_item() {
        let h = halt_key();
        assert_eq!(h[PK].as_s().unwrap(), "CONTROL");
        assert_eq!(h[SK].as_s().unwrap(), "HALT");
        assert_eq!(
            breaker_key("binance")[PK].as_s().unwrap(),
            "BREAKER#binance"
        );
    }
}
