//! Kraken's names for what the config calls assets and markets, and Kraken-style ids for the
//! engine's orders and trades.
//!
//! Assets: Kraken calls bitcoin `XBT` (`BTC` in the config) and `DOGE` `XDG`; the assets Kraken
//! listed first have a four-letter key with an `X` (crypto) or `Z` (fiat) prefix (`XXBT`,
//! `XETH`, `ZUSD`, `ZEUR`), the rest are keyed by their own name (`USDT`, `SOL`). Pairs: keyed by
//! the two keys joined when both assets are classic (`XXBTZUSD`, `XETHXXBT`), else by the
//! altnames joined (`XBTUSDT`, `ETHUSDT`); the altname always joins the altnames (`XBTUSD`) and
//! the wsname puts a slash between them (`XBT/USD`).
//!
//! Ids: an order txid is `O` and 16 base32 letters in Kraken's 6-5-6 grouping
//! (`OQCLML-BW3P3-BUCMWZ`), a trade id the same with `T`. The 16 letters carry the engine's u64
//! id, scrambled by an invertible mix (so ids look unrelated, as Kraken's do) and 16 check bits
//! (so a mistyped id is refused as unknown rather than read as another order's).

use crate::engine::Engine;

/// Config asset names Kraken spells differently (config name, Kraken altname).
const ALTNAMES: [(&str, &str); 2] = [("BTC", "XBT"), ("DOGE", "XDG")];

/// Kraken altnames whose key carries the classic prefix (altname, key).
const CLASSIC_KEYS: [(&str, &str); 17] = [
    ("XBT", "XXBT"),
    ("ETH", "XETH"),
    ("LTC", "XLTC"),
    ("XRP", "XXRP"),
    ("XLM", "XXLM"),
    ("XMR", "XXMR"),
    ("ZEC", "XZEC"),
    ("ETC", "XETC"),
    ("XDG", "XXDG"),
    ("REP", "XREP"),
    ("MLN", "XMLN"),
    ("USD", "ZUSD"),
    ("EUR", "ZEUR"),
    ("GBP", "ZGBP"),
    ("JPY", "ZJPY"),
    ("CAD", "ZCAD"),
    ("AUD", "ZAUD"),
];

/// One asset's Kraken names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AssetNames {
    /// The key of balances and of `Assets` (`XXBT`, `USDT`).
    pub key: String,
    /// The short name (`XBT`, `USDT`).
    pub altname: String,
    classic: bool,
}

impl AssetNames {
    /// The Kraken names of a config asset (`BTC` gives `XXBT` / `XBT`).
    pub fn of(asset: &str) -> Self {
        let altname = ALTNAMES
            .iter()
            .find(|(config, _)| *config == asset)
            .map_or(asset, |(_, alt)| alt)
            .to_owned();
        let classic = CLASSIC_KEYS.iter().find(|(alt, _)| *alt == altname);
        Self {
            key: classic.map_or_else(|| altname.clone(), |(_, key)| (*key).to_owned()),
            altname,
            classic: classic.is_some(),
        }
    }

    /// Whether `requested` names this asset (by key or altname).
    pub fn answers_to(&self, requested: &str) -> bool {
        requested == self.key || requested == self.altname
    }
}

/// One market's Kraken names, with the config's symbol it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PairNames {
    /// The engine's market (`BTCUSDT`).
    pub symbol: String,
    pub key: String,
    pub altname: String,
    pub wsname: String,
    pub base: AssetNames,
    pub quote: AssetNames,
    /// The config's name of the quote asset (what the engine names commissions by).
    pub quote_asset: String,
}

impl PairNames {
    pub fn of(symbol: &str, base: &str, quote: &str) -> Self {
        let quote_asset = quote.to_owned();
        let (base, quote) = (AssetNames::of(base), AssetNames::of(quote));
        let altname = format!("{}{}", base.altname, quote.altname);
        let key = if base.classic && quote.classic {
            format!("{}{}", base.key, quote.key)
        } else {
            altname.clone()
        };
        Self {
            symbol: symbol.to_owned(),
            wsname: format!("{}/{}", base.altname, quote.altname),
            key,
            altname,
            base,
            quote,
            quote_asset,
        }
    }

    /// Whether `requested` names this pair: its key, altname or wsname, as Kraken accepts.
    pub fn answers_to(&self, requested: &str) -> bool {
        requested == self.key || requested == self.altname || requested == self.wsname
    }
}

/// Every market of the venue, in the engine's order.
pub(super) fn pairs(engine: &Engine) -> Vec<PairNames> {
    engine
        .markets()
        .map(|(name, f)| {
            PairNames::of(
                name,
                f.symbol().base().as_str(),
                f.symbol().quote().as_str(),
            )
        })
        .collect()
}

/// The market a client's pair name means.
pub(super) fn find_pair(engine: &Engine, requested: &str) -> Option<PairNames> {
    pairs(engine).into_iter().find(|p| p.answers_to(requested))
}

/// The pair names of an engine market.
pub(super) fn pair_of_symbol(engine: &Engine, symbol: &str) -> Option<PairNames> {
    pairs(engine).into_iter().find(|p| p.symbol == symbol)
}

/// What an id names: an order (`O...`) or a trade (`T...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    Order,
    Trade,
}

impl IdKind {
    fn prefix(self) -> char {
        match self {
            Self::Order => 'O',
            Self::Trade => 'T',
        }
    }

