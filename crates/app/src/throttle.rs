//! Throttling, in memory per server instance: sign-in and sign-up attempts, and the public
//! booking surface (the JSON endpoints and the customer pages share one budget).
//!
//! Two rules: a per-key budget of attempts per minute (a client address, a company), and a
//! per-account budget of failed sign-ins per window. With several instances behind a load balancer each instance
//! counts on its own, so the effective budget is multiplied by the number of instances.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client's address as the front door resolved it (behind trusted proxies: the first
/// untrusted hop), for per-client budgets. The HTTP server puts it on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// The budgets of the public booking surface: per client address and per company, per
/// minute, shared by the JSON endpoints and the customer pages.
pub struct PublicLimits {
    pub per_client: RateLimiter,
    pub per_company: RateLimiter,
}

impl PublicLimits {
    pub fn new(per_client_per_minute: u32, per_company_per_minute: u32) -> Self {
        Self {
            per_client: RateLimiter::new(0, Duration::from_secs(60), per_client_per_minute),
            per_company: RateLimiter::new(0, Duration::from_secs(60), per_company_per_minute),
        }
    }

    /// Counts one public request of `client` for the company `slug`; refused (with the
    /// seconds to wait) when either budget is used up.
    pub fn admit(&self, client: &str, slug: &str) -> crate::AppResult<()> {
        self.per_client
            .attempt(client)
            .and_then(|()| self.per_company.attempt(slug))
            .map_err(|retry_after_secs| crate::AppError::RateLimited { retry_after_secs })
    }
}

/// Counts events per key in fixed windows.
pub struct RateLimiter {
    failures: Mutex<HashMap<String, Window>>,
    attempts: Mutex<HashMap<String, Window>>,
    max_failures: u32,
    failure_window: Duration,
    attempts_per_minute: u32,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

fn seconds_left(window: &Window, length: Duration, now: Instant) -> u64 {
    let left = length.saturating_sub(now.duration_since(window.started));
    left.as_secs().max(1)
}

impl RateLimiter {
    pub fn new(max_failures: u32, failure_window: Duration, attempts_per_minute: u32) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            max_failures,
            failure_window,
            attempts_per_minute,
        }
    }

    /// Counts one attempt from `client`; `Err(seconds)` when over budget.
    pub fn attempt(&self, client: &str) -> Result<(), u64> {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, w| now.duration_since(w.started) < minute);
        }
        let window = map.entry(client.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= minute {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= self.attempts_per_minute {
            return Err(seconds_left(window, minute, now));
        }
        window.count += 1;
        Ok(())
    }

    /// `Err(seconds)` when `account` has used up its failed sign-ins.
    pub fn check_account(&self, account: &str) -> Result<(), u64> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(account) {
            Some(w)
                if now.duration_since(w.started) < self.failure_window
                    && w.count >= self.max_failures =>
            {
                Err(seconds_left(w, self.failure_window, now))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let window = self.failure_window;
            map.retain(|_, w| now.duration_since(w.started) < window);
        }
        let window = map.entry(account.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= self.failure_window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        window.count += 1;
    }

    pub fn record_success(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
    }
}

/// The application counts failed password checks of an account here (sign-in, a change of
/// one's own password).
impl crate::sessions::AccountThrottle for RateLimiter {
    fn check_account(&self, account: &str) -> Result<(), u64> {
        RateLimiter::check_account(self, account)
    }

    fn record_failure(&self, account: &str) {
        RateLimiter::record_failure(self, account);
    }

    fn record_success(&self, account: &str) {
        RateLimiter::record_success(self, account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_lock_after_max_failures_and_unlock_on_success() {
        let limiter = RateLimiter::new(3, Duration::from_secs(600), 100);
        for _ in 0..3 {
            assert!(limiter.check_account("a").is_ok());
            limiter.record_failure("a");
        }
        let retry = limiter.check_account("a").expect_err("locked");
        assert!(retry > 0 && retry <= 600);
        assert!(
            limiter.check_account("b").is_ok(),
            "other accounts are unaffected"
        );
        limiter.record_success("a");
        assert!(limiter.check_account("a").is_ok());
    }

    #[test]
    fn clients_get_a_budget_per_minute() {
        let limiter = RateLimiter::new(3, Duration::from_secs(600), 2);
        assert!(limiter.attempt("ip").is_ok());
        assert!(limiter.attempt("ip").is_ok());
        assert!(limiter.attempt("ip").is_err());
        assert!(limiter.attempt("other").is_ok());
    }
}
