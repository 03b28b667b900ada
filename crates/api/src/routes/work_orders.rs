//! Work orders: intake from any channel, lists with filters, details, descriptive changes,
//! order actions and the history.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::customers::{CustomerInput, SiteInput};
use workorders_app::work_orders::{self, NewWorkOrder, OrderChanges, OrderQuery};
use workorders_domain::text::{Line, Text};
use workorders_domain::work_order::{Command, Priority};
use workorders_domain::{CustomerId, ProcessId, SiteId, UserId, WorkOrderId};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::customers::{CreateCustomerRequest, CreateSiteRequest};
use crate::schemas::orders::{
    ChannelName, PriorityName, ViewContext, WorkOrderView, render_detailed,
};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkOrderRequest {
    /// The process; its newest published version is pinned to the order.
    pub process_id: Uuid,
    pub channel: ChannelName,
    /// An existing customer, or `customer` to create one.
    pub customer_id: Option<Uuid>,
    pub customer: Option<CreateCustomerRequest>,
    /// An existing site of the customer, or `site` to create one. May be left out when the
    /// customer has exactly one site.
    pub site_id: Option<Uuid>,
    pub site: Option<CreateSiteRequest>,
    #[schema(value_type = String,
        example = "Replace three windows, ground floor",
        min_length = 1,
        max_length = 200
    )]
    pub title: Line<200>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Text<4000>>,
    /// Default `normal`.
    pub priority: Option<PriorityName>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub requested_start: Option<DateTime<Utc>>,
    /// When the customer wants the work done by.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub requested_end: Option<DateTime<Utc>>,
}

/// Absent fields stay; `null` clears optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkOrderRequest {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub title: Option<Line<200>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 4000, value_type = Option<String>)]
    pub description: Option<Option<Text<4000>>>,
    pub priority: Option<PriorityName>,
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::double_opt_instant"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub requested_start: Option<Option<DateTime<Utc>>>,
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::double_opt_instant"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub requested_end: Option<Option<DateTime<Utc>>>,
}

/// Order-level actions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    Hold,
    Resume,
    Cancel,
    MarkInvoiced,
    Close,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderActionRequest {
    pub action: OrderAction,
    /// Required for `cancel`, optional for `hold`.
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub reason: Option<Text<1000>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkOrderListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `open`, `in_progress`, `on_hold`, `completed`, `invoiced`, `closed`, `cancelled`.
    pub status: Option<String>,
    pub process_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// Orders where this user holds an open step.
    pub responsible_id: Option<Uuid>,
    pub channel: Option<ChannelName>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub created_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub created_to: Option<DateTime<Utc>>,
    /// Requested completion (`requested_end`) from.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub due_from: Option<DateTime<Utc>>,
    /// Requested completion (`requested_end`) before.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub due_to: Option<DateTime<Utc>>,
    /// Only orders with an open step past its due time.
    pub overdue: Option<bool>,
    pub needs_attention: Option<bool>,
    /// Free text in number, title, description and customer name.
    pub q: Option<String>,
    /// `-created_at` (newest first, default) or `created_at`.
    pub sort: Option<String>,
}

/// One entry of an order's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub seq: i64,
    /// Events caused by one command share it.
    pub command_id: Uuid,
    /// Stable type name: `work_order.created`, `step.activated`, `step.completed`, ...
    #[schema(example = "step.completed")]
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: HistoryActor,
    pub at: DateTime<Utc>,
    /// What changed (before/after where it matters).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryActor {
    /// `user`, `api_key`, `customer` or `system`.
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: String,
    pub id: Option<String>,
}

impl From<CreateWorkOrderRequest> for NewWorkOrder {
    fn from(body: CreateWorkOrderRequest) -> Self {
        Self {
            process_id: ProcessId(body.process_id),
            channel: body.channel.into(),
            customer_id: body.customer_id.map(CustomerId),
            customer: body.customer.as_ref().map(CustomerInput::from),
            site_id: body.site_id.map(SiteId),
            site: body.site.as_ref().map(SiteInput::from),
            title: body.title.into_string(),
            description: body.description.map(String::from),
            priority: body.priority.map(Priority::from),
            requested_start: body.requested_start,
            requested_end: body.requested_end,
        }
    }
}

impl From<UpdateWorkOrderRequest> for OrderChanges {
    fn from(body: UpdateWorkOrderRequest) -> Self {
        Self {
            title: body.title.map(String::from),
            description: body.description.map(|d| d.map(String::from)),
            priority: body.priority.map(Priority::from),
            requested_start: body.requested_start,
            requested_end: body.requested_end,
        }
    }
}

impl From<WorkOrderListQuery> for OrderQuery {
    fn from(query: WorkOrderListQuery) -> Self {
        Self {
            status: query.status,
            process_id: query.process_id.map(ProcessId),
            customer_id: query.customer_id.map(CustomerId),
            responsible: query.responsible_id.map(UserId),
            channel: query.channel.map(Into::into),
            created_from: query.created_from,
            created_to: query.created_to,
            due_from: query.due_from,
            due_to: query.due_to,
            overdue: query.overdue,
            needs_attention: query.needs_attention,
            q: query.q,
            sort: query.sort,
        }
    }
}

