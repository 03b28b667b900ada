//! The one API error type and its RFC 9457 problem-details rendering.
//!
//! Every 4xx and 5xx leaves the server as `application/problem+json` with a stable `code`.
//! Internal errors are logged with their cause chain and the request id, and answered with an
//! opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;
use workorders_domain::ValidationErrors;
use workorders_domain::auth::Permission;
use workorders_persistence::StoreError;

pub use workorders_app::error::codes;

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:workorders:problem:validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "the request body has invalid fields",
    "code": "validation_failed",
    "errors": [{"pointer": "/email", "detail": "not a valid e-mail address"}]
}))]
pub struct Problem {
    /// URI identifying the problem type: `urn:workorders:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Invalid fields, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
    /// For `invalid_transition`: the state the resource is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    /// For `invalid_transition`: the actions allowed in the current state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    /// For `step_incomplete`: required checklist items not yet checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_checklist: Option<Vec<String>>,
    /// For `step_incomplete`: required evidence not yet recorded (`photo`, `signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_evidence: Option<Vec<String>>,
    /// For `forbidden`: the permission the request needs (e.g. `billing:write`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "billing:write")]
    pub required_permission: Option<String>,
    /// For `forbidden` answers to an API key: the scope that grants the permission, when an
    /// API key can have it at all (owners, API keys and tenant settings stay with people).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "billing:write")]
    pub required_scope: Option<String>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// JSON pointer (RFC 6901) to the field in the request body.
    pub pointer: String,
    pub detail: String,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:workorders:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: None,
            current_state: None,
            allowed_actions: None,
            missing_checklist: None,
            missing_evidence: None,
            required_permission: None,
            required_scope: None,
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
            .json(self)
    }
}

