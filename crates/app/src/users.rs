//! Staff accounts of the caller's tenant: create (with an invitation e-mail when no
//! password is given), read, change (one's own password with the current one), deactivate
//! (sessions end, open steps handed over), reactivate, and password resets. Who may change
//! what is [`crate::accounts::authorize_account_change`].

use workorders_domain::auth::{NewPassword, Permission, Role};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::user::{Email, HomeBase, parse_skills};
use workorders_domain::{UserId, ValidationErrors};
use workorders_persistence::users::{self, UserFilter, UserRecord};
use workorders_persistence::{WriteTx, sessions, tenants};

use crate::App;
use crate::accounts::{self, LinkPurpose, Touches, authorize_account_change};
use crate::error::{AppError, AppResult, VersionedExt, codes, required_version};
use crate::identity::{Actor, Principal};
use crate::sessions::{AccountThrottle, check_throttle};
use crate::workflow::{self, actor_of};

/// Where a technician starts from. Field pointers in refusals: `<field>/postal_code`,
/// `<field>/latitude`, `<field>/longitude`.
pub struct HomeBaseInput {
    pub postal_code: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A new staff member. Field pointers in refusals: `/email`, `/name`, `/password`,
/// `/skills`, `/phone`, `/home_base/...`.
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Without one the user gets an invitation e-mail with a link to set it.
    pub password: Option<String>,
    pub skills: Vec<String>,
    pub phone: Option<String>,
    pub home_base: Option<HomeBaseInput>,
}

/// Changes to a staff member; `None` keeps a field, `Some(None)` clears `phone` and
/// `home_base`.
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub skills: Option<Vec<String>>,
    pub phone: Option<Option<String>>,
    pub home_base: Option<Option<HomeBaseInput>>,
    /// One's own new password, with `current_password`.
    pub password: Option<String>,
    pub current_password: Option<String>,
}

fn parse_phone(phone: &str) -> Result<String, &'static str> {
    let phone = phone.trim();
    let ok = !phone.is_empty()
        && phone.len() <= 40
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()/".contains(c));
    if ok {
        Ok(phone.to_owned())
    } else {
        Err("phone may contain digits, spaces and + - ( ) /, at most 40 characters")
    }
}

fn parse_home_base(
    errors: &mut ValidationErrors,
    pointer: &str,
    input: &HomeBaseInput,
) -> Option<HomeBase> {
    match HomeBase::parse(&input.postal_code, input.latitude, input.longitude) {
        Ok(h) => Some(h),
        Err((field, e)) => {
            errors.add(format!("{pointer}/{field}"), e.to_string());
            None
        }
    }
}

fn is_self(caller: &Principal, id: UserId) -> bool {
    caller.user_id() == Some(id)
}

/// Refuses a change that would leave the tenant without an active owner.
async fn ensure_other_owner(tx: &mut WriteTx, app: &App, user: &UserRecord) -> AppResult<()> {
    users::lock_tenant(tx.conn(), user.tenant_id, &app.db).await?;
    if users::count_other_active_owners(tx.conn(), user.tenant_id, user.id).await? == 0 {
        return Err(AppError::conflict(
            codes::LAST_OWNER,
            "a tenant needs at least one active owner",
        ));
    }
    Ok(())
}

