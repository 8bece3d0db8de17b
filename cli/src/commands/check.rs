//! `millrace check`: verify a closed data directory (see `millrace::inspect`).

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliResult};
use crate::output::{self, Table};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use millrace::inspect::{self, CheckReport, Severity};
use serde_json::json;
use std::path::Path;

#[derive(Debug, Args)]
#[command(
    after_help = "Reads every segment, index and metadata file of the data directory under
its lock (it refuses while a server holds it) and writes nothing. Each problem
is listed with its file and byte position:
  corruption   durable data is damaged; the store will not open (or reads fail)
               until `millrace repair` truncates it (exit code 3)
  recoverable  a torn tail of the last segment or a stale index: the next open
               fixes it by itself (exit code 0)
Damage is confined to the smallest part that holds the file: the store
(MILLRACE, producers.registry, cluster.id), a topic (its topic.meta) or a
partition (its segments, indexes, snapshots, start.offset); the line
`corruption confined to: ...` names each part holding corruption, and --json
gives every problem its \"scope\", \"topic\" and \"partition\". A topic whose
topic.meta is damaged has its partition directories checked all the same.

Examples:
  millrace check
  millrace check --data /var/lib/millrace --json"
)]
pub struct CheckArgs {
    /// Treat recoverable problems (torn tails, stale indexes) as corruption too.
    #[arg(long)]
    strict: bool,
}

/// The smallest part of the store that holds a damaged file, as
/// (`store`|`topic`|`partition`, topic, partition): damage to it is
/// confined there (open refuses it, or its reads fail; the rest opens).
/// `topics/<t>/topic.meta` is the topic's, `topics/<t>/<ppppp>/...` the
/// partition's, anything else the store's.
fn scope_of(data_dir: &Path, file: &Path) -> (&'static str, Option<String>, Option<u32>) {
    let mut parts = file
        .strip_prefix(data_dir)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    // design/format.md, "Directory layout".
    if parts.next().as_deref() != Some("topics") {
        return ("store", None, None);
    }
    let Some(topic) = parts.next() else {
        return ("store", None, None);
    };
    let partition = parts
        .next()
        .filter(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u32>().ok());
    match partition {
        Some(p) => ("partition", Some(topic), Some(p)),
        None => ("topic", Some(topic), None),
    }
}

/// Each part of the store that holds corruption, once, in report order:
/// `the store`, `topic T` or `partition T/P`.
fn confined_to(report: &CheckReport) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for p in report.problems.iter().filter(|p| p.severity == Severity::Corruption) {
        let part = match scope_of(&report.path, &p.path) {
            (_, Some(topic), Some(partition)) => format!("partition {topic}/{partition}"),
            (_, Some(topic), None) => format!("topic {topic}"),
            _ => "the store".to_string(),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts
}

pub fn report_json(report: &CheckReport) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = report
        .problems
        .iter()
        .map(|p| {
            let (scope, topic, partition) = scope_of(&report.path, &p.path);
            json!({
                "file": p.path.display().to_string(),
                "position": p.position,
                "kind": format!("{:?}", p.kind),
                "severity": p.severity.as_str(),
                "detail": p.detail,
                "scope": scope,
                "topic": topic,
                "partition": partition,
            })
        })
        .collect();
    json!({
        "data_dir": report.path.display().to_string(),
        "topics": report.topics,
        "partitions": report.partitions,
        "segments": report.segments,
        "batches": report.batches,
        "records": report.records,
        "bytes": report.bytes,
        "index_entries": report.index_entries,
        "corruption_found": report.corruption_found(),
        "live": report.live,
        "problems": problems,
        "holes": holes(report)
            .into_iter()
            .map(|h| json!({
                "topic": h.topic, "partition": h.partition, "from": h.from, "to": h.to,
                "marker": h.marker, "accepted_gap": h.accepted, "reason": h.reason,
            }))
            .collect::<Vec<_>>(),
    })
}

