//! HTTP routes, one module per resource. Handlers parse, call the application's use cases
//! (or, until they move there, storage and domain rules), and render. Route modules never
//! import one another; what they share is in [`crate::schemas`] or `workorders_app`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::extract::with_etag;

pub mod analytics;
pub mod api_keys;
pub mod appointments;
pub mod attachments;
pub mod auth;
pub mod billing;
pub mod calendars;
pub mod customers;
pub mod dispatch;
pub mod health;
pub mod invoices;
pub mod processes;
pub mod public;
pub mod quotes;
pub mod reviews;
pub mod services;
pub mod signup;
pub mod steps;
pub mod sync;
pub mod tenant;
pub mod users;
pub mod webhooks;
pub mod work_orders;

/// Registers every documented route. Used by the server and by the OpenAPI generator.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::livez)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope::scope("/v1")
                .wrap(actix_web::middleware::from_fn(
                    crate::idempotency::idempotency_key,
                ))
                .service(signup::sign_up)
                .service(auth::create_token)
                .service(auth::refresh_token)
                .service(auth::logout)
                .service(auth::request_password_reset)
                .service(auth::set_password)
                .service(tenant::get_tenant)
                .service(tenant::update_tenant)
                .service(tenant::put_tenant_logo)
                .service(tenant::delete_tenant_logo)
                .service(users::get_me)
                .service(users::create_user)
                .service(users::list_users)
                .service(users::get_user)
                .service(users::update_user)
                .service(users::deactivate_user)
                .service(users::reactivate_user)
                .service(users::reset_user_password)
                .service(api_keys::create_api_key)
                .service(api_keys::list_api_keys)
                .service(api_keys::get_api_key)
                .service(api_keys::revoke_api_key)
                .service(processes::create_process)
                .service(processes::list_processes)
                .service(processes::get_process)
                .service(processes::update_process)
                .service(processes::create_process_version)
                .service(processes::get_process_version)
                .service(processes::publish_process_version)
                .service(processes::archive_process)
                .service(customers::create_customer)
                .service(customers::list_customers)
                .service(customers::get_customer)
                .service(customers::update_customer)
                .service(customers::delete_customer)
                .service(customers::export_customer)
                .service(customers::create_site)
                .service(customers::list_sites)
                .service(work_orders::create_work_order)
                .service(work_orders::list_work_orders)
                .service(work_orders::get_work_order)
                .service(work_orders::update_work_order)
                .service(work_orders::run_work_order_action)
                .service(work_orders::get_work_order_history)
                .service(steps::run_step_action)
                .service(steps::reassign_step)
                .service(steps::set_checklist_item)
                .service(steps::upload_step_evidence)
                .service(steps::get_attachment)
                .service(steps::list_my_work)
                .service(attachments::upload_attachment)
                .service(attachments::list_attachments)
                .service(sync::pull)
                .service(sync::push)
                .service(sync::list_field_entries)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::test_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::get_webhook_delivery)
                .service(webhooks::redeliver_webhook)
                .service(calendars::get_calendar)
                .service(calendars::set_calendar)
                .service(calendars::create_absence)
                .service(calendars::list_absences)
                .service(calendars::get_absence)
                .service(calendars::delete_absence)
                .service(calendars::create_calendar_feed)
                .service(calendars::revoke_calendar_feed)
                .service(calendars::get_calendar_feed)
                .service(appointments::create_appointment)
                .service(appointments::list_appointments)
                .service(appointments::get_appointment)
                .service(appointments::update_appointment)
                .service(appointments::run_appointment_action)
                .service(services::create_service)
                .service(services::list_services)
                .service(services::get_service)
                .service(services::update_service)
                .service(dispatch::suggest_assignee)
                .service(dispatch::list_service_slots)
                .service(dispatch::schedule_step)
                .service(public::list_public_services)
                .service(public::list_slots)
                .service(public::create_booking)
                .service(public::get_booking)
                .service(public::reschedule_booking)
                .service(public::cancel_booking)
                .service(quotes::get_public_quote)
                .service(quotes::answer_public_quote)
                .service(billing::get_billing_profile)
                .service(billing::put_billing_profile)
                .service(billing::create_catalogue_item)
                .service(billing::list_catalogue_items)
                .service(billing::get_catalogue_item)
                .service(billing::update_catalogue_item)
                .service(billing::list_email_templates)
                .service(billing::get_email_template)
                .service(billing::put_email_template)
                .service(billing::delete_email_template)
                .service(quotes::create_quote)
                .service(quotes::list_work_order_quotes)
                .service(quotes::get_quote)
                .service(quotes::update_quote)
                .service(quotes::send_quote)
                .service(invoices::create_invoice)
                .service(invoices::list_invoices)
                .service(invoices::get_invoice)
                .service(invoices::update_invoice)
                .service(invoices::delete_invoice)
                .service(invoices::issue_invoice)
                .service(invoices::send_invoice)
                .service(invoices::record_payment)
                .service(invoices::create_credit_note)
                .service(invoices::get_invoice_pdf)
                .service(invoices::get_invoice_xml)
                .service(invoices::list_work_order_emails)
                .service(analytics::compare_process_versions)
                .service(analytics::get_process_analytics)
                .service(reviews::create_review_schedule)
                .service(reviews::list_review_schedules)
                .service(reviews::get_review_schedule)
                .service(reviews::update_review_schedule)
                .service(reviews::delete_review_schedule)
                .service(reviews::list_reviews)
                .service(reviews::get_review)
                .service(reviews::update_review)
                .service(reviews::sign_off_review)
                .service(reviews::acknowledge_review_item)
                .service(reviews::create_review_decision)
                .service(reviews::get_review_decision)
                .service(reviews::link_review_decision)
                .service(reviews::get_oversight)
                .service(reviews::list_process_decisions),
        );
}

/// `201 Created` with `Location` and `ETag`.
pub fn created(location: String, version: i64, body: &impl Serialize) -> HttpResponse {
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, location));
    with_etag(&mut builder, version);
    builder.json(body)
}

/// `200 OK` with `ETag`.
pub fn ok_versioned(version: i64, body: &impl Serialize) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    with_etag(&mut builder, version);
    builder.json(body)
}

/// The client's address: the peer, or behind a trusted proxy the forwarded client
/// (`--trusted-proxies`, see [`crate::client_ip`]).
pub fn client_ip(req: &HttpRequest) -> String {
    crate::client_ip::of_request(req)
}

/// Deserializes a field that may be absent (leave unchanged), `null` (clear) or a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
