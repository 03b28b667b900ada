//! Oversight with a controllable clock: escalation timing (responsible person, then the
//! process owner after the grace period), stuck orders and missed appointments flagged
//! once, review schedules firing exactly once per period across two instances and a
//! restart (missed periods created late), reviews worked and signed off, the live view.

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use workorders_persistence::Clock;

use crate::support::{Ctx, Tenant, TestApp, step_of};
use crate::tests;

tests!(
    overdue_steps_go_to_the_responsible_person_then_the_process_owner,
    stuck_orders_and_missed_appointments_are_flagged_once,
    schedules_fire_once_per_period_across_instances_and_restarts,
    reviews_are_worked_signed_off_and_frozen,
    schedules_refuse_bad_input_and_stay_private,
);

/// A manual clock at a whole minute of the current time (tokens use the system clock).
fn manual_clock() -> Clock {
    let now = Utc::now();
    Clock::manual(now - Duration::seconds(i64::from(now.second())))
}

async fn clocked(ctx: &Ctx, clock: &Clock) -> TestApp {
    let clock = clock.clone();
    ctx.app_with(move |s| {
        s.clock = clock;
        // Scans run when the test says (plus once at start).
        s.oversight.scan = std::time::Duration::from_secs(3600);
        s.webhooks.allow_private = true;
    })
    .await
}

async fn tick(app: &TestApp) -> workorders_app::oversight::TickReport {
    workorders_app::oversight::tick(&app.state)
        .await
        .expect("oversight scan")
}

/// Webhook events queued for the tenant's endpoint, by type.
async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY created_at, id",
    )
    .bind(event_type)
    .fetch_all(app.db.pool())
    .await
    .expect("outbox");
    rows.iter()
        .map(|p| serde_json::from_str::<Value>(p).expect("json")["data"].clone())
        .collect()
}

/// An endpoint subscribed to everything (private targets allowed in tests); nothing listens,
/// the outbox rows are what the test reads.
async fn subscribe(app: &TestApp, token: &str) {
    app.post(
        "/v1/webhooks",
        Some(token),
        &json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["step.overdue", "step.escalated", "work_order.stuck",
                 "appointment.missed", "review.created", "review.signed_off", "review.overdue"]}),
    )
    .await
    .assert_status(201);
}

async fn order_emails(app: &TestApp, token: &str, order: &str) -> Vec<(String, String)> {
    let r = app
        .get(&format!("/v1/work-orders/{order}/emails"), token)
        .await;
    r.assert_status(200);
    r.body
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_owned(),
                e["to"].as_str().expect("to").to_owned(),
            )
        })
        .collect()
}

async fn set_tenant(app: &TestApp, t: &Tenant, body: Value) {
    let current = app.get("/v1/tenant", &t.token).await;
    app.send(
        Method::PATCH,
        "/v1/tenant",
        Some(&t.token),
        Some(&body),
        &[("If-Match", &current.etag())],
    )
    .await
    .assert_status(200);
}

/// A process whose single step is held by `role` with a 60-minute target.
async fn process_for(app: &TestApp, token: &str, role: &str) -> String {
    app.published_process(
        token,
        "Service",
        json!([{"key": "work", "name": "Work", "responsible": {"role": role}, "target_duration_minutes": 60}]),
    )
    .await
}

