//! Who may change staff accounts (every field against every role and API-key scope),
//! password resets and invitations by one-time link, billing permissions, and 403 answers
//! that name the missing permission or scope, checked over every operation of the OpenAPI
//! document.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Ctx, PASSWORD, Resp, Tenant, TestApp, fill_path, test_keys};
use crate::tests;

tests!(
    account_changes_follow_the_rules_for_every_role_scope_and_field,
    account_creation_follows_the_rules_for_every_role_and_scope,
    a_reset_ends_sessions_and_mails_a_one_time_link_to_the_user_only,
    forgotten_passwords_get_a_link_without_revealing_accounts,
    new_users_without_a_password_get_an_invitation,
    billing_needs_billing_permissions_and_scopes,
    every_operation_holds_api_keys_to_its_declared_scope,
);

/// Who calls.
#[derive(Debug, Clone)]
enum Caller {
    Person {
        role: &'static str,
        token: String,
        id: String,
    },
    Key {
        scopes: Vec<&'static str>,
        key: String,
    },
}

impl Caller {
    fn token(&self) -> &str {
        match self {
            Caller::Person { token, .. } => token,
            Caller::Key { key, .. } => key,
        }
    }

    fn label(&self) -> String {
        match self {
            Caller::Person { role, .. } => (*role).to_owned(),
            Caller::Key { scopes, .. } => format!("key[{}]", scopes.join(",")),
        }
    }

    fn has_users_write(&self) -> bool {
        match self {
            Caller::Person { role, .. } => matches!(*role, "owner" | "admin"),
            Caller::Key { scopes, .. } => scopes.contains(&"users:write"),
        }
    }

    fn is_owner(&self) -> bool {
        matches!(self, Caller::Person { role: "owner", .. })
    }

    fn is_key(&self) -> bool {
        matches!(self, Caller::Key { .. })
    }
}

/// The rules, written out independently of the server's code: may `caller` change `field`
/// of an account with role `target_role` (`is_self`: the caller's own account)?
fn allowed(caller: &Caller, target_role: &str, is_self: bool, field: &str) -> bool {
    let privileged = |r: &str| r == "owner" || r == "admin";
    let new_role = match field {
        "role_owner" => Some("owner"),
        "role_admin" => Some("admin"),
        "role_dispatcher" => Some("dispatcher"),
        _ => None,
    };
    if field == "password" {
        return is_self;
    }
    if caller.is_key() && (privileged(target_role) || new_role.is_some_and(privileged)) {
        return false;
    }
    let role_changes = new_role.is_some_and(|r| r != target_role);
    if ((target_role == "owner" && !is_self)
        || (role_changes && (new_role == Some("owner") || target_role == "owner")))
        && !caller.is_owner()
    {
        return false;
    }
    let staff_field = matches!(field, "skills" | "home_base") || role_changes;
    if (!is_self || staff_field) && !caller.has_users_write() {
        return false;
    }
    true
}

fn change(field: &str) -> Value {
    match field {
        "name" => json!({"name": "Renamed Person"}),
        "phone" => json!({"phone": "+49 30 999"}),
        "skills" => json!({"skills": ["glazing"]}),
        "home_base" => json!({"home_base": {"postal_code": "10115"}}),
        "role_owner" => json!({"role": "owner"}),
        "role_admin" => json!({"role": "admin"}),
        "role_dispatcher" => json!({"role": "dispatcher"}),
        "password" => json!({"password": "another-long-password", "current_password": PASSWORD}),
        other => panic!("unknown field {other}"),
    }
}

const FIELDS: [&str; 8] = [
    "name",
    "phone",
    "skills",
    "home_base",
    "role_owner",
    "role_admin",
    "role_dispatcher",
    "password",
];

