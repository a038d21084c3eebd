//! Reading the files people write: portfolios and markets, in TOML or JSON by extension.
//! Every error names the file, the field and the value.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use driftline_core::accounts::{AccountMarkets, CashRate, PortfolioAccount, PortfolioAccounts};
use driftline_core::config::{parse_decimal, ConfigError, PortfolioSpec};
use driftline_core::ports::Venue;
use driftline_core::{
    DepthProfile, DomainError, Fees, Level, MarketFilters, MarketFiltersFields, MarketSnapshot,
    OrderBook, Portfolio, Price, RebalancePolicy, Symbol, TradingStatus,
};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FileError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

impl FileError {
    fn invalid(path: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn config(path: &Path, e: ConfigError) -> Self {
        Self::invalid(path, e.field, e.message)
    }
}

/// Parses `path` as TOML, or as JSON when it ends in `.json`, with the path of any bad field.
fn read<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let field_of = |p: &serde_path_to_error::Path| {
        let s = p.to_string();
        if s == "." {
            "(top level)".to_owned()
        } else {
            s
        }
    };
    if path.extension().is_some_and(|e| e == "json") {
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| FileError::invalid(path, field_of(e.path()), e.inner().to_string()))
    } else {
        let de = toml::Deserializer::new(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let message = e.inner().message().to_owned();
            let at = e
                .inner()
                .span()
                .map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)))
                .unwrap_or_default();
            FileError::invalid(path, field_of(e.path()), format!("{message}{at}"))
        })
    }
}

/// Reads a portfolio file into its portfolio (holding what is off every exchange), its
/// accounts (with their holdings) and its policy.
///
/// # Errors
/// [`FileError`] naming the file, the field and the value.
pub fn read_portfolio(
    path: &Path,
) -> Result<(Portfolio, PortfolioAccounts, RebalancePolicy), FileError> {
    let spec: PortfolioSpec = read(path)?;
    spec.into_planned().map_err(|e| FileError::config(path, e))
}

/// Reads a portfolio file for the console to store: validated exactly as the scheduler validates
/// the stored spec ([`PortfolioSpec::into_domain`]), and without holdings, which a deployed
/// portfolio reads from its exchange account.
///
/// # Errors
/// [`FileError`] naming the file, the field and the value.
pub fn read_portfolio_spec(path: &Path) -> Result<PortfolioSpec, FileError> {
    let spec: PortfolioSpec = read(path)?;
    if !spec.holdings.is_empty() {
        let assets: Vec<&str> = spec.holdings.keys().map(String::as_str).collect();
        return Err(FileError::invalid(
            path,
            "holdings",
            format!(
                "{} given, but a deployed portfolio's holdings are its exchange account's \
                 balances: remove `holdings` from the file",
                assets.join(", ")
            ),
        ));
    }
    if let Some((i, account)) = spec
        .accounts
        .iter()
        .enumerate()
        .find(|(_, a)| !a.holdings.is_empty())
    {
        let assets: Vec<&str> = account.holdings.keys().map(String::as_str).collect();
        return Err(FileError::invalid(
            path,
            format!("accounts[{i}].holdings"),
            format!(
                "{} given, but a deployed portfolio's holdings are its exchange accounts' \
                 balances: remove `holdings` from the account",
                assets.join(", ")
            ),
        ));
    }
    spec.clone()
        .into_domain()
        .map_err(|e| FileError::config(path, e))?;
    Ok(spec)
}

/// A market as written: filters, and a book given level by level, or as top of book (bid and
/// ask, or mid and spread) with a depth profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketSpec {
    symbol: String,
    bid: Option<String>,
    ask: Option<String>,
    mid: Option<String>,
    spread_bps: Option<String>,
    depth: Option<DepthProfile>,
    bids: Option<Vec<[String; 2]>>,
    asks: Option<Vec<[String; 2]>>,
    filters: FiltersSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersSpec {
    tick_size: String,
    step_size: String,
    #[serde(default)]
    min_qty: Option<String>,
    #[serde(default)]
    max_qty: Option<String>,
    min_notional: String,
    #[serde(default)]
    status: Option<String>,
}

/// A market file: one account's venue, fees and markets at the top level, or, for a portfolio
/// over several accounts, one `[[accounts]]` section each, named by the account's secret id as
/// the portfolio file names it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketFile {
    #[serde(default)]
    venue: Option<Venue>,
    #[serde(default)]
    fees: Option<Fees>,
    #[serde(default)]
    markets: Option<Vec<MarketSpec>>,
    #[serde(default)]
    accounts: Vec<AccountMarketSpec>,
}

