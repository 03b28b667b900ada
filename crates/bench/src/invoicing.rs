//! Invoicing (issue 8): create and issue invoices on distinct orders, download their PDFs,
//! read and list them, record full payments; then check that the numbers have no gaps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use workorders_domain::TenantId;
use workorders_domain::billing::InvoiceStatus;
use workorders_persistence::Db;
use workorders_persistence::billing::{self as store, InvoiceFilter};

use crate::load::{Measurement, run};
use crate::seed::{self, SeededInvoices};

const CLIENTS: usize = 8;

/// Whether the invoice numbers of the series are consecutive.
pub struct GapCheck {
    /// Invoices issued during the run (HTTP 201 with a number).
    pub issued: usize,
    /// First and last number issued during the run.
    pub range: Option<(String, String)>,
    /// The run's numbers follow the seeded ones and each other without a gap.
    pub run_consecutive: bool,
    /// Every number of the series in the database: 1..=n, each once.
    pub series_len: usize,
    pub series_gap_free: bool,
}

impl GapCheck {
    pub fn ok(&self) -> bool {
        self.run_consecutive && self.series_gap_free && self.issued > 0
    }
}

pub struct InvoicingResult {
    pub seeded: usize,
    pub seed_seconds: f64,
    pub gaps: GapCheck,
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    client: &reqwest::Client,
    base: &Arc<String>,
    token: &str,
    db: &Db,
    tenant: TenantId,
    orders: &Arc<Vec<String>>,
    seeded: &SeededInvoices,
    run_for: Duration,
    results: &mut Vec<(Measurement, Option<Measurement>)>,
) -> anyhow::Result<GapCheck> {
    let token = Arc::new(token.to_owned());
    // createInvoice+issue: each request a new order of the second half (the seeded invoices
    // sit on the first half).
    let half = orders.len() / 2;
    let fresh = Arc::new(orders[half..].to_vec());
    let issued: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let http = {
        let (client, base, token, fresh, issued) = (
            client.clone(),
            base.clone(),
            token.clone(),
            fresh.clone(),
            issued.clone(),
        );
        run(
            "createInvoice+issue (8 clients)",
            CLIENTS,
            run_for,
            move |w, i| {
                let order = fresh[(w + CLIENTS * i) % fresh.len().max(1)].clone();
                issue(
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    order,
                    issued.clone(),
                )
            },
        )
        .await
    };
    results.push((http, None));
    // The same with one client: the latency without queueing (orders from the second half
    // of the fresh ones, which the run above did not reach).
    let http = {
        let (client, base, token, fresh, issued) = (
            client.clone(),
            base.clone(),
            token.clone(),
            fresh.clone(),
            issued.clone(),
        );
        run("createInvoice+issue (1 client)", 1, run_for, move |_, i| {
            let order = fresh[(fresh.len() / 2 + i) % fresh.len().max(1)].clone();
            issue(
                client.clone(),
                base.clone(),
                token.clone(),
                order,
                issued.clone(),
            )
        })
        .await
    };
    results.push((http, None));
    let issued: Vec<(String, String)> = issued.lock().map(|l| l.clone()).unwrap_or_default();
    anyhow::ensure!(!issued.is_empty(), "no invoice was issued");
    let ids = Arc::new(issued.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
    let pick = {
        let n = ids.len();
        move |w: usize, i: usize| (i * 7919 + w * 104_729) % n
    };

    // getInvoicePdf: the stored PDF, byte for byte.
    let http = {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        run("getInvoicePdf", CLIENTS, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = ids[pick(w, i)].clone();
            async move {
                let Ok(r) = client
                    .get(format!("{base}/v1/invoices/{id}/pdf"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                else {
                    return false;
                };
                r.status().is_success() && r.bytes().await.is_ok_and(|b| b.starts_with(b"%PDF"))
            }
        })
        .await
    };
    results.push((http, None));

    // getInvoiceXml: the stored CII XML.
    let http = {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        run("getInvoiceXml", CLIENTS, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = ids[pick(w, i)].clone();
            async move {
                let Ok(r) = client
                    .get(format!("{base}/v1/invoices/{id}/xml"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                else {
                    return false;
                };
                r.status().is_success() && r.bytes().await.is_ok()
            }
        })
        .await
    };
    results.push((http, None));

    // getInvoice: the invoice with its payments and e-mails.
    let http = {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        run("getInvoice", CLIENTS, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = ids[pick(w, i)].clone();
            async move {
                client
                    .get(format!("{base}/v1/invoices/{id}"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    let raw = {
        let (db, ids) = (db.clone(), ids.clone());
        run("getInvoice (raw)", CLIENTS, run_for, move |w, i| {
            let db = db.clone();
            let id = ids[pick(w, i)].parse().unwrap_or_default();
            async move {
                let Ok(mut conn) = db.pool().acquire().await else {
                    return false;
                };
                store::get_invoice(&mut conn, tenant, id)
                    .await
                    .is_ok_and(|i| i.is_some())
                    && store::payments(&mut conn, tenant, id).await.is_ok()
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // listInvoices: the newest page of 50 issued invoices (before any is paid).
    let http = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        run(
            "listInvoices (issued, 50)",
            CLIENTS,
            run_for,
            move |_, _| {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                async move {
                    client
                        .get(format!("{base}/v1/invoices?status=issued&limit=50"))
                        .bearer_auth(token.as_str())
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            },
        )
        .await
    };
    let raw = {
        let db = db.clone();
        let filter = Arc::new(InvoiceFilter {
            status: Some(InvoiceStatus::Issued),
            ..InvoiceFilter::default()
        });
        run("listInvoices (raw)", CLIENTS, run_for, move |_, _| {
            let (db, filter) = (db.clone(), filter.clone());
            async move {
                store::list_invoices(&db, tenant, &filter, None, 51)
                    .await
                    .is_ok()
            }
        })
        .await
    };
    results.push((http, Some(raw)));

    // recordPayment: the full amount on a different seeded invoice each time (paid, and the
    // order settles).
    let paid_on = chrono::Utc::now().date_naive().to_string();
    let http = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let unpaid = Arc::new(seeded.ids.clone());
        run("recordPayment (full)", CLIENTS, run_for, move |w, i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let id = unpaid[(w + CLIENTS * i) % unpaid.len().max(1)].clone();
            let body = json!({"amount": seed::INVOICE_TOTAL, "paid_on": paid_on});
            async move {
                client
                    .post(format!("{base}/v1/invoices/{id}/payments"))
                    .bearer_auth(token.as_str())
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 201)
            }
        })
        .await
    };
    results.push((http, None));

    gap_check(db, tenant, seeded.ids.len(), &issued).await
}

/// Creates and issues an invoice for `order`; keeps its id and number.
async fn issue(
    client: reqwest::Client,
    base: Arc<String>,
    token: Arc<String>,
    order: String,
    issued: Arc<Mutex<Vec<(String, String)>>>,
) -> bool {
    let Ok(r) = client
        .post(format!("{base}/v1/work-orders/{order}/invoices"))
        .bearer_auth(token.as_str())
        .json(&seed::invoice_body())
        .send()
        .await
    else {
        return false;
    };
    if r.status().as_u16() != 201 {
        return false;
    }
    let Ok(v) = r.json::<Value>().await else {
        return false;
    };
    match (v["id"].as_str(), v["number"].as_str()) {
        (Some(id), Some(number)) => {
            if let Ok(mut list) = issued.lock() {
                list.push((id.to_owned(), number.to_owned()));
            }
            true
        }
        _ => false,
    }
}

/// The run's numbers continue the seeded ones without a gap, and the whole series in the
/// database is 1..=n.
async fn gap_check(
    db: &Db,
    tenant: TenantId,
    seeded: usize,
    issued: &[(String, String)],
) -> anyhow::Result<GapCheck> {
    let mut run_seqs: Vec<(u64, &str)> = issued
        .iter()
        .filter_map(|(_, n)| seed::split_number(n).map(|(_, s, _)| (s, n.as_str())))
        .collect();
    run_seqs.sort_unstable();
    let run_consecutive = run_seqs.len() == issued.len()
        && run_seqs
            .iter()
            .enumerate()
            .all(|(k, (s, _))| *s == seeded as u64 + 1 + k as u64);
    let range = run_seqs
        .first()
        .zip(run_seqs.last())
        .map(|(a, b)| (a.1.to_owned(), b.1.to_owned()));
    let numbers: Vec<String> = sqlx::query_scalar(
        "SELECT number FROM invoices WHERE tenant_id = $1 AND kind = 'invoice' AND number IS NOT NULL",
    )
    .bind(tenant.to_string())
    .fetch_all(db.pool())
    .await
    .context("reading the invoice numbers")?;
    let mut series: Vec<u64> = numbers
        .iter()
        .filter_map(|n| seed::split_number(n).map(|(_, s, _)| s))
        .collect();
    series.sort_unstable();
    let series_gap_free =
        series.len() == numbers.len() && series.iter().enumerate().all(|(k, s)| *s == k as u64 + 1);
    Ok(GapCheck {
        issued: issued.len(),
        range,
        run_consecutive,
        series_len: numbers.len(),
        series_gap_free,
    })
}
