//! `workorders`: the work-order tracking server.
//!
//! `workorders serve [--demo]` runs the API; `workorders openapi` prints the OpenAPI document;
//! `workorders backup`, `workorders tenant create`, `workorders secret-key generate` and
//! `workorders rekey` are the operator's commands (see the README's operations section).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use workorders_api::config::{LogFormat, Secret, Settings};
use workorders_api::{Application, openapi, telemetry};

mod ops;

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
    /// Write a consistent copy of the database while servers keep running (SQLite: an
    /// online snapshot; PostgreSQL: `pg_dump --format=custom`).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The file to write (must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Companies (tenants) on this server.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// The key that seals secrets at rest.
    #[command(subcommand)]
    SecretKey(SecretKeyCommand),
    /// Seal every stored secret with the first key of the key file (after a rotation).
    Rekey {
        #[command(flatten)]
        db: DbArgs,
        /// The key file: the new key first, the old ones below it.
        #[arg(long, env = "WORKORDERS_SECRET_KEY_FILE")]
        secret_key_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a company with its first owner, without open sign-up: prints a one-time link
    /// for the owner to set a password, or reads the password from standard input.
    Create(Box<TenantCreateArgs>),
}

#[derive(clap::Args)]
struct TenantCreateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Short name used to sign in (lowercase letters, digits, hyphens).
    #[arg(long)]
    slug: String,
    /// The company's name (default: the slug).
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone.
    #[arg(long, default_value = "Europe/Berlin")]
    time_zone: String,
    #[arg(long)]
    owner_email: String,
    /// The owner's name (default: the part of the e-mail address before `@`).
    #[arg(long)]
    owner_name: Option<String>,
    /// Read the owner's password from standard input instead of printing a link.
    #[arg(long)]
    password_stdin: bool,
    /// The key file of the servers (the link's record is written like theirs).
    #[arg(long, env = "WORKORDERS_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Base of the printed link (the servers' public URL).
    #[arg(
        long,
        env = "WORKORDERS_PUBLIC_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    public_base_url: String,
}

#[derive(Subcommand)]
enum SecretKeyCommand {
    /// Print a new random key (one line of a key file).
    Generate,
}

/// Which database an operator command works on.
#[derive(clap::Args)]
struct DbArgs {
    /// `sqlite://FILE` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://workorders.db")]
    database_url: String,
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
    /// Whether `POST /v1/signup` may create new tenants (default: on in development, off
    /// with `--profile production`).
    #[arg(long, env = "WORKORDERS_SIGNUP_ENABLED", action = clap::ArgAction::Set)]
    signup_enabled: Option<bool>,
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
    /// Key file that seals secrets at rest (webhook secrets, stored replies, queued e-mail):
    /// one base64 key per line, the current one first (`workorders secret-key generate`).
    /// Required with `--profile production`; in development a key is created in the data
    /// directory.
    #[arg(long, env = "WORKORDERS_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Comma-separated CIDRs of reverse proxies whose `Forwarded` / `X-Forwarded-For` is
    /// believed (e.g. `127.0.0.1/32,10.0.0.0/8`). Empty: the TCP peer is the client.
    #[arg(
        long,
        env = "WORKORDERS_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = ""
    )]
    trusted_proxies: Vec<String>,
    /// Seconds in which a retried refresh (same token, answer lost) gets the same new pair.
    #[arg(long, env = "WORKORDERS_REFRESH_GRACE", default_value_t = 30)]
    refresh_grace: u64,
    /// Seconds after which a retry may take over an Idempotency-Key whose request never
    /// finished (its server died); tests shorten it.
    #[arg(
        long,
        env = "WORKORDERS_IDEMPOTENCY_LEASE",
        default_value_t = 300,
        hide = true
    )]
    idempotency_lease: u64,
    /// Seconds a worker holds a claimed webhook message before another may take it over (a
    /// crashed worker's messages wait this long); tests shorten it.
    #[arg(
        long,
        env = "WORKORDERS_WEBHOOK_LEASE",
        default_value_t = 60,
        hide = true
    )]
    webhook_lease: u64,
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
        let production = matches!(self.profile, Profile::Production);
        settings.signup_enabled = self.signup_enabled.unwrap_or(!production);
        if let Some(path) = &self.secret_key_file {
            settings.secret_keys = Some(std::sync::Arc::new(read_key_file(path)?));
        }
        settings.trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<ipnet::IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!("--trusted-proxies: `{t}` is not a CIDR or an address")
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        settings.refresh_grace = Duration::from_secs(self.refresh_grace.min(300));
        settings.idempotency_lease = Duration::from_secs(self.idempotency_lease.clamp(1, 3600));
        settings.webhooks.lease = Duration::from_secs(self.webhook_lease.clamp(5, 3600));
        settings.test_panic_route = cfg!(debug_assertions)
            && std::env::var("WORKORDERS_TEST_PANIC_ROUTE").is_ok_and(|v| v == "1");
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
    let demo = settings.demo;
    let app = Application::build_with_pages(
        settings,
        async |app: &workorders_app::App| {
            if demo {
                workorders_demo::seed(app).await?;
            }
            Ok(())
        },
        &[workorders_web::configure],
    )
    .await?;
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
        Command::Backup { db, output } => ops::backup(&db.database_url, &output).await,
        Command::Tenant(TenantCommand::Create(args)) => tenant_create(*args).await,
        Command::SecretKey(SecretKeyCommand::Generate) => {
            workorders_persistence::KeyRing::new_key_line()
                .map(|line| println!("{line}"))
                .map_err(Into::into)
        }
        Command::Rekey {
            db,
            secret_key_file,
        } => rekey(&db.database_url, &secret_key_file).await,
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

fn read_key_file(path: &std::path::Path) -> anyhow::Result<workorders_persistence::KeyRing> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret key file {}", path.display()))?;
    workorders_persistence::KeyRing::from_text(&text)
        .with_context(|| format!("the secret key file {}", path.display()))
}

async fn rekey(database_url: &str, key_file: &std::path::Path) -> anyhow::Result<()> {
    let keys = std::sync::Arc::new(read_key_file(key_file)?);
    let db = ops::open(database_url).await?.with_keys(keys);
    let report =
        workorders_persistence::rekey::reseal(&db, workorders_persistence::rekey::Reseal::All)
            .await?;
    for (column, n) in &report.resealed {
        println!("{column}: {n} sealed with the current key");
    }
    println!(
        "done: {} values; the older keys may now be removed from the key file",
        report.total()
    );
    db.close().await;
    Ok(())
}

async fn tenant_create(args: TenantCreateArgs) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Some(line.trim_end_matches(['\n', '\r']).to_owned())
    } else {
        None
    };
    let keys = match &args.secret_key_file {
        Some(path) => Some(std::sync::Arc::new(read_key_file(path)?)),
        None => None,
    };
    let created = workorders_app::operator::create_tenant(workorders_app::operator::NewTenant {
        database_url: args.database_url_owned(),
        keys,
        slug: args.slug,
        name: args.name,
        time_zone: args.time_zone,
        owner_email: args.owner_email,
        owner_name: args.owner_name,
        password,
        public_base_url: args.public_base_url,
    })
    .await?;
    println!(
        "created tenant `{}` with owner {}",
        created.slug, created.owner_email
    );
    match created.link {
        Some((url, expires_at)) => {
            println!("the owner sets a password here (once, until {expires_at}):\n{url}")
        }
        None => println!("the owner signs in with the password given"),
    }
    Ok(())
}

impl TenantCreateArgs {
    fn database_url_owned(&self) -> String {
        self.db.database_url.clone()
    }
}
