//! Staff accounts of the caller's tenant.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::auth::{NewPassword, Permission, Role};
use workorders_domain::tenant::parse_display_name;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::{Email, HomeBase, parse_skills};
use workorders_domain::{UserId, ValidationErrors};
use workorders_persistence::users::{self, UserFilter, UserRecord};
use workorders_persistence::{WriteTx, sessions, tenants};

use crate::accounts::{self, LinkPurpose, Touches, authorize_account_change};
use crate::auth::{Actor, Caller, Principal};
use crate::error::{ApiError, ApiResult, VersionedExt, codes};
use crate::extract::{IfMatch, OptionalJson, ValidJson, check_version};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::people::{HomeBaseBody, RoleName, UserView};
use crate::state::AppState;
use crate::workflow::{self, actor_of};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = String, example = "tech3@demo.example", max_length = 254)]
    pub email: Line<254>,
    #[schema(value_type = String,
        example = "Theo Techniker",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Line<200>,
    pub role: RoleName,
    /// Initial password, at least 12 characters. Without it the user gets an invitation
    /// e-mail with a one-time link to set their own password (valid for 7 days).
    #[schema(value_type = Option<String>, example = "a-long-initial-password", min_length = 12, max_length = 128)]
    pub password: Option<Text<128>>,
    #[serde(
        deserialize_with = "workorders_domain::bounds::capped::<_, _, 50>",
        default
    )]
    #[schema(max_items = 50, value_type = Vec<String>, example = json!(["glazing", "electrical"]))]
    pub skills: Vec<Line<50>>,
    #[schema(value_type = Option<String>, max_length = 40, example = "+49 30 1234567", pattern = r"^[0-9 +()/-]{1,40}$")]
    pub phone: Option<Line<40>>,
    pub home_base: Option<HomeBaseBody>,
}

/// Fields to change; absent fields stay as they are, `null` clears `phone` and `home_base`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<Line<200>>,
    pub role: Option<RoleName>,
    #[schema(max_items = 50, value_type = Option<Vec<String>>)]
    #[serde(
        default,
        deserialize_with = "workorders_domain::bounds::opt_capped::<_, _, 50>"
    )]
    pub skills: Option<Vec<Line<50>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 40, value_type = Option<String>)]
    pub phone: Option<Option<Line<40>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<HomeBaseBody>)]
    pub home_base: Option<Option<HomeBaseBody>>,
    /// Your own new password, at least 12 characters (with `current_password`). Ends your
    /// other sessions. Nobody sets another user's password: see `resetUserPassword`.
    #[schema(value_type = Option<String>, min_length = 12, max_length = 128)]
    pub password: Option<Text<128>>,
    /// Your current password, required with `password`.
    #[schema(value_type = Option<String>, max_length = 128)]
    pub current_password: Option<Text<128>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only users with this role.
    pub role: Option<RoleName>,
    /// Only active (`true`) or deactivated (`false`) users.
    pub active: Option<bool>,
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
    body: &HomeBaseBody,
) -> Option<HomeBase> {
    match HomeBase::parse(&body.postal_code, body.latitude, body.longitude) {
        Ok(h) => Some(h),
        Err((field, e)) => {
            errors.add(format!("{pointer}/{field}"), e.to_string());
            None
        }
    }
}

fn user_path(id: UserId) -> String {
    format!("/v1/users/{id}")
}

fn is_self(principal: &Principal, id: UserId) -> bool {
    principal.user_id() == Some(id)
}

/// Refuses a change that would leave the tenant without an active owner.
async fn ensure_other_owner(
    tx: &mut WriteTx,
    state: &AppState,
    user: &UserRecord,
) -> ApiResult<()> {
    users::lock_tenant(tx.conn(), user.tenant_id, &state.db).await?;
    if users::count_other_active_owners(tx.conn(), user.tenant_id, user.id).await? == 0 {
        return Err(ApiError::conflict(
            codes::LAST_OWNER,
            "a tenant needs at least one active owner",
        ));
    }
    Ok(())
}

