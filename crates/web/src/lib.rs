//! The customer's pages: the hosted booking page of a company, the private page of a
//! booking (status, calendar file, reschedule, cancel) of a quote (accept, decline) and of an invoice (documents, GiroCode). Server-rendered HTML (askama
//! templates, checked at compile time), plain forms with POST-redirect-GET, no JavaScript
//! needed, German and English.
//!
//! A front door next to the JSON API: every page calls the same use cases of
//! `workorders_app::booking` the public API calls, and nothing here reads storage.
//!
//! Security: private links carry 256-bit tokens (never logged: the access log redacts
//! them); every form that changes a booking carries a CSRF token bound to its link; state
//! changes only by POST; a strict Content-Security-Policy (no scripts, no inline styles,
//! `frame-ancestors` only from the company's configured website origins).

mod i18n;
mod invoice_page;
mod pages;
mod quote_page;

pub use i18n::Lang;

/// Registers the customer's pages (the application data must hold a `web::Data<App>`).
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    quote_page::configure(cfg);
    invoice_page::configure(cfg);
    pages::configure(cfg);
}
