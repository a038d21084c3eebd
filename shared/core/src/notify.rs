//! What the owner is told, and the port it goes through.
//!
//! A [`Notice`] is one readable message: a cycle that traded (the orders it planned and the
//! portfolio's orders that ended since its previous cycle, with fees and slippage), the
//! deployment halted or resumed, the exchange's circuit breaker opened or closed. Each has a
//! [`Notice::subject`] (one line of ASCII under 100 characters, as SNS and email subjects want)
//! and a plain-text [`Notice::body`] short enough to forward to chat.
//!
//! Who sends what: the scheduler, one notice per portfolio cycle that planned an order or saw
//! one end ([`crate::service::scheduler`]); the breaker guard, when its own write opened or
//! closed the shared breaker, so one container sends it, not every container that sees it
//! ([`crate::service::guard`]); the `driftline` console, on `halt` and `resume`.
//!
//! A [`Notifier`](crate::ports::Notifier) never fails its caller: a notice that cannot be sent is logged by the adapter
//! and dropped, so a mail outage never stops a cycle or an order. Adapters: `SnsNotifier` in
//! driftline-aws, [`Silent`](crate::ports::Silent) when no topic is configured, `testing::RecordedNotices` in tests.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rust_decimal::Decimal;

use crate::control::Stop;
use crate::orders::{execution_quality, OrderRecord};
use crate::{Asset, ClientOrderId, CycleId, EpochMillis, OrderIntent, OrderStatus, PortfolioId};
use crate::{Side, Symbol};

/// One message to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A portfolio's cycle planned orders, or saw orders end since its previous cycle.
    CycleTraded(CycleReport),
    /// `driftline halt`: nothing is planned or placed until `resume`.
    Halted {
        reason: String,
        by: String,
        at_ms: EpochMillis,
    },
    /// `driftline resume`: trading again.
    Resumed { by: String, at_ms: EpochMillis },
    /// The exchange's shared circuit breaker opened: nothing is sent until `until_ms`.
    BreakerOpened {
        venue: String,
        cause: BreakerCause,
        until_ms: EpochMillis,
        at_ms: EpochMillis,
    },
    /// The probe after a cooldown succeeded: requests flow again.
    BreakerClosed { venue: String, at_ms: EpochMillis },
}

/// Why the breaker opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerCause {
    /// The exchange banned the address (HTTP 418) until the breaker's `until_ms`.
    Banned,
    /// The exchange's rate limit answered (HTTP 429) and asked to wait this long.
    RateLimited { retry_after_ms: u64 },
    /// This many requests in a row went unanswered, failed with a 5xx or could not be read.
    Failures { count: u32, last_error: String },
}

/// What a portfolio's cycle did and what ended since the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleReport {
    pub portfolio_id: PortfolioId,
    pub cycle_id: CycleId,
    pub at_ms: EpochMillis,
    /// The portfolio's quote asset: fees and costs are in it.
    pub quote: Asset,
    /// The orders this cycle planned (the intents it recorded and queued).
    pub planned: Vec<OrderIntent>,
    /// The previous cycle this report counts from (its id and when it ended), if any.
    pub previous: Option<(CycleId, EpochMillis)>,
    /// The portfolio's orders that reached a final state since the previous cycle.
    pub ended: Vec<OrderRecord>,
}

/// Lines of a list shown before "and N more": a notice stays short enough for chat.
const MAX_LINES: usize = 30;
/// SNS refuses a subject of 100 characters or more.
const MAX_SUBJECT: usize = 99;

impl Notice {
    /// The halt `driftline halt` wrote.
    pub fn halted(stop: &Stop) -> Self {
        Self::Halted {
            reason: stop.reason.clone(),
            by: stop.by.clone(),
            at_ms: stop.at_ms,
        }
    }

    pub fn resumed(by: impl Into<String>, at_ms: EpochMillis) -> Self {
        Self::Resumed {
            by: by.into(),
            at_ms,
        }
    }

