//! Reads the history of a process version's orders for the analytics accumulator: the
//! orders first (by the version/creation index), then their events in chunks of orders, each
//! chunk one indexed query in (order, seq) order — no sort over the whole table, and the
//! caller can compute a chunk while the next is read.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use workorders_domain::analytics::{OrderEventKind, OrderHistory, StepEventKind};
use workorders_domain::{ProcessVersionId, TenantId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Db, StoreError, format_instant};

/// The history types analytics reads.
const TYPES: &str = "'step.activated', 'step.started', 'step.completed', 'step.skipped', 'step.reopened', \
    'work_order.completed', 'work_order.closed', 'work_order.cancelled'";

/// Orders per events query.
pub const CHUNK: usize = 200;

/// The orders of `version` created in `[from, to)`, with their creation instants.
pub async fn version_orders(
    db: &Db,
    tenant: TenantId,
    version: ProcessVersionId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(WorkOrderId, DateTime<Utc>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, created_at FROM work_orders WHERE tenant_id = $1 AND process_version_id = $2 \
         AND created_at >= $3 AND created_at < $4 ORDER BY id",
    )
    .bind(tenant.to_string())
    .bind(version.to_string())
    .bind(format_instant(from))
    .bind(format_instant(to))
    .fetch_all(db.pool())
    .await
    .store()?;
    rows.iter()
        .map(|r| Ok((WorkOrderId(r.uuid("id")?), r.instant("created_at")?)))
        .collect()
}

/// What analytics needs of an event's data (the rest is not parsed).
#[derive(Deserialize)]
struct EventData {
    step_key: Option<String>,
    due_at: Option<DateTime<Utc>>,
}

/// The histories of `orders` (at most [`CHUNK`] per call is sensible), in the given order;
/// an order without any analytics event gets an empty history.
pub async fn histories(
    db: &Db,
    tenant: TenantId,
    orders: &[(WorkOrderId, DateTime<Utc>)],
) -> Result<Vec<OrderHistory>, StoreError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT work_order_id, type, at, data FROM work_order_events \
         WHERE tenant_id = $1 AND work_order_id IN ({}) AND type IN ({TYPES}) ORDER BY work_order_id, seq",
        crate::in_list(2, orders.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
    for (id, _) in orders {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(db.pool()).await.store()?;
    let mut by_order: std::collections::HashMap<WorkOrderId, OrderHistory> = orders
        .iter()
        .map(|(id, created)| {
            (
                *id,
                OrderHistory {
                    order_id: id.0,
                    created_at: *created,
                    order_events: Vec::new(),
                    step_events: Vec::new(),
                },
            )
        })
        .collect();
    for row in &rows {
        let id = WorkOrderId(row.uuid("work_order_id")?);
        let Some(history) = by_order.get_mut(&id) else {
            continue;
        };
        let at = row.instant("at")?;
        let kind = row.text("type")?;
        let data: EventData =
            serde_json::from_str(&row.text("data")?).map_err(|e| StoreError::Corrupt {
                column: "data",
                detail: e.to_string(),
            })?;
        let key = data.step_key.unwrap_or_default();
        let step = match kind.as_str() {
            "step.activated" => Some(StepEventKind::Activated {
                due_at: data.due_at,
            }),
            "step.started" => Some(StepEventKind::Started),
            "step.completed" => Some(StepEventKind::Completed),
            "step.skipped" => Some(StepEventKind::Skipped),
            "step.reopened" => Some(StepEventKind::Reopened),
            _ => None,
        };
        if let Some(step) = step {
            history.step_events.push((at, key, step));
            continue;
        }
        let order = match kind.as_str() {
            "work_order.completed" => Some(OrderEventKind::Completed),
            "work_order.closed" => Some(OrderEventKind::Closed),
            "work_order.cancelled" => Some(OrderEventKind::Cancelled),
            _ => None,
        };
        if let Some(order) = order {
            history.order_events.push((at, order));
        }
    }
    Ok(orders
        .iter()
        .filter_map(|(id, _)| by_order.remove(id))
        .collect())
}
