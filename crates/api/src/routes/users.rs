//! Staff accounts of the caller's tenant.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::users::{self, HomeBaseInput, NewUser, UserChange};
use workorders_domain::UserId;
use workorders_domain::auth::Role;
use workorders_domain::text::{Line, Text};
use workorders_persistence::users::UserFilter;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, OptionalJson, ValidJson};
use crate::pagination::{Page, PageQuery, fetch_limit};
use crate::routes::{created, double_option, ok_versioned};
use crate::schemas::people::{HomeBaseBody, RoleName, UserView};
use crate::state::AppState;

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

fn home_base(body: HomeBaseBody) -> HomeBaseInput {
    HomeBaseInput {
        postal_code: body.postal_code.into_string(),
        latitude: body.latitude,
        longitude: body.longitude,
    }
}

impl From<CreateUserRequest> for NewUser {
    fn from(body: CreateUserRequest) -> Self {
        Self {
            email: body.email.into_string(),
            name: body.name.into_string(),
            role: Role::from(body.role),
            password: body.password.map(Text::into_string),
            skills: body.skills.into_iter().map(Line::into_string).collect(),
            phone: body.phone.map(Line::into_string),
            home_base: body.home_base.map(home_base),
        }
    }
}

impl From<UpdateUserRequest> for UserChange {
    fn from(body: UpdateUserRequest) -> Self {
        Self {
            name: body.name.map(Line::into_string),
            role: body.role.map(Role::from),
            skills: body
                .skills
                .map(|skills| skills.into_iter().map(Line::into_string).collect()),
            phone: body.phone.map(|p| p.map(Line::into_string)),
            home_base: body.home_base.map(|h| h.map(home_base)),
            password: body.password.map(Text::into_string),
            current_password: body.current_password.map(Text::into_string),
        }
    }
}

fn user_path(id: UserId) -> String {
    format!("/v1/users/{id}")
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
    let user = users::me(&state, &principal).await?;
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
    let user = users::create(&state, &principal, body.into_inner().into()).await?;
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
        &state,
        &principal,
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
    let user = users::get(&state, &principal, UserId(id.into_inner())).await?;
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
    let updated = users::update(
        &state,
        &principal,
        UserId(id.into_inner()),
        if_match.0,
        body.into_inner().into(),
        &*state.login_limiter,
    )
    .await?;
    Ok(ok_versioned(updated.version, &UserView::from(updated)))
}

/// Optional body of `deactivateUser`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// Who takes over the user's open steps (if qualified; otherwise the assignment rule
    /// decides per step).
    pub successor_id: Option<Uuid>,
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
    let user = users::deactivate(
        &state,
        &principal,
        UserId(id.into_inner()),
        if_match.0,
        successor,
    )
    .await?;
    Ok(ok_versioned(user.version, &UserView::from(user)))
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
    let user = users::reactivate(&state, &principal, UserId(id.into_inner()), if_match.0).await?;
    Ok(ok_versioned(user.version, &UserView::from(user)))
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
    users::reset_password(&state, &principal, UserId(id.into_inner())).await?;
    Ok(HttpResponse::Accepted().finish())
}
