//! Process analytics (issue 9): per-step statistics of one process version over the history
//! of its orders, and two versions compared.
//!
//! The seeded orders carry only their `work_order.created` event, which the analytics
//! ignore; so the step history of the process with the most seeded orders is written here in
//! bulk through SQL: every step activated (with a due time), started and completed, some
//! skipped, some reworked (reopened, activated, started, completed again), two thirds of the
//! orders completed (half of those closed), the rest stopped at a step. The later half of
//! those orders (by creation) is moved to a second version of the process (step `s4`
//! removed, a step `s10` added) for `compareProcessVersions`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use workorders_domain::analytics::Accumulator;
use workorders_domain::{ProcessVersionId, TenantId};
use workorders_persistence::{Db, format_instant};

use crate::load::{Measurement, run};
use crate::seed::{Cell, Company, insert_rows};

/// At most this many orders get a step history (about 1.1 million step events in the full
/// run; 2,000 orders in the quick one).
const MAX_ORDERS: usize = 35_000;

/// The types the analytics read.
const TYPES: &str = "'step.activated', 'step.started', 'step.completed', 'step.skipped', 'step.reopened', \
    'work_order.completed', 'work_order.closed', 'work_order.cancelled'";

/// What a version's report covers, counted with SQL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coverage {
    /// Orders of the version created in the range.
    pub orders: u64,
    /// Of them, orders with at least one history event the analytics read.
    pub orders_with_history: u64,
    /// History events of the analytics' types of those orders.
    pub events: u64,
}

pub struct AnalyticsResult {
    /// Reports completed beside the getWorkOrder run.
    pub background_reports: usize,
    pub seed_seconds: f64,
    pub inserted_events: usize,
    pub v1: Coverage,
    pub v2: Coverage,
    /// `report.orders` as the endpoint returned it for version 1.
    pub reported_orders: u64,
}

pub struct Seeded {
    process: String,
    from: String,
    to: String,
    keys_v1: Vec<String>,
    version_ids: (ProcessVersionId, ProcessVersionId),
    pub inserted_events: usize,
    pub seconds: f64,
}

fn step_definition(key: &str, name: &str, minutes: i64) -> Value {
    json!({"key": key, "name": name, "responsible": {"role": "technician"},
           "target_duration_minutes": minutes, "checklist": [{"key": "done", "label": "Done"}]})
}

