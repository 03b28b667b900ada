//! Document lines and e-mails in requests and answers, shared by invoices and quotes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::document_lines::LineSpec;
use workorders_domain::billing::LineInput;
use workorders_domain::text::{Line, Text};
use workorders_persistence::emails::EmailRecord;

/// A line as stored and shown (net unit price, exact decimals as strings).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    #[schema(example = "Fenster 120 × 140 cm, 3-fach verglast")]
    pub name: String,
    pub description: Option<String>,
    #[schema(example = "2")]
    pub quantity: String,
    /// UN/ECE Recommendation 20 unit code.
    #[schema(example = "C62")]
    pub unit: String,
    #[schema(example = "640.00")]
    pub unit_price: String,
    #[schema(example = "19")]
    pub vat_rate: String,
}

/// A line to write: from the catalogue (`item_code`; its name, unit, price and VAT rate
/// unless given here) or free (then `name`, `unit`, `unit_price` and `vat_rate` are needed).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// Code of a catalogue item.
    #[schema(value_type = Option<String>, example = "WIN-120-140", max_length = 50)]
    pub item_code: Option<Line<50>>,
    #[schema(value_type = Option<String>,
        example = "Fenster 120 × 140 cm, 3-fach verglast",
        min_length = 1,
        max_length = 200
    )]
    pub name: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub description: Option<Text<1000>>,
    /// Decimal string, greater than zero, at most 4 decimals. Lines are never negative: a
    /// discount is a lower price, a correction of an issued invoice is a credit note.
    #[schema(value_type = String, max_length = 32, example = "2")]
    pub quantity: Line<32>,
    /// UN/ECE Recommendation 20 unit code.
    #[schema(value_type = Option<String>, max_length = 16, example = "C62")]
    pub unit: Option<Line<16>>,
    /// Net price per unit, decimal string, at most 4 decimals.
    #[schema(value_type = Option<String>, max_length = 32, example = "640.00")]
    pub unit_price: Option<Line<32>>,
    /// `19`, `7` or `0` (ignored under §19 and reverse charge).
    #[schema(value_type = Option<String>, max_length = 32, example = "19")]
    pub vat_rate: Option<Line<32>>,
}

impl From<&LineRequest> for LineSpec {
    fn from(l: &LineRequest) -> Self {
        Self {
            item_code: l.item_code.clone().map(String::from),
            name: l.name.clone().map(String::from),
            description: l.description.clone().map(String::from),
            quantity: l.quantity.clone().into_string(),
            unit: l.unit.clone().map(String::from),
            unit_price: l.unit_price.clone().map(String::from),
            vat_rate: l.vat_rate.clone().map(String::from),
        }
    }
}

/// The lines of a request as the use cases take them.
pub fn line_specs(lines: &[LineRequest]) -> Vec<LineSpec> {
    lines.iter().map(LineSpec::from).collect()
}

pub fn line_views(lines: &[LineInput]) -> Vec<LineView> {
    lines
        .iter()
        .map(|l| LineView {
            name: l.name.clone(),
            description: l.description.clone(),
            quantity: l.quantity.normalize().to_string(),
            unit: l.unit.clone(),
            unit_price: l.unit_price.to_string(),
            vat_rate: l.vat_rate.normalize().to_string(),
        })
        .collect()
}

/// An e-mail to the customer and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailView {
    pub id: Uuid,
    /// `invoice`, `credit_note`, `quote`, `booking_confirmation`, `booking_rescheduled`, `booking_cancelled`, `technician_en_route`.
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// `queued`, `sent` or `failed` (rejected by the receiving server, or out of attempts).
    #[schema(example = "sent")]
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt failed (a bounce's SMTP answer).
    pub last_error: Option<String>,
    pub attachments: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub fn email_view(e: &EmailRecord) -> EmailView {
    EmailView {
        id: e.id,
        kind: e.kind.clone(),
        to: e.to_address.clone(),
        subject: e.subject.clone(),
        status: e.status.clone(),
        attempts: e.attempts,
        last_error: e.last_error.clone(),
        attachments: e.attachments.iter().map(|a| a.filename.clone()).collect(),
        created_at: e.created_at,
        sent_at: e.sent_at,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendDocumentRequest {
    /// Recipient; default: the customer's e-mail address.
    #[schema(value_type = Option<String>, example = "rechnung@kunde.de", max_length = 254)]
    pub to: Option<Line<254>>,
}
