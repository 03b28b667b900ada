//! Calendars and appointments: working hours, absences, no double booking (also under
//! concurrency), moves, status changes, the iCalendar feed, suggestions, scheduling steps.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Ctx, Tenant, TestApp, at_hour, history_types, set_hours, step, step_of};
use crate::tests;

tests!(
    calendars_are_validated_versioned_and_private_to_the_tenant,
    appointments_refuse_overlaps_buffers_absences_and_off_hours,
    concurrent_overlapping_appointments_for_one_person_have_exactly_one_winner,
    appointments_move_change_status_and_free_their_time_when_cancelled,
    the_calendar_feed_is_valid_icalendar_and_shows_changes,
    suggestions_explain_who_is_chosen_or_excluded,
    scheduling_a_step_assigns_the_free_person_and_completes_the_booking_step,
);

async fn order_with_tech(app: &TestApp, t: &Tenant) -> (Value, String) {
    let (tech, _) = app.user_with_role(t, "technician").await;
    set_hours(app, &t.token, &tech, "00:00", "24:00", 30).await;
    let process = app
        .published_process(&t.token, "P", json!([step("visit", "technician")]))
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    (app.order(&t.token, &process, &customer).await.body, tech)
}

async fn book(
    app: &TestApp,
    token: &str,
    order: &Value,
    people: &[&str],
    start: &str,
    end: &str,
) -> crate::support::Resp {
    app.post(
        "/v1/appointments",
        Some(token),
        &json!({"work_order_id": order["id"], "step_id": step_of(order, "visit")["id"], "assignee_ids": people, "start": start, "end": end}),
    )
    .await
}

