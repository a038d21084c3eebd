//! Execution rules: how an intent is priced against the book it meets, and how its outcome is
//! measured. Pure functions; the executor service applies them.

use rust_decimal::Decimal;

use crate::money::to_bps;
use crate::orders::{FillProgress, OrderRecord, OrderUpdate, Transition};
use crate::ports::{ExchangeOrderStatus, Fill, OrderReport};
use crate::pricing::limit_price;
use crate::{
    Asset, EpochMillis, MarketFilters, OrderBook, OrderIntent, OrderStatus, Price, Side, Symbol,
};

/// What to do with an intent's remainder against the current book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionDecision {
    /// Place a limit order of `quantity` at `price`.
    Place { price: Price, quantity: Decimal },
    /// The book does not show enough within the worst price: wait for depth.
    Thin { visible: Decimal, needed: Decimal },
    /// The remainder is below the exchange's minimums: nothing more can be placed.
    Dust { quantity: Decimal },
}

/// Whether the market has left a resting order at `price` behind: a better bid than a buy's
/// price, a better ask than a sell's. Such an order is re-priced (the executor's follow-up, or
/// the scheduler's reconcile).
pub fn left_behind(side: Side, book: &OrderBook, price: Price) -> bool {
    match side {
        Side::Buy => book.best_bid().is_some_and(|b| b > price),
        Side::Sell => book.best_ask().is_some_and(|a| a < price),
    }
}

/// Prices `remaining` of `intent` against the current book by the one pricing rule
/// ([`limit_price`]: the intent's offset across the spread, never beyond its worst price); and
/// checks that the side the order would consume shows at least the remainder within that worst
/// price, so the order could complete within budget.
pub fn decide_execution(
    intent: &OrderIntent,
    remaining: Decimal,
    book: &OrderBook,
    filters: &MarketFilters,
) -> ExecutionDecision {
    let quantity = filters.round_quantity(remaining);
    let worst = intent.worst_price.value();
    let visible = book.depth_within(intent.side, worst);
    let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
        return ExecutionDecision::Thin {
            visible,
            needed: quantity,
        };
    };
    if visible < quantity {
        return ExecutionDecision::Thin {
            visible,
            needed: quantity,
        };
    }
    let price = limit_price(
        intent.side,
        bid.value(),
        ask.value(),
        intent.limit_offset,
        worst,
        filters.tick_size(),
    );
    let quantity = leg_quantity(intent, remaining, price, filters);
    match Price::new(price) {
        Ok(price) if filters.accepts(quantity, price.value()) => {
            ExecutionDecision::Place { price, quantity }
        }
        _ => ExecutionDecision::Dust { quantity },
    }
}

/// How much of `remaining` to place at `price`, on the lot grid. A buy priced above its
/// intent's limit takes no more quote than the plan budgeted for the remainder at that limit:
/// the plan sized the buy to the cash the account holds, so the full remainder at a higher
/// price could be more than it has (the exchange refuses the whole order for want of balance).
pub fn leg_quantity(
    intent: &OrderIntent,
    remaining: Decimal,
    price: Decimal,
    filters: &MarketFilters,
) -> Decimal {
    let planned = intent.limit_price.value();
    let affordable = match intent.side {
        Side::Buy if price > planned => remaining * planned / price,
        _ => remaining,
    };
    filters.round_quantity(affordable)
}

/// The ledger state an exchange status corresponds to.
pub fn ledger_status(status: ExchangeOrderStatus) -> OrderStatus {
    match status {
        ExchangeOrderStatus::New => OrderStatus::Placed,
        ExchangeOrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
        ExchangeOrderStatus::Filled => OrderStatus::Filled,
        ExchangeOrderStatus::Canceled | ExchangeOrderStatus::PendingCancel => {
            OrderStatus::Cancelled
        }
        ExchangeOrderStatus::Rejected => OrderStatus::Rejected,
        ExchangeOrderStatus::Expired | ExchangeOrderStatus::ExpiredInMatch => OrderStatus::Expired,
    }
}

/// What an exchange report changes in an order's ledger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportChange {
    /// Nothing the ledger does not already know.
    Unchanged,
    /// Accepted with nothing filled: `PLACING` → `PLACED` with the exchange's order id.
    Placed(Transition),
    /// Fills or a final state, applied by the cumulative executed quantity. The fees are the
    /// record's: when `new_fills` is set, the caller replaces them from the order's fills
    /// ([`tally_fees`]), which a query does not report.
    Progress {
        progress: FillProgress,
        new_fills: bool,
    },
}

