//! Invoices and credit notes: drafts from orders, issue (gap-free numbers, e-invoice
//! renderings), sending, payments, credit notes, the PDF and the XML.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::invoices::{self, InvoiceDetails, InvoiceFile};
use workorders_domain::auth::Permission;
use workorders_domain::billing::{Computed, InvoiceStatus};
use workorders_domain::invoicing;
use workorders_domain::text::{Line, Text};
use workorders_domain::{CustomerId, WorkOrderId};
use workorders_persistence::billing::{InvoiceRecord, PaymentRecord};
use workorders_persistence::emails::EmailRecord;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, OptionalJson, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, ok_versioned};
use crate::schemas::billing::{
    EmailView, LineRequest, LineView, SendDocumentRequest, email_view, line_specs, line_views,
};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub paid_on: NaiveDate,
    #[schema(example = "500.00")]
    pub amount: String,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The buyer as printed on the document (a snapshot: later changes to the customer do not
/// change issued invoices).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Buyer {
    pub name: String,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub vat_id: Option<String>,
    pub email: Option<String>,
    /// Leitweg-ID of public-sector buyers (BT-10); with it an XRechnung is produced.
    pub buyer_reference: Option<String>,
}

/// An invoice or credit note.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: Uuid,
    /// `invoice` (type 380) or `credit_note` (381).
    #[schema(example = "invoice")]
    pub kind: String,
    /// `draft`, `issued`, `sent`, `paid` or `cancelled` (by a credit note).
    #[schema(example = "issued")]
    pub status: String,
    /// Unpaid past the due date.
    pub overdue: bool,
    /// Assigned at issue, without gaps per series.
    #[schema(example = "RE-2026-00042")]
    pub number: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    pub work_order_id: Option<WorkOrderId>,
    #[schema(value_type = Uuid)]
    pub customer_id: CustomerId,
    /// `quote`, `field` (time and material logged in the field) or `manual`.
    pub source: String,
    /// `regular`, `small_business` (§19 UStG) or `reverse_charge` (§13b UStG).
    pub treatment: String,
    pub currency: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub delivery_date: NaiveDate,
    pub buyer: Buyer,
    pub notes: Option<String>,
    pub lines: Vec<LineView>,
    /// Line amounts, VAT per rate and totals (EN 16931 rounding).
    #[schema(value_type = Object)]
    pub computed: Computed,
    #[schema(example = "1523.20")]
    pub grand_total: String,
    #[schema(example = "0.00")]
    pub paid_total: String,
    #[schema(example = "1523.20")]
    pub amount_due: String,
    /// The invoice a credit note corrects.
    pub corrects_id: Option<Uuid>,
    /// The credit note that cancelled this invoice.
    pub credited_by_id: Option<Uuid>,
    /// SHA-256 of the stored PDF.
    pub pdf_sha256: Option<String>,
    /// An XRechnung is available (the buyer has a Leitweg-ID).
    pub xrechnung: bool,
    /// Payments received (in `getInvoice`; absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<PaymentView>>,
    /// E-mails of this document and their delivery (in `getInvoice`; absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<EmailView>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn view(
    i: &InvoiceRecord,
    details: Option<(&[PaymentRecord], &[EmailRecord])>,
    today: NaiveDate,
) -> InvoiceView {
    InvoiceView {
        id: i.id,
        kind: i.kind.clone(),
        status: i.status.as_str().to_owned(),
        overdue: invoicing::overdue(i.status, i.due_date, today),
        number: i.number.clone(),
        work_order_id: i.work_order_id,
        customer_id: i.customer_id,
        source: i.source.clone(),
        treatment: i.treatment.as_str().to_owned(),
        currency: i.currency.clone(),
        issue_date: i.issue_date,
        due_date: i.due_date,
        delivery_date: i.delivery_date,
        buyer: serde_json::from_value(i.buyer.clone()).unwrap_or(Buyer {
            name: String::new(),
            street: None,
            postal_code: None,
            city: None,
            country: "DE".to_owned(),
            vat_id: None,
            email: None,
            buyer_reference: None,
        }),
        notes: i.notes.clone(),
        lines: line_views(&i.lines),
        computed: i.computed.clone(),
        grand_total: amount(i.grand_total),
        paid_total: amount(i.paid_total),
        amount_due: amount(if i.status == InvoiceStatus::Cancelled {
            0
        } else {
            i.grand_total - i.paid_total
        }),
        corrects_id: i.corrects_id,
        credited_by_id: i.credited_by_id,
        pdf_sha256: i.pdf_sha256.clone(),
        xrechnung: i.number.is_some() && i.buyer_reference.is_some(),
        payments: details.map(|(payments, _)| {
            payments
                .iter()
                .map(|p| PaymentView {
                    id: p.id,
                    paid_on: p.paid_on,
                    amount: amount(p.amount),
                    method: p.method.clone(),
                    reference: p.reference.clone(),
                    created_at: p.created_at,
                })
                .collect()
        }),
        emails: details.map(|(_, mails)| mails.iter().map(email_view).collect()),
        version: i.version,
        created_at: i.created_at,
        updated_at: i.updated_at,
        issued_at: i.issued_at,
        sent_at: i.sent_at,
        paid_at: i.paid_at,
        cancelled_at: i.cancelled_at,
    }
}

