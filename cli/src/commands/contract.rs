//! `millrace contract apply|show|diff|status|history|remove`: a topic's data
//! contract (design/contracts.md "Contracts"), on the data directory or,
//! with `--server`, on a running server (the same code runs there).

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::output::{self, Table};
use crate::target::run_contract_command;
use clap::{Args, Subcommand};
use millrace::contract::SlaLevel;
use millrace_server::messages::ContractCommand as Command;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace contract apply orders.contract.yaml --dry-run
  millrace contract apply orders.contract.yaml
  millrace contract show orders --version 2
  millrace contract diff orders.contract.yaml
  millrace contract status            # exit code 4 when an SLA is breached at error level
  millrace --server 127.0.0.1:7878 contract apply orders.contract.yaml   # on a live server (admin token)

With --server the commands run on a running server (no restart): show, diff,
status and history need a consume token, apply and remove an admin one.")]
pub struct ContractArgs {
    #[command(subcommand)]
    command: ContractCommand,
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Apply a contract file to its topic: a new version, recorded in the audit log.
    #[command(after_help = "A schema change since the contract's previous version that breaks the
compatibility the contract promises is refused unless --force (the audit
records the override).

Examples:
  millrace contract apply orders.contract.yaml --dry-run
  millrace contract apply orders.contract.yaml --force")]
    Apply {
        /// The contract file (YAML).
        file: PathBuf,
        /// Check and report only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even if a schema change breaks the promised compatibility.
        #[arg(long)]
        force: bool,
    },
    /// Print a topic's contract as applied (the one in force, or --version N).
    Show {
        /// The topic.
        topic: String,
        /// This version instead of the one in force.
        #[arg(long, value_name = "N")]
        version: Option<u32>,
    },
    /// Compare a contract file with the version in force of its topic (exit code 1 if they differ).
    Diff {
        /// The contract file (YAML).
        file: PathBuf,
    },
    /// Adherence per topic: version, freshness and DLQ depth against the SLA, windowed measures.
    Status {
        /// Only this topic.
        topic: Option<String>,
    },
    /// Every apply and removal, oldest first (the audit log).
    History {
        /// Only this topic.
        topic: Option<String>,
    },
    /// Remove a topic's contract (recorded in the audit log).
    Remove {
        /// The topic.
        topic: String,
    },
}

/// Exit code of `contract status` when a service level is breached at error level.
pub const SLA_BREACHED: u8 = 4;

fn actor() -> String {
    crate::actor::offline_actor("millrace contract")
}

fn read_file(path: &PathBuf) -> CliResult<String> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    if meta.len() > millrace::contract::model::CONTRACT_BYTES_MAX as u64 {
        return Err(CliError::new(format!(
            "{}: {} bytes; a contract file is at most {}",
            path.display(),
            meta.len(),
            millrace::contract::model::CONTRACT_BYTES_MAX
        )));
    }
    std::fs::read_to_string(path).map_err(|e| CliError::new(format!("{}: {e}", path.display())))
}

/// A string field of an answer (`""` if absent).
fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A number field of an answer as text (`-` if absent or null).
fn number(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_u64)
        .map_or("-".into(), |v| v.to_string())
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub fn run(global: &GlobalArgs, args: ContractArgs) -> CliResult<u8> {
    match args.command {
        ContractCommand::Apply { file, dry_run, force } => apply(global, &file, dry_run, force),
        ContractCommand::Show { topic, version } => show(global, &topic, version),
        ContractCommand::Diff { file } => diff(global, &file),
        ContractCommand::Status { topic } => status(global, topic),
        ContractCommand::History { topic } => history(global, topic),
        ContractCommand::Remove { topic } => {
            let answer = run_contract_command(
                global,
                Command::Remove {
                    topic: topic.clone(),
                    actor: actor(),
                },
            )?;
            match answer.get("removed_version").and_then(Value::as_u64) {
                Some(_) if global.json => output::print_json(&answer)?,
                Some(v) => println!("removed version {v} of the contract of {topic}"),
                None => return Err(CliError::new(format!("topic {topic:?} has no contract"))),
            }
            Ok(exit::OK)
        }
    }
}

