//! The OpenAPI document, generated from the handlers.
//!
//! Paths and schemas come from the `#[utoipa::path]` handlers registered in
//! [`crate::routes::configure`]. The responses that every endpoint shares because the
//! shared middleware produces them (401, 413, 422, 428, 500, ...) are added here by rule, the
//! same rules the middleware follows, so that no operation forgets them.

use actix_web::App;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Required, Type};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{PROBLEM_CONTENT_TYPE, Problem, ProblemField};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Work orders API",
        description = "Tracks every work order from the customer's first call or web booking to the paid invoice.\n\n\
            Conventions: JSON bodies with unknown fields rejected; errors as RFC 9457 problem details with a stable `code`; \
            `ETag`/`If-Match` on every mutable resource; `Idempotency-Key` on every POST; cursor pagination (`limit`, `cursor`, `next_cursor`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "auth", description = "Sign in, token refresh, sign out"),
        (name = "tenants", description = "Companies using the system"),
        (name = "users", description = "Staff accounts, roles, skills"),
        (name = "api-keys", description = "Keys for integrations"),
        (name = "processes", description = "Process maps: versioned steps, each with a responsible person"),
        (name = "customers", description = "Customers and their service addresses"),
        (name = "work-orders", description = "Orders from intake to completion: steps, responsibility, history"),
        (name = "calendars", description = "Working hours, absences, calendar feeds"),
        (name = "appointments", description = "Appointments without double booking"),
        (name = "booking", description = "Bookable services, slots and assignment suggestions"),
        (name = "public", description = "The website booking widget: no account, rate limited"),
        (name = "billing", description = "Billing profile (seller data, bank, number patterns, §19), catalogue of labour rates and materials, customer e-mail templates"),
        (name = "quotes", description = "Estimates for work orders, e-mailed with a private link the customer accepts or declines"),
        (name = "invoices", description = "Invoices and credit notes: gap-free numbers, PDF/A-3 with ZUGFeRD EN 16931 XML, XRechnung, e-mail, payments"),
        (name = "analytics", description = "Process-improvement analytics from the order history: per step and version, JSON or CSV"),
        (name = "reviews", description = "Oversight: review schedules, reviews (frozen snapshots to acknowledge, findings, decisions, sign-off) and what needs attention now"),
        (name = "webhooks", description = "Signed webhooks to your systems (Standard Webhooks), with delivery log and redelivery"),
        (name = "field-sync", description = "Handhelds that work offline. A full sync round: \
            (1) `syncPull` without a cursor, repeated with `next_cursor` until `has_more` is false: the device now holds \
            every running order it works on, with steps, checklists, required evidence, customer, site and its appointments; \
            keep the last `next_cursor`. (2) Offline, record what happens as events, each with a new UUID, the device id and \
            a per-device `seq` that grows in the order things happened. (3) When online, upload photos and signatures with \
            `uploadAttachment` (idempotent by SHA-256, so retries are safe), then `syncPush` the events in batches of up to \
            1,000; on a network error push the same events again (same ids): each answers `applied`, `duplicate` or \
            `rejected` with a reason, and rejected events are consumed. (4) `syncPull` with the kept cursor: the server's \
            state after your events and the office's changes, including `remove` tombstones for orders that were \
            cancelled, finished or reassigned away."),
        (name = "operations", description = "Health and metrics for operators"),
    ),
    components(schemas(Problem, ProblemField)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from `createToken` (valid 15 minutes)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wo_<prefix>_<secret>")
                    .description(Some(
                        "API key from `createApiKey`; the listed scopes are required.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Shared problem responses: (component name, status, description).
const SHARED_RESPONSES: [(&str, &str, &str); 12] = [
    (
        "BadRequest",
        "400",
        "Malformed request: broken JSON, bad query string or cursor",
    ),
    ("Unauthorized", "401", "No, invalid or expired credentials"),
    (
        "Forbidden",
        "403",
        "Authenticated, but not allowed to do this",
    ),
    (
        "IdempotencyConflict",
        "409",
        "A request with this Idempotency-Key is still running (`idempotency_key_in_flight`)",
    ),
    (
        "PreconditionFailed",
        "412",
        "The If-Match version is stale (`precondition_failed`)",
    ),
    ("PayloadTooLarge", "413", "The body exceeds 1 MiB"),
    ("UnsupportedMediaType", "415", "The body is not JSON"),
    (
        "Unprocessable",
        "422",
        "Invalid fields (`validation_failed`, with `errors`), or an Idempotency-Key reused with another body (`idempotency_key_reused`)",
    ),
    ("PreconditionRequired", "428", "If-Match is required"),
    ("TooManyRequests", "429", "Rate limited; see Retry-After"),
    (
        "InternalError",
        "500",
        "Internal error; the cause is logged under the response's X-Request-Id",
    ),
    ("ServiceUnavailable", "503", "The database is unavailable"),
];

fn add_shared_components(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for (name, status, description) in SHARED_RESPONSES {
        let mut response = ResponseBuilder::new().description(description).content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        );
        if status == "429" {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                    .description(Some("Seconds to wait"))
                    .build(),
            );
        }
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response.build()));
    }
    components.parameters.insert(
        "IfMatch".to_owned(),
        RefOr::T(
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(
                    "The ETag of the version the change is based on (`\"0\"` for a resource that was never saved): 428 without it, 412 when stale.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r#"^(W/)?"[0-9]+"$"#)).max_length(Some(40))))
                .build(),
        ),
    );
    components.parameters.insert(
        "IdempotencyKey".to_owned(),
        RefOr::T(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes the request safe to retry: the first response is replayed for 24 hours (1-255 visible ASCII characters).",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[!-~]{1,255}$")).min_length(Some(1)).max_length(Some(255))))
                .build(),
        ),
    );
}

