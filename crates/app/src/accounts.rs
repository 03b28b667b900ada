//! Passwords of staff accounts: who may change what, one-time links to set a password
//! (resets, invitations, the first owner), and setting a password with such a link.
//!
//! Nobody sets another person's password. An admin (or the user) asks for a reset: the
//! user's sessions end and a one-time link (256-bit token, stored hashed, valid for
//! `password_reset_ttl`) goes to the user's e-mail address, never to the caller.

use chrono::{DateTime, Utc};
use workorders_domain::auth::{NewPassword, Permission, Role};
use workorders_domain::tenant::{Slug, TimeZone};
use workorders_domain::{TenantId, UserId};
use workorders_mail::templates::Lang;
use workorders_persistence::tenants::TenantRecord;
use workorders_persistence::users::UserRecord;
use workorders_persistence::{WriteTx, password_resets, sessions, tenants, users};

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::identity::Principal;
use crate::staff_mail::{Recipient, StaffMail};
use crate::tokens::{new_token, sha256_hex};

/// What a change to a user account touches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Touches {
    /// Fields a user may change on their own account: name, phone.
    pub own_profile: bool,
    /// Fields only `users:write` changes: role, skills, home base, active state, resets.
    pub staff_fields: bool,
    /// The password.
    pub password: bool,
    /// The role the account will have (when it changes, or on creation).
    pub new_role: Option<Role>,
}

/// The rules for changing staff accounts, in one place:
/// - a password is set only by its owner (others send a reset link);
/// - API keys never create or change owners or admins;
/// - owners are created and changed only by owners (an owner may edit their own profile);
/// - everything but one's own name, phone and password needs `users:write`.
///
/// `target` is `None` when the account is being created.
pub fn authorize_account_change(
    principal: &Principal,
    target: Option<&UserRecord>,
    touches: Touches,
) -> AppResult<()> {
    let is_self = target.is_some_and(|t| principal.user_id() == Some(t.id));
    if touches.password && !is_self {
        return Err(AppError::Forbidden {
            code: codes::FORBIDDEN,
            detail: "nobody sets another user's password; send a reset link instead \
                     (POST /v1/users/{id}/password-reset)"
                .to_owned(),
        });
    }
    let privileged = |role: Option<Role>| matches!(role, Some(Role::Owner | Role::Admin));
    if principal.is_api_key()
        && (privileged(target.map(|t| t.role)) || privileged(touches.new_role))
    {
        return Err(AppError::Forbidden {
            code: codes::FORBIDDEN,
            detail: "API keys cannot create or change owners or admins; a person must".to_owned(),
        });
    }
    let target_is_owner = target.is_some_and(|t| t.role == Role::Owner);
    let role_changes = touches.new_role.is_some() && touches.new_role != target.map(|t| t.role);
    let owner_role_involved =
        role_changes && (touches.new_role == Some(Role::Owner) || target_is_owner);
    if (target_is_owner && !is_self) || owner_role_involved {
        principal.require(Permission::ManageOwners)?;
    }
    if !is_self || touches.staff_fields || role_changes {
        principal.require(Permission::UsersWrite)?;
    }
    Ok(())
}

/// Why a link to set a password is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// An admin's reset or a forgotten password.
    Reset,
    /// A new user created without a password.
    Invitation,
    /// The first owner of a tenant made with `workorders tenant create`.
    FirstOwner,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Reset => "reset",
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::FirstOwner => "first_owner",
        }
    }
}

/// The page where a link's token sets a password.
pub fn set_password_url(state: &App, token: &str) -> String {
    format!(
        "{}/set-password/{token}",
        state.settings.mail.public_base_url.trim_end_matches('/')
    )
}