    /// A short name of the kind of notice, for routing (SNS message attribute
    /// `driftline-notice`, which a subscription's filter policy can select on).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CycleTraded(_) => "cycle_traded",
            Self::Halted { .. } => "halted",
            Self::Resumed { .. } => "resumed",
            Self::BreakerOpened { .. } => "breaker_opened",
            Self::BreakerClosed { .. } => "breaker_closed",
        }
    }

    /// One line of printable ASCII, under 100 characters.
    pub fn subject(&self) -> String {
        let text = match self {
            Self::CycleTraded(r) => format!("driftline {}: {}", r.portfolio_id, r.summary()),
            Self::Halted { reason, .. } => format!("driftline HALTED: {reason}"),
            Self::Resumed { .. } => "driftline resumed: trading again".to_owned(),
            Self::BreakerOpened {
                venue, until_ms, ..
            } => format!(
                "driftline: {venue} circuit breaker open until {}",
                clock_time(*until_ms)
            ),
            Self::BreakerClosed { venue, .. } => {
                format!("driftline: {venue} circuit breaker closed, trading again")
            }
        };
        subject_line(&text)
    }

    /// The message, plain text.
    pub fn body(&self) -> String {
        match self {
            Self::CycleTraded(r) => r.body(),
            Self::Halted { reason, by, at_ms } => format!(
                "driftline is halted: no cycle plans and no order is placed until `driftline resume`.\n\
                 \n\
                 Reason: {reason}\n\
                 By: {by}\n\
                 At: {}\n\
                 \n\
                 Intents already queued wait (delayed, never dead-lettered) and run after the resume \
                 if they have not expired. Orders resting on the exchange stay there unless the halt \
                 cancelled them (`driftline halt --cancel-open`).\n",
                utc(*at_ms)
            ),
            Self::Resumed { by, at_ms } => format!(
                "driftline is trading again: resumed by {by} at {}.\n\
                 \n\
                 Intents held during the halt run now if they have not expired; the next scheduled \
                 cycle plans as usual.\n",
                utc(*at_ms)
            ),
            Self::BreakerOpened {
                venue,
                cause,
                until_ms,
                at_ms,
            } => format!(
                "The circuit breaker of {venue} opened at {}: nothing is sent to the exchange until {}.\n\
                 \n\
                 Why: {}.\n\
                 \n\
                 Then one request probes the exchange: its answer closes the breaker or opens it again. \
                 Meanwhile intents wait (nothing is dead-lettered) and a cycle plans nothing.\n",
                utc(*at_ms),
                utc(*until_ms),
                cause.describe(),
            ),
            Self::BreakerClosed { venue, at_ms } => format!(
                "The circuit breaker of {venue} closed at {}: a probe request was answered, and \
                 orders flow again.\n",
                utc(*at_ms)
            ),
        }
    }
}

impl BreakerCause {
    fn describe(&self) -> String {
        match self {
            Self::Banned => "the exchange banned this address (HTTP 418)".to_owned(),
            Self::RateLimited { retry_after_ms } => format!(
                "the exchange's rate limit answered (HTTP 429) and asked to wait {}",
                duration(*retry_after_ms)
            ),
            Self::Failures { count, last_error } => format!(
                "{count} requests in a row failed (no answer, a 5xx or an unreadable answer); \
                 the last: {}",
                // The body ends the sentence itself.
                clip(last_error.trim_end_matches('.'), 300)
            ),
        }
    }
}

impl CycleReport {
    /// Whether the owner hears of this cycle: it planned an order or saw one end.
    pub fn traded(&self) -> bool {
        !self.planned.is_empty() || !self.ended.is_empty()
    }

