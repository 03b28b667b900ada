//! Webhook delivery: Standard Webhooks signing, the SSRF guard, and the outbox worker that
//! runs inside every server instance.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;
use workorders_persistence::webhooks::{self as store, Attempt, Claimed, EndpointRecord, Outcome};

use crate::App;

/// Retry delays after the 1st, 2nd, ... failed attempt (scaled by the settings).
const SCHEDULE_SECS: [u64; 12] = [
    5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200,
];

/// A new signing secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key from a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|e| anyhow::anyhow!("bad secret: {e}"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|e| anyhow::anyhow!("hmac key: {e}"))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Address blocks that are not globally reachable, from the IANA IPv4 and IPv6
/// Special-Purpose Address Registries (as of 2026-12; "Globally Reachable: False"), plus
/// multicast and the deprecated site-local block. One table, kept in one place: a webhook
/// must not reach into the server's own networks (SSRF).
const SPECIAL_PURPOSE: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "carrier-grade NAT (shared address space)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo"),
    ("2001:2::/48", "benchmarking"),
    ("2001:10::/28", "deprecated ORCHID"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local (private network)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "deprecated site-local"),
    ("ff00::/8", "multicast"),
];

fn special_purpose() -> &'static [(ipnet::IpNet, &'static str)] {
    static TABLE: std::sync::OnceLock<Vec<(ipnet::IpNet, &'static str)>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        SPECIAL_PURPOSE
            .iter()
            .filter_map(|(net, why)| net.parse().ok().map(|n| (n, *why)))
            .collect()
    })
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), the NAT64
/// well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052) and 6to4 (`2002:aabb:ccdd::`). A target
/// is judged by the IPv4 address it ends up at.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(from(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(from(s[1], s[2]))
    } else {
        None
    }
}

/// Why a target is refused (`None`: globally reachable).
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    special_purpose()
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// Checks a webhook URL: http(s), a host, and (unless private targets are allowed) every
/// address it resolves to public. Returns the host and the addresses to connect to.
pub async fn check_target(
    url: &str,
    allow_private: bool,
) -> Result<(String, Vec<SocketAddr>), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must use http or https".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials in the URL are not allowed; use the signature".to_owned());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "the URL has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| "the URL has no port".to_owned())?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("the host does not resolve: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err("the host does not resolve".to_owned());
    }
    if !allow_private {
        for a in &addrs {
            if let Some(why) = forbidden_address(a.ip()) {
                return Err(format!(
                    "the host resolves to {} ({why}); such targets are refused",
                    a.ip()
                ));
            }
        }
    }
    Ok((host, addrs))
}

/// The delay before attempt `attempts + 1`, with ±20 % jitter.
fn retry_delay(attempts: i64, scale: f64) -> Duration {
    let index = usize::try_from(attempts.max(1) - 1)
        .unwrap_or(0)
        .min(SCHEDULE_SECS.len() - 1);
    let base = SCHEDULE_SECS[index] as f64 * scale;
    let jitter = (uuid::Uuid::new_v4().as_u128() % 4001) as f64 / 10_000.0 - 0.2;
    Duration::from_secs_f64((base * (1.0 + jitter)).max(0.01))
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(24 * 3600)))
}

/// The signatures for a message: the current secret, and during a rotation the previous.
fn signatures(
    endpoint: &EndpointRecord,
    id: &str,
    timestamp: i64,
    body: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut sigs = vec![sign(&endpoint.secret, id, timestamp, body)?];
    if let (Some(previous), Some(until)) = (
        &endpoint.previous_secret,
        endpoint.previous_secret_expires_at,
    ) && until > now
    {
        sigs.push(sign(previous, id, timestamp, body)?);
    }
    Ok(sigs.join(" "))
}

struct Sent {
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
    snippet: Option<String>,
}

async fn send(
    state: &App,
    endpoint: &EndpointRecord,
    message: &Claimed,
    now: DateTime<Utc>,
) -> Sent {
    let failed = |error: String| Sent {
        status: None,
        retry_after: None,
        error: Some(error),
        snippet: None,
    };
    let settings = &state.settings.webhooks;
    let (host, addrs) = match check_target(&endpoint.url, settings.allow_private).await {
        Ok(t) => t,
        Err(e) => return failed(format!("target refused: {e}")),
    };
    let id = message.message_id.to_string();
    let timestamp = now.timestamp();
    let signature = match signatures(endpoint, &id, timestamp, &message.payload, now) {
        Ok(s) => s,
        Err(e) => return failed(format!("signing failed: {e}")),
    };
    // Connect to the addresses just checked (no second lookup an attacker could rebind).
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&host, &addrs)
        .user_agent("workorders-webhooks/1")
        .build()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("client: {e}")),
    };
    let response = client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.payload.clone())
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = retry_after(r.headers());
            let snippet = match tokio::time::timeout(settings.timeout, r.bytes()).await {
                Ok(Ok(bytes)) => {
                    let end = bytes.len().min(512);
                    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
                }
                _ => None,
            };
            Sent {
                status: Some(status),
                retry_after,
                error: None,
                snippet,
            }
        }
        Err(e) if e.is_timeout() => failed(format!(
            "timed out after {} ms",
            settings.timeout.as_millis()
        )),
        Err(e) if e.is_connect() => failed("could not connect".to_owned()),
        Err(e) => failed(format!("request failed: {e}")),
    }
}

