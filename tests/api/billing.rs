//! Billing: profile and catalogue, invoices from the field, automatic issue and e-mail,
//! gap-free numbers under concurrency, e-invoices checked by the official EN 16931 rules,
//! immutability and credit notes, payments closing the order, quotes with the customer's
//! answer, bounces, and the unhappy paths.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Executor;
use uuid::Uuid;
use workorders_mail::testing::{BOUNCE_DOMAIN, ReceivedMail, SmtpServer};
use workorders_testkit::Tool;

use crate::support::{Ctx, Resp, Tenant, TestApp, set_hours, smtp, step_of};
use crate::tests;

tests!(
    invoicing_needs_a_complete_valid_profile_and_burns_no_numbers,
    a_web_booking_worked_in_the_field_is_invoiced_emailed_and_paid,
    numbers_stay_gap_free_under_concurrent_issue,
    einvoices_pass_the_en16931_rules_for_every_tax_case,
    issued_invoices_are_immutable_and_credit_notes_reverse_them,
    the_database_refuses_every_change_to_an_issued_invoice,
    documents_are_dated_in_the_tenants_time_zone,
    quotes_are_answered_by_the_customer_and_become_the_invoice,
    bounces_show_on_the_invoice_and_the_order,
    bad_billing_input_is_refused_and_changes_nothing,
);

pub const IBAN: &str = "DE89 3704 0044 0532 0130 00";

/// A complete profile (regular VAT).
pub fn profile() -> Value {
    json!({
        "legal_name": "Fenster Müller GmbH", "street": "Hauptstraße 1", "postal_code": "10115",
        "city": "Berlin", "vat_id": "DE123456789", "contact_name": "Eva Müller",
        "contact_phone": "+49 30 1234567", "contact_email": "buchhaltung@fenster-mueller.de",
        "iban": IBAN, "bic": "COBADEFFXXX", "payment_terms_days": 14
    })
}

pub async fn put_profile(app: &TestApp, t: &Tenant, body: &Value, if_match: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = if_match.map(|v| vec![("if-match", v)]).unwrap_or_default();
    app.send(
        Method::PUT,
        "/v1/billing-profile",
        Some(&t.token),
        Some(body),
        &headers,
    )
    .await
}

pub fn line(name: &str, qty: &str, unit: &str, price: &str, vat: &str) -> Value {
    json!({"name": name, "quantity": qty, "unit": unit, "unit_price": price, "vat_rate": vat})
}

/// A tenant with a complete profile, a one-step process and an order for a customer.
async fn billing_tenant(app: &TestApp) -> (Tenant, Value) {
    let t = app.sign_up().await;
    put_profile(app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let order = order_for(app, &t, json!({"name": "Jana Becker", "email": "jana@example.com",
        "billing_address": {"street": "Ringstraße 4", "postal_code": "12203", "city": "Berlin", "country": "DE"}}))
    .await;
    (t, order)
}

pub async fn order_for(app: &TestApp, t: &Tenant, customer: Value) -> Value {
    let process = app
        .published_process(
            &t.token,
            &format!("Reparatur {}", Uuid::now_v7()),
            json!([
                {"key": "work", "name": "Work", "responsible": {"role": "owner"}}
            ]),
        )
        .await;
    let mut customer = customer;
    customer["sites"] =
        json!([{"street": "Gartenweg 12", "postal_code": "10247", "city": "Berlin"}]);
    let created = app.post("/v1/customers", Some(&t.token), &customer).await;
    created.assert_status(201);
    let order = app
        .order(&t.token, &process, created.body["id"].as_str().expect("id"))
        .await;
    order.assert_status(201);
    order.body
}

pub async fn invoice(app: &TestApp, t: &Tenant, order: &Value, body: Value) -> Resp {
    app.post(
        &format!(
            "/v1/work-orders/{}/invoices",
            order["id"].as_str().expect("id")
        ),
        Some(&t.token),
        &body,
    )
    .await
}

async fn issue(app: &TestApp, token: &str, id: &str) -> Resp {
    app.send(
        Method::POST,
        &format!("/v1/invoices/{id}/issue"),
        Some(token),
        None,
        &[],
    )
    .await
}

async fn bytes(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, resp.bytes().await.expect("body").to_vec(), ct)
}

/// Runs the project's EN 16931 checker (`tests/checkers/validate_einvoice.py`: XSD and the
/// CEN schematron) on a PDF or XML; `allow` names fatal rules that do not count.
pub fn validate_einvoice_allowing(data: &[u8], ext: &str, allow: &[&str]) {
    workorders_testkit::require(Tool::EInvoice);
    let file = std::env::temp_dir().join(format!("einvoice-{}.{ext}", Uuid::now_v7()));
    std::fs::write(&file, data).expect("write");
    let mut command = std::process::Command::new(workorders_testkit::python());
    command.arg(workorders_testkit::checker("validate_einvoice.py"));
    for rule in allow {
        command.args(["--allow", rule]);
    }
    let out = command.arg(&file).output().expect("the checker runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the EN 16931 checker refused {} ({}): {report}",
        file.display(),
        out.status
    );
    let _ = std::fs::remove_file(&file);
}

/// [`validate_einvoice_allowing`] with every rule counting.
pub fn validate_einvoice(data: &[u8], ext: &str) {
    validate_einvoice_allowing(data, ext, &[]);
}

pub async fn app_with_mail(ctx: &Ctx, server: &SmtpServer) -> TestApp {
    let settings = Some(server.settings());
    ctx.app_with(|s| {
        s.mail.smtp = settings;
        s.mail.poll = Duration::from_millis(100);
        s.mail.retry_scale = 0.001;
        s.mail.public_base_url = "https://orders.example.com".to_owned();
    })
    .await
}

