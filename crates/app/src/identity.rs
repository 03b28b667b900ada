//! Who is calling a use case: a person with a role, or an integration's API key, always
//! within one tenant.

use workorders_domain::auth::{Permission, Role, Scope};
use workorders_domain::{ApiKeyId, SessionId, TenantId, UserId};

use crate::error::AppError;

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
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        let allowed = match &self.actor {
            Actor::User { role, .. } => role.permits(permission),
            Actor::ApiKey { scopes, .. } => scopes.iter().any(|s| s.grants(permission)),
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::MissingPermission {
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
