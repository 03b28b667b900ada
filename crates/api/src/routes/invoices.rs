//! Invoices and credit notes: drafts from orders, issue (gap-free numbers, e-invoice
//! renderings), sending, payments, credit notes, the PDF and the XML.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::billing::{Computed, InvoiceStatus, TaxTreatment};
use workorders_domain::invoicing;
use workorders_domain::text::{Line, Text};
use workorders_domain::{CustomerId, WorkOrderId};
use workorders_persistence::billing::{self as store, InvoiceFilter, InvoiceRecord, PaymentRecord};
use workorders_persistence::emails::{self, EmailRecord};
use workorders_persistence::work_orders;

use crate::auth::{Caller, Principal};
use crate::billing;
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::{IfMatch, OptionalJson, ValidJson, check_version, require_version};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, ok_versioned};
use crate::schemas::billing::{
    EmailView, LineRequest, LineView, SendDocumentRequest, catalogue_for, email_view, line_views,
    parse_lines,
};
use crate::state::AppState;
use crate::workflow;

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

/// The full view inside a transaction, before its commit (payments and e-mails it wrote
/// included; the reply is stored with the work for Idempotency-Key replays).
async fn full_view_in(
    state: &AppState,
    tx: &mut workorders_persistence::WriteTx,
    now: chrono::DateTime<chrono::Utc>,
    invoice: &InvoiceRecord,
) -> ApiResult<InvoiceView> {
    let payments = store::payments(tx.conn(), invoice.tenant_id, invoice.id).await?;
    let today = billing::today(tx.conn(), invoice.tenant_id, now).await?;
    let mails = emails::list_for_in(
        tx.conn(),
        state.db.keys(),
        invoice.tenant_id,
        None,
        Some(invoice.id),
        None,
    )
    .await?;
    Ok(view(invoice, Some((&payments, &mails)), today))
}

async fn full_view(state: &AppState, invoice: &InvoiceRecord) -> ApiResult<InvoiceView> {
    let mut conn = state.db.acquire().await?;
    let payments = store::payments(&mut conn, invoice.tenant_id, invoice.id).await?;
    let today = billing::today(&mut conn, invoice.tenant_id, state.db.now()).await?;
    drop(conn);
    let mails =
        emails::list_for(&state.db, invoice.tenant_id, None, Some(invoice.id), None).await?;
    Ok(view(invoice, Some((&payments, &mails)), today))
}

