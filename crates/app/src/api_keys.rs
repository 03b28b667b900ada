//! API keys for integrations: created by owners and admins (never by another key), shown
//! once, stored as a SHA-256 hash, revoked at once.

use chrono::{DateTime, Utc};
use workorders_domain::auth::{Permission, Scope};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::{ApiKeyId, ValidationErrors};
use workorders_persistence::api_keys::{self, ApiKeyRecord};

use crate::App;
use crate::error::{AppError, AppResult, VersionedExt, required_version};
use crate::identity::Principal;
use crate::tokens::{new_api_key, sha256_hex};

/// What a new key is for. Field pointers in refusals: `/name`, `/scopes`, `/expires_at`.
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key with its secret, which exists only in this answer.
pub struct CreatedApiKey {
    pub record: ApiKeyRecord,
    pub key: String,
}

pub async fn create(app: &App, caller: &Principal, new: NewApiKey) -> AppResult<CreatedApiKey> {
    caller.require(Permission::ApiKeysManage)?;
    let Some(created_by) = caller.user_id() else {
        return Err(AppError::forbidden("API keys cannot create API keys"));
    };
    let now = workorders_persistence::now();
    let mut errors = ValidationErrors::new();
    let name = errors.check("/name", parse_display_name(&new.name));
    if new.scopes.is_empty() {
        errors.add("/scopes", "give at least one scope");
    }
    if new.expires_at.is_some_and(|e| e <= now) {
        errors.add("/expires_at", "must be in the future");
    }
    let Some(name) = name else {
        return Err(errors.into());
    };
    errors.finish()?;
    let mut scopes = new.scopes;
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let (prefix, key) = new_api_key().map_err(AppError::internal)?;
    let record = ApiKeyRecord {
        id: ApiKeyId::new(),
        tenant_id: caller.tenant_id,
        name,
        prefix,
        scopes,
        created_by,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
        version: 1,
    };
    let mut tx = app.db.begin_write().await?;
    let record = api_keys::insert(tx.conn(), &record, &sha256_hex(&key)).await?;
    tx.commit().await?;
    tracing::info!(api_key_id = %record.id, "API key created");
    Ok(CreatedApiKey { record, key })
}

/// Up to `limit` keys of the caller's tenant after `after`, in id order.
pub async fn list(
    app: &App,
    caller: &Principal,
    after: Option<ApiKeyId>,
    limit: u32,
) -> AppResult<Vec<ApiKeyRecord>> {
    caller.require(Permission::ApiKeysManage)?;
    Ok(api_keys::list(&app.db, caller.tenant_id, after, limit).await?)
}

pub async fn get(app: &App, caller: &Principal, id: ApiKeyId) -> AppResult<ApiKeyRecord> {
    caller.require(Permission::ApiKeysManage)?;
    api_keys::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Revokes a key at its `expected_version`; it stops working at once.
pub async fn revoke(
    app: &App,
    caller: &Principal,
    id: ApiKeyId,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::ApiKeysManage)?;
    let expected_version = required_version(expected_version)?;
    let mut tx = app.db.begin_write().await?;
    api_keys::revoke(
        tx.conn(),
        caller.tenant_id,
        id,
        expected_version,
        workorders_persistence::now(),
    )
    .await?
    .into_app()?;
    tx.commit().await?;
    tracing::info!(api_key_id = %id, "API key revoked");
    Ok(())
}
