//! Document lines and e-mails in requests and answers, shared by invoices and quotes.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::billing::LineInput;
use workorders_domain::text::{Line, Text};
use workorders_persistence::billing::{self as store};
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

/// The active catalogue when any line refers to it.
pub async fn catalogue_for(
    state: &AppState,
    tenant: workorders_domain::TenantId,
    lines: &[LineRequest],
) -> ApiResult<Vec<store::CatalogueItem>> {
    if lines.iter().all(|l| l.item_code.is_none()) {
        return Ok(Vec::new());
    }
    let mut conn = state.db.acquire().await?;
    Ok(store::active_items(&mut conn, tenant).await?)
}

/// Parses request lines into exact decimals, filling catalogue lines from `catalogue`
/// (422 with a pointer).
pub fn parse_lines(
    lines: &[LineRequest],
    pointer: &str,
    catalogue: &[store::CatalogueItem],
) -> ApiResult<Vec<LineInput>> {
    let mut errors = workorders_domain::ValidationErrors::new();
    let mut out = Vec::with_capacity(lines.len());
    if lines.len() > 500 {
        return Err(ApiError::invalid(pointer, "at most 500 lines"));
    }
    for (i, l) in lines.iter().enumerate() {
        let item = match &l.item_code {
            Some(code) => match catalogue.iter().find(|c| &c.code == code) {
                Some(item) => Some(item),
                None => {
                    errors.add(
                        format!("{pointer}/{i}/item_code"),
                        "no active catalogue item has this code",
                    );
                    continue;
                }
            },
            None => None,
        };
        let pick = |given: Option<&str>,
                    field: &str,
                    from_item: Option<&String>,
                    errors: &mut workorders_domain::ValidationErrors| {
            match given.or(from_item.map(String::as_str)) {
                Some(v) => Some(v.to_owned()),
                None => {
                    errors.add(
                        format!("{pointer}/{i}/{field}"),
                        "required for a line without item_code",
                    );
                    None
                }
            }
        };
        let name = pick(
            l.name.as_deref(),
            "name",
            item.map(|c| &c.name),
            &mut errors,
        );
        let unit = pick(
            l.unit.as_deref(),
            "unit",
            item.map(|c| &c.unit),
            &mut errors,
        );
        let price = pick(
            l.unit_price.as_deref(),
            "unit_price",
            item.map(|c| &c.unit_price),
            &mut errors,
        );
        let rate = pick(
            l.vat_rate.as_deref(),
            "vat_rate",
            item.map(|c| &c.vat_rate),
            &mut errors,
        );
        let dec = |field: &str, text: &str, errors: &mut workorders_domain::ValidationErrors| {
            let ok = !text.contains(['e', 'E', '+']) && !text.trim().is_empty();
            match text.parse::<Decimal>() {
                Ok(d) if ok => Some(d),
                _ => {
                    errors.add(
                        format!("{pointer}/{i}/{field}"),
                        "a decimal number such as 12.5",
                    );
                    None
                }
            }
        };
        let quantity = dec("quantity", &l.quantity, &mut errors);
        let unit_price = price.and_then(|p| dec("unit_price", &p, &mut errors));
        let vat_rate = rate.and_then(|r| dec("vat_rate", &r, &mut errors));
        if let (Some(name), Some(unit), Some(quantity), Some(unit_price), Some(vat_rate)) =
            (name, unit, quantity, unit_price, vat_rate)
        {
            let line = LineInput {
                name: name.trim().to_owned(),
                description: l
                    .description
                    .clone()
                    .or_else(|| item.and_then(|c| c.description.clone()).map(Text::trusted))
                    .map(String::from),
                quantity,
                unit,
                unit_price,
                vat_rate,
            };
            if let Err((field, message)) = workorders_domain::billing::validate_line(&line) {
                errors.add(format!("{pointer}/{i}/{field}"), message);
            }
            out.push(line);
        }
    }
    errors.finish()?;
    Ok(out)
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
    /// `invoice`, `credit_note`, `quote`, `booking_confirmation`, `technician_en_route`.
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
