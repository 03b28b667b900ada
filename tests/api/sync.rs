//! Field sync: pull (snapshot, cursor, tombstones, convergence under concurrent office
//! changes), push (exactly once under replays, reordering and concurrency; reason codes for
//! office changes meanwhile; whole-batch validation), attachments (hash, types, limits).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{Ctx, PNG, Resp, Tenant, TestApp, at_hour, step_of};
use crate::tests;

tests!(
    pull_gives_my_orders_then_changes_and_tombstones,
    pull_converges_while_the_office_keeps_changing_things,
    push_is_exactly_once_whatever_the_retries,
    office_changes_meanwhile_get_reason_codes,
    malformed_batches_are_refused_whole_and_change_nothing,
    attachments_are_idempotent_by_hash_and_checked,
);

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed.max(1);
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = usize::try_from(x % (i as u64 + 1)).expect("index");
        items.swap(i, j);
    }
}

/// A tenant with one technician and a one-step process held by technicians.
struct Field {
    t: Tenant,
    tech_id: String,
    tech: String,
    process: String,
    customer: String,
}

async fn field(app: &TestApp, evidence: bool) -> Field {
    let t = app.sign_up().await;
    let (tech_id, tech) = app.user_with_role(&t, "technician").await;
    let mut work = json!({"key": "work", "name": "Work", "responsible": {"role": "technician"},
        "checklist": [{"key": "a", "label": "Valve closed"}, {"key": "b", "label": "Area cleaned"}]});
    if evidence {
        work["evidence"] = json!(["photo"]);
    }
    let process = app
        .published_process(&t.token, "Repair", json!([work]))
        .await;
    let (customer, _) = app.customer(&t.token, "Becker GmbH").await;
    Field {
        t,
        tech_id,
        tech,
        process,
        customer,
    }
}

