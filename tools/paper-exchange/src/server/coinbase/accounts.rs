//! Coinbase's accounts (one wallet per currency, with what is free and held) and the fee tier
//! with the account's traded volume (`transaction_summary`).

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::json as shapes;
use super::query::page;
use super::{Call, CbError};
use crate::engine::Engine;

/// The account's wallets: every asset it holds or a market trades, with what is free and held.
pub(super) fn wallets(engine: &Engine, account: &str) -> Result<Vec<Value>, CbError> {
    let held = engine.balances(account)?;
    let mut assets = engine.known_assets();
    assets.extend(held.keys().cloned());
    Ok(assets
        .iter()
        .map(|a| {
            let b = held.get(a).copied().unwrap_or_default();
            shapes::wallet(account, a, b.free, b.locked)
        })
        .collect())
}

pub(super) fn accounts(engine: &mut Engine, c: &Call<'_>) -> Result<Value, CbError> {
    let all = wallets(engine, c.account)?;
    let (list, has_next, cursor) = page(all, c.q, 49, 250)?;
    Ok(json!({"accounts": list, "has_next": has_next, "cursor": cursor, "size": list.len()}))
}

pub(super) fn account(engine: &mut Engine, c: &Call<'_>, uuid: &str) -> Result<Value, CbError> {
    wallets(engine, c.account)?
        .into_iter()
        .find(|w| w.get("uuid").and_then(Value::as_str) == Some(uuid))
        .map(|w| json!({"account": w}))
        .ok_or_else(|| CbError::not_found("account not found"))
}

pub(super) fn transaction_summary(engine: &mut Engine, c: &Call<'_>) -> Value {
    let fees = engine.fees();
    let mine = || engine.fills().iter().filter(|f| f.account == c.account);
    let volume: Decimal = mine().map(|f| f.quote_qty).sum();
    let paid: Decimal = mine().map(|f| f.commission).sum();
    // Coinbase writes the totals as JSON numbers.
    let number = |d: Decimal| f64::try_from(d).unwrap_or_default();
    json!({
        "total_volume": number(volume), "total_fees": number(paid),
        "fee_tier": {
            "pricing_tier": "Paper", "usd_from": "0", "usd_to": "",
            "taker_fee_rate": shapes::dec(fees.taker), "maker_fee_rate": shapes::dec(fees.maker),
            "aop_from": "", "aop_to": ""
        },
        "margin_rate": null, "goods_and_services_tax": null,
        "advanced_trade_only_volume": number(volume), "advanced_trade_only_fees": number(paid),
        "coinbase_pro_volume": 0, "coinbase_pro_fees": 0, "total_balance": "",
        "has_promo_fee": false
    })
}
