//! The planner: decides every asset and turns the trades worth making into order intents.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{floor_to_step, BPS};
use crate::pricing::{limit_price, worst_price};
use crate::{
    Asset, ClientOrderId, CostError, CostEstimate, CostModel, CycleId, DecisionReason, Destination,
    DomainError, DriftSnapshot, EpochMillis, Fees, MarketSnapshot, Markets, OrderIntent, Portfolio,
    Price, RebalancePolicy, Side, Symbol,
};

/// An order already placed or queued whose remainder has not filled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightOrder {
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "crate::exact")]
    pub remaining: Decimal,
    pub limit_price: Price,
}

/// Everything a plan is made from. Holdings are what is free to trade now: amounts locked in
/// open orders are the caller's to leave out, and come back through `in_flight`.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    pub portfolio: &'a Portfolio,
    /// Orders not yet final: drift is measured as if they fill, and their assets get no new
    /// order until they are final.
    pub in_flight: &'a [InFlightOrder],
    pub markets: &'a Markets,
    pub policy: &'a RebalancePolicy,
    pub fees: Fees,
    /// Earlier drift snapshots of this portfolio, newest first.
    pub history: &'a [DriftSnapshot],
    pub cycle: &'a CycleId,
    pub now_ms: EpochMillis,
}

/// The order a decision to trade leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOrder {
    pub side: Side,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    pub limit_price: Price,
    pub worst_price: Price,
    pub cost: CostEstimate,
    /// The quantity was reduced to what the quote balance and the sells' proceeds can pay.
    pub capped_by_budget: bool,
}

/// The decision on one asset, with the figures it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDecision {
    pub asset: Asset,
    #[serde(with = "crate::exact")]
    pub weight: Decimal,
    #[serde(with = "crate::exact")]
    pub target: Decimal,
    #[serde(with = "crate::exact")]
    pub drift: Decimal,
    /// Half-width of the no-trade band.
    #[serde(with = "crate::exact")]
    pub band: Decimal,
    /// Drift change per cycle, when there is history to measure it.
    #[serde(with = "crate::exact::option")]
    pub velocity: Option<Decimal>,
    pub reason: DecisionReason,
    pub order: Option<PlannedOrder>,
}

/// The outcome of planning one portfolio for one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalancePlan {
    pub snapshot: DriftSnapshot,
    /// One per target asset, in asset order.
    pub decisions: Vec<AssetDecision>,
    /// Sells first, then buys; in asset order within each.
    pub intents: Vec<OrderIntent>,
}

/// Sums over a plan's intents, in the quote asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTotals {
    #[serde(with = "crate::exact")]
    pub sell_notional: Decimal,
    #[serde(with = "crate::exact")]
    pub buy_notional: Decimal,
    #[serde(with = "crate::exact")]
    pub predicted_cost: Decimal,
    pub orders: usize,
    /// Assets out of their band that were not traded (see [`DecisionReason::is_skipped_trade`]).
    pub skipped: usize,
}

impl RebalancePlan {
    pub fn totals(&self) -> PlanTotals {
        let notional = |side| {
            self.intents
                .iter()
                .filter(|i| i.side == side)
                .map(OrderIntent::notional)
                .sum()
        };
        let traded = self.decisions.iter().filter_map(|d| d.order.as_ref());
        PlanTotals {
            sell_notional: notional(Side::Sell),
            buy_notional: notional(Side::Buy),
            predicted_cost: traded.map(|o| o.cost.total_quote()).sum(),
            orders: self.intents.len(),
            skipped: self
                .decisions
                .iter()
                .filter(|d| d.reason.is_skipped_trade())
                .count(),
        }
    }
}

