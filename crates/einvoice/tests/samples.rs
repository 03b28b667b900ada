//! Generates the sample invoices as EN 16931 CII, XRechnung CII and PDF/A-3, writes them to a
//! temporary directory and runs the project's checker (`tests/checkers/validate_einvoice.py`:
//! Factur-X EN 16931 XSD + CEN EN 16931 schematron) and `pdftotext` on them.
//!
//! When the checker or `pdftotext` cannot run, the tests that need them fail under CI and are
//! reported as ignored otherwise (`workorders_testkit::require`).

use std::path::{Path, PathBuf};
use std::process::Command;

use std::str::FromStr;
use workorders_testkit::{Tool, require};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use workorders_domain::billing::{LineInput, TaxTreatment, compute};
use workorders_einvoice::{
    Contact, Document, DocumentKind, EinvoiceError, Lang, Party, PaymentInfo, Profile, render_pdf,
    to_cii,
};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn date(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

fn line(name: &str, q: &str, unit: &str, price: &str, rate: u32) -> LineInput {
    LineInput {
        name: name.into(),
        description: None,
        quantity: d(q),
        unit: unit.into(),
        unit_price: d(price),
        vat_rate: Decimal::from(rate),
    }
}

fn seller() -> Party {
    Party {
        name: "Meisterbetrieb Müller & Söhne GmbH".into(),
        street: "Hauptstraße 12".into(),
        postcode: "10115".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        vat_id: Some("DE123456789".into()),
        tax_number: Some("30/123/45678".into()),
        email: Some("rechnung@mueller-handwerk.de".into()),
        contact: Some(Contact {
            name: "Anna Müller".into(),
            phone: "+49 30 1234567".into(),
            email: "anna.mueller@mueller-handwerk.de".into(),
        }),
    }
}

fn buyer() -> Party {
    Party {
        name: "Hausverwaltung Schmidt KG".into(),
        street: "Lindenallee 5".into(),
        postcode: "20095".into(),
        city: "Hamburg".into(),
        country: "DE".into(),
        vat_id: None,
        tax_number: None,
        email: Some("eingang@hv-schmidt.de".into()),
        contact: None,
    }
}

fn document(number: &str, lines: Vec<LineInput>, treatment: TaxTreatment) -> Document {
    Document {
        kind: DocumentKind::Invoice,
        number: number.into(),
        issue_date: date(2026, 11, 3),
        due_date: Some(date(2026, 11, 17)),
        delivery_date: date(2026, 10, 28),
        currency: "EUR".into(),
        buyer_reference: Some("04011000-12345-67".into()),
        seller_order_reference: Some("WO-2026-0815".into()),
        preceding_invoice: None,
        seller: seller(),
        buyer: buyer(),
        payment: PaymentInfo {
            iban: "DE89370400440532013000".into(),
            bic: Some("COBADEFFXXX".into()),
            account_name: Some("Meisterbetrieb Müller & Söhne GmbH".into()),
            terms: "Zahlbar innerhalb von 14 Tagen ohne Abzug.".into(),
            reference: number.into(),
        },
        notes: vec!["Vielen Dank für Ihren Auftrag.".into()],
        computed: compute(&lines, treatment).expect("valid lines"),
    }
}

fn single_rate() -> Document {
    document(
        "RE-2026-00001",
        vec![
            line("Arbeitszeit Geselle", "3.5", "HUR", "68.50", 19),
            line("Anfahrtspauschale", "1", "LS", "45", 19),
            line("Kupferrohr 15 mm", "12.5", "MTR", "7.3450", 19),
        ],
        TaxTreatment::Regular,
    )
}

fn mixed_rates() -> Document {
    let mut lines = vec![
        line("Heizungswartung", "2", "HUR", "72", 19),
        line("Fachbuch Heizungstechnik", "1", "C62", "39.90", 7),
        line(
            "Photovoltaik-Modul (Nullsatz § 12 Abs. 3 UStG)",
            "4",
            "C62",
            "189.00",
            0,
        ),
    ];
    lines[0].description = Some("Wartung Gas-Brennwertkessel inkl. Abgasmessung".into());
    // Enough lines to force a second page.
    for i in 0..30 {
        lines.push(line(
            &format!("Kleinmaterial Position {i}"),
            "3",
            "C62",
            "0.333",
            19,
        ));
    }
    document("RE-2026-00002", lines, TaxTreatment::Regular)
}

fn small_business() -> Document {
    let mut doc = document(
        "RE-2026-00003",
        vec![
            line("Gartenpflege", "5", "HUR", "35", 19),
            line("Grünschnitt-Entsorgung", "1.5", "MTQ", "28", 7),
        ],
        TaxTreatment::SmallBusiness,
    );
    doc.seller.vat_id = None;
    doc.seller.tax_number = Some("21/815/08150".into());
    doc.seller.name = "Gartenservice Klein".into();
    doc
}

fn reverse_charge() -> Document {
    let mut doc = document(
        "RE-2026-00004",
        vec![
            line(
                "Estricharbeiten Bauvorhaben Nord",
                "86.5",
                "MTK",
                "24.80",
                19,
            ),
            line("Bauleitung", "6", "HUR", "85", 19),
        ],
        TaxTreatment::ReverseCharge,
    );
    doc.buyer.name = "Bau AG Nord".into();
    doc.buyer.vat_id = Some("DE987654321".into());
    doc
}

fn credit_note() -> Document {
    let mut doc = document(
        "GS-2026-00001",
        vec![line(
            "Gutschrift Arbeitszeit (zu viel berechnet)",
            "1",
            "HUR",
            "68.50",
            19,
        )],
        TaxTreatment::Regular,
    );
    doc.kind = DocumentKind::CreditNote;
    doc.preceding_invoice = Some(("RE-2026-00001".into(), date(2026, 11, 3)));
    doc.due_date = None;
    doc.payment.terms = "Der Betrag wird Ihnen innerhalb von 7 Tagen überwiesen.".into();
    doc
}

/// Runs the project's EN 16931 checker; `allow` names fatal rules that do not count.
/// Returns whether every file is valid, and the report (one JSON line per file).
fn validate(files: &[PathBuf], allow: &[&str]) -> (bool, String) {
    require(Tool::EInvoice);
    let mut command = Command::new(workorders_testkit::python());
    command.arg(workorders_testkit::checker("validate_einvoice.py"));
    for rule in allow {
        command.args(["--allow", rule]);
    }
    let out = command.args(files).output().expect("the checker runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the checker could not check the files ({}): {report}",
        out.status
    );
    (out.status.success(), report)
}

fn pdftotext(pdf: &Path) -> String {
    require(Tool::PdfToText);
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(out.status.success(), "pdftotext failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check_sample(name: &str, doc: &Document, lang: Lang) {
    let dir = tempfile::tempdir().expect("temp dir");
    let en = to_cii(doc, Profile::En16931).expect("EN 16931 CII");
    let xr = to_cii(doc, Profile::XRechnung).expect("XRechnung CII");
    assert!(en.contains("<ram:GuidelineSpecifiedDocumentContextParameter>"));
    assert!(xr.contains("urn:xeinkauf.de:kosit:xrechnung_3.0"));
    let pdf = render_pdf(doc, lang, &en).expect("PDF");
    let pdf_xr = render_pdf(doc, lang, &xr).expect("PDF with XRechnung XML");

    assert!(pdf.starts_with(b"%PDF-"), "{name}: not a PDF");
    assert!(
        contains(&pdf, b"factur-x.xml"),
        "{name}: no embedded file name"
    );
    assert!(
        contains(&pdf, b"/AFRelationship /Alternative")
            || contains(&pdf, b"/AFRelationship/Alternative")
    );
    assert!(contains(
        &pdf,
        b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>"
    ));
    assert!(contains(
        &pdf,
        b"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>"
    ));
    assert!(contains(&pdf, b"<pdfaSchema:prefix>fx</pdfaSchema:prefix>"));
    assert!(contains(&pdf, b"<pdfaid:part>3</pdfaid:part>"));
    assert!(contains(
        &pdf_xr,
        b"<fx:ConformanceLevel>XRECHNUNG</fx:ConformanceLevel>"
    ));

    let files = [
        (format!("{name}-en16931.xml"), en.into_bytes()),
        (format!("{name}-xrechnung.xml"), xr.into_bytes()),
        (format!("{name}.pdf"), pdf),
        (format!("{name}-xrechnung.pdf"), pdf_xr),
    ];
    let mut paths = Vec::new();
    for (file, bytes) in &files {
        let path = dir.path().join(file);
        std::fs::write(&path, bytes).expect("write sample");
        paths.push(path);
    }
    if let Ok(keep) = std::env::var("EINVOICE_SAMPLES_DIR") {
        for (file, bytes) in &files {
            std::fs::create_dir_all(&keep).expect("samples dir");
            std::fs::write(Path::new(&keep).join(file), bytes).expect("keep sample");
        }
    }

    // The GiroCode, read back from the rendered page: exactly the EPC transfer of the
    // total on invoices, none on credit notes.
    require(Tool::PdfToText);
    let codes = workorders_testkit::qr::codes_in_pdf(&paths[2]).expect("PDF pages rendered");
    let expected = workorders_einvoice::epc_payload(
        &doc.payment,
        &doc.seller.name,
        doc.computed.totals.grand_total,
        &doc.currency,
    );
    match doc.kind {
        DocumentKind::Invoice => {
            let expected = expected.expect("an invoice in euro with a total has a GiroCode");
            assert_eq!(codes, vec![expected.clone()], "{name}: GiroCode");
            assert!(
                expected.contains(&format!("\nEUR{:.2}\n", doc.computed.totals.grand_total)),
                "{expected}"
            );
        }
        DocumentKind::CreditNote | DocumentKind::Quote => {
            assert!(codes.is_empty(), "{name}: {codes:?}")
        }
    }

    let text = pdftotext(&paths[2]);
    assert!(
        text.contains(&doc.number),
        "{name}: number not in PDF text:\n{text}"
    );
    let total = workorders_einvoice_total(doc, lang);
    assert!(
        text.contains(&total),
        "{name}: total {total} not in PDF text:\n{text}"
    );

    // EN 16931 profile files: the checker's verdict (exit status) must be "valid".
    let (ok, report) = validate(&[paths[0].clone(), paths[2].clone()], &[]);
    println!("{report}");
    assert!(ok, "{name}: validator refused:\n{report}");
    // XRechnung files: the checker runs the Factur-X flavour of the EN 16931 rules, whose code
    // list for BT-24 only knows `urn:cen.eu:en16931:2017` (rule FX-SCH-A-000556). XRechnung
    // mandates its own BT-24 value (BR-DE-21), so exactly that one Factur-X rule may fail; XSD
    // and every EN 16931 business rule must pass.
    let (ok, report) = validate(&[paths[1].clone(), paths[3].clone()], &["FX-SCH-A-000556"]);
    println!("{report}");
    assert!(ok, "{name}: XRechnung file fails rules:\n{report}");
    let checked = report
        .lines()
        .filter(|l| l.contains("\"syntax\": \"cii\""))
        .count();
    assert_eq!(checked, 2, "{name}: unexpected checker output:\n{report}");
}

/// The grand total as the PDF prints it.
fn workorders_einvoice_total(doc: &Document, lang: Lang) -> String {
    let total = doc.computed.totals.grand_total.to_string();
    let (int, frac) = total.split_once('.').expect("two decimals");
    let digits: Vec<char> = int.chars().collect();
    let sep = if lang == Lang::De { '.' } else { ',' };
    let mut grouped = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(sep);
        }
        grouped.push(*c);
    }
    match lang {
        Lang::De => format!("{grouped},{frac} €"),
        Lang::En => format!("€{grouped}.{frac}"),
    }
}

