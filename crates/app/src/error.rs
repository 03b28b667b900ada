//! The application's error: what went wrong in a use case, in the caller's terms, with no
//! notion of a transport. Each front door maps it to its own answer (the JSON API to
//! problem details with a status; the web pages to an error page).

use std::fmt;

use workorders_domain::ValidationErrors;
use workorders_domain::auth::Permission;
use workorders_persistence::StoreError;

/// Stable machine-readable error codes, one line each. Clients may switch on them.
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const MALFORMED_JSON: &str = "malformed_json";
    pub const INVALID_QUERY: &str = "invalid_query";
    pub const INVALID_CURSOR: &str = "invalid_cursor";
    pub const INVALID_IDEMPOTENCY_KEY: &str = "invalid_idempotency_key";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INVALID_TOKEN: &str = "invalid_token";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const INVALID_REFRESH_TOKEN: &str = "invalid_refresh_token";
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    pub const FORBIDDEN: &str = "forbidden";
    pub const SIGNUP_DISABLED: &str = "signup_disabled";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const CONFLICT: &str = "conflict";
    pub const SLUG_TAKEN: &str = "slug_taken";
    pub const EMAIL_TAKEN: &str = "email_taken";
    pub const LAST_OWNER: &str = "last_owner";
    pub const IDEMPOTENCY_KEY_IN_FLIGHT: &str = "idempotency_key_in_flight";
    pub const INVALID_TRANSITION: &str = "invalid_transition";
    pub const STEP_INCOMPLETE: &str = "step_incomplete";
    pub const STEP_NOT_SKIPPABLE: &str = "step_not_skippable";
    pub const PROCESS_NAME_TAKEN: &str = "process_name_taken";
    pub const PROCESS_NOT_PUBLISHED: &str = "process_not_published";
    pub const PROCESS_ARCHIVED: &str = "process_archived";
    pub const VERSION_NOT_DRAFT: &str = "version_not_draft";
    pub const CUSTOMER_HAS_ORDERS: &str = "customer_has_orders";
    pub const INVALID_UPLOAD: &str = "invalid_upload";
    pub const DIGEST_MISMATCH: &str = "digest_mismatch";
    pub const TARGET_NOT_ALLOWED: &str = "target_not_allowed";
    pub const ENDPOINT_DISABLED: &str = "endpoint_disabled";
    pub const IN_FLIGHT: &str = "in_flight";
    pub const BATCH_TOO_LARGE: &str = "batch_too_large";
    pub const SLOT_TAKEN: &str = "slot_taken";
    pub const OUTSIDE_WORKING_HOURS: &str = "outside_working_hours";
    pub const OUTSIDE_SERVICE_AREA: &str = "outside_service_area";
    pub const PRECONDITION_FAILED: &str = "precondition_failed";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const VALIDATION_FAILED: &str = "validation_failed";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    pub const PRECONDITION_REQUIRED: &str = "precondition_required";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const INTERNAL: &str = "internal_error";
    pub const UNAVAILABLE: &str = "service_unavailable";
    pub const BILLING_PROFILE_INCOMPLETE: &str = "billing_profile_incomplete";
    pub const INVALID_PAYMENT: &str = "invalid_payment";
    pub const AMOUNT_TOO_LARGE: &str = "amount_too_large";
    pub const UNPRICED_MATERIAL: &str = "unpriced_material";
    pub const MISSING_LABOUR_RATE: &str = "missing_labour_rate";
    pub const UNACKNOWLEDGED_ITEMS: &str = "unacknowledged_items";
    pub const NOTHING_TO_INVOICE: &str = "nothing_to_invoice";
    pub const EINVOICE_INCOMPLETE: &str = "einvoice_incomplete";
    pub const TEMPLATE_INVALID: &str = "template_invalid";
    pub const NO_EMAIL_ADDRESS: &str = "no_email_address";
    pub const CODE_TAKEN: &str = "code_taken";
    pub const QUOTE_EXPIRED: &str = "quote_expired";
    pub const QUOTE_ANSWERED: &str = "quote_answered";
    pub const INVALID_PASSWORD_LINK: &str = "invalid_password_link";
    pub const INVALID_BILLING_DATA: &str = "invalid_billing_data";
}

