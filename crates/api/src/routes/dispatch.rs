//! Dispatching helpers for staff: ranked assignee suggestions with reasons, free slots of a
//! service, and scheduling a step's appointment with automatic assignment.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::{dispatch, scheduling};
use workorders_domain::{ServiceId, StepId, WorkOrderId};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ValidJson;
use crate::routes::created;
use crate::schemas::appointments::AppointmentView;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub end: DateTime<Utc>,
}

/// Why a person was chosen or passed over.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CandidateReport {
    pub user_id: Uuid,
    pub name: String,
    /// Whether they can take it.
    pub eligible: bool,
    /// 1 for the best choice; absent for ineligible people.
    pub rank: Option<u32>,
    /// Minutes already booked in the surrounding two weeks.
    pub booked_minutes: i64,
    /// `inactive`, `lacks_role`, `lacks_skill`, `outside_area`, `absent_or_busy`,
    /// `outside_working_hours`, or for eligible people `least_loaded`, `more_load`, `next_in_turn`.
    #[schema(example = "least_loaded")]
    pub reason: String,
    pub detail: String,
}

impl From<scheduling::CandidateReport> for CandidateReport {
    fn from(c: scheduling::CandidateReport) -> Self {
        Self {
            user_id: c.user_id,
            name: c.name,
            eligible: c.eligible,
            rank: c.rank,
            booked_minutes: c.booked_minutes,
            reason: c.reason,
            detail: c.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// Eligible people first, least loaded first; then everyone else with the reason.
    pub candidates: Vec<CandidateReport>,
}

/// Suggest assignees
///
/// Ranks everyone for the step's appointment at the given time, with the reason each was
/// chosen or excluded (`inactive`, `lacks_role`, `lacks_skill`, `outside_area`,
/// `absent_or_busy`, `outside_working_hours`; eligible: `least_loaded`, `more_load`).
#[utoipa::path(
    operation_id = "suggestAssignee",
    tag = "booking",
    params(("id" = Uuid, Path, description = "Work order id"), ("step_id" = Uuid, Path, description = "Step id"), SuggestQuery),
    responses(
        (status = 200, description = "Ranked candidates", body = Suggestions),
        (status = 404, description = "No such order or step", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders/{id}/steps/{step_id}/suggestions")]
pub async fn suggest_assignee(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<SuggestQuery>,
) -> ApiResult<HttpResponse> {
    let (order_id, step_id) = path.into_inner();
    let candidates = dispatch::suggest_assignee(
        &state,
        &principal,
        WorkOrderId(order_id),
        StepId(step_id),
        query.start,
        query.end,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Suggestions {
        candidates: candidates.into_iter().map(CandidateReport::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffSlotQuery {
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub from: Option<NaiveDate>,
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub to: Option<NaiveDate>,
    pub postal_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSlot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub local_start: String,
    /// Who is free then.
    pub people: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSlotList {
    pub time_zone: String,
    pub slots: Vec<StaffSlot>,
}

/// Free slots of a service (staff view)
///
/// Like the website's, with who is free at each start: to offer a caller the next free times.
#[utoipa::path(
    operation_id = "listServiceSlots",
    tag = "booking",
    params(("id" = Uuid, Path, description = "Service id"), StaffSlotQuery),
    responses(
        (status = 200, description = "Free slots", body = StaffSlotList),
        (status = 404, description = "No such service", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/services/{id}/slots")]
pub async fn list_service_slots(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<StaffSlotQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let offer = dispatch::service_slots_for_staff(
        &state,
        &principal,
        ServiceId(id.into_inner()),
        query.from,
        query.to,
        query.postal_code,
    )
    .await?;
    let tz = offer.time_zone;
    Ok(HttpResponse::Ok().json(StaffSlotList {
        time_zone: tz.name().to_owned(),
        slots: offer
            .slots
            .into_iter()
            .map(|s| StaffSlot {
                start: s.start,
                end: s.end,
                local_start: s.start.with_timezone(&tz).to_rfc3339(),
                people: s.people.iter().map(|p| p.as_uuid()).collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleStepRequest {
    /// The service that defines duration, who may take it and the assignment rule.
    pub service_id: Uuid,
    /// A start from `listServiceSlots`.
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
}

/// Schedule a step's appointment
///
/// Books the service's appointment for this order at `start`, picks the person by the
/// service's rule among those free, makes them the step's holder, and records why in the
/// history. 409 `slot_taken` when nobody is free then.
#[utoipa::path(
    operation_id = "scheduleStep",
    tag = "booking",
    params(("id" = Uuid, Path, description = "Work order id"), ("step_id" = Uuid, Path, description = "The step the appointment serves")),
    request_body = ScheduleStepRequest,
    responses(
        (status = 201, description = "Scheduled", body = AppointmentView, headers(("Location" = String))),
        (status = 404, description = "No such order, step or service", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nobody free then (`slot_taken`) or the step is finished (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/steps/{step_id}/schedule")]
pub async fn schedule_step(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<ScheduleStepRequest>,
) -> ApiResult<HttpResponse> {
    let (order_id, step_id) = path.into_inner();
    let body = body.into_inner();
    let appointment = dispatch::schedule_step(
        &state,
        &principal,
        WorkOrderId(order_id),
        StepId(step_id),
        ServiceId(body.service_id),
        body.start,
    )
    .await?;
    let view = AppointmentView::from(appointment);
    Ok(created(
        format!("/v1/appointments/{}", view.id),
        view.version,
        &view,
    ))
}
