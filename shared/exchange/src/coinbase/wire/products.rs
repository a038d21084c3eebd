//! The market data Coinbase lists: the product list (names, increments, minimums, status) into
//! market filters, and one product's book.

use driftline_core::{
    Asset, Level, MarketFilters, MarketFiltersFields, OrderBook, Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::decimal_or_zero;
use crate::decode::{decimal, from_json, price, WireError};

// GET /api/v3/brokerage/market/products

#[derive(Deserialize)]
struct ProductsWire {
    products: Vec<Value>,
}

#[derive(Deserialize)]
struct ProductWire {
    product_id: String,
    base_currency_id: String,
    quote_currency_id: String,
    #[serde(default)]
    product_type: Option<String>,
}

#[derive(Deserialize)]
struct ProductRulesWire {
    base_increment: String,
    #[serde(default)]
    price_increment: Option<String>,
    #[serde(default)]
    quote_increment: Option<String>,
    base_min_size: String,
    #[serde(default)]
    base_max_size: Option<String>,
    #[serde(default)]
    quote_min_size: Option<String>,
    status: String,
    #[serde(default)]
    trading_disabled: bool,
    #[serde(default)]
    is_disabled: bool,
    #[serde(default)]
    cancel_only: bool,
    #[serde(default)]
    post_only: bool,
    #[serde(default)]
    auction_mode: bool,
}

/// One product: Coinbase's id, the canonical symbol, and its rules (or why they could not be
/// read, so one odd product does not hide the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: String,
    pub symbol: Symbol,
    pub filters: Result<MarketFilters, WireError>,
}

/// The spot products of a product list. Products whose currencies are not valid asset codes,
/// or that are not spot, are left out (nothing can ask for them); products whose rules cannot
/// be read are kept with the error.
///
/// # Errors
/// [`WireError`] when the body is not a product list.
pub fn parse_products(body: &[u8]) -> Result<Vec<Product>, WireError> {
    let list: ProductsWire = from_json(body)?;
    Ok(list
        .products
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let p: ProductWire = serde_json::from_value(raw.clone()).ok()?;
            if p.product_type.as_deref().is_some_and(|t| t != "SPOT") {
                return None;
            }
            let base = Asset::new(&p.base_currency_id).ok()?;
            let quote = Asset::new(&p.quote_currency_id).ok()?;
            let symbol = Symbol::new(base, quote).ok()?;
            let filters = product_filters(&symbol, &format!("products[{i}]"), raw);
            Some(Product {
                product_id: p.product_id,
                symbol,
                filters,
            })
        })
        .collect())
}

