//! Review schedules, reviews (frozen snapshots with items, findings, decisions, sign-off),
//! and the live oversight view.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::listing::Cursor;
use workorders_app::reviews::{self, DecisionSpec, ReviewDetail, ScheduleSpec};
use workorders_domain::UserId;
use workorders_domain::review::{Cadence, ItemKind, ReviewStatus};
use workorders_domain::text::{Line, Text};
use workorders_persistence::oversight::{DecisionRecord, ItemRecord, ReviewRecord, ScheduleRecord};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, PageRequest, decode_keyed_cursor, encode_keyed_cursor};
use crate::routes::{created, double_option, ok_versioned};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------

/// How often a schedule creates reviews.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CadenceName {
    /// Every day at `time`.
    Daily,
    /// Mondays at `time`.
    Weekly,
    /// The first of each month at `time`.
    Monthly,
    /// 1 January, April, July and October at `time`.
    Quarterly,
    /// The schedule's `rrule`, at `time` unless the rule sets BYHOUR/BYMINUTE.
    Rrule,
}

impl From<CadenceName> for Cadence {
    fn from(c: CadenceName) -> Self {
        match c {
            CadenceName::Daily => Cadence::Daily,
            CadenceName::Weekly => Cadence::Weekly,
            CadenceName::Monthly => Cadence::Monthly,
            CadenceName::Quarterly => Cadence::Quarterly,
            CadenceName::Rrule => Cadence::Rrule,
        }
    }
}

impl From<Cadence> for CadenceName {
    fn from(c: Cadence) -> Self {
        match c {
            Cadence::Daily => CadenceName::Daily,
            Cadence::Weekly => CadenceName::Weekly,
            Cadence::Monthly => CadenceName::Monthly,
            Cadence::Quarterly => CadenceName::Quarterly,
            Cadence::Rrule => CadenceName::Rrule,
        }
    }
}

/// A review schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewScheduleView {
    pub id: Uuid,
    #[schema(example = "Weekly operations review")]
    pub name: String,
    pub cadence: CadenceName,
    /// RFC 5545 recurrence rule (cadence `rrule` only).
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO,TH")]
    pub rrule: Option<String>,
    /// Local time of day in the tenant's time zone (`HH:MM`).
    #[schema(example = "08:00")]
    pub time: String,
    /// First day the schedule counts from (tenant's calendar).
    pub starts_on: NaiveDate,
    pub reviewer_id: Uuid,
    /// Processes in scope; empty: all work.
    pub process_ids: Vec<Uuid>,
    pub active: bool,
    /// When the next review will be created; `null` when paused or the rule has ended.
    pub next_review_at: Option<DateTime<Utc>>,
    /// The tenant's time zone the times are in.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn schedule_view(s: ScheduleRecord, tz: &str) -> ReviewScheduleView {
    ReviewScheduleView {
        id: s.id,
        name: s.name,
        cadence: s.cadence.into(),
        rrule: s.rrule,
        time: s.time_of_day.format("%H:%M").to_string(),
        starts_on: s.starts_on,
        reviewer_id: s.reviewer_id.as_uuid(),
        process_ids: s.process_ids,
        active: s.active,
        next_review_at: if s.active { s.next_due_at } else { None },
        time_zone: tz.to_owned(),
        version: s.version,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewScheduleList {
    pub items: Vec<ReviewScheduleView>,
    pub next_cursor: Option<String>,
}

/// What kind of thing an item is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKindName {
    OverdueStep,
    StuckOrder,
    FlaggedAssignment,
    MissedAppointment,
    FailedEmail,
    FailedWebhook,
    OverdueInvoice,
    CancelledBooking,
}

