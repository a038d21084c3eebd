//! The venues a backtest's portfolio is spread over: each its own fee tier, its own books (the
//! scenario's, with the spread and the depth scaled) and its share of the starting holdings,
//! and, per policy, each venue's account: its holdings, the fills routed to it and what they
//! cost.

use std::collections::BTreeMap;

use driftline_core::money::{ceil_to_step, floor_to_step, BPS};
use driftline_core::ports::Venue;
use driftline_core::{
    Asset, BookWalkCostModel, CostEstimate, CostModel, DepthProfile, Fees, Holdings,
    MarketSnapshot, Markets, PlanAccount, PlannedOrder, Side,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::execution::WorkingOrder;
use super::{AssetMarket, BacktestError, PolicyResult};

/// Costs are charged in whole units of 10^-8 quote, rounded up: the exchange's precision, and
/// what keeps `value before = value after + cost` exact.
pub(super) const CHARGE_PRECISION: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// One venue of a multi-venue scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueConfig {
    pub venue: Venue,
    pub fees: Fees,
    /// The venue's full spread as a multiple of the scenario's.
    pub spread_multiplier: Decimal,
    /// The quantity of each book level as a multiple of the scenario's.
    pub depth_multiplier: Decimal,
    /// Its share of the starting holdings kept on exchanges (every asset and the cash); `None`
    /// on every venue splits them equally.
    pub share: Option<Decimal>,
}

impl VenueConfig {
    /// The scenario's own books and `fees` on `venue`, an equal share.
    pub fn plain(venue: Venue, fees: Fees) -> Self {
        Self {
            venue,
            fees,
            spread_multiplier: Decimal::ONE,
            depth_multiplier: Decimal::ONE,
            share: None,
        }
    }

    /// Parses `NAME[:KEY=VALUE,...]`: a venue (`binance`, `kraken`, `coinbase`) and any of
    /// `fee` (maker and taker, bps), `maker`, `taker`, `spread` and `depth` (multipliers of the
    /// scenario's books) and `share` (of the starting holdings). Unset fees are `fees`.
    ///
    /// # Errors
    /// [`BacktestError::Invalid`] naming the venue, the key and the value that are wrong.
    pub fn parse(spec: &str, fees: Fees) -> Result<Self, BacktestError> {
        let (name, settings) = spec.split_once(':').unwrap_or((spec, ""));
        let venue: Venue = name.parse().map_err(|_| {
            BacktestError::invalid(
                format!("venue {name:?}"),
                "is not a venue (binance, kraken, coinbase)",
            )
        })?;
        let mut config = Self::plain(venue, fees);
        for setting in settings.split(',').filter(|s| !s.is_empty()) {
            let field = |key: &str| format!("venue {venue}.{key}");
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| BacktestError::invalid(field(setting), "expected KEY=VALUE"))?;
            let number: Decimal = value.parse().map_err(|_| {
                BacktestError::invalid(field(key), format!("{value:?} is not a decimal"))
            })?;
            match key {
                "fee" => {
                    config.fees.maker_bps = number;
                    config.fees.taker_bps = number;
                }
                "maker" => config.fees.maker_bps = number,
                "taker" => config.fees.taker_bps = number,
                "spread" => config.spread_multiplier = number,
                "depth" => config.depth_multiplier = number,
                "share" => config.share = Some(number),
                _ => {
                    return Err(BacktestError::invalid(
                        field(key),
                        "unknown key (fee, maker, taker, spread, depth, share)",
                    ))
                }
            }
        }
        Ok(config)
    }

    /// The scenario's `markets` as this venue's books show them: the spread and the quantity
    /// of each level scaled (the quantity rounded down to the market's step).
    ///
    /// # Errors
    /// [`BacktestError::Invalid`] when a level falls below one step.
    pub fn markets(&self, markets: &[AssetMarket]) -> Result<Vec<AssetMarket>, BacktestError> {
        markets
            .iter()
            .map(|m| {
                let quantity = floor_to_step(
                    m.depth.quantity_per_level * self.depth_multiplier,
                    m.filters.step_size(),
                );
                if quantity <= Decimal::ZERO {
                    return Err(BacktestError::invalid(
                        format!("venue {}.depth", self.venue),
                        format!(
                            "{} leaves less than one step per level of {}",
                            self.depth_multiplier, m.asset
                        ),
                    ));
                }
                Ok(AssetMarket {
                    depth: DepthProfile {
                        quantity_per_level: quantity,
                        ..m.depth
                    },
                    spread_bps: m.spread_bps * self.spread_multiplier,
                    ..m.clone()
                })
            })
            .collect()
    }
}

