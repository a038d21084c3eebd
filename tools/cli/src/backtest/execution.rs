//! How a backtest's intents become fills.
//!
//! [`ExecutionModel::InstantTaker`] fills every intent at once as a taker at the cost model's
//! figures ([`VenueAccount::fill`]). [`ExecutionModel::Limit`] executes the way the executor
//! does, through the same core rules (`decide_execution`, and `limit_price` through it), against
//! the simulated books of each step:
//!
//! - **Placement**, at the plan's step: `decide_execution` on the remainder. `Place` at a price
//!   that crosses the opposite touch fills at once as a taker, walking the book up to the limit;
//!   what is left rests at the limit. `Thin` waits for depth; `Dust` is dropped. A buy paid for
//!   by its plan's sells waits until every sell of that plan is final, as the executor's buy
//!   does, and every buy is sized down to the cash free when it is placed.
//! - **Following**, at every later step, before the policy plans: a resting order fills as a
//!   maker at its own price against the simulated levels on the other side that reach it (the
//!   paper exchange's rule: our order is first in the queue at its price), up to those levels'
//!   quantity; past its deadline the remainder is cancelled; else, when the market moved away
//!   (a better bid than our buy, a better ask than our sell), the remainder is priced again by
//!   `decide_execution` against the current book. A waiting order tries again until its deadline.
//! - **Locks**: a resting buy holds its limit × remainder of quote plus a fee reserve at the
//!   venue's higher fee, a resting sell its remainder of base. The planner sees free balances and
//!   the working orders as in flight, as the scheduler does.
//!
//! Every fill of `q` at price `p` (the average over the levels walked for a taker fill) moves
//! exactly `p × q` and charges the maker or taker fee rounded up to [`CHARGE_PRECISION`] in the
//! quote asset. Its cost is the implementation shortfall against the decision mid `d` (the mid
//! of the step whose plan made the intent): `q × (p − d)` for a buy, `q × (d − p)` for a sell
//! (negative when a maker fill beats it), plus the fee. The market's move between the decision
//! and the step that saw the fill, on the filled quantity, is not a cost of trading and is kept
//! apart: `q × (d − mid)` for a buy, `q × (mid − d)` for a sell, with `mid` the step's. So at
//! every step `value before = value after + cost + moved since decision` exactly, at that
//! step's mids.

use driftline_core::money::{ceil_to_step, floor_to_step, BPS};
use driftline_core::orders::{decide_execution, ExecutionDecision};
use driftline_core::ports::Venue;
use driftline_core::{
    Asset, EpochMillis, InFlightOrder, Liquidity, MarketSnapshot, Markets, OrderBook, OrderIntent,
    Price, Side,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::venues::{VenueAccount, CHARGE_PRECISION};
use super::PolicyResult;

/// How a backtest executes the planner's intents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionModel {
    /// Limit orders as the executor places and follows them, through core's
    /// `decide_execution`: priced inside the spread, resting until the market reaches them,
    /// re-priced when it moves away, cancelled at their deadline.
    #[default]
    Limit,
    /// Every intent fills at once as a taker at the cost model's prediction.
    InstantTaker,
}

/// What the limit model did with a policy's orders (all zero but `taker_fills` under
/// [`ExecutionModel::InstantTaker`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionStats {
    /// Intents the plans sent to the accounts.
    pub orders: u64,
    /// Fills of resting orders, charged the maker fee.
    pub maker_fills: u64,
    /// Fills of orders that crossed the spread when placed or re-priced, charged the taker fee.
    pub taker_fills: u64,
    /// Remainders priced again because the market moved away from them.
    pub repriced: u64,
    /// Times an order found the book too thin within its worst price and waited.
    pub thin_waits: u64,
    /// Orders cancelled at their deadline with something unfilled.
    pub expired: u64,
    /// What those remainders were worth at their decision mids.
    #[serde(with = "driftline_core::exact")]
    pub expired_notional: Decimal,
    /// Orders dropped because what was left of them was below the exchange's minimums.
    pub dust_dropped: u64,
    /// Orders still working after the last step.
    pub open_at_end: u64,
    /// What fills paid beyond their decision mid, signed (negative: better than the mid).
    #[serde(with = "driftline_core::exact")]
    pub slippage_quote: Decimal,
    /// The filled quantities at their decision mids.
    #[serde(with = "driftline_core::exact")]
    pub reference_notional: Decimal,
    /// `slippage_quote` in bps of `reference_notional`, once something filled.
    #[serde(with = "driftline_core::exact::option")]
    pub average_slippage_bps: Option<Decimal>,
}

