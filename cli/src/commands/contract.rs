//! `millrace contract apply|show|diff|status|history`: a topic's data
//! contract (design/contracts.md "Contracts"), on the data directory.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliError, CliResult};
use crate::output::{self, Table};
use clap::{Args, Subcommand};
use millrace::contract::{ApplyRequest, ContractEntry, ContractStatus, SlaLevel};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace contract apply orders.contract.yaml --dry-run
  millrace contract apply orders.contract.yaml
  millrace contract show orders --version 2
  millrace contract diff orders.contract.yaml
  millrace contract status            # exit code 4 when an SLA is breached at error level")]
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
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user} (millrace contract, pid {})", std::process::id())
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

fn refuse_server(global: &GlobalArgs) -> CliResult<()> {
    if global.server.is_some() {
        return Err(
            CliError::usage("contract commands work on the data directory (--data), not through --server")
                .with_hint("show, diff, status and history read a directory a server holds open (live, read-only)"),
        );
    }
    Ok(())
}

pub fn run(global: &GlobalArgs, args: ContractArgs) -> CliResult<u8> {
    refuse_server(global)?;
    match args.command {
        ContractCommand::Apply { file, dry_run, force } => apply(global, &file, dry_run, force),
        ContractCommand::Show { topic, version } => show(global, &topic, version),
        ContractCommand::Diff { file } => diff(global, &file),
        ContractCommand::Status { topic } => status(global, topic.as_deref()),
        ContractCommand::History { topic } => history(global, topic.as_deref()),
        ContractCommand::Remove { topic } => {
            let store = data::open_existing(global)?;
            let removed = store.contracts().remove(&topic, &actor())?;
            store.close()?;
            match removed {
                Some(v) if global.json => output::print_json(&json!({"topic": topic, "removed_version": v}))?,
                Some(v) => println!("removed version {v} of the contract of {topic}"),
                None => return Err(CliError::new(format!("topic {topic:?} has no contract"))),
            }
            Ok(exit::OK)
        }
    }
}

fn apply(global: &GlobalArgs, file: &PathBuf, dry_run: bool, force: bool) -> CliResult<u8> {
    let text = read_file(file)?;
    let store = if dry_run {
        data::open_read_only(global)?
    } else {
        data::open_existing(global)?
    };
    let actor = actor();
    let report = store.contracts().apply(&ApplyRequest {
        text: &text,
        actor: &actor,
        dry_run,
        force,
    });
    store.close()?;
    let report = report?;
    let changes: Vec<serde_json::Value> = report
        .schema_changes
        .iter()
        .map(|c| {
            json!({"subject": c.subject, "from_version": c.from_version, "to_version": c.to_version,
                   "compatibility": c.compatibility, "compatible": c.compatible, "messages": c.messages})
        })
        .collect();
    if global.json {
        output::print_json(&json!({
            "topic": report.topic, "version": report.version, "previous": report.previous,
            "applied": report.applied, "unchanged": report.unchanged, "dry_run": dry_run,
            "forced": report.forced, "schema_changes": changes,
        }))?;
        return Ok(exit::OK);
    }
    for c in &report.schema_changes {
        println!(
            "schema {} v{} -> v{}: {} under {}",
            c.subject,
            c.from_version,
            c.to_version,
            if c.compatible { "compatible" } else { "INCOMPATIBLE" },
            c.compatibility
        );
        for m in &c.messages {
            println!("  {m}");
        }
    }
    let verb = if report.unchanged {
        "unchanged: version"
    } else if dry_run {
        "dry run: would apply version"
    } else if report.forced {
        "applied (forced) version"
    } else {
        "applied version"
    };
    let previous = report.previous.map(|p| format!(" (was {p})")).unwrap_or_default();
    println!("{} {verb} {}{previous}", report.topic, report.version);
    Ok(exit::OK)
}

fn entry_json(e: &ContractEntry) -> serde_json::Value {
    json!({
        "topic": e.topic, "version": e.version, "previous": e.previous, "at": output::time(e.at_ms),
        "actor": e.actor, "forced": e.forced, "removed": e.removed,
        "pinned": e.pinned.iter().map(|(s, v)| json!({"subject": s, "version": v})).collect::<Vec<_>>(),
        "text": e.text,
    })
}

