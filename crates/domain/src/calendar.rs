//! Working time: weekly hours in the tenant's time zone, date exceptions, absences, busy
//! appointments with travel buffers; conversion of local wall-clock times to instants that is
//! correct across daylight-saving changes.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// Minutes in a day; an interval may end at 24:00.
pub const DAY_MINUTES: u16 = 24 * 60;

/// A wall-clock interval within a day, in minutes since local midnight (`end` exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocalInterval {
    pub start: u16,
    pub end: u16,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IntervalError {
    #[error("times are HH:MM between 00:00 and 24:00")]
    Format,
    #[error("an interval must end after it starts")]
    Empty,
    #[error("intervals of one day must not overlap")]
    Overlap,
}

impl LocalInterval {
    /// Parses `"08:00"`–`"12:30"` (end may be `"24:00"`).
    pub fn parse(start: &str, end: &str) -> Result<Self, IntervalError> {
        let start = parse_clock(start)?;
        let end = parse_clock(end)?;
        if end <= start {
            return Err(IntervalError::Empty);
        }
        Ok(Self { start, end })
    }

    pub fn minutes(self) -> u16 {
        self.end - self.start
    }
}

fn parse_clock(text: &str) -> Result<u16, IntervalError> {
    if text == "24:00" {
        return Ok(DAY_MINUTES);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| IntervalError::Format)?;
    u16::try_from(time.signed_duration_since(NaiveTime::MIN).num_minutes())
        .map_err(|_| IntervalError::Format)
}

/// `HH:MM` of minutes since midnight.
pub fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Sorts intervals and refuses overlaps.
pub fn normalize_day(
    mut intervals: Vec<LocalInterval>,
) -> Result<Vec<LocalInterval>, IntervalError> {
    intervals.sort();
    if intervals.windows(2).any(|w| w[1].start < w[0].end) {
        return Err(IntervalError::Overlap);
    }
    Ok(intervals)
}

/// Working hours per weekday, Monday first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyHours(pub [Vec<LocalInterval>; 7]);

impl WeeklyHours {
    /// Monday to Friday with the given intervals, weekends off.
    pub fn weekdays(intervals: &[LocalInterval]) -> Self {
        let mut days: [Vec<LocalInterval>; 7] = Default::default();
        for day in days.iter_mut().take(5) {
            *day = intervals.to_vec();
        }
        Self(days)
    }

    pub fn on(&self, date: NaiveDate) -> &[LocalInterval] {
        let index = date.weekday().num_days_from_monday() as usize;
        self.0.get(index).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The instant of a local wall-clock time. Ambiguous times (clocks turned back) take the
/// earlier instant; times that do not exist (clocks turned forward) take the first instant
/// after the gap. `exact` is false in the latter case.
pub fn local_instant(tz: Tz, date: NaiveDate, minutes: u16) -> (DateTime<Utc>, bool) {
    let midnight = date.and_time(NaiveTime::MIN);
    let wall = midnight + Duration::minutes(i64::from(minutes));
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => (t.with_timezone(&Utc), true),
        chrono::LocalResult::Ambiguous(earlier, _) => (earlier.with_timezone(&Utc), true),
        chrono::LocalResult::None => {
            // Inside a gap: walk forward to the first wall time that exists.
            for step in 1..=240 {
                let later = wall + Duration::minutes(step);
                if let chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) =
                    tz.from_local_datetime(&later)
                {
                    return (t.with_timezone(&Utc), false);
                }
            }
            (Utc.from_utc_datetime(&wall), false)
        }
    }
}

/// The instants of a wall-clock interval on a date.
pub fn interval_span(tz: Tz, date: NaiveDate, interval: LocalInterval) -> Span {
    let (start, _) = local_instant(tz, date, interval.start);
    let end = if interval.end == DAY_MINUTES {
        local_instant(tz, date + Duration::days(1), 0).0
    } else {
        local_instant(tz, date, interval.end).0
    };
    Span::new(start, end)
}

