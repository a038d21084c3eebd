//! Binance kline CSV files (the public data dumps): open time, open, high, low, close, volume,
//! close time, ... with or without a header row, open times in milliseconds or (from 2025 on)
//! microseconds. Only the open time and the close are used.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use driftline_core::{Asset, Price};
use rust_decimal::Decimal;
use thiserror::Error;

use super::market::tick_for;
use super::{AssetMarket, BacktestError, MarketConfig, PriceHistory};

/// Open times above this are microseconds (year 5138 in milliseconds).
const MICROSECONDS_FROM: i64 = 100_000_000_000_000;

#[derive(Debug, Error)]
pub enum KlineError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}, column {column} ({name}): {value:?} {reason}")]
    Invalid {
        path: PathBuf,
        line: u64,
        column: usize,
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("{path}: line {line}: {reason}")]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{path}: no klines")]
    Empty { path: PathBuf },
}

/// One kline: its open time and close price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kline {
    pub open_time_ms: i64,
    pub close: Price,
}

/// Reads a kline file.
///
/// # Errors
/// [`KlineError`] naming the file, the line and the column of the first bad value.
pub fn read_klines(path: &Path) -> Result<Vec<Kline>, KlineError> {
    let file = std::fs::File::open(path).map_err(|source| KlineError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_klines(file, path)
}

/// Parses kline CSV from `reader`; `path` names it in errors.
///
/// # Errors
/// [`KlineError`] naming the line and the column of the first bad value.
pub fn parse_klines(reader: impl Read, path: &Path) -> Result<Vec<Kline>, KlineError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut klines: Vec<Kline> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = csv
            .read_record(&mut record)
            .map_err(|e| KlineError::Malformed {
                path: path.to_owned(),
                line: e.position().map_or(0, |p| p.line()),
                reason: e.to_string(),
            })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let field = |column: usize| record.get(column - 1).unwrap_or("");
        let invalid = |column: usize, name: &'static str, reason: &str| KlineError::Invalid {
            path: path.to_owned(),
            line,
            column,
            name,
            value: field(column).to_owned(),
            reason: reason.to_owned(),
        };
        if klines.is_empty() && line == 1 && field(1).starts_with(|c: char| c.is_alphabetic()) {
            continue; // a header row
        }
        if record.len() < 5 {
            return Err(KlineError::Malformed {
                path: path.to_owned(),
                line,
                reason: format!(
                    "{} columns, a kline has at least 5 (open time, open, high, low, close)",
                    record.len()
                ),
            });
        }
        let open_time: i64 = field(1)
            .parse()
            .map_err(|_| invalid(1, "open time", "is not an integer timestamp"))?;
        let open_time_ms = if open_time >= MICROSECONDS_FROM {
            open_time / 1000
        } else {
            open_time
        };
        let close = field(5)
            .parse::<Decimal>()
            .ok()
            .and_then(|d| Price::new(d).ok())
            .ok_or_else(|| invalid(5, "close", "is not a positive decimal"))?;
        if let Some(last) = klines.last() {
            if open_time_ms <= last.open_time_ms {
                return Err(invalid(
                    1,
                    "open time",
                    &format!("is not after the previous line's {}", last.open_time_ms),
                ));
            }
        }
        klines.push(Kline {
            open_time_ms,
            close,
        });
    }
    if klines.is_empty() {
        return Err(KlineError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(klines)
}

/// A history from one kline series per asset, on the open times every series has. Each
/// market's tick is the finer of the finest the closes are written at and six significant
/// digits of the first close.
///
/// # Errors
/// [`BacktestError::Invalid`] when the series share no open time or a market cannot be built.
pub fn history_from_klines(
    quote: &Asset,
    series: &[(Asset, Vec<Kline>)],
    config: &MarketConfig,
) -> Result<PriceHistory, BacktestError> {
    let Some((_, first_series)) = series.first() else {
        return Err(BacktestError::invalid("klines", "no series given"));
    };
    let mut common: BTreeSet<i64> = first_series.iter().map(|k| k.open_time_ms).collect();
    for (_, klines) in series.iter().skip(1) {
        let times: BTreeSet<i64> = klines.iter().map(|k| k.open_time_ms).collect();
        common = common.intersection(&times).copied().collect();
    }
    if common.is_empty() {
        return Err(BacktestError::invalid(
            "klines",
            "the series share no open time",
        ));
    }
    let times_ms: Vec<i64> = common.into_iter().collect();
    let mut markets = Vec::with_capacity(series.len());
    let mut columns: Vec<Vec<Price>> = Vec::with_capacity(series.len());
    for (asset, klines) in series {
        let kept: Vec<Price> = klines
            .iter()
            .filter(|k| times_ms.binary_search(&k.open_time_ms).is_ok())
            .map(|k| k.close)
            .collect();
        let scale = kept
            .iter()
            .map(|p| p.value().normalize().scale())
            .max()
            .unwrap_or(0);
        let first = kept
            .first()
            .ok_or_else(|| BacktestError::invalid(format!("klines.{asset}"), "no common rows"))?;
        let tick = Decimal::new(1, scale).min(tick_for(first.value()));
        markets.push(AssetMarket::scaled(
            asset,
            quote,
            first.value(),
            tick,
            config,
        )?);
        columns.push(kept);
    }
    let closes = (0..times_ms.len())
        .map(|step| {
            columns
                .iter()
                .map(|c| c.get(step).copied())
                .collect::<Option<Vec<Price>>>()
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| BacktestError::invalid("klines", "series misaligned"))?;
    Ok(PriceHistory {
        quote: quote.clone(),
        markets,
        times_ms,
        closes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn parse(text: &str) -> Result<Vec<Kline>, KlineError> {
        parse_klines(text.as_bytes(), Path::new("BTCUSDT-1h.csv"))
    }

    const ROW: &str = "1704067200000,42283.58,42554.57,42261.02,42475.23,1271.68,1704070799999,53957248.97,47134,682.57,28957416.82,0";

    #[test]
    fn binance_rows_with_or_without_header() {
        let plain = parse(&format!("{ROW}\n1704070800000,1,1,1,42613.56,1\n")).unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0].open_time_ms, 1_704_067_200_000);
        assert_eq!(plain[0].close.value(), Decimal::new(4_247_523, 2));
        let headed = parse(&format!("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{ROW}\n")).unwrap();
        assert_eq!(headed, plain[..1]);
    }

    #[test]
    fn microsecond_open_times_become_milliseconds() {
        let k = parse("1735689600000000,1,1,1,93576.00,1\n").unwrap();
        assert_eq!(k[0].open_time_ms, 1_735_689_600_000);
    }

    #[rstest]
    #[case(
        "1704067200000,1,1,1,abc,1\n",
        "BTCUSDT-1h.csv: line 1, column 5 (close): \"abc\" is not a positive decimal"
    )]
    #[case(
        "1704067200000,1,1,1,1,1\n1704067200000,1,1,1,-2,1\n",
        "line 2, column 5 (close): \"-2\" is not a positive decimal"
    )]
    #[case(
        "1704067200000,1,1,1,1,1\nsoon,1,1,1,1,1\n",
        "line 2, column 1 (open time): \"soon\" is not an integer timestamp"
    )]
    #[case("1704070800000,1,1,1,1,1\n1704067200000,1,1,1,1,1\n", "line 2, column 1 (open time): \"1704067200000\" is not after the previous line's 1704070800000")]
    #[case("1704067200000,1,1\n", "line 1: 3 columns, a kline has at least 5")]
    #[case("", "BTCUSDT-1h.csv: no klines")]
    fn errors_name_the_line_and_column(#[case] text: &str, #[case] expected: &str) {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn series_are_aligned_on_common_open_times() {
        let k = |t: i64, c: i64| Kline {
            open_time_ms: t,
            close: Price::new(Decimal::new(c, 1)).unwrap(),
        };
        let quote = Asset::new("USDT").unwrap();
        let history = history_from_klines(
            &quote,
            &[
                (
                    Asset::new("BTC").unwrap(),
                    vec![k(1, 10), k(2, 20), k(3, 30)],
                ),
                (Asset::new("ETH").unwrap(), vec![k(2, 5), k(3, 6), k(4, 7)]),
            ],
            &MarketConfig::default(),
        )
        .unwrap();
        assert_eq!(history.times_ms, vec![2, 3]);
        assert_eq!(history.closes[1][0].value(), Decimal::new(30, 1));
        assert_eq!(history.closes[1][1].value(), Decimal::new(6, 1));
        // Closes written to 0.1, but a price of 2 gets six digits' worth of grid.
        assert_eq!(history.markets[0].filters.tick_size(), Decimal::new(1, 6));
    }
}
