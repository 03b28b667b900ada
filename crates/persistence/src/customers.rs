//! Customers and their sites (service addresses).

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::{CustomerId, SiteId, TenantId};

use crate::Versioned;
use crate::error::ResultExt;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, current_version, missed};
use crate::{Conn, Db, StoreError, WriteTx, format_instant};

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub tenant_id: TenantId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Address,
    pub vat_id: Option<String>,
    pub buyer_reference: Option<String>,
    pub notes: Option<String>,
    /// `staff` (created through the API) or `web_booking` (an anonymous booking: a contact
    /// of its own, never merged into an existing customer by its e-mail address).
    pub source: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SiteRecord {
    pub id: SiteId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub label: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str = "id, tenant_id, name, email, phone, billing_street, billing_postal_code, billing_city, \
     billing_country, vat_id, buyer_reference, notes, source, version, created_at, updated_at";
const SITE_COLUMNS: &str = "id, tenant_id, customer_id, label, street, postal_code, city, country, latitude, longitude, \
     notes, version, created_at, updated_at";

fn customer_from_row(row: &AnyRow) -> Result<CustomerRecord, StoreError> {
    Ok(CustomerRecord {
        id: CustomerId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        name: row.text("name")?,
        email: row.opt_text("email")?,
        phone: row.opt_text("phone")?,
        billing_address: Address {
            street: row.opt_text("billing_street")?,
            postal_code: row.opt_text("billing_postal_code")?,
            city: row.opt_text("billing_city")?,
            country: row.opt_text("billing_country")?,
        },
        vat_id: row.opt_text("vat_id")?,
        buyer_reference: row.opt_text("buyer_reference")?,
        notes: row.opt_text("notes")?,
        source: row.text("source")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

fn site_from_row(row: &AnyRow) -> Result<SiteRecord, StoreError> {
    Ok(SiteRecord {
        id: SiteId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        customer_id: CustomerId(row.uuid("customer_id")?),
        label: row.opt_text("label")?,
        street: row.text("street")?,
        postal_code: row.text("postal_code")?,
        city: row.text("city")?,
        country: row.text("country")?,
        latitude: row.opt_float("latitude")?,
        longitude: row.opt_float("longitude")?,
        notes: row.opt_text("notes")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

/// Lower-cased text searched by `?q=`: name, e-mail, phone (digits only as well).
fn search_text(c: &CustomerRecord) -> String {
    let phone_digits: String = c
        .phone
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!(
        "{} {} {} {}",
        c.name.to_lowercase(),
        c.email.as_deref().unwrap_or("").to_lowercase(),
        c.phone.as_deref().unwrap_or(""),
        phone_digits
    )
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub async fn insert(conn: &mut Conn, c: &CustomerRecord) -> Result<CustomerRecord, StoreError> {
    let sql = format!(
        "INSERT INTO customers (id, tenant_id, name, email, phone, billing_street, billing_postal_code, billing_city, \
         billing_country, vat_id, buyer_reference, notes, search_text, source, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, 1, $14, $14) RETURNING {CUSTOMER_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(&c.name)
        .bind(c.email.clone())
        .bind(c.phone.clone())
        .bind(c.billing_address.street.clone())
        .bind(c.billing_address.postal_code.clone())
        .bind(c.billing_address.city.clone())
        .bind(c.billing_address.country.clone())
        .bind(c.vat_id.clone())
        .bind(c.buyer_reference.clone())
        .bind(c.notes.clone())
        .bind(search_text(c))
        .bind(format_instant(c.created_at))
        .bind(&c.source)
        .fetch_one(conn)
        .await
        .store()?;
    customer_from_row(&row)
}

pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Option<CustomerRecord>, StoreError> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(customer_from_row).transpose()
}

/// A customer, inside a transaction.
pub async fn get_in(
    conn: &mut Conn,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Option<CustomerRecord>, StoreError> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(customer_from_row).transpose()
}

/// A page of customers in creation order; `q` searches name, e-mail and phone.
/// One page of customers (id order), optionally searched (`q`) and by source.
pub async fn list(
    db: &Db,
    tenant: TenantId,
    q: Option<&str>,
    source: Option<&str>,
    after: Option<CustomerId>,
    limit: u32,
) -> Result<Vec<CustomerRecord>, StoreError> {
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id > $2 \
         AND ($3 IS NULL OR search_text LIKE $3 ESCAPE '\\') AND ($5 = '' OR source = $5) ORDER BY id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(q.map(like_pattern))
        .bind(i64::from(limit))
        .bind(source.unwrap_or_default())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(customer_from_row).collect()
}

pub async fn update(
    tx: &mut WriteTx,
    c: &CustomerRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<CustomerRecord>, StoreError> {
    tx.touch_customer(c.tenant_id, c.id);
    let conn = tx.conn();
    let sql = format!(
        "UPDATE customers SET name = $1, email = $2, phone = $3, billing_street = $4, billing_postal_code = $5, \
         billing_city = $6, billing_country = $7, vat_id = $8, buyer_reference = $9, notes = $10, search_text = $11, \
         version = version + 1, updated_at = $12 WHERE tenant_id = $13 AND id = $14 AND version = $15 \
         RETURNING {CUSTOMER_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.name)
        .bind(c.email.clone())
        .bind(c.phone.clone())
        .bind(c.billing_address.street.clone())
        .bind(c.billing_address.postal_code.clone())
        .bind(c.billing_address.city.clone())
        .bind(c.billing_address.country.clone())
        .bind(c.vat_id.clone())
        .bind(c.buyer_reference.clone())
        .bind(c.notes.clone())
        .bind(search_text(c))
        .bind(format_instant(now))
        .bind(c.tenant_id.to_string())
        .bind(c.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(customer_from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::Customers,
                &c.tenant_id.to_string(),
                &c.id.to_string(),
            )
            .await
        }
    }
}

/// Outcome of deleting a customer.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    Stale { current_version: i64 },
    HasOrders { count: i64 },
}

/// Deletes a customer and its sites, unless it has work orders.
pub async fn delete(
    conn: &mut Conn,
    tenant: TenantId,
    id: CustomerId,
    expected_version: i64,
) -> Result<Deleted, StoreError> {
    let current = current_version(
        conn,
        VersionedTable::Customers,
        &tenant.to_string(),
        &id.to_string(),
    )
    .await?;
    let Some(current_version) = current else {
        return Ok(Deleted::NotFound);
    };
    if current_version != expected_version {
        return Ok(Deleted::Stale { current_version });
    }
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM work_orders WHERE tenant_id = $1 AND customer_id = $2",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await
    .store()?;
    if count > 0 {
        return Ok(Deleted::HasOrders { count });
    }
    sqlx::query("DELETE FROM sites WHERE tenant_id = $1 AND customer_id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .store()?;
    sqlx::query("DELETE FROM customers WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(conn)
        .await
        .store()?;
    Ok(Deleted::Deleted)
}

pub async fn insert_site(conn: &mut Conn, s: &SiteRecord) -> Result<SiteRecord, StoreError> {
    let sql = format!(
        "INSERT INTO sites (id, tenant_id, customer_id, label, street, postal_code, city, country, latitude, longitude, \
         notes, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12) \
         RETURNING {SITE_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(s.id.to_string())
        .bind(s.tenant_id.to_string())
        .bind(s.customer_id.to_string())
        .bind(s.label.clone())
        .bind(&s.street)
        .bind(&s.postal_code)
        .bind(&s.city)
        .bind(&s.country)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(s.notes.clone())
        .bind(format_instant(s.created_at))
        .fetch_one(conn)
        .await
        .store()?;
    site_from_row(&row)
}

pub async fn get_site(
    db: &Db,
    tenant: TenantId,
    id: SiteId,
) -> Result<Option<SiteRecord>, StoreError> {
    let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(site_from_row).transpose()
}

/// [`get_site`] on a connection (inside a transaction).
pub async fn get_site_in(
    conn: &mut Conn,
    tenant: TenantId,
    id: SiteId,
) -> Result<Option<SiteRecord>, StoreError> {
    let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(site_from_row).transpose()
}

/// Sites of a customer in creation order (a customer has few).
pub async fn list_sites(
    db: &Db,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Vec<SiteRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    list_sites_in(&mut conn, tenant, customer).await
}

/// Sites of a customer, inside a transaction.
pub async fn list_sites_in(
    conn: &mut Conn,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Vec<SiteRecord>, StoreError> {
    let sql = format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(customer.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(site_from_row).collect()
}

/// Ids and numbers of the customer's work orders (for the data export).
pub async fn order_numbers(
    db: &Db,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query("SELECT id, number, status FROM work_orders WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id")
        .bind(tenant.to_string())
        .bind(customer.to_string())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter()
        .map(|r| Ok((r.text("id")?, r.text("number")?, r.text("status")?)))
        .collect()
}

/// Customers by id (for embedding in order views).
pub async fn get_many(
    db: &Db,
    tenant: TenantId,
    ids: &[CustomerId],
) -> Result<Vec<CustomerRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    get_many_in(&mut conn, tenant, ids).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn get_many_in(
    conn: &mut Conn,
    tenant: TenantId,
    ids: &[CustomerId],
) -> Result<Vec<CustomerRecord>, StoreError> {
    let mut result = Vec::new();
    for chunk in ids.chunks(100) {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id IN ({})",
            crate::in_list(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            result.push(customer_from_row(&row)?);
        }
    }
    Ok(result)
}

/// Sites by id (for embedding in order views).
pub async fn get_sites_many(
    db: &Db,
    tenant: TenantId,
    ids: &[SiteId],
) -> Result<Vec<SiteRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    get_sites_many_in(&mut conn, tenant, ids).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn get_sites_many_in(
    conn: &mut Conn,
    tenant: TenantId,
    ids: &[SiteId],
) -> Result<Vec<SiteRecord>, StoreError> {
    let mut result = Vec::new();
    for chunk in ids.chunks(100) {
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND id IN ({})",
            crate::in_list(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            result.push(site_from_row(&row)?);
        }
    }
    Ok(result)
}
