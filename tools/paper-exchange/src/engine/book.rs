//! The simulated market: each side's levels around the mid (thinned by a fault's depth factor,
//! less what was taken and not yet replenished), the seeded random walk of the mid, and resting
//! orders filling when the market crosses them.

use std::collections::BTreeMap;

use driftline_core::money::{floor_to_step, BPS};
use driftline_core::{EpochMillis, Price, Side};
use rand::Rng;
use rust_decimal::Decimal;

use super::{Engine, EngineError, Levels, Market, Order};

impl Engine {
    /// Sets how much of the configured depth a market shows (the thin-book fault).
    pub fn set_depth_factor(&mut self, symbol: &str, factor: Decimal) {
        if let Some(m) = self.markets.get_mut(symbol) {
            m.depth_factor = factor;
            self.update_id += 1;
        }
    }

    /// The market's simulated depth on one side (`Buy` = bids), best first, on the step grid.
    pub(super) fn simulated_levels(m: &Market, side: Side) -> Vec<(Decimal, Decimal)> {
        let Ok(mid) = Price::new(m.mid) else {
            return Vec::new();
        };
        let Ok(book) = m
            .profile
            .book(&m.symbol, mid, m.spread_bps, m.filters.tick_size())
        else {
            return Vec::new();
        };
        let is_bid = side == Side::Buy;
        let levels = if is_bid { book.bids() } else { book.asks() };
        levels
            .iter()
            .filter_map(|l| {
                let price = l.price.value().normalize();
                let taken = m
                    .consumed
                    .get(&(is_bid, price))
                    .copied()
                    .unwrap_or_default();
                let qty = floor_to_step(l.quantity * m.depth_factor - taken, m.filters.step_size());
                (qty > Decimal::ZERO).then_some((price, qty))
            })
            .collect()
    }

    /// The book as the depth endpoint shows it: simulated depth plus resting orders, `limit`
    /// levels a side, best first.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`].
    pub fn depth(&self, symbol: &str, limit: usize) -> Result<(Levels, Levels), EngineError> {
        let m = self.market(symbol)?;
        let side_levels = |side: Side| {
            let mut by_price: BTreeMap<Decimal, Decimal> = BTreeMap::new();
            for (p, q) in Self::simulated_levels(m, side) {
                *by_price.entry(p).or_default() += q;
            }
            for o in self.open_orders_in(symbol).filter(|o| o.side == side) {
                *by_price.entry(o.price.normalize()).or_default() += o.remaining();
            }
            let mut levels: Vec<_> = by_price.into_iter().collect();
            if side == Side::Buy {
                levels.reverse();
            }
            levels.truncate(limit);
            levels
        };
        Ok((side_levels(Side::Buy), side_levels(Side::Sell)))
    }

    /// Moves every market one tick: the mid takes a seeded random step, consumed depth
    /// replenishes, and resting orders the market moved through fill.
    pub fn advance(&mut self, now: EpochMillis) {
        let names: Vec<String> = self.markets.keys().cloned().collect();
        for name in names {
            let draw = Decimal::from(self.rng.random_range(-1000i32..=1000)) / Decimal::from(1000);
            if let Some(m) = self.markets.get_mut(&name) {
                let tick = m.filters.tick_size();
                let moved = m.mid * (Decimal::ONE + m.volatility_bps / BPS * draw);
                m.mid = floor_to_step(moved, tick).max(tick);
                m.history.record_price(now, m.mid);
                let keep = Decimal::ONE - m.replenish_per_tick;
                let step = m.filters.step_size();
                m.consumed = std::mem::take(&mut m.consumed)
                    .into_iter()
                    .map(|(k, q)| (k, floor_to_step(q * keep, step)))
                    .filter(|(_, q)| *q > Decimal::ZERO)
                    .collect();
            }
            self.match_resting(&name, now);
        }
        self.update_id += 1;
    }

    /// Sets a market's mid price; resting orders it crosses fill.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`], [`EngineError::InvalidPrice`] unless positive.
    pub fn set_mid(
        &mut self,
        symbol: &str,
        mid: Decimal,
        now: EpochMillis,
    ) -> Result<(), EngineError> {
        let m = self
            .markets
            .get_mut(symbol)
            .ok_or(EngineError::UnknownSymbol)?;
        if mid <= Decimal::ZERO {
            return Err(EngineError::InvalidPrice);
        }
        m.mid = mid;
        m.history.record_price(now, mid);
        self.match_resting(symbol, now);
        self.update_id += 1;
        Ok(())
    }

    /// Fills resting orders against simulated depth that now crosses them, at their own price.
    fn match_resting(&mut self, symbol: &str, now: EpochMillis) {
        let Ok(m) = self.market(symbol) else { return };
        let mut resting: Vec<&Order> = self.open_orders_in(symbol).collect();
        resting.sort_by(|a, b| {
            let by_price = if a.side == Side::Buy {
                b.price.cmp(&a.price)
            } else {
                a.price.cmp(&b.price)
            };
            by_price.then(a.order_id.cmp(&b.order_id))
        });
        let step = m.filters.step_size();
        let mut asks = Self::simulated_levels(m, Side::Sell);
        let mut bids = Self::simulated_levels(m, Side::Buy);
        let mut work = Vec::new();
        for o in resting {
            let (levels, crosses): (&mut Levels, fn(Decimal, Decimal) -> bool) =
                if o.side == Side::Buy {
                    (&mut asks, |level, limit| level <= limit)
                } else {
                    (&mut bids, |level, limit| level >= limit)
                };
            let mut remaining = o.remaining();
            for (price, qty) in levels.iter_mut() {
                if remaining <= Decimal::ZERO || !crosses(*price, o.price) {
                    break;
                }
                let take = floor_to_step(remaining.min(*qty), step);
                if take > Decimal::ZERO {
                    *qty -= take;
                    remaining -= take;
                    work.push((o.order_id, o.side, *price, o.price, take));
                }
            }
        }
        for (order_id, side, level_price, order_price, qty) in work {
            if let Some(m) = self.markets.get_mut(symbol) {
                *m.consumed
                    .entry((side == Side::Sell, level_price))
                    .or_default() += qty;
            }
            self.settle_maker(order_id, order_price, qty, None, now);
        }
    }
}
