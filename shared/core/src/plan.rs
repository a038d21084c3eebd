//! The planner: decides every asset, routes each trade worth making to the account where it
//! costs least ([`crate::route`]), and turns the routed trades into order intents.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountMarkets, PortfolioAccount};
use crate::ports::Venue;
use crate::pricing::SlippageBudget;
use crate::route::{self, Routing};
use crate::{
    Asset, AssetDrift, ClientOrderId, CostEstimate, CostModel, CycleId, DecisionReason,
    DomainError, DriftSnapshot, EpochMillis, Fees, Holdings, MarketSnapshot, Markets, OrderIntent,
    Portfolio, Price, RebalancePolicy, Side, Symbol,
};

/// An order already placed or queued whose remainder has not filled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightOrder {
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "crate::exact")]
    pub remaining: Decimal,
    pub limit_price: Price,
    /// The account it was placed on; `None` for the deployment's default account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Whether the exchange holds it (placed, or being placed or re-priced): then what it
    /// spends is locked and out of the free balances. An order not yet placed (waiting in the
    /// queue for depth, or for its cycle's sells) spends from balances still counted free.
    #[serde(default = "placed_by_default")]
    pub placed: bool,
}

fn placed_by_default() -> bool {
    true
}

/// One account's part in a plan: what it holds now, its markets and what trading there costs.
#[derive(Clone, Copy)]
pub struct PlanAccount<'a> {
    /// The secret id of the account; `None` for the deployment's default account.
    pub account: Option<&'a str>,
    pub venue: Venue,
    /// The cash asset it trades against: every market in `markets` is `ASSET/quote`.
    pub quote: &'a Asset,
    /// The value of one unit of `quote` in the portfolio's quote.
    pub cash_rate: Decimal,
    /// Free balances of what the portfolio counts here, its cash included. Amounts locked in
    /// open orders are the caller's to leave out; they come back through `in_flight`.
    pub holdings: &'a Holdings,
    /// Amounts never sold (for the cash: never spent) here.
    pub reserve: &'a Holdings,
    /// Assets the portfolio neither counts nor trades here: never routed to this account.
    pub ignore: &'a BTreeSet<Asset>,
    /// The market of each asset this account's venue lists, in `quote`.
    pub markets: &'a Markets,
    pub fees: Fees,
    pub cost_model: &'a dyn CostModel,
}

impl<'a> PlanAccount<'a> {
    /// The one account of a portfolio that trades in its own quote asset: the deployment's
    /// default account, nothing reserved.
    pub fn single(
        quote: &'a Asset,
        holdings: &'a Holdings,
        markets: &'a Markets,
        fees: Fees,
        cost_model: &'a dyn CostModel,
    ) -> Self {
        Self {
            account: None,
            venue: Venue::Binance,
            quote,
            cash_rate: Decimal::ONE,
            holdings,
            reserve: &NOTHING,
            ignore: &NONE_IGNORED,
            markets,
            fees,
            cost_model,
        }
    }

    /// A portfolio's account with what it holds now and what it trades on.
    pub fn new(
        account: &'a PortfolioAccount,
        holdings: &'a Holdings,
        markets: &'a AccountMarkets,
        cost_model: &'a dyn CostModel,
    ) -> Self {
        Self {
            account: account.account.as_deref(),
            venue: markets.venue,
            quote: &account.quote,
            cash_rate: markets.cash_rate,
            holdings,
            reserve: &account.reserve,
            ignore: &account.ignore,
            markets: &markets.markets,
            fees: markets.fees,
            cost_model,
        }
    }

    /// The account's name as people read it: its secret id, or `default`.
    pub fn name(&self) -> &str {
        self.account.unwrap_or("default")
    }

    /// `amount` of this account's quote, in the portfolio's quote.
    pub(crate) fn in_portfolio_quote(&self, amount: Decimal) -> Decimal {
        at_rate(amount, self.cash_rate)
    }

    /// The cash a buy of `notional` (in this account's quote) takes from the account: the
    /// notional, and on a venue that charges a buy's fee in the quote
    /// ([`Venue::buy_fee_in_quote`]) the fee at the higher of the two rates as well.
    pub(crate) fn buy_spend(&self, notional: Decimal) -> Decimal {
        self.buy_fee_bps()
            .map_or(notional, |bps| crate::money::plus_bps(notional, bps))
    }

