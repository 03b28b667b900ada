//! Invoices and credit notes: drafts from orders, issue (gap-free numbers, e-invoice
//! renderings), sending, payments, credit notes, the PDF and the XML.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::billing::{InvoiceStatus, TaxTreatment};
use workorders_domain::invoicing;
use workorders_domain::process::Handling;
use workorders_domain::work_order::OrderStatus;
use workorders_domain::{CustomerId, WorkOrderId};
use workorders_persistence::WriteTx;
use workorders_persistence::billing::{self as store, InvoiceFilter, InvoiceRecord, PaymentRecord};
use workorders_persistence::emails::{self, EmailRecord};
use workorders_persistence::work_orders;

use crate::App;
use crate::billing;
use crate::document_lines::{LineSpec, catalogue_for, parse_lines};
use crate::error::{AppError, AppResult, codes, required_version};
use crate::identity::Principal;
use crate::workflow;

/// An invoice with its payments and e-mails, and the tenant's day it was read on (for
/// `overdue`).
#[derive(Debug, Clone)]
pub struct InvoiceDetails {
    pub invoice: InvoiceRecord,
    pub payments: Vec<PaymentRecord>,
    pub emails: Vec<EmailRecord>,
    pub today: NaiveDate,
}

/// The details inside a transaction, before its commit (payments and e-mails it wrote
/// included; a keyed request's reply is stored with the work).
async fn details_in(
    app: &App,
    tx: &mut WriteTx,
    now: DateTime<Utc>,
    invoice: InvoiceRecord,
) -> AppResult<InvoiceDetails> {
    let payments = store::payments(tx.conn(), invoice.tenant_id, invoice.id).await?;
    let today = billing::today(tx.conn(), invoice.tenant_id, now).await?;
    let emails = emails::list_for_in(
        tx.conn(),
        app.db.keys(),
        invoice.tenant_id,
        None,
        Some(invoice.id),
        None,
    )
    .await?;
    Ok(InvoiceDetails {
        invoice,
        payments,
        emails,
        today,
    })
}

async fn details(app: &App, invoice: InvoiceRecord) -> AppResult<InvoiceDetails> {
    let mut conn = app.db.acquire().await?;
    let payments = store::payments(&mut conn, invoice.tenant_id, invoice.id).await?;
    let today = billing::today(&mut conn, invoice.tenant_id, app.db.now()).await?;
    drop(conn);
    let emails = emails::list_for(&app.db, invoice.tenant_id, None, Some(invoice.id), None).await?;
    Ok(InvoiceDetails {
        invoice,
        payments,
        emails,
        today,
    })
}

