//! Choosing the responsible person for a step: pure functions over the tenant's users.

use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::auth::Role;
use crate::process::Responsible;

/// The tenant's rule for picking among qualified users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentRule {
    /// The qualified user with the fewest open steps (ties: round robin order).
    #[default]
    LeastLoaded,
    /// Qualified users in turn.
    RoundRobin,
}

impl AssignmentRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentRule::LeastLoaded => "least_loaded",
            AssignmentRule::RoundRobin => "round_robin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "least_loaded" => Some(AssignmentRule::LeastLoaded),
            "round_robin" => Some(AssignmentRule::RoundRobin),
            _ => None,
        }
    }
}

/// A user who might take a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: UserId,
    pub role: Role,
    pub skills: Vec<String>,
    pub active: bool,
    /// Steps currently active or in progress with this user.
    pub open_steps: u32,
}

impl Candidate {
    /// Whether this user may hold a step with this responsibility.
    pub fn qualifies(&self, responsible: &Responsible) -> bool {
        if !self.active {
            return false;
        }
        match responsible {
            Responsible::User { user_id } => *user_id == self.id,
            Responsible::Role { role, skills } => {
                self.role == *role && skills.iter().all(|s| self.skills.contains(s))
            }
        }
    }
}

/// Picks a qualified candidate, or `None` if nobody qualifies. `last` is the user picked last
/// time for this pool (round robin continues after them).
pub fn choose(
    responsible: &Responsible,
    candidates: &[Candidate],
    rule: AssignmentRule,
    last: Option<UserId>,
) -> Option<UserId> {
    let mut qualified: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.qualifies(responsible))
        .collect();
    if qualified.is_empty() {
        return None;
    }
    qualified.sort_by_key(|c| c.id);
    // Round-robin order: those after `last` first, then from the start.
    let rotation = |c: &&Candidate| last.is_some_and(|l| c.id <= l);
    qualified.sort_by_key(|c| (rotation(c), c.id));
    match rule {
        AssignmentRule::RoundRobin => qualified.first().map(|c| c.id),
        AssignmentRule::LeastLoaded => {
            let least = qualified.iter().map(|c| c.open_steps).min()?;
            qualified
                .iter()
                .find(|c| c.open_steps == least)
                .map(|c| c.id)
        }
    }
}

/// A key naming the pool of users a responsibility draws from (for round-robin cursors).
pub fn pool_key(responsible: &Responsible) -> String {
    match responsible {
        Responsible::User { user_id } => format!("user:{user_id}"),
        Responsible::Role { role, skills } => {
            let mut skills = skills.clone();
            skills.sort();
            format!("role:{}:{}", role.as_str(), skills.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tech(open: u32, skills: &[&str]) -> Candidate {
        Candidate {
            id: UserId::new(),
            role: Role::Technician,
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            active: true,
            open_steps: open,
        }
    }

    fn role(skills: &[&str]) -> Responsible {
        Responsible::Role {
            role: Role::Technician,
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn skills_narrow_the_pool() {
        let a = tech(0, &["repair"]);
        let b = tech(5, &["glazing", "repair"]);
        let pick = choose(
            &role(&["glazing"]),
            &[a, b.clone()],
            AssignmentRule::LeastLoaded,
            None,
        );
        assert_eq!(pick, Some(b.id));
        assert_eq!(
            choose(&role(&["roofing"]), &[b], AssignmentRule::LeastLoaded, None),
            None
        );
    }

    #[test]
    fn least_loaded_wins_and_inactive_never_does() {
        let busy = tech(3, &[]);
        let free = tech(0, &[]);
        let mut gone = tech(0, &[]);
        gone.active = false;
        let pick = choose(
            &role(&[]),
            &[busy, free.clone(), gone],
            AssignmentRule::LeastLoaded,
            None,
        );
        assert_eq!(pick, Some(free.id));
    }

    #[test]
    fn round_robin_takes_turns() {
        let users = [tech(0, &[]), tech(0, &[]), tech(0, &[])];
        let mut last = None;
        let mut picks = Vec::new();
        for _ in 0..6 {
            let pick = choose(&role(&[]), &users, AssignmentRule::RoundRobin, last);
            picks.push(pick);
            last = pick;
        }
        assert_eq!(picks[0], picks[3]);
        assert_ne!(picks[0], picks[1]);
        assert_ne!(picks[1], picks[2]);
    }

    proptest! {
        /// Whatever the loads, a pick is always a qualified candidate, and there is a pick
        /// whenever someone qualifies.
        #[test]
        fn picks_are_always_qualified(loads in proptest::collection::vec((0u32..5, any::<bool>(), any::<bool>()), 0..8), rr in any::<bool>()) {
            let candidates: Vec<Candidate> = loads
                .iter()
                .map(|(open, active, skilled)| {
                    let mut c = tech(*open, if *skilled { &["glazing"] } else { &[] });
                    c.active = *active;
                    c
                })
                .collect();
            let rule = if rr { AssignmentRule::RoundRobin } else { AssignmentRule::LeastLoaded };
            let responsible = role(&["glazing"]);
            let pick = choose(&responsible, &candidates, rule, None);
            let any_qualified = candidates.iter().any(|c| c.qualifies(&responsible));
            prop_assert_eq!(pick.is_some(), any_qualified);
            if let Some(id) = pick {
                prop_assert!(candidates.iter().any(|c| c.id == id && c.qualifies(&responsible)));
            }
        }
    }
}
