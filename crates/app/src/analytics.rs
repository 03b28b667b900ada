//! Process-improvement analytics over the order history: per step of a process version,
//! and two versions side by side.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use workorders_domain::analytics::{self, Accumulator, Comparison, Report};
use workorders_domain::auth::Permission;
use workorders_domain::{ProcessId, TenantId};
use workorders_persistence::processes::{self, VersionRecord};
use workorders_persistence::tenants;

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::identity::Principal;

/// Longest range of one report.
pub const MAX_DAYS: i64 = 400;

/// The days asked for (`from`, `to`, defaults filled in) in the tenant's zone.
#[derive(Debug, Clone, Copy)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A version's report over a range of days.
pub struct VersionReport {
    pub days: Days,
    pub version: i64,
    pub report: Report,
}

/// Two versions compared over the same days.
pub struct VersionComparison {
    pub days: Days,
    pub a: i64,
    pub b: i64,
    pub comparison: Comparison,
}

/// The report of `version` (default: the published one) of `process` over the orders created
/// in `from ..= to` (default: the last 90 days, tenant's zone; at most [`MAX_DAYS`]).
pub async fn version_report(
    app: &App,
    caller: &Principal,
    process: ProcessId,
    version_number: Option<i64>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<VersionReport> {
    caller.require(Permission::WorkOrdersRead)?;
    let tenant = caller.tenant_id;
    let (from, to, start, end) = range(app, tenant, from, to).await?;
    let v = version(app, tenant, process, version_number).await?;
    let report = report_of(app, tenant, &v, start, end).await?;
    Ok(VersionReport {
        days: Days { from, to },
        version: v.number,
        report,
    })
}

/// Versions `a` and `b` of `process` measured over the same days, step by step.
pub async fn compare_versions(
    app: &App,
    caller: &Principal,
    process: ProcessId,
    (a, b): (i64, i64),
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<VersionComparison> {
    caller.require(Permission::WorkOrdersRead)?;
    let tenant = caller.tenant_id;
    let (from, to, start, end) = range(app, tenant, from, to).await?;
    let va = version(app, tenant, process, Some(a)).await?;
    let vb = version(app, tenant, process, Some(b)).await?;
    // One after the other: each report takes one of the instance's analytics permits, and
    // holding one while waiting for another could deadlock concurrent comparisons.
    let ra = report_of(app, tenant, &va, start, end).await?;
    let rb = report_of(app, tenant, &vb, start, end).await?;
    Ok(VersionComparison {
        days: Days { from, to },
        a: va.number,
        b: vb.number,
        comparison: analytics::compare(ra, rb),
    })
}

/// The range as days and as UTC instants `[from 00:00, to + 1 day 00:00)` in the tenant's zone.
async fn range(
    app: &App,
    tenant: TenantId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<(NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
    let mut conn = app.db.acquire().await?;
    let tz = tenants::get_in(&mut conn, tenant)
        .await?
        .ok_or(AppError::NotFound)?
        .time_zone
        .tz();
    let today = app.db.now().with_timezone(&tz).date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(89));
    if from > to {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "from must not be after to",
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            format!("at most {MAX_DAYS} days per report"),
        ));
    }
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| AppError::malformed(codes::INVALID_QUERY, "date out of range"))
    };
    let end_day = to
        .succ_opt()
        .ok_or_else(|| AppError::malformed(codes::INVALID_QUERY, "date out of range"))?;
    Ok((from, to, start(from)?, start(end_day)?))
}

async fn version(
    app: &App,
    tenant: TenantId,
    process: ProcessId,
    number: Option<i64>,
) -> AppResult<VersionRecord> {
    let number = match number {
        Some(n) => n,
        None => processes::get(&app.db, tenant, process)
            .await?
            .ok_or(AppError::NotFound)?
            .published_version
            .ok_or(AppError::NotFound)?,
    };
    processes::get_version(&app.db, tenant, process, number)
        .await?
        .ok_or(AppError::NotFound)
}

async fn report_of(
    app: &App,
    tenant: TenantId,
    v: &VersionRecord,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Report> {
    use workorders_persistence::analytics as store;
    // Few reports at a time per instance: each reads a lot and holds a connection.
    let _permit = app
        .analytics_permits
        .acquire()
        .await
        .map_err(AppError::internal)?;
    let keys: Vec<String> = v.steps.iter().map(|s| s.key.clone()).collect();
    let mut acc = Accumulator::new(&keys);
    let orders = store::version_orders(&app.db, tenant, v.id, from, to).await?;
    for chunk in orders.chunks(store::CHUNK) {
        let histories = store::histories(&app.db, tenant, chunk).await?;
        // The arithmetic runs on the blocking pool, not on the worker serving requests.
        acc = tokio::task::spawn_blocking(move || {
            for h in &histories {
                acc.add(h);
            }
            acc
        })
        .await
        .map_err(AppError::internal)?;
    }
    tokio::task::spawn_blocking(move || acc.finish())
        .await
        .map_err(AppError::internal)
}
