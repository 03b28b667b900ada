//! What an operator relies on, through the real binary where it is the surface: online
//! backups under write load and their restore, an older binary refusing a newer database,
//! production defaults and the first owner without open sign-up, client addresses behind
//! trusted proxies, and no private-link token in any log line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Ctx, PASSWORD, SECRET_KEY, TestApp, step};
use crate::tests;

tests!(
    backups_under_write_load_restore_every_acknowledged_order,
    an_older_binary_refuses_a_newer_database,
    production_closes_sign_up_and_the_first_owner_comes_from_the_command_line,
    rate_limits_key_on_the_client_behind_trusted_proxies_only,
    private_link_tokens_never_reach_the_log,
);

const BINARY: &str = env!("CARGO_BIN_EXE_workorders");
const JWT: &str = "operator-test-secret-operator-test-secret";

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("workorders-{name}-{}", Uuid::now_v7()));
    std::fs::write(&path, contents).expect("write");
    path
}

/// A server process of the real binary, its log lines collected.
struct Process {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Reads the log until the pipe closes.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Starts `workorders serve` with JSON logs and waits for its port.
    fn serve(database_url: &str, args: &[&str], envs: &[(&str, &str)]) -> Process {
        let data_dir = std::env::temp_dir().join(format!("workorders-proc-{}", Uuid::now_v7()));
        let mut child = Command::new(BINARY)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--workers",
                "2",
            ])
            .args(["--database-url", database_url])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(port) = v.get("port").and_then(Value::as_u64)
                {
                    let _ = port_tx.send(port);
                }
                sink.lock().expect("lock").push(line);
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server reports its port");
        Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            reader: Some(reader),
        }
    }

    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread ends with the pipe: every line the server wrote is read.
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the log reader");
        }
        self.log.lock().expect("lock").clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion; (success, stdout, stderr).
