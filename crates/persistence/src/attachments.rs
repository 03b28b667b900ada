//! Files attached to work orders (photos, signatures, documents). The bytes live in a blob
//! store under `storage_key`; rows from before the blob store keep them in `data`.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::{AttachmentId, StepId, TenantId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::work_orders::ActorRef;
use crate::{Conn, Db, StoreError, format_instant};

#[derive(Debug, Clone)]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub step_id: Option<StepId>,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Where the blob store keeps the bytes.
    pub storage_key: Option<String>,
    pub created_by: ActorRef,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, work_order_id, step_id, kind, content_type, size_bytes, sha256, storage_key, \
                       created_by_type, created_by_id, created_at";

fn from_row(row: &AnyRow) -> Result<AttachmentRecord, StoreError> {
    Ok(AttachmentRecord {
        id: AttachmentId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        step_id: row.opt_text("step_id")?.and_then(|t| t.parse().ok()),
        kind: row.text("kind")?,
        content_type: row.text("content_type")?,
        size_bytes: row.int("size_bytes")?,
        sha256: row.text("sha256")?,
        storage_key: row.opt_text("storage_key")?,
        created_by: ActorRef {
            kind: row.text("created_by_type")?,
            id: row.opt_text("created_by_id")?,
        },
        created_at: row.instant("created_at")?,
    })
}

/// Records an attachment whose bytes are already in the blob store.
pub async fn insert(conn: &mut Conn, a: &AttachmentRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attachments (id, tenant_id, work_order_id, step_id, kind, content_type, size_bytes, sha256, data, \
         storage_key, created_by_type, created_by_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(a.id.to_string())
    .bind(a.tenant_id.to_string())
    .bind(a.work_order_id.to_string())
    .bind(a.step_id.map(|s| s.to_string()))
    .bind(&a.kind)
    .bind(&a.content_type)
    .bind(a.size_bytes)
    .bind(&a.sha256)
    .bind(Vec::<u8>::new())
    .bind(a.storage_key.clone())
    .bind(&a.created_by.kind)
    .bind(a.created_by.id.clone())
    .bind(format_instant(a.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// The attachment's metadata, and its bytes when they are kept in the database.
pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: AttachmentId,
) -> Result<Option<(AttachmentRecord, Vec<u8>)>, StoreError> {
    let sql = format!("SELECT {COLUMNS}, data FROM attachments WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    let Some(row) = row else { return Ok(None) };
    let data: Vec<u8> = sqlx::Row::try_get(&row, "data").map_err(|e| StoreError::Corrupt {
        column: "data",
        detail: e.to_string(),
    })?;
    Ok(Some((from_row(&row)?, data)))
}

/// An attachment of the order with these bytes (uploads are idempotent by hash).
pub async fn find_by_hash(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
    sha256: &str,
) -> Result<Option<AttachmentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments WHERE tenant_id = $1 AND work_order_id = $2 AND sha256 = $3 \
         ORDER BY created_at, id LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .bind(sha256)
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

/// One attachment of an order, by id (inside a transaction).
pub async fn get_on_order(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
    id: AttachmentId,
) -> Result<Option<AttachmentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

/// The order's attachments, oldest first.
pub async fn list_for_order(
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
) -> Result<Vec<AttachmentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments WHERE tenant_id = $1 AND work_order_id = $2 ORDER BY created_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(from_row).collect()
}
