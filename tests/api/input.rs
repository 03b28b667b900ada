//! Input that must be refused, checked over every operation of the OpenAPI document: control
//! characters in any string of any body (422 with the field's pointer, never a 500, also on
//! PostgreSQL), bad query strings and paths, dates outside the planned years, lists over their
//! documented caps; and the single-line rules (line breaks, bidi overrides) on named fields.

use reqwest::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{Ctx, Resp, TestApp, fill_path, step};
use crate::tests;

tests!(
    control_characters_are_refused_in_every_string_of_every_body,
    single_lines_refuse_line_breaks_and_bidi_overrides,
    bad_query_strings_and_paths_are_refused_and_empty_parameters_ignored,
    every_list_of_every_body_has_a_cap_that_holds,
    dates_outside_the_planned_years_are_refused,
    negative_lines_are_refused,
);

/// Resolves `$ref`s against the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().expect("ref name");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<String> {
    match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The branches of a `oneOf`/`anyOf`/`allOf` schema.
fn branches(schema: &Value) -> impl Iterator<Item = &Value> {
    ["oneOf", "anyOf", "allOf"]
        .into_iter()
        .filter_map(|k| schema[k].as_array())
        .flatten()
}

/// Every place a string can stand in a body of this schema: (JSON pointer, schema). Lists
/// are entered at index 0; free-form objects get a made-up key.
fn string_places(
    doc: &Value,
    schema: &Value,
    pointer: &str,
    depth: usize,
    out: &mut Vec<(String, Value)>,
) {
    if depth > 8 {
        return;
    }
    let schema = resolve(doc, schema);
    for b in branches(schema) {
        string_places(doc, b, pointer, depth + 1, out);
    }
    let ts = types(schema);
    if ts.iter().any(|t| t == "string") && !out.iter().any(|(p, _)| p == pointer) {
        out.push((pointer.to_owned(), schema.clone()));
    }
    if ts.iter().any(|t| t == "array") {
        string_places(
            doc,
            &schema["items"],
            &format!("{pointer}/0"),
            depth + 1,
            out,
        );
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            string_places(doc, prop, &format!("{pointer}/{name}"), depth + 1, out);
        }
    } else if ts.iter().any(|t| t == "object") || schema.as_object().is_some_and(|o| o.is_empty()) {
        // Free-form (e.g. a field event's payload).
        let place = format!("{pointer}/note");
        if !out.iter().any(|(p, _)| *p == place) {
            out.push((place, json!({"type": "string"})));
        }
    }
}

/// A body with `value` at `pointer` (objects and lists made along the way).
fn body_with(pointer: &str, value: Value) -> Value {
    let mut parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut current = value;
    while let Some(part) = parts.pop() {
        current = match part.parse::<usize>() {
            Ok(0) => json!([current]),
            _ => {
                let mut map = Map::new();
                map.insert(part.to_owned(), current);
                Value::Object(map)
            }
        };
    }
    current
}

/// (method, path, request schema) of every operation with a JSON body.
fn json_operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if let Some(schema) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            {
                ops.push((method.clone(), path.clone(), Value::Object(schema.clone())));
            }
        }
    }
    ops
}

async fn send_json(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) -> Resp {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    app.send(method, path, Some(token), Some(body), &[]).await
}