/// Waits until `check` holds for the GET of `path` (the worker is asynchronous).
async fn eventually(
    app: &TestApp,
    token: &str,
    path: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..300 {
        let resp = app.get(path, token).await;
        if resp.status == 200 && check(&resp.body) {
            return resp.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{path} never reached the expected state: {}",
        app.get(path, token).await.text
    );
}

fn mail_with<'a>(mails: &'a [ReceivedMail], to: &str, subject_part: &str) -> &'a ReceivedMail {
    mails
        .iter()
        .find(|m| m.to.iter().any(|r| r == to) && m.subject.contains(subject_part))
        .unwrap_or_else(|| {
            panic!(
                "no mail to {to} with {subject_part:?}; got {:?}",
                mails
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            )
        })
}

async fn invoicing_needs_a_complete_valid_profile_and_burns_no_numbers(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let got = app.get("/v1/billing-profile", &t.token).await;
    got.assert_status(200);
    assert_eq!(got.body["complete"], false);
    assert!(
        got.body["missing"]
            .as_array()
            .expect("missing")
            .contains(&json!("iban"))
    );
    // Invalid fields: the IBAN's check digits, the VAT id, the number pattern.
    let mut bad = profile();
    bad["iban"] = json!("DE89370400440532013001");
    bad["vat_id"] = json!("DE12345");
    bad["invoice_number_pattern"] = json!("RE-{YYYY}");
    let refused = put_profile(&app, &t, &bad, Some("\"0\"")).await;
    refused.assert_problem(422, "validation_failed");
    let pointers: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/iban")
            && pointers.contains(&"/vat_id")
            && pointers.contains(&"/invoice_number_pattern"),
        "{pointers:?}"
    );
    assert_eq!(
        app.get("/v1/billing-profile", &t.token).await.body["version"],
        0
    );
    // A partial profile saves; invoicing is refused until it is complete.
    let partial = put_profile(
        &app,
        &t,
        &json!({"legal_name": "Fenster Müller GmbH"}),
        Some("\"0\""),
    )
    .await;
    partial.assert_status(200);
    assert_eq!(partial.body["complete"], false);
    let order = order_for(
        &app,
        &t,
        json!({"name": "Jana Becker", "email": "jana@example.com"}),
    )
    .await;
    let draft = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "2", "HUR", "65.00", "19")]}),
    )
    .await;
    draft.assert_status(201);
    let id = draft.body["id"].as_str().expect("id").to_owned();
    issue(&app, &t.token, &id)
        .await
        .assert_problem(422, "billing_profile_incomplete");
    // Changing it needs If-Match ("0" was the ETag before the first save).
    put_profile(&app, &t, &profile(), None)
        .await
        .assert_problem(428, "precondition_required");
    put_profile(&app, &t, &profile(), Some("\"7\""))
        .await
        .assert_problem(412, "precondition_failed");
    let complete = put_profile(&app, &t, &profile(), Some("\"1\"")).await;
    complete.assert_status(200);
    assert_eq!(complete.body["complete"], true);
    assert_eq!(
        complete.body["profile"]["legal_name"],
        "Fenster Müller GmbH"
    );
    assert_eq!(
        complete.body["profile"]["iban"],
        "DE89 3704 0044 0532 0130 00"
    );
    assert_eq!(complete.etag(), "\"2\"");
    let issued = issue(&app, &t.token, &id).await;
    issued.assert_status(200);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(
        issued.body["number"],
        format!("RE-{year}-00001"),
        "the refused issue burned no number"
    );
    assert_eq!(issued.body["status"], "issued");
    assert_eq!(issued.body["grand_total"], "154.70");
}

