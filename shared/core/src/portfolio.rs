//! Portfolios: what is held, what should be held, and in which currency it is counted.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Asset, DomainError};

/// Identifies a portfolio across the system (ledger keys, client order ids, metrics).
/// Shared, not copied: every order intent of a plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortfolioId(Arc<str>);

impl PortfolioId {
    /// # Errors
    /// [`DomainError::InvalidPortfolioId`] unless 1 to 64 characters of `A-Za-z0-9_-`.
    pub fn new(id: &str) -> Result<Self, DomainError> {
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(Arc::from(id)))
        } else {
            Err(DomainError::InvalidPortfolioId {
                value: id.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PortfolioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PortfolioId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<PortfolioId> for String {
    fn from(p: PortfolioId) -> Self {
        p.0.as_ref().to_owned()
    }
}

/// Target weights of a portfolio, the quote asset (cash) included. Each weight is in [0, 1]
/// and they sum to exactly 1: no other `TargetWeights` can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetWeights(BTreeMap<Asset, Decimal>);

impl TargetWeights {
    /// # Errors
    /// [`DomainError::DuplicateAsset`], [`DomainError::WeightOutOfRange`] or
    /// [`DomainError::WeightsDoNotSumToOne`].
    pub fn new(weights: impl IntoIterator<Item = (Asset, Decimal)>) -> Result<Self, DomainError> {
        let mut map = BTreeMap::new();
        for (asset, weight) in weights {
            if weight < Decimal::ZERO || weight > Decimal::ONE {
                return Err(DomainError::WeightOutOfRange {
                    asset: asset.to_string(),
                    value: weight,
                });
            }
            if map.insert(asset.clone(), weight).is_some() {
                return Err(DomainError::DuplicateAsset {
                    asset: asset.to_string(),
                    context: "target weights",
                });
            }
        }
        let sum: Decimal = map.values().sum();
        if sum != Decimal::ONE {
            return Err(DomainError::WeightsDoNotSumToOne { sum });
        }
        Ok(Self(map))
    }

    pub fn get(&self, asset: &Asset) -> Option<Decimal> {
        self.0.get(asset).copied()
    }

    pub fn contains(&self, asset: &Asset) -> bool {
        self.0.contains_key(asset)
    }

    /// Assets and weights in asset order.
    pub fn iter(&self) -> impl Iterator<Item = (&Asset, Decimal)> {
        self.0.iter().map(|(a, w)| (a, *w))
    }

    pub fn assets(&self) -> impl Iterator<Item = &Asset> {
        self.0.keys()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a portfolio holds, per asset, the quote asset (cash) included. Never negative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings(BTreeMap<Asset, Decimal>);

impl Holdings {
    /// Nothing held.
    pub const EMPTY: Self = Self(BTreeMap::new());

    /// # Errors
    /// [`DomainError::NegativeHolding`] or [`DomainError::DuplicateAsset`].
    pub fn new(items: impl IntoIterator<Item = (Asset, Decimal)>) -> Result<Self, DomainError> {
        let mut map = BTreeMap::new();
        for (asset, quantity) in items {
            if quantity < Decimal::ZERO {
                return Err(DomainError::NegativeHolding {
                    asset: asset.to_string(),
                    value: quantity,
                });
            }
            if map.insert(asset.clone(), quantity.normalize()).is_some() {
                return Err(DomainError::DuplicateAsset {
                    asset: asset.to_string(),
                    context: "holdings",
                });
            }
        }
        Ok(Self(map))
    }

    /// The quantity held of `asset`, zero when none.
    pub fn of(&self, asset: &Asset) -> Decimal {
        self.0.get(asset).copied().unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Asset, Decimal)> {
        self.0.iter().map(|(a, q)| (a, *q))
    }
}

/// A portfolio: its holdings, its targets and the quote asset its value is counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portfolio {
    id: PortfolioId,
    quote: Asset,
    holdings: Holdings,
    targets: TargetWeights,
}

impl Portfolio {
    /// Every holding must have a target (0 to sell it all) and the quote asset must have one.
    ///
    /// # Errors
    /// [`DomainError::QuoteWithoutTarget`] or [`DomainError::UnknownAsset`].
    pub fn new(
        id: PortfolioId,
        quote: Asset,
        holdings: Holdings,
        targets: TargetWeights,
    ) -> Result<Self, DomainError> {
        if !targets.contains(&quote) {
            return Err(DomainError::QuoteWithoutTarget {
                asset: quote.to_string(),
            });
        }
        if let Some((asset, _)) = holdings.iter().find(|(a, _)| !targets.contains(a)) {
            return Err(DomainError::UnknownAsset {
                asset: asset.to_string(),
                context: "holdings",
            });
        }
        Ok(Self {
            id,
            quote,
            holdings,
            targets,
        })
    }

    pub fn id(&self) -> &PortfolioId {
        &self.id
    }

    /// The same portfolio holding `holdings` (nothing, say, to plan one whose holdings are an
    /// account's: [`crate::PlanRequest::portfolio`] holds only what is off every exchange).
    ///
    /// # Errors
    /// [`DomainError::UnknownAsset`] for a holding without a target.
    pub fn with_holdings(&self, holdings: Holdings) -> Result<Self, DomainError> {
        Self::new(
            self.id.clone(),
            self.quote.clone(),
            holdings,
            self.targets.clone(),
        )
    }

    pub fn quote(&self) -> &Asset {
        &self.quote
    }

    pub fn holdings(&self) -> &Holdings {
        &self.holdings
    }

    pub fn targets(&self) -> &TargetWeights {
        &self.targets
    }

    /// Every target asset in asset order with its weight and the quantity held (zero when
    /// none). One pass over both maps, which share the asset order: no lookup per asset.
    pub(crate) fn positions(&self) -> impl Iterator<Item = (&Asset, Decimal, Decimal)> {
        let mut held = self.holdings.0.iter().peekable();
        self.targets.0.iter().map(move |(asset, weight)| {
            // Every holding has a target (`Portfolio::new`), so the holdings never run ahead.
            let quantity = held
                .next_if(|(a, _)| *a == asset)
                .map_or(Decimal::ZERO, |(_, q)| *q);
            (asset, *weight, quantity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn a(code: &str) -> Asset {
        Asset::new(code).unwrap()
    }

    #[test]
    fn targets_must_sum_to_exactly_one() {
        let ok = TargetWeights::new([
            (a("BTC"), dec!(0.40)),
            (a("ETH"), dec!(0.35)),
            (a("USDT"), dec!(0.25)),
        ]);
        assert!(ok.is_ok());
        // The article's targets without cash sum to 0.75.
        let err = TargetWeights::new([(a("BTC"), dec!(0.40)), (a("ETH"), dec!(0.35))]).unwrap_err();
        assert_eq!(err, DomainError::WeightsDoNotSumToOne { sum: dec!(0.75) });
        let third = dec!(1) / dec!(3);
        let err = TargetWeights::new([(a("A"), third), (a("B"), third), (a("C"), third)]);
        assert!(
            matches!(err, Err(DomainError::WeightsDoNotSumToOne { .. })),
            "0.999… is not 1"
        );
    }

    #[test]
    fn targets_reject_duplicates_and_out_of_range() {
        let dup = TargetWeights::new([(a("BTC"), dec!(0.5)), (a("BTC"), dec!(0.5))]);
        assert!(matches!(dup, Err(DomainError::DuplicateAsset { .. })));
        let neg = TargetWeights::new([(a("BTC"), dec!(1.5)), (a("USDT"), dec!(-0.5))]);
        assert!(matches!(neg, Err(DomainError::WeightOutOfRange { .. })));
    }

    #[test]
    fn portfolio_needs_a_quote_target_and_known_holdings() {
        let targets = TargetWeights::new([(a("BTC"), dec!(1))]).unwrap();
        let id = PortfolioId::new("p1").unwrap();
        let err = Portfolio::new(id.clone(), a("USDT"), Holdings::default(), targets).unwrap_err();
        assert!(matches!(err, DomainError::QuoteWithoutTarget { .. }));

        let targets = TargetWeights::new([(a("BTC"), dec!(0.5)), (a("USDT"), dec!(0.5))]).unwrap();
        let holdings = Holdings::new([(a("DOGE"), dec!(1))]).unwrap();
        let err = Portfolio::new(id, a("USDT"), holdings, targets).unwrap_err();
        assert!(matches!(err, DomainError::UnknownAsset { .. }));
    }

    #[test]
    fn holdings_are_never_negative() {
        let err = Holdings::new([(a("BTC"), dec!(-0.1))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "holding of BTC must not be negative, got -0.1"
        );
    }
}
