//! `workorders`: the work-order tracking server.
//!
//! `workorders serve [--demo]` runs the API; `workorders openapi` prints the OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use workorders_api::config::{LogFormat, Secret, Settings};
use workorders_api::{Application, openapi, telemetry};

#[derive(Parser)]
#[command(
    name = "workorders",
    version,
    about = "Work-order tracking backend: from the first call to the paid invoice"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API server (creates and migrates the database on start).
    Serve(Box<ServeArgs>),
    /// Print the OpenAPI document, or write it to a file.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    Development,
    Production,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WORKORDERS_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// `sqlite://FILE` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://workorders.db")]
    database_url: String,
    /// Maximum database connections in the pool.
    #[arg(long, env = "WORKORDERS_DB_MAX_CONNECTIONS", default_value_t = 10)]
    db_max_connections: u32,
    /// HMAC secret for access tokens (at least 32 bytes). Prefer --jwt-secret-file.
    #[arg(long, env = "WORKORDERS_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// File holding the HMAC secret for access tokens.
    #[arg(long, env = "WORKORDERS_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// Access token lifetime in seconds.
    #[arg(long, env = "WORKORDERS_ACCESS_TOKEN_TTL", default_value_t = 900)]
    access_token_ttl: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "WORKORDERS_REFRESH_TOKEN_TTL", default_value_t = 14 * 24 * 3600)]
    refresh_token_ttl: u64,
    /// `production` implies --require-config.
    #[arg(
        long,
        env = "WORKORDERS_PROFILE",
        value_enum,
        default_value = "development"
    )]
    profile: Profile,
    /// Refuse to start without a configured JWT secret.
    #[arg(long, env = "WORKORDERS_REQUIRE_CONFIG")]
    require_config: bool,
    /// Log line format.
    #[arg(
        long,
        env = "WORKORDERS_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    log_format: LogFormatArg,
    /// Comma-separated origins allowed by CORS (`*` for any); empty: none.
    #[arg(
        long,
        env = "WORKORDERS_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    cors_origins: Vec<String>,
    /// Whether `POST /v1/signup` may create new tenants.
    #[arg(long, env = "WORKORDERS_SIGNUP_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    signup_enabled: bool,
    /// Create (idempotently) the demo tenant `demo` with its users.
    #[arg(long, env = "WORKORDERS_DEMO")]
    demo: bool,
    /// Booking-widget requests per client address and minute.
    #[arg(long, env = "WORKORDERS_PUBLIC_RATE_PER_IP", default_value_t = 120)]
    public_rate_per_ip: u32,
    /// Booking-widget requests per company (tenant) and minute.
    #[arg(
        long,
        env = "WORKORDERS_PUBLIC_RATE_PER_TENANT",
        default_value_t = 1200
    )]
    public_rate_per_tenant: u32,
    /// Directory for attachment files (photos, signatures, documents).
    #[arg(long, env = "WORKORDERS_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Allow webhook targets on loopback, private and link-local networks (on-premise).
    #[arg(long, env = "WORKORDERS_WEBHOOKS_ALLOW_PRIVATE")]
    webhooks_allow_private: bool,
    /// Seconds a webhook receiver has to answer one attempt.
    #[arg(long, env = "WORKORDERS_WEBHOOK_TIMEOUT", default_value_t = 10)]
    webhook_timeout: u64,
    /// Seconds between the oversight scans (overdue steps, stuck orders, missed
    /// appointments, due reviews, reviews not signed off).
    #[arg(long, env = "WORKORDERS_OVERSIGHT_SCAN", default_value_t = 30)]
    oversight_scan: u64,
    /// SMTP relay host for customer e-mail (invoices, quotes, booking confirmations).
    /// Without it e-mails stay queued.
    #[arg(long, env = "WORKORDERS_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP port (default: 587 for starttls, 465 for tls, 25 for none).
    #[arg(long, env = "WORKORDERS_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (local relays only).
    #[arg(long, env = "WORKORDERS_SMTP_TLS", default_value = "starttls")]
    smtp_tls: String,
    #[arg(long, env = "WORKORDERS_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// SMTP password (prefer the environment variable or --smtp-password-file).
    #[arg(long, env = "WORKORDERS_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    #[arg(long, env = "WORKORDERS_SMTP_PASSWORD_FILE")]
    smtp_password_file: Option<PathBuf>,
    /// Sender of customer e-mail, e.g. `Fenster Müller <rechnung@fenster-mueller.de>`.
    #[arg(
        long,
        env = "WORKORDERS_SMTP_FROM",
        default_value = "workorders@localhost.localdomain"
    )]
    smtp_from: String,
    /// Base URL of links in customer e-mails (quote acceptance).
    #[arg(
        long,
        env = "WORKORDERS_PUBLIC_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    public_base_url: String,
    /// Multiplies the e-mail retry schedule (tests shrink it).
    #[arg(
        long,
        env = "WORKORDERS_MAIL_RETRY_SCALE",
        default_value_t = 1.0,
        hide = true
    )]
    mail_retry_scale: f64,
    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "WORKORDERS_WORKERS", default_value_t = 0)]
    workers: usize,
}