async fn control_characters_are_refused_in_every_string_of_every_body(ctx: Ctx) {
    let app = ctx
        .app_with(|s| {
            s.public_per_ip_per_minute = 100_000;
            s.auth_attempts_per_minute = 100_000;
        })
        .await;
    let t = app.sign_up().await;
    let doc = app.get("/openapi.json", &t.token).await.body;
    let mut checked = 0;
    for (method, path, schema) in json_operations(&doc) {
        let mut places = Vec::new();
        string_places(&doc, &schema, "", 0, &mut places);
        let url = fill_path(&path, &t.slug);
        for (pointer, _) in places {
            for bad in ["a\u{0}b", "\u{1b}[31m", "x\u{7f}", "\u{85}"] {
                let body = body_with(&pointer, json!(bad));
                let resp = send_json(&app, &method, &url, &t.token, &body).await;
                let what = format!(
                    "{} {path} with {bad:?} at {pointer}",
                    method.to_ascii_uppercase()
                );
                assert!(resp.status < 500, "{what}: {}", resp.text);
                assert_eq!(resp.status, 422, "{what}: {}", resp.text);
                resp.assert_problem(422, "validation_failed");
                assert_eq!(
                    resp.body["errors"][0]["pointer"], pointer,
                    "{what}: {}",
                    resp.text
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 600, "walked every body ({checked} checks)");
    // Nothing of it was stored: the tenant still has only its owner and no data.
    assert_eq!(app.count_users(&t.token).await, 1);
    let orders = app.get("/v1/work-orders", &t.token).await;
    assert_eq!(orders.body["items"], json!([]));
}

async fn single_lines_refuse_line_breaks_and_bidi_overrides(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(&t.token, "Reparatur", json!([step("a", "owner")]))
        .await;
    for (field, value) in [
        ("/name", "Jana\nBecker"),
        ("/name", "Jana\u{202E}rekceB"),
        ("/name", "x\u{2066}y"),
        ("/phone", "+49\t30"),
        ("/email", "a@b.example\r\nBcc: x@y.example"),
    ] {
        let mut body = json!({"name": "Jana Becker"});
        body[&field[1..]] = json!(value);
        let resp = app.post("/v1/customers", Some(&t.token), &body).await;
        resp.assert_problem(422, "validation_failed");
        assert_eq!(
            resp.body["errors"][0]["pointer"], field,
            "{value:?}: {}",
            resp.text
        );
    }
    let (customer, _) = app.customer(&t.token, "Kunde").await;
    let title = app
        .post(
            "/v1/work-orders",
            Some(&t.token),
            &json!({"process_id": process, "channel": "phone", "customer_id": customer, "title": "invoice\u{202E}fdp.exe"}),
        )
        .await;
    title.assert_problem(422, "validation_failed");
    assert_eq!(title.body["errors"][0]["pointer"], "/title");
    // Multi-line fields keep line breaks and tabs; right-to-left text is fine everywhere.
    let ok = app
        .post(
            "/v1/work-orders",
            Some(&t.token),
            &json!({"process_id": process, "channel": "phone", "customer_id": customer,
                    "title": "שלום Fenster", "description": "Zeile 1\nZeile 2\tTab"}),
        )
        .await;
    ok.assert_status(201);
    assert_eq!(ok.body["description"], "Zeile 1\nZeile 2\tTab");
    // Too long, counted in characters.
    let long = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": "ä".repeat(201)}),
        )
        .await;
    long.assert_problem(422, "validation_failed");
    assert_eq!(long.body["errors"][0]["pointer"], "/name");
}

async fn bad_query_strings_and_paths_are_refused_and_empty_parameters_ignored(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (customer, _) = app.customer(&t.token, "Müller").await;
    let doc = app.get("/openapi.json", &t.token).await.body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if method != "get" {
                continue;
            }
            let url = fill_path(path, &t.slug);
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] != "query" {
                    continue;
                }
                let name = param["name"].as_str().expect("name");
                for bad in ["%00", "%FF%FE", "a%0Ab", "%C3"] {
                    let resp = app.get(&format!("{url}?{name}={bad}"), &t.token).await;
                    resp.assert_problem(400, "invalid_query");
                    checked += 1;
                }
                // Empty means absent.
                let empty = app.get(&format!("{url}?{name}="), &t.token).await;
                let absent = app.get(&url, &t.token).await;
                assert!(empty.status < 500, "GET {path}?{name}= : {}", empty.text);
                assert_eq!(
                    (empty.status, &empty.body["code"]),
                    (absent.status, &absent.body["code"]),
                    "GET {path}?{name}= answers like GET {path}: {}",
                    empty.text
                );
            }
            if path.contains('{') {
                let nul = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "%00" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let resp = app.get(&nul, &t.token).await;
                assert!(resp.status == 404, "GET {nul}: {}", resp.text);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "walked every query ({checked})");
    // A search for NUL no longer matches everything; an empty search is no filter.
    app.get("/v1/customers?q=%00", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    let all = app.get("/v1/customers?q=&cursor=&limit=", &t.token).await;
    all.assert_status(200);
    assert_eq!(all.body["items"][0]["id"], customer.as_str());
    // The public booking surface, anonymously.
    app.send(Method::GET, "/v1/public/%00/services", None, None, &[])
        .await
        .assert_problem(404, "not_found");
}

/// Every array in a request schema: (pointer, maxItems).
fn array_places(
    doc: &Value,
    schema: &Value,
    pointer: &str,
    depth: usize,
    out: &mut Vec<(String, Option<u64>)>,
) {
    if depth > 8 {
        return;
    }
    let schema = resolve(doc, schema);
    for b in branches(schema) {
        array_places(doc, b, pointer, depth + 1, out);
    }
    if types(schema).iter().any(|t| t == "array") {
        if !out.iter().any(|(p, _)| p == pointer) {
            out.push((pointer.to_owned(), schema["maxItems"].as_u64()));
        }
        array_places(
            doc,
            &schema["items"],
            &format!("{pointer}/0"),
            depth + 1,
            out,
        );
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            array_places(doc, prop, &format!("{pointer}/{name}"), depth + 1, out);
        }
    }
}

