//! Test support shared by every test binary of the workspace.
//!
//! - [`under_ci`]: whether `CI` is set to a truthy value (`true`, `1`, `yes`, anything but
//!   empty, `0`, `false`, `no`, `off`), the same rule everywhere.
//! - [`require`]: a test states the external tool it needs (the SMTP server, the EN 16931
//!   checker, the iCalendar checker, `pdftotext`, PostgreSQL, the headless browser). Each is
//!   probed once. When one is missing the test fails under CI and is reported as **ignored**
//!   elsewhere (it unwinds with [`Skipped`], which the runners turn into an ignored outcome),
//!   never as passed.
//! - [`run`]: a libtest-compatible runner for plain test functions with a timeout per test.
//! - [`python`] and [`checker`]: the interpreter (`WORKORDERS_TEST_PYTHON`, else the
//!   project's `.venv`, else `python3`) and the project's own checker scripts under
//!   `tests/checkers/` (their third-party packages are pinned in `tests/requirements.txt`).
//! - [`browser_script`]: the browser tests' scripts under `tests/browser/` (Selenium driving
//!   Debian's chromium, axe-core from `tests/browser/node_modules` for accessibility).

pub mod qr;

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Whether the tests run under CI: `CI` set to anything but empty, `0`, `false`, `no`, `off`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| truthy(&v))
}

fn truthy(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    !(v.is_empty() || v == "0" || v == "false" || v == "no" || v == "off")
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter for the checkers: `WORKORDERS_TEST_PYTHON`, else the project's
/// `.venv`, else `python3` from `PATH`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WORKORDERS_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = workspace().join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// One of the project's checker scripts (`tests/checkers/<name>`).
pub fn checker(name: &str) -> PathBuf {
    workspace().join("tests/checkers").join(name)
}

/// One of the browser tests' scripts (`tests/browser/<name>`), run with [`python`]; they
/// import `tests/browser/browser.py`.
pub fn browser_script(name: &str) -> PathBuf {
    workspace().join("tests/browser").join(name)
}

/// Debian's chromium and its WebDriver (packages `chromium`, `chromium-driver`), the paths
/// `tests/browser/browser.py` drives.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The axe-core build the browser tests inject into pages (installed by `.ci/setup-tools`
/// from `tests/browser/package-lock.json`).
fn axe_script() -> PathBuf {
    workspace().join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// The PostgreSQL server the tests use (`TEST_DATABASE_URL`, default the local one).
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// An external tool a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// A real SMTP server: Python with aiosmtpd.
    Smtp,
    /// The EN 16931 checker (`tests/checkers/validate_einvoice.py`: factur-x, saxonche, lxml).
    EInvoice,
    /// The iCalendar checker (`tests/checkers/check_ics.py`: icalendar, recurring-ical-events).
    ICalendar,
    /// `pdftotext` and `pdftoppm` from poppler-utils.
    PdfToText,
    /// A PostgreSQL server at [`postgres_url`].
    Postgres,
    /// A real headless browser: Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
    /// `/usr/bin/chromedriver`), Python with Selenium, and axe-core in
    /// `tests/browser/node_modules`.
    Browser,
}

impl Tool {
    fn describe(self) -> &'static str {
        match self {
            Tool::Smtp => "the test SMTP server (Python with aiosmtpd)",
            Tool::EInvoice => "the EN 16931 checker (Python with factur-x, saxonche, lxml)",
            Tool::ICalendar => "the iCalendar checker (Python with icalendar)",
            Tool::PdfToText => "pdftotext and pdftoppm (poppler-utils)",
            Tool::Postgres => "PostgreSQL",
            Tool::Browser => {
                "the headless browser (chromium, chromedriver, Python with selenium, axe-core)"
            }
        }
    }

    fn probe(self) -> Result<(), String> {
        match self {
            Tool::Smtp => python_has("import aiosmtpd"),
            Tool::EInvoice => {
                script("validate_einvoice.py")?;
                python_has("import facturx, saxonche, lxml")
            }
            Tool::ICalendar => {
                script("check_ics.py")?;
                python_has("import icalendar, recurring_ical_events")
            }
            Tool::PdfToText => {
                runs(Command::new("pdftotext").arg("-v"), "pdftotext -v")?;
                runs(Command::new("pdftoppm").arg("-v"), "pdftoppm -v")
            }
            Tool::Postgres => postgres_reachable(&postgres_url()),
            Tool::Browser => {
                for binary in [CHROMIUM, CHROMEDRIVER] {
                    runs(
                        Command::new(binary).arg("--version"),
                        &format!("{binary} --version"),
                    )
                    .map_err(|e| format!("{e} (run `.ci/setup-tools`)"))?;
                }
                python_has("import selenium")?;
                let axe = axe_script();
                if axe.exists() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} does not exist (run `.ci/setup-tools`)",
                        axe.display()
                    ))
                }
            }
        }
    }
}

