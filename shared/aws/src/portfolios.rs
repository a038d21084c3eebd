//! Portfolio configurations on the table, in one partition so that listing them is one query:
//! `pk = CONFIG`, `sk = PORTFOLIO#<id>`, the [`PortfolioSpec`] as a JSON string in `spec`, a
//! `record_version` every change bumps, and the pause in force (`paused`, JSON) if any. The
//! scheduler reads them ([`PortfolioConfigs`]); the `driftline` console writes them, each
//! write conditional on the version it read, so two operators cannot overwrite each other.

use async_trait::async_trait;
use driftline_core::config::PortfolioSpec;
use driftline_core::control::Stop;
use driftline_core::ports::{PortfolioConfigs, StoreError, StoredPortfolio};
use driftline_core::PortfolioId;

use crate::item::{n, opt_n, opt_s, req_json, req_s, to_json, unavailable, Item};
use crate::store::DynamoStore;
use crate::table::SK;

const CONFIG_PK: &str = "CONFIG";
const CONFIG: &str = "portfolio config";

pub(crate) fn config_key(id: &str) -> Item {
    DynamoStore::key(CONFIG_PK.into(), format!("PORTFOLIO#{id}"))
}

fn stored(item: &Item) -> Result<StoredPortfolio, StoreError> {
    Ok(StoredPortfolio {
        spec: req_json(item, CONFIG, "spec")?,
        // An item written by hand, before versions, reads as version 0.
        version: opt_n(item, CONFIG, "record_version")?.unwrap_or(0),
        paused: match opt_s(item, CONFIG, "paused")? {
            Some(_) => Some(req_json(item, CONFIG, "paused")?),
            None => None,
        },
    })
}

/// The outcome of a conditional change to a portfolio's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWrite {
    /// Written: the configuration as stored now.
    Written(StoredPortfolio),
    /// Someone changed it since the version the caller read (or it is absent, or already
    /// there when the caller expected none): the configuration as stored now, if any.
    Conflict(Option<StoredPortfolio>),
}

/// Refuses a spec the scheduler would refuse, naming the field.
fn validate(spec: &PortfolioSpec) -> Result<(), StoreError> {
    spec.clone()
        .into_domain()
        .map(|_| ())
        .map_err(|e| StoreError::InvalidInput {
            field: "portfolio spec",
            value: format!("{}: {}", e.field, e.message),
            reason: "not a valid portfolio",
        })
}

impl DynamoStore {
    /// Stores (or replaces) a portfolio's configuration after validating it, whatever is
    /// stored: for set-up scripts and tests. Operators use [`Self::apply_portfolio`].
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the field of an invalid spec, or the store's error.
    pub async fn put_portfolio(&self, spec: &PortfolioSpec) -> Result<(), StoreError> {
        validate(spec)?;
        self.update(config_key(&spec.id))
            .update_expression(
                "SET spec = :spec, record_version = if_not_exists(record_version, :zero) + :one",
            )
            .expression_attribute_values(":spec", to_json(spec, "spec")?)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", "UpdateItem(config)", e))?;
        Ok(())
    }

    /// Writes `spec` if the stored version is still `expected` (0: no configuration stored
    /// yet, or one written by hand without a version). The pause in force, if any, is kept.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the field of an invalid spec, or the store's error.
    pub async fn apply_portfolio(
        &self,
        spec: &PortfolioSpec,
        expected: u64,
    ) -> Result<ConfigWrite, StoreError> {
        validate(spec)?;
        let op = self
            .update(config_key(&spec.id))
            .update_expression("SET spec = :spec, record_version = :next")
            .expression_attribute_values(":spec", to_json(spec, "spec")?)
            .expression_attribute_values(":next", n(expected + 1));
        let op = if expected == 0 {
            // Version 0 is also an item put by hand, before versions (docs/DATA.md): taken
            // over once, then versioned like the rest.
            op.condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(record_version)",
            )
        } else {
            op.condition_expression("record_version = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        self.config_write(op, "UpdateItem(apply config)").await
    }

    /// Pauses (`Some`) or resumes (`None`) a stored portfolio, if its version is `expected`.
    ///
    /// # Errors
    /// The store's error.
    pub async fn set_paused(
        &self,
        id: &PortfolioId,
        pause: Option<&Stop>,
        expected: u64,
    ) -> Result<ConfigWrite, StoreError> {
        let op = self.update(config_key(id.as_str()));
        let op = match pause {
            Some(p) => op
                .update_expression("SET paused = :paused, record_version = :next")
                .expression_attribute_values(":paused", to_json(p, "paused")?),
            None => op.update_expression("SET record_version = :next REMOVE paused"),
        };
        let op = op
            .condition_expression(
                "attribute_exists(pk) AND (record_version = :expected OR \
                 (attribute_not_exists(record_version) AND :expected = :zero))",
            )
            .expression_attribute_values(":next", n(expected + 1))
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":zero", n(0));
        self.config_write(op, "UpdateItem(pause config)").await
    }

    /// Removes a portfolio's configuration if its version is `expected`; its orders and drift
    /// history stay (they expire by their TTL).
    ///
    /// # Errors
    /// The store's error.
    pub async fn remove_portfolio(
        &self,
        id: &PortfolioId,
        expected: u64,
    ) -> Result<ConfigWrite, StoreError> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        let op = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(config_key(id.as_str())))
            .condition_expression(
                "attribute_exists(pk) AND (record_version = :expected OR \
                 (attribute_not_exists(record_version) AND :expected = :zero))",
            )
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":zero", n(0))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        match crate::store::past_transactions(|| op.clone().send()).await {
            Ok(out) => match out.attributes {
                Some(old) => Ok(ConfigWrite::Written(stored(&old)?)),
                None => Ok(ConfigWrite::Conflict(None)),
            },
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(c)) => {
                    Ok(ConfigWrite::Conflict(c.item().map(stored).transpose()?))
                }
                _ => Err(unavailable("dynamodb", "DeleteItem(config)", e)),
            },
        }
    }

    async fn config_write(
        &self,
        op: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        operation: &'static str,
    ) -> Result<ConfigWrite, StoreError> {
        Ok(match self.conditional_update(op, operation).await? {
            Ok(new) => ConfigWrite::Written(stored(&new)?),
            Err(old) => ConfigWrite::Conflict(old.as_ref().map(stored).transpose()?),
        })
    }
}

#[async_trait]
impl PortfolioConfigs for DynamoStore {
    async fn portfolio_ids(&self) -> Result<Vec<PortfolioId>, StoreError> {
        let items = self
            .query_prefix(
                CONFIG_PK.into(),
                "PORTFOLIO#",
                false,
                None,
                "Query(configs)",
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let sk = req_s(item, CONFIG, SK)?;
                let id = sk.strip_prefix("PORTFOLIO#").unwrap_or(sk);
                PortfolioId::new(id).map_err(|e| StoreError::Corrupt {
                    what: CONFIG,
                    field: "sk",
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    async fn portfolio(&self, id: &PortfolioId) -> Result<Option<StoredPortfolio>, StoreError> {
        self.get_item(config_key(id.as_str()), "GetItem(config)")
            .await?
            .as_ref()
            .map(stored)
            .transpose()
    }
}