/// Checks `venues` and `off_exchange` (a share of every asset but the cash held off every
/// exchange) and gives each venue's share of the rest.
///
/// # Errors
/// [`BacktestError::Invalid`] for a venue listed twice, a negative fee, a multiplier that is
/// not positive, shares given on some venues only or not summing to 1, or `off_exchange`
/// outside [0, 1).
pub(super) fn shares_of(
    venues: &[VenueConfig],
    off_exchange: Decimal,
) -> Result<Vec<Decimal>, BacktestError> {
    if off_exchange < Decimal::ZERO || off_exchange >= Decimal::ONE {
        return Err(BacktestError::invalid(
            "off_exchange",
            format!("{off_exchange} must be in [0, 1)"),
        ));
    }
    for (i, v) in venues.iter().enumerate() {
        let field = |key: &str| format!("venue {}.{key}", v.venue);
        if venues[..i].iter().any(|w| w.venue == v.venue) {
            return Err(BacktestError::invalid(field("venue"), "is listed twice"));
        }
        for (key, fee) in [("maker", v.fees.maker_bps), ("taker", v.fees.taker_bps)] {
            if fee < Decimal::ZERO {
                return Err(BacktestError::invalid(
                    field(key),
                    format!("{fee} must not be negative"),
                ));
            }
        }
        for (key, m) in [
            ("spread", v.spread_multiplier),
            ("depth", v.depth_multiplier),
        ] {
            if m <= Decimal::ZERO {
                return Err(BacktestError::invalid(
                    field(key),
                    format!("{m} must be positive"),
                ));
            }
        }
    }
    let given: Vec<Decimal> = venues.iter().filter_map(|v| v.share).collect();
    if given.is_empty() {
        let each = Decimal::ONE / Decimal::from(venues.len().max(1));
        return Ok(vec![each; venues.len()]);
    }
    if given.len() != venues.len() {
        return Err(BacktestError::invalid(
            "venue share",
            "give a share on every venue or on none (equal shares)",
        ));
    }
    if let Some(v) = venues
        .iter()
        .find(|v| v.share.is_some_and(|s| s < Decimal::ZERO))
    {
        return Err(BacktestError::invalid(
            format!("venue {}.share", v.venue),
            "must not be negative",
        ));
    }
    let total: Decimal = given.iter().sum();
    if total != Decimal::ONE {
        return Err(BacktestError::invalid(
            "venue share",
            format!("the shares sum to {total}, not 1"),
        ));
    }
    Ok(given)
}

