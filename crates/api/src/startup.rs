//! Builds and runs the server: the same code path in production and in tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
pub use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};
use workorders_persistence::idempotency::{self, KeyPolicy};
use workorders_persistence::{Db, DbOptions, KeyRing};

use crate::auth::tokens::random_bytes;
use crate::config::{Secret, Settings};
use crate::error::{ApiError, Problem, codes};
use crate::extract::{path_config, query_config};
use crate::observability::{problem_details, public_cors, request_id_header, track_metrics};
use crate::openapi::{ApiDoc, openapi};
use crate::operations::Operations;
use crate::state::AppState;

/// A built server, bound to its port, not yet serving.
/// Another front door served next to the API: registers its routes.
pub type FrontDoor = fn(&mut web::ServiceConfig);

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

fn jwt_secret(settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    tracing::warn!(
        "no JWT secret configured: generated a random one for this run; access tokens will not survive a restart \
         and several instances will not accept each other's tokens. Set WORKORDERS_JWT_SECRET or --jwt-secret-file."
    );
    let bytes = random_bytes::<32>()?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

/// The secret keys: configured, or in development a key file in the data directory.
fn secret_keys(settings: &Settings) -> anyhow::Result<Arc<KeyRing>> {
    if let Some(keys) = &settings.secret_keys {
        return Ok(keys.clone());
    }
    let path = settings.data_dir.join("secret.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the secret key file {}", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            "using the development secret key file; in production give --secret-key-file (kept apart from database backups)"
        );
        return Ok(Arc::new(KeyRing::from_text(&text)?));
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let line = KeyRing::new_key_line()?;
    write_private_file(&path, &format!("{line}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "no secret key configured: generated one for development; in production give --secret-key-file (kept apart from database backups)"
    );
    Ok(Arc::new(KeyRing::from_text(&line)?))
}

/// Writes a file only its owner can read (created new; fails if it exists).
pub fn write_private_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

impl Application {
    /// Connects and migrates the database and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_seeded(settings, async |_: &workorders_app::App| Ok(())).await
    }

    /// [`Application::build`], running `seed` (the demo data, say) on the migrated database
    /// before the server listens.
    pub async fn build_seeded(
        settings: Settings,
        seed: impl AsyncFnOnce(&workorders_app::App) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        Self::build_with_pages(settings, seed, &[]).await
    }

    /// [`Application::build_seeded`] serving other front doors next to the API (the
    /// customer's web pages): each registers its routes; they reach the application as
    /// `web::Data<workorders_app::App>`.
    pub async fn build_with_pages(
        settings: Settings,
        seed: impl AsyncFnOnce(&workorders_app::App) -> anyhow::Result<()>,
        pages: &[FrontDoor],
    ) -> anyhow::Result<Self> {
        settings.check()?;
        let keys = secret_keys(&settings)?;
        let db = Db::connect(
            &settings.database_url,
            &DbOptions {
                max_connections: settings.db_max_connections,
                ..DbOptions::default()
            },
        )
        .await
        .context("connecting to the database")?
        .with_clock(settings.clock.clone())
        .with_keys(keys);
        db.migrate().await.context("applying database migrations")?;
        let resealed = workorders_persistence::rekey::reseal(
            &db,
            workorders_persistence::rekey::Reseal::PlainOnly,
        )
        .await
        .context("sealing stored secrets with the current key")?;
        if resealed.total() > 0 {
            tracing::info!(
                values = resealed.total(),
                "sealed stored secrets with the current key"
            );
        }
        if let Err(e) = db.optimize().await {
            tracing::warn!(error = %e, "could not refresh planner statistics");
        }
        let secret = jwt_secret(&settings)?;
        let state = AppState::new(db, settings, &secret)?;
        seed(&state.app).await.context("seeding data")?;
        let listener = TcpListener::bind(&state.settings.bind)
            .with_context(|| format!("binding {}", state.settings.bind))?;
        let port = listener.local_addr()?.port();
        let server = server(listener, state.clone(), pages.to_vec())?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle to stop the server (graceful: in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or the server handle stops it): in-flight requests get
    /// `shutdown_timeout` to finish, then the database pool is closed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.db.clone()));
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(crate::webhooks::run_worker(
            self.state.app.clone(),
            stopped.clone(),
        ));
        let billing_worker = tokio::spawn(crate::billing_worker::run_worker(
            self.state.app.clone(),
            stopped.clone(),
        ));
        let oversight_worker = tokio::spawn(crate::oversight::run_worker(
            self.state.app.clone(),
            stopped,
        ));
        let result = self.server.await;
        housekeeping.abort();
        // A delivery in flight is abandoned like in a crash: its lease runs out and any
        // worker sends it again with the same webhook-id (at least once).
        let _ = stop_worker.send(true);
        worker.abort();
        billing_worker.abort();
        oversight_worker.abort();
        self.state.db.close().await;
        tracing::info!("server stopped");
        result
    }
}

/// Removes idempotency keys past their retention and refreshes planner statistics, hourly.
async fn housekeeping(db: Db) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        if let Err(e) = db.optimize().await {
            tracing::warn!(error = %e, "could not refresh planner statistics");
        }
        match idempotency::purge_expired(&db, workorders_persistence::now(), KeyPolicy::default())
            .await
        {
            Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
    }
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// Unmatched requests: 405 with `Allow` when the path exists with other methods, else 404.
async fn fallback(
    req: HttpRequest,
    operations: web::Data<Operations>,
) -> Result<HttpResponse, ApiError> {
    let allowed = operations.methods_for(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound);
    }
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed here; allowed: {}",
            req.method(),
            allowed.join(", ")
        ),
    );
    let mut response = problem.into_response();
    if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Ok(response)
}