async fn load(app: &App, caller: &Principal, id: Uuid) -> AppResult<InvoiceRecord> {
    let mut conn = app.db.acquire().await?;
    store::get_invoice(&mut conn, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// 412 unless `expected` is the current version.
fn require_version(expected: i64, current_version: i64) -> AppResult<()> {
    workflow::check_version(Some(expected), current_version)
}

fn parse_treatment(t: Option<&str>) -> AppResult<Option<TaxTreatment>> {
    t.map(|t| {
        TaxTreatment::parse(t).ok_or_else(|| {
            AppError::invalid("/treatment", "regular, small_business or reverse_charge")
        })
    })
    .transpose()
}

fn immutable(invoice: &InvoiceRecord) -> AppError {
    AppError::InvalidTransition {
        detail: "an issued invoice cannot be changed; correct it with a credit note".to_owned(),
        current_state: invoice.status.as_str().to_owned(),
        allowed_actions: vec!["credit_note".to_owned()],
    }
}

fn not_issued(invoice: &InvoiceRecord) -> AppError {
    AppError::InvalidTransition {
        detail: "a draft has no documents yet; issue it first".to_owned(),
        current_state: invoice.status.as_str().to_owned(),
        allowed_actions: vec!["issue".to_owned()],
    }
}

/// A new invoice for an order. Field pointers in refusals name these fields.
#[derive(Debug, Clone, Default)]
pub struct NewInvoice {
    /// `None`: from the order (its accepted quote, else the time and materials logged in the
    /// field, priced from the catalogue).
    pub lines: Option<Vec<LineSpec>>,
    /// `regular`, `small_business` or `reverse_charge`.
    pub treatment: Option<String>,
    /// Default: when the order's last step finished.
    pub delivery_date: Option<NaiveDate>,
    pub notes: Option<String>,
    /// Issue at once (else a draft to review).
    pub issue: bool,
}

/// Writes an invoice for an order: a draft, or issued at once.
pub async fn create(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    input: NewInvoice,
) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingWrite)?;
    let order = work_orders::get(&app.db, caller.tenant_id, order)
        .await?
        .ok_or(AppError::NotFound)?;
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(AppError::invalid("/notes", "at most 2,000 characters"));
    }
    if order.order.status == OrderStatus::Cancelled {
        return Err(AppError::InvalidTransition {
            detail: "a cancelled order is not invoiced".to_owned(),
            current_state: "cancelled".to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let requested = parse_treatment(input.treatment.as_deref())?;
    let (lines, source) = match &input.lines {
        Some(lines) => {
            let catalogue = catalogue_for(app, caller.tenant_id, lines).await?;
            (parse_lines(lines, "/lines", &catalogue)?, "manual")
        }
        None => {
            let l = billing::lines_from_order(&app.db, &order).await?;
            (l.lines, l.source)
        }
    };
    let buyer = billing::buyer_for(&app.db, &order).await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let (profile, _) = billing::load_profile(tx.conn(), caller.tenant_id).await?;
    let treatment = billing::treatment_for(&profile, &buyer, requested)?;
    let tz = billing::time_zone(tx.conn(), caller.tenant_id).await?;
    let delivery = input
        .delivery_date
        .unwrap_or_else(|| billing::delivery_date_of(&order, tz, now));
    let mut invoice = billing::new_draft(
        &order,
        &buyer,
        billing::DraftSpec {
            lines,
            treatment,
            source: source.to_owned(),
            delivery_date: delivery,
            notes: input.notes,
        },
        now,
    )?;
    store::insert_invoice(tx.conn(), &invoice).await?;
    if input.issue {
        billing::issue_in(app, &mut tx, &mut invoice, None, now).await?;
        billing::after_issue(&mut tx, &app.db, caller.tenant_id, order.order.id, now).await?;
    }
    let details = details_in(app, &mut tx, now, invoice).await?;
    tx.commit().await?;
    Ok(details)
}

/// Which invoices to list. Unknown values are refused as malformed queries.
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    /// `draft`, `issued`, `sent`, `paid` or `cancelled`.
    pub status: Option<String>,
    pub customer: Option<CustomerId>,
    pub work_order: Option<WorkOrderId>,
    /// Only unpaid invoices past their due date.
    pub overdue: bool,
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    /// `invoice` or `credit_note`.
    pub kind: Option<String>,
}

/// A page of invoices and the tenant's day it was read on.
#[derive(Debug, Clone)]
pub struct InvoicePage {
    pub rows: Vec<InvoiceRecord>,
    pub today: NaiveDate,
}

/// Up to `limit` invoices, newest first, after the invoice `after`.
pub async fn list(
    app: &App,
    caller: &Principal,
    query: InvoiceQuery,
    after: Option<Uuid>,
    limit: u32,
) -> AppResult<InvoicePage> {
    caller.require(Permission::BillingRead)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            InvoiceStatus::parse(s).ok_or_else(|| {
                AppError::malformed(
                    codes::INVALID_QUERY,
                    "status: draft, issued, sent, paid or cancelled",
                )
            })
        })
        .transpose()?;
    if let Some(k) = &query.kind
        && k != "invoice"
        && k != "credit_note"
    {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "kind: invoice or credit_note",
        ));
    }
    let today = billing::today_of(&app.db, caller.tenant_id).await?;
    let filter = InvoiceFilter {
        status,
        customer: query.customer,
        work_order: query.work_order,
        overdue_on: query.overdue.then_some(today),
        issued_from: query.issued_from,
        issued_to: query.issued_to,
        kind: query.kind,
    };
    let rows =
        store::list_invoices(&app.db, caller.tenant_id, &filter, after, i64::from(limit)).await?;
    Ok(InvoicePage { rows, today })
}

