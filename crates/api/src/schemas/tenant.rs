//! Tenant settings in requests and answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentRuleName {
    LeastLoaded,
    RoundRobin,
}

/// A language of the customer's pages.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LanguageCode {
    De,
    En,
}

impl LanguageCode {
    pub fn as_str(self) -> &'static str {
        match self {
            LanguageCode::De => "de",
            LanguageCode::En => "en",
        }
    }
}

/// The raw bytes of an image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct LogoUpload(pub Vec<u8>);
