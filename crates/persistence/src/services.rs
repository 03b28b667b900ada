//! Bookable services (what the website widget offers) and bookings made through it.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::Role;
use workorders_domain::{
    AppointmentId, BookingId, CustomerId, ProcessId, ServiceId, TenantId, WorkOrderId,
};

use crate::error::ResultExt;
use crate::processes::to_json;
use crate::row::RowExt;
use crate::versioned::{VersionedTable, missed};
use crate::{Conn, Db, StoreError, Versioned, format_instant};

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    pub id: ServiceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    pub process_id: ProcessId,
    /// The step of the process the appointment serves (its responsible becomes the assignee).
    pub step_key: String,
    pub duration_minutes: u32,
    pub role: Role,
    pub skills: Vec<String>,
    pub lead_time_minutes: u32,
    pub horizon_days: u32,
    pub granularity_minutes: u32,
    /// Postal codes served (prefixes); empty: everywhere.
    pub postal_prefixes: Vec<String>,
    /// Radius around staff home bases, used when the customer's coordinates are known.
    pub radius_km: Option<f64>,
    pub assignment_rule: AssignmentRule,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, name, description, process_id, step_key, duration_minutes, role, skills, \
     lead_time_minutes, horizon_days, granularity_minutes, postal_prefixes, radius_km, assignment_rule, active, version, \
     created_at, updated_at";

