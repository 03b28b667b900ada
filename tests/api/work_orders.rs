//! Work orders: intake, numbering, lifecycle, invalid transitions, concurrency, versions,
//! lists and filters, history, isolation.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Ctx, PASSWORD, history_types, step, step_of};
use crate::tests;

tests!(
    a_new_order_is_numbered_and_its_first_step_is_active_with_a_responsible_person,
    order_numbers_are_gap_free_under_concurrent_intake,
    inline_customer_and_site_are_created_with_the_order,
    bad_intake_is_422_and_creates_nothing,
    completing_the_last_step_completes_the_order_then_it_is_invoiced_and_closed,
    invalid_transitions_are_409_with_allowed_actions_and_change_nothing,
    concurrent_completes_with_one_if_match_have_exactly_one_winner,
    a_new_process_version_does_not_change_running_orders,
    hold_cancel_and_their_reasons,
    lists_filter_by_status_customer_text_responsible_and_overdue,
    patch_records_before_and_after_in_the_history,
    other_tenants_orders_are_404_and_unchanged,
    history_is_append_only,
);

fn two_steps() -> Value {
    json!([step("intake", "dispatcher"), step("visit", "technician")])
}

async fn a_new_order_is_numbered_and_its_first_step_is_active_with_a_responsible_person(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (dispatcher_id, _) = app.user_with_role(&t, "dispatcher").await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, site) = app.customer(&t.token, "Kunde").await;
    let resp = app.order(&t.token, &process, &customer).await;
    resp.assert_status(201);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(resp.body["number"], format!("WO-{year}-00001"));
    assert_eq!(resp.body["status"], "open");
    assert_eq!(
        resp.body["site"]["id"],
        site.as_str(),
        "the customer's only site is used"
    );
    assert_eq!(resp.body["customer"]["name"], "Kunde");
    let intake = step_of(&resp.body, "intake");
    assert_eq!(intake["status"], "active");
    assert_eq!(intake["responsible"]["id"], dispatcher_id.as_str());
    assert_eq!(intake["responsible"]["name"], "Test Person");
    assert!(intake["due_at"].is_string());
    assert_eq!(
        intake["allowed_actions"],
        json!(["start", "complete", "reassign"])
    );
    assert_eq!(step_of(&resp.body, "visit")["status"], "pending");
    assert_eq!(resp.body["allowed_actions"], json!(["hold", "cancel"]));
    let id = resp.body["id"].as_str().expect("id");
    assert_eq!(
        resp.header("location"),
        Some(format!("/v1/work-orders/{id}"))
    );
    assert_eq!(
        history_types(&app, &t.token, id).await,
        ["work_order.created", "step.activated"]
    );
    let history = app
        .get(&format!("/v1/work-orders/{id}/history"), &t.token)
        .await;
    assert_eq!(history.body["items"][0]["actor"]["type"], "user");
    assert_eq!(history.body["items"][0]["data"]["channel"], "phone");
    let second = app.order(&t.token, &process, &customer).await;
    assert_eq!(second.body["number"], format!("WO-{year}-00002"));
}

async fn order_numbers_are_gap_free_under_concurrent_intake(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.user_with_role(&t, "dispatcher").await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let results = join_all((0..12).map(|_| app.order(&t.token, &process, &customer))).await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|r| {
            r.assert_status(201);
            r.body["number"].as_str().expect("number").to_owned()
        })
        .collect();
    numbers.sort();
    let year = chrono::Utc::now().format("%Y").to_string();
    let expected: Vec<String> = (1..=12).map(|n| format!("WO-{year}-{n:05}")).collect();
    assert_eq!(numbers, expected, "no gaps, no duplicates");
}

