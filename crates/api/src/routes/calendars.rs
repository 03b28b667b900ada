//! Staff calendars: working hours, date exceptions, travel buffer, absences, and the
//! iCalendar feed each person can subscribe to.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::calendars::{
    self, Calendar, CalendarSpec, ClockInterval, DateHours, NewAbsence,
};
use workorders_domain::calendar::{LocalInterval, format_clock};
use workorders_domain::text::{Line, Text};
use workorders_domain::{AbsenceId, UserId};
use workorders_persistence::calendars::AbsenceRecord;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, ValidJson};
use crate::routes::ok_versioned;
use crate::state::AppState;

/// A working interval, local wall-clock time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalBody {
    #[schema(value_type = String, max_length = 16,
        example = "08:00",
        pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
    )]
    pub start: Line<16>,
    #[schema(value_type = String, max_length = 16,
        example = "16:30",
        pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
    )]
    pub end: Line<16>,
}

/// Working hours per weekday in the tenant's time zone; several intervals a day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHoursBody {
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub monday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub tuesday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub wednesday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub thursday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub friday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub saturday: Vec<IntervalBody>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>",
        default
    )]
    #[schema(max_items = 10)]
    pub sunday: Vec<IntervalBody>,
}

/// Other hours on one date (an empty list: the day off).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionBody {
    #[schema(value_type = String, example = "2026-12-24")]
    #[serde(deserialize_with = "workorders_domain::bounds::day")]
    pub date: NaiveDate,
    #[serde(deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>")]
    #[schema(max_items = 10)]
    pub intervals: Vec<IntervalBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarRequest {
    pub weekly_hours: WeeklyHoursBody,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 400>",
        default
    )]
    #[schema(max_items = 400)]
    pub exceptions: Vec<ExceptionBody>,
    /// Kept free before and after each appointment, minutes (0–240).
    #[serde(default)]
    pub travel_buffer_minutes: u32,
}

/// A person's calendar settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    pub user_id: Uuid,
    /// The tenant's time zone, in which the hours apply.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    pub weekly_hours: WeeklyHoursBody,
    pub exceptions: Vec<ExceptionBody>,
    pub travel_buffer_minutes: u32,
    /// Whether a calendar feed link exists.
    pub feed_enabled: bool,
    /// 0 until the calendar is first saved.
    pub version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceRequest {
    /// `vacation`, `sick` or `other`.
    #[schema(value_type = String, max_length = 32, example = "vacation")]
    pub kind: Line<32>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub end: DateTime<Utc>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub note: Option<Text<2000>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbsenceView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub note: Option<String>,
    /// Absences are not changed, only deleted (naming this version in `If-Match`).
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

/// A new calendar feed link (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedLink {
    /// Path of the feed; subscribe to `https://<your server><path>`. Anyone with it can read
    /// the calendar: treat it like a password; revoke it to cut off subscribers.
    #[schema(example = "/v1/calendars/cal_3bq...Xk.ics")]
    pub path: String,
    /// The calendar's version after the change (also the `ETag`): revoking the link names it
    /// in `If-Match`.
    pub calendar_version: i64,
}

fn to_body(days: &[LocalInterval]) -> Vec<IntervalBody> {
    days.iter()
        .map(|i| IntervalBody {
            start: Line::trusted(format_clock(i.start)),
            end: Line::trusted(format_clock(i.end)),
        })
        .collect()
}

fn view(calendar: Calendar) -> CalendarView {
    let Calendar {
        record: c,
        time_zone,
    } = calendar;
    let w = &c.weekly.0;
    CalendarView {
        user_id: c.user_id.as_uuid(),
        time_zone,
        weekly_hours: WeeklyHoursBody {
            monday: to_body(&w[0]),
            tuesday: to_body(&w[1]),
            wednesday: to_body(&w[2]),
            thursday: to_body(&w[3]),
            friday: to_body(&w[4]),
            saturday: to_body(&w[5]),
            sunday: to_body(&w[6]),
        },
        exceptions: c
            .exceptions
            .iter()
            .map(|(date, i)| ExceptionBody {
                date: *date,
                intervals: to_body(i),
            })
            .collect(),
        travel_buffer_minutes: c.travel_buffer_minutes,
        feed_enabled: c.has_feed,
        version: c.version,
    }
}

fn intervals(body: Vec<IntervalBody>) -> Vec<ClockInterval> {
    body.into_iter()
        .map(|i| ClockInterval {
            start: i.start.into_string(),
            end: i.end.into_string(),
        })
        .collect()
}

impl From<CalendarRequest> for CalendarSpec {
    fn from(body: CalendarRequest) -> Self {
        let w = body.weekly_hours;
        Self {
            weekly: [
                intervals(w.monday),
                intervals(w.tuesday),
                intervals(w.wednesday),
                intervals(w.thursday),
                intervals(w.friday),
                intervals(w.saturday),
                intervals(w.sunday),
            ],
            exceptions: body
                .exceptions
                .into_iter()
                .map(|e| DateHours {
                    date: e.date,
                    intervals: intervals(e.intervals),
                })
                .collect(),
            travel_buffer_minutes: body.travel_buffer_minutes,
        }
    }
}

impl From<AbsenceRequest> for NewAbsence {
    fn from(body: AbsenceRequest) -> Self {
        Self {
            kind: body.kind.into_string(),
            start: body.start,
            end: body.end,
            note: body.note.map(Text::into_string),
        }
    }
}

