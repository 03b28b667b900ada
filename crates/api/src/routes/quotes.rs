//! Quotes (estimates) for work orders: written by the office, e-mailed with a private link,
//! accepted or declined by the customer through the public endpoint. The answer completes
//! the step the quote waits on; an accepted quote is frozen and becomes the invoice's lines.

use workorders_domain::text::{Line, Text};

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::quotes::{self, DatedQuote, PublicQuote};
use workorders_domain::WorkOrderId;
use workorders_domain::billing::Computed;
use workorders_persistence::billing::QuoteRecord;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, OptionalJson, ValidJson};
use crate::routes::{created, ok_versioned};
use crate::schemas::billing::{LineRequest, LineView, line_specs, line_views};
use crate::state::AppState;

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

fn view(q: &QuoteRecord, today: NaiveDate) -> QuoteView {
    QuoteView {
        id: q.id,
        work_order_id: q.work_order_id,
        number: q.number.clone(),
        status: quotes::status_of(q, today).to_owned(),
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

fn dated_view(d: &DatedQuote) -> QuoteView {
    view(&d.quote, d.today)
}

impl From<QuoteRequest> for quotes::QuoteSpec {
    fn from(body: QuoteRequest) -> Self {
        Self {
            lines: line_specs(&body.lines),
            valid_until: body.valid_until,
            step_key: body.step_key.map(String::from),
            notes: body.notes.map(String::from),
            treatment: body.treatment.map(String::from),
        }
    }
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
    let quote = quotes::create(
        &state,
        &principal,
        WorkOrderId(id.into_inner()),
        body.into_inner().into(),
    )
    .await?;
    Ok(created(
        format!("/v1/quotes/{}", quote.quote.id),
        1,
        &dated_view(&quote),
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
    let quotes::OrderQuotes { quotes, today } =
        quotes::list_of_order(&state, &principal, WorkOrderId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(quotes.iter().map(|q| view(q, today)).collect::<Vec<_>>()))
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
    let quote = quotes::get(&state, &principal, id.into_inner()).await?;
    Ok(ok_versioned(quote.quote.version, &dated_view(&quote)))
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
    let quote = quotes::update(
        &state,
        &principal,
        id.into_inner(),
        if_match.0,
        body.into_inner().into(),
    )
    .await?;
    Ok(ok_versioned(quote.quote.version, &dated_view(&quote)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentQuote {
    pub quote: QuoteView,
    /// The customer's private link (also in the e-mail): the quote's page, where the
    /// customer accepts or declines; its token also opens `/v1/public/quotes/{token}`.
    /// Sending again makes a new link; the old one stops working.
    #[schema(example = "https://orders.example.com/quotes/q_3f9a...")]
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
    let to = body.0.and_then(|b| b.to).map(String::from);
    let sent = quotes::send(&state, &principal, id.into_inner(), to).await?;
    Ok(HttpResponse::Accepted().json(SentQuote {
        quote: dated_view(&sent.quote),
        link: sent.link,
        email: crate::schemas::billing::email_view(&sent.email),
    }))
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
        .public_limits
        .per_client
        .attempt(&crate::routes::client_ip(req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

fn public_view(p: PublicQuote) -> PublicQuoteView {
    let q = p.quote;
    PublicQuoteView {
        number: q.number,
        company: p.company,
        status: p.status.to_owned(),
        valid_until: q.valid_until,
        order_title: p.order_title,
        notes: q.notes,
        lines: line_views(&q.lines),
        grand_total: format!("{:.2}", q.computed.totals.grand_total),
        computed: q.computed,
        currency: "EUR".to_owned(),
        decided_at: q.decided_at,
    }
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
    let quote = quotes::public_view(&state, &token).await?;
    Ok(HttpResponse::Ok().json(public_view(quote)))
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
    let answered = quotes::answer(
        &state,
        &token,
        quotes::QuoteAnswer {
            decision: body.decision.into_string(),
            name: body.name.into_string(),
            comment: body.comment.map(String::from),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(public_view(answered)))
}