/// What one delivery attempt came to, before it is recorded.
struct Done {
    message: Claimed,
    attempt: Attempt,
    outcome: Outcome,
    success: bool,
    gone: bool,
    /// The endpoint as it was when sent (none when it was disabled or deleted).
    endpoint: Option<EndpointRecord>,
}

/// Sends one claimed message (nothing is written yet).
async fn attempt(state: &App, message: Claimed, endpoint: EndpointRecord) -> Option<Done> {
    let settings = &state.settings.webhooks;
    let now = workorders_persistence::now();
    let started = Instant::now();
    let (sent, endpoint) = if endpoint.enabled {
        (send(state, &endpoint, &message, now).await, Some(endpoint))
    } else {
        (
            Sent {
                status: None,
                retry_after: None,
                error: Some(format!(
                    "endpoint disabled: {}",
                    endpoint
                        .disabled_reason
                        .as_deref()
                        .unwrap_or("by its owner")
                )),
                snippet: None,
            },
            None,
        )
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let success = sent.status.is_some_and(|s| (200..300).contains(&s));
    let gone = sent.status == Some(410);
    let outcome = if success {
        Outcome::Delivered
    } else if gone || endpoint.is_none() || message.attempts >= i64::from(settings.max_attempts) {
        Outcome::Dead
    } else {
        let scheduled = retry_delay(message.attempts, settings.retry_scale);
        let wait = sent.retry_after.map_or(scheduled, |r| r.max(scheduled));
        Outcome::Retry {
            at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)),
        }
    };
    let attempt = Attempt {
        at: now,
        status_code: sent.status.map(i64::from),
        latency_ms,
        error: sent
            .error
            .or_else(|| (!success).then(|| format!("answered {}", sent.status.unwrap_or(0)))),
        response_snippet: sent.snippet,
    };
    Some(Done {
        message,
        attempt,
        outcome,
        success,
        gone,
        endpoint,
    })
}

/// Keeps the endpoint's failure streak; disables it on 410 or a long streak and tells the
/// tenant's other endpoints.
async fn endpoint_result(state: &App, done: &Done) {
    let Some(endpoint) = &done.endpoint else {
        return;
    };
    if done.success && endpoint.failure_streak == 0 {
        return;
    }
    let settings = &state.settings.webhooks;
    let now = done.attempt.at;
    let gone = done.gone;
    let disable = |e: &EndpointRecord| -> Option<String> {
        if gone {
            return Some("the endpoint answered 410 Gone".to_owned());
        }
        let long = e.failing_since.is_some_and(|since| {
            now - since
                >= chrono::Duration::from_std(settings.disable_after)
                    .unwrap_or(chrono::Duration::days(3))
        });
        (e.failure_streak >= i64::from(settings.disable_after_failures) && long).then(|| {
            format!(
                "{} failed attempts in a row since {}",
                e.failure_streak,
                e.failing_since.map(|s| s.to_rfc3339()).unwrap_or_default()
            )
        })
    };
    // The streak, the disabling and its announcement in one transaction, retried on
    // database errors: an endpoint is never disabled without its announcement.
    let result = retry_db(state, "endpoint_result", || async {
        let mut tx = state.db.begin_write().await?;
        let updated = store::record_endpoint_result(
            &mut tx,
            state.db.keys(),
            endpoint.tenant_id,
            endpoint.id,
            done.success,
            now,
            &disable,
        )
        .await?;
        if let Some(e) = &updated
            && !e.enabled
            && endpoint.enabled
        {
            tracing::warn!(endpoint = %e.id, reason = ?e.disabled_reason, "webhook endpoint disabled");
            // Tell the tenant's other endpoints.
            tx.emit(
                e.tenant_id,
                "webhook.endpoint_disabled",
                serde_json::json!({"endpoint_id": e.id, "url": e.url, "reason": e.disabled_reason}),
            );
        }
        tx.commit().await?;
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record the endpoint's result");
    }
}

/// Runs a database step of the worker again on errors, with backoff, for up to half the
/// lease; counts a final failure in `worker_errors`.
async fn retry_db<T, F, Fut>(
    state: &App,
    phase: &str,
    mut step: F,
) -> Result<T, workorders_persistence::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, workorders_persistence::StoreError>>,
{
    let deadline = Instant::now() + state.settings.webhooks.lease / 2;
    let mut delay = Duration::from_millis(100);
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(error = %e, phase, "webhook worker: database error; retrying");
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                state.metrics.worker_error("webhooks", phase);
                return Err(e);
            }
        }
    }
}