/// The one reading of an exchange report against a record, shared by the executor (after a
/// placement or a follow-up) and the scheduler (when it reconciles).
pub fn report_change(record: &OrderRecord, report: &OrderReport, now: EpochMillis) -> ReportChange {
    let mut status = ledger_status(report.status);
    // A record being re-priced stays so until the exchange says the order is done.
    if record.status == OrderStatus::Repricing && !status.is_final() {
        status = OrderStatus::Repricing;
    }
    if report.executed_qty.is_zero() && status == OrderStatus::Placed {
        if record.status != OrderStatus::Placing {
            return ReportChange::Unchanged;
        }
        return ReportChange::Placed(Transition {
            expected_version: record.version,
            to: OrderStatus::Placed,
            update: OrderUpdate {
                exchange_order_id: Some(report.exchange_order_id.clone()),
                last_error: None,
            },
            now_ms: now,
        });
    }
    ReportChange::Progress {
        progress: FillProgress {
            exchange_order_id: report.exchange_order_id.clone(),
            executed_qty: report.executed_qty,
            cumulative_quote_qty: report.cumulative_quote_qty,
            fees: record.fees,
            fee_asset: record.fee_asset.clone(),
            fees_quote: record.fees_quote,
            status,
            now_ms: now,
        },
        new_fills: report.executed_qty > record.filled_qty,
    }
}

/// An order's commissions, summed from its fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeTally {
    /// Commissions charged in `fee_asset`.
    pub fees: Decimal,
    /// The asset most of the commission was charged in (the first fill's that charged any).
    pub fee_asset: Option<Asset>,
    /// Every commission in the quote asset: a quote commission as it is, a base commission at
    /// its fill's price, another asset's at `price_of` it.
    pub fees_quote: Decimal,
    /// Assets charged that `price_of` could not price: left out of `fees_quote`.
    pub unpriced: Vec<Asset>,
}

/// Sums the commissions of `fills` of an order on `symbol`.
pub fn tally_fees(
    fills: &[Fill],
    symbol: &Symbol,
    price_of: impl Fn(&Asset) -> Option<Decimal>,
) -> FeeTally {
    let fee_asset = fills
        .iter()
        .find(|f| !f.commission.is_zero())
        .or(fills.first())
        .map(|f| f.commission_asset.clone());
    let mut tally = FeeTally {
        fees: Decimal::ZERO,
        fee_asset,
        fees_quote: Decimal::ZERO,
        unpriced: Vec::new(),
    };
    for f in fills {
        if tally.fee_asset.as_ref() == Some(&f.commission_asset) {
            tally.fees += f.commission;
        }
        if f.commission.is_zero() {
            continue;
        }
        let asset = &f.commission_asset;
        let in_quote = if asset == symbol.quote() {
            Some(f.commission)
        } else if asset == symbol.base() {
            Some(f.commission * f.price.value())
        } else {
            price_of(asset).map(|p| f.commission * p)
        };
        match in_quote {
            Some(q) => tally.fees_quote += q,
            None if !tally.unpriced.contains(asset) => tally.unpriced.push(asset.clone()),
            None => {}
        }
    }
    tally
}

/// Whether the fills an answer carries are all of the order's: a placement's full answer, not
/// a query's (which carries none).
pub fn fills_cover(fills: &[Fill], executed_qty: Decimal) -> bool {
    fills.iter().map(|f| f.quantity).sum::<Decimal>() == executed_qty
}

/// How an order's fills compare with its reference price and budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionQuality {
    /// Filled quantity over intended quantity.
    pub fill_ratio: Decimal,
    /// Average fill price against the reference mid, in bps; positive is worse for us.
    pub slippage_bps: Option<Decimal>,
    /// Slippage as a percentage of the budget (reference to worst price).
    pub budget_utilisation_pct: Option<Decimal>,
    /// The order's fees in the quote asset.
    pub fees_quote: Decimal,
}

