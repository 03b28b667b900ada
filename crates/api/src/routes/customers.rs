//! Customers and their sites; search; personal-data export; deletion guarded by orders.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::customers::{self, AddressInput, CustomerChanges, CustomerInput, SiteInput};
use workorders_domain::CustomerId;
use workorders_domain::text::{Line, Text};
use workorders_persistence::customers::{CustomerRecord, SiteRecord};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::customers::{AddressBody, CreateCustomerRequest, CreateSiteRequest};
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

impl From<UpdateCustomerRequest> for CustomerChanges {
    fn from(body: UpdateCustomerRequest) -> Self {
        Self {
            name: body.name.map(String::from),
            email: body.email.map(|e| e.map(String::from)),
            phone: body.phone.map(|p| p.map(String::from)),
            billing_address: body.billing_address.as_ref().map(AddressInput::from),
            vat_id: body.vat_id.map(|v| v.map(String::from)),
            buyer_reference: body.buyer_reference.map(|r| r.map(String::from)),
            notes: body.notes.map(|n| n.map(String::from)),
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
    let created_customer =
        customers::create(&state, &principal, CustomerInput::from(&body.into_inner())).await?;
    let version = created_customer.customer.version;
    let view = CreatedCustomer {
        customer: created_customer.customer.into(),
        sites: created_customer
            .sites
            .into_iter()
            .map(SiteView::from)
            .collect(),
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
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let rows = customers::list(
        &state,
        &principal,
        query.q.as_deref(),
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
    let customer = customers::get(&state, &principal, CustomerId(id.into_inner())).await?;
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
    let updated = customers::update(
        &state,
        &principal,
        CustomerId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
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
    customers::delete(&state, &principal, CustomerId(id.into_inner()), if_match.0).await?;
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
    let export = customers::export(&state, &principal, CustomerId(id.into_inner())).await?;
    let export = CustomerExport {
        exported_at: export.exported_at,
        customer: export.customer.into(),
        sites: export.sites.into_iter().map(SiteView::from).collect(),
        work_orders: export
            .work_orders
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
    let site = customers::create_site(
        &state,
        &principal,
        CustomerId(id.into_inner()),
        SiteInput::from(&body.into_inner()),
    )
    .await?;
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
    let mut sites: Vec<SiteRecord> =
        customers::list_sites(&state, &principal, CustomerId(id.into_inner())).await?;
    let page = query.parse()?;
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
