//! Exactly once where it counts: e-mail bookkeeping that survives database errors, background
//! work isolated per tenant and message. Faults are injected with a trigger the test installs
//! in its own database.

use std::time::Duration;

use serde_json::json;

use crate::booking::{book_first, bookable};
use crate::support::{Ctx, TestApp, eventually};
use crate::tests;

tests!(
    an_email_is_sent_once_when_recording_it_fails_for_a_while,
    one_tenants_broken_row_stops_only_its_own_oversight,
    an_unreadable_webhook_endpoint_costs_no_delivery_attempt,
    an_unreadable_email_is_set_aside_and_the_others_go_out,
    automatic_invoices_never_guess_money,
);

/// An order whose `work` step is done and whose next step issues the invoice by itself.
pub async fn order_to_invoice(app: &TestApp, t: &crate::support::Tenant) -> serde_json::Value {
    crate::billing::put_profile(app, t, &crate::billing::profile(), Some("\"0\""))
        .await
        .assert_status(200);
    app.post(
        "/v1/catalogue-items",
        Some(&t.token),
        &json!({"code": "LAB", "kind": "labour", "name": "Monteurstunde", "unit": "HUR", "unit_price": "68.00", "vat_rate": "19"}),
    )
    .await
    .assert_status(201);
    let process = app
        .published_process(
            &t.token,
            "Reparatur",
            json!([
                {"key": "work", "name": "Work", "responsible": {"role": "owner"}},
                {"key": "invoice", "name": "Invoice", "responsible": {"role": "owner"}, "handling": "create_invoice"}
            ]),
        )
        .await;
    let customer = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": "Kai Kunde", "email": "kai@example.com",
                    "billing_address": {"street": "Weg 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
                    "sites": [{"street": "Weg 1", "postal_code": "10115", "city": "Berlin"}]}),
        )
        .await;
    let order = app
        .order(
            &t.token,
            &process,
            customer.body["id"].as_str().expect("id"),
        )
        .await;
    order.assert_status(201);
    order.body
}

async fn automatic_invoices_never_guess_money(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            s.mail.poll = Duration::from_millis(100);
            s.mail.retry_scale = 1000.0;
        })
        .await;
    let t = app.sign_up().await;
    let order = order_to_invoice(&app, &t).await;
    let order_id = order["id"].as_str().expect("id").to_owned();
    // A time entry from the field whose end cannot be read (stored by an older version).
    sqlx::query(
        "INSERT INTO field_entries (id, tenant_id, work_order_id, step_id, kind, user_id, device_id, occurred_at, data, created_at) \
         SELECT $1, tenant_id, id, NULL, 'time', $2, 'ipad', $3, $4, $3 FROM work_orders WHERE id = $5",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&t.owner_id)
    .bind(workorders_persistence::format_instant(chrono::Utc::now()))
    .bind(r#"{"start": "2026-11-20T08:00:00Z", "end": "soon"}"#)
    .bind(&order_id)
    .execute(app.db.pool())
    .await
    .expect("entry");
    app.step_action(&t.token, &order, "work", "complete", &[])
        .await
        .assert_status(200);
    // The worker refuses to invoice: the order is flagged with the reason, the person
    // responsible for the invoice step is told, no invoice (and no number) exists.
    let history = eventually("the billing job's report", || async {
        let h = crate::support::history_types(&app, &t.token, &order_id).await;
        h.iter()
            .any(|t| t == "billing.create_invoice_blocked")
            .then_some(h)
    })
    .await;
    assert!(
        history.iter().any(|t| t == "work_order.flagged"),
        "{history:?}"
    );
    let view = app
        .get(&format!("/v1/work-orders/{order_id}"), &t.token)
        .await;
    assert_eq!(view.body["needs_attention"], true, "{}", view.text);
    let invoices = app.get("/v1/invoices", &t.token).await;
    assert_eq!(invoices.body["items"], json!([]));
    let events = app
        .get(
            &format!("/v1/work-orders/{order_id}/history?limit=200"),
            &t.token,
        )
        .await;
    let blocked = events.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "billing.create_invoice_blocked")
        .expect("blocked")
        .clone();
    assert!(
        blocked["data"]["reason"]
            .as_str()
            .expect("reason")
            .contains("no readable start and end"),
        "{blocked}"
    );
    let mails: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails WHERE kind = 'billing_blocked' AND to_address = $1",
    )
    .bind(&t.owner_email)
    .fetch_one(app.db.pool())
    .await
    .expect("mail");
    assert_eq!(mails, 1);
    // A price that cannot be read is refused the same way.
    let t2 = app.sign_up().await;
    let order = order_to_invoice(&app, &t2).await;
    sqlx::query("UPDATE catalogue_items SET unit_price = 'a lot' WHERE code = 'LAB' AND tenant_id = (SELECT id FROM tenants WHERE slug = $1)")
        .bind(&t2.slug)
        .execute(app.db.pool())
        .await
        .expect("price");
    sqlx::query(
        "INSERT INTO field_entries (id, tenant_id, work_order_id, step_id, kind, user_id, device_id, occurred_at, data, created_at) \
         SELECT $1, tenant_id, id, NULL, 'time', $2, 'ipad', $3, $4, $3 FROM work_orders WHERE id = $5",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&t2.owner_id)
    .bind(workorders_persistence::format_instant(chrono::Utc::now()))
    .bind(r#"{"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T10:00:00Z"}"#)
    .bind(order["id"].as_str().expect("id"))
    .execute(app.db.pool())
    .await
    .expect("entry");
    app.step_action(&t2.token, &order, "work", "complete", &[])
        .await
        .assert_status(200);
    let order_id = order["id"].as_str().expect("id");
    eventually("the billing job's report", || async {
        let h = crate::support::history_types(&app, &t2.token, order_id).await;
        h.iter()
            .any(|t| t == "billing.create_invoice_blocked")
            .then_some(())
    })
    .await;
    let invoices = app.get("/v1/invoices", &t2.token).await;
    assert_eq!(
        invoices.body["items"],
        json!([]),
        "no invoice priced at zero"
    );
}

