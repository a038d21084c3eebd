//! The rebalance policy: when an asset is worth trading, and how far.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Asset, DomainError, VelocityWindow};

/// A no-trade band around a target weight: absolute (percentage points as a fraction, 0.05 =
/// 5 pp) and/or relative to the target (0.25 = 25% of the target). With both, the narrower
/// applies, as in the common "5/25" rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    #[serde(with = "crate::exact::option", default)]
    pub absolute: Option<Decimal>,
    #[serde(with = "crate::exact::option", default)]
    pub relative: Option<Decimal>,
}

impl Band {
    /// The half-width of the band around `target`, as a weight.
    pub fn half_width(&self, target: Decimal) -> Decimal {
        match (self.absolute, self.relative.map(|r| r * target)) {
            (Some(a), Some(r)) => a.min(r),
            (Some(a), None) => a,
            (None, Some(r)) => r,
            (None, None) => Decimal::ZERO,
        }
    }

    fn validate(&self, field: &str) -> Result<(), DomainError> {
        let invalid = |name: &str, value: String, reason| DomainError::InvalidPolicy {
            field: format!("{field}.{name}"),
            value,
            reason,
        };
        if self.absolute.is_none() && self.relative.is_none() {
            return Err(invalid(
                "absolute",
                "none".into(),
                "a band needs an absolute or a relative width",
            ));
        }
        for (name, v) in [("absolute", self.absolute), ("relative", self.relative)] {
            if let Some(v) = v {
                if v < Decimal::ZERO || v > Decimal::ONE {
                    return Err(invalid(name, v.to_string(), "must be in [0, 1]"));
                }
            }
        }
        Ok(())
    }
}

/// Where a trade takes an asset that left its band. Written `"band_edge"`, `"target"`, or
/// `{ inside_band = "0.5" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Back to the nearest band edge: the optimum under proportional costs.
    #[default]
    BandEdge,
    /// Inside the band, this fraction of the way from the nearest band edge to the target
    /// (0 is the band edge, 1 the target): larger, rarer trades, the optimum when each trade
    /// has a fixed cost or a minimum size (Dybvig and Pezzo).
    InsideBand(#[serde(with = "crate::exact")] Decimal),
    /// All the way back to the target.
    Target,
}

impl Destination {
    /// How far past the band edge toward the target a trade goes, as a fraction of the band:
    /// 0 for the band edge, 1 for the target. An asset `drift` outside a band of half-width
    /// `band` trades `|drift| − band × (1 − toward_target)`.
    pub fn toward_target(&self) -> Decimal {
        match self {
            Self::BandEdge => Decimal::ZERO,
            Self::InsideBand(fraction) => *fraction,
            Self::Target => Decimal::ONE,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BandEdge => f.write_str("band edge"),
            Self::InsideBand(fraction) => write!(f, "inside band {}", fraction.normalize()),
            Self::Target => f.write_str("target"),
        }
    }
}

/// Defer a trade when drift is already moving back toward the target fast enough that, at its
/// current velocity, it is projected inside the band within `horizon_cycles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VelocityRule {
    /// Snapshots the velocity is measured over, the current one included.
    pub window: VelocityWindow,
    #[serde(with = "crate::exact")]
    pub horizon_cycles: Decimal,
}

impl Default for VelocityRule {
    fn default() -> Self {
        Self {
            window: VelocityWindow::default(),
            horizon_cycles: Decimal::ONE,
        }
    }
}

/// Which fee the cost model predicts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    /// The conservative default: a limit order inside the spread may still take.
    #[default]
    Taker,
}

/// Everything that decides whether and how an asset is traded. Fields left out of a policy
/// file take the defaults of [`RebalancePolicy::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalancePolicy {
    pub band: Band,
    pub band_overrides: BTreeMap<Asset, Band>,
    pub destination: Destination,
    /// Trades smaller than this, in the quote asset, are not worth an order.
    #[serde(with = "crate::exact")]
    pub min_trade_notional: Decimal,
    /// Trades whose predicted cost exceeds this many bps of their notional are skipped.
    #[serde(with = "crate::exact")]
    pub max_cost_bps: Decimal,
    /// The worst price an order may fill at, in bps from the reference mid.
    #[serde(with = "crate::exact")]
    pub slippage_budget_bps: Decimal,
    /// Where in the spread the limit price starts: 0 at the passive touch (best bid for a buy),
    /// 1 at the far touch; 0.5 is the mid.
    #[serde(with = "crate::exact")]
    pub limit_offset: Decimal,
    pub velocity: Option<VelocityRule>,
    pub fee_liquidity: Liquidity,
    /// How long an intent may wait (queued for liquidity or resting) before it expires.
    pub order_ttl_seconds: u32,
}

impl Default for RebalancePolicy {
    fn default() -> Self {
        Self {
            band: Band {
                absolute: Some(Decimal::new(5, 2)),
                relative: None,
            },
            band_overrides: BTreeMap::new(),
            destination: Destination::BandEdge,
            min_trade_notional: Decimal::TEN,
            max_cost_bps: Decimal::from(50),
            slippage_budget_bps: Decimal::from(20),
            limit_offset: Decimal::new(5, 1),
            velocity: Some(VelocityRule::default()),
            fee_liquidity: Liquidity::Taker,
            order_ttl_seconds: 900,
        }
    }
}

