//! The appointment lifecycle.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Status of an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Scheduled,
    Confirmed,
    EnRoute,
    OnSite,
    Done,
    NoShow,
    Cancelled,
}

/// Actions on an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentAction {
    Confirm,
    Depart,
    Arrive,
    Finish,
    NoShow,
    Cancel,
}

impl AppointmentAction {
    pub const ALL: [AppointmentAction; 6] = [
        AppointmentAction::Confirm,
        AppointmentAction::Depart,
        AppointmentAction::Arrive,
        AppointmentAction::Finish,
        AppointmentAction::NoShow,
        AppointmentAction::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentAction::Confirm => "confirm",
            AppointmentAction::Depart => "depart",
            AppointmentAction::Arrive => "arrive",
            AppointmentAction::Finish => "finish",
            AppointmentAction::NoShow => "no_show",
            AppointmentAction::Cancel => "cancel",
        }
    }
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 7] = [
        AppointmentStatus::Scheduled,
        AppointmentStatus::Confirmed,
        AppointmentStatus::EnRoute,
        AppointmentStatus::OnSite,
        AppointmentStatus::Done,
        AppointmentStatus::NoShow,
        AppointmentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::EnRoute => "en_route",
            AppointmentStatus::OnSite => "on_site",
            AppointmentStatus::Done => "done",
            AppointmentStatus::NoShow => "no_show",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the appointment occupies its people's time (cancelled and no-show ones free it).
    pub fn blocks_time(self) -> bool {
        !matches!(
            self,
            AppointmentStatus::Cancelled | AppointmentStatus::NoShow
        )
    }

    /// Whether it can still be moved or reassigned.
    pub fn is_changeable(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Scheduled | AppointmentStatus::Confirmed
        )
    }

    fn next(self, action: AppointmentAction) -> Option<AppointmentStatus> {
        use AppointmentAction as A;
        use AppointmentStatus as S;
        match (self, action) {
            (S::Scheduled, A::Confirm) => Some(S::Confirmed),
            (S::Scheduled | S::Confirmed, A::Depart) => Some(S::EnRoute),
            (S::Scheduled | S::Confirmed | S::EnRoute, A::Arrive) => Some(S::OnSite),
            (S::OnSite, A::Finish) => Some(S::Done),
            (S::Scheduled | S::Confirmed | S::EnRoute, A::NoShow) => Some(S::NoShow),
            (S::Scheduled | S::Confirmed | S::EnRoute, A::Cancel) => Some(S::Cancelled),
            _ => None,
        }
    }

    /// The status after `action`, or `None` when the action is not allowed now.
    pub fn apply(self, action: AppointmentAction) -> Option<AppointmentStatus> {
        self.next(action)
    }

    /// Actions allowed now.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        AppointmentAction::ALL
            .into_iter()
            .filter(|a| self.next(*a).is_some())
            .map(AppointmentAction::as_str)
            .collect()
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_field_flow() {
        let s = AppointmentStatus::Scheduled;
        let s = s.apply(AppointmentAction::Confirm).expect("confirm");
        let s = s.apply(AppointmentAction::Depart).expect("depart");
        let s = s.apply(AppointmentAction::Arrive).expect("arrive");
        assert_eq!(
            s.apply(AppointmentAction::Cancel),
            None,
            "on site it cannot be cancelled"
        );
        assert_eq!(
            s.apply(AppointmentAction::Finish),
            Some(AppointmentStatus::Done)
        );
        assert!(AppointmentStatus::Done.allowed_actions().is_empty());
    }

    proptest! {
        /// Terminal states stay terminal; only cancelled and no-show free the time.
        #[test]
        fn terminal_states_stay(actions in proptest::collection::vec(0usize..6, 0..20)) {
            let all = AppointmentAction::ALL;
            let mut status = AppointmentStatus::Scheduled;
            for a in actions {
                let terminal = matches!(status, AppointmentStatus::Done | AppointmentStatus::NoShow | AppointmentStatus::Cancelled);
                match status.apply(all[a]) {
                    Some(next) => { prop_assert!(!terminal); status = next; }
                    None => prop_assert!(!status.allowed_actions().contains(&all[a].as_str())),
                }
            }
            prop_assert_eq!(status.blocks_time(), !matches!(status, AppointmentStatus::Cancelled | AppointmentStatus::NoShow));
        }
    }
}
