use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::StoreError;

/// Where the application reads the time of day from: the system clock, or a clock that
/// stands still until it is set or advanced (deterministic tests of schedules, escalation
/// and due dates). Clones share the same manual time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that shows `start` until it is set or advanced.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(start.trunc_subsecs(6)))),
        }
    }

    /// The current instant at the stored precision.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => now(),
            Some(cell) => *cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, to: DateTime<Utc>) {
        if let Some(cell) = &self.manual {
            *cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = to.trunc_subsecs(6);
        }
    }

    /// Moves a manual clock forward by `by` (no effect on the system clock).
    pub fn advance(&self, by: chrono::Duration) {
        if let Some(cell) = &self.manual {
            let mut t = cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *t += by;
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

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
