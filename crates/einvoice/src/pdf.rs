//! The human-readable PDF/A-3b rendering with the CII XML embedded.
//!
//! Layout happens first into a display list of pages (so the footer can say "page i of n"),
//! then krilla draws it with the compiled-in DejaVu fonts and checks PDF/A-3b while writing.

use chrono::Datelike;
use krilla::Document as PdfDocument;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder, PdfVersion, Validator};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::{Data, SerializeSettings};
use rust_decimal::Decimal;
use workorders_domain::billing::TaxCategory;

use crate::epc::QrMatrix;
use crate::facturx::add_facturx_xmp;
use crate::format::{date, iban, money, number, unit_label};
use crate::{Document, DocumentKind, EMBEDDED_XML_NAME, EinvoiceError, Lang, Party};

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 56.7;
const RIGHT: f32 = PAGE_W - 56.7;
const TOP: f32 = 56.0;
/// Lowest baseline for content; the footer lives below.
const BOTTOM: f32 = PAGE_H - 80.0;

// Line table columns (x of left edge or right edge).
const COL_POS: f32 = LEFT;
const COL_DESC: f32 = LEFT + 24.0;
const DESC_W: f32 = 200.0;
const COL_QTY_R: f32 = 360.0;
const COL_PRICE_R: f32 = 432.0;
const COL_VAT_R: f32 = 470.0;
const COL_NET_R: f32 = RIGHT;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Regular,
    Bold,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Black,
    Gray,
}

enum Item {
    Text {
        x: f32,
        y: f32,
        size: f32,
        style: Style,
        tone: Tone,
        text: String,
    },
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
        width: f32,
    },
    /// A QR code: its top-left corner and the size of one module (no quiet zone drawn: the
    /// page around it is white).
    Qr {
        x: f32,
        y: f32,
        module: f32,
        matrix: QrMatrix,
    },
}

/// Points per QR module: a GiroCode of 41 modules (plus its quiet zone) is ≈ 2.9 cm wide,
/// above the 2 cm the EPC guideline asks for.
const QR_MODULE: f32 = 1.7;

struct Faces {
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl Faces {
    fn load() -> Result<Self, EinvoiceError> {
        let parse = |data: &'static [u8]| {
            ttf_parser::Face::parse(data, 0).map_err(|e| EinvoiceError::Pdf(format!("font: {e}")))
        };
        Ok(Self {
            regular: parse(REGULAR)?,
            bold: parse(BOLD)?,
        })
    }

    fn face(&self, style: Style) -> &ttf_parser::Face<'static> {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
        }
    }

    fn width(&self, text: &str, size: f32, style: Style) -> f32 {
        let face = self.face(style);
        let upm = f32::from(face.units_per_em());
        let units: f32 = text
            .chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map_or(0.0, f32::from)
            })
            .sum();
        units * size / upm
    }

    /// Replaces what the font cannot draw (PDF/A forbids `.notdef`) and flattens whitespace.
    fn clean(&self, text: &str) -> String {
        let face = &self.regular;
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .map(|c| {
                if face.glyph_index(c).is_some() {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    }

    /// Greedy word wrap; over-long words are broken by characters.
    fn wrap(&self, text: &str, width: f32, size: f32, style: Style) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut current = String::new();
            for word in self.clean(paragraph).split(' ').filter(|w| !w.is_empty()) {
                let candidate = if current.is_empty() {
                    word.to_string()
                } else {
                    format!("{current} {word}")
                };
                if self.width(&candidate, size, style) <= width {
                    current = candidate;
                    continue;
                }
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current));
                }
                for c in word.chars() {
                    current.push(c);
                    if self.width(&current, size, style) > width {
                        current.pop();
                        lines.push(std::mem::take(&mut current));
                        current.push(c);
                    }
                }
            }
            if !current.is_empty() {
                lines.push(current);
            }
        }
        lines
    }
}

