//! Secrets at rest: values the server must read back (webhook signing secrets, stored
//! replies that show a credential once, queued e-mail bodies with private links) are sealed
//! with XChaCha20-Poly1305 under a key the database does not hold (`--secret-key-file`), so a
//! copy of the database (a backup, a dump, a stolen disk) reveals none of them.
//!
//! A key ring holds one or more 256-bit keys: the first seals, all open. A sealed value is
//! `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`; the key id is a short digest of
//! the key, so a value names the key that opens it. Each value is bound to its purpose (the
//! associated data, e.g. `webhook_secret`), so a ciphertext copied into another column does
//! not open there.
//!
//! Rotation: put a new key on the first line of the key file and keep the old ones below it;
//! restart; run `workorders rekey`, which seals every stored value with the new key; then
//! remove the old lines.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// Why a key file or a sealed value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key file holds no key")]
    Empty,
    #[error("line {line} of the key file is not a base64-encoded 32-byte key")]
    BadKey { line: usize },
    #[error(
        "no key of the key ring opens this value (key id {key_id}); was a key removed too early?"
    )]
    UnknownKey { key_id: String },
    #[error("a sealed value is damaged or belongs to another purpose")]
    Damaged,
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The server's secret keys. The first seals; every key opens what it sealed.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        write!(f, "KeyRing(key ids {ids:?})")
    }
}

fn key_id(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"workorders key id\0");
    hasher.update(bytes);
    hasher.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(buf)
}

impl KeyRing {
    /// Reads a key file: one base64 key (32 bytes) per line, the sealing key first; empty
    /// lines and lines starting with `#` are ignored.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = STANDARD
                .decode(line)
                .or_else(|_| URL_SAFE_NO_PAD.decode(line))
                .map_err(|_| KeyError::BadKey { line: index + 1 })?;
            if bytes.len() != 32 {
                return Err(KeyError::BadKey { line: index + 1 });
            }
            keys.push(Key {
                id: key_id(&bytes),
                cipher: XChaCha20Poly1305::new_from_slice(&bytes)
                    .map_err(|_| KeyError::BadKey { line: index + 1 })?,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// A ring with one fresh random key (values sealed with it die with the process).
    pub fn ephemeral() -> Result<Self, KeyError> {
        Self::from_text(&Self::new_key_line()?)
    }

    /// A new key as one line of a key file.
    pub fn new_key_line() -> Result<String, KeyError> {
        Ok(STANDARD.encode(random::<32>()?))
    }

    /// The id of the sealing key.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether `value` looks sealed (by any key).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// Whether `value` should be sealed again: plain text, or sealed with an older key.
    pub fn needs_reseal(&self, value: &str) -> bool {
        match value.strip_prefix(PREFIX).and_then(|r| r.split_once(':')) {
            Some((id, _)) => id != self.primary_id(),
            None => true,
        }
    }

    /// Seals `plaintext` for `purpose` with the first key.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> Result<String, KeyError> {
        let key = &self.keys[0];
        let nonce = random::<NONCE_LEN>()?;
        let ciphertext = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Damaged)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(format!(
            "{PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a value sealed for `purpose`. A value that is not sealed (written before
    /// sealing existed) is returned as it is; `workorders rekey` and the start-up pass seal
    /// such values.
    pub fn open(&self, purpose: &str, value: &str) -> Result<String, KeyError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(value.to_owned());
        };
        let (id, data) = rest.split_once(':').ok_or(KeyError::Damaged)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyError::UnknownKey {
                key_id: id.to_owned(),
            })?;
        let blob = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| KeyError::Damaged)?;
        if blob.len() < NONCE_LEN {
            return Err(KeyError::Damaged);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| KeyError::Damaged)?;
        let plain = key
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Damaged)?;
        String::from_utf8(plain).map_err(|_| KeyError::Damaged)
    }

    /// Opens an optional value.
    pub fn open_opt(
        &self,
        purpose: &str,
        value: Option<String>,
    ) -> Result<Option<String>, KeyError> {
        value.map(|v| self.open(purpose, &v)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let ring = KeyRing::ephemeral().expect("ring");
        let sealed = ring.seal("webhook_secret", "whsec_abc").expect("seal");
        assert!(KeyRing::is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(
            ring.open("webhook_secret", &sealed).expect("open"),
            "whsec_abc"
        );
        assert_eq!(ring.open("email_body", &sealed), Err(KeyError::Damaged));
        let other = KeyRing::ephemeral().expect("ring");
        assert!(matches!(
            other.open("webhook_secret", &sealed),
            Err(KeyError::UnknownKey { .. })
        ));
        // Two seals of the same text differ (random nonces).
        assert_ne!(
            sealed,
            ring.seal("webhook_secret", "whsec_abc").expect("seal")
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_marks_them_for_resealing() {
        let old_line = KeyRing::new_key_line().expect("key");
        let new_line = KeyRing::new_key_line().expect("key");
        let old = KeyRing::from_text(&old_line).expect("old ring");
        let sealed_old = old.seal("p", "secret").expect("seal");
        let rotated = KeyRing::from_text(&format!(
            "# current\n{new_line}\n\n# previous\n{old_line}\n"
        ))
        .expect("rotated ring");
        assert_eq!(rotated.open("p", &sealed_old).expect("open"), "secret");
        assert!(rotated.needs_reseal(&sealed_old));
        assert!(rotated.needs_reseal("plain text"));
        let resealed = rotated.seal("p", "secret").expect("seal");
        assert!(!rotated.needs_reseal(&resealed));
        assert_eq!(
            rotated.open("p", "legacy plain").expect("open"),
            "legacy plain"
        );
    }

    #[test]
    fn key_files_are_checked() {
        assert_eq!(
            KeyRing::from_text("# nothing\n").err(),
            Some(KeyError::Empty)
        );
        assert_eq!(
            KeyRing::from_text("c2hvcnQ=").err(),
            Some(KeyError::BadKey { line: 1 })
        );
        let ring = KeyRing::ephemeral().expect("ring");
        let sealed = ring.seal("p", "x").expect("seal");
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(ring.open("p", &damaged), Err(KeyError::Damaged));
        // The key it was made from never shows in its debug output.
        let line = KeyRing::new_key_line().expect("key");
        let known = KeyRing::from_text(&line).expect("ring");
        let debug = format!("{known:?}");
        assert!(!debug.contains(&line), "{debug}");
        assert!(!debug.contains(&line[..12]), "{debug}");
    }
}
