//! The API contract of CONVENTIONS.md, proven on the first resources (users).

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, PASSWORD};
use crate::tests;

tests!(
    unknown_route_is_a_problem_404,
    wrong_method_is_a_problem_405_with_allow,
    malformed_json_is_400_and_creates_nothing,
    unknown_field_is_422_with_pointer_and_creates_nothing,
    wrong_field_type_points_at_the_nested_field,
    non_json_content_type_is_415,
    body_over_one_mebibyte_is_413_and_creates_nothing,
    bad_limit_or_cursor_is_400,
    pagination_has_no_duplicates_or_gaps_while_rows_are_added,
    patch_without_if_match_is_428_and_changes_nothing,
    patch_with_stale_if_match_is_412_and_changes_nothing,
    patch_with_current_if_match_applies_and_bumps_etag,
    idempotency_key_replays_the_first_response,
    a_keyed_request_that_fails_keeps_nothing_and_a_taken_over_claim_cannot_complete,
    idempotency_key_with_another_body_is_422_and_creates_nothing,
    concurrent_retries_with_one_idempotency_key_execute_once,
    idempotency_keys_are_scoped_per_caller,
    invalid_idempotency_key_is_400,
    failed_request_releases_its_idempotency_key,
    cors_allows_only_configured_origins,
    concurrent_writes_never_fail_with_database_locked,
);

async fn unknown_route_is_a_problem_404(ctx: Ctx) {
    let app = ctx.app().await;
    let resp = app
        .send(Method::GET, "/v1/no-such-thing", None, None, &[])
        .await;
    resp.assert_problem(404, "not_found");
    // A malformed id names nothing either.
    let t = app.sign_up().await;
    app.get("/v1/users/not-a-uuid", &t.token)
        .await
        .assert_problem(404, "not_found");
}

async fn wrong_method_is_a_problem_405_with_allow(ctx: Ctx) {
    let app = ctx.app().await;
    let resp = app.send(Method::PUT, "/v1/users", None, None, &[]).await;
    resp.assert_problem(405, "method_not_allowed");
    let allow = resp.header("allow").expect("Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

async fn malformed_json_is_400_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let before = app.count_users(&t.token).await;
    let resp = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.example", "name": "#)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "malformed_json");
    assert_eq!(app.count_users(&t.token).await, before);
}

async fn unknown_field_is_422_with_pointer_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let before = app.count_users(&t.token).await;
    let resp = app
        .post(
            "/v1/users",
            Some(&t.token),
            &json!({"email": "new@x.example", "name": "New", "role": "technician", "password": PASSWORD, "rol": "owner"}),
        )
        .await;
    resp.assert_problem(422, "validation_failed");
    let detail = resp.body["errors"][0]["detail"].as_str().expect("detail");
    assert!(detail.contains("unknown field `rol`"), "{detail}");
    assert_eq!(resp.body["errors"][0]["pointer"], "/rol");
    assert_eq!(app.count_users(&t.token).await, before);
}

async fn wrong_field_type_points_at_the_nested_field(ctx: Ctx) {
    let app = ctx.app().await;
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": "X GmbH", "slug": "x-gmbh", "owner": {"name": "X", "email": 5, "password": PASSWORD}}))
        .await;
    resp.assert_problem(422, "validation_failed");
    assert_eq!(resp.body["errors"][0]["pointer"], "/owner/email");
    // Semantic validation reports every bad field at once.
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": " ", "slug": "Bad Slug", "time_zone": "Mars/Base", "owner": {"name": "X", "email": "nope", "password": "short"}}))
        .await;
    resp.assert_problem(422, "validation_failed");
    let mut pointers: Vec<String> = resp.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().expect("pointer").to_owned())
        .collect();
    pointers.sort();
    assert_eq!(
        pointers,
        [
            "/company_name",
            "/owner/email",
            "/owner/password",
            "/slug",
            "/time_zone"
        ]
    );
}

async fn non_json_content_type_is_415(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let resp = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(&t.token)
        .header("content-type", "text/plain")
        .body("email=a@b.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 415);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

async fn body_over_one_mebibyte_is_413_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let before = app.count_users(&t.token).await;
    let huge = "x".repeat(1024 * 1024 + 1);
    let body =
        json!({"email": "big@x.example", "name": huge, "role": "technician", "password": PASSWORD});
    let resp = app.post("/v1/users", Some(&t.token), &body).await;
    resp.assert_problem(413, "payload_too_large");
    // Also through the idempotency layer, which reads the body first.
    let resp = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&body),
            &[("idempotency-key", "big-1")],
        )
        .await;
    resp.assert_problem(413, "payload_too_large");
    assert_eq!(app.count_users(&t.token).await, before);
}

