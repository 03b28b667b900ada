//! Domain model of the work-order backend.
//!
//! This crate knows no I/O: no database, no HTTP. It holds typed ids, value types that can only
//! be built valid, roles and permissions, and the pure rules the other crates apply.

pub mod auth;
pub mod ids;
pub mod pagination;
pub mod tenant;
pub mod user;
pub mod validation;

pub use ids::{ApiKeyId, SessionId, TenantId, UserId};
pub use validation::{FieldError, ValidationErrors};
