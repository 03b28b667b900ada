//! The customer e-mail templates: the tenant's own text per kind and language, or the
//! built-in default.

use chrono::{DateTime, Utc};
use workorders_domain::TenantId;
use workorders_domain::auth::Permission;
use workorders_mail::templates::{self, Lang, Template, TemplateKind};
use workorders_persistence::Conn;
use workorders_persistence::billing as store;

use crate::App;
use crate::error::{AppError, AppResult, required_version};
use crate::identity::Principal;

/// A template as it applies: the tenant's own text or the built-in default.
#[derive(Debug, Clone)]
pub struct EmailTemplate {
    pub kind: TemplateKind,
    pub lang: Lang,
    pub subject: String,
    pub body: String,
    /// False: the built-in default is used.
    pub customized: bool,
    /// Placeholders this kind may use.
    pub variables: Vec<String>,
    /// 0 until the template is first changed; it keeps rising when the default is restored.
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A kind and a language named in a path (not found when either is unknown).
fn parse_kind_lang(kind: &str, lang: &str) -> AppResult<(TemplateKind, Lang)> {
    let kind: TemplateKind = kind.parse().map_err(|_| AppError::NotFound)?;
    let lang: Lang = lang.parse().map_err(|_| AppError::NotFound)?;
    Ok((kind, lang))
}

async fn read(
    conn: &mut Conn,
    tenant: TenantId,
    kind: TemplateKind,
    lang: Lang,
) -> AppResult<EmailTemplate> {
    let own = store::get_template(conn, tenant, kind.as_str(), lang.as_str()).await?;
    let customized = own.as_ref().is_some_and(|o| o.customized);
    let version = own.as_ref().map_or(0, |o| o.version);
    let updated_at = own.as_ref().map(|o| o.updated_at);
    let template = match own {
        Some(o) if o.customized => Template {
            subject: o.subject,
            body: o.body,
        },
        _ => templates::default_template(kind, lang),
    };
    Ok(EmailTemplate {
        kind,
        lang,
        subject: template.subject,
        body: template.body,
        customized,
        variables: templates::variables(kind)
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
        version,
        updated_at,
    })
}

/// The template of `kind` (`invoice`, `quote`, ...) in `lang` (`de`, `en`).
pub async fn get(
    app: &App,
    caller: &Principal,
    kind: &str,
    lang: &str,
) -> AppResult<EmailTemplate> {
    caller.require(Permission::BillingRead)?;
    let (kind, lang) = parse_kind_lang(kind, lang)?;
    let mut conn = app.db.acquire().await?;
    read(&mut conn, caller.tenant_id, kind, lang).await
}

/// Every kind in every language.
pub async fn list(app: &App, caller: &Principal) -> AppResult<Vec<EmailTemplate>> {
    caller.require(Permission::BillingRead)?;
    let mut conn = app.db.acquire().await?;
    let mut all = Vec::new();
    for kind in TemplateKind::ALL {
        for lang in Lang::ALL {
            all.push(read(&mut conn, caller.tenant_id, kind, lang).await?);
        }
    }
    Ok(all)
}

/// Sets the tenant's own text at `expected_version` (refused with a pointer on an unknown
/// placeholder, unbalanced braces, too long a text).
pub async fn put(
    app: &App,
    caller: &Principal,
    kind: &str,
    lang: &str,
    expected_version: Option<i64>,
    template: Template,
) -> AppResult<EmailTemplate> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let (kind, lang) = parse_kind_lang(kind, lang)?;
    templates::validate(kind, &template)
        .map_err(|e| AppError::invalid(&format!("/{}", e.field), e.message.clone()))?;
    let now = app.db.now();
    let tenant = caller.tenant_id;
    let mut tx = app.db.begin_write().await?;
    let current = store::get_template(tx.conn(), tenant, kind.as_str(), lang.as_str())
        .await?
        .map_or(0, |t| t.version);
    if expected != current {
        return Err(AppError::Stale {
            current_version: current,
        });
    }
    store::put_template(
        tx.conn(),
        tenant,
        kind.as_str(),
        lang.as_str(),
        &template.subject,
        &template.body,
        expected,
        now,
    )
    .await?
    .ok_or(AppError::Stale {
        current_version: expected + 1,
    })?;
    let saved = read(tx.conn(), tenant, kind, lang).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Restores the built-in default at `expected_version` (also when it already applies).
pub async fn restore_default(
    app: &App,
    caller: &Principal,
    kind: &str,
    lang: &str,
    expected_version: Option<i64>,
) -> AppResult<()> {
    caller.require(Permission::TenantWrite)?;
    let expected = required_version(expected_version)?;
    let (kind, lang) = parse_kind_lang(kind, lang)?;
    let now = app.db.now();
    let tenant = caller.tenant_id;
    let mut tx = app.db.begin_write().await?;
    let current = store::get_template(tx.conn(), tenant, kind.as_str(), lang.as_str()).await?;
    let current_version = current.as_ref().map_or(0, |t| t.version);
    if expected != current_version {
        return Err(AppError::Stale { current_version });
    }
    if current.is_some_and(|t| t.customized) {
        store::restore_default_template(
            tx.conn(),
            tenant,
            kind.as_str(),
            lang.as_str(),
            expected,
            now,
        )
        .await?
        .ok_or(AppError::Stale {
            current_version: expected + 1,
        })?;
    }
    tx.commit().await?;
    Ok(())
}
