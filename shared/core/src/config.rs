//! Portfolio specifications as people write them (TOML or JSON files, the stored config item)
//! and their validation into domain values, with errors that name the field and the value.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::accounts::{CashRate, CashRule, PortfolioAccount, PortfolioAccounts};
use crate::{
    Asset, DomainError, Fees, Holdings, Portfolio, PortfolioId, RebalancePolicy, Symbol,
    TargetWeights,
};

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
    /// The asset equity is counted in; its target is the cash target, whatever cash asset
    /// each account holds.
    pub quote: String,
    /// The exchange account the portfolio trades on: the id of the secret holding its API key.
    /// Absent: the deployment's default account. Two portfolios must not share an account,
    /// or each would count the other's balances as its own. For several accounts, `accounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The accounts a portfolio spread over several venues trades on (instead of `account`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountSpec>,
    /// Target weight per asset, the quote asset included, summing to exactly 1.
    #[serde(deserialize_with = "assets_once")]
    pub targets: BTreeMap<String, String>,
    /// Quantities held on the one account, for a plan made offline. Where the exchange
    /// reports balances, they come from there.
    #[serde(default, deserialize_with = "assets_once")]
    pub holdings: BTreeMap<String, String>,
    /// Amounts held off every exchange (cold storage): counted in equity and drift, never
    /// traded.
    #[serde(
        default,
        deserialize_with = "assets_once",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub off_exchange: BTreeMap<String, String>,
    /// How the accounts' cash assets count in `quote`; equal by default.
    #[serde(default, skip_serializing_if = "CashRule::is_equal")]
    pub cash: CashRule,
    #[serde(default)]
    pub policy: RebalancePolicy,
}

/// One account of a portfolio spread over several, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// The id of the secret holding its API key; absent for the deployment's default account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The cash asset this account trades against (`USD` on Kraken, say); absent: the
    /// portfolio's quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// Amounts per asset never sold (or, for cash, never spent) on this account.
    #[serde(
        default,
        deserialize_with = "assets_once",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub reserve: BTreeMap<String, String>,
    /// Assets on this account the portfolio neither counts nor trades.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// This account's fee tier in bps; absent: the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<Fees>,
    /// Balances for a plan made offline.
    #[serde(
        default,
        deserialize_with = "assets_once",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub holdings: BTreeMap<String, String>,
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

/// Amounts per asset, each parsed and never negative, each asset accepted by `allowed`.
fn parse_amounts(
    field: &str,
    amounts: &BTreeMap<String, String>,
    allowed: impl Fn(&Asset) -> bool,
    why_not: &str,
) -> Result<Holdings, ConfigError> {
    let mut parsed = Vec::with_capacity(amounts.len());
    for (a, q) in amounts {
        let field = format!("{field}.{a}");
        let asset = parse_asset(&field, a)?;
        if !allowed(&asset) {
            return Err(ConfigError::new(field, format!("asset {asset} {why_not}")));
        }
        parsed.push((asset, parse_decimal(&field, q)?));
    }
    Holdings::new(parsed).map_err(|e| match &e {
        DomainError::NegativeHolding { asset, .. } => {
            ConfigError::new(format!("{field}.{asset}"), e.to_string())
        }
        _ => ConfigError::new(field, e.to_string()),
    })
}

impl PortfolioSpec {
    /// The accounts the portfolio trades on, as written: `accounts`, or the one `account`.
    pub fn account_ids(&self) -> Vec<Option<&str>> {
        if self.accounts.is_empty() {
            vec![self.account.as_deref()]
        } else {
            self.accounts.iter().map(|a| a.account.as_deref()).collect()
        }
    }

    /// Validates the specification into a portfolio and its policy.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the field and the value.
    pub fn into_domain(self) -> Result<(Portfolio, RebalancePolicy), ConfigError> {
        self.into_planned()
            .map(|(portfolio, _, policy)| (portfolio, policy))
    }