fn server(listener: TcpListener, state: AppState, pages: Vec<FrontDoor>) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let application = web::Data::new(state.app.clone());
    let test_panic_route = settings.test_panic_route;
    let document = openapi();
    let data = web::Data::new(state);
    // Serialised once and shared: the `OpenApi` value is several MiB in memory, and this
    // closure (with what it captures) is cloned for every worker, plus a copy per App.
    let openapi_json = web::Bytes::from(serde_json::to_vec(&document)?);
    drop(document);
    let operations = web::Data::new(Operations::from_openapi(&serde_json::from_slice(
        &openapi_json,
    )?)?);
    let shutdown_secs = settings.shutdown_timeout.as_secs();
    let workers = settings.workers;
    let mut server = HttpServer::new(move || {
        App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .app_data(data.clone())
            .app_data(query_config())
            .app_data(path_config())
            .configure(crate::routes::configure)
            .into_app()
            .route(
                "/openapi.json",
                web::get().to({
                    let body = openapi_json.clone();
                    move || {
                        let body = body.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type(header::ContentType::json())
                                .body(body)
                        }
                    }
                }),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .config(Config::new(["/openapi.json"]).validator_url("none")),
            )
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .route(
                "/set-password/{token}",
                web::get().to(crate::pages::set_password_form),
            )
            .route(
                "/set-password/{token}",
                web::post().to(crate::pages::set_password_submit),
            )
            .app_data(operations.clone())
            .app_data(application.clone())
            .configure(|cfg| {
                for page in &pages {
                    page(cfg);
                }
            })
            .configure(|cfg| {
                if test_panic_route {
                    cfg.route(
                        "/__test/panic",
                        web::get().to(|| async {
                            panic!("the test-only panic route was called");
                            #[allow(unreachable_code)]
                            HttpResponse::Ok().finish()
                        }),
                    );
                }
            })
            .default_service(web::to(fallback))
            .wrap(from_fn(crate::observability::catch_panics))
            .wrap(from_fn(crate::operations::enforce_key_scopes))
            .wrap(cors(&settings.cors_origins))
            .wrap(from_fn(public_cors))
            .wrap(from_fn(crate::client_ip::remember_client))
            .wrap(from_fn(crate::input_guard::guard_request_line))
            .wrap(from_fn(problem_details))
            .wrap(from_fn(track_metrics))
            .wrap(from_fn(request_id_header))
            .wrap(TracingLogger::<crate::telemetry::RedactingRootSpan>::new())
    })
    .shutdown_timeout(shutdown_secs);
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}