/// Get a person's calendar
#[utoipa::path(
    operation_id = "getCalendar",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Working hours, exceptions and travel buffer", body = CalendarView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:read"]))
)]
#[get("/users/{id}/calendar")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let calendar = calendars::get(&state, &principal, UserId(id.into_inner())).await?;
    Ok(ok_versioned(calendar.record.version, &view(calendar)))
}

/// Set a person's calendar
///
/// Replaces weekly hours, exceptions and the travel buffer. Requires `If-Match` (`"0"` for a
/// calendar never saved). Existing appointments are not moved.
#[utoipa::path(
    operation_id = "setCalendar",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = CalendarRequest,
    responses(
        (status = 200, description = "The calendar", body = CalendarView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[put("/users/{id}/calendar")]
pub async fn set_calendar(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<CalendarRequest>,
) -> ApiResult<HttpResponse> {
    let saved = calendars::set(
        &state,
        &principal,
        UserId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(saved.record.version, &view(saved)))
}

/// Add an absence
///
/// Vacation, sickness or other time off; slot search and booking treat it as busy.
#[utoipa::path(
    operation_id = "createAbsence",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = AbsenceRequest,
    responses(
        (status = 201, description = "Recorded", body = AbsenceView, headers(("Location" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[post("/users/{id}/absences")]
pub async fn create_absence(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<AbsenceRequest>,
) -> ApiResult<HttpResponse> {
    let record = calendars::create_absence(
        &state,
        &principal,
        UserId(id.into_inner()),
        body.into_inner().into(),
    )
    .await?;
    let view = absence_view(record);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v1/users/{}/absences/{}", view.user_id, view.id),
        ))
        .insert_header((header::ETAG, format!("\"{}\"", view.version)))
        .json(view))
}

/// Get an absence
#[utoipa::path(
    operation_id = "getAbsence",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id"), ("absence_id" = Uuid, Path, description = "Absence id")),
    responses(
        (status = 200, description = "The absence", body = AbsenceView, headers(("ETag" = String))),
        (status = 404, description = "No such absence", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:read"]))
)]
#[get("/users/{id}/absences/{absence_id}")]
pub async fn get_absence(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, absence) = path.into_inner();
    let record = calendars::get_absence(&state, &principal, UserId(id), AbsenceId(absence)).await?;
    Ok(ok_versioned(record.version, &absence_view(record)))
}

fn absence_view(a: AbsenceRecord) -> AbsenceView {
    AbsenceView {
        id: a.id.as_uuid(),
        user_id: a.user_id.as_uuid(),
        kind: a.kind,
        start: a.start,
        end: a.end,
        note: a.note,
        version: a.version,
        created_at: a.created_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbsenceList {
    pub items: Vec<AbsenceView>,
}

/// List current and future absences
#[utoipa::path(
    operation_id = "listAbsences",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "Absences ending in the future", body = AbsenceList)),
    security(("access_token" = []), ("api_key" = ["users:read"]))
)]
#[get("/users/{id}/absences")]
pub async fn list_absences(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let items = calendars::list_absences(&state, &principal, UserId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(AbsenceList {
        items: items.into_iter().map(absence_view).collect(),
    }))
}

/// Delete an absence
#[utoipa::path(
    operation_id = "deleteAbsence",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id"), ("absence_id" = Uuid, Path, description = "Absence id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such absence", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[delete("/users/{id}/absences/{absence_id}")]
pub async fn delete_absence(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let (id, absence) = path.into_inner();
    calendars::delete_absence(
        &state,
        &principal,
        UserId(id),
        AbsenceId(absence),
        if_match.0,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create or rotate the calendar feed link
///
/// Returns a new unguessable link (256 random bits) to the person's appointments as an
/// iCalendar feed; the previous link stops working.
#[utoipa::path(
    operation_id = "createCalendarFeed",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "ETag of the calendar (optional)", pattern = r#"^(W/)?"[0-9]+"$"#)),
    responses(
        (status = 201, description = "The new link, shown once", body = FeedLink, headers(("ETag" = String))),
        (status = 412, description = "The calendar changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/users/{id}/calendar-feed")]
pub async fn create_calendar_feed(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let feed =
        calendars::create_feed(&state, &principal, UserId(id.into_inner()), if_match.0).await?;
    let mut response = HttpResponse::Created();
    crate::extract::with_etag(&mut response, feed.calendar_version);
    Ok(response.json(FeedLink {
        path: format!("/v1/calendars/{}.ics", feed.token),
        calendar_version: feed.calendar_version,
    }))
}

/// Revoke the calendar feed link
#[utoipa::path(
    operation_id = "revokeCalendarFeed",
    tag = "calendars",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204, description = "The link no longer works (also when there was none)")),
    security(("access_token" = []))
)]
#[delete("/users/{id}/calendar-feed")]
pub async fn revoke_calendar_feed(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    calendars::revoke_feed(&state, &principal, UserId(id.into_inner()), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A person's appointments as iCalendar
///
/// The subscription feed (no account: the token in the path is the credential). Times are in
/// UTC; UIDs are stable; moved appointments carry a higher SEQUENCE; cancelled ones stay with
/// `STATUS:CANCELLED` so subscribed calendars remove them.
#[utoipa::path(
    operation_id = "getCalendarFeed",
    tag = "calendars",
    params(("file" = String, Path, description = "`<token>.ics`")),
    responses(
        (status = 200, description = "The feed", content_type = "text/calendar", body = String),
        (status = 404, description = "Unknown or revoked link", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendars/{file}")]
pub async fn get_calendar_feed(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = file.strip_suffix(".ics").ok_or(ApiError::NotFound)?;
    let body = calendars::feed(&state, token).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(body))
}
