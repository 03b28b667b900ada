//! Work orders: the order row, its step rows (together the aggregate), the append-only
//! history, participants, and the queries behind lists and "my work".

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::process::{Evidence, StepDefinition};
use workorders_domain::work_order::{Channel, OrderStatus, Priority, Step, StepStatus, WorkOrder};
use workorders_domain::{
    AttachmentId, CustomerId, ProcessId, ProcessVersionId, SiteId, StepId, TenantId, UserId,
    WorkOrderId,
};

use crate::customers::like_pattern;
use crate::error::ResultExt;
use crate::processes::to_json;
use crate::row::RowExt;
use crate::{Backend, Conn, Db, StoreError, WriteTx, format_instant};

/// Who did something: `user`, `api_key`, `customer` or `system`, with an id where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorRef {
    pub kind: String,
    pub id: Option<String>,
}

impl ActorRef {
    pub fn system() -> Self {
        Self {
            kind: "system".to_owned(),
            id: None,
        }
    }
}

/// A stored work order: descriptive fields plus the aggregate the state machines govern.
#[derive(Debug, Clone)]
pub struct WorkOrderRecord {
    pub tenant_id: TenantId,
    pub number: String,
    pub process_id: ProcessId,
    pub process_version_id: ProcessVersionId,
    pub customer_id: CustomerId,
    pub site_id: SiteId,
    pub channel: Channel,
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub requested_start: Option<DateTime<Utc>>,
    pub requested_end: Option<DateTime<Utc>>,
    pub created_by: ActorRef,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub order: WorkOrder,
}

const ORDER_COLUMNS: &str = "id, tenant_id, number, process_id, process_version_id, customer_id, site_id, channel, \
     title, description, priority, requested_start, requested_end, status, held_from, cancel_reason, needs_attention, \
     created_by_type, created_by_id, version, created_at, updated_at, completed_at";
const STEP_COLUMNS: &str = "id, work_order_id, position, stage, key, definition, status, responsible_id, planned_id, checked, \
     evidence, rework_count, activated_at, due_at, started_at, finished_at, skip_reason";

fn bad(column: &'static str) -> impl Fn(String) -> StoreError {
    move |detail| StoreError::Corrupt { column, detail }
}

fn order_from_row(row: &AnyRow, steps: Vec<Step>) -> Result<WorkOrderRecord, StoreError> {
    let status = row.text("status")?;
    let held_from = row.opt_text("held_from")?;
    Ok(WorkOrderRecord {
        tenant_id: TenantId(row.uuid("tenant_id")?),
        number: row.text("number")?,
        process_id: ProcessId(row.uuid("process_id")?),
        process_version_id: ProcessVersionId(row.uuid("process_version_id")?),
        customer_id: CustomerId(row.uuid("customer_id")?),
        site_id: SiteId(row.uuid("site_id")?),
        channel: row.parsed("channel", |t| Channel::parse(t).ok_or("unknown channel"))?,
        title: row.text("title")?,
        description: row.opt_text("description")?,
        priority: row.parsed("priority", |t| Priority::parse(t).ok_or("unknown priority"))?,
        requested_start: row.opt_instant("requested_start")?,
        requested_end: row.opt_instant("requested_end")?,
        created_by: ActorRef {
            kind: row.text("created_by_type")?,
            id: row.opt_text("created_by_id")?,
        },
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
        order: WorkOrder {
            id: WorkOrderId(row.uuid("id")?),
            status: OrderStatus::parse(&status).ok_or_else(|| bad("status")(status.clone()))?,
            held_from: held_from
                .map(|h| OrderStatus::parse(&h).ok_or_else(|| bad("held_from")(h.clone())))
                .transpose()?,
            steps,
            needs_attention: row.int("needs_attention")? != 0,
            cancel_reason: row.opt_text("cancel_reason")?,
            completed_at: row.opt_instant("completed_at")?,
        },
    })
}

