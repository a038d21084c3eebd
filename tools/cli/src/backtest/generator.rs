//! A seeded price generator: correlated geometric Brownian motion with a calm and a stressed
//! volatility regime and jumps. `f64` is used for the random walk only; every price leaves
//! here as a `Decimal` on its market's tick.

use driftline_core::{Asset, Price};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;

use super::market::tick_for;
use super::{AssetMarket, BacktestError, MarketConfig, PriceHistory};

/// Twenty crypto-like assets and round starting prices in USDT.
const ASSETS: [(&str, f64); 20] = [
    ("BTC", 60_000.0),
    ("ETH", 3_000.0),
    ("BNB", 550.0),
    ("SOL", 150.0),
    ("XRP", 0.55),
    ("ADA", 0.45),
    ("DOGE", 0.12),
    ("AVAX", 35.0),
    ("DOT", 7.0),
    ("LINK", 15.0),
    ("TRX", 0.12),
    ("LTC", 80.0),
    ("BCH", 400.0),
    ("ATOM", 9.0),
    ("UNI", 8.0),
    ("XLM", 0.11),
    ("NEAR", 5.0),
    ("APT", 9.0),
    ("FIL", 5.0),
    ("ARB", 1.1),
];

const YEAR_MS: f64 = 365.0 * 86_400_000.0;

/// The generator's parameters. The defaults are crypto-like: calm-regime annualised
/// volatility drawn per asset between 60% and 90%, pairwise correlation 0.6 through one
/// common factor, a stressed regime (1.8× volatility) about one day in six, and about eight
/// jumps per asset per year of ±8% typical size.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Number of assets, at most 20 (BTC, ETH, ... in market-cap order).
    pub assets: usize,
    pub steps: usize,
    pub interval_ms: i64,
    /// Open time of the first step (default 2024-01-01T00:00Z).
    pub start_ms: i64,
    pub quote: Asset,
    /// Annualised calm-regime volatility range, drawn uniformly per asset.
    pub volatility: (f64, f64),
    /// Annualised drift of the log price.
    pub drift: f64,
    /// Pairwise correlation of the diffusion, through one common factor.
    pub correlation: f64,
    pub stressed_multiplier: f64,
    /// Mean length of each regime, in days.
    pub calm_days: f64,
    pub stressed_days: f64,
    /// Jumps per asset per year, and the mean and standard deviation of a jump's log size.
    pub jumps_per_year: f64,
    pub jump_mean: f64,
    pub jump_std: f64,
    pub market: MarketConfig,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            assets: 5,
            steps: 24 * 365,
            interval_ms: 3_600_000,
            start_ms: 1_704_067_200_000,
            // A constant that is a valid asset code.
            quote: Asset::new("USDT").unwrap_or_else(|_| unreachable!()),
            volatility: (0.60, 0.90),
            drift: 0.0,
            correlation: 0.6,
            stressed_multiplier: 1.8,
            calm_days: 50.0,
            stressed_days: 10.0,
            jumps_per_year: 8.0,
            jump_mean: 0.0,
            jump_std: 0.08,
            market: MarketConfig::default(),
        }
    }
}

impl GeneratorConfig {
    fn validate(&self) -> Result<(), BacktestError> {
        let check = |ok: bool, field: &str, value: String, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(BacktestError::invalid(field, format!("{value}: {reason}")))
            }
        };
        check(
            (1..=ASSETS.len()).contains(&self.assets),
            "assets",
            self.assets.to_string(),
            "must be between 1 and 20",
        )?;
        check(
            self.steps > 0,
            "steps",
            self.steps.to_string(),
            "must be positive",
        )?;
        check(
            self.interval_ms > 0,
            "interval_ms",
            self.interval_ms.to_string(),
            "must be positive",
        )?;
        let (lo, hi) = self.volatility;
        check(
            lo >= 0.0 && lo <= hi && hi.is_finite(),
            "volatility",
            format!("{lo}..{hi}"),
            "must be a finite, non-negative, ordered range",
        )?;
        check(
            (0.0..=1.0).contains(&self.correlation),
            "correlation",
            self.correlation.to_string(),
            "must be in [0, 1]",
        )?;
        check(
            self.calm_days > 0.0 && self.stressed_days > 0.0,
            "regime days",
            format!("{} / {}", self.calm_days, self.stressed_days),
            "must be positive",
        )?;
        check(
            self.jumps_per_year >= 0.0 && self.jump_std >= 0.0 && self.stressed_multiplier >= 0.0,
            "jumps",
            format!("{} / {}", self.jumps_per_year, self.jump_std),
            "must not be negative",
        )
    }
}

