//! The tenant's billing profile, and the lifecycles of quotes and invoices.
//!
//! Amounts here are integer cents (what storage keeps); the decimal arithmetic that produces
//! them lives in [`crate::billing`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::billing::{InvoiceStatus, NumberPattern};

/// Who the tenant is on an invoice, how it is paid and how documents are numbered. Saved
/// as the office fills it in; invoicing is refused until [`BillingProfile::missing`] is empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BillingProfile {
    pub legal_name: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2; `DE` when not given.
    pub country: Option<String>,
    /// USt-IdNr. (`DE` + 9 digits).
    pub vat_id: Option<String>,
    /// Steuernummer (enough for small businesses under §19 UStG).
    pub tax_number: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub bank_name: Option<String>,
    pub invoice_number_pattern: Option<String>,
    pub credit_note_number_pattern: Option<String>,
    pub quote_number_pattern: Option<String>,
    pub payment_terms_days: Option<u32>,
    /// 19, 7 or 0.
    pub default_vat_rate: Option<String>,
    /// Kleinunternehmer (§19 UStG): no VAT is charged.
    pub small_business: bool,
    /// `de` or `en`: documents and e-mails.
    pub language: Option<String>,
}

pub const DEFAULT_INVOICE_PATTERN: &str = "RE-{YYYY}-{SEQ:5}";
pub const DEFAULT_CREDIT_NOTE_PATTERN: &str = "GS-{YYYY}-{SEQ:5}";
pub const DEFAULT_QUOTE_PATTERN: &str = "AN-{YYYY}-{SEQ:5}";
pub const DEFAULT_PAYMENT_TERMS_DAYS: u32 = 14;

fn filled(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

impl BillingProfile {
    /// Fields an invoice cannot be issued without, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        for (name, value) in [
            ("legal_name", &self.legal_name),
            ("street", &self.street),
            ("postal_code", &self.postal_code),
            ("city", &self.city),
            ("contact_name", &self.contact_name),
            ("contact_phone", &self.contact_phone),
            ("contact_email", &self.contact_email),
            ("iban", &self.iban),
        ] {
            if !filled(value) {
                missing.push(name);
            }
        }
        if !filled(&self.vat_id) && !filled(&self.tax_number) {
            missing.push("vat_id_or_tax_number");
        }
        missing
    }

    pub fn country(&self) -> &str {
        self.country.as_deref().unwrap_or("DE")
    }

    pub fn payment_terms_days(&self) -> u32 {
        self.payment_terms_days
            .unwrap_or(DEFAULT_PAYMENT_TERMS_DAYS)
    }

    pub fn english(&self) -> bool {
        self.language.as_deref() == Some("en")
    }

    fn pattern(value: &Option<String>, default: &str) -> NumberPattern {
        value
            .as_deref()
            .and_then(|p| NumberPattern::parse(p).ok())
            .or_else(|| NumberPattern::parse(default).ok())
            .unwrap_or_else(|| unreachable_pattern(default))
    }

    pub fn invoice_pattern(&self) -> NumberPattern {
        Self::pattern(&self.invoice_number_pattern, DEFAULT_INVOICE_PATTERN)
    }

    pub fn credit_note_pattern(&self) -> NumberPattern {
        Self::pattern(
            &self.credit_note_number_pattern,
            DEFAULT_CREDIT_NOTE_PATTERN,
        )
    }

    pub fn quote_pattern(&self) -> NumberPattern {
        Self::pattern(&self.quote_number_pattern, DEFAULT_QUOTE_PATTERN)
    }

    /// Field-by-field format checks (JSON pointer names, message).
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        let text_fields: [(&'static str, &Option<String>, usize); 12] = [
            ("legal_name", &self.legal_name, 200),
            ("street", &self.street, 200),
            ("postal_code", &self.postal_code, 20),
            ("city", &self.city, 100),
            ("country", &self.country, 2),
            ("vat_id", &self.vat_id, 20),
            ("tax_number", &self.tax_number, 30),
            ("contact_name", &self.contact_name, 200),
            ("contact_phone", &self.contact_phone, 50),
            ("contact_email", &self.contact_email, 254),
            ("bank_name", &self.bank_name, 200),
            ("language", &self.language, 2),
        ];
        for (name, value, max) in text_fields {
            if let Some(v) = value {
                if v.trim().is_empty() {
                    errors.push((name, "must not be blank; leave it out instead".to_owned()));
                } else if v.chars().count() > max {
                    errors.push((name, format!("at most {max} characters")));
                }
            }
        }
        if let Some(c) = &self.country
            && !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            errors.push((
                "country",
                "an ISO 3166-1 alpha-2 code such as DE".to_owned(),
            ));
        }
        if let Some(v) = &self.vat_id
            && !vat_id_valid(v)
        {
            errors.push((
                "vat_id",
                "a VAT identification number: country prefix and 2–13 letters or digits, DE + 9 digits in Germany".to_owned(),
            ));
        }
        if let Some(v) = &self.contact_email
            && !email_plausible(v)
        {
            errors.push(("contact_email", "an e-mail address".to_owned()));
        }
        if let Some(v) = &self.iban
            && !iban_valid(v)
        {
            errors.push((
                "iban",
                "not a valid IBAN (check digits do not match)".to_owned(),
            ));
        }
        if let Some(v) = &self.bic
            && !bic_valid(v)
        {
            errors.push(("bic", "a BIC: 8 or 11 letters and digits".to_owned()));
        }
        for (name, value) in [
            ("invoice_number_pattern", &self.invoice_number_pattern),
            (
                "credit_note_number_pattern",
                &self.credit_note_number_pattern,
            ),
            ("quote_number_pattern", &self.quote_number_pattern),
        ] {
            if let Some(p) = value
                && let Err(message) = NumberPattern::parse(p)
            {
                errors.push((name, message));
            }
        }
        if let Some(days) = self.payment_terms_days
            && days > 365
        {
            errors.push(("payment_terms_days", "at most 365 days".to_owned()));
        }
        if let Some(rate) = &self.default_vat_rate
            && !["19", "7", "0"].contains(&rate.as_str())
        {
            errors.push(("default_vat_rate", "one of 19, 7, 0".to_owned()));
        }
        if let Some(lang) = &self.language
            && !["de", "en"].contains(&lang.as_str())
        {
            errors.push(("language", "de or en".to_owned()));
        }
        errors
    }
}