/// The end-to-end path: booked on the website, visited and worked on a handheld, invoiced
/// by the server, e-mailed with the PDF, paid, closed.
async fn a_web_booking_worked_in_the_field_is_invoiced_emailed_and_paid(ctx: Ctx) {
    workorders_testkit::require(Tool::EInvoice);
    let server = smtp();
    let app = app_with_mail(&ctx, &server).await;
    let t = app.sign_up().await;
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let (tech, tech_token) = app.user_with_role(&t, "technician").await;
    set_hours(&app, &t.token, &tech, "08:00", "16:00", 0).await;
    for item in [
        json!({"code": "STD-TECH", "kind": "labour", "name": "Monteurstunde", "unit": "HUR", "unit_price": "65.00", "vat_rate": "19", "role": "technician"}),
        json!({"code": "CU-15", "kind": "material", "name": "Kupferrohr 15 mm", "unit": "MTR", "unit_price": "12.50", "vat_rate": "19"}),
        json!({"code": "SEAL", "kind": "material", "name": "Dichtband (Fachbuch-Set)", "unit": "C62", "unit_price": "8.00", "vat_rate": "7"}),
    ] {
        app.post("/v1/catalogue-items", Some(&t.token), &item)
            .await
            .assert_status(201);
    }
    let process = app
        .published_process(&t.token, "Reparatur", json!([
            {"key": "visit", "name": "Repair on site", "responsible": {"role": "technician"}},
            {"key": "invoice", "name": "Invoice", "responsible": {"role": "owner"}, "handling": "create_invoice"},
            {"key": "send", "name": "Send the invoice", "responsible": {"role": "owner"}, "handling": "send_invoice"}
        ]))
        .await;
    let service = app
        .post("/v1/services", Some(&t.token), &json!({"name": "Reparatur", "process_id": process, "step_key": "visit",
            "duration_minutes": 60, "role": "technician", "lead_time_minutes": 60, "horizon_days": 14, "granularity_minutes": 60}))
        .await;
    service.assert_status(201);
    let service = service.body["id"].as_str().expect("id").to_owned();
    let slots = app
        .send(
            Method::GET,
            &format!(
                "/v1/public/{}/services/{service}/slots?postal_code=12203",
                t.slug
            ),
            None,
            None,
            &[],
        )
        .await;
    let start = slots.body["slots"][0]["start"].clone();
    let booked = app
        .send(Method::POST, &format!("/v1/public/{}/bookings", t.slug), None,
            Some(&json!({"service_id": service, "start": start, "consent": true,
                "customer": {"name": "Jana Becker", "email": "jana@example.com", "street": "Ringstraße 4", "postal_code": "12203", "city": "Berlin"}})),
            &[])
        .await;
    booked.assert_status(201);
    let booked_reference = booked.body["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let booked_reference = booked_reference.as_str();
    let orders = app.get("/v1/work-orders?limit=5", &t.token).await;
    let order_id = orders.body["items"][0]["id"]
        .as_str()
        .expect("order")
        .to_owned();
    let order = app
        .get(&format!("/v1/work-orders/{order_id}"), &t.token)
        .await
        .body;
    let appointment = app
        .get(
            &format!("/v1/appointments?work_order_id={order_id}"),
            &t.token,
        )
        .await;
    let appointment_id = appointment.body["items"][0]["id"].clone();
    // In the field: on the way, time, material, done.
    let visit = step_of(&order, "visit")["id"].clone();
    let event = |seq: i64, kind: &str, payload: Value, step: bool| {
        let mut e = json!({"id": Uuid::now_v7(), "device_id": "hh-1", "seq": seq, "occurred_at": "2026-11-20T09:00:00Z",
            "work_order_id": order_id, "type": kind, "payload": payload});
        if step {
            e["step_id"] = visit.clone();
        }
        e
    };
    let pushed = app
        .post("/v1/sync/push", Some(&tech_token), &json!({"events": [
            event(1, "appointment_status", json!({"appointment_id": appointment_id, "status": "en_route"}), false),
            event(2, "step_started", json!({}), true),
            event(3, "time_logged", json!({"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T11:30:00Z"}), true),
            event(4, "material_used", json!({"item_code": "CU-15", "description": "Kupferrohr 15 mm", "quantity": "3", "unit": "MTR"}), true),
            event(5, "material_used", json!({"item_code": "SEAL", "description": "Dichtband", "quantity": "2", "unit": "C62"}), true),
            event(6, "step_completed", json!({}), true),
        ]}))
        .await;
    pushed.assert_status(200);
    for r in pushed.body["results"].as_array().expect("results") {
        assert_eq!(r["status"], "applied", "{r}");
    }
    // The server issues the invoice (create_invoice) and sends it (send_invoice).
    let list = eventually(
        &app,
        &t.token,
        &format!("/v1/invoices?work_order_id={order_id}"),
        |b| b["items"][0]["status"] == "sent",
    )
    .await;
    let inv = &list["items"][0];
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(inv["number"], format!("RE-{year}-00001"));
    assert_eq!(inv["source"], "field");
    // 2.5 h × 65.00 + 3 m × 12.50 = 200.00 at 19 %, 2 × 8.00 = 16.00 at 7 %.
    assert_eq!(inv["computed"]["totals"]["line_total"], "216.00");
    assert_eq!(inv["grand_total"], "255.12");
    let id = inv["id"].as_str().expect("id").to_owned();
    let order = eventually(
        &app,
        &t.token,
        &format!("/v1/work-orders/{order_id}"),
        |o| o["status"] == "invoiced",
    )
    .await;
    assert_eq!(step_of(&order, "invoice")["status"], "done");
    assert_eq!(step_of(&order, "send")["status"], "done");
    // The stored PDF and XML pass the EN 16931 rules.
    let (status, pdf, ct) = bytes(&app, &t.token, &format!("/v1/invoices/{id}/pdf")).await;
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF"));
    validate_einvoice(&pdf, "pdf");
    let (status, xml, _) = bytes(&app, &t.token, &format!("/v1/invoices/{id}/xml")).await;
    assert_eq!(status, 200);
    validate_einvoice(&xml, "xml");
    let mails = server.wait_for_async(3, Duration::from_secs(30)).await;
    let confirmation = mail_with(&mails, "jana@example.com", "Termin");
    let ics = confirmation
        .attachments
        .iter()
        .find(|a| a.filename.ends_with(".ics"))
        .expect("booking confirmation carries an .ics");
    assert!(String::from_utf8_lossy(&ics.bytes).contains("BEGIN:VEVENT"));
    let invoice_mail = mail_with(&mails, "jana@example.com", &format!("RE-{year}-00001"));
    let attached = invoice_mail
        .attachments
        .iter()
        .find(|a| a.content_type.starts_with("application/pdf"))
        .expect("the invoice PDF is attached");
    assert_eq!(
        attached.bytes, pdf,
        "the mail carries the stored PDF unchanged"
    );
    validate_einvoice(&attached.bytes, "pdf");
    let on_the_way = mails
        .iter()
        .find(|m| m.to.iter().any(|r| r == "jana@example.com") && m.subject.contains("auf dem Weg"))
        .unwrap_or_else(|| {
            panic!(
                "on-the-way notice: {:?}",
                mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
            )
        });
    // It links the booking's page with a token of its own (only its hash is stored).
    let prefix = format!("https://orders.example.com/{}/booking/bk_", t.slug);
    let link = on_the_way
        .text
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no link to the booking's page: {}", on_the_way.text));
    let path = link.trim_start_matches("https://orders.example.com");
    let token = path.rsplit('/').next().expect("token");
    assert!(!crate::support::dump_database(&app).await.contains(token));
    let shown = app.client.get(app.url(path)).send().await.expect("page");
    assert_eq!(shown.status().as_u16(), 200);
    let shown = shown.text().await.expect("html");
    assert!(
        shown.contains(booked_reference),
        "the booking's page: {shown}"
    );
    let emails = app
        .get(&format!("/v1/work-orders/{order_id}/emails"), &t.token)
        .await;
    assert!(
        emails
            .body
            .as_array()
            .expect("emails")
            .iter()
            .all(|e| e["status"] == "sent")
    );
    // Paid in two parts: the order closes with the second.
    let paid = app
        .post(
            &format!("/v1/invoices/{id}/payments"),
            Some(&t.token),
            &json!({"amount": "100.00", "paid_on": "2026-11-25"}),
        )
        .await;
    paid.assert_status(201);
    assert_eq!(paid.body["amount_due"], "155.12");
    assert_ne!(paid.body["status"], "paid");
    let rest = app
        .post(
            &format!("/v1/invoices/{id}/payments"),
            Some(&t.token),
            &json!({"amount": "155.12", "paid_on": "2026-11-26", "method": "bank_transfer"}),
        )
        .await;
    rest.assert_status(201);
    assert_eq!(rest.body["status"], "paid");
    assert_eq!(rest.body["payments"].as_array().expect("payments").len(), 2);
    let order = app
        .get(&format!("/v1/work-orders/{order_id}"), &t.token)
        .await;
    assert_eq!(order.body["status"], "closed");
}

async fn numbers_stay_gap_free_under_concurrent_issue(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, order) = billing_tenant(&app).await;
    // A public-sector customer without an e-mail address: its XRechnung cannot be made, so
    // issuing fails after the number was taken — and must burn none.
    let public = order_for(&app, &t, json!({"name": "Stadt Musterhausen", "buyer_reference": "04011000-12345-67",
        "billing_address": {"street": "Rathausplatz 1", "postal_code": "12345", "city": "Musterhausen", "country": "DE"}}))
    .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let o = if i % 4 == 3 { &public } else { &order };
        let d = invoice(
            &app,
            &t,
            o,
            json!({"lines": [line("Montage", "1", "HUR", &format!("{}.00", 50 + i), "19")]}),
        )
        .await;
        d.assert_status(201);
        ids.push((d.body["id"].as_str().expect("id").to_owned(), i % 4 == 3));
    }
    let results = join_all(ids.iter().map(|(id, _)| issue(&app, &t.token, id))).await;
    let mut numbers = Vec::new();
    for ((_, failing), r) in ids.iter().zip(&results) {
        if *failing {
            r.assert_problem(422, "einvoice_incomplete");
        } else {
            r.assert_status(200);
            numbers.push(r.body["number"].as_str().expect("number").to_owned());
        }
    }
    let mut seqs: Vec<u32> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().expect("seq").parse().expect("digits"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=9).collect::<Vec<u32>>(),
        "distinct, consecutive, from 1: {numbers:?}"
    );
    // The next one continues the series.
    let d = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "1", "HUR", "50.00", "19")], "issue": true}),
    )
    .await;
    d.assert_status(201);
    assert!(
        d.body["number"]
            .as_str()
            .expect("number")
            .ends_with("-00010")
    );
}

