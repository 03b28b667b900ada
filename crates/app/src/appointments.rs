//! Appointments on people's calendars: schedule, move or reassign, status changes, lists,
//! and what their changes leave in the order's history.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::auth::Permission;
use workorders_domain::calendar::Span;
use workorders_domain::work_order::Command;
use workorders_domain::{AppointmentId, StepId, UserId, ValidationErrors, WorkOrderId};
use workorders_persistence::WriteTx;
use workorders_persistence::appointments::{self, AppointmentFilter, AppointmentRecord};
use workorders_persistence::work_orders::{self, NewEvent};
use workorders_persistence::{tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, required_version};
use crate::identity::Principal;
use crate::scheduling::{Placement, check_people};
use crate::workflow::{self, DbAssigner, actor_of, check_version, ensure_visible};

/// Records an appointment change in its order's history.
pub async fn record_history(
    tx: &mut WriteTx,
    principal: &Principal,
    a: &AppointmentRecord,
    event_type: &str,
    extra: serde_json::Value,
) -> AppResult<()> {
    let mut data = serde_json::json!({
        "appointment_id": a.id, "start": a.start, "end": a.end,
        "assignee_ids": a.assignees, "status": a.status.as_str(),
    });
    if let (Some(map), Some(more)) = (data.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    let entry = NewEvent {
        event_type: event_type.to_owned(),
        data,
    };
    work_orders::append_events(
        tx,
        a.tenant_id,
        a.work_order_id,
        Uuid::now_v7(),
        &actor_of(principal),
        a.updated_at,
        &[entry],
    )
    .await?;
    Ok(())
}

/// A new appointment. Field pointers in refusals name these fields (`/start`,
/// `/assignee_ids`, ...).
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub work_order_id: WorkOrderId,
    /// The step the appointment serves (its holder becomes the first assignee).
    pub step_id: Option<StepId>,
    /// One or more people (a crew).
    pub assignee_ids: Vec<Uuid>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub notes: Option<String>,
    /// Book outside working hours (never over other appointments).
    pub override_working_hours: bool,
}

/// A change of an appointment; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct AppointmentChange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub assignee_ids: Option<Vec<Uuid>>,
    pub notes: Option<String>,
    pub override_working_hours: bool,
}

/// Which appointments to list (by start time, after the cursor `(start, id)`).
#[derive(Debug, Clone, Default)]
pub struct AppointmentQuery {
    /// Appointments ending after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Appointments starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Ignored for technicians, who see their own appointments only.
    pub assignee: Option<UserId>,
    pub work_order: Option<WorkOrderId>,
    pub status: Option<AppointmentStatus>,
    /// The sort key and id of the last appointment of the previous page.
    pub after: Option<(String, AppointmentId)>,
    /// Page size.
    pub limit: u32,
}

/// One page of appointments.
#[derive(Debug)]
pub struct AppointmentPage {
    pub items: Vec<AppointmentRecord>,
    /// The sort key and id to continue after, when another page exists.
    pub next: Option<(String, AppointmentId)>,
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
    caller: &Principal,
    ids: &[Uuid],
) -> AppResult<Vec<UserId>> {
    let everyone = users::all_in(tx.conn(), caller.tenant_id).await?;
    let mut people = Vec::new();
    for id in ids {
        match everyone.iter().find(|u| u.id.as_uuid() == *id) {
            Some(u) if u.active => people.push(u.id),
            _ => {
                return Err(AppError::invalid(
                    "/assignee_ids",
                    format!("{id} is not an active user of this tenant"),
                ));
            }
        }
    }
    Ok(people)
}

async fn tenant_tz(app: &App, caller: &Principal) -> AppResult<chrono_tz::Tz> {
    Ok(tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?
        .time_zone
        .tz())
}

