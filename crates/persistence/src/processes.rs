//! Processes and their versions. A version's step list is stored as JSON and never changes
//! once the version is published.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::process::StepDefinition;
use workorders_domain::{ProcessId, ProcessVersionId, TenantId, UserId};

use crate::Versioned;
use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Conn, Db, StoreError, format_instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessStatus {
    Active,
    Archived,
}

impl ProcessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Active => "active",
            ProcessStatus::Archived => "archived",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(ProcessStatus::Active),
            "archived" => Ok(ProcessStatus::Archived),
            other => Err(format!("unknown process status {other}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProcessRecord {
    pub id: ProcessId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    pub status: ProcessStatus,
    /// Number of the latest published version.
    pub published_version: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    Draft,
    Published,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::Published => "published",
        }
    }
}

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub id: ProcessVersionId,
    pub process_id: ProcessId,
    pub number: i64,
    pub status: VersionStatus,
    pub steps: Vec<StepDefinition>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

const PROCESS_COLUMNS: &str =
    "id, tenant_id, name, description, status, published_version, version, created_at, updated_at";
const VERSION_COLUMNS: &str =
    "id, process_id, number, status, steps, created_by, created_at, published_at";

fn process_from_row(row: &AnyRow) -> Result<ProcessRecord, StoreError> {
    Ok(ProcessRecord {
        id: ProcessId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        name: row.text("name")?,
        description: row.opt_text("description")?,
        status: row.parsed("status", ProcessStatus::parse)?,
        published_version: row.opt_int("published_version")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<VersionRecord, StoreError> {
    Ok(VersionRecord {
        id: ProcessVersionId(row.uuid("id")?),
        process_id: ProcessId(row.uuid("process_id")?),
        number: row.int("number")?,
        status: if row.text("status")? == "published" {
            VersionStatus::Published
        } else {
            VersionStatus::Draft
        },
        steps: row.parsed("steps", |t| serde_json::from_str::<Vec<StepDefinition>>(t))?,
        created_by: row.opt_text("created_by")?.and_then(|t| t.parse().ok()),
        created_at: row.instant("created_at")?,
        published_at: row.opt_instant("published_at")?,
    })
}

pub(crate) fn to_json<T: serde::Serialize>(
    column: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

/// Inserts a process. `Conflict("processes_tenant_name_key")` when the name is taken.
pub async fn insert(conn: &mut Conn, record: &ProcessRecord) -> Result<ProcessRecord, StoreError> {
    let sql = format!(
        "INSERT INTO processes (id, tenant_id, name, description, status, published_version, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', NULL, 1, $5, $5) RETURNING {PROCESS_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(record.id.to_string())
        .bind(record.tenant_id.to_string())
        .bind(&record.name)
        .bind(record.description.clone())
        .bind(format_instant(record.created_at))
        .fetch_one(conn)
        .await
        .store()?;
    process_from_row(&row)
}

pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: ProcessId,
) -> Result<Option<ProcessRecord>, StoreError> {
    let sql = format!("SELECT {PROCESS_COLUMNS} FROM processes WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(process_from_row).transpose()
}

/// The process row inside a write transaction (locked on PostgreSQL).
pub async fn get_for_update(
    conn: &mut Conn,
    db: &Db,
    tenant: TenantId,
    id: ProcessId,
) -> Result<Option<ProcessRecord>, StoreError> {
    let lock = if db.backend() == crate::Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql =
        format!("SELECT {PROCESS_COLUMNS} FROM processes WHERE tenant_id = $1 AND id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(process_from_row).transpose()
}

pub async fn list(
    db: &Db,
    tenant: TenantId,
    status: Option<ProcessStatus>,
    after: Option<ProcessId>,
    limit: u32,
) -> Result<Vec<ProcessRecord>, StoreError> {
    let sql = format!(
        "SELECT {PROCESS_COLUMNS} FROM processes WHERE tenant_id = $1 AND id > $2 AND ($3 IS NULL OR status = $3) \
         ORDER BY id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(status.map(ProcessStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(process_from_row).collect()
}

/// Adds a draft version with the next number.
pub async fn insert_version(
    conn: &mut Conn,
    tenant: TenantId,
    process: ProcessId,
    steps: &[StepDefinition],
    created_by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<VersionRecord, StoreError> {
    let next: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM process_versions WHERE process_id = $1",
    )
    .bind(process.to_string())
    .fetch_one(&mut *conn)
    .await
    .store()?;
    let sql = format!(
        "INSERT INTO process_versions (id, tenant_id, process_id, number, status, steps, created_by, created_at) \
         VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7) RETURNING {VERSION_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ProcessVersionId::new().to_string())
        .bind(tenant.to_string())
        .bind(process.to_string())
        .bind(next)
        .bind(to_json("steps", &steps)?)
        .bind(created_by.map(|u| u.to_string()))
        .bind(format_instant(now))
        .fetch_one(conn)
        .await
        .store()?;
    version_from_row(&row)
}

pub async fn get_version(
    db: &Db,
    tenant: TenantId,
    process: ProcessId,
    number: i64,
) -> Result<Option<VersionRecord>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM process_versions WHERE tenant_id = $1 AND process_id = $2 AND number = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(process.to_string())
        .bind(number)
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(version_from_row).transpose()
}

pub async fn get_version_by_id(
    db: &Db,
    tenant: TenantId,
    id: ProcessVersionId,
) -> Result<Option<VersionRecord>, StoreError> {
    let sql =
        format!("SELECT {VERSION_COLUMNS} FROM process_versions WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(version_from_row).transpose()
}

/// All versions of a process, newest first (a process has few versions).
pub async fn list_versions(
    db: &Db,
    tenant: TenantId,
    process: ProcessId,
) -> Result<Vec<VersionRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    list_versions_in(&mut conn, tenant, process).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn list_versions_in(
    conn: &mut Conn,
    tenant: TenantId,
    process: ProcessId,
) -> Result<Vec<VersionRecord>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM process_versions WHERE tenant_id = $1 AND process_id = $2 ORDER BY number DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(process.to_string())
        .fetch_all(&mut *conn)
        .await
        .store()?;
    rows.iter().map(version_from_row).collect()
}

/// Publishes a draft: the version becomes immutable and, if it is newer than the current
/// published one, the process's latest. Bumps the process version.
pub async fn publish_version(
    conn: &mut Conn,
    process: &ProcessRecord,
    number: i64,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<ProcessRecord>, StoreError> {
    let done = sqlx::query(
        "UPDATE process_versions SET status = 'published', published_at = $1 \
         WHERE tenant_id = $2 AND process_id = $3 AND number = $4 AND status = 'draft'",
    )
    .bind(format_instant(now))
    .bind(process.tenant_id.to_string())
    .bind(process.id.to_string())
    .bind(number)
    .execute(&mut *conn)
    .await
    .store()?;
    if done.rows_affected() != 1 {
        return Ok(Versioned::NotFound);
    }
    let sql = format!(
        "UPDATE processes SET published_version = CASE WHEN published_version IS NULL OR published_version < $1 \
         THEN $1 ELSE published_version END, version = version + 1, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4 AND version = $5 RETURNING {PROCESS_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .bind(format_instant(now))
        .bind(process.tenant_id.to_string())
        .bind(process.id.to_string())
        .bind(expected_version)
        .fetch_optional(conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(process_from_row(&row)?)),
        None => Ok(Versioned::Stale {
            current_version: process.version,
        }),
    }
}

/// Sets name, description and status if the version matches.
pub async fn update(
    conn: &mut Conn,
    record: &ProcessRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<ProcessRecord>, StoreError> {
    let sql = format!(
        "UPDATE processes SET name = $1, description = $2, status = $3, version = version + 1, updated_at = $4 \
         WHERE tenant_id = $5 AND id = $6 AND version = $7 RETURNING {PROCESS_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&record.name)
        .bind(record.description.clone())
        .bind(record.status.as_str())
        .bind(format_instant(now))
        .bind(record.tenant_id.to_string())
        .bind(record.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(process_from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::Processes,
                &record.tenant_id.to_string(),
                &record.id.to_string(),
            )
            .await
        }
    }
}
