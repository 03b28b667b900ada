//! Appointments on people's calendars: create, move, reassign, status changes, lists.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::appointments::{self, AppointmentChange, AppointmentQuery, NewAppointment};
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::text::Text;
use workorders_domain::{AppointmentId, StepId, UserId, WorkOrderId};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, decode_keyed_cursor, encode_keyed_cursor};
use crate::routes::{created, ok_versioned};
use crate::schemas::appointments::AppointmentView;
use crate::state::AppState;

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

impl From<CreateAppointmentRequest> for NewAppointment {
    fn from(body: CreateAppointmentRequest) -> Self {
        Self {
            work_order_id: WorkOrderId(body.work_order_id),
            step_id: body.step_id.map(StepId),
            assignee_ids: body.assignee_ids,
            start: body.start,
            end: body.end,
            notes: body.notes.map(Text::into_string),
            override_working_hours: body.override_working_hours,
        }
    }
}

impl From<UpdateAppointmentRequest> for AppointmentChange {
    fn from(body: UpdateAppointmentRequest) -> Self {
        Self {
            start: body.start,
            end: body.end,
            assignee_ids: body.assignee_ids,
            notes: body.notes.map(Text::into_string),
            override_working_hours: body.override_working_hours,
        }
    }
}

impl From<AppointmentActionName> for AppointmentAction {
    fn from(name: AppointmentActionName) -> Self {
        match name {
            AppointmentActionName::Confirm => AppointmentAction::Confirm,
            AppointmentActionName::Depart => AppointmentAction::Depart,
            AppointmentActionName::Arrive => AppointmentAction::Arrive,
            AppointmentActionName::Finish => AppointmentAction::Finish,
            AppointmentActionName::NoShow => AppointmentAction::NoShow,
            AppointmentActionName::Cancel => AppointmentAction::Cancel,
        }
    }
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
    let record = appointments::create(&state, &principal, body.into_inner().into()).await?;
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
    let page = appointments::list(
        &state,
        &principal,
        AppointmentQuery {
            from: query.from,
            to: query.to,
            assignee: query.assignee_id.map(UserId),
            work_order: query.work_order_id.map(WorkOrderId),
            status,
            after,
            limit,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(AppointmentView::from).collect(),
        next_cursor: page
            .next
            .map(|(key, id)| encode_keyed_cursor(&key, id.as_uuid())),
    }))
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
    let record = appointments::get(&state, &principal, AppointmentId(id.into_inner())).await?;
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
    let next = appointments::update(
        &state,
        &principal,
        AppointmentId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
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
    let body = body.into_inner();
    let next = appointments::run_action(
        &state,
        &principal,
        AppointmentId(id.into_inner()),
        if_match.0,
        body.action.into(),
        body.reason.map(Text::into_string),
    )
    .await?;
    Ok(ok_versioned(next.version, &AppointmentView::from(next)))
}
