//! Staff calendars: working hours, date exceptions, travel buffer, absences, and the
//! iCalendar feed each person can subscribe to.

use std::collections::{BTreeMap, HashMap, hash_map::Entry};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use workorders_domain::auth::Permission;
use workorders_domain::calendar::{LocalInterval, WeeklyHours, normalize_day};
use workorders_domain::{AbsenceId, UserId, ValidationErrors};
use workorders_persistence::calendars::{self, AbsenceRecord, CalendarRecord};
use workorders_persistence::{appointments, tenants, users, work_orders};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, required_version};
use crate::ics::{fold, ics_text, ics_time};
use crate::identity::Principal;
use crate::tokens::{new_token, sha256_hex};
use crate::workflow::check_version;

/// A working interval as written, local wall-clock time (`08:00`, `24:00`).
#[derive(Debug, Clone)]
pub struct ClockInterval {
    pub start: String,
    pub end: String,
}

/// Other hours on one date (no intervals: the day off).
#[derive(Debug, Clone)]
pub struct DateHours {
    pub date: NaiveDate,
    pub intervals: Vec<ClockInterval>,
}

/// A person's calendar settings as written. Field pointers in refusals name the fields
/// `/weekly_hours/<day>`, `/exceptions/<i>/...` and `/travel_buffer_minutes`.
#[derive(Debug, Clone, Default)]
pub struct CalendarSpec {
    /// Monday to Sunday.
    pub weekly: [Vec<ClockInterval>; 7],
    pub exceptions: Vec<DateHours>,
    /// Kept free before and after each appointment, minutes (0–240).
    pub travel_buffer_minutes: u32,
}

/// A person's calendar and the tenant's time zone, in which its hours apply.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub record: CalendarRecord,
    pub time_zone: String,
}

/// A new absence. `kind` is `vacation`, `sick` or `other`.
#[derive(Debug, Clone)]
pub struct NewAbsence {
    pub kind: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub note: Option<String>,
}

/// A new calendar feed token (shown once) and the calendar's version after the change.
#[derive(Debug, Clone)]
pub struct NewFeed {
    pub token: String,
    pub calendar_version: i64,
}