fn apply(global: &GlobalArgs, file: &PathBuf, dry_run: bool, force: bool) -> CliResult<u8> {
    let text_of_file = read_file(file)?;
    let report = run_contract_command(
        global,
        Command::Apply {
            text: text_of_file,
            dry_run,
            force,
            actor: actor(),
        },
    )?;
    if global.json {
        output::print_json(&report)?;
        return Ok(exit::OK);
    }
    let changes = report
        .get("schema_changes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &changes {
        println!(
            "schema {} v{} -> v{}: {} under {}",
            text(c, "subject"),
            number(c, "from_version"),
            number(c, "to_version"),
            if flag(c, "compatible") {
                "compatible"
            } else {
                "INCOMPATIBLE"
            },
            text(c, "compatibility")
        );
        for m in c.get("messages").and_then(Value::as_array).into_iter().flatten() {
            println!("  {}", m.as_str().unwrap_or_default());
        }
    }
    let verb = if flag(&report, "unchanged") {
        "unchanged: version"
    } else if dry_run {
        "dry run: would apply version"
    } else if flag(&report, "forced") {
        "applied (forced) version"
    } else {
        "applied version"
    };
    let previous = report
        .get("previous")
        .and_then(Value::as_u64)
        .map(|p| format!(" (was {p})"))
        .unwrap_or_default();
    println!(
        "{} {verb} {}{previous}",
        text(&report, "topic"),
        number(&report, "version")
    );
    Ok(exit::OK)
}

/// The entry in force (or `version`), or an error saying there is none.
fn shown(global: &GlobalArgs, topic: &str, version: Option<u32>) -> CliResult<Option<Value>> {
    let entry = run_contract_command(
        global,
        Command::Show {
            topic: topic.to_string(),
            version,
        },
    )?;
    Ok((!entry.is_null()).then_some(entry))
}

fn show(global: &GlobalArgs, topic: &str, version: Option<u32>) -> CliResult<u8> {
    let Some(entry) = shown(global, topic, version)? else {
        return Err(CliError::new(match version {
            Some(v) => format!("topic {topic:?} has no contract version {v}"),
            None => format!("topic {topic:?} has no contract in force"),
        })
        .with_hint("millrace contract history lists every version"));
    };
    if global.json {
        output::print_json(&entry)?;
    } else {
        println!(
            "# {} contract version {}, applied {} by {}{}",
            text(&entry, "topic"),
            number(&entry, "version"),
            text(&entry, "at"),
            text(&entry, "actor"),
            if flag(&entry, "forced") { " (forced)" } else { "" }
        );
        let body = text(&entry, "text");
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
    }
    Ok(exit::OK)
}

/// The lines of `old` and `new` as a unified-style diff (an LCS over lines,
/// bounded: contract files are at most 1 MiB and a few thousand lines).
fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len().saturating_mul(b.len()) > 25_000_000 {
        return vec![
            "- (the old file)".into(),
            "+ (the new file: too long to compare line by line)".into(),
        ];
    }
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            let v = if a.get(i) == b.get(j) {
                lcs.get(i + 1).and_then(|r| r.get(j + 1)).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get(i + 1).and_then(|r| r.get(j)).copied().unwrap_or(0);
                let right = lcs.get(i).and_then(|r| r.get(j + 1)).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = v;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                out.push(format!("  {x}"));
                i += 1;
                j += 1;
            }
            (Some(x), _) if j >= b.len() || at(i + 1, j) >= at(i, j + 1) => {
                out.push(format!("- {x}"));
                i += 1;
            }
            (_, Some(y)) => {
                out.push(format!("+ {y}"));
                j += 1;
            }
            _ => break,
        }
    }
    out
}

fn diff(global: &GlobalArgs, file: &PathBuf) -> CliResult<u8> {
    let new_text = read_file(file)?;
    let parsed = millrace::contract::parse(&new_text)?;
    let current = shown(global, &parsed.topic, None)?;
    let old = current.as_ref().map_or("", |e| text(e, "text"));
    let lines = line_diff(old, &new_text);
    let changed = lines.iter().any(|l| !l.starts_with("  "));
    let version = current.as_ref().and_then(|e| e.get("version")).and_then(Value::as_u64);
    if global.json {
        output::print_json(&json!({
            "topic": parsed.topic, "version": version, "changed": changed,
            "lines": lines.iter().filter(|l| !l.starts_with("  ")).collect::<Vec<_>>(),
        }))?;
    } else {
        match version {
            Some(v) => println!("--- {} contract version {v}\n+++ {}", parsed.topic, file.display()),
            None => println!("--- {} (no contract in force)\n+++ {}", parsed.topic, file.display()),
        }
        for line in &lines {
            println!("{line}");
        }
    }
    Ok(if changed { exit::ERROR } else { exit::OK })
}

