//! Outcomes of conditional (optimistic) updates.

use crate::error::ResultExt;
use crate::{Conn, StoreError};

/// Outcome of an update guarded by the expected version.
#[derive(Debug)]
pub enum Versioned<T> {
    Updated(T),
    /// The row exists but has another version (stale `If-Match`).
    Stale {
        current_version: i64,
    },
    NotFound,
}

/// Tables with a `version` column and tenant-scoped rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VersionedTable {
    Users,
    ApiKeys,
    Processes,
    Customers,
    Tenants,
    Services,
    ReviewSchedules,
    Reviews,
}

impl VersionedTable {
    fn sql(self) -> &'static str {
        match self {
            VersionedTable::Users => "SELECT version FROM users WHERE tenant_id = $1 AND id = $2",
            VersionedTable::ApiKeys => {
                "SELECT version FROM api_keys WHERE tenant_id = $1 AND id = $2"
            }
            VersionedTable::Processes => {
                "SELECT version FROM processes WHERE tenant_id = $1 AND id = $2"
            }
            VersionedTable::Customers => {
                "SELECT version FROM customers WHERE tenant_id = $1 AND id = $2"
            }
            VersionedTable::Tenants => "SELECT version FROM tenants WHERE id = $1 AND id = $2",
            VersionedTable::Services => {
                "SELECT version FROM bookable_services WHERE tenant_id = $1 AND id = $2"
            }
            VersionedTable::ReviewSchedules => {
                "SELECT version FROM review_schedules WHERE tenant_id = $1 AND id = $2"
            }
            VersionedTable::Reviews => {
                "SELECT version FROM reviews WHERE tenant_id = $1 AND id = $2"
            }
        }
    }
}

/// The current version of a row, if it exists.
pub(crate) async fn current_version(
    conn: &mut Conn,
    table: VersionedTable,
    tenant: &str,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(table.sql())
        .bind(tenant)
        .bind(id)
        .fetch_optional(conn)
        .await
        .store()
}

/// Why a conditional update matched no row: stale version or no such row.
pub(crate) async fn missed<T>(
    conn: &mut Conn,
    table: VersionedTable,
    tenant: &str,
    id: &str,
) -> Result<Versioned<T>, StoreError> {
    Ok(match current_version(conn, table, tenant, id).await? {
        Some(current_version) => Versioned::Stale { current_version },
        None => Versioned::NotFound,
    })
}
