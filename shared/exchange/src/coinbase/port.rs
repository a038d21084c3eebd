//! [`CoinbaseAdvanced`] as the [`Exchange`] port: each method is an endpoint (or, for the
//! lookup by client order id, a scan of the account's order list), its parameters and the
//! parser of its answer.
//!
//! Exactly-once: a placement that times out or gets a 5xx is `StatusUnknown` and is never
//! resent here; the caller looks the order up by client order id, which only lists orders and
//! never places one. If the lookup misses an order that exists, the caller's next placement
//! with the same `client_order_id` still creates nothing: Coinbase answers a repeated id with
//! the order that has it.

use async_trait::async_trait;
use driftline_core::ports::{
    Balance, Exchange, ExchangeError, ExchangeOrderId, ExchangeOrderStatus, Fill,
    LimitOrderRequest, OrderReport, TimeInForce, Venue,
};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::request::Endpoint;
use super::wire::{self, Created};
use super::CoinbaseAdvanced;
use crate::classify::{unreadable, RequestKind};
use crate::signing::decimal_param;

/// Orders per page of the order list: Coinbase's default page.
const ORDER_PAGE: usize = 100;
/// Wallets per page: the most Coinbase's accounts list gives.
const ACCOUNT_PAGE: usize = 250;
/// Fills per page.
const FILL_PAGE: usize = 100;
/// The most pages one listing reads (5,000 orders or fills): past it the listing is refused
/// rather than a lookup answering "absent" without having looked everywhere.
const MAX_PAGES: usize = 50;

fn read_error(e: &wire::WireError) -> ExchangeError {
    unreadable(RequestKind::Read, e)
}

fn too_many_pages(what: &str) -> ExchangeError {
    ExchangeError::Rejected {
        message: format!(
            "{what}: more than {MAX_PAGES} pages; not read to the end, so not taken as absent"
        ),
    }
}

