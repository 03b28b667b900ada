//! The quote's page behind the private link of the quote e-mail: the company, the lines,
//! VAT and totals, the validity; accept with the customer's typed name, or decline with an
//! optional comment. The answer is final and shown as such.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use workorders_app::error::codes;
use workorders_app::quotes::{self, PublicQuote, QuoteAnswer};
use workorders_app::throttle::ClientAddress;
use workorders_app::{App, AppError};
use workorders_domain::billing::Computed;
use workorders_domain::text::{Line, Text};

use crate::i18n::{Lang, Texts};
use crate::pages::{
    Layout, csrf_for, csrf_matches, failure, language, language_for, render, see_other, with_lang,
};
use workorders_app::tenant::Branding;

/// Registers the quote's page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/quotes/{token}", web::get().to(quote_page))
        .route("/quotes/{token}/pdf", web::get().to(quote_pdf))
        .service(
            web::resource("/quotes/{token}/answer")
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .route(web::post().to(answer_submit)),
        );
}

/// "1.234,50 €" / "€1,234.50".
pub(crate) fn money(lang: Lang, amount: Decimal) -> String {
    let rounded = amount.round_dp(2);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let text = format!("{:.2}", rounded.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((text.as_str(), "00"));
    let (group, point) = match lang {
        Lang::De => ('.', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(digit);
    }
    let sign = if negative { "−" } else { "" };
    match lang {
        Lang::De => format!("{sign}{grouped}{point}{cents} €"),
        Lang::En => format!("{sign}€{grouped}{point}{cents}"),
    }
}

/// A quantity as people write it ("1,5" / "1.5"), without trailing zeros.
fn quantity(lang: Lang, value: Decimal) -> String {
    let text = value.normalize().to_string();
    match lang {
        Lang::De => text.replace('.', ","),
        Lang::En => text,
    }
}

/// The common UN/ECE units in words; others as their code.
fn unit(lang: Lang, code: &str) -> String {
    let words = match (code, lang) {
        ("HUR", Lang::De) => "Std.",
        ("HUR", Lang::En) => "h",
        ("H87" | "C62" | "EA", Lang::De) => "Stk.",
        ("H87" | "C62" | "EA", Lang::En) => "pcs",
        ("MTR", _) => "m",
        ("MTK", _) => "m²",
        ("KGM", _) => "kg",
        ("LTR", _) => "l",
        ("KMT", _) => "km",
        ("LS", Lang::De) => "pauschal",
        ("LS", Lang::En) => "lump sum",
        _ => code,
    };
    words.to_owned()
}

pub(crate) fn date(lang: Lang, day: NaiveDate) -> String {
    lang.long_date(day)
}

pub(crate) struct LineView {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) quantity: String,
    pub(crate) unit_price: String,
    pub(crate) amount: String,
}

pub(crate) struct VatView {
    pub(crate) label: String,
    pub(crate) amount: String,
}

/// The line table of a quote or invoice (`lines_table.html`): lines, net total, VAT per
/// rate, grand total.
pub(crate) struct LinesTable {
    pub(crate) lines: Vec<LineView>,
    pub(crate) net_total: String,
    pub(crate) vat: Vec<VatView>,
    pub(crate) grand_total: String,
}

impl LinesTable {
    pub(crate) fn new(lang: Lang, computed: &Computed) -> Self {
        let t = lang.texts();
        LinesTable {
            lines: computed
                .lines
                .iter()
                .map(|l| LineView {
                    name: l.name.clone(),
                    description: l.description.clone().unwrap_or_default(),
                    quantity: format!("{} {}", quantity(lang, l.quantity), unit(lang, &l.unit)),
                    unit_price: money(lang, l.unit_price),
                    amount: money(lang, l.net_amount),
                })
                .collect(),
            net_total: money(lang, computed.totals.tax_basis_total),
            vat: computed
                .vat
                .iter()
                .map(|g| VatView {
                    label: format!("{} {} %", t.vat, quantity(lang, g.rate)),
                    amount: money(lang, g.tax_amount),
                })
                .collect(),
            grand_total: money(lang, computed.totals.grand_total),
        }
    }
}

#[derive(Template)]
#[template(path = "quote.html")]
struct QuotePage {
    page: Layout,
    t: &'static Texts,
    error: String,
    number: String,
    order_title: String,
    valid_until: String,
    lines: Vec<LineView>,
    net_total: String,
    vat: Vec<VatView>,
    grand_total: String,
    notes: String,
    decision: Option<String>,
    accepted: bool,
    expired: bool,
    action: String,
    csrf: String,
    pdf_href: String,
}

fn quote_view(lang: Lang, token: &str, quote: &PublicQuote, error: &str) -> QuotePage {
    let t = lang.texts();
    let q = &quote.quote;
    let table = LinesTable::new(lang, &q.computed);
    let base = format!("/quotes/{token}");
    let decided = |label: &str| {
        let who = q.decision_name.clone().unwrap_or_default();
        let when = q
            .decided_at
            .map(|d| date(lang, d.date_naive()))
            .unwrap_or_default();
        format!("{label} {who}, {when}")
    };
    QuotePage {
        page: Layout::new(
            lang,
            t.quote_title,
            &Branding {
                company: quote.company.clone(),
                ..quote.branding.clone()
            },
            &base,
        ),
        t,
        error: error.to_owned(),
        number: q.number.clone(),
        order_title: quote.order_title.clone(),
        valid_until: date(lang, q.valid_until),
        lines: table.lines,
        net_total: table.net_total,
        vat: table.vat,
        grand_total: table.grand_total,
        notes: q.notes.clone().unwrap_or_default(),
        decision: match quote.status {
            "accepted" => Some(decided(t.quote_accepted)),
            "declined" => Some(decided(t.quote_declined)),
            _ => None,
        },
        accepted: quote.status == "accepted",
        expired: quote.status == "expired",
        action: format!("{base}/answer"),
        csrf: csrf_for(token),
        pdf_href: format!("{base}/pdf"),
    }
}

/// Counts the request toward the client's public budget (the quote link names no
/// company, so only the per-client budget applies).
pub(crate) fn admit(req: &HttpRequest, app: &App) -> Result<(), AppError> {
    let client = req
        .extensions()
        .get::<ClientAddress>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.clone());
    app.public_limits
        .per_client
        .attempt(&client)
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

#[derive(Deserialize)]
struct QuoteQuery {
    lang: Option<String>,
}

async fn quote_page(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<QuoteQuery>,
) -> HttpResponse {
    let lang = language(&req, query.lang.as_deref());
    if let Err(e) = admit(&req, &app) {
        return failure(e, lang, None);
    }
    match quotes::public_view(&app, &token).await {
        Ok(quote) => {
            let lang = language_for(&req, query.lang.as_deref(), &quote.branding);
            render(StatusCode::OK, &quote_view(lang, &token, &quote, ""), &[])
        }
        Err(e) => failure(e, lang, None),
    }
}

async fn quote_pdf(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    query: web::Query<QuoteQuery>,
) -> HttpResponse {
    let lang = language(&req, query.lang.as_deref());
    if let Err(e) = admit(&req, &app) {
        return failure(e, lang, None);
    }
    match quotes::public_pdf(&app, &token).await {
        Ok((file_name, bytes)) => download_response("application/pdf", &file_name, bytes),
        Err(e) => failure(e, lang, None),
    }
}

/// A document to save: `file_name` holds ASCII letters, digits, '-', '_' and '.' only.
pub(crate) fn download_response(media_type: &str, file_name: &str, bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, media_type.to_owned()))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnswerForm {
    lang: Option<String>,
    csrf: String,
    decision: String,
    name: String,
    comment: String,
}

