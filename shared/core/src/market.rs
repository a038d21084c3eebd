//! What the exchange tells us about a market: its trading rules and its order book.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{ceil_to_step, floor_to_step, is_on_step};
use crate::{Asset, DomainError, Price, Side, Symbol};

/// A market's trading status as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradingStatus {
    Trading,
    PreTrading,
    PostTrading,
    EndOfDay,
    Halt,
    AuctionMatch,
    Break,
}

impl TradingStatus {
    pub fn is_trading(&self) -> bool {
        matches!(self, Self::Trading)
    }

    /// The exchange's own spelling (`TRADING`, `HALT`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Trading => "TRADING",
            Self::PreTrading => "PRE_TRADING",
            Self::PostTrading => "POST_TRADING",
            Self::EndOfDay => "END_OF_DAY",
            Self::Halt => "HALT",
            Self::AuctionMatch => "AUCTION_MATCH",
            Self::Break => "BREAK",
        }
    }

    /// Parses the exchange's spelling; `None` for a status this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Trading,
            Self::PreTrading,
            Self::PostTrading,
            Self::EndOfDay,
            Self::Halt,
            Self::AuctionMatch,
            Self::Break,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

impl fmt::Display for TradingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A market's trading rules: price tick, quantity step, quantity bounds and minimum notional.
/// Valid by construction: tick and step positive, bounds ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MarketFiltersFields", into = "MarketFiltersFields")]
pub struct MarketFilters {
    symbol: Symbol,
    tick_size: Decimal,
    step_size: Decimal,
    min_qty: Decimal,
    max_qty: Option<Decimal>,
    min_notional: Decimal,
    status: TradingStatus,
}

/// The serialized form of [`MarketFilters`]: decimals as strings, validated on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarketFiltersFields {
    pub symbol: Symbol,
    #[serde(with = "crate::exact")]
    pub tick_size: Decimal,
    #[serde(with = "crate::exact")]
    pub step_size: Decimal,
    #[serde(with = "crate::exact")]
    pub min_qty: Decimal,
    #[serde(with = "crate::exact::option", default)]
    pub max_qty: Option<Decimal>,
    #[serde(with = "crate::exact")]
    pub min_notional: Decimal,
    pub status: TradingStatus,
}

impl TryFrom<MarketFiltersFields> for MarketFilters {
    type Error = DomainError;
    fn try_from(f: MarketFiltersFields) -> Result<Self, Self::Error> {
        let invalid = |field, value, reason| DomainError::InvalidFilter {
            symbol: f.symbol.to_string(),
            field,
            value,
            reason,
        };
        if f.tick_size <= Decimal::ZERO {
            return Err(invalid(
                "tick_size",
                f.tick_size,
                "must be greater than zero",
            ));
        }
        if f.step_size <= Decimal::ZERO {
            return Err(invalid(
                "step_size",
                f.step_size,
                "must be greater than zero",
            ));
        }
        if f.min_qty < Decimal::ZERO {
            return Err(invalid("min_qty", f.min_qty, "must not be negative"));
        }
        if let Some(max) = f.max_qty {
            if max < f.min_qty || max <= Decimal::ZERO {
                return Err(invalid(
                    "max_qty",
                    max,
                    "must be positive and at least min_qty",
                ));
            }
        }
        if f.min_notional < Decimal::ZERO {
            return Err(invalid(
                "min_notional",
                f.min_notional,
                "must not be negative",
            ));
        }
        Ok(Self {
            symbol: f.symbol,
            tick_size: f.tick_size.normalize(),
            step_size: f.step_size.normalize(),
            min_qty: f.min_qty.normalize(),
            max_qty: f.max_qty.map(|m| m.normalize()),
            min_notional: f.min_notional.normalize(),
            status: f.status,
        })
    }
}

impl From<MarketFilters> for MarketFiltersFields {
    fn from(m: MarketFilters) -> Self {
        Self {
            symbol: m.symbol,
            tick_size: m.tick_size,
            step_size: m.step_size,
            min_qty: m.min_qty,
            max_qty: m.max_qty,
            min_notional: m.min_notional,
            status: m.status,
        }
    }
}

