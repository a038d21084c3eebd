//! Request parameters as the venue reads them: from the query string and a form body, checked
//! for duplicates, with the venue's error for each way a parameter can be wrong.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::api_error::ApiError;
use crate::engine::ASSET_PRECISION;

/// The parameters of one request, in the order they were sent.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses the raw query string and form body.
    ///
    /// # Errors
    /// -1100 for text that is not form-encoded; -1101 for a parameter sent twice.
    pub fn parse(query: &str, body: &str) -> Result<Self, ApiError> {
        let mut all: Vec<(String, String)> = Vec::new();
        for part in [query, body] {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(part)
                .map_err(|_| ApiError::bad(-1100, "Illegal characters found in a parameter."))?;
            for (k, v) in pairs {
                if all.iter().any(|(seen, _)| *seen == k) {
                    return Err(ApiError::bad(
                        -1101,
                        "Duplicate values for a parameter detected.",
                    ));
                }
                all.push((k, v));
            }
        }
        Ok(Self(all))
    }

    /// A parameter's value; an empty value counts as not sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// # Errors
    /// -1102 naming the parameter when it is missing or empty.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| mandatory(name))
    }

    /// # Errors
    /// -1106 when a parameter the order type does not take was sent.
    pub fn forbid(&self, name: &str) -> Result<(), ApiError> {
        match self.get(name) {
            Some(_) => Err(ApiError::bad(
                -1106,
                format!("Parameter '{name}' sent when not required."),
            )),
            None => Ok(()),
        }
    }

    /// A decimal parameter, in the venue's format: digits, an optional fraction, no sign or
    /// exponent, at most eight decimals.
    ///
    /// # Errors
    /// -1100 for anything else, -1111 for too many decimals.
    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str, allow_empty: bool| {
            (allow_empty || !s.is_empty()) && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
        };
        let shaped =
            digits(int, false) && digits(frac, true) && !(text.contains('.') && frac.is_empty());
        let illegal = || {
            ApiError::bad(
                -1100,
                format!("Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
            )
        };
        if !shaped {
            return Err(illegal());
        }
        let value = Decimal::from_str(text).map_err(|_| illegal())?;
        if value.normalize().scale() > ASSET_PRECISION {
            return Err(ApiError::bad(
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        Ok(Some(value))
    }

    /// A whole-number parameter.
    ///
    /// # Errors
    /// -1100 naming the parameter when it is not a whole number in range.
    pub fn integer<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|text| {
                text.parse::<T>().map_err(|_| {
                    ApiError::bad(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."))
                })
            })
            .transpose()
    }

    /// A JSON array of symbols (`symbols=["BTCUSDT","ETHUSDT"]`).
    ///
    /// # Errors
    /// -1100 when it is not a JSON array of strings.
    pub fn symbol_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.get(name)
            .map(|text| {
                serde_json::from_str::<Vec<String>>(text).map_err(|_| {
                    ApiError::bad(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '^\\[(\"[A-Z0-9-_.]{{1,20}}\"(,\"[A-Z0-9-_.]{{1,20}}\"){{0,}}){{0,1}}\\]$'."))
                })
            })
            .transpose()
    }
}

/// -1102 for a missing mandatory parameter.
pub fn mandatory(name: &str) -> ApiError {
    ApiError::bad(
        -1102,
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1", Some("1"))]
    #[case("0.001", Some("0.001"))]
    #[case("64230.10000000", Some("64230.1"))]
    #[case("-1", None)]
    #[case("1e-3", None)]
    #[case(".5", None)]
    #[case("5.", None)]
    #[case("1.123456789", None)]
    #[case("abc", None)]
    fn decimals_in_the_venue_format(#[case] text: &str, #[case] expected: Option<&str>) {
        let p = Params::parse(&format!("quantity={}", text.replace('+', "%2B")), "").unwrap();
        let got = p
            .decimal("quantity")
            .ok()
            .flatten()
            .map(|d| d.normalize().to_string());
        assert_eq!(got.as_deref(), expected, "{text}");
    }

    #[test]
    fn a_parameter_sent_twice_is_refused_even_across_query_and_body() {
        let err = Params::parse("symbol=BTCUSDT", "symbol=ETHUSDT").unwrap_err();
        assert_eq!(err.code, -1101);
    }

    #[test]
    fn an_empty_value_is_missing() {
        let p = Params::parse("symbol=&side=BUY", "").unwrap();
        assert_eq!(p.require("symbol").unwrap_err().code, -1102);
        assert_eq!(p.require("side").unwrap(), "BUY");
    }
}
