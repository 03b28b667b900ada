//! Customers and their sites: validation of new customers, sites and changes, search, the
//! personal-data export, deletion guarded by orders.

use chrono::{DateTime, Utc};
use workorders_domain::auth::Permission;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::user::Email;
use workorders_domain::{CustomerId, SiteId, TenantId, ValidationErrors};
use workorders_persistence::customers::{self, Address, CustomerRecord, Deleted, SiteRecord};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, codes, required_version};
use crate::identity::Principal;

/// A postal address as given; every part optional.
#[derive(Debug, Clone, Default)]
pub struct AddressInput {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

/// A new site (service address) as given. Field pointers in refusals name these fields
/// under the base the caller gives (`/street`, `/site/street`, `/sites/0/street`, ...).
#[derive(Debug, Clone)]
pub struct SiteInput {
    pub label: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2, default `DE`.
    pub country: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub notes: Option<String>,
}

/// A new customer as given, with the sites to create with it.
#[derive(Debug, Clone)]
pub struct CustomerInput {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<AddressInput>,
    pub vat_id: Option<String>,
    pub buyer_reference: Option<String>,
    pub notes: Option<String>,
    pub sites: Vec<SiteInput>,
}

/// Changes to a customer: `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub billing_address: Option<AddressInput>,
    pub vat_id: Option<Option<String>>,
    pub buyer_reference: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

/// A created customer with the sites created with it.
#[derive(Debug)]
pub struct CreatedCustomer {
    pub customer: CustomerRecord,
    pub sites: Vec<SiteRecord>,
}

/// Everything stored about a customer (GDPR Art. 15/20).
#[derive(Debug)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub customer: CustomerRecord,
    pub sites: Vec<SiteRecord>,
    /// Id, number and status of each of the customer's work orders.
    pub work_orders: Vec<(String, String, String)>,
}

