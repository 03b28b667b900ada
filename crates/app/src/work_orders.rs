//! Work orders: intake from any channel, lists with filters, details, descriptive changes,
//! order and step commands, the history and "my work"; and what showing orders needs (the
//! names of the people holding steps, the customers and sites), read in batches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::work_order::{Channel, Command, OrderStatus, Priority};
use workorders_domain::{
    CustomerId, ProcessId, SiteId, StepId, TenantId, UserId, ValidationErrors, WorkOrderId,
};
use workorders_persistence::customers::{self, CustomerRecord, SiteRecord};
use workorders_persistence::processes::{self, ProcessStatus};
use workorders_persistence::work_orders::{
    self, EventRecord, MyStep, NewEvent, OrderFilter, WorkOrderRecord, due_key,
};
use workorders_persistence::{Conn, Db, WriteTx, users};

use crate::App;
use crate::customers::{CustomerInput, SiteInput, parse_customer, parse_site};
use crate::error::{AppError, AppResult, codes, required_version};
use crate::identity::Principal;
use crate::workflow::{self, NewOrder, actor_of, ensure_visible};

/// What showing orders needs beyond the orders themselves: names of people, customers and
/// sites by id, and the time "overdue" is judged at.
#[derive(Debug, Clone)]
pub struct OrderDetails {
    pub people: HashMap<UserId, String>,
    pub customers: HashMap<CustomerId, CustomerRecord>,
    pub sites: HashMap<SiteId, SiteRecord>,
    pub now: DateTime<Utc>,
}

/// The details of `records` (and the names of `more_people`), on a connection: inside a
/// transaction it sees the transaction's writes.
pub async fn details_in(
    conn: &mut Conn,
    now: DateTime<Utc>,
    tenant: TenantId,
    records: &[&WorkOrderRecord],
    more_people: &[UserId],
) -> AppResult<OrderDetails> {
    let mut ids: Vec<UserId> = records
        .iter()
        .flat_map(|r| r.order.steps.iter().filter_map(|s| s.responsible))
        .chain(more_people.iter().copied())
        .collect();
    ids.sort();
    ids.dedup();
    let people = users::names_in(conn, tenant, &ids).await?;
    let mut customer_ids: Vec<CustomerId> = records.iter().map(|r| r.customer_id).collect();
    customer_ids.sort();
    customer_ids.dedup();
    let mut site_ids: Vec<SiteId> = records.iter().map(|r| r.site_id).collect();
    site_ids.sort();
    site_ids.dedup();
    let customers = customers::get_many_in(conn, tenant, &customer_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let sites = customers::get_sites_many_in(conn, tenant, &site_ids)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    Ok(OrderDetails {
        people,
        customers,
        sites,
        now,
    })
}

/// Like [`details_in`], on a connection of the pool, judged at the database's clock.
pub async fn details(
    db: &Db,
    tenant: TenantId,
    records: &[&WorkOrderRecord],
    more_people: &[UserId],
) -> AppResult<OrderDetails> {
    let mut conn = db.acquire().await?;
    details_in(&mut conn, db.now(), tenant, records, more_people).await
}

/// One order with its details.
#[derive(Debug, Clone)]
pub struct DetailedOrder {
    pub record: WorkOrderRecord,
    pub details: OrderDetails,
}

/// An order with its details, read inside `tx` (before its commit, so that a stored
/// Idempotency-Key reply shows the transaction's writes). A render callback for
/// [`workflow::execute`].
pub async fn detailed_in(
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    record: &WorkOrderRecord,
) -> AppResult<DetailedOrder> {
    let details = details_in(tx.conn(), now, record.tenant_id, &[record], &[]).await?;
    Ok(DetailedOrder {
        record: record.clone(),
        details,
    })
}

async fn detailed(db: &Db, record: WorkOrderRecord) -> AppResult<DetailedOrder> {
    let details = details(db, record.tenant_id, &[&record], &[]).await?;
    Ok(DetailedOrder { record, details })
}

/// A new order. Field pointers in refusals: `/title`, `/customer_id`, `/customer/...`,
/// `/site_id`, `/site/...`, `/process_id`, `/requested_end`.
#[derive(Debug, Clone)]
pub struct NewWorkOrder {
    /// The process; its newest published version is pinned to the order.
    pub process_id: ProcessId,
    pub channel: Channel,
    /// An existing customer, or `customer` to create one.
    pub customer_id: Option<CustomerId>,
    pub customer: Option<CustomerInput>,
    /// An existing site of the customer, or `site` to create one; neither when the
    /// customer has exactly one site.
    pub site_id: Option<SiteId>,
    pub site: Option<SiteInput>,
    pub title: String,
    pub description: Option<String>,
    /// Default normal.
    pub priority: Option<Priority>,
    pub requested_start: Option<DateTime<Utc>>,
    pub requested_end: Option<DateTime<Utc>>,
}

/// Changes to an order's descriptive fields: `None` keeps a field, `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default)]
pub struct OrderChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub requested_start: Option<Option<DateTime<Utc>>>,
    pub requested_end: Option<Option<DateTime<Utc>>>,
}

