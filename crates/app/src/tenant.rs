//! The caller's company: reading it and changing its settings (process owner, assignment
//! rule, website origins, escalation, branding), its logo, and the branding the customer's
//! pages show.

use workorders_domain::UserId;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::auth::{Permission, Role};
use workorders_domain::brand::{self, Colour, Language};
use workorders_persistence::tenants::{self, Logo, TenantRecord};
use workorders_persistence::users;

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, required_version};
use crate::identity::Principal;

/// The caller's tenant.
pub async fn get(app: &App, caller: &Principal) -> AppResult<TenantRecord> {
    tenants::get(&app.db, caller.tenant_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes to the settings; `None` keeps a setting. Field pointers in refusals name the
/// fields (`/process_owner_id`, `/website_origins`, ...).
#[derive(Debug, Default)]
pub struct SettingsChange {
    /// `Some(None)`: fall back to the first active owner.
    pub process_owner_id: Option<Option<UserId>>,
    pub assignment_rule: Option<AssignmentRule>,
    pub website_origins: Option<Vec<String>>,
    pub escalation_grace_minutes: Option<i64>,
    pub stuck_after_days: Option<i64>,
    /// `#rrggbb`; `Some(None)`: back to the default colour.
    pub brand_colour: Option<Option<String>>,
    /// An https URL; `Some(None)`: none.
    pub imprint_url: Option<Option<String>>,
    /// An https URL; `Some(None)`: none.
    pub privacy_url: Option<Option<String>>,
    /// `de` or `en`.
    pub default_language: Option<String>,
}

/// A legal link as changed: `None` keeps `current`.
fn link_change(
    change: Option<Option<String>>,
    current: Option<String>,
    pointer: &str,
) -> AppResult<Option<String>> {
    match change {
        None => Ok(current),
        Some(None) => Ok(None),
        Some(Some(url)) if brand::valid_https_link(&url) => Ok(Some(url)),
        Some(Some(_)) => Err(AppError::invalid(
            pointer,
            format!(
                "an absolute https:// URL of at most {} characters",
                brand::MAX_LINK_CHARS
            ),
        )),
    }
}

/// Whether `origin` is a scheme and a host (`https://www.example.com`), no path.
fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && !host.contains('/')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
    })
}

/// Applies `change` to the tenant at `expected_version` (owners and admins).
pub async fn update_settings(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
    change: SettingsChange,
) -> AppResult<TenantRecord> {
    caller.require(Permission::TenantWrite)?;
    let expected_version = required_version(expected_version)?;
    let tenant = get(app, caller).await?;
    let owner = match change.process_owner_id {
        None => tenant.process_owner_id,
        Some(None) => None,
        Some(Some(id)) => match users::get(&app.db, caller.tenant_id, id).await? {
            Some(u)
                if u.active && matches!(u.role, Role::Owner | Role::Admin | Role::Dispatcher) =>
            {
                Some(u.id)
            }
            _ => {
                return Err(AppError::invalid(
                    "/process_owner_id",
                    "must be an active owner, admin or dispatcher of this tenant",
                ));
            }
        },
    };
    if change
        .escalation_grace_minutes
        .is_some_and(|m| !(0..=10_080).contains(&m))
    {
        return Err(AppError::invalid(
            "/escalation_grace_minutes",
            "between 0 and 10080 minutes (a week)",
        ));
    }
    if change
        .stuck_after_days
        .is_some_and(|d| !(1..=365).contains(&d))
    {
        return Err(AppError::invalid(
            "/stuck_after_days",
            "between 1 and 365 days",
        ));
    }
    let origins = match change.website_origins {
        None => tenant.website_origins.clone(),
        Some(origins) => {
            if origins.len() > 20 || origins.iter().any(|o| !valid_origin(o)) {
                return Err(AppError::invalid(
                    "/website_origins",
                    "up to 20 origins like https://www.example.com (scheme and host, no path)",
                ));
            }
            origins
        }
    };
    let brand_colour = match change.brand_colour {
        None => tenant.brand_colour,
        Some(None) => None,
        Some(Some(text)) => Some(Colour::parse(&text).ok_or_else(|| {
            AppError::invalid("/brand_colour", "a colour written #rrggbb, e.g. #0b5cab")
        })?),
    };
    let imprint_url = link_change(
        change.imprint_url,
        tenant.imprint_url.clone(),
        "/imprint_url",
    )?;
    let privacy_url = link_change(
        change.privacy_url,
        tenant.privacy_url.clone(),
        "/privacy_url",
    )?;
    let default_language = match change.default_language {
        None => tenant.default_language,
        Some(code) => Language::parse(&code)
            .ok_or_else(|| AppError::invalid("/default_language", "de or en"))?,
    };
    let next = TenantRecord {
        process_owner_id: owner,
        brand_colour,
        imprint_url,
        privacy_url,
        default_language,
        assignment_rule: change.assignment_rule.unwrap_or(tenant.assignment_rule),
        website_origins: origins,
        escalation_grace_minutes: change
            .escalation_grace_minutes
            .unwrap_or(tenant.escalation_grace_minutes),
        stuck_after_days: change.stuck_after_days.unwrap_or(tenant.stuck_after_days),
        ..tenant
    };
    save(app, &next, expected_version).await
}

