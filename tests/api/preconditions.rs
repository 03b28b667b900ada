//! No lost updates: every `PATCH`, `PUT` and `DELETE` in the OpenAPI document requires
//! `If-Match` (428 without it, 412 with a stale tag) and changes nothing when refused.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use workorders_persistence::Clock;

use crate::support::{Ctx, TestApp, at_hour, dump_database, step};
use crate::tests;

tests!(every_change_of_a_stored_resource_requires_a_current_if_match,);

/// One instance of every resource a client can change or delete: the concrete path and a
/// valid body for each `PATCH`/`PUT`/`DELETE` operation, keyed by `METHOD /path/template`.
async fn fixture(
    app: &TestApp,
    clock: &Clock,
) -> (String, BTreeMap<String, (String, Option<Value>)>) {
    let t = app.sign_up().await;
    let token = t.token.as_str();
    let mut ops: BTreeMap<String, (String, Option<Value>)> = BTreeMap::new();
    let mut add = |key: &str, path: String, body: Option<Value>| {
        ops.insert(key.to_owned(), (path, body));
    };
    let id = |r: &crate::support::Resp| r.body["id"].as_str().expect("id").to_owned();

    // People, calendars, absences, the calendar feed, API keys.
    let (tech, _) = app.user_with_role(&t, "technician").await;
    add(
        "PATCH /v1/users/{id}",
        format!("/v1/users/{tech}"),
        Some(json!({"skills": ["glazing"]})),
    );
    let week = json!({"monday": [{"start": "00:00", "end": "24:00"}], "tuesday": [{"start": "00:00", "end": "24:00"}],
        "wednesday": [{"start": "00:00", "end": "24:00"}], "thursday": [{"start": "00:00", "end": "24:00"}],
        "friday": [{"start": "00:00", "end": "24:00"}], "saturday": [{"start": "00:00", "end": "24:00"}],
        "sunday": [{"start": "00:00", "end": "24:00"}]});
    app.send(
        Method::PUT,
        &format!("/v1/users/{tech}/calendar"),
        Some(token),
        Some(&json!({"weekly_hours": week})),
        &[("if-match", "\"0\"")],
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/v1/users/{tech}/calendar-feed"),
        Some(token),
        &json!({}),
    )
    .await
    .assert_status(201);
    add(
        "PUT /v1/users/{id}/calendar",
        format!("/v1/users/{tech}/calendar"),
        Some(json!({"weekly_hours": week, "travel_buffer_minutes": 15})),
    );
    add(
        "DELETE /v1/users/{id}/calendar-feed",
        format!("/v1/users/{tech}/calendar-feed"),
        None,
    );
    let absence = app
        .post(
            &format!("/v1/users/{tech}/absences"),
            Some(token),
            &json!({"kind": "vacation", "start": at_hour(20, 0), "end": at_hour(22, 0)}),
        )
        .await;
    absence.assert_status(201);
    add(
        "DELETE /v1/users/{id}/absences/{absence_id}",
        format!("/v1/users/{tech}/absences/{}", id(&absence)),
        None,
    );
    let key = app
        .post(
            "/v1/api-keys",
            Some(token),
            &json!({"name": "Shop", "scopes": ["users:read"]}),
        )
        .await;
    key.assert_status(201);
    add(
        "DELETE /v1/api-keys/{id}",
        format!("/v1/api-keys/{}", id(&key)),
        None,
    );
    add(
        "PATCH /v1/tenant",
        "/v1/tenant".to_owned(),
        Some(json!({"stuck_after_days": 9})),
    );
    // The logo is uploaded raw (see `change`).
    add("PUT /v1/tenant/logo", "/v1/tenant/logo".to_owned(), None);
    add("DELETE /v1/tenant/logo", "/v1/tenant/logo".to_owned(), None);

    // Processes, services, customers, orders, appointments.
    let process_created = app
        .post(
            "/v1/processes",
            Some(token),
            &json!({"name": "Reparatur", "steps": [step("visit", "technician"), step("invoice", "owner")]}),
        )
        .await;
    process_created.assert_status(201);
    let process = id(&process_created);
    app.send(
        Method::POST,
        &format!("/v1/processes/{process}/versions/1/publish"),
        Some(token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    add(
        "PATCH /v1/processes/{id}",
        format!("/v1/processes/{process}"),
        Some(json!({"description": "Fenster reparieren"})),
    );
    let service = app
        .post(
            "/v1/services",
            Some(token),
            &json!({"name": "Reparatur", "process_id": process, "step_key": "visit",
                    "duration_minutes": 60, "role": "technician"}),
        )
        .await;
    service.assert_status(201);
    add(
        "PATCH /v1/services/{id}",
        format!("/v1/services/{}", id(&service)),
        Some(
            json!({"name": "Reparatur vor Ort", "process_id": process, "step_key": "visit",
                    "duration_minutes": 90, "role": "technician"}),
        ),
    );
    let (customer, _) = app.customer(token, "Jana Becker").await;
    add(
        "PATCH /v1/customers/{id}",
        format!("/v1/customers/{customer}"),
        Some(json!({"phone": "+49 30 555"})),
    );
    let (spare_customer, _) = app.customer(token, "Kai Kunde").await;
    add(
        "DELETE /v1/customers/{id}",
        format!("/v1/customers/{spare_customer}"),
        None,
    );
    let order = app.order(token, &process, &customer).await;
    order.assert_status(201);
    let order_id = id(&order);
    add(
        "PATCH /v1/work-orders/{id}",
        format!("/v1/work-orders/{order_id}"),
        Some(json!({"title": "Fenster klemmt"})),
    );
    let appointment = app
        .post(
            "/v1/appointments",
            Some(token),
            &json!({"work_order_id": order_id, "assignee_ids": [tech], "start": at_hour(5, 9),
                    "end": at_hour(5, 10), "override_working_hours": true}),
        )
        .await;
    appointment.assert_status(201);
    add(
        "PATCH /v1/appointments/{id}",
        format!("/v1/appointments/{}", id(&appointment)),
        Some(json!({"notes": "Hintereingang"})),
    );
    let webhook = app
        .post(
            "/v1/webhooks",
            Some(token),
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["work_order.created"]}),
        )
        .await;
    webhook.assert_status(201);
    add(
        "PATCH /v1/webhooks/{id}",
        format!("/v1/webhooks/{}", id(&webhook)),
        Some(json!({"description": "ERP"})),
    );
    let doomed_webhook = app
        .post(
            "/v1/webhooks",
            Some(token),
            &json!({"url": "http://127.0.0.1:9/old", "event_types": ["work_order.created"]}),
        )
        .await;
    doomed_webhook.assert_status(201);
    add(
        "DELETE /v1/webhooks/{id}",
        format!("/v1/webhooks/{}", id(&doomed_webhook)),
        None,
    );

    // Billing: profile, catalogue, templates, quotes, invoices.
    let profile = crate::billing::profile();
    crate::billing::put_profile(app, &t, &profile, Some("\"0\""))
        .await
        .assert_status(200);
    add(
        "PUT /v1/billing-profile",
        "/v1/billing-profile".to_owned(),
        Some(profile),
    );
    let item = json!({"code": "LAB", "kind": "labour", "name": "Monteurstunde", "unit": "HUR",
                      "unit_price": "68.00", "vat_rate": "19"});
    let created_item = app.post("/v1/catalogue-items", Some(token), &item).await;
    created_item.assert_status(201);
    let mut changed_item = item.clone();
    changed_item["unit_price"] = json!("70.00");
    add(
        "PATCH /v1/catalogue-items/{id}",
        format!("/v1/catalogue-items/{}", id(&created_item)),
        Some(changed_item),
    );
    let template = json!({"subject": "Rechnung {{invoice_number}}", "body": "Guten Tag,\n\nanbei die Rechnung."});
    app.send(
        Method::PUT,
        "/v1/email-templates/invoice/de",
        Some(token),
        Some(&template),
        &[("if-match", "\"0\"")],
    )
    .await
    .assert_status(200);
    add(
        "PUT /v1/email-templates/{kind}/{lang}",
        "/v1/email-templates/invoice/de".to_owned(),
        Some(template),
    );
    add(
        "DELETE /v1/email-templates/{kind}/{lang}",
        "/v1/email-templates/invoice/de".to_owned(),
        None,
    );
    let line = crate::billing::line("Montage", "2", "HUR", "65.00", "19");
    let valid_until = (Utc::now() + Duration::days(30)).date_naive().to_string();
    let quote = app
        .post(
            &format!("/v1/work-orders/{order_id}/quotes"),
            Some(token),
            &json!({"lines": [line], "valid_until": valid_until}),
        )
        .await;
    quote.assert_status(201);
    add(
        "PATCH /v1/quotes/{id}",
        format!("/v1/quotes/{}", id(&quote)),
        Some(json!({"lines": [line], "valid_until": valid_until, "notes": "Preise netto"})),
    );
    let invoice = app
        .post(
            &format!("/v1/work-orders/{order_id}/invoices"),
            Some(token),
            &json!({"lines": [line]}),
        )
        .await;
    invoice.assert_status(201);
    add(
        "PATCH /v1/invoices/{id}",
        format!("/v1/invoices/{}", id(&invoice)),
        Some(json!({"notes": "Zahlbar ohne Abzug"})),
    );
    let doomed_invoice = app
        .post(
            &format!("/v1/work-orders/{order_id}/invoices"),
            Some(token),
            &json!({"lines": [line]}),
        )
        .await;
    doomed_invoice.assert_status(201);
    add(
        "DELETE /v1/invoices/{id}",
        format!("/v1/invoices/{}", id(&doomed_invoice)),
        None,
    );

    // Reviews: a schedule, the review it makes, a decision taken in it.
    let schedule_body = json!({"name": "Daily check", "cadence": "daily", "time": "07:30",
                               "reviewer_id": t.owner_id});
    let schedule = app
        .post("/v1/review-schedules", Some(token), &schedule_body)
        .await;
    schedule.assert_status(201);
    let next: DateTime<Utc> = schedule.body["next_review_at"]
        .as_str()
        .expect("next review")
        .parse()
        .expect("time");
    clock.set(next);
    workorders_app::oversight::tick(&app.state)
        .await
        .expect("oversight scan");
    let reviews = app.get("/v1/reviews", token).await;
    let review = reviews.body["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a review was made: {}", reviews.text))
        .to_owned();
    let decision = app
        .post(
            &format!("/v1/reviews/{review}/decisions"),
            Some(token),
            &json!({"text": "Quote approval for small repairs dropped", "process_id": process}),
        )
        .await;
    decision.assert_status(201);
    add(
        "PATCH /v1/review-schedules/{id}",
        format!("/v1/review-schedules/{}", id(&schedule)),
        Some(schedule_body),
    );
    let doomed_schedule = app
        .post(
            "/v1/review-schedules",
            Some(token),
            &json!({"name": "Weekly check", "cadence": "weekly", "time": "07:30", "reviewer_id": t.owner_id}),
        )
        .await;
    doomed_schedule.assert_status(201);
    add(
        "DELETE /v1/review-schedules/{id}",
        format!("/v1/review-schedules/{}", id(&doomed_schedule)),
        None,
    );
    add(
        "PATCH /v1/reviews/{id}",
        format!("/v1/reviews/{review}"),
        Some(json!({"findings": "All on track"})),
    );
    add(
        "PATCH /v1/reviews/{id}/decisions/{decision_id}",
        format!("/v1/reviews/{review}/decisions/{}", id(&decision)),
        Some(json!({"process_id": process, "process_version": 1})),
    );
    (t.token.clone(), ops)
}

