//! Roles, API-key scopes, permissions, the password policy and the refresh-token rotation rule.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A staff member's role within a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Dispatcher,
    Technician,
    Reviewer,
    Accountant,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Admin,
        Role::Dispatcher,
        Role::Technician,
        Role::Reviewer,
        Role::Accountant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Technician => "technician",
            Role::Reviewer => "reviewer",
            Role::Accountant => "accountant",
        }
    }

    /// Whether this role may do `permission`.
    pub fn permits(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => permission != ManageOwners,
            Role::Dispatcher => matches!(
                permission,
                UsersRead
                    | ProcessesRead
                    | CustomersRead
                    | CustomersWrite
                    | WorkOrdersRead
                    | WorkOrdersWrite
                    | StepsWorkOwn
            ),
            Role::Technician => matches!(
                permission,
                UsersRead | ProcessesRead | WorkOrdersReadOwn | StepsWorkOwn
            ),
            Role::Reviewer => matches!(
                permission,
                UsersRead | ProcessesRead | CustomersRead | WorkOrdersRead | StepsWorkOwn
            ),
            Role::Accountant => matches!(
                permission,
                UsersRead
                    | ProcessesRead
                    | CustomersRead
                    | CustomersWrite
                    | WorkOrdersRead
                    | BillingRead
                    | BillingWrite
                    | StepsWorkOwn
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "unknown role `{0}`; expected one of owner, admin, dispatcher, technician, reviewer, accountant"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Something a caller may be allowed to do. Handlers ask for a permission; roles and API-key
/// scopes grant them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the tenant's users.
    UsersRead,
    /// Create, change and deactivate users (never owners: see `ManageOwners`).
    UsersWrite,
    /// Create, change, deactivate owners, and grant or take away the owner role.
    ManageOwners,
    /// Create, list and revoke API keys.
    ApiKeysManage,
    /// Change tenant settings.
    TenantWrite,
    /// Read process maps.
    ProcessesRead,
    /// Create, version, publish and archive process maps.
    ProcessesWrite,
    /// Read customers and sites.
    CustomersRead,
    /// Create, change and delete customers and sites.
    CustomersWrite,
    /// Read every work order of the tenant.
    WorkOrdersRead,
    /// Read the work orders one holds or held a step of.
    WorkOrdersReadOwn,
    /// Create and change work orders, act on any step, reassign.
    WorkOrdersWrite,
    /// Act on the steps one is responsible for.
    StepsWorkOwn,
    /// Read quotes, invoices, credit notes, payments, the billing profile and customer
    /// e-mails about them.
    BillingRead,
    /// Create and send quotes and invoices, record payments, issue credit notes, mark orders
    /// invoiced and close them.
    BillingWrite,
}

impl Permission {
    pub const ALL: [Permission; 15] = [
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::ManageOwners,
        Permission::ApiKeysManage,
        Permission::TenantWrite,
        Permission::ProcessesRead,
        Permission::ProcessesWrite,
        Permission::CustomersRead,
        Permission::CustomersWrite,
        Permission::WorkOrdersRead,
        Permission::WorkOrdersReadOwn,
        Permission::WorkOrdersWrite,
        Permission::StepsWorkOwn,
        Permission::BillingRead,
        Permission::BillingWrite,
    ];

    /// The permission's name in problem responses (`required_permission`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::ManageOwners => "owners:manage",
            Permission::ApiKeysManage => "api_keys:manage",
            Permission::TenantWrite => "tenant:write",
            Permission::ProcessesRead => "processes:read",
            Permission::ProcessesWrite => "processes:write",
            Permission::CustomersRead => "customers:read",
            Permission::CustomersWrite => "customers:write",
            Permission::WorkOrdersRead => "work_orders:read",
            Permission::WorkOrdersReadOwn => "work_orders:read_own",
            Permission::WorkOrdersWrite => "work_orders:write",
            Permission::StepsWorkOwn => "steps:work_own",
            Permission::BillingRead => "billing:read",
            Permission::BillingWrite => "billing:write",
        }
    }

    /// The narrowest API-key scope that grants this permission; `None` for what stays with
    /// people (owners, API keys, tenant settings, "own" work).
    pub fn scope(self) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.grants(self))
    }

    /// The roles that have this permission.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.permits(self)).collect()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope an API key can be given. Scopes are coarse on purpose: one read and one write scope
