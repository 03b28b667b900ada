//! Oversight worker: escalation of overdue work and the review scheduler.
//!
//! Every instance runs `tick` every `oversight.scan`. Each notice and each review has a
//! unique identity in the database (the notice's (kind, subject, occasion), the review's
//! (schedule, occurrence)), written in the transaction that queues its e-mail and webhook,
//! so instances racing each other, restarts and downtime produce each exactly once.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;
use workorders_domain::TenantId;
use workorders_domain::review::{ItemKind, Recurrence, ReviewStatus, Window, is_late};
use workorders_mail::templates::Lang;
use workorders_persistence::oversight::{
    self as store, Contact, Notice, OverdueStep, ReviewRecord, ScheduleRecord,
};
use workorders_persistence::{Db, WriteTx, billing as billing_store, tenants};

use crate::App;
use crate::error::{AppError, AppResult};

/// Overdue steps older than this are not announced any more (a backlog after an outage
/// or a long-off feature is for the review, not for a flood of e-mails).
const WINDOW_DAYS: i64 = 7;
/// Rows handled per scan and kind.
const BATCH: u32 = 200;
/// An appointment still `scheduled`/`confirmed` this long after its end counts as missed.
pub const MISSED_AFTER_MINUTES: i64 = 60;
/// Items per kind frozen into a review.
pub const ITEMS_PER_KIND: u32 = 100;

/// What one scan did (logged; tests read it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub overdue_announced: usize,
    pub escalated: usize,
    pub stuck_flagged: usize,
    pub missed_flagged: usize,
    pub reviews_created: usize,
    pub reviews_escalated: usize,
}

pub async fn run_worker(state: App, mut shutdown: watch::Receiver<bool>) {
    let scan = state.settings.oversight.scan;
    loop {
        match tick(&state).await {
            Ok(report) if report != TickReport::default() => {
                tracing::info!(?report, "oversight scan");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "oversight scan failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(scan) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The phases of a scan, each isolated from the others.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Overdue,
    Escalation,
    Stuck,
    Missed,
    Reviews,
    ReviewsOverdue,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::Overdue,
        Phase::Escalation,
        Phase::Stuck,
        Phase::Missed,
        Phase::Reviews,
        Phase::ReviewsOverdue,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Overdue => "overdue_steps",
            Phase::Escalation => "escalation",
            Phase::Stuck => "stuck_orders",
            Phase::Missed => "missed_appointments",
            Phase::Reviews => "review_schedules",
            Phase::ReviewsOverdue => "reviews_not_signed_off",
        }
    }

    async fn run(
        self,
        state: &App,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        let mut people = People::default();
        match self {
            Phase::Overdue => announce_overdue(state, &mut people, tenant, now).await,
            Phase::Escalation => escalate_overdue(state, &mut people, tenant, now).await,
            Phase::Stuck => flag_stuck(state, tenant, now).await,
            Phase::Missed => flag_missed(state, tenant, now).await,
            Phase::Reviews => create_due_reviews(state, &mut people, tenant, now).await,
            Phase::ReviewsOverdue => escalate_reviews(state, &mut people, tenant, now).await,
        }
    }
}

/// One scan of everything oversight watches. Each phase runs on its own: a failure in one
/// does not stop the others. A phase that fails is run again tenant by tenant, so that one
/// tenant's unreadable row or broken schedule stops only that tenant's work; the failure is
/// kept (`worker_problems`: the tenant's oversight view shows it) and counted in
/// `/metrics` (`worker_errors`) until the phase runs through for that tenant again.
pub async fn tick(state: &App) -> AppResult<TickReport> {
    let now = state.db.now();
    let mut report = TickReport::default();
    for phase in Phase::ALL {
        let n = run_isolated(state, phase, now).await;
        match phase {
            Phase::Overdue => report.overdue_announced = n,
            Phase::Escalation => report.escalated = n,
            Phase::Stuck => report.stuck_flagged = n,
            Phase::Missed => report.missed_flagged = n,
            Phase::Reviews => report.reviews_created = n,
            Phase::ReviewsOverdue => report.reviews_escalated = n,
        }
    }
    Ok(report)
}

async fn run_isolated(state: &App, phase: Phase, now: DateTime<Utc>) -> usize {
    match phase.run(state, None, now).await {
        Ok(n) => {
            if let Err(e) = store::clear_problems(&state.db, None, "oversight", phase.name()).await
            {
                tracing::warn!(error = %e, "could not clear oversight problems");
            }
            return n;
        }
        Err(e) => {
            state.metrics.worker_error("oversight", phase.name());
            tracing::warn!(phase = phase.name(), error = %e, "oversight phase failed; running it tenant by tenant");
        }
    }
    let tenants = match store::tenant_ids(&state.db).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "could not list tenants; the next scan tries again");
            return 0;
        }
    };
    let mut total = 0;
    for tenant in tenants {
        match phase.run(state, Some(tenant), now).await {
            Ok(n) => {
                total += n;
                if let Err(e) =
                    store::clear_problems(&state.db, Some(tenant), "oversight", phase.name()).await
                {
                    tracing::warn!(error = %e, "could not clear oversight problems");
                }
            }
            Err(e) => {
                state.metrics.worker_error("oversight", phase.name());
                tracing::error!(%tenant, phase = phase.name(), error = %e, "oversight phase failed for a tenant");
                // Shown to the tenant: a database failure in words, not its internals.
                let detail = match &e {
                    AppError::Internal(err)
                        if matches!(
                            err.downcast_ref::<workorders_persistence::StoreError>(),
                            Some(workorders_persistence::StoreError::Database(_))
                        ) =>
                    {
                        "a database error; the operator finds the details in the server log"
                            .to_owned()
                    }
                    AppError::Internal(err) => format!("{err:#}"),
                    other => other.to_string(),
                };
                if let Err(e) = store::record_problem(
                    &state.db,
                    tenant,
                    "oversight",
                    phase.name(),
                    &detail,
                    state.db.now(),
                )
                .await
                {
                    tracing::warn!(error = %e, "could not record an oversight problem");
                }
            }
        }
    }
    total
}