async fn bad_limit_or_cursor_is_400(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.get("/v1/users?limit=0", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/users?limit=201", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/users?limit=abc", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/users?cursor=garbage", &t.token)
        .await
        .assert_problem(400, "invalid_cursor");
    app.get("/v1/users?limit=200", &t.token)
        .await
        .assert_status(200);
}

async fn pagination_has_no_duplicates_or_gaps_while_rows_are_added(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let create = |i: usize| {
        let app = app.clone();
        let token = t.token.clone();
        async move {
            app.post("/v1/users", Some(&token), &json!({"email": format!("u{i}@x.example"), "name": format!("User {i}"), "role": "technician", "password": PASSWORD}))
                .await
                .assert_status(201);
        }
    };
    for i in 0..7 {
        create(i).await;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = 7;
    // 11 users in pages of 3: a cursor that never ends fails instead of hanging.
    for page_number in 0.. {
        assert!(page_number < 20, "paging never ended: {seen:?}");
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=3&cursor={c}"),
            None => "/v1/users?limit=3".to_owned(),
        };
        let page = app.get(&path, &t.token).await;
        page.assert_status(200);
        let items = page.body["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_owned()),
        );
        // Another client adds rows while we page.
        if added < 10 {
            create(added).await;
            added += 1;
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    // Everything that existed when paging started (owner + 7) was seen, plus rows added behind.
    assert_eq!(seen.len(), 1 + added, "no gaps: every user appears once");
    assert_eq!(app.count_users(&t.token).await, 1 + added);
}

async fn create_tech(app: &crate::support::TestApp, token: &str) -> crate::support::Resp {
    let resp = app
        .post("/v1/users", Some(token), &json!({"email": "tech@x.example", "name": "Tech", "role": "technician", "password": PASSWORD}))
        .await;
    resp.assert_status(201);
    resp
}

async fn patch_without_if_match_is_428_and_changes_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let user = create_tech(&app, &t.token).await;
    let path = format!("/v1/users/{}", user.body["id"].as_str().expect("id"));
    app.patch(&path, &t.token, None, &json!({"name": "Renamed"}))
        .await
        .assert_problem(428, "precondition_required");
    let after = app.get(&path, &t.token).await;
    assert_eq!(after.body["name"], "Tech");
    assert_eq!(after.body["version"], 1);
}

async fn patch_with_stale_if_match_is_412_and_changes_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let user = create_tech(&app, &t.token).await;
    let path = format!("/v1/users/{}", user.body["id"].as_str().expect("id"));
    let etag = user.etag();
    app.patch(&path, &t.token, Some(&etag), &json!({"name": "First"}))
        .await
        .assert_status(200);
    // A second writer still holding the old ETag loses instead of overwriting.
    app.patch(&path, &t.token, Some(&etag), &json!({"name": "Second"}))
        .await
        .assert_problem(412, "precondition_failed");
    app.patch(
        &path,
        &t.token,
        Some("\"not-a-version\""),
        &json!({"name": "Third"}),
    )
    .await
    .assert_problem(412, "precondition_failed");
    let after = app.get(&path, &t.token).await;
    assert_eq!(after.body["name"], "First");
    assert_eq!(after.etag(), "\"2\"");
}

async fn patch_with_current_if_match_applies_and_bumps_etag(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let user = create_tech(&app, &t.token).await;
    assert_eq!(user.etag(), "\"1\"");
    let location = user.header("location").expect("Location");
    let resp = app
        .patch(&location, &t.token, Some("\"1\""), &json!({"name": "Tina", "skills": ["Glazing", "glazing", "repair"], "phone": "+49 30 123", "home_base": {"postal_code": "10115", "latitude": 52.53, "longitude": 13.38}}))
        .await;
    resp.assert_status(200);
    assert_eq!(resp.etag(), "\"2\"");
    assert_eq!(resp.body["skills"], json!(["glazing", "repair"]));
    assert_eq!(resp.body["home_base"]["postal_code"], "10115");
    // null clears, absent keeps.
    let resp = app
        .patch(&location, &t.token, Some("\"2\""), &json!({"phone": null}))
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body["phone"], serde_json::Value::Null);
    assert_eq!(resp.body["name"], "Tina");
    // Invalid values are rejected and change nothing.
    app.patch(
        &location,
        &t.token,
        Some("\"3\""),
        &json!({"home_base": {"postal_code": "10115", "latitude": 99.0, "longitude": 1.0}}),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(app.get(&location, &t.token).await.etag(), "\"3\"");
}

fn new_user_body(email: &str) -> serde_json::Value {
    json!({"email": email, "name": "Idem Potent", "role": "technician", "password": PASSWORD})
}

async fn idempotency_key_replays_the_first_response(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let body = new_user_body("idem@x.example");
    let first = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&body),
            &[("idempotency-key", "key-1")],
        )
        .await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&body),
            &[("idempotency-key", "key-1")],
        )
        .await;
    second.assert_status(201);
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(app.count_users(&t.token).await, 2);
}

