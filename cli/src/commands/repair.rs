//! `millrace repair`: the explicit fix for corruption that `check` reports.
//! Dry run by default (prints the plan); `--yes` backs up and applies it.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliError, CliResult};
use crate::output::{self, Table};
use clap::Args;
use millrace::inspect::{self, AffectedConsumer, ConsumerEffect, RepairOutcome, RepairPlan};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
#[command(after_help = "What a repair does, per partition with corruption:
  truncate       copy the segment and its index into the backup directory,
                 move every later segment of the partition there too (their
                 offsets would no longer continue), truncate the segment at the
                 first invalid batch and cut its index to the entries before it.
                 Records from that position on are gone from the store; they
                 stay in the backup.
  rebuild-index  move a damaged index into the backup; the next open rebuilds
                 it from the log. No record is lost.
  accept-loss    the log ends before a producer snapshot that says it was
                 fsync'd further (a truncated or deleted segment): those
                 records are gone already; move the snapshot(s) past the log
                 end into the backup so that the store opens again.
  accept-gap     (with --accept-gap) a middle segment is missing: offsets
                 between the previous segment's end and the next segment's
                 start are gone. Record them as a hole (`<base>.hole`): reads
                 go on after it, they are never handed out again, and every
                 later segment is kept. Without --accept-gap such a gap is
                 repaired by `truncate`, which drops every later segment too.
                 Audited in DATA/repair.audit with --reason.
  forget-transaction
                 a transaction commit record whose parts open cannot apply
                 (check names them): copy `__transactions` into the backup and
                 move its log start past the record; the parts open could apply
                 are already in their partitions, the others stay in the backup.
The plan lists every record range taken out of service, per partition, with
its file, bytes, offsets and record count, and every consumer group, replay
job (__replay.<name>) and redrive job (__redrive.<target>) whose committed
offset lies past what is kept.
  rebuild-metadata
                 a damaged metadata file, copied into the backup first:
                 MILLRACE is rewritten; topic.meta is rebuilt from its
                 readable lines and the partition directories (retention
                 becomes forever); start.offset, producers.registry and
                 producer snapshots are moved into the backup (the log start,
                 producer ids and producer state are rebuilt on open).

Without --yes nothing changes: the plan is printed and the exit code is 3 if
there is corruption to repair (0 if there is none). With --yes the plan is
applied, the directory is checked again, and the exit code is 0 when clean.
The backup directory holds repair.manifest, every change the repair made:
`millrace repair restore DIR` undoes the repair (design/durability.md).
A repair interrupted (a crash, kill -9) is finished by running it again: it
continues in the same backup directory.

Examples:
  millrace repair                       # dry run: show the plan
  millrace repair --yes                 # apply it
  millrace repair --segment millrace-data/topics/t/00000/00000000000000000000.log --position 4096 --yes
  millrace repair --yes --backup-dir /srv/backup/millrace-repair
  millrace repair --accept-gap --reason 'segment deleted by hand' --yes
  millrace repair restore millrace-data/repair-backup-20261207T051500Z --yes")]
