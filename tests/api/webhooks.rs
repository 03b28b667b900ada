//! Webhooks through a real HTTP receiver: Standard Webhooks signatures checked with an
//! independent implementation, the lifecycle events, retries with backoff, timeouts, 410,
//! dead messages and redelivery, SSRF refusal, a killed worker, and two instances.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use workorders_app::config::Settings;

use crate::support::{Ctx, TestApp, eventually, step};
use crate::tests;

tests!(
    endpoints_are_managed_and_private_targets_refused,
    deliveries_are_signed_and_cover_the_lifecycle,
    failures_are_retried_logged_and_redelivered,
    gone_and_failing_endpoints_are_disabled,
    a_killed_worker_loses_nothing_and_instances_share_the_work,
    overdue_steps_are_announced_once,
);

/// What the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }
}

/// How the receiver answers: `fail_first` requests get `fail_status`, then `status`; each
/// waits `delay` first.
#[derive(Debug, Clone)]
struct Behaviour {
    fail_first: usize,
    fail_status: u16,
    status: u16,
    delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            fail_first: 0,
            fail_status: 500,
            status: 204,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<usize>>,
}

struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<usize>>,
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    // Counted and given its behaviour in one step (`set` takes the same locks in the same
    // order): a test that sees the count rise knows which behaviour the request got.
    let (n, behaviour) = {
        let behaviour = shared.behaviour.lock().expect("lock");
        let mut seen = shared.seen.lock().expect("lock");
        *seen += 1;
        (*seen, behaviour.clone())
    };
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    shared.got.lock().expect("lock").push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = if n <= behaviour.fail_first {
        behaviour.fail_status
    } else {
        behaviour.status
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
}

async fn receiver(behaviour: Behaviour) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let behaviour = Arc::new(Mutex::new(behaviour));
    let seen = Arc::new(Mutex::new(0));
    let shared = web::Data::new(Shared {
        got: got.clone(),
        behaviour: behaviour.clone(),
        seen: seen.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Receiver {
        url: format!("http://127.0.0.1:{port}/hooks"),
        got,
        behaviour,
        seen,
    }
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn set(&self, behaviour: Behaviour) {
        let mut current = self.behaviour.lock().expect("lock");
        *current = behaviour;
        *self.seen.lock().expect("lock") = 0;
    }

    /// Waits until `done` holds for what arrived (at most 20 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.got();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; got {:?}", self.got());
    }
}

/// Verifies a Standard Webhooks signature independently of the server's code: the key is
/// the base64 part of the secret, the content `id.timestamp.body`; any listed `v1`
/// signature may match.
fn verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret is base64");
    r.signature.split(' ').any(|sig| {
        let Some(encoded) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(expected) = STANDARD.decode(encoded) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
        mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
        mac.verify_slice(&expected).is_ok()
    })
}

fn fast(s: &mut Settings) {
    s.webhooks.allow_private = true;
    s.webhooks.retry_scale = 0.002;
    s.webhooks.timeout = Duration::from_millis(500);
    s.webhooks.poll = Duration::from_millis(50);
    s.webhooks.lease = Duration::from_secs(2);
    s.oversight.scan = Duration::from_millis(100);
}

async fn endpoint(app: &TestApp, token: &str, url: &str, types: Value) -> Value {
    let created = app
        .post(
            "/v1/webhooks",
            Some(token),
            &json!({"url": url, "event_types": types, "description": "ERP"}),
        )
        .await;
    created.assert_status(201);
    created.body
}

async fn process_and_customer(app: &TestApp, token: &str) -> (String, String) {
    let process = app
        .published_process(token, "P", json!([step("work", "owner")]))
        .await;
    let (customer, _) = app.customer(token, "Kunde").await;
    (process, customer)
}