/// Generates a seeded history: the same configuration always gives the same prices.
///
/// # Errors
/// [`BacktestError::Invalid`] naming a parameter out of range.
pub fn generate(config: &GeneratorConfig) -> Result<PriceHistory, BacktestError> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let dt = config.interval_ms as f64 / YEAR_MS;
    let picked = ASSETS.get(..config.assets).unwrap_or(&ASSETS);
    let (lo, hi) = config.volatility;
    let vols: Vec<f64> = picked
        .iter()
        .map(|_| lo + (hi - lo) * rng.random::<f64>())
        .collect();
    let mut markets = Vec::with_capacity(picked.len());
    let mut ticks = Vec::with_capacity(picked.len());
    for (code, price) in picked {
        let asset = Asset::new(code)?;
        let tick = Decimal::from_f64(*price)
            .map(tick_for)
            .ok_or_else(|| BacktestError::invalid(format!("{code}.price"), price.to_string()))?;
        let first = to_price(*price, tick)
            .ok_or_else(|| BacktestError::invalid(format!("{code}.price"), price.to_string()))?;
        markets.push(AssetMarket::scaled(
            &asset,
            &config.quote,
            first.value(),
            tick,
            &config.market,
        )?);
        ticks.push(tick);
    }

    let steps_per_day = 86_400_000.0 / config.interval_ms as f64;
    let leave_calm = 1.0 / (config.calm_days * steps_per_day);
    let leave_stressed = 1.0 / (config.stressed_days * steps_per_day);
    let jump_probability = (config.jumps_per_year * dt).min(1.0);
    let common = config.correlation.sqrt();
    let own = (1.0 - config.correlation).sqrt();

    let mut log_prices: Vec<f64> = picked.iter().map(|(_, p)| p.ln()).collect();
    let mut stressed = false;
    let mut times_ms = Vec::with_capacity(config.steps);
    let mut closes = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let time = config.start_ms + config.interval_ms * step as i64;
        if step > 0 {
            let switch = if stressed { leave_stressed } else { leave_calm };
            if rng.random::<f64>() < switch {
                stressed = !stressed;
            }
            let scale = if stressed {
                config.stressed_multiplier
            } else {
                1.0
            };
            let factor: f64 = StandardNormal.sample(&mut rng);
            for (log_price, vol) in log_prices.iter_mut().zip(&vols) {
                let sigma = vol * scale;
                let noise: f64 = StandardNormal.sample(&mut rng);
                let z = common * factor + own * noise;
                let mut r = (config.drift - 0.5 * sigma * sigma) * dt + sigma * dt.sqrt() * z;
                if rng.random::<f64>() < jump_probability {
                    let size: f64 = StandardNormal.sample(&mut rng);
                    r += config.jump_mean + config.jump_std * size;
                }
                *log_price += r;
            }
        }
        let row = log_prices
            .iter()
            .zip(&ticks)
            .zip(picked)
            .map(|((lp, tick), (code, _))| {
                to_price(lp.exp(), *tick).ok_or_else(|| {
                    BacktestError::invalid(
                        format!("{code}.price"),
                        format!("step {step}: the walk left the representable range"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        times_ms.push(time);
        closes.push(row);
    }
    Ok(PriceHistory {
        quote: config.quote.clone(),
        markets,
        times_ms,
        closes,
    })
}

/// `price` rounded to the nearest tick, at least one tick.
fn to_price(price: f64, tick: Decimal) -> Option<Price> {
    let d = Decimal::from_f64(price)?.round_dp(tick.scale()).max(tick);
    Price::new(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realised_volatility_is_crypto_like() {
        let history = generate(&GeneratorConfig {
            assets: 3,
            steps: 24 * 365,
            jumps_per_year: 0.0,
            stressed_multiplier: 1.0,
            ..GeneratorConfig::default()
        })
        .unwrap();
        for i in 0..3 {
            let logs: Vec<f64> = history
                .closes
                .windows(2)
                .map(|w| {
                    use rust_decimal::prelude::ToPrimitive;
                    let a = w[0][i].value().to_f64().unwrap();
                    let b = w[1][i].value().to_f64().unwrap();
                    (b / a).ln()
                })
                .collect();
            let n = logs.len() as f64;
            let mean = logs.iter().sum::<f64>() / n;
            let var = logs.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let annual = (var * 24.0 * 365.0).sqrt();
            assert!(
                (0.55..0.95).contains(&annual),
                "asset {i}: realised volatility {annual}"
            );
        }
    }

    #[test]
    fn out_of_range_parameters_are_named() {
        let err = generate(&GeneratorConfig {
            assets: 21,
            ..GeneratorConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("assets: 21"), "{err}");
    }
}