const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn parse_day(
    intervals: &[ClockInterval],
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

/// Reading someone's calendar: themselves or anyone who reads users. Changing it:
/// themselves or user managers and dispatchers.
async fn target(app: &App, caller: &Principal, id: UserId, write: bool) -> AppResult<UserId> {
    let user = users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if caller.user_id() == Some(user.id) {
        return Ok(user.id);
    }
    caller.require(Permission::UsersRead)?;
    if write && caller.require(Permission::UsersWrite).is_err() {
        caller.require(Permission::WorkOrdersWrite)?;
    }
    Ok(user.id)
}

async fn tenant_zone(app: &App, caller: &Principal) -> AppResult<String> {
    Ok(tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?
        .time_zone
        .name()
        .to_owned())
}

/// A person's calendar (version 0 until first saved).
pub async fn get(app: &App, caller: &Principal, user: UserId) -> AppResult<Calendar> {
    let user = target(app, caller, user, false).await?;
    let record = calendars::get(&app.db, caller.tenant_id, user).await?;
    let time_zone = tenant_zone(app, caller).await?;
    Ok(Calendar { record, time_zone })
}

/// Replaces weekly hours, exceptions and the travel buffer at `expected_version` (0 for a
/// calendar never saved). Existing appointments are not moved.
pub async fn set(
    app: &App,
    caller: &Principal,
    user: UserId,
    expected_version: Option<i64>,
    spec: CalendarSpec,
) -> AppResult<Calendar> {
    let user = target(app, caller, user, true).await?;
    let expected = required_version(expected_version)?;
    let mut errors = ValidationErrors::new();
    let mut weekly = WeeklyHours::default();
    for (i, day) in spec.weekly.iter().enumerate() {
        weekly.0[i] = parse_day(day, &mut errors, &format!("/weekly_hours/{}", DAY_NAMES[i]));
    }
    let mut exceptions = BTreeMap::new();
    for (i, e) in spec.exceptions.iter().enumerate() {
        let day = parse_day(
            &e.intervals,
            &mut errors,
            &format!("/exceptions/{i}/intervals"),
        );
        if exceptions.insert(e.date, day).is_some() {
            errors.add(format!("/exceptions/{i}/date"), "each date at most once");
        }
    }
    if spec.travel_buffer_minutes > 240 {
        errors.add("/travel_buffer_minutes", "at most 240 minutes");
    }
    errors.finish()?;
    let mut record = calendars::get(&app.db, caller.tenant_id, user).await?;
    record.weekly = weekly;
    record.exceptions = exceptions;
    record.travel_buffer_minutes = spec.travel_buffer_minutes;
    let mut tx = app.db.begin_write().await?;
    let saved = calendars::save(tx.conn(), &record, expected, app.db.now())
        .await?
        .into_app()?;
    tx.commit().await?;
    let time_zone = tenant_zone(app, caller).await?;
    Ok(Calendar {
        record: saved,
        time_zone,
    })
}

/// Records an absence (vacation, sickness or other time off); slot search and booking treat
/// it as busy.
pub async fn create_absence(
    app: &App,
    caller: &Principal,
    user: UserId,
    input: NewAbsence,
) -> AppResult<AbsenceRecord> {
    let user = target(app, caller, user, true).await?;
    let mut errors = ValidationErrors::new();
    if !["vacation", "sick", "other"].contains(&input.kind.as_str()) {
        errors.add("/kind", "one of vacation, sick, other");
    }
    if input.end <= input.start {
        errors.add("/end", "must be after start");
    }
    if input.end - input.start > Duration::days(366) {
        errors.add("/end", "at most a year");
    }
    if !workorders_domain::bounds::in_planning_window(input.start, app.db.now()) {
        errors.add("/start", workorders_domain::bounds::PLANNING_WINDOW);
    }
    errors.finish()?;
    let record = AbsenceRecord {
        id: AbsenceId::new(),
        tenant_id: caller.tenant_id,
        user_id: user,
        kind: input.kind,
        start: input.start,
        end: input.end,
        note: input
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        version: 1,
        created_at: app.db.now(),
    };
    let mut tx = app.db.begin_write().await?;
    calendars::insert_absence(tx.conn(), &record).await?;
    tx.commit().await?;
    Ok(record)
}

pub async fn get_absence(
    app: &App,
    caller: &Principal,
    user: UserId,
    absence: AbsenceId,
) -> AppResult<AbsenceRecord> {
    let user = target(app, caller, user, false).await?;
    let mut conn = app.db.acquire().await?;
    calendars::get_absence(&mut conn, caller.tenant_id, user, absence)
        .await?
        .ok_or(AppError::NotFound)
}

/// A person's absences ending in the future.
pub async fn list_absences(
    app: &App,
    caller: &Principal,
    user: UserId,
) -> AppResult<Vec<AbsenceRecord>> {
    let user = target(app, caller, user, false).await?;
    Ok(calendars::list_absences(&app.db, caller.tenant_id, user, app.db.now()).await?)
}

/// Deletes an absence at `expected_version`.
pub async fn delete_absence(
    app: &App,
    caller: &Principal,
    user: UserId,
    absence: AbsenceId,
    expected_version: Option<i64>,
) -> AppResult<()> {
    let user = target(app, caller, user, true).await?;
    let expected = required_version(expected_version)?;
    let mut tx = app.db.begin_write().await?;
    let current = calendars::get_absence(tx.conn(), caller.tenant_id, user, absence)
        .await?
        .ok_or(AppError::NotFound)?;
    check_version(Some(expected), current.version)?;
    if !calendars::delete_absence(tx.conn(), caller.tenant_id, user, current.id, expected).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    Ok(())
}

/// Creates or rotates the calendar feed token (256 random bits); the previous one stops
/// working. `expected_version` of the calendar is optional.
pub async fn create_feed(
    app: &App,
    caller: &Principal,
    user: UserId,
    expected_version: Option<i64>,
) -> AppResult<NewFeed> {
    let user = target(app, caller, user, true).await?;
    let token = new_token("cal_").map_err(AppError::internal)?;
    let mut tx = app.db.begin_write().await?;
    let version = calendars::set_feed_token(
        tx.conn(),
        caller.tenant_id,
        user,
        Some(&sha256_hex(&token)),
        expected_version,
        app.db.now(),
    )
    .await?
    .ok_or(AppError::Stale {
        current_version: -1,
    })?;
    tx.commit().await?;
    Ok(NewFeed {
        token,
        calendar_version: version,
    })
}

/// Revokes the calendar feed token at the calendar's `expected_version` (also when there
/// is none).
pub async fn revoke_feed(
    app: &App,
    caller: &Principal,
    user: UserId,
    expected_version: Option<i64>,
) -> AppResult<()> {
    let user = target(app, caller, user, true).await?;
    let expected = required_version(expected_version)?;
    let current = calendars::get(&app.db, caller.tenant_id, user).await?;
    check_version(Some(expected), current.version)?;
    if !current.has_feed {
        return Ok(());
    }
    let mut tx = app.db.begin_write().await?;
    calendars::set_feed_token(
        tx.conn(),
        caller.tenant_id,
        user,
        None,
        Some(expected),
        app.db.now(),
    )
    .await?
    .ok_or(AppError::Stale {
        current_version: expected + 1,
    })?;
    tx.commit().await?;
    Ok(())
}

/// A person's appointments (from 30 days back) as iCalendar text, for the feed `token`
/// (no account: the token is the credential). Times in UTC; UIDs stable; moved appointments
/// carry a higher SEQUENCE; cancelled ones stay with `STATUS:CANCELLED`.
pub async fn feed(app: &App, token: &str) -> AppResult<String> {
    let (tenant, user) = calendars::find_by_feed_token(&app.db, &sha256_hex(token))
        .await?
        .ok_or(AppError::NotFound)?;
    let person = users::get(&app.db, tenant, user)
        .await?
        .ok_or(AppError::NotFound)?;
    let since = app.db.now() - Duration::days(30);
    let items = appointments::for_person(&app.db, tenant, user, since, 2000).await?;
    let mut orders = HashMap::new();
    for a in &items {
        if let Entry::Vacant(e) = orders.entry(a.work_order_id)
            && let Some(o) = work_orders::get(&app.db, tenant, a.work_order_id).await?
        {
            e.insert(o);
        }
    }
    let stamp = ics_time(app.db.now());
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
    Ok(body)
}