/// Tenant facts needed for messages, read once per scan.
#[derive(Default)]
struct People {
    tenants: HashMap<TenantId, TenantFacts>,
}

#[derive(Clone)]
struct TenantFacts {
    tz: chrono_tz::Tz,
    lang: Lang,
    owners: Vec<Contact>,
    /// Who hears about escalated steps: the process owner, else the first owner.
    escalate_to: Vec<Contact>,
}

impl People {
    async fn tenant(&mut self, db: &Db, tenant: TenantId) -> AppResult<TenantFacts> {
        if let Some(f) = self.tenants.get(&tenant) {
            return Ok(f.clone());
        }
        let mut conn = db.acquire().await?;
        let record = tenants::get_in(&mut conn, tenant)
            .await?
            .ok_or(AppError::NotFound)?;
        let lang = billing_store::get_profile(&mut conn, tenant)
            .await?
            .map_or(Lang::De, |p| crate::billing::lang_of(&p.profile));
        let owners = store::owners(&mut conn, tenant).await?;
        let process_owner = match record.process_owner_id {
            Some(id) => store::contacts(&mut conn, tenant, &[id]).await?,
            None => Vec::new(),
        };
        let escalate_to = if process_owner.is_empty() {
            owners.iter().take(1).cloned().collect()
        } else {
            process_owner
        };
        let facts = TenantFacts {
            tz: record.time_zone.tz(),
            lang,
            owners,
            escalate_to,
        };
        self.tenants.insert(tenant, facts.clone());
        Ok(facts)
    }
}

use crate::staff_mail::StaffMail;