/// Validates a site; pointers under `base`.
pub fn parse_site(
    input: &SiteInput,
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
    let street = required(&input.street, 200, "street", errors);
    let postal_code = required(&input.postal_code, 16, "postal_code", errors);
    let city = required(&input.city, 100, "city", errors);
    if input.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
        errors.add(format!("{base}/latitude"), "must be between -90 and 90");
    }
    if input
        .longitude
        .is_some_and(|l| !(-180.0..=180.0).contains(&l))
    {
        errors.add(format!("{base}/longitude"), "must be between -180 and 180");
    }
    if input.latitude.is_some() != input.longitude.is_some() {
        errors.add(
            format!("{base}/latitude"),
            "latitude and longitude go together",
        );
    }
    SiteRecord {
        id: SiteId::new(),
        tenant_id: tenant,
        customer_id: customer,
        label: optional_text(
            input.label.as_deref(),
            100,
            errors,
            &format!("{base}/label"),
        ),
        street,
        postal_code,
        city,
        country: input
            .country
            .as_deref()
            .map_or(Some("DE".to_owned()), |c| {
                parse_country(c, errors, &format!("{base}/country"))
            })
            .unwrap_or_default(),
        latitude: input.latitude,
        longitude: input.longitude,
        notes: optional_text(
            input.notes.as_deref(),
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
    input: &CustomerInput,
    tenant: TenantId,
    errors: &mut ValidationErrors,
    base: &str,
    now: DateTime<Utc>,
) -> (CustomerRecord, Vec<SiteRecord>) {
    let id = CustomerId::new();
    let name = errors
        .check(&format!("{base}/name"), parse_display_name(&input.name))
        .unwrap_or_default();
    let email = input
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
        phone: input
            .phone
            .as_deref()
            .and_then(|p| parse_phone(p, errors, &format!("{base}/phone"))),
        billing_address: input
            .billing_address
            .as_ref()
            .map(|a| parse_address(a, errors, &format!("{base}/billing_address")))
            .unwrap_or_default(),
        vat_id: optional_text(
            input.vat_id.as_deref(),
            32,
            errors,
            &format!("{base}/vat_id"),
        ),
        buyer_reference: optional_text(
            input.buyer_reference.as_deref(),
            100,
            errors,
            &format!("{base}/buyer_reference"),
        ),
        notes: optional_text(
            input.notes.as_deref(),
            4000,
            errors,
            &format!("{base}/notes"),
        ),
        source: "staff".to_owned(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let sites = input
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| parse_site(s, tenant, id, errors, &format!("{base}/sites/{i}"), now))
        .collect();
    (customer, sites)
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

fn parse_address(input: &AddressInput, errors: &mut ValidationErrors, base: &str) -> Address {
    Address {
        street: optional_text(
            input.street.as_deref(),
            200,
            errors,
            &format!("{base}/street"),
        ),
        postal_code: optional_text(
            input.postal_code.as_deref(),
            16,
            errors,
            &format!("{base}/postal_code"),
        ),
        city: optional_text(input.city.as_deref(), 100, errors, &format!("{base}/city")),
        country: input
            .country
            .as_deref()
            .and_then(|c| parse_country(c, errors, &format!("{base}/country"))),
    }
}

/// Creates a customer with its sites.
pub async fn create(
    app: &App,
    caller: &Principal,
    input: CustomerInput,
) -> AppResult<CreatedCustomer> {
    caller.require(Permission::CustomersWrite)?;
    let now = app.db.now();
    let mut errors = ValidationErrors::new();
    let (customer, sites) = parse_customer(&input, caller.tenant_id, &mut errors, "", now);
    errors.finish()?;
    let mut tx = app.db.begin_write().await?;
    let customer = customers::insert(tx.conn(), &customer).await?;
    let mut created_sites = Vec::new();
    for site in &sites {
        created_sites.push(customers::insert_site(tx.conn(), site).await?);
    }
    tx.commit().await?;
    Ok(CreatedCustomer {
        customer,
        sites: created_sites,
    })
}

/// Up to `limit` customers after `after` in id order, matching the search `q` (name,
/// e-mail address, phone; blank: everyone) and the `source` (`staff`, `web_booking`).
pub async fn list(
    app: &App,
    caller: &Principal,
    q: Option<&str>,
    source: Option<&str>,
    after: Option<CustomerId>,
    limit: u32,
) -> AppResult<Vec<CustomerRecord>> {
    caller.require(Permission::CustomersRead)?;
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    Ok(customers::list(&app.db, caller.tenant_id, q, source, after, limit).await?)
}

async fn load(app: &App, caller: &Principal, id: CustomerId) -> AppResult<CustomerRecord> {
    customers::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get(app: &App, caller: &Principal, id: CustomerId) -> AppResult<CustomerRecord> {
    caller.require(Permission::CustomersRead)?;
    load(app, caller, id).await
}

/// Changes a customer at `expected_version`.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: CustomerId,
    expected_version: Option<i64>,
    changes: CustomerChanges,
) -> AppResult<CustomerRecord> {
    caller.require(Permission::CustomersWrite)?;
    let expected = required_version(expected_version)?;
    let mut c = load(app, caller, id).await?;
    let mut errors = ValidationErrors::new();
    if let Some(name) = &changes.name {
        c.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    if let Some(email) = &changes.email {
        c.email = email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| errors.check("/email", Email::parse(e)))
            .map(|e| e.as_str().to_owned());
    }
    if let Some(phone) = &changes.phone {
        c.phone = phone
            .as_deref()
            .and_then(|p| parse_phone(p, &mut errors, "/phone"));
    }
    if let Some(address) = &changes.billing_address {
        c.billing_address = parse_address(address, &mut errors, "/billing_address");
    }
    if let Some(vat_id) = &changes.vat_id {
        c.vat_id = optional_text(vat_id.as_deref(), 32, &mut errors, "/vat_id");
    }
    if let Some(reference) = &changes.buyer_reference {
        c.buyer_reference =
            optional_text(reference.as_deref(), 100, &mut errors, "/buyer_reference");
    }
    if let Some(notes) = &changes.notes {
        c.notes = optional_text(notes.as_deref(), 4000, &mut errors, "/notes");
    }
    errors.finish()?;
    let mut tx = app.db.begin_write().await?;
    let updated = customers::update(&mut tx, &c, expected, app.db.now())
        .await?
        .into_app()?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a customer and its sites at `expected_version`; refused while work orders refer
/// to it.
pub async fn delete(
    app: &App,
    caller: &Principal,
    id: CustomerId,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::CustomersWrite)?;
    let expected = required_version(expected_version)?;
    let mut tx = app.db.begin_write().await?;
    match customers::delete(tx.conn(), caller.tenant_id, id, expected).await? {
        Deleted::Deleted => {}
        Deleted::NotFound => return Err(AppError::NotFound),
        Deleted::Stale { current_version } => {
            return Err(AppError::Stale { current_version });
        }
        Deleted::HasOrders { count } => {
            return Err(AppError::conflict(
                codes::CUSTOMER_HAS_ORDERS,
                format!("the customer has {count} work order(s); it cannot be deleted"),
            ));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Everything stored about a customer: master data, sites and their work orders.
pub async fn export(app: &App, caller: &Principal, id: CustomerId) -> AppResult<CustomerExport> {
    caller.require(Permission::CustomersRead)?;
    let customer = load(app, caller, id).await?;
    let sites = customers::list_sites(&app.db, caller.tenant_id, customer.id).await?;
    let work_orders = customers::order_numbers(&app.db, caller.tenant_id, customer.id).await?;
    Ok(CustomerExport {
        exported_at: app.db.now(),
        customer,
        sites,
        work_orders,
    })
}

/// Adds a site to a customer.
pub async fn create_site(
    app: &App,
    caller: &Principal,
    customer: CustomerId,
    input: SiteInput,
) -> AppResult<SiteRecord> {
    caller.require(Permission::CustomersWrite)?;
    let customer = load(app, caller, customer).await?;
    let mut errors = ValidationErrors::new();
    let site = parse_site(
        &input,
        caller.tenant_id,
        customer.id,
        &mut errors,
        "",
        app.db.now(),
    );
    errors.finish()?;
    let mut tx = app.db.begin_write().await?;
    let site = customers::insert_site(tx.conn(), &site).await?;
    tx.commit().await?;
    Ok(site)
}

/// Every site of a customer, in id order.
pub async fn list_sites(
    app: &App,
    caller: &Principal,
    customer: CustomerId,
) -> AppResult<Vec<SiteRecord>> {
    caller.require(Permission::CustomersRead)?;
    let customer = load(app, caller, customer).await?;
    Ok(customers::list_sites(&app.db, caller.tenant_id, customer.id).await?)
}
