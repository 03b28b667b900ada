//! Billing setup: the tenant's billing profile, the catalogue of billable items, and the
//! customer e-mail templates.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::billing_profile::{self, SavedProfile};
use workorders_app::catalogue::{self, ItemSpec};
use workorders_app::email_templates::{self, EmailTemplate};
use workorders_domain::auth::Permission;
use workorders_domain::invoicing::BillingProfile;
use workorders_domain::text::{Line, Text};
use workorders_mail::templates::Template;
use workorders_persistence::billing::CatalogueItem;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, ValidJson};
use crate::pagination::{Page, PageQuery, decode_keyed_cursor, encode_keyed_cursor};
use crate::routes::{created, ok_versioned};
use crate::state::AppState;

/// The billing profile with what is still missing for invoicing.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingProfileView {
    /// The profile as saved (what `putBillingProfile` takes).
    pub profile: BillingProfileBody,
    /// True when invoices can be issued.
    pub complete: bool,
    /// Fields still needed before invoices can be issued.
    #[schema(example = json!(["iban"]))]
    pub missing: Vec<String>,
    /// 0 when the profile was never saved.
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Who the company is on invoices, how it is paid, how documents are numbered.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingProfileBody {
    #[schema(value_type = Option<String>, example = "Fenster Müller GmbH", max_length = 200)]
    pub legal_name: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 200, example = "Hauptstraße 1")]
    pub street: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 16, example = "10115")]
    pub postal_code: Option<Line<16>>,
    #[schema(value_type = Option<String>, max_length = 200, example = "Berlin")]
    pub city: Option<Line<200>>,
    /// ISO 3166-1 alpha-2; default `DE`.
    #[schema(value_type = Option<String>, max_length = 64, example = "DE")]
    pub country: Option<Line<64>>,
    /// USt-IdNr.
    #[schema(value_type = Option<String>, max_length = 32, example = "DE123456789")]
    pub vat_id: Option<Line<32>>,
    /// Steuernummer (enough under §19 UStG).
    #[schema(value_type = Option<String>, max_length = 32, example = "30/123/45678")]
    pub tax_number: Option<Line<32>>,
    #[schema(value_type = Option<String>, max_length = 200, example = "Eva Müller")]
    pub contact_name: Option<Line<200>>,
    #[schema(value_type = Option<String>, max_length = 40, example = "+49 30 1234567")]
    pub contact_phone: Option<Line<40>>,
    #[schema(value_type = Option<String>, max_length = 254, example = "buchhaltung@fenster-mueller.de")]
    pub contact_email: Option<Line<254>>,
    #[schema(value_type = Option<String>, max_length = 42, example = "DE89 3704 0044 0532 0130 00")]
    pub iban: Option<Line<42>>,
    #[schema(value_type = Option<String>, max_length = 16, example = "COBADEFFXXX")]
    pub bic: Option<Line<16>>,
    #[schema(value_type = Option<String>, max_length = 200)]
    pub bank_name: Option<Line<200>>,
    /// Tokens `{YYYY}`, `{YY}`, `{MM}`, `{SEQ}` or `{SEQ:n}` (zero-padded); numbers restart
    /// each year (month) when the pattern has one. Default `RE-{YYYY}-{SEQ:5}`.
    #[schema(value_type = Option<String>, max_length = 64, example = "RE-{YYYY}-{SEQ:5}")]
    pub invoice_number_pattern: Option<Line<64>>,
    /// Default `GS-{YYYY}-{SEQ:5}`.
    #[schema(value_type = Option<String>, max_length = 64)]
    pub credit_note_number_pattern: Option<Line<64>>,
    /// Default `AN-{YYYY}-{SEQ:5}`.
    #[schema(value_type = Option<String>, max_length = 64)]
    pub quote_number_pattern: Option<Line<64>>,
    /// Days until an invoice is due (default 14).
    #[schema(example = 14, maximum = 365)]
    pub payment_terms_days: Option<u32>,
    /// `19`, `7` or `0`: the rate of new catalogue items and free lines by default.
    #[schema(value_type = Option<String>, max_length = 32, example = "19")]
    pub default_vat_rate: Option<Line<32>>,
    /// Kleinunternehmer under §19 UStG: no VAT, with the exemption note on every invoice.
    #[serde(default)]
    pub small_business: bool,
    /// `de` (default) or `en`: invoice PDFs and customer e-mails.
    #[schema(value_type = Option<String>, max_length = 8, example = "de")]
    pub language: Option<Line<8>>,
}

