//! Response bodies of work orders and steps, and the context to build them (names of
//! people, customers and sites, fetched in batches).

use crate::schemas::processes::{EvidenceName, HandlingName, StepBody};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::work_orders::{DetailedOrder, OrderDetails};
use workorders_domain::UserId;
use workorders_domain::work_order::{Channel, Priority, Step};
use workorders_persistence::work_orders::WorkOrderRecord;

/// How an order came in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChannelName {
    Phone,
    Web,
    Api,
    Email,
    WalkIn,
}

const CHANNELS: [(ChannelName, Channel); 5] = [
    (ChannelName::Phone, Channel::Phone),
    (ChannelName::Web, Channel::Web),
    (ChannelName::Api, Channel::Api),
    (ChannelName::Email, Channel::Email),
    (ChannelName::WalkIn, Channel::WalkIn),
];

impl From<ChannelName> for Channel {
    fn from(c: ChannelName) -> Self {
        CHANNELS
            .iter()
            .find(|(n, _)| *n == c)
            .map_or(Channel::Api, |(_, d)| *d)
    }
}

impl From<Channel> for ChannelName {
    fn from(c: Channel) -> Self {
        CHANNELS
            .iter()
            .find(|(_, d)| *d == c)
            .map_or(ChannelName::Api, |(n, _)| *n)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PriorityName {
    Low,
    Normal,
    High,
    Urgent,
}

const PRIORITIES: [(PriorityName, Priority); 4] = [
    (PriorityName::Low, Priority::Low),
    (PriorityName::Normal, Priority::Normal),
    (PriorityName::High, Priority::High),
    (PriorityName::Urgent, Priority::Urgent),
];

impl From<PriorityName> for Priority {
    fn from(p: PriorityName) -> Self {
        PRIORITIES
            .iter()
            .find(|(n, _)| *n == p)
            .map_or(Priority::Normal, |(_, d)| *d)
    }
}

impl From<Priority> for PriorityName {
    fn from(p: Priority) -> Self {
        PRIORITIES
            .iter()
            .find(|(_, d)| *d == p)
            .map_or(PriorityName::Normal, |(n, _)| *n)
    }
}

/// A person, by id and name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRef {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteRef {
    pub id: Uuid,
    pub label: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistItemState {
    pub key: String,
    pub label: String,
    pub required: bool,
    pub checked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    pub kind: EvidenceName,
    pub attachment_id: Uuid,
}

/// A step of an order with its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub position: u32,
    /// Steps of one stage run in parallel; stages run in order.
    pub stage: u32,
    /// `pending`, `active`, `in_progress`, `done` or `skipped`.
    #[schema(example = "active")]
    pub status: String,
    pub handling: HandlingName,
    /// Who holds the step now (always set while it is active or in progress).
    pub responsible: Option<PersonRef>,
    pub activated_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// Open and past its due time.
    pub overdue: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub skip_reason: Option<String>,
    /// How often the step was reopened after being done.
    pub rework_count: u32,
    pub skippable: bool,
    pub checklist: Vec<ChecklistItemState>,
    pub evidence_required: Vec<EvidenceName>,
    pub evidence: Vec<EvidenceView>,
    /// Step actions allowed now.
    #[schema(example = json!(["start", "complete", "reassign"]))]
    pub allowed_actions: Vec<String>,
}

/// A work order with its steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkOrderView {
    pub id: Uuid,
    #[schema(example = "WO-2026-00042")]
    pub number: String,
    /// `open`, `in_progress`, `on_hold`, `completed`, `invoiced`, `closed` or `cancelled`.
    #[schema(example = "in_progress")]
    pub status: String,
    pub channel: ChannelName,
    pub priority: PriorityName,
    pub title: String,
    pub description: Option<String>,
    pub process_id: Uuid,
    pub process_version_id: Uuid,
    pub customer: CustomerRef,
    pub site: SiteRef,
    pub requested_start: Option<DateTime<Utc>>,
    pub requested_end: Option<DateTime<Utc>>,
    /// A step went to the process owner because nobody qualified.
    pub needs_attention: bool,
    pub cancel_reason: Option<String>,
    /// Order actions allowed now.
    #[schema(example = json!(["hold", "cancel"]))]
    pub allowed_actions: Vec<String>,
    pub steps: Vec<StepView>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Names and addresses needed to render orders (read by
/// [`workorders_app::work_orders::details`]).
pub struct ViewContext {
    details: OrderDetails,
}

impl From<OrderDetails> for ViewContext {
    fn from(details: OrderDetails) -> Self {
        Self { details }
    }
}

impl ViewContext {
    pub fn person(&self, id: UserId) -> PersonRef {
        PersonRef {
            id: id.as_uuid(),
            name: self.details.people.get(&id).cloned().unwrap_or_default(),
        }
    }

    pub fn step(
        &self,
        s: &Step,
        order_status: workorders_domain::work_order::OrderStatus,
    ) -> StepView {
        let definition = StepBody::from_definition(&s.definition);
        StepView {
            id: s.id.as_uuid(),
            key: s.definition.key.clone(),
            name: s.definition.name.clone(),
            description: s.definition.description.clone(),
            position: s.position,
            stage: s.stage,
            status: s.status.as_str().to_owned(),
            handling: definition.handling,
            responsible: s.responsible.map(|u| self.person(u)),
            activated_at: s.activated_at,
            due_at: s.due_at,
            overdue: s.status.is_open() && s.due_at.is_some_and(|d| d < self.details.now),
            started_at: s.started_at,
            finished_at: s.finished_at,
            skip_reason: s.skip_reason.clone(),
            rework_count: s.rework_count,
            skippable: s.definition.skippable,
            checklist: s
                .definition
                .checklist
                .iter()
                .map(|c| ChecklistItemState {
                    key: c.key.clone(),
                    label: c.label.clone(),
                    required: c.required,
                    checked: s.checked.contains(&c.key),
                })
                .collect(),
            evidence_required: definition.evidence,
            evidence: s
                .evidence
                .iter()
                .map(|(kind, attachment)| EvidenceView {
                    kind: EvidenceName::from(*kind),
                    attachment_id: attachment.as_uuid(),
                })
                .collect(),
            allowed_actions: s
                .allowed_actions(order_status)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    pub fn order(&self, r: &WorkOrderRecord) -> WorkOrderView {
        let customer = self.details.customers.get(&r.customer_id);
        let site = self.details.sites.get(&r.site_id);
        WorkOrderView {
            id: r.order.id.as_uuid(),
            number: r.number.clone(),
            status: r.order.status.as_str().to_owned(),
            channel: r.channel.into(),
            priority: r.priority.into(),
            title: r.title.clone(),
            description: r.description.clone(),
            process_id: r.process_id.as_uuid(),
            process_version_id: r.process_version_id.as_uuid(),
            customer: CustomerRef {
                id: r.customer_id.as_uuid(),
                name: customer.map(|c| c.name.clone()).unwrap_or_default(),
                email: customer.and_then(|c| c.email.clone()),
                phone: customer.and_then(|c| c.phone.clone()),
            },
            site: SiteRef {
                id: r.site_id.as_uuid(),
                label: site.and_then(|s| s.label.clone()),
                street: site.map(|s| s.street.clone()).unwrap_or_default(),
                postal_code: site.map(|s| s.postal_code.clone()).unwrap_or_default(),
                city: site.map(|s| s.city.clone()).unwrap_or_default(),
                country: site.map(|s| s.country.clone()).unwrap_or_default(),
                latitude: site.and_then(|s| s.latitude),
                longitude: site.and_then(|s| s.longitude),
            },
            requested_start: r.requested_start,
            requested_end: r.requested_end,
            needs_attention: r.order.needs_attention,
            cancel_reason: r.order.cancel_reason.clone(),
            allowed_actions: r
                .order
                .status
                .allowed_actions()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            steps: r
                .order
                .steps
                .iter()
                .map(|s| self.step(s, r.order.status))
                .collect(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            completed_at: r.order.completed_at,
        }
    }
}

/// Renders one order with its details.
pub fn render_detailed(order: DetailedOrder) -> WorkOrderView {
    ViewContext::from(order.details).order(&order.record)
}
