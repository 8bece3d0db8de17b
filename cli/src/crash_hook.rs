//! A test hook for crash tests of `repair`, `repair restore` and the
//! offline commands that open a store for writing (`data::open_existing`
//! and `data::open_or_create`: `topic create`, `topic alter`, `topic
//! delete`, ...): with
//! `MILLRACE_TEST_KILL_AFTER_WRITES=N` in the environment, the storage they
//! write through sends the process SIGKILL (`kill -9`) just before its N-th
//! change to the disk (a file write, truncation, fsync, create, rename or
//! removal). Without the variable it is the plain file system.

use millrace::storage::{FsStorage, OpenMode, Storage, StorageFile};
use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The environment variable that arms the hook.
const KILL_AFTER_WRITES: &str = "MILLRACE_TEST_KILL_AFTER_WRITES";

/// The storage `repair` writes through: the file system, armed by the
/// environment for crash tests.
pub fn storage() -> Arc<dyn Storage> {
    match std::env::var(KILL_AFTER_WRITES)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(n) => Arc::new(KillAfter {
            left: Arc::new(AtomicU64::new(n)),
        }),
        None => Arc::new(FsStorage),
    }
}

/// Counts changes; kills the process at the last one.
#[derive(Debug)]
struct KillAfter {
    left: Arc<AtomicU64>,
}

fn tick(left: &AtomicU64) {
    if left.fetch_sub(1, Ordering::SeqCst) <= 1 {
        // A real kill -9 from outside: no destructor, no flush runs.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}

#[derive(Debug)]
struct KillAfterFile {
    inner: Arc<dyn StorageFile>,
    left: Arc<AtomicU64>,
}

impl StorageFile for KillAfterFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.inner.read_at(buf, position)
    }
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        tick(&self.left);
        self.inner.write_all_at(buf, position)
    }
    fn sync_data(&self) -> io::Result<()> {
        tick(&self.left);
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        tick(&self.left);
        self.inner.set_len(len)
    }
}

impl Storage for KillAfter {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        if mode != OpenMode::Existing {
            tick(&self.left);
        }
        let inner = FsStorage.open(path, mode)?;
        Ok(Arc::new(KillAfterFile {
            inner,
            left: Arc::clone(&self.left),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        tick(&self.left);
        FsStorage.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        tick(&self.left);
        FsStorage.rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        tick(&self.left);
        FsStorage.create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        tick(&self.left);
        FsStorage.remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        tick(&self.left);
        FsStorage.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        FsStorage.list_dir(path)
    }
    fn check_dir(&self, path: &Path) -> io::Result<()> {
        FsStorage.check_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        FsStorage.exists(path)
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        FsStorage.canonicalize(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        FsStorage.lock_dir(path)
    }
}