/// One fill of the limit model (kept with `RunOptions::record_series`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulatedFill {
    pub step: usize,
    pub venue: Venue,
    pub asset: Asset,
    pub side: Side,
    pub liquidity: Liquidity,
    #[serde(with = "driftline_core::exact")]
    pub quantity: Decimal,
    /// Exactly what changed hands in the quote asset.
    #[serde(with = "driftline_core::exact")]
    pub notional: Decimal,
    /// The order's limit when it filled.
    pub limit: Price,
    /// The worst price its intent's slippage budget accepts.
    pub worst: Price,
    /// The highest price paid (a buy) or the lowest received (a sell) in this fill.
    pub least_favourable: Price,
    #[serde(with = "driftline_core::exact")]
    pub fee_bps: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub fee: Decimal,
    /// The mid of the step whose plan made the intent: what the cost is measured against.
    #[serde(with = "driftline_core::exact")]
    pub decision_mid: Decimal,
    /// The mid of the step that saw the fill, at which the step's values are taken.
    #[serde(with = "driftline_core::exact")]
    pub mid: Decimal,
    /// The implementation shortfall against `decision_mid` and the fee: `quantity ×
    /// (price − decision_mid)` for a buy, `quantity × (decision_mid − price)` for a sell, plus
    /// `fee`.
    #[serde(with = "driftline_core::exact")]
    pub cost: Decimal,
    /// What the market's move from `decision_mid` to `mid` took from the filled quantity's
    /// value: `quantity × (decision_mid − mid)` for a buy, `quantity × (mid − decision_mid)`
    /// for a sell (negative when the move was in the fill's favour). Not a cost of trading.
    #[serde(with = "driftline_core::exact")]
    pub moved_since_decision: Decimal,
}

/// Where a working order of the limit model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OrderState {
    /// The book did not show the remainder within the worst price: tried again next step.
    WaitingForDepth,
    /// A buy paid for by its plan's sells, some of them still working.
    WaitingForSells,
    /// On the book at `price`.
    Resting { price: Price },
}

/// An order of the limit model, from its intent to a final state.
#[derive(Debug, Clone)]
pub(super) struct WorkingOrder {
    pub(super) intent: OrderIntent,
    /// What the order is for: the intent's quantity, less once a buy was sized to the cash.
    pub(super) quantity: Decimal,
    pub(super) filled: Decimal,
    pub(super) state: OrderState,
    /// The step of the plan that made it.
    pub(super) created_step: usize,
}

impl WorkingOrder {
    pub(super) fn remaining(&self) -> Decimal {
        (self.quantity - self.filled).max(Decimal::ZERO)
    }

    /// The order as the scheduler hands it to the planner.
    pub(super) fn in_flight(&self) -> InFlightOrder {
        InFlightOrder {
            symbol: self.intent.symbol.clone(),
            side: self.intent.side,
            remaining: self.remaining(),
            limit_price: match self.state {
                OrderState::Resting { price } => price,
                _ => self.intent.limit_price,
            },
            account: self.intent.account.clone(),
            placed: matches!(self.state, OrderState::Resting { .. }),
        }
    }

    /// What the order holds on its account: quote for a resting buy (its limit × remainder
    /// and the fee at `reserve_bps` on it, rounded up), base for a resting sell; nothing while
    /// it waits (nothing is on the exchange).
    pub(super) fn locked(&self, reserve_bps: Decimal) -> Option<(&Asset, Decimal)> {
        let OrderState::Resting { price } = self.state else {
            return None;
        };
        let remaining = self.remaining();
        Some(match self.intent.side {
            Side::Buy => (
                self.intent.symbol.quote(),
                buy_outlay(price.value(), remaining, reserve_bps),
            ),
            Side::Sell => (self.intent.symbol.base(), remaining),
        })
    }

    fn expired(&self, now_ms: EpochMillis) -> bool {
        now_ms >= self.intent.expires_at_ms
    }
}

/// The most a buy of `quantity` at `price` can cost with its fee at `fee_bps`.
fn buy_outlay(price: Decimal, quantity: Decimal, fee_bps: Decimal) -> Decimal {
    let notional = price * quantity;
    notional + ceil_to_step(notional * fee_bps / BPS, CHARGE_PRECISION)
}

/// Whether a limit order at `price` would trade at once against `book`.
pub(super) fn crosses(side: Side, price: Price, book: &OrderBook) -> bool {
    match side {
        Side::Buy => book.best_ask().is_some_and(|a| a <= price),
        Side::Sell => book.best_bid().is_some_and(|b| b >= price),
    }
}

/// Whether the market left an order at `price` behind: a better bid than our buy, a better ask
/// than our sell (the executor's follow-up rule).
pub(super) fn behind(side: Side, price: Price, book: &OrderBook) -> bool {
    match side {
        Side::Buy => book.best_bid().is_some_and(|b| b > price),
        Side::Sell => book.best_ask().is_some_and(|a| a < price),
    }
}

/// The levels on the other side of `book` that reach `price`, best first.
fn levels_reaching(
    side: Side,
    price: Price,
    book: &OrderBook,
) -> impl Iterator<Item = (Price, Decimal)> + '_ {
    book.consumed_by(side)
        .iter()
        .take_while(move |l| match side {
            Side::Buy => l.price <= price,
            Side::Sell => l.price >= price,
        })
        .map(|l| (l.price, l.quantity))
}

/// What a limit order of `quantity` at `price` takes from `book` at once, level by level at the
/// levels' prices, each take rounded down to `step`: the quantity, the notional and the least
/// favourable price, or `None` when nothing trades.
pub(super) fn take_crossing(
    side: Side,
    price: Price,
    quantity: Decimal,
    book: &OrderBook,
    step: Decimal,
) -> Option<(Decimal, Decimal, Price)> {
    let (mut left, mut notional, mut last) = (quantity, Decimal::ZERO, None);
    for (level, available) in levels_reaching(side, price, book) {
        let take = floor_to_step(left.min(available), step);
        if take <= Decimal::ZERO {
            break;
        }
        left -= take;
        notional += take * level.value();
        last = Some(level);
    }
    last.map(|p| (quantity - left, notional, p))
}

