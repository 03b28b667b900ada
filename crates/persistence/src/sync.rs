//! Field sync: the per-tenant change feed that devices pull, the events they push (kept for
//! exactly-once), and the entries recorded in the field (notes, time, material, signatures).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use workorders_domain::{CustomerId, StepId, TenantId, UserId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Conn, Db, StoreError, format_instant};

/// Takes the tenant's next change sequence number. On PostgreSQL the counter row stays
/// locked until the transaction ends, so sequence order is commit order.
pub(crate) async fn next_seq(conn: &mut Conn, tenant: TenantId) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO sync_counters (tenant_id, last_seq) VALUES ($1, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET last_seq = sync_counters.last_seq + 1 RETURNING last_seq",
    )
    .bind(tenant.to_string())
    .fetch_one(&mut *conn)
    .await
    .store()?;
    Ok(seq)
}

pub(crate) async fn record_orders(
    conn: &mut Conn,
    tenant: TenantId,
    orders: &[WorkOrderId],
    seq: i64,
) -> Result<(), StoreError> {
    for chunk in orders.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, $2)", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO sync_feed (work_order_id, tenant_id, seq) VALUES {} \
             ON CONFLICT (work_order_id) DO UPDATE SET seq = excluded.seq",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(seq);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        query.execute(&mut *conn).await.store()?;
    }
    Ok(())
}

pub(crate) async fn record_customer(
    conn: &mut Conn,
    tenant: TenantId,
    customer: CustomerId,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sync_feed (work_order_id, tenant_id, seq) \
         SELECT id, tenant_id, $3 FROM work_orders WHERE tenant_id = $1 AND customer_id = $2 \
         AND status IN ('open', 'in_progress', 'on_hold') \
         ON CONFLICT (work_order_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(tenant.to_string())
    .bind(customer.to_string())
    .bind(seq)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

/// The tenant's latest change sequence number (0 before any change).
pub async fn current_seq(db: &Db, tenant: TenantId) -> Result<i64, StoreError> {
    let seq: Option<i64> =
        sqlx::query_scalar("SELECT last_seq FROM sync_counters WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(db.pool())
            .await
            .store()?;
    Ok(seq.unwrap_or(0))
}

/// Orders that concern `user` (they hold or held a step, or are on an appointment of it)
/// changed after `(seq, order)`, in feed order.
pub async fn changed_since(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    after: (i64, WorkOrderId),
    limit: u32,
) -> Result<Vec<(i64, WorkOrderId)>, StoreError> {
    let rows = sqlx::query(
        "SELECT f.seq, f.work_order_id FROM sync_feed f \
         JOIN work_order_participants p ON p.work_order_id = f.work_order_id AND p.user_id = $2 \
         WHERE f.tenant_id = $1 AND (f.seq > $3 OR (f.seq = $3 AND f.work_order_id > $4)) \
         ORDER BY f.seq, f.work_order_id LIMIT $5",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(after.0)
    .bind(after.1.to_string())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|r| Ok((r.int("seq")?, WorkOrderId(r.uuid("work_order_id")?))))
        .collect()
}

/// Running or held orders that concern `user`, by id after `after` (a full pull).
pub async fn concerning(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    after: WorkOrderId,
    limit: u32,
) -> Result<Vec<WorkOrderId>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.work_order_id FROM work_order_participants p \
         JOIN work_orders o ON o.id = p.work_order_id \
         WHERE p.user_id = $2 AND p.work_order_id > $3 AND o.tenant_id = $1 \
         AND o.status IN ('open', 'in_progress', 'on_hold') \
         ORDER BY p.work_order_id LIMIT $4",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(after.to_string())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|r| Ok(WorkOrderId(r.uuid("work_order_id")?)))
        .collect()
}

/// An event as stored: the outcome a device gets again when it pushes the id once more.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub outcome: String,
    pub reason: Option<String>,
}

/// The stored events among `ids`.
pub async fn find_events(
    conn: &mut Conn,
    ids: &[uuid::Uuid],
) -> Result<HashMap<uuid::Uuid, StoredEvent>, StoreError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(200) {
        let placeholders = crate::in_list(1, chunk.len());
        let sql = format!(
            "SELECT id, tenant_id, user_id, outcome, reason FROM sync_events WHERE id IN ({})",
            placeholders
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            let e = StoredEvent {
                id: row.uuid("id")?,
                tenant_id: TenantId(row.uuid("tenant_id")?),
                user_id: UserId(row.uuid("user_id")?),
                outcome: row.text("outcome")?,
                reason: row.opt_text("reason")?,
            };
            found.insert(e.id, e);
        }
    }
    Ok(found)
}

