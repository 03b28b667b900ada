//! The billing and e-mail worker, in every instance: does the automated billing steps
//! (`create_invoice`: draft + issue; `send_invoice`: queue the e-mail) and sends queued
//! e-mails over SMTP. Jobs and messages are claimed with a lease, so several instances share
//! the work and a crashed one's work is taken over when its lease runs out.
//!
//! What a crash does at each point of sending one e-mail:
//! - before the claim: the message stays `queued`; any instance sends it.
//! - after the claim, before the SMTP server accepted it: the lease runs out and another
//!   worker (or this one after a restart) sends it; the customer gets it once.
//! - after the SMTP server accepted it, before the outcome is recorded: the one window
//!   SMTP leaves open (it has no two-phase commit). The message goes out again when its
//!   lease runs out, with the same `Message-ID`, so mail clients show it once. Database
//!   errors in this window do not open it: recording is retried for four fifths of the
//!   lease ([`record_outcome`]).
//! - after the outcome is recorded: nothing is repeated. The status and what follows from
//!   it (invoice `sent` with `invoice.sent`, or `email.failed`) are one commit.

use tokio::sync::watch;
use workorders_domain::process::Handling;
use workorders_mail::{Attachment, Mail, Mailer, SendError};
use workorders_persistence::billing::{self as store, BillingJob};
use workorders_persistence::emails::{self, EmailRecord, Outcome};
use workorders_persistence::work_orders::{self, ActorRef, NewEvent};

use crate::App;
use crate::billing;
use crate::error::{AppError, AppResult};

/// Attempts of an automated billing step before it is left to the office.
const MAX_JOB_ATTEMPTS: i64 = 16;