    /// The fee rate a buy here pays in the quote on top of its cost, in bps: the higher of the
    /// two; `None` where the venue takes it from the asset bought.
    fn buy_fee_bps(&self) -> Option<Decimal> {
        self.venue
            .buy_fee_in_quote()
            .then(|| self.fees.higher_bps())
    }
}

/// Nothing reserved.
static NOTHING: Holdings = Holdings::EMPTY;
/// Nothing ignored.
static NONE_IGNORED: BTreeSet<Asset> = BTreeSet::new();

/// Everything a plan is made from.
#[derive(Clone, Copy)]
pub struct PlanRequest<'a> {
    /// The targets and the quote asset equity is counted in. Its holdings are those off every
    /// exchange: counted in equity and drift, never traded.
    pub portfolio: &'a Portfolio,
    /// Where the portfolio trades: at least one. A trade goes where it costs least; the first
    /// account wins a tie.
    pub accounts: &'a [PlanAccount<'a>],
    /// Orders not yet final: drift is measured as if they fill, and their assets get no new
    /// order until they are final.
    pub in_flight: &'a [InFlightOrder],
    pub policy: &'a RebalancePolicy,
    /// Earlier drift snapshots of this portfolio, newest first.
    pub history: &'a [DriftSnapshot],
    pub cycle: &'a CycleId,
    pub now_ms: EpochMillis,
}

/// The order a decision to trade leads to, on one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOrder {
    pub side: Side,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    /// In the account's quote asset, as are `worst_price` and `cost.notional`.
    pub limit_price: Price,
    pub worst_price: Price,
    pub cost: CostEstimate,
    /// The quantity was reduced to what the account's cash and its sells' proceeds can pay.
    pub capped_by_budget: bool,
    /// The account it goes to (`None`: the default account) and that account's venue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub venue: Venue,
    pub symbol: Symbol,
    /// The value of one unit of the account's quote in the portfolio's quote.
    #[serde(with = "crate::exact")]
    pub cash_rate: Decimal,
    /// The index of the account in the request.
    #[serde(skip)]
    pub(crate) slot: usize,
}

impl PlannedOrder {
    /// The notional at the limit price, in the portfolio's quote.
    pub fn notional(&self) -> Decimal {
        at_rate(self.quantity * self.limit_price.value(), self.cash_rate)
    }

    /// The predicted cost, in the portfolio's quote.
    pub fn predicted_cost(&self) -> Decimal {
        at_rate(self.cost.total_quote(), self.cash_rate)
    }
}

/// `amount` of an account's cash in the portfolio's quote, at `cash_rate`. At par the amount
/// itself, so a one-account portfolio's figures keep their scale.
fn at_rate(amount: Decimal, cash_rate: Decimal) -> Decimal {
    if cash_rate == Decimal::ONE {
        amount
    } else {
        amount * cash_rate
    }
}

/// What a trade would cost on one account, for the plan's routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteQuote {
    pub account: String,
    pub venue: Venue,
    /// The predicted cost of the whole trade there, when it could be made there.
    #[serde(with = "crate::exact::option")]
    pub cost_bps: Option<Decimal>,
    /// Why not, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Part or all of the trade goes there.
    pub chosen: bool,
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
    /// The trade, on the account where it costs least.
    pub order: Option<PlannedOrder>,
    /// The rest of the trade on other accounts, cheapest first, when that account's balance,
    /// cash or book was not enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<PlannedOrder>,
    /// With several accounts: the trade's cost on each account that lists the asset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteQuote>,
}

impl AssetDecision {
    /// Every order of the decision: the main one, then the split.
    pub fn orders(&self) -> impl Iterator<Item = &PlannedOrder> {
        self.order.iter().chain(&self.split)
    }
}

/// Something about the plan as a whole a person should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum PlanNote {
    /// Buys wanted more than the cash on the accounts that list them: `unfunded` (in the
    /// portfolio's quote) is not bought. Cash is never moved between accounts.
    BuysShortOfCash {
        #[serde(with = "crate::exact")]
        unfunded: Decimal,
    },
    /// Cash the plan could not spend on the buys it wanted, on this account.
    IdleCash {
        account: String,
        venue: Venue,
        asset: Asset,
        #[serde(with = "crate::exact")]
        amount: Decimal,
    },
}

impl std::fmt::Display for PlanNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BuysShortOfCash { unfunded } => write!(
                f,
                "buys short of cash by {} where they trade; no transfer is made between accounts",
                unfunded.round_dp(2)
            ),
            Self::IdleCash {
                account,
                venue,
                asset,
                amount,
            } => write!(
                f,
                "{} {asset} on {account} ({venue}) cannot pay for buys routed elsewhere",
                amount.round_dp(2)
            ),
        }
    }
}

