//! Customers and sites in requests, shared by the customer, order and booking routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workorders_app::customers::{self, AddressInput, CustomerInput, SiteInput};
use workorders_domain::text::{Line, Text};
use workorders_domain::{CustomerId, TenantId, ValidationErrors};
use workorders_persistence::customers::SiteRecord;

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

impl From<&AddressBody> for AddressInput {
    fn from(body: &AddressBody) -> Self {
        Self {
            street: body.street.as_deref().map(str::to_owned),
            postal_code: body.postal_code.as_deref().map(str::to_owned),
            city: body.city.as_deref().map(str::to_owned),
            country: body.country.as_deref().map(str::to_owned),
        }
    }
}

impl From<&CreateSiteRequest> for SiteInput {
    fn from(body: &CreateSiteRequest) -> Self {
        Self {
            label: body.label.as_deref().map(str::to_owned),
            street: body.street.as_str().to_owned(),
            postal_code: body.postal_code.as_str().to_owned(),
            city: body.city.as_str().to_owned(),
            country: body.country.as_deref().map(str::to_owned),
            latitude: body.latitude,
            longitude: body.longitude,
            notes: body.notes.as_deref().map(str::to_owned),
        }
    }
}

impl From<&CreateCustomerRequest> for CustomerInput {
    fn from(body: &CreateCustomerRequest) -> Self {
        Self {
            name: body.name.as_str().to_owned(),
            email: body.email.as_deref().map(str::to_owned),
            phone: body.phone.as_deref().map(str::to_owned),
            billing_address: body.billing_address.as_ref().map(AddressInput::from),
            vat_id: body.vat_id.as_deref().map(str::to_owned),
            buyer_reference: body.buyer_reference.as_deref().map(str::to_owned),
            notes: body.notes.as_deref().map(str::to_owned),
            sites: body.sites.iter().map(SiteInput::from).collect(),
        }
    }
}

/// Validates a site; pointers under `base` (see [`customers::parse_site`]).
pub fn parse_site(
    body: &CreateSiteRequest,
    tenant: TenantId,
    customer: CustomerId,
    errors: &mut ValidationErrors,
    base: &str,
    now: DateTime<Utc>,
) -> SiteRecord {
    customers::parse_site(&body.into(), tenant, customer, errors, base, now)
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
