//! Quotes (estimates) for work orders: written by the office, e-mailed with a private link,
//! accepted or declined by the customer through that link. The answer completes the step
//! the quote waits on; an accepted quote is frozen and becomes the invoice's lines.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use workorders_domain::auth::Permission;
use workorders_domain::billing::{LineInput, TaxTreatment};
use workorders_domain::invoicing::{self, QuoteError, QuoteStatus};
use workorders_domain::work_order::Command;
use workorders_domain::{TenantId, WorkOrderId};
use workorders_mail::templates::TemplateKind;
use workorders_persistence::billing::{self as store, QuoteRecord};
use workorders_persistence::emails::EmailRecord;
use workorders_persistence::work_orders::{self, ActorRef, NewEvent, WorkOrderRecord};
use workorders_persistence::{Conn, WriteTx, tenants};

use crate::App;
use crate::billing::{self, Outgoing};
use crate::document_lines::{LineSpec, catalogue_for, parse_lines};
use crate::error::{AppError, AppResult, codes, required_version};
use crate::identity::Principal;
use crate::workflow::{self, DbAssigner};

/// What a quote says, as the office writes it. Field pointers in refusals name these fields.
#[derive(Debug, Clone)]
pub struct QuoteSpec {
    pub lines: Vec<LineSpec>,
    /// Last day the customer can accept.
    pub valid_until: NaiveDate,
    /// Key of the order's step the answer completes.
    pub step_key: Option<String>,
    pub notes: Option<String>,
    /// `regular` (default) or `reverse_charge`.
    pub treatment: Option<String>,
}

/// The status a quote shows on `today`: a sent quote past `valid_until` is `expired`.
pub fn status_of(q: &QuoteRecord, today: NaiveDate) -> &'static str {
    if q.status == QuoteStatus::Sent && q.valid_until < today {
        "expired"
    } else {
        q.status.as_str()
    }
}

/// A quote and the tenant's day it was read on.
#[derive(Debug, Clone)]
pub struct DatedQuote {
    pub quote: QuoteRecord,
    pub today: NaiveDate,
}

impl DatedQuote {
    /// The status the quote shows (`expired` past `valid_until`).
    pub fn status(&self) -> &'static str {
        status_of(&self.quote, self.today)
    }
}

/// The quotes of an order and the tenant's day they were read on.
#[derive(Debug, Clone)]
pub struct OrderQuotes {
    pub quotes: Vec<QuoteRecord>,
    pub today: NaiveDate,
}

