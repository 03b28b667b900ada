//! Process maps: the ordered steps a kind of job goes through, and who owns each step.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use crate::auth::Role;
use crate::user::parse_skills;
use crate::{UserId, ValidationErrors};

/// Most steps a process version may have.
pub const MAX_STEPS: usize = 100;

/// Who is responsible for a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Responsible {
    /// A user with this role (and all these skills), chosen by the tenant's assignment rule.
    Role { role: Role, skills: Vec<String> },
    /// This named user.
    User { user_id: UserId },
}

/// How a step is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    Manual,
    AutoAssign,
    ScheduleAppointment,
    CreateInvoice,
    SendInvoice,
    NotifyCustomer,
}

impl Handling {
    pub const ALL: [Handling; 6] = [
        Handling::Manual,
        Handling::AutoAssign,
        Handling::ScheduleAppointment,
        Handling::CreateInvoice,
        Handling::SendInvoice,
        Handling::NotifyCustomer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Manual => "manual",
            Handling::AutoAssign => "auto_assign",
            Handling::ScheduleAppointment => "schedule_appointment",
            Handling::CreateInvoice => "create_invoice",
            Handling::SendInvoice => "send_invoice",
            Handling::NotifyCustomer => "notify_customer",
        }
    }
}

/// Evidence a step needs before it can be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    Photo,
    Signature,
}

impl Evidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Photo => "photo",
            Evidence::Signature => "signature",
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Evidence {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "photo" => Ok(Evidence::Photo),
            "signature" => Ok(Evidence::Signature),
            _ => Err(()),
        }
    }
}

/// One item of a step's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub key: String,
    pub label: String,
    /// Required items must be checked before the step can be completed.
    pub required: bool,
}

/// A step of a process version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDefinition {
    /// Stable key, unique in the version (`estimate_visit`).
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub responsible: Responsible,
    pub handling: Handling,
    /// How long the step should take once active; past it, the step is overdue.
    pub target_duration_minutes: Option<u32>,
    pub checklist: Vec<ChecklistItem>,
    pub evidence: Vec<Evidence>,
    /// Whether the step may be skipped (with a reason).
    pub skippable: bool,
    /// Consecutive steps with the same group run in parallel.
    pub parallel_group: Option<String>,
}

/// A key: 1 to 64 lowercase letters, digits and `_`, starting with a letter.
pub fn parse_key(text: &str) -> Result<String, &'static str> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(
            "keys have 1 to 64 characters: lowercase letters, digits and `_`, starting with a letter",
        )
    }
}

/// What a validation of a step list needs to know about the tenant.
pub trait KnownUsers {
    /// Whether the user exists in the tenant and is active.
    fn is_active_user(&self, user: UserId) -> bool;
}

impl KnownUsers for HashSet<UserId> {
    fn is_active_user(&self, user: UserId) -> bool {
        self.contains(&user)
    }
}

