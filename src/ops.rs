//! Operator commands that work on the database directly: online backups.

use std::path::Path;

use anyhow::Context;
use workorders_persistence::{Backend, Db, DbOptions};

/// Connects without migrating (a backup copies whatever schema the database has).
pub async fn open(database_url: &str) -> anyhow::Result<Db> {
    Db::connect(
        database_url,
        &DbOptions {
            max_connections: 2,
            ..DbOptions::default()
        },
    )
    .await
    .context("connecting to the database")
}

/// Writes a consistent copy of the database to `output` while servers keep running.
///
/// SQLite: `VACUUM INTO` reads one snapshot of the database (WAL included) and writes it as
/// a new, compact database file; writers are not blocked. The copy is checked with
/// `PRAGMA integrity_check`. PostgreSQL: `pg_dump --format=custom` (a snapshot too),
/// restored with `pg_restore`.
pub async fn backup(database_url: &str, output: &Path) -> anyhow::Result<()> {
    if output.exists() {
        anyhow::bail!("{} exists; give a new file name", output.display());
    }
    match Backend::from_url(database_url) {
        Some(Backend::Sqlite) => {
            let db = open(database_url).await?;
            db.backup_into(output)
                .await
                .with_context(|| format!("writing the backup {}", output.display()))?;
            db.close().await;
            let copy = open(&format!("sqlite://{}", output.display())).await?;
            let check = copy.integrity_check().await?;
            copy.close().await;
            if check != "ok" {
                anyhow::bail!(
                    "the backup {} failed its integrity check: {check}",
                    output.display()
                );
            }
            let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
            println!(
                "backup written to {} ({size} bytes, integrity ok)",
                output.display()
            );
            Ok(())
        }
        Some(Backend::Postgres) => {
            let status = std::process::Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--no-owner")
                .arg(format!("--file={}", output.display()))
                .arg(format!("--dbname={database_url}"))
                .status()
                .context("running pg_dump (install the PostgreSQL client tools of the server's major version)")?;
            if !status.success() {
                anyhow::bail!("pg_dump failed ({status})");
            }
            println!(
                "backup written to {} (pg_dump custom format; restore with pg_restore)",
                output.display()
            );
            Ok(())
        }
        None => anyhow::bail!("the database URL must start with sqlite: or postgres:"),
    }
}