struct Labels {
    title: &'static str,
    number: &'static str,
    issue_date: &'static str,
    delivery_date: &'static str,
    due_date: &'static str,
    order_ref: &'static str,
    buyer_ref: &'static str,
    refers_to: &'static str,
    pos: &'static str,
    description: &'static str,
    quantity: &'static str,
    unit_price: &'static str,
    vat: &'static str,
    net: &'static str,
    net_total: &'static str,
    vat_total: &'static str,
    grand_total: &'static str,
    payment: &'static str,
    account_holder: &'static str,
    /// Caption under the EPC QR code.
    girocode: &'static str,
    payment_reference: &'static str,
    vat_id: &'static str,
    tax_number: &'static str,
    phone: &'static str,
    email: &'static str,
    page: &'static str,
    of: &'static str,
    continued: &'static str,
}

fn labels(kind: DocumentKind, lang: Lang) -> Labels {
    let credit = kind == DocumentKind::CreditNote;
    let labels = invoice_labels(credit, lang);
    if kind != DocumentKind::Quote {
        return labels;
    }
    match lang {
        Lang::De => Labels {
            title: "Angebot",
            number: "Angebots-Nr.",
            issue_date: "Angebotsdatum",
            due_date: "Gültig bis",
            grand_total: "Angebotssumme",
            ..labels
        },
        Lang::En => Labels {
            title: "Quote",
            number: "Quote no.",
            issue_date: "Date",
            due_date: "Valid until",
            grand_total: "Total",
            ..labels
        },
    }
}

fn invoice_labels(credit: bool, lang: Lang) -> Labels {
    match lang {
        Lang::De => Labels {
            title: if credit { "Gutschrift" } else { "Rechnung" },
            number: if credit {
                "Gutschrift-Nr."
            } else {
                "Rechnungs-Nr."
            },
            issue_date: if credit {
                "Gutschriftsdatum"
            } else {
                "Rechnungsdatum"
            },
            delivery_date: "Leistungsdatum",
            due_date: "Fällig am",
            order_ref: "Auftrag",
            buyer_ref: "Ihre Referenz",
            refers_to: "Zu Rechnung",
            pos: "Pos.",
            description: "Beschreibung",
            quantity: "Menge",
            unit_price: "Einzelpreis",
            vat: "USt.",
            net: "Netto",
            net_total: "Summe netto",
            vat_total: "Umsatzsteuer gesamt",
            grand_total: if credit {
                "Gutschriftsbetrag"
            } else {
                "Rechnungsbetrag"
            },
            payment: "Bankverbindung",
            account_holder: "Kontoinhaber",
            girocode: "GiroCode: mit der Banking-App scannen",
            payment_reference: "Verwendungszweck",
            vat_id: "USt-IdNr.",
            tax_number: "Steuernummer",
            phone: "Tel.",
            email: "E-Mail",
            page: "Seite",
            of: "von",
            continued: "Fortsetzung",
        },
        Lang::En => Labels {
            title: if credit { "Credit note" } else { "Invoice" },
            number: if credit {
                "Credit note no."
            } else {
                "Invoice no."
            },
            issue_date: "Date",
            delivery_date: "Delivery date",
            due_date: "Due date",
            order_ref: "Order",
            buyer_ref: "Your reference",
            refers_to: "Refers to invoice",
            pos: "Pos.",
            description: "Description",
            quantity: "Quantity",
            unit_price: "Unit price",
            vat: "VAT",
            net: "Net",
            net_total: "Total net",
            vat_total: "Total VAT",
            grand_total: if credit {
                "Total credited"
            } else {
                "Total amount due"
            },
            payment: "Bank details",
            account_holder: "Account holder",
            girocode: "GiroCode: scan with your banking app",
            payment_reference: "Payment reference",
            vat_id: "VAT ID",
            tax_number: "Tax number",
            phone: "Phone",
            email: "Email",
            page: "Page",
            of: "of",
            continued: "continued",
        },
    }
}

