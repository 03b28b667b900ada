//! German and English: which one a page speaks, its words, and dates the way people there
//! write them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The other one (for the switch on every page).
    pub fn other(self) -> Lang {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }

    fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The page's language: `?lang=` (the switch), else the first of the browser's
    /// `Accept-Language` we speak (by its weights), else German (the companies are German).
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        Lang::negotiate_or(query, accept_language, Lang::De)
    }

    /// [`Lang::negotiate`] with the company's default language as the last resort.
    pub fn negotiate_or(
        query: Option<&str>,
        accept_language: Option<&str>,
        fallback: Lang,
    ) -> Lang {
        if let Some(lang) = query.and_then(Lang::parse) {
            return lang;
        }
        let mut offered: Vec<(f32, Lang)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Lang::parse(pieces.next()?)?;
                let weight = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (weight > 0.0).then_some((weight, lang))
            })
            .collect();
        // Stable: equal weights keep the browser's order.
        offered.sort_by(|a, b| b.0.total_cmp(&a.0));
        offered.first().map_or(fallback, |(_, lang)| *lang)
    }

    /// "Dienstag, 8. Dezember 2026" / "Tuesday, 8 December 2026".
    pub fn long_date(self, date: NaiveDate) -> String {
        let t = self.texts();
        let weekday = t.weekdays[date.weekday().num_days_from_monday() as usize];
        let month = t.months[date.month0() as usize];
        match self {
            Lang::De => format!("{weekday}, {}. {month} {}", date.day(), date.year()),
            Lang::En => format!("{weekday}, {} {month} {}", date.day(), date.year()),
        }
    }

    /// "Di 8.12." / "Tue 8 Dec".
    pub fn short_date(self, date: NaiveDate) -> String {
        let t = self.texts();
        let weekday = t.weekdays[date.weekday().num_days_from_monday() as usize];
        match self {
            Lang::De => format!("{}, {}.{}.", &weekday[..2], date.day(), date.month()),
            Lang::En => format!(
                "{}, {} {}",
                &weekday[..3],
                date.day(),
                &t.months[date.month0() as usize][..3]
            ),
        }
    }

    /// "14:30" in both languages (24-hour clock; also usual in English-speaking Europe).
    pub fn time(self, at: DateTime<Utc>, tz: Tz) -> String {
        at.with_timezone(&tz).format("%H:%M").to_string()
    }

    /// "Dienstag, 8. Dezember 2026, 14:30–15:30 Uhr".
    pub fn appointment(self, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
        let date = self.long_date(start.with_timezone(&tz).date_naive());
        let (from, to) = (self.time(start, tz), self.time(end, tz));
        match self {
            Lang::De => format!("{date}, {from}–{to} Uhr"),
            Lang::En => format!("{date}, {from}–{to}"),
        }
    }
}

