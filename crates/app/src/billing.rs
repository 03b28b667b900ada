//! The application layer for billing: drafts from orders, issuing with gap-free numbers and
//! the e-invoice renderings, the effects on the order, and customer e-mail.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use workorders_domain::billing::{self as calc, Computed, InvoiceStatus, LineInput, TaxTreatment};
use workorders_domain::invoicing::{self, BillingProfile, LifecycleError, QuoteStatus};
use workorders_domain::process::Handling;
use workorders_domain::work_order::Command;
use workorders_domain::{StepId, TenantId, WorkOrderId};
use workorders_einvoice as einvoice;
use workorders_mail::templates::{self, Lang, TemplateKind};
use workorders_persistence::billing::{self as store, InvoiceRecord};
use workorders_persistence::emails::{self, AttachmentRef, EmailRecord};
use workorders_persistence::tenants::TenantRecord;
use workorders_persistence::work_orders::{self, ActorRef, WorkOrderRecord};
use workorders_persistence::{Conn, Db, WriteTx, customers, sync, tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::workflow::{self, DbAssigner};

/// The buyer as printed on the document (a snapshot: later changes to the customer do not
/// change issued invoices).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Buyer {
    pub name: String,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub vat_id: Option<String>,
    pub email: Option<String>,
    /// Leitweg-ID of public-sector buyers (BT-10); with it an XRechnung is produced.
    pub buyer_reference: Option<String>,
}

/// The tenant's billing profile and its version (`None`: never saved).
pub async fn load_profile(
    conn: &mut Conn,
    tenant: TenantId,
) -> AppResult<(BillingProfile, Option<i64>)> {
    Ok(match store::get_profile(conn, tenant).await? {
        Some(r) => (r.profile, Some(r.version)),
        None => (BillingProfile::default(), None),
    })
}

/// Refuses invoicing until the profile has what an invoice must show.
pub fn require_complete(profile: &BillingProfile) -> AppResult<()> {
    let missing = profile.missing();
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::Unprocessable {
        code: codes::BILLING_PROFILE_INCOMPLETE,
        detail: format!(
            "the billing profile is incomplete (missing: {}); complete it with PUT /v1/billing-profile",
            missing.join(", ")
        ),
    })
}

pub fn lifecycle_error(e: LifecycleError) -> AppError {
    match e {
        LifecycleError::InvalidTransition { action, current } => AppError::InvalidTransition {
            detail: format!("cannot {action} an invoice that is {current}"),
            current_state: current.to_owned(),
            allowed_actions: Vec::new(),
        },
        other => AppError::Unprocessable {
            code: codes::INVALID_PAYMENT,
            detail: other.to_string(),
        },
    }
}