struct Layout<'a> {
    faces: &'a Faces,
    pages: Vec<Vec<Item>>,
    y: f32,
    /// Set while the line table is open: new pages repeat its header.
    in_table: bool,
    labels: &'a Labels,
    running_title: String,
}

impl Layout<'_> {
    fn items(&mut self) -> &mut Vec<Item> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn text(&mut self, x: f32, size: f32, style: Style, tone: Tone, text: &str) {
        let text = self.faces.clean(text);
        if text.is_empty() {
            return;
        }
        let y = self.y;
        self.items().push(Item::Text {
            x,
            y,
            size,
            style,
            tone,
            text,
        });
    }

    fn text_right(&mut self, right: f32, size: f32, style: Style, text: &str) {
        let w = self.faces.width(&self.faces.clean(text), size, style);
        self.text(right - w, size, style, Tone::Black, text);
    }

    fn rule(&mut self, x1: f32, x2: f32, width: f32) {
        let y = self.y;
        self.items().push(Item::Rule { x1, x2, y, width });
    }

    /// Makes room for `height` points, starting a new page if needed.
    fn ensure(&mut self, height: f32) {
        if self.y + height <= BOTTOM {
            return;
        }
        self.pages.push(Vec::new());
        self.y = TOP;
        let title = format!("{} ({})", self.running_title, self.labels.continued);
        self.text(LEFT, 8.0, Style::Regular, Tone::Gray, &title);
        self.y += 20.0;
        if self.in_table {
            self.table_header();
        }
    }

    fn table_header(&mut self) {
        let l = self.labels;
        self.text(COL_POS, 8.5, Style::Bold, Tone::Black, l.pos);
        self.text(COL_DESC, 8.5, Style::Bold, Tone::Black, l.description);
        self.text_right(COL_QTY_R, 8.5, Style::Bold, l.quantity);
        self.text_right(COL_PRICE_R, 8.5, Style::Bold, l.unit_price);
        self.text_right(COL_VAT_R, 8.5, Style::Bold, l.vat);
        self.text_right(COL_NET_R, 8.5, Style::Bold, l.net);
        self.y += 5.0;
        self.rule(LEFT, RIGHT, 0.6);
        self.y += 13.0;
    }

    fn paragraph(&mut self, text: &str, size: f32, style: Style) {
        let lines = self.faces.wrap(text, RIGHT - LEFT, size, style);
        for line in lines {
            self.ensure(size + 3.0);
            self.text(LEFT, size, style, Tone::Black, &line);
            self.y += size + 3.0;
        }
    }
}

fn party_lines(p: &Party, l: &Labels, with_ids: bool, other_country: &str) -> Vec<String> {
    let mut lines = vec![p.street.clone(), format!("{} {}", p.postcode, p.city)];
    if p.country != other_country {
        lines.push(p.country.clone());
    }
    // The buyer's VAT id matters for reverse charge; the seller shows both ids.
    if let Some(v) = p.vat_id.as_deref().filter(|v| !v.trim().is_empty()) {
        lines.push(format!("{}: {v}", l.vat_id));
    }
    if with_ids && let Some(t) = p.tax_number.as_deref().filter(|v| !v.trim().is_empty()) {
        lines.push(format!("{}: {t}", l.tax_number));
    }
    lines.retain(|s| !s.trim().is_empty());
    lines
}

fn vat_label(category: TaxCategory, rate: Decimal, basis: &str, lang: Lang) -> String {
    let rate = number(rate, 0, lang);
    match (lang, category) {
        (Lang::De, TaxCategory::Standard) => format!("USt. {rate} % auf {basis}"),
        (Lang::De, TaxCategory::Zero) => format!("USt. 0 % (Nullsatz) auf {basis}"),
        (Lang::De, TaxCategory::Exempt) => format!("Ohne USt. (§ 19 UStG) auf {basis}"),
        (Lang::De, TaxCategory::ReverseCharge) => format!("Ohne USt. (§ 13b UStG) auf {basis}"),
        (Lang::En, TaxCategory::Standard) => format!("VAT {rate} % on {basis}"),
        (Lang::En, TaxCategory::Zero) => format!("VAT 0 % (zero rated) on {basis}"),
        (Lang::En, TaxCategory::Exempt) => format!("No VAT (exempt) on {basis}"),
        (Lang::En, TaxCategory::ReverseCharge) => format!("No VAT (reverse charge) on {basis}"),
    }
}

