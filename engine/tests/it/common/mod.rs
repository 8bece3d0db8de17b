//! Helpers shared by the in-process engine tests (recovery, faults, model):
//! scratch directories, segment file paths, reading a partition back whole,
//! and a fault-injecting [`Storage`] wrapper around [`FsStorage`].

use millrace::batch::{BatchHeader, HEADER_SIZE};
use millrace::storage::{mmap::ReadOnlyMap, FsStorage, OpenMode, Storage, StorageFile};
use millrace::{ReadOptions, Store, StoredRecord};
use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A scratch directory on tmpfs when available (these tests reopen stores
/// hundreds of times; tmpfs makes fsync free without changing semantics for
/// an in-process test), else the default temp directory.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if std::env::var_os("MILLRACE_TEST_ON_DISK").is_none() && shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("create temp dir")
}

pub fn partition_dir(data: &Path, topic: &str, partition: u32) -> PathBuf {
    data.join("topics").join(topic).join(format!("{partition:05}"))
}

pub fn log_path(data: &Path, topic: &str, partition: u32, base_offset: u64) -> PathBuf {
    partition_dir(data, topic, partition).join(format!("{base_offset:020}.log"))
}

pub fn index_path(data: &Path, topic: &str, partition: u32, base_offset: u64) -> PathBuf {
    partition_dir(data, topic, partition).join(format!("{base_offset:020}.index"))
}

/// Remove a partition's producer snapshots (`<offset>.producers`), as a
/// crash before the close leaves them: the snapshot written at the close
/// (after an fdatasync to its offset) is durable evidence that every record
/// below it was acknowledged, and recovery reports a log ending before it as
/// loss, not as a torn tail (design/durability.md, "Recovery", row 4b).
/// Tests that model a torn write by damaging a cleanly closed store remove it.
pub fn remove_producer_snapshots(data: &Path, topic: &str, partition: u32) {
    let dir = partition_dir(data, topic, partition);
    for entry in std::fs::read_dir(&dir).expect("list partition") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "producers") {
            std::fs::remove_file(&path).expect("remove producer snapshot");
        }
    }
}

/// Every `repair-backup-*` file under the data directory with its bytes.
pub fn backup_files(data: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = std::fs::read_dir(data)
        .expect("list data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("repair-backup-"))
        })
        .collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("list backup")
                    .filter_map(|e| e.ok().map(|e| e.path())),
            );
        } else {
            let bytes = std::fs::read(&path).expect("read backup");
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

/// Base offsets of a partition's segments, ascending.
pub fn segment_bases(data: &Path, topic: &str, partition: u32) -> Vec<u64> {
    let mut bases: Vec<u64> = std::fs::read_dir(partition_dir(data, topic, partition))
        .expect("list partition")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// (position, header) of every batch in a well-formed segment file.
pub fn batch_layout(bytes: &[u8]) -> Vec<(usize, BatchHeader)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER_SIZE <= bytes.len() {
        let header = BatchHeader::parse(&bytes[pos..]).expect("well-formed segment");
        out.push((pos, header));
        pos += header.length as usize;
    }
    assert_eq!(pos, bytes.len(), "segment ends on a batch boundary");
    out
}

/// Every readable record of a partition, from its start offset to the high
/// watermark, asserting dense offsets on the way.
pub fn read_partition(store: &Store, topic: &str, partition: u32) -> Vec<StoredRecord> {
    let (start, end) = store.offsets(topic, partition).expect("offsets");
    let mut out = Vec::new();
    let mut offset = start;
    while offset < end {
        let result = store
            .read(
                topic,
                partition,
                offset,
                ReadOptions {
                    max_bytes: 64 * 1024,
                    max_records: 1000,
                },
            )
            .expect("read");
        assert!(!result.records.is_empty(), "read at {offset} < {end} returned nothing");
        for record in result.records {
            assert_eq!(record.offset, offset, "offsets are dense");
            offset += 1;
            out.push(record);
        }
        assert_eq!(result.next_offset, offset);
    }
    out
}

// ---------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------

/// Which storage call a fault targets. Calls are counted per kind, over all files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `StorageFile::write_all_at`
    Write,
    /// `StorageFile::sync_data`
    SyncData,
    /// `Storage::sync_dir`
    SyncDir,
    /// `StorageFile::set_len`
    SetLen,
}

pub const FAULT_OPS: [FaultOp; 4] = [FaultOp::Write, FaultOp::SyncData, FaultOp::SyncDir, FaultOp::SetLen];

/// How the targeted call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// EIO, nothing done.
    Eio,
    /// ENOSPC, nothing done.
    Enospc,
    /// Writes only: the first half of the buffer reaches the file, then ENOSPC.
    ShortWrite,
}

/// The call that failed: what, which kind, on which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub op: FaultOp,
    pub kind: FaultKind,
    pub path: PathBuf,
}