async fn answer_submit(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    form: web::Form<AnswerForm>,
) -> HttpResponse {
    let lang = language(&req, form.lang.as_deref());
    if let Err(e) = admit(&req, &app) {
        return failure(e, lang, None);
    }
    let quote = match quotes::public_view(&app, &token).await {
        Ok(q) => q,
        Err(e) => return failure(e, lang, None),
    };
    let lang = language_for(&req, form.lang.as_deref(), &quote.branding);
    let t = lang.texts();
    let refuse = |status: StatusCode, quote: &PublicQuote, message: &str| {
        render(status, &quote_view(lang, &token, quote, message), &[])
    };
    if !csrf_matches(&token, &form.csrf) {
        return refuse(StatusCode::FORBIDDEN, &quote, t.expired_form);
    }
    let name = form.name.trim();
    if name.is_empty() || Line::<200>::parse(name).is_err() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &quote,
            t.answer_name_missing,
        );
    }
    let comment = form.comment.trim();
    if Text::<2000>::parse(comment).is_err() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, &quote, t.invalid_notes);
    }
    let answer = QuoteAnswer {
        decision: form.decision.clone(),
        name: name.to_owned(),
        comment: (!comment.is_empty()).then(|| comment.to_owned()),
    };
    match quotes::answer(&app, &token, answer).await {
        Ok(_) => see_other(&with_lang(&format!("/quotes/{token}"), lang)),
        Err(AppError::Conflict { code, .. }) if code == codes::QUOTE_ANSWERED => {
            refuse(StatusCode::CONFLICT, &quote, t.answer_final)
        }
        Err(AppError::Unprocessable { code, .. }) if code == codes::QUOTE_EXPIRED => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, &quote, t.quote_expired)
        }
        Err(AppError::Validation(_)) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &quote,
            t.answer_name_missing,
        ),
        Err(e) => failure(e, lang, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_write_it() {
        let amount = Decimal::new(123_450, 2);
        assert_eq!(money(Lang::De, amount), "1.234,50 €");
        assert_eq!(money(Lang::En, amount), "€1,234.50");
        assert_eq!(money(Lang::De, Decimal::new(5, 1)), "0,50 €");
        assert_eq!(
            money(Lang::De, Decimal::new(100_000_000, 0)),
            "100.000.000,00 €"
        );
        assert_eq!(quantity(Lang::De, Decimal::new(150, 2)), "1,5");
    }
}
