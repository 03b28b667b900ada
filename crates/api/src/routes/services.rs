//! Bookable services: what customers can book on the company website.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::Permission;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::parse_skills;
use workorders_domain::{ProcessId, ServiceId, ValidationErrors};
use workorders_persistence::processes;
use workorders_persistence::services::{self, ServiceRecord};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt};
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

/// Validates a service body into a record (id and times from `base`).
async fn parse(
    state: &AppState,
    principal: &Principal,
    body: ServiceBody,
    mut base: ServiceRecord,
) -> ApiResult<ServiceRecord> {
    let mut errors = ValidationErrors::new();
    base.name = errors
        .check("/name", parse_display_name(&body.name))
        .unwrap_or_default();
    base.skills = errors
        .check("/skills", parse_skills(&body.skills))
        .unwrap_or_default();
    if !(5..=1440).contains(&body.duration_minutes) {
        errors.add("/duration_minutes", "5 to 1440 minutes");
    }
    if !(1..=365).contains(&body.horizon_days) {
        errors.add("/horizon_days", "1 to 365 days");
    }
    if !(5..=240).contains(&body.granularity_minutes) {
        errors.add("/granularity_minutes", "5 to 240 minutes");
    }
    if body.lead_time_minutes > 60 * 24 * 90 {
        errors.add("/lead_time_minutes", "at most 90 days");
    }
    if body.radius_km.is_some_and(|r| !(r > 0.0 && r <= 1000.0)) {
        errors.add("/radius_km", "between 0 and 1000 km");
    }
    let prefixes: Vec<String> = body
        .postal_code_prefixes
        .iter()
        .map(|p| p.trim().to_owned())
        .collect();
    if prefixes
        .iter()
        .any(|p| p.is_empty() || p.len() > 10 || !p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        errors.add(
            "/postal_code_prefixes",
            "prefixes are 1 to 10 letters or digits",
        );
    }
    match processes::get(&state.db, principal.tenant_id, ProcessId(body.process_id)).await? {
        None => errors.add("/process_id", "no such process in this tenant"),
        Some(p) => {
            let version = match p.published_version {
                Some(n) => processes::get_version(&state.db, principal.tenant_id, p.id, n).await?,
                None => None,
            };
            match version {
                None => errors.add("/process_id", "the process has no published version"),
                Some(v) if !v.steps.iter().any(|s| s.key == body.step_key) => {
                    errors.add(
                        "/step_key",
                        "no step with this key in the published version",
                    );
                }
                Some(_) => {}
            }
        }
    }
    errors.finish()?;
    base.description = body
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    base.process_id = ProcessId(body.process_id);
    base.step_key = body.step_key.into_string();
    base.duration_minutes = body.duration_minutes;
    base.role = body.role.into();
    base.lead_time_minutes = body.lead_time_minutes;
    base.horizon_days = body.horizon_days;
    base.granularity_minutes = body.granularity_minutes;
    base.postal_prefixes = prefixes;
    base.radius_km = body.radius_km;
    base.assignment_rule = match body.assignment_rule {
        Some(AssignmentRuleName::RoundRobin) => AssignmentRule::RoundRobin,
        _ => AssignmentRule::LeastLoaded,
    };
    base.active = body.active;
    Ok(base)
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
    principal.require(Permission::ProcessesWrite)?;
    let now = state.db.now();
    let base = ServiceRecord {
        id: ServiceId::new(),
        tenant_id: principal.tenant_id,
        name: String::new(),
        description: None,
        process_id: ProcessId::new(),
        step_key: String::new(),
        duration_minutes: 60,
        role: workorders_domain::auth::Role::Technician,
        skills: Vec::new(),
        lead_time_minutes: 0,
        horizon_days: 28,
        granularity_minutes: 30,
        postal_prefixes: Vec::new(),
        radius_km: None,
        assignment_rule: AssignmentRule::LeastLoaded,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let record = parse(&state, &principal, body.into_inner(), base).await?;
    let mut tx = state.db.begin_write().await?;
    let record = services::insert(tx.conn(), &record).await?;
    tx.commit().await?;
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
    principal.require(Permission::ProcessesRead)?;
    let items = services::list(&state.db, principal.tenant_id, false).await?;
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
    principal.require(Permission::ProcessesRead)?;
    let record = services::get(&state.db, principal.tenant_id, ServiceId(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound)?;
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
    principal.require(Permission::ProcessesWrite)?;
    let expected = if_match.required()?;
    let current = services::get(&state.db, principal.tenant_id, ServiceId(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound)?;
    let record = parse(&state, &principal, body.into_inner(), current).await?;
    let mut tx = state.db.begin_write().await?;
    let saved = services::update(tx.conn(), &record, expected, state.db.now())
        .await?
        .into_api()?;
    tx.commit().await?;
    Ok(ok_versioned(saved.version, &service_view(saved)))
}
