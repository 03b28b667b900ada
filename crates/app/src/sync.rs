//! Field sync for handhelds: pull what changed for me (cursor over the tenant's change
//! sequence, with tombstones), push what happened in the field (exactly once, in device
//! order, through the same state machines as the office API), and the entries the field
//! recorded on an order.

use std::collections::{BTreeSet, HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::auth::Permission;
use workorders_domain::process::Evidence;
use workorders_domain::work_order::{Command, CommandError, Event, OrderStatus};
use workorders_domain::{AppointmentId, AttachmentId, StepId, TenantId, UserId, WorkOrderId};
use workorders_persistence::appointments::{self, AppointmentRecord};
use workorders_persistence::sync::{self, FieldEntry, NewSyncEvent};
use workorders_persistence::work_orders::{self, WorkOrderRecord};
use workorders_persistence::{Db, WriteTx, attachments};

use crate::App;
use crate::appointments::record_history;
use crate::error::{AppError, AppResult, codes};
use crate::identity::Principal;
use crate::work_orders::OrderDetails;
use crate::workflow::{self, DbAssigner, actor_of, authorize};

/// Most events in one push.
pub const MAX_BATCH: usize = 1000;
/// Most changes in one pull page.
pub const MAX_PULL: u32 = 200;
const DEFAULT_PULL: u32 = 50;

/// The person on the device: an API key has none.
fn device_user(caller: &Principal) -> AppResult<UserId> {
    caller.user_id().ok_or_else(|| {
        AppError::forbidden("sync is for people on devices; an API key has no device")
    })
}

// ---------------------------------------------------------------------------------------
// Pull

/// Why an order left the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// The order was cancelled.
    Cancelled,
    /// The order is completed, invoiced or closed: nothing left to do in the field.
    Finished,
    /// The caller holds no step and no appointment of it any more.
    Reassigned,
}

/// One change: the current state of an order the caller works on (with their appointments
/// for it that are not cancelled), or a tombstone telling the device to drop it.
#[derive(Debug)]
pub enum Change {
    Upsert {
        order: Box<WorkOrderRecord>,
        appointments: Vec<AppointmentRecord>,
    },
    Remove {
        work_order_id: WorkOrderId,
        reason: RemovalReason,
    },
}

/// One page of changes, with the details its orders are shown with.
pub struct PullPage {
    pub changes: Vec<Change>,
    pub context: OrderDetails,
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
    my_appointments: &[AppointmentRecord],
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

/// The changes for these orders as the user should see them now, with the details (names,
/// customers, sites) they are shown with.
async fn changes_for(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    ids: &[WorkOrderId],
    include_removals: bool,
) -> AppResult<(Vec<Change>, OrderDetails)> {
    // Orders are never deleted; one missing here was not visible anyway.
    let mut by_id: HashMap<WorkOrderId, WorkOrderRecord> = work_orders::get_many(db, tenant, ids)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|r| (r.order.id, r))
        .collect();
    let records: Vec<WorkOrderRecord> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    let mut mine: HashMap<WorkOrderId, Vec<AppointmentRecord>> = HashMap::new();
    for a in appointments::of_orders_for(db, tenant, user, ids)
        .await
        .map_err(AppError::from)?
    {
        mine.entry(a.work_order_id).or_default().push(a);
    }
    let refs: Vec<&WorkOrderRecord> = records.iter().collect();
    let context = crate::work_orders::details(db, tenant, &refs, &[]).await?;
    let mut changes = Vec::with_capacity(records.len());
    for record in records {
        let appointments = mine.remove(&record.order.id).unwrap_or_default();
        match relevance(&record, user, &appointments) {
            Ok(()) => changes.push(Change::Upsert {
                order: Box::new(record),
                appointments,
            }),
            Err(reason) if include_removals => changes.push(Change::Remove {
                work_order_id: record.order.id,
                reason,
            }),
            Err(_) => {}
        }
    }
    Ok((changes, context))
}

