//! Binance's market data over a market's recorded history: the 24-hour, rolling-window and
//! trading-day tickers, the average price, the recent, historical and aggregate trades, and
//! klines. Prices and volumes come from [`MarketHistory`]: the path (mids and trade prices,
//! to the second) gives open, high, low and close; trades give volumes and counts.

use driftline_core::EpochMillis;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{per_symbol, Call};
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Candle, Engine, EngineError, MarketHistory, PublicTrade};
use crate::params::Params;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// -1100 for a `limit` outside `1..=max`; the default when it was not sent.
pub(super) fn limit(p: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = p.integer::<usize>("limit")?.unwrap_or(default);
    if limit == 0 || limit > max {
        return Err(ApiError::bad(
            -1100,
            format!("Illegal characters found in parameter 'limit'; legal range is '1-{max}'."),
        ));
    }
    Ok(limit)
}

/// The last millisecond of year 9999: later times (and negative ones) are refused, which also
/// keeps interval arithmetic far from overflow.
const MAX_TIME: i64 = 253_402_300_799_999;

/// A time parameter in milliseconds since the epoch; -1100 outside `0..=MAX_TIME`.
fn timestamp(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match p.integer::<i64>(name)? {
        Some(t) if !(0..=MAX_TIME).contains(&t) => Err(ApiError::bad(
            -1100,
            format!(
                "Illegal characters found in parameter '{name}'; legal range is '0-{MAX_TIME}'."
            ),
        )),
        t => Ok(t),
    }
}

/// `startTime` and `endTime`, checked: -1023 when the start is after the end, -1127 when they
/// are further apart than `max_span_ms`.
pub(super) fn time_range(
    p: &Params,
    max_span_ms: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let start = timestamp(p, "startTime")?;
    let end = timestamp(p, "endTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(ApiError::bad(-1023, "Start time is greater than end time."));
        }
        if let Some(max) = max_span_ms {
            if e - s > max {
                return Err(ApiError::bad(
                    -1127,
                    format!(
                        "More than {} hours between startTime and endTime.",
                        max / HOUR_MS
                    ),
                ));
            }
        }
    }
    Ok((start, end))
}

