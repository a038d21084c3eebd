//! Orders in and out: checking a new order against the filters and the account's balance,
//! planning its fills against resting orders and the simulated book, placing and cancelling.

use driftline_core::money::{floor_to_step, is_on_step};
use driftline_core::{EpochMillis, Side};
use rand::Rng;
use rust_decimal::Decimal;

use super::{
    Engine, EngineError, Maker, Market, NewOrder, Order, OrderRef, OrderType, Placement,
    PlannedFill, TimeInForce, VenueStatus, MAX_PRICE,
};

impl Engine {
    /// Checks an order against the venue's rules and the account's balance without placing it
    /// (`order/test`).
    ///
    /// # Errors
    /// As [`Engine::place_order`].
    pub fn test_order(&self, account: &str, new: &NewOrder) -> Result<(), EngineError> {
        self.prepare(account, new).map(|_| ())
    }

    /// Places an order: validates it, matches what crosses, rests the rest (GTC) or expires it.
    ///
    /// # Errors
    /// [`EngineError`] with the venue's code: unknown symbol, filter failures, insufficient
    /// balance, duplicate client order id, a LIMIT_MAKER that would take.
    pub fn place_order(
        &mut self,
        account: &str,
        new: NewOrder,
        now: EpochMillis,
    ) -> Result<Placement, EngineError> {
        let prepared = self.prepare(account, &new)?;
        let m = self.market(&new.symbol)?;
        let (base, quote) = (m.symbol.base().clone(), m.symbol.quote().clone());
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let client_order_id = match new.client_order_id {
            Some(c) => c,
            None => self.generated_client_id(),
        };
        let locked_asset = if new.side == Side::Buy { &quote } else { &base };
        self.move_to_locked(account, locked_asset, prepared.lock);
        let is_limit = new.order_type != OrderType::Market;
        let order = Order {
            order_id,
            symbol: new.symbol.clone(),
            account: account.to_owned(),
            client_order_id,
            side: new.side,
            order_type: new.order_type,
            time_in_force: new.time_in_force.unwrap_or(TimeInForce::Gtc),
            price: new.price.filter(|_| is_limit).unwrap_or_default(),
            orig_qty: prepared.orig_qty,
            executed_qty: Decimal::ZERO,
            cumulative_quote_qty: Decimal::ZERO,
            orig_quote_order_qty: new.quote_order_qty.unwrap_or_default(),
            status: VenueStatus::New,
            time: now,
            update_time: now,
            locked: prepared.lock,
            lock_price: (new.side == Side::Buy && is_limit)
                .then_some(new.price.unwrap_or_default()),
        };
        self.orders.insert(order_id, order);
        let first_fill = self.fills.len();
        if !prepared.expire_unfilled {
            for planned in &prepared.fills {
                self.execute(order_id, *planned, now);
            }
        }
        let rests = new.order_type == OrderType::LimitMaker
            || (new.order_type == OrderType::Limit && new.time_in_force == Some(TimeInForce::Gtc));
        let filled_by_budget =
            new.quote_order_qty.is_some() && !prepared.book_exhausted && !prepared.fills.is_empty();
        let final_status = {
            let o = self
                .orders
                .get(&order_id)
                .ok_or(EngineError::OrderNotFound)?;
            if o.executed_qty >= o.orig_qty && o.orig_qty > Decimal::ZERO || filled_by_budget {
                Some(VenueStatus::Filled)
            } else if rests {
                None
            } else {
                Some(VenueStatus::Expired)
            }
        };
        if let Some(status) = final_status {
            self.close(order_id, status, now);
        }
        self.update_id += 1;
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or(EngineError::OrderNotFound)?;
        let fills = self
            .fills
            .get(first_fill..)
            .unwrap_or_default()
            .iter()
            .filter(|f| f.order_id == order_id)
            .cloned()
            .collect();
        Ok(Placement { order, fills })
    }

    /// Cancels an open order and releases what it held.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`]; [`EngineError::UnknownOrderToCancel`] for an order that
    /// does not exist or is no longer open.
    pub fn cancel_order(
        &mut self,
        account: &str,
        symbol: &str,
        by: &OrderRef,
        now: EpochMillis,
    ) -> Result<Order, EngineError> {
        let id = match self.order(account, symbol, by) {
            Ok(o) if o.status.is_open() => o.order_id,
            Ok(_) | Err(EngineError::OrderNotFound) => {
                return Err(EngineError::UnknownOrderToCancel)
            }
            Err(e) => return Err(e),
        };
        self.close(id, VenueStatus::Canceled, now);
        self.update_id += 1;
        self.orders
            .get(&id)
            .cloned()
            .ok_or(EngineError::UnknownOrderToCancel)
    }

