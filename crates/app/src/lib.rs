//! The application layer: use cases and background workers over the domain
//! (`workorders-domain`) and storage (`workorders-persistence`), shared by every front door
//! (the JSON API, the customer web pages, the command line).
//!
//! Nothing here knows HTTP: no actix, no status codes, no OpenAPI types. A use case takes
//! typed input and the caller's identity and returns a typed result or an [`AppError`];
//! transactions, the outbox and e-mail queueing happen here.

pub mod accounts;
pub mod analytics;
pub mod api_keys;
pub mod appointments;
pub mod attachments;
pub mod billing;
pub mod billing_profile;
pub mod billing_worker;
pub mod blobs;
pub mod booking;
pub mod calendars;
pub mod catalogue;
pub mod config;
pub mod context;
pub mod customers;
pub mod dispatch;
pub mod document_lines;
pub mod email_templates;
pub mod error;
pub mod health;
pub mod ics;
pub mod identity;
pub mod invoices;
pub mod listing;
pub mod metrics;
pub mod operator;
pub mod oversight;
pub mod password;
pub mod processes;
pub mod quotes;
pub mod reviews;
pub mod scheduling;
pub mod services;
pub mod sessions;
pub mod staff_mail;
pub mod sync;
pub mod tenant;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod webhook_endpoints;
pub mod webhooks;
pub mod work_orders;
pub mod workflow;

pub use context::App;
pub use error::{AppError, AppResult};
