//! The JSON shapes of the venue's answers: orders, cancels, fills and trades, the account and
//! the exchange's rules, as Binance writes them (decimals as 8-place strings), and the admin
//! API's views of orders and fills.

use driftline_core::{EpochMillis, Side};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::order_request::RespType;
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Engine, Fill, Order};
use crate::params::Params;

pub(super) fn exchange_info(
    engine: &Engine,
    p: &Params,
    weight_limit: u32,
    now: EpochMillis,
) -> Result<Value, ApiError> {
    let wanted: Option<Vec<String>> = match (p.get("symbol"), p.symbol_list("symbols")?) {
        (Some(s), _) => Some(vec![s.to_owned()]),
        (None, list) => list,
    };
    if let Some(list) = &wanted {
        for s in list {
            engine.filters(s)?;
        }
    }
    let permissions = permission_list(p)?;
    let status = p.get("symbolStatus");
    if wanted.is_some() && (permissions.is_some() || status.is_some()) {
        return Err(ApiError::bad(
            -1128,
            "Combination of optional parameters invalid.",
        ));
    }
    if status.is_some_and(|s| !matches!(s, "TRADING" | "HALT" | "BREAK")) {
        return Err(ApiError::bad(-1122, "Invalid symbolStatus."));
    }
    // Every market is a spot market: asked-for permissions without SPOT list none of them.
    let spot_wanted = permissions.is_none_or(|list| list.iter().any(|x| x == "SPOT"));
    let permission_sets = if p.get("showPermissionSets") == Some("false") {
        json!([])
    } else {
        json!([["SPOT"]])
    };
    let symbols: Vec<Value> = engine
        .markets()
        .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|s| s == name)))
        .filter(|(_, f)| spot_wanted && status.is_none_or(|s| f.status().as_str() == s))
        .map(|(name, f)| {
            json!({
                "symbol": name, "status": f.status().as_str(),
                "baseAsset": f.symbol().base().as_str(), "baseAssetPrecision": 8,
                "quoteAsset": f.symbol().quote().as_str(), "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false, "ocoAllowed": false, "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": true, "allowTrailingStop": false, "cancelReplaceAllowed": false,
                "amendAllowed": false, "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": d8(f.tick_size()), "maxPrice": d8(crate::engine::MAX_PRICE), "tickSize": d8(f.tick_size())},
                    {"filterType": "LOT_SIZE", "minQty": d8(f.min_qty()), "maxQty": d8(f.max_qty().unwrap_or_default()), "stepSize": d8(f.step_size())},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": d8(f.min_qty()), "maxQty": d8(f.max_qty().unwrap_or_default()), "stepSize": d8(f.step_size())},
                    {"filterType": "NOTIONAL", "minNotional": d8(f.min_notional()), "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
                ],
                "permissions": [], "permissionSets": permission_sets,
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"]
            })
        })
        .collect();
    Ok(json!({
        "timezone": "UTC", "serverTime": now,
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit}],
        "exchangeFilters": [], "symbols": symbols
    }))
}

