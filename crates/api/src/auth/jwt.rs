//! Short-lived access tokens: HS256 JWTs with `iss`, `aud`, `exp`, `nbf`, `typ` checked (30 s
//! leeway for clock skew) and only the configured algorithm accepted.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;
use workorders_app::sessions::AccessTokens;
use workorders_app::{AppError, AppResult};
use workorders_domain::{SessionId, TenantId, UserId};

use crate::config::Secret;
use crate::error::{ApiError, codes};

const ACCESS_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: UserId,
    /// The user's tenant.
    pub tid: TenantId,
    /// The sign-in session (refresh-token family); revoking it ends the token early.
    pub sid: SessionId,
    /// Token type; only `access` is accepted as a bearer token.
    pub typ: String,
    pub iat: i64,
    /// Not valid before (the time of issue).
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &Secret, issuer: &str, audience: &str, access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        }
    }

    /// Issues an access token; returns it with its lifetime in seconds.
    pub fn issue(
        &self,
        user: UserId,
        tenant: TenantId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(String, i64), ApiError> {
        self.sign(user, tenant, session, now)
            .map_err(ApiError::internal)
    }

    fn sign(
        &self,
        user: UserId,
        tenant: TenantId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(900);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            tid: tenant,
            sid: session,
            typ: ACCESS_TYPE.to_owned(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp() + ttl,
            jti: Uuid::now_v7(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, ttl))
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and type.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                let detail = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "the access token has expired; refresh it"
                    }
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the access token is not valid yet (check the clock)"
                    }
                    _ => "the access token is not valid",
                };
                ApiError::unauthenticated(codes::INVALID_TOKEN, detail)
            })?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(ApiError::unauthenticated(
                codes::INVALID_TOKEN,
                "not an access token",
            ));
        }
        Ok(data.claims)
    }
}

/// The application's sessions get their access tokens here.
impl AccessTokens for JwtKeys {
    fn issue_access(
        &self,
        user: UserId,
        tenant: TenantId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> AppResult<(String, i64)> {
        self.sign(user, tenant, session, now)
            .map_err(AppError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(
            &Secret::new(secret),
            "workorders",
            "workorders-api",
            Duration::from_secs(60),
        )
    }

    #[test]
    fn tokens_verify_only_with_the_right_key_and_claims() {
        let a = keys("a-secret-that-is-at-least-32-bytes!!");
        let b = keys("another-secret-that-is-32-bytes-long");
        let (token, ttl) = a
            .issue(
                UserId::new(),
                TenantId::new(),
                SessionId::new(),
                workorders_persistence::now(),
            )
            .expect("issue");
        assert_eq!(ttl, 60);
        assert!(a.verify(&token).is_ok());
        assert!(b.verify(&token).is_err());
        let other_audience = JwtKeys::new(
            &Secret::new("a-secret-that-is-at-least-32-bytes!!"),
            "workorders",
            "elsewhere",
            Duration::from_secs(60),
        );
        assert!(other_audience.verify(&token).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let a = keys("a-secret-that-is-at-least-32-bytes!!");
        let long_ago = workorders_persistence::now() - chrono::Duration::hours(2);
        let (token, _) = a
            .issue(UserId::new(), TenantId::new(), SessionId::new(), long_ago)
            .expect("issue");
        assert!(a.verify(&token).is_err());
    }

    #[test]
    fn tokens_from_the_future_are_refused_beyond_the_leeway() {
        let a = keys("a-secret-that-is-at-least-32-bytes!!");
        let now = workorders_persistence::now();
        let (soon, _) = a
            .issue(
                UserId::new(),
                TenantId::new(),
                SessionId::new(),
                now + chrono::Duration::seconds(20),
            )
            .expect("issue");
        assert!(a.verify(&soon).is_ok(), "within the leeway");
        let (later, _) = a
            .issue(
                UserId::new(),
                TenantId::new(),
                SessionId::new(),
                now + chrono::Duration::minutes(5),
            )
            .expect("issue");
        assert!(a.verify(&later).is_err(), "nbf five minutes ahead");
        // A token without nbf is refused.
        #[derive(serde::Serialize)]
        struct NoNbf {
            iss: &'static str,
            aud: &'static str,
            sub: UserId,
            tid: TenantId,
            sid: SessionId,
            typ: &'static str,
            iat: i64,
            exp: i64,
            jti: Uuid,
        }
        let claims = NoNbf {
            iss: "workorders",
            aud: "workorders-api",
            sub: UserId::new(),
            tid: TenantId::new(),
            sid: SessionId::new(),
            typ: "access",
            iat: now.timestamp(),
            exp: now.timestamp() + 60,
            jti: Uuid::now_v7(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"a-secret-that-is-at-least-32-bytes!!"),
        )
        .expect("encode");
        assert!(a.verify(&token).is_err());
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let a = keys("a-secret-that-is-at-least-32-bytes!!");
        // {"alg":"none"} header with valid-looking claims and no signature.
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#,
        );
        let token = format!("{header}.e30.");
        assert!(a.verify(&token).is_err());
    }
}
