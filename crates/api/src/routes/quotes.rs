//! Quotes (estimates) for work orders: written by the office, e-mailed with a private link,
//! accepted or declined by the customer through the public endpoint. The answer completes
//! the step the quote waits on; an accepted quote is frozen and becomes the invoice's lines.

use std::collections::BTreeMap;
use workorders_domain::text::{Line, Text};

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::billing::Computed;
use workorders_domain::invoicing::{self, QuoteError, QuoteStatus};
use workorders_domain::work_order::Command;
use workorders_domain::{TenantId, WorkOrderId};
use workorders_mail::templates::TemplateKind;
use workorders_persistence::billing::{self as store, QuoteRecord};
use workorders_persistence::work_orders::{self, ActorRef, NewEvent};
use workorders_persistence::{WriteTx, tenants};

use crate::auth::Caller;
use crate::billing::{self, Outgoing};
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::{IfMatch, OptionalJson, ValidJson, require_version};
use crate::routes::{created, ok_versioned};
use crate::schemas::billing::{LineRequest, LineView, catalogue_for, line_views, parse_lines};
use crate::state::AppState;
use crate::workflow::{self, DbAssigner};

#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteView {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub work_order_id: WorkOrderId,
    #[schema(example = "AN-2026-00007")]
    pub number: String,
    /// `draft`, `sent`, `accepted`, `declined` or `expired` (sent and past `valid_until`).
    #[schema(example = "sent")]
    pub status: String,
    /// The order step the customer's answer completes.
    pub step_key: Option<String>,
    pub valid_until: NaiveDate,
    pub notes: Option<String>,
    pub treatment: String,
    pub lines: Vec<LineView>,
    #[schema(value_type = Object)]
    pub computed: Computed,
    #[schema(example = "1523.20")]
    pub grand_total: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Who answered, as the customer typed it.
    pub decision_name: Option<String>,
    pub decision_comment: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn status_of(q: &QuoteRecord, today: NaiveDate) -> &'static str {
    if q.status == QuoteStatus::Sent && q.valid_until < today {
        "expired"
    } else {
        q.status.as_str()
    }
}

fn view(q: &QuoteRecord, today: NaiveDate) -> QuoteView {
    QuoteView {
        id: q.id,
        work_order_id: q.work_order_id,
        number: q.number.clone(),
        status: status_of(q, today).to_owned(),
        step_key: q.step_key.clone(),
        valid_until: q.valid_until,
        notes: q.notes.clone(),
        treatment: q.treatment.as_str().to_owned(),
        lines: line_views(&q.lines),
        computed: q.computed.clone(),
        grand_total: format!("{:.2}", q.computed.totals.grand_total),
        sent_at: q.sent_at,
        decided_at: q.decided_at,
        decision_name: q.decision_name.clone(),
        decision_comment: q.decision_comment.clone(),
        version: q.version,
        created_at: q.created_at,
        updated_at: q.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[serde(deserialize_with = "workorders_domain::bounds::capped::<_, _, 500>")]
    #[schema(max_items = 500)]
    pub lines: Vec<LineRequest>,
    /// Last day the customer can accept.
    #[serde(deserialize_with = "workorders_domain::bounds::day")]
    pub valid_until: NaiveDate,
    /// Key of the order's step the answer completes (e.g. the step "quote accepted").
    #[schema(value_type = Option<String>, max_length = 64, example = "quote")]
    pub step_key: Option<Line<64>>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Text<2000>>,
    /// `regular` (default) or `reverse_charge`.
    #[schema(value_type = Option<String>, max_length = 32, example = "regular")]
    pub treatment: Option<Line<32>>,
}

async fn check_request(
    state: &AppState,
    tenant: TenantId,
    order: &workorders_persistence::work_orders::WorkOrderRecord,
    body: &QuoteRequest,
    today: NaiveDate,
) -> ApiResult<(
    Vec<workorders_domain::billing::LineInput>,
    workorders_domain::billing::TaxTreatment,
)> {
    let catalogue = catalogue_for(state, tenant, &body.lines).await?;
    let lines = parse_lines(&body.lines, "/lines", &catalogue)?;
    if body.valid_until < today {
        return Err(ApiError::invalid("/valid_until", "must not be in the past"));
    }
    if body
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::invalid("/notes", "at most 2,000 characters"));
    }
    if let Some(key) = &body.step_key
        && !order.order.steps.iter().any(|s| &s.definition.key == key)
    {
        return Err(ApiError::invalid(
            "/step_key",
            "the order has no step with this key",
        ));
    }
    let requested = body
        .treatment
        .as_deref()
        .map(|t| {
            workorders_domain::billing::TaxTreatment::parse(t)
                .ok_or_else(|| ApiError::invalid("/treatment", "regular or reverse_charge"))
        })
        .transpose()?;
    let mut conn = state.db.acquire().await?;
    let (profile, _) = billing::load_profile(&mut conn, tenant).await?;
    drop(conn);
    let buyer = billing::buyer_for(&state.db, order).await?;
    let treatment = billing::treatment_for(&profile, &buyer, requested)?;
    Ok((lines, treatment))
}

