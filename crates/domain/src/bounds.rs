//! Dates and instants from requests lie in the years this product plans for: from
//! 2000-01-01 to the end of 2099. Year 0 or 9999 is a typo or an attack, never a plan.
//! Fields take these through `#[serde(deserialize_with = ...)]`, so a date out of range is a
//! 422 pointing at the field, like any other invalid field. Rules that depend on the field
//! (a payment not in the future, an appointment within five years) come on top.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

/// The first day accepted.
pub const FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The last day accepted.
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2099, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// Whether a day is within the accepted years.
pub fn day_in_range(day: NaiveDate) -> bool {
    (FIRST_DAY..=LAST_DAY).contains(&day)
}

fn out_of_range() -> String {
    format!("must be between {FIRST_DAY} and {LAST_DAY}")
}

/// An instant within the accepted years.
pub fn instant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let value = DateTime::<Utc>::deserialize(deserializer)?;
    if day_in_range(value.date_naive()) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(out_of_range()))
    }
}

/// An optional instant within the accepted years.
pub fn opt_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<DateTime<Utc>>::deserialize(deserializer)? {
        Some(value) if !day_in_range(value.date_naive()) => {
            Err(serde::de::Error::custom(out_of_range()))
        }
        other => Ok(other),
    }
}

/// A field that may be absent (unchanged), `null` (cleared) or an instant in range.
pub fn double_opt_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    opt_instant(deserializer).map(Some)
}

/// A day within the accepted years.
pub fn day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let value = NaiveDate::deserialize(deserializer)?;
    if day_in_range(value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(out_of_range()))
    }
}

/// An optional day within the accepted years.
pub fn opt_day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<NaiveDate>::deserialize(deserializer)? {
        Some(value) if !day_in_range(value) => Err(serde::de::Error::custom(out_of_range())),
        other => Ok(other),
    }
}

/// A list of at most `MAX` items (`deserialize_with = "capped::<_, _, 50>"`): the items
/// past the limit are not even read.
pub fn capped<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Capped<T, const MAX: usize>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const MAX: usize> serde::de::Visitor<'de> for Capped<T, MAX> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX} items")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<T>()? {
                if items.len() == MAX {
                    return Err(serde::de::Error::custom(format!("at most {MAX} items")));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(Capped::<T, MAX>(std::marker::PhantomData))
}

/// An optional list of at most `MAX` items.
pub fn opt_capped<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Wrap<T, const MAX: usize>(Vec<T>);
    impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Wrap<T, MAX> {
        fn deserialize<D2: Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
            capped::<D2, T, MAX>(d).map(Wrap)
        }
    }
    Ok(Option::<Wrap<T, MAX>>::deserialize(deserializer)?.map(|w| w.0))
}

/// How far back something may be recorded (a visit entered afterwards).
pub const PLANNING_PAST: chrono::Duration = chrono::Duration::days(366);
/// How far ahead something may be planned (appointments, absences).
pub const PLANNING_AHEAD: chrono::Duration = chrono::Duration::days(5 * 366);

/// Whether an appointment or absence time lies in the window that can be planned: a year
/// back to five years ahead of `now`.
pub fn in_planning_window(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at >= now - PLANNING_PAST && at <= now + PLANNING_AHEAD
}

/// The message for a time outside the planning window.
pub const PLANNING_WINDOW: &str = "must lie between a year ago and five years ahead";

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "instant")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "opt_day")]
        on: Option<NaiveDate>,
    }

    #[derive(Deserialize)]
    struct List {
        #[serde(deserialize_with = "capped::<_, _, 3>")]
        items: Vec<u8>,
        #[serde(default, deserialize_with = "opt_capped::<_, _, 2>")]
        more: Option<Vec<u8>>,
    }

    #[test]
    fn lists_have_a_cap() {
        assert!(serde_json::from_str::<List>(r#"{"items": [1, 2, 3], "more": [1, 2]}"#).is_ok());
        assert!(serde_json::from_str::<List>(r#"{"items": [1, 2, 3, 4]}"#).is_err());
        assert!(serde_json::from_str::<List>(r#"{"items": [], "more": [1, 2, 3]}"#).is_err());
        let none: List = serde_json::from_str(r#"{"items": []}"#).expect("ok");
        assert!(none.more.is_none() && none.items.is_empty());
    }

    #[test]
    fn years_outside_the_plan_are_refused() {
        let ok: Result<Probe, _> =
            serde_json::from_str(r#"{"at": "2026-12-07T09:00:00Z", "on": "2099-12-31"}"#);
        assert!(ok.is_ok());
        for bad in [
            r#"{"at": "0000-01-01T00:00:00Z"}"#,
            r#"{"at": "9999-12-31T23:59:59Z"}"#,
            r#"{"at": "2026-12-07T09:00:00Z", "on": "1999-12-31"}"#,
            r#"{"at": "2026-12-07T09:00:00Z", "on": "2100-01-01"}"#,
        ] {
            assert!(serde_json::from_str::<Probe>(bad).is_err(), "{bad}");
        }
        let missing: Probe =
            serde_json::from_str(r#"{"at": "2026-12-07T09:00:00Z"}"#).expect("optional");
        assert!(missing.on.is_none());
        assert_eq!(missing.at.date_naive().to_string(), "2026-12-07");
    }
}
