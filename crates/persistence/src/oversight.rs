//! Oversight: what escalation looks for (overdue steps, stuck orders, missed appointments),
//! the notices sent once each, review schedules, reviews with their frozen items, and
//! decisions.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::any::AnyRow;
use uuid::Uuid;
use workorders_domain::review::{Cadence, ItemKind, ReviewStatus};
use workorders_domain::{TenantId, UserId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Conn, Db, StoreError, Versioned, format_instant, in_list};

// ---------------------------------------------------------------------------------------
// Escalation scans
// ---------------------------------------------------------------------------------------

/// A step past its due time, with whom to tell.
#[derive(Debug, Clone)]
pub struct OverdueStep {
    pub step_id: String,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub number: String,
    pub title: String,
    pub process_id: String,
    pub step_key: String,
    pub responsible_id: Option<UserId>,
    /// The stored due time text (the notice's occasion).
    pub due_text: String,
    pub due_at: DateTime<Utc>,
    /// The tenant's grace period before the process owner is told.
    pub grace_minutes: i64,
    pub process_owner_id: Option<UserId>,
}

fn overdue_from_row(row: &AnyRow) -> Result<OverdueStep, StoreError> {
    Ok(OverdueStep {
        step_id: row.text("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        number: row.text("number")?,
        title: row.text("title")?,
        process_id: row.text("process_id")?,
        step_key: row.text("key")?,
        responsible_id: row.opt_uuid("responsible_id")?.map(UserId),
        due_text: row.text("due_at")?,
        due_at: row.instant("due_at")?,
        grace_minutes: row.int("escalation_grace_minutes")?,
        process_owner_id: row.opt_uuid("process_owner_id")?.map(UserId),
    })
}

const OVERDUE_SELECT: &str = "SELECT s.id, s.tenant_id, s.work_order_id, o.number, o.title, o.process_id, s.key, \
     s.responsible_id, s.due_at, t.escalation_grace_minutes, t.process_owner_id FROM work_order_steps s \
     JOIN work_orders o ON o.id = s.work_order_id JOIN tenants t ON t.id = s.tenant_id \
     WHERE s.status IN ('active', 'in_progress') AND s.due_at < $1 AND s.due_at > $2 \
     AND o.status IN ('open', 'in_progress')";

/// Overdue steps (due within `window` before `now`) not yet announced for this due time.
pub async fn overdue_unannounced(
    db: &Db,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
    window: Duration,
    limit: u32,
) -> Result<Vec<OverdueStep>, StoreError> {
    let sql = format!(
        "{OVERDUE_SELECT} AND ($4 = '' OR s.tenant_id = $4) AND NOT EXISTS (SELECT 1 FROM step_overdue_notices n \
         WHERE n.step_id = s.id AND n.due_at = s.due_at) ORDER BY s.due_at LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(format_instant(now - window))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(overdue_from_row).collect()
}

/// Overdue steps past their due time plus the tenant's grace period, not yet escalated to
/// the process owner for this due time. Oldest first.
pub async fn overdue_unescalated(
    db: &Db,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
    window: Duration,
    limit: u32,
) -> Result<Vec<OverdueStep>, StoreError> {
    let sql = format!(
        "{OVERDUE_SELECT} AND ($4 = '' OR s.tenant_id = $4) AND NOT EXISTS (SELECT 1 FROM oversight_notices n \
         WHERE n.kind = 'step_escalated' AND n.subject_id = s.id AND n.occasion = s.due_at) ORDER BY s.due_at LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(format_instant(now - window))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(db.pool())
        .await
        .store()?;
    let steps: Vec<OverdueStep> = rows
        .iter()
        .map(overdue_from_row)
        .collect::<Result<_, _>>()?;
    Ok(steps
        .into_iter()
        .filter(|s| s.due_at + Duration::minutes(s.grace_minutes) <= now)
        .collect())
}

/// Records that `step` was announced as overdue for `due_text`; false if it already was.
pub async fn claim_overdue_notice(
    conn: &mut Conn,
    step: &OverdueStep,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO step_overdue_notices (step_id, due_at, tenant_id, notified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (step_id, due_at) DO NOTHING",
    )
    .bind(&step.step_id)
    .bind(&step.due_text)
    .bind(step.tenant_id.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(inserted.rows_affected() == 1)
}

/// A notice to be sent once: (kind, subject, occasion) is its identity.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub kind: &'a str,
    pub subject_id: &'a str,
    pub occasion: &'a str,
    pub tenant_id: TenantId,
    pub work_order_id: Option<WorkOrderId>,
    pub recipient_id: Option<UserId>,
}

/// Records a notice; false if it was recorded before (by this or another instance).
pub async fn claim_notice(
    conn: &mut Conn,
    notice: &Notice<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO oversight_notices (kind, subject_id, occasion, tenant_id, work_order_id, recipient_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, subject_id, occasion) DO NOTHING",
    )
    .bind(notice.kind)
    .bind(notice.subject_id)
    .bind(notice.occasion)
    .bind(notice.tenant_id.to_string())
    .bind(notice.work_order_id.map(|o| o.to_string()))
    .bind(notice.recipient_id.map(|u| u.to_string()))
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(inserted.rows_affected() == 1)
}

/// An open order without an event for the tenant's `stuck_after_days`.
#[derive(Debug, Clone)]
pub struct StuckOrder {
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub number: String,
    pub title: String,
    pub process_id: String,
    pub last_event_text: String,
    pub last_event_at: DateTime<Utc>,
    pub stuck_after_days: i64,
}

/// Stuck orders. `tenant`: one tenant (a review), else all (the scan). `unnoticed`: only
/// those not yet flagged for their last event.
pub async fn stuck_orders(
    conn: &mut Conn,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
    unnoticed: bool,
    limit: u32,
) -> Result<Vec<StuckOrder>, StoreError> {
    let tenant_filter = if tenant.is_some() {
        "AND o.tenant_id = $3"
    } else {
        "AND $3 = $3"
    };
    let notice_filter = if unnoticed {
        "WHERE NOT EXISTS (SELECT 1 FROM oversight_notices n WHERE n.kind = 'order_stuck' \
         AND n.subject_id = x.id AND n.occasion = x.last_at)"
    } else {
        ""
    };
    // The smallest setting is one day: anything younger (by its last event, and so by its
    // creation, which is an event) is never stuck.
    let sql = format!(
        "SELECT x.* FROM (SELECT o.id, o.tenant_id, o.number, o.title, o.process_id, t.stuck_after_days, \
         MAX(e.at) AS last_at FROM work_orders o JOIN tenants t ON t.id = o.tenant_id \
         JOIN work_order_events e ON e.work_order_id = o.id \
         WHERE o.status IN ('open', 'in_progress') AND o.created_at < $1 {tenant_filter} \
         GROUP BY o.id, o.tenant_id, o.number, o.title, o.process_id, t.stuck_after_days \
         HAVING MAX(e.at) < $1) x {notice_filter} ORDER BY x.last_at LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now - Duration::days(1)))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(conn)
        .await
        .store()?;
    let mut out = Vec::new();
    for row in &rows {
        let stuck = StuckOrder {
            tenant_id: TenantId(row.uuid("tenant_id")?),
            work_order_id: WorkOrderId(row.uuid("id")?),
            number: row.text("number")?,
            title: row.text("title")?,
            process_id: row.text("process_id")?,
            last_event_text: row.text("last_at")?,
            last_event_at: row.instant("last_at")?,
            stuck_after_days: row.int("stuck_after_days")?,
        };
        if stuck.last_event_at + Duration::days(stuck.stuck_after_days) <= now {
            out.push(stuck);
        }
    }
    Ok(out)
}

/// An appointment whose end passed while it was still scheduled or confirmed.
#[derive(Debug, Clone)]
pub struct MissedAppointment {
    pub appointment_id: String,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub number: String,
    pub process_id: String,
    pub status: String,
    pub start_at: DateTime<Utc>,
    pub end_text: String,
    pub end_at: DateTime<Utc>,
}

/// Appointments that ended before `ended_before` without a status. `tenant`: one tenant,
/// else all. `unnoticed`: only those not flagged yet.
pub async fn missed_appointments(
    conn: &mut Conn,
    tenant: Option<TenantId>,
    ended_before: DateTime<Utc>,
    not_before: DateTime<Utc>,
    unnoticed: bool,
    limit: u32,
) -> Result<Vec<MissedAppointment>, StoreError> {
    let tenant_filter = if tenant.is_some() {
        "AND a.tenant_id = $4"
    } else {
        "AND $4 = $4"
    };
    let notice_filter = if unnoticed {
        "AND NOT EXISTS (SELECT 1 FROM oversight_notices n WHERE n.kind = 'appointment_missed' \
         AND n.subject_id = a.id AND n.occasion = a.end_at)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT a.id, a.tenant_id, a.work_order_id, o.number, o.process_id, a.status, a.start_at, a.end_at \
         FROM appointments a JOIN work_orders o ON o.id = a.work_order_id \
         WHERE a.status IN ('scheduled', 'confirmed') AND a.end_at < $1 AND a.end_at > $2 {tenant_filter} {notice_filter} \
         ORDER BY a.end_at LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(ended_before))
        .bind(format_instant(not_before))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter()
        .map(|row| {
            Ok(MissedAppointment {
                appointment_id: row.text("id")?,
                tenant_id: TenantId(row.uuid("tenant_id")?),
                work_order_id: WorkOrderId(row.uuid("work_order_id")?),
                number: row.text("number")?,
                process_id: row.text("process_id")?,
                status: row.text("status")?,
                start_at: row.instant("start_at")?,
                end_text: row.text("end_at")?,
                end_at: row.instant("end_at")?,
            })
        })
        .collect()
}

/// A person to notify.
#[derive(Debug, Clone)]
pub struct Contact {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

fn contact_from_row(row: &AnyRow) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: UserId(row.uuid("id")?),
        name: row.text("name")?,
        email: row.text("email")?,
    })
}

/// Active users by id (for e-mail recipients).
pub async fn contacts(
    conn: &mut Conn,
    tenant: TenantId,
    ids: &[UserId],
) -> Result<Vec<Contact>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, name, email FROM users WHERE tenant_id = $1 AND active = 1 AND id IN ({})",
        in_list(2, ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
    for id in ids {
        q = q.bind(id.to_string());
    }
    let rows = q.fetch_all(conn).await.store()?;
    rows.iter().map(contact_from_row).collect()
}

/// The tenant's active owners, oldest account first.
pub async fn owners(conn: &mut Conn, tenant: TenantId) -> Result<Vec<Contact>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, email FROM users WHERE tenant_id = $1 AND active = 1 AND role = 'owner' ORDER BY created_at, id",
    )
    .bind(tenant.to_string())
    .fetch_all(conn)
    .await
    .store()?;
    rows.iter().map(contact_from_row).collect()
}

