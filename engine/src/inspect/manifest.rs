//! The repair manifest (`<backup>/repair.manifest`), the repair audit log
//! (`<data>/repair.audit`), `accept_gap` and `restore`.
//!
//! A repair writes, into its backup directory, a line for each change it is
//! about to make to the store (write-ahead: the line is fsync'd before the
//! change), and a `done` line when the run is over. `restore` reads it and
//! undoes every change, so the store is as it was before the repair
//! (design/durability.md, "Undoing a repair"; the line format is in
//! design/format.md, "Repair manifest").

use super::*;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "repair.manifest";
/// The audit log of repairs and restores, in the data directory.
pub const AUDIT_FILE: &str = "repair.audit";
/// The manifest's format version.
const MANIFEST_VERSION: u32 = 1;
/// Bound on a manifest read whole.
const MANIFEST_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// One line of the manifest. Paths of the store are relative to the data
/// directory, paths of the backup relative to the backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ManifestEntry {
    /// The first line.
    Begin {
        /// Format version.
        version: u32,
        /// When the repair started (Unix ms).
        time_ms: i64,
    },
    /// `original` was copied to `backup` (fsync'd) before it changes.
    Copy {
        /// The store's file.
        original: String,
        /// Its copy.
        backup: String,
    },
    /// `original` is about to be moved to `backup`.
    Move {
        /// The store's file.
        original: String,
        /// Where it goes.
        backup: String,
    },
    /// `path` is about to be created (a hole marker, an empty segment, an index).
    Create {
        /// The new file.
        path: String,
    },
    /// `path` is about to be truncated to `len` bytes (its copy is in the backup).
    Cut {
        /// The segment.
        path: String,
        /// Its length after the repair.
        len: u64,
    },
    /// A gap accepted: offsets `[from, to)` of the partition are a hole.
    Gap {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// First offset lost.
        from: u64,
        /// The offset reads go on from.
        to: u64,
    },
    /// A change `restore` cannot undo (a rebuilt metadata file, a forgotten transaction).
    Unrestorable {
        /// The repair action.
        action: String,
        /// Its file.
        path: String,
    },
    /// The repair run is over.
    Done {
        /// When (Unix ms).
        time_ms: i64,
    },
    /// A restore put everything back.
    Restored {
        /// When (Unix ms).
        time_ms: i64,
    },
}

/// The write-ahead manifest of one repair run.
#[derive(Debug)]
pub struct Journal {
    data_dir: PathBuf,
    backup_root: PathBuf,
    file: Arc<dyn StorageFile>,
    len: Mutex<u64>,
    path: PathBuf,
}

fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).to_string_lossy().into_owned()
}

/// One manifest line: CRC-32 (hex) of the JSON, a space, the JSON.
fn encode_line(entry: &ManifestEntry) -> Result<Vec<u8>> {
    let json = serde_json::to_string(entry).map_err(|e| Error::invalid("manifest", e.to_string()))?;
    Ok(format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes())).into_bytes())
}