async fn queue_staff_mail(
    tx: &mut WriteTx,
    tenant: TenantId,
    to: &Contact,
    mail: &StaffMail,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let to = crate::staff_mail::Recipient {
        name: to.name.clone(),
        email: to.email.clone(),
    };
    crate::staff_mail::queue(tx, tenant, &to, mail, now).await
}

fn local(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string()
}

fn order_link(state: &App, order: workorders_domain::WorkOrderId) -> String {
    format!(
        "{}/v1/work-orders/{order}",
        state.settings.mail.public_base_url.trim_end_matches('/')
    )
}

fn step_payload(s: &OverdueStep) -> serde_json::Value {
    serde_json::json!({
        "work_order_id": s.work_order_id,
        "number": s.number,
        "step_id": s.step_id,
        "step_key": s.step_key,
        "responsible": s.responsible_id,
        "due_at": s.due_text,
    })
}

/// `step.overdue`: webhook and an e-mail to the person responsible, once per due time.
async fn announce_overdue(
    state: &App,
    people: &mut People,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let steps =
        store::overdue_unannounced(&state.db, tenant, now, Duration::days(WINDOW_DAYS), BATCH)
            .await?;
    if steps.is_empty() {
        return Ok(0);
    }
    let mut facts = Vec::with_capacity(steps.len());
    for s in &steps {
        facts.push(people.tenant(&state.db, s.tenant_id).await?);
    }
    let mut tx = state.db.begin_write().await?;
    let mut announced = 0;
    for (s, f) in steps.iter().zip(&facts) {
        if !store::claim_overdue_notice(tx.conn(), s, now).await? {
            continue;
        }
        tx.emit(s.tenant_id, "step.overdue", step_payload(s));
        if let Some(who) = s.responsible_id {
            for to in store::contacts(tx.conn(), s.tenant_id, &[who]).await? {
                let (subject, body) = match f.lang {
                    Lang::De => (
                        format!("Überfällig: {} – Schritt „{}“", s.number, s.step_key),
                        format!(
                            "der Schritt „{}“ des Auftrags {} ({}) war am {} fällig und ist noch offen.\n\n{}\n",
                            s.step_key,
                            s.number,
                            s.title,
                            local(s.due_at, f.tz),
                            order_link(state, s.work_order_id)
                        ),
                    ),
                    Lang::En => (
                        format!(
                            "Overdue: {} – step \u{201c}{}\u{201d}",
                            s.number, s.step_key
                        ),
                        format!(
                            "step \u{201c}{}\u{201d} of order {} ({}) was due on {} and is still open.\n\n{}\n",
                            s.step_key,
                            s.number,
                            s.title,
                            local(s.due_at, f.tz),
                            order_link(state, s.work_order_id)
                        ),
                    ),
                };
                let mail = StaffMail {
                    kind: "step_overdue",
                    lang: f.lang,
                    subject,
                    body,
                    work_order: Some(s.work_order_id),
                };
                queue_staff_mail(&mut tx, s.tenant_id, &to, &mail, now).await?;
            }
        }
        announced += 1;
    }
    tx.commit().await?;
    Ok(announced)
}