/// Decides every asset of the portfolio and plans the orders worth placing.
///
/// # Errors
/// [`DomainError`] when the policy is invalid, an asset has no market (or a market in another
/// quote asset), or the portfolio has no value.
pub fn plan(
    request: &PlanRequest<'_>,
    cost_model: &dyn CostModel,
) -> Result<RebalancePlan, DomainError> {
    let PlanRequest {
        portfolio,
        in_flight,
        markets,
        policy,
        fees,
        history,
        cycle,
        now_ms,
    } = *request;
    policy.validate()?;
    let quote = portfolio.quote();
    let traded = markets_of_targets(portfolio, markets)?;
    let projected = project_in_flight(portfolio, in_flight)?;
    let snapshot = DriftSnapshot::compute_with(&projected, traded.iter().copied(), cycle)?;
    let window = policy.velocity.map(|v| v.window).unwrap_or_default();

    let mut decisions: Vec<AssetDecision> = Vec::with_capacity(snapshot.assets.len());
    for ((a, market), (_, _, held)) in snapshot
        .assets
        .iter()
        .zip(&traded)
        .zip(portfolio.positions())
    {
        let band = policy.band_for(&a.asset, a.target);
        let velocity = window.velocity_at(a.drift, history, &a.asset);
        let (reason, order) = if &a.asset == quote {
            (DecisionReason::QuoteAsset, None)
        } else if a.drift.abs() > band && in_flight.iter().any(|o| o.symbol.base() == &a.asset) {
            (DecisionReason::OrderInFlight, None)
        } else {
            // Every non-quote asset has a market: the snapshot priced it at its mid.
            let Some(market) = market else {
                return Err(DomainError::MissingMarket {
                    asset: a.asset.to_string(),
                });
            };
            decide(
                policy, cost_model, &snapshot, a.target, a.drift, band, velocity, market, held,
            )
        };
        decisions.push(AssetDecision {
            asset: a.asset.clone(),
            weight: a.weight,
            target: a.target,
            drift: a.drift,
            band,
            velocity,
            reason,
            order,
        });
    }

    let buys_need_proceeds = cap_buys_to_budget(
        policy.max_cost_bps,
        &mut decisions,
        &traded,
        portfolio.holdings().of(quote),
        fees,
        cost_model,
    );

    let expires_at_ms = now_ms + i64::from(policy.order_ttl_seconds) * 1000;
    let mut intents: Vec<OrderIntent> =
        Vec::with_capacity(decisions.iter().filter(|d| d.order.is_some()).count());
    // Sells first: their proceeds pay for the buys. Decisions are in asset order.
    for side in [Side::Sell, Side::Buy] {
        for (d, market) in decisions.iter().zip(&traded) {
            let (Some(o), Some(market)) = (d.order.as_ref().filter(|o| o.side == side), market)
            else {
                continue;
            };
            let Some(reference_price) = market.book.mid() else {
                continue;
            };
            let symbol = market.filters.symbol().clone();
            intents.push(OrderIntent {
                client_order_id: ClientOrderId::derive(portfolio.id(), cycle, &symbol, o.side, 0),
                portfolio_id: portfolio.id().clone(),
                cycle_id: cycle.clone(),
                symbol,
                side: o.side,
                leg: 0,
                quantity: o.quantity,
                limit_price: o.limit_price,
                limit_offset: policy.limit_offset,
                funded_by_sells: o.side == Side::Buy && buys_need_proceeds,
                reference_price,
                worst_price: o.worst_price,
                predicted_cost_bps: o.cost.total_bps(),
                created_at_ms: now_ms,
                expires_at_ms,
                account: None,
            });
        }
    }
    Ok(RebalancePlan {
        snapshot,
        decisions,
        intents,
    })
}

/// The market of every target asset, in asset order (`None` for the quote asset and for an
/// asset without one), each checked to be that asset's market in the portfolio's quote.
///
/// # Errors
/// [`DomainError::MarketMismatch`] for the first market (in asset order) that is not.
fn markets_of_targets<'m>(
    portfolio: &Portfolio,
    markets: &'m Markets,
) -> Result<Vec<Option<&'m MarketSnapshot>>, DomainError> {
    let quote = portfolio.quote();
    let mut listed = markets.iter().peekable();
    let mut found = Vec::with_capacity(portfolio.targets().len());
    for asset in portfolio.targets().assets() {
        // Both maps are in asset order: one pass, skipping markets the portfolio does not hold.
        while listed.next_if(|(a, _)| *a < asset).is_some() {}
        let market = listed.next_if(|(a, _)| *a == asset).map(|(_, m)| m);
        if let Some(market) = market {
            let symbol = market.filters.symbol();
            if symbol.base() != asset || symbol.quote() != quote || market.book.symbol() != symbol {
                return Err(DomainError::MarketMismatch {
                    asset: asset.to_string(),
                    symbol: symbol.to_string(),
                    quote: quote.to_string(),
                });
            }
        }
        found.push(market);
    }
    Ok(found)
}