/// One account's section of a market file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountMarketSpec {
    /// The account as the portfolio file names it; absent: the default account.
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    venue: Option<Venue>,
    #[serde(default)]
    fees: Option<Fees>,
    markets: Vec<MarketSpec>,
}

/// A section of the market file, where it is in the file (`""` or `accounts[i].`).
struct Section {
    at: String,
    venue: Option<Venue>,
    fees: Option<Fees>,
    markets: Vec<MarketSpec>,
}

/// Reads a market file for a portfolio's accounts: one [`AccountMarkets`] per account, in the
/// portfolio's order.
///
/// # Errors
/// [`FileError`] naming the file, the field and the value: a market not in its account's cash,
/// a market twice, an account of the portfolio without a section or a section for none, the
/// cash rule's market missing.
pub fn read_account_markets(
    path: &Path,
    placed: &PortfolioAccounts,
) -> Result<Vec<AccountMarkets>, FileError> {
    let file: MarketFile = read(path)?;
    let names: Vec<&str> = placed.accounts.iter().map(PortfolioAccount::name).collect();
    let mut sections: Vec<(Option<String>, Section)> = Vec::new();
    if file.accounts.is_empty() {
        let Some(markets) = file.markets else {
            return Err(FileError::invalid(
                path,
                "markets",
                "missing: give the markets, or one `[[accounts]]` section per account",
            ));
        };
        if placed.accounts.len() > 1 {
            return Err(FileError::invalid(
                path,
                "accounts",
                format!(
                    "the portfolio has {} accounts ({}): give each its venue, fees and markets \
                     in an `[[accounts]]` section naming it, like `account = \"{}\"`",
                    names.len(),
                    names.join(", "),
                    names[0]
                ),
            ));
        }
        let account = placed.accounts.first().and_then(|a| a.account.clone());
        sections.push((
            account,
            Section {
                at: String::new(),
                venue: file.venue,
                fees: file.fees,
                markets,
            },
        ));
    } else {
        for (field, given) in [
            ("venue", file.venue.is_some()),
            ("fees", file.fees.is_some()),
            ("markets", file.markets.is_some()),
        ] {
            if given {
                return Err(FileError::invalid(
                    path,
                    field,
                    "given beside `[[accounts]]`: give it inside each account's section",
                ));
            }
        }
        for (i, spec) in file.accounts.into_iter().enumerate() {
            let at = format!("accounts[{i}].");
            let name = spec.account.as_deref().unwrap_or("default");
            if !names.contains(&name) {
                return Err(FileError::invalid(
                    path,
                    format!("{at}account"),
                    format!(
                        "{name:?} is not an account of the portfolio ({})",
                        names.join(", ")
                    ),
                ));
            }
            if sections.iter().any(|(a, _)| *a == spec.account) {
                return Err(FileError::invalid(
                    path,
                    format!("{at}account"),
                    format!("{name:?} has two sections"),
                ));
            }
            sections.push((
                spec.account,
                Section {
                    at,
                    venue: spec.venue,
                    fees: spec.fees,
                    markets: spec.markets,
                },
            ));
        }
    }
    placed
        .iter()
        .map(|(account, rate)| {
            let Some(i) = sections.iter().position(|(a, _)| *a == account.account) else {
                return Err(FileError::invalid(
                    path,
                    "accounts",
                    format!(
                        "no section for the portfolio's account {:?}: every account needs its \
                         markets (`[[accounts]]` with `account = {:?}`)",
                        account.name(),
                        account.name()
                    ),
                ));
            };
            let section = sections.swap_remove(i).1;
            account_markets(path, section, account, rate)
        })
        .collect()
}

/// One account's section read: its markets in its cash, and its cash rate from the market the
/// cash rule names (that market is read for its mid only, not traded).
fn account_markets(
    path: &Path,
    section: Section,
    account: &PortfolioAccount,
    rate: &CashRate,
) -> Result<AccountMarkets, FileError> {
    let Section {
        at,
        venue,
        fees,
        markets: specs,
    } = section;
    let rate_symbol = match rate {
        CashRate::Market { symbol, .. } => Some(symbol),
        CashRate::Par => None,
    };
    let cash = &account.quote;
    let mut markets = BTreeMap::new();
    let mut rate_mid = None;
    for (i, spec) in specs.into_iter().enumerate() {
        let at = format!("{at}markets[{i}]");
        let snapshot = market(&at, spec).map_err(|e| FileError::config(path, e))?;
        let symbol = snapshot.filters.symbol().clone();
        if Some(&symbol) == rate_symbol {
            rate_mid = snapshot.book.mid().map(|m| m.value());
            continue;
        }
        if symbol.quote() != cash {
            return Err(FileError::invalid(
                path,
                format!("{at}.symbol"),
                format!("{symbol} is not quoted in the account's cash asset {cash}"),
            ));
        }
        if markets.insert(symbol.base().clone(), snapshot).is_some() {
            return Err(FileError::invalid(
                path,
                format!("{at}.symbol"),
                format!("{symbol} appears twice"),
            ));
        }
    }
    let cash_rate = rate.rate(rate_mid).ok_or_else(|| {
        let symbol = rate_symbol.map(ToString::to_string).unwrap_or_default();
        FileError::invalid(
            path,
            format!("{at}markets"),
            format!(
                "no market {symbol} with a book: the cash rule prices {cash} from its mid \
                 (portfolio `cash.markets.{cash}`)"
            ),
        )
    })?;
    Ok(AccountMarkets {
        venue: venue.unwrap_or(Venue::Binance),
        fees: account.fees.or(fees).unwrap_or_default(),
        markets,
        cash_rate,
    })
}

