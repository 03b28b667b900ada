//! UN/CEFACT Cross Industry Invoice (D16B, as used by ZUGFeRD 2.x / Factur-X 1.0 and XRechnung).
//!
//! Elements are written in the order the Factur-X EN 16931 XSD prescribes.

use workorders_domain::billing::TaxCategory;

use crate::format::{amount, date_102, plain, xml_escape};
use crate::{Document, DocumentKind, EinvoiceError, Party, Profile};

/// Business process (BT-23) written for XRechnung, as the KoSIT examples do.
const BUSINESS_PROCESS: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn require(value: &str, field: &'static str) -> Result<(), EinvoiceError> {
    if value.trim().is_empty() {
        Err(EinvoiceError::Missing(field))
    } else {
        Ok(())
    }
}

/// Checks what EN 16931 (and, for XRechnung, the German CIUS) demands beyond the types.
fn check(doc: &Document, profile: Profile) -> Result<(), EinvoiceError> {
    require(&doc.number, "number")?;
    if doc.currency.len() != 3 || !doc.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(EinvoiceError::Invalid {
            field: "currency",
            message: "ISO 4217 code expected, e.g. EUR".into(),
        });
    }
    for (party, prefix) in [(&doc.seller, "seller"), (&doc.buyer, "buyer")] {
        require(
            &party.name,
            if prefix == "seller" {
                "seller.name"
            } else {
                "buyer.name"
            },
        )?;
        if party.country.len() != 2 || !party.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(EinvoiceError::Invalid {
                field: if prefix == "seller" {
                    "seller.country"
                } else {
                    "buyer.country"
                },
                message: "ISO 3166-1 alpha-2 code expected, e.g. DE".into(),
            });
        }
    }
    if doc.computed.lines.is_empty() || doc.computed.vat.is_empty() {
        return Err(EinvoiceError::Missing("computed.lines"));
    }
    // BR-S-02, BR-Z-02, BR-E-02: seller VAT id or tax number; BR-AE-02: both VAT ids.
    if present(&doc.seller.vat_id).is_none() && present(&doc.seller.tax_number).is_none() {
        return Err(EinvoiceError::Missing("seller.vat_id"));
    }
    if doc
        .computed
        .vat
        .iter()
        .any(|g| g.category == TaxCategory::ReverseCharge)
    {
        if present(&doc.seller.vat_id).is_none() {
            return Err(EinvoiceError::Missing("seller.vat_id"));
        }
        if present(&doc.buyer.vat_id).is_none() {
            return Err(EinvoiceError::Missing("buyer.vat_id"));
        }
    }
    if doc.kind == DocumentKind::CreditNote {
        match &doc.preceding_invoice {
            Some((number, _)) if !number.trim().is_empty() => {}
            _ => return Err(EinvoiceError::Missing("preceding_invoice")),
        }
    } else {
        require(&doc.payment.iban, "payment.iban")?;
    }
    // BR-CO-25: a positive amount due needs a due date or payment terms.
    if doc.computed.totals.grand_total.is_sign_positive()
        && doc.due_date.is_none()
        && doc.payment.terms.trim().is_empty()
    {
        return Err(EinvoiceError::Missing("payment.terms"));
    }
    if profile == Profile::XRechnung {
        // BR-DE-15, BR-DE-2, BR-DE-5..7, BT-34/BT-49 (mandatory since XRechnung 3.0), BR-DE-3/4/8/9.
        if present(&doc.buyer_reference).is_none() {
            return Err(EinvoiceError::Missing("buyer_reference"));
        }
        let contact = doc
            .seller
            .contact
            .as_ref()
            .ok_or(EinvoiceError::Missing("seller.contact"))?;
        require(&contact.name, "seller.contact.name")?;
        require(&contact.phone, "seller.contact.phone")?;
        require(&contact.email, "seller.contact.email")?;
        if present(&doc.seller.email).is_none() {
            return Err(EinvoiceError::Missing("seller.email"));
        }
        if present(&doc.buyer.email).is_none() {
            return Err(EinvoiceError::Missing("buyer.email"));
        }
        require(&doc.seller.city, "seller.city")?;
        require(&doc.seller.postcode, "seller.postcode")?;
        require(&doc.buyer.city, "buyer.city")?;
        require(&doc.buyer.postcode, "buyer.postcode")?;
    }
    Ok(())
}

struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn open(&mut self, tag: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.leaf_attr(tag, None, text);
    }

    fn leaf_attr(&mut self, tag: &str, attr: Option<(&str, &str)>, text: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(tag);
        if let Some((name, value)) = attr {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            self.out.push_str(&xml_escape(value));
            self.out.push('"');
        }
        self.out.push('>');
        self.out.push_str(&xml_escape(text));
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    fn date(&mut self, tag: &str, date: chrono::NaiveDate) {
        self.open(tag);
        self.leaf_attr(
            "udt:DateTimeString",
            Some(("format", "102")),
            &date_102(date),
        );
        self.close(tag);
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
}

fn party(x: &mut Xml, tag: &str, p: &Party, is_seller: bool) {
    x.open(tag);
    // BR-CO-26 wants BT-29, BT-30 or BT-31 for the seller. A §19 small business often has only
    // a tax number (BT-32): it is then also given as the seller identifier BT-29 (no scheme).
    if is_seller
        && present(&p.vat_id).is_none()
        && let Some(tax) = present(&p.tax_number)
    {
        x.leaf("ram:ID", tax);
    }
    x.leaf("ram:Name", p.name.trim());
    if let Some(c) = &p.contact {
        x.open("ram:DefinedTradeContact");
        if !c.name.trim().is_empty() {
            x.leaf("ram:PersonName", c.name.trim());
        }
        if !c.phone.trim().is_empty() {
            x.open("ram:TelephoneUniversalCommunication");
            x.leaf("ram:CompleteNumber", c.phone.trim());
            x.close("ram:TelephoneUniversalCommunication");
        }
        if !c.email.trim().is_empty() {
            x.open("ram:EmailURIUniversalCommunication");
            x.leaf("ram:URIID", c.email.trim());
            x.close("ram:EmailURIUniversalCommunication");
        }
        x.close("ram:DefinedTradeContact");
    }
    x.open("ram:PostalTradeAddress");
    if !p.postcode.trim().is_empty() {
        x.leaf("ram:PostcodeCode", p.postcode.trim());
    }
    if !p.street.trim().is_empty() {
        x.leaf("ram:LineOne", p.street.trim());
    }
    if !p.city.trim().is_empty() {
        x.leaf("ram:CityName", p.city.trim());
    }
    x.leaf("ram:CountryID", &p.country);
    x.close("ram:PostalTradeAddress");
    if let Some(email) = present(&p.email) {
        x.open("ram:URIUniversalCommunication");
        x.leaf_attr("ram:URIID", Some(("schemeID", "EM")), email);
        x.close("ram:URIUniversalCommunication");
    }
    if let Some(vat) = present(&p.vat_id) {
        x.open("ram:SpecifiedTaxRegistration");
        x.leaf_attr("ram:ID", Some(("schemeID", "VA")), vat);
        x.close("ram:SpecifiedTaxRegistration");
    }
    if let Some(tax) = present(&p.tax_number) {
        x.open("ram:SpecifiedTaxRegistration");
        x.leaf_attr("ram:ID", Some(("schemeID", "FC")), tax);
        x.close("ram:SpecifiedTaxRegistration");
    }
    x.close(tag);
}

/// Writes the document as CII XML in the given profile.
///
/// Errors with [`EinvoiceError::Missing`] naming the first absent field the profile requires
/// (XRechnung: `buyer_reference`, `seller.contact`, `seller.email`, `buyer.email`, …).
pub fn to_cii(doc: &Document, profile: Profile) -> Result<String, EinvoiceError> {
    if doc.kind == DocumentKind::Quote {
        return Err(EinvoiceError::Invalid {
            field: "kind",
            message: "a quote is not an e-invoice".to_owned(),
        });
    }
    check(doc, profile)?;
    let currency = doc.currency.as_str();
    let mut x = Xml {
        out: String::with_capacity(8192),
        depth: 0,
    };
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.out.push_str(concat!(
        "<rsm:CrossIndustryInvoice",
        " xmlns:rsm=\"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100\"",
        " xmlns:qdt=\"urn:un:unece:uncefact:data:standard:QualifiedDataType:100\"",
        " xmlns:ram=\"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100\"",
        " xmlns:udt=\"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100\">\n"
    ));
    x.depth = 1;

    x.open("rsm:ExchangedDocumentContext");
    if profile == Profile::XRechnung {
        x.open("ram:BusinessProcessSpecifiedDocumentContextParameter");
        x.leaf("ram:ID", BUSINESS_PROCESS);
        x.close("ram:BusinessProcessSpecifiedDocumentContextParameter");
    }
    x.open("ram:GuidelineSpecifiedDocumentContextParameter");
    x.leaf("ram:ID", profile.guideline_id());
    x.close("ram:GuidelineSpecifiedDocumentContextParameter");
    x.close("rsm:ExchangedDocumentContext");

    x.open("rsm:ExchangedDocument");
    x.leaf("ram:ID", doc.number.trim());
    x.leaf("ram:TypeCode", doc.kind.type_code());
    x.date("ram:IssueDateTime", doc.issue_date);
    for note in doc.notes.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        x.open("ram:IncludedNote");
        x.leaf("ram:Content", note);
        x.close("ram:IncludedNote");
    }
    x.close("rsm:ExchangedDocument");

    x.open("rsm:SupplyChainTradeTransaction");
    for line in &doc.computed.lines {
        x.open("ram:IncludedSupplyChainTradeLineItem");
        x.open("ram:AssociatedDocumentLineDocument");
        x.leaf("ram:LineID", &line.position.to_string());
        x.close("ram:AssociatedDocumentLineDocument");
        x.open("ram:SpecifiedTradeProduct");
        x.leaf("ram:Name", &line.name);
        if let Some(d) = present(&line.description) {
            x.leaf("ram:Description", d);
        }
        x.close("ram:SpecifiedTradeProduct");
        x.open("ram:SpecifiedLineTradeAgreement");
        x.open("ram:NetPriceProductTradePrice");
        x.leaf("ram:ChargeAmount", &plain(line.unit_price));
        x.close("ram:NetPriceProductTradePrice");
        x.close("ram:SpecifiedLineTradeAgreement");
        x.open("ram:SpecifiedLineTradeDelivery");
        x.leaf_attr(
            "ram:BilledQuantity",
            Some(("unitCode", &line.unit)),
            &plain(line.quantity),
        );
        x.close("ram:SpecifiedLineTradeDelivery");
        x.open("ram:SpecifiedLineTradeSettlement");
        x.open("ram:ApplicableTradeTax");
        x.leaf("ram:TypeCode", "VAT");
        x.leaf("ram:CategoryCode", line.category.code());
        x.leaf("ram:RateApplicablePercent", &amount(line.vat_rate));
        x.close("ram:ApplicableTradeTax");
        x.open("ram:SpecifiedTradeSettlementLineMonetarySummation");
        x.leaf("ram:LineTotalAmount", &amount(line.net_amount));
        x.close("ram:SpecifiedTradeSettlementLineMonetarySummation");
        x.close("ram:SpecifiedLineTradeSettlement");
        x.close("ram:IncludedSupplyChainTradeLineItem");
    }

    x.open("ram:ApplicableHeaderTradeAgreement");
    if let Some(r) = present(&doc.buyer_reference) {
        x.leaf("ram:BuyerReference", r);
    }
    party(&mut x, "ram:SellerTradeParty", &doc.seller, true);
    party(&mut x, "ram:BuyerTradeParty", &doc.buyer, false);
    if let Some(r) = present(&doc.seller_order_reference) {
        x.open("ram:SellerOrderReferencedDocument");
        x.leaf("ram:IssuerAssignedID", r);
        x.close("ram:SellerOrderReferencedDocument");
    }
    x.close("ram:ApplicableHeaderTradeAgreement");

    x.open("ram:ApplicableHeaderTradeDelivery");
    x.open("ram:ActualDeliverySupplyChainEvent");
    x.date("ram:OccurrenceDateTime", doc.delivery_date);
    x.close("ram:ActualDeliverySupplyChainEvent");
    x.close("ram:ApplicableHeaderTradeDelivery");

    x.open("ram:ApplicableHeaderTradeSettlement");
    if !doc.payment.reference.trim().is_empty() {
        x.leaf("ram:PaymentReference", doc.payment.reference.trim());
    }
    x.leaf("ram:InvoiceCurrencyCode", currency);
    x.open("ram:SpecifiedTradeSettlementPaymentMeans");
    let iban: String = doc
        .payment
        .iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if iban.is_empty() {
        // Only credit notes get here: the refund way is not defined in the document.
        x.leaf("ram:TypeCode", "1");
    } else {
        x.leaf("ram:TypeCode", "58");
        x.open("ram:PayeePartyCreditorFinancialAccount");
        x.leaf("ram:IBANID", &iban);
        if let Some(n) = present(&doc.payment.account_name) {
            x.leaf("ram:AccountName", n);
        }
        x.close("ram:PayeePartyCreditorFinancialAccount");
        if let Some(bic) = present(&doc.payment.bic) {
            x.open("ram:PayeeSpecifiedCreditorFinancialInstitution");
            x.leaf("ram:BICID", bic);
            x.close("ram:PayeeSpecifiedCreditorFinancialInstitution");
        }
    }
    x.close("ram:SpecifiedTradeSettlementPaymentMeans");
    for g in &doc.computed.vat {
        x.open("ram:ApplicableTradeTax");
        x.leaf("ram:CalculatedAmount", &amount(g.tax_amount));
        x.leaf("ram:TypeCode", "VAT");
        if let Some(r) = present(&g.exemption_reason) {
            x.leaf("ram:ExemptionReason", r);
        }
        x.leaf("ram:BasisAmount", &amount(g.taxable_amount));
        x.leaf("ram:CategoryCode", g.category.code());
        if let Some(c) = present(&g.exemption_code) {
            x.leaf("ram:ExemptionReasonCode", c);
        }
        x.leaf("ram:RateApplicablePercent", &amount(g.rate));
        x.close("ram:ApplicableTradeTax");
    }
    if !doc.payment.terms.trim().is_empty() || doc.due_date.is_some() {
        x.open("ram:SpecifiedTradePaymentTerms");
        if !doc.payment.terms.trim().is_empty() {
            x.leaf("ram:Description", doc.payment.terms.trim());
        }
        if let Some(due) = doc.due_date {
            x.date("ram:DueDateDateTime", due);
        }
        x.close("ram:SpecifiedTradePaymentTerms");
    }
    let t = &doc.computed.totals;
    x.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    x.leaf("ram:LineTotalAmount", &amount(t.line_total));
    x.leaf("ram:TaxBasisTotalAmount", &amount(t.tax_basis_total));
    x.leaf_attr(
        "ram:TaxTotalAmount",
        Some(("currencyID", currency)),
        &amount(t.tax_total),
    );
    x.leaf("ram:GrandTotalAmount", &amount(t.grand_total));
    x.leaf("ram:DuePayableAmount", &amount(t.grand_total));
    x.close("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    if let Some((number, date)) = &doc.preceding_invoice {
        x.open("ram:InvoiceReferencedDocument");
        x.leaf("ram:IssuerAssignedID", number.trim());
        x.open("ram:FormattedIssueDateTime");
        x.leaf_attr(
            "qdt:DateTimeString",
            Some(("format", "102")),
            &date_102(*date),
        );
        x.close("ram:FormattedIssueDateTime");
        x.close("ram:InvoiceReferencedDocument");
    }
    x.close("ram:ApplicableHeaderTradeSettlement");
    x.close("rsm:SupplyChainTradeTransaction");
    x.out.push_str("</rsm:CrossIndustryInvoice>\n");
    Ok(x.out)
}