async fn inline_customer_and_site_are_created_with_the_order(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let resp = app
        .post(
            "/v1/work-orders",
            Some(&t.token),
            &json!({"process_id": process, "channel": "web", "title": "Neue Fenster", "priority": "urgent",
                    "customer": {"name": "Neukunde", "email": "neu@example.com"},
                    "site": {"street": "Am Park 8", "postal_code": "12163", "city": "Berlin"},
                    "requested_end": "2030-01-31T17:00:00Z"}),
        )
        .await;
    resp.assert_status(201);
    assert_eq!(resp.body["customer"]["name"], "Neukunde");
    assert_eq!(resp.body["site"]["street"], "Am Park 8");
    assert_eq!(resp.body["priority"], "urgent");
    assert_eq!(resp.body["channel"], "web");
    let customers = app.get("/v1/customers?q=neukunde", &t.token).await;
    assert_eq!(customers.body["items"].as_array().expect("items").len(), 1);
    // Nobody with the dispatcher role exists: the step went to the owner, and the order is flagged.
    assert_eq!(
        step_of(&resp.body, "intake")["responsible"]["id"],
        t.owner_id.as_str()
    );
    assert_eq!(resp.body["needs_attention"], true);
    let id = resp.body["id"].as_str().expect("id");
    assert!(
        history_types(&app, &t.token, id)
            .await
            .contains(&"work_order.flagged".to_owned())
    );
}

async fn bad_intake_is_422_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let b = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (other_customer, _) = app.customer(&b.token, "Fremd").await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    app.post("/v1/customers/".trim_end_matches('/'), Some(&t.token), &json!({"name": "Zwei Sites", "sites": [
        {"street": "A 1", "postal_code": "1", "city": "X"}, {"street": "B 2", "postal_code": "2", "city": "Y"}]})).await.assert_status(201);
    let two_sites = app.get("/v1/customers?q=zwei", &t.token).await.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cases = [
        (
            json!({"process_id": process, "channel": "phone", "customer_id": other_customer, "title": "X"}),
            "/customer_id",
        ),
        (
            json!({"process_id": process, "channel": "phone", "title": "X"}),
            "/customer_id",
        ),
        (
            json!({"process_id": process, "channel": "phone", "customer_id": two_sites, "title": "X"}),
            "/site_id",
        ),
        (
            json!({"process_id": process, "channel": "phone", "customer_id": customer, "title": " "}),
            "/title",
        ),
        (
            json!({"process_id": "00000000-0000-7000-8000-000000000000", "channel": "phone", "customer_id": customer, "title": "X"}),
            "/process_id",
        ),
        (
            json!({"process_id": process, "channel": "fax", "customer_id": customer, "title": "X"}),
            "/channel",
        ),
        (
            json!({"process_id": process, "channel": "phone", "customer_id": customer, "title": "X",
                "requested_start": "2030-02-01T00:00:00Z", "requested_end": "2030-01-01T00:00:00Z"}),
            "/requested_end",
        ),
    ];
    for (body, pointer) in cases {
        let resp = app.post("/v1/work-orders", Some(&t.token), &body).await;
        resp.assert_problem(422, "validation_failed");
        let pointers: Vec<&str> = resp.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["pointer"].as_str().unwrap_or(""))
            .collect();
        assert!(
            pointers.contains(&pointer),
            "expected {pointer} in {pointers:?}"
        );
    }
    assert_eq!(
        app.get("/v1/work-orders", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
}

async fn completing_the_last_step_completes_the_order_then_it_is_invoiced_and_closed(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.user_with_role(&t, "dispatcher").await;
    app.user_with_role(&t, "technician").await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let started = app
        .step_action(&t.token, &order, "intake", "start", &[])
        .await;
    started.assert_status(200);
    assert_eq!(started.body["status"], "in_progress", "work has begun");
    let done = app
        .step_action(&t.token, &started.body, "intake", "complete", &[])
        .await;
    done.assert_status(200);
    assert_eq!(step_of(&done.body, "intake")["status"], "done");
    assert_eq!(step_of(&done.body, "visit")["status"], "active");
    let completed = app
        .step_action(&t.token, &done.body, "visit", "complete", &[])
        .await;
    completed.assert_status(200);
    assert_eq!(completed.body["status"], "completed");
    assert!(completed.body["completed_at"].is_string());
    assert_eq!(completed.body["allowed_actions"], json!(["mark_invoiced"]));
    let id = order["id"].as_str().expect("id");
    let invoiced = app
        .post(
            &format!("/v1/work-orders/{id}/actions"),
            Some(&t.token),
            &json!({"action": "mark_invoiced"}),
        )
        .await;
    assert_eq!(invoiced.body["status"], "invoiced");
    let closed = app
        .post(
            &format!("/v1/work-orders/{id}/actions"),
            Some(&t.token),
            &json!({"action": "close"}),
        )
        .await;
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(
        history_types(&app, &t.token, id).await,
        [
            "work_order.created",
            "step.activated",
            "step.started",
            "work_order.started",
            "step.completed",
            "step.activated",
            "step.completed",
            "work_order.completed",
            "work_order.invoiced",
            "work_order.closed"
        ]
    );
}

async fn invalid_transitions_are_409_with_allowed_actions_and_change_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let id = order["id"].as_str().expect("id");
    let before_history = history_types(&app, &t.token, id).await;
    let pending = app
        .step_action(&t.token, &order, "visit", "start", &[])
        .await;
    pending.assert_problem(409, "invalid_transition");
    assert_eq!(pending.body["current_state"], "pending");
    assert_eq!(pending.body["allowed_actions"], json!([]));
    let close = app
        .post(
            &format!("/v1/work-orders/{id}/actions"),
            Some(&t.token),
            &json!({"action": "close"}),
        )
        .await;
    close.assert_problem(409, "invalid_transition");
    assert_eq!(close.body["current_state"], "open");
    assert_eq!(close.body["allowed_actions"], json!(["hold", "cancel"]));
    app.step_action(&t.token, &order, "intake", "skip", &[("reason", "no")])
        .await
        .assert_problem(409, "step_not_skippable");
    app.step_action(&t.token, &order, "intake", "reopen", &[])
        .await
        .assert_problem(409, "invalid_transition");
    let after = app.get(&format!("/v1/work-orders/{id}"), &t.token).await;
    assert_eq!(after.etag(), "\"1\"", "nothing changed");
    assert_eq!(after.body["steps"], order["steps"]);
    assert_eq!(
        history_types(&app, &t.token, id).await,
        before_history,
        "no history for refused commands"
    );
}

