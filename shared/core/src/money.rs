//! Prices and the exact-decimal arithmetic every order depends on.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::DomainError;

/// Basis points in one whole: 1 bp = 0.0001.
pub const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// A price in the quote asset: strictly positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(Decimal);

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::exact::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = crate::exact::deserialize(d)?;
        Price::new(value).map_err(serde::de::Error::custom)
    }
}

impl Price {
    /// # Errors
    /// [`DomainError::NotPositive`] for zero or a negative value.
    pub fn new(value: Decimal) -> Result<Self, DomainError> {
        if value > Decimal::ZERO {
            Ok(Self(value.normalize()))
        } else {
            Err(DomainError::NotPositive {
                what: "price",
                value,
            })
        }
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<Decimal> for Price {
    type Error = DomainError;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Self::new(d)
    }
}

impl From<Price> for Decimal {
    fn from(p: Price) -> Self {
        p.0
    }
}

/// `Some(k)` when `step` is 10^-k (0.01, 0.00001, 1): the usual exchange grid, which rounds by
/// rescaling instead of dividing.
fn decimal_places_of(step: Decimal) -> Option<u32> {
    (step.mantissa() == 1).then(|| step.scale())
}

/// The largest multiple of `step` that is at or below `value` (`step` > 0).
pub fn floor_to_step(value: Decimal, step: Decimal) -> Decimal {
    match decimal_places_of(step) {
        Some(dp) => value
            .round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity)
            .normalize(),
        None => ((value / step).floor() * step).normalize(),
    }
}

/// The smallest multiple of `step` that is at or above `value` (`step` > 0).
pub fn ceil_to_step(value: Decimal, step: Decimal) -> Decimal {
    match decimal_places_of(step) {
        Some(dp) => value
            .round_dp_with_strategy(dp, RoundingStrategy::ToPositiveInfinity)
            .normalize(),
        None => ((value / step).ceil() * step).normalize(),
    }
}

/// Whether `value` is an exact multiple of `step`.
pub fn is_on_step(value: Decimal, step: Decimal) -> bool {
    match decimal_places_of(step) {
        Some(dp) if step <= Decimal::ONE => value.normalize().scale() <= dp,
        _ => (value % step).is_zero(),
    }
}

/// `part / whole` in basis points.
pub fn to_bps(part: Decimal, whole: Decimal) -> Decimal {
    part / whole * BPS
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case(dec!(1.23456), dec!(0.001), dec!(1.234), dec!(1.235))]
    #[case(dec!(1.234), dec!(0.001), dec!(1.234), dec!(1.234))]
    #[case(dec!(64230.015), dec!(0.01), dec!(64230.01), dec!(64230.02))]
    #[case(dec!(7), dec!(5), dec!(5), dec!(10))]
    #[case(dec!(0.0000004), dec!(0.000001), dec!(0), dec!(0.000001))]
    #[case(dec!(-1.5), dec!(1), dec!(-2), dec!(-1))]
    #[case(dec!(12.37), dec!(0.05), dec!(12.35), dec!(12.4))]
    #[case(dec!(12.37), dec!(10), dec!(10), dec!(20))]
    fn rounding_to_grid(
        #[case] value: Decimal,
        #[case] step: Decimal,
        #[case] down: Decimal,
        #[case] up: Decimal,
    ) {
        assert_eq!(floor_to_step(value, step), down);
        assert_eq!(ceil_to_step(value, step), up);
        assert!(is_on_step(down, step) && is_on_step(up, step));
        assert_eq!(is_on_step(value, step), down == value);
    }

    #[test]
    fn price_serializes_as_a_string_and_refuses_numbers() {
        let p: Price = serde_json::from_str("\"64230.01\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"64230.01\"");
        assert!(serde_json::from_str::<Price>("64230.01").is_err());
        assert!(serde_json::from_str::<Price>("\"0\"").is_err());
    }

    #[test]
    fn price_must_be_positive() {
        assert!(Price::new(dec!(0)).is_err());
        assert!(Price::new(dec!(-1)).is_err());
        assert_eq!(Price::new(dec!(1.50)).unwrap().to_string(), "1.5");
    }
}
