use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use workorders_domain::{CustomerId, TenantId, WorkOrderId};

use crate::StoreError;
use crate::error::ResultExt;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Connection pool usage, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The database: a pool plus what is needed to write safely on either backend.
///
/// SQLite allows one writer at a time. Write transactions therefore take an in-process lock
/// and start with `BEGIN IMMEDIATE`, so a transaction never has to upgrade a read lock to a
/// write lock (which SQLite refuses with "database is locked" without waiting). Readers run in
/// parallel thanks to WAL mode.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    max_connections: u32,
    sqlite_writer: Arc<Mutex<()>>,
    /// Woken when a commit queued outbox messages (the local delivery worker waits on it).
    outbox_signal: Arc<Notify>,
    /// Woken when a commit queued billing jobs or e-mails.
    work_signal: Arc<Notify>,
    /// The application's time (the system clock, or a manual one in tests).
    clock: crate::Clock,
    /// Keys that seal secrets at rest (see [`crate::sealed`]).
    keys: Arc<crate::KeyRing>,
}

/// A write transaction. On SQLite it also holds the process-wide writer lock until it is
/// committed or dropped (dropping rolls back).
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    /// Orders changed in this transaction, for the sync feed (written at commit).
    touched_orders: BTreeSet<(TenantId, WorkOrderId)>,
    /// Customers changed in this transaction: their running orders go into the feed.
    touched_customers: BTreeSet<(TenantId, CustomerId)>,
    /// Events for webhook endpoints, queued in the outbox at commit.
    emitted: Vec<crate::webhooks::Emitted>,
    outbox_signal: Arc<Notify>,
    work_signal: Arc<Notify>,
    /// Billing jobs or e-mails were queued: wake the worker at commit.
    wake_worker: bool,
    keys: Arc<crate::KeyRing>,
    /// Outbox messages already queued by a `prepare` (a parked transaction).
    queued: usize,
}

impl WriteTx {
    fn new(
        tx: Transaction<'static, Any>,
        writer: Option<OwnedMutexGuard<()>>,
        outbox_signal: Arc<Notify>,
        work_signal: Arc<Notify>,
        keys: Arc<crate::KeyRing>,
    ) -> Self {
        Self {
            tx,
            _writer: writer,
            touched_orders: BTreeSet::new(),
            touched_customers: BTreeSet::new(),
            emitted: Vec::new(),
            outbox_signal,
            work_signal,
            wake_worker: false,
            keys,
            queued: 0,
        }
    }

    /// The keys that seal secrets written in this transaction.
    pub fn keys(&self) -> &crate::KeyRing {
        &self.keys
    }

    /// Wakes the billing and e-mail worker once this transaction commits.
    pub fn notify_billing(&mut self) {
        self.wake_worker = true;
    }

    /// Tells the tenant's webhook endpoints about `event_type` once this transaction
    /// commits (the outbox rows are written in it).
    pub fn emit(&mut self, tenant: TenantId, event_type: &str, data: serde_json::Value) {
        self.emitted.push(crate::webhooks::Emitted {
            tenant_id: tenant,
            event_type: event_type.to_owned(),
            data,
            only_endpoint: None,
        });
    }

    /// Like `emit`, for one endpoint only (a test ping).
    pub fn emit_to(
        &mut self,
        tenant: TenantId,
        endpoint: uuid::Uuid,
        event_type: &str,
        data: serde_json::Value,
    ) {
        self.emitted.push(crate::webhooks::Emitted {
            tenant_id: tenant,
            event_type: event_type.to_owned(),
            data,
            only_endpoint: Some(endpoint),
        });
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Records that the order (or what devices see of it: steps, appointments) changed.
    pub fn touch_order(&mut self, tenant: TenantId, order: WorkOrderId) {
        self.touched_orders.insert((tenant, order));
    }

    /// Records that a customer changed: their running orders change for devices.
    pub fn touch_customer(&mut self, tenant: TenantId, customer: CustomerId) {
        self.touched_customers.insert((tenant, customer));
    }

    /// Writes the outbox rows and the sync feed for what changed (in this transaction);
    /// returns how many outbox messages it queued. Safe to call again (what it wrote is
    /// taken).
    async fn prepare(&mut self) -> Result<usize, StoreError> {
        let emitted = std::mem::take(&mut self.emitted);
        let queued = if emitted.is_empty() {
            0
        } else {
            crate::webhooks::enqueue(&mut self.tx, &self.keys, &emitted, crate::now()).await?
        };
        let orders = std::mem::take(&mut self.touched_orders);
        let customers = std::mem::take(&mut self.touched_customers);
        let mut tenants: Vec<TenantId> = orders
            .iter()
            .map(|(t, _)| *t)
            .chain(customers.iter().map(|(t, _)| *t))
            .collect();
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let seq = crate::sync::next_seq(&mut self.tx, tenant).await?;
            let ids: Vec<WorkOrderId> = orders
                .iter()
                .filter(|(t, _)| *t == tenant)
                .map(|(_, o)| *o)
                .collect();
            crate::sync::record_orders(&mut self.tx, tenant, &ids, seq).await?;
            for (_, customer) in customers.iter().filter(|(t, _)| *t == tenant) {
                crate::sync::record_customer(&mut self.tx, tenant, *customer, seq).await?;
            }
        }
        Ok(queued)
    }

