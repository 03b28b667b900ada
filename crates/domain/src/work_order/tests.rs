//! Unit and property tests of the work-order state machines.

use super::*;
use crate::auth::Role;
use crate::process::{ChecklistItem, Handling};
use proptest::prelude::*;
use std::collections::HashMap;

/// An assigner over a fixed set of technicians, counting loads; optionally nobody qualifies.
struct FakeAssigner {
    users: Vec<UserId>,
    owner: UserId,
    load: HashMap<UserId, u32>,
    nobody_qualifies: bool,
}

impl FakeAssigner {
    fn new(n: usize) -> Self {
        Self {
            users: (0..n).map(|_| UserId::new()).collect(),
            owner: UserId::new(),
            load: HashMap::new(),
            nobody_qualifies: false,
        }
    }
}

impl Assigner for FakeAssigner {
    fn assign(&mut self, _responsible: &Responsible) -> (UserId, bool) {
        if self.nobody_qualifies || self.users.is_empty() {
            return (self.owner, true);
        }
        let user = *self
            .users
            .iter()
            .min_by_key(|u| self.load.get(u).copied().unwrap_or(0))
            .unwrap_or(&self.owner);
        *self.load.entry(user).or_default() += 1;
        (user, false)
    }

    fn qualifies(&self, user: UserId, _responsible: &Responsible) -> bool {
        self.users.contains(&user)
    }

    fn released(&mut self, user: UserId) {
        if let Some(n) = self.load.get_mut(&user) {
            *n = n.saturating_sub(1);
        }
    }

    fn took(&mut self, user: UserId) {
        *self.load.entry(user).or_default() += 1;
    }
}

fn automated(key: &str, handling: Handling) -> StepDefinition {
    StepDefinition {
        handling,
        ..def(key, None, false, false, false)
    }
}

fn def(
    key: &str,
    group: Option<&str>,
    skippable: bool,
    checklist: bool,
    photo: bool,
) -> StepDefinition {
    StepDefinition {
        key: key.to_owned(),
        name: key.to_owned(),
        description: None,
        responsible: Responsible::Role {
            role: Role::Technician,
            skills: vec![],
        },
        handling: Handling::Manual,
        target_duration_minutes: Some(30),
        checklist: if checklist {
            vec![ChecklistItem {
                key: "measure".to_owned(),
                label: "Measure".to_owned(),
                required: true,
            }]
        } else {
            vec![]
        },
        evidence: if photo { vec![Evidence::Photo] } else { vec![] },
        skippable,
        parallel_group: group.map(str::to_owned),
    }
}

fn order(defs: &[StepDefinition], assigner: &mut FakeAssigner) -> (WorkOrder, Vec<Event>) {
    let ids: Vec<StepId> = defs.iter().map(|_| StepId::new()).collect();
    WorkOrder::create(WorkOrderId::new(), defs, ids, Utc::now(), assigner)
}

#[test]
fn creation_activates_the_first_step_with_a_responsible_person() {
    let mut assigner = FakeAssigner::new(2);
    let (o, events) = order(
        &[
            def("a", None, false, false, false),
            def("b", None, false, false, false),
        ],
        &mut assigner,
    );
    assert_eq!(o.status, OrderStatus::Open);
    assert_eq!(o.steps[0].status, StepStatus::Active);
    assert!(o.steps[0].responsible.is_some());
    assert!(o.steps[0].due_at.is_some());
    assert_eq!(o.steps[1].status, StepStatus::Pending);
    assert_eq!(
        events.iter().map(Event::type_name).collect::<Vec<_>>(),
        ["work_order.created", "step.activated"]
    );
}