    /// What the ended orders cost: fees and slippage against the plan's mid, in the quote
    /// asset (slippage below zero is a price better than the mid).
    pub fn cost(&self) -> (Decimal, Decimal) {
        self.ended
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(f, s), r| {
                (f + r.fees_quote, s + slippage_quote(r))
            })
    }

    /// "2 orders planned; 1 filled, 1 cancelled; cost 5.18 USDT".
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.planned.is_empty() {
            parts.push(count(self.planned.len(), "order planned", "orders planned"));
        }
        if !self.ended.is_empty() {
            let mut by_status: Vec<(OrderStatus, usize)> = Vec::new();
            for r in &self.ended {
                match by_status.iter_mut().find(|(s, _)| *s == r.status) {
                    Some((_, n)) => *n += 1,
                    None => by_status.push((r.status, 1)),
                }
            }
            by_status.sort_by_key(|(s, _)| status_rank(*s));
            let ended: Vec<String> = by_status
                .iter()
                .map(|(s, n)| format!("{n} {}", s.as_str().to_lowercase()))
                .collect();
            parts.push(ended.join(", "));
            let (fees, slippage) = self.cost();
            parts.push(format!("cost {} {}", amount(fees + slippage), self.quote));
        }
        parts.join("; ")
    }

    fn body(&self) -> String {
        let mut b = String::new();
        let _ = writeln!(
            b,
            "Portfolio {}, cycle {} at {}.",
            self.portfolio_id,
            self.cycle_id,
            utc(self.at_ms)
        );
        if !self.planned.is_empty() {
            let _ = writeln!(
                b,
                "\nPlanned, {} (limit orders):",
                count(self.planned.len(), "order", "orders")
            );
            for i in self.planned.iter().take(MAX_LINES) {
                let _ = writeln!(
                    b,
                    "  {} {} {} at {}",
                    i.side,
                    i.quantity.normalize(),
                    i.symbol,
                    i.limit_price
                );
            }
            more(&mut b, self.planned.len());
        }
        if !self.ended.is_empty() {
            let since = match &self.previous {
                Some((cycle, at)) => format!("since cycle {cycle} ({})", utc(*at)),
                None => "since the previous cycle".to_owned(),
            };
            let _ = writeln!(
                b,
                "\nEnded {since}, {}:",
                count(self.ended.len(), "order", "orders")
            );
            for r in self.ended.iter().take(MAX_LINES) {
                let _ = writeln!(b, "  {}", self.ended_line(r));
            }
            more(&mut b, self.ended.len());
            let (fees, slippage) = self.cost();
            let _ = writeln!(
                b,
                "\nCost of these orders: fees {} {q} + slippage {} {q} = {} {q}.",
                amount(fees),
                amount(slippage),
                amount(fees + slippage),
                q = self.quote
            );
        }
        b
    }

    fn ended_line(&self, r: &OrderRecord) -> String {
        let i = &r.intent;
        let mut line = format!(
            "{} {} {} of {} {}",
            r.status,
            i.side,
            r.filled_qty.normalize(),
            i.quantity.normalize(),
            i.symbol
        );
        if r.filled_qty.is_zero() {
            line.push_str(", nothing filled");
        } else {
            let quality = execution_quality(r);
            let average = r.cumulative_quote_qty / r.filled_qty;
            let _ = write!(
                line,
                " at avg {}, fees {} {q}, slippage {} bps ({} {q}) vs mid {}",
                price(average),
                amount(r.fees_quote),
                bps(quality.slippage_bps.unwrap_or_default()),
                amount(slippage_quote(r)),
                i.reference_price,
                q = self.quote
            );
        }
        if r.status != OrderStatus::Filled {
            if let Some(why) = &r.last_error {
                let _ = write!(line, ": {}", clip(why, 160));
            }
        }
        line
    }
}

/// What the fills cost against the plan's mid, in the quote asset: positive when worse.
pub fn slippage_quote(r: &OrderRecord) -> Decimal {
    let at_mid = r.intent.reference_price.value() * r.filled_qty;
    match r.intent.side {
        Side::Buy => r.cumulative_quote_qty - at_mid,
        Side::Sell => at_mid - r.cumulative_quote_qty,
    }
}

