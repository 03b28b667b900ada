//! Test support: an in-process server on port 0 with a fresh database per test (a SQLite temp
//! file, or a new PostgreSQL database), dropped afterwards; an HTTP client with helpers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use uuid::Uuid;
use workorders_api::{Application, telemetry};
use workorders_app::config::{Secret, Settings};

pub const PASSWORD: &str = "correct-horse-battery";

/// The secret key of every test server (servers on one database must share it).
pub const SECRET_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMDEyMzQ=";

pub fn test_keys() -> Arc<workorders_persistence::KeyRing> {
    Arc::new(workorders_persistence::KeyRing::from_text(SECRET_KEY).expect("test key"))
}

/// The two storage backends every behavioural test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub type TestFuture = Pin<Box<dyn Future<Output = ()>>>;
pub type TestFn = fn(Ctx) -> TestFuture;

/// Registers `async fn name(ctx: Ctx)` tests of a module.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub fn tests() -> Vec<(&'static str, $crate::support::TestFn)> {
            vec![$((stringify!($name), |ctx| Box::pin($name(ctx)))),*]
        }
    };
}

/// The PostgreSQL server for tests (`TEST_DATABASE_URL`, default the local one).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_url_for(db: &str) -> String {
    let admin = postgres_admin_url();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    format!("{base}/{db}")
}

/// This run's PostgreSQL template: a database migrated once, copied for every test (a copy
/// takes a fraction of the time the migrations take). Dropped by [`drop_template`].
static PG_TEMPLATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
static PG_TEMPLATE_READY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn migrated_template() -> String {
    let _guard = PG_TEMPLATE_READY.lock().await;
    if let Some(name) = PG_TEMPLATE.lock().expect("lock").clone() {
        return name;
    }
    let name = format!("workorders_template_{}", Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("connect to PostgreSQL");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the template database");
    let db = workorders_persistence::Db::connect(
        &postgres_url_for(&name),
        &workorders_persistence::DbOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .expect("connect to the template database");
    db.migrate().await.expect("migrate the template database");
    db.close().await;
    *PG_TEMPLATE.lock().expect("lock") = Some(name.clone());
    name
}

/// Drops this run's PostgreSQL template (after the last test).
pub async fn drop_template() {
    let Some(name) = PG_TEMPLATE.lock().expect("lock").take() else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql)).await {
            eprintln!("could not drop the template database {name}: {e}");
        }
    }
}

enum TestDb {
    Sqlite { path: std::path::PathBuf },
    Postgres { name: String },
}

impl TestDb {
    async fn create(backend: Backend) -> (Self, String) {
        let id = Uuid::now_v7().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("workorders-test-{id}.db"));
                let url = format!("sqlite://{}", path.display());
                (TestDb::Sqlite { path }, url)
            }
            Backend::Postgres => {
                let name = format!("workorders_test_{id}");
                let template = migrated_template().await;
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .expect("connect to PostgreSQL");
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {template}"
                )))
                .await
                .expect("create test database");
                let url = postgres_url_for(&name);
                (TestDb::Postgres { name }, url)
            }
        }
    }

    /// An empty database (not migrated).
    async fn create_empty(backend: Backend) -> (Self, String) {
        let id = Uuid::now_v7().simple().to_string();
        match backend {
            Backend::Sqlite => Self::create(backend).await,
            Backend::Postgres => {
                let name = format!("workorders_test_{id}");
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .expect("connect to PostgreSQL");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let url = postgres_url_for(&name);
                (TestDb::Postgres { name }, url)
            }
        }
    }

    async fn drop_db(&self) {
        match self {
            TestDb::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { name } => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql)).await {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                }
            }
        }
    }
}

struct Spawned {
    handle: workorders_api::startup::ServerHandle,
    /// The database to drop, for the first server on it.
    db: Option<TestDb>,
    /// The attachment directory to remove, for the first server on it.
    data_dir: Option<std::path::PathBuf>,
    address: String,
}

/// What a test gets: the backend and a way to start servers. Everything started through it
/// is stopped and dropped when the test ends, also when it fails.
#[derive(Clone)]
pub struct Ctx {
    pub backend: Backend,
    spawned: Arc<Mutex<Vec<Spawned>>>,
    apps: Arc<Mutex<Vec<workorders_persistence::Db>>>,
    /// Databases a test made without a server of its own (dropped at the end).
    extra_dbs: Arc<Mutex<Vec<TestDb>>>,
}

