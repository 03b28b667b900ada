//! Crash durability: a real server process takes concurrent order creations, bookings and
//! field-sync pushes and is killed with SIGKILL at random moments, 12 times per backend.
//! After every kill the database must hold every write that was acknowledged with 2xx
//! exactly once, and nothing half-written: no order without its steps or history, no
//! booking without its appointment, no pushed event without what it recorded, and invoice
//! numbers without gaps: every number taken belongs to an issued invoice with its documents.
//!
//! SQLite runs with `synchronous=FULL` in WAL mode; PostgreSQL with its defaults
//! (`synchronous_commit=on`). A kill of the process (not of the machine) loses no committed
//! transaction on either.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use workorders_persistence::{Db, DbOptions};

const CYCLES: usize = 12;
const SECRET: &str = "crash-test-secret-crash-test-secret-00";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server binary on a free port and waits until it is ready.
    fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_workorders"))
            .args([
                "serve",
                "--demo",
                "--bind",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--workers",
                "2",
            ])
            .args(["--database-url", database_url])
            .env("WORKORDERS_JWT_SECRET", SECRET)
            .env("WORKORDERS_PUBLIC_RATE_PER_IP", "1000000")
            .env("WORKORDERS_PUBLIC_RATE_PER_TENANT", "1000000")
            .env("WORKORDERS_WEBHOOKS_ALLOW_PRIVATE", "true")
            .env("WORKORDERS_IDEMPOTENCY_LEASE", "1")
            // A killed server's claimed webhook messages are taken over after 15 s, not 60.
            .env("WORKORDERS_WEBHOOK_LEASE", "15")
            .env("WORKORDERS_DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        // The output is read on a thread of its own (and drained for the server's life, so it
        // never blocks on a full pipe); the port arrives through a channel with a deadline, so
        // a server that hangs before reporting it fails the test instead of hanging it.
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(port) = v.get("port").and_then(Value::as_u64)
                {
                    let _ = port_tx.send(port);
                }
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(180)) {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not report its port within 180 s ({e})");
            }
        };
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(mut self) {
        // SIGKILL: no graceful shutdown, no flushing.
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

/// What the clients were told succeeded.
#[derive(Default)]
struct Acknowledged {
    orders: Vec<(String, String)>,
    bookings: Vec<String>,
    /// Field events a push answered `applied` for.
    events: Vec<String>,
    /// Numbers of invoices whose issue was answered 201.
    invoices: Vec<String>,
    /// Order creations sent with an Idempotency-Key (the title) whose answer never came (the
    /// server died): retried after the restart.
    unanswered: Vec<String>,
}

/// The accountant's token and an order to invoice, made before the kill window opens (so
/// that the window, 50–500 ms, goes to issuing rather than to signing in).
async fn accountant(
    base: &str,
    dispatcher: &str,
    process: &str,
    customer: &str,
) -> (String, String) {
    let client = reqwest::Client::new();
    let signed_in: Value = client
        .post(format!("{base}/v1/auth/token"))
        .json(&json!({"tenant": "demo", "email": "accountant@demo.example", "password": "demo-password"}))
        .send()
        .await
        .expect("sign-in")
        .json()
        .await
        .expect("json");
    let token = signed_in["access_token"]
        .as_str()
        .expect("the accountant's token")
        .to_owned();
    // The dispatcher takes the order; billing is the accountant's.
    let order = json!({"process_id": process, "channel": "api", "customer_id": customer, "title": "to invoice"});
    let created: Value = client
        .post(format!("{base}/v1/work-orders"))
        .bearer_auth(dispatcher)
        .json(&order)
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("json");
    let order = created["id"]
        .as_str()
        .expect("an order to invoice")
        .to_owned();
    (token, order)
}

/// An accountant issuing invoices (number, PDF, XML in one transaction) until the server dies.
async fn invoicing(base: String, token: String, order: String) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut issued = Vec::new();
    let body = json!({"lines": [{"name": "Monteurstunde", "quantity": "1.5", "unit": "HUR", "unit_price": "68.00", "vat_rate": "19"}], "issue": true});
    loop {
        match client
            .post(format!("{base}/v1/work-orders/{order}/invoices"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 201 => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if let Some(n) = v["number"].as_str() {
                    issued.push(n.to_owned());
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    issued
}

/// A technician's device pushing notes in batches of 20 until the server dies.
async fn pushes(
    base: String,
    tech_token: String,
    orders: Vec<String>,
    cycle: usize,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut applied = Vec::new();
    if orders.is_empty() {
        return applied;
    }
    for batch in 0.. {
        let events: Vec<Value> = (0..20)
            .map(|k| {
                json!({"id": uuid::Uuid::now_v7(), "device_id": format!("crash-{cycle}"), "seq": batch * 20 + k,
                       "occurred_at": "2026-11-20T09:00:00Z", "work_order_id": orders[k % orders.len()],
                       "type": "note_added", "payload": {"text": format!("crash {cycle} {batch} {k}")}})
            })
            .collect();
        match client
            .post(format!("{base}/v1/sync/push"))
            .bearer_auth(&tech_token)
            .json(&json!({ "events": events }))
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 200 => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                for result in v["results"].as_array().into_iter().flatten() {
                    if result["status"] == "applied"
                        && let Some(id) = result["id"].as_str()
                    {
                        applied.push(id.to_owned());
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    applied
}

async fn load(
    base: String,
    token: String,
    process: String,
    customer: String,
    service: String,
    slots: Vec<String>,
    cycle: usize,
) -> Acknowledged {
    let client = reqwest::Client::new();
    let mut acked = Acknowledged::default();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (client, base, token, process, customer) = (
            client.clone(),
            base.clone(),
            token.clone(),
            process.clone(),
            customer.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut unanswered = Vec::new();
            for i in 0.. {
                let title = format!("crash-{cycle}-{worker}-{i}");
                let body = json!({"process_id": process, "channel": "api", "customer_id": customer, "title": title});
                match client
                    .post(format!("{base}/v1/work-orders"))
                    .bearer_auth(&token)
                    .header("idempotency-key", &title)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        match v["id"].as_str() {
                            Some(id) => ok.push((id.to_owned(), title)),
                            // The answer was cut off mid-body.
                            None => unanswered.push(title),
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        unanswered.push(title);
                        break;
                    }
                }
            }
            (ok, unanswered)
        }));
    }
    let booking = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let mut refs = Vec::new();
            for (i, start) in slots.iter().enumerate() {
                let body = json!({"service_id": service, "start": start, "consent": true,
                    "customer": {"name": "Crash Test", "email": format!("crash{cycle}x{i}@example.com"), "street": "Teststraße 1", "postal_code": "10115", "city": "Berlin"}});
                match client
                    .post(format!("{base}/v1/public/demo/bookings"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        if let Some(reference) = v["reference"].as_str() {
                            refs.push(reference.to_owned());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            refs
        })
    };
    for t in tasks {
        let (ok, unanswered) = t.await.unwrap_or_default();
        acked.orders.extend(ok);
        acked.unanswered.extend(unanswered);
    }
    acked.bookings = booking.await.unwrap_or_default();
    acked
}

/// Retries order creations whose answer was lost, with the same key and body, until each
/// has its answer (a claim of the killed server is taken over once its 1 s lease ran out).
/// Returns (id, title) of each; the title exists exactly once (checked by `verify`).
async fn retry_unanswered(
    base: &str,
    token: &str,
    process: &str,
    customer: &str,
    titles: &[String],
) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let mut done = Vec::new();
    for title in titles {
        let body = json!({"process_id": process, "channel": "api", "customer_id": customer, "title": title});
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = client
                .post(format!("{base}/v1/work-orders"))
                .bearer_auth(token)
                .header("idempotency-key", title)
                .json(&body)
                .send()
                .await
                .expect("the restarted server answers");
            let status = r.status().as_u16();
            if status == 201 {
                let v: Value = r.json().await.expect("json");
                assert_eq!(v["title"], title.as_str(), "the answer is this key's order");
                done.push((v["id"].as_str().expect("id").to_owned(), title.clone()));
                break;
            }
            assert_eq!(
                status, 409,
                "a retried key answers its result or `in flight`"
            );
            assert!(
                Instant::now() < deadline,
                "the claim of {title} was never taken over"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    done
}

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(db.pool())
        .await
        .expect("query")
}

async fn verify(database_url: &str, data_dir: &std::path::Path, acked: &Acknowledged) {
    let db = Db::connect(
        database_url,
        &DbOptions {
            max_connections: 2,
            ..DbOptions::default()
        },
    )
    .await
    .expect("connect");
    for (id, title) in &acked.orders {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM work_orders WHERE title = $1")
            .bind(title)
            .fetch_one(db.pool())
            .await
            .expect("count");
        assert_eq!(
            n, 1,
            "acknowledged order {title} ({id}) must exist exactly once"
        );
    }
    for id in &acked.events {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sync_events e JOIN field_entries f ON f.id = e.id WHERE e.id = $1",
        )
        .bind(id)
        .fetch_one(db.pool())
        .await
        .expect("count");
        assert_eq!(
            n, 1,
            "acknowledged field event {id} must exist exactly once with its note"
        );
    }
    for reference in &acked.bookings {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings WHERE reference = $1")
            .bind(reference)
            .fetch_one(db.pool())
            .await
            .expect("count");
        assert_eq!(
            n, 1,
            "acknowledged booking {reference} must exist exactly once"
        );
    }
    let orphans = scalar(&db, "SELECT COUNT(*) FROM work_orders o WHERE NOT EXISTS (SELECT 1 FROM work_order_steps s WHERE s.work_order_id = o.id)").await;
    assert_eq!(orphans, 0, "no order without its steps");
    let silent = scalar(&db, "SELECT COUNT(*) FROM work_orders o WHERE NOT EXISTS (SELECT 1 FROM work_order_events e WHERE e.work_order_id = o.id)").await;
    assert_eq!(silent, 0, "no order without its history");
    let unbooked = scalar(&db, "SELECT COUNT(*) FROM bookings b WHERE NOT EXISTS (SELECT 1 FROM appointments a WHERE a.id = b.appointment_id AND a.work_order_id = b.work_order_id)").await;
    assert_eq!(unbooked, 0, "no booking without its appointment and order");
    // The outbox row of every acknowledged order was written with it.
    for (id, _) in &acked.orders {
        let pattern = format!("%{id}%");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'work_order.created' AND payload LIKE $1",
        )
        .bind(pattern)
        .fetch_one(db.pool())
        .await
        .expect("count");
        assert_eq!(
            n, 1,
            "the work_order.created message of {id} must be queued exactly once"
        );
    }
    let unrecorded = scalar(&db, "SELECT COUNT(*) FROM sync_events e WHERE e.outcome = 'applied' AND e.type = 'note_added' AND NOT EXISTS (SELECT 1 FROM field_entries f WHERE f.id = e.id)").await;
    assert_eq!(unrecorded, 0, "no applied note without its entry");
    let lonely = scalar(&db, "SELECT COUNT(*) FROM appointments a WHERE NOT EXISTS (SELECT 1 FROM appointment_assignees x WHERE x.appointment_id = a.id)").await;
    assert_eq!(lonely, 0, "no appointment without its people");
    // Invoices: every acknowledged number once; every number taken is an issued invoice with
    // its XML and its PDF on disk; the series has no gaps.
    for number in &acked.invoices {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE number = $1")
            .bind(number)
            .fetch_one(db.pool())
            .await
            .expect("count");
        assert_eq!(
            n, 1,
            "acknowledged invoice {number} must exist exactly once"
        );
    }
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT number, pdf_key, cii_xml FROM invoices WHERE number LIKE 'RE-%'")
            .fetch_all(db.pool())
            .await
            .expect("invoices");
    let blobs = workorders_app::blobs::FsBlobStore::new(data_dir.join("attachments"));
    let mut seqs: Vec<u64> = Vec::new();
    for (number, pdf_key, xml) in &rows {
        let key = pdf_key.as_deref().expect("an issued invoice has its PDF");
        assert!(xml.is_some(), "{number} has its XML");
        let pdf = workorders_app::blobs::BlobStore::get(&blobs, key)
            .expect("blob store")
            .unwrap_or_else(|| panic!("the PDF of {number} is on disk"));
        assert!(pdf.starts_with(b"%PDF"), "{number}: a whole PDF");
        seqs.push(
            number
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("sequence"),
        );
    }
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "invoice numbers without gaps or duplicates");
    db.close().await;
}

/// A pseudo-random delay from a cheap generator seeded by the clock.
fn jitter(cycle: usize) -> Duration {
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(7),
    );
    let x = nanos
        .wrapping_mul(6364136223846793005)
        .wrapping_add((cycle as u64).wrapping_mul(1442695040888963407));
    Duration::from_millis(50 + (x >> 33) % 450)
}