#[test]
fn completing_every_step_completes_the_order() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(
        &[
            def("a", None, false, false, false),
            def("b", Some("g"), false, false, false),
            def("c", Some("g"), false, false, false),
        ],
        &mut assigner,
    );
    let now = Utc::now();
    let a = o.steps[0].id;
    let events = o
        .handle(Command::CompleteStep { step: a }, now, &mut assigner)
        .expect("completes");
    let types: Vec<_> = events.iter().map(Event::type_name).collect();
    assert_eq!(
        types,
        [
            "step.completed",
            "work_order.started",
            "step.activated",
            "step.activated"
        ],
        "parallel group activates together"
    );
    let (b, c) = (o.steps[1].id, o.steps[2].id);
    o.handle(Command::CompleteStep { step: b }, now, &mut assigner)
        .expect("b");
    let events = o
        .handle(Command::CompleteStep { step: c }, now, &mut assigner)
        .expect("c");
    assert_eq!(
        events.last().map(Event::type_name),
        Some("work_order.completed")
    );
    assert_eq!(o.status, OrderStatus::Completed);
    assert!(o.completed_at.is_some());
}

#[test]
fn invalid_transitions_name_the_state_and_allowed_actions_and_change_nothing() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(
        &[
            def("a", None, false, false, false),
            def("b", None, false, false, false),
        ],
        &mut assigner,
    );
    let before = o.clone();
    let pending = o.steps[1].id;
    let err = o
        .handle(
            Command::StartStep { step: pending },
            Utc::now(),
            &mut assigner,
        )
        .expect_err("pending cannot start");
    assert_eq!(
        err,
        CommandError::InvalidTransition {
            subject: "step",
            action: "start",
            current: "pending",
            allowed: vec![]
        }
    );
    let err = o
        .handle(Command::Close, Utc::now(), &mut assigner)
        .expect_err("open cannot close");
    assert!(
        matches!(err, CommandError::InvalidTransition { current: "open", ref allowed, .. } if allowed == &vec!["hold", "cancel"])
    );
    assert_eq!(o, before);
}

#[test]
fn completion_requires_checklist_and_evidence() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(&[def("a", None, false, true, true)], &mut assigner);
    let a = o.steps[0].id;
    let err = o
        .handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect_err("incomplete");
    assert_eq!(
        err,
        CommandError::Incomplete {
            missing_checklist: vec!["measure".to_owned()],
            missing_evidence: vec![Evidence::Photo]
        }
    );
    o.handle(
        Command::SetChecklistItem {
            step: a,
            item: "measure".to_owned(),
            checked: true,
        },
        Utc::now(),
        &mut assigner,
    )
    .expect("check");
    o.handle(
        Command::RecordEvidence {
            step: a,
            kind: Evidence::Photo,
            attachment: AttachmentId::new(),
        },
        Utc::now(),
        &mut assigner,
    )
    .expect("photo");
    o.handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect("complete");
    assert_eq!(o.status, OrderStatus::Completed);
}

#[test]
fn skipping_needs_permission_and_a_reason() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(
        &[
            def("a", None, false, false, false),
            def("b", None, true, false, false),
        ],
        &mut assigner,
    );
    let (a, b) = (o.steps[0].id, o.steps[1].id);
    assert_eq!(
        o.handle(
            Command::SkipStep {
                step: a,
                reason: "x".into()
            },
            Utc::now(),
            &mut assigner
        ),
        Err(CommandError::NotSkippable)
    );
    assert_eq!(
        o.handle(
            Command::SkipStep {
                step: b,
                reason: "  ".into()
            },
            Utc::now(),
            &mut assigner
        ),
        Err(CommandError::ReasonRequired)
    );
    o.handle(
        Command::SkipStep {
            step: b,
            reason: "customer declined".into(),
        },
        Utc::now(),
        &mut assigner,
    )
    .expect("skip pending");
    o.handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect("complete");
    assert_eq!(o.status, OrderStatus::Completed);
}

#[test]
fn reopening_a_done_step_counts_rework_and_reopens_the_order() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(&[def("a", None, false, false, false)], &mut assigner);
    let a = o.steps[0].id;
    o.handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect("complete");
    let events = o
        .handle(
            Command::ReopenStep {
                step: a,
                reason: Some("leaks".into()),
            },
            Utc::now(),
            &mut assigner,
        )
        .expect("reopen");
    assert_eq!(
        events.iter().map(Event::type_name).collect::<Vec<_>>(),
        ["step.reopened", "step.activated", "work_order.reopened"]
    );
    assert_eq!(o.status, OrderStatus::InProgress);
    assert_eq!(o.steps[0].rework_count, 1);
    assert_eq!(o.steps[0].status, StepStatus::Active);
}

