//! The client's address behind reverse proxies.
//!
//! Without `--trusted-proxies` the TCP peer is the client and forwarding headers are ignored
//! (anyone can send them). With it, and only when the peer is one of the trusted proxies,
//! the address comes from `Forwarded` (RFC 7239) or else `X-Forwarded-For`: the hops are
//! read from the right (the hop the nearest proxy saw) and the first one that is not a
//! trusted proxy is the client. Rate limits, sign-in throttling and the access log all use
//! this address.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::web;
use ipnet::IpNet;

use workorders_app::throttle::ClientAddress;

use crate::state::AppState;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|net| net.contains(&ip))
}

/// Parses one hop: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:4711`, `2001:db8::1`, quoted
/// or not. `unknown` and obfuscated identifiers (`_hidden`) are not addresses.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// The `for=` hops of `Forwarded` headers, in order (left to right, header by header).
fn forwarded_hops(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().to_owned())
            })
        })
        .collect()
}

fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The client's address from the peer and the forwarding headers (see the module docs).
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    if proxies.is_empty() || !trusted(peer, proxies) {
        return Some(peer);
    }
    let mut hops = forwarded_hops(headers);
    if hops.is_empty() {
        hops = x_forwarded_for_hops(headers);
    }
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted(ip, proxies) => nearest = ip,
            Some(ip) => return Some(ip),
            // A hop a trusted proxy did not write properly: stop at the last good one.
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

fn settings_proxies(state: Option<&web::Data<AppState>>) -> &[IpNet] {
    state.map_or(&[], |s| s.settings.trusted_proxies.as_slice())
}

/// The client's address of a request, as text (`unknown` without a peer).
pub fn of_request(req: &HttpRequest) -> String {
    let state = req.app_data::<web::Data<AppState>>();
    resolve(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        settings_proxies(state),
    )
    .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The same, for middleware.
pub fn of_service_request(req: &ServiceRequest) -> String {
    let state = req.app_data::<web::Data<AppState>>();
    resolve(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        settings_proxies(state),
    )
    .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// Puts the client's address on every request (as [`ClientAddress`]) for the other front
/// doors served by this server (the customer pages count their rate limits by it), so the
/// trusted-proxy rule lives in one place.
pub async fn remember_client(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let client = of_service_request(&req);
    req.extensions_mut().insert(ClientAddress(client));
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        // Not behind a configured proxy: the header is anyone's to send.
        assert_eq!(
            resolve(Some(ip("198.51.100.2")), &h, &proxies),
            Some(ip("198.51.100.2"))
        );
        assert_eq!(resolve(Some(ip("10.0.0.1")), &h, &[]), Some(ip("10.0.0.1")));
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // The client forged a first entry; the proxies appended the real ones.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.5")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("203.0.113.7"))
        );
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1;proto=https, for=\"[2001:db8::7]:4711\";by=10.0.0.5",
        )]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("2001:db8::7"))
        );
        // Forwarded wins over X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-for", "203.0.113.8"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("203.0.113.9"))
        );
        // Garbage where a proxy should have written an address: the last good hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.7, not-an-ip, 10.0.0.5")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("10.0.0.5"))
        );
        // Only trusted hops: the leftmost of them.
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(parse_hop("203.0.113.7:443"), Some(ip("203.0.113.7")));
        assert_eq!(parse_hop("unknown"), None);
    }
}