fn layout(doc: &Document, lang: Lang, faces: &Faces, l: &Labels) -> Vec<Vec<Item>> {
    let cur = doc.currency.as_str();
    let mut lay = Layout {
        faces,
        pages: vec![Vec::new()],
        y: TOP,
        in_table: false,
        labels: l,
        running_title: format!("{} {}", l.title, doc.number),
    };

    // Seller block, top right.
    let seller_x = 350.0;
    let seller_w = RIGHT - seller_x;
    lay.y = TOP + 4.0;
    for n in faces.wrap(&doc.seller.name, seller_w, 11.0, Style::Bold) {
        lay.text(seller_x, 11.0, Style::Bold, Tone::Black, &n);
        lay.y += 14.0;
    }
    let mut seller_lines = party_lines(&doc.seller, l, true, &doc.buyer.country);
    if let Some(c) = &doc.seller.contact {
        seller_lines.push(c.name.clone());
        if !c.phone.trim().is_empty() {
            seller_lines.push(format!("{} {}", l.phone, c.phone));
        }
        if !c.email.trim().is_empty() {
            seller_lines.push(format!("{} {}", l.email, c.email));
        }
    } else if let Some(e) = doc.seller.email.as_deref() {
        seller_lines.push(format!("{} {e}", l.email));
    }
    for line in seller_lines {
        for part in faces.wrap(&line, seller_w, 8.5, Style::Regular) {
            lay.text(seller_x, 8.5, Style::Regular, Tone::Black, &part);
            lay.y += 11.0;
        }
    }
    let seller_bottom = lay.y;

    // Buyer block with the sender line above it (window envelope position).
    lay.y = 140.0;
    let sender = format!(
        "{} · {} · {} {}",
        doc.seller.name, doc.seller.street, doc.seller.postcode, doc.seller.city
    );
    let buyer_w = seller_x - LEFT - 12.0;
    if let Some(first) = faces.wrap(&sender, buyer_w, 6.5, Style::Regular).first() {
        lay.text(LEFT, 6.5, Style::Regular, Tone::Gray, first);
    }
    lay.y += 16.0;
    for n in faces.wrap(&doc.buyer.name, buyer_w, 10.0, Style::Bold) {
        lay.text(LEFT, 10.0, Style::Bold, Tone::Black, &n);
        lay.y += 13.0;
    }
    let mut buyer_lines = Vec::new();
    if let Some(c) = &doc.buyer.contact {
        buyer_lines.push(c.name.clone());
    }
    buyer_lines.extend(party_lines(&doc.buyer, l, false, &doc.seller.country));
    for line in buyer_lines {
        for part in faces.wrap(&line, buyer_w, 10.0, Style::Regular) {
            lay.text(LEFT, 10.0, Style::Regular, Tone::Black, &part);
            lay.y += 13.0;
        }
    }

    // Title and header facts.
    lay.y = lay.y.max(seller_bottom).max(250.0) + 20.0;
    let title = format!("{} {}", l.title, doc.number);
    lay.text(LEFT, 16.0, Style::Bold, Tone::Black, &title);
    lay.y += 22.0;
    let mut facts = vec![
        (l.number, doc.number.clone()),
        (l.issue_date, date(doc.issue_date, lang)),
    ];
    if doc.kind != DocumentKind::Quote {
        facts.push((l.delivery_date, date(doc.delivery_date, lang)));
    }
    if let Some(d) = doc.due_date {
        facts.push((l.due_date, date(d, lang)));
    }
    if let Some(r) = doc
        .seller_order_reference
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        facts.push((l.order_ref, r.to_string()));
    }
    if let Some(r) = doc.buyer_reference.as_deref().filter(|r| !r.is_empty()) {
        facts.push((l.buyer_ref, r.to_string()));
    }
    if let Some((n, d)) = &doc.preceding_invoice {
        facts.push((l.refers_to, format!("{n} ({})", date(*d, lang))));
    }
    for (key, value) in facts {
        lay.text(LEFT, 9.0, Style::Regular, Tone::Gray, key);
        lay.text(LEFT + 110.0, 9.0, Style::Regular, Tone::Black, &value);
        lay.y += 12.0;
    }
    for note in doc.notes.iter().filter(|n| !n.trim().is_empty()) {
        lay.y += 4.0;
        lay.paragraph(note, 9.0, Style::Regular);
    }
    lay.y += 16.0;

    // Line table.
    lay.ensure(60.0);
    lay.table_header();
    lay.in_table = true;
    for line in &doc.computed.lines {
        let name_lines = faces.wrap(&line.name, DESC_W, 9.0, Style::Regular);
        let desc_lines = line
            .description
            .as_deref()
            .map(|d| faces.wrap(d, DESC_W, 7.5, Style::Regular))
            .unwrap_or_default();
        let height = name_lines.len() as f32 * 11.0 + desc_lines.len() as f32 * 9.5 + 5.0;
        lay.ensure(height.min(BOTTOM - TOP - 60.0));
        let row_y = lay.y;
        lay.text(
            COL_POS,
            9.0,
            Style::Regular,
            Tone::Black,
            &line.position.to_string(),
        );
        let qty = format!(
            "{} {}",
            number(line.quantity, 0, lang),
            unit_label(&line.unit, lang)
        );
        lay.text_right(COL_QTY_R, 9.0, Style::Regular, &qty);
        let price = money_precise(line.unit_price, cur, lang);
        lay.text_right(COL_PRICE_R, 9.0, Style::Regular, &price);
        let rate = format!("{} %", number(line.vat_rate, 0, lang));
        lay.text_right(COL_VAT_R, 9.0, Style::Regular, &rate);
        lay.text_right(
            COL_NET_R,
            9.0,
            Style::Regular,
            &money(line.net_amount, cur, lang),
        );
        for n in &name_lines {
            lay.ensure(11.0);
            lay.text(COL_DESC, 9.0, Style::Regular, Tone::Black, n);
            lay.y += 11.0;
        }
        for d in &desc_lines {
            lay.ensure(9.5);
            lay.text(COL_DESC, 7.5, Style::Regular, Tone::Gray, d);
            lay.y += 9.5;
        }
        lay.y = lay.y.max(row_y + 11.0) + 5.0;
    }
    lay.in_table = false;
    lay.y -= 9.0;
    lay.rule(LEFT, RIGHT, 0.6);
    lay.y += 16.0;

    // VAT breakdown and totals, right-aligned.
    let t = &doc.computed.totals;
    let label_r = COL_PRICE_R + 10.0;
    let rows = 2 + doc.computed.vat.len();
    lay.ensure(rows as f32 * 13.0 + 20.0);
    lay.text_right(label_r, 9.0, Style::Regular, l.net_total);
    lay.text_right(
        COL_NET_R,
        9.0,
        Style::Regular,
        &money(t.line_total, cur, lang),
    );
    lay.y += 13.0;
    for g in &doc.computed.vat {
        let basis = money(g.taxable_amount, cur, lang);
        lay.text_right(
            label_r,
            9.0,
            Style::Regular,
            &vat_label(g.category, g.rate, &basis, lang),
        );
        lay.text_right(
            COL_NET_R,
            9.0,
            Style::Regular,
            &money(g.tax_amount, cur, lang),
        );
        lay.y += 13.0;
    }
    if doc.computed.vat.len() > 1 {
        lay.text_right(label_r, 9.0, Style::Regular, l.vat_total);
        lay.text_right(
            COL_NET_R,
            9.0,
            Style::Regular,
            &money(t.tax_total, cur, lang),
        );
        lay.y += 13.0;
    }
    lay.y -= 8.0;
    lay.rule(300.0, RIGHT, 0.6);
    lay.y += 14.0;
    lay.text_right(label_r, 10.5, Style::Bold, l.grand_total);
    lay.text_right(
        COL_NET_R,
        10.5,
        Style::Bold,
        &money(t.grand_total, cur, lang),
    );
    lay.y += 26.0;

    // Exemption / reverse-charge reasons (the domain texts are German, as the law requires).
    let mut reasons: Vec<&str> = Vec::new();
    for g in &doc.computed.vat {
        if let Some(r) = g.exemption_reason.as_deref()
            && !reasons.contains(&r)
        {
            reasons.push(r);
        }
    }
    for r in reasons {
        let text = match (lang, doc.computed.vat.first().map(|g| g.category)) {
            (Lang::En, Some(TaxCategory::Exempt)) => {
                format!("{r} (Small business, no VAT charged under § 19 UStG.)")
            }
            (Lang::En, Some(TaxCategory::ReverseCharge)) => {
                format!("{r} (Reverse charge: the recipient is liable for the VAT.)")
            }
            _ => r.to_string(),
        };
        lay.paragraph(&text, 9.0, Style::Bold);
        lay.y += 4.0;
    }
    if let Some((n, d)) = &doc.preceding_invoice {
        let text = match lang {
            Lang::De => format!(
                "Diese Gutschrift bezieht sich auf die Rechnung {n} vom {}.",
                date(*d, lang)
            ),
            Lang::En => format!(
                "This credit note refers to invoice {n} of {}.",
                date(*d, lang)
            ),
        };
        lay.paragraph(&text, 9.0, Style::Regular);
        lay.y += 4.0;
    }

    // Payment.
    if !doc.payment.terms.trim().is_empty() {
        lay.paragraph(&doc.payment.terms, 9.0, Style::Regular);
        lay.y += 4.0;
    }
    if doc.kind != DocumentKind::Quote && !doc.payment.iban.trim().is_empty() {
        let mut bank = Vec::new();
        if let Some(a) = doc
            .payment
            .account_name
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            bank.push(format!("{}: {a}", l.account_holder));
        }
        bank.push(format!("IBAN: {}", iban(&doc.payment.iban)));
        if let Some(b) = doc.payment.bic.as_deref().filter(|b| !b.is_empty()) {
            bank.push(format!("BIC: {b}"));
        }
        if !doc.payment.reference.trim().is_empty() {
            bank.push(format!(
                "{}: {}",
                l.payment_reference, doc.payment.reference
            ));
        }
        // The GiroCode beside the bank details (invoices in euro with something to pay).
        let code = (doc.kind == DocumentKind::Invoice)
            .then(|| {
                crate::epc::girocode(
                    &doc.payment,
                    &doc.seller.name,
                    doc.computed.totals.grand_total,
                    &doc.currency,
                )
            })
            .flatten();
        let code_height = code
            .as_ref()
            .map_or(0.0, |m| m.width as f32 * QR_MODULE + 14.0);
        let text_height = 12.0 * (bank.len() as f32 + 1.0);
        lay.ensure(text_height.max(code_height));
        let top = lay.y;
        lay.text(LEFT, 9.0, Style::Bold, Tone::Black, l.payment);
        lay.y += 12.0;
        for b in bank {
            lay.text(LEFT, 9.0, Style::Regular, Tone::Black, &b);
            lay.y += 12.0;
        }
        if let Some(matrix) = code {
            let side = matrix.width as f32 * QR_MODULE;
            let x = RIGHT - side;
            let y = top - 9.0;
            lay.items().push(Item::Qr {
                x,
                y,
                module: QR_MODULE,
                matrix,
            });
            let after = lay.y;
            lay.y = y + side + 10.0;
            let w = faces.width(l.girocode, 7.0, Style::Regular);
            lay.text(RIGHT - w, 7.0, Style::Regular, Tone::Gray, l.girocode);
            lay.y = after.max(lay.y);
        }
    }
    lay.pages
}

