//! Exactly once where it counts: e-mail bookkeeping that survives database errors, background
//! work isolated per tenant and message. Faults are injected with a trigger the test installs
//! in its own database.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::booking::{bookable, customer};
use crate::support::{Ctx, TestApp};
use crate::tests;

tests!(an_email_is_sent_once_when_recording_it_fails_for_a_while,);

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
    let server = workorders_mail::testing::SmtpServer::start();
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
    let slots = app
        .send(
            Method::GET,
            &format!(
                "/v1/public/{}/services/{service}/slots?postal_code=12203",
                t.slug
            ),
            None,
            None,
            &[],
        )
        .await;
    app.post(
        &format!("/v1/public/{}/bookings", t.slug),
        None,
        &json!({"service_id": service, "start": slots.body["slots"][0]["start"],
                "customer": customer("jana@example.com"), "consent": true}),
    )
    .await
    .assert_status(201);
    let received = server.wait_for(1, Duration::from_secs(20));
    assert_eq!(received.len(), 1);
    // The worker keeps trying to record it; then the database recovers.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let status: String = sqlx::query_scalar("SELECT status FROM emails")
        .fetch_one(app.db.pool())
        .await
        .expect("status");
    assert_eq!(status, "queued", "not recorded while the fault lasts");
    clear_fault(&app).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM emails")
            .fetch_one(app.db.pool())
            .await
            .expect("status");
        if status == "sent" {
            break;
        }
        assert!(Instant::now() < deadline, "the outcome was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the lease: no second copy.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let messages = server.messages();
    assert_eq!(
        messages.len(),
        1,
        "the customer got the e-mail once: {:?}",
        messages.iter().map(|m| (&m.subject, &m.message_id)).collect::<Vec<_>>()
    );
}
