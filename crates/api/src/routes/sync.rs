//! Field sync for handhelds: pull what changed for me (cursor over the tenant's change
//! sequence, with tombstones), push what happened in the field (exactly once, in device
//! order, through the same state machines as the office API).

use std::collections::{BTreeSet, HashMap, HashSet};
use workorders_domain::text::{Line, Text};

use actix_web::{HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::auth::Permission;
use workorders_domain::process::Evidence;
use workorders_domain::work_order::{Command, CommandError, Event, OrderStatus};
use workorders_domain::{AppointmentId, AttachmentId, StepId, TenantId, UserId, WorkOrderId};
use workorders_persistence::appointments;
use workorders_persistence::sync::{self, FieldEntry, NewSyncEvent};
use workorders_persistence::work_orders::{self, WorkOrderRecord};
use workorders_persistence::{Db, WriteTx, attachments};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::ValidJson;
use crate::schemas::appointments::AppointmentView;
use crate::schemas::orders::{ViewContext, WorkOrderView};
use crate::state::AppState;
use crate::workflow::{self, DbAssigner, actor_of, authorize};
use workorders_app::appointments::record_history;

/// Most events in one push.
pub const MAX_BATCH: usize = 1000;
/// Most changes in one pull page.
pub const MAX_PULL: u32 = 200;
const DEFAULT_PULL: u32 = 50;

// ---------------------------------------------------------------------------------------
// Pull

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// `next_cursor` of the previous pull; absent for a full pull.
    pub cursor: Option<String>,
    /// Changes per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Why an order left the device.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// The order was cancelled.
    Cancelled,
    /// The order is completed, invoiced or closed: nothing left to do in the field.
    Finished,
    /// The caller holds no step and no appointment of it any more.
    Reassigned,
}

/// One change: the current state of an order the caller works on (with their appointments
/// for it), or a tombstone telling the device to drop it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SyncChange {
    Upsert {
        work_order: Box<WorkOrderView>,
        /// The caller's appointments for this order that are not cancelled.
        appointments: Vec<AppointmentView>,
    },
    Remove {
        work_order_id: Uuid,
        reason: RemovalReason,
    },
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "changes": [
        {"op": "upsert", "work_order": {"id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a61", "number": "WO-2026-00042", "status": "in_progress", "steps": []}, "appointments": []},
        {"op": "remove", "work_order_id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a62", "reason": "cancelled"}
    ],
    "next_cursor": "ZjoxMjo.MDE5MmYwYzQtOGU1YS03YzNlLTlhNTEtM2YxZDJjNGI1YTYy",
    "has_more": false
}))]
pub struct PullResponse {
    pub changes: Vec<SyncChange>,
    /// Pass it to the next pull. Always present: keep the last one received.
    pub next_cursor: String,
    /// More changes are waiting now: pull again at once.
    pub has_more: bool,
}

/// Where a pull stands: in the full snapshot (orders by id, taken against sequence `seq`),
/// or in the change feed after `(seq, order)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Snapshot { seq: i64, after: Uuid },
    Feed { seq: i64, after: Uuid },
}

impl Cursor {
    fn encode(self) -> String {
        let text = match self {
            Cursor::Snapshot { seq, after } => format!("s:{seq}:{after}"),
            Cursor::Feed { seq, after } => format!("f:{seq}:{after}"),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, ':');
        let (kind, seq, after) = (parts.next()?, parts.next()?, parts.next()?);
        let seq: i64 = seq.parse().ok().filter(|s| *s >= 0)?;
        let after: Uuid = after.parse().ok()?;
        match kind {
            "s" => Some(Cursor::Snapshot { seq, after }),
            "f" => Some(Cursor::Feed { seq, after }),
            _ => None,
        }
    }
}

/// Whether the user still works on the order, and if not, why.
fn relevance(
    record: &WorkOrderRecord,
    user: UserId,
    my_appointments: &[AppointmentView],
) -> Result<(), RemovalReason> {
    match record.order.status {
        OrderStatus::Cancelled => return Err(RemovalReason::Cancelled),
        OrderStatus::Open | OrderStatus::InProgress | OrderStatus::OnHold => {}
        _ => return Err(RemovalReason::Finished),
    }
    let holds_step = record
        .order
        .steps
        .iter()
        .any(|s| s.responsible == Some(user));
    if holds_step || !my_appointments.is_empty() {
        Ok(())
    } else {
        Err(RemovalReason::Reassigned)
    }
}

/// The changes for these orders as the user should see them now.
async fn changes_for(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    ids: &[WorkOrderId],
    include_removals: bool,
) -> ApiResult<Vec<SyncChange>> {
    // Orders are never deleted; one missing here was not visible anyway.
    let mut by_id: HashMap<WorkOrderId, WorkOrderRecord> = work_orders::get_many(db, tenant, ids)
        .await?
        .into_iter()
        .map(|r| (r.order.id, r))
        .collect();
    let records: Vec<WorkOrderRecord> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    let mut mine: HashMap<WorkOrderId, Vec<AppointmentView>> = HashMap::new();
    for a in appointments::of_orders_for(db, tenant, user, ids).await? {
        mine.entry(a.work_order_id)
            .or_default()
            .push(AppointmentView::from(a));
    }
    let refs: Vec<&WorkOrderRecord> = records.iter().collect();
    let context = ViewContext::load(db, tenant, &refs).await?;
    let mut changes = Vec::with_capacity(records.len());
    for record in &records {
        let appointments = mine.remove(&record.order.id).unwrap_or_default();
        match relevance(record, user, &appointments) {
            Ok(()) => changes.push(SyncChange::Upsert {
                work_order: Box::new(context.order(record)),
                appointments,
            }),
            Err(reason) if include_removals => changes.push(SyncChange::Remove {
                work_order_id: record.order.id.as_uuid(),
                reason,
            }),
            Err(_) => {}
        }
    }
    Ok(changes)
}

