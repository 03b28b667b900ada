//! Who is calling: resolved from `Authorization: Bearer <access token | API key>`.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use workorders_app::sessions;

use crate::auth::tokens::api_key_prefix;
use crate::error::{ApiError, codes};
use crate::state::AppState;

pub use workorders_app::identity::{Actor, Principal};

/// The authenticated caller of a handler (the extractor): 401 without credentials.
/// Dereferences to the [`Principal`] that use cases take.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::unauthenticated(codes::INVALID_TOKEN, "malformed Authorization header")
    })?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "expected `Authorization: Bearer <token>`",
        )
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            codes::INVALID_TOKEN,
            "expected `Authorization: Bearer <token>`",
        ));
    }
    Ok(Some(token.trim().to_owned()))
}

/// Resolves the caller of a request, caching the result in the request's extensions.
/// `Ok(None)`: no credentials were sent.
pub async fn resolve(req: &HttpRequest) -> Result<Option<Principal>, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(Some(principal.clone()));
    }
    let Some(token) = bearer(req)? else {
        return Ok(None);
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    let principal = match api_key_prefix(&token) {
        Some(prefix) => sessions::authenticate_api_key(state, &token, prefix).await?,
        None => {
            let claims = state.jwt.verify(&token)?;
            sessions::authenticate_session(state, claims.tid, claims.sub, claims.sid).await?
        }
    };
    req.extensions_mut().insert(principal.clone());
    Ok(Some(principal))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            resolve(&req).await?.map(Caller).ok_or_else(|| {
                ApiError::unauthenticated(
                    codes::UNAUTHENTICATED,
                    "sign in first: send `Authorization: Bearer <token>`",
                )
            })
        })
    }
}
