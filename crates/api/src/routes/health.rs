//! Liveness, readiness and metrics for operators and orchestrators.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use workorders_app::health;

use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness
///
/// The process is up. Touches no database; use it as a container health check.
#[utoipa::path(operation_id = "livez", tag = "operations", responses((status = 200, description = "Process is up", body = HealthStatus)))]
#[get("/livez")]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Readiness
///
/// The database answers and all migrations are applied; 503 otherwise.
#[utoipa::path(
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "Database unreachable or not migrated", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    health::ready(&state).await?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ok" }))
}

/// Metrics
///
/// Prometheus/OpenMetrics text: request counts and latency histograms by route and status,
/// database pool usage.
#[utoipa::path(
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Metrics in the OpenMetrics text format", body = String, content_type = "application/openmetrics-text"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let text = health::metrics_text(&state)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