/// Sends a batch of claimed messages concurrently, then records every attempt in one
/// transaction.
async fn deliver_batch(state: &App, claimed: Vec<Claimed>) {
    // The batch's endpoints, read once on one connection (a batch often goes to one). An
    // endpoint that cannot be read (a database error, not a deleted endpoint) gives its
    // messages back without counting the attempt.
    let mut endpoints: std::collections::HashMap<uuid::Uuid, Option<EndpointRecord>> =
        std::collections::HashMap::new();
    let mut unreadable: Vec<Claimed> = Vec::new();
    match state.db.pool().acquire().await {
        Ok(mut conn) => {
            for m in &claimed {
                if endpoints.contains_key(&m.endpoint_id) {
                    continue;
                }
                match store::get_endpoint(&mut conn, state.db.keys(), m.tenant_id, m.endpoint_id)
                    .await
                {
                    Ok(e) => {
                        endpoints.insert(m.endpoint_id, e);
                    }
                    Err(e) => {
                        state.metrics.worker_error("webhooks", "read_endpoint");
                        tracing::error!(endpoint = %m.endpoint_id, error = %e, "could not read a webhook endpoint; its messages wait");
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read webhook endpoints");
        }
    }
    let (claimed, waiting): (Vec<Claimed>, Vec<Claimed>) = claimed
        .into_iter()
        .partition(|m| endpoints.contains_key(&m.endpoint_id));
    unreadable.extend(waiting);
    if !unreadable.is_empty()
        && let Err(e) = retry_db(state, "release", || {
            store::release(
                &state.db,
                &unreadable,
                workorders_persistence::now() + chrono::Duration::seconds(30),
            )
        })
        .await
    {
        tracing::error!(error = %e, "could not give webhook messages back; their lease brings them back");
    }
    let sends = claimed.into_iter().filter_map(|m| {
        let endpoint = endpoints.get(&m.endpoint_id).cloned().flatten()?;
        Some(attempt(state, m, endpoint))
    });
    let done: Vec<Done> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect();
    let rows: Vec<(Claimed, Attempt, Outcome)> = done
        .iter()
        .map(|d| (d.message.clone(), d.attempt.clone(), d.outcome.clone()))
        .collect();
    let kept = match retry_db(state, "record_attempts", || {
        store::finish_all(&state.db, &rows)
    })
    .await
    {
        Ok(kept) => kept,
        Err(e) => {
            tracing::error!(error = %e, "could not record webhook attempts; the messages go out again after their lease");
            return;
        }
    };
    for (d, kept) in done.iter().zip(kept) {
        if !kept {
            tracing::warn!(message = %d.message.message_id, "lost the lease on a webhook message; another worker has it");
            continue;
        }
        state.metrics.webhook_attempt(match d.outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "failed",
            Outcome::Dead => "dead",
        });
        endpoint_result(state, d).await;
    }
}

/// The delivery worker: wakes on local commits that queued messages and polls for due ones
/// (retries, other instances' messages). Stops when `shutdown` turns true; a message it
/// holds when stopped is taken again by any worker after its lease.
pub async fn run_worker(state: App, mut shutdown: watch::Receiver<bool>) {
    let signal = state.db.outbox_signal();
    let settings = state.settings.webhooks.clone();
    loop {
        loop {
            let now = workorders_persistence::now();
            let lease =
                chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(1));
            let claimed = match store::claim(&state.db, now, lease, 16).await {
                Ok((c, set_aside)) => {
                    for _ in 0..set_aside {
                        state.metrics.worker_error("webhooks", "unreadable_message");
                    }
                    if c.is_empty() && set_aside > 0 {
                        continue;
                    }
                    c
                }
                Err(e) => {
                    state.metrics.worker_error("webhooks", "claim");
                    tracing::error!(error = %e, "could not claim outbox messages");
                    break;
                }
            };
            if claimed.is_empty() {
                break;
            }
            deliver_batch(&state, claimed).await;
        }
        if let Ok((pending, oldest)) =
            store::queue_stats(&state.db, workorders_persistence::now()).await
        {
            state.metrics.set_outbox(pending, oldest);
        }
        tokio::select! {
            () = signal.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            // NAT64 of private and metadata addresses, 6to4 of loopback, Teredo.
            "64:ff9b::10.0.0.1",
            "64:ff9b::169.254.169.254",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // Benchmarking, documentation, multicast, broadcast.
            "198.18.0.1",
            "198.19.255.254",
            "192.0.2.1",
            "2001:db8::1",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
        ] {
            assert!(forbidden_address(ip.parse().expect("ip")).is_some(), "{ip}");
        }
        assert_eq!(
            SPECIAL_PURPOSE.len(),
            special_purpose().len(),
            "every block parses"
        );
        // NAT64 of a public address, and public addresses, are fine.
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "198.20.0.1",
        ] {
            assert!(forbidden_address(ip.parse().expect("ip")).is_none(), "{ip}");
        }
    }

    #[test]
    fn retries_span_more_than_a_day() {
        let total: u64 = SCHEDULE_SECS.iter().sum();
        assert!(total > 24 * 3600);
        let first = retry_delay(1, 1.0).as_secs_f64();
        assert!((4.0..=6.0).contains(&first));
    }
}
