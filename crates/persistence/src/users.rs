//! Users (staff accounts) of a tenant.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use workorders_domain::auth::Role;
use workorders_domain::user::{Email, HomeBase};
use workorders_domain::{TenantId, UserId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Conn, Db, StoreError, Versioned, format_instant};

/// A stored user, without the password hash.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub skills: Vec<String>,
    pub phone: Option<String>,
    pub home_base: Option<HomeBase>,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

const COLUMNS: &str = "id, tenant_id, email, name, role, skills, phone, home_postal_code, \
                       home_latitude, home_longitude, active, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let home_base = match row.opt_text("home_postal_code")? {
        Some(postal_code) => Some(HomeBase {
            postal_code,
            latitude: row.opt_float("home_latitude")?,
            longitude: row.opt_float("home_longitude")?,
        }),
        None => None,
    };
    Ok(UserRecord {
        id: UserId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        email: row.parsed("email", Email::parse)?,
        name: row.text("name")?,
        role: row.parsed("role", str::parse::<Role>)?,
        skills: row.parsed("skills", |t| serde_json::from_str::<Vec<String>>(t))?,
        phone: row.opt_text("phone")?,
        home_base,
        active: row.int("active")? != 0,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

fn skills_json(skills: &[String]) -> String {
    serde_json::Value::from(skills.to_vec()).to_string()
}

/// Inserts a user. Fails with `Conflict("users_tenant_email_key")` when the e-mail address is
/// already used in the tenant.
pub async fn insert(
    conn: &mut AnyConnection,
    user: &UserRecord,
    password_hash: &str,
) -> Result<UserRecord, StoreError> {
    let sql = format!(
        "INSERT INTO users (id, tenant_id, email, name, role, password_hash, skills, phone, \
         home_postal_code, home_latitude, home_longitude, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.id.to_string())
        .bind(user.tenant_id.to_string())
        .bind(user.email.as_str())
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(password_hash)
        .bind(skills_json(&user.skills))
        .bind(user.phone.clone())
        .bind(user.home_base.as_ref().map(|h| h.postal_code.clone()))
        .bind(user.home_base.as_ref().and_then(|h| h.latitude))
        .bind(user.home_base.as_ref().and_then(|h| h.longitude))
        .bind(i64::from(user.active))
        .bind(format_instant(user.created_at))
        .fetch_one(conn)
        .await
        .store()?;
    from_row(&row)
}

pub async fn get(db: &Db, tenant: TenantId, id: UserId) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

/// The user with this e-mail address in the tenant, with the password hash, for sign-in.
pub async fn find_for_login(
    db: &Db,
    tenant: TenantId,
    email: &Email,
) -> Result<Option<(UserRecord, String)>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS}, password_hash FROM users WHERE tenant_id = $1 AND email = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await
        .store()?;
    match row {
        Some(row) => Ok(Some((from_row(&row)?, row.text("password_hash")?))),
        None => Ok(None),
    }
}

/// One page of users in id order (creation order), after `after`.
pub async fn list(
    db: &Db,
    tenant: TenantId,
    filter: &UserFilter,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id > $2 \
         AND ($3 IS NULL OR role = $3) AND ($4 IS NULL OR active = $4) \
         ORDER BY id LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(filter.role.map(|r| r.as_str()))
        .bind(filter.active.map(i64::from))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(from_row).collect()
}

/// Writes the changeable fields of `user` if the stored version is `expected_version`, and
/// bumps the version.
pub async fn update(
    conn: &mut AnyConnection,
    user: &UserRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<UserRecord>, StoreError> {
    let sql = format!(
        "UPDATE users SET name = $1, role = $2, skills = $3, phone = $4, home_postal_code = $5, \
         home_latitude = $6, home_longitude = $7, active = $8, version = version + 1, \
         updated_at = $9 WHERE tenant_id = $10 AND id = $11 AND version = $12 \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(skills_json(&user.skills))
        .bind(user.phone.clone())
        .bind(user.home_base.as_ref().map(|h| h.postal_code.clone()))
        .bind(user.home_base.as_ref().and_then(|h| h.latitude))
        .bind(user.home_base.as_ref().and_then(|h| h.longitude))
        .bind(i64::from(user.active))
        .bind(format_instant(now))
        .bind(user.tenant_id.to_string())
        .bind(user.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    if let Some(row) = row {
        return Ok(Versioned::Updated(from_row(&row)?));
    }
    missed(
        conn,
        VersionedTable::Users,
        &user.tenant_id.to_string(),
        &user.id.to_string(),
    )
    .await
}

/// The user's password hash (for checking the current password before a change).
pub async fn password_hash(
    db: &Db,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()
}

/// Replaces the password hash (bumps the version).
pub async fn set_password(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(password_hash)
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Number of active owners of the tenant other than `except`. Used inside a write
/// transaction, so the answer holds until it commits.
pub async fn count_other_active_owners(
    conn: &mut AnyConnection,
    tenant: TenantId,
    except: UserId,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'owner' AND active = 1 AND id <> $2",
    )
    .bind(tenant.to_string())
    .bind(except.to_string())
    .fetch_one(conn)
    .await
    .store()
}

/// Locks the tenant row for the rest of the transaction (PostgreSQL), so that rules spanning
/// several users ("at least one active owner") cannot be broken by two concurrent
/// transactions. SQLite transactions are already serialised by the writer lock.
pub async fn lock_tenant(
    conn: &mut AnyConnection,
    tenant: TenantId,
    db: &Db,
) -> Result<(), StoreError> {
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant.to_string())
            .fetch_optional(conn)
            .await
            .store()?;
    }
    Ok(())
}

/// The user behind an access token: active, in the tenant, with a live session.
pub async fn get_active_in_session(
    db: &Db,
    tenant: TenantId,
    id: UserId,
    session: workorders_domain::SessionId,
    now: DateTime<Utc>,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 AND active = 1 \
         AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = $3 AND sessions.user_id = $2 \
         AND sessions.revoked_at IS NULL AND sessions.expires_at > $4)"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(session.to_string())
        .bind(format_instant(now))
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

/// All users of the tenant (active and not), for assignment. Tenants have tens of users.
pub async fn all_in(conn: &mut Conn, tenant: TenantId) -> Result<Vec<UserRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(from_row).collect()
}

/// Names of these users (missing ids are left out).
pub async fn names(
    db: &Db,
    tenant: TenantId,
    ids: &[UserId],
) -> Result<HashMap<UserId, String>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    names_in(&mut conn, tenant, ids).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn names_in(
    conn: &mut Conn,
    tenant: TenantId,
    ids: &[UserId],
) -> Result<HashMap<UserId, String>, StoreError> {
    let mut names = HashMap::new();
    for chunk in ids.chunks(100) {
        let placeholders = crate::in_list(2, chunk.len());
        let sql = format!(
            "SELECT id, name FROM users WHERE tenant_id = $1 AND id IN ({})",
            placeholders
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            names.insert(UserId(row.uuid("id")?), row.text("name")?);
        }
    }
    Ok(names)
}

/// A user inside a transaction.
pub async fn get_in(
    conn: &mut Conn,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}