async fn today_of(state: &AppState, tenant: TenantId) -> ApiResult<NaiveDate> {
    Ok(billing::today_of(&state.db, tenant).await?)
}

/// Write a quote for an order
#[utoipa::path(
    operation_id = "createQuote",
    tag = "quotes",
    params(("id" = Uuid, Path, description = "Work order id")),
    request_body = QuoteRequest,
    responses(
        (status = 201, description = "A draft quote", body = QuoteView, headers(("Location" = String), ("ETag" = String))),
        (status = 404, description = "No such order in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid lines or fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/work-orders/{id}/quotes")]
pub async fn create_quote(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<QuoteRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::BillingWrite)?;
    let body = body.into_inner();
    let tenant = principal.tenant_id;
    let order = work_orders::get(&state.db, tenant, WorkOrderId(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound)?;
    let today = today_of(&state, tenant).await?;
    let (lines, treatment) = check_request(&state, tenant, &order, &body, today).await?;
    let computed = billing::compute(&lines, treatment, "/lines")?;
    let grand_total = billing::cents(computed.totals.grand_total)?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let (profile, _) = billing::load_profile(tx.conn(), tenant).await?;
    let pattern = profile.quote_pattern();
    let period: i32 = pattern.period(today).replace('-', "").parse().unwrap_or(0);
    let seq = work_orders::next_number(tx.conn(), tenant, "quote", period).await?;
    let quote = QuoteRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        work_order_id: order.order.id,
        number: pattern.format(today, u64::try_from(seq).unwrap_or_default()),
        status: QuoteStatus::Draft,
        step_key: body.step_key.map(String::from),
        valid_until: body.valid_until,
        notes: body.notes.map(String::from),
        treatment,
        lines,
        computed,
        grand_total,
        token_hash: None,
        sent_at: None,
        decided_at: None,
        decision_name: None,
        decision_comment: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    store::insert_quote(tx.conn(), &quote).await?;
    tx.commit().await?;
    Ok(created(
        format!("/v1/quotes/{}", quote.id),
        1,
        &view(&quote, today),
    ))
}

/// Quotes of an order
#[utoipa::path(
    operation_id = "listWorkOrderQuotes",
    tag = "quotes",
    params(("id" = Uuid, Path, description = "Work order id")),
    responses(
        (status = 200, description = "Oldest first", body = Vec<QuoteView>),
        (status = 404, description = "No such order in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/work-orders/{id}/quotes")]
pub async fn list_work_order_quotes(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::BillingRead)?;
    let order = WorkOrderId(id.into_inner());
    work_orders::get(&state.db, principal.tenant_id, order)
        .await?
        .ok_or(ApiError::NotFound)?;
    let today = today_of(&state, principal.tenant_id).await?;
    let mut conn = state.db.acquire().await?;
    let quotes = store::quotes_of_order(&mut conn, principal.tenant_id, order).await?;
    Ok(HttpResponse::Ok().json(quotes.iter().map(|q| view(q, today)).collect::<Vec<_>>()))
}

async fn load(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<QuoteRecord> {
    let mut conn = state.db.acquire().await?;
    store::get_quote(&mut conn, tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Get a quote
#[utoipa::path(
    operation_id = "getQuote",
    tag = "quotes",
    params(("id" = Uuid, Path, description = "Quote id")),
    responses(
        (status = 200, description = "The quote", body = QuoteView, headers(("ETag" = String))),
        (status = 404, description = "No such quote in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:read"]))
)]
#[get("/quotes/{id}")]
pub async fn get_quote(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::BillingRead)?;
    let quote = load(&state, principal.tenant_id, id.into_inner()).await?;
    let today = today_of(&state, principal.tenant_id).await?;
    Ok(ok_versioned(quote.version, &view(&quote, today)))
}

fn frozen(q: &QuoteRecord) -> ApiError {
    ApiError::InvalidTransition {
        detail: format!("the quote was {}; it is frozen", q.status.as_str()),
        current_state: q.status.as_str().to_owned(),
        allowed_actions: Vec::new(),
    }
}