/// `permissions`: one (`SPOT`) or a JSON list (`["MARGIN","LEVERAGED"]`) of permission names.
///
/// # Errors
/// -1100 for anything else.
fn permission_list(p: &Params) -> Result<Option<Vec<String>>, ApiError> {
    let Some(text) = p.get("permissions") else {
        return Ok(None);
    };
    let list = if text.starts_with('[') {
        serde_json::from_str::<Vec<String>>(text).ok()
    } else {
        Some(vec![text.to_owned()])
    };
    list.filter(|l| {
        !l.is_empty()
            && l.iter().all(|x| {
                !x.is_empty() && x.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
    })
    .map(Some)
    .ok_or_else(|| {
        ApiError::bad(
            -1100,
            "Illegal characters found in parameter 'permissions'; legal range is 'a permission or a JSON list of permissions'.",
        )
    })
}

pub(super) fn account(
    engine: &Engine,
    account: &str,
    p: &Params,
    now: EpochMillis,
) -> Result<Value, ApiError> {
    let omit_zero = p.get("omitZeroBalances") == Some("true");
    let held = engine.balances(account)?;
    let mut assets = engine.known_assets();
    assets.extend(held.keys().cloned());
    let balances: Vec<Value> = assets
        .iter()
        .map(|a| (a, held.get(a).copied().unwrap_or_default()))
        .filter(|(_, b)| !omit_zero || !(b.free + b.locked).is_zero())
        .map(|(a, b)| json!({"asset": a.as_str(), "free": d8(b.free), "locked": d8(b.locked)}))
        .collect();
    let fees = engine.fees();
    let bps = |rate: Decimal| {
        (rate * driftline_core::money::BPS)
            .round()
            .try_into()
            .unwrap_or(0i64)
    };
    Ok(json!({
        "makerCommission": bps(fees.maker), "takerCommission": bps(fees.taker),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": d8(fees.maker), "taker": d8(fees.taker), "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": true, "canWithdraw": false, "canDeposit": false, "brokered": false,
        "requireSelfTradePrevention": false, "preventSor": false, "updateTime": now,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 0
    }))
}

pub(super) fn order_response(
    o: &Order,
    fills: &[Fill],
    resp_type: RespType,
    now: EpochMillis,
) -> Value {
    let mut v = json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
        "clientOrderId": o.client_order_id, "transactTime": now
    });
    if resp_type == RespType::Ack {
        return v;
    }
    if let Value::Object(map) = &mut v {
        for (k, val) in [
            ("price", json!(d8(o.price))),
            ("origQty", json!(d8(o.orig_qty))),
            ("executedQty", json!(d8(o.executed_qty))),
            ("origQuoteOrderQty", json!(d8(o.orig_quote_order_qty))),
            ("cummulativeQuoteQty", json!(d8(o.cumulative_quote_qty))),
            ("status", json!(o.status.as_str())),
            ("timeInForce", json!(o.time_in_force.as_str())),
            ("type", json!(o.order_type.as_str())),
            ("side", json!(o.side.as_str())),
            ("workingTime", json!(o.time)),
            ("selfTradePreventionMode", json!("NONE")),
        ] {
            map.insert(k.to_owned(), val);
        }
        if resp_type == RespType::Full {
            let fills: Vec<Value> = fills
                .iter()
                .map(|f| {
                    json!({"price": d8(f.price), "qty": d8(f.qty), "commission": d8(f.commission),
                           "commissionAsset": f.commission_asset.as_str(), "tradeId": f.trade_id})
                })
                .collect();
            map.insert("fills".to_owned(), Value::Array(fills));
        }
    }
    v
}

pub(super) fn query(o: &Order) -> Value {
    json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_order_id,
        "price": d8(o.price), "origQty": d8(o.orig_qty), "executedQty": d8(o.executed_qty),
        "cummulativeQuoteQty": d8(o.cumulative_quote_qty), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.as_str(), "type": o.order_type.as_str(), "side": o.side.as_str(),
        "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.time, "updateTime": o.update_time,
        "isWorking": true, "workingTime": o.time, "origQuoteOrderQty": d8(o.orig_quote_order_qty),
        "selfTradePreventionMode": "NONE"
    })
}

pub(super) fn cancel(o: &Order, cancel_id: Option<String>, now: EpochMillis) -> Value {
    let cancel_id = cancel_id.unwrap_or_else(|| format!("cancel{}", o.order_id));
    json!({
        "symbol": o.symbol, "origClientOrderId": o.client_order_id, "orderId": o.order_id,
        "orderListId": -1, "clientOrderId": cancel_id, "transactTime": now,
        "price": d8(o.price), "origQty": d8(o.orig_qty), "executedQty": d8(o.executed_qty),
        "origQuoteOrderQty": d8(o.orig_quote_order_qty),
        "cummulativeQuoteQty": d8(o.cumulative_quote_qty), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.as_str(), "type": o.order_type.as_str(), "side": o.side.as_str(),
        "selfTradePreventionMode": "NONE"
    })
}

/// A fill as `myTrades` shows it to the account that traded.
pub(super) fn trade(f: &Fill) -> Value {
    json!({
        "symbol": f.symbol, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
        "price": d8(f.price), "qty": d8(f.qty), "quoteQty": d8(f.quote_qty),
        "commission": d8(f.commission), "commissionAsset": f.commission_asset.as_str(),
        "time": f.time, "isBuyer": f.side == Side::Buy, "isMaker": f.is_maker,
        "isBestMatch": true
    })
}

pub(in crate::server) fn admin_order(o: &Order) -> Value {
    let mut v = query(o);
    if let Value::Object(map) = &mut v {
        map.insert("account".into(), json!(o.account));
        map.insert("locked".into(), json!(d8(o.locked)));
    }
    v
}

/// A fill as the admin API lists it: both sides' view, with the account.
pub(in crate::server) fn admin_fill(f: &Fill) -> Value {
    json!({"tradeId": f.trade_id, "orderId": f.order_id, "symbol": f.symbol, "account": f.account,
           "side": f.side.as_str(), "price": d8(f.price), "qty": d8(f.qty), "quoteQty": d8(f.quote_qty),
           "commission": d8(f.commission), "commissionAsset": f.commission_asset.as_str(),
           "isMaker": f.is_maker, "time": f.time})
}
