//! Text formatting shared by the XML and the PDF.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use workorders_domain::billing::round_amount;

use crate::Lang;

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// CII date format 102: `20261103`.
pub fn date_102(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// An amount with exactly two decimals, `1234.50`.
pub fn amount(d: Decimal) -> String {
    round_amount(d).to_string()
}

/// A quantity or unit price without trailing zeros, `1.5`.
pub fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Groups the integer part in thousands and uses the language's separators.
pub fn number(d: Decimal, min_decimals: u32, lang: Lang) -> String {
    let mut n = d.normalize();
    if n.scale() < min_decimals {
        n.rescale(min_decimals);
    }
    let text = n.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let (thousands, decimal) = match lang {
        Lang::De => ('.', ','),
        Lang::En => (',', '.'),
    };
    let mut out = String::new();
    if n.is_sign_negative() && !n.is_zero() {
        out.push('-');
    }
    let digits: Vec<char> = int.chars().collect();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(thousands);
        }
        out.push(*c);
    }
    if !frac.is_empty() {
        out.push(decimal);
        out.push_str(frac);
    }
    out
}

/// `1.234,56 €` (De) or `€1,234.56` (En); other currencies by code.
pub fn money(d: Decimal, currency: &str, lang: Lang) -> String {
    let n = number(round_amount(d), 2, lang);
    match (lang, currency) {
        (Lang::De, "EUR") => format!("{n} €"),
        (Lang::En, "EUR") => match n.strip_prefix('-') {
            Some(abs) => format!("-€{abs}"),
            None => format!("€{n}"),
        },
        (_, code) => format!("{n} {code}"),
    }
}

/// `03.11.2026` (De) or `2026-11-03` (En).
pub fn date(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::De => d.format("%d.%m.%Y").to_string(),
        Lang::En => d.format("%Y-%m-%d").to_string(),
    }
}

/// A short label for a UN/ECE Rec 20 unit code.
pub fn unit_label(code: &str, lang: Lang) -> String {
    let (de, en) = match code {
        "HUR" => ("Std.", "h"),
        "MIN" => ("Min.", "min"),
        "SEC" => ("Sek.", "s"),
        "DAY" => ("Tag(e)", "day(s)"),
        "WEE" => ("Woche(n)", "week(s)"),
        "MON" => ("Monat(e)", "month(s)"),
        "ANN" => ("Jahr(e)", "year(s)"),
        "C62" | "H87" | "EA" => ("Stk.", "pcs"),
        "SET" => ("Set", "set"),
        "PR" => ("Paar", "pair"),
        "LS" => ("pauschal", "lump sum"),
        "MMT" => ("mm", "mm"),
        "CMT" => ("cm", "cm"),
        "MTR" => ("m", "m"),
        "KMT" => ("km", "km"),
        "MTK" => ("m²", "m²"),
        "MTQ" => ("m³", "m³"),
        "GRM" => ("g", "g"),
        "KGM" => ("kg", "kg"),
        "TNE" => ("t", "t"),
        "MLT" => ("ml", "ml"),
        "LTR" => ("l", "l"),
        "KWH" => ("kWh", "kWh"),
        "XPK" => ("Pck.", "pack"),
        "XBX" => ("Karton", "box"),
        "XRO" => ("Rolle", "roll"),
        other => (other, other),
    };
    match lang {
        Lang::De => de.to_string(),
        Lang::En => en.to_string(),
    }
}

/// `DE89 3704 0044 0532 0130 00`.
pub fn iban(s: &str) -> String {
    let compact: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    compact
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn german_and_english_money() {
        assert_eq!(money(d("1234.5"), "EUR", Lang::De), "1.234,50 €");
        assert_eq!(money(d("1234567.891"), "EUR", Lang::De), "1.234.567,89 €");
        assert_eq!(money(d("-0.5"), "EUR", Lang::En), "-€0.50");
        assert_eq!(money(d("999"), "CHF", Lang::De), "999,00 CHF");
        assert_eq!(number(d("1.5000"), 0, Lang::De), "1,5");
        assert_eq!(number(d("12.3456"), 2, Lang::De), "12,3456");
        assert_eq!(
            iban("DE89370400440532013000"),
            "DE89 3704 0044 0532 0130 00"
        );
    }

    #[test]
    fn xml_escape_handles_markup_and_control_characters() {
        assert_eq!(
            xml_escape("A & B <c> \"d\" 'e'\u{1}"),
            "A &amp; B &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
    }
}
