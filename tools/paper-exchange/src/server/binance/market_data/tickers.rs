//! Binance's tickers over a market's recorded history: the last 24 hours (`ticker/24hr`), a
//! rolling window (`ticker`), the trading day in a time zone (`ticker/tradingDay`), and the
//! average price of the last five minutes (`avgPrice`).

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{current_price, time_zone, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Candle, Engine, EngineError, PublicTrade};
use crate::params::Params;
use crate::server::binance::{book::per_symbol, Call};

/// `FULL` (default) or `MINI`; -1139 otherwise.
fn ticker_type(p: &Params) -> Result<bool, ApiError> {
    match p.get("type") {
        None | Some("FULL") => Ok(true),
        Some("MINI") => Ok(false),
        Some(_) => Err(ApiError::bad(-1139, "Invalid ticker type.")),
    }
}

/// A market's statistics over `[from, to]`, as the tickers show them.
struct Window {
    symbol: String,
    candle: Candle,
    prev_close: Decimal,
    first_id: i64,
    last_id: i64,
    last_qty: Decimal,
    open_time: EpochMillis,
    close_time: EpochMillis,
}

impl Window {
    fn of(
        engine: &Engine,
        symbol: &str,
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Self, EngineError> {
        let h = engine.history(symbol)?;
        let before = h.price_before(from);
        let standing = match before {
            Some(p) => p,
            None => current_price(engine, symbol)?,
        };
        let candle = h.candle(from, to).unwrap_or_else(|| Candle::flat(standing));
        let mut trades = h.trades_between(from, to);
        let first = trades.next();
        let last = trades.next_back().or(first);
        let id =
            |t: Option<&PublicTrade>| t.map_or(-1, |t| i64::try_from(t.id).unwrap_or(i64::MAX));
        Ok(Self {
            symbol: symbol.to_owned(),
            prev_close: before.unwrap_or(candle.open),
            first_id: id(first),
            last_id: id(last),
            last_qty: last.map_or(Decimal::ZERO, |t| t.qty),
            candle,
            open_time: from,
            close_time: to,
        })
    }

    fn weighted_avg(&self) -> Decimal {
        if self.candle.volume.is_zero() {
            Decimal::ZERO
        } else {
            self.candle.quote_volume / self.candle.volume
        }
    }

    fn change(&self) -> (String, String) {
        let c = &self.candle;
        let change = c.close - c.open;
        let pct = if c.open.is_zero() {
            Decimal::ZERO
        } else {
            change / c.open * Decimal::ONE_HUNDRED
        };
        (d8(change), format!("{:.3}", pct.round_dp(3)))
    }

    /// The fields every ticker has (`MINI`).
    fn mini(&self) -> Value {
        let c = &self.candle;
        json!({
            "symbol": self.symbol, "openPrice": d8(c.open), "highPrice": d8(c.high),
            "lowPrice": d8(c.low), "lastPrice": d8(c.close), "volume": d8(c.volume),
            "quoteVolume": d8(c.quote_volume), "openTime": self.open_time,
            "closeTime": self.close_time, "firstId": self.first_id, "lastId": self.last_id,
            "count": c.trades
        })
    }

    /// The rolling-window and trading-day tickers' `FULL` shape.
    fn full(&self) -> Value {
        let c = &self.candle;
        let (change, pct) = self.change();
        json!({
            "symbol": self.symbol, "priceChange": change, "priceChangePercent": pct,
            "weightedAvgPrice": d8(self.weighted_avg()), "openPrice": d8(c.open),
            "highPrice": d8(c.high), "lowPrice": d8(c.low), "lastPrice": d8(c.close),
            "volume": d8(c.volume), "quoteVolume": d8(c.quote_volume),
            "openTime": self.open_time, "closeTime": self.close_time,
            "firstId": self.first_id, "lastId": self.last_id, "count": c.trades
        })
    }
}

/// `GET ticker/24hr`: the last 24 hours, one symbol, a list, or all.
pub(crate) fn ticker_24hr(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let full = ticker_type(c.p)?;
    let (from, to) = (c.now - DAY_MS, c.now);
    per_symbol(engine, c.p, |e, s| {
        let w = Window::of(e, s, from, to)?;
        if !full {
            return Ok(w.mini());
        }
        let (bids, asks) = e.depth(s, 1)?;
        let level =
            |l: Option<&(Decimal, Decimal)>| l.map_or((Decimal::ZERO, Decimal::ZERO), |l| *l);
        let ((bp, bq), (ap, aq)) = (level(bids.first()), level(asks.first()));
        let (change, pct) = w.change();
        let k = &w.candle;
        Ok(json!({
            "symbol": s, "priceChange": change, "priceChangePercent": pct,
            "weightedAvgPrice": d8(w.weighted_avg()), "prevClosePrice": d8(w.prev_close),
            "lastPrice": d8(k.close), "lastQty": d8(w.last_qty), "bidPrice": d8(bp),
            "bidQty": d8(bq), "askPrice": d8(ap), "askQty": d8(aq), "openPrice": d8(k.open),
            "highPrice": d8(k.high), "lowPrice": d8(k.low), "volume": d8(k.volume),
            "quoteVolume": d8(k.quote_volume), "openTime": from, "closeTime": to,
            "firstId": w.first_id, "lastId": w.last_id, "count": k.trades
        }))
    })
}

/// The symbols a rolling-window or trading-day ticker asks for: `symbol` or `symbols`, one of
/// them required (-1102), at most 100 (-1100).
fn required_symbols(p: &Params) -> Result<(), ApiError> {
    match (p.get("symbol"), p.symbol_list("symbols")?) {
        (None, None) => Err(ApiError::bad(
            -1102,
            "Param 'symbol' or 'symbols' must be sent, but both were empty/null!",
        )),
        (_, Some(list)) if list.len() > 100 => Err(ApiError::bad(
            -1100,
            "Illegal characters found in parameter 'symbols'; legal range is 'at most 100 symbols'.",
        )),
        _ => Ok(()),
    }
}

/// `windowSize`: `1m`..`59m`, `1h`..`23h`, `1d`..`7d` (default `1d`), in milliseconds.
fn window_size(p: &Params) -> Result<i64, ApiError> {
    let Some(text) = p.get("windowSize") else {
        return Ok(DAY_MS);
    };
    let invalid = || {
        ApiError::bad(
            -1100,
            "Illegal characters found in parameter 'windowSize'; legal range is '1m-59m, 1h-23h, 1d-7d'.",
        )
    };
    let split = text.len().saturating_sub(1);
    let (count, unit) = (text.get(..split).ok_or_else(invalid)?, text.get(split..));
    if count.starts_with('0') || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: i64 = count.parse().map_err(|_| invalid())?;
    let (unit_ms, max) = match unit {
        Some("m") => (MINUTE_MS, 59),
        Some("h") => (HOUR_MS, 23),
        Some("d") => (DAY_MS, 7),
        _ => return Err(invalid()),
    };
    if !(1..=max).contains(&n) {
        return Err(invalid());
    }
    Ok(n * unit_ms)
}

/// `GET ticker`: a rolling window (`windowSize`) ending now, opening at the start of a minute.
pub(crate) fn ticker_rolling(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    required_symbols(c.p)?;
    let full = ticker_type(c.p)?;
    let window = window_size(c.p)?;
    let from = (c.now - window).div_euclid(MINUTE_MS) * MINUTE_MS;
    per_symbol(engine, c.p, |e, s| {
        let w = Window::of(e, s, from, c.now)?;
        Ok(if full { w.full() } else { w.mini() })
    })
}

/// `GET ticker/tradingDay`: the current day in `timeZone` (default UTC), whole.
pub(crate) fn ticker_trading_day(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    required_symbols(c.p)?;
    let full = ticker_type(c.p)?;
    let offset = time_zone(c.p)?;
    let from = (c.now + offset).div_euclid(DAY_MS) * DAY_MS - offset;
    per_symbol(engine, c.p, |e, s| {
        let w = Window::of(e, s, from, from + DAY_MS - 1)?;
        Ok(if full { w.full() } else { w.mini() })
    })
}

/// `GET avgPrice`: the volume-weighted price of the last 5 minutes' trades; the path's price
/// when there were none.
pub(crate) fn avg_price(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let h = engine.history(symbol)?;
    let from = c.now - 5 * MINUTE_MS;
    let (qty, quote, last) = h
        .trades_between(from, c.now)
        .fold((Decimal::ZERO, Decimal::ZERO, None), |(q, v, _), t| {
            (q + t.qty, v + t.qty * t.price, Some(t.time))
        });
    let price = if qty.is_zero() {
        current_price(engine, symbol)?
    } else {
        quote / qty
    };
    Ok(json!({"mins": 5, "price": d8(price), "closeTime": last.unwrap_or(c.now)}))
}
