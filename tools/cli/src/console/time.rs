//! Times as the console reads and writes them: `--since` takes an RFC 3339 date (midnight UTC)
//! or date-time, and every time printed is RFC 3339 in UTC, to the second.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use driftline_core::EpochMillis;

use super::ConsoleError;

/// Epoch milliseconds of a `--since` value: `2027-01-15` (from midnight UTC) or
/// `2027-01-15T08:00:00Z` (any offset).
///
/// # Errors
/// [`ConsoleError::Input`] naming the flag and the value.
pub fn parse_since(flag: &str, value: &str) -> Result<EpochMillis, ConsoleError> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.timestamp_millis());
    }
    if let Some(midnight) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(midnight.and_utc().timestamp_millis());
    }
    Err(ConsoleError::Input(format!(
        "{flag} {value:?}: not an RFC 3339 date (2027-01-15) or date-time (2027-01-15T08:00:00Z)"
    )))
}

/// `at_ms` as RFC 3339 in UTC, to the second (`2027-01-15T08:00:00Z`).
pub fn rfc3339(at_ms: EpochMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at_ms).map_or_else(
        || format!("{at_ms} ms"),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// `at_ms` for a table: `2027-01-15 08:00:00`, in UTC.
pub fn short(at_ms: EpochMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at_ms).map_or_else(
        || format!("{at_ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_date_time_and_names_a_bad_value() {
        assert_eq!(
            parse_since("--since", "2027-01-15").unwrap(),
            1_799_971_200_000
        );
        assert_eq!(
            parse_since("--since", "2027-01-15T08:00:00Z").unwrap(),
            1_800_000_000_000
        );
        assert_eq!(
            parse_since("--since", "2027-01-15T09:00:00+01:00").unwrap(),
            1_800_000_000_000
        );
        let e = parse_since("--since", "yesterday").unwrap_err().to_string();
        assert_eq!(
            e,
            "--since \"yesterday\": not an RFC 3339 date (2027-01-15) or date-time (2027-01-15T08:00:00Z)"
        );
        assert!(parse_since("--since", "2027-13-01").is_err());
    }

    #[test]
    fn times_print_in_utc_to_the_second() {
        assert_eq!(rfc3339(1_800_000_000_123), "2027-01-15T08:00:00Z");
        assert_eq!(short(1_800_000_000_123), "2027-01-15 08:00:00");
    }
}