impl Ctx {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            spawned: Arc::new(Mutex::new(Vec::new())),
            apps: Arc::new(Mutex::new(Vec::new())),
            extra_dbs: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A server with test defaults on a fresh database.
    pub async fn app(&self) -> TestApp {
        self.app_with(|_| {}).await
    }

    /// A server on a fresh database with adjusted settings.
    pub async fn app_with(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, url) = TestDb::create(self.backend).await;
        let data_dir = std::env::temp_dir().join(format!("workorders-data-{}", Uuid::now_v7()));
        self.start(url, Some((db, data_dir)), None, adjust).await
    }

    /// A fresh, empty database (not migrated, no server) that the test owns and that is
    /// dropped afterwards: its URL. For restores and command-line operations.
    pub async fn empty_database(&self) -> String {
        let (db, url) = TestDb::create_empty(self.backend).await;
        self.extra_dbs.lock().expect("lock").push(db);
        url
    }

    /// A server on a database the test made itself (see `empty_database`).
    pub async fn app_on(&self, url: String, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = std::env::temp_dir().join(format!("workorders-data-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        self.start(url, None, Some(data_dir), adjust).await
    }

    /// Another server instance on the same database as `other` (as behind a load balancer).
    pub async fn app_sharing(
        &self,
        other: &TestApp,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        self.start(
            other.database_url.clone(),
            None,
            Some(other.data_dir.clone()),
            adjust,
        )
        .await
    }

    async fn start(
        &self,
        url: String,
        fresh: Option<(TestDb, std::path::PathBuf)>,
        shared_dir: Option<std::path::PathBuf>,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let (db, owned_dir) = match fresh {
            Some((db, dir)) => (Some(db), Some(dir)),
            None => (None, None),
        };
        let data_dir = owned_dir.clone().or(shared_dir).expect("a data directory");
        if std::env::var("TEST_LOG").is_ok() {
            telemetry::init(workorders_app::config::LogFormat::Pretty);
        }
        let database_url = url.clone();
        let mut settings = Settings::new(url);
        settings.bind = "127.0.0.1:0".to_owned();
        settings.workers = 2;
        settings.db_max_connections = 5;
        settings.jwt_secret = Some(Secret::new("test-secret-test-secret-test-secret-0123"));
        settings.secret_keys = Some(test_keys());
        settings.shutdown_timeout = Duration::from_secs(5);
        settings.data_dir = data_dir.clone();
        adjust(&mut settings);
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
        .await
        .expect("application builds");
        let port = app.port();
        let handle = app.handle();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        self.spawned.lock().expect("lock").push(Spawned {
            handle,
            db,
            data_dir: owned_dir,
            address: format!("http://127.0.0.1:{port}"),
        });
        self.apps.lock().expect("lock").push(state.db.clone());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            db: state.db.clone(),
            state,
            database_url,
            data_dir,
        }
    }

    /// Checks the invariants every database must keep whatever a test did: the per-person
    /// open-step counters equal a fresh count.
    pub async fn check_invariants(&self) -> Result<(), String> {
        let dbs: Vec<workorders_persistence::Db> = self.apps.lock().expect("lock").clone();
        for db in dbs {
            if db.pool().is_closed() {
                // A server the test stopped; the others on its database are checked.
                continue;
            }
            let fresh = "SELECT s.tenant_id, s.responsible_id AS user_id, COUNT(*) AS n FROM work_order_steps s \
                JOIN work_orders o ON o.id = s.work_order_id WHERE s.status IN ('active', 'in_progress') \
                AND o.status IN ('open', 'in_progress') AND s.responsible_id IS NOT NULL GROUP BY s.tenant_id, s.responsible_id";
            let kept = "SELECT tenant_id, user_id, open_steps AS n FROM user_open_steps WHERE open_steps <> 0";
            for (a, b) in [(fresh, kept), (kept, fresh)] {
                let sql = format!("SELECT COUNT(*) FROM ({a} EXCEPT {b}) x");
                let differing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(db.pool())
                    .await
                    .map_err(|e| e.to_string())?;
                if differing != 0 {
                    return Err(format!(
                        "open-step counters drifted from the steps ({differing} rows differ)"
                    ));
                }
            }
            // Every order is in the sync feed, at a sequence the tenant's counter has reached
            // (a write path that forgets to record its change fails here).
            let unfed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM work_orders o WHERE NOT EXISTS (SELECT 1 FROM sync_feed f \
                 JOIN sync_counters c ON c.tenant_id = f.tenant_id WHERE f.work_order_id = o.id AND f.seq <= c.last_seq)",
            )
            .fetch_one(db.pool())
            .await
            .map_err(|e| e.to_string())?;
            if unfed != 0 {
                return Err(format!(
                    "{unfed} work orders are missing from the sync feed"
                ));
            }
        }
        Ok(())
    }

    /// Stops one server at once (no grace: in-flight work is abandoned, as in a crash); its
    /// database stays for the others.
    pub async fn stop(&self, app: &TestApp) {
        let handle = self
            .spawned
            .lock()
            .expect("lock")
            .iter()
            .find(|s| s.address == app.address)
            .map(|s| s.handle.clone());
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Stops every server of the test and drops its database.
    pub async fn cleanup(&self) {
        let spawned: Vec<Spawned> = std::mem::take(&mut *self.spawned.lock().expect("lock"));
        for s in &spawned {
            s.handle.stop(true).await;
        }
        let extra: Vec<TestDb> = std::mem::take(&mut *self.extra_dbs.lock().expect("lock"));
        for db in extra {
            db.drop_db().await;
        }
        for s in spawned {
            if let Some(db) = s.db {
                db.drop_db().await;
            }
            if let Some(dir) = s.data_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A response, body parsed as JSON when possible.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("response has an ETag")
    }

    /// Asserts status and that the body is a problem document with this code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "problem code; body: {}", self.text);
        assert_eq!(self.body["status"], status, "problem status field");
        assert_eq!(self.body["type"], format!("urn:workorders:problem:{code}"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        self
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        self
    }
}

/// A running server and a client for it.
#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: workorders_persistence::Db,
    /// The server's state, for running its workers' scans directly (deterministic tests).
    pub state: workorders_api::state::AppState,
    pub database_url: String,
    pub data_dir: std::path::PathBuf,
}

/// A signed-up tenant with its owner's token.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub slug: String,
    pub owner_id: String,
    pub owner_email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request; `headers` are extra (name, value) pairs.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method_is_post = method == Method::POST;
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if method_is_post
            && std::env::var("TEST_ALWAYS_IDEMPOTENT").is_ok()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("idempotency-key"))
        {
            request = request.header("idempotency-key", Uuid::now_v7().to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(Method::POST, path, token, Some(body), &[]).await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> Resp {
        let headers: Vec<(&str, &str)> =
            if_match.map(|v| vec![("if-match", v)]).unwrap_or_default();
        self.send(Method::PATCH, path, Some(token), Some(body), &headers)
            .await
    }

    /// Signs up a tenant with a random slug and signs its owner in.
    pub async fn sign_up(&self) -> Tenant {
        let slug = format!("t-{}", &Uuid::now_v7().simple().to_string()[20..]);
        let owner_email = format!("owner@{slug}.example");
        let resp = self
            .post(
                "/v1/signup",
                None,
                &json!({"company_name": "Fenster Müller GmbH", "slug": slug, "owner": {"name": "Maria Müller", "email": owner_email, "password": PASSWORD}}),
            )
            .await;
        resp.assert_status(201);
        let owner_id = resp.body["owner"]["id"]
            .as_str()
            .expect("owner id")
            .to_owned();
        let tokens = self.sign_in(&slug, &owner_email, PASSWORD).await;
        Tenant {
            slug,
            owner_id,
            owner_email,
            token: tokens.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
            refresh_token: tokens.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> Resp {
        self.post(
            "/v1/auth/token",
            None,
            &json!({"tenant": slug, "email": email, "password": password}),
        )
        .await
    }

    /// Creates a user with `role` in the tenant and returns (user id, access token).
    pub async fn user_with_role(&self, tenant: &Tenant, role: &str) -> (String, String) {
        let email = format!(
            "{role}-{}@{}.example",
            &Uuid::now_v7().simple().to_string()[24..],
            tenant.slug
        );
        let resp = self
            .post(
                "/v1/users",
                Some(&tenant.token),
                &json!({"email": email, "name": "Test Person", "role": role, "password": PASSWORD}),
            )
            .await;
        resp.assert_status(201);
        let id = resp.body["id"].as_str().expect("id").to_owned();
        let token = self.sign_in(&tenant.slug, &email, PASSWORD).await;
        token.assert_status(200);
        (
            id,
            token.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        )
    }

    /// Creates an API key with these scopes; returns the key.
    pub async fn api_key(&self, tenant: &Tenant, scopes: &[&str]) -> String {
        let created = self
            .post(
                "/v1/api-keys",
                Some(&tenant.token),
                &json!({"name": format!("key {}", scopes.join(" ")), "scopes": scopes}),
            )
            .await;
        created.assert_status(201);
        created.body["key"].as_str().expect("key").to_owned()
    }

    /// Counts users of the tenant visible to `token` (all pages).
    pub async fn count_users(&self, token: &str) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        for page_number in 0.. {
            assert!(page_number < 100, "paging never ended after {count} users");
            let path = match &cursor {
                Some(c) => format!("/v1/users?limit=200&cursor={c}"),
                None => "/v1/users?limit=200".to_owned(),
            };
            let page = self.get(&path, token).await;
            page.assert_status(200);
            count += page.body["items"].as_array().expect("items").len();
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return count,
            }
        }
        unreachable!("the loop returns or fails")
    }
}

/// A step definition for the API with a role as responsible.
pub fn step(key: &str, role: &str) -> Value {
    json!({"key": key, "name": format!("Step {key}"), "responsible": {"role": role}, "target_duration_minutes": 60})
}

impl TestApp {
    /// Creates a process with these steps and publishes version 1; returns its id.
    pub async fn published_process(&self, token: &str, name: &str, steps: Value) -> String {
        let created = self
            .post(
                "/v1/processes",
                Some(token),
                &json!({"name": name, "steps": steps}),
            )
            .await;
        created.assert_status(201);
        let id = created.body["id"].as_str().expect("id").to_owned();
        self.send(
            Method::POST,
            &format!("/v1/processes/{id}/versions/1/publish"),
            Some(token),
            None,
            &[],
        )
        .await
        .assert_status(200);
        id
    }

    /// Creates a customer with one site; returns (customer id, site id).
    pub async fn customer(&self, token: &str, name: &str) -> (String, String) {
        let created = self
            .post(
                "/v1/customers",
                Some(token),
                &json!({"name": name, "email": "kunde@example.com", "phone": "+49 30 123456",
                        "sites": [{"street": "Gartenweg 12", "postal_code": "10247", "city": "Berlin"}]}),
            )
            .await;
        created.assert_status(201);
        (
            created.body["id"].as_str().expect("id").to_owned(),
            created.body["sites"][0]["id"]
                .as_str()
                .expect("site")
                .to_owned(),
        )
    }

    /// Creates an order for the process and customer; returns the response.
    pub async fn order(&self, token: &str, process: &str, customer: &str) -> Resp {
        self.post(
            "/v1/work-orders",
            Some(token),
            &json!({"process_id": process, "channel": "phone", "customer_id": customer, "title": "Replace windows"}),
        )
        .await
    }

    /// Runs a step action by step key on an order; returns the response.
    pub async fn step_action(
        &self,
        token: &str,
        order: &Value,
        key: &str,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Resp {
        let order_id = order["id"].as_str().expect("order id");
        let step = order["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["key"] == key)
            .expect("step by key");
        let mut body = json!({"action": action});
        for (k, v) in extra {
            body[*k] = json!(v);
        }
        let path = format!(
            "/v1/work-orders/{order_id}/steps/{}/actions",
            step["id"].as_str().expect("step id")
        );
        self.post(&path, Some(token), &body).await
    }
}

/// The step with this key in an order body.
pub fn step_of<'a>(order: &'a Value, key: &str) -> &'a Value {
    order["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["key"] == key)
        .expect("step by key")
}

/// History entry types of an order, in order.
pub async fn history_types(app: &TestApp, token: &str, order_id: &str) -> Vec<String> {
    let history = app
        .get(
            &format!("/v1/work-orders/{order_id}/history?limit=200"),
            token,
        )
        .await;
    history.assert_status(200);
    history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

/// Working hours every day of the week, `start`–`end` local time, with a travel buffer.
pub async fn set_hours(
    app: &TestApp,
    token: &str,
    user: &str,
    start: &str,
    end: &str,
    buffer: u32,
) {
    let day = json!([{"start": start, "end": end}]);
    let body = json!({"weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day,
                                        "saturday": day, "sunday": day}, "travel_buffer_minutes": buffer});
    let current = app.get(&format!("/v1/users/{user}/calendar"), token).await;
    let resp = app
        .send(
            Method::PUT,
            &format!("/v1/users/{user}/calendar"),
            Some(token),
            Some(&body),
            &[("if-match", current.etag().as_str())],
        )
        .await;
    resp.assert_status(200);
}

/// An instant `days` from now at `hour`:00 UTC, as RFC 3339.
pub fn at_hour(days: i64, hour: u32) -> String {
    let date = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
    format!("{}T{hour:02}:00:00Z", date.format("%Y-%m-%d"))
}

/// The smallest valid PNG (1×1 pixel).
pub const PNG: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Every text cell of every table (values cast to text), for tests that prove something is
/// not stored anywhere.
pub async fn dump_database(app: &TestApp) -> String {
    let tables: Vec<String> = match app.db.backend() {
        workorders_persistence::Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(app.db.pool())
        .await
        .expect("tables"),
        workorders_persistence::Backend::Postgres => sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(app.db.pool())
        .await
        .expect("tables"),
    };
    let mut dump = String::new();
    for table in tables {
        let columns: Vec<String> = match app.db.backend() {
            workorders_persistence::Backend::Sqlite => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{table}')"
                )))
                .fetch_all(app.db.pool())
                .await
                .expect("columns")
            }
            workorders_persistence::Backend::Postgres => sqlx::query_scalar(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident($1)) \
                 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            )
            .bind(&table)
            .fetch_all(app.db.pool())
            .await
            .expect("columns"),
        };
        // One query per table, every column as bytes (text on PostgreSQL), in column order.
        let selected: Vec<String> = columns
            .iter()
            .map(|column| match app.db.backend() {
                workorders_persistence::Backend::Sqlite => format!("CAST(\"{column}\" AS BLOB)"),
                workorders_persistence::Backend::Postgres => {
                    format!("convert_to(CAST(\"{column}\" AS TEXT), 'UTF8')")
                }
            })
            .collect();
        if selected.is_empty() {
            continue;
        }
        let sql = format!("SELECT {} FROM \"{table}\"", selected.join(", "));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(app.db.pool())
            .await
            .unwrap_or_else(|e| panic!("dump {table}: {e}"));
        for row in rows {
            for (i, column) in columns.iter().enumerate() {
                let value: Option<Vec<u8>> = sqlx::Row::try_get(&row, i)
                    .unwrap_or_else(|e| panic!("dump {table}.{column}: {e}"));
                let Some(value) = value else { continue };
                let value = String::from_utf8_lossy(&value);
                dump.push_str(&table);
                dump.push('.');
                dump.push_str(column);
                dump.push('=');
                dump.push_str(&value);
                dump.push('\n');
            }
        }
    }
    dump
}

/// An operation's path from the OpenAPI document with its parameters filled: the tenant's
/// slug, a template kind and language, a made-up token, random ids.
pub fn fill_path(path: &str, slug: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{tenant}" => slug.to_owned(),
            "{kind}" => "invoice".to_owned(),
            "{lang}" => "de".to_owned(),
            "{token}" | "{file}" => "x-token".to_owned(),
            s if s.starts_with('{') => Uuid::now_v7().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A real SMTP server for a test (ignored without one outside CI, a failure under CI).
pub fn smtp() -> workorders_mail::testing::SmtpServer {
    workorders_testkit::require(workorders_testkit::Tool::Smtp);
    workorders_mail::testing::SmtpServer::start()
}

/// Polls `check` until it yields a value (every 50 ms); fails the test, naming `what`, after
/// 20 s. Every wait on background work goes through here, so none waits without a deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after 20 s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
