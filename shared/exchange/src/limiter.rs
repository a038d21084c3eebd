//! Request-weight and order-count limiting. One [`Limiter`] keeps the limits one counter of the
//! venue's counts: a Binance client holds its account's order counts itself and draws request
//! weight, which the exchange counts per IP, from a limiter every client of the address shares
//! (see [`crate::share`]).
//!
//! Each window of exchangeInfo's `rateLimits` becomes a governor (GCRA) bucket sized so that no
//! span of the window's length ever admits more than its limit: a burst of a quarter of the
//! limit plus a steady refill of the other three quarters. The exchange counts per fixed window
//! and per IP (other processes share it), so the `X-MBX-USED-WEIGHT-*` and
//! `X-MBX-ORDER-COUNT-*` headers of every answer are read back: when the exchange's count nears a
//! limit, nothing more is sent until that window ends. A 429 pauses every caller for
//! `Retry-After`; a 418 (ban) stops everything until the ban ends.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use driftline_core::ports::ExchangeError;
use driftline_core::EpochMillis;
use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Request weight (`REQUEST_WEIGHT`): every request costs its endpoint's weight.
    RequestWeight,
    /// New orders (`ORDERS`): every placement costs one.
    Orders,
}

/// One rate limit: at most `limit` units of `kind` per `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitWindow {
    kind: LimitKind,
    interval: Duration,
    limit: u32,
    /// The response header carrying the exchange's count for this window, lower case.
    header: String,
}

impl RateLimitWindow {
    /// A window as exchangeInfo spells it: `interval` is `SECOND`, `MINUTE`, `HOUR` or `DAY`.
    ///
    /// # Errors
    /// A message naming the value when the interval is unknown or a number is zero.
    pub fn new(
        kind: LimitKind,
        interval: &str,
        interval_num: u32,
        limit: u32,
    ) -> Result<Self, String> {
        let (unit_secs, letter) = match interval {
            "SECOND" => (1, 's'),
            "MINUTE" => (60, 'm'),
            "HOUR" => (3_600, 'h'),
            "DAY" => (86_400, 'd'),
            other => return Err(format!("unknown interval {other:?}")),
        };
        if interval_num == 0 || limit == 0 {
            return Err(format!(
                "intervalNum {interval_num} and limit {limit} must both be positive"
            ));
        }
        Ok(Self::of(kind, unit_secs, letter, interval_num, limit))
    }

    fn of(kind: LimitKind, unit_secs: u64, letter: char, interval_num: u32, limit: u32) -> Self {
        let prefix = match kind {
            LimitKind::RequestWeight => "x-mbx-used-weight",
            LimitKind::Orders => "x-mbx-order-count",
        };
        Self {
            kind,
            interval: Duration::from_secs(unit_secs * u64::from(interval_num)),
            limit,
            header: format!("{prefix}-{interval_num}{letter}"),
        }
    }

    /// A counter the venue keeps instead of windows (Kraken's): it may reach `max`, every
    /// call adds its cost, and it falls by `decay_per_sec_milli` thousandths a second. As a
    /// window: `2 × max` per the time the bucket's steady refill takes at the decay rate, so the
    /// bucket's burst is half the counter's maximum and its refill never outpaces the decay —
    /// the counter stays at or below half its maximum from this client's calls, whatever their
    /// timing, and the other half is left to other clients of the same key. No response header
    /// reports such a counter.
    pub fn decaying(kind: LimitKind, max: u32, decay_per_sec_milli: u32) -> Self {
        let limit = max.saturating_mul(2).max(1);
        let (_, refill) = bucket_shape(limit);
        let millis =
            (u64::from(refill) * 1_000_000).div_ceil(u64::from(decay_per_sec_milli.max(1)));
        Self {
            kind,
            interval: Duration::from_millis(millis),
            limit,
            header: String::new(),
        }
    }

    pub fn kind(&self) -> LimitKind {
        self.kind
    }
    pub fn interval(&self) -> Duration {
        self.interval
    }
    pub fn limit(&self) -> u32 {
        self.limit
    }
    /// The header that reports the exchange's count, e.g. `x-mbx-used-weight-1m`.
    pub fn header(&self) -> &str {
        &self.header
    }
}

/// The limits a client keeps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    windows: Vec<RateLimitWindow>,
}

impl RateLimits {
    pub fn new(windows: Vec<RateLimitWindow>) -> Self {
        Self { windows }
    }

    /// The exchange's published spot limits, used until exchangeInfo has been read: 6,000
    /// weight a minute, 100 orders per 10 seconds and 200,000 a day.
    pub fn binance_spot_defaults() -> Self {
        Self::new(vec![
            RateLimitWindow::of(LimitKind::RequestWeight, 60, 'm', 1, 6_000),
            RateLimitWindow::of(LimitKind::Orders, 1, 's', 10, 100),
            RateLimitWindow::of(LimitKind::Orders, 86_400, 'd', 1, 200_000),
        ])
    }