/// Filters of the order list, as asked for (status and sort are parsed here).
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// `open`, `in_progress`, `on_hold`, `completed`, `invoiced`, `closed`, `cancelled`.
    pub status: Option<String>,
    pub process_id: Option<ProcessId>,
    pub customer_id: Option<CustomerId>,
    /// Orders where this user holds an open step.
    pub responsible: Option<UserId>,
    pub channel: Option<Channel>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    /// Only orders with an open step past its due time.
    pub overdue: Option<bool>,
    pub needs_attention: Option<bool>,
    /// Free text in number, title, description and customer name.
    pub q: Option<String>,
    /// `-created_at` (newest first, default) or `created_at`.
    pub sort: Option<String>,
}

/// A page of orders with their details.
#[derive(Debug)]
pub struct OrderList {
    pub records: Vec<WorkOrderRecord>,
    pub details: OrderDetails,
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

/// Creates an order for an existing or new customer and site, on the newest published
/// version of its process: numbered, its steps instantiated, the first stage active. The
/// answer is read inside the transaction (it shows the customer and site it made).
pub async fn create(app: &App, caller: &Principal, new: NewWorkOrder) -> AppResult<DetailedOrder> {
    caller.require(Permission::WorkOrdersWrite)?;
    let now = app.db.now();
    let tenant = caller.tenant_id;
    let mut errors = ValidationErrors::new();
    let title = check_title(&new.title, &mut errors);
    check_dates(new.requested_start, new.requested_end, &mut errors);

    // The customer: existing or inline new.
    let (customer, new_customer, mut new_sites): (Option<CustomerRecord>, bool, Vec<SiteRecord>) =
        match (&new.customer_id, &new.customer) {
            (Some(id), None) => match customers::get(&app.db, tenant, *id).await? {
                Some(c) => (Some(c), false, Vec::new()),
                None => {
                    errors.add("/customer_id", "no such customer in this tenant");
                    (None, false, Vec::new())
                }
            },
            (None, Some(inline)) => {
                caller.require(Permission::CustomersWrite)?;
                let (c, sites) = parse_customer(inline, tenant, &mut errors, "/customer", now);
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
        match (&new.site_id, &new.site) {
            (Some(id), None) => match customers::get_site(&app.db, tenant, *id).await? {
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
                    customers::list_sites(&app.db, tenant, customer.id).await?
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
    let process = processes::get(&app.db, tenant, new.process_id).await?;
    if process.is_none() {
        errors.add("/process_id", "no such process in this tenant");
    }
    errors.finish()?;
    let (Some(process), Some(customer), Some(site)) = (process, customer, site) else {
        return Err(AppError::invalid("", "incomplete order"));
    };
    if process.status == ProcessStatus::Archived {
        return Err(AppError::conflict(
            codes::PROCESS_ARCHIVED,
            "the process is archived and takes no new orders",
        ));
    }
    let Some(number) = process.published_version else {
        return Err(AppError::conflict(
            codes::PROCESS_NOT_PUBLISHED,
            "the process has no published version yet",
        ));
    };
    let version = processes::get_version(&app.db, tenant, process.id, number)
        .await?
        .ok_or(AppError::NotFound)?;

    let actor = actor_of(caller);
    let mut tx = app.db.begin_write().await?;
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
            channel: new.channel,
            title,
            description: trimmed(new.description.as_deref()),
            priority: new.priority.unwrap_or(Priority::Normal),
            requested_start: new.requested_start,
            requested_end: new.requested_end,
        },
        &actor,
        now,
    )
    .await?;
    // Read inside the transaction: the reply shows the customer and site it made, and is
    // stored with the work for Idempotency-Key replays.
    let shown = detailed_in(&mut tx, now, &record).await?;
    tx.commit().await?;
    tracing::info!(work_order = %record.number, "work order created");
    Ok(shown)
}

/// Up to `limit` orders after `after` matching `query`. Technicians (who may read only
/// their own orders) see the orders they hold or held a step of.
pub async fn list(
    app: &App,
    caller: &Principal,
    query: OrderQuery,
    after: Option<WorkOrderId>,
    limit: u32,
) -> AppResult<OrderList> {
    let participant = if caller.require(Permission::WorkOrdersRead).is_ok() {
        None
    } else {
        caller.require(Permission::WorkOrdersReadOwn)?;
        caller.user_id()
    };
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
            AppError::malformed(codes::INVALID_QUERY, format!("unknown status `{s}`"))
        })?),
    };
    let descending = match query.sort.as_deref() {
        None | Some("-created_at") => true,
        Some("created_at") => false,
        Some(other) => {
            return Err(AppError::malformed(
                codes::INVALID_QUERY,
                format!("unknown sort `{other}`; use `created_at` or `-created_at`"),
            ));
        }
    };
    let filter = OrderFilter {
        status,
        process_id: query.process_id,
        customer_id: query.customer_id,
        responsible: query.responsible,
        channel: query.channel,
        created_from: query.created_from,
        created_to: query.created_to,
        due_from: query.due_from,
        due_to: query.due_to,
        overdue_at: query.overdue.filter(|o| *o).map(|_| app.db.now()),
        needs_attention: query.needs_attention,
        q: trimmed(query.q.as_deref()),
        participant,
        descending,
    };
    let records = work_orders::list(&app.db, caller.tenant_id, &filter, after, limit).await?;
    let refs: Vec<&WorkOrderRecord> = records.iter().collect();
    let details = details(&app.db, caller.tenant_id, &refs, &[]).await?;
    Ok(OrderList { records, details })
}

