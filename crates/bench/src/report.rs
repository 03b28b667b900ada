//! `bench/RESULTS.md`: one section per backend, with every target marked met or missed.

use crate::analytics::AnalyticsResult;
use crate::invoicing::InvoicingResult;
use crate::load::Measurement;
use crate::oversight::OversightResult;

pub struct SizeResult {
    pub orders: usize,
    pub seed_seconds: f64,
    pub startup_ms: f64,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub slot_count: usize,
    pub bookings: usize,
    /// HTTP figure and, where there is one, the raw-database ceiling.
    pub measurements: Vec<(Measurement, Option<Measurement>)>,
    /// Invoicing: seeded invoices and the gap check of the numbers.
    pub invoicing: Option<InvoicingResult>,
    /// Analytics: the seeded step history and what the reports covered.
    pub analytics: Option<AnalyticsResult>,
    /// Oversight: what the first scan found and the reviews created.
    pub oversight: Option<OversightResult>,
}

pub struct Report {
    pub backend: &'static str,
    pub quick: bool,
    pub backend_version: String,
    pub sizes: Vec<SizeResult>,
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kb| {
            format!("{:.0} GiB", kb / 1024.0 / 1024.0)
        });
    format!("{cores} cores ({cpu}), {memory} RAM; load generator on the same machine")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

impl Report {
    pub fn new(backend: &'static str, quick: bool) -> Self {
        Self {
            backend,
            quick,
            backend_version: String::new(),
            sizes: Vec::new(),
        }
    }

    pub fn title(&self) -> String {
        format!("## {}", self.backend)
    }

