//! The exchange port: what core asks of a venue, and how a venue's answers and failures look to it.

use std::fmt;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Asset, ClientOrderId, EpochMillis, MarketFilters, OrderBook, Price, Side, Symbol};

/// A venue driftline has an adapter for. An account's secret names its venue; the breaker and
/// the market-filter cache are kept per venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    /// Binance spot, and every venue of its dialect (Binance.US, the testnet).
    Binance,
    /// Kraken spot.
    Kraken,
    /// Coinbase Advanced Trade.
    Coinbase,
}

impl Venue {
    /// Every venue, in declaration order (a venue's place here is `venue as usize`).
    pub const ALL: [Self; 3] = [Self::Binance, Self::Kraken, Self::Coinbase];

    /// Whether a buy's fee is charged in the quote asset, on top of what the order costs, so
    /// that the free cash must cover both (else the venue refuses the order for want of
    /// funds): Kraken (every order asks `fciq`) and Coinbase (fees always in the quote). Binance
    /// takes a buy's fee from the asset bought.
    pub fn buy_fee_in_quote(self) -> bool {
        match self {
            Self::Binance => false,
            Self::Kraken | Self::Coinbase => true,
        }
    }

    /// The venue's name in secrets, store keys and metrics: `binance`, `kraken`, `coinbase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Kraken => "kraken",
            Self::Coinbase => "coinbase",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A venue name that is not one of [`Venue::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown venue {0:?}: expected binance, kraken or coinbase")]
pub struct UnknownVenue(pub String);

impl std::str::FromStr for Venue {
    type Err = UnknownVenue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVenue(s.to_owned()))
    }
}

/// How long a limit order rests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: fills what it can at once, cancels the rest.
    Ioc,
    /// Post-only (`LIMIT_MAKER`): rejected if it would take liquidity.
    PostOnly,
}

/// A limit order to place, identified by its client order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOrderRequest {
    pub client_order_id: ClientOrderId,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    pub price: Price,
    pub time_in_force: TimeInForce,
}

/// An order's status as the exchange reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExchangeOrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    PendingCancel,
    Rejected,
    Expired,
    ExpiredInMatch,
}

impl ExchangeOrderStatus {
    /// Whether the exchange will never change this order again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired | Self::ExpiredInMatch
        )
    }
}

/// One execution of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub price: Price,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    #[serde(with = "crate::exact")]
    pub commission: Decimal,
    pub commission_asset: Asset,
}

/// The venue's own id of an order, as text: Binance's numbers, Kraken's txids
/// (`OQCLML-BW3P3-BUCMWZ`), Coinbase's UUIDs. Records written before ids were text hold a
/// number; it reads back as its decimal digits, so old records keep working.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ExchangeOrderId(String);

impl ExchangeOrderId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExchangeOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<u64> for ExchangeOrderId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl<'de> Deserialize<'de> for ExchangeOrderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Queue messages and records from before ids were text carry a JSON number.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Text(String),
            Number(u64),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Text(id) => Self(id),
            Stored::Number(id) => id.into(),
        })
    }
}

/// What the exchange knows about an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    pub symbol: Symbol,
    pub exchange_order_id: ExchangeOrderId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub price: Price,
    #[serde(with = "crate::exact")]
    pub orig_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub executed_qty: Decimal,
    /// Quote spent or received so far.
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    pub status: ExchangeOrderStatus,
    /// Fills of this response, where the exchange returns them (placement with FULL).
    pub fills: Vec<Fill>,
    pub updated_at_ms: EpochMillis,
}

/// A balance of one asset: free to trade, and locked in open orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: Asset,
    #[serde(with = "crate::exact")]
    pub free: Decimal,
    #[serde(with = "crate::exact")]
    pub locked: Decimal,
}

/// What went wrong talking to an exchange, classified by what the caller must do about it.
/// Venue-neutral: each adapter maps its venue's codes and statuses onto these, and keeps the
/// venue's own code in the message for people to read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeError {
    /// Nothing took effect; safe to try again after a backoff.
    #[error("retryable: {reason}")]
    Retryable { reason: String },
    /// A place or cancel may or may not have taken effect (timeout, 5xx, -1007): look the
    /// order up by its client order id; never resend blindly.
    #[error("status unknown: {reason}")]
    StatusUnknown { reason: String },
    /// The exchange refused the request; retrying the same request cannot succeed.
    #[error("rejected: {message}")]
    Rejected { message: String },
    /// An open order already has this client order id.
    #[error("duplicate order: {message}")]
    Duplicate { message: String },
    /// The exchange knows no such order (or market).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// Keys, signature or permissions are wrong: an operator must act.
    #[error("authentication failed: {message}")]
    Auth { message: String },
    /// Over the request-weight or order-count limit: wait `retry_after_ms`.
    #[error("rate limited: retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// Banned or locked out (Binance's HTTP 418, Kraken's temporary lockout): nothing may be
    /// sent for `retry_after_ms`.
    #[error("banned: nothing may be sent for {retry_after_ms} ms")]
    Banned { retry_after_ms: u64 },
    /// The exchange answered something this client cannot read.
    #[error("malformed response: {reason}")]
    Malformed { reason: String },
    /// Not sent: the shared circuit breaker is open (a cooldown or a ban runs, or another
    /// caller is probing), or its state could not be read. Try again at `retry_at_ms`.
    #[error("circuit breaker open: not sent, retry at {retry_at_ms}")]
    BreakerOpen { retry_at_ms: EpochMillis },
}

/// A spot exchange, as far as driftline uses one.
#[async_trait]
pub trait Exchange: Send + Sync {
    /// The venue this client trades on.
    fn venue(&self) -> Venue;
    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError>;
    /// The top `depth` levels of each side.
    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError>;
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError>;
    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError>;
    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError>;
    /// Every execution of one order (the account's trade list for it), with each fill's price
    /// and commission: what an order query does not report.
    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError>;
    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError>;
    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError>;
    async fn server_time(&self) -> Result<EpochMillis, ExchangeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_venue_is_listed_at_its_place_and_reads_back_from_its_name() {
        for (place, venue) in Venue::ALL.into_iter().enumerate() {
            assert_eq!(venue as usize, place);
            assert_eq!(venue.as_str().parse::<Venue>(), Ok(venue));
        }
        assert!("bitstamp".parse::<Venue>().is_err());
    }

    #[test]
    fn an_exchange_order_id_reads_from_text_and_from_the_numbers_older_messages_carry() {
        let text: ExchangeOrderId = serde_json::from_str("\"OQCLML-BW3P3-BUCMWZ\"").unwrap();
        assert_eq!(text.as_str(), "OQCLML-BW3P3-BUCMWZ");
        let number: ExchangeOrderId = serde_json::from_str("28").unwrap();
        assert_eq!(number, ExchangeOrderId::new("28"));
        // Written back, it is text.
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"28\"");
        assert!(serde_json::from_str::<ExchangeOrderId>("-1").is_err());
        assert!(serde_json::from_str::<ExchangeOrderId>("null").is_err());
    }
}