/// The path's price now: its latest point, or the mid of a market that has not moved yet.
fn current_price(engine: &Engine, symbol: &str) -> Result<Decimal, EngineError> {
    let h = engine.history(symbol)?;
    match h.last_price() {
        Some(p) => Ok(p),
        None => engine.mid(symbol),
    }
}

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
pub(super) fn ticker_24hr(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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
pub(super) fn ticker_rolling(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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
pub(super) fn ticker_trading_day(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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
pub(super) fn avg_price(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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

fn trade(t: &PublicTrade) -> Value {
    json!({
        "id": t.id, "price": d8(t.price), "qty": d8(t.qty), "quoteQty": d8(t.qty * t.price),
        "time": t.time, "isBuyerMaker": t.is_buyer_maker, "isBestMatch": true
    })
}

/// The latest `limit` of the tape, oldest first.
fn latest(h: &MarketHistory, limit: usize) -> Vec<Value> {
    let skip = h.trades().len().saturating_sub(limit);
    h.trades().skip(skip).map(trade).collect()
}

/// `GET trades`: the market's latest trades (`limit`, default 500, max 1000).
pub(super) fn recent_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    Ok(Value::Array(latest(engine.history(symbol)?, limit)))
}

/// `GET historicalTrades`: from trade `fromId` on, or the latest.
pub(super) fn historical_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    let from_id = c.p.integer::<u64>("fromId")?;
    let h = engine.history(symbol)?;
    Ok(Value::Array(match from_id {
        Some(id) => h
            .trades()
            .filter(|t| t.id >= id)
            .take(limit)
            .map(trade)
            .collect(),
        None => latest(h, limit),
    }))
}

/// An aggregate trade: consecutive trades of one taker order at one price and time.
struct Aggregate {
    id: u64,
    price: Decimal,
    qty: Decimal,
    first: u64,
    last: u64,
    time: EpochMillis,
    is_buyer_maker: bool,
}

/// The tape aggregated, oldest first; aggregate ids count from 1 along the kept tape.
fn aggregates(h: &MarketHistory) -> Vec<Aggregate> {
    let mut out: Vec<Aggregate> = Vec::new();
    let mut last_taker = None;
    for t in h.trades() {
        let joins = out.last().is_some_and(|a| {
            t.taker_order.is_some()
                && t.taker_order == last_taker
                && a.price == t.price
                && a.time == t.time
        });
        match out.last_mut() {
            Some(a) if joins => {
                a.qty += t.qty;
                a.last = t.id;
            }
            _ => out.push(Aggregate {
                id: out.len() as u64 + 1,
                price: t.price,
                qty: t.qty,
                first: t.id,
                last: t.id,
                time: t.time,
                is_buyer_maker: t.is_buyer_maker,
            }),
        }
        last_taker = t.taker_order;
    }
    out
}

/// `GET aggTrades`: by `fromId`, by `startTime`/`endTime` (at most an hour apart), or the
/// latest.
pub(super) fn agg_trades(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let limit = limit(c.p, 500, 1000)?;
    let from_id = c.p.integer::<u64>("fromId")?;
    let (start, end) = time_range(c.p, Some(HOUR_MS))?;
    let all = aggregates(engine.history(symbol)?);
    let chosen: Vec<&Aggregate> = if from_id.is_some() || start.is_some() {
        all.iter()
            .filter(|a| from_id.is_none_or(|id| a.id >= id))
            .filter(|a| start.is_none_or(|s| a.time >= s) && end.is_none_or(|e| a.time <= e))
            .take(limit)
            .collect()
    } else {
        let within: Vec<&Aggregate> = all
            .iter()
            .filter(|a| end.is_none_or(|e| a.time <= e))
            .collect();
        let skip = within.len().saturating_sub(limit);
        within.into_iter().skip(skip).collect()
    };
    Ok(Value::Array(
        chosen
            .into_iter()
            .map(|a| {
                json!({"a": a.id, "p": d8(a.price), "q": d8(a.qty), "f": a.first, "l": a.last,
                       "T": a.time, "m": a.is_buyer_maker, "M": true})
            })
            .collect(),
    ))
}

/// A kline interval as Binance lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interval {
    /// A fixed length in milliseconds, aligned to the epoch (shifted by the time zone).
    Fixed(i64),
    /// Weeks open on Mondays.
    Week,
    Month,
}

impl Interval {
    fn parse(text: &str) -> Option<Self> {
        const S: i64 = 1000;
        const M: i64 = MINUTE_MS;
        const H: i64 = HOUR_MS;
        const D: i64 = DAY_MS;
        Some(match text {
            "1s" => Self::Fixed(S),
            "1m" => Self::Fixed(M),
            "3m" => Self::Fixed(3 * M),
            "5m" => Self::Fixed(5 * M),
            "15m" => Self::Fixed(15 * M),
            "30m" => Self::Fixed(30 * M),
            "1h" => Self::Fixed(H),
            "2h" => Self::Fixed(2 * H),
            "4h" => Self::Fixed(4 * H),
            "6h" => Self::Fixed(6 * H),
            "8h" => Self::Fixed(8 * H),
            "12h" => Self::Fixed(12 * H),
            "1d" => Self::Fixed(D),
            "3d" => Self::Fixed(3 * D),
            "1w" => Self::Week,
            "1M" => Self::Month,
            _ => return None,
        })
    }

    /// The open of the interval holding `t`, in a zone `offset` ms ahead of UTC.
    fn open_of(self, t: EpochMillis, offset: i64) -> EpochMillis {
        let local = t + offset;
        let open = match self {
            Self::Fixed(len) => local.div_euclid(len) * len,
            // 1970-01-05 was a Monday.
            Self::Week => (local - 4 * DAY_MS).div_euclid(7 * DAY_MS) * 7 * DAY_MS + 4 * DAY_MS,
            Self::Month => {
                let (y, m, _) = civil_from_days(local.div_euclid(DAY_MS));
                days_from_civil(y, m, 1) * DAY_MS
            }
        };
        open - offset
    }

    /// The open of the interval after the one opening at `open`.
    fn next(self, open: EpochMillis, offset: i64) -> EpochMillis {
        match self {
            Self::Fixed(len) => open + len,
            Self::Week => open + 7 * DAY_MS,
            Self::Month => {
                let (y, m, _) = civil_from_days((open + offset).div_euclid(DAY_MS));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY_MS - offset
            }
        }
    }

    /// The open of the interval before the one opening at `open`.
    fn prev(self, open: EpochMillis, offset: i64) -> EpochMillis {
        match self {
            Self::Fixed(len) => open - len,
            Self::Week => open - 7 * DAY_MS,
            Self::Month => self.open_of(open - 1, offset),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `timeZone`: hours (`8`, `-5`) or hours and minutes (`05:45`, `-1:00`), from -12:00 to
/// +14:00, as milliseconds ahead of UTC; -1100 otherwise.
fn time_zone(p: &Params) -> Result<i64, ApiError> {
    let Some(text) = p.get("timeZone") else {
        return Ok(0);
    };
    let invalid = || {
        ApiError::bad(
            -1100,
            "Illegal characters found in parameter 'timeZone'; legal range is '-12:00 to +14:00'.",
        )
    };
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1, text.get(1..).unwrap_or_default()),
        Some(b'+') => (1, text.get(1..).unwrap_or_default()),
        _ => (1, text),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (h, m) = (
        number(h, 2).ok_or_else(invalid)?,
        number(m, 2).ok_or_else(invalid)?,
    );
    let minutes = sign * (h * 60 + m);
    if m >= 60 || !(-12 * 60..=14 * 60).contains(&minutes) {
        return Err(invalid());
    }
    Ok(minutes * MINUTE_MS)
}

/// `GET klines` and `GET uiKlines`: the market's candles by `interval`, each interval from
/// the path's first second to now (an interval with no point repeats the close before it).
/// `startTime` alone: the first `limit` from it; otherwise the latest `limit` up to `endTime`
/// or now.
pub(super) fn klines(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
    let symbol = c.p.require("symbol")?;
    let interval_text = c.p.require("interval")?;
    let limit = limit(c.p, 500, 1000)?;
    let (start, end) = time_range(c.p, None)?;
    let offset = time_zone(c.p)?;
    let interval =
        Interval::parse(interval_text).ok_or_else(|| ApiError::bad(-1120, "Invalid interval."))?;
    let h = engine.history(symbol)?;
    let now_price = current_price(engine, symbol)?;
    let first = interval.open_of(h.first_time().unwrap_or(c.now).min(c.now), offset);
    let lo = start.map_or(first, |s| first.max(interval.open_of(s, offset)));
    // An interval is listed when it opens within [startTime, endTime].
    let lo = match start {
        Some(s) if lo < s => interval.next(lo, offset),
        _ => lo,
    };
    let hi = interval.open_of(end.unwrap_or(c.now).min(c.now), offset);
    let mut opens = Vec::with_capacity(limit.min(1000));
    if start.is_some() {
        let mut open = lo;
        while open <= hi && opens.len() < limit {
            opens.push(open);
            open = interval.next(open, offset);
        }
    } else {
        let mut open = hi;
        while open >= lo && opens.len() < limit {
            opens.push(open);
            open = interval.prev(open, offset);
        }
        opens.reverse();
    }
    let rows = opens
        .into_iter()
        .map(|open| {
            let next = interval.next(open, offset);
            let k = h
                .candle(open, next - 1)
                .unwrap_or_else(|| Candle::flat(h.price_before(open).unwrap_or(now_price)));
            json!([
                open,
                d8(k.open),
                d8(k.high),
                d8(k.low),
                d8(k.close),
                d8(k.volume),
                next - 1,
                d8(k.quote_volume),
                k.trades,
                d8(k.taker_buy_volume),
                d8(k.taker_buy_quote_volume),
                "0"
            ])
        })
        .collect();
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 12, 31), (2027, 3, 1)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 5), 4);
    }

    #[test]
    fn intervals_open_on_their_boundaries() {
        // 2027-01-15T10:17:03Z, a Friday.
        let t = days_from_civil(2027, 1, 15) * DAY_MS + 10 * HOUR_MS + 17 * MINUTE_MS + 3_000;
        let day = days_from_civil(2027, 1, 15) * DAY_MS;
        assert_eq!(
            Interval::Fixed(15 * MINUTE_MS).open_of(t, 0),
            day + 10 * HOUR_MS + 15 * MINUTE_MS
        );
        assert_eq!(
            Interval::Week.open_of(t, 0),
            days_from_civil(2027, 1, 11) * DAY_MS
        );
        assert_eq!(
            Interval::Month.open_of(t, 0),
            days_from_civil(2027, 1, 1) * DAY_MS
        );
        assert_eq!(
            Interval::Month.next(days_from_civil(2026, 12, 1) * DAY_MS, 0),
            days_from_civil(2027, 1, 1) * DAY_MS
        );
        assert_eq!(
            Interval::Month.prev(days_from_civil(2027, 3, 1) * DAY_MS, 0),
            days_from_civil(2027, 2, 1) * DAY_MS
        );
        // In UTC+8 the day opens at 16:00 UTC the day before.
        assert_eq!(
            Interval::Fixed(DAY_MS).open_of(t, 8 * HOUR_MS),
            day - 8 * HOUR_MS
        );
    }
}
