//! The simulated markets: per asset, exchange filters and a synthetic book around each price.

use driftline_core::{
    Asset, DepthProfile, MarketFilters, MarketFiltersFields, MarketSnapshot, Markets, Price,
    Symbol, TradingStatus,
};
use rust_decimal::Decimal;

use super::BacktestError;

/// How the simulated books look: the same for every asset, scaled to its first price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketConfig {
    /// Full spread between best bid and best ask, in bps of the mid.
    pub spread_bps: Decimal,
    /// Levels per side of the book.
    pub levels: u32,
    /// Distance between levels, in bps of the mid.
    pub level_step_bps: Decimal,
    /// Quote value of each level at the asset's first price (the base quantity stays fixed).
    pub level_notional: Decimal,
    /// The exchange's minimum order notional, in the quote asset.
    pub min_notional: Decimal,
}

impl Default for MarketConfig {
    /// A liquid Binance-like pair: 2 bps spread, 20 levels 2 bps apart of 25,000 quote each.
    fn default() -> Self {
        Self {
            spread_bps: Decimal::TWO,
            levels: 20,
            level_step_bps: Decimal::TWO,
            level_notional: Decimal::from(25_000),
            min_notional: Decimal::from(5),
        }
    }
}

/// A tick that keeps about six significant digits of `price`, at most 0.01 and at least 10^-12.
pub fn tick_for(price: Decimal) -> Decimal {
    let mut dp = 2u32;
    let mut bound = Decimal::from(10_000);
    while price < bound && dp < 12 {
        bound /= Decimal::TEN;
        dp += 1;
    }
    Decimal::new(1, dp)
}

/// One simulated market: its filters, its book shape and its spread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetMarket {
    pub asset: Asset,
    pub filters: MarketFilters,
    pub depth: DepthProfile,
    pub spread_bps: Decimal,
}

impl AssetMarket {
    /// A market for `asset` quoted in `quote`, its grid and depth scaled to `first_price`:
    /// the price on `tick`, a quantity step worth at most about 0.01 quote, levels worth
    /// `config.level_notional`.
    ///
    /// # Errors
    /// [`BacktestError::Invalid`] when the market cannot be built (a bad tick or depth).
    pub fn scaled(
        asset: &Asset,
        quote: &Asset,
        first_price: Decimal,
        tick: Decimal,
        config: &MarketConfig,
    ) -> Result<Self, BacktestError> {
        let symbol = Symbol::new(asset.clone(), quote.clone())?;
        // 10^k is the first power of ten at or above the price; a step of 10^-(k+2) is worth
        // at most 0.01 quote.
        let mut k: i64 = 0;
        let mut power = Decimal::ONE;
        while power < first_price && k < 20 {
            power *= Decimal::TEN;
            k += 1;
        }
        let step_dp = u32::try_from((k + 2).clamp(0, 12)).unwrap_or(12);
        let step_size = Decimal::new(1, step_dp);
        let quantity =
            driftline_core::money::floor_to_step(config.level_notional / first_price, step_size);
        if quantity <= Decimal::ZERO {
            return Err(BacktestError::invalid(
                format!("{asset}.depth"),
                format!(
                    "a level of {} quote is less than one step at price {first_price}",
                    config.level_notional
                ),
            ));
        }
        let filters = MarketFilters::new(MarketFiltersFields {
            symbol,
            tick_size: tick,
            step_size,
            min_qty: step_size,
            max_qty: None,
            min_notional: config.min_notional,
            status: TradingStatus::Trading,
        })?;
        Ok(Self {
            asset: asset.clone(),
            filters,
            depth: DepthProfile {
                levels: config.levels,
                quantity_per_level: quantity,
                level_step_bps: config.level_step_bps,
            },
            spread_bps: config.spread_bps,
        })
    }