/// How `record`'s fills compare with its intent.
pub fn execution_quality(record: &OrderRecord) -> ExecutionQuality {
    let (intent, filled_qty, cumulative_quote) = (
        &record.intent,
        record.filled_qty,
        record.cumulative_quote_qty,
    );
    let fill_ratio = if intent.quantity.is_zero() {
        Decimal::ZERO
    } else {
        filled_qty / intent.quantity
    };
    let reference = intent.reference_price.value();
    let slippage_bps = (!filled_qty.is_zero()).then(|| {
        let average = cumulative_quote / filled_qty;
        match intent.side {
            Side::Buy => to_bps(average - reference, reference),
            Side::Sell => to_bps(reference - average, reference),
        }
    });
    let budget_bps = to_bps((intent.worst_price.value() - reference).abs(), reference);
    let budget_utilisation_pct = slippage_bps
        .filter(|_| !budget_bps.is_zero())
        .map(|s| s / budget_bps * Decimal::ONE_HUNDRED);
    ExecutionQuality {
        fill_ratio,
        slippage_bps,
        budget_utilisation_pct,
        fees_quote: record.fees_quote,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClientOrderId, CycleId, DepthProfile, MarketFiltersFields, PortfolioId, Symbol,
        TradingStatus,
    };
    use rust_decimal_macros::dec;

    fn symbol() -> Symbol {
        "BTC/USDT".parse().unwrap()
    }

    fn filters() -> MarketFilters {
        MarketFilters::new(MarketFiltersFields {
            symbol: symbol(),
            tick_size: dec!(0.01),
            step_size: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: None,
            min_notional: dec!(5),
            status: TradingStatus::Trading,
        })
        .unwrap()
    }

    fn book(per_level: Decimal) -> OrderBook {
        book_around(dec!(100), per_level)
    }

    fn book_around(mid: Decimal, per_level: Decimal) -> OrderBook {
        DepthProfile {
            levels: 5,
            quantity_per_level: per_level,
            level_step_bps: dec!(10),
        }
        .book(&symbol(), Price::new(mid).unwrap(), dec!(20), dec!(0.01))
        .unwrap()
    }

    fn intent(side: Side, qty: Decimal, worst: Decimal) -> OrderIntent {
        let (p, c) = (PortfolioId::new("p").unwrap(), CycleId::new("c").unwrap());
        OrderIntent {
            client_order_id: ClientOrderId::derive(None, &p, &c, &symbol(), side, 0),
            portfolio_id: p,
            cycle_id: c,
            symbol: symbol(),
            side,
            leg: 0,
            quantity: qty,
            limit_price: Price::new(dec!(100)).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            funded_by_sells: false,
            quote_fee_bps: None,
            reference_price: Price::new(dec!(100)).unwrap(),
            worst_price: Price::new(worst).unwrap(),
            predicted_cost_bps: dec!(10),
            created_at_ms: 0,
            expires_at_ms: 1,
            account: None,
        }
    }

    #[test]
    fn places_at_the_mid_on_the_passive_side_when_the_book_is_deep_enough() {
        // Book: bid 99.90 / ask 100.10, levels 0.10 apart; budget to 100.25 covers 2 ask levels.
        let i = intent(Side::Buy, dec!(1.5), dec!(100.25));
        assert_eq!(
            decide_execution(&i, dec!(1.5), &book(dec!(1)), &filters()),
            ExecutionDecision::Place {
                price: Price::new(dec!(100)).unwrap(),
                quantity: dec!(1.5)
            }
        );
    }

    #[test]
    fn waits_when_the_book_is_thin_within_the_budget() {
        let i = intent(Side::Buy, dec!(3), dec!(100.25));
        assert_eq!(
            decide_execution(&i, dec!(3), &book(dec!(1)), &filters()),
            ExecutionDecision::Thin {
                visible: dec!(2),
                needed: dec!(3)
            }
        );
        // A market that ran away beyond the worst price shows nothing within budget.
        let sell = intent(Side::Sell, dec!(1), dec!(100.5));
        assert!(matches!(
            decide_execution(&sell, dec!(1), &book(dec!(10)), &filters()),
            ExecutionDecision::Thin { .. }
        ));
    }

    #[test]
    fn a_buy_priced_above_its_plan_spends_no_more_than_the_plan_budgeted() {
        // The plan priced 1.5 at 100 (150 of quote); the bid moved to 100.40, so the order is
        // priced at 100.50: 1.5 there would need 150.75, more than the account was budgeted.
        let i = intent(Side::Buy, dec!(1.5), dec!(101));
        let moved = book_around(dec!(100.50), dec!(10));
        let ExecutionDecision::Place { price, quantity } =
            decide_execution(&i, dec!(1.5), &moved, &filters())
        else {
            panic!("places");
        };
        assert_eq!(price.value(), dec!(100.50));
        assert_eq!(quantity, dec!(1.492));
        assert!(quantity * price.value() <= dec!(150));
        // A sell priced below its plan sells the same quantity: it spends base, not quote.
        let sell = intent(Side::Sell, dec!(1.5), dec!(99));
        let lower = book_around(dec!(99.50), dec!(10));
        assert!(matches!(
            decide_execution(&sell, dec!(1.5), &lower, &filters()),
            ExecutionDecision::Place { quantity, .. } if quantity == dec!(1.5)
        ));
        // A buy priced at or below its plan places the whole remainder.
        assert_eq!(
            leg_quantity(&i, dec!(1.5), dec!(99.90), &filters()),
            dec!(1.5)
        );
    }

    #[test]
    fn a_remainder_under_the_minimum_is_dust() {
        let i = intent(Side::Sell, dec!(1), dec!(99));
        assert_eq!(
            decide_execution(&i, dec!(0.0004), &book(dec!(1)), &filters()),
            ExecutionDecision::Dust { quantity: dec!(0) }
        );
    }

    #[test]
    fn slippage_is_signed_against_us_and_measured_against_the_budget() {
        let filled = |intent: OrderIntent, qty, quote| OrderRecord {
            filled_qty: qty,
            cumulative_quote_qty: quote,
            ..OrderRecord::pending(intent, 0)
        };
        let buy = intent(Side::Buy, dec!(2), dec!(100.2));
        let q = execution_quality(&filled(buy, dec!(1), dec!(100.1)));
        assert_eq!(q.fill_ratio, dec!(0.5));
        assert_eq!(q.slippage_bps, Some(dec!(10)));
        assert_eq!(q.budget_utilisation_pct, Some(dec!(50)));
        let sell = intent(Side::Sell, dec!(1), dec!(99.8));
        let q = execution_quality(&filled(sell.clone(), dec!(1), dec!(100.1)));
        assert_eq!(
            q.slippage_bps,
            Some(dec!(-10)),
            "selling above the mid is negative slippage"
        );
        assert_eq!(
            execution_quality(&filled(sell, dec!(0), dec!(0))).slippage_bps,
            None
        );
    }
}
