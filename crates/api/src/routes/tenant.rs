//! The caller's tenant.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, put, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::UserId;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::text::Line;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, ValidJson, read_body};
use crate::routes::double_option;
use crate::routes::ok_versioned;
use crate::schemas::attachments::request_content_type;
use crate::schemas::people::TenantView;
use crate::schemas::tenant::{AssignmentRuleName, LanguageCode, LogoUpload};
use crate::state::AppState;
use workorders_app::tenant;
use workorders_domain::brand::MAX_LOGO_BYTES;

/// Get the current tenant
///
/// The company the caller belongs to.
#[utoipa::path(
    operation_id = "getTenant",
    tag = "tenants",
    responses((status = 200, description = "The caller's tenant", body = TenantView)),
    security(("access_token" = []), ("api_key" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(state: web::Data<AppState>, principal: Caller) -> ApiResult<HttpResponse> {
    let tenant = tenant::get(&state, &principal).await?;
    Ok(ok_versioned(tenant.version, &TenantView::from(tenant)))
}

/// Absent fields stay; `process_owner_id: null` falls back to the first active owner;
/// `brand_colour`, `imprint_url` or `privacy_url` `null` removes the setting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "brand_colour": "#ffd400",
    "imprint_url": "https://www.fensterbau-mueller.de/impressum",
    "privacy_url": "https://www.fensterbau-mueller.de/datenschutz",
    "default_language": "de"
}))]
pub struct UpdateTenantRequest {
    /// An active owner, admin or dispatcher who takes steps nobody qualifies for.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub process_owner_id: Option<Option<Uuid>>,
    pub assignment_rule: Option<AssignmentRuleName>,
    /// Origins of the company website that may call the public booking endpoints from a
    /// browser (`https://www.example.com`).
    #[schema(max_items = 20, value_type = Option<Vec<String>>)]
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 20>"
    )]
    pub website_origins: Option<Vec<Line<2000>>>,
    /// Minutes an overdue step stays with its responsible person before the process owner
    /// is e-mailed (0 … 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub escalation_grace_minutes: Option<i64>,
    /// Days without an event after which an open order is flagged stuck (1 … 365).
    #[schema(minimum = 1, maximum = 365)]
    pub stuck_after_days: Option<i64>,
    /// Accent colour of the customer's pages, `#rrggbb` (buttons, links, focus ring; text
    /// on it and links in it are adjusted to stay readable). `null`: the default blue.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = "^#[0-9a-fA-F]{6}$", example = "#ffd400")]
    pub brand_colour: Option<Option<Line<20>>>,
    /// The company's legal notice (Impressum), an absolute https URL of at most 500
    /// characters, linked in the footer of every customer page and in customer e-mails.
    /// `null`: none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = "^https://", max_length = 500, example = "https://www.fensterbau-mueller.de/impressum")]
    pub imprint_url: Option<Option<Line<2000>>>,
    /// The company's privacy policy (Datenschutzerklärung), like `imprint_url`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = "^https://", max_length = 500, example = "https://www.fensterbau-mueller.de/datenschutz")]
    pub privacy_url: Option<Option<Line<2000>>>,
    /// The customer pages' language when neither `?lang=` nor the browser's
    /// `Accept-Language` names German or English.
    pub default_language: Option<LanguageCode>,
}

/// Update tenant settings
///
/// The process owner, the assignment rule, the website origins, the escalation settings and
/// the branding of the customer's pages (accent colour, imprint and privacy links, default
/// language). Owners and admins; requires `If-Match`. A bad value answers 422 with its
/// field's pointer, and nothing changes.
#[utoipa::path(
    operation_id = "updateTenant",
    tag = "tenants",
    params(("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateTenantRequest,
    responses((status = 200, description = "The tenant", body = TenantView, headers(("ETag" = String)))),
    security(("access_token" = []))
)]
#[patch("/tenant")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    principal: Caller,
    if_match: IfMatch,
    body: ValidJson<UpdateTenantRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let change = tenant::SettingsChange {
        process_owner_id: body.process_owner_id.map(|o| o.map(UserId)),
        assignment_rule: body.assignment_rule.map(|r| match r {
            AssignmentRuleName::LeastLoaded => AssignmentRule::LeastLoaded,
            AssignmentRuleName::RoundRobin => AssignmentRule::RoundRobin,
        }),
        website_origins: body
            .website_origins
            .map(|origins| origins.into_iter().map(String::from).collect()),
        escalation_grace_minutes: body.escalation_grace_minutes,
        stuck_after_days: body.stuck_after_days,
        brand_colour: body.brand_colour.map(|c| c.map(String::from)),
        imprint_url: body.imprint_url.map(|u| u.map(String::from)),
        privacy_url: body.privacy_url.map(|u| u.map(String::from)),
        default_language: body.default_language.map(|l| l.as_str().to_owned()),
    };
    let updated = tenant::update_settings(&state, &principal, if_match.0, change).await?;
    Ok(ok_versioned(updated.version, &TenantView::from(updated)))
}

/// Upload the company logo
///
/// The raw image is the request body: PNG, JPEG or WebP (recognised by its bytes; SVG and
/// everything else is refused), at most 512 KiB (413 beyond). Replaces the logo shown on
/// every customer page (`GET /{tenant}/logo`). Owners and admins; requires `If-Match` with
/// the tenant's ETag, and answers the tenant with its new ETag.
#[utoipa::path(
    operation_id = "putTenantLogo",
    tag = "tenants",
    params(("If-Match" = String, Header, description = "Current ETag of the tenant", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body(content = LogoUpload, content_type = "image/png", description = "The image (also image/jpeg, image/webp)"),
    responses(
        (status = 200, description = "The tenant with its logo", body = TenantView, headers(("ETag" = String))),
        (status = 413, description = "Larger than 512 KiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not an image/png, image/jpeg or image/webp body (SVG is refused)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bytes are not a PNG, JPEG or WebP image (`invalid_upload`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[put("/tenant/logo")]
pub async fn put_tenant_logo(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    principal: Caller,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    // Permission and precondition first: a refused upload is not read.
    tenant::check_current(&state, &principal, if_match.0).await?;
    let content_type = request_content_type(&req);
    if !matches!(
        content_type.as_str(),
        "image/png" | "image/jpeg" | "image/webp" | "application/octet-stream"
    ) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut raw = payload.into_inner();
    let data = read_body(&req, &mut raw, MAX_LOGO_BYTES).await?;
    let updated = tenant::set_logo(&state, &principal, if_match.0, data.to_vec()).await?;
    Ok(ok_versioned(updated.version, &TenantView::from(updated)))
}

/// Remove the company logo
///
/// The customer pages show the company's name alone again. Owners and admins; requires
/// `If-Match` with the tenant's ETag.
#[utoipa::path(
    operation_id = "deleteTenantLogo",
    tag = "tenants",
    params(("If-Match" = String, Header, description = "Current ETag of the tenant", pattern = r#"^(W/)?"[0-9]+"$"#)),
    responses((status = 200, description = "The tenant without a logo", body = TenantView, headers(("ETag" = String)))),
    security(("access_token" = []))
)]
#[delete("/tenant/logo")]
pub async fn delete_tenant_logo(
    state: web::Data<AppState>,
    principal: Caller,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let updated = tenant::delete_logo(&state, &principal, if_match.0).await?;
    Ok(ok_versioned(updated.version, &TenantView::from(updated)))
}