#[derive(Debug, Default)]
struct FaultState {
    /// Fail call number `.1` (0-based, counted from arming) of kind `.0`.
    armed: Option<(FaultOp, u64, FaultKind)>,
    counts: [u64; FAULT_OPS.len()],
    fired: Option<Fired>,
    /// The file of every `sync_data` call since arming, in order.
    synced: Vec<PathBuf>,
}

impl FaultState {
    /// Count a call; `Some(kind)` if this one must fail. Fails once only: the
    /// "disk" works again afterwards, so only the engine's poisoning can stop
    /// later writes.
    fn on_call(&mut self, op: FaultOp, path: &Path) -> Option<FaultKind> {
        let slot = FAULT_OPS.iter().position(|o| *o == op).expect("known op");
        let n = self.counts[slot];
        self.counts[slot] += 1;
        if op == FaultOp::SyncData {
            self.synced.push(path.to_path_buf());
        }
        match self.armed {
            Some((target, nth, kind)) if target == op && nth == n && self.fired.is_none() => {
                self.fired = Some(Fired {
                    op,
                    kind,
                    path: path.to_path_buf(),
                });
                Some(kind)
            }
            _ => None,
        }
    }
}

/// Something to run during the next fsync of a segment (`*.log`) file.
#[derive(Default)]
struct DuringSync(Option<Box<dyn FnOnce() + Send>>);

impl std::fmt::Debug for DuringSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "DuringSync(armed)" } else { "DuringSync" })
    }
}

/// A [`Storage`] that forwards to [`FsStorage`] and fails one chosen call.
#[derive(Debug, Clone, Default)]
pub struct FaultyStorage {
    inner: FsStorage,
    state: Arc<Mutex<FaultState>>,
    during_sync: Arc<Mutex<DuringSync>>,
}

impl FaultyStorage {
    /// Reset the counters and fail the `nth` (0-based) later call of `op`.
    pub fn arm(&self, op: FaultOp, nth: u64, kind: FaultKind) {
        let mut state = self.state.lock().unwrap();
        state.counts = [0; FAULT_OPS.len()];
        state.fired = None;
        state.synced.clear();
        state.armed = Some((op, nth, kind));
    }

    /// Reset the counters without arming a fault (for a counting dry run).
    pub fn count_only(&self) {
        let mut state = self.state.lock().unwrap();
        state.counts = [0; FAULT_OPS.len()];
        state.fired = None;
        state.synced.clear();
        state.armed = None;
    }

    pub fn count(&self, op: FaultOp) -> u64 {
        let slot = FAULT_OPS.iter().position(|o| *o == op).expect("known op");
        self.state.lock().unwrap().counts[slot]
    }

    /// The files `sync_data` was called on since the last `arm`/`count_only`.
    pub fn synced_files(&self) -> Vec<PathBuf> {
        self.state.lock().unwrap().synced.clone()
    }

    pub fn fired(&self) -> Option<Fired> {
        self.state.lock().unwrap().fired.clone()
    }

    /// Run `hook` inside the next fsync of a segment file, before that
    /// fsync (and its armed fault, if any) happens: what other threads see
    /// while a group-commit leader syncs.
    pub fn during_next_segment_sync(&self, hook: impl FnOnce() + Send + 'static) {
        self.during_sync.lock().unwrap().0 = Some(Box::new(hook));
    }

    fn check(&self, op: FaultOp, path: &Path) -> Option<FaultKind> {
        self.state.lock().unwrap().on_call(op, path)
    }
}

fn os_error(kind: FaultKind) -> io::Error {
    match kind {
        FaultKind::Eio => io::Error::from_raw_os_error(libc::EIO),
        FaultKind::Enospc | FaultKind::ShortWrite => io::Error::from_raw_os_error(libc::ENOSPC),
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    path: PathBuf,
    storage: FaultyStorage,
}

impl StorageFile for FaultyFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.inner.read_at(buf, position)
    }
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        match self.storage.check(FaultOp::Write, &self.path) {
            None => self.inner.write_all_at(buf, position),
            Some(FaultKind::ShortWrite) => {
                self.inner.write_all_at(&buf[..buf.len() / 2], position)?;
                Err(os_error(FaultKind::ShortWrite))
            }
            Some(kind) => Err(os_error(kind)),
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.path.extension().is_some_and(|e| e == "log") {
            let hook = self.storage.during_sync.lock().unwrap().0.take();
            if let Some(hook) = hook {
                hook();
            }
        }
        match self.storage.check(FaultOp::SyncData, &self.path) {
            None => self.inner.sync_data(),
            Some(kind) => Err(os_error(kind)),
        }
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        match self.storage.check(FaultOp::SetLen, &self.path) {
            None => self.inner.set_len(len),
            Some(kind) => Err(os_error(kind)),
        }
    }
    fn map_readonly(&self) -> Option<ReadOnlyMap> {
        self.inner.map_readonly()
    }
}

impl Storage for FaultyStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(FaultyFile {
            inner,
            path: path.to_path_buf(),
            storage: self.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        match self.check(FaultOp::SyncDir, path) {
            None => self.inner.sync_dir(path),
            Some(kind) => Err(os_error(kind)),
        }
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        self.inner.lock_dir(path)
    }
}