/// `step.escalated`: after the tenant's grace period the process owner hears about an
/// overdue step (webhook and e-mail), once per due time.
async fn escalate_overdue(
    state: &App,
    people: &mut People,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let steps =
        store::overdue_unescalated(&state.db, tenant, now, Duration::days(WINDOW_DAYS), BATCH)
            .await?;
    if steps.is_empty() {
        return Ok(0);
    }
    let mut facts = Vec::with_capacity(steps.len());
    for s in &steps {
        facts.push(people.tenant(&state.db, s.tenant_id).await?);
    }
    let mut tx = state.db.begin_write().await?;
    let mut escalated = 0;
    for (s, f) in steps.iter().zip(&facts) {
        let recipients = &f.escalate_to;
        let notice = Notice {
            kind: "step_escalated",
            subject_id: &s.step_id,
            occasion: &s.due_text,
            tenant_id: s.tenant_id,
            work_order_id: Some(s.work_order_id),
            recipient_id: recipients.first().map(|c| c.id),
        };
        if !store::claim_notice(tx.conn(), &notice, now).await? {
            continue;
        }
        let mut payload = step_payload(s);
        if let Some(map) = payload.as_object_mut() {
            map.insert(
                "escalated_to".to_owned(),
                serde_json::json!(recipients.first().map(|c| c.id)),
            );
        }
        tx.emit(s.tenant_id, "step.escalated", payload);
        let responsible = match s.responsible_id {
            Some(id) => store::contacts(tx.conn(), s.tenant_id, &[id])
                .await?
                .first()
                .map(|c| c.name.clone()),
            None => None,
        }
        .unwrap_or_else(|| "–".to_owned());
        let late_by = (now - s.due_at).num_minutes();
        for to in recipients {
            let (subject, body) = match f.lang {
                Lang::De => (
                    format!(
                        "Eskalation: {} – Schritt „{}“ überfällig",
                        s.number, s.step_key
                    ),
                    format!(
                        "der Schritt „{}“ des Auftrags {} ({}) war am {} fällig und ist seit {} Minuten überfällig.\nVerantwortlich: {}\n\n{}\n",
                        s.step_key,
                        s.number,
                        s.title,
                        local(s.due_at, f.tz),
                        late_by,
                        responsible,
                        order_link(state, s.work_order_id)
                    ),
                ),
                Lang::En => (
                    format!(
                        "Escalation: {} – step \u{201c}{}\u{201d} overdue",
                        s.number, s.step_key
                    ),
                    format!(
                        "step \u{201c}{}\u{201d} of order {} ({}) was due on {} and has been overdue for {} minutes.\nResponsible: {}\n\n{}\n",
                        s.step_key,
                        s.number,
                        s.title,
                        local(s.due_at, f.tz),
                        late_by,
                        responsible,
                        order_link(state, s.work_order_id)
                    ),
                ),
            };
            let mail = StaffMail {
                kind: "step_escalated",
                lang: f.lang,
                subject,
                body,
                work_order: Some(s.work_order_id),
            };
            queue_staff_mail(&mut tx, s.tenant_id, to, &mail, now).await?;
        }
        escalated += 1;
    }
    tx.commit().await?;
    Ok(escalated)
}

/// `work_order.stuck`: an open order without an event for the tenant's `stuck_after_days`,
/// once per last event (activity and a new silence flag it again).
async fn flag_stuck(state: &App, tenant: Option<TenantId>, now: DateTime<Utc>) -> AppResult<usize> {
    let mut conn = state.db.acquire().await?;
    let stuck = store::stuck_orders(&mut conn, tenant, now, true, BATCH).await?;
    drop(conn);
    if stuck.is_empty() {
        return Ok(0);
    }
    let mut tx = state.db.begin_write().await?;
    let mut flagged = 0;
    for s in &stuck {
        let subject = s.work_order_id.to_string();
        let notice = Notice {
            kind: "order_stuck",
            subject_id: &subject,
            occasion: &s.last_event_text,
            tenant_id: s.tenant_id,
            work_order_id: Some(s.work_order_id),
            recipient_id: None,
        };
        if store::claim_notice(tx.conn(), &notice, now).await? {
            tx.emit(
                s.tenant_id,
                "work_order.stuck",
                serde_json::json!({
                    "work_order_id": s.work_order_id, "number": s.number,
                    "last_event_at": s.last_event_text, "stuck_after_days": s.stuck_after_days,
                }),
            );
            flagged += 1;
        }
    }
    tx.commit().await?;
    Ok(flagged)
}

