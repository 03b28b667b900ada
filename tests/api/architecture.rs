//! The layering of the workspace, checked against `cargo metadata`: which crate may depend
//! on which (see the README's "Architecture").

use std::collections::{BTreeMap, BTreeSet};

use libtest_mimic::Failed;

/// Each workspace crate and the workspace crates it may depend on (normal and build
/// dependencies; dev-dependencies are free).
const ALLOWED: &[(&str, &[&str])] = &[
    ("workorders-domain", &[]),
    ("workorders-persistence", &["workorders-domain"]),
    // The test SMTP server behind the optional `testing` feature.
    ("workorders-mail", &["workorders-testkit"]),
    ("workorders-einvoice", &["workorders-domain"]),
    ("workorders-testkit", &[]),
    (
        "workorders-app",
        &[
            "workorders-domain",
            "workorders-persistence",
            "workorders-mail",
            "workorders-einvoice",
        ],
    ),
    (
        "workorders-api",
        &[
            "workorders-domain",
            "workorders-persistence",
            "workorders-app",
            "workorders-mail",
            "workorders-einvoice",
        ],
    ),
    (
        "workorders-demo",
        &[
            "workorders-domain",
            "workorders-persistence",
            "workorders-app",
        ],
    ),
    (
        "workorders-web",
        &[
            "workorders-domain",
            "workorders-persistence",
            "workorders-app",
        ],
    ),
    (
        "workorders",
        &[
            "workorders-api",
            "workorders-web",
            "workorders-app",
            "workorders-demo",
            "workorders-persistence",
            "workorders-mail",
        ],
    ),
    (
        "workorders-bench",
        &[
            "workorders-domain",
            "workorders-persistence",
            "workorders-app",
            "workorders-api",
        ],
    ),
];

/// Third-party crates that belong to a front door, never below it.
const HTTP_ONLY: &[&str] = &[
    "actix-web",
    "actix-cors",
    "utoipa",
    "utoipa-actix-web",
    "utoipa-swagger-ui",
    "tracing-actix-web",
];

/// Crates that must not reach HTTP at all.
const BELOW_HTTP: &[&str] = &[
    "workorders-demo",
    "workorders-domain",
    "workorders-persistence",
    "workorders-app",
    "workorders-mail",
    "workorders-einvoice",
];

pub fn crate_dependencies_follow_the_layers() -> Result<(), Failed> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(name, deps)| (*name, deps.iter().copied().collect()))
        .collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        seen.insert(name.to_owned());
        let Some(may) = allowed.get(name) else {
            problems.push(format!(
                "{name} is not in the layering table (tests/api/architecture.rs): say where it belongs"
            ));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep_name.starts_with("workorders") && !may.contains(dep_name) {
                problems.push(format!("{name} must not depend on {dep_name}"));
            }
            if BELOW_HTTP.contains(&name) && HTTP_ONLY.contains(&dep_name) {
                problems.push(format!(
                    "{name} is below the HTTP adapter and must not depend on {dep_name}"
                ));
            }
        }
    }
    for (name, _) in ALLOWED {
        if !seen.contains(*name) {
            problems.push(format!(
                "{name} is in the layering table but not in the workspace"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Route modules (`crates/api/src/routes/*.rs`) never import one another: what several of
/// them share lives in `schemas` (request and response types) or in `crates/app` (behaviour).
/// The helpers of `routes/mod.rs` itself (`created`, `ok_versioned`, ...) are shared.
pub fn route_modules_do_not_import_each_other() -> Result<(), Failed> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/api/src/routes");
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem != "mod"
        {
            modules.push((stem.to_owned(), path));
        }
    }
    let mut problems = Vec::new();
    for (module, path) in &modules {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        for (other, _) in &modules {
            if other == module {
                continue;
            }
            for pattern in [
                format!("crate::routes::{other}::"),
                format!("crate::routes::{other};"),
                format!("crate::routes::{{{other}"),
                format!("super::{other}::"),
                format!("super::{other};"),
            ] {
                if text.contains(&pattern) {
                    problems.push(format!(
                        "routes/{module}.rs imports routes/{other}.rs ({pattern})"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Files of `crates/api` that may touch storage, each with the reason.
const STORAGE_ALLOWED: &[(&str, &str)] = &[
    (
        "idempotency.rs",
        "the Idempotency-Key middleware stores the HTTP reply in the request's own transaction",
    ),
    (
        "state.rs",
        "wiring: the server's state is made from an open database",
    ),
    (
        "startup.rs",
        "wiring: opens the database, starts the workers, closes the pool",
    ),
];

/// What only storage code does: take the database handle, open a transaction or take a
/// connection, or speak SQL.
const STORAGE_MARKERS: &[&str] = &[
    ".db.",
    ".db,",
    ".db)",
    "begin_write(",
    "begin_read(",
    ".acquire(",
    ".conn()",
    "WriteTx",
    "workorders_persistence::Conn",
    "workorders_persistence::Db",
    "{Db,",
    " Db}",
    "sqlx::",
];

/// The front doors parse, call a use case of `crates/app` and render: no file of
/// `crates/api` (but the named exceptions) or `crates/web` takes the database handle, opens
/// a transaction or holds a connection, so every behaviour lives in `crates/app`, once.
pub fn the_http_adapter_holds_no_storage_access() -> Result<(), Failed> {
    let mut problems = Vec::new();
    for (crate_dir, allowed) in [("crates/api/src", STORAGE_ALLOWED), ("crates/web/src", &[])] {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir);
        let mut files = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        for path in &files {
            let name = path
                .strip_prefix(&root)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned();
            if allowed.iter().any(|(file, _)| *file == name) {
                continue;
            }
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for marker in STORAGE_MARKERS {
                    if code.contains(marker) {
                        problems.push(format!(
                            "{crate_dir}/{name}:{}: `{marker}` in `{}`",
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "storage access in a front door (move it into a use case of crates/app):\n{}",
            problems.join("\n")
        )
        .into())
    }
}
