//! The documented operations, read from the OpenAPI document the server serves, and the one
//! place where API keys are held to the scopes each operation declares.
//!
//! An operation's `security` in the OpenAPI document is the contract an integrator codes
//! against; here it is also the enforcement: before a request reaches its handler (and
//! before its body is parsed) an API key must hold a scope that grants what the operation
//! declares, or the request ends with 403 naming the `required_scope`. Operations that
//! declare no `api_key` security are not for API keys at all. Handlers still check the
//! permissions of people (roles); the declaration and the check of keys cannot drift apart.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use serde_json::Value;
use workorders_domain::auth::{Permission, Scope};

use crate::auth::principal;
use crate::error::{ApiError, codes};

/// Who may call an operation with an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    /// The operation is for people only (or public).
    NotForKeys,
    /// Any valid key.
    AnyKey,
    /// A key holding a scope that grants one of these scopes' permissions.
    Scopes(Vec<Scope>),
}

/// One documented operation.
#[derive(Debug)]
pub struct Operation {
    def: ResourceDef,
    pub path: String,
    pub method: String,
    /// Public operations have no security requirement at all.
    pub public: bool,
    pub keys: KeyRule,
    /// Per segment, whether it is static: the pattern with static segments furthest left
    /// wins (`/public/quotes/{token}` over `/public/{tenant}/bookings`).
    specificity: Vec<bool>,
}

/// Every documented operation.
#[derive(Debug, Default)]
pub struct Operations(Vec<Operation>);

impl Operations {
    /// Reads the operations of an OpenAPI document (as JSON).
    pub fn from_openapi(document: &Value) -> anyhow::Result<Self> {
        let mut operations = Vec::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow::anyhow!("the OpenAPI document has no paths"))?;
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, operation) in item {
                if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    continue;
                }
                let security = operation.get("security").and_then(Value::as_array);
                let public = security.is_none_or(|s| s.is_empty());
                let mut keys = KeyRule::NotForKeys;
                for requirement in security.into_iter().flatten() {
                    if let Some(scopes) = requirement.get("api_key").and_then(Value::as_array) {
                        let scopes = scopes
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|s| {
                                s.parse::<Scope>()
                                    .map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        keys = if scopes.is_empty() {
                            KeyRule::AnyKey
                        } else {
                            KeyRule::Scopes(scopes)
                        };
                    }
                }
                operations.push(Operation {
                    def: ResourceDef::new(path.as_str()),
                    path: path.clone(),
                    method: method.to_ascii_uppercase(),
                    public,
                    keys,
                    specificity: path.split('/').map(|s| !s.starts_with('{')).collect(),
                });
            }
        }
        Ok(Self(operations))
    }

    /// The methods documented for a path (for 405 answers).
    pub fn methods_for(&self, path: &str) -> Vec<&str> {
        let mut methods: Vec<&str> = self
            .0
            .iter()
            .filter(|o| o.def.is_match(path))
            .map(|o| o.method.as_str())
            .collect();
        methods.dedup();
        methods
    }

    /// The operation a request is for: the most specific documented pattern.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        self.0
            .iter()
            .filter(|o| o.method == method && o.def.is_match(path))
            .max_by(|a, b| a.specificity.cmp(&b.specificity))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Operation> {
        self.0.iter()
    }
}

/// Whether a bearer token looks like an API key (`wo_…`): only those are checked here.
fn sends_api_key(req: &ServiceRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer")
                && crate::auth::tokens::api_key_prefix(token.trim()).is_some()
        })
}

/// Holds API keys to the scopes each operation declares (see the module documentation).
pub async fn enforce_key_scopes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !sends_api_key(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let Some(operations) = req.app_data::<web::Data<Operations>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let rule = operations
        .find(req.method().as_str(), req.path())
        .filter(|o| !o.public)
        .map(|o| o.keys.clone());
    let Some(rule) = rule else {
        // Unknown routes answer 404/405 and public ones ignore credentials.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let refused = match rule {
        KeyRule::AnyKey => None,
        KeyRule::NotForKeys => Some(ApiError::Forbidden {
            code: codes::FORBIDDEN,
            detail: "this operation is for people signed in with a password, not for API keys"
                .to_owned(),
        }),
        KeyRule::Scopes(declared) => match principal::resolve(req.request()).await {
            // Invalid keys: the handler answers 401.
            Err(_) | Ok(None) => None,
            Ok(Some(p)) => {
                let permissions: Vec<Permission> = declared
                    .iter()
                    .filter_map(|s| Permission::ALL.into_iter().find(|p| p.scope() == Some(*s)))
                    .collect();
                if permissions.iter().any(|perm| p.require(*perm).is_ok()) {
                    None
                } else {
                    permissions
                        .first()
                        .map(|permission| ApiError::MissingPermission {
                            permission: *permission,
                            api_key: true,
                        })
                }
            }
        },
    };
    match refused {
        Some(error) => {
            let response = error.error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_operation_wins_and_scopes_are_read() {
        let doc = serde_json::json!({"paths": {
            "/v1/public/quotes/{token}": {"get": {}},
            "/v1/public/{tenant}/bookings": {"get": {}},
            "/v1/users/{id}": {"get": {"security": [{"access_token": []}, {"api_key": ["users:read"]}]},
                               "patch": {"security": [{"access_token": []}]}},
            "/v1/tenant": {"get": {"security": [{"access_token": []}, {"api_key": []}]}},
        }});
        let ops = Operations::from_openapi(&doc).expect("operations");
        assert_eq!(
            ops.find("GET", "/v1/public/quotes/bookings")
                .map(|o| o.path.as_str()),
            Some("/v1/public/quotes/{token}")
        );
        let get = ops.find("GET", "/v1/users/x").expect("get user");
        assert_eq!(get.keys, KeyRule::Scopes(vec![Scope::UsersRead]));
        assert_eq!(
            ops.find("PATCH", "/v1/users/x").expect("patch").keys,
            KeyRule::NotForKeys
        );
        assert_eq!(
            ops.find("GET", "/v1/tenant").expect("tenant").keys,
            KeyRule::AnyKey
        );
        assert!(
            ops.find("GET", "/v1/public/demo/bookings")
                .expect("public")
                .public
        );
        assert_eq!(ops.methods_for("/v1/users/x"), vec!["GET", "PATCH"]);
    }
}
