//! Sign-in: access tokens, refresh-token rotation, sign-out.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workorders_domain::auth::NewPassword;
use workorders_domain::auth::{RefreshDecision, RefreshTokenState, decide_refresh};
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;
use workorders_domain::{SessionId, TenantId, UserId};
use workorders_persistence::{sessions, tenants, users};

use crate::accounts;
use crate::auth::tokens::{new_token, sha256_hex};
use crate::auth::{Actor, Caller};
use crate::error::{ApiError, ApiResult, codes};
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

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Issues a token pair for a new or continuing session, inside the caller's transaction;
/// returns it with the id of its refresh token.
async fn token_pair(
    state: &AppState,
    conn: &mut workorders_persistence::Conn,
    user: UserId,
    tenant: TenantId,
    session: Option<(SessionId, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> ApiResult<(TokenResponse, uuid::Uuid)> {
    let refresh = new_token("rt_").map_err(ApiError::internal)?;
    let refresh_ttl = chrono::Duration::seconds(secs(state.settings.refresh_token_ttl));
    let (session_id, token_id) = match session {
        Some((id, session_expires_at)) => {
            let expires_at = (now + refresh_ttl).min(session_expires_at);
            let token_id =
                sessions::add_token(conn, id, &sha256_hex(&refresh), expires_at, now).await?;
            (id, token_id)
        }
        None => {
            let id = SessionId::new();
            let session_expires_at =
                now + chrono::Duration::seconds(secs(state.settings.session_max_age));
            let expires_at = (now + refresh_ttl).min(session_expires_at);
            let token_id = sessions::create(
                conn,
                id,
                tenant,
                user,
                &sha256_hex(&refresh),
                expires_at,
                session_expires_at,
                now,
            )
            .await?;
            (id, token_id)
        }
    };
    let (access_token, expires_in) = state.jwt.issue(user, tenant, session_id, now)?;
    Ok((
        TokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in,
            refresh_token: refresh,
            refresh_expires_in: secs(state.settings.refresh_token_ttl),
        },
        token_id,
    ))
}

fn bad_credentials() -> ApiError {
    ApiError::unauthenticated(
        codes::INVALID_CREDENTIALS,
        "tenant, e-mail address or password is wrong",
    )
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
    let limiter = &state.login_limiter;
    limiter
        .attempt(&client_ip(&req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let account = format!(
        "{}|{}",
        body.tenant.to_lowercase(),
        body.email.trim().to_lowercase()
    );
    limiter
        .check_account(&account)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;

    let tenant = tenants::find_by_slug(&state.db, &body.tenant).await?;
    let found = match (&tenant, Email::parse(&body.email)) {
        (Some(tenant), Ok(email)) => users::find_for_login(&state.db, tenant.id, &email).await?,
        _ => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = state
        .passwords
        .verify(body.password.into_string(), hash)
        .await?;
    let user = match user {
        Some(user) if password_ok && user.active => user,
        _ => {
            limiter.record_failure(&account);
            tracing::info!(tenant = %body.tenant, "sign-in failed");
            return Err(bad_credentials());
        }
    };
    limiter.record_success(&account);
    let now = workorders_persistence::now();
    let mut tx = state.db.begin_write().await?;
    let (tokens, _) = token_pair(&state, tx.conn(), user.id, user.tenant_id, None, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, "signed in");
    Ok(HttpResponse::Ok().json(tokens))
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
    let invalid = || {
        ApiError::unauthenticated(
            codes::INVALID_REFRESH_TOKEN,
            "the refresh token is not valid; sign in again",
        )
    };
    let hash = sha256_hex(&body.refresh_token);
    let now = workorders_persistence::now();
    let grace = chrono::Duration::from_std(state.settings.refresh_grace).unwrap_or_default();
    let mut tx = state.db.begin_write().await?;
    let mut token = sessions::find_token(tx.conn(), &hash)
        .await?
        .ok_or_else(invalid)?;
    let mut decision = decide(&token, now, grace);
    if decision == RefreshDecision::Rotate
        && !sessions::mark_used(tx.conn(), token.token_id, now).await?
    {
        // Another request exchanged it meanwhile (PostgreSQL: it committed while this one
        // waited): decide again on what it left.
        token = sessions::find_token(tx.conn(), &hash)
            .await?
            .ok_or_else(invalid)?;
        decision = decide(&token, now, grace);
        if decision == RefreshDecision::Rotate {
            decision = RefreshDecision::RevokeFamily;
        }
    }
    let reused = || {
        ApiError::unauthenticated(
            codes::REFRESH_TOKEN_REUSED,
            "this refresh token was already used; the session has been revoked, sign in again",
        )
    };
    match decision {
        RefreshDecision::Reject => Err(invalid()),
        RefreshDecision::ReplaySuccessor => {
            let sealed = token.successor_sealed.as_deref().ok_or_else(invalid)?;
            let pair: TokenResponse = state
                .db
                .keys()
                .open(sessions::SUCCESSOR, sealed)
                .map_err(ApiError::internal)
                .and_then(|text| serde_json::from_str(&text).map_err(ApiError::internal))?;
            drop(tx);
            tracing::info!(session_id = %token.session_id, "refresh retried within the grace period: same pair");
            Ok(HttpResponse::Ok().json(pair))
        }
        RefreshDecision::RevokeFamily => {
            sessions::revoke(tx.conn(), token.session_id, "refresh_token_reused", now).await?;
            tx.commit().await?;
            tracing::warn!(session_id = %token.session_id, "refresh token reuse: session revoked");
            Err(reused())
        }
        RefreshDecision::Rotate => {
            let user = users::get_in(tx.conn(), token.tenant_id, token.user_id).await?;
            if !user.is_some_and(|u| u.active) {
                sessions::revoke(tx.conn(), token.session_id, "user_deactivated", now).await?;
                tx.commit().await?;
                return Err(invalid());
            }
            let (tokens, successor) = token_pair(
                &state,
                tx.conn(),
                token.user_id,
                token.tenant_id,
                Some((token.session_id, token.session_expires_at)),
                now,
            )
            .await?;
            let sealed = state
                .db
                .keys()
                .seal(
                    sessions::SUCCESSOR,
                    &serde_json::to_string(&tokens).map_err(ApiError::internal)?,
                )
                .map_err(ApiError::internal)?;
            sessions::set_successor(tx.conn(), token.token_id, successor, &sealed).await?;
            tx.commit().await?;
            Ok(HttpResponse::Ok().json(tokens))
        }
    }
}

/// The rotation rule applied to a stored token.
fn decide(
    token: &sessions::RefreshTokenRow,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> RefreshDecision {
    decide_refresh(RefreshTokenState {
        used: token.used_at.is_some(),
        family_revoked: token.session_revoked_at.is_some(),
        expired: token.expires_at <= now || token.session_expires_at <= now,
        retry_within_grace: token.used_at.is_some_and(|at| now - at < grace)
            && token.successor_sealed.is_some()
            && !token.successor_used,
    })
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
    let Actor::User { session, .. } = principal.actor else {
        return Err(ApiError::forbidden(
            "API keys have no session to end; revoke the key instead",
        ));
    };
    let mut tx = state.db.begin_write().await?;
    sessions::revoke(tx.conn(), session, "logout", workorders_persistence::now()).await?;
    tx.commit().await?;
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
    let email =
        Email::parse(&body.email).map_err(|e| ApiError::invalid("/email", e.to_string()))?;
    let tenant = tenants::find_by_slug(&state.db, &body.tenant).await?;
    if let Some(tenant) = tenant
        && let Some((user, _)) = users::find_for_login(&state.db, tenant.id, &email).await?
        && user.active
    {
        let now = state.db.now();
        let mut tx = state.db.begin_write().await?;
        accounts::start_reset(&mut tx, &state, &user, &tenant.name, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "password reset requested");
    }
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
