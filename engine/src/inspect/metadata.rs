//! Metadata files other than segments and indexes: what `check_dir` says of
//! each, and `repair_metadata`, the fix `millrace repair` applies to each
//! (design/durability.md, "Damage is confined").
//!
//! | file                 | when damaged, open...                        | check       | repair                                   |
//! |----------------------|----------------------------------------------|-------------|------------------------------------------|
//! | `MILLRACE`           | refuses the store (a newer format: upgrade)  | corruption  | rewrite the marker                        |
//! | `producers.registry` | ignores it (producers init again)            | recoverable | move to the backup                        |
//! | `<offset>.producers` | ignores it (rebuilt from the log)            | recoverable | move to the backup                        |
//! | `topic.meta`         | refuses the topic                            | corruption  | rebuild from its readable lines and dirs  |
//! | `start.offset`       | refuses the partition                        | corruption  | move to the backup (start = first segment)|

use super::*;
use crate::producer::registry::REGISTRY_FILE;

const SNAPSHOT_SUFFIX: &str = ".producers";

fn problem(path: PathBuf, severity: Severity, detail: String) -> Problem {
    Problem {
        path,
        position: 0,
        kind: CorruptionKind::BadMetadata,
        severity,
        detail,
    }
}

/// The `MILLRACE` marker and `producers.registry` of the store at `path`. A
/// newer format is an error (this build cannot check it), not a problem.
pub(super) fn check_store_files(path: &Path, report: &mut CheckReport) -> Result<()> {
    let format = path.join(FORMAT_FILE);
    match crate::catalog::check_format(&read_small(&format)?, &format) {
        Ok(()) => {}
        Err(e @ Error::FormatTooNew { .. }) => return Err(e),
        Err(_) => report.problems.push(problem(
            format,
            Severity::Corruption,
            "store marker is damaged; the store does not open until `millrace repair` rewrites it".into(),
        )),
    }
    let registry = path.join(REGISTRY_FILE);
    if registry.exists() {
        let bytes = fs::read(&registry).map_err(|e| Error::io("read", &registry, e))?;
        if crate::producer::registry::decode_registry(&bytes).is_none() {
            report.problems.push(problem(
                registry,
                Severity::Recoverable,
                "producer registry is damaged; open ignores it (producers must init again, new ids continue past those in the log); `millrace repair` moves it to a backup".into(),
            ));
        }
    }
    Ok(())
}

/// Every `<offset>.producers` snapshot of a partition directory.
pub(super) fn check_snapshots(dir: &Path, report: &mut CheckReport) -> Result<()> {
    for name in list_names(dir)? {
        let Some(digits) = name.strip_suffix(SNAPSHOT_SUFFIX) else {
            continue;
        };
        let path = dir.join(&name);
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let valid =
            crate::producer::state::ProducerTable::decode_snapshot(&bytes, crate::producer::state::DEDUP_BATCHES_MAX)
                .is_some_and(|(offset, _)| digits.parse::<u64>().ok() == Some(offset));
        if !valid {
            report.problems.push(problem(
                path,
                Severity::Recoverable,
                "producer snapshot is damaged; open ignores it and rebuilds the producer state from an older snapshot or the log; `millrace repair` moves it to a backup".into(),
            ));
        }
    }
    Ok(())
}

/// Partition directories (`00000`, ...) found in a topic directory, as the
/// count `0..=highest`.
pub(super) fn partition_dirs(topic_dir: &Path) -> Result<u32> {
    let mut count = 0u32;
    for name in list_names(topic_dir)? {
        if name.len() == 5 && name.bytes().all(|b| b.is_ascii_digit()) && topic_dir.join(&name).is_dir() {
            if let Ok(p) = name.parse::<u32>() {
                count = count.max(p.saturating_add(1));
            }
        }
    }
    Ok(count)
}