/// What a resting order of `remaining` at `price` fills against `book`: the quantity of the
/// levels that reach its price, at most the remainder, rounded down to `step`.
pub(super) fn resting_fill(
    side: Side,
    price: Price,
    remaining: Decimal,
    book: &OrderBook,
    step: Decimal,
) -> Decimal {
    let reached: Decimal = levels_reaching(side, price, book).map(|(_, q)| q).sum();
    floor_to_step(reached.min(remaining), step)
}

/// What one step of the limit model adds up to over a policy's accounts.
pub(super) struct StepExecution {
    pub(super) step: usize,
    pub(super) now_ms: EpochMillis,
    /// The cost of the step's fills, summed.
    pub(super) cost: Decimal,
    /// The market's move since their decisions on the step's fills, summed.
    pub(super) moved_since_decision: Decimal,
    pub(super) fills: u64,
}

impl StepExecution {
    pub(super) fn new(step: usize, now_ms: EpochMillis) -> Self {
        Self {
            step,
            now_ms,
            cost: Decimal::ZERO,
            moved_since_decision: Decimal::ZERO,
            fills: 0,
        }
    }
}

impl VenueAccount {
    /// Whether a working order needs the full books of this step, judged on `touch` (this
    /// venue's touch-only books): one that the market reaches, one to re-price, one to place.
    pub(super) fn needs_depth(&self, touch: &Markets, now_ms: EpochMillis) -> bool {
        self.working.iter().any(|o| {
            let Some(market) = touch.get(o.intent.symbol.base()) else {
                return false;
            };
            match o.state {
                OrderState::Resting { price } => {
                    crosses(o.intent.side, price, &market.book)
                        || (!o.expired(now_ms) && behind(o.intent.side, price, &market.book))
                }
                OrderState::WaitingForDepth | OrderState::WaitingForSells => !o.expired(now_ms),
            }
        })
    }

    /// Follows this account's working orders on `side` at this step against `markets` (this
    /// venue's books): fills, cancels at the deadline, re-prices, retries. `open_sells` lists
    /// the plans (by step) whose sells are still working on any account.
    pub(super) fn follow(
        &mut self,
        side: Side,
        markets: &Markets,
        open_sells: &[usize],
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) {
        let mut i = 0;
        while i < self.working.len() {
            if self.working[i].intent.side != side {
                i += 1;
                continue;
            }
            // Out of the list while it is handled, so the free balances it is sized against
            // leave out its own lock.
            let order = self.working.remove(i);
            let Some(market) = markets.get(order.intent.symbol.base()) else {
                self.working.insert(i, order);
                i += 1;
                continue;
            };
            if let Some(order) = self.follow_one(order, market, open_sells, at, totals) {
                self.working.insert(i, order);
                i += 1;
            }
            self.changed = true;
        }
    }

    fn follow_one(
        &mut self,
        mut order: WorkingOrder,
        market: &MarketSnapshot,
        open_sells: &[usize],
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) -> Option<WorkingOrder> {
        match order.state {
            OrderState::Resting { price } => {
                let side = order.intent.side;
                let step = market.filters.step_size();
                let mut quantity = resting_fill(side, price, order.remaining(), &market.book, step);
                if side == Side::Buy {
                    let quote = order.intent.symbol.quote();
                    quantity = self.payable(quote, price, quantity, self.fees.maker_bps, step);
                }
                if quantity > Decimal::ZERO {
                    let notional = quantity * price.value();
                    let fill = Taken {
                        quantity,
                        notional,
                        least_favourable: price,
                        limit: price,
                        liquidity: Liquidity::Maker,
                    };
                    self.apply_fill(&mut order, &fill, market, at, totals);
                }
                if order.remaining().is_zero() {
                    return None;
                }
                if order.expired(at.now_ms) {
                    self.expire(&order, totals);
                    return None;
                }
                if behind(side, price, &market.book) {
                    if let ExecutionDecision::Place { price, quantity } = decide_execution(
                        &order.intent,
                        order.remaining(),
                        &market.book,
                        &market.filters,
                    ) {
                        totals.execution.repriced += 1;
                        return self.enter(order, price, quantity, market, at, totals);
                    }
                    // Not within budget now: it keeps resting, as the executor leaves it.
                }
                Some(order)
            }
            OrderState::WaitingForDepth | OrderState::WaitingForSells => {
                if order.expired(at.now_ms) {
                    // The executor's claim refuses an intent past its deadline.
                    self.expire(&order, totals);
                    return None;
                }
                if order.state == OrderState::WaitingForSells
                    && open_sells.contains(&order.created_step)
                {
                    return Some(order);
                }
                self.attempt(order, market, at, totals)
            }
        }
    }

