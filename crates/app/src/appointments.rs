//! Appointments: what their changes leave in the order's history.

use uuid::Uuid;
use workorders_persistence::WriteTx;
use workorders_persistence::appointments::AppointmentRecord;
use workorders_persistence::work_orders::{self, NewEvent};

use crate::error::AppResult;
use crate::identity::Principal;
use crate::workflow::actor_of;

/// Records an appointment change in its order's history.
pub async fn record_history(
    tx: &mut WriteTx,
    principal: &Principal,
    a: &AppointmentRecord,
    event_type: &str,
    extra: serde_json::Value,
) -> AppResult<()> {
    let mut data = serde_json::json!({
        "appointment_id": a.id, "start": a.start, "end": a.end,
        "assignee_ids": a.assignees, "status": a.status.as_str(),
    });
    if let (Some(map), Some(more)) = (data.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    let entry = NewEvent {
        event_type: event_type.to_owned(),
        data,
    };
    work_orders::append_events(
        tx,
        a.tenant_id,
        a.work_order_id,
        Uuid::now_v7(),
        &actor_of(principal),
        a.updated_at,
        &[entry],
    )
    .await?;
    Ok(())
}