fn show(global: &GlobalArgs, topic: &str, version: Option<u32>) -> CliResult<u8> {
    let store = data::open_read_only(global)?;
    let entry = store.contracts().show(topic, version);
    store.close()?;
    let Some(entry) = entry? else {
        return Err(CliError::new(match version {
            Some(v) => format!("topic {topic:?} has no contract version {v}"),
            None => format!("topic {topic:?} has no contract in force"),
        })
        .with_hint("millrace contract history lists every version"));
    };
    if global.json {
        output::print_json(&entry_json(&entry))?;
    } else {
        println!(
            "# {} contract version {}, applied {} by {}{}",
            entry.topic,
            entry.version,
            output::time(entry.at_ms),
            entry.actor,
            if entry.forced { " (forced)" } else { "" }
        );
        print!("{}", entry.text);
        if !entry.text.ends_with('\n') {
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
    let text = read_file(file)?;
    let parsed = millrace::contract::parse(&text)?;
    let store = data::open_read_only(global)?;
    let current = store.contracts().show(&parsed.topic, None);
    store.close()?;
    let current = current?;
    let old = current.as_ref().map_or("", |e| e.text.as_str());
    let lines = line_diff(old, &text);
    let changed = lines.iter().any(|l| !l.starts_with("  "));
    if global.json {
        output::print_json(&json!({
            "topic": parsed.topic, "version": current.as_ref().map(|e| e.version), "changed": changed,
            "lines": lines.iter().filter(|l| !l.starts_with("  ")).collect::<Vec<_>>(),
        }))?;
    } else {
        match &current {
            Some(e) => println!(
                "--- {} contract version {}\n+++ {}",
                parsed.topic,
                e.version,
                file.display()
            ),
            None => println!("--- {} (no contract in force)\n+++ {}", parsed.topic, file.display()),
        }
        for line in &lines {
            println!("{line}");
        }
    }
    Ok(if changed { exit::ERROR } else { exit::OK })
}

fn status_json(s: &ContractStatus) -> serde_json::Value {
    let windows: Vec<serde_json::Value> = s
        .windows
        .iter()
        .map(|w| {
            json!({"rule": w.rule, "kind": w.kind, "duplicates_total": w.duplicates_total,
                   "completeness_ratio": w.completeness_ratio, "threshold": w.threshold, "breached": w.breached})
        })
        .collect();
    json!({
        "topic": s.topic, "version": s.version, "owner": s.owner, "load_error": s.load_error,
        "applied_at": s.entry.as_ref().map(|e| output::time(e.at_ms)),
        "applied_by": s.entry.as_ref().map(|e| e.actor.clone()),
        "forced": s.entry.as_ref().is_some_and(|e| e.forced),
        "freshness": {"age_seconds": s.freshness_age_seconds, "warn_seconds": s.freshness_thresholds.0,
                      "error_seconds": s.freshness_thresholds.1, "level": s.freshness.as_str()},
        "dlq": {"depth": s.dlq_depth, "warn": s.dlq_thresholds.0, "error": s.dlq_thresholds.1, "level": s.dlq.as_str()},
        "windows": windows,
        "level": s.worst().as_str(),
    })
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

fn status(global: &GlobalArgs, topic: Option<&str>) -> CliResult<u8> {
    let store = data::open_read_only(global)?;
    let all = store.contract_status(topic);
    store.close()?;
    let all = all?;
    if let (Some(t), true) = (topic, all.is_empty()) {
        return Err(CliError::new(format!("topic {t:?} has no contract")));
    }
    let worst = all.iter().map(ContractStatus::worst).max().unwrap_or(SlaLevel::Unknown);
    if global.json {
        output::print_json(&json!({
            "topics": all.iter().map(status_json).collect::<Vec<_>>(),
            "level": worst.as_str(),
        }))?;
    } else {
        let mut table = Table::new(&["TOPIC", "VERSION", "OWNER", "FRESHNESS", "DLQ", "WINDOWS", "LEVEL"]);
        for s in &all {
            let windows: Vec<String> = s
                .windows
                .iter()
                .map(|w| match w.completeness_ratio {
                    Some(r) => format!("{} {:.3}{}", w.rule, r, if w.breached { "!" } else { "" }),
                    None => format!("{} dup={}", w.rule, w.duplicates_total),
                })
                .collect();
            table.row(vec![
                s.topic.clone(),
                s.version.map_or("-".into(), |v| v.to_string()),
                s.owner.clone().unwrap_or_else(|| "-".into()),
                threshold(s.freshness_age_seconds, s.freshness_thresholds, "s"),
                threshold(Some(s.dlq_depth), s.dlq_thresholds, ""),
                if windows.is_empty() {
                    "-".into()
                } else {
                    windows.join(", ")
                },
                s.load_error
                    .as_ref()
                    .map_or_else(|| s.worst().as_str().to_string(), |e| format!("error: {e}")),
            ]);
        }
        table.print()?;
    }
    Ok(if worst == SlaLevel::Error {
        SLA_BREACHED
    } else {
        exit::OK
    })
}

fn history(global: &GlobalArgs, topic: Option<&str>) -> CliResult<u8> {
    let store = data::open_read_only(global)?;
    let entries = store.contracts().history(topic);
    store.close()?;
    let entries = entries?;
    if global.json {
        output::print_json(&json!(entries.iter().map(|(_, e)| entry_json(e)).collect::<Vec<_>>()))?;
        return Ok(exit::OK);
    }
    let mut table = Table::new(&["AT", "TOPIC", "VERSION", "CHANGE", "ACTOR"]);
    for (_, e) in &entries {
        let change = match (e.removed, e.previous, e.forced) {
            (true, _, _) => "removed".to_string(),
            (false, Some(p), forced) => format!("{p} -> {}{}", e.version, if forced { " (forced)" } else { "" }),
            (false, None, forced) => format!("new{}", if forced { " (forced)" } else { "" }),
        };
        table.row(vec![
            output::time(e.at_ms),
            e.topic.clone(),
            e.version.to_string(),
            change,
            e.actor.clone(),
        ]);
    }
    table.print()?;
    Ok(exit::OK)
}
