//! Dispatching helpers for staff: ranked assignee suggestions with reasons, free slots of a
//! service, and scheduling a step's appointment with automatic assignment.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::appointment::AppointmentStatus;
use workorders_domain::auth::Permission;
use workorders_domain::calendar::Span;
use workorders_domain::process::Responsible;
use workorders_domain::work_order::Command;
use workorders_domain::{AppointmentId, ServiceId, StepId, WorkOrderId};
use workorders_persistence::appointments::{self, AppointmentRecord};
use workorders_persistence::work_orders::{self, NewEvent};
use workorders_persistence::{customers, services, tenants, users};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::ValidJson;
use crate::routes::created;
use crate::scheduling::{self, CustomerLocation, free_people, service_slots};
use crate::schemas::appointments::AppointmentView;
use crate::state::AppState;
use crate::workflow::{self, DbAssigner, actor_of, ensure_visible};

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

async fn order_location(
    state: &AppState,
    principal: &Principal,
    order: &work_orders::WorkOrderRecord,
) -> ApiResult<CustomerLocation> {
    let site = customers::get_site(&state.db, principal.tenant_id, order.site_id).await?;
    Ok(CustomerLocation {
        postal_code: site.as_ref().map(|s| s.postal_code.clone()),
        coordinates: site.and_then(|s| s.latitude.zip(s.longitude)),
    })
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
    principal.require(Permission::WorkOrdersRead)?;
    let (order_id, step_id) = path.into_inner();
    let order = work_orders::get(&state.db, principal.tenant_id, WorkOrderId(order_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let step = order
        .order
        .step(StepId(step_id))
        .ok_or(ApiError::NotFound)?;
    if query.end <= query.start {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "`end` must be after `start`",
        ));
    }
    let tz = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .time_zone
        .tz();
    let location = order_location(&state, &principal, &order).await?;
    let mut conn = state.db.acquire().await?;
    let candidates = match &step.definition.responsible {
        Responsible::Role { role, skills } => {
            scheduling::suggest(
                &mut conn,
                principal.tenant_id,
                tz,
                *role,
                skills,
                None,
                &location,
                Span::new(query.start, query.end),
            )
            .await?
        }
        Responsible::User { user_id } => {
            let role = users::get(&state.db, principal.tenant_id, *user_id)
                .await?
                .map(|u| u.role)
                .unwrap_or(workorders_domain::auth::Role::Owner);
            let mut all = scheduling::suggest(
                &mut conn,
                principal.tenant_id,
                tz,
                role,
                &[],
                None,
                &location,
                Span::new(query.start, query.end),
            )
            .await?;
            all.retain(|c| c.user_id == user_id.as_uuid());
            all
        }
    };
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
    principal.require(Permission::WorkOrdersRead)?;
    let service = services::get(&state.db, principal.tenant_id, ServiceId(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound)?;
    let tz = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .time_zone
        .tz();
    let now = state.db.now();
    let today = now.with_timezone(&tz).date_naive();
    let from = query.from.unwrap_or(today);
    let to = query.to.unwrap_or(from + Duration::days(6));
    if to < from || (to - from).num_days() > 31 {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "`to` must be on or after `from`, at most 31 days",
        ));
    }
    let location = CustomerLocation {
        postal_code: query.postal_code.clone(),
        coordinates: None,
    };
    let mut conn = state.db.acquire().await?;
    let slots = service_slots(&mut conn, tz, &service, from, to, &location, now).await?;
    Ok(HttpResponse::Ok().json(StaffSlotList {
        time_zone: tz.name().to_owned(),
        slots: slots
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
    principal.require(Permission::WorkOrdersWrite)?;
    let (order_id, step_id) = path.into_inner();
    let (order_id, step_id) = (WorkOrderId(order_id), StepId(step_id));
    ensure_visible(&state.db, &principal, order_id).await?;
    let body = body.into_inner();
    let service = services::get(&state.db, principal.tenant_id, ServiceId(body.service_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let tenant = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let tz = tenant.time_zone.tz();
    let order = work_orders::get(&state.db, principal.tenant_id, order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    order.order.step(step_id).ok_or(ApiError::NotFound)?;
    let location = order_location(&state, &principal, &order).await?;
    let day = body.start.with_timezone(&tz).date_naive();
    let mut conn = state.db.acquire().await?;
    let slots = service_slots(&mut conn, tz, &service, day, day, &location, state.db.now()).await?;
    drop(conn);
    let candidates = free_people(&slots, body.start);
    let span = Span::new(
        body.start,
        body.start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &state.db,
        principal.tenant_id,
        tz,
        &candidates,
        span,
        None,
    )
    .await?;
    let pool = format!("service:{}", service.id);
    let Some((person, why)) = scheduling::pick(
        tx.conn(),
        principal.tenant_id,
        &pool,
        service.assignment_rule,
        &free,
        span.start,
    )
    .await?
    else {
        return Err(ApiError::conflict(
            codes::SLOT_TAKEN,
            "nobody who can take this service is free then",
        ));
    };
    let mut order =
        work_orders::load_for_update(tx.conn(), &state.db, principal.tenant_id, order_id)
            .await?
            .ok_or(ApiError::NotFound)?;
    let mut assigner = DbAssigner::load(tx.conn(), principal.tenant_id).await?;
    let events = order
        .order
        .handle(
            Command::PlanStep {
                step: step_id,
                user: person,
                reason: format!("scheduled ({why})"),
            },
            now,
            &mut assigner,
        )
        .map_err(workflow::command_error)?;
    let appointment = AppointmentRecord {
        id: AppointmentId::new(),
        tenant_id: principal.tenant_id,
        work_order_id: order_id,
        step_id: Some(step_id),
        start: span.start,
        end: span.end,
        status: AppointmentStatus::Scheduled,
        notes: None,
        assignees: vec![person],
        sequence: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    appointments::insert(&mut tx, &appointment).await?;
    let actor = actor_of(&principal);
    workflow::persist(&mut tx, &mut order, &events, &actor, now).await?;
    let entry = NewEvent {
        event_type: "appointment.scheduled".to_owned(),
        data: serde_json::json!({"appointment_id": appointment.id, "start": span.start, "end": span.end, "assignee_ids": [person], "assignment_reason": why}),
    };
    work_orders::append_events(
        &mut tx,
        principal.tenant_id,
        order_id,
        uuid::Uuid::now_v7(),
        &actor,
        now,
        &[entry],
    )
    .await?;
    tx.commit().await?;
    let view = AppointmentView::from(appointment);
    Ok(created(
        format!("/v1/appointments/{}", view.id),
        view.version,
        &view,
    ))
}