    /// Takes a new intent of the plan made at this step to the book, as the executor does
    /// seconds later. `sells_open`: some sell of the same plan is still working.
    pub(super) fn submit(
        &mut self,
        intent: OrderIntent,
        markets: &Markets,
        sells_open: bool,
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) {
        totals.execution.orders += 1;
        let waits = intent.side == Side::Buy && intent.funded_by_sells && sells_open;
        let order = WorkingOrder {
            quantity: intent.quantity,
            filled: Decimal::ZERO,
            state: if waits {
                OrderState::WaitingForSells
            } else {
                OrderState::WaitingForDepth
            },
            created_step: at.step,
            intent,
        };
        self.changed = true;
        if waits {
            self.working.push(order);
            return;
        }
        let Some(market) = markets.get(order.intent.symbol.base()) else {
            // The plan was made on these books: an intent without a market cannot be placed.
            totals.rejected += 1;
            return;
        };
        if let Some(order) = self.attempt(order, market, at, totals) {
            self.working.push(order);
        }
    }

    /// Prices the remainder with `decide_execution` and acts on it.
    fn attempt(
        &mut self,
        mut order: WorkingOrder,
        market: &MarketSnapshot,
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) -> Option<WorkingOrder> {
        match decide_execution(
            &order.intent,
            order.remaining(),
            &market.book,
            &market.filters,
        ) {
            ExecutionDecision::Thin { .. } => {
                totals.execution.thin_waits += 1;
                order.state = OrderState::WaitingForDepth;
                Some(order)
            }
            ExecutionDecision::Dust { .. } => {
                totals.execution.dust_dropped += 1;
                None
            }
            ExecutionDecision::Place { price, quantity } => {
                self.enter(order, price, quantity, market, at, totals)
            }
        }
    }

    /// Puts `quantity` of the order on the book at `price`: sized to the free balance, what
    /// crosses fills at once as a taker, the rest rests.
    fn enter(
        &mut self,
        mut order: WorkingOrder,
        price: Price,
        quantity: Decimal,
        market: &MarketSnapshot,
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) -> Option<WorkingOrder> {
        let side = order.intent.side;
        let filters = &market.filters;
        let step = filters.step_size();
        let asset = order.intent.symbol.base();
        let sized = match side {
            Side::Buy => {
                let quote = order.intent.symbol.quote();
                self.payable(quote, price, quantity, self.reserve_bps(), step)
            }
            Side::Sell => quantity.min(floor_to_step(self.free(asset), step)),
        };
        if !filters.accepts(sized, price.value()) {
            totals.rejected += 1;
            return None;
        }
        if sized < quantity {
            if side == Side::Buy {
                totals.reduced_to_cash += 1;
            }
            order.quantity = order.filled + sized;
        }
        self.changed = true;
        if crosses(side, price, &market.book) {
            if let Some((q, notional, least_favourable)) =
                take_crossing(side, price, order.remaining(), &market.book, step)
            {
                let fill = Taken {
                    quantity: q,
                    notional,
                    least_favourable,
                    limit: price,
                    liquidity: Liquidity::Taker,
                };
                self.apply_fill(&mut order, &fill, market, at, totals);
            }
        }
        if order.remaining().is_zero() {
            return None;
        }
        order.state = OrderState::Resting { price };
        Some(order)
    }

    /// The largest part of `quantity`, in whole steps, the free cash pays for at `price` with
    /// its fee at `fee_bps`.
    fn payable(
        &self,
        quote: &Asset,
        price: Price,
        quantity: Decimal,
        fee_bps: Decimal,
        step: Decimal,
    ) -> Decimal {
        let free = self.free(quote);
        let p = price.value();
        if buy_outlay(p, quantity, fee_bps) <= free {
            return quantity;
        }
        let per_unit = p * (Decimal::ONE + fee_bps / BPS);
        let mut q = floor_to_step((free / per_unit).min(quantity), step);
        // The division rounds; a step or two less always fits.
        while q > Decimal::ZERO && buy_outlay(p, q, fee_bps) > free {
            q -= step;
        }
        q.max(Decimal::ZERO)
    }

    /// Cancels what is left of `order` at its deadline.
    fn expire(&mut self, order: &WorkingOrder, totals: &mut PolicyResult) {
        let remaining = order.remaining();
        if remaining > Decimal::ZERO {
            totals.execution.expired += 1;
            totals.execution.expired_notional += remaining * order.intent.reference_price.value();
        }
        self.changed = true;
    }

