//! Webhook endpoints and the transactional outbox: rows written in the same transaction as
//! the change that causes them, claimed by delivery workers with a lease.

use chrono::{DateTime, Duration, Utc};
use sqlx::any::AnyRow;
use uuid::Uuid;
use workorders_domain::TenantId;

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Backend, Conn, Db, KeyRing, StoreError, WriteTx, format_instant};

/// Purpose of sealed webhook signing secrets.
const SECRET: &str = "webhook_secret";

fn seal(keys: &KeyRing, value: &str) -> Result<String, StoreError> {
    keys.seal(SECRET, value)
        .map_err(|source| StoreError::Sealed {
            purpose: SECRET,
            source,
        })
}

fn open(keys: &KeyRing, value: Option<String>) -> Result<Option<String>, StoreError> {
    keys.open_opt(SECRET, value)
        .map_err(|source| StoreError::Sealed {
            purpose: SECRET,
            source,
        })
}

/// Every event type a webhook endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 31] = [
    "work_order.created",
    "work_order.updated",
    "work_order.status_changed",
    "work_order.completed",
    "work_order.cancelled",
    "step.activated",
    "step.completed",
    "step.skipped",
    "step.reassigned",
    "step.overdue",
    "step.escalated",
    "work_order.stuck",
    "appointment.missed",
    "review.created",
    "review.signed_off",
    "review.overdue",
    "appointment.created",
    "appointment.moved",
    "appointment.cancelled",
    "booking.created",
    "booking.rescheduled",
    "booking.cancelled",
    "invoice.issued",
    "invoice.sent",
    "invoice.paid",
    "invoice.cancelled",
    "quote.accepted",
    "quote.declined",
    "email.failed",
    "webhook.test",
    "webhook.endpoint_disabled",
];

/// The webhook events an order history entry stands for.
pub fn webhook_types(history_type: &str, data: &serde_json::Value) -> Vec<&'static str> {
    let by_customer = data.get("by").and_then(|b| b.as_str()) == Some("customer");
    match history_type {
        "work_order.created" => vec!["work_order.created"],
        "work_order.updated" => vec!["work_order.updated"],
        "work_order.completed" => vec!["work_order.completed", "work_order.status_changed"],
        "work_order.cancelled" => vec!["work_order.cancelled", "work_order.status_changed"],
        "work_order.started"
        | "work_order.reopened"
        | "work_order.held"
        | "work_order.resumed"
        | "work_order.invoiced"
        | "work_order.closed" => vec!["work_order.status_changed"],
        "step.activated" => vec!["step.activated"],
        "step.completed" => vec!["step.completed"],
        "step.skipped" => vec!["step.skipped"],
        "step.reassigned" => vec!["step.reassigned"],
        "appointment.scheduled" if data.get("booking_reference").is_some() => {
            vec!["appointment.created", "booking.created"]
        }
        "appointment.scheduled" => vec!["appointment.created"],
        "appointment.changed" if by_customer => vec!["appointment.moved", "booking.rescheduled"],
        "appointment.changed" => vec!["appointment.moved"],
        "appointment.cancelled" if by_customer => {
            vec!["appointment.cancelled", "booking.cancelled"]
        }
        "appointment.cancelled" => vec!["appointment.cancelled"],
        _ => Vec::new(),
    }
}

