//! The venue's order vocabulary: order types, time in force and statuses as Binance spells
//! them, a new order's fields, an order and its fills as the venue keeps them, balances, and
//! the errors the engine answers with.

use driftline_core::{Asset, EpochMillis, Side};
use rust_decimal::Decimal;
use serde::Serialize;

/// The order types the venue accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    Limit,
    LimitMaker,
    Market,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Limit => "LIMIT",
            Self::LimitMaker => "LIMIT_MAKER",
            Self::Market => "MARKET",
        }
    }
}

/// How long a `LIMIT` order lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeInForce {
    #[serde(rename = "GTC")]
    Gtc,
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "FOK")]
    Fok,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
        }
    }
}

/// An order's status in the venue's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VenueStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl VenueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// An order as a client asks for it, already parsed; the engine applies the venue's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    pub quantity: Option<Decimal>,
    pub quote_order_qty: Option<Decimal>,
    pub price: Option<Decimal>,
    pub client_order_id: Option<String>,
}

/// An order the venue accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub order_id: u64,
    pub symbol: String,
    pub account: String,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Zero for a market order.
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cumulative_quote_qty: Decimal,
    pub orig_quote_order_qty: Decimal,
    pub status: VenueStatus,
    pub time: EpochMillis,
    pub update_time: EpochMillis,
    /// What the order still holds locked: quote for a buy, base for a sell.
    pub locked: Decimal,
    /// The price a buy's lock was taken at (its limit); `None`: locked at each fill's price.
    #[serde(skip)]
    pub(super) lock_price: Option<Decimal>,
}

impl Order {
    pub fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty
    }
}

/// One side of one trade, as the account that traded it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub trade_id: u64,
    pub order_id: u64,
    pub symbol: String,
    pub account: String,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    pub quote_qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: Asset,
    pub is_maker: bool,
    pub time: EpochMillis,
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub order: Order,
    /// The fills of this order while it was placed (as taker).
    pub fills: Vec<Fill>,
}

/// One asset of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub free: Decimal,
    pub locked: Decimal,
}

/// A rejected request, with the venue's code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("Invalid symbol.")]
    UnknownSymbol,
    #[error("Filter failure: {0}")]
    Filter(&'static str),
    #[error("Invalid quantity.")]
    InvalidQuantity,
    #[error("Invalid price.")]
    InvalidPrice,
    #[error("Account has insufficient balance for requested action.")]
    InsufficientBalance,
    #[error("Duplicate order sent.")]
    DuplicateOrder,
    #[error("Order would immediately match and take.")]
    WouldTake,
    #[error("Order does not exist.")]
    OrderNotFound,
    #[error("Unknown order sent.")]
    UnknownOrderToCancel,
    #[error("Invalid API-key, IP, or permissions for action.")]
    UnknownAccount,
}

impl EngineError {
    /// The venue's error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::UnknownSymbol => -1121,
            Self::Filter(_) | Self::InvalidQuantity | Self::InvalidPrice => -1013,
            Self::InsufficientBalance | Self::DuplicateOrder | Self::WouldTake => -2010,
            Self::OrderNotFound => -2013,
            Self::UnknownOrderToCancel => -2011,
            Self::UnknownAccount => -2015,
        }
    }
}

/// Why an account's API key and secret could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRotationError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("api_key and secret must not be empty")]
    Empty,
    /// Keys identify accounts, so two accounts cannot share one.
    #[error("the api_key belongs to another account")]
    KeyInUse,
}

/// How an order is looked up: the venue's id or the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    Id(u64),
    ClientId(String),
}