async fn calendars_are_validated_versioned_and_private_to_the_tenant(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let b = app.sign_up().await;
    let (tech, tech_token) = app.user_with_role(&t, "technician").await;
    let path = format!("/v1/users/{tech}/calendar");
    let empty = app.get(&path, &t.token).await;
    assert_eq!(empty.etag(), "\"0\"");
    assert_eq!(empty.body["time_zone"], "Europe/Berlin");
    let bad = json!({"weekly_hours": {"monday": [{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "14:00"}],
                     "tuesday": [{"start": "9am", "end": "5pm"}]}, "travel_buffer_minutes": 500});
    let resp = app
        .send(
            Method::PUT,
            &path,
            Some(&t.token),
            Some(&bad),
            &[("if-match", "\"0\"")],
        )
        .await;
    resp.assert_problem(422, "validation_failed");
    let mut pointers: Vec<String> = resp.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().unwrap_or("").to_owned())
        .collect();
    pointers.sort();
    assert_eq!(
        pointers,
        [
            "/travel_buffer_minutes",
            "/weekly_hours/monday",
            "/weekly_hours/tuesday/0"
        ]
    );
    let good = json!({"weekly_hours": {"monday": [{"start": "13:00", "end": "17:00"}, {"start": "08:00", "end": "12:00"}]},
                      "exceptions": [{"date": "2030-12-24", "intervals": []}], "travel_buffer_minutes": 20});
    app.send(Method::PUT, &path, Some(&t.token), Some(&good), &[])
        .await
        .assert_problem(428, "precondition_required");
    let saved = app
        .send(
            Method::PUT,
            &path,
            Some(&tech_token),
            Some(&good),
            &[("if-match", "\"0\"")],
        )
        .await;
    saved.assert_status(200);
    assert_eq!(
        saved.body["weekly_hours"]["monday"][0]["start"], "08:00",
        "intervals are sorted"
    );
    assert_eq!(saved.body["exceptions"][0]["date"], "2030-12-24");
    app.send(
        Method::PUT,
        &path,
        Some(&t.token),
        Some(&good),
        &[("if-match", "\"0\"")],
    )
    .await
    .assert_problem(412, "precondition_failed");
    app.get(&path, &b.token)
        .await
        .assert_problem(404, "not_found");
    // Absences.
    let absence = app
        .post(
            &format!("/v1/users/{tech}/absences"),
            Some(&t.token),
            &json!({"kind": "vacation", "start": at_hour(10, 0), "end": at_hour(12, 0)}),
        )
        .await;
    absence.assert_status(201);
    app.post(
        &format!("/v1/users/{tech}/absences"),
        Some(&t.token),
        &json!({"kind": "party", "start": at_hour(12, 0), "end": at_hour(10, 0)}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let list = app
        .get(&format!("/v1/users/{tech}/absences"), &tech_token)
        .await;
    assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
    let location = absence.header("location").expect("location");
    let etag = absence.etag();
    assert_eq!(app.get(&location, &t.token).await.etag(), etag);
    app.send(
        Method::DELETE,
        &location,
        Some(&b.token),
        None,
        &[("if-match", &etag)],
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        Method::DELETE,
        &location,
        Some(&t.token),
        None,
        &[("if-match", &etag)],
    )
    .await
    .assert_status(204);
    app.get(&location, &t.token)
        .await
        .assert_problem(404, "not_found");
}

async fn appointments_refuse_overlaps_buffers_absences_and_off_hours(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (order, tech) = order_with_tech(&app, &t).await;
    let first = book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 9),
        &at_hour(3, 10),
    )
    .await;
    first.assert_status(201);
    assert_eq!(first.body["status"], "scheduled");
    // Overlap, and inside the 30-minute travel buffer.
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 9),
        &at_hour(3, 11),
    )
    .await
    .assert_problem(409, "slot_taken");
    let buffer_start = format!("{}:15:00Z", &at_hour(3, 10)[..13]);
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &buffer_start,
        &at_hour(3, 11),
    )
    .await
    .assert_problem(409, "slot_taken");
    let after_buffer = format!("{}:30:00Z", &at_hour(3, 10)[..13]);
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &after_buffer,
        &at_hour(3, 11),
    )
    .await
    .assert_status(201);
    // An absence blocks; a day off is outside working hours, which dispatchers may override.
    app.post(
        &format!("/v1/users/{tech}/absences"),
        Some(&t.token),
        &json!({"kind": "sick", "start": at_hour(4, 0), "end": at_hour(5, 0)}),
    )
    .await
    .assert_status(201);
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(4, 9),
        &at_hour(4, 10),
    )
    .await
    .assert_problem(409, "slot_taken");
    let calendar = app
        .get(&format!("/v1/users/{tech}/calendar"), &t.token)
        .await;
    let day_off = at_hour(6, 0)[..10].to_owned();
    let mut body = json!({"weekly_hours": calendar.body["weekly_hours"], "exceptions": [{"date": day_off, "intervals": []}], "travel_buffer_minutes": 30});
    body["weekly_hours"] = calendar.body["weekly_hours"].clone();
    app.send(
        Method::PUT,
        &format!("/v1/users/{tech}/calendar"),
        Some(&t.token),
        Some(&body),
        &[("if-match", calendar.etag().as_str())],
    )
    .await
    .assert_status(200);
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(6, 12),
        &at_hour(6, 13),
    )
    .await
    .assert_problem(409, "outside_working_hours");
    let overridden = app
        .post("/v1/appointments", Some(&t.token), &json!({"work_order_id": order["id"], "assignee_ids": [tech], "start": at_hour(6, 12), "end": at_hour(6, 13), "override_working_hours": true}))
        .await;
    overridden.assert_status(201);
    // Bad input changes nothing.
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(7, 12),
        &at_hour(7, 11),
    )
    .await
    .assert_problem(422, "validation_failed");
    book(
        &app,
        &t.token,
        &order,
        &[],
        &at_hour(7, 10),
        &at_hour(7, 11),
    )
    .await
    .assert_problem(422, "validation_failed");
    let count = app
        .get(
            &format!(
                "/v1/appointments?work_order_id={}",
                order["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    assert_eq!(count.body["items"].as_array().expect("items").len(), 3);
    let types = history_types(&app, &t.token, order["id"].as_str().expect("id")).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "appointment.scheduled")
            .count(),
        3
    );
}

async fn concurrent_overlapping_appointments_for_one_person_have_exactly_one_winner(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (order, tech) = order_with_tech(&app, &t).await;
    let attempts = (0..8).map(|i| {
        let app = app.clone();
        let token = t.token.clone();
        let order = order.clone();
        let tech = tech.clone();
        // Overlapping times, shifted by 15 minutes each.
        let start = format!("{}:{:02}:00Z", &at_hour(2, 9)[..13], (i % 4) * 15);
        async move { book(&app, &token, &order, &[&tech], &start, &at_hour(2, 11)).await }
    });
    let results = join_all(attempts).await;
    let winners = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        winners,
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "slot_taken");
    }
}

