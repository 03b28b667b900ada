//! Process analytics over HTTP: counts and rates from real order histories (the durations'
//! arithmetic is checked against hand-computed values in the domain crate), orders in
//! flight, CSV that a CSV reader parses, version comparison, and the unhappy paths.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Ctx, TestApp};
use crate::tests;

tests!(
    step_figures_come_from_the_history_and_count_orders_in_flight,
    versions_compare_and_csv_parses,
);

fn steps(keys: &[&str]) -> Value {
    Value::Array(
        keys.iter()
            .map(|k| json!({"key": k, "name": format!("Step {k}"), "responsible": {"role": "owner"}, "skippable": true}))
            .collect(),
    )
}

async fn act(app: &TestApp, token: &str, order: &Value, key: &str, action: &str) -> Value {
    let extra: &[(&str, &str)] = match action {
        "skip" | "reopen" => &[("reason", "analytics test")],
        _ => &[],
    };
    let r = app.step_action(token, order, key, action, extra).await;
    r.assert_status(200);
    r.body
}

fn step<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step_key"] == key)
        .unwrap_or_else(|| panic!("step {key} in {report}"))
}

/// Rows as the `csv` crate (RFC 4180: quoted fields with commas, doubled quotes and line
/// breaks) reads them; every row must have the header's width.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("a valid CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

async fn step_figures_come_from_the_history_and_count_orders_in_flight(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(
            &t.token,
            "Reparatur",
            steps(&["intake", "visit", "invoice"]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Jana Becker").await;
    // 1: straight through. 2: visit skipped, invoice still open. 3: visit reworked.
    let o1 = app.order(&t.token, &process, &customer).await.body;
    for key in ["intake", "visit", "invoice"] {
        act(&app, &t.token, &o1, key, "complete").await;
    }
    let o2 = app.order(&t.token, &process, &customer).await.body;
    act(&app, &t.token, &o2, "intake", "complete").await;
    act(&app, &t.token, &o2, "visit", "skip").await;
    let o3 = app.order(&t.token, &process, &customer).await.body;
    act(&app, &t.token, &o3, "intake", "complete").await;
    act(&app, &t.token, &o3, "visit", "start").await;
    act(&app, &t.token, &o3, "visit", "complete").await;
    act(&app, &t.token, &o3, "visit", "reopen").await;
    act(&app, &t.token, &o3, "visit", "complete").await;
    act(&app, &t.token, &o3, "invoice", "complete").await;

    let r = app
        .get(&format!("/v1/analytics/processes/{process}"), &t.token)
        .await;
    r.assert_status(200);
    let report = &r.body["report"];
    assert_eq!(r.body["version"], 1);
    assert_eq!(report["orders"], 3);
    assert_eq!(report["completed"], 2);
    assert_eq!(report["in_flight"], 1);
    assert_eq!(report["cycle_to_completion"]["count"], 2);
    let intake = step(report, "intake");
    assert_eq!(
        (intake["passed"].as_u64(), intake["done"].as_u64()),
        (Some(3), Some(3))
    );
    let visit = step(report, "visit");
    // Episodes: done (1), skipped (2), done then reopened and done again (3): 4 finished.
    assert_eq!(visit["passed"], 4);
    assert_eq!(visit["done"], 3);
    assert_eq!(visit["skipped"], 1);
    assert_eq!(visit["reopened"], 1);
    assert_eq!(visit["skip_rate"], 0.25);
    assert_eq!(visit["rework_rate"], 0.25);
    assert_eq!(
        visit["working"]["count"], 3,
        "one started, two completed directly"
    );
    let invoice = step(report, "invoice");
    assert_eq!(invoice["passed"], 2);
    assert_eq!(
        invoice["in_flight"], 1,
        "order 2's invoice step is still open"
    );
    let shares: f64 = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["share_of_cycle_time"].as_f64())
        .sum();
    assert!(shares <= 1.0 + 1e-9, "shares add up to at most 1: {shares}");
    for s in report["steps"].as_array().expect("steps") {
        if let (Some(m), Some(p)) = (
            s["total"]["median_seconds"].as_i64(),
            s["total"]["p90_seconds"].as_i64(),
        ) {
            assert!(m <= p);
        }
    }
    // A range before the orders were created has none.
    let empty = app
        .get(
            &format!("/v1/analytics/processes/{process}?from=2020-01-01&to=2020-12-31"),
            &t.token,
        )
        .await;
    assert_eq!(empty.body["report"]["orders"], 0);
    // Unhappy paths: bad range, bad format, another tenant, a technician.
    app.get(
        &format!("/v1/analytics/processes/{process}?from=2026-02-01&to=2026-01-01"),
        &t.token,
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/analytics/processes/{process}?from=2020-01-01&to=2026-01-01"),
        &t.token,
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/analytics/processes/{process}?format=xml"),
        &t.token,
    )
    .await
    .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/analytics/processes/{process}?version=9"),
        &t.token,
    )
    .await
    .assert_problem(404, "not_found");
    let other = app.sign_up().await;
    app.get(&format!("/v1/analytics/processes/{process}"), &other.token)
        .await
        .assert_problem(404, "not_found");
    let (_, tech) = app.user_with_role(&t, "technician").await;
    app.get(&format!("/v1/analytics/processes/{process}"), &tech)
        .await
        .assert_problem(403, "forbidden");
}

