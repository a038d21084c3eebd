//! Kraken's methods as this venue serves them: which path each is and whether it is public or
//! private, what it adds to the call counter, and the function that answers it.

use axum::http::Method;

use super::{account_data, market_data, trading, Handler};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Time,
    SystemStatus,
    Assets,
    AssetPairs,
    Ticker,
    Depth,
    Trades,
    Balance,
    BalanceEx,
    AddOrder,
    QueryOrders,
    OpenOrders,
    ClosedOrders,
    CancelOrder,
    QueryTrades,
    TradesHistory,
    TradeVolume,
}

impl Endpoint {
    /// Public methods answer GET and POST, private ones POST only, as Kraken's do.
    pub(super) fn route(method: &Method, path: &str) -> Option<Self> {
        let public = matches!(method.as_str(), "GET" | "POST");
        let private = method == Method::POST;
        Some(match path {
            "public/Time" if public => Self::Time,
            "public/SystemStatus" if public => Self::SystemStatus,
            "public/Assets" if public => Self::Assets,
            "public/AssetPairs" if public => Self::AssetPairs,
            "public/Ticker" if public => Self::Ticker,
            "public/Depth" if public => Self::Depth,
            "public/Trades" if public => Self::Trades,
            "private/Balance" if private => Self::Balance,
            "private/BalanceEx" if private => Self::BalanceEx,
            "private/AddOrder" if private => Self::AddOrder,
            "private/QueryOrders" if private => Self::QueryOrders,
            "private/OpenOrders" if private => Self::OpenOrders,
            "private/ClosedOrders" if private => Self::ClosedOrders,
            "private/CancelOrder" if private => Self::CancelOrder,
            "private/QueryTrades" if private => Self::QueryTrades,
            "private/TradesHistory" if private => Self::TradesHistory,
            "private/TradeVolume" if private => Self::TradeVolume,
            _ => return None,
        })
    }

    pub(super) fn private(self) -> bool {
        !matches!(
            self,
            Self::Time
                | Self::SystemStatus
                | Self::Assets
                | Self::AssetPairs
                | Self::Ticker
                | Self::Depth
                | Self::Trades
        )
    }

    /// What the call adds to Kraken's call counter: trade history 2, everything else 1.
    /// Kraken meters AddOrder and CancelOrder on a separate per-pair trading counter; here they
    /// weigh 1 on the one limiter, which stands in for both.
    pub(super) fn weight(self) -> u32 {
        match self {
            Self::TradesHistory | Self::QueryTrades => 2,
            _ => 1,
        }
    }

    pub(super) fn handler(self) -> Handler {
        match self {
            Self::Time => market_data::time,
            Self::SystemStatus => market_data::system_status,
            Self::Assets => market_data::assets,
            Self::AssetPairs => market_data::asset_pairs,
            Self::Ticker => market_data::ticker,
            Self::Depth => market_data::depth,
            Self::Trades => market_data::recent_trades,
            Self::Balance => account_data::balance,
            Self::BalanceEx => account_data::balance_ex,
            Self::AddOrder => trading::add_order,
            Self::QueryOrders => account_data::query_orders,
            Self::OpenOrders => account_data::open_orders,
            Self::ClosedOrders => account_data::closed_orders,
            Self::CancelOrder => trading::cancel_order,
            Self::QueryTrades => account_data::query_trades,
            Self::TradesHistory => account_data::trades_history,
            Self::TradeVolume => account_data::trade_volume,
        }
    }
}
