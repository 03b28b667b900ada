//! Server settings. The binary fills them from flags and environment variables (see the
//! README's configuration table); every field has a default that works on a laptop.

use std::fmt;
use std::time::Duration;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Pretty,
    /// One JSON object per line (production, log shippers).
    Json,
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub bind: String,
    /// `sqlite://workorders.db` or `postgres://user@host/db`.
    pub database_url: String,
    pub db_max_connections: u32,
    /// HMAC secret for access tokens (HS256). `None`: generate one at start (development).
    pub jwt_secret: Option<Secret>,
    /// Refuse to start without explicit production configuration (JWT secret).
    pub require_config: bool,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A session (refresh-token family) ends after this long, however often it is refreshed.
    pub session_max_age: Duration,
    /// Origins allowed by CORS (`*` for any). Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Whether `POST /v1/signup` creates new tenants.
    pub signup_enabled: bool,
    /// Create the demo tenant and users at start.
    pub demo: bool,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Failed sign-ins per account before it is throttled.
    pub login_max_failures: u32,
    /// Window for counting failed sign-ins.
    pub login_failure_window: Duration,
    /// Sign-in and sign-up attempts per client address and minute.
    pub auth_attempts_per_minute: u32,
    /// Time given to in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
    /// Public (booking widget) requests per client address and minute.
    pub public_per_ip_per_minute: u32,
    /// Public (booking widget) requests per tenant and minute.
    pub public_per_tenant_per_minute: u32,
    /// Where attachment files are stored (`<data dir>/attachments`).
    pub data_dir: std::path::PathBuf,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// Customer e-mail and the billing worker.
    pub mail: MailSettings,
    /// Escalation and review schedules.
    pub oversight: OversightSettings,
    /// Where business time comes from (the system clock; tests use a manual one).
    pub clock: workorders_persistence::Clock,
    /// Keys that seal secrets at rest (`--secret-key-file`). `None`: in development a key
    /// file is created in the data directory (with a warning); `require_config` refuses.
    pub secret_keys: Option<std::sync::Arc<workorders_persistence::KeyRing>>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed. Empty:
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A refresh token presented again this soon after its rotation, while its successor is
    /// unused, gets the same new pair (a handheld retrying a lost answer) instead of
    /// revoking the session.
    pub refresh_grace: Duration,
    /// How long a password-reset link works.
    pub password_reset_ttl: Duration,
    /// How long an invitation (set your first password) works.
    pub invitation_ttl: Duration,
    /// An `Idempotency-Key` claim whose request has not finished after this long (its
    /// server died) may be taken over by a retry.
    pub idempotency_lease: Duration,
    /// Debug builds only, for the check that a server error is noticed in the log (`.ci/fuzz`):
    /// `GET /__test/panic` panics. Set from `WORKORDERS_TEST_PANIC_ROUTE=1`; never in release.
    pub test_panic_route: bool,
}

/// Escalation of overdue work and the review scheduler.
#[derive(Debug, Clone)]
pub struct OversightSettings {
    /// How often each instance looks for overdue steps, stuck orders, missed appointments,
    /// due reviews and reviews not signed off.
    pub scan: Duration,
    /// A review created more than this long after its scheduled time is marked late.
    pub late_after: Duration,
}

impl Default for OversightSettings {
    fn default() -> Self {
        Self {
            scan: Duration::from_secs(30),
            late_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Outgoing e-mail (invoices, quotes, booking confirmations, on-the-way notices).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// SMTP relay. `None`: messages stay queued (visible on the invoice and the order) until
    /// a server with SMTP settings runs.
    pub smtp: Option<workorders_mail::SmtpSettings>,
    /// Base URL of links in e-mails to customers (quote acceptance), e.g.
    /// `https://orders.example.com`.
    pub public_base_url: String,
    /// Attempts before a message fails for good (transient errors are retried).
    pub max_attempts: u32,
    /// Multiplies the retry schedule (1 min, 5 min, 15 min, 1 h, 2 h, ...). Tests shrink it.
    pub retry_scale: f64,
    /// How long a claimed message or billing job stays with its worker.
    pub lease: Duration,
    /// Polling interval for due messages and jobs; local commits wake the worker at once.
    pub poll: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp: None,
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            max_attempts: 10,
            retry_scale: 1.0,
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(1),
        }
    }
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow targets on loopback, private and link-local networks (on-premise installs,
    /// tests). Off: such targets are refused at registration and at delivery.
    pub allow_private: bool,
    /// Time allowed per attempt.
    pub timeout: Duration,
    /// Multiplies the retry schedule (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h,
    /// 12 h × 3: about 52 hours in all). Tests shrink it.
    pub retry_scale: f64,
    /// Attempts before a message is dead.
    pub max_attempts: u32,
    /// How long a claimed message stays with its worker before another may take it.
    pub lease: Duration,
    /// An endpoint is disabled after this many failed attempts in a row ...
    pub disable_after_failures: u32,
    /// ... that have gone on for at least this long.
    pub disable_after: Duration,
    /// Polling interval for due messages (retries, other instances' messages); local
    /// commits wake the worker at once.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_scale: 1.0,
            max_attempts: 13,
            lease: Duration::from_secs(60),
            disable_after_failures: 50,
            disable_after: Duration::from_secs(3 * 24 * 3600),
            poll: Duration::from_secs(1),
        }
    }
}