fn money_precise(d: Decimal, currency: &str, lang: Lang) -> String {
    // Unit prices keep up to four decimals; `money` would round them.
    let n = number(d, 2, lang);
    match (lang, currency) {
        (Lang::De, "EUR") => format!("{n} €"),
        (Lang::En, "EUR") => format!("€{n}"),
        (_, code) => format!("{n} {code}"),
    }
}

fn footer(doc: &Document, l: &Labels, page: usize, pages: usize) -> Vec<Item> {
    let s = &doc.seller;
    let mut parts = vec![
        s.name.clone(),
        format!("{}, {} {}", s.street, s.postcode, s.city),
    ];
    if let Some(v) = s.vat_id.as_deref().filter(|v| !v.is_empty()) {
        parts.push(format!("{} {v}", l.vat_id));
    } else if let Some(t) = s.tax_number.as_deref().filter(|t| !t.is_empty()) {
        parts.push(format!("{} {t}", l.tax_number));
    }
    let y = PAGE_H - 50.0;
    vec![
        Item::Rule {
            x1: LEFT,
            x2: RIGHT,
            y: y - 12.0,
            width: 0.4,
        },
        Item::Text {
            x: LEFT,
            y,
            size: 7.0,
            style: Style::Regular,
            tone: Tone::Gray,
            text: parts.join(" · "),
        },
        Item::Text {
            x: RIGHT - 60.0,
            y,
            size: 7.0,
            style: Style::Regular,
            tone: Tone::Gray,
            text: format!("{} {page} {} {pages}", l.page, l.of),
        },
    ]
}