async fn einvoices_pass_the_en16931_rules_for_every_tax_case(ctx: Ctx) {
    workorders_testkit::require(Tool::EInvoice);
    let app = ctx.app().await;
    let (t, order) = billing_tenant(&app).await;
    let cases = [
        (
            "single rate",
            json!({"lines": [line("Fenster 120x140", "2", "C62", "640.00", "19"), line("Montage", "3.5", "HUR", "65.00", "19")]}),
        ),
        (
            "mixed rates",
            json!({"lines": [line("Fenster", "1", "C62", "640.00", "19"), line("Pflanzen", "4", "C62", "9.99", "7"), line("Export-Ware", "1", "C62", "100.00", "0")]}),
        ),
    ];
    for (name, body) in cases {
        let mut body = body;
        body["issue"] = json!(true);
        let r = invoice(&app, &t, &order, body).await;
        r.assert_status(201);
        let id = r.body["id"].as_str().expect("id");
        let (_, pdf, _) = bytes(&app, &t.token, &format!("/v1/invoices/{id}/pdf")).await;
        validate_einvoice(&pdf, "pdf");
        let (_, xml, _) = bytes(&app, &t.token, &format!("/v1/invoices/{id}/xml")).await;
        validate_einvoice(&xml, "xml");
        eprintln!("{name}: {}", r.body["grand_total"]);
    }
    // Mixed rates: VAT per rate group, rounded per group.
    let mixed = app.get("/v1/invoices?limit=1", &t.token).await;
    let vat = mixed.body["items"][0]["computed"]["vat"]
        .as_array()
        .expect("vat")
        .clone();
    assert_eq!(vat.len(), 3, "{vat:?}");
    // Reverse charge (§13b) for a business customer with a VAT id.
    let business = order_for(&app, &t, json!({"name": "Bau AG", "email": "einkauf@bau.example", "vat_id": "ATU12345678",
        "billing_address": {"street": "Ring 1", "postal_code": "1010", "city": "Wien", "country": "AT"}}))
    .await;
    let rc = invoice(&app, &t, &business, json!({"lines": [line("Montage", "8", "HUR", "65.00", "19")], "treatment": "reverse_charge", "issue": true})).await;
    rc.assert_status(201);
    assert_eq!(rc.body["grand_total"], "520.00");
    assert_eq!(rc.body["computed"]["vat"][0]["category"], "reverse_charge");
    let id = rc.body["id"].as_str().expect("id");
    validate_einvoice(
        &bytes(&app, &t.token, &format!("/v1/invoices/{id}/pdf"))
            .await
            .1,
        "pdf",
    );
    // XRechnung for a public-sector customer (Leitweg-ID).
    let public = order_for(&app, &t, json!({"name": "Stadt Musterhausen", "email": "rechnung@musterhausen.example",
        "buyer_reference": "04011000-12345-67",
        "billing_address": {"street": "Rathausplatz 1", "postal_code": "12345", "city": "Musterhausen", "country": "DE"}}))
    .await;
    let xr = invoice(
        &app,
        &t,
        &public,
        json!({"lines": [line("Wartung", "2", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    xr.assert_status(201);
    assert_eq!(xr.body["xrechnung"], true);
    let id = xr.body["id"].as_str().expect("id");
    let (status, xml, _) = bytes(
        &app,
        &t.token,
        &format!("/v1/invoices/{id}/xml?format=xrechnung"),
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(xml).expect("utf-8");
    assert!(
        text.contains("urn:xeinkauf.de:kosit:xrechnung_3.0") && text.contains("04011000-12345-67")
    );
    // The checker runs the Factur-X EN 16931 rules, which accept only the plain EN 16931
    // specification id; the XRechnung content is checked against them under that id.
    let as_en16931 = text.replace(
        "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
        "urn:cen.eu:en16931:2017",
    );
    validate_einvoice(as_en16931.as_bytes(), "xml");
    let none = bytes(
        &app,
        &t.token,
        &format!(
            "/v1/invoices/{}/xml?format=xrechnung",
            rc.body["id"].as_str().expect("id")
        ),
    )
    .await;
    assert_eq!(none.0, 404, "no XRechnung without a Leitweg-ID");
    // §19 UStG: a small business without VAT.
    let small = app.sign_up().await;
    let mut p = profile();
    p["vat_id"] = Value::Null;
    p["tax_number"] = json!("30/123/45678");
    p["small_business"] = json!(true);
    put_profile(&app, &small, &p, Some("\"0\""))
        .await
        .assert_status(200);
    let o = order_for(
        &app,
        &small,
        json!({"name": "Jana Becker", "email": "jana@example.com"}),
    )
    .await;
    let sb = invoice(
        &app,
        &small,
        &o,
        json!({"lines": [line("Gartenpflege", "3", "HUR", "40.00", "19")], "issue": true}),
    )
    .await;
    sb.assert_status(201);
    assert_eq!(sb.body["grand_total"], "120.00", "no VAT under §19");
    assert_eq!(sb.body["treatment"], "small_business");
    let id = sb.body["id"].as_str().expect("id");
    let (_, pdf, _) = bytes(&app, &small.token, &format!("/v1/invoices/{id}/pdf")).await;
    validate_einvoice(&pdf, "pdf");
    let (_, xml, _) = bytes(&app, &small.token, &format!("/v1/invoices/{id}/xml")).await;
    assert!(String::from_utf8_lossy(&xml).contains("19 UStG"));
}

async fn issued_invoices_are_immutable_and_credit_notes_reverse_them(ctx: Ctx) {
    workorders_testkit::require(Tool::EInvoice);
    let app = ctx.app().await;
    let (t, order) = billing_tenant(&app).await;
    let r = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "2", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let number = r.body["number"].as_str().expect("number").to_owned();
    let etag = r.etag();
    let before = bytes(&app, &t.token, &format!("/v1/invoices/{id}/pdf"))
        .await
        .1;
    app.patch(
        &format!("/v1/invoices/{id}"),
        &t.token,
        Some(&etag),
        &json!({"notes": "changed"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    app.send(
        Method::DELETE,
        &format!("/v1/invoices/{id}"),
        Some(&t.token),
        None,
        &[("if-match", &etag)],
    )
    .await
    .assert_problem(409, "invalid_transition");
    // Not even through SQL.
    let sql = app
        .db
        .pool()
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE invoices SET grand_total = 1 WHERE id = '{id}'"
        )))
        .await;
    let refusal = sql.expect_err("the database refuses to change an issued invoice");
    assert!(
        refusal
            .to_string()
            .contains("issued invoices are immutable"),
        "refused by the immutability trigger, not by something else: {refusal}"
    );
    assert_eq!(
        bytes(&app, &t.token, &format!("/v1/invoices/{id}/pdf"))
            .await
            .1,
        before
    );
    // The correction: a credit note over the whole invoice.
    let note = app
        .post(
            &format!("/v1/invoices/{id}/credit-note"),
            Some(&t.token),
            &json!({"reason": "falsche Anschrift"}),
        )
        .await;
    note.assert_status(201);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(note.body["kind"], "credit_note");
    assert_eq!(note.body["number"], format!("GS-{year}-00001"));
    assert_eq!(note.body["corrects_id"], json!(id));
    assert_eq!(note.body["grand_total"], r.body["grand_total"]);
    let note_id = note.body["id"].as_str().expect("id");
    let (_, xml, _) = bytes(&app, &t.token, &format!("/v1/invoices/{note_id}/xml")).await;
    let xml_text = String::from_utf8_lossy(&xml).to_string();
    assert!(
        xml_text.contains(">381<") && xml_text.contains(&number),
        "type 381 referencing {number}"
    );
    validate_einvoice(&xml, "xml");
    validate_einvoice(
        &bytes(&app, &t.token, &format!("/v1/invoices/{note_id}/pdf"))
            .await
            .1,
        "pdf",
    );
    let original = app.get(&format!("/v1/invoices/{id}"), &t.token).await;
    assert_eq!(original.body["status"], "cancelled");
    assert_eq!(original.body["credited_by_id"], json!(note_id));
    assert_eq!(original.body["amount_due"], "0.00");
    // Cancelled is final.
    app.post(
        &format!("/v1/invoices/{id}/credit-note"),
        Some(&t.token),
        &json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &json!({"amount": "1.00", "paid_on": "2026-11-27"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let listed = app.get("/v1/invoices?kind=credit_note", &t.token).await;
    assert_eq!(listed.body["items"].as_array().expect("items").len(), 1);
}

/// The columns of an issued invoice that may still move on: its status, payments, sending,
/// the credit note reference and the bookkeeping of the row. Everything else is the document.
const INVOICE_COLUMNS_THAT_MAY_CHANGE: [&str; 8] = [
    "status",
    "paid_total",
    "credited_by_id",
    "sent_at",
    "paid_at",
    "cancelled_at",
    "version",
    "updated_at",
];

/// Reads the invoice table's columns from the database itself and tries to change each one of
/// an issued invoice: every column but the few that may move on is refused by the trigger, so a
/// column added later without being frozen fails here.
async fn the_database_refuses_every_change_to_an_issued_invoice(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, order) = billing_tenant(&app).await;
    let r = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "2", "HUR", "65.00", "19")], "issue": true,
               "notes": "Danke"}),
    )
    .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let columns_sql = match app.db.backend() {
        workorders_persistence::Backend::Sqlite => {
            "SELECT name, lower(type) FROM pragma_table_info('invoices')"
        }
        workorders_persistence::Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'invoices'"
        }
    };
    let columns: Vec<(String, String)> = sqlx::query_as(columns_sql)
        .fetch_all(app.db.pool())
        .await
        .expect("columns");
    assert!(columns.len() > 30, "the invoice table read: {columns:?}");
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    for (column, kind) in &columns {
        let changed = if kind.contains("int") {
            format!("{column} + 1")
        } else if column == "credited_by_id" {
            // A credit note reference must point at an invoice: its own id will do.
            "id".to_owned()
        } else {
            format!("COALESCE({column}, '') || 'x'")
        };
        let mut tx = app.db.pool().begin().await.expect("begin");
        let outcome = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE invoices SET {column} = {changed} WHERE id = '{id}'"
        )))
        .execute(&mut *tx)
        .await;
        tx.rollback().await.expect("rollback");
        match outcome {
            Ok(done) => {
                assert_eq!(done.rows_affected(), 1, "{column}: the row was changed");
                allowed.push(column.as_str());
            }
            Err(e) => {
                assert!(
                    e.to_string().contains("issued invoices are immutable"),
                    "{column}: refused by the immutability trigger, not by something else: {e}"
                );
                refused.push(column.as_str());
            }
        }
    }
    allowed.sort_unstable();
    let mut expected = INVOICE_COLUMNS_THAT_MAY_CHANGE.to_vec();
    expected.sort_unstable();
    assert_eq!(
        allowed, expected,
        "only the status columns of an issued invoice may change (refused: {refused:?})"
    );
    for frozen in [
        "treatment",
        "currency",
        "delivery_date",
        "buyer_reference",
        "notes",
        "source",
    ] {
        assert!(refused.contains(&frozen), "{frozen} is frozen at issue");
    }
    let delete = app
        .db
        .pool()
        .execute(sqlx::AssertSqlSafe(format!(
            "DELETE FROM invoices WHERE id = '{id}'"
        )))
        .await
        .expect_err("an issued invoice cannot be deleted");
    assert!(
        delete.to_string().contains("issued invoices are immutable"),
        "{delete}"
    );
    // A draft is still the user's to edit.
    let draft = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "1", "HUR", "65.00", "19")]}),
    )
    .await;
    draft.assert_status(201);
    let draft_id = draft.body["id"].as_str().expect("id");
    app.db
        .pool()
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE invoices SET notes = 'draft note' WHERE id = '{draft_id}'"
        )))
        .await
        .expect("a draft may change");
}