/// One page of changes for the signed-in person after `cursor` (none: a full pull), at
/// most `limit` (1 to [`MAX_PULL`], default 50). The page carries, for its orders,
/// what the caller needs to show them (names, customers, sites).
pub async fn pull(
    app: &App,
    caller: &Principal,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> AppResult<PullPage> {
    let user = device_user(caller)?;
    let limit = match limit {
        None => DEFAULT_PULL,
        Some(n) if (1..=i64::from(MAX_PULL)).contains(&n) => {
            u32::try_from(n).unwrap_or(DEFAULT_PULL)
        }
        Some(_) => {
            return Err(AppError::malformed(
                codes::INVALID_QUERY,
                format!("`limit` must be between 1 and {MAX_PULL}"),
            ));
        }
    };
    pull_page(&app.db, caller.tenant_id, user, cursor, limit).await
}

/// One page of changes for `user` after `cursor` (the work of [`pull`], on a database).
pub async fn pull_page(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    cursor: Option<&str>,
    limit: u32,
) -> AppResult<PullPage> {
    let cursor = match cursor {
        None | Some("") => Cursor::Snapshot {
            seq: sync::current_seq(db, tenant)
                .await
                .map_err(AppError::from)?,
            after: Uuid::nil(),
        },
        Some(text) => Cursor::decode(text).ok_or_else(|| {
            AppError::malformed(
                codes::INVALID_CURSOR,
                "the cursor is not one this server gave out; pull without a cursor to start over",
            )
        })?,
    };
    let (changes, context, next, has_more) = match cursor {
        Cursor::Snapshot { seq, after } => {
            let mut ids = sync::concerning(db, tenant, user, WorkOrderId(after), limit + 1)
                .await
                .map_err(AppError::from)?;
            let more = ids.len() > limit as usize;
            ids.truncate(limit as usize);
            let (changes, context) = changes_for(db, tenant, user, &ids, false).await?;
            if more {
                let last = ids.last().map_or(after, |id| id.as_uuid());
                (
                    changes,
                    context,
                    Cursor::Snapshot { seq, after: last },
                    true,
                )
            } else {
                let next = Cursor::Feed {
                    seq,
                    after: Uuid::max(),
                };
                let waiting =
                    !sync::changed_since(db, tenant, user, (seq, WorkOrderId(Uuid::max())), 1)
                        .await
                        .map_err(AppError::from)?
                        .is_empty();
                (changes, context, next, waiting)
            }
        }
        Cursor::Feed { seq, after } => {
            let mut rows =
                sync::changed_since(db, tenant, user, (seq, WorkOrderId(after)), limit + 1)
                    .await
                    .map_err(AppError::from)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next = rows
                .last()
                .map_or(Cursor::Feed { seq, after }, |(s, id)| Cursor::Feed {
                    seq: *s,
                    after: id.as_uuid(),
                });
            let ids: Vec<WorkOrderId> = rows.iter().map(|(_, id)| *id).collect();
            let (changes, context) = changes_for(db, tenant, user, &ids, true).await?;
            (changes, context, next, more)
        }
    };
    Ok(PullPage {
        changes,
        context,
        next_cursor: next.encode(),
        has_more,
    })
}

// ---------------------------------------------------------------------------------------
// Push

/// Event types a device may push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    pub fn as_str(self) -> &'static str {
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

    /// Whether events of this type name a step.
    pub fn needs_step(self) -> bool {
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

/// Appointment statuses a device reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAppointmentStatus {
    EnRoute,
    OnSite,
    Done,
    NoShow,
}

/// A span of work (at most 24 hours).
#[derive(Debug, Clone)]
pub struct TimeEntry {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub description: Option<String>,
}

/// Material used: a catalogue item or free text, a decimal quantity and a UN/ECE unit.
#[derive(Debug, Clone)]
pub struct MaterialEntry {
    pub item_code: Option<String>,
    pub description: String,
    pub quantity: String,
    pub unit: String,
}

/// What happened, by event type, its fields already checked.
#[derive(Debug, Clone)]
pub enum FieldEventBody {
    Start,
    Complete,
    Skip(String),
    /// Checklist item and whether it is checked.
    Checklist(String, bool),
    Note(String),
    Time(TimeEntry),
    Material(MaterialEntry),
    /// The attachment.
    Photo(Uuid),
    /// Who signed, and the attachment of the signature.
    Signature(String, Uuid),
    /// The appointment and its new status.
    Appointment(Uuid, FieldAppointmentStatus),
}

impl FieldEventBody {
    pub fn kind(&self) -> FieldEventType {
        match self {
            FieldEventBody::Start => FieldEventType::StepStarted,
            FieldEventBody::Complete => FieldEventType::StepCompleted,
            FieldEventBody::Skip(_) => FieldEventType::StepSkipped,
            FieldEventBody::Checklist(..) => FieldEventType::ChecklistItemSet,
            FieldEventBody::Note(_) => FieldEventType::NoteAdded,
            FieldEventBody::Time(_) => FieldEventType::TimeLogged,
            FieldEventBody::Material(_) => FieldEventType::MaterialUsed,
            FieldEventBody::Photo(_) => FieldEventType::PhotoAttached,
            FieldEventBody::Signature(..) => FieldEventType::SignatureCaptured,
            FieldEventBody::Appointment(..) => FieldEventType::AppointmentStatus,
        }
    }
}

/// Something that happened on a device (checked: a step where the type needs one).
#[derive(Debug, Clone)]
pub struct FieldEvent {
    /// Generated on the device; the key for exactly-once.
    pub id: Uuid,
    pub device_id: String,
    /// Per device, increasing in the order the events happened.
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub work_order_id: Uuid,
    pub step_id: Option<Uuid>,
    pub body: FieldEventBody,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushStatus {
    /// Applied now.
    Applied,
    /// Seen before (same id): nothing changed now; `reason` repeats a first rejection.
    Duplicate,
    /// Consumed without effect; `reason` says why.
    Rejected,
}

/// The result of one pushed event.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub id: Uuid,
    pub status: PushStatus,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// Refuses a push before its events are read: API keys have no device (403), and a batch
/// holds at most [`MAX_BATCH`] events (`batch_too_large`).
pub fn admit_push(caller: &Principal, events: usize) -> AppResult<()> {
    device_user(caller)?;
    if events > MAX_BATCH {
        return Err(AppError::BatchTooLarge {
            detail: format!("{events} events in one push; at most {MAX_BATCH}: split the batch"),
        });
    }
    Ok(())
}

/// Applies a batch of field events for the signed-in person, each new one in device
/// order against the current state; one outcome per event, in the order given.
pub async fn push(
    app: &App,
    caller: &Principal,
    events: Vec<FieldEvent>,
) -> AppResult<Vec<PushOutcome>> {
    push_on(&app.db, caller, events, &app.settings.mail.public_base_url).await
}

/// The work of [`push`], on a database; `public_base_url` is where the customer's pages are
/// (for the links in the e-mails a push may queue).
pub async fn push_on(
    db: &Db,
    principal: &Principal,
    events: Vec<FieldEvent>,
    public_base_url: &str,
) -> AppResult<Vec<PushOutcome>> {
    admit_push(principal, events.len())?;
    let user = device_user(principal)?;
    let tenant = principal.tenant_id;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    sync::lock_pusher(tx.conn(), tenant, user, now).await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let seen = sync::find_events(tx.conn(), &ids).await?;
    // Lock the orders of the batch in id order (no lock cycles between pushes).
    let order_ids: BTreeSet<WorkOrderId> = events
        .iter()
        .filter(|e| !seen.contains_key(&e.id))
        .map(|e| WorkOrderId(e.work_order_id))
        .collect();
    let mut batch = Batch {
        statuses: HashMap::new(),
        orders: HashMap::new(),
        participant: HashMap::new(),
        assigner: None,
        entries: Vec::new(),
    };
    // Notes, time and material need only the order's status; step work the whole order.
    let step_work: HashSet<WorkOrderId> = events
        .iter()
        .filter(|e| e.body.kind().needs_step())
        .map(|e| WorkOrderId(e.work_order_id))
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
        public_base_url,
    };
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&events[*a], &events[*b]);
        (&x.device_id, x.seq, *a).cmp(&(&y.device_id, y.seq, *b))
    });
    let mut results: Vec<Option<PushOutcome>> = (0..events.len()).map(|_| None).collect();
    let mut handled: HashSet<Uuid> = HashSet::new();
    let mut stored = Vec::new();
    for i in order {
        let event = &events[i];
        let id = event.id;
        if let Some(previous) = seen.get(&id) {
            let same_owner = previous.tenant_id == tenant && previous.user_id == user;
            results[i] = Some(if same_owner {
                PushOutcome {
                    id,
                    status: PushStatus::Duplicate,
                    reason: previous.reason.clone(),
                    detail: None,
                }
            } else {
                PushOutcome {
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
            results[i] = Some(PushOutcome {
                id,
                status: PushStatus::Duplicate,
                reason: None,
                detail: Some("the same id appears earlier in this batch".to_owned()),
            });
            continue;
        }
        let outcome = pusher.apply(&mut tx, &mut batch, event).await?;
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
            device_id: event.device_id.clone(),
            device_seq: event.seq,
            work_order_id: event.work_order_id,
            kind: event.body.kind().as_str().to_owned(),
            occurred_at: event.occurred_at,
            outcome: if status == PushStatus::Applied {
                "applied"
            } else {
                "rejected"
            },
            reason: reason.clone(),
            received_at: now,
        });
        results[i] = Some(PushOutcome {
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
    ) -> AppResult<bool> {
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
    /// Where the customer's pages are (`--public-base-url`), for the links in e-mails.
    public_base_url: &'a str,
}

impl Pusher<'_> {
    /// A new private link to the page of the web booking that made `appointment` (empty
    /// when the office made it: such orders have no customer page yet).
    async fn status_link(
        &self,
        tx: &mut WriteTx,
        appointment: workorders_domain::AppointmentId,
    ) -> AppResult<String> {
        let tenant = self.principal.tenant_id;
        let Some(booking) = workorders_persistence::services::booking_of_appointment(
            tx.conn(),
            tenant,
            appointment,
        )
        .await?
        else {
            return Ok(String::new());
        };
        let Some(record) = workorders_persistence::tenants::get_in(tx.conn(), tenant).await? else {
            return Ok(String::new());
        };
        let token = crate::tokens::new_token("bk_").map_err(AppError::internal)?;
        workorders_persistence::services::insert_booking_link(
            tx.conn(),
            tenant,
            booking.id,
            &crate::tokens::sha256_hex(&token),
            self.now,
        )
        .await?;
        Ok(format!(
            "{}/{}/booking/{token}",
            self.public_base_url.trim_end_matches('/'),
            record.slug
        ))
    }

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
        event: &FieldEvent,
    ) -> AppResult<Result<(), Rejection>> {
        let order_id = WorkOrderId(event.work_order_id);
        if !batch.statuses.contains_key(&order_id) {
            return Ok(Err(reject(
                "not_found",
                "no such work order visible to you",
            )));
        }
        let step = event.step_id.map(StepId);
        let command = match &event.body {
            FieldEventBody::Start => Command::StartStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
            },
            FieldEventBody::Complete => Command::CompleteStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
            },
            FieldEventBody::Skip(reason) => Command::SkipStep {
                step: step.unwrap_or(StepId(Uuid::nil())),
                reason: reason.clone(),
            },
            FieldEventBody::Checklist(item, checked) => Command::SetChecklistItem {
                step: step.unwrap_or(StepId(Uuid::nil())),
                item: item.clone(),
                checked: *checked,
            },
            FieldEventBody::Photo(attachment) | FieldEventBody::Signature(_, attachment) => {
                let kind = if matches!(event.body, FieldEventBody::Photo(_)) {
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
            FieldEventBody::Note(_) | FieldEventBody::Time(_) | FieldEventBody::Material(_) => {
                let participant = batch.participates(tx, order_id, self.user).await?;
                if !participant && self.principal.require(Permission::WorkOrdersWrite).is_err() {
                    return Ok(Err(reject(
                        "not_found",
                        "no such work order visible to you",
                    )));
                }
                let time_or_material = !matches!(event.body, FieldEventBody::Note(_));
                if time_or_material
                    && let Some(status) = batch.statuses.get(&order_id)
                    && let Err(r) = Self::order_gate(*status, false)
                {
                    return Ok(Err(r));
                }
                self.entry(batch, event, order_id);
                tx.touch_order(self.principal.tenant_id, order_id);
                return Ok(Ok(()));
            }
            FieldEventBody::Appointment(id, status) => {
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
                    if let FieldEventBody::Signature(..) = event.body {
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
            self.entry(batch, event, order);
        }
        Ok(outcome)
    }

    fn entry(&self, batch: &mut Batch, event: &FieldEvent, order: WorkOrderId) {
        let (kind, data) = match &event.body {
            FieldEventBody::Note(text) => ("note", serde_json::json!({ "text": text })),
            FieldEventBody::Time(t) => (
                "time",
                serde_json::json!({
                    "start": t.start, "end": t.end,
                    "minutes": (t.end - t.start).num_minutes(),
                    "description": t.description,
                }),
            ),
            FieldEventBody::Material(m) => (
                "material",
                serde_json::json!({
                    "item_code": m.item_code, "description": m.description,
                    "quantity": m.quantity, "unit": m.unit,
                }),
            ),
            FieldEventBody::Signature(name, attachment) => (
                "signature",
                serde_json::json!({ "signer_name": name, "attachment_id": attachment }),
            ),
            _ => return,
        };
        batch.entries.push(FieldEntry {
            id: event.id,
            tenant_id: self.principal.tenant_id,
            work_order_id: order,
            step_id: event.step_id.map(StepId),
            kind: kind.to_owned(),
            user_id: self.user,
            device_id: event.device_id.clone(),
            occurred_at: event.occurred_at,
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
    ) -> AppResult<Result<(), Rejection>> {
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
            return Err(AppError::internal(anyhow::anyhow!(
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
            let manage_link = self.status_link(tx, next.id).await?;
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
                    manage_link,
                    sequence: next.sequence,
                },
                self.now,
            )
            .await?;
        }
        Ok(Ok(()))
    }
}

// ---------------------------------------------------------------------------------------
// Field entries

/// The notes, time, material and signatures the field recorded on an order the caller
/// may see, in the order they happened (404 otherwise).
pub async fn field_entries(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
) -> AppResult<Vec<FieldEntry>> {
    workflow::ensure_visible(&app.db, caller, order).await?;
    {
        // Existence only: one row by key, not the order with its steps.
        let mut conn = app.db.acquire().await?;
        work_orders::brief(&mut conn, caller.tenant_id, order)
            .await?
            .ok_or(AppError::NotFound)?;
    }
    Ok(sync::entries(&app.db, caller.tenant_id, order).await?)
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
}
