//! Sign-in sessions: signing in with a password, refresh-token rotation (with a grace
//! period for retries and revocation of the whole family on reuse), signing out, and who a
//! bearer credential (an access token's session, an API key) belongs to.
//!
//! A session is one refresh-token family; only SHA-256 hashes of refresh tokens are stored.
//! The access token itself (a signed JWT) and the throttling of failed attempts belong to
//! the front door: it hands them in as [`AccessTokens`] and [`AccountThrottle`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use workorders_domain::auth::{RefreshDecision, RefreshTokenState, decide_refresh};
use workorders_domain::user::Email;
use workorders_domain::{SessionId, TenantId, UserId};
use workorders_persistence::{Conn, api_keys, sessions, tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::identity::{Actor, Principal};
use crate::tokens::{constant_time_eq, new_token, sha256_hex};

/// Issues the short-lived access token of a session (the front door's signing keys).
pub trait AccessTokens: Send + Sync {
    /// The token for `user` of `tenant` in `session`, issued at `now`, with its lifetime in
    /// seconds.
    fn issue_access(
        &self,
        user: UserId,
        tenant: TenantId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> AppResult<(String, i64)>;
}

/// Counts failed password checks per account (the front door keeps the counts).
pub trait AccountThrottle: Send + Sync {
    /// `Err(seconds to wait)` when `account` has used up its failed attempts.
    fn check_account(&self, account: &str) -> Result<(), u64>;
    fn record_failure(&self, account: &str);
    fn record_success(&self, account: &str);
}

/// Refuses while `account` has used up its failed attempts.
pub fn check_throttle(throttle: &dyn AccountThrottle, account: &str) -> AppResult<()> {
    throttle
        .check_account(account)
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// An access token and a refresh token. Stored sealed as the successor of a rotated
/// refresh token (a retry within the grace period gets it again), so its serialized form
/// stays as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

/// What a person signs in with.
pub struct Credentials {
    /// The tenant's slug.
    pub tenant: String,
    pub email: String,
    pub password: String,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Issues a token pair for a new or continuing session, inside the caller's transaction;
/// returns it with the id of its refresh token.
async fn token_pair(
    app: &App,
    tokens: &dyn AccessTokens,
    conn: &mut Conn,
    user: UserId,
    tenant: TenantId,
    session: Option<(SessionId, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> AppResult<(TokenPair, Uuid)> {
    let refresh = new_token("rt_").map_err(AppError::internal)?;
    let refresh_ttl = chrono::Duration::seconds(secs(app.settings.refresh_token_ttl));
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
                now + chrono::Duration::seconds(secs(app.settings.session_max_age));
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
    let (access_token, expires_in) = tokens.issue_access(user, tenant, session_id, now)?;
    Ok((
        TokenPair {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in,
            refresh_token: refresh,
            refresh_expires_in: secs(app.settings.refresh_token_ttl),
        },
        token_id,
    ))
}

fn bad_credentials() -> AppError {
    AppError::unauthenticated(
        codes::INVALID_CREDENTIALS,
        "tenant, e-mail address or password is wrong",
    )
}

/// Signs a person in: a new session and its first token pair. Failed attempts count
/// against the account (`tenant|email`); an account that used up its attempts is refused
/// before its password is checked. Unknown accounts take as long as wrong passwords.
pub async fn sign_in(
    app: &App,
    tokens: &dyn AccessTokens,
    throttle: &dyn AccountThrottle,
    credentials: Credentials,
) -> AppResult<TokenPair> {
    let account = format!(
        "{}|{}",
        credentials.tenant.to_lowercase(),
        credentials.email.trim().to_lowercase()
    );
    check_throttle(throttle, &account)?;
    let tenant = tenants::find_by_slug(&app.db, &credentials.tenant).await?;
    let found = match (&tenant, Email::parse(&credentials.email)) {
        (Some(tenant), Ok(email)) => users::find_for_login(&app.db, tenant.id, &email).await?,
        _ => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = app.passwords.verify(credentials.password, hash).await?;
    let user = match user {
        Some(user) if password_ok && user.active => user,
        _ => {
            throttle.record_failure(&account);
            tracing::info!(tenant = %credentials.tenant, "sign-in failed");
            return Err(bad_credentials());
        }
    };
    throttle.record_success(&account);
    let now = workorders_persistence::now();
    let mut tx = app.db.begin_write().await?;
    let (pair, _) = token_pair(app, tokens, tx.conn(), user.id, user.tenant_id, None, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, "signed in");
    Ok(pair)
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

/// Exchanges a refresh token for a new pair. Each token works once: one presented again
/// revokes its whole session (`refresh_token_reused`), except a retry within the grace
/// period while the new token is unused, which gets the same new pair again.
pub async fn refresh(
    app: &App,
    tokens: &dyn AccessTokens,
    refresh_token: &str,
) -> AppResult<TokenPair> {
    let invalid = || {
        AppError::unauthenticated(
            codes::INVALID_REFRESH_TOKEN,
            "the refresh token is not valid; sign in again",
        )
    };
    let hash = sha256_hex(refresh_token);
    let now = workorders_persistence::now();
    let grace = chrono::Duration::from_std(app.settings.refresh_grace).unwrap_or_default();
    let mut tx = app.db.begin_write().await?;
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
        AppError::unauthenticated(
            codes::REFRESH_TOKEN_REUSED,
            "this refresh token was already used; the session has been revoked, sign in again",
        )
    };
    match decision {
        RefreshDecision::Reject => Err(invalid()),
        RefreshDecision::ReplaySuccessor => {
            let sealed = token.successor_sealed.as_deref().ok_or_else(invalid)?;
            let pair: TokenPair = app
                .db
                .keys()
                .open(sessions::SUCCESSOR, sealed)
                .map_err(AppError::internal)
                .and_then(|text| serde_json::from_str(&text).map_err(AppError::internal))?;
            drop(tx);
            tracing::info!(session_id = %token.session_id, "refresh retried within the grace period: same pair");
            Ok(pair)
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
            let (pair, successor) = token_pair(
                app,
                tokens,
                tx.conn(),
                token.user_id,
                token.tenant_id,
                Some((token.session_id, token.session_expires_at)),
                now,
            )
            .await?;
            let sealed = app
                .db
                .keys()
                .seal(
                    sessions::SUCCESSOR,
                    &serde_json::to_string(&pair).map_err(AppError::internal)?,
                )
                .map_err(AppError::internal)?;
            sessions::set_successor(tx.conn(), token.token_id, successor, &sealed).await?;
            tx.commit().await?;
            Ok(pair)
        }
    }
}

/// Ends the caller's session: its refresh and access tokens stop working at once.
pub async fn sign_out(app: &App, caller: &Principal) -> AppResult<()> {
    let Actor::User { session, .. } = caller.actor else {
        return Err(AppError::forbidden(
            "API keys have no session to end; revoke the key instead",
        ));
    };
    let mut tx = app.db.begin_write().await?;
    sessions::revoke(tx.conn(), session, "logout", workorders_persistence::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The caller behind a verified access token: the user, active, with the session live.
pub async fn authenticate_session(
    app: &App,
    tenant: TenantId,
    user: UserId,
    session: SessionId,
) -> AppResult<Principal> {
    let user = users::get_active_in_session(
        &app.db,
        tenant,
        user,
        session,
        workorders_persistence::now(),
    )
    .await?
    .ok_or_else(|| {
        AppError::unauthenticated(
            codes::INVALID_TOKEN,
            "the session has ended or the account is deactivated",
        )
    })?;
    Ok(Principal {
        tenant_id: user.tenant_id,
        actor: Actor::User {
            id: user.id,
            role: user.role,
            session,
        },
    })
}

/// The caller behind an API key (`wo_<prefix>_<secret>`, its public `prefix` already
/// taken from it): known, matching, neither revoked nor expired. Records the use at most
/// once a minute.
pub async fn authenticate_api_key(app: &App, key: &str, prefix: &str) -> AppResult<Principal> {
    let invalid = || AppError::unauthenticated(codes::INVALID_TOKEN, "the API key is not valid");
    let (record, hash) = api_keys::find_by_prefix(&app.db, prefix)
        .await?
        .ok_or_else(invalid)?;
    if !constant_time_eq(&hash, &sha256_hex(key)) {
        return Err(invalid());
    }
    let now = workorders_persistence::now();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| e <= now) {
        return Err(AppError::unauthenticated(
            codes::INVALID_TOKEN,
            "the API key is revoked or expired",
        ));
    }
    if record
        .last_used_at
        .is_none_or(|t| t < now - chrono::Duration::minutes(1))
        && let Err(error) = api_keys::touch(&app.db, record.id, now).await
    {
        tracing::warn!(error = %error, "could not record API key use");
    }
    Ok(Principal {
        tenant_id: record.tenant_id,
        actor: Actor::ApiKey {
            id: record.id,
            scopes: record.scopes,
        },
    })
}