async fn load(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<InvoiceRecord> {
    let mut conn = state.db.acquire().await?;
    store::get_invoice(&mut conn, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)
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

fn parse_treatment(t: Option<&str>) -> ApiResult<Option<TaxTreatment>> {
    t.map(|t| {
        TaxTreatment::parse(t).ok_or_else(|| {
            ApiError::invalid("/treatment", "regular, small_business or reverse_charge")
        })
    })
    .transpose()
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
    principal.require(Permission::BillingWrite)?;
    let body = body.into_inner();
    let order = work_orders::get(&state.db, principal.tenant_id, WorkOrderId(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound)?;
    if body
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::invalid("/notes", "at most 2,000 characters"));
    }
    if order.order.status == workorders_domain::work_order::OrderStatus::Cancelled {
        return Err(ApiError::InvalidTransition {
            detail: "a cancelled order is not invoiced".to_owned(),
            current_state: "cancelled".to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let requested = parse_treatment(body.treatment.as_deref())?;
    let (lines, source) = match &body.lines {
        Some(lines) => {
            let catalogue = catalogue_for(&state, principal.tenant_id, lines).await?;
            (parse_lines(lines, "/lines", &catalogue)?, "manual")
        }
        None => {
            let l = billing::lines_from_order(&state.db, &order).await?;
            (l.lines, l.source)
        }
    };
    let buyer = billing::buyer_for(&state.db, &order).await?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let (profile, _) = billing::load_profile(tx.conn(), principal.tenant_id).await?;
    let treatment = billing::treatment_for(&profile, &buyer, requested)?;
    let tz = billing::time_zone(tx.conn(), principal.tenant_id).await?;
    let delivery = body
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
            notes: body.notes.map(String::from),
        },
        now,
    )?;
    store::insert_invoice(tx.conn(), &invoice).await?;
    if body.issue.unwrap_or(false) {
        billing::issue_in(&state, &mut tx, &mut invoice, None, now).await?;
        billing::after_issue(&mut tx, &state.db, principal.tenant_id, order.order.id, now).await?;
    }
    let view = full_view_in(&state, &mut tx, now, &invoice).await?;
    tx.commit().await?;
    Ok(created(
        format!("/v1/invoices/{}", invoice.id),
        invoice.version,
        &view,
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
    principal.require(Permission::BillingRead)?;
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .parse()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            InvoiceStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    codes::INVALID_QUERY,
                    "status: draft, issued, sent, paid or cancelled",
                )
            })
        })
        .transpose()?;
    if let Some(k) = &q.kind
        && k != "invoice"
        && k != "credit_note"
    {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "kind: invoice or credit_note",
        ));
    }
    let today = billing::today_of(&state.db, principal.tenant_id).await?;
    let filter = InvoiceFilter {
        status,
        customer: q.customer_id.map(CustomerId),
        work_order: q.work_order_id.map(WorkOrderId),
        overdue_on: q.overdue.unwrap_or(false).then_some(today),
        issued_from: q.issued_from,
        issued_to: q.issued_to,
        kind: q.kind,
    };
    let rows = store::list_invoices(
        &state.db,
        principal.tenant_id,
        &filter,
        page.after,
        i64::from(fetch_limit(page)),
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
    principal.require(Permission::BillingRead)?;
    let invoice = load(&state, &principal, id.into_inner()).await?;
    let view = full_view(&state, &invoice).await?;
    Ok(ok_versioned(invoice.version, &view))
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

fn immutable(invoice: &InvoiceRecord) -> ApiError {
    ApiError::InvalidTransition {
        detail: "an issued invoice cannot be changed; correct it with a credit note".to_owned(),
        current_state: invoice.status.as_str().to_owned(),
        allowed_actions: vec!["credit_note".to_owned()],
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
    principal.require(Permission::BillingWrite)?;
    let expected = if_match.required()?;
    let body = body.into_inner();
    let lines = match &body.lines {
        Some(l) => {
            let catalogue = catalogue_for(&state, principal.tenant_id, l).await?;
            Some(parse_lines(l, "/lines", &catalogue)?)
        }
        None => None,
    };
    let requested = parse_treatment(body.treatment.as_deref())?;
    if body
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::invalid("/notes", "at most 2,000 characters"));
    }
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(immutable(&invoice));
    }
    require_version(expected, invoice.version)?;
    let (profile, _) = billing::load_profile(tx.conn(), principal.tenant_id).await?;
    let buyer: billing::Buyer =
        serde_json::from_value(invoice.buyer.clone()).map_err(ApiError::internal)?;
    if let Some(lines) = lines {
        invoice.lines = lines;
        invoice.source = "manual".to_owned();
    }
    if body.treatment.is_some() {
        invoice.treatment = billing::treatment_for(&profile, &buyer, requested)?;
    }
    if let Some(d) = body.delivery_date {
        invoice.delivery_date = d;
    }
    if body.notes.is_some() {
        invoice.notes = body.notes.map(String::from);
    }
    invoice.computed = billing::compute(&invoice.lines, invoice.treatment, "/lines")?;
    invoice.grand_total = billing::cents(invoice.computed.totals.grand_total)?;
    if !store::update_draft(tx.conn(), &invoice, expected, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    invoice.version = expected + 1;
    invoice.updated_at = now;
    let view = full_view(&state, &invoice).await?;
    Ok(ok_versioned(invoice.version, &view))
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
    principal.require(Permission::BillingWrite)?;
    let expected = if_match.required()?;
    let mut tx = state.db.begin_write().await?;
    let invoice = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(immutable(&invoice));
    }
    require_version(expected, invoice.version)?;
    if !store::delete_draft(tx.conn(), principal.tenant_id, invoice.id, expected).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
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
    principal.require(Permission::BillingWrite)?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_version(if_match, invoice.version)?;
    billing::issue_in(&state, &mut tx, &mut invoice, None, now).await?;
    if let Some(order) = invoice.work_order_id {
        billing::after_issue(&mut tx, &state.db, principal.tenant_id, order, now).await?;
    }
    let view = full_view_in(&state, &mut tx, now, &invoice).await?;
    tx.commit().await?;
    Ok(ok_versioned(invoice.version, &view))
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
    principal.require(Permission::BillingWrite)?;
    let to = body.0.and_then(|b| b.to);
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let invoice = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    if invoice.status == InvoiceStatus::Cancelled {
        return Err(ApiError::InvalidTransition {
            detail: "a cancelled invoice is not sent".to_owned(),
            current_state: "cancelled".to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let mail = billing::queue_invoice_email(&mut tx, &invoice, to.map(String::from), now).await?;
    if let Some(order) = invoice.work_order_id {
        billing::complete_steps(
            &mut tx,
            &state.db,
            principal.tenant_id,
            order,
            workorders_domain::process::Handling::SendInvoice,
            now,
        )
        .await?;
        store::settle_jobs(tx.conn(), principal.tenant_id, order, "send_invoice", now).await?;
    }
    tx.commit().await?;
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
    principal.require(Permission::BillingWrite)?;
    let body = body.into_inner();
    let value = body
        .amount
        .parse::<Decimal>()
        .ok()
        .filter(|d| d.scale() <= 2 && !body.amount.contains(['e', 'E']))
        .ok_or_else(|| ApiError::invalid("/amount", "a decimal amount with at most 2 decimals"))?;
    let cents = billing::cents(value)?;
    let today = billing::today_of(&state.db, principal.tenant_id).await?;
    if body.paid_on > today {
        return Err(ApiError::invalid(
            "/paid_on",
            "a payment cannot be received in the future",
        ));
    }
    if body.method.as_ref().is_some_and(|m| m.chars().count() > 50) {
        return Err(ApiError::invalid("/method", "at most 50 characters"));
    }
    if body
        .reference
        .as_ref()
        .is_some_and(|m| m.chars().count() > 200)
    {
        return Err(ApiError::invalid("/reference", "at most 200 characters"));
    }
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut invoice = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    billing::record_payment_in(
        &mut tx,
        &state.db,
        &mut invoice,
        billing::Payment {
            cents,
            paid_on: body.paid_on,
            method: body.method.map(String::from),
            reference: body.reference.map(String::from),
            recorded_by: Some(recorder(&principal)),
        },
        now,
    )
    .await?;
    let view = full_view_in(&state, &mut tx, now, &invoice).await?;
    tx.commit().await?;
    Ok(created(
        format!("/v1/invoices/{}", invoice.id),
        invoice.version,
        &view,
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
    principal.require(Permission::BillingWrite)?;
    let reason = body.0.and_then(|b| b.reason);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid("/reason", "at most 500 characters"));
    }
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut original = store::get_invoice(tx.conn(), principal.tenant_id, id.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    if original.kind == "credit_note" {
        return Err(ApiError::InvalidTransition {
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
    let (profile, _) = billing::load_profile(tx.conn(), principal.tenant_id).await?;
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
    billing::issue_in(&state, &mut tx, &mut note, Some((number, issued_on)), now).await?;
    let expected = original.version;
    original.status = cancelled;
    original.credited_by_id = Some(note.id);
    original.cancelled_at = Some(now);
    if !store::update_state(tx.conn(), &original, expected, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    original.version = expected + 1;
    tx.emit(
        principal.tenant_id,
        "invoice.cancelled",
        billing::invoice_event(&original),
    );
    let view = full_view_in(&state, &mut tx, now, &note).await?;
    tx.commit().await?;
    Ok(created(
        format!("/v1/invoices/{}", note.id),
        note.version,
        &view,
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
    principal.require(Permission::BillingRead)?;
    let invoice = load(&state, &principal, id.into_inner()).await?;
    let (Some(key), Some(number)) = (invoice.pdf_key.clone(), invoice.number.clone()) else {
        return Err(not_issued(&invoice));
    };
    let blobs = state.blobs.clone();
    let bytes = web::block(move || blobs.get(&key))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("invoice PDF missing from the blob store"))
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pdf\"", safe_name(&number)),
        ))
        .body(bytes))
}

fn safe_name(number: &str) -> String {
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

fn not_issued(invoice: &InvoiceRecord) -> ApiError {
    ApiError::InvalidTransition {
        detail: "a draft has no documents yet; issue it first".to_owned(),
        current_state: invoice.status.as_str().to_owned(),
        allowed_actions: vec!["issue".to_owned()],
    }
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
    principal.require(Permission::BillingRead)?;
    let xrechnung = match query.format.as_deref() {
        None | Some("cii") => false,
        Some("xrechnung") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                "format: cii or xrechnung",
            ));
        }
    };
    let invoice = load(&state, &principal, id.into_inner()).await?;
    let Some(number) = invoice.number.clone() else {
        return Err(not_issued(&invoice));
    };
    let mut conn = state.db.acquire().await?;
    let (cii, xr) = store::invoice_xml(&mut conn, principal.tenant_id, invoice.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let xml = if xrechnung { xr } else { cii }.ok_or(ApiError::NotFound)?;
    let suffix = if xrechnung { "-xrechnung" } else { "" };
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}{suffix}.xml\"",
                safe_name(&number)
            ),
        ))
        .body(xml))
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
    principal.require(Permission::BillingRead)?;
    let id = WorkOrderId(id.into_inner());
    workflow::ensure_visible(&state.db, &principal, id).await?;
    let mails = emails::list_for(&state.db, principal.tenant_id, Some(id), None, None).await?;
    Ok(HttpResponse::Ok().json(mails.iter().map(email_view).collect::<Vec<_>>()))
}

fn recorder(principal: &Principal) -> String {
    let actor = workflow::actor_of(principal);
    match actor.id {
        Some(id) => format!("{}:{id}", actor.kind),
        None => actor.kind,
    }
}