/// An event to be told to the tenant's webhook endpoints.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub tenant_id: TenantId,
    pub event_type: String,
    pub data: serde_json::Value,
    /// Only this endpoint (test pings), instead of every subscribed one.
    pub only_endpoint: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct EndpointRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub failure_streak: i64,
    pub failing_since: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EndpointRecord {
    pub fn subscribes(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, enabled, disabled_reason, secret, \
    previous_secret, previous_secret_expires_at, failure_streak, failing_since, version, created_at, updated_at";

fn endpoint_from_row(row: &AnyRow, keys: &KeyRing) -> Result<EndpointRecord, StoreError> {
    let types = row.text("event_types")?;
    Ok(EndpointRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        url: row.text("url")?,
        description: row.opt_text("description")?,
        event_types: serde_json::from_str(&types).map_err(|e| StoreError::Corrupt {
            column: "event_types",
            detail: e.to_string(),
        })?,
        enabled: row.int("enabled")? != 0,
        disabled_reason: row.opt_text("disabled_reason")?,
        secret: open(keys, Some(row.text("secret")?))?.unwrap_or_default(),
        previous_secret: open(keys, row.opt_text("previous_secret")?)?,
        previous_secret_expires_at: row.opt_instant("previous_secret_expires_at")?,
        failure_streak: row.int("failure_streak")?,
        failing_since: row.opt_instant("failing_since")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

/// Inserts an endpoint; its secret is sealed.
pub async fn insert_endpoint(tx: &mut WriteTx, e: &EndpointRecord) -> Result<(), StoreError> {
    let secret = seal(tx.keys(), &e.secret)?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason, secret, \
         previous_secret, previous_secret_expires_at, failure_streak, failing_since, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, NULL, NULL, 0, NULL, 1, $8, $8)",
    )
    .bind(e.id.to_string())
    .bind(e.tenant_id.to_string())
    .bind(&e.url)
    .bind(e.description.clone())
    .bind(serde_json::Value::from(e.event_types.clone()).to_string())
    .bind(i64::from(e.enabled))
    .bind(secret)
    .bind(format_instant(e.created_at))
    .execute(tx.conn())
    .await
    .store()?;
    Ok(())
}

/// Writes url, description, types, enabled state and secrets (sealed) if the version matches.
pub async fn update_endpoint(
    tx: &mut WriteTx,
    e: &EndpointRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let secret = seal(tx.keys(), &e.secret)?;
    let previous = e
        .previous_secret
        .as_deref()
        .map(|p| seal(tx.keys(), p))
        .transpose()?;
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, disabled_reason = $5, \
         secret = $6, previous_secret = $7, previous_secret_expires_at = $8, failure_streak = $9, failing_since = $10, \
         version = version + 1, updated_at = $11 WHERE tenant_id = $12 AND id = $13 AND version = $14",
    )
    .bind(&e.url)
    .bind(e.description.clone())
    .bind(serde_json::Value::from(e.event_types.clone()).to_string())
    .bind(i64::from(e.enabled))
    .bind(e.disabled_reason.clone())
    .bind(secret)
    .bind(previous)
    .bind(e.previous_secret_expires_at.map(format_instant))
    .bind(e.failure_streak)
    .bind(e.failing_since.map(format_instant))
    .bind(format_instant(now))
    .bind(e.tenant_id.to_string())
    .bind(e.id.to_string())
    .bind(expected_version)
    .execute(tx.conn())
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_endpoint(
    conn: &mut Conn,
    keys: &KeyRing,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<EndpointRecord>, StoreError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(|r| endpoint_from_row(r, keys)).transpose()
}

pub async fn list_endpoints(db: &Db, tenant: TenantId) -> Result<Vec<EndpointRecord>, StoreError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id LIMIT 500"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter()
        .map(|r| endpoint_from_row(r, db.keys()))
        .collect()
}

/// Deletes an endpoint with its messages and their attempts.
pub async fn delete_endpoint(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let (t, i) = (tenant.to_string(), id.to_string());
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM outbox WHERE tenant_id = $1 AND endpoint_id = $2)",
    )
    .bind(&t)
    .bind(&i)
    .execute(&mut *conn)
    .await
    .store()?;
    sqlx::query("DELETE FROM outbox WHERE tenant_id = $1 AND endpoint_id = $2")
        .bind(&t)
        .bind(&i)
        .execute(&mut *conn)
        .await
        .store()?;
    let done = sqlx::query(
        "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND version = $3",
    )
    .bind(&t)
    .bind(&i)
    .bind(expected_version)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Writes outbox rows for emitted events (at commit, inside the transaction). Returns how
