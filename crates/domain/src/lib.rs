//! Domain model of the work-order backend.
//!
//! This crate knows no I/O: no database, no HTTP. It holds typed ids, value types that can only
//! be built valid, roles and permissions, and the pure rules the other crates apply.

pub mod analytics;
pub mod appointment;
pub mod assign;
pub mod auth;
pub mod billing;
pub mod bounds;
pub mod brand;
pub mod calendar;
pub mod ids;
pub mod invoicing;
pub mod pagination;
pub mod process;
pub mod review;
pub mod slots;
pub mod tenant;
pub mod text;
pub mod user;
pub mod validation;
pub mod work_order;

pub use ids::{
    AbsenceId, ApiKeyId, AppointmentId, AttachmentId, BookingId, CustomerId, ProcessId,
    ProcessVersionId, ServiceId, SessionId, SiteId, StepId, TenantId, UserId, WorkOrderId,
};
pub use validation::{FieldError, ValidationErrors};