/// The view of an invoice with its payments and e-mails.
fn details_view(d: &InvoiceDetails) -> InvoiceView {
    view(&d.invoice, Some((&d.payments, &d.emails)), d.today)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    /// The lines; absent: from the order (its accepted quote, else the time logged in the
    /// field × the labour rates plus the materials used, priced from the catalogue).
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 500>"
    )]
    #[schema(max_items = 500)]
    pub lines: Option<Vec<LineRequest>>,
    /// `regular` (default), or `reverse_charge` (§13b; the customer needs a VAT id).
    /// Small businesses (§19) are always `small_business`.
    #[schema(max_length = 32, value_type = Option<String>, example = "regular")]
    pub treatment: Option<Line<32>>,
    /// Delivery date (BT-72); default: when the order's last step finished.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub delivery_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Text<2000>>,
    /// Issue at once (default false: a draft to review).
    pub issue: Option<bool>,
}

impl From<CreateInvoiceRequest> for invoices::NewInvoice {
    fn from(body: CreateInvoiceRequest) -> Self {
        Self {
            lines: body.lines.as_deref().map(line_specs),
            treatment: body.treatment.map(String::from),
            delivery_date: body.delivery_date,
            notes: body.notes.map(String::from),
            issue: body.issue.unwrap_or(false),
        }
    }
}

/// Create an invoice for an order
///
/// A draft to review (or issued at once with `issue: true`). Without lines the order's
/// accepted quote is used, else the time logged in the field × the labour rate of the
/// person's skill or role plus the materials used, priced from the catalogue (422
/// `missing_labour_rate` / `unpriced_material` / `nothing_to_invoice` otherwise).
#[utoipa::path(
    operation_id = "createInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Work order id")),
    request_body = CreateInvoiceRequest,
    responses(
        (status = 201, description = "Created", body = InvoiceView, headers(("Location" = String), ("ETag" = String))),
        (status = 404, description = "No such order in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is cancelled", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid lines, nothing to invoice, or the billing profile is incomplete", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/work-orders/{id}/invoices")]
