//! Tenants (companies).

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::brand::{Colour, Language};
use workorders_domain::tenant::{Slug, TimeZone};
use workorders_domain::{TenantId, UserId};

use crate::Versioned;
use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Conn, Db, StoreError, format_instant};

#[derive(Debug, Clone)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: Slug,
    pub name: String,
    pub time_zone: TimeZone,
    /// Takes steps nobody qualifies for; `None`: the tenant's (first) owner.
    pub process_owner_id: Option<UserId>,
    pub assignment_rule: AssignmentRule,
    /// Origins of the company website allowed to call the public booking endpoints.
    pub website_origins: Vec<String>,
    /// Minutes an overdue step stays with its responsible person before the process owner
    /// is told.
    pub escalation_grace_minutes: i64,
    /// Days without an event after which an open order counts as stuck.
    pub stuck_after_days: i64,
    /// Accent colour of the customer's pages; `None`: the default blue.
    pub brand_colour: Option<Colour>,
    /// The company's legal notice (Impressum), an https URL.
    pub imprint_url: Option<String>,
    /// The company's privacy policy, an https URL.
    pub privacy_url: Option<String>,
    /// The pages' language when neither the link nor the browser names German or English.
    pub default_language: Language,
    /// The logo on the customer's pages.
    pub logo: Option<Logo>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a tenant's logo is: its bytes in the blob store, the sniffed type and the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub key: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

const COLUMNS: &str = "id, slug, name, time_zone, process_owner_id, assignment_rule, website_origins, \
    escalation_grace_minutes, stuck_after_days, brand_colour, imprint_url, privacy_url, \
    default_language, logo_key, logo_content_type, logo_sha256, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<TenantRecord, StoreError> {
    Ok(TenantRecord {
        id: TenantId(row.uuid("id")?),
        slug: row.parsed("slug", Slug::parse)?,
        name: row.text("name")?,
        time_zone: row.parsed("time_zone", TimeZone::parse)?,
        process_owner_id: row
            .opt_text("process_owner_id")?
            .and_then(|t| t.parse().ok()),
        assignment_rule: row.parsed("assignment_rule", |t| {
            AssignmentRule::parse(t).ok_or("unknown rule")
        })?,
        website_origins: row.parsed("website_origins", |t| {
            serde_json::from_str::<Vec<String>>(t)
        })?,
        escalation_grace_minutes: row.int("escalation_grace_minutes")?,
        stuck_after_days: row.int("stuck_after_days")?,
        brand_colour: row
            .opt_text("brand_colour")?
            .and_then(|t| Colour::parse(&t)),
        imprint_url: row.opt_text("imprint_url")?,
        privacy_url: row.opt_text("privacy_url")?,
        default_language: row.parsed("default_language", |t| {
            Language::parse(t).ok_or("unknown language")
        })?,
        logo: match (
            row.opt_text("logo_key")?,
            row.opt_text("logo_content_type")?,
            row.opt_text("logo_sha256")?,
        ) {
            (Some(key), Some(content_type), Some(sha256)) => Some(Logo {
                key,
                content_type,
                sha256,
            }),
            _ => None,
        },
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

/// Changes the tenant's settings (process owner, assignment rule, website origins,
/// escalation, branding and logo) to those of `next` if the version matches.
pub async fn update_settings(
    conn: &mut Conn,
    next: &TenantRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<TenantRecord>, StoreError> {
    let tenant = next.id;
    let sql = format!(
        "UPDATE tenants SET process_owner_id = $1, assignment_rule = $2, website_origins = $6, \
         escalation_grace_minutes = $7, stuck_after_days = $8, brand_colour = $9, \
         imprint_url = $10, privacy_url = $11, default_language = $12, logo_key = $13, \
         logo_content_type = $14, logo_sha256 = $15, version = version + 1, \
         updated_at = $3 WHERE id = $4 AND version = $5 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(next.process_owner_id.map(|u| u.to_string()))
        .bind(next.assignment_rule.as_str())
        .bind(format_instant(now))
        .bind(tenant.to_string())
        .bind(expected_version)
        .bind(serde_json::to_string(&next.website_origins).unwrap_or_else(|_| "[]".to_owned()))
        .bind(next.escalation_grace_minutes)
        .bind(next.stuck_after_days)
        .bind(next.brand_colour.map(|c| c.to_string()))
        .bind(next.imprint_url.clone())
        .bind(next.privacy_url.clone())
        .bind(next.default_language.as_str())
        .bind(next.logo.as_ref().map(|l| l.key.clone()))
        .bind(next.logo.as_ref().map(|l| l.content_type.clone()))
        .bind(next.logo.as_ref().map(|l| l.sha256.clone()))
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::Tenants,
                &tenant.to_string(),
                &tenant.to_string(),
            )
            .await
        }
    }
}

/// The tenant row inside a write transaction.
pub async fn get_in(conn: &mut Conn, id: TenantId) -> Result<Option<TenantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}
