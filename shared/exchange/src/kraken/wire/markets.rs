//! Kraken's names and market data: `Assets` (asset keys into driftline's codes), `AssetPairs`
//! (pairs, their names and filters) and `Depth` (one pair's book).
//!
//! Names: Kraken keys assets `XXBT`, `ZUSD`, `USDT` and gives each an altname (`XBT`, `USD`);
//! driftline's asset is the altname, with Kraken's `XBT` and `XDG` read as `BTC` and `DOGE`.
//! Balances and pairs name assets by key, so both go through `Assets`.

use std::collections::BTreeMap;

use driftline_core::{
    Asset, Level, MarketFilters, MarketFiltersFields, OrderBook, Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::result;
use crate::decode::{decimal, price, WireError};

/// Kraken's altnames that driftline spells otherwise.
const RENAMED: [(&str, &str); 2] = [("XBT", "BTC"), ("XDG", "DOGE")];

/// driftline's asset for a Kraken altname; `None` for one driftline cannot hold (an earn or
/// staking wallet such as `ETH2.S`).
pub fn asset_of_altname(altname: &str) -> Option<Asset> {
    let code = RENAMED
        .iter()
        .find(|(kraken, _)| *kraken == altname)
        .map_or(altname, |(_, ours)| ours);
    Asset::new(code).ok()
}

// GET /0/public/Assets

#[derive(Deserialize)]
struct AssetWire {
    altname: String,
}

/// Every asset driftline can hold, by Kraken's key (`XXBT` → `BTC`). Assets whose altname is
/// not a driftline asset code (earn and staking wallets) are left out.
///
/// # Errors
/// [`WireError`] when the body is not `Assets`.
pub fn parse_assets(body: &[u8]) -> Result<BTreeMap<String, Asset>, WireError> {
    let assets: BTreeMap<String, AssetWire> = result(body)?;
    Ok(assets
        .into_iter()
        .filter_map(|(key, a)| asset_of_altname(&a.altname).map(|asset| (key, asset)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/AssetPairs

#[derive(Deserialize)]
struct PairNamesWire {
    altname: String,
    #[serde(default)]
    wsname: Option<String>,
    base: String,
    quote: String,
}

/// One market of `AssetPairs`: Kraken's names for it, driftline's symbol, and its rules (or
/// why they could not be read, so one odd pair does not hide the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrakenMarket {
    /// The pair's key (`XXBTZUSD`, `XBTUSDT`): what answers are keyed by.
    pub key: String,
    /// `XBTUSD`: what an order's `descr.pair` says.
    pub altname: String,
    pub wsname: Option<String>,
    pub symbol: Symbol,
    pub filters: Result<MarketFilters, WireError>,
}

impl KrakenMarket {
    /// Whether Kraken's `name` (key, altname or wsname) is this pair.
    pub fn answers_to(&self, name: &str) -> bool {
        name == self.key || name == self.altname || self.wsname.as_deref() == Some(name)
    }
}

/// The markets of `AssetPairs` whose assets `assets` (from [`parse_assets`]) names. Pairs keyed
/// with a dot (the retired dark-pool `.d` pairs) and pairs of an asset driftline cannot hold
/// are left out; of two pairs of one symbol the first by key is kept.
///
/// # Errors
/// [`WireError`] when the body is not `AssetPairs`.
pub fn parse_asset_pairs(
    body: &[u8],
    assets: &BTreeMap<String, Asset>,
) -> Result<Vec<KrakenMarket>, WireError> {
    let pairs: BTreeMap<String, Value> = result(body)?;
    let mut markets: Vec<KrakenMarket> = Vec::new();
    for (key, raw) in pairs {
        if key.contains('.') {
            continue;
        }
        let Ok(names) = serde_json::from_value::<PairNamesWire>(raw.clone()) else {
            continue;
        };
        let (Some(base), Some(quote)) = (assets.get(&names.base), assets.get(&names.quote)) else {
            continue;
        };
        let Ok(symbol) = Symbol::new(base.clone(), quote.clone()) else {
            continue;
        };
        if markets.iter().any(|m| m.symbol == symbol) {
            continue;
        }
        let filters = pair_filters(&key, &symbol, &raw);
        markets.push(KrakenMarket {
            key,
            altname: names.altname,
            wsname: names.wsname,
            symbol,
            filters,
        });
    }
    Ok(markets)
}

/// Kraken's pair status as a trading status: `online` trades, and so does `limit_only`
/// (driftline places limit orders only); `post_only` refuses orders that take (a break); the
/// rest refuse new orders.
fn pair_status(status: &str) -> Option<TradingStatus> {
    Some(match status {
        "online" | "limit_only" => TradingStatus::Trading,
        "post_only" => TradingStatus::Break,
        "cancel_only" | "reduce_only" | "delisted" | "maintenance" | "work_in_progress" => {
            TradingStatus::Halt
        }
        _ => return None,
    })
}

fn pair_filters(key: &str, symbol: &Symbol, raw: &Value) -> Result<MarketFilters, WireError> {
    let at = |field: &str| format!("result.{key}.{field}");
    let text = |field: &str| -> Result<Option<Decimal>, WireError> {
        match raw.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => decimal(&at(field), s).map(Some),
            Some(other) => Err(WireError::new(
                at(field),
                format!("{other} is not a string"),
            )),
        }
    };
    let places = |field: &str| -> Result<u32, WireError> {
        raw.get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= 28)
            .ok_or_else(|| WireError::new(at(field), "missing or not a number of places 0..=28"))
    };
    // A tenth to the power of a number of places.
    let step_of = |places: u32| Decimal::new(1, places);
    let tick_size = match text("tick_size")? {
        Some(tick) => tick,
        None => step_of(places("pair_decimals")?),
    };
    let status_text = raw
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("online");
    let status = pair_status(status_text)
        .ok_or_else(|| WireError::new(at("status"), format!("unknown status {status_text:?}")))?;
    MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size,
        step_size: step_of(places("lot_decimals")?),
        min_qty: text("ordermin")?.unwrap_or(Decimal::ZERO),
        max_qty: None,
        min_notional: text("costmin")?.unwrap_or(Decimal::ZERO),
        status,
    })
    .map_err(|e| WireError::new(at("filters"), e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /0/public/Depth

#[derive(Deserialize)]
struct DepthWire {
    asks: Vec<(String, String, IgnoredAny)>,
    bids: Vec<(String, String, IgnoredAny)>,
}

/// The top `max_levels` of each side of a `Depth` answer for `symbol`.
///
/// # Errors
/// [`WireError`] when the answer holds no one book, a level is unreadable, or the book is
/// invalid (crossed, unordered).
pub fn parse_depth(
    body: &[u8],
    symbol: &Symbol,
    max_levels: usize,
) -> Result<OrderBook, WireError> {
    let books: BTreeMap<String, DepthWire> = result(body)?;
    if books.len() != 1 {
        return Err(WireError::new(
            "result",
            format!("{} books, expected one", books.len()),
        ));
    }
    let Some((key, book)) = books.into_iter().next() else {
        return Err(WireError::new("result", "no book"));
    };
    let levels =
        |side: &str, raw: &[(String, String, IgnoredAny)]| -> Result<Vec<Level>, WireError> {
            raw.iter()
                .take(max_levels)
                .enumerate()
                .map(|(i, (p, q, _))| {
                    Ok(Level {
                        price: price(&format!("result.{key}.{side}[{i}][0]"), p)?,
                        quantity: decimal(&format!("result.{key}.{side}[{i}][1]"), q)?.normalize(),
                    })
                })
                .collect()
        };
    let bids = levels("bids", &book.bids)?;
    let asks = levels("asks", &book.asks)?;
    OrderBook::new(symbol.clone(), bids, asks).map_err(|e| WireError::new("result", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraken::wire::tests::{asset, ASSETS};
    use rust_decimal_macros::dec;

    #[test]
    fn assets_read_as_driftline_codes() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let want: BTreeMap<String, Asset> = [
            ("USDT", "USDT"),
            ("XXBT", "BTC"),
            ("XXDG", "DOGE"),
            ("ZUSD", "USD"),
        ]
        .into_iter()
        .map(|(k, a)| (k.to_owned(), asset(a)))
        .collect();
        assert_eq!(assets, want);
    }

    #[test]
    fn pairs_map_both_ways_with_their_filters() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let body = r#"{"error":[],"result":{
            "XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD","pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","costmin":"0.5","tick_size":"0.1","status":"online"},
            "XXBTZUSD.d":{"altname":"XBTUSD.d","base":"XXBT","quote":"ZUSD","pair_decimals":1,"lot_decimals":8},
            "XBTUSDT":{"altname":"XBTUSDT","wsname":"XBT/USDT","base":"XXBT","quote":"USDT","pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","status":"cancel_only"},
            "ETHUSDT":{"altname":"ETHUSDT","base":"XETH","quote":"USDT","pair_decimals":2,"lot_decimals":8},
            "XDGUSD":{"altname":"XDGUSD","base":"XXDG","quote":"ZUSD","pair_decimals":7,"lot_decimals":"x"}
        }}"#;
        let markets = parse_asset_pairs(body.as_bytes(), &assets).unwrap();
        let keys: Vec<&str> = markets.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(
            keys,
            ["XBTUSDT", "XDGUSD", "XXBTZUSD"],
            "no .d pair, no unknown asset"
        );
        let btc_usd = &markets[2];
        assert_eq!(btc_usd.symbol.to_string(), "BTC/USD");
        assert!(btc_usd.answers_to("XBT/USD") && btc_usd.answers_to("XBTUSD"));
        let f = btc_usd.filters.as_ref().unwrap();
        assert_eq!(
            (
                f.tick_size(),
                f.step_size(),
                f.min_qty(),
                f.min_notional(),
                f.max_qty()
            ),
            (dec!(0.1), dec!(0.00000001), dec!(0.0001), dec!(0.5), None)
        );
        assert!(f.status().is_trading());
        // No tick_size: the pair's decimals; no costmin: no minimum; cancel_only: halted.
        let btc_usdt = markets[0].filters.as_ref().unwrap();
        assert_eq!(
            (btc_usdt.tick_size(), btc_usdt.min_notional()),
            (dec!(0.1), dec!(0))
        );
        assert_eq!(btc_usdt.status(), &TradingStatus::Halt);
        // An unreadable filter is kept with its error.
        let err = markets[1].filters.as_ref().unwrap_err();
        assert_eq!(err.field, "result.XDGUSD.lot_decimals");
    }
}
