//! Weights and drift: where a portfolio stands against its targets, and how fast that moves.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Asset, CycleId, DomainError, MarketSnapshot, Markets, Portfolio, PortfolioId, Price};

/// One asset's position in a snapshot. `drift = weight − target`: positive means overweight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDrift {
    pub asset: Asset,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    /// The reference (mid) price in the quote asset; 1 for the quote asset itself.
    pub price: Price,
    #[serde(with = "crate::exact")]
    pub value: Decimal,
    #[serde(with = "crate::exact")]
    pub weight: Decimal,
    #[serde(with = "crate::exact")]
    pub target: Decimal,
    #[serde(with = "crate::exact")]
    pub drift: Decimal,
}

/// Weights and drift of every asset of a portfolio at one cycle. Equity counts every holding,
/// cash included; weights sum to exactly 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftSnapshot {
    pub portfolio_id: PortfolioId,
    pub cycle_id: CycleId,
    #[serde(with = "crate::exact")]
    pub equity: Decimal,
    /// In asset order.
    pub assets: Vec<AssetDrift>,
}

impl DriftSnapshot {
    /// Values every asset at its market's mid price (the quote asset at 1).
    ///
    /// # Errors
    /// [`DomainError::MissingMarket`] when an asset other than the quote has no market (or an
    /// empty side), [`DomainError::ZeroEquity`] when there is nothing to weigh.
    pub fn compute(
        portfolio: &Portfolio,
        markets: &Markets,
        cycle: &CycleId,
    ) -> Result<Self, DomainError> {
        Self::compute_with(
            portfolio,
            portfolio.targets().assets().map(|a| markets.get(a)),
            cycle,
        )
    }

    /// [`DriftSnapshot::compute`] with the market of each target asset already found, in
    /// asset order (the quote asset's entry is not read).
    pub(crate) fn compute_with<'m>(
        portfolio: &Portfolio,
        markets: impl IntoIterator<Item = Option<&'m MarketSnapshot>>,
        cycle: &CycleId,
    ) -> Result<Self, DomainError> {
        let quote = portfolio.quote();
        let mut assets = Vec::with_capacity(portfolio.targets().len());
        for ((asset, target, quantity), market) in portfolio.positions().zip(markets) {
            let price = if asset == quote {
                Price::new(Decimal::ONE)?
            } else {
                market
                    .and_then(|m| m.book.mid())
                    .ok_or_else(|| DomainError::MissingMarket {
                        asset: asset.to_string(),
                    })?
            };
            assets.push(AssetDrift {
                asset: asset.clone(),
                quantity,
                price,
                value: quantity * price.value(),
                weight: Decimal::ZERO,
                target,
                drift: Decimal::ZERO,
            });
        }
        Self::weigh(portfolio.id(), cycle, quote, assets)
    }

    /// Weights and drift of assets already valued in the portfolio's quote (each `value`
    /// set), in asset order.
    ///
    /// # Errors
    /// [`DomainError::ZeroEquity`] when there is nothing to weigh.
    pub(crate) fn weigh(
        portfolio_id: &PortfolioId,
        cycle: &CycleId,
        quote: &crate::Asset,
        mut assets: Vec<AssetDrift>,
    ) -> Result<Self, DomainError> {
        let equity: Decimal = assets.iter().map(|a| a.value).sum();
        if equity.is_zero() {
            return Err(DomainError::ZeroEquity);
        }
        // Division leaves a remainder in the 28th digit; the quote asset's weight takes it so
        // the weights sum to exactly 1.
        let mut others = Decimal::ZERO;
        for a in assets.iter_mut().filter(|a| &a.asset != quote) {
            a.weight = a.value / equity;
            others += a.weight;
        }
        if let Some(cash) = assets.iter_mut().find(|a| &a.asset == quote) {
            cash.weight = Decimal::ONE - others;
        }
        for a in &mut assets {
            a.drift = a.weight - a.target;
        }
        Ok(Self {
            portfolio_id: portfolio_id.clone(),
            cycle_id: cycle.clone(),
            equity,
            assets,
        })
    }

    /// The asset's entry: a binary search, since assets are kept in asset order.
    pub fn get(&self, asset: &Asset) -> Option<&AssetDrift> {
        self.assets
            .binary_search_by(|a| a.asset.cmp(asset))
            .ok()
            .and_then(|i| self.assets.get(i))
    }
}

/// How drift velocity is measured: over the last `window` snapshots, the current one included
/// (3 by default, as in the article: `drift[now] − drift[now − 2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VelocityWindow {
    pub window: usize,
}

impl Default for VelocityWindow {
    fn default() -> Self {
        Self { window: 3 }
    }
}

impl VelocityWindow {
    /// Drift change per cycle of `asset`, averaged over the window: `(now − oldest) / steps`.
    /// `history` holds earlier snapshots, newest first. `None` without any earlier snapshot
    /// that has the asset.
    pub fn velocity(
        &self,
        current: &DriftSnapshot,
        history: &[DriftSnapshot],
        asset: &Asset,
    ) -> Option<Decimal> {
        self.velocity_at(current.get(asset)?.drift, history, asset)
    }

    /// [`VelocityWindow::velocity`] from the asset's current drift `now`.
    pub(crate) fn velocity_at(
        &self,
        now: Decimal,
        history: &[DriftSnapshot],
        asset: &Asset,
    ) -> Option<Decimal> {
        let mut oldest = None;
        let mut steps = 0usize;
        for earlier in history.iter().take(self.window.saturating_sub(1)) {
            let Some(a) = earlier.get(asset) else { break };
            oldest = Some(a.drift);
            steps += 1;
        }
        Some((now - oldest?) / Decimal::from(steps))
    }
}
