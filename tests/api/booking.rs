//! The website booking widget: services, slots, bookings, status view, reschedule, cancel,
//! the race for the last slot, validation, service area, rate limits and CORS.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Ctx, Tenant, TestApp, history_types, set_hours, step};
use crate::tests;

tests!(
    the_widget_books_a_slot_from_slots_to_cancellation,
    racing_for_the_last_slot_has_exactly_one_winner,
    bookings_are_validated_and_respect_the_service_area,
    public_endpoints_are_rate_limited_and_cors_follows_the_tenants_origins,
    overload_on_one_tenant_is_rejected_with_429_and_spares_other_tenants,
    rescheduling_accepts_exactly_what_the_slots_offer,
    an_anonymous_booking_never_attaches_to_an_existing_customer,
);

/// Books the first free slot of `service` for a new customer `email` (201), its answer.
pub async fn book_first(app: &TestApp, t: &Tenant, service: &str, email: &str) -> Value {
    let free = slots(app, &t.slug, service).await;
    let booked = app
        .post(
            &format!("/v1/public/{}/bookings", t.slug),
            None,
            &json!({"service_id": service, "start": free[0]["start"], "customer": customer(email), "consent": true}),
        )
        .await;
    booked.assert_status(201);
    booked.body
}

async fn rescheduling_accepts_exactly_what_the_slots_offer(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    let booked = book_first(&app, &t, &service, "jana@example.com").await;
    let path = booked["status_path"].as_str().expect("path").to_owned();
    let before = app.send(Method::GET, &path, None, None, &[]).await.body;
    let free = slots(&app, &t.slug, &service).await;
    let offered = chrono::DateTime::parse_from_rfc3339(free[3]["start"].as_str().expect("start"))
        .expect("instant")
        .with_timezone(&chrono::Utc);
    let horizon_day = chrono::Utc::now() + chrono::Duration::days(30);
    for start in [
        // Off the 60-minute grid.
        (offered + chrono::Duration::minutes(15)).to_rfc3339(),
        // Past the 14-day horizon, inside working hours.
        format!("{}T10:00:00Z", horizon_day.format("%Y-%m-%d")),
        // Inside the lead time (60 minutes).
        (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339(),
        "2099-06-01T09:00:00Z".to_owned(),
    ] {
        let resp = app
            .post(
                &format!("{path}/reschedule"),
                None,
                &json!({"start": start}),
            )
            .await;
        resp.assert_problem(409, "slot_taken");
        assert!(
            resp.body["alternatives"].as_array().is_some(),
            "{start}: {}",
            resp.text
        );
    }
    app.post(
        &format!("{path}/reschedule"),
        None,
        &json!({"start": "9999-01-01T09:00:00Z"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Nothing moved.
    let unchanged = app.send(Method::GET, &path, None, None, &[]).await.body;
    assert_eq!(unchanged["appointment"], before["appointment"]);
    // An offered start works.
    let moved = app
        .post(
            &format!("{path}/reschedule"),
            None,
            &json!({"start": free[3]["start"]}),
        )
        .await;
    moved.assert_status(200);
    assert_eq!(moved.body["appointment"]["start"], free[3]["start"]);
}

async fn an_anonymous_booking_never_attaches_to_an_existing_customer(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _tech, service) = bookable(&app, "08:00", "18:00").await;
    let existing = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": "Jana Becker", "email": "jana@example.com",
                    "sites": [{"street": "Gartenweg 12", "postal_code": "10247", "city": "Berlin"}]}),
        )
        .await;
    existing.assert_status(201);
    let existing_id = existing.body["id"].as_str().expect("id").to_owned();
    assert_eq!(existing.body["source"], "staff");
    // Someone else types Jana's address into the booking form.
    book_first(&app, &t, &service, "jana@example.com").await;
    let sites = app
        .get(&format!("/v1/customers/{existing_id}/sites"), &t.token)
        .await;
    assert_eq!(
        sites.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        sites.text
    );
    let orders = app
        .get(
            &format!("/v1/work-orders?customer_id={existing_id}"),
            &t.token,
        )
        .await;
    assert_eq!(orders.body["items"], json!([]), "{}", orders.text);
    let contacts = app.get("/v1/customers?source=web_booking", &t.token).await;
    let items = contacts.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_ne!(items[0]["id"], existing_id.as_str());
    assert_eq!(items[0]["source"], "web_booking");
    // A second booking with the same address is a contact of its own too.
    book_first(&app, &t, &service, "jana@example.com").await;
    let contacts = app.get("/v1/customers?source=web_booking", &t.token).await;
    assert_eq!(contacts.body["items"].as_array().map(Vec::len), Some(2));
}

