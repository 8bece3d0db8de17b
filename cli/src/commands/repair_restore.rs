//! `millrace repair restore DIR`: undo a repair from its backup directory
//! (its `repair.manifest`). Dry run without `--yes`.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliResult};
use crate::output;
use clap::Args;
use millrace::inspect::{self, ManifestEntry};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "Puts the store back as it was before the repair whose backup is DIR:
every file the repair changed is written back from its copy, every file it
moved into the backup is moved back, and every file it created (hole markers,
the empty segment a partition continued in, a rebuilt topic.meta that was
missing, a forget's start.offset) is removed; an accepted gap is no longer
accepted; a rebuilt metadata file and a forgotten transaction come back.
`check` then reports the damage it reported before the repair (to try
another tool, or to send the files for analysis).

Refused, with nothing changed, when DIR has no repair.manifest or it is
damaged, when an earlier version's repair marked a change it could not undo,
and when records were written since the repair where the restore would have
to remove them. Safe to interrupt: run it again to finish.

Examples:
  millrace repair restore millrace-data/repair-backup-20261207T051500Z        # what it would do
  millrace repair restore millrace-data/repair-backup-20261207T051500Z --yes")]
pub struct RestoreArgs {
    /// The backup directory of the repair (printed by `repair --yes`).
    #[arg(value_name = "DIR")]
    backup_dir: PathBuf,
    /// Restore (without it, this is a dry run).
    #[arg(long)]
    yes: bool,
}

/// One manifest entry in words (None: nothing to undo for it).
fn undo_of(entry: &ManifestEntry) -> Option<String> {
    match entry {
        ManifestEntry::Copy { original, backup } => Some(format!("write {original} back from {backup}")),
        ManifestEntry::Move { original, backup } => Some(format!("move {backup} back to {original}")),
        ManifestEntry::Create { path } => Some(format!("remove {path}")),
        ManifestEntry::Gap {
            topic,
            partition,
            from,
            to,
        } => Some(format!(
            "{topic}/{partition}: offsets {from}..{to} become a gap again (damage `check` reports)"
        )),
        ManifestEntry::Unrestorable { action, path } => Some(format!("cannot undo `{action}` of {path}")),
        _ => None,
    }
}

pub fn run(global: &GlobalArgs, args: &RestoreArgs) -> CliResult<u8> {
    data::require_existing(global)?;
    let entries = inspect::read_manifest(&millrace::storage::ReadOnlyStorage::default(), &args.backup_dir)?;
    if !args.yes {
        let steps: Vec<String> = entries.iter().filter_map(undo_of).collect();
        if global.json {
            output::print_json(
                &json!({"backup_dir": args.backup_dir.display().to_string(), "steps": steps, "applied": false}),
            )?;
        } else {
            println!("restore plan for {}:", args.backup_dir.display());
            for step in &steps {
                println!("  {step}");
            }
            println!("dry run: nothing changed; re-run with --yes to restore");
        }
        return Ok(exit::OK);
    }
    let inspector = inspect::Inspector::new(crate::crash_hook::storage());
    let outcome = inspector.restore(global.data(), &args.backup_dir)?;
    let report = inspect::check_dir(global.data())?;
    let paths = |v: &[PathBuf]| v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
    if global.json {
        output::print_json(&json!({
            "applied": true,
            "backup_dir": args.backup_dir.display().to_string(),
            "copied_back": paths(&outcome.copied_back),
            "moved_back": paths(&outcome.moved_back),
            "removed": paths(&outcome.removed),
            "gaps_undone": outcome.gaps_undone.iter().map(|(t, p, f, to)| json!({"topic": t, "partition": p, "from": f, "to": to})).collect::<Vec<_>>(),
            "corruption_found": report.corruption_found(),
        }))?;
    } else {
        for p in &outcome.copied_back {
            println!("wrote back {}", p.display());
        }
        for p in &outcome.moved_back {
            println!("moved back {}", p.display());
        }
        for p in &outcome.removed {
            println!("removed {}", p.display());
        }
        for (topic, partition, from, to) in &outcome.gaps_undone {
            println!("{topic}/{partition}: the gap {from}..{to} is no longer accepted");
        }
        if report.corruption_found() {
            println!("restored: `check` reports the damage as before the repair:");
            super::check::problems_table(&report).print()?;
        } else {
            println!("restored: no corruption found");
        }
    }
    Ok(exit::OK)
}

/// Where the backup goes: `--backup-dir`, or the backup of an interrupted
/// repair (a rerun finishes it there), or `DATA/repair-backup-<time>`.
pub fn backup_root(global: &GlobalArgs, backup_dir: Option<&PathBuf>) -> CliResult<PathBuf> {
    if let Some(dir) = backup_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = inspect::unfinished_backup(global.data())? {
        if !global.json {
            println!("continuing the interrupted repair in {}", dir.display());
        }
        return Ok(dir);
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    Ok(global.data().join(format!("repair-backup-{stamp}")))
}

/// Nothing left to repair: a repair interrupted after its last change is
/// marked finished in its manifest (`applying`: with `--yes`, into the
/// default backup directory).
pub fn finish_interrupted(global: &GlobalArgs, applying: bool) -> CliResult<()> {
    if !applying {
        return Ok(());
    }
    if let Some(dir) = inspect::unfinished_backup(global.data())? {
        let storage = crate::crash_hook::storage();
        let journal = inspect::Journal::open(storage.as_ref(), global.data(), &dir)?;
        journal.record(&inspect::ManifestEntry::Done {
            time_ms: chrono::Utc::now().timestamp_millis(),
        })?;
        if !global.json {
            println!(
                "the interrupted repair in {} had made all its changes; marked finished",
                dir.display()
            );
        }
    }
    Ok(())
}
