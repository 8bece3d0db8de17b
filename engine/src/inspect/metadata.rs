//! Metadata files other than segments and indexes: what `check_dir` says of
//! each, and `repair_metadata`, the fix `millrace repair` applies to each
//! (design/durability.md, "Damage is confined").
//!
//! | file                 | when damaged, open...                        | check       | repair                                   |
//! |----------------------|----------------------------------------------|-------------|------------------------------------------|
//! | `MILLRACE`           | refuses the store (a newer format: upgrade)  | corruption  | rewrite the marker                        |
//! | `producers.registry` | ignores it (producers init again)            | recoverable | move to the backup                        |
//! | `cluster.id`         | replaces it with a new id                    | recoverable | move to the backup (open draws a new id)  |
//! | `<offset>.producers` | ignores it (rebuilt from the log)            | recoverable | move to the backup                        |
//! | `topic.meta`         | refuses the topic                            | corruption  | rebuild from its readable lines and dirs  |
//! | `start.offset`       | refuses the partition                        | corruption  | move to the backup (start = first segment)|

use super::*;
use crate::io::checked::IoContext;
use crate::producer::registry::REGISTRY_FILE;
use crate::store::cluster_id::{CLUSTER_ID_FILE, CLUSTER_ID_FILE_BYTES};

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
pub(super) fn check_store_files(storage: &dyn Storage, path: &Path, report: &mut CheckReport) -> Result<()> {
    let format = path.join(FORMAT_FILE);
    match crate::layout::check_format(&read_small(storage, &format)?, &format) {
        Ok(_) => {}
        Err(e @ Error::FormatTooNew { .. }) => return Err(e),
        Err(_) => report.problems.push(problem(
            format,
            Severity::Corruption,
            "store marker is damaged; the store does not open until `millrace repair` rewrites it".into(),
        )),
    }
    let registry = path.join(REGISTRY_FILE);
    if storage.exists(&registry) {
        let bytes = read_bounded(storage, &registry, crate::producer::registry::REGISTRY_BYTES_MAX)?;
        if bytes
            .and_then(|b| crate::producer::registry::decode_registry(&b))
            .is_none()
        {
            report.problems.push(problem(
                registry,
                Severity::Recoverable,
                "producer registry is damaged; open ignores it (producers must init again, new ids continue past those in the log); `millrace repair` moves it to a backup".into(),
            ));
        }
    }
    let cluster_id = path.join(CLUSTER_ID_FILE);
    if storage.exists(&cluster_id) {
        let bytes = read_bounded(storage, &cluster_id, CLUSTER_ID_FILE_BYTES)?;
        if bytes.and_then(|b| crate::store::cluster_id::decode(&b)).is_none() {
            report.problems.push(problem(
                cluster_id,
                Severity::Recoverable,
                "cluster id is damaged; open replaces it with a new id (Kafka clients then see another cluster); `millrace repair` moves it to a backup".into(),
            ));
        }
    }
    Ok(())
}

/// A whole file of at most `max_bytes` (what open reads of it), `None` when
/// it is longer: open ignores it, so it is damage to report.
fn read_bounded(storage: &dyn Storage, path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>> {
    match crate::io::read_all(storage, path, max_bytes) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e).at("read", path),
    }
}