fn pdf_date(d: chrono::NaiveDate) -> Result<DateTime, EinvoiceError> {
    let year =
        u16::try_from(d.year()).map_err(|_| EinvoiceError::Pdf("year out of range".into()))?;
    // Months and days always fit in u8.
    Ok(DateTime::new(year)
        .month(d.month() as u8)
        .day(d.day() as u8)
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(0)
        .utc_offset_minute(0))
}

/// The Factur-X conformance level matching the embedded XML's specification identifier.
fn conformance_level(cii_xml: &str) -> &'static str {
    if cii_xml.contains("urn:xeinkauf.de:kosit:xrechnung") {
        "XRECHNUNG"
    } else {
        "EN 16931"
    }
}

/// Renders `doc` as PDF/A-3b and embeds `cii_xml` as `factur-x.xml` (AFRelationship
/// `Alternative`), with the Factur-X XMP extension schema.
pub fn render_pdf(doc: &Document, lang: Lang, cii_xml: &str) -> Result<Vec<u8>, EinvoiceError> {
    if cii_xml.trim().is_empty() {
        return Err(EinvoiceError::Missing("cii_xml"));
    }
    if doc.kind == DocumentKind::Quote {
        return Err(EinvoiceError::Invalid {
            field: "kind",
            message: "a quote has no e-invoice to embed; use render_quote_pdf".to_owned(),
        });
    }
    render(doc, lang, Some(cii_xml))
}