/// Work finished at 00:30 in Berlin (still the day before in UTC) is delivered, invoiced and
/// due by Berlin's calendar: on the invoice the worker issues and on a draft the office makes.
async fn documents_are_dated_in_the_tenants_time_zone(ctx: Ctx) {
    use chrono::TimeZone;
    let berlin = chrono_tz::Europe::Berlin;
    let now = chrono::Utc::now();
    let mut day = now.with_timezone(&berlin).date_naive();
    let half_past_midnight = |d: chrono::NaiveDate| {
        berlin
            .from_local_datetime(&d.and_hms_opt(0, 30, 0).expect("time"))
            .single()
            .expect("unambiguous")
            .with_timezone(&chrono::Utc)
    };
    if half_past_midnight(day) > now {
        day = day.pred_opt().expect("yesterday");
    }
    let at = half_past_midnight(day);
    assert_ne!(at.date_naive(), day, "the instant is on another day in UTC");
    let clock = workorders_persistence::Clock::manual(at);
    let app = {
        let clock = clock.clone();
        ctx.app_with(move |s| {
            s.clock = clock;
            s.mail.poll = Duration::from_millis(100);
        })
        .await
    };
    let t = app.sign_up().await;
    let order = crate::exactly_once::order_to_invoice(&app, &t).await;
    let order_id = order["id"].as_str().expect("id").to_owned();
    // Two hours of work recorded in the field, ending at half past midnight.
    sqlx::query(
        "INSERT INTO field_entries (id, tenant_id, work_order_id, step_id, kind, user_id, device_id, occurred_at, data, created_at) \
         SELECT $1, tenant_id, id, NULL, 'time', $2, 'ipad', $3, $4, $3 FROM work_orders WHERE id = $5",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(&t.owner_id)
    .bind(workorders_persistence::format_instant(at))
    .bind(
        json!({"start": (at - chrono::Duration::hours(2)).to_rfc3339(), "end": at.to_rfc3339()})
            .to_string(),
    )
    .bind(&order_id)
    .execute(app.db.pool())
    .await
    .expect("entry");
    // The office prepares a draft from the finished work before the worker gets to it.
    let second = order_for(
        &app,
        &t,
        json!({"name": "Jana Becker", "email": "jana@example.com",
        "billing_address": {"street": "Ringstraße 4", "postal_code": "12203", "city": "Berlin", "country": "DE"}}),
    )
    .await;
    app.step_action(&t.token, &second, "work", "complete", &[])
        .await
        .assert_status(200);
    let draft = invoice(
        &app,
        &t,
        &second,
        json!({"lines": [line("Montage", "1", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    draft.assert_status(201);
    let expected = day.to_string();
    let due = (day + chrono::Duration::days(14)).to_string();
    assert_eq!(
        draft.body["delivery_date"],
        expected.as_str(),
        "{}",
        draft.text
    );
    assert_eq!(
        draft.body["issue_date"],
        expected.as_str(),
        "{}",
        draft.text
    );
    assert_eq!(draft.body["due_date"], due.as_str(), "{}", draft.text);
    // The worker issues the other order's invoice on its own.
    app.step_action(&t.token, &order, "work", "complete", &[])
        .await
        .assert_status(200);
    let list = eventually(
        &app,
        &t.token,
        &format!("/v1/invoices?work_order_id={order_id}"),
        |list| list["items"][0]["status"] == "issued" || list["items"][0]["status"] == "sent",
    )
    .await;
    let issued = &list["items"][0];
    assert_eq!(issued["delivery_date"], expected.as_str(), "{issued}");
    assert_eq!(issued["issue_date"], expected.as_str(), "{issued}");
    assert_eq!(issued["due_date"], due.as_str(), "{issued}");
    let number = issued["number"].as_str().expect("number");
    assert!(
        number.contains(&day.format("%Y").to_string()),
        "numbered in Berlin's year: {number}"
    );
}

async fn quotes_are_answered_by_the_customer_and_become_the_invoice(ctx: Ctx) {
    let server = smtp();
    let app = app_with_mail(&ctx, &server).await;
    let t = app.sign_up().await;
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let process = app
        .published_process(&t.token, "Fenstertausch", json!([
            {"key": "quote", "name": "Customer accepts the quote", "responsible": {"role": "owner"}},
            {"key": "install", "name": "Install", "responsible": {"role": "owner"}}
        ]))
        .await;
    let customer = app
        .post(
            "/v1/customers",
            Some(&t.token),
            &json!({"name": "Jana Becker", "email": "jana@example.com",
            "sites": [{"street": "Gartenweg 12", "postal_code": "10247", "city": "Berlin"}]}),
        )
        .await;
    let order = app
        .order(
            &t.token,
            &process,
            customer.body["id"].as_str().expect("id"),
        )
        .await
        .body;
    let order_id = order["id"].as_str().expect("id");
    let valid = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    // One line from the catalogue (name, unit, price and rate from the item), one free.
    app.post(
        "/v1/catalogue-items",
        Some(&t.token),
        &json!({"code": "WIN-120", "kind": "material",
        "name": "Fenster 120x140", "unit": "C62", "unit_price": "640.00", "vat_rate": "19"}),
    )
    .await
    .assert_status(201);
    let q = app
        .post(&format!("/v1/work-orders/{order_id}/quotes"), Some(&t.token), &json!({
            "lines": [{"item_code": "WIN-120", "quantity": "2"}, line("Montage", "4", "HUR", "65.00", "19")],
            "valid_until": valid, "step_key": "quote"}))
        .await;
    assert_eq!(q.body["lines"][0]["name"], "Fenster 120x140", "{}", q.text);
    assert_eq!(q.body["lines"][0]["unit_price"], "640.00");
    q.assert_status(201);
    assert_eq!(q.body["status"], "draft");
    let qid = q.body["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(
            &format!("/v1/quotes/{qid}/send"),
            Some(&t.token),
            &json!({}),
        )
        .await;
    sent.assert_status(202);
    let link = sent.body["link"].as_str().expect("link").to_owned();
    assert!(
        link.starts_with("https://orders.example.com/quotes/q_"),
        "the link opens the customer's page: {link}"
    );
    let token = link.rsplit('/').next().expect("token").to_owned();
    let mails = server.wait_for_async(1, Duration::from_secs(30)).await;
    let mail = mail_with(
        &mails,
        "jana@example.com",
        q.body["number"].as_str().expect("number"),
    );
    assert!(
        mail.text.contains(&link),
        "the mail carries the private link"
    );
    let public = app
        .send(
            Method::GET,
            &format!("/v1/public/quotes/{token}"),
            None,
            None,
            &[],
        )
        .await;
    public.assert_status(200);
    assert_eq!(public.body["grand_total"], "1832.60");
    assert_eq!(public.body["company"], "Fenster Müller GmbH");
    app.send(Method::GET, "/v1/public/quotes/q_forged", None, None, &[])
        .await
        .assert_status(404);
    app.send(
        Method::POST,
        &format!("/v1/public/quotes/{token}"),
        None,
        Some(&json!({"decision": "maybe", "name": "J"})),
        &[],
    )
    .await
    .assert_problem(422, "validation_failed");
    let accepted = app
        .send(
            Method::POST,
            &format!("/v1/public/quotes/{token}"),
            None,
            Some(&json!({"decision": "accept", "name": "Jana Becker"})),
            &[],
        )
        .await;
    accepted.assert_status(200);
    assert_eq!(accepted.body["status"], "accepted");
    app.send(
        Method::POST,
        &format!("/v1/public/quotes/{token}"),
        None,
        Some(&json!({"decision": "decline", "name": "Jana Becker"})),
        &[],
    )
    .await
    .assert_problem(409, "quote_answered");
    // Frozen; the waiting step is done; the invoice takes its lines.
    let etag = app.get(&format!("/v1/quotes/{qid}"), &t.token).await.etag();
    app.patch(
        &format!("/v1/quotes/{qid}"),
        &t.token,
        Some(&etag),
        &json!({"lines": [line("x", "1", "C62", "1", "19")], "valid_until": valid}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let order = app
        .get(&format!("/v1/work-orders/{order_id}"), &t.token)
        .await
        .body;
    assert_eq!(step_of(&order, "quote")["status"], "done");
    let history = app
        .get(&format!("/v1/work-orders/{order_id}/history"), &t.token)
        .await;
    assert!(history.text.contains("quote.accepted"));
    let inv = app
        .post(
            &format!("/v1/work-orders/{order_id}/invoices"),
            Some(&t.token),
            &json!({}),
        )
        .await;
    inv.assert_status(201);
    assert_eq!(inv.body["source"], "quote");
    assert_eq!(inv.body["grand_total"], "1832.60");
    // A declined quote and an expired one.
    let q2 = app
        .post(
            &format!("/v1/work-orders/{order_id}/quotes"),
            Some(&t.token),
            &json!({"lines": [line("Zusatz", "1", "C62", "10.00", "19")], "valid_until": valid}),
        )
        .await;
    let q2id = q2.body["id"].as_str().expect("id");
    let link2 = app
        .post(
            &format!("/v1/quotes/{q2id}/send"),
            Some(&t.token),
            &json!({}),
        )
        .await
        .body["link"]
        .as_str()
        .expect("link")
        .to_owned();
    let token2 = link2.rsplit('/').next().expect("token");
    let declined = app
        .send(
            Method::POST,
            &format!("/v1/public/quotes/{token2}"),
            None,
            Some(&json!({"decision": "decline", "name": "Jana Becker", "comment": "zu teuer"})),
            &[],
        )
        .await;
    assert_eq!(declined.body["status"], "declined");
    let past = app
        .post(&format!("/v1/work-orders/{order_id}/quotes"), Some(&t.token), &json!({"lines": [line("Alt", "1", "C62", "10.00", "19")], "valid_until": "2020-01-01"}))
        .await;
    past.assert_problem(422, "validation_failed");
}

async fn bounces_show_on_the_invoice_and_the_order(ctx: Ctx) {
    let server = smtp();
    let app = app_with_mail(&ctx, &server).await;
    let t = app.sign_up().await;
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let to = format!("nobody@{BOUNCE_DOMAIN}");
    let order = order_for(&app, &t, json!({"name": "Jana Becker", "email": to})).await;
    let r = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "1", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().expect("id");
    let queued = app
        .post(
            &format!("/v1/invoices/{id}/send"),
            Some(&t.token),
            &json!({}),
        )
        .await;
    queued.assert_status(202);
    assert_eq!(queued.body["status"], "queued");
    let inv = eventually(&app, &t.token, &format!("/v1/invoices/{id}"), |b| {
        b["emails"][0]["status"] == "failed"
    })
    .await;
    assert!(
        inv["emails"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("550"),
        "{}",
        inv["emails"][0]
    );
    assert_eq!(
        inv["status"], "issued",
        "not sent: the receiving server refused it"
    );
    let order_id = order["id"].as_str().expect("id");
    let mails = app
        .get(&format!("/v1/work-orders/{order_id}/emails"), &t.token)
        .await;
    assert_eq!(mails.body[0]["status"], "failed");
    let history = app
        .get(&format!("/v1/work-orders/{order_id}/history"), &t.token)
        .await;
    assert!(history.text.contains("email.failed"));
    // Sent to a working address instead: delivered, the invoice is sent.
    app.post(
        &format!("/v1/invoices/{id}/send"),
        Some(&t.token),
        &json!({"to": "jana@example.com"}),
    )
    .await
    .assert_status(202);
    eventually(&app, &t.token, &format!("/v1/invoices/{id}"), |b| {
        b["status"] == "sent"
    })
    .await;
    assert_eq!(
        server
            .wait_for_async(1, Duration::from_secs(10))
            .await
            .len(),
        1
    );
    // The operator sees the attempts by result.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("email_send_attempts_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("email_send_attempts_total{result=\"sent\"} 1"));
    assert!(metrics.contains("email_queued_messages"));
}

async fn bad_billing_input_is_refused_and_changes_nothing(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, order) = billing_tenant(&app).await;
    // Lines: bad quantity, unknown unit, bad rate — pointers name each.
    let bad = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [
        {"name": "A", "quantity": "zwei", "unit": "HUR", "unit_price": "1", "vat_rate": "19"},
        {"name": "B", "quantity": "1", "unit": "XXX", "unit_price": "1", "vat_rate": "19"},
        {"name": "C", "quantity": "1", "unit": "HUR", "unit_price": "1", "vat_rate": "16"}]}),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    let pointers: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/lines/0/quantity", "/lines/1/unit", "/lines/2/vat_rate"]
    );
    // Catalogue lines need a known code; free lines need what a catalogue item would give.
    let bad = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [
        {"item_code": "NOPE", "quantity": "1"},
        {"name": "Frei", "quantity": "1", "unit_price": "1", "vat_rate": "19"}]}),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    let pointers: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(pointers, ["/lines/0/item_code", "/lines/1/unit"]);
    // Nothing to invoice from the field, no labour rate.
    invoice(&app, &t, &order, json!({}))
        .await
        .assert_problem(422, "nothing_to_invoice");
    assert_eq!(
        app.get("/v1/invoices", &t.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    // Catalogue: duplicate code, bad price.
    let item = json!({"code": "CU-15", "kind": "material", "name": "Kupferrohr", "unit": "MTR", "unit_price": "12.50"});
    app.post("/v1/catalogue-items", Some(&t.token), &item)
        .await
        .assert_status(201);
    app.post("/v1/catalogue-items", Some(&t.token), &item)
        .await
        .assert_problem(409, "code_taken");
    let mut cheap = item.clone();
    cheap["code"] = json!("X");
    cheap["unit_price"] = json!("-1");
    app.post("/v1/catalogue-items", Some(&t.token), &cheap)
        .await
        .assert_problem(422, "validation_failed");
    // Payments: over the open amount, not positive.
    let r = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "1", "HUR", "100.00", "19")], "issue": true}),
    )
    .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &json!({"amount": "119.01", "paid_on": "2026-11-27"}),
    )
    .await
    .assert_problem(422, "invalid_payment");
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &json!({"amount": "0", "paid_on": "2026-11-27"}),
    )
    .await
    .assert_problem(422, "invalid_payment");
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &json!({"amount": "1.001", "paid_on": "2026-11-27"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &json!({"amount": "1.00", "paid_on": tomorrow}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let after = app.get(&format!("/v1/invoices/{id}"), &t.token).await;
    assert_eq!(after.body["paid_total"], "0.00");
    assert_eq!(
        after.body["payments"].as_array().expect("payments").len(),
        0
    );
    // A draft has no documents; sending needs an address.
    let draft = invoice(
        &app,
        &t,
        &order,
        json!({"lines": [line("Montage", "1", "HUR", "100.00", "19")]}),
    )
    .await;
    let draft_id = draft.body["id"].as_str().expect("id");
    assert_eq!(
        bytes(&app, &t.token, &format!("/v1/invoices/{draft_id}/pdf"))
            .await
            .0,
        409
    );
    app.post(
        &format!("/v1/invoices/{id}/send"),
        Some(&t.token),
        &json!({"to": "not an address"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Other tenants see nothing; technicians may not bill.
    let other = app.sign_up().await;
    app.get(&format!("/v1/invoices/{id}"), &other.token)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        bytes(&app, &other.token, &format!("/v1/invoices/{id}/pdf"))
            .await
            .0,
        404
    );
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&other.token),
        &json!({"amount": "1.00", "paid_on": "2026-11-27"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/invoices", &other.token).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    let (_, tech) = app.user_with_role(&t, "technician").await;
    app.get("/v1/invoices", &tech)
        .await
        .assert_problem(403, "forbidden");
    // Filters.
    app.get("/v1/invoices?status=bogus", &t.token)
        .await
        .assert_problem(400, "invalid_query");
    let issued = app.get("/v1/invoices?status=issued", &t.token).await;
    assert_eq!(issued.body["items"].as_array().expect("items").len(), 1);
    let overdue = app.get("/v1/invoices?overdue=true", &t.token).await;
    assert_eq!(
        overdue.body["items"].as_array().expect("items").len(),
        0,
        "due in 14 days"
    );
}