fn unreachable_pattern(default: &str) -> NumberPattern {
    // The defaults are constants that parse; a failure is a programming error caught by the
    // unit test below, so fall back to the simplest valid pattern rather than panic.
    NumberPattern::parse("{SEQ}").unwrap_or_else(|_| panic!("default pattern {default}"))
}

/// Loose e-mail check: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn email_plausible(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
        && !domain.contains('@')
        && s.len() <= 254
}

/// ISO 13616 IBAN: country, check digits, BBAN; mod 97 = 1. Spaces are allowed.
pub fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        || !compact[..2].chars().all(|c| c.is_ascii_uppercase())
        || !compact[2..4].chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    if compact.starts_with("DE") && compact.len() != 22 {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut remainder: u32 = 0;
    for c in rearranged.chars() {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        let digits = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * digits + value) % 97;
    }
    remainder == 1
}

/// The IBAN without spaces (what the XML carries).
pub fn iban_compact(s: &str) -> String {
    s.chars().filter(|c| *c != ' ').collect()
}

pub fn bic_valid(s: &str) -> bool {
    (s.len() == 8 || s.len() == 11)
        && s[..6].chars().all(|c| c.is_ascii_uppercase())
        && s[6..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub fn vat_id_valid(s: &str) -> bool {
    if s.len() < 4 || s.len() > 15 {
        return false;
    }
    let (country, rest) = s.split_at(2);
    if !country.chars().all(|c| c.is_ascii_uppercase()) {
        return false;
    }
    if country == "DE" {
        return rest.len() == 9 && rest.chars().all(|c| c.is_ascii_digit());
    }
    rest.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '*')
}

/// Why an invoice or quote command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("cannot {action} an invoice that is {current}")]
    InvalidTransition {
        action: &'static str,
        current: &'static str,
    },
    #[error("the payment of {amount} cents exceeds the {open} cents still open")]
    Overpayment { amount: i64, open: i64 },
    #[error("a payment must be more than zero")]
    NotPositive,
}