impl CoinbaseAdvanced {
    /// Pages through the account's orders of `product_id` (with `filters`) until `wanted`
    /// says yes to one: that order as sent, or `None` once the list is read to its end.
    async fn scan_orders(
        &self,
        product_id: &str,
        filters: &[(&'static str, String)],
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> Result<Option<Value>, ExchangeError> {
        let endpoint = Endpoint::read("orders/historical/batch");
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("product_ids", product_id.to_owned())];
            query.extend(filters.iter().cloned());
            query.push(("limit", ORDER_PAGE.to_string()));
            if let Some(c) = cursor.take() {
                query.push(("cursor", c));
            }
            let body = self.call(&endpoint, &query, None).await?;
            let page = wire::parse_order_page(&body).map_err(|e| read_error(&e))?;
            if let Some(found) = page.orders.into_iter().find(|o| wanted(o)) {
                return Ok(Some(found));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
        Err(too_many_pages("orders/historical/batch"))
    }

    /// The account's order on `product_id` placed with `client_order_id`, whatever its status.
    /// Coinbase's order list does not filter by client order id, so the list is read: first
    /// the orders of every status created within `order_lookup_window` (newest first), then,
    /// if not there, the open orders whatever their age (a resting order may be older than
    /// the window, and the status filter guards against a venue that lists open orders only
    /// when asked for them). Never places anything.
    async fn find_order(
        &self,
        product_id: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Value>, ExchangeError> {
        let is_it = |o: &Value| wire::client_order_id_of(o) == Some(client_order_id.as_str());
        let window_ms =
            i64::try_from(self.config.order_lookup_window.as_millis()).unwrap_or(i64::MAX);
        let since = self.clock.now_ms().saturating_sub(window_ms);
        let recent = [("start_date", wire::rfc3339(since))];
        if let Some(found) = self.scan_orders(product_id, &recent, is_it).await? {
            return Ok(Some(found));
        }
        let open = [("order_status", "OPEN".to_owned())];
        self.scan_orders(product_id, &open, is_it).await
    }

    /// One order by Coinbase's id.
    async fn order_by_id(
        &self,
        symbol: &Symbol,
        product_id: &str,
        order_id: &str,
    ) -> Result<OrderReport, ExchangeError> {
        // The id goes into the path (and the token's uri): only a UUID-like id is sent.
        if order_id.is_empty()
            || !order_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ExchangeError::Malformed {
                reason: format!("order id {order_id:?} is not a Coinbase order id"),
            });
        }
        let body = self
            .call(
                &Endpoint::read(format!("orders/historical/{order_id}")),
                &[],
                None,
            )
            .await?;
        wire::parse_order(&body, symbol, product_id).map_err(|e| read_error(&e))
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// The `order_configuration` of a limit order: GTC (post-only or not) or IOC.
fn order_configuration(order: &LimitOrderRequest) -> Value {
    let size = decimal_param(order.quantity);
    let price = decimal_param(order.price.value());
    match order.time_in_force {
        TimeInForce::Gtc | TimeInForce::PostOnly => json!({"limit_limit_gtc": {
            "base_size": size, "limit_price": price,
            "post_only": order.time_in_force == TimeInForce::PostOnly,
        }}),
        TimeInForce::Ioc => json!({"sor_limit_ioc": {"base_size": size, "limit_price": price}}),
    }
}

#[async_trait]
impl Exchange for CoinbaseAdvanced {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.product(symbol)
            .await?
            .filters
            .map_err(|e| ExchangeError::Malformed {
                reason: e.to_string(),
            })
    }

    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        let product = self.product(symbol).await?;
        let depth = depth.max(1);
        let body = self
            .call(
                &Endpoint::public("market/product_book"),
                &[
                    ("product_id", product.product_id.clone()),
                    ("limit", depth.to_string()),
                ],
                None,
            )
            .await?;
        wire::parse_product_book(&body, symbol, &product.product_id, usize::from(depth))
            .map_err(|e| read_error(&e))
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let endpoint = Endpoint::read("accounts");
        let mut wallets = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", ACCOUNT_PAGE.to_string())];
            if let Some(c) = cursor.take() {
                query.push(("cursor", c));
            }
            let body = self.call(&endpoint, &query, None).await?;
            let page = wire::parse_accounts(&body).map_err(|e| read_error(&e))?;
            wallets.extend(page.wallets);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return wire::balances(&wallets).map_err(|e| read_error(&e)),
            }
        }
        Err(too_many_pages("accounts"))
    }

    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        if order.quantity <= Decimal::ZERO {
            return Err(ExchangeError::Rejected {
                message: format!(
                    "quantity of {} must be greater than zero, got {}",
                    order.client_order_id, order.quantity
                ),
            });
        }
        let product = self.product(&order.symbol).await?;
        let body = json!({
            // driftline's id as it is: Coinbase takes any string.
            "client_order_id": order.client_order_id.as_str(),
            "product_id": product.product_id,
            "side": side_name(order.side),
            "order_configuration": order_configuration(order),
        });
        let answer = self
            .call(&Endpoint::mutation("orders"), &[], Some(&body))
            .await?;
        let created =
            wire::parse_create_order(&answer).map_err(|e| unreadable(RequestKind::Mutation, &e))?;
        let order_id = match created {
            Created::Refused { message } => return Err(ExchangeError::Rejected { message }),
            Created::Order {
                product_id: Some(other),
                order_id,
            } if other != product.product_id => {
                // The id already names an order on another product: Coinbase placed nothing.
                return Err(ExchangeError::Rejected {
                    message: format!(
                        "client_order_id {} already names order {order_id} on {other}",
                        order.client_order_id
                    ),
                });
            }
            Created::Order { order_id, .. } => order_id,
        };
        // The answer holds only the id: the order's state (an IOC may have filled) is read
        // back. If that read fails the order still stands; it is reported as just accepted,
        // and the caller's follow-up reads it again.
        match self
            .order_by_id(&order.symbol, &product.product_id, &order_id)
            .await
        {
            Ok(report) => Ok(report),
            Err(_) => Ok(OrderReport {
                symbol: order.symbol.clone(),
                exchange_order_id: ExchangeOrderId::new(order_id),
                client_order_id: order.client_order_id.clone(),
                side: order.side,
                price: order.price,
                orig_qty: order.quantity.normalize(),
                executed_qty: Decimal::ZERO,
                cumulative_quote_qty: Decimal::ZERO,
                status: ExchangeOrderStatus::New,
                fills: Vec::new(),
                updated_at_ms: self.clock.now_ms(),
            }),
        }
    }

    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let product = self.product(symbol).await?;
        match self
            .find_order(&product.product_id, client_order_id)
            .await?
        {
            Some(raw) => wire::parse_order_value(raw, symbol, &product.product_id)
                .map_err(|e| read_error(&e)),
            None => Err(ExchangeError::NotFound {
                message: format!(
                    "no order with client_order_id {client_order_id} on {}",
                    product.product_id
                ),
            }),
        }
    }

    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let product = self.product(symbol).await?;
        let endpoint = Endpoint::read("orders/historical/fills");
        let mut fills = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("order_ids", exchange_order_id.as_str().to_owned()),
                ("product_ids", product.product_id.clone()),
                ("limit", FILL_PAGE.to_string()),
            ];
            if let Some(c) = cursor.take() {
                query.push(("cursor", c));
            }
            let body = self.call(&endpoint, &query, None).await?;
            let page = wire::parse_fills(
                &body,
                symbol,
                &product.product_id,
                exchange_order_id.as_str(),
            )
            .map_err(|e| read_error(&e))?;
            fills.extend(page.fills);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(fills),
            }
        }
        Err(too_many_pages("orders/historical/fills"))
    }

    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        let product = self.product(symbol).await?;
        let open = [("order_status", "OPEN".to_owned())];
        let mut orders = Vec::new();
        let mut failed = None;
        // Every open order of the product, read whole as the scan passes it.
        self.scan_orders(&product.product_id, &open, |o| {
            match wire::parse_order_value(o.clone(), symbol, &product.product_id) {
                Ok(report) => orders.push(report),
                Err(e) => failed = Some(e),
            }
            failed.is_some()
        })
        .await?;
        match failed {
            Some(e) => Err(read_error(&e)),
            None => Ok(orders),
        }
    }

    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let product = self.product(symbol).await?;
        let pid = &product.product_id;
        let Some(raw) = self.find_order(pid, client_order_id).await? else {
            return Err(ExchangeError::NotFound {
                message: format!("no order with client_order_id {client_order_id} on {pid}"),
            });
        };
        let report = wire::parse_order_value(raw, symbol, pid).map_err(|e| read_error(&e))?;
        if report.status.is_final() {
            // Nothing to cancel: what the order came to.
            return Ok(report);
        }
        let order_id = report.exchange_order_id.as_str();
        let answer = self
            .call(
                &Endpoint::mutation("orders/batch_cancel"),
                &[],
                Some(&json!({"order_ids": [order_id]})),
            )
            .await?;
        let outcome = wire::parse_cancel(&answer, order_id)
            .map_err(|e| unreadable(RequestKind::Mutation, &e))?;
        let after = self.order_by_id(symbol, pid, order_id).await?;
        match outcome {
            Ok(()) => Ok(after),
            // Filled or cancelled meanwhile: what it came to.
            Err(_) if after.status.is_final() => Ok(after),
            Err(reason) => Err(ExchangeError::Rejected {
                message: format!("{reason}: order {order_id} was not cancelled"),
            }),
        }
    }

    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        let body = self.call(&Endpoint::public("time"), &[], None).await?;
        wire::parse_time(&body).map_err(|e| read_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftline_core::{Asset, Price};
    use rust_decimal_macros::dec;

    fn request(time_in_force: TimeInForce) -> LimitOrderRequest {
        LimitOrderRequest {
            client_order_id: ClientOrderId::parse("dl1-x").unwrap(),
            symbol: Symbol::new(Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap()).unwrap(),
            side: Side::Buy,
            quantity: dec!(0.00100),
            price: Price::new(dec!(64230.50)).unwrap(),
            time_in_force,
        }
    }

    #[test]
    fn each_time_in_force_has_its_configuration() {
        assert_eq!(
            order_configuration(&request(TimeInForce::Gtc)),
            json!({"limit_limit_gtc": {"base_size": "0.001", "limit_price": "64230.5", "post_only": false}})
        );
        assert_eq!(
            order_configuration(&request(TimeInForce::PostOnly)),
            json!({"limit_limit_gtc": {"base_size": "0.001", "limit_price": "64230.5", "post_only": true}})
        );
        assert_eq!(
            order_configuration(&request(TimeInForce::Ioc)),
            json!({"sor_limit_ioc": {"base_size": "0.001", "limit_price": "64230.5"}})
        );
    }
}
