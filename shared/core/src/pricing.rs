//! The one pricing rule of a limit order: where in the spread it starts (`limit_offset`) and
//! the worst price its slippage budget accepts. The planner prices an intent with it against
//! the book it plans on, the executor against the book it meets when it places the intent (or a
//! re-priced leg), so what `driftline plan` shows is what is sent when the book has not moved.

use rust_decimal::Decimal;

use crate::money::{ceil_to_step, floor_to_step, BPS};
use crate::Side;

/// The worst price a slippage budget of `budget_bps` accepts around `mid`, on the tick grid:
/// `mid × (1 + budget)` rounded down for a buy, `mid × (1 − budget)` rounded up for a sell, so
/// the rounding never widens the budget.
pub fn worst_price(side: Side, mid: Decimal, budget_bps: Decimal, tick: Decimal) -> Decimal {
    SlippageBudget::of(budget_bps).worst_price(side, mid, tick)
}

/// A slippage budget as the multiples of the mid it accepts, for pricing many orders under one
/// policy: [`worst_price`] without its division for each order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlippageBudget {
    /// 1 + the budget: a buy's worst price over the mid.
    buy: Decimal,
    /// 1 − the budget: a sell's worst price over the mid.
    sell: Decimal,
}

impl SlippageBudget {
    pub(crate) fn of(budget_bps: Decimal) -> Self {
        let budget = budget_bps / BPS;
        Self {
            buy: Decimal::ONE + budget,
            sell: Decimal::ONE - budget,
        }
    }

    /// See [`worst_price`].
    pub(crate) fn worst_price(self, side: Side, mid: Decimal, tick: Decimal) -> Decimal {
        match side {
            Side::Buy => floor_to_step(mid * self.buy, tick),
            Side::Sell => ceil_to_step(mid * self.sell, tick),
        }
    }
}

/// The limit price `offset` of the way across the spread from the passive touch (0: the best
/// bid for a buy, the best ask for a sell; 0.5: the mid; 1: the far touch), rounded to the tick
/// toward the passive side, kept inside the spread and never beyond `worst`.
///
/// `bid` ≤ `ask` (an uncrossed book) and `offset` in [0, 1] (a validated policy).
pub fn limit_price(
    side: Side,
    bid: Decimal,
    ask: Decimal,
    offset: Decimal,
    worst: Decimal,
    tick: Decimal,
) -> Decimal {
    let spread = ask - bid;
    match side {
        Side::Buy => {
            let worst = floor_to_step(worst, tick);
            let limit = floor_to_step(bid + offset * spread, tick);
            limit.clamp(bid.min(worst), ask).min(worst)
        }
        Side::Sell => {
            let worst = ceil_to_step(worst, tick);
            let limit = ceil_to_step(ask - offset * spread, tick);
            limit.clamp(bid, ask.max(worst)).max(worst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    // Book 99.90 / 100.10, tick 0.01, worst far away unless the case says otherwise.
    #[rstest]
    #[case::buy_passive_touch(Side::Buy, dec!(0), dec!(101), dec!(99.90))]
    #[case::buy_tenth(Side::Buy, dec!(0.1), dec!(101), dec!(99.92))]
    #[case::buy_mid(Side::Buy, dec!(0.5), dec!(101), dec!(100.00))]
    #[case::buy_nine_tenths(Side::Buy, dec!(0.9), dec!(101), dec!(100.08))]
    #[case::buy_far_touch(Side::Buy, dec!(1), dec!(101), dec!(100.10))]
    #[case::buy_capped_by_worst(Side::Buy, dec!(0.9), dec!(100.05), dec!(100.05))]
    #[case::buy_worst_below_bid(Side::Buy, dec!(0.5), dec!(99.5), dec!(99.5))]
    #[case::sell_passive_touch(Side::Sell, dec!(0), dec!(99), dec!(100.10))]
    #[case::sell_tenth(Side::Sell, dec!(0.1), dec!(99), dec!(100.08))]
    #[case::sell_mid(Side::Sell, dec!(0.5), dec!(99), dec!(100.00))]
    #[case::sell_nine_tenths(Side::Sell, dec!(0.9), dec!(99), dec!(99.92))]
    #[case::sell_capped_by_worst(Side::Sell, dec!(0.9), dec!(99.95), dec!(99.95))]
    #[case::sell_worst_above_ask(Side::Sell, dec!(0.5), dec!(100.5), dec!(100.5))]
    fn the_offset_places_the_limit_across_the_spread_within_the_budget(
        #[case] side: Side,
        #[case] offset: Decimal,
        #[case] worst: Decimal,
        #[case] want: Decimal,
    ) {
        assert_eq!(
            limit_price(side, dec!(99.90), dec!(100.10), offset, worst, dec!(0.01)),
            want
        );
    }

    #[test]
    fn a_price_between_ticks_rounds_toward_the_passive_side() {
        // Spread 0.03: a third of it is 0.01, a half is 0.015.
        let (bid, ask) = (dec!(100.00), dec!(100.03));
        assert_eq!(
            limit_price(Side::Buy, bid, ask, dec!(0.5), dec!(101), dec!(0.01)),
            dec!(100.01)
        );
        assert_eq!(
            limit_price(Side::Sell, bid, ask, dec!(0.5), dec!(99), dec!(0.01)),
            dec!(100.02)
        );
    }

    #[test]
    fn the_worst_price_never_widens_the_budget_by_rounding() {
        assert_eq!(
            worst_price(Side::Buy, dec!(100), dec!(25), dec!(0.1)),
            dec!(100.2)
        );
        assert_eq!(
            worst_price(Side::Sell, dec!(100), dec!(25), dec!(0.1)),
            dec!(99.8)
        );
    }
}
