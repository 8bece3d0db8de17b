//! What every partition of a store shares, as the log needs it: the poison
//! flag, the closed flag, the quota, the notifier of new records, the
//! metrics, the group-commit option and the producer seam (`super::dedup`).
//! Built by the facade at open and handed to every partition: the log
//! reaches nothing above it through this.

use crate::error::{Error, Result};
use crate::log::dedup::ProducerDedup;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::sync::{AtomicU64, Ordering};
use std::sync::Arc;

/// State shared by every partition of a store.
#[derive(Debug)]
pub(crate) struct LogContext {
    pub(crate) poison: crate::io::poison::Poison,
    /// Set by [`Store::close`](crate::Store::close) (under the commit and
    /// admin locks, before it takes each partition's writer lock): from then
    /// on every handle answers `Error::Closed` and nothing writes to the
    /// directory, whose lock is released.
    pub(crate) closed: crate::sync::AtomicBool,
    pub used_bytes: AtomicU64,
    pub(crate) quota_bytes: Option<u64>,
    pub notifier: Notifier,
    pub metrics: Metrics,
    /// `StoreOptions::group_commit_spin`.
    pub group_commit_spin: std::time::Duration,
    /// The idempotent-producer feature, as the log calls it.
    pub(crate) dedup: Arc<dyn ProducerDedup>,
    /// The store's `MILLRACE` marker, raised before the first null is written.
    pub(crate) marker: crate::layout::FormatMarker,
}

impl LogContext {
    /// Poison the store because of `cause` (the first one is kept: see poison.rs).
    pub fn poison(&self, cause: &Error) {
        self.poison.set(cause);
    }
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_set()
    }
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    /// `Closed` after `Store::close`, `Poisoned` after a failed write, else Ok.
    pub fn check_writable(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        Ok(())
    }
    /// Before a batch that holds a null (batch version 2) is written: the
    /// store's marker names the format that may hold one, durably
    /// (design/format.md, "Version changes"). A failure refuses the batch
    /// and poisons the store (the marker on disk is then unknown).
    pub(crate) fn allow_nulls(&self) -> Result<()> {
        self.marker.allow_nulls().inspect_err(|e| self.poison(e))
    }
    /// Reserve quota for `bytes` about to be written.
    pub fn reserve(&self, bytes: u64) -> Result<()> {
        let used = self.used_bytes.fetch_add(bytes, Ordering::AcqRel);
        if let Some(quota) = self.quota_bytes {
            if used + bytes > quota {
                self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.metrics.quota_rejections.fetch_add(1, Ordering::Relaxed);
                return Err(Error::QuotaExceeded {
                    quota_bytes: quota,
                    used_bytes: used,
                    requested_bytes: bytes,
                    topic: None,
                });
            }
        }
        Ok(())
    }
    /// Count `bytes` about to be written without checking the quota
    /// (`names::quota_exempt` topics).
    pub fn charge(&self, bytes: u64) {
        self.used_bytes.fetch_add(bytes, Ordering::AcqRel);
    }
    pub fn release(&self, bytes: u64) {
        self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}
