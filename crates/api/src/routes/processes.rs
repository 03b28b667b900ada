//! Process maps: processes, their versioned step lists, publishing and archiving.

use workorders_domain::text::{Line, Text};

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::listing::Cursor;
use workorders_app::processes::{self, NewProcess, ProcessChange, ProcessDetail, ProcessQuery};
use workorders_domain::ProcessId;
use workorders_persistence::processes::VersionRecord;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::routes::{created, ok_versioned};
use crate::schemas::processes::StepBody;
use crate::state::AppState;

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

fn process_view(detail: ProcessDetail) -> ProcessView {
    let ProcessDetail {
        process: p,
        versions,
    } = detail;
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

fn step_specs(steps: Vec<StepBody>) -> Vec<processes::StepSpec> {
    steps.into_iter().map(StepBody::into_spec).collect()
}

impl From<CreateProcessRequest> for NewProcess {
    fn from(body: CreateProcessRequest) -> Self {
        Self {
            name: body.name.into(),
            description: body.description.map(String::from),
            steps: body.steps.map(step_specs),
        }
    }
}

impl From<UpdateProcessRequest> for ProcessChange {
    fn from(body: UpdateProcessRequest) -> Self {
        Self {
            name: body.name.map(String::from),
            description: body.description.map(String::from),
        }
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
    let detail = processes::create(&state, &principal, body.into_inner().into()).await?;
    let view = process_view(detail);
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
    let query = query.into_inner();
    let after = match query.cursor {
        None => Cursor::Start,
        Some(cursor) => match (PageQuery {
            limit: None,
            cursor: Some(cursor),
        })
        .parse()
        {
            Ok(page) => page
                .after
                .map_or(Cursor::Start, |id| Cursor::At(ProcessId(id))),
            Err(_) => Cursor::Unreadable,
        },
    };
    let fetched = processes::list(
        &state,
        &principal,
        ProcessQuery {
            limit: query.limit,
            after,
            status: query.status,
        },
    )
    .await?;
    let page = PageRequest {
        limit: fetched.limit,
        after: None,
    };
    Ok(HttpResponse::Ok().json(Page::from_rows(
        fetched.rows,
        page,
        |p| p.process.id.as_uuid(),
        process_view,
    )))
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
    let detail = processes::get(&state, &principal, ProcessId(id.into_inner())).await?;
    let view = process_view(detail);
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
    let detail = processes::update(
        &state,
        &principal,
        ProcessId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    let view = process_view(detail);
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
    let version = processes::create_version(
        &state,
        &principal,
        ProcessId(id.into_inner()),
        step_specs(body.into_inner().steps),
    )
    .await?;
    let mut response = HttpResponse::Created();
    response.insert_header((
        actix_web::http::header::LOCATION,
        format!(
            "/v1/processes/{}/versions/{}",
            version.process_id, version.number
        ),
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
    let (id, number) = path.into_inner();
    let version = processes::get_version(&state, &principal, ProcessId(id), number).await?;
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
    let (id, number) = path.into_inner();
    let detail =
        processes::publish_version(&state, &principal, ProcessId(id), number, if_match.0).await?;
    let view = process_view(detail);
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
    let detail =
        processes::archive(&state, &principal, ProcessId(id.into_inner()), if_match.0).await?;
    let view = process_view(detail);
    Ok(ok_versioned(view.version, &view))
}
