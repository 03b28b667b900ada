//! Customer mail templates with `{{placeholder}}` variables.
//!
//! Syntax: `{{name}}` (spaces inside the braces are allowed: `{{ name }}`),
//! names are lower-case ASCII letters, digits and `_`. Single braces are plain
//! text; `{{` without a closing `}}` and a stray `}}` are errors.
//!
//! There are no conditionals. Instead, a body line that is only a label and placeholders
//! that are all empty is left out: `Impressum: {{imprint_url}}` disappears when the company
//! has no imprint link, so no label dangles (a line "labels" when its text without the
//! placeholders ends with `:`). Other lines stay as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which mail a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    Invoice,
    CreditNote,
    Quote,
    BookingConfirmation,
    BookingRescheduled,
    BookingCancelled,
    TechnicianEnRoute,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 7] = [
        TemplateKind::Invoice,
        TemplateKind::CreditNote,
        TemplateKind::Quote,
        TemplateKind::BookingConfirmation,
        TemplateKind::BookingRescheduled,
        TemplateKind::BookingCancelled,
        TemplateKind::TechnicianEnRoute,
    ];

    /// The serde name: `invoice`, `credit_note`, `quote`, `booking_confirmation`,
    /// `booking_rescheduled`, `booking_cancelled`, `technician_en_route`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Invoice => "invoice",
            TemplateKind::CreditNote => "credit_note",
            TemplateKind::Quote => "quote",
            TemplateKind::BookingConfirmation => "booking_confirmation",
            TemplateKind::BookingRescheduled => "booking_rescheduled",
            TemplateKind::BookingCancelled => "booking_cancelled",
            TemplateKind::TechnicianEnRoute => "technician_en_route",
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TemplateKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// Language of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

    pub const fn as_str(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lang {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A name that is not a known [`TemplateKind`] or [`Lang`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

/// Subject and plain-text body, both with `{{placeholders}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

/// A template problem in `field` (`"subject"` or `"body"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    pub field: &'static str,
    pub message: String,
}

impl TemplateError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        TemplateError {
            field,
            message: message.into(),
        }
    }
}

pub const MAX_SUBJECT_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 20_000;

const INVOICE_VARS: &[&str] = &[
    "company_name",
    "customer_name",
    "order_number",
    "order_title",
    "company_phone",
    "company_email",
    "invoice_number",
    "invoice_date",
    "due_date",
    "amount_due",
    "iban",
    "invoice_link",
    "imprint_url",
    "privacy_url",
];

const QUOTE_VARS: &[&str] = &[
    "company_name",
    "customer_name",
    "order_number",
    "order_title",
    "company_phone",
    "company_email",
    "quote_number",
    "valid_until",
    "total",
    "quote_link",
    "imprint_url",
    "privacy_url",
];

const BOOKING_VARS: &[&str] = &[
    "company_name",
    "customer_name",
    "order_number",
    "order_title",
    "company_phone",
    "company_email",
    "service_name",
    "start_local",
    "manage_link",
    "imprint_url",
    "privacy_url",
];

const EN_ROUTE_VARS: &[&str] = &[
    "company_name",
    "customer_name",
    "order_number",
    "order_title",
    "company_phone",
    "company_email",
    "technician_name",
    "window_local",
    "manage_link",
    "imprint_url",
    "privacy_url",
];

/// The placeholders allowed in templates of `kind` (without braces).
pub fn variables(kind: TemplateKind) -> &'static [&'static str] {
    match kind {
        TemplateKind::Invoice | TemplateKind::CreditNote => INVOICE_VARS,
        TemplateKind::Quote => QUOTE_VARS,
        TemplateKind::BookingConfirmation
        | TemplateKind::BookingRescheduled
        | TemplateKind::BookingCancelled => BOOKING_VARS,
        TemplateKind::TechnicianEnRoute => EN_ROUTE_VARS,
    }
}

