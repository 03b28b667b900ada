//! Bookable services: what customers can book on the company website, configured by staff.

use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::{Permission, Role};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::user::parse_skills;
use workorders_domain::{ProcessId, ServiceId, ValidationErrors};
use workorders_persistence::processes;
use workorders_persistence::services::{self, ServiceRecord};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, required_version};
use crate::identity::Principal;

/// A service as staff describe it. Field pointers in refusals name these fields
/// (`/duration_minutes`, `/postal_code_prefixes`, ...).
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub description: Option<String>,
    /// The process an order for this service follows (its newest published version).
    pub process_id: ProcessId,
    /// The step of that process the appointment serves.
    pub step_key: String,
    pub duration_minutes: u32,
    pub role: Role,
    pub skills: Vec<String>,
    pub lead_time_minutes: u32,
    pub horizon_days: u32,
    pub granularity_minutes: u32,
    pub postal_code_prefixes: Vec<String>,
    pub radius_km: Option<f64>,
    /// Default `least_loaded`.
    pub assignment_rule: Option<AssignmentRule>,
    pub active: bool,
}

/// Validates `spec` into a record (id and times from `base`).
async fn parse(
    app: &App,
    caller: &Principal,
    spec: ServiceSpec,
    mut base: ServiceRecord,
) -> AppResult<ServiceRecord> {
    let mut errors = ValidationErrors::new();
    base.name = errors
        .check("/name", parse_display_name(&spec.name))
        .unwrap_or_default();
    base.skills = errors
        .check("/skills", parse_skills(&spec.skills))
        .unwrap_or_default();
    if !(5..=1440).contains(&spec.duration_minutes) {
        errors.add("/duration_minutes", "5 to 1440 minutes");
    }
    if !(1..=365).contains(&spec.horizon_days) {
        errors.add("/horizon_days", "1 to 365 days");
    }
    if !(5..=240).contains(&spec.granularity_minutes) {
        errors.add("/granularity_minutes", "5 to 240 minutes");
    }
    if spec.lead_time_minutes > 60 * 24 * 90 {
        errors.add("/lead_time_minutes", "at most 90 days");
    }
    if spec.radius_km.is_some_and(|r| !(r > 0.0 && r <= 1000.0)) {
        errors.add("/radius_km", "between 0 and 1000 km");
    }
    let prefixes: Vec<String> = spec
        .postal_code_prefixes
        .iter()
        .map(|p| p.trim().to_owned())
        .collect();
    if prefixes
        .iter()
        .any(|p| p.is_empty() || p.len() > 10 || !p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        errors.add(
            "/postal_code_prefixes",
            "prefixes are 1 to 10 letters or digits",
        );
    }
    match processes::get(&app.db, caller.tenant_id, spec.process_id).await? {
        None => errors.add("/process_id", "no such process in this tenant"),
        Some(p) => {
            let version = match p.published_version {
                Some(n) => processes::get_version(&app.db, caller.tenant_id, p.id, n).await?,
                None => None,
            };
            match version {
                None => errors.add("/process_id", "the process has no published version"),
                Some(v) if !v.steps.iter().any(|s| s.key == spec.step_key) => {
                    errors.add(
                        "/step_key",
                        "no step with this key in the published version",
                    );
                }
                Some(_) => {}
            }
        }
    }
    errors.finish()?;
    base.description = spec
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    base.process_id = spec.process_id;
    base.step_key = spec.step_key;
    base.duration_minutes = spec.duration_minutes;
    base.role = spec.role;
    base.lead_time_minutes = spec.lead_time_minutes;
    base.horizon_days = spec.horizon_days;
    base.granularity_minutes = spec.granularity_minutes;
    base.postal_prefixes = prefixes;
    base.radius_km = spec.radius_km;
    base.assignment_rule = spec.assignment_rule.unwrap_or(AssignmentRule::LeastLoaded);
    base.active = spec.active;
    Ok(base)
}

pub async fn create(app: &App, caller: &Principal, spec: ServiceSpec) -> AppResult<ServiceRecord> {
    caller.require(Permission::ProcessesWrite)?;
    let now = app.db.now();
    let base = ServiceRecord {
        id: ServiceId::new(),
        tenant_id: caller.tenant_id,
        name: String::new(),
        description: None,
        process_id: ProcessId::new(),
        step_key: String::new(),
        duration_minutes: 60,
        role: Role::Technician,
        skills: Vec::new(),
        lead_time_minutes: 0,
        horizon_days: 28,
        granularity_minutes: 30,
        postal_prefixes: Vec::new(),
        radius_km: None,
        assignment_rule: AssignmentRule::LeastLoaded,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let record = parse(app, caller, spec, base).await?;
    let mut tx = app.db.begin_write().await?;
    let record = services::insert(tx.conn(), &record).await?;
    tx.commit().await?;
    Ok(record)
}

/// Every service of the caller's tenant, the inactive ones too.
pub async fn list(app: &App, caller: &Principal) -> AppResult<Vec<ServiceRecord>> {
    caller.require(Permission::ProcessesRead)?;
    Ok(services::list(&app.db, caller.tenant_id, false).await?)
}

pub async fn get(app: &App, caller: &Principal, id: ServiceId) -> AppResult<ServiceRecord> {
    caller.require(Permission::ProcessesRead)?;
    services::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Replaces a service at `expected_version`.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: ServiceId,
    expected_version: Option<i64>,
    spec: ServiceSpec,
) -> AppResult<ServiceRecord> {
    caller.require(Permission::ProcessesWrite)?;
    let expected = required_version(expected_version)?;
    let current = services::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let record = parse(app, caller, spec, current).await?;
    let mut tx = app.db.begin_write().await?;
    let saved = services::update(tx.conn(), &record, expected, app.db.now())
        .await?
        .into_app()?;
    tx.commit().await?;
    Ok(saved)
}