async fn callers(app: &TestApp, t: &Tenant) -> Vec<Caller> {
    let mut callers = vec![Caller::Person {
        role: "owner",
        token: t.token.clone(),
        id: t.owner_id.clone(),
    }];
    for role in [
        "admin",
        "dispatcher",
        "technician",
        "reviewer",
        "accountant",
    ] {
        let (id, token) = app.user_with_role(t, role).await;
        callers.push(Caller::Person { role, token, id });
    }
    for scopes in [
        vec!["users:write"],
        vec!["users:read"],
        vec![
            "users:write",
            "processes:write",
            "customers:write",
            "work_orders:write",
            "billing:write",
        ],
    ] {
        let key = app.api_key(t, &scopes).await;
        callers.push(Caller::Key { scopes, key });
    }
    callers
}

async fn current(app: &TestApp, admin: &str, id: &str) -> Value {
    let resp = app.get(&format!("/v1/users/{id}"), admin).await;
    resp.assert_status(200);
    resp.body
}

/// Puts the target back as it was (as an owner nobody else changes), after an allowed
/// change.
async fn restore(app: &TestApp, restorer: &str, id: &str, role: &str) {
    let now = app.get(&format!("/v1/users/{id}"), restorer).await;
    if now.body["role"] != role {
        app.patch(
            &format!("/v1/users/{id}"),
            restorer,
            Some(&now.etag()),
            &json!({"role": role}),
        )
        .await
        .assert_status(200);
    }
}

async fn account_changes_follow_the_rules_for_every_role_scope_and_field(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let callers = callers(&app, &t).await;
    let (_, restorer) = app.user_with_role(&t, "owner").await;
    let restorer = restorer.as_str();
    let mut targets: Vec<(&str, String)> = Vec::new();
    for role in ["owner", "admin", "technician"] {
        let (id, _) = app.user_with_role(&t, role).await;
        targets.push((role, id));
    }
    let mut checked = 0;
    for caller in &callers {
        // Each caller against the others' accounts, and (people) against their own.
        let mut cases: Vec<(String, String, bool)> = targets
            .iter()
            .map(|(role, id)| ((*role).to_owned(), id.clone(), false))
            .collect();
        if let Caller::Person { role, id, .. } = caller {
            cases.push(((*role).to_owned(), id.clone(), true));
        }
        for (target_role, target_id, is_self) in &cases {
            for field in FIELDS {
                let before = current(&app, restorer, target_id).await;
                let etag = format!("\"{}\"", before["version"]);
                let resp = app
                    .patch(
                        &format!("/v1/users/{target_id}"),
                        caller.token(),
                        Some(&etag),
                        &change(field),
                    )
                    .await;
                let expect = allowed(caller, target_role, *is_self, field);
                let what = format!(
                    "{} changing {field} of {}{target_role}",
                    caller.label(),
                    if *is_self { "own " } else { "an " }
                );
                if expect {
                    assert_eq!(resp.status, 200, "{what}: {}", resp.text);
                } else {
                    resp.assert_problem(403, "forbidden");
                    let after = current(&app, restorer, target_id).await;
                    assert_eq!(after, before, "{what}: a refused change changed something");
                }
                checked += 1;
                if expect && field == "password" {
                    // Put the password back for the next rounds (own password only).
                    app.patch(
                        &format!("/v1/users/{target_id}"),
                        caller.token(),
                        Some(&resp.etag()),
                        &json!({"password": PASSWORD, "current_password": "another-long-password"}),
                    )
                    .await
                    .assert_status(200);
                }
                if expect && field.starts_with("role_") {
                    restore(&app, restorer, target_id, target_role).await;
                }
            }
            // Deactivation and a reset link count as staff changes (never on oneself here:
            // a reset ends one's own sessions).
            if !is_self {
                let expect = allowed(caller, target_role, false, "skills");
                let before = current(&app, restorer, target_id).await;
                let reset = app
                    .post(
                        &format!("/v1/users/{target_id}/password-reset"),
                        Some(caller.token()),
                        &json!({}),
                    )
                    .await;
                let deactivate = app
                    .send(
                        Method::POST,
                        &format!("/v1/users/{target_id}/actions/deactivate"),
                        Some(caller.token()),
                        None,
                        &[],
                    )
                    .await;
                if expect {
                    reset.assert_status(202);
                    deactivate.assert_status(200);
                    app.send(
                        Method::POST,
                        &format!("/v1/users/{target_id}/actions/reactivate"),
                        Some(restorer),
                        None,
                        &[],
                    )
                    .await
                    .assert_status(200);
                } else {
                    reset.assert_problem(403, "forbidden");
                    deactivate.assert_problem(403, "forbidden");
                    assert_eq!(
                        current(&app, restorer, target_id).await["active"],
                        before["active"]
                    );
                }
                checked += 2;
            }
        }
    }
    assert!(checked > 250, "the matrix ran ({checked} checks)");
}