/// The outcome of planning one portfolio for one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalancePlan {
    pub snapshot: DriftSnapshot,
    /// One per target asset, in asset order.
    pub decisions: Vec<AssetDecision>,
    /// Sells first, then buys; in asset order within each, cheapest account first.
    pub intents: Vec<OrderIntent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<PlanNote>,
}

/// Sums over a plan's orders, in the portfolio's quote asset.
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
        let orders = || self.decisions.iter().flat_map(AssetDecision::orders);
        let notional = |side| {
            orders()
                .filter(|o| o.side == side)
                .map(PlannedOrder::notional)
                .sum()
        };
        PlanTotals {
            sell_notional: notional(Side::Sell),
            buy_notional: notional(Side::Buy),
            predicted_cost: orders().map(PlannedOrder::predicted_cost).sum(),
            orders: self.intents.len(),
            skipped: self
                .decisions
                .iter()
                .filter(|d| d.reason.is_skipped_trade())
                .count(),
        }
    }
}

/// Decides every asset of the portfolio, routes the trades worth making and plans their
/// orders.
///
/// # Errors
/// [`DomainError`] when the policy is invalid, there is no account, an asset has no market on
/// any account (or a market in another quote asset than its account's), an in-flight order
/// matches no account, or the portfolio has no value.
pub fn plan(request: &PlanRequest<'_>) -> Result<RebalancePlan, DomainError> {
    let PlanRequest {
        portfolio,
        accounts,
        in_flight,
        policy,
        history,
        cycle,
        now_ms,
    } = *request;
    policy.validate()?;
    if accounts.is_empty() {
        return Err(DomainError::NoAccount);
    }
    let quote = portfolio.quote();
    let traded = accounts
        .iter()
        .map(|a| markets_of_targets(portfolio, a))
        .collect::<Result<Vec<_>, _>>()?;
    let held = project_in_flight(portfolio, accounts, in_flight)?;
    let snapshot = combined_snapshot(portfolio, accounts, &held, &traded, cycle)?;
    let window = policy.velocity.map(|v| v.window).unwrap_or_default();

    let routing = Routing {
        policy,
        accounts,
        traded: &traded,
        equity: snapshot.equity,
        slippage: SlippageBudget::of(policy.slippage_budget_bps),
    };
    let mut decisions: Vec<AssetDecision> = Vec::with_capacity(snapshot.assets.len());
    for (k, a) in snapshot.assets.iter().enumerate() {
        let band = policy.band_for(&a.asset, a.target);
        let velocity = window.velocity_at(a.drift, history, &a.asset);
        let routed = if &a.asset == quote {
            route::Routed::reason(DecisionReason::QuoteAsset)
        } else if a.drift.abs() > band && in_flight.iter().any(|o| o.symbol.base() == &a.asset) {
            route::Routed::reason(DecisionReason::OrderInFlight)
        } else {
            routing.decide(k, &a.asset, a.target, a.drift, band, velocity)?
        };
        decisions.push(AssetDecision {
            asset: a.asset.clone(),
            weight: a.weight,
            target: a.target,
            drift: a.drift,
            band,
            velocity,
            reason: routed.reason,
            order: routed.order,
            split: routed.split,
            routes: routed.routes,
        });
    }

    let funding = routing.fund_buys(&mut decisions);

    let expires_at_ms = now_ms + i64::from(policy.order_ttl_seconds) * 1000;
    let mut intents: Vec<OrderIntent> =
        Vec::with_capacity(decisions.iter().map(|d| d.orders().count()).sum::<usize>());
    // Sells first: their proceeds pay for the buys on their account. Decisions are in asset
    // order.
    for side in [Side::Sell, Side::Buy] {
        for (k, d) in decisions.iter().enumerate() {
            for o in d.orders().filter(|o| o.side == side) {
                let Some(TradedMarket { market, .. }) = traded[o.slot][k] else {
                    continue;
                };
                let Some(reference_price) = market.book.mid() else {
                    continue;
                };
                let account = accounts[o.slot].account;
                let symbol = market.filters.symbol().clone();
                intents.push(OrderIntent {
                    client_order_id: ClientOrderId::derive(
                        account,
                        portfolio.id(),
                        cycle,
                        &symbol,
                        o.side,
                        0,
                    ),
                    portfolio_id: portfolio.id().clone(),
                    cycle_id: cycle.clone(),
                    symbol,
                    side: o.side,
                    leg: 0,
                    quantity: o.quantity,
                    limit_price: o.limit_price,
                    limit_offset: policy.limit_offset,
                    funded_by_sells: o.side == Side::Buy && funding.needs_proceeds[o.slot],
                    quote_fee_bps: (o.side == Side::Buy)
                        .then(|| accounts[o.slot].buy_fee_bps())
                        .flatten(),
                    reference_price,
                    worst_price: o.worst_price,
                    predicted_cost_bps: o.cost.total_bps(),
                    created_at_ms: now_ms,
                    expires_at_ms,
                    account: account.map(str::to_owned),
                });
            }
        }
    }
    Ok(RebalancePlan {
        snapshot,
        decisions,
        intents,
        notes: funding.notes,
    })
}