async fn overdue_steps_go_to_the_responsible_person_then_the_process_owner(ctx: Ctx) {
    let clock = manual_clock();
    let app = clocked(&ctx, &clock).await;
    let second = ctx
        .app_sharing(&app, {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.oversight.scan = std::time::Duration::from_secs(3600);
                s.webhooks.allow_private = true;
            }
        })
        .await;
    let t = app.sign_up().await;
    subscribe(&app, &t.token).await;
    let (dispatcher, _) = app.user_with_role(&t, "dispatcher").await;
    set_tenant(&app, &t, json!({"escalation_grace_minutes": 120})).await;
    let process = process_for(&app, &t.token, "dispatcher").await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await;
    order.assert_status(201);
    let id = order.body["id"].as_str().expect("id").to_owned();
    let step = step_of(&order.body, "work");
    assert_eq!(step["responsible"]["id"], json!(dispatcher));
    let due: DateTime<Utc> = step["due_at"].as_str().expect("due").parse().expect("time");
    assert_eq!(due, clock.now() + Duration::minutes(60));

    // Not yet due: nothing.
    clock.advance(Duration::minutes(59));
    assert_eq!(tick(&app).await.overdue_announced, 0);
    assert!(order_emails(&app, &t.token, &id).await.is_empty());

    // Due passed: both instances scan at once, one announcement, one e-mail to the
    // responsible dispatcher.
    clock.advance(Duration::minutes(2));
    let (a, b) = tokio::join!(tick(&app), tick(&second));
    assert!(
        a.overdue_announced + b.overdue_announced <= 1,
        "{a:?} {b:?}"
    );
    assert_eq!(a.escalated + b.escalated, 0);
    let mails = order_emails(&app, &t.token, &id).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "step_overdue");
    assert!(mails[0].1.starts_with("dispatcher-"), "{mails:?}");
    let overdue = events(&app, "step.overdue").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["work_order_id"], json!(id));

    // Inside the grace period: no escalation.
    clock.advance(Duration::minutes(118));
    assert_eq!(tick(&app).await.escalated, 0);
    // Past it: the process owner (no one set: the tenant's owner) hears once.
    clock.advance(Duration::minutes(1));
    let (a, b) = tokio::join!(tick(&app), tick(&second));
    assert!(a.escalated + b.escalated <= 1, "{a:?} {b:?}");
    assert_eq!(tick(&app).await, Default::default());
    let mails = order_emails(&app, &t.token, &id).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails.contains(&("step_escalated".to_owned(), t.owner_email.clone())),
        "{mails:?}"
    );
    let escalated = events(&app, "step.escalated").await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["escalated_to"], json!(t.owner_id));

    // Done late: nothing more, ever.
    let done = app
        .step_action(&t.token, &order.body, "work", "complete", &[])
        .await;
    done.assert_status(200);
    clock.advance(Duration::days(1));
    assert_eq!(tick(&app).await.overdue_announced, 0);
    assert_eq!(order_emails(&app, &t.token, &id).await.len(), 2);
}

async fn stuck_orders_and_missed_appointments_are_flagged_once(ctx: Ctx) {
    let clock = manual_clock();
    let app = clocked(&ctx, &clock).await;
    let t = app.sign_up().await;
    subscribe(&app, &t.token).await;
    set_tenant(&app, &t, json!({"stuck_after_days": 2})).await;
    let (tech, _) = app.user_with_role(&t, "technician").await;
    let process = app
        .published_process(
            &t.token,
            "Visit",
            json!([{"key": "visit", "name": "Visit", "responsible": {"role": "technician"}}]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let start = clock.now() + Duration::hours(2);
    let appointment = app
        .post(
            "/v1/appointments",
            Some(&t.token),
            &json!({"work_order_id": order["id"], "step_id": step_of(&order, "visit")["id"], "assignee_ids": [tech],
                    "start": start, "end": start + Duration::hours(1), "override_working_hours": true}),
        )
        .await;
    appointment.assert_status(201);

    // The appointment ends at +3 h; an hour later without a status it is missed.
    clock.advance(Duration::hours(3) + Duration::minutes(59));
    assert_eq!(tick(&app).await.missed_flagged, 0);
    clock.advance(Duration::minutes(2));
    tick(&app).await;
    assert_eq!(tick(&app).await.missed_flagged, 0);
    let missed = events(&app, "appointment.missed").await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["appointment_id"], appointment.body["id"]);
    assert_eq!(missed[0]["status"], "scheduled");

    // The order had its last event when the appointment was made: stuck two days later.
    clock.advance(Duration::hours(40));
    assert_eq!(tick(&app).await.stuck_flagged, 0);
    clock.advance(Duration::hours(4));
    tick(&app).await;
    assert_eq!(tick(&app).await.stuck_flagged, 0);
    let stuck = events(&app, "work_order.stuck").await;
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0]["work_order_id"], order["id"]);

    // Activity un-sticks it; a new silence flags it again.
    let fresh = app
        .get(
            &format!("/v1/work-orders/{}", order["id"].as_str().expect("id")),
            &t.token,
        )
        .await;
    app.send(
        Method::PATCH,
        &format!("/v1/work-orders/{}", order["id"].as_str().expect("id")),
        Some(&t.token),
        Some(&json!({"description": "Customer called again"})),
        &[("If-Match", &fresh.etag())],
    )
    .await
    .assert_status(200);
    clock.advance(Duration::days(1));
    assert_eq!(tick(&app).await.stuck_flagged, 0);
    clock.advance(Duration::days(1) + Duration::minutes(1));
    tick(&app).await;
    assert_eq!(events(&app, "work_order.stuck").await.len(), 2);

    // The live view lists both.
    let live = app.get("/v1/oversight", &t.token).await;
    live.assert_status(200);
    let kinds: Vec<&str> = live.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["kind"].as_str().expect("kind"))
        .collect();
    assert!(kinds.contains(&"stuck_order"), "{kinds:?}");
    assert!(kinds.contains(&"missed_appointment"), "{kinds:?}");
    assert_eq!(live.body["headline"]["items"]["stuck_order"], 1);
    app.get("/v1/oversight?days=0", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/oversight?process_ids=nope", &t.token)
        .await
        .assert_problem(400, "invalid_query");
}

