use thiserror::Error;

/// What can go wrong in storage. Constraint violations that mean a client error are mapped to
/// `Conflict` with a stable name; everything else keeps its cause for the log.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the name says which (`tenants_slug_key`, ...).
    #[error("unique constraint {0} violated")]
    Conflict(&'static str),
    /// A stored value could not be read back (corrupt or unexpected data).
    #[error("stored value in column {column} is invalid: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    /// A sealed value could not be opened (a missing key, or damage).
    #[error("sealed value in {purpose} cannot be opened: {source}")]
    Sealed {
        purpose: &'static str,
        source: crate::KeyError,
    },
    /// The database was migrated by a newer version of the server than this one.
    #[error(
        "the database schema is at version {applied}, newer than this binary knows ({known}): \
         a newer workorders has upgraded it. Migrations only go forward: run that newer version, \
         or restore the backup taken before the upgrade to go back"
    )]
    SchemaTooNew { applied: i64, known: i64 },
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Unique constraints that clients can run into, with the column list SQLite reports for them.
const UNIQUE_CONSTRAINTS: [(&str, &str); 10] = [
    (
        "catalogue_items_code_idx",
        "catalogue_items.tenant_id, catalogue_items.code",
    ),
    (
        "bookings_reference_key",
        "bookings.tenant_id, bookings.reference",
    ),
    ("bookings_token_key", "bookings.token_hash"),
    (
        "processes_tenant_name_key",
        "processes.tenant_id, processes.name",
    ),
    (
        "process_versions_number_key",
        "process_versions.process_id, process_versions.number",
    ),
    ("tenants_slug_key", "tenants.slug"),
    ("users_tenant_email_key", "users.tenant_id, users.email"),
    ("api_keys_prefix_key", "api_keys.prefix"),
    ("refresh_tokens_hash_key", "refresh_tokens.token_hash"),
    (
        "idempotency_keys_pkey",
        "idempotency_keys.scope, idempotency_keys.idempotency_key",
    ),
];

impl StoreError {
    /// Maps a database error to `Conflict` when it is a known unique violation. PostgreSQL
    /// names the constraint; SQLite names the columns in its message.
    pub(crate) fn from_sqlx(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            let message = db.message();
            for (constraint, columns) in UNIQUE_CONSTRAINTS {
                let pg_match = db.constraint() == Some(constraint);
                let sqlite_match = message.ends_with(columns);
                if pg_match || sqlite_match {
                    return StoreError::Conflict(constraint);
                }
            }
        }
        StoreError::Database(error)
    }

    pub fn is_conflict(&self, constraint: &str) -> bool {
        matches!(self, StoreError::Conflict(c) if *c == constraint)
    }
}

pub(crate) trait ResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(StoreError::from_sqlx)
    }
}
