//! The caller's company: reading it and changing its settings (process owner, assignment
//! rule, website origins, escalation).

use workorders_domain::UserId;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::{Permission, Role};
use workorders_persistence::tenants::{self, TenantRecord};
use workorders_persistence::users;

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, required_version};
use crate::identity::Principal;

/// The caller's tenant.
pub async fn get(app: &App, caller: &Principal) -> AppResult<TenantRecord> {
    tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes to the settings; `None` keeps a setting. Field pointers in refusals name the
/// fields (`/process_owner_id`, `/website_origins`, ...).
#[derive(Debug, Default)]
pub struct SettingsChange {
    /// `Some(None)`: fall back to the first active owner.
    pub process_owner_id: Option<Option<UserId>>,
    pub assignment_rule: Option<AssignmentRule>,
    pub website_origins: Option<Vec<String>>,
    pub escalation_grace_minutes: Option<i64>,
    pub stuck_after_days: Option<i64>,
}

/// Whether `origin` is a scheme and a host (`https://www.example.com`), no path.
fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && !host.contains('/')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
    })
}

/// Applies `change` to the tenant at `expected_version` (owners and admins).
pub async fn update_settings(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
    change: SettingsChange,
) -> AppResult<TenantRecord> {
    caller.require(Permission::TenantWrite)?;
    let expected_version = required_version(expected_version)?;
    let tenant = get(app, caller).await?;
    let owner = match change.process_owner_id {
        None => tenant.process_owner_id,
        Some(None) => None,
        Some(Some(id)) => match users::get(&app.db, caller.tenant_id, id).await? {
            Some(u)
                if u.active && matches!(u.role, Role::Owner | Role::Admin | Role::Dispatcher) =>
            {
                Some(u.id)
            }
            _ => {
                return Err(AppError::invalid(
                    "/process_owner_id",
                    "must be an active owner, admin or dispatcher of this tenant",
                ));
            }
        },
    };
    if change
        .escalation_grace_minutes
        .is_some_and(|m| !(0..=10_080).contains(&m))
    {
        return Err(AppError::invalid(
            "/escalation_grace_minutes",
            "between 0 and 10080 minutes (a week)",
        ));
    }
    if change
        .stuck_after_days
        .is_some_and(|d| !(1..=365).contains(&d))
    {
        return Err(AppError::invalid(
            "/stuck_after_days",
            "between 1 and 365 days",
        ));
    }
    let origins = match change.website_origins {
        None => tenant.website_origins.clone(),
        Some(origins) => {
            if origins.len() > 20 || origins.iter().any(|o| !valid_origin(o)) {
                return Err(AppError::invalid(
                    "/website_origins",
                    "up to 20 origins like https://www.example.com (scheme and host, no path)",
                ));
            }
            origins
        }
    };
    let next = TenantRecord {
        process_owner_id: owner,
        assignment_rule: change.assignment_rule.unwrap_or(tenant.assignment_rule),
        website_origins: origins,
        escalation_grace_minutes: change
            .escalation_grace_minutes
            .unwrap_or(tenant.escalation_grace_minutes),
        stuck_after_days: change.stuck_after_days.unwrap_or(tenant.stuck_after_days),
        ..tenant
    };
    let mut tx = app.db.begin_write().await?;
    let updated = tenants::update_settings(tx.conn(), &next, expected_version, app.db.now())
        .await?
        .into_app()?;
    tx.commit().await?;
    Ok(updated)
}

/// Whether the company with `slug` lists `origin` among its website origins (where its
/// booking widget may call the public API from). Unknown companies and storage errors:
/// no.
pub async fn accepts_website_origin(app: &App, slug: &str, origin: &str) -> bool {
    tenants::find_by_slug(&app.db, slug)
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t.website_origins.iter().any(|o| o == origin))
}
