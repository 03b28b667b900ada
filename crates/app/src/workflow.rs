//! The application layer for work orders: loads the aggregate in a write transaction, lets
//! the domain decide, writes state and history back, all or nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;
use workorders_domain::assign::{AssignmentRule, Candidate, choose, pool_key};
use workorders_domain::auth::{Permission, Role};
use workorders_domain::process::{Handling, Responsible, StepDefinition};
use workorders_domain::work_order::{Assigner, Command, CommandError, Event, WorkOrder};
use workorders_domain::{StepId, TenantId, UserId, WorkOrderId};
use workorders_persistence::work_orders::{self, ActorRef, NewEvent, WorkOrderRecord};
use workorders_persistence::{Conn, Db, WriteTx, billing, tenants, users};

use crate::error::{AppError, AppResult};
use crate::identity::{Actor, Principal};

/// Assigns steps over the tenant's users, loaded once per command.
pub struct DbAssigner {
    candidates: Vec<Candidate>,
    rule: AssignmentRule,
    cursors: HashMap<String, UserId>,
    changed: HashSet<String>,
    fallback: UserId,
}

impl DbAssigner {
    /// Loads users, their open-step loads, the rule, round-robin cursors and the process
    /// owner (the tenant setting, else the first active owner).
    pub async fn load(conn: &mut Conn, tenant: TenantId) -> AppResult<Self> {
        let settings = tenants::get_in(conn, tenant)
            .await?
            .ok_or(AppError::NotFound)?;
        let all = users::all_in(conn, tenant).await?;
        let loads = work_orders::open_step_loads(conn, tenant).await?;
        let cursors = work_orders::assignment_cursors(conn, tenant).await?;
        let candidates: Vec<Candidate> = all
            .iter()
            .map(|u| Candidate {
                id: u.id,
                role: u.role,
                skills: u.skills.clone(),
                active: u.active,
                open_steps: loads.get(&u.id).copied().unwrap_or(0),
            })
            .collect();
        let configured = settings
            .process_owner_id
            .filter(|id| candidates.iter().any(|c| c.id == *id && c.active));
        let fallback = configured
            .or_else(|| {
                candidates
                    .iter()
                    .find(|c| c.active && c.role == Role::Owner)
                    .map(|c| c.id)
            })
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("tenant {tenant} has no active owner"))
            })?;
        Ok(Self {
            candidates,
            rule: settings.assignment_rule,
            cursors,
            changed: HashSet::new(),
            fallback,
        })
    }

    /// Marks a user inactive for the rest of this command (deactivation hands work over).
    pub fn deactivate(&mut self, user: UserId) {
        for c in self.candidates.iter_mut().filter(|c| c.id == user) {
            c.active = false;
        }
        if self.fallback == user
            && let Some(owner) = self
                .candidates
                .iter()
                .find(|c| c.active && c.role == Role::Owner)
        {
            self.fallback = owner.id;
        }
    }

    fn bump(&mut self, user: UserId, delta: i32) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.id == user) {
            c.open_steps = c.open_steps.saturating_add_signed(delta);
        }
    }

    /// Stores the round-robin cursors this command moved.
    pub async fn persist(&self, conn: &mut Conn, tenant: TenantId) -> AppResult<()> {
        for pool in &self.changed {
            if let Some(user) = self.cursors.get(pool) {
                work_orders::set_assignment_cursor(conn, tenant, pool, *user).await?;
            }
        }
        Ok(())
    }
}

impl Assigner for DbAssigner {
    fn assign(&mut self, responsible: &Responsible) -> (UserId, bool) {
        let pool = pool_key(responsible);
        match choose(
            responsible,
            &self.candidates,
            self.rule,
            self.cursors.get(&pool).copied(),
        ) {
            Some(user) => {
                self.bump(user, 1);
                self.cursors.insert(pool.clone(), user);
                self.changed.insert(pool);
                (user, false)
            }
            None => {
                let owner = self.fallback;
                self.bump(owner, 1);
                (owner, true)
            }
        }
    }

    fn qualifies(&self, user: UserId, responsible: &Responsible) -> bool {
        self.candidates
            .iter()
            .any(|c| c.id == user && c.qualifies(responsible))
    }