impl MarketFilters {
    /// # Errors
    /// [`DomainError::InvalidFilter`] naming the first field that is wrong.
    pub fn new(fields: MarketFiltersFields) -> Result<Self, DomainError> {
        fields.try_into()
    }

    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }
    pub fn tick_size(&self) -> Decimal {
        self.tick_size
    }
    pub fn step_size(&self) -> Decimal {
        self.step_size
    }
    pub fn min_qty(&self) -> Decimal {
        self.min_qty
    }
    pub fn max_qty(&self) -> Option<Decimal> {
        self.max_qty
    }
    pub fn min_notional(&self) -> Decimal {
        self.min_notional
    }
    pub fn status(&self) -> &TradingStatus {
        &self.status
    }

    /// A quantity rounded down to the step and clamped to the maximum quantity.
    pub fn round_quantity(&self, quantity: Decimal) -> Decimal {
        let capped = self.max_qty.map_or(quantity, |max| quantity.min(max));
        floor_to_step(capped.max(Decimal::ZERO), self.step_size)
    }

    /// A price rounded to the tick toward the passive side: down for a buy, up for a sell.
    pub fn round_price_passive(&self, side: Side, price: Decimal) -> Decimal {
        match side {
            Side::Buy => floor_to_step(price, self.tick_size),
            Side::Sell => ceil_to_step(price, self.tick_size),
        }
    }

    /// Whether an order of `quantity` at `price` passes the quantity, grid and notional rules.
    pub fn accepts(&self, quantity: Decimal, price: Decimal) -> bool {
        quantity > Decimal::ZERO
            && quantity >= self.min_qty
            && self.max_qty.is_none_or(|max| quantity <= max)
            && is_on_step(quantity, self.step_size)
            && is_on_step(price, self.tick_size)
            && quantity * price >= self.min_notional
    }
}

/// One price level of an order book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub price: Price,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
}

/// An order book snapshot: bids best (highest) first, asks best (lowest) first, not crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrderBookFields", into = "OrderBookFields")]
pub struct OrderBook {
    symbol: Symbol,
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// Derived once: every valuation and plan reads it.
    mid: Option<Price>,
}

/// The serialized form of [`OrderBook`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderBookFields {
    pub symbol: Symbol,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

impl TryFrom<OrderBookFields> for OrderBook {
    type Error = DomainError;
    fn try_from(f: OrderBookFields) -> Result<Self, Self::Error> {
        OrderBook::new(f.symbol, f.bids, f.asks)
    }
}

impl From<OrderBook> for OrderBookFields {
    fn from(b: OrderBook) -> Self {
        Self {
            symbol: b.symbol,
            bids: b.bids,
            asks: b.asks,
        }
    }
}

