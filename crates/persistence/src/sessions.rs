//! Sign-in sessions and their rotating refresh tokens. A session is one refresh-token family;
//! only SHA-256 hashes of refresh tokens are stored.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use uuid::Uuid;
use workorders_domain::{SessionId, TenantId, UserId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{StoreError, format_instant};

/// A refresh token as found by its hash, with its session's state.
#[derive(Debug, Clone)]
pub struct RefreshTokenRow {
    pub token_id: Uuid,
    pub session_id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub session_revoked_at: Option<DateTime<Utc>>,
    pub session_expires_at: DateTime<Utc>,
    /// The pair this token was exchanged for, sealed (within the refresh grace period a
    /// retry gets it again).
    pub successor_sealed: Option<String>,
    /// Whether the token it was exchanged for has been used in turn.
    pub successor_used: bool,
}

/// Purpose of the sealed successor pairs.
pub const SUCCESSOR: &str = "refresh_successor";

/// Starts a session with its first refresh token; returns the token's id.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut AnyConnection,
    session: SessionId,
    tenant: TenantId,
    user: UserId,
    token_hash: &str,
    token_expires_at: DateTime<Utc>,
    session_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.to_string())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(format_instant(now))
    .bind(format_instant(session_expires_at))
    .execute(&mut *conn)
    .await
    .store()?;
    add_token(conn, session, token_hash, token_expires_at, now).await
}

/// Adds a refresh token to a session; returns its id.
pub async fn add_token(
    conn: &mut AnyConnection,
    session: SessionId,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.to_string())
    .bind(session.to_string())
    .bind(token_hash)
    .bind(format_instant(now))
    .bind(format_instant(expires_at))
    .execute(conn)
    .await
    .store()?;
    Ok(id)
}

/// Records what a rotated token was exchanged for (the new token's id and the sealed pair).
pub async fn set_successor(
    conn: &mut AnyConnection,
    token_id: Uuid,
    successor_id: Uuid,
    sealed_pair: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET successor_id = $1, successor_sealed = $2 WHERE id = $3")
        .bind(successor_id.to_string())
        .bind(sealed_pair)
        .bind(token_id.to_string())
        .execute(conn)
        .await
        .store()?;
    Ok(())
}

pub async fn find_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshTokenRow>, StoreError> {
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.session_id, s.tenant_id, s.user_id, t.expires_at, t.used_at, \
         s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at, t.successor_sealed, \
         CASE WHEN n.used_at IS NULL THEN 0 ELSE 1 END AS successor_used \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         LEFT JOIN refresh_tokens n ON n.id = t.successor_id WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
    .store()?;
    row.map(|row| {
        Ok(RefreshTokenRow {
            token_id: row.uuid("token_id")?,
            session_id: SessionId(row.uuid("session_id")?),
            tenant_id: TenantId(row.uuid("tenant_id")?),
            user_id: UserId(row.uuid("user_id")?),
            expires_at: row.instant("expires_at")?,
            used_at: row.opt_instant("used_at")?,
            session_revoked_at: row.opt_instant("session_revoked_at")?,
            session_expires_at: row.instant("session_expires_at")?,
            successor_sealed: row.opt_text("successor_sealed")?,
            successor_used: row.int("successor_used")? != 0,
        })
    })
    .transpose()
}

/// Marks a token used if nobody did so first. Returns false when it was already used: the
/// caller lost a race with another use of the same token.
pub async fn mark_used(
    conn: &mut AnyConnection,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(format_instant(now))
            .bind(token_id.to_string())
            .execute(conn)
            .await
            .store()?;
    Ok(done.rows_affected() == 1)
}

/// Revokes one session (idempotent: an already revoked session keeps its first reason).
pub async fn revoke(
    conn: &mut AnyConnection,
    session: SessionId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(format_instant(now))
    .bind(reason)
    .bind(session.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Revokes every open session of a user (deactivation, password change), except `keep`.
pub async fn revoke_all_for_user(
    conn: &mut AnyConnection,
    tenant: TenantId,
    user: UserId,
    keep: Option<SessionId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE tenant_id = $3 AND user_id = $4 AND revoked_at IS NULL AND id <> $5",
    )
    .bind(format_instant(now))
    .bind(reason)
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(keep.map(|s| s.to_string()).unwrap_or_default())
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected())
}
