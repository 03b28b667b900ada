#![allow(clippy::unwrap_used)] // tests may panic
use std::collections::BTreeMap;

use workorders_mail::templates::{
    Lang, Template, TemplateKind, default_template, render, validate, variables,
};

fn sample_value(name: &str) -> String {
    match name {
        "company_name" => "Müller Haustechnik GmbH".into(),
        "customer_name" => "Frau Weiß".into(),
        "order_number" => "A-2025-0042".into(),
        "order_title" => "Heizungswartung".into(),
        "company_phone" => "+49 211 123456".into(),
        "company_email" => "service@mueller-haustechnik.example".into(),
        "invoice_number" => "RE-2025-0042".into(),
        "invoice_date" => "01.03.2025".into(),
        "due_date" => "15.03.2025".into(),
        "amount_due" => "1.234,56 €".into(),
        "iban" => "DE02 1203 0000 0000 2020 51".into(),
        "quote_number" => "AN-2025-0007".into(),
        "valid_until" => "31.03.2025".into(),
        "total" => "2.345,00 €".into(),
        "quote_link" => "https://portal.example/q/abc".into(),
        "service_name" => "Heizungswartung".into(),
        "start_local" => "Mi., 05.03.2025, 09:00 Uhr".into(),
        "manage_link" => "https://portal.example/b/xyz".into(),
        "technician_name" => "Aylin Schmidt".into(),
        "window_local" => "09:00–11:00 Uhr".into(),
        other => format!("<{other}>"),
    }
}

fn all_vars(kind: TemplateKind) -> BTreeMap<&'static str, String> {
    variables(kind)
        .iter()
        .map(|&name| (name, sample_value(name)))
        .collect()
}

#[test]
fn every_default_validates_and_renders() {
    for kind in TemplateKind::ALL {
        for lang in [Lang::De, Lang::En] {
            let t = default_template(kind, lang);
            validate(kind, &t).unwrap_or_else(|e| panic!("{kind} {lang}: {e}"));
            let (subject, body) = render(&t, &all_vars(kind)).unwrap();
            assert!(
                !subject.contains("{{") && !body.contains("{{"),
                "{kind} {lang}"
            );
            assert!(!subject.contains('\n'));
            assert!(body.contains("Müller Haustechnik GmbH"), "{kind} {lang}");
            assert!(body.contains("Frau Weiß"), "{kind} {lang}");
            // the kind-specific key variable appears
            let key = match kind {
                TemplateKind::Invoice | TemplateKind::CreditNote => "RE-2025-0042",
                TemplateKind::Quote => "https://portal.example/q/abc",
                TemplateKind::BookingConfirmation
                | TemplateKind::BookingRescheduled
                | TemplateKind::BookingCancelled => "https://portal.example/b/xyz",
                TemplateKind::TechnicianEnRoute => "Aylin Schmidt",
            };
            assert!(body.contains(key), "{kind} {lang}: {body}");
        }
    }
}

#[test]
fn invoice_mentions_pdf_and_zugferd() {
    let de = default_template(TemplateKind::Invoice, Lang::De);
    assert!(de.body.contains("PDF") && de.body.contains("ZUGFeRD"));
    let en = default_template(TemplateKind::Invoice, Lang::En);
    assert!(en.body.contains("PDF") && en.body.contains("ZUGFeRD"));
}

#[test]
fn unknown_placeholder_is_rejected_and_named() {
    let t = Template {
        subject: "Rechnung {{invoice_number}}".into(),
        body: "Hallo {{customer_name}}, Ihr Link: {{quote_link}}".into(),
    };
    let err = validate(TemplateKind::Invoice, &t).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(err.message.contains("quote_link"), "{err}");
    // allowed for quotes, though invoice_number is not
    let err = validate(TemplateKind::Quote, &t).unwrap_err();
    assert_eq!(err.field, "subject");
    assert!(err.message.contains("invoice_number"), "{err}");
}

#[test]
fn syntax_and_length_errors() {
    let ok_body = "Hallo {{customer_name}}".to_string();
    let cases: Vec<(Template, &str)> = vec![
        (
            Template {
                subject: "".into(),
                body: ok_body.clone(),
            },
            "subject",
        ),
        (
            Template {
                subject: "   ".into(),
                body: ok_body.clone(),
            },
            "subject",
        ),
        (
            Template {
                subject: "a\nb".into(),
                body: ok_body.clone(),
            },
            "subject",
        ),
        (
            Template {
                subject: "x".repeat(201),
                body: ok_body.clone(),
            },
            "subject",
        ),
        (
            Template {
                subject: "Hi {{customer_name".into(),
                body: ok_body.clone(),
            },
            "subject",
        ),
        (
            Template {
                subject: "ok".into(),
                body: "Hallo customer_name}}".into(),
            },
            "body",
        ),
        (
            Template {
                subject: "ok".into(),
                body: "{{ }}".into(),
            },
            "body",
        ),
        (
            Template {
                subject: "ok".into(),
                body: "{{Customer-Name}}".into(),
            },
            "body",
        ),
        (
            Template {
                subject: "ok".into(),
                body: "ä".repeat(20_001),
            },
            "body",
        ),
    ];
    for (t, field) in cases {
        let err = validate(TemplateKind::Invoice, &t).unwrap_err();
        assert_eq!(err.field, field, "{t:?}: {err}");
    }
    // limits are in characters, and exactly at the limit is fine
    let t = Template {
        subject: "Ü".repeat(200),
        body: "ä".repeat(20_000),
    };
    validate(TemplateKind::Invoice, &t).unwrap();
    // single braces are text; spaces inside placeholders are allowed
    let t = Template {
        subject: "Rechnung {{ invoice_number }}".into(),
        body: "JSON-Beispiel: {\"a\": 1} {{customer_name}}".into(),
    };
    validate(TemplateKind::Invoice, &t).unwrap();
}

#[test]
fn missing_variable_is_rejected() {
    let t = default_template(TemplateKind::Invoice, Lang::De);
    let mut vars = all_vars(TemplateKind::Invoice);
    vars.remove("iban");
    let err = render(&t, &vars).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(err.message.contains("iban"), "{err}");
}

#[test]
fn render_flattens_line_breaks_in_subject_values() {
    let t = Template {
        subject: "Für {{customer_name}}".into(),
        body: "x".into(),
    };
    let mut vars = BTreeMap::new();
    vars.insert("customer_name", "Frau\r\nBcc: x@y.de".to_string());
    let (subject, _) = render(&t, &vars).unwrap();
    assert_eq!(subject, "Für Frau Bcc: x@y.de");
}

#[test]
fn serde_names() {
    let json = serde_json::to_string(&TemplateKind::ALL).unwrap();
    assert_eq!(
        json,
        r#"["invoice","credit_note","quote","booking_confirmation","booking_rescheduled","booking_cancelled","technician_en_route"]"#
    );
    let lang: Lang = serde_json::from_str("\"de\"").unwrap();
    assert_eq!(lang, Lang::De);
    assert_eq!(serde_json::to_string(&Lang::En).unwrap(), "\"en\"");
    for kind in TemplateKind::ALL {
        assert_eq!(kind.as_str().parse::<TemplateKind>().unwrap(), kind);
    }
}