fn add_response(operation: &mut Operation, component: &str) {
    let Some((_, status, _)) = SHARED_RESPONSES
        .iter()
        .find(|(name, _, _)| *name == component)
    else {
        return;
    };
    operation
        .responses
        .responses
        .entry((*status).to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(component)));
}

fn apply_rules(path: &str, method: &str, operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        add_response(operation, "Unauthorized");
        add_response(operation, "Forbidden");
    }
    if operation.request_body.is_some() {
        for name in [
            "BadRequest",
            "PayloadTooLarge",
            "UnsupportedMediaType",
            "Unprocessable",
        ] {
            add_response(operation, name);
        }
    }
    let paginated = operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.name == "cursor",
        RefOr::Ref(_) => false,
    });
    if paginated {
        add_response(operation, "BadRequest");
    }
    if method == "post" && path.starts_with("/v1/") {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::Ref(Ref::new(
                "#/components/parameters/IdempotencyKey",
            )));
        add_response(operation, "BadRequest");
        add_response(operation, "IdempotencyConflict");
        add_response(operation, "Unprocessable");
    }
    if matches!(method, "patch" | "put" | "delete") {
        // Every change of a stored resource names the version it is based on: one shared,
        // required parameter (whatever a handler declared is replaced).
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        parameters.retain(|p| !matches!(p, RefOr::T(p) if p.name == "If-Match"));
        parameters.push(RefOr::Ref(Ref::new("#/components/parameters/IfMatch")));
        add_response(operation, "PreconditionFailed");
        add_response(operation, "PreconditionRequired");
    }
    if operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.name == "If-Match"))
    {
        add_response(operation, "PreconditionFailed");
    }
    if path.starts_with("/v1/") {
        add_response(operation, "ServiceUnavailable");
    }
    add_response(operation, "InternalError");
}

