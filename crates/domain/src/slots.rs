//! Slot finding: free appointment start times and who could take each. A pure function over
//! the people's availability, so it can be tested without a database and measured alone.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

use crate::UserId;
use crate::calendar::{Availability, Span, interval_span, local_instant};

/// The service's rules for slots.
#[derive(Debug, Clone, Copy)]
pub struct SlotRules {
    pub duration: Duration,
    /// Starts are aligned to multiples of this many minutes after local midnight.
    pub granularity_minutes: u16,
    /// No start before this (now + lead time).
    pub earliest_start: DateTime<Utc>,
    /// No start after this (now + booking horizon).
    pub latest_start: DateTime<Utc>,
}

/// A free start time and the people who could take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub people: Vec<UserId>,
}

/// Free slots on the local dates `from..=to`, sorted by start. A start qualifies for a person
/// when the whole appointment lies in one of their working intervals, clear of absences and of
/// other appointments including the travel buffer. Wall-clock starts that do not exist (the
/// hour skipped when clocks go forward) are left out; starts in the repeated hour when clocks
/// go back are offered once.
pub fn find_slots(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    rules: &SlotRules,
    people: &[(UserId, &Availability)],
) -> Vec<Slot> {
    let granularity = rules.granularity_minutes.max(1);
    let mut found: BTreeMap<DateTime<Utc>, Vec<UserId>> = BTreeMap::new();
    let mut date = from;
    while date <= to {
        for (person, availability) in people {
            for interval in availability.local_intervals(date) {
                let window = interval_span(tz, date, *interval);
                let mut minute = interval.start.div_ceil(granularity) * granularity;
                while minute < interval.end {
                    let (start, exact) = local_instant(tz, date, minute);
                    minute = minute.saturating_add(granularity);
                    if !exact || start < rules.earliest_start || start > rules.latest_start {
                        continue;
                    }
                    let span = Span::new(start, start + rules.duration);
                    if span.end > window.end {
                        break;
                    }
                    if span.start >= window.start && availability.is_free(span) {
                        found.entry(start).or_default().push(*person);
                    }
                }
            }
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    found
        .into_iter()
        .map(|(start, mut people)| {
            people.sort();
            people.dedup();
            Slot {
                start,
                end: start + rules.duration,
                people,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{LocalInterval, WeeklyHours};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("valid instant")
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid date")
    }

    fn rules(minutes: i64) -> SlotRules {
        SlotRules {
            duration: Duration::minutes(minutes),
            granularity_minutes: 60,
            earliest_start: at("2000-01-01T00:00:00Z"),
            latest_start: at("2100-01-01T00:00:00Z"),
        }
    }

    fn every_day(start: u16, end: u16) -> Availability {
        let day = vec![LocalInterval { start, end }];
        Availability {
            weekly: WeeklyHours(std::array::from_fn(|_| day.clone())),
            ..Default::default()
        }
    }

    #[test]
    fn slots_fill_working_hours_and_name_the_people() {
        let tz = chrono_tz::Europe::Berlin;
        let (a, b) = (UserId::new(), UserId::new());
        let morning = every_day(8 * 60, 12 * 60);
        let mut busy = every_day(8 * 60, 12 * 60);
        busy.busy = vec![Span::new(
            at("2026-01-14T08:00:00Z"),
            at("2026-01-14T09:00:00Z"),
        )];
        busy.travel_buffer = Duration::minutes(30);
        let slots = find_slots(
            tz,
            date("2026-01-14"),
            date("2026-01-14"),
            &rules(60),
            &[(a, &morning), (b, &busy)],
        );
        let starts: Vec<String> = slots
            .iter()
            .map(|s| s.start.format("%H:%M").to_string())
            .collect();
        assert_eq!(
            starts,
            ["07:00", "08:00", "09:00", "10:00"],
            "08:00–12:00 local is 07:00–11:00 UTC"
        );
        assert_eq!(
            slots[0].people.len(),
            1,
            "b's 07:00 slot would end inside the buffer before 08:00"
        );
        assert_eq!(slots[1].people, vec![a], "b is busy 08:00–09:00 UTC");
        assert_eq!(slots[2].people, vec![a], "b's buffer runs until 09:30 UTC");
        assert_eq!(slots[3].people.len(), 2);
    }

    #[test]
    fn lead_time_and_horizon_bound_the_starts() {
        let tz = chrono_tz::Europe::Berlin;
        let a = UserId::new();
        let availability = every_day(8 * 60, 12 * 60);
        let mut r = rules(60);
        r.earliest_start = at("2026-01-14T08:30:00Z");
        r.latest_start = at("2026-01-15T08:00:00Z");
        let slots = find_slots(
            tz,
            date("2026-01-14"),
            date("2026-01-16"),
            &r,
            &[(a, &availability)],
        );
        let starts: Vec<String> = slots.iter().map(|s| s.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-01-14T09:00:00+00:00",
                "2026-01-14T10:00:00+00:00",
                "2026-01-15T07:00:00+00:00",
                "2026-01-15T08:00:00+00:00"
            ]
        );
    }

    #[test]
    fn last_sunday_of_march_skips_the_missing_hour() {
        let tz = chrono_tz::Europe::Berlin;
        let a = UserId::new();
        let night = every_day(0, 6 * 60);
        let slots = find_slots(
            tz,
            date("2026-03-29"),
            date("2026-03-29"),
            &rules(60),
            &[(a, &night)],
        );
        let local: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M %Z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "00:00 CET",
                "01:00 CET",
                "03:00 CEST",
                "04:00 CEST",
                "05:00 CEST"
            ],
            "02:00 does not exist that night"
        );
        assert!(slots.windows(2).all(|w| w[0].start < w[1].start));
    }

    #[test]
    fn last_sunday_of_october_offers_the_repeated_hour_once() {
        let tz = chrono_tz::Europe::Berlin;
        let a = UserId::new();
        let night = every_day(0, 6 * 60);
        let slots = find_slots(
            tz,
            date("2026-10-25"),
            date("2026-10-25"),
            &rules(60),
            &[(a, &night)],
        );
        let local: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M %Z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "00:00 CEST",
                "01:00 CEST",
                "02:00 CEST",
                "03:00 CET",
                "04:00 CET",
                "05:00 CET"
            ]
        );
        // The working interval is 7 real hours that night; the last slot still ends inside it.
        assert_eq!(
            slots.last().map(|s| s.end),
            Some(at("2026-10-25T05:00:00Z"))
        );
    }

    #[test]
    fn day_boundaries_and_midnight_ends() {
        let tz = chrono_tz::Europe::Berlin;
        let a = UserId::new();
        let late = every_day(22 * 60, 24 * 60);
        let slots = find_slots(
            tz,
            date("2026-01-14"),
            date("2026-01-15"),
            &rules(60),
            &[(a, &late)],
        );
        let starts: Vec<String> = slots.iter().map(|s| s.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-01-14T21:00:00+00:00",
                "2026-01-14T22:00:00+00:00",
                "2026-01-15T21:00:00+00:00",
                "2026-01-15T22:00:00+00:00"
            ]
        );
        // A 90-minute appointment does not fit a one-hour evening.
        let short = every_day(23 * 60, 24 * 60);
        assert!(
            find_slots(
                tz,
                date("2026-01-14"),
                date("2026-01-14"),
                &rules(90),
                &[(a, &short)]
            )
            .is_empty()
        );
    }
}