/// A value of this schema that deserializes (required fields, right types, formats, enums);
/// not necessarily one the handler accepts.
fn sample(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if depth > 8 {
        return Value::Null;
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.first().cloned().unwrap_or(Value::Null);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key]
            .as_array()
            .and_then(|b| b.iter().find(|b| resolve(doc, b)["type"] != "null"))
        {
            return sample(doc, first, depth + 1);
        }
    }
    let ts = types(schema);
    let t = ts
        .iter()
        .find(|t| *t != "null")
        .map(String::as_str)
        .unwrap_or("object");
    match t {
        "string" => match schema["format"].as_str() {
            Some("date-time") => json!("2026-06-01T09:00:00Z"),
            Some("date") => json!("2026-06-01"),
            Some("uuid") => json!(Uuid::now_v7()),
            _ => json!("x"),
        },
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "number" => json!(1.0),
        "boolean" => json!(true),
        "array" => json!([]),
        _ => {
            let mut object = Map::new();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().expect("name");
                object.insert(
                    name.to_owned(),
                    sample(doc, &schema["properties"][name], depth + 1),
                );
            }
            Value::Object(object)
        }
    }
}

/// The schema of the list at a pointer.
fn schema_at<'a>(doc: &'a Value, schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut current = resolve(doc, schema);
    for part in pointer.split('/').skip(1) {
        current = if part == "0" {
            resolve(doc, &current["items"])
        } else if let Some(p) = current["properties"].get(part) {
            resolve(doc, p)
        } else {
            let branch = ["oneOf", "anyOf", "allOf"].iter().find_map(|k| {
                current[*k].as_array().and_then(|bs| {
                    bs.iter()
                        .map(|b| resolve(doc, b))
                        .find(|b| b["properties"].get(part).is_some())
                })
            })?;
            resolve(doc, &branch["properties"][part])
        };
    }
    Some(current)
}

async fn every_list_of_every_body_has_a_cap_that_holds(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let doc = app.get("/openapi.json", &t.token).await.body;
    let mut uncapped = Vec::new();
    let mut checked = 0;
    for (method, path, schema) in json_operations(&doc) {
        let mut places = Vec::new();
        array_places(&doc, &schema, "", 0, &mut places);
        for (pointer, cap) in places {
            match cap {
                None => uncapped.push(format!("{} {path} {pointer}", method.to_ascii_uppercase())),
                Some(cap) if cap <= 1000 => {
                    // One item more than the cap is refused at the list, before anything else.
                    let list = schema_at(&doc, &schema, &pointer).expect("list schema");
                    let item = sample(&doc, &list["items"], 0);
                    let items = vec![item; usize::try_from(cap).expect("cap") + 1];
                    let body = body_with(&pointer, Value::Array(items));
                    let url = fill_path(&path, &t.slug);
                    let resp = send_json(&app, &method, &url, &t.token, &body).await;
                    let what = format!(
                        "{} {path} with {} items at {pointer}",
                        method.to_ascii_uppercase(),
                        cap + 1
                    );
                    if cap == 1000 {
                        assert_eq!(resp.status, 413, "{what}: {}", resp.text);
                    } else {
                        assert_eq!(resp.status, 422, "{what}: {}", resp.text);
                        assert_eq!(
                            resp.body["errors"][0]["pointer"], pointer,
                            "{what}: {}",
                            resp.text
                        );
                        assert!(
                            resp.body["errors"][0]["detail"]
                                .as_str()
                                .is_some_and(|d| d.contains(&format!("at most {cap} items"))),
                            "{what}: {}",
                            resp.text
                        );
                    }
                    checked += 1;
                }
                Some(cap) => panic!("{path} {pointer}: a cap of {cap} is above the global 1000"),
            }
        }
    }
    assert!(uncapped.is_empty(), "lists without maxItems: {uncapped:#?}");
    assert!(checked > 20, "walked every list ({checked})");
    // The backstop: no list of any body is read past 1000 items.
    let huge = json!({"name": "K", "sites": vec![json!({"street": "S", "postal_code": "1", "city": "B"}); 10_000]});
    app.post("/v1/customers", Some(&t.token), &huge)
        .await
        .assert_problem(413, "batch_too_large");
    let many = json!({"name": "K", "sites": vec![json!({"street": "S", "postal_code": "10115", "city": "B"}); 51]});
    let resp = app.post("/v1/customers", Some(&t.token), &many).await;
    resp.assert_problem(422, "validation_failed");
    assert_eq!(resp.body["errors"][0]["pointer"], "/sites");
    let customers = app.get("/v1/customers", &t.token).await;
    assert_eq!(customers.body["items"], json!([]));
}

