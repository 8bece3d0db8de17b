//! The zeros an `Always` partition keeps ahead of its data are written once
//! per preallocation step, also in the segment's last step: appending across
//! a segment's end must not rewrite the zeros up to the end with every batch
//! (issue 20, "Also": 1,200 appends of 1 KB across the end of a 4 MiB segment
//! wrote 10 MB of zeros). Proven by counting, through a `Storage` wrapper
//! around the real file system, every byte written to the first segment's
//! file while it fills: its data plus one pass of zeros, at most twice the
//! segment size.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{log_path, read_partition, scratch_dir, segment_bases};
use millrace::storage::{mmap::ReadOnlyMap, FsStorage, OpenMode, Storage, StorageFile};
use millrace::{Durability, Record, Store, StoreOptions, TopicConfig};
use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const TOPIC: &str = "t";

/// Bytes written per file path.
type Written = Arc<Mutex<BTreeMap<PathBuf, u64>>>;

/// [`FsStorage`] that counts the bytes written to each file.
#[derive(Debug, Default, Clone)]
struct CountingStorage {
    written: Written,
}

#[derive(Debug)]
struct CountingFile {
    inner: Arc<dyn StorageFile>,
    path: PathBuf,
    written: Written,
}

impl StorageFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<usize> {
        self.inner.read_at(buf, position)
    }
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        *self.written.lock().unwrap().entry(self.path.clone()).or_insert(0) += buf.len() as u64;
        self.inner.write_all_at(buf, position)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn map_readonly(&self) -> Option<ReadOnlyMap> {
        self.inner.map_readonly()
    }
}

impl Storage for CountingStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let inner = FsStorage.open(path, mode)?;
        Ok(Arc::new(CountingFile {
            inner,
            path: path.to_path_buf(),
            written: self.written.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        FsStorage.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        FsStorage.rename(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        FsStorage.create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        FsStorage.remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        FsStorage.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        FsStorage.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        FsStorage.exists(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<Result<Box<dyn Any + Send + Sync>, Option<u32>>> {
        FsStorage.lock_dir(path)
    }
}

#[test]
fn appends_across_a_segments_end_write_its_zeros_once() {
    const SEGMENT_BYTES: u64 = 1 << 20;
    let dir = scratch_dir();
    let storage = CountingStorage::default();
    let options = StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    };
    let store = Store::open_with_storage(dir.path(), options, Arc::new(storage.clone())).unwrap();
    let config = TopicConfig {
        segment_bytes: SEGMENT_BYTES,
        ..TopicConfig::with_partitions(1)
    };
    store.create_topic(TOPIC, config).unwrap();
    // 1 KiB batches until the first segment is sealed and the next one used.
    let mut appended = 0u64;
    while segment_bases(dir.path(), TOPIC, 0).len() < 2 {
        let record = Record::new(vec![(appended % 251) as u8; 1024]);
        store.append(TOPIC, 0, &[record]).unwrap();
        appended += 1;
        assert!(appended < 10_000, "1 MiB segment never rolled");
    }
    let first = log_path(dir.path(), TOPIC, 0, 0);
    let data = std::fs::metadata(&first).unwrap().len();
    assert!(data > SEGMENT_BYTES - 2048, "the sealed segment is full: {data} bytes");
    let written = storage.written.lock().unwrap().get(&first).copied().unwrap_or(0);
    assert!(
        written <= 2 * SEGMENT_BYTES,
        "{written} bytes written to a segment of {data} bytes of data: the zeros were written more than once"
    );
    assert_eq!(read_partition(&store, TOPIC, 0).len() as u64, appended);
    store.close().unwrap();
}