/// The demo technician's token and the orders their device holds.
async fn technician(base: &str) -> (String, Vec<String>) {
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}/v1/auth/token"))
        .json(
            &json!({"tenant": "demo", "email": "tech1@demo.example", "password": "demo-password"}),
        )
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    let token = token["access_token"].as_str().expect("token").to_owned();
    let pulled: Value = client
        .get(format!("{base}/v1/sync/pull?limit=20"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("pull")
        .json()
        .await
        .expect("json");
    let orders = pulled["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["work_order"]["id"].as_str().map(str::to_owned))
        .collect();
    (token, orders)
}

async fn owner_token(base: &str) -> String {
    let token: Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/token"))
        .json(
            &json!({"tenant": "demo", "email": "owner@demo.example", "password": "demo-password"}),
        )
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    token["access_token"].as_str().expect("token").to_owned()
}

async fn setup(base: &str) -> (String, String, String, String, Vec<String>) {
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}/v1/auth/token"))
        .json(&json!({"tenant": "demo", "email": "dispatcher@demo.example", "password": "demo-password"}))
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    let token = token["access_token"].as_str().expect("token").to_owned();
    let processes: Value = client
        .get(format!("{base}/v1/processes"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("processes")
        .json()
        .await
        .expect("json");
    let process = processes["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["name"] == "Reparatur")
        .expect("demo process")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let customers: Value = client
        .get(format!("{base}/v1/customers?q=krause"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("customers")
        .json()
        .await
        .expect("json");
    let customer = customers["items"][0]["id"]
        .as_str()
        .expect("customer")
        .to_owned();
    let services: Value = client
        .get(format!("{base}/v1/public/demo/services"))
        .send()
        .await
        .expect("services")
        .json()
        .await
        .expect("json");
    let service = services["items"][0]["id"]
        .as_str()
        .expect("service")
        .to_owned();
    let today = chrono::Utc::now().date_naive();
    let slots: Value = client
        .get(format!(
            "{base}/v1/public/demo/services/{service}/slots?postal_code=10115&from={}&to={}",
            today,
            today + chrono::Duration::days(27)
        ))
        .send()
        .await
        .expect("slots")
        .json()
        .await
        .expect("json");
    let slots = slots["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["start"].as_str().map(str::to_owned))
        .collect();
    (token, process, customer, service, slots)
}

/// A webhook receiver that records the `webhook-id` of everything it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let shared = web::Data::new(got.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).default_service(web::to(
            |req: HttpRequest, got: web::Data<Arc<Mutex<Vec<String>>>>| async move {
                if let Some(id) = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                {
                    got.lock().expect("lock").push(id.to_owned());
                }
                HttpResponse::NoContent().finish()
            },
        ))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/hooks"), got)
}

/// Registers the receiver for order creations (once per database).
async fn subscribe(base: &str, token: &str, url: &str) {
    let client = reqwest::Client::new();
    let existing: Value = client
        .get(format!("{base}/v1/webhooks"))
        .bearer_auth(token)
        .send()
        .await
        .expect("webhooks")
        .json()
        .await
        .expect("json");
    if existing.as_array().is_some_and(|a| !a.is_empty()) {
        return;
    }
    let created = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({"url": url, "event_types": ["work_order.created"]}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(created.status().as_u16(), 201);
}

async fn crash_cycles(database_url: &str) {
    let data_dir = std::env::temp_dir().join(format!("workorders-crash-{}", uuid::Uuid::now_v7()));
    let mut acked_total = Acknowledged::default();
    let mut unanswered: Vec<String> = Vec::new();
    let mut retried_total = 0;
    let (hook_url, received) = receiver().await;
    for cycle in 0..CYCLES {
        let server = Server::start(database_url, &data_dir);
        let base = server.base.clone();
        let (token, process, customer, service, slots) = setup(&base).await;
        subscribe(&base, &owner_token(&base).await, &hook_url).await;
        // Earlier acknowledged writes survived the last kill and the restart.
        verify(database_url, &data_dir, &acked_total).await;
        // Order creations whose answer the kill cut off are retried with their key: each
        // ends as exactly one order, replayed if the first attempt committed.
        let retried = retry_unanswered(&base, &token, &process, &customer, &unanswered).await;
        retried_total += retried.len();
        acked_total.orders.extend(retried);
        verify(database_url, &data_dir, &acked_total).await;
        let offset = (cycle * 3) % slots.len().max(1);
        let batch: Vec<String> = slots.iter().skip(offset).take(20).cloned().collect();
        let (tech_token, tech_orders) = technician(&base).await;
        let billing = accountant(&base, &token, &process, &customer).await;
        let device = tokio::spawn(pushes(base.clone(), tech_token, tech_orders, cycle));
        let (accountant_token, to_invoice) = billing;
        let invoices = tokio::spawn(invoicing(base.clone(), accountant_token, to_invoice));
        let load = tokio::spawn(load(base, token, process, customer, service, batch, cycle));
        tokio::time::sleep(jitter(cycle)).await;
        server.kill();
        let mut acked = load.await.expect("load");
        acked.invoices = invoices.await.unwrap_or_default();
        acked.events = device.await.expect("device");
        verify(database_url, &data_dir, &acked).await;
        unanswered = std::mem::take(&mut acked.unanswered);
        acked_total.orders.extend(acked.orders);
        acked_total.invoices.extend(acked.invoices);
        acked_total.bookings.extend(acked.bookings);
        acked_total.events.extend(acked.events);
    }
    assert!(
        acked_total.orders.len() > CYCLES,
        "the load made progress: {} orders acknowledged",
        acked_total.orders.len()
    );
    assert!(!acked_total.events.is_empty(), "the devices made progress");
    assert!(
        retried_total > 0,
        "kills cut off order creations whose keyed retries were checked"
    );
    eprintln!("{retried_total} cut-off order creations retried with their Idempotency-Key");
    assert!(
        !acked_total.invoices.is_empty(),
        "the accountant made progress"
    );
    // After the last restart the worker delivers every queued message: none lost.
    let server = Server::start(database_url, &data_dir);
    let (token, process, customer, _, _) = setup(&server.base).await;
    let retried = retry_unanswered(&server.base, &token, &process, &customer, &unanswered).await;
    acked_total.orders.extend(retried);
    verify(database_url, &data_dir, &acked_total).await;
    let db = Db::connect(database_url, &DbOptions::default())
        .await
        .expect("connect");
    let queued: Vec<String> = sqlx::query_scalar("SELECT DISTINCT message_id FROM outbox")
        .fetch_all(db.pool())
        .await
        .expect("outbox");
    assert!(queued.len() >= acked_total.orders.len());
    // A message the last killed server had claimed waits for its lease (15 s here) to run out
    // before any worker takes it again; then the retry schedule applies.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got: std::collections::BTreeSet<String> =
            received.lock().expect("lock").iter().cloned().collect();
        let missing = queued.iter().filter(|m| !got.contains(*m)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} webhook messages never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;
    server.kill();
    let _ = std::fs::remove_dir_all(&data_dir);
    eprintln!(
        "{CYCLES} kills: {} orders, {} bookings, {} field events and {} invoices acknowledged and found exactly once, invoice numbers without gaps; {} webhook messages all delivered",
        acked_total.orders.len(),
        acked_total.bookings.len(),
        acked_total.events.len(),
        acked_total.invoices.len(),
        queued.len()
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sqlite_survives_kill_9_without_losing_acknowledged_writes() {
    let path = std::env::temp_dir().join(format!("workorders-crash-{}.db", uuid::Uuid::now_v7()));
    let url = format!("sqlite://{}", path.display());
    runtime().block_on(crash_cycles(&url));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Without a reachable PostgreSQL this test is reported as ignored (a failure under CI).
fn postgres_survives_kill_9_without_losing_acknowledged_writes() {
    workorders_testkit::require(workorders_testkit::Tool::Postgres);
    let admin = workorders_testkit::postgres_url();
    let rt = runtime();
    let name = format!("workorders_crash_{}", uuid::Uuid::now_v7().simple());
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect");
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("create");
    });
    let url = format!("{base}/{name}");
    rt.block_on(crash_cycles(&url));
    rt.block_on(async {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
            )
            .await;
        }
    });
}

fn main() {
    workorders_testkit::run(vec![
        (
            "sqlite_survives_kill_9_without_losing_acknowledged_writes",
            sqlite_survives_kill_9_without_losing_acknowledged_writes,
        ),
        (
            "postgres_survives_kill_9_without_losing_acknowledged_writes",
            postgres_survives_kill_9_without_losing_acknowledged_writes,
        ),
    ]);
}