    /// Books `fill` of `order`: exactly its notional moved, the fee charged in the quote
    /// asset, its cost against the decision mid and the market's move since then, at the
    /// step's mid, counted.
    fn apply_fill(
        &mut self,
        order: &mut WorkingOrder,
        fill: &Taken,
        market: &MarketSnapshot,
        at: &mut StepExecution,
        totals: &mut PolicyResult,
    ) {
        let Some(mid) = market.book.mid().map(Price::value) else {
            return;
        };
        let intent = &order.intent;
        let (asset, quote) = (intent.symbol.base(), intent.symbol.quote());
        let fee_bps = self.fees.bps(fill.liquidity);
        let fee = ceil_to_step(fill.notional * fee_bps / BPS, CHARGE_PRECISION);
        // The decision mid: the plan's step's mid, which the planner keeps on the intent.
        let decision_mid = intent.reference_price.value();
        let at_mid = fill.quantity * mid;
        let at_decision = fill.quantity * decision_mid;
        let cash = self.holdings.get(quote).copied().unwrap_or_default();
        let held = self.holdings.get(asset).copied().unwrap_or_default();
        let (cash_after, held_after, slippage, moved_since_decision) = match intent.side {
            Side::Buy => (
                cash - fill.notional - fee,
                held + fill.quantity,
                fill.notional - at_decision,
                at_decision - at_mid,
            ),
            Side::Sell => (
                cash + fill.notional - fee,
                held - fill.quantity,
                at_decision - fill.notional,
                at_mid - at_decision,
            ),
        };
        if cash_after < Decimal::ZERO || held_after < Decimal::ZERO {
            // Sized against the free balances, so never; refused rather than overdrawn.
            totals.rejected += 1;
            return;
        }
        // Implementation shortfall: the step's look is hourly, while the real fill happens
        // when the market reaches the limit, so the move past it is not a cost of trading.
        let cost = slippage + fee;
        self.holdings.insert(quote.clone(), cash_after);
        self.holdings.insert(asset.clone(), held_after);
        self.changed = true;
        order.filled += fill.quantity;
        at.cost += cost;
        at.moved_since_decision += moved_since_decision;
        at.fills += 1;
        totals.trades += 1;
        totals.turnover_quote += fill.notional;
        totals.cost_quote += cost;
        totals.fee_quote += fee;
        totals.moved_since_decision_quote += moved_since_decision;
        let e = &mut totals.execution;
        match fill.liquidity {
            Liquidity::Maker => e.maker_fills += 1,
            Liquidity::Taker => e.taker_fills += 1,
        }
        e.slippage_quote += slippage;
        e.reference_notional += at_decision;
        let r = &mut self.result;
        match intent.side {
            Side::Buy => r.buys += 1,
            Side::Sell => r.sells += 1,
        }
        r.turnover_quote += fill.notional;
        r.cost_quote += cost;
        r.fee_quote += fee;
        if let Some(series) = totals.series.as_mut() {
            series.fills.push(SimulatedFill {
                step: at.step,
                venue: self.venue,
                asset: asset.clone(),
                side: intent.side,
                liquidity: fill.liquidity,
                quantity: fill.quantity,
                notional: fill.notional,
                limit: fill.limit,
                worst: intent.worst_price,
                least_favourable: fill.least_favourable,
                fee_bps,
                fee,
                decision_mid,
                mid,
                cost,
                moved_since_decision,
            });
        }
    }
}

/// What one fill took: its quantity, exact notional, worst price and the limit it was under.
struct Taken {
    quantity: Decimal,
    notional: Decimal,
    least_favourable: Price,
    limit: Price,
    liquidity: Liquidity,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{Schedule, VenueConfig};
    use driftline_core::pricing::limit_price;
    use driftline_core::{
        BookWalkCostModel, ClientOrderId, CycleId, DepthProfile, Fees, MarketFilters,
        MarketFiltersFields, PortfolioId, Symbol, TradingStatus,
    };
    use rust_decimal_macros::dec;
    use std::collections::BTreeMap;

    const PLACED_AT: EpochMillis = 1_000;
    const DEADLINE: EpochMillis = 1_000 + 900_000;

    fn symbol() -> Symbol {
        "BTC/USDT".parse().unwrap()
    }

    fn btc() -> Asset {
        Asset::new("BTC").unwrap()
    }

    fn usdt() -> Asset {
        Asset::new("USDT").unwrap()
    }

    /// Maker 2 bps, taker 10 bps: which one a fill paid shows how it filled.
    fn fees() -> Fees {
        Fees {
            maker_bps: dec!(2),
            taker_bps: dec!(10),
        }
    }

    fn account(cash: Decimal, btc_held: Decimal) -> VenueAccount {
        let config = VenueConfig::plain(Venue::Binance, fees());
        let holdings = BTreeMap::from([(btc(), btc_held), (usdt(), cash)]);
        VenueAccount::open(None, &config, BookWalkCostModel::default(), holdings).unwrap()
    }

    /// Five levels a side, 20 bps spread and 10 bps between levels around `mid`: at 100 the
    /// book is 99.90 / 100.10 with levels 0.10 apart.
    fn markets(mid: Decimal, per_level: Decimal) -> Markets {
        let filters = MarketFilters::new(MarketFiltersFields {
            symbol: symbol(),
            tick_size: dec!(0.01),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: None,
            min_notional: dec!(5),
            status: TradingStatus::Trading,
        })
        .unwrap();
        let book = DepthProfile {
            levels: 5,
            quantity_per_level: per_level,
            level_step_bps: dec!(10),
        }
        .book(&symbol(), Price::new(mid).unwrap(), dec!(20), dec!(0.01))
        .unwrap();
        Markets::from([(btc(), MarketSnapshot { filters, book })])
    }

    fn intent(side: Side, quantity: Decimal, offset: Decimal, worst: Decimal) -> OrderIntent {
        let (p, c) = (PortfolioId::new("p").unwrap(), CycleId::new("c").unwrap());
        OrderIntent {
            client_order_id: ClientOrderId::derive(None, &p, &c, &symbol(), side, 0),
            portfolio_id: p,
            cycle_id: c,
            symbol: symbol(),
            side,
            leg: 0,
            quantity,
            limit_price: Price::new(dec!(100)).unwrap(),
            limit_offset: offset,
            funded_by_sells: false,
            quote_fee_bps: None,
            reference_price: Price::new(dec!(100)).unwrap(),
            worst_price: Price::new(worst).unwrap(),
            predicted_cost_bps: dec!(11),
            created_at_ms: PLACED_AT,
            expires_at_ms: DEADLINE,
            account: None,
        }
    }

