//! Storage for the work-order backend.
//!
//! One code path serves both backends through sqlx's `Any` driver: SQL is written once in the
//! common dialect (`$n` placeholders, `ON CONFLICT`, `RETURNING`), values are stored as text
//! (ids, instants, JSON) and 64-bit integers, and the few places where the backends differ
//! (write locking) are branched on [`Backend`]. The same behavioural test suite runs against both.

pub mod analytics;
pub mod api_keys;
pub mod appointments;
pub mod attachments;
pub mod billing;
pub mod calendars;
pub mod customers;
mod db;
pub mod emails;
mod error;
pub mod idempotency;
pub mod oversight;
pub mod password_resets;
pub mod processes;
pub mod rekey;
mod row;
pub mod sealed;
pub mod services;
pub mod sessions;
pub mod sync;
pub mod tenants;
mod time;
pub mod users;
mod versioned;
pub mod webhooks;
pub mod work_orders;

pub use db::{Backend, Db, DbOptions, PoolStats, WriteTx, deferred_commit};
pub use error::StoreError;
pub use sealed::{KeyError, KeyRing};
/// A database connection (inside a transaction: `WriteTx::conn`).
pub use sqlx::AnyConnection as Conn;
pub use time::{Clock, format_instant, now, parse_instant};
pub use versioned::Versioned;

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn in_list(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}