impl OrderBook {
    /// # Errors
    /// [`DomainError::InvalidBook`] when a level has no quantity, a side is out of order or the
    /// book is crossed.
    pub fn new(symbol: Symbol, bids: Vec<Level>, asks: Vec<Level>) -> Result<Self, DomainError> {
        let invalid = |reason: String| DomainError::InvalidBook {
            symbol: symbol.to_string(),
            reason,
        };
        if let Some(l) = bids
            .iter()
            .chain(&asks)
            .find(|l| l.quantity <= Decimal::ZERO)
        {
            return Err(invalid(format!(
                "level at {} has quantity {}, expected more than zero",
                l.price, l.quantity
            )));
        }
        if bids.windows(2).any(|w| w[0].price <= w[1].price) {
            return Err(invalid("bids must be strictly descending by price".into()));
        }
        if asks.windows(2).any(|w| w[0].price >= w[1].price) {
            return Err(invalid("asks must be strictly ascending by price".into()));
        }
        if let (Some(bid), Some(ask)) = (bids.first(), asks.first()) {
            if bid.price >= ask.price {
                return Err(invalid(format!(
                    "crossed: best bid {} is not below best ask {}",
                    bid.price, ask.price
                )));
            }
        }
        let mid = match (bids.first(), asks.first()) {
            (Some(bid), Some(ask)) => {
                Price::new((bid.price.value() + ask.price.value()) / Decimal::TWO).ok()
            }
            _ => None,
        };
        Ok(Self {
            symbol,
            bids,
            asks,
            mid,
        })
    }

    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }
    pub fn bids(&self) -> &[Level] {
        &self.bids
    }
    pub fn asks(&self) -> &[Level] {
        &self.asks
    }
    pub fn best_bid(&self) -> Option<Price> {
        self.bids.first().map(|l| l.price)
    }
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.first().map(|l| l.price)
    }

    /// The levels an order on `side` consumes: asks for a buy, bids for a sell.
    pub fn consumed_by(&self, side: Side) -> &[Level] {
        match side {
            Side::Buy => &self.asks,
            Side::Sell => &self.bids,
        }
    }

    /// The midpoint of the best bid and ask, the reference price of valuations and plans.
    /// `None` when a side is empty.
    pub fn mid(&self) -> Option<Price> {
        self.mid
    }

    /// The quantity visible on the side an order on `side` consumes, within `worst` price.
    pub fn depth_within(&self, side: Side, worst: Decimal) -> Decimal {
        self.consumed_by(side)
            .iter()
            .take_while(|l| match side {
                Side::Buy => l.price.value() <= worst,
                Side::Sell => l.price.value() >= worst,
            })
            .map(|l| l.quantity)
            .sum()
    }
}

/// The shape of a synthetic order book: `levels` per side, `quantity_per_level` base units at
/// each, levels `level_step_bps` of the mid apart. Used where no real book exists: the CLI's
/// market files, the paper exchange and the backtester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthProfile {
    pub levels: u32,
    #[serde(with = "crate::exact")]
    pub quantity_per_level: Decimal,
    #[serde(with = "crate::exact")]
    pub level_step_bps: Decimal,
}

impl DepthProfile {
    /// A book around `mid` with the given full spread, on the tick grid.
    ///
    /// # Errors
    /// [`DomainError::InvalidBook`] when the profile has no quantity or the prices fall to zero.
    pub fn book(
        &self,
        symbol: &Symbol,
        mid: Price,
        spread_bps: Decimal,
        tick: Decimal,
    ) -> Result<OrderBook, DomainError> {
        let invalid = |reason: String| DomainError::InvalidBook {
            symbol: symbol.to_string(),
            reason,
        };
        if self.quantity_per_level <= Decimal::ZERO || tick <= Decimal::ZERO {
            return Err(invalid(
                "depth profile needs a positive quantity and tick".into(),
            ));
        }
        let m = mid.value();
        let half = m * spread_bps / crate::money::BPS / Decimal::TWO;
        let step = (m * self.level_step_bps / crate::money::BPS).max(tick);
        let best_bid = floor_to_step(m - half, tick);
        let mut best_ask = ceil_to_step(m + half, tick);
        if best_ask <= best_bid {
            best_ask = best_bid + tick;
        }
        let level = |price: Decimal| -> Result<Level, DomainError> {
            Ok(Level {
                price: Price::new(price)
                    .map_err(|_| invalid(format!("level price {price} is not positive")))?,
                quantity: self.quantity_per_level,
            })
        };
        let mut bids = Vec::with_capacity(self.levels as usize);
        let mut asks = Vec::with_capacity(self.levels as usize);
        for i in 0..self.levels {
            let offset = floor_to_step(step * Decimal::from(i), tick);
            let bid = best_bid - offset;
            if bid > Decimal::ZERO {
                bids.push(level(bid)?);
            }
            asks.push(level(best_ask + offset)?);
        }
        OrderBook::new(symbol.clone(), bids, asks)
    }
}

/// A market as a plan sees it: rules and book of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    pub filters: MarketFilters,
    pub book: OrderBook,
}

