//! Request ids on every response, Prometheus metrics, and the safety net that turns every
//! error response (also actix's own 404/405/413) into problem details.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use tracing_actix_web::RequestId;

use crate::error::{PROBLEM_CONTENT_TYPE, Problem, codes};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub use workorders_app::metrics::Metrics;

/// Records a request in the metrics, labelled by route pattern (not by raw path, so that ids
/// do not explode the label space).
pub async fn track_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &result {
            Ok(res) => (
                res.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned()),
                res.status().as_u16(),
            ),
            Err(e) => (
                "unmatched".to_owned(),
                e.as_response_error().status_code().as_u16(),
            ),
        };
        metrics.observe(&method, &route, status, started.elapsed().as_secs_f64());
    }
    result
}

/// Copies the request id that `TracingLogger` gave the request into an `X-Request-Id`
/// response header, so a client can quote it and we can find the log lines.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// Problem details already, or an HTML error page of the server's own pages.
fn is_problem(res: &ServiceResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE) || v.starts_with("text/html"))
}

fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (codes::NOT_FOUND, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            codes::METHOD_NOT_ALLOWED,
            "this method is not allowed on this resource",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (codes::PAYLOAD_TOO_LARGE, "request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (codes::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
        }
        StatusCode::UNAUTHORIZED => (codes::UNAUTHENTICATED, "authentication required"),
        StatusCode::FORBIDDEN => (codes::FORBIDDEN, "not allowed"),
        StatusCode::TOO_MANY_REQUESTS => (codes::RATE_LIMITED, "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => {
            (codes::UNAVAILABLE, "the service is temporarily unavailable")
        }
        s if s.is_server_error() => (codes::INTERNAL, "an internal error occurred"),
        _ => (codes::BAD_REQUEST, "the request could not be understood"),
    }
}

/// Replaces any error response that is not yet problem details (actix's own 404, 405, 413,
/// CORS rejections, ...) with one, keeping headers such as `Allow` and CORS headers.
pub async fn problem_details(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&res) {
        return Ok(res.map_into_left_body());
    }
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            "request failed without problem details"
        );
    }
    let (code, detail) = code_for(status);
    let (request, old) = res.into_parts();
    let mut replacement = Problem::new(status, code, detail).into_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(request, replacement).map_into_right_body())
}

/// A handler that panics answers 500 (a problem document, the panic logged with the request's
/// span) instead of dropping the connection; its transaction rolls back as it unwinds.
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .await
    {
        Ok(res) => res,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            tracing::error!(panic = %message, "request handler panicked");
            Err(crate::error::ApiError::internal(anyhow::anyhow!("handler panicked")).into())
        }
    }
}

/// CORS for the booking widget: requests under `/v1/public/{tenant}/` (and a quote link's
/// `/v1/public/quotes/{token}`, whose company is found by the token) from a browser are
/// allowed only from the origins the company configured (`website_origins`). Other routes use
/// the server-wide CORS configuration.
pub async fn public_cors(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // `/v1/public/{tenant}/...`, or `/v1/public/quotes/{token}...` (the company behind the
    // quote link).
    let mut segments = req
        .path()
        .strip_prefix("/v1/public/")
        .map(|rest| rest.split('/').map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    let slug = segments.next();
    let quote_token = segments
        .next()
        .filter(|_| slug.as_deref() == Some("quotes"));
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(slug), Some(origin)) = (slug, origin) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let allowed = match (req.app_data::<web::Data<AppState>>(), quote_token) {
        (Some(state), Some(token)) => {
            workorders_app::quotes::accepts_website_origin(state, &token, &origin).await
        }
        (Some(state), None) => {
            workorders_app::tenant::accepts_website_origin(state, &slug, &origin).await
        }
        (None, _) => false,
    };
    let origin_value = HeaderValue::from_str(&origin).ok();
    if req.method() == actix_web::http::Method::OPTIONS {
        // Preflights count toward the client's budget like the requests they announce.
        let client = crate::client_ip::of_service_request(&req);
        let limited = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.public_limits.per_client.attempt(&client));
        if let Some(Err(retry_after_secs)) = limited {
            let response =
                crate::error::ApiError::RateLimited { retry_after_secs }.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
        let response = match (allowed, origin_value) {
            (true, Some(origin)) => actix_web::HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "content-type, idempotency-key",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"))
                .finish(),
            _ => Problem::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "this origin may not call the booking endpoints",
            )
            .into_response(),
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    // The server-wide CORS layer does not know tenant origins: answer for this route here.
    req.headers_mut().remove(header::ORIGIN);
    let mut res = next.call(req).await?;
    if allowed && let Some(origin) = origin_value {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("location, retry-after, x-request-id, idempotent-replayed"),
        );
    }
    Ok(res.map_into_left_body())
}
