//! The browser tests' machinery (`tests/browser/`): Python scripts that drive Debian's
//! chromium in headless mode through Selenium and check pages with axe-core, using
//! `tests/browser/browser.py`. A page test starts its app and runs a script with
//! [`run_browser_script`], passing it the app's base URL.

use std::process::Stdio;

use workorders_testkit::Tool;

/// Runs `tests/browser/<script>` with the test Python and `args`; returns its standard
/// output. Needs [`Tool::Browser`]: without it the test is ignored, or fails under CI. Fails
/// with the script's output and errors when it exits non-zero. Async, so that an in-process
/// server on the same runtime keeps answering the browser while the script runs.
pub async fn run_browser_script(script: &str, args: &[&str]) -> String {
    workorders_testkit::require(Tool::Browser);
    let path = workorders_testkit::browser_script(script);
    let out = tokio::process::Command::new(workorders_testkit::python())
        .arg(&path)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The machinery itself, on static pages (`tests/browser/selftest.py`): chromium starts with
/// JavaScript on (at 360 px) and off, the accessibility check passes an accessible page and
/// reports `image-alt` on one with an `<img>` without alt, screenshots are written, and the
/// form helpers find fields and buttons by their accessible names.
pub fn the_headless_browser_and_the_accessibility_check_work() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run_browser_script("selftest.py", &[]));
}
