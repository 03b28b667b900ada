//! Process maps: processes, their versioned step lists, publishing and archiving.

use std::collections::HashSet;

use workorders_domain::auth::{Permission, Role};
use workorders_domain::process::{
    ChecklistItem, Evidence, Handling, Responsible, StepDefinition, validate_steps,
};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::user::parse_skills;
use workorders_domain::{ProcessId, UserId, ValidationErrors};
use workorders_persistence::processes::{
    self, ProcessRecord, ProcessStatus, VersionRecord, VersionStatus,
};
use workorders_persistence::{Conn, StoreError, Versioned, users};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, codes, required_version};
use crate::identity::Principal;
use crate::listing::{Cursor, Fetched, page_limit};

/// A step as the caller describes it. Field pointers in refusals name these fields under
/// the step's position (`/steps/0/responsible/skills`, ...).
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub responsible: ResponsibleSpec,
    pub handling: Handling,
    pub target_duration_minutes: Option<u32>,
    pub checklist: Vec<ChecklistItem>,
    pub evidence: Vec<Evidence>,
    pub skippable: bool,
    pub parallel_group: Option<String>,
}

/// Who is responsible: either a role (optionally narrowed by skills) or a named user.
#[derive(Debug, Clone)]
pub struct ResponsibleSpec {
    pub role: Option<Role>,
    pub skills: Vec<String>,
    pub user_id: Option<UserId>,
}

impl StepSpec {
    /// The step definition; what is wrong goes to `errors` under `at`.
    fn into_definition(self, errors: &mut ValidationErrors, at: &str) -> StepDefinition {
        let responsible = match (self.responsible.role, self.responsible.user_id) {
            (Some(role), None) => {
                let skills = errors.check(
                    &format!("{at}/responsible/skills"),
                    parse_skills(&self.responsible.skills),
                );
                Responsible::Role {
                    role,
                    skills: skills.unwrap_or_default(),
                }
            }
            (None, Some(user_id)) => {
                if !self.responsible.skills.is_empty() {
                    errors.add(
                        format!("{at}/responsible/skills"),
                        "skills narrow a role, not a named user",
                    );
                }
                Responsible::User { user_id }
            }
            _ => {
                errors.add(
                    format!("{at}/responsible"),
                    "give either `role` (with optional `skills`) or `user_id`",
                );
                Responsible::Role {
                    role: Role::Owner,
                    skills: vec![],
                }
            }
        };
        StepDefinition {
            key: self.key,
            name: self.name.trim().to_owned(),
            description: self
                .description
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty()),
            responsible,
            handling: self.handling,
            target_duration_minutes: self.target_duration_minutes,
            checklist: self
                .checklist
                .into_iter()
                .map(|c| ChecklistItem {
                    label: c.label.trim().to_owned(),
                    ..c
                })
                .collect(),
            evidence: self.evidence,
            skippable: self.skippable,
            parallel_group: self.parallel_group,
        }
    }
}

/// Converts and validates a step list against the tenant's active users.
async fn parse_steps(
    conn: &mut Conn,
    caller: &Principal,
    steps: Vec<StepSpec>,
    base: &str,
) -> AppResult<Vec<StepDefinition>> {
    let mut errors = ValidationErrors::new();
    let definitions: Vec<StepDefinition> = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.into_definition(&mut errors, &format!("{base}/{i}")))
        .collect();
    let active: HashSet<UserId> = users::all_in(conn, caller.tenant_id)
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| u.id)
        .collect();
    if let Err(more) = validate_steps(&definitions, &active, base) {
        errors.0.extend(more.0);
    }
    errors.finish()?;
    Ok(definitions)
}

/// A process with its versions (newest first).
#[derive(Debug)]
pub struct ProcessDetail {
    pub process: ProcessRecord,
    pub versions: Vec<VersionRecord>,
}

async fn detail(app: &App, process: ProcessRecord) -> AppResult<ProcessDetail> {
    let versions = processes::list_versions(&app.db, process.tenant_id, process.id).await?;
    Ok(ProcessDetail { process, versions })
}

