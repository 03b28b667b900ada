//! The customer's pages (`crates/web`): the hosted booking page and the booking's private
//! page, over plain HTTP (headers, refusals, nothing stored on bad input) and in a real
//! headless browser (`tests/browser/booking_flow.py`: book, double submit, reschedule,
//! cancel; with JavaScript on and off, desktop and 360 px, German and English, axe-core on
//! every page).

use reqwest::Method;
use serde_json::Value;

use crate::billing::{line, order_for, profile, put_profile};
use crate::booking::bookable;
use crate::browser::run_browser_script;
use crate::support::{Ctx, Tenant, TestApp};
use crate::tests;

tests!(
    moving_or_cancelling_a_booking_emails_a_calendar_file_that_follows,
    the_widget_snippet_books_from_the_company_website_only,
    a_customer_accepts_a_quote_in_a_browser,
    the_quote_page_refuses_forged_empty_and_second_answers,
    the_pages_share_the_public_rate_limits_with_the_json_endpoints,
    the_booking_pages_are_safe_html_and_refuse_bad_input_without_storing_it,
    a_customer_books_reschedules_and_cancels_in_a_browser,
    a_customer_pays_an_invoice_from_its_page,
    no_page_answers_a_server_error_to_any_input,
);

async fn page(app: &TestApp, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
    let mut request = app.client.request(method, app.url(path));
    if let Some(form) = form {
        request = request.form(form);
    }
    let response = request.send().await.expect("page answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Page {
        status,
        headers,
        body,
    }
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn assert_html(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.header("content-type").starts_with("text/html"),
            "{}",
            self.header("content-type")
        );
    }
}

/// The bookings (web-booking contacts) the tenant has.
async fn web_contacts(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let listed = app
        .send(
            Method::GET,
            "/v1/customers?source=web_booking",
            Some(&t.token),
            None,
            &[],
        )
        .await;
    listed.assert_status(200);
    listed.body["items"].as_array().cloned().unwrap_or_default()
}

