//! [`BinanceSpot`] as the [`Exchange`] port: each method is an endpoint, its parameters and the
//! parser of its answer.

use async_trait::async_trait;
use driftline_core::ports::{
    Balance, Exchange, ExchangeError, ExchangeOrderId, Fill, LimitOrderRequest, OrderReport,
    TimeInForce, Venue,
};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};

use super::request::{
    depth_endpoint, Answer, Endpoint, ACCOUNT, CANCEL_ORDER, MAX_DEPTH, NEW_ORDER, OPEN_ORDERS,
    ORDER_TRADES, QUERY_ORDER, TIME,
};
use super::BinanceSpot;
use crate::classify::{unreadable, RequestKind};
use crate::signing::decimal_param;
use crate::wire;

impl BinanceSpot {
    /// A call about one market: its parameters built around the exchange's spelling of `symbol`,
    /// which is returned with the answer for the parser.
    async fn order_call(
        &self,
        endpoint: Endpoint,
        symbol: &Symbol,
        params: impl FnOnce(String) -> Vec<(&'static str, String)>,
    ) -> Result<(Answer, String), ExchangeError> {
        let name = self.exchange_symbol(symbol).await?;
        let answer = self.call(endpoint, &params(name.clone())).await?;
        Ok((answer, name))
    }
}

#[async_trait]
impl Exchange for BinanceSpot {
    fn venue(&self) -> Venue {
        Venue::Binance
    }
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.market(symbol)
            .await?
            .filters
            .map_err(|e| ExchangeError::Malformed {
                reason: e.to_string(),
            })
    }

    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        let limit = depth.clamp(1, MAX_DEPTH);
        let (answer, _) = self
            .order_call(depth_endpoint(limit), symbol, |name| {
                vec![("symbol", name), ("limit", limit.to_string())]
            })
            .await?;
        wire::parse_depth(&answer.body, symbol, usize::from(limit))
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let answer = self.call(ACCOUNT, &[]).await?;
        wire::parse_account(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        if order.quantity <= rust_decimal::Decimal::ZERO {
            return Err(ExchangeError::Rejected {
                message: format!(
                    "quantity of {} must be greater than zero, got {}",
                    order.client_order_id, order.quantity
                ),
            });
        }
        let (answer, name) = self
            .order_call(NEW_ORDER, &order.symbol, |name| {
                let mut p = vec![("symbol", name), ("side", order.side.as_str().to_owned())];
                match order.time_in_force {
                    TimeInForce::PostOnly => p.push(("type", "LIMIT_MAKER".to_owned())),
                    TimeInForce::Gtc | TimeInForce::Ioc => {
                        p.push(("type", "LIMIT".to_owned()));
                        let tif = if order.time_in_force == TimeInForce::Gtc {
                            "GTC"
                        } else {
                            "IOC"
                        };
                        p.push(("timeInForce", tif.to_owned()));
                    }
                }
                p.extend([
                    ("quantity", decimal_param(order.quantity)),
                    ("price", decimal_param(order.price.value())),
                    (
                        "newClientOrderId",
                        order.client_order_id.as_str().to_owned(),
                    ),
                    ("newOrderRespType", "FULL".to_owned()),
                ]);
                p
            })
            .await?;
        wire::parse_order(&answer.body, &order.symbol, &name)
            .map_err(|e| unreadable(RequestKind::Mutation, &e))
    }

    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let (answer, name) = self
            .order_call(QUERY_ORDER, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("origClientOrderId", client_order_id.as_str().to_owned()),
                ]
            })
            .await?;
        wire::parse_order(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError> {
        // Binance's order ids are numbers; another venue's id cannot be one of its orders.
        let number: u64 =
            exchange_order_id
                .as_str()
                .parse()
                .map_err(|_| ExchangeError::NotFound {
                    message: format!("{exchange_order_id} is not a Binance order id"),
                })?;
        let (answer, name) = self
            .order_call(ORDER_TRADES, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("orderId", number.to_string()),
                    // An order of driftline's is one of a few thousand fills at most.
                    ("limit", "1000".to_owned()),
                ]
            })
            .await?;
        wire::parse_trades(&answer.body, &name, number)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        let (answer, name) = self
            .order_call(OPEN_ORDERS, symbol, |name| vec![("symbol", name)])
            .await?;
        wire::parse_orders(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Read, &e))
    }

    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let (answer, name) = self
            .order_call(CANCEL_ORDER, symbol, |name| {
                vec![
                    ("symbol", name),
                    ("origClientOrderId", client_order_id.as_str().to_owned()),
                ]
            })
            .await?;
        wire::parse_order(&answer.body, symbol, &name)
            .map_err(|e| unreadable(RequestKind::Mutation, &e))
    }

    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        let answer = self.call(TIME, &[]).await?;
        wire::parse_server_time(&answer.body).map_err(|e| unreadable(RequestKind::Read, &e))
    }
}