/// `appointment.missed`: an appointment still scheduled or confirmed an hour after its end.
async fn flag_missed(
    state: &App,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut conn = state.db.acquire().await?;
    let missed = store::missed_appointments(
        &mut conn,
        tenant,
        now - Duration::minutes(MISSED_AFTER_MINUTES),
        now - Duration::days(WINDOW_DAYS),
        true,
        BATCH,
    )
    .await?;
    drop(conn);
    if missed.is_empty() {
        return Ok(0);
    }
    let mut tx = state.db.begin_write().await?;
    let mut flagged = 0;
    for m in &missed {
        let notice = Notice {
            kind: "appointment_missed",
            subject_id: &m.appointment_id,
            occasion: &m.end_text,
            tenant_id: m.tenant_id,
            work_order_id: Some(m.work_order_id),
            recipient_id: None,
        };
        if store::claim_notice(tx.conn(), &notice, now).await? {
            tx.emit(
                m.tenant_id,
                "appointment.missed",
                serde_json::json!({
                    "appointment_id": m.appointment_id, "work_order_id": m.work_order_id,
                    "number": m.number, "start": m.start_at, "end": m.end_text, "status": m.status,
                }),
            );
            flagged += 1;
        }
    }
    tx.commit().await?;
    Ok(flagged)
}

/// The recurrence of a stored schedule.
pub fn recurrence_of(s: &ScheduleRecord, tz: chrono_tz::Tz) -> AppResult<Recurrence> {
    Recurrence::new(
        s.cadence,
        s.rrule.as_deref(),
        s.time_of_day,
        tz,
        s.starts_on,
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("stored schedule {} is invalid: {e}", s.id)))
}