impl From<ItemKind> for ItemKindName {
    fn from(k: ItemKind) -> Self {
        match k {
            ItemKind::OverdueStep => ItemKindName::OverdueStep,
            ItemKind::StuckOrder => ItemKindName::StuckOrder,
            ItemKind::FlaggedAssignment => ItemKindName::FlaggedAssignment,
            ItemKind::MissedAppointment => ItemKindName::MissedAppointment,
            ItemKind::FailedEmail => ItemKindName::FailedEmail,
            ItemKind::FailedWebhook => ItemKindName::FailedWebhook,
            ItemKind::OverdueInvoice => ItemKindName::OverdueInvoice,
            ItemKind::CancelledBooking => ItemKindName::CancelledBooking,
        }
    }
}

/// One thing the reviewer must look at, as it was when the review was created.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemView {
    pub id: Uuid,
    pub kind: ItemKindName,
    /// `work_order`, `work_order_step`, `appointment`, `email`, `webhook_message`,
    /// `invoice` or `booking`.
    pub object_type: String,
    pub object_id: String,
    pub work_order_id: Option<Uuid>,
    /// API path of the object to open.
    #[schema(example = "/v1/work-orders/0193a1b2-0000-7000-8000-000000000000")]
    pub link: String,
    pub summary: String,
    /// What was seen when the review was created (kind-specific fields).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub note: Option<String>,
}

fn link_of(
    object_type: &str,
    object_id: &str,
    order: Option<Uuid>,
    detail: &serde_json::Value,
) -> String {
    let order_link = order.map(|o| format!("/v1/work-orders/{o}"));
    match object_type {
        "appointment" => format!("/v1/appointments/{object_id}"),
        "invoice" => format!("/v1/invoices/{object_id}"),
        "webhook_message" => detail
            .get("endpoint_id")
            .and_then(|e| e.as_str())
            .map(|e| format!("/v1/webhooks/{e}/deliveries/{object_id}"))
            .unwrap_or_else(|| "/v1/webhooks".to_owned()),
        "email" => match (
            detail.get("invoice_id").and_then(|i| i.as_str()),
            order_link,
        ) {
            (Some(invoice), _) => format!("/v1/invoices/{invoice}"),
            (None, Some(o)) => format!("{o}/emails"),
            (None, None) => "/v1/invoices".to_owned(),
        },
        "work_order" => format!("/v1/work-orders/{object_id}"),
        _ => order_link.unwrap_or_else(|| "/v1/work-orders".to_owned()),
    }
}

fn item_view(i: ItemRecord) -> ReviewItemView {
    let order = i.work_order_id.map(|o| o.as_uuid());
    ReviewItemView {
        id: i.id,
        kind: i.kind.into(),
        link: link_of(&i.object_type, &i.object_id, order, &i.detail),
        object_type: i.object_type,
        object_id: i.object_id,
        work_order_id: order,
        summary: i.summary,
        detail: i.detail,
        acknowledged_at: i.acknowledged_at,
        acknowledged_by: i.acknowledged_by.map(|u| u.as_uuid()),
        note: i.note,
    }
}

/// A decision taken in a review.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub id: Uuid,
    pub review_id: Uuid,
    #[schema(example = "Drop the separate quote approval step for repairs under 300 €")]
    pub text: String,
    /// The process the decision changes.
    pub process_id: Option<Uuid>,
    /// The process version that implemented it, once there is one.
    pub process_version: Option<i64>,
    pub created_by: Uuid,
    /// The version linking names in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn decision_view(d: DecisionRecord) -> DecisionView {
    DecisionView {
        id: d.id,
        review_id: d.review_id,
        text: d.text,
        process_id: d.process_id,
        process_version: d.process_version,
        created_by: d.created_by.as_uuid(),
        version: d.version,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// `open` until the reviewer signs it off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatusName {
    Open,
    SignedOff,
}

impl From<ReviewStatus> for ReviewStatusName {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Open => ReviewStatusName::Open,
            ReviewStatus::SignedOff => ReviewStatusName::SignedOff,
        }
    }
}

