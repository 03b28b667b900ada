//! EN 16931 e-invoices.
//!
//! - [`to_cii`] writes UN/CEFACT Cross Industry Invoice XML in the ZUGFeRD/Factur-X
//!   **EN 16931** profile or as **XRechnung 3.0** (CII syntax).
//! - [`render_pdf`] draws a human-readable PDF/A-3b with that XML embedded as `factur-x.xml`
//!   (AFRelationship `Alternative`) and the Factur-X XMP extension schema.
//!
//! Everything is pure computation: fonts are compiled in, nothing touches the network or disk.

mod cii;
mod epc;
mod facturx;
mod format;
mod pdf;

use chrono::NaiveDate;
use thiserror::Error;
use workorders_domain::billing::Computed;

pub use cii::to_cii;
pub use epc::{QrMatrix, epc_payload, girocode, qr_matrix};
pub use format::iban as format_iban;
pub use pdf::{render_pdf, render_quote_pdf};

/// The name of the embedded XML in the PDF (Factur-X 1.0 / ZUGFeRD 2.x).
pub const EMBEDDED_XML_NAME: &str = "factur-x.xml";

/// A contact person (BG-6 for the seller, BG-9 for the buyer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    pub email: String,
}

/// Seller (BG-4) or buyer (BG-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub street: String,
    pub postcode: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// VAT identifier (BT-31 / BT-48), e.g. `DE123456789`.
    pub vat_id: Option<String>,
    /// Tax number at the local tax office (BT-32, scheme `FC`), e.g. `201/113/40209`.
    pub tax_number: Option<String>,
    /// Electronic address (BT-34 / BT-49), scheme `EM`.
    pub email: Option<String>,
    pub contact: Option<Contact>,
}

/// BT-3 invoice type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// 380 commercial invoice.
    Invoice,
    /// 381 credit note (positive amounts, references the invoice in BT-25).
    CreditNote,
    /// A quote (offer): only a PDF for the customer ([`render_quote_pdf`]), no e-invoice.
    Quote,
}

impl DocumentKind {
    pub fn type_code(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "380",
            DocumentKind::CreditNote => "381",
            // Not an e-invoice; `to_cii` refuses quotes before it asks.
            DocumentKind::Quote => "310",
        }
    }
}

/// Payment instructions (BG-16): SEPA credit transfer (code 58).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInfo {
    /// BT-84.
    pub iban: String,
    /// BT-86.
    pub bic: Option<String>,
    /// BT-85.
    pub account_name: Option<String>,
    /// BT-20 payment terms text.
    pub terms: String,
    /// BT-83 remittance information (usually the invoice number).
    pub reference: String,
}

/// Everything an invoice or credit note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: DocumentKind,
    /// BT-1.
    pub number: String,
    /// BT-2.
    pub issue_date: NaiveDate,
    /// BT-9.
    pub due_date: Option<NaiveDate>,
    /// BT-72 actual delivery date.
    pub delivery_date: NaiveDate,
    /// BT-5 ISO 4217 code.
    pub currency: String,
    /// BT-10 (Leitweg-ID for German public buyers).
    pub buyer_reference: Option<String>,
    /// BT-14: our work order number.
    pub seller_order_reference: Option<String>,
    /// BT-25 / BT-26: the invoice a credit note corrects.
    pub preceding_invoice: Option<(String, NaiveDate)>,
    pub seller: Party,
    pub buyer: Party,
    pub payment: PaymentInfo,
    /// BT-22.
    pub notes: Vec<String>,
    pub computed: Computed,
}

/// Which CII customization to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// ZUGFeRD 2.x / Factur-X 1.0 profile EN 16931 (`urn:cen.eu:en16931:2017`).
    En16931,
    /// XRechnung 3.0 (`urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0`).
    XRechnung,
}

impl Profile {
    /// BT-24 specification identifier.
    pub fn guideline_id(self) -> &'static str {
        match self {
            Profile::En16931 => "urn:cen.eu:en16931:2017",
            Profile::XRechnung => {
                "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
            }
        }
    }
}

/// Language of the PDF rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    De,
    En,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EinvoiceError {
    /// A field the chosen profile requires is empty; the name says which
    /// (`buyer_reference`, `seller.contact`, `seller.email`, …).
    #[error("missing {0}")]
    Missing(&'static str),
    /// The document contradicts itself or the rules (e.g. a credit note without BT-25).
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The PDF could not be produced.
    #[error("pdf: {0}")]
    Pdf(String),
}