async fn company_name(app: &App, caller: &Principal) -> AppResult<String> {
    Ok(tenants::get(&app.db, caller.tenant_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default())
}

/// The signed-in person's own account (an API key is nobody).
pub async fn me(app: &App, caller: &Principal) -> AppResult<UserRecord> {
    let Some(id) = caller.user_id() else {
        return Err(AppError::forbidden(
            "an API key is not a user; there is no `me`",
        ));
    };
    users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Adds a staff member. Owners and admins (or API keys with `users:write`); only owners
/// create owners. 409 `email_taken` when the address is used in the tenant.
pub async fn create(app: &App, caller: &Principal, new: NewUser) -> AppResult<UserRecord> {
    authorize_account_change(
        caller,
        None,
        Touches {
            staff_fields: true,
            new_role: Some(new.role),
            ..Touches::default()
        },
    )?;
    let mut errors = ValidationErrors::new();
    let email = errors.check("/email", Email::parse(&new.email));
    let name = errors.check("/name", parse_display_name(&new.name));
    let password = new
        .password
        .as_deref()
        .map(|p| errors.check("/password", NewPassword::parse(p)));
    let skills = errors.check("/skills", parse_skills(&new.skills));
    let phone = new
        .phone
        .as_deref()
        .map(|p| errors.check("/phone", parse_phone(p)));
    let home_base = new
        .home_base
        .as_ref()
        .map(|h| parse_home_base(&mut errors, "/home_base", h));
    let (Some(email), Some(name), Some(skills)) = (email, name, skills) else {
        return Err(errors.into());
    };
    errors.finish()?;
    let password_hash = match password.flatten() {
        Some(p) => app.passwords.hash(p.expose().to_owned()).await?,
        // Unusable until the user sets a password with the invitation link.
        None => crate::password::NO_PASSWORD.to_owned(),
    };
    let invite = new.password.is_none();
    let now = app.db.now();
    let user = UserRecord {
        id: UserId::new(),
        tenant_id: caller.tenant_id,
        email,
        name,
        role: new.role,
        skills,
        phone: phone.flatten(),
        home_base: home_base.flatten(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let company = company_name(app, caller).await?;
    let mut tx = app.db.begin_write().await?;
    let user = users::insert(tx.conn(), &user, &password_hash)
        .await
        .map_err(|e| {
            if e.is_conflict("users_tenant_email_key") {
                AppError::conflict(
                    codes::EMAIL_TAKEN,
                    "a user with this e-mail address exists in this tenant",
                )
            } else {
                e.into()
            }
        })?;
    if invite {
        accounts::email_link(&mut tx, app, &user, &company, LinkPurpose::Invitation, now).await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Up to `limit` users of the tenant after `after`, in creation order.
pub async fn list(
    app: &App,
    caller: &Principal,
    filter: &UserFilter,
    after: Option<UserId>,
    limit: u32,
) -> AppResult<Vec<UserRecord>> {
    caller.require(Permission::UsersRead)?;
    Ok(users::list(&app.db, caller.tenant_id, filter, after, limit).await?)
}

/// A user of the tenant; everyone may read their own account.
pub async fn get(app: &App, caller: &Principal, id: UserId) -> AppResult<UserRecord> {
    if !is_self(caller, id) {
        caller.require(Permission::UsersRead)?;
    }
    users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes a user at `expected_version`. Users change their own name, phone and password
/// (with the current one; wrong answers count against `throttle` like failed sign-ins);
/// everything else needs `users:write`. The last active owner keeps the role (409
/// `last_owner`). A new password ends the user's other sessions.
pub async fn update(
    app: &App,
    caller: &Principal,
    id: UserId,
    expected_version: Option<i64>,
    change: UserChange,
    throttle: &dyn AccountThrottle,
) -> AppResult<UserRecord> {
    let expected_version = required_version(expected_version)?;
    let current = users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    authorize_account_change(
        caller,
        Some(&current),
        Touches {
            own_profile: change.name.is_some() || change.phone.is_some(),
            staff_fields: change.skills.is_some() || change.home_base.is_some(),
            password: change.password.is_some(),
            new_role: change.role,
        },
    )?;

    let mut errors = ValidationErrors::new();
    let mut next = current.clone();
    if let Some(name) = &change.name {
        next.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    if let Some(role) = change.role {
        next.role = role;
    }
    if let Some(skills) = &change.skills {
        next.skills = errors
            .check("/skills", parse_skills(skills))
            .unwrap_or_default();
    }
    if let Some(phone) = &change.phone {
        next.phone = phone
            .as_deref()
            .and_then(|p| errors.check("/phone", parse_phone(p)));
    }
    if let Some(home_base) = &change.home_base {
        next.home_base = home_base
            .as_ref()
            .and_then(|h| parse_home_base(&mut errors, "/home_base", h));
    }
    let password = change
        .password
        .as_deref()
        .map(|p| errors.check("/password", NewPassword::parse(p)));
    if change.password.is_some() && change.current_password.is_none() {
        errors.add("/current_password", "required to change your password");
    }
    if change.current_password.is_some() && change.password.is_none() {
        errors.add("/current_password", "only goes with `password`");
    }
    errors.finish()?;

    let password_hash = match (password.flatten(), &change.current_password) {
        (Some(p), Some(current_password)) => {
            check_current_password(app, throttle, &current, current_password).await?;
            Some(app.passwords.hash(p.expose().to_owned()).await?)
        }
        _ => None,
    };

    let role_changes = next.role != current.role;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    if role_changes && current.role == Role::Owner && current.active {
        ensure_other_owner(&mut tx, app, &current).await?;
    }
    let updated = users::update(tx.conn(), &next, expected_version, now)
        .await?
        .into_app()?;
    if let Some(hash) = &password_hash {
        // Only one's own password: the caller's session stays, the others end.
        let keep = match &caller.actor {
            Actor::User { session, .. } => Some(*session),
            Actor::ApiKey { .. } => None,
        };
        accounts::set_password_in(&mut tx, caller.tenant_id, id, hash, keep, now).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Checks the caller's current password before a change of it; wrong answers count like
/// failed sign-ins (throttled per account).
async fn check_current_password(
    app: &App,
    throttle: &dyn AccountThrottle,
    user: &UserRecord,
    current_password: &str,
) -> AppResult<()> {
    let account = format!("user:{}", user.id);
    check_throttle(throttle, &account)?;
    let hash = users::password_hash(&app.db, user.tenant_id, user.id).await?;
    if app
        .passwords
        .verify(current_password.to_owned(), hash)
        .await?
    {
        throttle.record_success(&account);
        Ok(())
    } else {
        throttle.record_failure(&account);
        Err(AppError::invalid(
            "/current_password",
            "does not match your current password",
        ))
    }
}

/// Deactivates a user (at `expected_version` when given): they can no longer sign in,
/// their sessions end, their open steps go to `successor` (where qualified) or by the
/// assignment rule. The last active owner stays (409 `last_owner`).
pub async fn deactivate(
    app: &App,
    caller: &Principal,
    id: UserId,
    expected_version: Option<i64>,
    successor: Option<UserId>,
) -> AppResult<UserRecord> {
    set_active(app, caller, id, expected_version, false, successor).await
}

/// Reactivates a user (at `expected_version` when given): they can sign in again.
pub async fn reactivate(
    app: &App,
    caller: &Principal,
    id: UserId,
    expected_version: Option<i64>,
) -> AppResult<UserRecord> {
    set_active(app, caller, id, expected_version, true, None).await
}

async fn set_active(
    app: &App,
    caller: &Principal,
    id: UserId,
    expected_version: Option<i64>,
    active: bool,
    successor: Option<UserId>,
) -> AppResult<UserRecord> {
    let current = users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    authorize_account_change(
        caller,
        Some(&current),
        Touches {
            staff_fields: true,
            ..Touches::default()
        },
    )?;
    workflow::check_version(expected_version, current.version)?;
    if current.active == active {
        return Ok(current);
    }
    if let Some(successor) = successor {
        let ok = users::get(&app.db, caller.tenant_id, successor)
            .await?
            .is_some_and(|u| u.active && u.id != id);
        if !ok {
            return Err(AppError::invalid(
                "/successor_id",
                "must be another active user of this tenant",
            ));
        }
    }
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    if !active && current.role == Role::Owner {
        ensure_other_owner(&mut tx, app, &current).await?;
    }
    let mut next = current.clone();
    next.active = active;
    let updated = users::update(tx.conn(), &next, current.version, now)
        .await?
        .into_app()?;
    if !active {
        sessions::revoke_all_for_user(
            tx.conn(),
            caller.tenant_id,
            id,
            None,
            "user_deactivated",
            now,
        )
        .await?;
        // Nothing may stay unowned: the user's open steps go to the successor or by rule.
        let actor = actor_of(caller);
        let moved = workflow::hand_over(
            &mut tx,
            &app.db,
            caller.tenant_id,
            id,
            successor,
            &actor,
            now,
        )
        .await?;
        tracing::info!(user_id = %id, steps = moved, "user deactivated; open steps handed over");
    }
    tx.commit().await?;
    Ok(updated)
}

/// Ends the user's sessions and e-mails them a one-time link to set a new password (at
/// most one e-mail per two minutes); the link never reaches the caller. Owners and admins
/// (API keys with `users:write` for staff below admin); only owners reset owners. 409 for a
/// deactivated user.
pub async fn reset_password(app: &App, caller: &Principal, id: UserId) -> AppResult<()> {
    let user = users::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    authorize_account_change(
        caller,
        Some(&user),
        Touches {
            staff_fields: true,
            ..Touches::default()
        },
    )?;
    if !user.active {
        return Err(AppError::conflict(
            codes::CONFLICT,
            "the user is deactivated; reactivate them first",
        ));
    }
    let company = company_name(app, caller).await?;
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    accounts::start_reset(&mut tx, app, &user, &company, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, "password reset started");
    Ok(())
}
