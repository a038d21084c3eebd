//! The account's balances (`BalanceEx`): free and held per asset, keyed through `Assets`.

use std::collections::BTreeMap;

use driftline_core::ports::Balance;
use driftline_core::Asset;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::result;
use crate::decode::{decimal, WireError};

#[derive(Deserialize)]
struct BalanceExWire {
    balance: String,
    #[serde(default)]
    hold_trade: Option<String>,
}

/// The account's non-zero balances: `balance` less `hold_trade` free, `hold_trade` locked.
/// Keys `assets` does not name and that hold a dot (earn, staking and futures wallets, not
/// spot) are left out.
///
/// # Errors
/// [`WireError`] when an amount is unreadable, negative or held more than owned, or a held
/// spot asset is not in `Assets`.
pub fn parse_balance_ex(
    body: &[u8],
    assets: &BTreeMap<String, Asset>,
) -> Result<Vec<Balance>, WireError> {
    let raw: BTreeMap<String, BalanceExWire> = result(body)?;
    let mut by_asset: BTreeMap<Asset, (Decimal, Decimal)> = BTreeMap::new();
    for (key, b) in &raw {
        let total = decimal(&format!("result.{key}.balance"), &b.balance)?;
        let held = match &b.hold_trade {
            Some(h) => decimal(&format!("result.{key}.hold_trade"), h)?,
            None => Decimal::ZERO,
        };
        if total.is_zero() && held.is_zero() {
            continue;
        }
        if total.is_sign_negative() || held.is_sign_negative() || held > total {
            return Err(WireError::new(
                format!("result.{key}"),
                format!(
                    "{} held of {} owned",
                    b.hold_trade.as_deref().unwrap_or("0"),
                    b.balance
                ),
            ));
        }
        let asset = match assets.get(key) {
            Some(asset) => asset.clone(),
            None if key.contains('.') => continue,
            None => {
                return Err(WireError::new(
                    format!("result.{key}"),
                    "an asset Kraken's Assets does not list",
                ))
            }
        };
        let entry = by_asset.entry(asset).or_default();
        entry.0 += total - held;
        entry.1 += held;
    }
    Ok(by_asset
        .into_iter()
        .map(|(asset, (free, locked))| Balance {
            asset,
            free: free.normalize(),
            locked: locked.normalize(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraken::wire::parse_assets;
    use crate::kraken::wire::tests::{asset, ASSETS};
    use rust_decimal_macros::dec;

    #[test]
    fn balances_split_free_and_held_and_skip_other_wallets() {
        let assets = parse_assets(ASSETS.as_bytes()).unwrap();
        let body = r#"{"error":[],"result":{
            "XXBT":{"balance":"1.50000000","hold_trade":"0.25000000"},
            "ZUSD":{"balance":"0.0000","hold_trade":"0.0000"},
            "USDT":{"balance":"100.5"},
            "ETH2.S":{"balance":"3.0","hold_trade":"0"}
        }}"#;
        assert_eq!(
            parse_balance_ex(body.as_bytes(), &assets).unwrap(),
            vec![
                Balance {
                    asset: asset("BTC"),
                    free: dec!(1.25),
                    locked: dec!(0.25)
                },
                Balance {
                    asset: asset("USDT"),
                    free: dec!(100.5),
                    locked: dec!(0)
                },
            ]
        );
        let unknown = r#"{"error":[],"result":{"ABC":{"balance":"1","hold_trade":"0"}}}"#;
        assert_eq!(
            parse_balance_ex(unknown.as_bytes(), &assets)
                .unwrap_err()
                .field,
            "result.ABC"
        );
        let over = r#"{"error":[],"result":{"XXBT":{"balance":"1","hold_trade":"2"}}}"#;
        assert!(parse_balance_ex(over.as_bytes(), &assets).is_err());
    }
}