fn script(name: &str) -> Result<(), String> {
    let path = checker(name);
    if path.exists() {
        Ok(())
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

fn python_has(code: &str) -> Result<(), String> {
    let python = python();
    runs(
        Command::new(&python).args(["-c", code]),
        &format!("{} -c {code:?}", python.display()),
    )
    .map_err(|e| format!("{e} (run `.ci/setup-tools` or set WORKORDERS_TEST_PYTHON)"))
}

fn runs(command: &mut Command, what: &str) -> Result<(), String> {
    match command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{what}` failed ({status})")),
        Err(e) => Err(format!("`{what}` cannot run: {e}")),
    }
}

/// Whether a TCP connection to the URL's host and port opens (the tests then connect for real).
fn postgres_reachable(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let addrs = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{with_port}: {e}"))?;
    for addr in addrs {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok() {
            return Ok(());
        }
    }
    Err(format!("nothing answers at {with_port}"))
}

/// Whether `tool` is there (probed once per process).
pub fn probe(tool: Tool) -> Result<(), String> {
    static PROBED: OnceLock<Mutex<HashMap<Tool, Result<(), String>>>> = OnceLock::new();
    let cache = PROBED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.entry(tool).or_insert_with(|| tool.probe()).clone()
}

/// Why a test did not run: the payload a test unwinds with when a tool it needs is missing
/// outside CI. The runners report the test as ignored with this reason.
#[derive(Debug, Clone)]
pub struct Skipped(pub String);

/// States that the running test needs `tool`. Missing: under CI the test fails; elsewhere it
/// stops here and is reported as ignored (never as passed).
pub fn require(tool: Tool) {
    if let Err(why) = probe(tool) {
        let reason = format!("needs {}: {why}", tool.describe());
        if under_ci() {
            panic!("CI: this test {reason}");
        }
        std::panic::resume_unwind(Box::new(Skipped(reason)));
    }
}

/// What a test's panic means: ignored (a tool was missing outside CI) or a failure.
pub fn outcome_of_panic(payload: Box<dyn std::any::Any + Send>) -> Result<Completion, Failed> {
    if let Some(Skipped(reason)) = payload.downcast_ref::<Skipped>() {
        return Ok(Completion::ignored_with(reason));
    }
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "test panicked".to_owned());
    Err(Failed::from(message))
}

/// The time one test may take before it counts as hung (`TEST_TIMEOUT_SECS`, default 300).
pub fn test_timeout() -> Duration {
    let secs = std::env::var("TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `test` on a thread of its own: a panic is a failure (or an ignored test, see
/// [`require`]); not finishing within [`test_timeout`] is a failure.
pub fn run_one(test: impl FnOnce() + Send + 'static) -> Result<Completion, Failed> {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(test));
        let _ = done.send(result);
    });
    let limit = test_timeout();
    match outcome.recv_timeout(limit) {
        Ok(Ok(())) => Ok(Completion::Completed),
        Ok(Err(payload)) => outcome_of_panic(payload),
        Err(_) => Err(Failed::from(format!(
            "timed out after {} s (TEST_TIMEOUT_SECS)",
            limit.as_secs()
        ))),
    }
}

/// A test binary's `main` for plain test functions (`harness = false`): libtest's command
/// line and output, per-test timeouts, ignored outcomes for missing tools.
pub fn run(tests: Vec<(&'static str, fn())>) -> ! {
    let args = Arguments::from_args();
    let trials = tests
        .into_iter()
        .map(|(name, test)| Trial::ignorable_test(name, move || run_one(test)))
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_values() {
        for v in ["true", "1", "TRUE", "yes", "on", "github"] {
            assert!(truthy(v), "{v}");
        }
        for v in ["", "0", "false", "False", "no", "off", " "] {
            assert!(!truthy(v), "{v:?}");
        }
    }

    #[test]
    fn a_missing_tool_outside_ci_is_ignored_and_a_panic_fails() {
        let skipped = outcome_of_panic(Box::new(Skipped("needs x".to_owned())));
        assert!(matches!(skipped, Ok(Completion::Ignored { reason: Some(r) }) if r == "needs x"));
        let failed = outcome_of_panic(Box::new("boom"));
        assert!(failed.is_err());
        assert!(matches!(run_one(|| ()), Ok(Completion::Completed)));
        assert!(run_one(|| panic!("boom")).is_err());
    }

    #[test]
    fn postgres_urls_are_parsed() {
        assert!(postgres_reachable("postgres://u@localhost:1/db").is_err());
        assert!(postgres_reachable("postgres://nohost.invalid/db").is_err());
    }
}
