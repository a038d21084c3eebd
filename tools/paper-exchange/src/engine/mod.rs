//! The exchange itself, pure and synchronous: markets with a simulated book around a seeded
//! random-walk mid, resting orders in price-time priority, matching, balances with locks, and
//! fees (in the asset received, or a buy's in the quote on top where the venue charges it so).
//! The HTTP layer is a thin shell over [`Engine`].
//!
//! This module holds the venue's state and its queries; `order` the order vocabulary and
//! errors, `history` each market's tape and price path, `book` the simulated market, `orders`
//! placing and cancelling, `settlement` the money moved by a fill.

mod book;
mod history;
mod order;
mod orders;
mod settlement;

use std::collections::{BTreeMap, BTreeSet};

use driftline_core::{ApiCredentials, Asset, DepthProfile, MarketFilters, Symbol};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::config::{ExchangeConfig, FeeConfig};

pub use history::{Candle, MarketHistory, PublicTrade};
pub use order::*;

/// Price levels of one side of a book, best first: (price, quantity).
pub type Levels = Vec<(Decimal, Decimal)>;

/// The highest price PRICE_FILTER accepts (the venue's `maxPrice`).
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// Decimals the venue keeps for amounts and commissions (`baseAssetPrecision`).
pub const ASSET_PRECISION: u32 = 8;

struct Market {
    name: String,
    symbol: Symbol,
    filters: MarketFilters,
    mid: Decimal,
    spread_bps: Decimal,
    profile: DepthProfile,
    volatility_bps: Decimal,
    replenish_per_tick: Decimal,
    depth_factor: Decimal,
    /// Simulated depth taken at each (is bid, price) and not yet replenished.
    consumed: BTreeMap<(bool, Decimal), Decimal>,
    last_price: Option<Decimal>,
    history: MarketHistory,
}

struct Account {
    credentials: ApiCredentials,
    balances: BTreeMap<Asset, Balance>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maker {
    /// The simulated market's own depth.
    Simulated,
    Resting(u64),
}

#[derive(Debug, Clone, Copy)]
struct PlannedFill {
    maker: Maker,
    price: Decimal,
    qty: Decimal,
}

/// The whole venue state.
pub struct Engine {
    fees: FeeConfig,
    /// A buy pays its fee in the quote asset, on top of its cost, which the placement holds
    /// as well (Kraken's `fciq`, Coinbase); otherwise the fee comes out of the asset received.
    buy_fee_in_quote: bool,
    markets: BTreeMap<String, Market>,
    accounts: BTreeMap<String, Account>,
    orders: BTreeMap<u64, Order>,
    fills: Vec<Fill>,
    next_order_id: u64,
    next_trade_id: u64,
    update_id: u64,
    rng: ChaCha8Rng,
    fees_collected: BTreeMap<Asset, Decimal>,
    simulated_flow: BTreeMap<Asset, Decimal>,
}

fn dp(value: Decimal) -> Decimal {
    value.round_dp(ASSET_PRECISION).normalize()
}

impl Engine {
    /// A fresh venue from a validated config.
    ///
    /// # Errors
    /// [`crate::config::ConfigError`] when a market's filters are invalid.
    pub fn new(config: &ExchangeConfig) -> Result<Self, crate::config::ConfigError> {
        let mut markets = BTreeMap::new();
        for s in &config.symbols {
            let filters = s.filters()?;
            markets.insert(
                s.symbol.clone(),
                Market {
                    name: s.symbol.clone(),
                    symbol: filters.symbol().clone(),
                    mid: s.mid,
                    spread_bps: s.spread_bps,
                    profile: s.depth,
                    volatility_bps: s.volatility_bps,
                    replenish_per_tick: s.replenish_per_tick,
                    depth_factor: config.faults.depth_factor(&s.symbol),
                    consumed: BTreeMap::new(),
                    last_price: None,
                    history: MarketHistory::default(),
                    filters,
                },
            );
        }
        let accounts = config
            .accounts
            .iter()
            .map(|a| {
                let balances = a
                    .balances
                    .iter()
                    .map(|(asset, amount)| {
                        (
                            asset.clone(),
                            Balance {
                                free: amount.0,
                                locked: Decimal::ZERO,
                            },
                        )
                    })
                    .collect();
                (
                    a.name.clone(),
                    Account {
                        credentials: ApiCredentials::new(&a.api_key, &a.secret),
                        balances,
                    },
                )
            })
            .collect();
        Ok(Self {
            fees: config.fees,
            buy_fee_in_quote: driftline_core::ports::Venue::from(config.dialect).buy_fee_in_quote(),
            markets,
            accounts,
            orders: BTreeMap::new(),
            fills: Vec::new(),
            next_order_id: 1,
            next_trade_id: 1,
            update_id: 1,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            fees_collected: BTreeMap::new(),
            simulated_flow: BTreeMap::new(),
        })
    }

    /// The account name and credentials for an API key.
    pub fn account_for_key(&self, api_key: &str) -> Option<(&str, &ApiCredentials)> {
        self.accounts
            .iter()
            .find(|(_, a)| a.credentials.api_key() == api_key)
            .map(|(name, a)| (name.as_str(), &a.credentials))
    }

