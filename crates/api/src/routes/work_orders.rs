//! Work orders: intake from any channel, lists with filters, details, descriptive changes,
//! order actions and the history.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::text::{Line, Text};
use workorders_domain::work_order::{Command, OrderStatus, Priority};
use workorders_domain::{CustomerId, ProcessId, SiteId, ValidationErrors, WorkOrderId};
use workorders_persistence::customers::{self, CustomerRecord, SiteRecord};
use workorders_persistence::processes::{self, ProcessStatus};
use workorders_persistence::work_orders::{self, NewEvent, OrderFilter};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::customers::{CreateCustomerRequest, CreateSiteRequest, parse_site};
use crate::schemas::orders::{ChannelName, PriorityName, ViewContext, WorkOrderView, render};
use crate::state::AppState;
use crate::workflow::{self, NewOrder, actor_of, ensure_visible};

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

fn trimmed(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn check_title(title: &str, errors: &mut ValidationErrors) -> String {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("/title", "must have 1 to 200 characters");
    }
    title.to_owned()
}

fn check_dates(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    errors: &mut ValidationErrors,
) {
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        errors.add("/requested_end", "must not be before requested_start");
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
    principal.require(Permission::WorkOrdersWrite)?;
    let body = body.into_inner();
    let now = state.db.now();
    let tenant = principal.tenant_id;
    let mut errors = ValidationErrors::new();
    let title = check_title(&body.title, &mut errors);
    check_dates(body.requested_start, body.requested_end, &mut errors);

    // The customer: existing or inline new.
    let (customer, new_customer, mut new_sites): (Option<CustomerRecord>, bool, Vec<SiteRecord>) =
        match (&body.customer_id, &body.customer) {
            (Some(id), None) => match customers::get(&state.db, tenant, CustomerId(*id)).await? {
                Some(c) => (Some(c), false, Vec::new()),
                None => {
                    errors.add("/customer_id", "no such customer in this tenant");
                    (None, false, Vec::new())
                }
            },
            (None, Some(inline)) => {
                principal.require(Permission::CustomersWrite)?;
                let (c, sites) = workorders_app::customers::parse_customer(
                    &inline.into(),
                    tenant,
                    &mut errors,
                    "/customer",
                    now,
                );
                (Some(c), true, sites)
            }
            _ => {
                errors.add("/customer_id", "give either `customer_id` or `customer`");
                (None, false, Vec::new())
            }
        };

    // The site: existing, inline new, or the customer's only one.
    let mut site: Option<SiteRecord> = None;
    if let Some(customer) = &customer {
        match (&body.site_id, &body.site) {
            (Some(id), None) => match customers::get_site(&state.db, tenant, SiteId(*id)).await? {
                Some(s) if s.customer_id == customer.id => site = Some(s),
                _ => errors.add("/site_id", "no such site of this customer"),
            },
            (None, Some(inline)) => {
                let s = parse_site(inline, tenant, customer.id, &mut errors, "/site", now);
                new_sites.push(s.clone());
                site = Some(s);
            }
            (None, None) => {
                let existing = if new_customer {
                    Vec::new()
                } else {
                    customers::list_sites(&state.db, tenant, customer.id).await?
                };
                let candidates: Vec<SiteRecord> = if new_customer {
                    new_sites.clone()
                } else {
                    existing
                };
                if candidates.len() == 1 {
                    site = candidates.into_iter().next();
                } else {
                    errors.add(
                        "/site_id",
                        "give `site_id` or `site`: the customer does not have exactly one site",
                    );
                }
            }
            (Some(_), Some(_)) => errors.add("/site_id", "give either `site_id` or `site`"),
        }
    }

    // The process and its newest published version.
    let process = processes::get(&state.db, tenant, ProcessId(body.process_id)).await?;
    if process.is_none() {
        errors.add("/process_id", "no such process in this tenant");
    }
    errors.finish()?;
    let (Some(process), Some(customer), Some(site)) = (process, customer, site) else {
        return Err(ApiError::invalid("", "incomplete order"));
    };
    if process.status == ProcessStatus::Archived {
        return Err(ApiError::conflict(
            codes::PROCESS_ARCHIVED,
            "the process is archived and takes no new orders",
        ));
    }
    let Some(number) = process.published_version else {
        return Err(ApiError::conflict(
            codes::PROCESS_NOT_PUBLISHED,
            "the process has no published version yet",
        ));
    };
    let version = processes::get_version(&state.db, tenant, process.id, number)
        .await?
        .ok_or(ApiError::NotFound)?;

    let actor = actor_of(&principal);
    let mut tx = state.db.begin_write().await?;
    if new_customer {
        customers::insert(tx.conn(), &customer).await?;
    }
    for s in &new_sites {
        customers::insert_site(tx.conn(), s).await?;
    }
    let record = workflow::create(
        &mut tx,
        NewOrder {
            tenant_id: tenant,
            process_id: process.id,
            process_version_id: version.id,
            steps: version.steps,
            customer_id: customer.id,
            site_id: site.id,
            channel: body.channel.into(),
            title,
            description: trimmed(body.description.as_deref()),
            priority: body.priority.map_or(Priority::Normal, Priority::from),
            requested_start: body.requested_start,
            requested_end: body.requested_end,
        },
        &actor,
        now,
    )
    .await?;
    // Rendered inside the transaction: the reply shows the customer and site it made, and
    // is stored with the work for Idempotency-Key replays.
    let view = crate::schemas::orders::render_in(&mut tx, now, &record).await?;
    tx.commit().await?;
    tracing::info!(work_order = %record.number, "work order created");
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
    let participant = if principal.require(Permission::WorkOrdersRead).is_ok() {
        None
    } else {
        principal.require(Permission::WorkOrdersReadOwn)?;
        principal.user_id()
    };
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(codes::INVALID_QUERY, format!("unknown status `{s}`"))
        })?),
    };
    let descending = match query.sort.as_deref() {
        None | Some("-created_at") => true,
        Some("created_at") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                format!("unknown sort `{other}`; use `created_at` or `-created_at`"),
            ));
        }
    };
    let filter = OrderFilter {
        status,
        process_id: query.process_id.map(ProcessId),
        customer_id: query.customer_id.map(CustomerId),
        responsible: query.responsible_id.map(workorders_domain::UserId),
        channel: query.channel.map(Into::into),
        created_from: query.created_from,
        created_to: query.created_to,
        due_from: query.due_from,
        due_to: query.due_to,
        overdue_at: query.overdue.filter(|o| *o).map(|_| state.db.now()),
        needs_attention: query.needs_attention,
        q: trimmed(query.q.as_deref()),
        participant,
        descending,
    };
    let rows = work_orders::list(
        &state.db,
        principal.tenant_id,
        &filter,
        page.after.map(WorkOrderId),
        fetch_limit(page),
    )
    .await?;
    let refs: Vec<&work_orders::WorkOrderRecord> = rows.iter().collect();
    let context = ViewContext::load(&state.db, principal.tenant_id, &refs).await?;
    let views: Vec<WorkOrderView> = rows.iter().map(|r| context.order(r)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, page, |v| v.id, |v| v)))
}