/// Integer cents of an amount with at most two decimals.
pub fn cents(amount: Decimal) -> AppResult<i64> {
    (amount * Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .ok_or_else(|| AppError::Unprocessable {
            code: codes::AMOUNT_TOO_LARGE,
            detail: "the amount is too large".to_owned(),
        })
}

/// An amount of cents for people: `1.234,56 €` (German) or `€1,234.56`.
pub fn money(cents: i64, english: bool) -> String {
    let negative = cents < 0;
    let abs = cents.unsigned_abs();
    let (units, rest) = (abs / 100, abs % 100);
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(if english { ',' } else { '.' });
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    if english {
        format!("{sign}€{grouped}.{rest:02}")
    } else {
        format!("{sign}{grouped},{rest:02} €")
    }
}

pub fn lang_of(profile: &BillingProfile) -> Lang {
    if profile.english() {
        Lang::En
    } else {
        Lang::De
    }
}

/// Formats a date as the customer reads it.
pub fn local_date(date: NaiveDate, english: bool) -> String {
    if english {
        date.format("%Y-%m-%d").to_string()
    } else {
        date.format("%d.%m.%Y").to_string()
    }
}

/// The buyer block from the customer, with the order's site as the address when the
/// customer has no billing address.
pub async fn buyer_for(db: &Db, order: &WorkOrderRecord) -> AppResult<Buyer> {
    let customer = customers::get(db, order.tenant_id, order.customer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut buyer = Buyer {
        name: customer.name.clone(),
        street: customer.billing_address.street.clone(),
        postal_code: customer.billing_address.postal_code.clone(),
        city: customer.billing_address.city.clone(),
        country: customer
            .billing_address
            .country
            .clone()
            .unwrap_or_else(|| "DE".to_owned()),
        vat_id: customer.vat_id.clone(),
        email: customer.email.clone(),
        buyer_reference: customer.buyer_reference.clone(),
    };
    if buyer.street.is_none() || buyer.city.is_none() {
        let sites = customers::list_sites(db, order.tenant_id, order.customer_id).await?;
        if let Some(site) = sites.iter().find(|s| s.id == order.site_id) {
            buyer.street = Some(site.street.clone());
            buyer.postal_code = Some(site.postal_code.clone());
            buyer.city = Some(site.city.clone());
            buyer.country = site.country.clone();
        }
    }
    Ok(buyer)
}

/// The tax treatment the tenant and the buyer call for: §19 for small businesses, reverse
/// charge when asked for and the buyer has a VAT id.
pub fn treatment_for(
    profile: &BillingProfile,
    buyer: &Buyer,
    requested: Option<TaxTreatment>,
) -> AppResult<TaxTreatment> {
    if profile.small_business {
        return Ok(TaxTreatment::SmallBusiness);
    }
    match requested {
        Some(TaxTreatment::ReverseCharge) if buyer.vat_id.is_none() => Err(AppError::invalid(
            "/treatment",
            "reverse charge needs the customer's VAT id (set vat_id on the customer)",
        )),
        Some(TaxTreatment::SmallBusiness) => Err(AppError::invalid(
            "/treatment",
            "small_business follows from the billing profile",
        )),
        Some(t) => Ok(t),
        None => Ok(TaxTreatment::Regular),
    }
}

/// Computes a document, mapping line errors to 422 with a pointer.
pub fn compute(lines: &[LineInput], treatment: TaxTreatment, pointer: &str) -> AppResult<Computed> {
    calc::compute(lines, treatment).map_err(|e| match e {
        calc::BillingError::InvalidLine {
            index,
            field,
            message,
        } => AppError::invalid(&format!("{pointer}/{index}/{field}"), message),
        other => AppError::invalid(pointer, other.to_string()),
    })
}

/// Where a draft's lines came from.
pub struct OrderLines {
    pub lines: Vec<LineInput>,
    /// `quote` or `field`.
    pub source: &'static str,
}

/// The lines an order is invoiced with: the accepted quote's, else the time logged in the
/// field × the labour rate of the person's role or skill, plus the materials used (priced
/// from the catalogue by item code).
pub async fn lines_from_order(db: &Db, order: &WorkOrderRecord) -> AppResult<OrderLines> {
    let tenant = order.tenant_id;
    let mut conn = db.acquire().await?;
    let quotes = store::quotes_of_order(&mut conn, tenant, order.order.id).await?;
    if let Some(q) = quotes
        .iter()
        .rev()
        .find(|q| q.status == QuoteStatus::Accepted)
    {
        return Ok(OrderLines {
            lines: q.lines.clone(),
            source: "quote",
        });
    }
    let catalogue = store::active_items(&mut conn, tenant).await?;
    drop(conn);
    let entries = sync::entries(db, tenant, order.order.id).await?;
    let mut minutes: BTreeMap<workorders_domain::UserId, i64> = BTreeMap::new();
    let mut materials: Vec<LineInput> = Vec::new();
    let mut unpriced: Vec<String> = Vec::new();
    // Money is never guessed: a value that cannot be read stops the invoice (the billing
    // step is blocked, the order flagged and its responsible person told) instead of
    // becoming zero.
    let unreadable = |what: String| AppError::Unprocessable {
        code: codes::INVALID_BILLING_DATA,
        detail: format!("{what}; correct it (or create the draft with lines) before invoicing"),
    };
    for e in &entries {
        match e.kind.as_str() {
            "time" => {
                let instant = |k: &str| {
                    e.data
                        .get(k)
                        .and_then(|v| v.as_str())
                        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                };
                let (Some(s), Some(t)) = (instant("start"), instant("end")) else {
                    return Err(unreadable(format!(
                        "the time entry {} has no readable start and end",
                        e.id
                    )));
                };
                if t < s {
                    return Err(unreadable(format!(
                        "the time entry {} ends before it starts",
                        e.id
                    )));
                }
                *minutes.entry(e.user_id).or_default() += (t - s).num_minutes();
            }
            "material" => {
                let text = |k: &str| {
                    e.data
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                let description = text("description");
                let code = text("item_code");
                let item = catalogue
                    .iter()
                    .find(|i| !code.is_empty() && i.code == code && i.kind != "labour");
                let quantity = text("quantity").parse::<Decimal>().map_err(|_| {
                    unreadable(format!(
                        "the material entry {} ({description}) has no readable quantity ({:?})",
                        e.id,
                        text("quantity")
                    ))
                })?;
                match item {
                    Some(item) => materials.push(LineInput {
                        name: item.name.clone(),
                        description: (description != item.name).then_some(description),
                        quantity,
                        unit: text("unit"),
                        unit_price: decimal_of(&item.unit_price).ok_or_else(|| {
                            unreadable(format!(
                                "the catalogue item {} has no readable price ({:?})",
                                item.code, item.unit_price
                            ))
                        })?,
                        vat_rate: decimal_of(&item.vat_rate).ok_or_else(|| {
                            unreadable(format!(
                                "the catalogue item {} has no readable VAT rate ({:?})",
                                item.code, item.vat_rate
                            ))
                        })?,
                    }),
                    None => unpriced.push(if code.is_empty() {
                        description
                    } else {
                        format!("{description} ({code})")
                    }),
                }
            }
            _ => {}
        }
    }
    if !unpriced.is_empty() {
        return Err(AppError::Unprocessable {
            code: codes::UNPRICED_MATERIAL,
            detail: format!(
                "materials without a catalogue price: {}; add them to the catalogue or create the draft with lines",
                unpriced.join("; ")
            ),
        });
    }
    let mut lines = Vec::new();
    for (user_id, total) in minutes {
        if total == 0 {
            continue;
        }
        let user = users::get(db, tenant, user_id).await?;
        let (name, role, skills) = match &user {
            Some(u) => (u.name.clone(), u.role.to_string(), u.skills.clone()),
            None => ("—".to_owned(), String::new(), Vec::new()),
        };
        let labour = catalogue.iter().filter(|i| i.kind == "labour");
        let rate = labour
            .clone()
            .find(|i| i.skill.as_ref().is_some_and(|s| skills.contains(s)))
            .or_else(|| labour.clone().find(|i| i.role.as_deref() == Some(role.as_str())))
            .or_else(|| labour.clone().find(|i| i.role.is_none() && i.skill.is_none()))
            .ok_or_else(|| AppError::Unprocessable {
                code: codes::MISSING_LABOUR_RATE,
                detail: format!(
                    "no labour rate in the catalogue for {name} (role {role}); add a labour item for the role, a skill, or a general one"
                ),
            })?;
        let hours = (Decimal::from(total) / Decimal::from(60)).round_dp(2);
        lines.push(LineInput {
            name: rate.name.clone(),
            description: Some(name),
            quantity: hours,
            unit: "HUR".to_owned(),
            unit_price: decimal_of(&rate.unit_price).ok_or_else(|| {
                unreadable(format!(
                    "the labour rate {} has no readable price ({:?})",
                    rate.code, rate.unit_price
                ))
            })?,
            vat_rate: decimal_of(&rate.vat_rate).ok_or_else(|| {
                unreadable(format!(
                    "the labour rate {} has no readable VAT rate ({:?})",
                    rate.code, rate.vat_rate
                ))
            })?,
        });
    }
    lines.extend(materials);
    if lines.is_empty() {
        return Err(AppError::Unprocessable {
            code: codes::NOTHING_TO_INVOICE,
            detail: "the order has no accepted quote and no time or material from the field; create the draft with lines".to_owned(),
        });
    }
    Ok(OrderLines {
        lines,
        source: "field",
    })
}

/// A stored decimal (a price, a rate), or `None` when it cannot be read.
fn decimal_of(text: &str) -> Option<Decimal> {
    text.trim().parse().ok()
}

/// What a draft is made of.
pub struct DraftSpec {
    pub lines: Vec<LineInput>,
    pub treatment: TaxTreatment,
    /// `quote`, `field` or `manual`.
    pub source: String,
    pub delivery_date: NaiveDate,
    pub notes: Option<String>,
}

/// A new draft invoice for an order (not yet written).
pub fn new_draft(
    order: &WorkOrderRecord,
    buyer: &Buyer,
    spec: DraftSpec,
    now: DateTime<Utc>,
) -> AppResult<InvoiceRecord> {
    let DraftSpec {
        lines,
        treatment,
        source,
        delivery_date,
        notes,
    } = spec;
    let computed = compute(&lines, treatment, "/lines")?;
    let grand_total = cents(computed.totals.grand_total)?;
    Ok(InvoiceRecord {
        id: Uuid::now_v7(),
        tenant_id: order.tenant_id,
        work_order_id: Some(order.order.id),
        customer_id: order.customer_id,
        kind: "invoice".to_owned(),
        status: InvoiceStatus::Draft,
        number: None,
        source,
        treatment,
        currency: "EUR".to_owned(),
        issue_date: None,
        due_date: None,
        delivery_date,
        buyer_reference: buyer.buyer_reference.clone(),
        notes,
        buyer: serde_json::to_value(buyer).map_err(AppError::internal)?,
        seller: None,
        lines,
        computed,
        grand_total,
        paid_total: 0,
        corrects_id: None,
        credited_by_id: None,
        pdf_key: None,
        pdf_sha256: None,
        version: 1,
        created_at: now,
        updated_at: now,
        issued_at: None,
        sent_at: None,
        paid_at: None,
        cancelled_at: None,
    })
}

/// The delivery date (BT-72) of an order's work: the tenant's calendar day on which its last
/// step finished, else the tenant's today. Work finished at 00:30 in Berlin is delivered that
/// day, not the day before (which is still the date in UTC).
pub fn delivery_date_of(order: &WorkOrderRecord, tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    order
        .order
        .steps
        .iter()
        .filter_map(|s| s.finished_at)
        .max()
        .unwrap_or(now)
        .with_timezone(&tz)
        .date_naive()
}

/// The tenant's time zone: every business date on its documents is a day there.
pub async fn time_zone(conn: &mut Conn, tenant: TenantId) -> AppResult<Tz> {
    let t = tenants::get_in(conn, tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(t.time_zone.tz())
}

/// The tenant's calendar day now.
pub async fn today(conn: &mut Conn, tenant: TenantId, now: DateTime<Utc>) -> AppResult<NaiveDate> {
    Ok(now
        .with_timezone(&time_zone(conn, tenant).await?)
        .date_naive())
}

/// The tenant's calendar day now, on a pooled connection (outside a transaction).
pub async fn today_of(db: &Db, tenant: TenantId) -> AppResult<NaiveDate> {
    let mut conn = db.acquire().await?;
    today(&mut conn, tenant, db.now()).await
}

fn buyer_of(invoice: &InvoiceRecord) -> AppResult<Buyer> {
    serde_json::from_value(invoice.buyer.clone()).map_err(AppError::internal)
}

fn party_of_buyer(b: &Buyer) -> einvoice::Party {
    einvoice::Party {
        name: b.name.clone(),
        street: b.street.clone().unwrap_or_default(),
        postcode: b.postal_code.clone().unwrap_or_default(),
        city: b.city.clone().unwrap_or_default(),
        country: b.country.clone(),
        vat_id: b.vat_id.clone(),
        tax_number: None,
        email: b.email.clone(),
        contact: None,
    }
}

fn party_of_seller(p: &BillingProfile) -> einvoice::Party {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    einvoice::Party {
        name: text(&p.legal_name),
        street: text(&p.street),
        postcode: text(&p.postal_code),
        city: text(&p.city),
        country: p.country().to_owned(),
        vat_id: p.vat_id.clone(),
        tax_number: p.tax_number.clone(),
        email: p.contact_email.clone(),
        contact: Some(einvoice::Contact {
            name: text(&p.contact_name),
            phone: text(&p.contact_phone),
            email: text(&p.contact_email),
        }),
    }
}

/// The e-invoice document of an invoice being issued.
#[allow(clippy::too_many_arguments)]
fn document(
    invoice: &InvoiceRecord,
    profile: &BillingProfile,
    number: &str,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    order_number: Option<String>,
    preceding: Option<(String, NaiveDate)>,
) -> AppResult<einvoice::Document> {
    let buyer = buyer_of(invoice)?;
    let english = profile.english();
    let terms = match (due_date, english) {
        (Some(due), false) => format!(
            "Zahlbar ohne Abzug bis {} ({} Tage).",
            local_date(due, false),
            profile.payment_terms_days()
        ),
        (Some(due), true) => format!(
            "Payable without deduction by {} ({} days).",
            local_date(due, true),
            profile.payment_terms_days()
        ),
        (None, false) => "Der Betrag wird Ihnen erstattet.".to_owned(),
        (None, true) => "The amount will be refunded to you.".to_owned(),
    };
    let kind = if invoice.kind == "credit_note" {
        einvoice::DocumentKind::CreditNote
    } else {
        einvoice::DocumentKind::Invoice
    };
    Ok(einvoice::Document {
        kind,
        number: number.to_owned(),
        issue_date,
        due_date,
        delivery_date: invoice.delivery_date,
        currency: invoice.currency.clone(),
        buyer_reference: invoice.buyer_reference.clone(),
        seller_order_reference: order_number,
        preceding_invoice: preceding,
        seller: party_of_seller(profile),
        buyer: party_of_buyer(&buyer),
        payment: einvoice::PaymentInfo {
            iban: invoicing::iban_compact(profile.iban.as_deref().unwrap_or_default()),
            bic: profile.bic.clone(),
            account_name: profile.legal_name.clone(),
            terms,
            reference: number.to_owned(),
        },
        notes: invoice.notes.iter().cloned().collect(),
        computed: invoice.computed.clone(),
    })
}

/// The PDF of a quote for its customer: the quote's lines and totals, valid until its
/// date, on the company's letterhead (no bank details, no e-invoice).
pub async fn quote_pdf(
    quote: &store::QuoteRecord,
    profile: &BillingProfile,
    buyer: &Buyer,
    order_number: &str,
    issue_date: NaiveDate,
) -> AppResult<Vec<u8>> {
    let english = profile.english();
    let terms = if english {
        format!(
            "This quote is valid until {}.",
            local_date(quote.valid_until, true)
        )
    } else {
        format!(
            "Dieses Angebot ist gültig bis {}.",
            local_date(quote.valid_until, false)
        )
    };
    let doc = einvoice::Document {
        kind: einvoice::DocumentKind::Quote,
        number: quote.number.clone(),
        issue_date,
        due_date: Some(quote.valid_until),
        delivery_date: issue_date,
        currency: "EUR".to_owned(),
        buyer_reference: None,
        seller_order_reference: Some(order_number.to_owned()),
        preceding_invoice: None,
        seller: party_of_seller(profile),
        buyer: party_of_buyer(buyer),
        payment: einvoice::PaymentInfo {
            iban: String::new(),
            bic: None,
            account_name: None,
            terms,
            reference: quote.number.clone(),
        },
        notes: quote.notes.iter().cloned().collect(),
        computed: quote.computed.clone(),
    };
    let lang = if english {
        einvoice::Lang::En
    } else {
        einvoice::Lang::De
    };
    tokio::task::spawn_blocking(move || einvoice::render_quote_pdf(&doc, lang))
        .await
        .map_err(AppError::internal)?
        .map_err(render_error)
}

fn render_error(e: einvoice::EinvoiceError) -> AppError {
    match e {
        einvoice::EinvoiceError::Missing(field) => AppError::Unprocessable {
            code: codes::EINVOICE_INCOMPLETE,
            detail: format!("the e-invoice cannot be produced without {field}"),
        },
        other => AppError::internal(anyhow::anyhow!("e-invoice rendering failed: {other}")),
    }
}

/// Issues a draft inside `tx`: takes the next number of its series (in the transaction, so
/// a failure burns none), renders the CII XML, the XRechnung (when the buyer has a Leitweg-ID)
/// and the PDF/A-3 with the XML embedded, stores them, and marks the invoice issued.
pub async fn issue_in(
    state: &App,
    tx: &mut WriteTx,
    invoice: &mut InvoiceRecord,
    preceding: Option<(String, NaiveDate)>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let tenant = invoice.tenant_id;
    let (profile, _) = load_profile(tx.conn(), tenant).await?;
    require_complete(&profile)?;
    let status = invoicing::issue(invoice.status).map_err(lifecycle_error)?;
    let today = today(tx.conn(), tenant, now).await?;
    let credit = invoice.kind == "credit_note";
    let (pattern, series) = if credit {
        (profile.credit_note_pattern(), "credit_note")
    } else {
        (profile.invoice_pattern(), "invoice")
    };
    let period: i32 = pattern.period(today).replace('-', "").parse().unwrap_or(0);
    let seq = work_orders::next_number(tx.conn(), tenant, series, period).await?;
    let number = pattern.format(today, u64::try_from(seq).unwrap_or_default());
    let due_date =
        (!credit).then(|| today + Duration::days(i64::from(profile.payment_terms_days())));
    let order_number = match invoice.work_order_id {
        Some(id) => work_orders::number_of(tx.conn(), tenant, id).await?,
        None => None,
    };
    let doc = document(
        invoice,
        &profile,
        &number,
        today,
        due_date,
        order_number,
        preceding,
    )?;
    let cii = einvoice::to_cii(&doc, einvoice::Profile::En16931).map_err(render_error)?;
    let xrechnung = if invoice.buyer_reference.is_some() {
        let xml = einvoice::to_cii(&doc, einvoice::Profile::XRechnung).map_err(|e| match e {
            einvoice::EinvoiceError::Missing(field) => AppError::Unprocessable {
                code: codes::EINVOICE_INCOMPLETE,
                detail: format!(
                    "the customer has a Leitweg-ID, so an XRechnung is due, and it needs {field}; add it (to the customer or the billing profile) and issue again"
                ),
            },
            other => render_error(other),
        })?;
        Some(xml)
    } else {
        None
    };
    let lang = if profile.english() {
        einvoice::Lang::En
    } else {
        einvoice::Lang::De
    };
    let xml = cii.clone();
    let pdf = tokio::task::spawn_blocking(move || einvoice::render_pdf(&doc, lang, &xml))
        .await
        .map_err(AppError::internal)?
        .map_err(render_error)?;
    let sha = crate::tokens::sha256_bytes_hex(&pdf);
    let key = crate::blobs::store_bytes(state, tenant, &sha, pdf).await?;
    let seller = serde_json::to_value(&profile).map_err(AppError::internal)?;
    let issued = store::Issued {
        number: &number,
        issue_date: today,
        due_date,
        seller: &seller,
        cii_xml: &cii,
        xrechnung_xml: xrechnung.as_deref(),
        pdf_key: &key,
        pdf_sha256: &sha,
    };
    if !store::mark_issued(tx.conn(), tenant, invoice.id, invoice.version, &issued, now).await? {
        return Err(AppError::Stale {
            current_version: invoice.version + 1,
        });
    }
    invoice.status = status;
    invoice.number = Some(number.clone());
    invoice.issue_date = Some(today);
    invoice.due_date = due_date;
    invoice.seller = Some(seller);
    invoice.pdf_key = Some(key);
    invoice.pdf_sha256 = Some(sha);
    invoice.issued_at = Some(now);
    invoice.updated_at = now;
    invoice.version += 1;
    tx.emit(tenant, "invoice.issued", invoice_event(invoice));
    Ok(())
}

/// The webhook payload of an invoice event.
pub fn invoice_event(invoice: &InvoiceRecord) -> serde_json::Value {
    serde_json::json!({
        "invoice_id": invoice.id,
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status.as_str(),
        "work_order_id": invoice.work_order_id,
        "customer_id": invoice.customer_id,
        "grand_total_cents": invoice.grand_total,
        "paid_total_cents": invoice.paid_total,
        "currency": invoice.currency,
    })
}

/// What an order does when its invoice was issued: active `create_invoice` steps complete,
/// a completed order becomes invoiced.
pub async fn after_issue(
    tx: &mut WriteTx,
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
    now: DateTime<Utc>,
) -> AppResult<()> {
    complete_steps(tx, db, tenant, order, Handling::CreateInvoice, now).await?;
    store::settle_jobs(tx.conn(), tenant, order, "create_invoice", now).await?;
    settle_order(tx, db, tenant, order, now).await
}

/// Completes the order's active steps with `handling` on the system's behalf.
pub async fn complete_steps(
    tx: &mut WriteTx,
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
    handling: Handling,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(mut record) = work_orders::load_for_update(tx.conn(), db, tenant, order).await? else {
        return Ok(());
    };
    let steps: Vec<StepId> = record
        .order
        .steps
        .iter()
        .filter(|s| s.status.is_open() && s.definition.handling == handling)
        .map(|s| s.id)
        .collect();
    if steps.is_empty() {
        return Ok(());
    }
    let mut assigner = DbAssigner::load(tx.conn(), tenant).await?;
    let mut events = Vec::new();
    for step in steps {
        match record
            .order
            .handle(Command::CompleteStep { step }, now, &mut assigner)
        {
            Ok(e) => events.extend(e),
            // An order on hold or a step still missing evidence keeps its step open.
            Err(e) => tracing::info!(order = %order, error = %e, "billing step left open"),
        }
    }
    if !events.is_empty() {
        workflow::persist(tx, &mut record, &events, &ActorRef::system(), now).await?;
        assigner.persist(tx.conn(), tenant).await?;
    }
    Ok(())
}

/// Moves the order along what its invoices say: completed with an issued invoice →
/// invoiced; invoiced with every invoice paid (or credited) → closed.
pub async fn settle_order(
    tx: &mut WriteTx,
    db: &Db,
    tenant: TenantId,
    order: WorkOrderId,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use workorders_domain::work_order::OrderStatus;
    let invoices = store::invoices_of_order(tx.conn(), tenant, order).await?;
    let issued: Vec<&InvoiceRecord> = invoices
        .iter()
        .filter(|i| i.kind == "invoice" && i.status != InvoiceStatus::Draft)
        .collect();
    if issued.is_empty() {
        return Ok(());
    }
    let all_settled = issued
        .iter()
        .all(|i| matches!(i.status, InvoiceStatus::Paid | InvoiceStatus::Cancelled));
    let any_paid = issued.iter().any(|i| i.status == InvoiceStatus::Paid);
    let Some(mut record) = work_orders::load_for_update(tx.conn(), db, tenant, order).await? else {
        return Ok(());
    };
    let mut assigner = DbAssigner::load(tx.conn(), tenant).await?;
    let mut events = Vec::new();
    let live = issued.iter().any(|i| i.status != InvoiceStatus::Cancelled);
    if record.order.status == OrderStatus::Completed && live {
        events.extend(
            record
                .order
                .handle(Command::MarkInvoiced, now, &mut assigner)
                .map_err(workflow::command_error)?,
        );
    }
    if record.order.status == OrderStatus::Invoiced && all_settled && any_paid {
        events.extend(
            record
                .order
                .handle(Command::Close, now, &mut assigner)
                .map_err(workflow::command_error)?,
        );
    }
    if !events.is_empty() {
        workflow::persist(tx, &mut record, &events, &ActorRef::system(), now).await?;
    }
    Ok(())
}

/// Common template variables: the company (its name, contacts and legal links; empty when
/// not set, so that the template's line with it is left out).
pub fn company_vars(
    profile: &BillingProfile,
    tenant: &TenantRecord,
    vars: &mut BTreeMap<&'static str, String>,
) {
    vars.insert(
        "company_name",
        profile
            .legal_name
            .clone()
            .unwrap_or_else(|| tenant.name.clone()),
    );
    vars.insert(
        "imprint_url",
        tenant.imprint_url.clone().unwrap_or_default(),
    );
    vars.insert(
        "privacy_url",
        tenant.privacy_url.clone().unwrap_or_default(),
    );
    vars.insert(
        "company_phone",
        profile.contact_phone.clone().unwrap_or_default(),
    );
    vars.insert(
        "company_email",
        profile.contact_email.clone().unwrap_or_default(),
    );
}

/// Renders the tenant's template for `kind` (its own, else the default) in its language.
pub async fn compose(
    conn: &mut Conn,
    tenant: TenantId,
    kind: TemplateKind,
    lang: Lang,
    vars: &BTreeMap<&'static str, String>,
) -> AppResult<(String, String)> {
    let template = match store::get_template(conn, tenant, kind.as_str(), lang.as_str()).await? {
        Some(own) if own.customized => templates::Template {
            subject: own.subject,
            body: own.body,
        },
        _ => templates::default_template(kind, lang),
    };
    let vars: BTreeMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.clone())).collect();
    templates::render(&template, &vars).map_err(|e| AppError::Unprocessable {
        code: codes::TEMPLATE_INVALID,
        detail: format!(
            "the {} e-mail template cannot be rendered: {e}",
            kind.as_str()
        ),
    })
}

/// Queues a message inside `tx`.
pub struct Outgoing {
    /// `invoice`, `quote`, ... (a template kind), or a staff notice (`step_overdue`, ...).
    pub kind: &'static str,
    pub to: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<AttachmentRef>,
    pub work_order_id: Option<WorkOrderId>,
    pub invoice_id: Option<Uuid>,
    pub quote_id: Option<Uuid>,
}

pub async fn queue_email(
    tx: &mut WriteTx,
    tenant: TenantId,
    reply_to: Option<String>,
    out: Outgoing,
    now: DateTime<Utc>,
) -> AppResult<EmailRecord> {
    let id = Uuid::now_v7();
    let record = EmailRecord {
        id,
        tenant_id: tenant,
        kind: out.kind.to_owned(),
        message_id: format!("{id}@workorders"),
        to_address: out.to,
        to_name: out.to_name,
        reply_to,
        subject: out.subject,
        body: out.body,
        attachments: out.attachments,
        work_order_id: out.work_order_id,
        invoice_id: out.invoice_id,
        quote_id: out.quote_id,
        status: "queued".to_owned(),
        attempts: 0,
        next_attempt_at: now,
        locked_until: None,
        last_error: None,
        created_at: now,
        sent_at: None,
    };
    emails::insert(tx, &record).await?;
    tx.notify_billing();
    Ok(record)
}

/// Queues the e-mail of an issued invoice or credit note with its PDF attached and a new
/// private link to its page (`<public_base_url>/invoices/<token>`; only the token's hash is
/// stored, with the link, in the same transaction).
pub async fn queue_invoice_email(
    tx: &mut WriteTx,
    invoice: &InvoiceRecord,
    to: Option<String>,
    public_base_url: &str,
    now: DateTime<Utc>,
) -> AppResult<EmailRecord> {
    let tenant = invoice.tenant_id;
    let buyer = buyer_of(invoice)?;
    let to = to
        .or_else(|| buyer.email.clone())
        .ok_or_else(|| AppError::Unprocessable {
            code: codes::NO_EMAIL_ADDRESS,
            detail: "the customer has no e-mail address; give `to` or add one to the customer"
                .to_owned(),
        })?;
    if !workorders_mail::valid_address(&to) {
        return Err(AppError::invalid("/to", "not a valid e-mail address"));
    }
    let (number, pdf_key) = match (&invoice.number, &invoice.pdf_key) {
        (Some(n), Some(k)) => (n.clone(), k.clone()),
        _ => {
            return Err(AppError::InvalidTransition {
                detail: "only issued invoices can be sent".to_owned(),
                current_state: invoice.status.as_str().to_owned(),
                allowed_actions: vec!["issue".to_owned()],
            });
        }
    };
    let (profile, _) = load_profile(tx.conn(), tenant).await?;
    let tenant_record = tenants::get_in(tx.conn(), tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let english = profile.english();
    let lang = lang_of(&profile);
    let mut vars = BTreeMap::new();
    company_vars(&profile, &tenant_record, &mut vars);
    vars.insert("customer_name", buyer.name.clone());
    let (order_number, order_title) = match invoice.work_order_id {
        Some(id) => work_orders::number_and_title(tx.conn(), tenant, id)
            .await?
            .unwrap_or_default(),
        None => Default::default(),
    };
    vars.insert("order_number", order_number);
    vars.insert("order_title", order_title);
    vars.insert("invoice_number", number.clone());
    vars.insert(
        "invoice_date",
        invoice
            .issue_date
            .map(|d| local_date(d, english))
            .unwrap_or_default(),
    );
    vars.insert(
        "due_date",
        invoice
            .due_date
            .map(|d| local_date(d, english))
            .unwrap_or_default(),
    );
    vars.insert(
        "amount_due",
        money(invoice.grand_total - invoice.paid_total, english),
    );
    vars.insert("iban", profile.iban.clone().unwrap_or_default());
    let token = crate::tokens::new_token("in_").map_err(AppError::internal)?;
    store::insert_invoice_link(
        tx.conn(),
        tenant,
        invoice.id,
        &crate::tokens::sha256_hex(&token),
        now,
    )
    .await?;
    vars.insert(
        "invoice_link",
        format!("{}/invoices/{token}", public_base_url.trim_end_matches('/')),
    );
    let kind = if invoice.kind == "credit_note" {
        TemplateKind::CreditNote
    } else {
        TemplateKind::Invoice
    };
    let (subject, body) = compose(tx.conn(), tenant, kind, lang, &vars).await?;
    let attachment = AttachmentRef {
        filename: format!("{}.pdf", number.replace(['/', '\\'], "-")),
        content_type: "application/pdf".to_owned(),
        blob_key: Some(pdf_key),
        text: None,
    };
    queue_email(
        tx,
        tenant,
        profile.contact_email.clone(),
        Outgoing {
            kind: kind.as_str(),
            to,
            to_name: Some(buyer.name),
            subject,
            body,
            attachments: vec![attachment],
            work_order_id: invoice.work_order_id,
            invoice_id: Some(invoice.id),
            quote_id: None,
        },
        now,
    )
    .await
}

/// The newest issued invoice (not a credit note, not cancelled) of an order.
pub fn latest_issued(invoices: &[InvoiceRecord]) -> Option<&InvoiceRecord> {
    invoices.iter().rev().find(|i| {
        i.kind == "invoice"
            && matches!(
                i.status,
                InvoiceStatus::Issued | InvoiceStatus::Sent | InvoiceStatus::Paid
            )
    })
}

/// How a calendar file changes the customer's calendar entry of an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUpdate {
    /// Adds or (with a higher SEQUENCE) replaces the entry.
    Publish { sequence: i64 },
    /// Removes the entry (`METHOD:CANCEL`, `STATUS:CANCELLED`).
    Cancel { sequence: i64 },
}

/// A one-event calendar (UTC times, no time-zone block needed) for a booking e-mail or the
/// booking's page. The UID is the appointment's, so each later file updates the same entry.
#[allow(clippy::too_many_arguments)]
pub fn booking_ics(
    uid: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    summary: &str,
    location: &str,
    organizer: &str,
    update: CalendarUpdate,
    now: DateTime<Utc>,
) -> String {
    use crate::ics::{fold, ics_text, ics_time};
    let (method, status, sequence) = match update {
        CalendarUpdate::Publish { sequence } => ("PUBLISH", "CONFIRMED", sequence),
        CalendarUpdate::Cancel { sequence } => ("CANCEL", "CANCELLED", sequence),
    };
    let mut body = String::new();
    for line in [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//workorders//booking confirmation//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("METHOD:{method}"),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{uid}@workorders"),
        format!("SEQUENCE:{sequence}"),
        format!("DTSTAMP:{}", ics_time(now)),
        format!("DTSTART:{}", ics_time(start)),
        format!("DTEND:{}", ics_time(end)),
        format!("SUMMARY:{}", ics_text(summary)),
        format!("LOCATION:{}", ics_text(location)),
        format!("DESCRIPTION:{}", ics_text(organizer)),
        format!("STATUS:{status}"),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ] {
        body.push_str(&fold(&line));
    }
    body
}

/// What a customer notice about an appointment needs.
pub struct AppointmentNotice<'a> {
    pub kind: TemplateKind,
    pub tenant_id: TenantId,
    pub work_order_id: WorkOrderId,
    pub appointment_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub service_name: &'a str,
    pub technician_name: &'a str,
    pub location: String,
    pub manage_link: String,
    /// The appointment's SEQUENCE (bumped by every change), for the calendar file.
    pub sequence: i64,
}

/// Queues a booking confirmation (with an `.ics`) or an on-the-way notice to the order's
/// customer, inside `tx`. Skipped when the customer has no e-mail address.
pub async fn queue_appointment_notice(
    tx: &mut WriteTx,
    notice: AppointmentNotice<'_>,
    now: DateTime<Utc>,
) -> AppResult<Option<EmailRecord>> {
    let tenant = notice.tenant_id;
    let Some((order_number, order_title, customer_id)) =
        work_orders::brief(tx.conn(), tenant, notice.work_order_id).await?
    else {
        return Ok(None);
    };
    let customer = customers::get_in(tx.conn(), tenant, customer_id).await?;
    let Some(customer) = customer else {
        return Ok(None);
    };
    let Some(to) = customer
        .email
        .clone()
        .filter(|e| workorders_mail::valid_address(e))
    else {
        return Ok(None);
    };
    let (profile, _) = load_profile(tx.conn(), tenant).await?;
    let tenant_record = tenants::get_in(tx.conn(), tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let tz = tenant_record.time_zone.tz();
    let english = profile.english();
    let local = |t: DateTime<Utc>, with_date: bool| {
        let l = t.with_timezone(&tz);
        match (with_date, english) {
            (true, false) => l.format("%d.%m.%Y %H:%M Uhr").to_string(),
            (true, true) => l.format("%Y-%m-%d %H:%M").to_string(),
            (false, _) => l.format("%H:%M").to_string(),
        }
    };
    let mut vars = BTreeMap::new();
    company_vars(&profile, &tenant_record, &mut vars);
    vars.insert("customer_name", customer.name.clone());
    vars.insert("order_number", order_number.clone());
    vars.insert("order_title", order_title.clone());
    vars.insert("service_name", notice.service_name.to_owned());
    vars.insert("start_local", local(notice.start, true));
    vars.insert("manage_link", notice.manage_link.clone());
    vars.insert("technician_name", notice.technician_name.to_owned());
    vars.insert(
        "window_local",
        format!(
            "{} – {}",
            local(notice.start, true),
            local(notice.end, false)
        ),
    );
    let (subject, body) = compose(tx.conn(), tenant, notice.kind, lang_of(&profile), &vars).await?;
    let update = match notice.kind {
        TemplateKind::BookingConfirmation | TemplateKind::BookingRescheduled => {
            Some(CalendarUpdate::Publish {
                sequence: notice.sequence,
            })
        }
        TemplateKind::BookingCancelled => Some(CalendarUpdate::Cancel {
            sequence: notice.sequence,
        }),
        _ => None,
    };
    let attachments = match update {
        Some(update) => {
            let company = vars.get("company_name").cloned().unwrap_or_default();
            let method = match update {
                CalendarUpdate::Publish { .. } => "PUBLISH",
                CalendarUpdate::Cancel { .. } => "CANCEL",
            };
            vec![AttachmentRef {
                filename: "termin.ics".to_owned(),
                content_type: format!("text/calendar; method={method}; charset=utf-8"),
                blob_key: None,
                text: Some(booking_ics(
                    &notice.appointment_id.to_string(),
                    notice.start,
                    notice.end,
                    &format!("{} – {company}", notice.service_name),
                    &notice.location,
                    &format!("{order_number} {order_title}"),
                    update,
                    now,
                )),
            }]
        }
        None => Vec::new(),
    };
    let mail = queue_email(
        tx,
        tenant,
        profile.contact_email.clone(),
        Outgoing {
            kind: notice.kind.as_str(),
            to,
            to_name: Some(customer.name),
            subject,
            body,
            attachments,
            work_order_id: Some(notice.work_order_id),
            invoice_id: None,
            quote_id: None,
        },
        now,
    )
    .await?;
    Ok(Some(mail))
}

/// A payment received.
pub struct Payment {
    pub cents: i64,
    pub paid_on: NaiveDate,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub recorded_by: Option<String>,
}

/// Records a payment inside `tx`: more than is open is refused; paid in full, the invoice
/// is `paid` and an invoiced order closes.
pub async fn record_payment_in(
    tx: &mut WriteTx,
    db: &Db,
    invoice: &mut InvoiceRecord,
    payment: Payment,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if invoice.kind == "credit_note" {
        return Err(AppError::InvalidTransition {
            detail: "payments are recorded on invoices, not credit notes".to_owned(),
            current_state: invoice.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let (status, paid) = invoicing::pay(
        invoice.status,
        invoice.grand_total,
        invoice.paid_total,
        payment.cents,
    )
    .map_err(lifecycle_error)?;
    let expected = invoice.version;
    invoice.status = status;
    invoice.paid_total = paid;
    if status == InvoiceStatus::Paid {
        invoice.paid_at = Some(now);
    }
    if !store::update_state(tx.conn(), invoice, expected, now).await? {
        return Err(AppError::Stale {
            current_version: expected + 1,
        });
    }
    store::insert_payment(
        tx.conn(),
        &store::PaymentRecord {
            id: Uuid::now_v7(),
            tenant_id: invoice.tenant_id,
            invoice_id: invoice.id,
            paid_on: payment.paid_on,
            amount: payment.cents,
            method: payment.method,
            reference: payment.reference,
            recorded_by: payment.recorded_by,
            created_at: now,
        },
    )
    .await?;
    invoice.version = expected + 1;
    invoice.updated_at = now;
    if status == InvoiceStatus::Paid {
        tx.emit(invoice.tenant_id, "invoice.paid", invoice_event(invoice));
        if let Some(order) = invoice.work_order_id {
            settle_order(tx, db, invoice.tenant_id, order, now).await?;
        }
    }
    Ok(())
}
