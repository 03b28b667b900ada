//! Webhook endpoints per tenant: registration (the secret shown once), changes, rotation
//! with an overlap, test pings. Owners and admins (tenant settings).

use chrono::Duration;
use uuid::Uuid;
use workorders_domain::ValidationErrors;
use workorders_domain::auth::Permission;
use workorders_persistence::webhooks::{self as store, EVENT_TYPES, EndpointRecord};

use crate::App;
use crate::error::{AppError, AppResult, codes, required_version};
use crate::identity::Principal;

/// A new endpoint. Field pointers in refusals: `/url`, `/event_types/<i>`, `/description`.
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint; `None` keeps a field.
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn check_types(types: &[String], errors: &mut ValidationErrors) {
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            errors.add(
                format!("/event_types/{i}"),
                format!("unknown event type; known: {}", EVENT_TYPES.join(", ")),
            );
        }
    }
}

/// The target must be a public address (SSRF guard), unless the server allows private ones.
async fn check_url(app: &App, url: &str) -> AppResult<()> {
    if url.len() > 2000 {
        return Err(AppError::invalid("/url", "at most 2,000 characters"));
    }
    crate::webhooks::check_target(url, app.settings.webhooks.allow_private)
        .await
        .map(|_| ())
        .map_err(|reason| AppError::Unprocessable {
            code: codes::TARGET_NOT_ALLOWED,
            detail: reason,
        })
}

