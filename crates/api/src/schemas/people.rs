//! Response bodies shared by several routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::text::Line;
use workorders_persistence::tenants::TenantRecord;
use workorders_persistence::users::UserRecord;

/// A role of a staff member.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Owner,
    Admin,
    Dispatcher,
    Technician,
    Reviewer,
    Accountant,
}

impl From<workorders_domain::auth::Role> for RoleName {
    fn from(role: workorders_domain::auth::Role) -> Self {
        use workorders_domain::auth::Role;
        match role {
            Role::Owner => RoleName::Owner,
            Role::Admin => RoleName::Admin,
            Role::Dispatcher => RoleName::Dispatcher,
            Role::Technician => RoleName::Technician,
            Role::Reviewer => RoleName::Reviewer,
            Role::Accountant => RoleName::Accountant,
        }
    }
}

impl From<RoleName> for workorders_domain::auth::Role {
    fn from(role: RoleName) -> Self {
        use workorders_domain::auth::Role;
        match role {
            RoleName::Owner => Role::Owner,
            RoleName::Admin => Role::Admin,
            RoleName::Dispatcher => Role::Dispatcher,
            RoleName::Technician => Role::Technician,
            RoleName::Reviewer => Role::Reviewer,
            RoleName::Accountant => Role::Accountant,
        }
    }
}

/// Where a field worker starts their day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HomeBaseBody {
    #[schema(value_type = String, max_length = 16, example = "10115")]
    pub postal_code: Line<16>,
    #[schema(example = 52.5323)]
    pub latitude: Option<f64>,
    #[schema(example = 13.3846)]
    pub longitude: Option<f64>,
}

/// A staff member.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    #[schema(example = "tech1@demo.example")]
    pub email: String,
    #[schema(example = "Tina Technik")]
    pub name: String,
    pub role: RoleName,
    #[schema(example = json!(["glazing"]))]
    pub skills: Vec<String>,
    pub phone: Option<String>,
    pub home_base: Option<HomeBaseBody>,
    /// Deactivated users cannot sign in.
    pub active: bool,
    /// Increases with every change; send it back in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            name: u.name,
            role: u.role.into(),
            skills: u.skills,
            phone: u.phone,
            home_base: u.home_base.map(|h| HomeBaseBody {
                postal_code: Line::trusted(h.postal_code),
                latitude: h.latitude,
                longitude: h.longitude,
            }),
            active: u.active,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A company using the system.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    #[schema(example = "demo")]
    pub slug: String,
    #[schema(example = "Fenster Müller GmbH")]
    pub name: String,
    /// IANA time zone in which local times (working hours, slots) are computed.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Takes steps nobody qualifies for; `null`: the first active owner.
    pub process_owner_id: Option<Uuid>,
    /// How steps are assigned among qualified users: `least_loaded` or `round_robin`.
    #[schema(example = "least_loaded")]
    pub assignment_rule: String,
    /// Website origins allowed to call the public booking endpoints.
    pub website_origins: Vec<String>,
    /// Minutes an overdue step stays with its responsible person before the process owner
    /// is e-mailed.
    pub escalation_grace_minutes: i64,
    /// Days without an event after which an open order is flagged stuck.
    pub stuck_after_days: i64,
    /// Accent colour of the customer's pages, `#rrggbb`; `null`: the default.
    #[schema(example = "#ffd400")]
    pub brand_colour: Option<String>,
    /// The company's legal notice, linked on every customer page and in customer e-mails.
    #[schema(example = "https://www.fensterbau-mueller.de/impressum")]
    pub imprint_url: Option<String>,
    /// The company's privacy policy, linked like `imprint_url`.
    #[schema(example = "https://www.fensterbau-mueller.de/datenschutz")]
    pub privacy_url: Option<String>,
    /// The customer pages' language when neither the link nor the browser names `de` or
    /// `en`.
    #[schema(example = "de")]
    pub default_language: String,
    /// The logo (`putTenantLogo`), or `null`.
    pub logo: Option<LogoView>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

/// A tenant's logo.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoView {
    /// Where the customer pages load it from (public).
    #[schema(example = "/fensterbau-mueller/logo?v=9f86d081884c")]
    pub url: String,
    #[schema(example = "image/png")]
    pub content_type: String,
    /// SHA-256 of the image, hex (its ETag).
    pub sha256: String,
}

impl From<TenantRecord> for TenantView {
    fn from(t: TenantRecord) -> Self {
        Self {
            id: t.id.as_uuid(),
            slug: t.slug.as_str().to_owned(),
            name: t.name,
            time_zone: t.time_zone.name().to_owned(),
            process_owner_id: t.process_owner_id.map(|u| u.as_uuid()),
            assignment_rule: t.assignment_rule.as_str().to_owned(),
            website_origins: t.website_origins,
            escalation_grace_minutes: t.escalation_grace_minutes,
            stuck_after_days: t.stuck_after_days,
            brand_colour: t.brand_colour.map(|c| c.to_string()),
            imprint_url: t.imprint_url,
            privacy_url: t.privacy_url,
            default_language: t.default_language.as_str().to_owned(),
            logo: t.logo.map(|l| LogoView {
                url: format!(
                    "/{}/logo?v={}",
                    t.slug,
                    workorders_domain::brand::logo_version(&l.sha256)
                ),
                content_type: l.content_type,
                sha256: l.sha256,
            }),
            version: t.version,
            created_at: t.created_at,
        }
    }
}