    fn totals() -> PolicyResult {
        PolicyResult {
            series: Some(crate::backtest::Series::default()),
            ..PolicyResult::empty("test".into(), Schedule::EveryStep)
        }
    }

    fn fills(totals: &PolicyResult) -> &[SimulatedFill] {
        &totals.series.as_ref().unwrap().fills
    }

    fn resting_price(a: &VenueAccount) -> Option<Price> {
        match a.working.first()?.state {
            OrderState::Resting { price } => Some(price),
            _ => None,
        }
    }

    /// Submits `intent` at step 1, at `PLACED_AT`, on the book around 100 with `per_level`.
    fn submitted(
        a: &mut VenueAccount,
        intent: OrderIntent,
        per_level: Decimal,
        totals: &mut PolicyResult,
    ) {
        let mut at = StepExecution::new(1, PLACED_AT);
        a.submit(
            intent,
            &markets(dec!(100), per_level),
            false,
            &mut at,
            totals,
        );
    }

    /// Follows every working order at step 2, at `now`, against the book around `mid`.
    fn follow_at(
        a: &mut VenueAccount,
        now: EpochMillis,
        mid: Decimal,
        per_level: Decimal,
        totals: &mut PolicyResult,
    ) -> StepExecution {
        let mut at = StepExecution::new(2, now);
        let m = markets(mid, per_level);
        a.follow(Side::Sell, &m, &[], &mut at, totals);
        a.follow(Side::Buy, &m, &[], &mut at, totals);
        at
    }