async fn account_creation_follows_the_rules_for_every_role_and_scope(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let callers = callers(&app, &t).await;
    for caller in &callers {
        for role in [
            "owner",
            "admin",
            "dispatcher",
            "technician",
            "reviewer",
            "accountant",
        ] {
            let email = format!(
                "new-{}@x.example",
                &Uuid::now_v7().simple().to_string()[20..]
            );
            let resp = app
                .post(
                    "/v1/users",
                    Some(caller.token()),
                    &json!({"email": email, "name": "New Person", "role": role, "password": PASSWORD}),
                )
                .await;
            let expect = caller.has_users_write()
                && (role != "owner" || caller.is_owner())
                && !(caller.is_key() && matches!(role, "owner" | "admin"));
            if expect {
                assert_eq!(
                    resp.status,
                    201,
                    "{} creating an {role}: {}",
                    caller.label(),
                    resp.text
                );
            } else {
                resp.assert_problem(403, "forbidden");
                assert!(
                    !app.get("/v1/users?limit=200", &t.token)
                        .await
                        .text
                        .contains(&email),
                    "{} creating an {role}: refused but created",
                    caller.label()
                );
            }
        }
    }
}

/// The newest e-mail of a kind to an address, opened with the test key (bodies are sealed).
async fn mail_body(app: &TestApp, kind: &str, to: &str) -> Option<String> {
    let body: Option<String> = sqlx::query_scalar(
        "SELECT body FROM emails WHERE kind = $1 AND to_address = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(kind)
    .bind(to)
    .fetch_optional(app.db.pool())
    .await
    .expect("query");
    body.map(|b| test_keys().open("email_body", &b).expect("opens"))
}

fn link_token(body: &str) -> String {
    let start = body.find("/set-password/").expect("a link in the e-mail") + "/set-password/".len();
    body[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_owned()
}

/// Posts the set-password form of the server's own page.
async fn post_form(app: &TestApp, token: &str, password: &str, repeat: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/set-password/{token}")))
        .form(&[("password", password), ("password_repeat", repeat)])
        .send()
        .await
        .expect("post")
}

async fn email_of(app: &TestApp, t: &Tenant, id: &str) -> String {
    current(app, &t.token, id).await["email"]
        .as_str()
        .expect("email")
        .to_owned()
}

async fn a_reset_ends_sessions_and_mails_a_one_time_link_to_the_user_only(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (_, admin) = app.user_with_role(&t, "admin").await;
    let (tech_id, tech) = app.user_with_role(&t, "technician").await;
    let email = email_of(&app, &t, &tech_id).await;
    // Nobody sets another user's password, not even an owner.
    app.patch(
        &format!("/v1/users/{tech_id}"),
        &t.token,
        Some("\"1\""),
        &json!({"password": "an-owner-chosen-password", "current_password": PASSWORD}),
    )
    .await
    .assert_problem(403, "forbidden");
    let reset = app
        .post(
            &format!("/v1/users/{tech_id}/password-reset"),
            Some(&admin),
            &json!({}),
        )
        .await;
    reset.assert_status(202);
    assert!(
        reset.text.is_empty() || !reset.text.contains("pw_"),
        "no link in the answer"
    );
    // The technician's sessions ended at once.
    app.get("/v1/me", &tech)
        .await
        .assert_problem(401, "invalid_token");
    let body = mail_body(&app, "password_reset", &email)
        .await
        .expect("reset mail");
    let token = link_token(&body);
    assert!(body.contains(&format!("http://127.0.0.1:8080/set-password/{token}")));
    // The page works without JavaScript: a form that posts back to itself.
    let page = app
        .client
        .get(app.url(&format!("/set-password/{token}")))
        .header("accept-language", "en")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("<form method=\"post\">") && html.contains("<label for=\"password\">"));
    let differ = post_form(&app, &token, "the-new-password-1", "something-else-1").await;
    assert_eq!(differ.status(), 422);
    let done = post_form(&app, &token, "the-new-password-1", "the-new-password-1").await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"].to_str().expect("location"),
        format!("/set-password/{token}?done")
    );
    app.sign_in(&t.slug, &email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.sign_in(&t.slug, &email, "the-new-password-1")
        .await
        .assert_status(200);
    // One time only, by form and by API.
    let again = post_form(&app, &token, "a-third-password-1", "a-third-password-1").await;
    assert_eq!(again.status(), 410);
    app.post(
        "/v1/auth/set-password",
        None,
        &json!({"token": token, "password": "a-third-password-1"}),
    )
    .await
    .assert_problem(422, "invalid_password_link");
    // Only the owner resets an owner; a key never resets an admin.
    let (owner2, _) = app.user_with_role(&t, "owner").await;
    app.post(
        &format!("/v1/users/{owner2}/password-reset"),
        Some(&admin),
        &json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let key = app.api_key(&t, &["users:write"]).await;
    let (admin2, _) = app.user_with_role(&t, "admin").await;
    app.post(
        &format!("/v1/users/{admin2}/password-reset"),
        Some(&key),
        &json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Links expire.
    let reset = app
        .post(
            &format!("/v1/users/{tech_id}/password-reset"),
            Some(&admin),
            &json!({}),
        )
        .await;
    reset.assert_status(202);
    let token = link_token(
        &mail_body(&app, "password_reset", &email)
            .await
            .expect("mail"),
    );
    sqlx::query("UPDATE password_resets SET expires_at = '2000-01-01T00:00:00.000000Z'")
        .execute(app.db.pool())
        .await
        .expect("expire");
    app.post(
        "/v1/auth/set-password",
        None,
        &json!({"token": token, "password": "a-fourth-password-1"}),
    )
    .await
    .assert_problem(422, "invalid_password_link");
}

async fn forgotten_passwords_get_a_link_without_revealing_accounts(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (tech_id, tech) = app.user_with_role(&t, "technician").await;
    let email = email_of(&app, &t, &tech_id).await;
    let unknown = app
        .post(
            "/v1/auth/password-reset",
            None,
            &json!({"tenant": t.slug, "email": "nobody@x.example"}),
        )
        .await;
    unknown.assert_status(202);
    let known = app
        .post(
            "/v1/auth/password-reset",
            None,
            &json!({"tenant": t.slug, "email": email}),
        )
        .await;
    known.assert_status(202);
    assert_eq!(unknown.text, known.text, "the same answer either way");
    app.get("/v1/me", &tech)
        .await
        .assert_problem(401, "invalid_token");
    // A second request right away sends no second e-mail.
    app.post(
        "/v1/auth/password-reset",
        None,
        &json!({"tenant": t.slug, "email": email}),
    )
    .await
    .assert_status(202);
    let mails: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails WHERE kind = 'password_reset' AND to_address = $1",
    )
    .bind(&email)
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(mails, 1);
    let token = link_token(
        &mail_body(&app, "password_reset", &email)
            .await
            .expect("mail"),
    );
    app.post(
        "/v1/auth/set-password",
        None,
        &json!({"token": token, "password": "short"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/auth/set-password",
        None,
        &json!({"token": token, "password": "my-own-new-password"}),
    )
    .await
    .assert_status(204);
    app.sign_in(&t.slug, &email, "my-own-new-password")
        .await
        .assert_status(200);
}

async fn new_users_without_a_password_get_an_invitation(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let created = app
        .post(
            "/v1/users",
            Some(&t.token),
            &json!({"email": "invited@x.example", "name": "Ina Invited", "role": "dispatcher"}),
        )
        .await;
    created.assert_status(201);
    // No password yet: signing in fails like a wrong password.
    app.sign_in(&t.slug, "invited@x.example", "")
        .await
        .assert_problem(401, "invalid_credentials");
    app.sign_in(&t.slug, "invited@x.example", "!no-password")
        .await
        .assert_problem(401, "invalid_credentials");
    let body = mail_body(&app, "invitation", "invited@x.example")
        .await
        .expect("invitation");
    assert!(body.contains("Ina Invited") && body.contains("invited@x.example"));
    let token = link_token(&body);
    app.post(
        "/v1/auth/set-password",
        None,
        &json!({"token": token, "password": "ina-chose-this-one"}),
    )
    .await
    .assert_status(204);
    app.sign_in(&t.slug, "invited@x.example", "ina-chose-this-one")
        .await
        .assert_status(200);
}

async fn billing_needs_billing_permissions_and_scopes(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (_, dispatcher) = app.user_with_role(&t, "dispatcher").await;
    let (_, accountant) = app.user_with_role(&t, "accountant").await;
    let invoice = Uuid::now_v7();
    let payment = json!({"amount": "10.00", "paid_on": "2026-01-02"});
    let denied = app
        .post(
            &format!("/v1/invoices/{invoice}/payments"),
            Some(&dispatcher),
            &payment,
        )
        .await;
    denied.assert_problem(403, "forbidden");
    assert_eq!(denied.body["required_permission"], "billing:write");
    assert!(denied.body.get("required_scope").is_none());
    assert!(
        denied.body["detail"]
            .as_str()
            .expect("detail")
            .contains("accountant")
    );
    let list = app.get("/v1/invoices", &dispatcher).await;
    list.assert_problem(403, "forbidden");
    assert_eq!(list.body["required_permission"], "billing:read");
    app.get("/v1/invoices", &accountant)
        .await
        .assert_status(200);
    app.post(
        &format!("/v1/invoices/{invoice}/payments"),
        Some(&accountant),
        &payment,
    )
    .await
    .assert_problem(404, "not_found");
    // Work-order keys no longer reach billing.
    let orders = app.api_key(&t, &["work_orders:write"]).await;
    let list = app.get("/v1/invoices", &orders).await;
    list.assert_problem(403, "forbidden");
    assert_eq!(list.body["required_scope"], "billing:read");
    let pay = app
        .post(
            &format!("/v1/invoices/{invoice}/payments"),
            Some(&orders),
            &payment,
        )
        .await;
    pay.assert_problem(403, "forbidden");
    assert_eq!(pay.body["required_scope"], "billing:write");
    let reader = app.api_key(&t, &["billing:read"]).await;
    app.get("/v1/invoices", &reader).await.assert_status(200);
    let pay = app
        .post(
            &format!("/v1/invoices/{invoice}/payments"),
            Some(&reader),
            &payment,
        )
        .await;
    pay.assert_problem(403, "forbidden");
    assert_eq!(pay.body["required_scope"], "billing:write");
    let writer = app.api_key(&t, &["billing:write"]).await;
    app.post(
        &format!("/v1/invoices/{invoice}/payments"),
        Some(&writer),
        &payment,
    )
    .await
    .assert_problem(404, "not_found");
    // The e-mails of another tenant's (or no) order: 404, never an empty list.
    let other = app.sign_up().await;
    let (customer, _) = app.customer(&other.token, "Kunde").await;
    let process = app
        .published_process(
            &other.token,
            "P",
            json!([crate::support::step("a", "owner")]),
        )
        .await;
    let order = app.order(&other.token, &process, &customer).await;
    order.assert_status(201);
    let order_id = order.body["id"].as_str().expect("id");
    app.get(&format!("/v1/work-orders/{order_id}/emails"), &t.token)
        .await
        .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/work-orders/{}/emails", Uuid::now_v7()),
        &t.token,
    )
    .await
    .assert_problem(404, "not_found");
    app.get(&format!("/v1/work-orders/{order_id}/emails"), &other.token)
        .await
        .assert_status(200);
}

const ALL_SCOPES: [&str; 10] = [
    "users:read",
    "users:write",
    "processes:read",
    "processes:write",
    "customers:read",
    "customers:write",
    "work_orders:read",
    "work_orders:write",
    "billing:read",
    "billing:write",
];

/// Scopes that grant what `scope` grants (a write scope grants its family's read).
fn granting(scope: &str) -> Vec<&'static str> {
    let family = scope.split(':').next().unwrap_or_default();
    ALL_SCOPES
        .into_iter()
        .filter(|s| *s == scope || (scope.ends_with(":read") && *s == format!("{family}:write")))
        .collect()
}

async fn call(app: &TestApp, method: &str, path: &str, key: &str) -> Resp {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
    app.send(
        method,
        path,
        Some(key),
        body.as_ref(),
        &[("if-match", "\"1\"")],
    )
    .await
}

/// A key with exactly these scopes (made once per set).
async fn key_for<'a>(
    app: &TestApp,
    t: &Tenant,
    keys: &mut std::collections::HashMap<Vec<&'a str>, String>,
    scopes: Vec<&'a str>,
) -> String {
    if let Some(k) = keys.get(&scopes) {
        return k.clone();
    }
    let k = app.api_key(t, &scopes).await;
    keys.insert(scopes, k.clone());
    k
}

async fn every_operation_holds_api_keys_to_its_declared_scope(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let document = app.get("/openapi.json", &t.token).await.body;
    let all = app.api_key(&t, &ALL_SCOPES).await;
    let mut keys = std::collections::HashMap::new();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let Some(security) = operation["security"].as_array() else {
                continue; // public
            };
            let declared: Option<Vec<&str>> =
                security.iter().find_map(|r| r.get("api_key")).map(|s| {
                    s.as_array()
                        .expect("scopes")
                        .iter()
                        .filter_map(Value::as_str)
                        .collect()
                });
            let url = fill_path(path, &t.slug);
            let what = format!("{} {path}", method.to_ascii_uppercase());
            match declared {
                None => {
                    // For people only: even a key with every scope is refused.
                    let resp = call(&app, method, &url, &all).await;
                    resp.assert_problem(403, "forbidden");
                    assert!(resp.body.get("required_scope").is_none(), "{what}");
                }
                Some(scopes) if scopes.is_empty() => {
                    let resp = call(&app, method, &url, &all).await;
                    assert_ne!(resp.status, 403, "{what} is open to any key: {}", resp.text);
                    assert!(resp.status < 500, "{what}: {}", resp.text);
                }
                Some(scopes) => {
                    let granting: Vec<&str> = scopes.iter().flat_map(|s| granting(s)).collect();
                    let others: Vec<&str> = ALL_SCOPES
                        .into_iter()
                        .filter(|s| !granting.contains(s))
                        .collect();
                    let key_without = key_for(&app, &t, &mut keys, others).await;
                    let resp = call(&app, method, &url, &key_without).await;
                    resp.assert_problem(403, "forbidden");
                    assert!(
                        scopes.contains(&resp.body["required_scope"].as_str().unwrap_or("?")),
                        "{what}: required_scope {} not among the declared {scopes:?}",
                        resp.body["required_scope"]
                    );
                    let key_with = key_for(&app, &t, &mut keys, scopes.clone()).await;
                    let resp = call(&app, method, &url, &key_with).await;
                    assert!(
                        resp.status != 403 || resp.body.get("required_scope").is_none(),
                        "{what} refuses a key with its declared scopes {scopes:?}: {}",
                        resp.text
                    );
                    assert!(resp.status < 500, "{what}: {}", resp.text);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "walked the document ({checked} operations)");
}
