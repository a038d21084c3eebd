//! Deciding one asset and routing its trade: whether it is worth making (band, velocity,
//! minimum), then on which account. Each account that lists the asset is quoted the whole
//! trade at its own book and fees; the trade goes to the cheapest, and what that account cannot
//! take (its balance above the reserve, its book, for a buy its cash) goes to the next
//! cheapest. Sells only where the asset is held; buys only with the cash of the account they
//! are placed on, which its own sells' proceeds add to: nothing is moved between accounts.

use rust_decimal::Decimal;

use crate::money::{floor_to_step, BPS};
use crate::plan::{AssetDecision, PlanAccount, PlanNote, PlannedOrder, RouteQuote, TradedMarket};
use crate::pricing::{limit_price, SlippageBudget};
use crate::{
    Asset, CostError, DecisionReason, DomainError, MarketSnapshot, Price, RebalancePolicy, Side,
};

/// What routing works from: the policy, the accounts and each account's market of each target
/// asset (in asset order), and the portfolio's equity.
pub(crate) struct Routing<'r, 'a> {
    pub policy: &'r RebalancePolicy,
    pub accounts: &'r [PlanAccount<'a>],
    pub traded: &'r [Vec<Option<TradedMarket<'a>>>],
    pub equity: Decimal,
    /// The policy's slippage budget, divided out once for every order.
    pub slippage: SlippageBudget,
}

/// The decision on one asset: why, and the orders it leads to.
pub(crate) struct Routed {
    pub reason: DecisionReason,
    pub order: Option<PlannedOrder>,
    pub split: Vec<PlannedOrder>,
    pub routes: Vec<RouteQuote>,
}