async fn versions_compare_and_csv_parses(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let process = app
        .published_process(
            &t.token,
            "Fenstertausch, \"Standard\"",
            steps(&["intake", "check", "install"]),
        )
        .await;
    let (customer, _) = app.customer(&t.token, "Jana Becker").await;
    let o = app.order(&t.token, &process, &customer).await.body;
    for key in ["intake", "check", "install"] {
        act(&app, &t.token, &o, key, "complete").await;
    }
    // Version 2 drops the check.
    app.post(
        &format!("/v1/processes/{process}/versions"),
        Some(&t.token),
        &json!({"steps": steps(&["intake", "install"])}),
    )
    .await
    .assert_status(201);
    app.send(
        Method::POST,
        &format!("/v1/processes/{process}/versions/2/publish"),
        Some(&t.token),
        None,
        &[],
    )
    .await
    .assert_status(200);
    let o = app.order(&t.token, &process, &customer).await.body;
    for key in ["intake", "install"] {
        act(&app, &t.token, &o, key, "complete").await;
    }
    let cmp = app
        .get(
            &format!("/v1/analytics/processes/{process}/compare?a=1&b=2"),
            &t.token,
        )
        .await;
    cmp.assert_status(200);
    let c = &cmp.body["comparison"];
    assert_eq!(c["a"]["completed"], 1);
    assert_eq!(c["b"]["completed"], 1);
    let check = c["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step_key"] == "check")
        .expect("check");
    assert_eq!(check["change"], "removed");
    // CSV by Accept header and by ?format=csv; a standard reader gets one row per step.
    let resp = app
        .client
        .get(app.url(&format!("/v1/analytics/processes/{process}?version=1")))
        .bearer_auth(&t.token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let text = resp.text().await.expect("body");
    assert!(text.contains("\r\n"), "CRLF line ends");
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 4, "header + 3 steps: {rows:?}");
    assert!(
        rows.iter().all(|r| r.len() == rows[0].len()),
        "every row as wide as the header"
    );
    assert_eq!(rows[1][0], "intake");
    let compared = app
        .get(
            &format!("/v1/analytics/processes/{process}/compare?a=1&b=2&format=csv"),
            &t.token,
        )
        .await;
    compared.assert_status(200);
    let rows = parse_csv(&compared.text);
    assert!(
        rows.iter().any(|r| r.iter().any(|f| f == "removed")),
        "{rows:?}"
    );
    app.get(
        &format!("/v1/analytics/processes/{process}/compare?a=1&b=7"),
        &t.token,
    )
    .await
    .assert_problem(404, "not_found");
}
