//! The work-order aggregate: the order lifecycle and the step lifecycle as explicit state
//! machines, with the rule that every open step always has exactly one responsible person.
//!
//! Commands are checked against the current state; an accepted command changes the state and
//! returns the events that describe the change (the order's history); a refused command
//! changes nothing and returns an error naming the current state and the allowed actions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use thiserror::Error;

use crate::process::{Evidence, Handling, Responsible, StepDefinition, stages};
use crate::{AttachmentId, StepId, UserId, WorkOrderId};

/// Lifecycle of a work order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    InProgress,
    OnHold,
    Completed,
    Invoiced,
    Closed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Open,
        OrderStatus::InProgress,
        OrderStatus::OnHold,
        OrderStatus::Completed,
        OrderStatus::Invoiced,
        OrderStatus::Closed,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::OnHold => "on_hold",
            OrderStatus::Completed => "completed",
            OrderStatus::Invoiced => "invoiced",
            OrderStatus::Closed => "closed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether work on steps may go on.
    pub fn is_running(self) -> bool {
        matches!(self, OrderStatus::Open | OrderStatus::InProgress)
    }

    /// Order-level actions allowed in this state.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        match self {
            OrderStatus::Open | OrderStatus::InProgress => vec!["hold", "cancel"],
            OrderStatus::OnHold => vec!["resume", "cancel"],
            OrderStatus::Completed => vec!["mark_invoiced"],
            OrderStatus::Invoiced => vec!["close"],
            OrderStatus::Closed | OrderStatus::Cancelled => vec![],
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Active,
    InProgress,
    Done,
    Skipped,
}

impl StepStatus {
    pub const ALL: [StepStatus; 5] = [
        StepStatus::Pending,
        StepStatus::Active,
        StepStatus::InProgress,
        StepStatus::Done,
        StepStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Active => "active",
            StepStatus::InProgress => "in_progress",
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Active or in progress: someone must be working on it.
    pub fn is_open(self) -> bool {
        matches!(self, StepStatus::Active | StepStatus::InProgress)
    }

    /// Done or skipped.
    pub fn is_finished(self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an order came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Web,
    Api,
    Email,
    WalkIn,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Phone,
        Channel::Web,
        Channel::Api,
        Channel::Email,
        Channel::WalkIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "phone",
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Email => "email",
            Channel::WalkIn => "walk_in",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How urgent an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A step instance of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: StepId,
    pub position: u32,
    pub stage: u32,
    pub definition: StepDefinition,
    pub status: StepStatus,
    pub responsible: Option<UserId>,
    /// Who takes the step when it activates (an appointment was booked with them).
    pub planned: Option<UserId>,
    /// Checklist item keys that are checked.
    pub checked: BTreeSet<String>,
    /// Evidence recorded, with the stored file.
    pub evidence: Vec<(Evidence, AttachmentId)>,
    /// How often the step was reopened after being done.
    pub rework_count: u32,
    pub activated_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub skip_reason: Option<String>,
}

impl Step {
    /// Required checklist items not yet checked.
    pub fn missing_checklist(&self) -> Vec<String> {
        self.definition
            .checklist
            .iter()
            .filter(|i| i.required && !self.checked.contains(&i.key))
            .map(|i| i.key.clone())
            .collect()
    }

    /// Required evidence not yet recorded.
    pub fn missing_evidence(&self) -> Vec<Evidence> {
        self.definition
            .evidence
            .iter()
            .filter(|e| !self.evidence.iter().any(|(have, _)| have == *e))
            .copied()
            .collect()
    }

    /// Step actions allowed now, given the order's state.
    pub fn allowed_actions(&self, order: OrderStatus) -> Vec<&'static str> {
        let mut actions = Vec::new();
        if order.is_running() {
            match self.status {
                StepStatus::Pending => {}
                StepStatus::Active => actions.extend(["start", "complete"]),
                StepStatus::InProgress => actions.push("complete"),
                StepStatus::Done | StepStatus::Skipped => actions.push("reopen"),
            }
            if self.definition.skippable && !self.status.is_finished() {
                actions.push("skip");
            }
            if self.status.is_open() {
                actions.push("reassign");
            }
        } else if order == OrderStatus::Completed && self.status.is_finished() {
            actions.push("reopen");
        }
        actions
    }
}

/// A command to the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    StartStep {
        step: StepId,
    },
    CompleteStep {
        step: StepId,
    },
    SkipStep {
        step: StepId,
        reason: String,
    },
    ReopenStep {
        step: StepId,
        reason: Option<String>,
    },
    ReassignStep {
        step: StepId,
        to: UserId,
        reason: String,
    },
    /// Hands an open step over: to `successor` if they qualify, else by the assignment rule
    /// (deactivation of the holder).
    HandOver {
        step: StepId,
        successor: Option<UserId>,
        reason: String,
    },
    /// An appointment for the step was booked with `user`: a pending step will go to them
    /// when it activates; an open step moves to them now.
    PlanStep {
        step: StepId,
        user: UserId,
        reason: String,
    },
    SetChecklistItem {
        step: StepId,
        item: String,
        checked: bool,
    },
    RecordEvidence {
        step: StepId,
        kind: Evidence,
        attachment: AttachmentId,
    },
    Hold {
        reason: Option<String>,
    },
    Resume,
    Cancel {
        reason: String,
    },
    MarkInvoiced,
    Close,
    /// Something automated could not do its work on a step (an invoice that cannot be built
    /// from what was recorded): the order needs a person's attention, with the reason.
    Flag {
        step: StepId,
        reason: String,
    },
}