fn product_filters(symbol: &Symbol, at: &str, raw: Value) -> Result<MarketFilters, WireError> {
    let f = |name: &str| format!("{at}.{name}");
    let r: ProductRulesWire =
        serde_json::from_value(raw).map_err(|e| WireError::new(at, e.to_string()))?;
    let tick = match (&r.price_increment, &r.quote_increment) {
        (Some(p), _) if !p.trim().is_empty() => decimal(&f("price_increment"), p)?,
        (_, Some(q)) => decimal(&f("quote_increment"), q)?,
        _ => return Err(WireError::new(f("price_increment"), "missing")),
    };
    let max_qty = decimal_or_zero(&f("base_max_size"), r.base_max_size.as_deref())?;
    // Trading in full only when online and nothing restricts it; a product that only cancels
    // or only takes post-only orders cannot take driftline's orders as they are.
    let status = if r.status != "online" || r.trading_disabled || r.is_disabled {
        TradingStatus::Halt
    } else if r.cancel_only || r.post_only {
        TradingStatus::Break
    } else if r.auction_mode {
        TradingStatus::AuctionMatch
    } else {
        TradingStatus::Trading
    };
    MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: tick,
        step_size: decimal(&f("base_increment"), &r.base_increment)?,
        min_qty: decimal(&f("base_min_size"), &r.base_min_size)?,
        // An empty or zero maximum means none.
        max_qty: (max_qty > Decimal::ZERO).then_some(max_qty),
        min_notional: decimal_or_zero(&f("quote_min_size"), r.quote_min_size.as_deref())?,
        status,
    })
    .map_err(|e| WireError::new(at, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// GET /api/v3/brokerage/market/product_book

#[derive(Deserialize)]
struct BookWire {
    pricebook: PricebookWire,
}

#[derive(Deserialize)]
struct PricebookWire {
    product_id: String,
    bids: Vec<LevelWire>,
    asks: Vec<LevelWire>,
}

#[derive(Deserialize)]
struct LevelWire {
    price: String,
    size: String,
}

/// The top `max_levels` of each side of `product_id`'s book.
///
/// # Errors
/// [`WireError`] when a level is unreadable, the book is for another product, or it is invalid
/// (crossed, unordered).
pub fn parse_product_book(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
    max_levels: usize,
) -> Result<OrderBook, WireError> {
    let mut book: BookWire = from_json(body)?;
    if book.pricebook.product_id != product_id {
        return Err(WireError::new(
            "pricebook.product_id",
            format!(
                "{:?} is not the product asked for, {product_id:?}",
                book.pricebook.product_id
            ),
        ));
    }
    book.pricebook.bids.truncate(max_levels);
    book.pricebook.asks.truncate(max_levels);
    let levels = |side: &str, raw: &[LevelWire]| -> Result<Vec<Level>, WireError> {
        raw.iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(Level {
                    price: price(&format!("pricebook.{side}[{i}].price"), &l.price)?,
                    quantity: decimal(&format!("pricebook.{side}[{i}].size"), &l.size)?,
                })
            })
            .collect()
    };
    let bids = levels("bids", &book.pricebook.bids)?;
    let asks = levels("asks", &book.pricebook.asks)?;
    OrderBook::new(symbol.clone(), bids, asks)
        .map_err(|e| WireError::new("pricebook", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn products_keep_their_rules_or_their_error() {
        let body = br#"{"products":[
            {"product_id":"BTC-USDT","base_currency_id":"BTC","quote_currency_id":"USDT","product_type":"SPOT","base_increment":"0.00000001","quote_increment":"0.01","price_increment":"0.01","base_min_size":"0.00000001","base_max_size":"3400","quote_min_size":"1","status":"online","trading_disabled":false,"cancel_only":false,"post_only":false},
            {"product_id":"ETH-USDT","base_currency_id":"ETH","quote_currency_id":"USDT","base_increment":"oops","price_increment":"0.01","base_min_size":"0.0001","status":"online"},
            {"product_id":"SOL-USDT","base_currency_id":"SOL","quote_currency_id":"USDT","base_increment":"0.001","price_increment":"0.01","base_min_size":"0.001","base_max_size":"","status":"delisted","trading_disabled":true},
            {"product_id":"BIT-PERP","base_currency_id":"BIT","quote_currency_id":"USD","product_type":"FUTURE","base_increment":"1","price_increment":"1","base_min_size":"1","status":"online"},
            {"product_id":"weird","base_currency_id":"bad code!","quote_currency_id":"USD"}
        ]}"#;
        let products = parse_products(body).unwrap();
        assert_eq!(products.len(), 3);
        let btc = products[0].filters.as_ref().unwrap();
        assert_eq!(
            (
                btc.tick_size(),
                btc.step_size(),
                btc.min_qty(),
                btc.max_qty(),
                btc.min_notional()
            ),
            (
                dec!(0.01),
                dec!(0.00000001),
                dec!(0.00000001),
                Some(dec!(3400)),
                dec!(1)
            )
        );
        assert_eq!(btc.status(), &TradingStatus::Trading);
        assert_eq!(
            products[1].filters.as_ref().unwrap_err().field,
            "products[1].base_increment"
        );
        let sol = products[2].filters.as_ref().unwrap();
        assert_eq!(
            (sol.status(), sol.max_qty(), sol.min_notional()),
            (&TradingStatus::Halt, None, dec!(0))
        );
    }
}
