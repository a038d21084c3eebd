//! A market's history as its public tape shows it: every trade (accounts' fills, one entry per
//! trade however many accounts took part) and the price path, kept as one candle a second. The
//! path's points are the mid each time the market moves it (a tick, `POST /admin/mid`: it stands
//! for the market's own trading, which the engine does not model as trades) and the price of
//! every trade; volumes and trade counts come from trades alone. Klines, tickers and the recent
//! trades list are read from here.

use std::collections::{BTreeMap, VecDeque};

use driftline_core::EpochMillis;
use rust_decimal::Decimal;

/// Seconds of price path a market keeps (about 2.3 days of one tick a second): enough for the
/// 24-hour and 7-day tickers at the tick rates the venue runs at, bounded in memory.
const MAX_SECONDS: usize = 200_000;
/// Trades a market's tape keeps, newest last.
const MAX_TRADES: usize = 200_000;

/// One trade of the market's public tape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicTrade {
    pub id: u64,
    pub price: Decimal,
    pub qty: Decimal,
    pub time: EpochMillis,
    pub is_buyer_maker: bool,
    /// The account order that took; `None` when the simulated market took (a resting order
    /// filled by a market move).
    pub taker_order: Option<u64>,
}

/// The market's activity over a span: the price path's open, high, low and close, and the
/// trades' volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    /// Base traded.
    pub volume: Decimal,
    /// Quote traded.
    pub quote_volume: Decimal,
    /// Base bought by takers (the buyer was the taker).
    pub taker_buy_volume: Decimal,
    pub taker_buy_quote_volume: Decimal,
    pub trades: u64,
}

impl Candle {
    /// A span with no trades that stood at `price` throughout.
    pub fn flat(price: Decimal) -> Self {
        Self {
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            taker_buy_volume: Decimal::ZERO,
            taker_buy_quote_volume: Decimal::ZERO,
            trades: 0,
        }
    }

    fn add_price(&mut self, price: Decimal) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
    }

    /// This span followed by a later one.
    fn then(mut self, later: &Self) -> Self {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume += later.volume;
        self.quote_volume += later.quote_volume;
        self.taker_buy_volume += later.taker_buy_volume;
        self.taker_buy_quote_volume += later.taker_buy_quote_volume;
        self.trades += later.trades;
        self
    }
}

/// One market's tape and price path.
#[derive(Debug, Clone, Default)]
pub struct MarketHistory {
    trades: VecDeque<PublicTrade>,
    /// One candle per second that saw a move or a trade, keyed by the second's start.
    seconds: BTreeMap<EpochMillis, Candle>,
}

fn second_of(time: EpochMillis) -> EpochMillis {
    time.div_euclid(1000) * 1000
}

impl MarketHistory {
    /// The market stood at `price` at `time` (the mid moved there).
    pub(super) fn record_price(&mut self, time: EpochMillis, price: Decimal) {
        self.seconds
            .entry(second_of(time))
            .and_modify(|c| c.add_price(price))
            .or_insert_with(|| Candle::flat(price));
        self.trim();
    }

    pub(super) fn record_trade(&mut self, trade: PublicTrade) {
        let quote = trade.qty * trade.price;
        let c = self
            .seconds
            .entry(second_of(trade.time))
            .or_insert_with(|| Candle::flat(trade.price));
        c.add_price(trade.price);
        c.volume += trade.qty;
        c.quote_volume += quote;
        c.trades += 1;
        if !trade.is_buyer_maker {
            c.taker_buy_volume += trade.qty;
            c.taker_buy_quote_volume += quote;
        }
        self.trades.push_back(trade);
        self.trim();
    }

    fn trim(&mut self) {
        while self.seconds.len() > MAX_SECONDS {
            self.seconds.pop_first();
        }
        while self.trades.len() > MAX_TRADES {
            self.trades.pop_front();
        }
    }

    /// The tape, oldest first.
    pub fn trades(&self) -> impl DoubleEndedIterator<Item = &PublicTrade> + ExactSizeIterator {
        self.trades.iter()
    }

    /// The trades from `from` to `to` (inclusive), oldest first.
    pub fn trades_between(
        &self,
        from: EpochMillis,
        to: EpochMillis,
    ) -> impl DoubleEndedIterator<Item = &PublicTrade> {
        let start = self.trades.partition_point(|t| t.time < from);
        let end = self.trades.partition_point(|t| t.time <= to).max(start);
        self.trades.range(start..end)
    }

    /// The market's activity in the seconds from `from` to `to` (inclusive, to the second);
    /// `None` when nothing was recorded then.
    pub fn candle(&self, from: EpochMillis, to: EpochMillis) -> Option<Candle> {
        if to < from {
            return None;
        }
        let mut span = self.seconds.range(second_of(from)..=to).map(|(_, c)| c);
        let first = *span.next()?;
        Some(span.fold(first, |acc, c| acc.then(c)))
    }

    /// The price the path stood at before `time` (the close of the last second before it).
    pub fn price_before(&self, time: EpochMillis) -> Option<Decimal> {
        self.seconds
            .range(..second_of(time))
            .next_back()
            .map(|(_, c)| c.close)
    }

    /// The latest point of the path.
    pub fn last_price(&self) -> Option<Decimal> {
        self.seconds.values().next_back().map(|c| c.close)
    }

    /// When the path begins (the start of its first recorded second).
    pub fn first_time(&self) -> Option<EpochMillis> {
        self.seconds.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn trade(
        id: u64,
        price: Decimal,
        qty: Decimal,
        time: EpochMillis,
        buyer_maker: bool,
    ) -> PublicTrade {
        PublicTrade {
            id,
            price,
            qty,
            time,
            is_buyer_maker: buyer_maker,
            taker_order: Some(id),
        }
    }

    #[test]
    fn a_candle_folds_moves_and_trades_in_time_order() {
        let mut h = MarketHistory::default();
        h.record_price(1_000, dec!(100));
        h.record_trade(trade(1, dec!(101), dec!(2), 1_500, false));
        h.record_price(2_100, dec!(99));
        h.record_trade(trade(2, dec!(98), dec!(1), 3_000, true));
        let c = h.candle(0, 3_999).unwrap();
        assert_eq!(
            (c.open, c.high, c.low, c.close),
            (dec!(100), dec!(101), dec!(98), dec!(98))
        );
        assert_eq!(
            (c.volume, c.quote_volume, c.trades),
            (dec!(3), dec!(300), 2)
        );
        assert_eq!(
            (c.taker_buy_volume, c.taker_buy_quote_volume),
            (dec!(2), dec!(202))
        );
        assert_eq!(h.candle(2_000, 2_999).map(|c| c.close), Some(dec!(99)));
        assert_eq!(h.candle(4_000, 9_999), None);
        assert_eq!(h.price_before(2_000), Some(dec!(101)));
        assert_eq!(h.price_before(1_000), None);
        let ids: Vec<u64> = h.trades_between(1_500, 2_999).map(|t| t.id).collect();
        assert_eq!(ids, vec![1]);
    }

    #[test]
    fn the_path_keeps_a_bounded_number_of_seconds() {
        let mut h = MarketHistory::default();
        for s in 0..(MAX_SECONDS as i64 + 10) {
            h.record_price(s * 1000, dec!(1));
        }
        assert_eq!(h.first_time(), Some(10_000));
    }
}