    #[test]
    fn a_resting_buy_fills_as_a_maker_at_its_own_price_when_the_asks_reach_it() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(100.25)),
            dec!(5),
            &mut t,
        );
        assert_eq!(resting_price(&a), Some(Price::new(dec!(100)).unwrap()));
        assert!(fills(&t).is_empty(), "resting at the mid: nothing crosses");
        // Quote locked: 100 × 1 and the 10 bps reserve.
        assert_eq!(a.free(&usdt()), dec!(9899.9));

        // The market falls to 99.85: asks 99.95 (0.4), 100.04, ... Only the first reaches 100.
        let at = follow_at(&mut a, PLACED_AT + 60_000, dec!(99.85), dec!(0.4), &mut t);
        let [fill] = fills(&t) else {
            panic!("{:?}", fills(&t))
        };
        assert_eq!(fill.liquidity, Liquidity::Maker);
        assert_eq!((fill.quantity, fill.notional), (dec!(0.4), dec!(40)));
        assert_eq!(fill.least_favourable, Price::new(dec!(100)).unwrap());
        assert_eq!((fill.fee_bps, fill.fee), (dec!(2), dec!(0.008)));
        // Paid 100, the decision mid: the cost is the fee alone. The fall to 99.85 that brought
        // the asks to it is the market's move since the decision, on the 0.4 bought.
        assert_eq!((fill.decision_mid, fill.mid), (dec!(100), dec!(99.85)));
        assert_eq!(fill.cost, dec!(0.4) * (dec!(100) - dec!(100)) + dec!(0.008));
        assert_eq!(
            fill.moved_since_decision,
            dec!(0.4) * (dec!(100) - dec!(99.85))
        );
        assert_eq!(at.cost, fill.cost);
        assert_eq!(at.moved_since_decision, fill.moved_since_decision);
        assert_eq!(t.moved_since_decision_quote, dec!(0.06));
        assert_eq!(a.holdings[&usdt()], dec!(10000) - dec!(40) - dec!(0.008));
        assert_eq!(a.holdings[&btc()], dec!(0.4));
        assert_eq!(a.working[0].remaining(), dec!(0.6));
        assert_eq!(t.execution.maker_fills, 1);
        assert_eq!(t.fee_quote, dec!(0.008));
    }

    #[test]
    fn a_resting_sell_fills_at_its_own_price_when_the_bids_reach_it() {
        let (mut a, mut t) = (account(dec!(0), dec!(1)), totals());
        submitted(
            &mut a,
            intent(Side::Sell, dec!(1), dec!(0.5), dec!(99.75)),
            dec!(5),
            &mut t,
        );
        assert_eq!(a.free(&btc()), dec!(0), "the resting sell locks its base");
        follow_at(&mut a, PLACED_AT + 60_000, dec!(100.3), dec!(5), &mut t);
        let [fill] = fills(&t) else {
            panic!("{:?}", fills(&t))
        };
        assert_eq!((fill.liquidity, fill.quantity), (Liquidity::Maker, dec!(1)));
        assert_eq!(fill.least_favourable, Price::new(dec!(100)).unwrap());
        // Sold at 100, the decision mid: only the 2 bps fee is a cost. The rise to 100.30 is
        // the market's move since the decision, which the 1 sold would have gained.
        assert_eq!(fill.cost, dec!(1) * (dec!(100) - dec!(100)) + dec!(0.02));
        assert_eq!(
            fill.moved_since_decision,
            dec!(1) * (dec!(100.3) - dec!(100))
        );
        assert!(a.working.is_empty());
        assert_eq!(a.holdings[&usdt()], dec!(100) - dec!(0.02));
    }

    #[test]
    fn a_crossing_placement_fills_at_once_as_a_taker_and_rests_the_rest() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        // Offset 1 prices the buy at the ask, 100.10, which takes the first level (0.4).
        let buy = intent(Side::Buy, dec!(1), dec!(1), dec!(100.35));
        submitted(&mut a, buy, dec!(0.4), &mut t);
        let [fill] = fills(&t) else {
            panic!("{:?}", fills(&t))
        };
        assert_eq!(fill.liquidity, Liquidity::Taker);
        assert_eq!((fill.quantity, fill.notional), (dec!(0.4), dec!(40.04)));
        assert_eq!((fill.fee_bps, fill.fee), (dec!(10), dec!(0.04004)));
        // Filled at the decision's step: paid 0.10 over the decision mid on 0.4, and the fee;
        // nothing moved since the decision.
        assert_eq!(fill.mid, fill.decision_mid);
        assert_eq!(
            fill.cost,
            dec!(0.4) * (dec!(100.10) - dec!(100)) + dec!(0.04004)
        );
        assert_eq!(fill.moved_since_decision, Decimal::ZERO);
        assert_eq!(resting_price(&a), Some(Price::new(dec!(100.10)).unwrap()));
        assert_eq!(a.working[0].remaining(), dec!(0.6));
        assert_eq!(t.execution.taker_fills, 1);
    }

    #[test]
    fn a_behind_order_is_re_priced_by_the_core_rule_at_the_current_book() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        // The market rises to 100.30 (bid 100.20 above our 100): behind, before the deadline.
        follow_at(&mut a, PLACED_AT + 60_000, dec!(100.3), dec!(5), &mut t);
        let m = markets(dec!(100.3), dec!(5));
        let book = &m[&btc()].book;
        let want = limit_price(
            Side::Buy,
            book.best_bid().unwrap().value(),
            book.best_ask().unwrap().value(),
            dec!(0.5),
            dec!(101),
            dec!(0.01),
        );
        assert_eq!(resting_price(&a).map(Price::value), Some(want));
        assert_eq!(want, dec!(100.30));
        assert_eq!(t.execution.repriced, 1);
        assert!(fills(&t).is_empty());
        // The lock follows the new price.
        assert_eq!(a.free(&usdt()), dec!(10000) - dec!(100.3) - dec!(0.1003));
    }

    /// What `a` holds, at `mid` for its BTC.
    fn value_at(a: &VenueAccount, mid: Decimal) -> Decimal {
        a.holdings[&usdt()] + a.holdings.get(&btc()).copied().unwrap_or_default() * mid
    }

    #[test]
    fn a_re_priced_fill_costs_its_chase_from_the_decision_mid_and_conserves_value() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        // The market rises to 100.30: re-priced to 100.30, 0.30 above the decision mid.
        follow_at(&mut a, PLACED_AT + 60_000, dec!(100.3), dec!(5), &mut t);
        let limit = Price::new(dec!(100.30)).unwrap();
        assert_eq!(resting_price(&a), Some(limit));
        // It falls back to 100.15: the asks reach 100.30 and the whole order fills there.
        let m = markets(dec!(100.15), dec!(5));
        let mid = m[&btc()].book.mid().unwrap().value();
        let before = value_at(&a, mid);
        let at = follow_at(&mut a, PLACED_AT + 120_000, dec!(100.15), dec!(5), &mut t);
        let [fill] = fills(&t) else {
            panic!("{:?}", fills(&t))
        };
        assert_eq!((fill.quantity, fill.least_favourable), (dec!(1), limit));
        assert_eq!((fill.decision_mid, fill.mid), (dec!(100), mid));
        let fee = ceil_to_step(dec!(100.30) * dec!(2) / BPS, CHARGE_PRECISION);
        assert_eq!(fill.cost, dec!(1) * (dec!(100.30) - dec!(100)) + fee);
        assert_eq!(fill.moved_since_decision, dec!(1) * (dec!(100) - mid));
        assert!(fill.moved_since_decision < Decimal::ZERO, "the market rose");
        // At the step's mid, the value lost is the cost and the move since the decision.
        assert_eq!(
            before,
            value_at(&a, mid) + at.cost + at.moved_since_decision
        );
        assert_eq!(t.cost_quote, fill.cost);
        assert_eq!(t.execution.slippage_quote, fill.cost - fill.fee);
    }

    #[test]
    fn an_order_not_behind_keeps_its_price() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        // Mid 100.05: bid 99.95 is below our 100 and the ask 100.15 above it.
        follow_at(&mut a, PLACED_AT + 60_000, dec!(100.05), dec!(5), &mut t);
        assert_eq!(resting_price(&a), Some(Price::new(dec!(100)).unwrap()));
        assert_eq!(t.execution.repriced, 0);
    }

    #[test]
    fn past_its_deadline_the_remainder_is_cancelled_and_never_fills() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        // First check past the deadline, the market away from us: cancelled, not re-priced.
        follow_at(&mut a, DEADLINE, dec!(100.3), dec!(5), &mut t);
        assert!(a.working.is_empty());
        assert_eq!(t.execution.expired, 1);
        assert_eq!(t.execution.expired_notional, dec!(100));
        assert_eq!(t.execution.repriced, 0);
        assert_eq!(a.free(&usdt()), dec!(10000), "the lock is released");
        // The market comes back through the old price: nothing is left to fill.
        follow_at(&mut a, DEADLINE + 3_600_000, dec!(99), dec!(5), &mut t);
        assert!(fills(&t).is_empty());
        assert_eq!(a.holdings[&btc()], dec!(0));
    }

    #[test]
    fn the_first_check_past_the_deadline_fills_what_the_market_reached_then_cancels() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        submitted(
            &mut a,
            intent(Side::Buy, dec!(1), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        // An hour later (the deadline was 15 minutes): asks at 99.95 reach 100 with 0.4.
        follow_at(
            &mut a,
            PLACED_AT + 3_600_000,
            dec!(99.85),
            dec!(0.4),
            &mut t,
        );
        assert_eq!(fills(&t).len(), 1);
        assert_eq!(fills(&t)[0].quantity, dec!(0.4));
        assert!(a.working.is_empty());
        assert_eq!(t.execution.expired, 1);
        assert_eq!(t.execution.expired_notional, dec!(60));
    }

    #[test]
    fn a_thin_book_waits_and_places_when_depth_returns() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        // Worst 100.25 shows two ask levels of 0.4 (100.10, 100.20): 0.8 of the 1 needed.
        let buy = intent(Side::Buy, dec!(1), dec!(0.5), dec!(100.25));
        submitted(&mut a, buy, dec!(0.4), &mut t);
        assert_eq!(a.working[0].state, OrderState::WaitingForDepth);
        assert_eq!(t.execution.thin_waits, 1);
        assert_eq!(
            a.free(&usdt()),
            dec!(10000),
            "nothing on the exchange, nothing locked"
        );
        // Still thin at the next look: waits again.
        follow_at(&mut a, PLACED_AT + 60_000, dec!(100), dec!(0.4), &mut t);
        assert_eq!(t.execution.thin_waits, 2);
        // Depth returns: placed at the mid by the same rule.
        follow_at(&mut a, PLACED_AT + 120_000, dec!(100), dec!(1), &mut t);
        assert_eq!(resting_price(&a), Some(Price::new(dec!(100)).unwrap()));
        assert_eq!(t.execution.thin_waits, 2);
    }

    #[test]
    fn a_waiting_order_expires_at_its_deadline_without_being_placed() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        let buy = intent(Side::Buy, dec!(1), dec!(0.5), dec!(100.25));
        submitted(&mut a, buy, dec!(0.4), &mut t);
        follow_at(&mut a, DEADLINE, dec!(100), dec!(10), &mut t);
        assert!(a.working.is_empty());
        assert!(fills(&t).is_empty());
        assert_eq!(t.execution.expired, 1);
    }

    #[test]
    fn a_buy_paid_by_sells_waits_for_them_then_takes_only_the_cash_free() {
        let (mut a, mut t) = (account(dec!(50), dec!(0)), totals());
        let buy = OrderIntent {
            funded_by_sells: true,
            quote_fee_bps: None,
            ..intent(Side::Buy, dec!(1), dec!(0.5), dec!(101))
        };
        let mut at = StepExecution::new(1, PLACED_AT);
        a.submit(buy, &markets(dec!(100), dec!(5)), true, &mut at, &mut t);
        assert_eq!(a.working[0].state, OrderState::WaitingForSells);
        // The plan's sells (made at step 1) still work: it waits.
        let m = markets(dec!(100), dec!(5));
        let mut at = StepExecution::new(2, PLACED_AT + 60_000);
        a.follow(Side::Buy, &m, &[1], &mut at, &mut t);
        assert_eq!(a.working[0].state, OrderState::WaitingForSells);
        // They are final: placed, sized to the 50 free with the 10 bps reserve.
        a.follow(Side::Buy, &m, &[], &mut at, &mut t);
        assert_eq!(resting_price(&a), Some(Price::new(dec!(100)).unwrap()));
        assert_eq!(a.working[0].remaining(), dec!(0.499));
        assert_eq!(t.reduced_to_cash, 1);
        assert_eq!(a.free(&usdt()), dec!(50) - dec!(49.9) - dec!(0.0499));
    }

    #[test]
    fn dust_is_dropped() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        // 0.04 at 100 is 4, under the minimum notional of 5.
        submitted(
            &mut a,
            intent(Side::Buy, dec!(0.04), dec!(0.5), dec!(101)),
            dec!(5),
            &mut t,
        );
        assert!(a.working.is_empty());
        assert_eq!(t.execution.dust_dropped, 1);
    }

    #[test]
    fn a_working_order_is_in_flight_at_its_current_price() {
        let (mut a, mut t) = (account(dec!(10000), dec!(0)), totals());
        let buy = intent(Side::Buy, dec!(1), dec!(1), dec!(100.35));
        submitted(&mut a, buy, dec!(0.4), &mut t);
        let o = a.working[0].in_flight();
        assert_eq!((o.side, o.remaining), (Side::Buy, dec!(0.6)));
        assert_eq!(o.limit_price, Price::new(dec!(100.10)).unwrap());
        assert_eq!(o.account, None);
    }
}
