//! API keys for integrations (accounting, CRM, the company website).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::api_keys;
use workorders_domain::ApiKeyId;
use workorders_domain::auth::Scope;
use workorders_domain::text::Line;
use workorders_persistence::api_keys::ApiKeyRecord;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, ok_versioned};
use crate::state::AppState;

/// What an API key may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum ScopeName {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "processes:read")]
    ProcessesRead,
    #[serde(rename = "processes:write")]
    ProcessesWrite,
    #[serde(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "customers:write")]
    CustomersWrite,
    #[serde(rename = "work_orders:read")]
    WorkOrdersRead,
    #[serde(rename = "work_orders:write")]
    WorkOrdersWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "billing:write")]
    BillingWrite,
}

/// (API name, domain scope) pairs; one line per scope.
const SCOPES: [(ScopeName, Scope); 10] = [
    (ScopeName::UsersRead, Scope::UsersRead),
    (ScopeName::UsersWrite, Scope::UsersWrite),
    (ScopeName::ProcessesRead, Scope::ProcessesRead),
    (ScopeName::ProcessesWrite, Scope::ProcessesWrite),
    (ScopeName::CustomersRead, Scope::CustomersRead),
    (ScopeName::CustomersWrite, Scope::CustomersWrite),
    (ScopeName::WorkOrdersRead, Scope::WorkOrdersRead),
    (ScopeName::WorkOrdersWrite, Scope::WorkOrdersWrite),
    (ScopeName::BillingRead, Scope::BillingRead),
    (ScopeName::BillingWrite, Scope::BillingWrite),
];

impl From<ScopeName> for Scope {
    fn from(s: ScopeName) -> Self {
        SCOPES
            .iter()
            .find(|(name, _)| *name == s)
            .map_or(Scope::UsersRead, |(_, scope)| *scope)
    }
}

impl From<Scope> for ScopeName {
    fn from(s: Scope) -> Self {
        SCOPES
            .iter()
            .find(|(_, scope)| *scope == s)
            .map_or(ScopeName::UsersRead, |(name, _)| *name)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(value_type = String,
        example = "Accounting sync",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Line<200>,
    /// At least one scope.
    #[schema(max_items = 10, example = json!(["users:read"]), min_items = 1)]
    #[serde(deserialize_with = "workorders_domain::bounds::capped::<_, _, 10>")]
    pub scopes: Vec<ScopeName>,
    /// Optional expiry; must be in the future.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_instant")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    #[schema(example = "Accounting sync")]
    pub name: String,
    /// Public part of the key, to recognise it (`wo_<prefix>_...`).
    #[schema(example = "Ab3dE5gH1jK2")]
    pub prefix: String,
    pub scopes: Vec<ScopeName>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A newly created key: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The secret key; use it as `Authorization: Bearer <key>`. It is not stored and cannot
    /// be shown again.
    #[schema(example = "wo_Ab3dE5gH1jK2_q8Jx...")]
    pub key: String,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id.as_uuid(),
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.into_iter().map(ScopeName::from).collect(),
            created_by: k.created_by.as_uuid(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            version: k.version,
        }
    }
}

/// Create an API key
///
/// Owners and admins create keys for integrations. The response holds the secret key once.
#[utoipa::path(
    operation_id = "createApiKey",
    tag = "api-keys",
    request_body = CreateApiKeyRequest,
    responses((status = 201, description = "Key created; `key` is shown only now", body = CreatedApiKey,
        headers(("Location" = String), ("ETag" = String)))),
    security(("access_token" = []))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let new = api_keys::NewApiKey {
        name: body.name.into(),
        scopes: body.scopes.into_iter().map(Scope::from).collect(),
        expires_at: body.expires_at,
    };
    let api_keys::CreatedApiKey { record, key } = api_keys::create(&state, &principal, new).await?;
    let location = format!("/v1/api-keys/{}", record.id);
    let version = record.version;
    Ok(created(
        location,
        version,
        &CreatedApiKey {
            api_key: record.into(),
            key,
        },
    ))
}

/// List API keys
#[utoipa::path(
    operation_id = "listApiKeys",
    tag = "api-keys",
    params(PageQuery),
    responses((status = 200, description = "One page of keys (without secrets)", body = Page<ApiKeyView>)),
    security(("access_token" = []))
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = query.parse()?;
    let rows = api_keys::list(
        &state,
        &principal,
        page.after.map(ApiKeyId),
        fetch_limit(page),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        page,
        |k| k.id.as_uuid(),
        ApiKeyView::from,
    )))
}

/// Get an API key
#[utoipa::path(
    operation_id = "getApiKey",
    tag = "api-keys",
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, description = "The key (without secret)", body = ApiKeyView, headers(("ETag" = String))),
        (status = 404, description = "No such key in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[get("/api-keys/{id}")]
pub async fn get_api_key(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let key = api_keys::get(&state, &principal, ApiKeyId(id.into_inner())).await?;
    Ok(ok_versioned(key.version, &ApiKeyView::from(key)))
}

/// Revoke an API key
///
/// The key stops working at once. Requires `If-Match`.
#[utoipa::path(
    operation_id = "revokeApiKey",
    tag = "api-keys",
    params(
        ("id" = Uuid, Path, description = "API key id"),
        ("If-Match" = String, Header, description = "The key's current ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    api_keys::revoke(&state, &principal, ApiKeyId(id.into_inner()), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