impl From<BillingProfile> for BillingProfileBody {
    fn from(p: BillingProfile) -> Self {
        Self {
            legal_name: p.legal_name.map(Line::trusted),
            street: p.street.map(Line::trusted),
            postal_code: p.postal_code.map(Line::trusted),
            city: p.city.map(Line::trusted),
            country: p.country.map(Line::trusted),
            vat_id: p.vat_id.map(Line::trusted),
            tax_number: p.tax_number.map(Line::trusted),
            contact_name: p.contact_name.map(Line::trusted),
            contact_phone: p.contact_phone.map(Line::trusted),
            contact_email: p.contact_email.map(Line::trusted),
            iban: p.iban.map(Line::trusted),
            bic: p.bic.map(Line::trusted),
            bank_name: p.bank_name.map(Line::trusted),
            invoice_number_pattern: p.invoice_number_pattern.map(Line::trusted),
            credit_note_number_pattern: p.credit_note_number_pattern.map(Line::trusted),
            quote_number_pattern: p.quote_number_pattern.map(Line::trusted),
            payment_terms_days: p.payment_terms_days,
            default_vat_rate: p.default_vat_rate.map(Line::trusted),
            small_business: p.small_business,
            language: p.language.map(Line::trusted),
        }
    }
}

impl From<BillingProfileBody> for BillingProfile {
    fn from(b: BillingProfileBody) -> Self {
        Self {
            legal_name: b.legal_name.map(String::from),
            street: b.street.map(String::from),
            postal_code: b.postal_code.map(String::from),
            city: b.city.map(String::from),
            country: b.country.map(String::from),
            vat_id: b.vat_id.map(String::from),
            tax_number: b.tax_number.map(String::from),
            contact_name: b.contact_name.map(String::from),
            contact_phone: b.contact_phone.map(String::from),
            contact_email: b.contact_email.map(String::from),
            iban: b.iban.map(String::from),
            bic: b.bic.map(String::from),
            bank_name: b.bank_name.map(String::from),
            invoice_number_pattern: b.invoice_number_pattern.map(String::from),
            credit_note_number_pattern: b.credit_note_number_pattern.map(String::from),
            quote_number_pattern: b.quote_number_pattern.map(String::from),
            payment_terms_days: b.payment_terms_days,
            default_vat_rate: b.default_vat_rate.map(String::from),
            small_business: b.small_business,
            language: b.language.map(String::from),
        }
    }
}

fn profile_view(saved: SavedProfile) -> BillingProfileView {
    let SavedProfile {
        profile,
        version,
        updated_at,
    } = saved;
    let missing: Vec<String> = profile.missing().iter().map(|m| (*m).to_owned()).collect();
    BillingProfileView {
        complete: missing.is_empty(),
        missing,
        profile: profile.into(),
        version: version.unwrap_or(0),
        updated_at,
    }
}

/// Get the billing profile
#[utoipa::path(
    operation_id = "getBillingProfile",
    tag = "billing",
    responses((status = 200, description = "The profile and what invoicing still needs", body = BillingProfileView, headers(("ETag" = String)))),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/billing-profile")]
pub async fn get_billing_profile(
    state: web::Data<AppState>,
    principal: Caller,
) -> ApiResult<HttpResponse> {
    let view = profile_view(billing_profile::get(&state, &principal).await?);
    Ok(ok_versioned(view.version, &view))
}

