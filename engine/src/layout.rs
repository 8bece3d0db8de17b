//! The data directory's layout, named once (design/format.md): the file and
//! directory names below, for the store, the log and `inspect` alike.
//!
//! May `Store::open` use this path? A store opens where its `MILLRACE`
//! marker (or its `topics/` directory) is, and is created only in an empty
//! directory or a missing one whose parent exists: pointing `--data` at the
//! wrong directory (a home directory, `/var/lib`, a typo's parent) must not
//! turn it into a store.

use crate::error::{DataDirProblem, Error, Result};
use crate::io::checked::IoContext;
use crate::io::Storage;
use std::io;
use std::path::Path;

/// The store's marker file (its format version).
pub(crate) const FORMAT_FILE: &str = "MILLRACE";
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