    fn find<'a>(
        size: &'a SizeResult,
        prefix: &str,
    ) -> Option<&'a (Measurement, Option<Measurement>)> {
        size.measurements
            .iter()
            .find(|(m, _)| m.name.starts_with(prefix))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("{}\n\n", self.title()));
        out.push_str(&format!(
            "Run {} ({}) on {}. Backend: {}.\n\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            if self.quick { "quick" } else { "full" },
            machine(),
            self.backend_version.lines().next().unwrap_or("")
        ));
        for size in &self.sizes {
            out.push_str(&format!(
                "### {} orders\n\nSeeded in {:.1} s (50 staff, 5 processes × 10 steps, 200 customers, 10,000 appointments over 14 days). \
                 Start-up with this database: {:.0} ms. RSS idle {:.1} MiB, peak {:.1} MiB. listSlots returned {} slots; the booking race booked {}.\n\n",
                size.orders, size.seed_seconds, size.startup_ms, size.idle_rss_mib, size.peak_rss_mib, size.slot_count, size.bookings
            ));
            if let Some(inv) = &size.invoicing {
                out.push_str(&format!(
                    "Invoicing: a complete billing profile; {} issued invoices seeded in {:.1} s (one issued through the API, \
                     the rest copies of it with the following numbers); invoices are issued on distinct orders, payments are \
                     full payments of seeded invoices.\n\n",
                    inv.seeded, inv.seed_seconds
                ));
            }
            if let Some(a) = &size.analytics {
                out.push_str(&format!(
                    "Analytics: {} history events of the analytics' types seeded in bulk in {:.1} s for the orders of the \
                     busiest process (step activated, started, completed; some skipped or reworked; two thirds completed), \
                     the later half of them moved to a second version (s4 removed, s10 added). getProcessAnalytics (version 1) \
                     covers {} orders ({} with step history, {} reported by the endpoint before the run) and {} history events; \
                     compareProcessVersions adds version 2 with {} orders and {} events. The range covers all of them.\n\n",
                    a.inserted_events,
                    a.seed_seconds,
                    a.v1.orders,
                    a.v1.orders_with_history,
                    a.reported_orders,
                    a.v1.events,
                    a.v2.orders,
                    a.v2.events
                ));
            }
            if let Some(o) = &size.oversight {
                out.push_str(&format!(
                    "Oversight: a daily review schedule; scans run in process on the same database with a manual clock moved \
                     one day per scan (each creates one review and escalates the previous one). The first scan ({:.0} ms) \
                     announced {} overdue steps, escalated {}, flagged {} stuck orders and {} missed appointments (at most 200 \
                     of each per scan) and created {} review; {} reviews in all, the newest with {} items.\n\n",
                    o.first_scan_ms,
                    o.first_scan.overdue_announced,
                    o.first_scan.escalated,
                    o.first_scan.stuck_flagged,
                    o.first_scan.missed_flagged,
                    o.first_scan.reviews_created,
                    o.reviews_created,
                    o.review_items
                ));
            }
            out.push_str("| operation | HTTP ops/s | p50 ms | p99 ms | failed | raw ops/s | raw p50 ms | HTTP / raw |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (http, raw) in &size.measurements {
                let (raw_ops, raw_p50, ratio) = match raw {
                    Some(r) => (
                        format!("{:.0}", r.throughput()),
                        ms(r.p50),
                        format!(
                            "{:.0}%",
                            100.0 * http.throughput() / r.throughput().max(1e-9)
                        ),
                    ),
                    None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
                };
                out.push_str(&format!(
                    "| {} | {:.0} | {} | {} | {} | {raw_ops} | {raw_p50} | {ratio} |\n",
                    http.name,
                    http.throughput(),
                    ms(http.p50),
                    ms(http.p99),
                    http.requests - http.ok
                ));
            }
            out.push('\n');
        }
        out.push_str("### Targets\n\n| target | result | verdict |\n|---|---|---|\n");
        let smallest = self.sizes.first();
        let largest = self.sizes.last();
        if let Some(size) = largest {
            if let Some((http, Some(raw))) = Self::find(size, "createWorkOrder") {
                let ratio = http.throughput() / raw.throughput().max(1e-9);
                out.push_str(&format!(
                    "| createWorkOrder ≥ 70% of its raw ceiling | {:.0}% | {} |\n",
                    ratio * 100.0,
                    verdict(ratio >= 0.7)
                ));
                out.push_str(&format!(
                    "| createWorkOrder ≥ 1,000 orders/s | {:.0}/s | {} |\n",
                    http.throughput(),
                    verdict(http.throughput() >= 1000.0)
                ));
            }
            for op in ["getWorkOrder", "listWorkOrders (status"] {
                if let Some((http, _)) = Self::find(size, op) {
                    let p99 = http.p99.as_secs_f64() * 1000.0;
                    out.push_str(&format!(
                        "| {op}… p99 < 10 ms at {} orders | {p99:.2} ms | {} |\n",
                        size.orders,
                        verdict(p99 < 10.0)
                    ));
                    if let (Some(small), true) = (
                        smallest.and_then(|s| Self::find(s, op)),
                        self.sizes.len() > 1,
                    ) {
                        let growth = http.p99.as_secs_f64() / small.0.p99.as_secs_f64().max(1e-9);
                        out.push_str(&format!(
                            "| {op}… within 1.5× of the 10,000-order p99 | {growth:.2}× | {} |\n",
                            verdict(growth <= 1.5)
                        ));
                    }
                }
            }
            if let Some((http, raw)) = Self::find(size, "listSlots") {
                let p50 = http.p50.as_secs_f64() * 1000.0;
                let computed = raw
                    .as_ref()
                    .map(|r| {
                        format!(
                            "; computed afresh (raw): {:.2} ms",
                            r.p50.as_secs_f64() * 1000.0
                        )
                    })
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| listSlots 50 staff × 14 days p50 < 10 ms | {p50:.2} ms from the slot cache{computed} | {} (cached), {} (computed) |\n",
                    verdict(p50 < 10.0),
                    verdict(raw.as_ref().is_some_and(|r| r.p50.as_secs_f64() * 1000.0 < 10.0))
                ));
            }
            let idle = self
                .sizes
                .iter()
                .map(|s| s.idle_rss_mib)
                .fold(0.0, f64::max);
            let peak = self
                .sizes
                .iter()
                .map(|s| s.peak_rss_mib)
                .fold(0.0, f64::max);
            let startup = self.sizes.iter().map(|s| s.startup_ms).fold(0.0, f64::max);
            out.push_str(&format!(
                "| RSS idle < 50 MB | {idle:.1} MiB | {} |\n",
                verdict(idle < 50.0)
            ));
            out.push_str(&format!(
                "| RSS peak < 200 MB | {peak:.1} MiB | {} |\n",
                verdict(peak < 200.0)
            ));
            out.push_str(&format!(
                "| start-up < 1 s with an existing database | {startup:.0} ms | {} |\n",
                verdict(startup < 1000.0)
            ));
            if let (Some((http, raw)), Some(a)) =
                (Self::find(size, "getProcessAnalytics (1"), &size.analytics)
            {
                let p50 = http.p50.as_secs_f64();
                let rate = a.v1.events as f64 / p50.max(1e-9);
                let at_million = 1_000_000.0 / rate.max(1e-9);
                let raw_rate = raw
                    .as_ref()
                    .map(|r| {
                        format!(
                            "; raw (stream + accumulator) {:.0} events/s",
                            a.v1.events as f64 / r.p50.as_secs_f64().max(1e-9)
                        )
                    })
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| getProcessAnalytics p50 < 2 s at 1 M step events (1 client) | {:.1} ms at {} events = {rate:.0} events/s{raw_rate}; \
                     extrapolated {at_million:.2} s at 1 M | {} |\n",
                    p50 * 1000.0,
                    a.v1.events,
                    verdict(at_million < 2.0)
                ));
                if let (Some((alone, _)), Some((beside, _))) = (
                    Self::find(size, "getWorkOrder"),
                    Self::find(size, "getWorkOrder (while"),
                ) {
                    out.push_str(&format!(
                        "| getWorkOrder beside a running report (no target set) | p50 {} ms, p99 {} ms ({} reports completed meanwhile); alone p50 {} ms, p99 {} ms | – |\n",
                        ms(beside.p50),
                        ms(beside.p99),
                        a.background_reports,
                        ms(alone.p50),
                        ms(alone.p99)
                    ));
                }
            }
            if let Some((scan, _)) = Self::find(size, "oversight scan creating") {
                out.push_str(&format!(
                    "| oversight scan creating a review p99 < 5 s (every instance scans every 30 s) | p50 {} ms, p99 {} ms | {} |\n",
                    ms(scan.p50),
                    ms(scan.p99),
                    verdict(scan.p99.as_secs_f64() < 5.0)
                ));
            }
            if let Some((live, _)) = Self::find(size, "getOversight (1") {
                out.push_str(&format!(
                    "| getOversight p50 < 500 ms (1 client) | p50 {} ms, p99 {} ms | {} |\n",
                    ms(live.p50),
                    ms(live.p99),
                    verdict(live.p50.as_secs_f64() < 0.5)
                ));
            }
            if let Some((delivery, _)) = Self::find(size, "webhook delivery") {
                out.push_str(&format!(
                    "| webhook delivery (no target set) | {:.0} messages/s, commit to arrival p50 {} ms, p99 {} ms | – |\n",
                    delivery.throughput(),
                    ms(delivery.p50),
                    ms(delivery.p99)
                ));
            }
            if let Some((http, _)) = Self::find(size, "createInvoice+issue") {
                let p50 = http.p50.as_secs_f64() * 1000.0;
                let relative = Self::find(size, "createWorkOrder")
                    .map(|(c, _)| {
                        format!(
                            " ({:.1}× createWorkOrder's p50)",
                            http.p50.as_secs_f64() / c.p50.as_secs_f64().max(1e-9)
                        )
                    })
                    .unwrap_or_default();
                let alone = Self::find(size, "createInvoice+issue (1 client)")
                    .map(|(a, _)| format!("; 1 client: {} ms", ms(a.p50)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| createInvoice+issue p50 < 100 ms (8 clients) | {p50:.2} ms{relative}{alone} | {} |\n",
                    verdict(p50 < 100.0)
                ));
                let rate = http.throughput();
                if self.backend == "SQLite" {
                    out.push_str(&format!(
                        "| ≥ 50 issues/s on SQLite ({} clients) | {rate:.0}/s | {} |\n",
                        8,
                        verdict(rate >= 50.0)
                    ));
                } else {
                    out.push_str(&format!(
                        "| issues/s (target set for SQLite: ≥ 50) | {rate:.0}/s | – |\n"
                    ));
                }
            }
            if let Some((http, _)) = Self::find(size, "getInvoicePdf") {
                let p99 = http.p99.as_secs_f64() * 1000.0;
                out.push_str(&format!(
                    "| getInvoicePdf p99 < 20 ms | {p99:.2} ms | {} |\n",
                    verdict(p99 < 20.0)
                ));
            }
            if let (Some((http, _)), Some(inv)) =
                (Self::find(size, "listInvoices"), &size.invoicing)
            {
                let p99 = http.p99.as_secs_f64() * 1000.0;
                out.push_str(&format!(
                    "| listInvoices p99 < 50 ms at {} invoices | {p99:.2} ms | {} |\n",
                    inv.seeded + inv.gaps.issued,
                    verdict(p99 < 50.0)
                ));
            }
            if let Some(inv) = &size.invoicing {
                let g = &inv.gaps;
                let range = g
                    .range
                    .as_ref()
                    .map(|(a, b)| format!("{a} … {b}"))
                    .unwrap_or_else(|| "none".to_owned());
                out.push_str(&format!(
                    "| issued invoice numbers gap-free | {} issued in the run ({range}), {}; the series in the database: {} numbers, {} | {} |\n",
                    g.issued,
                    if g.run_consecutive { "consecutive after the seeded ones" } else { "NOT consecutive" },
                    g.series_len,
                    if g.series_gap_free { "1…n without gaps or duplicates" } else { "WITH gaps or duplicates" },
                    verdict(g.ok())
                ));
            }
            if let Some((http, _)) = Self::find(size, "syncPush") {
                let events = http.throughput() * 100.0;
                out.push_str(&format!(
                    "| syncPush ≥ 20,000 events/s (batches of 100) | {events:.0}/s | {} |\n",
                    verdict(events >= 20_000.0)
                ));
            }
        }
        if self.quick {
            out.push_str(
                "\nQuick run: 10,000 orders only; the growth targets need the full run.\n",
            );
        }
        out
    }
}

/// Replaces this backend's section in the results file, keeping the others.
pub fn write_section(path: &str, title: &str, text: &str) -> anyhow::Result<()> {
    let header = "# Benchmark results\n\nWritten by `./target/release/workorders-bench --backend sqlite|postgres [--quick]` \
                  (see the README). Figures are from one machine; compare ratios rather than absolute numbers.\n\n";
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut sections: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in existing.lines() {
        if line.starts_with("## ") && !current.is_empty() {
            sections.push(std::mem::take(&mut current));
        }
        if line.starts_with("## ") || !current.is_empty() {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        sections.push(current);
    }
    sections.retain(|s| !s.starts_with(&format!("{title}\n")));
    sections.push(text.to_owned());
    sections.sort();
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{header}{}", sections.join("\n")))?;
    Ok(())
}