/// Pull changes for my device
///
/// Everything the signed-in person needs to work offline: the running or held work orders
/// in which they hold a step or have an appointment, each with all its steps (checklists,
/// required and recorded evidence, who holds what), the customer and site, and the person's
/// appointments for it.
///
/// Without a cursor the pull is a full snapshot, paged by order; afterwards the cursor
/// follows the tenant's change sequence (a server-side counter that only grows, not a
/// clock). Each change carries the order's state **now**; an order that no longer concerns
/// the person (cancelled, finished, reassigned away) comes as a `remove` tombstone. Paging
/// while the office keeps changing things returns every change at least once; pulling until
/// `has_more` is false ends in the same state as a fresh full pull. Keep the last
/// `next_cursor` and pull again later.
#[utoipa::path(
    operation_id = "syncPull",
    tag = "field-sync",
    params(PullQuery),
    responses(
        (status = 200, description = "One page of changes", body = PullResponse),
        (status = 400, description = "Unknown cursor (`invalid_cursor`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "API keys have no device", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[get("/sync/pull")]
pub async fn pull(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<PullQuery>,
) -> ApiResult<HttpResponse> {
    let Some(user) = principal.user_id() else {
        return Err(ApiError::forbidden(
            "sync is for people on devices; an API key has no device",
        ));
    };
    let tenant = principal.tenant_id;
    let limit = match query.limit {
        None => DEFAULT_PULL,
        Some(n) if (1..=i64::from(MAX_PULL)).contains(&n) => {
            u32::try_from(n).unwrap_or(DEFAULT_PULL)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                format!("`limit` must be between 1 and {MAX_PULL}"),
            ));
        }
    };
    let page = pull_page(&state.db, tenant, user, query.cursor.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One page of changes for `user` after `cursor` (the work of `syncPull`).
pub async fn pull_page(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    cursor: Option<&str>,
    limit: u32,
) -> ApiResult<PullResponse> {
    let cursor = match cursor {
        None | Some("") => Cursor::Snapshot {
            seq: sync::current_seq(db, tenant).await?,
            after: Uuid::nil(),
        },
        Some(text) => Cursor::decode(text).ok_or_else(|| {
            ApiError::bad_request(
                codes::INVALID_CURSOR,
                "the cursor is not one this server gave out; pull without a cursor to start over",
            )
        })?,
    };
    let (changes, next, has_more) = match cursor {
        Cursor::Snapshot { seq, after } => {
            let mut ids = sync::concerning(db, tenant, user, WorkOrderId(after), limit + 1).await?;
            let more = ids.len() > limit as usize;
            ids.truncate(limit as usize);
            let changes = changes_for(db, tenant, user, &ids, false).await?;
            if more {
                let last = ids.last().map_or(after, |id| id.as_uuid());
                (changes, Cursor::Snapshot { seq, after: last }, true)
            } else {
                let next = Cursor::Feed {
                    seq,
                    after: Uuid::max(),
                };
                let waiting =
                    !sync::changed_since(db, tenant, user, (seq, WorkOrderId(Uuid::max())), 1)
                        .await?
                        .is_empty();
                (changes, next, waiting)
            }
        }
        Cursor::Feed { seq, after } => {
            let mut rows =
                sync::changed_since(db, tenant, user, (seq, WorkOrderId(after)), limit + 1).await?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next = rows
                .last()
                .map_or(Cursor::Feed { seq, after }, |(s, id)| Cursor::Feed {
                    seq: *s,
                    after: id.as_uuid(),
                });
            let ids: Vec<WorkOrderId> = rows.iter().map(|(_, id)| *id).collect();
            let changes = changes_for(db, tenant, user, &ids, true).await?;
            (changes, next, more)
        }
    };
    Ok(PullResponse {
        changes,
        next_cursor: next.encode(),
        has_more,
    })
}

// ---------------------------------------------------------------------------------------
// Push

/// Event types a device may push.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FieldEventType {
    StepStarted,
    StepCompleted,
    StepSkipped,
    ChecklistItemSet,
    NoteAdded,
    TimeLogged,
    MaterialUsed,
    PhotoAttached,
    SignatureCaptured,
    AppointmentStatus,
}

impl FieldEventType {
    fn as_str(self) -> &'static str {
        match self {
            FieldEventType::StepStarted => "step_started",
            FieldEventType::StepCompleted => "step_completed",
            FieldEventType::StepSkipped => "step_skipped",
            FieldEventType::ChecklistItemSet => "checklist_item_set",
            FieldEventType::NoteAdded => "note_added",
            FieldEventType::TimeLogged => "time_logged",
            FieldEventType::MaterialUsed => "material_used",
            FieldEventType::PhotoAttached => "photo_attached",
            FieldEventType::SignatureCaptured => "signature_captured",
            FieldEventType::AppointmentStatus => "appointment_status",
        }
    }

    fn needs_step(self) -> bool {
        matches!(
            self,
            FieldEventType::StepStarted
                | FieldEventType::StepCompleted
                | FieldEventType::StepSkipped
                | FieldEventType::ChecklistItemSet
                | FieldEventType::PhotoAttached
                | FieldEventType::SignatureCaptured
        )
    }
}