/// The starting holdings of each venue's account and what is held off every exchange:
/// `off_exchange` of every asset but the cash (rounded down to the asset's step), the rest
/// by `shares`, each rounded down (to the asset's step, the cash to the charge precision) and
/// the remainder on the last venue, so the parts add up to `start` exactly.
pub(super) fn split_start(
    start: &BTreeMap<Asset, Decimal>,
    quote: &Asset,
    steps: &BTreeMap<Asset, Decimal>,
    shares: &[Decimal],
    off_exchange: Decimal,
) -> (Vec<BTreeMap<Asset, Decimal>>, BTreeMap<Asset, Decimal>) {
    let mut accounts = vec![BTreeMap::new(); shares.len()];
    let mut off = BTreeMap::new();
    for (asset, held) in start {
        let step = steps.get(asset).copied().unwrap_or(CHARGE_PRECISION);
        let mut on_exchange = *held;
        if asset != quote && !off_exchange.is_zero() {
            let cold = floor_to_step(*held * off_exchange, step);
            off.insert(asset.clone(), cold);
            on_exchange -= cold;
        }
        let mut placed = Decimal::ZERO;
        let last = shares.len().saturating_sub(1);
        for (i, (account, share)) in accounts.iter_mut().zip(shares).enumerate() {
            let part = if i == last {
                on_exchange - placed
            } else {
                floor_to_step(on_exchange * share, step)
            };
            placed += part;
            account.insert(asset.clone(), part);
        }
    }
    (accounts, off)
}

/// What one venue's account traded and paid over the whole history, in the quote asset.
#[derive(Debug, Clone, Serialize)]
pub struct VenueResult {
    pub venue: Venue,
    pub buys: u64,
    pub sells: u64,
    #[serde(with = "driftline_core::exact")]
    pub turnover_quote: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub cost_quote: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub fee_quote: Decimal,
    /// The account's holdings at the last mids of its venue.
    #[serde(with = "driftline_core::exact")]
    pub final_value: Decimal,
}

/// One venue's account in one policy's simulation.
pub(super) struct VenueAccount {
    /// The account's name in plans and intents: `None` for a single-venue scenario's one
    /// account, the deployment's default.
    pub(super) name: Option<String>,
    pub(super) venue: Venue,
    pub(super) fees: Fees,
    cost_model: BookWalkCostModel,
    /// Everything the account holds, locked in working orders included: what it is worth.
    pub(super) holdings: BTreeMap<Asset, Decimal>,
    /// The free balances (`holdings` less what working orders lock) as the planner takes
    /// them, rebuilt after the steps that changed them.
    held: Holdings,
    /// Holdings or locks changed since `held` was built.
    pub(super) changed: bool,
    /// The limit model's orders not yet final, in the order they were sent.
    pub(super) working: Vec<WorkingOrder>,
    pub(super) result: VenueResult,
}

/// What a fill is charged: the predicted cost, rounded up to the charge precision.
fn charge_of(cost: &CostEstimate) -> Decimal {
    ceil_to_step(cost.total_quote(), CHARGE_PRECISION)
}

impl VenueAccount {
    pub(super) fn open(
        name: Option<String>,
        config: &VenueConfig,
        cost_model: BookWalkCostModel,
        holdings: BTreeMap<Asset, Decimal>,
    ) -> Result<Self, BacktestError> {
        Ok(Self {
            name,
            venue: config.venue,
            fees: config.fees,
            cost_model,
            held: Holdings::new(holdings.iter().map(|(a, q)| (a.clone(), *q)))?,
            holdings,
            changed: false,
            working: Vec::new(),
            result: VenueResult {
                venue: config.venue,
                buys: 0,
                sells: 0,
                turnover_quote: Decimal::ZERO,
                cost_quote: Decimal::ZERO,
                fee_quote: Decimal::ZERO,
                final_value: Decimal::ZERO,
            },
        })
    }

