//! `repair restore`: undo a repair from its backup directory's
//! `repair.manifest` (design/durability.md, "Undoing a repair").

use super::manifest::{audit, read_manifest, Journal, ManifestEntry};
use super::*;

/// What a restore put back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Files whose copy was written back over them.
    pub copied_back: Vec<PathBuf>,
    /// Files moved back from the backup.
    pub moved_back: Vec<PathBuf>,
    /// Files the repair had created, removed.
    pub removed: Vec<PathBuf>,
    /// Gaps no longer accepted (topic, partition, from, to).
    pub gaps_undone: Vec<(String, u32, u64, u64)>,
}

/// Undo the repair whose backup is `backup_root` (design/durability.md,
/// "Undoing a repair").
pub fn restore(data_dir: &Path, backup_root: &Path) -> Result<RestoreOutcome> {
    restore_on(&FsStorage, data_dir, backup_root)
}

/// `true` when `path` holds only zero bytes (or is missing): a segment that
/// no record reached (an `Always` partition's preallocated zeros).
fn holds_no_record(storage: &dyn Storage, path: &Path) -> Result<bool> {
    if !storage.exists(path) {
        return Ok(true);
    }
    let file = storage.open(path, OpenMode::Existing).at("open", path)?;
    let bytes = read_prefix(file.as_ref(), path, 2 * 1024 * 1024)?;
    let len = file.len().at("stat", path)?;
    Ok(len == bytes.len() as u64 && bytes.iter().all(|b| *b == 0))
}

