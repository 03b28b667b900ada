//! Files attached to work orders (step evidence: photos, signatures).

use chrono::{DateTime, Utc};
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
    pub created_by: ActorRef,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, a: &AttachmentRecord, data: &[u8]) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attachments (id, tenant_id, work_order_id, step_id, kind, content_type, size_bytes, sha256, data, \
         created_by_type, created_by_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(a.id.to_string())
    .bind(a.tenant_id.to_string())
    .bind(a.work_order_id.to_string())
    .bind(a.step_id.map(|s| s.to_string()))
    .bind(&a.kind)
    .bind(&a.content_type)
    .bind(a.size_bytes)
    .bind(&a.sha256)
    .bind(data.to_vec())
    .bind(&a.created_by.kind)
    .bind(a.created_by.id.clone())
    .bind(format_instant(a.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// The attachment's metadata and bytes.
pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: AttachmentId,
) -> Result<Option<(AttachmentRecord, Vec<u8>)>, StoreError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, work_order_id, step_id, kind, content_type, size_bytes, sha256, data, created_by_type, \
         created_by_id, created_at FROM attachments WHERE tenant_id = $1 AND id = $2",
    )
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
    let record = AttachmentRecord {
        id: AttachmentId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        step_id: row.opt_text("step_id")?.and_then(|t| t.parse().ok()),
        kind: row.text("kind")?,
        content_type: row.text("content_type")?,
        size_bytes: row.int("size_bytes")?,
        sha256: row.text("sha256")?,
        created_by: ActorRef {
            kind: row.text("created_by_type")?,
            id: row.opt_text("created_by_id")?,
        },
        created_at: row.instant("created_at")?,
    };
    Ok(Some((record, data)))
}
