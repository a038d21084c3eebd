//! Portfolio specifications as people write them (TOML or JSON files, the stored config item)
//! and their validation into domain values, with errors that name the field and the value.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Asset, DomainError, Holdings, Portfolio, PortfolioId, RebalancePolicy, TargetWeights};

/// A field of a specification that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Where in the specification, like `targets.BTC` or `policy.band.absolute`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A portfolio as written: decimals are strings so that no value passes through a binary float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioSpec {
    pub id: String,
    /// The asset equity is counted in; it settles every trade.
    pub quote: String,
    /// The exchange account the portfolio trades on: the id of the secret holding its API key.
    /// Absent: the deployment's default account. Two portfolios must not share an account,
    /// or each would count the other's balances as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Target weight per asset, the quote asset included, summing to exactly 1.
    #[serde(deserialize_with = "assets_once")]
    pub targets: BTreeMap<String, String>,
    /// Quantities held. Optional: where the exchange reports balances, they come from there.
    #[serde(default, deserialize_with = "assets_once")]
    pub holdings: BTreeMap<String, String>,
    #[serde(default)]
    pub policy: RebalancePolicy,
}

/// A map of asset to amount in which each asset appears once. JSON allows a key twice and a
/// plain map keeps the last: a portfolio file with `"ETH"` written twice would silently mean
/// something its author may not have meant, so it is refused, naming the asset.
fn assets_once<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct AssetsOnce;
    impl<'de> serde::de::Visitor<'de> for AssetsOnce {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of asset code to decimal string")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((asset, amount)) = map.next_entry::<String, String>()? {
                if out.contains_key(&asset) {
                    return Err(serde::de::Error::custom(format!(
                        "asset {asset:?} is listed twice"
                    )));
                }
                out.insert(asset, amount);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(AssetsOnce)
}

/// Parses a decimal written as a string, naming the field when it is not one.
///
/// # Errors
/// [`ConfigError`] with the field and the value.
pub fn parse_decimal(field: &str, value: &str) -> Result<Decimal, ConfigError> {
    Decimal::from_str(value.trim())
        .or_else(|_| Decimal::from_scientific(value.trim()))
        .map_err(|_| ConfigError::new(field, format!("{value:?} is not a decimal number")))
}

fn parse_asset(field: &str, code: &str) -> Result<Asset, ConfigError> {
    Asset::new(code).map_err(|e| ConfigError::new(field, e.to_string()))
}

