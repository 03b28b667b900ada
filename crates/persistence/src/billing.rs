//! Billing: the tenant's profile, the catalogue, quotes, invoices (gap-free numbers from
//! `number_sequences` inside the issuing transaction), payments and e-mail templates.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::any::AnyRow;
use uuid::Uuid;
use workorders_domain::billing::{Computed, InvoiceStatus, LineInput, TaxTreatment};
use workorders_domain::invoicing::{BillingProfile, QuoteStatus};
use workorders_domain::{CustomerId, TenantId, WorkOrderId};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Conn, Db, StoreError, format_instant};

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: DeserializeOwned>(row: &AnyRow, column: &'static str) -> Result<T, StoreError> {
    let text = row.text(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

fn date(row: &AnyRow, column: &'static str) -> Result<NaiveDate, StoreError> {
    row.parsed(column, |s| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
}

fn opt_date(row: &AnyRow, column: &'static str) -> Result<Option<NaiveDate>, StoreError> {
    match row.opt_text(column)? {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                column,
                detail: e.to_string(),
            }),
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

// ---------------------------------------------------------------------------------------
// Billing profile

#[derive(Debug, Clone)]
pub struct ProfileRecord {
    pub profile: BillingProfile,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn get_profile(
    conn: &mut Conn,
    tenant: TenantId,
) -> Result<Option<ProfileRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT profile, version, updated_at FROM billing_profiles WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(conn)
    .await
    .store()?;
    row.map(|r| {
        Ok(ProfileRecord {
            profile: from_json(&r, "profile")?,
            version: r.int("version")?,
            updated_at: r.instant("updated_at")?,
        })
    })
    .transpose()
}

/// Writes the profile: creates it when `expected_version` is `None`, else updates it only
/// at that version. Returns the new version, or `None` when the version did not match (or
/// a profile appeared meanwhile).
pub async fn put_profile(
    conn: &mut Conn,
    tenant: TenantId,
    profile: &BillingProfile,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let done = match expected_version {
        None => sqlx::query(
            "INSERT INTO billing_profiles (tenant_id, profile, version, updated_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(json(profile))
        .bind(format_instant(now))
        .execute(conn)
        .await
        .store()?,
        Some(v) => sqlx::query(
            "UPDATE billing_profiles SET profile = $1, version = version + 1, updated_at = $2 \
             WHERE tenant_id = $3 AND version = $4",
        )
        .bind(json(profile))
        .bind(format_instant(now))
        .bind(tenant.to_string())
        .bind(v)
        .execute(conn)
        .await
        .store()?,
    };
    Ok((done.rows_affected() == 1).then(|| expected_version.map_or(1, |v| v + 1)))
}

// ---------------------------------------------------------------------------------------
// Catalogue

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueItem {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub code: String,
    /// `labour`, `material` or `service`.
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub unit: String,
    pub unit_price: String,
    pub vat_rate: String,
    pub role: Option<String>,
    pub skill: Option<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ITEM_COLUMNS: &str = "id, tenant_id, code, kind, name, description, unit, unit_price, vat_rate, role, skill, \
    active, version, created_at, updated_at";

fn item_from_row(row: &AnyRow) -> Result<CatalogueItem, StoreError> {
    Ok(CatalogueItem {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        code: row.text("code")?,
        kind: row.text("kind")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
        unit: row.text("unit")?,
        unit_price: row.text("unit_price")?,
        vat_rate: row.text("vat_rate")?,
        role: row.opt_text("role")?,
        skill: row.opt_text("skill")?,
        active: row.int("active")? != 0,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

pub async fn insert_item(conn: &mut Conn, item: &CatalogueItem) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO catalogue_items (id, tenant_id, code, kind, name, description, unit, unit_price, vat_rate, \
         role, skill, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13)",
    )
    .bind(item.id.to_string())
    .bind(item.tenant_id.to_string())
    .bind(&item.code)
    .bind(&item.kind)
    .bind(&item.name)
    .bind(item.description.clone())
    .bind(&item.unit)
    .bind(&item.unit_price)
    .bind(&item.vat_rate)
    .bind(item.role.clone())
    .bind(item.skill.clone())
    .bind(i64::from(item.active))
    .bind(format_instant(item.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Writes every field if the version matches.
pub async fn update_item(
    conn: &mut Conn,
    item: &CatalogueItem,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE catalogue_items SET code = $1, kind = $2, name = $3, description = $4, unit = $5, unit_price = $6, \
         vat_rate = $7, role = $8, skill = $9, active = $10, version = version + 1, updated_at = $11 \
         WHERE tenant_id = $12 AND id = $13 AND version = $14",
    )
    .bind(&item.code)
    .bind(&item.kind)
    .bind(&item.name)
    .bind(item.description.clone())
    .bind(&item.unit)
    .bind(&item.unit_price)
    .bind(&item.vat_rate)
    .bind(item.role.clone())
    .bind(item.skill.clone())
    .bind(i64::from(item.active))
    .bind(format_instant(now))
    .bind(item.tenant_id.to_string())
    .bind(item.id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_item(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<CatalogueItem>, StoreError> {
    let sql =
        format!("SELECT {ITEM_COLUMNS} FROM catalogue_items WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(item_from_row).transpose()
}

/// A page of items ordered by code, after `after_code`.
pub async fn list_items(
    db: &Db,
    tenant: TenantId,
    after_code: Option<&str>,
    kind: Option<&str>,
    include_inactive: bool,
    limit: i64,
) -> Result<Vec<CatalogueItem>, StoreError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM catalogue_items WHERE tenant_id = $1 AND code > $2 \
         AND ($3 = '' OR kind = $3) AND ($4 = 1 OR active = 1) ORDER BY code LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after_code.unwrap_or("").to_owned())
        .bind(kind.unwrap_or("").to_owned())
        .bind(i64::from(include_inactive))
        .bind(limit)
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(item_from_row).collect()
}

/// Every active item (labour rates are matched against steps when invoicing).
pub async fn active_items(
    conn: &mut Conn,
    tenant: TenantId,
) -> Result<Vec<CatalogueItem>, StoreError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM catalogue_items WHERE tenant_id = $1 AND active = 1 ORDER BY code LIMIT 5000"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(item_from_row).collect()
}

// ---------------------------------------------------------------------------------------
// Quotes

#[derive(Debug, Clone)]
pub struct QuoteRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub number: String,
    pub status: QuoteStatus,
    pub step_key: Option<String>,
    pub valid_until: NaiveDate,
    pub notes: Option<String>,
    pub treatment: TaxTreatment,
    pub lines: Vec<LineInput>,
    pub computed: Computed,
    pub grand_total: i64,
    pub token_hash: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_name: Option<String>,
    pub decision_comment: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const QUOTE_COLUMNS: &str = "id, tenant_id, work_order_id, number, status, step_key, valid_until, notes, treatment, \
    lines, computed, grand_total, token_hash, sent_at, decided_at, decision_name, decision_comment, version, \
    created_at, updated_at";

fn quote_from_row(row: &AnyRow) -> Result<QuoteRecord, StoreError> {
    Ok(QuoteRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        number: row.text("number")?,
        status: row.parsed("status", |s| QuoteStatus::parse(s).ok_or("unknown status"))?,
        step_key: row.opt_text("step_key")?,
        valid_until: date(row, "valid_until")?,
        notes: row.opt_text("notes")?,
        treatment: from_json(row, "treatment")?,
        lines: from_json(row, "lines")?,
        computed: from_json(row, "computed")?,
        grand_total: row.int("grand_total")?,
        token_hash: row.opt_text("token_hash")?,
        sent_at: row.opt_instant("sent_at")?,
        decided_at: row.opt_instant("decided_at")?,
        decision_name: row.opt_text("decision_name")?,
        decision_comment: row.opt_text("decision_comment")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
    })
}

pub async fn insert_quote(conn: &mut Conn, q: &QuoteRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO quotes (id, tenant_id, work_order_id, number, status, step_key, valid_until, notes, treatment, \
         lines, computed, grand_total, token_hash, sent_at, decided_at, decision_name, decision_comment, version, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, NULL, NULL, NULL, 1, $13, $13)",
    )
    .bind(q.id.to_string())
    .bind(q.tenant_id.to_string())
    .bind(q.work_order_id.to_string())
    .bind(&q.number)
    .bind(q.status.as_str())
    .bind(q.step_key.clone())
    .bind(day(q.valid_until))
    .bind(q.notes.clone())
    .bind(json(&q.treatment))
    .bind(json(&q.lines))
    .bind(json(&q.computed))
    .bind(q.grand_total)
    .bind(format_instant(q.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Writes the mutable fields if the version matches.
pub async fn update_quote(
    conn: &mut Conn,
    q: &QuoteRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE quotes SET status = $1, step_key = $2, valid_until = $3, notes = $4, treatment = $5, lines = $6, \
         computed = $7, grand_total = $8, token_hash = $9, sent_at = $10, decided_at = $11, decision_name = $12, \
         decision_comment = $13, version = version + 1, updated_at = $14 \
         WHERE tenant_id = $15 AND id = $16 AND version = $17",
    )
    .bind(q.status.as_str())
    .bind(q.step_key.clone())
    .bind(day(q.valid_until))
    .bind(q.notes.clone())
    .bind(json(&q.treatment))
    .bind(json(&q.lines))
    .bind(json(&q.computed))
    .bind(q.grand_total)
    .bind(q.token_hash.clone())
    .bind(q.sent_at.map(format_instant))
    .bind(q.decided_at.map(format_instant))
    .bind(q.decision_name.clone())
    .bind(q.decision_comment.clone())
    .bind(format_instant(now))
    .bind(q.tenant_id.to_string())
    .bind(q.id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_quote(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<QuoteRecord>, StoreError> {
    let sql = format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(quote_from_row).transpose()
}

/// The quote behind a customer's private link (by the token's hash).
pub async fn quote_by_token(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<QuoteRecord>, StoreError> {
    let sql = format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE token_hash = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_owned())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(quote_from_row).transpose()
}

pub async fn quotes_of_order(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
) -> Result<Vec<QuoteRecord>, StoreError> {
    let sql = format!(
        "SELECT {QUOTE_COLUMNS} FROM quotes WHERE tenant_id = $1 AND work_order_id = $2 ORDER BY id LIMIT 200"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(quote_from_row).collect()
}

// ---------------------------------------------------------------------------------------
// Invoices

#[derive(Debug, Clone)]
pub struct InvoiceRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub work_order_id: Option<WorkOrderId>,
    pub customer_id: CustomerId,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub status: InvoiceStatus,
    pub number: Option<String>,
    /// `quote`, `field` (time and material from the field) or `manual`.
    pub source: String,
    pub treatment: TaxTreatment,
    pub currency: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub delivery_date: NaiveDate,
    pub buyer_reference: Option<String>,
    pub notes: Option<String>,
    pub buyer: serde_json::Value,
    pub seller: Option<serde_json::Value>,
    pub lines: Vec<LineInput>,
    pub computed: Computed,
    pub grand_total: i64,
    pub paid_total: i64,
    pub corrects_id: Option<Uuid>,
    pub credited_by_id: Option<Uuid>,
    pub pdf_key: Option<String>,
    pub pdf_sha256: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

const INVOICE_COLUMNS: &str = "id, tenant_id, work_order_id, customer_id, kind, status, number, source, treatment, \
    currency, issue_date, due_date, delivery_date, buyer_reference, notes, buyer, seller, lines, computed, \
    grand_total, paid_total, corrects_id, credited_by_id, pdf_key, pdf_sha256, version, created_at, updated_at, \
    issued_at, sent_at, paid_at, cancelled_at";

fn invoice_from_row(row: &AnyRow) -> Result<InvoiceRecord, StoreError> {
    let seller = match row.opt_text("seller")? {
        None => None,
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| StoreError::Corrupt {
            column: "seller",
            detail: e.to_string(),
        })?),
    };
    Ok(InvoiceRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: row.opt_uuid("work_order_id")?.map(WorkOrderId),
        customer_id: CustomerId(row.uuid("customer_id")?),
        kind: row.text("kind")?,
        status: row.parsed("status", |s| {
            InvoiceStatus::parse(s).ok_or("unknown status")
        })?,
        number: row.opt_text("number")?,
        source: row.text("source")?,
        treatment: from_json(row, "treatment")?,
        currency: row.text("currency")?,
        issue_date: opt_date(row, "issue_date")?,
        due_date: opt_date(row, "due_date")?,
        delivery_date: date(row, "delivery_date")?,
        buyer_reference: row.opt_text("buyer_reference")?,
        notes: row.opt_text("notes")?,
        buyer: from_json(row, "buyer")?,
        seller,
        lines: from_json(row, "lines")?,
        computed: from_json(row, "computed")?,
        grand_total: row.int("grand_total")?,
        paid_total: row.int("paid_total")?,
        corrects_id: row.opt_uuid("corrects_id")?,
        credited_by_id: row.opt_uuid("credited_by_id")?,
        pdf_key: row.opt_text("pdf_key")?,
        pdf_sha256: row.opt_text("pdf_sha256")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
        updated_at: row.instant("updated_at")?,
        issued_at: row.opt_instant("issued_at")?,
        sent_at: row.opt_instant("sent_at")?,
        paid_at: row.opt_instant("paid_at")?,
        cancelled_at: row.opt_instant("cancelled_at")?,
    })
}

pub async fn insert_invoice(conn: &mut Conn, i: &InvoiceRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invoices (id, tenant_id, work_order_id, customer_id, kind, status, number, source, treatment, \
         currency, issue_date, due_date, delivery_date, buyer_reference, notes, buyer, seller, lines, computed, \
         grand_total, paid_total, corrects_id, credited_by_id, pdf_key, pdf_sha256, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, NULL, NULL, $10, $11, $12, $13, NULL, $14, $15, $16, 0, \
         $17, NULL, NULL, NULL, 1, $18, $18)",
    )
    .bind(i.id.to_string())
    .bind(i.tenant_id.to_string())
    .bind(i.work_order_id.map(|o| o.to_string()))
    .bind(i.customer_id.to_string())
    .bind(&i.kind)
    .bind(i.status.as_str())
    .bind(&i.source)
    .bind(json(&i.treatment))
    .bind(&i.currency)
    .bind(day(i.delivery_date))
    .bind(i.buyer_reference.clone())
    .bind(i.notes.clone())
    .bind(i.buyer.to_string())
    .bind(json(&i.lines))
    .bind(json(&i.computed))
    .bind(i.grand_total)
    .bind(i.corrects_id.map(|c| c.to_string()))
    .bind(format_instant(i.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Rewrites a draft (lines, dates, buyer, notes) if the version matches and it is still a
/// draft.
pub async fn update_draft(
    conn: &mut Conn,
    i: &InvoiceRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invoices SET treatment = $1, delivery_date = $2, buyer_reference = $3, notes = $4, buyer = $5, \
         lines = $6, computed = $7, grand_total = $8, version = version + 1, updated_at = $9 \
         WHERE tenant_id = $10 AND id = $11 AND version = $12 AND status = 'draft'",
    )
    .bind(json(&i.treatment))
    .bind(day(i.delivery_date))
    .bind(i.buyer_reference.clone())
    .bind(i.notes.clone())
    .bind(i.buyer.to_string())
    .bind(json(&i.lines))
    .bind(json(&i.computed))
    .bind(i.grand_total)
    .bind(format_instant(now))
    .bind(i.tenant_id.to_string())
    .bind(i.id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// What issuing writes, once: number, dates, seller, renderings.
pub struct Issued<'a> {
    pub number: &'a str,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub seller: &'a serde_json::Value,
    pub cii_xml: &'a str,
    pub xrechnung_xml: Option<&'a str>,
    pub pdf_key: &'a str,
    pub pdf_sha256: &'a str,
}

/// Issues a draft at the expected version. False when it changed meanwhile.
pub async fn mark_issued(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
    expected_version: i64,
    issued: &Issued<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invoices SET status = 'issued', number = $1, issue_date = $2, due_date = $3, seller = $4, \
         cii_xml = $5, xrechnung_xml = $6, pdf_key = $7, pdf_sha256 = $8, issued_at = $9, updated_at = $9, \
         version = version + 1 WHERE tenant_id = $10 AND id = $11 AND version = $12 AND status = 'draft'",
    )
    .bind(issued.number.to_owned())
    .bind(day(issued.issue_date))
    .bind(issued.due_date.map(day))
    .bind(issued.seller.to_string())
    .bind(issued.cii_xml.to_owned())
    .bind(issued.xrechnung_xml.map(str::to_owned))
    .bind(issued.pdf_key.to_owned())
    .bind(issued.pdf_sha256.to_owned())
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Moves status and the bookkeeping fields of an issued invoice at the expected version.
pub async fn update_state(
    conn: &mut Conn,
    i: &InvoiceRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invoices SET status = $1, paid_total = $2, credited_by_id = $3, sent_at = $4, paid_at = $5, \
         cancelled_at = $6, version = version + 1, updated_at = $7 WHERE tenant_id = $8 AND id = $9 AND version = $10",
    )
    .bind(i.status.as_str())
    .bind(i.paid_total)
    .bind(i.credited_by_id.map(|c| c.to_string()))
    .bind(i.sent_at.map(format_instant))
    .bind(i.paid_at.map(format_instant))
    .bind(i.cancelled_at.map(format_instant))
    .bind(format_instant(now))
    .bind(i.tenant_id.to_string())
    .bind(i.id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a draft at `expected_version`; false when it changed or is no draft any more.
pub async fn delete_draft(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "DELETE FROM invoices WHERE tenant_id = $1 AND id = $2 AND status = 'draft' AND version = $3",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_invoice(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<InvoiceRecord>, StoreError> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(invoice_from_row).transpose()
}

/// Records a customer's private link to an invoice (by the token's hash).
pub async fn insert_invoice_link(
    conn: &mut Conn,
    tenant: TenantId,
    invoice: Uuid,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invoice_links (token_hash, tenant_id, invoice_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash.to_owned())
    .bind(tenant.to_string())
    .bind(invoice.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// The invoice behind a customer's private link (by the token's hash).
pub async fn invoice_by_link(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<InvoiceRecord>, StoreError> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices \
         WHERE id = (SELECT invoice_id FROM invoice_links WHERE token_hash = $1)"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_owned())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(invoice_from_row).transpose()
}

/// The stored XML renderings (CII for ZUGFeRD, XRechnung).
pub async fn invoice_xml(
    conn: &mut Conn,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<(Option<String>, Option<String>)>, StoreError> {
    let row =
        sqlx::query("SELECT cii_xml, xrechnung_xml FROM invoices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .store()?;
    row.map(|r| Ok((r.opt_text("cii_xml")?, r.opt_text("xrechnung_xml")?)))
        .transpose()
}

pub async fn invoices_of_order(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
) -> Result<Vec<InvoiceRecord>, StoreError> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND work_order_id = $2 ORDER BY id LIMIT 200"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(conn)
        .await
        .store()?;
    rows.iter().map(invoice_from_row).collect()
}

/// Filters of `listInvoices`.
#[derive(Debug, Default, Clone)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub customer: Option<CustomerId>,
    pub work_order: Option<WorkOrderId>,
    /// Unpaid (issued or sent) with a due date before this day.
    pub overdue_on: Option<NaiveDate>,
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    pub kind: Option<String>,
}

/// A page of invoices, newest first (ids are time-ordered), before `before_id`.
pub async fn list_invoices(
    db: &Db,
    tenant: TenantId,
    filter: &InvoiceFilter,
    before_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InvoiceRecord>, StoreError> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND ($2 = '' OR id < $2) \
         AND ($3 = '' OR status = $3) AND ($4 = '' OR customer_id = $4) AND ($5 = '' OR work_order_id = $5) \
         AND ($6 = '' OR (status IN ('issued', 'sent') AND due_date < $6)) \
         AND ($7 = '' OR issue_date >= $7) AND ($8 = '' OR issue_date <= $8) AND ($9 = '' OR kind = $9) \
         ORDER BY id DESC LIMIT $10"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(before_id.map(|i| i.to_string()).unwrap_or_default())
        .bind(
            filter
                .status
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        )
        .bind(filter.customer.map(|c| c.to_string()).unwrap_or_default())
        .bind(filter.work_order.map(|c| c.to_string()).unwrap_or_default())
        .bind(filter.overdue_on.map(day).unwrap_or_default())
        .bind(filter.issued_from.map(day).unwrap_or_default())
        .bind(filter.issued_to.map(day).unwrap_or_default())
        .bind(filter.kind.clone().unwrap_or_default())
        .bind(limit)
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(invoice_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub invoice_id: Uuid,
    pub paid_on: NaiveDate,
    pub amount: i64,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub recorded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_payment(conn: &mut Conn, p: &PaymentRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invoice_payments (id, tenant_id, invoice_id, paid_on, amount, method, reference, recorded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(p.id.to_string())
    .bind(p.tenant_id.to_string())
    .bind(p.invoice_id.to_string())
    .bind(day(p.paid_on))
    .bind(p.amount)
    .bind(p.method.clone())
    .bind(p.reference.clone())
    .bind(p.recorded_by.clone())
    .bind(format_instant(p.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

pub async fn payments(
    conn: &mut Conn,
    tenant: TenantId,
    invoice: Uuid,
) -> Result<Vec<PaymentRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, invoice_id, paid_on, amount, method, reference, recorded_by, created_at \
         FROM invoice_payments WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY paid_on, id LIMIT 1000",
    )
    .bind(tenant.to_string())
    .bind(invoice.to_string())
    .fetch_all(conn)
    .await
    .store()?;
    rows.iter()
        .map(|r| {
            Ok(PaymentRecord {
                id: r.uuid("id")?,
                tenant_id: TenantId(r.uuid("tenant_id")?),
                invoice_id: r.uuid("invoice_id")?,
                paid_on: date(r, "paid_on")?,
                amount: r.int("amount")?,
                method: r.opt_text("method")?,
                reference: r.opt_text("reference")?,
                recorded_by: r.opt_text("recorded_by")?,
                created_at: r.instant("created_at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// E-mail templates

/// A tenant's row for a template kind and language: its own text while `customized`, else
/// the built-in default applies (the row stays so that the version keeps rising).
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub subject: String,
    pub body: String,
    pub customized: bool,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn get_template(
    conn: &mut Conn,
    tenant: TenantId,
    kind: &str,
    lang: &str,
) -> Result<Option<StoredTemplate>, StoreError> {
    let row = sqlx::query(
        "SELECT subject, body, customized, version, updated_at FROM email_templates \
         WHERE tenant_id = $1 AND kind = $2 AND lang = $3",
    )
    .bind(tenant.to_string())
    .bind(kind.to_owned())
    .bind(lang.to_owned())
    .fetch_optional(conn)
    .await
    .store()?;
    row.map(|r| {
        Ok(StoredTemplate {
            subject: r.text("subject")?,
            body: r.text("body")?,
            customized: r.int("customized")? != 0,
            version: r.int("version")?,
            updated_at: r.instant("updated_at")?,
        })
    })
    .transpose()
}

/// Saves the tenant's own text if the template is still at `expected_version` (0: no row
/// yet). Returns the new version, or None when it changed meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn put_template(
    conn: &mut Conn,
    tenant: TenantId,
    kind: &str,
    lang: &str,
    subject: &str,
    body: &str,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let done = if expected_version == 0 {
        sqlx::query(
            "INSERT INTO email_templates (tenant_id, kind, lang, subject, body, customized, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, 1, $6) ON CONFLICT (tenant_id, kind, lang) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(kind.to_owned())
        .bind(lang.to_owned())
        .bind(subject.to_owned())
        .bind(body.to_owned())
        .bind(format_instant(now))
        .execute(conn)
        .await
        .store()?
    } else {
        sqlx::query(
            "UPDATE email_templates SET subject = $1, body = $2, customized = 1, version = version + 1, updated_at = $3 \
             WHERE tenant_id = $4 AND kind = $5 AND lang = $6 AND version = $7",
        )
        .bind(subject.to_owned())
        .bind(body.to_owned())
        .bind(format_instant(now))
        .bind(tenant.to_string())
        .bind(kind.to_owned())
        .bind(lang.to_owned())
        .bind(expected_version)
        .execute(conn)
        .await
        .store()?
    };
    Ok((done.rows_affected() == 1).then_some(expected_version + 1))
}

/// Restores the built-in default if the template is still at `expected_version`. Returns
/// the new version, or None when it changed meanwhile (or was not customized).
pub async fn restore_default_template(
    conn: &mut Conn,
    tenant: TenantId,
    kind: &str,
    lang: &str,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let done = sqlx::query(
        "UPDATE email_templates SET customized = 0, version = version + 1, updated_at = $1 \
         WHERE tenant_id = $2 AND kind = $3 AND lang = $4 AND version = $5 AND customized = 1",
    )
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(kind.to_owned())
    .bind(lang.to_owned())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok((done.rows_affected() == 1).then_some(expected_version + 1))
}

// ---------------------------------------------------------------------------------------
// Billing jobs (automated create_invoice / send_invoice steps)

#[derive(Debug, Clone)]
pub struct BillingJob {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub step_id: Uuid,
    /// `create_invoice` or `send_invoice`.
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, tenant_id, work_order_id, step_id, kind, status, attempts, locked_until, last_error";

fn job_from_row(row: &AnyRow) -> Result<BillingJob, StoreError> {
    Ok(BillingJob {
        id: row.uuid("id")?,
        tenant_id: TenantId(row.uuid("tenant_id")?),
        work_order_id: WorkOrderId(row.uuid("work_order_id")?),
        step_id: row.uuid("step_id")?,
        kind: row.text("kind")?,
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        locked_until: row.opt_instant("locked_until")?,
        last_error: row.opt_text("last_error")?,
    })
}

/// Queues a job (inside the transaction that activated the step).
pub async fn queue_job(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
    step: Uuid,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO billing_jobs (id, tenant_id, work_order_id, step_id, kind, status, attempts, next_attempt_at, \
         locked_until, last_error, created_at, done_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, NULL, $6, NULL)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(tenant.to_string())
    .bind(order.to_string())
    .bind(step.to_string())
    .bind(kind.to_owned())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Claims due jobs with a lease (as the e-mail and webhook workers do).
pub async fn claim_jobs(
    db: &Db,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u32,
) -> Result<(Vec<BillingJob>, usize), StoreError> {
    let skip = if db.backend() == crate::Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE billing_jobs SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM billing_jobs WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at LIMIT $3{skip}) \
         RETURNING {JOB_COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format_instant(now + lease))
        .bind(format_instant(now))
        .bind(i64::from(limit))
        .fetch_all(tx.conn())
        .await
        .store()?;
    let claimed = crate::readable_rows(
        tx.conn(),
        &rows,
        job_from_row,
        "UPDATE billing_jobs SET status = 'failed', locked_until = NULL, last_error = $2 WHERE id = $1",
    )
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// Marks a job done (inside the transaction that did its work), if this worker still holds
/// its lease. False when the lease was lost: the caller rolls back.
pub async fn finish_job(
    conn: &mut Conn,
    job: &BillingJob,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE billing_jobs SET status = 'done', done_at = $1, locked_until = NULL, last_error = NULL \
         WHERE id = $2 AND status = 'pending' AND locked_until = $3",
    )
    .bind(format_instant(now))
    .bind(job.id.to_string())
    .bind(job.locked_until.map(format_instant))
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Postpones a job that could not be done yet (profile incomplete, price missing), keeping
/// the reason for the office.
pub async fn postpone_job(
    db: &Db,
    job: &BillingJob,
    at: DateTime<Utc>,
    error: &str,
    give_up: bool,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE billing_jobs SET next_attempt_at = $1, last_error = $2, locked_until = NULL, status = $5 \
         WHERE id = $3 AND status = 'pending' AND locked_until = $4",
    )
    .bind(format_instant(at))
    .bind(error.to_owned())
    .bind(job.id.to_string())
    .bind(job.locked_until.map(format_instant))
    .bind(if give_up { "failed" } else { "pending" })
    .execute(tx.conn())
    .await
    .store()?;
    tx.commit().await
}

/// Jobs of an order that are done by hand: the office issued or sent the invoice itself.
pub async fn settle_jobs(
    conn: &mut Conn,
    tenant: TenantId,
    order: WorkOrderId,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE billing_jobs SET status = 'done', done_at = $1, locked_until = NULL \
         WHERE tenant_id = $2 AND work_order_id = $3 AND kind = $4 AND status = 'pending'",
    )
    .bind(format_instant(now))
    .bind(tenant.to_string())
    .bind(order.to_string())
    .bind(kind.to_owned())
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// Open jobs of an order with their last error (shown on the order's billing view).
pub async fn open_jobs(
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
) -> Result<Vec<BillingJob>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM billing_jobs WHERE tenant_id = $1 AND work_order_id = $2 AND status = 'pending' \
         ORDER BY id LIMIT 20"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(order.to_string())
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(job_from_row).collect()
}
