//! Argon2id password hashing with OWASP parameters (19 MiB, 2 iterations, 1 lane), run on
//! the blocking thread pool so that async workers keep serving requests.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

use crate::error::AppError;

/// Stored instead of a hash for accounts that have no password yet (invited users): no
/// password matches it.
pub const NO_PASSWORD: &str = "!no-password";

#[derive(Clone)]
pub struct PasswordHasher {
    params: Arc<Params>,
    /// A hash of a random password, verified when the account does not exist so that
    /// unknown accounts take as long as wrong passwords.
    dummy_hash: Arc<String>,
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

impl PasswordHasher {
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(19 * 1024, 2, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy = crate::tokens::new_token("")?;
        let dummy_hash = argon2(&params)
            .hash_password(dummy.as_bytes())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(Self {
            params: Arc::new(params),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let params = self.params.clone();
        let result = tokio::task::spawn_blocking(move || {
            argon2(&params)
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
        })
        .await
        .map_err(AppError::internal)?;
        result.map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))
    }

    /// Verifies a password against a PHC string; with `None`, burns the same time and fails.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        // Unknown accounts and accounts without a password take as long as a wrong password.
        let hash = hash.filter(|h| h.starts_with("$argon2"));
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let params = self.params.clone();
        let ok = tokio::task::spawn_blocking(move || {
            argon2(&params)
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(AppError::internal)?;
        Ok(ok && known)
    }
}