/// Create a work order
///
/// From any channel, for an existing or new customer and site, with a process whose newest
/// published version is pinned. The order gets its number (`WO-<year>-<seq>`), its steps,
/// and the first step becomes active with its responsible person.
#[utoipa::path(
    operation_id = "createWorkOrder",
    tag = "work-orders",
    request_body = CreateWorkOrderRequest,
    responses(
        (status = 201, description = "Order created", body = WorkOrderView, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The process is archived (`process_archived`) or has no published version (`process_not_published`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders")]
pub async fn create_work_order(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateWorkOrderRequest>,
) -> ApiResult<HttpResponse> {
    let order = work_orders::create(&state, &principal, body.into_inner().into()).await?;
    let view = render_detailed(order);
    Ok(created(
        format!("/v1/work-orders/{}", view.id),
        view.version,
        &view,
    ))
}

/// List work orders
///
/// Filter by status, process, customer, responsible person, channel, created and requested
/// dates, overdue steps, attention flag and free text. Technicians see only orders where
/// they hold or held a step.
#[utoipa::path(
    operation_id = "listWorkOrders",
    tag = "work-orders",
    params(WorkOrderListQuery),
    responses((status = 200, description = "One page of orders", body = Page<WorkOrderView>)),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders")]
pub async fn list_work_orders(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<WorkOrderListQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let list = work_orders::list(
        &state,
        &principal,
        query.into(),
        page.after.map(WorkOrderId),
        fetch_limit(page),
    )
    .await?;
    let context = ViewContext::from(list.details);
    let views: Vec<WorkOrderView> = list.records.iter().map(|r| context.order(r)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, page, |v| v.id, |v| v)))
}

/// Get a work order
///
/// With its steps: state, responsible person, due time, checklist and evidence, and the
/// actions allowed now.
#[utoipa::path(
    operation_id = "getWorkOrder",
    tag = "work-orders",
    params(("id" = Uuid, Path, description = "Work order id")),
    responses(
        (status = 200, description = "The order", body = WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders/{id}")]
pub async fn get_work_order(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let order = work_orders::get(&state, &principal, WorkOrderId(id.into_inner())).await?;
    let view = render_detailed(order);
    Ok(ok_versioned(view.version, &view))
}

/// Update a work order
///
/// Descriptive fields only (state changes go through actions). Requires `If-Match`. The
/// change is recorded in the history with before and after.
#[utoipa::path(
    operation_id = "updateWorkOrder",
    tag = "work-orders",
    params(("id" = Uuid, Path, description = "Work order id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateWorkOrderRequest,
    responses(
        (status = 200, description = "The order", body = WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[patch("/work-orders/{id}")]
pub async fn update_work_order(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateWorkOrderRequest>,
) -> ApiResult<HttpResponse> {
    let order = work_orders::update(
        &state,
        &principal,
        WorkOrderId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    let view = render_detailed(order);
    Ok(ok_versioned(view.version, &view))
}

/// Run an order action
///
/// `hold`, `resume`, `cancel` (reason required), `mark_invoiced`, `close`. An action the
/// current state does not allow answers 409 `invalid_transition` with `current_state` and
/// `allowed_actions`, and changes nothing. `If-Match` is optional.
#[utoipa::path(
    operation_id = "runWorkOrderAction",
    tag = "work-orders",
    params(("id" = Uuid, Path, description = "Work order id"), ("If-Match" = Option<String>, Header, description = "Expected ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = OrderActionRequest,
    responses(
        (status = 200, description = "The order after the action", body = WorkOrderView, headers(("ETag" = String))),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in the current state (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/actions")]
pub async fn run_work_order_action(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<OrderActionRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let command = match body.action {
        OrderAction::Hold => Command::Hold {
            reason: body.reason.map(String::from),
        },
        OrderAction::Resume => Command::Resume,
        OrderAction::Cancel => Command::Cancel {
            reason: body.reason.unwrap_or_default().into_string(),
        },
        OrderAction::MarkInvoiced => Command::MarkInvoiced,
        OrderAction::Close => Command::Close,
    };
    let order = work_orders::act(
        &state,
        &principal,
        WorkOrderId(id.into_inner()),
        if_match.0,
        command,
    )
    .await?;
    let view = render_detailed(order);
    Ok(ok_versioned(view.version, &view))
}

/// Get a work order's history
///
/// Every accepted command in order: who, when, what. Append-only.
#[utoipa::path(
    operation_id = "getWorkOrderHistory",
    tag = "work-orders",
    params(("id" = Uuid, Path, description = "Work order id"), PageQuery),
    responses(
        (status = 200, description = "One page of history", body = Page<HistoryEntry>),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders/{id}/history")]
pub async fn get_work_order_history(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = query.parse()?;
    let rows = work_orders::history(
        &state,
        &principal,
        WorkOrderId(id.into_inner()),
        page.after,
        fetch_limit(page),
    )
    .await?;
    let entries: Vec<HistoryEntry> = rows
        .into_iter()
        .map(|e| HistoryEntry {
            id: e.id,
            seq: e.seq,
            command_id: e.command_id,
            event_type: e.event_type,
            actor: HistoryActor {
                kind: e.actor.kind,
                id: e.actor.id,
            },
            at: e.at,
            data: e.data,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(entries, page, |e| e.id, |e| e)))
}
