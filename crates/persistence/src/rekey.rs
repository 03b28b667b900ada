//! Sealing every stored secret with the current key: after a key rotation (`workorders
//! rekey`), and at start for values written before sealing existed.

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Db, KeyRing, StoreError};

/// A sealed column: table, key column, value column, purpose, and an extra condition.
struct Column {
    table: &'static str,
    key: &'static str,
    column: &'static str,
    purpose: &'static str,
    filter: &'static str,
}

/// Every column that holds sealed values.
const COLUMNS: [Column; 6] = [
    Column {
        table: "webhook_endpoints",
        key: "id",
        column: "secret",
        purpose: "webhook_secret",
        filter: "",
    },
    Column {
        table: "webhook_endpoints",
        key: "id",
        column: "previous_secret",
        purpose: "webhook_secret",
        filter: "",
    },
    Column {
        table: "emails",
        key: "id",
        column: "body",
        purpose: "email_body",
        filter: " AND body <> ''",
    },
    Column {
        table: "idempotency_keys",
        key: "scope || '|' || idempotency_key",
        column: "response_body",
        purpose: "idempotent_response",
        filter: "",
    },
    Column {
        table: "idempotency_keys",
        key: "scope || '|' || idempotency_key",
        column: "response_headers",
        purpose: "idempotent_response",
        filter: "",
    },
    Column {
        table: "refresh_tokens",
        key: "id",
        column: "successor_sealed",
        purpose: "refresh_successor",
        filter: "",
    },
];

/// How many values were sealed again, per column (`table.column`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResealReport {
    pub resealed: Vec<(String, u64)>,
}

impl ResealReport {
    pub fn total(&self) -> u64 {
        self.resealed.iter().map(|(_, n)| n).sum()
    }
}

fn sealed_err(purpose: &'static str) -> impl Fn(crate::KeyError) -> StoreError {
    move |source| StoreError::Sealed { purpose, source }
}

/// Which stored values to seal again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only values stored in plain text (written before sealing existed): at every start.
    PlainOnly,
    /// Also values sealed with an older key (`workorders rekey` after a rotation).
    All,
}

/// Seals, with the first key of the ring, every stored secret that is plain text (or, with
/// [`Reseal::All`], sealed with an older key). Safe to run while servers serve (each value is
/// replaced only if it did not change meanwhile) and to run again.
pub async fn reseal(db: &Db, mode: Reseal) -> Result<ResealReport, StoreError> {
    let keys: &KeyRing = db.keys();
    let mut report = ResealReport::default();
    for c in &COLUMNS {
        let mut count = 0u64;
        let mut after = String::new();
        loop {
            let sql = format!(
                "SELECT {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL{filter} \
                 AND {key} > $1 ORDER BY {key} LIMIT 500",
                key = c.key,
                column = c.column,
                table = c.table,
                filter = c.filter,
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&after)
                .fetch_all(db.pool())
                .await
                .store()?;
            let Some(last) = rows.last() else { break };
            after = last.text("k")?;
            for row in &rows {
                let value = row.text("v")?;
                let wanted = match mode {
                    Reseal::PlainOnly => !KeyRing::is_sealed(&value),
                    Reseal::All => keys.needs_reseal(&value),
                };
                if !wanted {
                    continue;
                }
                let plain = keys
                    .open(c.purpose, &value)
                    .map_err(sealed_err(c.purpose))?;
                let sealed = keys
                    .seal(c.purpose, &plain)
                    .map_err(sealed_err(c.purpose))?;
                let sql = format!(
                    "UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3",
                    key = c.key,
                    column = c.column,
                    table = c.table,
                );
                let mut tx = db.begin_write().await?;
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(sealed)
                    .bind(row.text("k")?)
                    .bind(&value)
                    .execute(tx.conn())
                    .await
                    .store()?;
                tx.commit().await?;
                count += done.rows_affected();
            }
        }
        report
            .resealed
            .push((format!("{}.{}", c.table, c.column), count));
    }
    Ok(report)
}