async fn the_booking_pages_are_safe_html_and_refuse_bad_input_without_storing_it(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, service) = bookable(&app, "00:00", "24:00").await;

    // The company's page: its services, a strict policy, framed by nobody (no website
    // origins configured yet).
    let services = page(&app, Method::GET, &format!("/{}/book", t.slug), None).await;
    services.assert_html(200);
    assert!(services.body.contains("Kostenvoranschlag vor Ort"));
    assert!(services.body.contains("<html lang=\"de\""));
    let csp = services.header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(services.header("x-frame-options"), "DENY");
    assert_eq!(
        services.body.matches("<script").count(),
        services
            .body
            .matches("<script src=\"/assets/frame.js\" defer></script>")
            .count(),
        "no inline script: only the widget's height reporter"
    );

    // With website origins, exactly those may frame the pages.
    app.patch(
        "/v1/tenant",
        &t.token,
        Some("\"1\""),
        &serde_json::json!({"website_origins": ["https://www.fenster-beispiel.de"]}),
    )
    .await
    .assert_status(200);
    let framed = page(&app, Method::GET, &format!("/{}/book", t.slug), None).await;
    assert!(
        framed
            .header("content-security-policy")
            .contains("frame-ancestors https://www.fenster-beispiel.de"),
        "{}",
        framed.header("content-security-policy")
    );
    assert_eq!(framed.header("x-frame-options"), "");

    // English by the browser's language, and by the switch.
    let english = app
        .client
        .get(app.url(&format!("/{}/book", t.slug)))
        .header("accept-language", "en-GB,en;q=0.9,de;q=0.5")
        .send()
        .await
        .expect("page");
    assert!(
        english
            .text()
            .await
            .expect("body")
            .contains("<html lang=\"en\"")
    );

    // The free times for a postal code in the service area, and not outside it.
    let times = page(
        &app,
        Method::GET,
        &format!("/{}/book/{service}?postal_code=12203", t.slug),
        None,
    )
    .await;
    times.assert_html(200);
    assert!(times.body.contains("class=\"time\""), "no times offered");
    let outside = page(
        &app,
        Method::GET,
        &format!("/{}/book/{service}?postal_code=80331&lang=en", t.slug),
        None,
    )
    .await;
    outside.assert_html(200);
    assert!(
        outside
            .body
            .contains("we do not offer this service at this postal code")
    );

    // Unknown company, service and booking: an HTML page saying so, not JSON.
    for path in [
        "/no-such-company/book".to_owned(),
        format!("/{}/book/{}", t.slug, uuid::Uuid::nil()),
        format!("/{}/book/not-a-uuid", t.slug),
        format!("/{}/booking/bk_unknown", t.slug),
        format!("/{}/booking/bk_unknown/calendar.ics", t.slug),
    ] {
        let missing = page(&app, Method::GET, &path, None).await;
        missing.assert_html(404);
    }

    // A form without its secret, an invalid one, and one with bad fields: refused with a
    // page that says what is wrong; nothing is stored.
    let start = {
        let href = times
            .body
            .split("start=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .expect("a time link");
        percent_decode(href)
    };
    let action = format!("/{}/book/{service}", t.slug);
    let expired = page(
        &app,
        Method::POST,
        &action,
        Some(&[("start", start.as_str()), ("form", "forged")]),
    )
    .await;
    expired.assert_html(400);
    let secret = "bf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let invalid = page(
        &app,
        Method::POST,
        &action,
        Some(&[
            ("start", start.as_str()),
            ("form", secret),
            ("name", "Erika\u{0007}Mustermann"),
            ("email", "not an address"),
            ("street", "Gartenweg 5"),
            ("postal_code", "12203"),
            ("city", "Berlin\nMitte"),
            ("consent", "yes"),
        ]),
    )
    .await;
    invalid.assert_html(422);
    for field in ["name-error", "email-error", "city-error"] {
        assert!(invalid.body.contains(field), "{field} not marked");
    }
    assert!(
        !invalid.body.contains("street-error"),
        "a good field is not marked"
    );
    assert!(web_contacts(&app, &t).await.is_empty(), "nothing stored");

    // A good form books once; the same form again leads to the same booking.
    let good = [
        ("start", start.as_str()),
        ("form", secret),
        ("name", "Erika Mustermann"),
        ("email", "erika@example.com"),
        ("street", "Gartenweg 5"),
        ("postal_code", "12203"),
        ("city", "Berlin"),
        ("notes", "Drei Fenster"),
        ("consent", "yes"),
    ];
    let booked = page(&app, Method::POST, &action, Some(&good)).await;
    assert_eq!(booked.status, 303, "{}", booked.body);
    let location = booked.header("location").to_owned();
    assert!(
        location.starts_with(&format!("/{}/booking/bk_", t.slug)),
        "{location}"
    );
    let again = page(&app, Method::POST, &action, Some(&good)).await;
    assert_eq!(again.status, 303);
    assert_eq!(
        again.header("location").split('?').next(),
        location.split('?').next()
    );
    assert_eq!(web_contacts(&app, &t).await.len(), 1, "one booking");
    // The order is titled by what the customer asked for.
    let orders = app.get("/v1/work-orders?channel=web", &t.token).await;
    orders.assert_status(200);
    assert_eq!(
        orders.body["items"][0]["title"],
        "Kostenvoranschlag vor Ort – Drei Fenster"
    );

    // The private page: no caching, no referrer; its forms refuse another link's token.
    let status = page(&app, Method::GET, &location, None).await;
    status.assert_html(200);
    assert_eq!(status.header("cache-control"), "no-store");
    assert_eq!(status.header("referrer-policy"), "no-referrer");
    assert!(status.body.contains("Tim"), "who comes, by first name");
    assert!(!status.body.contains("Technik"), "never the surname");
    let base = location.split('?').next().expect("path");
    let forged = page(
        &app,
        Method::POST,
        &format!("{base}/cancel"),
        Some(&[("csrf", "forged"), ("reason", "")]),
    )
    .await;
    forged.assert_html(403);
    let token = base.rsplit('/').next().expect("token");
    let still = app
        .send(
            Method::GET,
            &format!("/v1/public/{}/bookings/{token}", t.slug),
            None,
            None,
            &[],
        )
        .await;
    still.assert_status(200);
    assert_eq!(
        still.body["status"], "confirmed",
        "the forged cancel did nothing"
    );

    // The calendar file of the appointment.
    let ics = page(&app, Method::GET, &format!("{base}/calendar.ics"), None).await;
    assert_eq!(ics.status, 200);
    assert!(ics.header("content-type").starts_with("text/calendar"));
    assert!(ics.body.starts_with("BEGIN:VCALENDAR"));

    // The stylesheet is ours and small.
    let css = page(&app, Method::GET, "/assets/web.css", None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.body.len() < 50_000);
}

async fn the_pages_share_the_public_rate_limits_with_the_json_endpoints(ctx: Ctx) {
    let app = ctx.app_with(|s| s.public_per_ip_per_minute = 4).await;
    let (t, _, _) = bookable(&app, "00:00", "24:00").await;
    // Two pages and two JSON requests use up the budget of this client address ...
    for _ in 0..2 {
        page(&app, Method::GET, &format!("/{}/book", t.slug), None)
            .await
            .assert_html(200);
        app.send(
            Method::GET,
            &format!("/v1/public/{}/services", t.slug),
            None,
            None,
            &[],
        )
        .await
        .assert_status(200);
    }
    // ... so the next page is refused with a page that says so, and the JSON endpoint too.
    let refused = page(&app, Method::GET, &format!("/{}/book", t.slug), None).await;
    refused.assert_html(429);
    assert!(
        refused
            .header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s > 0)
    );
    assert!(
        refused.body.contains("Zu viele Anfragen"),
        "{}",
        refused.body
    );
    app.send(
        Method::GET,
        &format!("/v1/public/{}/services", t.slug),
        None,
        None,
        &[],
    )
    .await
    .assert_status(429);
    // The stylesheet is not counted.
    let css = page(&app, Method::GET, "/assets/web.css", None).await;
    assert_eq!(css.status, 200);
}

