//! The account's wallets (`GET /api/v3/brokerage/accounts`, paged) into driftline's balances:
//! one per currency, free and held.

use std::collections::BTreeMap;

use driftline_core::ports::Balance;
use driftline_core::Asset;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::next_cursor;
use crate::decode::{decimal, from_json, WireError};

#[derive(Deserialize)]
struct AccountsWire {
    accounts: Vec<WalletWire>,
    #[serde(default)]
    has_next: bool,
    #[serde(default)]
    cursor: String,
}

#[derive(Deserialize)]
struct WalletWire {
    currency: String,
    available_balance: AmountWire,
    hold: AmountWire,
}

#[derive(Deserialize)]
struct AmountWire {
    value: String,
}

/// One page of wallets: each currency's free (`available_balance`) and locked (`hold`)
/// amounts, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletPage {
    pub wallets: Vec<(String, Decimal, Decimal)>,
    pub next_cursor: Option<String>,
}

/// # Errors
/// [`WireError`] when an amount is unreadable or negative.
pub fn parse_accounts(body: &[u8]) -> Result<WalletPage, WireError> {
    let page: AccountsWire = from_json(body)?;
    let wallets = page
        .accounts
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let free = decimal(
                &format!("accounts[{i}].available_balance.value"),
                &w.available_balance.value,
            )?;
            let locked = decimal(&format!("accounts[{i}].hold.value"), &w.hold.value)?;
            if free.is_sign_negative() || locked.is_sign_negative() {
                return Err(WireError::new(
                    format!("accounts[{i}]"),
                    format!(
                        "negative balance of {}: {free} free, {locked} held",
                        w.currency
                    ),
                ));
            }
            Ok((w.currency.clone(), free, locked))
        })
        .collect::<Result<_, WireError>>()?;
    Ok(WalletPage {
        wallets,
        next_cursor: next_cursor(page.has_next, page.cursor),
    })
}

/// The held balances of every page, one per currency (wallets of one currency are added up),
/// by asset code.
///
/// # Errors
/// [`WireError`] when a held currency's code is not a valid asset code.
pub fn balances(wallets: &[(String, Decimal, Decimal)]) -> Result<Vec<Balance>, WireError> {
    let mut by_asset: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for (currency, free, locked) in wallets {
        let total = by_asset.entry(currency).or_default();
        let sum = total.0.checked_add(*free).zip(total.1.checked_add(*locked));
        *total = sum.ok_or_else(|| {
            WireError::new(
                format!("accounts[{currency}]"),
                "balances too large to add up",
            )
        })?;
    }
    by_asset
        .into_iter()
        // Coinbase lists a wallet for every currency it trades; only held ones matter.
        .filter(|(_, (free, locked))| !(free.is_zero() && locked.is_zero()))
        .map(|(currency, (free, locked))| {
            let asset = Asset::new(currency).map_err(|e| {
                WireError::new(format!("accounts[{currency}].currency"), e.to_string())
            })?;
            Ok(Balance {
                asset,
                free: free.normalize(),
                locked: locked.normalize(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn wallets_add_up_per_currency_and_skip_empty_ones() {
        let body = br#"{"accounts":[{"currency":"BTC","available_balance":{"value":"1.5","currency":"BTC"},"hold":{"value":"0","currency":"BTC"}},{"currency":"BTC","available_balance":{"value":"0.5","currency":"BTC"},"hold":{"value":"0.1","currency":"BTC"}},{"currency":"ETH","available_balance":{"value":"0","currency":"ETH"},"hold":{"value":"0","currency":"ETH"}}],"has_next":true,"cursor":"abc"}"#;
        let page = parse_accounts(body).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("abc"));
        let b = balances(&page.wallets).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].asset.as_str(), b[0].free, b[0].locked),
            ("BTC", dec!(2), dec!(0.1))
        );
    }
}