impl Journal {
    /// Open (or start) the manifest of `backup_root` for a repair of `data_dir`,
    /// creating the directory durably. An existing manifest is continued (a
    /// rerun after an interrupted repair), unless it is finished.
    pub fn open(storage: &dyn Storage, data_dir: &Path, backup_root: &Path) -> Result<Journal> {
        create_dir_durable(storage, backup_root)?;
        let path = backup_root.join(MANIFEST_FILE);
        // A manifest without one whole line is one a crash cut before its
        // first line was durable: started again.
        let existed = storage.exists(&path) && has_a_line(storage, &path)?;
        if existed {
            let entries = read_manifest(storage, backup_root)?;
            if entries
                .iter()
                .any(|e| matches!(e, ManifestEntry::Done { .. } | ManifestEntry::Restored { .. }))
            {
                return Err(Error::invalid(
                    "backup dir",
                    format!(
                        "{} holds a finished repair's backup; choose another --backup-dir",
                        backup_root.display()
                    ),
                ));
            }
        }
        let mode = if existed {
            OpenMode::Existing
        } else {
            OpenMode::Truncate
        };
        let file = storage.open(&path, mode).at("open manifest", &path)?;
        let mut len = file.len().at("stat manifest", &path)?;
        if existed {
            // Drop a torn last line (a crash during its append).
            let bytes = read_prefix(file.as_ref(), &path, MANIFEST_BYTES_MAX)?;
            let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i as u64 + 1);
            if whole < len {
                file.set_len(whole)
                    .and_then(|()| file.sync_data())
                    .at("cut manifest", &path)?;
                len = whole;
            }
        }
        let journal = Journal {
            data_dir: data_dir.to_path_buf(),
            backup_root: backup_root.to_path_buf(),
            file,
            len: Mutex::new(len),
            path,
        };
        if !existed {
            sync_dir(storage, backup_root)?;
            journal.record(&ManifestEntry::Begin {
                version: MANIFEST_VERSION,
                time_ms: crate::clock::now_ms(),
            })?;
        }
        Ok(journal)
    }

    /// The existing manifest of `backup_root`, to append to (a torn last
    /// line, which a crash during its append leaves, is cut first).
    pub(super) fn reopen(storage: &dyn Storage, data_dir: &Path, backup_root: &Path) -> Result<Journal> {
        let path = backup_root.join(MANIFEST_FILE);
        let file = storage.open(&path, OpenMode::Existing).at("open manifest", &path)?;
        let bytes = read_prefix(file.as_ref(), &path, MANIFEST_BYTES_MAX)?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i as u64 + 1);
        if whole < bytes.len() as u64 {
            file.set_len(whole)
                .and_then(|()| file.sync_data())
                .at("cut manifest", &path)?;
        }
        Ok(Journal {
            data_dir: data_dir.to_path_buf(),
            backup_root: backup_root.to_path_buf(),
            file,
            len: Mutex::new(whole),
            path,
        })
    }

    /// The backup directory.
    pub fn backup_root(&self) -> &Path {
        &self.backup_root
    }

    /// Append `entry` and fsync it.
    pub fn record(&self, entry: &ManifestEntry) -> Result<()> {
        let line = encode_line(entry)?;
        let mut len = self.len.lock();
        self.file
            .write_all_at(&line, *len)
            .and_then(|()| self.file.sync_data())
            .at("append to manifest", &self.path)?;
        *len += line.len() as u64;
        Ok(())
    }

    /// `path` of the store as the manifest names it.
    pub(super) fn store_path(&self, path: &Path) -> String {
        relative(&self.data_dir, path)
    }

    /// `path` of the backup as the manifest names it.
    pub(super) fn backup_path(&self, path: &Path) -> String {
        relative(&self.backup_root, path)
    }

    /// Record that `original` is copied into the backup at `backup`.
    pub(super) fn copied(&self, original: &Path, backup: &Path) -> Result<()> {
        self.record(&ManifestEntry::Copy {
            original: self.store_path(original),
            backup: self.backup_path(backup),
        })
    }

    /// Record that `original` is about to move to `backup`.
    pub(super) fn moving(&self, original: &Path, backup: &Path) -> Result<()> {
        self.record(&ManifestEntry::Move {
            original: self.store_path(original),
            backup: self.backup_path(backup),
        })
    }

    /// Record that `path` is about to be created.
    pub(super) fn creating(&self, path: &Path) -> Result<()> {
        self.record(&ManifestEntry::Create {
            path: self.store_path(path),
        })
    }
}

/// Record through an optional journal.
pub(super) fn note(journal: Option<&Journal>, f: impl FnOnce(&Journal) -> Result<()>) -> Result<()> {
    journal.map_or(Ok(()), f)
}

