//! Process-improvement analytics over the order history: per step of a process version,
//! and two versions side by side. JSON or CSV.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::analytics;
use workorders_domain::ProcessId;
use workorders_domain::analytics::{self as domain_analytics, Comparison, Report};
use workorders_domain::auth::Permission;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, codes};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Version number; default: the published one.
    #[param(minimum = 1)]
    pub version: Option<i64>,
    /// First day (tenant's time zone) of the orders' creation; default 90 days ago.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive); default today.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub to: Option<NaiveDate>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// The earlier version number.
    #[param(minimum = 1)]
    pub a: i64,
    /// The later version number.
    #[param(minimum = 1)]
    pub b: i64,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub from: Option<NaiveDate>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub to: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One process version over a date range.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessAnalytics {
    pub process_id: Uuid,
    pub version: i64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Orders created in the range: `orders`, `completed`, `closed` (paid), `cancelled`,
    /// `in_flight`; `cycle_to_completion` and `cycle_to_payment` (seconds: count, min,
    /// median, p90, mean, max; nearest-rank percentiles), `on_time_rate`; and `steps` in
    /// process order, each with `activated`, `passed` (done + skipped), `done`, `skipped`,
    /// `reopened`, `in_flight`, `abandoned`, `waiting` (activated → started), `working`
    /// (started → done), `total` (activated → finished), `skip_rate`, `rework_rate` (reopens
    /// per finished), `overdue_rate` (finished after the due time), `share_of_cycle_time`
    /// (each instant of a completed order split among the steps open then; shares add up to
    /// at most 1) and `bottleneck_rank` (1 = largest share).
    #[schema(value_type = Object)]
    pub report: Report,
}

/// Two versions of a process over the same range.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionComparison {
    pub process_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `a` and `b` (reports as in `getProcessAnalytics`), `steps` (per step key: `change`
    /// kept/removed/added, median total time, share and overdue rate in each, deltas b − a),
    /// `cycle_median_delta_seconds` and `on_time_rate_delta` (b − a).
    #[schema(value_type = Object)]
    pub comparison: Comparison,
}

fn wants_csv(req: &HttpRequest, format: Option<&str>) -> ApiResult<bool> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "format: json or csv",
        )),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

fn csv(body: String, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body)
}

/// Step analytics of a process version
///
/// Computed from the order history of the orders created in the range (finished steps of
/// orders still running count; their open steps are in flight). Which steps take the time,
/// wait longest, get skipped or reworked, run late: the candidates to remove or to add help
/// to. `?format=csv` (or `Accept: text/csv`) gives one RFC 4180 row per step.
#[utoipa::path(
    operation_id = "getProcessAnalytics",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "Process id"), AnalyticsQuery),
    responses(
        (status = 200, description = "The report (JSON, or CSV with one row per step)",
         content((ProcessAnalytics = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad range or format", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such process or version in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/analytics/processes/{id}")]
pub async fn get_process_analytics(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<AnalyticsQuery>,
) -> ApiResult<HttpResponse> {
    // Checked here too (the use case checks it again) so that a bad format is answered
    // before the process is looked up, as the contract documents.
    principal.require(Permission::WorkOrdersRead)?;
    let as_csv = wants_csv(&req, query.format.as_deref())?;
    let process = ProcessId(id.into_inner());
    let analytics::VersionReport {
        days: analytics::Days { from, to },
        version,
        report,
    } = analytics::version_report(
        &state,
        &principal,
        process,
        query.version,
        query.from,
        query.to,
    )
    .await?;
    if as_csv {
        return Ok(csv(
            domain_analytics::to_csv(&report),
            &format!("process-v{version}-{from}-{to}"),
        ));
    }
    Ok(HttpResponse::Ok().json(ProcessAnalytics {
        process_id: process.0,
        version,
        from,
        to,
        report,
    }))
}

/// Compare two versions of a process
///
/// Both versions measured over the same range, step by step (kept, removed, added) with
/// the change in median time, share of the cycle time and overdue rate, and the change in
/// the median cycle time and the on-time rate: did removing or adding a step help?
#[utoipa::path(
    operation_id = "compareProcessVersions",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "Process id"), CompareQuery),
    responses(
        (status = 200, description = "Both reports and the step-by-step comparison (JSON, or CSV)",
         content((VersionComparison = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad range or format", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such process or version in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/analytics/processes/{id}/compare")]
pub async fn compare_process_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<CompareQuery>,
) -> ApiResult<HttpResponse> {
    // Checked here too (the use case checks it again) so that a bad format is answered
    // before the process is looked up, as the contract documents.
    principal.require(Permission::WorkOrdersRead)?;
    let as_csv = wants_csv(&req, query.format.as_deref())?;
    let process = ProcessId(id.into_inner());
    let analytics::VersionComparison {
        days: analytics::Days { from, to },
        a,
        b,
        comparison,
    } = analytics::compare_versions(
        &state,
        &principal,
        process,
        (query.a, query.b),
        query.from,
        query.to,
    )
    .await?;
    if as_csv {
        return Ok(csv(
            domain_analytics::comparison_to_csv(&comparison),
            &format!("process-v{a}-v{b}-{from}-{to}"),
        ));
    }
    Ok(HttpResponse::Ok().json(VersionComparison {
        process_id: process.0,
        from,
        to,
        comparison,
    }))
}
