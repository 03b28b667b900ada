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

/// Parses claimed rows one by one: a row that cannot be read is set aside with `quarantine`
/// (an UPDATE taking the row's id as `$1` and the reason as `$2`, in the claiming
/// transaction) instead of stopping the work of every other row. Returns the readable ones
/// and how many were set aside.
pub(crate) async fn readable_rows<T>(
    conn: &mut Conn,
    rows: &[sqlx::any::AnyRow],
    parse: impl Fn(&sqlx::any::AnyRow) -> Result<T, StoreError>,
    quarantine: &'static str,
) -> Result<(Vec<T>, usize), StoreError> {
    use crate::error::ResultExt;
    use sqlx::Row;
    let mut good = Vec::with_capacity(rows.len());
    let mut bad = 0;
    for row in rows {
        match parse(row) {
            Ok(item) => good.push(item),
            Err(e) => {
                let id: String = row.try_get("id").unwrap_or_default();
                tracing::error!(row = %id, error = %e, "an unreadable row was set aside");
                sqlx::query(quarantine)
                    .bind(id)
                    .bind(format!("unreadable row: {e}"))
                    .execute(&mut *conn)
                    .await
                    .store()?;
                bad += 1;
            }
        }
    }
    Ok((good, bad))
}