    /// [`PortfolioSpec::into_domain`] with the accounts it validated
    /// ([`PortfolioSpec::accounts`]): what a plan is made from.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the field and the value.
    pub fn into_planned(
        self,
    ) -> Result<(Portfolio, PortfolioAccounts, RebalancePolicy), ConfigError> {
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
        // The portfolio's own holdings are those off every exchange; each account's are its own.
        let holdings = parse_amounts(
            "off_exchange",
            &self.off_exchange,
            |a| targets.contains(a),
            "is not in the portfolio's targets",
        )?;
        let portfolio = Portfolio::new(id, quote, holdings, targets).map_err(|e| match &e {
            DomainError::QuoteWithoutTarget { .. } => ConfigError::new("targets", e.to_string()),
            DomainError::UnknownAsset { asset, .. } => {
                ConfigError::new(format!("off_exchange.{asset}"), e.to_string())
            }
            _ => ConfigError::new("portfolio", e.to_string()),
        })?;
        let accounts = self.accounts(&portfolio)?;
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
        Ok((portfolio, accounts, policy))
    }

    /// The accounts the portfolio trades on, what it holds off every exchange and how their
    /// cash counts, checked against the portfolio's targets and quote.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the field and the value.
    pub fn accounts(&self, portfolio: &Portfolio) -> Result<PortfolioAccounts, ConfigError> {
        let quote = portfolio.quote();
        let targets = portfolio.targets();
        let written: Vec<AccountSpec> = if self.accounts.is_empty() {
            vec![AccountSpec {
                account: self.account.clone(),
                holdings: self.holdings.clone(),
                ..AccountSpec::default()
            }]
        } else {
            if self.account.is_some() {
                return Err(ConfigError::new(
                    "account",
                    "give the account inside `accounts`, not beside it",
                ));
            }
            if !self.holdings.is_empty() {
                return Err(ConfigError::new(
                    "holdings",
                    "with several accounts, give each account's holdings inside it",
                ));
            }
            self.accounts.clone()
        };
        let mut accounts: Vec<PortfolioAccount> = Vec::with_capacity(written.len());
        let mut cash_rates = Vec::with_capacity(written.len());
        for (i, spec) in written.into_iter().enumerate() {
            let at = |name: &str| format!("accounts[{i}].{name}");
            if let Some(id) = &spec.account {
                let valid = (1..=128).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
                if !valid {
                    return Err(ConfigError::new(
                        at("account"),
                        format!("{id:?} is not a secret id"),
                    ));
                }
            }
            if accounts.iter().any(|a| a.account == spec.account) {
                return Err(ConfigError::new(
                    at("account"),
                    format!(
                        "account {:?} is listed twice",
                        spec.account.as_deref().unwrap_or("default")
                    ),
                ));
            }
            let cash = match &spec.quote {
                Some(q) => parse_asset(&at("quote"), q)?,
                None => quote.clone(),
            };
            if &cash != quote && targets.contains(&cash) {
                return Err(ConfigError::new(
                    at("quote"),
                    format!(
                        "{cash} is this account's cash, counted in the {quote} target; it cannot have a target of its own"
                    ),
                ));
            }
            let ignore = spec
                .ignore
                .iter()
                .enumerate()
                .map(|(j, a)| parse_asset(&format!("{}[{j}]", at("ignore")), a))
                .collect::<Result<BTreeSet<Asset>, ConfigError>>()?;
            let counted = |a: &Asset| a == &cash || targets.contains(a);
            let reserve = parse_amounts(
                &at("reserve"),
                &spec.reserve,
                counted,
                "is neither a target nor this account's cash",
            )?;
            let holdings = parse_amounts(
                &at("holdings"),
                &spec.holdings,
                counted,
                "is neither a target nor this account's cash",
            )
            .map_err(|e| {
                // The one account's holdings are written at the top level.
                if self.accounts.is_empty() {
                    ConfigError::new(e.field.replacen("accounts[0].", "", 1), e.message)
                } else {
                    e
                }
            })?;
            if let Some(fees) = spec.fees {
                for (name, bps) in [("maker_bps", fees.maker_bps), ("taker_bps", fees.taker_bps)] {
                    if bps < Decimal::ZERO || bps > crate::money::BPS {
                        return Err(ConfigError::new(
                            format!("{}.{name}", at("fees")),
                            format!("{bps} is not a fee in bps (0 to 10000)"),
                        ));
                    }
                }
            }
            cash_rates.push(self.cash_rate(&cash, quote)?);
            accounts.push(PortfolioAccount {
                account: spec.account,
                quote: cash,
                reserve,
                ignore,
                fees: spec.fees,
                holdings,
            });
        }
        Ok(PortfolioAccounts {
            accounts,
            off_exchange: portfolio.holdings().clone(),
            cash_rates,
        })
    }