/// The value of `name` in a calendar file (unfolded lines are short here).
fn ics_value(ics: &str, name: &str) -> String {
    ics.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {ics}"))
        .trim()
        .to_owned()
}

async fn moving_or_cancelling_a_booking_emails_a_calendar_file_that_follows(ctx: Ctx) {
    let server = crate::support::smtp();
    let app = crate::billing::app_with_mail(&ctx, &server).await;
    let (t, _, service) = bookable(&app, "00:00", "24:00").await;
    let booked = crate::booking::book_first(&app, &t, &service, "kunde@example.com").await;
    let token = booked["token"].as_str().expect("token").to_owned();
    let free = crate::booking::slots(&app, &t.slug, &service).await;
    let old_start = booked["booking"]["appointment"]["start"].clone();
    let new_start = free
        .iter()
        .map(|s| s["start"].clone())
        .find(|s| *s != old_start)
        .expect("another free start");
    // Moved on the customer's page, cancelled through the JSON endpoint: both e-mail.
    let status = format!("/{}/booking/{token}", t.slug);
    let csrf = {
        let shown = page(&app, Method::GET, &status, None).await;
        shown
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("csrf")
            .to_owned()
    };
    let moved = page(
        &app,
        Method::POST,
        &format!("{status}/reschedule"),
        Some(&[
            ("csrf", csrf.as_str()),
            ("start", new_start.as_str().expect("start")),
        ]),
    )
    .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    app.post(
        &format!("/v1/public/{}/bookings/{token}/cancel", t.slug),
        None,
        &serde_json::json!({"reason": "umgezogen"}),
    )
    .await
    .assert_status(200);
    let mails = server
        .wait_for_async(3, std::time::Duration::from_secs(30))
        .await;
    let calendar = |subject: &str| {
        let mail = mails
            .iter()
            .find(|m| m.subject.starts_with(subject))
            .unwrap_or_else(|| {
                panic!(
                    "no mail {subject:?}: {:?}",
                    mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
                )
            });
        assert!(
            mail.text.contains(&format!("/{}/booking/{token}", t.slug)),
            "the mail links the booking's page: {}",
            mail.text
        );
        let ics = mail
            .attachments
            .iter()
            .find(|a| a.filename.ends_with(".ics"))
            .expect("a calendar file");
        (
            ics.content_type.clone(),
            String::from_utf8(ics.bytes.clone()).expect("utf-8"),
        )
    };
    let (_, confirmed) = calendar("Terminbestätigung");
    let (moved_type, moved) = calendar("Termin verschoben");
    let (cancelled_type, cancelled) = calendar("Termin abgesagt");
    let uid = ics_value(&confirmed, "UID");
    assert_eq!(ics_value(&moved, "UID"), uid, "the same calendar entry");
    assert_eq!(ics_value(&cancelled, "UID"), uid);
    let sequence = |ics: &str| ics_value(ics, "SEQUENCE").parse::<i64>().expect("number");
    assert!(sequence(&moved) > sequence(&confirmed));
    assert!(sequence(&cancelled) > sequence(&moved));
    assert_eq!(ics_value(&moved, "METHOD"), "PUBLISH");
    assert!(moved_type.contains("method=PUBLISH"));
    let new_dtstart = chrono::DateTime::parse_from_rfc3339(new_start.as_str().expect("start"))
        .expect("instant")
        .with_timezone(&chrono::Utc)
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    assert_eq!(ics_value(&moved, "DTSTART"), new_dtstart, "the new time");
    assert_eq!(ics_value(&cancelled, "METHOD"), "CANCEL");
    assert_eq!(ics_value(&cancelled, "STATUS"), "CANCELLED");
    assert!(cancelled_type.contains("method=CANCEL"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn the_widget_snippet_books_from_the_company_website_only(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, _) = bookable(&app, "00:00", "24:00").await;
    let (allowed, refused) = (free_port(), free_port());
    app.patch(
        "/v1/tenant",
        &t.token,
        Some("\"1\""),
        &serde_json::json!({"website_origins": [format!("http://127.0.0.1:{allowed}")]}),
    )
    .await
    .assert_status(200);
    let embed = page(&app, Method::GET, "/embed.js", None).await;
    assert_eq!(embed.status, 200);
    assert!(embed.header("content-type").starts_with("text/javascript"));
    let backend = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let out = run_browser_script(
        "embed_flow.py",
        &[
            "--base",
            &app.address,
            "--tenant",
            &t.slug,
            "--service-name",
            "Kostenvoranschlag vor Ort",
            "--postal-code",
            "12203",
            "--allowed-port",
            &allowed.to_string(),
            "--refused-port",
            &refused.to_string(),
            "--shots",
            &format!("{backend}-embed"),
        ],
    )
    .await;
    let result: Value = serde_json::from_str(out.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the script's result is JSON ({e}): {out}"));
    assert_eq!(result["refused"], true);
    let token = result["status_path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("status path");
    let booking = app
        .send(
            Method::GET,
            &format!("/v1/public/{}/bookings/{token}", t.slug),
            None,
            None,
            &[],
        )
        .await;
    booking.assert_status(200);
    assert_eq!(booking.body["status"], "confirmed");
}

/// A company with a complete billing profile and a quote sent to the customer (2 windows at
/// 640.00 and 4 hours at 65.00, 19 % VAT: 1,832.60 in total); the quote's page path.
pub(crate) async fn sent_quote(app: &TestApp) -> (Tenant, String) {
    let t = app.sign_up().await;
    put_profile(app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let order = order_for(
        app,
        &t,
        serde_json::json!({"name": "Erika Mustermann", "email": "erika@example.com"}),
    )
    .await;
    let valid = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let quote = app
        .post(
            &format!(
                "/v1/work-orders/{}/quotes",
                order["id"].as_str().expect("id")
            ),
            Some(&t.token),
            &serde_json::json!({"lines": [line("Fenster 120x140", "2", "C62", "640.00", "19"),
                line("Montage", "4", "HUR", "65.00", "19")], "valid_until": valid}),
        )
        .await;
    quote.assert_status(201);
    let sent = app
        .post(
            &format!("/v1/quotes/{}/send", quote.body["id"].as_str().expect("id")),
            Some(&t.token),
            &serde_json::json!({}),
        )
        .await;
    sent.assert_status(202);
    let link = sent.body["link"].as_str().expect("link");
    let path = link
        .find("/quotes/")
        .map(|i| link[i..].to_owned())
        .expect("a page link");
    (t, path)
}

async fn quote_status(app: &TestApp, path: &str) -> Value {
    let token = path.rsplit('/').next().expect("token");
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
    public.body["status"].clone()
}

async fn a_customer_accepts_a_quote_in_a_browser(ctx: Ctx) {
    let app = ctx.app().await;
    let backend = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    for (width, javascript, branded) in [("1280", "on", false), ("360", "off", true)] {
        let (t, path) = sent_quote(&app).await;
        let url = app.url(&format!("{path}?lang=de"));
        let shots = format!("{backend}-{width}px-js-{javascript}-quote");
        let mut args = vec![
            "--url",
            &url,
            "--total",
            "1.832,60 €",
            "--width",
            width,
            "--javascript",
            javascript,
            "--shots",
            &shots,
        ];
        // A light accent colour (too light for links on white) with a logo and legal
        // links: axe checks the contrast of what the page derives from it.
        let imprint = "https://www.fenster-beispiel.de/impressum";
        if branded {
            crate::branding::brand(&app, &t, "#ffd400").await;
            args.extend(["--brand", "#ffd400", "--imprint", imprint]);
        }
        let out = run_browser_script("quote_flow.py", &args).await;
        let result: Value = serde_json::from_str(out.trim().lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the script's result is JSON ({e}): {out}"));
        assert_eq!(result["lines"], 2);
        if branded {
            assert_eq!(result["brand"]["fill"], "#ffd400", "{out}");
            assert_eq!(result["brand"]["text"], "#1a1a1a", "{out}");
        }
        assert_eq!(quote_status(&app, &path).await, "accepted");
    }
}

async fn the_quote_page_refuses_forged_empty_and_second_answers(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, path) = sent_quote(&app).await;
    // The quote link's JSON endpoint answers the company's own website from a browser
    // (found through the quote's token, not taken for a company slug), nobody else.
    app.patch(
        "/v1/tenant",
        &t.token,
        Some("\"1\""),
        &serde_json::json!({"website_origins": ["https://www.fenster-beispiel.de"]}),
    )
    .await
    .assert_status(200);
    let token = path.rsplit('/').next().expect("token");
    for (origin, allowed) in [
        ("https://www.fenster-beispiel.de", true),
        ("https://evil.example", false),
    ] {
        let answer = app
            .send(
                Method::GET,
                &format!("/v1/public/quotes/{token}"),
                None,
                None,
                &[("origin", origin)],
            )
            .await;
        answer.assert_status(200);
        let header = answer
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(header == origin, allowed, "{origin}: {header:?}");
    }
    let shown = page(&app, Method::GET, &path, None).await;
    shown.assert_html(200);
    assert!(shown.body.contains("1.832,60 €"), "{}", shown.body);
    assert!(shown.body.contains("Fensterbau") || shown.body.contains("Fenster Müller GmbH"));
    assert_eq!(shown.header("cache-control"), "no-store");
    // The quote as a PDF to keep: its number, the total, the validity; no bank details.
    assert!(shown.body.contains(&format!("href=\"{path}/pdf\"")));
    let (status, kind, disposition, pdf) = download(&app, &format!("{path}/pdf")).await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    assert!(
        disposition.starts_with("attachment; filename=\"AN-"),
        "{disposition}"
    );
    let text = pdf_text(&pdf);
    for expected in ["Angebot AN-", "1.832,60 €", "Gültig bis"] {
        assert!(
            text.contains(expected),
            "{expected} in the quote's PDF:\n{text}"
        );
    }
    assert!(!text.contains("IBAN"), "{text}");
    let (status, _, _, _) = download(
        &app,
        "/quotes/q_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/pdf",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        shown
            .header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    let csrf = shown
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's CSRF token")
        .to_owned();
    let answer = format!("{path}/answer");
    let forged = page(
        &app,
        Method::POST,
        &answer,
        Some(&[
            ("csrf", "forged"),
            ("decision", "accept"),
            ("name", "Mallory"),
        ]),
    )
    .await;
    forged.assert_html(403);
    let empty = page(
        &app,
        Method::POST,
        &answer,
        Some(&[("csrf", &csrf), ("decision", "accept"), ("name", "  ")]),
    )
    .await;
    empty.assert_html(422);
    assert!(empty.body.contains("Bitte geben Sie Ihren Namen an"));
    assert_eq!(
        quote_status(&app, &path).await,
        "sent",
        "nothing was decided"
    );
    let declined = page(
        &app,
        Method::POST,
        &answer,
        Some(&[
            ("csrf", &csrf),
            ("decision", "decline"),
            ("name", "Erika Mustermann"),
            ("comment", "Zu teuer"),
        ]),
    )
    .await;
    assert_eq!(declined.status, 303, "{}", declined.body);
    assert_eq!(quote_status(&app, &path).await, "declined");
    let again = page(
        &app,
        Method::POST,
        &answer,
        Some(&[
            ("csrf", &csrf),
            ("decision", "accept"),
            ("name", "Erika Mustermann"),
        ]),
    )
    .await;
    again.assert_html(409);
    assert!(again.body.contains("bereits geantwortet"));
    assert_eq!(
        quote_status(&app, &path).await,
        "declined",
        "the answer is final"
    );
    page(&app, Method::GET, "/quotes/q_unknown", None)
        .await
        .assert_html(404);
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

async fn a_customer_books_reschedules_and_cancels_in_a_browser(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, _) = bookable(&app, "00:00", "24:00").await;
    let backend = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    for (width, javascript, lang, email) in [
        ("1280", "on", "de", "desktop@example.com"),
        ("360", "off", "en", "phone@example.com"),
    ] {
        let shots = format!("{backend}-{width}px-js-{javascript}-{lang}");
        let out = run_browser_script(
            "booking_flow.py",
            &[
                "--base",
                &app.address,
                "--tenant",
                &t.slug,
                "--service-name",
                "Kostenvoranschlag vor Ort",
                "--postal-code",
                "12203",
                "--width",
                width,
                "--javascript",
                javascript,
                "--lang",
                lang,
                "--email",
                email,
                "--shots",
                &shots,
            ],
        )
        .await;
        let result: Value = serde_json::from_str(out.trim().lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the script's result is JSON ({e}): {out}"));
        let token = result["status_path"]
            .as_str()
            .and_then(|p| p.rsplit('/').next())
            .expect("status path")
            .to_owned();
        // What the customer did is what the company sees.
        let booking = app
            .send(
                Method::GET,
                &format!("/v1/public/{}/bookings/{token}", t.slug),
                None,
                None,
                &[],
            )
            .await;
        booking.assert_status(200);
        assert_eq!(booking.body["status"], "cancelled", "{}", booking.body);
        assert_eq!(booking.body["reference"], result["reference"]);
        let moved_to: chrono::DateTime<chrono::Utc> = result["moved_to"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("moved_to");
        let start: chrono::DateTime<chrono::Utc> = booking.body["appointment"]["start"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("start");
        assert_eq!(start, moved_to, "rescheduled to the chosen time");
    }
    let contacts = web_contacts(&app, &t).await;
    assert_eq!(contacts.len(), 2, "one booking per run: {contacts:?}");
}

/// What the GiroCode of an invoice of the test profile must say (EPC069-12 v002).
fn girocode_for(number: &str, amount: &str) -> String {
    format!(
        "BCD\n002\n1\nSCT\nCOBADEFFXXX\nFenster Müller GmbH\n{}\nEUR{amount}\n\n\n{number}",
        crate::billing::IBAN.replace(' ', "")
    )
}

/// The text of a PDF (`pdftotext`).
fn pdf_text(pdf: &[u8]) -> String {
    workorders_testkit::require(workorders_testkit::Tool::PdfToText);
    let file = std::env::temp_dir().join(format!("page-{}.pdf", uuid::Uuid::now_v7()));
    std::fs::write(&file, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GET of a customer's download: status, content type, disposition, bytes.
async fn download(app: &TestApp, path: &str) -> (u16, String, String, Vec<u8>) {
    let response = app.client.get(app.url(path)).send().await.expect("answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, kind, disposition) = (
        response.status().as_u16(),
        header("content-type"),
        header("content-disposition"),
    );
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, kind, disposition, bytes)
}

async fn a_customer_pays_an_invoice_from_its_page(ctx: Ctx) {
    let server = crate::support::smtp();
    let app = crate::billing::app_with_mail(&ctx, &server).await;
    let backend = if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let t = app.sign_up().await;
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    let order = order_for(
        &app,
        &t,
        serde_json::json!({"name": "Erika Mustermann", "email": "erika@example.com"}),
    )
    .await;
    let created = crate::billing::invoice(
        &app,
        &t,
        &order,
        serde_json::json!({"lines": [line("Fenster 120x140", "2", "C62", "640.00", "19"),
                line("Montage", "4", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let number = created.body["number"].as_str().expect("number").to_owned();
    app.post(
        &format!("/v1/invoices/{id}/send"),
        Some(&t.token),
        &serde_json::json!({}),
    )
    .await
    .assert_status(202);
    let mails = server
        .wait_for_async(1, std::time::Duration::from_secs(30))
        .await;
    let mail = &mails[0];
    assert!(
        mail.attachments
            .iter()
            .any(|a| a.filename.ends_with(".pdf")),
        "the PDF stays attached"
    );
    // The link in the e-mail: the server's public address, a private token.
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.starts_with("https://orders.example.com/invoices/in_"))
        .unwrap_or_else(|| panic!("no invoice link in the e-mail: {}", mail.text))
        .to_owned();
    let path = link
        .trim_start_matches("https://orders.example.com")
        .to_owned();
    let token = path.rsplit('/').next().expect("token").to_owned();
    assert!(token.len() >= 40, "a 256-bit token: {token}");
    assert!(
        !crate::support::dump_database(&app).await.contains(&token),
        "only the token's hash is stored"
    );

    // The page: HTML, never cached, the strict policy, the invoice's facts.
    let shown = page(&app, Method::GET, &format!("{path}?lang=de"), None).await;
    shown.assert_html(200);
    assert_eq!(shown.header("cache-control"), "no-store");
    assert!(
        shown
            .header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    for text in [
        number.as_str(),
        "Offen",
        "DE89 3704 0044 0532 0130 00",
        "1.832,60 €",
        "<svg",
    ] {
        assert!(
            shown.body.contains(text),
            "{text} on the page: {}",
            shown.body
        );
    }
    assert!(
        !shown.body.contains("/xrechnung"),
        "no XRechnung without a Leitweg-ID"
    );
    // Light: the page with its inline GiroCode stays far below the 50 KB a page may weigh.
    assert!(shown.body.len() < 50_000, "{} bytes", shown.body.len());
    eprintln!("invoice page: {} bytes", shown.body.len());

    // The documents, byte for byte as issued (the signed-in API gives the same bytes).
    let (status, kind, disposition, pdf) = download(&app, &format!("{path}/pdf")).await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    let (_, api_pdf, _) = {
        let r = app
            .client
            .get(app.url(&format!("/v1/invoices/{id}/pdf")))
            .bearer_auth(&t.token)
            .send()
            .await
            .expect("pdf");
        (
            r.status().as_u16(),
            r.bytes().await.expect("pdf").to_vec(),
            (),
        )
    };
    assert_eq!(pdf, api_pdf, "the issued PDF, unchanged");
    let (status, kind, _, xml) = download(&app, &format!("{path}/xml")).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/xml; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&xml).contains(&number));
    let (status, _, _, _) = download(&app, &format!("{path}/xrechnung")).await;
    assert_eq!(status, 404, "no XRechnung was produced");

    // The GiroCode on the PDF says exactly what the customer's bank needs.
    workorders_testkit::require(workorders_testkit::Tool::PdfToText);
    let file = std::env::temp_dir().join(format!("invoice-page-{}.pdf", uuid::Uuid::now_v7()));
    std::fs::write(&file, &pdf).expect("write");
    let on_pdf = workorders_testkit::qr::codes_in_pdf(&file).expect("rendered");
    let _ = std::fs::remove_file(&file);
    assert_eq!(on_pdf, vec![girocode_for(&number, "1832.60")]);

    // In the browser, desktop with JavaScript and a phone without: the code the browser
    // draws reads back as the same transfer.
    for (width, javascript) in [("1280", "on"), ("360", "off")] {
        let png = std::env::temp_dir().join(format!("girocode-{}.png", uuid::Uuid::now_v7()));
        let downloads = std::env::temp_dir().join(format!("downloads-{}", uuid::Uuid::now_v7()));
        let url = app.url(&format!("{path}?lang=de"));
        let shots = format!("{backend}-{width}px-js-{javascript}");
        let out = run_browser_script(
            "invoice_flow.py",
            &[
                "--url",
                &url,
                "--total",
                "1.832,60 €",
                "--status",
                "Offen",
                "--width",
                width,
                "--javascript",
                javascript,
                "--shots",
                &shots,
                "--qr-png",
                png.to_str().expect("path"),
                "--download-dir",
                downloads.to_str().expect("path"),
            ],
        )
        .await;
        let result: Value = serde_json::from_str(out.trim().lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the script's result is JSON ({e}): {out}"));
        assert_eq!(result["girocode"], true);
        let saved = std::fs::read(result["pdf"].as_str().expect("the downloaded file"))
            .expect("the downloaded PDF");
        let _ = std::fs::remove_dir_all(&downloads);
        assert_eq!(saved, api_pdf, "the browser saved the issued PDF");
        let drawn = std::fs::read(&png).expect("the code's screenshot");
        let _ = std::fs::remove_file(&png);
        assert_eq!(
            workorders_testkit::qr::codes_in_png(&drawn).expect("PNG"),
            vec![girocode_for(&number, "1832.60")],
            "{width}px"
        );
    }

    // Partly paid: the code asks for the rest; paid: no code, no bank details.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &serde_json::json!({"amount": "832.60", "paid_on": today}),
    )
    .await
    .assert_status(201);
    let partly = page(&app, Method::GET, &format!("{path}?lang=en"), None).await;
    partly.assert_html(200);
    assert!(partly.body.contains("Partly paid") && partly.body.contains("€1,000.00"));
    assert!(
        partly
            .body
            .contains("aria-label=\"GiroCode for the transfer of €1,000.00\"")
    );
    app.post(
        &format!("/v1/invoices/{id}/payments"),
        Some(&t.token),
        &serde_json::json!({"amount": "1000.00", "paid_on": today}),
    )
    .await
    .assert_status(201);
    let paid = page(&app, Method::GET, &format!("{path}?lang=de"), None).await;
    paid.assert_html(200);
    assert!(
        paid.body.contains("Bezahlt – vielen Dank!"),
        "{}",
        paid.body
    );
    assert!(!paid.body.contains("<svg") && !paid.body.contains("IBAN"));

    // Unknown, altered or foreign-looking links: the not-found page, nothing else.
    for bad in [
        "/invoices/in_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("{path}x"),
        format!("/invoices/q_{}", &token[3..]),
        format!("{path}x/pdf"),
        format!("/invoices/in_{}/xml", "A".repeat(200)),
    ] {
        let refused = page(&app, Method::GET, &bad, None).await;
        refused.assert_html(404);
        assert!(!refused.body.contains(&number), "{bad}");
    }
}

/// Every route of the customer's pages, as `crates/web` registers them (read from its
/// source, so that a new page cannot be left out of the walk below).
fn page_routes() -> Vec<String> {
    let dir = workorders_testkit::workspace().join("crates/web/src");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("crates/web/src") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("source");
        for marker in [".route(\"", "cfg.route(\"", "web::resource(\""] {
            for part in source.split(marker).skip(1) {
                if let Some(route) = part.split('"').next()
                    && route.starts_with('/')
                    && !routes.contains(&route.to_owned())
                {
                    routes.push(route.to_owned());
                }
            }
        }
        // `.route(\n    "/path",` (a route on its own line).
        for part in source.split(".route(\n").skip(1) {
            if let Some(route) = part
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
                && route.starts_with('/')
                && !routes.contains(&route.to_owned())
            {
                routes.push(route.to_owned());
            }
        }
    }
    routes.sort();
    routes
}

/// Values no form or query of the pages expects.
const HOSTILE: [&str; 12] = [
    "",
    "%00",
    "%FF%FE",
    "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "%27%20OR%201%3D1--",
    "-1",
    "99999999999999999999999999",
    "2026-02-30T25%3A61%3A00Z",
    "%F0%9D%94%98%E2%80%AE%C3%BC",
    "%E2%80%A8",
    "{{x}}",
];

/// The fields of every form and query of the pages.
const FIELDS: [&str; 20] = [
    "lang",
    "postal_code",
    "from",
    "start",
    "form",
    "name",
    "email",
    "phone",
    "street",
    "city",
    "notes",
    "consent",
    "booked",
    "done",
    "csrf",
    "decision",
    "comment",
    "reason",
    "v",
    "service",
];

async fn no_page_answers_a_server_error_to_any_input(ctx: Ctx) {
    let server = crate::support::smtp();
    let app = {
        let settings = Some(server.settings());
        ctx.app_with(|s| {
            s.mail.smtp = settings;
            s.mail.poll = std::time::Duration::from_millis(100);
            s.mail.public_base_url = "https://orders.example.com".to_owned();
            // The walk sends hundreds of requests from one address.
            s.public_per_ip_per_minute = 100_000;
            s.public_per_tenant_per_minute = 100_000;
        })
        .await
    };
    let (t, _, service) = bookable(&app, "00:00", "24:00").await;
    // Branded, so that its logo and stylesheet exist.
    crate::branding::brand(&app, &t, "#ffd400").await;
    let booked = crate::booking::book_first(&app, &t, &service, "kunde@example.com").await;
    let booking = booked["token"].as_str().expect("token").to_owned();
    // A second booking for the cancel form (which ends the booking it succeeds on).
    let to_cancel = crate::booking::book_first(&app, &t, &service, "zwei@example.com").await;
    let to_cancel = to_cancel["token"].as_str().expect("token").to_owned();
    let (_, quote_path) = sent_quote(&app).await;
    let quote = quote_path.rsplit('/').next().expect("token").to_owned();
    // An invoice link comes only by e-mail.
    put_profile(&app, &t, &profile(), Some("\"0\""))
        .await
        .assert_status(200);
    // With a Leitweg-ID, so that the XRechnung exists too.
    let order = order_for(&app, &t, serde_json::json!({"name": "Erika Mustermann", "email": "erika@example.com", "buyer_reference": "04011000-12345-67"})).await;
    let created = crate::billing::invoice(
        &app,
        &t,
        &order,
        serde_json::json!({"lines": [line("Montage", "1", "HUR", "65.00", "19")], "issue": true}),
    )
    .await;
    created.assert_status(201);
    app.post(
        &format!(
            "/v1/invoices/{}/send",
            created.body["id"].as_str().expect("id")
        ),
        Some(&t.token),
        &serde_json::json!({}),
    )
    .await
    .assert_status(202);
    // The booking confirmations and the quote go out too: wait for the invoice's e-mail.
    let invoice = crate::support::eventually("the invoice e-mail", || async {
        server
            .wait_for_async(1, std::time::Duration::from_secs(20))
            .await
            .iter()
            .flat_map(|m| m.text.split_whitespace())
            .find_map(|w| w.strip_prefix("https://orders.example.com/invoices/"))
            .map(str::to_owned)
    })
    .await
    .to_owned();

    let routes = page_routes();
    assert!(routes.len() >= 15, "routes found: {routes:?}");
    let real = |name: &str| -> String {
        match name {
            "tenant" => t.slug.clone(),
            "service" => service.clone(),
            "token" => String::new(), // chosen per route below
            other => panic!("a page route with an unknown parameter {{{other}}}: add it here"),
        }
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    // Routes that answered at least once without a refusal: the real links work, so the
    // hostile values reached the pages behind them.
    let mut answered = std::collections::BTreeSet::new();
    for route in &routes {
        let token = if route.starts_with("/quotes/") {
            quote.clone()
        } else if route.starts_with("/invoices/") {
            invoice.clone()
        } else if route.ends_with("/cancel") {
            to_cancel.clone()
        } else {
            booking.clone()
        };
        let params: Vec<String> = route
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let fill = |values: &dyn Fn(&str) -> String| -> String {
            let mut path = route.clone();
            for name in &params {
                path = path.replace(&format!("{{{name}}}"), &values(name));
            }
            path
        };
        let real_value = |name: &str| {
            if name == "token" {
                token.clone()
            } else {
                real(name)
            }
        };
        // The real path with every hostile value in every field (query and form), and each
        // parameter replaced by hostile values in turn.
        let mut requests: Vec<(Method, String, Option<String>)> = Vec::new();
        let real_path = fill(&real_value);
        requests.push((Method::GET, real_path.clone(), None));
        for value in HOSTILE {
            let fields = FIELDS
                .iter()
                .map(|f| format!("{f}={value}"))
                .collect::<Vec<_>>()
                .join("&");
            requests.push((Method::GET, format!("{real_path}?{fields}"), None));
            requests.push((Method::POST, real_path.clone(), Some(fields)));
        }
        // Forms that need the link's CSRF token: the real token, every other field hostile
        // (and one plausible answer, so that the page behind the token is reached).
        if route.ends_with("/answer")
            || route.ends_with("/cancel")
            || route.ends_with("/reschedule")
        {
            let parent = real_path
                .rsplit_once('/')
                .map(|(p, _)| p.to_owned())
                .expect("parent");
            let shown = page(&app, Method::GET, &parent, None).await;
            let csrf = shown
                .body
                .split("name=\"csrf\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a CSRF token on {parent}"))
                .to_owned();
            for value in HOSTILE {
                let fields = FIELDS
                    .iter()
                    .filter(|f| **f != "csrf")
                    .map(|f| format!("{f}={value}"))
                    .collect::<Vec<_>>()
                    .join("&");
                requests.push((
                    Method::POST,
                    real_path.clone(),
                    Some(format!("csrf={csrf}&{fields}")),
                ));
            }
            requests.push((
                Method::POST,
                real_path.clone(),
                Some(format!(
                    "csrf={csrf}&decision=decline&name=%7B%7Bx%7D%7D&reason=%3Cb%3E"
                )),
            ));
        }
        for name in &params {
            for value in HOSTILE
                .iter()
                .chain(["x", "01936f0e-6a3b-7c2d-8e9f-0a1b2c3d4e5f"].iter())
            {
                if value.is_empty() {
                    continue;
                }
                let path = fill(&|p: &str| {
                    if p == name {
                        (*value).to_owned()
                    } else {
                        real_value(p)
                    }
                });
                requests.push((Method::GET, path.clone(), None));
                requests.push((Method::POST, path, Some("lang=de".to_owned())));
            }
        }
        for (method, path, body) in requests {
            let mut request = app.client.request(method.clone(), app.url(&path));
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            checked += 1;
            if status < 400 {
                answered.insert(route.clone());
            }
            if status >= 500 {
                let body = response.text().await.unwrap_or_default();
                failures.push(format!("{method} {path} -> {status}: {body:.200}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "server errors:\n{}",
        failures.join("\n")
    );
    assert!(checked > 500, "{checked} requests");
    let refused: Vec<_> = routes.iter().filter(|r| !answered.contains(*r)).collect();
    assert!(
        refused.is_empty(),
        "never answered with success: {refused:?}"
    );
}