async fn an_unreadable_email_is_set_aside_and_the_others_go_out(ctx: Ctx) {
    let server = crate::support::smtp();
    let settings = server.settings();
    let app = ctx
        .app_with(|s| {
            s.mail.smtp = Some(settings);
            s.mail.poll = Duration::from_millis(100);
        })
        .await;
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    // A queued message whose stored attachments nobody can read, older than the next one.
    let tenant: String = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(&t.slug)
        .fetch_one(app.db.pool())
        .await
        .expect("tenant");
    let past =
        workorders_persistence::format_instant(chrono::Utc::now() - chrono::Duration::minutes(5));
    sqlx::query(
        "INSERT INTO emails (id, tenant_id, kind, message_id, to_address, subject, body, attachments, status, \
         attempts, next_attempt_at, created_at) VALUES ($1, $2, 'quote', 'x@workorders', 'a@example.com', 'S', '', \
         'not json', 'queued', 0, $3, $3)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&tenant)
    .bind(&past)
    .execute(app.db.pool())
    .await
    .expect("insert");
    book_first(&app, &t, &service, "jana@example.com").await;
    let received = server.wait_for(1, Duration::from_secs(20));
    assert!(received[0].to.iter().any(|to| to == "jana@example.com"));
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM emails WHERE message_id = 'x@workorders'")
            .fetch_one(app.db.pool())
            .await
            .expect("row");
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("unreadable row"));
    assert!(
        metric(
            &app,
            r#"worker_errors_total{worker="email",phase="unreadable_message"}"#
        )
        .await
            >= 1.0
    );
}

