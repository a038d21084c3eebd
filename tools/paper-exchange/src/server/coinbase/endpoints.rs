//! Coinbase's endpoints as this venue serves them: each method and path (the `market/...`
//! public twins of the product endpoints included), the name the request log shows, and the
//! function that answers each.

use axum::http::Method;
use serde_json::Value;

use super::{accounts, orders, products, Call, CbError};
use crate::engine::Engine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    Time,
    Products,
    Product(String),
    ProductBook,
    BestBidAsk,
    Accounts,
    Account(String),
    CreateOrder,
    GetOrder(String),
    ListOrders,
    ListFills,
    BatchCancel,
    TransactionSummary,
}

impl Endpoint {
    /// The endpoint of a method and path (after `/api/v3/brokerage/`); `market/...` are the
    /// public twins of the product endpoints.
    pub(super) fn route(method: &Method, path: &str) -> Option<(Self, bool)> {
        let (public, path) = match path.strip_prefix("market/") {
            Some(rest) => (true, rest),
            None => (false, path),
        };
        let segments: Vec<&str> = path.split('/').collect();
        let endpoint = match (method.as_str(), segments.as_slice()) {
            ("GET", ["time"]) if !public => return Some((Self::Time, true)),
            ("GET", ["products"]) => Self::Products,
            ("GET", ["products", id]) if !id.is_empty() => Self::Product((*id).to_owned()),
            ("GET", ["product_book"]) => Self::ProductBook,
            _ if public => return None,
            ("GET", ["best_bid_ask"]) => Self::BestBidAsk,
            ("GET", ["accounts"]) => Self::Accounts,
            ("GET", ["accounts", id]) if !id.is_empty() => Self::Account((*id).to_owned()),
            ("POST", ["orders"]) => Self::CreateOrder,
            ("GET", ["orders", "historical", "batch"]) => Self::ListOrders,
            ("GET", ["orders", "historical", "fills"]) => Self::ListFills,
            ("GET", ["orders", "historical", id]) if !id.is_empty() => {
                Self::GetOrder((*id).to_owned())
            }
            ("POST", ["orders", "batch_cancel"]) => Self::BatchCancel,
            ("GET", ["transaction_summary"]) => Self::TransactionSummary,
            _ => return None,
        };
        Some((endpoint, public))
    }

    /// The name the request log shows.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::Time => "Time",
            Self::Products => "Products",
            Self::Product(_) => "Product",
            Self::ProductBook => "ProductBook",
            Self::BestBidAsk => "BestBidAsk",
            Self::Accounts => "Accounts",
            Self::Account(_) => "Account",
            Self::CreateOrder => "CreateOrder",
            Self::GetOrder(_) => "GetOrder",
            Self::ListOrders => "ListOrders",
            Self::ListFills => "ListFills",
            Self::BatchCancel => "BatchCancel",
            Self::TransactionSummary => "TransactionSummary",
        }
    }
}

pub(super) fn handle(
    engine: &mut Engine,
    endpoint: &Endpoint,
    c: &Call<'_>,
) -> Result<Value, CbError> {
    match endpoint {
        Endpoint::Time => Ok(products::time(c.now)),
        Endpoint::Products => products::products(engine, c),
        Endpoint::Product(id) => products::product(engine, id),
        Endpoint::ProductBook => products::product_book(engine, c),
        Endpoint::BestBidAsk => products::best_bid_ask(engine, c),
        Endpoint::Accounts => accounts::accounts(engine, c),
        Endpoint::Account(id) => accounts::account(engine, c, id),
        Endpoint::CreateOrder => orders::create_order(engine, c),
        Endpoint::GetOrder(id) => orders::get_order(engine, c, id),
        Endpoint::ListOrders => orders::list_orders(engine, c),
        Endpoint::ListFills => orders::list_fills(engine, c),
        Endpoint::BatchCancel => orders::batch_cancel(engine, c),
        Endpoint::TransactionSummary => Ok(accounts::transaction_summary(engine, c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_private_and_public_endpoints() {
        let get = Method::GET;
        assert_eq!(Endpoint::route(&get, "time"), Some((Endpoint::Time, true)));
        assert_eq!(
            Endpoint::route(&get, "market/products/BTC-USDT"),
            Some((Endpoint::Product("BTC-USDT".into()), true))
        );
        assert_eq!(
            Endpoint::route(&get, "orders/historical/batch"),
            Some((Endpoint::ListOrders, false))
        );
        assert_eq!(Endpoint::route(&get, "market/accounts"), None);
        assert_eq!(Endpoint::route(&Method::POST, "products"), None);
    }
}
