//! Builders shared by core's integration tests.
#![allow(dead_code)]

use driftline_core::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub fn asset(code: &str) -> Asset {
    Asset::new(code).unwrap()
}

/// A market for `base`/USDT around `mid` with the given spread and a flat depth profile.
pub fn market(base: &str, mid: Decimal, spread_bps: Decimal, depth: Decimal) -> MarketSnapshot {
    market_with(base, mid, spread_bps, depth, |f| f)
}

pub fn market_with(
    base: &str,
    mid: Decimal,
    spread_bps: Decimal,
    depth: Decimal,
    edit: impl FnOnce(MarketFiltersFields) -> MarketFiltersFields,
) -> MarketSnapshot {
    let symbol = Symbol::new(asset(base), asset("USDT")).unwrap();
    let fields = edit(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: dec!(0.01),
        step_size: dec!(0.00001),
        min_qty: dec!(0.00001),
        max_qty: None,
        min_notional: dec!(5),
        status: TradingStatus::Trading,
    });
    let filters = MarketFilters::new(fields).unwrap();
    let book = DepthProfile {
        levels: 10,
        quantity_per_level: depth,
        level_step_bps: dec!(5),
    }
    .book(
        &symbol,
        Price::new(mid).unwrap(),
        spread_bps,
        filters.tick_size(),
    )
    .unwrap();
    MarketSnapshot { filters, book }
}

pub struct Case {
    pub portfolio: Portfolio,
    pub markets: Markets,
    pub policy: RebalancePolicy,
    pub fees: Fees,
    pub history: Vec<DriftSnapshot>,
    pub in_flight: Vec<InFlightOrder>,
}

impl Case {
    /// Holdings and targets over USDT; a market per non-USDT asset from `markets`.
    pub fn new(
        holdings: &[(&str, Decimal)],
        targets: &[(&str, Decimal)],
        markets: Vec<MarketSnapshot>,
    ) -> Self {
        let portfolio = Portfolio::new(
            PortfolioId::new("test").unwrap(),
            asset("USDT"),
            Holdings::new(holdings.iter().map(|(a, q)| (asset(a), *q))).unwrap(),
            TargetWeights::new(targets.iter().map(|(a, w)| (asset(a), *w))).unwrap(),
        )
        .unwrap();
        Self {
            portfolio,
            markets: markets
                .into_iter()
                .map(|m| (m.filters.symbol().base().clone(), m))
                .collect(),
            policy: RebalancePolicy {
                velocity: None,
                ..RebalancePolicy::default()
            },
            fees: Fees::default(),
            history: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    pub fn policy(mut self, edit: impl FnOnce(&mut RebalancePolicy)) -> Self {
        edit(&mut self.policy);
        self
    }

    pub fn plan(&self) -> RebalancePlan {
        self.try_plan().unwrap()
    }

    pub fn try_plan(&self) -> Result<RebalancePlan, DomainError> {
        let cycle = CycleId::new("c1").unwrap();
        let request = PlanRequest {
            portfolio: &self.portfolio,
            in_flight: &self.in_flight,
            markets: &self.markets,
            policy: &self.policy,
            fees: self.fees,
            history: &self.history,
            cycle: &cycle,
            now_ms: 1_700_000_000_000,
        };
        plan(
            &request,
            &BookWalkCostModel {
                fees: self.fees,
                liquidity: self.policy.fee_liquidity,
            },
        )
    }
}

pub fn decision<'a>(plan: &'a RebalancePlan, code: &str) -> &'a AssetDecision {
    plan.decisions
        .iter()
        .find(|d| d.asset.as_str() == code)
        .unwrap()
}