fn step_from_row(row: &AnyRow) -> Result<(WorkOrderId, Step), StoreError> {
    let status = row.text("status")?;
    let evidence: Vec<(Evidence, AttachmentId)> =
        row.parsed("evidence", |t| serde_json::from_str(t))?;
    let checked: BTreeSet<String> = row.parsed("checked", |t| serde_json::from_str(t))?;
    let step = Step {
        id: StepId(row.uuid("id")?),
        position: u32::try_from(row.int("position")?)
            .map_err(|e| bad("position")(e.to_string()))?,
        stage: u32::try_from(row.int("stage")?).map_err(|e| bad("stage")(e.to_string()))?,
        definition: row.parsed("definition", |t| serde_json::from_str::<StepDefinition>(t))?,
        status: StepStatus::parse(&status).ok_or_else(|| bad("status")(status.clone()))?,
        responsible: row
            .opt_text("responsible_id")?
            .map(|t| t.parse().map_err(|_| bad("responsible_id")(t)))
            .transpose()?,
        planned: row
            .opt_text("planned_id")?
            .map(|t| t.parse().map_err(|_| bad("planned_id")(t)))
            .transpose()?,
        checked,
        evidence,
        rework_count: u32::try_from(row.int("rework_count")?)
            .map_err(|e| bad("rework_count")(e.to_string()))?,
        activated_at: row.opt_instant("activated_at")?,
        due_at: row.opt_instant("due_at")?,
        started_at: row.opt_instant("started_at")?,
        finished_at: row.opt_instant("finished_at")?,
        skip_reason: row.opt_text("skip_reason")?,
    };
    Ok((WorkOrderId(row.uuid("work_order_id")?), step))
}

