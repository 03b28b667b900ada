//! The caller's tenant.

use actix_web::{HttpResponse, get, patch, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::UserId;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::{Permission, Role};
use workorders_domain::text::Line;
use workorders_persistence::users;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, VersionedExt};
use crate::extract::{IfMatch, ValidJson};
use crate::routes::double_option;
use crate::routes::ok_versioned;
use crate::schemas::people::TenantView;
use crate::schemas::tenant::AssignmentRuleName;
use crate::state::AppState;
use workorders_persistence::tenants;

/// Get the current tenant
///
/// The company the caller belongs to.
#[utoipa::path(
    operation_id = "getTenant",
    tag = "tenants",
    responses((status = 200, description = "The caller's tenant", body = TenantView)),
    security(("access_token" = []), ("api_key" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(state: web::Data<AppState>, principal: Caller) -> ApiResult<HttpResponse> {
    let tenant = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ok_versioned(tenant.version, &TenantView::from(tenant)))
}

/// Absent fields stay; `process_owner_id: null` falls back to the first active owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// An active owner, admin or dispatcher who takes steps nobody qualifies for.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub process_owner_id: Option<Option<Uuid>>,
    pub assignment_rule: Option<AssignmentRuleName>,
    /// Origins of the company website that may call the public booking endpoints from a
    /// browser (`https://www.example.com`).
    #[schema(max_items = 20, value_type = Option<Vec<String>>)]
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 20>"
    )]
    pub website_origins: Option<Vec<Line<2000>>>,
    /// Minutes an overdue step stays with its responsible person before the process owner
    /// is e-mailed (0 … 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub escalation_grace_minutes: Option<i64>,
    /// Days without an event after which an open order is flagged stuck (1 … 365).
    #[schema(minimum = 1, maximum = 365)]
    pub stuck_after_days: Option<i64>,
}

/// Update tenant settings
///
/// The process owner, the assignment rule, the website origins and the escalation settings.
/// Owners and admins; requires `If-Match`.
#[utoipa::path(
    operation_id = "updateTenant",
    tag = "tenants",
    params(("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateTenantRequest,
    responses((status = 200, description = "The tenant", body = TenantView, headers(("ETag" = String)))),
    security(("access_token" = []))
)]
#[patch("/tenant")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    principal: Caller,
    if_match: IfMatch,
    body: ValidJson<UpdateTenantRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::TenantWrite)?;
    let expected = if_match.required()?;
    let tenant = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let body = body.into_inner();
    let owner = match body.process_owner_id {
        None => tenant.process_owner_id,
        Some(None) => None,
        Some(Some(id)) => {
            let user = users::get(&state.db, principal.tenant_id, UserId(id)).await?;
            match user {
                Some(u)
                    if u.active
                        && matches!(u.role, Role::Owner | Role::Admin | Role::Dispatcher) =>
                {
                    Some(u.id)
                }
                _ => {
                    return Err(ApiError::invalid(
                        "/process_owner_id",
                        "must be an active owner, admin or dispatcher of this tenant",
                    ));
                }
            }
        }
    };
    if body
        .escalation_grace_minutes
        .is_some_and(|m| !(0..=10_080).contains(&m))
    {
        return Err(ApiError::invalid(
            "/escalation_grace_minutes",
            "between 0 and 10080 minutes (a week)",
        ));
    }
    if body
        .stuck_after_days
        .is_some_and(|d| !(1..=365).contains(&d))
    {
        return Err(ApiError::invalid(
            "/stuck_after_days",
            "between 1 and 365 days",
        ));
    }
    let rule = match body.assignment_rule {
        None => tenant.assignment_rule,
        Some(AssignmentRuleName::LeastLoaded) => AssignmentRule::LeastLoaded,
        Some(AssignmentRuleName::RoundRobin) => AssignmentRule::RoundRobin,
    };
    let origins = match body.website_origins {
        None => tenant.website_origins.clone(),
        Some(origins) => {
            let valid = |o: &str| {
                let rest = o
                    .strip_prefix("https://")
                    .or_else(|| o.strip_prefix("http://"));
                rest.is_some_and(|host| {
                    !host.is_empty()
                        && !host.contains('/')
                        && host
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
                })
            };
            if origins.len() > 20 || origins.iter().any(|o| !valid(o)) {
                return Err(ApiError::invalid(
                    "/website_origins",
                    "up to 20 origins like https://www.example.com (scheme and host, no path)",
                ));
            }
            origins.into_iter().map(String::from).collect::<Vec<_>>()
        }
    };
    let next = tenants::TenantRecord {
        process_owner_id: owner,
        assignment_rule: rule,
        website_origins: origins,
        escalation_grace_minutes: body
            .escalation_grace_minutes
            .unwrap_or(tenant.escalation_grace_minutes),
        stuck_after_days: body.stuck_after_days.unwrap_or(tenant.stuck_after_days),
        ..tenant
    };
    let mut tx = state.db.begin_write().await?;
    let updated = tenants::update_settings(tx.conn(), &next, expected, state.db.now())
        .await?
        .into_api()?;
    tx.commit().await?;
    Ok(ok_versioned(updated.version, &TenantView::from(updated)))
}
