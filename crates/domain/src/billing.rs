//! Invoice arithmetic per EN 16931 and the small value types around invoices.
//!
//! All amounts are [`Decimal`]s: a line's net amount is quantity × unit price rounded to two
//! decimals (half away from zero), the VAT of each group (category + rate) is the group's taxable
//! amount × rate / 100 rounded the same way, and the totals are plain sums. These are the
//! calculation rules the EN 16931 business rules (BR-CO-10, BR-CO-13, BR-CO-14, BR-CO-15,
//! BR-S-08, …) check, so an invoice computed here passes them by construction.

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// VAT category code (EN 16931 BT-118 / BT-151, UNTDID 5305 subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxCategory {
    /// `S`: standard rate (19 % or 7 % in Germany).
    Standard,
    /// `Z`: zero-rated goods.
    Zero,
    /// `E`: exempt from VAT (here: §19 UStG small business).
    Exempt,
    /// `AE`: VAT reverse charge (§13b UStG).
    ReverseCharge,
}

impl TaxCategory {
    /// The EN 16931 code: `S`, `Z`, `E` or `AE`.
    pub fn code(&self) -> &'static str {
        match self {
            TaxCategory::Standard => "S",
            TaxCategory::Zero => "Z",
            TaxCategory::Exempt => "E",
            TaxCategory::ReverseCharge => "AE",
        }
    }
}

/// How the seller treats VAT on a whole invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// Regular VAT: each line's rate applies (19/7 → `S`, 0 → `Z`).
    Regular,
    /// §19 UStG small business: no VAT is charged, every line is `E`.
    SmallBusiness,
    /// §13b UStG: the recipient owes the VAT, every line is `AE`.
    ReverseCharge,
}

impl TaxTreatment {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxTreatment::Regular => "regular",
            TaxTreatment::SmallBusiness => "small_business",
            TaxTreatment::ReverseCharge => "reverse_charge",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Regular, Self::SmallBusiness, Self::ReverseCharge]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

/// One invoice line as entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    pub name: String,
    pub description: Option<String>,
    pub quantity: Decimal,
    /// UN/ECE Recommendation 20 unit code, see [`is_known_unit`].
    pub unit: String,
    /// Net price per unit, at most 4 decimals.
    pub unit_price: Decimal,
    /// 19, 7 or 0.
    pub vat_rate: Decimal,
}

/// A computed invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// 1-based position (BT-126).
    pub position: u32,
    pub name: String,
    pub description: Option<String>,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Decimal,
    /// quantity × unit price, rounded to 2 decimals (BT-131).
    pub net_amount: Decimal,
    pub category: TaxCategory,
    pub vat_rate: Decimal,
}

/// One VAT breakdown group (BG-23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatGroup {
    pub category: TaxCategory,
    pub rate: Decimal,
    /// BT-116.
    pub taxable_amount: Decimal,
    /// BT-117.
    pub tax_amount: Decimal,
    /// BT-120.
    pub exemption_reason: Option<String>,
    /// BT-121 (VATEX code).
    pub exemption_code: Option<String>,
}

/// Document totals (BG-22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of line net amounts (BT-106).
    pub line_total: Decimal,
    /// Total without VAT (BT-109); equals `line_total` (no document allowances/charges).
    pub tax_basis_total: Decimal,
    /// Total VAT (BT-110).
    pub tax_total: Decimal,
    /// Total with VAT (BT-112) and amount due (BT-115).
    pub grand_total: Decimal,
}

/// The result of [`compute`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    pub lines: Vec<Line>,
    pub vat: Vec<VatGroup>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BillingError {
    #[error("an invoice needs at least one line")]
    NoLines,
    #[error("line {index}: {field}: {message}")]
    InvalidLine {
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("amounts too large")]
    Overflow,
}

/// Upper bound (exclusive) for quantities and unit prices.
const MAX_MAGNITUDE: i64 = 1_000_000_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Text for BT-120 on §19 UStG invoices.
pub fn small_business_reason() -> &'static str {
    "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet (Kleinunternehmerregelung)."
}

/// Text for BT-120 on §13b UStG invoices (code [`REVERSE_CHARGE_CODE`]).
pub fn reverse_charge_reason() -> &'static str {
    "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG)"
}

/// BT-121 code for reverse charge.
pub const REVERSE_CHARGE_CODE: &str = "VATEX-EU-AE";