#[test]
fn hold_blocks_step_work_until_resumed() {
    let mut assigner = FakeAssigner::new(1);
    let (mut o, _) = order(&[def("a", None, false, false, false)], &mut assigner);
    let a = o.steps[0].id;
    o.handle(Command::Hold { reason: None }, Utc::now(), &mut assigner)
        .expect("hold");
    let err = o
        .handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect_err("on hold");
    assert!(matches!(
        err,
        CommandError::InvalidTransition {
            current: "on_hold",
            ..
        }
    ));
    o.handle(Command::Resume, Utc::now(), &mut assigner)
        .expect("resume");
    assert_eq!(o.status, OrderStatus::Open);
    o.handle(Command::CompleteStep { step: a }, Utc::now(), &mut assigner)
        .expect("complete");
}

#[test]
fn nobody_qualified_goes_to_the_process_owner_and_flags_the_order() {
    let mut assigner = FakeAssigner::new(0);
    let (o, events) = order(&[def("a", None, false, false, false)], &mut assigner);
    assert_eq!(o.steps[0].responsible, Some(assigner.owner));
    assert!(o.needs_attention);
    assert!(events.iter().any(|e| e.type_name() == "work_order.flagged"));
}

#[test]
fn reassignment_needs_a_qualified_user_and_a_reason() {
    let mut assigner = FakeAssigner::new(2);
    let (mut o, _) = order(&[def("a", None, false, false, false)], &mut assigner);
    let a = o.steps[0].id;
    let other = assigner
        .users
        .iter()
        .copied()
        .find(|u| Some(*u) != o.steps[0].responsible)
        .expect("other");
    assert_eq!(
        o.handle(
            Command::ReassignStep {
                step: a,
                to: UserId::new(),
                reason: "sick".into()
            },
            Utc::now(),
            &mut assigner
        ),
        Err(CommandError::NotQualified)
    );
    assert_eq!(
        o.handle(
            Command::ReassignStep {
                step: a,
                to: other,
                reason: "".into()
            },
            Utc::now(),
            &mut assigner
        ),
        Err(CommandError::ReasonRequired)
    );
    o.handle(
        Command::ReassignStep {
            step: a,
            to: other,
            reason: "sick".into(),
        },
        Utc::now(),
        &mut assigner,
    )
    .expect("reassign");
    assert_eq!(o.steps[0].responsible, Some(other));
}