fn single_rate_invoice_is_valid_in_all_formats() {
    let doc = single_rate();
    assert_eq!(doc.computed.totals.grand_total, d("448.11"));
    check_sample("single-rate", &doc, Lang::De);
}

fn mixed_rate_invoice_over_two_pages_is_valid() {
    let doc = mixed_rates();
    assert_eq!(doc.computed.vat.len(), 3);
    check_sample("mixed-rates", &doc, Lang::De);
    let pdf = render_pdf(
        &doc,
        Lang::De,
        &to_cii(&doc, Profile::En16931).expect("cii"),
    )
    .expect("pdf");
    assert!(contains(&pdf, b"/Count 2"), "expected two pages");
}

fn small_business_invoice_is_valid() {
    let doc = small_business();
    assert_eq!(doc.computed.totals.tax_total, Decimal::ZERO);
    check_sample("small-business", &doc, Lang::De);
}

fn reverse_charge_invoice_is_valid() {
    let doc = reverse_charge();
    check_sample("reverse-charge", &doc, Lang::En);
}

fn credit_note_is_valid_and_references_the_invoice() {
    let doc = credit_note();
    let xml = to_cii(&doc, Profile::En16931).expect("cii");
    assert!(xml.contains("<ram:TypeCode>381</ram:TypeCode>"));
    assert!(xml.contains("<ram:IssuerAssignedID>RE-2026-00001</ram:IssuerAssignedID>"));
    assert!(!xml.contains(">-"), "credit notes carry positive amounts");
    check_sample("credit-note", &doc, Lang::De);
}

