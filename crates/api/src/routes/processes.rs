//! Process maps: processes, their versioned step lists, publishing and archiving.

use std::collections::HashSet;
use workorders_domain::text::{Line, Text};

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::process::{StepDefinition, validate_steps};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::{ProcessId, UserId, ValidationErrors};
use workorders_persistence::processes::{
    self, ProcessRecord, ProcessStatus, VersionRecord, VersionStatus,
};
use workorders_persistence::{Conn, users};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt, codes};
use crate::extract::{IfMatch, ValidJson, check_version};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, ok_versioned};
use crate::schemas::processes::StepBody;
use crate::state::AppState;
use workorders_persistence::Versioned;

/// Converts and validates a step list against the tenant's active users.
async fn parse_steps(
    conn: &mut Conn,
    principal: &Principal,
    steps: Vec<StepBody>,
    base: &str,
) -> ApiResult<Vec<StepDefinition>> {
    let mut errors = ValidationErrors::new();
    let definitions: Vec<StepDefinition> = steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.into_definition(&mut errors, &format!("{base}/{i}")))
        .collect();
    let active: HashSet<UserId> = users::all_in(conn, principal.tenant_id)
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

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    pub number: i64,
    #[schema(example = "published")]
    pub status: &'static str,
    pub step_count: usize,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// A process (kind of job) with its versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessView {
    pub id: Uuid,
    #[schema(example = "Fenstertausch")]
    pub name: String,
    pub description: Option<String>,
    /// `active` or `archived` (archived processes take no new orders).
    #[schema(example = "active")]
    pub status: &'static str,
    /// The version new orders use; `null` until one is published.
    pub published_version: Option<i64>,
    /// Newest first.
    pub versions: Vec<VersionSummary>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One version of a process's step list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessVersionView {
    pub id: Uuid,
    pub process_id: Uuid,
    pub number: i64,
    /// `draft` or `published` (immutable).
    #[schema(example = "draft")]
    pub status: &'static str,
    pub steps: Vec<StepBody>,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

fn version_view(v: &VersionRecord) -> ProcessVersionView {
    ProcessVersionView {
        id: v.id.as_uuid(),
        process_id: v.process_id.as_uuid(),
        number: v.number,
        status: v.status.as_str(),
        steps: v.steps.iter().map(StepBody::from_definition).collect(),
        created_at: v.created_at,
        published_at: v.published_at,
    }
}