pub async fn create_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<CreateInvoiceRequest>,
) -> ApiResult<HttpResponse> {
    let details = invoices::create(
        &state,
        &principal,
        WorkOrderId(id.into_inner()),
        body.into_inner().into(),
    )
    .await?;
    Ok(created(
        format!("/v1/invoices/{}", details.invoice.id),
        details.invoice.version,
        &details_view(&details),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `draft`, `issued`, `sent`, `paid` or `cancelled`.
    pub status: Option<String>,
    pub customer_id: Option<Uuid>,
    pub work_order_id: Option<Uuid>,
    /// Only unpaid invoices past their due date.
    pub overdue: Option<bool>,
    /// Issued on or after this day.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before this day.
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub issued_to: Option<NaiveDate>,
    /// `invoice` or `credit_note`.
    pub kind: Option<String>,
}

/// List invoices
#[utoipa::path(
    operation_id = "listInvoices",
    tag = "invoices",
    params(InvoiceQuery),
    responses(
        (status = 200, description = "Newest first", body = Page<InvoiceView>),
        (status = 400, description = "Bad filter or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/invoices")]
pub async fn list_invoices(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<InvoiceQuery>,
) -> ApiResult<HttpResponse> {
    // Checked here too (the use case checks it again) so that a bad limit or cursor is
    // answered after the permission, as before.
    principal.require(Permission::BillingRead)?;
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .parse()?;
    let invoices::InvoicePage { rows, today } = invoices::list(
        &state,
        &principal,
        invoices::InvoiceQuery {
            status: q.status,
            customer: q.customer_id.map(CustomerId),
            work_order: q.work_order_id.map(WorkOrderId),
            overdue: q.overdue.unwrap_or(false),
            issued_from: q.issued_from,
            issued_to: q.issued_to,
            kind: q.kind,
        },
        page.after,
        fetch_limit(page),
    )
    .await?;
    let page = Page::from_rows(rows, page, |r| r.id, |r| view(&r, None, today));
    Ok(HttpResponse::Ok().json(page))
}

/// Get an invoice
#[utoipa::path(
    operation_id = "getInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice with its payments and e-mails", body = InvoiceView, headers(("ETag" = String))),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/invoices/{id}")]
pub async fn get_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let details = invoices::get(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(
        details.invoice.version,
        &details_view(&details),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInvoiceRequest {
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 500>"
    )]
    #[schema(max_items = 500)]
    pub lines: Option<Vec<LineRequest>>,
    #[schema(max_length = 32, value_type = Option<String>)]
    pub treatment: Option<Line<32>>,
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub delivery_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Text<2000>>,
}

impl From<UpdateInvoiceRequest> for invoices::InvoiceChange {
    fn from(body: UpdateInvoiceRequest) -> Self {
        Self {
            lines: body.lines.as_deref().map(line_specs),
            treatment: body.treatment.map(String::from),
            delivery_date: body.delivery_date,
            notes: body.notes.map(String::from),
        }
    }
}

/// Change a draft invoice
///
/// Only drafts change; an issued invoice answers 409 (correct it with a credit note).
#[utoipa::path(
    operation_id = "updateInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = String, Header, description = "ETag of the invoice")),
    request_body = UpdateInvoiceRequest,
    responses(
        (status = 200, description = "Saved", body = InvoiceView, headers(("ETag" = String))),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Issued invoices are immutable", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[patch("/invoices/{id}")]
pub async fn update_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateInvoiceRequest>,
) -> ApiResult<HttpResponse> {
    let details = invoices::update(
        &state,
        &principal,
        id.into_inner(),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(
        details.invoice.version,
        &details_view(&details),
    ))
}

/// Delete a draft invoice
#[utoipa::path(
    operation_id = "deleteInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "Changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Issued invoices are immutable", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[delete("/invoices/{id}")]
pub async fn delete_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    invoices::delete(&state, &principal, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue an invoice
///
/// Assigns the next number of the series inside the transaction (a failed issue burns no
/// number; concurrent issues get consecutive numbers), renders the ZUGFeRD EN 16931 XML,
/// the XRechnung (when the buyer has a Leitweg-ID) and the PDF/A-3 with the XML embedded,
/// and stores them unchanged. The order's `create_invoice` step completes; a completed
/// order becomes invoiced. 422 `billing_profile_incomplete` until the profile is complete.
#[utoipa::path(
    operation_id = "issueInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id"), ("If-Match" = Option<String>, Header, description = "ETag of the draft")),
    responses(
        (status = 200, description = "Issued", body = InvoiceView, headers(("ETag" = String))),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Billing profile incomplete", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/invoices/{id}/issue")]
pub async fn issue_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let details = invoices::issue(&state, &principal, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(
        details.invoice.version,
        &details_view(&details),
    ))
}