/// A tenant with one technician working `hours` every day and a bookable service.
pub async fn bookable(app: &TestApp, start: &str, end: &str) -> (Tenant, String, String) {
    let t = app.sign_up().await;
    let (tech, _) = app.user_with_role(&t, "technician").await;
    app.patch(
        &format!("/v1/users/{tech}"),
        &t.token,
        Some("\"1\""),
        &json!({"name": "Tim Technik"}),
    )
    .await
    .assert_status(200);
    set_hours(app, &t.token, &tech, start, end, 0).await;
    let process = app
        .published_process(
            &t.token,
            "Fenstertausch",
            json!([
                step("intake", "owner"),
                step("estimate_visit", "technician"),
                step("quote", "owner")
            ]),
        )
        .await;
    let service = app
        .post(
            "/v1/services",
            Some(&t.token),
            &json!({"name": "Kostenvoranschlag vor Ort", "process_id": process, "step_key": "estimate_visit", "duration_minutes": 60,
                    "role": "technician", "lead_time_minutes": 60, "horizon_days": 14, "granularity_minutes": 60,
                    "postal_code_prefixes": ["10", "12"]}),
        )
        .await;
    service.assert_status(201);
    (t, tech, service.body["id"].as_str().expect("id").to_owned())
}

pub fn customer(email: &str) -> Value {
    json!({"name": "Jana Becker", "email": email, "phone": "+49 30 5550707", "street": "Ringstraße 4", "postal_code": "12203", "city": "Berlin"})
}

pub async fn slots(app: &TestApp, slug: &str, service: &str) -> Vec<Value> {
    let resp = app
        .send(
            Method::GET,
            &format!("/v1/public/{slug}/services/{service}/slots?postal_code=12203"),
            None,
            None,
            &[],
        )
        .await;
    resp.assert_status(200);
    assert_eq!(resp.body["time_zone"], "Europe/Berlin");
    resp.body["slots"].as_array().expect("slots").clone()
}