/// Makes a one-time link for `user` (voiding earlier ones), inside the caller's transaction.
/// Returns the token (shown to nobody but the user: by e-mail, or on the operator's console
/// for the first owner) and when it expires.
pub async fn issue_link(
    tx: &mut WriteTx,
    state: &App,
    user: &UserRecord,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> AppResult<(String, DateTime<Utc>)> {
    let ttl = match purpose {
        LinkPurpose::Reset => state.settings.password_reset_ttl,
        LinkPurpose::Invitation | LinkPurpose::FirstOwner => state.settings.invitation_ttl,
    };
    let expires_at = now + chrono::Duration::from_std(ttl).map_err(AppError::internal)?;
    let token = new_token("pw_").map_err(AppError::internal)?;
    password_resets::create(
        tx.conn(),
        user.tenant_id,
        user.id,
        &sha256_hex(&token),
        purpose.as_str(),
        now,
        expires_at,
    )
    .await?;
    Ok((token, expires_at))
}

/// Makes a link and e-mails it to the user.
pub async fn email_link(
    tx: &mut WriteTx,
    state: &App,
    user: &UserRecord,
    company: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> AppResult<DateTime<Utc>> {
    let (token, expires_at) = issue_link(tx, state, user, purpose, now).await?;
    let lang = crate::staff_mail::tenant_lang(tx.conn(), user.tenant_id).await?;
    let url = set_password_url(state, &token);
    let hours = (expires_at - now).num_hours().max(1);
    let (kind, subject, body) = match (purpose, lang) {
        (LinkPurpose::Reset, Lang::De) => (
            "password_reset",
            format!("{company}: Passwort neu setzen"),
            format!(
                "für Ihr Konto bei {company} wurde ein neues Passwort angefordert. Ihre Sitzungen wurden beendet.\n\n\
                 Neues Passwort setzen (der Link gilt {hours} Stunden und nur einmal):\n{url}\n\n\
                 Wenn Sie das nicht angefordert haben, melden Sie sich bitte bei Ihrer Verwaltung."
            ),
        ),
        (LinkPurpose::Reset, Lang::En) => (
            "password_reset",
            format!("{company}: set a new password"),
            format!(
                "a new password was requested for your account at {company}. Your sessions have been ended.\n\n\
                 Set a new password (the link works for {hours} hours, once):\n{url}\n\n\
                 If you did not ask for this, please tell your administrator."
            ),
        ),
        (_, Lang::De) => (
            "invitation",
            format!("Willkommen bei {company}"),
            format!(
                "für Sie wurde ein Konto bei {company} angelegt (Anmeldung mit {}).\n\n\
                 Bitte setzen Sie Ihr Passwort (der Link gilt {hours} Stunden und nur einmal):\n{url}",
                user.email
            ),
        ),
        (_, Lang::En) => (
            "invitation",
            format!("Welcome to {company}"),
            format!(
                "an account was created for you at {company} (sign in with {}).\n\n\
                 Please set your password (the link works for {hours} hours, once):\n{url}",
                user.email
            ),
        ),
    };
    let mail = StaffMail {
        kind,
        lang,
        subject,
        body,
        work_order: None,
    };
    let to = Recipient {
        name: user.name.clone(),
        email: user.email.as_str().to_owned(),
    };
    crate::staff_mail::queue(tx, user.tenant_id, &to, &mail, now).await?;
    Ok(expires_at)
}

/// Starts a reset: ends the user's sessions and e-mails a link. At most one e-mail per
/// user per `MIN_RESET_INTERVAL` (several requests in a row send one).
pub async fn start_reset(
    tx: &mut WriteTx,
    state: &App,
    user: &UserRecord,
    company: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    sessions::revoke_all_for_user(
        tx.conn(),
        user.tenant_id,
        user.id,
        None,
        "password_reset",
        now,
    )
    .await?;
    let recent = password_resets::latest_unused(tx.conn(), user.tenant_id, user.id)
        .await?
        .is_some_and(|at| now - at < MIN_RESET_INTERVAL);
    if !recent {
        email_link(tx, state, user, company, LinkPurpose::Reset, now).await?;
    }
    Ok(())
}

/// A new reset link is e-mailed at most this often per user.
pub const MIN_RESET_INTERVAL: chrono::Duration = chrono::Duration::minutes(2);

fn link_invalid() -> AppError {
    AppError::Unprocessable {
        code: codes::INVALID_PASSWORD_LINK,
        detail: "this link to set a password is unknown, used or expired; ask for a new one"
            .to_owned(),
    }
}

/// Sets the password with a link's token: the link is used up, every session of the user
/// ends and every other link of the user is voided. Returns the user.
pub async fn complete(state: &App, token: &str, password: &NewPassword) -> AppResult<UserRecord> {
    let hash = state.passwords.hash(password.expose().to_owned()).await?;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let link = password_resets::find(tx.conn(), &sha256_hex(token))
        .await?
        .filter(|l| l.used_at.is_none() && l.expires_at > now)
        .ok_or_else(link_invalid)?;
    let user = users::get_in(tx.conn(), link.tenant_id, link.user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(link_invalid)?;
    if !password_resets::consume(tx.conn(), link.id, now).await? {
        return Err(link_invalid());
    }
    set_password_in(&mut tx, link.tenant_id, link.user_id, &hash, None, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, purpose = %link.purpose, "password set with a link");
    Ok(user)
}

/// Writes a new password hash, ends the user's sessions (but `keep`) and voids their links.
pub async fn set_password_in(
    tx: &mut WriteTx,
    tenant: TenantId,
    user: UserId,
    hash: &str,
    keep: Option<workorders_domain::SessionId>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    users::set_password(tx.conn(), tenant, user, hash, now).await?;
    sessions::revoke_all_for_user(tx.conn(), tenant, user, keep, "password_changed", now).await?;
    password_resets::void_for_user(tx.conn(), tenant, user, now).await?;
    Ok(())
}

/// A new company and its first owner.
pub struct NewTenant {
    pub slug: Slug,
    pub company_name: String,
    pub time_zone: TimeZone,
    pub owner_name: String,
    pub owner_email: workorders_domain::user::Email,
    /// Argon2 hash, or [`crate::password::NO_PASSWORD`] (the owner sets it by link).
    pub owner_password_hash: String,
}

/// Creates a tenant with its owner inside the caller's transaction (sign-up, and
/// `workorders tenant create`). 409 `slug_taken` when the slug is used.
pub async fn create_tenant(
    tx: &mut WriteTx,
    input: NewTenant,
    now: DateTime<Utc>,
) -> AppResult<(TenantRecord, UserRecord)> {
    let tenant_id = TenantId::new();
    let tenant = tenants::insert(
        tx.conn(),
        tenant_id,
        &input.slug,
        &input.company_name,
        input.time_zone,
        now,
    )
    .await
    .map_err(|e| {
        if e.is_conflict("tenants_slug_key") {
            AppError::conflict(
                codes::SLUG_TAKEN,
                format!("the slug `{}` is taken", input.slug),
            )
        } else {
            e.into()
        }
    })?;
    let owner = UserRecord {
        id: UserId::new(),
        tenant_id,
        email: input.owner_email,
        name: input.owner_name,
        role: Role::Owner,
        skills: Vec::new(),
        phone: None,
        home_base: None,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let owner = users::insert(tx.conn(), &owner, &input.owner_password_hash).await?;
    Ok((tenant, owner))
}

/// A company signing itself up, its fields already parsed.
pub struct SignUp {
    pub company_name: String,
    pub slug: Slug,
    pub time_zone: TimeZone,
    pub owner_name: String,
    pub owner_email: workorders_domain::user::Email,
    pub owner_password: NewPassword,
}

/// Refuses while this server does not take sign-ups (single-company installs).
pub fn ensure_sign_up_open(app: &App) -> AppResult<()> {
    if app.settings.signup_enabled {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            code: codes::SIGNUP_DISABLED,
            detail: "sign-up is disabled on this server".to_owned(),
        })
    }
}

/// Creates the company and its owner (self-service sign-up). 409 `slug_taken` when the
/// slug is used.
pub async fn sign_up(app: &App, input: SignUp) -> AppResult<(TenantRecord, UserRecord)> {
    ensure_sign_up_open(app)?;
    let password_hash = app
        .passwords
        .hash(input.owner_password.expose().to_owned())
        .await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let (tenant, owner) = create_tenant(
        &mut tx,
        NewTenant {
            slug: input.slug,
            company_name: input.company_name,
            time_zone: input.time_zone,
            owner_name: input.owner_name,
            owner_email: input.owner_email,
            owner_password_hash: password_hash,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant.id, slug = %tenant.slug, "tenant signed up");
    Ok((tenant, owner))
}

/// A forgotten password: when the tenant has an active account with this address, ends its
/// sessions and e-mails it a link (at most one e-mail per `MIN_RESET_INTERVAL`). The answer
/// is the same whether or not the account exists. 422 on `/email` when it is no address.
pub async fn request_reset(app: &App, tenant_slug: &str, email: &str) -> AppResult<()> {
    let email = workorders_domain::user::Email::parse(email)
        .map_err(|e| AppError::invalid("/email", e.to_string()))?;
    let tenant = tenants::find_by_slug(&app.db, tenant_slug).await?;
    if let Some(tenant) = tenant
        && let Some((user, _)) = users::find_for_login(&app.db, tenant.id, &email).await?
        && user.active
    {
        let now = app.db.now();
        let mut tx = app.db.begin_write().await?;
        start_reset(&mut tx, app, &user, &tenant.name, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "password reset requested");
    }
    Ok(())
}