/// UN/ECE Recommendation 20 (and Rec 21 `X..`) codes used by trades.
pub const KNOWN_UNITS: &[(&str, &str)] = &[
    ("HUR", "hour"),
    ("MIN", "minute"),
    ("SEC", "second"),
    ("DAY", "day"),
    ("WEE", "week"),
    ("MON", "month"),
    ("ANN", "year"),
    ("C62", "one (piece)"),
    ("H87", "piece"),
    ("EA", "each"),
    ("SET", "set"),
    ("PR", "pair"),
    ("LS", "lump sum"),
    ("MMT", "millimetre"),
    ("CMT", "centimetre"),
    ("MTR", "metre"),
    ("KMT", "kilometre"),
    ("MTK", "square metre"),
    ("MTQ", "cubic metre"),
    ("GRM", "gram"),
    ("KGM", "kilogram"),
    ("TNE", "tonne"),
    ("MLT", "millilitre"),
    ("LTR", "litre"),
    ("KWH", "kilowatt hour"),
    ("XPK", "package"),
    ("XBX", "box"),
    ("XRO", "roll"),
];

/// Whether `code` is one of [`KNOWN_UNITS`].
pub fn is_known_unit(code: &str) -> bool {
    KNOWN_UNITS.iter().any(|(c, _)| *c == code)
}

fn allowed_rates() -> [Decimal; 3] {
    [Decimal::from(19), Decimal::from(7), Decimal::ZERO]
}