/// A review (without items: see `getReview`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewSummaryView {
    pub id: Uuid,
    /// `null` for reviews whose schedule was deleted.
    pub schedule_id: Option<Uuid>,
    pub reviewer_id: Uuid,
    /// The occurrence the review is for (the end of the reviewed period).
    pub scheduled_for: DateTime<Utc>,
    /// Start of the reviewed period (the previous occurrence).
    pub period_start: DateTime<Utc>,
    /// Sign off before this (the next occurrence), or the tenant's owners are told.
    pub due_at: DateTime<Utc>,
    /// Created more than the tolerance after `scheduled_for` (servers were down).
    pub late: bool,
    pub status: ReviewStatusName,
    pub process_ids: Vec<Uuid>,
    pub headline: ReviewHeadline,
    pub findings: Option<String>,
    pub signed_off_at: Option<DateTime<Utc>>,
    pub signed_off_by: Option<Uuid>,
    /// When the owners were told it was not signed off in time.
    pub escalated_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A review with its items and decisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    #[serde(flatten)]
    pub review: ReviewSummaryView,
    pub items: Vec<ReviewItemView>,
    pub decisions: Vec<DecisionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewList {
    pub items: Vec<ReviewSummaryView>,
    pub next_cursor: Option<String>,
}

/// The headline numbers of a review's period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReviewHeadline {
    /// Orders created in the period.
    pub orders_opened: i64,
    /// Orders completed in the period.
    pub orders_completed: i64,
    /// Median (nearest rank) of creation → completion of the orders completed in the
    /// period, in seconds; `null` when none completed.
    pub median_cycle_time_seconds: Option<i64>,
    /// Share of the orders completed in the period without a step finished after its due
    /// time; `null` when none completed.
    pub on_time_rate: Option<f64>,
    /// Items per kind.
    pub items: std::collections::BTreeMap<String, i64>,
    /// Kinds with more items than a review lists (100 each).
    pub truncated_kinds: Vec<String>,
}

impl From<workorders_app::oversight::ReviewHeadline> for ReviewHeadline {
    fn from(h: workorders_app::oversight::ReviewHeadline) -> Self {
        Self {
            orders_opened: h.orders_opened,
            orders_completed: h.orders_completed,
            median_cycle_time_seconds: h.median_cycle_time_seconds,
            on_time_rate: h.on_time_rate,
            items: h.items,
            truncated_kinds: h.truncated_kinds,
        }
    }
}

