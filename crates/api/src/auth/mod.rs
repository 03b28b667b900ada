//! Authentication: passwords, access tokens, refresh tokens, API keys, the caller
//! ([`principal::Principal`]) and sign-in throttling.

pub mod jwt;
pub use workorders_app::password;
pub mod principal;
pub use workorders_app::throttle as rate_limit;
pub use workorders_app::tokens;

pub use principal::{Actor, Caller, Principal};