/// An example `data` per event family.
fn webhook_example(event_type: &str) -> serde_json::Value {
    let order = "0192f0c4-8e5a-7c3e-9a51-3f1d2c4b5a61";
    let data = match event_type.split('.').next().unwrap_or_default() {
        "work_order" => match event_type {
            "work_order.created" => {
                serde_json::json!({"work_order_id": order, "number": "WO-2026-00042", "channel": "phone",
                "process_version_id": "0192f0c4-0000-7000-8000-000000000010", "customer_id": "0192f0c4-0000-7000-8000-000000000020"})
            }
            "work_order.updated" => {
                serde_json::json!({"work_order_id": order, "before": {"title": "Leak"}, "after": {"title": "Leak in the cellar"}})
            }
            "work_order.status_changed" => {
                serde_json::json!({"work_order_id": order, "change": "work_order.held", "reason": "waiting for parts", "from": "in_progress"})
            }
            "work_order.cancelled" => {
                serde_json::json!({"work_order_id": order, "reason": "customer withdrew", "from": "open"})
            }
            _ => serde_json::json!({"work_order_id": order}),
        },
        "step" => {
            serde_json::json!({"work_order_id": order, "step_id": "0192f0c4-0000-7000-8000-000000000030", "step_key": "install",
            "responsible": "0192f0c4-0000-7000-8000-000000000040", "automated": false})
        }
        "appointment" => {
            serde_json::json!({"work_order_id": order, "appointment_id": "0192f0c4-0000-7000-8000-000000000050",
            "start": "2026-12-01T08:00:00Z", "end": "2026-12-01T10:00:00Z", "assignee_ids": ["0192f0c4-0000-7000-8000-000000000040"]})
        }
        "booking" => {
            serde_json::json!({"work_order_id": order, "appointment_id": "0192f0c4-0000-7000-8000-000000000050",
            "booking_reference": "BK-7KQ2-MX", "start": "2026-12-01T08:00:00Z", "end": "2026-12-01T10:00:00Z", "by": "customer"})
        }
        _ => {
            serde_json::json!({"endpoint_id": "0192f0c4-0000-7000-8000-000000000060", "message": "Hello from the work-order server"})
        }
    };
    serde_json::json!({"type": event_type, "timestamp": "2026-11-27T10:15:00.000000Z", "data": data})
}

/// The OpenAPI 3.1 `webhooks` section: one entry per event type, with the envelope schema,
/// the signature headers and an example.
fn add_webhooks(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    let mut paths = utoipa::openapi::path::PathsBuilder::new();
    for event_type in workorders_persistence::webhooks::EVENT_TYPES {
        let header = |name: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        };
        let operation = OperationBuilder::new()
            .operation_id(Some(event_type.replace('.', "_")))
            .tag("webhooks")
            .summary(Some(format!("`{event_type}` event")))
            .description(Some(
                "Sent to every enabled endpoint subscribed to this type. Verify `webhook-signature` before trusting the body; dedupe on `webhook-id`.",
            ))
            .parameter(header("webhook-id", "Message id: the same for every attempt of this message"))
            .parameter(header("webhook-timestamp", "Unix seconds when this attempt was signed; reject old ones"))
            .parameter(header(
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, space-separated when two secrets are valid",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("WebhookEvent")))
                            .example(Some(webhook_example(event_type)))
                            .build(),
                    )
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new().description("Received; anything else is retried (410 disables the endpoint)"),
            )
            .build();
        paths = paths.path(event_type, PathItem::new(HttpMethod::Post, operation));
    }
    openapi.webhooks = Some(paths.build());
    let components = openapi.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        "WebhookEvent".to_owned(),
        RefOr::T(
            ObjectBuilder::new()
                .description(Some("The body of every webhook delivery (Standard Webhooks envelope)."))
                .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(workorders_persistence::webhooks::EVENT_TYPES.to_vec())))
                .required("type")
                .property("timestamp", ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(utoipa::openapi::schema::KnownFormat::DateTime))))
                .required("timestamp")
                .property("data", ObjectBuilder::new().schema_type(Type::Object).description(Some("Always has `work_order_id` for order, step, appointment and booking events; the rest is the event's detail as in the order history.")))
                .required("data")
                .into(),
        ),
    );
}

/// The complete document, as served at `/openapi.json` and committed as
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    add_shared_components(&mut openapi);
    add_webhooks(&mut openapi);
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                apply_rules(path, method, operation);
            }
        }
    }
    openapi
}

/// The document as pretty JSON with a final newline (the committed file's format).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&openapi())?;
    text.push('\n');
    Ok(text)
}