/// Payload of `step_started` and `step_completed` (empty).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyPayload {}

/// Payload of `step_skipped`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipPayload {
    #[schema(value_type = String,
        example = "Customer already replaced the part",
        min_length = 1,
        max_length = 2000
    )]
    pub reason: Text<2000>,
}

/// Payload of `checklist_item_set`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistPayload {
    #[schema(value_type = String, max_length = 64, example = "measure_openings")]
    pub item: Line<64>,
    pub checked: bool,
}

/// Payload of `note_added`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotePayload {
    #[schema(value_type = String,
        example = "Side entrance, ring twice",
        min_length = 1,
        max_length = 10000
    )]
    pub text: Text<10000>,
}

/// Payload of `time_logged`: a span of work (at most 24 hours).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimePayload {
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub end: DateTime<Utc>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Text<2000>>,
}

/// Payload of `material_used`: a catalogue item or free text, a quantity and a unit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialPayload {
    /// Catalogue item number, when the material is from the catalogue.
    #[schema(value_type = Option<String>, example = "CU-15-3M", max_length = 100)]
    pub item_code: Option<Line<100>>,
    #[schema(value_type = String, example = "Copper pipe 15 mm", min_length = 1, max_length = 500)]
    pub description: Text<500>,
    /// Decimal quantity as a string (exact), greater than zero, at most 3 decimals.
    #[schema(value_type = String, max_length = 32, example = "2.5", pattern = r"^[0-9]{1,9}(\.[0-9]{1,3})?$")]
    pub quantity: Line<32>,
    /// UN/ECE Recommendation 20 unit code (`C62` piece, `MTR` metre, `HUR` hour, `KGM`, `LTR`).
    #[schema(value_type = String, max_length = 16, example = "MTR", pattern = "^[A-Z0-9]{2,3}$")]
    pub unit: Line<16>,
}

/// Payload of `photo_attached`: an attachment uploaded to the order beforehand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoPayload {
    pub attachment_id: Uuid,
}

/// Payload of `signature_captured`: who signed and the image of the signature.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignaturePayload {
    #[schema(value_type = String, example = "Jana Becker", min_length = 1, max_length = 200)]
    pub signer_name: Line<200>,
    pub attachment_id: Uuid,
}

/// Appointment statuses a device reports.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldAppointmentStatus {
    EnRoute,
    OnSite,
    Done,
    NoShow,
}

/// Payload of `appointment_status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentStatusPayload {
    pub appointment_id: Uuid,
    pub status: FieldAppointmentStatus,
}

/// The payload, by event type (documentation; each type's shape is checked strictly).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum FieldEventPayload {
    Empty(EmptyPayload),
    Skip(SkipPayload),
    Checklist(ChecklistPayload),
    Note(NotePayload),
    Time(TimePayload),
    Material(MaterialPayload),
    Photo(PhotoPayload),
    Signature(SignaturePayload),
    AppointmentStatus(AppointmentStatusPayload),
}

/// Something that happened on a device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldEvent {
    /// Generated on the device; the key for exactly-once.
    pub id: Uuid,
    #[schema(value_type = String, example = "ipad-7f3a", min_length = 1, max_length = 100)]
    pub device_id: Line<100>,
    /// Per device, increasing in the order the events happened.
    #[schema(minimum = 0)]
    pub seq: i64,
    /// When it happened, by the device clock.
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub occurred_at: DateTime<Utc>,
    pub work_order_id: Uuid,
    /// Required for step events, `photo_attached` and `signature_captured`.
    pub step_id: Option<Uuid>,
    #[serde(rename = "type")]
    pub kind: FieldEventType,
    /// By type: `step_started`/`step_completed` `{}`; `step_skipped` `{reason}`;
    /// `checklist_item_set` `{item, checked}`; `note_added` `{text}`; `time_logged`
    /// `{start, end, description?}`; `material_used` `{item_code?, description, quantity,
    /// unit}`; `photo_attached` `{attachment_id}`; `signature_captured` `{signer_name,
    /// attachment_id}`; `appointment_status` `{appointment_id, status}`.
    #[schema(value_type = FieldEventPayload)]
    #[serde(default)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": [
    {"id": "0192f0c5-0000-7000-8000-000000000001", "device_id": "ipad-7f3a", "seq": 41, "occurred_at": "2026-11-27T09:12:00Z",
     "work_order_id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a61", "step_id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a70", "type": "step_started", "payload": {}},
    {"id": "0192f0c5-0000-7000-8000-000000000002", "device_id": "ipad-7f3a", "seq": 42, "occurred_at": "2026-11-27T10:40:00Z",
     "work_order_id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a61", "type": "time_logged",
     "payload": {"start": "2026-11-27T09:12:00Z", "end": "2026-11-27T10:40:00Z", "description": "Replaced valve"}},
    {"id": "0192f0c5-0000-7000-8000-000000000003", "device_id": "ipad-7f3a", "seq": 43, "occurred_at": "2026-11-27T10:41:00Z",
     "work_order_id": "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a61", "type": "material_used",
     "payload": {"item_code": "CU-15-3M", "description": "Copper pipe 15 mm", "quantity": "2.5", "unit": "MTR"}}
]}))]
pub struct PushRequest {
    /// At most 1,000 events (413 `batch_too_large` beyond).
    #[schema(max_items = 1000)]
    pub events: Vec<FieldEvent>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Applied now.
    Applied,
    /// Seen before (same id): nothing changed now; `reason` repeats a first rejection.
    Duplicate,
    /// Consumed without effect; `reason` says why. Do not send it again.
    Rejected,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushResult {
    pub id: Uuid,
    pub status: PushStatus,
    /// For rejections: `not_found` (no such order, step, appointment or attachment visible
    /// to you), `not_responsible` (the step or appointment is someone else's, e.g. reassigned
    /// meanwhile), `order_cancelled`, `order_on_hold`, `order_finished`,
    /// `invalid_transition` (the state does not allow it, e.g. step already done),
    /// `evidence_missing`, `checklist_incomplete`, `not_skippable`, `unknown_checklist_item`,
    /// `id_conflict` (the id was used by someone else).
    #[schema(example = "order_cancelled")]
    pub reason: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"id": "0192f0c5-0000-7000-8000-000000000001", "status": "applied", "reason": null, "detail": null},
    {"id": "0192f0c5-0000-7000-8000-000000000002", "status": "duplicate", "reason": null, "detail": null},
    {"id": "0192f0c5-0000-7000-8000-000000000003", "status": "rejected", "reason": "order_cancelled", "detail": "the order was cancelled"}
]}))]
pub struct PushResponse {
    /// One result per event, in the order of the request.
    pub results: Vec<PushResult>,
}