/// Whether the caller may change the tenant and `expected_version` is its current version
/// (403, 428, 412 otherwise): checked before an upload is read.
pub async fn check_current(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::TenantWrite)?;
    let expected_version = required_version(expected_version)?;
    let tenant = get(app, caller).await?;
    if tenant.version != expected_version {
        return Err(AppError::Stale {
            current_version: tenant.version,
        });
    }
    Ok(())
}

/// Replaces the tenant's logo with `data` (PNG, JPEG or WebP, at most 512 KiB; owners and
/// admins), at `expected_version` of the tenant.
pub async fn set_logo(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
    data: Vec<u8>,
) -> AppResult<TenantRecord> {
    caller.require(Permission::TenantWrite)?;
    let expected_version = required_version(expected_version)?;
    if data.len() > brand::MAX_LOGO_BYTES {
        return Err(AppError::Unprocessable {
            code: crate::error::codes::INVALID_UPLOAD,
            detail: format!("the logo is larger than {} bytes", brand::MAX_LOGO_BYTES),
        });
    }
    let Some(content_type) = brand::logo_type(&data) else {
        return Err(AppError::Unprocessable {
            code: crate::error::codes::INVALID_UPLOAD,
            detail: "the logo must be a PNG, JPEG or WebP image".to_owned(),
        });
    };
    let tenant = get(app, caller).await?;
    let sha256 = crate::tokens::sha256_bytes_hex(&data);
    let key = crate::blobs::store_bytes(app, caller.tenant_id, &sha256, data).await?;
    let next = TenantRecord {
        logo: Some(Logo {
            key,
            content_type: content_type.to_owned(),
            sha256,
        }),
        ..tenant
    };
    save(app, &next, expected_version).await
}

/// Removes the tenant's logo (owners and admins), at `expected_version` of the tenant. The
/// bytes stay in the blob store (content-addressed: the same image may come back).
pub async fn delete_logo(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
) -> AppResult<TenantRecord> {
    caller.require(Permission::TenantWrite)?;
    let expected_version = required_version(expected_version)?;
    let tenant = get(app, caller).await?;
    let next = TenantRecord {
        logo: None,
        ..tenant
    };
    save(app, &next, expected_version).await
}

async fn save(app: &App, next: &TenantRecord, expected_version: i64) -> AppResult<TenantRecord> {
    let mut tx = app.db.begin_write().await?;
    let updated = tenants::update_settings(tx.conn(), next, expected_version, app.db.now())
        .await?
        .into_app()?;
    tx.commit().await?;
    Ok(updated)
}

/// What the customer's pages show of a company: its name, logo, accent colour, legal links
/// and fallback language.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    pub slug: String,
    pub company: String,
    pub brand_colour: Option<Colour>,
    /// SHA-256 of the logo, hex (the pages link `/{slug}/logo?v=` with a prefix of it).
    pub logo_sha256: Option<String>,
    pub imprint_url: Option<String>,
    pub privacy_url: Option<String>,
    pub default_language: Language,
}

impl Branding {
    pub fn of(tenant: &TenantRecord) -> Branding {
        Branding {
            slug: tenant.slug.as_str().to_owned(),
            company: tenant.name.clone(),
            brand_colour: tenant.brand_colour,
            logo_sha256: tenant.logo.as_ref().map(|l| l.sha256.clone()),
            imprint_url: tenant.imprint_url.clone(),
            privacy_url: tenant.privacy_url.clone(),
            default_language: tenant.default_language,
        }
    }
}

/// A company's logo as the pages serve it.
#[derive(Debug, Clone)]
pub struct LogoImage {
    pub content_type: String,
    pub sha256: String,
    pub data: Vec<u8>,
}

/// The branding of the company with `slug` (public: for its stylesheet); unknown: not found.
pub async fn public_branding(app: &App, slug: &str) -> AppResult<Branding> {
    tenants::find_by_slug(&app.db, slug)
        .await?
        .map(|t| Branding::of(&t))
        .ok_or(AppError::NotFound)
}

/// The logo of the company with `slug` (public). `known_sha256`: the caller already has
/// the image with this hash, so the bytes are not read when it is still current. Unknown
/// company or no logo: not found.
pub async fn public_logo(
    app: &App,
    slug: &str,
    known_sha256: Option<&str>,
) -> AppResult<LogoImage> {
    let logo = tenants::find_by_slug(&app.db, slug)
        .await?
        .and_then(|t| t.logo)
        .ok_or(AppError::NotFound)?;
    if known_sha256 == Some(logo.sha256.as_str()) {
        return Ok(LogoImage {
            content_type: logo.content_type,
            sha256: logo.sha256,
            data: Vec::new(),
        });
    }
    let blobs = app.blobs.clone();
    let key = logo.key.clone();
    let data = tokio::task::spawn_blocking(move || blobs.get(&key))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    Ok(LogoImage {
        content_type: logo.content_type,
        sha256: logo.sha256,
        data,
    })
}

/// Whether the company with `slug` lists `origin` among its website origins (where its
/// booking widget may call the public API from). Unknown companies and storage errors:
/// no.
pub async fn accepts_website_origin(app: &App, slug: &str, origin: &str) -> bool {
    tenants::find_by_slug(&app.db, slug)
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t.website_origins.iter().any(|o| o == origin))
}