/// Issue a draft (the number is assigned in the same transaction).
pub fn issue(status: InvoiceStatus) -> Result<InvoiceStatus, LifecycleError> {
    match status {
        InvoiceStatus::Draft => Ok(InvoiceStatus::Issued),
        other => Err(invalid("issue", other)),
    }
}

/// The document left by e-mail (or was handed over): issued → sent; sending again keeps the
/// status (a paid invoice can be sent again as a copy).
pub fn mark_sent(status: InvoiceStatus) -> Result<InvoiceStatus, LifecycleError> {
    match status {
        InvoiceStatus::Issued | InvoiceStatus::Sent => Ok(InvoiceStatus::Sent),
        InvoiceStatus::Paid => Ok(InvoiceStatus::Paid),
        other => Err(invalid("send", other)),
    }
}

/// Records a payment of `amount` cents against an invoice of `grand_total` with `paid`
/// cents already received. Returns the new status and paid total.
pub fn pay(
    status: InvoiceStatus,
    grand_total: i64,
    paid: i64,
    amount: i64,
) -> Result<(InvoiceStatus, i64), LifecycleError> {
    if !matches!(status, InvoiceStatus::Issued | InvoiceStatus::Sent) {
        return Err(invalid("record a payment for", status));
    }
    if amount <= 0 {
        return Err(LifecycleError::NotPositive);
    }
    let open = grand_total - paid;
    if amount > open {
        return Err(LifecycleError::Overpayment { amount, open });
    }
    let paid = paid + amount;
    let status = if paid == grand_total {
        InvoiceStatus::Paid
    } else {
        status
    };
    Ok((status, paid))
}

/// A credit note reverses the invoice; it is then cancelled.
pub fn cancel_by_credit_note(status: InvoiceStatus) -> Result<InvoiceStatus, LifecycleError> {
    match status {
        InvoiceStatus::Issued | InvoiceStatus::Sent | InvoiceStatus::Paid => {
            Ok(InvoiceStatus::Cancelled)
        }
        other => Err(invalid("credit", other)),
    }
}

/// Unpaid past the due date.
pub fn overdue(status: InvoiceStatus, due: Option<NaiveDate>, today: NaiveDate) -> bool {
    matches!(status, InvoiceStatus::Issued | InvoiceStatus::Sent) && due.is_some_and(|d| d < today)
}

fn invalid(action: &'static str, current: InvoiceStatus) -> LifecycleError {
    LifecycleError::InvalidTransition {
        action,
        current: current.as_str(),
    }
}

/// Quote statuses; `expired` is derived from the validity date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteStatus {
    Draft,
    Sent,
    Accepted,
    Declined,
}

impl QuoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            QuoteStatus::Draft,
            QuoteStatus::Sent,
            QuoteStatus::Accepted,
            QuoteStatus::Declined,
        ]
        .into_iter()
        .find(|q| q.as_str() == s)
    }

    /// Lines may change only before the customer answered; an accepted quote is frozen.
    pub fn editable(self) -> bool {
        matches!(self, QuoteStatus::Draft | QuoteStatus::Sent)
    }
}