    /// Where the value of `cash` in `quote` comes from under the spec's cash rule.
    fn cash_rate(&self, cash: &Asset, quote: &Asset) -> Result<CashRate, ConfigError> {
        let CashRule::Market { markets } = &self.cash else {
            return Ok(CashRate::Par);
        };
        if cash == quote {
            return Ok(CashRate::Par);
        }
        let field = format!("cash.markets.{cash}");
        let Some(written) = markets.get(cash.as_str()) else {
            return Err(ConfigError::new(
                field,
                format!("the market rule needs a market that prices {cash} in {quote}, like \"{cash}/{quote}\""),
            ));
        };
        let symbol: Symbol = written
            .parse()
            .map_err(|e: DomainError| ConfigError::new(&field, e.to_string()))?;
        let inverted = match (symbol.base() == cash, symbol.quote() == cash) {
            (true, false) if symbol.quote() == quote => false,
            (false, true) if symbol.base() == quote => true,
            _ => {
                return Err(ConfigError::new(
                    field,
                    format!("{symbol} does not price {cash} in {quote}"),
                ))
            }
        };
        Ok(CashRate::Market { symbol, inverted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Destination;
    use rstest::rstest;

    fn spec(
        edit: impl FnOnce(&mut PortfolioSpec),
    ) -> Result<(Portfolio, RebalancePolicy), ConfigError> {
        let mut s = PortfolioSpec {
            id: "article".into(),
            quote: "USDT".into(),
            account: None,
            accounts: Vec::new(),
            targets: [("BTC", "0.40"), ("ETH", "0.35"), ("USDT", "0.25")]
                .map(|(a, w)| (a.to_owned(), w.to_owned()))
                .into(),
            holdings: [("BTC", "1.5"), ("ETH", "25"), ("USDT", "20000")]
                .map(|(a, w)| (a.to_owned(), w.to_owned()))
                .into(),
            off_exchange: BTreeMap::new(),
            cash: CashRule::Equal,
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

    #[rstest]
    #[case::band_edge(r#""band_edge""#, Destination::BandEdge)]
    #[case::target(r#""target""#, Destination::Target)]
    #[case::inside_band(
        r#"{"inside_band":"0.5"}"#,
        Destination::InsideBand(Decimal::new(5, 1))
    )]
    fn destinations_parse_as_written(#[case] written: &str, #[case] expected: Destination) {
        let json = format!(
            r#"{{"id":"a","quote":"USDT","targets":{{"BTC":"0.5","USDT":"0.5"}},"policy":{{"destination":{written}}}}}"#
        );
        let spec: PortfolioSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(spec.policy.destination, expected);
        let (_, policy) = spec.into_domain().unwrap();
        assert_eq!(policy.destination, expected);
    }

    #[rstest]
    // A bare number may already have passed through a binary float.
    #[case::a_float(r#"{"inside_band":0.5}"#)]
    #[case::no_fraction(r#""inside_band""#)]
    #[case::unknown(r#""halfway""#)]
    fn a_malformed_destination_is_refused(#[case] written: &str) {
        let json = format!(
            r#"{{"id":"a","quote":"USDT","targets":{{"BTC":"0.5","USDT":"0.5"}},"policy":{{"destination":{written}}}}}"#
        );
        assert!(
            serde_json::from_str::<PortfolioSpec>(&json).is_err(),
            "{json}"
        );
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
    #[case::inside_band(|s: &mut PortfolioSpec| { s.policy.destination = Destination::InsideBand(Decimal::new(15, 1)); }, "policy.destination.inside_band", "1.5")]
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
