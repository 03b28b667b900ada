//! A webhook receiver in the bench process: records when each message arrived, to measure
//! delivery throughput and the latency from commit (the payload's timestamp) to arrival.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::load::Measurement;

/// (arrival, commit) per message.
type Arrivals = Arc<Mutex<Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>>>;

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    /// (arrival, commit) per message.
    got: Arrivals,
}

pub async fn start() -> anyhow::Result<Receiver> {
    let got: Arrivals = Arc::new(Mutex::new(Vec::new()));
    let shared = web::Data::new(got.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).default_service(web::to(
            |_req: HttpRequest, body: web::Bytes, got: web::Data<Arrivals>| async move {
                let arrived = chrono::Utc::now();
                let committed = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["timestamp"].as_str().and_then(|t| t.parse().ok()))
                    .unwrap_or(arrived);
                if let Ok(mut g) = got.lock() {
                    g.push((arrived, committed));
                }
                HttpResponse::NoContent().finish()
            },
        ))
    })
    .workers(2)
    .bind("127.0.0.1:0")?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(Receiver {
        url: format!("http://127.0.0.1:{port}/hooks"),
        got,
    })
}

impl Receiver {
    pub fn count(&self) -> usize {
        self.got.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// Waits for `expected` messages (at most `limit`), then sums up the ones after `skip`:
    /// delivered per second from `since` to the last arrival, and commit-to-arrival latency.
    pub async fn measure(
        &self,
        name: &str,
        skip: usize,
        expected: usize,
        since: chrono::DateTime<chrono::Utc>,
        limit: Duration,
    ) -> Measurement {
        let deadline = std::time::Instant::now() + limit;
        while self.count() < skip + expected && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let got: Vec<_> = self
            .got
            .lock()
            .map(|g| g.iter().skip(skip).cloned().collect())
            .unwrap_or_default();
        let mut latencies: Vec<Duration> = got
            .iter()
            .map(|(a, c)| (*a - *c).to_std().unwrap_or(Duration::ZERO))
            .collect();
        latencies.sort();
        let last = got.iter().map(|(a, _)| *a).max().unwrap_or(since);
        let pick = |p: f64| {
            latencies
                .get(((p / 100.0) * (latencies.len().max(1) - 1) as f64).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Measurement {
            name: name.to_owned(),
            requests: expected,
            ok: got.len().min(expected),
            elapsed: (last - since).to_std().unwrap_or(Duration::from_millis(1)),
            p50: pick(50.0),
            p99: pick(99.0),
        }
    }
}