/// A target asset's market on one account, with its book's best bid and ask.
#[derive(Clone, Copy)]
pub(crate) struct TradedMarket<'m> {
    pub market: &'m MarketSnapshot,
    /// The best bid and ask, `None` when a side is empty.
    pub touch: Option<(Price, Price)>,
}

/// The market of every target asset on `account`, in asset order (`None` for the portfolio's
/// quote asset, an asset the account's venue does not list, and one it ignores), each checked to be that
/// asset's market in the account's quote.
///
/// # Errors
/// [`DomainError::MarketMismatch`] for the first market (in asset order) that is not.
fn markets_of_targets<'m>(
    portfolio: &Portfolio,
    account: &PlanAccount<'m>,
) -> Result<Vec<Option<TradedMarket<'m>>>, DomainError> {
    let quote = account.quote;
    let mut listed = account.markets.iter().peekable();
    let mut found = Vec::with_capacity(portfolio.targets().len());
    for asset in portfolio.targets().assets() {
        // Both maps are in asset order: one pass, skipping markets the portfolio does not hold.
        while listed.next_if(|(a, _)| *a < asset).is_some() {}
        let market = listed.next_if(|(a, _)| *a == asset).map(|(_, m)| m);
        // An asset the account ignores is not traded there: what a buy there bought would not
        // be counted, and would be bought again every cycle.
        let market =
            market.filter(|_| asset != portfolio.quote() && !account.ignore.contains(asset));
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
        found.push(market.map(|market| TradedMarket {
            market,
            touch: None,
        }));
    }
    // Each book's levels are elsewhere in memory. A loop that only reads the tops has every
    // read of a portfolio in flight at once, where reading each while planning it waits on
    // memory once per book (about a tenth of planning 1,000 portfolios whose books are not in
    // cache).
    for t in found.iter_mut().flatten() {
        t.touch = t.market.book.best_bid().zip(t.market.book.best_ask());
    }
    Ok(found)
}

/// Each account's holdings as they will be once the in-flight orders fill: a buy adds its
/// remainder, a sell adds its proceeds at its limit. What a placed order spends is locked on
/// the exchange, so not in the free balance; what an order not yet placed will spend still is,
/// and comes off here (else it would count twice, as cash and as what it buys). An account's
/// holdings themselves, not a copy, when nothing of it is in flight.
fn project_in_flight<'p>(
    portfolio: &Portfolio,
    accounts: &'p [PlanAccount<'p>],
    in_flight: &[InFlightOrder],
) -> Result<Vec<Cow<'p, Holdings>>, DomainError> {
    let mut held: Vec<Cow<'p, Holdings>> =
        accounts.iter().map(|a| Cow::Borrowed(a.holdings)).collect();
    if in_flight.is_empty() {
        return Ok(held);
    }
    let mut projected: Vec<Option<BTreeMap<Asset, Decimal>>> = vec![None; accounts.len()];
    for o in in_flight {
        // The order's account; an order placed before the portfolio listed its account goes to
        // the first account that settles in the order's quote.
        let slot = accounts
            .iter()
            .position(|a| a.account == o.account.as_deref() && a.quote == o.symbol.quote())
            .or_else(|| accounts.iter().position(|a| a.quote == o.symbol.quote()));
        let Some(slot) = slot.filter(|_| portfolio.targets().contains(o.symbol.base())) else {
            return Err(DomainError::UnknownAsset {
                asset: o.symbol.to_string(),
                context: "in-flight orders",
            });
        };
        let map = projected[slot].get_or_insert_with(|| {
            accounts[slot]
                .holdings
                .iter()
                .map(|(a, q)| (a.clone(), q))
                .collect()
        });
        let (base, quote) = (o.symbol.base().clone(), o.symbol.quote().clone());
        let notional = o.remaining * o.limit_price.value();
        let (gets, spends) = match o.side {
            // A buy spends its fee too where the venue charges it in the quote.
            Side::Buy => (
                (base, o.remaining),
                (quote, accounts[slot].buy_spend(notional)),
            ),
            Side::Sell => ((quote, notional), (base, o.remaining)),
        };
        *map.entry(gets.0).or_default() += gets.1;
        if !o.placed {
            // Never below zero: a balance the exchange already moved (a placement the ledger
            // does not know of yet) is not spent twice either.
            let held = map.entry(spends.0).or_default();
            *held = (*held - spends.1).max(Decimal::ZERO);
        }
    }
    for (slot, map) in projected.into_iter().enumerate() {
        if let Some(map) = map {
            held[slot] = Cow::Owned(Holdings::new(map)?);
        }
    }
    Ok(held)
}