/// Every `<offset>.producers` snapshot of a partition directory.
pub(super) fn check_snapshots(storage: &dyn Storage, dir: &Path, report: &mut CheckReport) -> Result<()> {
    for name in list_names(storage, dir)? {
        let Some(digits) = name.strip_suffix(SNAPSHOT_SUFFIX) else {
            continue;
        };
        let path = dir.join(&name);
        let window = crate::producer::state::DEDUP_BATCHES_MAX;
        let bytes = read_bounded(storage, &path, crate::producer::snapshot::snapshot_bytes_max(window))?;
        let valid = bytes
            .and_then(|b| crate::producer::state::ProducerTable::decode_snapshot(&b, window))
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
pub(super) fn partition_dirs(storage: &dyn Storage, topic_dir: &Path) -> Result<u32> {
    let mut count = 0u32;
    for name in list_names(storage, topic_dir)? {
        if name.len() == 5 && name.bytes().all(|b| b.is_ascii_digit()) && is_dir(storage, &topic_dir.join(&name))? {
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
        || name == CLUSTER_ID_FILE
        || name == TOPIC_META
        || name == START_OFFSET_FILE
        || name.ends_with(SNAPSHOT_SUFFIX)
}

/// Fix one damaged metadata file of a closed store (the table above): copy
/// it into `backup_dir` first, then rewrite, rebuild or remove it. Refuses a
/// file `check_dir` would not report.
pub fn repair_metadata(data_dir: &Path, path: &Path, backup_dir: &Path) -> Result<RepairOutcome> {
    repair_metadata_on(&FsStorage, data_dir, path, backup_dir, None)
}

/// Whether `path` (a file [`is_repairable_metadata`] names) is damaged as
/// `check` judges it.
fn metadata_damaged(storage: &dyn Storage, data_dir: &Path, path: &Path, name: &str) -> Result<bool> {
    let mut report = CheckReport::default();
    Ok(
        if name == FORMAT_FILE || name == REGISTRY_FILE || name == CLUSTER_ID_FILE {
            check_store_files(storage, data_dir, &mut report)?;
            report.problems.iter().any(|p| p.path == path)
        } else if name.ends_with(SNAPSHOT_SUFFIX) {
            check_snapshots(storage, path.parent().unwrap_or(Path::new(".")), &mut report)?;
            report.problems.iter().any(|p| p.path == path)
        } else if name == TOPIC_META {
            !storage.exists(path) || topic_meta_problem(storage, path)?.is_some()
        } else {
            storage.exists(path) && !start_offset_valid(storage, path)
        },
    )
}

/// [`repair_metadata`] through `storage`. The order: the backup copy is
/// fsync'd and its directory entry made durable (with the backup directory's
/// own entries), then the change is recorded in `journal` (a `copy` line, or
/// `create` for a `topic.meta` that was missing), before the file is
/// rewritten or removed, so a power cut at any point leaves the old file or
/// its durable backup, and `restore` can put it back byte for byte.
pub(super) fn repair_metadata_on(
    storage: &dyn Storage,
    data_dir: &Path,
    path: &Path,
    backup_dir: &Path,
    journal: Option<&super::manifest::Journal>,
) -> Result<RepairOutcome> {
    let _lock = lock(storage, data_dir)?;
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
    if !metadata_damaged(storage, data_dir, path, &name)? {
        return Err(Error::invalid(
            "metadata file",
            format!("{} is not damaged; nothing to repair", path.display()),
        ));
    }
    create_dir_durable(storage, backup_dir)?;
    let mut outcome = RepairOutcome::new(backup_dir);
    let backup = backup_dir.join(&name);
    let dir = path.parent().ok_or_else(not_repairable)?.to_path_buf();
    let exists = storage.exists(path);
    if exists {
        copy_synced(storage, path, &backup)?;
        sync_dir(storage, backup_dir)?;
        super::manifest::note(journal, |j| j.copied(path, &backup))?;
    } else {
        super::manifest::note(journal, |j| j.creating(path))?;
    }
    if name == FORMAT_FILE || name == TOPIC_META {
        if exists {
            outcome.copied.push(path.to_path_buf());
        }
        let bytes = if name == FORMAT_FILE {
            // Whether the store holds a null cannot be told from a damaged
            // marker: the rewritten one names the newest format.
            crate::layout::format_text(crate::layout::FORMAT_VERSION).into_bytes()
        } else {
            let old = if exists { read_small(storage, path)? } else { Vec::new() };
            TopicConfig::salvage(&old, partition_dirs(storage, &dir)?).encode()
        };
        crate::io::write_atomic(storage, path, &bytes).at("rewrite", path)?;
    } else {
        storage.remove_file(path).at("remove", path)?;
        outcome.moved.push(path.to_path_buf());
    }
    sync_dir(storage, &dir)?;
    Ok(outcome)
}

pub(super) fn start_offset_valid(storage: &dyn Storage, path: &Path) -> bool {
    read_small(storage, path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| t.trim().parse::<u64>().is_ok())
}

/// What is wrong with a topic's `topic.meta` (as `load_topic` in store.rs
/// judges it), or `None`.
pub(super) fn topic_meta_problem(storage: &dyn Storage, meta_path: &Path) -> Result<Option<String>> {
    Ok(topic_meta_verdict(storage, meta_path)?.0.err())
}

/// A topic's `topic.meta` as `load_topic` in store.rs judges it: the
/// partition count it names, or what is wrong with it; and the partition
/// directories the topic holds ([`partition_dirs`]).
pub(super) fn topic_meta_verdict(
    storage: &dyn Storage,
    meta_path: &Path,
) -> Result<(std::result::Result<u32, String>, u32)> {
    let dir = meta_path.parent().unwrap_or(Path::new("."));
    let on_disk = partition_dirs(storage, dir)?;
    let config = match read_small(storage, meta_path).and_then(|bytes| TopicConfig::decode(&bytes, meta_path)) {
        Ok(config) => config,
        Err(e) => return Ok((Err(format!("topic metadata unreadable: {e}")), on_disk)),
    };
    if on_disk > config.partitions {
        // Open refuses the topic rather than hide the partitions past the count.
        return Ok((
            Err(format!(
                "topic.meta says {} partitions but partition directory {:05} exists",
                config.partitions,
                on_disk - 1
            )),
            on_disk,
        ));
    }
    Ok((Ok(config.partitions), on_disk))
}
