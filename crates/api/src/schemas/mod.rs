//! Request and response types shared by several route modules, with their OpenAPI schemas
//! and the conversions from the application's types. Route modules import these, never each
//! other.

pub mod appointments;
pub mod attachments;
pub mod billing;
pub mod customers;
pub mod orders;
pub mod people;
pub mod processes;
pub mod tenant;