/// Creates the review of every occurrence that is due, oldest first; missed occurrences
/// (downtime) are created late and marked late. Each occurrence is claimed by moving the
/// schedule's `next_due_at` from it in the transaction that inserts the review.
async fn create_due_reviews(
    state: &App,
    people: &mut People,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut created = 0;
    // Bounded catch-up per scan: a year of daily reviews takes a few scans.
    for _ in 0..50 {
        let due = store::due_schedules(&state.db, tenant, now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        for schedule in &due {
            if create_review(state, people, schedule, now).await? {
                created += 1;
            }
        }
    }
    Ok(created)
}

async fn create_review(
    state: &App,
    people: &mut People,
    schedule: &ScheduleRecord,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let Some(occurrence) = schedule.next_due_at else {
        return Ok(false);
    };
    let facts = people.tenant(&state.db, schedule.tenant_id).await?;
    let recurrence = recurrence_of(schedule, facts.tz)?;
    let window = recurrence.window(occurrence).unwrap_or(Window {
        previous: occurrence - Duration::days(1),
        occurrence,
        next: occurrence + Duration::days(1),
    });
    let next = recurrence.next_after(occurrence);
    let late = is_late(
        occurrence,
        now,
        Duration::from_std(state.settings.oversight.late_after).unwrap_or(Duration::minutes(15)),
    );
    // The snapshot is read before the write transaction (on SQLite the writer lock is not
    // held while the item queries run); an instance that loses the claim below wasted it.
    let review_id = Uuid::now_v7();
    let snap = snapshot(
        &state.db,
        schedule.tenant_id,
        &schedule.process_ids,
        now,
        (window.previous, window.occurrence),
        facts.tz,
    )
    .await?;
    let mut tx = state.db.begin_write().await?;
    if !store::advance_schedule(tx.conn(), schedule.id, occurrence, next).await? {
        // Another instance took this occurrence.
        return Ok(false);
    }
    let review = ReviewRecord {
        id: review_id,
        tenant_id: schedule.tenant_id,
        schedule_id: Some(schedule.id),
        reviewer_id: schedule.reviewer_id,
        scheduled_for: occurrence,
        period_start: window.previous,
        due_at: window.next,
        late,
        status: ReviewStatus::Open,
        process_ids: schedule.process_ids.clone(),
        headline: serde_json::to_value(&snap.headline).map_err(AppError::internal)?,
        findings: None,
        signed_off_at: None,
        signed_off_by: None,
        escalated_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    if !store::insert_review(tx.conn(), &review).await? {
        return Ok(false);
    }
    let items = item_records(review_id, schedule.tenant_id, snap.found, None);
    store::insert_items(tx.conn(), &items).await?;
    tx.emit(
        schedule.tenant_id,
        "review.created",
        serde_json::json!({
            "review_id": review_id, "schedule_id": schedule.id, "reviewer_id": schedule.reviewer_id,
            "scheduled_for": occurrence, "due_at": window.next, "late": late, "items": items.len(),
        }),
    );
    for to in store::contacts(tx.conn(), schedule.tenant_id, &[schedule.reviewer_id]).await? {
        let link = format!(
            "{}/v1/reviews/{review_id}",
            state.settings.mail.public_base_url.trim_end_matches('/')
        );
        let (subject, body) = match facts.lang {
            Lang::De => (
                format!("Review fällig: {}", schedule.name),
                format!(
                    "das Review „{}“ für {} ist bereit: {} Punkte zu prüfen. Bitte bis {} abzeichnen.{}\n\n{link}\n",
                    schedule.name,
                    local(occurrence, facts.tz),
                    items.len(),
                    local(window.next, facts.tz),
                    if late { "\n(Verspätet erstellt.)" } else { "" }
                ),
            ),
            Lang::En => (
                format!("Review due: {}", schedule.name),
                format!(
                    "the review \u{201c}{}\u{201d} for {} is ready: {} items to look at. Please sign it off by {}.{}\n\n{link}\n",
                    schedule.name,
                    local(occurrence, facts.tz),
                    items.len(),
                    local(window.next, facts.tz),
                    if late { "\n(Created late.)" } else { "" }
                ),
            ),
        };
        let mail = StaffMail {
            kind: "review_due",
            lang: facts.lang,
            subject,
            body,
            work_order: None,
        };
        queue_staff_mail(&mut tx, schedule.tenant_id, &to, &mail, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// What a review shows: the items found now and the headline numbers of a period.
pub struct Snapshot {
    pub found: Vec<store::Found>,
    pub headline: ReviewHeadline,
}

/// Reads a review's items at `now` (failed e-mails, webhooks and cancelled bookings since
/// the period's start) and the numbers of the period `[from, to)`.
pub async fn snapshot(
    db: &Db,
    tenant: TenantId,
    scope: &[Uuid],
    now: DateTime<Utc>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    tz: chrono_tz::Tz,
) -> AppResult<Snapshot> {
    let today = now.with_timezone(&tz).date_naive();
    let mut conn = db.acquire().await?;
    let (found, truncated) =
        store::findings(&mut conn, tenant, scope, now, from, today, ITEMS_PER_KIND).await?;
    let orders = store::period_orders(&mut conn, tenant, scope, from, to).await?;
    let headline = headline(&orders, &found, &truncated);
    Ok(Snapshot { found, headline })
}

/// The items of a review to store, in the order found.
pub fn item_records(
    review: Uuid,
    tenant: TenantId,
    found: Vec<store::Found>,
    note: Option<&str>,
) -> Vec<store::ItemRecord> {
    found
        .into_iter()
        .enumerate()
        .map(|(i, f)| store::ItemRecord {
            id: Uuid::now_v7(),
            review_id: review,
            tenant_id: tenant,
            position: i64::try_from(i).unwrap_or(i64::MAX),
            kind: f.kind,
            object_type: f.object_type.to_owned(),
            object_id: f.object_id,
            work_order_id: f.work_order_id,
            summary: f.summary,
            detail: f.detail,
            acknowledged_at: None,
            acknowledged_by: None,
            note: note.map(str::to_owned),
        })
        .collect()
}

/// The headline numbers of a review's period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewHeadline {
    /// Orders created in the period.
    pub orders_opened: i64,
    /// Orders completed in the period.
    pub orders_completed: i64,
    /// Median (nearest rank) of creation → completion of the orders completed in the
    /// period, in seconds; `null` when none completed.
    pub median_cycle_time_seconds: Option<i64>,
    /// Share of the orders completed in the period without a step finished after its due
    /// time; `null` when none completed.
    pub on_time_rate: Option<f64>,
    /// Items per kind.
    pub items: BTreeMap<String, i64>,
    /// Kinds with more items than a review lists (100 each).
    pub truncated_kinds: Vec<String>,
}

/// The headline numbers of a period plus the count of items per kind.
pub fn headline(
    orders: &store::PeriodOrders,
    found: &[store::Found],
    truncated: &[ItemKind],
) -> ReviewHeadline {
    let mut cycle: Vec<i64> = orders
        .completed
        .iter()
        .map(|(created, done, _)| (*done - *created).num_seconds())
        .collect();
    cycle.sort_unstable();
    // Nearest-rank median, as in the analytics report.
    let median = cycle
        .get(cycle.len().div_ceil(2).saturating_sub(1))
        .copied();
    let on_time = orders.completed.iter().filter(|(_, _, ok)| *ok).count();
    let on_time_rate =
        (!orders.completed.is_empty()).then(|| on_time as f64 / orders.completed.len() as f64);
    let items = ItemKind::ALL
        .into_iter()
        .map(|kind| {
            let n = found.iter().filter(|f| f.kind == kind).count();
            (
                kind.as_str().to_owned(),
                i64::try_from(n).unwrap_or(i64::MAX),
            )
        })
        .collect();
    ReviewHeadline {
        orders_opened: orders.opened,
        orders_completed: i64::try_from(orders.completed.len()).unwrap_or(i64::MAX),
        median_cycle_time_seconds: median,
        on_time_rate,
        items,
        truncated_kinds: truncated.iter().map(|k| k.as_str().to_owned()).collect(),
    }
}

/// `review.overdue`: a review not signed off by its due time goes to the tenant's owners,
/// once. Reviews created only after their due time (periods missed while no server ran)
/// could not have been signed off in time: they stay open and `late`, without an alarm
/// each.
async fn escalate_reviews(
    state: &App,
    people: &mut People,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let overdue = store::overdue_reviews(&state.db, tenant, now, BATCH).await?;
    let mut escalated = 0;
    for review in &overdue {
        let facts = people.tenant(&state.db, review.tenant_id).await?;
        let mut tx = state.db.begin_write().await?;
        if !store::mark_escalated(tx.conn(), review.id, now).await? {
            continue;
        }
        let reviewer = store::contacts(tx.conn(), review.tenant_id, &[review.reviewer_id])
            .await?
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "–".to_owned());
        tx.emit(
            review.tenant_id,
            "review.overdue",
            serde_json::json!({
                "review_id": review.id, "schedule_id": review.schedule_id,
                "reviewer_id": review.reviewer_id, "due_at": review.due_at,
            }),
        );
        let link = format!(
            "{}/v1/reviews/{}",
            state.settings.mail.public_base_url.trim_end_matches('/'),
            review.id
        );
        for to in &facts.owners {
            let (subject, body) = match facts.lang {
                Lang::De => (
                    "Review nicht abgezeichnet".to_owned(),
                    format!(
                        "das Review vom {} (Prüfer: {reviewer}) war bis {} abzuzeichnen und ist noch offen.\n\n{link}\n",
                        local(review.scheduled_for, facts.tz),
                        local(review.due_at, facts.tz)
                    ),
                ),
                Lang::En => (
                    "Review not signed off".to_owned(),
                    format!(
                        "the review of {} (reviewer: {reviewer}) was due for sign-off by {} and is still open.\n\n{link}\n",
                        local(review.scheduled_for, facts.tz),
                        local(review.due_at, facts.tz)
                    ),
                ),
            };
            let mail = StaffMail {
                kind: "review_overdue",
                lang: facts.lang,
                subject,
                body,
                work_order: None,
            };
            queue_staff_mail(&mut tx, review.tenant_id, to, &mail, now).await?;
        }
        tx.commit().await?;
        escalated += 1;
    }
    Ok(escalated)
}
