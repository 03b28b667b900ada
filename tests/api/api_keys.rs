//! API keys: shown once, stored hashed, scoped, revocable, tenant-isolated.

use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, PASSWORD};
use crate::tests;

tests!(
    api_key_is_shown_once_and_works_within_its_scopes,
    revoked_or_expired_api_keys_are_401,
    api_keys_cannot_manage_api_keys,
    other_tenants_api_keys_are_404,
    invalid_api_key_requests_are_422,
);

async fn api_key_is_shown_once_and_works_within_its_scopes(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/api-keys",
            Some(&t.token),
            &json!({"name": "CRM sync", "scopes": ["users:read"]}),
        )
        .await;
    created.assert_status(201);
    let key = created.body["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with(&format!(
        "wo_{}_",
        created.body["prefix"].as_str().expect("prefix")
    )));
    let location = created.header("location").expect("location");
    let fetched = app.get(&location, &t.token).await;
    fetched.assert_status(200);
    assert!(
        fetched.body.get("key").is_none(),
        "the secret is never shown again"
    );
    assert!(!fetched.text.contains(&key));
    let listed = app.get("/v1/api-keys", &t.token).await;
    assert!(!listed.text.contains(&key));
    // The key reads users of its tenant...
    let users = app.get("/v1/users", &key).await;
    users.assert_status(200);
    assert_eq!(users.body["items"].as_array().expect("items").len(), 1);
    app.get("/v1/tenant", &key).await.assert_status(200);
    // ...but may not write without users:write.
    app.post(
        "/v1/users",
        Some(&key),
        &json!({"email": "k@x.example", "name": "K", "role": "technician", "password": PASSWORD}),
    )
    .await
    .assert_problem(403, "forbidden");
    let writer = app
        .post(
            "/v1/api-keys",
            Some(&t.token),
            &json!({"name": "HR", "scopes": ["users:write"]}),
        )
        .await;
    let writer_key = writer.body["key"].as_str().expect("key");
    app.post(
        "/v1/users",
        Some(writer_key),
        &json!({"email": "k@x.example", "name": "K", "role": "technician", "password": PASSWORD}),
    )
    .await
    .assert_status(201);
    // last_used_at is recorded.
    let fetched = app.get(&location, &t.token).await;
    assert!(fetched.body["last_used_at"].is_string());
}

async fn revoked_or_expired_api_keys_are_401(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/api-keys",
            Some(&t.token),
            &json!({"name": "Old", "scopes": ["users:read"]}),
        )
        .await;
    let key = created.body["key"].as_str().expect("key").to_owned();
    let location = created.header("location").expect("location");
    app.get("/v1/users", &key).await.assert_status(200);
    app.send(Method::DELETE, &location, Some(&t.token), None, &[])
        .await
        .assert_problem(428, "precondition_required");
    app.send(
        Method::DELETE,
        &location,
        Some(&t.token),
        None,
        &[("if-match", "\"9\"")],
    )
    .await
    .assert_problem(412, "precondition_failed");
    app.send(
        Method::DELETE,
        &location,
        Some(&t.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_status(204);
    app.get("/v1/users", &key)
        .await
        .assert_problem(401, "invalid_token");
    let fetched = app.get(&location, &t.token).await;
    assert!(fetched.body["revoked_at"].is_string());
    // An expired key is refused too.
    let expiring = app.post("/v1/api-keys", Some(&t.token), &json!({"name": "Temp", "scopes": ["users:read"], "expires_at": "2099-01-01T00:00:00Z"})).await;
    let expiring_key = expiring.body["key"].as_str().expect("key");
    app.get("/v1/users", expiring_key).await.assert_status(200);
    sqlx::query("UPDATE api_keys SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(expiring.body["id"].as_str().expect("id"))
        .execute(app.db.pool())
        .await
        .expect("backdate expiry");
    app.get("/v1/users", expiring_key)
        .await
        .assert_problem(401, "invalid_token");
    // A key with a wrong secret but a real prefix is refused.
    let forged = format!("{}{}", &key[..16], "A".repeat(key.len() - 16));
    app.get("/v1/users", &forged)
        .await
        .assert_problem(401, "invalid_token");
}

async fn api_keys_cannot_manage_api_keys(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/api-keys",
            Some(&t.token),
            &json!({"name": "All", "scopes": ["users:read", "users:write"]}),
        )
        .await;
    let key = created.body["key"].as_str().expect("key");
    app.post(
        "/v1/api-keys",
        Some(key),
        &json!({"name": "Escalate", "scopes": ["users:write"]}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get("/v1/api-keys", key)
        .await
        .assert_problem(403, "forbidden");
    let (_, dispatcher) = app.user_with_role(&t, "dispatcher").await;
    app.post(
        "/v1/api-keys",
        Some(&dispatcher),
        &json!({"name": "Mine", "scopes": ["users:read"]}),
    )
    .await
    .assert_problem(403, "forbidden");
}

async fn other_tenants_api_keys_are_404(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let created = app
        .post(
            "/v1/api-keys",
            Some(&a.token),
            &json!({"name": "A's", "scopes": ["users:read"]}),
        )
        .await;
    let location = created.header("location").expect("location");
    app.get(&location, &b.token)
        .await
        .assert_problem(404, "not_found");
    app.send(
        Method::DELETE,
        &location,
        Some(&b.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(404, "not_found");
    let listed = app.get("/v1/api-keys", &b.token).await;
    assert_eq!(listed.body["items"].as_array().expect("items").len(), 0);
    // A's key only sees A's users.
    let key = created.body["key"].as_str().expect("key");
    let users = app.get("/v1/users", key).await;
    assert!(
        users.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["email"] == a.owner_email.as_str())
    );
    app.get(&format!("/v1/users/{}", b.owner_id), key)
        .await
        .assert_problem(404, "not_found");
    // And the key still works for A.
    assert_eq!(
        app.get(&location, &a.token).await.body["revoked_at"],
        serde_json::Value::Null
    );
}

async fn invalid_api_key_requests_are_422(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.post(
        "/v1/api-keys",
        Some(&t.token),
        &json!({"name": "X", "scopes": []}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/api-keys",
        Some(&t.token),
        &json!({"name": "X", "scopes": ["everything"]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let past = app
        .post(
            "/v1/api-keys",
            Some(&t.token),
            &json!({"name": "X", "scopes": ["users:read"], "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    past.assert_problem(422, "validation_failed");
    assert_eq!(past.body["errors"][0]["pointer"], "/expires_at");
    assert_eq!(
        app.get("/v1/api-keys", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
}