async fn appointments_move_change_status_and_free_their_time_when_cancelled(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (order, tech) = order_with_tech(&app, &t).await;
    let a = book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 9),
        &at_hour(3, 10),
    )
    .await;
    let b = book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 12),
        &at_hour(3, 13),
    )
    .await;
    let (a_path, b_path) = (
        a.header("location").expect("a"),
        b.header("location").expect("b"),
    );
    // Moving onto the other appointment is refused; moving elsewhere works.
    app.patch(
        &a_path,
        &t.token,
        Some("\"1\""),
        &json!({"start": at_hour(3, 12), "end": at_hour(3, 13)}),
    )
    .await
    .assert_problem(409, "slot_taken");
    let moved = app
        .patch(
            &a_path,
            &t.token,
            Some("\"1\""),
            &json!({"start": at_hour(3, 15), "end": at_hour(3, 16)}),
        )
        .await;
    moved.assert_status(200);
    assert_eq!(moved.etag(), "\"2\"");
    // Status flow and its guard.
    let confirmed = app
        .post(
            &format!("{b_path}/actions"),
            Some(&t.token),
            &json!({"action": "confirm"}),
        )
        .await;
    assert_eq!(confirmed.body["status"], "confirmed");
    let bad = app
        .post(
            &format!("{b_path}/actions"),
            Some(&t.token),
            &json!({"action": "finish"}),
        )
        .await;
    bad.assert_problem(409, "invalid_transition");
    assert_eq!(bad.body["current_state"], "confirmed");
    app.post(
        &format!("{b_path}/actions"),
        Some(&t.token),
        &json!({"action": "cancel", "reason": "customer ill"}),
    )
    .await
    .assert_status(200);
    // The time is free again.
    book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 12),
        &at_hour(3, 13),
    )
    .await
    .assert_status(201);
    let cancelled = app.get(&b_path, &t.token).await;
    assert!(
        cancelled.body["allowed_actions"]
            .as_array()
            .expect("actions")
            .is_empty()
    );
    app.patch(
        &b_path,
        &t.token,
        Some(cancelled.etag().as_str()),
        &json!({"start": at_hour(3, 20), "end": at_hour(3, 21)}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let mine = app
        .get(
            &format!("/v1/appointments?assignee_id={tech}&status=scheduled"),
            &t.token,
        )
        .await;
    assert_eq!(mine.body["items"].as_array().expect("items").len(), 2);
    let other = app.sign_up().await;
    app.get(&a_path, &other.token)
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("{a_path}/actions"),
        Some(&other.token),
        &json!({"action": "cancel"}),
    )
    .await
    .assert_problem(404, "not_found");
}

