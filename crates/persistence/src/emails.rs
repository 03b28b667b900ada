//! Outgoing e-mail: rows written in the transaction that causes them (an issued invoice, a
//! sent quote, a booking, a technician on the way) and sent by the worker with a lease, like
//! webhook messages.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use uuid::Uuid;
use workorders_domain::{TenantId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Backend, Conn, Db, KeyRing, StoreError, WriteTx, format_instant};

/// Purpose of sealed e-mail bodies (they may hold private links).
const BODY: &str = "email_body";

/// An attachment: bytes from the blob store (`blob_key`) or inline text (`.ics`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentRef {
    pub filename: String,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EmailRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The template kind (`invoice`, `credit_note`, `quote`, `booking_confirmation`,
    /// `technician_en_route`).
    pub kind: String,
    pub message_id: String,
    pub to_address: String,
    pub to_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<AttachmentRef>,
    pub work_order_id: Option<WorkOrderId>,
    pub invoice_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
    /// `queued`, `sent` or `failed` (permanently: rejected or out of attempts).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, kind, message_id, to_address, to_name, reply_to, subject, body, attachments, \
    work_order_id, invoice_id, quote_id, status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at";

fn from_row(row: &AnyRow, keys: &KeyRing) -> Result<EmailRecord, StoreError> {
    let attachments = row.text("attachments")?;
    Ok(EmailRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        kind: row.text("kind")?,
        message_id: row.text("message_id")?,
        to_address: row.text("to_address")?,
        to_name: row.opt_text("to_name")?,
        reply_to: row.opt_text("reply_to")?,
        subject: row.text("subject")?,
        body: keys
            .open(BODY, &row.text("body")?)
            .map_err(|source| StoreError::Sealed {
                purpose: BODY,
                source,
            })?,
        attachments: serde_json::from_str(&attachments).map_err(|e| StoreError::Corrupt {
            column: "attachments",
            detail: e.to_string(),
        })?,
        work_order_id: row.opt_uuid("work_order_id")?.map(WorkOrderId),
        invoice_id: row.opt_uuid("invoice_id")?,
        quote_id: row.opt_uuid("quote_id")?,
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.instant("next_attempt_at")?,
        locked_until: row.opt_instant("locked_until")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.instant("created_at")?,
        sent_at: row.opt_instant("sent_at")?,
    })
}

/// Queues a message (inside the caller's transaction). The body is sealed: it may hold a
/// private link, and a copy of the database must not reveal it. It is cleared once sent.
pub async fn insert(tx: &mut WriteTx, e: &EmailRecord) -> Result<(), StoreError> {
    let body = tx
        .keys()
        .seal(BODY, &e.body)
        .map_err(|source| StoreError::Sealed {
            purpose: BODY,
            source,
        })?;
    sqlx::query(
        "INSERT INTO emails (id, tenant_id, kind, message_id, to_address, to_name, reply_to, subject, body, attachments, \
         work_order_id, invoice_id, quote_id, status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', 0, $14, NULL, NULL, $14, NULL)",
    )
    .bind(e.id.to_string())
    .bind(e.tenant_id.to_string())
    .bind(&e.kind)
    .bind(&e.message_id)
    .bind(&e.to_address)
    .bind(e.to_name.clone())
    .bind(e.reply_to.clone())
    .bind(&e.subject)
    .bind(body)
    .bind(serde_json::to_string(&e.attachments).unwrap_or_else(|_| "[]".to_owned()))
    .bind(e.work_order_id.map(|o| o.to_string()))
    .bind(e.invoice_id.map(|o| o.to_string()))
    .bind(e.quote_id.map(|o| o.to_string()))
    .bind(format_instant(e.created_at))
    .execute(tx.conn())
    .await
    .store()?;
    Ok(())
}

/// Claims up to `limit` due messages for `lease` (one worker per message; a dead worker's
/// messages come back when the lease has passed). Attempts are counted at claim time.
/// Unreadable rows are set aside (`failed`) and counted, not left to stop the queue.
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u32,
) -> Result<(Vec<EmailRecord>, usize), StoreError> {
    let skip = if db.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE emails SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM emails WHERE status = 'queued' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at LIMIT $3{skip}) \
         RETURNING {COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now + lease))
        .bind(format_instant(now))
        .bind(i64::from(limit))
        .fetch_all(tx.conn())
        .await
        .store()?;
    let keys = db.keys();
    let claimed = crate::readable_rows(
        tx.conn(),
        &rows,
        |r| from_row(r, keys),
        "UPDATE emails SET status = 'failed', locked_until = NULL, last_error = $2 WHERE id = $1",
    )
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What happened to a message after an attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    Failed { error: String },
}

/// Records the outcome, inside the caller's transaction (with what follows from it: the
/// invoice marked sent, the failure announced), if this worker still holds the lease. False
/// when it lost it (another worker owns the message now): the caller rolls back.
pub async fn finish_in(
    conn: &mut Conn,
    claimed: &EmailRecord,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(locked_until) = claimed.locked_until else {
        return Ok(false);
    };
    let (status, next, sent, error) = match outcome {
        Outcome::Sent => ("sent", now, Some(now), None),
        Outcome::Retry { at, error } => ("queued", *at, None, Some(error.clone())),
        Outcome::Failed { error } => ("failed", now, None, Some(error.clone())),
    };
    // A sent message's body is not needed any more: it is cleared, so that the private
    // links it held do not stay in the database.
    let done = sqlx::query(
        "UPDATE emails SET status = $1, next_attempt_at = $2, sent_at = $3, last_error = $4, locked_until = NULL, \
         body = CASE WHEN $1 = 'sent' THEN '' ELSE body END \
         WHERE id = $5 AND locked_until = $6 AND status = 'queued'",
    )
    .bind(status)
    .bind(format_instant(next))
    .bind(sent.map(format_instant))
    .bind(error)
    .bind(claimed.id.to_string())
    .bind(format_instant(locked_until))
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Queues a failed message again (after the address or the SMTP settings were fixed).
pub async fn retry(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE emails SET status = 'queued', next_attempt_at = $1, attempts = 0, locked_until = NULL \
         WHERE tenant_id = $2 AND id = $3 AND status = 'failed'",
    )
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Messages about an order, an invoice or a quote (newest first).
pub async fn list_for(
    db: &Db,
    tenant: TenantId,
    work_order: Option<WorkOrderId>,
    invoice: Option<Uuid>,
    quote: Option<Uuid>,
) -> Result<Vec<EmailRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    list_for_in(&mut conn, db.keys(), tenant, work_order, invoice, quote).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn list_for_in(
    conn: &mut Conn,
    keys: &crate::KeyRing,
    tenant: TenantId,
    work_order: Option<WorkOrderId>,
    invoice: Option<Uuid>,
    quote: Option<Uuid>,
) -> Result<Vec<EmailRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM emails WHERE tenant_id = $1 AND ($2 = '' OR work_order_id = $2) \
         AND ($3 = '' OR invoice_id = $3) AND ($4 = '' OR quote_id = $4) ORDER BY id DESC LIMIT 200"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(work_order.map(|o| o.to_string()).unwrap_or_default())
        .bind(invoice.map(|o| o.to_string()).unwrap_or_default())
        .bind(quote.map(|o| o.to_string()).unwrap_or_default())
        .fetch_all(&mut *conn)
        .await
        .store()?;
    rows.iter().map(|r| from_row(r, keys)).collect()
}

/// Messages waiting to be sent, for `/metrics`.
pub async fn queued_count(db: &Db) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE status = 'queued'")
        .fetch_one(db.pool())
        .await
        .store()
}
