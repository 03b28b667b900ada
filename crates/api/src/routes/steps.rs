//! Work on steps: actions, reassignment, checklist, evidence uploads, and "my work".

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::{attachments, work_orders};
use workorders_domain::process::Evidence;
use workorders_domain::text::{Line, Text};
use workorders_domain::work_order::Command;
use workorders_domain::{AttachmentId, StepId, UserId, WorkOrderId};

use crate::auth::{Caller, Principal};
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, decode_keyed_cursor, encode_keyed_cursor};
use crate::routes::ok_versioned;
use crate::schemas::attachments::AttachmentView;
use crate::schemas::orders::{StepView, ViewContext, render_detailed};
use crate::schemas::processes::EvidenceName;
use crate::state::AppState;

/// Step actions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    Start,
    Complete,
    Skip,
    Reopen,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepActionRequest {
    pub action: StepAction,
    /// Required for `skip`; optional for `reopen` (why the work is redone).
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub reason: Option<Text<1000>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// A user who qualifies for the step (role and skills, or the named user).
    pub user_id: Uuid,
    #[schema(value_type = String, max_length = 1000, example = "Tim is sick today")]
    pub reason: Text<1000>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistRequest {
    /// The checklist item's key.
    #[schema(value_type = String, max_length = 64, example = "measure_openings")]
    pub item: Line<64>,
    pub checked: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    /// `photo` or `signature`.
    pub kind: EvidenceName,
}

/// An open step of the caller, with its order.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyWorkItem {
    pub work_order_id: Uuid,
    #[schema(example = "WO-2026-00042")]
    pub work_order_number: String,
    pub work_order_title: String,
    pub work_order_status: String,
    pub step: StepView,
}

async fn run(
    state: &AppState,
    principal: &Principal,
    path: (Uuid, Uuid),
    if_match: IfMatch,
    make: impl FnOnce(StepId) -> Command,
) -> ApiResult<HttpResponse> {
    let (order, step) = path;
    let order = work_orders::act(
        state,
        principal,
        WorkOrderId(order),
        if_match.0,
        make(StepId(step)),
    )
    .await?;
    let view = render_detailed(order);
    Ok(ok_versioned(view.version, &view))
}