/// A command picked by index, so that proptest can generate sequences.
fn command_for(o: &WorkOrder, kind: u8, step: usize, users: &[UserId]) -> Command {
    let step = o.steps[step % o.steps.len()].id;
    match kind % 12 {
        0 => Command::StartStep { step },
        1 | 2 => Command::CompleteStep { step },
        3 => Command::SkipStep {
            step,
            reason: "not needed".into(),
        },
        4 => Command::ReopenStep { step, reason: None },
        5 if kind % 24 < 12 => Command::ReassignStep {
            step,
            to: users[step.0.as_u128() as usize % users.len()],
            reason: "swap".into(),
        },
        5 => Command::PlanStep {
            step,
            user: users[step.0.as_u128() as usize % users.len()],
            reason: "booked".into(),
        },
        6 => Command::SetChecklistItem {
            step,
            item: "measure".into(),
            checked: true,
        },
        7 => Command::RecordEvidence {
            step,
            kind: Evidence::Photo,
            attachment: AttachmentId::new(),
        },
        8 => Command::Hold { reason: None },
        9 => Command::Resume,
        10 => Command::Cancel {
            reason: "customer cancelled".into(),
        },
        _ => {
            if kind.is_multiple_of(2) {
                Command::MarkInvoiced
            } else {
                Command::Close
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random command sequences never break the invariants; refused commands change nothing
    /// and produce no events; accepted ones produce events starting with their own type.
    #[test]
    fn random_commands_keep_the_invariants(
        shape in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), 0u8..3), 1..7),
        commands in proptest::collection::vec((any::<u8>(), any::<usize>()), 0..60),
        nobody in any::<bool>(),
    ) {
        let defs: Vec<StepDefinition> = shape
            .iter()
            .enumerate()
            .map(|(i, (skippable, checklist, photo, grouped, g))| {
                let group = if *grouped { Some(format!("g{g}")) } else { None };
                match (g, grouped, skippable) {
                    (0, false, true) => automated(&format!("s{i}"), Handling::AutoAssign),
                    (1, false, true) => automated(&format!("s{i}"), Handling::ScheduleAppointment),
                    _ => def(&format!("s{i}"), group.as_deref(), *skippable, *checklist, *photo),
                }
            })
            .collect();
        // Groups must be consecutive to be valid; drop groups that are not.
        let defs = {
            let mut defs = defs;
            let mut seen = std::collections::HashSet::new();
            let mut previous: Option<String> = None;
            for d in defs.iter_mut() {
                if let Some(g) = d.parallel_group.clone()
                    && previous.as_deref() != Some(g.as_str())
                    && !seen.insert(g.clone())
                {
                    d.parallel_group = None;
                }
                previous = d.parallel_group.clone();
            }
            defs
        };
        let mut assigner = FakeAssigner::new(3);
        assigner.nobody_qualifies = nobody;
        let users = assigner.users.clone();
        let (mut o, created) = order(&defs, &mut assigner);
        prop_assert_eq!(created[0].type_name(), "work_order.created");
        prop_assert!(o.check_invariants().is_ok(), "{:?}", o.check_invariants());
        let mut history: Vec<(usize, Event)> = created.into_iter().map(|e| (0, e)).collect();
        let mut accepted = 1;
        for (n, (kind, step)) in commands.into_iter().enumerate() {
            let command = command_for(&o, kind, step, &users);
            let before = o.clone();
            match o.handle(command.clone(), Utc::now(), &mut assigner) {
                Ok(events) => {
                    prop_assert!(!events.is_empty());
                    prop_assert_eq!(events[0].type_name(), command.primary_event());
                    accepted += 1;
                    history.extend(events.into_iter().map(|e| (n + 1, e)));
                }
                Err(_) => prop_assert_eq!(&o, &before, "a refused command changed the order"),
            }
            prop_assert!(o.check_invariants().is_ok(), "{:?} after {:?}", o.check_invariants(), command);
        }
        let commands_in_history: std::collections::BTreeSet<usize> = history.iter().map(|(n, _)| *n).collect();
        prop_assert_eq!(commands_in_history.len(), accepted);
    }
}

#[test]
fn auto_assign_plans_the_next_step_and_completes_itself() {
    let mut assigner = FakeAssigner::new(2);
    let (o, events) = order(
        &[
            automated("assign", Handling::AutoAssign),
            def("visit", None, false, false, false),
        ],
        &mut assigner,
    );
    assert_eq!(o.steps[0].status, StepStatus::Done);
    assert_eq!(o.steps[1].status, StepStatus::Active);
    assert_eq!(o.status, OrderStatus::Open);
    let types: Vec<_> = events.iter().map(Event::type_name).collect();
    assert_eq!(
        types,
        [
            "work_order.created",
            "step.activated",
            "step.planned",
            "step.completed",
            "step.activated"
        ]
    );
}

#[test]
fn schedule_appointment_completes_once_the_next_step_is_booked() {
    let mut assigner = FakeAssigner::new(2);
    let (mut o, _) = order(
        &[
            automated("book", Handling::ScheduleAppointment),
            def("visit", None, false, false, false),
        ],
        &mut assigner,
    );
    assert_eq!(o.steps[0].status, StepStatus::Active, "waits for a booking");
    let (visit, booked_with) = (o.steps[1].id, assigner.users[1]);
    let events = o
        .handle(
            Command::PlanStep {
                step: visit,
                user: booked_with,
                reason: "appointment".into(),
            },
            Utc::now(),
            &mut assigner,
        )
        .expect("plan");
    let types: Vec<_> = events.iter().map(Event::type_name).collect();
    assert_eq!(types, ["step.planned", "step.completed", "step.activated"]);
    assert_eq!(o.steps[1].responsible, Some(booked_with));
}