/// The markets a portfolio trades in, keyed by base asset; all quoted in the portfolio's quote.
pub type Markets = BTreeMap<Asset, MarketSnapshot>;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc() -> Symbol {
        "BTC/USDT".parse().unwrap()
    }

    fn fields() -> MarketFiltersFields {
        MarketFiltersFields {
            symbol: btc(),
            tick_size: dec!(0.01),
            step_size: dec!(0.00001),
            min_qty: dec!(0.00001),
            max_qty: Some(dec!(9000)),
            min_notional: dec!(5),
            status: TradingStatus::Trading,
        }
    }

    fn lvl(p: Decimal, q: Decimal) -> Level {
        Level {
            price: Price::new(p).unwrap(),
            quantity: q,
        }
    }

    #[test]
    fn filters_reject_a_zero_tick_naming_it() {
        let err = MarketFilters::new(MarketFiltersFields {
            tick_size: dec!(0),
            ..fields()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "BTC/USDT filter tick_size is 0: must be greater than zero"
        );
    }

    #[test]
    fn filters_round_and_accept() {
        let f = MarketFilters::new(fields()).unwrap();
        assert_eq!(f.round_quantity(dec!(0.123456789)), dec!(0.12345));
        assert_eq!(f.round_quantity(dec!(10000)), dec!(9000));
        assert_eq!(
            f.round_price_passive(Side::Buy, dec!(100.019)),
            dec!(100.01)
        );
        assert_eq!(
            f.round_price_passive(Side::Sell, dec!(100.011)),
            dec!(100.02)
        );
        assert!(f.accepts(dec!(0.001), dec!(64230.00)));
        assert!(
            !f.accepts(dec!(0.00001), dec!(64230.00)),
            "0.64 is under min notional 5"
        );
        assert!(
            !f.accepts(dec!(0.000015), dec!(64230.00)),
            "off the step grid"
        );
        assert!(
            !f.accepts(dec!(0.001), dec!(64230.005)),
            "off the tick grid"
        );
    }

    #[test]
    fn book_rejects_crossed_and_unordered_sides() {
        let crossed = OrderBook::new(
            btc(),
            vec![lvl(dec!(101), dec!(1))],
            vec![lvl(dec!(100), dec!(1))],
        );
        assert!(crossed.unwrap_err().to_string().contains("crossed"));
        let unordered = OrderBook::new(
            btc(),
            vec![lvl(dec!(99), dec!(1)), lvl(dec!(100), dec!(1))],
            vec![],
        );
        assert!(unordered.is_err());
        let empty_level = OrderBook::new(btc(), vec![lvl(dec!(99), dec!(0))], vec![]);
        assert!(empty_level.is_err());
    }

    #[test]
    fn depth_profile_builds_a_valid_book_on_the_grid() {
        let profile = DepthProfile {
            levels: 3,
            quantity_per_level: dec!(2),
            level_step_bps: dec!(10),
        };
        let book = profile
            .book(&btc(), Price::new(dec!(100)).unwrap(), dec!(20), dec!(0.01))
            .unwrap();
        let prices = |ls: &[Level]| ls.iter().map(|l| l.price.value()).collect::<Vec<_>>();
        assert_eq!(
            prices(book.bids()),
            vec![dec!(99.9), dec!(99.8), dec!(99.7)]
        );
        assert_eq!(
            prices(book.asks()),
            vec![dec!(100.1), dec!(100.2), dec!(100.3)]
        );
        // A spread narrower than a tick still leaves one tick between bid and ask.
        let tight = profile
            .book(&btc(), Price::new(dec!(100)).unwrap(), dec!(0), dec!(0.01))
            .unwrap();
        assert_eq!(
            tight.best_ask().unwrap().value() - tight.best_bid().unwrap().value(),
            dec!(0.01)
        );
    }

    #[test]
    fn book_mid_and_depth() {
        let book = OrderBook::new(
            btc(),
            vec![lvl(dec!(99), dec!(1)), lvl(dec!(98), dec!(2))],
            vec![lvl(dec!(101), dec!(3)), lvl(dec!(102), dec!(4))],
        )
        .unwrap();
        assert_eq!(book.mid().unwrap().value(), dec!(100));
        assert_eq!(book.depth_within(Side::Buy, dec!(101.5)), dec!(3));
        assert_eq!(book.depth_within(Side::Sell, dec!(98)), dec!(3));
    }
}
