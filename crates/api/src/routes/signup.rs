//! Self-service sign-up of a new company (tenant) with its owner account.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workorders_app::accounts;
use workorders_domain::ValidationErrors;
use workorders_domain::auth::NewPassword;
use workorders_domain::tenant::{Slug, TimeZone, parse_display_name};
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;

use crate::error::{ApiError, ApiResult};
use crate::extract::ValidJson;
use crate::routes::{client_ip, created};
use crate::schemas::people::{TenantView, UserView};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    #[schema(value_type = String,
        example = "Fenster Müller GmbH",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub company_name: Line<200>,
    /// Unique short name used to sign in; lowercase letters, digits and hyphens.
    #[schema(value_type = String, max_length = 63,
        example = "fenster-mueller",
        pattern = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
    )]
    pub slug: Line<63>,
    /// IANA time zone; default `Europe/Berlin`.
    #[schema(value_type = Option<String>, max_length = 64, example = "Europe/Berlin")]
    pub time_zone: Option<Line<64>>,
    pub owner: SignUpOwner,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpOwner {
    #[schema(value_type = String,
        example = "Maria Müller",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Line<200>,
    #[schema(value_type = String, example = "maria@fenster-mueller.example", max_length = 254)]
    pub email: Line<254>,
    /// At least 12 characters.
    #[schema(value_type = String, example = "correct-horse-battery", min_length = 12, max_length = 128)]
    pub password: Text<128>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignUpResponse {
    pub tenant: TenantView,
    pub owner: UserView,
}

impl SignUpRequest {
    fn validate(self) -> Result<accounts::SignUp, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let company_name = errors.check("/company_name", parse_display_name(&self.company_name));
        let slug = errors.check("/slug", Slug::parse(&self.slug));
        let time_zone = match &self.time_zone {
            Some(tz) => errors.check("/time_zone", TimeZone::parse(tz)),
            None => Some(TimeZone::default()),
        };
        let owner_name = errors.check("/owner/name", parse_display_name(&self.owner.name));
        let owner_email = errors.check("/owner/email", Email::parse(&self.owner.email));
        let owner_password =
            errors.check("/owner/password", NewPassword::parse(&self.owner.password));
        match (
            company_name,
            slug,
            time_zone,
            owner_name,
            owner_email,
            owner_password,
        ) {
            (
                Some(company_name),
                Some(slug),
                Some(time_zone),
                Some(owner_name),
                Some(owner_email),
                Some(owner_password),
            ) if errors.is_empty() => Ok(accounts::SignUp {
                company_name,
                slug,
                time_zone,
                owner_name,
                owner_email,
                owner_password,
            }),
            _ => Err(errors),
        }
    }
}

/// Sign up a company
///
/// Creates a tenant and its owner account. Can be switched off for single-company installs
/// (403 `signup_disabled`). Throttled per client address.
#[utoipa::path(
    operation_id = "signUp",
    tag = "tenants",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "Tenant and owner created", body = SignUpResponse,
            headers(("Location" = String, description = "The tenant"))),
        (status = 403, description = "Sign-up is disabled on this server", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken (`slug_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/signup")]
pub async fn sign_up(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<SignUpRequest>,
) -> ApiResult<HttpResponse> {
    accounts::ensure_sign_up_open(&state)?;
    state
        .login_limiter
        .attempt(&client_ip(&req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let input = body.into_inner().validate()?;
    let (tenant, owner) = accounts::sign_up(&state, input).await?;
    let version = tenant.version;
    Ok(created(
        "/v1/tenant".to_owned(),
        version,
        &SignUpResponse {
            tenant: tenant.into(),
            owner: owner.into(),
        },
    ))
}