fn xrechnung_requires_buyer_reference_and_seller_contact() {
    let mut doc = single_rate();
    doc.buyer_reference = None;
    assert_eq!(
        to_cii(&doc, Profile::XRechnung),
        Err(EinvoiceError::Missing("buyer_reference"))
    );
    assert!(
        to_cii(&doc, Profile::En16931).is_ok(),
        "EN 16931 does not need BT-10"
    );
    let mut doc = single_rate();
    doc.seller.contact = None;
    assert_eq!(
        to_cii(&doc, Profile::XRechnung),
        Err(EinvoiceError::Missing("seller.contact"))
    );
    let mut doc = single_rate();
    doc.buyer.email = None;
    assert_eq!(
        to_cii(&doc, Profile::XRechnung),
        Err(EinvoiceError::Missing("buyer.email"))
    );
}

fn rule_preconditions_are_checked() {
    let mut doc = reverse_charge();
    doc.buyer.vat_id = None;
    assert_eq!(
        to_cii(&doc, Profile::En16931),
        Err(EinvoiceError::Missing("buyer.vat_id"))
    );
    let mut doc = credit_note();
    doc.preceding_invoice = None;
    assert_eq!(
        to_cii(&doc, Profile::En16931),
        Err(EinvoiceError::Missing("preceding_invoice"))
    );
    let mut doc = single_rate();
    doc.seller.vat_id = None;
    doc.seller.tax_number = None;
    assert_eq!(
        to_cii(&doc, Profile::En16931),
        Err(EinvoiceError::Missing("seller.vat_id"))
    );
    assert_eq!(
        render_pdf(&single_rate(), Lang::De, ""),
        Err(EinvoiceError::Missing("cii_xml"))
    );
}

