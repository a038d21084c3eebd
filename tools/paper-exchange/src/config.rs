//! The paper exchange's configuration file (TOML): markets, accounts, fees, rate limits, faults.

use std::collections::BTreeMap;
use std::path::Path;

use driftline_core::{
    Asset, DepthProfile, MarketFilters, MarketFiltersFields, Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;

/// Everything the exchange starts from; [`ExchangeConfig::load`] validates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// The venue dialect the listener speaks (`binance`, the default, `kraken` or `coinbase`).
    #[serde(default)]
    pub dialect: Dialect,
    /// Seed of the random walk and of the fault dice: the same seed gives the same market.
    #[serde(default)]
    pub seed: u64,
    /// How often the simulated market moves by itself; absent: only when told to
    /// (`POST /admin/advance`), which is what tests use.
    #[serde(default)]
    pub tick_interval_ms: Option<u64>,
    pub fees: FeeConfig,
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    #[serde(default)]
    pub faults: Faults,
    /// Settings only the Kraken dialect reads (`[kraken]`).
    #[serde(default)]
    pub kraken: KrakenDialectConfig,
    pub symbols: Vec<SymbolConfig>,
    pub accounts: Vec<AccountConfig>,
}

/// The REST dialect a listener speaks; one engine serves them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Binance spot (`/api/v3`), also Binance.US and the testnet.
    #[default]
    Binance,
    /// Kraken spot (`/0/public`, `/0/private`).
    Kraken,
    /// Coinbase Advanced Trade (`/api/v3/brokerage`).
    Coinbase,
}

impl From<Dialect> for driftline_core::ports::Venue {
    fn from(d: Dialect) -> Self {
        match d {
            Dialect::Binance => Self::Binance,
            Dialect::Kraken => Self::Kraken,
            Dialect::Coinbase => Self::Coinbase,
        }
    }
}

/// The Kraken dialect's settings.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KrakenDialectConfig {
    /// Kraken's "nonce window" of every key, in the nonces' own units (5000 is five seconds of
    /// millisecond nonces): a nonce up to this far below the highest one accepted still passes,
    /// once. 0, the default and Kraken's, is strict: every nonce above the last.
    pub nonce_window: u64,
}

/// Commission rates as fractions of the traded amount (`"0.001"` is 10 bps).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeConfig {
    #[serde(with = "driftline_core::exact")]
    pub maker: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub taker: Decimal,
}

/// Request weight allowed per minute and how long a client that ignores a 429 is banned.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "default_weight_per_minute")]
    pub request_weight_per_minute: u32,
    #[serde(default = "default_ban_seconds")]
    pub ban_seconds: u64,
}

fn default_weight_per_minute() -> u32 {
    6000
}

fn default_ban_seconds() -> u64 {
    120
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            request_weight_per_minute: default_weight_per_minute(),
            ban_seconds: default_ban_seconds(),
        }
    }
}

/// One market: its exchange name (`BTCUSDT`), assets, filters and simulated liquidity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub symbol: String,
    pub base: Asset,
    pub quote: Asset,
    #[serde(with = "driftline_core::exact")]
    pub tick_size: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub step_size: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub min_qty: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub max_qty: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub min_notional: Decimal,
    /// The mid price the market starts at.
    #[serde(with = "driftline_core::exact")]
    pub mid: Decimal,
    /// Full spread between best bid and best ask, in basis points of the mid.
    #[serde(with = "driftline_core::exact")]
    pub spread_bps: Decimal,
    pub depth: DepthProfile,
    /// Largest move of the mid in one tick, in basis points (a uniform step in ± this).
    #[serde(with = "driftline_core::exact", default)]
    pub volatility_bps: Decimal,
    /// Fraction of consumed depth that comes back each tick (0 to 1).
    #[serde(with = "driftline_core::exact", default = "one")]
    pub replenish_per_tick: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

/// A trading account: its API key, secret and starting balances.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// A label for admin listings; keys and secrets are never shown.
    pub name: String,
    pub api_key: String,
    pub secret: String,
    #[serde(default)]
    pub balances: BTreeMap<Asset, Amount>,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("name", &self.name)
            .field("balances", &self.balances)
            .finish_non_exhaustive()
    }
}

/// An exact decimal written as a string in config and admin JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(#[serde(with = "driftline_core::exact")] pub Decimal);

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("config field {field} is {value}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: &'static str,
    },
}