    /// Writes the sync feed for what changed, then commits. The tenant's change counter is
    /// the last lock taken, so transactions commit in sequence order and no cycle with order
    /// locks is possible.
    ///
    /// Inside [`deferred_commit`] (a request with an `Idempotency-Key`) the transaction is
    /// prepared but parked instead: the caller of `deferred_commit` adds the stored reply to
    /// it and commits both at once, or drops it (rollback) when the request failed.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.queued += self.prepare().await?;
        if let Ok(slot) = DEFERRED.try_with(Arc::clone) {
            let mut parked = slot.lock().unwrap_or_else(|e| e.into_inner());
            if parked.is_none() {
                *parked = Some(self);
                return Ok(());
            }
        }
        self.commit_now().await
    }

    /// Commits now, also inside [`deferred_commit`].
    pub async fn commit_now(mut self) -> Result<(), StoreError> {
        let queued = self.queued + self.prepare().await?;
        let signal = self.outbox_signal.clone();
        let work = self.wake_worker.then(|| self.work_signal.clone());
        self.tx.commit().await.store()?;
        if queued > 0 {
            signal.notify_one();
        }
        if let Some(work) = work {
            work.notify_one();
        }
        Ok(())
    }
}

type Parked = Arc<std::sync::Mutex<Option<WriteTx>>>;

tokio::task_local! {
    /// The write transaction a request committed, parked until its reply is stored with it.
    static DEFERRED: Parked;
}

/// Runs `work` (a request's handler) so that the write transaction it commits is parked
/// rather than committed; returns the handler's output and that transaction. The caller
/// writes the request's stored reply into it and commits (`commit_now`), so the work and
/// the reply are one commit: a crash leaves both or neither. Dropping the transaction rolls
/// the work back. A second write transaction in the same request first commits the parked
/// one (the reply then goes with the last).
pub async fn deferred_commit<F: std::future::Future>(work: F) -> (F::Output, Option<WriteTx>) {
    let slot: Parked = Arc::new(std::sync::Mutex::new(None));
    let output = DEFERRED.scope(slot.clone(), work).await;
    let parked = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    (output, parked)
}

/// Whether the current request has a parked write transaction.
fn holds_parked() -> bool {
    DEFERRED
        .try_with(|slot| slot.lock().map(|p| p.is_some()).unwrap_or(false))
        .unwrap_or(false)
}

/// Inside [`deferred_commit`]: commits a parked transaction before a new one begins (one
/// writer at a time on SQLite; on PostgreSQL the new one must see what the first did).
async fn flush_parked() -> Result<(), StoreError> {
    let parked = DEFERRED
        .try_with(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take())
        .ok()
        .flatten();
    if let Some(tx) = parked {
        tracing::debug!("a request began a second write transaction; the first commits now");
        tx.commit_now().await?;
    }
    Ok(())
}

