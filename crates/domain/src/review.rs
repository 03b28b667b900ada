//! Review schedules: when reviews fall due, in the tenant's time zone.
//!
//! A schedule has a cadence (`daily`, `weekly` on Mondays, `monthly` on the 1st, `quarterly`
//! on 1 January/April/July/October, or an RFC 5545 `RRULE`) and a local time of day. Each
//! occurrence creates one review. The review covers the period since the previous
//! occurrence and is due (signed off) by the next one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rrule::{Frequency, RRule, RRuleSet, Unvalidated};
use serde::{Deserialize, Serialize};

/// How often reviews fall due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Daily,
    /// Mondays.
    Weekly,
    /// The first of the month.
    Monthly,
    /// 1 January, 1 April, 1 July, 1 October.
    Quarterly,
    /// The schedule's own `RRULE`.
    Rrule,
}

impl Cadence {
    pub const fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
            Cadence::Quarterly => "quarterly",
            Cadence::Rrule => "rrule",
        }
    }
}

impl FromStr for Cadence {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Cadence::Daily,
            Cadence::Weekly,
            Cadence::Monthly,
            Cadence::Quarterly,
            Cadence::Rrule,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| format!("unknown cadence `{s}`"))
    }
}

/// Why a recurrence is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurrenceError(pub String);

impl fmt::Display for RecurrenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecurrenceError {}

/// Occurrences are generated from this many days before the schedule starts, so the first
/// review also has a previous occurrence (its period start).
const LEAD_DAYS: i64 = 400;
/// Upper bound on occurrences walked per question (a daily rule over 270 years).
const MAX_STEPS: usize = 100_000;

/// The occurrences of a schedule.
#[derive(Debug, Clone)]
pub struct Recurrence {
    set: RRuleSet,
    tz: chrono_tz::Tz,
}

/// An occurrence with its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The occurrence before (the reviewed period starts here).
    pub previous: DateTime<Utc>,
    pub occurrence: DateTime<Utc>,
    /// The occurrence after, or one period later when the rule has ended: the sign-off is
    /// due then.
    pub next: DateTime<Utc>,
}

impl Recurrence {
    /// The occurrences of `cadence` at `time` (local, in `tz`), from `starts_on`. `rrule` is
    /// the rule (without `DTSTART`) for `Cadence::Rrule` and must be absent otherwise.
    pub fn new(
        cadence: Cadence,
        rrule: Option<&str>,
        time: NaiveTime,
        tz: chrono_tz::Tz,
        starts_on: NaiveDate,
    ) -> Result<Self, RecurrenceError> {
        let text = match (cadence, rrule) {
            (Cadence::Rrule, Some(rule)) => {
                let rule = rule.trim();
                let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
                if rule.contains('\n') || rule.to_ascii_uppercase().contains("DTSTART") {
                    return Err(RecurrenceError(
                        "give only the RRULE value (FREQ=...;...); the start comes from `starts_on` and `time`"
                            .to_owned(),
                    ));
                }
                rule.to_owned()
            }
            (Cadence::Rrule, None) => {
                return Err(RecurrenceError(
                    "cadence `rrule` needs an `rrule`".to_owned(),
                ));
            }
            (_, Some(_)) => {
                return Err(RecurrenceError(
                    "`rrule` is only allowed with cadence `rrule`".to_owned(),
                ));
            }
            (Cadence::Daily, None) => "FREQ=DAILY".to_owned(),
            (Cadence::Weekly, None) => "FREQ=WEEKLY;BYDAY=MO".to_owned(),
            (Cadence::Monthly, None) => "FREQ=MONTHLY;BYMONTHDAY=1".to_owned(),
            (Cadence::Quarterly, None) => "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYMONTHDAY=1".to_owned(),
        };
        let rule: RRule<Unvalidated> = text
            .parse()
            .map_err(|e| RecurrenceError(format!("not a valid RRULE: {e}")))?;
        if matches!(
            rule.get_freq(),
            Frequency::Hourly | Frequency::Minutely | Frequency::Secondly
        ) {
            return Err(RecurrenceError(
                "reviews fall due at most daily: FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"
                    .to_owned(),
            ));
        }
        if rule.get_count().is_some() {
            return Err(RecurrenceError(
                "COUNT is not supported: end a schedule with UNTIL or by deactivating it"
                    .to_owned(),
            ));
        }
        let rtz = rrule::Tz::Tz(tz);
        let lead = starts_on - Duration::days(LEAD_DAYS);
        let local = lead.and_time(time);
        let dt_start = rtz
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                rtz.from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })
            .ok_or_else(|| RecurrenceError("the start time does not exist".to_owned()))?;
        let set = rule
            .build(dt_start)
            .map_err(|e| RecurrenceError(format!("not a valid RRULE: {e}")))?;
        let recurrence = Self { set, tz };
        if recurrence.walk().next().is_none() {
            return Err(RecurrenceError("the rule never occurs".to_owned()));
        }
        Ok(recurrence)
    }

    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    fn walk(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        // `limit` makes the iterator give up on rules that never match (30 February)
        // instead of searching forever.
        self.set
            .clone()
            .limit()
            .into_iter()
            .take(MAX_STEPS)
            .map(|d| d.with_timezone(&Utc))
    }

    /// The first occurrence strictly after `after`, if the rule has one.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.walk().find(|d| *d > after)
    }

    /// The occurrence `at` (which must be one) with its neighbours.
    pub fn window(&self, at: DateTime<Utc>) -> Option<Window> {
        let mut previous = None;
        let mut found = None;
        for d in self.walk() {
            match found {
                None if d == at => found = Some(d),
                None if d > at => return None,
                None => previous = Some(d),
                Some(occurrence) => {
                    return previous.map(|previous| Window {
                        previous,
                        occurrence,
                        next: d,
                    });
                }
            }
        }
        let occurrence = found?;
        let previous = previous?;
        Some(Window {
            previous,
            occurrence,
            next: occurrence + (occurrence - previous),
        })
    }
}