/// The step history of the process with the most seeded orders, and its second version.
pub async fn seed(db: &Db, base: &str, c: &Company) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let (process, _): (String, i64) = sqlx::query_as(
        "SELECT process_id, COUNT(*) FROM work_orders WHERE tenant_id = $1 GROUP BY process_id ORDER BY 2 DESC, 1 LIMIT 1",
    )
    .bind(&c.tenant_id)
    .fetch_one(db.pool())
    .await
    .context("the process with the most orders")?;
    let (_, v1_id, v1_steps) = c
        .processes
        .iter()
        .find(|(id, _, _)| *id == process)
        .context("seeded process")?;
    let keys_v1: Vec<String> = v1_steps
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["key"].as_str().map(str::to_owned))
        .collect();
    // Version 2: without s4, with a final check s10.
    let mut steps_v2: Vec<Value> = v1_steps
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["key"] != "s4")
        .map(|s| {
            step_definition(
                s["key"].as_str().unwrap_or("s"),
                s["name"].as_str().unwrap_or("Step"),
                s["target_duration_minutes"].as_i64().unwrap_or(60),
            )
        })
        .collect();
    steps_v2.push(step_definition("s10", "Final check", 30));
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/v1/processes/{process}/versions"))
        .bearer_auth(&c.owner_token)
        .json(&json!({"steps": steps_v2}))
        .send()
        .await?;
    let status = response.status();
    let v2: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.as_u16() == 201, "process version 2 ({status}): {v2}");
    anyhow::ensure!(v2["number"] == json!(2), "process version 2: {v2}");
    let v2_id = v2["id"].as_str().context("version 2 id")?.to_owned();
    let keys_v2: Vec<String> = steps_v2
        .iter()
        .filter_map(|s| s["key"].as_str().map(str::to_owned))
        .collect();

    // The newest orders of the process, oldest first.
    let mut orders: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, created_at FROM work_orders WHERE tenant_id = $1 AND process_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(&c.tenant_id)
    .bind(&process)
    .bind(MAX_ORDERS as i64)
    .fetch_all(db.pool())
    .await?;
    orders.reverse();
    let half = orders.len() / 2;
    // The later half moves to version 2.
    if let Some((_, first_v2)) = orders.get(half) {
        sqlx::query(
            "UPDATE work_orders SET process_version_id = $1 WHERE tenant_id = $2 AND process_id = $3 AND created_at >= $4",
        )
        .bind(&v2_id)
        .bind(&c.tenant_id)
        .bind(&process)
        .bind(first_v2)
        .execute(db.pool())
        .await?;
    }
    let mut events = Vec::new();
    for (j, (order, created)) in orders.iter().enumerate() {
        let created: DateTime<Utc> = DateTime::parse_from_rfc3339(created)
            .context("order created_at")?
            .with_timezone(&Utc);
        let keys = if j < half { &keys_v1 } else { &keys_v2 };
        history(&mut events, &c.tenant_id, &c.techs, order, created, j, keys);
    }
    let inserted_events = events.len();
    insert_rows(
        db,
        "work_order_events",
        &[
            "id",
            "tenant_id",
            "work_order_id",
            "seq",
            "command_id",
            "type",
            "actor_type",
            "actor_id",
            "at",
            "data",
        ],
        events,
    )
    .await?;
    let today = Utc::now().date_naive();
    Ok(Seeded {
        // All seeded orders were created within the last 12 days.
        from: (today - chrono::Duration::days(30)).to_string(),
        to: (today + chrono::Duration::days(1)).to_string(),
        process,
        keys_v1,
        version_ids: (
            ProcessVersionId(v1_id.parse()?),
            ProcessVersionId(v2_id.parse()?),
        ),
        inserted_events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Appends one history event: type, time, acting user, data.
type Push<'a> = dyn FnMut(&str, DateTime<Utc>, Option<&str>, Value) + 'a;

/// One order's step history after its `work_order.created` (seq 1).
fn history(
    out: &mut Vec<Vec<Cell>>,
    tenant: &str,
    techs: &[String],
    order: &str,
    created: DateTime<Utc>,
    j: usize,
    keys: &[String],
) {
    let tech = &techs[j % techs.len()];
    let mut seq = 1i64;
    let mut push = |kind: &str, at: DateTime<Utc>, actor: Option<&str>, data: Value| {
        seq += 1;
        out.push(vec![
            uuid::Uuid::now_v7().to_string().into(),
            tenant.into(),
            order.into(),
            seq.into(),
            uuid::Uuid::now_v7().to_string().into(),
            kind.into(),
            if actor.is_some() { "user" } else { "system" }.into(),
            actor.map_or(Cell::Null, Cell::from),
            format_instant(at).into(),
            data.to_string().into(),
        ]);
    };
    // A third of the orders stop at some step (in flight).
    let stop_at = j.is_multiple_of(3).then_some(j % keys.len());
    let mut t = created;
    for (k, key) in keys.iter().enumerate() {
        let step_id = uuid::Uuid::now_v7().to_string();
        let target = chrono::Duration::minutes(60 * (k as i64 + 1));
        let activate = |push: &mut Push<'_>, at: DateTime<Utc>| {
            push(
                "step.activated",
                at,
                None,
                json!({"step_id": step_id, "step_key": key, "responsible": tech, "due_at": format_instant(at + target)}),
            );
        };
        activate(&mut push, t);
        if stop_at == Some(k) {
            return;
        }
        if (j + k).is_multiple_of(20) {
            t += chrono::Duration::minutes(5);
            push(
                "step.skipped",
                t,
                Some(tech),
                json!({"step_id": step_id, "step_key": key, "reason": "not needed", "from": "active"}),
            );
            continue;
        }
        let rounds = if (j + 3 * k).is_multiple_of(25) { 2 } else { 1 };
        for round in 0..rounds {
            if round > 0 {
                t += chrono::Duration::minutes(10);
                push(
                    "step.reopened",
                    t,
                    Some(tech),
                    json!({"step_id": step_id, "step_key": key, "reason": "rework", "from": "done", "rework_count": round}),
                );
                activate(&mut push, t);
            }
            t += chrono::Duration::minutes(10 + ((j * 37 + k * 11) % 120) as i64);
            push(
                "step.started",
                t,
                Some(tech),
                json!({"step_id": step_id, "step_key": key}),
            );
            t += chrono::Duration::minutes(20 + ((j * 53 + k * 17) % (90 * (k + 1))) as i64);
            push(
                "step.completed",
                t,
                Some(tech),
                json!({"step_id": step_id, "step_key": key, "responsible": tech, "automated": false}),
            );
        }
    }
    push("work_order.completed", t, None, json!({}));
    if j.is_multiple_of(2) {
        push(
            "work_order.closed",
            t + chrono::Duration::days(14),
            None,
            json!({}),
        );
    }
}

async fn coverage(
    db: &Db,
    tenant: TenantId,
    version: ProcessVersionId,
) -> anyhow::Result<Coverage> {
    let (orders,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM work_orders WHERE tenant_id = $1 AND process_version_id = $2",
    )
    .bind(tenant.to_string())
    .bind(version.to_string())
    .fetch_one(db.pool())
    .await?;
    let (with_history, events): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(DISTINCT o.id), COUNT(*) FROM work_orders o JOIN work_order_events e ON e.work_order_id = o.id \
         WHERE o.tenant_id = $1 AND o.process_version_id = $2 AND e.type IN ({TYPES})"
    )))
    .bind(tenant.to_string())
    .bind(version.to_string())
    .fetch_one(db.pool())
    .await?;
    Ok(Coverage {
        orders: orders as u64,
        orders_with_history: with_history as u64,
        events: events as u64,
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    client: &reqwest::Client,
    base: &Arc<String>,
    token: &str,
    db: &Db,
    tenant: TenantId,
    seeded: &Seeded,
    orders: &Arc<Vec<String>>,
    run_for: Duration,
    results: &mut Vec<(Measurement, Option<Measurement>)>,
) -> anyhow::Result<AnalyticsResult> {
    // Measured over the whole history of both versions (all their orders are in the range):
    // count what it covers. Orders created during the run (createWorkOrder, version 1) have no
    // step history yet, so they count as orders but not as orders with history.
    let v1 = coverage(db, tenant, seeded.version_ids.0).await?;
    let v2 = coverage(db, tenant, seeded.version_ids.1).await?;
    let url = Arc::new(format!(
        "{base}/v1/analytics/processes/{}?version=1&from={}&to={}",
        seeded.process, seeded.from, seeded.to
    ));
    let compare = Arc::new(format!(
        "{base}/v1/analytics/processes/{}/compare?a=1&b=2&from={}&to={}",
        seeded.process, seeded.from, seeded.to
    ));
    let token = Arc::new(token.to_owned());
    let first: Value = client
        .get(url.as_str())
        .bearer_auth(token.as_str())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let reported_orders = first["report"]["orders"].as_u64().unwrap_or(0);

    for (name, target, clients) in [
        ("getProcessAnalytics (1 client)", &url, 1),
        ("getProcessAnalytics (4 clients)", &url, 4),
        ("compareProcessVersions (1 client)", &compare, 1),
        ("compareProcessVersions (4 clients)", &compare, 4),
    ] {
        let http = {
            let (client, target, token) = (client.clone(), target.clone(), token.clone());
            run(name, clients, run_for, move |_, _| {
                let (client, target, token) = (client.clone(), target.clone(), token.clone());
                async move {
                    let Ok(r) = client
                        .get(target.as_str())
                        .bearer_auth(token.as_str())
                        .send()
                        .await
                    else {
                        return false;
                    };
                    r.status().is_success() && r.bytes().await.is_ok()
                }
            })
            .await
        };
        // The ceiling for version 1: the stream and the accumulator, without HTTP and JSON.
        let raw = if name == "getProcessAnalytics (1 client)" {
            let db = db.clone();
            let keys = Arc::new(seeded.keys_v1.clone());
            let version = seeded.version_ids.0;
            let from = Utc::now() - chrono::Duration::days(30);
            let to = Utc::now() + chrono::Duration::days(2);
            Some(
                run("getProcessAnalytics (raw)", 1, run_for, move |_, _| {
                    let (db, keys) = (db.clone(), keys.clone());
                    async move {
                        use workorders_persistence::analytics as store;
                        let mut acc = Accumulator::new(&keys);
                        let Ok(orders) =
                            store::version_orders(&db, tenant, version, from, to).await
                        else {
                            return false;
                        };
                        for chunk in orders.chunks(store::CHUNK) {
                            let Ok(histories) = store::histories(&db, tenant, chunk).await else {
                                return false;
                            };
                            for h in &histories {
                                acc.add(h);
                            }
                        }
                        acc.finish().orders > 0
                    }
                })
                .await,
            )
        } else {
            None
        };
        results.push((http, raw));
    }
    // getWorkOrder (8 clients) while one client requests reports back to back: the
    // accumulator runs on the server's worker threads.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (client, url, token, stop) = (client.clone(), url.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reports = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if client
                    .get(url.as_str())
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    reports += 1;
                }
            }
            reports
        })
    };
    let http = {
        let (client, base, token, orders) =
            (client.clone(), base.clone(), token.clone(), orders.clone());
        let count = orders.len().max(1);
        run(
            "getWorkOrder (while getProcessAnalytics runs)",
            8,
            run_for,
            move |w, i| {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                let id = orders[(i * 7919 + w * 104_729) % count].clone();
                async move {
                    client
                        .get(format!("{base}/v1/work-orders/{id}"))
                        .bearer_auth(token.as_str())
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            },
        )
        .await
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let background_reports = background.await.unwrap_or(0);
    results.push((http, None));
    Ok(AnalyticsResult {
        background_reports,
        seed_seconds: seeded.seconds,
        inserted_events: seeded.inserted_events,
        v1,
        v2,
        reported_orders,
    })
}
