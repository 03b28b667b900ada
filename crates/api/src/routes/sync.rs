//! Field sync for handhelds: pull what changed for me (cursor over the tenant's change
//! sequence, with tombstones), push what happened in the field (exactly once, in device
//! order, through the same state machines as the office API).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::sync;
use workorders_domain::WorkOrderId;
use workorders_domain::text::{Line, Text};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ValidJson;
use crate::schemas::appointments::AppointmentView;
use crate::schemas::orders::{ViewContext, WorkOrderView};
use crate::state::AppState;

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

impl From<sync::RemovalReason> for RemovalReason {
    fn from(r: sync::RemovalReason) -> Self {
        match r {
            sync::RemovalReason::Cancelled => RemovalReason::Cancelled,
            sync::RemovalReason::Finished => RemovalReason::Finished,
            sync::RemovalReason::Reassigned => RemovalReason::Reassigned,
        }
    }
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

/// Shows a page of changes with the names, customers and sites loaded for it.
fn render_page(page: sync::PullPage) -> PullResponse {
    let context = ViewContext::from(page.context);
    let changes = page
        .changes
        .into_iter()
        .map(|change| match change {
            sync::Change::Upsert {
                order,
                appointments,
            } => SyncChange::Upsert {
                work_order: Box::new(context.order(&order)),
                appointments: appointments
                    .into_iter()
                    .map(AppointmentView::from)
                    .collect(),
            },
            sync::Change::Remove {
                work_order_id,
                reason,
            } => SyncChange::Remove {
                work_order_id: work_order_id.as_uuid(),
                reason: reason.into(),
            },
        })
        .collect();
    PullResponse {
        changes,
        next_cursor: page.next_cursor,
        has_more: page.has_more,
    }
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
    let page = sync::pull(&state, &principal, query.cursor.as_deref(), query.limit).await?;
    Ok(HttpResponse::Ok().json(render_page(page)))
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

impl From<FieldEventType> for sync::FieldEventType {
    fn from(t: FieldEventType) -> Self {
        match t {
            FieldEventType::StepStarted => sync::FieldEventType::StepStarted,
            FieldEventType::StepCompleted => sync::FieldEventType::StepCompleted,
            FieldEventType::StepSkipped => sync::FieldEventType::StepSkipped,
            FieldEventType::ChecklistItemSet => sync::FieldEventType::ChecklistItemSet,
            FieldEventType::NoteAdded => sync::FieldEventType::NoteAdded,
            FieldEventType::TimeLogged => sync::FieldEventType::TimeLogged,
            FieldEventType::MaterialUsed => sync::FieldEventType::MaterialUsed,
            FieldEventType::PhotoAttached => sync::FieldEventType::PhotoAttached,
            FieldEventType::SignatureCaptured => sync::FieldEventType::SignatureCaptured,
            FieldEventType::AppointmentStatus => sync::FieldEventType::AppointmentStatus,
        }
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

impl From<FieldAppointmentStatus> for sync::FieldAppointmentStatus {
    fn from(s: FieldAppointmentStatus) -> Self {
        match s {
            FieldAppointmentStatus::EnRoute => sync::FieldAppointmentStatus::EnRoute,
            FieldAppointmentStatus::OnSite => sync::FieldAppointmentStatus::OnSite,
            FieldAppointmentStatus::Done => sync::FieldAppointmentStatus::Done,
            FieldAppointmentStatus::NoShow => sync::FieldAppointmentStatus::NoShow,
        }
    }
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

impl From<sync::PushOutcome> for PushResult {
    fn from(o: sync::PushOutcome) -> Self {
        Self {
            id: o.id,
            status: match o.status {
                sync::PushStatus::Applied => PushStatus::Applied,
                sync::PushStatus::Duplicate => PushStatus::Duplicate,
                sync::PushStatus::Rejected => PushStatus::Rejected,
            },
            reason: o.reason,
            detail: o.detail,
        }
    }
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
fn parse(index: usize, event: FieldEvent) -> ApiResult<sync::FieldEvent> {
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
    let kind = sync::FieldEventType::from(event.kind);
    if kind.needs_step() && event.step_id.is_none() {
        return Err(ApiError::invalid(
            &at("step_id"),
            format!("`{}` needs the step", kind.as_str()),
        ));
    }
    let body = match event.kind {
        FieldEventType::StepStarted => {
            payload::<EmptyPayload>(index, &event.payload)?;
            sync::FieldEventBody::Start
        }
        FieldEventType::StepCompleted => {
            payload::<EmptyPayload>(index, &event.payload)?;
            sync::FieldEventBody::Complete
        }
        FieldEventType::StepSkipped => {
            let p: SkipPayload = payload(index, &event.payload)?;
            text_field(index, "reason", &p.reason, 2000)?;
            sync::FieldEventBody::Skip(p.reason.into_string())
        }
        FieldEventType::ChecklistItemSet => {
            let p: ChecklistPayload = payload(index, &event.payload)?;
            text_field(index, "item", &p.item, 200)?;
            sync::FieldEventBody::Checklist(p.item.into_string(), p.checked)
        }
        FieldEventType::NoteAdded => {
            let p: NotePayload = payload(index, &event.payload)?;
            text_field(index, "text", &p.text, 10_000)?;
            sync::FieldEventBody::Note(p.text.into_string())
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
            sync::FieldEventBody::Time(sync::TimeEntry {
                start: p.start,
                end: p.end,
                description: p.description.map(Text::into_string),
            })
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
            sync::FieldEventBody::Material(sync::MaterialEntry {
                item_code: p.item_code.map(Line::into_string),
                description: p.description.into_string(),
                quantity: p.quantity.into_string(),
                unit: p.unit.into_string(),
            })
        }
        FieldEventType::PhotoAttached => {
            let p: PhotoPayload = payload(index, &event.payload)?;
            sync::FieldEventBody::Photo(p.attachment_id)
        }
        FieldEventType::SignatureCaptured => {
            let p: SignaturePayload = payload(index, &event.payload)?;
            text_field(index, "signer_name", &p.signer_name, 200)?;
            sync::FieldEventBody::Signature(p.signer_name.into_string(), p.attachment_id)
        }
        FieldEventType::AppointmentStatus => {
            let p: AppointmentStatusPayload = payload(index, &event.payload)?;
            sync::FieldEventBody::Appointment(p.appointment_id, p.status.into())
        }
    };
    Ok(sync::FieldEvent {
        id: event.id,
        device_id: event.device_id.into_string(),
        seq: event.seq,
        occurred_at: event.occurred_at,
        work_order_id: event.work_order_id,
        step_id: event.step_id,
        body,
    })
}

/// Checks every event of a batch; the first problem makes the whole batch 422.
fn parse_events(events: Vec<FieldEvent>) -> ApiResult<Vec<sync::FieldEvent>> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| parse(i, e))
        .collect()
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
    let events = body.into_inner().events;
    sync::admit_push(&principal, events.len())?;
    let results = sync::push(&state, &principal, parse_events(events)?).await?;
    Ok(HttpResponse::Ok().json(PushResponse {
        results: results.into_iter().map(PushResult::from).collect(),
    }))
}

/// The device's events as the application takes them (the checks of `syncPush`'s body,
/// 422 with a pointer per bad event); public for the benchmark's raw measure.
pub fn parse_field_events(events: Vec<FieldEvent>) -> ApiResult<Vec<sync::FieldEvent>> {
    parse_events(events)
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
    let items: Vec<FieldEntryView> = sync::field_entries(&state, &principal, order_id)
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
    fn quantities() {
        for ok in ["1", "2.5", "0.125", "100"] {
            assert!(valid_quantity(ok), "{ok}");
        }
        for bad in ["0", "0.0", "-1", "1.", ".5", "1.2345", "1e3", "", "abc"] {
            assert!(!valid_quantity(bad), "{bad}");
        }
    }
}
