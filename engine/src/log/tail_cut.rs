//! Bytes that recovery removes from the end of a partition's last segment (a
//! torn tail, design/durability.md "Recovery" rows 2, 3 and 5): before the
//! file is truncated they are copied into the data directory's backup tree,
//! next to `millrace repair`'s backups
//! (`<data>/repair-backup-<UTC time>/<topic>/<partition>/`), as
//! `<segment>.log.cut-<from>-<to>`, fsync'd, and the cut is logged at WARN
//! with the file, the byte range and the records the cut batches' headers
//! claim. Open never removes a byte of data without both.
//!
//! The backup goes through [`Storage`], so a read-only open
//! ([`crate::io::ReadOnlyStorage`]) keeps it in memory like the cut itself.

use crate::error::Result;
use crate::io::checked::IoContext;
use crate::io::{read_exact_at, OpenMode, Storage, StorageFile};
use crate::log::batch::{BatchHeader, HEADER_SIZE};
use std::path::{Path, PathBuf};

/// Copy chunk of the backup.
const COPY_CHUNK_BYTES: u64 = 1024 * 1024;
/// Names tried when a backup of the same range already exists.
const BACKUP_NAME_ATTEMPTS: u64 = 100;

/// What lies in a range about to be cut, as far as batch headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CutContents {
    /// Batch headers that parse, walking from the start of the range by their lengths.
    pub batches: u64,
    /// Records those headers claim (their CRC may fail: an upper bound of what was written).
    pub records: u64,
    /// First offset a parsed header claims, if any.
    pub first_offset: Option<u64>,
}

/// Walk the batch headers in `[from, to)` of `log` (without checking CRCs)
/// and count what they claim. Stops at the first header that does not parse
/// or runs past `to`; a read error stops it too (the count is for the log line).
pub(crate) fn contents(log: &dyn StorageFile, from: u64, to: u64) -> CutContents {
    let mut found = CutContents::default();
    let mut position = from;
    let mut header = [0u8; HEADER_SIZE];
    // Each step advances by at least HEADER_SIZE bytes: bounded by the range.
    while position + HEADER_SIZE as u64 <= to {
        if read_exact_at(log, &mut header, position).is_err() {
            break;
        }
        let Ok(parsed) = BatchHeader::parse(&header) else {
            break;
        };
        found.batches += 1;
        found.records += u64::from(parsed.record_count);
        found.first_offset.get_or_insert(parsed.base_offset);
        position += u64::from(parsed.length);
    }
    found
}

/// `<data>/repair-backup-<stamp>/<topic>/<partition>` for a partition
/// directory `<data>/topics/<topic>/<partition>` (the layout of store.rs and
/// `millrace repair`'s `backup_for`); a partition directory elsewhere gets
/// `repair-backup-<stamp>` next to it.
fn backup_dir(partition_dir: &Path, now_ms: i64) -> PathBuf {
    let stamp = format!("repair-backup-{}", utc_stamp(now_ms));
    let partition = partition_dir.file_name();
    let topic = partition_dir.parent().and_then(Path::file_name);
    let data = partition_dir.ancestors().nth(3);
    match (data, topic, partition) {
        (Some(data), Some(topic), Some(partition)) => data.join(stamp).join(topic).join(partition),
        _ => partition_dir.with_file_name(stamp),
    }
}

/// Copy `[from, to)` of `log` into a new backup file, fsync it and every
/// directory it created, and return its path. Refuses to overwrite an
/// earlier backup (a second cut of the same range gets a numbered name).
pub(crate) fn back_up(
    storage: &dyn Storage,
    partition_dir: &Path,
    log: &dyn StorageFile,
    log_path: &Path,
    from: u64,
    to: u64,
    now_ms: i64,
) -> Result<PathBuf> {
    let dir = backup_dir(partition_dir, now_ms);
    let new_dirs: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !storage.exists(d))
        .map(Path::to_path_buf)
        .collect();
    storage.create_dir_all(&dir).at("create backup dir", &dir)?;
    let segment_name = log_path
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let name = format!("{segment_name}.cut-{from}-{to}");
    // Numbered after the backups of the same range already there.
    let existing = storage
        .list_dir(&dir)
        .at("list backup dir", &dir)?
        .iter()
        .filter(|n| n.starts_with(&name))
        .count() as u64;
    let mut attempt = existing;
    let (path, file) = loop {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!(".{attempt}")
        };
        let path = dir.join(format!("{name}{suffix}"));
        match storage.open(&path, OpenMode::CreateNew) {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < existing + BACKUP_NAME_ATTEMPTS => {
                attempt += 1
            }
            Err(e) => return Err(e).at("create tail backup", &path),
        }
    };
    let mut chunk = vec![0u8; (to - from).min(COPY_CHUNK_BYTES) as usize];
    let mut position = from;
    while position < to {
        let n = (to - position).min(COPY_CHUNK_BYTES) as usize;
        let part = chunk.get_mut(..n).unwrap_or_default();
        read_exact_at(log, part, position).at("read tail to back up", log_path)?;
        file.write_all_at(part, position - from)
            .at("write tail backup", &path)?;
        position += n as u64;
    }
    file.sync_data().at("fsync tail backup", &path)?;
    storage.sync_dir(&dir).at("fsync dir", &dir)?;
    // Directories created here are durable only once their parents are synced.
    for created in &new_dirs {
        if let Some(parent) = created.parent() {
            storage.sync_dir(parent).at("fsync dir", parent)?;
        }
    }
    Ok(path)
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for milliseconds since the Unix epoch, as
/// `millrace repair` names its backup directories.
fn utc_stamp(now_ms: i64) -> String {
    let seconds = now_ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_is_utc_civil_time() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // 2026-12-06 06:24:07 UTC
        assert_eq!(utc_stamp(1_796_538_247_000), "20261206T062407Z");
        assert_eq!(utc_stamp(951_782_400_000), "20000229T000000Z");
    }

    #[test]
    fn backup_sits_beside_repair_backups() {
        let dir = backup_dir(Path::new("/d/topics/t/00003"), 0);
        assert_eq!(dir, Path::new("/d/repair-backup-19700101T000000Z/t/00003"));
    }
}
