//! Binance's endpoints as this venue serves them: which method and path each is, whether it
//! is signed, what it weighs (as Binance documents each weight), and the function that answers
//! it.

use axum::http::Method;

use super::{account, book, market_data, trading, Handler};
use crate::params::Params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Depth,
    TickerPrice,
    BookTicker,
    Ticker24hr,
    TickerRolling,
    TickerTradingDay,
    AvgPrice,
    Trades,
    HistoricalTrades,
    AggTrades,
    Klines,
    UiKlines,
    Account,
    Commission,
    AllOrders,
    NewOrder,
    TestOrder,
    QueryOrder,
    CancelOrder,
    OpenOrders,
    CancelOpenOrders,
    MyTrades,
}

impl Endpoint {
    pub(super) fn route(method: &Method, path: &str) -> Option<Self> {
        Some(match (method.as_str(), path) {
            ("GET", "ping") => Self::Ping,
            ("GET", "time") => Self::Time,
            ("GET", "exchangeInfo") => Self::ExchangeInfo,
            ("GET", "depth") => Self::Depth,
            ("GET", "ticker/price") => Self::TickerPrice,
            ("GET", "ticker/bookTicker") => Self::BookTicker,
            ("GET", "ticker/24hr") => Self::Ticker24hr,
            ("GET", "ticker") => Self::TickerRolling,
            ("GET", "ticker/tradingDay") => Self::TickerTradingDay,
            ("GET", "avgPrice") => Self::AvgPrice,
            ("GET", "trades") => Self::Trades,
            ("GET", "historicalTrades") => Self::HistoricalTrades,
            ("GET", "aggTrades") => Self::AggTrades,
            ("GET", "klines") => Self::Klines,
            ("GET", "uiKlines") => Self::UiKlines,
            ("GET", "account") => Self::Account,
            ("GET", "account/commission") => Self::Commission,
            ("GET", "allOrders") => Self::AllOrders,
            ("POST", "order") => Self::NewOrder,
            ("POST", "order/test") => Self::TestOrder,
            ("GET", "order") => Self::QueryOrder,
            ("DELETE", "order") => Self::CancelOrder,
            ("GET", "openOrders") => Self::OpenOrders,
            ("DELETE", "openOrders") => Self::CancelOpenOrders,
            ("GET", "myTrades") => Self::MyTrades,
            _ => return None,
        })
    }

    pub(super) fn signed(self) -> bool {
        matches!(
            self,
            Self::Account
                | Self::Commission
                | Self::AllOrders
                | Self::NewOrder
                | Self::TestOrder
                | Self::QueryOrder
                | Self::CancelOrder
                | Self::OpenOrders
                | Self::CancelOpenOrders
                | Self::MyTrades
        )
    }

    /// Request weight as the venue documents it.
    pub(super) fn weight(self, p: &Params) -> u32 {
        let one_or_all = |one, all| if p.get("symbol").is_some() { one } else { all };
        // Symbols named by `symbol` or `symbols` (0: neither, or a list that does not parse).
        let named = if p.get("symbol").is_some() {
            1
        } else {
            p.symbol_list("symbols")
                .ok()
                .flatten()
                .map_or(0, |l| l.len())
        };
        match self {
            Self::Ping
            | Self::Time
            | Self::NewOrder
            | Self::TestOrder
            | Self::CancelOrder
            | Self::CancelOpenOrders => 1,
            // The venue charges less for one order's trades than for the whole list.
            Self::MyTrades if p.get("orderId").is_some() => 5,
            Self::MyTrades => 20,
            Self::ExchangeInfo | Self::Account | Self::Commission | Self::AllOrders => 20,
            Self::Ticker24hr => match named {
                0 | 101.. => 80,
                1..=20 => 2,
                21..=100 => 40,
            },
            // 4 a symbol, capped at 200 past 50 symbols.
            Self::TickerRolling | Self::TickerTradingDay => match u32::try_from(named) {
                Ok(n @ 1..=50) => 4 * n,
                _ => 200,
            },
            Self::AvgPrice | Self::Klines | Self::UiKlines => 2,
            Self::Trades | Self::HistoricalTrades => 25,
            Self::AggTrades => 4,
            Self::Depth => match p.integer::<u32>("limit").ok().flatten().unwrap_or(100) {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Self::TickerPrice | Self::BookTicker => one_or_all(2, 4),
            Self::QueryOrder => 4,
            Self::OpenOrders => one_or_all(6, 80),
        }
    }

    pub(super) fn handler(self) -> Handler {
        match self {
            Self::Ping => book::ping,
            Self::Time => book::time,
            Self::ExchangeInfo => book::exchange_info,
            Self::Depth => book::depth,
            Self::TickerPrice => book::ticker_price,
            Self::BookTicker => book::book_ticker,
            Self::Ticker24hr => market_data::ticker_24hr,
            Self::TickerRolling => market_data::ticker_rolling,
            Self::TickerTradingDay => market_data::ticker_trading_day,
            Self::AvgPrice => market_data::avg_price,
            Self::Trades => market_data::recent_trades,
            Self::HistoricalTrades => market_data::historical_trades,
            Self::AggTrades => market_data::agg_trades,
            Self::Klines | Self::UiKlines => market_data::klines,
            Self::Account => account::account,
            Self::Commission => account::commission,
            Self::AllOrders => account::all_orders,
            Self::NewOrder => trading::new_order,
            Self::TestOrder => trading::test_order,
            Self::QueryOrder => account::query_order,
            Self::CancelOrder => trading::cancel_order,
            Self::CancelOpenOrders => trading::cancel_open_orders,
            Self::MyTrades => account::my_trades,
            Self::OpenOrders => account::open_orders,
        }
    }
}