    /// The book around `price`, as the planner and the simulated fills see it: every level,
    /// or only the best bid and ask (the same touch, so the same mid).
    ///
    /// # Errors
    /// [`driftline_core::DomainError`] when the book cannot be built at that price.
    pub fn snapshot(
        &self,
        price: Price,
        depth: Depth,
    ) -> Result<MarketSnapshot, driftline_core::DomainError> {
        let profile = match depth {
            Depth::Full => self.depth,
            Depth::Touch => DepthProfile {
                levels: self.depth.levels.min(1),
                ..self.depth
            },
        };
        let book = profile.book(
            self.filters.symbol(),
            price,
            self.spread_bps,
            self.filters.tick_size(),
        )?;
        Ok(MarketSnapshot {
            filters: self.filters.clone(),
            book,
        })
    }
}

/// How much of a simulated book to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every level of the depth profile.
    Full,
    /// The best bid and ask only: enough for mids, drift and every decision that stops before
    /// the cost model walks the book.
    Touch,
}

/// Aligned price series: one close per asset per step, on the asset's tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceHistory {
    pub quote: Asset,
    pub markets: Vec<AssetMarket>,
    /// Open time of each step, epoch milliseconds, increasing.
    pub times_ms: Vec<i64>,
    /// `closes[step][i]` is the price of `markets[i]` at that step.
    pub closes: Vec<Vec<Price>>,
}

impl PriceHistory {
    pub fn steps(&self) -> usize {
        self.times_ms.len()
    }

    /// Every market's book at `step`.
    ///
    /// # Errors
    /// [`BacktestError::Plan`] when a book cannot be built.
    pub fn markets_at(&self, step: usize, depth: Depth) -> Result<Markets, BacktestError> {
        books_at(&self.markets, self.closes_at(step)?, step, depth)
    }

    /// Every market's price at `step`.
    fn closes_at(&self, step: usize) -> Result<&[Price], BacktestError> {
        self.closes
            .get(step)
            .map(Vec::as_slice)
            .ok_or_else(|| BacktestError::invalid("step", format!("{step} is past the end")))
    }
}

/// The book of each of `markets` at its price in `closes` (in the same order), at `step`.
fn books_at(
    markets: &[AssetMarket],
    closes: &[Price],
    step: usize,
    depth: Depth,
) -> Result<Markets, BacktestError> {
    markets
        .iter()
        .zip(closes)
        .map(|(m, p)| {
            m.snapshot(*p, depth)
                .map(|s| (m.asset.clone(), s))
                .map_err(|source| BacktestError::Plan { step, source })
        })
        .collect()
}

/// A step's books on every venue: touch-only for every valuation, full depth built once when a
/// plan needs it.
pub(super) struct StepMarkets<'h> {
    /// Each venue's markets (the same assets, in the same order, as the history's).
    venues: &'h [Vec<AssetMarket>],
    closes: &'h [Price],
    step: usize,
    /// Each venue's touch-only books, in the order of `venues`.
    pub(super) touch: Vec<Markets>,
    full: Option<Vec<Markets>>,
}

impl<'h> StepMarkets<'h> {
    /// `step`'s touch-only books on every venue of `venues`.
    ///
    /// # Errors
    /// [`BacktestError`] when the step is past the end or a book cannot be built.
    pub(super) fn new(
        history: &'h PriceHistory,
        venues: &'h [Vec<AssetMarket>],
        step: usize,
    ) -> Result<Self, BacktestError> {
        let closes = history.closes_at(step)?;
        let touch = venues
            .iter()
            .map(|markets| books_at(markets, closes, step, Depth::Touch))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            venues,
            closes,
            step,
            touch,
            full: None,
        })
    }

    /// Every venue's full-depth books, built on first use.
    pub(super) fn full(&mut self) -> Result<&[Markets], BacktestError> {
        if self.full.is_none() {
            self.full = Some(
                self.venues
                    .iter()
                    .map(|markets| books_at(markets, self.closes, self.step, Depth::Full))
                    .collect::<Result<_, _>>()?,
            );
        }
        // Filled just above.
        self.full
            .as_deref()
            .ok_or_else(|| BacktestError::invalid("books", "full depth missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Decimal::from(60_000), Decimal::new(1, 2))]
    #[case(Decimal::from(150), Decimal::new(1, 4))]
    #[case(Decimal::new(12, 2), Decimal::new(1, 7))]
    fn ticks_keep_about_six_digits(#[case] price: Decimal, #[case] tick: Decimal) {
        assert_eq!(tick_for(price), tick);
    }
}