async fn concurrent_completes_with_one_if_match_have_exactly_one_winner(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await;
    let id = order.body["id"].as_str().expect("id");
    let step_id = step_of(&order.body, "intake")["id"]
        .as_str()
        .expect("step")
        .to_owned();
    let etag = order.etag();
    let path = format!("/v1/work-orders/{id}/steps/{step_id}/actions");
    let body = json!({"action": "complete"});
    let headers = [("if-match", etag.as_str())];
    let attempts =
        (0..6).map(|_| app.send(Method::POST, &path, Some(&t.token), Some(&body), &headers));
    let results = join_all(attempts).await;
    let winners = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        winners,
        1,
        "exactly one complete wins: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_problem(412, "precondition_failed");
    }
    let completed = history_types(&app, &t.token, id)
        .await
        .iter()
        .filter(|t| *t == "step.completed")
        .count();
    assert_eq!(completed, 1);
}

async fn a_new_process_version_does_not_change_running_orders(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let running = app.order(&t.token, &process, &customer).await.body;
    app.post(
        &format!("/v1/processes/{process}/versions"),
        Some(&t.token),
        &json!({"steps": [step("only", "owner")]}),
    )
    .await
    .assert_status(201);
    app.send(
        Method::POST,
        &format!("/v1/processes/{process}/versions/2/publish"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    let id = running["id"].as_str().expect("id");
    let still = app.get(&format!("/v1/work-orders/{id}"), &t.token).await;
    assert_eq!(still.body["steps"].as_array().expect("steps").len(), 2);
    assert_eq!(
        still.body["process_version_id"],
        running["process_version_id"]
    );
    let done = app
        .step_action(&t.token, &still.body, "intake", "complete", &[])
        .await;
    assert_eq!(
        step_of(&done.body, "visit")["status"],
        "active",
        "the running order goes on with its own version"
    );
    let new = app.order(&t.token, &process, &customer).await.body;
    assert_ne!(new["process_version_id"], running["process_version_id"]);
    assert_eq!(new["steps"][0]["key"], "only");
}

async fn hold_cancel_and_their_reasons(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let id = order["id"].as_str().expect("id");
    let actions = format!("/v1/work-orders/{id}/actions");
    let held = app
        .post(
            &actions,
            Some(&t.token),
            &json!({"action": "hold", "reason": "customer on holiday"}),
        )
        .await;
    assert_eq!(held.body["status"], "on_hold");
    let blocked = app
        .step_action(&t.token, &held.body, "intake", "complete", &[])
        .await;
    blocked.assert_problem(409, "invalid_transition");
    assert_eq!(blocked.body["current_state"], "on_hold");
    let resumed = app
        .post(&actions, Some(&t.token), &json!({"action": "resume"}))
        .await;
    assert_eq!(resumed.body["status"], "open");
    app.post(&actions, Some(&t.token), &json!({"action": "cancel"}))
        .await
        .assert_problem(422, "validation_failed");
    let cancelled = app
        .post(
            &actions,
            Some(&t.token),
            &json!({"action": "cancel", "reason": "customer withdrew"}),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["cancel_reason"], "customer withdrew");
    app.post(&actions, Some(&t.token), &json!({"action": "resume"}))
        .await
        .assert_problem(409, "invalid_transition");
    let history = app
        .get(&format!("/v1/work-orders/{id}/history"), &t.token)
        .await;
    let held_entry = history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "work_order.held")
        .expect("held");
    assert_eq!(held_entry["data"]["reason"], "customer on holiday");
    assert_eq!(held_entry["data"]["from"], "open");
}

async fn lists_filter_by_status_customer_text_responsible_and_overdue(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (dispatcher, _) = app.user_with_role(&t, "dispatcher").await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (krause, _) = app.customer(&t.token, "Bäckerei Krause").await;
    let (other, _) = app.customer(&t.token, "Familie Schneider").await;
    let a = app.order(&t.token, &process, &krause).await.body;
    app.order(&t.token, &process, &other)
        .await
        .assert_status(201);
    let id = a["id"].as_str().expect("id");
    app.post(
        &format!("/v1/work-orders/{id}/actions"),
        Some(&t.token),
        &json!({"action": "hold"}),
    )
    .await
    .assert_status(200);
    let count = |path: String| {
        let app = app.clone();
        let token = t.token.clone();
        async move {
            app.get(&path, &token).await.body["items"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(usize::MAX)
        }
    };
    assert_eq!(count("/v1/work-orders".into()).await, 2);
    assert_eq!(count("/v1/work-orders?status=on_hold".into()).await, 1);
    assert_eq!(
        count(format!("/v1/work-orders?customer_id={krause}")).await,
        1
    );
    assert_eq!(count("/v1/work-orders?q=krause".into()).await, 1);
    assert_eq!(count("/v1/work-orders?q=wo-".into()).await, 2);
    assert_eq!(
        count(format!("/v1/work-orders?responsible_id={dispatcher}")).await,
        2
    );
    assert_eq!(count("/v1/work-orders?channel=web".into()).await, 0);
    assert_eq!(count("/v1/work-orders?overdue=true".into()).await, 0);
    // Backdate the other order's active step: it becomes overdue.
    sqlx::query("UPDATE work_order_steps SET due_at = '2020-01-01T00:00:00.000000Z' WHERE status = 'active' AND work_order_id <> $1")
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("backdate");
    assert_eq!(count("/v1/work-orders?overdue=true".into()).await, 1);
    let oldest_first = app.get("/v1/work-orders?sort=created_at", &t.token).await;
    assert_eq!(oldest_first.body["items"][0]["id"], id);
    app.get("/v1/work-orders?status=lost", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/work-orders?sort=priority", &t.token)
        .await
        .assert_problem(400, "invalid_query");
}

async fn patch_records_before_and_after_in_the_history(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await;
    let path = order.header("location").expect("location");
    app.patch(&path, &t.token, None, &json!({"title": "Neu"}))
        .await
        .assert_problem(428, "precondition_required");
    let updated = app
        .patch(
            &path,
            &t.token,
            Some("\"1\""),
            &json!({"title": "Neu", "priority": "high", "description": null}),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["title"], "Neu");
    assert_eq!(updated.etag(), "\"2\"");
    app.patch(&path, &t.token, Some("\"1\""), &json!({"title": "Alt"}))
        .await
        .assert_problem(412, "precondition_failed");
    let history = app.get(&format!("{path}/history"), &t.token).await;
    let entry = history.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "work_order.updated")
        .expect("updated");
    assert_eq!(entry["data"]["before"]["title"], "Replace windows");
    assert_eq!(entry["data"]["after"]["title"], "Neu");
    assert_eq!(entry["data"]["after"]["priority"], "high");
    assert!(
        entry["data"]["before"].get("description").is_none(),
        "unchanged fields are not recorded"
    );
}

async fn other_tenants_orders_are_404_and_unchanged(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let process = app.published_process(&a.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&a.token, "Kunde").await;
    let order = app.order(&a.token, &process, &customer).await.body;
    let id = order["id"].as_str().expect("id");
    let path = format!("/v1/work-orders/{id}");
    app.get(&path, &b.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}/history"), &b.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &b.token, Some("\"1\""), &json!({"title": "X"}))
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("{path}/actions"),
        Some(&b.token),
        &json!({"action": "cancel", "reason": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.step_action(&b.token, &order, "intake", "complete", &[])
        .await
        .assert_problem(404, "not_found");
    // Another tenant's process or customer cannot be used either.
    app.order(&b.token, &process, &customer)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        app.get("/v1/work-orders", &b.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    assert_eq!(app.get(&path, &a.token).await.etag(), "\"1\"");
    let _ = PASSWORD;
}

async fn history_is_append_only(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.user_with_role(&t, "dispatcher").await;
    let process = app.published_process(&t.token, "P", two_steps()).await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let order = app.order(&t.token, &process, &customer).await.body;
    let id = order["id"].as_str().expect("id");
    // No API path changes history, and the database refuses too.
    app.send(
        Method::DELETE,
        &format!("/v1/work-orders/{id}/history"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_problem(405, "method_not_allowed");
    let update =
        sqlx::query("UPDATE work_order_events SET type = 'forged' WHERE work_order_id = $1")
            .bind(id)
            .execute(app.db.pool())
            .await;
    let refused = update.expect_err("UPDATE on history must fail");
    assert!(
        refused
            .to_string()
            .contains("work_order_events is append-only"),
        "refused by the append-only trigger: {refused}"
    );
    let delete = sqlx::query("DELETE FROM work_order_events WHERE work_order_id = $1")
        .bind(id)
        .execute(app.db.pool())
        .await;
    let refused = delete.expect_err("DELETE on history must fail");
    assert!(
        refused
            .to_string()
            .contains("work_order_events is append-only"),
        "refused by the append-only trigger: {refused}"
    );
    assert_eq!(
        history_types(&app, &t.token, id).await,
        ["work_order.created", "step.activated"]
    );
}