impl Command {
    /// The event type the command produces first when accepted.
    pub fn primary_event(&self) -> &'static str {
        match self {
            Command::StartStep { .. } => "step.started",
            Command::CompleteStep { .. } => "step.completed",
            Command::SkipStep { .. } => "step.skipped",
            Command::ReopenStep { .. } => "step.reopened",
            Command::ReassignStep { .. } | Command::HandOver { .. } => "step.reassigned",
            Command::SetChecklistItem { .. } => "step.checklist_changed",
            Command::PlanStep { .. } => "step.planned",
            Command::RecordEvidence { .. } => "step.evidence_recorded",
            Command::Hold { .. } => "work_order.held",
            Command::Resume => "work_order.resumed",
            Command::Cancel { .. } => "work_order.cancelled",
            Command::MarkInvoiced => "work_order.invoiced",
            Command::Close => "work_order.closed",
            Command::Flag { .. } => "work_order.flagged",
        }
    }
}

/// Something that happened to an order. Type names are stable (webhooks, analytics).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "work_order.created")]
    Created,
    #[serde(rename = "work_order.started")]
    Started,
    #[serde(rename = "work_order.completed")]
    Completed,
    #[serde(rename = "work_order.reopened")]
    Reopened,
    #[serde(rename = "work_order.held")]
    Held {
        reason: Option<String>,
        from: OrderStatus,
    },
    #[serde(rename = "work_order.resumed")]
    Resumed { to: OrderStatus },
    #[serde(rename = "work_order.cancelled")]
    Cancelled { reason: String, from: OrderStatus },
    #[serde(rename = "work_order.invoiced")]
    Invoiced,
    #[serde(rename = "work_order.closed")]
    Closed,
    /// Nobody qualified for a step: it went to the process owner and needs attention.
    #[serde(rename = "work_order.flagged")]
    Flagged { step_id: StepId, reason: String },
    #[serde(rename = "step.activated")]
    StepActivated {
        step_id: StepId,
        step_key: String,
        responsible: UserId,
        due_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "step.started")]
    StepStarted { step_id: StepId, step_key: String },
    #[serde(rename = "step.completed")]
    StepCompleted {
        step_id: StepId,
        step_key: String,
        responsible: Option<UserId>,
        /// Completed by the system (automated step), not by a person.
        automated: bool,
    },
    #[serde(rename = "step.planned")]
    StepPlanned {
        step_id: StepId,
        step_key: String,
        user: UserId,
        reason: String,
    },
    #[serde(rename = "step.skipped")]
    StepSkipped {
        step_id: StepId,
        step_key: String,
        reason: String,
        from: StepStatus,
    },
    #[serde(rename = "step.reopened")]
    StepReopened {
        step_id: StepId,
        step_key: String,
        reason: Option<String>,
        from: StepStatus,
        rework_count: u32,
    },
    #[serde(rename = "step.reassigned")]
    StepReassigned {
        step_id: StepId,
        step_key: String,
        from: Option<UserId>,
        to: UserId,
        reason: String,
    },
    #[serde(rename = "step.checklist_changed")]
    ChecklistChanged {
        step_id: StepId,
        item: String,
        checked: bool,
    },
    #[serde(rename = "step.evidence_recorded")]
    EvidenceRecorded {
        step_id: StepId,
        kind: Evidence,
        attachment_id: AttachmentId,
    },
}

