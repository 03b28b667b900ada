//! Tenant branding: the accent colour, the imprint and privacy links, the default language
//! and the logo, as set through the API and as the customer's pages and e-mails show them.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::booking::bookable;
use crate::support::{Ctx, Resp, Tenant, TestApp};
use crate::tests;
use crate::web::sent_quote;

tests!(
    branding_settings_are_validated_and_nothing_changes_on_a_bad_value,
    the_logo_is_uploaded_replaced_and_deleted_by_owners_and_admins_only,
    every_customer_page_shows_the_logo_name_colour_and_legal_links,
    the_default_language_decides_when_nothing_else_does,
    customer_emails_end_with_the_legal_links_and_no_empty_label,
);

/// A 1×1 PNG.
pub fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("base64")
}

const IMPRINT: &str = "https://www.fenster-beispiel.de/impressum";
const PRIVACY: &str = "https://www.fenster-beispiel.de/datenschutz";

async fn tenant_now(app: &TestApp, t: &Tenant) -> Resp {
    let now = app.get("/v1/tenant", &t.token).await;
    now.assert_status(200);
    now
}

/// `PUT /v1/tenant/logo` with raw bytes.
pub async fn put_logo(
    app: &TestApp,
    token: &str,
    if_match: Option<&str>,
    content_type: &str,
    data: Vec<u8>,
) -> Resp {
    let mut request = app
        .client
        .put(app.url("/v1/tenant/logo"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(data);
    if let Some(etag) = if_match {
        request = request.header("if-match", etag);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body read");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Sets the colour, both links and a logo; returns the tenant's new ETag.
pub async fn brand(app: &TestApp, t: &Tenant, colour: &str) -> String {
    let etag = tenant_now(app, t).await.etag();
    let changed = app
        .patch(
            "/v1/tenant",
            &t.token,
            Some(&etag),
            &json!({"brand_colour": colour, "imprint_url": IMPRINT, "privacy_url": PRIVACY}),
        )
        .await;
    changed.assert_status(200);
    let logo = put_logo(app, &t.token, Some(&changed.etag()), "image/png", png()).await;
    logo.assert_status(200);
    logo.etag()
}

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answers");
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

async fn branding_settings_are_validated_and_nothing_changes_on_a_bad_value(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let before = tenant_now(&app, &t).await;
    assert_eq!(before.body["brand_colour"], Value::Null);
    assert_eq!(before.body["imprint_url"], Value::Null);
    assert_eq!(before.body["privacy_url"], Value::Null);
    assert_eq!(before.body["default_language"], "de");
    assert_eq!(before.body["logo"], Value::Null);
    let etag = before.etag();

    let long = format!("https://example.de/{}", "a".repeat(490));
    for (body, pointer) in [
        (json!({"brand_colour": "red"}), "/brand_colour"),
        (json!({"brand_colour": "#fff"}), "/brand_colour"),
        (json!({"brand_colour": "#12345g"}), "/brand_colour"),
        (
            json!({"imprint_url": "http://www.example.de/impressum"}),
            "/imprint_url",
        ),
        (
            json!({"imprint_url": "javascript:alert(1)"}),
            "/imprint_url",
        ),
        (json!({"imprint_url": long}), "/imprint_url"),
        (json!({"privacy_url": "/datenschutz"}), "/privacy_url"),
        (
            json!({"privacy_url": "https://example.de/a b"}),
            "/privacy_url",
        ),
        (json!({"default_language": "fr"}), "/default_language"),
        // One bad value among good ones: nothing of it is kept.
        (
            json!({"brand_colour": "#ffd400", "imprint_url": IMPRINT, "privacy_url": "ftp://x"}),
            "/privacy_url",
        ),
    ] {
        let refused = app.patch("/v1/tenant", &t.token, Some(&etag), &body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(
            refused.body["errors"][0]["pointer"], pointer,
            "{body}: {}",
            refused.text
        );
        let after = tenant_now(&app, &t).await;
        assert_eq!(after.etag(), etag, "{body} changed the tenant");
        assert_eq!(after.body, before.body, "{body} changed the tenant");
    }

    // Good values are kept and answered; null removes them again.
    let set = app
        .patch(
            "/v1/tenant",
            &t.token,
            Some(&etag),
            &json!({"brand_colour": "#FFD400", "imprint_url": IMPRINT, "privacy_url": PRIVACY,
                    "default_language": "en"}),
        )
        .await;
    set.assert_status(200);
    assert_eq!(set.body["brand_colour"], "#ffd400");
    assert_eq!(set.body["imprint_url"], IMPRINT);
    assert_eq!(set.body["privacy_url"], PRIVACY);
    assert_eq!(set.body["default_language"], "en");
    // Other settings stay when only branding changes, and branding stays when others change.
    let other = app
        .patch(
            "/v1/tenant",
            &t.token,
            Some(&set.etag()),
            &json!({"stuck_after_days": 5}),
        )
        .await;
    other.assert_status(200);
    assert_eq!(other.body["brand_colour"], "#ffd400");
    assert_eq!(other.body["imprint_url"], IMPRINT);
    let reset = app
        .patch(
            "/v1/tenant",
            &t.token,
            Some(&other.etag()),
            &json!({"brand_colour": null, "imprint_url": null, "privacy_url": null}),
        )
        .await;
    reset.assert_status(200);
    assert_eq!(reset.body["brand_colour"], Value::Null);
    assert_eq!(reset.body["imprint_url"], Value::Null);
    assert_eq!(reset.body["privacy_url"], Value::Null);
    assert_eq!(reset.body["default_language"], "en");
    assert_eq!(reset.body["stuck_after_days"], 5);

    // Like every setting: owners and admins only.
    let (_, dispatcher) = app.user_with_role(&t, "dispatcher").await;
    app.patch(
        "/v1/tenant",
        &dispatcher,
        Some(&reset.etag()),
        &json!({"brand_colour": "#000000"}),
    )
    .await
    .assert_status(403);
}

async fn the_logo_is_uploaded_replaced_and_deleted_by_owners_and_admins_only(ctx: Ctx) {
    let app = ctx.app().await;
    let t = app.sign_up().await;
    let other = app.sign_up().await;
    let etag = tenant_now(&app, &t).await.etag();

    // Without If-Match: 428; stale: 412.
    put_logo(&app, &t.token, None, "image/png", png())
        .await
        .assert_status(428);
    put_logo(&app, &t.token, Some("\"99\""), "image/png", png())
        .await
        .assert_status(412);
    // SVG is refused by its type, and by its bytes under another name; so is an HTML page.
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    put_logo(&app, &t.token, Some(&etag), "image/svg+xml", svg.clone())
        .await
        .assert_problem(415, "unsupported_media_type");
    put_logo(&app, &t.token, Some(&etag), "image/png", svg)
        .await
        .assert_problem(422, "invalid_upload");
    put_logo(
        &app,
        &t.token,
        Some(&etag),
        "image/png",
        b"<html></html>".to_vec(),
    )
    .await
    .assert_problem(422, "invalid_upload");
    // Too big: 413.
    let mut big = png();
    big.resize(512 * 1024 + 1, 0);
    put_logo(&app, &t.token, Some(&etag), "image/png", big)
        .await
        .assert_status(413);
    // Not for dispatchers.
    let (_, dispatcher) = app.user_with_role(&t, "dispatcher").await;
    put_logo(&app, &dispatcher, Some(&etag), "image/png", png())
        .await
        .assert_status(403);
    assert_eq!(tenant_now(&app, &t).await.etag(), etag, "nothing changed");
    assert_eq!(
        fetch(&app, &format!("/{}/logo", t.slug), &[]).await.status,
        404
    );

    // A PNG: stored, answered with the tenant, served publicly with its type.
    let uploaded = put_logo(&app, &t.token, Some(&etag), "image/png", png()).await;
    uploaded.assert_status(200);
    let logo = &uploaded.body["logo"];
    assert_eq!(logo["content_type"], "image/png");
    let sha = logo["sha256"].as_str().expect("sha256").to_owned();
    assert_eq!(sha.len(), 64);
    let url = logo["url"].as_str().expect("url").to_owned();
    assert_eq!(url, format!("/{}/logo?v={}", t.slug, &sha[..12]));
    let served = fetch(&app, &url, &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), "image/png");
    assert_eq!(served.header("x-content-type-options"), "nosniff");
    assert_eq!(served.header("etag"), format!("\"{sha}\""));
    assert!(served.header("cache-control").contains("max-age=31536000"));
    assert_eq!(served.body, png());
    let again = fetch(&app, &url, &[("if-none-match", served.header("etag"))]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Another company has none, and does not see this one.
    assert_eq!(
        fetch(&app, &format!("/{}/logo", other.slug), &[])
            .await
            .status,
        404
    );
    assert_eq!(tenant_now(&app, &other).await.body["logo"], Value::Null);

    // Replaced by an admin with a JPEG (also sent as octet-stream: the bytes decide).
    let (_, admin) = app.user_with_role(&t, "admin").await;
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"\0\x10JFIF\0"].concat();
    let replaced = put_logo(
        &app,
        &admin,
        Some(&uploaded.etag()),
        "application/octet-stream",
        jpeg.clone(),
    )
    .await;
    replaced.assert_status(200);
    assert_eq!(replaced.body["logo"]["content_type"], "image/jpeg");
    assert_ne!(replaced.body["logo"]["sha256"], sha.as_str());
    let served = fetch(&app, &format!("/{}/logo", t.slug), &[]).await;
    assert_eq!(served.header("content-type"), "image/jpeg");
    assert_eq!(served.body, jpeg);
    assert!(
        !served.header("cache-control").contains("immutable"),
        "an unversioned link is cached briefly"
    );

    // Deleted: gone from the tenant and the pages.
    let delete = |token: String, etag: String| {
        let app = app.clone();
        async move {
            app.send(
                Method::DELETE,
                "/v1/tenant/logo",
                Some(&token),
                None,
                &[("if-match", etag.as_str())],
            )
            .await
        }
    };
    delete(dispatcher.clone(), replaced.etag())
        .await
        .assert_status(403);
    let deleted = delete(t.token.clone(), replaced.etag()).await;
    deleted.assert_status(200);
    assert_eq!(deleted.body["logo"], Value::Null);
    assert_eq!(
        fetch(&app, &format!("/{}/logo", t.slug), &[]).await.status,
        404
    );
}

async fn every_customer_page_shows_the_logo_name_colour_and_legal_links(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, service) = bookable(&app, "00:00", "24:00").await;
    let name = tenant_now(&app, &t).await.body["name"]
        .as_str()
        .expect("name")
        .to_owned();

    // Unbranded: no stylesheet of its own, no logo, no footer.
    let plain = fetch(&app, &format!("/{}/book", t.slug), &[]).await.text();
    assert!(!plain.contains("brand.css"), "{plain}");
    assert!(!plain.contains("class=\"logo\""));
    assert!(!plain.contains("<footer"));
    assert_eq!(
        fetch(&app, &format!("/{}/brand.css", t.slug), &[])
            .await
            .status,
        404
    );

    brand(&app, &t, "#ffd400").await;
    let logo_sha = tenant_now(&app, &t).await.body["logo"]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    let booking = crate::booking::book_first(&app, &t, &service, "kunde@example.com").await;
    let token = booking["token"].as_str().expect("token");
    for path in [
        format!("/{}/book", t.slug),
        format!("/{}/book/{service}?postal_code=12203", t.slug),
        format!("/{}/booking/{token}", t.slug),
        format!("/{}/booking/{token}/reschedule", t.slug),
        format!("/{}/book/{}", t.slug, uuid::Uuid::nil()),
    ] {
        let shown = fetch(&app, &path, &[]).await;
        let html = shown.text();
        assert!(
            html.contains(&format!(
                "<img class=\"logo\" src=\"/{}/logo?v={}\" alt=\"{name}\">",
                t.slug,
                &logo_sha[..12]
            )),
            "{path}: {html}"
        );
        assert!(html.contains(&format!("<span class=\"company\">{name}</span>")));
        assert!(html.contains(&format!(
            "<link rel=\"stylesheet\" href=\"/{}/brand.css?v=ffd400\">",
            t.slug
        )));
        assert!(
            html.contains(&format!("<a href=\"{IMPRINT}\">Impressum</a>")),
            "{path}"
        );
        assert!(html.contains(&format!("<a href=\"{PRIVACY}\">Datenschutz</a>")));
        assert!(!html.contains("style="), "{path}: no inline styles");
        assert!(html.len() < 50_000);
        let csp = shown.header("content-security-policy");
        assert!(csp.contains("style-src 'self'") && !csp.contains("unsafe-inline"));
    }
    let english = fetch(&app, &format!("/{}/book?lang=en", t.slug), &[])
        .await
        .text();
    assert!(english.contains(&format!("<a href=\"{IMPRINT}\">Legal notice</a>")));
    assert!(english.contains(&format!("<a href=\"{PRIVACY}\">Privacy</a>")));

    // The stylesheet: the colour as the fill, readable text on it, links darkened.
    let css = fetch(&app, &format!("/{}/brand.css?v=ffd400", t.slug), &[]).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(css.header("x-content-type-options"), "nosniff");
    assert!(css.header("cache-control").contains("immutable"));
    let css = css.text();
    assert!(css.contains("--accent-fill: #ffd400;"), "{css}");
    assert!(css.contains("--on-accent: #1a1a1a;"), "{css}");
    assert!(
        !css.contains("--accent: #ffd400;"),
        "too light for links: {css}"
    );
    let link = css
        .split("--accent: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("link colour");
    let contrast = workorders_domain::brand::Colour::parse(link)
        .expect("a colour")
        .contrast(workorders_domain::brand::WHITE);
    assert!(contrast >= 4.5, "{link}: {contrast}");
    // A dark colour: white text, kept for links.
    let etag = tenant_now(&app, &t).await.etag();
    app.patch(
        "/v1/tenant",
        &t.token,
        Some(&etag),
        &json!({"brand_colour": "#1e6b35"}),
    )
    .await
    .assert_status(200);
    let css = fetch(&app, &format!("/{}/brand.css", t.slug), &[])
        .await
        .text();
    assert!(css.contains("--accent: #1e6b35;"), "{css}");
    assert!(css.contains("--on-accent: #ffffff;"), "{css}");

    // The quote's page knows its company through the quote.
    let (q, path) = sent_quote(&app).await;
    brand(&app, &q, "#ffd400").await;
    let quote = fetch(&app, &path, &[]).await.text();
    assert!(
        quote.contains(&format!("/{}/brand.css?v=ffd400", q.slug)),
        "{quote}"
    );
    assert!(quote.contains(&format!("<img class=\"logo\" src=\"/{}/logo?v=", q.slug)));
    assert!(quote.contains(&format!("<a href=\"{IMPRINT}\">Impressum</a>")));
}

async fn the_default_language_decides_when_nothing_else_does(ctx: Ctx) {
    let app = ctx.app().await;
    let (t, _, _) = bookable(&app, "00:00", "24:00").await;
    let (q, quote) = sent_quote(&app).await;
    let book = format!("/{}/book", t.slug);
    assert!(
        fetch(&app, &book, &[])
            .await
            .text()
            .contains("<html lang=\"de\"")
    );
    for tenant in [&t, &q] {
        let etag = tenant_now(&app, tenant).await.etag();
        app.patch(
            "/v1/tenant",
            &tenant.token,
            Some(&etag),
            &json!({"default_language": "en"}),
        )
        .await
        .assert_status(200);
    }
    for path in [&book, &quote] {
        let lang = |html: String| {
            html.split("<html lang=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
                .unwrap_or_default()
        };
        // No Accept-Language, or only languages we do not speak: the company's default.
        assert_eq!(lang(fetch(&app, path, &[]).await.text()), "en", "{path}");
        assert_eq!(
            lang(
                fetch(&app, path, &[("accept-language", "fr-FR,fr;q=0.9")])
                    .await
                    .text()
            ),
            "en"
        );
        // The browser and the switch still win.
        assert_eq!(
            lang(
                fetch(&app, path, &[("accept-language", "de-DE")])
                    .await
                    .text()
            ),
            "de"
        );
        let switched = if path.contains('?') {
            format!("{path}&lang=de")
        } else {
            format!("{path}?lang=de")
        };
        assert_eq!(lang(fetch(&app, &switched, &[]).await.text()), "de");
    }
}

async fn customer_emails_end_with_the_legal_links_and_no_empty_label(ctx: Ctx) {
    let server = crate::support::smtp();
    let app = crate::billing::app_with_mail(&ctx, &server).await;
    let (t, _, service) = bookable(&app, "00:00", "24:00").await;
    let etag = tenant_now(&app, &t).await.etag();
    // Only the imprint: its line comes, the privacy line does not dangle.
    app.patch(
        "/v1/tenant",
        &t.token,
        Some(&etag),
        &json!({"imprint_url": IMPRINT}),
    )
    .await
    .assert_status(200);
    crate::booking::book_first(&app, &t, &service, "kunde@example.com").await;
    let mails = server
        .wait_for_async(1, std::time::Duration::from_secs(30))
        .await;
    let mail = &mails[0];
    let text = mail.text.replace("\r\n", "\n");
    assert!(
        text.trim_end().ends_with(&format!("Impressum: {IMPRINT}")),
        "the footer ends the mail: {text}"
    );
    assert!(!text.contains("Datenschutz"), "no empty label: {text}");
    // The placeholders can be used in the tenant's own templates too.
    let own = app
        .send(
            Method::PUT,
            "/v1/email-templates/booking_confirmation/de",
            Some(&t.token),
            Some(&json!({"subject": "Termin", "body": "Impressum: {{imprint_url}}\nDatenschutz: {{privacy_url}}\n"})),
            &[("if-match", "\"0\"")],
        )
        .await;
    own.assert_status(200);
}
