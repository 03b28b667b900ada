//! The lines of invoices and quotes as a caller writes them: from the catalogue or free,
//! parsed into exact decimals.

use rust_decimal::Decimal;
use workorders_domain::billing::LineInput;
use workorders_domain::{TenantId, ValidationErrors};
use workorders_persistence::billing::{self as store, CatalogueItem};

use crate::App;
use crate::error::{AppError, AppResult};

/// A line to write: from the catalogue (`item_code`; its name, unit, price and VAT rate
/// unless given here) or free (then `name`, `unit`, `unit_price` and `vat_rate` are needed).
#[derive(Debug, Clone, Default)]
pub struct LineSpec {
    pub item_code: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Decimal string.
    pub quantity: String,
    pub unit: Option<String>,
    /// Decimal string.
    pub unit_price: Option<String>,
    /// Decimal string.
    pub vat_rate: Option<String>,
}

/// The active catalogue when any line refers to it.
pub async fn catalogue_for(
    app: &App,
    tenant: TenantId,
    lines: &[LineSpec],
) -> AppResult<Vec<CatalogueItem>> {
    if lines.iter().all(|l| l.item_code.is_none()) {
        return Ok(Vec::new());
    }
    let mut conn = app.db.acquire().await?;
    Ok(store::active_items(&mut conn, tenant).await?)
}

/// Parses lines into exact decimals, filling catalogue lines from `catalogue` (refused with
/// pointers below `pointer`).
pub fn parse_lines(
    lines: &[LineSpec],
    pointer: &str,
    catalogue: &[CatalogueItem],
) -> AppResult<Vec<LineInput>> {
    let mut errors = ValidationErrors::new();
    let mut out = Vec::with_capacity(lines.len());
    if lines.len() > 500 {
        return Err(AppError::invalid(pointer, "at most 500 lines"));
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
                    errors: &mut ValidationErrors| {
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
        let dec = |field: &str, text: &str, errors: &mut ValidationErrors| {
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
                    .or_else(|| item.and_then(|c| c.description.clone())),
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
