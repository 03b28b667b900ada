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