async fn load_visible(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<work_orders::WorkOrderRecord> {
    let id = WorkOrderId(id);
    ensure_visible(&state.db, principal, id).await?;
    work_orders::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)
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
    let record = load_visible(&state, &principal, id.into_inner()).await?;
    let view = render(&state.db, &record).await?;
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
    let id = WorkOrderId(id.into_inner());
    ensure_visible(&state.db, &principal, id).await?;
    principal.require(Permission::WorkOrdersWrite)?;
    let expected = if_match.required()?;
    let body = body.into_inner();
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut record = work_orders::load_for_update(tx.conn(), &state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if record.version != expected {
        return Err(ApiError::PreconditionFailed {
            current_version: record.version,
        });
    }
    let mut errors = ValidationErrors::new();
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    let mut note = |field: &str, old: serde_json::Value, new: serde_json::Value| {
        if old != new {
            before.insert(field.to_owned(), old);
            after.insert(field.to_owned(), new);
        }
    };
    if let Some(title) = &body.title {
        let title = check_title(title, &mut errors);
        note("title", record.title.clone().into(), title.clone().into());
        record.title = title;
    }
    if let Some(description) = &body.description {
        let description = trimmed(description.as_deref());
        note(
            "description",
            record.description.clone().into(),
            description.clone().into(),
        );
        record.description = description;
    }
    if let Some(priority) = body.priority {
        let priority = Priority::from(priority);
        note(
            "priority",
            record.priority.as_str().into(),
            priority.as_str().into(),
        );
        record.priority = priority;
    }
    if let Some(start) = body.requested_start {
        note(
            "requested_start",
            serde_json::to_value(record.requested_start).unwrap_or_default(),
            serde_json::to_value(start).unwrap_or_default(),
        );
        record.requested_start = start;
    }
    if let Some(end) = body.requested_end {
        note(
            "requested_end",
            serde_json::to_value(record.requested_end).unwrap_or_default(),
            serde_json::to_value(end).unwrap_or_default(),
        );
        record.requested_end = end;
    }
    check_dates(record.requested_start, record.requested_end, &mut errors);
    errors.finish()?;
    if after.is_empty() {
        let view = render(&state.db, &record).await?;
        return Ok(ok_versioned(view.version, &view));
    }
    if !work_orders::save(&mut tx, &record, expected, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    let entry = NewEvent {
        event_type: "work_order.updated".to_owned(),
        data: serde_json::json!({"before": before, "after": after}),
    };
    work_orders::append_events(
        &mut tx,
        record.tenant_id,
        id,
        Uuid::now_v7(),
        &actor_of(&principal),
        now,
        &[entry],
    )
    .await?;
    tx.commit().await?;
    record.version = expected + 1;
    record.updated_at = now;
    let view = render(&state.db, &record).await?;
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
    let view = workflow::execute(
        &state.db,
        &principal,
        WorkOrderId(id.into_inner()),
        if_match.0,
        command,
        crate::schemas::orders::render_in,
    )
    .await?;
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
    let id = WorkOrderId(id.into_inner());
    ensure_visible(&state.db, &principal, id).await?;
    if work_orders::get(&state.db, principal.tenant_id, id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let page = query.parse()?;
    // The cursor carries the last entry's id; paging continues after its sequence number.
    let after_seq = match page.after {
        Some(after) => work_orders::event_seq(&state.db, principal.tenant_id, id, after)
            .await?
            .ok_or_else(|| {
                ApiError::bad_request(
                    codes::INVALID_CURSOR,
                    "the cursor is not valid for this order",
                )
            })?,
        None => 0,
    };
    let rows = work_orders::history(
        &state.db,
        principal.tenant_id,
        id,
        after_seq,
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
