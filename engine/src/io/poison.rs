//! The store's sticky failure: after a failed write or fsync every later
//! write is `Error::Poisoned` until the store is reopened
//! (design/durability.md). What failed, where and when is kept, so that an
//! operator sees it (`Store::poison_cause`, `MetricsSnapshot::poisoned`, the
//! server's stats and metrics) instead of only a stream of `Poisoned` errors.

use crate::error::Error;
use crate::sync::{AtomicBool, Ordering};
use parking_lot::Mutex;
use std::io;
use std::path::PathBuf;

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
        let at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        PoisonCause {
            op,
            path,
            kind,
            error,
            at_unix_ms,
        }
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
}

impl Poison {
    pub fn new() -> Self {
        Poison {
            poisoned: AtomicBool::new(false),
            cause: Mutex::new(None),
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