/// Checks a (customer-edited) template: syntax, known placeholders, lengths.
pub fn validate(kind: TemplateKind, t: &Template) -> Result<(), TemplateError> {
    if t.subject.trim().is_empty() {
        return Err(TemplateError::new("subject", "subject must not be empty"));
    }
    if t.subject.contains(['\r', '\n']) {
        return Err(TemplateError::new(
            "subject",
            "subject must be a single line",
        ));
    }
    let subject_len = t.subject.chars().count();
    if subject_len > MAX_SUBJECT_CHARS {
        return Err(TemplateError::new(
            "subject",
            format!(
                "subject is {subject_len} characters long; at most {MAX_SUBJECT_CHARS} are allowed"
            ),
        ));
    }
    if t.body.trim().is_empty() {
        return Err(TemplateError::new("body", "body must not be empty"));
    }
    let body_len = t.body.chars().count();
    if body_len > MAX_BODY_CHARS {
        return Err(TemplateError::new(
            "body",
            format!("body is {body_len} characters long; at most {MAX_BODY_CHARS} are allowed"),
        ));
    }
    let allowed = variables(kind);
    for (field, text) in [("subject", &t.subject), ("body", &t.body)] {
        for segment in parse(field, text)? {
            if let Segment::Var(name) = segment
                && !allowed.contains(&name)
            {
                return Err(TemplateError::new(
                    field,
                    format!(
                        "unknown placeholder {{{{{name}}}}}; allowed in {} templates: {}",
                        kind.as_str(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Fills in the placeholders and returns `(subject, body)`. Every placeholder
/// used must have a value in `vars` (extra values are ignored). Line breaks in
/// values are flattened to spaces in the subject.
pub fn render(
    t: &Template,
    vars: &BTreeMap<&str, String>,
) -> Result<(String, String), TemplateError> {
    let subject = render_field("subject", &t.subject, vars, false)?;
    let subject = subject
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let body = render_field("body", &t.body, vars, true)?;
    Ok((subject, body))
}

fn render_field(
    field: &'static str,
    text: &str,
    vars: &BTreeMap<&str, String>,
    leave_out_empty_labels: bool,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut line = Line::default();
    for segment in parse(field, text)? {
        match segment {
            Segment::Text(s) => {
                let mut parts = s.split('\n').peekable();
                while let Some(part) = parts.next() {
                    line.text(part);
                    if parts.peek().is_some() {
                        line.text("\n");
                        line.finish(&mut out, leave_out_empty_labels);
                    }
                }
            }
            Segment::Var(name) => match vars.get(name) {
                Some(value) => line.value(value),
                None => {
                    return Err(TemplateError::new(
                        field,
                        format!("no value for placeholder {{{{{name}}}}}"),
                    ));
                }
            },
        }
    }
    line.finish(&mut out, leave_out_empty_labels);
    Ok(out)
}

/// A line being rendered: what it says, its text without placeholders, and whether its
/// placeholders said anything.
#[derive(Default)]
struct Line {
    rendered: String,
    label: String,
    placeholders: usize,
    filled: bool,
}

impl Line {
    fn text(&mut self, text: &str) {
        self.rendered.push_str(text);
        self.label.push_str(text);
    }

    fn value(&mut self, value: &str) {
        self.rendered.push_str(value);
        self.placeholders += 1;
        self.filled |= !value.trim().is_empty();
    }

    /// Appends the line to `out` unless it is a label whose placeholders are all empty.
    fn finish(&mut self, out: &mut String, leave_out_empty_labels: bool) {
        let empty_label = self.placeholders > 0 && !self.filled && self.label.trim().ends_with(':');
        if !(leave_out_empty_labels && empty_label) {
            out.push_str(&self.rendered);
        }
        *self = Line::default();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn parse<'a>(field: &'static str, text: &'a str) -> Result<Vec<Segment<'a>>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        let Some(o) = open else {
            if let Some(c) = close {
                return Err(stray_close(field, rest, c));
            }
            if !rest.is_empty() {
                segments.push(Segment::Text(rest));
            }
            return Ok(segments);
        };
        if let Some(c) = close
            && c < o
        {
            return Err(stray_close(field, rest, c));
        }
        if o > 0 {
            segments.push(Segment::Text(&rest[..o]));
        }
        let after = &rest[o + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::new(
                field,
                format!(
                    "unbalanced braces: '{{{{' without closing '}}}}' near {:?}",
                    context(rest, o)
                ),
            ));
        };
        let inner = &after[..end];
        let name = inner.trim();
        if name.contains(['{', '}']) {
            return Err(TemplateError::new(
                field,
                format!("unbalanced braces near {:?}", context(rest, o)),
            ));
        }
        if name.is_empty() {
            return Err(TemplateError::new(field, "empty placeholder '{{}}'"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(TemplateError::new(
                field,
                format!(
                    "invalid placeholder {{{{{inner}}}}}: names use lower-case letters, digits and '_'"
                ),
            ));
        }
        segments.push(Segment::Var(name));
        rest = &after[end + 2..];
    }
}

fn stray_close(field: &'static str, rest: &str, at: usize) -> TemplateError {
    TemplateError::new(
        field,
        format!(
            "unbalanced braces: '}}}}' without opening '{{{{' near {:?}",
            context(rest, at)
        ),
    )
}

fn context(s: &str, at: usize) -> String {
    s[at..].chars().take(30).collect()
}

/// The built-in template for `kind` in `lang`.
pub fn default_template(kind: TemplateKind, lang: Lang) -> Template {
    let (subject, body) = match (kind, lang) {
        (TemplateKind::Invoice, Lang::De) => (INVOICE_DE_SUBJECT, INVOICE_DE_BODY),
        (TemplateKind::Invoice, Lang::En) => (INVOICE_EN_SUBJECT, INVOICE_EN_BODY),
        (TemplateKind::CreditNote, Lang::De) => (CREDIT_DE_SUBJECT, CREDIT_DE_BODY),
        (TemplateKind::CreditNote, Lang::En) => (CREDIT_EN_SUBJECT, CREDIT_EN_BODY),
        (TemplateKind::Quote, Lang::De) => (QUOTE_DE_SUBJECT, QUOTE_DE_BODY),
        (TemplateKind::Quote, Lang::En) => (QUOTE_EN_SUBJECT, QUOTE_EN_BODY),
        (TemplateKind::BookingConfirmation, Lang::De) => (BOOKING_DE_SUBJECT, BOOKING_DE_BODY),
        (TemplateKind::BookingConfirmation, Lang::En) => (BOOKING_EN_SUBJECT, BOOKING_EN_BODY),
        (TemplateKind::BookingRescheduled, Lang::De) => (MOVED_DE_SUBJECT, MOVED_DE_BODY),
        (TemplateKind::BookingRescheduled, Lang::En) => (MOVED_EN_SUBJECT, MOVED_EN_BODY),
        (TemplateKind::BookingCancelled, Lang::De) => (CANCELLED_DE_SUBJECT, CANCELLED_DE_BODY),
        (TemplateKind::BookingCancelled, Lang::En) => (CANCELLED_EN_SUBJECT, CANCELLED_EN_BODY),
        (TemplateKind::TechnicianEnRoute, Lang::De) => (EN_ROUTE_DE_SUBJECT, EN_ROUTE_DE_BODY),
        (TemplateKind::TechnicianEnRoute, Lang::En) => (EN_ROUTE_EN_SUBJECT, EN_ROUTE_EN_BODY),
    };
    Template {
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

macro_rules! with_signature_de {
    ($body:literal) => {
        concat!(
            $body,
            "Mit freundlichen Grüßen\n{{company_name}}\nTelefon: {{company_phone}}\nE-Mail: {{company_email}}\n",
            "Impressum: {{imprint_url}}\nDatenschutz: {{privacy_url}}\n"
        )
    };
}

macro_rules! with_signature_en {
    ($body:literal) => {
        concat!(
            $body,
            "Kind regards\n{{company_name}}\nPhone: {{company_phone}}\nEmail: {{company_email}}\n",
            "Legal notice: {{imprint_url}}\nPrivacy: {{privacy_url}}\n"
        )
    };
}

const INVOICE_DE_SUBJECT: &str = "Ihre Rechnung {{invoice_number}} von {{company_name}}";
const INVOICE_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

vielen Dank für Ihren Auftrag {{order_number}} „{{order_title}}“.

Anbei erhalten Sie unsere Rechnung {{invoice_number}} vom {{invoice_date}} als PDF-Datei. \
Die Rechnung enthält zusätzlich die strukturierten E-Rechnungsdaten (ZUGFeRD), \
sodass Sie sie direkt in Ihre Buchhaltung übernehmen können.

Rechnungsbetrag: {{amount_due}}
Zahlbar bis: {{due_date}}
IBAN: {{iban}}
Verwendungszweck: {{invoice_number}}

Rechnung online ansehen, herunterladen und per GiroCode bezahlen:
{{invoice_link}}

Haben Sie Fragen zur Rechnung? Sie erreichen uns telefonisch unter {{company_phone}} \
oder per E-Mail an {{company_email}}.

"
);

const INVOICE_EN_SUBJECT: &str = "Your invoice {{invoice_number}} from {{company_name}}";
const INVOICE_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

thank you for your order {{order_number}} \"{{order_title}}\".

Please find attached our invoice {{invoice_number}} dated {{invoice_date}} as a PDF file. \
The PDF also contains the structured e-invoice data (ZUGFeRD), so it can be imported \
directly into your accounting software.

Amount due: {{amount_due}}
Payable by: {{due_date}}
IBAN: {{iban}}
Payment reference: {{invoice_number}}

View, download and pay it (GiroCode) online:
{{invoice_link}}

If you have any questions about this invoice, please call us at {{company_phone}} \
or email {{company_email}}.

"
);

const CREDIT_DE_SUBJECT: &str = "Ihre Gutschrift {{invoice_number}} von {{company_name}}";
const CREDIT_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

zu Ihrem Auftrag {{order_number}} „{{order_title}}“ erhalten Sie anbei unsere \
Gutschrift {{invoice_number}} vom {{invoice_date}} als PDF-Datei. Die Gutschrift \
enthält zusätzlich die strukturierten E-Rechnungsdaten (ZUGFeRD).

Gutschriftsbetrag: {{amount_due}}

Gutschrift online ansehen und herunterladen:
{{invoice_link}}

Bei Fragen erreichen Sie uns telefonisch unter {{company_phone}} oder per E-Mail \
an {{company_email}}.

"
);

const CREDIT_EN_SUBJECT: &str = "Your credit note {{invoice_number}} from {{company_name}}";
const CREDIT_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

regarding your order {{order_number}} \"{{order_title}}\", please find attached our \
credit note {{invoice_number}} dated {{invoice_date}} as a PDF file. The PDF also \
contains the structured e-invoice data (ZUGFeRD).

Credit amount: {{amount_due}}

View and download it online:
{{invoice_link}}

If you have any questions, please call us at {{company_phone}} or email {{company_email}}.

"
);

const QUOTE_DE_SUBJECT: &str = "Ihr Angebot {{quote_number}} von {{company_name}}";
const QUOTE_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

vielen Dank für Ihre Anfrage. Gern unterbreiten wir Ihnen unser Angebot \
{{quote_number}} für „{{order_title}}“.

Angebotssumme: {{total}}
Gültig bis: {{valid_until}}

Das vollständige Angebot können Sie hier ansehen:
{{quote_link}}

Wenn Sie Fragen haben oder etwas angepasst werden soll, rufen Sie uns gern unter \
{{company_phone}} an oder schreiben Sie uns an {{company_email}}. Wir freuen uns \
auf Ihren Auftrag.

"
);

const QUOTE_EN_SUBJECT: &str = "Your quote {{quote_number}} from {{company_name}}";
const QUOTE_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

thank you for your enquiry. We are pleased to send you our quote {{quote_number}} \
for \"{{order_title}}\".

Total: {{total}}
Valid until: {{valid_until}}

You can view the full quote here:
{{quote_link}}

If you have any questions or would like anything changed, please call us at \
{{company_phone}} or email {{company_email}}. We look forward to working for you.

"
);

const BOOKING_DE_SUBJECT: &str = "Terminbestätigung: {{service_name}} am {{start_local}}";
const BOOKING_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

vielen Dank für Ihre Buchung. Hiermit bestätigen wir Ihren Termin:

Leistung: {{service_name}}
Termin: {{start_local}}
Auftragsnummer: {{order_number}}

Mit der angehängten Kalenderdatei können Sie den Termin direkt in Ihren Kalender \
übernehmen. Falls Sie den Termin verschieben oder absagen möchten, nutzen Sie bitte \
diesen Link:
{{manage_link}}

Bei Fragen erreichen Sie uns telefonisch unter {{company_phone}}.

"
);

const BOOKING_EN_SUBJECT: &str = "Appointment confirmed: {{service_name}} on {{start_local}}";
const BOOKING_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

thank you for your booking. We are pleased to confirm your appointment:

Service: {{service_name}}
Date and time: {{start_local}}
Order number: {{order_number}}

You can add the appointment to your calendar with the attached calendar file. \
If you need to reschedule or cancel, please use this link:
{{manage_link}}

If you have any questions, please call us at {{company_phone}}.

"
);

const MOVED_DE_SUBJECT: &str = "Termin verschoben: {{service_name}} am {{start_local}}";
const MOVED_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

Ihr Termin ist verschoben. Der neue Termin:

Leistung: {{service_name}}
Termin: {{start_local}}
Auftragsnummer: {{order_number}}

Die angehängte Kalenderdatei ersetzt den bisherigen Eintrag in Ihrem Kalender. \
Ihren Termin können Sie weiterhin hier ansehen, verschieben oder absagen:
{{manage_link}}

"
);

const MOVED_EN_SUBJECT: &str = "Appointment moved: {{service_name}} on {{start_local}}";
const MOVED_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

your appointment has been moved. The new appointment:

Service: {{service_name}}
Date and time: {{start_local}}
Order number: {{order_number}}

The attached calendar file replaces the previous entry in your calendar. \
You can still see, move or cancel your appointment here:
{{manage_link}}

"
);

const CANCELLED_DE_SUBJECT: &str = "Termin abgesagt: {{service_name}} am {{start_local}}";
const CANCELLED_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

hiermit bestätigen wir, dass Ihr Termin abgesagt ist:

Leistung: {{service_name}}
Termin: {{start_local}}
Auftragsnummer: {{order_number}}

Mit der angehängten Kalenderdatei entfernen Sie den Termin aus Ihrem Kalender. \
Wenn Sie einen neuen Termin möchten, rufen Sie uns gern unter {{company_phone}} an. \
Ihre Buchung können Sie weiterhin hier ansehen:
{{manage_link}}

"
);

