//! `workorders-bench`: seeds a busy company, drives a real server process over HTTP on
//! loopback, measures the same database work done directly (the ceiling), and writes
//! `bench/RESULTS.md`.

mod analytics;
mod hooks;
mod invoicing;
mod load;
mod oversight;
mod report;
mod seed;
mod server;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use sqlx::Connection;
use workorders_domain::work_order::{Channel, Priority};
use workorders_domain::{
    CustomerId, ProcessId, ProcessVersionId, SiteId, TenantId, UserId, WorkOrderId,
};
use workorders_persistence::work_orders::{ActorRef, OrderFilter};
use workorders_persistence::{Db, DbOptions, processes, services, work_orders};

use crate::load::{Measurement, run};
use crate::report::{Report, SizeResult};
use crate::server::Server;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
#[command(about = "Measure the work-order server: throughput, latency, memory, start-up")]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// About one minute: 10,000 orders and short runs.
    #[arg(long)]
    quick: bool,
    /// PostgreSQL server for `--backend postgres` (a database is created and dropped).
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Keep the seeded database (for profiling queries) and print its URL.
    #[arg(long)]
    keep: bool,
    /// Where to write the results (the backend's section is replaced).
    #[arg(long, default_value = "bench/RESULTS.md")]
    output: String,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PostgresDatabase { admin: String, name: String },
}

struct Database {
    url: String,
    cleanup: Cleanup,
    /// The servers' data directory (invoice PDFs, attachments).
    data_dir: std::path::PathBuf,
}

impl Database {
    async fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        match self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDatabase { admin, name } => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                    )
                    .await;
                }
            }
        }
    }
}

