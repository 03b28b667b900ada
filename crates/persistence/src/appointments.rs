//! Appointments and their assignees. Assignee rows carry the times so that "is this person
//! free" is one indexed range query per person.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::appointment::AppointmentStatus;
use workorders_domain::{AppointmentId, StepId, TenantId, UserId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Backend, Conn, Db, StoreError, WriteTx, format_instant};

#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentRecord {
    pub id: AppointmentId,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub step_id: Option<StepId>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub notes: Option<String>,
    pub assignees: Vec<UserId>,
    /// iCalendar SEQUENCE: grows with every change the attendees should see.
    pub sequence: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AppointmentRecord {
    /// A new appointment, `scheduled`, first version, nothing sent about it yet.
    pub fn scheduled(
        tenant_id: TenantId,
        work_order_id: WorkOrderId,
        step_id: Option<StepId>,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        assignees: Vec<UserId>,
        notes: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        AppointmentRecord {
            id: AppointmentId::new(),
            tenant_id,
            work_order_id,
            step_id,
            start,
            end,
            status: AppointmentStatus::Scheduled,
            notes,
            assignees,
            sequence: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

const COLUMNS: &str = "id, tenant_id, work_order_id, step_id, start_at, end_at, status, notes, sequence, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<AppointmentRecord, StoreError> {
    let status = row.text("status")?;
    Ok(AppointmentRecord {
        id: AppointmentId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        step_id: row.opt_text("step_id")?.and_then(|t| t.parse().ok()),
        start: row.instant("start_at")?,
        end: row.instant("end_at")?,
        status: AppointmentStatus::parse(&status).ok_or(StoreError::Corrupt {
            column: "status",
            detail: status.clone(),
        })?,
        notes: row.opt_text("notes")?,
        assignees: Vec::new(),
        sequence: row.int("sequence")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

async fn with_assignees(
    conn: &mut Conn,
    mut records: Vec<AppointmentRecord>,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    if records.is_empty() {
        return Ok(records);
    }
    let mut by_id: HashMap<AppointmentId, Vec<UserId>> = HashMap::new();
    for chunk in records.chunks(100) {
        let ids = crate::in_list(1, chunk.len());
        let sql = format!(
            "SELECT appointment_id, user_id FROM appointment_assignees WHERE appointment_id IN ({}) ORDER BY user_id",
            ids
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query.bind(r.id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            by_id
                .entry(AppointmentId(row.uuid("appointment_id")?))
                .or_default()
                .push(UserId(row.uuid("user_id")?));
        }
    }
    for r in &mut records {
        r.assignees = by_id.remove(&r.id).unwrap_or_default();
    }
    Ok(records)
}

async fn write_assignees(conn: &mut Conn, a: &AppointmentRecord) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM appointment_assignees WHERE appointment_id = $1")
        .bind(a.id.to_string())
        .execute(&mut *conn)
        .await
        .store()?;
    for user in &a.assignees {
        sqlx::query(
            "INSERT INTO appointment_assignees (appointment_id, user_id, tenant_id, start_at, end_at, blocking) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.to_string())
        .bind(user.to_string())
        .bind(a.tenant_id.to_string())
        .bind(format_instant(a.start))
        .bind(format_instant(a.end))
        .bind(i64::from(a.status.blocks_time()))
        .execute(&mut *conn)
        .await
        .store()?;
        // People sent to an order see it (and get it on their devices).
        sqlx::query(
            "INSERT INTO work_order_participants (work_order_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(a.work_order_id.to_string())
        .bind(user.to_string())
        .execute(&mut *conn)
        .await
        .store()?;
    }
    Ok(())
}

pub async fn insert(tx: &mut WriteTx, a: &AppointmentRecord) -> Result<(), StoreError> {
    tx.touch_order(a.tenant_id, a.work_order_id);
    let conn = tx.conn();
    sqlx::query(
        "INSERT INTO appointments (id, tenant_id, work_order_id, step_id, start_at, end_at, status, notes, sequence, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 1, $9, $9)",
    )
    .bind(a.id.to_string())
    .bind(a.tenant_id.to_string())
    .bind(a.work_order_id.to_string())
    .bind(a.step_id.map(|s| s.to_string()))
    .bind(format_instant(a.start))
    .bind(format_instant(a.end))
    .bind(a.status.as_str())
    .bind(a.notes.clone())
    .bind(format_instant(a.created_at))
    .execute(&mut *conn)
    .await
    .store()?;
    write_assignees(conn, a).await
}

/// Writes times, status, notes and assignees if the version matches; bumps version and
/// sequence. Returns false when the appointment changed meanwhile.
pub async fn update(
    tx: &mut WriteTx,
    a: &AppointmentRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    tx.touch_order(a.tenant_id, a.work_order_id);
    let conn = tx.conn();
    let done = sqlx::query(
        "UPDATE appointments SET start_at = $1, end_at = $2, status = $3, notes = $4, sequence = sequence + 1, \
         version = version + 1, updated_at = $5 WHERE tenant_id = $6 AND id = $7 AND version = $8",
    )
    .bind(format_instant(a.start))
    .bind(format_instant(a.end))
    .bind(a.status.as_str())
    .bind(a.notes.clone())
    .bind(format_instant(now))
    .bind(a.tenant_id.to_string())
    .bind(a.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await
    .store()?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    write_assignees(conn, a).await?;
    Ok(true)
}

pub async fn get(
    conn: &mut Conn,
    tenant: TenantId,
    id: AppointmentId,
) -> Result<Option<AppointmentRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM appointments WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(with_assignees(conn, vec![from_row(&row)?]).await?.pop()),
        None => Ok(None),
    }
}

/// Filters for listing appointments.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub assignee: Option<UserId>,
    pub work_order: Option<WorkOrderId>,
    pub status: Option<AppointmentStatus>,
}

/// Appointments by start time, after the cursor `(start, id)`.
pub async fn list(
    db: &Db,
    tenant: TenantId,
    f: &AppointmentFilter,
    after: Option<(String, AppointmentId)>,
    limit: u32,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let (after_key, after_id) = after.map(|(k, id)| (k, id.to_string())).unwrap_or_default();
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM appointments a WHERE a.tenant_id = $1 \
         AND (a.start_at > $2 OR (a.start_at = $2 AND a.id > $3)) \
         AND ($4 IS NULL OR a.end_at > $4) AND ($5 IS NULL OR a.start_at < $5) \
         AND ($6 IS NULL OR EXISTS (SELECT 1 FROM appointment_assignees x WHERE x.appointment_id = a.id AND x.user_id = $6)) \
         AND ($7 IS NULL OR a.work_order_id = $7) AND ($8 IS NULL OR a.status = $8) \
         ORDER BY a.start_at, a.id LIMIT $9"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after_key)
        .bind(after_id)
        .bind(f.from.map(format_instant))
        .bind(f.to.map(format_instant))
        .bind(f.assignee.map(|u| u.to_string()))
        .bind(f.work_order.map(|w| w.to_string()))
        .bind(f.status.map(|s| s.as_str()))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    let records = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let mut conn = db.pool().acquire().await.store()?;
    with_assignees(&mut conn, records).await
}

/// Locks the people about to be booked until the transaction ends (PostgreSQL; SQLite has
/// one writer), so two bookings for one person are checked one after the other. Users are
/// locked in id order, so concurrent bookings of several people cannot deadlock.
pub async fn lock_people(
    conn: &mut Conn,
    db: &Db,
    tenant: TenantId,
    users: &[UserId],
) -> Result<(), StoreError> {
    if db.backend() != Backend::Postgres || users.is_empty() {
        return Ok(());
    }
    let mut sorted = users.to_vec();
    sorted.sort();
    sorted.dedup();
    for user in sorted {
        sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await
            .store()?;
    }
    Ok(())
}

/// Blocking hours per user in `[from, to)` (for least-loaded assignment).
pub async fn booked_minutes(
    conn: &mut Conn,
    tenant: TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<UserId, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT user_id, start_at, end_at FROM appointment_assignees WHERE tenant_id = $1 AND blocking = 1 AND start_at < $2 AND end_at > $3",
    )
    .bind(tenant.to_string())
    .bind(format_instant(to))
    .bind(format_instant(from))
    .fetch_all(conn)
    .await
    .store()?;
    let mut minutes: HashMap<UserId, i64> = HashMap::new();
    for row in rows {
        let (start, end) = (row.instant("start_at")?, row.instant("end_at")?);
        *minutes.entry(UserId(row.uuid("user_id")?)).or_default() += (end - start).num_minutes();
    }
    Ok(minutes)
}

/// A person's appointments from `from` on (for the calendar feed), cancelled ones included
/// so that subscribers see the cancellation.
pub async fn for_person(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    from: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM appointments a JOIN appointment_assignees x ON x.appointment_id = a.id \
         WHERE a.tenant_id = $1 AND x.user_id = $2 AND a.end_at > $3 ORDER BY a.start_at, a.id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(format_instant(from))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    let records = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let mut conn = db.pool().acquire().await.store()?;
    with_assignees(&mut conn, records).await
}

/// The appointments of these orders that `user` is on and that are not cancelled, by start.
pub async fn of_orders_for(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    orders: &[WorkOrderId],
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut records = Vec::new();
    for chunk in orders.chunks(100) {
        let placeholders = crate::in_list(3, chunk.len());
        let sql = format!(
            "SELECT {columns} FROM appointments a JOIN appointment_assignees x ON x.appointment_id = a.id \
             WHERE a.tenant_id = $1 AND x.user_id = $2 AND a.status <> 'cancelled' AND a.work_order_id IN ({}) \
             ORDER BY a.start_at, a.id",
            placeholders
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(user.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            records.push(from_row(&row)?);
        }
    }
    with_assignees(&mut conn, records).await
}