async fn run(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary runs");
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(text.as_bytes()).await.expect("write");
    }
    drop(child.stdin.take());
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the command finishes in time")
        .expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn backups_under_write_load_restore_every_acknowledged_order(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(
            &t.token,
            "Reparatur",
            json!([step("a", "owner"), step("b", "owner")]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let acknowledged: Arc<Mutex<Vec<(Instant, String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..3 {
        let (app, token, process, customer) = (
            app.clone(),
            t.token.clone(),
            process.clone(),
            customer.clone(),
        );
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = app.order(&token, &process, &customer).await;
                if resp.status == 201 {
                    acknowledged.lock().expect("lock").push((
                        Instant::now(),
                        resp.body["id"].as_str().expect("id").to_owned(),
                        resp.body["number"].as_str().expect("number").to_owned(),
                    ));
                }
            }
        }));
    }
    // Some orders first, then the backup while the writers go on.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < 20 {
        assert!(Instant::now() < deadline, "orders are being created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let target = ctx.empty_database().await;
    let output = match ctx.backend {
        crate::support::Backend::Sqlite => {
            target.strip_prefix("sqlite://").expect("file").to_owned()
        }
        crate::support::Backend::Postgres => std::env::temp_dir()
            .join(format!("workorders-backup-{}.dump", Uuid::now_v7()))
            .display()
            .to_string(),
    };
    let started = Instant::now();
    let (ok, stdout, stderr) = run(
        &[
            "backup",
            "--database-url",
            &app.database_url,
            "--output",
            &output,
        ],
        None,
    )
    .await;
    assert!(ok, "backup failed: {stdout}{stderr}");
    let written_during = acknowledged
        .lock()
        .expect("lock")
        .iter()
        .filter(|(at, _, _)| *at > started)
        .count();
    // The load went on through the backup: writes are still acknowledged after it.
    let at_finish = acknowledged.lock().expect("lock").len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() <= at_finish {
        assert!(
            Instant::now() < deadline,
            "the writers stalled during or after the backup"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    // Restore: SQLite, the file is the database; PostgreSQL, pg_restore into an empty one.
    if ctx.backend == crate::support::Backend::Postgres {
        let out = Command::new("pg_restore")
            .args([
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                &target,
                &output,
            ])
            .output()
            .expect("pg_restore runs (PostgreSQL client tools)");
        assert!(
            out.status.success(),
            "pg_restore: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&output);
    }
    let restored = ctx.app_on(target, |_| {}).await;
    let before: Vec<(String, String)> = acknowledged
        .lock()
        .expect("lock")
        .iter()
        .filter(|(at, _, _)| *at < started)
        .map(|(_, id, number)| (id.clone(), number.clone()))
        .collect();
    assert!(before.len() >= 20);
    for (id, number) in &before {
        let order = restored
            .get(&format!("/v1/work-orders/{id}"), &t.token)
            .await;
        order.assert_status(200);
        assert_eq!(order.body["number"], number.as_str());
        assert_eq!(
            order.body["steps"].as_array().map(Vec::len),
            Some(2),
            "whole orders only"
        );
    }
    // The restored server works: a new order gets the next number, nothing is duplicated.
    restored
        .order(&t.token, &process, &customer)
        .await
        .assert_status(201);
    eprintln!(
        "backup: {} orders acknowledged before, {written_during} during the backup",
        before.len()
    );
}

async fn an_older_binary_refuses_a_newer_database(ctx: Ctx) {
    let app = ctx.app().await;
    // A newer version migrated this database to schema 9999.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(app.db.pool())
    .await
    .expect("insert");
    let (ok, _, stderr) = run(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &app.database_url,
        ],
        None,
    )
    .await;
    assert!(!ok, "the older binary must refuse to start");
    assert!(
        stderr.contains("version 9999") && stderr.contains("newer than this binary"),
        "a clear message: {stderr}"
    );
    // And it changed nothing.
    let versions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 9999")
            .fetch_one(app.db.pool())
            .await
            .expect("count");
    assert_eq!(versions, 1);
}

async fn production_closes_sign_up_and_the_first_owner_comes_from_the_command_line(ctx: Ctx) {
    let app = ctx.app().await;
    // Production refuses to start without its secrets.
    let (ok, _, stderr) = run(
        &[
            "serve",
            "--profile",
            "production",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &app.database_url,
        ],
        None,
    )
    .await;
    assert!(!ok && stderr.contains("secret"), "{stderr}");
    let jwt = temp_file("jwt", JWT);
    let keys = temp_file("keys", &format!("{SECRET_KEY}\n"));
    let (jwt, keys) = (jwt.display().to_string(), keys.display().to_string());
    let server = Process::serve(
        &app.database_url,
        &[
            "--profile",
            "production",
            "--jwt-secret-file",
            &jwt,
            "--secret-key-file",
            &keys,
        ],
        &[],
    );
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{}/v1/signup", server.base))
        .json(&json!({"company_name": "X", "slug": "x-corp", "owner": {"name": "X", "email": "x@x.example", "password": PASSWORD}}))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 403);
    let body: Value = signup.json().await.expect("json");
    assert_eq!(body["code"], "signup_disabled");
    // The first owner: a one-time link on the console.
    let (ok, stdout, stderr) = run(
        &[
            "tenant",
            "create",
            "--database-url",
            &app.database_url,
            "--secret-key-file",
            &keys,
            "--slug",
            "fensterbau-nord",
            "--name",
            "Fensterbau Nord GmbH",
            "--owner-email",
            "chefin@fensterbau-nord.example",
            "--public-base-url",
            &server.base,
        ],
        None,
    )
    .await;
    assert!(ok, "{stdout}{stderr}");
    let start = stdout.find("/set-password/").expect("a link") + "/set-password/".len();
    let token = stdout[start..].split_whitespace().next().expect("token");
    let set = client
        .post(format!("{}/v1/auth/set-password", server.base))
        .json(&json!({"token": token, "password": "the-owners-own-password"}))
        .send()
        .await
        .expect("set");
    assert_eq!(set.status(), 204);
    let signed = app
        .sign_in(
            "fensterbau-nord",
            "chefin@fensterbau-nord.example",
            "the-owners-own-password",
        )
        .await;
    signed.assert_status(200);
    let me = app
        .get(
            "/v1/me",
            signed.body["access_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(me.body["role"], "owner");
    // Or the password from standard input; a taken slug is refused.
    let (ok, stdout, _) = run(
        &[
            "tenant",
            "create",
            "--database-url",
            &app.database_url,
            "--slug",
            "fensterbau-sued",
            "--owner-email",
            "chef@fensterbau-sued.example",
            "--password-stdin",
        ],
        Some("a-password-from-stdin\n"),
    )
    .await;
    assert!(ok && !stdout.contains("/set-password/"), "{stdout}");
    app.sign_in(
        "fensterbau-sued",
        "chef@fensterbau-sued.example",
        "a-password-from-stdin",
    )
    .await
    .assert_status(200);
    let (ok, _, stderr) = run(
        &[
            "tenant",
            "create",
            "--database-url",
            &app.database_url,
            "--slug",
            "fensterbau-sued",
            "--owner-email",
            "other@fensterbau-sued.example",
        ],
        None,
    )
    .await;
    assert!(!ok && stderr.contains("taken"), "{stderr}");
    server.stop();
}

async fn sign_in_from(app: &TestApp, slug: &str, forwarded_for: Option<&str>) -> u16 {
    let body =
        json!({"tenant": slug, "email": "nobody@x.example", "password": "wrong-password-123"});
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|f| vec![("x-forwarded-for", f)])
        .unwrap_or_default();
    app.send(Method::POST, "/v1/auth/token", None, Some(&body), &headers)
        .await
        .status
}

async fn rate_limits_key_on_the_client_behind_trusted_proxies_only(ctx: Ctx) {
    // Behind a proxy on loopback: each client has its own budget.
    let proxied = ctx
        .app_with(|s| {
            s.auth_attempts_per_minute = 3;
            s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        })
        .await;
    for _ in 0..3 {
        assert_eq!(sign_in_from(&proxied, "x", Some("203.0.113.1")).await, 401);
    }
    assert_eq!(sign_in_from(&proxied, "x", Some("203.0.113.1")).await, 429);
    // Another client behind the same proxy is not throttled by the first.
    assert_eq!(sign_in_from(&proxied, "x", Some("203.0.113.2")).await, 401);
    // A client cannot choose its address: a forged first hop is skipped.
    assert_eq!(
        sign_in_from(&proxied, "x", Some("198.51.100.9, 203.0.113.1")).await,
        429
    );
    // Without trusted proxies the header is ignored: everyone behind the peer shares one.
    let direct = ctx.app_with(|s| s.auth_attempts_per_minute = 3).await;
    for i in 0..3 {
        assert_eq!(
            sign_in_from(&direct, "x", Some(&format!("203.0.113.{i}"))).await,
            401
        );
    }
    assert_eq!(sign_in_from(&direct, "x", Some("203.0.113.99")).await, 429);
}

async fn private_link_tokens_never_reach_the_log(ctx: Ctx) {
    let app = ctx.app().await;
    let keys = temp_file("keys", &format!("{SECRET_KEY}\n"));
    let server = Process::serve(
        &app.database_url,
        &["--demo", "--secret-key-file", &keys.display().to_string()],
        &[("WORKORDERS_JWT_SECRET", JWT)],
    );
    let client = reqwest::Client::new();
    let base = &server.base;
    let services: Value = client
        .get(format!("{base}/v1/public/demo/services"))
        .send()
        .await
        .expect("services")
        .json()
        .await
        .expect("json");
    let service = services["items"][0]["id"].as_str().expect("service");
    let slots: Value = client
        .get(format!(
            "{base}/v1/public/demo/services/{service}/slots?postal_code=12203"
        ))
        .send()
        .await
        .expect("slots")
        .json()
        .await
        .expect("json");
    let booked: Value = client
        .post(format!("{base}/v1/public/demo/bookings"))
        .json(&json!({"service_id": service, "start": slots["slots"][0]["start"], "consent": true,
                      "customer": {"name": "Jana Becker", "email": "jana@example.com", "street": "Ringstraße 4", "postal_code": "12203", "city": "Berlin"}}))
        .send()
        .await
        .expect("book")
        .json()
        .await
        .expect("json");
    let booking_token = booked["token"].as_str().expect("token").to_owned();
    let path = booked["status_path"].as_str().expect("path");
    for url in [
        format!("{base}{path}"),
        format!("{base}{path}?lang=de"),
        format!("{base}/v1/public/quotes/q_{}", "A".repeat(43)),
        format!("{base}/quotes/q_{}", "A".repeat(43)),
        format!("{base}/demo/booking/{booking_token}"),
        format!("{base}/demo/booking/{booking_token}/calendar.ics"),
        format!("{base}/v1/calendars/cal_{}.ics", "B".repeat(43)),
        format!("{base}/set-password/pw_{}", "C".repeat(43)),
        format!("{base}/invoices/in_{}", "D".repeat(43)),
        format!("{base}/invoices/in_{}/pdf", "D".repeat(43)),
    ] {
        client.get(&url).send().await.expect("get");
    }
    client
        .post(format!("{base}{path}/cancel"))
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .expect("cancel");
    let log = server.stop();
    let text = log.join("\n");
    assert!(
        text.contains("[redacted]"),
        "the access log has the requests"
    );
    for secret in [
        booking_token.as_str(),
        &"A".repeat(43),
        &"B".repeat(43),
        &"C".repeat(43),
        &"D".repeat(43),
    ] {
        if let Some(line) = log.iter().find(|l| l.contains(secret)) {
            panic!("a token reached the log: {line}");
        }
    }
}