#[command(args_conflicts_with_subcommands = true)]
pub struct RepairArgs {
    #[command(subcommand)]
    command: Option<RepairCommand>,
    /// Repair only this segment log file (with --position).
    #[arg(long, requires = "position", value_name = "FILE")]
    segment: Option<PathBuf>,
    /// Byte position of the first invalid batch, as `check` reports it.
    #[arg(long, requires = "segment", value_name = "BYTES")]
    position: Option<u64>,
    /// Where to put backups (default: DATA/repair-backup-<time>).
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Apply the plan (without it, this is a dry run).
    #[arg(long)]
    yes: bool,
    /// For a missing middle segment: keep every later segment and record the
    /// missing offsets as a hole (instead of dropping the later segments).
    #[arg(long)]
    accept_gap: bool,
    /// Why (kept in the audit log DATA/repair.audit with an accepted gap).
    #[arg(long, requires = "accept_gap", value_name = "TEXT")]
    reason: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum RepairCommand {
    /// Undo a repair: put back what it moved into its backup directory and
    /// remove what it recorded (hole markers, accepted gaps).
    Restore(super::repair_restore::RestoreArgs),
}

/// The engine's repair actions (`inspect::repair_actions`), one per damaged thing.
use inspect::RepairAction as Action;

/// An action's row: (action, file, position, detail).
fn describe(action: &Action) -> (&'static str, String, String, String) {
    match action {
        Action::Truncate {
            segment,
            position,
            detail,
        } => (
            "truncate",
            segment.display().to_string(),
            position.to_string(),
            detail.clone(),
        ),
        Action::RebuildIndex { index, detail, .. } => {
            ("rebuild-index", index.display().to_string(), "0".into(), detail.clone())
        }
        Action::SetAside { snapshot, detail } => (
            "accept-loss",
            snapshot.display().to_string(),
            "0".into(),
            detail.clone(),
        ),
        Action::ForgetTransactions { path, detail } => (
            "forget-transaction",
            path.display().to_string(),
            "-".into(),
            detail.clone(),
        ),
        Action::RebuildMetadata { path, detail } => (
            "rebuild-metadata",
            path.display().to_string(),
            "-".into(),
            format!("{detail}; {}", metadata_fix(path)),
        ),
        Action::AcceptGap { segment, from, to, .. } => (
            "accept-gap",
            segment.display().to_string(),
            "0".into(),
            format!(
                "offsets {from}..{to} are missing (a deleted segment): record them as a hole, keep every later segment"
            ),
        ),
        Action::Manual { path, detail } => (
            "manual",
            path.display().to_string(),
            "-".into(),
            format!("{detail}; restore this file from a backup"),
        ),
    }
}

/// What `inspect::repair_metadata` does to a file (engine/src/inspect/metadata.rs).
fn metadata_fix(path: &Path) -> &'static str {
    match path.file_name().and_then(|n| n.to_str()).unwrap_or_default() {
        "MILLRACE" => "rewrite the store marker",
        "topic.meta" => {
            "rebuild it from its readable lines and the partition directories (retention becomes forever: set it again)"
        }
        "start.offset" => {
            "move it to the backup (the log starts at the first segment again; records it hid become readable)"
        }
        _ => "move it to the backup (rebuilt from the log on open)",
    }
}

fn outcome_json(action: &Action, outcome: &RepairOutcome) -> serde_json::Value {
    let paths = |v: &[PathBuf]| v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
    json!({
        "action": describe(action).0,
        "backup_dir": outcome.backup_dir.display().to_string(),
        "truncated": outcome.truncated.as_ref().map(|(p, from, to)| json!({"file": p.display().to_string(), "from_bytes": from, "to_bytes": to})),
        "copied": paths(&outcome.copied),
        "moved": paths(&outcome.moved),
        "index_removed": paths(&outcome.index_removed),
        "offsets_dropped": outcome.offsets_dropped.map(|(from, to)| json!({"from": from, "to": to})),
        "records_dropped": outcome.records_dropped,
        "accepted_gap": outcome.accepted_gap.map(|(from, to)| json!({"from": from, "to": to})),
        "affected": affected_json(&outcome.affected),
    })
}

/// What an action takes out of service (None: nothing, e.g. an index rebuild).
fn plan_of(data: &Path, action: &Action) -> CliResult<Option<RepairPlan>> {
    Ok(match action {
        Action::Truncate { segment, position, .. } => Some(inspect::plan_segment_repair(data, segment, *position)?),
        Action::SetAside { snapshot, .. } => Some(inspect::plan_snapshot_set_aside(data, snapshot)?),
        // forget-transaction says what it takes out in its own row (the commit
        // record and the parts open could not apply).
        Action::RebuildIndex { .. }
        | Action::Manual { .. }
        | Action::RebuildMetadata { .. }
        | Action::AcceptGap { .. }
        | Action::ForgetTransactions { .. } => None,
    })
}

fn range(offsets: Option<(u64, u64)>) -> String {
    offsets.map_or_else(|| "unknown".into(), |(from, to)| format!("{from}..{to}"))
}