    pub fn windows(&self) -> &[RateLimitWindow] {
        &self.windows
    }

    /// Only the windows that count `kind`.
    pub fn of_kind(&self, kind: LimitKind) -> Self {
        Self::new(
            self.windows
                .iter()
                .filter(|w| w.kind == kind)
                .cloned()
                .collect(),
        )
    }
}

struct Bucket {
    window: RateLimitWindow,
    burst: NonZeroU32,
    limiter: DefaultDirectRateLimiter,
}

/// A bucket's burst and its refill per interval for a window of `limit`. GCRA admits at most
/// burst + refill - 1 cells in any span of one interval when it refills `refill` cells per
/// interval. A quarter of the limit as burst, and a refill that leaves a tenth spare (requests
/// arrive a little after they leave, and may land in the exchange's next window), keeps under
/// the limit wherever that window starts.
fn bucket_shape(limit: u32) -> (u32, u32) {
    let burst = (limit / 4).max(1);
    let refill = limit.saturating_sub(burst + limit / 10).max(1);
    (burst, refill)
}

impl Bucket {
    fn new(window: RateLimitWindow) -> Self {
        let (burst, refill) = bucket_shape(window.limit);
        let period = window.interval / refill;
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
            limiter: RateLimiter::direct(quota),
            window,
        }
    }

    /// Waits until `cost` units may be sent, taking them in bursts when the cost exceeds one.
    ///
    /// # Errors
    /// [`ExchangeError::RateLimited`] when the wait would be longer than `max_wait` (a daily
    /// order limit spent, say): the caller hears so at once instead of hanging.
    async fn take(&self, cost: u32, max_wait: Duration) -> Result<(), ExchangeError> {
        let mut remaining = cost;
        while let Some(n) = NonZeroU32::new(remaining.min(self.burst.get())) {
            // n never exceeds the burst, so capacity is always sufficient (the outer Err).
            while let Ok(Err(not_until)) = self.limiter.check_n(n) {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                if wait > max_wait {
                    return Err(ExchangeError::RateLimited {
                        retry_after_ms: millis(wait),
                    });
                }
                tokio::time::sleep(wait).await;
            }
            remaining -= n.get();
        }
        Ok(())
    }

    /// Marks `used` units as spent now, without waiting (what the exchange already counted).
    fn spend_now(&self, used: u32) {
        if let Some(n) = NonZeroU32::new(used.min(self.burst.get())) {
            let _ = self.limiter.check_n(n);
        }
    }
}

/// The longest pause or ban honoured as given (bans last up to three days); a longer
/// `Retry-After` is taken as this, so no answer can overflow the clock.
const LONGEST_HOLD: Duration = Duration::from_secs(7 * 86_400);

#[derive(Default)]
struct Gate {
    /// Every request waits (a 429, or the exchange's weight count near its limit).
    paused_until: Option<Instant>,
    /// New orders wait (the exchange's order count near its limit); reads still go.
    orders_paused_until: Option<Instant>,
    banned_until: Option<Instant>,
}

/// What the gate says before a request.
enum GateVerdict {
    Open,
    WaitUntil(Instant),
}