/// Change a quote
///
/// Drafts and sent quotes (not yet answered) change; the customer's link then shows the new
/// version. Accepted and declined quotes are frozen (409).
#[utoipa::path(
    operation_id = "updateQuote",
    tag = "quotes",
    params(("id" = Uuid, Path, description = "Quote id"), ("If-Match" = String, Header, description = "ETag of the quote")),
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "Saved", body = QuoteView, headers(("ETag" = String))),
        (status = 404, description = "No such quote in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Answered quotes are frozen", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[patch("/quotes/{id}")]
pub async fn update_quote(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<QuoteRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::BillingWrite)?;
    let expected = if_match.required()?;
    let tenant = principal.tenant_id;
    let body = body.into_inner();
    let current = load(&state, tenant, id.into_inner()).await?;
    if !current.status.editable() {
        return Err(frozen(&current));
    }
    let order = work_orders::get(&state.db, tenant, current.work_order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let today = today_of(&state, tenant).await?;
    let (lines, treatment) = check_request(&state, tenant, &order, &body, today).await?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, current.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !quote.status.editable() {
        return Err(frozen(&quote));
    }
    require_version(expected, quote.version)?;
    quote.computed = billing::compute(&lines, treatment, "/lines")?;
    quote.grand_total = billing::cents(quote.computed.totals.grand_total)?;
    quote.lines = lines;
    quote.treatment = treatment;
    quote.valid_until = body.valid_until;
    quote.step_key = body.step_key.map(String::from);
    quote.notes = body.notes.map(String::from);
    let expected = quote.version;
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    quote.version = expected + 1;
    quote.updated_at = now;
    Ok(ok_versioned(quote.version, &view(&quote, today)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentQuote {
    pub quote: QuoteView,
    /// The customer's private link (also in the e-mail). Sending again makes a new link;
    /// the old one stops working.
    #[schema(example = "https://orders.example.com/v1/public/quotes/q_3f9a...")]
    pub link: String,
    pub email: crate::schemas::billing::EmailView,
}

/// Send a quote to the customer
///
/// E-mails the quote with a private link to accept or decline it.
#[utoipa::path(
    operation_id = "sendQuote",
    tag = "quotes",
    params(("id" = Uuid, Path, description = "Quote id")),
    request_body(content = crate::schemas::billing::SendDocumentRequest, description = "Optional recipient"),
    responses(
        (status = 202, description = "Queued", body = SentQuote),
        (status = 404, description = "No such quote in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already answered", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No e-mail address, or expired", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["billing:write"]))
)]
#[post("/quotes/{id}/send")]
pub async fn send_quote(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<crate::schemas::billing::SendDocumentRequest>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::BillingWrite)?;
    let tenant = principal.tenant_id;
    let to = body.0.and_then(|b| b.to);
    let now = state.db.now();
    let today = today_of(&state, tenant).await?;
    let current = load(&state, tenant, id.into_inner()).await?;
    let order = work_orders::get(&state.db, tenant, current.work_order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let buyer = billing::buyer_for(&state.db, &order).await?;
    let to = to
        .or(buyer.email.clone().map(Line::trusted))
        .ok_or_else(|| ApiError::Unprocessable {
            code: codes::NO_EMAIL_ADDRESS,
            detail: "the customer has no e-mail address; give `to` or add one to the customer"
                .to_owned(),
        })?;
    if !workorders_mail::valid_address(&to) {
        return Err(ApiError::invalid("/to", "not a valid e-mail address"));
    }
    let token = crate::auth::tokens::new_token("q_").map_err(ApiError::internal)?;
    let link = format!(
        "{}/v1/public/quotes/{token}",
        state.settings.mail.public_base_url.trim_end_matches('/')
    );
    let mut tx = state.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, current.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !quote.status.editable() {
        return Err(frozen(&quote));
    }
    if quote.valid_until < today {
        return Err(ApiError::Unprocessable {
            code: codes::QUOTE_EXPIRED,
            detail: "the quote has expired; change valid_until first".to_owned(),
        });
    }
    let expected = quote.version;
    quote.status = QuoteStatus::Sent;
    quote.sent_at = Some(now);
    quote.token_hash = Some(token_hash(&token));
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(ApiError::PreconditionFailed {
            current_version: expected + 1,
        });
    }
    quote.version = expected + 1;
    let (profile, _) = billing::load_profile(tx.conn(), tenant).await?;
    let tenant_record = tenants::get_in(tx.conn(), tenant)
        .await?
        .ok_or(ApiError::NotFound)?;
    let english = profile.english();
    let mut vars = BTreeMap::new();
    billing::company_vars(&profile, &tenant_record.name, &mut vars);
    vars.insert("customer_name", buyer.name.clone());
    vars.insert("order_number", order.number.clone());
    vars.insert("order_title", order.title.clone());
    vars.insert("quote_number", quote.number.clone());
    vars.insert(
        "valid_until",
        billing::local_date(quote.valid_until, english),
    );
    vars.insert("total", billing::money(quote.grand_total, english));
    vars.insert("quote_link", link.clone());
    let (subject, body) = billing::compose(
        tx.conn(),
        tenant,
        TemplateKind::Quote,
        billing::lang_of(&profile),
        &vars,
    )
    .await?;
    let mail = billing::queue_email(
        &mut tx,
        tenant,
        profile.contact_email.clone(),
        Outgoing {
            kind: TemplateKind::Quote.as_str(),
            to: to.into_string(),
            to_name: Some(buyer.name),
            subject,
            body,
            attachments: Vec::new(),
            work_order_id: Some(order.order.id),
            invoice_id: None,
            quote_id: Some(quote.id),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(SentQuote {
        quote: view(&quote, today),
        link,
        email: crate::schemas::billing::email_view(&mail),
    }))
}

fn token_hash(token: &str) -> String {
    crate::auth::tokens::sha256_hex(token)
}

/// The quote as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicQuoteView {
    pub number: String,
    pub company: String,
    /// `sent`, `accepted`, `declined` or `expired`.
    pub status: String,
    pub valid_until: NaiveDate,
    pub order_title: String,
    pub notes: Option<String>,
    pub lines: Vec<LineView>,
    #[schema(value_type = Object)]
    pub computed: Computed,
    pub grand_total: String,
    pub currency: String,
    pub decided_at: Option<DateTime<Utc>>,
}

/// The public endpoints share the booking widget's per-address rate limit.
fn throttle(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    state
        .public_ip_limiter
        .attempt(&crate::routes::client_ip(req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

async fn by_token(state: &AppState, token: &str) -> ApiResult<QuoteRecord> {
    if !token.starts_with("q_") || token.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let mut conn = state.db.acquire().await?;
    store::quote_by_token(&mut conn, &token_hash(token))
        .await?
        .ok_or(ApiError::NotFound)
}

async fn public_view(state: &AppState, q: &QuoteRecord) -> ApiResult<PublicQuoteView> {
    let mut conn = state.db.acquire().await?;
    public_view_on(&mut conn, state.db.now(), q).await
}

/// The customer's view of a quote, read on a connection (inside a transaction before its
/// commit, so the stored Idempotency-Key reply is part of the same commit).
async fn public_view_on(
    conn: &mut workorders_persistence::Conn,
    now: chrono::DateTime<chrono::Utc>,
    q: &QuoteRecord,
) -> ApiResult<PublicQuoteView> {
    let today = billing::today(conn, q.tenant_id, now).await?;
    let (profile, _) = billing::load_profile(conn, q.tenant_id).await?;
    let tenant = tenants::get_in(conn, q.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (_, title) = work_orders::number_and_title(conn, q.tenant_id, q.work_order_id)
        .await?
        .unwrap_or_default();
    Ok(PublicQuoteView {
        number: q.number.clone(),
        company: profile.legal_name.unwrap_or(tenant.name),
        status: status_of(q, today).to_owned(),
        valid_until: q.valid_until,
        order_title: title,
        notes: q.notes.clone(),
        lines: line_views(&q.lines),
        computed: q.computed.clone(),
        grand_total: format!("{:.2}", q.computed.totals.grand_total),
        currency: "EUR".to_owned(),
        decided_at: q.decided_at,
    })
}

/// View a quote (customer)
///
/// The private link from the quote e-mail; no sign-in.
#[utoipa::path(
    operation_id = "getPublicQuote",
    tag = "public",
    params(("token" = String, Path, description = "The quote's private token")),
    responses(
        (status = 200, description = "The quote", body = PublicQuoteView),
        (status = 404, description = "Unknown or replaced link", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/quotes/{token}")]
pub async fn get_public_quote(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    throttle(&req, &state)?;
    let quote = by_token(&state, &token).await?;
    Ok(HttpResponse::Ok().json(public_view(&state, &quote).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteAnswer {
    /// `accept` or `decline`.
    #[schema(value_type = String, max_length = 32, example = "accept")]
    pub decision: Line<32>,
    /// The customer's name, as a signature of the decision.
    #[schema(value_type = String, example = "Jana Becker", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub comment: Option<Text<2000>>,
}

/// Accept or decline a quote (customer)
///
/// Accepting freezes the quote (its lines become the invoice's) and completes the order's
/// step the quote waits on; declining records the answer in the order's history and leaves
/// the step with the office (revise the quote or cancel the order). Answering twice, or after
/// `valid_until`, is refused (409 `quote_answered`, 422 `quote_expired`).
#[utoipa::path(
    operation_id = "answerPublicQuote",
    tag = "public",
    params(("token" = String, Path, description = "The quote's private token")),
    request_body = QuoteAnswer,
    responses(
        (status = 200, description = "Answered", body = PublicQuoteView),
        (status = 404, description = "Unknown or replaced link", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already answered", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Expired or invalid fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/public/quotes/{token}")]
pub async fn answer_public_quote(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: ValidJson<QuoteAnswer>,
) -> ApiResult<HttpResponse> {
    throttle(&req, &state)?;
    let body = body.into_inner();
    let accept = match body.decision.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(ApiError::invalid("/decision", "accept or decline")),
    };
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("/name", "1 to 200 characters"));
    }
    if body
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return Err(ApiError::invalid("/comment", "at most 2,000 characters"));
    }
    let found = by_token(&state, &token).await?;
    let tenant = found.tenant_id;
    let today = today_of(&state, tenant).await?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, found.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if quote.token_hash != found.token_hash {
        return Err(ApiError::NotFound);
    }
    let status = invoicing::answer_quote(quote.status, quote.valid_until, today, accept).map_err(
        |e| match e {
            QuoteError::Expired { .. } => ApiError::Unprocessable {
                code: codes::QUOTE_EXPIRED,
                detail: e.to_string(),
            },
            QuoteError::Answered { .. } | QuoteError::NotSent => ApiError::Conflict {
                code: codes::QUOTE_ANSWERED,
                detail: e.to_string(),
            },
        },
    )?;
    let expected = quote.version;
    quote.status = status;
    quote.decided_at = Some(now);
    quote.decision_name = Some(name.clone());
    quote.decision_comment = body.comment.clone().map(String::from);
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(ApiError::Conflict {
            code: codes::QUOTE_ANSWERED,
            detail: "the quote changed meanwhile; reload it".to_owned(),
        });
    }
    quote.version = expected + 1;
    record_answer(&state, &mut tx, &quote, &name, accept, now).await?;
    let view = public_view_on(tx.conn(), now, &quote).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The answer in the order's history and webhooks; accepting completes the waiting step.
async fn record_answer(
    state: &AppState,
    tx: &mut WriteTx,
    quote: &QuoteRecord,
    name: &str,
    accept: bool,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let tenant = quote.tenant_id;
    let customer = ActorRef {
        kind: "customer".to_owned(),
        id: None,
    };
    let event_type = if accept {
        "quote.accepted"
    } else {
        "quote.declined"
    };
    let data = serde_json::json!({
        "quote_id": quote.id,
        "number": quote.number,
        "work_order_id": quote.work_order_id,
        "name": name,
        "comment": quote.decision_comment,
        "grand_total_cents": quote.grand_total,
    });
    tx.emit(tenant, event_type, data.clone());
    work_orders::append_events(
        tx,
        tenant,
        quote.work_order_id,
        Uuid::now_v7(),
        &customer,
        now,
        &[NewEvent {
            event_type: event_type.to_owned(),
            data,
        }],
    )
    .await?;
    tx.touch_order(tenant, quote.work_order_id);
    let (true, Some(key)) = (accept, &quote.step_key) else {
        return Ok(());
    };
    let Some(mut record) =
        work_orders::load_for_update(tx.conn(), &state.db, tenant, quote.work_order_id).await?
    else {
        return Ok(());
    };
    let Some(step) = record
        .order
        .steps
        .iter()
        .find(|s| &s.definition.key == key && s.status.is_open())
        .map(|s| s.id)
    else {
        return Ok(());
    };
    let mut assigner = DbAssigner::load(tx.conn(), tenant).await?;
    match record
        .order
        .handle(Command::CompleteStep { step }, now, &mut assigner)
    {
        Ok(events) => {
            workflow::persist(tx, &mut record, &events, &customer, now).await?;
            assigner.persist(tx.conn(), tenant).await?;
        }
        Err(e) => {
            tracing::info!(quote = %quote.id, error = %e, "accepted quote left its step open")
        }
    }
    Ok(())
}