    fn generated_client_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..22)
            .map(|_| {
                let i = self.rng.random_range(0..ALPHABET.len());
                ALPHABET.get(i).map_or('x', |b| char::from(*b))
            })
            .collect()
    }

    fn prepare(&self, account: &str, new: &NewOrder) -> Result<Prepared, EngineError> {
        let m = self.market(&new.symbol)?;
        let f = &m.filters;
        let acct = self
            .accounts
            .get(account)
            .ok_or(EngineError::UnknownAccount)?;
        let is_limit = new.order_type != OrderType::Market;
        if is_limit {
            let price = new.price.ok_or(EngineError::InvalidPrice)?;
            if price <= Decimal::ZERO {
                return Err(EngineError::InvalidPrice);
            }
            if price < f.tick_size() || price > MAX_PRICE || !is_on_step(price, f.tick_size()) {
                return Err(EngineError::Filter("PRICE_FILTER"));
            }
        }
        if let Some(q) = new.quantity {
            if q <= Decimal::ZERO {
                return Err(EngineError::InvalidQuantity);
            }
            if q < f.min_qty()
                || f.max_qty().is_some_and(|max| q > max)
                || !is_on_step(q, f.step_size())
            {
                return Err(EngineError::Filter(if is_limit {
                    "LOT_SIZE"
                } else {
                    "MARKET_LOT_SIZE"
                }));
            }
        }
        if let Some(q) = new.quote_order_qty {
            if q <= Decimal::ZERO {
                return Err(EngineError::InvalidQuantity);
            }
        }
        let notional = match (new.quantity, new.price, new.quote_order_qty) {
            (_, _, Some(quote)) => quote,
            (Some(q), Some(p), None) if is_limit => q * p,
            (Some(q), _, None) => q * m.mid,
            (None, _, None) => return Err(EngineError::InvalidQuantity),
        };
        if notional < f.min_notional() {
            return Err(EngineError::Filter("NOTIONAL"));
        }
        if let Some(cid) = &new.client_order_id {
            if self
                .orders
                .values()
                .any(|o| o.account == account && o.status.is_open() && &o.client_order_id == cid)
            {
                return Err(EngineError::DuplicateOrder);
            }
        }
        let limit = new.price.filter(|_| is_limit);
        // A buy of an amount of the quote spends that amount in all. Where the venue charges a
        // buy's fee in the quote on top (Coinbase's `quote_size`), the fee comes out of it: the
        // trades get what is left after the taker fee, which they always pay.
        let budget = new.quote_order_qty.map(|q| {
            if new.side == Side::Buy && self.buy_fee_in_quote {
                q / (Decimal::ONE + self.fees.taker)
            } else {
                q
            }
        });
        let (fills, book_exhausted) = self.plan_taker(m, new.side, limit, new.quantity, budget);
        if new.order_type == OrderType::LimitMaker && !fills.is_empty() {
            return Err(EngineError::WouldTake);
        }
        let planned_qty: Decimal = fills.iter().map(|p| p.qty).sum();
        let planned_cost: Decimal = fills.iter().map(|p| p.qty * p.price).sum();
        let expire_unfilled = new.time_in_force == Some(TimeInForce::Fok)
            && new.quantity.is_some_and(|q| planned_qty < q);
        let orig_qty = new.quantity.unwrap_or(planned_qty);
        let lock = match (new.side, limit) {
            (Side::Buy, Some(price)) => self.buy_hold(orig_qty * price),
            (Side::Buy, None) => self.buy_hold(planned_cost),
            (Side::Sell, _) => new.quantity.unwrap_or(planned_qty),
        };
        let (base, quote) = (m.symbol.base(), m.symbol.quote());
        let asset = if new.side == Side::Buy { quote } else { base };
        let free = acct.balances.get(asset).map(|b| b.free).unwrap_or_default();
        if free < lock {
            return Err(EngineError::InsufficientBalance);
        }
        Ok(Prepared {
            fills,
            book_exhausted,
            expire_unfilled,
            orig_qty,
            lock,
        })
    }

    /// What an incoming order would take, best price first; at one price the simulated depth
    /// (which was there first) before resting orders, those oldest first. Returns the fills and
    /// whether the book ran out before the order's size or budget did.
    fn plan_taker(
        &self,
        m: &Market,
        side: Side,
        limit: Option<Decimal>,
        qty: Option<Decimal>,
        budget: Option<Decimal>,
    ) -> (Vec<PlannedFill>, bool) {
        let opposite = if side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
        let mut candidates: Vec<(Decimal, u64, Maker, Decimal)> =
            Self::simulated_levels(m, opposite)
                .into_iter()
                .map(|(p, q)| (p, 0, Maker::Simulated, q))
                .collect();
        candidates.extend(
            self.open_orders_in(&m.name)
                .filter(|o| o.side == opposite)
                .map(|o| {
                    (
                        o.price.normalize(),
                        o.order_id,
                        Maker::Resting(o.order_id),
                        o.remaining(),
                    )
                }),
        );
        candidates.sort_by(|a, b| {
            let by_price = if side == Side::Buy {
                a.0.cmp(&b.0)
            } else {
                b.0.cmp(&a.0)
            };
            by_price.then(a.1.cmp(&b.1))
        });
        let step = m.filters.step_size();
        let mut qty_left = qty;
        let mut budget_left = budget;
        let mut fills = Vec::new();
        for (price, _, maker, available) in candidates {
            if let Some(l) = limit {
                if (side == Side::Buy && price > l) || (side == Side::Sell && price < l) {
                    break;
                }
            }
            let mut take = available;
            if let Some(q) = qty_left {
                take = take.min(q);
            }
            if let Some(b) = budget_left {
                take = take.min(floor_to_step(b / price, step));
            }
            let take = floor_to_step(take, step);
            if take > Decimal::ZERO {
                fills.push(PlannedFill {
                    maker,
                    price,
                    qty: take,
                });
                qty_left = qty_left.map(|q| q - take);
                budget_left = budget_left.map(|b| b - take * price);
            }
            let done = qty_left.is_some_and(|q| q <= Decimal::ZERO)
                || budget_left.is_some_and(|b| {
                    take < available && floor_to_step(b / price, step) <= Decimal::ZERO
                });
            if done {
                return (fills, false);
            }
        }
        (fills, true)
    }
}

/// A checked new order: its planned fills, whether planning ran out of book, whether it expires
/// unfilled (a FOK the book cannot fill in full), its quantity and the amount it locks.
struct Prepared {
    fills: Vec<PlannedFill>,
    book_exhausted: bool,
    expire_unfilled: bool,
    orig_qty: Decimal,
    lock: Decimal,
}
