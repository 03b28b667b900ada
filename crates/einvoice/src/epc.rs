//! The EPC QR code ("GiroCode", European Payments Council guideline EPC069-12, version 002):
//! a SEPA credit transfer a banking app fills in from a photo — beneficiary, IBAN, amount
//! and the invoice number as remittance text.

use qrcode::{Color, EcLevel, QrCode};
use rust_decimal::Decimal;

use crate::PaymentInfo;

/// The largest amount the guideline allows (EUR 999,999,999.99).
fn max_amount() -> Decimal {
    Decimal::new(99_999_999_999, 2)
}

/// The QR code's text for a transfer of `amount` to the account in `payment`, or `None`
/// when no transfer can be asked for: not euro, nothing to pay, no IBAN, no beneficiary
/// name, or a text the guideline does not allow.
pub fn epc_payload(
    payment: &PaymentInfo,
    beneficiary: &str,
    amount: Decimal,
    currency: &str,
) -> Option<String> {
    let amount = amount.round_dp(2);
    if currency != "EUR" || amount < Decimal::new(1, 2) || amount > max_amount() {
        return None;
    }
    let iban: String = payment
        .iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(15..=34).contains(&iban.len()) || !iban.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let bic = payment
        .bic
        .as_deref()
        .map(str::trim)
        .filter(|b| matches!(b.len(), 8 | 11) && b.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_default();
    let name = one_line(
        payment
            .account_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(beneficiary),
        70,
    );
    if name.is_empty() {
        return None;
    }
    let remittance = one_line(&payment.reference, 140);
    let lines = [
        "BCD".to_owned(),
        "002".to_owned(),
        // Character set 1: UTF-8.
        "1".to_owned(),
        "SCT".to_owned(),
        bic.to_owned(),
        name,
        iban,
        format!("EUR{amount:.2}"),
        // Purpose code and structured creditor reference: none (the remittance text is
        // unstructured).
        String::new(),
        String::new(),
        remittance,
    ];
    let payload = lines.join("\n");
    // The guideline's limit for the whole text.
    (payload.len() <= 331).then_some(payload)
}

/// `text` on one line (line breaks and other control characters become spaces), at most
/// `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.trim().chars().take(max).collect()
}

/// A QR code as a square of modules, without the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side.
    pub width: usize,
    /// Row by row, `true` for a dark module.
    pub dark: Vec<bool>,
}

impl QrMatrix {
    /// Whether the module in `column`, `row` is dark.
    pub fn is_dark(&self, column: usize, row: usize) -> bool {
        self.dark
            .get(row * self.width + column)
            .copied()
            .unwrap_or(false)
    }

    /// An SVG image of the code with the four-module quiet zone the standard asks for,
    /// drawn as one path (black on white, scalable), titled for screen readers.
    pub fn svg(&self, title: &str) -> String {
        let side = self.width + 8;
        let mut path = String::new();
        for row in 0..self.width {
            let mut column = 0;
            while column < self.width {
                if self.is_dark(column, row) {
                    let start = column;
                    while column < self.width && self.is_dark(column, row) {
                        column += 1;
                    }
                    path.push_str(&format!(
                        "M{} {}h{}v1h-{}z",
                        start + 4,
                        row + 4,
                        column - start,
                        column - start
                    ));
                } else {
                    column += 1;
                }
            }
        }
        let title = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" role=\"img\" aria-label=\"{title}\" shape-rendering=\"crispEdges\"><title>{title}</title><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
        )
    }
}

/// The QR code of `payload` with error correction level M (as the guideline requires), or
/// `None` if it does not fit.
pub fn qr_matrix(payload: &str) -> Option<QrMatrix> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).ok()?;
    Some(QrMatrix {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

/// The GiroCode of a transfer (see [`epc_payload`]).
pub fn girocode(
    payment: &PaymentInfo,
    beneficiary: &str,
    amount: Decimal,
    currency: &str,
) -> Option<QrMatrix> {
    qr_matrix(&epc_payload(payment, beneficiary, amount, currency)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment() -> PaymentInfo {
        PaymentInfo {
            iban: "DE02 1203 0000 0000 2020 51".to_owned(),
            bic: Some("BYLADEM1001".to_owned()),
            account_name: Some("Fensterbau Müller GmbH".to_owned()),
            terms: String::new(),
            reference: "RE-2026-0042".to_owned(),
        }
    }

    #[test]
    fn the_payload_follows_the_guideline() {
        let text = epc_payload(&payment(), "ignored", Decimal::new(123_450, 2), "EUR");
        assert_eq!(
            text.as_deref(),
            Some(
                "BCD\n002\n1\nSCT\nBYLADEM1001\nFensterbau Müller GmbH\nDE02120300000000202051\nEUR1234.50\n\n\nRE-2026-0042"
            )
        );
    }

    #[test]
    fn no_code_where_no_transfer_can_be_asked_for() {
        let p = payment();
        assert!(epc_payload(&p, "x", Decimal::ZERO, "EUR").is_none());
        assert!(epc_payload(&p, "x", Decimal::new(100, 0), "USD").is_none());
        assert!(epc_payload(&p, "x", Decimal::new(1_000_000_000, 0), "EUR").is_none());
        let no_iban = PaymentInfo {
            iban: String::new(),
            ..payment()
        };
        assert!(epc_payload(&no_iban, "x", Decimal::ONE, "EUR").is_none());
        let no_name = PaymentInfo {
            account_name: None,
            ..payment()
        };
        assert!(epc_payload(&no_name, " ", Decimal::ONE, "EUR").is_none());
        // Falls back to the seller's name; BIC optional.
        let fallback = PaymentInfo {
            account_name: None,
            bic: None,
            ..payment()
        };
        let text = epc_payload(&fallback, "Müller\nGmbH", Decimal::ONE, "EUR").expect("code");
        assert!(text.contains("\nSCT\n\nMüller GmbH\n"), "{text}");
    }

    #[test]
    fn the_matrix_is_a_qr_code_of_the_payload() {
        let matrix = girocode(&payment(), "x", Decimal::new(5, 0), "EUR").expect("code");
        // Version 5-7 for this length at level M: 37 to 45 modules.
        assert!((21..=69).contains(&matrix.width), "{}", matrix.width);
        assert_eq!(matrix.dark.len(), matrix.width * matrix.width);
        // Finder pattern in the top-left corner.
        assert!(matrix.is_dark(0, 0) && matrix.is_dark(6, 6) && !matrix.is_dark(1, 1));
        let svg = matrix.svg("GiroCode <&>");
        assert!(svg.starts_with("<svg") && svg.contains("GiroCode &lt;&amp;&gt;"));
    }
}
