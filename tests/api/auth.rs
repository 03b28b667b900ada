//! Sign-up, sign-in, refresh-token rotation, sign-out, throttling, bad tokens.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::support::{Ctx, PASSWORD};
use crate::tests;

tests!(
    signup_creates_a_tenant_whose_owner_can_sign_in,
    signup_with_a_taken_slug_is_409_and_creates_nothing,
    signup_can_be_disabled,
    wrong_password_and_unknown_user_get_the_same_401,
    repeated_failed_sign_ins_are_throttled_with_retry_after,
    refresh_rotates_and_the_new_pair_works,
    reused_refresh_token_revokes_the_whole_session,
    a_retried_refresh_within_the_grace_period_gets_the_same_pair,
    concurrent_reuse_of_one_refresh_token_never_yields_two_live_sessions,
    logout_ends_access_and_refresh_tokens,
    missing_tampered_or_foreign_tokens_are_401,
);

async fn signup_creates_a_tenant_whose_owner_can_sign_in(ctx: Ctx) {
    let app = ctx.app().await;
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": "Glas & Rahmen KG", "slug": "glas-rahmen", "time_zone": "Europe/Vienna", "owner": {"name": "Gerda", "email": "Gerda@Glas.example", "password": PASSWORD}}))
        .await;
    resp.assert_status(201);
    assert_eq!(resp.header("location").as_deref(), Some("/v1/tenant"));
    assert_eq!(resp.body["tenant"]["slug"], "glas-rahmen");
    assert_eq!(resp.body["tenant"]["time_zone"], "Europe/Vienna");
    assert_eq!(resp.body["owner"]["role"], "owner");
    assert_eq!(
        resp.body["owner"]["email"], "gerda@glas.example",
        "e-mail addresses are normalised"
    );
    let tokens = app
        .sign_in("glas-rahmen", "GERDA@glas.example", PASSWORD)
        .await;
    tokens.assert_status(200);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 900);
    let token = tokens.body["access_token"].as_str().expect("token");
    let me = app.get("/v1/me", token).await;
    me.assert_status(200);
    assert_eq!(me.body["email"], "gerda@glas.example");
    let tenant = app.get("/v1/tenant", token).await;
    assert_eq!(tenant.body["name"], "Glas & Rahmen KG");
    // Default time zone.
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": "B", "slug": "b-default", "owner": {"name": "B", "email": "b@b.example", "password": PASSWORD}}))
        .await;
    assert_eq!(resp.body["tenant"]["time_zone"], "Europe/Berlin");
}