/// A recorded hole as `check` shows it.
struct HoleRow {
    topic: String,
    partition: String,
    from: u64,
    to: u64,
    marker: String,
    /// `repair --accept-gap` recorded it (per DATA/repair.audit).
    accepted: bool,
    reason: Option<String>,
}

/// The report's holes, with the accept-gap audit entry of each (if any).
fn holes(report: &CheckReport) -> Vec<HoleRow> {
    let audit = inspect::read_audit(&report.path).unwrap_or_default();
    report
        .holes
        .iter()
        .map(|h| {
            let dir = h.marker.parent();
            let name = |p: Option<&std::path::Path>| {
                p.and_then(std::path::Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let topic = name(dir.and_then(std::path::Path::parent));
            let partition = name(dir);
            let entry = audit.iter().rev().find(|a| {
                a["action"] == "accept-gap"
                    && a["topic"] == topic.as_str()
                    && a["partition"].as_u64().map(|p| format!("{p:05}")) == Some(partition.clone())
                    && a["from"] == h.from
                    && a["to"] == h.to
            });
            HoleRow {
                partition: partition
                    .trim_start_matches('0')
                    .parse::<u32>()
                    .unwrap_or(0)
                    .to_string(),
                topic,
                from: h.from,
                to: h.to,
                marker: h.marker.display().to_string(),
                accepted: entry.is_some(),
                reason: entry.and_then(|a| a["reason"].as_str().map(str::to_string)),
            }
        })
        .collect()
}

pub fn problems_table(report: &CheckReport) -> Table {
    let mut table = Table::new(&["SEVERITY", "KIND", "FILE", "POSITION", "DETAIL"]);
    for p in &report.problems {
        table.row(vec![
            p.severity.as_str().to_string(),
            format!("{:?}", p.kind),
            p.path.display().to_string(),
            p.position.to_string(),
            p.detail.clone(),
        ]);
    }
    table
}

/// A progress bar on stderr when it is a terminal (hidden otherwise).
pub fn bytes_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

pub fn run(global: &GlobalArgs, args: CheckArgs) -> CliResult<u8> {
    data::require_existing(global)?;
    let bar = bytes_bar("checking");
    let report = inspect::check_dir_with_progress(global.data(), &mut |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
    });
    bar.finish_and_clear();
    let report = report?;
    let failed = report.corruption_found() || (args.strict && !report.problems.is_empty());
    if global.json {
        output::print_json(&report_json(&report))?;
    } else {
        println!(
            "checked {}: {} topics, {} partitions, {} segments, {} batches, {} records, {}, {} index entries",
            report.path.display(),
            report.topics,
            report.partitions,
            report.segments,
            report.batches,
            report.records,
            output::bytes(report.bytes),
            report.index_entries
        );
        if report.live {
            println!("checked live: another process holds the directory open and writes on");
        }
        if report.problems.is_empty() {
            println!("no problems found");
        } else {
            let corrupt = report
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Corruption)
                .count();
            println!(
                "{} problem{} ({corrupt} corruption):",
                report.problems.len(),
                if report.problems.len() == 1 { "" } else { "s" }
            );
            problems_table(&report).print()?;
            let confined = confined_to(&report);
            if !confined.is_empty() {
                println!("corruption confined to: {}", confined.join(", "));
            }
        }
        for h in holes(&report) {
            let why = if h.accepted {
                format!(
                    "accepted gap (repair --accept-gap{})",
                    h.reason.map(|r| format!(", reason: {r}")).unwrap_or_default()
                )
            } else {
                "hole: offsets taken out of service".into()
            };
            println!(
                "{}/{}: offsets {}..{} are a recorded {why}; not damage, reads go on at {}",
                h.topic, h.partition, h.from, h.to, h.to
            );
        }
    }
    if failed {
        eprintln!(
            "corruption found; see the repair plan with `millrace repair --data {}` (dry run), apply it with --yes",
            global.data().display()
        );
        return Ok(exit::CORRUPTION);
    }
    Ok(exit::OK)
}