fn summary_view(r: ReviewRecord) -> ApiResult<ReviewSummaryView> {
    let headline: ReviewHeadline =
        serde_json::from_value(r.headline).map_err(ApiError::internal)?;
    Ok(ReviewSummaryView {
        id: r.id,
        schedule_id: r.schedule_id,
        reviewer_id: r.reviewer_id.as_uuid(),
        scheduled_for: r.scheduled_for,
        period_start: r.period_start,
        due_at: r.due_at,
        late: r.late,
        status: r.status.into(),
        process_ids: r.process_ids,
        headline,
        findings: r.findings,
        signed_off_at: r.signed_off_at,
        signed_off_by: r.signed_off_by.map(|u| u.as_uuid()),
        escalated_at: r.escalated_at,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn full_view(detail: ReviewDetail) -> ApiResult<ReviewView> {
    Ok(ReviewView {
        review: summary_view(detail.review)?,
        items: detail.items.into_iter().map(item_view).collect(),
        decisions: detail.decisions.into_iter().map(decision_view).collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------

/// A review schedule as an owner or admin sets it up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewScheduleBody {
    #[schema(value_type = String, example = "Weekly operations review", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    pub cadence: CadenceName,
    /// RFC 5545 RRULE value for cadence `rrule` (FREQ DAILY, WEEKLY, MONTHLY or YEARLY;
    /// no COUNT; no DTSTART).
    #[schema(value_type = Option<String>, max_length = 500, example = "FREQ=WEEKLY;BYDAY=MO,TH")]
    pub rrule: Option<Line<500>>,
    /// Local time of day in the tenant's zone, `HH:MM`.
    #[schema(value_type = String, max_length = 16, example = "08:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub time: Line<16>,
    /// First day counted (tenant's calendar); default today; at most a year back and five
    /// years ahead.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub starts_on: Option<NaiveDate>,
    /// The user who reviews: an active owner, admin, dispatcher, reviewer or accountant.
    pub reviewer_id: Uuid,
    /// Processes in scope; empty or absent: all work.
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50)]
    pub process_ids: Vec<Uuid>,
    /// `false` pauses the schedule; resuming does not create the paused periods.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl From<ReviewScheduleBody> for ScheduleSpec {
    fn from(body: ReviewScheduleBody) -> Self {
        Self {
            name: body.name.into(),
            cadence: body.cadence.into(),
            rrule: body.rrule.map(String::from),
            time: body.time.into(),
            starts_on: body.starts_on,
            reviewer_id: UserId(body.reviewer_id),
            process_ids: body.process_ids,
            active: body.active,
        }
    }
}

/// Create a review schedule
///
/// The worker creates one review per occurrence, exactly once across server instances;
/// occurrences missed while no server ran are created late and marked `late`. Owners and
/// admins.
#[utoipa::path(
    operation_id = "createReviewSchedule",
    tag = "reviews",
    request_body = ReviewScheduleBody,
    responses(
        (status = 201, description = "Created", body = ReviewScheduleView, headers(("Location" = String), ("ETag" = String))),
        (status = 422, description = "Invalid fields (time, rule, reviewer, processes)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/review-schedules")]
pub async fn create_review_schedule(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<ReviewScheduleBody>,
) -> ApiResult<HttpResponse> {
    let schedule = reviews::create_schedule(&state, &principal, body.into_inner().into()).await?;
    let view = schedule_view(schedule.record, &schedule.time_zone);
    Ok(created(
        format!("/v1/review-schedules/{}", view.id),
        view.version,
        &view,
    ))
}

/// List review schedules
#[utoipa::path(
    operation_id = "listReviewSchedules",
    tag = "reviews",
    params(PageQuery),
    responses((status = 200, description = "The tenant's schedules", body = ReviewScheduleList)),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/review-schedules")]
pub async fn list_review_schedules(
    state: web::Data<AppState>,
    principal: Caller,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.into_inner();
    let after = match page.cursor {
        None => Cursor::Start,
        Some(cursor) => match (PageQuery {
            limit: None,
            cursor: Some(cursor),
        })
        .parse()
        {
            Ok(request) => request.after.map_or(Cursor::Start, Cursor::At),
            Err(_) => Cursor::Unreadable,
        },
    };
    let schedules = reviews::list_schedules(&state, &principal, page.limit, after).await?;
    let request = PageRequest {
        limit: schedules.fetched.limit,
        after: None,
    };
    let tz = schedules.time_zone;
    let page = Page::from_rows(
        schedules.fetched.rows,
        request,
        |r| r.id,
        |r| schedule_view(r, &tz),
    );
    Ok(HttpResponse::Ok().json(ReviewScheduleList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Get a review schedule
#[utoipa::path(
    operation_id = "getReviewSchedule",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule", body = ReviewScheduleView, headers(("ETag" = String))),
        (status = 404, description = "No such schedule in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/review-schedules/{id}")]
pub async fn get_review_schedule(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let schedule = reviews::get_schedule(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(
        schedule.record.version,
        &schedule_view(schedule.record, &schedule.time_zone),
    ))
}

/// Replace a review schedule
///
/// The next review is computed afresh from now: periods before the change (or while the
/// schedule was paused) are not created. Owners and admins; requires `If-Match`.
#[utoipa::path(
    operation_id = "updateReviewSchedule",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Schedule id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = ReviewScheduleBody,
    responses(
        (status = 200, description = "The schedule", body = ReviewScheduleView, headers(("ETag" = String))),
        (status = 404, description = "No such schedule in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[patch("/review-schedules/{id}")]
pub async fn update_review_schedule(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ReviewScheduleBody>,
) -> ApiResult<HttpResponse> {
    let schedule = reviews::update_schedule(
        &state,
        &principal,
        id.into_inner(),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(
        schedule.record.version,
        &schedule_view(schedule.record, &schedule.time_zone),
    ))
}

/// Delete a review schedule
///
/// Its reviews stay (with `schedule_id: null`). Owners and admins.
#[utoipa::path(
    operation_id = "deleteReviewSchedule",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such schedule in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[delete("/review-schedules/{id}")]
pub async fn delete_review_schedule(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    reviews::delete_schedule(&state, &principal, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `open` or `signed_off`.
    pub status: Option<String>,
    pub reviewer_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub late: Option<bool>,
}

/// List reviews
///
/// Newest occurrence first. Readable by everyone who reads all work orders.
#[utoipa::path(
    operation_id = "listReviews",
    tag = "reviews",
    params(ReviewQuery),
    responses(
        (status = 200, description = "Reviews", body = ReviewList),
        (status = 400, description = "Bad filter or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<ReviewQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let before = match q.cursor.as_deref() {
        None => Cursor::Start,
        Some(c) => decode_keyed_cursor(c).map_or(Cursor::Unreadable, Cursor::At),
    };
    let page = reviews::list(
        &state,
        &principal,
        reviews::ReviewQuery {
            limit: q.limit,
            before,
            status: q.status,
            reviewer_id: q.reviewer_id.map(UserId),
            schedule_id: q.schedule_id,
            late: q.late,
        },
    )
    .await?;
    let next_cursor = page.next.map(|(key, id)| encode_keyed_cursor(&key, id));
    let items = page
        .rows
        .into_iter()
        .map(summary_view)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(ReviewList { items, next_cursor }))
}

/// Get a review
///
/// With its items (links to the objects) and decisions.
#[utoipa::path(
    operation_id = "getReview",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review", body = ReviewView, headers(("ETag" = String))),
        (status = 404, description = "No such review in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/reviews/{id}")]
pub async fn get_review(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let detail = reviews::get(&state, &principal, id.into_inner()).await?;
    let version = detail.review.version;
    Ok(ok_versioned(version, &full_view(detail)?))
}

/// Acknowledging an item.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    /// What was done about it.
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub note: Option<Text<2000>>,
}

/// Acknowledge a review item
///
/// The reviewer (or an owner or admin) marks an item as looked at, optionally with a note.
/// Only while the review is open.
#[utoipa::path(
    operation_id = "acknowledgeReviewItem",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"), ("item_id" = Uuid, Path, description = "Item id")),
    request_body(content = AcknowledgeBody, description = "Optional note"),
    responses(
        (status = 200, description = "The item", body = ReviewItemView),
        (status = 404, description = "No such review or item", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The review is signed off (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/reviews/{id}/items/{item_id}/acknowledge")]
pub async fn acknowledge_review_item(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<AcknowledgeBody>,
) -> ApiResult<HttpResponse> {
    let (id, item) = path.into_inner();
    let note = body.into_inner().note.map(String::from);
    let updated = reviews::acknowledge_item(&state, &principal, id, item, note).await?;
    Ok(HttpResponse::Ok().json(item_view(updated)))
}

/// Changing a review's findings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewUpdateBody {
    /// The reviewer's findings (free text; `null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 20000)]
    pub findings: Option<Option<Text<20000>>>,
}

/// Write a review's findings
///
/// Only while the review is open. Requires `If-Match`.
#[utoipa::path(
    operation_id = "updateReview",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = ReviewUpdateBody,
    responses(
        (status = 200, description = "The review", body = ReviewView, headers(("ETag" = String))),
        (status = 404, description = "No such review in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The review is signed off (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[patch("/reviews/{id}")]
pub async fn update_review(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ReviewUpdateBody>,
) -> ApiResult<HttpResponse> {
    let findings = body.into_inner().findings.map(|v| v.map(String::from));
    let detail =
        reviews::update_findings(&state, &principal, id.into_inner(), if_match.0, findings).await?;
    let version = detail.review.version;
    Ok(ok_versioned(version, &full_view(detail)?))
}

/// Signing a review off.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SignOffBody {
    /// Final findings (replace the current ones when given).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 20000)]
    pub findings: Option<Option<Text<20000>>>,
}

/// Sign a review off
///
/// Every item must be acknowledged (422 `unacknowledged_items` otherwise). The review is
/// frozen afterwards; decisions can still be linked to the process version implementing
/// them. Requires `If-Match`.
#[utoipa::path(
    operation_id = "signOffReview",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body(content = SignOffBody, description = "Optional final findings"),
    responses(
        (status = 200, description = "The signed-off review", body = ReviewView, headers(("ETag" = String))),
        (status = 404, description = "No such review in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already signed off (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Items not acknowledged (`unacknowledged_items`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/reviews/{id}/sign-off")]
pub async fn sign_off_review(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<SignOffBody>,
) -> ApiResult<HttpResponse> {
    let findings = body.into_inner().findings.map(|v| v.map(String::from));
    let detail =
        reviews::sign_off(&state, &principal, id.into_inner(), if_match.0, findings).await?;
    let version = detail.review.version;
    Ok(ok_versioned(version, &full_view(detail)?))
}

/// A decision taken in a review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(value_type = String, min_length = 1, max_length = 5000)]
    pub text: Text<5000>,
    /// The process the decision changes.
    pub process_id: Option<Uuid>,
    /// The version of that process that implemented it (if it exists already).
    pub process_version: Option<i64>,
}

/// Record a decision
///
/// Only while the review is open; link it to a process (and, once it exists, the version
/// implementing it).
#[utoipa::path(
    operation_id = "createReviewDecision",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = DecisionBody,
    responses(
        (status = 201, description = "Recorded", body = DecisionView, headers(("Location" = String), ("ETag" = String))),
        (status = 404, description = "No such review in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The review is signed off (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/reviews/{id}/decisions")]
pub async fn create_review_decision(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<DecisionBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let spec = DecisionSpec {
        text: body.text.into(),
        process_id: body.process_id,
        process_version: body.process_version,
    };
    let decision = reviews::create_decision(&state, &principal, id.into_inner(), spec).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((
        actix_web::http::header::LOCATION,
        format!(
            "/v1/reviews/{}/decisions/{}",
            decision.review_id, decision.id
        ),
    ));
    crate::extract::with_etag(&mut response, decision.version);
    Ok(response.json(decision_view(decision)))
}

/// Get a decision
#[utoipa::path(
    operation_id = "getReviewDecision",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"), ("decision_id" = Uuid, Path, description = "Decision id")),
    responses(
        (status = 200, description = "The decision", body = DecisionView, headers(("ETag" = String))),
        (status = 404, description = "No such review or decision", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/reviews/{id}/decisions/{decision_id}")]
pub async fn get_review_decision(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, decision) = path.into_inner();
    let record = reviews::get_decision(&state, &principal, id, decision).await?;
    Ok(ok_versioned(record.version, &decision_view(record)))
}

/// Linking a decision to the process version that implemented it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionLinkBody {
    pub process_id: Option<Uuid>,
    pub process_version: Option<i64>,
}

/// Link a decision to a process version
///
/// Also after sign-off: the version implementing a decision usually comes later.
#[utoipa::path(
    operation_id = "linkReviewDecision",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"), ("decision_id" = Uuid, Path, description = "Decision id")),
    request_body = DecisionLinkBody,
    responses(
        (status = 200, description = "The decision", body = DecisionView, headers(("ETag" = String))),
        (status = 404, description = "No such review or decision", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such process or version", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[patch("/reviews/{id}/decisions/{decision_id}")]
pub async fn link_review_decision(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: ValidJson<DecisionLinkBody>,
) -> ApiResult<HttpResponse> {
    let (id, decision) = path.into_inner();
    let body = body.into_inner();
    let updated = reviews::link_decision(
        &state,
        &principal,
        id,
        decision,
        if_match.0,
        body.process_id,
        body.process_version,
    )
    .await?;
    Ok(ok_versioned(updated.version, &decision_view(updated)))
}

// ---------------------------------------------------------------------------------------
// Live view
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OversightQuery {
    /// Limit order-related items to these processes (comma-separated ids).
    pub process_ids: Option<String>,
    /// Days the headline numbers cover, ending now (1 … 366, default 7).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<i64>,
}

/// What a review would show now.
#[derive(Debug, Serialize, ToSchema)]
pub struct OversightView {
    pub generated_at: DateTime<Utc>,
    pub period_start: DateTime<Utc>,
    pub headline: ReviewHeadline,
    pub items: Vec<OversightItemView>,
    /// Background work that keeps failing for this company (an unreadable stored record, a
    /// broken schedule): what the server cannot do until someone looks. Empty when all runs.
    pub worker_problems: Vec<WorkerProblemView>,
}

/// Background work that keeps failing for the company.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerProblemView {
    /// `oversight`.
    pub worker: String,
    /// What it could not do (`review_schedules`, `overdue_steps`, ...).
    pub phase: String,
    pub detail: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub occurrences: i64,
}

/// A live item (as in a review, without acknowledgement).
#[derive(Debug, Serialize, ToSchema)]
pub struct OversightItemView {
    pub kind: ItemKindName,
    pub object_type: String,
    pub object_id: String,
    pub work_order_id: Option<Uuid>,
    pub link: String,
    pub summary: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// What needs attention now
///
/// The items a review created now would list (overdue steps, stuck orders, flagged
/// assignments, missed appointments, failed e-mails and webhooks, unpaid overdue invoices,
/// bookings cancelled by customers) and the headline numbers of the last `days`.
#[utoipa::path(
    operation_id = "getOversight",
    tag = "reviews",
    params(OversightQuery),
    responses(
        (status = 200, description = "Live oversight", body = OversightView),
        (status = 400, description = "Bad query", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/oversight")]
pub async fn get_oversight(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<OversightQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let process_ids = q
        .process_ids
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let live = reviews::oversight(
        &state,
        &principal,
        reviews::OversightQuery {
            process_ids,
            days: q.days,
        },
    )
    .await?;
    let headline = ReviewHeadline::from(live.snapshot.headline);
    let items = live
        .snapshot
        .found
        .into_iter()
        .map(|f| {
            let order = f.work_order_id.map(|o| o.as_uuid());
            OversightItemView {
                kind: f.kind.into(),
                link: link_of(f.object_type, &f.object_id, order, &f.detail),
                object_type: f.object_type.to_owned(),
                object_id: f.object_id,
                work_order_id: order,
                summary: f.summary,
                detail: f.detail,
            }
        })
        .collect();
    let worker_problems = live
        .worker_problems
        .into_iter()
        .map(|p| WorkerProblemView {
            worker: p.worker,
            phase: p.phase,
            detail: p.detail,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            occurrences: p.occurrences,
        })
        .collect();
    Ok(HttpResponse::Ok().json(OversightView {
        generated_at: live.generated_at,
        period_start: live.period_start,
        headline,
        items,
        worker_problems,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionList {
    pub items: Vec<DecisionView>,
}

/// Decisions about a process
///
/// Every review decision that names the process, newest first (at most 500), with the
/// version that implemented it where linked: the history of why the process changed.
#[utoipa::path(
    operation_id = "listProcessDecisions",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Process id")),
    responses(
        (status = 200, description = "Decisions", body = DecisionList),
        (status = 404, description = "No such process in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/processes/{id}/decisions")]
pub async fn list_process_decisions(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let items = reviews::process_decisions(&state, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DecisionList {
        items: items.into_iter().map(decision_view).collect(),
    }))
}
