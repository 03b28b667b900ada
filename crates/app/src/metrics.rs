//! The server's metrics (Prometheus text format): requests, the database pool, the outbox,
//! e-mail and webhook attempts, and errors of background work.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use workorders_persistence::PoolStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: String,
    route: String,
    status: u16,
}

/// The server's metrics registry (one per application instance, no global state).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    outbox_pending: Gauge,
    outbox_oldest_due: Gauge<f64, std::sync::atomic::AtomicU64>,
    webhook_attempts: Family<AttemptLabels, Counter>,
    email_attempts: Family<AttemptLabels, Counter>,
    email_queued: Gauge,
    worker_errors: Family<WorkerLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    /// `email`, `billing`, `webhooks`, `oversight`.
    worker: String,
    /// What failed (`record_outcome`, `overdue`, `reviews`, ...).
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    /// `delivered`, `failed` or `dead`.
    result: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram>::new_with_constructor(|| {
            // 1 ms .. ~16 s
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let (pool_size, pool_idle, pool_max) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            durations.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "Configured maximum of database connections",
            pool_max.clone(),
        );
        let outbox_pending = Gauge::default();
        let outbox_oldest_due = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let webhook_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "outbox_pending_messages",
            "Outbox messages waiting for delivery (queue depth)",
            outbox_pending.clone(),
        );
        registry.register(
            "outbox_oldest_due_age_seconds",
            "Age of the oldest due outbox message",
            outbox_oldest_due.clone(),
        );
        registry.register(
            "webhook_delivery_attempts",
            "Webhook delivery attempts by result (failed: will be retried; dead: retries exhausted or endpoint gone)",
            webhook_attempts.clone(),
        );
        let email_attempts = Family::<AttemptLabels, Counter>::default();
        let email_queued = Gauge::default();
        registry.register(
            "email_queued_messages",
            "Customer e-mails waiting to be sent (stays up while no SMTP server is configured)",
            email_queued.clone(),
        );
        registry.register(
            "email_send_attempts",
            "Customer e-mail send attempts by result (retry: transient failure; failed: rejected or out of attempts)",
            email_attempts.clone(),
        );
        let worker_errors = Family::<WorkerLabels, Counter>::default();
        registry.register(
            "worker_errors",
            "Errors of background work by worker and phase (each isolated: other tenants and messages go on; see the log)",
            worker_errors.clone(),
        );
        Self {
            worker_errors,
            registry,
            requests,
            durations,
            pool_size,
            pool_idle,
            pool_max,
            outbox_pending,
            outbox_oldest_due,
            webhook_attempts,
            email_attempts,
            email_queued,
        }
    }

    /// Counts an error of background work (the work of other tenants and messages goes on).
    pub fn worker_error(&self, worker: &str, phase: &str) {
        self.worker_errors
            .get_or_create(&WorkerLabels {
                worker: worker.to_owned(),
                phase: phase.to_owned(),
            })
            .inc();
    }

    /// E-mails waiting to be sent, from the billing worker.
    pub fn set_email_queue(&self, queued: i64) {
        self.email_queued.set(queued);
    }

    /// Counts an e-mail send attempt (`sent`, `retry`, `failed`).
    pub fn email_attempt(&self, result: &str) {
        self.email_attempts
            .get_or_create(&AttemptLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Queue depth and the age of the oldest due message, from the delivery worker.
    pub fn set_outbox(&self, pending: i64, oldest_due_seconds: f64) {
        self.outbox_pending.set(pending);
        self.outbox_oldest_due.set(oldest_due_seconds);
    }

    /// Counts a delivery attempt (`delivered`, `failed`, `dead`).
    pub fn webhook_attempt(&self, result: &str) {
        self.webhook_attempts
            .get_or_create(&AttemptLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a request and its duration, by method, route pattern and status.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(seconds);
    }

    /// The registry in the text exposition format.
    pub fn render(&self, pool: PoolStats) -> Result<String, std::fmt::Error> {
        self.pool_size.set(i64::from(pool.size));
        self.pool_idle.set(i64::from(pool.idle));
        self.pool_max.set(i64::from(pool.max));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