async fn order_of(app: &App, tenant: TenantId, id: WorkOrderId) -> AppResult<WorkOrderRecord> {
    work_orders::get(&app.db, tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn load(app: &App, tenant: TenantId, id: Uuid) -> AppResult<QuoteRecord> {
    let mut conn = app.db.acquire().await?;
    store::get_quote(&mut conn, tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

fn frozen(q: &QuoteRecord) -> AppError {
    AppError::InvalidTransition {
        detail: format!("the quote was {}; it is frozen", q.status.as_str()),
        current_state: q.status.as_str().to_owned(),
        allowed_actions: Vec::new(),
    }
}

/// Validates a quote for `order`: its lines, dates, step and tax treatment.
async fn check(
    app: &App,
    tenant: TenantId,
    order: &WorkOrderRecord,
    spec: &QuoteSpec,
    today: NaiveDate,
) -> AppResult<(Vec<LineInput>, TaxTreatment)> {
    let catalogue = catalogue_for(app, tenant, &spec.lines).await?;
    let lines = parse_lines(&spec.lines, "/lines", &catalogue)?;
    if spec.valid_until < today {
        return Err(AppError::invalid("/valid_until", "must not be in the past"));
    }
    if spec
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(AppError::invalid("/notes", "at most 2,000 characters"));
    }
    if let Some(key) = &spec.step_key
        && !order.order.steps.iter().any(|s| &s.definition.key == key)
    {
        return Err(AppError::invalid(
            "/step_key",
            "the order has no step with this key",
        ));
    }
    let requested = spec
        .treatment
        .as_deref()
        .map(|t| {
            TaxTreatment::parse(t)
                .ok_or_else(|| AppError::invalid("/treatment", "regular or reverse_charge"))
        })
        .transpose()?;
    let mut conn = app.db.acquire().await?;
    let (profile, _) = billing::load_profile(&mut conn, tenant).await?;
    drop(conn);
    let buyer = billing::buyer_for(&app.db, order).await?;
    let treatment = billing::treatment_for(&profile, &buyer, requested)?;
    Ok((lines, treatment))
}

/// Writes a draft quote for an order, numbered from the quote series.
pub async fn create(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    spec: QuoteSpec,
) -> AppResult<DatedQuote> {
    caller.require(Permission::BillingWrite)?;
    let tenant = caller.tenant_id;
    let order = order_of(app, tenant, order).await?;
    let today = billing::today_of(&app.db, tenant).await?;
    let (lines, treatment) = check(app, tenant, &order, &spec, today).await?;
    let computed = billing::compute(&lines, treatment, "/lines")?;
    let grand_total = billing::cents(computed.totals.grand_total)?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
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
        step_key: spec.step_key,
        valid_until: spec.valid_until,
        notes: spec.notes,
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
    Ok(DatedQuote { quote, today })
}

/// The quotes of an order, oldest first.
pub async fn list_of_order(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
) -> AppResult<OrderQuotes> {
    caller.require(Permission::BillingRead)?;
    order_of(app, caller.tenant_id, order).await?;
    let today = billing::today_of(&app.db, caller.tenant_id).await?;
    let mut conn = app.db.acquire().await?;
    let quotes = store::quotes_of_order(&mut conn, caller.tenant_id, order).await?;
    Ok(OrderQuotes { quotes, today })
}

pub async fn get(app: &App, caller: &Principal, id: Uuid) -> AppResult<DatedQuote> {
    caller.require(Permission::BillingRead)?;
    let quote = load(app, caller.tenant_id, id).await?;
    let today = billing::today_of(&app.db, caller.tenant_id).await?;
    Ok(DatedQuote { quote, today })
}

/// Replaces a quote not yet answered at `expected_version` (answered quotes are frozen).
pub async fn update(
    app: &App,
    caller: &Principal,
    id: Uuid,
    expected_version: Option<i64>,
    spec: QuoteSpec,
) -> AppResult<DatedQuote> {
    caller.require(Permission::BillingWrite)?;
    let expected = required_version(expected_version)?;
    let tenant = caller.tenant_id;
    let current = load(app, tenant, id).await?;
    if !current.status.editable() {
        return Err(frozen(&current));
    }
    let order = order_of(app, tenant, current.work_order_id).await?;
    let today = billing::today_of(&app.db, tenant).await?;
    let (lines, treatment) = check(app, tenant, &order, &spec, today).await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, current.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !quote.status.editable() {
        return Err(frozen(&quote));
    }
    workflow::check_version(Some(expected), quote.version)?;
    quote.computed = billing::compute(&lines, treatment, "/lines")?;
    quote.grand_total = billing::cents(quote.computed.totals.grand_total)?;
    quote.lines = lines;
    quote.treatment = treatment;
    quote.valid_until = spec.valid_until;
    quote.step_key = spec.step_key;
    quote.notes = spec.notes;
    let expected = quote.version;
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    tx.commit().await?;
    quote.version = expected + 1;
    quote.updated_at = now;
    Ok(DatedQuote { quote, today })
}

/// A quote sent: its new state, the customer's private link and the queued e-mail.
#[derive(Debug, Clone)]
pub struct SentQuote {
    pub quote: DatedQuote,
    pub link: String,
    pub email: EmailRecord,
}

fn token_hash(token: &str) -> String {
    crate::tokens::sha256_hex(token)
}

/// E-mails the quote (to `to`, else the customer's address) with a new private link to
/// accept or decline it; an older link stops working.
pub async fn send(
    app: &App,
    caller: &Principal,
    id: Uuid,
    to: Option<String>,
) -> AppResult<SentQuote> {
    caller.require(Permission::BillingWrite)?;
    let tenant = caller.tenant_id;
    let now = app.db.now();
    let today = billing::today_of(&app.db, tenant).await?;
    let current = load(app, tenant, id).await?;
    let order = order_of(app, tenant, current.work_order_id).await?;
    let buyer = billing::buyer_for(&app.db, &order).await?;
    let to = to
        .or(buyer.email.clone())
        .ok_or_else(|| AppError::Unprocessable {
            code: codes::NO_EMAIL_ADDRESS,
            detail: "the customer has no e-mail address; give `to` or add one to the customer"
                .to_owned(),
        })?;
    if !workorders_mail::valid_address(&to) {
        return Err(AppError::invalid("/to", "not a valid e-mail address"));
    }
    let token = crate::tokens::new_token("q_").map_err(AppError::internal)?;
    // The customer's page of the quote (the JSON twin is `/v1/public/quotes/<token>`).
    let link = format!(
        "{}/quotes/{token}",
        app.settings.mail.public_base_url.trim_end_matches('/')
    );
    let mut tx = app.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, current.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !quote.status.editable() {
        return Err(frozen(&quote));
    }
    if quote.valid_until < today {
        return Err(AppError::Unprocessable {
            code: codes::QUOTE_EXPIRED,
            detail: "the quote has expired; change valid_until first".to_owned(),
        });
    }
    let expected = quote.version;
    quote.status = QuoteStatus::Sent;
    quote.sent_at = Some(now);
    quote.token_hash = Some(token_hash(&token));
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    quote.version = expected + 1;
    let (profile, _) = billing::load_profile(tx.conn(), tenant).await?;
    let tenant_record = tenants::get_in(tx.conn(), tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let english = profile.english();
    let mut vars = BTreeMap::new();
    billing::company_vars(&profile, &tenant_record, &mut vars);
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
    let email = billing::queue_email(
        &mut tx,
        tenant,
        profile.contact_email.clone(),
        Outgoing {
            kind: TemplateKind::Quote.as_str(),
            to,
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
    Ok(SentQuote {
        quote: DatedQuote { quote, today },
        link,
        email,
    })
}

/// A quote as the customer sees it through the private link.
#[derive(Debug, Clone)]
pub struct PublicQuote {
    pub quote: QuoteRecord,
    /// The company's legal name (else the tenant's name).
    pub company: String,
    /// `sent`, `accepted`, `declined` or `expired`.
    pub status: &'static str,
    pub order_title: String,
    /// What the quote's page shows of the company (its logo, colour, legal links).
    pub branding: crate::tenant::Branding,
}

async fn by_token(app: &App, token: &str) -> AppResult<QuoteRecord> {
    if !token.starts_with("q_") || token.len() > 100 {
        return Err(AppError::NotFound);
    }
    let mut conn = app.db.acquire().await?;
    store::quote_by_token(&mut conn, &token_hash(token))
        .await?
        .ok_or(AppError::NotFound)
}

/// The customer's view of a quote, read on a connection (inside a transaction before its
/// commit, so that a keyed request's stored reply is part of the same commit).
async fn public_on(conn: &mut Conn, now: DateTime<Utc>, q: QuoteRecord) -> AppResult<PublicQuote> {
    let today = billing::today(conn, q.tenant_id, now).await?;
    let (profile, _) = billing::load_profile(conn, q.tenant_id).await?;
    let tenant = tenants::get_in(conn, q.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (_, title) = work_orders::number_and_title(conn, q.tenant_id, q.work_order_id)
        .await?
        .unwrap_or_default();
    let branding = crate::tenant::Branding::of(&tenant);
    Ok(PublicQuote {
        branding,
        company: profile.legal_name.unwrap_or(tenant.name),
        status: status_of(&q, today),
        order_title: title,
        quote: q,
    })
}

/// The quote behind a private link (no sign-in; unknown or replaced links are not found).
pub async fn public_view(app: &App, token: &str) -> AppResult<PublicQuote> {
    let quote = by_token(app, token).await?;
    let mut conn = app.db.acquire().await?;
    public_on(&mut conn, app.db.now(), quote).await
}

/// The quote behind a private link as a PDF to download: its file name and bytes.
pub async fn public_pdf(app: &App, token: &str) -> AppResult<(String, Vec<u8>)> {
    let quote = by_token(app, token).await?;
    let tenant = quote.tenant_id;
    let order = order_of(app, tenant, quote.work_order_id).await?;
    let buyer = billing::buyer_for(&app.db, &order).await?;
    let mut conn = app.db.acquire().await?;
    let (profile, _) = billing::load_profile(&mut conn, tenant).await?;
    let tz = billing::time_zone(&mut conn, tenant).await?;
    drop(conn);
    let issued = quote
        .sent_at
        .unwrap_or(quote.created_at)
        .with_timezone(&tz)
        .date_naive();
    let pdf = billing::quote_pdf(&quote, &profile, &buyer, &order.number, issued).await?;
    Ok((
        format!("{}.pdf", crate::invoices::safe_name(&quote.number)),
        pdf,
    ))
}

/// Whether the company behind a quote link lists `origin` among its website origins (so its
/// website may call the quote's JSON endpoint from a browser). Unknown links: no.
pub async fn accepts_website_origin(app: &App, token: &str, origin: &str) -> bool {
    let Ok(quote) = by_token(app, token).await else {
        return false;
    };
    workorders_persistence::tenants::get(&app.db, quote.tenant_id)
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t.website_origins.iter().any(|o| o == origin))
}

/// The customer's answer, as typed.
#[derive(Debug, Clone)]
pub struct QuoteAnswer {
    /// `accept` or `decline`.
    pub decision: String,
    /// The customer's name, as a signature of the decision.
    pub name: String,
    pub comment: Option<String>,
}

/// Accepts or declines the quote behind a private link: accepting freezes it and completes
/// the order's step it waits on; either answer goes into the order's history and webhooks.
pub async fn answer(app: &App, token: &str, answer: QuoteAnswer) -> AppResult<PublicQuote> {
    let accept = match answer.decision.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(AppError::invalid("/decision", "accept or decline")),
    };
    let name = answer.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid("/name", "1 to 200 characters"));
    }
    if answer
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return Err(AppError::invalid("/comment", "at most 2,000 characters"));
    }
    let found = by_token(app, token).await?;
    let tenant = found.tenant_id;
    let today = billing::today_of(&app.db, tenant).await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let mut quote = store::get_quote(tx.conn(), tenant, found.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if quote.token_hash != found.token_hash {
        return Err(AppError::NotFound);
    }
    let status = invoicing::answer_quote(quote.status, quote.valid_until, today, accept).map_err(
        |e| match e {
            QuoteError::Expired { .. } => AppError::Unprocessable {
                code: codes::QUOTE_EXPIRED,
                detail: e.to_string(),
            },
            QuoteError::Answered { .. } | QuoteError::NotSent => AppError::Conflict {
                code: codes::QUOTE_ANSWERED,
                detail: e.to_string(),
            },
        },
    )?;
    let expected = quote.version;
    quote.status = status;
    quote.decided_at = Some(now);
    quote.decision_name = Some(name.clone());
    quote.decision_comment = answer.comment;
    if !store::update_quote(tx.conn(), &quote, expected, now).await? {
        return Err(AppError::Conflict {
            code: codes::QUOTE_ANSWERED,
            detail: "the quote changed meanwhile; reload it".to_owned(),
        });
    }
    quote.version = expected + 1;
    record_answer(app, &mut tx, &quote, &name, accept, now).await?;
    let view = public_on(tx.conn(), now, quote).await?;
    tx.commit().await?;
    Ok(view)
}

/// The answer in the order's history and webhooks; accepting completes the waiting step.
async fn record_answer(
    app: &App,
    tx: &mut WriteTx,
    quote: &QuoteRecord,
    name: &str,
    accept: bool,
    now: DateTime<Utc>,
) -> AppResult<()> {
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
        work_orders::load_for_update(tx.conn(), &app.db, tenant, quote.work_order_id).await?
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