/// A review is late when it was created more than `tolerance` after its occurrence (the
/// servers were down, or the worker behind).
pub fn is_late(occurrence: DateTime<Utc>, created: DateTime<Utc>, tolerance: Duration) -> bool {
    created - occurrence > tolerance
}

/// A review's state: open until the reviewer signs it off; signed-off reviews are frozen
/// (decisions may still be linked to the process version that implemented them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Open,
    SignedOff,
}

impl ReviewStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::SignedOff => "signed_off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(ReviewStatus::Open),
            "signed_off" => Some(ReviewStatus::SignedOff),
            _ => None,
        }
    }
}

/// What a review lists for the reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    OverdueStep,
    StuckOrder,
    FlaggedAssignment,
    MissedAppointment,
    FailedEmail,
    FailedWebhook,
    OverdueInvoice,
    CancelledBooking,
}

impl ItemKind {
    pub const ALL: [ItemKind; 8] = [
        ItemKind::OverdueStep,
        ItemKind::StuckOrder,
        ItemKind::FlaggedAssignment,
        ItemKind::MissedAppointment,
        ItemKind::FailedEmail,
        ItemKind::FailedWebhook,
        ItemKind::OverdueInvoice,
        ItemKind::CancelledBooking,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ItemKind::OverdueStep => "overdue_step",
            ItemKind::StuckOrder => "stuck_order",
            ItemKind::FlaggedAssignment => "flagged_assignment",
            ItemKind::MissedAppointment => "missed_appointment",
            ItemKind::FailedEmail => "failed_email",
            ItemKind::FailedWebhook => "failed_webhook",
            ItemKind::OverdueInvoice => "overdue_invoice",
            ItemKind::CancelledBooking => "cancelled_booking",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ItemKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};
    use proptest::prelude::*;

    fn berlin() -> chrono_tz::Tz {
        chrono_tz::Europe::Berlin
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid")
    }

    fn eight() -> NaiveTime {
        NaiveTime::from_hms_opt(8, 0, 0).expect("valid")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid")
    }

    #[test]
    fn daily_at_eight_berlin_across_the_dst_change() {
        let r = Recurrence::new(Cadence::Daily, None, eight(), berlin(), date(2026, 10, 1))
            .expect("valid");
        // 24 October 2026 is CEST (UTC+2), 26 October CET (UTC+1).
        assert_eq!(
            r.next_after(at(2026, 10, 24, 5, 0)),
            Some(at(2026, 10, 24, 6, 0))
        );
        assert_eq!(
            r.next_after(at(2026, 10, 25, 7, 0)),
            Some(at(2026, 10, 26, 7, 0))
        );
        let w = r.window(at(2026, 10, 26, 7, 0)).expect("an occurrence");
        assert_eq!(w.previous, at(2026, 10, 25, 7, 0));
        assert_eq!(w.next, at(2026, 10, 27, 7, 0));
        assert_eq!(r.window(at(2026, 10, 26, 7, 1)), None);
    }