async fn idempotency_key_with_another_body_is_422_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.send(
        Method::POST,
        "/v1/users",
        Some(&t.token),
        Some(&new_user_body("a@x.example")),
        &[("idempotency-key", "k")],
    )
    .await
    .assert_status(201);
    app.send(
        Method::POST,
        "/v1/users",
        Some(&t.token),
        Some(&new_user_body("b@x.example")),
        &[("idempotency-key", "k")],
    )
    .await
    .assert_problem(422, "idempotency_key_reused");
    assert_eq!(app.count_users(&t.token).await, 2);
}

async fn concurrent_retries_with_one_idempotency_key_execute_once(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let body = new_user_body("race@x.example");
    let attempts = (0..8).map(|_| {
        app.send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&body),
            &[("idempotency-key", "race-key")],
        )
    });
    let results = join_all(attempts).await;
    let executed = results
        .iter()
        .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(executed, 1, "exactly one request executes");
    for r in &results {
        assert!(
            r.status == 201 || r.status == 409,
            "unexpected {}: {}",
            r.status,
            r.text
        );
        if r.status == 409 {
            r.assert_problem(409, "idempotency_key_in_flight");
        }
    }
    assert_eq!(
        app.count_users(&t.token).await,
        2,
        "the user was created once"
    );
}

async fn idempotency_keys_are_scoped_per_caller(ctx: Ctx) {
    let app = ctx.app().await;
    let a = app.sign_up().await;
    let b = app.sign_up().await;
    let body = new_user_body("same@x.example");
    let ra = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&a.token),
            Some(&body),
            &[("idempotency-key", "shared")],
        )
        .await;
    let rb = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&b.token),
            Some(&body),
            &[("idempotency-key", "shared")],
        )
        .await;
    ra.assert_status(201);
    rb.assert_status(201);
    assert_eq!(
        rb.header("idempotent-replayed"),
        None,
        "another tenant's key never replays"
    );
    assert_ne!(ra.body["id"], rb.body["id"]);
}

async fn invalid_idempotency_key_is_400(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let long = "k".repeat(256);
    for key in [long.as_str(), "has space"] {
        app.send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&new_user_body("k@x.example")),
            &[("idempotency-key", key)],
        )
        .await
        .assert_problem(400, "invalid_idempotency_key");
    }
    assert_eq!(app.count_users(&t.token).await, 1);
}

async fn failed_request_releases_its_idempotency_key(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let bad =
        json!({"email": "fix@x.example", "name": "Fix", "role": "technician", "password": "short"});
    app.send(
        Method::POST,
        "/v1/users",
        Some(&t.token),
        Some(&bad),
        &[("idempotency-key", "fix-me")],
    )
    .await
    .assert_problem(422, "validation_failed");
    // The failed attempt changed nothing, so the corrected retry with the same key runs.
    let good = new_user_body("fix@x.example");
    let resp = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&t.token),
            Some(&good),
            &[("idempotency-key", "fix-me")],
        )
        .await;
    resp.assert_status(201);
    assert_eq!(resp.header("idempotent-replayed"), None);
}