/// A pushed event and what became of it.
#[derive(Debug, Clone)]
pub struct NewSyncEvent {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub device_id: String,
    pub device_seq: i64,
    pub work_order_id: uuid::Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub received_at: DateTime<Utc>,
}

pub async fn insert_events(conn: &mut Conn, events: &[NewSyncEvent]) -> Result<(), StoreError> {
    for chunk in events.chunks(20) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 11;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO sync_events (id, tenant_id, user_id, device_id, device_seq, work_order_id, type, occurred_at, \
             outcome, reason, received_at) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            query = query
                .bind(e.id.to_string())
                .bind(e.tenant_id.to_string())
                .bind(e.user_id.to_string())
                .bind(e.device_id.clone())
                .bind(e.device_seq)
                .bind(e.work_order_id.to_string())
                .bind(e.kind.clone())
                .bind(format_instant(e.occurred_at))
                .bind(e.outcome)
                .bind(e.reason.clone())
                .bind(format_instant(e.received_at));
        }
        query.execute(&mut *conn).await.store()?;
    }
    Ok(())
}

/// Something recorded in the field: a note, logged time, used material, a signature.
#[derive(Debug, Clone)]
pub struct FieldEntry {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub step_id: Option<StepId>,
    pub kind: String,
    pub user_id: UserId,
    pub device_id: String,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_entries(conn: &mut Conn, entries: &[FieldEntry]) -> Result<(), StoreError> {
    for chunk in entries.chunks(20) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n: Vec<String> = (1..=10).map(|k| format!("${}", i * 10 + k)).collect();
                format!("({})", n.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO field_entries (id, tenant_id, work_order_id, step_id, kind, user_id, device_id, occurred_at, data, created_at) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            query = query
                .bind(e.id.to_string())
                .bind(e.tenant_id.to_string())
                .bind(e.work_order_id.to_string())
                .bind(e.step_id.map(|s| s.to_string()))
                .bind(e.kind.clone())
                .bind(e.user_id.to_string())
                .bind(e.device_id.clone())
                .bind(format_instant(e.occurred_at))
                .bind(e.data.to_string())
                .bind(format_instant(e.created_at));
        }
        query.execute(&mut *conn).await.store()?;
    }
    Ok(())
}

/// The field entries of an order, in the order they happened.
pub async fn entries(
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
) -> Result<Vec<FieldEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, work_order_id, step_id, kind, user_id, device_id, occurred_at, data, created_at \
         FROM field_entries WHERE tenant_id = $1 AND work_order_id = $2 ORDER BY occurred_at, id",
    )
    .bind(tenant.to_string())
    .bind(order.to_string())
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|r| {
            let data = r.text("data")?;
            Ok(FieldEntry {
                id: r.uuid("id")?,
                tenant_id: TenantId(r.uuid("tenant_id")?),
                work_order_id: WorkOrderId(r.uuid("work_order_id")?),
                step_id: r.opt_text("step_id")?.and_then(|t| t.parse().ok()),
                kind: r.text("kind")?,
                user_id: UserId(r.uuid("user_id")?),
                device_id: r.text("device_id")?,
                occurred_at: r.instant("occurred_at")?,
                data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
                    column: "data",
                    detail: e.to_string(),
                })?,
                created_at: r.instant("created_at")?,
            })
        })
        .collect()
}

/// Serialises the pushes of one person until the transaction ends (a row lock on
/// PostgreSQL; SQLite has one writer). Nothing else locks these rows, so no lock cycle.
pub async fn lock_pusher(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sync_pushers (tenant_id, user_id, last_push_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_push_at = excluded.last_push_at",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Whether `user` holds or held a step of the order or is on one of its appointments
/// (inside a transaction).
pub async fn is_participant(
    conn: &mut Conn,
    order: WorkOrderId,
    user: UserId,
) -> Result<bool, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM work_order_participants WHERE work_order_id = $1 AND user_id = $2",
    )
    .bind(order.to_string())
    .bind(user.to_string())
    .fetch_optional(conn)
    .await
    .store()?;
    Ok(found.is_some())
}
