//! Binance's klines (`klines`, `uiKlines`): a market's candles by interval, from seconds to
//! calendar months, in a time zone.

use driftline_core::EpochMillis;
use serde_json::{json, Value};

use super::{current_price, limit, time_range, time_zone, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::api_error::ApiError;
use crate::engine::{venue_decimal as d8, Candle, Engine};
use crate::server::binance::Call;
use crate::server::calendar;

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
            Self::Month => calendar::month_open(local, 0),
        };
        open - offset
    }

    /// The open of the interval after the one opening at `open`.
    fn next(self, open: EpochMillis, offset: i64) -> EpochMillis {
        match self {
            Self::Fixed(len) => open + len,
            Self::Week => open + 7 * DAY_MS,
            Self::Month => calendar::month_open(open + offset, 1) - offset,
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

/// `GET klines` and `GET uiKlines`: the market's candles by `interval`, each interval from
/// the path's first second to now (an interval with no point repeats the close before it).
/// `startTime` alone: the first `limit` from it; otherwise the latest `limit` up to `endTime`
/// or now.
pub(crate) fn klines(engine: &mut Engine, c: &Call<'_>) -> Result<Value, ApiError> {
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
    use crate::server::calendar::midnight as date;

    #[test]
    fn intervals_open_on_their_boundaries() {
        // 2027-01-15T10:17:03Z, a Friday.
        let t = date(2027, 1, 15) + 10 * HOUR_MS + 17 * MINUTE_MS + 3_000;
        let day = date(2027, 1, 15);
        assert_eq!(
            Interval::Fixed(15 * MINUTE_MS).open_of(t, 0),
            day + 10 * HOUR_MS + 15 * MINUTE_MS
        );
        assert_eq!(Interval::Week.open_of(t, 0), date(2027, 1, 11));
        assert_eq!(Interval::Month.open_of(t, 0), date(2027, 1, 1));
        assert_eq!(Interval::Month.next(date(2026, 12, 1), 0), date(2027, 1, 1));
        assert_eq!(Interval::Month.prev(date(2027, 3, 1), 0), date(2027, 2, 1));
        // In UTC+8 the day opens at 16:00 UTC the day before.
        assert_eq!(
            Interval::Fixed(DAY_MS).open_of(t, 8 * HOUR_MS),
            day - 8 * HOUR_MS
        );
    }
}