/// many messages were queued.
pub(crate) async fn enqueue(
    conn: &mut Conn,
    keys: &KeyRing,
    events: &[Emitted],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut tenants: Vec<TenantId> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort();
    tenants.dedup();
    let mut queued = 0;
    for tenant in tenants {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND enabled = 1"
        );
        let endpoints = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .fetch_all(&mut *conn)
            .await
            .store()?
            .iter()
            .map(|r| endpoint_from_row(r, keys))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            continue;
        }
        for event in events.iter().filter(|e| e.tenant_id == tenant) {
            let message_id = Uuid::now_v7();
            let payload = serde_json::json!({
                "type": event.event_type,
                "timestamp": format_instant(now),
                "data": event.data,
            })
            .to_string();
            for endpoint in &endpoints {
                let wanted = match event.only_endpoint {
                    Some(only) => only == endpoint.id,
                    None => endpoint.subscribes(&event.event_type),
                };
                if !wanted {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO outbox (id, tenant_id, endpoint_id, message_id, event_type, payload, status, attempts, \
                     next_attempt_at, locked_until, last_error, created_at, delivered_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, NULL, $7, NULL)",
                )
                .bind(Uuid::now_v7().to_string())
                .bind(tenant.to_string())
                .bind(endpoint.id.to_string())
                .bind(message_id.to_string())
                .bind(&event.event_type)
                .bind(&payload)
                .bind(format_instant(now))
                .execute(&mut *conn)
                .await
                .store()?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// A message claimed for delivery, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub endpoint_id: Uuid,
    pub message_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub locked_until: DateTime<Utc>,
}

/// Claims up to `limit` due messages for `lease`: each is claimed by one worker at a time
/// (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer). A message whose worker
/// died is claimed again when its lease has passed.
/// Claims due messages; returns them and how many unreadable ones were set aside (`dead`).
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u32,
) -> Result<(Vec<Claimed>, usize), StoreError> {
    let skip = if db.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let until = now + lease;
    let sql = format!(
        "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at LIMIT $3{skip}) \
         RETURNING id, tenant_id, endpoint_id, message_id, event_type, payload, attempts, locked_until"
    );
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(until))
        .bind(format_instant(now))
        .bind(i64::from(limit))
        .fetch_all(tx.conn())
        .await
        .store()?;
    let claimed = crate::readable_rows(
        tx.conn(),
        &rows,
        |r| {
            Ok(Claimed {
                id: r.uuid("id")?,
                tenant_id: TenantId(r.uuid("tenant_id")?),
                endpoint_id: r.uuid("endpoint_id")?,
                message_id: r.uuid("message_id")?,
                event_type: r.text("event_type")?,
                payload: r.text("payload")?,
                attempts: r.int("attempts")?,
                locked_until: r.instant("locked_until")?,
            })
        },
        "UPDATE outbox SET status = 'dead', locked_until = NULL, last_error = $2 WHERE id = $1",
    )
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// One delivery attempt, for the log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
}

/// What to do with a message after an attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered,
    Retry { at: DateTime<Utc> },
    Dead,
}

/// Records attempts and their outcomes in one transaction, for the messages this worker
/// still holds the lease of. Returns, per message, false when the lease was lost (another
/// worker owns the message now).
pub async fn finish_all(
    db: &Db,
    results: &[(Claimed, Attempt, Outcome)],
) -> Result<Vec<bool>, StoreError> {
    let mut tx = db.begin_write().await?;
    let mut kept = Vec::with_capacity(results.len());
    for (claimed, attempt, outcome) in results {
        kept.push(finish_one(tx.conn(), claimed, attempt, outcome).await?);
    }
    tx.commit().await?;
    Ok(kept)
}

async fn finish_one(
    conn: &mut Conn,
    claimed: &Claimed,
    attempt: &Attempt,
    outcome: &Outcome,
) -> Result<bool, StoreError> {
    let (status, next, delivered) = match outcome {
        Outcome::Delivered => ("delivered", attempt.at, Some(attempt.at)),
        Outcome::Retry { at } => ("pending", *at, None),
        Outcome::Dead => ("dead", attempt.at, None),
    };
    let done = sqlx::query(
        "UPDATE outbox SET status = $1, next_attempt_at = $2, delivered_at = $3, last_error = $4, locked_until = NULL \
         WHERE id = $5 AND locked_until = $6 AND status = 'pending'",
    )
    .bind(status)
    .bind(format_instant(next))
    .bind(delivered.map(format_instant))
    .bind(attempt.error.clone())
    .bind(claimed.id.to_string())
    .bind(format_instant(claimed.locked_until))
    .execute(&mut *conn)
    .await
    .store()?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (id, outbox_id, tenant_id, attempted_at, status_code, latency_ms, error, response_snippet) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(claimed.id.to_string())
    .bind(claimed.tenant_id.to_string())
    .bind(format_instant(attempt.at))
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(attempt.error.clone())
    .bind(attempt.response_snippet.clone())
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(true)
}

/// Records the endpoint's failure streak after an attempt, inside the caller's transaction
/// (so that disabling it and announcing that commit together); disables it (with the
/// reason) when `disable` says so. Returns the endpoint after the change.
pub async fn record_endpoint_result(
    tx: &mut WriteTx,
    keys: &KeyRing,
    tenant: TenantId,
    endpoint: Uuid,
    success: bool,
    now: DateTime<Utc>,
    disable: impl Fn(&EndpointRecord) -> Option<String>,
) -> Result<Option<EndpointRecord>, StoreError> {
    let Some(mut e) = get_endpoint(tx.conn(), keys, tenant, endpoint).await? else {
        return Ok(None);
    };
    if success {
        if e.failure_streak == 0 {
            return Ok(Some(e));
        }
        e.failure_streak = 0;
        e.failing_since = None;
    } else {
        e.failure_streak += 1;
        e.failing_since.get_or_insert(now);
        if e.enabled
            && let Some(reason) = disable(&e)
        {
            e.enabled = false;
            e.disabled_reason = Some(reason);
        }
    }
    sqlx::query(
        "UPDATE webhook_endpoints SET failure_streak = $1, failing_since = $2, enabled = $3, disabled_reason = $4 \
         WHERE tenant_id = $5 AND id = $6",
    )
    .bind(e.failure_streak)
    .bind(e.failing_since.map(format_instant))
    .bind(i64::from(e.enabled))
    .bind(e.disabled_reason.clone())
    .bind(tenant.to_string())
    .bind(endpoint.to_string())
    .execute(tx.conn())
    .await
    .store()?;
    Ok(Some(e))
}