/// Adds `mode=rwc` to a SQLite URL that does not say otherwise, so the file is created.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Db {
    /// Connects to `url` (`sqlite://file.db` or `postgres://...`). Does not migrate.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Configuration(
                "database URL must start with sqlite: or postgres:".into(),
            ))
        })?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url),
            Backend::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // busy_timeout first: switching to WAL needs a lock that may be held.
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        // FULL: a committed transaction survives power loss, also in WAL mode.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .store()?;
        Ok(Self {
            pool,
            backend,
            max_connections: options.max_connections,
            sqlite_writer: Arc::new(Mutex::new(())),
            outbox_signal: Arc::new(Notify::new()),
            work_signal: Arc::new(Notify::new()),
            clock: crate::Clock::system(),
            keys: Arc::new(crate::KeyRing::ephemeral().map_err(|e| StoreError::Sealed {
                purpose: "key ring",
                source: e,
            })?),
        })
    }

    /// Seals secrets with `keys` from here on (the configured key file).
    pub fn with_keys(mut self, keys: Arc<crate::KeyRing>) -> Self {
        self.keys = keys;
        self
    }

    /// The keys that seal secrets at rest.
    pub fn keys(&self) -> &crate::KeyRing {
        &self.keys
    }

    /// The application's current time: every path that stores or compares business times
    /// (events, due dates, schedules, escalation) reads it here.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Uses `clock` for `now()` from here on (a manual clock in tests).
    pub fn with_clock(mut self, clock: crate::Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &crate::Clock {
        &self.clock
    }

    /// Applies the embedded migrations of this backend. Migrations are forward-only: a
    /// database that a newer version already migrated is refused with a clear error
    /// ([`StoreError::SchemaTooNew`]) instead of being touched.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let known = self
            .backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let applied: Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await;
        // No table yet: a new database.
        if let Ok(Some(applied)) = applied
            && applied > known
        {
            return Err(StoreError::SchemaTooNew { applied, known });
        }
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// The newest schema version this binary knows.
    pub fn schema_version(&self) -> i64 {
        self.backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`: one read
    /// snapshot, writers go on). Not for PostgreSQL (use `pg_dump`).
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "VACUUM INTO is SQLite only; use pg_dump for PostgreSQL".into(),
            )));
        }
        let target = path.to_string_lossy().replace('\'', "''");
        let mut conn = self.pool.acquire().await.store()?;
        conn.execute(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
            .await
            .store()?;
        Ok(())
    }

    /// `PRAGMA integrity_check` of a SQLite database (`ok` when sound).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .store()?;
        Ok(rows.join("; "))
    }

    /// True when the database answers and every embedded migration has been applied.
    pub async fn is_ready(&self) -> bool {
        let expected = self.backend.migrator().iter().count();
        let applied: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await;
        match applied {
            Ok(n) => usize::try_from(n).is_ok_and(|n| n >= expected),
            Err(error) => {
                tracing::warn!(error = %error, "readiness check failed");
                false
            }
        }
    }

    /// Keeps the query planner's statistics fresh. SQLite has no background statistics:
    /// `PRAGMA optimize` (bounded by `analysis_limit`) analyzes the tables that need it.
    /// PostgreSQL's autovacuum does this itself.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await.store()?;
            conn.execute("PRAGMA analysis_limit = 1000").await.store()?;
            conn.execute("PRAGMA optimize").await.store()?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool. A request whose write transaction is parked (see [`deferred_commit`]) must
    /// not take a second connection: it would hold the first (and its locks) while waiting
    /// for another, and enough such requests exhaust the pool. Debug builds assert it, so the
    /// test suite finds a handler that reads after its commit.
    pub fn pool(&self) -> &AnyPool {
        debug_assert!(
            !holds_parked(),
            "a connection from the pool was requested after this request's write transaction \
             committed (parked): render the reply before the commit, on the transaction"
        );
        &self.pool
    }

    /// A pooled connection for reads outside a transaction (same rule as [`Db::pool`]).
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        self.pool().acquire().await.store()
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.max_connections,
        }
    }

    /// Starts a write transaction (see the type's documentation for SQLite).
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        flush_parked().await?;
        match self.backend {
            Backend::Sqlite => {
                let guard = self.sqlite_writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.store()?;
                Ok(WriteTx::new(
                    tx,
                    Some(guard),
                    self.outbox_signal.clone(),
                    self.work_signal.clone(),
                    self.keys.clone(),
                ))
            }
            Backend::Postgres => {
                let tx = self.pool.begin().await.store()?;
                Ok(WriteTx::new(
                    tx,
                    None,
                    self.outbox_signal.clone(),
                    self.work_signal.clone(),
                    self.keys.clone(),
                ))
            }
        }
    }

    /// Woken after a commit that queued outbox messages.
    /// Notified after commits that queued billing jobs or e-mails.
    pub fn work_signal(&self) -> Arc<Notify> {
        self.work_signal.clone()
    }

    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