/// Refuse a restore that would throw away records written since the repair:
/// a segment the repair cut that has grown, a segment it created that holds
/// records, or a later segment rolled past one it created.
fn moved_on(storage: &dyn Storage, data_dir: &Path, root: &Path, entries: &[ManifestEntry]) -> Result<()> {
    let refuse = |why: String| {
        Error::invalid(
            "restore",
            format!("the store has moved on since the repair: {why}; restoring would throw those records away (nothing was restored)"),
        )
    };
    let backup_of = |path: &str| {
        entries.iter().find_map(|e| match e {
            ManifestEntry::Copy { original, backup } if original == path => Some(root.join(backup)),
            _ => None,
        })
    };
    for entry in entries {
        match entry {
            ManifestEntry::Cut { path, len } => {
                let file = data_dir.join(path);
                let now = file_len(storage, &file);
                let original = backup_of(path).map(|b| file_len(storage, &b));
                if now != *len && Some(now) != original {
                    return Err(refuse(format!(
                        "{} is {now} bytes, the repair left {len}",
                        file.display()
                    )));
                }
            }
            ManifestEntry::Create { path } if path.ends_with(".log") => {
                let file = data_dir.join(path);
                if !holds_no_record(storage, &file)? {
                    return Err(refuse(format!(
                        "{} holds records written after the repair",
                        file.display()
                    )));
                }
                let (Some(dir), Some(base)) = (
                    file.parent(),
                    file.file_name().and_then(|n| n.to_str()).and_then(parse_log_name),
                ) else {
                    continue;
                };
                if let Some(later) = list_names(storage, dir)?
                    .iter()
                    .filter_map(|n| parse_log_name(n))
                    .find(|b| *b > base)
                {
                    return Err(refuse(format!(
                        "{} has a segment at offset {later}, after the one the repair created at {base}",
                        dir.display()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`restore`] through `storage`. Checks first (the manifest whole, nothing
/// it cannot undo, the store not moved on, every backup file present), then
/// in this order, each step durable before the next, so that a crash at any
/// point leaves the store damaged as before the repair (it refuses to open,
/// or `check` reports it) until a rerun finishes: (1) each copied file is
/// written back (a temporary file fsync'd, renamed over it, the directory
/// fsync'd); (2) each moved file is moved back, latest first; (3) each file
/// the repair created is removed, latest first (a hole marker last of all,
/// as it was written first); (4) `restored` is appended to the manifest and
/// the restore to the audit log.
pub(super) fn restore_on(storage: &dyn Storage, data_dir: &Path, root: &Path) -> Result<RestoreOutcome> {
    require_store(storage, data_dir)?;
    let _lock = lock(storage, data_dir)?;
    let entries = read_manifest(storage, root)?;
    restorable(storage, data_dir, root, &entries)?;
    let mut outcome = RestoreOutcome::default();
    put_back(storage, data_dir, root, &entries, &mut outcome)?;
    mark_restored(storage, data_dir, root, &outcome)?;
    Ok(outcome)
}

/// The checks before a restore changes anything.
fn restorable(storage: &dyn Storage, data_dir: &Path, root: &Path, entries: &[ManifestEntry]) -> Result<()> {
    if entries.iter().any(|e| matches!(e, ManifestEntry::Restored { .. })) {
        return Err(Error::invalid(
            "restore",
            format!("{} was restored already", root.display()),
        ));
    }
    if let Some(ManifestEntry::Unrestorable { action, path }) =
        entries.iter().find(|e| matches!(e, ManifestEntry::Unrestorable { .. }))
    {
        return Err(Error::invalid(
            "restore",
            format!(
                "the repair in {} included `{action}` of {path}, which restore cannot undo; its copy is in the backup (nothing was restored)",
                root.display()
            ),
        ));
    }
    for entry in entries {
        if let ManifestEntry::Copy { backup, .. } = entry {
            if !storage.exists(&root.join(backup)) {
                return Err(Error::invalid(
                    "restore",
                    format!(
                        "{} is missing from the backup (nothing was restored)",
                        root.join(backup).display()
                    ),
                ));
            }
        }
        if let ManifestEntry::Move { original, backup } = entry {
            if !storage.exists(&root.join(backup)) && !storage.exists(&data_dir.join(original)) {
                return Err(Error::invalid(
                    "restore",
                    format!(
                        "{} is neither in the backup nor back in the store (nothing was restored)",
                        root.join(backup).display()
                    ),
                ));
            }
        }
    }
    moved_on(storage, data_dir, root, entries)
}

/// Steps 1 to 3 of [`restore_on`].
fn put_back(
    storage: &dyn Storage,
    data_dir: &Path,
    root: &Path,
    entries: &[ManifestEntry],
    outcome: &mut RestoreOutcome,
) -> Result<()> {
    // 1. Copies back over the files the repair changed.
    for entry in entries {
        if let ManifestEntry::Copy { original, backup } = entry {
            let to = data_dir.join(original);
            let tmp = to.with_extension("restore-tmp");
            copy_synced(storage, &root.join(backup), &tmp)?;
            storage.rename(&tmp, &to).at("rename", &to)?;
            if let Some(dir) = to.parent() {
                sync_dir(storage, dir)?;
            }
            outcome.copied_back.push(to);
        }
    }
    // 2. Moved files back, latest first.
    for entry in entries.iter().rev() {
        if let ManifestEntry::Move { original, backup } = entry {
            let from = root.join(backup);
            let to = data_dir.join(original);
            if storage.exists(&from) {
                super::repair::move_file(storage, &from, &to)?;
                for dir in [to.parent(), from.parent()].into_iter().flatten() {
                    sync_dir(storage, dir)?;
                }
            }
            outcome.moved_back.push(to);
        }
    }
    // 3. Files the repair created, latest first.
    for entry in entries.iter().rev() {
        if let ManifestEntry::Create { path } = entry {
            let file = data_dir.join(path);
            if storage.exists(&file) {
                storage.remove_file(&file).at("remove", &file)?;
                if let Some(dir) = file.parent() {
                    sync_dir(storage, dir)?;
                }
            }
            outcome.removed.push(file);
        }
    }
    for entry in entries {
        if let ManifestEntry::Gap {
            topic,
            partition,
            from,
            to,
        } = entry
        {
            outcome.gaps_undone.push((topic.clone(), *partition, *from, *to));
        }
    }
    Ok(())
}

/// Step 4 of [`restore_on`]: `restored` in the manifest, a line in the audit log.
fn mark_restored(storage: &dyn Storage, data_dir: &Path, root: &Path, outcome: &RestoreOutcome) -> Result<()> {
    // 4. Done: recorded in the manifest and the audit log.
    let journal = Journal::reopen(storage, data_dir, root)?;
    journal.record(&ManifestEntry::Restored {
        time_ms: crate::clock::now_ms(),
    })?;
    audit(
        storage,
        data_dir,
        serde_json::json!({
            "action": "restore",
            "backup_dir": root.display().to_string(),
            "gaps_undone": outcome.gaps_undone.iter().map(|(t, p, f, to)| serde_json::json!({"topic": t, "partition": p, "from": f, "to": to})).collect::<Vec<_>>(),
        }),
    )
}
