//! The server under test: a real process of the release binary on loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";

pub struct Server {
    child: Child,
    pub base: String,
    pub started_in: Duration,
}

/// The release binary next to this one (`target/release/workorders`).
pub fn binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("binary directory")?;
    let server = dir.join("workorders");
    if !server.exists() {
        bail!(
            "{} is missing: run `cargo build --release --bin workorders` first",
            server.display()
        );
    }
    Ok(server)
}

impl Server {
    /// Starts the server and waits until `/readyz` answers; `started_in` is the time from
    /// spawning the process to ready. Attachments and invoice PDFs go to `data_dir` (not the
    /// working directory's `data/`).
    pub async fn start(
        binary: &Path,
        database_url: &str,
        data_dir: &Path,
    ) -> anyhow::Result<Server> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--database-url",
                database_url,
            ])
            .env("WORKORDERS_JWT_SECRET", SECRET)
            .env("WORKORDERS_DATA_DIR", data_dir)
            .env("WORKORDERS_PUBLIC_RATE_PER_IP", "100000000")
            .env("WORKORDERS_PUBLIC_RATE_PER_TENANT", "100000000")
            .env("WORKORDERS_WEBHOOKS_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", "warn,workorders=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().context("server output")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(line) = lines.next() else {
                bail!("the server exited before reporting its port")
            };
            let line = line?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(port) = v.get("port").and_then(serde_json::Value::as_u64)
            {
                break port;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        loop {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the server did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Server {
            child,
            base,
            started_in: started.elapsed(),
        })
    }

    /// Resident memory now and at its peak, in MiB (Linux `/proc`).
    pub fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
