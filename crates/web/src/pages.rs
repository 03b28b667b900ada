//! The routes and their pages.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use workorders_app::booking::{
    self, BookingContact, BookingOutcome, BookingStatus, NewBooking, RescheduleOutcome, SlotSearch,
};
use workorders_app::error::codes;
use workorders_app::scheduling::CustomerLocation;
use workorders_app::tenant::Branding;
use workorders_app::throttle::ClientAddress;
use workorders_app::{App, AppError};
use workorders_domain::ServiceId;
use workorders_domain::appointment::AppointmentStatus;
use workorders_domain::brand::{Language, Palette, logo_version};
use workorders_domain::slots::Slot;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;
use workorders_domain::work_order::OrderStatus;
use workorders_persistence::tenants::TenantRecord;

use crate::i18n::{Lang, Texts};

/// The stylesheet every page links (served by us: no third-party assets).
const STYLESHEET: &str = include_str!("../assets/web.css");

/// The booking widget for other websites (`<script src=".../embed.js" data-tenant=...>`).
const EMBED_SCRIPT: &str = include_str!("../assets/embed.js");

/// On every page: tells an embedding page (the widget) its height; nothing else.
const FRAME_SCRIPT: &str = include_str!("../assets/frame.js");

/// Largest form body a page accepts.
const FORM_LIMIT: usize = 16 * 1024;

/// Registers the booking pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let form = || web::FormConfig::default().limit(FORM_LIMIT);
    cfg.route("/assets/web.css", web::get().to(stylesheet))
        .route("/assets/frame.js", web::get().to(frame_script))
        .route("/embed.js", web::get().to(embed_script))
        .route("/{tenant}/brand.css", web::get().to(brand_stylesheet))
        .route("/{tenant}/logo", web::get().to(logo))
        .route("/{tenant}/book", web::get().to(services_page))
        .service(
            web::resource("/{tenant}/book/{service}")
                .app_data(form())
                .route(web::get().to(slots_page))
                .route(web::post().to(book_submit)),
        )
        .route(
            "/{tenant}/book/{service}/details",
            web::get().to(details_page),
        )
        .route("/{tenant}/booking/{token}", web::get().to(status_page))
        .route(
            "/{tenant}/booking/{token}/calendar.ics",
            web::get().to(calendar_file),
        )
        .service(
            web::resource("/{tenant}/booking/{token}/reschedule")
                .app_data(form())
                .route(web::get().to(reschedule_page))
                .route(web::post().to(reschedule_submit)),
        )
        .service(
            web::resource("/{tenant}/booking/{token}/cancel")
                .app_data(form())
                .route(web::post().to(cancel_submit)),
        );
}

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn embed_script() -> HttpResponse {
    script(EMBED_SCRIPT)
}

async fn frame_script() -> HttpResponse {
    script(FRAME_SCRIPT)
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

#[derive(Deserialize)]
struct VersionQuery {
    v: Option<String>,
}

/// How long a branding asset may be cached: for good when the link names the current
/// version (a change makes a new link), else briefly.
fn asset_cache(current: bool) -> &'static str {
    if current {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    }
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(text)
}

