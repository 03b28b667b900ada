//! One-time links to set a password: a reset an admin or the user asked for, an invitation
//! for a new user, the first owner of a tenant made on the command line. Only SHA-256 hashes
//! of the tokens are stored.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use workorders_domain::{TenantId, UserId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Conn, StoreError, format_instant};

/// A link as found by its token.
#[derive(Debug, Clone)]
pub struct ResetRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// `reset`, `invitation` or `first_owner`.
    pub purpose: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Stores a new link for the user and voids the user's earlier unused ones (only the newest
/// link works).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    token_hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    void_for_user(conn, tenant, user, now).await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO password_resets (id, tenant_id, user_id, token_hash, purpose, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(token_hash)
    .bind(purpose)
    .bind(format_instant(now))
    .bind(format_instant(expires_at))
    .execute(conn)
    .await
    .store()?;
    Ok(id)
}

/// Voids every unused link of a user (a password was set, or a newer link was made).
pub async fn void_for_user(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND used_at IS NULL",
    )
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(user.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected())
}

/// The link with this token hash.
pub async fn find(conn: &mut Conn, token_hash: &str) -> Result<Option<ResetRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, user_id, purpose, created_at, expires_at, used_at \
         FROM password_resets WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
    .store()?;
    row.map(|r| {
        Ok(ResetRecord {
            id: r.uuid("id")?,
            tenant_id: TenantId(r.uuid("tenant_id")?),
            user_id: UserId(r.uuid("user_id")?),
            purpose: r.text("purpose")?,
            created_at: r.instant("created_at")?,
            expires_at: r.instant("expires_at")?,
            used_at: r.opt_instant("used_at")?,
        })
    })
    .transpose()
}

/// Marks a link used if nobody did so first; false when it was used already.
pub async fn consume(conn: &mut Conn, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(format_instant(now))
            .bind(id.to_string())
            .execute(conn)
            .await
            .store()?;
    Ok(done.rows_affected() == 1)
}

/// When the user's newest unused link was made (to send at most one e-mail per few minutes).
pub async fn latest_unused(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = sqlx::query(
        "SELECT MAX(created_at) AS latest FROM password_resets \
         WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_one(conn)
    .await
    .store()?;
    row.opt_instant("latest")
}
