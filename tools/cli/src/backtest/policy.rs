//! The policies a backtest compares and when each plans: a calendar rule, a threshold rule
//! or driftline's own band policy, checked every step or on the first step of each period.

use driftline_core::{Band, Destination, RebalancePolicy};
use rust_decimal::Decimal;
use serde::Serialize;

use super::PriceHistory;

/// The calendar a calendar policy rebalances on: the first step of each new period (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarPeriod {
    Daily,
    /// Weeks start on Monday.
    Weekly,
    Monthly,
}

impl CalendarPeriod {
    /// The index of the period `time_ms` falls in.
    pub fn period_of(self, time_ms: i64) -> i64 {
        let days = time_ms.div_euclid(86_400_000);
        match self {
            Self::Daily => days,
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            Self::Weekly => (days + 3).div_euclid(7),
            Self::Monthly => {
                let (year, month) = year_month(days);
                year * 12 + month
            }
        }
    }
}

/// Civil year and month (0-based) of a day count since 1970-01-01 (1970-01 for a day count
/// beyond chrono's range, which no history reaches).
fn year_month(days: i64) -> (i64, i64) {
    use chrono::Datelike;
    let date = chrono::DateTime::from_timestamp(days.saturating_mul(86_400), 0)
        .unwrap_or_default()
        .date_naive();
    (i64::from(date.year()), i64::from(date.month0()))
}

/// When a policy plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every step of the history, as the scheduler runs every cycle.
    EveryStep,
    Calendar(CalendarPeriod),
}

/// A named policy to replay: core's policy settings and when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRun {
    pub name: String,
    pub policy: RebalancePolicy,
    pub schedule: Schedule,
}

impl PolicyRun {
    /// Back to target on the calendar's ticks, whatever the drift or the cost: a zero band,
    /// destination target, no cost cap, no velocity rule.
    pub fn calendar(period: CalendarPeriod) -> Self {
        let name = match period {
            CalendarPeriod::Daily => "calendar daily",
            CalendarPeriod::Weekly => "calendar weekly",
            CalendarPeriod::Monthly => "calendar monthly",
        };
        Self {
            name: name.into(),
            policy: to_target(Decimal::ZERO),
            schedule: Schedule::Calendar(period),
        }
    }

    /// Back to target whenever an asset drifts more than `band` (absolute), checked every step:
    /// the article's naive 5% rule at 0.05.
    pub fn threshold(band: Decimal) -> Self {
        Self {
            name: format!("threshold {}%", (band * Decimal::ONE_HUNDRED).normalize()),
            policy: to_target(band),
            schedule: Schedule::EveryStep,
        }
    }

    /// driftline's own policy, checked every step.
    pub fn driftline(name: impl Into<String>, policy: RebalancePolicy) -> Self {
        Self {
            name: name.into(),
            policy,
            schedule: Schedule::EveryStep,
        }
    }

    /// Whether the policy plans at `step` (never at the first: every account starts there at
    /// its targets).
    pub(super) fn due(&self, history: &PriceHistory, step: usize) -> bool {
        if step == 0 {
            return false;
        }
        match self.schedule {
            Schedule::EveryStep => true,
            Schedule::Calendar(period) => {
                let at = |s: usize| history.times_ms.get(s).map(|t| period.period_of(*t));
                at(step) != at(step - 1)
            }
        }
    }
}

/// The policy settings of a rule that trades straight back to target outside `band`.
fn to_target(band: Decimal) -> RebalancePolicy {
    RebalancePolicy {
        band: Band {
            absolute: Some(band),
            relative: None,
        },
        destination: Destination::Target,
        max_cost_bps: Decimal::MAX,
        velocity: None,
        ..RebalancePolicy::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    // 2024-01-01T00:00Z (a Monday) and 2024-01-31T23:00Z: same month, different days.
    #[case(CalendarPeriod::Monthly, 1_704_067_200_000, 1_706_742_000_000, true)]
    // 2024-01-31T23:00Z and 2024-02-01T00:00Z: a new month.
    #[case(CalendarPeriod::Monthly, 1_706_742_000_000, 1_706_745_600_000, false)]
    // Sunday 2024-01-07T23:00Z and Monday 2024-01-08T00:00Z: a new week.
    #[case(CalendarPeriod::Weekly, 1_704_668_400_000, 1_704_672_000_000, false)]
    // Monday 2024-01-01 and Sunday 2024-01-07: the same week.
    #[case(CalendarPeriod::Weekly, 1_704_067_200_000, 1_704_668_400_000, true)]
    #[case(CalendarPeriod::Daily, 1_704_067_200_000, 1_704_150_000_000, true)]
    #[case(CalendarPeriod::Daily, 1_704_067_200_000, 1_704_153_600_000, false)]
    // 2023-12-31 and 2024-01-01: a new month across a year.
    #[case(CalendarPeriod::Monthly, 1_704_063_600_000, 1_704_067_200_000, false)]
    fn calendar_periods(
        #[case] period: CalendarPeriod,
        #[case] a: i64,
        #[case] b: i64,
        #[case] same: bool,
    ) {
        assert_eq!(period.period_of(a) == period.period_of(b), same);
    }
}