/// Send an invoice
///
/// Queues the e-mail with the PDF (ZUGFeRD) attached; the worker sends it over SMTP and the
/// invoice becomes `sent` when the receiving server accepted it. A rejection (bounce) shows
/// in `emails` with its reason, on the invoice and the order. The order's `send_invoice`
/// step completes.
#[utoipa::path(
    operation_id = "sendInvoice",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    request_body(content = SendDocumentRequest, description = "Optional recipient"),
    responses(
        (status = 202, description = "Queued", body = EmailView),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not issued", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No e-mail address", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/invoices/{id}/send")]
pub async fn send_invoice(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<SendDocumentRequest>,
) -> ApiResult<HttpResponse> {
    let to = body.0.and_then(|b| b.to).map(String::from);
    let mail = invoices::send(&state, &principal, id.into_inner(), to).await?;
    Ok(HttpResponse::Accepted().json(email_view(&mail)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Amount received, decimal string with at most 2 decimals.
    #[schema(value_type = String, max_length = 32, example = "500.00")]
    pub amount: Line<32>,
    #[serde(deserialize_with = "workorders_domain::bounds::day")]
    pub paid_on: NaiveDate,
    #[schema(value_type = Option<String>, example = "bank_transfer", max_length = 50)]
    pub method: Option<Line<50>>,
    #[schema(value_type = Option<String>, max_length = 200)]
    pub reference: Option<Line<200>>,
}

/// Record a payment
///
/// Full or partial; more than the open amount is refused. Paid in full, the invoice is
/// `paid` and an invoiced order closes.
#[utoipa::path(
    operation_id = "recordPayment",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    request_body = PaymentRequest,
    responses(
        (status = 201, description = "Recorded; the invoice as it is now", body = InvoiceView),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft or cancelled invoice", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not positive or more than is open (`invalid_payment`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/invoices/{id}/payments")]
pub async fn record_payment(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<PaymentRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let details = invoices::record_payment(
        &state,
        &principal,
        id.into_inner(),
        invoices::PaymentInput {
            amount: body.amount.into_string(),
            paid_on: body.paid_on,
            method: body.method.map(String::from),
            reference: body.reference.map(String::from),
        },
    )
    .await?;
    Ok(created(
        format!("/v1/invoices/{}", details.invoice.id),
        details.invoice.version,
        &details_view(&details),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteRequest {
    /// Why the invoice is corrected (printed on the credit note).
    #[schema(value_type = Option<String>, example = "Rechnung an falsche Anschrift", max_length = 500)]
    pub reason: Option<Text<500>>,
}

/// Cancel an invoice with a credit note
///
/// Issues a credit note (type 381) over the whole invoice, referencing it, with a number from
/// the credit-note series; the invoice becomes `cancelled`. The correction for a wrong
/// invoice: issued invoices never change.
#[utoipa::path(
    operation_id = "createCreditNote",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    request_body(content = CreditNoteRequest, description = "Optional reason"),
    responses(
        (status = 201, description = "The issued credit note", body = InvoiceView, headers(("Location" = String))),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft, a credit note, or already cancelled", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/invoices/{id}/credit-note")]
pub async fn create_credit_note(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<CreditNoteRequest>,
) -> ApiResult<HttpResponse> {
    let reason = body.0.and_then(|b| b.reason).map(String::from);
    let details = invoices::credit_note(&state, &principal, id.into_inner(), reason).await?;
    Ok(created(
        format!("/v1/invoices/{}", details.invoice.id),
        details.invoice.version,
        &details_view(&details),
    ))
}

/// Download the invoice PDF
///
/// The PDF/A-3 produced at issue, byte for byte, with the ZUGFeRD EN 16931 XML embedded as
/// `factur-x.xml`.
#[utoipa::path(
    operation_id = "getInvoicePdf",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such invoice in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft has no PDF yet", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/invoices/{id}/pdf")]
pub async fn get_invoice_pdf(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let file = invoices::pdf(&state, &principal, id.into_inner()).await?;
    Ok(download(file))
}

/// A document as an attachment.
fn download(file: InvoiceFile) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(file.media_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", file.file_name),
        ))
        .body(file.bytes)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct XmlQuery {
    /// `cii` (ZUGFeRD EN 16931, default) or `xrechnung` (when the buyer has a Leitweg-ID).
    pub format: Option<String>,
}

/// Download the invoice XML
#[utoipa::path(
    operation_id = "getInvoiceXml",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Invoice id"), XmlQuery),
    responses(
        (status = 200, description = "UN/CEFACT CII XML", content_type = "application/xml", body = String),
        (status = 400, description = "Unknown format", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice, or no XRechnung for it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft has no XML yet", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/invoices/{id}/xml")]
pub async fn get_invoice_xml(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<XmlQuery>,
) -> ApiResult<HttpResponse> {
    let file = invoices::xml(&state, &principal, id.into_inner(), query.format.as_deref()).await?;
    Ok(download(file))
}

/// E-mails to the customer about an order
///
/// Invoices, quotes, booking confirmations and on-the-way notices with their delivery state;
/// bounces show as `failed` with the receiving server's answer.
#[utoipa::path(
    operation_id = "listWorkOrderEmails",
    tag = "invoices",
    params(("id" = Uuid, Path, description = "Work order id")),
    responses(
        (status = 200, description = "Newest first", body = Vec<EmailView>),
        (status = 404, description = "No such order in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/work-orders/{id}/emails")]
pub async fn list_work_order_emails(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mails = invoices::emails_of_order(&state, &principal, WorkOrderId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(mails.iter().map(email_view).collect::<Vec<_>>()))
}