fn search_text(r: &WorkOrderRecord) -> String {
    format!(
        "{} {} {}",
        r.number,
        r.title,
        r.description.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// Inserts a new order with its steps.
pub async fn insert(tx: &mut WriteTx, r: &WorkOrderRecord) -> Result<(), StoreError> {
    tx.touch_order(r.tenant_id, r.order.id);
    let conn = tx.conn();
    sqlx::query(
        "INSERT INTO work_orders (id, tenant_id, number, process_id, process_version_id, customer_id, site_id, channel, \
         title, description, priority, requested_start, requested_end, status, held_from, cancel_reason, needs_attention, \
         search_text, created_by_type, created_by_id, version, created_at, updated_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1, $21, $21, $22)",
    )
    .bind(r.order.id.to_string())
    .bind(r.tenant_id.to_string())
    .bind(&r.number)
    .bind(r.process_id.to_string())
    .bind(r.process_version_id.to_string())
    .bind(r.customer_id.to_string())
    .bind(r.site_id.to_string())
    .bind(r.channel.as_str())
    .bind(&r.title)
    .bind(r.description.clone())
    .bind(r.priority.as_str())
    .bind(r.requested_start.map(format_instant))
    .bind(r.requested_end.map(format_instant))
    .bind(r.order.status.as_str())
    .bind(r.order.held_from.map(|h| h.as_str()))
    .bind(r.order.cancel_reason.clone())
    .bind(i64::from(r.order.needs_attention))
    .bind(search_text(r))
    .bind(&r.created_by.kind)
    .bind(r.created_by.id.clone())
    .bind(format_instant(r.created_at))
    .bind(r.order.completed_at.map(format_instant))
    .execute(&mut *conn)
    .await
    .store()?;
    for step in &r.order.steps {
        sqlx::query(
            "INSERT INTO work_order_steps (id, tenant_id, work_order_id, position, stage, key, definition, status, \
             responsible_id, checked, evidence, rework_count, activated_at, due_at, started_at, finished_at, skip_reason, planned_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(step.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.order.id.to_string())
        .bind(i64::from(step.position))
        .bind(i64::from(step.stage))
        .bind(&step.definition.key)
        .bind(to_json("definition", &step.definition)?)
        .bind(step.status.as_str())
        .bind(step.responsible.map(|u| u.to_string()))
        .bind(to_json("checked", &step.checked)?)
        .bind(to_json("evidence", &step.evidence)?)
        .bind(i64::from(step.rework_count))
        .bind(step.activated_at.map(format_instant))
        .bind(step.due_at.map(format_instant))
        .bind(step.started_at.map(format_instant))
        .bind(step.finished_at.map(format_instant))
        .bind(step.skip_reason.clone())
        .bind(step.planned.map(|u| u.to_string()))
        .execute(&mut *conn)
        .await
        .store()?;
    }
    apply_load_delta(conn, r.tenant_id, &HashMap::new(), &record_counts(r)).await
}

async fn steps_of(
    conn: &mut Conn,
    tenant: TenantId,
    orders: &[WorkOrderId],
) -> Result<HashMap<WorkOrderId, Vec<Step>>, StoreError> {
    let mut result: HashMap<WorkOrderId, Vec<Step>> = HashMap::new();
    for chunk in orders.chunks(100) {
        let placeholders = crate::in_list(2, chunk.len());
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM work_order_steps WHERE tenant_id = $1 AND work_order_id IN ({}) ORDER BY work_order_id, position",
            placeholders
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            let (order, step) = step_from_row(&row)?;
            result.entry(order).or_default().push(step);
        }
    }
    Ok(result)
}

async fn assemble(
    conn: &mut Conn,
    tenant: TenantId,
    rows: Vec<AnyRow>,
) -> Result<Vec<WorkOrderRecord>, StoreError> {
    let ids = rows
        .iter()
        .map(|r| r.uuid("id").map(WorkOrderId))
        .collect::<Result<Vec<_>, _>>()?;
    let mut steps = steps_of(conn, tenant, &ids).await?;
    rows.iter()
        .zip(ids)
        .map(|(row, id)| order_from_row(row, steps.remove(&id).unwrap_or_default()))
        .collect()
}

/// Loads an order for a command inside a write transaction; on PostgreSQL the order row is
/// locked until the transaction ends, so commands on one order are serialised.
pub async fn load_for_update(
    conn: &mut Conn,
    db: &Db,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<WorkOrderRecord>, StoreError> {
    let lock = if db.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql =
        format!("SELECT {ORDER_COLUMNS} FROM work_orders WHERE tenant_id = $1 AND id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(assemble(conn, tenant, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// An order's status inside a write transaction, the order row locked as by
/// `load_for_update` (without loading its steps).
pub async fn lock_status(
    conn: &mut Conn,
    db: &Db,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<OrderStatus>, StoreError> {
    let lock = if db.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT status FROM work_orders WHERE tenant_id = $1 AND id = $2{lock}");
    let status: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    status
        .map(|s| OrderStatus::parse(&s).ok_or_else(|| bad("status")(s.clone())))
        .transpose()
}

pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<WorkOrderRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    get_in(&mut conn, tenant, id).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn get_in(
    conn: &mut Conn,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<WorkOrderRecord>, StoreError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM work_orders WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(assemble(conn, tenant, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Several orders by id (missing ones left out), in no particular order.
pub async fn get_many(
    db: &Db,
    tenant: TenantId,
    ids: &[WorkOrderId],
) -> Result<Vec<WorkOrderRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(100) {
        let placeholders = crate::in_list(2, chunk.len());
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM work_orders WHERE tenant_id = $1 AND id IN ({})",
            placeholders
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&mut *conn).await.store()?;
        records.extend(assemble(&mut conn, tenant, rows).await?);
    }
    Ok(records)
}

/// Writes the order and all its steps back if the stored version is `expected_version`.
/// Returns false when someone else changed the order in between.
pub async fn save(
    tx: &mut WriteTx,
    r: &WorkOrderRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    tx.touch_order(r.tenant_id, r.order.id);
    let conn = tx.conn();
    let before = stored_counts(conn, r.order.id).await?;
    let done = sqlx::query(
        "UPDATE work_orders SET title = $1, description = $2, priority = $3, requested_start = $4, requested_end = $5, \
         status = $6, held_from = $7, cancel_reason = $8, needs_attention = $9, completed_at = $10, search_text = $11, \
         version = version + 1, updated_at = $12 WHERE tenant_id = $13 AND id = $14 AND version = $15",
    )
    .bind(&r.title)
    .bind(r.description.clone())
    .bind(r.priority.as_str())
    .bind(r.requested_start.map(format_instant))
    .bind(r.requested_end.map(format_instant))
    .bind(r.order.status.as_str())
    .bind(r.order.held_from.map(|h| h.as_str()))
    .bind(r.order.cancel_reason.clone())
    .bind(i64::from(r.order.needs_attention))
    .bind(r.order.completed_at.map(format_instant))
    .bind(search_text(r))
    .bind(format_instant(now))
    .bind(r.tenant_id.to_string())
    .bind(r.order.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await
    .store()?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    for step in &r.order.steps {
        sqlx::query(
            "UPDATE work_order_steps SET status = $1, responsible_id = $2, checked = $3, evidence = $4, rework_count = $5, \
             activated_at = $6, due_at = $7, started_at = $8, finished_at = $9, skip_reason = $10, planned_id = $13 \
             WHERE tenant_id = $11 AND id = $12",
        )
        .bind(step.status.as_str())
        .bind(step.responsible.map(|u| u.to_string()))
        .bind(to_json("checked", &step.checked)?)
        .bind(to_json("evidence", &step.evidence)?)
        .bind(i64::from(step.rework_count))
        .bind(step.activated_at.map(format_instant))
        .bind(step.due_at.map(format_instant))
        .bind(step.started_at.map(format_instant))
        .bind(step.finished_at.map(format_instant))
        .bind(step.skip_reason.clone())
        .bind(r.tenant_id.to_string())
        .bind(step.id.to_string())
        .bind(step.planned.map(|u| u.to_string()))
        .execute(&mut *conn)
        .await
        .store()?;
    }
    apply_load_delta(conn, r.tenant_id, &before, &record_counts(r)).await?;
    Ok(true)
}

/// Records everyone who holds a step of the order now (technicians keep seeing the order).
pub async fn add_participants(conn: &mut Conn, r: &WorkOrderRecord) -> Result<(), StoreError> {
    let users: BTreeSet<UserId> = r.order.steps.iter().filter_map(|s| s.responsible).collect();
    for user in users {
        sqlx::query("INSERT INTO work_order_participants (work_order_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(r.order.id.to_string())
            .bind(user.to_string())
            .execute(&mut *conn)
            .await
            .store()?;
    }
    Ok(())
}

/// One history entry to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub data: serde_json::Value,
}

/// Appends events to the order's history, numbered after the existing ones.
pub async fn append_events(
    tx: &mut WriteTx,
    tenant: TenantId,
    order: WorkOrderId,
    command_id: uuid::Uuid,
    actor: &ActorRef,
    at: DateTime<Utc>,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    for event in events {
        for webhook_type in crate::webhooks::webhook_types(&event.event_type, &event.data) {
            let mut data = serde_json::json!({ "work_order_id": order });
            if let (Some(map), Some(more)) = (data.as_object_mut(), event.data.as_object()) {
                map.extend(more.clone());
            }
            if webhook_type == "work_order.status_changed" {
                data["change"] = serde_json::Value::from(event.event_type.clone());
            }
            tx.emit(tenant, webhook_type, data);
        }
    }
    let conn = tx.conn();
    let last: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) FROM work_order_events WHERE work_order_id = $1",
    )
    .bind(order.to_string())
    .fetch_one(&mut *conn)
    .await
    .store()?;
    for (i, event) in events.iter().enumerate() {
        let seq = last + i64::try_from(i).unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO work_order_events (id, tenant_id, work_order_id, seq, command_id, type, actor_type, actor_id, at, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tenant.to_string())
        .bind(order.to_string())
        .bind(seq)
        .bind(command_id.to_string())
        .bind(&event.event_type)
        .bind(&actor.kind)
        .bind(actor.id.clone())
        .bind(format_instant(at))
        .bind(event.data.to_string())
        .execute(&mut *conn)
        .await
        .store()?;
    }
    Ok(())
}

/// A history entry.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: uuid::Uuid,
    pub seq: i64,
    pub command_id: uuid::Uuid,
    pub event_type: String,
    pub actor: ActorRef,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// History of an order in order of occurrence, after `after_seq`.
pub async fn history(
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, seq, command_id, type, actor_type, actor_id, at, data FROM work_order_events \
         WHERE tenant_id = $1 AND work_order_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
    )
    .bind(tenant.to_string())
    .bind(order.to_string())
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|row| {
            Ok(EventRecord {
                id: row.uuid("id")?,
                seq: row.int("seq")?,
                command_id: row.uuid("command_id")?,
                event_type: row.text("type")?,
                actor: ActorRef {
                    kind: row.text("actor_type")?,
                    id: row.opt_text("actor_id")?,
                },
                at: row.instant("at")?,
                data: row.parsed("data", |t| serde_json::from_str::<serde_json::Value>(t))?,
            })
        })
        .collect()
}

/// Filters for listing orders.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub process_id: Option<ProcessId>,
    pub customer_id: Option<CustomerId>,
    /// Orders where this user holds an open step.
    pub responsible: Option<UserId>,
    pub channel: Option<Channel>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    /// Only orders with an open step past its due time (at `now`).
    pub overdue_at: Option<DateTime<Utc>>,
    pub needs_attention: Option<bool>,
    /// Free text over number, title, description and the customer's name.
    pub q: Option<String>,
    /// Restrict to orders this user holds or held a step of (technicians).
    pub participant: Option<UserId>,
    /// Newest first.
    pub descending: bool,
}

pub async fn list(
    db: &Db,
    tenant: TenantId,
    f: &OrderFilter,
    after: Option<WorkOrderId>,
    limit: u32,
) -> Result<Vec<WorkOrderRecord>, StoreError> {
    let (cmp, order) = if f.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let after = match (after, f.descending) {
        (Some(a), _) => a.to_string(),
        (None, false) => String::new(),
        (None, true) => "~".to_owned(),
    };
    let columns = ORDER_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM work_orders o \
         WHERE o.tenant_id = $1 AND o.id {cmp} $2 \
         AND ($3 IS NULL OR o.status = $3) AND ($4 IS NULL OR o.process_id = $4) AND ($5 IS NULL OR o.customer_id = $5) \
         AND ($6 IS NULL OR EXISTS (SELECT 1 FROM work_order_steps s WHERE s.work_order_id = o.id AND s.responsible_id = $6 \
              AND s.status IN ('active', 'in_progress'))) \
         AND ($7 IS NULL OR o.channel = $7) AND ($8 IS NULL OR o.created_at >= $8) AND ($9 IS NULL OR o.created_at < $9) \
         AND ($10 IS NULL OR o.requested_end >= $10) AND ($11 IS NULL OR o.requested_end < $11) \
         AND ($12 IS NULL OR (o.status IN ('open', 'in_progress') AND EXISTS (SELECT 1 FROM work_order_steps s \
              WHERE s.work_order_id = o.id AND s.status IN ('active', 'in_progress') AND s.due_at < $12))) \
         AND ($13 IS NULL OR o.needs_attention = $13) \
         AND ($14 IS NULL OR o.search_text LIKE $14 ESCAPE '\\' OR EXISTS (SELECT 1 FROM customers c \
              WHERE c.id = o.customer_id AND c.search_text LIKE $14 ESCAPE '\\')) \
         AND ($15 IS NULL OR EXISTS (SELECT 1 FROM work_order_participants p WHERE p.work_order_id = o.id AND p.user_id = $15)) \
         ORDER BY o.id {order} LIMIT $16"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after)
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.process_id.map(|p| p.to_string()))
        .bind(f.customer_id.map(|c| c.to_string()))
        .bind(f.responsible.map(|u| u.to_string()))
        .bind(f.channel.map(|c| c.as_str()))
        .bind(f.created_from.map(format_instant))
        .bind(f.created_to.map(format_instant))
        .bind(f.due_from.map(format_instant))
        .bind(f.due_to.map(format_instant))
        .bind(f.overdue_at.map(format_instant))
        .bind(f.needs_attention.map(i64::from))
        .bind(f.q.as_deref().map(like_pattern))
        .bind(f.participant.map(|u| u.to_string()))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    let mut conn = db.pool().acquire().await.store()?;
    assemble(&mut conn, tenant, rows).await
}

/// Whether the order exists in the tenant.
pub async fn exists(db: &Db, tenant: TenantId, order: WorkOrderId) -> Result<bool, StoreError> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM work_orders WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(order.to_string())
            .fetch_optional(db.pool())
            .await
            .store()?;
    Ok(found.is_some())
}

/// Whether `user` holds or held a step of the order.
pub async fn is_participant(db: &Db, order: WorkOrderId, user: UserId) -> Result<bool, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM work_order_participants WHERE work_order_id = $1 AND user_id = $2",
    )
    .bind(order.to_string())
    .bind(user.to_string())
    .fetch_optional(db.pool())
    .await
    .store()?;
    Ok(found.is_some())
}

