//! Tenants (companies).

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use workorders_domain::TenantId;
use workorders_domain::tenant::{Slug, TimeZone};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Db, StoreError, format_instant};

#[derive(Debug, Clone)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: Slug,
    pub name: String,
    pub time_zone: TimeZone,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, slug, name, time_zone, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<TenantRecord, StoreError> {
    Ok(TenantRecord {
        id: TenantId(row.uuid("id")?),
        slug: row.parsed("slug", Slug::parse)?,
        name: row.text("name")?,
        time_zone: row.parsed("time_zone", TimeZone::parse)?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

/// Inserts a tenant. Fails with `Conflict("tenants_slug_key")` when the slug is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    id: TenantId,
    slug: &Slug,
    name: &str,
    time_zone: TimeZone,
    now: DateTime<Utc>,
) -> Result<TenantRecord, StoreError> {
    let sql = format!(
        "INSERT INTO tenants (id, slug, name, time_zone, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(slug.as_str())
        .bind(name)
        .bind(time_zone.name())
        .bind(format_instant(now))
        .fetch_one(conn)
        .await
        .store()?;
    from_row(&row)
}

pub async fn get(db: &Db, id: TenantId) -> Result<Option<TenantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<TenantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}