    fn salt(self) -> u64 {
        match self {
            Self::Order => 0x6f72_6465_7273_2121,
            Self::Trade => 0x7472_6164_6573_2121,
        }
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// An odd multiplier (invertible modulo 2^64) and its inverse.
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
const MIX_INVERSE: u64 = inverse(MIX);

/// The multiplicative inverse of an odd number modulo 2^64 (Newton's iteration).
const fn inverse(odd: u64) -> u64 {
    let mut x = odd;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(x)));
        i += 1;
    }
    x
}

fn mix(id: u64, salt: u64) -> u64 {
    let x = (id ^ salt).wrapping_mul(MIX);
    (x ^ (x >> 32)).wrapping_mul(MIX)
}

fn unmix(mixed: u64, salt: u64) -> u64 {
    let x = mixed.wrapping_mul(MIX_INVERSE);
    (x ^ (x >> 32)).wrapping_mul(MIX_INVERSE) ^ salt
}

fn check_bits(mixed: u64) -> u128 {
    u128::from(mixed.wrapping_mul(0xd6e8_feb8_6659_fd93) >> 48)
}

/// The Kraken id of an engine order or trade id (`OQCLML-BW3P3-BUCMWZ`).
pub(super) fn txid(kind: IdKind, id: u64) -> String {
    let mixed = mix(id, kind.salt());
    let bits = (u128::from(mixed) << 16) | check_bits(mixed);
    let letters: Vec<char> = (0..16)
        .rev()
        .map(|i| {
            let index = usize::try_from((bits >> (i * 5)) & 31).unwrap_or(0);
            BASE32.get(index).map_or('A', |b| char::from(*b))
        })
        .collect();
    let mut out = String::with_capacity(19);
    out.push(kind.prefix());
    for (i, c) in letters.into_iter().enumerate() {
        if i == 5 || i == 10 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// The engine id a Kraken id stands for; `None` for anything this venue did not issue.
pub(super) fn parse_txid(kind: IdKind, text: &str) -> Option<u64> {
    let rest = text.strip_prefix(kind.prefix())?;
    let groups: Vec<&str> = rest.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [5, 5, 6] {
        return None;
    }
    let mut bits: u128 = 0;
    for b in groups.concat().bytes() {
        let value = BASE32.iter().position(|c| *c == b)?;
        bits = (bits << 5) | u128::try_from(value).ok()?;
    }
    let mixed = u64::try_from(bits >> 16).ok()?;
    (bits & 0xffff == check_bits(mixed)).then(|| unmix(mixed, kind.salt()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTC", "XXBT", "XBT")]
    #[case("ETH", "XETH", "ETH")]
    #[case("USD", "ZUSD", "USD")]
    #[case("EUR", "ZEUR", "EUR")]
    #[case("DOGE", "XXDG", "XDG")]
    #[case("USDT", "USDT", "USDT")]
    #[case("SOL", "SOL", "SOL")]
    fn assets_take_krakens_names(#[case] asset: &str, #[case] key: &str, #[case] alt: &str) {
        let names = AssetNames::of(asset);
        assert_eq!((names.key.as_str(), names.altname.as_str()), (key, alt));
    }

    #[rstest]
    #[case("BTC", "USD", "XXBTZUSD", "XBTUSD", "XBT/USD")]
    #[case("ETH", "BTC", "XETHXXBT", "ETHXBT", "ETH/XBT")]
    #[case("BTC", "USDT", "XBTUSDT", "XBTUSDT", "XBT/USDT")]
    #[case("ETH", "USDT", "ETHUSDT", "ETHUSDT", "ETH/USDT")]
    #[case("SOL", "USD", "SOLUSD", "SOLUSD", "SOL/USD")]
    fn pairs_take_krakens_names(
        #[case] base: &str,
        #[case] quote: &str,
        #[case] key: &str,
        #[case] alt: &str,
        #[case] ws: &str,
    ) {
        let p = PairNames::of("X", base, quote);
        assert_eq!(
            (p.key.as_str(), p.altname.as_str(), p.wsname.as_str()),
            (key, alt, ws)
        );
        assert!(p.answers_to(key) && p.answers_to(alt) && p.answers_to(ws));
        assert!(!p.answers_to(&format!("{base}{quote}")) || base != "BTC");
    }

    #[test]
    fn ids_look_like_krakens_and_read_back() {
        for id in [0, 1, 2, 3, 1000, u64::MAX] {
            for kind in [IdKind::Order, IdKind::Trade] {
                let t = txid(kind, id);
                assert_eq!(t.len(), 19, "{t}");
                let groups: Vec<usize> = t.split('-').map(str::len).collect();
                assert_eq!(groups, [6, 5, 6], "{t}");
                assert!(t.starts_with(kind.prefix()), "{t}");
                assert_eq!(parse_txid(kind, &t), Some(id), "{t}");
            }
        }
        assert_ne!(txid(IdKind::Order, 1), txid(IdKind::Order, 2));
        assert_ne!(
            txid(IdKind::Order, 1)[1..],
            txid(IdKind::Trade, 1)[1..],
            "orders and trades do not share letters"
        );
    }

    #[test]
    fn ids_it_did_not_issue_are_not_read() {
        let t = txid(IdKind::Order, 7);
        let mut altered: Vec<char> = t.chars().collect();
        if let Some(c) = altered.get_mut(3) {
            *c = if *c == 'A' { 'B' } else { 'A' };
        }
        let altered: String = altered.into_iter().collect();
        assert_eq!(parse_txid(IdKind::Order, &altered), None);
        assert_eq!(parse_txid(IdKind::Trade, &t), None);
        assert_eq!(parse_txid(IdKind::Order, "OQCLML-BW3P3-BUCMW"), None);
        assert_eq!(parse_txid(IdKind::Order, "oqclml-bw3p3-bucmwz"), None);
        assert_eq!(parse_txid(IdKind::Order, ""), None);
    }
}
