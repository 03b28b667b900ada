//! Customers and sites in requests, shared by the customer, order and booking routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;
use workorders_domain::{CustomerId, SiteId, TenantId, ValidationErrors};
use workorders_persistence::customers::{Address, CustomerRecord, SiteRecord};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    #[schema(value_type = String, example = "Familie Schneider", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 254, example = "schneider@example.com")]
    pub email: Option<Line<254>>,
    #[schema(value_type = Option<String>, max_length = 40, example = "+49 30 555 0101")]
    pub phone: Option<Line<40>>,
    pub billing_address: Option<AddressBody>,
    /// VAT identification number (e.g. `DE123456789`).
    #[schema(value_type = Option<String>, max_length = 32)]
    pub vat_id: Option<Line<32>>,
    /// Buyer reference for e-invoices (Leitweg-ID for public buyers).
    #[schema(value_type = Option<String>, max_length = 200)]
    pub buyer_reference: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Text<4000>>,
    /// Service addresses to create with the customer.
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50)]
    pub sites: Vec<CreateSiteRequest>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSiteRequest {
    #[schema(value_type = Option<String>, max_length = 200, example = "Wohnhaus")]
    pub label: Option<Line<200>>,
    #[schema(value_type = String, max_length = 200, example = "Gartenweg 12")]
    pub street: Line<200>,
    #[schema(value_type = String, max_length = 16, example = "10247")]
    pub postal_code: Line<16>,
    #[schema(value_type = String, max_length = 200, example = "Berlin")]
    pub city: Line<200>,
    /// ISO 3166-1 alpha-2, default `DE`.
    #[schema(value_type = Option<String>, max_length = 64, example = "DE")]
    pub country: Option<Line<64>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Text<4000>>,
}

/// Validates a site; pointers under `base`.
pub fn parse_site(
    body: &CreateSiteRequest,
    tenant: TenantId,
    customer: CustomerId,
    errors: &mut ValidationErrors,
    base: &str,
    now: DateTime<Utc>,
) -> SiteRecord {
    let required = |value: &str, max: usize, field: &str, errors: &mut ValidationErrors| {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > max {
            errors.add(
                format!("{base}/{field}"),
                format!("must have 1 to {max} characters"),
            );
        }
        v.to_owned()
    };
    let street = required(&body.street, 200, "street", errors);
    let postal_code = required(&body.postal_code, 16, "postal_code", errors);
    let city = required(&body.city, 100, "city", errors);
    if body.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
        errors.add(format!("{base}/latitude"), "must be between -90 and 90");
    }
    if body
        .longitude
        .is_some_and(|l| !(-180.0..=180.0).contains(&l))
    {
        errors.add(format!("{base}/longitude"), "must be between -180 and 180");
    }
    if body.latitude.is_some() != body.longitude.is_some() {
        errors.add(
            format!("{base}/latitude"),
            "latitude and longitude go together",
        );
    }
    SiteRecord {
        id: SiteId::new(),
        tenant_id: tenant,
        customer_id: customer,
        label: optional_text(body.label.as_deref(), 100, errors, &format!("{base}/label")),
        street,
        postal_code,
        city,
        country: body
            .country
            .as_deref()
            .map_or(Some("DE".to_owned()), |c| {
                parse_country(c, errors, &format!("{base}/country"))
            })
            .unwrap_or_default(),
        latitude: body.latitude,
        longitude: body.longitude,
        notes: optional_text(
            body.notes.as_deref(),
            2000,
            errors,
            &format!("{base}/notes"),
        ),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Validates a new customer (and its sites); pointers under `base`.
pub fn parse_customer(
    body: &CreateCustomerRequest,
    tenant: TenantId,
    errors: &mut ValidationErrors,
    base: &str,
    now: DateTime<Utc>,
) -> (CustomerRecord, Vec<SiteRecord>) {
    let id = CustomerId::new();
    let name = errors
        .check(&format!("{base}/name"), parse_display_name(&body.name))
        .unwrap_or_default();
    let email = body
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .and_then(|e| errors.check(&format!("{base}/email"), Email::parse(e)))
        .map(|e| e.as_str().to_owned());
    let customer = CustomerRecord {
        id,
        tenant_id: tenant,
        name,
        email,
        phone: body
            .phone
            .as_deref()
            .and_then(|p| parse_phone(p, errors, &format!("{base}/phone"))),
        billing_address: body
            .billing_address
            .as_ref()
            .map(|a| parse_address(a, errors, &format!("{base}/billing_address")))
            .unwrap_or_default(),
        vat_id: optional_text(
            body.vat_id.as_deref(),
            32,
            errors,
            &format!("{base}/vat_id"),
        ),
        buyer_reference: optional_text(
            body.buyer_reference.as_deref(),
            100,
            errors,
            &format!("{base}/buyer_reference"),
        ),
        notes: optional_text(
            body.notes.as_deref(),
            4000,
            errors,
            &format!("{base}/notes"),
        ),
        source: "staff".to_owned(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let sites = body
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| parse_site(s, tenant, id, errors, &format!("{base}/sites/{i}"), now))
        .collect();
    (customer, sites)
}

/// A postal address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    #[schema(value_type = Option<String>, max_length = 200, example = "Hauptstraße 5")]
    pub street: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 16, example = "10115")]
    pub postal_code: Option<Line<16>>,
    #[schema(value_type = Option<String>, max_length = 200, example = "Berlin")]
    pub city: Option<Line<200>>,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(value_type = Option<String>, max_length = 64, example = "DE")]
    pub country: Option<Line<64>>,
}

pub(crate) fn optional_text(
    text: Option<&str>,
    max: usize,
    errors: &mut ValidationErrors,
    pointer: &str,
) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    if text.chars().count() > max
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.add(
            pointer,
            format!("at most {max} characters, no control characters"),
        );
        return None;
    }
    Some(text.to_owned())
}

pub(crate) fn parse_country(
    text: &str,
    errors: &mut ValidationErrors,
    pointer: &str,
) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    if upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase()) {
        Some(upper)
    } else {
        errors.add(pointer, "an ISO 3166-1 alpha-2 country code such as `DE`");
        None
    }
}

pub(crate) fn parse_phone(
    text: &str,
    errors: &mut ValidationErrors,
    pointer: &str,
) -> Option<String> {
    let phone = text.trim();
    if phone.is_empty() {
        return None;
    }
    if phone.len() <= 40
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()/".contains(c))
    {
        Some(phone.to_owned())
    } else {
        errors.add(
            pointer,
            "digits, spaces and + - ( ) /, at most 40 characters",
        );
        None
    }
}

pub(crate) fn parse_address(
    body: &AddressBody,
    errors: &mut ValidationErrors,
    base: &str,
) -> Address {
    Address {
        street: optional_text(
            body.street.as_deref(),
            200,
            errors,
            &format!("{base}/street"),
        ),
        postal_code: optional_text(
            body.postal_code.as_deref(),
            16,
            errors,
            &format!("{base}/postal_code"),
        ),
        city: optional_text(body.city.as_deref(), 100, errors, &format!("{base}/city")),
        country: body
            .country
            .as_deref()
            .and_then(|c| parse_country(c, errors, &format!("{base}/country"))),
    }
}