/// per resource family. The read scope of a family comes first, so that
/// [`Permission::scope`] finds the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "processes:read")]
    ProcessesRead,
    #[serde(rename = "processes:write")]
    ProcessesWrite,
    #[serde(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "customers:write")]
    CustomersWrite,
    #[serde(rename = "work_orders:read")]
    WorkOrdersRead,
    #[serde(rename = "work_orders:write")]
    WorkOrdersWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "billing:write")]
    BillingWrite,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::ProcessesRead,
        Scope::ProcessesWrite,
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::WorkOrdersRead,
        Scope::WorkOrdersWrite,
        Scope::BillingRead,
        Scope::BillingWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::ProcessesRead => "processes:read",
            Scope::ProcessesWrite => "processes:write",
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::WorkOrdersRead => "work_orders:read",
            Scope::WorkOrdersWrite => "work_orders:write",
            Scope::BillingRead => "billing:read",
            Scope::BillingWrite => "billing:write",
        }
    }

    /// Whether this scope grants `permission`. API keys never manage owners, API keys or the
    /// tenant itself: those stay with people. `users:write` changes staff below admin only
    /// (the user routes refuse keys on owners and admins).
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Scope::UsersRead => permission == UsersRead,
            Scope::UsersWrite => matches!(permission, UsersRead | UsersWrite),
            Scope::ProcessesRead => permission == ProcessesRead,
            Scope::ProcessesWrite => matches!(permission, ProcessesRead | ProcessesWrite),
            Scope::CustomersRead => permission == CustomersRead,
            Scope::CustomersWrite => matches!(permission, CustomersRead | CustomersWrite),
            Scope::WorkOrdersRead => permission == WorkOrdersRead,
            Scope::WorkOrdersWrite => matches!(permission, WorkOrdersRead | WorkOrdersWrite),
            Scope::BillingRead => permission == BillingRead,
            Scope::BillingWrite => matches!(permission, BillingRead | BillingWrite),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Minimum password length (OWASP ASVS 2.1.1 asks for at least 12 characters).
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Maximum password length; bounds the hashing work an attacker can ask for.
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A password that satisfies the policy. Its `Debug` output never shows the text.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must have at least {PASSWORD_MIN_CHARS} characters")]
    TooShort,
    #[error("password must have at most {PASSWORD_MAX_CHARS} characters")]
    TooLong,
}

impl NewPassword {
    pub fn parse(text: &str) -> Result<Self, PasswordError> {
        let chars = text.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(PasswordError::TooShort)
        } else if chars > PASSWORD_MAX_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// What the server knows about a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTokenState {
    /// The token was already exchanged for a newer one.
    pub used: bool,
    /// The token's family (session) was revoked: logout, reuse detection, deactivation.
    pub family_revoked: bool,
    /// The token is past its expiry.
    pub expired: bool,
    /// The token was exchanged within the grace period, the token it was exchanged for is
    /// still unused, and that pair is on record: a retry whose answer was lost.
    pub retry_within_grace: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Issue a new token pair and mark this token used.
    Rotate,
    /// A token that was already rotated came back: someone holds a stolen copy. Revoke the
    /// whole family so that neither the thief nor the victim can go on with it.
    RevokeFamily,
    /// Refuse without side effects (expired or already revoked).
    Reject,
    /// A handheld on a bad network retried a refresh whose answer it lost: answer with the
    /// same pair again (no new token, no revocation).
    ReplaySuccessor,
}

