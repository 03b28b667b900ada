//! The README tells the truth where it lists what the code defines: the webhook event types
//! and the server's configuration flags (with their environment variables and defaults).

use std::collections::{BTreeMap, BTreeSet};

use libtest_mimic::Failed;

fn readme() -> Result<String, Failed> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}").into())
}

/// `family.a|b|c` written in backticks, expanded to `family.a`, `family.b`, `family.c`.
fn expand(list: &str) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    for token in list.split('`').skip(1).step_by(2) {
        if let Some((family, names)) = token.split_once('.') {
            for name in names.split('|') {
                types.insert(format!("{family}.{name}"));
            }
        }
    }
    types
}

/// The README's "Event types:" list names exactly the webhook event types the server sends.
pub fn event_types_match_the_code() -> Result<(), Failed> {
    let text = readme()?;
    let start = text
        .find("Event types:")
        .ok_or("the README has no \"Event types:\" list")?;
    let end = text[start..]
        .find("section shows each body")
        .ok_or("the event list has no end")?;
    let listed = expand(&text[start..start + end]);
    let code: BTreeSet<String> = workorders_persistence::webhooks::EVENT_TYPES
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    if listed != code {
        return Err(format!(
            "README event types differ from the code: missing {:?}, unknown {:?}",
            code.difference(&listed).collect::<Vec<_>>(),
            listed.difference(&code).collect::<Vec<_>>()
        )
        .into());
    }
    Ok(())
}

/// A flag of `workorders serve --help`: its environment variable and default.
#[derive(Debug, PartialEq)]
struct Flag {
    env: Option<String>,
    default: Option<String>,
}

/// Parses clap's long help: `--flag <VALUE>` lines followed by a description that ends in
/// `[env: NAME=]` and `[default: VALUE]`.
fn flags_of_help(help: &str) -> BTreeMap<String, Flag> {
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut description = String::new();
    let mut finish = |name: Option<String>, description: &str| {
        let Some(name) = name else { return };
        let bracket = |key: &str| {
            description.split(&format!("[{key}: ")).nth(1).map(|rest| {
                rest.split(']')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('=')
                    .to_owned()
            })
        };
        flags.insert(
            name,
            Flag {
                env: bracket("env"),
                default: bracket("default"),
            },
        );
    };
    for line in help.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            finish(current.take(), &description);
            description.clear();
            let name = rest.split([' ', '<']).next().unwrap_or_default();
            if name != "help" {
                current = Some(format!("--{name}"));
            }
        } else {
            description.push(' ');
            description.push_str(trimmed);
        }
    }
    finish(current, &description);
    flags
}

/// The README's configuration table: `| \`--flag\` | \`ENV\` | default | meaning |`.
fn flags_of_readme(text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .filter(|l| l.starts_with("| `--"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let flag = cells.first()?.trim_start_matches("| ").trim_matches('`');
            let env = cells.get(1)?.trim_matches('`');
            Some((
                flag.to_owned(),
                (env.to_owned(), (*cells.get(2)?).to_owned()),
            ))
        })
        .collect()
}

/// Every flag of `workorders serve` is in the README's table with its environment variable and
/// default, and the table names no flag the server does not have.
pub fn configuration_table_matches_the_flags() -> Result<(), Failed> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workorders"))
        .args(["serve", "--help"])
        .output()
        .map_err(|e| format!("cannot run workorders serve --help: {e}"))?;
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = flags_of_help(&help);
    if code.len() < 20 {
        return Err(format!("could not read the flags from the help:\n{help}").into());
    }
    let table = flags_of_readme(&readme()?);
    let mut problems = Vec::new();
    for (name, flag) in &code {
        let Some((env, default)) = table.get(name) else {
            problems.push(format!("{name} is not in the README's configuration table"));
            continue;
        };
        if flag.env.as_deref() != Some(env.as_str()) {
            problems.push(format!(
                "{name}: README says {env}, the code {:?}",
                flag.env
            ));
        }
        if let Some(value) = flag
            .default
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "\"\"")
            && !default.contains(&format!("`{value}`"))
        {
            problems.push(format!(
                "{name}: README default {default:?}, the code `{value}`"
            ));
        }
    }
    for name in table.keys() {
        if !code.contains_key(name) {
            problems.push(format!("{name} is in the README but not a flag of `serve`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