async fn reviews(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/v1/reviews?limit=200", token).await;
    r.assert_status(200);
    r.body["items"].as_array().expect("items").clone()
}

/// A daily schedule at 08:00 tenant time for the owner; returns its body.
async fn daily_schedule(app: &TestApp, t: &Tenant) -> Value {
    let r = app
        .post(
            "/v1/review-schedules",
            Some(&t.token),
            &json!({"name": "Daily check", "cadence": "daily", "time": "08:00", "reviewer_id": t.owner_id}),
        )
        .await;
    r.assert_status(201);
    r.body
}

async fn schedules_fire_once_per_period_across_instances_and_restarts(ctx: Ctx) {
    let clock = manual_clock();
    let a = clocked(&ctx, &clock).await;
    let b = ctx
        .app_sharing(&a, {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.oversight.scan = std::time::Duration::from_secs(3600);
                s.webhooks.allow_private = true;
            }
        })
        .await;
    let t = a.sign_up().await;
    subscribe(&a, &t.token).await;
    let schedule = daily_schedule(&a, &t).await;
    assert_eq!(schedule["time_zone"], "Europe/Berlin");
    let first: DateTime<Utc> = schedule["next_review_at"]
        .as_str()
        .expect("next")
        .parse()
        .expect("time");
    let local = first.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!((local.hour(), local.minute()), (8, 0));
    assert!(first > clock.now() && first <= clock.now() + Duration::days(1));

    // Just before: nothing. At the time: two instances, one review, not late.
    clock.set(first - Duration::minutes(1));
    let (x, y) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(x.reviews_created + y.reviews_created, 0);
    clock.set(first + Duration::minutes(1));
    // (Each server's own worker may also scan meanwhile: what counts is what exists.)
    let (x, y) = tokio::join!(tick(&a), tick(&b));
    assert!(x.reviews_created + y.reviews_created <= 1, "{x:?} {y:?}");
    let (x, y) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(x.reviews_created + y.reviews_created, 0);
    let list = reviews(&a, &t.token).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["late"], false);
    assert_eq!(
        list[0]["scheduled_for"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(Some(first))
    );
    assert_eq!(
        list[0]["due_at"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(Some(first + Duration::days(1)))
    );
    assert_eq!(
        list[0]["period_start"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(Some(first - Duration::days(1)))
    );

    // Both servers go down for three and a half days.
    ctx.stop(&a).await;
    ctx.stop(&b).await;
    clock.set(first + Duration::days(3) + Duration::hours(12));
    let c = ctx
        .app_sharing(&a, {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.oversight.scan = std::time::Duration::from_secs(3600);
                s.webhooks.allow_private = true;
            }
        })
        .await;
    let d = ctx
        .app_sharing(&a, {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.oversight.scan = std::time::Duration::from_secs(3600);
                s.webhooks.allow_private = true;
            }
        })
        .await;
    // Each new server scans at start; scanning again together changes nothing.
    let _ = tokio::join!(tick(&c), tick(&d));
    let _ = tokio::join!(tick(&c), tick(&d));
    let list = reviews(&c, &t.token).await;
    assert_eq!(list.len(), 4, "{list:?}");
    let mut occurrences: Vec<DateTime<Utc>> = list
        .iter()
        .map(|r| {
            r["scheduled_for"]
                .as_str()
                .expect("time")
                .parse()
                .expect("time")
        })
        .collect();
    occurrences.sort();
    let expected: Vec<DateTime<Utc>> = (0..4).map(|i| first + Duration::days(i)).collect();
    assert_eq!(occurrences, expected);
    for r in &list {
        let late = r["scheduled_for"]
            .as_str()
            .expect("t")
            .parse::<DateTime<Utc>>()
            .expect("t")
            > first;
        assert_eq!(r["late"], late, "{r}");
    }
    // The first review was not signed off by its due time: the owner hears once. The two
    // created only after their due time (downtime) stay open and late without an alarm
    // each; the newest is not due yet.
    let escalated = |list: &[Value]| -> Vec<DateTime<Utc>> {
        let mut at: Vec<DateTime<Utc>> = list
            .iter()
            .filter(|r| !r["escalated_at"].is_null())
            .map(|r| r["scheduled_for"].as_str().expect("t").parse().expect("t"))
            .collect();
        at.sort();
        at
    };
    assert_eq!(escalated(&list), vec![first]);
    assert_eq!(events(&c, "review.overdue").await.len(), 1);
    let owner_mails = |app: &TestApp| {
        let pool = app.db.pool().clone();
        let owner = t.owner_email.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM emails WHERE kind = 'review_overdue' AND to_address = $1",
            )
            .bind(owner)
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };
    assert_eq!(owner_mails(&c).await, 1);
    assert_eq!(events(&c, "review.created").await.len(), 4);
    // A day later the fourth, created in time, is overdue too, and the fifth is made.
    clock.set(first + Duration::days(4) + Duration::minutes(1));
    let _ = tokio::join!(tick(&c), tick(&d));
    let list = reviews(&c, &t.token).await;
    assert_eq!(list.len(), 5);
    assert_eq!(escalated(&list), vec![first, first + Duration::days(3)]);
    assert_eq!(owner_mails(&c).await, 2);
    let next = c
        .get(
            &format!(
                "/v1/review-schedules/{}",
                schedule["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    assert_eq!(
        next.body["next_review_at"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(Some(first + Duration::days(5)))
    );
    let filtered = c.get("/v1/reviews?late=true", &t.token).await;
    assert_eq!(filtered.body["items"].as_array().map(Vec::len), Some(3));
}

async fn reviews_are_worked_signed_off_and_frozen(ctx: Ctx) {
    let clock = manual_clock();
    let app = clocked(&ctx, &clock).await;
    let t = app.sign_up().await;
    let other = app.sign_up().await;
    let (reviewer, reviewer_token) = app.user_with_role(&t, "reviewer").await;
    let (_, tech_token) = app.user_with_role(&t, "technician").await;
    let process = process_for(&app, &t.token, "owner").await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let created = app
        .post(
            "/v1/review-schedules",
            Some(&t.token),
            &json!({"name": "Weekly ops", "cadence": "weekly", "time": "07:30", "reviewer_id": reviewer,
                    "process_ids": [process]}),
        )
        .await;
    created.assert_status(201);
    let first: DateTime<Utc> = created.body["next_review_at"]
        .as_str()
        .expect("next")
        .parse()
        .expect("time");
    let local = first.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%a %H:%M").to_string(), "Mon 07:30");
    // The order's step is overdue when the review is made.
    clock.set(first.max(clock.now() + Duration::hours(2)));
    if clock.now() > first {
        // The week's occurrence passed while the step became overdue: move to the next.
        clock.set(first + Duration::weeks(1));
    }
    tick(&app).await;
    let list = reviews(&app, &reviewer_token).await;
    let summary = list.first().expect("a review").clone();
    let path = format!("/v1/reviews/{}", summary["id"].as_str().expect("id"));
    let review = app.get(&path, &reviewer_token).await;
    review.assert_status(200);
    let items = review.body["items"].as_array().expect("items").clone();
    let step_item = items
        .iter()
        .find(|i| i["kind"] == "overdue_step")
        .unwrap_or_else(|| panic!("an overdue step in {items:?}"));
    assert_eq!(step_item["work_order_id"], order["id"]);
    assert_eq!(
        step_item["link"],
        json!(format!(
            "/v1/work-orders/{}",
            order["id"].as_str().expect("id")
        ))
    );
    assert_eq!(review.body["headline"]["items"]["overdue_step"], 1);
    assert_eq!(review.body["reviewer_id"], json!(reviewer));

    // Other tenants see nothing; technicians may not read; API keys/others may not work it.
    app.get(&path, &other.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&path, &tech_token).await.assert_status(403);
    let sign_off = format!("{path}/sign-off");
    let etag = review.etag();
    app.send(
        Method::POST,
        &sign_off,
        Some(&tech_token),
        Some(&json!({})),
        &[("If-Match", &etag)],
    )
    .await
    .assert_status(403);
    // Not everything acknowledged: refused, nothing changes.
    app.send(
        Method::POST,
        &sign_off,
        Some(&reviewer_token),
        Some(&json!({})),
        &[("If-Match", &etag)],
    )
    .await
    .assert_problem(422, "unacknowledged_items");
    assert_eq!(app.get(&path, &reviewer_token).await.body["status"], "open");
    // Acknowledge every item, the first with a note.
    for (n, item) in items.iter().enumerate() {
        let body = if n == 0 {
            json!({"note": "Called the customer; visit moved"})
        } else {
            json!({})
        };
        let r = app
            .post(
                &format!(
                    "{path}/items/{}/acknowledge",
                    item["id"].as_str().expect("id")
                ),
                Some(&reviewer_token),
                &body,
            )
            .await;
        r.assert_status(200);
        assert_eq!(r.body["acknowledged_by"], json!(reviewer));
    }
    app.post(
        &format!("{path}/items/{}/acknowledge", uuid::Uuid::now_v7()),
        Some(&reviewer_token),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    // Findings with If-Match; a stale ETag is refused.
    let current = app.get(&path, &reviewer_token).await;
    let updated = app
        .send(
            Method::PATCH,
            &path,
            Some(&reviewer_token),
            Some(&json!({"findings": "Quotes wait too long for approval."})),
            &[("If-Match", &current.etag())],
        )
        .await;
    updated.assert_status(200);
    app.send(
        Method::PATCH,
        &path,
        Some(&reviewer_token),
        Some(&json!({"findings": "stale"})),
        &[("If-Match", &current.etag())],
    )
    .await
    .assert_status(412);
    // A decision about the process; a version that does not exist is refused.
    app.post(
        &format!("{path}/decisions"),
        Some(&reviewer_token),
        &json!({"text": "Drop the approval step", "process_id": process, "process_version": 7}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let decision = app
        .post(
            &format!("{path}/decisions"),
            Some(&reviewer_token),
            &json!({"text": "Drop the approval step", "process_id": process}),
        )
        .await;
    decision.assert_status(201);
    // Sign off.
    let signed = app
        .send(
            Method::POST,
            &sign_off,
            Some(&reviewer_token),
            Some(&json!({})),
            &[("If-Match", &updated.etag())],
        )
        .await;
    signed.assert_status(200);
    assert_eq!(signed.body["status"], "signed_off");
    assert_eq!(signed.body["signed_off_by"], json!(reviewer));
    assert_eq!(
        signed.body["findings"],
        "Quotes wait too long for approval."
    );
    assert_eq!(signed.body["decisions"].as_array().map(Vec::len), Some(1));
    // Frozen: findings, acknowledgements, new decisions and a second sign-off are refused.
    let etag = signed.etag();
    app.send(
        Method::PATCH,
        &path,
        Some(&reviewer_token),
        Some(&json!({"findings": "x"})),
        &[("If-Match", &etag)],
    )
    .await
    .assert_problem(409, "invalid_transition");
    app.send(
        Method::POST,
        &sign_off,
        Some(&reviewer_token),
        Some(&json!({})),
        &[("If-Match", &etag)],
    )
    .await
    .assert_problem(409, "invalid_transition");
    app.post(
        &format!("{path}/decisions"),
        Some(&reviewer_token),
        &json!({"text": "late idea"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    // The decision is linked to the version that implemented it, after sign-off.
    let v2 = app
        .post(
            &format!("/v1/processes/{process}/versions"),
            Some(&t.token),
            &json!({"steps": [{"key": "work", "name": "Work", "responsible": {"role": "owner"}, "target_duration_minutes": 30}]}),
        )
        .await;
    v2.assert_status(201);
    let number = 2;
    let link = app
        .send(
            Method::PATCH,
            &format!(
                "{path}/decisions/{}",
                decision.body["id"].as_str().expect("id")
            ),
            Some(&reviewer_token),
            Some(&json!({"process_id": process, "process_version": number})),
            &[("if-match", &decision.etag())],
        )
        .await;
    link.assert_status(200);
    assert_eq!(
        link.etag(),
        "\"2\"",
        "linking is a change: the version rises"
    );
    assert_eq!(link.body["process_version"], number);
    let history = app
        .get(
            &format!("/v1/processes/{process}/decisions"),
            &reviewer_token,
        )
        .await;
    history.assert_status(200);
    assert_eq!(history.body["items"][0]["text"], "Drop the approval step");
    assert_eq!(history.body["items"][0]["process_version"], number);
    app.get(&format!("/v1/processes/{process}/decisions"), &other.token)
        .await
        .assert_problem(404, "not_found");
    // Signed off in time: never escalated.
    clock.advance(Duration::weeks(2));
    tick(&app).await;
    let after = app.get(&path, &t.token).await;
    assert!(after.body["escalated_at"].is_null());
    assert_eq!(after.body["decisions"][0]["process_version"], number);
}

async fn schedules_refuse_bad_input_and_stay_private(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let other = app.sign_up().await;
    let (tech, tech_token) = app.user_with_role(&t, "technician").await;
    let bad = |body: Value| {
        let app = &app;
        let token = t.token.clone();
        async move { app.post("/v1/review-schedules", Some(&token), &body).await }
    };
    let base =
        json!({"name": "Check", "cadence": "daily", "time": "08:00", "reviewer_id": t.owner_id});
    for (change, pointer) in [
        (json!({"time": "8 am"}), "/time"),
        (json!({"time": "25:00"}), "/time"),
        (
            json!({"cadence": "rrule", "rrule": "FREQ=HOURLY"}),
            "/rrule",
        ),
        (
            json!({"cadence": "rrule", "rrule": "FREQ=DAILY;COUNT=3"}),
            "/rrule",
        ),
        (json!({"rrule": "FREQ=DAILY"}), "/rrule"),
        (json!({"reviewer_id": tech}), "/reviewer_id"),
        (json!({"reviewer_id": other.owner_id}), "/reviewer_id"),
        (
            json!({"process_ids": [uuid::Uuid::now_v7()]}),
            "/process_ids/0",
        ),
        (json!({"name": " "}), "/name"),
        (json!({"starts_on": "0001-01-01"}), "/starts_on"),
        (
            json!({"cadence": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}),
            "/rrule",
        ),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = bad(body).await;
        r.assert_problem(422, "validation_failed");
        assert!(
            r.body.to_string().contains(pointer),
            "{pointer}: {}",
            r.body
        );
    }
    app.post(
        "/v1/review-schedules",
        Some(&t.token),
        &json!({"name": "x", "cadence": "hourly", "time": "08:00", "reviewer_id": t.owner_id}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post("/v1/review-schedules", Some(&tech_token), &base)
        .await
        .assert_status(403);
    let list = app.get("/v1/review-schedules", &t.token).await;
    assert_eq!(list.body["items"], json!([]));

    let rrule = app
        .post(
            "/v1/review-schedules",
            Some(&t.token),
            &json!({"name": "Twice a week", "cadence": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=TU,FR", "time": "16:00",
                    "reviewer_id": t.owner_id}),
        )
        .await;
    rrule.assert_status(201);
    let id = rrule.body["id"].as_str().expect("id").to_owned();
    let next: DateTime<Utc> = rrule.body["next_review_at"]
        .as_str()
        .expect("next")
        .parse()
        .expect("t");
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert!(matches!(
        local.format("%a %H:%M").to_string().as_str(),
        "Tue 16:00" | "Fri 16:00"
    ));
    let path = format!("/v1/review-schedules/{id}");
    app.get(&path, &other.token)
        .await
        .assert_problem(404, "not_found");
    // Pause: no next review; stale ETag refused.
    let mut paused = json!({"name": "Twice a week", "cadence": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=TU,FR",
                            "time": "16:00", "reviewer_id": t.owner_id, "active": false});
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&t.token),
            Some(&paused),
            &[("If-Match", &rrule.etag())],
        )
        .await;
    r.assert_status(200);
    assert!(r.body["next_review_at"].is_null());
    paused["active"] = json!(true);
    app.send(
        Method::PATCH,
        &path,
        Some(&t.token),
        Some(&paused),
        &[("If-Match", &rrule.etag())],
    )
    .await
    .assert_status(412);
    let current = app.get(&path, &t.token).await.etag();
    app.send(
        Method::DELETE,
        &path,
        Some(&other.token),
        None,
        &[("if-match", &current)],
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        Method::DELETE,
        &path,
        Some(&t.token),
        None,
        &[("if-match", &current)],
    )
    .await
    .assert_status(204);
    app.get(&path, &t.token)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/reviews?status=maybe", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/reviews?cursor=garbage", &t.token)
        .await
        .assert_problem(400, "invalid_cursor");
}
