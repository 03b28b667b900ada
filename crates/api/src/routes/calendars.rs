//! Staff calendars: working hours, date exceptions, travel buffer, absences, and the
//! iCalendar feed each person can subscribe to.

use std::collections::BTreeMap;
use workorders_domain::text::{Line, Text};

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::ics::{fold, ics_text, ics_time};
use workorders_domain::auth::Permission;
use workorders_domain::calendar::{LocalInterval, WeeklyHours, format_clock, normalize_day};
use workorders_domain::{AbsenceId, UserId, ValidationErrors};
use workorders_persistence::calendars::{self, AbsenceRecord, CalendarRecord};
use workorders_persistence::{appointments, tenants, users, work_orders};

use crate::auth::tokens::{new_token, sha256_hex};
use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt};
use crate::extract::{IfMatch, ValidJson, require_version};
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

fn parse_day(
    intervals: &[IntervalBody],
    errors: &mut ValidationErrors,
    pointer: &str,
) -> Vec<LocalInterval> {
    let mut parsed = Vec::new();
    for (i, b) in intervals.iter().enumerate() {
        match LocalInterval::parse(&b.start, &b.end) {
            Ok(interval) => parsed.push(interval),
            Err(e) => errors.add(format!("{pointer}/{i}"), e.to_string()),
        }
    }
    match normalize_day(parsed) {
        Ok(day) => day,
        Err(e) => {
            errors.add(pointer, e.to_string());
            Vec::new()
        }
    }
}

