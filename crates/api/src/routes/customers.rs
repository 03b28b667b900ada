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
use workorders_domain::{CustomerId, ValidationErrors};
use workorders_persistence::customers::{self, CustomerRecord, Deleted, SiteRecord};

use crate::auth::{Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt, codes};
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::customers::{
    AddressBody, CreateCustomerRequest, CreateSiteRequest, optional_text, parse_address,
    parse_customer, parse_phone, parse_site,
};
use crate::state::AppState;

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
