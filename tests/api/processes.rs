//! Process maps: versions, validation, publishing, archiving, isolation.

use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, step};
use crate::tests;

tests!(
    processes_are_versioned_and_published_versions_stay_as_they_were,
    invalid_step_lists_are_422_with_pointers_and_create_nothing,
    publishing_twice_is_409_and_archived_processes_take_no_orders,
    process_names_are_unique_per_tenant,
    other_tenants_processes_are_404_and_technicians_cannot_write,
);

async fn processes_are_versioned_and_published_versions_stay_as_they_were(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/processes",
            Some(&t.token),
            &json!({"name": "Fenstertausch", "description": "Window replacement", "steps": [
                step("intake", "dispatcher"),
                {"key": "visit", "name": "Visit", "responsible": {"role": "technician", "skills": ["Glazing"]},
                 "handling": "schedule_appointment", "checklist": [{"key": "measure", "label": "Measure"}],
                 "evidence": ["photo"], "skippable": true, "parallel_group": "field"},
                {"key": "photos", "name": "Photos", "responsible": {"user_id": t.owner_id}, "parallel_group": "field"},
            ]}),
        )
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(created.body["published_version"], serde_json::Value::Null);
    assert_eq!(created.body["versions"][0]["status"], "draft");
    let v1 = app
        .get(&format!("/v1/processes/{id}/versions/1"), &t.token)
        .await;
    v1.assert_status(200);
    assert_eq!(
        v1.body["steps"][1]["responsible"]["skills"],
        json!(["glazing"]),
        "skills are normalised"
    );
    assert_eq!(
        v1.body["steps"][1]["checklist"][0]["required"], true,
        "checklist items are required by default"
    );
    assert_eq!(v1.body["steps"][0]["handling"], "manual");
    let published = app
        .send(
            Method::POST,
            &format!("/v1/processes/{id}/versions/1/publish"),
            Some(&t.token),
            None,
            &[],
        )
        .await;
    published.assert_status(200);
    assert_eq!(published.body["published_version"], 1);
    // A new version with other steps.
    let v2 = app
        .post(
            &format!("/v1/processes/{id}/versions"),
            Some(&t.token),
            &json!({"steps": [step("only", "dispatcher")]}),
        )
        .await;
    v2.assert_status(201);
    assert_eq!(v2.body["number"], 2);
    assert_eq!(
        v2.header("location"),
        Some(format!("/v1/processes/{id}/versions/2"))
    );
    app.send(
        Method::POST,
        &format!("/v1/processes/{id}/versions/2/publish"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    let process = app.get(&format!("/v1/processes/{id}"), &t.token).await;
    assert_eq!(process.body["published_version"], 2);
    assert_eq!(
        process.body["versions"].as_array().expect("versions").len(),
        2
    );
    // Version 1 is unchanged.
    let again = app
        .get(&format!("/v1/processes/{id}/versions/1"), &t.token)
        .await;
    assert_eq!(again.body["steps"], v1.body["steps"]);
    assert_eq!(again.body["status"], "published");
    let list = app.get("/v1/processes", &t.token).await;
    assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
}

async fn invalid_step_lists_are_422_with_pointers_and_create_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let cases = [
        (json!([]), "/steps"),
        (
            json!([step("a", "dispatcher"), step("a", "dispatcher")]),
            "/steps/1/key",
        ),
        (
            json!([{"key": "a", "name": "A", "responsible": {"user_id": "00000000-0000-7000-8000-000000000000"}}]),
            "/steps/0/responsible/user_id",
        ),
        (
            json!([{"key": "a", "name": "A", "responsible": {}}]),
            "/steps/0/responsible",
        ),
        (
            json!([{"key": "a", "name": "A", "responsible": {"role": "wizard"}}]),
            "/steps/0/responsible/role",
        ),
        (
            json!([{"key": "Bad Key", "name": "A", "responsible": {"role": "dispatcher"}}]),
            "/steps/0/key",
        ),
        (
            json!([
                {"key": "a", "name": "A", "responsible": {"role": "dispatcher"}, "parallel_group": "g"},
                step("b", "dispatcher"),
                {"key": "c", "name": "C", "responsible": {"role": "dispatcher"}, "parallel_group": "g"}
            ]),
            "/steps/2/parallel_group",
        ),
    ];
    for (steps, pointer) in cases {
        let resp = app
            .post(
                "/v1/processes",
                Some(&t.token),
                &json!({"name": "P", "steps": steps}),
            )
            .await;
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
    let list = app.get("/v1/processes", &t.token).await;
    assert_eq!(
        list.body["items"].as_array().expect("items").len(),
        0,
        "nothing was created"
    );
}

async fn publishing_twice_is_409_and_archived_processes_take_no_orders(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    // No published version yet.
    let draft = app
        .post(
            "/v1/processes",
            Some(&t.token),
            &json!({"name": "Draft", "steps": [step("a", "dispatcher")]}),
        )
        .await;
    let draft_id = draft.body["id"].as_str().expect("id");
    app.order(&t.token, draft_id, &customer)
        .await
        .assert_problem(409, "process_not_published");
    let id = app
        .published_process(&t.token, "Live", json!([step("a", "dispatcher")]))
        .await;
    app.send(
        Method::POST,
        &format!("/v1/processes/{id}/versions/1/publish"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_problem(409, "version_not_draft");
    app.send(
        Method::POST,
        &format!("/v1/processes/{id}/versions/9/publish"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    app.order(&t.token, &id, &customer).await.assert_status(201);
    let archived = app
        .send(
            Method::POST,
            &format!("/v1/processes/{id}/archive"),
            Some(&t.token),
            None,
            &[],
        )
        .await;
    archived.assert_status(200);
    assert_eq!(archived.body["status"], "archived");
    app.order(&t.token, &id, &customer)
        .await
        .assert_problem(409, "process_archived");
    app.post(
        &format!("/v1/processes/{id}/versions"),
        Some(&t.token),
        &json!({"steps": [step("b", "dispatcher")]}),
    )
    .await
    .assert_problem(409, "process_archived");
    let archived_list = app.get("/v1/processes?status=archived", &t.token).await;
    assert_eq!(
        archived_list.body["items"].as_array().expect("items").len(),
        1
    );
}

async fn process_names_are_unique_per_tenant(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    app.post(
        "/v1/processes",
        Some(&a.token),
        &json!({"name": "Reparatur"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/processes",
        Some(&a.token),
        &json!({"name": "Reparatur"}),
    )
    .await
    .assert_problem(409, "process_name_taken");
    app.post(
        "/v1/processes",
        Some(&b.token),
        &json!({"name": "Reparatur"}),
    )
    .await
    .assert_status(201);
}

async fn other_tenants_processes_are_404_and_technicians_cannot_write(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let id = app
        .published_process(&a.token, "Mine", json!([step("a", "dispatcher")]))
        .await;
    app.get(&format!("/v1/processes/{id}"), &b.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/processes/{id}/versions/1"), &b.token)
        .await
        .assert_problem(404, "not_found");
    app.send(
        Method::POST,
        &format!("/v1/processes/{id}/archive"),
        Some(&b.token),
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    let (_, tech) = app.user_with_role(&a, "technician").await;
    app.get(&format!("/v1/processes/{id}"), &tech)
        .await
        .assert_status(200);
    app.post("/v1/processes", Some(&tech), &json!({"name": "Nope"}))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.get(&format!("/v1/processes/{id}"), &a.token).await.body["status"],
        "active"
    );
}