impl ServeArgs {
    fn settings(self) -> anyhow::Result<(Settings, LogFormat)> {
        let secret = match (self.jwt_secret, self.jwt_secret_file) {
            (Some(_), Some(_)) => {
                anyhow::bail!("give either --jwt-secret or --jwt-secret-file, not both")
            }
            (Some(secret), None) => Some(Secret::new(secret)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading the JWT secret file {}", path.display()))?;
                Some(Secret::new(text.trim().to_owned()))
            }
            (None, None) => None,
        };
        let mut settings = Settings::new(self.database_url);
        settings.bind = self.bind;
        settings.db_max_connections = self.db_max_connections;
        settings.jwt_secret = secret;
        settings.require_config =
            self.require_config || matches!(self.profile, Profile::Production);
        settings.access_token_ttl = Duration::from_secs(self.access_token_ttl);
        settings.refresh_token_ttl = Duration::from_secs(self.refresh_token_ttl);
        settings.cors_origins = self
            .cors_origins
            .into_iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        settings.signup_enabled = self.signup_enabled;
        settings.demo = self.demo;
        settings.workers = self.workers;
        settings.data_dir = self.data_dir;
        settings.webhooks.allow_private = self.webhooks_allow_private;
        settings.webhooks.timeout = Duration::from_secs(self.webhook_timeout.clamp(1, 60));
        settings.oversight.scan = Duration::from_secs(self.oversight_scan.clamp(1, 3600));
        if let Some(host) = self.smtp_host {
            let tls: workorders_mail::TlsMode = self
                .smtp_tls
                .parse()
                .map_err(|_| anyhow::anyhow!("--smtp-tls must be starttls, tls or none"))?;
            let password = match (self.smtp_password, self.smtp_password_file) {
                (Some(_), Some(_)) => {
                    anyhow::bail!("give either --smtp-password or --smtp-password-file, not both")
                }
                (Some(p), None) => Some(p),
                (None, Some(path)) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| {
                            format!("reading the SMTP password file {}", path.display())
                        })?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            settings.mail.smtp = Some(workorders_mail::SmtpSettings {
                host,
                port: self.smtp_port.unwrap_or(tls.default_port()),
                tls,
                username: self.smtp_username,
                password,
                from: self.smtp_from,
                timeout: Duration::from_secs(30),
            });
        }
        settings.mail.public_base_url = self.public_base_url;
        settings.mail.retry_scale = self.mail_retry_scale.clamp(0.0001, 100.0);
        settings.public_per_ip_per_minute = self.public_rate_per_ip;
        settings.public_per_tenant_per_minute = self.public_rate_per_tenant;
        let format = match self.log_format {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        };
        Ok((settings, format))
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (settings, format) = args.settings()?;
    telemetry::init(format);
    let app = Application::build(settings).await?;
    let state = app.state();
    tracing::info!(
        port = app.port(),
        backend = state.db.backend().name(),
        "listening on {}; Swagger UI at /docs/",
        state.settings.bind
    );
    app.run_until_stopped().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Openapi { output } => write_openapi(output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_openapi(output: Option<PathBuf>) -> anyhow::Result<()> {
    let text = openapi::openapi_json()?;
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}
