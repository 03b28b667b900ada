//! Shared application state.

use std::sync::Arc;

use workorders_persistence::Db;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::RateLimiter;
use crate::blobs::BlobStore;
use crate::config::Settings;
use crate::observability::Metrics;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    pub passwords: PasswordHasher,
    pub login_limiter: Arc<RateLimiter>,
    /// Public endpoints per client address.
    pub public_ip_limiter: Arc<RateLimiter>,
    /// Public endpoints per tenant.
    pub public_tenant_limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Recently computed booking-widget slots.
    pub slot_cache: Arc<crate::scheduling::SlotCache>,
    /// Analytics reports computed at the same time (each streams much history).
    pub analytics_permits: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The state of a server (or of a command-line operation) on `db`.
    pub fn new(
        db: Db,
        settings: Settings,
        jwt_secret: &crate::config::Secret,
    ) -> anyhow::Result<Self> {
        use std::time::Duration;
        Ok(Self {
            db,
            jwt: Arc::new(JwtKeys::new(
                jwt_secret,
                &settings.jwt_issuer,
                &settings.jwt_audience,
                settings.access_token_ttl,
            )),
            passwords: PasswordHasher::new()?,
            login_limiter: Arc::new(RateLimiter::new(
                settings.login_max_failures,
                settings.login_failure_window,
                settings.auth_attempts_per_minute,
            )),
            public_ip_limiter: Arc::new(RateLimiter::new(
                0,
                Duration::from_secs(60),
                settings.public_per_ip_per_minute,
            )),
            public_tenant_limiter: Arc::new(RateLimiter::new(
                0,
                Duration::from_secs(60),
                settings.public_per_tenant_per_minute,
            )),
            metrics: Arc::new(Metrics::new()),
            slot_cache: Arc::new(crate::scheduling::SlotCache::default()),
            analytics_permits: Arc::new(tokio::sync::Semaphore::new(2)),
            blobs: Arc::new(crate::blobs::FsBlobStore::new(
                settings.data_dir.join("attachments"),
            )),
            settings: Arc::new(settings),
        })
    }
}