fn not_changeable(detail: String, status: AppointmentStatus) -> AppError {
    AppError::InvalidTransition {
        detail,
        current_state: status.as_str().to_owned(),
        allowed_actions: status
            .allowed_actions()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// Schedules an appointment: refused with `slot_taken` when a person is booked or absent
/// then (travel buffers included), or `outside_working_hours` unless overridden. The step
/// it serves goes to the (first) person booked.
pub async fn create(
    app: &App,
    caller: &Principal,
    input: NewAppointment,
) -> AppResult<AppointmentRecord> {
    caller.require(Permission::WorkOrdersWrite)?;
    let mut errors = ValidationErrors::new();
    validate(
        input.start,
        input.end,
        &input.assignee_ids,
        app.db.now(),
        &mut errors,
    );
    errors.finish()?;
    let order_id = input.work_order_id;
    let tz = tenant_tz(app, caller).await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let order = work_orders::load_for_update(tx.conn(), &app.db, caller.tenant_id, order_id)
        .await?
        .ok_or_else(|| AppError::invalid("/work_order_id", "no such work order in this tenant"))?;
    let step = input.step_id;
    if let Some(step) = step
        && order.order.step(step).is_none()
    {
        return Err(AppError::invalid("/step_id", "no such step in this order"));
    }
    let people = active_people(&mut tx, caller, &input.assignee_ids).await?;
    let span = Span::new(input.start, input.end);
    check_people(
        &mut tx,
        &app.db,
        caller.tenant_id,
        tz,
        &people,
        span,
        Placement {
            override_hours: input.override_working_hours,
            ignore: None,
        },
    )
    .await?;
    let notes = input
        .notes
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let record = AppointmentRecord::scheduled(
        caller.tenant_id,
        order_id,
        step,
        (input.start, input.end),
        people,
        notes,
        now,
    );
    appointments::insert(&mut tx, &record).await?;
    record_history(
        &mut tx,
        caller,
        &record,
        "appointment.scheduled",
        serde_json::json!({"override_working_hours": input.override_working_hours}),
    )
    .await?;
    // The step the appointment serves goes to the (first) person booked.
    if let (Some(step), Some(person)) = (step, record.assignees.first().copied()) {
        let mut order = order;
        let mut assigner = DbAssigner::load(tx.conn(), caller.tenant_id).await?;
        let command = Command::PlanStep {
            step,
            user: person,
            reason: "appointment scheduled".to_owned(),
        };
        if let Ok(events) = order.order.handle(command, now, &mut assigner) {
            workflow::persist(&mut tx, &mut order, &events, &actor_of(caller), now).await?;
        }
    }
    tx.commit().await?;
    Ok(record)
}

/// One page of appointments by start time. Technicians see their own appointments only.
pub async fn list(
    app: &App,
    caller: &Principal,
    query: AppointmentQuery,
) -> AppResult<AppointmentPage> {
    let assignee = if caller.require(Permission::WorkOrdersRead).is_ok() {
        query.assignee
    } else {
        caller.require(Permission::WorkOrdersReadOwn)?;
        caller.user_id()
    };
    let filter = AppointmentFilter {
        from: query.from,
        to: query.to,
        assignee,
        work_order: query.work_order,
        status: query.status,
    };
    let limit = query.limit;
    let mut rows = appointments::list(
        &app.db,
        caller.tenant_id,
        &filter,
        query.after,
        limit.saturating_add(1),
    )
    .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if has_more {
        rows.last()
            .map(|a| (workorders_persistence::format_instant(a.start), a.id))
    } else {
        None
    };
    Ok(AppointmentPage { items: rows, next })
}

/// An appointment the caller may see (its order visible to them).
pub async fn get(app: &App, caller: &Principal, id: AppointmentId) -> AppResult<AppointmentRecord> {
    let mut conn = app.db.acquire().await?;
    let record = appointments::get(&mut conn, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    ensure_visible(&app.db, caller, record.work_order_id).await?;
    Ok(record)
}

/// Moves or reassigns an appointment at `expected_version`, checked like a new one.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: AppointmentId,
    expected_version: Option<i64>,
    change: AppointmentChange,
) -> AppResult<AppointmentRecord> {
    caller.require(Permission::WorkOrdersWrite)?;
    let expected = required_version(expected_version)?;
    let current = get(app, caller, id).await?;
    check_version(Some(expected), current.version)?;
    if !current.status.is_changeable() {
        return Err(not_changeable(
            format!("an appointment that is {} cannot be moved", current.status),
            current.status,
        ));
    }
    let start = change.start.unwrap_or(current.start);
    let end = change.end.unwrap_or(current.end);
    let ids: Vec<Uuid> = change
        .assignee_ids
        .clone()
        .unwrap_or_else(|| current.assignees.iter().map(|u| u.as_uuid()).collect());
    let mut errors = ValidationErrors::new();
    validate(start, end, &ids, app.db.now(), &mut errors);
    errors.finish()?;
    let tz = tenant_tz(app, caller).await?;
    let mut tx = app.db.begin_write().await?;
    let people = active_people(&mut tx, caller, &ids).await?;
    check_people(
        &mut tx,
        &app.db,
        caller.tenant_id,
        tz,
        &people,
        Span::new(start, end),
        Placement {
            override_hours: change.override_working_hours,
            ignore: Some(current.id),
        },
    )
    .await?;
    let mut next = current.clone();
    next.start = start;
    next.end = end;
    next.assignees = people;
    if let Some(notes) = change.notes {
        next.notes = Some(notes.trim().to_owned()).filter(|n| !n.is_empty());
    }
    let now = app.db.now();
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(AppError::Stale {
            current_version: current.version + 1,
        });
    }
    let before = serde_json::json!({"before": {"start": current.start, "end": current.end, "assignee_ids": current.assignees}});
    record_history(&mut tx, caller, &next, "appointment.changed", before).await?;
    tx.commit().await?;
    next.version += 1;
    next.sequence += 1;
    next.updated_at = now;
    Ok(next)
}

/// Changes an appointment's status. The assignees may report progress; otherwise it needs
/// `WorkOrdersWrite`. `expected_version` is optional.
pub async fn run_action(
    app: &App,
    caller: &Principal,
    id: AppointmentId,
    expected_version: Option<i64>,
    action: AppointmentAction,
    reason: Option<String>,
) -> AppResult<AppointmentRecord> {
    let current = get(app, caller, id).await?;
    let is_assignee = caller
        .user_id()
        .is_some_and(|u| current.assignees.contains(&u));
    if !is_assignee {
        caller.require(Permission::WorkOrdersWrite)?;
    }
    check_version(expected_version, current.version)?;
    let Some(status) = current.status.apply(action) else {
        return Err(not_changeable(
            format!(
                "cannot {} an appointment that is {}",
                action.as_str(),
                current.status
            ),
            current.status,
        ));
    };
    let mut next = current.clone();
    next.status = status;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(AppError::Stale {
            current_version: current.version + 1,
        });
    }
    record_history(
        &mut tx,
        caller,
        &next,
        &format!("appointment.{}", status.as_str()),
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    next.version += 1;
    next.sequence += 1;
    next.updated_at = now;
    Ok(next)
}
