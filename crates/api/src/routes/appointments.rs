//! Appointments on people's calendars: create, move, reassign, status changes, lists.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::auth::Permission;
use workorders_domain::calendar::Span;
use workorders_domain::text::Text;
use workorders_domain::{AppointmentId, StepId, UserId, ValidationErrors, WorkOrderId};
use workorders_persistence::appointments::{self, AppointmentFilter, AppointmentRecord};
use workorders_persistence::work_orders::{self};
use workorders_persistence::{WriteTx, tenants};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::{IfMatch, ValidJson, check_version};
use crate::pagination::{Page, PageQuery, decode_keyed_cursor, encode_keyed_cursor};
use crate::routes::{created, ok_versioned};
use crate::scheduling::{Placement, check_people};
use crate::schemas::appointments::AppointmentView;
use crate::state::AppState;
use crate::workflow::{self, DbAssigner, actor_of, ensure_visible};
use workorders_app::appointments::record_history;
use workorders_domain::work_order::Command;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    pub work_order_id: Uuid,
    /// The step the appointment serves (its holder becomes the first assignee's when booked).
    pub step_id: Option<Uuid>,
    /// One or more people (a crew).
    #[serde(deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>")]
    #[schema(max_items = 10)]
    pub assignee_ids: Vec<Uuid>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub end: DateTime<Utc>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Text<4000>>,
    /// Book outside working hours (dispatchers; never over other appointments).
    #[serde(default)]
    pub override_working_hours: bool,
}

/// Absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppointmentRequest {
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub end: Option<DateTime<Utc>>,
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 10>"
    )]
    #[schema(max_items = 10)]
    pub assignee_ids: Option<Vec<Uuid>>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Text<4000>>,
    #[serde(default)]
    pub override_working_hours: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentActionName {
    Confirm,
    Depart,
    Arrive,
    Finish,
    NoShow,
    Cancel,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentActionRequest {
    pub action: AppointmentActionName,
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub reason: Option<Text<1000>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Appointments ending after this instant.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub from: Option<DateTime<Utc>>,
    /// Appointments starting before this instant.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub to: Option<DateTime<Utc>>,
    pub assignee_id: Option<Uuid>,
    pub work_order_id: Option<Uuid>,
    pub status: Option<String>,
}

/// Checks the times and the people of an appointment (not yet their calendars).
fn validate(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    assignees: &[Uuid],
    now: DateTime<Utc>,
    errors: &mut ValidationErrors,
) {
    if !workorders_domain::bounds::in_planning_window(start, now) {
        errors.add("/start", workorders_domain::bounds::PLANNING_WINDOW);
    }
    if end <= start {
        errors.add("/end", "must be after start");
    }
    if end - start > Duration::hours(24) {
        errors.add("/end", "an appointment lasts at most 24 hours");
    }
    if assignees.is_empty() || assignees.len() > 10 {
        errors.add("/assignee_ids", "one to ten people");
    }
    let mut sorted = assignees.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != assignees.len() {
        errors.add("/assignee_ids", "each person once");
    }
}

/// All assignees must be active users of the tenant.
async fn active_people(
    tx: &mut WriteTx,
    principal: &Principal,
    ids: &[Uuid],
) -> ApiResult<Vec<UserId>> {
    let everyone = workorders_persistence::users::all_in(tx.conn(), principal.tenant_id).await?;
    let mut people = Vec::new();
    for id in ids {
        match everyone.iter().find(|u| u.id.as_uuid() == *id) {
            Some(u) if u.active => people.push(u.id),
            _ => {
                return Err(ApiError::invalid(
                    "/assignee_ids",
                    format!("{id} is not an active user of this tenant"),
                ));
            }
        }
    }
    Ok(people)
}

async fn tenant_tz(state: &AppState, principal: &Principal) -> ApiResult<chrono_tz::Tz> {
    Ok(tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .time_zone
        .tz())
}

/// Schedule an appointment
///
/// For a work order (and usually one of its steps), with one or more people. Refused with 409
/// `slot_taken` when a person is booked or absent then (travel buffers included), or
/// `outside_working_hours` (dispatchers may set `override_working_hours`). Two concurrent
/// requests for overlapping times of one person: exactly one succeeds.
#[utoipa::path(
    operation_id = "createAppointment",
    tag = "appointments",
    request_body = CreateAppointmentRequest,
    responses(
        (status = 201, description = "Scheduled", body = AppointmentView, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`slot_taken` or `outside_working_hours`", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/appointments")]
pub async fn create_appointment(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateAppointmentRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::WorkOrdersWrite)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    validate(
        body.start,
        body.end,
        &body.assignee_ids,
        state.db.now(),
        &mut errors,
    );
    errors.finish()?;
    let order_id = WorkOrderId(body.work_order_id);
    let tz = tenant_tz(&state, &principal).await?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let order = work_orders::load_for_update(tx.conn(), &state.db, principal.tenant_id, order_id)
        .await?
        .ok_or_else(|| ApiError::invalid("/work_order_id", "no such work order in this tenant"))?;
    let step = body.step_id.map(StepId);
    if let Some(step) = step
        && order.order.step(step).is_none()
    {
        return Err(ApiError::invalid("/step_id", "no such step in this order"));
    }
    let people = active_people(&mut tx, &principal, &body.assignee_ids).await?;
    let span = Span::new(body.start, body.end);
    check_people(
        &mut tx,
        &state.db,
        principal.tenant_id,
        tz,
        &people,
        span,
        Placement {
            override_hours: body.override_working_hours,
            ignore: None,
        },
    )
    .await?;
    let record = AppointmentRecord {
        id: AppointmentId::new(),
        tenant_id: principal.tenant_id,
        work_order_id: order_id,
        step_id: step,
        start: body.start,
        end: body.end,
        status: AppointmentStatus::Scheduled,
        notes: body
            .notes
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        assignees: people,
        sequence: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    appointments::insert(&mut tx, &record).await?;
    record_history(
        &mut tx,
        &principal,
        &record,
        "appointment.scheduled",
        serde_json::json!({"override_working_hours": body.override_working_hours}),
    )
    .await?;
    // The step the appointment serves goes to the (first) person booked.
    if let (Some(step), Some(person)) = (step, record.assignees.first().copied()) {
        let mut order = order;
        let mut assigner = DbAssigner::load(tx.conn(), principal.tenant_id).await?;
        let command = Command::PlanStep {
            step,
            user: person,
            reason: "appointment scheduled".to_owned(),
        };
        if let Ok(events) = order.order.handle(command, now, &mut assigner) {
            workflow::persist(&mut tx, &mut order, &events, &actor_of(&principal), now).await?;
        }
    }
    tx.commit().await?;
    let view = AppointmentView::from(record);
    Ok(created(
        format!("/v1/appointments/{}", view.id),
        view.version,
        &view,
    ))
}

/// List appointments
///
/// By start time; filter by time range, person, order and status.
#[utoipa::path(
    operation_id = "listAppointments",
    tag = "appointments",
    params(AppointmentListQuery),
    responses((status = 200, description = "One page of appointments", body = Page<AppointmentView>)),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/appointments")]
pub async fn list_appointments(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<AppointmentListQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    // Technicians see their own appointments only.
    let assignee = if principal.require(Permission::WorkOrdersRead).is_ok() {
        query.assignee_id.map(UserId)
    } else {
        principal.require(Permission::WorkOrdersReadOwn)?;
        principal.user_id()
    };
    let limit = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .parse()?
    .limit;
    let after = query
        .cursor
        .as_deref()
        .map(decode_keyed_cursor)
        .transpose()?
        .map(|(k, id)| (k, AppointmentId(id)));
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(AppointmentStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(codes::INVALID_QUERY, format!("unknown status `{s}`"))
        })?),
    };
    let filter = AppointmentFilter {
        from: query.from,
        to: query.to,
        assignee,
        work_order: query.work_order_id.map(WorkOrderId),
        status,
    };
    let mut rows = appointments::list(
        &state.db,
        principal.tenant_id,
        &filter,
        after,
        limit.saturating_add(1),
    )
    .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if has_more {
        rows.last().map(|a| {
            encode_keyed_cursor(
                &workorders_persistence::format_instant(a.start),
                a.id.as_uuid(),
            )
        })
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page {
        items: rows.into_iter().map(AppointmentView::from).collect(),
        next_cursor,
    }))
}

async fn load(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<AppointmentRecord> {
    let mut conn = state.db.acquire().await?;
    let record = appointments::get(&mut conn, principal.tenant_id, AppointmentId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    drop(conn);
    ensure_visible(&state.db, principal, record.work_order_id).await?;
    Ok(record)
}

/// Get an appointment
#[utoipa::path(
    operation_id = "getAppointment",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "The appointment", body = AppointmentView, headers(("ETag" = String))),
        (status = 404, description = "No such appointment visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/appointments/{id}")]
pub async fn get_appointment(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let record = load(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(record.version, &AppointmentView::from(record)))
}

