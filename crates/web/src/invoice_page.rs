//! The invoice's page behind the private link of the invoice e-mail: the summary, the
//! lines, paid or not, the bank details with the EPC QR code ("GiroCode") for the transfer,
//! and the documents as issued (PDF/A-3 with ZUGFeRD, the CII XML, the XRechnung).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use workorders_app::App;
use workorders_app::invoices::{self, InvoiceFile, PublicDocument, PublicInvoice};
use workorders_app::tenant::Branding;

use crate::i18n::{Lang, Texts};
use crate::pages::{Layout, failure, language, language_for, render};
use crate::quote_page::{LineView, LinesTable, VatView, admit, date, download_response, money};

/// Registers the invoice's page and its downloads.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoices/{token}", web::get().to(invoice_page))
        .route("/invoices/{token}/pdf", web::get().to(pdf))
        .route("/invoices/{token}/xml", web::get().to(cii))
        .route("/invoices/{token}/xrechnung", web::get().to(xrechnung));
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage {
    page: Layout,
    t: &'static Texts,
    number_label: &'static str,
    number: String,
    order_title: String,
    issue_date: String,
    due_date: String,
    status: &'static str,
    status_text: &'static str,
    lines: Vec<LineView>,
    net_total: String,
    vat: Vec<VatView>,
    grand_total: String,
    amount_due: String,
    account_holder: String,
    iban: String,
    bic: String,
    reference: String,
    girocode: Option<String>,
    pdf_href: String,
    xml_href: String,
    xrechnung_href: Option<String>,
}

fn invoice_view(lang: Lang, token: &str, view: &PublicInvoice) -> InvoicePage {
    let t = lang.texts();
    let invoice = &view.invoice;
    let credit = view.status == "credit";
    let table = LinesTable::new(lang, &invoice.computed);
    let base = format!("/invoices/{token}");
    let amount_due = money(lang, rust_decimal::Decimal::new(view.amount_due, 2));
    let status_text = match view.status {
        "paid" => t.invoice_paid,
        "partly_paid" => t.invoice_partly_paid,
        "overdue" => t.invoice_overdue,
        "cancelled" => t.invoice_cancelled,
        "credit" => t.invoice_credit,
        _ => t.invoice_open,
    };
    let payment = view.payment.as_ref();
    InvoicePage {
        page: Layout::new(
            lang,
            if credit {
                t.credit_title
            } else {
                t.invoice_title
            },
            &Branding {
                company: view.company.clone(),
                ..view.branding.clone()
            },
            &base,
        ),
        t,
        number_label: if credit {
            t.credit_number
        } else {
            t.invoice_number
        },
        number: invoice.number.clone().unwrap_or_default(),
        order_title: view.order_title.clone(),
        issue_date: invoice
            .issue_date
            .map(|d| date(lang, d))
            .unwrap_or_default(),
        due_date: if view.amount_due > 0 {
            invoice.due_date.map(|d| date(lang, d)).unwrap_or_default()
        } else {
            String::new()
        },
        status: view.status,
        status_text,
        lines: table.lines,
        net_total: table.net_total,
        vat: table.vat,
        grand_total: table.grand_total,
        girocode: view
            .girocode
            .as_ref()
            .map(|code| code.svg(&format!("{} {amount_due}", t.girocode_label))),
        amount_due,
        account_holder: payment
            .map(|p| p.account_holder.clone())
            .unwrap_or_default(),
        iban: payment.map(|p| p.iban.clone()).unwrap_or_default(),
        bic: payment.and_then(|p| p.bic.clone()).unwrap_or_default(),
        reference: payment.map(|p| p.reference.clone()).unwrap_or_default(),
        pdf_href: format!("{base}/pdf"),
        xml_href: format!("{base}/xml"),
        xrechnung_href: view.has_xrechnung.then(|| format!("{base}/xrechnung")),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn invoice_page(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let lang = language(&req, query.lang.as_deref());
    if let Err(e) = admit(&req, &app) {
        return failure(e, lang, None);
    }
    match invoices::public_view(&app, &token).await {
        Ok(view) => {
            let lang = language_for(&req, query.lang.as_deref(), &view.branding);
            let mut response = render(StatusCode::OK, &invoice_view(lang, &token, &view), &[]);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => failure(e, lang, None),
    }
}

async fn download(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
    which: PublicDocument,
) -> HttpResponse {
    let lang = language(&req, query.lang.as_deref());
    if let Err(e) = admit(&req, &app) {
        return failure(e, lang, None);
    }
    match invoices::public_document(&app, &token, which).await {
        Ok(InvoiceFile {
            bytes,
            file_name,
            media_type,
        }) => download_response(media_type, &file_name, bytes),
        Err(e) => failure(e, lang, None),
    }
}

async fn pdf(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    download(req, app, token, query, PublicDocument::Pdf).await
}

async fn cii(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    download(req, app, token, query, PublicDocument::Cii).await
}

async fn xrechnung(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    download(req, app, token, query, PublicDocument::XRechnung).await
}