fn market(at: &str, spec: MarketSpec) -> Result<MarketSnapshot, ConfigError> {
    let symbol: Symbol = spec
        .symbol
        .parse()
        .map_err(|e: DomainError| ConfigError::new(format!("{at}.symbol"), e.to_string()))?;
    let dec = |name: &str, v: &str| parse_decimal(&format!("{at}.{name}"), v);
    let opt = |name: &str, v: &Option<String>| v.as_deref().map(|v| dec(name, v)).transpose();
    let f = &spec.filters;
    let status = match f.status.as_deref() {
        None => TradingStatus::Trading,
        Some(s) => TradingStatus::parse(s).ok_or_else(|| {
            ConfigError::new(
                format!("{at}.filters.status"),
                format!("{s:?} is not an exchange trading status (TRADING, HALT, BREAK, ...)"),
            )
        })?,
    };
    let filters = MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: dec("filters.tick_size", &f.tick_size)?,
        step_size: dec("filters.step_size", &f.step_size)?,
        min_qty: opt("filters.min_qty", &f.min_qty)?.unwrap_or_default(),
        max_qty: opt("filters.max_qty", &f.max_qty)?,
        min_notional: dec("filters.min_notional", &f.min_notional)?,
        status,
    })
    .map_err(|e| match &e {
        DomainError::InvalidFilter { field, .. } => {
            ConfigError::new(format!("{at}.filters.{field}"), e.to_string())
        }
        _ => ConfigError::new(format!("{at}.filters"), e.to_string()),
    })?;

    let book_error = |e: DomainError| ConfigError::new(format!("{at}.book"), e.to_string());
    let book = match (&spec.bids, &spec.asks, spec.depth) {
        (Some(bids), Some(asks), None) => {
            let levels = |name: &str, side: &[[String; 2]]| {
                side.iter()
                    .enumerate()
                    .map(|(j, [p, q])| {
                        let field = format!("{name}[{j}]");
                        let price = dec(&field, p)?;
                        Ok(Level {
                            price: Price::new(price).map_err(|e| {
                                ConfigError::new(format!("{at}.{field}"), e.to_string())
                            })?,
                            quantity: dec(&field, q)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ConfigError>>()
            };
            OrderBook::new(symbol, levels("bids", bids)?, levels("asks", asks)?)
                .map_err(book_error)?
        }
        (None, None, Some(depth)) => {
            let (mid, spread_bps) = match (opt("bid", &spec.bid)?, opt("ask", &spec.ask)?, opt("mid", &spec.mid)?, opt("spread_bps", &spec.spread_bps)?) {
                (Some(bid), Some(ask), None, None) if bid < ask => {
                    let mid = (bid + ask) / Decimal::TWO;
                    (mid, (ask - bid) / mid * Decimal::from(10_000))
                }
                (Some(bid), Some(ask), None, None) => {
                    return Err(ConfigError::new(format!("{at}.bid"), format!("bid {bid} must be below ask {ask}")))
                }
                (None, None, Some(mid), spread) => (mid, spread.unwrap_or_default()),
                _ => {
                    return Err(ConfigError::new(
                        at,
                        "give the top of book as bid and ask, or as mid (and spread_bps), with a depth profile",
                    ))
                }
            };
            let mid = Price::new(mid)
                .map_err(|e| ConfigError::new(format!("{at}.mid"), e.to_string()))?;
            depth
                .book(&symbol, mid, spread_bps, filters.tick_size())
                .map_err(book_error)?
        }
        _ => return Err(ConfigError::new(
            at,
            "give either `bids` and `asks` level by level, or a top of book with a `depth` profile",
        )),
    };
    Ok(MarketSnapshot { filters, book })
}