/// Replace the billing profile
///
/// Saves what is given (a partial profile is fine); `missing` says what invoicing still
/// needs. `If-Match` is required: the ETag of `GET /v1/billing-profile`, which is `"0"`
/// before the first save.
#[utoipa::path(
    operation_id = "putBillingProfile",
    tag = "billing",
    request_body = BillingProfileBody,
    responses(
        (status = 200, description = "Saved", body = BillingProfileView, headers(("ETag" = String))),
        (status = 412, description = "The profile changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (IBAN check digits, VAT id, number pattern ...)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[put("/billing-profile")]
pub async fn put_billing_profile(
    state: web::Data<AppState>,
    principal: Caller,
    if_match: IfMatch,
    body: ValidJson<BillingProfileBody>,
) -> ApiResult<HttpResponse> {
    let profile: BillingProfile = body.into_inner().into();
    let saved = billing_profile::put(&state, &principal, if_match.0, profile).await?;
    let view = profile_view(saved);
    Ok(ok_versioned(view.version, &view))
}

// ---------------------------------------------------------------------------------------
// Catalogue

/// What a catalogue item is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// An hourly rate for a role or a skill (time logged in the field is billed with it).
    Labour,
    Material,
    /// A flat-priced service.
    Service,
}

impl From<ItemKind> for catalogue::ItemKind {
    fn from(kind: ItemKind) -> Self {
        match kind {
            ItemKind::Labour => catalogue::ItemKind::Labour,
            ItemKind::Material => catalogue::ItemKind::Material,
            ItemKind::Service => catalogue::ItemKind::Service,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueItemView {
    pub id: Uuid,
    /// Item number, unique in the tenant (field apps report materials by it).
    #[schema(example = "CU-15-3M")]
    pub code: String,
    #[schema(example = "material")]
    pub kind: String,
    #[schema(example = "Copper pipe 15 mm")]
    pub name: String,
    pub description: Option<String>,
    /// UN/ECE Recommendation 20 unit code.
    #[schema(example = "MTR")]
    pub unit: String,
    /// Net price per unit, exact decimal string.
    #[schema(example = "12.50")]
    pub unit_price: String,
    /// VAT rate in per cent: `19`, `7` or `0`.
    #[schema(example = "19")]
    pub vat_rate: String,
    /// Labour rates: the role they apply to.
    pub role: Option<String>,
    /// Labour rates: the skill they apply to (takes precedence over the role).
    pub skill: Option<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CatalogueItem> for CatalogueItemView {
    fn from(i: &CatalogueItem) -> Self {
        Self {
            id: i.id,
            code: i.code.clone(),
            kind: i.kind.clone(),
            name: i.name.clone(),
            description: i.description.clone(),
            unit: i.unit.clone(),
            unit_price: i.unit_price.clone(),
            vat_rate: i.vat_rate.clone(),
            role: i.role.clone(),
            skill: i.skill.clone(),
            active: i.active,
            version: i.version,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueItemRequest {
    #[schema(value_type = String, example = "CU-15-3M", min_length = 1, max_length = 50)]
    pub code: Line<50>,
    pub kind: ItemKind,
    #[schema(value_type = String, example = "Copper pipe 15 mm", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub description: Option<Text<1000>>,
    /// UN/ECE Recommendation 20 unit code (`HUR` hour, `C62` piece, `MTR` metre, ...).
    #[schema(value_type = String, max_length = 16, example = "MTR")]
    pub unit: Line<16>,
    /// Net price per unit, decimal string, at most 4 decimals.
    #[schema(value_type = String, max_length = 32, example = "12.50", pattern = r"^[0-9]{1,9}(\.[0-9]{1,4})?$")]
    pub unit_price: Line<32>,
    /// `19`, `7` or `0`; default: the profile's default rate (19).
    #[schema(value_type = Option<String>, max_length = 32, example = "19")]
    pub vat_rate: Option<Line<32>>,
    /// Labour: the role the rate applies to.
    #[schema(value_type = Option<String>, max_length = 32, example = "technician")]
    pub role: Option<Line<32>>,
    /// Labour: the skill the rate applies to.
    #[schema(value_type = Option<String>, max_length = 50, example = "glazing")]
    pub skill: Option<Line<50>>,
    /// Default true; inactive items are not used for new documents.
    pub active: Option<bool>,
}

impl From<CatalogueItemRequest> for ItemSpec {
    fn from(body: CatalogueItemRequest) -> Self {
        Self {
            code: body.code.into_string(),
            kind: body.kind.into(),
            name: body.name.into_string(),
            description: body.description.map(String::from),
            unit: body.unit.into_string(),
            unit_price: body.unit_price.into_string(),
            vat_rate: body.vat_rate.map(String::from),
            role: body.role.map(String::from),
            skill: body.skill.map(String::from),
            active: body.active,
        }
    }
}

/// Add a catalogue item
#[utoipa::path(
    operation_id = "createCatalogueItem",
    tag = "billing",
    request_body = CatalogueItemRequest,
    responses(
        (status = 201, description = "Created", body = CatalogueItemView, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The code is taken (`code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/catalogue-items")]
pub async fn create_catalogue_item(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CatalogueItemRequest>,
) -> ApiResult<HttpResponse> {
    let item = catalogue::create(&state, &principal, body.into_inner().into()).await?;
    Ok(created(
        format!("/v1/catalogue-items/{}", item.id),
        1,
        &CatalogueItemView::from(&item),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `labour`, `material` or `service`.
    #[param(inline)]
    pub kind: Option<ItemKind>,
    /// Also list inactive items.
    pub include_inactive: Option<bool>,
}

/// List catalogue items
#[utoipa::path(
    operation_id = "listCatalogueItems",
    tag = "billing",
    params(CatalogueQuery),
    responses((status = 200, description = "Items ordered by code", body = Page<CatalogueItemView>)),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/catalogue-items")]
pub async fn list_catalogue_items(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<CatalogueQuery>,
) -> ApiResult<HttpResponse> {
    // Checked here too (the use case checks it again) so that a bad limit or cursor is
    // answered after the permission, as before.
    principal.require(Permission::WorkOrdersRead)?;
    let page = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .parse()?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_keyed_cursor)
        .transpose()?
        .map(|(code, _)| code);
    let mut rows = catalogue::list(
        &state,
        &principal,
        after.as_deref(),
        query.kind.map(Into::into),
        query.include_inactive.unwrap_or(false),
        i64::from(page.limit) + 1,
    )
    .await?;
    let limit = usize::try_from(page.limit).unwrap_or(50);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|r| encode_keyed_cursor(&r.code, r.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page {
        items: rows.iter().map(CatalogueItemView::from).collect::<Vec<_>>(),
        next_cursor,
    }))
}

/// Get a catalogue item
#[utoipa::path(
    operation_id = "getCatalogueItem",
    tag = "billing",
    params(("id" = Uuid, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = CatalogueItemView, headers(("ETag" = String))),
        (status = 404, description = "No such item in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/catalogue-items/{id}")]
pub async fn get_catalogue_item(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let item = catalogue::get(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(item.version, &CatalogueItemView::from(&item)))
}

/// Replace a catalogue item
///
/// Documents already written keep their prices; the change applies to new ones.
#[utoipa::path(
    operation_id = "updateCatalogueItem",
    tag = "billing",
    params(("id" = Uuid, Path, description = "Item id"), ("If-Match" = String, Header, description = "ETag of the item")),
    request_body = CatalogueItemRequest,
    responses(
        (status = 200, description = "Saved", body = CatalogueItemView, headers(("ETag" = String))),
        (status = 404, description = "No such item in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[patch("/catalogue-items/{id}")]
pub async fn update_catalogue_item(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<CatalogueItemRequest>,
) -> ApiResult<HttpResponse> {
    let item = catalogue::update(
        &state,
        &principal,
        id.into_inner(),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(item.version, &CatalogueItemView::from(&item)))
}

// ---------------------------------------------------------------------------------------
// E-mail templates

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailTemplateView {
    /// `invoice`, `credit_note`, `quote`, `booking_confirmation`, `booking_rescheduled`, `booking_cancelled`, `technician_en_route`.
    #[schema(example = "invoice")]
    pub kind: String,
    /// `de` or `en`.
    #[schema(example = "de")]
    pub lang: String,
    pub subject: String,
    pub body: String,
    /// False: the built-in default is used.
    pub customized: bool,
    /// Placeholders this kind may use, written `{{name}}`.
    pub variables: Vec<String>,
    /// The version `PUT` and `DELETE` name in `If-Match` (0 until the template is first
    /// changed; it keeps rising when the default is restored).
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplateRequest {
    #[schema(value_type = String, example = "Ihre Rechnung {{invoice_number}}", max_length = 200)]
    pub subject: Line<200>,
    #[schema(value_type = String, max_length = 20000)]
    pub body: Text<20000>,
}

fn template_view(t: EmailTemplate) -> EmailTemplateView {
    EmailTemplateView {
        kind: t.kind.as_str().to_owned(),
        lang: t.lang.as_str().to_owned(),
        subject: t.subject,
        body: t.body,
        customized: t.customized,
        variables: t.variables,
        version: t.version,
        updated_at: t.updated_at,
    }
}

/// Get an e-mail template
///
/// The tenant's own text or the built-in default, with the ETag that `PUT` and `DELETE`
/// need.
#[utoipa::path(
    operation_id = "getEmailTemplate",
    tag = "billing",
    params(
        ("kind" = String, Path, description = "`invoice`, `credit_note`, `quote`, `booking_confirmation`, `booking_rescheduled`, `booking_cancelled` or `technician_en_route`"),
        ("lang" = String, Path, description = "`de` or `en`"),
    ),
    responses(
        (status = 200, description = "The template", body = EmailTemplateView, headers(("ETag" = String))),
        (status = 404, description = "No such kind or language", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/email-templates/{kind}/{lang}")]
pub async fn get_email_template(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let template = email_templates::get(&state, &principal, &path.0, &path.1).await?;
    let view = template_view(template);
    Ok(ok_versioned(view.version, &view))
}

/// List e-mail templates
///
/// Every kind in German and English: the tenant's own text or the built-in default.
#[utoipa::path(
    operation_id = "listEmailTemplates",
    tag = "billing",
    responses((status = 200, description = "Templates", body = Vec<EmailTemplateView>)),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/email-templates")]
pub async fn list_email_templates(
    state: web::Data<AppState>,
    principal: Caller,
) -> ApiResult<HttpResponse> {
    let views: Vec<EmailTemplateView> = email_templates::list(&state, &principal)
        .await?
        .into_iter()
        .map(template_view)
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Set an e-mail template
#[utoipa::path(
    operation_id = "putEmailTemplate",
    tag = "billing",
    params(
        ("kind" = String, Path, description = "`invoice`, `credit_note`, `quote`, `booking_confirmation`, `booking_rescheduled`, `booking_cancelled` or `technician_en_route`"),
        ("lang" = String, Path, description = "`de` or `en`"),
    ),
    request_body = EmailTemplateRequest,
    responses(
        (status = 200, description = "Saved", body = EmailTemplateView, headers(("ETag" = String))),
        (status = 404, description = "No such kind or language", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown placeholder, unbalanced braces, too long", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[put("/email-templates/{kind}/{lang}")]
pub async fn put_email_template(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(String, String)>,
    if_match: IfMatch,
    body: ValidJson<EmailTemplateRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let template = Template {
        subject: body.subject.into_string(),
        body: body.body.into_string(),
    };
    let saved =
        email_templates::put(&state, &principal, &path.0, &path.1, if_match.0, template).await?;
    let view = template_view(saved);
    Ok(ok_versioned(view.version, &view))
}

/// Restore a default e-mail template
#[utoipa::path(
    operation_id = "deleteEmailTemplate",
    tag = "billing",
    params(
        ("kind" = String, Path, description = "Template kind"),
        ("lang" = String, Path, description = "`de` or `en`"),
    ),
    responses(
        (status = 204, description = "The built-in default applies again (also when it already did)"),
        (status = 404, description = "No such kind or language", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []))
)]
#[delete("/email-templates/{kind}/{lang}")]
pub async fn delete_email_template(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    email_templates::restore_default(&state, &principal, &path.0, &path.1, if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
