//! Sign-in: access tokens, refresh-token rotation, sign-out.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workorders_app::{accounts, sessions};
use workorders_domain::auth::NewPassword;
use workorders_domain::text::{Line, Text};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ValidJson;
use crate::routes::client_ip;
use crate::state::AppState;

/// Credentials for signing in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The tenant's slug.
    #[schema(value_type = String, max_length = 63, example = "demo")]
    pub tenant: Line<63>,
    #[schema(value_type = String, max_length = 254, example = "dispatcher@demo.example")]
    pub email: Line<254>,
    #[schema(value_type = String, max_length = 1024, example = "demo-password")]
    pub password: Text<1024>,
}

/// A token pair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque token for `refreshToken`; each one works once.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String, max_length = 200)]
    pub refresh_token: Line<200>,
}

impl From<sessions::TokenPair> for TokenResponse {
    fn from(p: sessions::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: p.token_type,
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
            refresh_expires_in: p.refresh_expires_in,
        }
    }
}

/// Sign in
///
/// Exchanges tenant slug, e-mail address and password for a short-lived access token and a
/// refresh token. Failed attempts are throttled per account and per client address (429 with
/// `Retry-After`).
#[utoipa::path(
    operation_id = "createToken",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong credentials", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/auth/token")]
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<TokenRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    state
        .login_limiter
        .attempt(&client_ip(&req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let credentials = sessions::Credentials {
        tenant: body.tenant.into_string(),
        email: body.email.into_string(),
        password: body.password.into_string(),
    };
    let tokens = sessions::sign_in(&state, &*state.jwt, &*state.login_limiter, credentials).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Refresh the access token
///
/// Exchanges a refresh token for a new token pair. Every refresh token works once: presenting
/// one that was already used revokes its whole session (someone holds a copy), and both the
/// old and new tokens stop working. One exception keeps handhelds on bad networks signed
/// in: the same token presented again within the grace period (30 s by default,
/// `--refresh-grace`) while the new token is still unused gets the same new pair again.
#[utoipa::path(
    operation_id = "refreshToken",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair (or, for a retry within the grace period, the same one)", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh_token(
    state: web::Data<AppState>,
    body: ValidJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let tokens = sessions::refresh(&state, &*state.jwt, &body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Sign out
///
/// Ends the caller's session: its refresh tokens and access tokens stop working at once.
#[utoipa::path(
    operation_id = "logout",
    tag = "auth",
    responses((status = 204, description = "Signed out")),
    security(("access_token" = []))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, principal: Caller) -> ApiResult<HttpResponse> {
    sessions::sign_out(&state, &principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A forgotten password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The tenant's slug.
    #[schema(value_type = String, example = "demo", max_length = 63)]
    pub tenant: Line<63>,
    #[schema(value_type = String, example = "dispatcher@demo.example", max_length = 254)]
    pub email: Line<254>,
}

/// Forgot password
///
/// E-mails a one-time link to set a new password to the account with this address, if there
/// is one (the answer is the same either way, so it tells nobody which accounts exist), and
/// ends its sessions. Throttled per client address; at most one e-mail per account every two
/// minutes.
#[utoipa::path(
    operation_id = "requestPasswordReset",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the account exists, the link is on its way"),
        (status = 422, description = "Invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    state
        .login_limiter
        .attempt(&client_ip(&req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    accounts::request_reset(&state, &body.tenant, &body.email).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// A password set with a one-time link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The token from the link (`.../set-password/<token>`).
    #[schema(value_type = String, max_length = 100)]
    pub token: Line<100>,
    /// At least 12 characters.
    #[schema(value_type = String, example = "a-long-new-password", min_length = 12, max_length = 128)]
    pub password: Text<128>,
}

/// Set a password with a link
///
/// Sets the password of the account a reset or invitation link was made for. The link works
/// once; every session of the account ends. Frontends that show their own page take the
/// token from the e-mailed link; the server's own page is `GET /set-password/<token>`.
#[utoipa::path(
    operation_id = "setPassword",
    tag = "auth",
    request_body = SetPasswordRequest,
    responses(
        (status = 204, description = "Password set; sign in with it"),
        (status = 422, description = "Invalid password, or the link is unknown, used or expired (`invalid_password_link`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/set-password")]
pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<SetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    state
        .login_limiter
        .attempt(&client_ip(&req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let password = NewPassword::parse(&body.password)
        .map_err(|e| ApiError::invalid("/password", e.to_string()))?;
    accounts::complete(&state, &body.token, &password).await?;
    Ok(HttpResponse::NoContent().finish())
}