/// An open step of a user, for "my work".
#[derive(Debug, Clone)]
pub struct MyStep {
    pub work_order_id: WorkOrderId,
    pub number: String,
    pub title: String,
    pub order_status: OrderStatus,
    pub step: Step,
}

/// Sort key for "my work": due time, steps without one last.
pub fn due_key(due: Option<DateTime<Utc>>) -> String {
    due.map(format_instant).unwrap_or_else(|| "~".to_owned())
}

/// The user's open steps on running orders, soonest due first, after the cursor
/// `(due key, step id)`.
pub async fn my_work(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    after: Option<(String, StepId)>,
    limit: u32,
) -> Result<Vec<MyStep>, StoreError> {
    let (after_key, after_id) = after.map(|(k, id)| (k, id.to_string())).unwrap_or_default();
    let columns = STEP_COLUMNS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, o.number AS order_number, o.title AS order_title, o.status AS order_status \
         FROM work_order_steps s JOIN work_orders o ON o.id = s.work_order_id \
         WHERE s.tenant_id = $1 AND s.responsible_id = $2 AND s.status IN ('active', 'in_progress') \
         AND o.status IN ('open', 'in_progress') \
         AND (s.due_sort > $3 OR (s.due_sort = $3 AND s.id > $4)) \
         ORDER BY s.due_sort, s.id LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(after_key)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter()
        .map(|row| {
            let (work_order_id, step) = step_from_row(row)?;
            let status = row.text("order_status")?;
            Ok(MyStep {
                work_order_id,
                number: row.text("order_number")?,
                title: row.text("order_title")?,
                order_status: OrderStatus::parse(&status)
                    .ok_or_else(|| bad("order_status")(status.clone()))?,
                step,
            })
        })
        .collect()
}