impl Routed {
    pub fn reason(reason: DecisionReason) -> Self {
        Self {
            reason,
            order: None,
            split: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// How the buys are paid: per account, whether they wait for that account's sells, and what
/// the plan says about cash.
pub(crate) struct Funding {
    pub needs_proceeds: Vec<bool>,
    pub notes: Vec<PlanNote>,
}

/// One account's answer to "trade this": the order, or why not.
type Quote = (DecisionReason, Option<PlannedOrder>);

impl Routing<'_, '_> {
    fn market(&self, slot: usize, k: usize) -> Option<&MarketSnapshot> {
        self.traded[slot][k].map(|t| t.market)
    }

    /// Decides asset `k` (the `k`-th target in asset order) and routes its trade. Buys are
    /// routed again by [`Routing::fund_buys`] once the sells' proceeds are known.
    ///
    /// # Errors
    /// [`DomainError::MissingMarket`] when no account lists the asset.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        k: usize,
        asset: &Asset,
        target: Decimal,
        drift: Decimal,
        band: Decimal,
        velocity: Option<Decimal>,
    ) -> Result<Routed, DomainError> {
        let policy = self.policy;
        if drift.abs() <= band {
            return Ok(Routed::reason(DecisionReason::InBand));
        }
        // The accounts that list the asset, in account order; no list, since this runs for
        // every asset out of its band.
        let candidates = || (0..self.accounts.len()).filter(|&i| self.market(i, k).is_some());
        let markets = || candidates().filter_map(|i| self.market(i, k));
        let Some(first) = markets().next() else {
            return Err(DomainError::MissingMarket {
                asset: asset.to_string(),
            });
        };
        if !markets().any(|m| m.filters.status().is_trading()) {
            return Ok(Routed::reason(DecisionReason::NotTrading {
                status: first.filters.status().to_string(),
            }));
        }
        if let (Some(rule), Some(v)) = (policy.velocity, velocity) {
            let projected = drift + v * rule.horizon_cycles;
            let moving_back = v.is_sign_negative() != drift.is_sign_negative() && !v.is_zero();
            let back_inside =
                projected.abs() <= band || projected.is_sign_negative() != drift.is_sign_negative();
            if moving_back && back_inside {
                return Ok(Routed::reason(DecisionReason::DeferredByVelocity {
                    velocity: v,
                    projected_drift: projected,
                }));
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
        let trade_weight = if exit {
            drift.abs()
        } else {
            drift.abs() - band * (Decimal::ONE - policy.destination.toward_target())
        };
        let notional = trade_weight * self.equity;
        if notional < policy.min_trade_notional {
            return Ok(Routed::reason(DecisionReason::BelowMinimum {
                notional,
                minimum: policy.min_trade_notional,
            }));
        }
        if let [_] = self.accounts {
            // One account: the trade goes there whole or not at all (no split, no table), as
            // `fill` would decide it from this one quote, without its lists.
            let (reason, order) = self.quote(0, k, asset, side, notional, exit, None);
            return Ok(Routed {
                reason,
                order,
                split: Vec::new(),
                routes: Vec::new(),
            });
        }
        let quotes: Vec<(usize, Quote)> = candidates()
            .map(|i| (i, self.quote(i, k, asset, side, notional, exit, None)))
            .collect();
        let (legs, _) = self.fill(k, asset, side, notional, exit, &quotes, None);
        let routes = self.routes(&quotes, &legs);
        Ok(match legs.split_first() {
            Some((order, split)) => Routed {
                reason: DecisionReason::Trade,
                order: Some(order.clone()),
                split: split.to_vec(),
                routes,
            },
            None => {
                // Nowhere: the reason the first account gave.
                let reason = quotes
                    .into_iter()
                    .next()
                    .map_or(DecisionReason::InBand, |(_, (reason, _))| reason);
                Routed {
                    reason,
                    order: None,
                    split: Vec::new(),
                    routes,
                }
            }
        })
    }

    /// The table of what the whole trade costs on each account, with several accounts.
    fn routes(&self, quotes: &[(usize, Quote)], legs: &[PlannedOrder]) -> Vec<RouteQuote> {
        if self.accounts.len() < 2 {
            return Vec::new();
        }
        quotes
            .iter()
            .map(|(i, (reason, order))| {
                let account = &self.accounts[*i];
                RouteQuote {
                    account: account.name().to_owned(),
                    venue: account.venue,
                    cost_bps: order.as_ref().map(|o| o.cost.total_bps()),
                    refused: order.is_none().then(|| reason.to_string()),
                    chosen: legs.iter().any(|l| l.slot == *i),
                }
            })
            .collect()
    }

    /// The legs of a trade of `notional` (in the portfolio's quote): the cheapest account's
    /// order, then, while a part worth trading is left, the next cheapest's for the rest; with
    /// several accounts, one whose book is too thin for the whole takes what it shows.
    /// `budget`, per account in its own cash, caps buys and is spent by them. Returns the legs
    /// and the part left unrouted.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        k: usize,
        asset: &Asset,
        side: Side,
        notional: Decimal,
        exit: bool,
        quotes: &[(usize, Quote)],
        mut budget: Option<&mut [Decimal]>,
    ) -> (Vec<PlannedOrder>, Decimal) {
        let mut ranked: Vec<(usize, Option<&PlannedOrder>, Option<Decimal>)> = quotes
            .iter()
            .filter_map(|(i, (reason, order))| match (order, reason) {
                (Some(o), _) => Some((*i, Some(o), None)),
                (None, DecisionReason::BookTooThin { visible, .. })
                    if quotes.len() > 1 && *visible > Decimal::ZERO =>
                {
                    Some((*i, None, Some(*visible)))
                }
                _ => None,
            })
            .collect();
        // Cheapest first; a thin book after every whole quote; the first account on a tie.
        ranked.sort_by(|a, b| {
            let cost = |r: &(usize, Option<&PlannedOrder>, Option<Decimal>)| {
                r.1.map(|o| o.cost.total_bps())
            };
            match (cost(a), cost(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then(a.0.cmp(&b.0))
        });
        let mut legs: Vec<PlannedOrder> = Vec::new();
        let mut left = notional;
        for (i, whole, visible) in ranked {
            if !exit && !legs.is_empty() && self.covered(left) {
                break;
            }
            let account = &self.accounts[i];
            let mut leg = match whole {
                // The first leg is the whole trade, already quoted.
                Some(o) if legs.is_empty() => Some(o.clone()),
                _ => self.quote(i, k, asset, side, left, exit, visible).1,
            };
            if let (Some(o), Some(budget)) = (leg.as_ref(), budget.as_deref_mut()) {
                let cash = budget[i].max(Decimal::ZERO);
                if account.buy_spend(o.quantity * o.limit_price.value()) > cash {
                    let step = self
                        .market(i, k)
                        .map_or(Decimal::ONE, |m| m.filters.step_size());
                    let affordable =
                        floor_to_step(cash / account.buy_spend(o.limit_price.value()), step);
                    let cap = visible.map_or(affordable, |v| v.min(affordable));
                    leg = self
                        .quote(i, k, asset, side, left, exit, Some(cap))
                        .1
                        .map(|o| PlannedOrder {
                            capped_by_budget: true,
                            ..o
                        });
                }
            }
            let Some(o) = leg else { continue };
            if let Some(budget) = budget.as_deref_mut() {
                budget[i] -= account.buy_spend(o.quantity * o.limit_price.value());
            }
            let mid = self
                .market(i, k)
                .and_then(|m| m.book.mid())
                .map_or(o.limit_price.value(), Price::value);
            left -= account.in_portfolio_quote(o.quantity * mid);
            legs.push(o);
        }
        (legs, left.max(Decimal::ZERO))
    }

    /// Whether what is left of a trade is too small to be worth another leg.
    fn covered(&self, left: Decimal) -> bool {
        left <= Decimal::ZERO || left < self.policy.min_trade_notional
    }

    /// The order for `notional` (in the portfolio's quote) of asset `k` on account `slot`,
    /// capped at `cap` base units, or why there is none.
    #[allow(clippy::too_many_arguments)]
    fn quote(
        &self,
        slot: usize,
        k: usize,
        asset: &Asset,
        side: Side,
        notional: Decimal,
        exit: bool,
        cap: Option<Decimal>,
    ) -> Quote {
        let account = &self.accounts[slot];
        let Some(TradedMarket { market, touch }) = self.traded[slot][k] else {
            return (
                DecisionReason::BookTooThin {
                    visible: Decimal::ZERO,
                    needed: notional,
                },
                None,
            );
        };
        let filters = &market.filters;
        if !filters.status().is_trading() {
            return (
                DecisionReason::NotTrading {
                    status: filters.status().to_string(),
                },
                None,
            );
        }
        // The book is not empty on either side: the snapshot priced this asset at its mid.
        let (Some(mid), Some((bid, ask))) = (market.book.mid(), touch) else {
            return (
                DecisionReason::BookTooThin {
                    visible: Decimal::ZERO,
                    needed: notional,
                },
                None,
            );
        };
        let policy = self.policy;
        let tick = filters.tick_size();
        let worst = self.slippage.worst_price(side, mid.value(), tick);
        let limit = limit_price(
            side,
            bid.value(),
            ask.value(),
            policy.limit_offset,
            worst,
            tick,
        );
        let in_cash = if account.cash_rate == Decimal::ONE {
            notional
        } else {
            notional / account.cash_rate
        };
        let mut quantity = filters.round_quantity(in_cash / mid.value());
        if side == Side::Sell {
            let free = (account.holdings.of(asset) - account.reserve.of(asset)).max(Decimal::ZERO);
            let sellable = filters.round_quantity(free);
            if exit || leaves_dust(filters, free - quantity, limit) {
                quantity = sellable;
            }
            quantity = quantity.min(sellable);
        }
        if let Some(cap) = cap {
            quantity = quantity.min(filters.round_quantity(cap));
        }
        self.price_order(slot, market, side, quantity, limit, worst)
    }

    /// Checks an order against the exchange's minimums and the cost cap, and prices it.
    fn price_order(
        &self,
        slot: usize,
        market: &MarketSnapshot,
        side: Side,
        quantity: Decimal,
        limit: Decimal,
        worst: Decimal,
    ) -> Quote {
        let account = &self.accounts[slot];
        let max_cost_bps = self.policy.max_cost_bps;
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
        let cost = match account.cost_model.predict(side, quantity, &market.book) {
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
                capped_by_budget: false,
                account: account.account.map(str::to_owned),
                venue: account.venue,
                symbol: filters.symbol().clone(),
                cash_rate: account.cash_rate,
                slot,
            }),
        )
    }

    /// Pays for the buys. Each account's budget is its free cash above its reserve plus its
    /// own sells' proceeds net of fees. One account: when the buys want more, every buy is
    /// scaled down by the same factor and re-checked. Several: each buy, in asset order, is
    /// routed again, cheapest account first, within what each account has left; what no
    /// account can pay is not bought, and the plan says so.
    pub fn fund_buys(&self, decisions: &mut [AssetDecision]) -> Funding {
        let n = self.accounts.len();
        let fee_rate: Vec<Decimal> = self
            .accounts
            .iter()
            .map(|a| a.fees.higher_bps() / BPS)
            .collect();
        let cash_free: Vec<Decimal> = self
            .accounts
            .iter()
            .map(|a| (a.holdings.of(a.quote) - a.reserve.of(a.quote)).max(Decimal::ZERO))
            .collect();
        let mut budget = cash_free.clone();
        for o in decisions
            .iter()
            .flat_map(AssetDecision::orders)
            .filter(|o| o.side == Side::Sell)
        {
            budget[o.slot] +=
                o.quantity * o.limit_price.value() * (Decimal::ONE - fee_rate[o.slot]);
        }
        if n == 1 {
            return Funding {
                needs_proceeds: vec![self.scale_buys(decisions, cash_free[0], budget[0])],
                notes: Vec::new(),
            };
        }
        let mut unfunded = Decimal::ZERO;
        for (k, d) in decisions.iter_mut().enumerate() {
            if d.order.as_ref().is_none_or(|o| o.side != Side::Buy) {
                continue;
            }
            // The whole trade, over every leg the books allowed.
            let wanted: Decimal = d
                .orders()
                .map(|o| self.accounts[o.slot].in_portfolio_quote(o.cost.notional))
                .sum();
            let quotes: Vec<(usize, Quote)> = (0..n)
                .filter(|&i| self.market(i, k).is_some())
                .map(|i| {
                    (
                        i,
                        self.quote(i, k, &d.asset, Side::Buy, wanted, false, None),
                    )
                })
                .collect();
            let (legs, left) = self.fill(
                k,
                &d.asset,
                Side::Buy,
                wanted,
                false,
                &quotes,
                Some(&mut budget),
            );
            d.routes = self.routes(&quotes, &legs);
            match legs.split_first() {
                Some((order, split)) => {
                    d.order = Some(order.clone());
                    d.split = split.to_vec();
                    if !self.covered(left) {
                        unfunded += left;
                        for o in d.order.iter_mut().chain(&mut d.split) {
                            o.capped_by_budget = true;
                        }
                    }
                }
                None => {
                    unfunded += wanted;
                    d.reason = DecisionReason::NotFunded { notional: wanted };
                    d.order = None;
                    d.split = Vec::new();
                }
            }
        }
        let mut notes = Vec::new();
        if unfunded > Decimal::ZERO {
            notes.push(PlanNote::BuysShortOfCash { unfunded });
            for (a, left) in self.accounts.iter().zip(&budget) {
                if *left > Decimal::ZERO
                    && a.in_portfolio_quote(*left) >= self.policy.min_trade_notional
                {
                    notes.push(PlanNote::IdleCash {
                        account: a.name().to_owned(),
                        venue: a.venue,
                        asset: a.quote.clone(),
                        amount: *left,
                    });
                }
            }
        }
        let mut spent = vec![Decimal::ZERO; n];
        for o in decisions
            .iter()
            .flat_map(AssetDecision::orders)
            .filter(|o| o.side == Side::Buy)
        {
            spent[o.slot] += self.accounts[o.slot].buy_spend(o.quantity * o.limit_price.value());
        }
        Funding {
            needs_proceeds: spent.iter().zip(&cash_free).map(|(s, c)| s > c).collect(),
            notes,
        }
    }

    /// One account: when the buys want more than `budget`, every buy is scaled down by the
    /// same factor and re-checked. True when the buys need more than the free cash: they wait
    /// for the sells (see [`crate::OrderIntent::funded_by_sells`]).
    fn scale_buys(
        &self,
        decisions: &mut [AssetDecision],
        cash_free: Decimal,
        budget: Decimal,
    ) -> bool {
        let buys = |decisions: &[AssetDecision]| -> Decimal {
            decisions
                .iter()
                .filter_map(|d| d.order.as_ref().filter(|o| o.side == Side::Buy))
                .map(|o| self.accounts[o.slot].buy_spend(o.quantity * o.limit_price.value()))
                .sum()
        };
        let wanted = buys(decisions);
        if wanted <= budget {
            return wanted > cash_free;
        }
        let factor = budget / wanted;
        for (k, d) in decisions.iter_mut().enumerate() {
            let Some(o) = d.order.as_ref().filter(|o| o.side == Side::Buy) else {
                continue;
            };
            let Some(market) = self.market(o.slot, k) else {
                continue;
            };
            let quantity = floor_to_step(o.quantity * factor, market.filters.step_size());
            let (limit, worst, slot) = (o.limit_price.value(), o.worst_price.value(), o.slot);
            let (reason, order) = self.price_order(slot, market, Side::Buy, quantity, limit, worst);
            d.reason = reason;
            d.order = order.map(|o| PlannedOrder {
                capped_by_budget: true,
                ..o
            });
        }
        buys(decisions) > cash_free
    }
}

/// Whether the `leftover` a sell leaves could never be sold on its own: something on the step
/// grid, but under the exchange's minimum quantity or notional at `price`. Such a sell takes
/// the whole holding instead; otherwise the leftover would stay as dust for good.
fn leaves_dust(filters: &crate::MarketFilters, leftover: Decimal, price: Decimal) -> bool {
    let sellable = filters.round_quantity(leftover);
    !sellable.is_zero() && !filters.accepts(sellable, price)
}
