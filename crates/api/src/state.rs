//! Shared state of the HTTP adapter: the application plus what only HTTP needs (token
//! keys, rate limiters).

use std::ops::Deref;
use std::sync::Arc;

use workorders_app::App;
use workorders_persistence::Db;

use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::RateLimiter;
use crate::config::Settings;

/// What every handler can reach. Cheap to clone. Dereferences to the [`App`] (database,
/// settings, metrics, passwords, attachments).
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub jwt: Arc<JwtKeys>,
    pub login_limiter: Arc<RateLimiter>,
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    /// The state of a server (or of a command-line operation) on `db`.
    pub fn new(
        db: Db,
        settings: Settings,
        jwt_secret: &crate::config::Secret,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            jwt: Arc::new(JwtKeys::new(
                jwt_secret,
                &settings.jwt_issuer,
                &settings.jwt_audience,
                settings.access_token_ttl,
            )),
            login_limiter: Arc::new(RateLimiter::new(
                settings.login_max_failures,
                settings.login_failure_window,
                settings.auth_attempts_per_minute,
            )),
            app: App::new(db, settings)?,
        })
    }
}