fn plan_json(plan: &RepairPlan) -> serde_json::Value {
    let removals: Vec<serde_json::Value> = plan
        .removals
        .iter()
        .map(|r| {
            json!({
                "file": r.file.display().to_string(),
                "from_byte": r.from_byte,
                "to_byte": r.to_byte,
                "offsets": r.offsets.map(|(from, to)| json!({"from": from, "to": to})),
                "records": r.records,
                "whole_file": r.whole_file,
            })
        })
        .collect();
    json!({
        "topic": plan.topic,
        "partition": plan.partition,
        "kept_end": plan.kept_end,
        "offsets_dropped": plan.offsets_dropped.map(|(from, to)| json!({"from": from, "to": to})),
        "records_dropped": plan.records_dropped,
        "removals": removals,
        "affected": affected_json(&plan.affected),
    })
}

fn affected_json(affected: &[AffectedConsumer]) -> Vec<serde_json::Value> {
    affected
        .iter()
        .map(|a| {
            let falls_back_to = match a.effect {
                ConsumerEffect::CommitLost { falls_back_to } => falls_back_to,
                ConsumerEffect::ReadRemovedRecords => None,
            };
            json!({
                "name": a.group,
                "kind": a.kind.as_str(),
                "topic": a.topic,
                "partition": a.partition,
                "committed": a.committed,
                "effect": a.effect.as_str(),
                "falls_back_to": falls_back_to,
            })
        })
        .collect()
}

/// What happens to an affected consumer, in words.
fn effect_text(a: &AffectedConsumer, kept_end: u64) -> String {
    match a.effect {
        ConsumerEffect::ReadRemovedRecords => format!("read past the kept end {kept_end}"),
        ConsumerEffect::CommitLost {
            falls_back_to: Some(offset),
        } => format!("commit lost: falls back to {offset}"),
        ConsumerEffect::CommitLost { falls_back_to: None } => "commit lost: no commit left, starts over".into(),
    }
}

/// The table of consumers that lose committed progress.
fn affected_table(rows: &[(u64, &AffectedConsumer)]) -> Table {
    let mut table = Table::new(&["TOPIC", "PARTITION", "KIND", "NAME", "COMMITTED", "EFFECT"]);
    for (kept_end, a) in rows {
        table.row(vec![
            a.topic.clone(),
            a.partition.to_string(),
            a.kind.as_str().to_string(),
            a.group.clone(),
            a.committed.to_string(),
            effect_text(a, *kept_end),
        ]);
    }
    table
}

/// The store's committed-offsets topic (engine/src/offset_table.rs).
const OFFSETS_TOPIC: &str = "__offsets";

/// The note a repair of `__offsets` needs: commits in the damaged bytes
/// themselves cannot be read, so a consumer not listed may lose one too.
fn offsets_note(topic: &str) {
    if topic == OFFSETS_TOPIC {
        println!(
            "{OFFSETS_TOPIC} holds committed offsets: consumers listed with \"commit lost\" fall back to an earlier commit; \
             a commit inside the damaged bytes themselves cannot be read (compare `millrace offsets show` after the repair)"
        );
    }
}

/// The human tables of what the plans take out of service and whom it affects.
fn print_plans(plans: &[RepairPlan]) -> CliResult<()> {
    if plans.is_empty() {
        return Ok(());
    }
    let mut removed = Table::new(&["TOPIC", "PARTITION", "FILE", "BYTES", "OFFSETS", "RECORDS", "HOW"]);
    for plan in plans {
        for r in &plan.removals {
            let how = if r.whole_file {
                "move into backup"
            } else {
                "truncate (copy in backup)"
            };
            removed.row(vec![
                plan.topic.clone(),
                plan.partition.to_string(),
                r.file.display().to_string(),
                format!("{}..{}", r.from_byte, r.to_byte),
                range(r.offsets),
                r.records.to_string(),
                how.to_string(),
            ]);
        }
    }
    println!("records taken out of service:");
    removed.print()?;
    for plan in plans {
        println!(
            "{}/{}: log ends at offset {} after the repair; {} record(s) dropped ({})",
            plan.topic,
            plan.partition,
            plan.kept_end,
            plan.records_dropped,
            range(plan.offsets_dropped)
        );
    }
    let affected: Vec<(u64, &AffectedConsumer)> = plans
        .iter()
        .flat_map(|p| p.affected.iter().map(move |a| (p.kept_end, a)))
        .collect();
    if affected.is_empty() {
        println!("no consumer group, replay or redrive job loses committed progress");
    } else {
        println!("affected consumers (groups, replay and redrive jobs that lose committed progress):");
        affected_table(&affected).print()?;
    }
    for plan in plans {
        offsets_note(&plan.topic);
    }
    Ok(())
}

