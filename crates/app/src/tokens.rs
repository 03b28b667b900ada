//! Random opaque tokens (refresh tokens, API keys) and their stored hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// A URL-safe token with 256 random bits behind a readable prefix (`rt_...`).
pub fn new_token(prefix: &str) -> Result<String, getrandom::Error> {
    Ok(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// SHA-256 hex digest. Tokens carry 256 random bits, so a fast hash is enough to make a
/// stolen database useless (unlike passwords, which need Argon2).
pub fn sha256_hex(text: &str) -> String {
    sha256_bytes_hex(text.as_bytes())
}

/// SHA-256 hex digest of bytes.
pub fn sha256_bytes_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new API key: `wo_<12-char public prefix>_<secret>`. Returns (prefix, full key).
pub fn new_api_key() -> Result<(String, String), getrandom::Error> {
    let prefix: String = URL_SAFE_NO_PAD
        .encode(random_bytes::<9>()?)
        .chars()
        .map(|c| if c == '-' || c == '_' { 'x' } else { c })
        .collect();
    let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    Ok((prefix.clone(), format!("wo_{prefix}_{secret}")))
}

/// The public prefix of something that looks like an API key.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("wo_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && !secret.is_empty()).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_a_findable_prefix() {
        let (prefix, key) = new_api_key().expect("rng");
        assert_eq!(api_key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(api_key_prefix("eyJhbGciOi.x.y"), None);
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = new_token("rt_").expect("rng");
        let b = new_token("rt_").expect("rng");
        assert_ne!(a, b);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
