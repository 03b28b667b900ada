//! Review schedules, reviews (frozen snapshots with items, findings, decisions, sign-off)
//! and the live oversight view. The worker that creates and escalates reviews is
//! [`crate::oversight`].

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;
use workorders_domain::auth::{Permission, Role};
use workorders_domain::review::{Cadence, Recurrence, ReviewStatus};
use workorders_domain::{ProcessId, UserId, ValidationErrors};
use workorders_persistence::oversight::{
    self as store, DecisionRecord, ItemRecord, ReviewFilter, ReviewRecord, ScheduleRecord,
    WorkerProblem,
};
use workorders_persistence::tenants::TenantRecord;
use workorders_persistence::{Conn, processes, tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, codes, required_version};
use crate::identity::Principal;
use crate::listing::{Cursor, Fetched, invalid_cursor, page_limit};
use crate::oversight::{self, Snapshot};

// ---------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------

/// A review schedule as an owner or admin sets it up. Field pointers in refusals name
/// these fields (`/time`, `/rrule`, `/reviewer_id`, ...).
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub name: String,
    pub cadence: Cadence,
    /// RFC 5545 RRULE value for cadence `rrule`.
    pub rrule: Option<String>,
    /// Local time of day in the tenant's zone, `HH:MM`.
    pub time: String,
    /// First day counted (tenant's calendar); default today.
    pub starts_on: Option<NaiveDate>,
    pub reviewer_id: UserId,
    /// Processes in scope; empty: all work.
    pub process_ids: Vec<Uuid>,
    /// `false` pauses the schedule.
    pub active: bool,
}

/// A schedule with the name of the tenant's time zone its times are in.
#[derive(Debug)]
pub struct Schedule {
    pub record: ScheduleRecord,
    pub time_zone: String,
}

/// A page of schedules with the name of the tenant's time zone.
#[derive(Debug)]
pub struct Schedules {
    pub fetched: Fetched<ScheduleRecord>,
    pub time_zone: String,
}

async fn tenant_of(app: &App, caller: &Principal) -> AppResult<TenantRecord> {
    tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn tenant_zone(app: &App, caller: &Principal) -> AppResult<String> {
    Ok(tenant_of(app, caller).await?.time_zone.name().to_owned())
}

/// Checks a schedule and builds the record (next occurrence after `now`); also returns
/// the tenant's time zone.
async fn parse_schedule(
    app: &App,
    caller: &Principal,
    spec: ScheduleSpec,
    mut base: ScheduleRecord,
    now: DateTime<Utc>,
) -> AppResult<(ScheduleRecord, String)> {
    let tenant = tenant_of(app, caller).await?;
    let tz = tenant.time_zone.tz();
    let mut errors = ValidationErrors::new();
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.add("/name", "1 to 200 characters");
    }
    let time = NaiveTime::parse_from_str(&spec.time, "%H:%M").ok();
    if time.is_none() || spec.time.len() != 5 {
        errors.add("/time", "a local time of day as HH:MM, e.g. 08:00");
    }
    match users::get(&app.db, caller.tenant_id, spec.reviewer_id).await? {
        Some(u)
            if u.active
                && matches!(
                    u.role,
                    Role::Owner
                        | Role::Admin
                        | Role::Dispatcher
                        | Role::Reviewer
                        | Role::Accountant
                ) => {}
        Some(_) => errors.add(
            "/reviewer_id",
            "must be an active owner, admin, dispatcher, reviewer or accountant",
        ),
        None => errors.add("/reviewer_id", "no such user in this tenant"),
    }
    if spec.process_ids.len() > 50 {
        errors.add("/process_ids", "at most 50 processes");
    }
    for (i, id) in spec.process_ids.iter().enumerate().take(50) {
        if processes::get(&app.db, caller.tenant_id, ProcessId(*id))
            .await?
            .is_none()
        {
            errors.add(
                format!("/process_ids/{i}"),
                "no such process in this tenant",
            );
        }
    }
    let mut ids = spec.process_ids.clone();
    ids.sort();
    ids.dedup();
    let today = now.with_timezone(&tz).date_naive();
    let starts_on = spec.starts_on.unwrap_or(today);
    let earliest = today - Duration::days(366);
    let latest = today + Duration::days(5 * 366);
    if starts_on < earliest || starts_on > latest {
        errors.add(
            "/starts_on",
            "within a year before and five years after today",
        );
    }
    let rule = spec
        .rrule
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let mut next = None;
    if let (Some(time), true) = (time, (earliest..=latest).contains(&starts_on)) {
        match Recurrence::new(spec.cadence, rule.as_deref(), time, tz, starts_on) {
            Err(e) => errors.add("/rrule", e.to_string()),
            Ok(r) => {
                let from = now.max(
                    starts_on
                        .and_time(NaiveTime::MIN)
                        .and_local_timezone(tz)
                        .earliest()
                        .map_or(now, |d| d.with_timezone(&Utc) - Duration::seconds(1)),
                );
                next = r.next_after(from);
                if next.is_none() {
                    errors.add("/rrule", "the rule has no occurrence after now");
                }
            }
        }
    }
    errors.finish()?;
    base.name = name.to_owned();
    base.cadence = spec.cadence;
    base.rrule = rule;
    base.time_of_day = time.unwrap_or(NaiveTime::MIN);
    base.starts_on = starts_on;
    base.reviewer_id = spec.reviewer_id;
    base.process_ids = ids;
    base.active = spec.active;
    base.next_due_at = next;
    Ok((base, tenant.time_zone.name().to_owned()))
}