fn view(c: CalendarRecord, time_zone: &str) -> CalendarView {
    let w = &c.weekly.0;
    CalendarView {
        user_id: c.user_id.as_uuid(),
        time_zone: time_zone.to_owned(),
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

/// Reading someone's calendar: themselves or anyone who reads users. Changing it:
/// themselves or user managers and dispatchers.
async fn target(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    write: bool,
) -> ApiResult<UserId> {
    let user = users::get(&state.db, principal.tenant_id, UserId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if principal.user_id() == Some(user.id) {
        return Ok(user.id);
    }
    principal.require(Permission::UsersRead)?;
    if write && principal.require(Permission::UsersWrite).is_err() {
        principal.require(Permission::WorkOrdersWrite)?;
    }
    Ok(user.id)
}

async fn tenant_zone(state: &AppState, principal: &Principal) -> ApiResult<String> {
    Ok(tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .time_zone
        .name()
        .to_owned())
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
    let user = target(&state, &principal, id.into_inner(), false).await?;
    let calendar = calendars::get(&state.db, principal.tenant_id, user).await?;
    let zone = tenant_zone(&state, &principal).await?;
    Ok(ok_versioned(calendar.version, &view(calendar, &zone)))
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
    let user = target(&state, &principal, id.into_inner(), true).await?;
    let expected = if_match.required()?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    let w = &body.weekly_hours;
    let days = [
        &w.monday,
        &w.tuesday,
        &w.wednesday,
        &w.thursday,
        &w.friday,
        &w.saturday,
        &w.sunday,
    ];
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let mut weekly = WeeklyHours::default();
    for (i, day) in days.iter().enumerate() {
        weekly.0[i] = parse_day(day, &mut errors, &format!("/weekly_hours/{}", names[i]));
    }
    let mut exceptions = BTreeMap::new();
    for (i, e) in body.exceptions.iter().enumerate() {
        let day = parse_day(
            &e.intervals,
            &mut errors,
            &format!("/exceptions/{i}/intervals"),
        );
        if exceptions.insert(e.date, day).is_some() {
            errors.add(format!("/exceptions/{i}/date"), "each date at most once");
        }
    }
    if body.travel_buffer_minutes > 240 {
        errors.add("/travel_buffer_minutes", "at most 240 minutes");
    }
    errors.finish()?;
    let mut record = calendars::get(&state.db, principal.tenant_id, user).await?;
    record.weekly = weekly;
    record.exceptions = exceptions;
    record.travel_buffer_minutes = body.travel_buffer_minutes;
    let mut tx = state.db.begin_write().await?;
    let saved = calendars::save(tx.conn(), &record, expected, state.db.now())
        .await?
        .into_api()?;
    tx.commit().await?;
    let zone = tenant_zone(&state, &principal).await?;
    Ok(ok_versioned(saved.version, &view(saved, &zone)))
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
    let user = target(&state, &principal, id.into_inner(), true).await?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    if !["vacation", "sick", "other"].contains(&body.kind.as_str()) {
        errors.add("/kind", "one of vacation, sick, other");
    }
    if body.end <= body.start {
        errors.add("/end", "must be after start");
    }
    if body.end - body.start > Duration::days(366) {
        errors.add("/end", "at most a year");
    }
    if !workorders_domain::bounds::in_planning_window(body.start, state.db.now()) {
        errors.add("/start", workorders_domain::bounds::PLANNING_WINDOW);
    }
    errors.finish()?;
    let record = AbsenceRecord {
        id: AbsenceId::new(),
        tenant_id: principal.tenant_id,
        user_id: user,
        kind: body.kind.into_string(),
        start: body.start,
        end: body.end,
        note: body
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        version: 1,
        created_at: state.db.now(),
    };
    let mut tx = state.db.begin_write().await?;
    calendars::insert_absence(tx.conn(), &record).await?;
    tx.commit().await?;
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
    let user = target(&state, &principal, id, false).await?;
    let mut conn = state.db.acquire().await?;
    let record = calendars::get_absence(&mut conn, principal.tenant_id, user, AbsenceId(absence))
        .await?
        .ok_or(ApiError::NotFound)?;
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
    let user = target(&state, &principal, id.into_inner(), false).await?;
    let items =
        calendars::list_absences(&state.db, principal.tenant_id, user, state.db.now()).await?;
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
    let user = target(&state, &principal, id, true).await?;
    let expected = if_match.required()?;
    let mut tx = state.db.begin_write().await?;
    let current = calendars::get_absence(tx.conn(), principal.tenant_id, user, AbsenceId(absence))
        .await?
        .ok_or(ApiError::NotFound)?;
    require_version(expected, current.version)?;
    if !calendars::delete_absence(tx.conn(), principal.tenant_id, user, current.id, expected)
        .await?
    {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
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
    let user = target(&state, &principal, id.into_inner(), true).await?;
    let token = new_token("cal_").map_err(ApiError::internal)?;
    let mut tx = state.db.begin_write().await?;
    let version = calendars::set_feed_token(
        tx.conn(),
        principal.tenant_id,
        user,
        Some(&sha256_hex(&token)),
        if_match.0,
        state.db.now(),
    )
    .await?
    .ok_or(ApiError::PreconditionFailed {
        current_version: -1,
    })?;
    tx.commit().await?;
    let mut response = HttpResponse::Created();
    crate::extract::with_etag(&mut response, version);
    Ok(response.json(FeedLink {
        path: format!("/v1/calendars/{token}.ics"),
        calendar_version: version,
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
    let user = target(&state, &principal, id.into_inner(), true).await?;
    let expected = if_match.required()?;
    let current = calendars::get(&state.db, principal.tenant_id, user).await?;
    require_version(expected, current.version)?;
    if !current.has_feed {
        return Ok(HttpResponse::NoContent().finish());
    }
    let mut tx = state.db.begin_write().await?;
    calendars::set_feed_token(
        tx.conn(),
        principal.tenant_id,
        user,
        None,
        Some(expected),
        state.db.now(),
    )
    .await?
    .ok_or(ApiError::PreconditionFailed {
        current_version: expected + 1,
    })?;
    tx.commit().await?;
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
    let (tenant, user) = calendars::find_by_feed_token(&state.db, &sha256_hex(token))
        .await?
        .ok_or(ApiError::NotFound)?;
    let person = users::get(&state.db, tenant, user)
        .await?
        .ok_or(ApiError::NotFound)?;
    let since = state.db.now() - Duration::days(30);
    let items = appointments::for_person(&state.db, tenant, user, since, 2000).await?;
    let mut orders = std::collections::HashMap::new();
    for a in &items {
        if let std::collections::hash_map::Entry::Vacant(e) = orders.entry(a.work_order_id)
            && let Some(o) = work_orders::get(&state.db, tenant, a.work_order_id).await?
        {
            e.insert(o);
        }
    }
    let stamp = ics_time(state.db.now());
    let mut body = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//workorders//calendar feed//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        body.push_str(&fold(line));
    }
    body.push_str(&fold(&format!(
        "X-WR-CALNAME:{}",
        ics_text(&format!("Termine {}", person.name))
    )));
    for a in &items {
        let order = orders.get(&a.work_order_id);
        let summary = order
            .map(|o| format!("{} {}", o.number, o.title))
            .unwrap_or_else(|| "Termin".to_owned());
        body.push_str(&fold("BEGIN:VEVENT"));
        body.push_str(&fold(&format!("UID:{}@workorders", a.id)));
        body.push_str(&fold(&format!("DTSTAMP:{stamp}")));
        body.push_str(&fold(&format!("DTSTART:{}", ics_time(a.start))));
        body.push_str(&fold(&format!("DTEND:{}", ics_time(a.end))));
        body.push_str(&fold(&format!("SEQUENCE:{}", a.sequence)));
        body.push_str(&fold(&format!("LAST-MODIFIED:{}", ics_time(a.updated_at))));
        body.push_str(&fold(&format!("SUMMARY:{}", ics_text(&summary))));
        if let Some(notes) = &a.notes {
            body.push_str(&fold(&format!("DESCRIPTION:{}", ics_text(notes))));
        }
        let status = if a.status.blocks_time() {
            "CONFIRMED"
        } else {
            "CANCELLED"
        };
        body.push_str(&fold(&format!("STATUS:{status}")));
        body.push_str(&fold("END:VEVENT"));
    }
    body.push_str(&fold("END:VCALENDAR"));
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(body))
}