impl RebalancePolicy {
    /// # Errors
    /// [`DomainError::InvalidPolicy`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.band.validate("band")?;
        for (asset, band) in &self.band_overrides {
            band.validate(&format!("band_overrides.{asset}"))?;
        }
        let invalid = |field: &str, value: Decimal, reason| DomainError::InvalidPolicy {
            field: field.into(),
            value: value.to_string(),
            reason,
        };
        let non_negative = [
            ("min_trade_notional", self.min_trade_notional),
            ("max_cost_bps", self.max_cost_bps),
            ("slippage_budget_bps", self.slippage_budget_bps),
        ];
        for (field, v) in non_negative {
            if v < Decimal::ZERO {
                return Err(invalid(field, v, "must not be negative"));
            }
        }
        if self.slippage_budget_bps >= Decimal::from(10_000) {
            return Err(invalid(
                "slippage_budget_bps",
                self.slippage_budget_bps,
                "must be below 10000",
            ));
        }
        if let Destination::InsideBand(fraction) = self.destination {
            if fraction < Decimal::ZERO || fraction > Decimal::ONE {
                return Err(invalid(
                    "destination.inside_band",
                    fraction,
                    "must be in [0, 1] (0 is the band edge, 1 the target)",
                ));
            }
        }
        if self.limit_offset < Decimal::ZERO || self.limit_offset > Decimal::ONE {
            return Err(invalid(
                "limit_offset",
                self.limit_offset,
                "must be in [0, 1]",
            ));
        }
        if let Some(v) = &self.velocity {
            if v.window.window < 2 {
                return Err(invalid(
                    "velocity.window",
                    Decimal::from(v.window.window),
                    "must be at least 2 snapshots",
                ));
            }
            if v.horizon_cycles < Decimal::ZERO {
                return Err(invalid(
                    "velocity.horizon_cycles",
                    v.horizon_cycles,
                    "must not be negative",
                ));
            }
        }
        if self.order_ttl_seconds == 0 {
            return Err(invalid(
                "order_ttl_seconds",
                Decimal::ZERO,
                "must be greater than zero",
            ));
        }
        Ok(())
    }

    /// The band half-width that applies to `asset` at `target`.
    pub fn band_for(&self, asset: &Asset, target: Decimal) -> Decimal {
        self.band_overrides
            .get(asset)
            .unwrap_or(&self.band)
            .half_width(target)
    }
}

/// Why an asset is or is not traded this cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DecisionReason {
    /// The quote asset is not traded itself: it settles the other trades.
    QuoteAsset,
    InBand,
    /// The trade is smaller than the policy's minimum notional.
    BelowMinimum {
        #[serde(with = "crate::exact")]
        notional: Decimal,
        #[serde(with = "crate::exact")]
        minimum: Decimal,
    },
    /// After rounding to the exchange's grid (and any budget cap), the order is dust.
    BelowExchangeMinimum {
        #[serde(with = "crate::exact")]
        quantity: Decimal,
        #[serde(with = "crate::exact")]
        notional: Decimal,
        #[serde(with = "crate::exact")]
        min_notional: Decimal,
    },
    CostTooHigh {
        #[serde(with = "crate::exact")]
        predicted_bps: Decimal,
        #[serde(with = "crate::exact")]
        cap_bps: Decimal,
    },
    /// The visible book cannot absorb the order at all.
    BookTooThin {
        #[serde(with = "crate::exact")]
        visible: Decimal,
        #[serde(with = "crate::exact")]
        needed: Decimal,
    },
    /// Drift is moving back into the band fast enough on its own.
    DeferredByVelocity {
        #[serde(with = "crate::exact")]
        velocity: Decimal,
        #[serde(with = "crate::exact")]
        projected_drift: Decimal,
    },
    NotTrading {
        status: String,
    },
    /// An earlier order for this asset is not final yet; drift already counts it.
    OrderInFlight,
    /// A buy no account that lists the asset has the cash for: cash is not moved between
    /// accounts.
    NotFunded {
        #[serde(with = "crate::exact")]
        notional: Decimal,
    },
    Trade,
}

impl DecisionReason {
    /// Whether the asset left its band but is not traded: the skips worth reporting.
    pub fn is_skipped_trade(&self) -> bool {
        !matches!(self, Self::Trade | Self::InBand | Self::QuoteAsset)
    }

    /// A short, stable label for tables and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::QuoteAsset => "quote asset",
            Self::InBand => "in band",
            Self::BelowMinimum { .. } => "below minimum",
            Self::BelowExchangeMinimum { .. } => "below exchange minimum",
            Self::CostTooHigh { .. } => "cost too high",
            Self::BookTooThin { .. } => "book too thin",
            Self::DeferredByVelocity { .. } => "deferred by velocity",
            Self::NotTrading { .. } => "market not trading",
            Self::OrderInFlight => "order in flight",
            Self::NotFunded { .. } => "no cash where it trades",
            Self::Trade => "trade",
        }
    }
}