    /// The account as core's planner takes it, against `markets` (this venue's books).
    pub(super) fn plan_account<'a>(
        &'a self,
        quote: &'a Asset,
        markets: &'a Markets,
    ) -> PlanAccount<'a> {
        PlanAccount {
            account: self.name.as_deref(),
            venue: self.venue,
            ..PlanAccount::single(quote, &self.held, markets, self.fees, &self.cost_model)
        }
    }

    /// The largest buy, priced by the same cost model, that `cash` pays for with its costs.
    fn affordable_buy(
        &self,
        market: &MarketSnapshot,
        cash: Decimal,
    ) -> Option<(Decimal, CostEstimate)> {
        let mid = market.book.mid()?.value();
        let mut quantity = market.filters.round_quantity(cash / mid);
        // Each pass prices the quantity and shrinks it by its cost; two or three suffice.
        for _ in 0..4 {
            if !market.filters.accepts(quantity, mid) {
                return None;
            }
            let cost = self
                .cost_model
                .predict(Side::Buy, quantity, &market.book)
                .ok()?;
            if cost.notional + charge_of(&cost) <= cash {
                return Some((quantity, cost));
            }
            let per_unit = mid * (Decimal::ONE + cost.total_bps() / BPS);
            quantity = market
                .filters
                .round_quantity((cash / per_unit).min(quantity - market.filters.step_size()));
        }
        None
    }

    /// Fills `order` on `market` (this venue's book) at the cost model's figures, counted in
    /// `totals` and in this venue's result; the charge, or `None` when it could not be made.
    pub(super) fn fill(
        &mut self,
        order: &PlannedOrder,
        market: &MarketSnapshot,
        quote: &Asset,
        totals: &mut PolicyResult,
    ) -> Option<Decimal> {
        let asset = market.filters.symbol().base();
        let cash = self.holdings.get(quote).copied().unwrap_or_default();
        let mut fill = (order.quantity, order.cost);
        if order.side == Side::Buy && order.cost.notional + charge_of(&order.cost) > cash {
            // The planner budgets buys at their limit price without their own costs: the
            // executor sizes the order down to the cash it finds.
            match self.affordable_buy(market, cash) {
                Some(smaller) => {
                    fill = smaller;
                    totals.reduced_to_cash += 1;
                }
                None => {
                    totals.rejected += 1;
                    return None;
                }
            }
        }
        let (quantity, cost) = fill;
        let notional = cost.notional;
        let charge = charge_of(&cost);
        let held = self.holdings.get(asset).copied().unwrap_or_default();
        let (cash_after, held_after) = match order.side {
            Side::Buy => (cash - notional - charge, held + quantity),
            Side::Sell => (cash + notional - charge, held - quantity),
        };
        if cash_after < Decimal::ZERO || held_after < Decimal::ZERO {
            totals.rejected += 1;
            return None;
        }
        self.holdings.insert(quote.clone(), cash_after);
        self.holdings.insert(asset.clone(), held_after);
        self.changed = true;
        let fee = notional * cost.fee_bps / BPS;
        totals.trades += 1;
        totals.turnover_quote += notional;
        totals.cost_quote += charge;
        totals.fee_quote += fee;
        let r = &mut self.result;
        match order.side {
            Side::Buy => r.buys += 1,
            Side::Sell => r.sells += 1,
        }
        r.turnover_quote += notional;
        r.cost_quote += charge;
        r.fee_quote += fee;
        totals.execution.taker_fills += 1;
        Some(charge)
    }

    /// The fee rate a resting buy reserves on top of its notional: the venue's higher fee, so
    /// the reserve covers the fill whether it rests or crosses.
    pub(super) fn reserve_bps(&self) -> Decimal {
        self.fees.higher_bps()
    }

    /// What is free of `asset`: held, less what resting orders lock (never below zero).
    pub(super) fn free(&self, asset: &Asset) -> Decimal {
        let held = self.holdings.get(asset).copied().unwrap_or_default();
        let reserve = self.reserve_bps();
        let locked = self
            .working
            .iter()
            .filter_map(|o| o.locked(reserve))
            .filter(|(a, _)| *a == asset)
            .map(|(_, q)| q)
            .reduce(|a, b| a + b);
        match locked {
            // Nothing locked: the balance itself, scale and all.
            None => held,
            Some(locked) => (held - locked).max(Decimal::ZERO),
        }
    }

    /// Brings the planner's view of the free balances up to date after a step's fills and
    /// orders.
    pub(super) fn settle(&mut self) -> Result<(), BacktestError> {
        if std::mem::take(&mut self.changed) {
            self.held = Holdings::new(self.holdings.keys().map(|a| (a.clone(), self.free(a))))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_spec_sets_fees_books_and_share_and_keeps_the_rest() {
        let base = Fees {
            maker_bps: dec!(10),
            taker_bps: dec!(10),
        };
        let v = VenueConfig::parse("kraken:fee=26,spread=1.5,share=0.25", base).unwrap();
        assert_eq!(v.venue, Venue::Kraken);
        assert_eq!(v.fees.taker_bps, dec!(26));
        assert_eq!(v.fees.maker_bps, dec!(26));
        assert_eq!(v.spread_multiplier, dec!(1.5));
        assert_eq!(v.depth_multiplier, Decimal::ONE);
        assert_eq!(v.share, Some(dec!(0.25)));
        assert_eq!(
            VenueConfig::parse("binance", base).unwrap(),
            VenueConfig::plain(Venue::Binance, base)
        );
    }

    #[test]
    fn a_bad_spec_is_named() {
        let fees = Fees::default();
        let err = |spec: &str| VenueConfig::parse(spec, fees).unwrap_err().to_string();
        assert_eq!(
            err("bitstamp:fee=5"),
            "venue \"bitstamp\": is not a venue (binance, kraken, coinbase)"
        );
        assert_eq!(
            err("kraken:fee=x"),
            "venue kraken.fee: \"x\" is not a decimal"
        );
        assert_eq!(
            err("kraken:size=2"),
            "venue kraken.size: unknown key (fee, maker, taker, spread, depth, share)"
        );
        assert_eq!(err("kraken:fee"), "venue kraken.fee: expected KEY=VALUE");
    }

    #[test]
    fn shares_are_all_or_none_and_sum_to_one() {
        let fees = Fees::default();
        let v = |spec: &str| VenueConfig::parse(spec, fees).unwrap();
        let err =
            |venues: &[VenueConfig]| shares_of(venues, Decimal::ZERO).unwrap_err().to_string();
        assert_eq!(
            err(&[v("binance:share=0.5"), v("kraken")]),
            "venue share: give a share on every venue or on none (equal shares)"
        );
        assert_eq!(
            err(&[v("binance:share=0.5"), v("kraken:share=0.4")]),
            "venue share: the shares sum to 0.9, not 1"
        );
        assert_eq!(
            err(&[v("binance"), v("binance:fee=5")]),
            "venue binance.venue: is listed twice"
        );
        assert_eq!(
            err(&[v("kraken:depth=0")]),
            "venue kraken.depth: 0 must be positive"
        );
        assert_eq!(
            shares_of(
                &[v("binance:share=0.7"), v("kraken:share=0.3")],
                Decimal::ZERO
            )
            .unwrap(),
            vec![dec!(0.7), dec!(0.3)]
        );
        assert_eq!(
            shares_of(&[v("binance")], dec!(1)).unwrap_err().to_string(),
            "off_exchange: 1 must be in [0, 1)"
        );
    }

    #[test]
    fn the_split_adds_up_to_the_start_exactly() {
        let (btc, usdt) = (Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap());
        let start = BTreeMap::from([(btc.clone(), dec!(1.2345679)), (usdt.clone(), dec!(1000))]);
        let steps = BTreeMap::from([(btc.clone(), dec!(0.0000001))]);
        let third = Decimal::ONE / dec!(3);
        let (accounts, off) = split_start(&start, &usdt, &steps, &[third; 3], dec!(0.1));
        assert_eq!(off.get(&btc), Some(&dec!(0.1234567)));
        assert_eq!(off.get(&usdt), None, "cash stays on the exchanges");
        for asset in [&btc, &usdt] {
            let total: Decimal = accounts.iter().map(|a| a[asset]).sum::<Decimal>()
                + off.get(asset).copied().unwrap_or_default();
            assert_eq!(total, start[asset], "{asset}");
        }
        assert_eq!(accounts[0][&btc], dec!(0.3703704));
        assert_eq!(accounts[0][&usdt], dec!(333.33333333));
    }
}
