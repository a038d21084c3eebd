//! The exchange itself, pure and synchronous: markets with a simulated book around a seeded
//! random-walk mid, resting orders in price-time priority, matching, balances with locks, and
//! fees in the asset received. The HTTP layer is a thin shell over [`Engine`].

use std::collections::{BTreeMap, BTreeSet};

use driftline_core::money::{floor_to_step, is_on_step, BPS};
use driftline_core::{
    ApiCredentials, Asset, DepthProfile, EpochMillis, MarketFilters, Price, Side, Symbol,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::{ExchangeConfig, FeeConfig};

/// Price levels of one side of a book, best first: (price, quantity).
pub type Levels = Vec<(Decimal, Decimal)>;

/// The highest price PRICE_FILTER accepts (the venue's `maxPrice`).
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// Decimals the venue keeps for amounts and commissions (`baseAssetPrecision`).
pub const ASSET_PRECISION: u32 = 8;

/// The order types the venue accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    Limit,
    LimitMaker,
    Market,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Limit => "LIMIT",
            Self::LimitMaker => "LIMIT_MAKER",
            Self::Market => "MARKET",
        }
    }
}

/// How long a `LIMIT` order lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeInForce {
    #[serde(rename = "GTC")]
    Gtc,
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "FOK")]
    Fok,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
        }
    }
}

/// An order's status in the venue's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VenueStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl VenueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// An order as a client asks for it, already parsed; the engine applies the venue's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    pub quantity: Option<Decimal>,
    pub quote_order_qty: Option<Decimal>,
    pub price: Option<Decimal>,
    pub client_order_id: Option<String>,
}

/// An order the venue accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub order_id: u64,
    pub symbol: String,
    pub account: String,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Zero for a market order.
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cumulative_quote_qty: Decimal,
    pub orig_quote_order_qty: Decimal,
    pub status: VenueStatus,
    pub time: EpochMillis,
    pub update_time: EpochMillis,
    /// What the order still holds locked: quote for a buy, base for a sell.
    pub locked: Decimal,
    /// The price a buy's lock was taken at (its limit); `None`: locked at each fill's price.
    #[serde(skip)]
    lock_price: Option<Decimal>,
}

impl Order {
    pub fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty
    }
}

/// One side of one trade, as the account that traded it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub trade_id: u64,
    pub order_id: u64,
    pub symbol: String,
    pub account: String,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    pub quote_qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: Asset,
    pub is_maker: bool,
    pub time: EpochMillis,
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub order: Order,
    /// The fills of this order while it was placed (as taker).
    pub fills: Vec<Fill>,
}

/// One asset of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub free: Decimal,
    pub locked: Decimal,
}

/// A rejected request, with the venue's code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("Invalid symbol.")]
    UnknownSymbol,
    #[error("Filter failure: {0}")]
    Filter(&'static str),
    #[error("Invalid quantity.")]
    InvalidQuantity,
    #[error("Invalid price.")]
    InvalidPrice,
    #[error("Account has insufficient balance for requested action.")]
    InsufficientBalance,
    #[error("Duplicate order sent.")]
    DuplicateOrder,
    #[error("Order would immediately match and take.")]
    WouldTake,
    #[error("Order does not exist.")]
    OrderNotFound,
    #[error("Unknown order sent.")]
    UnknownOrderToCancel,
    #[error("Invalid API-key, IP, or permissions for action.")]
    UnknownAccount,
}

impl EngineError {
    /// The venue's error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::UnknownSymbol => -1121,
            Self::Filter(_) | Self::InvalidQuantity | Self::InvalidPrice => -1013,
            Self::InsufficientBalance | Self::DuplicateOrder | Self::WouldTake => -2010,
            Self::OrderNotFound => -2013,
            Self::UnknownOrderToCancel => -2011,
            Self::UnknownAccount => -2015,
        }
    }
}

/// Why an account's API key and secret could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRotationError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("api_key and secret must not be empty")]
    Empty,
    /// Keys identify accounts, so two accounts cannot share one.
    #[error("the api_key belongs to another account")]
    KeyInUse,
}

