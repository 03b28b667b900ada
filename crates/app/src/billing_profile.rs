//! The tenant's billing profile: who the company is on invoices, how it is paid, how its
//! documents are numbered.

use chrono::{DateTime, Utc};
use workorders_domain::ValidationErrors;
use workorders_domain::auth::Permission;
use workorders_domain::invoicing::BillingProfile;
use workorders_persistence::billing as store;

use crate::App;
use crate::billing::load_profile;
use crate::error::{AppError, AppResult, required_version};
use crate::identity::Principal;

/// The profile as saved (the default one before the first save).
#[derive(Debug, Clone)]
pub struct SavedProfile {
    pub profile: BillingProfile,
    /// `None` when the profile was never saved.
    pub version: Option<i64>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The caller's billing profile.
pub async fn get(app: &App, caller: &Principal) -> AppResult<SavedProfile> {
    caller.require(Permission::BillingRead)?;
    let mut conn = app.db.acquire().await?;
    let record = store::get_profile(&mut conn, caller.tenant_id).await?;
    Ok(match record {
        Some(r) => SavedProfile {
            profile: r.profile,
            version: Some(r.version),
            updated_at: Some(r.updated_at),
        },
        None => SavedProfile {
            profile: BillingProfile::default(),
            version: None,
            updated_at: None,
        },
    })
}

/// The profile as written: names and numbers trimmed, the VAT id without spaces, IBAN and
/// BIC in capitals.
fn normalized(p: BillingProfile) -> BillingProfile {
    fn trim(v: Option<String>) -> Option<String> {
        v.map(|s| s.trim().to_owned())
    }
    BillingProfile {
        legal_name: trim(p.legal_name),
        street: trim(p.street),
        postal_code: trim(p.postal_code),
        city: trim(p.city),
        country: trim(p.country),
        vat_id: trim(p.vat_id).map(|v| v.replace(' ', "")),
        tax_number: trim(p.tax_number),
        contact_name: trim(p.contact_name),
        contact_phone: trim(p.contact_phone),
        contact_email: trim(p.contact_email),
        iban: trim(p.iban).map(|v| v.to_uppercase()),
        bic: trim(p.bic).map(|v| v.to_uppercase()),
        bank_name: trim(p.bank_name),
        ..p
    }
}

/// Replaces the profile at `expected_version` (0: never saved). A partial profile is fine;
/// invalid fields are refused with pointers (`/iban`, `/vat_id`, ...).
pub async fn put(
    app: &App,
    caller: &Principal,
    expected_version: Option<i64>,
    profile: BillingProfile,
) -> AppResult<SavedProfile> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let profile = normalized(profile);
    let mut errors = ValidationErrors::new();
    for (field, message) in profile.validate() {
        errors.add(format!("/{field}"), message);
    }
    errors.finish()?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let (_, current) = load_profile(tx.conn(), caller.tenant_id).await?;
    let current_version = current.unwrap_or(0);
    if expected != current_version {
        return Err(AppError::Stale { current_version });
    }
    let version = store::put_profile(tx.conn(), caller.tenant_id, &profile, current, now)
        .await?
        .ok_or(AppError::Stale {
            current_version: current_version + 1,
        })?;
    tx.commit().await?;
    Ok(SavedProfile {
        profile,
        version: Some(version),
        updated_at: Some(now),
    })
}