/// Creates a review schedule. Owners and admins.
pub async fn create_schedule(
    app: &App,
    caller: &Principal,
    spec: ScheduleSpec,
) -> AppResult<Schedule> {
    caller.require(Permission::TenantWrite)?;
    let now = app.db.now();
    let base = ScheduleRecord {
        id: Uuid::now_v7(),
        tenant_id: caller.tenant_id,
        name: String::new(),
        cadence: Cadence::Daily,
        rrule: None,
        time_of_day: NaiveTime::MIN,
        starts_on: now.date_naive(),
        reviewer_id: UserId(Uuid::nil()),
        process_ids: Vec::new(),
        active: true,
        next_due_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let (record, time_zone) = parse_schedule(app, caller, spec, base, now).await?;
    let mut tx = app.db.begin_write().await?;
    store::insert_schedule(tx.conn(), &record).await?;
    tx.commit().await?;
    Ok(Schedule { record, time_zone })
}

/// One page of the tenant's schedules in id order.
pub async fn list_schedules(
    app: &App,
    caller: &Principal,
    limit: Option<i64>,
    after: Cursor<Uuid>,
) -> AppResult<Schedules> {
    caller.require(Permission::WorkOrdersRead)?;
    let limit = page_limit(limit)?;
    let after = after.resolve()?;
    let rows =
        store::list_schedules(&app.db, caller.tenant_id, after, limit.saturating_add(1)).await?;
    let time_zone = tenant_zone(app, caller).await?;
    Ok(Schedules {
        fetched: Fetched { rows, limit },
        time_zone,
    })
}

pub async fn get_schedule(app: &App, caller: &Principal, id: Uuid) -> AppResult<Schedule> {
    caller.require(Permission::WorkOrdersRead)?;
    let record = store::get_schedule(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let time_zone = tenant_zone(app, caller).await?;
    Ok(Schedule { record, time_zone })
}

/// Replaces a schedule at `expected_version`; the next review is computed afresh from now.
/// Owners and admins.
pub async fn update_schedule(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    spec: ScheduleSpec,
) -> AppResult<Schedule> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let current = store::get_schedule(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = app.db.now();
    let (record, time_zone) = parse_schedule(app, caller, spec, current, now).await?;
    let mut tx = app.db.begin_write().await?;
    let saved = store::update_schedule(tx.conn(), &record, expected, now)
        .await?
        .into_app()?;
    tx.commit().await?;
    Ok(Schedule {
        record: saved,
        time_zone,
    })
}

/// Deletes a schedule at `expected_version`; its reviews stay. Owners and admins.
pub async fn delete_schedule(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let current = store::get_schedule(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if expected != current.version {
        return Err(AppError::Stale {
            current_version: current.version,
        });
    }
    let mut tx = app.db.begin_write().await?;
    if !store::delete_schedule(tx.conn(), caller.tenant_id, current.id, expected).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------------

/// A review with its items and decisions.
#[derive(Debug)]
pub struct ReviewDetail {
    pub review: ReviewRecord,
    pub items: Vec<ItemRecord>,
    pub decisions: Vec<DecisionRecord>,
}

/// The detail read on a connection (inside a transaction before its commit).
async fn detail_on(conn: &mut Conn, review: ReviewRecord) -> AppResult<ReviewDetail> {
    let items = store::items_of(conn, review.id).await?;
    let decisions = store::decisions_of(conn, review.id).await?;
    Ok(ReviewDetail {
        review,
        items,
        decisions,
    })
}

/// Which reviews to list.
#[derive(Debug, Clone)]
pub struct ReviewQuery {
    pub limit: Option<i64>,
    /// The (occurrence as stored text, id) of the last review of the previous page.
    pub before: Cursor<(String, Uuid)>,
    /// `open` or `signed_off`.
    pub status: Option<String>,
    pub reviewer_id: Option<UserId>,
    pub schedule_id: Option<Uuid>,
    pub late: Option<bool>,
}

/// One page of reviews.
#[derive(Debug)]
pub struct ReviewPage {
    pub rows: Vec<ReviewRecord>,
    /// Where the next page starts (as [`ReviewQuery::before`] takes it); `None` on the last.
    pub next: Option<(String, Uuid)>,
}

/// One page of the tenant's reviews, newest occurrence first.
pub async fn list(app: &App, caller: &Principal, query: ReviewQuery) -> AppResult<ReviewPage> {
    caller.require(Permission::WorkOrdersRead)?;
    let limit = page_limit(query.limit)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(ReviewStatus::parse(s).ok_or_else(|| {
            AppError::malformed(codes::INVALID_QUERY, "status is `open` or `signed_off`")
        })?),
    };
    let before = match query.before.resolve()? {
        None => None,
        Some((key, id)) => {
            let at = workorders_persistence::parse_instant("cursor", &key)
                .map_err(|_| invalid_cursor())?;
            Some((at, id))
        }
    };
    let filter = ReviewFilter {
        status,
        reviewer: query.reviewer_id,
        schedule: query.schedule_id,
        late: query.late,
    };
    let mut rows = store::list_reviews(
        &app.db,
        caller.tenant_id,
        &filter,
        before,
        limit.saturating_add(1),
    )
    .await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| {
            (
                workorders_persistence::format_instant(r.scheduled_for),
                r.id,
            )
        })
    } else {
        None
    };
    Ok(ReviewPage { rows, next })
}

async fn load_review(app: &App, caller: &Principal, id: Uuid) -> AppResult<ReviewRecord> {
    let mut conn = app.db.acquire().await?;
    store::get_review(&mut conn, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A review with its items and decisions.
pub async fn get(app: &App, caller: &Principal, id: Uuid) -> AppResult<ReviewDetail> {
    caller.require(Permission::WorkOrdersRead)?;
    let review = load_review(app, caller, id).await?;
    let mut conn = app.db.acquire().await?;
    detail_on(&mut conn, review).await
}

/// The reviewer works on a review; owners and admins may stand in.
fn may_work(caller: &Principal, review: &ReviewRecord) -> AppResult<UserId> {
    caller.require(Permission::WorkOrdersRead)?;
    let user = caller
        .user_id()
        .ok_or_else(|| AppError::forbidden("reviews are worked by people, not API keys"))?;
    if user == review.reviewer_id || caller.require(Permission::TenantWrite).is_ok() {
        Ok(user)
    } else {
        Err(AppError::forbidden(
            "only the review's reviewer (or an owner or admin) can work on it",
        ))
    }
}

fn require_open(review: &ReviewRecord) -> AppResult<()> {
    if review.status == ReviewStatus::Open {
        Ok(())
    } else {
        Err(AppError::InvalidTransition {
            detail: "the review is signed off and frozen".to_owned(),
            current_state: review.status.as_str().to_owned(),
            allowed_actions: vec!["link_decision".to_owned()],
        })
    }
}

/// Marks an item of an open review as looked at, optionally with a note.
pub async fn acknowledge_item(
    app: &App,
    caller: &Principal,
    review_id: Uuid,
    item_id: Uuid,
    note: Option<String>,
) -> AppResult<ItemRecord> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::invalid("/note", "at most 2000 characters"));
    }
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let review = store::get_review(tx.conn(), caller.tenant_id, review_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let user = may_work(caller, &review)?;
    require_open(&review)?;
    let updated =
        store::acknowledge_item(tx.conn(), review_id, item_id, user, note.as_deref(), now)
            .await?
            .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(updated)
}

/// The findings after a change: absent keeps `current`, `Some(None)` clears.
fn checked_findings(
    findings: Option<Option<String>>,
    current: Option<String>,
) -> AppResult<Option<String>> {
    match findings {
        None => Ok(current),
        Some(None) => Ok(None),
        Some(Some(text)) => {
            let text = text.trim().to_owned();
            if text.chars().count() > 20_000 {
                Err(AppError::invalid("/findings", "at most 20000 characters"))
            } else {
                Ok((!text.is_empty()).then_some(text))
            }
        }
    }
}

/// Writes an open review's findings at `expected_version` (`Some(None)` clears them).
pub async fn update_findings(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    findings: Option<Option<String>>,
) -> AppResult<ReviewDetail> {
    let expected = required_version(expected_version)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut review = store::get_review(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    may_work(caller, &review)?;
    require_open(&review)?;
    review.findings = checked_findings(findings, review.findings.take())?;
    review.updated_at = now;
    let saved = store::update_review(tx.conn(), &review, expected)
        .await?
        .into_app()?;
    let detail = detail_on(tx.conn(), saved).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Signs a review off at `expected_version` once every item is acknowledged, with final
/// findings when given; the review is frozen afterwards.
pub async fn sign_off(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    findings: Option<Option<String>>,
) -> AppResult<ReviewDetail> {
    let expected = required_version(expected_version)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut review = store::get_review(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let user = may_work(caller, &review)?;
    require_open(&review)?;
    let items = store::items_of(tx.conn(), review.id).await?;
    let open = items.iter().filter(|i| i.acknowledged_at.is_none()).count();
    if open > 0 {
        return Err(AppError::Unprocessable {
            code: codes::UNACKNOWLEDGED_ITEMS,
            detail: format!(
                "{open} of {} items are not acknowledged; acknowledge them before signing off",
                items.len()
            ),
        });
    }
    review.findings = checked_findings(findings, review.findings.take())?;
    review.status = ReviewStatus::SignedOff;
    review.signed_off_at = Some(now);
    review.signed_off_by = Some(user);
    review.updated_at = now;
    let saved = store::update_review(tx.conn(), &review, expected)
        .await?
        .into_app()?;
    tx.emit(
        saved.tenant_id,
        "review.signed_off",
        serde_json::json!({
            "review_id": saved.id, "schedule_id": saved.schedule_id,
            "signed_off_by": user, "late": now > saved.due_at,
        }),
    );
    let detail = detail_on(tx.conn(), saved).await?;
    tx.commit().await?;
    Ok(detail)
}

// ---------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------

/// A decision taken in a review.
#[derive(Debug, Clone)]
pub struct DecisionSpec {
    pub text: String,
    /// The process the decision changes.
    pub process_id: Option<Uuid>,
    /// The version of that process that implemented it (if it exists already).
    pub process_version: Option<i64>,
}

/// Checks that the process (and version) exist in the tenant.
async fn check_link(
    app: &App,
    caller: &Principal,
    process: Option<Uuid>,
    version: Option<i64>,
) -> AppResult<()> {
    let mut errors = ValidationErrors::new();
    match (process, version) {
        (None, Some(_)) => errors.add("/process_id", "give the process of the version"),
        (Some(p), v) => match processes::get(&app.db, caller.tenant_id, ProcessId(p)).await? {
            None => errors.add("/process_id", "no such process in this tenant"),
            Some(_) => {
                if let Some(n) = v
                    && processes::get_version(&app.db, caller.tenant_id, ProcessId(p), n)
                        .await?
                        .is_none()
                {
                    errors.add("/process_version", "no such version of the process");
                }
            }
        },
        (None, None) => {}
    }
    errors.finish()?;
    Ok(())
}

/// Records a decision in an open review.
pub async fn create_decision(
    app: &App,
    caller: &Principal,
    review_id: Uuid,
    spec: DecisionSpec,
) -> AppResult<DecisionRecord> {
    let text = spec.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > 5000 {
        return Err(AppError::invalid("/text", "1 to 5000 characters"));
    }
    let review = load_review(app, caller, review_id).await?;
    let user = may_work(caller, &review)?;
    require_open(&review)?;
    check_link(app, caller, spec.process_id, spec.process_version).await?;
    let now = app.db.now();
    let decision = DecisionRecord {
        id: Uuid::now_v7(),
        review_id: review.id,
        tenant_id: caller.tenant_id,
        text,
        process_id: spec.process_id,
        process_version: spec.process_version,
        created_by: user,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin_write().await?;
    let current = store::get_review(tx.conn(), caller.tenant_id, review.id)
        .await?
        .ok_or(AppError::NotFound)?;
    require_open(&current)?;
    store::insert_decision(tx.conn(), &decision).await?;
    tx.commit().await?;
    Ok(decision)
}

pub async fn get_decision(
    app: &App,
    caller: &Principal,
    review_id: Uuid,
    decision_id: Uuid,
) -> AppResult<DecisionRecord> {
    caller.require(Permission::WorkOrdersRead)?;
    let mut conn = app.db.acquire().await?;
    store::get_decision(&mut conn, caller.tenant_id, review_id, decision_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Links a decision to the process version that implemented it, at `expected_version`;
/// also after sign-off.
pub async fn link_decision(
    app: &App,
    caller: &Principal,
    review_id: Uuid,
    decision_id: Uuid,
    expected_version: Option<i64>,
    process_id: Option<Uuid>,
    process_version: Option<i64>,
) -> AppResult<DecisionRecord> {
    let review = load_review(app, caller, review_id).await?;
    may_work(caller, &review)?;
    let expected = required_version(expected_version)?;
    check_link(app, caller, process_id, process_version).await?;
    let mut tx = app.db.begin_write().await?;
    let current = store::get_decision(tx.conn(), caller.tenant_id, review_id, decision_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if expected != current.version {
        return Err(AppError::Stale {
            current_version: current.version,
        });
    }
    let updated = store::link_decision(
        tx.conn(),
        caller.tenant_id,
        review_id,
        decision_id,
        process_id,
        process_version,
        expected,
        app.db.now(),
    )
    .await?
    .ok_or(AppError::Stale {
        current_version: expected + 1,
    })?;
    tx.commit().await?;
    Ok(updated)
}

/// Every review decision that names the process, newest first.
pub async fn process_decisions(
    app: &App,
    caller: &Principal,
    process_id: Uuid,
) -> AppResult<Vec<DecisionRecord>> {
    caller.require(Permission::WorkOrdersRead)?;
    processes::get(&app.db, caller.tenant_id, ProcessId(process_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(store::decisions_for_process(&app.db, caller.tenant_id, process_id).await?)
}

// ---------------------------------------------------------------------------------------
// Live view
// ---------------------------------------------------------------------------------------

/// What the live view covers.
#[derive(Debug, Clone, Default)]
pub struct OversightQuery {
    /// Process ids as given (order-related items only for these); empty: all work.
    pub process_ids: Vec<String>,
    /// Days the headline numbers cover, ending now (1 … 366, default 7).
    pub days: Option<i64>,
}

/// What a review created now would show, and the company's failing background work.
pub struct Oversight {
    pub generated_at: DateTime<Utc>,
    pub period_start: DateTime<Utc>,
    pub snapshot: Snapshot,
    pub worker_problems: Vec<WorkerProblem>,
}

pub async fn oversight(
    app: &App,
    caller: &Principal,
    query: OversightQuery,
) -> AppResult<Oversight> {
    caller.require(Permission::WorkOrdersRead)?;
    let days = query.days.unwrap_or(7);
    if !(1..=366).contains(&days) {
        return Err(AppError::malformed(codes::INVALID_QUERY, "days is 1 … 366"));
    }
    let mut scope = Vec::new();
    for part in &query.process_ids {
        scope.push(part.parse::<Uuid>().map_err(|_| {
            AppError::malformed(codes::INVALID_QUERY, "process_ids are comma-separated ids")
        })?);
    }
    if scope.len() > 50 {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "at most 50 process ids",
        ));
    }
    let tenant = tenant_of(app, caller).await?;
    let now = app.db.now();
    let since = now - Duration::days(days);
    let snapshot = oversight::snapshot(
        &app.db,
        caller.tenant_id,
        &scope,
        now,
        (since, now),
        tenant.time_zone.tz(),
    )
    .await?;
    let worker_problems = store::problems(&app.db, caller.tenant_id).await?;
    Ok(Oversight {
        generated_at: now,
        period_start: since,
        snapshot,
        worker_problems,
    })
}