/// The portfolio's orders that ended since the previous cycle: final now, and either open when
/// that cycle ended (`open_before`, kept with its drift snapshot) or a later leg of one of them
/// (a re-priced remainder the executor recorded in between). Exact, with no clock involved: an
/// order is reported by one cycle only. In the order they ended.
pub fn ended_since(orders: &[OrderRecord], open_before: &[ClientOrderId]) -> Vec<OrderRecord> {
    let known: HashSet<&ClientOrderId> = open_before.iter().collect();
    // Per order family (one plan's order and its re-priced legs), the newest leg open then.
    let mut newest_leg: HashMap<(Option<&str>, &CycleId, &Symbol, Side), u32> = HashMap::new();
    for r in orders {
        let i = &r.intent;
        if known.contains(&i.client_order_id) {
            let leg = newest_leg
                .entry((i.account.as_deref(), &i.cycle_id, &i.symbol, i.side))
                .or_default();
            *leg = (*leg).max(i.leg);
        }
    }
    let mut ended: Vec<OrderRecord> = orders
        .iter()
        .filter(|r| {
            let i = &r.intent;
            r.status.is_final()
                && (known.contains(&i.client_order_id)
                    || newest_leg
                        .get(&(i.account.as_deref(), &i.cycle_id, &i.symbol, i.side))
                        .is_some_and(|leg| i.leg > *leg))
        })
        .cloned()
        .collect();
    ended.sort_by(|a, b| {
        (a.updated_at_ms, a.intent.client_order_id.as_str())
            .cmp(&(b.updated_at_ms, b.intent.client_order_id.as_str()))
    });
    ended
}

fn status_rank(s: OrderStatus) -> usize {
    OrderStatus::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or(usize::MAX)
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn more(b: &mut String, n: usize) {
    if n > MAX_LINES {
        let _ = writeln!(b, "  ... and {} more", n - MAX_LINES);
    }
}

/// A money amount: six significant digits, no trailing zeros.
fn amount(d: Decimal) -> Decimal {
    d.round_sf(6).unwrap_or(d).normalize()
}

/// An average price: eight significant digits.
fn price(d: Decimal) -> Decimal {
    d.round_sf(8).unwrap_or(d).normalize()
}

/// Basis points with a sign and two decimals: "+1.25", "-0.50".
fn bps(d: Decimal) -> String {
    let d = d.round_dp(2);
    if d.is_sign_negative() && !d.is_zero() {
        format!("{d:.2}")
    } else {
        format!("+{:.2}", d.abs())
    }
}

fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{} s", ms.div_ceil(1_000))
    } else {
        format!("{} min", ms.div_ceil(60_000))
    }
}

/// At most `max` characters, on one line.
fn clip(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    }
}

/// Printable ASCII only (anything else becomes `?`), under 100 characters.
fn subject_line(s: &str) -> String {
    let ascii: String = s
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT {
        ascii
    } else {
        format!("{}...", &ascii[..MAX_SUBJECT - 3])
    }
}

/// "2027-01-15 08:05:00 UTC".
pub fn utc(ms: EpochMillis) -> String {
    let (date, time) = civil(ms);
    format!("{date} {time} UTC")
}

/// "08:05:00 UTC".
fn clock_time(ms: EpochMillis) -> String {
    format!("{} UTC", civil(ms).1)
}

