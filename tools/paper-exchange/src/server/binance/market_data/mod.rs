//! Binance's market data over a market's recorded history: the 24-hour, rolling-window and
//! trading-day tickers and the average price (`tickers`), the recent, historical and aggregate
//! trades (`trades`), and klines (`klines`). Prices and volumes come from [`MarketHistory`]:
//! the path (mids and trade prices, to the second) gives open, high, low and close; trades give
//! volumes and counts. This module reads the parameters they share (`limit` and the time range
//! serve the book and the account's lists too) and the time zone.
//!
//! [`MarketHistory`]: crate::engine::MarketHistory

use rust_decimal::Decimal;

use crate::api_error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::params::Params;

mod klines;
mod tickers;
mod trades;

// The handlers are `pub(crate)` inside private modules: these re-exports are what reaches
// them, from the Binance dialect only.
pub(super) use self::klines::klines;
pub(super) use self::tickers::{avg_price, ticker_24hr, ticker_rolling, ticker_trading_day};
pub(super) use self::trades::{agg_trades, historical_trades, recent_trades};

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