/// Why a use case refused or failed.
#[derive(Debug)]
pub enum AppError {
    /// The input is malformed (not merely invalid): a cursor, a key, a query value.
    Malformed { code: &'static str, detail: String },
    /// No, bad or expired credentials.
    Unauthenticated { code: &'static str, detail: String },
    /// Authenticated but not allowed.
    Forbidden { code: &'static str, detail: String },
    /// The caller lacks a permission (with whether the caller is an API key).
    MissingPermission {
        permission: Permission,
        api_key: bool,
    },
    /// Absent, or belonging to another tenant.
    NotFound,
    /// Conflicts with the current state.
    Conflict { code: &'static str, detail: String },
    /// The action is not allowed in the current state.
    InvalidTransition {
        detail: String,
        current_state: String,
        allowed_actions: Vec<String>,
    },
    /// A step cannot be completed yet.
    StepIncomplete {
        missing_checklist: Vec<String>,
        missing_evidence: Vec<String>,
    },
    /// The version the caller expected is stale.
    Stale { current_version: i64 },
    /// A change needs the version the caller expects to change (none was given).
    VersionRequired,
    /// Too many items in one batch.
    BatchTooLarge { detail: String },
    /// Well-formed but invalid fields.
    Validation(ValidationErrors),
    /// Well-formed but invalid, not tied to one field.
    Unprocessable { code: &'static str, detail: String },
    /// Too many attempts; retry after the given number of seconds.
    RateLimited { retry_after_secs: u64 },
    /// Our fault. The cause is logged, never shown.
    Internal(anyhow::Error),
    /// A dependency (the database) is unavailable.
    Unavailable,
}

impl AppError {
    pub fn malformed(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed {
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
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Malformed { detail, .. }
            | AppError::Unauthenticated { detail, .. }
            | AppError::Forbidden { detail, .. }
            | AppError::Conflict { detail, .. }
            | AppError::InvalidTransition { detail, .. }
            | AppError::BatchTooLarge { detail }
            | AppError::Unprocessable { detail, .. } => f.write_str(detail),
            AppError::MissingPermission { permission, .. } => {
                write!(f, "missing the permission `{permission}`")
            }
            AppError::NotFound => f.write_str("no such resource"),
            AppError::StepIncomplete { .. } => f.write_str("the step cannot be completed yet"),
            AppError::Stale { current_version } => {
                write!(
                    f,
                    "changed meanwhile; the current version is {current_version}"
                )
            }
            AppError::VersionRequired => f.write_str("name the version you change"),
            AppError::Validation(errors) => write!(f, "invalid fields: {errors:?}"),
            AppError::RateLimited { retry_after_secs } => {
                write!(
                    f,
                    "too many attempts; retry after {retry_after_secs} seconds"
                )
            }
            AppError::Internal(e) => write!(f, "internal error: {e:#}"),
            AppError::Unavailable => f.write_str("temporarily unavailable"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Internal(error.into())
    }
}

impl From<ValidationErrors> for AppError {
    fn from(errors: ValidationErrors) -> Self {
        AppError::Validation(errors)
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The version a change names: required.
pub fn required_version(expected: Option<i64>) -> AppResult<i64> {
    expected.ok_or(AppError::VersionRequired)
}

/// Turns the outcome of a conditional update into the use case's answer: stale or gone.
pub trait VersionedExt<T> {
    fn into_app(self) -> AppResult<T>;
}

impl<T> VersionedExt<T> for workorders_persistence::Versioned<T> {
    fn into_app(self) -> AppResult<T> {
        match self {
            workorders_persistence::Versioned::Updated(value) => Ok(value),
            workorders_persistence::Versioned::Stale { current_version } => {
                Err(AppError::Stale { current_version })
            }
            workorders_persistence::Versioned::NotFound => Err(AppError::NotFound),
        }
    }
}