/// The portfolio as it will be once the in-flight orders fill: a buy adds its remainder (its
/// quote is already locked, so not in the free balance), a sell adds its proceeds at its limit.
/// The portfolio itself, not a copy, when nothing is in flight.
fn project_in_flight<'p>(
    portfolio: &'p Portfolio,
    in_flight: &[InFlightOrder],
) -> Result<Cow<'p, Portfolio>, DomainError> {
    if in_flight.is_empty() {
        return Ok(Cow::Borrowed(portfolio));
    }
    let quote = portfolio.quote();
    let mut held: std::collections::BTreeMap<Asset, Decimal> = portfolio
        .holdings()
        .iter()
        .map(|(a, q)| (a.clone(), q))
        .collect();
    for o in in_flight {
        if o.symbol.quote() != quote || !portfolio.targets().contains(o.symbol.base()) {
            return Err(DomainError::UnknownAsset {
                asset: o.symbol.to_string(),
                context: "in-flight orders",
            });
        }
        let (asset, amount) = match o.side {
            Side::Buy => (o.symbol.base().clone(), o.remaining),
            Side::Sell => (quote.clone(), o.remaining * o.limit_price.value()),
        };
        *held.entry(asset).or_default() += amount;
    }
    Portfolio::new(
        portfolio.id().clone(),
        quote.clone(),
        crate::Holdings::new(held)?,
        portfolio.targets().clone(),
    )
    .map(Cow::Owned)
}

#[allow(clippy::too_many_arguments)]
fn decide(
    policy: &RebalancePolicy,
    cost_model: &dyn CostModel,
    snapshot: &DriftSnapshot,
    target: Decimal,
    drift: Decimal,
    band: Decimal,
    velocity: Option<Decimal>,
    market: &MarketSnapshot,
    held: Decimal,
) -> (DecisionReason, Option<PlannedOrder>) {
    let filters = &market.filters;
    if drift.abs() <= band {
        return (DecisionReason::InBand, None);
    }
    if !filters.status().is_trading() {
        return (
            DecisionReason::NotTrading {
                status: filters.status().to_string(),
            },
            None,
        );
    }
    if let (Some(rule), Some(v)) = (policy.velocity, velocity) {
        let projected = drift + v * rule.horizon_cycles;
        let moving_back = v.is_sign_negative() != drift.is_sign_negative() && !v.is_zero();
        let back_inside =
            projected.abs() <= band || projected.is_sign_negative() != drift.is_sign_negative();
        if moving_back && back_inside {
            return (
                DecisionReason::DeferredByVelocity {
                    velocity: v,
                    projected_drift: projected,
                },
                None,
            );
        }
    }
    let side = if drift > Decimal::ZERO {
        Side::Sell
    } else {
        Side::Buy
    };
    // A target of zero is an exit: the whole position goes, whatever the destination policy,
    // since a band edge above zero would keep for good a position the user wants out of.
    let exit = target.is_zero();
    let trade_weight = match policy.destination {
        Destination::BandEdge if !exit => drift.abs() - band,
        _ => drift.abs(),
    };
    let notional = trade_weight * snapshot.equity;
    if notional < policy.min_trade_notional {
        return (
            DecisionReason::BelowMinimum {
                notional,
                minimum: policy.min_trade_notional,
            },
            None,
        );
    }
    // The book is not empty on either side: the snapshot priced this asset at its mid.
    let (Some(mid), Some(bid), Some(ask)) = (
        market.book.mid(),
        market.book.best_bid(),
        market.book.best_ask(),
    ) else {
        return (
            DecisionReason::BookTooThin {
                visible: Decimal::ZERO,
                needed: notional,
            },
            None,
        );
    };
    let tick = filters.tick_size();
    let worst = worst_price(side, mid.value(), policy.slippage_budget_bps, tick);
    let limit = limit_price(
        side,
        bid.value(),
        ask.value(),
        policy.limit_offset,
        worst,
        tick,
    );
    let mut quantity = filters.round_quantity(notional / mid.value());
    if side == Side::Sell {
        let sellable = filters.round_quantity(held);
        if exit || leaves_dust(filters, held - quantity, limit) {
            quantity = sellable;
        }
        quantity = quantity.min(sellable);
    }
    price_order(
        policy.max_cost_bps,
        cost_model,
        market,
        side,
        quantity,
        limit,
        worst,
        false,
    )
}