fn threshold(value: Option<u64>, thresholds: (Option<u64>, Option<u64>), unit: &str) -> String {
    let limits = match thresholds {
        (None, None) => String::new(),
        (w, e) => format!(
            " (warn {}, error {})",
            w.map_or("-".into(), |v| format!("{v}{unit}")),
            e.map_or("-".into(), |v| format!("{v}{unit}"))
        ),
    };
    format!("{}{limits}", value.map_or("-".into(), |v| format!("{v}{unit}")))
}

/// `98.5% of 200 (warn 1, dlq 2, reject 0)`: the share of the records
/// checked since the store (the server) opened that broke no rule, and the
/// others by their strongest action; `-` before the first record.
fn adherence_text(a: &Value) -> String {
    let count = |key: &str| a.get(key).and_then(Value::as_u64).unwrap_or(0);
    let records = count("records");
    if records == 0 {
        return "-".to_string();
    }
    let ratio = a.get("valid_ratio").and_then(Value::as_f64).unwrap_or(0.0);
    format!(
        "{:.1}% of {records} (warn {}, dlq {}, reject {})",
        ratio * 100.0,
        count("warn"),
        count("dlq"),
        count("reject")
    )
}

fn status(global: &GlobalArgs, topic: Option<String>) -> CliResult<u8> {
    let answer = run_contract_command(global, Command::Status { topic: topic.clone() })?;
    let all = answer
        .get("topics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let (Some(t), true) = (&topic, all.is_empty()) {
        return Err(CliError::new(format!("topic {t:?} has no contract")));
    }
    if global.json {
        output::print_json(&answer)?;
    } else {
        let mut table = Table::new(&[
            "TOPIC",
            "VERSION",
            "OWNER",
            "ADHERENCE",
            "FRESHNESS",
            "DLQ",
            "WINDOWS",
            "LEVEL",
        ]);
        let null = Value::Null;
        for s in &all {
            let windows: Vec<String> = s
                .get("windows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|w| match w.get("completeness_ratio").and_then(Value::as_f64) {
                    Some(r) => format!(
                        "{} {:.3}{}",
                        text(w, "rule"),
                        r,
                        if flag(w, "breached") { "!" } else { "" }
                    ),
                    None => format!("{} dup={}", text(w, "rule"), number(w, "duplicates_total")),
                })
                .collect();
            let freshness = s.get("freshness").unwrap_or(&null);
            let dlq = s.get("dlq").unwrap_or(&null);
            let limit = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
            table.row(vec![
                text(s, "topic").to_string(),
                number(s, "version"),
                s.get("owner").and_then(Value::as_str).unwrap_or("-").to_string(),
                adherence_text(s.get("adherence").unwrap_or(&null)),
                threshold(
                    limit(freshness, "age_seconds"),
                    (limit(freshness, "warn_seconds"), limit(freshness, "error_seconds")),
                    "s",
                ),
                threshold(limit(dlq, "depth"), (limit(dlq, "warn"), limit(dlq, "error")), ""),
                if windows.is_empty() {
                    "-".into()
                } else {
                    windows.join(", ")
                },
                s.get("load_error")
                    .and_then(Value::as_str)
                    .map_or_else(|| text(s, "level").to_string(), |e| format!("error: {e}")),
            ]);
        }
        table.print()?;
    }
    Ok(if text(&answer, "level") == SlaLevel::Error.as_str() {
        SLA_BREACHED
    } else {
        exit::OK
    })
}

fn history(global: &GlobalArgs, topic: Option<String>) -> CliResult<u8> {
    let answer = run_contract_command(global, Command::History { topic })?;
    if global.json {
        output::print_json(&answer)?;
        return Ok(exit::OK);
    }
    let mut table = Table::new(&["AT", "TOPIC", "VERSION", "CHANGE", "ACTOR"]);
    for e in answer.as_array().into_iter().flatten() {
        let previous = e.get("previous").and_then(Value::as_u64);
        let forced = if flag(e, "forced") { " (forced)" } else { "" };
        let change = match (flag(e, "removed"), previous) {
            (true, Some(p)) => format!("removed {p}"),
            (true, None) => "removed".to_string(),
            (false, Some(p)) => format!("{p} -> {}{forced}", number(e, "version")),
            (false, None) => format!("new{forced}"),
        };
        table.row(vec![
            text(e, "at").to_string(),
            text(e, "topic").to_string(),
            number(e, "version"),
            change,
            text(e, "actor").to_string(),
        ]);
    }
    table.print()?;
    Ok(exit::OK)
}
