//! Customers and their sites; search; personal-data export; deletion guarded by orders.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;
use workorders_domain::{CustomerId, SiteId, TenantId, ValidationErrors};
use workorders_persistence::customers::{self, Address, CustomerRecord, Deleted, SiteRecord};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt, codes};
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::state::AppState;

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

/// Absent fields stay; `null` clears optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<Line<200>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 254, value_type = Option<String>)]
    pub email: Option<Option<Line<254>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 40, value_type = Option<String>)]
    pub phone: Option<Option<Line<40>>>,
    pub billing_address: Option<AddressBody>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 32, value_type = Option<String>)]
    pub vat_id: Option<Option<Line<32>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 200, value_type = Option<String>)]
    pub buyer_reference: Option<Option<Line<200>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 4000, value_type = Option<String>)]
    pub notes: Option<Option<Text<4000>>>,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub label: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: AddressBody,
    pub vat_id: Option<String>,
    pub buyer_reference: Option<String>,
    pub notes: Option<String>,
    pub source: CustomerSource,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A customer with the service addresses created with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCustomer {
    #[serde(flatten)]
    pub customer: CustomerView,
    pub sites: Vec<SiteView>,
}

/// Everything stored about a customer (GDPR Art. 15/20 export).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub customer: CustomerView,
    pub sites: Vec<SiteView>,
    pub work_orders: Vec<ExportedOrder>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedOrder {
    pub id: String,
    pub number: String,
    pub status: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Search in name, e-mail address and phone number.
    pub q: Option<String>,
    /// Only customers from this source: `web_booking` lists the contacts that anonymous
    /// bookings made (each booking makes its own; staff look at them).
    pub source: Option<CustomerSource>,
}

/// Where a customer record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerSource {
    /// Created by staff or an integration through the API.
    Staff,
    /// Made by an anonymous web booking: never matched to an existing customer by its
    /// e-mail address (anyone can type anyone's address), so it stays a contact of its own.
    WebBooking,
}

impl CustomerSource {
    fn as_str(self) -> &'static str {
        match self {
            CustomerSource::Staff => "staff",
            CustomerSource::WebBooking => "web_booking",
        }
    }
}

impl From<CustomerRecord> for CustomerView {
    fn from(c: CustomerRecord) -> Self {
        Self {
            id: c.id.as_uuid(),
            name: c.name,
            email: c.email,
            phone: c.phone,
            billing_address: AddressBody {
                street: c.billing_address.street.map(Line::trusted),
                postal_code: c.billing_address.postal_code.map(Line::trusted),
                city: c.billing_address.city.map(Line::trusted),
                country: c.billing_address.country.map(Line::trusted),
            },
            vat_id: c.vat_id,
            buyer_reference: c.buyer_reference,
            notes: c.notes,
            source: if c.source == "web_booking" {
                CustomerSource::WebBooking
            } else {
                CustomerSource::Staff
            },
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<SiteRecord> for SiteView {
    fn from(s: SiteRecord) -> Self {
        Self {
            id: s.id.as_uuid(),
            customer_id: s.customer_id.as_uuid(),
            label: s.label,
            street: s.street,
            postal_code: s.postal_code,
            city: s.city,
            country: s.country,
            latitude: s.latitude,
            longitude: s.longitude,
            notes: s.notes,
            version: s.version,
            created_at: s.created_at,
        }
    }
}

fn optional_text(
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

fn parse_country(text: &str, errors: &mut ValidationErrors, pointer: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    if upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase()) {
        Some(upper)
    } else {
        errors.add(pointer, "an ISO 3166-1 alpha-2 country code such as `DE`");
        None
    }
}

fn parse_phone(text: &str, errors: &mut ValidationErrors, pointer: &str) -> Option<String> {
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

fn parse_address(body: &AddressBody, errors: &mut ValidationErrors, base: &str) -> Address {
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

/// Create a customer
///
/// With optional service addresses (`sites`).
#[utoipa::path(
    operation_id = "createCustomer",
    tag = "customers",
    request_body = CreateCustomerRequest,
    responses((status = 201, description = "Customer created", body = CreatedCustomer, headers(("Location" = String), ("ETag" = String)))),
    security(("access_token" = []), ("api_key" = ["customers:write"]))
)]
#[post("/customers")]
pub async fn create_customer(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateCustomerRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersWrite)?;
    let now = state.db.now();
    let mut errors = ValidationErrors::new();
    let (customer, sites) = parse_customer(&body, principal.tenant_id, &mut errors, "", now);
    errors.finish()?;
    let mut tx = state.db.begin_write().await?;
    let customer = customers::insert(tx.conn(), &customer).await?;
    let mut created_sites = Vec::new();
    for site in &sites {
        created_sites.push(SiteView::from(
            customers::insert_site(tx.conn(), site).await?,
        ));
    }
    tx.commit().await?;
    let version = customer.version;
    let view = CreatedCustomer {
        customer: customer.into(),
        sites: created_sites,
    };
    Ok(created(
        format!("/v1/customers/{}", view.customer.id),
        version,
        &view,
    ))
}

/// List or search customers
#[utoipa::path(
    operation_id = "listCustomers",
    tag = "customers",
    params(CustomerListQuery),
    responses((status = 200, description = "One page of customers", body = Page<CustomerView>)),
    security(("access_token" = []), ("api_key" = ["customers:read"]))
)]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<CustomerListQuery>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let rows = customers::list(
        &state.db,
        principal.tenant_id,
        q,
        query.source.map(CustomerSource::as_str),
        page.after.map(CustomerId),
        fetch_limit(page),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        page,
        |c| c.id.as_uuid(),
        CustomerView::from,
    )))
}