async fn every_change_of_a_stored_resource_requires_a_current_if_match(ctx: Ctx) {
    let now = Utc::now();
    let clock = Clock::manual(now - Duration::seconds(i64::from(now.second())));
    let app = {
        let clock = clock.clone();
        ctx.app_with(move |s| {
            s.clock = clock;
            s.oversight.scan = std::time::Duration::from_secs(3600);
            s.webhooks.allow_private = true;
        })
        .await
    };
    let (token, mut fixture) = fixture(&app, &clock).await;
    let document = app.get("/openapi.json", &token).await.body;
    let mut walked = 0;
    for (template, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            if !matches!(method.as_str(), "patch" | "put" | "delete") {
                continue;
            }
            let key = format!("{} {template}", method.to_uppercase());
            let (path, body) = fixture
                .remove(&key)
                .unwrap_or_else(|| panic!("{key} has no instance in this test's fixture: add one"));
            let declared = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["$ref"] == "#/components/parameters/IfMatch");
            assert!(
                declared,
                "{key}: the contract declares the required If-Match"
            );
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let before = dump_database(&app).await;
            let current = app.get(&path_to_read(&path), &token).await;
            change(&app, method.clone(), &path, &token, body.as_ref(), &[])
                .await
                .assert_problem(428, "precondition_required");
            change(
                &app,
                method.clone(),
                &path,
                &token,
                body.as_ref(),
                &[("if-match", "\"977\"")],
            )
            .await
            .assert_problem(412, "precondition_failed");
            assert_eq!(
                dump_database(&app).await,
                before,
                "{key}: a refused change changes nothing"
            );
            // The current tag is accepted (the fixture is right, the guard is no wall).
            let Some(etag) = current.header("etag") else {
                panic!("{key}: reading {path} gives no ETag: {}", current.text);
            };
            {
                let done = change(
                    &app,
                    method,
                    &path,
                    &token,
                    body.as_ref(),
                    &[("if-match", &etag)],
                )
                .await;
                assert!(
                    (200..300).contains(&done.status),
                    "{key} with the current ETag {etag}: {} {}",
                    done.status,
                    done.text
                );
            }
            walked += 1;
        }
    }
    assert!(
        fixture.is_empty(),
        "operations in the fixture but not in the contract: {:?}",
        fixture.keys().collect::<Vec<_>>()
    );
    assert!(walked >= 25, "every guarded operation walked ({walked})");
}

/// Sends a change: JSON, but the logo upload, which takes a raw image.
async fn change(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> crate::support::Resp {
    if method == Method::PUT && path == "/v1/tenant/logo" {
        let if_match = headers
            .iter()
            .find(|(name, _)| *name == "if-match")
            .map(|(_, value)| *value);
        return crate::branding::put_logo(
            app,
            token,
            if_match,
            "image/png",
            crate::branding::png(),
        )
        .await;
    }
    app.send(method, path, Some(token), body, headers).await
}

/// Where the resource a change applies to is read (with its ETag).
fn path_to_read(path: &str) -> String {
    match path {
        "/v1/tenant/logo" => "/v1/tenant".to_owned(),
        p if p.ends_with("/calendar-feed") => p.replace("/calendar-feed", "/calendar"),
        p => p.to_owned(),
    }
}