/// Open steps per user on running orders (the load for assignment), from the counters that
/// `insert` and `save` keep.
pub async fn open_step_loads(
    conn: &mut Conn,
    tenant: TenantId,
) -> Result<HashMap<UserId, u32>, StoreError> {
    let rows = sqlx::query(
        "SELECT user_id, open_steps FROM user_open_steps WHERE tenant_id = $1 AND open_steps <> 0",
    )
    .bind(tenant.to_string())
    .fetch_all(conn)
    .await
    .store()?;
    let mut loads = HashMap::new();
    for row in rows {
        let user: UserId = row.parsed("user_id", |t| t.parse::<UserId>())?;
        loads.insert(
            user,
            u32::try_from(row.int("open_steps")?.max(0)).unwrap_or(u32::MAX),
        );
    }
    Ok(loads)
}

/// Open steps per holder of one order (none when the order is not running).
fn open_counts(
    order_running: bool,
    steps: impl Iterator<Item = (Option<UserId>, StepStatus)>,
) -> HashMap<UserId, i64> {
    let mut counts = HashMap::new();
    if order_running {
        for (holder, status) in steps {
            if let (Some(user), true) = (holder, status.is_open()) {
                *counts.entry(user).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn record_counts(r: &WorkOrderRecord) -> HashMap<UserId, i64> {
    open_counts(
        r.order.status.is_running(),
        r.order.steps.iter().map(|s| (s.responsible, s.status)),
    )
}

/// The counts as stored now, before an update.
async fn stored_counts(
    conn: &mut Conn,
    order: WorkOrderId,
) -> Result<HashMap<UserId, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.status AS order_status, s.responsible_id, s.status FROM work_order_steps s \
         JOIN work_orders o ON o.id = s.work_order_id WHERE s.work_order_id = $1",
    )
    .bind(order.to_string())
    .fetch_all(conn)
    .await
    .store()?;
    let running = rows
        .first()
        .map(|r| r.text("order_status"))
        .transpose()?
        .and_then(|s| OrderStatus::parse(&s))
        .is_some_and(OrderStatus::is_running);
    let mut steps = Vec::new();
    for row in &rows {
        let status = row.text("status")?;
        let holder = row.opt_text("responsible_id")?.and_then(|t| t.parse().ok());
        steps.push((
            holder,
            StepStatus::parse(&status).unwrap_or(StepStatus::Pending),
        ));
    }
    Ok(open_counts(running, steps.into_iter()))
}

/// Adds `after - before` to the holders' counters.
async fn apply_load_delta(
    conn: &mut Conn,
    tenant: TenantId,
    before: &HashMap<UserId, i64>,
    after: &HashMap<UserId, i64>,
) -> Result<(), StoreError> {
    let mut users: Vec<&UserId> = before.keys().chain(after.keys()).collect();
    users.sort();
    users.dedup();
    for user in users {
        let delta = after.get(user).copied().unwrap_or(0) - before.get(user).copied().unwrap_or(0);
        if delta == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO user_open_steps (tenant_id, user_id, open_steps) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET open_steps = user_open_steps.open_steps + $3",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(delta)
        .execute(&mut *conn)
        .await
        .store()?;
    }
    Ok(())
}

/// Orders on which the user holds an open step (for handing work over on deactivation).
pub async fn orders_with_open_steps_of(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<WorkOrderId>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT work_order_id FROM work_order_steps WHERE tenant_id = $1 AND responsible_id = $2 \
         AND status IN ('active', 'in_progress') ORDER BY work_order_id",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(conn)
    .await
    .store()?;
    ids.iter()
        .map(|t| t.parse().map_err(|_| bad("work_order_id")(t.clone())))
        .collect()
}

/// The next number of a per-tenant, per-year sequence (gap-free inside the transaction: a
/// rollback gives the number back).
pub async fn next_number(
    conn: &mut Conn,
    tenant: TenantId,
    name: &str,
    year: i32,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO number_sequences (tenant_id, name, year, last_value) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (tenant_id, name, year) DO UPDATE SET last_value = number_sequences.last_value + 1 \
         RETURNING last_value",
    )
    .bind(tenant.to_string())
    .bind(name)
    .bind(i64::from(year))
    .fetch_one(conn)
    .await
    .store()
}

/// Round-robin cursors: the user picked last per pool.
pub async fn assignment_cursors(
    conn: &mut Conn,
    tenant: TenantId,
) -> Result<HashMap<String, UserId>, StoreError> {
    let rows =
        sqlx::query("SELECT pool, last_user_id FROM assignment_cursors WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(conn)
            .await
            .store()?;
    let mut cursors = HashMap::new();
    for row in rows {
        cursors.insert(
            row.text("pool")?,
            row.parsed("last_user_id", |t| t.parse::<UserId>())?,
        );
    }
    Ok(cursors)
}

pub async fn set_assignment_cursor(
    conn: &mut Conn,
    tenant: TenantId,
    pool: &str,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO assignment_cursors (tenant_id, pool, last_user_id) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, pool) DO UPDATE SET last_user_id = $3",
    )
    .bind(tenant.to_string())
    .bind(pool)
    .bind(user.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// The sequence number of a history entry (to continue paging after it).
pub async fn event_seq(
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
    event: uuid::Uuid,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT seq FROM work_order_events WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3",
    )
    .bind(tenant.to_string())
    .bind(order.to_string())
    .bind(event.to_string())
    .fetch_optional(db.pool())
    .await
    .store()
}

/// An order's number (for documents that reference it).
pub async fn number_of(
    conn: &mut Conn,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<String>, StoreError> {
    Ok(number_and_title(conn, tenant, id).await?.map(|(n, _)| n))
}

/// An order's number and title.
pub async fn number_and_title(
    conn: &mut Conn,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<(String, String)>, StoreError> {
    let row = sqlx::query("SELECT number, title FROM work_orders WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.map(|r| Ok((r.text("number")?, r.text("title")?)))
        .transpose()
}

/// An order's number, title and customer (for notices about it).
pub async fn brief(
    conn: &mut Conn,
    tenant: TenantId,
    id: WorkOrderId,
) -> Result<Option<(String, String, CustomerId)>, StoreError> {
    let row = sqlx::query(
        "SELECT number, title, customer_id FROM work_orders WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await
    .store()?;
    row.map(|r| {
        Ok((
            r.text("number")?,
            r.text("title")?,
            CustomerId(r.uuid("customer_id")?),
        ))
    })
    .transpose()
}
