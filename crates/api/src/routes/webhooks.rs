//! Webhook endpoints per tenant: registration (secret shown once), rotation with overlap,
//! test pings, the delivery log, and manual redelivery.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::webhook_endpoints;
use workorders_domain::text::{Line, Text};
use workorders_persistence::webhooks::{self as store, EndpointRecord};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery};
use crate::routes::{created, double_option, ok_versioned};
use crate::state::AppState;

/// An endpoint as shown (the secret only once, at creation and rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub id: Uuid,
    #[schema(example = "https://erp.example.com/hooks/workorders")]
    pub url: String,
    pub description: Option<String>,
    /// Subscribed event types; empty: all.
    #[schema(example = json!(["work_order.completed", "booking.created"]))]
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the server disabled it (410 Gone, a long failure streak).
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row now.
    pub failure_streak: i64,
    pub failing_since: Option<DateTime<Utc>>,
    /// Until then deliveries are also signed with the previous secret.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&EndpointRecord> for WebhookEndpointView {
    fn from(e: &EndpointRecord) -> Self {
        Self {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failure_streak: e.failure_streak,
            failing_since: e.failing_since,
            previous_secret_expires_at: e.previous_secret_expires_at,
            version: e.version,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A new endpoint with its signing secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// `whsec_` + base64 key for verifying `webhook-signature`. Store it now.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// http(s) URL. Targets on loopback, private, link-local or cloud-metadata addresses
    /// are refused unless the server allows private targets.
    #[schema(value_type = String, max_length = 2000, example = "https://erp.example.com/hooks/workorders")]
    pub url: Line<2000>,
    /// Event types to receive; absent or empty: all.
    #[schema(max_items = 50, value_type = Option<Vec<String>>)]
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 50>"
    )]
    pub event_types: Option<Vec<Line<100>>>,
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Text<500>>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub url: Option<Line<2000>>,
    #[schema(max_items = 50, value_type = Option<Vec<String>>)]
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 50>"
    )]
    pub event_types: Option<Vec<Line<100>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 4000, value_type = Option<String>)]
    pub description: Option<Option<Text<4000>>>,
    /// Enabling again clears the failure streak and the reason it was disabled.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the previous secret keeps signing too (0 to 604800 seconds, default 86400).
    #[schema(minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret (shown only now).
    pub secret: String,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// What was queued, e.g. `webhook.test`.
    #[schema(example = "webhook.test")]
    pub event_type: String,
}

/// A message to one endpoint and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// The `webhook-id` header: the same for every attempt and redelivery.
    pub message_id: Uuid,
    #[schema(example = "work_order.completed")]
    pub event_type: String,
    /// `pending`, `delivered` or `dead` (retries exhausted, endpoint gone or disabled).
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: DateTime<Utc>,
    /// HTTP status of the answer; absent when there was none (timeout, refused).
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The first 512 bytes of the answer.
    pub response_snippet: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// The signed body as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts_log: Vec<AttemptView>,
}

fn delivery_view(d: &store::Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        message_id: d.message_id,
        event_type: d.event_type.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        delivered_at: d.delivered_at,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
}

/// Register a webhook endpoint
///
/// Deliveries follow the Standard Webhooks specification: a JSON body
/// `{"type", "timestamp", "data"}` POSTed with the headers `webhook-id` (stable per message:
/// dedupe on it), `webhook-timestamp` (Unix seconds) and `webhook-signature`
/// (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64-decoded part of
/// the secret after `whsec_`; during a rotation two signatures separated by a space).
/// Answer 2xx within 10 s; anything else is retried with exponential backoff and jitter for
/// about two days (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h ×3; a
/// `Retry-After` in seconds is honoured). 410 Gone disables the endpoint. An endpoint that
/// keeps failing (50 attempts in a row over three days) is disabled.
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Registered; the secret is shown only now", body = CreatedWebhookEndpoint, headers(("Location" = String), ("ETag" = String))),
        (status = 422, description = "Invalid fields, or a target that is not allowed (`target_not_allowed`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateWebhookRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let new = webhook_endpoints::NewEndpoint {
        url: body.url.into_string(),
        description: body.description.map(String::from),
        event_types: body
            .event_types
            .unwrap_or_default()
            .into_iter()
            .map(String::from)
            .collect(),
        enabled: body.enabled,
    };
    let record = webhook_endpoints::create(&state, &principal, new).await?;
    Ok(created(
        format!("/v1/webhooks/{}", record.id),
        record.version,
        &CreatedWebhookEndpoint {
            endpoint: WebhookEndpointView::from(&record),
            secret: record.secret.clone(),
        },
    ))
}

