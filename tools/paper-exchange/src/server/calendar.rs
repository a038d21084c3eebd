//! Calendar dates of the venue's clock, in UTC (proleptic Gregorian), through `chrono`: the one
//! way every dialect turns epoch milliseconds into the dates and times it writes, and finds
//! where a calendar month opens (Binance's monthly klines).

use chrono::{DateTime, Datelike, Months, NaiveTime, Utc};
use driftline_core::EpochMillis;

/// The instant of epoch milliseconds, in UTC. Outside chrono's range (some 262,000 years either
/// side of the epoch), which no clock or checked parameter comes near, the epoch itself.
pub(super) fn utc(ms: EpochMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The first millisecond of the calendar month `months_later` months after the one holding
/// `ms` (0: that month's own).
pub(super) fn month_open(ms: EpochMillis, months_later: u32) -> EpochMillis {
    utc(ms)
        .date_naive()
        .with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(months_later)))
        .map_or(ms, |first| {
            first.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
        })
}

/// Midnight UTC of a date, for tests that write instants as dates.
#[cfg(test)]
pub(super) fn midnight(y: i32, m: u32, d: u32) -> EpochMillis {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map_or(i64::MIN, |t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn months_open_on_their_first_day_and_follow_each_other() {
        let noon = 12 * 3_600_000;
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 12, 31), (2027, 3, 1)] {
            let t = midnight(y, m, d) + noon;
            assert_eq!(
                utc(t).date_naive(),
                NaiveDate::from_ymd_opt(y, m, d).unwrap()
            );
            assert_eq!(month_open(t, 0), midnight(y, m, 1));
        }
        assert_eq!(month_open(midnight(2026, 12, 31), 1), midnight(2027, 1, 1));
        assert_eq!(month_open(midnight(2000, 2, 29), 1), midnight(2000, 3, 1));
        // Before the epoch, as a time zone west of UTC can ask for.
        assert_eq!(month_open(-1, 0), midnight(1969, 12, 1));
        // 1970-01-05, four days after the epoch, was a Monday: Binance's weeks count from it.
        assert_eq!(midnight(1970, 1, 5), 4 * 86_400_000);
        assert_eq!(utc(midnight(1970, 1, 5)).weekday(), chrono::Weekday::Mon);
    }
}
