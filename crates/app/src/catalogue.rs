//! The catalogue of billable items: labour rates, materials and flat-priced services, used
//! to price invoice and quote lines.

use rust_decimal::Decimal;
use uuid::Uuid;
use workorders_domain::ValidationErrors;
use workorders_domain::auth::{Permission, Role};
use workorders_domain::billing::is_known_unit;
use workorders_persistence::StoreError;
use workorders_persistence::billing::{self as store, CatalogueItem};

use crate::App;
use crate::billing::load_profile;
use crate::error::{AppError, AppResult, codes, required_version};
use crate::identity::Principal;

/// What a catalogue item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An hourly rate for a role or a skill.
    Labour,
    Material,
    /// A flat-priced service.
    Service,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Labour => "labour",
            ItemKind::Material => "material",
            ItemKind::Service => "service",
        }
    }
}

/// An item as staff describe it. Field pointers in refusals name these fields (`/code`,
/// `/unit_price`, ...).
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub code: String,
    pub kind: ItemKind,
    pub name: String,
    pub description: Option<String>,
    /// UN/ECE Recommendation 20 unit code.
    pub unit: String,
    pub unit_price: String,
    /// `19`, `7` or `0`; `None`: the profile's default rate (on create), unchanged (on update).
    pub vat_rate: Option<String>,
    pub role: Option<String>,
    pub skill: Option<String>,
    /// `None`: active (on create), unchanged (on update).
    pub active: Option<bool>,
}

fn check(spec: &ItemSpec) -> AppResult<()> {
    let mut errors = ValidationErrors::new();
    let code_ok = !spec.code.is_empty()
        && spec.code.len() <= 50
        && spec
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if !code_ok {
        errors.add("/code", "1 to 50 letters, digits, - _ . /");
    }
    if spec.name.trim().is_empty() || spec.name.chars().count() > 200 {
        errors.add("/name", "1 to 200 characters");
    }
    if spec
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        errors.add("/description", "at most 1,000 characters");
    }
    if !is_known_unit(&spec.unit) {
        errors.add("/unit", "not a known UN/ECE Recommendation 20 unit code");
    }
    let price_ok =
        spec.unit_price.parse::<Decimal>().is_ok_and(|p| {
            !p.is_sign_negative() && p.scale() <= 4 && p < Decimal::from(1_000_000_000)
        }) && !spec.unit_price.contains(['e', 'E', '+', '-']);
    if !price_ok {
        errors.add(
            "/unit_price",
            "a decimal number ≥ 0 with at most 4 decimals",
        );
    }
    if let Some(r) = &spec.vat_rate
        && !["19", "7", "0"].contains(&r.as_str())
    {
        errors.add("/vat_rate", "one of 19, 7, 0");
    }
    if spec.kind != ItemKind::Labour && (spec.role.is_some() || spec.skill.is_some()) {
        errors.add("/role", "only labour rates have a role or skill");
    }
    if let Some(role) = &spec.role
        && role.parse::<Role>().is_err()
    {
        errors.add("/role", "not a role");
    }
    Ok(errors.finish()?)
}

fn code_taken(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(_) => {
            AppError::conflict(codes::CODE_TAKEN, "another catalogue item has this code")
        }
        other => other.into(),
    }
}

/// Adds an item (409 `code_taken` when another item has its code).
pub async fn create(app: &App, caller: &Principal, spec: ItemSpec) -> AppResult<CatalogueItem> {
    caller.require(Permission::BillingWrite)?;
    check(&spec)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let (profile, _) = load_profile(tx.conn(), caller.tenant_id).await?;
    let item = CatalogueItem {
        id: Uuid::now_v7(),
        tenant_id: caller.tenant_id,
        code: spec.code,
        kind: spec.kind.as_str().to_owned(),
        name: spec.name.trim().to_owned(),
        description: spec.description,
        unit: spec.unit,
        unit_price: spec.unit_price,
        vat_rate: spec
            .vat_rate
            .or(profile.default_vat_rate)
            .unwrap_or_else(|| "19".to_owned()),
        role: spec.role,
        skill: spec.skill,
        active: spec.active.unwrap_or(true),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    store::insert_item(tx.conn(), &item)
        .await
        .map_err(code_taken)?;
    tx.commit().await?;
    Ok(item)
}

/// Up to `limit` items ordered by code, after the code `after_code`.
pub async fn list(
    app: &App,
    caller: &Principal,
    after_code: Option<&str>,
    kind: Option<ItemKind>,
    include_inactive: bool,
    limit: i64,
) -> AppResult<Vec<CatalogueItem>> {
    caller.require(Permission::WorkOrdersRead)?;
    Ok(store::list_items(
        &app.db,
        caller.tenant_id,
        after_code,
        kind.map(ItemKind::as_str),
        include_inactive,
        limit,
    )
    .await?)
}

pub async fn get(app: &App, caller: &Principal, id: Uuid) -> AppResult<CatalogueItem> {
    caller.require(Permission::WorkOrdersRead)?;
    let mut conn = app.db.acquire().await?;
    store::get_item(&mut conn, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Replaces an item at `expected_version`. Documents already written keep their prices.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    spec: ItemSpec,
) -> AppResult<CatalogueItem> {
    caller.require(Permission::BillingWrite)?;
    let expected = required_version(expected_version)?;
    check(&spec)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut item = store::get_item(tx.conn(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if expected != item.version {
        return Err(AppError::Stale {
            current_version: item.version,
        });
    }
    let expected = item.version;
    item.code = spec.code;
    item.kind = spec.kind.as_str().to_owned();
    item.name = spec.name.trim().to_owned();
    item.description = spec.description;
    item.unit = spec.unit;
    item.unit_price = spec.unit_price;
    if let Some(rate) = spec.vat_rate {
        item.vat_rate = rate;
    }
    item.role = spec.role;
    item.skill = spec.skill;
    item.active = spec.active.unwrap_or(item.active);
    if !store::update_item(tx.conn(), &item, expected, now)
        .await
        .map_err(code_taken)?
    {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    item.version = expected + 1;
    item.updated_at = now;
    Ok(item)
}
