//! The actix-web REST API of the work-order backend.
//!
//! [`startup::Application`] builds the one server used in production and in tests. The
//! API contract of `shared/CONVENTIONS.md` is implemented once here: problem details
//! ([`error`]), strict JSON bodies ([`extract`]), ETag/If-Match ([`extract::IfMatch`]),
//! cursor pagination ([`pagination`]), Idempotency-Key replay ([`idempotency`]),
//! authentication ([`auth`]), metrics and request ids ([`observability`]).

use workorders_app::accounts;
pub mod auth;
use workorders_app::billing_worker;
pub mod client_ip;
pub use workorders_app::config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod input_guard;
pub mod observability;
pub mod openapi;
pub mod operations;
use workorders_app::oversight;
pub mod pages;
pub mod pagination;
pub mod routes;
pub mod schemas;
pub mod startup;
pub mod state;
pub mod telemetry;
use workorders_app::webhooks;

pub use config::Settings;
pub use startup::Application;