impl PortfolioSpec {
    /// Validates the specification into a portfolio and its policy.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the field and the value.
    pub fn into_domain(self) -> Result<(Portfolio, RebalancePolicy), ConfigError> {
        let id = PortfolioId::new(&self.id).map_err(|e| ConfigError::new("id", e.to_string()))?;
        let quote = parse_asset("quote", &self.quote)?;
        let targets = self
            .targets
            .iter()
            .map(|(a, w)| {
                let field = format!("targets.{a}");
                Ok((parse_asset(&field, a)?, parse_decimal(&field, w)?))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let targets = TargetWeights::new(targets).map_err(|e| match &e {
            DomainError::WeightOutOfRange { asset, .. } => {
                ConfigError::new(format!("targets.{asset}"), e.to_string())
            }
            _ => ConfigError::new("targets", e.to_string()),
        })?;
        let holdings = self
            .holdings
            .iter()
            .map(|(a, q)| {
                let field = format!("holdings.{a}");
                Ok((parse_asset(&field, a)?, parse_decimal(&field, q)?))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let holdings = Holdings::new(holdings).map_err(|e| match &e {
            DomainError::NegativeHolding { asset, .. } => {
                ConfigError::new(format!("holdings.{asset}"), e.to_string())
            }
            _ => ConfigError::new("holdings", e.to_string()),
        })?;
        let portfolio = Portfolio::new(id, quote, holdings, targets).map_err(|e| match &e {
            DomainError::QuoteWithoutTarget { .. } => ConfigError::new("targets", e.to_string()),
            DomainError::UnknownAsset { asset, .. } => {
                ConfigError::new(format!("holdings.{asset}"), e.to_string())
            }
            _ => ConfigError::new("portfolio", e.to_string()),
        })?;
        let policy = self.policy;
        policy.validate().map_err(|e| match &e {
            DomainError::InvalidPolicy { field, .. } => {
                ConfigError::new(format!("policy.{field}"), e.to_string())
            }
            _ => ConfigError::new("policy", e.to_string()),
        })?;
        if let Some(asset) = policy
            .band_overrides
            .keys()
            .find(|a| !portfolio.targets().contains(a))
        {
            return Err(ConfigError::new(
                format!("policy.band_overrides.{asset}"),
                format!("asset {asset} is not in the portfolio's targets"),
            ));
        }
        Ok((portfolio, policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn spec(
        edit: impl FnOnce(&mut PortfolioSpec),
    ) -> Result<(Portfolio, RebalancePolicy), ConfigError> {
        let mut s = PortfolioSpec {
            id: "article".into(),
            quote: "USDT".into(),
            account: None,
            targets: [("BTC", "0.40"), ("ETH", "0.35"), ("USDT", "0.25")]
                .map(|(a, w)| (a.to_owned(), w.to_owned()))
                .into(),
            holdings: [("BTC", "1.5"), ("ETH", "25"), ("USDT", "20000")]
                .map(|(a, w)| (a.to_owned(), w.to_owned()))
                .into(),
            policy: RebalancePolicy::default(),
        };
        edit(&mut s);
        s.into_domain()
    }

    #[rstest]
    #[case::targets(r#"{"id":"a","quote":"USDT","targets":{"BTC":"0.5","ETH":"0.25","USDT":"0.25","ETH":"0.25"}}"#, "\"ETH\" is listed twice")]
    #[case::holdings(r#"{"id":"a","quote":"USDT","targets":{"BTC":"0.5","USDT":"0.5"},"holdings":{"BTC":"1","BTC":"2"}}"#, "\"BTC\" is listed twice")]
    fn an_asset_written_twice_is_refused_not_overwritten(#[case] json: &str, #[case] why: &str) {
        let err = serde_json::from_str::<PortfolioSpec>(json).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }

    #[test]
    fn the_article_portfolio_is_valid() {
        let (p, _) = spec(|_| {}).unwrap();
        assert_eq!(p.targets().len(), 3);
    }

    #[rstest]
    #[case::bad_decimal(|s: &mut PortfolioSpec| { s.targets.insert("BTC".into(), "forty".into()); }, "targets.BTC", "\"forty\"")]
    #[case::sum(|s: &mut PortfolioSpec| { s.targets.remove("USDT"); }, "targets", "0.75")]
    #[case::negative_weight(|s: &mut PortfolioSpec| { s.targets.insert("BTC".into(), "-0.1".into()); }, "targets.BTC", "-0.1")]
    #[case::negative_holding(|s: &mut PortfolioSpec| { s.holdings.insert("ETH".into(), "-3".into()); }, "holdings.ETH", "-3")]
    #[case::unknown_holding(|s: &mut PortfolioSpec| { s.holdings.insert("DOGE".into(), "3".into()); }, "holdings.DOGE", "DOGE")]
    #[case::bad_asset(|s: &mut PortfolioSpec| { s.targets.insert("btc".into(), "0".into()); }, "targets.btc", "\"btc\"")]
    #[case::bad_quote(|s: &mut PortfolioSpec| { s.quote = "usd t".into(); }, "quote", "\"usd t\"")]
    #[case::policy(|s: &mut PortfolioSpec| { s.policy.limit_offset = Decimal::TWO; }, "policy.limit_offset", "2")]
    fn errors_name_the_field_and_the_value(
        #[case] edit: fn(&mut PortfolioSpec),
        #[case] field: &str,
        #[case] value: &str,
    ) {
        let err = spec(edit).unwrap_err();
        assert_eq!(err.field, field, "{err}");
        assert!(err.message.contains(value), "{err} should name {value}");
    }
}
