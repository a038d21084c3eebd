//! Serde for decimals as strings only: `"0.35"` is accepted, `0.35` is refused, because a
//! number in JSON or TOML may already have passed through a binary float. Written as plain
//! strings without exponents.
//!
//! Use as `#[serde(with = "driftline_core::exact")]`, or `exact::option` for `Option<Decimal>`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// # Errors
/// Only the serializer's own.
pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// # Errors
/// A value that is not a string holding a decimal number.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(ExactDecimal)
}

struct ExactDecimal;

impl Visitor<'_> for ExactDecimal {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number written as a string, like \"0.35\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        Decimal::from_str(v)
            .or_else(|_| Decimal::from_scientific(v))
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

pub mod option {
    //! [`super`] for `Option<Decimal>`: absent or null is `None`.

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// # Errors
    /// Only the serializer's own.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// # Errors
    /// A value that is neither null nor a string holding a decimal number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] Decimal);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(v)| v))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "super")]
        amount: Decimal,
        #[serde(with = "super::option", default)]
        cap: Option<Decimal>,
    }

    #[test]
    fn strings_in_strings_out() {
        let row: Row = serde_json::from_str(r#"{"amount":"64230.015","cap":"1e-7"}"#).unwrap();
        assert_eq!(
            row,
            Row {
                amount: dec!(64230.015),
                cap: Some(dec!(0.0000001))
            }
        );
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"amount":"64230.015","cap":"0.0000001"}"#
        );
        let none: Row = serde_json::from_str(r#"{"amount":"1"}"#).unwrap();
        assert_eq!(none.cap, None);
    }

    #[test]
    fn numbers_are_refused() {
        for bad in [
            r#"{"amount":0.35}"#,
            r#"{"amount":1}"#,
            r#"{"amount":"abc"}"#,
            r#"{"amount":"1","cap":0.1}"#,
        ] {
            let err = serde_json::from_str::<Row>(bad).unwrap_err().to_string();
            assert!(
                err.contains("decimal number written as a string"),
                "{bad}: {err}"
            );
        }
    }
}
