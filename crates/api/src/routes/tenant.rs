//! The caller's tenant.

use actix_web::{HttpResponse, get, patch, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::UserId;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::text::Line;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::routes::double_option;
use crate::routes::ok_versioned;
use crate::schemas::people::TenantView;
use crate::schemas::tenant::AssignmentRuleName;
use crate::state::AppState;
use workorders_app::tenant;

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
    let tenant = tenant::get(&state, &principal).await?;
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
    let body = body.into_inner();
    let change = tenant::SettingsChange {
        process_owner_id: body.process_owner_id.map(|o| o.map(UserId)),
        assignment_rule: body.assignment_rule.map(|r| match r {
            AssignmentRuleName::LeastLoaded => AssignmentRule::LeastLoaded,
            AssignmentRuleName::RoundRobin => AssignmentRule::RoundRobin,
        }),
        website_origins: body
            .website_origins
            .map(|origins| origins.into_iter().map(String::from).collect()),
        escalation_grace_minutes: body.escalation_grace_minutes,
        stuck_after_days: body.stuck_after_days,
    };
    let updated = tenant::update_settings(&state, &principal, if_match.0, change).await?;
    Ok(ok_versioned(updated.version, &TenantView::from(updated)))
}