    #[test]
    fn weekly_monthly_quarterly_fall_on_their_days() {
        let weekly = Recurrence::new(Cadence::Weekly, None, eight(), berlin(), date(2026, 11, 1))
            .expect("valid");
        let next = weekly.next_after(at(2026, 11, 27, 12, 0)).expect("next");
        assert_eq!(next, at(2026, 11, 30, 7, 0));
        assert_eq!(next.with_timezone(&berlin()).weekday(), Weekday::Mon);
        let monthly = Recurrence::new(Cadence::Monthly, None, eight(), berlin(), date(2026, 11, 1))
            .expect("valid");
        assert_eq!(
            monthly.next_after(at(2026, 11, 27, 12, 0)),
            Some(at(2026, 12, 1, 7, 0))
        );
        let quarterly = Recurrence::new(
            Cadence::Quarterly,
            None,
            eight(),
            berlin(),
            date(2026, 11, 1),
        )
        .expect("valid");
        assert_eq!(
            quarterly.next_after(at(2026, 11, 27, 12, 0)),
            Some(at(2027, 1, 1, 7, 0))
        );
        let w = quarterly.window(at(2027, 1, 1, 7, 0)).expect("occurrence");
        assert_eq!(w.previous, at(2026, 10, 1, 6, 0));
        assert_eq!(w.next, at(2027, 4, 1, 6, 0));
    }

    #[test]
    fn rrule_schedules_and_their_refusals() {
        let r = Recurrence::new(
            Cadence::Rrule,
            Some("FREQ=WEEKLY;BYDAY=TU,FR"),
            eight(),
            berlin(),
            date(2026, 11, 1),
        )
        .expect("valid");
        assert_eq!(
            r.next_after(at(2026, 11, 27, 12, 0)),
            Some(at(2026, 12, 1, 7, 0))
        );
        // A rule that ended: the last occurrence is due one period later.
        let ended = Recurrence::new(
            Cadence::Rrule,
            Some("RRULE:FREQ=DAILY;UNTIL=20261103T000000Z"),
            eight(),
            chrono_tz::UTC,
            date(2026, 11, 1),
        )
        .expect("valid");
        assert_eq!(ended.next_after(at(2026, 11, 2, 9, 0)), None);
        let w = ended.window(at(2026, 11, 2, 8, 0)).expect("occurrence");
        assert_eq!(w.next, at(2026, 11, 3, 8, 0));
        for (cadence, rule, why) in [
            (Cadence::Rrule, Some("FREQ=HOURLY"), "at most daily"),
            (Cadence::Rrule, Some("FREQ=DAILY;COUNT=3"), "COUNT"),
            (Cadence::Rrule, Some("FREQ=SOMETIMES"), "not a valid RRULE"),
            (Cadence::Rrule, None, "needs an `rrule`"),
            (
                Cadence::Rrule,
                Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
                "never",
            ),
            (Cadence::Daily, Some("FREQ=DAILY"), "only allowed"),
            (
                Cadence::Rrule,
                Some("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY"),
                "only the RRULE",
            ),
        ] {
            let e = Recurrence::new(cadence, rule, eight(), berlin(), date(2026, 11, 1))
                .expect_err(why);
            assert!(e.0.contains(why), "{why}: {}", e.0);
        }
    }

    #[test]
    fn lateness_is_measured_from_the_occurrence() {
        let o = at(2026, 11, 27, 7, 0);
        assert!(!is_late(
            o,
            o + Duration::minutes(15),
            Duration::minutes(15)
        ));
        assert!(is_late(o, o + Duration::minutes(16), Duration::minutes(15)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the cadence and the instant: the next occurrence is later, is at the local
        /// time of day (or the hour after, in a spring-forward gap), and its window is
        /// ordered and consistent with `next_after`.
        #[test]
        fn occurrences_are_ordered_and_local(
            cadence in prop::sample::select(vec![Cadence::Daily, Cadence::Weekly, Cadence::Monthly, Cadence::Quarterly]),
            hour in 0u32..24,
            minute in prop::sample::select(vec![0u32, 15, 30, 45]),
            offset_hours in 0i64..(24 * 800),
            zone in prop::sample::select(vec![chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::UTC]),
        ) {
            let time = NaiveTime::from_hms_opt(hour, minute, 0).expect("valid");
            let r = Recurrence::new(cadence, None, time, zone, date(2026, 1, 1)).expect("valid");
            let t = at(2026, 1, 1, 0, 0) + Duration::hours(offset_hours);
            let next = r.next_after(t).expect("endless rule");
            prop_assert!(next > t);
            let local = next.with_timezone(&zone);
            prop_assert!(local.minute() == minute);
            prop_assert!(local.hour() == hour || local.hour() == (hour + 1) % 24);
            let w = r.window(next).expect("an occurrence has a window");
            prop_assert!(w.previous < w.occurrence && w.occurrence < w.next);
            prop_assert_eq!(r.next_after(w.previous), Some(next));
            prop_assert_eq!(r.next_after(next), Some(w.next));
        }
    }
}