/// Whether the `leftover` a sell leaves could never be sold on its own: something on the step
/// grid, but under the exchange's minimum quantity or notional at `price`. Such a sell takes
/// the whole holding instead; otherwise the leftover would stay as dust for good.
fn leaves_dust(filters: &crate::MarketFilters, leftover: Decimal, price: Decimal) -> bool {
    let sellable = filters.round_quantity(leftover);
    !sellable.is_zero() && !filters.accepts(sellable, price)
}

/// Checks an order against the exchange's minimums and the cost cap, and prices it.
#[allow(clippy::too_many_arguments)]
fn price_order(
    max_cost_bps: Decimal,
    cost_model: &dyn CostModel,
    market: &MarketSnapshot,
    side: Side,
    quantity: Decimal,
    limit: Decimal,
    worst: Decimal,
    capped_by_budget: bool,
) -> (DecisionReason, Option<PlannedOrder>) {
    let filters = &market.filters;
    if !filters.accepts(quantity, limit) {
        return (
            DecisionReason::BelowExchangeMinimum {
                quantity,
                notional: quantity * limit,
                min_notional: filters.min_notional(),
            },
            None,
        );
    }
    let cost = match cost_model.predict(side, quantity, &market.book) {
        Ok(cost) => cost,
        Err(CostError::InsufficientDepth {
            visible, needed, ..
        }) => return (DecisionReason::BookTooThin { visible, needed }, None),
        Err(CostError::NoMid) => {
            return (
                DecisionReason::BookTooThin {
                    visible: Decimal::ZERO,
                    needed: quantity,
                },
                None,
            )
        }
    };
    if cost.total_bps() > max_cost_bps {
        return (
            DecisionReason::CostTooHigh {
                predicted_bps: cost.total_bps(),
                cap_bps: max_cost_bps,
            },
            None,
        );
    }
    // Prices came from positive bid, ask and mid, rounded on a positive tick; a tick larger
    // than the price itself is the only way to reach zero, and such a market cannot trade.
    let (Ok(limit_price), Ok(worst_price)) = (Price::new(limit), Price::new(worst)) else {
        return (
            DecisionReason::BelowExchangeMinimum {
                quantity,
                notional: Decimal::ZERO,
                min_notional: filters.min_notional(),
            },
            None,
        );
    };
    (
        DecisionReason::Trade,
        Some(PlannedOrder {
            side,
            quantity,
            limit_price,
            worst_price,
            cost,
            capped_by_budget,
        }),
    )
}

/// Buys are paid by the free quote balance plus the sells' proceeds net of fees. When they
/// want more, every buy is scaled down by the same factor and re-checked. True when the buys
/// need more than the free quote balance: they wait for the sells (see
/// [`OrderIntent::funded_by_sells`]).
fn cap_buys_to_budget(
    max_cost_bps: Decimal,
    decisions: &mut [AssetDecision],
    traded: &[Option<&MarketSnapshot>],
    quote_free: Decimal,
    fees: Fees,
    cost_model: &dyn CostModel,
) -> bool {
    let fee_rate = fees.maker_bps.max(fees.taker_bps) / BPS;
    let orders = || decisions.iter().filter_map(|d| d.order.as_ref());
    let proceeds: Decimal = orders()
        .filter(|o| o.side == Side::Sell)
        .map(|o| o.quantity * o.limit_price.value() * (Decimal::ONE - fee_rate))
        .sum();
    let wanted: Decimal = orders()
        .filter(|o| o.side == Side::Buy)
        .map(|o| o.quantity * o.limit_price.value())
        .sum();
    let budget = quote_free + proceeds;
    if wanted <= budget {
        return wanted > quote_free;
    }
    let factor = budget / wanted;
    for (d, market) in decisions.iter_mut().zip(traded) {
        let (Some(o), Some(market)) = (d.order.as_ref().filter(|o| o.side == Side::Buy), market)
        else {
            continue;
        };
        let quantity = floor_to_step(o.quantity * factor, market.filters.step_size());
        let (reason, order) = price_order(
            max_cost_bps,
            cost_model,
            market,
            Side::Buy,
            quantity,
            o.limit_price.value(),
            o.worst_price.value(),
            true,
        );
        d.reason = reason;
        d.order = order;
    }
    let capped: Decimal = decisions
        .iter()
        .filter_map(|d| d.order.as_ref().filter(|o| o.side == Side::Buy))
        .map(|o| o.quantity * o.limit_price.value())
        .sum();
    capped > quote_free
}