/// The customer's answer to a sent, still valid quote.
pub fn answer_quote(
    status: QuoteStatus,
    valid_until: NaiveDate,
    today: NaiveDate,
    accept: bool,
) -> Result<QuoteStatus, QuoteError> {
    match status {
        QuoteStatus::Sent if valid_until < today => Err(QuoteError::Expired { valid_until }),
        QuoteStatus::Sent => Ok(if accept {
            QuoteStatus::Accepted
        } else {
            QuoteStatus::Declined
        }),
        QuoteStatus::Draft => Err(QuoteError::NotSent),
        QuoteStatus::Accepted | QuoteStatus::Declined => Err(QuoteError::Answered {
            current: status.as_str(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("the quote expired on {valid_until}")]
    Expired { valid_until: NaiveDate },
    #[error("the quote has not been sent")]
    NotSent,
    #[error("the quote was already {current}")]
    Answered { current: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ibans() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(!iban_valid("DE89370400440532013001"));
        assert!(!iban_valid("DE8937040044053201300"));
        assert!(iban_valid("GB29NWBK60161331926819"));
        assert!(!iban_valid("de89370400440532013000"));
    }

    #[test]
    fn bics_and_vat_ids() {
        assert!(bic_valid("COBADEFFXXX"));
        assert!(bic_valid("COBADEFF"));
        assert!(!bic_valid("COBADEF"));
        assert!(vat_id_valid("DE123456789"));
        assert!(!vat_id_valid("DE12345678"));
        assert!(vat_id_valid("ATU12345678"));
    }

    #[test]
    fn default_patterns_parse() {
        for p in [
            DEFAULT_INVOICE_PATTERN,
            DEFAULT_CREDIT_NOTE_PATTERN,
            DEFAULT_QUOTE_PATTERN,
        ] {
            assert!(NumberPattern::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn profile_completeness_names_what_is_missing() {
        let mut p = BillingProfile::default();
        assert!(p.missing().contains(&"legal_name"));
        assert!(p.missing().contains(&"vat_id_or_tax_number"));
        p.legal_name = Some("Fenster Müller GmbH".into());
        p.street = Some("Hauptstr. 1".into());
        p.postal_code = Some("10115".into());
        p.city = Some("Berlin".into());
        p.contact_name = Some("Eva Müller".into());
        p.contact_phone = Some("+49 30 123456".into());
        p.contact_email = Some("buero@example.de".into());
        p.iban = Some("DE89370400440532013000".into());
        p.tax_number = Some("30/123/45678".into());
        assert!(p.missing().is_empty());
        assert!(p.validate().is_empty());
    }

    #[test]
    fn quote_answers() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default();
        let later = day.succ_opt().unwrap_or(day);
        assert_eq!(
            answer_quote(QuoteStatus::Sent, later, day, true),
            Ok(QuoteStatus::Accepted)
        );
        assert!(matches!(
            answer_quote(QuoteStatus::Sent, day.pred_opt().unwrap_or(day), day, true),
            Err(QuoteError::Expired { .. })
        ));
        assert!(matches!(
            answer_quote(QuoteStatus::Accepted, later, day, false),
            Err(QuoteError::Answered { .. })
        ));
        assert_eq!(
            answer_quote(QuoteStatus::Draft, later, day, true),
            Err(QuoteError::NotSent)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Issue,
        Send,
        Pay(i64),
        Credit,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Issue),
            Just(Op::Send),
            (-50i64..20_000).prop_map(Op::Pay),
            Just(Op::Credit),
        ]
    }

    proptest! {
        /// Whatever is tried in whatever order: the paid total never exceeds the invoice,
        /// `paid` holds exactly when everything is paid, a refused command changes nothing,
        /// and cancelled is final.
        #[test]
        fn invoice_lifecycle_invariants(grand in 1i64..10_000, ops in proptest::collection::vec(op(), 0..30)) {
            let mut status = InvoiceStatus::Draft;
            let mut paid = 0i64;
            for op in ops {
                let before = (status, paid);
                let result = match op {
                    Op::Issue => issue(status).map(|s| (s, paid)),
                    Op::Send => mark_sent(status).map(|s| (s, paid)),
                    Op::Pay(amount) => pay(status, grand, paid, amount),
                    Op::Credit => cancel_by_credit_note(status).map(|s| (s, paid)),
                };
                match result {
                    Ok((s, p)) => {
                        prop_assert!(before.0 != InvoiceStatus::Cancelled);
                        status = s;
                        paid = p;
                    }
                    Err(_) => prop_assert_eq!((status, paid), before),
                }
                prop_assert!((0..=grand).contains(&paid));
                prop_assert_eq!(status == InvoiceStatus::Paid, paid == grand && status != InvoiceStatus::Cancelled);
                if status == InvoiceStatus::Draft {
                    prop_assert_eq!(paid, 0);
                }
            }
        }
    }
}