/// The unfinished manifest a crashed repair left under `data_dir`
/// (`repair-backup-*`), if any: a rerun continues it.
pub fn unfinished_backup(data_dir: &Path) -> Result<Option<PathBuf>> {
    let storage = ReadOnlyStorage::default();
    let mut found = None;
    for name in list_names(&storage, data_dir)? {
        if !name.starts_with("repair-backup-") {
            continue;
        }
        let root = data_dir.join(&name);
        if !storage.exists(&root.join(MANIFEST_FILE)) {
            continue;
        }
        if !has_a_line(&storage, &root.join(MANIFEST_FILE))? {
            found = Some(root);
            continue;
        }
        let Ok(entries) = read_manifest(&storage, &root) else {
            continue;
        };
        if !entries
            .iter()
            .any(|e| matches!(e, ManifestEntry::Done { .. } | ManifestEntry::Restored { .. }))
        {
            found = Some(root);
        }
    }
    Ok(found)
}

/// Whether the file at `path` holds at least one whole line.
fn has_a_line(storage: &dyn Storage, path: &Path) -> Result<bool> {
    let file = storage.open(path, OpenMode::Existing).at("open manifest", path)?;
    let bytes = read_prefix(file.as_ref(), path, 64 * 1024)?;
    Ok(bytes.contains(&b'\n'))
}

/// The entries of `<backup_root>/repair.manifest`. A missing file, a line
/// that fails its CRC or does not parse (but a torn last line, which a crash
/// during its append leaves), or a first line that is not `begin` of a known
/// version is refused.
pub fn read_manifest(storage: &dyn Storage, backup_root: &Path) -> Result<Vec<ManifestEntry>> {
    let path = backup_root.join(MANIFEST_FILE);
    if !is_file(storage, &path)? {
        return Err(Error::invalid(
            "backup dir",
            format!(
                "{} has no {MANIFEST_FILE}: not the backup of a repair that can be restored (only a repair by this version writes one)",
                backup_root.display()
            ),
        ));
    }
    let bytes = crate::io::read_all(storage, &path, MANIFEST_BYTES_MAX).at("read manifest", &path)?;
    let damaged = |line: usize, why: &str| {
        Error::invalid(
            "manifest",
            format!(
                "{} is damaged at line {line} ({why}); nothing was restored",
                path.display()
            ),
        )
    };
    let mut entries = Vec::new();
    let ends_whole = bytes.last() == Some(&b'\n');
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let torn_last = i + 1 == count && !ends_whole;
        let parsed = std::str::from_utf8(line)
            .ok()
            .and_then(|l| l.split_once(' '))
            .filter(|(crc, json)| u32::from_str_radix(crc, 16).ok() == Some(crc32fast::hash(json.as_bytes())))
            .and_then(|(_, json)| serde_json::from_str::<ManifestEntry>(json).ok());
        match parsed {
            Some(entry) => entries.push(entry),
            None if torn_last => break,
            None => return Err(damaged(i + 1, "checksum or syntax")),
        }
    }
    match entries.first() {
        Some(ManifestEntry::Begin { version, .. }) if *version == MANIFEST_VERSION => Ok(entries),
        Some(ManifestEntry::Begin { version, .. }) => Err(damaged(1, &format!("unknown version {version}"))),
        _ => Err(damaged(1, "no begin line")),
    }
}

/// Append one JSON line to `<data>/repair.audit` and fsync it (the directory
/// too when the file is new).
pub(super) fn audit(storage: &dyn Storage, data_dir: &Path, mut line: serde_json::Value) -> Result<()> {
    let path = data_dir.join(AUDIT_FILE);
    let existed = storage.exists(&path);
    if let Some(object) = line.as_object_mut() {
        object.insert("time_ms".into(), crate::clock::now_ms().into());
    }
    let text = format!("{line}\n");
    let mode = if existed {
        OpenMode::Existing
    } else {
        OpenMode::CreateNew
    };
    let file = storage.open(&path, mode).at("open audit log", &path)?;
    let len = file.len().at("stat audit log", &path)?;
    file.write_all_at(text.as_bytes(), len)
        .and_then(|()| file.sync_data())
        .at("append to audit log", &path)?;
    if !existed {
        sync_dir(storage, data_dir)?;
    }
    Ok(())
}