fn asset_failure(error: AppError) -> HttpResponse {
    match error {
        AppError::NotFound => plain(StatusCode::NOT_FOUND, "Not found"),
        other => {
            tracing::error!(error = ?other, "a branding asset failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    }
}

/// The custom properties `web.css` takes its accent colours from, for one accent colour.
pub(crate) fn brand_css(palette: &Palette) -> String {
    format!(
        ":root {{ --accent: {link}; --accent-dark: {link_hover}; --accent-fill: {fill}; \
         --accent-fill-hover: {fill_hover}; --on-accent: {on_fill}; --focus: {link}; }}\n",
        link = palette.link,
        link_hover = palette.link_hover,
        fill = palette.fill,
        fill_hover = palette.fill_hover,
        on_fill = palette.on_fill,
    )
}

/// `/{tenant}/brand.css`: the company's accent colour for `web.css` (linked by every page
/// of a company that set one; 404 otherwise).
async fn brand_stylesheet(
    app: web::Data<App>,
    path: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    let brand = match workorders_app::tenant::public_branding(&app, &path).await {
        Ok(b) => b,
        Err(e) => return asset_failure(e),
    };
    let Some(colour) = brand.brand_colour else {
        return plain(StatusCode::NOT_FOUND, "Not found");
    };
    let version = colour.to_string();
    let current = query.v.as_deref() == version.get(1..);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, asset_cache(current)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(brand_css(&Palette::of(colour)))
}

/// The entity tags a request's `If-None-Match` names, without quotes.
fn if_none_match(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|t| {
                    t.trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `/{tenant}/logo`: the company's logo as uploaded (PNG, JPEG or WebP), with its hash as a
/// strong ETag; 404 without one.
async fn logo(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    let known = if_none_match(&req);
    let image = match workorders_app::tenant::public_logo(
        &app,
        &path,
        known.iter().map(String::as_str).find(|t| t.len() == 64),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return asset_failure(e),
    };
    let current = query.v.as_deref() == Some(logo_version(&image.sha256));
    let mut response = if known.contains(&image.sha256) {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, format!("\"{}\"", image.sha256)))
        .insert_header((header::CACHE_CONTROL, asset_cache(current)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"));
    if image.data.is_empty() {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, image.content_type))
        .body(image.data)
}

// ---------------------------------------------------------------------------------------
// Page frame, responses, errors

/// What every page shows around its content.
pub(crate) struct Layout {
    pub(crate) lang: &'static str,
    pub(crate) other_lang: &'static str,
    pub(crate) t: &'static Texts,
    pub(crate) title: String,
    pub(crate) company: String,
    /// This page in the other language.
    pub(crate) switch_href: String,
    /// The company's logo (`/{tenant}/logo?v=…`).
    pub(crate) logo_href: Option<String>,
    /// The company's colours (`/{tenant}/brand.css?v=…`).
    pub(crate) brand_css_href: Option<String>,
    pub(crate) imprint_url: Option<String>,
    pub(crate) privacy_url: Option<String>,
}

impl Layout {
    pub(crate) fn new(lang: Lang, title: &str, brand: &Branding, href_without_lang: &str) -> Self {
        Layout {
            lang: lang.code(),
            other_lang: lang.other().code(),
            t: lang.texts(),
            title: title.to_owned(),
            company: brand.company.clone(),
            switch_href: with_lang(href_without_lang, lang.other()),
            logo_href: brand
                .logo_sha256
                .as_deref()
                .map(|sha| format!("/{}/logo?v={}", brand.slug, logo_version(sha))),
            brand_css_href: brand
                .brand_colour
                .map(|c| format!("/{}/brand.css?v={}", brand.slug, &c.to_string()[1..])),
            imprint_url: brand.imprint_url.clone(),
            privacy_url: brand.privacy_url.clone(),
        }
    }

    /// Whether the page has a footer.
    pub(crate) fn has_footer(&self) -> bool {
        self.imprint_url.is_some() || self.privacy_url.is_some()
    }
}

/// `href` with `lang=` added to its query.
pub(crate) fn with_lang(href: &str, lang: Lang) -> String {
    let separator = if href.contains('?') { '&' } else { '?' };
    format!("{href}{separator}lang={}", lang.code())
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// The Content-Security-Policy of a company's pages: nothing but our stylesheet, forms only
/// to us, framed only by the company's website (the embed), never by anyone else.
fn content_security_policy(origins: &[String]) -> String {
    let ancestors = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// An HTML page with the security headers; private pages are never cached.
pub(crate) fn html(status: StatusCode, body: String, origins: &[String]) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Content-Security-Policy", content_security_policy(origins)));
    if origins.is_empty() {
        response.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    response.body(body)
}

/// POST-redirect-GET.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    page: Layout,
    message: String,
    back_href: Option<String>,
}

/// A page that only says something (not found, failed, expired form).
pub(crate) fn message(
    status: StatusCode,
    lang: Lang,
    brand: &Branding,
    title: &str,
    text: &str,
    back_href: Option<String>,
    origins: &[String],
) -> HttpResponse {
    let page = MessagePage {
        page: Layout::new(lang, title, brand, "?"),
        message: text.to_owned(),
        back_href,
    };
    render(status, &page, origins)
}

/// [`message`] on a company's page.
fn page_message(
    status: StatusCode,
    lang: Lang,
    tenant: &TenantRecord,
    title: &str,
    text: &str,
    back_href: Option<String>,
) -> HttpResponse {
    message(
        status,
        lang,
        &Branding::of(tenant),
        title,
        text,
        back_href,
        &tenant.website_origins,
    )
}

pub(crate) fn render(
    status: StatusCode,
    template: &impl Template,
    origins: &[String],
) -> HttpResponse {
    match template.render() {
        Ok(body) => html(status, body, origins),
        Err(error) => {
            tracing::error!(%error, "rendering a customer page failed");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("Internal error")
        }
    }
}

/// The page for an error of a use case that the page did not handle itself.
pub(crate) fn failure(error: AppError, lang: Lang, tenant: Option<&TenantRecord>) -> HttpResponse {
    let brand = tenant.map(Branding::of).unwrap_or_default();
    let company = &brand;
    let origins = tenant.map(|t| t.website_origins.as_slice()).unwrap_or(&[]);
    let t = lang.texts();
    match error {
        AppError::NotFound => message(
            StatusCode::NOT_FOUND,
            lang,
            company,
            t.not_found_title,
            t.not_found,
            None,
            origins,
        ),
        AppError::RateLimited { retry_after_secs } => {
            let mut page = message(
                StatusCode::TOO_MANY_REQUESTS,
                lang,
                company,
                t.busy_title,
                t.busy,
                None,
                origins,
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            page
        }
        AppError::Unavailable => message(
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            company,
            t.error_title,
            t.error,
            None,
            origins,
        ),
        other => {
            tracing::error!(error = ?other, "a customer page failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                company,
                t.error_title,
                t.error,
                None,
                origins,
            )
        }
    }
}

/// The page's language from `?lang=`/the form's `lang` and the browser.
pub(crate) fn language(req: &HttpRequest, chosen: Option<&str>) -> Lang {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::negotiate(chosen, accept)
}

/// The page's language on a company's page: as [`language`], with the company's default
/// language when neither the link nor the browser names German or English.
pub(crate) fn language_for(
    req: &HttpRequest,
    chosen: Option<&str>,
    brand: &impl HasLanguage,
) -> Lang {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let fallback = match brand.default_language() {
        Language::De => Lang::De,
        Language::En => Lang::En,
    };
    Lang::negotiate_or(chosen, accept, fallback)
}

/// What knows a company's default language (its record, its branding).
pub(crate) trait HasLanguage {
    fn default_language(&self) -> Language;
}

impl HasLanguage for TenantRecord {
    fn default_language(&self) -> Language {
        self.default_language
    }
}

impl HasLanguage for Branding {
    fn default_language(&self) -> Language {
        self.default_language
    }
}

/// The company of a page and the page's language (`chosen`, else Accept-Language, else the
/// company's default), or the page to answer instead. Every page counts toward the
/// public booking surface's budgets (per client address and per company), shared with the
/// JSON endpoints.
async fn company(
    req: &HttpRequest,
    app: &App,
    slug: &str,
    chosen: Option<&str>,
) -> Result<(TenantRecord, Lang), HttpResponse> {
    // Until the company is known, its default language is too.
    let lang = language(req, chosen);
    let client = req
        .extensions()
        .get::<ClientAddress>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.clone());
    app.public_limits
        .admit(&client, slug)
        .map_err(|e| failure(e, lang, None))?;
    let tenant = booking::public_tenant(app, slug)
        .await
        .map_err(|e| failure(e, lang, None))?;
    let lang = language_for(req, chosen, &tenant);
    Ok((tenant, lang))
}

// ---------------------------------------------------------------------------------------
// Slots by day

struct DaySlots {
    label: String,
    slots: Vec<SlotChoice>,
}

struct SlotChoice {
    /// Position on the page (for ids).
    id: usize,
    label: String,
    /// The start as the form sends it (RFC 3339, UTC).
    value: String,
    /// The link that picks it (booking page).
    href: String,
}

fn start_value(start: DateTime<Utc>) -> String {
    start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Starts grouped by their local day, each start once (the people who are free do not
/// matter to the customer), in time order.
fn by_day(
    starts: impl IntoIterator<Item = DateTime<Utc>>,
    tz: Tz,
    lang: Lang,
    href: impl Fn(&str) -> String,
) -> Vec<DaySlots> {
    let mut days: BTreeMap<NaiveDate, Vec<DateTime<Utc>>> = BTreeMap::new();
    for start in starts {
        days.entry(start.with_timezone(&tz).date_naive())
            .or_default()
            .push(start);
    }
    let mut id = 0;
    days.into_iter()
        .map(|(day, mut starts)| {
            starts.sort();
            starts.dedup();
            DaySlots {
                label: lang.long_date(day),
                slots: starts
                    .into_iter()
                    .map(|start| {
                        id += 1;
                        let value = start_value(start);
                        SlotChoice {
                            id,
                            label: lang.time(start, tz),
                            href: href(&value),
                            value,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn slot_starts(slots: &[Slot]) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    slots.iter().map(|s| s.start)
}

/// The local date a week view starts on, from `?from=` (never before today).
fn first_day(from: Option<&str>, today: NaiveDate) -> NaiveDate {
    from.and_then(|f| NaiveDate::parse_from_str(f, "%Y-%m-%d").ok())
        .filter(|d| *d >= today && *d <= today + Duration::days(366))
        .unwrap_or(today)
}

// ---------------------------------------------------------------------------------------
// The booking page: services

struct ServiceChoice {
    name: String,
    duration: u32,
    href: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    page: Layout,
    services: Vec<ServiceChoice>,
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

async fn services_page(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
) -> HttpResponse {
    let (tenant, lang) = match company(&req, &app, &path, query.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let services = match booking::services(&app, &tenant).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let base = format!("/{}/book", tenant.slug);
    let page = ServicesPage {
        page: Layout::new(lang, lang.texts().book_title, &Branding::of(&tenant), &base),
        services: services
            .into_iter()
            .map(|s| ServiceChoice {
                href: with_lang(&format!("{base}/{}", s.id.0), lang),
                name: s.name,
                duration: s.duration_minutes,
            })
            .collect(),
    };
    render(StatusCode::OK, &page, &tenant.website_origins)
}

// ---------------------------------------------------------------------------------------
// The booking page: postal code and free times

#[derive(Template)]
#[template(path = "slots.html")]
struct SlotsPage {
    page: Layout,
    service: String,
    action: String,
    postal_code: String,
    searched: bool,
    not_served: bool,
    time_zone: String,
    days: Vec<DaySlots>,
    earlier_href: Option<String>,
    later_href: String,
}

#[derive(Deserialize)]
struct SlotsQuery {
    lang: Option<String>,
    postal_code: Option<String>,
    from: Option<String>,
}

/// A postal code as typed (one line, at most 16 characters), or nothing.
fn postal_code(text: Option<&str>) -> Option<String> {
    let code = text?.trim();
    Line::<16>::parse(code)
        .ok()
        .filter(|c| !c.is_empty())
        .map(Line::into_string)
}

/// A company's active service named by a path segment.
async fn offered_service(
    app: &App,
    tenant: &TenantRecord,
    segment: &str,
) -> Result<(ServiceId, String, u32), AppError> {
    let id = uuid::Uuid::parse_str(segment).map_err(|_| AppError::NotFound)?;
    booking::services(app, tenant)
        .await?
        .into_iter()
        .find(|s| s.id.0 == id)
        .map(|s| (s.id, s.name, s.duration_minutes))
        .ok_or(AppError::NotFound)
}

async fn slots_page(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    query: web::Query<SlotsQuery>,
) -> HttpResponse {
    let (slug, segment) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, query.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (service_id, service_name, _) = match offered_service(&app, &tenant, &segment).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let tz = tenant.time_zone.tz();
    let today = app.now().with_timezone(&tz).date_naive();
    let from = first_day(query.from.as_deref(), today);
    let action = format!("/{}/book/{}", tenant.slug, service_id.0);
    let postal = postal_code(query.postal_code.as_deref());
    let week = |day: NaiveDate| {
        with_lang(
            &format!(
                "{action}?postal_code={}&from={day}",
                encode(postal.as_deref().unwrap_or_default())
            ),
            lang,
        )
    };
    let mut page = SlotsPage {
        page: Layout::new(
            lang,
            lang.texts().book_title,
            &Branding::of(&tenant),
            &match &postal {
                Some(code) => format!("{action}?postal_code={}&from={from}", encode(code)),
                None => action.clone(),
            },
        ),
        service: service_name,
        action: action.clone(),
        postal_code: postal.clone().unwrap_or_default(),
        searched: postal.is_some(),
        not_served: false,
        time_zone: tz.name().to_owned(),
        days: Vec::new(),
        earlier_href: (from > today).then(|| week((from - Duration::days(7)).max(today))),
        later_href: week(from + Duration::days(7)),
    };
    if let Some(code) = &postal {
        let search = SlotSearch {
            from: Some(from),
            to: Some(from + Duration::days(6)),
            location: CustomerLocation {
                postal_code: Some(code.clone()),
                coordinates: None,
            },
        };
        match booking::slots(&app, &tenant, service_id, search).await {
            Ok(offer) if !offer.serves_location => page.not_served = true,
            Ok(offer) => {
                page.days = by_day(slot_starts(&offer.slots), tz, lang, |start| {
                    with_lang(
                        &format!(
                            "{action}/details?start={}&postal_code={}",
                            encode(start),
                            encode(code)
                        ),
                        lang,
                    )
                });
            }
            Err(e) => return failure(e, lang, Some(&tenant)),
        }
    }
    render(StatusCode::OK, &page, &tenant.website_origins)
}

// ---------------------------------------------------------------------------------------
// The booking page: the customer's details, and booking

/// What the customer typed (shown back when something is wrong).
#[derive(Deserialize, Default)]
#[serde(default)]
struct BookForm {
    lang: Option<String>,
    /// The form's secret (see `booking::token_for_form`).
    form: String,
    start: String,
    name: String,
    email: String,
    phone: String,
    street: String,
    postal_code: String,
    city: String,
    notes: String,
    consent: Option<String>,
}

/// Fields the page marks as wrong.
#[derive(Default)]
struct Invalid {
    name: bool,
    email: bool,
    phone: bool,
    street: bool,
    postal_code: bool,
    city: bool,
    notes: bool,
    consent: bool,
}

impl Invalid {
    fn mark(&mut self, field: &str) {
        match field {
            "name" => self.name = true,
            "email" => self.email = true,
            "phone" => self.phone = true,
            "street" => self.street = true,
            "postal_code" => self.postal_code = true,
            "city" => self.city = true,
            "notes" => self.notes = true,
            "consent" => self.consent = true,
            _ => {}
        }
    }

    /// The marked fields with their messages, in the order of the form.
    fn list(&self, t: &Texts) -> Vec<FieldError> {
        [
            (self.name, "name", t.invalid_name),
            (self.email, "email", t.invalid_email),
            (self.phone, "phone", t.invalid_phone),
            (self.street, "street", t.invalid_street),
            (self.postal_code, "postal_code", t.invalid_postal_code),
            (self.city, "city", t.invalid_city),
            (self.notes, "notes", t.invalid_notes),
            (self.consent, "consent", t.invalid_consent),
        ]
        .into_iter()
        .filter(|(marked, _, _)| *marked)
        .map(|(_, field, message)| FieldError { field, message })
        .collect()
    }
}

struct FieldError {
    field: &'static str,
    message: &'static str,
}

struct FormView {
    name: String,
    email: String,
    phone: String,
    street: String,
    postal_code: String,
    city: String,
    notes: String,
    consent: bool,
}

struct Alternative {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "details.html")]
struct DetailsPage {
    page: Layout,
    service: String,
    when: String,
    back_href: String,
    action: String,
    form_secret: String,
    start: String,
    form: FormView,
    invalid: Invalid,
    errors: Vec<FieldError>,
    taken: bool,
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct DetailsQuery {
    lang: Option<String>,
    start: Option<String>,
    postal_code: Option<String>,
}

fn parse_start(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Everything the details page needs besides what the customer typed.
struct DetailsFrame<'a> {
    lang: Lang,
    tenant: &'a TenantRecord,
    service_id: ServiceId,
    service: String,
    duration: u32,
    start: DateTime<Utc>,
    form_secret: String,
}

impl DetailsFrame<'_> {
    fn page(
        &self,
        form: FormView,
        invalid: Invalid,
        taken: bool,
        alternatives: &[DateTime<Utc>],
    ) -> DetailsPage {
        let tz = self.tenant.time_zone.tz();
        let action = format!("/{}/book/{}", self.tenant.slug, self.service_id.0);
        let end = self.start + Duration::minutes(i64::from(self.duration));
        let back = format!("{action}?postal_code={}", encode(&form.postal_code));
        DetailsPage {
            page: Layout::new(
                self.lang,
                self.lang.texts().details_title,
                &Branding::of(self.tenant),
                &format!(
                    "{action}/details?start={}&postal_code={}",
                    encode(&start_value(self.start)),
                    encode(&form.postal_code)
                ),
            ),
            service: self.service.clone(),
            when: self.lang.appointment(self.start, end, tz),
            back_href: with_lang(&back, self.lang),
            action,
            form_secret: self.form_secret.clone(),
            start: start_value(self.start),
            errors: invalid.list(self.lang.texts()),
            form,
            invalid,
            taken,
            alternatives: alternatives
                .iter()
                .map(|a| Alternative {
                    value: start_value(*a),
                    label: {
                        let local = a.with_timezone(&tz).date_naive();
                        format!("{}, {}", self.lang.long_date(local), self.lang.time(*a, tz))
                    },
                })
                .collect(),
        }
    }
}

async fn details_page(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    query: web::Query<DetailsQuery>,
) -> HttpResponse {
    let (slug, segment) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, query.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (service_id, service, duration) = match offered_service(&app, &tenant, &segment).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let postal = postal_code(query.postal_code.as_deref()).unwrap_or_default();
    let Some(start) = query.start.as_deref().and_then(parse_start) else {
        return see_other(&with_lang(
            &format!(
                "/{}/book/{}?postal_code={}",
                tenant.slug,
                service_id.0,
                encode(&postal)
            ),
            lang,
        ));
    };
    let form_secret = match booking::new_form_secret() {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let frame = DetailsFrame {
        lang,
        tenant: &tenant,
        service_id,
        service,
        duration,
        start,
        form_secret,
    };
    let form = FormView {
        name: String::new(),
        email: String::new(),
        phone: String::new(),
        street: String::new(),
        postal_code: postal,
        city: String::new(),
        notes: String::new(),
        consent: false,
    };
    let page = frame.page(form, Invalid::default(), false, &[]);
    // Kept in the browser's history (not `no-store`): the back button shows this very form
    // with its secret again, so sending it once more leads to the booking it already made.
    let mut response = render(StatusCode::OK, &page, &tenant.website_origins);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// Whether a form secret has the shape `booking::new_form_secret` makes.
fn is_form_secret(text: &str) -> bool {
    text.strip_prefix("bf_").is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The private page of a booking.
fn status_href(tenant: &TenantRecord, token: &str) -> String {
    format!("/{}/booking/{token}", tenant.slug)
}

async fn book_submit(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    form: web::Form<BookForm>,
) -> HttpResponse {
    let (slug, segment) = path.into_inner();
    let form = form.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, form.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let t = lang.texts();
    let (service_id, service, duration) = match offered_service(&app, &tenant, &segment).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let back = Some(with_lang(
        &format!("/{}/book/{}", tenant.slug, service_id.0),
        lang,
    ));
    let (Some(start), true) = (parse_start(&form.start), is_form_secret(&form.form)) else {
        return page_message(
            StatusCode::BAD_REQUEST,
            lang,
            &tenant,
            t.error_title,
            t.expired_form,
            back,
        );
    };
    // A second submit of the same form (double click, back button, reload): its booking.
    let token = booking::token_for_form(&form.form);
    if booking::status(&app, &tenant, &token).await.is_ok() {
        return see_other(&with_lang(&status_href(&tenant, &token), lang));
    }
    let frame = DetailsFrame {
        lang,
        tenant: &tenant,
        service_id,
        service,
        duration,
        start,
        form_secret: form.form.clone(),
    };
    // The text rules of every request (no control characters, single lines stay single).
    let mut invalid = Invalid::default();
    for (field, value, ok) in [
        ("name", &form.name, Line::<200>::parse(&form.name).is_ok()),
        (
            "email",
            &form.email,
            Email::parse(form.email.trim()).is_ok(),
        ),
        ("phone", &form.phone, Line::<40>::parse(&form.phone).is_ok()),
        (
            "street",
            &form.street,
            Line::<200>::parse(&form.street).is_ok(),
        ),
        (
            "postal_code",
            &form.postal_code,
            Line::<16>::parse(&form.postal_code).is_ok(),
        ),
        ("city", &form.city, Line::<100>::parse(&form.city).is_ok()),
        (
            "notes",
            &form.notes,
            Text::<2000>::parse(&form.notes).is_ok(),
        ),
    ] {
        if !ok || (field != "phone" && field != "notes" && value.trim().is_empty()) {
            invalid.mark(field);
        }
    }
    if form.consent.is_none() {
        invalid.mark("consent");
    }
    let view = FormView {
        name: form.name.clone(),
        email: form.email.clone(),
        phone: form.phone.clone(),
        street: form.street.clone(),
        postal_code: form.postal_code.clone(),
        city: form.city.clone(),
        notes: form.notes.clone(),
        consent: form.consent.is_some(),
    };
    if !invalid.list(t).is_empty() {
        let page = frame.page(view, invalid, false, &[]);
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page,
            &tenant.website_origins,
        );
    }
    let notes = form.notes.trim();
    let input = NewBooking {
        service_id,
        start,
        customer: BookingContact {
            name: form.name.trim().to_owned(),
            email: form.email.trim().to_owned(),
            phone: Some(form.phone.trim().to_owned()).filter(|p| !p.is_empty()),
            street: form.street.trim().to_owned(),
            postal_code: form.postal_code.trim().to_owned(),
            city: form.city.trim().to_owned(),
            latitude: None,
            longitude: None,
        },
        notes: (!notes.is_empty()).then(|| notes.to_owned()),
        consent: true,
        token: Some(token.clone()),
    };
    match booking::book(&app, &tenant, input).await {
        Ok(BookingOutcome::Booked { .. }) => see_other(&with_lang(
            &format!("{}?booked=1", status_href(&tenant, &token)),
            lang,
        )),
        Ok(BookingOutcome::SlotTaken { alternatives }) => {
            let page = frame.page(view, Invalid::default(), true, &alternatives);
            render(StatusCode::CONFLICT, &page, &tenant.website_origins)
        }
        Err(AppError::Validation(errors)) => {
            let mut invalid = Invalid::default();
            for error in &errors.0 {
                let field = error.pointer.rsplit('/').next().unwrap_or_default();
                invalid.mark(field);
            }
            let page = frame.page(view, invalid, false, &[]);
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page,
                &tenant.website_origins,
            )
        }
        Err(AppError::Conflict { code, .. }) if code == codes::OUTSIDE_SERVICE_AREA => {
            page_message(
                StatusCode::CONFLICT,
                lang,
                &tenant,
                t.book_title,
                t.not_served,
                back,
            )
        }
        Err(error) => {
            // Two submits of one form at the same moment: the other one booked.
            if booking::status(&app, &tenant, &token).await.is_ok() {
                return see_other(&with_lang(&status_href(&tenant, &token), lang));
            }
            failure(error, lang, Some(&tenant))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The booking's private page

/// The CSRF token of the forms on a booking's page: bound to its private link (a page
/// elsewhere cannot know it without the link).
pub(crate) fn csrf_for(token: &str) -> String {
    let digest = Sha256::digest(format!("csrf:{token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

pub(crate) fn csrf_matches(token: &str, sent: &str) -> bool {
    let expected = csrf_for(token);
    expected.len() == sent.len()
        && expected
            .bytes()
            .zip(sent.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

struct Milestone {
    label: &'static str,
    reached: bool,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    page: Layout,
    notice: Option<&'static str>,
    just_booked: bool,
    cancelled: bool,
    live: Option<&'static str>,
    reference: String,
    service: String,
    when: String,
    who: String,
    ics_href: String,
    milestones: Vec<Milestone>,
    changeable: bool,
    reschedule_href: String,
    cancel_action: String,
    csrf: String,
    self_href: String,
}

#[derive(Deserialize)]
struct StatusQuery {
    lang: Option<String>,
    booked: Option<String>,
    done: Option<String>,
}

fn changeable(status: &BookingStatus) -> bool {
    status.status == "confirmed" && status.appointment_status.is_changeable()
}

/// The order's progress in the customer's words.
fn milestones(status: &BookingStatus, t: &Texts) -> Vec<Milestone> {
    let finished = matches!(
        status.order_status,
        OrderStatus::Completed | OrderStatus::Invoiced | OrderStatus::Closed
    );
    vec![
        Milestone {
            label: t.step_received,
            reached: true,
        },
        Milestone {
            label: t.step_booked,
            reached: status.appointment_status != AppointmentStatus::Cancelled,
        },
        Milestone {
            label: t.step_visited,
            reached: status.appointment_status == AppointmentStatus::Done || finished,
        },
        Milestone {
            label: t.step_done,
            reached: finished,
        },
        Milestone {
            label: t.step_invoiced,
            reached: matches!(
                status.order_status,
                OrderStatus::Invoiced | OrderStatus::Closed
            ),
        },
    ]
}

async fn status_page(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    query: web::Query<StatusQuery>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, query.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let t = lang.texts();
    let status = match booking::status(&app, &tenant, &token).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let tz = tenant.time_zone.tz();
    let base = status_href(&tenant, &token);
    let just_booked = query.booked.is_some();
    let cancelled =
        status.status == "cancelled" || status.appointment_status == AppointmentStatus::Cancelled;
    let page = StatusPage {
        page: Layout::new(
            lang,
            if just_booked {
                t.booked_title
            } else {
                t.status_title
            },
            &Branding::of(&tenant),
            &base,
        ),
        notice: match query.done.as_deref() {
            Some("moved") => Some(t.rescheduled),
            Some("cancelled") => Some(t.cancelled_notice),
            _ => None,
        },
        just_booked,
        cancelled,
        live: match status.appointment_status {
            AppointmentStatus::EnRoute => Some(t.status_on_the_way),
            AppointmentStatus::OnSite => Some(t.status_on_site),
            _ => None,
        },
        reference: status.reference.clone(),
        service: status.service.clone(),
        when: lang.appointment(status.start, status.end, tz),
        who: status.assigned_to.clone(),
        ics_href: format!("{base}/calendar.ics"),
        milestones: milestones(&status, t),
        changeable: changeable(&status),
        reschedule_href: with_lang(&format!("{base}/reschedule"), lang),
        cancel_action: format!("{base}/cancel"),
        csrf: csrf_for(&token),
        self_href: format!(
            "{}{base}",
            app.settings.mail.public_base_url.trim_end_matches('/')
        ),
    };
    render(StatusCode::OK, &page, &tenant.website_origins)
}

async fn calendar_file(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, None).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match booking::calendar_file(&app, &tenant, &token).await {
        Ok(text) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"termin.ics\""),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(text),
        Err(e) => failure(e, lang, Some(&tenant)),
    }
}

#[derive(Template)]
#[template(path = "reschedule.html")]
struct ReschedulePage {
    page: Layout,
    service: String,
    when: String,
    taken: bool,
    time_zone: String,
    days: Vec<DaySlots>,
    action: String,
    csrf: String,
    earlier_href: Option<String>,
    later_href: String,
    back_href: String,
}

#[derive(Deserialize)]
struct RescheduleQuery {
    lang: Option<String>,
    from: Option<String>,
}

/// The reschedule page offering `starts` (the booking page's offer, or the alternatives
/// after a refusal), for the week from `from` (`today` in the company's zone).
fn reschedule_view(
    lang: Lang,
    tenant: &TenantRecord,
    token: &str,
    status: &BookingStatus,
    starts: Vec<DateTime<Utc>>,
    (from, today): (NaiveDate, NaiveDate),
    taken: bool,
) -> ReschedulePage {
    let tz = tenant.time_zone.tz();
    let base = status_href(tenant, token);
    let page_href = format!("{base}/reschedule");
    let week = |day: NaiveDate| with_lang(&format!("{page_href}?from={day}"), lang);
    let current = status.start;
    ReschedulePage {
        page: Layout::new(
            lang,
            lang.texts().reschedule_title,
            &Branding::of(tenant),
            &page_href,
        ),
        service: status.service.clone(),
        when: lang.appointment(status.start, status.end, tz),
        taken,
        time_zone: tz.name().to_owned(),
        days: by_day(
            starts.into_iter().filter(|s| *s != current),
            tz,
            lang,
            |_| String::new(),
        ),
        action: page_href.clone(),
        csrf: csrf_for(token),
        earlier_href: (from > today).then(|| week((from - Duration::days(7)).max(today))),
        later_href: week(from + Duration::days(7)),
        back_href: with_lang(&base, lang),
    }
}

/// What the booking page would offer for this booking's service and address in the week
/// from `from`.
async fn offered_starts(
    app: &App,
    tenant: &TenantRecord,
    status: &BookingStatus,
    from: NaiveDate,
) -> Result<Vec<DateTime<Utc>>, AppError> {
    let search = SlotSearch {
        from: Some(from),
        to: Some(from + Duration::days(6)),
        location: CustomerLocation {
            postal_code: status.postal_code.clone(),
            coordinates: None,
        },
    };
    let offer = booking::slots(app, tenant, status.service_id, search).await?;
    if !offer.serves_location {
        return Ok(Vec::new());
    }
    Ok(slot_starts(&offer.slots).collect())
}

async fn reschedule_page(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    query: web::Query<RescheduleQuery>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, query.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let status = match booking::status(&app, &tenant, &token).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    if !changeable(&status) {
        return see_other(&with_lang(&status_href(&tenant, &token), lang));
    }
    let tz = tenant.time_zone.tz();
    let today = app.now().with_timezone(&tz).date_naive();
    let from = first_day(query.from.as_deref(), today);
    let starts = match offered_starts(&app, &tenant, &status, from).await {
        Ok(s) => s,
        Err(e) => return failure(e, lang, Some(&tenant)),
    };
    let page = reschedule_view(lang, &tenant, &token, &status, starts, (from, today), false);
    render(StatusCode::OK, &page, &tenant.website_origins)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RescheduleForm {
    lang: Option<String>,
    csrf: String,
    start: String,
}

/// The answer to a form whose CSRF token does not belong to its link.
fn forged(lang: Lang, tenant: &TenantRecord, token: &str) -> HttpResponse {
    let t = lang.texts();
    message(
        StatusCode::FORBIDDEN,
        lang,
        &Branding::of(tenant),
        t.error_title,
        t.expired_form,
        Some(with_lang(&status_href(tenant, token), lang)),
        &tenant.website_origins,
    )
}

async fn reschedule_submit(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    form: web::Form<RescheduleForm>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, form.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !csrf_matches(&token, &form.csrf) {
        return forged(lang, &tenant, &token);
    }
    let base = status_href(&tenant, &token);
    let Some(start) = parse_start(&form.start) else {
        return see_other(&with_lang(&format!("{base}/reschedule"), lang));
    };
    match booking::reschedule(&app, &tenant, &token, start).await {
        Ok(RescheduleOutcome::Rescheduled(_)) => {
            see_other(&with_lang(&format!("{base}?done=moved"), lang))
        }
        Ok(RescheduleOutcome::SlotTaken { alternatives }) => {
            let status = match booking::status(&app, &tenant, &token).await {
                Ok(s) => s,
                Err(e) => return failure(e, lang, Some(&tenant)),
            };
            let tz = tenant.time_zone.tz();
            let today = app.now().with_timezone(&tz).date_naive();
            let from = start.with_timezone(&tz).date_naive().max(today);
            let page = reschedule_view(
                lang,
                &tenant,
                &token,
                &status,
                alternatives,
                (from, today),
                true,
            );
            render(StatusCode::CONFLICT, &page, &tenant.website_origins)
        }
        Err(AppError::InvalidTransition { .. }) => {
            let t = lang.texts();
            page_message(
                StatusCode::CONFLICT,
                lang,
                &tenant,
                t.reschedule_title,
                t.not_changeable,
                Some(with_lang(&base, lang)),
            )
        }
        Err(AppError::Conflict { .. }) => {
            let t = lang.texts();
            page_message(
                StatusCode::CONFLICT,
                lang,
                &tenant,
                t.reschedule_title,
                t.not_served,
                Some(with_lang(&base, lang)),
            )
        }
        Err(e) => failure(e, lang, Some(&tenant)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CancelForm {
    lang: Option<String>,
    csrf: String,
    reason: String,
}

async fn cancel_submit(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    form: web::Form<CancelForm>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    let (tenant, lang) = match company(&req, &app, &slug, form.lang.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !csrf_matches(&token, &form.csrf) {
        return forged(lang, &tenant, &token);
    }
    let base = status_href(&tenant, &token);
    let reason = form.reason.trim();
    if Text::<500>::parse(reason).is_err() {
        let t = lang.texts();
        return page_message(
            StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            &tenant,
            t.cancel_title,
            t.invalid_notes,
            Some(with_lang(&base, lang)),
        );
    }
    let reason = (!reason.is_empty()).then(|| reason.to_owned());
    match booking::cancel(&app, &tenant, &token, reason).await {
        Ok(_) => see_other(&with_lang(&format!("{base}?done=cancelled"), lang)),
        Err(AppError::InvalidTransition { .. }) => {
            let t = lang.texts();
            page_message(
                StatusCode::CONFLICT,
                lang,
                &tenant,
                t.cancel_title,
                t.not_changeable,
                Some(with_lang(&base, lang)),
            )
        }
        Err(e) => failure(e, lang, Some(&tenant)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_belongs_to_its_link_only() {
        let token = "bk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert!(csrf_matches(token, &csrf_for(token)));
        assert!(!csrf_matches(token, &csrf_for("bk_other")));
        assert!(!csrf_matches(token, ""));
    }

    #[test]
    fn form_secrets_have_their_shape() {
        let secret = booking::new_form_secret().expect("random bytes");
        assert!(is_form_secret(&secret), "{secret}");
        assert!(!is_form_secret("bf_short"));
        assert!(!is_form_secret(&secret.replace("bf_", "bk_")));
        assert_ne!(
            booking::token_for_form(&secret),
            booking::token_for_form("bf_x")
        );
    }

    #[test]
    fn pages_may_be_framed_only_by_the_company_website() {
        assert!(content_security_policy(&[]).ends_with("frame-ancestors 'none'"));
        let csp = content_security_policy(&["https://fenster.example".to_owned()]);
        assert!(csp.ends_with("frame-ancestors https://fenster.example"));
        assert!(csp.contains("default-src 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