/// A validated event with its typed payload.
struct Parsed {
    index: usize,
    event: FieldEvent,
    body: Body,
}

enum Body {
    Start,
    Complete,
    Skip(String),
    Checklist(String, bool),
    Note(String),
    Time(TimePayload),
    Material(MaterialPayload),
    Photo(Uuid),
    Signature(String, Uuid),
    Appointment(Uuid, FieldAppointmentStatus),
}

fn payload<T: DeserializeOwned>(index: usize, value: &serde_json::Value) -> ApiResult<T> {
    let value = if value.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        value.clone()
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let pointer = if path == "." {
            String::new()
        } else {
            format!("/{}", path.replace('.', "/"))
        };
        ApiError::invalid(
            &format!("/events/{index}/payload{pointer}"),
            e.into_inner().to_string(),
        )
    })
}

fn text_field(index: usize, field: &str, text: &str, max: usize) -> ApiResult<()> {
    let len = text.trim().chars().count();
    if len == 0 || text.chars().count() > max {
        return Err(ApiError::invalid(
            &format!("/events/{index}/payload/{field}"),
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

fn valid_quantity(q: &str) -> bool {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !int.is_empty()
        && int.len() <= 9
        && digits(int)
        && (q.find('.').is_none() || (!frac.is_empty() && frac.len() <= 3 && digits(frac)))
        && q.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// Checks one event completely; the first problem makes the whole batch 422.
fn parse(index: usize, event: FieldEvent) -> ApiResult<Parsed> {
    let at = |field: &str| format!("/events/{index}/{field}");
    if event.device_id.trim().is_empty() || event.device_id.chars().count() > 100 {
        return Err(ApiError::invalid(
            &at("device_id"),
            "must be 1 to 100 characters",
        ));
    }
    if event.seq < 0 {
        return Err(ApiError::invalid(&at("seq"), "must not be negative"));
    }
    if event.kind.needs_step() && event.step_id.is_none() {
        return Err(ApiError::invalid(
            &at("step_id"),
            format!("`{}` needs the step", event.kind.as_str()),
        ));
    }
    let body = match event.kind {
        FieldEventType::StepStarted => {
            payload::<EmptyPayload>(index, &event.payload)?;
            Body::Start
        }
        FieldEventType::StepCompleted => {
            payload::<EmptyPayload>(index, &event.payload)?;
            Body::Complete
        }
        FieldEventType::StepSkipped => {
            let p: SkipPayload = payload(index, &event.payload)?;
            text_field(index, "reason", &p.reason, 2000)?;
            Body::Skip(p.reason.into_string())
        }
        FieldEventType::ChecklistItemSet => {
            let p: ChecklistPayload = payload(index, &event.payload)?;
            text_field(index, "item", &p.item, 200)?;
            Body::Checklist(p.item.into_string(), p.checked)
        }
        FieldEventType::NoteAdded => {
            let p: NotePayload = payload(index, &event.payload)?;
            text_field(index, "text", &p.text, 10_000)?;
            Body::Note(p.text.into_string())
        }
        FieldEventType::TimeLogged => {
            let p: TimePayload = payload(index, &event.payload)?;
            if p.end <= p.start || p.end - p.start > Duration::hours(24) {
                return Err(ApiError::invalid(
                    &format!("/events/{index}/payload/end"),
                    "must be after `start`, at most 24 hours later",
                ));
            }
            if let Some(d) = &p.description {
                text_field(index, "description", d, 2000)?;
            }
            Body::Time(p)
        }
        FieldEventType::MaterialUsed => {
            let p: MaterialPayload = payload(index, &event.payload)?;
            text_field(index, "description", &p.description, 500)?;
            if let Some(code) = &p.item_code {
                text_field(index, "item_code", code, 100)?;
            }
            if !valid_quantity(&p.quantity) {
                return Err(ApiError::invalid(
                    &format!("/events/{index}/payload/quantity"),
                    "must be a decimal greater than zero with at most 3 decimals, e.g. \"2.5\"",
                ));
            }
            let unit_ok = (2..=3).contains(&p.unit.len())
                && p.unit
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !unit_ok {
                return Err(ApiError::invalid(
                    &format!("/events/{index}/payload/unit"),
                    "must be a UN/ECE Recommendation 20 code such as C62, MTR or HUR",
                ));
            }
            Body::Material(p)
        }
        FieldEventType::PhotoAttached => {
            let p: PhotoPayload = payload(index, &event.payload)?;
            Body::Photo(p.attachment_id)
        }
        FieldEventType::SignatureCaptured => {
            let p: SignaturePayload = payload(index, &event.payload)?;
            text_field(index, "signer_name", &p.signer_name, 200)?;
            Body::Signature(p.signer_name.into_string(), p.attachment_id)
        }
        FieldEventType::AppointmentStatus => {
            let p: AppointmentStatusPayload = payload(index, &event.payload)?;
            Body::Appointment(p.appointment_id, p.status)
        }
    };
    Ok(Parsed { index, event, body })
}

/// A rejection: stable code and a sentence.
struct Rejection(&'static str, String);

fn reject(code: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection(code, detail.into())
}

fn command_rejection(e: CommandError) -> Rejection {
    match e {
        CommandError::InvalidTransition { .. } => reject("invalid_transition", e.to_string()),
        CommandError::Incomplete {
            ref missing_evidence,
            ..
        } if !missing_evidence.is_empty() => reject("evidence_missing", e.to_string()),
        CommandError::Incomplete { .. } => reject("checklist_incomplete", e.to_string()),
        CommandError::NotSkippable => reject("not_skippable", e.to_string()),
        CommandError::ReasonRequired => reject("invalid_transition", e.to_string()),
        CommandError::UnknownStep => reject("not_found", "no such step in this order"),
        CommandError::UnknownChecklistItem => reject("unknown_checklist_item", e.to_string()),
        CommandError::NotQualified => reject("not_responsible", e.to_string()),
    }
}

/// Orders of the batch, locked, with the domain events each collected.
struct Batch {
    /// Every order of the batch that exists, locked, by status.
    statuses: HashMap<WorkOrderId, OrderStatus>,
    /// Orders with step work, loaded whole, with the domain events each collected.
    orders: HashMap<WorkOrderId, (WorkOrderRecord, Vec<Event>)>,
    /// Whether the pusher takes part in an order (asked once per order).
    participant: HashMap<WorkOrderId, bool>,
    /// Loaded on the first step command; its counters are written once at the end.
    assigner: Option<DbAssigner>,
    /// Field entries, written together at the end.
    entries: Vec<FieldEntry>,
}

impl Batch {
    async fn participates(
        &mut self,
        tx: &mut WriteTx,
        order: WorkOrderId,
        user: UserId,
    ) -> ApiResult<bool> {
        if let Some(known) = self.participant.get(&order) {
            return Ok(*known);
        }
        let known = sync::is_participant(tx.conn(), order, user).await?;
        self.participant.insert(order, known);
        Ok(known)
    }
}

struct Pusher<'a> {
    principal: &'a Principal,
    user: UserId,
    now: DateTime<Utc>,
}

impl Pusher<'_> {
    fn order_gate(status: OrderStatus, step_work: bool) -> Result<(), Rejection> {
        match status {
            OrderStatus::Cancelled => Err(reject("order_cancelled", "the order was cancelled")),
            OrderStatus::OnHold if step_work => {
                Err(reject("order_on_hold", "the order is on hold"))
            }
            OrderStatus::Open | OrderStatus::InProgress | OrderStatus::OnHold => Ok(()),
            _ if step_work => Err(reject(
                "order_finished",
                "the order is completed; nothing can change on its steps",
            )),
            OrderStatus::Completed => Ok(()),
            _ => Err(reject(
                "order_finished",
                "the order is invoiced or closed; record this in the office",
            )),
        }
    }

    async fn apply(
        &self,
        tx: &mut WriteTx,
        batch: &mut Batch,
        p: &Parsed,
    ) -> ApiResult<Result<(), Rejection>> {
        let order_id = WorkOrderId(p.event.work_order_id);
        if !batch.statuses.contains_key(&order_id) {
            return Ok(Err(reject(
                "not_found",
                "no such work order visible to you",
            )));
        }
        let step = p.event.step_id.map(StepId);
        let command = match &p.body {
            Body::Start => Command::StartStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
            },
            Body::Complete => Command::CompleteStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
            },
            Body::Skip(reason) => Command::SkipStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
                reason: reason.clone(),
            },
            Body::Checklist(item, checked) => Command::SetChecklistItem {
                step: step.unwrap_or(StepId(Uuid::nil())),
                item: item.clone(),
                checked: *checked,
            },
            Body::Photo(attachment) | Body::Signature(_, attachment) => {
                let kind = if matches!(p.body, Body::Photo(_)) {
                    Evidence::Photo
                } else {
                    Evidence::Signature
                };
                if attachments::get_on_order(
                    tx.conn(),
                    self.principal.tenant_id,
                    order_id,
                    AttachmentId(*attachment),
                )
                .await?
                .is_none()
                {
                    return Ok(Err(reject(
                        "attachment_missing",
                        "upload the file to the order first (uploadAttachment), then push the event",
                    )));
                }
                Command::RecordEvidence {
                    step: step.unwrap_or(StepId(Uuid::nil())),
                    kind,
                    attachment: AttachmentId(*attachment),
                }
            }
            Body::Note(_) | Body::Time(_) | Body::Material(_) => {
                let participant = batch.participates(tx, order_id, self.user).await?;
                if !participant && self.principal.require(Permission::WorkOrdersWrite).is_err() {
                    return Ok(Err(reject(
                        "not_found",
                        "no such work order visible to you",
                    )));
                }
                let time_or_material = !matches!(p.body, Body::Note(_));
                if time_or_material
                    && let Some(status) = batch.statuses.get(&order_id)
                    && let Err(r) = Self::order_gate(*status, false)
                {
                    return Ok(Err(r));
                }
                self.entry(batch, p, order_id);
                tx.touch_order(self.principal.tenant_id, order_id);
                return Ok(Ok(()));
            }
            Body::Appointment(id, status) => {
                return self.appointment(tx, order_id, *id, *status).await;
            }
        };
        // Step work: visible, responsible, order running.
        if batch.assigner.is_none() {
            batch.assigner = Some(DbAssigner::load(tx.conn(), self.principal.tenant_id).await?);
        }
        let participates = batch.participates(tx, order_id, self.user).await?;
        let mut entry = None;
        let outcome = {
            let Batch {
                orders, assigner, ..
            } = &mut *batch;
            let (Some((record, events)), Some(assigner)) =
                (orders.get_mut(&order_id), assigner.as_mut())
            else {
                return Ok(Err(reject(
                    "not_found",
                    "no such work order visible to you",
                )));
            };
            let holder = step
                .and_then(|s| record.order.step(s))
                .map(|s| s.responsible);
            let Some(holder) = holder else {
                return Ok(Err(reject("not_found", "no such step in this order")));
            };
            if holder != Some(self.user)
                && self.principal.require(Permission::WorkOrdersWrite).is_err()
            {
                return Ok(Err(if participates {
                    reject(
                        "not_responsible",
                        "the step is held by someone else (reassigned meanwhile?)",
                    )
                } else {
                    reject("not_found", "no such work order visible to you")
                }));
            }
            if let Err(r) = Self::order_gate(record.order.status, true) {
                return Ok(Err(r));
            }
            if authorize(self.principal, record, &command).is_err() {
                return Ok(Err(reject(
                    "not_responsible",
                    "you may not work on this step",
                )));
            }
            let before = record.order.clone();
            match record.order.handle(command, self.now, assigner) {
                Ok(new_events) => {
                    events.extend(new_events);
                    if let Body::Signature(..) = p.body {
                        entry = Some(order_id);
                    }
                    Ok(())
                }
                Err(e) => {
                    record.order = before;
                    Err(command_rejection(e))
                }
            }
        };
        if let Some(order) = entry {
            self.entry(batch, p, order);
        }
        Ok(outcome)
    }

    fn entry(&self, batch: &mut Batch, p: &Parsed, order: WorkOrderId) {
        let (kind, data) = match &p.body {
            Body::Note(text) => ("note", serde_json::json!({ "text": text })),
            Body::Time(t) => (
                "time",
                serde_json::json!({
                    "start": t.start, "end": t.end,
                    "minutes": (t.end - t.start).num_minutes(),
                    "description": t.description,
                }),
            ),
            Body::Material(m) => (
                "material",
                serde_json::json!({
                    "item_code": m.item_code, "description": m.description,
                    "quantity": m.quantity, "unit": m.unit,
                }),
            ),
            Body::Signature(name, attachment) => (
                "signature",
                serde_json::json!({ "signer_name": name, "attachment_id": attachment }),
            ),
            _ => return,
        };
        batch.entries.push(FieldEntry {
            id: p.event.id,
            tenant_id: self.principal.tenant_id,
            work_order_id: order,
            step_id: p.event.step_id.map(StepId),
            kind: kind.to_owned(),
            user_id: self.user,
            device_id: p.event.device_id.clone().into_string(),
            occurred_at: p.event.occurred_at,
            data,
            created_at: self.now,
        });
    }

    async fn appointment(
        &self,
        tx: &mut WriteTx,
        order: WorkOrderId,
        id: Uuid,
        status: FieldAppointmentStatus,
    ) -> ApiResult<Result<(), Rejection>> {
        let current =
            appointments::get(tx.conn(), self.principal.tenant_id, AppointmentId(id)).await?;
        let Some(current) = current.filter(|a| a.work_order_id == order) else {
            return Ok(Err(reject(
                "not_found",
                "no such appointment on this order",
            )));
        };
        if !current.assignees.contains(&self.user)
            && self.principal.require(Permission::WorkOrdersWrite).is_err()
        {
            return Ok(Err(reject(
                "not_responsible",
                "the appointment is someone else's (reassigned meanwhile?)",
            )));
        }
        let target = match status {
            FieldAppointmentStatus::EnRoute => AppointmentStatus::EnRoute,
            FieldAppointmentStatus::OnSite => AppointmentStatus::OnSite,
            FieldAppointmentStatus::Done => AppointmentStatus::Done,
            FieldAppointmentStatus::NoShow => AppointmentStatus::NoShow,
        };
        if current.status == target {
            return Ok(Ok(()));
        }
        // Facts from the field: "done" implies having arrived.
        let path: &[AppointmentAction] = match status {
            FieldAppointmentStatus::EnRoute => &[AppointmentAction::Depart],
            FieldAppointmentStatus::OnSite => &[AppointmentAction::Arrive],
            FieldAppointmentStatus::Done if current.status == AppointmentStatus::OnSite => {
                &[AppointmentAction::Finish]
            }
            FieldAppointmentStatus::Done => &[AppointmentAction::Arrive, AppointmentAction::Finish],
            FieldAppointmentStatus::NoShow => &[AppointmentAction::NoShow],
        };
        let mut next_status = current.status;
        for action in path {
            match next_status.apply(*action) {
                Some(s) => next_status = s,
                None if current.status == AppointmentStatus::Cancelled => {
                    return Ok(Err(reject(
                        "appointment_cancelled",
                        "the appointment was cancelled",
                    )));
                }
                None => {
                    return Ok(Err(reject(
                        "invalid_transition",
                        format!(
                            "the appointment is {}; it cannot become {}",
                            current.status.as_str(),
                            target.as_str()
                        ),
                    )));
                }
            }
        }
        let mut next = current.clone();
        next.status = next_status;
        if !appointments::update(tx, &next, current.version, self.now).await? {
            return Err(ApiError::internal(anyhow::anyhow!(
                "appointment changed inside the push"
            )));
        }
        record_history(
            tx,
            self.principal,
            &next,
            &format!("appointment.{}", next_status.as_str()),
            serde_json::json!({"source": "field_sync"}),
        )
        .await?;
        if next_status == AppointmentStatus::EnRoute {
            let technician = workorders_persistence::users::get_in(
                tx.conn(),
                self.principal.tenant_id,
                self.user,
            )
            .await?
            .map(|u| u.name)
            .unwrap_or_default();
            crate::billing::queue_appointment_notice(
                tx,
                crate::billing::AppointmentNotice {
                    kind: workorders_mail::templates::TemplateKind::TechnicianEnRoute,
                    tenant_id: self.principal.tenant_id,
                    work_order_id: order,
                    appointment_id: next.id.0,
                    start: next.start,
                    end: next.end,
                    service_name: "",
                    technician_name: &technician,
                    location: String::new(),
                    manage_link: String::new(),
                },
                self.now,
            )
            .await?;
        }
        Ok(Ok(()))
    }
}

/// Push what happened on my device
///
/// Events are facts recorded on the device, possibly offline for hours. The server applies
/// each new event in device order (by `device_id`, then `seq`, whatever the order in the
/// request) against the **current** state, through the same rules as the office API:
/// completing the last required step completes the order.
///
/// Each event gets one result: `applied`; `duplicate` (this id was pushed before — nothing
/// happens again, so a batch may be retried whole or in part, in any order); or `rejected`
/// with a stable `reason`. A rejected event is consumed: do not retry it. Where the office
/// changed something meanwhile the outcome is the documented reason, never a silent
/// overwrite: order cancelled → `order_cancelled`; step reassigned to someone else →
/// `not_responsible`; step already done or not active → `invalid_transition`; required
/// photo or signature missing on completion → `evidence_missing`.
///
/// The whole batch is checked first: one malformed event (unknown type, bad payload) makes
/// the batch 422 and nothing is applied. At most 1,000 events per push (413 beyond).
/// Upload photos and signatures first (`uploadAttachment`), then push the events that
/// reference them.
#[utoipa::path(
    operation_id = "syncPush",
    tag = "field-sync",
    request_body = PushRequest,
    responses(
        (status = 200, description = "One result per event", body = PushResponse),
        (status = 403, description = "API keys have no device", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 1,000 events (`batch_too_large`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed event; nothing applied", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/sync/push")]
pub async fn push(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<PushRequest>,
) -> ApiResult<HttpResponse> {
    let results = push_events(&state.db, &principal, body.into_inner().events).await?;
    Ok(HttpResponse::Ok().json(PushResponse { results }))
}

/// Checks and applies a batch of field events for the principal (the work of `syncPush`).
pub async fn push_events(
    db: &Db,
    principal: &Principal,
    events: Vec<FieldEvent>,
) -> ApiResult<Vec<PushResult>> {
    let Some(user) = principal.user_id() else {
        return Err(ApiError::forbidden(
            "sync is for people on devices; an API key has no device",
        ));
    };
    if events.len() > MAX_BATCH {
        return Err(ApiError::BatchTooLarge {
            detail: format!(
                "{} events in one push; at most {MAX_BATCH}: split the batch",
                events.len()
            ),
        });
    }
    let parsed: Vec<Parsed> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| parse(i, e))
        .collect::<ApiResult<_>>()?;
    let tenant = principal.tenant_id;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    sync::lock_pusher(tx.conn(), tenant, user, now).await?;
    let ids: Vec<Uuid> = parsed.iter().map(|p| p.event.id).collect();
    let seen = sync::find_events(tx.conn(), &ids).await?;
    // Lock the orders of the batch in id order (no lock cycles between pushes).
    let order_ids: BTreeSet<WorkOrderId> = parsed
        .iter()
        .filter(|p| !seen.contains_key(&p.event.id))
        .map(|p| WorkOrderId(p.event.work_order_id))
        .collect();
    let mut batch = Batch {
        statuses: HashMap::new(),
        orders: HashMap::new(),
        participant: HashMap::new(),
        assigner: None,
        entries: Vec::new(),
    };
    // Notes, time and material need only the order's status; step work the whole order.
    let step_work: HashSet<WorkOrderId> = parsed
        .iter()
        .filter(|p| p.event.kind.needs_step())
        .map(|p| WorkOrderId(p.event.work_order_id))
        .collect();
    for id in order_ids {
        if step_work.contains(&id) {
            if let Some(record) = work_orders::load_for_update(tx.conn(), db, tenant, id).await? {
                batch.statuses.insert(id, record.order.status);
                batch.orders.insert(id, (record, Vec::new()));
            }
        } else if let Some(status) = work_orders::lock_status(tx.conn(), db, tenant, id).await? {
            batch.statuses.insert(id, status);
        }
    }
    let pusher = Pusher {
        principal,
        user,
        now,
    };
    let mut order: Vec<usize> = (0..parsed.len()).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&parsed[*a].event, &parsed[*b].event);
        (&x.device_id, x.seq, *a).cmp(&(&y.device_id, y.seq, *b))
    });
    let mut results: Vec<Option<PushResult>> = (0..parsed.len()).map(|_| None).collect();
    let mut handled: HashSet<Uuid> = HashSet::new();
    let mut stored = Vec::new();
    for i in order {
        let p = &parsed[i];
        let id = p.event.id;
        if let Some(previous) = seen.get(&id) {
            let same_owner = previous.tenant_id == tenant && previous.user_id == user;
            results[p.index] = Some(if same_owner {
                PushResult {
                    id,
                    status: PushStatus::Duplicate,
                    reason: previous.reason.clone(),
                    detail: None,
                }
            } else {
                PushResult {
                    id,
                    status: PushStatus::Rejected,
                    reason: Some("id_conflict".to_owned()),
                    detail: Some(
                        "this event id was used by another device; generate a new one".to_owned(),
                    ),
                }
            });
            continue;
        }
        if !handled.insert(id) {
            results[p.index] = Some(PushResult {
                id,
                status: PushStatus::Duplicate,
                reason: None,
                detail: Some("the same id appears earlier in this batch".to_owned()),
            });
            continue;
        }
        let outcome = pusher.apply(&mut tx, &mut batch, p).await?;
        let (status, reason, detail) = match outcome {
            Ok(()) => (PushStatus::Applied, None, None),
            Err(Rejection(code, detail)) => {
                (PushStatus::Rejected, Some(code.to_owned()), Some(detail))
            }
        };
        stored.push(NewSyncEvent {
            id,
            tenant_id: tenant,
            user_id: user,
            device_id: p.event.device_id.clone().into_string(),
            device_seq: p.event.seq,
            work_order_id: p.event.work_order_id,
            kind: p.event.kind.as_str().to_owned(),
            occurred_at: p.event.occurred_at,
            outcome: if status == PushStatus::Applied {
                "applied"
            } else {
                "rejected"
            },
            reason: reason.clone(),
            received_at: now,
        });
        results[p.index] = Some(PushResult {
            id,
            status,
            reason,
            detail,
        });
    }
    if let Some(assigner) = &batch.assigner {
        assigner.persist(tx.conn(), tenant).await?;
    }
    sync::insert_entries(tx.conn(), &batch.entries).await?;
    let actor = actor_of(principal);
    for (_, (mut record, events)) in batch.orders {
        if events.is_empty() {
            continue;
        }
        workflow::persist(&mut tx, &mut record, &events, &actor, now).await?;
    }
    sync::insert_events(tx.conn(), &stored).await?;
    tx.commit().await?;
    Ok(results.into_iter().flatten().collect())
}