/// The rotation rule (OAuth 2.0 Security BCP, refresh token rotation with reuse detection,
/// with a short grace period for retries, like Auth0's reuse interval).
pub fn decide_refresh(state: RefreshTokenState) -> RefreshDecision {
    if state.family_revoked {
        RefreshDecision::Reject
    } else if state.used && state.retry_within_grace {
        RefreshDecision::ReplaySuccessor
    } else if state.used {
        RefreshDecision::RevokeFamily
    } else if state.expired {
        RefreshDecision::Reject
    } else {
        RefreshDecision::Rotate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn only_owners_manage_owners() {
        for role in Role::ALL {
            assert_eq!(role.permits(Permission::ManageOwners), role == Role::Owner);
        }
    }

    #[test]
    fn billing_is_for_owners_admins_and_accountants() {
        for permission in [Permission::BillingRead, Permission::BillingWrite] {
            assert_eq!(
                permission.roles(),
                vec![Role::Owner, Role::Admin, Role::Accountant]
            );
        }
        assert_eq!(Permission::BillingRead.scope(), Some(Scope::BillingRead));
        assert_eq!(Permission::BillingWrite.scope(), Some(Scope::BillingWrite));
        for scope in [Scope::WorkOrdersRead, Scope::WorkOrdersWrite] {
            assert!(!scope.grants(Permission::BillingRead));
            assert!(!scope.grants(Permission::BillingWrite));
        }
    }

    #[test]
    fn every_permission_names_its_narrowest_scope() {
        for permission in Permission::ALL {
            assert!(
                Permission::ALL
                    .iter()
                    .filter(|p| p.as_str() == permission.as_str())
                    .count()
                    == 1
            );
            if let Some(scope) = permission.scope() {
                assert!(scope.grants(permission));
                // No scope that grants it grants fewer permissions.
                let granted = |s: Scope| Permission::ALL.iter().filter(|p| s.grants(**p)).count();
                for other in Scope::ALL.into_iter().filter(|s| s.grants(permission)) {
                    assert!(
                        granted(scope) <= granted(other),
                        "{permission}: {scope} vs {other}"
                    );
                }
            }
        }
        for permission in [
            Permission::ManageOwners,
            Permission::ApiKeysManage,
            Permission::TenantWrite,
            Permission::WorkOrdersReadOwn,
            Permission::StepsWorkOwn,
        ] {
            assert_eq!(permission.scope(), None, "{permission} stays with people");
        }
    }

    #[test]
    fn api_keys_never_manage_keys_or_tenant() {
        for scope in Scope::ALL {
            assert!(!scope.grants(Permission::ApiKeysManage));
            assert!(!scope.grants(Permission::ManageOwners));
            assert!(!scope.grants(Permission::TenantWrite));
        }
    }

    #[test]
    fn password_policy_counts_characters_not_bytes() {
        assert_eq!(NewPassword::parse("short"), Err(PasswordError::TooShort));
        assert!(NewPassword::parse("üüüüüüüüüüüü").is_ok());
        assert_eq!(
            NewPassword::parse(&"x".repeat(129)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            format!("{:?}", NewPassword::parse("a-secret-password").ok()),
            "Some(NewPassword(<redacted>))"
        );
    }

    proptest! {
        /// Only a fresh, unexpired token of a live family rotates; a used token of a live
        /// family revokes the family, unless it is a retry within the grace period, which gets
        /// the same pair again; nothing revives a revoked family.
        #[test]
        fn refresh_rule(used: bool, family_revoked: bool, expired: bool, retry_within_grace: bool) {
            let decision = decide_refresh(RefreshTokenState { used, family_revoked, expired, retry_within_grace });
            prop_assert_eq!(decision == RefreshDecision::Rotate, !used && !family_revoked && !expired);
            prop_assert_eq!(decision == RefreshDecision::RevokeFamily, used && !family_revoked && !retry_within_grace);
            prop_assert_eq!(decision == RefreshDecision::ReplaySuccessor, used && !family_revoked && retry_within_grace);
            if family_revoked {
                prop_assert_eq!(decision, RefreshDecision::Reject);
            }
        }
    }
}