/// Checks a step list: not empty, at most [`MAX_STEPS`], unique step keys, unique checklist
/// keys per step, known users, valid skills, parallel groups consecutive. Pointers are
/// relative to `base` (e.g. `/steps`).
pub fn validate_steps(
    steps: &[StepDefinition],
    users: &dyn KnownUsers,
    base: &str,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if steps.is_empty() {
        errors.add(base, "a process needs at least one step");
    }
    if steps.len() > MAX_STEPS {
        errors.add(base, format!("at most {MAX_STEPS} steps"));
    }
    let mut keys = HashSet::new();
    let mut closed_groups: HashSet<&str> = HashSet::new();
    let mut previous_group: Option<&str> = None;
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{base}/{i}");
        if let Err(e) = parse_key(&step.key) {
            errors.add(format!("{at}/key"), e);
        } else if !keys.insert(step.key.as_str()) {
            errors.add(
                format!("{at}/key"),
                format!("duplicate step key `{}`", step.key),
            );
        }
        if step.name.trim().is_empty() || step.name.chars().count() > 200 {
            errors.add(format!("{at}/name"), "must have 1 to 200 characters");
        }
        if step
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 4000)
        {
            errors.add(format!("{at}/description"), "at most 4000 characters");
        }
        match &step.responsible {
            Responsible::User { user_id } => {
                if !users.is_active_user(*user_id) {
                    errors.add(
                        format!("{at}/responsible/user_id"),
                        "no active user with this id in this tenant",
                    );
                }
            }
            Responsible::Role { skills, .. } => {
                if let Err(e) = parse_skills(skills) {
                    errors.add(format!("{at}/responsible/skills"), e.to_string());
                }
            }
        }
        if step.target_duration_minutes == Some(0) {
            errors.add(format!("{at}/target_duration_minutes"), "must be positive");
        }
        let mut item_keys = HashSet::new();
        for (j, item) in step.checklist.iter().enumerate() {
            if let Err(e) = parse_key(&item.key) {
                errors.add(format!("{at}/checklist/{j}/key"), e);
            } else if !item_keys.insert(item.key.as_str()) {
                errors.add(
                    format!("{at}/checklist/{j}/key"),
                    format!("duplicate checklist key `{}`", item.key),
                );
            }
            if item.label.trim().is_empty() || item.label.chars().count() > 200 {
                errors.add(
                    format!("{at}/checklist/{j}/label"),
                    "must have 1 to 200 characters",
                );
            }
        }
        if step.checklist.len() > 50 {
            errors.add(format!("{at}/checklist"), "at most 50 items");
        }
        let unique_evidence: HashSet<_> = step.evidence.iter().collect();
        if unique_evidence.len() != step.evidence.len() {
            errors.add(
                format!("{at}/evidence"),
                "each kind of evidence at most once",
            );
        }
        let group = step.parallel_group.as_deref();
        if let Some(g) = group {
            if parse_key(g).is_err() {
                errors.add(
                    format!("{at}/parallel_group"),
                    "group names follow the key rules",
                );
            } else if previous_group != Some(g) && closed_groups.contains(g) {
                errors.add(
                    format!("{at}/parallel_group"),
                    format!("the steps of group `{g}` must be consecutive"),
                );
            }
        }
        if previous_group != group
            && let Some(p) = previous_group
        {
            closed_groups.insert(p);
        }
        previous_group = group;
    }
    errors.finish()
}

/// Stage index of each step: consecutive steps of one parallel group share a stage; every
/// other step is a stage of its own. Stages run one after the other.
pub fn stages(steps: &[StepDefinition]) -> Vec<usize> {
    let mut result = Vec::with_capacity(steps.len());
    let mut stage = 0;
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            let same_group =
                step.parallel_group.is_some() && step.parallel_group == steps[i - 1].parallel_group;
            if !same_group {
                stage += 1;
            }
        }
        result.push(stage);
    }
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn step(key: &str) -> StepDefinition {
        StepDefinition {
            key: key.to_owned(),
            name: format!("Step {key}"),
            description: None,
            responsible: Responsible::Role {
                role: Role::Technician,
                skills: vec![],
            },
            handling: Handling::Manual,
            target_duration_minutes: Some(60),
            checklist: vec![],
            evidence: vec![],
            skippable: false,
            parallel_group: None,
        }
    }

    fn pointers(result: Result<(), ValidationErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.0.into_iter().map(|f| f.pointer).collect())
            .unwrap_or_default()
    }

    #[test]
    fn empty_and_duplicate_steps_are_rejected() {
        let users: HashSet<UserId> = HashSet::new();
        assert_eq!(pointers(validate_steps(&[], &users, "/steps")), ["/steps"]);
        assert_eq!(
            pointers(validate_steps(&[step("a"), step("a")], &users, "/steps")),
            ["/steps/1/key"]
        );
        let mut named = step("b");
        named.responsible = Responsible::User {
            user_id: UserId::new(),
        };
        assert_eq!(
            pointers(validate_steps(&[named], &users, "/steps")),
            ["/steps/0/responsible/user_id"]
        );
    }

    #[test]
    fn parallel_groups_must_be_consecutive() {
        let users: HashSet<UserId> = HashSet::new();
        let grouped = |key: &str, g: Option<&str>| StepDefinition {
            parallel_group: g.map(str::to_owned),
            ..step(key)
        };
        let ok = [
            grouped("a", None),
            grouped("b", Some("g")),
            grouped("c", Some("g")),
            grouped("d", None),
        ];
        assert!(validate_steps(&ok, &users, "/steps").is_ok());
        assert_eq!(stages(&ok), [0, 1, 1, 2]);
        let split = [
            grouped("a", Some("g")),
            grouped("b", None),
            grouped("c", Some("g")),
        ];
        assert_eq!(
            pointers(validate_steps(&split, &users, "/steps")),
            ["/steps/2/parallel_group"]
        );
    }
}
