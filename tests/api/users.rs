//! Users: creation, roles, tenant isolation, owner protection, deactivation.

use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, PASSWORD};
use crate::tests;

tests!(
    owner_creates_a_user_with_location_and_etag,
    duplicate_email_in_a_tenant_is_409_but_fine_in_another,
    other_tenants_users_are_404_and_untouched,
    lists_show_only_the_callers_tenant_and_filter_by_role,
    technicians_may_read_but_not_create_users,
    only_owners_create_or_promote_owners,
    last_active_owner_cannot_be_demoted_or_deactivated,
    deactivated_users_cannot_sign_in_and_lose_their_sessions,
    users_change_their_own_password_and_other_sessions_end,
);

async fn owner_creates_a_user_with_location_and_etag(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let resp = app
        .post("/v1/users", Some(&t.token), &json!({"email": "Tech@X.example", "name": "Tim", "role": "technician", "password": PASSWORD, "skills": ["glazing"], "home_base": {"postal_code": "10115"}}))
        .await;
    resp.assert_status(201);
    let id = resp.body["id"].as_str().expect("id");
    assert_eq!(resp.header("location"), Some(format!("/v1/users/{id}")));
    assert_eq!(resp.etag(), "\"1\"");
    assert_eq!(resp.body["email"], "tech@x.example");
    assert!(resp.body.get("password").is_none() && resp.body.get("password_hash").is_none());
    let fetched = app.get(&format!("/v1/users/{id}"), &t.token).await;
    fetched.assert_status(200);
    assert_eq!(fetched.body, resp.body);
    // The new user can sign in.
    app.sign_in(&t.slug, "tech@x.example", PASSWORD)
        .await
        .assert_status(200);
}

async fn duplicate_email_in_a_tenant_is_409_but_fine_in_another(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let body = json!({"email": "dup@x.example", "name": "Dup", "role": "dispatcher", "password": PASSWORD});
    app.post("/v1/users", Some(&a.token), &body)
        .await
        .assert_status(201);
    app.post("/v1/users", Some(&a.token), &json!({"email": "DUP@x.example", "name": "Dup 2", "role": "dispatcher", "password": PASSWORD}))
        .await
        .assert_problem(409, "email_taken");
    app.post("/v1/users", Some(&b.token), &body)
        .await
        .assert_status(201);
    assert_eq!(app.count_users(&a.token).await, 2);
}

async fn other_tenants_users_are_404_and_untouched(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let path = format!("/v1/users/{}", a.owner_id);
    app.get(&path, &b.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &b.token, Some("\"1\""), &json!({"name": "Hijacked"}))
        .await
        .assert_problem(404, "not_found");
    app.send(
        Method::POST,
        &format!("{path}/actions/deactivate"),
        Some(&b.token),
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    let mine = app.get(&path, &a.token).await;
    assert_eq!(mine.body["name"], "Maria Müller");
    assert_eq!(mine.body["active"], true);
    assert_eq!(mine.body["version"], 1);
}

async fn lists_show_only_the_callers_tenant_and_filter_by_role(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    app.user_with_role(&a, "technician").await;
    app.user_with_role(&a, "technician").await;
    app.user_with_role(&b, "dispatcher").await;
    let all = app.get("/v1/users", &a.token).await;
    let items = all.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|u| {
        u["email"]
            .as_str()
            .is_some_and(|e| e.ends_with(&format!("{}.example", a.slug)))
    }));
    let techs = app.get("/v1/users?role=technician", &a.token).await;
    assert_eq!(techs.body["items"].as_array().expect("items").len(), 2);
    let inactive = app.get("/v1/users?active=false", &a.token).await;
    assert_eq!(inactive.body["items"].as_array().expect("items").len(), 0);
    app.get("/v1/users?role=boss", &a.token)
        .await
        .assert_problem(400, "invalid_query");
}