async fn cors_allows_only_configured_origins(ctx: Ctx) {
    let app = ctx
        .app_with(|s| s.cors_origins = vec!["https://www.fenster-mueller.example".to_owned()])
        .await;
    let preflight = |origin: &'static str| {
        let app = app.clone();
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, idempotency-key, content-type",
                ),
            ];
            app.send(Method::OPTIONS, "/v1/users", None, None, &headers)
                .await
        }
    };
    let allowed = preflight("https://www.fenster-mueller.example").await;
    allowed.assert_status(200);
    assert_eq!(
        allowed.header("access-control-allow-origin").as_deref(),
        Some("https://www.fenster-mueller.example")
    );
    let allow_headers = allowed
        .header("access-control-allow-headers")
        .expect("allow headers")
        .to_lowercase();
    assert!(allow_headers.contains("idempotency-key"), "{allow_headers}");
    let refused = preflight("https://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert!(
        refused.status >= 400,
        "preflight from an unknown origin is refused"
    );
    refused.assert_problem(
        refused.status,
        refused.body["code"].as_str().unwrap_or("missing"),
    );
    // Simple requests from the allowed origin expose our headers.
    let get = app
        .send(
            Method::GET,
            "/livez",
            None,
            None,
            &[("origin", "https://www.fenster-mueller.example")],
        )
        .await;
    let exposed = get
        .header("access-control-expose-headers")
        .expect("exposed")
        .to_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("x-request-id"),
        "{exposed}"
    );
}

async fn concurrent_writes_never_fail_with_database_locked(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let creates = (0..24).map(|i| {
        let body = json!({"email": format!("c{i}@x.example"), "name": format!("C {i}"), "role": "technician", "password": PASSWORD});
        let app = app.clone();
        let token = t.token.clone();
        async move { app.post("/v1/users", Some(&token), &body).await }
    });
    let results = join_all(creates).await;
    for r in &results {
        r.assert_status(201);
    }
    assert_eq!(app.count_users(&t.token).await, 25);
}

/// A keyed request's work and its stored reply are one commit: a request that fails after
/// its handler committed keeps nothing, and a request whose claim was taken over (its lease
/// ran out) cannot store its reply, so its work rolls back.
async fn a_keyed_request_that_fails_keeps_nothing_and_a_taken_over_claim_cannot_complete(ctx: Ctx) {
    use workorders_persistence::idempotency::{self, Claim, KeyPolicy, StoredResponse};
    let app = ctx.app().await;
    let now = workorders_persistence::now();
    let policy = KeyPolicy::default();
    let Claim::Started { locked_at: first } = idempotency::claim(
        &app.db,
        "scope",
        "key",
        "hash",
        now - chrono::Duration::minutes(10),
        policy,
    )
    .await
    .expect("claim") else {
        panic!("a new key is claimed");
    };
    // Its server died; after the lease a retry takes the key over.
    let Claim::Started { locked_at: second } =
        idempotency::claim(&app.db, "scope", "key", "hash", now, policy)
            .await
            .expect("claim")
    else {
        panic!("an abandoned claim is taken over");
    };
    assert_ne!(first, second);
    let reply = StoredResponse {
        status: 201,
        body: "{}".to_owned(),
        headers: Vec::new(),
    };
    // The old request, still running somewhere, cannot complete: its work would roll back.
    let mut tx = app.db.begin_write().await.expect("tx");
    assert!(
        !idempotency::complete_in(&mut tx, "scope", "key", &first, &reply)
            .await
            .expect("complete")
    );
    drop(tx);
    let mut tx = app.db.begin_write().await.expect("tx");
    assert!(
        idempotency::complete_in(&mut tx, "scope", "key", &second, &reply)
            .await
            .expect("complete")
    );
    tx.commit_now().await.expect("commit");
    assert!(matches!(
        idempotency::claim(&app.db, "scope", "key", "hash", now, policy).await,
        Ok(Claim::Replay(r)) if r.status == 201
    ));
    // Through HTTP: a keyed creation that fails (422) keeps nothing and frees its key.
    let t = app.sign_up().await;
    let bad =
        json!({"email": "k@x.example", "name": "K", "role": "technician", "password": "short"});
    let headers = [("idempotency-key", "create-k")];
    app.send(
        Method::POST,
        "/v1/users",
        Some(&t.token),
        Some(&bad),
        &headers,
    )
    .await
    .assert_problem(422, "validation_failed");
    let good =
        json!({"email": "k@x.example", "name": "K", "role": "technician", "password": PASSWORD});
    app.send(
        Method::POST,
        "/v1/users",
        Some(&t.token),
        Some(&good),
        &headers,
    )
    .await
    .assert_status(201);
    assert_eq!(app.count_users(&t.token).await, 2);
}
