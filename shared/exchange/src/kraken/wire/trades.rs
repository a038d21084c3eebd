//! An order's trades (`QueryTrades`) as its fills, oldest first, each fee in the quote
//! currency.

use std::collections::BTreeMap;

use driftline_core::ports::Fill;
use serde::Deserialize;
use serde_json::Number;

use super::{millis, result, KrakenMarket};
use crate::decode::{decimal, price, WireError};

#[derive(Deserialize)]
struct TradeWire {
    ordertxid: String,
    pair: String,
    time: Number,
    price: String,
    vol: String,
    fee: String,
}

/// The trades of order `txid` on `market` from a `QueryTrades` answer, oldest first: each a
/// fill at its price, its volume, and its `fee`, which Kraken states in the quote currency
/// (`quote`), the asset driftline asks fees to be taken in (`oflags=fciq`).
///
/// # Errors
/// [`WireError`] naming the trade and field that is unreadable, of another pair or of another
/// order.
pub fn parse_trades(
    body: &[u8],
    market: &KrakenMarket,
    txid: &str,
) -> Result<Vec<Fill>, WireError> {
    let trades: BTreeMap<String, TradeWire> = result(body)?;
    let mut fills = Vec::with_capacity(trades.len());
    for (id, t) in &trades {
        let f = |name: &str| format!("result.{id}.{name}");
        if t.ordertxid != txid {
            return Err(WireError::new(
                f("ordertxid"),
                format!("{} is not the order asked for, {txid}", t.ordertxid),
            ));
        }
        if !market.answers_to(&t.pair) {
            return Err(WireError::new(
                f("pair"),
                format!("{:?} is not the market asked for, {:?}", t.pair, market.key),
            ));
        }
        let fill = Fill {
            price: price(&f("price"), &t.price)?,
            quantity: decimal(&f("vol"), &t.vol)?.normalize(),
            commission: decimal(&f("fee"), &t.fee)?.normalize(),
            commission_asset: market.symbol.quote().clone(),
        };
        fills.push((millis(&f("time"), &t.time)?, id.clone(), fill));
    }
    fills.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(fills.into_iter().map(|(_, _, fill)| fill).collect())
}