/// List webhook endpoints
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "webhooks",
    responses((status = 200, description = "The tenant's endpoints", body = Vec<WebhookEndpointView>)),
    security(("access_token" = []))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Caller,
) -> ApiResult<HttpResponse> {
    let items: Vec<WebhookEndpointView> = webhook_endpoints::list(&state, &principal)
        .await?
        .iter()
        .map(WebhookEndpointView::from)
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// Get a webhook endpoint
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointView, headers(("ETag" = String))),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let e = webhook_endpoints::get(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(e.version, &WebhookEndpointView::from(&e)))
}

/// Change a webhook endpoint
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("If-Match" = String, Header, description = "ETag of the endpoint")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Changed", body = WebhookEndpointView, headers(("ETag" = String))),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or target", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateWebhookRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let change = webhook_endpoints::EndpointChange {
        url: body.url.map(Line::into_string),
        description: body.description.map(|d| d.map(String::from)),
        event_types: body
            .event_types
            .map(|types| types.into_iter().map(String::from).collect()),
        enabled: body.enabled,
    };
    let e =
        webhook_endpoints::update(&state, &principal, id.into_inner(), if_match.0, change).await?;
    Ok(ok_versioned(e.version, &WebhookEndpointView::from(&e)))
}

/// Delete a webhook endpoint
///
/// Its queued messages and delivery log go with it.
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("If-Match" = String, Header, description = "ETag of the endpoint")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    webhook_endpoints::delete(&state, &principal, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate an endpoint's secret
///
/// Returns the new secret (shown only now). The previous secret keeps signing too (a second
/// signature in `webhook-signature`) for the overlap, so receivers can switch without
/// losing a message.
#[utoipa::path(
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = RotateSecretRequest,
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret, headers(("ETag" = String))),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<RotateSecretRequest>,
) -> ApiResult<HttpResponse> {
    let overlap = body.overlap_seconds.unwrap_or(86_400);
    let e = webhook_endpoints::rotate_secret(&state, &principal, id.into_inner(), overlap).await?;
    Ok(ok_versioned(
        e.version,
        &RotatedSecret {
            secret: e.secret.clone(),
            previous_secret_expires_at: e.previous_secret_expires_at,
            version: e.version,
        },
    ))
}

/// Send a test event
///
/// Queues a `webhook.test` message for this endpoint only (also when it subscribes to
/// other types); see the delivery log for the outcome.
#[utoipa::path(
    operation_id = "testWebhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    webhook_endpoints::send_test(&state, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(Queued {
        event_type: "webhook.test".to_owned(),
    }))
}

/// List an endpoint's deliveries
///
/// Newest first; `status=dead` lists the messages whose retries are exhausted.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), DeliveryQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = Page<DeliveryView>),
        (status = 404, description = "No such endpoint in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<DeliveryQuery>,
) -> ApiResult<HttpResponse> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let rows = webhook_endpoints::list_deliveries(
        &state,
        &principal,
        id.into_inner(),
        query.status.as_deref(),
        page.after,
        page.limit.saturating_add(1),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, page, |d| d.id, |d| delivery_view(&d))))
}

/// Get a delivery with its attempts
#[utoipa::path(
    operation_id = "getWebhookDelivery",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery, its payload and every attempt", body = DeliveryDetail),
        (status = 404, description = "No such delivery", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[get("/webhooks/{id}/deliveries/{delivery_id}")]
pub async fn get_webhook_delivery(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (endpoint, delivery) = path.into_inner();
    let (d, attempts) =
        webhook_endpoints::get_delivery(&state, &principal, endpoint, delivery).await?;
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        delivery: delivery_view(&d),
        payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        attempts_log: attempts
            .into_iter()
            .map(|a| AttemptView {
                at: a.at,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error,
                response_snippet: a.response_snippet,
            })
            .collect(),
    }))
}

/// Deliver a message again
///
/// For dead messages (after fixing the receiver) or to resend a delivered one. It keeps its
/// `webhook-id`, so a receiver that already has it can drop it.
#[utoipa::path(
    operation_id = "redeliverWebhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again", body = Queued),
        (status = 404, description = "No such delivery", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is being delivered right now", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver_webhook(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (endpoint, delivery) = path.into_inner();
    let d = webhook_endpoints::redeliver(&state, &principal, endpoint, delivery).await?;
    Ok(HttpResponse::Accepted().json(Queued {
        event_type: d.event_type,
    }))
}