/// The local date and minutes-since-midnight of an instant.
pub fn local_clock(tz: Tz, instant: DateTime<Utc>) -> (NaiveDate, u16) {
    let local = instant.with_timezone(&tz).naive_local();
    let minutes = local
        .time()
        .signed_duration_since(NaiveTime::MIN)
        .num_minutes();
    (local.date(), u16::try_from(minutes).unwrap_or(0))
}

/// An instant interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Grown by `buffer` on both sides.
    pub fn padded(&self, buffer: Duration) -> Span {
        Span {
            start: self.start - buffer,
            end: self.end + buffer,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.start.to_rfc3339(), self.end.to_rfc3339())
    }
}

/// Everything that decides when one person can take an appointment.
#[derive(Debug, Clone, Default)]
pub struct Availability {
    pub weekly: WeeklyHours,
    /// Dates with other hours than usual (empty: day off).
    pub exceptions: BTreeMap<NaiveDate, Vec<LocalInterval>>,
    pub absences: Vec<Span>,
    /// The person's appointments that block time (sorted by start).
    pub busy: Vec<Span>,
    /// Kept free before and after each appointment (travel).
    pub travel_buffer: Duration,
}

impl Availability {
    /// The wall-clock working intervals of a local date (exceptions replace weekly hours).
    pub fn local_intervals(&self, date: NaiveDate) -> &[LocalInterval] {
        self.exceptions
            .get(&date)
            .map(Vec::as_slice)
            .unwrap_or_else(|| self.weekly.on(date))
    }

    /// Working intervals of a local date as instants.
    pub fn working_on(&self, tz: Tz, date: NaiveDate) -> Vec<Span> {
        self.local_intervals(date)
            .iter()
            .map(|i| interval_span(tz, date, *i))
            .filter(|s| s.end > s.start)
            .collect()
    }

    /// Whether `span` lies within one working interval of its local day.
    pub fn within_working_hours(&self, tz: Tz, span: Span) -> bool {
        let (date, _) = local_clock(tz, span.start);
        [date - Duration::days(1), date]
            .iter()
            .any(|d| self.working_on(tz, *d).iter().any(|w| w.contains(&span)))
    }

    /// Whether `span` is clear of absences and of other appointments including the travel
    /// buffer around them.
    pub fn is_free(&self, span: Span) -> bool {
        if self.absences.iter().any(|a| a.overlaps(&span)) {
            return false;
        }
        let padded = span.padded(self.travel_buffer);
        // busy is sorted by start: only appointments starting before our padded end matter.
        let upto = self.busy.partition_point(|b| b.start < padded.end);
        !self.busy[..upto].iter().any(|b| b.overlaps(&padded))
    }
}

/// Why an appointment cannot be placed for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    SlotTaken,
    OutsideWorkingHours,
}