    /// Gives `account` a new API key and secret, as an operator rotating keys at the venue
    /// does: from now on the old key is unknown (-2015) and the old secret signs nothing.
    ///
    /// # Errors
    /// [`KeyRotationError`] for an unknown account, an empty key or secret, or a key that
    /// another account holds.
    pub fn rotate_keys(
        &mut self,
        account: &str,
        credentials: ApiCredentials,
    ) -> Result<(), KeyRotationError> {
        if credentials.api_key().is_empty() || credentials.expose_secret().is_empty() {
            return Err(KeyRotationError::Empty);
        }
        if self
            .accounts
            .iter()
            .any(|(name, a)| name != account && a.credentials.api_key() == credentials.api_key())
        {
            return Err(KeyRotationError::KeyInUse);
        }
        let entry = self
            .accounts
            .get_mut(account)
            .ok_or_else(|| KeyRotationError::UnknownAccount(account.to_owned()))?;
        entry.credentials = credentials;
        Ok(())
    }

    pub fn fees(&self) -> FeeConfig {
        self.fees
    }

    /// What a buy of `cost` in the quote holds: the cost, and where the buy's fee is paid in
    /// the quote, that fee at the higher rate. A fill releases its own share the same way.
    fn buy_hold(&self, cost: Decimal) -> Decimal {
        if self.buy_fee_in_quote {
            cost + cost * self.fees.maker.max(self.fees.taker)
        } else {
            cost
        }
    }

    /// Every market's name and filters, in name order.
    pub fn markets(&self) -> impl Iterator<Item = (&str, &MarketFilters)> {
        self.markets.values().map(|m| (m.name.as_str(), &m.filters))
    }

    pub fn filters(&self, symbol: &str) -> Result<&MarketFilters, EngineError> {
        self.market(symbol).map(|m| &m.filters)
    }

    fn market(&self, symbol: &str) -> Result<&Market, EngineError> {
        self.markets.get(symbol).ok_or(EngineError::UnknownSymbol)
    }

    pub fn mid(&self, symbol: &str) -> Result<Decimal, EngineError> {
        self.market(symbol).map(|m| m.mid)
    }

    /// The last trade price, or the mid before any trade.
    pub fn last_price(&self, symbol: &str) -> Result<Decimal, EngineError> {
        self.market(symbol).map(|m| m.last_price.unwrap_or(m.mid))
    }

    /// The market's public tape and price path.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`].
    pub fn history(&self, symbol: &str) -> Result<&MarketHistory, EngineError> {
        self.market(symbol).map(|m| &m.history)
    }

    /// The id of the book's current state; changes with every change to it.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// The balances of an account, by asset.
    pub fn balances(&self, account: &str) -> Result<&BTreeMap<Asset, Balance>, EngineError> {
        self.accounts
            .get(account)
            .map(|a| &a.balances)
            .ok_or(EngineError::UnknownAccount)
    }

    /// All accounts' names and balances.
    pub fn all_balances(&self) -> impl Iterator<Item = (&str, &BTreeMap<Asset, Balance>)> {
        self.accounts.iter().map(|(n, a)| (n.as_str(), &a.balances))
    }

    /// Commissions taken so far, by asset.
    pub fn fees_collected(&self) -> &BTreeMap<Asset, Decimal> {
        &self.fees_collected
    }

    /// What the simulated market has received (+) or paid (−), by asset.
    pub fn simulated_flow(&self) -> &BTreeMap<Asset, Decimal> {
        &self.simulated_flow
    }

    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    fn open_orders_in<'a>(&'a self, symbol: &'a str) -> impl Iterator<Item = &'a Order> + 'a {
        self.orders
            .values()
            .filter(move |o| o.symbol == symbol && o.status.is_open())
    }

    /// An account's open orders, in one market or all, oldest first.
    pub fn open_orders(
        &self,
        account: &str,
        symbol: Option<&str>,
    ) -> Result<Vec<Order>, EngineError> {
        if let Some(s) = symbol {
            self.market(s)?;
        }
        Ok(self
            .orders
            .values()
            .filter(|o| {
                o.account == account && o.status.is_open() && symbol.is_none_or(|s| o.symbol == s)
            })
            .cloned()
            .collect())
    }

    /// One of an account's orders; by client id, the latest order that used it.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`], [`EngineError::OrderNotFound`].
    pub fn order(&self, account: &str, symbol: &str, by: &OrderRef) -> Result<&Order, EngineError> {
        self.market(symbol)?;
        self.orders
            .values()
            .rev()
            .find(|o| {
                o.account == account
                    && o.symbol == symbol
                    && match by {
                        OrderRef::Id(id) => o.order_id == *id,
                        OrderRef::ClientId(c) => &o.client_order_id == c,
                    }
            })
            .ok_or(EngineError::OrderNotFound)
    }

    /// Every asset the venue knows, with accounts' holdings, fees and the simulated market's
    /// flow added up: constant across any sequence of orders.
    pub fn asset_totals(&self) -> BTreeMap<Asset, Decimal> {
        let mut totals: BTreeMap<Asset, Decimal> = BTreeMap::new();
        for a in self.accounts.values() {
            for (asset, b) in &a.balances {
                *totals.entry(asset.clone()).or_default() += b.free + b.locked;
            }
        }
        for (asset, v) in self.fees_collected.iter().chain(&self.simulated_flow) {
            *totals.entry(asset.clone()).or_default() += *v;
        }
        totals
            .into_iter()
            .map(|(a, v)| (a, v.normalize()))
            .collect()
    }

    /// The assets an account may hold: its balances and every market's assets.
    pub fn known_assets(&self) -> BTreeSet<Asset> {
        self.markets
            .values()
            .flat_map(|m| [m.symbol.base().clone(), m.symbol.quote().clone()])
            .collect()
    }
}

/// A decimal as the venue writes amounts: fixed eight places, no exponent.
pub fn venue_decimal(value: Decimal) -> String {
    format!("{:.8}", value.round_dp(ASSET_PRECISION))
}
