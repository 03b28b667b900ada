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
