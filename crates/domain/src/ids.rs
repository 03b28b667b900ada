//! Typed identifiers. All ids are UUID v7 (time-ordered), so ordering by id is ordering by
//! creation time, which keyset pagination relies on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// A tenant: one company using the system.
    TenantId
);
typed_id!(
    /// A user account (staff member) of a tenant.
    UserId
);
typed_id!(
    /// An API key of a tenant, used by integrations.
    ApiKeyId
);
typed_id!(
    /// A sign-in session: one refresh-token family.
    SessionId
);
typed_id!(
    /// A process (kind of job) of a tenant.
    ProcessId
);
typed_id!(
    /// One version of a process's step list.
    ProcessVersionId
);
typed_id!(
    /// A customer of a tenant.
    CustomerId
);
typed_id!(
    /// A service address of a customer.
    SiteId
);
typed_id!(
    /// A work order.
    WorkOrderId
);
typed_id!(
    /// A step instance of a work order.
    StepId
);
typed_id!(
    /// A stored file (photo, signature).
    AttachmentId
);
typed_id!(
    /// An appointment on people's calendars.
    AppointmentId
);
typed_id!(
    /// A service customers can book on the website.
    ServiceId
);
typed_id!(
    /// A booking made through the website widget.
    BookingId
);
typed_id!(
    /// An absence (vacation, sickness) of a user.
    AbsenceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b, "v7 ids created later sort later");
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let a = TenantId::new();
        let parsed: TenantId = a.to_string().parse().expect("parses");
        assert_eq!(a, parsed);
        assert!("not-a-uuid".parse::<TenantId>().is_err());
    }
}
