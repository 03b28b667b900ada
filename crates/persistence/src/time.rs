use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::StoreError;

/// The current instant at the precision that is stored (microseconds), so that what a
/// response shows right after a write equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Instants are stored as fixed-width RFC 3339 UTC text with microseconds, so that text order
/// is time order on both backends.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_instant(column: &'static str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            column,
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_sort_as_text() {
        let a = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("valid");
        let b = a + chrono::Duration::microseconds(1);
        assert!(format_instant(a) < format_instant(b));
        assert_eq!(format_instant(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(parse_instant("t", &format_instant(b)).ok(), Some(b));
    }
}