fn num(row: &AnyRow, column: &'static str) -> Result<u32, StoreError> {
    u32::try_from(row.int(column)?).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

fn from_row(row: &AnyRow) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        id: ServiceId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        name: row.text("name")?,
        description: row.opt_text("description")?,
        process_id: ProcessId(row.uuid("process_id")?),
        step_key: row.text("step_key")?,
        duration_minutes: num(row, "duration_minutes")?,
        role: row.parsed("role", str::parse::<Role>)?,
        skills: row.parsed("skills", |t| serde_json::from_str::<Vec<String>>(t))?,
        lead_time_minutes: num(row, "lead_time_minutes")?,
        horizon_days: num(row, "horizon_days")?,
        granularity_minutes: num(row, "granularity_minutes")?,
        postal_prefixes: row.parsed("postal_prefixes", |t| {
            serde_json::from_str::<Vec<String>>(t)
        })?,
        radius_km: row.opt_float("radius_km")?,
        assignment_rule: row.parsed("assignment_rule", |t| {
            AssignmentRule::parse(t).ok_or("unknown rule")
        })?,
        active: row.int("active")? != 0,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

pub async fn insert(conn: &mut Conn, s: &ServiceRecord) -> Result<ServiceRecord, StoreError> {
    let sql = format!(
        "INSERT INTO bookable_services (id, tenant_id, name, description, process_id, step_key, duration_minutes, role, skills, \
         lead_time_minutes, horizon_days, granularity_minutes, postal_prefixes, radius_km, assignment_rule, active, version, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, $17, $17) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(s.id.to_string())
        .bind(s.tenant_id.to_string())
        .bind(&s.name)
        .bind(s.description.clone())
        .bind(s.process_id.to_string())
        .bind(&s.step_key)
        .bind(i64::from(s.duration_minutes))
        .bind(s.role.as_str())
        .bind(to_json("skills", &s.skills)?)
        .bind(i64::from(s.lead_time_minutes))
        .bind(i64::from(s.horizon_days))
        .bind(i64::from(s.granularity_minutes))
        .bind(to_json("postal_prefixes", &s.postal_prefixes)?)
        .bind(s.radius_km)
        .bind(s.assignment_rule.as_str())
        .bind(i64::from(s.active))
        .bind(format_instant(s.created_at))
        .fetch_one(conn)
        .await
        .store()?;
    from_row(&row)
}

pub async fn update(
    conn: &mut Conn,
    s: &ServiceRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<ServiceRecord>, StoreError> {
    let sql = format!(
        "UPDATE bookable_services SET name = $1, description = $2, step_key = $3, duration_minutes = $4, role = $5, skills = $6, \
         lead_time_minutes = $7, horizon_days = $8, granularity_minutes = $9, postal_prefixes = $10, radius_km = $11, \
         assignment_rule = $12, active = $13, version = version + 1, updated_at = $14 \
         WHERE tenant_id = $15 AND id = $16 AND version = $17 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&s.name)
        .bind(s.description.clone())
        .bind(&s.step_key)
        .bind(i64::from(s.duration_minutes))
        .bind(s.role.as_str())
        .bind(to_json("skills", &s.skills)?)
        .bind(i64::from(s.lead_time_minutes))
        .bind(i64::from(s.horizon_days))
        .bind(i64::from(s.granularity_minutes))
        .bind(to_json("postal_prefixes", &s.postal_prefixes)?)
        .bind(s.radius_km)
        .bind(s.assignment_rule.as_str())
        .bind(i64::from(s.active))
        .bind(format_instant(now))
        .bind(s.tenant_id.to_string())
        .bind(s.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    match row {
        Some(row) => Ok(Versioned::Updated(from_row(&row)?)),
        None => {
            missed(
                conn,
                VersionedTable::Services,
                &s.tenant_id.to_string(),
                &s.id.to_string(),
            )
            .await
        }
    }
}

pub async fn get(
    db: &Db,
    tenant: TenantId,
    id: ServiceId,
) -> Result<Option<ServiceRecord>, StoreError> {
    let mut conn = db.pool().acquire().await.store()?;
    get_in(&mut conn, tenant, id).await
}

/// The same, on a connection (inside a transaction: it sees the transaction's writes).
pub async fn get_in(
    conn: &mut Conn,
    tenant: TenantId,
    id: ServiceId,
) -> Result<Option<ServiceRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM bookable_services WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .store()?;
    row.as_ref().map(from_row).transpose()
}

/// The tenant's services in creation order (a tenant has few).
pub async fn list(
    db: &Db,
    tenant: TenantId,
    only_active: bool,
) -> Result<Vec<ServiceRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bookable_services WHERE tenant_id = $1 AND ($2 = 0 OR active = 1) ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(i64::from(only_active))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(from_row).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookingRecord {
    pub id: BookingId,
    pub tenant_id: TenantId,
    /// Short reference the customer can quote (`B-7K3M9Q`).
    pub reference: String,
    pub service_id: ServiceId,
    pub work_order_id: WorkOrderId,
    pub appointment_id: AppointmentId,
    pub customer_id: CustomerId,
    /// `confirmed` or `cancelled`.
    pub status: String,
    pub consent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const BOOKING_COLUMNS: &str = "id, tenant_id, reference, service_id, work_order_id, appointment_id, customer_id, status, consent_at, created_at, updated_at";

fn booking_from_row(row: &AnyRow) -> Result<BookingRecord, StoreError> {
    Ok(BookingRecord {
        id: BookingId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        reference: row.text("reference")?,
        service_id: ServiceId(row.uuid("service_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        appointment_id: AppointmentId(row.uuid("appointment_id")?),
        customer_id: CustomerId(row.uuid("customer_id")?),
        status: row.text("status")?,
        consent_at: row.instant("consent_at")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

/// Inserts a booking; `Conflict("bookings_reference_key")` on a (rare) reference clash.
pub async fn insert_booking(
    conn: &mut Conn,
    b: &BookingRecord,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO bookings (id, tenant_id, reference, token_hash, service_id, work_order_id, appointment_id, customer_id, status, \
         consent_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(b.id.to_string())
    .bind(b.tenant_id.to_string())
    .bind(&b.reference)
    .bind(token_hash)
    .bind(b.service_id.to_string())
    .bind(b.work_order_id.to_string())
    .bind(b.appointment_id.to_string())
    .bind(b.customer_id.to_string())
    .bind(&b.status)
    .bind(format_instant(b.consent_at))
    .bind(format_instant(b.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// The booking behind a private token, within the tenant.
pub async fn booking_by_token(
    db: &Db,
    tenant: TenantId,
    token_hash: &str,
) -> Result<Option<BookingRecord>, StoreError> {
    // The booking's own token, or one of the further links its e-mails carry.
    let sql = format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 AND (token_hash = $2 \
         OR id = (SELECT booking_id FROM booking_links WHERE tenant_id = $1 AND token_hash = $2))"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(token_hash)
        .fetch_optional(db.pool())
        .await
        .store()?;
    row.as_ref().map(booking_from_row).transpose()
}

/// The web booking that made an appointment, if one did.
pub async fn booking_of_appointment(
    conn: &mut Conn,
    tenant: TenantId,
    appointment: AppointmentId,
) -> Result<Option<BookingRecord>, StoreError> {
    let sql = format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 AND appointment_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(appointment.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(booking_from_row).transpose()
}

/// Records a further private link to a booking's page (by the token's hash).
pub async fn insert_booking_link(
    conn: &mut Conn,
    tenant: TenantId,
    booking: BookingId,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO booking_links (token_hash, tenant_id, booking_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash.to_owned())
    .bind(tenant.to_string())
    .bind(booking.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

pub async fn set_booking_status(
    conn: &mut Conn,
    id: BookingId,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE bookings SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(format_instant(now))
        .bind(id.to_string())
        .execute(conn)
        .await
        .store()?;
    Ok(())
}