// ---------------------------------------------------------------------------------------
// Field entries

/// A note, logged time, used material or signature recorded in the field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldEntryView {
    /// The id of the sync event that recorded it.
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub step_id: Option<Uuid>,
    /// `note`, `time`, `material` or `signature`.
    #[schema(example = "material")]
    pub kind: String,
    pub user_id: Uuid,
    pub device_id: String,
    pub occurred_at: DateTime<Utc>,
    /// `note` `{text}`; `time` `{start, end, minutes, description}`; `material`
    /// `{item_code, description, quantity, unit}`; `signature` `{signer_name, attachment_id}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

/// List what the field recorded on an order
///
/// Notes, time logs, material and signatures pushed from devices, in the order they
/// happened. Invoicing uses the time and material.
#[utoipa::path(
    operation_id = "listFieldEntries",
    tag = "field-sync",
    params(("id" = Uuid, Path, description = "Work order id")),
    responses(
        (status = 200, description = "The entries", body = Vec<FieldEntryView>),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders/{id}/field-entries")]
pub async fn list_field_entries(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let order_id = WorkOrderId(path.into_inner());
    crate::schemas::attachments::visible_order(&state, &principal, order_id).await?;
    let items: Vec<FieldEntryView> = sync::entries(&state.db, principal.tenant_id, order_id)
        .await?
        .into_iter()
        .map(|e| FieldEntryView {
            id: e.id,
            work_order_id: e.work_order_id.as_uuid(),
            step_id: e.step_id.map(|s| s.as_uuid()),
            kind: e.kind,
            user_id: e.user_id.as_uuid(),
            device_id: e.device_id,
            occurred_at: e.occurred_at,
            data: e.data,
            recorded_at: e.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        for c in [
            Cursor::Snapshot { seq: 7, after: id },
            Cursor::Feed {
                seq: 0,
                after: Uuid::nil(),
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("f:-1:x")), None);
    }

    #[test]
    fn quantities() {
        for ok in ["1", "2.5", "0.125", "100"] {
            assert!(valid_quantity(ok), "{ok}");
        }
        for bad in ["0", "0.0", "-1", "1.", ".5", "1.2345", "1e3", "", "abc"] {
            assert!(!valid_quantity(bad), "{bad}");
        }
    }
}
