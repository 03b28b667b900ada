//! A closed-loop load generator: `workers` tasks send requests back to back until the
//! deadline; latencies of every request are kept for percentiles.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outcome of one run of an operation.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub name: String,
    pub requests: usize,
    pub ok: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Measurement {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs `op(worker, iteration)` from `workers` tasks for `duration` (at least one request per
/// worker). `op` returns whether the request succeeded.
pub async fn run<F, Fut>(name: &str, workers: usize, duration: Duration, op: F) -> Measurement
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ok = 0;
            let mut i = 0;
            loop {
                let t = Instant::now();
                if op(worker, i).await {
                    ok += 1;
                }
                samples.push(t.elapsed());
                i += 1;
                if Instant::now() >= deadline {
                    break;
                }
            }
            (samples, ok)
        }));
    }
    let mut all = Vec::new();
    let mut ok = 0;
    for t in tasks {
        if let Ok((samples, n)) = t.await {
            all.extend(samples);
            ok += n;
        }
    }
    let elapsed = started.elapsed();
    all.sort();
    Measurement {
        name: name.to_owned(),
        requests: all.len(),
        ok,
        elapsed,
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
    }
}
