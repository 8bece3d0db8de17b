//! The store's sticky failure: after a failed write or fsync every later
//! write is `Error::Poisoned` until the store is reopened
//! (design/durability.md). What failed, where and when is kept, so that an
//! operator sees it (`Store::poison_cause`, `MetricsSnapshot::poisoned`, the
//! server's stats and metrics) instead of only a stream of `Poisoned` errors.

use crate::error::Error;
use crate::io::{read_all, write_atomic, Storage};
use crate::sync::{AtomicBool, Ordering};
use parking_lot::Mutex;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `<data>/poisoned`: the cause of the last poisoning, written (best effort:
/// the disk may be full) when the store is poisoned, so that a later run
/// shows it (`Store::earlier_poison`); the next writable open moves it to
/// `POISON_ARCHIVE_FILE`. Text, one `key=value` line per `PoisonCause` field.
pub const POISON_FILE: &str = "poisoned";
/// Where the next writable open moves `POISON_FILE` (the last one only).
pub const POISON_ARCHIVE_FILE: &str = "poisoned.previous";
/// Bound on the bytes of `POISON_FILE` read.
const POISON_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Why and when the store was poisoned: the first failure (later ones are
/// consequences).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonCause {
    /// The operation that failed (`"fsync segment"`, `"append"`, ...).
    pub op: String,
    /// The file it failed on (empty when the error named none).
    pub path: PathBuf,
    /// The I/O error's kind (`StorageFull` for ENOSPC; `Other` when the
    /// failure was not an I/O error).
    pub kind: io::ErrorKind,
    /// The error as the operating system (or the engine) described it.
    pub error: String,
    /// Wall-clock time of the failure, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

impl PoisonCause {
    fn new(cause: &Error) -> Self {
        let (op, path, kind, error) = match cause {
            Error::Io { op, path, source } => (op.to_string(), path.clone(), source.kind(), source.to_string()),
            other => (
                "write".to_string(),
                PathBuf::new(),
                io::ErrorKind::Other,
                other.to_string(),
            ),
        };
        let at_unix_ms = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
        PoisonCause {
            op,
            path,
            kind,
            error,
            at_unix_ms,
        }
    }

    /// The text of `POISON_FILE` (newlines in values replaced by spaces).
    fn encode(&self) -> String {
        let line = |v: &str| v.replace(['\n', '\r'], " ");
        format!(
            "op={}\npath={}\nkind={:?}\nerror={}\nat_unix_ms={}\n",
            line(&self.op),
            line(&self.path.display().to_string()),
            self.kind,
            line(&self.error),
            self.at_unix_ms
        )
    }

    /// Parse `POISON_FILE`; `None` when a field is missing or malformed.
    fn decode(text: &str) -> Option<PoisonCause> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_string)
        };
        let kind = match field("kind")?.as_str() {
            "StorageFull" => io::ErrorKind::StorageFull,
            "QuotaExceeded" => io::ErrorKind::QuotaExceeded,
            "PermissionDenied" => io::ErrorKind::PermissionDenied,
            "ReadOnlyFilesystem" => io::ErrorKind::ReadOnlyFilesystem,
            _ => io::ErrorKind::Other,
        };
        Some(PoisonCause {
            op: field("op")?,
            path: PathBuf::from(field("path")?),
            kind,
            error: field("error")?,
            at_unix_ms: field("at_unix_ms")?.parse().ok()?,
        })
    }

    /// The device (or a disk quota) was full.
    pub fn is_no_space(&self) -> bool {
        matches!(self.kind, io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
    }

    /// What the operator should do.
    pub fn advice(&self) -> &'static str {
        if self.is_no_space() {
            "free space on the device that holds the data directory (retention, delete a topic, or outside millrace), then reopen the store (restart the server): recovery keeps every acknowledged record and appends resume"
        } else {
            "check the device (kernel log, SMART), then reopen the store (restart the server) and run `millrace check`: recovery keeps every acknowledged record"
        }
    }
}

/// Poisoned or not, and the first cause.
#[derive(Debug)]
pub(crate) struct Poison {
    poisoned: AtomicBool,
    cause: Mutex<Option<PoisonCause>>,
    /// Where the first cause is recorded (`None`: nowhere, read-only store).
    record: Option<(Arc<dyn Storage>, PathBuf)>,
    /// What `POISON_FILE` held at the open: an earlier run was poisoned.
    earlier: Option<PoisonCause>,
}

impl Poison {
    /// Not poisoned. The first cause will be recorded in `dir`'s
    /// `POISON_FILE` (unless the storage is read-only); one left by an
    /// earlier run is read now.
    pub fn new(storage: &Arc<dyn Storage>, dir: &Path) -> Self {
        let path = dir.join(POISON_FILE);
        let earlier = if storage.exists(&path) {
            let cause = read_all(storage.as_ref(), &path, POISON_FILE_BYTES_MAX)
                .ok()
                .and_then(|bytes| PoisonCause::decode(&String::from_utf8_lossy(&bytes)));
            match &cause {
                Some(c) => tracing::warn!(
                    op = %c.op,
                    path = %c.path.display(),
                    error = %c.error,
                    at_unix_ms = c.at_unix_ms,
                    "the store was poisoned in an earlier run"
                ),
                None => tracing::warn!(file = %path.display(), "unreadable record of an earlier poisoning; ignored"),
            }
            cause
        } else {
            None
        };
        Poison {
            poisoned: AtomicBool::new(false),
            cause: Mutex::new(None),
            record: (!storage.is_read_only()).then(|| (storage.clone(), path)),
            earlier,
        }
    }

    /// The cause an earlier run recorded, if it was poisoned (until a
    /// writable open archives it).
    pub fn earlier(&self) -> Option<PoisonCause> {
        self.earlier.clone()
    }

    /// After a writable open succeeded: move the record of an earlier
    /// poisoning aside (`POISON_ARCHIVE_FILE`), so that it is shown once.
    pub fn archive_earlier(&self) {
        let Some((storage, path)) = &self.record else {
            return;
        };
        if self.earlier.is_none() && !storage.exists(path) {
            return;
        }
        let archive = path.with_file_name(POISON_ARCHIVE_FILE);
        if let Err(e) = storage.rename(path, &archive) {
            tracing::warn!(file = %path.display(), error = %e, "could not archive the record of an earlier poisoning");
        }
    }

    /// Poison the store; the first cause is kept and logged.
    pub fn set(&self, cause: &Error) {
        let mut first = self.cause.lock();
        if first.is_none() {
            let recorded = PoisonCause::new(cause);
            tracing::error!(
                op = %recorded.op,
                path = %recorded.path.display(),
                kind = ?recorded.kind,
                error = %recorded.error,
                advice = recorded.advice(),
                "store poisoned: every write now fails until the store is reopened"
            );
            if let Some((storage, path)) = &self.record {
                // Best effort: on a full device even this small file may not fit.
                if let Err(e) = write_atomic(storage.as_ref(), path, recorded.encode().as_bytes()) {
                    tracing::warn!(file = %path.display(), error = %e, "could not record the poisoning's cause");
                }
            }
            *first = Some(recorded);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    pub fn is_set(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub fn cause(&self) -> Option<PoisonCause> {
        if !self.is_set() {
            return None;
        }
        self.cause.lock().clone()
    }
}