/// Checks one line; the error names the field and says what is wrong.
pub fn validate_line(line: &LineInput) -> Result<(), (&'static str, String)> {
    let name_chars = line.name.chars().count();
    if line.name.trim().is_empty() {
        return Err(("name", "must not be empty".into()));
    }
    if name_chars > MAX_NAME_CHARS {
        return Err(("name", format!("at most {MAX_NAME_CHARS} characters")));
    }
    if let Some(d) = &line.description
        && d.chars().count() > MAX_DESCRIPTION_CHARS
    {
        return Err((
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let max = Decimal::from(MAX_MAGNITUDE);
    // No negative lines: a discount is a lower price, a correction of an issued invoice is
    // a credit note.
    if line.quantity.is_zero() || line.quantity.is_sign_negative() {
        return Err((
            "quantity",
            "must be greater than zero (corrections go through a credit note)".into(),
        ));
    }
    if line.quantity.normalize().scale() > 4 {
        return Err(("quantity", "at most 4 decimals".into()));
    }
    if line.quantity.abs() >= max {
        return Err(("quantity", "must be below 1000000000".into()));
    }
    if line.unit_price.is_sign_negative() && !line.unit_price.is_zero() {
        return Err(("unit_price", "must not be negative".into()));
    }
    if line.unit_price.normalize().scale() > 4 {
        return Err(("unit_price", "at most 4 decimals".into()));
    }
    if line.unit_price >= max {
        return Err(("unit_price", "must be below 1000000000".into()));
    }
    if !allowed_rates().contains(&line.vat_rate) {
        return Err(("vat_rate", "must be 19, 7 or 0".into()));
    }
    if !is_known_unit(&line.unit) {
        return Err(("unit", format!("unknown unit code {:?}", line.unit)));
    }
    Ok(())
}

/// Rounds to 2 decimals, half away from zero, and fixes the scale at 2 (`19.00`).
pub fn round_amount(value: Decimal) -> Decimal {
    let mut r = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

/// Computes lines, VAT groups and totals.
pub fn compute(lines: &[LineInput], treatment: TaxTreatment) -> Result<Computed, BillingError> {
    if lines.is_empty() {
        return Err(BillingError::NoLines);
    }
    let mut out = Vec::with_capacity(lines.len());
    for (index, input) in lines.iter().enumerate() {
        validate_line(input).map_err(|(field, message)| BillingError::InvalidLine {
            index,
            field,
            message,
        })?;
        let (category, rate) = match treatment {
            TaxTreatment::Regular if input.vat_rate.is_zero() => (TaxCategory::Zero, Decimal::ZERO),
            TaxTreatment::Regular => (TaxCategory::Standard, input.vat_rate),
            TaxTreatment::SmallBusiness => (TaxCategory::Exempt, Decimal::ZERO),
            TaxTreatment::ReverseCharge => (TaxCategory::ReverseCharge, Decimal::ZERO),
        };
        let mut rate = rate.normalize();
        rate.rescale(2);
        let net = input
            .quantity
            .checked_mul(input.unit_price)
            .ok_or(BillingError::Overflow)?;
        let position = u32::try_from(index + 1).map_err(|_| BillingError::Overflow)?;
        out.push(Line {
            position,
            name: input.name.trim().to_string(),
            description: input
                .description
                .as_ref()
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            quantity: input.quantity.normalize(),
            unit: input.unit.clone(),
            unit_price: input.unit_price.normalize(),
            net_amount: round_amount(net),
            category,
            vat_rate: rate,
        });
    }

    // Groups keyed by (category, rate); BTreeMap gives a deterministic order:
    // S before Z before E before AE, higher rates first.
    let mut groups: std::collections::BTreeMap<(TaxCategory, std::cmp::Reverse<Decimal>), Decimal> =
        Default::default();
    for line in &out {
        let sum = groups
            .entry((line.category, std::cmp::Reverse(line.vat_rate)))
            .or_insert(Decimal::ZERO);
        *sum = sum
            .checked_add(line.net_amount)
            .ok_or(BillingError::Overflow)?;
    }
    let mut vat = Vec::with_capacity(groups.len());
    for ((category, std::cmp::Reverse(rate)), taxable) in groups {
        let tax = taxable.checked_mul(rate).ok_or(BillingError::Overflow)? / Decimal::ONE_HUNDRED;
        let (exemption_reason, exemption_code) = match category {
            TaxCategory::Exempt => (Some(small_business_reason().to_string()), None),
            TaxCategory::ReverseCharge => (
                Some(reverse_charge_reason().to_string()),
                Some(REVERSE_CHARGE_CODE.to_string()),
            ),
            TaxCategory::Standard | TaxCategory::Zero => (None, None),
        };
        vat.push(VatGroup {
            category,
            rate,
            taxable_amount: round_amount(taxable),
            tax_amount: round_amount(tax),
            exemption_reason,
            exemption_code,
        });
    }

    let line_total = checked_sum(out.iter().map(|l| l.net_amount))?;
    let tax_total = checked_sum(vat.iter().map(|g| g.tax_amount))?;
    let grand_total = line_total
        .checked_add(tax_total)
        .ok_or(BillingError::Overflow)?;
    Ok(Computed {
        lines: out,
        vat,
        totals: Totals {
            line_total: round_amount(line_total),
            tax_basis_total: round_amount(line_total),
            tax_total: round_amount(tax_total),
            grand_total: round_amount(grand_total),
        },
    })
}

fn checked_sum(mut values: impl Iterator<Item = Decimal>) -> Result<Decimal, BillingError> {
    values.try_fold(Decimal::ZERO, |acc, v| {
        acc.checked_add(v).ok_or(BillingError::Overflow)
    })
}

/// Lifecycle of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Issued,
    Sent,
    Paid,
    Cancelled,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 5] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Sent,
        InvoiceStatus::Paid,
        InvoiceStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Sent => "sent",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Token {
    Literal(String),
    Year4,
    Year2,
    Month,
    /// Sequence number, zero-padded to the width (0 = no padding).
    Seq(usize),
}

/// An invoice number pattern such as `RE-{YYYY}-{SEQ:5}`.
///
/// Tokens: `{YYYY}`, `{YY}`, `{MM}`, `{SEQ}`, `{SEQ:n}` (n = 1..=12, zero-padded). Exactly one
/// sequence token; `{MM}` needs a year token. Other characters: `A-Z a-z 0-9 - _ / .`; at most
/// 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberPattern {
    text: String,
    tokens: Vec<Token>,
}

impl NumberPattern {
    pub const MAX_CHARS: usize = 40;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(format!("at most {} characters", Self::MAX_CHARS));
        }
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if c == '{' {
                let end = rest
                    .find('}')
                    .ok_or_else(|| "unclosed '{' in pattern".to_string())?;
                let inner = &rest[1..end];
                let token = match inner {
                    "YYYY" => Token::Year4,
                    "YY" => Token::Year2,
                    "MM" => Token::Month,
                    "SEQ" => Token::Seq(0),
                    _ => match inner.strip_prefix("SEQ:").map(str::parse::<usize>) {
                        Some(Ok(n)) if (1..=12).contains(&n) && !inner[4..].starts_with('0') => {
                            Token::Seq(n)
                        }
                        Some(_) => return Err("{SEQ:n} needs n between 1 and 12".into()),
                        None => return Err(format!("unknown token {{{inner}}}")),
                    },
                };
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(token);
                rest = &rest[end + 1..];
            } else if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.') {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            } else {
                return Err(format!("character {c:?} not allowed"));
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        let seqs = tokens.iter().filter(|t| matches!(t, Token::Seq(_))).count();
        if seqs != 1 {
            return Err("needs exactly one {SEQ} or {SEQ:n} token".into());
        }
        let has_year = tokens
            .iter()
            .any(|t| matches!(t, Token::Year4 | Token::Year2));
        if tokens.contains(&Token::Month) && !has_year {
            return Err("{MM} needs {YYYY} or {YY}".into());
        }
        Ok(Self {
            text: s.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn has_year(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Year4 | Token::Year2))
    }

    /// The numbering period `date` falls in: `"2026"`, `"2026-11"` or `""` (never restarts).
    pub fn period(&self, date: NaiveDate) -> String {
        if !self.has_year() {
            String::new()
        } else if self.tokens.contains(&Token::Month) {
            format!("{:04}-{:02}", date.year(), date.month())
        } else {
            format!("{:04}", date.year())
        }
    }

    /// The invoice number for sequence number `seq` in the period of `date`.
    pub fn format(&self, date: NaiveDate, seq: u64) -> String {
        let mut out = String::with_capacity(self.text.len() + 8);
        for token in &self.tokens {
            match token {
                Token::Literal(l) => out.push_str(l),
                Token::Year4 => out.push_str(&format!("{:04}", date.year())),
                Token::Year2 => out.push_str(&format!("{:02}", date.year().rem_euclid(100))),
                Token::Month => out.push_str(&format!("{:02}", date.month())),
                Token::Seq(width) => out.push_str(&format!("{seq:0width$}")),
            }
        }
        out
    }

    /// The sequence number of `number` if it was formatted with this pattern in the period
    /// of `date`.
    pub fn sequence_of(&self, number: &str, date: NaiveDate) -> Option<u64> {
        let fixed: usize = self
            .tokens
            .iter()
            .map(|t| match t {
                Token::Literal(l) => l.len(),
                Token::Year4 => 4,
                Token::Year2 | Token::Month => 2,
                Token::Seq(_) => 0,
            })
            .sum();
        let seq_len = number.len().checked_sub(fixed)?;
        let mut rest = number;
        let mut seq = None;
        for token in &self.tokens {
            let take = match token {
                Token::Literal(l) => l.len(),
                Token::Year4 => 4,
                Token::Year2 | Token::Month => 2,
                Token::Seq(_) => seq_len,
            };
            let part = rest.get(..take)?;
            rest = rest.get(take..)?;
            let ok = match token {
                Token::Literal(l) => part == l,
                Token::Year4 => part == format!("{:04}", date.year()),
                Token::Year2 => part == format!("{:02}", date.year().rem_euclid(100)),
                Token::Month => part == format!("{:02}", date.month()),
                Token::Seq(width) => {
                    if part.len() < (*width).max(1) || !part.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    seq = part.parse::<u64>().ok();
                    seq.is_some()
                }
            };
            if !ok {
                return None;
            }
        }
        seq.filter(|s| self.format(date, *s) == number)
    }
}

impl fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for NumberPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NumberPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NumberPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn line(q: &str, price: &str, rate: u32) -> LineInput {
        LineInput {
            name: "Arbeit".into(),
            description: None,
            quantity: d(q),
            unit: "HUR".into(),
            unit_price: d(price),
            vat_rate: Decimal::from(rate),
        }
    }

    #[test]
    fn line_net_rounds_half_away_from_zero() {
        let c = compute(&[line("3", "0.335", 19)], TaxTreatment::Regular).expect("ok");
        assert_eq!(c.lines[0].net_amount.to_string(), "1.01");
        assert!(
            compute(&[line("-3", "0.335", 19)], TaxTreatment::Regular).is_err(),
            "negative lines are refused"
        );
    }

    #[test]
    fn vat_is_rounded_per_group_not_per_line() {
        // 3 × 0.10 at 19 %: per line 0.02 each (0.06), per group 0.30 × 19 % = 0.057 → 0.06.
        // 3 × 0.05: per line 0.01 each (0.03), per group 0.15 × 19 % = 0.0285 → 0.03.
        let lines = vec![
            line("1", "0.05", 19),
            line("1", "0.05", 19),
            line("1", "0.05", 19),
        ];
        let c = compute(&lines, TaxTreatment::Regular).expect("ok");
        assert_eq!(c.vat.len(), 1);
        assert_eq!(c.vat[0].taxable_amount.to_string(), "0.15");
        assert_eq!(c.vat[0].tax_amount.to_string(), "0.03");
        assert_eq!(c.totals.grand_total.to_string(), "0.18");
    }

    #[test]
    fn mixed_rates_are_grouped_in_a_fixed_order() {
        let lines = vec![
            line("1", "10", 0),
            line("2", "50", 7),
            line("1.5", "80", 19),
        ];
        let c = compute(&lines, TaxTreatment::Regular).expect("ok");
        let groups: Vec<_> = c
            .vat
            .iter()
            .map(|g| {
                (
                    g.category.code(),
                    g.rate.to_string(),
                    g.tax_amount.to_string(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            vec![
                ("S", "19.00".to_string(), "22.80".to_string()),
                ("S", "7.00".to_string(), "7.00".to_string()),
                ("Z", "0.00".to_string(), "0.00".to_string()),
            ]
        );
        assert_eq!(c.totals.line_total.to_string(), "230.00");
        assert_eq!(c.totals.grand_total.to_string(), "259.80");
    }

    #[test]
    fn small_business_and_reverse_charge_ignore_line_rates() {
        let lines = vec![line("1", "100", 19), line("1", "50", 7)];
        let c = compute(&lines, TaxTreatment::SmallBusiness).expect("ok");
        assert_eq!(c.vat.len(), 1);
        assert_eq!(c.vat[0].category, TaxCategory::Exempt);
        assert_eq!(
            c.vat[0].exemption_reason.as_deref(),
            Some(small_business_reason())
        );
        assert_eq!(c.totals.tax_total, Decimal::ZERO);
        assert_eq!(c.totals.grand_total.to_string(), "150.00");
        let c = compute(&lines, TaxTreatment::ReverseCharge).expect("ok");
        assert_eq!(c.vat[0].category.code(), "AE");
        assert_eq!(c.vat[0].exemption_code.as_deref(), Some("VATEX-EU-AE"));
        assert!(c.lines.iter().all(|l| l.vat_rate.is_zero()));
    }

    #[test]
    fn invalid_lines_are_refused_with_their_field() {
        assert_eq!(
            compute(&[], TaxTreatment::Regular),
            Err(BillingError::NoLines)
        );
        let cases = [
            (line("0", "1", 19), "quantity"),
            (line("1.00001", "1", 19), "quantity"),
            (line("1000000000", "1", 19), "quantity"),
            (line("1", "-1", 19), "unit_price"),
            (line("1", "0.00001", 19), "unit_price"),
            (line("1", "1", 16), "vat_rate"),
            (
                LineInput {
                    unit: "XYZ".into(),
                    ..line("1", "1", 19)
                },
                "unit",
            ),
            (
                LineInput {
                    name: " ".into(),
                    ..line("1", "1", 19)
                },
                "name",
            ),
            (
                LineInput {
                    name: "x".repeat(201),
                    ..line("1", "1", 19)
                },
                "name",
            ),
        ];
        for (input, field) in cases {
            match compute(&[line("1", "1", 19), input], TaxTreatment::Regular) {
                Err(BillingError::InvalidLine {
                    index: 1, field: f, ..
                }) => assert_eq!(f, field),
                other => panic!("expected {field} error, got {other:?}"),
            }
        }
        assert!(validate_line(&line("1.5000", "0.0001", 7)).is_ok());
    }

    #[test]
    fn number_pattern_formats_and_refuses_bad_patterns() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 3).expect("date");
        let p = NumberPattern::parse("RE-{YYYY}-{MM}/{SEQ:5}").expect("valid");
        assert_eq!(p.format(date, 42), "RE-2026-11/00042");
        assert_eq!(p.period(date), "2026-11");
        assert_eq!(p.sequence_of("RE-2026-11/00042", date), Some(42));
        assert_eq!(p.sequence_of("RE-2026-10/00042", date), None);
        let p = NumberPattern::parse("{YY}{SEQ}").expect("valid");
        assert_eq!(p.format(date, 7), "267");
        assert_eq!(p.period(date), "2026");
        assert_eq!(
            NumberPattern::parse("G{SEQ:3}")
                .expect("valid")
                .period(date),
            ""
        );
        for bad in [
            "",
            "RE-{YYYY}",
            "{SEQ}{SEQ}",
            "{SEQ:0}",
            "{SEQ:13}",
            "R E{SEQ}",
            "{MM}{SEQ}",
            "{SEQ",
            "{FOO}{SEQ}",
            &format!("{}{{SEQ}}", "A".repeat(40)),
        ] {
            assert!(NumberPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn status_and_treatment_round_trip() {
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            TaxTreatment::parse("small_business"),
            Some(TaxTreatment::SmallBusiness)
        );
    }

    fn arb_line() -> impl Strategy<Value = LineInput> {
        (
            1i64..50_000,
            0i64..100_000_000,
            prop_oneof![Just(0u32), Just(7u32), Just(19u32)],
        )
            .prop_map(|(q, p, r)| LineInput {
                name: "Material".into(),
                description: None,
                quantity: Decimal::new(q, 2),
                unit: "C62".into(),
                unit_price: Decimal::new(p, 4),
                vat_rate: Decimal::from(r),
            })
    }

    fn arb_treatment() -> impl Strategy<Value = TaxTreatment> {
        prop_oneof![
            Just(TaxTreatment::Regular),
            Just(TaxTreatment::SmallBusiness),
            Just(TaxTreatment::ReverseCharge)
        ]
    }

    proptest! {
        #[test]
        fn totals_are_sums_of_parts(lines in proptest::collection::vec(arb_line(), 1..20), t in arb_treatment()) {
            let c = compute(&lines, t).expect("valid lines");
            let net: Decimal = c.lines.iter().map(|l| l.net_amount).sum();
            let taxable: Decimal = c.vat.iter().map(|g| g.taxable_amount).sum();
            let tax: Decimal = c.vat.iter().map(|g| g.tax_amount).sum();
            prop_assert_eq!(c.totals.line_total, net);
            prop_assert_eq!(c.totals.tax_basis_total, taxable);
            prop_assert_eq!(c.totals.tax_total, tax);
            prop_assert_eq!(c.totals.grand_total, c.totals.tax_basis_total + c.totals.tax_total);
            for g in &c.vat {
                prop_assert_eq!(g.tax_amount, round_amount(g.taxable_amount * g.rate / Decimal::ONE_HUNDRED));
            }
            let amounts = c.lines.iter().map(|l| l.net_amount)
                .chain(c.vat.iter().flat_map(|g| [g.taxable_amount, g.tax_amount]))
                .chain([c.totals.line_total, c.totals.tax_basis_total, c.totals.tax_total, c.totals.grand_total]);
            for a in amounts {
                prop_assert!(a.scale() <= 2, "{} has more than 2 decimals", a);
            }
        }

        #[test]
        fn result_does_not_depend_on_line_order(lines in proptest::collection::vec(arb_line(), 1..12), t in arb_treatment(), seed in any::<u64>()) {
            let mut shuffled = lines.clone();
            // Deterministic shuffle from the seed.
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let a = compute(&lines, t).expect("valid");
            let b = compute(&shuffled, t).expect("valid");
            prop_assert_eq!(a.vat, b.vat);
            prop_assert_eq!(a.totals, b.totals);
        }

        #[test]
        fn pattern_format_and_sequence_round_trip(
            prefix in "[A-Z]{0,4}",
            sep in prop_oneof![Just(""), Just("-"), Just("/"), Just(".")],
            year in prop_oneof![Just(""), Just("{YYYY}"), Just("{YY}"), Just("{YYYY}{MM}"), Just("{YY}-{MM}")],
            width in 0usize..=12,
            seq in 0u64..10_000_000,
            days in 0i64..20_000,
        ) {
            let seq_token = if width == 0 { "{SEQ}".to_string() } else { format!("{{SEQ:{width}}}") };
            let text = format!("{prefix}{year}{sep}{seq_token}");
            let p = NumberPattern::parse(&text).expect("valid pattern");
            prop_assert_eq!(NumberPattern::parse(p.as_str()).expect("reparse"), p.clone());
            let date = NaiveDate::from_ymd_opt(2000, 1, 1).expect("date") + chrono::Duration::days(days);
            let number = p.format(date, seq);
            prop_assert_eq!(p.sequence_of(&number, date), Some(seq));
            let period = p.period(date);
            match year {
                "" => prop_assert_eq!(period, ""),
                "{YYYY}" | "{YY}" => prop_assert_eq!(period, format!("{:04}", date.year())),
                _ => prop_assert_eq!(period, format!("{:04}-{:02}", date.year(), date.month())),
            }
            // Same period ⇔ the number is reproducible from the other date.
            let other = date + chrono::Duration::days(40);
            if p.period(other) == p.period(date) {
                prop_assert_eq!(p.format(other, seq), number);
            }
        }
    }
}