/// How an order is looked up: the venue's id or the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    Id(u64),
    ClientId(String),
}

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

    /// Sets how much of the configured depth a market shows (the thin-book fault).
    pub fn set_depth_factor(&mut self, symbol: &str, factor: Decimal) {
        if let Some(m) = self.markets.get_mut(symbol) {
            m.depth_factor = factor;
            self.update_id += 1;
        }
    }

    /// The market's simulated depth on one side (`Buy` = bids), best first, on the step grid.
    fn simulated_levels(m: &Market, side: Side) -> Vec<(Decimal, Decimal)> {
        let Ok(mid) = Price::new(m.mid) else {
            return Vec::new();
        };
        let Ok(book) = m
            .profile
            .book(&m.symbol, mid, m.spread_bps, m.filters.tick_size())
        else {
            return Vec::new();
        };
        let is_bid = side == Side::Buy;
        let levels = if is_bid { book.bids() } else { book.asks() };
        levels
            .iter()
            .filter_map(|l| {
                let price = l.price.value().normalize();
                let taken = m
                    .consumed
                    .get(&(is_bid, price))
                    .copied()
                    .unwrap_or_default();
                let qty = floor_to_step(l.quantity * m.depth_factor - taken, m.filters.step_size());
                (qty > Decimal::ZERO).then_some((price, qty))
            })
            .collect()
    }

    /// The book as the depth endpoint shows it: simulated depth plus resting orders, `limit`
    /// levels a side, best first.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`].
    pub fn depth(&self, symbol: &str, limit: usize) -> Result<(Levels, Levels), EngineError> {
        let m = self.market(symbol)?;
        let side_levels = |side: Side| {
            let mut by_price: BTreeMap<Decimal, Decimal> = BTreeMap::new();
            for (p, q) in Self::simulated_levels(m, side) {
                *by_price.entry(p).or_default() += q;
            }
            for o in self.open_orders_in(symbol).filter(|o| o.side == side) {
                *by_price.entry(o.price.normalize()).or_default() += o.remaining();
            }
            let mut levels: Vec<_> = by_price.into_iter().collect();
            if side == Side::Buy {
                levels.reverse();
            }
            levels.truncate(limit);
            levels
        };
        Ok((side_levels(Side::Buy), side_levels(Side::Sell)))
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

    /// Checks an order against the venue's rules and the account's balance without placing it
    /// (`order/test`).
    ///
    /// # Errors
    /// As [`Engine::place_order`].
    pub fn test_order(&self, account: &str, new: &NewOrder) -> Result<(), EngineError> {
        self.prepare(account, new).map(|_| ())
    }

    /// Places an order: validates it, matches what crosses, rests the rest (GTC) or expires it.
    ///
    /// # Errors
    /// [`EngineError`] with the venue's code: unknown symbol, filter failures, insufficient
    /// balance, duplicate client order id, a LIMIT_MAKER that would take.
    pub fn place_order(
        &mut self,
        account: &str,
        new: NewOrder,
        now: EpochMillis,
    ) -> Result<Placement, EngineError> {
        let prepared = self.prepare(account, &new)?;
        let m = self.market(&new.symbol)?;
        let (base, quote) = (m.symbol.base().clone(), m.symbol.quote().clone());
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let client_order_id = match new.client_order_id {
            Some(c) => c,
            None => self.generated_client_id(),
        };
        let locked_asset = if new.side == Side::Buy { &quote } else { &base };
        self.move_to_locked(account, locked_asset, prepared.lock);
        let is_limit = new.order_type != OrderType::Market;
        let order = Order {
            order_id,
            symbol: new.symbol.clone(),
            account: account.to_owned(),
            client_order_id,
            side: new.side,
            order_type: new.order_type,
            time_in_force: new.time_in_force.unwrap_or(TimeInForce::Gtc),
            price: new.price.filter(|_| is_limit).unwrap_or_default(),
            orig_qty: prepared.orig_qty,
            executed_qty: Decimal::ZERO,
            cumulative_quote_qty: Decimal::ZERO,
            orig_quote_order_qty: new.quote_order_qty.unwrap_or_default(),
            status: VenueStatus::New,
            time: now,
            update_time: now,
            locked: prepared.lock,
            lock_price: (new.side == Side::Buy && is_limit)
                .then_some(new.price.unwrap_or_default()),
        };
        self.orders.insert(order_id, order);
        let first_fill = self.fills.len();
        if !prepared.expire_unfilled {
            for planned in &prepared.fills {
                self.execute(order_id, *planned, now);
            }
        }
        let rests = new.order_type == OrderType::LimitMaker
            || (new.order_type == OrderType::Limit && new.time_in_force == Some(TimeInForce::Gtc));
        let filled_by_budget =
            new.quote_order_qty.is_some() && !prepared.book_exhausted && !prepared.fills.is_empty();
        let final_status = {
            let o = self
                .orders
                .get(&order_id)
                .ok_or(EngineError::OrderNotFound)?;
            if o.executed_qty >= o.orig_qty && o.orig_qty > Decimal::ZERO || filled_by_budget {
                Some(VenueStatus::Filled)
            } else if rests {
                None
            } else {
                Some(VenueStatus::Expired)
            }
        };
        if let Some(status) = final_status {
            self.close(order_id, status, now);
        }
        self.update_id += 1;
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or(EngineError::OrderNotFound)?;
        let fills = self
            .fills
            .get(first_fill..)
            .unwrap_or_default()
            .iter()
            .filter(|f| f.order_id == order_id)
            .cloned()
            .collect();
        Ok(Placement { order, fills })
    }

    /// Cancels an open order and releases what it held.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`]; [`EngineError::UnknownOrderToCancel`] for an order that
    /// does not exist or is no longer open.
    pub fn cancel_order(
        &mut self,
        account: &str,
        symbol: &str,
        by: &OrderRef,
        now: EpochMillis,
    ) -> Result<Order, EngineError> {
        let id = match self.order(account, symbol, by) {
            Ok(o) if o.status.is_open() => o.order_id,
            Ok(_) | Err(EngineError::OrderNotFound) => {
                return Err(EngineError::UnknownOrderToCancel)
            }
            Err(e) => return Err(e),
        };
        self.close(id, VenueStatus::Canceled, now);
        self.update_id += 1;
        self.orders
            .get(&id)
            .cloned()
            .ok_or(EngineError::UnknownOrderToCancel)
    }

    /// Moves every market one tick: the mid takes a seeded random step, consumed depth
    /// replenishes, and resting orders the market moved through fill.
    pub fn advance(&mut self, now: EpochMillis) {
        let names: Vec<String> = self.markets.keys().cloned().collect();
        for name in names {
            let draw = Decimal::from(self.rng.random_range(-1000i32..=1000)) / Decimal::from(1000);
            if let Some(m) = self.markets.get_mut(&name) {
                let tick = m.filters.tick_size();
                let moved = m.mid * (Decimal::ONE + m.volatility_bps / BPS * draw);
                m.mid = floor_to_step(moved, tick).max(tick);
                let keep = Decimal::ONE - m.replenish_per_tick;
                let step = m.filters.step_size();
                m.consumed = std::mem::take(&mut m.consumed)
                    .into_iter()
                    .map(|(k, q)| (k, floor_to_step(q * keep, step)))
                    .filter(|(_, q)| *q > Decimal::ZERO)
                    .collect();
            }
            self.match_resting(&name, now);
        }
        self.update_id += 1;
    }

    /// Sets a market's mid price; resting orders it crosses fill.
    ///
    /// # Errors
    /// [`EngineError::UnknownSymbol`], [`EngineError::InvalidPrice`] unless positive.
    pub fn set_mid(
        &mut self,
        symbol: &str,
        mid: Decimal,
        now: EpochMillis,
    ) -> Result<(), EngineError> {
        let m = self
            .markets
            .get_mut(symbol)
            .ok_or(EngineError::UnknownSymbol)?;
        if mid <= Decimal::ZERO {
            return Err(EngineError::InvalidPrice);
        }
        m.mid = mid;
        self.match_resting(symbol, now);
        self.update_id += 1;
        Ok(())
    }

    /// Fills resting orders against simulated depth that now crosses them, at their own price.
    fn match_resting(&mut self, symbol: &str, now: EpochMillis) {
        let Ok(m) = self.market(symbol) else { return };
        let mut resting: Vec<&Order> = self.open_orders_in(symbol).collect();
        resting.sort_by(|a, b| {
            let by_price = if a.side == Side::Buy {
                b.price.cmp(&a.price)
            } else {
                a.price.cmp(&b.price)
            };
            by_price.then(a.order_id.cmp(&b.order_id))
        });
        let step = m.filters.step_size();
        let mut asks = Self::simulated_levels(m, Side::Sell);
        let mut bids = Self::simulated_levels(m, Side::Buy);
        let mut work = Vec::new();
        for o in resting {
            let (levels, crosses): (&mut Levels, fn(Decimal, Decimal) -> bool) =
                if o.side == Side::Buy {
                    (&mut asks, |level, limit| level <= limit)
                } else {
                    (&mut bids, |level, limit| level >= limit)
                };
            let mut remaining = o.remaining();
            for (price, qty) in levels.iter_mut() {
                if remaining <= Decimal::ZERO || !crosses(*price, o.price) {
                    break;
                }
                let take = floor_to_step(remaining.min(*qty), step);
                if take > Decimal::ZERO {
                    *qty -= take;
                    remaining -= take;
                    work.push((o.order_id, o.side, *price, o.price, take));
                }
            }
        }
        for (order_id, side, level_price, order_price, qty) in work {
            if let Some(m) = self.markets.get_mut(symbol) {
                *m.consumed
                    .entry((side == Side::Sell, level_price))
                    .or_default() += qty;
            }
            self.settle_maker(order_id, order_price, qty, None, now);
        }
    }

    fn generated_client_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..22)
            .map(|_| {
                let i = self.rng.random_range(0..ALPHABET.len());
                ALPHABET.get(i).map_or('x', |b| char::from(*b))
            })
            .collect()
    }

    fn prepare(&self, account: &str, new: &NewOrder) -> Result<Prepared, EngineError> {
        let m = self.market(&new.symbol)?;
        let f = &m.filters;
        let acct = self
            .accounts
            .get(account)
            .ok_or(EngineError::UnknownAccount)?;
        let is_limit = new.order_type != OrderType::Market;
        if is_limit {
            let price = new.price.ok_or(EngineError::InvalidPrice)?;
            if price <= Decimal::ZERO {
                return Err(EngineError::InvalidPrice);
            }
            if price < f.tick_size() || price > MAX_PRICE || !is_on_step(price, f.tick_size()) {
                return Err(EngineError::Filter("PRICE_FILTER"));
            }
        }
        if let Some(q) = new.quantity {
            if q <= Decimal::ZERO {
                return Err(EngineError::InvalidQuantity);
            }
            if q < f.min_qty()
                || f.max_qty().is_some_and(|max| q > max)
                || !is_on_step(q, f.step_size())
            {
                return Err(EngineError::Filter(if is_limit {
                    "LOT_SIZE"
                } else {
                    "MARKET_LOT_SIZE"
                }));
            }
        }
        if let Some(q) = new.quote_order_qty {
            if q <= Decimal::ZERO {
                return Err(EngineError::InvalidQuantity);
            }
        }
        let notional = match (new.quantity, new.price, new.quote_order_qty) {
            (_, _, Some(quote)) => quote,
            (Some(q), Some(p), None) if is_limit => q * p,
            (Some(q), _, None) => q * m.mid,
            (None, _, None) => return Err(EngineError::InvalidQuantity),
        };
        if notional < f.min_notional() {
            return Err(EngineError::Filter("NOTIONAL"));
        }
        if let Some(cid) = &new.client_order_id {
            if self
                .orders
                .values()
                .any(|o| o.account == account && o.status.is_open() && &o.client_order_id == cid)
            {
                return Err(EngineError::DuplicateOrder);
            }
        }
        let limit = new.price.filter(|_| is_limit);
        let (fills, book_exhausted) =
            self.plan_taker(m, new.side, limit, new.quantity, new.quote_order_qty);
        if new.order_type == OrderType::LimitMaker && !fills.is_empty() {
            return Err(EngineError::WouldTake);
        }
        let planned_qty: Decimal = fills.iter().map(|p| p.qty).sum();
        let planned_cost: Decimal = fills.iter().map(|p| p.qty * p.price).sum();
        let expire_unfilled = new.time_in_force == Some(TimeInForce::Fok)
            && new.quantity.is_some_and(|q| planned_qty < q);
        let orig_qty = new.quantity.unwrap_or(planned_qty);
        let lock = match (new.side, limit) {
            (Side::Buy, Some(price)) => orig_qty * price,
            (Side::Buy, None) => planned_cost,
            (Side::Sell, _) => new.quantity.unwrap_or(planned_qty),
        };
        let (base, quote) = (m.symbol.base(), m.symbol.quote());
        let asset = if new.side == Side::Buy { quote } else { base };
        let free = acct.balances.get(asset).map(|b| b.free).unwrap_or_default();
        if free < lock {
            return Err(EngineError::InsufficientBalance);
        }
        Ok(Prepared {
            fills,
            book_exhausted,
            expire_unfilled,
            orig_qty,
            lock,
        })
    }

    /// What an incoming order would take, best price first; at one price the simulated depth
    /// (which was there first) before resting orders, those oldest first. Returns the fills and
    /// whether the book ran out before the order's size or budget did.
    fn plan_taker(
        &self,
        m: &Market,
        side: Side,
        limit: Option<Decimal>,
        qty: Option<Decimal>,
        budget: Option<Decimal>,
    ) -> (Vec<PlannedFill>, bool) {
        let opposite = if side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
        let mut candidates: Vec<(Decimal, u64, Maker, Decimal)> =
            Self::simulated_levels(m, opposite)
                .into_iter()
                .map(|(p, q)| (p, 0, Maker::Simulated, q))
                .collect();
        candidates.extend(
            self.open_orders_in(&m.name)
                .filter(|o| o.side == opposite)
                .map(|o| {
                    (
                        o.price.normalize(),
                        o.order_id,
                        Maker::Resting(o.order_id),
                        o.remaining(),
                    )
                }),
        );
        candidates.sort_by(|a, b| {
            let by_price = if side == Side::Buy {
                a.0.cmp(&b.0)
            } else {
                b.0.cmp(&a.0)
            };
            by_price.then(a.1.cmp(&b.1))
        });
        let step = m.filters.step_size();
        let mut qty_left = qty;
        let mut budget_left = budget;
        let mut fills = Vec::new();
        for (price, _, maker, available) in candidates {
            if let Some(l) = limit {
                if (side == Side::Buy && price > l) || (side == Side::Sell && price < l) {
                    break;
                }
            }
            let mut take = available;
            if let Some(q) = qty_left {
                take = take.min(q);
            }
            if let Some(b) = budget_left {
                take = take.min(floor_to_step(b / price, step));
            }
            let take = floor_to_step(take, step);
            if take > Decimal::ZERO {
                fills.push(PlannedFill {
                    maker,
                    price,
                    qty: take,
                });
                qty_left = qty_left.map(|q| q - take);
                budget_left = budget_left.map(|b| b - take * price);
            }
            let done = qty_left.is_some_and(|q| q <= Decimal::ZERO)
                || budget_left.is_some_and(|b| {
                    take < available && floor_to_step(b / price, step) <= Decimal::ZERO
                });
            if done {
                return (fills, false);
            }
        }
        (fills, true)
    }

    fn move_to_locked(&mut self, account: &str, asset: &Asset, amount: Decimal) {
        if let Some(a) = self.accounts.get_mut(account) {
            let b = a.balances.entry(asset.clone()).or_default();
            b.free -= amount;
            b.locked += amount;
        }
    }

    fn credit(&mut self, account: &str, asset: &Asset, amount: Decimal) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.balances.entry(asset.clone()).or_default().free += amount;
        }
    }

    fn execute(&mut self, taker_id: u64, planned: PlannedFill, now: EpochMillis) {
        let trade_id = self.settle_taker(taker_id, planned.price, planned.qty, now);
        match planned.maker {
            Maker::Simulated => {
                if let Some(side) = self.orders.get(&taker_id).map(|o| o.side) {
                    if let Some(m) = self
                        .markets
                        .get_mut(self.orders.get(&taker_id).map_or("", |o| o.symbol.as_str()))
                    {
                        *m.consumed
                            .entry((side == Side::Sell, planned.price))
                            .or_default() += planned.qty;
                    }
                }
            }
            Maker::Resting(maker_id) => {
                self.settle_maker(maker_id, planned.price, planned.qty, trade_id, now);
            }
        }
    }

    /// Books the taker's side of a trade; the counterparty is the simulated market unless the
    /// caller then books a resting maker with the same trade id.
    fn settle_taker(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        now: EpochMillis,
    ) -> Option<u64> {
        let rate = self.fees.taker;
        let trade_id = self.settle(order_id, price, qty, rate, false, None, now)?;
        Some(trade_id)
    }

    fn settle_maker(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        trade_id: Option<u64>,
        now: EpochMillis,
    ) {
        let rate = self.fees.maker;
        let _ = self.settle(order_id, price, qty, rate, true, trade_id, now);
        // A resting order that is now filled leaves the book and frees what it still holds.
        if self
            .orders
            .get(&order_id)
            .is_some_and(|o| o.executed_qty >= o.orig_qty)
        {
            self.close(order_id, VenueStatus::Filled, now);
        }
    }

    /// Moves the money of one order's side of a trade and records the fill. The flow to the
    /// other side is booked against the simulated market; a resting counterparty's own
    /// settlement cancels that flow out, so the venue's books always balance.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        rate: Decimal,
        is_maker: bool,
        trade_id: Option<u64>,
        now: EpochMillis,
    ) -> Option<u64> {
        let o = self.orders.get(&order_id)?.clone();
        let m = self.markets.get_mut(&o.symbol)?;
        m.last_price = Some(price);
        let (base, quote) = (m.symbol.base().clone(), m.symbol.quote().clone());
        let quote_qty = qty * price;
        let (paid_asset, paid, got_asset, got) = if o.side == Side::Buy {
            (quote.clone(), quote_qty, base.clone(), qty)
        } else {
            (base.clone(), qty, quote.clone(), quote_qty)
        };
        let release = match (o.side, o.lock_price) {
            (Side::Buy, Some(limit)) => qty * limit,
            (Side::Buy, None) => quote_qty,
            (Side::Sell, _) => qty,
        };
        let commission = dp(got * rate);
        if let Some(a) = self.accounts.get_mut(&o.account) {
            let b = a.balances.entry(paid_asset.clone()).or_default();
            b.locked -= release;
            b.free += release - paid;
        }
        self.credit(&o.account, &got_asset, got - commission);
        *self.fees_collected.entry(got_asset.clone()).or_default() += commission;
        *self.simulated_flow.entry(paid_asset).or_default() += paid;
        *self.simulated_flow.entry(got_asset.clone()).or_default() -= got;
        let trade_id = trade_id.unwrap_or_else(|| {
            let id = self.next_trade_id;
            self.next_trade_id += 1;
            id
        });
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.locked -= release;
            order.executed_qty += qty;
            order.cumulative_quote_qty += quote_qty;
            order.update_time = now;
            if order.status == VenueStatus::New && order.executed_qty < order.orig_qty {
                order.status = VenueStatus::PartiallyFilled;
            }
        }
        self.fills.push(Fill {
            trade_id,
            order_id,
            symbol: o.symbol.clone(),
            account: o.account.clone(),
            side: o.side,
            price,
            qty,
            quote_qty,
            commission,
            commission_asset: got_asset,
            is_maker,
            time: now,
        });
        Some(trade_id)
    }

    /// Ends an order: sets its final status and gives back whatever it still holds.
    fn close(&mut self, order_id: u64, status: VenueStatus, now: EpochMillis) {
        let Some(o) = self.orders.get_mut(&order_id) else {
            return;
        };
        let held = o.locked;
        o.locked = Decimal::ZERO;
        o.status = status;
        o.update_time = now;
        let (account, side, symbol) = (o.account.clone(), o.side, o.symbol.clone());
        let Some(m) = self.markets.get(&symbol) else {
            return;
        };
        let asset = if side == Side::Buy {
            m.symbol.quote().clone()
        } else {
            m.symbol.base().clone()
        };
        if let Some(a) = self.accounts.get_mut(&account) {
            let b = a.balances.entry(asset).or_default();
            b.locked -= held;
            b.free += held;
        }
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

struct Prepared {
    fills: Vec<PlannedFill>,
    book_exhausted: bool,
    expire_unfilled: bool,
    orig_qty: Decimal,
    lock: Decimal,
}

/// A decimal as the venue writes amounts: fixed eight places, no exponent.
pub fn venue_decimal(value: Decimal) -> String {
    format!("{:.8}", value.round_dp(ASSET_PRECISION))
}