impl Event {
    /// The stable type name (`step.completed`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Created => "work_order.created",
            Event::Started => "work_order.started",
            Event::Completed => "work_order.completed",
            Event::Reopened => "work_order.reopened",
            Event::Held { .. } => "work_order.held",
            Event::Resumed { .. } => "work_order.resumed",
            Event::Cancelled { .. } => "work_order.cancelled",
            Event::Invoiced => "work_order.invoiced",
            Event::Closed => "work_order.closed",
            Event::Flagged { .. } => "work_order.flagged",
            Event::StepActivated { .. } => "step.activated",
            Event::StepStarted { .. } => "step.started",
            Event::StepCompleted { .. } => "step.completed",
            Event::StepPlanned { .. } => "step.planned",
            Event::StepSkipped { .. } => "step.skipped",
            Event::StepReopened { .. } => "step.reopened",
            Event::StepReassigned { .. } => "step.reassigned",
            Event::ChecklistChanged { .. } => "step.checklist_changed",
            Event::EvidenceRecorded { .. } => "step.evidence_recorded",
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("cannot {action} a {subject} that is {current}")]
    InvalidTransition {
        subject: &'static str,
        action: &'static str,
        current: &'static str,
        allowed: Vec<&'static str>,
    },
    #[error(
        "the step is not finished: missing checklist items {missing_checklist:?}, missing evidence {missing_evidence:?}"
    )]
    Incomplete {
        missing_checklist: Vec<String>,
        missing_evidence: Vec<Evidence>,
    },
    #[error("this step may not be skipped")]
    NotSkippable,
    #[error("a reason is required")]
    ReasonRequired,
    #[error("no such step in this order")]
    UnknownStep,
    #[error("no such checklist item in this step")]
    UnknownChecklistItem,
    #[error("the user does not qualify for this step")]
    NotQualified,
}

/// Chooses responsible people. Implemented over the tenant's users by the application; the
/// aggregate only asks.
pub trait Assigner {
    /// The user who takes a step that activates, and whether it is a fallback (nobody
    /// qualified, so the process owner takes it).
    fn assign(&mut self, responsible: &Responsible) -> (UserId, bool);
    /// Whether `user` may hold a step with this responsibility.
    fn qualifies(&self, user: UserId, responsible: &Responsible) -> bool;
    /// `user` no longer holds one open step (load bookkeeping).
    fn released(&mut self, _user: UserId) {}
    /// `user` holds one more open step without having been chosen by `assign`.
    fn took(&mut self, _user: UserId) {}
}

/// The work-order aggregate (the part that the state machines govern).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkOrder {
    pub id: WorkOrderId,
    pub status: OrderStatus,
    /// The state to return to on resume.
    pub held_from: Option<OrderStatus>,
    pub steps: Vec<Step>,
    /// A step had to go to the process owner because nobody qualified.
    pub needs_attention: bool,
    pub cancel_reason: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
}

fn invalid(
    subject: &'static str,
    action: &'static str,
    current: &'static str,
    allowed: Vec<&'static str>,
) -> CommandError {
    CommandError::InvalidTransition {
        subject,
        action,
        current,
        allowed,
    }
}

