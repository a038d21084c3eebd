//! Moving money for a fill: locks, credits, fees in the asset received or, for a buy where the
//! venue charges it so, in the quote on top (rounded to the venue's precision), the simulated market's side of each trade, and closing a finished order.

use driftline_core::{Asset, EpochMillis, Side};
use rust_decimal::Decimal;

use super::{dp, Engine, Fill, Maker, PlannedFill, PublicTrade, VenueStatus, ASSET_PRECISION};

impl Engine {
    pub(super) fn move_to_locked(&mut self, account: &str, asset: &Asset, amount: Decimal) {
        if let Some(a) = self.accounts.get_mut(account) {
            let b = a.balances.entry(asset.clone()).or_default();
            b.free -= amount;
            b.locked += amount;
        }
    }

    fn credit(&mut self, account: &str, asset: &Asset, amount: Decimal) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.balances.entry(asset.clone()).or_default().free += amount;
        }
    }

    pub(super) fn execute(&mut self, taker_id: u64, planned: PlannedFill, now: EpochMillis) {
        let trade_id = self.settle_taker(taker_id, planned.price, planned.qty, now);
        match planned.maker {
            Maker::Simulated => {
                if let Some(side) = self.orders.get(&taker_id).map(|o| o.side) {
                    if let Some(m) = self
                        .markets
                        .get_mut(self.orders.get(&taker_id).map_or("", |o| o.symbol.as_str()))
                    {
                        *m.consumed
                            .entry((side == Side::Sell, planned.price))
                            .or_default() += planned.qty;
                    }
                }
            }
            Maker::Resting(maker_id) => {
                self.settle_maker(maker_id, planned.price, planned.qty, trade_id, now);
            }
        }
    }

    /// Books the taker's side of a trade; the counterparty is the simulated market unless the
    /// caller then books a resting maker with the same trade id.
    fn settle_taker(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        now: EpochMillis,
    ) -> Option<u64> {
        let rate = self.fees.taker;
        let trade_id = self.settle(order_id, price, qty, rate, false, None, now)?;
        Some(trade_id)
    }

    pub(super) fn settle_maker(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        trade_id: Option<u64>,
        now: EpochMillis,
    ) {
        let rate = self.fees.maker;
        let _ = self.settle(order_id, price, qty, rate, true, trade_id, now);
        // A resting order that is now filled leaves the book and frees what it still holds.
        if self
            .orders
            .get(&order_id)
            .is_some_and(|o| o.executed_qty >= o.orig_qty)
        {
            self.close(order_id, VenueStatus::Filled, now);
        }
    }

    /// Moves the money of one order's side of a trade and records the fill. The flow to the
    /// other side is booked against the simulated market; a resting counterparty's own
    /// settlement cancels that flow out, so the venue's books always balance.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        rate: Decimal,
        is_maker: bool,
        trade_id: Option<u64>,
        now: EpochMillis,
    ) -> Option<u64> {
        let o = self.orders.get(&order_id)?.clone();
        let m = self.markets.get_mut(&o.symbol)?;
        m.last_price = Some(price);
        let (base, quote) = (m.symbol.base().clone(), m.symbol.quote().clone());
        let quote_qty = qty * price;
        let (paid_asset, paid, got_asset, got) = if o.side == Side::Buy {
            (quote.clone(), quote_qty, base.clone(), qty)
        } else {
            (base.clone(), qty, quote.clone(), quote_qty)
        };
        let release = match (o.side, o.lock_price) {
            (Side::Buy, Some(limit)) => self.buy_hold(qty * limit),
            (Side::Buy, None) => self.buy_hold(quote_qty),
            (Side::Sell, _) => qty,
        };
        // The fee comes out of what is received, except a buy's where the venue charges it in
        // the quote: then on top of what is paid, rounded down so that it never takes more
        // than the fill's share of the hold (exactly `paid × rate` at the limit).
        let fee_on_top = o.side == Side::Buy && self.buy_fee_in_quote;
        let (fee_asset, commission, paid_fee, got_fee) = if fee_on_top {
            let fee = (paid * rate)
                .round_dp_with_strategy(ASSET_PRECISION, rust_decimal::RoundingStrategy::ToZero)
                .normalize();
            (paid_asset.clone(), fee, fee, Decimal::ZERO)
        } else {
            let fee = dp(got * rate);
            (got_asset.clone(), fee, Decimal::ZERO, fee)
        };
        if let Some(a) = self.accounts.get_mut(&o.account) {
            let b = a.balances.entry(paid_asset.clone()).or_default();
            b.locked -= release;
            b.free += release - paid - paid_fee;
        }
        let kept = got - got_fee;
        self.credit(&o.account, &got_asset, kept);
        *self.fees_collected.entry(fee_asset.clone()).or_default() += commission;
        *self.simulated_flow.entry(paid_asset).or_default() += paid;
        *self.simulated_flow.entry(got_asset.clone()).or_default() -= got;
        let trade_id = trade_id.unwrap_or_else(|| {
            let id = self.next_trade_id;
            self.next_trade_id += 1;
            // A new trade id is a new trade on the tape (a resting maker's side of an account's
            // trade comes in with the taker's id and is already there).
            if let Some(m) = self.markets.get_mut(&o.symbol) {
                m.history.record_trade(PublicTrade {
                    id,
                    price,
                    qty,
                    time: now,
                    is_buyer_maker: (o.side == Side::Buy) == is_maker,
                    taker_order: (!is_maker).then_some(order_id),
                });
            }
            id
        });
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.locked -= release;
            order.executed_qty += qty;
            order.cumulative_quote_qty += quote_qty;
            order.update_time = now;
            if order.status == VenueStatus::New && order.executed_qty < order.orig_qty {
                order.status = VenueStatus::PartiallyFilled;
            }
        }
        self.fills.push(Fill {
            trade_id,
            order_id,
            symbol: o.symbol.clone(),
            account: o.account.clone(),
            side: o.side,
            price,
            qty,
            quote_qty,
            commission,
            commission_asset: fee_asset,
            is_maker,
            time: now,
        });
        Some(trade_id)
    }

    /// Ends an order: sets its final status and gives back whatever it still holds.
    pub(super) fn close(&mut self, order_id: u64, status: VenueStatus, now: EpochMillis) {
        let Some(o) = self.orders.get_mut(&order_id) else {
            return;
        };
        let held = o.locked;
        o.locked = Decimal::ZERO;
        o.status = status;
        o.update_time = now;
        let (account, side, symbol) = (o.account.clone(), o.side, o.symbol.clone());
        let Some(m) = self.markets.get(&symbol) else {
            return;
        };
        let asset = if side == Side::Buy {
            m.symbol.quote().clone()
        } else {
            m.symbol.base().clone()
        };
        if let Some(a) = self.accounts.get_mut(&account) {
            let b = a.balances.entry(asset).or_default();
            b.locked -= held;
            b.free += held;
        }
    }
}