impl fmt::Display for DecisionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QuoteAsset => f.write_str("quote asset: settles the other trades"),
            Self::InBand => f.write_str("in band"),
            Self::BelowMinimum { notional, minimum } => {
                write!(f, "below minimum: {} < {}", notional.round_dp(2), minimum)
            }
            Self::BelowExchangeMinimum {
                quantity,
                notional,
                min_notional,
            } => write!(
                f,
                "below exchange minimum after rounding: {quantity} = {} < {min_notional}",
                notional.round_dp(2)
            ),
            Self::CostTooHigh {
                predicted_bps,
                cap_bps,
            } => write!(
                f,
                "predicted cost {} bps > cap {cap_bps} bps",
                predicted_bps.round_dp(2)
            ),
            Self::BookTooThin { visible, needed } => {
                write!(f, "book too thin: {visible} visible, {needed} needed")
            }
            Self::DeferredByVelocity {
                velocity,
                projected_drift,
            } => write!(
                f,
                "deferred by velocity: {} pp/cycle, projected drift {} pp",
                (velocity * Decimal::ONE_HUNDRED).round_dp(2),
                (projected_drift * Decimal::ONE_HUNDRED).round_dp(2)
            ),
            Self::NotTrading { status } => write!(f, "market not trading ({status})"),
            Self::OrderInFlight => f.write_str("an earlier order for this asset is not final yet"),
            Self::NotFunded { notional } => write!(
                f,
                "no account that lists it holds the cash for {} (cash is not moved between accounts)",
                notional.round_dp(2)
            ),
            Self::Trade => f.write_str("trade"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case(Some(dec!(0.05)), None, dec!(0.40), dec!(0.05))]
    #[case(None, Some(dec!(0.25)), dec!(0.40), dec!(0.10))]
    #[case(Some(dec!(0.05)), Some(dec!(0.25)), dec!(0.40), dec!(0.05))]
    #[case(Some(dec!(0.05)), Some(dec!(0.25)), dec!(0.04), dec!(0.01))]
    fn band_half_width(
        #[case] absolute: Option<Decimal>,
        #[case] relative: Option<Decimal>,
        #[case] target: Decimal,
        #[case] expected: Decimal,
    ) {
        assert_eq!(Band { absolute, relative }.half_width(target), expected);
    }

    #[test]
    fn overrides_apply_per_asset() {
        let mut policy = RebalancePolicy::default();
        let btc = Asset::new("BTC").unwrap();
        policy.band_overrides.insert(
            btc.clone(),
            Band {
                absolute: Some(dec!(0.02)),
                relative: None,
            },
        );
        assert_eq!(policy.band_for(&btc, dec!(0.4)), dec!(0.02));
        assert_eq!(
            policy.band_for(&Asset::new("ETH").unwrap(), dec!(0.4)),
            dec!(0.05)
        );
    }

    #[rstest]
    #[case::negative_min(RebalancePolicy { min_trade_notional: dec!(-1), ..RebalancePolicy::default() }, "min_trade_notional")]
    #[case::offset(RebalancePolicy { limit_offset: dec!(1.5), ..RebalancePolicy::default() }, "limit_offset")]
    #[case::band(RebalancePolicy { band: Band { absolute: Some(dec!(2)), relative: None }, ..RebalancePolicy::default() }, "band.absolute")]
    #[case::no_band(RebalancePolicy { band: Band::default(), ..RebalancePolicy::default() }, "band.absolute")]
    #[case::ttl(RebalancePolicy { order_ttl_seconds: 0, ..RebalancePolicy::default() }, "order_ttl_seconds")]
    #[case::inside_above_one(RebalancePolicy { destination: Destination::InsideBand(dec!(1.5)), ..RebalancePolicy::default() }, "destination.inside_band")]
    #[case::inside_negative(RebalancePolicy { destination: Destination::InsideBand(dec!(-0.1)), ..RebalancePolicy::default() }, "destination.inside_band")]
    fn invalid_policies_name_the_field(#[case] policy: RebalancePolicy, #[case] field: &str) {
        match policy.validate() {
            Err(DomainError::InvalidPolicy { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }

    #[rstest]
    #[case::band_edge(Destination::BandEdge)]
    #[case::inside_low(Destination::InsideBand(dec!(0)))]
    #[case::inside_half(Destination::InsideBand(dec!(0.5)))]
    #[case::inside_high(Destination::InsideBand(dec!(1)))]
    #[case::target(Destination::Target)]
    fn destinations_in_range_are_valid(#[case] destination: Destination) {
        let policy = RebalancePolicy {
            destination,
            ..RebalancePolicy::default()
        };
        assert_eq!(policy.validate(), Ok(()));
    }

    #[rstest]
    #[case(Destination::BandEdge, dec!(0))]
    #[case(Destination::InsideBand(dec!(0.25)), dec!(0.25))]
    #[case(Destination::Target, dec!(1))]
    fn how_far_toward_the_target(#[case] destination: Destination, #[case] expected: Decimal) {
        assert_eq!(destination.toward_target(), expected);
    }
}