/// The lines of `<data>/repair.audit` that parse (oldest first).
pub fn read_audit(data_dir: &Path) -> Result<Vec<serde_json::Value>> {
    let storage = ReadOnlyStorage::default();
    let path = data_dir.join(AUDIT_FILE);
    if !storage.exists(&path) {
        return Ok(Vec::new());
    }
    let bytes = crate::io::read_all(&storage, &path, MANIFEST_BYTES_MAX).at("read audit log", &path)?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
}

/// The gap before `segment`: `(from, to)` when the previous segment of its
/// partition ends at `from` < `to`, the segment's base, and no hole marker
/// records it (a missing middle segment). Reads only.
pub fn gap_before(data_dir: &Path, segment: &Path) -> Result<Option<(u64, u64)>> {
    gap_before_on(&ReadOnlyStorage::default(), data_dir, segment)
}

fn gap_before_on(storage: &dyn Storage, data_dir: &Path, segment: &Path) -> Result<Option<(u64, u64)>> {
    let (dir, base, bases) = super::repair::locate_segment(storage, data_dir, segment)?;
    let Ok(expected) = super::repair::expected_base(storage, &dir, base, &bases) else {
        return Ok(None);
    };
    let marker = dir.join(crate::log::segment::hole_name(base));
    Ok(expected
        .filter(|e| *e < base && !storage.exists(&marker))
        .map(|e| (e, base)))
}

/// Accept the gap before `segment` (a missing middle segment): write
/// `<base>.hole` holding the previous segment's end, so reads go on at
/// `base`, the offsets in between are never handed out again, and every
/// later segment is kept. An index left of the missing segment is moved into
/// `backup_dir`. Audited in `<data>/repair.audit` with `reason`.
pub(super) fn accept_gap_on(
    storage: &dyn Storage,
    data_dir: &Path,
    segment: &Path,
    backup_dir: &Path,
    journal: Option<&Journal>,
    reason: &str,
) -> Result<RepairOutcome> {
    require_store(storage, data_dir)?;
    let _lock = lock(storage, data_dir)?;
    let Some((from, to)) = gap_before_on(storage, data_dir, segment)? else {
        return Err(Error::invalid(
            "accept-gap",
            format!(
                "{}: no missing segment before it (the previous segment ends where it starts, or the gap is recorded already)",
                segment.display()
            ),
        ));
    };
    let (dir, _, _) = super::repair::locate_segment(storage, data_dir, segment)?;
    let (topic, partition) = super::plan::names_of(&dir);
    create_dir_durable(storage, backup_dir)?;
    let mut outcome = RepairOutcome::new(backup_dir);
    note(journal, |j| {
        j.record(&ManifestEntry::Gap {
            topic: topic.clone(),
            partition,
            from,
            to,
        })
    })?;
    // An index of the missing segment has no log to describe.
    let orphan = dir.join(index_name(from));
    if storage.exists(&orphan) && !storage.exists(&dir.join(log_name(from))) {
        let to_path = backup_dir.join(index_name(from));
        note(journal, |j| j.moving(&orphan, &to_path))?;
        super::repair::move_file(storage, &orphan, &to_path)?;
        sync_dir(storage, backup_dir)?;
        outcome.moved.push(orphan);
    }
    let marker = dir.join(crate::log::segment::hole_name(to));
    note(journal, |j| j.creating(&marker))?;
    crate::io::write_atomic(storage, &marker, format!("{from}\n").as_bytes()).at("write hole marker", &marker)?;
    sync_dir(storage, &dir)?;
    audit(
        storage,
        data_dir,
        serde_json::json!({
            "action": "accept-gap",
            "topic": topic,
            "partition": partition,
            "from": from,
            "to": to,
            "reason": (!reason.is_empty()).then_some(reason),
            "backup_dir": backup_dir.display().to_string(),
        }),
    )?;
    outcome.accepted_gap = Some((from, to));
    Ok(outcome)
}