/// Every word the pages say.
pub struct Texts {
    pub weekdays: [&'static str; 7],
    pub months: [&'static str; 12],
    pub switch_to: &'static str,
    pub imprint: &'static str,
    pub privacy: &'static str,
    pub book_title: &'static str,
    pub book_intro: &'static str,
    pub minutes: &'static str,
    pub choose: &'static str,
    pub no_services: &'static str,
    pub where_title: &'static str,
    pub postal_code: &'static str,
    pub postal_code_hint: &'static str,
    pub show_times: &'static str,
    pub not_served: &'static str,
    pub times_title: &'static str,
    pub times_hint: &'static str,
    pub no_times: &'static str,
    pub earlier: &'static str,
    pub later: &'static str,
    pub change_postal_code: &'static str,
    pub details_title: &'static str,
    pub your_appointment: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub optional: &'static str,
    pub street: &'static str,
    pub city: &'static str,
    pub notes: &'static str,
    pub notes_hint: &'static str,
    pub consent: &'static str,
    pub book_now: &'static str,
    pub other_time: &'static str,
    pub fix_errors: &'static str,
    pub invalid_name: &'static str,
    pub invalid_email: &'static str,
    pub invalid_phone: &'static str,
    pub invalid_street: &'static str,
    pub invalid_postal_code: &'static str,
    pub invalid_city: &'static str,
    pub invalid_notes: &'static str,
    pub invalid_consent: &'static str,
    pub taken: &'static str,
    pub taken_none: &'static str,
    pub alternatives: &'static str,
    pub booked_title: &'static str,
    pub booked_intro: &'static str,
    pub status_title: &'static str,
    pub reference: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub add_to_calendar: &'static str,
    pub keep_link: &'static str,
    pub progress: &'static str,
    pub step_received: &'static str,
    pub step_booked: &'static str,
    pub step_visited: &'static str,
    pub step_done: &'static str,
    pub step_invoiced: &'static str,
    pub status_cancelled: &'static str,
    pub status_on_the_way: &'static str,
    pub status_on_site: &'static str,
    pub reschedule: &'static str,
    pub reschedule_title: &'static str,
    pub reschedule_intro: &'static str,
    pub move_here: &'static str,
    pub rescheduled: &'static str,
    pub cancel_title: &'static str,
    pub cancel_reason: &'static str,
    pub cancel_button: &'static str,
    pub cancelled_notice: &'static str,
    pub not_changeable: &'static str,
    pub back: &'static str,
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub error_title: &'static str,
    pub error: &'static str,
    pub busy_title: &'static str,
    pub busy: &'static str,
    pub expired_form: &'static str,
    pub times_in: &'static str,
    pub invoice_title: &'static str,
    pub credit_title: &'static str,
    pub invoice_number: &'static str,
    pub credit_number: &'static str,
    pub invoice_date: &'static str,
    pub due_date: &'static str,
    pub invoice_status: &'static str,
    pub invoice_open: &'static str,
    pub invoice_overdue: &'static str,
    pub invoice_partly_paid: &'static str,
    pub invoice_paid: &'static str,
    pub invoice_cancelled: &'static str,
    pub invoice_credit: &'static str,
    pub amount_due: &'static str,
    pub pay_title: &'static str,
    pub account_holder: &'static str,
    pub payment_reference: &'static str,
    pub girocode_hint: &'static str,
    pub girocode_label: &'static str,
    pub documents: &'static str,
    pub download_pdf: &'static str,
    pub download_cii: &'static str,
    pub download_xrechnung: &'static str,
    pub documents_hint: &'static str,
    pub quote_title: &'static str,
    pub quote_number: &'static str,
    pub quote_for: &'static str,
    pub valid_until: &'static str,
    pub quote_lines: &'static str,
    pub item: &'static str,
    pub quantity: &'static str,
    pub unit_price: &'static str,
    pub amount: &'static str,
    pub net_total: &'static str,
    pub vat: &'static str,
    pub grand_total: &'static str,
    pub quote_expired: &'static str,
    pub accept_title: &'static str,
    pub your_name_signature: &'static str,
    pub accept_hint: &'static str,
    pub accept_button: &'static str,
    pub decline_title: &'static str,
    pub decline_comment: &'static str,
    pub decline_button: &'static str,
    pub quote_accepted: &'static str,
    pub quote_declined: &'static str,
    pub answer_name_missing: &'static str,
    pub answer_final: &'static str,
}

pub static DE: Texts = Texts {
    weekdays: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    switch_to: "English",
    imprint: "Impressum",
    privacy: "Datenschutz",
    book_title: "Termin buchen",
    book_intro: "Wählen Sie, wobei wir Ihnen helfen dürfen.",
    minutes: "Minuten",
    choose: "Auswählen",
    no_services: "Zurzeit können keine Termine online gebucht werden. Bitte rufen Sie uns an.",
    where_title: "Wo sollen wir hinkommen?",
    postal_code: "Postleitzahl",
    postal_code_hint: "Wir prüfen, ob wir in Ihrer Gegend arbeiten.",
    show_times: "Freie Termine zeigen",
    not_served: "In diesem Postleitzahlgebiet bieten wir diese Leistung leider nicht an.",
    times_title: "Freie Termine",
    times_hint: "Wählen Sie eine Uhrzeit.",
    no_times: "In diesem Zeitraum ist leider nichts frei.",
    earlier: "Frühere Tage",
    later: "Spätere Tage",
    change_postal_code: "Andere Postleitzahl",
    details_title: "Ihre Angaben",
    your_appointment: "Ihr Termin",
    name: "Name",
    email: "E-Mail-Adresse",
    phone: "Telefon",
    optional: "optional",
    street: "Straße und Hausnummer",
    city: "Ort",
    notes: "Worum geht es?",
    notes_hint: "Zum Beispiel: drei Fenster im Erdgeschoss, Altbau.",
    consent: "Ich bin einverstanden, dass meine Angaben zur Bearbeitung dieser Anfrage gespeichert werden.",
    book_now: "Verbindlich buchen",
    other_time: "Andere Zeit wählen",
    fix_errors: "Bitte prüfen Sie die markierten Angaben.",
    invalid_name: "Bitte geben Sie Ihren Namen an (höchstens 200 Zeichen).",
    invalid_email: "Bitte geben Sie eine gültige E-Mail-Adresse an.",
    invalid_phone: "Nur Ziffern, Leerzeichen und + - ( ) /, höchstens 40 Zeichen.",
    invalid_street: "Bitte geben Sie Straße und Hausnummer an.",
    invalid_postal_code: "Bitte geben Sie die Postleitzahl an.",
    invalid_city: "Bitte geben Sie den Ort an.",
    invalid_notes: "Höchstens 2000 Zeichen, ohne Steuerzeichen.",
    invalid_consent: "Ohne Ihr Einverständnis können wir die Anfrage nicht bearbeiten.",
    taken: "Dieser Termin ist gerade vergeben worden. Bitte wählen Sie eine andere Zeit:",
    taken_none: "Dieser Termin ist gerade vergeben worden, und in dieser Woche ist nichts mehr frei.",
    alternatives: "Andere freie Zeiten",
    booked_title: "Vielen Dank, Ihr Termin ist gebucht",
    booked_intro: "Wir haben Ihnen eine Bestätigung per E-Mail geschickt.",
    status_title: "Ihr Termin",
    reference: "Buchungsnummer",
    when: "Wann",
    who: "Es kommt",
    what: "Leistung",
    add_to_calendar: "In den Kalender eintragen (.ics)",
    keep_link: "Über diese Seite können Sie Ihren Termin jederzeit ansehen, verschieben oder absagen. Bewahren Sie den Link gut auf; er ist nur für Sie bestimmt:",
    progress: "Stand Ihres Auftrags",
    step_received: "Anfrage eingegangen",
    step_booked: "Termin vereinbart",
    step_visited: "Termin wahrgenommen",
    step_done: "Arbeiten abgeschlossen",
    step_invoiced: "Rechnung gestellt",
    status_cancelled: "Dieser Termin ist abgesagt.",
    status_on_the_way: "Wir sind auf dem Weg zu Ihnen.",
    status_on_site: "Wir sind bei Ihnen vor Ort.",
    reschedule: "Termin verschieben",
    reschedule_title: "Termin verschieben",
    reschedule_intro: "Wählen Sie eine neue Zeit. Ihr bisheriger Termin bleibt bestehen, bis Sie bestätigen.",
    move_here: "Auf diese Zeit verschieben",
    rescheduled: "Ihr Termin ist verschoben. Sie erhalten eine Bestätigung per E-Mail.",
    cancel_title: "Termin absagen",
    cancel_reason: "Grund (freiwillig)",
    cancel_button: "Termin absagen",
    cancelled_notice: "Ihr Termin ist abgesagt.",
    not_changeable: "Dieser Termin kann online nicht mehr geändert werden. Bitte rufen Sie uns an.",
    back: "Zurück",
    not_found_title: "Seite nicht gefunden",
    not_found: "Diese Seite gibt es nicht (mehr). Bitte prüfen Sie den Link.",
    error_title: "Ein Fehler ist aufgetreten",
    error: "Das hat leider nicht geklappt. Bitte versuchen Sie es in einigen Minuten noch einmal.",
    busy_title: "Zu viele Anfragen",
    busy: "Gerade kommen zu viele Anfragen an. Bitte versuchen Sie es in einer Minute noch einmal.",
    expired_form: "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu.",
    times_in: "Alle Zeiten in Ortszeit",
    invoice_title: "Ihre Rechnung",
    credit_title: "Ihre Gutschrift",
    invoice_number: "Rechnungsnummer",
    credit_number: "Gutschriftsnummer",
    invoice_date: "Datum",
    due_date: "Zahlbar bis",
    invoice_status: "Stand",
    invoice_open: "Offen",
    invoice_overdue: "Überfällig – bitte überweisen Sie den offenen Betrag",
    invoice_partly_paid: "Teilweise bezahlt",
    invoice_paid: "Bezahlt – vielen Dank!",
    invoice_cancelled: "Storniert: Diese Rechnung ist durch eine Gutschrift aufgehoben und nicht mehr zu bezahlen.",
    invoice_credit: "Gutschrift: Der Betrag wird Ihnen erstattet.",
    amount_due: "Offener Betrag",
    pay_title: "Bezahlen per Überweisung",
    account_holder: "Empfänger",
    payment_reference: "Verwendungszweck",
    girocode_hint: "Scannen Sie den GiroCode mit Ihrer Banking-App: Empfänger, IBAN, Betrag und Verwendungszweck sind dann schon ausgefüllt.",
    girocode_label: "GiroCode für die Überweisung von",
    documents: "Dokumente",
    download_pdf: "Als PDF herunterladen",
    download_cii: "E-Rechnung (ZUGFeRD-XML)",
    download_xrechnung: "XRechnung (XML)",
    documents_hint: "Das PDF enthält die E-Rechnungsdaten (ZUGFeRD) für Ihre Buchhaltung.",
    quote_title: "Ihr Angebot",
    quote_number: "Angebotsnummer",
    quote_for: "Betreff",
    valid_until: "Gültig bis",
    quote_lines: "Positionen",
    item: "Leistung",
    quantity: "Menge",
    unit_price: "Einzelpreis",
    amount: "Betrag",
    net_total: "Summe netto",
    vat: "Umsatzsteuer",
    grand_total: "Gesamtbetrag",
    quote_expired: "Dieses Angebot ist abgelaufen. Bitte sprechen Sie uns an, wir erstellen Ihnen gern ein neues.",
    accept_title: "Angebot annehmen",
    your_name_signature: "Ihr vollständiger Name",
    accept_hint: "Mit Ihrem Namen nehmen Sie das Angebot verbindlich an.",
    accept_button: "Angebot verbindlich annehmen",
    decline_title: "Angebot ablehnen",
    decline_comment: "Anmerkung (freiwillig)",
    decline_button: "Angebot ablehnen",
    quote_accepted: "Angenommen von",
    quote_declined: "Abgelehnt von",
    answer_name_missing: "Bitte geben Sie Ihren Namen an (höchstens 200 Zeichen).",
    answer_final: "Auf dieses Angebot wurde bereits geantwortet.",
};

pub static EN: Texts = Texts {
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    switch_to: "Deutsch",
    imprint: "Legal notice",
    privacy: "Privacy",
    book_title: "Book an appointment",
    book_intro: "Choose what we can help you with.",
    minutes: "minutes",
    choose: "Choose",
    no_services: "Online booking is not available at the moment. Please call us.",
    where_title: "Where should we come?",
    postal_code: "Postal code",
    postal_code_hint: "We check whether we work in your area.",
    show_times: "Show free times",
    not_served: "Sorry, we do not offer this service at this postal code.",
    times_title: "Free times",
    times_hint: "Choose a time.",
    no_times: "Sorry, nothing is free in this period.",
    earlier: "Earlier days",
    later: "Later days",
    change_postal_code: "Other postal code",
    details_title: "Your details",
    your_appointment: "Your appointment",
    name: "Name",
    email: "E-mail address",
    phone: "Phone",
    optional: "optional",
    street: "Street and number",
    city: "Town",
    notes: "What is it about?",
    notes_hint: "For example: three windows on the ground floor, old building.",
    consent: "I agree that my details are stored to handle this request.",
    book_now: "Book now",
    other_time: "Choose another time",
    fix_errors: "Please check the marked fields.",
    invalid_name: "Please give your name (at most 200 characters).",
    invalid_email: "Please give a valid e-mail address.",
    invalid_phone: "Digits, spaces and + - ( ) / only, at most 40 characters.",
    invalid_street: "Please give the street and number.",
    invalid_postal_code: "Please give the postal code.",
    invalid_city: "Please give the town.",
    invalid_notes: "At most 2000 characters, no control characters.",
    invalid_consent: "We cannot handle the request without your agreement.",
    taken: "This time has just been taken. Please choose another one:",
    taken_none: "This time has just been taken, and nothing else is free this week.",
    alternatives: "Other free times",
    booked_title: "Thank you, your appointment is booked",
    booked_intro: "We have sent you a confirmation by e-mail.",
    status_title: "Your appointment",
    reference: "Booking reference",
    when: "When",
    who: "Who comes",
    what: "Service",
    add_to_calendar: "Add to calendar (.ics)",
    keep_link: "On this page you can see, move or cancel your appointment at any time. Keep the link safe; it is meant for you only:",
    progress: "Progress of your order",
    step_received: "Request received",
    step_booked: "Appointment booked",
    step_visited: "Appointment kept",
    step_done: "Work finished",
    step_invoiced: "Invoice sent",
    status_cancelled: "This appointment is cancelled.",
    status_on_the_way: "We are on our way to you.",
    status_on_site: "We are with you on site.",
    reschedule: "Move the appointment",
    reschedule_title: "Move the appointment",
    reschedule_intro: "Choose a new time. Your current appointment stays until you confirm.",
    move_here: "Move to this time",
    rescheduled: "Your appointment has been moved. You will get a confirmation by e-mail.",
    cancel_title: "Cancel the appointment",
    cancel_reason: "Reason (optional)",
    cancel_button: "Cancel the appointment",
    cancelled_notice: "Your appointment is cancelled.",
    not_changeable: "This appointment can no longer be changed online. Please call us.",
    back: "Back",
    not_found_title: "Page not found",
    not_found: "This page does not exist (any more). Please check the link.",
    error_title: "Something went wrong",
    error: "Sorry, that did not work. Please try again in a few minutes.",
    busy_title: "Too many requests",
    busy: "Too many requests are arriving right now. Please try again in a minute.",
    expired_form: "The form has expired. Please reload the page.",
    times_in: "All times in local time",
    invoice_title: "Your invoice",
    credit_title: "Your credit note",
    invoice_number: "Invoice number",
    credit_number: "Credit note number",
    invoice_date: "Date",
    due_date: "Payable by",
    invoice_status: "Status",
    invoice_open: "Open",
    invoice_overdue: "Overdue – please transfer the amount due",
    invoice_partly_paid: "Partly paid",
    invoice_paid: "Paid – thank you!",
    invoice_cancelled: "Cancelled: this invoice was reversed by a credit note and is not to be paid.",
    invoice_credit: "Credit note: the amount will be refunded to you.",
    amount_due: "Amount due",
    pay_title: "Pay by bank transfer",
    account_holder: "Recipient",
    payment_reference: "Payment reference",
    girocode_hint: "Scan the GiroCode with your banking app: recipient, IBAN, amount and reference are filled in for you.",
    girocode_label: "GiroCode for the transfer of",
    documents: "Documents",
    download_pdf: "Download as PDF",
    download_cii: "E-invoice (ZUGFeRD XML)",
    download_xrechnung: "XRechnung (XML)",
    documents_hint: "The PDF contains the e-invoice data (ZUGFeRD) for your accounts.",
    quote_title: "Your quote",
    quote_number: "Quote number",
    quote_for: "Subject",
    valid_until: "Valid until",
    quote_lines: "Items",
    item: "Item",
    quantity: "Quantity",
    unit_price: "Unit price",
    amount: "Amount",
    net_total: "Net total",
    vat: "VAT",
    grand_total: "Total",
    quote_expired: "This quote has expired. Please contact us; we will gladly make you a new one.",
    accept_title: "Accept the quote",
    your_name_signature: "Your full name",
    accept_hint: "By giving your name you accept the quote bindingly.",
    accept_button: "Accept the quote",
    decline_title: "Decline the quote",
    decline_comment: "Comment (optional)",
    decline_button: "Decline the quote",
    quote_accepted: "Accepted by",
    quote_declined: "Declined by",
    answer_name_missing: "Please give your name (at most 200 characters).",
    answer_final: "This quote has already been answered.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_wins_then_the_browser_then_german() {
        assert_eq!(Lang::negotiate(Some("en"), Some("de-DE")), Lang::En);
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("en-GB,en;q=0.9")),
            Lang::En
        );
        assert_eq!(
            Lang::negotiate(None, Some("fr-FR, de;q=0.5, en;q=0.8")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("en;q=0, de")), Lang::De);
        assert_eq!(Lang::negotiate(None, Some("fr")), Lang::De);
        assert_eq!(Lang::negotiate(None, None), Lang::De);
        // The company's default language only when nothing else decides.
        assert_eq!(Lang::negotiate_or(None, None, Lang::En), Lang::En);
        assert_eq!(Lang::negotiate_or(None, Some("fr"), Lang::En), Lang::En);
        assert_eq!(Lang::negotiate_or(None, Some("de"), Lang::En), Lang::De);
        assert_eq!(Lang::negotiate_or(Some("de"), None, Lang::En), Lang::De);
    }

    #[test]
    fn dates_read_as_people_write_them() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 8).expect("a date");
        assert_eq!(Lang::De.long_date(day), "Dienstag, 8. Dezember 2026");
        assert_eq!(Lang::En.long_date(day), "Tuesday, 8 December 2026");
        assert_eq!(Lang::De.short_date(day), "Di, 8.12.");
        assert_eq!(Lang::En.short_date(day), "Tue, 8 Dec");
    }
}
