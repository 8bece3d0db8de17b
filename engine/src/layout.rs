//! The data directory's layout, named once (design/format.md): the file and
//! directory names below, for the store, the log and `inspect` alike.
//!
//! May `Store::open` use this path? A store opens where its `MILLRACE`
//! marker (or its `topics/` directory) is, and is created only in an empty
//! directory or a missing one whose parent exists: pointing `--data` at the
//! wrong directory (a home directory, `/var/lib`, a typo's parent) must not
//! turn it into a store.

use crate::error::{CorruptionKind, DataDirProblem, Error, Result};
use crate::io::checked::IoContext;
use crate::io::{write_atomic, Storage};
use crate::sync::{AtomicBool, Mutex, Ordering};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store's marker file (its format version).
pub(crate) const FORMAT_FILE: &str = "MILLRACE";
/// The marker's text before its version number.
const FORMAT_PREFIX: &str = "millrace-store-format ";
/// The marker of a store that has never held a null (design/format.md,
/// "Version changes"): what a store is created with, and all that the
/// previous release opens.
pub(crate) const FORMAT_PLAIN: u32 = 1;
/// The marker of a store that may hold batches of version 2 (null values),
/// written durably before the first of them: a release that predates them
/// refuses the whole store (`FormatTooNew`) instead of judging such a batch
/// as damage it might cut.
pub(crate) const FORMAT_NULLS: u32 = 2;
/// The newest store format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = FORMAT_NULLS;
/// The directory of the topics, one directory each.
pub(crate) const TOPICS_DIR: &str = "topics";
/// A topic's configuration, in its directory.
pub(crate) const TOPIC_META: &str = "topic.meta";
/// A partition's log start offset, in its directory (absent: its first segment's base).
pub(crate) const START_OFFSET_FILE: &str = "start.offset";
/// A topic directory being created (renamed to its name once complete).
pub(crate) const CREATING_SUFFIX: &str = ".creating";
/// A topic directory being deleted.
pub(crate) const DELETING_SUFFIX: &str = ".deleting";
/// Topic directories a crash may leave unfinished.
pub(crate) const UNFINISHED_SUFFIXES: [&str; 2] = [CREATING_SUFFIX, DELETING_SUFFIX];

/// A partition's directory name inside its topic's: five digits.
pub(crate) fn partition_dir_name(partition: u32) -> String {
    format!("{partition:05}")
}

/// Entries a store's directory may hold before its marker is written: the
/// lock file (taken first) and the marker's temporary file (a crash during
/// the first open leaves them).
const CREATION_LEFTOVERS: [&str; 2] = ["LOCK", "MILLRACE.tmp"];

/// Entries that make a directory a store even without its marker (whose
/// damage or absence open handles on its own).
const STORE_ENTRIES: [&str; 2] = [FORMAT_FILE, TOPICS_DIR];

/// How many entry names a refusal quotes.
const EXAMPLES_MAX: usize = 5;

/// Before the lock (so that a refused directory is left untouched, without
/// a `LOCK` file): a directory with the `MILLRACE` marker is a store; else
/// the directory must be creatable ([`check_creatable`]), or missing with
/// an existing parent, and then it is created (one level only).
pub(crate) fn prepare(storage: &dyn Storage, path: &Path, marker: &Path) -> Result<()> {
    if storage.exists(marker) {
        return Ok(());
    }
    if storage.exists(path) {
        return check_creatable(storage, path);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Checked rather than `exists` (which answers false on any error):
        // only a parent that is truly absent is reported as missing.
        match storage.check_dir(parent) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotADataDir {
                    path: path.to_path_buf(),
                    problem: DataDirProblem::MissingParent {
                        parent: parent.to_path_buf(),
                    },
                })
            }
            Err(e) => return Err(e).at("list the data dir's parent", parent),
        }
    }
    storage.create_dir_all(path).at("create data dir", path)?;
    // The new directory's entry in its parent: durable before anything is
    // acknowledged in it.
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    storage.sync_dir(parent).at("fsync dir", parent)
}

/// A directory without the `MILLRACE` marker: may a store be created (or
/// its marker restored) here?
fn check_creatable(storage: &dyn Storage, path: &Path) -> Result<()> {
    let names = match storage.list_dir(path) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(Error::NotADataDir {
                path: path.to_path_buf(),
                problem: DataDirProblem::NotADirectory,
            })
        }
        Err(e) => return Err(e).at("list data dir", path),
    };
    if names.iter().any(|name| STORE_ENTRIES.contains(&name.as_str())) {
        return Ok(());
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|name| !CREATION_LEFTOVERS.contains(&name.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Error::NotADataDir {
        path: path.to_path_buf(),
        problem: DataDirProblem::NotEmpty {
            count: foreign.len(),
            examples: foreign.iter().take(EXAMPLES_MAX).map(|name| name.to_string()).collect(),
        },
    })
}

/// The exact bytes of the `MILLRACE` marker of format `version`.
pub(crate) fn format_text(version: u32) -> String {
    format!("{FORMAT_PREFIX}{version}\n")
}

/// The version named by a `MILLRACE` marker this build can open: a newer
/// format asks for an upgrade, anything else that is not a marker is a
/// damaged file (`millrace repair` rewrites it).
pub(crate) fn check_format(text: &[u8], path: &Path) -> Result<u32> {
    let version = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.strip_prefix(FORMAT_PREFIX))
        .and_then(|t| t.strip_suffix('\n'))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(v) if (FORMAT_PLAIN..=FORMAT_VERSION).contains(&v) && text == format_text(v).as_bytes() => Ok(v),
        Some(v) if v > FORMAT_VERSION => Err(Error::FormatTooNew {
            path: path.to_path_buf(),
            found: v.to_string(),
            supported: FORMAT_VERSION,
        }),
        _ => Err(Error::corruption(path, 0, CorruptionKind::BadMetadata)),
    }
}

/// An open store's `MILLRACE` marker: the version it names, raised to
/// [`FORMAT_NULLS`] once, durably, before the first batch that holds a null
/// is written (design/format.md, "Version changes").
#[derive(Debug)]
pub(crate) struct FormatMarker {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    /// The marker names [`FORMAT_NULLS`] on disk, durably.
    nulls: AtomicBool,
    /// Held while the marker is rewritten.
    raising: Mutex<()>,
}

impl FormatMarker {
    /// The marker at `path`, which names `version` (read or just written).
    pub(crate) fn new(storage: Arc<dyn Storage>, path: PathBuf, version: u32) -> Self {
        FormatMarker {
            storage,
            path,
            nulls: AtomicBool::new(version >= FORMAT_NULLS),
            raising: Mutex::new(()),
        }
    }

    /// Returns once the marker names [`FORMAT_NULLS`] durably (written,
    /// fdatasync'd, renamed over the old one, directory fsync'd): the caller
    /// may then write a batch of version 2. On failure nothing may be written
    /// that needs it (the caller poisons: the marker on disk is unknown).
    pub(crate) fn allow_nulls(&self) -> Result<()> {
        if self.nulls.load(Ordering::Acquire) {
            return Ok(());
        }
        let _raising = self.raising.lock();
        if self.nulls.load(Ordering::Acquire) {
            return Ok(());
        }
        write_atomic(self.storage.as_ref(), &self.path, format_text(FORMAT_NULLS).as_bytes())
            .at("write format", &self.path)?;
        self.nulls.store(true, Ordering::Release);
        Ok(())
    }
}
