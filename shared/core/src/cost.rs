//! The cost model: what a trade is predicted to cost before it is made.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::{to_bps, BPS};
use crate::{Liquidity, OrderBook, Side};

/// Maker and taker fees in basis points of notional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fees {
    #[serde(with = "crate::exact")]
    pub maker_bps: Decimal,
    #[serde(with = "crate::exact")]
    pub taker_bps: Decimal,
}

impl Default for Fees {
    /// Binance spot's base tier: 0.1% maker and taker.
    fn default() -> Self {
        Self {
            maker_bps: Decimal::TEN,
            taker_bps: Decimal::TEN,
        }
    }
}

impl Fees {
    pub fn bps(&self, liquidity: Liquidity) -> Decimal {
        match liquidity {
            Liquidity::Maker => self.maker_bps,
            Liquidity::Taker => self.taker_bps,
        }
    }

    /// The fee as a fraction of notional (10 bps = 0.001).
    pub fn rate(&self, liquidity: Liquidity) -> Decimal {
        self.bps(liquidity) / BPS
    }

    /// The higher of the two rates, in bps: what an order is budgeted at before it is known
    /// whether it makes or takes.
    pub fn higher_bps(&self) -> Decimal {
        self.maker_bps.max(self.taker_bps)
    }
}

/// A predicted cost, each part in bps of the trade's notional at the mid price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEstimate {
    #[serde(with = "crate::exact")]
    pub fee_bps: Decimal,
    #[serde(with = "crate::exact")]
    pub half_spread_bps: Decimal,
    #[serde(with = "crate::exact")]
    pub impact_bps: Decimal,
    /// The notional at mid, in the quote asset.
    #[serde(with = "crate::exact")]
    pub notional: Decimal,
}

impl CostEstimate {
    pub fn total_bps(&self) -> Decimal {
        self.fee_bps + self.half_spread_bps + self.impact_bps
    }