async fn load(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<CustomerRecord> {
    customers::get(&state.db, principal.tenant_id, CustomerId(id))
        .await?
        .ok_or(ApiError::NotFound)
}

/// Get a customer
#[utoipa::path(
    operation_id = "getCustomer",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = CustomerView, headers(("ETag" = String))),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:read"]))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersRead)?;
    let customer = load(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(
        customer.version,
        &CustomerView::from(customer),
    ))
}

/// Update a customer
///
/// Requires `If-Match`.
#[utoipa::path(
    operation_id = "updateCustomer",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    request_body = UpdateCustomerRequest,
    responses(
        (status = 200, description = "The customer", body = CustomerView, headers(("ETag" = String))),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:write"]))
)]
#[patch("/customers/{id}")]
pub async fn update_customer(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateCustomerRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersWrite)?;
    let expected = if_match.required()?;
    let mut c = load(&state, &principal, id.into_inner()).await?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    if let Some(name) = &body.name {
        c.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    if let Some(email) = &body.email {
        c.email = email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| errors.check("/email", Email::parse(e)))
            .map(|e| e.as_str().to_owned());
    }
    if let Some(phone) = &body.phone {
        c.phone = phone
            .as_deref()
            .and_then(|p| parse_phone(p, &mut errors, "/phone"));
    }
    if let Some(address) = &body.billing_address {
        c.billing_address = parse_address(address, &mut errors, "/billing_address");
    }
    if let Some(vat_id) = &body.vat_id {
        c.vat_id = optional_text(vat_id.as_deref(), 32, &mut errors, "/vat_id");
    }
    if let Some(reference) = &body.buyer_reference {
        c.buyer_reference =
            optional_text(reference.as_deref(), 100, &mut errors, "/buyer_reference");
    }
    if let Some(notes) = &body.notes {
        c.notes = optional_text(notes.as_deref(), 4000, &mut errors, "/notes");
    }
    errors.finish()?;
    let mut tx = state.db.begin_write().await?;
    let updated = customers::update(&mut tx, &c, expected, state.db.now())
        .await?
        .into_api()?;
    tx.commit().await?;
    Ok(ok_versioned(updated.version, &CustomerView::from(updated)))
}