#[expect(
    clippy::too_many_lines,
    reason = "debt: the repair plan printer; to split per section"
)]
pub fn run(global: &GlobalArgs, args: RepairArgs) -> CliResult<u8> {
    if let Some(RepairCommand::Restore(restore)) = args.command {
        return super::repair_restore::run(global, &restore);
    }
    data::require_existing(global)?;
    // A repair (and its plan) needs the writer gone; `check` inspects a live store.
    let lock = millrace::storage::lock_dir_shared(global.data()).map_err(|e| millrace::Error::Io {
        op: "lock data dir",
        path: global.data().to_path_buf(),
        source: e,
    })?;
    if let millrace::storage::ReadLock::Live { writer_pid } = lock {
        return Err(millrace::Error::Locked {
            path: global.data().to_path_buf(),
            pid: writer_pid,
        }
        .into());
    }
    drop(lock);
    let (actions, corruption_found) = match (&args.segment, args.position) {
        (Some(segment), Some(position)) => (
            vec![Action::Truncate {
                segment: segment.clone(),
                position,
                detail: "requested on the command line".into(),
            }],
            true,
        ),
        _ => {
            let report = inspect::check_dir(global.data())?;
            (inspect::repair_actions(&report), report.corruption_found())
        }
    };
    let (actions, gaps) = gap_actions(global.data(), actions, &args)?;
    if actions.is_empty() {
        super::repair_restore::finish_interrupted(global, args.yes && args.backup_dir.is_none())?;
        if global.json {
            output::print_json(&json!({"actions": [], "applied": false, "corruption_found": false}))?;
        } else {
            println!("no corruption found: nothing to repair");
        }
        return Ok(exit::OK);
    }
    if !args.yes {
        let mut plans = Vec::new();
        let mut planned = Vec::new();
        for a in &actions {
            let plan = plan_of(global.data(), a)?;
            let (action, file, position, detail) = describe(a);
            let gap = gap_of(&gaps, a);
            planned.push(json!({
                "action": action, "file": file, "position": position, "detail": detail,
                "plan": plan.as_ref().map(plan_json),
                "missing_segment": gap.map(|(from, to)| json!({"from": from, "to": to, "remedy": "--accept-gap"})),
            }));
            plans.extend(plan);
        }
        if global.json {
            output::print_json(&json!({"actions": planned, "applied": false, "corruption_found": corruption_found}))?;
        } else {
            let mut table = Table::new(&["ACTION", "FILE", "POSITION", "DETAIL"]);
            for a in &actions {
                let (action, file, position, detail) = describe(a);
                table.row(vec![action.to_string(), file, position, detail]);
            }
            println!("repair plan:");
            table.print()?;
            print_plans(&plans)?;
            print_gap_notes(&actions, &gaps);
            println!("dry run: nothing changed; re-run with --yes to back up and apply this plan");
        }
        // Only recoverable files to fix (open copes with them): not corruption.
        return Ok(if corruption_found { exit::CORRUPTION } else { exit::OK });
    }
    let backup_root = super::repair_restore::backup_root(global, args.backup_dir.as_ref())?;
    if !global.json {
        print_gap_notes(&actions, &gaps);
    }
    let storage = crate::crash_hook::storage();
    let journal = Arc::new(inspect::Journal::open(storage.as_ref(), global.data(), &backup_root)?);
    let mut applied = Vec::new();
    let mut manual = false;
    // One forget covers every unappliable part of the record.
    let mut applied_forget = false;
    let inspector = inspect::Inspector::new(storage).with_journal(Arc::clone(&journal));
    for action in &actions {
        if matches!(action, Action::ForgetTransactions { .. }) {
            if applied_forget {
                continue;
            }
            applied_forget = true;
        }
        let Some(outcome) = inspector.apply(global.data(), action, &backup_root)? else {
            if let Action::Manual { path, detail } = action {
                eprintln!("manual repair needed: {}: {detail}", path.display());
            }
            manual = true;
            continue;
        };
        if let (Action::RebuildMetadata { path, .. }, false) = (action, global.json) {
            println!("{}: {}", path.display(), metadata_fix(path));
        }
        if !global.json {
            if let Some((file, from, to)) = &outcome.truncated {
                println!("truncated {} from {from} to {to} bytes", file.display());
            }
            for moved in &outcome.moved {
                println!("moved {} into the backup", moved.display());
            }
            if let Some((from, to)) = outcome.accepted_gap {
                println!(
                    "accepted the gap: offsets {from}..{to} are recorded as a hole (reads go on at {to}, never handed out again); every later segment is kept"
                );
            }
            if let Some((from, to)) = outcome.offsets_dropped {
                println!(
                    "offsets {from}..{to} ({} record(s)) of this partition are now only in the backup",
                    outcome.records_dropped
                );
            }
            if !outcome.affected.is_empty() {
                let kept_end = outcome.offsets_dropped.map_or(0, |(from, _)| from);
                let rows: Vec<(u64, &AffectedConsumer)> = outcome.affected.iter().map(|a| (kept_end, a)).collect();
                println!("consumers that lost committed progress:");
                affected_table(&rows).print()?;
            }
            if matches!(action, Action::ForgetTransactions { .. }) {
                for file in &outcome.copied {
                    println!("copied {} into the backup", file.display());
                }
            }
            println!("backup: {}", outcome.backup_dir.display());
        }
        applied.push(outcome_json(action, &outcome));
    }
    journal.record(&inspect::ManifestEntry::Done {
        time_ms: chrono::Utc::now().timestamp_millis(),
    })?;
    let report = inspect::check_dir(global.data())?;
    let clean = !report.corruption_found();
    if global.json {
        output::print_json(&json!({
            "applied": true, "actions": applied, "corruption_found": !clean,
            "backup_dir": backup_root.display().to_string(),
        }))?;
    } else if clean {
        println!("check after repair: no corruption");
        println!(
            "undo with: millrace --data {} repair restore {} --yes",
            global.data().display(),
            backup_root.display()
        );
    } else {
        println!("check after repair: corruption remains:");
        super::check::problems_table(&report).print()?;
    }
    if !clean || manual {
        return Err(CliError {
            code: exit::CORRUPTION,
            ..CliError::new("corruption remains after the repair")
                .with_hint("see the table above; damaged metadata needs a restore from a backup")
        });
    }
    Ok(exit::OK)
}