pub async fn run_worker(state: App, mut shutdown: watch::Receiver<bool>) {
    let signal = state.db.work_signal();
    let settings = state.settings.mail.clone();
    let mailer = match settings.smtp.as_ref().map(Mailer::new) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            tracing::error!(error = %e, "SMTP settings are unusable; e-mails stay queued");
            None
        }
        None => None,
    };
    let lease = chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(2));
    loop {
        loop {
            let now = state.db.now();
            let jobs = match store::claim_jobs(&state.db, now, lease, 8).await {
                Ok((j, set_aside)) => {
                    for _ in 0..set_aside {
                        state.metrics.worker_error("billing", "unreadable_job");
                    }
                    if j.is_empty() && set_aside > 0 {
                        continue;
                    }
                    j
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not claim billing jobs");
                    break;
                }
            };
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                run_job(&state, &job).await;
            }
        }
        if let Some(mailer) = &mailer {
            loop {
                let now = state.db.now();
                let claimed = match emails::claim(&state.db, now, lease, 8).await {
                    Ok((c, set_aside)) => {
                        for _ in 0..set_aside {
                            state.metrics.worker_error("email", "unreadable_message");
                        }
                        if c.is_empty() && set_aside > 0 {
                            continue;
                        }
                        c
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not claim e-mails");
                        break;
                    }
                };
                if claimed.is_empty() {
                    break;
                }
                let sends = claimed.iter().map(|m| send_one(&state, mailer, m));
                futures_util::future::join_all(sends).await;
            }
        }
        if let Ok(queued) = emails::queued_count(&state.db).await {
            state.metrics.set_email_queue(queued);
        }
        tokio::select! {
            () = signal.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Retry delay after `attempts` failed attempts: 1 min, 5 min, 15 min, 1 h, then 2 h.
fn backoff(attempts: i64, scale: f64) -> chrono::Duration {
    let secs: f64 = match attempts {
        ..=1 => 60.0,
        2 => 300.0,
        3 => 900.0,
        4 => 3600.0,
        _ => 7200.0,
    };
    chrono::Duration::milliseconds((secs * scale * 1000.0) as i64)
}

async fn run_job(state: &App, job: &BillingJob) {
    let result = match job.kind.as_str() {
        "create_invoice" => create_invoice(state, job).await,
        "send_invoice" => send_invoice(state, job).await,
        "settle_order" => settle(state, job).await,
        other => Err(AppError::internal(anyhow::anyhow!(
            "unknown billing job {other}"
        ))),
    };
    if let Err(e) = result {
        let reason = match &e {
            AppError::Unprocessable { detail, .. } => detail.clone(),
            AppError::Validation(v) => format!("{v:?}"),
            AppError::InvalidTransition { detail, .. } => detail.clone(),
            AppError::Internal(err) => {
                tracing::error!(job = %job.id, error = ?err, "billing job failed");
                "internal error; see the server log".to_owned()
            }
            other => format!("{other:?}"),
        };
        tracing::info!(job = %job.id, kind = %job.kind, %reason, "billing job postponed");
        let at = state.db.now() + backoff(job.attempts, state.settings.mail.retry_scale);
        if job.attempts == 1 {
            record_blocked(state, job, &reason).await;
        }
        // After a day of retries the office does it by hand (the reason is in the history).
        let give_up = job.attempts >= MAX_JOB_ATTEMPTS;
        if let Err(e) = store::postpone_job(&state.db, job, at, &reason, give_up).await {
            tracing::warn!(error = %e, "could not postpone billing job");
        }
    }
}

/// Tells the order's history why the automated step could not run, flags the order and
/// e-mails the person responsible for the step (once per job), in one transaction.
async fn record_blocked(state: &App, job: &BillingJob, reason: &str) {
    let now = state.db.now();
    let result: AppResult<()> = async {
        let mut tx = state.db.begin_write().await?;
        let Some(mut order) =
            work_orders::load_for_update(tx.conn(), &state.db, job.tenant_id, job.work_order_id)
                .await?
        else {
            return Ok(());
        };
        let step = workorders_domain::StepId(job.step_id);
        let holder = order.order.step(step).and_then(|s| s.responsible);
        let mut assigner = crate::workflow::DbAssigner::load(tx.conn(), job.tenant_id).await?;
        let events = order
            .order
            .handle(
                workorders_domain::work_order::Command::Flag {
                    step,
                    reason: format!("the automated step could not run: {reason}"),
                },
                now,
                &mut assigner,
            )
            .map_err(crate::workflow::command_error)?;
        crate::workflow::persist(&mut tx, &mut order, &events, &ActorRef::system(), now).await?;
        work_orders::append_events(
            &mut tx,
            job.tenant_id,
            job.work_order_id,
            uuid::Uuid::now_v7(),
            &ActorRef::system(),
            now,
            &[NewEvent {
                event_type: format!("billing.{}_blocked", job.kind),
                data: serde_json::json!({ "reason": reason }),
            }],
        )
        .await?;
        if let Some(holder) = holder {
            let lang = crate::staff_mail::tenant_lang(tx.conn(), job.tenant_id).await?;
            for to in workorders_persistence::oversight::contacts(tx.conn(), job.tenant_id, &[holder])
                .await?
            {
                let (subject, body) = match lang {
                    workorders_mail::templates::Lang::De => (
                        format!("Rechnung nicht erstellt: {}", order.number),
                        format!(
                            "die Rechnung für den Auftrag {} ({}) konnte nicht automatisch erstellt werden:\n{reason}\n\nBitte prüfen Sie den Auftrag.",
                            order.number, order.title
                        ),
                    ),
                    workorders_mail::templates::Lang::En => (
                        format!("Invoice not created: {}", order.number),
                        format!(
                            "the invoice for order {} ({}) could not be created automatically:\n{reason}\n\nPlease look at the order.",
                            order.number, order.title
                        ),
                    ),
                };
                let mail = crate::staff_mail::StaffMail {
                    kind: "billing_blocked",
                    lang,
                    subject,
                    body,
                    work_order: Some(job.work_order_id),
                };
                let to = crate::staff_mail::Recipient {
                    name: to.name,
                    email: to.email,
                };
                crate::staff_mail::queue(&mut tx, job.tenant_id, &to, &mail, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        state.metrics.worker_error("billing", "record_blocked");
        tracing::warn!(error = ?e, "could not record a blocked billing job");
    }
}

/// `create_invoice`: a draft from the order (accepted quote, or time and material from the
/// field), issued at once, the step completed.
async fn create_invoice(state: &App, job: &BillingJob) -> AppResult<()> {
    let db = &state.db;
    let now = state.db.now();
    let order = work_orders::get(db, job.tenant_id, job.work_order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let step_open = order
        .order
        .steps
        .iter()
        .any(|s| s.id.0 == job.step_id && s.status.is_open());
    let mut tx = db.begin_write().await?;
    let invoices = store::invoices_of_order(tx.conn(), job.tenant_id, job.work_order_id).await?;
    if !step_open || billing::latest_issued(&invoices).is_some() {
        // Done by hand meanwhile (or the step was skipped): nothing to do but finish.
        if !store::finish_job(tx.conn(), job, now).await? {
            return Ok(());
        }
        billing::after_issue(&mut tx, db, job.tenant_id, job.work_order_id, now).await?;
        tx.commit().await?;
        return Ok(());
    }
    let (profile, _) = billing::load_profile(tx.conn(), job.tenant_id).await?;
    billing::require_complete(&profile)?;
    let tz = billing::time_zone(tx.conn(), job.tenant_id).await?;
    // A draft the office prepared is issued as it is; otherwise one is built.
    let mut invoice = match invoices.into_iter().rev().find(|i| {
        i.kind == "invoice" && i.status == workorders_domain::billing::InvoiceStatus::Draft
    }) {
        Some(draft) => draft,
        None => {
            drop(tx);
            let lines = billing::lines_from_order(db, &order).await?;
            let buyer = billing::buyer_for(db, &order).await?;
            let treatment = billing::treatment_for(&profile, &buyer, None)?;
            let draft = billing::new_draft(
                &order,
                &buyer,
                billing::DraftSpec {
                    lines: lines.lines,
                    treatment,
                    source: lines.source.to_owned(),
                    delivery_date: billing::delivery_date_of(&order, tz, now),
                    notes: None,
                },
                now,
            )?;
            tx = db.begin_write().await?;
            store::insert_invoice(tx.conn(), &draft).await?;
            draft
        }
    };
    // Finished first: the job must still be this worker's (another worker may have taken
    // it over after the lease); the order's other billing jobs settle below.
    if !store::finish_job(tx.conn(), job, now).await? {
        tracing::info!(job = %job.id, "lease lost; another worker owns the billing job");
        return Ok(());
    }
    billing::issue_in(state, &mut tx, &mut invoice, None, now).await?;
    billing::after_issue(&mut tx, db, job.tenant_id, job.work_order_id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// An order completed: invoiced if it has an issued invoice, closed if that is paid.
async fn settle(state: &App, job: &BillingJob) -> AppResult<()> {
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    billing::settle_order(&mut tx, &state.db, job.tenant_id, job.work_order_id, now).await?;
    if store::finish_job(tx.conn(), job, now).await? {
        tx.commit().await?;
    }
    Ok(())
}

/// `send_invoice`: the order's issued invoice goes to the customer; the step completes.
async fn send_invoice(state: &App, job: &BillingJob) -> AppResult<()> {
    let db = &state.db;
    let now = state.db.now();
    let mut tx = db.begin_write().await?;
    let invoices = store::invoices_of_order(tx.conn(), job.tenant_id, job.work_order_id).await?;
    let invoice =
        billing::latest_issued(&invoices)
            .cloned()
            .ok_or_else(|| AppError::Unprocessable {
                code: crate::error::codes::NOTHING_TO_INVOICE,
                detail: "the order has no issued invoice to send yet".to_owned(),
            })?;
    if !store::finish_job(tx.conn(), job, now).await? {
        return Ok(());
    }
    let already = emails::list_for(db, job.tenant_id, None, Some(invoice.id), None).await?;
    if already.is_empty() {
        billing::queue_invoice_email(
            &mut tx,
            &invoice,
            None,
            &state.settings.mail.public_base_url,
            now,
        )
        .await?;
    }
    billing::complete_steps(
        &mut tx,
        db,
        job.tenant_id,
        job.work_order_id,
        Handling::SendInvoice,
        now,
    )
    .await?;
    store::settle_jobs(
        tx.conn(),
        job.tenant_id,
        job.work_order_id,
        "send_invoice",
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn send_one(state: &App, mailer: &Mailer, message: &EmailRecord) {
    let settings = &state.settings.mail;
    let now = state.db.now();
    let outcome = match build(state, message).await {
        Err(e) => Outcome::Failed {
            error: format!("attachment unavailable: {e}"),
        },
        Ok(mail) => match mailer.send(&mail).await {
            Ok(()) => Outcome::Sent,
            Err(SendError::Permanent(reason)) => Outcome::Failed { error: reason },
            Err(SendError::Transient(reason)) => {
                if message.attempts >= i64::from(settings.max_attempts) {
                    Outcome::Failed {
                        error: format!("gave up after {} attempts: {reason}", message.attempts),
                    }
                } else {
                    Outcome::Retry {
                        at: now + backoff(message.attempts, settings.retry_scale),
                        error: reason,
                    }
                }
            }
        },
    };
    state.metrics.email_attempt(match &outcome {
        Outcome::Sent => "sent",
        Outcome::Retry { .. } => "retry",
        Outcome::Failed { .. } => "failed",
    });
    record_outcome(state, message, &outcome, now).await;
}

/// Records what happened to a message exactly once: its status and what follows from it
/// (the invoice marked `sent` with `invoice.sent`, or `email.failed` announced) in one
/// transaction, retried on database errors for most of the lease (four fifths). Only if
/// the database stays unusable that long does the message go out again once its lease has
/// run out (with the same Message-ID).
async fn record_outcome(
    state: &App,
    message: &EmailRecord,
    outcome: &Outcome,
    now: chrono::DateTime<chrono::Utc>,
) {
    let deadline = std::time::Instant::now() + state.settings.mail.lease.mul_f64(0.8);
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match record_once(state, message, outcome, now).await {
            Ok(true) => return,
            Ok(false) => {
                tracing::info!(email = %message.id, "lease lost; another worker owns the message");
                return;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                state.metrics.worker_error("email", "record_outcome");
                tracing::warn!(email = %message.id, error = ?e, "could not record an e-mail attempt; retrying");
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => {
                state
                    .metrics
                    .worker_error("email", "record_outcome_abandoned");
                tracing::error!(
                    email = %message.id, error = ?e,
                    "could not record an e-mail attempt; it goes out again when its lease ends"
                );
                return;
            }
        }
    }
}

async fn record_once(
    state: &App,
    m: &EmailRecord,
    outcome: &Outcome,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<bool> {
    let mut tx = state.db.begin_write().await?;
    if !emails::finish_in(tx.conn(), m, outcome, now).await? {
        return Ok(false);
    }
    match outcome {
        Outcome::Sent => {
            if let Some(invoice_id) = m.invoice_id {
                mark_invoice_sent(&mut tx, m.tenant_id, invoice_id, now).await?;
            }
        }
        Outcome::Failed { error } => {
            tx.emit(
                m.tenant_id,
                "email.failed",
                serde_json::json!({
                    "email_id": m.id,
                    "kind": m.kind,
                    "to": m.to_address,
                    "error": error,
                    "work_order_id": m.work_order_id,
                    "invoice_id": m.invoice_id,
                    "quote_id": m.quote_id,
                }),
            );
            if let Some(order) = m.work_order_id {
                work_orders::append_events(
                    &mut tx,
                    m.tenant_id,
                    order,
                    uuid::Uuid::now_v7(),
                    &ActorRef::system(),
                    now,
                    &[NewEvent {
                        event_type: "email.failed".to_owned(),
                        data: serde_json::json!({"email_id": m.id, "kind": m.kind, "to": m.to_address, "error": error}),
                    }],
                )
                .await?;
            }
        }
        Outcome::Retry { .. } => {}
    }
    tx.commit().await?;
    Ok(true)
}

/// A delivered invoice becomes `sent` (and `invoice.sent` is announced) only when its row
/// really changed: a concurrent change (a payment) makes the versioned update miss, so it is
/// read again and retried.
async fn mark_invoice_sent(
    tx: &mut workorders_persistence::WriteTx,
    tenant: workorders_domain::TenantId,
    invoice_id: uuid::Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    for _ in 0..5 {
        let Some(mut invoice) = store::get_invoice(tx.conn(), tenant, invoice_id).await? else {
            return Ok(());
        };
        let Ok(status) = workorders_domain::invoicing::mark_sent(invoice.status) else {
            return Ok(());
        };
        if status == invoice.status {
            return Ok(());
        }
        let expected = invoice.version;
        invoice.status = status;
        invoice.sent_at = Some(now);
        if store::update_state(tx.conn(), &invoice, expected, now).await? {
            invoice.version = expected + 1;
            tx.emit(tenant, "invoice.sent", billing::invoice_event(&invoice));
            return Ok(());
        }
    }
    Err(AppError::internal(anyhow::anyhow!(
        "invoice {invoice_id} kept changing while it was marked sent"
    )))
}

async fn build(state: &App, m: &EmailRecord) -> Result<Mail, String> {
    let mut attachments = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        let bytes = match (&a.blob_key, &a.text) {
            (Some(key), _) => {
                let blobs = state.blobs.clone();
                let key = key.clone();
                tokio::task::spawn_blocking(move || blobs.get(&key))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{} is missing from the blob store", a.filename))?
            }
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        attachments.push(Attachment {
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            bytes,
        });
    }
    Ok(Mail {
        message_id: m.message_id.clone(),
        to: m.to_address.clone(),
        to_name: m.to_name.clone(),
        reply_to: m.reply_to.clone(),
        subject: m.subject.clone(),
        text: m.body.clone(),
        attachments,
    })
}
