//! Working steps: checklist and evidence, skip, rework, parallel groups, responsibility
//! (assignment rules, reassignment, hand-over on deactivation), technicians' view, my work.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Ctx, PASSWORD, PNG, TestApp, history_types, step, step_of};
use crate::tests;

tests!(
    completion_needs_checklist_and_evidence_and_409_names_what_is_missing,
    evidence_uploads_are_checked_and_downloadable,
    steps_are_skipped_only_where_allowed_and_with_a_reason,
    reopening_counts_rework_and_reopens_a_completed_order,
    parallel_steps_activate_together_and_both_must_finish,
    technicians_see_only_their_orders_and_act_only_on_their_steps,
    reassignment_needs_a_qualified_user_and_a_reason,
    assignment_rules_spread_the_work,
    deactivating_a_user_hands_their_open_steps_over,
    my_work_lists_open_steps_soonest_due_first,
);

async fn upload(
    app: &TestApp,
    token: &str,
    order: &Value,
    key: &str,
    kind: &str,
    content_type: &str,
    data: Vec<u8>,
) -> (u16, Value) {
    let step_id = step_of(order, key)["id"].as_str().expect("step id");
    let url = app.url(&format!(
        "/v1/work-orders/{}/steps/{step_id}/evidence?kind={kind}",
        order["id"].as_str().expect("id")
    ));
    let resp = app
        .client
        .post(url)
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(data)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_order(app: &TestApp, token: &str, order: &Value) -> Value {
    app.get(
        &format!("/v1/work-orders/{}", order["id"].as_str().expect("id")),
        token,
    )
    .await
    .body
}

async fn completion_needs_checklist_and_evidence_and_409_names_what_is_missing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let steps = json!([{"key": "install", "name": "Install", "responsible": {"role": "owner"},
        "checklist": [{"key": "sealed", "label": "Sealed"}, {"key": "cleaned", "label": "Cleaned", "required": false}],
        "evidence": ["photo", "signature"]}]);
    let process = app.published_process(&t.token, "P", steps).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let refused = app
        .step_action(&t.token, &order, "install", "complete", &[])
        .await;
    refused.assert_problem(409, "step_incomplete");
    assert_eq!(refused.body["missing_checklist"], json!(["sealed"]));
    assert_eq!(
        refused.body["missing_evidence"],
        json!(["photo", "signature"])
    );
    let step_id = step_of(&order, "install")["id"].as_str().expect("id");
    let checklist = format!(
        "/v1/work-orders/{}/steps/{step_id}/checklist",
        order["id"].as_str().expect("id")
    );
    app.post(
        &checklist,
        Some(&t.token),
        &json!({"item": "nope", "checked": true}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let checked = app
        .post(
            &checklist,
            Some(&t.token),
            &json!({"item": "sealed", "checked": true}),
        )
        .await;
    assert_eq!(
        step_of(&checked.body, "install")["checklist"][0]["checked"],
        true
    );
    let (status, _) = upload(
        &app,
        &t.token,
        &order,
        "install",
        "photo",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(status, 201);
    let still = app
        .step_action(&t.token, &order, "install", "complete", &[])
        .await;
    still.assert_problem(409, "step_incomplete");
    assert_eq!(still.body["missing_checklist"], json!([]));
    assert_eq!(still.body["missing_evidence"], json!(["signature"]));
    let (status, _) = upload(
        &app,
        &t.token,
        &order,
        "install",
        "signature",
        "image/svg+xml",
        b"<svg xmlns='http://www.w3.org/2000/svg'><path d='M0 0 L10 10'/></svg>".to_vec(),
    )
    .await;
    assert_eq!(status, 201);
    let done = app
        .step_action(&t.token, &order, "install", "complete", &[])
        .await;
    done.assert_status(200);
    assert_eq!(done.body["status"], "completed");
    let types = history_types(&app, &t.token, order["id"].as_str().expect("id")).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "step.evidence_recorded")
            .count(),
        2
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "step.checklist_changed")
            .count(),
        1,
        "refused checklist changes leave no trace"
    );
}

