//! Authentication: passwords, access tokens, refresh tokens, API keys, the caller
//! ([`principal::Principal`]) and sign-in throttling.

pub mod jwt;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod tokens;

pub use principal::{Actor, Principal};