impl Settings {
    /// Defaults for a laptop: SQLite file in the working directory, port 8080.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            database_url: database_url.into(),
            db_max_connections: 10,
            jwt_secret: None,
            require_config: false,
            jwt_issuer: "workorders".to_owned(),
            jwt_audience: "workorders-api".to_owned(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            session_max_age: Duration::from_secs(90 * 24 * 3600),
            cors_origins: Vec::new(),
            signup_enabled: true,
            demo: false,
            workers: 0,
            max_body_bytes: 1024 * 1024,
            login_max_failures: 5,
            login_failure_window: Duration::from_secs(15 * 60),
            auth_attempts_per_minute: 30,
            shutdown_timeout: Duration::from_secs(30),
            public_per_ip_per_minute: 120,
            public_per_tenant_per_minute: 1200,
            data_dir: std::path::PathBuf::from("data"),
            webhooks: WebhookSettings::default(),
            mail: MailSettings::default(),
            oversight: OversightSettings::default(),
            clock: workorders_persistence::Clock::system(),
            secret_keys: None,
            trusted_proxies: Vec::new(),
            refresh_grace: Duration::from_secs(30),
            password_reset_ttl: Duration::from_secs(3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            idempotency_lease: Duration::from_secs(300),
            test_panic_route: false,
        }
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "a JWT secret is required (--jwt-secret-file or WORKORDERS_JWT_SECRET) when --require-config is set"
    )]
    MissingJwtSecret,
    #[error("the JWT secret must have at least 32 bytes")]
    WeakJwtSecret,
    #[error("the database URL must start with sqlite: or postgres:")]
    DatabaseUrl,
    #[error(
        "a secret key file is required (--secret-key-file or WORKORDERS_SECRET_KEY_FILE) when --require-config is set; create one with `workorders secret-key generate`"
    )]
    MissingSecretKey,
}

impl Settings {
    pub fn check(&self) -> Result<(), ConfigError> {
        match &self.jwt_secret {
            None if self.require_config => return Err(ConfigError::MissingJwtSecret),
            Some(secret) if secret.expose().len() < 32 => return Err(ConfigError::WeakJwtSecret),
            _ => {}
        }
        if workorders_persistence::Backend::from_url(&self.database_url).is_none() {
            return Err(ConfigError::DatabaseUrl);
        }
        if self.require_config && self.secret_keys.is_none() {
            return Err(ConfigError::MissingSecretKey);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("very-secret-value");
        assert!(!format!("{s:?}").contains("very"));
    }

    #[test]
    fn production_profile_requires_a_strong_secret() {
        let mut s = Settings::new("sqlite://x.db");
        assert_eq!(s.check(), Ok(()));
        s.require_config = true;
        assert_eq!(s.check(), Err(ConfigError::MissingJwtSecret));
        s.jwt_secret = Some(Secret::new("short"));
        assert_eq!(s.check(), Err(ConfigError::WeakJwtSecret));
        s.jwt_secret = Some(Secret::new("x".repeat(32)));
        assert_eq!(s.check(), Err(ConfigError::MissingSecretKey));
        s.secret_keys = Some(std::sync::Arc::new(
            workorders_persistence::KeyRing::ephemeral().expect("keys"),
        ));
        assert_eq!(s.check(), Ok(()));
        s.database_url = "mysql://x".into();
        assert_eq!(s.check(), Err(ConfigError::DatabaseUrl));
    }
}