async fn load(app: &App, caller: &Principal, id: Uuid) -> AppResult<EndpointRecord> {
    let mut conn = app.db.acquire().await?;
    store::get_endpoint(&mut conn, app.db.keys(), caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Stores a changed endpoint at `expected` (stale: someone else changed it meanwhile).
async fn save(
    app: &App,
    mut e: EndpointRecord,
    expected: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<EndpointRecord> {
    let mut tx = app.db.begin_write().await?;
    if !store::update_endpoint(&mut tx, &e, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    e.version = expected + 1;
    e.updated_at = now;
    Ok(e)
}

/// Registers an endpoint; the returned record holds the secret (shown to the caller once).
pub async fn create(app: &App, caller: &Principal, new: NewEndpoint) -> AppResult<EndpointRecord> {
    caller.require(Permission::TenantWrite)?;
    let mut errors = ValidationErrors::new();
    check_types(&new.event_types, &mut errors);
    if new.description.as_ref().is_some_and(|d| d.len() > 500) {
        errors.add("/description", "at most 500 characters");
    }
    errors.finish()?;
    check_url(app, &new.url).await?;
    let now = workorders_persistence::now();
    let secret = crate::webhooks::new_secret().map_err(AppError::internal)?;
    let record = EndpointRecord {
        id: Uuid::now_v7(),
        tenant_id: caller.tenant_id,
        url: new.url,
        description: new.description,
        event_types: new.event_types,
        enabled: new.enabled.unwrap_or(true),
        disabled_reason: None,
        secret,
        previous_secret: None,
        previous_secret_expires_at: None,
        failure_streak: 0,
        failing_since: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin_write().await?;
    store::insert_endpoint(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(record)
}

pub async fn list(app: &App, caller: &Principal) -> AppResult<Vec<EndpointRecord>> {
    caller.require(Permission::TenantWrite)?;
    Ok(store::list_endpoints(&app.db, caller.tenant_id).await?)
}

pub async fn get(app: &App, caller: &Principal, id: Uuid) -> AppResult<EndpointRecord> {
    caller.require(Permission::TenantWrite)?;
    load(app, caller, id).await
}

/// Applies `change` at `expected_version`; enabling a disabled endpoint clears its failures.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    change: EndpointChange,
) -> AppResult<EndpointRecord> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let mut e = load(app, caller, id).await?;
    if e.version != expected {
        return Err(AppError::Stale {
            current_version: e.version,
        });
    }
    let mut errors = ValidationErrors::new();
    if let Some(types) = &change.event_types {
        check_types(types, &mut errors);
    }
    if let Some(Some(d)) = &change.description
        && d.len() > 500
    {
        errors.add("/description", "at most 500 characters");
    }
    errors.finish()?;
    if let Some(url) = change.url {
        check_url(app, &url).await?;
        e.url = url;
    }
    if let Some(types) = change.event_types {
        e.event_types = types;
    }
    if let Some(d) = change.description {
        e.description = d;
    }
    if let Some(enabled) = change.enabled {
        if enabled && !e.enabled {
            e.disabled_reason = None;
            e.failure_streak = 0;
            e.failing_since = None;
        }
        e.enabled = enabled;
    }
    let now = workorders_persistence::now();
    save(app, e, expected, now).await
}

/// Deletes an endpoint with its queued messages and delivery log.
pub async fn delete(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let e = load(app, caller, id).await?;
    let mut tx = app.db.begin_write().await?;
    if !store::delete_endpoint(tx.conn(), caller.tenant_id, e.id, expected).await? {
        return Err(AppError::Stale {
            current_version: e.version,
        });
    }
    tx.commit().await?;
    Ok(())
}

/// A new secret; the previous one keeps signing for `overlap_seconds` (0 … a week). The
/// returned record holds the new secret.
pub async fn rotate_secret(
    app: &App,
    caller: &Principal,
    id: Uuid,
    overlap_seconds: i64,
) -> AppResult<EndpointRecord> {
    caller.require(Permission::TenantWrite)?;
    if !(0..=604_800).contains(&overlap_seconds) {
        return Err(AppError::invalid(
            "/overlap_seconds",
            "between 0 and 604800 seconds",
        ));
    }
    let mut e = load(app, caller, id).await?;
    let now = workorders_persistence::now();
    let secret = crate::webhooks::new_secret().map_err(AppError::internal)?;
    let expected = e.version;
    e.previous_secret = (overlap_seconds > 0).then(|| e.secret.clone());
    e.previous_secret_expires_at =
        (overlap_seconds > 0).then(|| now + Duration::seconds(overlap_seconds));
    e.secret = secret;
    save(app, e, expected, now).await
}

/// Queues a `webhook.test` message for this endpoint only.
pub async fn send_test(app: &App, caller: &Principal, id: Uuid) -> AppResult<()> {
    caller.require(Permission::TenantWrite)?;
    let e = load(app, caller, id).await?;
    if !e.enabled {
        return Err(AppError::conflict(
            codes::ENDPOINT_DISABLED,
            "the endpoint is disabled; enable it first",
        ));
    }
    let mut tx = app.db.begin_write().await?;
    tx.emit_to(
        caller.tenant_id,
        e.id,
        "webhook.test",
        serde_json::json!({"endpoint_id": e.id, "message": "Hello from the work-order server"}),
    );
    tx.commit().await?;
    Ok(())
}

/// Up to `limit` deliveries of an endpoint before the delivery `before`, newest first,
/// optionally only those with `status` (`pending`, `delivered` or `dead`).
pub async fn list_deliveries(
    app: &App,
    caller: &Principal,
    endpoint: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u32,
) -> AppResult<Vec<store::Delivery>> {
    caller.require(Permission::TenantWrite)?;
    let e = load(app, caller, endpoint).await?;
    if status.is_some_and(|s| !["pending", "delivered", "dead"].contains(&s)) {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            "`status` must be pending, delivered or dead",
        ));
    }
    Ok(store::list_deliveries(&app.db, caller.tenant_id, e.id, status, before, limit).await?)
}

/// A delivery of an endpoint with every attempt.
pub async fn get_delivery(
    app: &App,
    caller: &Principal,
    endpoint: Uuid,
    delivery: Uuid,
) -> AppResult<(store::Delivery, Vec<store::Attempt>)> {
    caller.require(Permission::TenantWrite)?;
    store::get_delivery(&app.db, caller.tenant_id, endpoint, delivery)
        .await?
        .ok_or(AppError::NotFound)
}

/// Queues a delivery again (same message id) and wakes the delivery worker; returns the
/// delivery as it was. 409 `in_flight` while it is being delivered.
pub async fn redeliver(
    app: &App,
    caller: &Principal,
    endpoint: Uuid,
    delivery: Uuid,
) -> AppResult<store::Delivery> {
    caller.require(Permission::TenantWrite)?;
    let (d, _) = store::get_delivery(&app.db, caller.tenant_id, endpoint, delivery)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = workorders_persistence::now();
    if !store::redeliver(&app.db, caller.tenant_id, endpoint, delivery, now).await? {
        return Err(AppError::conflict(
            codes::IN_FLIGHT,
            "the message is being delivered right now; look again in a moment",
        ));
    }
    app.db.outbox_signal().notify_one();
    Ok(d)
}