/// An invoice with its payments and e-mails.
pub async fn get(app: &App, caller: &Principal, id: Uuid) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingRead)?;
    let invoice = load(app, caller, id).await?;
    details(app, invoice).await
}

/// Changes to a draft; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct InvoiceChange {
    pub lines: Option<Vec<LineSpec>>,
    pub treatment: Option<String>,
    pub delivery_date: Option<NaiveDate>,
    pub notes: Option<String>,
}

/// Changes a draft at `expected_version` (issued invoices are immutable).
pub async fn update(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    change: InvoiceChange,
) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingWrite)?;
    let expected = required_version(expected_version)?;
    let lines = match &change.lines {
        Some(l) => {
            let catalogue = catalogue_for(app, caller.tenant_id, l).await?;
            Some(parse_lines(l, "/lines", &catalogue)?)
        }
        None => None,
    };
    let requested = parse_treatment(change.treatment.as_deref())?;
    if change
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(AppError::invalid("/notes", "at most 2,000 characters"));
    }
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(immutable(&invoice));
    }
    require_version(expected, invoice.version)?;
    let (profile, _) = billing::load_profile(tx.conn(), caller.tenant_id).await?;
    let buyer: billing::Buyer =
        serde_json::from_value(invoice.buyer.clone()).map_err(AppError::internal)?;
    if let Some(lines) = lines {
        invoice.lines = lines;
        invoice.source = "manual".to_owned();
    }
    if change.treatment.is_some() {
        invoice.treatment = billing::treatment_for(&profile, &buyer, requested)?;
    }
    if let Some(d) = change.delivery_date {
        invoice.delivery_date = d;
    }
    if change.notes.is_some() {
        invoice.notes = change.notes;
    }
    invoice.computed = billing::compute(&invoice.lines, invoice.treatment, "/lines")?;
    invoice.grand_total = billing::cents(invoice.computed.totals.grand_total)?;
    if !store::update_draft(tx.conn(), &invoice, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    invoice.version = expected + 1;
    invoice.updated_at = now;
    details(app, invoice).await
}

/// Deletes a draft at `expected_version`.
pub async fn delete(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::BillingWrite)?;
    let expected = required_version(expected_version)?;
    let mut tx = app.db.begin_write().await?;
    let invoice = store::get_invoice(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(immutable(&invoice));
    }
    require_version(expected, invoice.version)?;
    if !store::delete_draft(tx.conn(), caller.tenant_id, invoice.id, expected).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    Ok(())
}

/// Issues a draft (at `expected_version`, when named): the next number of its series, the
/// e-invoice renderings and the PDF; the order's `create_invoice` step completes.
pub async fn issue(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingWrite)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    workflow::check_version(expected_version, invoice.version)?;
    billing::issue_in(app, &mut tx, &mut invoice, None, now).await?;
    if let Some(order) = invoice.work_order_id {
        billing::after_issue(&mut tx, &app.db, caller.tenant_id, order, now).await?;
    }
    let details = details_in(app, &mut tx, now, invoice).await?;
    tx.commit().await?;
    Ok(details)
}