fn markup_in_texts_is_escaped() {
    let mut doc = single_rate();
    doc.notes = vec!["<b>Achtung</b> & \"Hinweis\"".into()];
    let xml = to_cii(&doc, Profile::En16931).expect("cii");
    assert!(xml.contains("&lt;b&gt;Achtung&lt;/b&gt; &amp; &quot;Hinweis&quot;"));
}

fn a_quote_is_a_pdf_without_e_invoice_or_bank_details() {
    let mut doc = single_rate();
    doc.kind = DocumentKind::Quote;
    doc.number = "AN-2026-00007".into();
    doc.due_date = Some(date(2026, 12, 31));
    assert!(
        to_cii(&doc, Profile::En16931).is_err(),
        "a quote is no e-invoice"
    );
    assert!(render_pdf(&doc, Lang::De, "<xml/>").is_err());
    let pdf = workorders_einvoice::render_quote_pdf(&doc, Lang::De).expect("quote PDF");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(!contains(&pdf, b"factur-x.xml"), "nothing embedded");
    assert!(contains(&pdf, b"<pdfaid:part>3</pdfaid:part>"), "PDF/A-3b");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("quote.pdf");
    std::fs::write(&path, &pdf).expect("write");
    if let Ok(keep) = std::env::var("EINVOICE_SAMPLES_DIR") {
        std::fs::create_dir_all(&keep).expect("samples dir");
        std::fs::write(Path::new(&keep).join("quote.pdf"), &pdf).expect("keep sample");
    }
    let text = pdftotext(&path);
    for expected in ["Angebot AN-2026-00007", "Gültig bis", "Angebotssumme"] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    assert!(
        text.contains(&workorders_einvoice_total(&doc, Lang::De)),
        "{text}"
    );
    for absent in ["Leistungsdatum", "IBAN", "Bankverbindung", "Rechnung"] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    assert!(
        workorders_testkit::qr::codes_in_pdf(&path)
            .expect("rendered")
            .is_empty(),
        "no GiroCode on a quote"
    );
}

fn main() {
    workorders_testkit::run(vec![
        (
            "a_quote_is_a_pdf_without_e_invoice_or_bank_details",
            a_quote_is_a_pdf_without_e_invoice_or_bank_details,
        ),
        (
            "single_rate_invoice_is_valid_in_all_formats",
            single_rate_invoice_is_valid_in_all_formats,
        ),
        (
            "mixed_rate_invoice_over_two_pages_is_valid",
            mixed_rate_invoice_over_two_pages_is_valid,
        ),
        (
            "small_business_invoice_is_valid",
            small_business_invoice_is_valid,
        ),
        (
            "reverse_charge_invoice_is_valid",
            reverse_charge_invoice_is_valid,
        ),
        (
            "credit_note_is_valid_and_references_the_invoice",
            credit_note_is_valid_and_references_the_invoice,
        ),
        (
            "xrechnung_requires_buyer_reference_and_seller_contact",
            xrechnung_requires_buyer_reference_and_seller_contact,
        ),
        (
            "rule_preconditions_are_checked",
            rule_preconditions_are_checked,
        ),
        ("markup_in_texts_is_escaped", markup_in_texts_is_escaped),
    ]);
}
