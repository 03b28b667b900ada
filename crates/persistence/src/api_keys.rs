//! API keys for integrations. Only a SHA-256 hash of the secret is stored; the public prefix
//! finds the row.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use workorders_domain::auth::Scope;
use workorders_domain::{ApiKeyId, TenantId, UserId};

use crate::Versioned;
use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Db, StoreError, format_instant};

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "id, tenant_id, name, prefix, scopes, created_by, created_at, expires_at, \
                       revoked_at, last_used_at, version";

fn from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        scopes: row.parsed("scopes", |t| serde_json::from_str::<Vec<Scope>>(t))?,
        created_by: UserId(row.uuid("created_by")?),
        created_at: row.instant("created_at")?,
        expires_at: row.opt_instant("expires_at")?,
        revoked_at: row.opt_instant("revoked_at")?,
        last_used_at: row.opt_instant("last_used_at")?,
        version: row.int("version")?,
    })
}

pub async fn insert(
    conn: &mut AnyConnection,
    key: &ApiKeyRecord,
    key_hash: &str,
) -> Result<ApiKeyRecord, StoreError> {
    let scopes = serde_json::to_string(&key.scopes).map_err(|e| StoreError::Corrupt {
        column: "scopes",
        detail: e.to_string(),
    })?;
    let sql = format!(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes, created_by, \
         created_at, expires_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key.id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key_hash)
        .bind(scopes)
        .bind(key.created_by.to_string())
        .bind(format_instant(key.created_at))
        .bind(key.expires_at.map(format_instant))
        .fetch_one(conn)
        .await
        .store()?;
    from_row(&row)
}

pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: ApiKeyId,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(
    db: &Db,
    tenant: TenantId,
    after: Option<ApiKeyId>,
    limit: u32,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(from_row).collect()
}

/// The key with this prefix and its hash, for authentication.
pub async fn find_by_prefix(
    db: &Db,
    prefix: &str,
) -> Result<Option<(ApiKeyRecord, String)>, StoreError> {
    let sql = format!("SELECT {COLUMNS}, key_hash FROM api_keys WHERE prefix = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(prefix)
        .fetch_optional(db.pool())
        .await
        .store()?;
    match row {
        Some(row) => Ok(Some((from_row(&row)?, row.text("key_hash")?))),
        None => Ok(None),
    }
}

/// Records use of a key, at most once a minute per key so that reads stay reads.
pub async fn touch(db: &Db, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
    let cutoff = now - chrono::Duration::minutes(1);
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(format_instant(now))
    .bind(id.to_string())
    .bind(format_instant(cutoff))
    .execute(db.pool())
    .await
    .store()?;
    Ok(())
}

/// Revokes a key if its version matches. Revoking an already revoked key keeps the first
/// revocation time.
pub async fn revoke(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: ApiKeyId,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<ApiKeyRecord>, StoreError> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1), version = version + 1 \
         WHERE tenant_id = $2 AND id = $3 AND version = $4 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    if let Some(row) = row {
        return Ok(Versioned::Updated(from_row(&row)?));
    }
    missed(
        conn,
        VersionedTable::ApiKeys,
        &tenant.to_string(),
        &id.to_string(),
    )
    .await
}