async fn endpoints_are_managed_and_private_targets_refused(ctx: Ctx) {
    let strict = ctx.app().await;
    let t = strict.sign_up().await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://[64:ff9b::a00:1]/x",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://198.18.0.1/x",
        "http://[2002:7f00:1::]/x",
        "http://localhost/x",
    ] {
        strict
            .post("/v1/webhooks", Some(&t.token), &json!({"url": url}))
            .await
            .assert_problem(422, "target_not_allowed");
    }
    strict
        .post(
            "/v1/webhooks",
            Some(&t.token),
            &json!({"url": "ftp://example.com/x"}),
        )
        .await
        .assert_problem(422, "target_not_allowed");
    let bad_type = strict
        .post(
            "/v1/webhooks",
            Some(&t.token),
            &json!({"url": "http://127.0.0.1:9/x", "event_types": ["order.exploded"]}),
        )
        .await;
    bad_type.assert_problem(422, "validation_failed");
    assert_eq!(bad_type.body["errors"][0]["pointer"], "/event_types/0");
    let (_, tech) = strict.user_with_role(&t, "technician").await;
    strict
        .post(
            "/v1/webhooks",
            Some(&tech),
            &json!({"url": "https://example.com/x"}),
        )
        .await
        .assert_problem(403, "forbidden");

    let app = ctx.app_with(fast).await;
    let t = app.sign_up().await;
    let r = receiver(Behaviour::default()).await;
    let created = endpoint(&app, &t.token, &r.url, json!([])).await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(
        created["secret"]
            .as_str()
            .expect("secret")
            .starts_with("whsec_")
    );
    let path = format!("/v1/webhooks/{id}");
    let got = app.get(&path, &t.token).await;
    got.assert_status(200);
    assert!(
        got.body.get("secret").is_none(),
        "the secret is shown only once"
    );
    assert_eq!(
        app.get("/v1/webhooks", &t.token)
            .await
            .body
            .as_array()
            .expect("list")
            .len(),
        1
    );
    app.patch(&path, &t.token, None, &json!({"enabled": false}))
        .await
        .assert_problem(428, "precondition_required");
    let changed = app
        .patch(
            &path,
            &t.token,
            Some(&got.etag()),
            &json!({"event_types": ["work_order.completed"], "enabled": false}),
        )
        .await;
    changed.assert_status(200);
    assert_eq!(changed.body["enabled"], false);
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_problem(409, "endpoint_disabled");
    let rotated = app
        .post(
            &format!("{path}/rotate-secret"),
            Some(&t.token),
            &json!({"overlap_seconds": 3600}),
        )
        .await;
    rotated.assert_status(200);
    assert_ne!(rotated.body["secret"], created["secret"]);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    // Other tenants see nothing.
    let other = app.sign_up().await;
    app.get(&path, &other.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}/deliveries"), &other.token)
        .await
        .assert_problem(404, "not_found");
    let current = app.get(&path, &t.token).await;
    app.send(
        Method::DELETE,
        &path,
        Some(&t.token),
        None,
        &[("if-match", current.etag().as_str())],
    )
    .await
    .assert_status(204);
    app.get(&path, &t.token)
        .await
        .assert_problem(404, "not_found");
}