impl WorkOrder {
    /// A new order for a process version's steps: the first stage activates at once.
    pub fn create(
        id: WorkOrderId,
        definitions: &[StepDefinition],
        step_ids: impl IntoIterator<Item = StepId>,
        now: DateTime<Utc>,
        assigner: &mut dyn Assigner,
    ) -> (Self, Vec<Event>) {
        let stage_of = stages(definitions);
        let steps = definitions
            .iter()
            .zip(step_ids)
            .enumerate()
            .map(|(i, (definition, id))| Step {
                id,
                position: u32::try_from(i).unwrap_or(u32::MAX),
                stage: u32::try_from(stage_of[i]).unwrap_or(u32::MAX),
                definition: definition.clone(),
                status: StepStatus::Pending,
                responsible: None,
                planned: None,
                checked: BTreeSet::new(),
                evidence: Vec::new(),
                rework_count: 0,
                activated_at: None,
                due_at: None,
                started_at: None,
                finished_at: None,
                skip_reason: None,
            })
            .collect();
        let mut order = WorkOrder {
            id,
            status: OrderStatus::Open,
            held_from: None,
            steps,
            needs_attention: false,
            cancel_reason: None,
            completed_at: None,
        };
        let mut events = vec![Event::Created];
        order.advance(now, assigner, &mut events);
        (order, events)
    }

    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    fn step_index(&self, id: StepId) -> Result<usize, CommandError> {
        self.steps
            .iter()
            .position(|s| s.id == id)
            .ok_or(CommandError::UnknownStep)
    }

    /// Checks and applies a command. On error nothing changed.
    pub fn handle(
        &mut self,
        command: Command,
        now: DateTime<Utc>,
        assigner: &mut dyn Assigner,
    ) -> Result<Vec<Event>, CommandError> {
        let mut next = self.clone();
        let events = next.apply(command, now, assigner)?;
        *self = next;
        Ok(events)
    }

    fn require_running(&self, index: usize, action: &'static str) -> Result<(), CommandError> {
        if self.status.is_running() {
            Ok(())
        } else {
            Err(invalid(
                "step of an order",
                action,
                self.status.as_str(),
                self.steps[index].allowed_actions(self.status),
            ))
        }
    }

    fn step_invalid(&self, index: usize, action: &'static str) -> CommandError {
        let step = &self.steps[index];
        invalid(
            "step",
            action,
            step.status.as_str(),
            step.allowed_actions(self.status),
        )
    }

    fn order_invalid(&self, action: &'static str) -> CommandError {
        invalid(
            "work order",
            action,
            self.status.as_str(),
            self.status.allowed_actions(),
        )
    }