fn process_view(p: ProcessRecord, versions: &[VersionRecord]) -> ProcessView {
    ProcessView {
        id: p.id.as_uuid(),
        name: p.name,
        description: p.description,
        status: p.status.as_str(),
        published_version: p.published_version,
        versions: versions
            .iter()
            .map(|v| VersionSummary {
                number: v.number,
                status: v.status.as_str(),
                step_count: v.steps.len(),
                created_at: v.created_at,
                published_at: v.published_at,
            })
            .collect(),
        version: p.version,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

async fn view_of(state: &AppState, p: ProcessRecord) -> ApiResult<ProcessView> {
    let versions = processes::list_versions(&state.db, p.tenant_id, p.id).await?;
    Ok(process_view(p, &versions))
}

/// The same inside a transaction, before its commit.
async fn view_in(
    tx: &mut workorders_persistence::WriteTx,
    p: ProcessRecord,
) -> ApiResult<ProcessView> {
    let versions = processes::list_versions_in(tx.conn(), p.tenant_id, p.id).await?;
    Ok(process_view(p, &versions))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProcessRequest {
    #[schema(value_type = String, example = "Fenstertausch", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Text<4000>>,
    /// Optional steps of a first draft version.
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 100>"
    )]
    #[schema(max_items = 100)]
    pub steps: Option<Vec<StepBody>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProcessRequest {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Text<4000>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersionRequest {
    #[serde(deserialize_with = "workorders_domain::bounds::capped::<_, _, 100>")]
    #[schema(max_items = 100)]
    pub steps: Vec<StepBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProcessListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

fn name_taken(e: workorders_persistence::StoreError) -> ApiError {
    if e.is_conflict("processes_tenant_name_key") {
        ApiError::conflict(codes::PROCESS_NAME_TAKEN, "a process with this name exists")
    } else {
        e.into()
    }
}

/// Create a process
///
/// A process is one kind of job ("Fenstertausch"). With `steps`, a first draft version is
/// created too; publish it to take orders.
#[utoipa::path(
    operation_id = "createProcess",
    tag = "processes",
    request_body = CreateProcessRequest,
    responses(
        (status = 201, description = "Process created", body = ProcessView, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The name is taken (`process_name_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[post("/processes")]
pub async fn create_process(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateProcessRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesWrite)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    let name = errors.check("/name", parse_display_name(&body.name));
    errors.finish()?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let steps = match body.steps {
        Some(steps) => Some(parse_steps(tx.conn(), &principal, steps, "/steps").await?),
        None => None,
    };
    let record = ProcessRecord {
        id: ProcessId::new(),
        tenant_id: principal.tenant_id,
        name: name.unwrap_or_default(),
        description: body
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
            principal.tenant_id,
            record.id,
            &steps,
            principal.user_id(),
            now,
        )
        .await?;
    }
    let view = view_in(&mut tx, record).await?;
    tx.commit().await?;
    Ok(created(
        format!("/v1/processes/{}", view.id),
        view.version,
        &view,
    ))
}

/// List processes
#[utoipa::path(
    operation_id = "listProcesses",
    tag = "processes",
    params(ProcessListQuery),
    responses((status = 200, description = "One page of processes", body = Page<ProcessView>)),
    security(("access_token" = []), ("api_key" = ["processes:read"]))
)]
#[get("/processes")]
pub async fn list_processes(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<ProcessListQuery>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let status = match query.status.as_deref() {
        None => None,
        Some("active") => Some(ProcessStatus::Active),
        Some("archived") => Some(ProcessStatus::Archived),
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                "status is `active` or `archived`",
            ));
        }
    };
    let rows = processes::list(
        &state.db,
        principal.tenant_id,
        status,
        page.after.map(ProcessId),
        fetch_limit(page),
    )
    .await?;
    let mut views = Vec::with_capacity(rows.len());
    for p in rows {
        views.push(view_of(&state, p).await?);
    }
    Ok(HttpResponse::Ok().json(Page::from_rows(views, page, |p| p.id, |p| p)))
}

async fn load(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<ProcessRecord> {
    processes::get(&state.db, principal.tenant_id, ProcessId(id))
        .await?
        .ok_or(ApiError::NotFound)
}

/// Get a process
#[utoipa::path(
    operation_id = "getProcess",
    tag = "processes",
    params(("id" = Uuid, Path, description = "Process id")),
    responses(
        (status = 200, description = "The process", body = ProcessView, headers(("ETag" = String))),
        (status = 404, description = "No such process in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:read"]))
)]
#[get("/processes/{id}")]
pub async fn get_process(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesRead)?;
    let process = load(&state, &principal, id.into_inner()).await?;
    let view = view_of(&state, process).await?;
    Ok(ok_versioned(view.version, &view))
}

/// Update a process
///
/// Renames it or changes its description (steps change through new versions). Requires
/// `If-Match`.
#[utoipa::path(
    operation_id = "updateProcess",
    tag = "processes",
    params(("id" = Uuid, Path, description = "Process id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateProcessRequest,
    responses(
        (status = 200, description = "The process", body = ProcessView, headers(("ETag" = String))),
        (status = 404, description = "No such process in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken (`process_name_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[patch("/processes/{id}")]
pub async fn update_process(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateProcessRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesWrite)?;
    let expected = if_match.required()?;
    let mut process = load(&state, &principal, id.into_inner()).await?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    if let Some(name) = &body.name {
        process.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    errors.finish()?;
    if let Some(description) = body.description {
        process.description = Some(description.trim().to_owned()).filter(|d| !d.is_empty());
    }
    let mut tx = state.db.begin_write().await?;
    let updated = processes::update(tx.conn(), &process, expected, state.db.now())
        .await
        .map_err(name_taken)?
        .into_api()?;
    let view = view_in(&mut tx, updated).await?;
    tx.commit().await?;
    Ok(ok_versioned(view.version, &view))
}

/// Create a process version
///
/// A new draft with the given ordered steps. Validation rejects an empty list, duplicate
/// keys, unknown users, bad skills and split parallel groups.
#[utoipa::path(
    operation_id = "createProcessVersion",
    tag = "processes",
    params(("id" = Uuid, Path, description = "Process id")),
    request_body = CreateVersionRequest,
    responses(
        (status = 201, description = "Draft created", body = ProcessVersionView, headers(("Location" = String))),
        (status = 404, description = "No such process in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The process is archived (`process_archived`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[post("/processes/{id}/versions")]
pub async fn create_process_version(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<CreateVersionRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesWrite)?;
    let mut tx = state.db.begin_write().await?;
    let process = processes::get_for_update(
        tx.conn(),
        &state.db,
        principal.tenant_id,
        ProcessId(id.into_inner()),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    if process.status == ProcessStatus::Archived {
        return Err(ApiError::conflict(
            codes::PROCESS_ARCHIVED,
            "the process is archived",
        ));
    }
    let steps = parse_steps(tx.conn(), &principal, body.into_inner().steps, "/steps").await?;
    let version = processes::insert_version(
        tx.conn(),
        principal.tenant_id,
        process.id,
        &steps,
        principal.user_id(),
        state.db.now(),
    )
    .await?;
    tx.commit().await?;
    let mut response = HttpResponse::Created();
    response.insert_header((
        actix_web::http::header::LOCATION,
        format!("/v1/processes/{}/versions/{}", process.id, version.number),
    ));
    Ok(response.json(version_view(&version)))
}

/// Get a process version
#[utoipa::path(
    operation_id = "getProcessVersion",
    tag = "processes",
    params(("id" = Uuid, Path, description = "Process id"), ("number" = i64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The version with its steps", body = ProcessVersionView),
        (status = 404, description = "No such process or version", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:read"]))
)]
#[get("/processes/{id}/versions/{number}")]
pub async fn get_process_version(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, i64)>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesRead)?;
    let (id, number) = path.into_inner();
    let version = processes::get_version(&state.db, principal.tenant_id, ProcessId(id), number)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(version_view(&version)))
}

/// Publish a process version
///
/// The draft becomes immutable; new orders use the newest published version, running orders
/// keep theirs. `If-Match` (the process's ETag) is optional.
#[utoipa::path(
    operation_id = "publishProcessVersion",
    tag = "processes",
    params(
        ("id" = Uuid, Path, description = "Process id"),
        ("number" = i64, Path, description = "Version number"),
        ("If-Match" = Option<String>, Header, description = "The process's ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    responses(
        (status = 200, description = "The process", body = ProcessView, headers(("ETag" = String))),
        (status = 404, description = "No such process or version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already published (`version_not_draft`) or archived (`process_archived`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[post("/processes/{id}/versions/{number}/publish")]
pub async fn publish_process_version(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, i64)>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesWrite)?;
    let (id, number) = path.into_inner();
    // Read before the write transaction: a transaction never waits for a second connection.
    let version = processes::get_version(&state.db, principal.tenant_id, ProcessId(id), number)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin_write().await?;
    let process =
        processes::get_for_update(tx.conn(), &state.db, principal.tenant_id, ProcessId(id))
            .await?
            .ok_or(ApiError::NotFound)?;
    check_version(if_match, process.version)?;
    if process.status == ProcessStatus::Archived {
        return Err(ApiError::conflict(
            codes::PROCESS_ARCHIVED,
            "the process is archived",
        ));
    }
    if version.status == VersionStatus::Published {
        return Err(ApiError::conflict(
            codes::VERSION_NOT_DRAFT,
            "this version is already published",
        ));
    }
    let updated = match processes::publish_version(
        tx.conn(),
        &process,
        number,
        process.version,
        state.db.now(),
    )
    .await?
    {
        Versioned::Updated(p) => p,
        Versioned::Stale { current_version } => {
            return Err(ApiError::PreconditionFailed { current_version });
        }
        Versioned::NotFound => {
            return Err(ApiError::conflict(
                codes::VERSION_NOT_DRAFT,
                "this version is already published",
            ));
        }
    };
    let view = view_in(&mut tx, updated).await?;
    tx.commit().await?;
    Ok(ok_versioned(view.version, &view))
}

/// Archive a process
///
/// Takes no new orders; running orders go on. `If-Match` is optional.
#[utoipa::path(
    operation_id = "archiveProcess",
    tag = "processes",
    params(("id" = Uuid, Path, description = "Process id"), ("If-Match" = Option<String>, Header, description = "Expected ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    responses(
        (status = 200, description = "The archived process", body = ProcessView, headers(("ETag" = String))),
        (status = 404, description = "No such process in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["processes:write"]))
)]
#[post("/processes/{id}/archive")]
pub async fn archive_process(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::ProcessesWrite)?;
    let mut process = load(&state, &principal, id.into_inner()).await?;
    check_version(if_match, process.version)?;
    if process.status == ProcessStatus::Archived {
        let view = view_of(&state, process).await?;
        return Ok(ok_versioned(view.version, &view));
    }
    let expected = process.version;
    process.status = ProcessStatus::Archived;
    let mut tx = state.db.begin_write().await?;
    let updated = processes::update(tx.conn(), &process, expected, state.db.now())
        .await?
        .into_api()?;
    let view = view_in(&mut tx, updated).await?;
    tx.commit().await?;
    Ok(ok_versioned(view.version, &view))
}
