//! Who is calling: resolved from `Authorization: Bearer <access token | API key>`.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use workorders_domain::auth::{Permission, Role, Scope};
use workorders_domain::{ApiKeyId, SessionId, TenantId, UserId};
use workorders_persistence::{api_keys, users};

use crate::auth::tokens::{api_key_prefix, constant_time_eq, sha256_hex};
use crate::error::{ApiError, codes};
use crate::state::AppState;

/// An authenticated caller. Every query a handler makes is scoped to `tenant_id`.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub enum Actor {
    /// A staff member signed in with a password; the role is read fresh on every request.
    User {
        id: UserId,
        role: Role,
        session: SessionId,
    },
    /// An integration using an API key.
    ApiKey { id: ApiKeyId, scopes: Vec<Scope> },
}

impl Principal {
    /// 403 unless the caller may do `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        let allowed = match &self.actor {
            Actor::User { role, .. } => role.permits(permission),
            Actor::ApiKey { scopes, .. } => scopes.iter().any(|s| s.grants(permission)),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::MissingPermission {
                permission,
                api_key: self.is_api_key(),
            })
        }
    }

    /// Whether the caller is an integration's API key (not a person).
    pub fn is_api_key(&self) -> bool {
        matches!(self.actor, Actor::ApiKey { .. })
    }

    pub fn user_id(&self) -> Option<UserId> {
        match &self.actor {
            Actor::User { id, .. } => Some(*id),
            Actor::ApiKey { .. } => None,
        }
    }

    /// A stable string naming the caller (for idempotency scopes and history).
    pub fn actor_key(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::ApiKey { id, .. } => format!("api_key:{id}"),
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::unauthenticated(codes::INVALID_TOKEN, "malformed Authorization header")
    })?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "expected `Authorization: Bearer <token>`",
        )
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "expected `Authorization: Bearer <token>`",
        ));
    }
    Ok(Some(token.trim().to_owned()))
}

async fn resolve_api_key(state: &AppState, key: &str, prefix: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthenticated(codes::INVALID_TOKEN, "the API key is not valid");
    let (record, hash) = api_keys::find_by_prefix(&state.db, prefix)
        .await?
        .ok_or_else(invalid)?;
    if !constant_time_eq(&hash, &sha256_hex(key)) {
        return Err(invalid());
    }
    let now = workorders_persistence::now();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "the API key is revoked or expired",
        ));
    }
    if record
        .last_used_at
        .is_none_or(|t| t < now - chrono::Duration::minutes(1))
        && let Err(error) = api_keys::touch(&state.db, record.id, now).await
    {
        tracing::warn!(error = %error, "could not record API key use");
    }
    Ok(Principal {
        tenant_id: record.tenant_id,
        actor: Actor::ApiKey {
            id: record.id,
            scopes: record.scopes,
        },
    })
}

async fn resolve_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.jwt.verify(token)?;
    let user = users::get_active_in_session(
        &state.db,
        claims.tid,
        claims.sub,
        claims.sid,
        workorders_persistence::now(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "the session has ended or the account is deactivated",
        )
    })?;
    Ok(Principal {
        tenant_id: user.tenant_id,
        actor: Actor::User {
            id: user.id,
            role: user.role,
            session: claims.sid,
        },
    })
}

/// Resolves the caller of a request, caching the result in the request's extensions.
/// `Ok(None)`: no credentials were sent.
pub async fn resolve(req: &HttpRequest) -> Result<Option<Principal>, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(Some(principal.clone()));
    }
    let Some(token) = bearer(req)? else {
        return Ok(None);
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    let principal = match api_key_prefix(&token) {
        Some(prefix) => resolve_api_key(state, &token, prefix).await?,
        None => resolve_token(state, &token).await?,
    };
    req.extensions_mut().insert(principal.clone());
    Ok(Some(principal))
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            resolve(&req).await?.ok_or_else(|| {
                ApiError::unauthenticated(
                    codes::UNAUTHENTICATED,
                    "sign in first: send `Authorization: Bearer <token>`",
                )
            })
        })
    }
}