async fn metric(app: &TestApp, name_and_labels: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn one_tenants_broken_row_stops_only_its_own_oversight(ctx: Ctx) {
    let now = chrono::Utc::now();
    let clock = workorders_persistence::Clock::manual(now);
    let app = {
        let clock = clock.clone();
        ctx.app_with(move |s| {
            s.clock = clock;
            s.oversight.scan = Duration::from_secs(3600);
        })
        .await
    };
    let mut tenants = Vec::new();
    for _ in 0..2 {
        let t = app.sign_up().await;
        app.post(
            "/v1/review-schedules",
            Some(&t.token),
            &json!({"name": "Daily check", "cadence": "daily", "time": "08:00", "reviewer_id": t.owner_id}),
        )
        .await
        .assert_status(201);
        tenants.push(t);
    }
    // The first tenant's schedule is stored in a form nothing can read.
    let broken: String = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(&tenants[0].slug)
        .fetch_one(app.db.pool())
        .await
        .expect("tenant");
    sqlx::query("UPDATE review_schedules SET cadence = 'fortnightly-ish' WHERE tenant_id = $1")
        .bind(&broken)
        .execute(app.db.pool())
        .await
        .expect("corrupt");
    clock.set(now + chrono::Duration::days(2));
    let report = workorders_app::oversight::tick(&app.state)
        .await
        .expect("the scan itself goes on");
    assert!(report.reviews_created >= 1, "{report:?}");
    let reviews = |t: &crate::support::Tenant| {
        let (app, token) = (app.clone(), t.token.clone());
        async move {
            app.get("/v1/reviews", &token).await.body["items"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
        }
    };
    assert!(
        reviews(&tenants[1]).await >= 1,
        "the other tenant's review was made"
    );
    assert_eq!(reviews(&tenants[0]).await, 0);
    // The broken tenant sees why, and the operator sees it in the metrics.
    let view = app.get("/v1/oversight", &tenants[0].token).await;
    view.assert_status(200);
    let problems = view.body["worker_problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{}", view.text);
    assert_eq!(problems[0]["phase"], "review_schedules");
    assert!(
        problems[0]["detail"]
            .as_str()
            .expect("detail")
            .contains("cadence"),
        "{}",
        view.text
    );
    let other = app.get("/v1/oversight", &tenants[1].token).await;
    assert_eq!(other.body["worker_problems"], json!([]));
    assert!(
        metric(
            &app,
            r#"worker_errors_total{worker="oversight",phase="review_schedules"}"#
        )
        .await
            >= 1.0
    );
    // Repaired: the next scan catches up and the problem is gone.
    sqlx::query("UPDATE review_schedules SET cadence = 'daily' WHERE tenant_id = $1")
        .bind(&broken)
        .execute(app.db.pool())
        .await
        .expect("repair");
    workorders_app::oversight::tick(&app.state)
        .await
        .expect("scan");
    assert!(reviews(&tenants[0]).await >= 1);
    let view = app.get("/v1/oversight", &tenants[0].token).await;
    assert_eq!(view.body["worker_problems"], json!([]));
}

async fn an_unreadable_webhook_endpoint_costs_no_delivery_attempt(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            s.webhooks.allow_private = true;
            s.webhooks.poll = Duration::from_millis(100);
        })
        .await;
    let t = app.sign_up().await;
    let hook = app
        .post(
            "/v1/webhooks",
            Some(&t.token),
            &json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["webhook.test"]}),
        )
        .await;
    hook.assert_status(201);
    let id = hook.body["id"].as_str().expect("id").to_owned();
    sqlx::query("UPDATE webhook_endpoints SET event_types = 'not json' WHERE id = $1")
        .bind(&id)
        .execute(app.db.pool())
        .await
        .expect("corrupt");
    // A message for it (queued directly: the API cannot read the endpoint either).
    sqlx::query(
        "INSERT INTO outbox (id, tenant_id, endpoint_id, message_id, event_type, payload, status, attempts, \
         next_attempt_at, created_at) SELECT $1, tenant_id, id, $2, 'webhook.test', '{}', 'pending', 0, $3, $3 \
         FROM webhook_endpoints WHERE id = $4",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(workorders_persistence::format_instant(chrono::Utc::now()))
    .bind(&id)
    .execute(app.db.pool())
    .await
    .expect("queued");
    app.db.outbox_signal().notify_one();
    eventually("the worker's attempt to read the endpoint", || async {
        let errors = metric(
            &app,
            r#"worker_errors_total{worker="webhooks",phase="read_endpoint"}"#,
        )
        .await;
        (errors >= 1.0).then_some(())
    })
    .await;
    // The worker puts the message back (it had claimed it, with an attempt, to read the
    // endpoint): unlocked again.
    let (status, attempts) = eventually("the message's release", || async {
        let (status, attempts, locked): (String, i64, Option<String>) = sqlx::query_as(
            "SELECT status, attempts, locked_until FROM outbox WHERE endpoint_id = $1",
        )
        .bind(&id)
        .fetch_one(app.db.pool())
        .await
        .expect("message");
        locked.is_none().then_some((status, attempts))
    })
    .await;
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 0),
        "no attempt burned, not dead"
    );
    let tried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_attempts")
        .fetch_one(app.db.pool())
        .await
        .expect("attempts");
    assert_eq!(tried, 0);
}

