//! What every use case and worker can reach: the database, the settings, metrics, password
//! hashing and attachment storage. One per server; cheap to clone.

use std::sync::Arc;

use workorders_persistence::Db;

use crate::blobs::{BlobStore, FsBlobStore};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub passwords: PasswordHasher,
    pub metrics: Arc<Metrics>,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Analytics reports computed at the same time (each streams much history).
    pub analytics_permits: Arc<tokio::sync::Semaphore>,
    /// Recently computed booking slots.
    pub slot_cache: Arc<crate::scheduling::SlotCache>,
    /// The budgets of the public booking surface (API and customer pages alike).
    pub public_limits: Arc<crate::throttle::PublicLimits>,
}

impl App {
    /// Business time: the database handle's clock (the system's, or a test's manual one).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.db.now()
    }

    /// The application on `db` with `settings` (attachments under the data directory).
    pub fn new(db: Db, settings: Settings) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            passwords: PasswordHasher::new()?,
            metrics: Arc::new(Metrics::new()),
            blobs: Arc::new(FsBlobStore::new(settings.data_dir.join("attachments"))),
            analytics_permits: Arc::new(tokio::sync::Semaphore::new(2)),
            slot_cache: Arc::new(crate::scheduling::SlotCache::default()),
            public_limits: Arc::new(crate::throttle::PublicLimits::new(
                settings.public_per_ip_per_minute,
                settings.public_per_tenant_per_minute,
            )),
            settings: Arc::new(settings),
        })
    }
}