async fn the_widget_books_a_slot_from_slots_to_cancellation(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, tech, service) = bookable(&app, "08:00", "12:00").await;
    let listed = app
        .send(
            Method::GET,
            &format!("/v1/public/{}/services", t.slug),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(listed.body["items"][0]["name"], "Kostenvoranschlag vor Ort");
    assert!(
        listed.body["items"][0].get("process_id").is_none(),
        "internal details stay internal"
    );
    let free = slots(&app, &t.slug, &service).await;
    assert!(free.len() >= 4);
    assert!(
        free[0]["local_start"]
            .as_str()
            .expect("local")
            .contains("+01:00")
            || free[0]["local_start"]
                .as_str()
                .expect("local")
                .contains("+02:00")
    );
    let body = json!({"service_id": service, "start": free[1]["start"], "customer": customer("jana@example.com"), "notes": "Hinterhaus", "consent": true});
    let booked = app
        .send(
            Method::POST,
            &format!("/v1/public/{}/bookings", t.slug),
            None,
            Some(&body),
            &[("idempotency-key", "widget-1")],
        )
        .await;
    booked.assert_status(201);
    let replay = app
        .send(
            Method::POST,
            &format!("/v1/public/{}/bookings", t.slug),
            None,
            Some(&body),
            &[("idempotency-key", "widget-1")],
        )
        .await;
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.body["reference"], booked.body["reference"]);
    assert!(
        booked.body["reference"]
            .as_str()
            .expect("reference")
            .starts_with("B-")
    );
    assert_eq!(booked.body["assigned_to"], "Tim", "first name only");
    assert!(
        !booked.text.contains("@x.example"),
        "no staff e-mail addresses"
    );
    assert_eq!(booked.body["appointment"]["start"], free[1]["start"]);
    let token = booked.body["token"].as_str().expect("token").to_owned();
    let status_path = booked.body["status_path"]
        .as_str()
        .expect("path")
        .to_owned();
    // Staff see a web order with the appointment, the visit planned for the technician.
    let orders = app.get("/v1/work-orders?channel=web", &t.token).await;
    let order = orders.body["items"][0].clone();
    assert_eq!(order["customer"]["name"], "Jana Becker");
    let order_id = order["id"].as_str().expect("id");
    let history = app
        .get(&format!("/v1/work-orders/{order_id}/history"), &t.token)
        .await;
    assert_eq!(history.body["items"][0]["actor"]["type"], "customer");
    assert!(
        history_types(&app, &t.token, order_id)
            .await
            .contains(&"step.planned".to_owned())
    );
    let appointments = app
        .get(
            &format!("/v1/appointments?work_order_id={order_id}"),
            &t.token,
        )
        .await;
    assert_eq!(appointments.body["items"][0]["assignee_ids"], json!([tech]));
    // The slot is gone for the next customer; a second booking with the same e-mail address
    // is a contact of its own (an address proves nothing).
    let after = slots(&app, &t.slug, &service).await;
    assert!(!after.iter().any(|s| s["start"] == free[1]["start"]));
    let second = app
        .post(&format!("/v1/public/{}/bookings", t.slug), None, &json!({"service_id": service, "start": free[3]["start"], "customer": customer("JANA@example.com"), "consent": true}))
        .await;
    second.assert_status(201);
    assert_eq!(
        app.get("/v1/customers?q=jana", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
    // Status view, reschedule, cancel.
    let status = app.send(Method::GET, &status_path, None, None, &[]).await;
    assert_eq!(status.body["order_status"], "open");
    assert_eq!(
        status.body["progress"].as_array().expect("progress").len(),
        3
    );
    let moved = app
        .post(
            &format!("{status_path}/reschedule"),
            None,
            &json!({"start": free[0]["start"]}),
        )
        .await;
    moved.assert_status(200);
    assert_eq!(moved.body["appointment"]["start"], free[0]["start"]);
    let taken = app
        .post(
            &format!("{status_path}/reschedule"),
            None,
            &json!({"start": free[3]["start"]}),
        )
        .await;
    taken.assert_problem(409, "slot_taken");
    assert!(
        !taken.body["alternatives"]
            .as_array()
            .expect("alternatives")
            .is_empty()
    );
    let cancelled = app
        .post(
            &format!("{status_path}/cancel"),
            None,
            &json!({"reason": "Termin passt nicht"}),
        )
        .await;
    cancelled.assert_status(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["order_status"], "cancelled");
    assert!(
        slots(&app, &t.slug, &service)
            .await
            .iter()
            .any(|s| s["start"] == free[0]["start"]),
        "the time is free again"
    );
    app.send(
        Method::GET,
        &format!("/v1/public/{}/bookings/bk_wrong", t.slug),
        None,
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    let other = app.sign_up().await;
    app.send(
        Method::GET,
        &format!("/v1/public/{}/bookings/{token}", other.slug),
        None,
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
}

async fn racing_for_the_last_slot_has_exactly_one_winner(ctx: Ctx) {
    let app = ctx.app().await;
    // One technician, one hour a day: every day has exactly one slot.
    let (t, _, service) = bookable(&app, "10:00", "11:00").await;
    let free = slots(&app, &t.slug, &service).await;
    let last = free[0]["start"].clone();
    let attempts = (0..10).map(|i| {
        let app = app.clone();
        let slug = t.slug.clone();
        let body = json!({"service_id": service, "start": last, "customer": customer(&format!("c{i}@example.com")), "consent": true});
        async move { app.post(&format!("/v1/public/{slug}/bookings"), None, &body).await }
    });
    let results = join_all(attempts).await;
    let winners = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        winners,
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "slot_taken");
        let alternatives = r.body["alternatives"].as_array().expect("alternatives");
        assert!(
            !alternatives.is_empty() && alternatives.iter().all(|a| a["start"] != last),
            "fresh alternatives"
        );
    }
    let appointments = app.get("/v1/appointments", &t.token).await;
    assert_eq!(
        appointments.body["items"].as_array().expect("items").len(),
        1
    );
}

async fn bookings_are_validated_and_respect_the_service_area(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, service) = bookable(&app, "08:00", "12:00").await;
    let free = slots(&app, &t.slug, &service).await;
    let url = format!("/v1/public/{}/bookings", t.slug);
    let no_consent = app.post(&url, None, &json!({"service_id": service, "start": free[0]["start"], "customer": customer("a@example.com"), "consent": false})).await;
    no_consent.assert_problem(422, "validation_failed");
    assert_eq!(no_consent.body["errors"][0]["pointer"], "/consent");
    let mut far = customer("b@example.com");
    far["postal_code"] = json!("80331");
    app.post(&url, None, &json!({"service_id": service, "start": free[0]["start"], "customer": far, "consent": true})).await.assert_problem(409, "outside_service_area");
    let munich = app
        .send(
            Method::GET,
            &format!(
                "/v1/public/{}/services/{service}/slots?postal_code=80331",
                t.slug
            ),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(munich.body["serves_location"], false);
    assert_eq!(munich.body["slots"].as_array().expect("slots").len(), 0);
    let mut bad = customer("not-an-email");
    bad["name"] = json!("");
    let resp = app.post(&url, None, &json!({"service_id": service, "start": free[0]["start"], "customer": bad, "consent": true, "admin": true})).await;
    resp.assert_problem(422, "validation_failed");
    let odd = app.post(&url, None, &json!({"service_id": service, "start": "2020-01-01T10:00:00Z", "customer": customer("c@example.com"), "consent": true})).await;
    odd.assert_problem(409, "slot_taken");
    app.send(
        Method::GET,
        "/v1/public/no-such-company/services",
        None,
        None,
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        Method::GET,
        &format!(
            "/v1/public/{}/services/{service}/slots?from=2030-01-01&to=2030-03-01",
            t.slug
        ),
        None,
        None,
        &[],
    )
    .await
    .assert_problem(400, "invalid_query");
    assert_eq!(
        app.get("/v1/work-orders", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0,
        "nothing was created"
    );
}

async fn public_endpoints_are_rate_limited_and_cors_follows_the_tenants_origins(ctx: Ctx) {
    let app = ctx.app_with(|s| s.public_per_ip_per_minute = 5).await;
    let t = app.sign_up().await;
    let tenant = app.get("/v1/tenant", &t.token).await;
    let updated = app
        .send(
            Method::PATCH,
            "/v1/tenant",
            Some(&t.token),
            Some(&json!({"website_origins": ["https://www.fenster.example"]})),
            &[("if-match", tenant.etag().as_str())],
        )
        .await;
    updated.assert_status(200);
    app.send(
        Method::PATCH,
        "/v1/tenant",
        Some(&t.token),
        Some(&json!({"website_origins": ["javascript:alert(1)"]})),
        &[("if-match", updated.etag().as_str())],
    )
    .await
    .assert_problem(422, "validation_failed");
    let url = format!("/v1/public/{}/services", t.slug);
    let preflight = |origin: &'static str| {
        let app = app.clone();
        let url = url.clone();
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ];
            app.send(Method::OPTIONS, &url, None, None, &headers).await
        }
    };
    let ok = preflight("https://www.fenster.example").await;
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("https://www.fenster.example")
    );
    let evil = preflight("https://evil.example").await;
    evil.assert_problem(403, "forbidden");
    assert!(evil.header("access-control-allow-origin").is_none());
    let get = app
        .send(
            Method::GET,
            &url,
            None,
            None,
            &[("origin", "https://www.fenster.example")],
        )
        .await;
    get.assert_status(200);
    assert_eq!(
        get.header("access-control-allow-origin").as_deref(),
        Some("https://www.fenster.example")
    );
    // 2 preflights + 1 GET so far; the budget is 5 a minute per address.
    for _ in 0..2 {
        app.send(Method::GET, &url, None, None, &[])
            .await
            .assert_status(200);
    }
    let limited = app.send(Method::GET, &url, None, None, &[]).await;
    limited.assert_problem(429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
}

/// At three times a tenant's limit every extra request is a 429 with `Retry-After`, and
/// another tenant served by the same instance is not affected.
async fn overload_on_one_tenant_is_rejected_with_429_and_spares_other_tenants(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            s.public_per_tenant_per_minute = 10;
            s.public_per_ip_per_minute = 1000;
        })
        .await;
    let busy = app.sign_up().await;
    let quiet = app.sign_up().await;
    let url = format!("/v1/public/{}/services", busy.slug);
    let results = join_all((0..30).map(|_| app.send(Method::GET, &url, None, None, &[]))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 10, "exactly the limit is served");
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_problem(429, "rate_limited");
        let retry: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&retry));
    }
    let other = app
        .send(
            Method::GET,
            &format!("/v1/public/{}/services", quiet.slug),
            None,
            None,
            &[],
        )
        .await;
    other.assert_status(200);
    // Staff endpoints of the busy tenant keep working.
    app.get("/v1/work-orders", &busy.token)
        .await
        .assert_status(200);
}
