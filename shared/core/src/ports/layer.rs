//! A layer around an exchange: a wrapper that sees every call of the client it wraps (the shared
//! breaker, re-keying after a refusal, counting and logging in the sandbox) and forwards it.
//! Each layer says what it does around one call; [`Layered`] makes it an [`Exchange`], so the
//! port's methods are forwarded in this one place.

use async_trait::async_trait;

use super::{
    Balance, Exchange, ExchangeError, ExchangeOrderId, Fill, LimitOrderRequest, OrderReport, Venue,
};
use crate::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};

/// One call of the [`Exchange`] port, with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum ExchangeCall<'a> {
    MarketFilters(&'a Symbol),
    OrderBook(&'a Symbol, u16),
    Balances,
    PlaceLimitOrder(&'a LimitOrderRequest),
    Order(&'a Symbol, &'a ClientOrderId),
    OrderFills(&'a Symbol, &'a ExchangeOrderId),
    OpenOrders(&'a Symbol),
    CancelOrder(&'a Symbol, &'a ClientOrderId),
    ServerTime,
}

/// What a call of the [`Exchange`] port answers.
#[derive(Debug, Clone)]
pub enum ExchangeAnswer {
    MarketFilters(MarketFilters),
    OrderBook(OrderBook),
    Balances(Vec<Balance>),
    Report(OrderReport),
    Fills(Vec<Fill>),
    Reports(Vec<OrderReport>),
    ServerTime(EpochMillis),
}

impl ExchangeCall<'_> {
    /// The port method's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MarketFilters(_) => "market_filters",
            Self::OrderBook(..) => "order_book",
            Self::Balances => "balances",
            Self::PlaceLimitOrder(_) => "place_limit_order",
            Self::Order(..) => "order",
            Self::OrderFills(..) => "order_fills",
            Self::OpenOrders(_) => "open_orders",
            Self::CancelOrder(..) => "cancel_order",
            Self::ServerTime => "server_time",
        }
    }

    /// Makes this call on `exchange`.
    ///
    /// # Errors
    /// Whatever `exchange` answers.
    pub async fn send(self, exchange: &dyn Exchange) -> Result<ExchangeAnswer, ExchangeError> {
        Ok(match self {
            Self::MarketFilters(s) => {
                ExchangeAnswer::MarketFilters(exchange.market_filters(s).await?)
            }
            Self::OrderBook(s, depth) => {
                ExchangeAnswer::OrderBook(exchange.order_book(s, depth).await?)
            }
            Self::Balances => ExchangeAnswer::Balances(exchange.balances().await?),
            Self::PlaceLimitOrder(o) => {
                ExchangeAnswer::Report(exchange.place_limit_order(o).await?)
            }
            Self::Order(s, id) => ExchangeAnswer::Report(exchange.order(s, id).await?),
            Self::OrderFills(s, id) => ExchangeAnswer::Fills(exchange.order_fills(s, id).await?),
            Self::OpenOrders(s) => ExchangeAnswer::Reports(exchange.open_orders(s).await?),
            Self::CancelOrder(s, id) => ExchangeAnswer::Report(exchange.cancel_order(s, id).await?),
            Self::ServerTime => ExchangeAnswer::ServerTime(exchange.server_time().await?),
        })
    }
}

/// What a wrapper does around each call of the exchange it wraps. It forwards the call with
/// [`ExchangeCall::send`] (as often as it needs: re-keying sends it again with a new client).
#[async_trait]
pub trait ExchangeLayer: Send + Sync {
    /// The venue of the client it wraps.
    fn venue(&self) -> Venue;
    async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError>;
}

/// A layer, as an [`Exchange`].
pub struct Layered<L>(pub L);

/// The answer of another method: only a layer that answers for the wrong call gets here.
fn mismatch(call: &str, answer: &ExchangeAnswer) -> ExchangeError {
    ExchangeError::Malformed {
        reason: format!("an exchange layer answered {call} with {answer:?}"),
    }
}

macro_rules! answer {
    ($self:ident, $call:expr, $variant:ident) => {{
        let call = $call;
        let name = call.name();
        match $self.0.around(call).await? {
            ExchangeAnswer::$variant(a) => Ok(a),
            other => Err(mismatch(name, &other)),
        }
    }};
}

#[async_trait]
impl<L: ExchangeLayer> Exchange for Layered<L> {
    fn venue(&self) -> Venue {
        self.0.venue()
    }
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        answer!(self, ExchangeCall::MarketFilters(symbol), MarketFilters)
    }
    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        answer!(self, ExchangeCall::OrderBook(symbol, depth), OrderBook)
    }
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        answer!(self, ExchangeCall::Balances, Balances)
    }
    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        answer!(self, ExchangeCall::PlaceLimitOrder(order), Report)
    }
    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        answer!(self, ExchangeCall::Order(symbol, client_order_id), Report)
    }
    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError> {
        answer!(
            self,
            ExchangeCall::OrderFills(symbol, exchange_order_id),
            Fills
        )
    }
    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        answer!(self, ExchangeCall::OpenOrders(symbol), Reports)
    }
    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        answer!(
            self,
            ExchangeCall::CancelOrder(symbol, client_order_id),
            Report
        )
    }
    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        answer!(self, ExchangeCall::ServerTime, ServerTime)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the calls it sees and answers the server time for all of them.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);

    #[async_trait]
    impl ExchangeLayer for Recorder {
        fn venue(&self) -> Venue {
            Venue::Kraken
        }
        async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError> {
            self.0.lock().unwrap().push(call.name());
            Ok(ExchangeAnswer::ServerTime(42))
        }
    }

    #[tokio::test]
    async fn every_call_goes_through_the_layer_and_a_wrong_answer_is_an_error_not_a_panic() {
        let layered = Layered(Recorder::default());
        assert_eq!(layered.server_time().await.unwrap(), 42);
        let symbol: Symbol = "BTC/USDT".parse().unwrap();
        let err = layered.order_book(&symbol, 5).await.unwrap_err();
        assert!(
            matches!(&err, ExchangeError::Malformed { reason } if reason.contains("order_book")),
            "{err}"
        );
        assert_eq!(*layered.0 .0.lock().unwrap(), ["server_time", "order_book"]);
    }
}