/// A missing middle segment found in the plan: (segment, from, to).
type Gap = (PathBuf, u64, u64);

/// The gap a truncation at byte 0 of `action`'s segment stands for, if any.
fn gap_of(gaps: &[Gap], action: &Action) -> Option<(u64, u64)> {
    match action {
        Action::Truncate {
            segment, position: 0, ..
        } => gaps.iter().find(|(s, _, _)| s == segment).map(|(_, f, t)| (*f, *t)),
        _ => None,
    }
}

/// With `--accept-gap`, every truncation of a segment that only stands for
/// a missing one before it becomes an accepted gap. Returns the actions and
/// the gaps found (for the note a plan without the flag prints).
fn gap_actions(data: &Path, actions: Vec<Action>, args: &RepairArgs) -> CliResult<(Vec<Action>, Vec<Gap>)> {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    for action in actions {
        let gap = match &action {
            Action::Truncate {
                segment, position: 0, ..
            } => inspect::gap_before(data, segment)?,
            _ => None,
        };
        match (gap, &action) {
            (Some((from, to)), Action::Truncate { segment, .. }) => {
                gaps.push((segment.clone(), from, to));
                if args.accept_gap {
                    out.push(Action::AcceptGap {
                        segment: segment.clone(),
                        from,
                        to,
                        reason: args.reason.clone().unwrap_or_default(),
                    });
                    continue;
                }
                out.push(action);
            }
            _ => out.push(action),
        }
    }
    Ok((out, gaps))
}

/// The note on a missing segment repaired by truncation (no `--accept-gap`).
fn print_gap_notes(actions: &[Action], gaps: &[Gap]) {
    for action in actions {
        if let Some((from, to)) = gap_of(gaps, action) {
            let (_, file, _, _) = describe(action);
            println!(
                "note: offsets {from}..{to} before {file} are missing (a deleted segment); this repair drops that segment and \
                 every later one of the partition with them; `millrace repair --accept-gap [--reason TEXT]` keeps them and \
                 records the gap instead"
            );
        }
    }
}