// ---------------------------------------------------------------------------------------
// Review schedules
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ScheduleRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub cadence: Cadence,
    pub rrule: Option<String>,
    pub time_of_day: NaiveTime,
    pub starts_on: NaiveDate,
    pub reviewer_id: UserId,
    /// Empty: all work.
    pub process_ids: Vec<Uuid>,
    pub active: bool,
    pub next_due_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SCHEDULE_COLUMNS: &str = "id, tenant_id, name, cadence, rrule, time_of_day, starts_on, reviewer_id, \
    process_ids, active, next_due_at, version, created_at, updated_at";

fn schedule_from_row(row: &AnyRow) -> Result<ScheduleRecord, StoreError> {
    Ok(ScheduleRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        name: row.text("name")?,
        cadence: row.parsed("cadence", |t| t.parse::<Cadence>())?,
        rrule: row.opt_text("rrule")?,
        time_of_day: row.parsed("time_of_day", |t| NaiveTime::parse_from_str(t, "%H:%M"))?,
        starts_on: row.parsed("starts_on", |t| NaiveDate::parse_from_str(t, "%Y-%m-%d"))?,
        reviewer_id: UserId(row.uuid("reviewer_id")?),
        process_ids: row.parsed("process_ids", |t| serde_json::from_str::<Vec<Uuid>>(t))?,
        active: row.int("active")? == 1,
        next_due_at: row.opt_instant("next_due_at")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

fn json_ids(ids: &[Uuid]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

pub async fn insert_schedule(conn: &mut Conn, s: &ScheduleRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO review_schedules (id, tenant_id, name, cadence, rrule, time_of_day, starts_on, reviewer_id, \
         process_ids, active, next_due_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(&s.name)
    .bind(s.cadence.as_str())
    .bind(s.rrule.clone())
    .bind(s.time_of_day.format("%H:%M").to_string())
    .bind(s.starts_on.format("%Y-%m-%d").to_string())
    .bind(s.reviewer_id.to_string())
    .bind(json_ids(&s.process_ids))
    .bind(i64::from(s.active))
    .bind(s.next_due_at.map(format_instant))
    .bind(s.version)
    .bind(format_instant(s.created_at))
    .bind(format_instant(s.updated_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Replaces a schedule's settings if its version matches.
pub async fn update_schedule(
    conn: &mut Conn,
    s: &ScheduleRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<ScheduleRecord>, StoreError> {
    let sql = format!(
        "UPDATE review_schedules SET name = $1, cadence = $2, rrule = $3, time_of_day = $4, starts_on = $5, \
         reviewer_id = $6, process_ids = $7, active = $8, next_due_at = $9, version = version + 1, updated_at = $10 \
         WHERE tenant_id = $11 AND id = $12 AND version = $13 RETURNING {SCHEDULE_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&s.name)
        .bind(s.cadence.as_str())
        .bind(s.rrule.clone())
        .bind(s.time_of_day.format("%H:%M").to_string())
        .bind(s.starts_on.format("%Y-%m-%d").to_string())
        .bind(s.reviewer_id.to_string())
        .bind(json_ids(&s.process_ids))
        .bind(i64::from(s.active))
        .bind(s.next_due_at.map(format_instant))
        .bind(format_instant(now))
        .bind(s.tenant_id.to_string())
        .bind(s.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(schedule_from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::ReviewSchedules,
                &s.tenant_id.to_string(),
                &s.id.to_string(),
            )
            .await
        }
    }
}

pub async fn get_schedule(
    db: &Db,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<ScheduleRecord>, StoreError> {
    let sql =
        format!("SELECT {SCHEDULE_COLUMNS} FROM review_schedules WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(schedule_from_row).transpose()
}

/// The tenant's schedules after `after` (id order).
pub async fn list_schedules(
    db: &Db,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let sql = format!(
        "SELECT {SCHEDULE_COLUMNS} FROM review_schedules WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(schedule_from_row).collect()
}

/// Deletes a schedule; its reviews stay (no longer linked).
/// Deletes a schedule at `expected_version` (its reviews stay, unlinked); false when there is
/// none with that id and version. Run it in a transaction: the unlinking is undone with it.
pub async fn delete_schedule(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
    expected_version: i64,
) -> Result<bool, StoreError> {
    sqlx::query("UPDATE reviews SET schedule_id = NULL WHERE tenant_id = $1 AND schedule_id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .store()?;
    let done = sqlx::query(
        "DELETE FROM review_schedules WHERE tenant_id = $1 AND id = $2 AND version = $3",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Active schedules with an occurrence due at `now` (all tenants; the worker).
pub async fn due_schedules(
    db: &Db,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let sql = format!(
        "SELECT {SCHEDULE_COLUMNS} FROM review_schedules WHERE active = 1 AND next_due_at <= $1 \
         AND ($3 = '' OR tenant_id = $3) ORDER BY next_due_at LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(schedule_from_row).collect()
}

/// Moves a schedule from occurrence `from` to `to`; false if another instance did first.
pub async fn advance_schedule(
    conn: &mut Conn,
    id: Uuid,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE review_schedules SET next_due_at = $1 WHERE id = $2 AND next_due_at = $3 AND active = 1",
    )
    .bind(to.map(format_instant))
    .bind(id.to_string())
    .bind(format_instant(from))
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ReviewRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub schedule_id: Option<Uuid>,
    pub reviewer_id: UserId,
    pub scheduled_for: DateTime<Utc>,
    pub period_start: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub late: bool,
    pub status: ReviewStatus,
    pub process_ids: Vec<Uuid>,
    pub headline: serde_json::Value,
    pub findings: Option<String>,
    pub signed_off_at: Option<DateTime<Utc>>,
    pub signed_off_by: Option<UserId>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const REVIEW_COLUMNS: &str = "id, tenant_id, schedule_id, reviewer_id, scheduled_for, period_start, due_at, late, \
    status, process_ids, headline, findings, signed_off_at, signed_off_by, escalated_at, version, created_at, updated_at";

fn review_from_row(row: &AnyRow) -> Result<ReviewRecord, StoreError> {
    Ok(ReviewRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        schedule_id: row.opt_uuid("schedule_id")?,
        reviewer_id: UserId(row.uuid("reviewer_id")?),
        scheduled_for: row.instant("scheduled_for")?,
        period_start: row.instant("period_start")?,
        due_at: row.instant("due_at")?,
        late: row.int("late")? == 1,
        status: row.parsed("status", |t| ReviewStatus::parse(t).ok_or("unknown status"))?,
        process_ids: row.parsed("process_ids", |t| serde_json::from_str::<Vec<Uuid>>(t))?,
        headline: row.parsed("headline", |t| serde_json::from_str::<serde_json::Value>(t))?,
        findings: row.opt_text("findings")?,
        signed_off_at: row.opt_instant("signed_off_at")?,
        signed_off_by: row.opt_uuid("signed_off_by")?.map(UserId),
        escalated_at: row.opt_instant("escalated_at")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

/// Inserts a review; false if the schedule already has one for this occurrence.
pub async fn insert_review(conn: &mut Conn, r: &ReviewRecord) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO reviews (id, tenant_id, schedule_id, reviewer_id, scheduled_for, period_start, due_at, late, status, \
         process_ids, headline, findings, signed_off_at, signed_off_by, escalated_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (schedule_id, scheduled_for) DO NOTHING",
    )
    .bind(r.id.to_string())
    .bind(r.tenant_id.to_string())
    .bind(r.schedule_id.map(|s| s.to_string()))
    .bind(r.reviewer_id.to_string())
    .bind(format_instant(r.scheduled_for))
    .bind(format_instant(r.period_start))
    .bind(format_instant(r.due_at))
    .bind(i64::from(r.late))
    .bind(r.status.as_str())
    .bind(json_ids(&r.process_ids))
    .bind(r.headline.to_string())
    .bind(r.findings.clone())
    .bind(r.signed_off_at.map(format_instant))
    .bind(r.signed_off_by.map(|u| u.to_string()))
    .bind(r.escalated_at.map(format_instant))
    .bind(r.version)
    .bind(format_instant(r.created_at))
    .bind(format_instant(r.updated_at))
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_review(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<ReviewRecord>, StoreError> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(review_from_row).transpose()
}

/// Filters for listing reviews.
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub status: Option<ReviewStatus>,
    pub reviewer: Option<UserId>,
    pub schedule: Option<Uuid>,
    pub late: Option<bool>,
}

/// The tenant's reviews, newest occurrence first, after the cursor `(scheduled_for, id)`.
pub async fn list_reviews(
    db: &Db,
    tenant: TenantId,
    filter: &ReviewFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<ReviewRecord>, StoreError> {
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE tenant_id = $1 \
         AND ($2 = '' OR status = $2) AND ($3 = '' OR reviewer_id = $3) AND ($4 = '' OR schedule_id = $4) \
         AND ($5 < 0 OR late = $5) AND ($6 = '' OR scheduled_for < $6 OR (scheduled_for = $6 AND id < $7)) \
         ORDER BY scheduled_for DESC, id DESC LIMIT $8"
    );
    let (cursor_at, cursor_id) = before
        .map(|(at, id)| (format_instant(at), id.to_string()))
        .unwrap_or_default();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(filter.status.map(|s| s.as_str()).unwrap_or_default())
        .bind(filter.reviewer.map(|u| u.to_string()).unwrap_or_default())
        .bind(filter.schedule.map(|s| s.to_string()).unwrap_or_default())
        .bind(filter.late.map_or(-1, i64::from))
        .bind(cursor_at)
        .bind(cursor_id)
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(review_from_row).collect()
}

/// Stores findings, sign-off and escalation of a review if its version matches.
pub async fn update_review(
    conn: &mut Conn,
    r: &ReviewRecord,
    expected_version: i64,
) -> Result<Versioned<ReviewRecord>, StoreError> {
    let sql = format!(
        "UPDATE reviews SET status = $1, findings = $2, signed_off_at = $3, signed_off_by = $4, escalated_at = $5, \
         version = version + 1, updated_at = $6 WHERE tenant_id = $7 AND id = $8 AND version = $9 RETURNING {REVIEW_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.status.as_str())
        .bind(r.findings.clone())
        .bind(r.signed_off_at.map(format_instant))
        .bind(r.signed_off_by.map(|u| u.to_string()))
        .bind(r.escalated_at.map(format_instant))
        .bind(format_instant(r.updated_at))
        .bind(r.tenant_id.to_string())
        .bind(r.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(review_from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::Reviews,
                &r.tenant_id.to_string(),
                &r.id.to_string(),
            )
            .await
        }
    }
}

/// Open reviews past their sign-off time not yet escalated, that existed before that time
/// (all tenants; the worker).
pub async fn overdue_reviews(
    db: &Db,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ReviewRecord>, StoreError> {
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE status = 'open' AND due_at <= $1 AND escalated_at IS NULL \
         AND created_at < due_at AND ($3 = '' OR tenant_id = $3) ORDER BY due_at LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(i64::from(limit))
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(review_from_row).collect()
}

/// Marks a review escalated; false if it was signed off or escalated meanwhile.
pub async fn mark_escalated(
    conn: &mut Conn,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE reviews SET escalated_at = $1 WHERE id = $2 AND status = 'open' AND escalated_at IS NULL",
    )
    .bind(format_instant(now))
    .bind(id.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// One thing a review lists.
#[derive(Debug, Clone)]
pub struct ItemRecord {
    pub id: Uuid,
    pub review_id: Uuid,
    pub tenant_id: TenantId,
    pub position: i64,
    pub kind: ItemKind,
    pub object_type: String,
    pub object_id: String,
    pub work_order_id: Option<WorkOrderId>,
    pub summary: String,
    pub detail: serde_json::Value,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub note: Option<String>,
}

const ITEM_COLUMNS: &str = "id, review_id, tenant_id, position, kind, object_type, object_id, work_order_id, summary, \
    detail, acknowledged_at, acknowledged_by, note";

fn item_from_row(row: &AnyRow) -> Result<ItemRecord, StoreError> {
    Ok(ItemRecord {
        id: row.uuid("id")?,
        review_id: row.uuid("review_id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        position: row.int("position")?,
        kind: row.parsed("kind", |t| ItemKind::parse(t).ok_or("unknown kind"))?,
        object_type: row.text("object_type")?,
        object_id: row.text("object_id")?,
        work_order_id: row.opt_uuid("work_order_id")?.map(WorkOrderId),
        summary: row.text("summary")?,
        detail: row.parsed("detail", |t| serde_json::from_str::<serde_json::Value>(t))?,
        acknowledged_at: row.opt_instant("acknowledged_at")?,
        acknowledged_by: row.opt_uuid("acknowledged_by")?.map(UserId),
        note: row.opt_text("note")?,
    })
}

/// Inserts a review's items (20 rows per statement).
pub async fn insert_items(conn: &mut Conn, items: &[ItemRecord]) -> Result<(), StoreError> {
    const COLS: usize = 11;
    for chunk in items.chunks(20) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", in_list(i * COLS + 1, COLS)))
            .collect();
        let sql = format!(
            "INSERT INTO review_items (id, review_id, tenant_id, position, kind, object_type, object_id, work_order_id, \
             summary, detail, note) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for it in chunk {
            q = q
                .bind(it.id.to_string())
                .bind(it.review_id.to_string())
                .bind(it.tenant_id.to_string())
                .bind(it.position)
                .bind(it.kind.as_str())
                .bind(it.object_type.clone())
                .bind(it.object_id.clone())
                .bind(it.work_order_id.map(|o| o.to_string()))
                .bind(it.summary.clone())
                .bind(it.detail.to_string())
                .bind(it.note.clone());
        }
        q.execute(&mut *conn).await.store()?;
    }
    Ok(())
}

pub async fn items_of(conn: &mut Conn, review: Uuid) -> Result<Vec<ItemRecord>, StoreError> {
    let sql =
        format!("SELECT {ITEM_COLUMNS} FROM review_items WHERE review_id = $1 ORDER BY position");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(review.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(item_from_row).collect()
}

/// Acknowledges one item of a review (the caller checked that the review is open).
pub async fn acknowledge_item(
    conn: &mut Conn,
    review: Uuid,
    item: Uuid,
    by: UserId,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<ItemRecord>, StoreError> {
    let sql = format!(
        "UPDATE review_items SET acknowledged_at = $1, acknowledged_by = $2, note = COALESCE($3, note) \
         WHERE review_id = $4 AND id = $5 RETURNING {ITEM_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(by.to_string())
        .bind(note.map(str::to_owned))
        .bind(review.to_string())
        .bind(item.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(item_from_row).transpose()
}

/// A decision taken in a review, optionally linked to the process version implementing it.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub id: Uuid,
    pub review_id: Uuid,
    pub tenant_id: TenantId,
    pub text: String,
    pub process_id: Option<Uuid>,
    pub process_version: Option<i64>,
    pub created_by: UserId,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const DECISION_COLUMNS: &str = "id, review_id, tenant_id, text, process_id, process_version, created_by, version, created_at, updated_at";

fn decision_from_row(row: &AnyRow) -> Result<DecisionRecord, StoreError> {
    Ok(DecisionRecord {
        id: row.uuid("id")?,
        review_id: row.uuid("review_id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        text: row.text("text")?,
        process_id: row.opt_uuid("process_id")?,
        process_version: row.opt_int("process_version")?,
        created_by: UserId(row.uuid("created_by")?),
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

pub async fn insert_decision(conn: &mut Conn, d: &DecisionRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO review_decisions (id, review_id, tenant_id, text, process_id, process_version, created_by, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(d.id.to_string())
    .bind(d.review_id.to_string())
    .bind(d.tenant_id.to_string())
    .bind(&d.text)
    .bind(d.process_id.map(|p| p.to_string()))
    .bind(d.process_version)
    .bind(d.created_by.to_string())
    .bind(d.version)
    .bind(format_instant(d.created_at))
    .bind(format_instant(d.updated_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Links a decision to the process version that implemented it, if the decision is still at
/// `expected_version`; None when it changed meanwhile (or does not exist).
#[allow(clippy::too_many_arguments)]
pub async fn link_decision(
    conn: &mut Conn,
    tenant: TenantId,
    review: Uuid,
    id: Uuid,
    process: Option<Uuid>,
    version: Option<i64>,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Option<DecisionRecord>, StoreError> {
    let sql = format!(
        "UPDATE review_decisions SET process_id = $1, process_version = $2, updated_at = $3, version = version + 1 \
         WHERE tenant_id = $4 AND review_id = $5 AND id = $6 AND version = $7 RETURNING {DECISION_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(process.map(|p| p.to_string()))
        .bind(version)
        .bind(format_instant(now))
        .bind(tenant.to_string())
        .bind(review.to_string())
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(decision_from_row).transpose()
}

/// One decision of a review.
pub async fn get_decision(
    conn: &mut Conn,
    tenant: TenantId,
    review: Uuid,
    id: Uuid,
) -> Result<Option<DecisionRecord>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM review_decisions WHERE tenant_id = $1 AND review_id = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(review.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(decision_from_row).transpose()
}

pub async fn decisions_of(
    conn: &mut Conn,
    review: Uuid,
) -> Result<Vec<DecisionRecord>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM review_decisions WHERE review_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(review.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(decision_from_row).collect()
}

/// Decisions linked to a process (all reviews), newest first.
pub async fn decisions_for_process(
    db: &Db,
    tenant: TenantId,
    process: Uuid,
) -> Result<Vec<DecisionRecord>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM review_decisions WHERE tenant_id = $1 AND process_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 500"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(process.to_string())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(decision_from_row).collect()
}

// ---------------------------------------------------------------------------------------
// What a review shows
// ---------------------------------------------------------------------------------------

/// An item found for a review before it is stored.
#[derive(Debug, Clone)]
pub struct Found {
    pub kind: ItemKind,
    pub object_type: &'static str,
    pub object_id: String,
    pub work_order_id: Option<WorkOrderId>,
    pub summary: String,
    pub detail: serde_json::Value,
}

/// `AND <column> IN ($first, ...)` for a non-empty scope, else nothing.
fn scope_clause(column: &str, first: usize, scope: &[Uuid]) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!("AND {column} IN ({})", in_list(first, scope.len()))
    }
}

fn bind_scope<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    scope: &[Uuid],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for p in scope {
        q = q.bind(p.to_string());
    }
    q
}

/// What needs the reviewer's attention now, at most `cap` per kind (the newest
/// `cap + 1`-th tells that more exist: `truncated` lists those kinds). Order-related items
/// are limited to `scope` (process ids; empty: all); failed webhooks are tenant-wide.
pub async fn findings(
    conn: &mut Conn,
    tenant: TenantId,
    scope: &[Uuid],
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    today: NaiveDate,
    cap: u32,
) -> Result<(Vec<Found>, Vec<ItemKind>), StoreError> {
    let t = tenant.to_string();
    let fetch = i64::from(cap) + 1;
    let mut found: Vec<Found> = Vec::new();
    let mut truncated = Vec::new();
    let mut take = |kind: ItemKind, mut rows: Vec<Found>, found: &mut Vec<Found>| {
        if rows.len() > cap as usize {
            rows.truncate(cap as usize);
            truncated.push(kind);
        }
        found.extend(rows);
    };

    // Overdue steps.
    let sql = format!(
        "SELECT s.id, s.work_order_id, o.number, s.key, s.responsible_id, s.due_at, u.name AS responsible_name \
         FROM work_order_steps s JOIN work_orders o ON o.id = s.work_order_id LEFT JOIN users u ON u.id = s.responsible_id \
         WHERE s.tenant_id = $1 AND s.status IN ('active', 'in_progress') AND s.due_at < $2 \
         AND o.status IN ('open', 'in_progress') {} ORDER BY s.due_at LIMIT $3",
        scope_clause("o.process_id", 4, scope)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.clone())
        .bind(format_instant(now))
        .bind(fetch);
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let number = row.text("number")?;
        let key = row.text("key")?;
        let due = row.instant("due_at")?;
        let who = row.opt_text("responsible_name")?;
        batch.push(Found {
            kind: ItemKind::OverdueStep,
            object_type: "work_order_step",
            object_id: row.text("id")?,
            work_order_id: Some(WorkOrderId(row.uuid("work_order_id")?)),
            summary: format!(
                "{number}: step `{key}` overdue since {} ({})",
                due.format("%Y-%m-%d %H:%M UTC"),
                who.clone()
                    .unwrap_or_else(|| "nobody responsible".to_owned())
            ),
            detail: serde_json::json!({
                "step_key": key, "due_at": due, "responsible_id": row.opt_text("responsible_id")?,
                "responsible_name": who, "number": number,
            }),
        });
    }
    take(ItemKind::OverdueStep, batch, &mut found);

    // Stuck orders.
    let stuck = stuck_orders(conn, Some(tenant), now, false, 10_000).await?;
    let batch = stuck
        .into_iter()
        .filter(|s| {
            scope.is_empty()
                || s.process_id
                    .parse::<Uuid>()
                    .is_ok_and(|p| scope.contains(&p))
        })
        .take(fetch as usize)
        .map(|s| Found {
            kind: ItemKind::StuckOrder,
            object_type: "work_order",
            object_id: s.work_order_id.to_string(),
            work_order_id: Some(s.work_order_id),
            summary: format!(
                "{}: no activity since {} ({})",
                s.number,
                s.last_event_at.format("%Y-%m-%d"),
                s.title
            ),
            detail: serde_json::json!({
                "number": s.number, "title": s.title, "last_event_at": s.last_event_at,
                "stuck_after_days": s.stuck_after_days,
            }),
        })
        .collect();
    take(ItemKind::StuckOrder, batch, &mut found);

    // Orders flagged by assignment (nobody qualified; with the process owner).
    let sql = format!(
        "SELECT o.id, o.number, o.title, o.status FROM work_orders o WHERE o.tenant_id = $1 AND o.needs_attention = 1 \
         AND o.status IN ('open', 'in_progress', 'on_hold') AND $2 = $2 {} ORDER BY o.created_at LIMIT $3",
        scope_clause("o.process_id", 4, scope)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.clone())
        .bind(String::new())
        .bind(fetch);
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let number = row.text("number")?;
        batch.push(Found {
            kind: ItemKind::FlaggedAssignment,
            object_type: "work_order",
            object_id: row.text("id")?,
            work_order_id: Some(WorkOrderId(row.uuid("id")?)),
            summary: format!(
                "{number}: nobody qualified for a step; it went to the process owner"
            ),
            detail: serde_json::json!({"number": number, "title": row.text("title")?, "status": row.text("status")?}),
        });
    }
    take(ItemKind::FlaggedAssignment, batch, &mut found);

    // Appointments that passed without a status.
    let missed = missed_appointments(
        conn,
        Some(tenant),
        now,
        now - Duration::days(366),
        false,
        10_000,
    )
    .await?;
    let batch = missed
        .into_iter()
        .filter(|m| {
            scope.is_empty()
                || m.process_id
                    .parse::<Uuid>()
                    .is_ok_and(|p| scope.contains(&p))
        })
        .take(fetch as usize)
        .map(|m| Found {
            kind: ItemKind::MissedAppointment,
            object_type: "appointment",
            object_id: m.appointment_id.clone(),
            work_order_id: Some(m.work_order_id),
            summary: format!(
                "{}: appointment {} passed still `{}`",
                m.number,
                m.start_at.format("%Y-%m-%d %H:%M UTC"),
                m.status
            ),
            detail: serde_json::json!({
                "number": m.number, "start": m.start_at, "end": m.end_at, "status": m.status,
            }),
        })
        .collect();
    take(ItemKind::MissedAppointment, batch, &mut found);

    // E-mails that failed for good in the period.
    let scoped = if scope.is_empty() {
        String::new()
    } else {
        format!(
            "AND e.work_order_id IN (SELECT o.id FROM work_orders o WHERE o.tenant_id = $1 {})",
            scope_clause("o.process_id", 4, scope)
        )
    };
    let sql = format!(
        "SELECT e.id, e.kind, e.to_address, e.subject, e.last_error, e.work_order_id, e.invoice_id, e.created_at FROM emails e \
         WHERE e.tenant_id = $1 AND e.status = 'failed' AND e.created_at >= $2 {scoped} ORDER BY e.created_at DESC LIMIT $3"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.clone())
        .bind(format_instant(since))
        .bind(fetch);
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let to = row.text("to_address")?;
        let subject = row.text("subject")?;
        batch.push(Found {
            kind: ItemKind::FailedEmail,
            object_type: "email",
            object_id: row.text("id")?,
            work_order_id: row.opt_uuid("work_order_id")?.map(WorkOrderId),
            summary: format!("e-mail \u{201c}{subject}\u{201d} to {to} failed"),
            detail: serde_json::json!({
                "kind": row.text("kind")?, "to": to, "subject": subject, "error": row.opt_text("last_error")?,
                "invoice_id": row.opt_text("invoice_id")?, "created_at": row.instant("created_at")?,
            }),
        });
    }
    take(ItemKind::FailedEmail, batch, &mut found);

    // Webhook messages that were given up in the period.
    let rows = sqlx::query(
        "SELECT m.id, m.endpoint_id, m.event_type, m.attempts, m.last_error, m.created_at FROM outbox m \
         WHERE m.tenant_id = $1 AND m.status = 'dead' AND m.created_at >= $2 ORDER BY m.created_at DESC LIMIT $3",
    )
    .bind(t.clone())
    .bind(format_instant(since))
    .bind(fetch)
    .fetch_all(&mut *conn)
    .await
    .store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let event = row.text("event_type")?;
        batch.push(Found {
            kind: ItemKind::FailedWebhook,
            object_type: "webhook_message",
            object_id: row.text("id")?,
            work_order_id: None,
            summary: format!(
                "webhook `{event}` not delivered after {} attempts",
                row.int("attempts")?
            ),
            detail: serde_json::json!({
                "endpoint_id": row.text("endpoint_id")?, "event_type": event,
                "error": row.opt_text("last_error")?, "created_at": row.instant("created_at")?,
            }),
        });
    }
    take(ItemKind::FailedWebhook, batch, &mut found);

    // Issued invoices past their due date and not paid in full.
    let scoped = if scope.is_empty() {
        String::new()
    } else {
        format!(
            "AND i.work_order_id IN (SELECT o.id FROM work_orders o WHERE o.tenant_id = $1 {})",
            scope_clause("o.process_id", 4, scope)
        )
    };
    let sql = format!(
        "SELECT i.id, i.number, i.work_order_id, i.due_date, i.grand_total, i.paid_total, i.currency FROM invoices i \
         WHERE i.tenant_id = $1 AND i.kind = 'invoice' AND i.status IN ('issued', 'sent') AND i.due_date < $2 \
         AND i.paid_total < i.grand_total {scoped} ORDER BY i.due_date LIMIT $3"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.clone())
        .bind(today.format("%Y-%m-%d").to_string())
        .bind(fetch);
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let number = row.opt_text("number")?.unwrap_or_default();
        let open = row.int("grand_total")? - row.int("paid_total")?;
        let due = row.opt_text("due_date")?.unwrap_or_default();
        batch.push(Found {
            kind: ItemKind::OverdueInvoice,
            object_type: "invoice",
            object_id: row.text("id")?,
            work_order_id: row.opt_uuid("work_order_id")?.map(WorkOrderId),
            summary: format!(
                "invoice {number}: {}.{:02} {} open, due {due}",
                open / 100,
                open % 100,
                row.text("currency")?
            ),
            detail: serde_json::json!({
                "number": number, "due_date": due, "open_minor": open, "currency": row.text("currency")?,
            }),
        });
    }
    take(ItemKind::OverdueInvoice, batch, &mut found);

    // Bookings the customer cancelled in the period.
    let sql = format!(
        "SELECT b.id, b.reference, b.work_order_id, b.updated_at, o.number FROM bookings b \
         JOIN work_orders o ON o.id = b.work_order_id WHERE b.tenant_id = $1 AND b.status = 'cancelled' \
         AND b.updated_at >= $2 {} ORDER BY b.updated_at DESC LIMIT $3",
        scope_clause("o.process_id", 4, scope)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.clone())
        .bind(format_instant(since))
        .bind(fetch);
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut batch = Vec::new();
    for row in &rows {
        let reference = row.text("reference")?;
        batch.push(Found {
            kind: ItemKind::CancelledBooking,
            object_type: "booking",
            object_id: row.text("id")?,
            work_order_id: Some(WorkOrderId(row.uuid("work_order_id")?)),
            summary: format!(
                "booking {reference} ({}) cancelled by the customer",
                row.text("number")?
            ),
            detail: serde_json::json!({
                "reference": reference, "number": row.text("number")?, "cancelled_at": row.instant("updated_at")?,
            }),
        });
    }
    take(ItemKind::CancelledBooking, batch, &mut found);
    Ok((found, truncated))
}

/// Orders of a period: opened, and completed with their cycle times and punctuality.
#[derive(Debug, Clone, Default)]
pub struct PeriodOrders {
    pub opened: i64,
    /// (created, completed, on time) of the orders completed in the period.
    pub completed: Vec<(DateTime<Utc>, DateTime<Utc>, bool)>,
}

/// Orders opened and completed in `[from, to)`, limited to `scope` (empty: all).
pub async fn period_orders(
    conn: &mut Conn,
    tenant: TenantId,
    scope: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<PeriodOrders, StoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM work_orders o WHERE o.tenant_id = $1 AND o.created_at >= $2 AND o.created_at < $3 {}",
        scope_clause("o.process_id", 4, scope)
    );
    let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(format_instant(from))
        .bind(format_instant(to));
    let mut q = q;
    for p in scope {
        q = q.bind(p.to_string());
    }
    let opened = q.fetch_one(&mut *conn).await.store()?;
    let sql = format!(
        "SELECT o.created_at, o.completed_at, CASE WHEN EXISTS (SELECT 1 FROM work_order_steps s \
         WHERE s.work_order_id = o.id AND s.due_at IS NOT NULL AND s.finished_at > s.due_at) THEN 0 ELSE 1 END AS on_time \
         FROM work_orders o WHERE o.tenant_id = $1 AND o.completed_at >= $2 AND o.completed_at < $3 \
         AND o.status <> 'cancelled' {}",
        scope_clause("o.process_id", 4, scope)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(format_instant(from))
        .bind(format_instant(to));
    let rows = bind_scope(q, scope).fetch_all(&mut *conn).await.store()?;
    let mut completed = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(done) = row.opt_instant("completed_at")? {
            completed.push((row.instant("created_at")?, done, row.int("on_time")? == 1));
        }
    }
    Ok(PeriodOrders { opened, completed })
}

/// Background work that keeps failing for a tenant.
#[derive(Debug, Clone)]
pub struct WorkerProblem {
    pub worker: String,
    pub phase: String,
    pub detail: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub occurrences: i64,
}

/// Records that `worker`'s `phase` failed for `tenant` (counted; the first time kept).
pub async fn record_problem(
    db: &Db,
    tenant: TenantId,
    worker: &str,
    phase: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO worker_problems (tenant_id, worker, phase, detail, first_seen, last_seen, occurrences) \
         VALUES ($1, $2, $3, $4, $5, $5, 1) ON CONFLICT (tenant_id, worker, phase) DO UPDATE \
         SET detail = excluded.detail, last_seen = excluded.last_seen, occurrences = worker_problems.occurrences + 1",
    )
    .bind(tenant.to_string())
    .bind(worker)
    .bind(phase)
    .bind(detail)
    .bind(format_instant(now))
    .execute(tx.conn())
    .await
    .store()?;
    tx.commit().await
}

/// Forgets the problems of a phase that ran through: for one tenant, or for all.
pub async fn clear_problems(
    db: &Db,
    tenant: Option<TenantId>,
    worker: &str,
    phase: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM worker_problems WHERE worker = $1 AND phase = $2 AND ($3 = '' OR tenant_id = $3)",
    )
    .bind(worker)
    .bind(phase)
    .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
    .execute(db.pool())
    .await
    .store()?;
    Ok(())
}

/// A tenant's current problems.
pub async fn problems(db: &Db, tenant: TenantId) -> Result<Vec<WorkerProblem>, StoreError> {
    let rows = sqlx::query(
        "SELECT worker, phase, detail, first_seen, last_seen, occurrences FROM worker_problems \
         WHERE tenant_id = $1 ORDER BY first_seen",
    )
    .bind(tenant.to_string())
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|r| {
            Ok(WorkerProblem {
                worker: r.text("worker")?,
                phase: r.text("phase")?,
                detail: r.text("detail")?,
                first_seen: r.instant("first_seen")?,
                last_seen: r.instant("last_seen")?,
                occurrences: r.int("occurrences")?,
            })
        })
        .collect()
}

/// Every tenant's id (for running a failing scan tenant by tenant).
pub async fn tenant_ids(db: &Db) -> Result<Vec<TenantId>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(db.pool())
        .await
        .store()?;
    ids.iter()
        .map(|id| {
            uuid::Uuid::parse_str(id)
                .map(TenantId)
                .map_err(|e| StoreError::Corrupt {
                    column: "tenants.id",
                    detail: e.to_string(),
                })
        })
        .collect()
}