impl Field {
    async fn order(&self, app: &TestApp) -> Value {
        let resp = app
            .order(&self.t.token, &self.process, &self.customer)
            .await;
        resp.assert_status(201);
        resp.body
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn pull(app: &TestApp, token: &str, cursor: Option<&str>, limit: u32) -> Resp {
    let path = match cursor {
        Some(c) => format!("/v1/sync/pull?cursor={c}&limit={limit}"),
        None => format!("/v1/sync/pull?limit={limit}"),
    };
    app.get(&path, token).await
}

/// Pulls until nothing more is waiting; returns the changes and the last cursor.
async fn pull_all(
    app: &TestApp,
    token: &str,
    mut cursor: Option<String>,
    limit: u32,
) -> (Vec<Value>, String) {
    let mut changes = Vec::new();
    for _ in 0..1000 {
        let page = pull(app, token, cursor.as_deref(), limit).await;
        page.assert_status(200);
        changes.extend(page.body["changes"].as_array().expect("changes").clone());
        cursor = Some(
            page.body["next_cursor"]
                .as_str()
                .expect("cursor")
                .to_owned(),
        );
        if page.body["has_more"] == false {
            return (changes, cursor.expect("cursor"));
        }
    }
    panic!("the pull never ended");
}

/// Applies changes to a device's local store: order id → (version, status, holder of work).
fn apply(local: &mut BTreeMap<String, Value>, changes: &[Value]) {
    for c in changes {
        match c["op"].as_str().expect("op") {
            "upsert" => {
                let order = &c["work_order"];
                local.insert(id_of(order), order.clone());
            }
            "remove" => {
                local.remove(c["work_order_id"].as_str().expect("id"));
            }
            other => panic!("unknown op {other}"),
        }
    }
}

fn event(seq: i64, order: &Value, kind: &str, payload: Value, step: Option<&str>) -> Value {
    let mut e = json!({
        "id": Uuid::now_v7(), "device_id": "handheld-1", "seq": seq,
        "occurred_at": "2026-11-20T09:00:00Z", "work_order_id": order["id"],
        "type": kind, "payload": payload,
    });
    if let Some(key) = step {
        e["step_id"] = step_of(order, key)["id"].clone();
    }
    e
}

async fn push(app: &TestApp, token: &str, events: &[Value]) -> Resp {
    app.post("/v1/sync/push", Some(token), &json!({ "events": events }))
        .await
}

fn statuses(resp: &Resp) -> Vec<(String, Option<String>)> {
    resp.assert_status(200);
    resp.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["status"].as_str().expect("status").to_owned(),
                r["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn count(results: &[(String, Option<String>)], status: &str) -> usize {
    results.iter().filter(|(s, _)| s == status).count()
}

async fn pull_gives_my_orders_then_changes_and_tombstones(ctx: Ctx) {
    let app = ctx.app().await;
    let f = field(&app, false).await;
    let a = f.order(&app).await;
    let b = f.order(&app).await;
    assert_eq!(step_of(&a, "work")["responsible"]["id"], f.tech_id.as_str());

    // A full pull, one order per page.
    let (changes, cursor) = pull_all(&app, &f.tech, None, 1).await;
    let mut local = BTreeMap::new();
    apply(&mut local, &changes);
    assert_eq!(local.len(), 2, "{changes:?}");
    let pulled = &local[&id_of(&a)];
    assert_eq!(pulled["customer"]["name"], "Becker GmbH");
    assert_eq!(pulled["site"]["street"], "Gartenweg 12");
    assert_eq!(step_of(pulled, "work")["checklist"][0]["key"], "a");
    assert_eq!(step_of(pulled, "work")["status"], "active");
    // Nothing changed since.
    let quiet = pull(&app, &f.tech, Some(&cursor), 50).await;
    quiet.assert_status(200);
    assert_eq!(quiet.body["changes"], json!([]));
    assert_eq!(quiet.body["has_more"], false);

    // The office reassigns b, cancels a, creates c and renames the customer.
    let (tech2_id, tech2) = app.user_with_role(&f.t, "technician").await;
    app.post(
        &format!(
            "/v1/work-orders/{}/steps/{}/reassign",
            id_of(&b),
            step_of(&b, "work")["id"].as_str().expect("id")
        ),
        Some(&f.t.token),
        &json!({"user_id": tech2_id, "reason": "closer"}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/v1/work-orders/{}/actions", id_of(&a)),
        Some(&f.t.token),
        &json!({"action": "cancel", "reason": "customer withdrew"}),
    )
    .await
    .assert_status(200);
    let (changes, cursor2) = pull_all(&app, &f.tech, Some(cursor.clone()), 50).await;
    let removed: BTreeMap<String, String> = changes
        .iter()
        .filter(|c| c["op"] == "remove")
        .map(|c| {
            (
                c["work_order_id"].as_str().expect("id").to_owned(),
                c["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        removed.get(&id_of(&a)).map(String::as_str),
        Some("cancelled")
    );
    assert_eq!(
        removed.get(&id_of(&b)).map(String::as_str),
        Some("reassigned")
    );
    apply(&mut local, &changes);
    assert!(local.is_empty());
    // The new holder gets b.
    let (theirs, _) = pull_all(&app, &tech2, None, 50).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["work_order"]["id"], b["id"]);

    let c = f.order(&app).await;
    // c goes to the less loaded technician: make sure it is ours for the test.
    if step_of(&c, "work")["responsible"]["id"] != f.tech_id.as_str() {
        app.post(
            &format!(
                "/v1/work-orders/{}/steps/{}/reassign",
                id_of(&c),
                step_of(&c, "work")["id"].as_str().expect("id")
            ),
            Some(&f.t.token),
            &json!({"user_id": f.tech_id, "reason": "ours"}),
        )
        .await
        .assert_status(200);
    }
    let customer = app
        .get(&format!("/v1/customers/{}", f.customer), &f.t.token)
        .await;
    app.patch(
        &format!("/v1/customers/{}", f.customer),
        &f.t.token,
        Some(&customer.etag()),
        &json!({"name": "Becker & Söhne GmbH"}),
    )
    .await
    .assert_status(200);
    let (changes, _) = pull_all(&app, &f.tech, Some(cursor2), 50).await;
    apply(&mut local, &changes);
    assert_eq!(local.len(), 1);
    assert_eq!(local[&id_of(&c)]["customer"]["name"], "Becker & Söhne GmbH");

    // Strangers: another tenant's technician sees nothing; bad cursors and limits are 400.
    let other = field(&app, false).await;
    let (theirs, _) = pull_all(&app, &other.tech, None, 50).await;
    assert!(theirs.is_empty(), "{theirs:?}");
    pull(&app, &f.tech, Some("bm90LWEtY3Vyc29y"), 10)
        .await
        .assert_problem(400, "invalid_cursor");
    app.get("/v1/sync/pull?limit=0", &f.tech)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/sync/pull", "not-a-token")
        .await
        .assert_problem(401, "invalid_token");
}

async fn pull_converges_while_the_office_keeps_changing_things(ctx: Ctx) {
    let app = ctx.app().await;
    let f = field(&app, false).await;
    let (tech2_id, _) = app.user_with_role(&f.t, "technician").await;
    let mut orders = Vec::new();
    for _ in 0..6 {
        orders.push(f.order(&app).await);
    }
    let office = {
        let app = app.clone();
        let token = f.t.token.clone();
        let (process, customer) = (f.process.clone(), f.customer.clone());
        let (me, other) = (f.tech_id.clone(), tech2_id.clone());
        let orders = orders.clone();
        tokio::spawn(async move {
            for round in 0..8 {
                let created = app.order(&token, &process, &customer).await;
                created.assert_status(201);
                let target = &orders[round % orders.len()];
                let current = app
                    .get(&format!("/v1/work-orders/{}", id_of(target)), &token)
                    .await;
                let step = step_of(&current.body, "work");
                let holder = step["responsible"]["id"].as_str().unwrap_or_default();
                let to = if holder == me { &other } else { &me };
                app.post(
                    &format!(
                        "/v1/work-orders/{}/steps/{}/reassign",
                        id_of(target),
                        step["id"].as_str().expect("id")
                    ),
                    Some(&token),
                    &json!({"user_id": to, "reason": "balancing"}),
                )
                .await
                .assert_status(200);
                if round == 5 {
                    app.post(
                        &format!("/v1/work-orders/{}/actions", id_of(&created.body)),
                        Some(&token),
                        &json!({"action": "cancel", "reason": "duplicate"}),
                    )
                    .await
                    .assert_status(200);
                }
            }
        })
    };
    // The device pulls in small pages all the while.
    let mut local = BTreeMap::new();
    let mut cursor: Option<String> = None;
    while !office.is_finished() {
        let page = pull(&app, &f.tech, cursor.as_deref(), 2).await;
        page.assert_status(200);
        apply(
            &mut local,
            page.body["changes"].as_array().expect("changes"),
        );
        cursor = Some(
            page.body["next_cursor"]
                .as_str()
                .expect("cursor")
                .to_owned(),
        );
    }
    office.await.expect("office task");
    let (rest, _) = pull_all(&app, &f.tech, cursor, 2).await;
    apply(&mut local, &rest);
    let (fresh_changes, _) = pull_all(&app, &f.tech, None, 50).await;
    let mut fresh = BTreeMap::new();
    apply(&mut fresh, &fresh_changes);
    let summary = |m: &BTreeMap<String, Value>| -> Vec<(String, Value, Value)> {
        m.iter()
            .map(|(id, o)| (id.clone(), o["version"].clone(), o["status"].clone()))
            .collect()
    };
    assert!(!fresh.is_empty());
    assert_eq!(summary(&local), summary(&fresh));
}

/// 100 events per order on 10 orders, interleaved by sequence: start, checklist toggles
/// (ending checked), notes, time, material, complete.
fn thousand_events(orders: &[Value]) -> Vec<Value> {
    let mut events = Vec::new();
    for j in 0..100_i64 {
        for (k, order) in orders.iter().enumerate() {
            let seq = j * 10 + i64::try_from(k).expect("k");
            let e = match j {
                0 => event(seq, order, "step_started", json!({}), Some("work")),
                1..=30 => event(
                    seq,
                    order,
                    "checklist_item_set",
                    json!({"item": if j % 2 == 0 { "a" } else { "b" }, "checked": j > 20 || j % 3 == 0}),
                    Some("work"),
                ),
                31..=60 => event(
                    seq,
                    order,
                    "note_added",
                    json!({"text": format!("note {j}")}),
                    None,
                ),
                61..=80 => event(
                    seq,
                    order,
                    "time_logged",
                    json!({"start": format!("2026-11-20T08:{:02}:00Z", j - 60), "end": format!("2026-11-20T09:{:02}:00Z", j - 60)}),
                    None,
                ),
                81..=98 => event(
                    seq,
                    order,
                    "material_used",
                    json!({"description": "Copper pipe 15 mm", "quantity": format!("{}.5", j - 80), "unit": "MTR"}),
                    None,
                ),
                _ => event(seq, order, "step_completed", json!({}), Some("work")),
            };
            events.push(e);
        }
    }
    events
}

/// What the tenant's orders look like, without ids: status, step state, field entries.
async fn fingerprint(app: &TestApp, f: &Field, orders: &[Value]) -> String {
    let mut parts = Vec::new();
    for order in orders {
        let current = app
            .get(&format!("/v1/work-orders/{}", id_of(order)), &f.t.token)
            .await;
        let step = step_of(&current.body, "work");
        let entries = app
            .get(
                &format!("/v1/work-orders/{}/field-entries", id_of(order)),
                &f.t.token,
            )
            .await;
        entries.assert_status(200);
        let entries: Vec<Value> = entries
            .body
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| json!([e["kind"], e["data"]]))
            .collect();
        parts.push(json!({
            "status": current.body["status"], "step": step["status"], "checklist": step["checklist"],
            "entries": entries,
        }));
    }
    serde_json::to_string(&parts).expect("json")
}

async fn push_is_exactly_once_whatever_the_retries(ctx: Ctx) {
    let app = ctx.app().await;
    let clean = field(&app, false).await;
    let messy = field(&app, false).await;
    let mut clean_orders = Vec::new();
    let mut messy_orders = Vec::new();
    for _ in 0..10 {
        clean_orders.push(clean.order(&app).await);
        messy_orders.push(messy.order(&app).await);
    }
    // One clean push.
    let clean_events = thousand_events(&clean_orders);
    let results = statuses(&push(&app, &clean.tech, &clean_events).await);
    assert_eq!(count(&results, "applied"), 1000);

    // The other device: a prefix twice at once, then the whole batch reordered three times,
    // then a random part of it.
    let events = thousand_events(&messy_orders);
    let mut prefix = events[..300].to_vec();
    shuffle(&mut prefix, 7);
    let (r1, r2) = tokio::join!(
        push(&app, &messy.tech, &prefix),
        push(&app, &messy.tech, &prefix)
    );
    let (r1, r2) = (statuses(&r1), statuses(&r2));
    assert_eq!(count(&r1, "applied") + count(&r2, "applied"), 300);
    assert_eq!(count(&r1, "duplicate") + count(&r2, "duplicate"), 300);
    for seed in [11, 12, 13] {
        let mut all = events.clone();
        shuffle(&mut all, seed);
        let results = statuses(&push(&app, &messy.tech, &all).await);
        let expected_applied = if seed == 11 { 700 } else { 0 };
        let rejected: Vec<_> = results.iter().filter(|(s, _)| s == "rejected").collect();
        assert_eq!(
            count(&results, "applied"),
            expected_applied,
            "rejected: {rejected:?}"
        );
        assert_eq!(count(&results, "rejected"), 0);
    }
    let mut part: Vec<Value> = events.iter().step_by(3).cloned().collect();
    shuffle(&mut part, 99);
    assert_eq!(
        count(
            &statuses(&push(&app, &messy.tech, &part).await),
            "duplicate"
        ),
        part.len()
    );

    let a = fingerprint(&app, &clean, &clean_orders).await;
    let b = fingerprint(&app, &messy, &messy_orders).await;
    assert_eq!(a, b);
    // And the pushes did the work: every order completed with its 68 entries.
    let first = app
        .get(
            &format!("/v1/work-orders/{}", id_of(&messy_orders[0])),
            &messy.t.token,
        )
        .await;
    assert_eq!(first.body["status"], "completed");
    let entries = app
        .get(
            &format!("/v1/work-orders/{}/field-entries", id_of(&messy_orders[0])),
            &messy.t.token,
        )
        .await;
    assert_eq!(entries.body.as_array().expect("entries").len(), 68);
    // The same ids from another tenant's device are not theirs to replay.
    let stolen = statuses(&push(&app, &clean.tech, &events[..5]).await);
    assert!(
        stolen
            .iter()
            .all(|(s, r)| s == "rejected" && r.as_deref() == Some("id_conflict")),
        "{stolen:?}"
    );
}

async fn upload(
    app: &TestApp,
    token: &str,
    order: &Value,
    kind: &str,
    content_type: &str,
    data: Vec<u8>,
    sha: &str,
) -> Resp {
    let resp = app
        .client
        .post(app.url(&format!(
            "/v1/work-orders/{}/attachments?kind={kind}&sha256={sha}",
            id_of(order)
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(data)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn office_changes_meanwhile_get_reason_codes(ctx: Ctx) {
    let app = ctx.app().await;
    let f = field(&app, true).await;
    let cancelled = f.order(&app).await;
    let reassigned = f.order(&app).await;
    let worked = f.order(&app).await;
    let (tech2_id, tech2) = app.user_with_role(&f.t, "technician").await;
    app.post(
        &format!("/v1/work-orders/{}/actions", id_of(&cancelled)),
        Some(&f.t.token),
        &json!({"action": "cancel", "reason": "customer withdrew"}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!(
            "/v1/work-orders/{}/steps/{}/reassign",
            id_of(&reassigned),
            step_of(&reassigned, "work")["id"].as_str().expect("id")
        ),
        Some(&f.t.token),
        &json!({"user_id": tech2_id, "reason": "closer"}),
    )
    .await
    .assert_status(200);
    let check = |key: &str| {
        vec![
            event(
                10,
                &worked,
                "checklist_item_set",
                json!({"item": "a", "checked": true}),
                Some(key),
            ),
            event(
                11,
                &worked,
                "checklist_item_set",
                json!({"item": "b", "checked": true}),
                Some(key),
            ),
        ]
    };
    let mut batch = vec![
        event(1, &cancelled, "step_started", json!({}), Some("work")),
        event(2, &reassigned, "step_started", json!({}), Some("work")),
        event(3, &worked, "step_started", json!({}), Some("work")),
        event(
            4,
            &worked,
            "photo_attached",
            json!({"attachment_id": Uuid::now_v7()}),
            Some("work"),
        ),
        event(
            5,
            &cancelled,
            "note_added",
            json!({"text": "gate locked"}),
            None,
        ),
        event(
            6,
            &cancelled,
            "time_logged",
            json!({"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:30:00Z"}),
            None,
        ),
    ];
    batch.extend(check("work"));
    batch.push(event(
        20,
        &worked,
        "step_completed",
        json!({}),
        Some("work"),
    ));
    let results = statuses(&push(&app, &f.tech, &batch).await);
    let reasons: Vec<Option<&str>> = results.iter().map(|(_, r)| r.as_deref()).collect();
    assert_eq!(
        reasons,
        vec![
            Some("order_cancelled"),
            Some("not_responsible"),
            None,
            Some("attachment_missing"),
            None,
            Some("order_cancelled"),
            None,
            None,
            Some("evidence_missing"),
        ],
        "{results:?}"
    );
    // The photo: upload, reference, complete → the order completes.
    let sha = sha256_hex(&PNG);
    let photo = upload(
        &app,
        &f.tech,
        &worked,
        "photo",
        "image/png",
        PNG.to_vec(),
        &sha,
    )
    .await;
    photo.assert_status(201);
    let results = statuses(
        &push(
            &app,
            &f.tech,
            &[
                event(
                    21,
                    &worked,
                    "photo_attached",
                    json!({"attachment_id": photo.body["id"]}),
                    Some("work"),
                ),
                event(22, &worked, "step_completed", json!({}), Some("work")),
                event(23, &worked, "step_completed", json!({}), Some("work")),
            ],
        )
        .await,
    );
    assert_eq!(
        results,
        vec![
            ("applied".to_owned(), None),
            ("applied".to_owned(), None),
            ("rejected".to_owned(), Some("order_finished".to_owned())),
        ]
    );
    let done = app
        .get(&format!("/v1/work-orders/{}", id_of(&worked)), &f.t.token)
        .await;
    assert_eq!(done.body["status"], "completed");
    assert_eq!(
        step_of(&done.body, "work")["evidence"][0]["attachment_id"],
        photo.body["id"]
    );

    // Strangers: the other technician and another tenant's technician.
    let stranger = statuses(
        &push(
            &app,
            &tech2,
            &[event(1, &worked, "note_added", json!({"text": "x"}), None)],
        )
        .await,
    );
    assert_eq!(
        stranger[0],
        ("rejected".to_owned(), Some("not_found".to_owned()))
    );
    let other = field(&app, false).await;
    let foreign = statuses(
        &push(
            &app,
            &other.tech,
            &[event(1, &worked, "step_started", json!({}), Some("work"))],
        )
        .await,
    );
    assert_eq!(
        foreign[0],
        ("rejected".to_owned(), Some("not_found".to_owned()))
    );

    // Appointment status from the field: en route, then done (arrival implied).
    let visit = f.order(&app).await;
    let appointment = app
        .post(
            "/v1/appointments",
            Some(&f.t.token),
            &json!({"work_order_id": visit["id"], "assignee_ids": [f.tech_id], "start": at_hour(2, 9),
                    "end": at_hour(2, 10), "override_working_hours": true}),
        )
        .await;
    appointment.assert_status(201);
    let aid = appointment.body["id"].clone();
    let results = statuses(
        &push(
            &app,
            &f.tech,
            &[
                event(
                    30,
                    &visit,
                    "appointment_status",
                    json!({"appointment_id": aid, "status": "en_route"}),
                    None,
                ),
                event(
                    31,
                    &visit,
                    "appointment_status",
                    json!({"appointment_id": aid, "status": "done"}),
                    None,
                ),
                event(
                    32,
                    &visit,
                    "appointment_status",
                    json!({"appointment_id": aid, "status": "en_route"}),
                    None,
                ),
            ],
        )
        .await,
    );
    assert_eq!(results[0].0, "applied");
    assert_eq!(results[1].0, "applied");
    assert_eq!(
        results[2],
        ("rejected".to_owned(), Some("invalid_transition".to_owned()))
    );
    let a = app
        .get(
            &format!("/v1/appointments/{}", aid.as_str().expect("id")),
            &f.t.token,
        )
        .await;
    assert_eq!(a.body["status"], "done");
    // The visit order's pull shows the appointment.
    let (changes, _) = pull_all(&app, &f.tech, None, 50).await;
    let pulled = changes
        .iter()
        .find(|c| c["work_order"]["id"] == visit["id"])
        .expect("visit pulled");
    assert_eq!(pulled["appointments"][0]["status"], "done");
}

async fn malformed_batches_are_refused_whole_and_change_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let f = field(&app, false).await;
    let order = f.order(&app).await;
    let good = event(1, &order, "step_started", json!({}), Some("work"));
    let cases = [
        (
            event(
                2,
                &order,
                "material_used",
                json!({"description": "Pipe", "quantity": "2", "unit": "metres"}),
                None,
            ),
            "/events/1/payload/unit",
        ),
        (
            event(
                2,
                &order,
                "material_used",
                json!({"description": "Pipe", "quantity": "-1", "unit": "MTR"}),
                None,
            ),
            "/events/1/payload/quantity",
        ),
        (
            event(
                2,
                &order,
                "time_logged",
                json!({"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T08:00:00Z"}),
                None,
            ),
            "/events/1/payload/end",
        ),
        (
            event(
                2,
                &order,
                "note_added",
                json!({"text": "x", "colour": "red"}),
                None,
            ),
            "/events/1/payload",
        ),
        (
            event(2, &order, "step_completed", json!({}), None),
            "/events/1/step_id",
        ),
        (
            event(2, &order, "teleported", json!({}), None),
            "/events/1/type",
        ),
    ];
    for (bad, pointer) in cases {
        let resp = push(&app, &f.tech, &[good.clone(), bad]).await;
        resp.assert_problem(422, "validation_failed");
        let pointers: Vec<&str> = resp.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["pointer"].as_str())
            .collect();
        assert!(
            pointers.iter().any(|p| p.starts_with(pointer)),
            "{pointer} in {}",
            resp.text
        );
    }
    // Too many events: 413, whatever they are.
    let many: Vec<Value> = (0..1001)
        .map(|i| event(i, &order, "note_added", json!({"text": "n"}), None))
        .collect();
    push(&app, &f.tech, &many)
        .await
        .assert_problem(413, "batch_too_large");
    // Nothing was applied: the step is still active, no entries, and the good event is new.
    let current = app
        .get(&format!("/v1/work-orders/{}", id_of(&order)), &f.t.token)
        .await;
    assert_eq!(step_of(&current.body, "work")["status"], "active");
    let entries = app
        .get(
            &format!("/v1/work-orders/{}/field-entries", id_of(&order)),
            &f.t.token,
        )
        .await;
    assert_eq!(entries.body, json!([]));
    let results = statuses(&push(&app, &f.tech, &[good]).await);
    assert_eq!(results[0].0, "applied");
}

async fn attachments_are_idempotent_by_hash_and_checked(ctx: Ctx) {
    let app = ctx.app().await;
    let f = field(&app, false).await;
    let order = f.order(&app).await;
    let sha = sha256_hex(&PNG);
    let first = upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        PNG.to_vec(),
        &sha,
    )
    .await;
    first.assert_status(201);
    assert_eq!(first.body["sha256"], sha.as_str());
    assert!(first.header("location").is_some());
    let again = upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        PNG.to_vec(),
        &sha.to_uppercase(),
    )
    .await;
    again.assert_status(200);
    assert_eq!(again.body["id"], first.body["id"]);
    // Wrong hash, wrong bytes, wrong type, too large, empty.
    let wrong = "0".repeat(64);
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        PNG.to_vec(),
        &wrong,
    )
    .await
    .assert_problem(422, "digest_mismatch");
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        PNG.to_vec(),
        "abc",
    )
    .await
    .assert_problem(422, "validation_failed");
    let exe = b"MZ\x90\x00not a picture".to_vec();
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        exe.clone(),
        &sha256_hex(&exe),
    )
    .await
    .assert_problem(422, "invalid_upload");
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "text/plain",
        b"hi".to_vec(),
        &sha256_hex(b"hi"),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "application/pdf",
        b"%PDF-1.7".to_vec(),
        &sha256_hex(b"%PDF-1.7"),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    upload(
        &app,
        &f.tech,
        &order,
        "photo",
        "image/png",
        big.clone(),
        &sha256_hex(&big),
    )
    .await
    .assert_problem(413, "payload_too_large");
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let doc = upload(
        &app,
        &f.tech,
        &order,
        "document",
        "application/pdf",
        pdf.clone(),
        &sha256_hex(&pdf),
    )
    .await;
    doc.assert_status(201);

    // Listed on the order, downloadable with authorization only.
    let list = app
        .get(
            &format!("/v1/work-orders/{}/attachments", id_of(&order)),
            &f.tech,
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body.as_array().expect("list").len(), 2);
    let download = app
        .client
        .get(app.url(&format!("/v1/attachments/{}", id_of(&doc.body))))
        .bearer_auth(&f.tech)
        .send()
        .await
        .expect("sent");
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(download.bytes().await.expect("bytes").to_vec(), pdf);
    let (_, tech2) = app.user_with_role(&f.t, "technician").await;
    app.get(&format!("/v1/attachments/{}", id_of(&doc.body)), &tech2)
        .await
        .assert_problem(404, "not_found");
    upload(
        &app,
        &tech2,
        &order,
        "photo",
        "image/png",
        PNG.to_vec(),
        &sha,
    )
    .await
    .assert_problem(404, "not_found");
    let other = field(&app, false).await;
    app.get(
        &format!("/v1/attachments/{}", id_of(&doc.body)),
        &other.t.token,
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/work-orders/{}/attachments", id_of(&order)),
        &other.t.token,
    )
    .await
    .assert_problem(404, "not_found");
    // The bytes are files under the data directory, not rows.
    let stored = std::fs::read_dir(&app.data_dir).expect("data dir").count();
    assert!(stored > 0);
}