/// Checks an appointment for one person; `override_hours` lets dispatchers book outside
/// working hours, never over other appointments or absences.
pub fn check_placement(
    tz: Tz,
    availability: &Availability,
    span: Span,
    override_hours: bool,
) -> Result<(), Conflict> {
    if !availability.is_free(span) {
        return Err(Conflict::SlotTaken);
    }
    if !override_hours && !availability.within_working_hours(tz, span) {
        return Err(Conflict::OutsideWorkingHours);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("valid instant")
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid date")
    }

    #[test]
    fn intervals_parse_and_refuse_overlaps() {
        assert_eq!(
            LocalInterval::parse("08:00", "12:30"),
            Ok(LocalInterval {
                start: 480,
                end: 750
            })
        );
        assert_eq!(
            LocalInterval::parse("08:00", "24:00").map(|i| i.end),
            Ok(1440)
        );
        assert_eq!(
            LocalInterval::parse("12:00", "08:00"),
            Err(IntervalError::Empty)
        );
        assert_eq!(
            LocalInterval::parse("8am", "9am"),
            Err(IntervalError::Format)
        );
        let a = LocalInterval {
            start: 480,
            end: 720,
        };
        let b = LocalInterval {
            start: 700,
            end: 800,
        };
        assert_eq!(normalize_day(vec![b, a]), Err(IntervalError::Overlap));
        assert_eq!(format_clock(750), "12:30");
    }

    #[test]
    fn berlin_working_day_is_utc_plus_one_in_winter_and_plus_two_in_summer() {
        let tz = chrono_tz::Europe::Berlin;
        let a = Availability {
            weekly: WeeklyHours::weekdays(&[LocalInterval {
                start: 480,
                end: 1020,
            }]),
            ..Default::default()
        };
        assert_eq!(
            a.working_on(tz, date("2026-01-14")),
            [Span::new(
                at("2026-01-14T07:00:00Z"),
                at("2026-01-14T16:00:00Z")
            )]
        );
        assert_eq!(
            a.working_on(tz, date("2026-07-15")),
            [Span::new(
                at("2026-07-15T06:00:00Z"),
                at("2026-07-15T15:00:00Z")
            )]
        );
        assert!(
            a.working_on(tz, date("2026-07-18")).is_empty(),
            "Saturday off"
        );
    }

    #[test]
    fn spring_forward_skips_the_missing_hour_and_fall_back_takes_the_earlier() {
        let tz = chrono_tz::Europe::Berlin;
        // 2026-03-29: 02:00 → 03:00 local. 02:30 does not exist.
        let (t, exact) = local_instant(tz, date("2026-03-29"), 150);
        assert!(!exact);
        assert_eq!(
            t,
            at("2026-03-29T01:00:00Z"),
            "first instant after the gap (03:00 CEST)"
        );
        // 2026-10-25: 03:00 → 02:00 local. 02:30 happens twice; the earlier (CEST) is taken.
        let (t, exact) = local_instant(tz, date("2026-10-25"), 150);
        assert!(exact);
        assert_eq!(t, at("2026-10-25T00:30:00Z"));
        // A night shift 00:00–06:00 is 7 real hours on the October Sunday, 5 on the March one.
        let night = Availability {
            weekly: WeeklyHours([
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![LocalInterval { start: 0, end: 360 }],
            ]),
            ..Default::default()
        };
        let october = night.working_on(tz, date("2026-10-25"));
        assert_eq!(october[0].end - october[0].start, Duration::hours(7));
        let march = night.working_on(tz, date("2026-03-29"));
        assert_eq!(march[0].end - march[0].start, Duration::hours(5));
    }

    #[test]
    fn exceptions_replace_weekly_hours_and_absences_and_buffers_block() {
        let tz = chrono_tz::Europe::Berlin;
        let mut a = Availability {
            weekly: WeeklyHours::weekdays(&[LocalInterval {
                start: 480,
                end: 1020,
            }]),
            ..Default::default()
        };
        a.exceptions.insert(date("2026-01-14"), vec![]);
        assert!(a.working_on(tz, date("2026-01-14")).is_empty());
        a.busy = vec![Span::new(
            at("2026-01-15T09:00:00Z"),
            at("2026-01-15T10:00:00Z"),
        )];
        a.travel_buffer = Duration::minutes(30);
        assert!(
            !a.is_free(Span::new(
                at("2026-01-15T10:15:00Z"),
                at("2026-01-15T11:00:00Z")
            )),
            "inside the buffer"
        );
        assert!(
            a.is_free(Span::new(
                at("2026-01-15T10:30:00Z"),
                at("2026-01-15T11:00:00Z")
            )),
            "right after the buffer"
        );
        a.absences = vec![Span::new(
            at("2026-01-16T00:00:00Z"),
            at("2026-01-17T00:00:00Z"),
        )];
        assert!(!a.is_free(Span::new(
            at("2026-01-16T08:00:00Z"),
            at("2026-01-16T09:00:00Z")
        )));
        let span = Span::new(at("2026-01-15T17:00:00Z"), at("2026-01-15T18:00:00Z"));
        assert_eq!(
            check_placement(tz, &a, span, false),
            Err(Conflict::OutsideWorkingHours)
        );
        assert_eq!(check_placement(tz, &a, span, true), Ok(()));
        let clash = Span::new(at("2026-01-15T09:30:00Z"), at("2026-01-15T10:00:00Z"));
        assert_eq!(
            check_placement(tz, &a, clash, true),
            Err(Conflict::SlotTaken),
            "never over other appointments"
        );
    }
}