async fn database(args: &Args, size: usize) -> anyhow::Result<Database> {
    let data_dir = std::env::temp_dir().join(format!(
        "workorders-bench-data-{size}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    match args.backend {
        BackendArg::Sqlite => {
            let path = std::env::temp_dir().join(format!(
                "workorders-bench-{size}-{}.db",
                uuid::Uuid::now_v7().simple()
            ));
            Ok(Database {
                url: format!("sqlite://{}", path.display()),
                cleanup: Cleanup::SqliteFile(path),
                data_dir,
            })
        }
        BackendArg::Postgres => {
            let name = format!("workorders_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::PgConnection::connect(&args.postgres_url)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
            )
            .await?;
            let base = args
                .postgres_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(args.postgres_url.clone());
            Ok(Database {
                url: format!("{base}/{name}"),
                cleanup: Cleanup::PostgresDatabase {
                    admin: args.postgres_url.clone(),
                    name,
                },
                data_dir,
            })
        }
    }
}

async fn backend_version(db: &Db) -> String {
    let sql = match db.backend() {
        workorders_persistence::Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        workorders_persistence::Backend::Postgres => "SELECT version()",
    };
    sqlx::query_scalar::<_, String>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Issued invoices in the database before the run (listInvoices is measured over them).
const INVOICES_SEEDED: usize = 10_000;

fn ok(status: reqwest::StatusCode) -> bool {
    status.is_success()
}

async fn measure_size(
    args: &Args,
    size: usize,
    run_for: Duration,
) -> anyhow::Result<(SizeResult, String)> {
    let binary = server::binary()?;
    let database = database(args, size).await?;
    let first = Server::start(&binary, &database.url, &database.data_dir).await?;
    let company = Arc::new(seed::company(&first.base).await?);
    let db = Db::connect(
        &database.url,
        &DbOptions {
            max_connections: 8,
            ..DbOptions::default()
        },
    )
    .await?;
    let seed_started = std::time::Instant::now();
    let orders = Arc::new(seed::orders(&db, &company, size).await?);
    seed::appointments(&db, &company, &orders).await?;
    // Invoicing: a complete billing profile, then issued invoices for listInvoices.
    seed::billing(&first.base, &company).await?;
    let seeded_invoices =
        seed::invoices(&db, &first.base, &company, &orders, INVOICES_SEEDED).await?;
    // Analytics: the step history of the busiest process, and its second version.
    let seeded_history = analytics::seed(&db, &first.base, &company).await?;
    // After a bulk load the planner needs fresh statistics, as autovacuum (PostgreSQL) or the
    // server's PRAGMA optimize (SQLite) would give it.
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    let seed_time = seed_started
        .elapsed()
        .saturating_sub(Duration::from_secs_f64(seeded_invoices.seconds))
        .saturating_sub(Duration::from_secs_f64(seeded_history.seconds));
    first.stop();
    let version = backend_version(&db).await;
    // Start-up with an existing database, then idle memory.
    let srv = Server::start(&binary, &database.url, &database.data_dir).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_rss, _) = srv.memory_mib();
    let base = Arc::new(srv.base.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let tenant = TenantId(company.tenant_id.parse()?);
    let mut results: Vec<(Measurement, Option<Measurement>)> = Vec::new();
    // A webhook endpoint for order creations, so every write path below also pays for its
    // outbox rows and the worker delivers while the other operations run.
    let hooks = hooks::start().await?;
    let registered = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&company.owner_token)
        .json(&json!({"url": hooks.url, "event_types": ["work_order.created"]}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().as_u16() == 201,
        "registering the webhook receiver: {}",
        registered.status()
    );

    // createWorkOrder
    let process = company.processes[0].0.clone();
    let (customer, site, _) = company.customers[0].clone();
    let http = {
        let (client, base, token, process, customer) = (
            client.clone(),
            base.clone(),
            company.owner_token.clone(),
            process.clone(),
            customer.clone(),
        );
        run("createWorkOrder", 8, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let body = json!({"process_id": process, "channel": "api", "customer_id": customer, "title": format!("bench {w}-{i}")});
            async move { client.post(format!("{base}/v1/work-orders")).bearer_auth(token).json(&body).send().await.is_ok_and(|r| ok(r.status())) }
        })
        .await
    };
    let version_record = processes::get_version(&db, tenant, ProcessId(process.parse()?), 1)
        .await?
        .context("version")?;
    let raw = {
        let db = db.clone();
        let steps = version_record.steps.clone();
        let (process_id, version_id) = (
            ProcessId(process.parse()?),
            ProcessVersionId(version_record.id.as_uuid()),
        );
        let (customer_id, site_id) = (CustomerId(customer.parse()?), SiteId(site.parse()?));
        run("createWorkOrder (raw)", 8, run_for, move |w, i| {
            let (db, steps) = (db.clone(), steps.clone());
            async move {
                let Ok(mut tx) = db.begin_write().await else {
                    return false;
                };
                let new = workorders_app::workflow::NewOrder {
                    tenant_id: tenant,
                    process_id,
                    process_version_id: version_id,
                    steps,
                    customer_id,
                    site_id,
                    channel: Channel::Api,
                    title: format!("raw {w}-{i}"),
                    description: None,
                    priority: Priority::Normal,
                    requested_start: None,
                    requested_end: None,
                };
                let actor = ActorRef {
                    kind: "system".to_owned(),
                    id: None,
                };
                workorders_app::workflow::create(
                    &mut tx,
                    new,
                    &actor,
                    workorders_persistence::now(),
                )
                .await
                .is_ok()
                    && tx.commit().await.is_ok()
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // getWorkOrder
    let count = orders.len().max(1);
    let pick = move |i: usize, w: usize| (i * 7919 + w * 104_729) % count;
    let http = {
        let (client, base, token, orders) = (
            client.clone(),
            base.clone(),
            company.owner_token.clone(),
            orders.clone(),
        );
        run("getWorkOrder", 8, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = orders[pick(i, w)].clone();
            async move {
                client
                    .get(format!("{base}/v1/work-orders/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .is_ok_and(|r| ok(r.status()))
            }
        })
        .await
    };
    let raw = {
        let (db, orders) = (db.clone(), orders.clone());
        run("getWorkOrder (raw)", 8, run_for, move |w, i| {
            let db = db.clone();
            let id = WorkOrderId(orders[pick(i, w)].parse().unwrap_or_default());
            async move {
                work_orders::get(&db, tenant, id)
                    .await
                    .is_ok_and(|o| o.is_some())
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // listWorkOrders: a filtered page of 50, and a free-text search
    for (name, query, filter) in [
        (
            "listWorkOrders (status + process, 50)",
            format!("status=open&process_id={process}&limit=50"),
            OrderFilter {
                status: Some(workorders_domain::work_order::OrderStatus::Open),
                process_id: Some(ProcessId(process.parse()?)),
                descending: true,
                ..Default::default()
            },
        ),
        (
            "listWorkOrders (free text, 50)",
            "q=kunde%2017%20m%C3%BCller&limit=50".to_owned(),
            OrderFilter {
                q: Some("kunde 17 müller".to_owned()),
                descending: true,
                ..Default::default()
            },
        ),
    ] {
        let http = {
            let (client, base, token, query) = (
                client.clone(),
                base.clone(),
                company.owner_token.clone(),
                query.clone(),
            );
            run(name, 8, run_for, move |_, _| {
                let (client, base, token, query) =
                    (client.clone(), base.clone(), token.clone(), query.clone());
                async move {
                    client
                        .get(format!("{base}/v1/work-orders?{query}"))
                        .bearer_auth(token)
                        .send()
                        .await
                        .is_ok_and(|r| ok(r.status()))
                }
            })
            .await
        };
        let raw = {
            let db = db.clone();
            let filter = Arc::new(filter);
            run(&format!("{name} (raw)"), 8, run_for, move |_, _| {
                let (db, filter) = (db.clone(), filter.clone());
                async move {
                    work_orders::list(&db, tenant, &filter, None, 51)
                        .await
                        .is_ok()
                }
            })
            .await
        };
        results.push((http, Some(raw)));
    }

    // listMyWork
    let tech = UserId(company.techs[0].parse()?);
    let http = {
        let (client, base, token) = (client.clone(), base.clone(), company.tech_token.clone());
        run("listMyWork", 8, run_for, move |_, _| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .get(format!("{base}/v1/me/work?limit=50"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .is_ok_and(|r| ok(r.status()))
            }
        })
        .await
    };
    let raw = {
        let db = db.clone();
        run("listMyWork (raw)", 8, run_for, move |_, _| {
            let db = db.clone();
            async move {
                work_orders::my_work(&db, tenant, tech, None, 51)
                    .await
                    .is_ok()
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // syncPush: one technician's devices, batches of 100 field events (notes, time, material)
    // spread over 10 of their orders; each worker has its own orders and device.
    let tech_orders: Vec<String> = sqlx::query_scalar(
        "SELECT work_order_id FROM work_order_participants WHERE user_id = $1 ORDER BY work_order_id LIMIT 320",
    )
    .bind(tech.to_string())
    .fetch_all(db.pool())
    .await?;
    let tech_orders = Arc::new(tech_orders);
    let http = {
        let (client, base, token, orders) = (
            client.clone(),
            base.clone(),
            company.tech_token.clone(),
            tech_orders.clone(),
        );
        run("syncPush (batch of 100)", 4, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let body = json!({ "events": field_batch(&orders, "http", w, i) });
            async move {
                client
                    .post(format!("{base}/v1/sync/push"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| ok(r.status()))
            }
        })
        .await
    };
    let raw = {
        let (db, orders) = (db.clone(), tech_orders.clone());
        let principal = Arc::new(workorders_api::auth::Principal {
            tenant_id: tenant,
            actor: workorders_api::auth::principal::Actor::User {
                id: tech,
                role: workorders_domain::auth::Role::Technician,
                session: workorders_domain::SessionId::new(),
            },
        });
        run("syncPush (raw)", 4, run_for, move |w, i| {
            let (db, principal) = (db.clone(), principal.clone());
            let events: Vec<workorders_api::routes::sync::FieldEvent> =
                serde_json::from_value(Value::Array(field_batch(&orders, "raw", w, i)))
                    .unwrap_or_default();
            async move {
                match workorders_api::routes::sync::parse_field_events(events) {
                    Ok(events) => workorders_app::sync::push_on(
                        &db,
                        &principal,
                        events,
                        "http://127.0.0.1:8080",
                    )
                    .await
                    .is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // syncPull: the first page (50 orders) of a technician's full pull
    let http = {
        let (client, base, token) = (client.clone(), base.clone(), company.tech_token.clone());
        run("syncPull (50 orders)", 8, run_for, move |_, _| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .get(format!("{base}/v1/sync/pull?limit=50"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .is_ok_and(|r| ok(r.status()))
            }
        })
        .await
    };
    let raw = {
        let db = db.clone();
        run("syncPull (raw)", 8, run_for, move |_, _| {
            let db = db.clone();
            async move {
                workorders_app::sync::pull_page(&db, tenant, tech, None, 50)
                    .await
                    .is_ok()
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // listSlots: 50 staff, 14 days
    let tz = chrono_tz::Europe::Berlin;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let (from, to) = (today, today + chrono::Duration::days(13));
    let http = {
        let (client, base, slug, service) = (
            client.clone(),
            base.clone(),
            company.slug.clone(),
            company.service_id.clone(),
        );
        run("listSlots (50 staff, 14 days, cached while unchanged)", 4, run_for, move |_, _| {
            let (client, base, slug, service) = (client.clone(), base.clone(), slug.clone(), service.clone());
            async move {
                client.get(format!("{base}/v1/public/{slug}/services/{service}/slots?from={from}&to={to}&postal_code=10115")).send().await.is_ok_and(|r| ok(r.status()))
            }
        })
        .await
    };
    let service_record = services::get(
        &db,
        tenant,
        workorders_domain::ServiceId(company.service_id.parse()?),
    )
    .await?
    .context("service")?;
    let raw = {
        let (db, service) = (db.clone(), Arc::new(service_record));
        run("listSlots (raw, uncached)", 4, run_for, move |_, _| {
            let (db, service) = (db.clone(), service.clone());
            async move {
                let Ok(mut conn) = db.pool().acquire().await else {
                    return false;
                };
                let location = workorders_app::scheduling::CustomerLocation {
                    postal_code: Some("10115".to_owned()),
                    coordinates: None,
                };
                workorders_app::scheduling::service_slots(
                    &mut conn,
                    tz,
                    &service,
                    from,
                    to,
                    &location,
                    workorders_persistence::now(),
                )
                .await
                .is_ok()
            }
        })
        .await
    };
    let slot_count = {
        let v: Value = client
            .get(format!(
                "{base}/v1/public/{}/services/{}/slots?from={from}&to={to}",
                company.slug, company.service_id
            ))
            .send()
            .await?
            .json()
            .await?;
        v["slots"].as_array().map(Vec::len).unwrap_or(0)
    };
    results.push((http, Some(raw)));

    // createBooking: 16 concurrent customers racing for the first 20 slots, then onwards
    let slots: Vec<String> = {
        let v: Value = client
            .get(format!(
                "{base}/v1/public/{}/services/{}/slots?from={from}&to={to}",
                company.slug, company.service_id
            ))
            .send()
            .await?
            .json()
            .await?;
        v["slots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["start"].as_str().map(str::to_owned))
            .collect()
    };
    let slots = Arc::new(slots);
    let booked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = {
        let (client, base, slug, service, slots, booked) = (
            client.clone(),
            base.clone(),
            company.slug.clone(),
            company.service_id.clone(),
            slots.clone(),
            booked.clone(),
        );
        run("createBooking (16 racing)", 16, run_for, move |w, i| {
            let (client, base, slug, booked) = (client.clone(), base.clone(), slug.clone(), booked.clone());
            let start = slots.get((i * 16 + w) / 4 % slots.len().max(1)).cloned().unwrap_or_default();
            let body = json!({"service_id": service, "start": start, "consent": true, "customer": {"name": "Bench Kunde", "email": format!("b{w}x{i}@example.com"),
                "street": "Weg 1", "postal_code": "10115", "city": "Berlin"}});
            async move {
                match client.post(format!("{base}/v1/public/{slug}/bookings")).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        booked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        true
                    }
                    Ok(r) => r.status().as_u16() == 409,
                    Err(_) => false,
                }
            }
        })
        .await
    };
    results.push((http, None));

    // Invoicing (issue 8)
    let gaps = invoicing::measure(
        &client,
        &base,
        &company.owner_token,
        &db,
        tenant,
        &orders,
        &seeded_invoices,
        run_for,
        &mut results,
    )
    .await?;

    // Analytics (issue 9)
    let analytics_result = analytics::measure(
        &client,
        &base,
        &company.owner_token,
        &db,
        tenant,
        &seeded_history,
        &orders,
        run_for,
        &mut results,
    )
    .await?;

    // Oversight (issue 9)
    let oversight_result = oversight::measure(
        &client,
        &base,
        &company,
        &database.url,
        &database.data_dir,
        run_for,
        &mut results,
    )
    .await?;

    // Webhook delivery: 1,000 orders created by 8 clients; delivered messages per second
    // from the first creation to the last arrival, and commit-to-arrival latency.
    // First let the deliveries of the earlier phases finish (no arrival for a second).
    let mut last = usize::MAX;
    for _ in 0..120 {
        let now = hooks.count();
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let skip = hooks.count();
    let since = chrono::Utc::now();
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (client, base, token, process, customer, created) = (
            client.clone(),
            base.clone(),
            company.owner_token.clone(),
            process.clone(),
            customer.clone(),
            created.clone(),
        );
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (client, base, token, process, customer, created) = (
                client.clone(),
                base.clone(),
                token.clone(),
                process.clone(),
                customer.clone(),
                created.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for i in 0..125 {
                    let body = json!({"process_id": process, "channel": "api", "customer_id": customer, "title": format!("hook {w}-{i}")});
                    if client.post(format!("{base}/v1/work-orders")).bearer_auth(&token).json(&body).send().await.is_ok_and(|r| r.status().as_u16() == 201) {
                        created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
    }
    let expected = created.load(std::sync::atomic::Ordering::Relaxed);
    let delivery = hooks
        .measure(
            "webhook delivery (1,000 orders)",
            skip,
            expected,
            since,
            Duration::from_secs(120),
        )
        .await;
    results.push((delivery, None));

    let (_, peak_rss) = srv.memory_mib();
    let startup = srv.started_in;
    srv.stop();
    db.close().await;
    if args.keep {
        eprintln!("kept the database: {}", database.url);
    } else {
        database.remove().await;
    }
    Ok((
        SizeResult {
            orders: size,
            seed_seconds: seed_time.as_secs_f64(),
            startup_ms: startup.as_secs_f64() * 1000.0,
            idle_rss_mib: idle_rss,
            peak_rss_mib: peak_rss,
            slot_count,
            bookings: booked.load(std::sync::atomic::Ordering::Relaxed),
            measurements: results,
            invoicing: Some(invoicing::InvoicingResult {
                seeded: seeded_invoices.ids.len(),
                seed_seconds: seeded_invoices.seconds,
                gaps,
            }),
            analytics: Some(analytics_result),
            oversight: Some(oversight_result),
        },
        version,
    ))
}

/// 100 field events on 10 of the worker's orders: notes, time and material, new ids.
fn field_batch(orders: &[String], device: &str, worker: usize, iteration: usize) -> Vec<Value> {
    let own = orders.len() / 4;
    (0..100)
        .map(|k| {
            let order = orders
                .get(worker * own + (iteration * 10 + k % 10) % own.max(1))
                .cloned()
                .unwrap_or_default();
            let seq = i64::try_from(iteration * 100 + k).unwrap_or(0);
            let (kind, payload) = match k % 3 {
                0 => ("note_added", json!({"text": "Customer asked for a quote for the second floor"})),
                1 => (
                    "time_logged",
                    json!({"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:45:00Z"}),
                ),
                _ => (
                    "material_used",
                    json!({"description": "Copper pipe 15 mm", "quantity": "2.5", "unit": "MTR"}),
                ),
            };
            json!({"id": uuid::Uuid::now_v7(), "device_id": format!("{device}-{worker}"), "seq": seq,
                   "occurred_at": "2026-11-20T09:00:00Z", "work_order_id": order, "type": kind, "payload": payload})
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (sizes, run_for): (Vec<usize>, Duration) = if args.quick {
        (vec![10_000], Duration::from_secs(3))
    } else {
        (vec![10_000, 1_000_000], Duration::from_secs(8))
    };
    let mut report = Report::new(
        if args.backend == BackendArg::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        args.quick,
    );
    for size in sizes {
        eprintln!("measuring with {size} orders ...");
        let (result, version) = measure_size(&args, size, run_for).await?;
        report.backend_version = version;
        report.sizes.push(result);
    }
    let text = report.render();
    report::write_section(&args.output, &report.title(), &text)?;
    println!("{text}");
    Ok(())
}
