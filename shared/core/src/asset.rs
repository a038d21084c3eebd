//! Assets and trading symbols.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::DomainError;

/// The longest asset code accepted.
const MAX_ASSET_LEN: usize = 20;

/// An asset code as the exchange names it: `BTC`, `USDT`, `1000SATS`.
///
/// Held inline (no heap), zero-padded: codes are at most 20 bytes of `A-Z0-9`, all above zero,
/// so comparing the padded bytes orders assets exactly as comparing their strings would, and a
/// clone or a map lookup costs no allocation and no pointer chase. The planner clones and
/// compares assets for every asset of every portfolio.
#[derive(Clone)]
pub struct Asset {
    code: [u8; MAX_ASSET_LEN],
    len: u8,
}

impl Asset {
    /// The padded code as two big-endian integers: compared as numbers, they order exactly as
    /// the bytes (and so the strings) do, in two comparisons.
    fn key(&self) -> (u128, u32) {
        let [head @ .., a, b, c, d] = self.code;
        (u128::from_be_bytes(head), u32::from_be_bytes([a, b, c, d]))
    }
}

impl PartialEq for Asset {
    fn eq(&self, other: &Self) -> bool {
        // Equal padded codes have equal lengths: the padding is zeros, which no code contains.
        self.key() == other.key()
    }
}

impl Eq for Asset {}

impl Ord for Asset {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Asset {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Asset {
    /// # Errors
    /// [`DomainError::InvalidAsset`] unless the code is 1 to 20 characters of `A-Z0-9`.
    pub fn new(code: &str) -> Result<Self, DomainError> {
        let valid = (1..=MAX_ASSET_LEN).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(DomainError::InvalidAsset {
                value: code.to_owned(),
            });
        }
        let mut bytes = [0u8; MAX_ASSET_LEN];
        for (slot, b) in bytes.iter_mut().zip(code.bytes()) {
            *slot = b;
        }
        Ok(Self {
            code: bytes,
            // At most 20: checked above.
            len: code.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `&str` of ASCII characters, so they are valid UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The code's bytes (ASCII).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.code.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl Hash for Asset {
    /// As the code's `str` hashes, so hashed collections behave as they did over strings.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Asset").field(&self.as_str()).finish()
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Self::new(&code).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Asset {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Asset {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Asset> for String {
    fn from(a: Asset) -> Self {
        a.as_str().to_owned()
    }
}

/// A spot market in canonical form, `BASE/QUOTE`. Exchange-specific spellings (`BTCUSDT`)
/// are mapped by the exchange adapter, never derived here by string surgery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol {
    base: Asset,
    quote: Asset,
}

impl Symbol {
    /// # Errors
    /// [`DomainError::InvalidSymbol`] when base and quote are the same asset.
    pub fn new(base: Asset, quote: Asset) -> Result<Self, DomainError> {
        if base == quote {
            return Err(DomainError::InvalidSymbol {
                value: format!("{base}/{quote}"),
            });
        }
        Ok(Self { base, quote })
    }

    pub fn base(&self) -> &Asset {
        &self.base
    }

    pub fn quote(&self) -> &Asset {
        &self.quote
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl FromStr for Symbol {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || DomainError::InvalidSymbol {
            value: s.to_owned(),
        };
        let (base, quote) = s.split_once('/').ok_or_else(invalid)?;
        let base = Asset::new(base).map_err(|_| invalid())?;
        let quote = Asset::new(quote).map_err(|_| invalid())?;
        Self::new(base, quote).map_err(|_| invalid())
    }
}

impl TryFrom<String> for Symbol {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTC", true)]
    #[case("1000SATS", true)]
    #[case("btc", false)]
    #[case("", false)]
    #[case("BTC/USDT", false)]
    #[case("ABCDEFGHIJKLMNOPQRSTU", false)]
    fn asset_codes(#[case] code: &str, #[case] ok: bool) {
        assert_eq!(Asset::new(code).is_ok(), ok, "{code}");
    }

    proptest! {
        /// Assets compare, order and hash as their codes do.
        #[test]
        fn assets_order_as_their_codes(a in "[A-Z0-9]{1,20}", b in "[A-Z0-9]{1,20}") {
            let (x, y) = (Asset::new(&a).unwrap(), Asset::new(&b).unwrap());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
            prop_assert_eq!(x.as_str(), a.as_str());
            let hash = |h: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                h(&mut hasher);
                hasher.finish()
            };
            prop_assert_eq!(hash(&|s| x.hash(s)), hash(&|s| a.hash(s)));
            // Prefixes: "BTC" < "BTCB".
            let longer = format!("{a}0");
            if longer.len() <= 20 {
                prop_assert!(x < Asset::new(&longer).unwrap());
            }
        }
    }

    #[rstest]
    #[case("BTC/USDT", Some(("BTC", "USDT")))]
    #[case("BTCUSDT", None)]
    #[case("BTC/BTC", None)]
    #[case("BTC/", None)]
    #[case("/USDT", None)]
    #[case("BTC/USDT/X", None)]
    fn symbols(#[case] text: &str, #[case] expected: Option<(&str, &str)>) {
        let parsed = text.parse::<Symbol>().ok();
        let parts = parsed
            .as_ref()
            .map(|s| (s.base().as_str(), s.quote().as_str()));
        assert_eq!(parts, expected);
        if let Some(s) = parsed {
            assert_eq!(s.to_string(), text);
        }
    }
}