/// Move or reassign an appointment
///
/// New times and/or people, checked like a new appointment. Requires `If-Match`.
#[utoipa::path(
    operation_id = "updateAppointment",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateAppointmentRequest,
    responses(
        (status = 200, description = "The appointment", body = AppointmentView, headers(("ETag" = String))),
        (status = 404, description = "No such appointment visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slot_taken`, `outside_working_hours`, or not changeable any more (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[patch("/appointments/{id}")]
pub async fn update_appointment(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateAppointmentRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::WorkOrdersWrite)?;
    let expected = if_match.required()?;
    let current = load(&state, &principal, id.into_inner()).await?;
    check_version(IfMatch(Some(expected)), current.version)?;
    if !current.status.is_changeable() {
        return Err(ApiError::InvalidTransition {
            detail: format!("an appointment that is {} cannot be moved", current.status),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: current
                .status
                .allowed_actions()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        });
    }
    let body = body.into_inner();
    let start = body.start.unwrap_or(current.start);
    let end = body.end.unwrap_or(current.end);
    let ids: Vec<Uuid> = body
        .assignee_ids
        .clone()
        .unwrap_or_else(|| current.assignees.iter().map(|u| u.as_uuid()).collect());
    let mut errors = ValidationErrors::new();
    validate(start, end, &ids, state.db.now(), &mut errors);
    errors.finish()?;
    let tz = tenant_tz(&state, &principal).await?;
    let mut tx = state.db.begin_write().await?;
    let people = active_people(&mut tx, &principal, &ids).await?;
    check_people(
        &mut tx,
        &state.db,
        principal.tenant_id,
        tz,
        &people,
        Span::new(start, end),
        Placement {
            override_hours: body.override_working_hours,
            ignore: Some(current.id),
        },
    )
    .await?;
    let mut next = current.clone();
    next.start = start;
    next.end = end;
    next.assignees = people;
    if let Some(notes) = body.notes {
        next.notes = Some(notes.trim().to_owned()).filter(|n| !n.is_empty());
    }
    let now = state.db.now();
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: current.version + 1,
        });
    }
    let before = serde_json::json!({"before": {"start": current.start, "end": current.end, "assignee_ids": current.assignees}});
    record_history(&mut tx, &principal, &next, "appointment.changed", before).await?;
    tx.commit().await?;
    next.version += 1;
    next.sequence += 1;
    next.updated_at = now;
    Ok(ok_versioned(next.version, &AppointmentView::from(next)))
}

/// Change an appointment's status
///
/// `confirm`, `depart` (en route), `arrive` (on site), `finish` (done), `no_show`, `cancel`.
/// Not allowed now: 409 `invalid_transition`. Cancelled and no-show appointments free the
/// time. The step's holder (an assignee) may report progress; dispatchers anything.
#[utoipa::path(
    operation_id = "runAppointmentAction",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id"), ("If-Match" = Option<String>, Header, description = "Expected ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = AppointmentActionRequest,
    responses(
        (status = 200, description = "The appointment", body = AppointmentView, headers(("ETag" = String))),
        (status = 404, description = "No such appointment visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed now (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/appointments/{id}/actions")]
pub async fn run_appointment_action(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<AppointmentActionRequest>,
) -> ApiResult<HttpResponse> {
    let current = load(&state, &principal, id.into_inner()).await?;
    let is_assignee = principal
        .user_id()
        .is_some_and(|u| current.assignees.contains(&u));
    if !is_assignee {
        principal.require(Permission::WorkOrdersWrite)?;
    }
    check_version(if_match, current.version)?;
    let action = match body.action {
        AppointmentActionName::Confirm => AppointmentAction::Confirm,
        AppointmentActionName::Depart => AppointmentAction::Depart,
        AppointmentActionName::Arrive => AppointmentAction::Arrive,
        AppointmentActionName::Finish => AppointmentAction::Finish,
        AppointmentActionName::NoShow => AppointmentAction::NoShow,
        AppointmentActionName::Cancel => AppointmentAction::Cancel,
    };
    let Some(status) = current.status.apply(action) else {
        return Err(ApiError::InvalidTransition {
            detail: format!(
                "cannot {} an appointment that is {}",
                action.as_str(),
                current.status
            ),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: current
                .status
                .allowed_actions()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        });
    };
    let mut next = current.clone();
    next.status = status;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: current.version + 1,
        });
    }
    let reason = body.into_inner().reason;
    record_history(
        &mut tx,
        &principal,
        &next,
        &format!("appointment.{}", status.as_str()),
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    next.version += 1;
    next.sequence += 1;
    next.updated_at = now;
    Ok(ok_versioned(next.version, &AppointmentView::from(next)))
}
