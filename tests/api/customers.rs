//! Customers and sites: search, changes, export, guarded deletion, isolation.

use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, step};
use crate::tests;

tests!(
    customers_are_created_searched_updated_and_exported,
    customers_with_orders_cannot_be_deleted,
    other_tenants_customers_are_404,
    customer_validation_points_at_fields_and_creates_nothing,
);

async fn customers_are_created_searched_updated_and_exported(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": "Bäckerei Krause", "email": "Info@Krause.example", "phone": "+49 30 555-0202",
                    "billing_address": {"street": "Hauptstraße 5", "postal_code": "10115", "city": "Berlin", "country": "de"},
                    "vat_id": "DE123456789", "sites": [{"street": "Hauptstraße 5", "postal_code": "10115", "city": "Berlin", "latitude": 52.53, "longitude": 13.38}]}),
        )
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(created.body["email"], "info@krause.example");
    assert_eq!(created.body["billing_address"]["country"], "DE");
    assert_eq!(created.body["sites"][0]["country"], "DE");
    app.customer(&t.token, "Familie Schneider").await;
    for (q, expected) in [
        ("krause", 1),
        ("KRAUSE", 1),
        ("schneider", 1),
        ("0202", 1),
        ("info@krause", 1),
        ("nobody", 0),
        ("%", 0),
    ] {
        let found = app.get(&format!("/v1/customers?q={q}"), &t.token).await;
        assert_eq!(
            found.body["items"].as_array().expect("items").len(),
            expected,
            "search {q}"
        );
    }
    let site = app
        .post(&format!("/v1/customers/{id}/sites"), Some(&t.token), &json!({"label": "Filiale", "street": "Nebenstraße 1", "postal_code": "10117", "city": "Berlin"}))
        .await;
    site.assert_status(201);
    let sites = app
        .get(&format!("/v1/customers/{id}/sites"), &t.token)
        .await;
    assert_eq!(sites.body["items"].as_array().expect("items").len(), 2);
    let updated = app
        .patch(
            &format!("/v1/customers/{id}"),
            &t.token,
            Some("\"1\""),
            &json!({"phone": null, "notes": "Hintereingang"}),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["phone"], serde_json::Value::Null);
    assert_eq!(updated.body["notes"], "Hintereingang");
    assert_eq!(updated.etag(), "\"2\"");
    let export = app
        .get(&format!("/v1/customers/{id}/export"), &t.token)
        .await;
    export.assert_status(200);
    assert_eq!(export.body["customer"]["name"], "Bäckerei Krause");
    assert_eq!(export.body["sites"].as_array().expect("sites").len(), 2);
    assert!(
        export
            .header("content-disposition")
            .is_some_and(|d| d.contains("attachment"))
    );
}

async fn customers_with_orders_cannot_be_deleted(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(&t.token, "P", json!([step("a", "dispatcher")]))
        .await;
    let (with_order, _) = app.customer(&t.token, "Has orders").await;
    let (without, _) = app.customer(&t.token, "No orders").await;
    app.order(&t.token, &process, &with_order)
        .await
        .assert_status(201);
    let path = format!("/v1/customers/{with_order}");
    app.send(Method::DELETE, &path, Some(&t.token), None, &[])
        .await
        .assert_problem(428, "precondition_required");
    app.send(
        Method::DELETE,
        &path,
        Some(&t.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(409, "customer_has_orders");
    app.get(&path, &t.token).await.assert_status(200);
    let export = app.get(&format!("{path}/export"), &t.token).await;
    assert_eq!(
        export.body["work_orders"].as_array().expect("orders").len(),
        1
    );
    let other = format!("/v1/customers/{without}");
    app.send(
        Method::DELETE,
        &other,
        Some(&t.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_status(204);
    app.get(&other, &t.token)
        .await
        .assert_problem(404, "not_found");
}

async fn other_tenants_customers_are_404(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let (id, _) = app.customer(&a.token, "Mine").await;
    let path = format!("/v1/customers/{id}");
    app.get(&path, &b.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}/export"), &b.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &b.token, Some("\"1\""), &json!({"name": "Stolen"}))
        .await
        .assert_problem(404, "not_found");
    app.send(
        Method::DELETE,
        &path,
        Some(&b.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(404, "not_found");
    app.post(
        &format!("{path}/sites"),
        Some(&b.token),
        &json!({"street": "X 1", "postal_code": "1", "city": "X"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/customers?q=mine", &b.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    assert_eq!(app.get(&path, &a.token).await.body["name"], "Mine");
}

async fn customer_validation_points_at_fields_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let resp = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": " ", "email": "not-an-email", "phone": "call me", "billing_address": {"country": "Germany"},
                    "sites": [{"street": "", "postal_code": "10115", "city": "Berlin", "latitude": 100.0, "longitude": 1.0}]}),
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
            "/billing_address/country",
            "/email",
            "/name",
            "/phone",
            "/sites/0/latitude",
            "/sites/0/street"
        ]
    );
    assert_eq!(
        app.get("/v1/customers", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
}