/// Who am I
///
/// The signed-in user.
#[utoipa::path(
    operation_id = "getMe",
    tag = "users",
    responses((status = 200, description = "The caller", body = UserView)),
    security(("access_token" = []))
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, principal: Caller) -> ApiResult<HttpResponse> {
    let Some(id) = principal.user_id() else {
        return Err(ApiError::forbidden(
            "an API key is not a user; there is no `me`",
        ));
    };
    let user = users::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ok_versioned(user.version, &UserView::from(user)))
}

/// Create a user
///
/// Adds a staff member to the caller's tenant. Owners and admins (or API keys with
/// `users:write`); only owners create owners.
#[utoipa::path(
    operation_id = "createUser",
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "User created", body = UserView,
            headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The e-mail address is already used in this tenant (`email_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    principal: Caller,
    body: ValidJson<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    authorize_account_change(
        &principal,
        None,
        Touches {
            staff_fields: true,
            new_role: Some(Role::from(body.role)),
            ..Touches::default()
        },
    )?;
    let mut errors = ValidationErrors::new();
    let email = errors.check("/email", Email::parse(&body.email));
    let name = errors.check("/name", parse_display_name(&body.name));
    let password = body
        .password
        .as_deref()
        .map(|p| errors.check("/password", NewPassword::parse(p)));
    let skills = errors.check("/skills", parse_skills(&body.skills));
    let phone = body
        .phone
        .as_deref()
        .map(|p| errors.check("/phone", parse_phone(p)));
    let home_base = body
        .home_base
        .as_ref()
        .map(|h| parse_home_base(&mut errors, "/home_base", h));
    let (Some(email), Some(name), Some(skills)) = (email, name, skills) else {
        return Err(errors.into());
    };
    errors.finish()?;
    let role = Role::from(body.role);
    let password_hash = match password.flatten() {
        Some(p) => state.passwords.hash(p.expose().to_owned()).await?,
        // Unusable until the user sets a password with the invitation link.
        None => crate::auth::password::NO_PASSWORD.to_owned(),
    };
    let invite = body.password.is_none();
    let now = state.db.now();
    let user = UserRecord {
        id: UserId::new(),
        tenant_id: principal.tenant_id,
        email,
        name,
        role,
        skills,
        phone: phone.flatten(),
        home_base: home_base.flatten(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let company = tenants::get(&state.db, principal.tenant_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let mut tx = state.db.begin_write().await?;
    let user = users::insert(tx.conn(), &user, &password_hash)
        .await
        .map_err(|e| {
            if e.is_conflict("users_tenant_email_key") {
                ApiError::conflict(
                    codes::EMAIL_TAKEN,
                    "a user with this e-mail address exists in this tenant",
                )
            } else {
                e.into()
            }
        })?;
    if invite {
        accounts::email_link(
            &mut tx,
            &state,
            &user,
            &company,
            LinkPurpose::Invitation,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(created(
        user_path(user.id),
        user.version,
        &UserView::from(user),
    ))
}

/// List users
///
/// The tenant's users in creation order, filtered by role or status.
#[utoipa::path(
    operation_id = "listUsers",
    tag = "users",
    params(UserListQuery),
    responses((status = 200, description = "One page of users", body = Page<UserView>)),
    security(("access_token" = []), ("api_key" = ["users:read"]))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Caller,
    query: web::Query<UserListQuery>,
) -> ApiResult<HttpResponse> {
    principal.require(Permission::UsersRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let filter = UserFilter {
        role: query.role.map(Role::from),
        active: query.active,
    };
    let rows = users::list(
        &state.db,
        principal.tenant_id,
        &filter,
        page.after.map(UserId),
        fetch_limit(page),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        page,
        |u| u.id.as_uuid(),
        UserView::from,
    )))
}

/// Get a user
#[utoipa::path(
    operation_id = "getUser",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:read"]))
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    if !is_self(&principal, id) {
        principal.require(Permission::UsersRead)?;
    }
    let user = users::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ok_versioned(user.version, &UserView::from(user)))
}

/// Update a user
///
/// Changes the given fields. Requires `If-Match` with the current ETag. Users may change
/// their own name, phone and password; everything else needs `users:write`, and roles of
/// owners only owners change. The last active owner cannot lose the role (409 `last_owner`).
#[utoipa::path(
    operation_id = "updateUser",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = String, Header, description = "The user's current ETag, e.g. `\"3\"`", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The change would leave no active owner (`last_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<UpdateUserRequest>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let body = body.into_inner();
    let expected_version = if_match.required()?;
    let current = users::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize_account_change(
        &principal,
        Some(&current),
        Touches {
            own_profile: body.name.is_some() || body.phone.is_some(),
            staff_fields: body.skills.is_some() || body.home_base.is_some(),
            password: body.password.is_some(),
            new_role: body.role.map(Role::from),
        },
    )?;

    let mut errors = ValidationErrors::new();
    let mut next = current.clone();
    if let Some(name) = &body.name {
        next.name = errors
            .check("/name", parse_display_name(name))
            .unwrap_or_default();
    }
    if let Some(role) = body.role {
        next.role = role.into();
    }
    if let Some(skills) = &body.skills {
        next.skills = errors
            .check("/skills", parse_skills(skills))
            .unwrap_or_default();
    }
    if let Some(phone) = &body.phone {
        next.phone = phone
            .as_deref()
            .and_then(|p| errors.check("/phone", parse_phone(p)));
    }
    if let Some(home_base) = &body.home_base {
        next.home_base = home_base
            .as_ref()
            .and_then(|h| parse_home_base(&mut errors, "/home_base", h));
    }
    let password = body
        .password
        .as_deref()
        .map(|p| errors.check("/password", NewPassword::parse(p)));
    if body.password.is_some() && body.current_password.is_none() {
        errors.add("/current_password", "required to change your password");
    }
    if body.current_password.is_some() && body.password.is_none() {
        errors.add("/current_password", "only goes with `password`");
    }
    errors.finish()?;

    let password_hash = match (password.flatten(), &body.current_password) {
        (Some(p), Some(current_password)) => {
            check_current_password(&state, &current, current_password).await?;
            Some(state.passwords.hash(p.expose().to_owned()).await?)
        }
        _ => None,
    };

    let role_changes = next.role != current.role;
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    if role_changes && current.role == Role::Owner && current.active {
        ensure_other_owner(&mut tx, &state, &current).await?;
    }
    let updated = users::update(tx.conn(), &next, expected_version, now)
        .await?
        .into_api()?;
    if let Some(hash) = &password_hash {
        // Only one's own password: the caller's session stays, the others end.
        let keep = match &principal.actor {
            Actor::User { session, .. } => Some(*session),
            Actor::ApiKey { .. } => None,
        };
        accounts::set_password_in(&mut tx, principal.tenant_id, id, hash, keep, now).await?;
    }
    tx.commit().await?;
    Ok(ok_versioned(updated.version, &UserView::from(updated)))
}

/// Checks the caller's current password before a change of it; wrong answers count like
/// failed sign-ins (throttled per account).
async fn check_current_password(
    state: &AppState,
    user: &UserRecord,
    current_password: &str,
) -> ApiResult<()> {
    let account = format!("user:{}", user.id);
    state
        .login_limiter
        .check_account(&account)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let hash = users::password_hash(&state.db, user.tenant_id, user.id).await?;
    if state
        .passwords
        .verify(current_password.to_owned(), hash)
        .await?
    {
        state.login_limiter.record_success(&account);
        Ok(())
    } else {
        state.login_limiter.record_failure(&account);
        Err(ApiError::invalid(
            "/current_password",
            "does not match your current password",
        ))
    }
}

/// Optional body of `deactivateUser`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// Who takes over the user's open steps (if qualified; otherwise the assignment rule
    /// decides per step).
    pub successor_id: Option<Uuid>,
}

async fn set_active(
    state: &AppState,
    principal: &Principal,
    id: UserId,
    if_match: IfMatch,
    active: bool,
    successor: Option<UserId>,
) -> ApiResult<HttpResponse> {
    let current = users::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize_account_change(
        principal,
        Some(&current),
        Touches {
            staff_fields: true,
            ..Touches::default()
        },
    )?;
    check_version(if_match, current.version)?;
    if current.active == active {
        return Ok(ok_versioned(current.version, &UserView::from(current)));
    }
    if let Some(successor) = successor {
        let ok = users::get(&state.db, principal.tenant_id, successor)
            .await?
            .is_some_and(|u| u.active && u.id != id);
        if !ok {
            return Err(ApiError::invalid(
                "/successor_id",
                "must be another active user of this tenant",
            ));
        }
    }
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    if !active && current.role == Role::Owner {
        ensure_other_owner(&mut tx, state, &current).await?;
    }
    let mut next = current.clone();
    next.active = active;
    let updated = users::update(tx.conn(), &next, current.version, now)
        .await?
        .into_api()?;
    if !active {
        sessions::revoke_all_for_user(
            tx.conn(),
            principal.tenant_id,
            id,
            None,
            "user_deactivated",
            now,
        )
        .await?;
        // Nothing may stay unowned: the user's open steps go to the successor or by rule.
        let actor = actor_of(principal);
        let moved = workflow::hand_over(
            &mut tx,
            &state.db,
            principal.tenant_id,
            id,
            successor,
            &actor,
            now,
        )
        .await?;
        tracing::info!(user_id = %id, steps = moved, "user deactivated; open steps handed over");
    }
    tx.commit().await?;
    Ok(ok_versioned(updated.version, &UserView::from(updated)))
}

/// Deactivate a user
///
/// The user can no longer sign in; their sessions end at once; their open steps go to the
/// optional `successor_id` (where qualified) or by the assignment rule. Their history stays.
/// The last active owner cannot be deactivated (409 `last_owner`). `If-Match` is optional.
#[utoipa::path(
    operation_id = "deactivateUser",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    request_body(content = Option<DeactivateRequest>, description = "Optional: who takes over the user's open steps"),
    responses(
        (status = 200, description = "The deactivated user", body = UserView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last active owner (`last_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[post("/users/{id}/actions/deactivate")]
pub async fn deactivate_user(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: OptionalJson<DeactivateRequest>,
) -> ApiResult<HttpResponse> {
    let successor = body.0.and_then(|b| b.successor_id).map(UserId);
    set_active(
        &state,
        &principal,
        UserId(id.into_inner()),
        if_match,
        false,
        successor,
    )
    .await
}

/// Reactivate a user
///
/// The user can sign in again. `If-Match` is optional.
#[utoipa::path(
    operation_id = "reactivateUser",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected ETag", pattern = r#"^(W/)?"[0-9]+"$"#),
    ),
    responses(
        (status = 200, description = "The reactivated user", body = UserView, headers(("ETag" = String))),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[post("/users/{id}/actions/reactivate")]
pub async fn reactivate_user(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    set_active(
        &state,
        &principal,
        UserId(id.into_inner()),
        if_match,
        true,
        None,
    )
    .await
}

/// Send a password-reset link
///
/// Ends the user's sessions at once and e-mails them a one-time link to set a new password
/// (valid for an hour; only the newest link works; at most one e-mail per two minutes). The
/// link never appears in the answer: nobody sets another user's password. Owners and admins
/// (API keys with `users:write` for staff below admin); only owners reset owners.
#[utoipa::path(
    operation_id = "resetUserPassword",
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 202, description = "Sessions ended; the link is on its way"),
        (status = 403, description = "Not allowed for this user", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this tenant", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is deactivated", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["users:write"]))
)]
#[post("/users/{id}/password-reset")]
pub async fn reset_user_password(
    state: web::Data<AppState>,
    principal: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let user = users::get(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize_account_change(
        &principal,
        Some(&user),
        Touches {
            staff_fields: true,
            ..Touches::default()
        },
    )?;
    if !user.active {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "the user is deactivated; reactivate them first",
        ));
    }
    let company = tenants::get(&state.db, principal.tenant_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    accounts::start_reset(&mut tx, &state, &user, &company, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, "password reset started");
    Ok(HttpResponse::Accepted().finish())
}