async fn dates_outside_the_planned_years_are_refused(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let (tech, _) = app.user_with_role(&t, "technician").await;
    for (start, end) in [
        ("0000-01-01T09:00:00Z", "0000-01-01T10:00:00Z"),
        ("9999-12-31T09:00:00Z", "9999-12-31T10:00:00Z"),
        ("2090-01-01T09:00:00Z", "2090-01-01T10:00:00Z"),
    ] {
        let resp = app
            .post(
                "/v1/appointments",
                Some(&t.token),
                &json!({"work_order_id": Uuid::now_v7(), "assignee_ids": [tech], "start": start, "end": end}),
            )
            .await;
        resp.assert_problem(422, "validation_failed");
        let pointer = resp.body["errors"][0]["pointer"].as_str().expect("pointer");
        assert!(
            pointer == "/start" || pointer == "/end",
            "{start}: {}",
            resp.text
        );
    }
    let invoice = Uuid::now_v7();
    for day in ["0000-01-01", "1999-12-31", "2100-01-01"] {
        let resp = app
            .post(
                &format!("/v1/invoices/{invoice}/payments"),
                Some(&t.token),
                &json!({"amount": "10.00", "paid_on": day}),
            )
            .await;
        resp.assert_problem(422, "validation_failed");
        assert_eq!(resp.body["errors"][0]["pointer"], "/paid_on");
    }
    app.get(
        "/v1/work-orders?created_from=0001-01-01T00:00:00Z",
        &t.token,
    )
    .await
    .assert_problem(400, "invalid_query");
    let absence = app
        .post(
            &format!("/v1/users/{tech}/absences"),
            Some(&t.token),
            &json!({"kind": "vacation", "start": "2095-01-01T00:00:00Z", "end": "2095-01-02T00:00:00Z"}),
        )
        .await;
    absence.assert_problem(422, "validation_failed");
}

async fn negative_lines_are_refused(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    crate::billing::put_profile(&app, &t, &crate::billing::profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let order =
        crate::billing::order_for(&app, &t, json!({"name": "Kai", "email": "kai@example.com"}))
            .await;
    let order_id = order["id"].as_str().expect("id");
    let valid = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    for (qty, price) in [("-1", "65.00"), ("2", "-65.00"), ("0", "65.00")] {
        let quote = app
            .post(
                &format!("/v1/work-orders/{order_id}/quotes"),
                Some(&t.token),
                &json!({"lines": [crate::billing::line("Rabatt", qty, "HUR", price, "19")], "valid_until": valid}),
            )
            .await;
        quote.assert_problem(422, "validation_failed");
        let invoice = app
            .post(
                &format!("/v1/work-orders/{order_id}/invoices"),
                Some(&t.token),
                &json!({"lines": [crate::billing::line("Rabatt", qty, "HUR", price, "19")]}),
            )
            .await;
        invoice.assert_problem(422, "validation_failed");
    }
    let quotes = app
        .get(&format!("/v1/work-orders/{order_id}/quotes"), &t.token)
        .await;
    quotes.assert_status(200);
    assert!(
        !quotes.text.contains("Rabatt"),
        "nothing was stored: {}",
        quotes.text
    );
}