/// Runs the project's iCalendar checker (`tests/checkers/check_ics.py`) on a feed.
fn check_ics(feed: &str) {
    workorders_testkit::require(workorders_testkit::Tool::ICalendar);
    let file = std::env::temp_dir().join(format!("feed-{}.ics", uuid::Uuid::now_v7()));
    std::fs::write(&file, feed).expect("write feed");
    let out = std::process::Command::new(workorders_testkit::python())
        .arg(workorders_testkit::checker("check_ics.py"))
        .arg(&file)
        .output()
        .expect("the checker runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the iCalendar checker refused the feed ({}): {}{}\n{feed}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn the_calendar_feed_is_valid_icalendar_and_shows_changes(ctx: Ctx) {
    workorders_testkit::require(workorders_testkit::Tool::ICalendar);
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (order, tech) = order_with_tech(&app, &t).await;
    let a = book(
        &app,
        &t.token,
        &order,
        &[&tech],
        &at_hour(3, 9),
        &at_hour(3, 10),
    )
    .await;
    let link = app
        .send(
            Method::POST,
            &format!("/v1/users/{tech}/calendar-feed"),
            Some(&t.token),
            None,
            &[],
        )
        .await;
    link.assert_status(201);
    let path = link.body["path"].as_str().expect("path").to_owned();
    let fetch = |path: String| {
        let app = app.clone();
        async move { app.client.get(app.url(&path)).send().await.expect("sent") }
    };
    let first = fetch(path.clone()).await;
    assert_eq!(first.status().as_u16(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/calendar")
    );
    let feed = first.text().await.expect("text");
    assert!(feed.contains(&format!(
        "UID:{}@workorders",
        a.body["id"].as_str().expect("id")
    )));
    assert!(feed.contains("SEQUENCE:0") && feed.contains("STATUS:CONFIRMED"));
    assert!(feed.lines().all(|l| l.len() <= 76), "folded at 75 octets");
    check_ics(&feed);
    // Moved and cancelled appointments are visible to subscribers.
    let location = a.header("location").expect("location");
    app.patch(
        &location,
        &t.token,
        Some("\"1\""),
        &json!({"start": at_hour(3, 11), "end": at_hour(3, 12)}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("{location}/actions"),
        Some(&t.token),
        &json!({"action": "cancel"}),
    )
    .await
    .assert_status(200);
    let feed = fetch(path.clone()).await.text().await.expect("text");
    assert!(
        feed.contains("SEQUENCE:2") && feed.contains("STATUS:CANCELLED"),
        "{feed}"
    );
    check_ics(&feed);
    // Rotating or revoking the link cuts off the old one.
    let calendar = app
        .get(&format!("/v1/users/{tech}/calendar"), &t.token)
        .await;
    assert_eq!(calendar.body["feed_enabled"], true);
    app.send(
        Method::DELETE,
        &format!("/v1/users/{tech}/calendar-feed"),
        Some(&t.token),
        None,
        &[("if-match", &calendar.etag())],
    )
    .await
    .assert_status(204);
    assert_eq!(fetch(path).await.status().as_u16(), 404);
    assert_eq!(
        fetch("/v1/calendars/cal_guess.ics".to_owned())
            .await
            .status()
            .as_u16(),
        404
    );
}

async fn suggestions_explain_who_is_chosen_or_excluded(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (order, busy) = order_with_tech(&app, &t).await;
    let free = app
        .post("/v1/users", Some(&t.token), &json!({"email": "free@x.example", "name": "Frida Frei", "role": "technician", "password": crate::support::PASSWORD}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_hours(&app, &t.token, &free, "00:00", "24:00", 0).await;
    let (no_hours, _) = app.user_with_role(&t, "technician").await;
    book(
        &app,
        &t.token,
        &order,
        &[&busy],
        &at_hour(3, 9),
        &at_hour(3, 10),
    )
    .await
    .assert_status(201);
    let path = format!(
        "/v1/work-orders/{}/steps/{}/suggestions?start={}&end={}",
        order["id"].as_str().expect("id"),
        step_of(&order, "visit")["id"].as_str().expect("step"),
        at_hour(3, 9),
        at_hour(3, 10)
    );
    let resp = app.get(&path, &t.token).await;
    resp.assert_status(200);
    let by_id = |id: &str| {
        resp.body["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .find(|c| c["user_id"] == id)
            .cloned()
            .expect("candidate")
    };
    assert_eq!(by_id(&free)["rank"], 1);
    assert_eq!(by_id(&free)["reason"], "least_loaded");
    assert_eq!(by_id(&busy)["reason"], "absent_or_busy");
    assert_eq!(by_id(&no_hours)["reason"], "outside_working_hours");
    assert_eq!(by_id(&t.owner_id)["reason"], "lacks_role");
}

async fn scheduling_a_step_assigns_the_free_person_and_completes_the_booking_step(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (dispatcher, _) = app.user_with_role(&t, "dispatcher").await;
    let _ = dispatcher;
    let (tech, _) = app.user_with_role(&t, "technician").await;
    set_hours(&app, &t.token, &tech, "00:00", "24:00", 0).await;
    let steps = json!([{"key": "book", "name": "Book the visit", "responsible": {"role": "dispatcher"}, "handling": "schedule_appointment"},
                       step("visit", "technician"), step("quote", "dispatcher")]);
    let process = app.published_process(&t.token, "P", steps).await;
    let service = app
        .post("/v1/services", Some(&t.token), &json!({"name": "Estimate", "process_id": process, "step_key": "visit", "duration_minutes": 60,
                                                       "role": "technician", "lead_time_minutes": 0}))
        .await;
    service.assert_status(201);
    app.post("/v1/services", Some(&t.token), &json!({"name": "Bad", "process_id": process, "step_key": "nope", "duration_minutes": 60, "role": "technician"}))
        .await
        .assert_problem(422, "validation_failed");
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    assert_eq!(step_of(&order, "book")["status"], "active");
    let slots = app
        .get(
            &format!(
                "/v1/services/{}/slots",
                service.body["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    let first = slots.body["slots"][3].clone();
    assert_eq!(first["people"], json!([tech]));
    let scheduled = app
        .post(
            &format!(
                "/v1/work-orders/{}/steps/{}/schedule",
                order["id"].as_str().expect("id"),
                step_of(&order, "visit")["id"].as_str().expect("step")
            ),
            Some(&t.token),
            &json!({"service_id": service.body["id"], "start": first["start"]}),
        )
        .await;
    scheduled.assert_status(201);
    assert_eq!(scheduled.body["assignee_ids"], json!([tech]));
    let now = app
        .get(
            &format!("/v1/work-orders/{}", order["id"].as_str().expect("id")),
            &t.token,
        )
        .await
        .body;
    assert_eq!(
        step_of(&now, "book")["status"],
        "done",
        "the booking step completed itself"
    );
    assert_eq!(step_of(&now, "visit")["status"], "active");
    assert_eq!(step_of(&now, "visit")["responsible"]["id"], tech.as_str());
    let history = app
        .get(
            &format!(
                "/v1/work-orders/{}/history",
                order["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    let entry = history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "appointment.scheduled")
        .expect("scheduled");
    assert_eq!(entry["data"]["assignment_reason"], "least_loaded");
}