/// Gives claimed messages back without counting the attempt (their endpoint could not be
/// read: a database error is not the endpoint's fault), to be tried again at `retry_at`.
pub async fn release(
    db: &Db,
    claimed: &[Claimed],
    retry_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    for c in claimed {
        sqlx::query(
            "UPDATE outbox SET locked_until = NULL, attempts = attempts - 1, next_attempt_at = $3 \
             WHERE id = $1 AND locked_until = $2 AND status = 'pending' AND attempts > 0",
        )
        .bind(c.id.to_string())
        .bind(format_instant(c.locked_until))
        .bind(format_instant(retry_at))
        .execute(tx.conn())
        .await
        .store()?;
    }
    tx.commit().await
}

/// A delivery as listed.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub message_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, message_id, event_type, payload, status, attempts, next_attempt_at, \
    last_error, created_at, delivered_at";

fn delivery_from_row(r: &AnyRow) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.uuid("id")?,
        endpoint_id: r.uuid("endpoint_id")?,
        message_id: r.uuid("message_id")?,
        event_type: r.text("event_type")?,
        payload: r.text("payload")?,
        status: r.text("status")?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.instant("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.instant("created_at")?,
        delivered_at: r.opt_instant("delivered_at")?,
    })
}

/// An endpoint's deliveries, newest first, before the cursor id, optionally by status.
pub async fn list_deliveries(
    db: &Db,
    tenant: TenantId,
    endpoint: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE tenant_id = $1 AND endpoint_id = $2 AND id < $3 \
         AND ($4 IS NULL OR status = $4) ORDER BY id DESC LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(before.map_or_else(|| "~".to_owned(), |b| b.to_string()))
        .bind(status.map(str::to_owned))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(delivery_from_row).collect()
}

pub async fn get_delivery(
    db: &Db,
    tenant: TenantId,
    endpoint: Uuid,
    id: Uuid,
) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(endpoint.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    let Some(row) = row else { return Ok(None) };
    let delivery = delivery_from_row(&row)?;
    let attempts = sqlx::query(
        "SELECT attempted_at, status_code, latency_ms, error, response_snippet FROM webhook_attempts \
         WHERE outbox_id = $1 ORDER BY attempted_at, id",
    )
    .bind(id.to_string())
    .fetch_all(db.pool())
    .await
    .store()?
    .iter()
    .map(|r| {
        Ok(Attempt {
            at: r.instant("attempted_at")?,
            status_code: r.opt_int("status_code")?,
            latency_ms: r.int("latency_ms")?,
            error: r.opt_text("error")?,
            response_snippet: r.opt_text("response_snippet")?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some((delivery, attempts)))
}

/// Queues a delivery again (same message id): for dead messages or a manual resend.
pub async fn redeliver(
    db: &Db,
    tenant: TenantId,
    endpoint: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $1, locked_until = NULL, attempts = 0 \
         WHERE tenant_id = $2 AND endpoint_id = $3 AND id = $4 AND (status <> 'pending' OR locked_until IS NULL)",
    )
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(endpoint.to_string())
    .bind(id.to_string())
    .execute(tx.conn())
    .await
    .store()?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Queue figures for `/metrics`: pending messages and the age of the oldest due one.
pub async fn queue_stats(db: &Db, now: DateTime<Utc>) -> Result<(i64, f64), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(next_attempt_at) AS oldest FROM outbox WHERE status = 'pending'",
    )
    .fetch_one(db.pool())
    .await
    .store()?;
    let n = row.int("n")?;
    let age = match row.opt_text("oldest")? {
        Some(t) => {
            let oldest = crate::parse_instant("next_attempt_at", &t)?;
            ((now - oldest).num_milliseconds().max(0) as f64) / 1000.0
        }
        None => 0.0,
    };
    Ok((n, age))
}
