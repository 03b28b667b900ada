//! The actix-web REST API of the work-order backend.
//!
//! [`startup::Application`] builds the one server used in production and in tests. The
//! API contract of `shared/CONVENTIONS.md` is implemented once here: problem details
//! ([`error`]), strict JSON bodies ([`extract`]), ETag/If-Match ([`extract::IfMatch`]),
//! cursor pagination ([`pagination`]), Idempotency-Key replay ([`idempotency`]),
//! authentication ([`auth`]), metrics and request ids ([`observability`]).

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod billing;
pub mod billing_worker;
pub mod blobs;
pub mod client_ip;
pub mod config;
pub mod demo;
pub mod demo_billing;
pub mod demo_oversight;
pub mod demo_work;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod input_guard;
pub mod observability;
pub mod openapi;
pub mod operations;
pub mod oversight;
pub mod pages;
pub mod pagination;
pub mod routes;
pub mod scheduling;
pub mod staff_mail;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
pub mod workflow;

pub use config::Settings;
pub use startup::Application;