/// The API's error. Each variant's doc says its status.
#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed syntax (query, cursor, header, JSON syntax).
    BadRequest { code: &'static str, detail: String },
    /// 401: no, bad or expired credentials.
    Unauthenticated { code: &'static str, detail: String },
    /// 403: authenticated but not allowed.
    Forbidden { code: &'static str, detail: String },
    /// 403: the caller lacks a permission (named in the problem, with the API-key scope that
    /// grants it).
    MissingPermission {
        permission: Permission,
        /// The caller is an API key (the problem names the scope to add).
        api_key: bool,
    },
    /// 404: absent, or belonging to another tenant.
    NotFound,
    /// 409: conflicts with the current state.
    Conflict { code: &'static str, detail: String },
    /// 409: the action is not allowed in the current state.
    InvalidTransition {
        detail: String,
        current_state: String,
        allowed_actions: Vec<String>,
    },
    /// 409: a step cannot be completed yet.
    StepIncomplete {
        missing_checklist: Vec<String>,
        missing_evidence: Vec<String>,
    },
    /// 412: the `If-Match` version is stale.
    PreconditionFailed { current_version: i64 },
    /// 413: the body is too large.
    PayloadTooLarge { limit: usize },
    /// 413: too many items in one batch.
    BatchTooLarge { detail: String },
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: well-formed but invalid fields.
    Validation(ValidationErrors),
    /// 422: well-formed but invalid, not tied to one field.
    Unprocessable { code: &'static str, detail: String },
    /// 428: `If-Match` is required for this request.
    PreconditionRequired,
    /// 429: too many requests; retry after the given number of seconds.
    RateLimited { retry_after_secs: u64 },
    /// 500: our fault. The cause is logged, never returned.
    Internal(anyhow::Error),
    /// 503: a dependency (the database) is unavailable.
    Unavailable,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthenticated(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthenticated {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code: codes::FORBIDDEN,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(pointer: &str, detail: impl Into<String>) -> Self {
        Self::Validation(ValidationErrors::single(pointer, detail))
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        match self {
            ApiError::BadRequest { code, detail }
            | ApiError::Unauthenticated { code, detail }
            | ApiError::Forbidden { code, detail }
            | ApiError::Conflict { code, detail }
            | ApiError::Unprocessable { code, detail } => Problem::new(status, code, detail),
            ApiError::NotFound => Problem::new(status, codes::NOT_FOUND, "no such resource"),
            ApiError::MissingPermission {
                permission,
                api_key,
            } => {
                let scope = permission.scope();
                let detail = match (api_key, scope) {
                    (true, Some(scope)) => {
                        format!("this API key lacks the scope `{scope}`; create a key with it")
                    }
                    (true, None) => format!(
                        "API keys cannot be given `{permission}`; a person with that permission must do this"
                    ),
                    (false, _) => {
                        let roles: Vec<&str> =
                            permission.roles().iter().map(|r| r.as_str()).collect();
                        format!(
                            "your role lacks the permission `{permission}` (roles that have it: {})",
                            roles.join(", ")
                        )
                    }
                };
                let mut problem = Problem::new(status, codes::FORBIDDEN, detail);
                problem.required_permission = Some(permission.as_str().to_owned());
                if *api_key {
                    problem.required_scope = scope.map(|s| s.as_str().to_owned());
                }
                problem
            }
            ApiError::InvalidTransition {
                detail,
                current_state,
                allowed_actions,
            } => {
                let mut problem = Problem::new(status, codes::INVALID_TRANSITION, detail);
                problem.current_state = Some(current_state.clone());
                problem.allowed_actions = Some(allowed_actions.clone());
                problem
            }
            ApiError::StepIncomplete {
                missing_checklist,
                missing_evidence,
            } => {
                let mut problem = Problem::new(
                    status,
                    codes::STEP_INCOMPLETE,
                    format!(
                        "the step cannot be completed yet: missing checklist items [{}], missing evidence [{}]",
                        missing_checklist.join(", "),
                        missing_evidence.join(", ")
                    ),
                );
                problem.missing_checklist = Some(missing_checklist.clone());
                problem.missing_evidence = Some(missing_evidence.clone());
                problem
            }
            ApiError::PreconditionFailed { current_version } => Problem::new(
                status,
                codes::PRECONDITION_FAILED,
                format!(
                    "the resource was changed by someone else; its current version is {current_version}: fetch it again and retry"
                ),
            ),
            ApiError::PayloadTooLarge { limit } => Problem::new(
                status,
                codes::PAYLOAD_TOO_LARGE,
                format!("request body exceeds {limit} bytes"),
            ),
            ApiError::BatchTooLarge { detail } => {
                Problem::new(status, codes::BATCH_TOO_LARGE, detail.clone())
            }
            ApiError::UnsupportedMediaType => Problem::new(
                status,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "request body must be JSON (Content-Type: application/json)",
            ),
            ApiError::Validation(errors) => {
                let mut problem = Problem::new(
                    status,
                    codes::VALIDATION_FAILED,
                    "the request body has invalid fields",
                );
                problem.errors = Some(
                    errors
                        .0
                        .iter()
                        .map(|e| ProblemField {
                            pointer: e.pointer.clone(),
                            detail: e.detail.clone(),
                        })
                        .collect(),
                );
                problem
            }
            ApiError::PreconditionRequired => Problem::new(
                status,
                codes::PRECONDITION_REQUIRED,
                "this request needs an If-Match header with the resource's current ETag",
            ),
            ApiError::RateLimited { retry_after_secs } => Problem::new(
                status,
                codes::RATE_LIMITED,
                format!("too many attempts; retry after {retry_after_secs} seconds"),
            ),
            ApiError::Internal(_) => Problem::new(
                status,
                codes::INTERNAL,
                "an internal error occurred; it was logged with this response's request id",
            ),
            ApiError::Unavailable => Problem::new(
                status,
                codes::UNAVAILABLE,
                "the service is temporarily unavailable",
            ),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => write!(f, "{}", other.problem().detail),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::MissingPermission { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. }
            | ApiError::InvalidTransition { .. }
            | ApiError::StepIncomplete { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } | ApiError::BatchTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(error) = self {
            // Inside the request's span, so the line carries the request id.
            tracing::error!(
                error = format!("{error:#}"),
                "request failed with an internal error"
            );
        }
        let mut response = self.problem().into_response();
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            ApiError::Unauthenticated { .. } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"workorders\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Turns the outcome of a conditional update into the API's answer: 412 when stale, 404
/// when gone.
pub trait VersionedExt<T> {
    fn into_api(self) -> ApiResult<T>;
}

impl<T> VersionedExt<T> for workorders_persistence::Versioned<T> {
    fn into_api(self) -> ApiResult<T> {
        match self {
            workorders_persistence::Versioned::Updated(value) => Ok(value),
            workorders_persistence::Versioned::Stale { current_version } => {
                Err(ApiError::PreconditionFailed { current_version })
            }
            workorders_persistence::Versioned::NotFound => Err(ApiError::NotFound),
        }
    }
}

impl From<workorders_app::AppError> for ApiError {
    fn from(error: workorders_app::AppError) -> Self {
        use workorders_app::AppError as E;
        match error {
            E::Malformed { code, detail } => ApiError::BadRequest { code, detail },
            E::Unauthenticated { code, detail } => ApiError::Unauthenticated { code, detail },
            E::Forbidden { code, detail } => ApiError::Forbidden { code, detail },
            E::MissingPermission {
                permission,
                api_key,
            } => ApiError::MissingPermission {
                permission,
                api_key,
            },
            E::NotFound => ApiError::NotFound,
            E::Conflict { code, detail } => ApiError::Conflict { code, detail },
            E::InvalidTransition {
                detail,
                current_state,
                allowed_actions,
            } => ApiError::InvalidTransition {
                detail,
                current_state,
                allowed_actions,
            },
            E::StepIncomplete {
                missing_checklist,
                missing_evidence,
            } => ApiError::StepIncomplete {
                missing_checklist,
                missing_evidence,
            },
            E::Stale { current_version } => ApiError::PreconditionFailed { current_version },
            E::VersionRequired => ApiError::PreconditionRequired,
            E::BatchTooLarge { detail } => ApiError::BatchTooLarge { detail },
            E::Validation(errors) => ApiError::Validation(errors),
            E::Unprocessable { code, detail } => ApiError::Unprocessable { code, detail },
            E::RateLimited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            E::Internal(error) => ApiError::Internal(error),
            E::Unavailable => ApiError::Unavailable,
        }
    }
}