/// Makes every UPDATE of `table` that changes `status` fail until `clear_fault`.
pub async fn inject_fault(app: &TestApp, table: &str) {
    let statements: Vec<String> = match app.db.backend() {
        workorders_persistence::Backend::Sqlite => vec![
            "CREATE TABLE IF NOT EXISTS test_fault (active INTEGER NOT NULL)".to_owned(),
            "INSERT INTO test_fault VALUES (1)".to_owned(),
            format!(
                "CREATE TRIGGER test_fault_{table} BEFORE UPDATE ON {table} \
                 WHEN (SELECT MAX(active) FROM test_fault) = 1 AND NEW.status <> OLD.status \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            ),
        ],
        workorders_persistence::Backend::Postgres => vec![
            "CREATE TABLE IF NOT EXISTS test_fault (active INTEGER NOT NULL)".to_owned(),
            "INSERT INTO test_fault VALUES (1)".to_owned(),
            "CREATE OR REPLACE FUNCTION test_fault_fn() RETURNS trigger AS $$ BEGIN \
             IF (SELECT MAX(active) FROM test_fault) = 1 AND NEW.status <> OLD.status THEN \
             RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                .to_owned(),
            format!(
                "CREATE TRIGGER test_fault_{table} BEFORE UPDATE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION test_fault_fn()"
            ),
        ],
    };
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(app.db.pool())
            .await
            .expect("fault installed");
    }
}

pub async fn clear_fault(app: &TestApp) {
    sqlx::query("UPDATE test_fault SET active = 0")
        .execute(app.db.pool())
        .await
        .expect("fault cleared");
}

async fn an_email_is_sent_once_when_recording_it_fails_for_a_while(ctx: Ctx) {
    let server = crate::support::smtp();
    let settings = server.settings();
    let app = ctx
        .app_with(|s| {
            s.mail.smtp = Some(settings);
            s.mail.poll = Duration::from_millis(100);
            // A short lease: without exactly-once bookkeeping the message would be sent
            // again within the test.
            s.mail.lease = Duration::from_secs(6);
        })
        .await;
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    // Recording an e-mail's outcome fails (the database refuses the status change).
    inject_fault(&app, "emails").await;
    book_first(&app, &t, &service, "jana@example.com").await;
    let received = server.wait_for(1, Duration::from_secs(20));
    assert_eq!(received.len(), 1);
    // The worker keeps trying to record it (twice at least); then the database recovers.
    eventually("a second attempt to record the send", || async {
        let errors = metric(
            &app,
            r#"worker_errors_total{worker="email",phase="record_outcome"}"#,
        )
        .await;
        (errors >= 2.0).then_some(())
    })
    .await;
    let status: String = sqlx::query_scalar("SELECT status FROM emails")
        .fetch_one(app.db.pool())
        .await
        .expect("status");
    assert_eq!(status, "queued", "not recorded while the fault lasts");
    clear_fault(&app).await;
    eventually("the recorded outcome", || async {
        let status: String = sqlx::query_scalar("SELECT status FROM emails")
            .fetch_one(app.db.pool())
            .await
            .expect("status");
        (status == "sent").then_some(())
    })
    .await;
    // Past the lease: no second copy. (An absence can only be observed over time: the window
    // is bounded and covers the whole lease the first send held.)
    tokio::time::sleep(Duration::from_secs(7)).await;
    let messages = server.messages();
    assert_eq!(
        messages.len(),
        1,
        "the customer got the e-mail once: {:?}",
        messages
            .iter()
            .map(|m| (&m.subject, &m.message_id))
            .collect::<Vec<_>>()
    );
}