/// Delete a customer
///
/// Deletes the customer and its sites. Refused (409 `customer_has_orders`) while work orders
/// refer to the customer. Requires `If-Match`.
#[utoipa::path(
    operation_id = "deleteCustomer",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), ("If-Match" = String, Header, description = "Current ETag", pattern = r#"^(W/)?"[0-9]+"$"#)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer has work orders (`customer_has_orders`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:write"]))
)]
#[delete("/customers/{id}")]
pub async fn delete_customer(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersWrite)?;
    let expected = if_match.required()?;
    let mut tx = state.db.begin_write().await?;
    match customers::delete(
        tx.conn(),
        principal.tenant_id,
        CustomerId(id.into_inner()),
        expected,
    )
    .await?
    {
        Deleted::Deleted => {}
        Deleted::NotFound => return Err(ApiError::NotFound),
        Deleted::Stale { current_version } => {
            return Err(ApiError::PreconditionFailed { current_version });
        }
        Deleted::HasOrders { count } => {
            return Err(ApiError::conflict(
                codes::CUSTOMER_HAS_ORDERS,
                format!("the customer has {count} work order(s); it cannot be deleted"),
            ));
        }
    }
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Export a customer's data
///
/// Everything stored about the customer as JSON: master data, sites and the list of their
/// work orders.
#[utoipa::path(
    operation_id = "exportCustomer",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The export", body = CustomerExport),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:read"]))
)]
#[get("/customers/{id}/export")]
pub async fn export_customer(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersRead)?;
    let customer = load(&state, &principal, id.into_inner()).await?;
    let sites = customers::list_sites(&state.db, principal.tenant_id, customer.id).await?;
    let orders = customers::order_numbers(&state.db, principal.tenant_id, customer.id).await?;
    let export = CustomerExport {
        exported_at: state.db.now(),
        customer: customer.into(),
        sites: sites.into_iter().map(SiteView::from).collect(),
        work_orders: orders
            .into_iter()
            .map(|(id, number, status)| ExportedOrder { id, number, status })
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"customer-{}.json\"",
                export.customer.id
            ),
        ))
        .json(export))
}

/// Add a site
///
/// A service address of the customer.
#[utoipa::path(
    operation_id = "createSite",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = CreateSiteRequest,
    responses(
        (status = 201, description = "Site created", body = SiteView, headers(("Location" = String))),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:write"]))
)]
#[post("/customers/{id}/sites")]
pub async fn create_site(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<CreateSiteRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersWrite)?;
    let customer = load(&state, &principal, id.into_inner()).await?;
    let mut errors = ValidationErrors::new();
    let site = parse_site(
        &body,
        principal.tenant_id,
        customer.id,
        &mut errors,
        "",
        state.db.now(),
    );
    errors.finish()?;
    let mut tx = state.db.begin_write().await?;
    let site = customers::insert_site(tx.conn(), &site).await?;
    tx.commit().await?;
    let version = site.version;
    let view = SiteView::from(site);
    Ok(created(
        format!("/v1/customers/{}/sites/{}", view.customer_id, view.id),
        version,
        &view,
    ))
}

/// List a customer's sites
#[utoipa::path(
    operation_id = "listSites",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), PageQuery),
    responses(
        (status = 200, description = "The sites", body = Page<SiteView>),
        (status = 404, description = "No such customer in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["customers:read"]))
)]
#[get("/customers/{id}/sites")]
pub async fn list_sites(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::CustomersRead)?;
    let customer = load(&state, &principal, id.into_inner()).await?;
    let page = query.parse()?;
    let mut sites: Vec<SiteRecord> =
        customers::list_sites(&state.db, principal.tenant_id, customer.id).await?;
    if let Some(after) = page.after {
        sites.retain(|s| s.id.as_uuid() > after);
    }
    sites.truncate(usize::try_from(fetch_limit(page)).unwrap_or(usize::MAX));
    Ok(HttpResponse::Ok().json(Page::from_rows(
        sites,
        page,
        |s| s.id.as_uuid(),
        SiteView::from,
    )))
}
