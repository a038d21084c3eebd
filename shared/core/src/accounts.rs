//! Where a portfolio's holdings are: the exchange accounts it trades on (each on its venue,
//! each settling in its own cash asset), what it holds off every exchange, and how the cash
//! assets count in the portfolio's quote. One portfolio, one drift, across all of them.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ports::Venue;
use crate::{Asset, DomainError, Fees, Holdings, Markets, Symbol, TargetWeights};

/// One exchange account's part of a portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioAccount {
    /// The id of the secret holding its API key; `None` for the deployment's default account.
    pub account: Option<String>,
    /// The cash asset it trades against: every market of this account is `ASSET/quote`.
    pub quote: Asset,
    /// Amounts never sold: a sell on this account leaves at least this much.
    pub reserve: Holdings,
    /// Assets whose balance on this account the portfolio neither counts nor trades.
    pub ignore: BTreeSet<Asset>,
    /// This account's fee tier; `None` for the deployment's.
    pub fees: Option<Fees>,
    /// Balances for a plan made offline (`driftline plan --portfolio`); a cycle reads them
    /// from the exchange.
    pub holdings: Holdings,
}

impl PortfolioAccount {
    /// The account's name as people read it: its secret id, or `default`.
    pub fn name(&self) -> &str {
        self.account.as_deref().unwrap_or("default")
    }

    /// Whether a balance of `asset` on this account belongs to the portfolio: a target asset
    /// or the account's cash, and not ignored.
    pub fn counts(&self, asset: &Asset, targets: &TargetWeights) -> bool {
        !self.ignore.contains(asset) && (asset == &self.quote || targets.contains(asset))
    }

    /// The balances the portfolio counts on this account, from all it holds there.
    ///
    /// # Errors
    /// [`DomainError::NegativeHolding`] or [`DomainError::DuplicateAsset`].
    pub fn counted(
        &self,
        balances: impl IntoIterator<Item = (Asset, Decimal)>,
        targets: &TargetWeights,
    ) -> Result<Holdings, DomainError> {
        Holdings::new(
            balances
                .into_iter()
                .filter(|(asset, _)| self.counts(asset, targets)),
        )
    }
}

/// What an account trades on, as a cycle reads it from the exchange or a plan made offline
/// reads it from a market file.
#[derive(Debug, Clone)]
pub struct AccountMarkets {
    pub venue: Venue,
    /// The account's fee tier.
    pub fees: Fees,
    /// Each asset's market in the account's cash asset, for the assets its venue lists.
    pub markets: Markets,
    /// The value of one unit of the account's cash in the portfolio's quote.
    pub cash_rate: Decimal,
}

/// How each account's cash asset is counted in the portfolio's quote asset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum CashRule {
    /// Every cash asset (USDT, USDC, USD) is worth one unit of the portfolio's quote.
    #[default]
    Equal,
    /// Each account cash asset other than the portfolio's quote is priced at the mid of the
    /// named market on that account's venue: `USD = "USDT/USD"` counts a dollar as
    /// 1 / mid(USDT/USD) USDT; `USDC = "USDC/USDT"` counts a USDC as mid(USDC/USDT) USDT.
    Market { markets: BTreeMap<String, String> },
}

impl CashRule {
    pub fn is_equal(&self) -> bool {
        matches!(self, Self::Equal)
    }
}

/// Where the cash rate of an account's cash asset comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CashRate {
    /// The account settles in the portfolio's quote, or the rule says cash is equal: 1.
    Par,
    /// The mid of `symbol`; `inverted` when the account's cash is the symbol's quote.
    Market { symbol: Symbol, inverted: bool },
}

impl CashRate {
    /// The value of one unit of the account's cash in the portfolio's quote, from the mid of
    /// the rate's market (read only for [`CashRate::Market`]).
    pub fn rate(&self, mid: Option<Decimal>) -> Option<Decimal> {
        match self {
            Self::Par => Some(Decimal::ONE),
            Self::Market { inverted, .. } => {
                let mid = mid.filter(|m| *m > Decimal::ZERO)?;
                Some(if *inverted { Decimal::ONE / mid } else { mid })
            }
        }
    }
}

/// All the places a portfolio's holdings are, validated against its targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioAccounts {
    /// At least one; the first is where a trade goes when costs tie.
    pub accounts: Vec<PortfolioAccount>,
    /// Counted in equity and drift, never traded: cold storage, a hardware wallet, a bank.
    pub off_exchange: Holdings,
    /// The market (if any) each account's cash is priced from, one per account.
    pub cash_rates: Vec<CashRate>,
}

impl PortfolioAccounts {
    /// The accounts with their cash rates.
    pub fn iter(&self) -> impl Iterator<Item = (&PortfolioAccount, &CashRate)> {
        self.accounts.iter().zip(&self.cash_rates)
    }

    /// Whether more than one account or an off-exchange holding takes part: the plan routes.
    pub fn is_spread(&self) -> bool {
        self.accounts.len() > 1
    }
}