impl ExchangeConfig {
    /// Reads and validates a TOML config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, or the field and value that is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates config text.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for bad TOML, [`ConfigError::Invalid`] naming a bad field.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<text>".into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, value: String, reason| ConfigError::Invalid {
            field,
            value,
            reason,
        };
        let rate = |name: &str, v: Decimal| {
            if v < Decimal::ZERO || v >= Decimal::ONE {
                Err(invalid(
                    format!("fees.{name}"),
                    v.to_string(),
                    "must be at least 0 and below 1",
                ))
            } else {
                Ok(())
            }
        };
        rate("maker", self.fees.maker)?;
        rate("taker", self.fees.taker)?;
        if self.rate_limits.request_weight_per_minute == 0 {
            return Err(invalid(
                "rate_limits.request_weight_per_minute".into(),
                "0".into(),
                "must be positive",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.symbols {
            let field = |f: &str| format!("symbols.{}.{f}", s.symbol);
            if s.symbol.is_empty()
                || !s
                    .symbol
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return Err(invalid(
                    "symbols.symbol".into(),
                    s.symbol.clone(),
                    "must be A-Z0-9, e.g. BTCUSDT",
                ));
            }
            if !names.insert(s.symbol.clone()) {
                return Err(invalid(
                    "symbols.symbol".into(),
                    s.symbol.clone(),
                    "appears twice",
                ));
            }
            s.filters()?;
            if s.mid <= Decimal::ZERO {
                return Err(invalid(field("mid"), s.mid.to_string(), "must be positive"));
            }
            if s.spread_bps < Decimal::ZERO
                || s.volatility_bps < Decimal::ZERO
                || s.volatility_bps >= crate::BPS_IN_ONE
            {
                return Err(invalid(
                    field("spread_bps/volatility_bps"),
                    format!("{}/{}", s.spread_bps, s.volatility_bps),
                    "must be at least 0 (volatility below 10000)",
                ));
            }
            if s.replenish_per_tick < Decimal::ZERO || s.replenish_per_tick > Decimal::ONE {
                return Err(invalid(
                    field("replenish_per_tick"),
                    s.replenish_per_tick.to_string(),
                    "must be between 0 and 1",
                ));
            }
            if s.depth.quantity_per_level <= Decimal::ZERO || s.depth.levels == 0 {
                return Err(invalid(
                    field("depth"),
                    format!(
                        "{} levels of {}",
                        s.depth.levels, s.depth.quantity_per_level
                    ),
                    "needs at least one level of positive quantity",
                ));
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if a.api_key.is_empty() || a.secret.is_empty() {
                return Err(invalid(
                    format!("accounts.{}.api_key/secret", a.name),
                    "<empty>".into(),
                    "must not be empty",
                ));
            }
            // Kraken signs with the base64-decoded secret: a secret that does not decode
            // could sign nothing.
            if self.dialect == Dialect::Kraken && !is_base64(&a.secret) {
                return Err(invalid(
                    format!("accounts.{}.secret", a.name),
                    "<redacted>".into(),
                    "must be base64 for the kraken dialect (Kraken's secrets are)",
                ));
            }
            if !keys.insert(a.api_key.clone()) {
                return Err(invalid(
                    format!("accounts.{}.api_key", a.name),
                    "<redacted>".into(),
                    "is used by two accounts",
                ));
            }
            // A Coinbase listener verifies ES256 tokens with the key the account's secret holds.
            if self.dialect == Dialect::Coinbase && ec_private_key(&a.secret).is_none() {
                return Err(invalid(
                    format!("accounts.{}.secret", a.name),
                    "<redacted>".into(),
                    "must be a PEM EC P-256 private key (as Coinbase hands out) for the coinbase dialect",
                ));
            }
            if let Some((asset, amount)) = a.balances.iter().find(|(_, b)| b.0 < Decimal::ZERO) {
                return Err(invalid(
                    format!("accounts.{}.balances.{asset}", a.name),
                    amount.0.to_string(),
                    "must not be negative",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `text` is standard base64 (with padding), as Kraken issues secrets.
fn is_base64(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok()
}

/// The P-256 private key of a PEM secret: SEC1 (`BEGIN EC PRIVATE KEY`, what Coinbase hands
/// out) or PKCS#8 (`BEGIN PRIVATE KEY`).
pub fn ec_private_key(pem: &str) -> Option<p256::SecretKey> {
    use p256::pkcs8::DecodePrivateKey;
    let pem = pem.trim();
    p256::SecretKey::from_sec1_pem(pem)
        .or_else(|_| p256::SecretKey::from_pkcs8_pem(pem))
        .ok()
}

impl SymbolConfig {
    /// The market's filters in core's form.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the filter field that is wrong.
    pub fn filters(&self) -> Result<MarketFilters, ConfigError> {
        let symbol = Symbol::new(self.base.clone(), self.quote.clone()).map_err(|e| {
            ConfigError::Invalid {
                field: format!("symbols.{}.base/quote", self.symbol),
                value: e.to_string(),
                reason: "must be two different assets",
            }
        })?;
        MarketFilters::new(MarketFiltersFields {
            symbol,
            tick_size: self.tick_size,
            step_size: self.step_size,
            min_qty: self.min_qty,
            max_qty: Some(self.max_qty),
            min_notional: self.min_notional,
            status: TradingStatus::Trading,
        })
        .map_err(|e| ConfigError::Invalid {
            field: format!("symbols.{}", self.symbol),
            value: e.to_string(),
            reason: "is not a valid set of filters",
        })
    }
}