/// Run a step action
///
/// `start`, `complete` (needs every required checklist item checked and the required
/// evidence, else 409 `step_incomplete` listing what is missing), `skip` (only where the
/// process allows it, with a reason) and `reopen` (rework, counted). Completing the last
/// open step completes the order. The step's holder may act on it; dispatchers on any step.
/// `If-Match` (the order's ETag) is optional: with it, of two concurrent requests exactly one
/// wins.
#[utoipa::path(
    operation_id = "runStepAction",
    tag = "work-orders",
    params(
        ("id" = Uuid, Path, description = "Work order id"),
        ("step_id" = Uuid, Path, description = "Step id"),
        ("If-Match" = Option<String>, Header, description = "The order's ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    request_body = StepActionRequest,
    responses(
        (status = 200, description = "The order after the action", body = crate::schemas::orders::WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order or step visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed now (`invalid_transition`), incomplete (`step_incomplete`) or not skippable (`step_not_skippable`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/steps/{step_id}/actions")]
pub async fn run_step_action(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: ValidJson<StepActionRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    run(
        &state,
        &principal,
        path.into_inner(),
        if_match,
        |step| match body.action {
            StepAction::Start => Command::StartStep { step },
            StepAction::Complete => Command::CompleteStep { step },
            StepAction::Skip => Command::SkipStep {
                step,
                reason: body.reason.unwrap_or_default().into_string(),
            },
            StepAction::Reopen => Command::ReopenStep {
                step,
                reason: body.reason.map(String::from),
            },
        },
    )
    .await
}

/// Reassign a step
///
/// Moves an open step to another qualified user, with a reason.
#[utoipa::path(
    operation_id = "reassignStep",
    tag = "work-orders",
    params(
        ("id" = Uuid, Path, description = "Work order id"),
        ("step_id" = Uuid, Path, description = "Step id"),
        ("If-Match" = Option<String>, Header, description = "The order's ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    request_body = ReassignRequest,
    responses(
        (status = 200, description = "The order after the change", body = crate::schemas::orders::WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order or step visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The step is not open (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/steps/{step_id}/reassign")]
pub async fn reassign_step(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: ValidJson<ReassignRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    run(&state, &principal, path.into_inner(), if_match, |step| {
        Command::ReassignStep {
            step,
            to: UserId(body.user_id),
            reason: body.reason.into_string(),
        }
    })
    .await
}

/// Check or uncheck a checklist item
#[utoipa::path(
    operation_id = "setChecklistItem",
    tag = "work-orders",
    params(
        ("id" = Uuid, Path, description = "Work order id"),
        ("step_id" = Uuid, Path, description = "Step id"),
        ("If-Match" = Option<String>, Header, description = "The order's ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    request_body = ChecklistRequest,
    responses(
        (status = 200, description = "The order after the change", body = crate::schemas::orders::WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order or step visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The step is not open (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/steps/{step_id}/checklist")]
pub async fn set_checklist_item(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: ValidJson<ChecklistRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    run(&state, &principal, path.into_inner(), if_match, |step| {
        Command::SetChecklistItem {
            step,
            item: body.item.into_string(),
            checked: body.checked,
        }
    })
    .await
}

/// Content types accepted per kind of evidence.
fn accepted_types(kind: Evidence) -> &'static [&'static str] {
    match kind {
        Evidence::Photo => &["image/jpeg", "image/png", "image/webp", "image/heic"],
        Evidence::Signature => &["image/png", "image/svg+xml"],
    }
}

/// Upload evidence for a step
///
/// The raw file is the request body (`Content-Type` `image/jpeg`, `image/png`, `image/webp`
/// or `image/heic` for photos; `image/png` or `image/svg+xml` for signatures), at most
/// 10 MiB. It is stored and recorded on the step.
#[utoipa::path(
    operation_id = "uploadStepEvidence",
    tag = "work-orders",
    params(
        ("id" = Uuid, Path, description = "Work order id"),
        ("step_id" = Uuid, Path, description = "Step id"),
        EvidenceQuery,
    ),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The file (also image/png, image/webp, image/heic, image/svg+xml)"),
    responses(
        (status = 201, description = "Stored and recorded", body = AttachmentView, headers(("Location" = String))),
        (status = 404, description = "No such order or step visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The step is not open (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 10 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not an accepted image type for this kind", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/steps/{step_id}/evidence")]
pub async fn upload_step_evidence(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<EvidenceQuery>,
) -> ApiResult<HttpResponse> {
    let (order_id, step_id) = path.into_inner();
    let kind = Evidence::from(query.kind);
    let attachment = attachments::record_evidence(
        &state,
        &principal,
        WorkOrderId(order_id),
        StepId(step_id),
        kind,
        async || {
            crate::schemas::attachments::read_upload(&req, payload, |t| {
                accepted_types(kind).contains(&t)
            })
            .await
        },
    )
    .await?;
    let view = AttachmentView::from(attachment);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/attachments/{}", view.id)))
        .json(view))
}

/// Download an attachment
#[utoipa::path(
    operation_id = "getAttachment",
    tag = "work-orders",
    params(("id" = Uuid, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such attachment visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/attachments/{id}")]
pub async fn get_attachment(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (attachment, data) =
        attachments::download(&state, &principal, AttachmentId(id.into_inner())).await?;
    Ok(HttpResponse::Ok()
        .content_type(attachment.content_type.as_str())
        .insert_header((header::ETAG, format!("\"{}\"", attachment.sha256)))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        ))
        .body(data))
}

/// My work
///
/// The caller's open steps across running orders, soonest due first (steps without a due
/// time last).
#[utoipa::path(
    operation_id = "listMyWork",
    tag = "work-orders",
    params(PageQuery),
    responses((status = 200, description = "One page of open steps", body = Page<MyWorkItem>)),
    security(("access_token" = []))
)]
#[get("/me/work")]
pub async fn list_my_work(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .parse()?
    .limit;
    let after = query
        .cursor
        .as_deref()
        .map(decode_keyed_cursor)
        .transpose()?
        .map(|(key, id)| (key, StepId(id)));
    let work = work_orders::my_work(&state, &principal, after, limit).await?;
    let next_cursor = work.next.map(|(key, id)| encode_keyed_cursor(&key, id));
    let context = ViewContext::from(work.details);
    let items: Vec<MyWorkItem> = work
        .steps
        .into_iter()
        .map(|r| MyWorkItem {
            work_order_id: r.work_order_id.as_uuid(),
            work_order_number: r.number,
            work_order_title: r.title,
            work_order_status: r.order_status.as_str().to_owned(),
            step: context.step(&r.step, r.order_status),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}
