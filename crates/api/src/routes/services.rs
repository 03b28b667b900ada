//! Bookable services: what customers can book on the company website.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::services;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::text::{Line, Text};
use workorders_domain::{ProcessId, ServiceId};
use workorders_persistence::services::ServiceRecord;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::routes::{created, ok_versioned};
use crate::schemas::people::RoleName;
use crate::schemas::tenant::AssignmentRuleName;
use crate::state::AppState;

/// A bookable service, as staff configure it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    #[schema(value_type = String,
        example = "Kostenvoranschlag vor Ort",
        min_length = 1,
        max_length = 200
    )]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Text<4000>>,
    /// The process an order for this service follows (its newest published version).
    pub process_id: Uuid,
    /// The step of that process the appointment serves; its holder is the person booked.
    #[schema(value_type = String, max_length = 64, example = "estimate_visit")]
    pub step_key: Line<64>,
    #[schema(example = 60, minimum = 5, maximum = 1440)]
    pub duration_minutes: u32,
    /// Who may take it: role and skills.
    pub role: RoleName,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50, value_type = Vec<String>)]
    pub skills: Vec<Line<50>>,
    /// Earliest booking ahead of now, minutes.
    #[serde(default = "default_lead")]
    #[schema(example = 1440)]
    pub lead_time_minutes: u32,
    /// Latest booking ahead of now, days.
    #[serde(default = "default_horizon")]
    #[schema(example = 28, minimum = 1, maximum = 365)]
    pub horizon_days: u32,
    /// Starts on multiples of this many minutes after midnight.
    #[serde(default = "default_granularity")]
    #[schema(example = 30, minimum = 5, maximum = 240)]
    pub granularity_minutes: u32,
    /// Postal codes served (prefixes such as `10`, `121`); empty: everywhere.
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 500>",
        default
    )]
    #[schema(max_items = 500, value_type = Vec<String>)]
    pub postal_code_prefixes: Vec<Line<16>>,
    /// Only people whose home base is within this distance of the customer (when both
    /// coordinates are known).
    pub radius_km: Option<f64>,
    /// How a person is picked among those free: default `least_loaded`.
    pub assignment_rule: Option<AssignmentRuleName>,
    /// Offered on the website (default true).
    #[serde(default = "yes")]
    pub active: bool,
}

fn default_lead() -> u32 {
    24 * 60
}
fn default_horizon() -> u32 {
    28
}
fn default_granularity() -> u32 {
    30
}
fn yes() -> bool {
    true
}

/// A bookable service as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub process_id: Uuid,
    pub step_key: String,
    pub duration_minutes: u32,
    pub role: RoleName,
    pub skills: Vec<String>,
    pub lead_time_minutes: u32,
    pub horizon_days: u32,
    pub granularity_minutes: u32,
    pub postal_code_prefixes: Vec<String>,
    pub radius_km: Option<f64>,
    pub assignment_rule: AssignmentRuleName,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub items: Vec<ServiceView>,
}

pub fn service_view(s: ServiceRecord) -> ServiceView {
    ServiceView {
        id: s.id.as_uuid(),
        name: s.name,
        description: s.description,
        process_id: s.process_id.as_uuid(),
        step_key: s.step_key,
        duration_minutes: s.duration_minutes,
        role: s.role.into(),
        skills: s.skills,
        lead_time_minutes: s.lead_time_minutes,
        horizon_days: s.horizon_days,
        granularity_minutes: s.granularity_minutes,
        postal_code_prefixes: s.postal_prefixes,
        radius_km: s.radius_km,
        assignment_rule: match s.assignment_rule {
            AssignmentRule::LeastLoaded => AssignmentRuleName::LeastLoaded,
            AssignmentRule::RoundRobin => AssignmentRuleName::RoundRobin,
        },
        active: s.active,
        version: s.version,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

impl From<ServiceBody> for services::ServiceSpec {
    fn from(body: ServiceBody) -> Self {
        Self {
            name: body.name.into(),
            description: body.description.map(String::from),
            process_id: ProcessId(body.process_id),
            step_key: body.step_key.into_string(),
            duration_minutes: body.duration_minutes,
            role: body.role.into(),
            skills: body.skills.into_iter().map(String::from).collect(),
            lead_time_minutes: body.lead_time_minutes,
            horizon_days: body.horizon_days,
            granularity_minutes: body.granularity_minutes,
            postal_code_prefixes: body
                .postal_code_prefixes
                .into_iter()
                .map(String::from)
                .collect(),
            radius_km: body.radius_km,
            assignment_rule: body.assignment_rule.map(|r| match r {
                AssignmentRuleName::LeastLoaded => AssignmentRule::LeastLoaded,
                AssignmentRuleName::RoundRobin => AssignmentRule::RoundRobin,
            }),
            active: body.active,
        }
    }
}

/// Create a bookable service
#[utoipa::path(
    operation_id = "createService",
    tag = "booking",
    request_body = ServiceBody,
    responses((status = 201, description = "Created", body = ServiceView, headers(("Location" = String), ("ETag" = String)))),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[post("/services")]
pub async fn create_service(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<ServiceBody>,
) -> ApiResult<HttpResponse> {
    let record = services::create(&state, &principal, body.into_inner().into()).await?;
    let view = service_view(record);
    Ok(created(
        format!("/v1/services/{}", view.id),
        view.version,
        &view,
    ))
}

/// List bookable services
#[utoipa::path(
    operation_id = "listServices",
    tag = "booking",
    responses((status = 200, description = "All services of the tenant", body = ServiceList)),
    security(("access_token" = []), ("api_key" = ["processes:read"]))
)]
#[get("/services")]
pub async fn list_services(
    state: web::Data<AppState>,
    principal: Caller,
) -> ApiResult<HttpResponse> {
    let items = services::list(&state, &principal).await?;
    Ok(HttpResponse::Ok().json(ServiceList {
        items: items.into_iter().map(service_view).collect(),
    }))
}

/// Get a bookable service
#[utoipa::path(
    operation_id = "getService",
    tag = "booking",
    params(("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 200, description = "The service", body = ServiceView, headers(("ETag" = String))),
        (status = 404, description = "No such service in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:read"]))
)]
#[get("/services/{id}")]
pub async fn get_service(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let record = services::get(&state, &principal, ServiceId(id.into_inner())).await?;
    Ok(ok_versioned(record.version, &service_view(record)))
}

/// Replace a bookable service
///
/// Requires `If-Match`. Set `active: false` to stop offering it.
#[utoipa::path(
    operation_id = "updateService",
    tag = "booking",
    params(("id" = Uuid, Path, description = "Service id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = ServiceBody,
    responses(
        (status = 200, description = "The service", body = ServiceView, headers(("ETag" = String))),
        (status = 404, description = "No such service in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[patch("/services/{id}")]
pub async fn update_service(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ServiceBody>,
) -> ApiResult<HttpResponse> {
    let saved = services::update(
        &state,
        &principal,
        ServiceId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(saved.version, &service_view(saved)))
}
