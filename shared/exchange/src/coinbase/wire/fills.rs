//! An order's fills (`GET orders/historical/fills`, paged): price, base quantity and the
//! commission, which Coinbase states in the quote currency.

use driftline_core::ports::Fill;
use driftline_core::Symbol;
use serde::Deserialize;

use crate::decode::{decimal, from_json, price, WireError};

#[derive(Deserialize)]
struct FillsWire {
    fills: Vec<FillWire>,
    #[serde(default)]
    cursor: String,
}

#[derive(Deserialize)]
struct FillWire {
    order_id: String,
    product_id: String,
    price: String,
    size: String,
    commission: String,
    #[serde(default)]
    size_in_quote: bool,
}

/// One page of an order's fills, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillPage {
    pub fills: Vec<Fill>,
    pub next_cursor: Option<String>,
}

/// The fills of `order_id` on `symbol` (`product_id`). Coinbase states every commission in
/// the quote currency, so each fill's commission asset is the quote asset; a fill sized in
/// quote (`size_in_quote`) is turned into base at its price.
///
/// # Errors
/// [`WireError`] naming the index and field that is missing, unreadable, for another product
/// or for another order.
pub fn parse_fills(
    body: &[u8],
    symbol: &Symbol,
    product_id: &str,
    order_id: &str,
) -> Result<FillPage, WireError> {
    let page: FillsWire = from_json(body)?;
    let fills = page
        .fills
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let g = |name: &str| format!("fills[{i}].{name}");
            if w.product_id != product_id {
                return Err(WireError::new(
                    g("product_id"),
                    format!(
                        "{:?} is not the product asked for, {product_id:?}",
                        w.product_id
                    ),
                ));
            }
            if w.order_id != order_id {
                return Err(WireError::new(
                    g("order_id"),
                    format!("{:?} is not the order asked for, {order_id:?}", w.order_id),
                ));
            }
            let price = price(&g("price"), &w.price)?;
            let size = decimal(&g("size"), &w.size)?;
            let quantity = if w.size_in_quote {
                size.checked_div(price.value())
                    .ok_or_else(|| WireError::new(g("size"), "quote size not divisible by price"))?
            } else {
                size
            };
            Ok(Fill {
                price,
                quantity: quantity.normalize(),
                commission: decimal(&g("commission"), &w.commission)?.normalize(),
                commission_asset: symbol.quote().clone(),
            })
        })
        .collect::<Result<_, WireError>>()?;
    // The fills list has no has_next: a cursor means more.
    let next = (!page.cursor.is_empty()).then_some(page.cursor);
    Ok(FillPage {
        fills,
        next_cursor: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftline_core::Asset;
    use rust_decimal_macros::dec;

    fn btc_usdt() -> Symbol {
        Symbol::new(Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap()).unwrap()
    }

    #[test]
    fn fills_state_commission_in_quote_and_quote_sizes_in_base() {
        let body = br#"{"fills":[{"order_id":"o1","product_id":"BTC-USDT","price":"100","size":"0.3","commission":"0.06","size_in_quote":false},{"order_id":"o1","product_id":"BTC-USDT","price":"100","size":"25","commission":"0.05","size_in_quote":true}],"cursor":""}"#;
        let page = parse_fills(body, &btc_usdt(), "BTC-USDT", "o1").unwrap();
        assert_eq!(page.next_cursor, None);
        assert_eq!(
            page.fills
                .iter()
                .map(|f| (f.quantity, f.commission, f.commission_asset.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (dec!(0.3), dec!(0.06), "USDT"),
                (dec!(0.25), dec!(0.05), "USDT")
            ]
        );
        assert!(parse_fills(body, &btc_usdt(), "BTC-USDT", "o2").is_err());
    }
}