/// The UTC date and time of epoch milliseconds (proleptic Gregorian calendar; H. Hinnant's
/// days-to-civil algorithm), without a date library: core has no clock and needs none.
fn civil(ms: EpochMillis) -> (String, String) {
    let secs = ms.div_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            of_day / 3_600,
            of_day % 3_600 / 60,
            of_day % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderRecord;
    use crate::{Price, Symbol};
    use rust_decimal_macros::dec;

    /// 2027-01-15 08:05:00 UTC.
    const AT: EpochMillis = 1_800_000_300_000;

    fn intent(symbol: &str, side: Side, quantity: Decimal, mid: Decimal, leg: u32) -> OrderIntent {
        let portfolio = PortfolioId::new("article").unwrap();
        let cycle = CycleId::new("20270115T080000Z").unwrap();
        let symbol: Symbol = symbol.parse().unwrap();
        OrderIntent {
            client_order_id: ClientOrderId::derive(None, &portfolio, &cycle, &symbol, side, leg),
            portfolio_id: portfolio,
            cycle_id: cycle,
            symbol,
            side,
            leg,
            quantity,
            limit_price: Price::new(mid).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            funded_by_sells: false,
            quote_fee_bps: None,
            reference_price: Price::new(mid).unwrap(),
            worst_price: Price::new(mid).unwrap(),
            predicted_cost_bps: dec!(2),
            created_at_ms: AT - 300_000,
            expires_at_ms: AT + 600_000,
            account: None,
        }
    }

    fn ended(
        intent: OrderIntent,
        status: OrderStatus,
        filled: Decimal,
        quote: Decimal,
        fees: Decimal,
    ) -> OrderRecord {
        let mut r = OrderRecord::pending(intent, AT - 1_000);
        r.status = status;
        r.filled_qty = filled;
        r.cumulative_quote_qty = quote;
        r.fees_quote = fees;
        r
    }

    fn report() -> CycleReport {
        let btc = ended(
            intent("BTC/USDT", Side::Sell, dec!(0.0806), dec!(64230), 0),
            OrderStatus::Filled,
            dec!(0.0806),
            dec!(5177.197530),
            dec!(5.17719753),
        );
        let mut eth = ended(
            intent("ETH/USDT", Side::Buy, dec!(2.4672), dec!(3450), 0),
            OrderStatus::Cancelled,
            dec!(0.8),
            dec!(2760.4),
            dec!(2.76),
        );
        eth.last_error = Some("book too thin: 0.8 visible within budget".into());
        let mut expired = ended(
            intent("BTC/USDT", Side::Buy, dec!(0.5), dec!(64230), 0),
            OrderStatus::Expired,
            dec!(0),
            dec!(0),
            dec!(0),
        );
        expired.last_error = Some("deadline passed before placement".into());
        CycleReport {
            portfolio_id: PortfolioId::new("article").unwrap(),
            cycle_id: CycleId::new("20270115T080500Z").unwrap(),
            at_ms: AT,
            quote: Asset::new("USDT").unwrap(),
            planned: vec![intent("ETH/USDT", Side::Sell, dec!(1.5107), dec!(3450), 0)],
            previous: Some((CycleId::new("20270115T080000Z").unwrap(), AT - 300_000)),
            ended: vec![btc, eth, expired],
        }
    }

    #[test]
    fn a_cycle_that_traded_reads_as_what_was_planned_what_ended_and_what_it_cost() {
        let notice = Notice::CycleTraded(report());
        assert_eq!(
            notice.subject(),
            "driftline article: 1 order planned; 1 filled, 1 cancelled, 1 expired; cost 8.07767 USDT"
        );
        assert_eq!(
            notice.body(),
            "Portfolio article, cycle 20270115T080500Z at 2027-01-15 08:05:00 UTC.\n\
             \n\
             Planned, 1 order (limit orders):\n  \
             SELL 1.5107 ETH/USDT at 3450\n\
             \n\
             Ended since cycle 20270115T080000Z (2027-01-15 08:00:00 UTC), 3 orders:\n  \
             FILLED SELL 0.0806 of 0.0806 BTC/USDT at avg 64233.22, fees 5.1772 USDT, slippage -0.50 bps (-0.25953 USDT) vs mid 64230\n  \
             CANCELLED BUY 0.8 of 2.4672 ETH/USDT at avg 3450.5, fees 2.76 USDT, slippage +1.45 bps (0.4 USDT) vs mid 3450: book too thin: 0.8 visible within budget\n  \
             EXPIRED BUY 0 of 0.5 BTC/USDT, nothing filled: deadline passed before placement\n\
             \n\
             Cost of these orders: fees 7.9372 USDT + slippage 0.14047 USDT = 8.07767 USDT.\n"
        );
    }

    #[test]
    fn a_cycle_that_only_planned_says_so_without_a_cost() {
        let mut r = report();
        r.ended.clear();
        assert!(r.traded());
        let notice = Notice::CycleTraded(r.clone());
        assert_eq!(notice.subject(), "driftline article: 1 order planned");
        assert!(!notice.body().contains("Cost"), "{}", notice.body());
        r.planned.clear();
        assert!(!r.traded(), "nothing planned and nothing ended: no message");
    }

    #[test]
    fn halt_resume_and_the_breaker_read_plainly() {
        let stop = Stop {
            reason: "exchange incident: withdrawals paused".into(),
            by: "arn:aws:iam::123456789012:user/alice".into(),
            at_ms: AT,
        };
        let halted = Notice::halted(&stop);
        assert_eq!(
            halted.subject(),
            "driftline HALTED: exchange incident: withdrawals paused"
        );
        assert_eq!(
            halted.body(),
            "driftline is halted: no cycle plans and no order is placed until `driftline resume`.\n\
             \n\
             Reason: exchange incident: withdrawals paused\n\
             By: arn:aws:iam::123456789012:user/alice\n\
             At: 2027-01-15 08:05:00 UTC\n\
             \n\
             Intents already queued wait (delayed, never dead-lettered) and run after the resume if \
             they have not expired. Orders resting on the exchange stay there unless the halt \
             cancelled them (`driftline halt --cancel-open`).\n"
        );
        let resumed = Notice::resumed("alice", AT + 60_000);
        assert_eq!(resumed.subject(), "driftline resumed: trading again");
        assert_eq!(
            resumed.body(),
            "driftline is trading again: resumed by alice at 2027-01-15 08:06:00 UTC.\n\
             \n\
             Intents held during the halt run now if they have not expired; the next scheduled \
             cycle plans as usual.\n"
        );
        let opened = Notice::BreakerOpened {
            venue: "binance".into(),
            cause: BreakerCause::Failures {
                count: 5,
                last_error: "exchange unavailable (503): -1008 maintenance".into(),
            },
            until_ms: AT + 30_000,
            at_ms: AT,
        };
        assert_eq!(
            opened.subject(),
            "driftline: binance circuit breaker open until 08:05:30 UTC"
        );
        assert_eq!(
            opened.body(),
            "The circuit breaker of binance opened at 2027-01-15 08:05:00 UTC: nothing is sent to \
             the exchange until 2027-01-15 08:05:30 UTC.\n\
             \n\
             Why: 5 requests in a row failed (no answer, a 5xx or an unreadable answer); the last: \
             exchange unavailable (503): -1008 maintenance.\n\
             \n\
             Then one request probes the exchange: its answer closes the breaker or opens it again. \
             Meanwhile intents wait (nothing is dead-lettered) and a cycle plans nothing.\n"
        );
        let closed = Notice::BreakerClosed {
            venue: "binance".into(),
            at_ms: AT + 31_000,
        };
        assert_eq!(
            closed.subject(),
            "driftline: binance circuit breaker closed, trading again"
        );
        assert_eq!(
            closed.body(),
            "The circuit breaker of binance closed at 2027-01-15 08:05:31 UTC: a probe request was \
             answered, and orders flow again.\n"
        );
        assert_eq!(
            (halted.kind(), resumed.kind(), opened.kind(), closed.kind()),
            ("halted", "resumed", "breaker_opened", "breaker_closed")
        );
    }

    #[test]
    fn every_breaker_cause_says_why() {
        assert_eq!(
            BreakerCause::Banned.describe(),
            "the exchange banned this address (HTTP 418)"
        );
        assert_eq!(
            BreakerCause::RateLimited {
                retry_after_ms: 12_300
            }
            .describe(),
            "the exchange's rate limit answered (HTTP 429) and asked to wait 13 s"
        );
        assert_eq!(
            BreakerCause::RateLimited {
                retry_after_ms: 600_000
            }
            .describe(),
            "the exchange's rate limit answered (HTTP 429) and asked to wait 10 min"
        );
        let failures = BreakerCause::Failures {
            count: 5,
            last_error: "HTTP 503: please try again in a few minutes.".into(),
        };
        assert!(
            failures
                .describe()
                .ends_with("the last: HTTP 503: please try again in a few minutes"),
            "one full stop, the body's: {}",
            failures.describe()
        );
    }

    #[test]
    fn a_subject_is_printable_ascii_under_100_characters() {
        let halted = Notice::Halted {
            reason: format!("Börse\ndown {}", "x".repeat(200)),
            by: "a".into(),
            at_ms: AT,
        };
        let s = halted.subject();
        assert!(s.starts_with("driftline HALTED: B?rse?down xxx"), "{s}");
        assert_eq!(s.len(), 99);
        assert!(s.ends_with("..."));
        assert!(s.chars().all(|c| c == ' ' || c.is_ascii_graphic()));
    }

    #[test]
    fn a_long_cycle_lists_thirty_orders_then_how_many_more() {
        let mut r = report();
        r.planned = (0..45u32)
            .map(|n| intent("BTC/USDT", Side::Sell, dec!(0.001), dec!(64230), n))
            .collect();
        let body = Notice::CycleTraded(r).body();
        assert_eq!(body.matches("  SELL 0.001 BTC/USDT at 64230\n").count(), 30);
        assert!(body.contains("  ... and 15 more\n"), "{body}");
    }

    #[test]
    fn ended_since_reports_each_order_once_with_the_legs_recorded_in_between() {
        let leg0 = intent("ETH/USDT", Side::Buy, dec!(2), dec!(3450), 0);
        let leg1 = intent("ETH/USDT", Side::Buy, dec!(1.2), dec!(3450), 1);
        let leg2 = intent("ETH/USDT", Side::Buy, dec!(0.4), dec!(3450), 2);
        let older = intent("BTC/USDT", Side::Sell, dec!(0.1), dec!(64230), 0);
        let still_open = intent("BTC/USDT", Side::Buy, dec!(0.1), dec!(64230), 0);
        let status = |i: &OrderIntent, s| ended(i.clone(), s, dec!(0), dec!(0), dec!(0));
        let mut orders = vec![
            // Ended before the previous cycle: reported by it, not again.
            status(&older, OrderStatus::Filled),
            // Open then, cancelled for a re-price since; its next legs recorded and ended since.
            status(&leg0, OrderStatus::Cancelled),
            status(&leg1, OrderStatus::Cancelled),
            status(&leg2, OrderStatus::Filled),
            status(&still_open, OrderStatus::Placed),
        ];
        // They ended in this order; the report lists them so.
        for (n, r) in orders.iter_mut().enumerate() {
            r.updated_at_ms = AT + n as i64;
        }
        let open_before = vec![
            leg0.client_order_id.clone(),
            still_open.client_order_id.clone(),
        ];
        let ids: Vec<u32> = ended_since(&orders, &open_before)
            .iter()
            .map(|r| r.intent.leg)
            .collect();
        assert_eq!(ids, vec![0, 1, 2]);
        // A leg that was final before (a cancelled leg 0 when leg 1 was the open one) is not
        // reported again.
        let ids: Vec<u32> = ended_since(&orders, std::slice::from_ref(&leg1.client_order_id))
            .iter()
            .map(|r| r.intent.leg)
            .collect();
        assert_eq!(ids, vec![1, 2]);
        assert!(ended_since(&orders, &[]).is_empty(), "no previous cycle");
    }

    #[test]
    fn utc_dates_follow_the_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(AT), "2027-01-15 08:05:00 UTC");
        assert_eq!(utc(1_800_000_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(utc(1_831_622_700_000), "2028-01-16 08:05:00 UTC");
        assert_eq!(utc(4_102_444_799_999), "2099-12-31 23:59:59 UTC");
    }
}
