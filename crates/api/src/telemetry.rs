//! Logging setup: human-readable lines for development, JSON lines for production.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default filter
/// (`info`, with sqlx and actix's own chatter at `warn`). Each request's span is logged when
/// it closes, which gives one access-log line per request with its status and request id.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_span_events(FmtSpan::CLOSE),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_span_events(FmtSpan::CLOSE))
            .try_init(),
    };
    // Already installed: tests start several servers in one process.
    drop(result);
}

/// Token prefixes of private links and credentials (booking, quote, calendar feed, password
/// link, refresh token, API key).
const TOKEN_PREFIXES: [&str; 7] = ["bk_", "q_", "in_", "cal_", "pw_", "rt_", "wo_"];

fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::parse_str(text).is_ok()
}

/// Whether a path segment or query value is a secret: a token with one of our prefixes, or
/// any long run of URL-safe base64 (which is what every token of ours is) that is not a UUID.
fn is_secret(text: &str) -> bool {
    let stem = text.split('.').next().unwrap_or(text);
    let url_safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if TOKEN_PREFIXES
        .iter()
        .any(|p| stem.starts_with(p) && stem.len() >= p.len() + 16 && url_safe(stem))
    {
        return true;
    }
    stem.len() >= 32 && url_safe(stem) && !is_uuid(stem)
}

/// A request target (path and query) with every private-link token and credential replaced
/// by `[redacted]`, for logs and traces.
pub fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut out: String = path
        .split('/')
        .map(|segment| {
            if is_secret(segment) {
                let ext = segment
                    .rsplit_once('.')
                    .map(|(_, e)| format!(".{e}"))
                    .unwrap_or_default();
                format!("[redacted]{ext}")
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_secret(v) || is_secret(k) => format!("{k}=[redacted]"),
                Some((k, v)) => format!("{k}={v}"),
                None if is_secret(pair) => "[redacted]".to_owned(),
                None => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// The root span of every request: like tracing-actix-web's default, but the target has
/// its tokens redacted, and the client address follows `--trusted-proxies`.
pub struct RedactingRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let target = request
            .uri()
            .path_and_query()
            .map(|p| redact_target(p.as_str()))
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %target,
            http.client_ip = %crate::client_ip::of_service_request(request),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_from_targets() {
        let token = "bk_Zm9vYmFyYmF6cXV4eHl6enk0NTY3ODkwMTIzNDU2Nzg";
        assert_eq!(
            redact_target(&format!("/v1/public/demo/bookings/{token}/reschedule")),
            "/v1/public/demo/bookings/[redacted]/reschedule"
        );
        assert_eq!(
            redact_target("/v1/calendars/cal_abcdefghijklmnopqrstuvwxyz012345.ics"),
            "/v1/calendars/[redacted].ics"
        );
        assert_eq!(
            redact_target("/set-password/pw_abcdefghijklmnopqrstuvwxyz?done"),
            "/set-password/[redacted]?done"
        );
        assert_eq!(
            redact_target("/invoices/in_abcdefghijklmnopqrstuvwxyz/pdf"),
            "/invoices/[redacted]/pdf"
        );
        let id = "01936f0e-6a3b-7c2d-8e9f-0a1b2c3d4e5f";
        assert_eq!(
            redact_target(&format!("/v1/work-orders/{id}?limit=5&cursor=abc")),
            format!("/v1/work-orders/{id}?limit=5&cursor=abc")
        );
        assert_eq!(
            redact_target("/x?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "/x?token=[redacted]"
        );
    }
}
