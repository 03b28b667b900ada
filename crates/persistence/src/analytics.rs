//! Feeds the history of a process version's orders into the analytics accumulator, streamed
//! row by row (a busy year is about a million step events).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use workorders_domain::analytics::{Accumulator, OrderEventKind, OrderHistory, StepEventKind};
use workorders_domain::{ProcessVersionId, TenantId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Db, StoreError, format_instant};

/// The history types analytics reads.
const TYPES: &str = "'step.activated', 'step.started', 'step.completed', 'step.skipped', 'step.reopened', \
    'work_order.completed', 'work_order.closed', 'work_order.cancelled'";

/// Adds every order of `version` created in `[from, to)` to `acc`; returns how many.
pub async fn feed_version(
    db: &Db,
    tenant: TenantId,
    version: ProcessVersionId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    acc: &mut Accumulator,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT e.work_order_id, o.created_at AS order_created_at, e.type, e.at, e.data \
         FROM work_orders o JOIN work_order_events e ON e.work_order_id = o.id \
         WHERE o.tenant_id = $1 AND o.process_version_id = $2 AND o.created_at >= $3 AND o.created_at < $4 \
         AND e.type IN ({TYPES}) ORDER BY e.work_order_id, e.seq"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(version.to_string())
        .bind(format_instant(from))
        .bind(format_instant(to))
        .fetch(db.pool());
    let mut current: Option<OrderHistory> = None;
    let mut orders = 0u64;
    while let Some(row) = rows.try_next().await.store()? {
        let order_id = row.uuid("work_order_id")?;
        if current.as_ref().is_none_or(|h| h.order_id != order_id) {
            if let Some(done) = current.take() {
                acc.add(&done);
                orders += 1;
            }
            current = Some(OrderHistory {
                order_id,
                created_at: row.instant("order_created_at")?,
                order_events: Vec::new(),
                step_events: Vec::new(),
            });
        }
        let Some(history) = current.as_mut() else {
            continue;
        };
        let at = row.instant("at")?;
        let kind = row.text("type")?;
        let data: serde_json::Value =
            serde_json::from_str(&row.text("data")?).map_err(|e| StoreError::Corrupt {
                column: "data",
                detail: e.to_string(),
            })?;
        let key = || {
            data.get("step_key")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let step = |kind: StepEventKind| (at, key(), kind);
        match kind.as_str() {
            "step.activated" => {
                let due_at = data
                    .get("due_at")
                    .and_then(|d| d.as_str())
                    .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
                    .map(|d| d.with_timezone(&Utc));
                history
                    .step_events
                    .push(step(StepEventKind::Activated { due_at }));
            }
            "step.started" => history.step_events.push(step(StepEventKind::Started)),
            "step.completed" => history.step_events.push(step(StepEventKind::Completed)),
            "step.skipped" => history.step_events.push(step(StepEventKind::Skipped)),
            "step.reopened" => history.step_events.push(step(StepEventKind::Reopened)),
            "work_order.completed" => history.order_events.push((at, OrderEventKind::Completed)),
            "work_order.closed" => history.order_events.push((at, OrderEventKind::Closed)),
            "work_order.cancelled" => history.order_events.push((at, OrderEventKind::Cancelled)),
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        acc.add(&done);
        orders += 1;
    }
    Ok(orders)
}