    fn apply(
        &mut self,
        command: Command,
        now: DateTime<Utc>,
        assigner: &mut dyn Assigner,
    ) -> Result<Vec<Event>, CommandError> {
        let mut events = Vec::new();
        match command {
            Command::Flag { step, reason } => {
                self.step_index(step)?;
                self.needs_attention = true;
                events.push(Event::Flagged {
                    step_id: step,
                    reason,
                });
            }
            Command::StartStep { step } => {
                let i = self.step_index(step)?;
                self.require_running(i, "start")?;
                if self.steps[i].status != StepStatus::Active {
                    return Err(self.step_invalid(i, "start"));
                }
                let s = &mut self.steps[i];
                s.status = StepStatus::InProgress;
                s.started_at = Some(now);
                events.push(Event::StepStarted {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                });
                self.mark_started(&mut events);
            }
            Command::CompleteStep { step } => {
                let i = self.step_index(step)?;
                self.require_running(i, "complete")?;
                if !self.steps[i].status.is_open() {
                    return Err(self.step_invalid(i, "complete"));
                }
                let (missing_checklist, missing_evidence) = (
                    self.steps[i].missing_checklist(),
                    self.steps[i].missing_evidence(),
                );
                if !missing_checklist.is_empty() || !missing_evidence.is_empty() {
                    return Err(CommandError::Incomplete {
                        missing_checklist,
                        missing_evidence,
                    });
                }
                let s = &mut self.steps[i];
                s.status = StepStatus::Done;
                s.finished_at = Some(now);
                let responsible = s.responsible;
                events.push(Event::StepCompleted {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    responsible,
                    automated: false,
                });
                if let Some(user) = responsible {
                    assigner.released(user);
                }
                self.mark_started(&mut events);
                self.advance(now, assigner, &mut events);
            }
            Command::SkipStep { step, reason } => {
                let i = self.step_index(step)?;
                self.require_running(i, "skip")?;
                if self.steps[i].status.is_finished() {
                    return Err(self.step_invalid(i, "skip"));
                }
                if !self.steps[i].definition.skippable {
                    return Err(CommandError::NotSkippable);
                }
                let reason = reason.trim().to_owned();
                if reason.is_empty() {
                    return Err(CommandError::ReasonRequired);
                }
                let s = &mut self.steps[i];
                let from = s.status;
                if from.is_open()
                    && let Some(user) = s.responsible
                {
                    assigner.released(user);
                }
                s.status = StepStatus::Skipped;
                s.finished_at = Some(now);
                s.skip_reason = Some(reason.clone());
                events.push(Event::StepSkipped {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    reason,
                    from,
                });
                self.advance(now, assigner, &mut events);
            }
            Command::ReopenStep { step, reason } => {
                let i = self.step_index(step)?;
                let order_ok = self.status.is_running() || self.status == OrderStatus::Completed;
                if !order_ok || !self.steps[i].status.is_finished() {
                    return Err(self.step_invalid(i, "reopen"));
                }
                let (user, fallback) = assigner.assign(&self.steps[i].definition.responsible);
                let s = &mut self.steps[i];
                let from = s.status;
                if from == StepStatus::Done {
                    s.rework_count += 1;
                }
                s.status = StepStatus::Active;
                s.responsible = Some(user);
                s.activated_at = Some(now);
                s.due_at = s
                    .definition
                    .target_duration_minutes
                    .map(|m| now + Duration::minutes(i64::from(m)));
                s.started_at = None;
                s.finished_at = None;
                s.skip_reason = None;
                let reason = reason
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty());
                events.push(Event::StepReopened {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    reason,
                    from,
                    rework_count: s.rework_count,
                });
                events.push(Event::StepActivated {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    responsible: user,
                    due_at: s.due_at,
                });
                let step_id = s.id;
                if fallback {
                    self.flag(step_id, &mut events);
                }
                if self.status == OrderStatus::Completed {
                    self.status = OrderStatus::InProgress;
                    self.completed_at = None;
                    events.push(Event::Reopened);
                }
            }
            Command::ReassignStep { step, to, reason } => {
                let i = self.step_index(step)?;
                self.require_running(i, "reassign")?;
                if !self.steps[i].status.is_open() {
                    return Err(self.step_invalid(i, "reassign"));
                }
                let reason = reason.trim().to_owned();
                if reason.is_empty() {
                    return Err(CommandError::ReasonRequired);
                }
                if !assigner.qualifies(to, &self.steps[i].definition.responsible) {
                    return Err(CommandError::NotQualified);
                }
                let s = &mut self.steps[i];
                let from = s.responsible;
                if let Some(user) = from {
                    assigner.released(user);
                }
                s.responsible = Some(to);
                events.push(Event::StepReassigned {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    from,
                    to,
                    reason,
                });
            }
            Command::HandOver {
                step,
                successor,
                reason,
            } => {
                let i = self.step_index(step)?;
                if !self.steps[i].status.is_open() {
                    return Err(self.step_invalid(i, "hand over"));
                }
                let responsible = self.steps[i].definition.responsible.clone();
                let (to, fallback) = match successor {
                    Some(user) if assigner.qualifies(user, &responsible) => (user, false),
                    _ => assigner.assign(&responsible),
                };
                let s = &mut self.steps[i];
                let from = s.responsible;
                if let Some(user) = from {
                    assigner.released(user);
                }
                s.responsible = Some(to);
                let step_id = s.id;
                events.push(Event::StepReassigned {
                    step_id,
                    step_key: s.definition.key.clone(),
                    from,
                    to,
                    reason,
                });
                if fallback {
                    self.flag(step_id, &mut events);
                }
            }
            Command::SetChecklistItem {
                step,
                item,
                checked,
            } => {
                let i = self.step_index(step)?;
                self.require_running(i, "update the checklist of")?;
                if !self.steps[i].status.is_open() {
                    return Err(self.step_invalid(i, "update the checklist of"));
                }
                let s = &mut self.steps[i];
                if !s.definition.checklist.iter().any(|c| c.key == item) {
                    return Err(CommandError::UnknownChecklistItem);
                }
                if checked {
                    s.checked.insert(item.clone());
                } else {
                    s.checked.remove(&item);
                }
                events.push(Event::ChecklistChanged {
                    step_id: s.id,
                    item,
                    checked,
                });
            }
            Command::PlanStep { step, user, reason } => {
                let i = self.step_index(step)?;
                let running = self.status.is_running() || self.status == OrderStatus::OnHold;
                if !running || self.steps[i].status.is_finished() {
                    return Err(self.step_invalid(i, "plan"));
                }
                let s = &mut self.steps[i];
                let step_id = s.id;
                let key = s.definition.key.clone();
                s.planned = Some(user);
                events.push(Event::StepPlanned {
                    step_id,
                    step_key: key.clone(),
                    user,
                    reason: reason.clone(),
                });
                if s.status.is_open() && s.responsible != Some(user) {
                    let from = s.responsible;
                    if let Some(old) = from {
                        assigner.released(old);
                    }
                    assigner.took(user);
                    s.responsible = Some(user);
                    events.push(Event::StepReassigned {
                        step_id,
                        step_key: key,
                        from,
                        to: user,
                        reason,
                    });
                }
                if self.status.is_running() {
                    let stage = self
                        .steps
                        .iter()
                        .filter(|s| !s.status.is_finished())
                        .map(|s| s.stage)
                        .min();
                    if let Some(stage) = stage
                        && self.run_automations(stage, now, assigner, &mut events)
                    {
                        self.advance(now, assigner, &mut events);
                    }
                }
            }
            Command::RecordEvidence {
                step,
                kind,
                attachment,
            } => {
                let i = self.step_index(step)?;
                self.require_running(i, "record evidence for")?;
                if !self.steps[i].status.is_open() {
                    return Err(self.step_invalid(i, "record evidence for"));
                }
                let s = &mut self.steps[i];
                s.evidence.push((kind, attachment));
                events.push(Event::EvidenceRecorded {
                    step_id: s.id,
                    kind,
                    attachment_id: attachment,
                });
            }
            Command::Hold { reason } => {
                if !self.status.is_running() {
                    return Err(self.order_invalid("hold"));
                }
                let from = self.status;
                self.held_from = Some(from);
                self.status = OrderStatus::OnHold;
                events.push(Event::Held {
                    reason: reason
                        .map(|r| r.trim().to_owned())
                        .filter(|r| !r.is_empty()),
                    from,
                });
            }
            Command::Resume => {
                if self.status != OrderStatus::OnHold {
                    return Err(self.order_invalid("resume"));
                }
                let to = self.held_from.take().unwrap_or(OrderStatus::Open);
                self.status = to;
                events.push(Event::Resumed { to });
            }
            Command::Cancel { reason } => {
                if !(self.status.is_running() || self.status == OrderStatus::OnHold) {
                    return Err(self.order_invalid("cancel"));
                }
                let reason = reason.trim().to_owned();
                if reason.is_empty() {
                    return Err(CommandError::ReasonRequired);
                }
                let from = self.status;
                for s in &self.steps {
                    if s.status.is_open()
                        && let Some(user) = s.responsible
                    {
                        assigner.released(user);
                    }
                }
                self.status = OrderStatus::Cancelled;
                self.held_from = None;
                self.cancel_reason = Some(reason.clone());
                events.push(Event::Cancelled { reason, from });
            }
            Command::MarkInvoiced => {
                if self.status != OrderStatus::Completed {
                    return Err(self.order_invalid("mark_invoiced"));
                }
                self.status = OrderStatus::Invoiced;
                events.push(Event::Invoiced);
            }
            Command::Close => {
                if self.status != OrderStatus::Invoiced {
                    return Err(self.order_invalid("close"));
                }
                self.status = OrderStatus::Closed;
                events.push(Event::Closed);
            }
        }
        Ok(events)
    }

    /// `open` becomes `in_progress` once work has begun.
    fn mark_started(&mut self, events: &mut Vec<Event>) {
        if self.status == OrderStatus::Open {
            self.status = OrderStatus::InProgress;
            events.push(Event::Started);
        }
    }

    fn flag(&mut self, step_id: StepId, events: &mut Vec<Event>) {
        self.needs_attention = true;
        events.push(Event::Flagged {
            step_id,
            reason: "nobody qualified for the step; it went to the process owner".to_owned(),
        });
    }

    /// Activates the pending steps of the first unfinished stage, or completes the order when
    /// every step is done or skipped. Automated steps finish themselves: `auto_assign` plans
    /// the next stage's people and completes; `schedule_appointment` completes once the next
    /// stage already has its appointment (a planned person).
    fn advance(
        &mut self,
        now: DateTime<Utc>,
        assigner: &mut dyn Assigner,
        events: &mut Vec<Event>,
    ) {
        loop {
            let next_stage = self
                .steps
                .iter()
                .filter(|s| !s.status.is_finished())
                .map(|s| s.stage)
                .min();
            let Some(stage) = next_stage else {
                if self.status.is_running() {
                    self.status = OrderStatus::Completed;
                    self.completed_at = Some(now);
                    events.push(Event::Completed);
                }
                return;
            };
            let mut flagged = Vec::new();
            for s in self
                .steps
                .iter_mut()
                .filter(|s| s.stage == stage && s.status == StepStatus::Pending)
            {
                let planned = s
                    .planned
                    .filter(|p| assigner.qualifies(*p, &s.definition.responsible));
                let (user, fallback) = match planned.or(s.planned) {
                    Some(user) => {
                        assigner.took(user);
                        (user, false)
                    }
                    None => assigner.assign(&s.definition.responsible),
                };
                s.status = StepStatus::Active;
                s.responsible = Some(user);
                s.activated_at = Some(now);
                s.due_at = s
                    .definition
                    .target_duration_minutes
                    .map(|m| now + Duration::minutes(i64::from(m)));
                events.push(Event::StepActivated {
                    step_id: s.id,
                    step_key: s.definition.key.clone(),
                    responsible: user,
                    due_at: s.due_at,
                });
                if fallback {
                    flagged.push(s.id);
                }
            }
            for step_id in flagged {
                self.flag(step_id, events);
            }
            if !self.run_automations(stage, now, assigner, events) {
                return;
            }
        }
    }

    /// Completes the automated steps of `stage` that can complete; true if any did.
    fn run_automations(
        &mut self,
        stage: u32,
        now: DateTime<Utc>,
        assigner: &mut dyn Assigner,
        events: &mut Vec<Event>,
    ) -> bool {
        let next_stage = stage + 1;
        let next_planned = self
            .steps
            .iter()
            .filter(|s| s.stage == next_stage)
            .all(|s| s.planned.is_some());
        let has_next = self.steps.iter().any(|s| s.stage == next_stage);
        let mut completed_any = false;
        let automated: Vec<usize> = (0..self.steps.len())
            .filter(|i| {
                let s = &self.steps[*i];
                s.stage == stage
                    && s.status == StepStatus::Active
                    && match s.definition.handling {
                        Handling::AutoAssign => true,
                        Handling::ScheduleAppointment => has_next && next_planned,
                        _ => false,
                    }
            })
            .collect();
        for i in automated {
            if self.steps[i].definition.handling == Handling::AutoAssign {
                // Decide now who takes the next stage, so it is known before it starts.
                let next: Vec<usize> = (0..self.steps.len())
                    .filter(|j| {
                        self.steps[*j].stage == next_stage && self.steps[*j].planned.is_none()
                    })
                    .collect();
                for j in next {
                    let (user, _) = assigner.assign(&self.steps[j].definition.responsible);
                    assigner.released(user);
                    let t = &mut self.steps[j];
                    t.planned = Some(user);
                    events.push(Event::StepPlanned {
                        step_id: t.id,
                        step_key: t.definition.key.clone(),
                        user,
                        reason: "assigned automatically".to_owned(),
                    });
                }
            }
            let s = &mut self.steps[i];
            s.status = StepStatus::Done;
            s.finished_at = Some(now);
            if let Some(user) = s.responsible {
                assigner.released(user);
            }
            events.push(Event::StepCompleted {
                step_id: s.id,
                step_key: s.definition.key.clone(),
                responsible: s.responsible,
                automated: true,
            });
            completed_any = true;
        }
        completed_any
    }

    /// The invariants every state must satisfy; `Err` names the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        for s in &self.steps {
            if s.status.is_open() && s.responsible.is_none() {
                return Err(format!(
                    "open step {} has no responsible person",
                    s.definition.key
                ));
            }
        }
        if matches!(
            self.status,
            OrderStatus::Completed | OrderStatus::Invoiced | OrderStatus::Closed
        ) && self.steps.iter().any(|s| !s.status.is_finished())
        {
            return Err(format!("order is {} but a step is unfinished", self.status));
        }
        if self.status.is_running() && self.steps.iter().all(|s| s.status.is_finished()) {
            return Err("every step is finished but the order is still running".to_owned());
        }
        if self.status.is_running() && !self.steps.iter().any(|s| s.status.is_open()) {
            return Err("a running order has no open step".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