async fn technicians_may_read_but_not_create_users(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (tech_id, tech) = app.user_with_role(&t, "technician").await;
    app.get("/v1/users", &tech).await.assert_status(200);
    app.post(
        "/v1/users",
        Some(&tech),
        &json!({"email": "n@x.example", "name": "N", "role": "technician", "password": PASSWORD}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Changing their own role is not self-service.
    app.patch(
        &format!("/v1/users/{tech_id}"),
        &tech,
        Some("\"1\""),
        &json!({"role": "admin"}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Their own name is.
    app.patch(
        &format!("/v1/users/{tech_id}"),
        &tech,
        Some("\"1\""),
        &json!({"name": "Tim T."}),
    )
    .await
    .assert_status(200);
    assert_eq!(app.count_users(&t.token).await, 2);
}

async fn only_owners_create_or_promote_owners(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (_, admin) = app.user_with_role(&t, "admin").await;
    app.post(
        "/v1/users",
        Some(&admin),
        &json!({"email": "o2@x.example", "name": "O2", "role": "owner", "password": PASSWORD}),
    )
    .await
    .assert_problem(403, "forbidden");
    let tech = app.post("/v1/users", Some(&admin), &json!({"email": "t@x.example", "name": "T", "role": "technician", "password": PASSWORD})).await;
    tech.assert_status(201);
    let path = tech.header("location").expect("location");
    app.patch(&path, &admin, Some("\"1\""), &json!({"role": "owner"}))
        .await
        .assert_problem(403, "forbidden");
    app.patch(&path, &t.token, Some("\"1\""), &json!({"role": "owner"}))
        .await
        .assert_status(200);
}

async fn last_active_owner_cannot_be_demoted_or_deactivated(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let path = format!("/v1/users/{}", t.owner_id);
    app.patch(&path, &t.token, Some("\"1\""), &json!({"role": "admin"}))
        .await
        .assert_problem(409, "last_owner");
    app.send(
        Method::POST,
        &format!("{path}/actions/deactivate"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_problem(409, "last_owner");
    assert_eq!(app.get(&path, &t.token).await.body["role"], "owner");
    // With a second owner, the first may step down.
    let second = app
        .post(
            "/v1/users",
            Some(&t.token),
            &json!({"email": "o2@x.example", "name": "O2", "role": "owner", "password": PASSWORD}),
        )
        .await;
    second.assert_status(201);
    app.patch(&path, &t.token, Some("\"1\""), &json!({"role": "admin"}))
        .await
        .assert_status(200);
}

async fn deactivated_users_cannot_sign_in_and_lose_their_sessions(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (id, tech) = app.user_with_role(&t, "technician").await;
    let path = format!("/v1/users/{id}");
    let email = app.get(&path, &t.token).await.body["email"]
        .as_str()
        .expect("email")
        .to_owned();
    app.send(
        Method::POST,
        &format!("{path}/actions/deactivate"),
        Some(&t.token),
        None,
        &[("if-match", "\"7\"")],
    )
    .await
    .assert_problem(412, "precondition_failed");
    let resp = app
        .send(
            Method::POST,
            &format!("{path}/actions/deactivate"),
            Some(&t.token),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body["active"], false);
    app.get("/v1/me", &tech)
        .await
        .assert_problem(401, "invalid_token");
    app.sign_in(&t.slug, &email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let inactive = app.get("/v1/users?active=false", &t.token).await;
    assert_eq!(inactive.body["items"][0]["id"], id.as_str());
    app.send(
        Method::POST,
        &format!("{path}/actions/reactivate"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    app.sign_in(&t.slug, &email, PASSWORD)
        .await
        .assert_status(200);
}

async fn users_change_their_own_password_and_other_sessions_end(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let second = app.sign_in(&t.slug, &t.owner_email, PASSWORD).await;
    let second_token = second.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = format!("/v1/users/{}", t.owner_id);
    app.patch(
        &path,
        &t.token,
        Some("\"1\""),
        &json!({"password": "short"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // The current password is required, and must be right.
    app.patch(
        &path,
        &t.token,
        Some("\"1\""),
        &json!({"password": "a-brand-new-password"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let wrong = app
        .patch(
            &path,
            &t.token,
            Some("\"1\""),
            &json!({"password": "a-brand-new-password", "current_password": "not-my-password"}),
        )
        .await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(wrong.body["errors"][0]["pointer"], "/current_password");
    app.patch(
        &path,
        &t.token,
        Some("\"1\""),
        &json!({"password": "a-brand-new-password", "current_password": PASSWORD}),
    )
    .await
    .assert_status(200);
    app.get("/v1/me", &t.token).await.assert_status(200);
    app.get("/v1/me", &second_token)
        .await
        .assert_problem(401, "invalid_token");
    app.sign_in(&t.slug, &t.owner_email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.sign_in(&t.slug, &t.owner_email, "a-brand-new-password")
        .await
        .assert_status(200);
}
