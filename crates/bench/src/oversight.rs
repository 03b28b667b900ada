//! Oversight (issue 9): the scan every instance runs (overdue steps, stuck orders, missed
//! appointments, due reviews, reviews not signed off) and the review it creates, over the
//! seeded data; then the read endpoints.
//!
//! The scan is measured in process: an `Application` on the same database with a manual
//! clock that the bench moves one day per scan, so a daily schedule falls due at every scan
//! (each scan freezes one review: every item query and the period's numbers) and the
//! previous day's review escalates. The first scan also works off the backlog of overdue
//! steps and stuck orders the seed left (bounded per scan). Then scans with nothing due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::{Value, json};
use workorders_app::config::{Secret, Settings};
use workorders_persistence::Clock;

use crate::load::{Measurement, run};
use crate::seed::Company;
use crate::server::SECRET;

pub struct OversightResult {
    /// What the first scan did (the backlog).
    pub first_scan: workorders_app::oversight::TickReport,
    pub first_scan_ms: f64,
    /// Items in the last review created (all kinds, at most 100 each).
    pub review_items: usize,
    pub reviews_created: usize,
}

fn measurement(name: &str, mut samples: Vec<Duration>) -> Measurement {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let pick = |p: f64| {
        let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
        samples.get(rank).copied().unwrap_or_default()
    };
    Measurement {
        name: name.to_owned(),
        requests: samples.len(),
        ok: samples.len(),
        elapsed: total,
        p50: pick(50.0),
        p99: pick(99.0),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    client: &reqwest::Client,
    base: &Arc<String>,
    company: &Company,
    database_url: &str,
    data_dir: &std::path::Path,
    run_for: Duration,
    results: &mut Vec<(Measurement, Option<Measurement>)>,
) -> anyhow::Result<OversightResult> {
    let token = Arc::new(company.owner_token.clone());
    let me: Value = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(token.as_str())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let owner = me["id"].as_str().context("owner id")?.to_owned();
    let schedule: Value = client
        .post(format!("{base}/v1/review-schedules"))
        .bearer_auth(token.as_str())
        .json(&json!({"name": "Daily bench review", "cadence": "daily", "time": "08:00", "reviewer_id": owner}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let first: chrono::DateTime<Utc> = schedule["next_review_at"]
        .as_str()
        .context("next review")?
        .parse()?;

    let clock = Clock::manual(first + chrono::Duration::minutes(1));
    let mut settings = Settings::new(database_url.to_owned());
    settings.bind = "127.0.0.1:0".to_owned();
    settings.jwt_secret = Some(Secret::new(SECRET));
    settings.data_dir = data_dir.to_path_buf();
    settings.clock = clock.clone();
    settings.db_max_connections = 4;
    settings.workers = 1;
    let app = workorders_api::Application::build(settings).await?;
    let state = app.state().clone();

    let started = Instant::now();
    let first_scan = workorders_app::oversight::tick(&state)
        .await
        .map_err(|e| anyhow::anyhow!("first scan: {e:?}"))?;
    let first_scan_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut creating = Vec::new();
    let mut created = first_scan.reviews_created;
    for _ in 0..10 {
        clock.advance(chrono::Duration::days(1));
        let t = Instant::now();
        let r = workorders_app::oversight::tick(&state)
            .await
            .map_err(|e| anyhow::anyhow!("scan: {e:?}"))?;
        creating.push(t.elapsed());
        created += r.reviews_created;
    }
    results.push((
        measurement("oversight scan creating a review (in process)", creating),
        None,
    ));
    let mut idle = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        workorders_app::oversight::tick(&state)
            .await
            .map_err(|e| anyhow::anyhow!("scan: {e:?}"))?;
        idle.push(t.elapsed());
    }
    results.push((
        measurement("oversight scan, nothing due (in process)", idle),
        None,
    ));
    drop(app);

    let list: Value = client
        .get(format!("{base}/v1/reviews?limit=50"))
        .bearer_auth(token.as_str())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ids: Vec<String> = list["items"]
        .as_array()
        .context("reviews")?
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(!ids.is_empty(), "no review was created");
    let newest: Value = client
        .get(format!("{base}/v1/reviews/{}", ids[0]))
        .bearer_auth(token.as_str())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let review_items = newest["items"].as_array().map_or(0, Vec::len);
    let ids = Arc::new(ids);

    for (name, clients) in [
        ("getOversight (1 client)", 1),
        ("getOversight (4 clients)", 4),
    ] {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let m = run(name, clients, run_for, move |_, _| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .get(format!("{base}/v1/oversight"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        results.push((m, None));
    }
    let m = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        run("listReviews", 8, run_for, move |_, _| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .get(format!("{base}/v1/reviews?limit=50"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    results.push((m, None));
    let m = {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        run("getReview", 8, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = ids[(w + i) % ids.len()].clone();
            async move {
                client
                    .get(format!("{base}/v1/reviews/{id}"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    results.push((m, None));
    Ok(OversightResult {
        first_scan,
        first_scan_ms,
        review_items,
        reviews_created: created,
    })
}