async fn deliveries_are_signed_and_cover_the_lifecycle(ctx: Ctx) {
    let app = ctx.app_with(fast).await;
    let t = app.sign_up().await;
    let all = receiver(Behaviour::default()).await;
    let completed_only = receiver(Behaviour::default()).await;
    let e = endpoint(&app, &t.token, &all.url, json!([])).await;
    let secret = e["secret"].as_str().expect("secret").to_owned();
    let narrow = endpoint(
        &app,
        &t.token,
        &completed_only.url,
        json!(["work_order.completed"]),
    )
    .await;
    let (process, customer) = process_and_customer(&app, &t.token).await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let started = chrono::Utc::now().timestamp();
    app.step_action(&t.token, &order, "work", "start", &[])
        .await
        .assert_status(200);
    app.step_action(&t.token, &order, "work", "complete", &[])
        .await
        .assert_status(200);
    let types = |got: &[Received]| -> BTreeSet<String> {
        got.iter()
            .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let expected: BTreeSet<String> = [
        "work_order.created",
        "step.activated",
        "work_order.status_changed",
        "step.completed",
        "work_order.completed",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let got = all
        .wait_for("the lifecycle", |g| types(g).is_superset(&expected))
        .await;
    let mut ids = BTreeSet::new();
    for r in &got {
        assert!(verifies(&secret, r), "signature of {}", r.body);
        assert!(
            (r.timestamp - started).abs() < 120,
            "timestamp {}",
            r.timestamp
        );
        assert!(ids.insert(r.id.clone()), "one id per message");
        let body = r.json();
        assert_eq!(body["data"]["work_order_id"], order["id"]);
        assert!(body["timestamp"].is_string());
    }
    assert!(!verifies("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &got[0]));
    let only = completed_only
        .wait_for("the completion", |g| !g.is_empty())
        .await;
    // Messages are queued per endpoint in the transaction that causes them: after the
    // requests returned, everything the narrow endpoint will ever get is in its queue.
    let queued: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM outbox WHERE endpoint_id = $1")
            .bind(narrow["id"].as_str().expect("id"))
            .fetch_all(app.db.pool())
            .await
            .expect("outbox");
    assert_eq!(queued, vec!["work_order.completed".to_owned()]);
    let only_types = types(&completed_only.got());
    assert_eq!(
        only_types,
        BTreeSet::from(["work_order.completed".to_owned()])
    );
    assert_eq!(only[0].json()["data"]["work_order_id"], order["id"]);

    // A test ping, then a rotation: both secrets sign during the overlap.
    let path = format!("/v1/webhooks/{}", e["id"].as_str().expect("id"));
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_status(202);
    all.wait_for("the ping", |g| types(g).contains("webhook.test"))
        .await;
    let rotated = app
        .post(&format!("{path}/rotate-secret"), Some(&t.token), &json!({}))
        .await;
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_status(202);
    let got = all
        .wait_for("the second ping", |g| {
            g.iter()
                .filter(|r| r.json()["type"] == "webhook.test")
                .count()
                == 2
        })
        .await;
    let last = got
        .iter()
        .rev()
        .find(|r| r.json()["type"] == "webhook.test")
        .expect("ping");
    assert_eq!(last.signature.split(' ').count(), 2);
    assert!(verifies(&new_secret, last) && verifies(&secret, last));
    // The delivery log shows them delivered.
    let log = app
        .get(&format!("{path}/deliveries?status=delivered"), &t.token)
        .await;
    log.assert_status(200);
    assert!(log.body["items"].as_array().expect("items").len() >= 6);
    // A booking-free order cancellation is an event too.
    let second = app.order(&t.token, &process, &customer).await.body;
    app.post(
        &format!(
            "/v1/work-orders/{}/actions",
            second["id"].as_str().expect("id")
        ),
        Some(&t.token),
        &json!({"action": "cancel", "reason": "duplicate"}),
    )
    .await
    .assert_status(200);
    all.wait_for("the cancellation", |g| {
        types(g).contains("work_order.cancelled")
    })
    .await;
}

async fn failures_are_retried_logged_and_redelivered(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            fast(s);
            s.webhooks.max_attempts = 4;
        })
        .await;
    let t = app.sign_up().await;
    let r = receiver(Behaviour {
        fail_first: 2,
        ..Behaviour::default()
    })
    .await;
    let e = endpoint(&app, &t.token, &r.url, json!(["webhook.test"])).await;
    let path = format!("/v1/webhooks/{}", e["id"].as_str().expect("id"));
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_status(202);
    let got = r.wait_for("three attempts", |g| g.len() >= 3).await;
    assert!(
        got.iter().all(|x| x.id == got[0].id),
        "retries keep the webhook-id"
    );
    let deliveries = app.get(&format!("{path}/deliveries"), &t.token).await;
    let d = &deliveries.body["items"][0];
    let detail = app
        .get(
            &format!("{path}/deliveries/{}", d["id"].as_str().expect("id")),
            &t.token,
        )
        .await;
    let statuses: Vec<Value> = detail.body["attempts_log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(500), json!(500), json!(204)]);
    assert_eq!(detail.body["status"], "delivered");
    assert_eq!(detail.body["message_id"].as_str(), Some(got[0].id.as_str()));

    // A receiver slower than the timeout: the attempt times out and is retried.
    r.set(Behaviour {
        delay: Duration::from_millis(900),
        ..Behaviour::default()
    });
    let arrived = *r.seen.lock().expect("lock");
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_status(202);
    // The slow attempt has arrived (it took the slow behaviour with it): the retry is answered
    // at once.
    eventually("the slow attempt", || async {
        (*r.seen.lock().expect("lock") > arrived).then_some(())
    })
    .await;
    r.set(Behaviour::default());
    let timed_out = eventually("the retried delivery", || async {
        let list = app.get(&format!("{path}/deliveries"), &t.token).await;
        let newest = list.body["items"][0].clone();
        (newest["status"] == "delivered").then_some(newest)
    })
    .await;
    let detail = app
        .get(
            &format!(
                "{path}/deliveries/{}",
                timed_out["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    let first = &detail.body["attempts_log"][0];
    assert!(first["status_code"].is_null());
    assert!(
        first["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{first}"
    );

    // Always failing: dead after the last attempt, listed, redelivered after the fix.
    r.set(Behaviour {
        fail_first: usize::MAX,
        ..Behaviour::default()
    });
    app.post(&format!("{path}/test"), Some(&t.token), &json!({}))
        .await
        .assert_status(202);
    let dead = eventually("the dead delivery", || async {
        let list = app
            .get(&format!("{path}/deliveries?status=dead"), &t.token)
            .await;
        list.body["items"]
            .as_array()
            .and_then(|i| i.first())
            .cloned()
    })
    .await;
    assert_eq!(dead["attempts"], 4);
    r.set(Behaviour::default());
    let before = r.got().len();
    app.post(
        &format!(
            "{path}/deliveries/{}/redeliver",
            dead["id"].as_str().expect("id")
        ),
        Some(&t.token),
        &json!({}),
    )
    .await
    .assert_status(202);
    let got = r.wait_for("the redelivery", |g| g.len() > before).await;
    assert_eq!(
        got.last().map(|x| x.id.as_str()),
        dead["message_id"].as_str()
    );
    // Metrics show the queue and the attempts.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("outbox_pending_messages"), "{text}");
    assert!(
        text.contains("webhook_delivery_attempts_total{result=\"dead\"}"),
        "{text}"
    );
}

async fn gone_and_failing_endpoints_are_disabled(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            fast(s);
            s.webhooks.disable_after_failures = 3;
            s.webhooks.disable_after = Duration::ZERO;
        })
        .await;
    let t = app.sign_up().await;
    let gone = receiver(Behaviour {
        status: 410,
        ..Behaviour::default()
    })
    .await;
    let failing = receiver(Behaviour {
        status: 503,
        ..Behaviour::default()
    })
    .await;
    let watcher = receiver(Behaviour::default()).await;
    let g = endpoint(&app, &t.token, &gone.url, json!([])).await;
    let f = endpoint(&app, &t.token, &failing.url, json!([])).await;
    endpoint(
        &app,
        &t.token,
        &watcher.url,
        json!(["webhook.endpoint_disabled"]),
    )
    .await;
    let (process, customer) = process_and_customer(&app, &t.token).await;
    app.order(&t.token, &process, &customer)
        .await
        .assert_status(201);
    for (e, why) in [(&g, "410"), (&f, "failed attempts in a row")] {
        let path = format!("/v1/webhooks/{}", e["id"].as_str().expect("id"));
        let mut disabled = Value::Null;
        for _ in 0..200 {
            disabled = app.get(&path, &t.token).await.body;
            if disabled["enabled"] == false {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(disabled["enabled"], false, "{disabled}");
        assert!(
            disabled["disabled_reason"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{disabled}"
        );
    }
    // The owner's other endpoint heard about it.
    watcher
        .wait_for("the announcement", |got| got.len() >= 2)
        .await;
    // Re-enabling clears the streak.
    let path = format!("/v1/webhooks/{}", f["id"].as_str().expect("id"));
    let current = app.get(&path, &t.token).await;
    let enabled = app
        .patch(
            &path,
            &t.token,
            Some(&current.etag()),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(enabled.body["enabled"], true);
    assert_eq!(enabled.body["failure_streak"], 0);
    assert!(enabled.body["disabled_reason"].is_null());
}

async fn a_killed_worker_loses_nothing_and_instances_share_the_work(ctx: Ctx) {
    let first = ctx.app_with(fast).await;
    let t = first.sign_up().await;
    let r = receiver(Behaviour {
        delay: Duration::from_millis(150),
        ..Behaviour::default()
    })
    .await;
    endpoint(&first, &t.token, &r.url, json!(["work_order.created"])).await;
    let (process, customer) = process_and_customer(&first, &t.token).await;
    for _ in 0..12 {
        first
            .order(&t.token, &process, &customer)
            .await
            .assert_status(201);
    }
    // Kill the first server while it delivers.
    r.wait_for("the first delivery", |g| !g.is_empty()).await;
    ctx.stop(&first).await;
    // Two instances on the same database finish the work.
    let second = ctx.app_sharing(&first, fast).await;
    let third = ctx.app_sharing(&first, fast).await;
    let before_kill: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT message_id FROM outbox")
            .fetch_all(second.db.pool())
            .await
            .expect("outbox")
            .into_iter()
            .collect();
    assert_eq!(before_kill.len(), 12);
    r.set(Behaviour::default());
    for app in [&second, &third] {
        for _ in 0..6 {
            app.order(&t.token, &process, &customer)
                .await
                .assert_status(201);
        }
    }
    let got = r
        .wait_for("every message", |g| {
            g.iter()
                .map(|x| x.id.clone())
                .collect::<BTreeSet<_>>()
                .len()
                >= 24
        })
        .await;
    let mut per_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for x in &got {
        per_id.entry(x.id.clone()).or_default().push(x.body.clone());
    }
    assert_eq!(per_id.len(), 24, "every order created is told");
    // Duplicates only where the killed worker held a message: same id, same body.
    for (id, bodies) in &per_id {
        assert!(bodies.iter().all(|b| b == &bodies[0]), "{id}");
    }
    // Messages queued after the kill, shared by two healthy instances: exactly once each.
    for (id, bodies) in &per_id {
        if !before_kill.contains(id) {
            assert_eq!(bodies.len(), 1, "{id} delivered {} times", bodies.len());
        }
    }
    let all_ids: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT message_id FROM outbox")
            .fetch_all(second.db.pool())
            .await
            .expect("outbox")
            .into_iter()
            .collect();
    assert_eq!(all_ids.len(), 24);
    assert!(
        all_ids.iter().all(|m| per_id.contains_key(m)),
        "nothing lost"
    );
    // Every message is delivered once the work is done.
    let view = second.get("/v1/webhooks", &t.token).await;
    let path = format!(
        "/v1/webhooks/{}/deliveries?status=pending",
        view.body[0]["id"].as_str().expect("id")
    );
    for _ in 0..100 {
        if second.get(&path, &t.token).await.body["items"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(second.get(&path, &t.token).await.body["items"], json!([]));
}

async fn overdue_steps_are_announced_once(ctx: Ctx) {
    let app = ctx.app_with(fast).await;
    let second = ctx.app_sharing(&app, fast).await;
    let t = app.sign_up().await;
    let r = receiver(Behaviour::default()).await;
    endpoint(&app, &t.token, &r.url, json!(["step.overdue"])).await;
    let (process, customer) = process_and_customer(&app, &t.token).await;
    let late = app.order(&t.token, &process, &customer).await.body;
    let on_time = app.order(&t.token, &process, &customer).await.body;
    // The step of `late` was due an hour ago; `on_time`'s is due in an hour.
    let an_hour_ago =
        workorders_persistence::format_instant(chrono::Utc::now() - chrono::Duration::hours(1));
    sqlx::query("UPDATE work_order_steps SET due_at = $1 WHERE work_order_id = $2")
        .bind(&an_hour_ago)
        .bind(late["id"].as_str().expect("id"))
        .execute(app.db.pool())
        .await
        .expect("update");
    let got = r.wait_for("the overdue step", |g| !g.is_empty()).await;
    let body = got[0].json();
    assert_eq!(body["type"], "step.overdue");
    assert_eq!(body["data"]["work_order_id"], late["id"]);
    assert_eq!(body["data"]["step_key"], "work");
    // Both instances scan again, several times: still one announcement, and none for the
    // other order.
    for _ in 0..3 {
        for instance in [&app, &second] {
            workorders_app::oversight::tick(&instance.state)
                .await
                .expect("scan");
        }
    }
    let announced: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = 'step.overdue'")
            .fetch_all(app.db.pool())
            .await
            .expect("outbox");
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(
        announced[0].contains(late["id"].as_str().expect("id")),
        "{announced:?}"
    );
    assert!(
        !announced[0].contains(on_time["id"].as_str().expect("id")),
        "nothing for the order that is on time"
    );
    assert_eq!(r.got().len(), 1, "{:?}", r.got());
}