async fn load_visible(
    app: &App,
    caller: &Principal,
    id: WorkOrderId,
) -> AppResult<WorkOrderRecord> {
    ensure_visible(&app.db, caller, id).await?;
    work_orders::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// An order the caller may see, with its steps.
pub async fn get(app: &App, caller: &Principal, id: WorkOrderId) -> AppResult<DetailedOrder> {
    let record = load_visible(app, caller, id).await?;
    detailed(&app.db, record).await
}

/// Changes an order's descriptive fields at `expected_version`, recorded in the history with
/// before and after (nothing changed: nothing recorded).
pub async fn update(
    app: &App,
    caller: &Principal,
    id: WorkOrderId,
    expected_version: Option<i64>,
    changes: OrderChanges,
) -> AppResult<DetailedOrder> {
    ensure_visible(&app.db, caller, id).await?;
    caller.require(Permission::WorkOrdersWrite)?;
    let expected = required_version(expected_version)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut record = work_orders::load_for_update(tx.conn(), &app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if record.version != expected {
        return Err(AppError::Stale {
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
    if let Some(title) = &changes.title {
        let title = check_title(title, &mut errors);
        note("title", record.title.clone().into(), title.clone().into());
        record.title = title;
    }
    if let Some(description) = &changes.description {
        let description = trimmed(description.as_deref());
        note(
            "description",
            record.description.clone().into(),
            description.clone().into(),
        );
        record.description = description;
    }
    if let Some(priority) = changes.priority {
        note(
            "priority",
            record.priority.as_str().into(),
            priority.as_str().into(),
        );
        record.priority = priority;
    }
    if let Some(start) = changes.requested_start {
        note(
            "requested_start",
            serde_json::to_value(record.requested_start).unwrap_or_default(),
            serde_json::to_value(start).unwrap_or_default(),
        );
        record.requested_start = start;
    }
    if let Some(end) = changes.requested_end {
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
        return detailed(&app.db, record).await;
    }
    if !work_orders::save(&mut tx, &record, expected, now).await? {
        return Err(AppError::Stale {
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
        &actor_of(caller),
        now,
        &[entry],
    )
    .await?;
    tx.commit().await?;
    record.version = expected + 1;
    record.updated_at = now;
    detailed(&app.db, record).await
}

/// Runs an order or step command (see [`workflow::execute`]); the answer is the order after
/// it, read before the commit.
pub async fn act(
    app: &App,
    caller: &Principal,
    id: WorkOrderId,
    expected_version: Option<i64>,
    command: Command,
) -> AppResult<DetailedOrder> {
    workflow::execute(&app.db, caller, id, expected_version, command, detailed_in).await
}

/// Up to `limit` history entries of an order the caller may see, after the entry `after`
/// (a cursor naming an entry of another order is refused).
pub async fn history(
    app: &App,
    caller: &Principal,
    id: WorkOrderId,
    after: Option<Uuid>,
    limit: u32,
) -> AppResult<Vec<EventRecord>> {
    ensure_visible(&app.db, caller, id).await?;
    if work_orders::get(&app.db, caller.tenant_id, id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    // The cursor carries the last entry's id; paging continues after its sequence number.
    let after_seq = match after {
        Some(after) => work_orders::event_seq(&app.db, caller.tenant_id, id, after)
            .await?
            .ok_or_else(|| {
                AppError::malformed(
                    codes::INVALID_CURSOR,
                    "the cursor is not valid for this order",
                )
            })?,
        None => 0,
    };
    Ok(work_orders::history(&app.db, caller.tenant_id, id, after_seq, limit).await?)
}

/// 404 unless the order exists in the caller's tenant and the caller may see it.
pub async fn visible(app: &App, caller: &Principal, id: WorkOrderId) -> AppResult<()> {
    ensure_visible(&app.db, caller, id).await?;
    // Existence only: one row by key, not the order with its steps.
    let mut conn = app.db.acquire().await?;
    work_orders::brief(&mut conn, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(())
}

/// One page of the caller's open steps.
#[derive(Debug)]
pub struct MyWork {
    pub steps: Vec<MyStep>,
    /// When more follow: the sort key and step id of the last step (the next page's cursor).
    pub next: Option<(String, Uuid)>,
    /// Names of the people holding the steps.
    pub details: OrderDetails,
}

/// The caller's open steps across running orders, soonest due first (steps without a due
/// time last), up to `limit` after the cursor `(sort key, step id)`.
pub async fn my_work(
    app: &App,
    caller: &Principal,
    after: Option<(String, StepId)>,
    limit: u32,
) -> AppResult<MyWork> {
    let Some(user) = caller.user_id() else {
        return Err(AppError::forbidden(
            "an API key holds no steps; there is no `my work`",
        ));
    };
    let mut steps = work_orders::my_work(
        &app.db,
        caller.tenant_id,
        user,
        after,
        limit.saturating_add(1),
    )
    .await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = steps.len() > limit;
    steps.truncate(limit);
    let next = if has_more {
        steps
            .last()
            .map(|r| (due_key(r.step.due_at), r.step.id.as_uuid()))
    } else {
        None
    };
    let people: Vec<UserId> = steps.iter().filter_map(|r| r.step.responsible).collect();
    let details = details(&app.db, caller.tenant_id, &[], &people).await?;
    Ok(MyWork {
        steps,
        next,
        details,
    })
}