async fn signup_with_a_taken_slug_is_409_and_creates_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": "Copy", "slug": t.slug, "owner": {"name": "C", "email": "c@copy.example", "password": PASSWORD}}))
        .await;
    resp.assert_problem(409, "slug_taken");
    // The would-be owner does not exist.
    app.sign_in(&t.slug, "c@copy.example", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn signup_can_be_disabled(ctx: Ctx) {
    let app = ctx.app_with(|s| s.signup_enabled = false).await;
    let resp = app
        .post("/v1/signup", None, &json!({"company_name": "X", "slug": "x-co", "owner": {"name": "X", "email": "x@x.example", "password": PASSWORD}}))
        .await;
    resp.assert_problem(403, "signup_disabled");
}

async fn wrong_password_and_unknown_user_get_the_same_401(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let wrong_password = app
        .sign_in(&t.slug, &t.owner_email, "wrong-password-123")
        .await;
    let unknown_user = app.sign_in(&t.slug, "nobody@x.example", PASSWORD).await;
    let unknown_tenant = app
        .sign_in("no-such-tenant", &t.owner_email, PASSWORD)
        .await;
    for resp in [&wrong_password, &unknown_user, &unknown_tenant] {
        resp.assert_problem(401, "invalid_credentials");
        assert!(resp.header("www-authenticate").is_some());
    }
    assert_eq!(wrong_password.body["detail"], unknown_user.body["detail"]);
}

async fn repeated_failed_sign_ins_are_throttled_with_retry_after(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    for _ in 0..5 {
        app.sign_in(&t.slug, &t.owner_email, "wrong-password-123")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let throttled = app.sign_in(&t.slug, &t.owner_email, PASSWORD).await;
    throttled.assert_problem(429, "rate_limited");
    let retry_after: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    // Other accounts are not affected.
    let (_, _) = app.user_with_role(&t, "dispatcher").await;
}

async fn refresh_rotates_and_the_new_pair_works(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let resp = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": t.refresh_token}),
        )
        .await;
    resp.assert_status(200);
    let new_refresh = resp.body["refresh_token"].as_str().expect("refresh");
    assert_ne!(new_refresh, t.refresh_token);
    let access = resp.body["access_token"].as_str().expect("access");
    app.get("/v1/me", access).await.assert_status(200);
    let again = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": new_refresh}),
        )
        .await;
    again.assert_status(200);
    app.post(
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": "rt_unknown"}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    app.post("/v1/auth/refresh", None, &json!({}))
        .await
        .assert_problem(422, "validation_failed");
}

async fn reused_refresh_token_revokes_the_whole_session(ctx: Ctx) {
    // No grace period: any second use is a reuse.
    let app = ctx
        .app_with(|s| s.refresh_grace = std::time::Duration::ZERO)
        .await;
    let t = app.sign_up().await;
    let rotated = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": t.refresh_token}),
        )
        .await;
    rotated.assert_status(200);
    let new_refresh = rotated.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let new_access = rotated.body["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    // The old token comes back: someone holds a copy.
    app.post(
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": t.refresh_token}),
    )
    .await
    .assert_problem(401, "refresh_token_reused");
    // The whole family is dead: the newest refresh token and the access tokens too.
    app.post(
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": new_refresh}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    app.get("/v1/me", &new_access)
        .await
        .assert_problem(401, "invalid_token");
    app.get("/v1/me", &t.token)
        .await
        .assert_problem(401, "invalid_token");
    // Signing in again starts a new session.
    app.sign_in(&t.slug, &t.owner_email, PASSWORD)
        .await
        .assert_status(200);
}

async fn concurrent_reuse_of_one_refresh_token_never_yields_two_live_sessions(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let body = json!({"refresh_token": t.refresh_token});
    let results = join_all((0..6).map(|_| app.post("/v1/auth/refresh", None, &body))).await;
    for r in &results {
        assert!(
            r.status == 200 || r.status == 401,
            "a refresh answers 200 or 401: {}",
            r.text
        );
    }
    let winners: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
    assert!(!winners.is_empty(), "one refresh succeeds");
    // Concurrent retries within the grace period all get the one new pair: one session.
    for w in &winners {
        assert_eq!(w.body["refresh_token"], winners[0].body["refresh_token"]);
    }
    for refused in results.iter().filter(|r| r.status == 401) {
        assert!(
            matches!(
                refused.body["code"].as_str(),
                Some("refresh_token_reused" | "invalid_refresh_token")
            ),
            "a refused refresh says why: {}",
            refused.text
        );
    }
    // Whatever happened, any pair that came out is dead once reuse was detected; otherwise
    // the one pair is a working session.
    let reuse_detected = results
        .iter()
        .any(|r| r.status == 401 && r.body["code"] == "refresh_token_reused");
    let access = winners[0].body["access_token"].as_str().expect("access");
    if reuse_detected {
        app.get("/v1/me", access)
            .await
            .assert_problem(401, "invalid_token");
    } else {
        app.get("/v1/me", access).await.assert_status(200);
    }
}

async fn logout_ends_access_and_refresh_tokens(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let other = app.sign_in(&t.slug, &t.owner_email, PASSWORD).await;
    let other_token = other.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.send(Method::POST, "/v1/auth/logout", Some(&t.token), None, &[])
        .await
        .assert_status(204);
    app.get("/v1/me", &t.token)
        .await
        .assert_problem(401, "invalid_token");
    app.post(
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": t.refresh_token}),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    // Other sessions of the same user go on.
    app.get("/v1/me", &other_token).await.assert_status(200);
}

async fn missing_tampered_or_foreign_tokens_are_401(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    app.send(Method::GET, "/v1/users", None, None, &[])
        .await
        .assert_problem(401, "unauthenticated");
    app.send(
        Method::GET,
        "/v1/users",
        None,
        None,
        &[("authorization", "Basic abc")],
    )
    .await
    .assert_problem(401, "invalid_token");
    let mut tampered = t.token.clone();
    tampered.pop();
    tampered.push(if t.token.ends_with('A') { 'B' } else { 'A' });
    app.get("/v1/users", &tampered)
        .await
        .assert_problem(401, "invalid_token");
    // A token signed by another server's secret.
    let other = ctx
        .app_with(|s| {
            s.jwt_secret = Some(workorders_app::config::Secret::new(
                "another-secret-another-secret-another",
            ))
        })
        .await;
    let foreign = other.sign_up().await;
    app.get("/v1/users", &foreign.token)
        .await
        .assert_problem(401, "invalid_token");
    // alg=none
    let parts: Vec<&str> = t.token.split('.').collect();
    let none_header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"none","typ":"JWT"}"#,
    );
    let unsigned = format!("{none_header}.{}.", parts[1]);
    app.get("/v1/users", &unsigned)
        .await
        .assert_problem(401, "invalid_token");
    // Correctly signed, but not valid before an hour from now (nbf), or without nbf.
    let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&base64::Engine::decode(engine, parts[1]).expect("claims"))
            .expect("json");
    let sign = |claims: &serde_json::Value| {
        use hmac::Mac;
        let payload = base64::Engine::encode(engine, claims.to_string());
        let input = format!("{}.{payload}", parts[0]);
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(b"test-secret-test-secret-test-secret-0123")
                .expect("key");
        mac.update(input.as_bytes());
        let sig = base64::Engine::encode(engine, mac.finalize().into_bytes());
        format!("{input}.{sig}")
    };
    app.get("/v1/users", &sign(&claims))
        .await
        .assert_status(200);
    claims["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let future = app.get("/v1/users", &sign(&claims)).await;
    future.assert_problem(401, "invalid_token");
    assert!(
        future.body["detail"]
            .as_str()
            .expect("detail")
            .contains("not valid yet")
    );
    claims.as_object_mut().expect("object").remove("nbf");
    app.get("/v1/users", &sign(&claims))
        .await
        .assert_problem(401, "invalid_token");
}

async fn a_retried_refresh_within_the_grace_period_gets_the_same_pair(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let body = json!({"refresh_token": t.refresh_token});
    let first = app.post("/v1/auth/refresh", None, &body).await;
    first.assert_status(200);
    // The answer was lost on a bad network; the handheld retries.
    let retry = app.post("/v1/auth/refresh", None, &body).await;
    retry.assert_status(200);
    assert_eq!(retry.body, first.body, "the same pair again");
    let access = first.body["access_token"].as_str().expect("access");
    app.get("/v1/me", access).await.assert_status(200);
    // Once the new refresh token is used, the old one coming back is a reuse: revoked.
    let next = app
        .post(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": first.body["refresh_token"]}),
        )
        .await;
    next.assert_status(200);
    app.post("/v1/auth/refresh", None, &body)
        .await
        .assert_problem(401, "refresh_token_reused");
    let newest = next.body["access_token"].as_str().expect("access");
    app.get("/v1/me", newest)
        .await
        .assert_problem(401, "invalid_token");
    // After the grace period a retry is a reuse too.
    // Sign-in and refresh run on the wall clock (tokens carry real times), so this waits
    // out a short grace period: 400 ms after the answer is always more than 300 ms after
    // the exchange was recorded.
    let app = ctx
        .app_with(|s| s.refresh_grace = std::time::Duration::from_millis(300))
        .await;
    let t = app.sign_up().await;
    let body = json!({"refresh_token": t.refresh_token});
    app.post("/v1/auth/refresh", None, &body)
        .await
        .assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    app.post("/v1/auth/refresh", None, &body)
        .await
        .assert_problem(401, "refresh_token_reused");
}