/// A set of buckets and the gate in front of them, shared by every caller that counts on them.
pub(crate) struct Limiter {
    buckets: RwLock<Arc<Vec<Bucket>>>,
    gate: Mutex<Gate>,
    /// Longest a caller waits at a pause before being told `RateLimited` instead.
    max_wait: Duration,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits, max_wait: Duration) -> Self {
        Self {
            buckets: RwLock::new(Arc::new(buckets(limits))),
            gate: Mutex::new(Gate::default()),
            max_wait,
        }
    }

    fn current(&self) -> Arc<Vec<Bucket>> {
        Arc::clone(&self.buckets.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> RateLimits {
        RateLimits::new(self.current().iter().map(|b| b.window.clone()).collect())
    }

    /// Adopts the exchange's limits, counting what `headers` say is already used.
    pub(crate) fn reconfigure(&self, limits: &RateLimits, headers: &HeaderMap) {
        if self.limits() == *limits {
            return;
        }
        let fresh = buckets(limits);
        for b in &fresh {
            if let Some(used) = used_from(headers, &b.window) {
                b.spend_now(used);
            }
        }
        *self.buckets.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
    }

    /// Waits until a request of `weight` (and `orders` new orders) may be sent.
    ///
    /// # Errors
    /// [`ExchangeError::Banned`] during a ban; [`ExchangeError::RateLimited`] when the pause
    /// ahead is longer than the configured maximum wait. Nothing is sent in either case.
    pub(crate) async fn acquire(&self, weight: u32, orders: u32) -> Result<(), ExchangeError> {
        let places_orders = orders > 0;
        self.pass_gate(places_orders).await?;
        for b in self.current().iter() {
            let cost = match b.window.kind {
                LimitKind::RequestWeight => weight,
                LimitKind::Orders => orders,
            };
            b.take(cost, self.max_wait).await?;
        }
        // A 429 or a high count may have arrived while this caller waited for its turn.
        self.pass_gate(places_orders).await
    }

    async fn pass_gate(&self, places_orders: bool) -> Result<(), ExchangeError> {
        loop {
            match self.verdict(places_orders)? {
                GateVerdict::Open => return Ok(()),
                GateVerdict::WaitUntil(until) => tokio::time::sleep_until(until).await,
            }
        }
    }

    fn verdict(&self, places_orders: bool) -> Result<GateVerdict, ExchangeError> {
        let now = Instant::now();
        let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = gate.banned_until.filter(|until| *until > now) {
            return Err(ExchangeError::Banned {
                retry_after_ms: millis(until - now),
            });
        }
        let orders_pause = gate.orders_paused_until.filter(|_| places_orders);
        match gate.paused_until.max(orders_pause) {
            Some(until) if until > now => {
                let wait = until - now;
                if wait > self.max_wait {
                    Err(ExchangeError::RateLimited {
                        retry_after_ms: millis(wait),
                    })
                } else {
                    Ok(GateVerdict::WaitUntil(until))
                }
            }
            _ => Ok(GateVerdict::Open),
        }
    }

    /// Stops every caller for `wait` (a 429's `Retry-After`, or the rest of a window).
    pub(crate) fn pause(&self, wait: Duration) {
        self.pause_kind(LimitKind::RequestWeight, wait);
    }

    /// Stops new orders for `wait` (a 429 for the account's order count); reads still go.
    pub(crate) fn pause_orders(&self, wait: Duration) {
        self.pause_kind(LimitKind::Orders, wait);
    }

    fn pause_kind(&self, kind: LimitKind, wait: Duration) {
        let until = Instant::now() + wait.min(LONGEST_HOLD);
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match kind {
            LimitKind::RequestWeight => &mut gate.paused_until,
            LimitKind::Orders => &mut gate.orders_paused_until,
        };
        *slot = Some(slot.map_or(until, |u| u.max(until)));
    }

    /// Stops everything until a ban ends; returns how long that is from now (at most a week).
    pub(crate) fn ban(&self, wait: Duration) -> Duration {
        let now = Instant::now();
        let until = now + wait.min(LONGEST_HOLD);
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        if gate.banned_until.is_none_or(|u| u < until) {
            gate.banned_until = Some(until);
        }
        gate.banned_until.map_or(Duration::ZERO, |u| u - now)
    }

    /// Reads the exchange's counts from an answer's headers; when one is within a tenth of its
    /// limit, pauses every caller until that window ends on the exchange's clock.
    pub(crate) fn observe(&self, headers: &HeaderMap, server_now_ms: EpochMillis) {
        for b in self.current().iter() {
            let Some(used) = used_from(headers, &b.window) else {
                continue;
            };
            let headroom = b.window.limit / 10;
            if used.saturating_add(headroom) >= b.window.limit {
                let interval_ms = i64::try_from(b.window.interval.as_millis()).unwrap_or(i64::MAX);
                let window_end = (server_now_ms.div_euclid(interval_ms) + 1) * interval_ms;
                let wait = u64::try_from(window_end - server_now_ms).unwrap_or(0);
                self.pause_kind(b.window.kind, Duration::from_millis(wait));
            }
        }
    }
}

fn buckets(limits: &RateLimits) -> Vec<Bucket> {
    limits.windows.iter().cloned().map(Bucket::new).collect()
}

fn used_from(headers: &HeaderMap, window: &RateLimitWindow) -> Option<u32> {
    headers
        .get(window.header.as_str())?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(LimitKind::RequestWeight, "MINUTE", 1, "x-mbx-used-weight-1m", 60)]
    #[case(LimitKind::Orders, "SECOND", 10, "x-mbx-order-count-10s", 10)]
    #[case(LimitKind::Orders, "DAY", 1, "x-mbx-order-count-1d", 86_400)]
    fn windows_name_their_headers(
        #[case] kind: LimitKind,
        #[case] interval: &str,
        #[case] num: u32,
        #[case] header: &str,
        #[case] secs: u64,
    ) {
        let w = RateLimitWindow::new(kind, interval, num, 10).unwrap();
        assert_eq!(w.header(), header);
        assert_eq!(w.interval(), Duration::from_secs(secs));
    }

    #[rstest]
    // Kraken's call counters (Starter, Intermediate, Pro) and a trading counter.
    #[case(15, 330, 7, 20, 60_607)]
    #[case(20, 500, 10, 26, 52_000)]
    #[case(20, 1_000, 10, 26, 26_000)]
    #[case(60, 1_000, 30, 78, 78_000)]
    fn a_decaying_counter_becomes_a_window_whose_bucket_never_outpaces_the_decay(
        #[case] max: u32,
        #[case] decay_milli: u32,
        #[case] burst: u32,
        #[case] refill: u32,
        #[case] interval_ms: u64,
    ) {
        let w = RateLimitWindow::decaying(LimitKind::RequestWeight, max, decay_milli);
        assert_eq!(bucket_shape(w.limit()), (burst, refill));
        assert_eq!(w.interval(), Duration::from_millis(interval_ms));
        assert!(burst * 2 <= max, "the burst is at most half the counter");
        // refill per interval, as a rate, is at most the decay rate.
        assert!(u64::from(refill) * 1_000_000 <= interval_ms * u64::from(decay_milli));
        assert_eq!(w.header(), "", "no header reports it");
    }

    #[test]
    fn unknown_intervals_and_zero_limits_are_refused() {
        assert!(RateLimitWindow::new(LimitKind::Orders, "WEEK", 1, 10)
            .unwrap_err()
            .contains("WEEK"));
        assert!(RateLimitWindow::new(LimitKind::Orders, "SECOND", 1, 0).is_err());
    }

    #[tokio::test]
    async fn a_ban_refuses_without_waiting_and_a_long_pause_reports_rate_limited() {
        let limiter = Limiter::new(&RateLimits::binance_spot_defaults(), Duration::from_secs(1));
        limiter.pause(Duration::from_secs(30));
        assert!(matches!(
            limiter.acquire(1, 0).await,
            Err(ExchangeError::RateLimited { retry_after_ms }) if retry_after_ms > 29_000
        ));
        assert_eq!(
            limiter.ban(Duration::from_secs(120)),
            Duration::from_secs(120)
        );
        assert!(matches!(
            limiter.acquire(1, 0).await,
            Err(ExchangeError::Banned { retry_after_ms }) if (119_000..=120_000).contains(&retry_after_ms)
        ));
        // A shorter ban later does not shorten the one in force.
        assert!(limiter.ban(Duration::from_secs(5)) > Duration::from_secs(119));
    }

    #[test]
    fn a_count_near_the_limit_pauses_until_the_window_ends() {
        let limiter = Limiter::new(
            &RateLimits::binance_spot_defaults(),
            Duration::from_secs(90),
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1m", "5000".parse().unwrap());
        limiter.observe(&headers, 60_000 * 100 + 15_000);
        assert!(
            limiter.gate.lock().unwrap().paused_until.is_none(),
            "5000 of 6000 is fine"
        );
        headers.insert("x-mbx-used-weight-1m", "5900".parse().unwrap());
        limiter.observe(&headers, 60_000 * 100 + 15_000);
        let until = limiter.gate.lock().unwrap().paused_until.unwrap();
        let wait = until - Instant::now();
        assert!(
            wait <= Duration::from_secs(45) && wait > Duration::from_secs(44),
            "{wait:?}"
        );
    }
    #[tokio::test]
    async fn a_high_order_count_holds_new_orders_but_not_reads() {
        let limiter = Limiter::new(
            &RateLimits::binance_spot_defaults(),
            Duration::from_millis(1),
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-order-count-10s", "95".parse().unwrap());
        limiter.observe(&headers, 10_000 * 7 + 2_000);
        assert_eq!(limiter.acquire(1, 0).await, Ok(()), "reads still go");
        assert!(matches!(
            limiter.acquire(1, 1).await,
            Err(ExchangeError::RateLimited { retry_after_ms }) if retry_after_ms > 7_000
        ));
    }
    #[test]
    fn an_absurd_retry_after_cannot_overflow_the_clock() {
        let limiter = Limiter::new(&RateLimits::binance_spot_defaults(), Duration::from_secs(1));
        limiter.pause(Duration::MAX);
        assert_eq!(limiter.ban(Duration::MAX), Duration::from_secs(7 * 86_400));
    }
    #[tokio::test]
    async fn a_spent_long_window_is_reported_not_waited_for() {
        let day = RateLimitWindow::new(LimitKind::Orders, "DAY", 1, 4).unwrap();
        let limiter = Limiter::new(&RateLimits::new(vec![day]), Duration::from_secs(1));
        // Burst 1, refill 3 a day: the second order would wait eight hours.
        assert_eq!(limiter.acquire(1, 1).await, Ok(()));
        assert!(matches!(
            limiter.acquire(1, 1).await,
            Err(ExchangeError::RateLimited { retry_after_ms }) if retry_after_ms > 7 * 3_600_000
        ));
        assert_eq!(
            limiter.acquire(1, 0).await,
            Ok(()),
            "reads do not count orders"
        );
    }
}