/// The portfolio's weights and drift over every account and what is held off every exchange:
/// each holding valued at its own account's mid (in that account's cash, counted in the
/// portfolio's quote); a holding off every exchange, or on an account whose venue does not
/// list it, at the first account's mid that lists it; every account's cash at its rate.
fn combined_snapshot(
    portfolio: &Portfolio,
    accounts: &[PlanAccount<'_>],
    held: &[Cow<'_, Holdings>],
    traded: &[Vec<Option<TradedMarket<'_>>>],
    cycle: &CycleId,
) -> Result<DriftSnapshot, DomainError> {
    let quote = portfolio.quote();
    let mut assets = Vec::with_capacity(portfolio.targets().len());
    // Sums start from their first term, so a one-account portfolio's figures are exactly the
    // account's (no `0 +` changing a scale).
    let add = |sum: Option<Decimal>, term: Decimal| Some(sum.map_or(term, |s| s + term));
    // Each account's holdings are in asset order, as the targets are: one pass over each, no
    // lookup per asset. An account may hold what the portfolio has no target for (another
    // cash asset): skipped.
    let mut holdings: Vec<_> = held.iter().map(|h| h.iter().peekable()).collect();
    for (k, (asset, target, off_held)) in portfolio.positions().enumerate() {
        let held_here = holdings.iter_mut().map(|h| {
            while h.next_if(|(a, _)| *a < asset).is_some() {}
            h.next_if(|(a, _)| *a == asset)
                .map_or(Decimal::ZERO, |(_, q)| q)
        });
        let (quantity, price, value) = if asset == quote {
            let mut cash = None;
            for (a, h) in accounts.iter().zip(held) {
                cash = add(cash, a.in_portfolio_quote(h.of(a.quote)));
            }
            if !off_held.is_zero() {
                cash = add(cash, off_held);
            }
            let cash = cash.unwrap_or_default();
            (cash, Price::new(Decimal::ONE)?, cash)
        } else {
            // Each account's mid in the portfolio's quote; no list per asset, since this runs
            // for every asset of every portfolio.
            let mid_on = |i: usize| traded[i][k].and_then(|t| t.market.book.mid());
            let price_on =
                |i: usize| mid_on(i).map(|mid| accounts[i].in_portfolio_quote(mid.value()));
            let Some((first, first_mid)) =
                (0..accounts.len()).find_map(|i| mid_on(i).map(|mid| (i, mid)))
            else {
                return Err(DomainError::MissingMarket {
                    asset: asset.to_string(),
                });
            };
            let reference = accounts[first].in_portfolio_quote(first_mid.value());
            // At par the reference is that mid itself, already a valid price: not checked and
            // normalized again for every asset.
            let reference_price = if accounts[first].cash_rate == Decimal::ONE {
                first_mid
            } else {
                Price::new(reference)?
            };
            let (mut quantity, mut value) = (None, None);
            for (i, q) in held_here.enumerate() {
                quantity = add(quantity, q);
                value = add(value, q * price_on(i).unwrap_or(reference));
            }
            if !off_held.is_zero() {
                quantity = add(quantity, off_held);
                value = add(value, off_held * reference);
            }
            (
                quantity.unwrap_or_default(),
                reference_price,
                value.unwrap_or_default(),
            )
        };
        assets.push(AssetDrift {
            asset: asset.clone(),
            quantity,
            price,
            value,
            weight: Decimal::ZERO,
            target,
            drift: Decimal::ZERO,
        });
    }
    DriftSnapshot::weigh(portfolio.id(), cycle, quote, assets)
}
