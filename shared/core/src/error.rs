//! Errors of the domain: each names the value that was wrong and why.

use rust_decimal::Decimal;
use thiserror::Error;

/// A value that cannot exist in the domain. Constructors return it, so a wrong value never does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("asset code {value:?} is invalid: expected 1 to 20 characters of A-Z and 0-9")]
    InvalidAsset { value: String },
    #[error("symbol {value:?} is invalid: expected BASE/QUOTE with two different asset codes, like \"BTC/USDT\"")]
    InvalidSymbol { value: String },
    #[error("portfolio id {value:?} is invalid: expected 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidPortfolioId { value: String },
    #[error("cycle id {value:?} is invalid: expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '-', '.' and ':'")]
    InvalidCycleId { value: String },
    #[error("client order id {value:?} is invalid: expected 1 to 36 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidClientOrderId { value: String },
    #[error("{what} must be greater than zero, got {value}")]
    NotPositive { what: &'static str, value: Decimal },
    #[error("{what} must not be negative, got {value}")]
    Negative { what: &'static str, value: Decimal },
    #[error("holding of {asset} must not be negative, got {value}")]
    NegativeHolding { asset: String, value: Decimal },
    #[error("target weight of {asset} is {value}, outside [0, 1]")]
    WeightOutOfRange { asset: String, value: Decimal },
    #[error("target weights sum to {sum}, not exactly 1 (the quote asset's weight counts too)")]
    WeightsDoNotSumToOne { sum: Decimal },
    #[error("asset {asset} appears more than once in {context}")]
    DuplicateAsset {
        asset: String,
        context: &'static str,
    },
    #[error("asset {asset} in {context} is not in the portfolio's targets")]
    UnknownAsset {
        asset: String,
        context: &'static str,
    },
    #[error("quote asset {asset} has no target weight (give it one, 0 if no cash should be kept)")]
    QuoteWithoutTarget { asset: String },
    #[error("no market for {asset}: a price is needed for every asset with a target or a holding")]
    MissingMarket { asset: String },
    #[error(
        "market {symbol} given for {asset} is not quoted in the portfolio's quote asset {quote}"
    )]
    MarketMismatch {
        asset: String,
        symbol: String,
        quote: String,
    },
    #[error("a plan needs at least one account to trade on")]
    NoAccount,
    #[error("portfolio equity is zero: nothing to weigh")]
    ZeroEquity,
    #[error("{symbol} filter {field} is {value}: {reason}")]
    InvalidFilter {
        symbol: String,
        field: &'static str,
        value: Decimal,
        reason: &'static str,
    },
    #[error("order book of {symbol} is invalid: {reason}")]
    InvalidBook { symbol: String, reason: String },
    #[error("policy {field} is {value}: {reason}")]
    InvalidPolicy {
        field: String,
        value: String,
        reason: &'static str,
    },
}
