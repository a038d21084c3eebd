//! Faults the exchange injects: what breaks systems in production, on purpose.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Amount;

/// The faults in force; set in the config's `[faults]` table or at run time through
/// `PUT /admin/faults`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every `/api/v3` response.
    pub latency_ms: u64,
    /// Fraction (0 to 1) of `/api/v3` requests answered 500 before they reach the engine.
    #[serde(with = "driftline_core::exact")]
    pub server_error_rate: Decimal,
    /// Fraction (0 to 1) of accepted orders whose response is replaced by a 503 "execution
    /// status unknown" after the order was placed.
    #[serde(with = "driftline_core::exact")]
    pub drop_order_response_rate: Decimal,
    /// The next this-many accepted orders get their response dropped (counts down).
    pub drop_next_order_responses: u32,
    /// How long a dropped response waits before the 503, so a client's timeout can fire first.
    pub drop_response_delay_ms: u64,
    /// Everything under `/api/v3` answers 503.
    pub maintenance: bool,
    /// Depth multiplier per symbol (`BTCUSDT = "0.05"` leaves 5 % of the configured depth).
    pub thin_books: BTreeMap<String, Amount>,
}

/// Why a set of faults cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("fault {field} is {value}: must be between 0 and 1")]
pub struct FaultError {
    pub field: String,
    pub value: Decimal,
}

impl Faults {
    /// # Errors
    /// [`FaultError`] naming a rate or depth factor outside 0..=1.
    pub fn validate(&self) -> Result<(), FaultError> {
        let fraction = |field: String, value: Decimal| {
            if (Decimal::ZERO..=Decimal::ONE).contains(&value) {
                Ok(())
            } else {
                Err(FaultError { field, value })
            }
        };
        fraction("server_error_rate".into(), self.server_error_rate)?;
        fraction(
            "drop_order_response_rate".into(),
            self.drop_order_response_rate,
        )?;
        for (symbol, factor) in &self.thin_books {
            fraction(format!("thin_books.{symbol}"), factor.0)?;
        }
        Ok(())
    }

    /// The depth multiplier for a symbol: 1 unless its book is thinned.
    pub fn depth_factor(&self, symbol: &str) -> Decimal {
        self.thin_books.get(symbol).map_or(Decimal::ONE, |f| f.0)
    }

    /// Whether an accepted order's response is dropped; consumes one of the counted drops.
    pub fn take_order_response_drop(&mut self, rng: &mut ChaCha8Rng) -> bool {
        if self.drop_next_order_responses > 0 {
            self.drop_next_order_responses -= 1;
            return true;
        }
        happens(rng, self.drop_order_response_rate)
    }
}

/// A seeded draw that comes up with probability `rate`, in exact decimals (millionths).
pub fn happens(rng: &mut ChaCha8Rng, rate: Decimal) -> bool {
    if rate <= Decimal::ZERO {
        return false;
    }
    let draw = Decimal::from(rng.random_range(0u32..1_000_000)) / Decimal::from(1_000_000u32);
    draw < rate
}