async fn evidence_uploads_are_checked_and_downloadable(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let b = app.sign_up().await;
    let steps = json!([{"key": "photo", "name": "Photo", "responsible": {"role": "owner"}, "evidence": ["photo"]}]);
    let process = app.published_process(&t.token, "P", steps).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    assert_eq!(
        upload(
            &app,
            &t.token,
            &order,
            "photo",
            "photo",
            "application/pdf",
            b"%PDF-1.4".to_vec()
        )
        .await
        .0,
        415
    );
    let (status, body) = upload(
        &app,
        &t.token,
        &order,
        "photo",
        "photo",
        "image/jpeg",
        b"not really a jpeg".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_upload"))
    );
    assert_eq!(
        upload(
            &app,
            &t.token,
            &order,
            "photo",
            "signature",
            "image/svg+xml",
            b"<svg><script>alert(1)</script></svg>".to_vec()
        )
        .await
        .0,
        422
    );
    let mut huge = vec![0xFF, 0xD8, 0xFF];
    huge.resize(10 * 1024 * 1024 + 1, 0);
    assert_eq!(
        upload(&app, &t.token, &order, "photo", "photo", "image/jpeg", huge)
            .await
            .0,
        413
    );
    assert_eq!(
        upload(
            &app,
            &b.token,
            &order,
            "photo",
            "photo",
            "image/png",
            PNG.to_vec()
        )
        .await
        .0,
        404,
        "other tenants cannot upload"
    );
    let current = get_order(&app, &t.token, &order).await;
    assert_eq!(current["version"], 1, "refused uploads changed nothing");
    let (status, attachment) = upload(
        &app,
        &t.token,
        &order,
        "photo",
        "photo",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(attachment["size_bytes"], 67);
    let path = format!("/v1/attachments/{}", attachment["id"].as_str().expect("id"));
    let download = app
        .client
        .get(app.url(&path))
        .bearer_auth(&t.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(
        download.bytes().await.expect("bytes").to_vec(),
        PNG.to_vec()
    );
    app.get(&path, &b.token)
        .await
        .assert_problem(404, "not_found");
    let step = step_of(&get_order(&app, &t.token, &order).await, "photo").clone();
    assert_eq!(step["evidence"][0]["attachment_id"], attachment["id"]);
}

async fn steps_are_skipped_only_where_allowed_and_with_a_reason(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let steps = json!([step("a", "owner"), {"key": "b", "name": "B", "responsible": {"role": "owner"}, "skippable": true}, step("c", "owner")]);
    let process = app.published_process(&t.token, "P", steps).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    app.step_action(&t.token, &order, "a", "skip", &[("reason", "x")])
        .await
        .assert_problem(409, "step_not_skippable");
    app.step_action(&t.token, &order, "b", "skip", &[])
        .await
        .assert_problem(422, "validation_failed");
    let skipped = app
        .step_action(
            &t.token,
            &order,
            "b",
            "skip",
            &[("reason", "customer has measurements")],
        )
        .await;
    skipped.assert_status(200);
    assert_eq!(step_of(&skipped.body, "b")["status"], "skipped");
    assert_eq!(
        step_of(&skipped.body, "b")["skip_reason"],
        "customer has measurements"
    );
    let after_a = app
        .step_action(&t.token, &skipped.body, "a", "complete", &[])
        .await;
    assert_eq!(
        step_of(&after_a.body, "c")["status"],
        "active",
        "the skipped step is passed over"
    );
}

async fn reopening_counts_rework_and_reopens_a_completed_order(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(&t.token, "P", json!([step("fit", "owner")]))
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let done = app
        .step_action(&t.token, &order, "fit", "complete", &[])
        .await;
    assert_eq!(done.body["status"], "completed");
    let reopened = app
        .step_action(
            &t.token,
            &done.body,
            "fit",
            "reopen",
            &[("reason", "window leaks")],
        )
        .await;
    reopened.assert_status(200);
    assert_eq!(reopened.body["status"], "in_progress");
    assert_eq!(step_of(&reopened.body, "fit")["status"], "active");
    assert_eq!(step_of(&reopened.body, "fit")["rework_count"], 1);
    let again = app
        .step_action(&t.token, &reopened.body, "fit", "complete", &[])
        .await;
    assert_eq!(again.body["status"], "completed");
    let types = history_types(&app, &t.token, order["id"].as_str().expect("id")).await;
    assert!(
        types.contains(&"step.reopened".to_owned())
            && types.contains(&"work_order.reopened".to_owned())
    );
    let history = app
        .get(
            &format!(
                "/v1/work-orders/{}/history",
                order["id"].as_str().expect("id")
            ),
            &t.token,
        )
        .await;
    let reopen = history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "step.reopened")
        .expect("reopened");
    assert_eq!(reopen["data"]["reason"], "window leaks");
    assert_eq!(reopen["data"]["from"], "done");
}

async fn parallel_steps_activate_together_and_both_must_finish(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let steps = json!([
        step("a", "owner"),
        {"key": "b", "name": "B", "responsible": {"role": "owner"}, "parallel_group": "prep"},
        {"key": "c", "name": "C", "responsible": {"role": "owner"}, "parallel_group": "prep"},
        step("d", "owner"),
    ]);
    let process = app.published_process(&t.token, "P", steps).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let after_a = app
        .step_action(&t.token, &order, "a", "complete", &[])
        .await
        .body;
    assert_eq!(step_of(&after_a, "b")["status"], "active");
    assert_eq!(step_of(&after_a, "c")["status"], "active");
    assert_eq!(
        step_of(&after_a, "b")["stage"],
        step_of(&after_a, "c")["stage"]
    );
    let after_c = app
        .step_action(&t.token, &after_a, "c", "complete", &[])
        .await
        .body;
    assert_eq!(
        step_of(&after_c, "d")["status"],
        "pending",
        "the stage is not finished"
    );
    let after_b = app
        .step_action(&t.token, &after_c, "b", "complete", &[])
        .await
        .body;
    assert_eq!(step_of(&after_b, "d")["status"], "active");
}

async fn technicians_see_only_their_orders_and_act_only_on_their_steps(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (tech_id, tech) = app.user_with_role(&t, "technician").await;
    let process = app
        .published_process(
            &t.token,
            "P",
            json!([step("intake", "owner"), step("visit", "technician")]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let mine = app.order(&t.token, &process, &customer).await.body;
    let other = app.order(&t.token, &process, &customer).await.body;
    app.get(
        &format!("/v1/work-orders/{}", mine["id"].as_str().expect("id")),
        &tech,
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/work-orders", &tech).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    let mine = app
        .step_action(&t.token, &mine, "intake", "complete", &[])
        .await
        .body;
    assert_eq!(
        step_of(&mine, "visit")["responsible"]["id"],
        tech_id.as_str()
    );
    let list = app.get("/v1/work-orders", &tech).await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [mine["id"].as_str().expect("id")]);
    app.get(
        &format!("/v1/work-orders/{}", other["id"].as_str().expect("id")),
        &tech,
    )
    .await
    .assert_problem(404, "not_found");
    // Their own step: yes. Order actions and others' steps: no.
    app.step_action(&tech, &mine, "visit", "start", &[])
        .await
        .assert_status(200);
    app.post(
        &format!(
            "/v1/work-orders/{}/actions",
            mine["id"].as_str().expect("id")
        ),
        Some(&tech),
        &json!({"action": "hold"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/work-orders",
        Some(&tech),
        &json!({"process_id": process, "channel": "phone", "customer_id": customer, "title": "X"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let done = app
        .step_action(&tech, &mine, "visit", "complete", &[])
        .await;
    assert_eq!(done.body["status"], "completed");
    // A finished order they worked on stays visible to them.
    app.get(
        &format!("/v1/work-orders/{}", mine["id"].as_str().expect("id")),
        &tech,
    )
    .await
    .assert_status(200);
}

async fn reassignment_needs_a_qualified_user_and_a_reason(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let glazier = app
        .post("/v1/users", Some(&t.token), &json!({"email": "g@x.example", "name": "Glazier", "role": "technician", "password": PASSWORD, "skills": ["glazing"]}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (plain_tech, _) = app.user_with_role(&t, "technician").await;
    let steps = json!([{"key": "glass", "name": "Glass", "responsible": {"role": "technician", "skills": ["glazing"]}}]);
    let process = app.published_process(&t.token, "P", steps).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    assert_eq!(
        step_of(&order, "glass")["responsible"]["id"],
        glazier.as_str()
    );
    let path = format!(
        "/v1/work-orders/{}/steps/{}/reassign",
        order["id"].as_str().expect("id"),
        step_of(&order, "glass")["id"].as_str().expect("id")
    );
    app.post(
        &path,
        Some(&t.token),
        &json!({"user_id": plain_tech, "reason": "closer"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &path,
        Some(&t.token),
        &json!({"user_id": t.owner_id, "reason": ""}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let second = app
        .post("/v1/users", Some(&t.token), &json!({"email": "g2@x.example", "name": "Glazier 2", "role": "technician", "password": PASSWORD, "skills": ["glazing"]}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let moved = app
        .post(
            &path,
            Some(&t.token),
            &json!({"user_id": second, "reason": "Glazier is sick"}),
        )
        .await;
    moved.assert_status(200);
    assert_eq!(
        step_of(&moved.body, "glass")["responsible"]["id"],
        second.as_str()
    );
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
        .find(|e| e["type"] == "step.reassigned")
        .expect("reassigned");
    assert_eq!(entry["data"]["from"], glazier.as_str());
    assert_eq!(entry["data"]["to"], second.as_str());
    assert_eq!(entry["data"]["reason"], "Glazier is sick");
}

async fn assignment_rules_spread_the_work(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (a, _) = app.user_with_role(&t, "technician").await;
    let (b, _) = app.user_with_role(&t, "technician").await;
    let process = app
        .published_process(&t.token, "P", json!([step("visit", "technician")]))
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let holder = |order: &Value| {
        step_of(order, "visit")["responsible"]["id"]
            .as_str()
            .expect("holder")
            .to_owned()
    };
    // Least loaded (default): alternates as loads grow.
    let mut counts = std::collections::HashMap::new();
    for _ in 0..4 {
        let order = app.order(&t.token, &process, &customer).await.body;
        *counts.entry(holder(&order)).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&a), Some(&2));
    assert_eq!(counts.get(&b), Some(&2));
    // Round robin: strictly in turn.
    let tenant = app.get("/v1/tenant", &t.token).await;
    let rr = app
        .send(
            Method::PATCH,
            "/v1/tenant",
            Some(&t.token),
            Some(&json!({"assignment_rule": "round_robin"})),
            &[("if-match", tenant.etag().as_str())],
        )
        .await;
    rr.assert_status(200);
    assert_eq!(rr.body["assignment_rule"], "round_robin");
    let first = holder(&app.order(&t.token, &process, &customer).await.body);
    let second = holder(&app.order(&t.token, &process, &customer).await.body);
    let third = holder(&app.order(&t.token, &process, &customer).await.body);
    assert_ne!(first, second);
    assert_eq!(first, third);
}

async fn deactivating_a_user_hands_their_open_steps_over(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (leaving, _) = app.user_with_role(&t, "dispatcher").await;
    let process = app
        .published_process(&t.token, "P", json!([step("intake", "dispatcher")]))
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let first = app.order(&t.token, &process, &customer).await.body;
    let second = app.order(&t.token, &process, &customer).await.body;
    assert_eq!(
        step_of(&first, "intake")["responsible"]["id"],
        leaving.as_str()
    );
    let (successor, _) = app.user_with_role(&t, "dispatcher").await;
    let resp = app
        .send(
            Method::POST,
            &format!("/v1/users/{leaving}/actions/deactivate"),
            Some(&t.token),
            Some(&json!({"successor_id": successor})),
            &[],
        )
        .await;
    resp.assert_status(200);
    for order in [&first, &second] {
        let now = get_order(&app, &t.token, order).await;
        assert_eq!(
            step_of(&now, "intake")["responsible"]["id"],
            successor.as_str(),
            "handed to the successor"
        );
        assert!(
            history_types(&app, &t.token, order["id"].as_str().expect("id"))
                .await
                .contains(&"step.reassigned".to_owned())
        );
    }
    // Without a successor and nobody else qualified, the process owner takes over and the order is flagged.
    let third = app.order(&t.token, &process, &customer).await.body;
    assert_eq!(
        step_of(&third, "intake")["responsible"]["id"],
        successor.as_str()
    );
    app.send(
        Method::POST,
        &format!("/v1/users/{successor}/actions/deactivate"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    let now = get_order(&app, &t.token, &third).await;
    assert_eq!(
        step_of(&now, "intake")["responsible"]["id"],
        t.owner_id.as_str()
    );
    assert_eq!(now["needs_attention"], true);
    app.send(
        Method::POST,
        &format!("/v1/users/{successor}/actions/reactivate"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    app.send(
        Method::POST,
        &format!("/v1/users/{successor}/actions/deactivate"),
        Some(&t.token),
        Some(&json!({"successor_id": successor})),
        &[],
    )
    .await
    .assert_problem(422, "validation_failed");
}

async fn my_work_lists_open_steps_soonest_due_first(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (_, tech) = app.user_with_role(&t, "technician").await;
    let slow = app.published_process(&t.token, "Slow", json!([{"key": "s", "name": "S", "responsible": {"role": "technician"}, "target_duration_minutes": 600}])).await;
    let fast = app.published_process(&t.token, "Fast", json!([{"key": "f", "name": "F", "responsible": {"role": "technician"}, "target_duration_minutes": 10}])).await;
    let untimed = app
        .published_process(
            &t.token,
            "Untimed",
            json!([{"key": "u", "name": "U", "responsible": {"role": "technician"}}]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    for process in [&untimed, &slow, &fast] {
        app.order(&t.token, process, &customer)
            .await
            .assert_status(201);
    }
    let work = app.get("/v1/me/work", &tech).await;
    work.assert_status(200);
    let keys: Vec<&str> = work.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["step"]["key"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(keys, ["f", "s", "u"]);
    assert_eq!(
        work.body["items"][0]["step"]["responsible"]["name"],
        "Test Person"
    );
    // Paging keeps the order.
    let page1 = app.get("/v1/me/work?limit=2", &tech).await;
    let cursor = page1.body["next_cursor"].as_str().expect("cursor");
    let page2 = app
        .get(&format!("/v1/me/work?limit=2&cursor={cursor}"), &tech)
        .await;
    assert_eq!(page2.body["items"][0]["step"]["key"], "u");
    assert!(page2.body["next_cursor"].is_null());
    assert_eq!(
        app.get("/v1/me/work", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
}