/// Queues the e-mail of an issued invoice (to `to`, else the customer's address); the
/// order's `send_invoice` step completes.
pub async fn send(
    app: &App,
    caller: &Principal,
    id: Uuid,
    to: Option<String>,
) -> AppResult<EmailRecord> {
    caller.require(Permission::BillingWrite)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let invoice = store::get_invoice(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if invoice.status == InvoiceStatus::Cancelled {
        return Err(AppError::InvalidTransition {
            detail: "a cancelled invoice is not sent".to_owned(),
            current_state: "cancelled".to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let mail = billing::queue_invoice_email(
        &mut tx,
        &invoice,
        to,
        &app.settings.mail.public_base_url,
        now,
    )
    .await?;
    if let Some(order) = invoice.work_order_id {
        billing::complete_steps(
            &mut tx,
            &app.db,
            caller.tenant_id,
            order,
            Handling::SendInvoice,
            now,
        )
        .await?;
        store::settle_jobs(tx.conn(), caller.tenant_id, order, "send_invoice", now).await?;
    }
    tx.commit().await?;
    Ok(mail)
}

/// A payment received, as the caller states it.
#[derive(Debug, Clone)]
pub struct PaymentInput {
    /// Decimal string with at most 2 decimals.
    pub amount: String,
    pub paid_on: NaiveDate,
    pub method: Option<String>,
    pub reference: Option<String>,
}

/// Records a payment (full or partial; more than is open is refused).
pub async fn record_payment(
    app: &App,
    caller: &Principal,
    id: Uuid,
    input: PaymentInput,
) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingWrite)?;
    let value = input
        .amount
        .parse::<Decimal>()
        .ok()
        .filter(|d| d.scale() <= 2 && !input.amount.contains(['e', 'E']))
        .ok_or_else(|| AppError::invalid("/amount", "a decimal amount with at most 2 decimals"))?;
    let cents = billing::cents(value)?;
    let today = billing::today_of(&app.db, caller.tenant_id).await?;
    if input.paid_on > today {
        return Err(AppError::invalid(
            "/paid_on",
            "a payment cannot be received in the future",
        ));
    }
    if input
        .method
        .as_ref()
        .is_some_and(|m| m.chars().count() > 50)
    {
        return Err(AppError::invalid("/method", "at most 50 characters"));
    }
    if input
        .reference
        .as_ref()
        .is_some_and(|m| m.chars().count() > 200)
    {
        return Err(AppError::invalid("/reference", "at most 200 characters"));
    }
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    billing::record_payment_in(
        &mut tx,
        &app.db,
        &mut invoice,
        billing::Payment {
            cents,
            paid_on: input.paid_on,
            method: input.method,
            reference: input.reference,
            recorded_by: Some(recorder(caller)),
        },
        now,
    )
    .await?;
    let details = details_in(app, &mut tx, now, invoice).await?;
    tx.commit().await?;
    Ok(details)
}

/// Who recorded a payment, as stored with it.
fn recorder(caller: &Principal) -> String {
    let actor = workflow::actor_of(caller);
    match actor.id {
        Some(id) => format!("{}:{id}", actor.kind),
        None => actor.kind,
    }
}

/// Cancels an issued invoice with a credit note over the whole of it; returns the issued
/// credit note.
pub async fn credit_note(
    app: &App,
    caller: &Principal,
    id: Uuid,
    reason: Option<String>,
) -> AppResult<InvoiceDetails> {
    caller.require(Permission::BillingWrite)?;
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(AppError::invalid("/reason", "at most 500 characters"));
    }
    let tenant = caller.tenant_id;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut original = store::get_invoice(tx.conn(), tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if original.kind == "credit_note" {
        return Err(AppError::InvalidTransition {
            detail: "a credit note cannot be credited".to_owned(),
            current_state: original.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let cancelled =
        invoicing::cancel_by_credit_note(original.status).map_err(billing::lifecycle_error)?;
    let (number, issued_on) = match (&original.number, original.issue_date) {
        (Some(n), Some(d)) => (n.clone(), d),
        _ => return Err(immutable(&original)),
    };
    let mut note = original.clone();
    note.id = Uuid::now_v7();
    note.kind = "credit_note".to_owned();
    note.status = InvoiceStatus::Draft;
    note.number = None;
    note.source = "credit_note".to_owned();
    let (profile, _) = billing::load_profile(tx.conn(), tenant).await?;
    let heading = if profile.english() {
        format!("Correction of invoice {number}")
    } else {
        format!("Korrektur der Rechnung {number}")
    };
    note.notes = Some(match reason {
        Some(r) => format!("{heading}: {r}"),
        None => heading,
    });
    note.corrects_id = Some(original.id);
    note.credited_by_id = None;
    note.paid_total = 0;
    note.version = 1;
    note.created_at = now;
    note.updated_at = now;
    store::insert_invoice(tx.conn(), &note).await?;
    billing::issue_in(app, &mut tx, &mut note, Some((number, issued_on)), now).await?;
    let expected = original.version;
    original.status = cancelled;
    original.credited_by_id = Some(note.id);
    original.cancelled_at = Some(now);
    if !store::update_state(tx.conn(), &original, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    original.version = expected + 1;
    tx.emit(
        tenant,
        "invoice.cancelled",
        billing::invoice_event(&original),
    );
    let details = details_in(app, &mut tx, now, note).await?;
    tx.commit().await?;
    Ok(details)
}

/// A document of an issued invoice, to download.
#[derive(Debug, Clone)]
pub struct InvoiceFile {
    pub bytes: Vec<u8>,
    /// `RE-2026-00042.pdf`: the number, with anything but letters, digits, `-` and `_`
    /// replaced.
    pub file_name: String,
    /// `application/pdf` or `application/xml; charset=utf-8`.
    pub media_type: &'static str,
}

/// A document number as a file name (ASCII letters, digits, '-' and '_').
pub(crate) fn safe_name(number: &str) -> String {
    number
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The PDF/A-3 produced at issue, byte for byte.
pub async fn pdf(app: &App, caller: &Principal, id: Uuid) -> AppResult<InvoiceFile> {
    caller.require(Permission::BillingRead)?;
    let invoice = load(app, caller, id).await?;
    pdf_of(app, &invoice).await
}

async fn pdf_of(app: &App, invoice: &InvoiceRecord) -> AppResult<InvoiceFile> {
    let (Some(key), Some(number)) = (invoice.pdf_key.clone(), invoice.number.clone()) else {
        return Err(not_issued(invoice));
    };
    let blobs = app.blobs.clone();
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&key))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("invoice PDF missing from the blob store"))
        })?;
    Ok(InvoiceFile {
        bytes,
        file_name: format!("{}.pdf", safe_name(&number)),
        media_type: "application/pdf",
    })
}

/// The UN/CEFACT CII XML stored at issue: `format` `cii` (ZUGFeRD EN 16931, default) or
/// `xrechnung` (when the buyer has a Leitweg-ID).
pub async fn xml(
    app: &App,
    caller: &Principal,
    id: Uuid,
    format: Option<&str>,
) -> AppResult<InvoiceFile> {
    caller.require(Permission::BillingRead)?;
    let xrechnung = match format {
        None | Some("cii") => false,
        Some("xrechnung") => true,
        Some(_) => {
            return Err(AppError::malformed(
                codes::INVALID_QUERY,
                "format: cii or xrechnung",
            ));
        }
    };
    let invoice = load(app, caller, id).await?;
    xml_of(app, &invoice, xrechnung).await
}

async fn xml_of(app: &App, invoice: &InvoiceRecord, xrechnung: bool) -> AppResult<InvoiceFile> {
    let Some(number) = invoice.number.clone() else {
        return Err(not_issued(invoice));
    };
    let mut conn = app.db.acquire().await?;
    let (cii, xr) = store::invoice_xml(&mut conn, invoice.tenant_id, invoice.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let xml = if xrechnung { xr } else { cii }.ok_or(AppError::NotFound)?;
    let suffix = if xrechnung { "-xrechnung" } else { "" };
    Ok(InvoiceFile {
        bytes: xml.into_bytes(),
        file_name: format!("{}{suffix}.xml", safe_name(&number)),
        media_type: "application/xml; charset=utf-8",
    })
}

/// Where the customer transfers the money to, as printed on the invoice.
#[derive(Debug, Clone)]
pub struct PaymentDetails {
    pub account_holder: String,
    /// In groups of four.
    pub iban: String,
    pub bic: Option<String>,
    /// The remittance text (the invoice number).
    pub reference: String,
}

/// An invoice or credit note as the customer sees it through the private link of its
/// e-mail.
#[derive(Debug, Clone)]
pub struct PublicInvoice {
    pub invoice: InvoiceRecord,
    /// The company's look on its pages (logo, colour, legal links, language).
    pub branding: crate::tenant::Branding,
    /// The company's legal name on the invoice (else the tenant's name).
    pub company: String,
    pub order_title: String,
    /// Invoices: `open`, `overdue`, `partly_paid`, `paid` or `cancelled`; credit notes:
    /// `credit`.
    pub status: &'static str,
    /// Still to pay, in cents (0 when paid, cancelled, or a credit note).
    pub amount_due: i64,
    /// Bank details (invoices that still ask for money).
    pub payment: Option<PaymentDetails>,
    /// The EPC QR code for the transfer of `amount_due` (euro invoices with bank details).
    pub girocode: Option<workorders_einvoice::QrMatrix>,
    /// Whether an XRechnung rendering exists besides the ZUGFeRD CII.
    pub has_xrechnung: bool,
}

/// Which document of an invoice a customer downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicDocument {
    Pdf,
    Cii,
    XRechnung,
}

async fn by_link(app: &App, token: &str) -> AppResult<InvoiceRecord> {
    if !token.starts_with("in_") || token.len() > 100 {
        return Err(AppError::NotFound);
    }
    let mut conn = app.db.acquire().await?;
    store::invoice_by_link(&mut conn, &crate::tokens::sha256_hex(token))
        .await?
        .ok_or(AppError::NotFound)
}

/// The invoice behind a private link (no sign-in; unknown links are not found).
pub async fn public_view(app: &App, token: &str) -> AppResult<PublicInvoice> {
    let invoice = by_link(app, token).await?;
    let tenant = invoice.tenant_id;
    let mut conn = app.db.acquire().await?;
    let today = billing::today(&mut conn, tenant, app.db.now()).await?;
    let tenant_record = workorders_persistence::tenants::get_in(&mut conn, tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let branding = crate::tenant::Branding::of(&tenant_record);
    let tenant_name = tenant_record.name;
    let order_title = match invoice.work_order_id {
        Some(id) => work_orders::number_and_title(&mut conn, tenant, id)
            .await?
            .map(|(_, title)| title)
            .unwrap_or_default(),
        None => String::new(),
    };
    drop(conn);
    // The seller as printed at issue (bank details may have changed since).
    let seller: workorders_domain::invoicing::BillingProfile = invoice
        .seller
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(AppError::internal)?
        .unwrap_or_default();
    let company = seller
        .legal_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(tenant_name);
    let credit = invoice.kind == "credit_note";
    let outstanding = (invoice.grand_total - invoice.paid_total).max(0);
    let (status, amount_due) = match invoice.status {
        _ if credit => ("credit", 0),
        InvoiceStatus::Cancelled => ("cancelled", 0),
        InvoiceStatus::Paid => ("paid", 0),
        _ if outstanding == 0 => ("paid", 0),
        _ if invoice.paid_total > 0 => ("partly_paid", outstanding),
        _ if invoice.due_date.is_some_and(|d| d < today) => ("overdue", outstanding),
        _ => ("open", outstanding),
    };
    let iban = seller.iban.clone().unwrap_or_default();
    let payment = (amount_due > 0 && !iban.trim().is_empty()).then(|| PaymentDetails {
        account_holder: company.clone(),
        iban: workorders_einvoice::format_iban(&iban),
        bic: seller.bic.clone().filter(|b| !b.trim().is_empty()),
        reference: invoice.number.clone().unwrap_or_default(),
    });
    let girocode = payment.as_ref().and_then(|p| {
        workorders_einvoice::girocode(
            &workorders_einvoice::PaymentInfo {
                iban: iban.clone(),
                bic: p.bic.clone(),
                account_name: Some(company.clone()),
                terms: String::new(),
                reference: p.reference.clone(),
            },
            &company,
            Decimal::new(amount_due, 2),
            &invoice.currency,
        )
    });
    Ok(PublicInvoice {
        branding,
        company,
        order_title,
        status,
        amount_due,
        payment,
        girocode,
        // Issuing produces an XRechnung exactly when the buyer has a Leitweg-ID.
        has_xrechnung: invoice.number.is_some() && invoice.buyer_reference.is_some(),
        invoice,
    })
}

/// A document of the invoice behind a private link, byte for byte as issued.
pub async fn public_document(
    app: &App,
    token: &str,
    which: PublicDocument,
) -> AppResult<InvoiceFile> {
    let invoice = by_link(app, token).await?;
    match which {
        PublicDocument::Pdf => pdf_of(app, &invoice).await,
        PublicDocument::Cii => xml_of(app, &invoice, false).await,
        PublicDocument::XRechnung => xml_of(app, &invoice, true).await,
    }
}

/// The e-mails to the customer about an order, newest first.
pub async fn emails_of_order(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
) -> AppResult<Vec<EmailRecord>> {
    caller.require(Permission::BillingRead)?;
    workflow::ensure_visible(&app.db, caller, order).await?;
    Ok(emails::list_for(&app.db, caller.tenant_id, Some(order), None, None).await?)
}
