//! Secrets at rest: after every call that shows a credential once (sign-in and refresh
//! tokens, API keys, webhook secrets, calendar-feed, booking and quote links, password
//! links), a dump of every text cell of the database holds none of them, also with the
//! replies kept for Idempotency-Key replays and e-mails waiting in the queue.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::billing::{line, order_for, profile, put_profile};
use crate::booking::{bookable, customer};
use crate::support::{Ctx, PASSWORD, Resp, TestApp, dump_database, test_keys};
use crate::tests;

tests!(
    no_credential_is_readable_from_a_database_copy,
    replays_still_answer_with_the_first_response,
    webhook_secrets_are_sealed_and_rekeying_keeps_them_working,
    sent_emails_keep_no_body,
);

async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Resp {
    let key = Uuid::now_v7().to_string();
    app.send(
        method,
        path,
        token,
        Some(body),
        &[("idempotency-key", key.as_str())],
    )
    .await
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

async fn no_credential_is_readable_from_a_database_copy(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            s.webhooks.allow_private = true;
            s.mail.public_base_url = "https://orders.example.com".to_owned();
        })
        .await;
    let mut secrets: Vec<(String, String)> = Vec::new();
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    // Sign-in and refresh.
    let signed = with_key(
        &app,
        Method::POST,
        "/v1/auth/token",
        None,
        &json!({"tenant": t.slug, "email": t.owner_email, "password": PASSWORD}),
    )
    .await;
    signed.assert_status(200);
    secrets.push(("access token".into(), text(&signed.body["access_token"])));
    secrets.push(("refresh token".into(), text(&signed.body["refresh_token"])));
    let refreshed = with_key(
        &app,
        Method::POST,
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": signed.body["refresh_token"]}),
    )
    .await;
    refreshed.assert_status(200);
    secrets.push((
        "refreshed access token".into(),
        text(&refreshed.body["access_token"]),
    ));
    secrets.push((
        "refreshed refresh token".into(),
        text(&refreshed.body["refresh_token"]),
    ));
    secrets.push(("the password".into(), PASSWORD.to_owned()));
    // An API key.
    let key = with_key(
        &app,
        Method::POST,
        "/v1/api-keys",
        Some(&t.token),
        &json!({"name": "CRM", "scopes": ["users:read"]}),
    )
    .await;
    key.assert_status(201);
    secrets.push(("API key".into(), text(&key.body["key"])));
    // A webhook's secret, and its rotation.
    let hook = with_key(
        &app,
        Method::POST,
        "/v1/webhooks",
        Some(&t.token),
        &json!({"url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    hook.assert_status(201);
    secrets.push(("webhook secret".into(), text(&hook.body["secret"])));
    let hook_id = text(&hook.body["id"]);
    let rotated = with_key(
        &app,
        Method::POST,
        &format!("/v1/webhooks/{hook_id}/rotate-secret"),
        Some(&t.token),
        &json!({}),
    )
    .await;
    rotated.assert_status(200);
    secrets.push((
        "rotated webhook secret".into(),
        text(&rotated.body["secret"]),
    ));
    // A calendar feed.
    let (tech, _) = app.user_with_role(&t, "technician").await;
    let feed = with_key(
        &app,
        Method::POST,
        &format!("/v1/users/{tech}/calendar-feed"),
        Some(&t.token),
        &json!({}),
    )
    .await;
    feed.assert_status(201);
    let feed_path = text(&feed.body["path"]);
    secrets.push((
        "calendar feed token".into(),
        feed_path
            .rsplit('/')
            .next()
            .expect("token")
            .trim_end_matches(".ics")
            .to_owned(),
    ));
    // A web booking (its confirmation waits in the queue: no SMTP here).
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
    let start = slots.body["slots"][0]["start"].clone();
    let booked = with_key(&app, Method::POST, &format!("/v1/public/{}/bookings", t.slug), None,
        &json!({"service_id": service, "start": start, "customer": customer("jana@example.com"), "consent": true})).await;
    booked.assert_status(201);
    secrets.push(("booking token".into(), text(&booked.body["token"])));
    // A quote link (e-mailed and shown once).
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let order = order_for(
        &app,
        &t,
        json!({"name": "Kai Kunde", "email": "kai@example.com"}),
    )
    .await;
    let valid = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let quote = app
        .post(
            &format!("/v1/work-orders/{}/quotes", text(&order["id"])),
            Some(&t.token),
            &json!({"lines": [line("Montage", "2", "HUR", "65.00", "19")], "valid_until": valid}),
        )
        .await;
    quote.assert_status(201);
    let sent = with_key(
        &app,
        Method::POST,
        &format!("/v1/quotes/{}/send", text(&quote.body["id"])),
        Some(&t.token),
        &json!({}),
    )
    .await;
    sent.assert_status(202);
    let link = text(&sent.body["link"]);
    secrets.push((
        "quote token".into(),
        link.rsplit('/').next().expect("token").to_owned(),
    ));
    // A password link (e-mailed only).
    let (user, _) = app.user_with_role(&t, "dispatcher").await;
    app.post(
        &format!("/v1/users/{user}/password-reset"),
        Some(&t.token),
        &json!({}),
    )
    .await
    .assert_status(202);
    let sealed: String =
        sqlx::query_scalar("SELECT body FROM emails WHERE kind = 'password_reset'")
            .fetch_one(app.db.pool())
            .await
            .expect("mail");
    let body = test_keys()
        .open("email_body", &sealed)
        .expect("opens with the key");
    let start = body.find("/set-password/").expect("link") + "/set-password/".len();
    secrets.push((
        "password link token".into(),
        body[start..]
            .split_whitespace()
            .next()
            .expect("token")
            .to_owned(),
    ));

    let dump = dump_database(&app).await;
    assert!(
        dump.len() > 10_000,
        "the dump has the data ({} bytes)",
        dump.len()
    );
    for (what, secret) in &secrets {
        assert!(secret.len() >= 16, "{what} is a real secret");
        if let Some(line) = dump.lines().find(|l| l.contains(secret.as_str())) {
            panic!(
                "the {what} can be read from the database: {}",
                &line[..line.len().min(120)]
            );
        }
    }
    // The stored replies are sealed, not merely missing.
    let replies: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'completed' AND response_body LIKE 'sealed:v1:%'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert!(replies >= 8, "{replies} sealed replies");
}

async fn replays_still_answer_with_the_first_response(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let body = json!({"name": "CRM", "scopes": ["users:read"]});
    let headers = [("idempotency-key", "key-1")];
    let first = app
        .send(
            Method::POST,
            "/v1/api-keys",
            Some(&t.token),
            Some(&body),
            &headers,
        )
        .await;
    first.assert_status(201);
    let again = app
        .send(
            Method::POST,
            "/v1/api-keys",
            Some(&t.token),
            Some(&body),
            &headers,
        )
        .await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    // The key shown in the replay works.
    app.get("/v1/users", first.body["key"].as_str().expect("key"))
        .await
        .assert_status(200);
}

async fn webhook_secrets_are_sealed_and_rekeying_keeps_them_working(ctx: Ctx) {
    use workorders_persistence::rekey::{Reseal, reseal};
    let app = ctx.app_with(|s| s.webhooks.allow_private = true).await;
    let t = app.sign_up().await;
    let hook = app
        .post(
            "/v1/webhooks",
            Some(&t.token),
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    hook.assert_status(201);
    let secret = text(&hook.body["secret"]);
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(app.db.pool())
        .await
        .expect("secret");
    assert!(stored.starts_with("sealed:v1:") && !stored.contains(&secret));
    // A value written before sealing existed is sealed at the next start.
    sqlx::query("UPDATE webhook_endpoints SET secret = $1")
        .bind(&secret)
        .execute(app.db.pool())
        .await
        .expect("plain");
    let second = ctx.app_sharing(&app, |_| {}).await;
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(second.db.pool())
        .await
        .expect("secret");
    assert!(
        stored.starts_with("sealed:v1:"),
        "sealed at start: {stored}"
    );
    // Rotation: a new key first, the old one second; rekey seals everything with the new.
    let new_line = workorders_persistence::KeyRing::new_key_line().expect("key");
    let rotated = std::sync::Arc::new(
        workorders_persistence::KeyRing::from_text(&format!(
            "{new_line}\n{}\n",
            crate::support::SECRET_KEY
        ))
        .expect("ring"),
    );
    let third = ctx
        .app_sharing(&app, |s| s.secret_keys = Some(rotated.clone()))
        .await;
    let report = reseal(&third.db, Reseal::All).await.expect("rekey");
    assert!(report.total() >= 1, "{report:?}");
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(third.db.pool())
        .await
        .expect("secret");
    assert!(!rotated.needs_reseal(&stored));
    assert!(
        test_keys().open("webhook_secret", &stored).is_err(),
        "the old key alone no longer opens it"
    );
    assert_eq!(
        rotated.open("webhook_secret", &stored).expect("opens"),
        secret
    );
    // The endpoint still shows and signs with its secret through the rotated server.
    let hook_id = text(&hook.body["id"]);
    let fetched = third
        .get(&format!("/v1/webhooks/{hook_id}"), &t.token)
        .await;
    fetched.assert_status(200);
}

async fn sent_emails_keep_no_body(ctx: Ctx) {
    let server = crate::support::smtp();
    let settings = server.settings();
    let app = ctx
        .app_with(|s| {
            s.mail.smtp = Some(settings);
            s.mail.poll = std::time::Duration::from_millis(100);
        })
        .await;
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    let booked = crate::booking::book_first(&app, &t, &service, "jana@example.com").await;
    let token = text(&booked["token"]);
    let mails = server.wait_for(1, std::time::Duration::from_secs(20));
    assert!(mails[0].text.contains(&token), "the customer got the link");
    let body = crate::support::eventually("the e-mail marked sent", || async {
        let (status, body): (String, String) =
            sqlx::query_as("SELECT status, body FROM emails WHERE kind = 'booking_confirmation'")
                .fetch_one(app.db.pool())
                .await
                .expect("mail row");
        (status == "sent").then_some(body)
    })
    .await;
    assert_eq!(body, "", "a sent e-mail keeps no body");
    assert!(!dump_database(&app).await.contains(&token));
}
