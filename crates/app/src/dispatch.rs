//! Dispatching for staff: ranked assignee suggestions with reasons, free slots of a service
//! with who is free at each start, and scheduling a step's appointment with automatic
//! assignment.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use workorders_domain::auth::Permission;
use workorders_domain::calendar::Span;
use workorders_domain::process::Responsible;
use workorders_domain::slots::Slot;
use workorders_domain::work_order::Command;
use workorders_domain::{ServiceId, SiteId, StepId, TenantId, WorkOrderId};
use workorders_persistence::appointments::{self, AppointmentRecord};
use workorders_persistence::work_orders::{self, NewEvent};
use workorders_persistence::{customers, services, tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::identity::Principal;
use crate::scheduling::{self, CandidateReport, CustomerLocation, free_people, service_slots};
use crate::workflow::{self, DbAssigner, actor_of, ensure_visible};

/// Where a site is, for service-area rules (nothing known when there is no such site).
pub(crate) async fn site_location(
    app: &App,
    tenant: TenantId,
    site: SiteId,
) -> AppResult<CustomerLocation> {
    let site = customers::get_site(&app.db, tenant, site).await?;
    Ok(CustomerLocation {
        postal_code: site.as_ref().map(|s| s.postal_code.clone()),
        coordinates: site.and_then(|s| s.latitude.zip(s.longitude)),
    })
}

/// The caller's company's time zone.
async fn time_zone(app: &App, caller: &Principal) -> AppResult<Tz> {
    Ok(tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?
        .time_zone
        .tz())
}

/// Ranks everyone for the step's appointment at `start..end`, with the reason each was
/// chosen or excluded. Eligible people first, least loaded first.
pub async fn suggest_assignee(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    step: StepId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<Vec<CandidateReport>> {
    caller.require(Permission::WorkOrdersRead)?;
    let order = work_orders::get(&app.db, caller.tenant_id, order)
        .await?
        .ok_or(AppError::NotFound)?;
    let step = order.order.step(step).ok_or(AppError::NotFound)?;
    if end <= start {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "`end` must be after `start`",
        ));
    }
    let tz = time_zone(app, caller).await?;
    let location = site_location(app, caller.tenant_id, order.site_id).await?;
    let mut conn = app.db.acquire().await?;
    let candidates = match &step.definition.responsible {
        Responsible::Role { role, skills } => {
            scheduling::suggest(
                &mut conn,
                caller.tenant_id,
                tz,
                *role,
                skills,
                None,
                &location,
                Span::new(start, end),
            )
            .await?
        }
        Responsible::User { user_id } => {
            let role = users::get(&app.db, caller.tenant_id, *user_id)
                .await?
                .map(|u| u.role)
                .unwrap_or(workorders_domain::auth::Role::Owner);
            let mut all = scheduling::suggest(
                &mut conn,
                caller.tenant_id,
                tz,
                role,
                &[],
                None,
                &location,
                Span::new(start, end),
            )
            .await?;
            all.retain(|c| c.user_id == user_id.as_uuid());
            all
        }
    };
    Ok(candidates)
}

/// Free starts of a service with who is free at each (the staff view).
#[derive(Debug, Clone)]
pub struct StaffSlots {
    /// The company's time zone.
    pub time_zone: Tz,
    pub slots: Vec<Slot>,
}

/// Free slots of a service between two local dates (default today and the following six
/// days, at most 31 days apart), for a postal code: to offer a caller the next free times.
pub async fn service_slots_for_staff(
    app: &App,
    caller: &Principal,
    service: ServiceId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    postal_code: Option<String>,
) -> AppResult<StaffSlots> {
    caller.require(Permission::WorkOrdersRead)?;
    let service = services::get(&app.db, caller.tenant_id, service)
        .await?
        .ok_or(AppError::NotFound)?;
    let tz = time_zone(app, caller).await?;
    let now = app.db.now();
    let today = now.with_timezone(&tz).date_naive();
    let from = from.unwrap_or(today);
    let to = to.unwrap_or(from + Duration::days(6));
    if to < from || (to - from).num_days() > 31 {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "`to` must be on or after `from`, at most 31 days",
        ));
    }
    let location = CustomerLocation {
        postal_code,
        coordinates: None,
    };
    let mut conn = app.db.acquire().await?;
    let slots = service_slots(&mut conn, tz, &service, from, to, &location, now).await?;
    Ok(StaffSlots {
        time_zone: tz,
        slots,
    })
}

/// Books the service's appointment for the order's step at `start`, picks the person by the
/// service's rule among those free, makes them the step's holder and records why in the
/// history. `slot_taken` when nobody is free then.
pub async fn schedule_step(
    app: &App,
    caller: &Principal,
    order_id: WorkOrderId,
    step_id: StepId,
    service: ServiceId,
    start: DateTime<Utc>,
) -> AppResult<AppointmentRecord> {
    caller.require(Permission::WorkOrdersWrite)?;
    ensure_visible(&app.db, caller, order_id).await?;
    let service = services::get(&app.db, caller.tenant_id, service)
        .await?
        .ok_or(AppError::NotFound)?;
    let tz = time_zone(app, caller).await?;
    let order = work_orders::get(&app.db, caller.tenant_id, order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    order.order.step(step_id).ok_or(AppError::NotFound)?;
    let location = site_location(app, caller.tenant_id, order.site_id).await?;
    let day = start.with_timezone(&tz).date_naive();
    let mut conn = app.db.acquire().await?;
    let slots = service_slots(&mut conn, tz, &service, day, day, &location, app.db.now()).await?;
    drop(conn);
    let candidates = free_people(&slots, start);
    let span = Span::new(
        start,
        start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &app.db,
        caller.tenant_id,
        tz,
        &candidates,
        span,
        None,
    )
    .await?;
    let pool = format!("service:{}", service.id);
    let Some((person, why)) = scheduling::pick(
        tx.conn(),
        caller.tenant_id,
        &pool,
        service.assignment_rule,
        &free,
        span.start,
    )
    .await?
    else {
        return Err(AppError::conflict(
            codes::SLOT_TAKEN,
            "nobody who can take this service is free then",
        ));
    };
    let mut order = work_orders::load_for_update(tx.conn(), &app.db, caller.tenant_id, order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut assigner = DbAssigner::load(tx.conn(), caller.tenant_id).await?;
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
    let appointment = AppointmentRecord::scheduled(
        caller.tenant_id,
        order_id,
        Some(step_id),
        (span.start, span.end),
        vec![person],
        None,
        now,
    );
    appointments::insert(&mut tx, &appointment).await?;
    let actor = actor_of(caller);
    workflow::persist(&mut tx, &mut order, &events, &actor, now).await?;
    let entry = NewEvent {
        event_type: "appointment.scheduled".to_owned(),
        data: serde_json::json!({"appointment_id": appointment.id, "start": span.start, "end": span.end, "assignee_ids": [person], "assignment_reason": why}),
    };
    work_orders::append_events(
        &mut tx,
        caller.tenant_id,
        order_id,
        uuid::Uuid::now_v7(),
        &actor,
        now,
        &[entry],
    )
    .await?;
    tx.commit().await?;
    Ok(appointment)
}
