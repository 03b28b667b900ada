//! Operations: health, readiness, metrics, request ids, Swagger UI, the committed OpenAPI
//! document, demo data.

use libtest_mimic::Failed;
use reqwest::Method;
use serde_json::json;

use crate::support::Ctx;
use crate::tests;

tests!(
    livez_and_readyz_answer,
    readyz_is_503_when_the_database_is_gone,
    metrics_count_requests_by_route_and_status,
    every_response_carries_a_request_id,
    swagger_ui_and_openapi_document_are_served,
    demo_data_is_seeded_idempotently,
);

async fn livez_and_readyz_answer(ctx: Ctx) {
    let app = ctx.app().await;
    let live = app.send(Method::GET, "/livez", None, None, &[]).await;
    live.assert_status(200);
    assert_eq!(live.body, json!({"status": "ok"}));
    app.send(Method::GET, "/readyz", None, None, &[])
        .await
        .assert_status(200);
}

async fn readyz_is_503_when_the_database_is_gone(ctx: Ctx) {
    let app = ctx.app().await;
    // Simulate a database that is not (or no longer) migrated.
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(app.db.pool())
        .await
        .expect("delete");
    app.send(Method::GET, "/readyz", None, None, &[])
        .await
        .assert_problem(503, "service_unavailable");
    app.send(Method::GET, "/livez", None, None, &[])
        .await
        .assert_status(200);
}

async fn metrics_count_requests_by_route_and_status(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.get("/v1/users", &t.token).await.assert_status(200);
    app.get("/v1/users/00000000-0000-0000-0000-000000000000", &t.token)
        .await
        .assert_status(404);
    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    metrics.assert_status(200);
    let text = metrics.text;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/users",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/users/{id}",status="404""#),
        "route patterns, not raw paths: {text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("db_pool_max_connections 5"));
}

async fn every_response_carries_a_request_id(ctx: Ctx) {
    let app = ctx.app().await;
    let ok = app.send(Method::GET, "/livez", None, None, &[]).await;
    let missing = app.send(Method::GET, "/nope", None, None, &[]).await;
    let a = ok.header("x-request-id").expect("request id on success");
    let b = missing
        .header("x-request-id")
        .expect("request id on errors");
    assert_ne!(a, b);
    assert!(uuid::Uuid::parse_str(&a).is_ok());
}

async fn swagger_ui_and_openapi_document_are_served(ctx: Ctx) {
    let app = ctx.app().await;
    let ui = app.send(Method::GET, "/docs/", None, None, &[]).await;
    ui.assert_status(200);
    assert!(
        ui.text.to_lowercase().contains("swagger"),
        "Swagger UI page"
    );
    let redirect = app.send(Method::GET, "/docs", None, None, &[]).await;
    assert_eq!(redirect.status, 308);
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await;
    doc.assert_status(200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert_eq!(
        doc.body["paths"]["/v1/users"]["post"]["operationId"],
        "createUser"
    );
}

async fn demo_data_is_seeded_idempotently(ctx: Ctx) {
    let app = ctx.app_with(|s| s.demo = true).await;
    // A second instance seeding the same database neither fails nor duplicates.
    let again = ctx.app_sharing(&app, |s| s.demo = true).await;
    for email in [
        "owner",
        "dispatcher",
        "tech1",
        "tech2",
        "reviewer",
        "accountant",
    ] {
        again
            .sign_in("demo", &format!("{email}@demo.example"), "demo-password")
            .await
            .assert_status(200);
    }
    let token = app
        .sign_in("demo", "owner@demo.example", "demo-password")
        .await
        .body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.count_users(&token).await, 6);
    // Billing: a complete profile, a catalogue, one issued and two paid invoices.
    let profile = app.get("/v1/billing-profile", &token).await;
    assert_eq!(profile.body["complete"], true, "{}", profile.text);
    let items = app.get("/v1/catalogue-items", &token).await;
    assert!(items.body["items"].as_array().expect("items").len() >= 5);
    let paid = app.get("/v1/invoices?status=paid", &token).await;
    assert_eq!(
        paid.body["items"].as_array().expect("items").len(),
        2,
        "{}",
        paid.text
    );
    let issued = app.get("/v1/invoices?status=issued", &token).await;
    assert_eq!(issued.body["items"].as_array().expect("items").len(), 1);
    for inv in paid.body["items"].as_array().expect("items") {
        let order = app
            .get(
                &format!(
                    "/v1/work-orders/{}",
                    inv["work_order_id"].as_str().expect("order")
                ),
                &token,
            )
            .await;
        assert_eq!(
            order.body["status"], "closed",
            "paid in full closes the order"
        );
    }
    // Oversight: a weekly schedule, last week's review signed off with every item
    // acknowledged, and its decision linked to version 2 of the repair process, which
    // compares with version 1.
    let schedules = app.get("/v1/review-schedules", &token).await;
    assert_eq!(schedules.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(schedules.body["items"][0]["cadence"], "weekly");
    let reviews = app.get("/v1/reviews?status=signed_off", &token).await;
    let list = reviews.body["items"].as_array().expect("items");
    assert_eq!(list.len(), 1, "{}", reviews.text);
    let review = app
        .get(
            &format!("/v1/reviews/{}", list[0]["id"].as_str().expect("id")),
            &token,
        )
        .await;
    let items = review.body["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{}", review.text);
    assert!(items.iter().all(|i| !i["acknowledged_at"].is_null()));
    let decision = &review.body["decisions"][0];
    assert_eq!(decision["process_version"], 2);
    let process = decision["process_id"].as_str().expect("process");
    let cmp = app
        .get(
            &format!("/v1/analytics/processes/{process}/compare?a=1&b=2"),
            &token,
        )
        .await;
    cmp.assert_status(200);
    // Version 2: the two worked orders and last week's untouched one.
    assert_eq!(cmp.body["comparison"]["b"]["orders"], 3, "{}", cmp.text);
    assert_eq!(cmp.body["comparison"]["a"]["orders"], 5, "{}", cmp.text);
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert!(kinds.contains(&"overdue_step"), "{kinds:?}");
}

/// The committed `openapi/openapi.json` must equal what the code generates.
pub fn committed_openapi_matches_code() -> Result<(), Failed> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let generated = workorders_api::openapi::openapi_json().map_err(|e| e.to_string())?;
    if committed != generated {
        return Err(
            "openapi/openapi.json differs from the code; regenerate it with \
             `cargo run -- openapi --output openapi/openapi.json` and commit the result"
                .into(),
        );
    }
    // Every schema reference resolves (a schema used only in query parameters is not
    // collected by the generator unless it is inlined).
    let doc: serde_json::Value = serde_json::from_str(&generated).map_err(|e| e.to_string())?;
    let schemas = &doc["components"]["schemas"];
    let mut missing: Vec<&str> = generated
        .split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| schemas.get(*name).is_none())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        return Err(format!("unresolved schema references: {missing:?}").into());
    }
    Ok(())
}