/// The same inside a transaction, before its commit.
async fn detail_on(conn: &mut Conn, process: ProcessRecord) -> AppResult<ProcessDetail> {
    let versions = processes::list_versions_in(conn, process.tenant_id, process.id).await?;
    Ok(ProcessDetail { process, versions })
}

fn name_taken(e: StoreError) -> AppError {
    if e.is_conflict("processes_tenant_name_key") {
        AppError::conflict(codes::PROCESS_NAME_TAKEN, "a process with this name exists")
    } else {
        e.into()
    }
}

fn archived() -> AppError {
    AppError::conflict(codes::PROCESS_ARCHIVED, "the process is archived")
}

fn already_published() -> AppError {
    AppError::conflict(
        codes::VERSION_NOT_DRAFT,
        "this version is already published",
    )
}

/// A new process.
#[derive(Debug, Clone)]
pub struct NewProcess {
    pub name: String,
    pub description: Option<String>,
    /// The steps of a first draft version.
    pub steps: Option<Vec<StepSpec>>,
}

/// Creates a process, with a first draft version when steps are given.
pub async fn create(app: &App, caller: &Principal, new: NewProcess) -> AppResult<ProcessDetail> {
    caller.require(Permission::ProcessesWrite)?;
    let mut errors = ValidationErrors::new();
    let name = errors.check("/name", parse_display_name(&new.name));
    errors.finish()?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let steps = match new.steps {
        Some(steps) => Some(parse_steps(tx.conn(), caller, steps, "/steps").await?),
        None => None,
    };
    let record = ProcessRecord {
        id: ProcessId::new(),
        tenant_id: caller.tenant_id,
        name: name.unwrap_or_default(),
        description: new
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        status: ProcessStatus::Active,
        published_version: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let record = processes::insert(tx.conn(), &record)
        .await
        .map_err(name_taken)?;
    if let Some(steps) = steps {
        processes::insert_version(
            tx.conn(),
            caller.tenant_id,
            record.id,
            &steps,
            caller.user_id(),
            now,
        )
        .await?;
    }
    let detail = detail_on(tx.conn(), record).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Which processes to list.
#[derive(Debug, Clone)]
pub struct ProcessQuery {
    pub limit: Option<i64>,
    pub after: Cursor<ProcessId>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

/// One page of the tenant's processes in id order, each with its versions.
pub async fn list(
    app: &App,
    caller: &Principal,
    query: ProcessQuery,
) -> AppResult<Fetched<ProcessDetail>> {
    caller.require(Permission::ProcessesRead)?;
    let limit = page_limit(query.limit)?;
    let after = query.after.resolve()?;
    let status = match query.status.as_deref() {
        None => None,
        Some("active") => Some(ProcessStatus::Active),
        Some("archived") => Some(ProcessStatus::Archived),
        Some(_) => {
            return Err(AppError::malformed(
                codes::INVALID_QUERY,
                "status is `active` or `archived`",
            ));
        }
    };
    let rows = processes::list(
        &app.db,
        caller.tenant_id,
        status,
        after,
        limit.saturating_add(1),
    )
    .await?;
    let mut details = Vec::with_capacity(rows.len());
    for p in rows {
        details.push(detail(app, p).await?);
    }
    Ok(Fetched {
        rows: details,
        limit,
    })
}

async fn load(app: &App, caller: &Principal, id: ProcessId) -> AppResult<ProcessRecord> {
    processes::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get(app: &App, caller: &Principal, id: ProcessId) -> AppResult<ProcessDetail> {
    caller.require(Permission::ProcessesRead)?;
    let process = load(app, caller, id).await?;
    detail(app, process).await
}

/// A change of a process's name or description (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProcessChange {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Renames a process or changes its description at `expected_version`.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: ProcessId,
    expected_version: Option<i64>,
    change: ProcessChange,
) -> AppResult<ProcessDetail> {
    caller.require(Permission::ProcessesWrite)?;
    let expected = required_version(expected_version)?;
    let mut process = load(app, caller, id).await?;
    let mut errors = ValidationErrors::new();
    if let Some(name) = &change.name {
        process.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    errors.finish()?;
    if let Some(description) = change.description {
        process.description = Some(description.trim().to_owned()).filter(|d| !d.is_empty());
    }
    let mut tx = app.db.begin_write().await?;
    let updated = processes::update(tx.conn(), &process, expected, app.db.now())
        .await
        .map_err(name_taken)?
        .into_app()?;
    let detail = detail_on(tx.conn(), updated).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Adds a draft version with the given ordered steps.
pub async fn create_version(
    app: &App,
    caller: &Principal,
    id: ProcessId,
    steps: Vec<StepSpec>,
) -> AppResult<VersionRecord> {
    caller.require(Permission::ProcessesWrite)?;
    let mut tx = app.db.begin_write().await?;
    let process = processes::get_for_update(tx.conn(), &app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if process.status == ProcessStatus::Archived {
        return Err(archived());
    }
    let steps = parse_steps(tx.conn(), caller, steps, "/steps").await?;
    let version = processes::insert_version(
        tx.conn(),
        caller.tenant_id,
        process.id,
        &steps,
        caller.user_id(),
        app.db.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

pub async fn get_version(
    app: &App,
    caller: &Principal,
    id: ProcessId,
    number: i64,
) -> AppResult<VersionRecord> {
    caller.require(Permission::ProcessesRead)?;
    processes::get_version(&app.db, caller.tenant_id, id, number)
        .await?
        .ok_or(AppError::NotFound)
}

/// Refuses when the caller expects another version than the current one (no expectation:
/// any version).
fn check_version(expected: Option<i64>, current_version: i64) -> AppResult<()> {
    match expected {
        Some(expected) if expected != current_version => Err(AppError::Stale { current_version }),
        _ => Ok(()),
    }
}

/// Publishes a draft version: it becomes immutable, and new orders use the newest
/// published version. `expected_version` (the process's) is optional.
pub async fn publish_version(
    app: &App,
    caller: &Principal,
    id: ProcessId,
    number: i64,
    expected_version: Option<i64>,
) -> AppResult<ProcessDetail> {
    caller.require(Permission::ProcessesWrite)?;
    // Read before the write transaction: a transaction never waits for a second connection.
    let version = processes::get_version(&app.db, caller.tenant_id, id, number)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = app.db.begin_write().await?;
    let process = processes::get_for_update(tx.conn(), &app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_version(expected_version, process.version)?;
    if process.status == ProcessStatus::Archived {
        return Err(archived());
    }
    if version.status == VersionStatus::Published {
        return Err(already_published());
    }
    let updated = match processes::publish_version(
        tx.conn(),
        &process,
        number,
        process.version,
        app.db.now(),
    )
    .await?
    {
        Versioned::Updated(p) => p,
        Versioned::Stale { current_version } => {
            return Err(AppError::Stale { current_version });
        }
        Versioned::NotFound => return Err(already_published()),
    };
    let detail = detail_on(tx.conn(), updated).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Archives a process: it takes no new orders, running orders go on. `expected_version` is
/// optional; archiving an archived process changes nothing.
pub async fn archive(
    app: &App,
    caller: &Principal,
    id: ProcessId,
    expected_version: Option<i64>,
) -> AppResult<ProcessDetail> {
    caller.require(Permission::ProcessesWrite)?;
    let mut process = load(app, caller, id).await?;
    check_version(expected_version, process.version)?;
    if process.status == ProcessStatus::Archived {
        return detail(app, process).await;
    }
    let expected = process.version;
    process.status = ProcessStatus::Archived;
    let mut tx = app.db.begin_write().await?;
    let updated = processes::update(tx.conn(), &process, expected, app.db.now())
        .await?
        .into_app()?;
    let detail = detail_on(tx.conn(), updated).await?;
    tx.commit().await?;
    Ok(detail)
}