const CANCELLED_EN_SUBJECT: &str = "Appointment cancelled: {{service_name}} on {{start_local}}";
const CANCELLED_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

we confirm that your appointment has been cancelled:

Service: {{service_name}}
Date and time: {{start_local}}
Order number: {{order_number}}

The attached calendar file removes the appointment from your calendar. \
If you would like a new appointment, please call us at {{company_phone}}. \
You can still see your booking here:
{{manage_link}}

"
);

const EN_ROUTE_DE_SUBJECT: &str = "Wir sind auf dem Weg zu Ihnen – {{company_name}}";
const EN_ROUTE_DE_BODY: &str = with_signature_de!(
    "Guten Tag {{customer_name}},

{{technician_name}} ist jetzt auf dem Weg zu Ihnen und trifft voraussichtlich \
im Zeitfenster {{window_local}} bei Ihnen ein.

Wo wir gerade sind und Ihr Termin: {{manage_link}}

Auftrag: {{order_number}} „{{order_title}}“

Sollten Sie kurzfristig verhindert sein, rufen Sie uns bitte unter \
{{company_phone}} an.

"
);

const EN_ROUTE_EN_SUBJECT: &str = "We are on our way to you – {{company_name}}";
const EN_ROUTE_EN_BODY: &str = with_signature_en!(
    "Dear {{customer_name}},

{{technician_name}} is now on the way to you and should arrive within the time \
window {{window_local}}.

Where we are and your appointment: {{manage_link}}

Order: {{order_number}} \"{{order_title}}\"

If you are unexpectedly unavailable, please call us at {{company_phone}}.

"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_segments() {
        assert_eq!(
            parse("body", "Hallo {{ name }}!{x}").unwrap(),
            vec![
                Segment::Text("Hallo "),
                Segment::Var("name"),
                Segment::Text("!{x}")
            ]
        );
        for bad in [
            "{{a", "a}}", "{{}}", "{{A}}", "{{a b}}", "{{{a}}}", "}}{{a}}", "{{a}}}}",
        ] {
            assert!(parse("body", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_names() {
        for kind in TemplateKind::ALL {
            let json = format!("\"{}\"", kind.as_str());
            assert_eq!(serde_plain(kind), json);
            assert_eq!(kind.as_str().parse::<TemplateKind>().unwrap(), kind);
        }
        assert_eq!(serde_plain(Lang::De), "\"de\"");
    }

    #[test]
    fn empty_labels_are_left_out_of_the_body() {
        let template = default_template(TemplateKind::Quote, Lang::De);
        let mut vars: BTreeMap<&str, String> = variables(TemplateKind::Quote)
            .iter()
            .map(|v| (*v, format!("<{v}>")))
            .collect();
        vars.insert("imprint_url", "https://example.de/impressum".to_owned());
        vars.insert("privacy_url", String::new());
        let (_, body) = render(&template, &vars).unwrap();
        assert!(body.ends_with(
            "<company_name>\nTelefon: <company_phone>\nE-Mail: <company_email>\n\
             Impressum: https://example.de/impressum\n"
        ));
        assert!(!body.contains("Datenschutz"));
        // Only labels go: other lines with empty values stay.
        let t = Template {
            subject: "S: {{a}}".to_owned(),
            body: "Hallo {{a}},\r\nA: {{a}} {{b}}\nB: {{b}}\n\n{{a}}\nEnde".to_owned(),
        };
        let vars = BTreeMap::from([("a", String::new()), ("b", "x".to_owned())]);
        let (subject, body) = render(&t, &vars).unwrap();
        assert_eq!(subject, "S:");
        assert_eq!(body, "Hallo ,\r\nA:  x\nB: x\n\n\nEnde");
        for kind in TemplateKind::ALL {
            for lang in Lang::ALL {
                validate(kind, &default_template(kind, lang)).unwrap();
            }
        }
    }

    fn serde_plain<T: Serialize>(v: T) -> String {
        serde_json::to_string(&v).unwrap()
    }
}