/// Renders a quote (`doc.kind` [`DocumentKind::Quote`]; `due_date` is the validity) as
/// PDF/A-3b without attachments: the same layout as the invoices, no bank details.
pub fn render_quote_pdf(doc: &Document, lang: Lang) -> Result<Vec<u8>, EinvoiceError> {
    if doc.kind != DocumentKind::Quote {
        return Err(EinvoiceError::Invalid {
            field: "kind",
            message: "invoices and credit notes carry their e-invoice: use render_pdf".to_owned(),
        });
    }
    render(doc, lang, None)
}

fn render(doc: &Document, lang: Lang, cii_xml: Option<&str>) -> Result<Vec<u8>, EinvoiceError> {
    let faces = Faces::load()?;
    let l = labels(doc.kind, lang);
    let mut pages = layout(doc, lang, &faces, &l);
    let count = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        page.extend(footer(doc, &l, i + 1, count));
    }

    let configuration = ConfigurationBuilder::new()
        .with_version(PdfVersion::Pdf17)
        .set_validator(Validator::A(Archival::A3_B))
        .finish()
        .map_err(|e| EinvoiceError::Pdf(format!("configuration: {e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    };
    let mut pdf = PdfDocument::new_with(settings);
    let regular = Font::new(Data::from(REGULAR), 0)
        .ok_or_else(|| EinvoiceError::Pdf("cannot load DejaVu Sans".into()))?;
    let bold = Font::new(Data::from(BOLD), 0)
        .ok_or_else(|| EinvoiceError::Pdf("cannot load DejaVu Sans Bold".into()))?;
    let page_settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| EinvoiceError::Pdf("bad page size".into()))?;

    for items in &pages {
        let mut page = pdf.start_page_with(page_settings.clone());
        let mut surface = page.surface();
        for item in items {
            match item {
                Item::Text {
                    x,
                    y,
                    size,
                    style,
                    tone,
                    text,
                } => {
                    let gray = match tone {
                        Tone::Black => rgb::Color::new(0, 0, 0),
                        Tone::Gray => rgb::Color::new(90, 90, 90),
                    };
                    surface.set_fill(Some(Fill {
                        paint: gray.into(),
                        ..Fill::default()
                    }));
                    let font = match style {
                        Style::Regular => regular.clone(),
                        Style::Bold => bold.clone(),
                    };
                    surface.draw_text(
                        Point::from_xy(*x, *y),
                        font,
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Item::Qr {
                    x,
                    y,
                    module,
                    matrix,
                } => {
                    let mut pb = PathBuilder::new();
                    for row in 0..matrix.width {
                        for column in 0..matrix.width {
                            if matrix.is_dark(column, row)
                                && let Some(rect) = Rect::from_xywh(
                                    x + column as f32 * module,
                                    y + row as f32 * module,
                                    *module,
                                    *module,
                                )
                            {
                                pb.push_rect(rect);
                            }
                        }
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_stroke(None);
                        surface.set_fill(Some(Fill {
                            paint: rgb::Color::new(0, 0, 0).into(),
                            ..Fill::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
                Item::Rule { x1, x2, y, width } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y);
                    pb.line_to(*x2, *y);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(120, 120, 120).into(),
                            width: *width,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                        surface.set_stroke(None);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }

    let date = pdf_date(doc.issue_date)?;
    let title = format!("{} {}", l.title, doc.number);
    pdf.set_metadata(
        Metadata::new()
            .title(title.clone())
            .description(format!("{title} – {}", doc.seller.name))
            .authors(vec![doc.seller.name.clone()])
            .creator("workorders".to_string())
            .language(match lang {
                Lang::De => "de-DE".to_string(),
                Lang::En => "en".to_string(),
            })
            .creation_date(date)
            .document_id(format!("{}/{}", doc.seller.name, doc.number)),
    );
    let Some(cii_xml) = cii_xml else {
        return pdf
            .finish()
            .map_err(|e| EinvoiceError::Pdf(format!("{e:?}")));
    };
    let mime = MimeType::new("text/xml").ok_or_else(|| EinvoiceError::Pdf("mime type".into()))?;
    pdf.embed_file(EmbeddedFile {
        path: EMBEDDED_XML_NAME.to_string(),
        mime_type: Some(mime),
        description: Some(format!("Factur-X/ZUGFeRD e-invoice {}", doc.number)),
        association_kind: AssociationKind::Alternative,
        data: Data::from(cii_xml.as_bytes().to_vec()),
        modification_date: Some(date),
        compress: Some(true),
        location: None,
    })
    .ok_or_else(|| EinvoiceError::Pdf("embedded file twice".into()))?;
    let bytes = pdf
        .finish()
        .map_err(|e| EinvoiceError::Pdf(format!("{e:?}")))?;
    add_facturx_xmp(&bytes, EMBEDDED_XML_NAME, conformance_level(cii_xml))
}
