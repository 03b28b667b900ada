//! Process maps in requests and answers: step definitions, handlings, evidence.

use crate::schemas::people::RoleName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::processes::{ResponsibleSpec, StepSpec};
use workorders_domain::UserId;
use workorders_domain::process::{ChecklistItem, Evidence, Handling, Responsible, StepDefinition};
use workorders_domain::text::{Line, Text};

/// How a step is handled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HandlingName {
    Manual,
    AutoAssign,
    ScheduleAppointment,
    CreateInvoice,
    SendInvoice,
    NotifyCustomer,
}

const HANDLINGS: [(HandlingName, Handling); 6] = [
    (HandlingName::Manual, Handling::Manual),
    (HandlingName::AutoAssign, Handling::AutoAssign),
    (
        HandlingName::ScheduleAppointment,
        Handling::ScheduleAppointment,
    ),
    (HandlingName::CreateInvoice, Handling::CreateInvoice),
    (HandlingName::SendInvoice, Handling::SendInvoice),
    (HandlingName::NotifyCustomer, Handling::NotifyCustomer),
];

/// Evidence a step can require.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceName {
    Photo,
    Signature,
}

impl From<EvidenceName> for Evidence {
    fn from(e: EvidenceName) -> Self {
        match e {
            EvidenceName::Photo => Evidence::Photo,
            EvidenceName::Signature => Evidence::Signature,
        }
    }
}

impl From<Evidence> for EvidenceName {
    fn from(e: Evidence) -> Self {
        match e {
            Evidence::Photo => EvidenceName::Photo,
            Evidence::Signature => EvidenceName::Signature,
        }
    }
}

/// Who is responsible: either a `role` (optionally narrowed by `skills`) or a `user_id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsibleBody {
    pub role: Option<RoleName>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50, value_type = Vec<String>, example = json!(["glazing"]))]
    pub skills: Vec<Line<50>>,
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItemBody {
    #[schema(value_type = String, max_length = 64, example = "measure_openings")]
    pub key: Line<64>,
    #[schema(value_type = String, max_length = 200, example = "Measure all window openings")]
    pub label: Line<200>,
    /// Must be checked before the step can be completed (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A step of a process version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Stable key, unique in the version: lowercase letters, digits, `_`.
    #[schema(value_type = String, max_length = 64, example = "estimate_visit")]
    pub key: Line<64>,
    #[schema(value_type = String, max_length = 200, example = "Sales rep visits the customer and measures")]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Text<4000>>,
    pub responsible: ResponsibleBody,
    /// Default `manual`.
    #[serde(default = "manual")]
    pub handling: HandlingName,
    /// Past this time after activation the step is overdue.
    #[schema(example = 2880)]
    pub target_duration_minutes: Option<u32>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50)]
    pub checklist: Vec<ChecklistItemBody>,
    /// Evidence required before completion.
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 5>",
        default
    )]
    #[schema(max_items = 5)]
    pub evidence: Vec<EvidenceName>,
    /// May be skipped with a reason (default false).
    #[serde(default)]
    pub skippable: bool,
    /// Consecutive steps with the same group run in parallel.
    #[schema(value_type = Option<String>, max_length = 64)]
    pub parallel_group: Option<Line<64>>,
}

fn manual() -> HandlingName {
    HandlingName::Manual
}

impl StepBody {
    /// The step as the application takes it (checked there, with the tenant's users).
    pub(crate) fn into_spec(self) -> StepSpec {
        StepSpec {
            key: self.key.into_string(),
            name: self.name.into(),
            description: self.description.map(String::from),
            responsible: ResponsibleSpec {
                role: self.responsible.role.map(Into::into),
                skills: self
                    .responsible
                    .skills
                    .into_iter()
                    .map(String::from)
                    .collect(),
                user_id: self.responsible.user_id.map(UserId),
            },
            handling: HANDLINGS
                .iter()
                .find(|(n, _)| *n == self.handling)
                .map_or(Handling::Manual, |(_, h)| *h),
            target_duration_minutes: self.target_duration_minutes,
            checklist: self
                .checklist
                .into_iter()
                .map(|c| ChecklistItem {
                    key: c.key.into_string(),
                    label: c.label.into(),
                    required: c.required,
                })
                .collect(),
            evidence: self.evidence.into_iter().map(Evidence::from).collect(),
            skippable: self.skippable,
            parallel_group: self.parallel_group.map(String::from),
        }
    }

    pub fn from_definition(d: &StepDefinition) -> Self {
        let responsible = match &d.responsible {
            Responsible::Role { role, skills } => ResponsibleBody {
                role: Some((*role).into()),
                skills: skills.iter().cloned().map(Line::trusted).collect(),
                user_id: None,
            },
            Responsible::User { user_id } => ResponsibleBody {
                role: None,
                skills: vec![],
                user_id: Some(user_id.as_uuid()),
            },
        };
        Self {
            key: Line::trusted(d.key.clone()),
            name: Line::trusted(d.name.clone()),
            description: d.description.clone().map(Text::trusted),
            responsible,
            handling: HANDLINGS
                .iter()
                .find(|(_, h)| *h == d.handling)
                .map_or(HandlingName::Manual, |(n, _)| *n),
            target_duration_minutes: d.target_duration_minutes,
            checklist: d
                .checklist
                .iter()
                .map(|c| ChecklistItemBody {
                    key: Line::trusted(c.key.clone()),
                    label: Line::trusted(c.label.clone()),
                    required: c.required,
                })
                .collect(),
            evidence: d.evidence.iter().map(|e| EvidenceName::from(*e)).collect(),
            skippable: d.skippable,
            parallel_group: d.parallel_group.clone().map(Line::trusted),
        }
    }
}