/// Is `path` a metadata file [`repair_metadata`] can fix?
pub fn is_repairable_metadata(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name == FORMAT_FILE
        || name == REGISTRY_FILE
        || name == TOPIC_META
        || name == START_OFFSET_FILE
        || name.ends_with(SNAPSHOT_SUFFIX)
}

/// Fix one damaged metadata file of a closed store (the table above): copy
/// it into `backup_dir` first, then rewrite, rebuild or remove it. Refuses a
/// file `check_dir` would not report.
pub fn repair_metadata(data_dir: &Path, path: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    let _lock = lock(data_dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let not_repairable = || {
        Error::invalid(
            "metadata file",
            format!("{}: not a damaged metadata file repair can fix", path.display()),
        )
    };
    if !is_repairable_metadata(path) {
        return Err(not_repairable());
    }
    let mut report = CheckReport::default();
    let damaged = if name == FORMAT_FILE {
        check_store_files(data_dir, &mut report)?;
        report.problems.iter().any(|p| p.path == path)
    } else if name == REGISTRY_FILE || name.ends_with(SNAPSHOT_SUFFIX) {
        let dir = path.parent().ok_or_else(not_repairable)?;
        if name == REGISTRY_FILE {
            check_store_files(data_dir, &mut report)?;
        } else {
            check_snapshots(dir, &mut report)?;
        }
        report.problems.iter().any(|p| p.path == path)
    } else if name == TOPIC_META {
        !path.exists() || topic_meta_problem(path)?.is_some()
    } else {
        path.exists() && !start_offset_valid(path)
    };
    if !damaged {
        return Err(Error::invalid(
            "metadata file",
            format!("{} is not damaged; nothing to repair", path.display()),
        ));
    }
    fs::create_dir_all(backup_dir).map_err(|e| Error::io("create backup dir", backup_dir, e))?;
    let mut outcome = RepairOutcome::new(backup_dir);
    let backup = backup_dir.join(&name);
    let dir = path.parent().ok_or_else(not_repairable)?.to_path_buf();
    if name == FORMAT_FILE || name == TOPIC_META {
        if path.exists() {
            copy_file(path, &backup)?;
            outcome.copied.push(path.to_path_buf());
        }
        let bytes = if name == FORMAT_FILE {
            crate::catalog::format_text().as_bytes().to_vec()
        } else {
            let old = if path.exists() { read_small(path)? } else { Vec::new() };
            TopicConfig::salvage(&old, partition_dirs(&dir)?).encode()
        };
        crate::io::write_atomic(&FsStorage, path, &bytes).map_err(|e| Error::io("rewrite", path, e))?;
    } else {
        copy_file(path, &backup)?;
        fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
        outcome.moved.push(path.to_path_buf());
    }
    FsStorage
        .sync_dir(backup_dir)
        .map_err(|e| Error::io("fsync dir", backup_dir, e))?;
    FsStorage.sync_dir(&dir).map_err(|e| Error::io("fsync dir", &dir, e))?;
    Ok(outcome)
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).map_err(|e| Error::io("copy to backup", to, e))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync backup", to, e))
}

pub(super) fn start_offset_valid(path: &Path) -> bool {
    read_small(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| t.trim().parse::<u64>().is_ok())
}

/// What is wrong with a topic's `topic.meta` (as `load_topic` in store.rs
/// judges it), or `None` with the decoded config.
pub(super) fn topic_meta_problem(meta_path: &Path) -> Result<Option<String>> {
    let config = match read_small(meta_path).and_then(|bytes| TopicConfig::decode(&bytes, meta_path)) {
        Ok(config) => config,
        Err(e) => return Ok(Some(format!("topic metadata unreadable: {e}"))),
    };
    let dir = meta_path.parent().unwrap_or(Path::new("."));
    let on_disk = partition_dirs(dir)?;
    if on_disk > config.partitions {
        return Ok(Some(format!(
            "topic.meta says {} partitions but partition directory {:05} exists",
            config.partitions,
            on_disk - 1
        )));
    }
    Ok(None)
}
