//! Checked I/O: the one place where an `io::Error` becomes
//! `Error::Io { op, path }` ([`IoContext::at`]), and [`CheckedFile`], the
//! files a live partition writes, whose every failed write, fdatasync or
//! truncation is reported to the file's [`FailureSink`] by construction: the
//! partition's sink poisons the store (the first cause is kept: `poison.rs`)
//! and fails the partition's sync gate, so no call site can forget it
//! (design/durability.md, "Poisoning").
//!
//! A file is *armed* with its sink once it belongs to a live partition
//! (`Partition::open` arms the segments it recovered, a roll the new one):
//! before that (recovery at open, `check`, `dump`, `repair`) a failure is
//! only mapped and returned, as a failed open poisons nothing. The one
//! write that judges its own failure, the zeros an `Always` partition
//! writes ahead of its data (a full device refuses the batch without
//! poisoning), goes through [`CheckedFile::raw`], as do reads.

use crate::error::{Error, Result};
use crate::io::StorageFile;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// `io::Error → Error::Io { op, path }` (or `SymlinkRefused`): the mapping,
/// written once.
pub(crate) trait IoContext<T> {
    /// The error of `op` on `path`, typed.
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl Error {
    /// The typed error of `op` on `path`. Call sites do not call this: they
    /// map through `io::checked` (`IoContext::at`, or a `CheckedFile`, whose
    /// failures also reach its poison sink), the one place that does.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        if let Some(link) = super::symlink_in(&source) {
            return Error::SymlinkRefused {
                op,
                path: link.to_path_buf(),
            };
        }
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::io(op, path, source))
    }
}

/// What a failed write, fdatasync or truncation of an armed [`CheckedFile`] does.
pub(crate) trait FailureSink: Debug + Send + Sync {
    /// `error` (already typed, with the operation and the path) just happened.
    fn failed(&self, error: &Error);
}

/// A file whose writes, fdatasyncs and truncations are reported to a
/// [`FailureSink`] when they fail (once armed), and whose every error is
/// typed with its operation and path.
#[derive(Debug)]
pub(crate) struct CheckedFile {
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    sink: OnceLock<Arc<dyn FailureSink>>,
}

impl CheckedFile {
    pub(crate) fn new(file: Arc<dyn StorageFile>, path: PathBuf) -> Self {
        CheckedFile {
            file,
            path,
            sink: OnceLock::new(),
        }
    }

    /// From now on every failed write, fdatasync or truncation reports to
    /// `sink` (the first sink stays: a file belongs to one partition).
    pub(crate) fn arm(&self, sink: &Arc<dyn FailureSink>) {
        let _ = self.sink.set(sink.clone());
    }

    /// The file itself, for reads and for the writes that judge their own
    /// failure (see the module documentation).
    pub(crate) fn raw(&self) -> &dyn StorageFile {
        self.file.as_ref()
    }

    /// Write all of `buf` at `position`.
    pub(crate) fn write_all_at(&self, op: &'static str, buf: &[u8], position: u64) -> Result<()> {
        self.file.write_all_at(buf, position).map_err(|e| self.failed(op, e))
    }

    /// fdatasync.
    pub(crate) fn sync_data(&self, op: &'static str) -> Result<()> {
        self.file.sync_data().map_err(|e| self.failed(op, e))
    }

    /// Truncate or extend to `len`.
    pub(crate) fn set_len(&self, op: &'static str, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| self.failed(op, e))
    }

    fn failed(&self, op: &'static str, source: io::Error) -> Error {
        let error = Error::io(op, &self.path, source);
        if let Some(sink) = self.sink.get() {
            sink.failed(&error);
        }
        error
    }
}
