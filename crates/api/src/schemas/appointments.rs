//! Appointments in answers, shared by the appointment, dispatch and sync routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_persistence::appointments::AppointmentRecord;

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub step_id: Option<Uuid>,
    pub assignee_ids: Vec<Uuid>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `scheduled`, `confirmed`, `en_route`, `on_site`, `done`, `no_show`, `cancelled`.
    #[schema(example = "scheduled")]
    pub status: String,
    pub notes: Option<String>,
    #[schema(example = json!(["confirm", "depart", "arrive", "no_show", "cancel"]))]
    pub allowed_actions: Vec<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AppointmentRecord> for AppointmentView {
    fn from(a: AppointmentRecord) -> Self {
        Self {
            id: a.id.as_uuid(),
            work_order_id: a.work_order_id.as_uuid(),
            step_id: a.step_id.map(|s| s.as_uuid()),
            assignee_ids: a.assignees.iter().map(|u| u.as_uuid()).collect(),
            start: a.start,
            end: a.end,
            status: a.status.as_str().to_owned(),
            notes: a.notes,
            allowed_actions: a
                .status
                .allowed_actions()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}