    /// The predicted cost in the quote asset.
    pub fn total_quote(&self) -> Decimal {
        self.notional * self.total_bps() / BPS
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CostError {
    #[error("the book shows {visible} on the side a {side} consumes, {needed} needed")]
    InsufficientDepth {
        side: Side,
        visible: Decimal,
        needed: Decimal,
    },
    #[error("the book has no bid or no ask")]
    NoMid,
}

/// Predicts the cost of trading `quantity` on `side` against `book`. A small trait so the
/// planner, the backtester and the executor share one model.
pub trait CostModel {
    /// # Errors
    /// [`CostError`] when the book cannot price the trade.
    fn predict(
        &self,
        side: Side,
        quantity: Decimal,
        book: &OrderBook,
    ) -> Result<CostEstimate, CostError>;
}

/// The default model: fee + half the spread + impact of walking the visible levels on the side
/// the order consumes (the volume-weighted price of the walk against the best price).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookWalkCostModel {
    pub fees: Fees,
    pub liquidity: Liquidity,
}

impl CostModel for BookWalkCostModel {
    fn predict(
        &self,
        side: Side,
        quantity: Decimal,
        book: &OrderBook,
    ) -> Result<CostEstimate, CostError> {
        let mid = book.mid().ok_or(CostError::NoMid)?.value();
        let levels = book.consumed_by(side);
        let best = levels.first().ok_or(CostError::NoMid)?.price.value();
        let mut left = quantity;
        let mut paid = Decimal::ZERO;
        let mut levels_taken = 0usize;
        for level in levels {
            if left.is_zero() {
                break;
            }
            let take = left.min(level.quantity);
            paid += take * level.price.value();
            left -= take;
            levels_taken += 1;
        }
        if !left.is_zero() {
            return Err(CostError::InsufficientDepth {
                side,
                visible: quantity - left,
                needed: quantity,
            });
        }
        let impact_bps = if quantity.is_zero() {
            Decimal::ZERO
        } else if levels_taken == 1 && is_exact_product(quantity, best) {
            // All of it at the best price, and `paid` is that product exactly: the average
            // price is the best price, so the impact is zero. Most orders fit the top level;
            // this spares them two divisions.
            Decimal::ZERO
        } else {
            to_bps((paid / quantity - best).abs(), mid)
        };
        Ok(CostEstimate {
            fee_bps: self.fees.bps(self.liquidity),
            half_spread_bps: to_bps((best - mid).abs(), mid),
            impact_bps,
            notional: quantity * mid,
        })
    }
}

/// Whether `a × b` fits the decimal type without rounding: the product of the mantissas fits
/// 96 bits and the scales add up to at most 28.
fn is_exact_product(a: Decimal, b: Decimal) -> bool {
    const MAX_MANTISSA: u128 = (1 << 96) - 1;
    a.scale() + b.scale() <= 28
        && a.mantissa()
            .unsigned_abs()
            .checked_mul(b.mantissa().unsigned_abs())
            .is_some_and(|m| m <= MAX_MANTISSA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, Price};
    use proptest::prelude::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn book() -> OrderBook {
        let l = |p, q| Level {
            price: Price::new(p).unwrap(),
            quantity: q,
        };
        OrderBook::new(
            "BTC/USDT".parse().unwrap(),
            vec![l(dec!(99), dec!(1)), l(dec!(98), dec!(1))],
            vec![l(dec!(101), dec!(1)), l(dec!(103), dec!(1))],
        )
        .unwrap()
    }

    #[rstest]
    // Within the top level: fee + half spread (1 of mid 100 = 100 bps), no impact.
    #[case(Side::Buy, dec!(1), dec!(10), dec!(100), dec!(0))]
    // Walking two ask levels: average 102, 1 above the best = 100 bps of impact.
    #[case(Side::Buy, dec!(2), dec!(10), dec!(100), dec!(100))]
    // Selling 2 against bids 99 and 98: average 98.5, 0.5 below the best = 50 bps.
    #[case(Side::Sell, dec!(2), dec!(10), dec!(100), dec!(50))]
    fn cost_is_fee_half_spread_and_impact(
        #[case] side: Side,
        #[case] qty: Decimal,
        #[case] fee: Decimal,
        #[case] half_spread: Decimal,
        #[case] impact: Decimal,
    ) {
        let model = BookWalkCostModel::default();
        let c = model.predict(side, qty, &book()).unwrap();
        assert_eq!(
            (c.fee_bps, c.half_spread_bps, c.impact_bps),
            (fee, half_spread, impact)
        );
        assert_eq!(c.total_bps(), fee + half_spread + impact);
        assert_eq!(
            c.total_quote(),
            qty * dec!(100) * c.total_bps() / dec!(10000)
        );
    }

    /// The model as it was before it skipped the impact of single-level walks.
    fn predict_by_division(
        model: &BookWalkCostModel,
        side: Side,
        quantity: Decimal,
        book: &OrderBook,
    ) -> Result<CostEstimate, CostError> {
        let mid = book.mid().ok_or(CostError::NoMid)?.value();
        let levels = book.consumed_by(side);
        let best = levels.first().ok_or(CostError::NoMid)?.price.value();
        let mut left = quantity;
        let mut paid = Decimal::ZERO;
        for level in levels {
            if left.is_zero() {
                break;
            }
            let take = left.min(level.quantity);
            paid += take * level.price.value();
            left -= take;
        }
        if !left.is_zero() {
            return Err(CostError::InsufficientDepth {
                side,
                visible: quantity - left,
                needed: quantity,
            });
        }
        let impact_bps = if quantity.is_zero() {
            Decimal::ZERO
        } else {
            to_bps((paid / quantity - best).abs(), mid)
        };
        Ok(CostEstimate {
            fee_bps: model.fees.bps(model.liquidity),
            half_spread_bps: to_bps((best - mid).abs(), mid),
            impact_bps,
            notional: quantity * mid,
        })
    }

    fn bits(c: &Result<CostEstimate, CostError>) -> Option<[[u8; 16]; 4]> {
        c.as_ref().ok().map(|c| {
            [c.fee_bps, c.half_spread_bps, c.impact_bps, c.notional].map(|d| d.serialize())
        })
    }

    /// A book of 1 to 4 levels a side, prices and quantities at varied scales, some with
    /// 20-digit mantissas so that products round (but never overflow, which panics in both).
    fn any_book() -> impl Strategy<Value = OrderBook> {
        let price = prop_oneof![
            (1i64..10_000_000, 0u32..=8).prop_map(|(m, s)| Decimal::new(m, s)),
            (1u64..u64::MAX, 8u32..=28)
                .prop_map(|(m, s)| Decimal::from_i128_with_scale(i128::from(m), s)),
        ];
        let quantity = prop_oneof![
            (1i64..10_000_000, 0u32..=8).prop_map(|(m, s)| Decimal::new(m, s)),
            (1u64..u64::MAX, 8u32..=20)
                .prop_map(|(m, s)| Decimal::from_i128_with_scale(i128::from(m), s)),
        ];
        (price, prop::collection::vec((1u32..=500, quantity), 2..=8)).prop_filter_map(
            "a valid book",
            |(touch, steps)| {
                let half = steps.len() / 2;
                let mut bids = vec![];
                let mut asks = vec![];
                let (mut bid, mut ask) = (touch, touch + Decimal::new(1, touch.scale()));
                for (i, (gap, quantity)) in steps.into_iter().enumerate() {
                    let gap = Decimal::new(i64::from(gap), touch.scale());
                    if i < half {
                        bids.push(Level {
                            price: Price::new(bid).ok()?,
                            quantity,
                        });
                        bid = bid.checked_sub(gap)?;
                    } else {
                        asks.push(Level {
                            price: Price::new(ask).ok()?,
                            quantity,
                        });
                        ask = ask.checked_add(gap)?;
                    }
                }
                OrderBook::new("BTC/USDT".parse().ok()?, bids, asks).ok()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testing::property_cases(5_000)))]

        /// Skipping the impact's divisions for a walk that stays in the top level gives the
        /// same estimate, bit for bit, as computing them.
        #[test]
        fn single_level_shortcut_equals_division(
            book in any_book(),
            side in prop::sample::select(vec![Side::Buy, Side::Sell]),
            share in 0u32..=150,
            scale in 0u32..=10,
        ) {
            let model = BookWalkCostModel::default();
            let top = book.consumed_by(side)[0].quantity;
            // From nothing to half again the top level, at varied scales.
            let quantity = (top * Decimal::from(share) / Decimal::ONE_HUNDRED).round_dp(scale);
            prop_assert_eq!(
                bits(&model.predict(side, quantity, &book)),
                bits(&predict_by_division(&model, side, quantity, &book))
            );
        }
    }

    #[test]
    fn more_than_the_visible_book_is_an_error_not_a_guess() {
        let err = BookWalkCostModel::default()
            .predict(Side::Buy, dec!(2.5), &book())
            .unwrap_err();
        assert_eq!(
            err,
            CostError::InsufficientDepth {
                side: Side::Buy,
                visible: dec!(2),
                needed: dec!(2.5)
            }
        );
    }

    #[test]
    fn maker_fee_when_asked() {
        let model = BookWalkCostModel {
            fees: Fees {
                maker_bps: dec!(2),
                taker_bps: dec!(7.5),
            },
            liquidity: Liquidity::Maker,
        };
        assert_eq!(
            model.predict(Side::Sell, dec!(1), &book()).unwrap().fee_bps,
            dec!(2)
        );
    }
}
