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
        Some(dp) => round_to_places(value, dp, Rounding::Down),
        None => ((value / step).floor() * step).normalize(),
    }
}

/// The smallest multiple of `step` that is at or above `value` (`step` > 0).
pub fn ceil_to_step(value: Decimal, step: Decimal) -> Decimal {
    match decimal_places_of(step) {
        Some(dp) => round_to_places(value, dp, Rounding::Up),
        None => ((value / step).ceil() * step).normalize(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    /// Toward negative infinity.
    Down,
    /// Toward positive infinity.
    Up,
}

/// 10^0 to 10^19: every power of ten a `u64` holds.
const POW10: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `value` rounded to `dp` decimal places toward `rounding`, without trailing zeros: what
/// `round_dp_with_strategy` (`ToNegativeInfinity` / `ToPositiveInfinity`) then `normalize`
/// give, computed on the integer mantissa. The rounding of every order's quantity and prices
/// goes through here, and the mantissa is usually a 28-digit quotient, which the decimal
/// rounding reduces one limb-division at a time. `money::tests` prove the two equal.
fn round_to_places(value: Decimal, dp: u32, rounding: Rounding) -> Decimal {
    let scale = value.scale();
    if scale <= dp {
        return value.normalize();
    }
    let negative = value.is_sign_negative();
    // |mantissa| < 2^96.
    let mut magnitude = value.mantissa().unsigned_abs();
    let mut inexact = false;
    // Divide by 10^(scale − dp) (at most 10^28) in steps of at most 10^19, so every divisor
    // is a u64; the floor of nested floors is the floor of the whole.
    let mut digits = scale - dp;
    while digits > 0 {
        let chunk = digits.min(19);
        let divisor = u128::from(POW10[chunk as usize]);
        let quotient = magnitude / divisor;
        inexact |= quotient * divisor != magnitude;
        magnitude = quotient;
        digits -= chunk;
    }
    // Rounding toward −∞ moves a negative value away from zero, toward +∞ a positive one.
    if inexact && negative == (rounding == Rounding::Down) {
        magnitude += 1;
    }
    if magnitude == 0 {
        return Decimal::ZERO;
    }
    let (magnitude, scale) = without_trailing_zeros(magnitude, dp);
    // The magnitude is at most the original |mantissa| (< 2^96): these conversions succeed.
    i128::try_from(magnitude)
        .ok()
        .and_then(|m| Decimal::try_from_i128_with_scale(if negative { -m } else { m }, scale).ok())
        .unwrap_or_else(|| {
            let strategy = match rounding {
                Rounding::Down => RoundingStrategy::ToNegativeInfinity,
                Rounding::Up => RoundingStrategy::ToPositiveInfinity,
            };
            value.round_dp_with_strategy(dp, strategy).normalize()
        })
}

/// `magnitude × 10^-scale` with its trailing zeros stripped (as `normalize` does).
fn without_trailing_zeros(magnitude: u128, mut scale: u32) -> (u128, u32) {
    // Usually it fits a u64, whose division by 10 is a multiplication.
    if let Ok(mut small) = u64::try_from(magnitude) {
        while scale > 0 && small % 10 == 0 {
            small /= 10;
            scale -= 1;
        }
        return (u128::from(small), scale);
    }
    let mut magnitude = magnitude;
    while scale > 0 && magnitude % 10 == 0 {
        magnitude /= 10;
        scale -= 1;
    }
    (magnitude, scale)
}

/// Whether `value` is an exact multiple of `step`.
pub fn is_on_step(value: Decimal, step: Decimal) -> bool {
    match decimal_places_of(step) {
        // A step of 10^-dp is at most 1. Normalizing only lowers the scale: look at it only
        // when the scale as written is too fine.
        Some(dp) => value.scale() <= dp || value.normalize().scale() <= dp,
        _ => (value % step).is_zero(),
    }
}

/// `part / whole` in basis points.
pub fn to_bps(part: Decimal, whole: Decimal) -> Decimal {
    part / whole * BPS
}

/// `amount` and `bps` basis points of it: what a buy costs with its fee on top.
pub fn plus_bps(amount: Decimal, bps: Decimal) -> Decimal {
    amount + amount * bps / BPS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    /// The rounding as it was before `round_to_places`: the decimal library's own rounding
    /// for power-of-ten steps, division otherwise.
    fn decimal_floor(value: Decimal, step: Decimal) -> Decimal {
        match decimal_places_of(step) {
            Some(dp) => value
                .round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity)
                .normalize(),
            None => ((value / step).floor() * step).normalize(),
        }
    }

    fn decimal_ceil(value: Decimal, step: Decimal) -> Decimal {
        match decimal_places_of(step) {
            Some(dp) => value
                .round_dp_with_strategy(dp, RoundingStrategy::ToPositiveInfinity)
                .normalize(),
            None => ((value / step).ceil() * step).normalize(),
        }
    }

    /// Any decimal: a mantissa of up to 96 bits, either sign, any scale.
    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28,
        )
            .prop_map(|(lo, mid, hi, negative, scale)| {
                Decimal::from_parts(lo, mid, hi, negative, scale)
            })
    }

    /// What the planner rounds: 28-digit quotients (a notional over a price), small prices
    /// and quantities, and anything else.
    fn rounded_value() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            any_decimal(),
            (
                1i64..1_000_000_000_000,
                0u32..=8,
                1i64..1_000_000_000,
                0u32..=8
            )
                .prop_map(|(n, ns, d, ds)| Decimal::new(n, ns) / Decimal::new(d, ds)),
            (-1_000_000_000_000i64..1_000_000_000_000, 0u32..=10)
                .prop_map(|(m, scale)| Decimal::new(m, scale)),
        ]
    }

    /// A value and a grid: power-of-ten grids (Binance's) with any value, other grids (0.05,
    /// 0.25, 5, 10, 0.0003 ...) with values their division path does not overflow on (it
    /// panics on those in both versions).
    fn value_and_step() -> impl Strategy<Value = (Decimal, Decimal)> {
        prop_oneof![
            (
                rounded_value(),
                (0u32..=28).prop_map(|k| Decimal::new(1, k))
            ),
            (
                rounded_value().prop_filter("no overflow", |v| v.abs()
                    < Decimal::from(1_000_000_000_000i64)),
                (2i64..=1_000, 0u32..=8).prop_map(|(m, scale)| Decimal::new(m, scale).normalize()),
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testing::property_cases(20_000)))]

        /// The integer rounding gives the decimal rounding's result bit for bit (same
        /// mantissa, scale and sign), on power-of-ten grids and on every other grid.
        #[test]
        fn integer_rounding_equals_decimal_rounding((value, step) in value_and_step()) {
            prop_assert_eq!(floor_to_step(value, step).serialize(), decimal_floor(value, step).serialize(), "floor {} to {}", value, step);
            prop_assert_eq!(ceil_to_step(value, step).serialize(), decimal_ceil(value, step).serialize(), "ceil {} to {}", value, step);
            // And the grid check, which skips normalizing when the scale already fits.
            let on_step = match decimal_places_of(step) {
                Some(dp) if step <= Decimal::ONE => value.normalize().scale() <= dp,
                _ => (value % step).is_zero(),
            };
            prop_assert_eq!(is_on_step(value, step), on_step, "{} on {}", value, step);
            let floored = floor_to_step(value, step);
            prop_assert!(is_on_step(floored, step), "{} on {}", floored, step);
        }
    }

    #[rstest]
    #[case(dec!(-0.0004), dec!(0.001))]
    #[case(dec!(0.0004), dec!(0.001))]
    #[case(dec!(-0.000), dec!(0.01))]
    #[case(dec!(123.4500), dec!(0.01))]
    #[case(dec!(99.999), dec!(0.01))]
    #[case(dec!(-99.999), dec!(0.01))]
    #[case(Decimal::MAX, dec!(0.0000000000000000000000000001))]
    #[case(Decimal::MIN, dec!(1))]
    #[case(dec!(0.1234567890123456789012345678), dec!(0.0001))]
    fn integer_rounding_edges(#[case] value: Decimal, #[case] step: Decimal) {
        assert_eq!(
            floor_to_step(value, step).serialize(),
            decimal_floor(value, step).serialize()
        );
        assert_eq!(
            ceil_to_step(value, step).serialize(),
            decimal_ceil(value, step).serialize()
        );
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