    fn released(&mut self, user: UserId) {
        self.bump(user, -1);
    }
}

/// The actor recorded in history for a principal.
pub fn actor_of(principal: &Principal) -> ActorRef {
    match &principal.actor {
        Actor::User { id, .. } => ActorRef {
            kind: "user".to_owned(),
            id: Some(id.to_string()),
        },
        Actor::ApiKey { id, .. } => ActorRef {
            kind: "api_key".to_owned(),
            id: Some(id.to_string()),
        },
    }
}

/// History entries for domain events.
pub fn history_entries(events: &[Event]) -> AppResult<Vec<NewEvent>> {
    events
        .iter()
        .map(|e| {
            let mut data = serde_json::to_value(e).map_err(AppError::internal)?;
            if let Some(map) = data.as_object_mut() {
                map.remove("type");
            }
            Ok(NewEvent {
                event_type: e.type_name().to_owned(),
                data,
            })
        })
        .collect()
}

/// Maps a refused command to its problem.
pub fn command_error(error: CommandError) -> AppError {
    match error {
        CommandError::InvalidTransition {
            subject,
            action,
            current,
            allowed,
        } => AppError::InvalidTransition {
            detail: format!(
                "cannot {action} a {subject} that is {current}; allowed now: {}",
                if allowed.is_empty() {
                    "nothing".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
            current_state: current.to_owned(),
            allowed_actions: allowed.into_iter().map(str::to_owned).collect(),
        },
        CommandError::Incomplete {
            missing_checklist,
            missing_evidence,
        } => AppError::StepIncomplete {
            missing_checklist,
            missing_evidence: missing_evidence
                .into_iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
        },
        CommandError::NotSkippable => AppError::conflict(
            crate::error::codes::STEP_NOT_SKIPPABLE,
            "this step may not be skipped",
        ),
        CommandError::ReasonRequired => AppError::invalid("/reason", "a reason is required"),
        CommandError::UnknownStep => AppError::NotFound,
        CommandError::UnknownChecklistItem => {
            AppError::invalid("/item", "no such checklist item in this step")
        }
        CommandError::NotQualified => AppError::invalid(
            "/user_id",
            "this user is not active or does not have the role and skills the step needs",
        ),
    }
}

/// Whether the principal may see this order: everyone with `WorkOrdersRead`; technicians
/// only orders they hold or held a step of. Others get 404, never a hint that it exists.
pub async fn ensure_visible(db: &Db, principal: &Principal, order: WorkOrderId) -> AppResult<()> {
    if principal.require(Permission::WorkOrdersRead).is_ok() {
        return if work_orders::exists(db, principal.tenant_id, order).await? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        };
    }
    if principal.require(Permission::WorkOrdersReadOwn).is_ok()
        && let Some(user) = principal.user_id()
        && work_orders::is_participant(db, order, user).await?
    {
        return Ok(());
    }
    Err(AppError::NotFound)
}

/// Who may run a command: order-level commands and reassignment need `WorkOrdersWrite`
/// (billing commands `BillingWrite`); step work is for the step's holder or `WorkOrdersWrite`.
pub fn authorize(
    principal: &Principal,
    record: &WorkOrderRecord,
    command: &Command,
) -> AppResult<()> {
    let step_holder = |step: &StepId| {
        record.order.step(*step).and_then(|s| s.responsible) == principal.user_id()
            && principal.user_id().is_some()
    };
    match command {
        Command::MarkInvoiced | Command::Close => principal.require(Permission::BillingWrite),
        Command::Hold { .. }
        | Command::Resume
        | Command::Cancel { .. }
        | Command::ReassignStep { .. }
        | Command::HandOver { .. }
        | Command::PlanStep { .. }
        | Command::Flag { .. }
        | Command::ReopenStep { .. } => principal.require(Permission::WorkOrdersWrite),
        Command::StartStep { step }
        | Command::CompleteStep { step }
        | Command::SkipStep { step, .. }
        | Command::SetChecklistItem { step, .. }
        | Command::RecordEvidence { step, .. } => {
            if step_holder(step) && principal.require(Permission::StepsWorkOwn).is_ok() {
                Ok(())
            } else {
                principal.require(Permission::WorkOrdersWrite)
            }
        }
    }
}

/// Writes an order's new state and its history inside `tx`. 412 when the order changed
/// since it was loaded.
pub async fn persist(
    tx: &mut WriteTx,
    record: &mut WorkOrderRecord,
    events: &[Event],
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let expected = record.version;
    if !work_orders::save(tx, record, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    work_orders::add_participants(tx.conn(), record).await?;
    work_orders::append_events(
        tx,
        record.tenant_id,
        record.order.id,
        Uuid::now_v7(),
        actor,
        now,
        &history_entries(events)?,
    )
    .await?;
    queue_automation(tx, record, events, now).await?;
    record.version = expected + 1;
    record.updated_at = now;
    Ok(())
}

/// Steps the server does itself: an activated `create_invoice` or `send_invoice` step
/// becomes a billing job in the same transaction, done by the worker.
pub async fn queue_automation(
    tx: &mut WriteTx,
    record: &WorkOrderRecord,
    events: &[Event],
    now: DateTime<Utc>,
) -> AppResult<()> {
    for event in events {
        if matches!(event, Event::Completed) {
            // A completed order with an issued invoice becomes invoiced (and closed when
            // paid): the worker settles it against its invoices.
            billing::queue_job(
                tx.conn(),
                record.tenant_id,
                record.order.id,
                record.order.id.0,
                "settle_order",
                now,
            )
            .await?;
            tx.notify_billing();
            continue;
        }
        let Event::StepActivated { step_id, .. } = event else {
            continue;
        };
        let Some(step) = record.order.steps.iter().find(|s| s.id == *step_id) else {
            continue;
        };
        let kind = match step.definition.handling {
            Handling::CreateInvoice => "create_invoice",
            Handling::SendInvoice => "send_invoice",
            _ => continue,
        };
        billing::queue_job(
            tx.conn(),
            record.tenant_id,
            record.order.id,
            step_id.0,
            kind,
            now,
        )
        .await?;
        tx.notify_billing();
    }
    Ok(())
}

/// Runs one command on an order: load (locked), check visibility, authority and the
/// expected version, let the domain decide, persist state + history, render the order with
/// the caller's `render` (on the transaction, before the commit, so a stored
/// Idempotency-Key reply is part of the same commit), commit; returns what `render` made.
pub async fn execute<V, E>(
    db: &Db,
    principal: &Principal,
    id: WorkOrderId,
    expected_version: Option<i64>,
    command: Command,
    render: impl AsyncFnOnce(&mut WriteTx, DateTime<Utc>, &WorkOrderRecord) -> Result<V, E>,
) -> Result<V, E>
where
    E: From<AppError>,
{
    ensure_visible(db, principal, id).await?;
    let now = db.now();
    let mut tx = db.begin_write().await.map_err(AppError::from)?;
    let mut record = work_orders::load_for_update(tx.conn(), db, principal.tenant_id, id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound)?;
    authorize(principal, &record, &command)?;
    check_version(expected_version, record.version)?;
    let mut assigner = DbAssigner::load(tx.conn(), principal.tenant_id).await?;
    let events = record
        .order
        .handle(command, now, &mut assigner)
        .map_err(command_error)?;
    persist(&mut tx, &mut record, &events, &actor_of(principal), now).await?;
    assigner.persist(tx.conn(), principal.tenant_id).await?;
    let view = render(&mut tx, now, &record).await?;
    tx.commit().await.map_err(AppError::from)?;
    Ok(view)
}

/// Checks an expected version (when the caller named one) against the current one.
pub fn check_version(expected: Option<i64>, current_version: i64) -> AppResult<()> {
    match expected {
        Some(expected) if expected != current_version => Err(AppError::Stale { current_version }),
        _ => Ok(()),
    }
}

/// Runs a command on behalf of `actor` without a principal (demo data, system jobs).
pub async fn apply_as(
    db: &Db,
    tenant: TenantId,
    id: WorkOrderId,
    actor: &ActorRef,
    command: Command,
) -> AppResult<WorkOrderRecord> {
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let mut record = work_orders::load_for_update(tx.conn(), db, tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut assigner = DbAssigner::load(tx.conn(), tenant).await?;
    let events = record
        .order
        .handle(command, now, &mut assigner)
        .map_err(command_error)?;
    persist(&mut tx, &mut record, &events, actor, now).await?;
    assigner.persist(tx.conn(), tenant).await?;
    tx.commit().await?;
    Ok(record)
}

/// Hands every open step of `user` to `successor` (if they qualify) or by the assignment
/// rule, inside the deactivation's transaction.
pub async fn hand_over(
    tx: &mut WriteTx,
    db: &Db,
    tenant: TenantId,
    user: UserId,
    successor: Option<UserId>,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> AppResult<u32> {
    let mut assigner = DbAssigner::load(tx.conn(), tenant).await?;
    assigner.deactivate(user);
    let mut moved = 0;
    for order_id in work_orders::orders_with_open_steps_of(tx.conn(), tenant, user).await? {
        let Some(mut record) =
            work_orders::load_for_update(tx.conn(), db, tenant, order_id).await?
        else {
            continue;
        };
        let steps: Vec<StepId> = record
            .order
            .steps
            .iter()
            .filter(|s| s.status.is_open() && s.responsible == Some(user))
            .map(|s| s.id)
            .collect();
        let mut events = Vec::new();
        for step in steps {
            let command = Command::HandOver {
                step,
                successor,
                reason: "previous holder was deactivated".to_owned(),
            };
            events.extend(
                record
                    .order
                    .handle(command, now, &mut assigner)
                    .map_err(command_error)?,
            );
            moved += 1;
        }
        if !events.is_empty() {
            persist(tx, &mut record, &events, actor, now).await?;
        }
    }
    assigner.persist(tx.conn(), tenant).await?;
    Ok(moved)
}

/// What a new order needs once customer, site and process are settled.
pub struct NewOrder {
    pub tenant_id: TenantId,
    pub process_id: workorders_domain::ProcessId,
    pub process_version_id: workorders_domain::ProcessVersionId,
    pub steps: Vec<StepDefinition>,
    pub customer_id: workorders_domain::CustomerId,
    pub site_id: workorders_domain::SiteId,
    pub channel: workorders_domain::work_order::Channel,
    pub title: String,
    pub description: Option<String>,
    pub priority: workorders_domain::work_order::Priority,
    pub requested_start: Option<DateTime<Utc>>,
    pub requested_end: Option<DateTime<Utc>>,
}

/// Creates an order inside `tx`: numbers it (`WO-<year>-<seq>`, gap-free), instantiates its
/// steps, activates the first stage, records the history.
pub async fn create(
    tx: &mut WriteTx,
    new: NewOrder,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> AppResult<WorkOrderRecord> {
    let year = now.year();
    let seq = work_orders::next_number(tx.conn(), new.tenant_id, "work_order", year).await?;
    let mut assigner = DbAssigner::load(tx.conn(), new.tenant_id).await?;
    let step_ids: Vec<StepId> = new.steps.iter().map(|_| StepId::new()).collect();
    let (order, events) =
        WorkOrder::create(WorkOrderId::new(), &new.steps, step_ids, now, &mut assigner);
    let record = WorkOrderRecord {
        tenant_id: new.tenant_id,
        number: format!("WO-{year}-{seq:05}"),
        process_id: new.process_id,
        process_version_id: new.process_version_id,
        customer_id: new.customer_id,
        site_id: new.site_id,
        channel: new.channel,
        title: new.title,
        description: new.description,
        priority: new.priority,
        requested_start: new.requested_start,
        requested_end: new.requested_end,
        created_by: actor.clone(),
        version: 1,
        created_at: now,
        updated_at: now,
        order,
    };
    work_orders::insert(tx, &record).await?;
    work_orders::add_participants(tx.conn(), &record).await?;
    let mut entries = history_entries(&events)?;
    if let Some(created) = entries.first_mut() {
        created.data = serde_json::json!({
            "number": record.number,
            "channel": record.channel.as_str(),
            "process_version_id": record.process_version_id,
            "customer_id": record.customer_id,
        });
    }
    work_orders::append_events(
        tx,
        record.tenant_id,
        record.order.id,
        Uuid::now_v7(),
        actor,
        now,
        &entries,
    )
    .await?;
    queue_automation(tx, &record, &events, now).await?;
    assigner.persist(tx.conn(), new.tenant_id).await?;
    Ok(record)
}
