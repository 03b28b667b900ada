//! E-mail to members of staff (not customers): escalations, reviews, password links. Plain
//! text in the tenant's language, through the same queue as customer e-mail.

use chrono::{DateTime, Utc};
use workorders_domain::{TenantId, WorkOrderId};
use workorders_mail::templates::Lang;
use workorders_persistence::{Conn, WriteTx, billing as billing_store};

use crate::error::AppResult;

/// A member of staff to write to.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: String,
    pub email: String,
}

/// A message to a member of staff.
pub struct StaffMail {
    /// The e-mail kind recorded with it (`step_overdue`, `password_reset`, ...).
    pub kind: &'static str,
    pub lang: Lang,
    pub subject: String,
    pub body: String,
    pub work_order: Option<WorkOrderId>,
}

/// The language staff mail of a tenant is written in (the billing profile's language).
pub async fn tenant_lang(conn: &mut Conn, tenant: TenantId) -> AppResult<Lang> {
    Ok(billing_store::get_profile(conn, tenant)
        .await?
        .map_or(Lang::De, |p| crate::billing::lang_of(&p.profile)))
}

/// Queues the message with a greeting, inside the caller's transaction.
pub async fn queue(
    tx: &mut WriteTx,
    tenant: TenantId,
    to: &Recipient,
    mail: &StaffMail,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let greeting = match mail.lang {
        Lang::De => format!("Hallo {},", to.name),
        Lang::En => format!("Hello {},", to.name),
    };
    let out = crate::billing::Outgoing {
        kind: mail.kind,
        to: to.email.clone(),
        to_name: Some(to.name.clone()),
        subject: mail.subject.clone(),
        body: format!("{greeting}\n\n{}", mail.body),
        attachments: Vec::new(),
        work_order_id: mail.work_order,
        invoice_id: None,
        quote_id: None,
    };
    crate::billing::queue_email(tx, tenant, None, out, now).await?;
    Ok(())
}
